/* Explanations (engine_explain in engine.h): what explain.c offers the
 * files above it, so a re-tier audit (whatif.c) measures the distance to a
 * tier exactly as an explanation shows it.
 *
 * Place in the engine's line (tests/unit/test_engine_layers.sh): the row of
 * explain.c; forecast, versions and whatif may use it. */
#ifndef TD_EXPLAIN_H
#define TD_EXPLAIN_H

#include "engine.h"

/* The unmet criteria of tier `next` of ld at values, each naming the tier
 * it comes from: on a cumulative ladder every lower tier's first (held
 * tiers can lapse under grace or a pin), then the gate above the first
 * tier (tier NULL), then next's own. `and` needs every side, `or` takes the
 * branch closest to being met, `not` is pushed into the comparisons. *out
 * (malloc'd, or NULL when none) and *n receive them. 0, or -1 out of
 * memory with nothing returned. */
int explain_gaps(const program *prog, const ladder_def *ld, int next, const double *values,
                 td_criterion **out, size_t *n);

#endif
