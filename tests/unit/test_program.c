/* Program files: the docs/program.md example builds the right structure, the
 * shipped example parses cleanly, and every validation problem is reported
 * as its exact "file:line:column: message", all of them in one pass, with
 * nothing built from a refused file. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/program.h"
#include "testutil.h"

#define FILE_NAME "f.yaml"

/* docs/program.md, "Example", verbatim. */
static const char design_example[] =
    "program: acme-partners\n"
    "version: \"2027.1\"            # label chosen by the operator\n"
    "effective: 2027-01-01        # optional; default: when loaded\n"
    "notice: 90d                  # optional; a version that can demote anyone must be\n"
    "                             # loaded at least this long before `effective`\n"
    "\n"
    "metrics:                     # name: { agg, event, window }\n"
    "  arr:             { agg: sum,      event: deal_closed,  window: 365d }\n"
    "  deals:           { agg: count,    event: deal_closed,  window: 365d }\n"
    "  active_sellers:  { agg: latest }                       # event defaults to the metric "
    "name\n"
    "  sales_certs:     { agg: distinct, event: certification, window: lifetime }\n"
    "  csat:            { agg: avg,      window: 365d }\n"
    "  contract_signed: { agg: latest }\n"
    "  fit:                                                   # weighted scorecard, 0..100\n"
    "    score:\n"
    "      - { metric: arr,         weight: 60, target: 250000 }\n"
    "      - { metric: sales_certs, weight: 40, target: 4 }\n"
    "\n"
    "ladders:\n"
    "  reseller:\n"
    "    partner_types: [reseller]\n"
    "    gate: active_sellers >= 1              # must hold for every tier above the first\n"
    "    policy:\n"
    "      review: annual@01-01                 # immediate | quarterly | annual@MM-DD\n"
    "      grace: 90d                           # time below criteria before a demotion\n"
    "      max_drop: 1                          # tiers lost per demotion at most\n"
    "      approval: [Strategic]                # promotions into these tiers wait for a person\n"
    "      grandfather: 90d                     # after a new version takes effect, nobody is\n"
    "                                           # demoted because of it for this long\n"
    "    tiers:                                 # lowest first\n"
    "      - name: Registered\n"
    "        when: contract_signed >= 1 and sales_certs >= 1\n"
    "        benefits: [portal, deal_registration]\n"
    "      - name: Selling\n"
    "        when: arr >= 50k and active_sellers >= 3\n"
    "        benefits: [marketing_assets, co_sell_intros, margin_points=5]\n"
    "      - name: Specialist\n"
    "        when: arr >= 250k and sales_certs >= 2\n"
    "        benefits: [mdf, partner_manager]\n"
    "      - name: Strategic\n"
    "        when: arr >= 1M and fit >= 80\n"
    "        benefits: [exec_sponsor, joint_business_plan, roadmap_input]\n";

/* The smallest valid program; variants below change one line of it.
 * Lines: 1 program, 2 version, 3 metrics, 4 a, 5 b, 6 ladders, 7 l,
 * 8 partner_types, 9 tiers, 10 first tier, 11 second tier. */
#define HEAD        "program: p\nversion: \"1\"\n"
#define METRICS     "metrics:\n  a: { agg: sum }\n  b: { agg: count, window: 30d }\n"
#define LADDER_HEAD "ladders:\n  l:\n    partner_types: [x]\n    tiers:\n"
#define TIERS       "      - { name: T1, when: a >= 1 }\n      - { name: T2, when: b >= 2 }\n"

static program *parse_ok(const char *yaml)
{
    program *p = NULL;
    td_diags d = {0};
    td_error err = {0};
    int rc = program_parse(yaml, strlen(yaml), FILE_NAME, &p, &d, &err);
    ck_assert_msg(rc == 0, "%s; first: %s", err.message, d.n ? d.items[0] : "");
    ck_assert_uint_eq(d.n, 0);
    ck_assert_ptr_nonnull(p);
    td_diags_free(&d);
    return p;
}

/* Asserts the file is refused with exactly these problems, in this order. */
static void refused_n(const char *yaml, size_t len, const char *const *want, size_t n_want)
{
    program *p = NULL;
    td_diags d = {0};
    td_error err = {0};
    ck_assert_int_eq(program_parse(yaml, len, FILE_NAME, &p, &d, &err), -TD_INVALID_ARGUMENT);
    ck_assert_ptr_null(p);
    ck_assert_int_eq(err.code, TD_INVALID_ARGUMENT);
    for (size_t i = 0; i < d.n && i < n_want; i++)
        ck_assert_str_eq(d.items[i], want[i]);
    ck_assert_msg(d.n == n_want, "%zu problems, want %zu; last: %s", d.n, n_want,
                  d.n ? d.items[d.n - 1] : "");
    char summary[64];
    snprintf(summary, sizeof summary, "%zu problem%s in " FILE_NAME, n_want,
             n_want == 1 ? "" : "s");
    ck_assert_str_eq(err.message, summary);
    td_diags_free(&d);
}

static void refused(const char *yaml, const char *want)
{
    refused_n(yaml, strlen(yaml), &want, 1);
}

START_TEST(test_design_example_builds_the_reseller_ladder)
{
    program *p = parse_ok(design_example);
    ck_assert_str_eq(p->name, "acme-partners");
    ck_assert_str_eq(p->version, "2027.1");
    ck_assert_int_eq(p->effective, 1798761600); /* 2027-01-01T00:00:00Z */
    ck_assert_int_eq(p->notice, 90 * TD_SECONDS_PER_DAY);
    ck_assert_uint_eq(p->n_metrics, 7);

    const metric_def *arr = &p->metrics[program_metric_index(p, "arr")];
    ck_assert_int_eq(arr->agg, AGG_SUM);
    ck_assert_str_eq(arr->event, "deal_closed");
    ck_assert_int_eq(arr->window.kind, WIN_DAYS);
    ck_assert_int_eq(arr->window.days, 365);
    const metric_def *sellers = &p->metrics[program_metric_index(p, "active_sellers")];
    ck_assert_int_eq(sellers->agg, AGG_LATEST);
    ck_assert_str_eq(sellers->event, "active_sellers");
    ck_assert_int_eq(sellers->window.kind, WIN_LIFETIME);
    ck_assert_int_eq(p->metrics[program_metric_index(p, "sales_certs")].agg, AGG_DISTINCT);
    ck_assert_int_eq(p->metrics[program_metric_index(p, "csat")].agg, AGG_AVG);

    const metric_def *fit = &p->metrics[program_metric_index(p, "fit")];
    ck_assert_int_eq(fit->agg, AGG_SCORE);
    ck_assert_ptr_null(fit->event);
    ck_assert_uint_eq(fit->n_terms, 2);
    ck_assert_int_eq(fit->terms[0].metric, program_metric_index(p, "arr"));
    ck_assert_double_eq(fit->terms[0].weight, 60);
    ck_assert_double_eq(fit->terms[0].target, 250000);
    ck_assert_int_eq(fit->terms[1].metric, program_metric_index(p, "sales_certs"));
    ck_assert_double_eq(fit->terms[1].target, 4);

    ck_assert_uint_eq(p->n_ladders, 1);
    const ladder_def *l = &p->ladders[0];
    ck_assert_str_eq(l->name, "reseller");
    ck_assert_uint_eq(l->n_types, 1);
    ck_assert_str_eq(l->partner_types[0], "reseller");
    ck_assert_str_eq(l->gate_src, "active_sellers >= 1");
    ck_assert_int_eq(l->gate->kind, EXPR_CMP);
    ck_assert_int_eq(l->policy.review, REVIEW_ANNUAL);
    ck_assert_uint_eq(l->policy.review_month, 1);
    ck_assert_uint_eq(l->policy.review_day, 1);
    ck_assert_int_eq(l->policy.grace, 90 * TD_SECONDS_PER_DAY);
    ck_assert_int_eq(l->policy.max_drop, 1);
    ck_assert_int_eq(l->policy.grandfather, 90 * TD_SECONDS_PER_DAY);
    ck_assert_uint_eq(l->policy.approval_mask, 1u << 3);

    ck_assert_uint_eq(l->n_tiers, 4);
    const char *names[] = {"Registered", "Selling", "Specialist", "Strategic"};
    for (int t = 0; t < 4; t++) {
        ck_assert_str_eq(l->tiers[t].name, names[t]);
        ck_assert_int_eq(ladder_tier_index(l, names[t]), t);
    }
    ck_assert_str_eq(l->tiers[1].when_src, "arr >= 50k and active_sellers >= 3");
    ck_assert_int_eq(l->tiers[1].when->kind, EXPR_AND);
    ck_assert_double_eq(l->tiers[1].when->a->threshold, 50000);
    ck_assert_double_eq(l->tiers[3].when->a->threshold, 1000000);
    ck_assert_uint_eq(l->tiers[1].n_benefits, 3);
    ck_assert_str_eq(l->tiers[1].benefits[2], "margin_points=5");

    /* The mask: every metric the ladder reads, fit's inputs included, and
     * not `deals` or `csat`, which nothing on it reads. */
    uint64_t want = 0;
    const char *read[] = {"arr", "active_sellers", "sales_certs", "contract_signed", "fit"};
    for (int i = 0; i < 5; i++)
        want |= UINT64_C(1) << program_metric_index(p, read[i]);
    ck_assert_uint_eq(l->metric_mask, want);
    ck_assert_int_eq(p->longest_window_days, 365);
    program_free(p);
}
END_TEST

START_TEST(test_shipped_example_programs_parse_cleanly)
{
    static const char *const files[] = {"partners.yaml", "partners-2027.2.yaml"};
    const char *root = getenv("TIERD_SOURCE_ROOT");
    ck_assert_msg(root != NULL, "TIERD_SOURCE_ROOT is not set");
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/examples/programs/%s", root, files[i]);
        FILE *f = fopen(path, "rb");
        ck_assert_msg(f != NULL, "cannot open %s", path);
        char *buf = malloc(TD_MAX_PROGRAM_BYTES + 1);
        size_t n = fread(buf, 1, TD_MAX_PROGRAM_BYTES + 1, f);
        fclose(f);
        program *p = NULL;
        td_diags d = {0};
        td_error err = {0};
        int rc = program_parse(buf, n, path, &p, &d, &err);
        ck_assert_msg(rc == 0, "%s; first: %s", err.message, d.n ? d.items[0] : "");
        ck_assert_uint_ge(p->n_ladders, 1);
        for (size_t l = 0; l < p->n_ladders; l++)
            ck_assert_uint_ge(p->ladders[l].n_tiers, 1);
        program_free(p);
        td_diags_free(&d);
        free(buf);
    }
}
END_TEST

START_TEST(test_defaults_fill_what_the_file_leaves_out)
{
    program *p = parse_ok(HEAD METRICS LADDER_HEAD TIERS);
    ck_assert_int_eq(p->effective, TD_TIME_NONE);
    ck_assert_int_eq(p->notice, 0);
    ck_assert_str_eq(p->metrics[0].event, "a");
    ck_assert_int_eq(p->metrics[0].window.kind, WIN_LIFETIME);
    const ladder_def *l = &p->ladders[0];
    ck_assert_ptr_null(l->gate);
    ck_assert_ptr_null(l->gate_src);
    ck_assert_int_eq(l->policy.review, REVIEW_IMMEDIATE);
    ck_assert_int_eq(l->policy.grace, 0);
    ck_assert_int_eq(l->policy.max_drop, 1);
    ck_assert_int_eq(l->policy.grandfather, 0);
    ck_assert_uint_eq(l->policy.approval_mask, 0);
    ck_assert_uint_eq(l->tiers[0].n_benefits, 0);
    ck_assert_uint_eq(l->metric_mask, 3);
    ck_assert_int_eq(p->longest_window_days, 30);
    program_free(p);
}
END_TEST

START_TEST(test_plain_versions_are_kept_as_written)
{
    program *p = parse_ok("program: p\nversion: 2027.10\n" METRICS LADDER_HEAD TIERS);
    ck_assert_str_eq(p->version, "2027.10");
    program_free(p);
}
END_TEST

START_TEST(test_retention_horizon_counts_quarters_and_years_generously)
{
    program *p = parse_ok(HEAD "metrics:\n  a: { agg: sum, window: quarter }\n"
                               "  b: { agg: sum, window: lifetime }\n" LADDER_HEAD TIERS);
    ck_assert_int_eq(p->longest_window_days, 92);
    program_free(p);
    p = parse_ok(
        HEAD
        "metrics:\n  a: { agg: sum, window: year }\n  b: { agg: sum, window: 90d }\n" LADDER_HEAD
            TIERS);
    ck_assert_int_eq(p->longest_window_days, 366);
    program_free(p);
    p = parse_ok(HEAD "metrics:\n  a: { agg: sum }\n  b: { agg: max }\n" LADDER_HEAD TIERS);
    ck_assert_int_eq(p->longest_window_days, 0);
    program_free(p);
}
END_TEST

START_TEST(test_a_partner_type_may_sit_on_two_ladders)
{
    program *p = parse_ok(HEAD METRICS "ladders:\n"
                                       "  l:\n    partner_types: [x, y]\n    tiers:\n" TIERS
                                       "  m:\n    partner_types: [y]\n    tiers:\n" TIERS);
    ck_assert_int_eq(program_ladder_index(p, "m"), 1);
    ck_assert_int_eq(program_ladder_index(p, "n"), -1);
    char *both[] = {"z", "y"};
    char *only_x[] = {"x"};
    char *none[] = {"q"};
    ck_assert(ladder_matches_types(&p->ladders[0], both, 2));
    ck_assert(ladder_matches_types(&p->ladders[1], both, 2));
    ck_assert(ladder_matches_types(&p->ladders[0], only_x, 1));
    ck_assert(!ladder_matches_types(&p->ladders[1], only_x, 1));
    ck_assert(!ladder_matches_types(&p->ladders[0], none, 1));
    ck_assert(!ladder_matches_types(&p->ladders[0], NULL, 0));
    program_free(p);
}
END_TEST

START_TEST(test_zero_durations_and_leap_day_reviews_are_accepted)
{
    program *p = parse_ok(HEAD METRICS LADDER_HEAD TIERS
                          "    policy: { review: annual@02-29, grace: 0, grandfather: 2w, "
                          "approval: [T2, T1], max_drop: 3 }\n");
    const ladder_policy *pol = &p->ladders[0].policy;
    ck_assert_int_eq(pol->review, REVIEW_ANNUAL);
    ck_assert_uint_eq(pol->review_month, 2);
    ck_assert_uint_eq(pol->review_day, 29);
    ck_assert_int_eq(pol->grace, 0);
    ck_assert_int_eq(pol->grandfather, 14 * TD_SECONDS_PER_DAY);
    ck_assert_uint_eq(pol->approval_mask, 3);
    ck_assert_int_eq(pol->max_drop, 3);
    program_free(p);
    p = parse_ok(HEAD METRICS LADDER_HEAD TIERS "    policy: { review: quarterly }\n");
    ck_assert_int_eq(p->ladders[0].policy.review, REVIEW_QUARTERLY);
    program_free(p);
}
END_TEST

START_TEST(test_ladders_are_cumulative_unless_the_file_says_false)
{
    program *p = parse_ok(HEAD METRICS LADDER_HEAD TIERS);
    ck_assert(p->ladders[0].cumulative);
    program_free(p);
    p = parse_ok(HEAD METRICS "ladders:\n  l:\n    partner_types: [x]\n    cumulative: false\n"
                              "    tiers:\n" TIERS);
    ck_assert(!p->ladders[0].cumulative);
    program_free(p);
    p = parse_ok(HEAD METRICS "ladders:\n  l:\n    partner_types: [x]\n    cumulative: yes\n"
                              "    tiers:\n" TIERS);
    ck_assert(p->ladders[0].cumulative);
    program_free(p);
    refused(HEAD METRICS "ladders:\n  l:\n    partner_types: [x]\n    cumulative: sometimes\n"
                         "    tiers:\n" TIERS,
            "f.yaml:9:17: cumulative must be true or false, not 'sometimes'");
    refused(HEAD METRICS "ladders:\n  l:\n    partner_types: [x]\n    cumulative: [true]\n"
                         "    tiers:\n" TIERS,
            "f.yaml:9:17: cumulative must be true or false, found a list");
}
END_TEST

START_TEST(test_unknown_keys_are_refused_at_every_level)
{
    refused(HEAD "colour: red\n" METRICS LADDER_HEAD TIERS,
            "f.yaml:3:1: unknown key 'colour' in the program (expected program, version, "
            "effective, notice, metrics, ladders, time_zone, kpi)");
    refused(HEAD "metrics:\n  a: { agg: sum, windw: 30d }\n  b: { agg: sum }\n" LADDER_HEAD TIERS,
            "f.yaml:4:18: unknown key 'windw' in metric 'a' (expected agg, event, window, "
            "score)");
    refused(HEAD METRICS
            "ladders:\n  l:\n    partner_types: [x]\n    gates: a >= 1\n    tiers:\n" TIERS,
            "f.yaml:9:5: unknown key 'gates' in ladder 'l' (expected partner_types, "
            "partner_filter, gate, "
            "cumulative, policy, tiers)");
    refused(HEAD METRICS LADDER_HEAD TIERS "    policy: { grase: 90d }\n",
            "f.yaml:12:15: unknown key 'grase' in policy of ladder 'l' (expected review, grace, "
            "max_drop, approval, grandfather, review_demotions, review_deadline)");
    refused(HEAD METRICS LADDER_HEAD "      - { name: T1, when: a >= 1, perks: [x] }\n",
            "f.yaml:10:35: unknown key 'perks' in tier 1 of ladder 'l' (expected name, when, "
            "benefits)");
    refused(HEAD "metrics:\n  a: { agg: sum }\n  b:\n    score:\n"
                 "      - { metric: a, weight: 100, target: 1, cap: 2 }\n" LADDER_HEAD TIERS,
            "f.yaml:7:46: unknown key 'cap' in term 1 of score 'b' (expected metric, weight, "
            "target)");
}
END_TEST

START_TEST(test_duplicate_keys_are_refused)
{
    refused("program: p\nprogram: q\nversion: \"1\"\n" METRICS LADDER_HEAD TIERS,
            "f.yaml:2:1: duplicate key 'program' in the program");
    refused(
        HEAD
        "metrics:\n  a: { agg: sum }\n  b: { agg: sum }\n  a: { agg: count }\n" LADDER_HEAD TIERS,
        "f.yaml:6:3: duplicate metric 'a'");
    refused(HEAD METRICS "ladders:\n  l:\n    partner_types: [x]\n    tiers:\n" TIERS
                         "  l:\n    partner_types: [y]\n    tiers:\n" TIERS,
            "f.yaml:12:3: duplicate ladder 'l'");
    refused(HEAD METRICS LADDER_HEAD TIERS "      - { name: T1, when: b >= 5 }\n",
            "f.yaml:12:17: duplicate tier 'T1' in ladder 'l'");
}
END_TEST

START_TEST(test_missing_required_keys_are_named)
{
    refused("version: \"1\"\n" METRICS LADDER_HEAD TIERS,
            "f.yaml:1:1: missing 'program' (the program's name)");
    refused("program: p\n" METRICS LADDER_HEAD TIERS, "f.yaml:1:1: missing 'version'");
    refused(HEAD METRICS, "f.yaml:1:1: missing 'ladders'");
    refused(HEAD METRICS "ladders:\n  l:\n    tiers:\n" TIERS,
            "f.yaml:8:5: ladder 'l' is missing 'partner_types'");
    refused(HEAD METRICS "ladders:\n  l:\n    partner_types: [x]\n",
            "f.yaml:8:5: ladder 'l' is missing 'tiers'");
    refused(HEAD METRICS LADDER_HEAD "      - { when: a >= 1 }\n",
            "f.yaml:10:9: tier 1 of ladder 'l' is missing 'name'");
    refused(HEAD METRICS LADDER_HEAD "      - { name: T1 }\n",
            "f.yaml:10:9: tier 1 of ladder 'l' is missing 'when'");
    refused(HEAD "metrics:\n  a: { window: 30d }\n" LADDER_HEAD
                 "      - { name: T1, when: a >= 1 }\n",
            "f.yaml:4:6: metric 'a' is missing 'agg' (sum, count, avg, min, max, latest, "
            "distinct) or 'score'");
    refused(HEAD "metrics:\n  a: { agg: sum }\n  b:\n    score:\n      - { metric: a, weight: 100 "
                 "}\n" LADDER_HEAD TIERS,
            "f.yaml:7:9: term 1 of score 'b' is missing 'target'");
}
END_TEST

START_TEST(test_missing_metrics_also_leaves_expressions_unresolved)
{
    const char *want[] = {
        "f.yaml:1:1: missing 'metrics'",
        "f.yaml:7:27: unknown metric 'a'",
    };
    refused_n(HEAD LADDER_HEAD "      - { name: T1, when: a >= 1 }\n",
              strlen(HEAD LADDER_HEAD "      - { name: T1, when: a >= 1 }\n"), want, 2);
}
END_TEST

START_TEST(test_wrong_types_are_named_with_what_was_found)
{
    refused(HEAD
            "metrics:\n  a: { agg: sum, window: [30d] }\n  b: { agg: sum }\n" LADDER_HEAD TIERS,
            "f.yaml:4:26: window of metric 'a' must be a single value, found a list");
    /* With no metrics, the expressions cannot resolve theirs either. */
    const char *no_metrics[] = {
        "f.yaml:3:10: metrics must be a mapping, found a list",
        "f.yaml:8:27: unknown metric 'a'",
        "f.yaml:9:27: unknown metric 'b'",
    };
    const char *yaml = HEAD "metrics: [a, b]\n" LADDER_HEAD TIERS;
    refused_n(yaml, strlen(yaml), no_metrics, 3);
    refused(HEAD "metrics:\n  a: sum\n  b: { agg: sum }\n" LADDER_HEAD TIERS,
            "f.yaml:4:6: metric 'a' must be a mapping, found a scalar");
    refused(HEAD METRICS "ladders:\n  l:\n    partner_types: x\n    tiers:\n" TIERS,
            "f.yaml:8:20: partner_types must be a list, found a scalar");
    refused(HEAD METRICS LADDER_HEAD "      - { name: T1, when: a >= 1, benefits: portal }\n",
            "f.yaml:10:45: benefits must be a list, found a scalar");
    refused(HEAD METRICS LADDER_HEAD "      - { name: [T1], when: a >= 1 }\n",
            "f.yaml:10:17: tier name must be a single value, found a list");
    refused(HEAD METRICS "ladders:\n  l:\n    partner_types: [x]\n    tiers: { name: T1 }\n",
            "f.yaml:9:12: tiers of ladder 'l' must be a list, found a mapping");
    refused("program: p\nversion:\n" METRICS LADDER_HEAD TIERS, "f.yaml:2:9: version has no value");
    refused("program: p\nversion: \"\"\n" METRICS LADDER_HEAD TIERS,
            "f.yaml:2:10: version must not be empty");
}
END_TEST

START_TEST(test_bad_aggregates_and_windows_are_refused)
{
    refused(HEAD "metrics:\n  a: { agg: median }\n  b: { agg: sum }\n" LADDER_HEAD TIERS,
            "f.yaml:4:13: unknown agg 'median' for metric 'a' (expected sum, count, avg, min, "
            "max, latest, distinct)");
    refused(HEAD "metrics:\n  a: { agg: sum, window: 5 }\n  b: { agg: sum }\n" LADDER_HEAD TIERS,
            "f.yaml:4:26: bad window '5' for metric 'a': expected Nd (N days, 1..3660), quarter, "
            "year or lifetime");
    refused(HEAD "metrics:\n  a: { agg: sum, window: 0d }\n  b: { agg: sum }\n" LADDER_HEAD TIERS,
            "f.yaml:4:26: bad window '0d' for metric 'a': N must be 1..3660 days");
    refused(HEAD
            "metrics:\n  a: { agg: sum, window: 3661d }\n  b: { agg: sum }\n" LADDER_HEAD TIERS,
            "f.yaml:4:26: bad window '3661d' for metric 'a': N must be 1..3660 days");
    refused(HEAD "metrics:\n  a: { agg: sum, window: -5d }\n  b: { agg: sum }\n" LADDER_HEAD TIERS,
            "f.yaml:4:26: bad window '-5d' for metric 'a': expected Nd (N days, 1..3660), "
            "quarter, year or lifetime");
    refused(HEAD "metrics:\n  a: { agg: sum, window: 12w }\n  b: { agg: sum }\n" LADDER_HEAD TIERS,
            "f.yaml:4:26: bad window '12w' for metric 'a': expected Nd (N days, 1..3660), "
            "quarter, year or lifetime");
    refused(HEAD "metrics:\n  a: { agg: score }\n  b: { agg: sum }\n" LADDER_HEAD TIERS,
            "f.yaml:4:13: score metric 'a' is missing 'score'");
}
END_TEST

#define SCORE_HEAD HEAD "metrics:\n  a: { agg: sum }\n  b: { agg: sum }\n  s:\n    score:\n"

START_TEST(test_score_weights_must_add_up_to_100)
{
    refused(SCORE_HEAD "      - { metric: a, weight: 60, target: 10 }\n"
                       "      - { metric: b, weight: 30, target: 10 }\n" LADDER_HEAD TIERS,
            "f.yaml:8:7: weights of score 's' add up to 90, not 100");
    /* Fractions that sum to 100 within floating error are fine. */
    program *p =
        parse_ok(SCORE_HEAD "      - { metric: a, weight: 33.3, target: 10 }\n"
                            "      - { metric: b, weight: 66.7, target: 10 }\n" LADDER_HEAD TIERS);
    program_free(p);
}
END_TEST

START_TEST(test_score_terms_must_name_plain_known_metrics)
{
    refused(SCORE_HEAD "      - { metric: zz, weight: 100, target: 10 }\n" LADDER_HEAD TIERS,
            "f.yaml:8:19: unknown metric 'zz' in score 's'");
    refused(HEAD "metrics:\n  a: { agg: sum }\n  b:\n    score:\n"
                 "      - { metric: a, weight: 100, target: 1 }\n"
                 "  s:\n    score:\n"
                 "      - { metric: b, weight: 100, target: 10 }\n" LADDER_HEAD TIERS,
            "f.yaml:10:19: score 's' cannot use score metric 'b'");
    refused(SCORE_HEAD "      - { metric: a, weight: 50, target: 10 }\n"
                       "      - { metric: a, weight: 50, target: 10 }\n" LADDER_HEAD TIERS,
            "f.yaml:9:19: metric 'a' appears twice in score 's'");
    refused(SCORE_HEAD
            "      - { metric: a, weight: 100, target: 10 }\n    window: 30d\n" LADDER_HEAD TIERS,
            "f.yaml:9:13: score metric 's' takes no window (its inputs have their own)");
}
END_TEST

START_TEST(test_score_targets_and_weights_must_be_positive_numbers)
{
    refused(SCORE_HEAD "      - { metric: a, weight: 100, target: 0 }\n" LADDER_HEAD TIERS,
            "f.yaml:8:43: target '0' in score 's' must be a number above 0");
    refused(SCORE_HEAD "      - { metric: a, weight: 100, target: -4 }\n" LADDER_HEAD TIERS,
            "f.yaml:8:43: target '-4' in score 's' must be a number above 0");
    refused(SCORE_HEAD "      - { metric: a, weight: 100, target: .nan }\n" LADDER_HEAD TIERS,
            "f.yaml:8:43: target '.nan' in score 's' must be a number above 0");
    refused(SCORE_HEAD "      - { metric: a, weight: 100, target: 1e999 }\n" LADDER_HEAD TIERS,
            "f.yaml:8:43: target '1e999' in score 's' must be a number above 0");
    refused(SCORE_HEAD "      - { metric: a, weight: lots, target: 4 }\n" LADDER_HEAD TIERS,
            "f.yaml:8:30: weight 'lots' in score 's' must be a number above 0");
}
END_TEST

START_TEST(test_empty_ladders_and_partner_types_are_refused)
{
    refused(HEAD METRICS "ladders:\n  l:\n    partner_types: [x]\n    tiers: []\n",
            "f.yaml:9:12: ladder 'l' has no tiers");
    refused(HEAD METRICS "ladders:\n  l:\n    partner_types: []\n    tiers:\n" TIERS,
            "f.yaml:8:20: ladder 'l' has empty partner_types");
    refused(HEAD METRICS "ladders:\n  l:\n    partner_types: [x, x]\n    tiers:\n" TIERS,
            "f.yaml:8:24: 'x' appears twice in partner_types");
    refused(HEAD METRICS "ladders: {}\n", "f.yaml:6:10: ladders must name at least one ladder");
}
END_TEST

START_TEST(test_unknown_metrics_in_expressions_point_into_the_expression)
{
    refused(HEAD METRICS LADDER_HEAD "      - { name: T1, when: a >= 1 and zz > 2 }\n",
            "f.yaml:10:38: unknown metric 'zz'");
    refused(HEAD METRICS LADDER_HEAD "      - name: T1\n        when: \"a >= 1 or zz > 2\"\n",
            "f.yaml:11:26: unknown metric 'zz'");
    refused(HEAD METRICS LADDER_HEAD "      - name: T1\n        when: 'zz > 2'\n",
            "f.yaml:11:16: unknown metric 'zz'");
    /* A folded block: YAML rewrote the text, so the node's place is given. */
    refused(HEAD METRICS LADDER_HEAD "      - name: T1\n        when: >\n          a >= 1 and\n"
                                     "          zz > 2\n",
            "f.yaml:11:15: unknown metric 'zz'");
    refused(HEAD METRICS "ladders:\n  l:\n    partner_types: [x]\n    gate: nope >= 1\n"
                         "    tiers:\n" TIERS,
            "f.yaml:9:11: unknown metric 'nope'");
    refused(HEAD METRICS LADDER_HEAD "      - { name: T1, when: a >= }\n",
            "f.yaml:10:31: expected a number after '>='");
}
END_TEST

START_TEST(test_every_unknown_metric_in_one_expression_is_reported)
{
    const char *want[] = {
        "f.yaml:10:27: unknown metric 'p'",
        "f.yaml:10:38: unknown metric 'q'",
    };
    const char *yaml = HEAD METRICS LADDER_HEAD "      - { name: T1, when: p >= 1 and q > 2 }\n";
    refused_n(yaml, strlen(yaml), want, 2);
}
END_TEST

START_TEST(test_bad_policy_values_are_refused)
{
    refused(HEAD METRICS LADDER_HEAD TIERS "    policy: { review: weekly }\n",
            "f.yaml:12:23: bad review 'weekly' for ladder 'l': expected immediate, quarterly or "
            "annual@MM-DD");
    refused(HEAD METRICS LADDER_HEAD TIERS "    policy: { review: annual@02-30 }\n",
            "f.yaml:12:23: review 'annual@02-30' of ladder 'l' names no real date");
    refused(HEAD METRICS LADDER_HEAD TIERS "    policy: { review: annual@13-01 }\n",
            "f.yaml:12:23: review 'annual@13-01' of ladder 'l' names no real date");
    refused(HEAD METRICS LADDER_HEAD TIERS "    policy: { review: annual@1-1 }\n",
            "f.yaml:12:23: bad review 'annual@1-1' for ladder 'l': expected immediate, quarterly "
            "or annual@MM-DD");
    refused(HEAD METRICS LADDER_HEAD TIERS "    policy: { grace: soon }\n",
            "f.yaml:12:22: grace: bad duration 'soon': expected a positive whole number followed "
            "by s, m, h, d or w (e.g. 90d)");
    refused(HEAD METRICS LADDER_HEAD TIERS "    policy: { grandfather: -1d }\n",
            "f.yaml:12:28: grandfather: bad duration '-1d': expected a positive whole number "
            "followed by s, m, h, d or w (e.g. 90d)");
    refused(HEAD METRICS LADDER_HEAD TIERS "    policy: { max_drop: 0 }\n",
            "f.yaml:12:25: max_drop '0' must be a whole number from 1 to 1000");
    refused(HEAD METRICS LADDER_HEAD TIERS "    policy: { max_drop: 1.5 }\n",
            "f.yaml:12:25: max_drop '1.5' must be a whole number from 1 to 1000");
    refused(HEAD METRICS LADDER_HEAD TIERS "    policy: { approval: [T3] }\n",
            "f.yaml:12:26: approval names tier 'T3', which ladder 'l' does not have");
}
END_TEST

START_TEST(test_bad_effective_and_notice_are_refused)
{
    refused(HEAD "effective: 2027-02-30\n" METRICS LADDER_HEAD TIERS,
            "f.yaml:3:12: effective: bad time '2027-02-30': day 30 is out of range for February "
            "2027");
    refused(HEAD "effective: soon\n" METRICS LADDER_HEAD TIERS,
            "f.yaml:3:12: effective: bad time 'soon': expected YYYY-MM-DD or "
            "YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm)");
    refused(HEAD "notice: 90\n" METRICS LADDER_HEAD TIERS,
            "f.yaml:3:9: notice: bad duration '90': expected a positive whole number followed by "
            "s, m, h, d or w (e.g. 90d)");
    program *p = parse_ok(HEAD "effective: 2027-01-01T09:00:00+01:00\n" METRICS LADDER_HEAD TIERS);
    ck_assert_int_eq(p->effective, 1798761600 + 8 * 3600);
    program_free(p);
}
END_TEST

START_TEST(test_names_are_limited_in_length_and_characters)
{
    char yaml[2048];
    char longname[TD_MAX_NAME + 2];
    memset(longname, 'm', TD_MAX_NAME + 1);
    longname[TD_MAX_NAME + 1] = '\0';
    snprintf(yaml, sizeof yaml,
             HEAD "metrics:\n  %s: { agg: sum }\n  a: { agg: sum }\n  b: { agg: "
                  "sum }\n" LADDER_HEAD TIERS,
             longname);
    char want[512];
    snprintf(want, sizeof want, "f.yaml:4:3: metric name '%.60s...' is longer than 128 bytes",
             longname);
    refused(yaml, want);
    /* Exactly the limit is fine. */
    longname[TD_MAX_NAME] = '\0';
    snprintf(yaml, sizeof yaml,
             HEAD "metrics:\n  %s: { agg: sum }\n  a: { agg: sum }\n  b: { agg: "
                  "sum }\n" LADDER_HEAD TIERS,
             longname);
    program_free(parse_ok(yaml));

    refused(
        HEAD
        "metrics:\n  a b: { agg: sum }\n  a: { agg: sum }\n  b: { agg: sum }\n" LADDER_HEAD TIERS,
        "f.yaml:4:3: metric name 'a b' may hold only letters, digits, '_', '.' and '-'");
    refused(HEAD
            "metrics:\n  a: { agg: sum, event: \"deal closed\" }\n  b: { agg: sum }\n" LADDER_HEAD
                TIERS,
            "f.yaml:4:25: event name 'deal closed' may hold only letters, digits, '_', '.' and "
            "'-'");
    refused(HEAD METRICS LADDER_HEAD "      - { name: \"T\\x01\", when: a >= 1 }\n",
            "f.yaml:10:17: tier name must not contain control characters");
    /* Tier and ladder names may be any printable UTF-8. */
    program *p = parse_ok(HEAD METRICS "ladders:\n  \"Réseau\":\n    partner_types: [x]\n    "
                                       "tiers:\n      - { name: Lead Implementer, when: a >= 1 "
                                       "}\n");
    ck_assert_str_eq(p->ladders[0].name, "Réseau");
    ck_assert_str_eq(p->ladders[0].tiers[0].name, "Lead Implementer");
    program_free(p);
}
END_TEST

START_TEST(test_yaml_syntax_errors_carry_their_mark)
{
    refused(HEAD "metrics: { a: [ }\n",
            "f.yaml:3:17: YAML: did not find expected node content while parsing a flow node");
    refused(HEAD "metrics:\n  a: { agg: sum\n",
            "f.yaml:5:1: YAML: did not find expected ',' or '}' while parsing a flow mapping");
}
END_TEST

START_TEST(test_documents_that_are_not_one_mapping_are_refused)
{
    refused("- a\n- b\n", "f.yaml:1:1: a program must be a mapping (program, version, metrics, "
                          "ladders), found a list");
    refused("", "f.yaml:1:1: empty file: a program needs program, version, metrics and ladders");
    refused("# only a comment\n",
            "f.yaml:1:1: empty file: a program needs program, version, metrics and ladders");
    refused(HEAD METRICS LADDER_HEAD TIERS "---\nprogram: q\n",
            "f.yaml:12:1: more than one YAML document: a program file holds exactly one");
}
END_TEST

START_TEST(test_anchors_and_aliases_are_refused)
{
    refused(HEAD "metrics:\n  a: &m { agg: sum }\n  b: *m\n" LADDER_HEAD TIERS,
            "f.yaml:4:6: YAML anchors and aliases are not allowed in a program file");
    /* The classic expansion bomb never gets walked. */
    refused("a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
            "c: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c]\n",
            "f.yaml:1:4: YAML anchors and aliases are not allowed in a program file");
}
END_TEST

START_TEST(test_oversized_and_non_utf8_files_are_refused_before_parsing)
{
    size_t big = TD_MAX_PROGRAM_BYTES + 1;
    char *text = malloc(big);
    memset(text, '#', big);
    const char *want = "f.yaml:1:1: file is 1048577 bytes, more than the limit of 1048576";
    refused_n(text, big, &want, 1);
    free(text);

    refused(HEAD "metrics:\n  a: { agg: s\xff }\n", "f.yaml:4:14: not valid UTF-8 (byte 0xFF)");
    refused(HEAD "# caf\xc3\n", "f.yaml:3:6: not valid UTF-8 (byte 0xC3)");
    refused("# \xc0\xaf\n", "f.yaml:1:3: not valid UTF-8 (byte 0xC0)");
    refused("# \xed\xa0\x80\n", "f.yaml:1:3: not valid UTF-8 (byte 0xED)");
    const char nul[] = "program: p\0\n";
    const char *want_nul = "f.yaml:1:11: contains a NUL byte";
    refused_n(nul, sizeof nul - 1, &want_nul, 1);
}
END_TEST

START_TEST(test_oversized_mappings_and_lists_are_refused)
{
    char *yaml = malloc(16384);
    size_t n = 0;
    for (int i = 0; i < 65; i++)
        n += (size_t)sprintf(yaml + n, "k%d: 1\n", i);
    refused(yaml, "f.yaml:1:1: the program has 65 keys, more than the limit of 64");

    n = (size_t)sprintf(yaml, HEAD METRICS LADDER_HEAD "      - name: T1\n        when: a >= 1\n"
                                                       "        benefits: [");
    for (int i = 0; i < 257; i++)
        n += (size_t)sprintf(yaml + n, "%sb%d", i ? ", " : "", i);
    sprintf(yaml + n, "]\n");
    refused(yaml, "f.yaml:12:19: benefits has 257 items, more than the limit of 256");
    free(yaml);
}
END_TEST

START_TEST(test_several_problems_are_all_reported_in_one_pass)
{
    const char *yaml = "program: p\n"
                       "version: \"1\"\n"
                       "effective: 2027-13-01\n"
                       "metrics:\n"
                       "  a: { agg: summ }\n"
                       "  b: { agg: sum, window: 5 }\n"
                       "  s:\n"
                       "    score:\n"
                       "      - { metric: a, weight: 50, target: 0 }\n"
                       "ladders:\n"
                       "  l:\n"
                       "    partner_types: []\n"
                       "    policy: { review: annual@02-31, max_drop: 0 }\n"
                       "    tiers:\n"
                       "      - { name: T1, when: zz >= 1 }\n"
                       "      - { name: T1, when: a >= 1, extra: 1 }\n";
    const char *want[] = {
        "f.yaml:3:12: effective: bad time '2027-13-01': month 13 is out of range (01..12)",
        "f.yaml:5:13: unknown agg 'summ' for metric 'a' (expected sum, count, avg, min, max, "
        "latest, distinct)",
        "f.yaml:6:26: bad window '5' for metric 'b': expected Nd (N days, 1..3660), quarter, "
        "year or lifetime",
        "f.yaml:9:42: target '0' in score 's' must be a number above 0",
        "f.yaml:9:7: weights of score 's' add up to 50, not 100",
        "f.yaml:12:20: ladder 'l' has empty partner_types",
        "f.yaml:15:27: unknown metric 'zz'",
        "f.yaml:16:35: unknown key 'extra' in tier 2 of ladder 'l' (expected name, when, "
        "benefits)",
        "f.yaml:16:17: duplicate tier 'T1' in ladder 'l'",
        "f.yaml:13:23: review 'annual@02-31' of ladder 'l' names no real date",
        "f.yaml:13:47: max_drop '0' must be a whole number from 1 to 1000",
    };
    refused_n(yaml, strlen(yaml), want, sizeof want / sizeof want[0]);
}
END_TEST

START_TEST(test_a_refused_file_leaves_out_untouched_and_diags_optional)
{
    program *p = NULL;
    td_error err = {0};
    const char *yaml = HEAD METRICS "ladders: 5\n";
    ck_assert_int_eq(program_parse(yaml, strlen(yaml), "x.yaml", &p, NULL, &err),
                     -TD_INVALID_ARGUMENT);
    ck_assert_ptr_null(p);
    ck_assert_str_eq(err.message, "1 problem in x.yaml");
    /* NULL text is an empty file, not a crash. */
    ck_assert_int_eq(program_parse(NULL, 0, NULL, &p, NULL, &err), -TD_INVALID_ARGUMENT);
    ck_assert_ptr_null(p);
    ck_assert_str_eq(err.message, "1 problem in program");
    program_free(NULL);
    td_diags_free(NULL);
}
END_TEST

START_TEST(test_diags_grow_without_bound_and_free_cleanly)
{
    td_diags d = {0};
    for (int i = 0; i < 100; i++)
        td_diags_add(&d, "f", i + 1, 2, "problem %d", i);
    ck_assert_uint_eq(d.n, 100);
    ck_assert_str_eq(d.items[99], "f:100:2: problem 99");
    td_diags_free(&d);
    ck_assert_uint_eq(d.n, 0);
    ck_assert_ptr_null(d.items);
}
END_TEST

START_TEST(test_benefits_split_into_name_and_value_keeping_the_text)
{
    program *p = parse_ok(design_example);
    const tier_def *selling = &p->ladders[0].tiers[1];
    ck_assert_uint_eq(selling->n_benefits, 3);
    ck_assert_str_eq(selling->benefits[2], "margin_points=5");
    ck_assert_str_eq(selling->parsed[2].name, "margin_points");
    ck_assert_str_eq(selling->parsed[2].value, "5");
    ck_assert(selling->parsed[2].has_number);
    ck_assert_double_eq(selling->parsed[2].number, 5);
    ck_assert_str_eq(selling->parsed[0].name, "marketing_assets");
    ck_assert_ptr_null(selling->parsed[0].value);
    ck_assert(!selling->parsed[0].has_number);
    program_free(p);
    /* Numbers are decimal numbers as written; anything else stays text. */
    p = parse_ok(HEAD METRICS LADDER_HEAD
                 "      - { name: T1, when: a >= 1, benefits: [\"a = -2.5\", b=1e3, c=5k, d=50%, "
                 "e=0x10, f=gold, g=inf, h=1.5.2, i=x=y, 'j='''] }\n");
    const tier_def *t = &p->ladders[0].tiers[0];
    ck_assert_uint_eq(t->n_benefits, 10);
    ck_assert_str_eq(t->benefits[0], "a = -2.5");
    ck_assert_str_eq(t->parsed[0].name, "a");
    ck_assert_str_eq(t->parsed[0].value, "-2.5");
    ck_assert(t->parsed[0].has_number);
    ck_assert_double_eq(t->parsed[0].number, -2.5);
    ck_assert(t->parsed[1].has_number);
    ck_assert_double_eq(t->parsed[1].number, 1000);
    for (size_t i = 2; i <= 7; i++)
        ck_assert_msg(!t->parsed[i].has_number, "%s", t->benefits[i]);
    ck_assert_str_eq(t->parsed[2].value, "5k");
    ck_assert_str_eq(t->parsed[8].name, "i");
    ck_assert_str_eq(t->parsed[8].value, "x=y");
    ck_assert_str_eq(t->parsed[9].value, "'");
    program_free(p);
}
END_TEST

START_TEST(test_a_tier_grants_its_own_benefits_and_every_lower_tiers)
{
    program *p = parse_ok(design_example);
    const ladder_def *l = &p->ladders[0];
    size_t n;
    const benefit_grant *g = ladder_tier_grants(l, 3, &n);
    ck_assert_uint_eq(n, 10);
    ck_assert_str_eq(g[0].def->name, "portal");
    ck_assert_str_eq(g[0].tier, "Registered");
    ck_assert_str_eq(g[4].def->name, "margin_points");
    ck_assert_str_eq(g[4].tier, "Selling");
    ck_assert_str_eq(g[9].def->name, "roadmap_input");
    ck_assert_str_eq(g[9].tier, "Strategic");
    ck_assert_uint_eq(l->tiers[0].n_grants, 2);
    ck_assert_ptr_null(ladder_tier_grants(l, -1, &n));
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_nonnull(ladder_tier_grant(l, 2, "mdf"));
    ck_assert_ptr_null(ladder_tier_grant(l, 1, "mdf"));
    program_free(p);
    /* A higher tier's value for a name wins, in that tier's place. */
    p = parse_ok(HEAD METRICS LADDER_HEAD
                 "      - { name: T1, when: a >= 1, benefits: [margin=2, portal] }\n"
                 "      - { name: T2, when: b >= 2, benefits: [margin=5, mdf] }\n");
    g = ladder_tier_grants(&p->ladders[0], 1, &n);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(g[0].def->name, "portal");
    ck_assert_str_eq(g[1].def->name, "margin");
    ck_assert_str_eq(g[1].def->value, "5");
    ck_assert_str_eq(g[1].tier, "T2");
    ck_assert_str_eq(ladder_tier_grant(&p->ladders[0], 0, "margin")->def->value, "2");
    program_free(p);
}
END_TEST

START_TEST(test_bad_benefits_are_refused_where_written)
{
    const char *want[] = {
        "f.yaml:10:54: benefit '=5' has no name before '='",
        ("f.yaml:10:58: benefit 'mdf=' has no value after '=' (write 'mdf' alone for a benefit "
         "without one)"),
        "f.yaml:10:64: benefit 'portal' appears twice in tier 1 of ladder 'l'",
        "f.yaml:11:51: benefit 'm' appears twice in tier 2 of ladder 'l'",
    };
    const char *yaml = HEAD METRICS LADDER_HEAD
        "      - { name: T1, when: a >= 1, benefits: [portal, =5, mdf=, portal=1] }\n"
        "      - { name: T2, when: b >= 2, benefits: [m=1, m = 2] }\n";
    refused_n(yaml, strlen(yaml), want, 4);
    refused(HEAD METRICS LADDER_HEAD "      - { name: T1, when: a >= 1, benefits: [\" = \"] }\n",
            "f.yaml:10:46: benefit ' = ' has no name before '='");
}
END_TEST

/* ---- KPI history: time_zone and kpi (docs/program.md) ---- */

START_TEST(test_kpi_keys_default_to_daily_utc_without_breakdown)
{
    program *p = parse_ok(HEAD METRICS LADDER_HEAD TIERS);
    ck_assert_int_eq(p->kpi_period.kind, TD_PERIOD_DAY);
    ck_assert_int_eq(p->kpi_period.offset, 0);
    ck_assert_uint_eq(p->n_kpi_by, 0);
    program_free(p);
}
END_TEST

START_TEST(test_kpi_keys_set_zone_period_and_attributes)
{
    program *p =
        parse_ok(HEAD METRICS LADDER_HEAD TIERS
                 "time_zone: \"-05:30\"\nkpi: {period: quarter, by: [region, size.band]}\n");
    ck_assert_int_eq(p->kpi_period.kind, TD_PERIOD_QUARTER);
    ck_assert_int_eq(p->kpi_period.offset, -(5 * 3600 + 30 * 60));
    ck_assert_uint_eq(p->n_kpi_by, 2);
    ck_assert_str_eq(p->kpi_by[0], "region");
    ck_assert_str_eq(p->kpi_by[1], "size.band");
    program_free(p);
    p = parse_ok(HEAD METRICS LADDER_HEAD TIERS "kpi: {period: month, by: []}\n");
    ck_assert_int_eq(p->kpi_period.kind, TD_PERIOD_MONTH);
    ck_assert_uint_eq(p->n_kpi_by, 0);
    program_free(p);
}
END_TEST

START_TEST(test_bad_kpi_keys_are_refused_where_written)
{
    refused(HEAD METRICS LADDER_HEAD TIERS "time_zone: Europe/Paris\n",
            FILE_NAME ":12:12: time_zone: time zone 'Europe/Paris': only UTC and fixed offsets "
                      "such as +02:00 or -05:30 are supported (no IANA names such as Europe/Paris: "
                      "their offsets change with daylight saving time)");
    refused(HEAD METRICS LADDER_HEAD TIERS "time_zone: \"+15:00\"\n",
            FILE_NAME ":12:12: time_zone: time zone '+15:00' is out of range (-14:00 to +14:00)");
    refused(HEAD METRICS LADDER_HEAD TIERS "kpi: {period: 2d}\n",
            FILE_NAME ":12:15: kpi.period: period '2d' is not one of 1d, 7d, 30d, month, quarter");
    refused(HEAD METRICS LADDER_HEAD TIERS "kpi: {every: 1d}\n",
            FILE_NAME ":12:7: unknown key 'every' in kpi (expected period, by)");
    refused(HEAD METRICS LADDER_HEAD TIERS "kpi: {by: [region, region]}\n",
            FILE_NAME ":12:20: kpi.by names attribute 'region' twice");
    refused(HEAD METRICS LADDER_HEAD TIERS "kpi: {by: [\"re gion\"]}\n",
            FILE_NAME ":12:12: kpi.by: attribute 're gion' must be 1 to 64 bytes of letters, "
                      "digits, '_', '.' and '-'");
    refused(HEAD METRICS LADDER_HEAD TIERS "kpi: {by: [a, b, c, d, e]}\n",
            FILE_NAME ":12:11: kpi.by has 5 attributes, more than the limit of 4");
    refused(HEAD METRICS LADDER_HEAD TIERS "kpi: daily\n",
            FILE_NAME ":12:6: kpi must be a mapping, found a scalar");
}
END_TEST

static Suite *program_suite(void)
{
    Suite *s = suite_create("program");
    TCase *tc = tcase_create("program");
    tcase_add_test(tc, test_design_example_builds_the_reseller_ladder);
    tcase_add_test(tc, test_shipped_example_programs_parse_cleanly);
    tcase_add_test(tc, test_defaults_fill_what_the_file_leaves_out);
    tcase_add_test(tc, test_plain_versions_are_kept_as_written);
    tcase_add_test(tc, test_retention_horizon_counts_quarters_and_years_generously);
    tcase_add_test(tc, test_a_partner_type_may_sit_on_two_ladders);
    tcase_add_test(tc, test_zero_durations_and_leap_day_reviews_are_accepted);
    tcase_add_test(tc, test_unknown_keys_are_refused_at_every_level);
    tcase_add_test(tc, test_ladders_are_cumulative_unless_the_file_says_false);
    tcase_add_test(tc, test_duplicate_keys_are_refused);
    tcase_add_test(tc, test_missing_required_keys_are_named);
    tcase_add_test(tc, test_missing_metrics_also_leaves_expressions_unresolved);
    tcase_add_test(tc, test_wrong_types_are_named_with_what_was_found);
    tcase_add_test(tc, test_bad_aggregates_and_windows_are_refused);
    tcase_add_test(tc, test_score_weights_must_add_up_to_100);
    tcase_add_test(tc, test_score_terms_must_name_plain_known_metrics);
    tcase_add_test(tc, test_score_targets_and_weights_must_be_positive_numbers);
    tcase_add_test(tc, test_empty_ladders_and_partner_types_are_refused);
    tcase_add_test(tc, test_unknown_metrics_in_expressions_point_into_the_expression);
    tcase_add_test(tc, test_every_unknown_metric_in_one_expression_is_reported);
    tcase_add_test(tc, test_bad_policy_values_are_refused);
    tcase_add_test(tc, test_bad_effective_and_notice_are_refused);
    tcase_add_test(tc, test_names_are_limited_in_length_and_characters);
    tcase_add_test(tc, test_yaml_syntax_errors_carry_their_mark);
    tcase_add_test(tc, test_documents_that_are_not_one_mapping_are_refused);
    tcase_add_test(tc, test_anchors_and_aliases_are_refused);
    tcase_add_test(tc, test_oversized_and_non_utf8_files_are_refused_before_parsing);
    tcase_add_test(tc, test_oversized_mappings_and_lists_are_refused);
    tcase_add_test(tc, test_several_problems_are_all_reported_in_one_pass);
    tcase_add_test(tc, test_a_refused_file_leaves_out_untouched_and_diags_optional);
    tcase_add_test(tc, test_diags_grow_without_bound_and_free_cleanly);
    tcase_add_test(tc, test_benefits_split_into_name_and_value_keeping_the_text);
    tcase_add_test(tc, test_a_tier_grants_its_own_benefits_and_every_lower_tiers);
    tcase_add_test(tc, test_bad_benefits_are_refused_where_written);
    tcase_add_test(tc, test_kpi_keys_default_to_daily_utc_without_breakdown);
    tcase_add_test(tc, test_kpi_keys_set_zone_period_and_attributes);
    tcase_add_test(tc, test_bad_kpi_keys_are_refused_where_written);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(program_suite());
}
