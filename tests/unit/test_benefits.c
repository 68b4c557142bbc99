/* Benefits in the engine: a partner holds the cumulative grants of the
 * tier it holds (override included); every tier change carries the
 * benefits it gained and lost, taken from the version the tier was held
 * in; holders of a benefit page in id order without splitting a partner. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_fixture.h"
#include "testutil.h"

#define T0 ((td_time)1800000000)

static const char v1_yaml[] = "program: p\nversion: v1\n"
                              "metrics:\n  a: { agg: sum }\n"
                              "ladders:\n  reseller:\n    partner_types: [reseller]\n    tiers:\n"
                              "      - { name: T1, when: a >= 1, benefits: [portal, margin=2] }\n"
                              "      - { name: T2, when: a >= 10, benefits: [mdf, margin=5] }\n";
/* v2 drops T2 and mdf altogether. */
static const char v2_yaml[] = "program: p\nversion: v2\n"
                              "metrics:\n  a: { agg: sum }\n"
                              "ladders:\n  reseller:\n    partner_types: [reseller]\n    tiers:\n"
                              "      - { name: T1, when: a >= 1, benefits: [portal, margin=3] }\n";

#define MAX_SEEN 32
typedef struct seen {
    char text[MAX_SEEN][256]; /* "from>to +gained -lost" per change */
    size_t n;
} seen;

static void list(char *buf, size_t cap, const char *sign, const benefit_grant *g, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t used = strlen(buf);
        snprintf(buf + used, cap - used, " %s%s%s%s@%s", sign, g[i].def->name,
                 g[i].def->value ? "=" : "", g[i].def->value ? g[i].def->value : "", g[i].tier);
    }
}

static void record(void *ud, const td_change *c)
{
    seen *s = ud;
    ck_assert_uint_lt(s->n, MAX_SEEN);
    char *t = s->text[s->n++];
    snprintf(t, 256, "%s>%s", c->from ? c->from : "-", c->to ? c->to : "-");
    list(t, 256, "+", c->gained, c->n_gained);
    list(t, 256, "-", c->benefits_lost, c->n_benefits_lost);
}

/* One event of metric a at T0, its changes into s. */
static void event(engine *e, const char *partner, double v, seen *s)
{
    fx_ingest_to(e, partner, "a", v, T0, NULL, T0, record, s);
}

/* p1 at T2, p2 at T1, p3 unranked, p4 at T2, p5 at T1. */
static engine *five_partners(seen *s)
{
    engine *e = fx_engine(fx_parse(v1_yaml), T0);
    const char *ids[] = {"p1", "p2", "p3", "p4", "p5"};
    const double a[] = {10, 1, 0, 20, 5};
    for (size_t i = 0; i < 5; i++) {
        fx_partner_to(e, ids[i], "reseller", T0, record, s);
        if (a[i] > 0)
            event(e, ids[i], a[i], s);
    }
    return e;
}

START_TEST(test_changes_carry_the_benefits_gained_and_lost)
{
    seen s = {0};
    engine *e = fx_engine(fx_parse(v1_yaml), T0);
    fx_partner_to(e, "p1", "reseller", T0, record, &s);
    event(e, "p1", 1, &s);
    event(e, "p1", 9, &s);
    ck_assert_uint_eq(s.n, 2);
    ck_assert_str_eq(s.text[0], "->T1 +portal@T1 +margin=2@T1");
    /* margin's value changes: the new one is gained, the old one lost. */
    ck_assert_str_eq(s.text[1], "T1>T2 +mdf@T2 +margin=5@T2 -margin=2@T1");
    td_error err = {0};
    ck_assert_int_eq(engine_partner_delete(e, "p1", T0, record, &s, &err), 0);
    ck_assert_str_eq(s.text[2], "T2>- -portal@T1 -mdf@T2 -margin=5@T2");
    engine_free(e);
}
END_TEST

START_TEST(test_a_new_version_reports_the_benefits_held_under_the_old_one)
{
    seen s = {0};
    engine *e = five_partners(&s);
    s.n = 0;
    ck_assert_int_eq(engine_program_apply(e, fx_parse(v2_yaml), T0 + 10, record, &s), 0);
    /* p1 and p4 lose T2, which v2 no longer has: what they lose is what
     * v1 granted (mdf included), then v2 places them on T1. */
    bool saw = false;
    for (size_t i = 0; i < s.n; i++)
        if (!strcmp(s.text[i], "T2>- -portal@T1 -mdf@T2 -margin=5@T2"))
            saw = true;
    ck_assert_msg(saw, "first: %s", s.n ? s.text[0] : "none");
    engine_free(e);
}
END_TEST

START_TEST(test_a_partner_holds_the_grants_of_its_effective_tier)
{
    seen s = {0};
    engine *e = five_partners(&s);
    size_t n;
    const benefit_grant *g = engine_partner_benefits(e, fx_find(e, "p1"), 0, &n);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(g[0].def->name, "portal");
    ck_assert_str_eq(g[0].tier, "T1");
    ck_assert_str_eq(g[1].def->name, "mdf");
    ck_assert_str_eq(g[2].def->value, "5");
    ck_assert_ptr_null(engine_partner_benefits(e, fx_find(e, "p3"), 0, &n));
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_null(engine_partner_benefits(e, fx_find(e, "p1"), 1, &n));
    /* An override pins the tier everyone sees, benefits included. */
    td_error err = {0};
    ck_assert_int_eq(engine_override_set(e, engine_partner_find(e, "p2"), "reseller", "T2",
                                         T0 + 1000, "ann", "pilot", T0, record, &s, &err),
                     0);
    engine_partner_benefits(e, fx_find(e, "p2"), 0, &n);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(s.text[s.n - 1], "T1>T2 +mdf@T2 +margin=5@T2 -margin=2@T1");
    engine_free(e);
}
END_TEST

START_TEST(test_holders_page_in_id_order_and_list_filters_by_benefit)
{
    seen s = {0};
    engine *e = five_partners(&s);
    td_holder out[1 + TD_MAX_LADDERS];
    bool more;
    td_error err = {0};
    size_t n = engine_benefit_holders(e, "mdf", NULL, NULL, out, 1, &more, &err);
    ck_assert_uint_eq(n, 1);
    ck_assert(more);
    ck_assert_str_eq(fx_id(out[0].partner), "p1");
    ck_assert_str_eq(out[0].grant->tier, "T2");
    n = engine_benefit_holders(e, "mdf", "reseller", "p1", out, 1, &more, &err);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(fx_id(out[0].partner), "p4");
    n = engine_benefit_holders(e, "mdf", NULL, "p4", out, 1, &more, &err);
    ck_assert_uint_eq(n, 0);
    ck_assert(!more);
    /* The value is the one of the holder's tier. */
    td_holder all[8 + TD_MAX_LADDERS];
    n = engine_benefit_holders(e, "margin", NULL, NULL, all, 8, &more, &err);
    ck_assert_uint_eq(n, 4);
    ck_assert_str_eq(fx_id(all[1].partner), "p2");
    ck_assert_str_eq(all[1].grant->def->value, "2");
    ck_assert_str_eq(all[2].grant->def->value, "5");
    ck_assert_int_eq(engine_benefit_holders(e, "nope", NULL, NULL, out, 1, &more, &err), 0);
    ck_assert_int_eq(err.code, TD_NOT_FOUND);
    ck_assert_str_eq(err.message, "no tier grants benefit 'nope'");
    err = (td_error){0};
    engine_benefit_holders(e, "mdf", "other", NULL, out, 1, &more, &err);
    ck_assert_int_eq(err.code, TD_NOT_FOUND);

    td_partner *found[8];
    err = (td_error){0};
    n = engine_partner_list_benefit(e, NULL, NULL, NULL, "mdf", found, 8, &more, &err);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(fx_id(found[0]), "p1");
    ck_assert_str_eq(fx_id(found[1]), "p4");
    n = engine_partner_list_benefit(e, NULL, "reseller", "T1", "portal", found, 8, &more, &err);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(fx_id(found[0]), "p2");
    ck_assert_str_eq(fx_id(found[1]), "p5");
    engine_free(e);
}
END_TEST

static Suite *benefits_suite(void)
{
    Suite *s = suite_create("benefits");
    TCase *tc = tcase_create("benefits");
    tcase_add_test(tc, test_changes_carry_the_benefits_gained_and_lost);
    tcase_add_test(tc, test_a_new_version_reports_the_benefits_held_under_the_old_one);
    tcase_add_test(tc, test_a_partner_holds_the_grants_of_its_effective_tier);
    tcase_add_test(tc, test_holders_page_in_id_order_and_list_filters_by_benefit);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(benefits_suite());
}
