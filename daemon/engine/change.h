/* Change reports: one td_change, with the criteria behind it, handed to
 * the caller's td_change_fn.
 *
 * Place in the engine's line (tests/unit/test_engine_layers.sh): above
 * criteria and partner; lifecycle and every operation that moves a tier
 * use it. */
#ifndef TD_CHANGE_H
#define TD_CHANGE_H

#include "engine.h"
#include "partner.h"
#include "program.h"

/* Reports one change of p's tier on ladder (named; ld its definition in
 * prog, or NULL when the ladder is gone from the program in force) from
 * `from` to `to` (tier names, NULL unranked). crit_tier (a tier of ld, or
 * -1) names whose criteria go with it: the destination's, or for a drop to
 * unranked the tier left; for DENIAL and WITHDRAWN the tier whose
 * promotion was dropped. values NULL sends no criteria. ev, actor and
 * reason may be NULL. Nothing happens without fn. */
void change_report(const program *prog, const td_partner *p, const char *ladder,
                   const ladder_def *ld, const char *from, int crit_tier, const char *to,
                   td_time now, td_cause cause, const td_event *ev, const double *values,
                   const char *actor, const char *reason, td_change_fn fn, void *ud);
/* A move made by a new version taking effect (cause PROGRAM_VERSION, no
 * criteria): from tier `from` of old_ld, in the version left, to `to` of
 * ld, in the version in force (ld NULL: p leaves the ladder). Benefits
 * lost are old_ld's, so they say what p held then. */
void change_report_version(const program *prog, const td_partner *p, const ladder_def *old_ld,
                           const ladder_def *ld, const char *from, const char *to, td_time now,
                           td_change_fn fn, void *ud);

#endif
