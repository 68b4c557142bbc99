/* Metric streams: every aggregate over every window kind, window edges to
 * the second, late and out-of-order events, distinct keys, reversals, and
 * pruning that never changes an answer. */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "engine/metric.h"
#include "testutil.h"

#define JAN_1_2026  ((td_time)1767225600)
#define JAN_10_2026 ((td_time)1768003200)
#define DEC_1_2025  ((td_time)1764547200)
#define MAR_31_2026 ((td_time)1774915200)
#define APR_1_2026  ((td_time)1775001600)
#define JUN_1_2026  ((td_time)1780272000)
#define DAY         ((td_time)TD_SECONDS_PER_DAY)

static const metric_window lifetime = {WIN_LIFETIME, 0};
static const metric_window days30 = {WIN_DAYS, 30};
static const metric_window quarter = {WIN_QUARTER, 0};
static const metric_window year = {WIN_YEAR, 0};

#define ALL_FLAGS (EVF_BUCKETS | EVF_QUARTER | EVF_YEAR)

static void add(metric_stream *s, td_time at, double v)
{
    ck_assert_int_eq(metric_stream_add(s, at, v, NULL, ALL_FLAGS), 0);
}

static void add_key(metric_stream *s, td_time at, const char *key, uint8_t flags)
{
    ck_assert_int_eq(metric_stream_add(s, at, 1, key, flags), 0);
}

START_TEST(test_lifetime_aggregates_fold_every_event)
{
    metric_stream s = {0};
    add(&s, JAN_1_2026, 10);
    add(&s, JAN_1_2026 + 5, -4);
    add(&s, JAN_10_2026, 30);
    td_time t = JUN_1_2026;
    ck_assert_double_eq(metric_stream_value(&s, AGG_SUM, &lifetime, t), 36);
    ck_assert_double_eq(metric_stream_value(&s, AGG_COUNT, &lifetime, t), 3);
    ck_assert_double_eq(metric_stream_value(&s, AGG_AVG, &lifetime, t), 12);
    ck_assert_double_eq(metric_stream_value(&s, AGG_MIN, &lifetime, t), -4);
    ck_assert_double_eq(metric_stream_value(&s, AGG_MAX, &lifetime, t), 30);
    ck_assert_double_eq(metric_stream_value(&s, AGG_LATEST, &lifetime, t), 30);
    metric_stream_free(&s);
}
END_TEST

START_TEST(test_values_of_nothing_are_zero_or_no_value)
{
    const metric_window *ws[] = {&lifetime, &days30, &quarter, &year};
    for (size_t i = 0; i < 4; i++) {
        ck_assert_double_eq(metric_stream_value(NULL, AGG_SUM, ws[i], JUN_1_2026), 0);
        ck_assert_double_eq(metric_stream_value(NULL, AGG_COUNT, ws[i], JUN_1_2026), 0);
        ck_assert_double_eq(metric_stream_value(NULL, AGG_DISTINCT, ws[i], JUN_1_2026), 0);
        ck_assert(isnan(metric_stream_value(NULL, AGG_AVG, ws[i], JUN_1_2026)));
        ck_assert(isnan(metric_stream_value(NULL, AGG_MIN, ws[i], JUN_1_2026)));
        ck_assert(isnan(metric_stream_value(NULL, AGG_MAX, ws[i], JUN_1_2026)));
        ck_assert(isnan(metric_stream_value(NULL, AGG_LATEST, ws[i], JUN_1_2026)));
    }
    /* A window that has emptied behaves the same as no events at all. */
    metric_stream s = {0};
    add(&s, JAN_1_2026, 5);
    ck_assert_double_eq(metric_stream_value(&s, AGG_SUM, &days30, JUN_1_2026), 0);
    ck_assert(isnan(metric_stream_value(&s, AGG_AVG, &days30, JUN_1_2026)));
    metric_stream_free(&s);
}
END_TEST

START_TEST(test_rolling_window_excludes_its_exact_start_and_includes_one_second_later)
{
    metric_stream s = {0};
    td_time now = JUN_1_2026 + 12345;
    add(&s, now - 30 * DAY, 100);   /* exactly on the edge: out */
    add(&s, now - 30 * DAY + 1, 7); /* one second inside: in */
    add(&s, now, 1);                /* now itself: in */
    add(&s, now + 1, 1000);         /* not yet happened at now: out */
    ck_assert_double_eq(metric_stream_value(&s, AGG_SUM, &days30, now), 8);
    ck_assert_double_eq(metric_stream_value(&s, AGG_COUNT, &days30, now), 2);
    ck_assert_double_eq(metric_stream_value(&s, AGG_MAX, &days30, now), 7);
    /* One second earlier, the edge event is inside. */
    ck_assert_double_eq(metric_stream_value(&s, AGG_SUM, &days30, now - 1), 107);
    metric_stream_free(&s);
}
END_TEST

START_TEST(test_latest_follows_event_time_not_arrival)
{
    metric_stream s = {0};
    add(&s, JAN_10_2026, 3);
    add(&s, JAN_1_2026, 9); /* late, older: must not become latest */
    ck_assert_double_eq(metric_stream_value(&s, AGG_LATEST, &lifetime, JUN_1_2026), 3);
    ck_assert_double_eq(metric_stream_value(&s, AGG_LATEST, &year, JUN_1_2026), 3);
    /* Same second: the later arrival wins. */
    add(&s, JAN_10_2026, 5);
    ck_assert_double_eq(metric_stream_value(&s, AGG_LATEST, &lifetime, JUN_1_2026), 5);
    ck_assert_double_eq(metric_stream_value(&s, AGG_LATEST, &year, JUN_1_2026), 5);
    metric_stream_free(&s);
}
END_TEST

START_TEST(test_certification_retaken_counts_once)
{
    metric_stream s = {0};
    uint8_t f = EVF_KEYS | EVF_KEYS_LIFE;
    add_key(&s, JAN_1_2026, "sales-101", f);
    add_key(&s, JAN_10_2026, "sales-101", f);
    add_key(&s, JAN_10_2026, "sales-201", f);
    ck_assert_double_eq(metric_stream_value(&s, AGG_DISTINCT, &lifetime, JUN_1_2026), 2);
    ck_assert_double_eq(metric_stream_value(&s, AGG_COUNT, &lifetime, JUN_1_2026), 3);
    metric_stream_free(&s);
}
END_TEST

START_TEST(test_windowed_distinct_counts_keys_by_their_last_sighting)
{
    metric_stream s = {0};
    uint8_t f = EVF_KEYS | EVF_BUCKETS;
    add_key(&s, DEC_1_2025, "a", f);
    add_key(&s, DEC_1_2025, "b", f);
    add_key(&s, JUN_1_2026 - DAY, "a", f); /* a re-seen recently */
    add_key(&s, DEC_1_2025 - DAY, "b", f); /* late, older sighting of b changes nothing */
    ck_assert_double_eq(metric_stream_value(&s, AGG_DISTINCT, &days30, JUN_1_2026), 1);
    /* Back in December only b counts: a's last sighting lies after then. */
    ck_assert_double_eq(metric_stream_value(&s, AGG_DISTINCT, &days30, DEC_1_2025 + DAY), 1);
    ck_assert_double_eq(metric_stream_value(&s, AGG_DISTINCT, &lifetime, JUN_1_2026), 2);
    metric_stream_free(&s);
}
END_TEST

START_TEST(test_reversal_subtracts_from_sum)
{
    metric_stream s = {0};
    add(&s, JAN_1_2026, 50000);
    add(&s, JAN_10_2026, -20000);
    ck_assert_double_eq(metric_stream_value(&s, AGG_SUM, &days30, JAN_10_2026), 30000);
    ck_assert_double_eq(metric_stream_value(&s, AGG_SUM, &lifetime, JAN_10_2026), 30000);
    metric_stream_free(&s);
}
END_TEST

START_TEST(test_rolling_window_crosses_a_year_end)
{
    metric_stream s = {0};
    add(&s, JAN_1_2026 - 3 * DAY, 10); /* 29 Dec 2025 */
    add(&s, JAN_1_2026 + DAY, 5);
    ck_assert_double_eq(metric_stream_value(&s, AGG_SUM, &days30, JAN_10_2026), 15);
    /* The calendar year window starts again on 1 January. */
    ck_assert_double_eq(metric_stream_value(&s, AGG_SUM, &year, JAN_10_2026), 5);
    ck_assert_double_eq(metric_stream_value(&s, AGG_SUM, &year, JAN_1_2026 - 1), 10);
    metric_stream_free(&s);
}
END_TEST

START_TEST(test_quarter_window_starts_exactly_at_the_quarter_boundary)
{
    metric_stream s = {0};
    add(&s, APR_1_2026 - 1, 10); /* last second of Q1 */
    add(&s, APR_1_2026, 3);      /* first second of Q2 */
    ck_assert_double_eq(metric_stream_value(&s, AGG_SUM, &quarter, APR_1_2026), 3);
    ck_assert_double_eq(metric_stream_value(&s, AGG_SUM, &quarter, APR_1_2026 - 1), 10);
    ck_assert_double_eq(metric_stream_value(&s, AGG_SUM, &quarter, MAR_31_2026), 0);
    metric_stream_free(&s);
}
END_TEST

START_TEST(test_pruning_keeps_every_windowed_answer_identical)
{
    metric_stream full = {0}, pruned = {0};
    srand(7);
    td_time now = JUN_1_2026;
    for (int i = 0; i < 2000; i++) {
        td_time at = now - (td_time)(rand() % (400 * DAY));
        double v = (rand() % 2000) - 500;
        add(&full, at, v);
        add(&pruned, at, v);
    }
    td_time horizon = now - 30 * DAY;
    metric_stream_prune(&pruned, horizon, EVF_BUCKETS);
    ck_assert_uint_lt(metric_stream_n_buckets(&pruned), metric_stream_n_buckets(&full));
    const metric_agg aggs[] = {AGG_SUM, AGG_COUNT, AGG_AVG, AGG_MIN, AGG_MAX, AGG_LATEST};
    for (td_time t = now; t < now + 40 * DAY; t += DAY / 3) {
        for (size_t a = 0; a < sizeof aggs / sizeof aggs[0]; a++) {
            double x = metric_stream_value(&full, aggs[a], &days30, t);
            double y = metric_stream_value(&pruned, aggs[a], &days30, t);
            ck_assert(isnan(x) ? isnan(y) : x == y);
        }
    }
    ck_assert_double_eq(metric_stream_value(&full, AGG_SUM, &lifetime, now),
                        metric_stream_value(&pruned, AGG_SUM, &lifetime, now));
    metric_stream_free(&full);
    metric_stream_free(&pruned);
}
END_TEST

START_TEST(test_next_due_is_when_the_oldest_event_leaves_the_window)
{
    metric_stream s = {0};
    add(&s, JAN_1_2026, 1);
    add(&s, JAN_10_2026, 1);
    ck_assert_int_eq(metric_stream_next_due(&s, &days30, JAN_10_2026), JAN_1_2026 + 30 * DAY);
    ck_assert_int_eq(metric_stream_next_due(&s, &days30, JAN_1_2026 + 30 * DAY),
                     JAN_10_2026 + 30 * DAY);
    ck_assert_int_eq(metric_stream_next_due(&s, &lifetime, JAN_10_2026), TD_TIME_NONE);
    /* A quarter window with data changes at the next quarter start. */
    ck_assert_int_eq(metric_stream_next_due(&s, &quarter, MAR_31_2026), APR_1_2026);
    /* A future-dated event is due when it happens. */
    ck_assert_int_eq(metric_stream_next_due(&s, &days30, JAN_1_2026 - DAY), JAN_1_2026);
    metric_stream_free(&s);
}
END_TEST

static Suite *metric_suite(void)
{
    Suite *s = suite_create("metric");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_lifetime_aggregates_fold_every_event);
    tcase_add_test(tc, test_values_of_nothing_are_zero_or_no_value);
    tcase_add_test(tc, test_rolling_window_excludes_its_exact_start_and_includes_one_second_later);
    tcase_add_test(tc, test_latest_follows_event_time_not_arrival);
    tcase_add_test(tc, test_certification_retaken_counts_once);
    tcase_add_test(tc, test_windowed_distinct_counts_keys_by_their_last_sighting);
    tcase_add_test(tc, test_reversal_subtracts_from_sum);
    tcase_add_test(tc, test_rolling_window_crosses_a_year_end);
    tcase_add_test(tc, test_quarter_window_starts_exactly_at_the_quarter_boundary);
    tcase_add_test(tc, test_pruning_keeps_every_windowed_answer_identical);
    tcase_add_test(tc, test_next_due_is_when_the_oldest_event_leaves_the_window);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(metric_suite());
}
