/* The tier lifecycle's rules: how the tier a partner holds on one ladder
 * follows the tier it qualifies for (lifecycle.c tells the rules).
 *
 * The caller works out the qualifying tier and the metric values; the
 * lifecycle moves the tier state and reports what it moved. It never
 * evaluates a partner itself, so evaluation (evaluate.c), people's
 * decisions (decision.c) and program versions (versions.c) all sit above
 * it and call down.
 *
 * Place in the engine's line (tests/unit/test_engine_layers.sh): above
 * change, criteria and the engine's state; evaluate and everything above
 * use it. */
#ifndef TD_LIFECYCLE_H
#define TD_LIFECYCLE_H

#include "engine_state.h"

/* One ladder of one partner at one instant: what a step reads, and where
 * its reports go. */
typedef struct lc_ctx {
    engine *e;
    td_partner *p;
    size_t l;
    const double *values;
    td_time now;
    td_cause cause; /* 0, or forced on every tier move (PROGRAM_VERSION) */
    const td_event *ev;
    td_change_fn fn;
    void *ud;
    const char *cause_reason; /* with a forced cause: the reason its moves carry, or NULL */
} lc_ctx;

/* Moves ts on ladder l given qualifying tier q at c->now: override expiry,
 * approval queue, promotion, grace and review-gated demotion. */
void lifecycle_step(const lc_ctx *c, int q);
/* The instant the lifecycle would demote ts if no one decides (grace end,
 * review point, grandfather end, one drop per review; for a tier under
 * demotion review the deadline after that, or the pending one's), or
 * TD_TIME_NONE when not below or while a denied demotion holds. */
td_time lifecycle_demotion_time(const engine *e, const ladder_def *ld, const tier_state *ts);
/* lifecycle_demotion_time and the rule that sets that instant last (grace
 * end, review point, grandfather end, the next drop, a review deadline);
 * TD_DUE_NONE with TD_TIME_NONE. */
td_time lifecycle_demotion_when(const engine *e, const ladder_def *ld, const tier_state *ts,
                                td_due_reason *why);
/* Whether demotions out of `tier` (-1: none) wait for a person. */
bool lifecycle_under_review(const ladder_def *ld, int tier);
/* When ts's pending demotion goes through by itself; TD_TIME_NONE when
 * no demotion is pending. */
td_time lifecycle_review_deadline(const ladder_def *ld, const tier_state *ts);
/* The tier a demotion at that instant would land on with qualifying q. */
int lifecycle_demotion_target(const ladder_def *ld, int cur, int q);
/* The earliest lifecycle instant > now for p (override ends, demotions). */
td_time lifecycle_next_due(const engine *e, const td_partner *p, td_time now);
/* Marks c->p changed and reports a move on c's ladder from tier `from` to
 * `to` (indices, -1 unranked) with tier crit's criteria. */
void lifecycle_report(const lc_ctx *c, int from, int to, int crit, td_cause cause,
                      const char *actor, const char *reason);
/* Reports that c's pending demotion to `target` (-1 unranked) was dropped
 * (DENIAL, WITHDRAWN), marked as a demotion; the tier held stays. */
void lifecycle_report_dropped_demotion(const lc_ctx *c, int target, td_cause cause,
                                       const char *actor, const char *reason);
/* Ends ts's pin and reports where the partner lands (cause
 * OVERRIDE_EXPIRED or OVERRIDE_CLEARED). */
void lifecycle_override_end(const lc_ctx *c, tier_state *ts, td_cause cause, const char *actor,
                            const char *reason);

#endif
