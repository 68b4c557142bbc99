/* What-if in the engine: a simulation says partner by partner what loading
 * a candidate really does (checked by loading it and letting time run), an
 * audit finds partners out of line with the program in force, and
 * calibrate proposes thresholds that give the target distribution.
 *
 * Programs are written as YAML and loaded with program_parse. Metrics are
 * `latest` values over the partner's lifetime, so one event sets a value
 * and time alone changes nothing but the lifecycle. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_fixture.h"
#include "engine/whatif.h"
#include "testutil.h"

#define DAY       ((td_time)TD_SECONDS_PER_DAY)
#define YAML_MAX  4096
#define ID_MAX    32
#define PARTNERS  12
#define GENERATED 1000
#define ROWS_MAX  64
#define TEXT_MAX  64

static const td_time T0 = 1767225600; /* 2026-01-01 */

/* Ladder main: T1..T4 on lvl (T2 also needs certs); `policy` lines at
 * policy depth; thresholds t2..t4 for T2..T4. */
static program *lc_program(const char *version, const char *policy, int t2, int t3, int t4)
{
    char yaml[YAML_MAX];
    snprintf(yaml, sizeof yaml,
             "program: w\n"
             "version: \"%s\"\n"
             "metrics:\n"
             "  lvl: { agg: latest, event: level }\n"
             "  certs: { agg: latest, event: certs }\n"
             "ladders:\n"
             "  main:\n"
             "    partner_types: [reseller]\n"
             "    gate: certs >= 0\n"
             "%s%s"
             "    tiers:\n"
             "      - { name: T1, when: lvl >= 1 }\n"
             "      - { name: T2, when: lvl >= %d }\n"
             "      - { name: T3, when: lvl >= %d }\n"
             "      - { name: T4, when: lvl >= %d }\n",
             version, *policy ? "    policy:\n" : "", policy, t2, t3, t4);
    return fx_parse(yaml);
}

/* Partners p00..p11 on main at levels 0..4 (two at each, the last two at 4
 * with one pinned), certs 1. */
static engine *lc_engine(const char *policy)
{
    engine *e = fx_engine(lc_program("v1", policy, 2, 3, 4), T0);
    for (int i = 0; i < PARTNERS; i++) {
        char id[ID_MAX];
        snprintf(id, sizeof id, "p%02d", i);
        fx_partner(e, id, "reseller", T0, NULL);
        fx_event_at(e, id, "certs", 1, T0, NULL);
        fx_event_at(e, id, "level", i / 2 < 4 ? i / 2 : 4, T0, NULL);
    }
    return e;
}

/* Simulates, loads for real, then lets time run: every row's `after` is
 * what the partner holds once loaded, and every demotion said to come later
 * comes at its date to its tier, not a second before. */
static void check_simulation_against_reality(const char *policy_v1, const char *policy_v2)
{
    engine *e = lc_engine(policy_v1);
    td_time at = T0 + 10 * DAY;
    program *v2 = lc_program("v2", policy_v2, 3, 4, 5);
    td_simulation sim;
    td_error err;
    td_page pg = {.limit = ROWS_MAX, .all_rows = true, .summary = true};
    ck_assert_int_eq(engine_simulate(e, v2, at, &pg, &sim, &err), 0);
    ck_assert_uint_eq(sim.n_rows, PARTNERS);
    ck_assert_ptr_null(sim.next);
    td_impact im;
    ck_assert_int_eq(engine_program_impact(e, v2, at, &im), 0);
    ck_assert_uint_eq(im.promoted, sim.sums.promoted);
    ck_assert_uint_eq(im.demoted, sim.sums.demoted);
    ck_assert_uint_eq(im.demoted_later, sim.sums.demoted_later);
    ck_assert_uint_eq(im.unchanged, sim.sums.unchanged);
    ck_assert_uint_eq(im.queued, sim.sums.queued);
    /* Copy what the rows say: they borrow from the engine we change next. */
    struct {
        char partner[TEXT_MAX], before[TEXT_MAX], after[TEXT_MAX], to[TEXT_MAX];
        td_outcome outcome;
        td_time due;
    } want[PARTNERS];
    for (size_t i = 0; i < sim.n_rows; i++) {
        snprintf(want[i].partner, TEXT_MAX, "%s", sim.rows[i].partner);
        snprintf(want[i].before, TEXT_MAX, "%s", fx_name(sim.rows[i].before));
        snprintf(want[i].after, TEXT_MAX, "%s", fx_name(sim.rows[i].after));
        snprintf(want[i].to, TEXT_MAX, "%s", fx_name(sim.rows[i].demotion_to));
        want[i].outcome = sim.rows[i].outcome;
        want[i].due = sim.rows[i].outcome == TD_OUTCOME_DEMOTED_LATER ? sim.rows[i].demotion_at
                                                                      : TD_TIME_NONE;
        ck_assert_str_eq(want[i].before, fx_tier_of(e, want[i].partner, "main"));
    }
    engine_simulation_free(&sim);
    ck_assert_int_eq(engine_program_apply(e, v2, at, NULL, NULL), 0);
    for (size_t i = 0; i < PARTNERS; i++)
        ck_assert_msg(strcmp(want[i].after, fx_tier_of(e, want[i].partner, "main")) == 0,
                      "%s: simulated %s, holds %s", want[i].partner, want[i].after,
                      fx_tier_of(e, want[i].partner, "main"));
    /* Time runs forward: the demotions in the order of their dates. */
    size_t later = 0;
    for (;;) {
        size_t next = PARTNERS;
        for (size_t i = 0; i < PARTNERS; i++)
            if (want[i].due != TD_TIME_NONE && (next == PARTNERS || want[i].due < want[next].due))
                next = i;
        if (next == PARTNERS)
            break;
        td_time due = want[next].due;
        engine_evaluate(e, NULL, due - 1, NULL, NULL);
        for (size_t i = 0; i < PARTNERS; i++)
            if (want[i].due == due)
                ck_assert_str_eq(fx_tier_of(e, want[i].partner, "main"), want[i].before);
        engine_evaluate(e, NULL, due, NULL, NULL);
        for (size_t i = 0; i < PARTNERS; i++) {
            if (want[i].due != due)
                continue;
            ck_assert_str_eq(fx_tier_of(e, want[i].partner, "main"), want[i].to);
            want[i].due = TD_TIME_NONE;
            later++;
        }
    }
    ck_assert_uint_eq(later, im.demoted_later);
    engine_free(e);
}

START_TEST(test_simulate_immediate_policy_matches_loading)
{
    check_simulation_against_reality("", "");
}
END_TEST

START_TEST(test_simulate_grace_review_and_grandfathering_match_loading_and_their_dates)
{
    check_simulation_against_reality("", "      grace: 30d\n");
    check_simulation_against_reality("", "      grace: 20d\n      review: quarterly\n");
    check_simulation_against_reality("", "      grandfather: 45d\n");
    check_simulation_against_reality("", "      approval: [T4]\n      grace: 5d\n");
}
END_TEST

START_TEST(test_simulate_names_why_a_demotion_waits)
{
    struct {
        const char *policy;
        td_due_reason why;
        td_time due;
    } cases[] = {
        {"      grace: 30d\n", TD_DUE_GRACE_END, T0 + 40 * DAY},
        {"      grace: 5d\n      review: quarterly\n", TD_DUE_REVIEW_POINT,
         td_days_from_civil(2026, 4, 1) * DAY},
        {"      grace: 5d\n      grandfather: 60d\n", TD_DUE_GRANDFATHER_END, T0 + 70 * DAY},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        engine *e = lc_engine("");
        program *v2 = lc_program("v2", cases[c].policy, 3, 4, 5);
        td_simulation sim;
        td_error err;
        td_page pg = {.partner = "p11", .limit = ROWS_MAX, .summary = true};
        ck_assert_int_eq(engine_simulate(e, v2, T0 + 10 * DAY, &pg, &sim, &err), 0);
        ck_assert_uint_eq(sim.n_rows, 1);
        ck_assert_int_eq(sim.rows[0].outcome, TD_OUTCOME_DEMOTED_LATER);
        ck_assert_int_eq(sim.rows[0].due_reason, cases[c].why);
        ck_assert_int_eq(sim.rows[0].demotion_at, cases[c].due);
        ck_assert_str_eq(sim.rows[0].demotion_to, "T3");
        /* The summary covers the one partner asked about. */
        ck_assert_uint_eq(sim.sums.demoted_later, 1);
        ck_assert_uint_eq(sim.before[0].counts[3 + 1], 1); /* T4 */
        ck_assert_uint_eq(sim.after[0].counts[3 + 1], 1);
        ck_assert_uint_eq(sim.qualifying[0].counts[2 + 1], 1); /* T3 */
        engine_simulation_free(&sim);
        program_free(v2);
        engine_free(e);
    }
}
END_TEST

START_TEST(test_simulate_pages_changed_rows_in_id_order_and_distributions_cover_everyone)
{
    engine *e = lc_engine("");
    program *v2 = lc_program("v2", "", 3, 4, 5);
    td_error err;
    td_simulation sim;
    td_page first = {.limit = 1, .summary = true};
    ck_assert_int_eq(engine_simulate(e, v2, T0 + DAY, &first, &sim, &err), 0);
    /* Levels 0 0 1 1 2 2 3 3 4 4 4 4: under v2 the levels 2..4 drop a tier. */
    ck_assert_uint_eq(sim.sums.demoted, 8);
    ck_assert_uint_eq(sim.sums.unchanged, 4);
    uint64_t before[] = {2, 2, 2, 2, 4}, after[] = {2, 4, 2, 4, 0};
    for (int t = 0; t < 5; t++) {
        ck_assert_uint_eq(sim.before[0].counts[t], before[t]);
        ck_assert_uint_eq(sim.after[0].counts[t], after[t]);
    }
    ck_assert_uint_eq(sim.n_rows, 1);
    ck_assert_str_eq(sim.rows[0].partner, "p04");
    ck_assert_str_eq(sim.next, "p04");
    char next[TEXT_MAX];
    size_t seen = 1;
    while (sim.next) {
        snprintf(next, sizeof next, "%s", sim.next);
        engine_simulation_free(&sim);
        td_page pg = {.after = next, .limit = 3};
        ck_assert_int_eq(engine_simulate(e, v2, T0 + DAY, &pg, &sim, &err), 0);
        for (size_t i = 0; i < sim.n_rows; i++) {
            ck_assert_int_gt(strcmp(sim.rows[i].partner, next), 0);
            ck_assert_int_eq(sim.rows[i].outcome, TD_OUTCOME_DEMOTED);
        }
        seen += sim.n_rows;
    }
    engine_simulation_free(&sim);
    ck_assert_uint_eq(seen, 8);
    td_page nobody = {.partner = "nobody", .summary = true};
    ck_assert_int_eq(engine_simulate(e, v2, T0, &nobody, &sim, &err), -TD_NOT_FOUND);
    program_free(v2);
    engine_free(e);
}
END_TEST

/* ---- audit ---- */

START_TEST(test_audit_finds_each_kind_of_partner_out_of_line)
{
    engine *e = fx_engine(fx_parse("program: w\nversion: \"1\"\n"
                                   "metrics:\n"
                                   "  arr: { agg: latest, event: arr }\n"
                                   "  sellers: { agg: latest, event: sellers }\n"
                                   "ladders:\n"
                                   "  main:\n"
                                   "    partner_types: [reseller]\n"
                                   "    gate: sellers >= 1\n"
                                   "    policy: { grace: 90d, approval: [Gold] }\n"
                                   "    tiers:\n"
                                   "      - { name: Base, when: arr >= 0 }\n"
                                   "      - { name: Silver, when: arr >= 100 }\n"
                                   "      - { name: Gold, when: arr >= 1000 and "
                                   "sellers >= 10 }\n"),
                          T0);
    const char *ids[] = {"above", "below", "pinned", "near", "far", "gateless"};
    for (size_t i = 0; i < 6; i++)
        fx_partner(e, ids[i], "reseller", T0, NULL);
    for (size_t i = 0; i < 6; i++)
        fx_event_at(e, ids[i], "sellers", 5, T0, NULL);
    fx_event_at(e, "above", "arr", 500, T0, NULL); /* Silver, then drops to Base within grace */
    fx_event_at(e, "above", "arr", 50, T0 + DAY, NULL);
    fx_event_at(e, "below", "arr", 2000, T0, NULL); /* Gold waits for approval: holds Silver */
    fx_event_at(e, "below", "sellers", 10, T0 + 1, NULL);
    fx_event_at(e, "pinned", "arr", 50, T0, NULL);
    fx_event_at(e, "near", "arr", 95, T0, NULL); /* 5% short of Silver */
    fx_event_at(e, "far", "arr", 50, T0, NULL);
    fx_event_at(e, "gateless", "sellers", 0, T0 + 1, NULL);
    fx_event_at(e, "gateless", "arr", 500, T0, NULL);
    td_error err;
    ck_assert_int_eq(engine_override_set(e, engine_partner_find(e, "pinned"), "main", "Silver",
                                         T0 + 100 * DAY, "ops", "deal", T0 + DAY, NULL, NULL, &err),
                     0);
    td_audit a;
    td_page pg = {.limit = ROWS_MAX, .summary = true};
    ck_assert_int_eq(engine_audit(e, NULL, 0.10, T0 + 2 * DAY, &pg, &a, &err), 0);
    ck_assert_uint_eq(a.total.partners, 6);
    ck_assert_uint_eq(a.total.kinds[TD_AUDIT_HELD_ABOVE], 1);
    ck_assert_uint_eq(a.total.kinds[TD_AUDIT_HELD_BELOW], 1);
    ck_assert_uint_eq(a.total.kinds[TD_AUDIT_OVERRIDE_STALE], 1);
    ck_assert_uint_eq(a.total.kinds[TD_AUDIT_NEAR_MISS], 1);
    ck_assert_uint_eq(a.total.kinds[TD_AUDIT_GATE_FAILING], 1);
    ck_assert_uint_eq(a.total.in_line, 1);
    ck_assert_uint_eq(a.ladders[0].kinds[TD_AUDIT_NEAR_MISS], 1);
    ck_assert_uint_eq(a.n_rows, 5);
    for (size_t i = 0; i < a.n_rows; i++) {
        const td_audit_row *r = &a.rows[i];
        ck_assert_str_ne(r->partner, "far");
        if (strcmp(r->partner, "near") == 0) {
            ck_assert_uint_eq(r->flags, 1u << TD_AUDIT_NEAR_MISS);
            ck_assert_str_eq(r->next_tier, "Silver");
            ck_assert_uint_eq(r->n_gaps, 1);
            ck_assert_double_eq(r->gaps[0].missing, 5);
        } else if (strcmp(r->partner, "above") == 0) {
            ck_assert_uint_eq(r->flags, 1u << TD_AUDIT_HELD_ABOVE);
            ck_assert_str_eq(r->held, "Silver");
            ck_assert_str_eq(r->qualifying, "Base");
        } else if (strcmp(r->partner, "below") == 0) {
            ck_assert_uint_eq(r->flags, 1u << TD_AUDIT_HELD_BELOW);
        } else if (strcmp(r->partner, "pinned") == 0) {
            ck_assert_uint_eq(r->flags, 1u << TD_AUDIT_OVERRIDE_STALE);
            ck_assert_str_eq(r->override_tier, "Silver");
        } else {
            ck_assert_str_eq(r->partner, "gateless");
            ck_assert(r->flags & (1u << TD_AUDIT_GATE_FAILING));
        }
    }
    engine_audit_free(&a);
    /* 4% is not near enough for 5% short; an unknown ladder is named. */
    ck_assert_int_eq(engine_audit(e, "main", 0.04, T0 + 2 * DAY, &pg, &a, &err), 0);
    ck_assert_uint_eq(a.total.kinds[TD_AUDIT_NEAR_MISS], 0);
    engine_audit_free(&a);
    ck_assert_int_eq(engine_audit(e, "nope", 0.1, T0, &pg, &a, &err), -TD_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(err.message, "nope"));
    ck_assert_int_eq(engine_audit(e, NULL, NAN, T0, &pg, &a, &err), -TD_INVALID_ARGUMENT);
    engine_free(e);
}
END_TEST

/* ---- calibrate ---- */

static const char *const calib_yaml =
    "program: c\nversion: \"1\"\n"
    "metrics:\n"
    "  arr: { agg: latest, event: arr }\n"
    "  sellers: { agg: latest, event: sellers }\n"
    "  certs: { agg: latest, event: certs }\n"
    "ladders:\n"
    "  resale:\n"
    "    partner_types: [reseller]\n"
    "    gate: sellers >= 1\n"
    "    policy: { max_drop: 3 }\n"
    "    tiers:\n"
    "      - { name: Registered, when: certs >= 0, benefits: [portal] }\n"
    "      - { name: Selling, when: arr >= 50k and sellers >= 3 }\n"
    "      - { name: Specialist, when: arr >= 250k and certs >= 2 }\n"
    "      - { name: Strategic, when: arr >= 1M }\n";

/* GENERATED partners with distinct, heavy-tailed arr; `lacking` in ten
 * miss certs (Specialist's other criterion), one in fifty misses sellers
 * (the gate). */
static engine *calib_engine(int lacking)
{
    engine *e = fx_engine(fx_parse(calib_yaml), T0);
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < GENERATED; i++) {
        char id[ID_MAX];
        snprintf(id, sizeof id, "g%04d", i);
        fx_partner(e, id, "reseller", T0, NULL);
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double u = (double)(x % 1000000 + 1) / 1000001.0;
        fx_event_at(e, id, "arr", 1000.0 / pow(u, 1.2) + i * 0.001, T0, NULL);
        fx_event_at(e, id, "sellers", i % 50 == 7 ? 0 : 3 + i % 5, T0, NULL);
        fx_event_at(e, id, "certs", i % 10 < lacking ? 0 : 2, T0, NULL);
    }
    return e;
}

static void check_calibration(int lacking)
{
    engine *e = calib_engine(lacking);
    td_calib_target t[] = {
        {"Registered", 50}, {"Selling", 30}, {"Specialist", 15}, {"Strategic", 5}};
    td_calibration c;
    td_error err;
    ck_assert_msg(engine_calibrate(e, "resale", NULL, t, 4, T0, &c, &err) == 0, "%s", err.message);
    ck_assert_str_eq(c.metric, "arr");
    ck_assert_uint_eq(c.partners, GENERATED);
    /* Registered has no comparison on arr and its target (all partners
     * at it or above: shares add up to 100%) wants everyone meeting the
     * rest: its `when` stays, rather than shutting out partners with no
     * arr at all. */
    ck_assert(c.tiers[0].kept);
    ck_assert(!c.tiers[0].appended);
    ck_assert_str_eq(c.tiers[0].when, "certs >= 0");
    ck_assert_ptr_nonnull(strstr(c.tiers[3].when, "arr >= "));
    ck_assert_ptr_nonnull(strstr(c.fragment, "name: \"Specialist\""));
    ck_assert_ptr_nonnull(strstr(c.fragment, "benefits: [\"portal\"]"));
    for (size_t k = 1; k < c.n_tiers; k++)
        ck_assert_double_ge(c.tiers[k].threshold, c.tiers[k - 1].threshold);
    /* The simulation of the proposal gives the target within one partner
     * per tier, both qualifying and held (immediate policy). */
    uint64_t at_or_above = 0;
    for (size_t k = c.n_tiers; k-- > 0;) {
        double want = GENERATED * t[k].percent / 100;
        uint64_t q = c.sim.qualifying[0].counts[k + 1], h = c.sim.after[0].counts[k + 1];
        ck_assert_msg(fabs((double)q - want) <= 1, "%s: %llu qualify, target %g", t[k].tier,
                      (unsigned long long)q, want);
        ck_assert_msg(fabs((double)h - want) <= 1, "%s: %llu held, target %g", t[k].tier,
                      (unsigned long long)h, want);
        at_or_above += q;
        ck_assert_uint_eq(c.tiers[k].reached, at_or_above);
        ck_assert_str_eq(c.tiers[k].note, "");
    }
    ck_assert_uint_eq(c.sim.qualifying[0].counts[0], 0);
    /* The fragment's `when` texts load and say the same. */
    char yaml[YAML_MAX];
    snprintf(yaml, sizeof yaml,
             "program: c\nversion: \"2\"\n"
             "metrics:\n"
             "  arr: { agg: latest, event: arr }\n"
             "  sellers: { agg: latest, event: sellers }\n"
             "  certs: { agg: latest, event: certs }\n"
             "ladders:\n"
             "  resale:\n"
             "    partner_types: [reseller]\n"
             "    gate: sellers >= 1\n"
             "%s",
             c.fragment);
    program *pasted = fx_parse(yaml);
    td_simulation sim;
    td_page pg = {.summary = true};
    ck_assert_int_eq(engine_simulate(e, pasted, T0, &pg, &sim, &err), 0);
    for (size_t k = 0; k <= c.n_tiers; k++)
        ck_assert_uint_eq(sim.qualifying[0].counts[k], c.sim.qualifying[0].counts[k]);
    engine_simulation_free(&sim);
    program_free(pasted);
    engine_calibration_free(&c);
    engine_free(e);
}

START_TEST(test_calibrate_proposal_simulated_gives_the_target_within_one_partner_per_tier)
{
    check_calibration(0);
}
END_TEST

/* A partner with no value for the metric still meets a tier that had no
 * comparison on it: calibrate must not add one that shuts it out. */
START_TEST(test_calibrate_keeps_partners_with_no_value_on_a_tier_without_the_metric)
{
    engine *e = calib_engine(0);
    fx_partner(e, "no-arr", "reseller", T0, NULL);
    fx_event_at(e, "no-arr", "certs", 1, T0, NULL);
    td_calib_target t[] = {
        {"Registered", 50}, {"Selling", 30}, {"Specialist", 15}, {"Strategic", 5}};
    td_calibration c;
    td_error err;
    ck_assert_msg(engine_calibrate(e, "resale", "arr", t, 4, T0, &c, &err) == 0, "%s", err.message);
    ck_assert(c.tiers[0].kept);
    ck_assert_uint_eq(c.tiers[0].reached, GENERATED + 1);
    ck_assert_uint_eq(c.sim.qualifying[0].counts[0], 0); /* nobody unranked */
    engine_calibration_free(&c);
    engine_free(e);
}
END_TEST

START_TEST(test_calibrate_counts_only_partners_meeting_a_tiers_other_criteria)
{
    check_calibration(2);
}
END_TEST

START_TEST(test_calibrate_says_when_the_data_cannot_give_the_target)
{
    engine *e = calib_engine(9); /* 90% lack certs: Specialist cannot reach 15% */
    td_calib_target t[] = {
        {"Registered", 40}, {"Selling", 30}, {"Specialist", 29}, {"Strategic", 1}};
    td_calibration c;
    td_error err;
    ck_assert_int_eq(engine_calibrate(e, "resale", "arr", t, 4, T0, &c, &err), 0);
    bool noted = false;
    for (size_t k = 0; k < c.n_tiers; k++)
        noted |= c.tiers[k].note[0] != '\0';
    ck_assert(noted);
    engine_calibration_free(&c);
    engine_free(e);
}
END_TEST

static void refused(engine *e, const char *metric, const td_calib_target *t, size_t n,
                    const char *says)
{
    td_calibration c;
    td_error err;
    ck_assert_int_eq(engine_calibrate(e, "resale", metric, t, n, T0, &c, &err),
                     -TD_INVALID_ARGUMENT);
    ck_assert_msg(strstr(err.message, says), "'%s' does not say '%s'", err.message, says);
}

START_TEST(test_calibrate_refuses_bad_targets_naming_them)
{
    engine *e = calib_engine(0);
    td_calib_target short_sum[] = {
        {"Registered", 50}, {"Selling", 30}, {"Specialist", 5}, {"Strategic", 5}};
    refused(e, NULL, short_sum, 4, "90%");
    td_calib_target unknown[] = {
        {"Registered", 50}, {"Selling", 30}, {"Expert", 15}, {"Strategic", 5}};
    refused(e, NULL, unknown, 4, "Expert");
    td_calib_target missing[] = {{"Registered", 50}, {"Selling", 50}};
    refused(e, NULL, missing, 2, "Specialist, Strategic");
    td_calib_target twice[] = {
        {"Registered", 50}, {"Selling", 30}, {"Selling", 15}, {"Strategic", 5}};
    refused(e, NULL, twice, 4, "named twice");
    td_calib_target nan[] = {
        {"Registered", NAN}, {"Selling", 30}, {"Specialist", 15}, {"Strategic", 5}};
    refused(e, NULL, nan, 4, "Registered");
    td_calib_target neg[] = {
        {"Registered", 60}, {"Selling", -10}, {"Specialist", 45}, {"Strategic", 5}};
    refused(e, NULL, neg, 4, "-10");
    td_calib_target ok[] = {
        {"Registered", 50}, {"Selling", 30}, {"Specialist", 15}, {"Strategic", 5}};
    refused(e, "revenue", ok, 4, "revenue");
    td_calibration c;
    td_error err;
    ck_assert_int_eq(engine_calibrate(e, "wholesale", NULL, ok, 4, T0, &c, &err),
                     -TD_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(err.message, "wholesale"));
    engine_free(e);
}
END_TEST

START_TEST(test_calibrate_asks_for_a_metric_when_none_leads)
{
    engine *e = fx_engine(fx_parse("program: c\nversion: \"1\"\n"
                                   "metrics:\n"
                                   "  a: { agg: latest, event: a }\n"
                                   "  b: { agg: latest, event: b }\n"
                                   "ladders:\n"
                                   "  l:\n"
                                   "    partner_types: [x]\n"
                                   "    tiers:\n"
                                   "      - { name: One, when: a >= 1 }\n"
                                   "      - { name: Two, when: b >= 1 }\n"),
                          T0);
    td_calib_target t[] = {{"One", 50}, {"Two", 50}};
    td_calibration c;
    td_error err;
    ck_assert_int_eq(engine_calibrate(e, "l", NULL, t, 2, T0, &c, &err), -TD_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(err.message, "--metric"));
    ck_assert_ptr_nonnull(strstr(err.message, "a, b"));
    engine_free(e);
}
END_TEST

static Suite *whatif_suite(void)
{
    Suite *s = suite_create("whatif");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_simulate_immediate_policy_matches_loading);
    tcase_add_test(tc, test_simulate_grace_review_and_grandfathering_match_loading_and_their_dates);
    tcase_add_test(tc, test_simulate_names_why_a_demotion_waits);
    tcase_add_test(tc,
                   test_simulate_pages_changed_rows_in_id_order_and_distributions_cover_everyone);
    tcase_add_test(tc, test_audit_finds_each_kind_of_partner_out_of_line);
    tcase_add_test(tc,
                   test_calibrate_proposal_simulated_gives_the_target_within_one_partner_per_tier);
    tcase_add_test(tc, test_calibrate_counts_only_partners_meeting_a_tiers_other_criteria);
    tcase_add_test(tc, test_calibrate_keeps_partners_with_no_value_on_a_tier_without_the_metric);
    tcase_add_test(tc, test_calibrate_says_when_the_data_cannot_give_the_target);
    tcase_add_test(tc, test_calibrate_refuses_bad_targets_naming_them);
    tcase_add_test(tc, test_calibrate_asks_for_a_metric_when_none_leads);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(whatif_suite());
}
