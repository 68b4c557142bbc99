/* tierctl's output helpers: how times, numbers, errors and JSON documents
 * look to a person or a script. Owns formatting only; it sends nothing and
 * decides no exit status beyond mapping a td_code to one. */
#include "tierctl.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "td_json.h"
#include "td_time.h"

/* Integers print exactly only up to 2^53; past that %g is more honest. */
#define NUM_MAX_EXACT    9007199254740992.0 /* as in td_json.c */
#define NUM_DIGITS       10
#define NUM_SIG_DIGITS   4  /* a fraction for people: 0.9322, 93.22 */
#define NUM_MIN_DECIMALS 2  /* ... and never fewer decimals than 12,345.68 has */
#define NUM_MAX_DECIMALS 12 /* smaller fractions print as 1.234e-13 */
#define NUM_TEXT_MAX     64
#define PERCENT          100.0
#define TIME_DATE_LEN    10 /* YYYY-MM-DD */
/* 15 significant digits round-trip every decimal a person wrote (0.86, not
 * 0.85999999999999999) */
#define NUM_JSON_DIGITS 15

int tctl_fail(const td_error *err)
{
    fprintf(stderr, "tierctl: %s: %s\n", td_code_name(err->code), err->message);
    return err->code == TD_UNAVAILABLE ? TCTL_EXIT_UNREACHABLE : TCTL_EXIT_REFUSED;
}

int tctl_fail_rc(int rc, const td_error *err)
{
    td_error e = *err;
    if (e.code == TD_OK)
        e.code = (td_code)(-rc);
    return tctl_fail(&e);
}

void tctl_csv_row(const char *const *fields, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *f = fields[i] ? fields[i] : "";
        if (i)
            putchar(',');
        if (!f[strcspn(f, ",\"\r\n")]) {
            fputs(f, stdout);
            continue;
        }
        putchar('"');
        for (; *f; f++) {
            if (*f == '"')
                putchar('"');
            putchar(*f);
        }
        putchar('"');
    }
    putchar('\n');
}

void tctl_print_json(json_t *doc)
{
    if (!doc) {
        fprintf(stderr, "tierctl: INTERNAL: could not build the JSON answer\n");
        return;
    }
    json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(NUM_JSON_DIGITS));
    fputc('\n', stdout);
    json_decref(doc);
}

void tctl_print_json_line(json_t *doc)
{
    if (!doc)
        return;
    json_dumpf(doc, stdout, JSON_COMPACT | JSON_REAL_PRECISION(NUM_JSON_DIGITS));
    fputc('\n', stdout);
    fflush(stdout);
    json_decref(doc);
}

/* The daemon's own formatter (common/td_time.c): one spelling of time
 * everywhere, and no libc limits on what a hostile reply can hold. */
void tctl_time_rfc3339(int64_t t, char *buf, size_t n)
{
    td_time_format(t, buf, n);
}

void tctl_time_human(int64_t t, char *buf, size_t n)
{
    td_time_format(t, buf, n);
    /* a date alone reads better when the time is midnight */
    if (t != TD_TIME_NONE && t % TD_SECONDS_PER_DAY == 0 && strlen(buf) > TIME_DATE_LEN)
        buf[TIME_DATE_LEN] = '\0';
}

json_t *tctl_time_json(int64_t t)
{
    return td_json_time(t);
}

/* Groups "1234567.5" as "1,234,567.5" into out (room for 48 bytes). */
static void group_thousands(const char *digits, bool negative, char *out)
{
    size_t len = strcspn(digits, "."), o = 0;
    if (negative)
        out[o++] = '-';
    for (size_t i = 0; i < len; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    snprintf(out + o, NUM_TEXT_MAX - o, "%s", digits + len);
}

void tctl_num_human(double v, char *buf, size_t n)
{
    if (!isfinite(v) || fabs(v) >= NUM_MAX_EXACT) {
        snprintf(buf, n, "%.*g", NUM_DIGITS, v);
        return;
    }
    int decimals = 0;
    if (v != trunc(v)) {
        /* Enough decimals for NUM_SIG_DIGITS significant ones, never
         * fewer than NUM_MIN_DECIMALS: 0.9322, 93.22, 12,345.68. */
        int magnitude = (int)floor(log10(fabs(v)));
        decimals = NUM_SIG_DIGITS - 1 - magnitude;
        if (decimals < NUM_MIN_DECIMALS)
            decimals = NUM_MIN_DECIMALS;
        if (decimals > NUM_MAX_DECIMALS) {
            snprintf(buf, n, "%.*g", NUM_SIG_DIGITS, v);
            return;
        }
    }
    char digits[NUM_TEXT_MAX];
    snprintf(digits, sizeof digits, "%.*f", decimals, fabs(v));
    if (strchr(digits, '.')) {
        size_t len = strlen(digits);
        while (digits[len - 1] == '0')
            digits[--len] = '\0';
        if (digits[len - 1] == '.')
            digits[--len] = '\0';
    }
    /* -0.00001 rounds to "0", which has no sign */
    bool negative = v < 0 && strspn(digits, "0.") != strlen(digits);
    char out[NUM_TEXT_MAX];
    group_thousands(digits, negative, out);
    snprintf(buf, n, "%s", out);
}

void tctl_percent_human(double share, char *buf, size_t n)
{
    if (!isfinite(share)) {
        tctl_num_human(share, buf, n);
        return;
    }
    char num[TCTL_NUM_STRLEN];
    tctl_num_human(share * PERCENT, num, sizeof num);
    snprintf(buf, n, "%s%%", num);
}

int tctl_table_init(tctl_table *tb)
{
    memset(tb, 0, sizeof *tb);
    return 0;
}

int tctl_table_add(tctl_table *tb, const char *const *cells, size_t n)
{
    if (tb->rows == tb->cap) {
        size_t cap = tb->cap ? 2 * tb->cap : 64;
        char **c = realloc(tb->cells, cap * TCTL_MAX_COLUMNS * sizeof *c);
        if (!c)
            return -1;
        tb->cells = c;
        tb->cap = cap;
    }
    char **row = tb->cells + tb->rows * TCTL_MAX_COLUMNS;
    for (size_t i = 0; i < TCTL_MAX_COLUMNS; i++)
        row[i] = i < n ? strdup(cells[i] ? cells[i] : "") : NULL;
    tb->rows++;
    return 0;
}

/* Characters, not bytes: UTF-8 continuation bytes take no column. */
static size_t text_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

void tctl_table_print(const tctl_table *tb, FILE *f)
{
    size_t width[TCTL_MAX_COLUMNS] = {0};
    for (size_t r = 0; r < tb->rows; r++)
        for (size_t i = 0; i < TCTL_MAX_COLUMNS; i++) {
            const char *c = tb->cells[r * TCTL_MAX_COLUMNS + i];
            if (c && text_width(c) > width[i])
                width[i] = text_width(c);
        }
    for (size_t r = 0; r < tb->rows; r++) {
        char *const *row = tb->cells + r * TCTL_MAX_COLUMNS;
        for (size_t i = 0; i < TCTL_MAX_COLUMNS && row[i]; i++) {
            bool last = i + 1 == TCTL_MAX_COLUMNS || !row[i + 1];
            fputs(row[i], f);
            for (size_t pad = text_width(row[i]); !last && pad < width[i] + 2; pad++)
                fputc(' ', f);
        }
        fputc('\n', f);
    }
}

void tctl_table_free(tctl_table *tb)
{
    for (size_t i = 0; i < tb->rows * TCTL_MAX_COLUMNS; i++)
        free(tb->cells[i]);
    free(tb->cells);
    memset(tb, 0, sizeof *tb);
}

/* The JSON spellings are shared with tierd-http (client/td_json.c). */
json_t *tctl_num_json(double v)
{
    return td_json_num(v);
}

json_t *tctl_str(const char *s)
{
    return td_json_str(s);
}

json_t *tctl_str_or_null(const char *s)
{
    return td_json_str_or_null(s);
}
