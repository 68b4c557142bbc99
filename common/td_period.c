/* KPI periods (td_period.h): boundaries at midnight in a fixed-offset zone.
 * Everything is done on the zone's local time (t + offset) with the
 * proleptic Gregorian helpers of td_time, then shifted back to UTC. */
#include "td_period.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define SECONDS_PER_HOUR   3600
#define SECONDS_PER_MINUTE 60
#define MINUTES_PER_HOUR   60
#define DAYS_PER_WEEK      7
#define DAYS_PER_30D       30
#define MONTHS_PER_YEAR    12
#define MONTHS_PER_QUARTER 3
/* 1970-01-01 was a Thursday: day 0 + 4 is the first Monday (1970-01-05). */
#define EPOCH_TO_MONDAY 4

static const char *const period_names[] = {"1d", "7d", "30d", "month", "quarter"};

int td_period_parse(const char *s, td_period_kind *out, td_error *err)
{
    for (size_t k = 0; k < sizeof period_names / sizeof *period_names; k++)
        if (s && strcmp(s, period_names[k]) == 0) {
            *out = (td_period_kind)k;
            return 0;
        }
    return td_error_set(err, TD_INVALID_ARGUMENT,
                        "period '%.32s' is not one of 1d, 7d, 30d, month, quarter", s ? s : "");
}

const char *td_period_name(td_period_kind k)
{
    return (size_t)k < sizeof period_names / sizeof *period_names ? period_names[k] : "?";
}

static bool two_digits(const char *s, int *out)
{
    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
        return false;
    *out = (s[0] - '0') * 10 + (s[1] - '0');
    return true;
}

int td_zone_parse(const char *s, int32_t *offset, td_error *err)
{
    if (!s)
        s = "";
    if (!strcmp(s, "UTC") || !strcmp(s, "Z")) {
        *offset = 0;
        return 0;
    }
    int hh, mm;
    if ((s[0] == '+' || s[0] == '-') && strlen(s) == 6 && two_digits(s + 1, &hh) && s[3] == ':' &&
        two_digits(s + 4, &mm)) {
        if (mm >= MINUTES_PER_HOUR ||
            hh * SECONDS_PER_HOUR + mm * SECONDS_PER_MINUTE > TD_ZONE_MAX_OFFSET)
            return td_error_set(err, TD_INVALID_ARGUMENT,
                                "time zone '%s' is out of range (-14:00 to +14:00)", s);
        int32_t v = hh * SECONDS_PER_HOUR + mm * SECONDS_PER_MINUTE;
        *offset = s[0] == '-' ? -v : v;
        return 0;
    }
    return td_error_set(err, TD_INVALID_ARGUMENT,
                        "time zone '%.64s': only UTC and fixed offsets such as +02:00 or -05:30 "
                        "are supported (no IANA names such as Europe/Paris: their offsets change "
                        "with daylight saving time)",
                        s);
}

void td_zone_format(int32_t offset, char *buf, size_t n)
{
    if (offset == 0) {
        snprintf(buf, n, "UTC");
        return;
    }
    int32_t a = offset < 0 ? -offset : offset;
    snprintf(buf, n, "%c%02d:%02d", offset < 0 ? '-' : '+', (int)(a / SECONDS_PER_HOUR),
             (int)(a % SECONDS_PER_HOUR / SECONDS_PER_MINUTE));
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* The first day (local day number) of the period holding local day `day`. */
static int64_t first_day(td_period_kind k, int64_t day)
{
    int64_t y;
    unsigned m;
    switch (k) {
    case TD_PERIOD_WEEK:
        return day - (day - EPOCH_TO_MONDAY -
                      floor_div(day - EPOCH_TO_MONDAY, DAYS_PER_WEEK) * DAYS_PER_WEEK);
    case TD_PERIOD_30D:
        return floor_div(day, DAYS_PER_30D) * DAYS_PER_30D;
    case TD_PERIOD_MONTH:
        td_civil_from_days(day, &y, &m, NULL);
        return td_days_from_civil(y, m, 1);
    case TD_PERIOD_QUARTER:
        td_civil_from_days(day, &y, &m, NULL);
        return td_days_from_civil(y, (m - 1) / MONTHS_PER_QUARTER * MONTHS_PER_QUARTER + 1, 1);
    case TD_PERIOD_DAY:
    default:
        return day;
    }
}

/* The first day of the period after the one starting on local day `first`. */
static int64_t following_day(td_period_kind k, int64_t first)
{
    int64_t y;
    unsigned m;
    switch (k) {
    case TD_PERIOD_WEEK:
        return first + DAYS_PER_WEEK;
    case TD_PERIOD_30D:
        return first + DAYS_PER_30D;
    case TD_PERIOD_MONTH:
    case TD_PERIOD_QUARTER:
        td_civil_from_days(first, &y, &m, NULL);
        m += k == TD_PERIOD_MONTH ? 1 : MONTHS_PER_QUARTER;
        if (m > MONTHS_PER_YEAR) {
            m -= MONTHS_PER_YEAR;
            y++;
        }
        return td_days_from_civil(y, m, 1);
    case TD_PERIOD_DAY:
    default:
        return first + 1;
    }
}

td_time td_period_start(td_period p, td_time t)
{
    int64_t day = floor_div(t + p.offset, TD_SECONDS_PER_DAY);
    return first_day(p.kind, day) * TD_SECONDS_PER_DAY - p.offset;
}

td_time td_period_next(td_period p, td_time t)
{
    int64_t day = floor_div(t + p.offset, TD_SECONDS_PER_DAY);
    return following_day(p.kind, first_day(p.kind, day)) * TD_SECONDS_PER_DAY - p.offset;
}
