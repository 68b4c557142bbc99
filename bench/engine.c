/* bench_engine: the engine in process at the target scale.
 *
 * N partners (default 1,000,000), each on 3 ladders reading 8 metrics fed
 * by 6 event streams. Measures (a) incremental ingest with re-evaluation
 * (10 events per partner spread over a year, timestamps mostly increasing,
 * 5% late by up to 30 days), (b) one full evaluation of every partner, and
 * (c) resident memory per partner, split into window buckets and the rest.
 * Prints one figure per line with its target. Usage: bench_engine [N]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine_state.h"

#define DEFAULT_PARTNERS      1000000
#define EVENTS_PER_PARTNER    10
#define START                 ((td_time)1767225600) /* 2026-01-01 */
#define YEAR_SECONDS          (365 * (td_time)TD_SECONDS_PER_DAY)
#define LATE_PERCENT          5
#define LATE_MAX_SECONDS      (30 * (td_time)TD_SECONDS_PER_DAY)
#define CERT_KINDS            6
#define TARGET_EVENTS_PER_S   1e6
#define TARGET_EVAL_S         1.0
#define TARGET_OVERHEAD_BYTES 1024.0
#define TURN_EVENTS           1000
/* One partner holding a history as long as the heaviest in a real program
 * (a distributor with 400k deals a year), its events arriving out of order:
 * the cost per event must not grow with that history. */
#define HEAVY_EVENTS 400000

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d) {
        perror("strdup");
        exit(1);
    }
    return d;
}

static void *zalloc(size_t n)
{
    void *p = calloc(1, n);
    if (!p) {
        perror("calloc");
        exit(1);
    }
    return p;
}

static expr *cmp(int metric, cmp_op op, double threshold)
{
    expr *x = zalloc(sizeof *x);
    x->kind = EXPR_CMP;
    x->metric = metric;
    x->op = op;
    x->threshold = threshold;
    return x;
}

static expr *and2(expr *a, expr *b)
{
    expr *x = zalloc(sizeof *x);
    x->kind = EXPR_AND;
    x->a = a;
    x->b = b;
    return x;
}

static void metric(program *p, const char *name, metric_agg agg, const char *event,
                   window_kind kind, int days)
{
    metric_def *m = &p->metrics[p->n_metrics++];
    m->name = xstrdup(name);
    m->agg = agg;
    m->event = xstrdup(event);
    m->window = (metric_window){kind, days};
}

static void mask_add(void *ud, int m)
{
    *(uint64_t *)ud |= 1ull << m;
}

static ladder_def *ladder(program *p, const char *name, const char *type, expr *gate)
{
    ladder_def *l = &p->ladders[p->n_ladders++];
    l->name = xstrdup(name);
    l->partner_types = zalloc(sizeof *l->partner_types);
    l->partner_types[0] = xstrdup(type);
    l->n_types = 1;
    l->gate = gate;
    l->gate_src = gate ? xstrdup("gate") : NULL;
    l->policy.max_drop = 1;
    l->tiers = zalloc(TD_MAX_TIERS * sizeof *l->tiers);
    if (gate)
        expr_metrics(gate, mask_add, &l->metric_mask);
    return l;
}

static void tier(ladder_def *l, const char *name, expr *when)
{
    tier_def *t = &l->tiers[l->n_tiers++];
    t->name = xstrdup(name);
    t->when_src = xstrdup("when");
    t->when = when;
    expr_metrics(when, mask_add, &l->metric_mask);
}

enum { M_ARR, M_DEALS, M_SELLERS, M_CERTS, M_CSAT, M_IMPL, M_MUTUAL, M_FIT };
static const char *const event_names[] = {"deal_closed", "active_sellers", "certification",
                                          "csat",        "implementation", "mutual_customer"};
#define N_EVENT_NAMES (sizeof event_names / sizeof event_names[0])

static program *bench_program(void)
{
    program *p = zalloc(sizeof *p);
    p->name = xstrdup("bench");
    p->version = xstrdup("1");
    p->metrics = zalloc(TD_MAX_METRICS * sizeof *p->metrics);
    p->ladders = zalloc(TD_MAX_LADDERS * sizeof *p->ladders);
    metric(p, "arr", AGG_SUM, "deal_closed", WIN_DAYS, 365);
    metric(p, "deals", AGG_COUNT, "deal_closed", WIN_DAYS, 365);
    metric(p, "active_sellers", AGG_LATEST, "active_sellers", WIN_LIFETIME, 0);
    metric(p, "sales_certs", AGG_DISTINCT, "certification", WIN_LIFETIME, 0);
    metric(p, "csat", AGG_AVG, "csat", WIN_DAYS, 365);
    metric(p, "implementations", AGG_COUNT, "implementation", WIN_YEAR, 0);
    metric(p, "mutual_customers", AGG_COUNT, "mutual_customer", WIN_DAYS, 90);
    metric_def *fit = &p->metrics[p->n_metrics++];
    fit->name = xstrdup("fit");
    fit->agg = AGG_SCORE;
    fit->terms = zalloc(2 * sizeof *fit->terms);
    fit->terms[0] = (score_term){M_ARR, 60, 250000};
    fit->terms[1] = (score_term){M_CERTS, 40, 4};
    fit->n_terms = 2;
    p->longest_window_days = 366;

    ladder_def *r = ladder(p, "reseller", "reseller", cmp(M_SELLERS, CMP_GE, 1));
    tier(r, "Registered", cmp(M_CERTS, CMP_GE, 1));
    tier(r, "Selling", and2(cmp(M_ARR, CMP_GE, 50000), cmp(M_SELLERS, CMP_GE, 3)));
    tier(r, "Specialist", and2(cmp(M_ARR, CMP_GE, 250000), cmp(M_CERTS, CMP_GE, 2)));
    tier(r, "Strategic", and2(cmp(M_ARR, CMP_GE, 1e6), cmp(M_FIT, CMP_GE, 80)));
    r->metric_mask |= 1ull << M_ARR | 1ull << M_CERTS;
    ladder_def *s = ladder(p, "services", "services", NULL);
    tier(s, "Trained", cmp(M_IMPL, CMP_GE, 1));
    tier(s, "Delivering", and2(cmp(M_IMPL, CMP_GE, 3), cmp(M_CSAT, CMP_GE, 0.8)));
    tier(s, "Certified", and2(cmp(M_IMPL, CMP_GE, 10), cmp(M_DEALS, CMP_GE, 2)));
    ladder_def *t = ladder(p, "technology", "technology", NULL);
    tier(t, "Listed", cmp(M_MUTUAL, CMP_GE, 1));
    tier(t, "Validated", cmp(M_MUTUAL, CMP_GE, 3));
    tier(t, "CoSell", and2(cmp(M_MUTUAL, CMP_GE, 6), cmp(M_CSAT, CMP_GE, 0.7)));
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

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, res = 0;
    if (!f || fscanf(f, "%ld %ld", &size, &res) != 2)
        res = 0;
    if (f)
        fclose(f);
    return (double)res * (double)sysconf(_SC_PAGESIZE);
}

/* "p%08zu" without printf: the daemon finds ids hot in its request buffer,
 * so the bench must not pay a cache miss (or printf) per event for them. */
static void partner_id(char *out, size_t i)
{
    out[0] = 'p';
    for (int d = 8; d >= 1; d--) {
        out[d] = (char)('0' + i % 10);
        i /= 10;
    }
    out[9] = '\0';
}

static void count_change(void *ud, const td_change *c)
{
    (void)c;
    ++*(uint64_t *)ud;
}

/* One heavy partner: HEAVY_EVENTS deals spread over a year, in random
 * order, each re-evaluated, then a full evaluation of that partner. */
static int heavy_partner(void)
{
    engine *e = engine_new();
    td_error err;
    const char *types[] = {"reseller", "services", "technology"};
    if (!e || engine_program_apply(e, bench_program(), START, NULL, NULL) != 0 ||
        engine_partner_upsert(e, "heavy", NULL, types, 3, START, NULL, NULL, &err) != 0) {
        fprintf(stderr, "bench_engine: heavy partner setup failed\n");
        return -1;
    }
    td_time now = START + YEAR_SECONDS;
    uint64_t changes = 0;
    double t0 = seconds();
    for (size_t i = 0; i < HEAVY_EVENTS; i++) {
        td_time at = START + 1 + (td_time)(rng() % (uint64_t)YEAR_SECONDS);
        td_event ev = {"bench", "x", "heavy", event_names[0], (double)(rng() & 0xFFFF), at, NULL};
        if (engine_ingest(e, &ev, now, count_change, &changes, &err) != 0) {
            fprintf(stderr, "heavy ingest: %s\n", err.message);
            return -1;
        }
        if (i % TURN_EVENTS == 0)
            engine_touched_take(e, NULL, NULL);
    }
    double t_ingest = seconds() - t0;
    t0 = seconds();
    engine_evaluate(e, NULL, now, count_change, &changes);
    double t_eval = seconds() - t0;
    printf("one partner, %d events out of order: %.0f events/s ingest with re-evaluation, "
           "%.3f ms to evaluate it\n",
           HEAVY_EVENTS, (double)HEAVY_EVENTS / t_ingest, t_eval * 1e3);
    engine_free(e);
    return 0;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : DEFAULT_PARTNERS;
    /* "attrs": every partner carries 4 attributes (region, segment, size
     * band, partner manager) drawn from 5 x 3 x 4 x 200 values, to measure
     * what attributes cost per partner. */
    bool with_attrs = argc > 2 && strcmp(argv[2], "attrs") == 0;
    if (n == 0 || (argc > 2 && !with_attrs)) {
        fprintf(stderr, "usage: bench_engine [partners [attrs]]\n");
        return 2;
    }
    engine *e = engine_new();
    if (!e || engine_program_apply(e, bench_program(), START, NULL, NULL) != 0) {
        fprintf(stderr, "bench_engine: engine setup failed\n");
        return 1;
    }
    char **ids = zalloc(n * sizeof *ids);
    char buf[32];
    for (size_t i = 0; i < n; i++) {
        snprintf(buf, sizeof buf, "p%08zu", i);
        ids[i] = xstrdup(buf);
    }
    static const char *const keys[CERT_KINDS] = {"c-sales", "c-tech", "c-vert",
                                                 "c-ops",   "c-sec",  "c-cloud"};
    const char *types[] = {"reseller", "services", "technology"};
    td_error err;
    uint64_t changes = 0;

    static const char *const regions[] = {"EMEA", "NA", "APAC", "LATAM", "ANZ"};
    static const char *const segments[] = {"smb", "mid", "enterprise"};
    static const char *const bands[] = {"1-10", "11-50", "51-250", "250+"};
    char manager[32];
    double rss0 = resident_bytes();
    for (size_t i = 0; i < n; i++) {
        snprintf(manager, sizeof manager, "manager-%03zu", (i * 7919) % 200);
        td_attr attrs[] = {{"region", regions[i % 5]},
                           {"segment", segments[(i / 5) % 3]},
                           {"size_band", bands[(i / 15) % 4]},
                           {"partner_manager", manager}};
        td_partner_put in = {.id = ids[i],
                             .types = types,
                             .n_types = 3,
                             .attrs = attrs,
                             .n_attrs = 4,
                             .set_attrs = with_attrs};
        if (engine_partner_put(e, &in, START, NULL, NULL, &err) != 0) {
            fprintf(stderr, "upsert: %s\n", err.message);
            return 1;
        }
    }
    double rss1 = resident_bytes();

    size_t n_events = n * EVENTS_PER_PARTNER;
    uint64_t rejected = 0;
    td_time now = START;
    double t0 = seconds();
    for (size_t i = 0; i < n_events; i++) {
        now = START + (td_time)((double)i / (double)n_events * (double)YEAR_SECONDS) + 1;
        td_time at = now;
        if (rng() % 100 < LATE_PERCENT)
            at -= (td_time)(rng() % LATE_MAX_SECONDS);
        uint64_t r = rng();
        size_t kind = r % N_EVENT_NAMES;
        double value = 1;
        const char *key = NULL;
        switch (kind) {
        case 0:
            value = (double)(r >> 8 & 0xFFFF) * 2;
            break;
        case 1:
            value = (double)(r >> 8 & 7);
            break;
        case 2:
            key = keys[(r >> 8) % CERT_KINDS];
            break;
        case 3:
            value = (double)(r >> 8 & 1023) / 1023.0;
            break;
        default:
            break;
        }
        char pid[16];
        partner_id(pid, (r >> 24) % n);
        td_event ev = {"bench", "x", pid, event_names[kind], value, at, key};
        if (engine_ingest(e, &ev, now, count_change, &changes, &err) != 0)
            rejected++;
        /* The daemon takes the list of partners to write once per turn. */
        if (i % TURN_EVENTS == 0)
            engine_touched_take(e, NULL, NULL);
    }
    engine_touched_take(e, NULL, NULL);
    double t_ingest = seconds() - t0;
    double rss2 = resident_bytes();

    uint64_t eval_changes = 0;
    t0 = seconds();
    engine_evaluate(e, NULL, now, count_change, &eval_changes);
    double t_eval = seconds() - t0;

    /* Bytes the windows (bucket and key trees, key text) hold, capacity as
     * malloc sees it, against everything else the partners cost. */
    double bucket_bytes = 0;
    for (size_t i = 0; i < e->map.cap; i++) {
        const td_partner *p = e->map.slots[i].p;
        if (!e->map.slots[i].hash)
            continue;
        for (uint32_t s = 0; s < p->n_streams; s++)
            bucket_bytes += (double)metric_stream_window_bytes(&p->streams[s]);
    }
    double per_partner = (rss2 - rss0) / (double)n;
    double buckets_pp = bucket_bytes / (double)n;
    double overhead_pp = per_partner - buckets_pp;

    printf("partners                      %zu (3 ladders, 8 metrics, %zu event streams)\n", n,
           N_EVENT_NAMES);
    /* Random access over gigabytes is TLB-bound: transparent huge pages
     * (GLIBC_TUNABLES=glibc.malloc.hugetlb=1) change the figures markedly. */
    const char *tun = getenv("GLIBC_TUNABLES");
    printf("malloc huge pages             %s\n",
           tun && strstr(tun, "glibc.malloc.hugetlb=1") ? "on" : "off (GLIBC_TUNABLES unset)");
    printf("events ingested               %zu (%llu rejected, %llu tier changes)\n", n_events,
           (unsigned long long)rejected, (unsigned long long)changes);
    printf("ingest with re-evaluation     %.0f events/s   (target >= %.0f)\n",
           (double)n_events / t_ingest, TARGET_EVENTS_PER_S);
    printf("evaluate every partner        %.3f s   (target < %.1f s; %llu changes)\n", t_eval,
           TARGET_EVAL_S, (unsigned long long)eval_changes);
    printf("resident per partner, empty   %.0f bytes\n", (rss1 - rss0) / (double)n);
    printf("resident per partner, loaded  %.0f bytes\n", per_partner);
    printf("  in windows (buckets, keys)  %.0f bytes\n", buckets_pp);
    printf("  beyond window buckets       %.0f bytes   (target <= %.0f)\n", overhead_pp,
           TARGET_OVERHEAD_BYTES);
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    engine_free(e);
    return heavy_partner() ? 1 : 0;
}
