/* Test helpers for the engine suites: build a `program` by hand (allocated
 * the way program_parse allocates, so program_free and the engine own it
 * normally) or parse one from YAML, record reported changes, add partners,
 * make events and read tiers back. Header-only so each suite stays a single
 * file in the registry. */
#ifndef TD_ENGINE_FIXTURE_H
#define TD_ENGINE_FIXTURE_H

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"

#define FX_DAY ((td_time)TD_SECONDS_PER_DAY)
#ifndef FX_MAX_CHANGES
#define FX_MAX_CHANGES 64 /* a suite that logs more defines it before the include */
#endif
#define FX_MAX_CRITERIA 16
#define FX_TEXT_MAX     160 /* a recorded reason or list of lost criteria */

static inline void *fx_alloc(size_t n)
{
    void *p = calloc(1, n);
    ck_assert_ptr_nonnull(p);
    return p;
}

static inline char *fx_strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* The program `yaml` describes; fails the test when it is refused. */
static inline program *fx_parse(const char *yaml)
{
    program *p = NULL;
    td_diags diags = {0};
    td_error err = {0};
    int rc = program_parse(yaml, strlen(yaml), "test.yaml", &p, &diags, &err);
    ck_assert_msg(rc == 0, "program refused: %s %s", err.message, diags.n ? diags.items[0] : "");
    td_diags_free(&diags);
    return p;
}

/* A new engine with p in force from now (the engine owns p). */
static inline engine *fx_engine(program *p, td_time now)
{
    engine *e = engine_new();
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(engine_program_apply(e, p, now, NULL, NULL), 0);
    return e;
}

static inline program *fx_program(const char *version)
{
    program *p = fx_alloc(sizeof *p);
    p->name = fx_strdup("test-program");
    p->version = fx_strdup(version);
    p->metrics = fx_alloc(TD_MAX_METRICS * sizeof *p->metrics);
    p->ladders = fx_alloc(TD_MAX_LADDERS * sizeof *p->ladders);
    return p;
}

/* Adds a metric; event NULL = named after the metric. Returns its index. */
static inline int fx_metric(program *p, const char *name, metric_agg agg, const char *event,
                            window_kind kind, int days)
{
    metric_def *m = &p->metrics[p->n_metrics];
    m->name = fx_strdup(name);
    m->agg = agg;
    m->event = fx_strdup(event ? event : name);
    m->window.kind = kind;
    m->window.days = days;
    if (kind == WIN_DAYS && days > p->longest_window_days)
        p->longest_window_days = days;
    return (int)p->n_metrics++;
}

static inline int fx_score(program *p, const char *name, int m1, double w1, double t1, int m2,
                           double w2, double t2)
{
    metric_def *m = &p->metrics[p->n_metrics];
    m->name = fx_strdup(name);
    m->agg = AGG_SCORE;
    m->terms = fx_alloc(2 * sizeof *m->terms);
    m->terms[0] = (score_term){m1, w1, t1};
    m->terms[1] = (score_term){m2, w2, t2};
    m->n_terms = 2;
    return (int)p->n_metrics++;
}

static inline expr *fx_cmp(int metric, cmp_op op, double threshold)
{
    expr *x = fx_alloc(sizeof *x);
    x->kind = EXPR_CMP;
    x->metric = metric;
    x->op = op;
    x->threshold = threshold;
    x->column = 1;
    return x;
}

static inline expr *fx_node(expr_kind kind, expr *a, expr *b)
{
    expr *x = fx_alloc(sizeof *x);
    x->kind = kind;
    x->a = a;
    x->b = b;
    x->column = 1;
    return x;
}

#define fx_and(a, b) fx_node(EXPR_AND, (a), (b))
#define fx_or(a, b)  fx_node(EXPR_OR, (a), (b))
#define fx_not(a)    fx_node(EXPR_NOT, (a), NULL)

static inline void fx_mask(void *ud, int metric)
{
    *(uint64_t *)ud |= 1ull << metric;
}

/* Adds a ladder for one partner type with an optional gate. */
static inline ladder_def *fx_ladder(program *p, const char *name, const char *type, expr *gate)
{
    ladder_def *l = &p->ladders[p->n_ladders++];
    l->name = fx_strdup(name);
    l->partner_types = fx_alloc(sizeof *l->partner_types);
    l->partner_types[0] = fx_strdup(type);
    l->n_types = 1;
    l->gate = gate;
    l->gate_src = gate ? fx_strdup("gate") : NULL;
    l->policy.max_drop = 1;
    l->tiers = fx_alloc(TD_MAX_TIERS * sizeof *l->tiers);
    if (gate)
        expr_metrics(gate, fx_mask, &l->metric_mask);
    return l;
}

static inline void fx_tier(program *p, ladder_def *l, const char *name, expr *when)
{
    tier_def *t = &l->tiers[l->n_tiers++];
    t->name = fx_strdup(name);
    t->when_src = fx_strdup("when");
    t->when = when;
    expr_metrics(when, fx_mask, &l->metric_mask);
    /* Score inputs belong to the mask too (program.h). */
    for (size_t m = 0; m < p->n_metrics; m++)
        if (p->metrics[m].agg == AGG_SCORE && (l->metric_mask & (1ull << m)))
            for (size_t i = 0; i < p->metrics[m].n_terms; i++)
                l->metric_mask |= 1ull << p->metrics[m].terms[i].metric;
}

/* The reseller ladder of docs/program.md's example plus a small services ladder.
 * Metric indices: see FX_* below. selling_arr is Selling's arr threshold. */
enum { FX_ARR, FX_DEALS, FX_SELLERS, FX_CERTS, FX_CONTRACT, FX_FIT, FX_CSAT, FX_IMPL };

static inline program *fx_partners_program(const char *version, double selling_arr)
{
    program *p = fx_program(version);
    fx_metric(p, "arr", AGG_SUM, "deal_closed", WIN_DAYS, 365);
    fx_metric(p, "deals", AGG_COUNT, "deal_closed", WIN_DAYS, 365);
    fx_metric(p, "active_sellers", AGG_LATEST, NULL, WIN_LIFETIME, 0);
    fx_metric(p, "sales_certs", AGG_DISTINCT, "certification", WIN_LIFETIME, 0);
    fx_metric(p, "contract_signed", AGG_LATEST, NULL, WIN_LIFETIME, 0);
    fx_score(p, "fit", FX_ARR, 60, 250000, FX_CERTS, 40, 4);
    fx_metric(p, "csat", AGG_AVG, NULL, WIN_DAYS, 365);
    fx_metric(p, "implementations", AGG_COUNT, "implementation", WIN_LIFETIME, 0);

    ladder_def *r = fx_ladder(p, "reseller", "reseller", fx_cmp(FX_SELLERS, CMP_GE, 1));
    fx_tier(p, r, "Registered",
            fx_and(fx_cmp(FX_CONTRACT, CMP_GE, 1), fx_cmp(FX_CERTS, CMP_GE, 1)));
    fx_tier(p, r, "Selling",
            fx_and(fx_cmp(FX_ARR, CMP_GE, selling_arr), fx_cmp(FX_SELLERS, CMP_GE, 3)));
    fx_tier(p, r, "Specialist",
            fx_and(fx_cmp(FX_ARR, CMP_GE, 250000), fx_cmp(FX_CERTS, CMP_GE, 2)));
    fx_tier(p, r, "Strategic", fx_and(fx_cmp(FX_ARR, CMP_GE, 1e6), fx_cmp(FX_FIT, CMP_GE, 80)));

    ladder_def *s = fx_ladder(p, "services", "services", NULL);
    fx_tier(p, s, "Trained", fx_cmp(FX_IMPL, CMP_GE, 1));
    fx_tier(p, s, "Delivering", fx_and(fx_cmp(FX_IMPL, CMP_GE, 3), fx_cmp(FX_CSAT, CMP_GE, 0.8)));
    return p;
}

/* ---- change recorder ---- */

/* Strings the change reports as NULL are recorded as "-". */
typedef struct fx_change {
    char partner[64], ladder[64], from[64], to[64], event_id[128], actor[64];
    char reason[FX_TEXT_MAX];
    char promotion[64];     /* promotion_tier: the dropped move's target */
    char lost[FX_TEXT_MAX]; /* "metric op threshold = value (met|unmet); ..." */
    bool demotion;          /* dropped_demotion */
    td_cause cause;
    td_time at;
    size_t n_criteria;
    struct {
        char metric[64];
        double value, threshold;
        bool met;
    } crit[FX_MAX_CRITERIA];
} fx_change;

typedef struct fx_log {
    fx_change c[FX_MAX_CHANGES];
    size_t n;
} fx_log;

static inline void fx_copy(char *dst, const char *src, size_t n)
{
    snprintf(dst, n, "%s", src ? src : "-");
}

static inline void fx_record(void *ud, const td_change *c)
{
    fx_log *log = ud;
    ck_assert_uint_lt(log->n, FX_MAX_CHANGES);
    fx_change *r = &log->c[log->n++];
    memset(r, 0, sizeof *r);
    fx_copy(r->partner, c->partner, sizeof r->partner);
    fx_copy(r->ladder, c->ladder, sizeof r->ladder);
    fx_copy(r->from, c->from, sizeof r->from);
    fx_copy(r->to, c->to, sizeof r->to);
    fx_copy(r->event_id, c->event_id, sizeof r->event_id);
    fx_copy(r->actor, c->actor, sizeof r->actor);
    fx_copy(r->reason, c->reason, sizeof r->reason);
    fx_copy(r->promotion, c->promotion_tier, sizeof r->promotion);
    size_t o = 0;
    for (size_t i = 0; i < c->n_lost && o < sizeof r->lost; i++)
        o +=
            (size_t)snprintf(r->lost + o, sizeof r->lost - o, "%s%s %s %g = %g (%s)", i ? "; " : "",
                             c->lost[i].metric, cmp_op_str(c->lost[i].op), c->lost[i].threshold,
                             c->lost[i].value, c->lost[i].met ? "met" : "unmet");
    r->demotion = c->dropped_demotion;
    r->cause = c->cause;
    r->at = c->at;
    r->n_criteria = c->n_criteria;
    for (size_t i = 0; i < c->n_criteria && i < FX_MAX_CRITERIA; i++) {
        fx_copy(r->crit[i].metric, c->criteria[i].metric, sizeof r->crit[i].metric);
        r->crit[i].value = c->criteria[i].value;
        r->crit[i].threshold = c->criteria[i].threshold;
        r->crit[i].met = c->criteria[i].met;
    }
}

static inline void fx_check_change(const fx_change *r, const char *from, const char *to,
                                   td_cause cause, td_time at)
{
    ck_assert_str_eq(r->from, from);
    ck_assert_str_eq(r->to, to);
    ck_assert_int_eq(r->cause, cause);
    ck_assert_int_eq(r->at, at);
}

/* ---- partners and events ---- */

/* Upserts partner `id` of one `type` at now, reporting changes to fn(ud)
 * (fn may be NULL); fails the test when refused. Returns the partner. */
static inline td_partner *fx_partner_to(engine *e, const char *id, const char *type, td_time now,
                                        td_change_fn fn, void *ud)
{
    const char *types[] = {type};
    td_error err;
    ck_assert_int_eq(engine_partner_upsert(e, id, NULL, types, 1, now, fn, ud, &err), 0);
    return engine_partner_find(e, id);
}

static inline td_partner *fx_partner(engine *e, const char *id, const char *type, td_time now,
                                     fx_log *log)
{
    return fx_partner_to(e, id, type, now, log ? fx_record : NULL, log);
}

/* Ingests one event from source "test" under a fresh id ("e1", "e2", ...,
 * counting across the suite), reporting changes to fn(ud) (fn may be
 * NULL); fails the test when refused. */
static inline void fx_ingest_to(engine *e, const char *partner, const char *metric, double value,
                                td_time at, const char *key, td_time now, td_change_fn fn, void *ud)
{
    static unsigned seq;
    char id[32];
    snprintf(id, sizeof id, "e%u", ++seq);
    td_event ev = {"test", id, partner, metric, value, at, key};
    td_error err;
    int rc = engine_ingest(e, &ev, now, fn, ud, &err);
    ck_assert_msg(rc == 0, "ingest refused: %s", err.message);
}

static inline int fx_event_key(engine *e, const char *partner, const char *metric, double value,
                               td_time at, const char *key, td_time now, fx_log *log)
{
    fx_ingest_to(e, partner, metric, value, at, key, now, log ? fx_record : NULL, log);
    return 0;
}

static inline void fx_event(engine *e, const char *partner, const char *metric, double value,
                            td_time at, td_time now)
{
    fx_event_key(e, partner, metric, value, at, NULL, now, NULL);
}

/* An event ingested at its own time (now = at). */
static inline void fx_event_at(engine *e, const char *partner, const char *metric, double value,
                               td_time at, fx_log *log)
{
    fx_event_key(e, partner, metric, value, at, NULL, at, log);
}

/* The partner `id` names; fails the test when there is none. */
static inline td_partner *fx_find(engine *e, const char *id)
{
    td_partner *p = engine_partner_find(e, id);
    ck_assert_ptr_nonnull(p);
    return p;
}

/* engine_pending_list's first page, every partner and ladder. */
static inline size_t fx_pending(engine *e, td_pending *out, size_t cap)
{
    bool more;
    return engine_pending_list(e, NULL, NULL, out, cap, &more);
}

/* explain of partner `id` on ladder index `ladder` at (and as of) at; fails the test when refused.
 */
static inline void fx_explain(engine *e, const char *id, size_t ladder, td_time at,
                              td_explanation *x)
{
    td_error err;
    int rc = engine_explain(e, engine_partner_find(e, id), ladder, at, at, x, &err);
    ck_assert_msg(rc == 0, "explain: %s", err.message);
}

static inline const char *fx_id(const td_partner *p)
{
    td_partner_info info;
    engine_partner_info(p, &info);
    return info.id;
}

/* s, or "-" for NULL (unranked, no actor). */
static inline const char *fx_name(const char *s)
{
    return s ? s : "-";
}

/* p's view on the ladder named `ladder` into *out; false when p is not on it. */
static inline bool fx_find_view(engine *e, const td_partner *p, const char *ladder,
                                td_tier_view *out)
{
    td_tier_view v[TD_MAX_LADDERS];
    size_t n = engine_partner_tiers(e, p, v, TD_MAX_LADDERS);
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].ladder, ladder) == 0) {
            *out = v[i];
            return true;
        }
    return false;
}

/* p's view on the ladder named `ladder`; fails the test when p is not on it. */
static inline td_tier_view fx_view(engine *e, const td_partner *p, const char *ladder)
{
    td_tier_view v = {0};
    ck_assert_msg(fx_find_view(e, p, ladder, &v), "partner not on ladder %s", ladder);
    return v;
}

/* The tier p holds on `ladder` ("-" when unranked); fails the test when p is not on it. */
static inline const char *fx_held(engine *e, const td_partner *p, const char *ladder)
{
    return fx_name(fx_view(e, p, ladder).tier);
}

/* The tier partner `id` holds on `ladder` ("-" when unranked, "(off)" when
 * not on it). */
static inline const char *fx_tier_of(engine *e, const char *partner, const char *ladder)
{
    td_tier_view v;
    if (!fx_find_view(e, fx_find(e, partner), ladder, &v))
        return "(off)";
    return fx_name(v.tier);
}

#endif
