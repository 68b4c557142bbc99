/* Time: every accepted RFC 3339 shape, every refusal with its message,
 * durations, formatting and the calendar edges (quarters, years, leap-day
 * anchors, the 1970 and 9999 bounds). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "td_period.h"
#include "td_time.h"
#include "testutil.h"

#define JAN_1_2026 ((td_time)1767225600)
#define DAY        ((td_time)TD_SECONDS_PER_DAY)

static td_time parse_ok(const char *s)
{
    td_time t = -1;
    td_error err = {0};
    ck_assert_msg(td_time_parse(s, &t, &err) == 0, "%s: %s", s, err.message);
    return t;
}

static void parse_refused(const char *s, const char *message)
{
    td_time t = 12345;
    td_error err = {0};
    ck_assert_int_eq(td_time_parse(s, &t, &err), -TD_INVALID_ARGUMENT);
    ck_assert_int_eq(err.code, TD_INVALID_ARGUMENT);
    ck_assert_str_eq(err.message, message);
    ck_assert_int_eq(t, 12345);
}

START_TEST(test_utc_times_and_bare_dates_parse_to_epoch_seconds)
{
    ck_assert_int_eq(parse_ok("2026-01-01T00:00:00Z"), JAN_1_2026);
    ck_assert_int_eq(parse_ok("2026-01-01"), JAN_1_2026);
    ck_assert_int_eq(parse_ok("2026-01-01t00:00:00z"), JAN_1_2026);
    ck_assert_int_eq(parse_ok("2026-01-01T12:34:56Z"), JAN_1_2026 + 12 * 3600 + 34 * 60 + 56);
    ck_assert_int_eq(parse_ok("1970-01-01T00:00:01Z"), 1);
    ck_assert_int_eq(parse_ok("9999-12-31T23:59:59Z"), TD_TIME_MAX);
    ck_assert_int_eq(parse_ok("2000-02-29"), 951782400);
}
END_TEST

START_TEST(test_offsets_shift_to_utc_and_fractions_are_truncated)
{
    ck_assert_int_eq(parse_ok("2026-01-01T02:00:00+02:00"), JAN_1_2026);
    ck_assert_int_eq(parse_ok("2025-12-31T19:30:00-04:30"), JAN_1_2026);
    ck_assert_int_eq(parse_ok("2026-01-01T00:00:00+00:00"), JAN_1_2026);
    ck_assert_int_eq(parse_ok("2026-01-01T00:00:00-00:00"), JAN_1_2026);
    ck_assert_int_eq(parse_ok("2026-01-01T02:00:00.5+02:00"), JAN_1_2026);
    ck_assert_int_eq(parse_ok("2026-01-01T00:00:07.999999999Z"), JAN_1_2026 + 7);
}
END_TEST

START_TEST(test_malformed_shapes_are_refused_with_the_expected_form)
{
    const char *shape = "expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm)";
    const char *bad[] = {
        "26-01-01",          "2026/01/01",  "2026-1-01", "2026-01-1",  "2026-01-01T1:00:00Z",
        "2026-01-01T10:00Z", "+2026-01-01", "abc",       "2026-01-01T"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char want[256];
        snprintf(want, sizeof want, "bad time '%s': %s", bad[i], shape);
        parse_refused(bad[i], want);
    }
    /* RFC 3339 allows a space for 'T' only as an application choice;
     * tierd's wire format does not. */
    parse_refused("2026-01-01 10:00:00Z",
                  "bad time '2026-01-01 10:00:00Z': unexpected text after the time");
    parse_refused("", "bad time '': expected YYYY-MM-DD or "
                      "YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm)");
    td_error err = {0};
    ck_assert_int_eq(td_time_parse(NULL, NULL, &err), -TD_INVALID_ARGUMENT);
}
END_TEST

START_TEST(test_zone_and_fraction_mistakes_name_what_is_missing)
{
    parse_refused("2026-01-01T00:00:00",
                  "bad time '2026-01-01T00:00:00': expected 'Z' or a UTC offset after the time "
                  "of day");
    parse_refused("2026-01-01T00:00:00.Z", "bad time '2026-01-01T00:00:00.Z': expected digits "
                                           "after '.'");
    parse_refused("2026-01-01T00:00:00+0200",
                  "bad time '2026-01-01T00:00:00+0200': expected a UTC offset as +hh:mm or "
                  "-hh:mm");
    parse_refused("2026-01-01T00:00:00+24:00",
                  "bad time '2026-01-01T00:00:00+24:00': UTC offset out of range");
    parse_refused("2026-01-01T00:00:00+01:60",
                  "bad time '2026-01-01T00:00:00+01:60': UTC offset out of range");
    parse_refused("2026-01-01T00:00:00Zjunk",
                  "bad time '2026-01-01T00:00:00Zjunk': unexpected text after the time");
    parse_refused("2026-01-01x", "bad time '2026-01-01x': unexpected text after the time");
}
END_TEST

START_TEST(test_out_of_range_fields_are_refused_by_name)
{
    parse_refused("2026-13-01", "bad time '2026-13-01': month 13 is out of range (01..12)");
    parse_refused("2026-00-10", "bad time '2026-00-10': month 00 is out of range (01..12)");
    parse_refused("2026-02-30", "bad time '2026-02-30': day 30 is out of range for February 2026");
    parse_refused("2026-02-29", "bad time '2026-02-29': day 29 is out of range for February 2026");
    parse_refused("1900-02-29", "bad time '1900-02-29': day 29 is out of range for February 1900");
    parse_refused("2026-04-31", "bad time '2026-04-31': day 31 is out of range for April 2026");
    parse_refused("2026-04-00", "bad time '2026-04-00': day 00 is out of range for April 2026");
    parse_refused("2026-01-01T24:00:00Z",
                  "bad time '2026-01-01T24:00:00Z': hour 24 is out of range (00..23)");
    parse_refused("2026-01-01T10:60:00Z",
                  "bad time '2026-01-01T10:60:00Z': minute 60 is out of range (00..59)");
    parse_refused("2016-12-31T23:59:60Z",
                  "bad time '2016-12-31T23:59:60Z': second 60 is out of range (00..59)");
}
END_TEST

START_TEST(test_times_outside_1970_to_9999_are_refused)
{
    const char *why = "outside 1970-01-01T00:00:01Z .. 9999-12-31T23:59:59Z";
    char want[256];
    const char *bad[] = {"1970-01-01T00:00:00Z", "1969-12-31", "0000-01-01",
                         "1970-01-01T00:30:00+01:00", "9999-12-31T23:59:59-00:01"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(want, sizeof want, "bad time '%s': %s", bad[i], why);
        parse_refused(bad[i], want);
    }
    ck_assert_int_eq(parse_ok("1970-01-01T01:00:01+01:00"), TD_TIME_MIN);
    ck_assert_int_eq(parse_ok("9999-12-31T23:59:59-00:00"), TD_TIME_MAX);
    ck_assert_int_eq(parse_ok("1970-01-02"), DAY);
}
END_TEST

START_TEST(test_long_refused_input_is_echoed_cut_short)
{
    char s[200];
    memset(s, '9', sizeof s - 1);
    s[sizeof s - 1] = '\0';
    td_error err = {0};
    ck_assert_int_eq(td_time_parse(s, NULL, &err), -TD_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(err.message, "...'"));
    ck_assert_uint_lt(strlen(err.message), 160);
}
END_TEST

static int64_t duration_ok(const char *s)
{
    int64_t v = -1;
    td_error err = {0};
    ck_assert_msg(td_duration_parse(s, &v, &err) == 0, "%s: %s", s, err.message);
    return v;
}

static void duration_refused(const char *s, const char *message)
{
    int64_t v = 777;
    td_error err = {0};
    ck_assert_int_eq(td_duration_parse(s, &v, &err), -TD_INVALID_ARGUMENT);
    ck_assert_str_eq(err.message, message);
    ck_assert_int_eq(v, 777);
}

START_TEST(test_durations_scale_by_their_unit)
{
    ck_assert_int_eq(duration_ok("1s"), 1);
    ck_assert_int_eq(duration_ok("5m"), 300);
    ck_assert_int_eq(duration_ok("12h"), 12 * 3600);
    ck_assert_int_eq(duration_ok("90d"), 90 * DAY);
    ck_assert_int_eq(duration_ok("2w"), 14 * DAY);
    ck_assert_int_eq(duration_ok("007d"), 7 * DAY);
}
END_TEST

START_TEST(test_bad_durations_are_refused_with_reasons)
{
    const char *shape = "expected a positive whole number followed by s, m, h, d or w (e.g. 90d)";
    const char *bad[] = {"", "d", "90", "-5d", "+5d", "1.5d", "5y", "5 d", "5dd", " 5d", "5D"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char want[256];
        snprintf(want, sizeof want, "bad duration '%s': %s", bad[i], shape);
        duration_refused(bad[i], want);
    }
    duration_refused("0d", "bad duration '0d': a duration must be greater than zero");
    duration_refused("0s", "bad duration '0s': a duration must be greater than zero");
    duration_refused("99999999999999999999s", "bad duration '99999999999999999999s': longer "
                                              "than any time tierd can represent");
    duration_refused("9223372036854775807w", "bad duration '9223372036854775807w': longer "
                                             "than any time tierd can represent");
    duration_refused("253402300800s", "bad duration '253402300800s': longer than any time "
                                      "tierd can represent");
    ck_assert_int_eq(duration_ok("253402300799s"), TD_TIME_MAX);
    td_error err = {0};
    ck_assert_int_eq(td_duration_parse(NULL, NULL, &err), -TD_INVALID_ARGUMENT);
}
END_TEST

static int64_t wait_ok(const char *s)
{
    int64_t v = -1;
    td_error err = {0};
    ck_assert_msg(td_wait_parse_ms(s, &v, &err) == 0, "%s: %s", s, err.message);
    return v;
}

START_TEST(test_waits_take_milliseconds_zero_and_bare_seconds)
{
    ck_assert_int_eq(wait_ok("500ms"), 500);
    ck_assert_int_eq(wait_ok("30s"), 30000);
    ck_assert_int_eq(wait_ok("5"), 5000);
    ck_assert_int_eq(wait_ok("2m"), 120000);
    ck_assert_int_eq(wait_ok("0"), 0);
    ck_assert_int_eq(wait_ok("0s"), 0);
    ck_assert_int_eq(wait_ok("0ms"), 0);
    const char *bad[] = {
        "", "ms", "-5s", "1.5s", "5 s", "5sm", "5mss", "forever", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t v = 777;
        td_error err = {0};
        ck_assert_msg(td_wait_parse_ms(bad[i], &v, &err) == -TD_INVALID_ARGUMENT, "%s", bad[i]);
        ck_assert_int_eq(v, 777);
    }
    /* durations elsewhere still want a unit and more than zero */
    int64_t v = 0;
    td_error err = {0};
    ck_assert_int_eq(td_duration_parse("500ms", &v, &err), -TD_INVALID_ARGUMENT);
}
END_TEST

START_TEST(test_format_round_trips_through_parse)
{
    char buf[TD_TIME_STRLEN];
    ck_assert_uint_eq(td_time_format(JAN_1_2026 + 3661, buf, sizeof buf), 20);
    ck_assert_str_eq(buf, "2026-01-01T01:01:01Z");
    td_time_format(TD_TIME_MAX, buf, sizeof buf);
    ck_assert_str_eq(buf, "9999-12-31T23:59:59Z");
    td_time_format(TD_TIME_MIN, buf, sizeof buf);
    ck_assert_str_eq(buf, "1970-01-01T00:00:01Z");
    ck_assert_uint_eq(td_time_format(TD_TIME_NONE, buf, sizeof buf), 1);
    ck_assert_str_eq(buf, "-");
    const td_time samples[] = {951782400, 951868799, JAN_1_2026 - 1, 4102444800, 1234567890};
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        td_time_format(samples[i], buf, sizeof buf);
        ck_assert_int_eq(parse_ok(buf), samples[i]);
    }
    char tiny[5];
    ck_assert_uint_eq(td_time_format(JAN_1_2026, tiny, sizeof tiny), 4);
    ck_assert_str_eq(tiny, "2026");
}
END_TEST

START_TEST(test_civil_days_agree_both_ways_across_the_whole_range)
{
    ck_assert_int_eq(td_days_from_civil(1970, 1, 1), 0);
    ck_assert_int_eq(td_days_from_civil(1969, 12, 31), -1);
    ck_assert_int_eq(td_days_from_civil(2000, 3, 1), 11017);
    int64_t last = td_days_from_civil(9999, 12, 31);
    for (int64_t d = -1; d <= last; d += 17) {
        int64_t y;
        unsigned m, dd;
        td_civil_from_days(d, &y, &m, &dd);
        ck_assert_int_eq(td_days_from_civil(y, m, dd), d);
    }
    ck_assert_int_eq(td_day_of(DAY - 1), 0);
    ck_assert_int_eq(td_day_of(DAY), 1);
    ck_assert_int_eq(td_day_of(-1), -1);
}
END_TEST

START_TEST(test_quarters_start_on_the_first_of_jan_apr_jul_oct)
{
    td_time apr1 = parse_ok("2026-04-01"), jul1 = parse_ok("2026-07-01");
    ck_assert_int_eq(td_quarter_start(JAN_1_2026), JAN_1_2026);
    ck_assert_int_eq(td_quarter_start(apr1 - 1), JAN_1_2026);
    ck_assert_int_eq(td_quarter_start(apr1), apr1);
    ck_assert_int_eq(td_quarter_start(parse_ok("2026-06-30T23:59:59Z")), apr1);
    ck_assert_int_eq(td_next_quarter_start(apr1 - 1), apr1);
    ck_assert_int_eq(td_next_quarter_start(apr1), jul1);
    ck_assert_int_eq(td_next_quarter_start(parse_ok("2026-12-31T23:59:59Z")),
                     parse_ok("2027-01-01"));
    ck_assert_int_eq(td_quarter_start(parse_ok("2026-11-15")), parse_ok("2026-10-01"));
}
END_TEST

START_TEST(test_years_end_at_the_last_second_of_december)
{
    td_time dec31 = parse_ok("2026-12-31T23:59:59Z");
    ck_assert_int_eq(td_year_start(dec31), JAN_1_2026);
    ck_assert_int_eq(td_year_start(JAN_1_2026), JAN_1_2026);
    ck_assert_int_eq(td_next_year_start(dec31), dec31 + 1);
    ck_assert_int_eq(td_next_year_start(JAN_1_2026 - 1), JAN_1_2026);
    ck_assert_int_eq(td_year_start(TD_TIME_MIN), 0);
    ck_assert_int_eq(td_next_year_start(TD_TIME_MAX), TD_TIME_MAX + 1);
}
END_TEST

START_TEST(test_anniversaries_fall_strictly_after_the_given_time)
{
    ck_assert_int_eq(td_next_anniversary(JAN_1_2026 - 1, 1, 1), JAN_1_2026);
    ck_assert_int_eq(td_next_anniversary(JAN_1_2026, 1, 1), parse_ok("2027-01-01"));
    ck_assert_int_eq(td_next_anniversary(JAN_1_2026 + 5, 7, 15), parse_ok("2026-07-15"));
    ck_assert_int_eq(td_next_anniversary(parse_ok("2026-12-31T23:59:59Z"), 12, 31),
                     parse_ok("2027-12-31"));
}
END_TEST

START_TEST(test_leap_day_anchors_fall_on_1_march_in_common_years)
{
    ck_assert_int_eq(td_next_anniversary(JAN_1_2026, 2, 29), parse_ok("2026-03-01"));
    ck_assert_int_eq(td_next_anniversary(parse_ok("2026-03-01"), 2, 29), parse_ok("2027-03-01"));
    ck_assert_int_eq(td_next_anniversary(parse_ok("2027-03-01"), 2, 29), parse_ok("2028-02-29"));
    ck_assert_int_eq(td_next_anniversary(parse_ok("2028-02-29"), 2, 29), parse_ok("2029-03-01"));
    ck_assert_int_eq(td_next_anniversary(parse_ok("2099-06-01"), 2, 29), parse_ok("2100-03-01"));
}
END_TEST

START_TEST(test_anchors_no_year_has_give_no_time)
{
    ck_assert_int_eq(td_next_anniversary(JAN_1_2026, 13, 1), TD_TIME_NONE);
    ck_assert_int_eq(td_next_anniversary(JAN_1_2026, 0, 1), TD_TIME_NONE);
    ck_assert_int_eq(td_next_anniversary(JAN_1_2026, 4, 31), TD_TIME_NONE);
    ck_assert_int_eq(td_next_anniversary(JAN_1_2026, 2, 30), TD_TIME_NONE);
    ck_assert_int_eq(td_next_anniversary(JAN_1_2026, 6, 0), TD_TIME_NONE);
}
END_TEST

/* ---- KPI periods (td_period.h) ---- */

static td_time at(const char *s)
{
    td_time t;
    td_error err = {0};
    ck_assert_msg(td_time_parse(s, &t, &err) == 0, "%s: %s", s, err.message);
    return t;
}

START_TEST(test_daily_periods_begin_at_midnight_in_the_zone)
{
    td_period utc = {TD_PERIOD_DAY, 0}, plus2 = {TD_PERIOD_DAY, 2 * 3600},
              minus530 = {TD_PERIOD_DAY, -(5 * 3600 + 30 * 60)};
    ck_assert_int_eq(td_period_start(utc, at("2026-03-10T15:00:00Z")), at("2026-03-10"));
    ck_assert_int_eq(td_period_next(utc, at("2026-03-10T15:00:00Z")), at("2026-03-11"));
    /* A boundary is the start of its own period, and the next is a day on. */
    ck_assert_int_eq(td_period_start(utc, at("2026-03-10")), at("2026-03-10"));
    ck_assert_int_eq(td_period_next(utc, at("2026-03-10")), at("2026-03-11"));
    /* 23:30 UTC is already the next day at +02:00, midnight there is 22:00 UTC. */
    ck_assert_int_eq(td_period_start(plus2, at("2026-03-10T23:30:00Z")),
                     at("2026-03-10T22:00:00Z"));
    ck_assert_int_eq(td_period_next(plus2, at("2026-03-10T21:59:59Z")), at("2026-03-10T22:00:00Z"));
    ck_assert_int_eq(td_period_start(minus530, at("2026-03-10T03:00:00Z")),
                     at("2026-03-09T05:30:00Z"));
    ck_assert_int_eq(td_period_next(minus530, at("2026-03-10T03:00:00Z")),
                     at("2026-03-10T05:30:00Z"));
}
END_TEST

START_TEST(test_weeks_begin_on_monday_and_30d_periods_count_from_1970)
{
    td_period week = {TD_PERIOD_WEEK, 0}, d30 = {TD_PERIOD_30D, 3600};
    /* 2026-03-12 is a Thursday; its week began Monday 2026-03-09. */
    ck_assert_int_eq(td_period_start(week, at("2026-03-12T10:00:00Z")), at("2026-03-09"));
    ck_assert_int_eq(td_period_next(week, at("2026-03-12T10:00:00Z")), at("2026-03-16"));
    ck_assert_int_eq(td_period_start(week, at("2026-03-09")), at("2026-03-09"));
    /* Local day 20520 (2026-03-08) starts a 30-day period: 20520 = 684 * 30. */
    ck_assert_int_eq(td_period_start(d30, at("2026-03-20T00:00:00Z")),
                     at("2026-03-08T00:00:00Z") - 3600);
    ck_assert_int_eq(td_period_next(d30, at("2026-03-20T00:00:00Z")),
                     at("2026-04-07T00:00:00Z") - 3600);
}
END_TEST

START_TEST(test_months_and_quarters_begin_on_the_first_in_the_zone)
{
    td_period month = {TD_PERIOD_MONTH, 0}, quarter = {TD_PERIOD_QUARTER, 0},
              qtokyo = {TD_PERIOD_QUARTER, 9 * 3600}, mny = {TD_PERIOD_MONTH, -5 * 3600};
    ck_assert_int_eq(td_period_start(month, at("2026-02-28T23:59:59Z")), at("2026-02-01"));
    ck_assert_int_eq(td_period_next(month, at("2026-02-28T23:59:59Z")), at("2026-03-01"));
    ck_assert_int_eq(td_period_next(month, at("2026-12-15")), at("2027-01-01"));
    ck_assert_int_eq(td_period_next(month, at("2028-01-31")), at("2028-02-01"));
    ck_assert_int_eq(td_period_start(quarter, at("2026-06-30T12:00:00Z")), at("2026-04-01"));
    ck_assert_int_eq(td_period_next(quarter, at("2026-06-30T12:00:00Z")), at("2026-07-01"));
    ck_assert_int_eq(td_period_next(quarter, at("2026-11-02")), at("2027-01-01"));
    /* 2026-03-31T16:00Z is already April 1st in Tokyo (+09:00). */
    ck_assert_int_eq(td_period_start(qtokyo, at("2026-03-31T16:00:00Z")),
                     at("2026-03-31T15:00:00Z"));
    ck_assert_int_eq(td_period_start(qtokyo, at("2026-03-31T14:59:59Z")),
                     at("2025-12-31T15:00:00Z"));
    /* 2026-03-01T03:00Z is still February at -05:00. */
    ck_assert_int_eq(td_period_start(mny, at("2026-03-01T03:00:00Z")), at("2026-02-01T05:00:00Z"));
    ck_assert_int_eq(td_period_next(mny, at("2026-03-01T03:00:00Z")), at("2026-03-01T05:00:00Z"));
}
END_TEST

START_TEST(test_zones_and_periods_parse_and_refuse_by_name)
{
    int32_t off = 1;
    td_period_kind k;
    td_error err = {0};
    ck_assert_int_eq(td_zone_parse("UTC", &off, &err), 0);
    ck_assert_int_eq(off, 0);
    ck_assert_int_eq(td_zone_parse("+14:00", &off, &err), 0);
    ck_assert_int_eq(off, 14 * 3600);
    ck_assert_int_eq(td_zone_parse("-09:30", &off, &err), 0);
    ck_assert_int_eq(off, -(9 * 3600 + 30 * 60));
    char buf[TD_ZONE_STRLEN];
    td_zone_format(off, buf, sizeof buf);
    ck_assert_str_eq(buf, "-09:30");
    td_zone_format(0, buf, sizeof buf);
    ck_assert_str_eq(buf, "UTC");
    ck_assert_int_eq(td_zone_parse("America/New_York", &off, &err), -TD_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(err.message, "only UTC and fixed offsets"));
    ck_assert_int_eq(td_zone_parse("+2:00", &off, &err), -TD_INVALID_ARGUMENT);
    ck_assert_int_eq(td_zone_parse("+02:60", &off, &err), -TD_INVALID_ARGUMENT);
    ck_assert_str_eq(err.message, "time zone '+02:60' is out of range (-14:00 to +14:00)");
    ck_assert_int_eq(td_period_parse("quarter", &k, &err), 0);
    ck_assert_int_eq(k, TD_PERIOD_QUARTER);
    ck_assert_str_eq(td_period_name(k), "quarter");
    ck_assert_int_eq(td_period_parse("daily", &k, &err), -TD_INVALID_ARGUMENT);
    ck_assert_str_eq(err.message, "period 'daily' is not one of 1d, 7d, 30d, month, quarter");
}
END_TEST

static Suite *time_suite(void)
{
    Suite *s = suite_create("time");
    TCase *tc = tcase_create("time");
    tcase_add_test(tc, test_utc_times_and_bare_dates_parse_to_epoch_seconds);
    tcase_add_test(tc, test_offsets_shift_to_utc_and_fractions_are_truncated);
    tcase_add_test(tc, test_malformed_shapes_are_refused_with_the_expected_form);
    tcase_add_test(tc, test_zone_and_fraction_mistakes_name_what_is_missing);
    tcase_add_test(tc, test_out_of_range_fields_are_refused_by_name);
    tcase_add_test(tc, test_times_outside_1970_to_9999_are_refused);
    tcase_add_test(tc, test_long_refused_input_is_echoed_cut_short);
    tcase_add_test(tc, test_durations_scale_by_their_unit);
    tcase_add_test(tc, test_bad_durations_are_refused_with_reasons);
    tcase_add_test(tc, test_waits_take_milliseconds_zero_and_bare_seconds);
    tcase_add_test(tc, test_format_round_trips_through_parse);
    tcase_add_test(tc, test_civil_days_agree_both_ways_across_the_whole_range);
    tcase_add_test(tc, test_quarters_start_on_the_first_of_jan_apr_jul_oct);
    tcase_add_test(tc, test_years_end_at_the_last_second_of_december);
    tcase_add_test(tc, test_anniversaries_fall_strictly_after_the_given_time);
    tcase_add_test(tc, test_leap_day_anchors_fall_on_1_march_in_common_years);
    tcase_add_test(tc, test_anchors_no_year_has_give_no_time);
    tcase_add_test(tc, test_daily_periods_begin_at_midnight_in_the_zone);
    tcase_add_test(tc, test_weeks_begin_on_monday_and_30d_periods_count_from_1970);
    tcase_add_test(tc, test_months_and_quarters_begin_on_the_first_in_the_zone);
    tcase_add_test(tc, test_zones_and_periods_parse_and_refuse_by_name);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(time_suite());
}
