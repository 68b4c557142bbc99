/* bench_simulate: the what-if operations in process at the target scale.
 *
 * N partners (default 1,000,000), each on 3 ladders, with heavy-tailed
 * data (Pareto-like ARR, a long tail of implementations and mutual
 * customers). Times, each once, against a target of 3 s:
 *   simulate   a candidate with changed thresholds on every ladder: the
 *              summary over everyone (sums and distributions) and the
 *              first page of rows, as the first Simulate call does;
 *   audit      every partner against the program in force, summary and
 *              first page, near = 10%;
 *   calibrate  one ladder, 50/30/15/5, including its own simulation.
 * Then, with no target set, the benefit queries services make:
 *   holders    who holds `mdf` (granted on all 3 ladders), every page of
 *              engine_benefit_holders at ListBenefitHolders' default page
 *              size, as a service walking `next` to the end does;
 *   batch      a GetBenefits-style batch of 10,000 random ids: each found
 *              and its grants read on every ladder, as the handler does.
 * Prints one figure per line. Usage: bench_simulate [N]. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/engine.h"
#include "engine/whatif.h"

#define DEFAULT_PARTNERS 1000000
#define START            ((td_time)1767225600) /* 2026-01-01 */
#define DAY              ((td_time)TD_SECONDS_PER_DAY)
#define TARGET_S         3.0
#define PAGE_ROWS        1000
#define YAML_MAX         4096
#define ID_LEN           32
#define HOLDERS_PAGE     10000 /* ListBenefitHolders' default limit */
#define BATCH_IDS        10000 /* GetBenefits' largest batch (TD_MAX_BATCH) */
#define NO_TARGET        0.0

static const char *const program_yaml =
    "program: bench\n"
    "version: \"%s\"\n"
    "metrics:\n"
    "  arr: { agg: sum, event: deal_closed, window: 365d }\n"
    "  sellers: { agg: latest, event: active_sellers }\n"
    "  certs: { agg: latest, event: certifications }\n"
    "  implementations: { agg: latest, event: implementations }\n"
    "  csat: { agg: latest, event: csat }\n"
    "  mutual: { agg: latest, event: mutual_customers }\n"
    "ladders:\n"
    "  reseller:\n"
    "    partner_types: [reseller]\n"
    "    gate: sellers >= 1\n"
    "    policy: { review: quarterly, grace: 90d, approval: [Strategic] }\n"
    "    tiers:\n"
    "      - { name: Registered, when: certs >= 1, benefits: [portal] }\n"
    "      - { name: Selling, when: arr >= %s and sellers >= 3, benefits: [margin_points=5] }\n"
    "      - { name: Specialist, when: arr >= %s and certs >= 2,"
    " benefits: [mdf, deal_reg_priority=2] }\n"
    "      - { name: Strategic, when: arr >= %s, benefits: [exec_sponsor] }\n"
    "  services:\n"
    "    partner_types: [services]\n"
    "    policy: { grace: 30d }\n"
    "    tiers:\n"
    "      - { name: Trained, when: implementations >= 1 }\n"
    "      - { name: Delivering, when: implementations >= %s and csat >= 0.8, benefits: [mdf] }\n"
    "      - { name: Certified, when: implementations >= %s }\n"
    "  technology:\n"
    "    partner_types: [technology]\n"
    "    tiers:\n"
    "      - { name: Listed, when: mutual >= 1 }\n"
    "      - { name: Validated, when: mutual >= %s }\n"
    "      - { name: CoSell, when: mutual >= %s and csat >= 0.7, benefits: [mdf] }\n";

static program *make_program(const char *version, const char *const *th)
{
    char yaml[YAML_MAX];
    snprintf(yaml, sizeof yaml, program_yaml, version, th[0], th[1], th[2], th[3], th[4], th[5],
             th[6]);
    program *p = NULL;
    td_diags diags = {0};
    td_error err;
    if (program_parse(yaml, strlen(yaml), "bench.yaml", &p, &diags, &err) != 0) {
        fprintf(stderr, "bench_simulate: %s %s\n", err.message, diags.n ? diags.items[0] : "");
        exit(1);
    }
    td_diags_free(&diags);
    return p;
}

static uint64_t rng_state = 88172645463325252ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Uniform in (0, 1]. */
static double unit(void)
{
    return (double)((rng() >> 11) + 1) / 9007199254740992.0;
}

/* Pareto with minimum xm and shape alpha: most small, a few huge. */
static double pareto(double xm, double alpha)
{
    return xm / pow(unit(), 1 / alpha);
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void ingest(engine *e, const char *partner, const char *metric, double value, td_time at)
{
    td_event ev = {"bench", "x", partner, metric, value, at, NULL};
    td_error err;
    if (engine_ingest(e, &ev, at, NULL, NULL, &err) != 0) {
        fprintf(stderr, "bench_simulate: ingest: %s\n", err.message);
        exit(1);
    }
}

/* One figure: against target_s, or NO_TARGET for a figure only measured. */
static void report(const char *what, double s, double target_s, const char *detail)
{
    char target[64] = "no target";
    if (target_s > NO_TARGET)
        snprintf(target, sizeof target, "target < %.0f s", target_s);
    printf("%-28s %.3f s   (%s%s%s)\n", what, s, target, detail ? "; " : "", detail ? detail : "");
}

/* Every page of "who holds mdf", as a service walking `next` to the end. */
static int bench_holders(engine *e)
{
    td_holder *page = malloc((HOLDERS_PAGE + TD_MAX_LADDERS - 1) * sizeof *page);
    if (!page) {
        fprintf(stderr, "bench_simulate: out of memory\n");
        return -1;
    }
    char after[ID_LEN] = "";
    size_t rows = 0, pages = 0;
    bool more = true;
    td_error err = {0};
    double t0 = seconds();
    while (more) {
        size_t k = engine_benefit_holders(e, "mdf", NULL, pages ? after : NULL, page, HOLDERS_PAGE,
                                          &more, &err);
        if (k == 0 && err.code != TD_OK) {
            fprintf(stderr, "bench_simulate: holders: %s\n", err.message);
            free(page);
            return -1;
        }
        td_partner_info info;
        if (k)
            engine_partner_info(page[k - 1].partner, &info);
        snprintf(after, sizeof after, "%s", k ? info.id : "");
        rows += k;
        pages++;
    }
    double t = seconds() - t0;
    free(page);
    char detail[128];
    snprintf(detail, sizeof detail, "%zu rows in %zu page%s of %d", rows, pages,
             pages == 1 ? "" : "s", HOLDERS_PAGE);
    report("benefit holders (all pages)", t, NO_TARGET, detail);
    return 0;
}

/* A GetBenefits batch: each id found and its grants read on every ladder. */
static int bench_batch(engine *e, size_t n)
{
    char(*ids)[ID_LEN] = malloc(BATCH_IDS * sizeof *ids);
    if (!ids) {
        fprintf(stderr, "bench_simulate: out of memory\n");
        return -1;
    }
    for (size_t i = 0; i < BATCH_IDS; i++)
        snprintf(ids[i], ID_LEN, "p%08zu", (size_t)(rng() % n));
    const program *prog = engine_program(e);
    size_t found = 0, grants = 0;
    double t0 = seconds();
    for (size_t i = 0; i < BATCH_IDS; i++) {
        const td_partner *p = engine_partner_find(e, ids[i]);
        if (!p)
            continue;
        found++;
        for (size_t l = 0; l < prog->n_ladders; l++) {
            size_t k;
            engine_partner_benefits(e, p, l, &k);
            grants += k;
        }
    }
    double t = seconds() - t0;
    free(ids);
    char detail[128];
    snprintf(detail, sizeof detail, "%zu ids found, %zu grants", found, grants);
    report("benefits batch (10,000 ids)", t, NO_TARGET, detail);
    return 0;
}

static int bench_benefits(engine *e, size_t n)
{
    return bench_holders(e) != 0 || bench_batch(e, n) != 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : DEFAULT_PARTNERS;
    if (n == 0) {
        fprintf(stderr, "usage: bench_simulate [partners]\n");
        return 2;
    }
    const char *const v1[] = {"50k", "250k", "1M", "3", "10", "3", "6"};
    const char *const v2[] = {"60k", "300k", "1.5M", "4", "12", "4", "8"};
    engine *e = engine_new();
    if (!e || engine_program_apply(e, make_program("1", v1), START, NULL, NULL) != 0) {
        fprintf(stderr, "bench_simulate: engine setup failed\n");
        return 1;
    }
    const char *types[] = {"reseller", "services", "technology"};
    td_error err;
    double t0 = seconds();
    td_time at = START + DAY;
    for (size_t i = 0; i < n; i++) {
        char id[ID_LEN];
        snprintf(id, sizeof id, "p%08zu", i);
        if (engine_partner_upsert(e, id, NULL, types, 3, START, NULL, NULL, &err) != 0) {
            fprintf(stderr, "bench_simulate: upsert: %s\n", err.message);
            return 1;
        }
        ingest(e, id, "active_sellers", (double)(rng() % 12), at);
        ingest(e, id, "certifications", (double)(rng() % 4), at);
        ingest(e, id, "deal_closed", floor(pareto(5000, 1.1)), at);
        ingest(e, id, "deal_closed", floor(pareto(5000, 1.1)), at);
        ingest(e, id, "implementations", floor(pareto(1, 1.5)) - 1, at);
        ingest(e, id, "csat", (double)(rng() % 1001) / 1000.0, at);
        ingest(e, id, "mutual_customers", floor(pareto(1, 1.2)) - 1, at);
    }
    engine_touched_take(e, NULL, NULL);
    td_time now = START + 30 * DAY;
    engine_evaluate(e, NULL, now, NULL, NULL);
    engine_touched_take(e, NULL, NULL);
    printf("partners                     %zu on 3 ladders (built in %.1f s)\n", n, seconds() - t0);

    program *cand = make_program("2", v2);
    td_simulation sim;
    td_page pg = {.limit = PAGE_ROWS, .summary = true};
    t0 = seconds();
    if (engine_simulate(e, cand, now, &pg, &sim, &err) != 0) {
        fprintf(stderr, "bench_simulate: simulate: %s\n", err.message);
        return 1;
    }
    double t_sim = seconds() - t0;
    char detail[256];
    snprintf(detail, sizeof detail,
             "%llu promoted, %llu queued, %llu demoted, %llu demoted later, %llu unchanged",
             (unsigned long long)sim.sums.promoted, (unsigned long long)sim.sums.queued,
             (unsigned long long)sim.sums.demoted, (unsigned long long)sim.sums.demoted_later,
             (unsigned long long)sim.sums.unchanged);
    report("simulate (summary + page)", t_sim, TARGET_S, detail);
    engine_simulation_free(&sim);

    td_audit a;
    t0 = seconds();
    if (engine_audit(e, NULL, TD_AUDIT_NEAR_DEFAULT, now, &pg, &a, &err) != 0) {
        fprintf(stderr, "bench_simulate: audit: %s\n", err.message);
        return 1;
    }
    double t_audit = seconds() - t0;
    snprintf(detail, sizeof detail,
             "%llu pairs: %llu held above, %llu held below, %llu near misses, %llu gate failing",
             (unsigned long long)a.total.partners,
             (unsigned long long)a.total.kinds[TD_AUDIT_HELD_ABOVE],
             (unsigned long long)a.total.kinds[TD_AUDIT_HELD_BELOW],
             (unsigned long long)a.total.kinds[TD_AUDIT_NEAR_MISS],
             (unsigned long long)a.total.kinds[TD_AUDIT_GATE_FAILING]);
    report("audit (summary + page)", t_audit, TARGET_S, detail);
    engine_audit_free(&a);

    td_calib_target targets[] = {
        {"Registered", 50}, {"Selling", 30}, {"Specialist", 15}, {"Strategic", 5}};
    td_calibration c;
    t0 = seconds();
    if (engine_calibrate(e, "reseller", NULL, targets, 4, now, &c, &err) != 0) {
        fprintf(stderr, "bench_simulate: calibrate: %s\n", err.message);
        return 1;
    }
    double t_cal = seconds() - t0;
    size_t used = 0;
    for (size_t t = 0; t < c.n_tiers && used < sizeof detail; t++)
        used += (size_t)snprintf(detail + used, sizeof detail - used, "%s%s %s %.0f", t ? ", " : "",
                                 c.tiers[t].tier, cmp_op_str(c.tiers[t].op), c.tiers[t].threshold);
    report("calibrate (with simulate)", t_cal, TARGET_S, detail);
    engine_calibration_free(&c);

    if (bench_benefits(e, n) != 0)
        return 1;

    program_free(cand);
    engine_free(e);
    return 0;
}
