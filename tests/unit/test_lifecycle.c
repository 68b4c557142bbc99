/* The tier lifecycle: grace, review points, max_drop, the approval queue,
 * overrides, grandfathering, notice, scheduling, at-risk dates and the codec
 * keeping all of it. Programs are written as YAML and loaded with
 * program_parse, so the policy text a user writes is what is tested.
 *
 * Ladder "main" (type reseller) reads `lvl`, the latest `level` event over
 * the partner's lifetime: a test sets the level it wants with one event.
 * Ladder "recent" (type windowed) reads `deals`, a 30-day sum, so time alone
 * moves it. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_fixture.h"
#include "testutil.h"

#define DAY      ((td_time)TD_SECONDS_PER_DAY)
#define YAML_MAX 4096
#define TEXT_MAX 160

static td_time date(int y, unsigned m, unsigned d)
{
    return td_days_from_civil(y, m, d) * DAY;
}

/* A program whose ladders carry policies `pm` and `pr` (YAML lines at
 * policy depth, or "" for the defaults), whose top main tier needs `top`
 * levels, with extra_top lines (effective, notice) at the top level. */
static program *make_program(const char *version, const char *pm, const char *pr, int top,
                             const char *extra_top)
{
    char yaml[YAML_MAX];
    snprintf(yaml, sizeof yaml,
             "program: lc\n"
             "version: \"%s\"\n"
             "%s"
             "metrics:\n"
             "  lvl: { agg: latest, event: level }\n"
             "  deals: { agg: sum, event: deal, window: 30d }\n"
             "ladders:\n"
             "  main:\n"
             "    partner_types: [reseller]\n"
             "%s%s"
             "    tiers:\n"
             "      - { name: T1, when: lvl >= 1 }\n"
             "      - { name: T2, when: lvl >= 2 }\n"
             "      - { name: T3, when: lvl >= 3 }\n"
             "      - { name: T4, when: lvl >= %d }\n"
             "  recent:\n"
             "    partner_types: [windowed]\n"
             "%s%s"
             "    tiers:\n"
             "      - { name: R1, when: deals >= 1 }\n"
             "      - { name: R2, when: deals >= 2 }\n"
             "      - { name: R3, when: deals >= 3 }\n",
             version, extra_top ? extra_top : "", *pm ? "    policy:\n" : "", pm, top,
             *pr ? "    policy:\n" : "", pr);
    return fx_parse(yaml);
}

static engine *make_engine_split(const char *pm, const char *pr, td_time now)
{
    return fx_engine(make_program("v1", pm, pr, 4, NULL), now);
}

/* Both ladders under one policy. */
static engine *make_engine(const char *policy, td_time now)
{
    return make_engine_split(policy, policy, now);
}

static const td_time T0 = 1767225600; /* 2026-01-01 */

/* ---- grace ---- */

START_TEST(test_demotion_waits_for_grace)
{
    engine *e = make_engine("      grace: 30d\n", T0);
    td_partner *p = fx_partner(e, "p", "reseller", T0, NULL);
    fx_log log = {0};
    fx_event_at(e, "p", "level", 3, T0, NULL);
    ck_assert_str_eq(fx_held(e, p, "main"), "T3");
    fx_event_at(e, "p", "level", 2, T0 + 10 * DAY, &log);
    ck_assert_uint_eq(log.n, 0);
    ck_assert_str_eq(fx_held(e, p, "main"), "T3");
    ck_assert_int_eq(fx_view(e, p, "main").below_since, T0 + 10 * DAY);
    ck_assert_str_eq(fx_view(e, p, "main").qualifying, "T2");
    td_time due = engine_partner_next_due(e, p, T0 + 10 * DAY);
    ck_assert_int_eq(due, T0 + 40 * DAY);
    /* Already below: explain dates the demotion from when grace began, and
     * says the tier lapsed then, not at the moment asked. */
    td_explanation x;
    td_error err;
    ck_assert_int_eq(engine_explain(e, p, 0, T0 + 15 * DAY, T0 + 15 * DAY, &x, &err), 0);
    ck_assert_int_eq(x.at_risk_falls, T0 + 10 * DAY);
    ck_assert_int_eq(x.at_risk_date, T0 + 40 * DAY);
    ck_assert_str_eq(x.at_risk_tier, "T2");
    engine_explanation_free(&x);
    engine_evaluate(e, p, due - 1, fx_record, &log);
    ck_assert_uint_eq(log.n, 0);
    engine_evaluate(e, NULL, due, fx_record, &log);
    ck_assert_uint_eq(log.n, 1);
    fx_check_change(&log.c[0], "T3", "T2", TD_CAUSE_DEMOTION, due);
    ck_assert_int_eq(fx_view(e, p, "main").below_since, TD_TIME_NONE);
    ck_assert_int_eq(engine_partner_next_due(e, p, due), TD_TIME_NONE);
    engine_free(e);
}
END_TEST

START_TEST(test_demotion_records_why_the_tier_left_was_lost)
{
    engine *e = make_engine("      grace: 30d\n", T0);
    td_partner *p = fx_partner(e, "p", "reseller", T0, NULL);
    fx_log log = {0};
    fx_event_at(e, "p", "level", 4, T0, NULL);
    fx_event_at(e, "p", "level", 2, T0 + 10 * DAY, NULL);
    engine_evaluate(e, p, T0 + 40 * DAY, fx_record, &log);
    ck_assert_uint_eq(log.n, 1);
    fx_check_change(&log.c[0], "T4", "T3", TD_CAUSE_DEMOTION, T0 + 40 * DAY);
    /* T4 was lost because lvl >= 4 failed with 2; landing on T3 (one drop
     * at a time) says nothing about that by itself. The ladder is
     * cumulative, so what T4 inherits from the tiers below is listed too. */
    ck_assert_str_eq(log.c[0].lost, "lvl >= 1 = 2 (met); lvl >= 2 = 2 (met); lvl >= 3 = 2 (unmet); "
                                    "lvl >= 4 = 2 (unmet)");
    /* A promotion loses nothing. */
    fx_event_at(e, "p", "level", 4, T0 + 41 * DAY, &log);
    ck_assert_uint_eq(log.n, 2);
    ck_assert_str_eq(log.c[1].lost, "");
    engine_free(e);
}
END_TEST

START_TEST(test_explain_ahead_counts_grace_from_the_fall_not_from_at)
{
    engine *e = make_engine("      grace: 30d\n", T0);
    td_partner *p = fx_partner(e, "p", "windowed", T0, NULL);
    fx_event_at(e, "p", "deal", 1, T0, NULL);
    td_time now = T0 + DAY;
    td_explanation x;
    td_error err;
    ck_assert_int_eq(engine_explain(e, p, 1, now, now, &x, &err), 0);
    ck_assert_str_eq(x.tier, "R1");
    td_time falls = x.at_risk_falls, due = x.at_risk_date;
    ck_assert_int_gt(falls, now);
    ck_assert_int_eq(due, falls + 30 * DAY);
    engine_explanation_free(&x);
    /* Asked 20 days after the fall, grace still ends 30 days after the fall. */
    ck_assert_int_eq(engine_explain(e, p, 1, now, falls + 20 * DAY, &x, &err), 0);
    ck_assert_int_eq(x.at_risk_date, due);
    engine_explanation_free(&x);
    engine_free(e);
}
END_TEST

START_TEST(test_recovery_during_grace_keeps_the_tier_and_clears_grace)
{
    engine *e = make_engine("      grace: 30d\n", T0);
    td_partner *p = fx_partner(e, "p", "reseller", T0, NULL);
    fx_log log = {0};
    fx_event_at(e, "p", "level", 3, T0, NULL);
    fx_event_at(e, "p", "level", 1, T0 + 10 * DAY, &log);
    ck_assert_int_eq(fx_view(e, p, "main").below_since, T0 + 10 * DAY);
    fx_event_at(e, "p", "level", 3, T0 + 20 * DAY, &log);
    ck_assert_int_eq(fx_view(e, p, "main").below_since, TD_TIME_NONE);
    ck_assert_int_eq(engine_partner_next_due(e, p, T0 + 20 * DAY), TD_TIME_NONE);
    engine_evaluate(e, p, T0 + 40 * DAY, fx_record, &log);
    ck_assert_uint_eq(log.n, 0);
    ck_assert_str_eq(fx_held(e, p, "main"), "T3");
    /* A second fall starts a fresh grace, not the old one. */
    fx_event_at(e, "p", "level", 2, T0 + 50 * DAY, &log);
    ck_assert_int_eq(engine_partner_next_due(e, p, T0 + 50 * DAY), T0 + 80 * DAY);
    engine_free(e);
}
END_TEST

/* ---- review points ---- */

START_TEST(test_quarterly_review_demotes_at_the_first_quarter_start_after_grace)
{
    engine *e = make_engine("      review: quarterly\n      grace: 10d\n", T0);
    td_partner *p = fx_partner(e, "p", "reseller", T0, NULL);
    fx_log log = {0};
    fx_event_at(e, "p", "level", 3, T0, NULL);
    /* Below on 25 March: grace ends 4 April, so the review is 1 July. */
    td_time fall = date(2026, 3, 25);
    fx_event_at(e, "p", "level", 2, fall, &log);
    td_time review = date(2026, 7, 1);
    ck_assert_int_eq(engine_partner_next_due(e, p, fall), review);
    engine_evaluate(e, p, date(2026, 4, 4), fx_record, &log);
    engine_evaluate(e, p, review - 1, fx_record, &log);
    ck_assert_uint_eq(log.n, 0);
    engine_evaluate(e, p, review, fx_record, &log);
    ck_assert_uint_eq(log.n, 1);
    fx_check_change(&log.c[0], "T3", "T2", TD_CAUSE_REVIEW, review);

    /* Grace ending exactly on a quarter start demotes on that instant. */
    td_partner *q = fx_partner(e, "q", "reseller", T0, NULL);
    fx_event_at(e, "q", "level", 3, T0, NULL);
    fx_event_at(e, "q", "level", 2, date(2026, 9, 21), NULL);
    ck_assert_int_eq(engine_partner_next_due(e, q, date(2026, 9, 21)), date(2026, 10, 1));
    engine_free(e);
}
END_TEST

START_TEST(test_annual_review_on_29_february_falls_on_1_march_in_common_years)
{
    engine *e = make_engine("      review: annual@02-29\n", T0);
    td_partner *p = fx_partner(e, "p", "reseller", T0, NULL);
    fx_log log = {0};
    fx_event_at(e, "p", "level", 3, T0, NULL);
    fx_event_at(e, "p", "level", 2, date(2026, 5, 1), &log);
    ck_assert_int_eq(engine_partner_next_due(e, p, date(2026, 5, 1)), date(2027, 3, 1));
    engine_evaluate(e, p, date(2027, 2, 28), fx_record, &log);
    ck_assert_uint_eq(log.n, 0);
    engine_evaluate(e, p, date(2027, 3, 1), fx_record, &log);
    ck_assert_uint_eq(log.n, 1);
    fx_check_change(&log.c[0], "T3", "T2", TD_CAUSE_REVIEW, date(2027, 3, 1));
    /* In a leap year the anchor is the day itself. */
    fx_event_at(e, "p", "level", 1, date(2027, 5, 1), &log);
    ck_assert_int_eq(engine_partner_next_due(e, p, date(2027, 5, 1)), date(2028, 2, 29));
    engine_free(e);
}
END_TEST

START_TEST(test_annual_review_waits_for_the_anchor_after_grace)
{
    engine *e = make_engine("      review: annual@01-01\n      grace: 90d\n", T0);
    td_partner *p = fx_partner(e, "p", "reseller", T0, NULL);
    fx_event_at(e, "p", "level", 3, T0, NULL);
    /* Below on 1 November: grace runs to 30 January, past this year's
     * anchor, so the demotion waits for the next one. */
    fx_event_at(e, "p", "level", 2, date(2026, 11, 1), NULL);
    ck_assert_int_eq(engine_partner_next_due(e, p, date(2026, 11, 1)), date(2028, 1, 1));
    /* Below on 1 September: grace ends 30 November, anchor 1 January. */
    td_partner *q = fx_partner(e, "q", "reseller", T0, NULL);
    fx_event_at(e, "q", "level", 3, T0, NULL);
    fx_event_at(e, "q", "level", 2, date(2026, 9, 1), NULL);
    ck_assert_int_eq(engine_partner_next_due(e, q, date(2026, 9, 1)), date(2027, 1, 1));
    engine_free(e);
}
END_TEST

/* ---- max_drop ---- */

START_TEST(test_max_drop_loses_one_tier_per_review)
{
    engine *e = make_engine("      review: quarterly\n      max_drop: 1\n", T0);
    td_partner *p = fx_partner(e, "p", "reseller", T0, NULL);
    fx_log log = {0};
    fx_event_at(e, "p", "level", 4, T0, NULL);
    fx_event_at(e, "p", "level", 1, date(2026, 2, 1), &log);
    const char *expect[] = {"T3", "T2", "T1"};
    td_time reviews[] = {date(2026, 4, 1), date(2026, 7, 1), date(2026, 10, 1)};
    td_time now = date(2026, 2, 1);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(engine_partner_next_due(e, p, now), reviews[i]);
        now = reviews[i];
        engine_evaluate(e, p, now, fx_record, &log);
        ck_assert_uint_eq(log.n, (size_t)i + 1);
        ck_assert_str_eq(log.c[i].to, expect[i]);
        ck_assert_int_eq(log.c[i].cause, TD_CAUSE_REVIEW);
    }
    ck_assert_int_eq(engine_partner_next_due(e, p, now), TD_TIME_NONE);
    engine_evaluate(e, p, date(2027, 1, 1), fx_record, &log);
    ck_assert_uint_eq(log.n, 3);
    engine_free(e);
}
END_TEST

START_TEST(test_demotion_never_goes_below_the_qualifying_tier)
{
    engine *e = make_engine("      max_drop: 3\n", T0);
    fx_partner(e, "p", "reseller", T0, NULL);
    fx_log log = {0};
    fx_event_at(e, "p", "level", 4, T0, NULL);
    fx_event_at(e, "p", "level", 2, T0 + DAY, &log);
    ck_assert_uint_eq(log.n, 1);
    fx_check_change(&log.c[0], "T4", "T2", TD_CAUSE_DEMOTION, T0 + DAY);
    /* max_drop 2 from T4 to unranked: T2 now, unranked at the next review. */
    engine *f = make_engine("      max_drop: 2\n", T0);
    td_partner *q = fx_partner(f, "q", "reseller", T0, NULL);
    fx_event_at(f, "q", "level", 4, T0, NULL);
    log.n = 0;
    fx_event_at(f, "q", "level", 0, T0 + DAY, &log);
    ck_assert_uint_eq(log.n, 1);
    fx_check_change(&log.c[0], "T4", "T2", TD_CAUSE_DEMOTION, T0 + DAY);
    engine_evaluate(f, q, T0 + DAY + 1, fx_record, &log);
    fx_check_change(&log.c[1], "T2", "-", TD_CAUSE_DEMOTION, T0 + DAY + 1);
    engine_free(e);
    engine_free(f);
}
END_TEST

START_TEST(test_default_policy_drops_one_tier_per_evaluation)
{
    engine *e = make_engine("", T0);
    td_partner *p = fx_partner(e, "p", "reseller", T0, NULL);
    fx_log log = {0};
    fx_event_at(e, "p", "level", 3, T0, NULL);
    fx_event_at(e, "p", "level", 1, T0 + DAY, &log);
    ck_assert_uint_eq(log.n, 1);
    fx_check_change(&log.c[0], "T3", "T2", TD_CAUSE_DEMOTION, T0 + DAY);
    /* Still below: the next drop is due a second later, not in the same
     * evaluation. */
    ck_assert_int_eq(engine_partner_next_due(e, p, T0 + DAY), T0 + DAY + 1);
    engine_evaluate(e, p, T0 + DAY + 1, fx_record, &log);
    ck_assert_uint_eq(log.n, 2);
    fx_check_change(&log.c[1], "T2", "T1", TD_CAUSE_DEMOTION, T0 + DAY + 1);
    ck_assert_int_eq(engine_partner_next_due(e, p, T0 + DAY + 1), TD_TIME_NONE);
    engine_free(e);
}
END_TEST

/* ---- approvals ---- */

START_TEST(test_promotion_into_an_approval_tier_waits_then_approval_promotes_with_actor)
{
    engine *e = make_engine_split("      approval: [T3]\n", "", T0);
    td_partner *p = fx_partner(e, "p", "reseller", T0, NULL);
    fx_log log = {0};
    fx_event_at(e, "p", "level", 4, T0, &log);
    /* Up freely to just below T3; T3 waits; T4 above it waits for T3. */
    ck_assert_uint_eq(log.n, 1);
    fx_check_change(&log.c[0], "-", "T2", TD_CAUSE_PROMOTION, T0);
    ck_assert_str_eq(fx_view(e, p, "main").pending, "T3");
    td_pending pd[4];
    ck_assert_uint_eq(fx_pending(e, pd, 4), 1);
    ck_assert_str_eq(pd[0].partner, "p");
    ck_assert_str_eq(pd[0].ladder, "main");
    ck_assert_str_eq(pd[0].from, "T2");
    ck_assert_str_eq(pd[0].to, "T3");
    ck_assert_int_eq(pd[0].since, T0);
    /* Paging past the only entry gives nothing. */
    bool more = true;
    ck_assert_uint_eq(engine_pending_list(e, "p", "main", pd, 4, &more), 0);
    ck_assert(!more);

    td_error err;
    ck_assert_int_eq(
        engine_approve(e, p, "main", "alice", "strong quarter", T0 + DAY, fx_record, &log, &err),
        0);
    ck_assert_uint_eq(log.n, 3);
    fx_check_change(&log.c[1], "T2", "T3", TD_CAUSE_APPROVAL, T0 + DAY);
    ck_assert_str_eq(log.c[1].actor, "alice");
    ck_assert_str_eq(log.c[1].reason, "strong quarter");
    fx_check_change(&log.c[2], "T3", "T4", TD_CAUSE_PROMOTION, T0 + DAY);
    ck_assert_uint_eq(fx_pending(e, pd, 4), 0);
    /* Nothing pending any more. */
    ck_assert_int_eq(engine_approve(e, p, "main", "alice", NULL, T0 + DAY, fx_record, &log, &err),
                     -TD_FAILED_PRECONDITION);
    ck_assert_int_eq(engine_deny(e, p, "main", "alice", NULL, T0 + DAY, fx_record, &log, &err),
                     -TD_FAILED_PRECONDITION);
    ck_assert_int_eq(engine_approve(e, p, "nope", "alice", NULL, T0 + DAY, fx_record, &log, &err),
                     -TD_NOT_FOUND);
    engine_free(e);
}
END_TEST

/* Status recounts the approval queue only when this number moves, so it
 * must move with every change to the queue, and not with events that
 * leave the queue as it was. */
START_TEST(test_the_queue_generation_moves_with_the_approval_queue_and_only_then)
{
    engine *e = make_engine_split("      approval: [T3]\n", "", T0);
    td_partner *p = fx_partner(e, "p", "reseller", T0, NULL);
    fx_log log = {0};
    uint64_t g = engine_pending_generation(e);
    fx_event_at(e, "p", "level", 2, T0, &log); /* promoted, nothing queued */
    ck_assert_uint_eq(engine_pending_generation(e), g);
    fx_event_at(e, "p", "level", 4, T0 + 1, &log); /* T3 waits for approval */
    ck_assert_uint_ne(engine_pending_generation(e), g);
    ck_assert_uint_eq(engine_pending_count(e), 1);
    g = engine_pending_generation(e);
    fx_event_at(e, "p", "level", 5, T0 + 2, &log); /* still waiting for T3 */
    ck_assert_uint_eq(engine_pending_generation(e), g);
    td_error err;
    ck_assert_int_eq(engine_approve(e, p, "main", "alice", NULL, T0 + DAY, fx_record, &log, &err),
                     0);
    ck_assert_uint_ne(engine_pending_generation(e), g);
    ck_assert_uint_eq(engine_pending_count(e), 0);

    td_partner *q = fx_partner(e, "q", "reseller", T0, NULL);
    (void)q;
    fx_event_at(e, "q", "level", 4, T0 + DAY, &log);
    ck_assert_uint_eq(engine_pending_count(e), 1);
    g = engine_pending_generation(e);
    ck_assert_int_eq(engine_partner_delete(e, "q", T0 + DAY, fx_record, &log, &err), 0);
    ck_assert_uint_ne(engine_pending_generation(e), g);
    ck_assert_uint_eq(engine_pending_count(e), 0);
    engine_free(e);
}
END_TEST

START_TEST(test_denial_is_recorded_and_stands_while_the_partner_keeps_qualifying)
{
    engine *e = make_engine_split("      approval: [T3]\n", "", T0);
    td_partner *p = fx_partner(e, "p", "reseller", T0, NULL);
    fx_log log = {0};
    fx_event_at(e, "p", "level", 3, T0, NULL);
    td_error err;
    ck_assert_int_eq(
        engine_deny(e, p, "main", "bob", "no practice yet", T0 + DAY, fx_record, &log, &err), 0);
    ck_assert_uint_eq(log.n, 1);
    fx_check_change(&log.c[0], "T2", "T2", TD_CAUSE_DENIAL, T0 + DAY);
    ck_assert_str_eq(log.c[0].promotion, "T3");
    ck_assert_str_eq(log.c[0].actor, "bob");
    ck_assert_str_eq(log.c[0].reason, "no practice yet");
    ck_assert_ptr_null(fx_view(e, p, "main").pending);
    /* Still qualifying: not queued again. */
    fx_event_at(e, "p", "level", 4, T0 + 2 * DAY, &log);
    ck_assert_ptr_null(fx_view(e, p, "main").pending);
    ck_assert_uint_eq(log.n, 1);
    /* Dropping below and qualifying anew re-queues it. */
    fx_event_at(e, "p", "level", 2, T0 + 3 * DAY, &log);
    fx_event_at(e, "p", "level", 3, T0 + 4 * DAY, &log);
    ck_assert_str_eq(fx_view(e, p, "main").pending, "T3");
    ck_assert_int_eq(fx_view(e, p, "main").pending_since, T0 + 4 * DAY);
    engine_free(e);
}
END_TEST

START_TEST(test_pending_promotion_is_withdrawn_when_no_longer_qualifying)
{
    engine *e = make_engine_split("      approval: [T3]\n", "", T0);
    td_partner *p = fx_partner(e, "p", "reseller", T0, NULL);
    fx_log log = {0};
    fx_event_at(e, "p", "level", 3, T0, NULL);
    ck_assert_str_eq(fx_view(e, p, "main").pending, "T3");
    fx_event_at(e, "p", "level", 2, T0 + DAY, &log);
    ck_assert_uint_eq(log.n, 1);
    /* Not a denial by anyone: the promotion to T3 is withdrawn, and says so. */
    fx_check_change(&log.c[0], "T2", "T2", TD_CAUSE_WITHDRAWN, T0 + DAY);
    ck_assert_str_eq(log.c[0].promotion, "T3");
    ck_assert_str_eq(log.c[0].actor, TD_ACTOR_SYSTEM);
    ck_assert_str_eq(log.c[0].reason, "no longer qualifies");
    ck_assert_ptr_null(fx_view(e, p, "main").pending);
    engine_free(e);
}
END_TEST

START_TEST(test_approval_is_refused_once_the_partner_no_longer_qualifies)
{
    engine *e = make_engine_split("", "      approval: [R2]\n", T0);
    td_partner *p = fx_partner(e, "w", "windowed", T0, NULL);
    fx_log log = {0};
    fx_event_at(e, "w", "deal", 2, T0, NULL);
    ck_assert_str_eq(fx_view(e, p, "recent").tier, "R1");
    ck_assert_str_eq(fx_view(e, p, "recent").pending, "R2");
    /* The deals leave the window before anyone looks. */
    td_error err;
    ck_assert_int_eq(
        engine_approve(e, p, "recent", "alice", NULL, T0 + 31 * DAY, fx_record, &log, &err),
        -TD_FAILED_PRECONDITION);
    ck_assert_ptr_nonnull(strstr(err.message, "no longer qualifies for R2"));
    ck_assert_uint_eq(log.n, 0);
    ck_assert_str_eq(fx_view(e, p, "recent").tier, "R1");
    engine_free(e);
}
END_TEST

/* ---- overrides ---- */

START_TEST(test_override_wins_until_it_expires_and_the_lifecycle_tier_takes_over)
{
    engine *e = make_engine("", T0);
    td_partner *p = fx_partner(e, "p", "reseller", T0, NULL);
    fx_log log = {0};
    fx_event_at(e, "p", "level", 3, T0, NULL);
    td_error err;
    td_time until = T0 + 10 * DAY;
    ck_assert_int_eq(engine_override_set(e, p, "main", "T1", until, "carol", "audit hold", T0 + 1,
                                         fx_record, &log, &err),
                     0);
    ck_assert_uint_eq(log.n, 1);
    fx_check_change(&log.c[0], "T3", "T1", TD_CAUSE_OVERRIDE, T0 + 1);
    ck_assert_str_eq(log.c[0].actor, "carol");
    ck_assert_str_eq(log.c[0].reason, "audit hold");
    td_tier_view v = fx_view(e, p, "main");
    ck_assert_str_eq(v.tier, "T1");
    ck_assert_str_eq(v.lifecycle_tier, "T3");
    ck_assert(v.overridden);
    ck_assert_str_eq(v.override_actor, "carol");
    ck_assert_str_eq(v.override_reason, "audit hold");
    ck_assert_int_eq(v.override_until, until);
    /* The lifecycle tier moves underneath without a record. */
    fx_event_at(e, "p", "level", 4, T0 + DAY, &log);
    ck_assert_uint_eq(log.n, 1);
    ck_assert_str_eq(fx_held(e, p, "main"), "T1");
    ck_assert_int_eq(engine_partner_next_due(e, p, T0 + DAY), until);
    engine_evaluate(e, p, until, fx_record, &log);
    ck_assert_uint_eq(log.n, 2);
    fx_check_change(&log.c[1], "T1", "T4", TD_CAUSE_OVERRIDE_EXPIRED, until);
    ck_assert_str_eq(fx_held(e, p, "main"), "T4");
    ck_assert(!fx_view(e, p, "main").overridden);
    /* T4 is held from the expiry on, not from a moment under the pin. */
    ck_assert_int_eq(fx_view(e, p, "main").since, until);
    engine_free(e);
}
END_TEST

START_TEST(test_clearing_an_override_returns_to_the_lifecycle_tier)
{
    engine *e = make_engine("", T0);
    td_partner *p = fx_partner(e, "p", "reseller", T0, NULL);
    fx_log log = {0};
    fx_event_at(e, "p", "level", 2, T0, NULL);
    td_error err;
    /* Pinned to unranked. */
    ck_assert_int_eq(engine_override_set(e, p, "main", NULL, T0 + 5 * DAY, "carol", "fraud check",
                                         T0 + 1, fx_record, &log, &err),
                     0);
    fx_check_change(&log.c[0], "T2", "-", TD_CAUSE_OVERRIDE, T0 + 1);
    ck_assert_str_eq(fx_held(e, p, "main"), "-");
    uint64_t counts[TD_MAX_TIERS + 1] = {0};
    uint64_t all[2 * (TD_MAX_TIERS + 1)];
    engine_stats(e, all);
    memcpy(counts, all, sizeof counts);
    ck_assert_uint_eq(counts[0], 1); /* the stats see the pin */
    ck_assert_int_eq(
        engine_override_clear(e, p, "main", "dave", "cleared", T0 + DAY, fx_record, &log, &err), 0);
    ck_assert_uint_eq(log.n, 2);
    fx_check_change(&log.c[1], "-", "T2", TD_CAUSE_OVERRIDE_CLEARED, T0 + DAY);
    ck_assert_str_eq(log.c[1].actor, "dave");
    ck_assert_str_eq(fx_held(e, p, "main"), "T2");
    ck_assert_int_eq(
        engine_override_clear(e, p, "main", "dave", NULL, T0 + DAY, fx_record, &log, &err),
        -TD_FAILED_PRECONDITION);
    engine_free(e);
}
END_TEST

START_TEST(test_override_refuses_bad_tiers_times_and_text)
{
    engine *e = make_engine("", T0);
    td_partner *p = fx_partner(e, "p", "reseller", T0, NULL);
    td_partner *w = fx_partner(e, "w", "windowed", T0, NULL);
    td_error err;
    ck_assert_int_eq(
        engine_override_set(e, p, "main", "T9", T0 + DAY, "c", "r", T0, NULL, NULL, &err),
        -TD_NOT_FOUND);
    ck_assert_int_eq(
        engine_override_set(e, p, "nope", "T1", T0 + DAY, "c", "r", T0, NULL, NULL, &err),
        -TD_NOT_FOUND);
    ck_assert_int_eq(
        engine_override_set(e, w, "main", "T1", T0 + DAY, "c", "r", T0, NULL, NULL, &err),
        -TD_NOT_FOUND);
    ck_assert_int_eq(engine_override_set(e, p, "main", "T1", T0, "c", "r", T0, NULL, NULL, &err),
                     -TD_INVALID_ARGUMENT);
    ck_assert_int_eq(
        engine_override_set(e, p, "main", "T1", TD_TIME_MAX + 1, "c", "r", T0, NULL, NULL, &err),
        -TD_INVALID_ARGUMENT);
    ck_assert_int_eq(
        engine_override_set(e, p, "main", "T1", T0 + DAY, "c", "", T0, NULL, NULL, &err),
        -TD_INVALID_ARGUMENT);
    ck_assert_int_eq(
        engine_override_set(e, p, "main", "T1", T0 + DAY, "c", "\xff\xfe", T0, NULL, NULL, &err),
        -TD_INVALID_ARGUMENT);
    char *long_reason = malloc(TD_MAX_REASON + 2);
    memset(long_reason, 'x', TD_MAX_REASON + 1);
    long_reason[TD_MAX_REASON + 1] = '\0';
    ck_assert_int_eq(
        engine_override_set(e, p, "main", "T1", T0 + DAY, "c", long_reason, T0, NULL, NULL, &err),
        -TD_INVALID_ARGUMENT);
    free(long_reason);
    ck_assert(!fx_view(e, p, "main").overridden);
    engine_free(e);
}
END_TEST

/* ---- program versions ---- */

START_TEST(test_grandfathering_suppresses_demotions_until_its_end)
{
    const char *policy = "      grandfather: 30d\n";
    engine *e = make_engine(policy, T0);
    td_partner *p = fx_partner(e, "p", "reseller", T0, NULL);
    fx_event_at(e, "p", "level", 4, T0, NULL);
    /* v2 raises T4 to 5 levels: p would fall to T3, but not for 30 days. */
    td_time t1 = T0 + 10 * DAY;
    fx_log log = {0};
    ck_assert_int_eq(
        engine_program_apply(e, make_program("v2", policy, policy, 5, NULL), t1, fx_record, &log),
        0);
    ck_assert_uint_eq(log.n, 0);
    ck_assert_int_eq(engine_program_effective(e), t1);
    ck_assert_str_eq(fx_held(e, p, "main"), "T4");
    ck_assert_int_eq(engine_partner_next_due(e, p, t1), t1 + 30 * DAY);
    engine_evaluate(e, p, t1 + 30 * DAY - 1, fx_record, &log);
    ck_assert_uint_eq(log.n, 0);
    engine_evaluate(e, p, t1 + 30 * DAY, fx_record, &log);
    ck_assert_uint_eq(log.n, 1);
    fx_check_change(&log.c[0], "T4", "T3", TD_CAUSE_DEMOTION, t1 + 30 * DAY);

    /* A tier taken after the version took effect is not grandfathered. */
    td_partner *q = fx_partner(e, "q", "reseller", t1 + DAY, NULL);
    fx_event_at(e, "q", "level", 3, t1 + DAY, NULL);
    log.n = 0;
    fx_event_at(e, "q", "level", 2, t1 + 2 * DAY, &log);
    ck_assert_uint_eq(log.n, 1);
    ck_assert_str_eq(fx_held(e, q, "main"), "T2");
    engine_free(e);
}
END_TEST

START_TEST(test_a_version_applied_without_grandfathering_demotes_as_a_program_version)
{
    engine *e = make_engine("", T0);
    fx_partner(e, "p", "reseller", T0, NULL);
    fx_event_at(e, "p", "level", 4, T0, NULL);
    fx_log log = {0};
    ck_assert_int_eq(
        engine_program_apply(e, make_program("v2", "", "", 5, NULL), T0 + DAY, fx_record, &log), 0);
    ck_assert_uint_eq(log.n, 1);
    fx_check_change(&log.c[0], "T4", "T3", TD_CAUSE_PROGRAM_VERSION, T0 + DAY);
    engine_free(e);
}
END_TEST

static void count_touched(void *ud, const char *id)
{
    (void)id;
    (*(size_t *)ud)++;
}

START_TEST(test_impact_counts_queued_approvals_not_promotions)
{
    engine *e = make_engine_split("      approval: [T4]\n", "", T0);
    td_partner *q = fx_partner(e, "q", "reseller", T0, NULL);
    fx_partner(e, "u", "reseller", T0, NULL);
    /* v1: T4 needs 4 levels; q has 3 and holds T3. */
    fx_event_at(e, "q", "level", 3, T0, NULL);
    fx_event_at(e, "u", "level", 1, T0, NULL);
    ck_assert_str_eq(fx_held(e, q, "main"), "T3");
    /* v2 lowers T4 to 3 levels: q qualifies, but T4 needs a person. */
    program *v2 = make_program("v2", "      approval: [T4]\n", "", 3, NULL);
    size_t touched = 0;
    engine_touched_take(e, NULL, NULL);
    td_impact im;
    ck_assert_int_eq(engine_program_impact(e, v2, T0 + DAY, &im), 0);
    ck_assert_uint_eq(im.promoted, 0);
    ck_assert_uint_eq(im.queued, 1);
    ck_assert_uint_eq(im.demoted, 0);
    ck_assert_uint_eq(im.demoted_later, 0);
    ck_assert_uint_eq(im.unchanged, 1);
    ck_assert_int_eq(im.at, T0 + DAY);
    /* Assessing changed nothing, not even the list of partners to write. */
    ck_assert_int_eq(engine_touched_take(e, count_touched, &touched), 0);
    ck_assert_uint_eq(touched, 0);
    ck_assert_str_eq(fx_held(e, q, "main"), "T3");
    ck_assert_ptr_null(fx_view(e, q, "main").pending);
    /* Without the approval rule the same version promotes at once. */
    program *v3 = make_program("v3", "", "", 3, NULL);
    ck_assert_int_eq(engine_program_impact(e, v3, T0 + DAY, &im), 0);
    ck_assert_uint_eq(im.promoted, 1);
    ck_assert_uint_eq(im.queued, 0);
    program_free(v3);
    /* And what it said is what applying does. */
    fx_log log = {0};
    ck_assert_int_eq(engine_program_apply(e, v2, T0 + DAY, fx_record, &log), 0);
    ck_assert_uint_eq(log.n, 0);
    ck_assert_str_eq(fx_view(e, q, "main").pending, "T4");
    engine_free(e);
}
END_TEST

START_TEST(test_impact_dates_demotions_held_back_by_grace_and_grandfathering)
{
    engine *e = make_engine("      grace: 30d\n", T0);
    fx_partner(e, "d", "reseller", T0, NULL);
    fx_partner(e, "k", "reseller", T0, NULL);
    fx_event_at(e, "d", "level", 4, T0, NULL);
    fx_event_at(e, "k", "level", 2, T0, NULL);
    td_time at = T0 + 10 * DAY;
    td_impact im;
    /* T4 now needs 5 levels: d falls below, but grace holds it 30 days. */
    program *grace = make_program("v2", "      grace: 30d\n", "", 5, NULL);
    ck_assert_int_eq(engine_program_impact(e, grace, at, &im), 0);
    ck_assert_uint_eq(im.demoted, 0);
    ck_assert_uint_eq(im.demoted_later, 1);
    ck_assert_int_eq(im.first_demotion, at + 30 * DAY);
    ck_assert_int_eq(im.last_demotion, at + 30 * DAY);
    ck_assert_uint_eq(im.unchanged, 1);
    program_free(grace);
    /* Grandfathering holds it longer, from the instant assessed. */
    program *gf = make_program("v3", "      grace: 30d\n      grandfather: 90d\n", "", 5, NULL);
    ck_assert_int_eq(engine_program_impact(e, gf, at, &im), 0);
    ck_assert_uint_eq(im.demoted, 0);
    ck_assert_uint_eq(im.demoted_later, 1);
    ck_assert_int_eq(im.first_demotion, at + 90 * DAY);
    program_free(gf);
    /* With neither, the demotion is now. */
    program *now = make_program("v4", "", "", 5, NULL);
    ck_assert_int_eq(engine_program_impact(e, now, at, &im), 0);
    ck_assert_uint_eq(im.demoted, 1);
    ck_assert_uint_eq(im.demoted_later, 0);
    ck_assert_int_eq(im.first_demotion, TD_TIME_NONE);
    program_free(now);
    engine_free(e);
}
END_TEST

START_TEST(test_notice_check_refuses_a_demoting_version_that_arrives_late)
{
    engine *e = make_engine("", T0);
    fx_partner(e, "p", "reseller", T0, NULL);
    fx_partner(e, "q", "reseller", T0, NULL);
    fx_event_at(e, "p", "level", 4, T0, NULL);
    fx_event_at(e, "q", "level", 4, T0, NULL);
    char top[TEXT_MAX];
    char label[TD_TIME_STRLEN];
    td_time_format(T0 + 30 * DAY, label, sizeof label);
    snprintf(top, sizeof top, "effective: %s\nnotice: 90d\n", label);
    program *late = make_program("2027.2", "", "", 5, top);
    uint64_t down = 0;
    td_error err;
    ck_assert_int_eq(engine_program_notice_check(e, late, T0, &down, &err),
                     -TD_FAILED_PRECONDITION);
    ck_assert_uint_eq(down, 2);
    ck_assert_str_eq(err.message, "version 2027.2 would demote 2 partners and takes effect in 30 "
                                  "days; notice is 90 days (use --force)");
    /* Loaded 100 days ahead it is fine. */
    ck_assert_int_eq(engine_program_notice_check(e, late, T0 - 70 * DAY, &down, &err), 0);
    program_free(late);
    /* A version that demotes nobody needs no notice. */
    snprintf(top, sizeof top, "effective: %s\nnotice: 90d\n", label);
    program *kind = make_program("2027.3", "", "", 4, top);
    ck_assert_int_eq(engine_program_notice_check(e, kind, T0, &down, &err), 0);
    ck_assert_uint_eq(down, 0);
    program_free(kind);
    engine_free(e);
}
END_TEST

START_TEST(test_schedule_keeps_one_pending_version)
{
    engine *e = make_engine("", T0);
    ck_assert_int_eq(engine_next_program_due(e), TD_TIME_NONE);
    ck_assert_ptr_null(engine_program_take_scheduled(e));
    engine_program_schedule(e, make_program("v2", "", "", 4, NULL), T0 + 10 * DAY);
    engine_program_schedule(e, make_program("v3", "", "", 4, NULL), T0 + 20 * DAY);
    ck_assert_int_eq(engine_next_program_due(e), T0 + 20 * DAY);
    ck_assert_str_eq(engine_program_scheduled(e)->version, "v3");
    program *p = engine_program_take_scheduled(e);
    ck_assert_str_eq(p->version, "v3");
    ck_assert_int_eq(engine_next_program_due(e), TD_TIME_NONE);
    ck_assert_int_eq(engine_program_apply(e, p, T0 + 20 * DAY, NULL, NULL), 0);
    ck_assert_str_eq(engine_program(e)->version, "v3");
    /* A scheduled version still held at the end is freed with the engine. */
    engine_program_schedule(e, make_program("v4", "", "", 4, NULL), T0 + 30 * DAY);
    engine_free(e);
}
END_TEST

/* ---- time alone ---- */

START_TEST(test_window_expiry_demotes_after_grace_with_no_events)
{
    engine *e = make_engine("      grace: 10d\n", T0);
    td_partner *p = fx_partner(e, "w", "windowed", T0, NULL);
    fx_log log = {0};
    fx_event_at(e, "w", "deal", 3, T0, NULL);
    ck_assert_str_eq(fx_view(e, p, "recent").tier, "R3");
    td_time edge = engine_partner_next_due(e, p, T0);
    ck_assert_int_eq(edge, T0 + 30 * DAY);
    engine_evaluate(e, NULL, edge, fx_record, &log);
    ck_assert_uint_eq(log.n, 0);
    ck_assert_int_eq(fx_view(e, p, "recent").below_since, edge);
    td_time due = engine_partner_next_due(e, p, edge);
    ck_assert_int_eq(due, edge + 10 * DAY);
    engine_evaluate(e, NULL, due, fx_record, &log);
    ck_assert_uint_eq(log.n, 1);
    fx_check_change(&log.c[0], "R3", "R2", TD_CAUSE_DEMOTION, due);
    /* Still unranked by its facts: a new grace for the next drop. */
    ck_assert_int_eq(engine_partner_next_due(e, p, due), due + 10 * DAY);
    engine_free(e);
}
END_TEST

START_TEST(test_at_risk_dates_the_demotion_after_grace_and_review)
{
    engine *e = make_engine("      review: quarterly\n      grace: 10d\n      max_drop: 1\n", T0);
    td_partner *p = fx_partner(e, "w", "windowed", T0, NULL);
    fx_event_at(e, "w", "deal", 3, T0, NULL);
    td_explanation x;
    td_error err;
    ck_assert_int_eq(engine_explain(e, p, 1, T0, T0, &x, &err), 0);
    /* Deals leave the window on 31 January; grace ends 10 February; the
     * review is 1 April; one tier at most. */
    ck_assert_int_eq(x.at_risk_falls, T0 + 30 * DAY);
    ck_assert_int_eq(x.at_risk_date, date(2026, 4, 1));
    ck_assert_str_eq(x.at_risk_tier, "R2");
    engine_explanation_free(&x);

    /* Overridden: nothing at risk while the pin holds. */
    ck_assert_int_eq(
        engine_override_set(e, p, "recent", "R1", T0 + 90 * DAY, "c", "r", T0, NULL, NULL, &err),
        0);
    ck_assert_int_eq(engine_explain(e, p, 1, T0, T0, &x, &err), 0);
    ck_assert_str_eq(x.tier, "R1");
    ck_assert_int_eq(x.at_risk_date, TD_TIME_NONE);
    engine_explanation_free(&x);
    engine_free(e);
}
END_TEST

/* ---- persistence ---- */

START_TEST(test_codec_keeps_below_since_pending_and_override_across_restore)
{
    const char *pm = "      grace: 30d\n", *pr = "      grace: 30d\n      approval: [R3]\n";
    engine *e = make_engine_split(pm, pr, T0);
    td_partner *p = fx_partner(e, "p", "reseller", T0, NULL);
    fx_partner(e, "w", "windowed", T0, NULL);
    fx_event_at(e, "p", "level", 3, T0, NULL);
    fx_event_at(e, "p", "level", 2, T0 + DAY, NULL);
    fx_event_at(e, "w", "deal", 3, T0, NULL);
    td_error err;
    ck_assert_int_eq(engine_override_set(e, p, "main", "T1", T0 + 9 * DAY, "ops", "hold ü",
                                         T0 + DAY, NULL, NULL, &err),
                     0);
    engine *f = make_engine_split(pm, pr, T0);
    const char *ids[] = {"p", "w"};
    for (int i = 0; i < 2; i++) {
        uint8_t *buf;
        size_t len;
        ck_assert_int_eq(engine_partner_encode(e, engine_partner_find(e, ids[i]), &buf, &len), 0);
        ck_assert_msg(engine_partner_restore(f, buf, len, &err) == 0, "%s", err.message);
        free(buf);
    }
    td_tier_view a = fx_view(f, engine_partner_find(f, "p"), "main");
    ck_assert_str_eq(a.tier, "T1");
    ck_assert_str_eq(a.lifecycle_tier, "T3");
    ck_assert_int_eq(a.below_since, T0 + DAY);
    ck_assert_int_eq(a.override_until, T0 + 9 * DAY);
    ck_assert_str_eq(a.override_actor, "ops");
    ck_assert_str_eq(a.override_reason, "hold ü");
    td_tier_view b = fx_view(f, engine_partner_find(f, "w"), "recent");
    ck_assert_str_eq(b.tier, "R2");
    ck_assert_str_eq(b.pending, "R3");
    ck_assert_int_eq(b.pending_since, T0);
    /* The restored state goes on as the original would. */
    fx_log log = {0};
    engine_evaluate(f, NULL, T0 + 9 * DAY, fx_record, &log);
    ck_assert_uint_eq(log.n, 1);
    fx_check_change(&log.c[0], "T1", "T3", TD_CAUSE_OVERRIDE_EXPIRED, T0 + 9 * DAY);
    engine_free(e);
    engine_free(f);
}
END_TEST

/* A version-1 record, as written before the lifecycle, built byte by byte. */
typedef struct bytes {
    uint8_t b[512];
    size_t n;
} bytes;

static void put(bytes *w, const void *src, size_t n)
{
    ck_assert_uint_le(w->n + n, sizeof w->b);
    memcpy(w->b + w->n, src, n);
    w->n += n;
}

static void put_u64(bytes *w, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        uint8_t c = (uint8_t)(v >> (8 * i));
        put(w, &c, 1);
    }
}

static void put_u32(bytes *w, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        uint8_t c = (uint8_t)(v >> (8 * i));
        put(w, &c, 1);
    }
}

static void put_str(bytes *w, const char *s)
{
    if (!s) {
        put_u32(w, UINT32_MAX);
        return;
    }
    put_u32(w, (uint32_t)strlen(s));
    put(w, s, strlen(s));
}

START_TEST(test_codec_still_reads_version_1_records)
{
    engine *e = make_engine("", T0);
    bytes w = {0};
    put(&w, "TDP\x01", 4);
    put_str(&w, "old");
    put_str(&w, NULL);
    put_u32(&w, 1);
    put_str(&w, "reseller");
    put_u64(&w, (uint64_t)T0);
    put_u64(&w, (uint64_t)T0);
    put_u64(&w, 0);
    put_u32(&w, 0); /* streams */
    put_u32(&w, 1); /* tiers */
    put_str(&w, "main");
    put_str(&w, "T2");
    put_str(&w, "T2");
    put_str(&w, NULL);
    put_str(&w, "T1"); /* an override field nothing could have set: ignored */
    put_u64(&w, (uint64_t)T0);
    put_u64(&w, (uint64_t)(T0 + DAY));
    put_u64(&w, 0);
    td_error err;
    ck_assert_msg(engine_partner_restore(e, w.b, w.n, &err) == 0, "%s", err.message);
    td_tier_view v = fx_view(e, engine_partner_find(e, "old"), "main");
    ck_assert_str_eq(v.tier, "T2");
    ck_assert(!v.overridden);
    ck_assert_int_eq(v.since, T0);
    /* It encodes again as the current version. */
    uint8_t *buf;
    size_t len;
    ck_assert_int_eq(engine_partner_encode(e, engine_partner_find(e, "old"), &buf, &len), 0);
    ck_assert_uint_eq(buf[3], 4);
    free(buf);
    /* A version-2 override without its actor is damage. */
    w.b[3] = 2;
    ck_assert_int_eq(engine_partner_restore(e, w.b, w.n, &err), -TD_DATA_LOSS);
    engine_free(e);
}
END_TEST

START_TEST(test_bit_flipped_lifecycle_records_never_crash)
{
    const char *pm = "      grace: 30d\n      approval: [T4]\n";
    engine *e = make_engine_split(pm, "", T0);
    td_partner *p = fx_partner(e, "p", "reseller", T0, NULL);
    fx_event_at(e, "p", "level", 4, T0, NULL);
    fx_event_at(e, "p", "level", 2, T0 + DAY, NULL);
    td_error err;
    ck_assert_int_eq(engine_override_set(e, p, "main", NULL, T0 + 9 * DAY, "ops", "hold", T0 + DAY,
                                         NULL, NULL, &err),
                     0);
    uint8_t *buf;
    size_t len;
    ck_assert_int_eq(engine_partner_encode(e, p, &buf, &len), 0);
    engine *f = make_engine_split(pm, "", T0);
    for (size_t i = 0; i < len * 8; i++) {
        uint8_t *flip = malloc(len);
        memcpy(flip, buf, len);
        flip[i / 8] ^= (uint8_t)(1u << (i % 8));
        if (engine_partner_restore(f, flip, len, &err) == 0) {
            /* Whatever was accepted must work like any partner; the id
             * itself may be the flipped byte. */
            td_partner *r = NULL;
            bool more;
            ck_assert_uint_eq(engine_partner_list(f, NULL, NULL, NULL, &r, 1, &more, &err), 1);
            td_partner_info info;
            engine_partner_info(r, &info);
            uint8_t *again;
            size_t n;
            ck_assert_int_eq(engine_partner_encode(f, r, &again, &n), 0);
            free(again);
            engine_partner_next_due(f, r, T0 + DAY);
            engine_evaluate(f, r, T0 + 40 * DAY, NULL, NULL);
            engine_partner_delete(f, info.id, T0 + 40 * DAY, NULL, NULL, &err);
        }
        free(flip);
    }
    free(buf);
    engine_free(e);
    engine_free(f);
}
END_TEST

static Suite *lifecycle_suite(void)
{
    Suite *s = suite_create("lifecycle");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_demotion_waits_for_grace);
    tcase_add_test(tc, test_recovery_during_grace_keeps_the_tier_and_clears_grace);
    tcase_add_test(tc, test_quarterly_review_demotes_at_the_first_quarter_start_after_grace);
    tcase_add_test(tc, test_annual_review_on_29_february_falls_on_1_march_in_common_years);
    tcase_add_test(tc, test_annual_review_waits_for_the_anchor_after_grace);
    tcase_add_test(tc, test_max_drop_loses_one_tier_per_review);
    tcase_add_test(tc, test_demotion_never_goes_below_the_qualifying_tier);
    tcase_add_test(tc, test_default_policy_drops_one_tier_per_evaluation);
    tcase_add_test(tc,
                   test_promotion_into_an_approval_tier_waits_then_approval_promotes_with_actor);
    tcase_add_test(tc, test_the_queue_generation_moves_with_the_approval_queue_and_only_then);
    tcase_add_test(tc, test_denial_is_recorded_and_stands_while_the_partner_keeps_qualifying);
    tcase_add_test(tc, test_pending_promotion_is_withdrawn_when_no_longer_qualifying);
    tcase_add_test(tc, test_approval_is_refused_once_the_partner_no_longer_qualifies);
    tcase_add_test(tc, test_override_wins_until_it_expires_and_the_lifecycle_tier_takes_over);
    tcase_add_test(tc, test_clearing_an_override_returns_to_the_lifecycle_tier);
    tcase_add_test(tc, test_override_refuses_bad_tiers_times_and_text);
    tcase_add_test(tc, test_grandfathering_suppresses_demotions_until_its_end);
    tcase_add_test(tc, test_a_version_applied_without_grandfathering_demotes_as_a_program_version);
    tcase_add_test(tc, test_demotion_records_why_the_tier_left_was_lost);
    tcase_add_test(tc, test_explain_ahead_counts_grace_from_the_fall_not_from_at);
    tcase_add_test(tc, test_impact_counts_queued_approvals_not_promotions);
    tcase_add_test(tc, test_impact_dates_demotions_held_back_by_grace_and_grandfathering);
    tcase_add_test(tc, test_notice_check_refuses_a_demoting_version_that_arrives_late);
    tcase_add_test(tc, test_schedule_keeps_one_pending_version);
    tcase_add_test(tc, test_window_expiry_demotes_after_grace_with_no_events);
    tcase_add_test(tc, test_at_risk_dates_the_demotion_after_grace_and_review);
    tcase_add_test(tc, test_codec_keeps_below_since_pending_and_override_across_restore);
    tcase_add_test(tc, test_codec_still_reads_version_1_records);
    tcase_add_test(tc, test_bit_flipped_lifecycle_records_never_crash);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(lifecycle_suite());
}
