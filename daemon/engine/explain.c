/* Explanations: why a partner holds its tier on a ladder, what it lacks for
 * the next one, and when, with no new events, it would qualify lower and be
 * demoted for it.
 *
 * Owns engine_explain: the criteria of every tier (criteria.c), the gaps
 * to the next one and the date at risk. Gaps for the next tier follow the
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
 * are owned.
 *
 * Place in the engine's line (tests/unit/test_engine_layers.sh): above
 * lifecycle and criteria; calls down only. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "criteria.h"
#include "explain.h"
#include "lifecycle.h"

#define AT_RISK_MAX_STEPS 400

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
        td_criterion c = criteria_make(prog, x->metric, op, v, x->threshold, false);
        c.percent = x->percent;
        return criteria_push(&out->c, &out->n, &out->cap, c);
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
            rc = criteria_push(&out->c, &out->n, &out->cap, pick->c[i]);
    }
    free(a.c);
    free(b.c);
    return rc;
}

/* Appends the unmet criteria of `when` (the gate when tier is NULL),
 * naming the tier they come from. */
static int gaps_of(const program *prog, const expr *when, const char *tier, const double *values,
                   gapset *g)
{
    size_t from = g->n;
    if (gaps_collect(prog, when, false, values, g) != 0)
        return -1;
    criteria_name_tier(g->c, from, g->n, tier);
    return 0;
}

int explain_gaps(const program *prog, const ladder_def *ld, int next, const double *values,
                 td_criterion **out, size_t *n)
{
    gapset g = {0};
    int rc = 0;
    for (int u = 0; rc == 0 && ld->cumulative && u < next; u++)
        rc = gaps_of(prog, ld->tiers[u].when, ld->tiers[u].name, values, &g);
    if (rc == 0 && next > 0 && ld->gate)
        rc = gaps_of(prog, ld->gate, NULL, values, &g);
    if (rc == 0)
        rc = gaps_of(prog, ld->tiers[next].when, ld->tiers[next].name, values, &g);
    if (rc != 0) {
        free(g.c);
        g = (gapset){0};
    }
    *out = g.c;
    *n = g.n;
    return rc;
}

static int qualify_at(const engine *e, const td_partner *p, size_t l, td_time t)
{
    double values[TD_MAX_METRICS];
    eng_prog_values(&e->cp, p, e->cp.ladder_mask[l], t, values);
    return criteria_qualify(&e->prog->ladders[l], values);
}

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
        t = eng_prog_next_due(&e->cp, p, e->cp.ladder_mask[l], t);
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

/* Finds when, with no new events, qualifying first drops below the tier
 * held, then when the lifecycle would act on it: grace counts from that
 * drop (or from below_since when already below), then the review point and
 * any grandfather period. The demotion instant is the deadline a
 * re-engagement message can name; the fall itself is when the tier lapses
 * (below_since, in the past, when it has already). */
static void at_risk(const engine *e, const td_partner *p, size_t l, const tier_state *ts,
                    td_time now, td_time at, td_at_risk *out)
{
    const ladder_def *ld = &e->prog->ladders[l];
    int cur = ts->tier;
    *out = (td_at_risk){.lapses_at = TD_TIME_NONE, .demotion_at = TD_TIME_NONE};
    if (cur < 0 || ts_overridden(ts))
        return;
    td_time below = below_since_at(e, p, l, ts, now, at);
    td_time t = at;
    for (int step = 0; step <= AT_RISK_MAX_STEPS; step++) {
        if (step > 0) {
            t = eng_prog_next_due(&e->cp, p, e->cp.ladder_mask[l], t);
            if (t == TD_TIME_NONE)
                return;
        }
        int q = qualify_at(e, p, l, t);
        if (q >= cur)
            continue;
        tier_state future = *ts;
        future.below_since = below != TD_TIME_NONE && below <= t ? below : t;
        td_due_reason why;
        td_time due = lifecycle_demotion_when(e, ld, &future, &why);
        if (due == TD_TIME_NONE)
            return;
        if (due < t)
            due = t;
        int qd = qualify_at(e, p, l, due);
        int to = lifecycle_demotion_target(ld, cur, qd < cur ? qd : q);
        out->lapses_at = future.below_since;
        out->demotion_at = due;
        out->demotion_tier = ladder_tier_name(ld, to);
        out->reason = why;
        return;
    }
}

int engine_partner_at_risk(const engine *e, const td_partner *p, size_t ladder, td_time now,
                           td_at_risk *out)
{
    *out = (td_at_risk){.lapses_at = TD_TIME_NONE, .demotion_at = TD_TIME_NONE};
    if (!e->prog || ladder >= e->prog->n_ladders || !(p->ladders & (1u << ladder)) || !p->tiers)
        return -TD_NOT_FOUND;
    at_risk(e, p, ladder, &p->tiers[ladder], now, now, out);
    return 0;
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
    eng_prog_values(&e->cp, p, e->cp.ladder_mask[ladder], at, values);

    out->partner = p->id;
    out->ladder = ld->name;
    int eff = ts_effective(ts);
    out->tier = ladder_tier_name(ld, eff);
    int q = criteria_qualify(ld, values);
    out->qualifying = ladder_tier_name(ld, q);
    out->since = ts->since;
    out->at = at;
    out->pending = ladder_tier_name(ld, ts->pending);
    out->override_tier = ladder_tier_name(ld, ts->override_tier);
    out->program_version = prog->version;
    out->at_risk_date = TD_TIME_NONE;
    out->at_risk_falls = TD_TIME_NONE;
    out->gate_holds = !ld->gate || expr_eval(ld->gate, values);

    size_t gcap = 0;
    int rc = ld->gate ? criteria_add(prog, ld->gate, values, &out->gate, &out->n_gate, &gcap) : 0;
    out->tiers = calloc(ld->n_tiers ? ld->n_tiers : 1, sizeof *out->tiers);
    if (!out->tiers)
        rc = -1;
    out->cumulative = ld->cumulative;
    /* On a cumulative ladder each tier's criteria stay under the tier they
     * come from; a tier above names the lowest one that blocks it. */
    const char *blocked = NULL;
    for (size_t t = 0; rc == 0 && t < ld->n_tiers; t++) {
        const tier_def *td = &ld->tiers[t];
        td_tier_expl *x = &out->tiers[t];
        size_t cap = 0;
        x->tier = td->name;
        x->when = td->when_src;
        x->holds = criteria_when_holds(ld, t, values);
        x->gate_holds = t == 0 || out->gate_holds;
        x->blocked_by = ld->cumulative ? blocked : NULL;
        x->qualifies = x->holds && x->gate_holds && !x->blocked_by;
        if (ld->cumulative && !x->holds && !blocked)
            blocked = td->name;
        x->benefits = td->benefits;
        x->n_benefits = td->n_benefits;
        rc = criteria_add(prog, td->when, values, &x->criteria, &x->n_criteria, &cap);
        criteria_name_tier(x->criteria, 0, x->n_criteria, td->name);
        out->n_tiers = t + 1;
    }
    int next = eff + 1;
    if (rc == 0 && (size_t)next < ld->n_tiers) {
        out->next_tier = ld->tiers[next].name;
        rc = explain_gaps(prog, ld, next, values, &out->gaps, &out->n_gaps);
    }
    if (rc != 0) {
        engine_explanation_free(out);
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "explaining '%s': out of memory", p->id);
    }
    td_at_risk r;
    at_risk(e, p, ladder, ts, now, at, &r);
    out->at_risk_falls = r.lapses_at;
    out->at_risk_date = r.demotion_at;
    out->at_risk_tier = r.demotion_tier;
    out->at_risk_reason = r.reason;
    return 0;
}
