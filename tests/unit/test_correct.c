/* engine_correct: retractions and amendments, aggregate by aggregate and
 * window by window, on a hand-made history whose answers are known.
 *
 * Each case feeds a few events to one partner, corrects one, and reads
 * every metric: sum, count, avg, min, max, latest and distinct over a 30-day
 * window, a quarter, a year and the lifetime, plus a score. The history
 * engine_correct asks for comes from the test's own list, as the daemon's
 * store gives it. tests/unit/test_oracle.c does the same at random against
 * a brute-force recomputation. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_state.h"
#include "testutil.h"

#define DAY      86400
#define MAX_EVS  16
#define NOW      1780272000 /* 2026-06-01 */
#define N_WINDOW 4

static const char *const WINDOWS[N_WINDOW] = {"30d", "quarter", "year", "lifetime"};
static const char *const AGGS[] = {"sum", "count", "avg", "min", "max", "latest", "distinct"};
#define N_AGG 7

typedef struct fixture {
    engine *e;
    td_event ev[MAX_EVS];
    bool gone[MAX_EVS];
    size_t n;
    char ids[MAX_EVS][8];
} fixture;

static void setup(fixture *f)
{
    char yaml[4096];
    size_t len = (size_t)snprintf(yaml, sizeof yaml, "program: c\nversion: \"1\"\nmetrics:\n");
    for (int a = 0; a < N_AGG; a++)
        for (int w = 0; w < N_WINDOW; w++)
            len += (size_t)snprintf(yaml + len, sizeof yaml - len,
                                    "  %s_%d: { agg: %s, event: deal, window: %s }\n", AGGS[a], w,
                                    AGGS[a], WINDOWS[w]);
    snprintf(yaml + len, sizeof yaml - len,
             "  score_0: { score: [ { metric: sum_3, weight: 50, target: 100 },\n"
             "                      { metric: count_3, weight: 50, target: 10 } ] }\n"
             "ladders:\n  l:\n    partner_types: [t]\n    tiers:\n"
             "      - { name: A, when: sum_3 >= 1 }\n");
    program *p = NULL;
    td_diags diags = {0};
    td_error err = {0};
    ck_assert_msg(program_parse(yaml, strlen(yaml), "c.yaml", &p, &diags, &err) == 0, "%s %s",
                  err.message, diags.n ? diags.items[0] : "");
    td_diags_free(&diags);
    memset(f, 0, sizeof *f);
    f->e = engine_new();
    ck_assert_int_eq(engine_program_apply(f->e, p, NOW, NULL, NULL), 0);
    const char *types[] = {"t"};
    ck_assert_int_eq(engine_partner_upsert(f->e, "p", NULL, types, 1, NOW, NULL, NULL, &err), 0);
}

static void add(fixture *f, double value, td_time at, const char *key)
{
    snprintf(f->ids[f->n], sizeof f->ids[f->n], "e%zu", f->n);
    f->ev[f->n] = (td_event){"crm", f->ids[f->n], "p", "deal", value, at, key};
    td_error err = {0};
    ck_assert_msg(engine_ingest(f->e, &f->ev[f->n], NOW, NULL, NULL, &err) == 0, "%s", err.message);
    f->n++;
}

static int history(void *hud, td_event_each_fn each, void *ud, td_error *err)
{
    (void)err;
    fixture *f = hud;
    for (size_t i = 0; i < f->n; i++)
        if (!f->gone[i] && each(ud, &f->ev[i]) != 0)
            return -1;
    return 0;
}

static void retract(fixture *f, size_t i)
{
    f->gone[i] = true;
    td_error err = {0};
    ck_assert_msg(engine_correct(f->e, &f->ev[i], NULL, 0, history, f, NOW, NULL, NULL, &err) == 0,
                  "%s", err.message);
}

/* The new version counts as accepted last, as the store lists it. */
static void amend(fixture *f, size_t i, double value, td_time at, const char *key)
{
    td_event old = f->ev[i];
    f->gone[i] = true;
    f->ev[f->n] = (td_event){"crm", f->ids[i], "p", "deal", value, at, key};
    f->n++;
    td_error err = {0};
    ck_assert_msg(
        engine_correct(f->e, &old, &f->ev[f->n - 1], 1, history, f, NOW, NULL, NULL, &err) == 0,
        "%s", err.message);
}

static double value_of(fixture *f, const char *metric)
{
    int m = program_metric_index(engine_program(f->e), metric);
    ck_assert_int_ge(m, 0);
    double values[TD_MAX_METRICS];
    for (size_t i = 0; i < TD_MAX_METRICS; i++)
        values[i] = NAN;
    eng_prog_values(&f->e->cp, engine_partner_find(f->e, "p"), UINT64_MAX, NOW, values);
    return values[m];
}

#define ASSERT_VALUE(f, metric, want)                                                              \
    do {                                                                                           \
        double got_ = value_of((f), (metric)), want_ = (want);                                     \
        ck_assert_msg((isnan(want_) && isnan(got_)) || got_ == want_, "%s: %.17g, want %.17g",     \
                      (metric), got_, want_);                                                      \
    } while (0)

/* Every window at once: the events below sit inside all four. */
static void assert_all_windows(fixture *f, const char *agg, double want)
{
    for (int w = 0; w < N_WINDOW; w++) {
        char name[32];
        snprintf(name, sizeof name, "%s_%d", agg, w);
        ASSERT_VALUE(f, name, want);
    }
}

START_TEST(test_retracting_the_maximum_and_minimum_lets_the_next_take_over_in_every_window)
{
    fixture f;
    setup(&f);
    /* No keys: the streams take out what they can in place. */
    add(&f, 10, NOW - 3 * DAY, NULL);
    add(&f, 50, NOW - 2 * DAY, NULL);
    add(&f, 30, NOW - 1 * DAY, NULL);
    add(&f, 5, NOW - 1 * DAY, NULL);
    add(&f, 20, NOW - 3 * DAY, NULL);
    retract(&f, 4); /* an inner value */
    assert_all_windows(&f, "sum", 95);
    retract(&f, 1);
    assert_all_windows(&f, "max", 30);
    assert_all_windows(&f, "sum", 45);
    assert_all_windows(&f, "count", 3);
    assert_all_windows(&f, "avg", 15);
    retract(&f, 3);
    assert_all_windows(&f, "min", 10);
    assert_all_windows(&f, "sum", 40);
    ASSERT_VALUE(&f, "score_0", 50 * 40 / 100.0 + 50 * 2 / 10.0); /* recomputed from its inputs */
    engine_free(f.e);
}
END_TEST

START_TEST(test_retracting_the_latest_lets_the_previous_latest_by_time_take_over)
{
    fixture f;
    setup(&f);
    add(&f, 7, NOW - 1 * DAY, NULL); /* latest by time */
    add(&f, 3, NOW - 5 * DAY, NULL); /* arrives later, dated earlier */
    add(&f, 9, NOW - 2 * DAY, NULL);
    assert_all_windows(&f, "latest", 7);
    retract(&f, 0);
    assert_all_windows(&f, "latest", 9);
    /* Two at one second: the later arrival is the latest; retract it. */
    add(&f, 4, NOW - 1 * DAY, NULL);
    add(&f, 6, NOW - 1 * DAY, NULL);
    assert_all_windows(&f, "latest", 6);
    retract(&f, 4);
    assert_all_windows(&f, "latest", 4);
    assert_all_windows(&f, "count", 3);
    engine_free(f.e);
}
END_TEST

START_TEST(test_a_distinct_key_seen_twice_stays_until_both_are_retracted)
{
    fixture f;
    setup(&f);
    add(&f, 1, NOW - 1 * DAY, "k");
    add(&f, 1, NOW - 2 * DAY, "k");
    add(&f, 1, NOW - 3 * DAY, "j");
    assert_all_windows(&f, "distinct", 2);
    retract(&f, 0);
    assert_all_windows(&f, "distinct", 2);
    retract(&f, 1);
    assert_all_windows(&f, "distinct", 1);
    /* An amendment can move a key out and in. */
    amend(&f, 2, 1, NOW - 3 * DAY, "m");
    assert_all_windows(&f, "distinct", 1);
    add(&f, 1, NOW - 1 * DAY, "m");
    assert_all_windows(&f, "distinct", 1);
    engine_free(f.e);
}
END_TEST

START_TEST(test_an_amendment_replaces_value_time_and_key_in_every_window)
{
    fixture f;
    setup(&f);
    add(&f, 100, NOW - 10 * DAY, "a");
    add(&f, 20, NOW - 5 * DAY, "b");
    /* Moved out of the 30-day window into last year: only lifetime holds it. */
    amend(&f, 0, 300, NOW - 400 * DAY, "z");
    ASSERT_VALUE(&f, "sum_0", 20);
    ASSERT_VALUE(&f, "sum_3", 320);
    ASSERT_VALUE(&f, "max_0", 20);
    ASSERT_VALUE(&f, "max_3", 300);
    ASSERT_VALUE(&f, "latest_3", 20);
    ASSERT_VALUE(&f, "distinct_0", 1);
    ASSERT_VALUE(&f, "distinct_3", 2);
    ASSERT_VALUE(&f, "count_3", 2);
    /* A value changed in place. */
    amend(&f, 1, 25, NOW - 5 * DAY, "b");
    ASSERT_VALUE(&f, "sum_0", 25);
    ASSERT_VALUE(&f, "avg_3", 162.5);
    engine_free(f.e);
}
END_TEST

START_TEST(test_retracting_an_event_pruned_out_of_every_window_still_leaves_lifetime)
{
    fixture f;
    setup(&f);
    add(&f, 40, NOW - 800 * DAY, "old");
    add(&f, 2, NOW - 1 * DAY, "new");
    engine_evaluate(f.e, NULL, NOW, NULL, NULL); /* prunes at NOW */
    retract(&f, 0);
    ASSERT_VALUE(&f, "sum_3", 2);
    ASSERT_VALUE(&f, "count_3", 1);
    ASSERT_VALUE(&f, "max_3", 2);
    ASSERT_VALUE(&f, "distinct_3", 1);
    ASSERT_VALUE(&f, "sum_0", 2);
    retract(&f, 1);
    assert_all_windows(&f, "sum", 0);
    assert_all_windows(&f, "count", 0);
    assert_all_windows(&f, "max", NAN);
    assert_all_windows(&f, "latest", NAN);
    assert_all_windows(&f, "distinct", 0);
    engine_free(f.e);
}
END_TEST

typedef struct seen_change {
    int n;
    td_cause cause;
    char reason[64], event[32], to[8];
} seen_change;

static void keep_change(void *ud, const td_change *c)
{
    seen_change *s = ud;
    s->n++;
    s->cause = c->cause;
    snprintf(s->reason, sizeof s->reason, "%s", c->reason ? c->reason : "");
    snprintf(s->event, sizeof s->event, "%s", c->event_id ? c->event_id : "");
    snprintf(s->to, sizeof s->to, "%s", c->to ? c->to : "");
}

START_TEST(test_a_correction_that_moves_the_tier_reports_cause_correction_and_names_the_event)
{
    fixture f;
    setup(&f);
    add(&f, 5, NOW - 1 * DAY, NULL);
    /* Held since NOW: a tier drops at most once per instant, so the
     * retraction comes a second later. */
    seen_change s = {0};
    td_error err = {0};
    f.gone[0] = true;
    ck_assert_int_eq(
        engine_correct(f.e, &f.ev[0], NULL, 0, history, &f, NOW + 1, keep_change, &s, &err), 0);
    ck_assert_int_eq(s.n, 1);
    ck_assert_int_eq(s.cause, TD_CAUSE_CORRECTION);
    ck_assert_str_eq(s.reason, "retracted");
    ck_assert_str_eq(s.event, "crm/e0");
    ck_assert_str_eq(s.to, "");
    /* Back up by an amendment of a new event. */
    add(&f, 0, NOW - 1 * DAY, NULL);
    td_event now_ev = {"crm", "e1", "p", "deal", 3, NOW - 1 * DAY, NULL};
    f.gone[1] = true;
    f.ev[f.n++] = now_ev;
    ck_assert_int_eq(
        engine_correct(f.e, &f.ev[1], &now_ev, 4, history, &f, NOW + 2, keep_change, &s, &err), 0);
    ck_assert_int_eq(s.n, 2);
    ck_assert_int_eq(s.cause, TD_CAUSE_CORRECTION);
    ck_assert_str_eq(s.reason, "amended to revision 4");
    ck_assert_str_eq(s.event, "crm/e1");
    ck_assert_str_eq(s.to, "A");
    engine_free(f.e);
}
END_TEST

START_TEST(test_an_amendment_to_another_partner_or_metric_is_refused_and_changes_nothing)
{
    fixture f;
    setup(&f);
    add(&f, 5, NOW - 1 * DAY, NULL);
    td_event other = {"crm", "e0", "p", "other", 9, NOW - 1 * DAY, NULL};
    td_error err = {0};
    ck_assert_int_eq(engine_correct(f.e, &f.ev[0], &other, 1, history, &f, NOW, NULL, NULL, &err),
                     -TD_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(err.message, "metric"));
    td_event bad = {"crm", "e0", "p", "deal", INFINITY, NOW - 1 * DAY, NULL};
    ck_assert_int_lt(engine_correct(f.e, &f.ev[0], &bad, 1, history, &f, NOW, NULL, NULL, &err), 0);
    assert_all_windows(&f, "sum", 5);
    engine_free(f.e);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("correct");
    TCase *tc = tcase_create("engine_correct");
    tcase_add_test(tc,
                   test_retracting_the_maximum_and_minimum_lets_the_next_take_over_in_every_window);
    tcase_add_test(tc, test_retracting_the_latest_lets_the_previous_latest_by_time_take_over);
    tcase_add_test(tc, test_a_distinct_key_seen_twice_stays_until_both_are_retracted);
    tcase_add_test(tc, test_an_amendment_replaces_value_time_and_key_in_every_window);
    tcase_add_test(tc, test_retracting_an_event_pruned_out_of_every_window_still_leaves_lifetime);
    tcase_add_test(
        tc, test_a_correction_that_moves_the_tier_reports_cause_correction_and_names_the_event);
    tcase_add_test(tc,
                   test_an_amendment_to_another_partner_or_metric_is_refused_and_changes_nothing);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
