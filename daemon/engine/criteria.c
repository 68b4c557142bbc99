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

int criteria_qualify(const ladder_def *l, const double *values)
{
    bool gate = !l->gate || expr_eval(l->gate, values);
    for (size_t t = l->n_tiers; t-- > 0;) {
        if (t > 0 && !gate)
            continue;
        if (!l->tiers[t].when || expr_eval(l->tiers[t].when, values))
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
        return criteria_push(arr, n, cap,
                             criteria_make(prog, x->metric, x->op, v, x->threshold,
                                           cmp_holds(x->op, v, x->threshold)));
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

int criteria_of_tier(const program *prog, const ladder_def *ld, int t, const double *values,
                     td_criterion **arr, size_t *n, size_t *cap)
{
    int rc = 0;
    if (t > 0 && ld->gate)
        rc = criteria_add(prog, ld->gate, values, arr, n, cap);
    if (rc == 0 && ld->tiers[t].when)
        rc = criteria_add(prog, ld->tiers[t].when, values, arr, n, cap);
    return rc;
}
