/* Evaluation: a partner's metric values, the tier each ladder qualifies
 * for, and the lifecycle step that follows; plus pruning what no window
 * reads any more.
 *
 * Place in the engine's line (tests/unit/test_engine_layers.sh): above
 * lifecycle; ingest, membership, decision, explain and versions use it. */
#ifndef TD_EVALUATE_H
#define TD_EVALUATE_H

#include "engine_state.h"

/* Re-evaluates the ladders in sel (those p sits on; lifecycle included) at
 * now. cause 0 lets the lifecycle pick causes; otherwise every tier move
 * carries it. ev, when set, is named in the reports. */
void evaluate_ladders(engine *e, td_partner *p, uint32_t sel, td_time now, td_cause cause,
                      const td_event *ev, td_change_fn fn, void *ud);
/* The same with the reason every move under the forced cause carries
 * (corrections: "retracted", "amended to revision N"). */
void evaluate_ladders_because(engine *e, td_partner *p, uint32_t sel, td_time now, td_cause cause,
                              const char *reason, const td_event *ev, td_change_fn fn, void *ud);
/* Drops from p's streams what no window of the program in force reads at
 * now, marking p changed when anything went. */
void evaluate_prune_partner(engine *e, td_partner *p, td_time now);

#endif
