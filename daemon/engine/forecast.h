/* Forecasts: what putting a program version in force does to one partner,
 * ladder by ladder, told without changing the partner.
 *
 * Owns remapping a partner's tiers to a version by ladder and tier name
 * (applying a version and assessing one share it) and the classification
 * of a td_forecast: the lifecycle runs one step on a copy, in a shadow
 * engine that has the version in force from the instant assessed, exactly
 * as engine_program_apply runs it. The impact of `program load` (versions.c)
 * and a what-if simulation (whatif.c) both sum these rows, so what they
 * count is what applying does.
 *
 * Place in the engine's line (tests/unit/test_engine_layers.sh): above
 * explain, evaluate, lifecycle, change and criteria; versions and whatif
 * use it. */
#ifndef TD_FORECAST_H
#define TD_FORECAST_H

#include "engine_state.h"

/* Fills nt (np->n_ladders entries, initialised) with p's standing under
 * np, matched by ladder and tier name from `old`; `on` is the set of np's
 * ladders p sits on. Ladders p leaves while holding a tier, and tiers that
 * change name-matching, are reported with cause PROGRAM_VERSION (e->prog
 * must be np so reports carry its version). take_notes moves override notes
 * into nt (applying); otherwise nt gets none and p is not changed at all
 * (a forecast; fn is then NULL). */
void forecast_remap(engine *e, const program *old, const program *np, td_partner *p, uint32_t on,
                    tier_state *nt, bool take_notes, td_time now, td_change_fn fn, void *ud);

/* A version assessed at one instant against the engine in force. */
typedef struct forecast {
    engine shadow; /* e with np in force from `at`; its own lists scratch */
    const engine *e;
    const program *np;
    eng_prog cp;
    tier_state *nt; /* np->n_ladders scratch tier states */
    td_time at;
} forecast;

/* The most rows forecast_partner writes for one partner. */
#define FORECAST_MAX_ROWS (2 * TD_MAX_LADDERS)

/* 0, or -1 out of memory (nothing to end). e must not change until
 * forecast_end. */
int forecast_begin(const engine *e, const program *np, td_time at, forecast *f);
void forecast_end(forecast *f);
/* p's rows under f's version, FORECAST_MAX_ROWS at most: first the ladders
 * of the version in force p leaves while holding a tier (DEMOTED, after
 * unranked), then each ladder of np p sits on, in np's order. Strings are
 * borrowed from p and the two programs. */
size_t forecast_partner(forecast *f, const td_partner *p, td_forecast *rows);
/* Adds one row to the sums (a promotion may also queue the tier above). */
void forecast_sum(td_impact *out, const td_forecast *r);

#endif
