/* tierctl's output helpers: how times, numbers, errors and JSON documents
 * look to a person or a script. Owns formatting only; it sends nothing and
 * decides no exit status beyond mapping a td_code to one. */
#include "tierctl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "td_json.h"
#include "td_time.h"

/* Integers print exactly only up to 2^53; past that %g is more honest. */
#define NUM_MAX_EXACT 9007199254740992.0 /* as in td_json.c */
#define NUM_DIGITS    10
#define TIME_DATE_LEN 10 /* YYYY-MM-DD */
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

void tctl_num_human(double v, char *buf, size_t n)
{
    if (!isfinite(v) || fabs(v) >= NUM_MAX_EXACT || v != trunc(v)) {
        snprintf(buf, n, "%.*g", NUM_DIGITS, v);
        return;
    }
    char digits[32];
    snprintf(digits, sizeof digits, "%.0f", fabs(v));
    size_t len = strlen(digits), o = 0;
    char out[48];
    if (v < 0)
        out[o++] = '-';
    for (size_t i = 0; i < len; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
    snprintf(buf, n, "%s", out);
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
