/* Criteria: which tier of a ladder a set of metric values qualifies for,
 * and the comparisons behind it, each with its value, threshold and the
 * distance still missing.
 *
 * Change reports (change.c) and explanations (explain.c) both list
 * criteria; evaluation (evaluate.c), approvals (decision.c) and
 * explanations ask which tier qualifies. Values come in as an array
 * indexed by metric (eng_prog_values), NaN for "no value".
 *
 * Place in the engine's line (tests/unit/test_engine_layers.sh): above the
 * program and engine.h's types; change, lifecycle and everything above
 * use it. */
#ifndef TD_CRITERIA_H
#define TD_CRITERIA_H

#include <stdbool.h>
#include <stddef.h>

#include "engine.h"
#include "program.h"

/* The tier l qualifies for, or -1: unranked. Tiers above the first need
 * the gate. A cumulative ladder climbs: the highest tier whose `when` holds
 * along with every lower tier's; otherwise the highest whose `when` holds. */
int criteria_qualify(const ladder_def *l, const double *values);
/* Whether tier t's own `when` holds (a tier without one always does). */
bool criteria_when_holds(const ladder_def *l, size_t t, const double *values);
/* Distance from value to meeting `value op threshold`: 0 when met, NaN
 * when value is NaN (the metric has no value yet). */
double criteria_missing(cmp_op op, double value, double threshold);
/* One criterion on metric m; missing follows from met. */
td_criterion criteria_make(const program *prog, int metric, cmp_op op, double value,
                           double threshold, bool met);
/* Appends c, growing *arr (malloc'd, or NULL with *cap 0) when full; -1 on
 * OOM with *arr unchanged. */
int criteria_push(td_criterion **arr, size_t *n, size_t *cap, td_criterion c);
/* Appends one criterion per comparison in x, in source order. -1 on OOM. */
int criteria_add(const program *prog, const expr *x, const double *values, td_criterion **arr,
                 size_t *n, size_t *cap);
/* How many criteria criteria_add would append for x. */
size_t criteria_count(const expr *x);
/* Appends tier t's criteria, each naming its tier: on a cumulative ladder
 * every lower tier's `when` first, lowest first; then the gate above the
 * first tier; then t's own `when`. -1 on OOM. */
int criteria_of_tier(const program *prog, const ladder_def *ld, int t, const double *values,
                     td_criterion **arr, size_t *n, size_t *cap);
/* How many criteria criteria_of_tier would append. */
size_t criteria_count_of_tier(const ladder_def *ld, int t);
/* Names arr[from..n) as coming from `tier` (NULL: the gate). */
void criteria_name_tier(td_criterion *arr, size_t from, size_t n, const char *tier);

#endif
