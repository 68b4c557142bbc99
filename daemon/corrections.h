/* Corrections, the daemon's side: the events that still count for one
 * partner and event name, read from the store's event history, as
 * engine_correct asks for them when it must rebuild a stream; and the
 * version a logged correction replaced, for a restart's replay.
 *
 * Two views, one answer: while a correction is being made (before its
 * writes) the history's counted versions but the one going, then the new
 * version; at replay, what counted right after the correction's log
 * position (the history keeps when each version stopped counting). */
#ifndef TD_CORRECTIONS_H
#define TD_CORRECTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/engine.h"
#include "store.h"

typedef struct corr_history {
    store *s;
    const char *partner, *metric;
    bool at_position;        /* replay: what counted right after `position` */
    uint64_t position;       /* with at_position */
    uint64_t skip_added;     /* live: the version going (its position) */
    const td_event *amended; /* live: the new version, counted last; NULL for a retraction */
} corr_history;

/* engine_correct's td_history_fn over a corr_history. */
int corrections_history(void *hud, td_event_each_fn each, void *ud, td_error *err);

/* The version of (source, id) that stopped counting at log position pos,
 * strings copied into buf (cap bytes); TD_NOT_FOUND when the history holds
 * none (its partner was deleted since). */
int corrections_replaced(store *s, const char *partner, const char *metric, const char *source,
                         const char *id, uint64_t pos, td_event *out, char *buf, size_t cap,
                         td_error *err);

#endif
