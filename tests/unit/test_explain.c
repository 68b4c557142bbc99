/* Explanations: every tier's criteria, gaps to the next tier (including the
 * `or` branch chosen and `not` pushed into comparisons), at-risk dates and
 * explanations at other instants. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "engine_fixture.h"
#include "testutil.h"

#define T0 ((td_time)1767225600) /* 2026-01-01 */

static engine *reseller_engine(void)
{
    engine *e = fx_engine(fx_partners_program("v1", 50000), T0);
    fx_partner(e, "p1", "reseller", T0, NULL);
    fx_event(e, "p1", "contract_signed", 1, T0, T0);
    fx_event_key(e, "p1", "certification", 1, T0, "sales-101", T0, NULL);
    fx_event(e, "p1", "active_sellers", 1, T0, T0);
    return e;
}

START_TEST(test_explain_lists_every_tier_and_the_gaps_to_the_next)
{
    engine *e = reseller_engine();
    fx_event(e, "p1", "deal_closed", 20000, T0 + 5, T0 + 5);
    td_explanation x;
    fx_explain(e, "p1", 0, T0 + 10, &x);
    ck_assert_str_eq(x.partner, "p1");
    ck_assert_str_eq(x.ladder, "reseller");
    ck_assert_str_eq(x.tier, "Registered");
    ck_assert_str_eq(x.qualifying, "Registered");
    ck_assert_str_eq(x.program_version, "v1");
    ck_assert(x.gate_holds);
    ck_assert_uint_eq(x.n_gate, 1);
    ck_assert_uint_eq(x.n_tiers, 4);
    ck_assert(x.tiers[0].holds);
    ck_assert(!x.tiers[1].holds);
    ck_assert_uint_eq(x.tiers[3].n_criteria, 2);
    ck_assert_str_eq(x.tiers[3].criteria[1].metric, "fit");
    /* fit = 60 * 20000/250000 + 40 * 1/4 = 4.8 + 10 */
    ck_assert_double_eq_tol(x.tiers[3].criteria[1].value, 14.8, 1e-9);
    ck_assert_str_eq(x.next_tier, "Selling");
    ck_assert_uint_eq(x.n_gaps, 2);
    ck_assert_str_eq(x.gaps[0].metric, "arr");
    ck_assert_double_eq(x.gaps[0].missing, 30000);
    ck_assert_str_eq(x.gaps[1].metric, "active_sellers");
    ck_assert_double_eq(x.gaps[1].missing, 2);
    engine_explanation_free(&x);
    engine_free(e);
}
END_TEST

/* One ladder over metrics a and b (both sums), with `top` as its second
 * tier's condition. */
static engine *ab_engine(expr *top)
{
    program *p = fx_program("ab");
    int a = fx_metric(p, "a", AGG_SUM, NULL, WIN_LIFETIME, 0);
    int b = fx_metric(p, "b", AGG_SUM, NULL, WIN_LIFETIME, 0);
    fx_metric(p, "c", AGG_AVG, NULL, WIN_LIFETIME, 0);
    ladder_def *l = fx_ladder(p, "main", "t", NULL);
    fx_tier(p, l, "Base", fx_cmp(a, CMP_GE, 1));
    fx_tier(p, l, "Top", top);
    (void)b;
    engine *e = fx_engine(p, T0);
    fx_partner(e, "p1", "t", T0, NULL);
    return e;
}

START_TEST(test_gaps_come_from_the_or_branch_closest_to_being_met)
{
    /* (a >= 100 and b >= 100) or a >= 1000 */
    engine *e = ab_engine(
        fx_or(fx_and(fx_cmp(0, CMP_GE, 100), fx_cmp(1, CMP_GE, 100)), fx_cmp(0, CMP_GE, 1000)));
    fx_event(e, "p1", "a", 90, T0, T0);
    td_explanation x;
    fx_explain(e, "p1", 0, T0, &x);
    /* branch 1: 10/100 + 100/100 = 1.1; branch 2: 910/1000 = 0.91 */
    ck_assert_uint_eq(x.n_gaps, 1);
    ck_assert_str_eq(x.gaps[0].metric, "a");
    ck_assert_double_eq(x.gaps[0].threshold, 1000);
    ck_assert_double_eq(x.gaps[0].missing, 910);
    engine_explanation_free(&x);

    fx_event(e, "p1", "b", 95, T0, T0);
    fx_explain(e, "p1", 0, T0, &x);
    /* branch 1 is now 0.1 + 0.05 away */
    ck_assert_uint_eq(x.n_gaps, 2);
    ck_assert_str_eq(x.gaps[0].metric, "a");
    ck_assert_double_eq(x.gaps[0].missing, 10);
    ck_assert_str_eq(x.gaps[1].metric, "b");
    ck_assert_double_eq(x.gaps[1].missing, 5);
    engine_explanation_free(&x);
    engine_free(e);
}
END_TEST

START_TEST(test_not_is_pushed_into_the_comparisons_before_gaps)
{
    /* not (a < 100 or b > 5)  ==  a >= 100 and b <= 5 */
    engine *e = ab_engine(fx_not(fx_or(fx_cmp(0, CMP_LT, 100), fx_cmp(1, CMP_GT, 5))));
    fx_event(e, "p1", "a", 40, T0, T0);
    fx_event(e, "p1", "b", 8, T0, T0);
    td_explanation x;
    fx_explain(e, "p1", 0, T0, &x);
    ck_assert_str_eq(x.tier, "Base");
    ck_assert_uint_eq(x.n_gaps, 2);
    ck_assert_str_eq(x.gaps[0].metric, "a");
    ck_assert_int_eq(x.gaps[0].op, CMP_GE);
    ck_assert_double_eq(x.gaps[0].missing, 60);
    ck_assert_str_eq(x.gaps[1].metric, "b");
    ck_assert_int_eq(x.gaps[1].op, CMP_LE);
    ck_assert_double_eq(x.gaps[1].missing, 3);
    engine_explanation_free(&x);
    engine_free(e);
}
END_TEST

START_TEST(test_a_metric_with_no_value_has_no_distance_yet)
{
    engine *e = ab_engine(fx_cmp(2, CMP_GE, 0.8));
    fx_event(e, "p1", "a", 1, T0, T0);
    td_explanation x;
    fx_explain(e, "p1", 0, T0, &x);
    ck_assert_uint_eq(x.n_gaps, 1);
    ck_assert_str_eq(x.gaps[0].metric, "c");
    ck_assert(isnan(x.gaps[0].value));
    /* "0.8 to go" would claim a distance nobody can know yet. */
    ck_assert(isnan(x.gaps[0].missing));
    ck_assert(!x.tiers[1].criteria[0].met);
    engine_explanation_free(&x);
    engine_free(e);
}
END_TEST

START_TEST(test_at_risk_is_when_deals_leave_the_window)
{
    engine *e = reseller_engine();
    fx_event(e, "p1", "active_sellers", 3, T0, T0);
    fx_event(e, "p1", "deal_closed", 30000, T0 + 100, T0 + 100);
    fx_event(e, "p1", "deal_closed", 30000, T0 + 50 * FX_DAY, T0 + 50 * FX_DAY);
    ck_assert_str_eq(fx_tier_of(e, "p1", "reseller"), "Selling");
    td_explanation x;
    fx_explain(e, "p1", 0, T0 + 60 * FX_DAY, &x);
    ck_assert_int_eq(x.at_risk_date, T0 + 100 + 365 * FX_DAY);
    ck_assert_str_eq(x.at_risk_tier, "Registered");
    engine_explanation_free(&x);

    /* At the top with nothing windowed, nothing is at risk. */
    engine *f = ab_engine(fx_cmp(0, CMP_GE, 5));
    fx_event(f, "p1", "a", 9, T0, T0);
    fx_explain(f, "p1", 0, T0, &x);
    ck_assert_str_eq(x.tier, "Top");
    ck_assert_ptr_null(x.next_tier);
    ck_assert_uint_eq(x.n_gaps, 0);
    ck_assert_int_eq(x.at_risk_date, TD_TIME_NONE);
    engine_explanation_free(&x);
    engine_free(f);
    engine_free(e);
}
END_TEST

START_TEST(test_explain_at_an_earlier_instant_uses_the_values_then)
{
    engine *e = reseller_engine();
    fx_event(e, "p1", "active_sellers", 3, T0, T0);
    fx_event(e, "p1", "deal_closed", 60000, T0 + 100, T0 + 100);
    td_explanation x;
    fx_explain(e, "p1", 0, T0 + 50, &x);
    ck_assert_int_eq(x.at, T0 + 50);
    ck_assert_str_eq(x.tier, "Selling"); /* current standing */
    ck_assert_str_eq(x.qualifying, "Registered");
    ck_assert_double_eq(x.tiers[1].criteria[0].value, 0);
    engine_explanation_free(&x);
    engine_free(e);
}
END_TEST

START_TEST(test_explain_refuses_without_program_or_ladder)
{
    engine *e = engine_new();
    td_error err;
    td_explanation x;
    ck_assert_int_eq(engine_explain(e, NULL, 0, T0, T0, &x, &err), -TD_FAILED_PRECONDITION);
    engine_free(e);
    e = reseller_engine();
    ck_assert_int_eq(engine_explain(e, engine_partner_find(e, "p1"), 1, T0, T0, &x, &err),
                     -TD_NOT_FOUND);
    ck_assert_int_eq(engine_explain(e, engine_partner_find(e, "p1"), 9, T0, T0, &x, &err),
                     -TD_NOT_FOUND);
    engine_free(e);
}
END_TEST

static Suite *explain_suite(void)
{
    Suite *s = suite_create("explain");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_explain_lists_every_tier_and_the_gaps_to_the_next);
    tcase_add_test(tc, test_gaps_come_from_the_or_branch_closest_to_being_met);
    tcase_add_test(tc, test_not_is_pushed_into_the_comparisons_before_gaps);
    tcase_add_test(tc, test_a_metric_with_no_value_has_no_distance_yet);
    tcase_add_test(tc, test_at_risk_is_when_deals_leave_the_window);
    tcase_add_test(tc, test_explain_at_an_earlier_instant_uses_the_values_then);
    tcase_add_test(tc, test_explain_refuses_without_program_or_ladder);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(explain_suite());
}
