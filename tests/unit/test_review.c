/* Demotion review (docs/program.md, "Lifecycle"): a demotion out of a tier
 * under review waits in the approval queue with a deadline; a person
 * approves or denies it, the deadline passing lets it through by itself,
 * and recovering withdraws it. Programs are written as YAML, so the policy
 * text a user writes is what is tested.
 *
 * Ladder "main" (type reseller) reads `lvl`, the latest `level` event: a
 * test sets the level it wants with one event. Ladder "recent" (type
 * windowed) reads `deals`, a 30-day sum, so time alone moves it. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_fixture.h"
#include "testutil.h"

#define DAY      ((td_time)TD_SECONDS_PER_DAY)
#define YAML_MAX 4096

static const td_time T0 = 1767225600; /* 2026-01-01 */

/* Both ladders carry `policy` (YAML lines at policy depth, "" for none);
 * a list of tiers names main's, so "recent" then reviews every tier. */
static void write_yaml(char *yaml, size_t cap, const char *policy)
{
    const char *pr = strchr(policy, '[') ? "      review_demotions: true\n" : policy;
    snprintf(yaml, cap,
             "program: rv\n"
             "version: \"v1\"\n"
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
             "  recent:\n"
             "    partner_types: [windowed]\n"
             "%s%s"
             "    tiers:\n"
             "      - { name: R1, when: deals >= 1 }\n"
             "      - { name: R2, when: deals >= 2 }\n",
             *policy ? "    policy:\n" : "", policy, *pr ? "    policy:\n" : "", pr);
}

static program *make_program(const char *policy)
{
    char yaml[YAML_MAX];
    write_yaml(yaml, sizeof yaml, policy);
    return fx_parse(yaml);
}

static engine *make_engine(const char *policy)
{
    return fx_engine(make_program(policy), T0);
}

/* A partner holding T3 on main that falls to T2 at T0 + DAY. */
static td_partner *fallen(engine *e, fx_log *log)
{
    td_partner *p = fx_partner(e, "p", "reseller", T0, NULL);
    fx_event_at(e, "p", "level", 3, T0, NULL);
    ck_assert_str_eq(fx_held(e, p, "main"), "T3");
    fx_event_at(e, "p", "level", 2, T0 + DAY, log);
    return p;
}

/* ---- the policy keys ---- */

START_TEST(test_review_demotions_true_puts_every_tier_under_review_with_a_14_day_default)
{
    program *p = make_program("      review_demotions: true\n");
    ck_assert_uint_eq(p->ladders[0].policy.review_mask, 7);
    ck_assert_int_eq(p->ladders[0].policy.review_deadline, 14 * DAY);
    program_free(p);
    p = make_program("      review_demotions: [T3, T1]\n      review_deadline: 3d\n");
    ck_assert_uint_eq(p->ladders[0].policy.review_mask, 5);
    ck_assert_int_eq(p->ladders[0].policy.review_deadline, 3 * DAY);
    program_free(p);
    p = make_program("      review_demotions: false\n");
    ck_assert_uint_eq(p->ladders[0].policy.review_mask, 0);
    program_free(p);
    p = make_program("      grace: 0\n");
    ck_assert_uint_eq(p->ladders[0].policy.review_mask, 0);
    program_free(p);
}
END_TEST

static void refused(const char *policy, const char *want)
{
    char yaml[YAML_MAX];
    write_yaml(yaml, sizeof yaml, policy);
    program *p = NULL;
    td_diags diags = {0};
    td_error err = {0};
    ck_assert_int_eq(program_parse(yaml, strlen(yaml), "rv.yaml", &p, &diags, &err),
                     -TD_INVALID_ARGUMENT);
    ck_assert_ptr_null(p);
    bool found = false;
    for (size_t i = 0; i < diags.n; i++)
        found = found || strcmp(diags.items[i], want) == 0;
    ck_assert_msg(found, "wanted \"%s\", got \"%s\"", want, diags.n ? diags.items[0] : "nothing");
    td_diags_free(&diags);
}

START_TEST(test_bad_review_keys_are_refused_with_file_line_and_column)
{
    /* Both ladders carry the policy; the first diagnostic names main. */
    refused("      review_demotions: [T3, Gold]\n",
            "rv.yaml:10:30: review_demotions names tier 'Gold', which ladder 'main' does not "
            "have");
    refused("      review_demotions: yes\n",
            "rv.yaml:10:25: review_demotions of ladder 'main' must be true, false or a list of "
            "tiers, not 'yes'");
    refused("      review_demotions: true\n      review_deadline: 0\n",
            "rv.yaml:11:24: review_deadline of ladder 'main' must be a positive duration (a "
            "demotion under review goes through when it passes)");
    refused("      review_deadline: 7d\n",
            "rv.yaml:10:24: review_deadline of ladder 'main' needs review_demotions (true or a "
            "list of tiers)");
    refused("      review_demotions: true\n      review_deadline: soon\n",
            "rv.yaml:11:24: review_deadline: bad duration 'soon': expected a positive whole "
            "number followed by s, m, h, d or w (e.g. 90d)");
}
END_TEST

/* ---- the queue ---- */

START_TEST(test_a_demotion_under_review_waits_in_the_queue_with_its_deadline)
{
    engine *e = make_engine("      review_demotions: true\n      review_deadline: 10d\n");
    fx_log log = {0};
    uint64_t g = engine_pending_generation(e);
    td_partner *p = fallen(e, &log);
    ck_assert_uint_eq(log.n, 0);
    ck_assert_str_eq(fx_held(e, p, "main"), "T3");
    ck_assert_uint_ne(engine_pending_generation(e), g);
    ck_assert_uint_eq(engine_pending_count(e), 1);
    td_pending pd[4];
    ck_assert_uint_eq(fx_pending(e, pd, 4), 1);
    ck_assert_str_eq(pd[0].partner, "p");
    ck_assert_str_eq(pd[0].ladder, "main");
    ck_assert_str_eq(pd[0].from, "T3");
    ck_assert_str_eq(pd[0].to, "T2");
    ck_assert(pd[0].demotion);
    ck_assert_int_eq(pd[0].since, T0 + DAY);
    ck_assert_int_eq(pd[0].deadline, T0 + 11 * DAY);
    td_tier_view v = fx_view(e, p, "main");
    ck_assert_str_eq(v.pending, "T2");
    ck_assert(v.pending_demotion);
    ck_assert_int_eq(v.pending_deadline, T0 + 11 * DAY);
    /* The timer queue hears of the deadline. */
    ck_assert_int_eq(engine_partner_next_due(e, p, T0 + DAY), T0 + 11 * DAY);
    /* Explain and the program impact date the demotion at the deadline. */
    td_explanation x;
    td_error err;
    ck_assert_int_eq(engine_explain(e, p, 0, T0 + 2 * DAY, T0 + 2 * DAY, &x, &err), 0);
    ck_assert_int_eq(x.at_risk_date, T0 + 11 * DAY);
    ck_assert_str_eq(x.at_risk_tier, "T2");
    engine_explanation_free(&x);
    td_impact im;
    program *same = make_program("      review_demotions: true\n      review_deadline: 10d\n");
    ck_assert_int_eq(engine_program_impact(e, same, T0 + 2 * DAY, &im), 0);
    ck_assert_uint_eq(im.demoted, 0);
    ck_assert_uint_eq(im.queued, 0);
    ck_assert_uint_eq(im.demoted_later, 1);
    ck_assert_int_eq(im.first_demotion, T0 + 11 * DAY);
    program_free(same);
    engine_free(e);
}
END_TEST

START_TEST(test_approving_a_demotion_demotes_now_and_records_who_decided)
{
    engine *e = make_engine("      review_demotions: true\n");
    fx_log log = {0};
    td_partner *p = fallen(e, &log);
    td_error err;
    ck_assert_int_eq(engine_approve(e, p, "main", "alice", "talked to them", T0 + 3 * DAY,
                                    fx_record, &log, &err),
                     0);
    ck_assert_uint_eq(log.n, 1);
    fx_check_change(&log.c[0], "T3", "T2", TD_CAUSE_APPROVAL, T0 + 3 * DAY);
    ck_assert_str_eq(log.c[0].actor, "alice");
    ck_assert_str_eq(log.c[0].reason, "talked to them");
    ck_assert_str_eq(fx_held(e, p, "main"), "T2");
    ck_assert_int_eq(fx_view(e, p, "main").since, T0 + 3 * DAY);
    ck_assert_uint_eq(engine_pending_count(e), 0);
    ck_assert_int_eq(engine_partner_next_due(e, p, T0 + 3 * DAY), TD_TIME_NONE);
    /* Nothing waits any more. */
    ck_assert_int_eq(
        engine_approve(e, p, "main", "alice", NULL, T0 + 3 * DAY, fx_record, &log, &err),
        -TD_FAILED_PRECONDITION);
    engine_free(e);
}
END_TEST

START_TEST(test_denying_a_demotion_keeps_the_tier_until_the_partner_recovers_and_falls_anew)
{
    engine *e = make_engine("      review_demotions: true\n");
    fx_log log = {0};
    td_partner *p = fallen(e, &log);
    td_error err;
    ck_assert_int_eq(
        engine_deny(e, p, "main", "bob", "big deal closing", T0 + 2 * DAY, fx_record, &log, &err),
        0);
    ck_assert_uint_eq(log.n, 1);
    fx_check_change(&log.c[0], "T3", "T3", TD_CAUSE_DENIAL, T0 + 2 * DAY);
    ck_assert_str_eq(log.c[0].actor, "bob");
    ck_assert_str_eq(log.c[0].reason, "big deal closing");
    ck_assert_str_eq(log.c[0].promotion, "T2");
    ck_assert(log.c[0].demotion);
    ck_assert_str_eq(fx_held(e, p, "main"), "T3");
    ck_assert_uint_eq(engine_pending_count(e), 0);
    /* The denial holds while the partner stays below: nothing is due,
     * nothing is queued, even far past the deadline. */
    ck_assert_int_eq(engine_partner_next_due(e, p, T0 + 2 * DAY), TD_TIME_NONE);
    fx_event_at(e, "p", "level", 1, T0 + 3 * DAY, &log);
    engine_evaluate(e, p, T0 + 100 * DAY, fx_record, &log);
    ck_assert_uint_eq(log.n, 1);
    ck_assert_str_eq(fx_held(e, p, "main"), "T3");
    ck_assert_uint_eq(engine_pending_count(e), 0);
    /* Recovering ends it; falling anew queues the demotion again. */
    fx_event_at(e, "p", "level", 3, T0 + 101 * DAY, &log);
    fx_event_at(e, "p", "level", 2, T0 + 102 * DAY, &log);
    ck_assert_uint_eq(log.n, 1);
    ck_assert_uint_eq(engine_pending_count(e), 1);
    ck_assert_int_eq(fx_view(e, p, "main").pending_since, T0 + 102 * DAY);
    engine_free(e);
}
END_TEST

START_TEST(test_with_no_decision_the_demotion_goes_through_at_its_deadline)
{
    engine *e = make_engine("      review_demotions: true\n");
    fx_log log = {0};
    td_partner *p = fallen(e, &log);
    td_time deadline = T0 + DAY + 14 * DAY;
    ck_assert_int_eq(engine_partner_next_due(e, p, T0 + DAY), deadline);
    engine_evaluate(e, p, deadline - 1, fx_record, &log);
    ck_assert_uint_eq(log.n, 0);
    ck_assert_str_eq(fx_held(e, p, "main"), "T3");
    engine_evaluate(e, NULL, deadline, fx_record, &log);
    ck_assert_uint_eq(log.n, 1);
    fx_check_change(&log.c[0], "T3", "T2", TD_CAUSE_DEMOTION, deadline);
    ck_assert_str_eq(log.c[0].actor, TD_ACTOR_SYSTEM);
    ck_assert_str_eq(log.c[0].reason, "review deadline passed");
    ck_assert_str_eq(fx_held(e, p, "main"), "T2");
    ck_assert_uint_eq(engine_pending_count(e), 0);
    ck_assert_int_eq(engine_partner_next_due(e, p, deadline), TD_TIME_NONE);
    engine_free(e);
}
END_TEST

START_TEST(test_recovering_before_a_decision_withdraws_the_pending_demotion)
{
    engine *e = make_engine("      review_demotions: true\n");
    fx_log log = {0};
    td_partner *p = fallen(e, &log);
    fx_event_at(e, "p", "level", 3, T0 + 2 * DAY, &log);
    ck_assert_uint_eq(log.n, 1);
    fx_check_change(&log.c[0], "T3", "T3", TD_CAUSE_WITHDRAWN, T0 + 2 * DAY);
    ck_assert_str_eq(log.c[0].actor, TD_ACTOR_SYSTEM);
    ck_assert_str_eq(log.c[0].reason, "no longer below its tier");
    ck_assert_str_eq(log.c[0].promotion, "T2");
    ck_assert(log.c[0].demotion);
    ck_assert_uint_eq(engine_pending_count(e), 0);
    ck_assert_int_eq(engine_partner_next_due(e, p, T0 + 2 * DAY), TD_TIME_NONE);
    engine_free(e);
}
END_TEST

START_TEST(test_only_the_listed_tiers_are_under_review)
{
    engine *e = make_engine("      review_demotions: [T3]\n");
    fx_log log = {0};
    td_partner *p = fallen(e, &log);
    ck_assert_uint_eq(log.n, 0);
    ck_assert_uint_eq(engine_pending_count(e), 1);
    td_error err;
    ck_assert_int_eq(
        engine_approve(e, p, "main", "alice", NULL, T0 + 2 * DAY, fx_record, &log, &err), 0);
    ck_assert_str_eq(fx_held(e, p, "main"), "T2");
    /* Out of T2, which is not listed, the demotion happens at once. */
    fx_event_at(e, "p", "level", 1, T0 + 3 * DAY, &log);
    ck_assert_uint_eq(log.n, 2);
    fx_check_change(&log.c[1], "T2", "T1", TD_CAUSE_DEMOTION, T0 + 3 * DAY);
    ck_assert_str_eq(log.c[1].actor, "-");
    ck_assert_uint_eq(engine_pending_count(e), 0);
    engine_free(e);
}
END_TEST

START_TEST(test_a_demotion_to_unranked_waits_and_time_alone_queues_it)
{
    engine *e = make_engine("      review_demotions: true\n      review_deadline: 2d\n");
    td_partner *p = fx_partner(e, "w", "windowed", T0, NULL);
    fx_log log = {0};
    fx_event_at(e, "w", "deal", 1, T0, NULL);
    ck_assert_str_eq(fx_view(e, p, "recent").tier, "R1");
    /* The deal leaves its window at T0 + 30d: the drop to unranked is queued then. */
    td_time out = engine_partner_next_due(e, p, T0);
    ck_assert_int_eq(out, T0 + 30 * DAY);
    engine_evaluate(e, p, out, fx_record, &log);
    ck_assert_uint_eq(log.n, 0);
    td_pending pd[2];
    ck_assert_uint_eq(fx_pending(e, pd, 2), 1);
    ck_assert(pd[0].demotion);
    ck_assert_str_eq(pd[0].from, "R1");
    ck_assert_ptr_null(pd[0].to);
    ck_assert_int_eq(pd[0].deadline, out + 2 * DAY);
    ck_assert_int_eq(engine_partner_next_due(e, p, out), out + 2 * DAY);
    engine_evaluate(e, p, out + 2 * DAY, fx_record, &log);
    ck_assert_uint_eq(log.n, 1);
    fx_check_change(&log.c[0], "R1", "-", TD_CAUSE_DEMOTION, out + 2 * DAY);
    engine_free(e);
}
END_TEST

START_TEST(test_approval_is_refused_once_the_partner_is_back_up)
{
    engine *e = make_engine("      review_demotions: true\n");
    td_partner *p = fx_partner(e, "w", "windowed", T0, NULL);
    fx_log log = {0};
    fx_event_at(e, "w", "deal", 2, T0, NULL);
    fx_event_at(e, "w", "deal", 1, T0 + 20 * DAY, NULL);
    /* The first deals leave the window: below R2, queued. */
    engine_evaluate(e, p, T0 + 30 * DAY, fx_record, &log);
    ck_assert_uint_eq(engine_pending_count(e), 1);
    fx_event_at(e, "w", "deal", 1, T0 + 31 * DAY, &log); /* back to 2 deals: withdrawn */
    ck_assert_uint_eq(log.n, 1);
    ck_assert_int_eq(log.c[0].cause, TD_CAUSE_WITHDRAWN);
    td_error err;
    ck_assert_int_eq(
        engine_approve(e, p, "recent", "alice", NULL, T0 + 31 * DAY, fx_record, &log, &err),
        -TD_FAILED_PRECONDITION);
    ck_assert_str_eq(fx_view(e, p, "recent").tier, "R2");
    engine_free(e);
}
END_TEST

START_TEST(test_overrides_keep_pinning_while_a_demotion_waits_underneath)
{
    engine *e = make_engine("      review_demotions: true\n");
    fx_log log = {0};
    td_partner *p = fallen(e, &log);
    td_error err;
    ck_assert_int_eq(engine_override_set(e, p, "main", "T3", T0 + 50 * DAY, "carol", "hold",
                                         T0 + 2 * DAY, fx_record, &log, &err),
                     0);
    /* The deadline passes under the pin: the tier seen stays pinned. */
    engine_evaluate(e, p, T0 + 15 * DAY, fx_record, &log);
    ck_assert_str_eq(fx_held(e, p, "main"), "T3");
    ck_assert_str_eq(fx_view(e, p, "main").lifecycle_tier, "T2");
    engine_evaluate(e, p, T0 + 50 * DAY, fx_record, &log);
    ck_assert_str_eq(fx_held(e, p, "main"), "T2");
    fx_check_change(&log.c[log.n - 1], "T3", "T2", TD_CAUSE_OVERRIDE_EXPIRED, T0 + 50 * DAY);
    engine_free(e);
}
END_TEST

/* ---- the codec keeps it ---- */

static void roundtrip(engine *e, td_partner *p, const char *policy)
{
    uint8_t *buf;
    size_t len;
    ck_assert_int_eq(engine_partner_encode(e, p, &buf, &len), 0);
    ck_assert_uint_eq(buf[3], 4);
    engine *f = make_engine(policy);
    td_error err;
    ck_assert_msg(engine_partner_restore(f, buf, len, &err) == 0, "%s", err.message);
    td_partner *q = engine_partner_find(f, "p");
    td_tier_view a = fx_view(e, p, "main"), b = fx_view(f, q, "main");
    ck_assert_int_eq(a.pending_demotion, b.pending_demotion);
    ck_assert_int_eq(a.pending_since, b.pending_since);
    ck_assert_int_eq(a.pending_deadline, b.pending_deadline);
    ck_assert_int_eq(engine_partner_next_due(e, p, T0 + 2 * DAY),
                     engine_partner_next_due(f, q, T0 + 2 * DAY));
    uint8_t *again;
    size_t n;
    ck_assert_int_eq(engine_partner_encode(f, q, &again, &n), 0);
    ck_assert_uint_eq(n, len);
    ck_assert(memcmp(buf, again, n) == 0);
    free(again);
    free(buf);
    engine_free(f);
}

START_TEST(test_pending_and_denied_demotions_survive_the_codec)
{
    const char *policy = "      review_demotions: true\n";
    engine *e = make_engine(policy);
    td_partner *p = fallen(e, NULL);
    roundtrip(e, p, policy);
    td_error err;
    ck_assert_int_eq(engine_deny(e, p, "main", "bob", NULL, T0 + 2 * DAY, NULL, NULL, &err), 0);
    roundtrip(e, p, policy);
    /* The restored denial still holds. */
    uint8_t *buf;
    size_t len;
    ck_assert_int_eq(engine_partner_encode(e, p, &buf, &len), 0);
    engine *f = make_engine(policy);
    ck_assert_int_eq(engine_partner_restore(f, buf, len, &err), 0);
    td_partner *q = engine_partner_find(f, "p");
    fx_log log = {0};
    engine_evaluate(f, q, T0 + 100 * DAY, fx_record, &log);
    ck_assert_uint_eq(log.n, 0);
    ck_assert_str_eq(fx_held(f, q, "main"), "T3");
    free(buf);
    engine_free(f);
    engine_free(e);
}
END_TEST

START_TEST(test_version_2_records_still_decode_with_nothing_under_review)
{
    engine *e = make_engine("");
    td_partner *p = fx_partner(e, "p", "reseller", T0, NULL);
    fx_event_at(e, "p", "level", 2, T0, NULL);
    uint8_t *buf;
    size_t len;
    ck_assert_int_eq(engine_partner_encode(e, p, &buf, &len), 0);
    /* Version 2 is version 4 without the attribute count (after the
     * header, id "p", no name and type "reseller") and without the
     * trailing flag and denied tier of each tier entry: one entry here, so
     * the last 5 bytes. */
    ck_assert_uint_eq(buf[3], 4);
    size_t at = 4 + (4 + 1) + 4 + 4 + (4 + 8);
    ck_assert(buf[at] == 0 && buf[at + 1] == 0 && buf[at + 2] == 0 && buf[at + 3] == 0);
    memmove(buf + at, buf + at + 4, len - at - 4);
    len -= 4;
    buf[3] = 2;
    engine *f = make_engine("      review_demotions: true\n");
    td_error err;
    ck_assert_msg(engine_partner_restore(f, buf, len - 5, &err) == 0, "%s", err.message);
    td_partner *q = engine_partner_find(f, "p");
    ck_assert_str_eq(fx_held(f, q, "main"), "T2");
    ck_assert(!fx_view(f, q, "main").pending_demotion);
    /* And version 3 refuses the same short record. */
    buf[3] = 3;
    ck_assert_int_eq(engine_partner_restore(f, buf, len - 5, &err), -TD_DATA_LOSS);
    free(buf);
    engine_free(f);
    engine_free(e);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("review");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc,
                   test_review_demotions_true_puts_every_tier_under_review_with_a_14_day_default);
    tcase_add_test(tc, test_bad_review_keys_are_refused_with_file_line_and_column);
    tcase_add_test(tc, test_a_demotion_under_review_waits_in_the_queue_with_its_deadline);
    tcase_add_test(tc, test_approving_a_demotion_demotes_now_and_records_who_decided);
    tcase_add_test(
        tc, test_denying_a_demotion_keeps_the_tier_until_the_partner_recovers_and_falls_anew);
    tcase_add_test(tc, test_with_no_decision_the_demotion_goes_through_at_its_deadline);
    tcase_add_test(tc, test_recovering_before_a_decision_withdraws_the_pending_demotion);
    tcase_add_test(tc, test_only_the_listed_tiers_are_under_review);
    tcase_add_test(tc, test_a_demotion_to_unranked_waits_and_time_alone_queues_it);
    tcase_add_test(tc, test_approval_is_refused_once_the_partner_is_back_up);
    tcase_add_test(tc, test_overrides_keep_pinning_while_a_demotion_waits_underneath);
    tcase_add_test(tc, test_pending_and_denied_demotions_survive_the_codec);
    tcase_add_test(tc, test_version_2_records_still_decode_with_nothing_under_review);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(suite());
}
