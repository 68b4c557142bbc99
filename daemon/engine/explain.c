/* Explanations: why a partner holds its tier on a ladder, what it lacks for
 * the next one, and when, with no new events, it would qualify lower and be
 * demoted for it.
 *
 * Owns the criterion arithmetic shared with change reports (engine_missing,
 * engine_criteria_add) and engine_explain. Gaps for the next tier follow the
 * expression's shape: `and` needs every side, `or` takes the branch closest
 * to being met (smallest sum of missing/|threshold|), and `not` is pushed
 * down into the comparisons (De Morgan) so a gap is always a plain
 * comparison a person can act on. at_risk walks forward through the
 * instants at which windowed values can change, at most AT_RISK_MAX_STEPS
 * of them, then applies the lifecycle (grace, review point, max_drop) to
 * date the demotion itself. The tier shown is the one held, an override's
 * while one is active; an override suppresses at_risk (its end is the date
 * that matters, and the view shows it).
 *
 * Reads only: an explanation never changes engine state. Strings in an
 * explanation are borrowed from the program and partner; only its arrays
 * are owned. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

#define AT_RISK_MAX_STEPS 400

double engine_missing(cmp_op op, double value, double threshold)
{
    if (cmp_holds(op, value, threshold))
        return 0;
    if (isnan(value))
        return NAN; /* no value yet: no distance can be told */
    switch (op) {
    case CMP_GE:
    case CMP_GT:
        return threshold - value;
    case CMP_LE:
    case CMP_LT:
        return value - threshold;
    case CMP_EQ:
        return fabs(value - threshold);
    case CMP_NE:
        break;
    }
    return 0;
}

static int crit_push(td_criterion **arr, size_t *n, size_t *cap, td_criterion c)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        td_criterion *a = realloc(*arr, nc * sizeof *a);
        if (!a)
            return -1;
        *arr = a;
        *cap = nc;
    }
    (*arr)[(*n)++] = c;
    return 0;
}

static td_criterion crit_make(const program *prog, int metric, cmp_op op, double value,
                              double threshold, bool met)
{
    return (td_criterion){
        .metric = prog->metrics[metric].name,
        .op = op,
        .value = value,
        .threshold = threshold,
        .met = met,
        .missing = met ? 0 : engine_missing(op, value, threshold),
    };
}

int engine_criteria_add(const program *prog, const expr *x, const double *values,
                        td_criterion **arr, size_t *n, size_t *cap)
{
    if (!x)
        return 0;
    if (x->kind == EXPR_CMP) {
        double v = values[x->metric];
        return crit_push(
            arr, n, cap,
            crit_make(prog, x->metric, x->op, v, x->threshold, cmp_holds(x->op, v, x->threshold)));
    }
    if (engine_criteria_add(prog, x->a, values, arr, n, cap) != 0)
        return -1;
    return x->kind == EXPR_NOT ? 0 : engine_criteria_add(prog, x->b, values, arr, n, cap);
}

static cmp_op cmp_negate(cmp_op op)
{
    switch (op) {
    case CMP_GE:
        return CMP_LT;
    case CMP_GT:
        return CMP_LE;
    case CMP_LE:
        return CMP_GT;
    case CMP_LT:
        return CMP_GE;
    case CMP_EQ:
        return CMP_NE;
    case CMP_NE:
        break;
    }
    return CMP_EQ;
}

typedef struct gapset {
    td_criterion *c;
    size_t n, cap;
} gapset;

static double gap_distance(const gapset *g)
{
    double d = 0;
    for (size_t i = 0; i < g->n; i++) {
        double t = fabs(g->c[i].threshold), m = g->c[i].missing;
        /* A metric with no value yet is as far as its whole threshold. */
        d += isnan(m) ? 1 : m / (t > 0 ? t : 1);
    }
    return d;
}

static int gaps_collect(const program *prog, const expr *x, bool neg, const double *values,
                        gapset *out)
{
    if (!x)
        return 0;
    switch (x->kind) {
    case EXPR_CMP: {
        double v = values[x->metric];
        /* Met-ness follows expr_eval (a negated NaN comparison holds); the
         * op shown is the negated one a person would have to satisfy. */
        bool met = cmp_holds(x->op, v, x->threshold) != neg;
        if (met)
            return 0;
        cmp_op op = neg ? cmp_negate(x->op) : x->op;
        return crit_push(&out->c, &out->n, &out->cap,
                         crit_make(prog, x->metric, op, v, x->threshold, false));
    }
    case EXPR_NOT:
        return gaps_collect(prog, x->a, !neg, values, out);
    case EXPR_AND:
    case EXPR_OR:
        break;
    }
    bool all = (x->kind == EXPR_AND) != neg;
    if (all) {
        if (gaps_collect(prog, x->a, neg, values, out) != 0)
            return -1;
        return gaps_collect(prog, x->b, neg, values, out);
    }
    gapset a = {0}, b = {0};
    int rc = 0;
    if (gaps_collect(prog, x->a, neg, values, &a) != 0 ||
        gaps_collect(prog, x->b, neg, values, &b) != 0) {
        rc = -1;
    } else if (a.n && b.n) {
        const gapset *pick = gap_distance(&b) < gap_distance(&a) ? &b : &a;
        for (size_t i = 0; rc == 0 && i < pick->n; i++)
            rc = crit_push(&out->c, &out->n, &out->cap, pick->c[i]);
    }
    free(a.c);
    free(b.c);
    return rc;
}

static td_time ladder_next_due(const engine *e, const td_partner *p, uint64_t mask, td_time t)
{
    const program *prog = e->prog;
    td_time due = TD_TIME_NONE;
    for (size_t m = 0; m < prog->n_metrics; m++) {
        int ev = e->cp.metric_ev[m];
        if (!(mask & (1ull << m)) || ev < 0 || (uint32_t)ev >= p->n_streams)
            continue;
        td_time d = metric_stream_next_due(&p->streams[ev], &prog->metrics[m].window, t);
        if (d != TD_TIME_NONE && (due == TD_TIME_NONE || d < due))
            due = d;
    }
    return due;
}

static int qualify_at(const engine *e, const td_partner *p, size_t l, td_time t)
{
    double values[TD_MAX_METRICS];
    for (size_t i = 0; i < TD_MAX_METRICS; i++)
        values[i] = NAN;
    metric_values(&e->cp, p, e->cp.ladder_mask[l], t, values);
    return engine_qualify(&e->prog->ladders[l], values);
}

/* Finds when, with no new events, qualifying first drops below the tier
 * held, then when the lifecycle would act on it: grace counts from that
 * drop (or from below_since when already below), then the review point and
 * any grandfather period. The demotion instant is what at_risk_date
 * reports, because it is the deadline a re-engagement message can name;
 * the fall itself is at_risk_falls. */
/* The start of grace as it will stand at `at` when time runs on from `now`
 * (the instant the partner state was evaluated) with no new events: grace
 * counts from the instant the partner really falls below its tier, which
 * for an `at` ahead of now lies between the two, not at `at`. */
static td_time below_since_at(const engine *e, const td_partner *p, size_t l, const tier_state *ts,
                              td_time now, td_time at)
{
    td_time below = ts->below_since;
    td_time t = now;
    for (int step = 0; at > now && step <= AT_RISK_MAX_STEPS; step++) {
        t = ladder_next_due(e, p, e->cp.ladder_mask[l], t);
        if (t == TD_TIME_NONE || t > at)
            break;
        if (qualify_at(e, p, l, t) < ts->tier) {
            if (below == TD_TIME_NONE)
                below = t;
        } else {
            below = TD_TIME_NONE;
        }
    }
    return below;
}

static void at_risk(const engine *e, const td_partner *p, size_t l, const tier_state *ts,
                    td_time now, td_time at, td_explanation *out)
{
    const ladder_def *ld = &e->prog->ladders[l];
    int cur = ts->tier;
    if (cur < 0 || ts_overridden(ts))
        return;
    td_time below = below_since_at(e, p, l, ts, now, at);
    td_time t = at;
    for (int step = 0; step <= AT_RISK_MAX_STEPS; step++) {
        if (step > 0) {
            t = ladder_next_due(e, p, e->cp.ladder_mask[l], t);
            if (t == TD_TIME_NONE)
                return;
        }
        int q = qualify_at(e, p, l, t);
        if (q >= cur)
            continue;
        tier_state future = *ts;
        future.below_since = below != TD_TIME_NONE && below <= t ? below : t;
        td_time due = lifecycle_demotion_time(e, ld, &future);
        if (due == TD_TIME_NONE)
            return;
        if (due < t)
            due = t;
        int qd = qualify_at(e, p, l, due);
        int to = lifecycle_demotion_target(ld, cur, qd < cur ? qd : q);
        out->at_risk_falls = t;
        out->at_risk_date = due;
        out->at_risk_tier = to >= 0 ? ld->tiers[to].name : NULL;
        return;
    }
}

void engine_explanation_free(td_explanation *x)
{
    for (size_t i = 0; x->tiers && i < x->n_tiers; i++)
        free(x->tiers[i].criteria);
    free(x->tiers);
    free(x->gate);
    free(x->gaps);
    memset(x, 0, sizeof *x);
}

int engine_explain(const engine *e, const td_partner *p, size_t ladder, td_time now, td_time at,
                   td_explanation *out, td_error *err)
{
    memset(out, 0, sizeof *out);
    const program *prog = e->prog;
    if (!prog)
        return td_error_set(err, TD_FAILED_PRECONDITION, "no program loaded");
    if (ladder >= prog->n_ladders || !(p->ladders & (1u << ladder)) || !p->tiers)
        return td_error_set(err, TD_NOT_FOUND, "partner '%s' is not on ladder %s", p->id,
                            ladder < prog->n_ladders ? prog->ladders[ladder].name : "(none)");
    const ladder_def *ld = &prog->ladders[ladder];
    const tier_state *ts = &p->tiers[ladder];
    double values[TD_MAX_METRICS];
    for (size_t i = 0; i < TD_MAX_METRICS; i++)
        values[i] = NAN;
    metric_values(&e->cp, p, e->cp.ladder_mask[ladder], at, values);

    out->partner = p->id;
    out->ladder = ld->name;
    int eff = ts_effective(ts);
    out->tier = eff >= 0 ? ld->tiers[eff].name : NULL;
    int q = engine_qualify(ld, values);
    out->qualifying = q >= 0 ? ld->tiers[q].name : NULL;
    out->since = ts->since;
    out->at = at;
    out->pending = ts->pending >= 0 ? ld->tiers[ts->pending].name : NULL;
    out->override_tier = ts->override_tier >= 0 ? ld->tiers[ts->override_tier].name : NULL;
    out->program_version = prog->version;
    out->at_risk_date = TD_TIME_NONE;
    out->at_risk_falls = TD_TIME_NONE;
    out->gate_holds = !ld->gate || expr_eval(ld->gate, values);

    size_t gcap = 0;
    int rc =
        ld->gate ? engine_criteria_add(prog, ld->gate, values, &out->gate, &out->n_gate, &gcap) : 0;
    out->tiers = calloc(ld->n_tiers ? ld->n_tiers : 1, sizeof *out->tiers);
    if (!out->tiers)
        rc = -1;
    for (size_t t = 0; rc == 0 && t < ld->n_tiers; t++) {
        const tier_def *td = &ld->tiers[t];
        td_tier_expl *x = &out->tiers[t];
        size_t cap = 0;
        x->tier = td->name;
        x->when = td->when_src;
        x->holds = !td->when || expr_eval(td->when, values);
        x->gate_holds = t == 0 || out->gate_holds;
        x->benefits = td->benefits;
        x->n_benefits = td->n_benefits;
        rc = engine_criteria_add(prog, td->when, values, &x->criteria, &x->n_criteria, &cap);
        out->n_tiers = t + 1;
    }
    int next = eff + 1;
    if (rc == 0 && (size_t)next < ld->n_tiers) {
        gapset g = {0};
        out->next_tier = ld->tiers[next].name;
        rc = gaps_collect(prog, ld->tiers[next].when, false, values, &g);
        if (rc == 0 && next > 0 && ld->gate)
            rc = gaps_collect(prog, ld->gate, false, values, &g);
        out->gaps = g.c;
        out->n_gaps = g.n;
    }
    if (rc != 0) {
        engine_explanation_free(out);
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "explaining '%s': out of memory", p->id);
    }
    at_risk(e, p, ladder, ts, now, at, out);
    return 0;
}
