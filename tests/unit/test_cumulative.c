/* Cumulative ladders: a tier qualifies only with every lower tier's `when`
 * (the default), `cumulative: false` keeps the highest tier whose `when`
 * holds; explanations keep inherited criteria under their own tier, gaps
 * to the next tier name the lower tiers they come from, a move down lists
 * what the tier left inherited, and at-risk dates follow the rule. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_fixture.h"
#include "testutil.h"

#define T0  ((td_time)1767225600) /* 2026-01-01 */
#define DAY ((td_time)TD_SECONDS_PER_DAY)

/* One ladder: T1 needs a contract, T2..T4 need more and more deals; the
 * contract counts only for 30 days, so it can lapse under a held tier. */
static engine *make_engine(const char *cumulative_line, const char *policy)
{
    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             "program: c\nversion: \"1\"\n"
             "metrics:\n"
             "  contract: { agg: count, window: 30d }\n"
             "  deals: { agg: sum }\n"
             "ladders:\n"
             "  main:\n"
             "    partner_types: [reseller]\n"
             "%s"
             "    policy: { %s }\n"
             "    tiers:\n"
             "      - { name: T1, when: contract >= 1 }\n"
             "      - { name: T2, when: deals >= 2 }\n"
             "      - { name: T3, when: deals >= 5 }\n"
             "      - { name: T4, when: deals >= 10 }\n",
             cumulative_line, policy);
    engine *e = fx_engine(fx_parse(yaml), T0);
    fx_partner(e, "p", "reseller", T0, NULL);
    return e;
}

/* The tier partner p holds on main once evaluated at now. */
static const char *held(engine *e, td_time now)
{
    td_partner *p = fx_find(e, "p");
    engine_evaluate(e, p, now, NULL, NULL);
    const char *t = fx_view(e, p, "main").tier;
    return t ? t : "unranked";
}

START_TEST(test_a_partner_climbs_only_through_every_lower_tier)
{
    /* Deals but no contract: the old rule put it on T3 without T1. */
    engine *cum = make_engine("", "grace: 0");
    engine *old = make_engine("    cumulative: false\n", "grace: 0");
    fx_event_at(cum, "p", "deals", 6, T0, NULL);
    fx_event_at(old, "p", "deals", 6, T0, NULL);
    ck_assert_str_eq(held(cum, T0), "unranked");
    ck_assert_str_eq(held(old, T0), "T3");
    /* With the contract it climbs to the same tier either way. */
    fx_event_at(cum, "p", "contract", 1, T0 + 1, NULL);
    fx_event_at(old, "p", "contract", 1, T0 + 1, NULL);
    ck_assert_str_eq(held(cum, T0 + 1), "T3");
    ck_assert_str_eq(held(old, T0 + 1), "T3");
    ck_assert(engine_program(cum)->ladders[0].cumulative);
    ck_assert(!engine_program(old)->ladders[0].cumulative);
    engine_free(cum);
    engine_free(old);
}
END_TEST

START_TEST(test_explain_keeps_inherited_criteria_under_their_own_tier)
{
    engine *e = make_engine("", "grace: 0");
    fx_event_at(e, "p", "deals", 6, T0, NULL);
    td_explanation x;
    fx_explain(e, "p", 0, T0, &x);
    ck_assert(x.cumulative);
    ck_assert_ptr_null(x.tier);
    ck_assert_ptr_null(x.qualifying);
    ck_assert(!x.tiers[0].holds);
    ck_assert(!x.tiers[0].qualifies);
    ck_assert_ptr_null(x.tiers[0].blocked_by);
    /* T3's own `when` holds, but it inherits T1's, which does not. */
    ck_assert(x.tiers[2].holds);
    ck_assert(!x.tiers[2].qualifies);
    ck_assert_str_eq(x.tiers[2].blocked_by, "T1");
    ck_assert_uint_eq(x.tiers[2].n_criteria, 1);
    ck_assert_str_eq(x.tiers[2].criteria[0].metric, "deals");
    ck_assert_str_eq(x.tiers[2].criteria[0].tier, "T3");
    ck_assert_str_eq(x.tiers[0].criteria[0].tier, "T1");
    ck_assert_str_eq(x.next_tier, "T1");
    ck_assert_uint_eq(x.n_gaps, 1);
    ck_assert_str_eq(x.gaps[0].metric, "contract");
    engine_explanation_free(&x);
    engine_free(e);
}
END_TEST

START_TEST(test_gaps_to_the_next_tier_include_inherited_criteria_that_fail)
{
    /* T3 held; the contract leaves its window on day 30, grace keeps T3. */
    engine *e = make_engine("", "grace: 90d");
    fx_event_at(e, "p", "contract", 1, T0, NULL);
    fx_event_at(e, "p", "deals", 6, T0, NULL);
    ck_assert_str_eq(held(e, T0), "T3");
    ck_assert_str_eq(held(e, T0 + 31 * DAY), "T3");
    td_explanation x;
    fx_explain(e, "p", 0, T0 + 31 * DAY, &x);
    ck_assert_ptr_null(x.qualifying);
    ck_assert_str_eq(x.next_tier, "T4");
    ck_assert_uint_eq(x.n_gaps, 2);
    ck_assert_str_eq(x.gaps[0].metric, "contract");
    ck_assert_str_eq(x.gaps[0].tier, "T1");
    ck_assert_str_eq(x.gaps[1].metric, "deals");
    ck_assert_str_eq(x.gaps[1].tier, "T4");
    ck_assert_double_eq(x.gaps[1].missing, 4);
    engine_explanation_free(&x);
    /* The old rule sees no lapse: T3's own `when` still holds. */
    engine *old = make_engine("    cumulative: false\n", "grace: 90d");
    fx_event_at(old, "p", "contract", 1, T0, NULL);
    fx_event_at(old, "p", "deals", 6, T0, NULL);
    fx_explain(old, "p", 0, T0 + 31 * DAY, &x);
    ck_assert_str_eq(x.qualifying, "T3");
    ck_assert_uint_eq(x.n_gaps, 1);
    ck_assert_str_eq(x.gaps[0].tier, "T4");
    engine_explanation_free(&x);
    engine_free(old);
    engine_free(e);
}
END_TEST

START_TEST(test_an_inherited_lapse_dates_the_demotion_and_says_why)
{
    /* The contract (T1's) lapses on day 30; grace 10d; one tier per drop. */
    engine *e = make_engine("", "grace: 10d");
    fx_event_at(e, "p", "contract", 1, T0, NULL);
    fx_event_at(e, "p", "deals", 6, T0, NULL);
    td_partner *p = engine_partner_find(e, "p");
    td_at_risk r;
    ck_assert_int_eq(engine_partner_at_risk(e, p, 0, T0, &r), 0);
    ck_assert_int_eq(r.lapses_at, T0 + 30 * DAY);
    ck_assert_int_eq(r.demotion_at, T0 + 40 * DAY);
    ck_assert_str_eq(r.demotion_tier, "T2");
    /* The lifecycle does it on that date, not before. */
    ck_assert_str_eq(held(e, T0 + 30 * DAY), "T3");
    ck_assert_int_eq(engine_partner_next_due(e, p, T0 + 30 * DAY), T0 + 40 * DAY);
    ck_assert_str_eq(held(e, T0 + 40 * DAY - 1), "T3");
    ck_assert_str_eq(held(e, T0 + 40 * DAY), "T2");
    /* Still below T2 after the drop: T2's grace starts at the drop. */
    ck_assert_int_eq(engine_partner_at_risk(e, p, 0, T0 + 40 * DAY, &r), 0);
    ck_assert_int_eq(r.lapses_at, T0 + 40 * DAY);
    /* A ladder it is not on. */
    ck_assert_int_eq(engine_partner_at_risk(e, p, 3, T0, &r), -TD_NOT_FOUND);
    engine_free(e);
}
END_TEST

static char lost_text[512];

static void keep_lost(void *ud, const td_change *c)
{
    (void)ud;
    size_t used = 0;
    lost_text[0] = 0;
    for (size_t i = 0; i < c->n_lost && used < sizeof lost_text; i++)
        used += (size_t)snprintf(lost_text + used, sizeof lost_text - used, "%s%s:%s %s",
                                 i ? "; " : "", c->lost[i].tier ? c->lost[i].tier : "gate",
                                 c->lost[i].metric, c->lost[i].met ? "met" : "unmet");
}

START_TEST(test_a_move_down_lists_what_the_tier_left_inherited)
{
    engine *e = make_engine("", "grace: 0");
    fx_event_at(e, "p", "contract", 1, T0, NULL);
    fx_event_at(e, "p", "deals", 6, T0, NULL);
    td_partner *p = engine_partner_find(e, "p");
    engine_evaluate(e, p, T0 + 30 * DAY, keep_lost, NULL);
    ck_assert_str_eq(lost_text, "T1:contract unmet; T2:deals met; T3:deals met");
    engine_free(e);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cumulative");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_a_partner_climbs_only_through_every_lower_tier);
    tcase_add_test(tc, test_explain_keeps_inherited_criteria_under_their_own_tier);
    tcase_add_test(tc, test_gaps_to_the_next_tier_include_inherited_criteria_that_fail);
    tcase_add_test(tc, test_an_inherited_lapse_dates_the_demotion_and_says_why);
    tcase_add_test(tc, test_a_move_down_lists_what_the_tier_left_inherited);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
