/* What-if where issue 12's parts meet: a simulation of a candidate on a
 * cumulative ladder, and under demotion review, says partner by partner
 * what loading it and letting the clock run really does (checked by doing
 * both, the way the daemon does: each partner evaluated at the instant
 * engine_partner_next_due names); the dry-run impact of `program load`
 * counts the same; calibrate's proposal on a cumulative ladder whose lower
 * tiers read other metrics gives the target once loaded; and an audit
 * follows the ladder's rule for the qualifying tier and its gaps.
 *
 * Programs are YAML read by program_parse, so ladders are cumulative
 * unless they say `cumulative: false`. Metrics are `latest` values over
 * the partner's lifetime: one event sets a value, and time alone moves
 * nothing but the lifecycle. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FX_MAX_CHANGES 256 /* run_clock logs every move of every partner */

#include "engine/whatif.h"
#include "engine_fixture.h"
#include "testutil.h"

#define DAY        ((td_time)TD_SECONDS_PER_DAY)
#define YAML_MAX   4096
#define ID_MAX     32
#define TEXT_MAX   64
#define ROWS_MAX   64
#define STEPS_MAX  10000
#define HORIZON    (400 * DAY)
#define GENERATED  2000
#define LADDER     "resale"
#define UNRANKED   "-"
#define N_PARTNERS (sizeof partners / sizeof *partners)

static const td_time T0 = 1767225600; /* 2026-01-01 */

/* Thresholds that differ between the version in force and the candidate. */
typedef struct thresholds {
    double selling_csat, specialist_arr, strategic_arr;
} thresholds;

static const thresholds V1 = {80, 1000, 20000};
/* Selling asks more csat (an inherited criterion for every tier above it),
 * Specialist and Strategic ask less arr. */
static const thresholds V2 = {85, 800, 12000};

/* Ladder resale: Registered needs a contract; Selling, Specialist and
 * Strategic each read other metrics, so on a cumulative ladder a partner
 * can meet a higher tier's own `when` and still fail a lower one's. */
static program *ladder_program(const char *version, bool cumulative, const char *policy,
                               thresholds th)
{
    char yaml[YAML_MAX];
    snprintf(yaml, sizeof yaml,
             "program: l\n"
             "version: \"%s\"\n"
             "metrics:\n"
             "  contract: { agg: latest, event: contract }\n"
             "  arr: { agg: latest, event: arr }\n"
             "  csat: { agg: latest, event: csat }\n"
             "  certs: { agg: latest, event: certs }\n"
             "ladders:\n"
             "  resale:\n"
             "    partner_types: [reseller]\n"
             "%s%s%s"
             "    tiers:\n"
             "      - { name: Registered, when: contract >= 1 }\n"
             "      - { name: Selling, when: arr >= 100 and csat >= %g }\n"
             "      - { name: Specialist, when: arr >= %g and certs >= 2 }\n"
             "      - { name: Strategic, when: arr >= %g }\n",
             version, cumulative ? "" : "    cumulative: false\n", *policy ? "    policy:\n" : "",
             policy, th.selling_csat, th.specialist_arr, th.strategic_arr);
    return fx_parse(yaml);
}

/* ---- the partners every simulation runs over ---- */

typedef struct partner_values {
    const char *id;
    double contract, arr, csat, certs;
} partner_values;

/* Under V1 on the old rule (`cumulative: false`) and V2 on the cumulative
 * one. The comments give the tier each qualifies for. */
static const partner_values partners[] = {
    {"climber", 1, 30000, 90, 3},    /* Strategic, Strategic */
    {"nocontract", 0, 30000, 90, 3}, /* Strategic (own arr); unranked: Registered fails */
    {"lowcsat", 1, 30000, 82, 3},    /* Strategic; Registered: Selling's csat fails */
    {"nocerts", 1, 30000, 90, 0},    /* Strategic; Selling: Specialist's certs fail */
    {"ownonly", 1, 2000, 70, 3},     /* Specialist; Registered */
    {"rising", 1, 15000, 90, 3},     /* Specialist; Strategic */
    {"upgrade", 1, 900, 90, 2},      /* Selling; Specialist */
    {"selling", 1, 500, 90, 0},      /* Selling, Selling */
    {"registered", 1, 50, 90, 0},    /* Registered, Registered */
    {"nobody", 0, 50, 0, 0},         /* unranked, unranked */
};

static engine *ladder_engine(bool v1_cumulative, const char *v1_policy)
{
    engine *e = fx_engine(ladder_program("v1", v1_cumulative, v1_policy, V1), T0);
    for (size_t i = 0; i < N_PARTNERS; i++) {
        const partner_values *pv = &partners[i];
        fx_partner(e, pv->id, "reseller", T0, NULL);
        fx_event_at(e, pv->id, "contract", pv->contract, T0, NULL);
        fx_event_at(e, pv->id, "arr", pv->arr, T0, NULL);
        fx_event_at(e, pv->id, "csat", pv->csat, T0, NULL);
        fx_event_at(e, pv->id, "certs", pv->certs, T0, NULL);
    }
    return e;
}

/* ---- the clock as the daemon runs it ---- */

/* Runs time from `now` to `until` with no events and no decisions: each
 * partner is evaluated at the instant its next due time names, as the
 * daemon's timers do, and nothing else is. */
static void run_clock(engine *e, td_time now, td_time until, fx_log *log)
{
    for (int step = 0; step < STEPS_MAX; step++) {
        td_time next = TD_TIME_NONE;
        for (size_t i = 0; i < N_PARTNERS; i++) {
            td_time t = engine_partner_next_due(e, engine_partner_find(e, partners[i].id), now);
            if (t != TD_TIME_NONE && (next == TD_TIME_NONE || t < next))
                next = t;
        }
        if (next == TD_TIME_NONE || next > until)
            return;
        for (size_t i = 0; i < N_PARTNERS; i++) {
            td_partner *p = engine_partner_find(e, partners[i].id);
            if (engine_partner_next_due(e, p, now) == next)
                engine_evaluate(e, p, next, fx_record, log);
        }
        now = next;
    }
    ck_abort_msg("the clock did not settle in %d steps", STEPS_MAX);
}

/* The first move of `partner` to another tier in the log, or NULL. */
static const fx_change *first_move(const fx_log *log, const char *partner)
{
    for (size_t i = 0; i < log->n; i++)
        if (strcmp(log->c[i].partner, partner) == 0 && strcmp(log->c[i].from, log->c[i].to) != 0)
            return &log->c[i];
    return NULL;
}

/* ---- simulate against loading ---- */

/* What a simulation row said, copied: rows borrow from the engine that
 * loading changes. */
typedef struct said {
    char partner[TEXT_MAX], before[TEXT_MAX], after[TEXT_MAX], qualifying[TEXT_MAX];
    char pending[TEXT_MAX], to[TEXT_MAX];
    td_outcome outcome;
    td_time due;
    td_due_reason why;
} said;

static void assert_same_impact(const td_impact *a, const td_impact *b)
{
    ck_assert_uint_eq(a->promoted, b->promoted);
    ck_assert_uint_eq(a->queued, b->queued);
    ck_assert_uint_eq(a->demoted, b->demoted);
    ck_assert_uint_eq(a->demoted_later, b->demoted_later);
    ck_assert_uint_eq(a->unchanged, b->unchanged);
    ck_assert_int_eq(a->first_demotion, b->first_demotion);
    ck_assert_int_eq(a->last_demotion, b->last_demotion);
}

/* Simulates v2 at `at` (every row into want[], by partner index), checks
 * the impact `program load --dry-run` reports counts the same, loads v2
 * for real and lets the clock run: every partner holds what its row says
 * right after, qualifies and waits as it says, and its first move comes
 * at its demotion date to its demotion tier, not a second earlier;
 * partners with no date do not move at all. */
static void check_against_loading(engine *e, program *v2, td_time at, said *want)
{
    td_simulation sim;
    td_error err;
    td_page pg = {.limit = ROWS_MAX, .all_rows = true, .summary = true};
    ck_assert_msg(engine_simulate(e, v2, at, &pg, &sim, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(sim.n_rows, N_PARTNERS);
    td_impact im;
    ck_assert_int_eq(engine_program_impact(e, v2, at, &im), 0);
    assert_same_impact(&im, &sim.sums);
    for (size_t i = 0; i < N_PARTNERS; i++) {
        const td_forecast *r = NULL;
        for (size_t k = 0; k < sim.n_rows; k++)
            if (strcmp(sim.rows[k].partner, partners[i].id) == 0)
                r = &sim.rows[k];
        ck_assert_ptr_nonnull(r);
        said *w = &want[i];
        snprintf(w->partner, TEXT_MAX, "%s", r->partner);
        snprintf(w->before, TEXT_MAX, "%s", fx_name(r->before));
        snprintf(w->after, TEXT_MAX, "%s", fx_name(r->after));
        snprintf(w->qualifying, TEXT_MAX, "%s", fx_name(r->qualifying));
        snprintf(w->pending, TEXT_MAX, "%s", fx_name(r->pending));
        snprintf(w->to, TEXT_MAX, "%s", fx_name(r->demotion_to));
        w->outcome = r->outcome;
        w->due = r->demotion_at;
        w->why = r->due_reason;
        ck_assert_str_eq(w->before, fx_held(e, fx_find(e, w->partner), LADDER));
    }
    engine_simulation_free(&sim);
    ck_assert_int_eq(engine_program_apply(e, v2, at, NULL, NULL), 0);
    td_time last = at;
    for (size_t i = 0; i < N_PARTNERS; i++) {
        td_tier_view v = fx_view(e, fx_find(e, want[i].partner), LADDER);
        ck_assert_msg(strcmp(want[i].after, fx_name(v.tier)) == 0, "%s: simulated %s, holds %s",
                      want[i].partner, want[i].after, fx_name(v.tier));
        ck_assert_str_eq(want[i].qualifying, fx_name(v.qualifying));
        ck_assert_str_eq(want[i].pending, fx_name(v.pending));
        if (want[i].due != TD_TIME_NONE && want[i].due > last)
            last = want[i].due;
    }
    fx_log *log = calloc(1, sizeof *log);
    ck_assert_ptr_nonnull(log);
    run_clock(e, at, last + HORIZON, log);
    for (size_t i = 0; i < N_PARTNERS; i++) {
        const fx_change *m = first_move(log, want[i].partner);
        if (want[i].due == TD_TIME_NONE) {
            ck_assert_msg(!m, "%s: no demotion said, moved %s -> %s at %lld", want[i].partner,
                          m ? m->from : "", m ? m->to : "", m ? (long long)m->at : 0LL);
            continue;
        }
        ck_assert_msg(m, "%s: demotion said for %lld, none came", want[i].partner,
                      (long long)want[i].due);
        ck_assert_msg(m->at == want[i].due, "%s: demotion said for %lld, came at %lld",
                      want[i].partner, (long long)want[i].due, (long long)m->at);
        ck_assert_str_eq(m->from, want[i].after);
        ck_assert_str_eq(m->to, want[i].to);
    }
    free(log);
}

static const said *said_of(const said *want, const char *partner)
{
    for (size_t i = 0; i < N_PARTNERS; i++)
        if (strcmp(want[i].partner, partner) == 0)
            return &want[i];
    ck_abort_msg("no row for %s", partner);
    return NULL;
}

/* Policies the candidate runs under; each is checked against loading. */
static const char *const candidate_policies[] = {
    "",
    "      max_drop: 4\n",
    "      grace: 30d\n",
    "      grace: 20d\n      review: quarterly\n",
    "      grandfather: 45d\n",
    "      approval: [Strategic]\n      grace: 5d\n",
    "      review_demotions: true\n      review_deadline: 7d\n",
    "      grace: 10d\n      review_demotions: [Strategic]\n      review_deadline: 3d\n",
};

START_TEST(test_simulate_on_a_cumulative_ladder_matches_loading_partner_by_partner)
{
    for (int v1_cumulative = 0; v1_cumulative <= 1; v1_cumulative++) {
        for (size_t k = 0; k < sizeof candidate_policies / sizeof *candidate_policies; k++) {
            engine *e = ladder_engine(v1_cumulative, "");
            said want[N_PARTNERS];
            check_against_loading(e, ladder_program("v2", true, candidate_policies[k], V2),
                                  T0 + 10 * DAY, want);
            /* The candidate's rule decides: a partner meeting a higher
             * tier's own `when` qualifies only as far as every lower one
             * holds. */
            ck_assert_str_eq(said_of(want, "nocontract")->qualifying, UNRANKED);
            ck_assert_str_eq(said_of(want, "lowcsat")->qualifying, "Registered");
            ck_assert_str_eq(said_of(want, "nocerts")->qualifying, "Selling");
            ck_assert_str_eq(said_of(want, "ownonly")->qualifying, "Registered");
            ck_assert_str_eq(said_of(want, "upgrade")->qualifying, "Specialist");
            ck_assert_str_eq(said_of(want, "rising")->qualifying, "Strategic");
            /* lowcsat holds Strategic on either rule under V1 and loses it
             * for Selling's csat alone, a criterion it inherits. */
            ck_assert_str_eq(said_of(want, "lowcsat")->before, "Strategic");
            ck_assert_int_ne(said_of(want, "lowcsat")->outcome, TD_OUTCOME_UNCHANGED);
            if (!v1_cumulative) {
                ck_assert_str_eq(said_of(want, "nocontract")->before, "Strategic");
                ck_assert_int_ne(said_of(want, "nocontract")->outcome, TD_OUTCOME_UNCHANGED);
            }
            engine_free(e);
        }
    }
}
END_TEST

START_TEST(test_simulate_at_once_says_who_drops_for_an_inherited_criterion)
{
    /* Immediate policy, every drop at once: the rows name the tier each
     * lands on, the one the cumulative rule gives. */
    engine *e = ladder_engine(false, "");
    said want[N_PARTNERS];
    check_against_loading(e, ladder_program("v2", true, "      max_drop: 4\n", V2), T0 + DAY, want);
    struct {
        const char *id, *after;
        td_outcome outcome;
    } expect[] = {
        {"climber", "Strategic", TD_OUTCOME_UNCHANGED},
        {"nocontract", UNRANKED, TD_OUTCOME_DEMOTED},
        {"lowcsat", "Registered", TD_OUTCOME_DEMOTED},
        {"nocerts", "Selling", TD_OUTCOME_DEMOTED},
        {"ownonly", "Registered", TD_OUTCOME_DEMOTED},
        {"rising", "Strategic", TD_OUTCOME_PROMOTED},
        {"upgrade", "Specialist", TD_OUTCOME_PROMOTED},
        {"selling", "Selling", TD_OUTCOME_UNCHANGED},
        {"registered", "Registered", TD_OUTCOME_UNCHANGED},
        {"nobody", UNRANKED, TD_OUTCOME_UNCHANGED},
    };
    for (size_t i = 0; i < sizeof expect / sizeof *expect; i++) {
        const said *w = said_of(want, expect[i].id);
        ck_assert_msg(strcmp(w->after, expect[i].after) == 0, "%s: after %s, want %s", expect[i].id,
                      w->after, expect[i].after);
        ck_assert_int_eq(w->outcome, expect[i].outcome);
        ck_assert_int_eq(w->due, TD_TIME_NONE);
    }
    engine_free(e);
}
END_TEST

/* ---- demotion review ---- */

START_TEST(test_simulate_under_review_dates_the_demotion_at_its_deadline_as_loading_does)
{
    struct {
        const char *policy;
        td_time due; /* when the demotion falls due and joins the queue */
        td_time deadline;
    } cases[] = {
        {"      review_demotions: true\n      review_deadline: 7d\n", T0 + 10 * DAY, 7 * DAY},
        {"      grace: 30d\n      review_demotions: true\n      review_deadline: 5d\n",
         T0 + 40 * DAY, 5 * DAY},
        {"      grace: 5d\n      review: quarterly\n      review_demotions: true\n",
         td_days_from_civil(2026, 4, 1) * DAY, 14 * DAY},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        engine *e = ladder_engine(false, "");
        td_time at = T0 + 10 * DAY, demotion_at = cases[c].due + cases[c].deadline;
        program *v2 = ladder_program("v2", true, cases[c].policy, V2);
        /* The row, and the sums `program load --dry-run` prints. */
        td_simulation sim;
        td_error err;
        td_page one = {.partner = "lowcsat", .limit = ROWS_MAX, .summary = true};
        ck_assert_int_eq(engine_simulate(e, v2, at, &one, &sim, &err), 0);
        ck_assert_uint_eq(sim.n_rows, 1);
        ck_assert_int_eq(sim.rows[0].outcome, TD_OUTCOME_DEMOTED_LATER);
        ck_assert_int_eq(sim.rows[0].due_reason, TD_DUE_REVIEW_DEADLINE);
        ck_assert_int_eq(sim.rows[0].demotion_at, demotion_at);
        ck_assert_str_eq(sim.rows[0].demotion_to, "Specialist");
        engine_simulation_free(&sim);
        td_page all = {.summary = true};
        ck_assert_int_eq(engine_simulate(e, v2, at, &all, &sim, &err), 0);
        td_impact im;
        ck_assert_int_eq(engine_program_impact(e, v2, at, &im), 0);
        assert_same_impact(&im, &sim.sums);
        /* Nobody drops at once: every demotion waits for a person first. */
        ck_assert_uint_eq(im.demoted, 0);
        ck_assert_uint_eq(im.demoted_later, 4); /* nocontract, lowcsat, nocerts, ownonly */
        ck_assert_int_eq(im.first_demotion, demotion_at);
        ck_assert_int_eq(im.last_demotion, demotion_at);
        uint64_t would = 0;
        ck_assert_int_eq(engine_program_notice_check(e, v2, at, &would, &err), 0);
        ck_assert_uint_eq(would, im.demoted + im.demoted_later);
        engine_simulation_free(&sim);

        /* Loaded for real, with nobody deciding. */
        ck_assert_int_eq(engine_program_apply(e, v2, at, NULL, NULL), 0);
        td_partner *p = engine_partner_find(e, "lowcsat");
        fx_log *log = calloc(1, sizeof *log);
        ck_assert_ptr_nonnull(log);
        run_clock(e, at, cases[c].due, log);
        td_tier_view v = fx_view(e, fx_find(e, "lowcsat"), LADDER);
        ck_assert(v.pending_demotion);
        ck_assert_int_eq(v.pending_deadline, demotion_at);
        ck_assert_str_eq(fx_name(v.pending), "Specialist");
        run_clock(e, cases[c].due, demotion_at - 1, log);
        ck_assert_str_eq(fx_view(e, fx_find(e, "lowcsat"), LADDER).tier, "Strategic");
        ck_assert_ptr_null(first_move(log, "lowcsat"));
        ck_assert_int_eq(engine_partner_next_due(e, p, demotion_at - 1), demotion_at);
        run_clock(e, demotion_at - 1, demotion_at, log);
        const fx_change *m = first_move(log, "lowcsat");
        ck_assert_ptr_nonnull(m);
        ck_assert_int_eq(m->at, demotion_at);
        ck_assert_str_eq(m->from, "Strategic");
        ck_assert_str_eq(m->to, "Specialist");
        ck_assert_str_eq(m->actor, TD_ACTOR_SYSTEM);
        ck_assert_str_eq(fx_view(e, fx_find(e, "lowcsat"), LADDER).tier, "Specialist");
        free(log);
        engine_free(e);
    }
}
END_TEST

START_TEST(test_simulate_reviews_only_the_listed_tiers)
{
    /* Demotions out of Strategic wait for a person; out of Specialist
     * (ownonly holds it under V1's old rule) they do not. */
    engine *e = ladder_engine(false, "");
    td_time at = T0 + DAY;
    said want[N_PARTNERS];
    check_against_loading(
        e,
        ladder_program("v2", true,
                       "      review_demotions: [Strategic]\n      review_deadline: 3d\n", V2),
        at, want);
    ck_assert_int_eq(said_of(want, "lowcsat")->outcome, TD_OUTCOME_DEMOTED_LATER);
    ck_assert_int_eq(said_of(want, "lowcsat")->why, TD_DUE_REVIEW_DEADLINE);
    ck_assert_int_eq(said_of(want, "lowcsat")->due, at + 3 * DAY);
    ck_assert_int_eq(said_of(want, "ownonly")->outcome, TD_OUTCOME_DEMOTED);
    ck_assert_str_eq(said_of(want, "ownonly")->after, "Selling");
    engine_free(e);
}
END_TEST

/* ---- calibrate ---- */

/* Registered needs a contract, Selling sellers and Specialist certs besides
 * arr, so on a cumulative ladder each tier's candidates are only the
 * partners still in at the tier below. */
static const char *const calib_head = "program: c\nversion: \"%s\"\n"
                                      "metrics:\n"
                                      "  arr: { agg: latest, event: arr }\n"
                                      "  sellers: { agg: latest, event: sellers }\n"
                                      "  certs: { agg: latest, event: certs }\n"
                                      "  contract: { agg: latest, event: contract }\n"
                                      "ladders:\n"
                                      "  resale:\n"
                                      "    partner_types: [reseller]\n"
                                      "    policy: { max_drop: 4 }\n";
static const char *const calib_tiers =
    "    tiers:\n"
    "      - { name: Registered, when: contract >= 1 }\n"
    "      - { name: Selling, when: arr >= 50k and sellers >= 3 }\n"
    "      - { name: Specialist, when: arr >= 250k and certs >= 2 }\n"
    "      - { name: Strategic, when: arr >= 1M }\n";

static program *calib_program(const char *version, const char *tiers)
{
    char yaml[YAML_MAX];
    int n = snprintf(yaml, sizeof yaml, calib_head, version);
    snprintf(yaml + n, sizeof yaml - (size_t)n, "%s", tiers);
    return fx_parse(yaml);
}

START_TEST(test_calibrate_on_a_cumulative_ladder_loaded_gives_the_target_within_one_partner)
{
    engine *e = fx_engine(calib_program("1", calib_tiers), T0);
    ck_assert(engine_program(e)->ladders[0].cumulative);
    /* Distinct heavy-tailed arr; one in ten lacks a contract, about three
     * in ten too few sellers, four in ten certs, drawn independently. */
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < GENERATED; i++) {
        char id[ID_MAX];
        snprintf(id, sizeof id, "g%04d", i);
        fx_partner(e, id, "reseller", T0, NULL);
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double u = (double)(x % 1000000 + 1) / 1000001.0;
        fx_event_at(e, id, "arr", 1000.0 / pow(u, 1.2) + i * 0.001, T0, NULL);
        fx_event_at(e, id, "contract", i % 10 == 3 ? 0 : 1, T0, NULL);
        fx_event_at(e, id, "sellers", (double)((x >> 20) % 10), T0, NULL);
        fx_event_at(e, id, "certs", (x >> 40) % 10 < 4 ? 0 : 2, T0, NULL);
    }
    td_calib_target t[] = {{TD_CALIB_UNRANKED, 20},
                           {"Registered", 30},
                           {"Selling", 25},
                           {"Specialist", 15},
                           {"Strategic", 10}};
    td_calibration c;
    td_error err;
    ck_assert_msg(engine_calibrate(e, LADDER, NULL, t, 5, T0, &c, &err) == 0, "%s", err.message);
    ck_assert(c.cumulative);
    ck_assert_str_eq(c.metric, "arr");
    for (size_t k = 0; k < c.n_tiers; k++)
        ck_assert_msg(c.tiers[k].note[0] == '\0', "%s: %s", c.tiers[k].tier, c.tiers[k].note);
    /* Load the fragment as pasted into the program file, then count. */
    program *pasted = calib_program("2", c.fragment);
    ck_assert(pasted->ladders[0].cumulative);
    engine_calibration_free(&c);
    td_time at = T0 + DAY;
    ck_assert_int_eq(engine_program_apply(e, pasted, at, NULL, NULL), 0);
    const ladder_def *ld = &engine_program(e)->ladders[0];
    uint64_t held[TD_MAX_TIERS + 1] = {0};
    for (int i = 0; i < GENERATED; i++) {
        char id[ID_MAX];
        snprintf(id, sizeof id, "g%04d", i);
        td_tier_view v = fx_view(e, fx_find(e, id), LADDER);
        ck_assert_str_eq(fx_name(v.tier), fx_name(v.qualifying)); /* every move happened at once */
        held[ladder_tier_index(ld, fx_name(v.tier)) + 1]++;
    }
    for (size_t k = 0; k < sizeof t / sizeof *t; k++) {
        double want = GENERATED * t[k].percent / 100;
        int tier =
            strcmp(t[k].tier, TD_CALIB_UNRANKED) == 0 ? -1 : ladder_tier_index(ld, t[k].tier);
        ck_assert_msg(fabs((double)held[tier + 1] - want) <= 1, "%s: %llu hold it, target %g",
                      t[k].tier, (unsigned long long)held[tier + 1], want);
    }
    engine_free(e);
}
END_TEST

/* ---- audit ---- */

/* Ladder resale with grace, so a partner keeps its tier for a while after
 * it stops qualifying. */
static engine *audit_engine(bool cumulative)
{
    engine *e = fx_engine(ladder_program("a", cumulative, "      grace: 90d\n", V1), T0);
    /* slipped and far held Specialist, then their csat fell: Selling's
     * criterion, which Specialist inherits. near is 5% short of
     * Specialist's own arr; ownonly meets Strategic's own `when` but is 2.5%
     * short of Selling's csat. */
    const partner_values at_first[] = {
        {"slipped", 1, 2000, 90, 3},  {"far", 1, 2000, 90, 3},         {"near", 1, 950, 90, 3},
        {"ownonly", 1, 30000, 78, 3}, {"nocontract", 1, 30000, 90, 3},
    };
    for (size_t i = 0; i < sizeof at_first / sizeof *at_first; i++) {
        const partner_values *pv = &at_first[i];
        fx_partner(e, pv->id, "reseller", T0, NULL);
        fx_event_at(e, pv->id, "contract", pv->contract, T0, NULL);
        fx_event_at(e, pv->id, "arr", pv->arr, T0, NULL);
        fx_event_at(e, pv->id, "csat", pv->csat, T0, NULL);
        fx_event_at(e, pv->id, "certs", pv->certs, T0, NULL);
    }
    fx_event_at(e, "slipped", "csat", 77, T0 + DAY, NULL);
    fx_event_at(e, "far", "csat", 50, T0 + DAY, NULL);
    fx_event_at(e, "nocontract", "contract", 0, T0 + DAY, NULL);
    return e;
}

static const td_audit_row *audit_row(const td_audit *a, const char *partner)
{
    for (size_t i = 0; i < a->n_rows; i++)
        if (strcmp(a->rows[i].partner, partner) == 0)
            return &a->rows[i];
    ck_abort_msg("no audit row for %s", partner);
    return NULL;
}

START_TEST(test_audit_on_a_cumulative_ladder_measures_inherited_criteria)
{
    engine *e = audit_engine(true);
    ck_assert_str_eq(fx_view(e, fx_find(e, "slipped"), LADDER).tier, "Specialist"); /* in grace */
    td_audit a;
    td_error err;
    td_page pg = {.limit = ROWS_MAX, .all_rows = true, .summary = true};
    ck_assert_int_eq(engine_audit(e, NULL, 0.10, T0 + 2 * DAY, &pg, &a, &err), 0);
    ck_assert_uint_eq(a.total.partners, 5);
    ck_assert_uint_eq(a.total.kinds[TD_AUDIT_HELD_ABOVE], 3);
    ck_assert_uint_eq(a.total.kinds[TD_AUDIT_NEAR_MISS], 3);
    ck_assert_uint_eq(a.total.in_line, 0);

    /* Held above: its own `when` still holds, an inherited one does not. */
    const td_audit_row *r = audit_row(&a, "slipped");
    ck_assert_str_eq(r->held, "Specialist");
    ck_assert_str_eq(r->qualifying, "Registered");
    ck_assert_uint_eq(r->flags, (1u << TD_AUDIT_HELD_ABOVE) | (1u << TD_AUDIT_NEAR_MISS));
    /* The near miss is the inherited criterion, named under its own tier. */
    ck_assert_str_eq(r->next_tier, "Selling");
    ck_assert_uint_eq(r->n_gaps, 1);
    ck_assert_str_eq(r->gaps[0].metric, "csat");
    ck_assert_str_eq(r->gaps[0].tier, "Selling");
    ck_assert_double_eq(r->gaps[0].missing, 3);

    r = audit_row(&a, "far");
    ck_assert_uint_eq(r->flags, 1u << TD_AUDIT_HELD_ABOVE);
    ck_assert_str_eq(r->gaps[0].tier, "Selling");

    r = audit_row(&a, "nocontract");
    ck_assert_str_eq(r->held, "Strategic");
    ck_assert_ptr_null(r->qualifying);
    ck_assert_uint_eq(r->flags, 1u << TD_AUDIT_HELD_ABOVE);
    ck_assert_str_eq(r->next_tier, "Registered");

    /* Never held higher: 2.5% short of Selling's csat is a near miss of
     * Selling, though Strategic's own `when` holds. */
    r = audit_row(&a, "ownonly");
    ck_assert_str_eq(r->held, "Registered");
    ck_assert_uint_eq(r->flags, 1u << TD_AUDIT_NEAR_MISS);
    ck_assert_str_eq(r->next_tier, "Selling");
    ck_assert_uint_eq(r->n_gaps, 1);
    ck_assert_str_eq(r->gaps[0].tier, "Selling");

    r = audit_row(&a, "near");
    ck_assert_str_eq(r->qualifying, "Selling");
    ck_assert_uint_eq(r->flags, 1u << TD_AUDIT_NEAR_MISS);
    ck_assert_str_eq(r->gaps[0].metric, "arr");
    engine_audit_free(&a);

    /* 2% is not near enough for slipped's 3.75% or ownonly's 2.5%. */
    ck_assert_int_eq(engine_audit(e, NULL, 0.02, T0 + 2 * DAY, &pg, &a, &err), 0);
    ck_assert_uint_eq(audit_row(&a, "slipped")->flags, 1u << TD_AUDIT_HELD_ABOVE);
    ck_assert_uint_eq(audit_row(&a, "ownonly")->flags, 0);
    engine_audit_free(&a);
    engine_free(e);
}
END_TEST

START_TEST(test_audit_on_the_old_rule_keeps_partners_whose_own_when_holds_in_line)
{
    /* The same partners on `cumulative: false`: the highest tier whose own
     * `when` holds qualifies, so slipped and far are in line. */
    engine *e = audit_engine(false);
    td_audit a;
    td_error err;
    td_page pg = {.limit = ROWS_MAX, .all_rows = true, .summary = true};
    ck_assert_int_eq(engine_audit(e, NULL, 0.10, T0 + 2 * DAY, &pg, &a, &err), 0);
    ck_assert_str_eq(audit_row(&a, "slipped")->qualifying, "Specialist");
    ck_assert_uint_eq(audit_row(&a, "slipped")->flags, 0);
    ck_assert_uint_eq(audit_row(&a, "far")->flags, 0);
    ck_assert_str_eq(audit_row(&a, "ownonly")->qualifying, "Strategic");
    ck_assert_uint_eq(audit_row(&a, "ownonly")->flags, 0);
    ck_assert_str_eq(audit_row(&a, "nocontract")->qualifying, "Strategic");
    ck_assert_uint_eq(audit_row(&a, "nocontract")->flags, 0);
    ck_assert_uint_eq(a.total.kinds[TD_AUDIT_HELD_ABOVE], 0);
    engine_audit_free(&a);
    engine_free(e);
}
END_TEST

static Suite *whatif_ladders_suite(void)
{
    Suite *s = suite_create("whatif_ladders");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_simulate_on_a_cumulative_ladder_matches_loading_partner_by_partner);
    tcase_add_test(tc, test_simulate_at_once_says_who_drops_for_an_inherited_criterion);
    tcase_add_test(tc,
                   test_simulate_under_review_dates_the_demotion_at_its_deadline_as_loading_does);
    tcase_add_test(tc, test_simulate_reviews_only_the_listed_tiers);
    tcase_add_test(
        tc, test_calibrate_on_a_cumulative_ladder_loaded_gives_the_target_within_one_partner);
    tcase_add_test(tc, test_audit_on_a_cumulative_ladder_measures_inherited_criteria);
    tcase_add_test(tc, test_audit_on_the_old_rule_keeps_partners_whose_own_when_holds_in_line);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(whatif_ladders_suite());
}
