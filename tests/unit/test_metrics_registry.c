/* The metrics registry (daemon/metrics.c) on its own: what it counts and
 * how it renders it, with no daemon around it.
 *
 * Proves what docs/metrics.md promises beyond what a scrape of a running
 * tierd shows easily: histogram buckets are cumulative up to +Inf with
 * _sum and _count, a turn that rolls back counts nothing, sources past
 * the first METRICS_MAX_SOURCES are counted together as (other), a
 * request refused before its method was known is counted as (unknown),
 * label values are escaped, and a NULL registry renders the gauges alone. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "testutil.h"

#define N_METHODS  2
#define SAMPLE_MAX 256

static const char *method_name(size_t i)
{
    static const char *const names[N_METHODS] = {"Status", "Ingest"};
    return names[i];
}

static char *render(const metrics *m)
{
    metrics_gauges g = {.version = "9.9.9", .method_name = method_name};
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    metrics_render(m, &g, f);
    ck_assert_int_eq(fclose(f), 0);
    return buf;
}

static double value_of(const char *text, const char *sample)
{
    size_t n = strlen(sample);
    for (const char *line = text; line && *line;) {
        if (strncmp(line, sample, n) == 0 && line[n] == ' ')
            return strtod(line + n + 1, NULL);
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return NAN;
}

START_TEST(test_histogram_buckets_are_cumulative_up_to_inf_with_sum_and_count)
{
    metrics *m = metrics_new(N_METHODS);
    metrics_timer_lag(m, 0.3);
    metrics_timer_lag(m, 5000);
    metrics_timer_lag(m, 100000);
    metrics_timer_lag(m, -2); /* a clock set back: counted as on time */
    char *t = render(m);
    ck_assert_double_eq(value_of(t, "tierd_timer_lag_seconds_bucket{le=\"0.01\"}"), 1);
    ck_assert_double_eq(value_of(t, "tierd_timer_lag_seconds_bucket{le=\"0.5\"}"), 2);
    ck_assert_double_eq(value_of(t, "tierd_timer_lag_seconds_bucket{le=\"3600\"}"), 2);
    ck_assert_double_eq(value_of(t, "tierd_timer_lag_seconds_bucket{le=\"21600\"}"), 3);
    ck_assert_double_eq(value_of(t, "tierd_timer_lag_seconds_bucket{le=\"86400\"}"), 3);
    ck_assert_double_eq(value_of(t, "tierd_timer_lag_seconds_bucket{le=\"+Inf\"}"), 4);
    ck_assert_double_eq(value_of(t, "tierd_timer_lag_seconds_count"), 4);
    ck_assert_double_eq_tol(value_of(t, "tierd_timer_lag_seconds_sum"), 105000.3, 1e-6);
    ck_assert_ptr_nonnull(strstr(t, "# TYPE tierd_timer_lag_seconds histogram\n"));
    free(t);
    metrics_free(m);
}
END_TEST

START_TEST(test_a_turn_that_rolls_back_counts_nothing)
{
    metrics *m = metrics_new(N_METHODS);
    metrics_event(m, "crm", METRICS_ACCEPTED);
    metrics_change(m, 1); /* PROMOTION */
    metrics_turn_end(m, false);
    char *t = render(m);
    ck_assert(isnan(value_of(t, "tierd_events_total{source=\"crm\",outcome=\"accepted\"}")) ||
              value_of(t, "tierd_events_total{source=\"crm\",outcome=\"accepted\"}") == 0);
    ck_assert_double_eq(value_of(t, "tierd_tier_changes_total{cause=\"PROMOTION\"}"), 0);
    free(t);
    metrics_event(m, "crm", METRICS_ACCEPTED);
    metrics_event(m, "crm", METRICS_DUPLICATE);
    metrics_change(m, 1);
    metrics_turn_end(m, true);
    t = render(m);
    ck_assert_double_eq(value_of(t, "tierd_events_total{source=\"crm\",outcome=\"accepted\"}"), 1);
    ck_assert_double_eq(value_of(t, "tierd_events_total{source=\"crm\",outcome=\"duplicate\"}"), 1);
    ck_assert_double_eq(value_of(t, "tierd_events_total{source=\"crm\",outcome=\"rejected\"}"), 0);
    ck_assert_double_eq(value_of(t, "tierd_tier_changes_total{cause=\"PROMOTION\"}"), 1);
    ck_assert_double_eq(value_of(t, "tierd_tier_changes_total{cause=\"CORRECTION\"}"), 0);
    free(t);
    metrics_free(m);
}
END_TEST

START_TEST(test_sources_past_the_limit_are_counted_together_as_other)
{
    metrics *m = metrics_new(N_METHODS);
    char name[SAMPLE_MAX];
    for (int i = 0; i < METRICS_MAX_SOURCES + 44; i++) {
        snprintf(name, sizeof name, "src-%03d", i);
        metrics_event(m, name, METRICS_ACCEPTED);
    }
    metrics_event(m, NULL, METRICS_REJECTED);
    metrics_event(m, "bad\nsource", METRICS_REJECTED);
    metrics_turn_end(m, true);
    char *t = render(m);
    snprintf(name, sizeof name, "tierd_events_total{source=\"src-%03d\",outcome=\"accepted\"}",
             METRICS_MAX_SOURCES - 1);
    ck_assert_double_eq(value_of(t, name), 1);
    snprintf(name, sizeof name, "tierd_events_total{source=\"src-%03d\",outcome=\"accepted\"}",
             METRICS_MAX_SOURCES);
    ck_assert(isnan(value_of(t, name)));
    ck_assert_double_eq(value_of(t, "tierd_events_total{source=\"(other)\",outcome=\"accepted\"}"),
                        44);
    ck_assert_double_eq(
        value_of(t, "tierd_events_total{source=\"(invalid)\",outcome=\"rejected\"}"), 2);
    free(t);
    metrics_free(m);
}
END_TEST

START_TEST(test_requests_are_counted_by_method_and_code_unknown_methods_apart)
{
    metrics *m = metrics_new(N_METHODS);
    metrics_rpc_reply(m, 0, TD_OK, 50000);     /* 50 us */
    metrics_rpc_reply(m, 0, TD_OK, 2000000);   /* 2 ms */
    metrics_rpc_reply(m, 1, TD_NOT_FOUND, 10); /* Ingest */
    metrics_rpc_reply(m, -1, TD_INVALID_ARGUMENT, 1000);
    metrics_rpc_reply(m, 7, TD_INVALID_ARGUMENT, 1000); /* past the table */
    char *t = render(m);
    ck_assert_double_eq(value_of(t, "tierd_rpc_requests_total{method=\"Status\",code=\"OK\"}"), 2);
    ck_assert_double_eq(
        value_of(t, "tierd_rpc_requests_total{method=\"Ingest\",code=\"NOT_FOUND\"}"), 1);
    ck_assert_double_eq(
        value_of(t, "tierd_rpc_requests_total{method=\"(unknown)\",code=\"INVALID_ARGUMENT\"}"), 2);
    ck_assert(isnan(value_of(t, "tierd_rpc_requests_total{method=\"Ingest\",code=\"OK\"}")));
    ck_assert_double_eq(
        value_of(t, "tierd_rpc_duration_seconds_bucket{method=\"Status\",le=\"0.0001\"}"), 1);
    ck_assert_double_eq(
        value_of(t, "tierd_rpc_duration_seconds_bucket{method=\"Status\",le=\"0.0025\"}"), 2);
    ck_assert_double_eq_tol(value_of(t, "tierd_rpc_duration_seconds_sum{method=\"Status\"}"),
                            0.00205, 1e-9);
    free(t);
    metrics_free(m);
}
END_TEST

START_TEST(test_label_values_are_escaped)
{
    metrics *m = metrics_new(N_METHODS);
    metrics_event(m, "a\"b\\c", METRICS_ACCEPTED);
    metrics_turn_end(m, true);
    char *t = render(m);
    ck_assert_ptr_nonnull(
        strstr(t, "tierd_events_total{source=\"a\\\"b\\\\c\",outcome=\"accepted\"} 1\n"));
    free(t);
    metrics_free(m);
}
END_TEST

START_TEST(test_no_registry_renders_the_gauges_alone)
{
    metrics_rpc_reply(NULL, 0, TD_OK, 1);
    metrics_event(NULL, "x", METRICS_ACCEPTED);
    metrics_turn_end(NULL, true);
    char *t = render(NULL);
    ck_assert_ptr_nonnull(strstr(t, "tierd_build_info{version=\"9.9.9\",store_format=\""));
    ck_assert_ptr_nonnull(strstr(t, "tierd_pending_approvals 0\n"));
    ck_assert_ptr_null(strstr(t, "tierd_rpc_requests_total"));
    free(t);
}
END_TEST

static Suite *registry_suite(void)
{
    Suite *s = suite_create("metrics_registry");
    TCase *tc = tcase_create("registry");
    tcase_add_test(tc, test_histogram_buckets_are_cumulative_up_to_inf_with_sum_and_count);
    tcase_add_test(tc, test_a_turn_that_rolls_back_counts_nothing);
    tcase_add_test(tc, test_sources_past_the_limit_are_counted_together_as_other);
    tcase_add_test(tc, test_requests_are_counted_by_method_and_code_unknown_methods_apart);
    tcase_add_test(tc, test_label_values_are_escaped);
    tcase_add_test(tc, test_no_registry_renders_the_gauges_alone);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(registry_suite());
}
