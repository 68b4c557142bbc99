/* Timers: re-evaluate each partner at the next moment time alone can change
 * its tiers (a window edge, the end of a grace period or an override, a
 * scheduled program version), with no event needed (docs/program.md,
 * "Lifecycle").
 *
 * One priority queue holds at most one entry per partner: (due time, id).
 * One libuv timer is armed for the earliest entry (real clock only; with
 * --fake-clock time moves only through timers_advance). Due partners are
 * processed in time order in slices, one commit per slice, so a year of
 * expiries never holds the loop for long. */
#ifndef TD_TIMERS_H
#define TD_TIMERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon.h"
#include "timer_heap.h"
#include "tierd/status.h"

#define TIMERS_SLICE_MAX_PARTNERS 1000  /* partners evaluated per slice at most */
#define TIMERS_SLICE_MAX_MS       10    /* a slice stops taking partners after this */
#define TIMERS_MAX_DELAY_S        86400 /* re-check at least daily: survives clock jumps */
#define TIMERS_RETRY_S            60    /* a slice whose commit failed runs again after this */
#define TIMERS_PAGE               1024  /* partners fetched per engine_partner_list call */
#define TIMERS_SLOW_SLICE_MS      50    /* a slice longer than this held the loop too long */
#define TIMERS_FILL_MIN_PARTNERS  10000 /* fewer restored partners are queued before serving */
#define TIMERS_FILL_CHECK_EVERY   64    /* partners queued between clock reads in a fill slice */
#define TIMERS_FILL_SLICE_MS      2     /* a start-up fill slice: what a request may wait for it */

/* ---- the daemon's timers ---- */

typedef struct timers timers;

typedef struct timers_stats {
    uint64_t pending;        /* partners with a due time */
    uint64_t processed;      /* partner evaluations run by timers */
    uint64_t changes;        /* tier changes those evaluations produced */
    uint64_t slices;         /* commits made by timers */
    uint64_t failed_slices;  /* commits that failed and were rescheduled */
    double longest_slice_ms; /* evaluation + commit, the longest one */
    double last_slice_ms;
    double longest_commit_ms; /* the commit alone, the longest one */
    uint64_t slow_slices;     /* slices over TIMERS_SLOW_SLICE_MS */
} timers_stats;

/* After the engine was restored (state_open, program loaded): computes every
 * partner's next due time (an edge passed since its last change, such as
 * one that fell while the daemon was down, is due at once) and arms the
 * timer on d->loop (not with a fake clock, nor when d->loop is NULL). With
 * a loop and at least TIMERS_FILL_MIN_PARTNERS restored partners the queue
 * is filled in slices of TIMERS_FILL_SLICE_MS after it returns, while
 * requests are served, and the timer is armed when the fill ends.
 * Installs itself as the state's watch, so every change made through state
 * reaches the queue. d must outlive the timers. */
int timers_open(tierd *d, timers **out, td_error *err);
/* Stops the timer; the struct is freed once libuv has closed the handle
 * (run the loop afterwards), or at once when none was armed. NULL is fine. */
void timers_close(timers *t);

/* What the state's watch (state_set_watch, installed by timers_open) calls:
 * after one partner changed, re-computes its due time at the daemon's now
 * and re-arms; after a program change or a failed commit, rebuilds the
 * queue (NULL is fine). Callers outside state need neither. */
void timers_touch(timers *t, const char *partner_id);
int timers_rebuild(timers *t, td_error *err);

/* For `clock advance` from -> to (fake clock): rebuilds the queue at from,
 * then evaluates every partner at each of its due instants in (from, to],
 * in time order, then every partner at `to`. Commits every slice itself and leaves the last one
 * open in the caller's turn (a handler's turn is flushed by the server). *changes gets the number
 * of tier changes. On a failed commit the turn is poisoned with the error (state_fail) and the
 * error is returned; slices committed before it stay committed. */
int timers_advance(timers *t, td_time from, td_time to, uint64_t *changes, td_error *err);
/* The walk timers_advance makes, alone: every due instant in the queue up to
 * `to` (entries due before `from` at from) and a scheduled program version
 * at its own instant, in time order, with no rebuild before (except to
 * finish a start-up fill still under way) and no sweep at `to` after: a
 * replayed import (replay.h) calls it before each event's instant, the
 * queue being kept exact by the watch. Commits and fails as timers_advance
 * does. */
int timers_walk(timers *t, td_time from, td_time to, td_error *err);

void timers_get_stats(const timers *t, timers_stats *out);

#endif
