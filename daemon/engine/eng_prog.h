/* eng_prog: the program in force compiled against the engine's registry of
 * event names, and the values of a partner's metrics under it.
 *
 * Compiling works out, once per program, what evaluation would otherwise
 * work out per event: which registry event feeds each metric, which
 * metrics and ladders each event reaches, how far back each event's
 * windows read (the retention horizon) and what its stream must keep
 * (EVF_* flags).
 *
 * Place in the engine's line (tests/unit/test_engine_layers.sh): above
 * names, partner and metric; the engine's state holds one. */
#ifndef TD_ENG_PROG_H
#define TD_ENG_PROG_H

#include <stddef.h>
#include <stdint.h>

#include "names.h"
#include "partner.h"
#include "program.h"

typedef struct eng_prog {
    const program *p;
    int *metric_ev; /* registry index per metric, -1 for scores/unknown events */
    size_t n_ev;    /* registry size when compiled */
    int32_t *ev_days;
    uint8_t *ev_flags;
    uint64_t *ev_metrics;  /* metrics fed by the event */
    uint32_t *ev_ladders;  /* ladders whose mask meets ev_metrics */
    uint64_t *ladder_mask; /* ladder's metric mask with every score's inputs */
    int32_t max_days;      /* longest rolling window; quarter/year count as theirs */
} eng_prog;

/* Adds every event p's metrics read to the registry (before compiling p,
 * so each has a stream index); -1 on OOM, the ones added so far kept. */
int eng_prog_intern_events(name_table *events, const program *p);
/* Compiles p against the registry as it stands: events the registry does
 * not know map to -1 (no partner can have data for them). -1 on OOM. */
int eng_prog_compile(const name_table *events, const program *p, eng_prog *cp);
void eng_prog_free(eng_prog *cp);

/* values[m] for every metric in mask at t (scores after their inputs);
 * every other entry NaN. values holds TD_MAX_METRICS. */
void eng_prog_values(const eng_prog *cp, const td_partner *p, uint64_t mask, td_time t,
                     double *values);
/* The metrics read by the ladders p sits on. */
uint64_t eng_prog_partner_mask(const eng_prog *cp, const td_partner *p);
/* The earliest instant > t at which some metric in mask changes value for
 * p with no new event (a window edge), or TD_TIME_NONE. */
td_time eng_prog_next_due(const eng_prog *cp, const td_partner *p, uint64_t mask, td_time t);
/* Oldest instant any windowed metric on event ev reads at now: what the
 * stream must keep. */
td_time eng_prog_horizon(const eng_prog *cp, int ev, td_time now);

#endif
