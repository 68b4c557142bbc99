/* Time: the only place that turns text into td_time and back.
 *
 * Owns RFC 3339 / bare-date parsing, duration parsing, formatting and the
 * proleptic Gregorian calendar helpers (quarters, years, annual anchors).
 * Promises: every field is checked (30 February, hour 24, minute 60 and leap
 * second 60 are refused), the result lies in TD_TIME_MIN..TD_TIME_MAX, and a
 * refusal says which part of which string was wrong. Everything is integer
 * arithmetic in UTC; it never consults the C library's time zone machinery,
 * so the process TZ cannot change an answer.
 *
 * In common/, below everything: uses td_error only. */
#include "td_time.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* How much of a refused input is echoed back in a message. */
#define TIME_ECHO_MAX      48
#define SECONDS_PER_HOUR   3600
#define SECONDS_PER_MINUTE 60
#define SECONDS_PER_WEEK   (7 * TD_SECONDS_PER_DAY)
#define MONTHS_PER_QUARTER 3
#define MONTHS_PER_YEAR    12
#define MAX_OFFSET_HOURS   23
#define LAST_HOUR          23
#define LAST_MINUTE        59
#define LAST_SECOND        59

static const char *const month_names[MONTHS_PER_YEAR] = {
    "January", "February", "March",     "April",   "May",      "June",
    "July",    "August",   "September", "October", "November", "December",
};

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
    static const unsigned dim[MONTHS_PER_YEAR] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && is_leap(y))
        return 29;
    return dim[m - 1];
}

/* Howard Hinnant's days_from_civil: exact for every proleptic Gregorian
 * date, no loops, no tables. */
int64_t td_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const int64_t yoe = y - era * 400;
    const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void td_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const int64_t doe = z - era * 146097;
    const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const int64_t mp = (5 * doy + 2) / 153;
    const unsigned dd = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    const unsigned mm = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    if (y)
        *y = yoe + era * 400 + (mm <= 2);
    if (m)
        *m = mm;
    if (d)
        *d = dd;
}

int64_t td_day_of(td_time t)
{
    int64_t q = t / TD_SECONDS_PER_DAY;
    if (t % TD_SECONDS_PER_DAY < 0)
        q--;
    return q;
}

static td_time time_of_date(int64_t y, unsigned m, unsigned d)
{
    return td_days_from_civil(y, m, d) * TD_SECONDS_PER_DAY;
}

td_time td_quarter_start(td_time t)
{
    int64_t y;
    unsigned m;
    td_civil_from_days(td_day_of(t), &y, &m, NULL);
    unsigned first = (m - 1) / MONTHS_PER_QUARTER * MONTHS_PER_QUARTER + 1;
    return time_of_date(y, first, 1);
}

td_time td_next_quarter_start(td_time t)
{
    int64_t y;
    unsigned m;
    td_civil_from_days(td_day_of(t), &y, &m, NULL);
    unsigned next = (m - 1) / MONTHS_PER_QUARTER * MONTHS_PER_QUARTER + 1 + MONTHS_PER_QUARTER;
    if (next > MONTHS_PER_YEAR)
        return time_of_date(y + 1, 1, 1);
    return time_of_date(y, next, 1);
}

td_time td_year_start(td_time t)
{
    int64_t y;
    td_civil_from_days(td_day_of(t), &y, NULL, NULL);
    return time_of_date(y, 1, 1);
}

td_time td_next_year_start(td_time t)
{
    int64_t y;
    td_civil_from_days(td_day_of(t), &y, NULL, NULL);
    return time_of_date(y + 1, 1, 1);
}

/* The anchor's instant in year y: 29 February moves to 1 March when y has
 * no such day, so a leap-day anchor still fires once a year. */
static td_time anchor_in_year(int64_t y, unsigned month, unsigned day)
{
    if (month == 2 && day == 29 && !is_leap(y))
        return time_of_date(y, 3, 1);
    return time_of_date(y, month, day);
}

td_time td_next_anniversary(td_time t, unsigned month, unsigned day)
{
    if (month < 1 || month > MONTHS_PER_YEAR || day < 1 || day > days_in_month(2000, month))
        return TD_TIME_NONE;
    int64_t y;
    td_civil_from_days(td_day_of(t), &y, NULL, NULL);
    /* Every year holds exactly one anchor, so this year's or next year's is
     * the first one strictly after t. */
    td_time a = anchor_in_year(y, month, day);
    if (a > t)
        return a;
    return anchor_in_year(y + 1, month, day);
}

size_t td_time_format(td_time t, char *buf, size_t n)
{
    if (!buf || n == 0)
        return 0;
    int w;
    if (t == TD_TIME_NONE) {
        w = snprintf(buf, n, "-");
    } else {
        int64_t day = td_day_of(t);
        int64_t secs = t - day * TD_SECONDS_PER_DAY;
        int64_t y;
        unsigned m, d;
        td_civil_from_days(day, &y, &m, &d);
        w = snprintf(buf, n, "%04lld-%02u-%02uT%02d:%02d:%02dZ", (long long)y, m, d,
                     (int)(secs / SECONDS_PER_HOUR),
                     (int)(secs % SECONDS_PER_HOUR / SECONDS_PER_MINUTE),
                     (int)(secs % SECONDS_PER_MINUTE));
    }
    if (w < 0)
        return 0;
    return (size_t)w < n ? (size_t)w : n - 1;
}

/* Reads exactly `width` ASCII digits at *p into *v. */
static bool read_digits(const char **p, int width, int *v)
{
    int acc = 0;
    for (int i = 0; i < width; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        acc = acc * 10 + (c - '0');
    }
    *v = acc;
    *p += width;
    return true;
}

static bool read_char(const char **p, char c)
{
    if (**p != c)
        return false;
    (*p)++;
    return true;
}

static int time_refuse(td_error *err, const char *s, const char *why)
{
    return td_error_set(err, TD_INVALID_ARGUMENT, "bad time '%.*s%s': %s", TIME_ECHO_MAX, s,
                        strlen(s) > TIME_ECHO_MAX ? "..." : "", why);
}

#define RFC3339_SHAPE "expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm)"

int td_time_parse(const char *s, td_time *out, td_error *err)
{
    if (!s || !*s)
        return td_error_set(err, TD_INVALID_ARGUMENT, "bad time '': " RFC3339_SHAPE);
    const char *p = s;
    int year, month, day, hour = 0, minute = 0, second = 0, offset = 0;
    if (!read_digits(&p, 4, &year) || !read_char(&p, '-') || !read_digits(&p, 2, &month) ||
        !read_char(&p, '-') || !read_digits(&p, 2, &day))
        return time_refuse(err, s, RFC3339_SHAPE);
    if (*p == 'T' || *p == 't') {
        p++;
        if (!read_digits(&p, 2, &hour) || !read_char(&p, ':') || !read_digits(&p, 2, &minute) ||
            !read_char(&p, ':') || !read_digits(&p, 2, &second))
            return time_refuse(err, s, RFC3339_SHAPE);
        if (*p == '.') {
            /* Fractions are truncated: tierd counts whole seconds. */
            p++;
            if (*p < '0' || *p > '9')
                return time_refuse(err, s, "expected digits after '.'");
            while (*p >= '0' && *p <= '9')
                p++;
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p == '-' ? -1 : 1;
            int oh, om;
            p++;
            if (!read_digits(&p, 2, &oh) || !read_char(&p, ':') || !read_digits(&p, 2, &om))
                return time_refuse(err, s, "expected a UTC offset as +hh:mm or -hh:mm");
            if (oh > MAX_OFFSET_HOURS || om >= SECONDS_PER_MINUTE)
                return time_refuse(err, s, "UTC offset out of range");
            offset = sign * (oh * SECONDS_PER_HOUR + om * SECONDS_PER_MINUTE);
        } else {
            return time_refuse(err, s, "expected 'Z' or a UTC offset after the time of day");
        }
    }
    if (*p != '\0')
        return time_refuse(err, s, "unexpected text after the time");

    char why[TD_ERROR_MAX];
    if (month < 1 || month > MONTHS_PER_YEAR) {
        snprintf(why, sizeof why, "month %02d is out of range (01..12)", month);
        return time_refuse(err, s, why);
    }
    if (day < 1 || (unsigned)day > days_in_month(year, (unsigned)month)) {
        snprintf(why, sizeof why, "day %02d is out of range for %s %04d", day,
                 month_names[month - 1], year);
        return time_refuse(err, s, why);
    }
    if (hour > LAST_HOUR) {
        snprintf(why, sizeof why, "hour %02d is out of range (00..23)", hour);
        return time_refuse(err, s, why);
    }
    if (minute > LAST_MINUTE) {
        snprintf(why, sizeof why, "minute %02d is out of range (00..59)", minute);
        return time_refuse(err, s, why);
    }
    if (second > LAST_SECOND) {
        /* Leap seconds are refused: td_time has no place to put them. */
        snprintf(why, sizeof why, "second %02d is out of range (00..59)", second);
        return time_refuse(err, s, why);
    }
    td_time t = time_of_date(year, (unsigned)month, (unsigned)day) +
                (td_time)hour * SECONDS_PER_HOUR + (td_time)minute * SECONDS_PER_MINUTE + second -
                offset;
    if (t < TD_TIME_MIN || t > TD_TIME_MAX)
        return time_refuse(err, s, "outside 1970-01-01T00:00:01Z .. 9999-12-31T23:59:59Z");
    if (out)
        *out = t;
    return 0;
}

static int duration_refuse(td_error *err, const char *s, const char *why)
{
    return td_error_set(err, TD_INVALID_ARGUMENT, "bad duration '%.*s%s': %s", TIME_ECHO_MAX,
                        s ? s : "", s && strlen(s) > TIME_ECHO_MAX ? "..." : "", why);
}

#define DURATION_SHAPE "expected a positive whole number followed by s, m, h, d or w (e.g. 90d)"
#define WAIT_SHAPE                                                                                 \
    "expected a whole number followed by ms, s, m, h, d or w (e.g. 500ms), or whole seconds"

#define MS_PER_SECOND 1000

/* The one duration reader: digits, then a unit (ms only for waits), into
 * milliseconds. A wait also takes zero and bare whole seconds ("5"). */
static int duration_ms(const char *s, bool wait, int64_t *out, td_error *err)
{
    if (!s || !*s)
        return duration_refuse(err, s, DURATION_SHAPE);
    const char *p = s;
    int64_t n = 0;
    bool overflow = false;
    while (*p >= '0' && *p <= '9') {
        int digit = *p - '0';
        if (n > (INT64_MAX - digit) / 10)
            overflow = true;
        else
            n = n * 10 + digit;
        p++;
    }
    if (p == s)
        return duration_refuse(err, s, wait ? WAIT_SHAPE : DURATION_SHAPE);
    int64_t unit;
    if (wait && strcmp(p, "ms") == 0)
        unit = 1;
    else if (wait && *p == '\0')
        unit = MS_PER_SECOND;
    else if (p[0] == '\0' || p[1] != '\0')
        return duration_refuse(err, s, wait ? WAIT_SHAPE : DURATION_SHAPE);
    else if (*p == 's')
        unit = MS_PER_SECOND;
    else if (*p == 'm')
        unit = SECONDS_PER_MINUTE * MS_PER_SECOND;
    else if (*p == 'h')
        unit = SECONDS_PER_HOUR * MS_PER_SECOND;
    else if (*p == 'd')
        unit = (int64_t)TD_SECONDS_PER_DAY * MS_PER_SECOND;
    else if (*p == 'w')
        unit = (int64_t)SECONDS_PER_WEEK * MS_PER_SECOND;
    else
        return duration_refuse(err, s, wait ? WAIT_SHAPE : DURATION_SHAPE);
    if (n == 0 && !wait)
        return duration_refuse(err, s, "a duration must be greater than zero");
    /* Capped at the span of representable times so that now + duration can
     * never overflow in callers. */
    if (overflow || n > TD_TIME_MAX * MS_PER_SECOND / unit)
        return duration_refuse(err, s, "longer than any time tierd can represent");
    if (out)
        *out = n * unit;
    return 0;
}

int td_duration_parse(const char *s, int64_t *seconds, td_error *err)
{
    int64_t ms = 0;
    int rc = duration_ms(s, false, &ms, err);
    if (rc == 0 && seconds)
        *seconds = ms / MS_PER_SECOND;
    return rc;
}

int td_wait_parse_ms(const char *s, int64_t *ms, td_error *err)
{
    return duration_ms(s, true, ms, err);
}
