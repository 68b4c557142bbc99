/* Criteria (criteria.h): the qualifying tier and the comparisons behind
 * it.
 *
 * Owns the arithmetic of a criterion: whether it holds (expr.c's
 * cmp_holds, so a NaN value never meets), how far it is from holding, and
 * the order criteria are listed in (the expression's source order, the
 * gate first). Reads only; never changes a partner.
 *
 * Place in the engine's line (tests/unit/test_engine_layers.sh): above the
 * program, expr and engine.h's types; calls down into expr only. */
#include "criteria.h"
#include "grow.h"

#include <math.h>
#include <stdlib.h>

#define CRITERIA_MIN_CAP 8

bool criteria_when_holds(const ladder_def *l, size_t t, const double *values)
{
    return !l->tiers[t].when || expr_eval(l->tiers[t].when, values);
}

int criteria_qualify(const ladder_def *l, const double *values)
{
    bool gate = !l->gate || expr_eval(l->gate, values);
    if (l->cumulative) {
        int q = -1;
        for (size_t t = 0; t < l->n_tiers && (t == 0 || gate); t++) {
            if (!criteria_when_holds(l, t, values))
                break;
            q = (int)t;
        }
        return q;
    }
    for (size_t t = l->n_tiers; t-- > 0;) {
        if (t > 0 && !gate)
            continue;
        if (criteria_when_holds(l, t, values))
            return (int)t;
    }
    return -1;
}

double criteria_missing(cmp_op op, double value, double threshold)
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

int criteria_push(td_criterion **arr, size_t *n, size_t *cap, td_criterion c)
{
    td_criterion *a = td_grow(*arr, cap, *n + 1, sizeof *a, CRITERIA_MIN_CAP);
    if (!a)
        return -1;
    *arr = a;
    (*arr)[(*n)++] = c;
    return 0;
}

td_criterion criteria_make(const program *prog, int metric, cmp_op op, double value,
                           double threshold, bool met)
{
    return (td_criterion){
        .metric = prog->metrics[metric].name,
        .op = op,
        .value = value,
        .threshold = threshold,
        .met = met,
        .missing = met ? 0 : criteria_missing(op, value, threshold),
    };
}

int criteria_add(const program *prog, const expr *x, const double *values, td_criterion **arr,
                 size_t *n, size_t *cap)
{
    if (!x)
        return 0;
    if (x->kind == EXPR_CMP) {
        double v = values[x->metric];
        td_criterion c = criteria_make(prog, x->metric, x->op, v, x->threshold,
                                       cmp_holds(x->op, v, x->threshold));
        c.percent = x->percent;
        return criteria_push(arr, n, cap, c);
    }
    if (criteria_add(prog, x->a, values, arr, n, cap) != 0)
        return -1;
    return x->kind == EXPR_NOT ? 0 : criteria_add(prog, x->b, values, arr, n, cap);
}

size_t criteria_count(const expr *x)
{
    if (!x)
        return 0;
    return x->kind == EXPR_CMP ? 1 : criteria_count(x->a) + criteria_count(x->b);
}

void criteria_name_tier(td_criterion *arr, size_t from, size_t n, const char *tier)
{
    for (size_t i = from; i < n; i++)
        arr[i].tier = tier;
}

/* Appends tier u's own `when`, each criterion naming u. */
static int criteria_of_when(const program *prog, const ladder_def *ld, size_t u,
                            const double *values, td_criterion **arr, size_t *n, size_t *cap)
{
    size_t from = *n;
    if (criteria_add(prog, ld->tiers[u].when, values, arr, n, cap) != 0)
        return -1;
    criteria_name_tier(*arr, from, *n, ld->tiers[u].name);
    return 0;
}

int criteria_of_tier(const program *prog, const ladder_def *ld, int t, const double *values,
                     td_criterion **arr, size_t *n, size_t *cap)
{
    for (int u = 0; ld->cumulative && u < t; u++)
        if (criteria_of_when(prog, ld, (size_t)u, values, arr, n, cap) != 0)
            return -1;
    if (t > 0 && ld->gate && criteria_add(prog, ld->gate, values, arr, n, cap) != 0)
        return -1;
    return criteria_of_when(prog, ld, (size_t)t, values, arr, n, cap);
}

size_t criteria_count_of_tier(const ladder_def *ld, int t)
{
    size_t k = t > 0 ? criteria_count(ld->gate) : 0;
    for (int u = ld->cumulative ? 0 : t; u <= t; u++)
        k += criteria_count(ld->tiers[u].when);
    return k;
}
