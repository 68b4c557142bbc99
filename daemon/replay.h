/* Replayed imports (docs/events.md, "Replay"): history imported with its
 * real dates. While a replay is open, time-driven evaluation stands at the
 * replay position (d->replay_at) instead of the clock: before each event at
 * t, replay_advance_to walks the timer queue (timers_walk, the walk `Clock
 * advance` makes) up to t, so every expiry, grace end, review point,
 * override end and scheduled version lands at its own instant; the event
 * is then applied with now = t. replay_finish catches up to the clock the
 * same way and closes the replay. The position is kept in the store, so a
 * restart in the middle of an import continues from it. */
#ifndef TD_REPLAY_H
#define TD_REPLAY_H

#include <stdbool.h>
#include <stddef.h>

#include "daemon.h"
#include "tierd/status.h"

#define REPLAY_META "replay" /* meta record: replay_at, replay_started (BE i64) */
/* Meta record: the program version index and the instant a replay deemed
 * it in force from (BE u64, i64): see replay_open. */
#define REPLAY_BACKFILL_META "replay_backfill"

/* The latest instant p's state is dated at: its last event's (when it has
 * events), and on each ladder when its tier was taken, when it fell below
 * it and when a promotion or demotion began to wait. A replay never
 * applies an event to p, nor evaluates p, before it. */
td_time replay_partner_asof(const engine *e, const td_partner *p);

/* At start, after state_open and before timers_open: an import the store
 * says is open resumes from its position, and a version a replay deemed in
 * force from an earlier instant keeps that instant. */
int replay_restore(tierd *d, td_error *err);

/* Opens the turn's replay at `first` (the batch's earliest event) unless
 * one is open: the position and start instant are stored and the timer
 * queue is rebuilt from there (the real timer stops until replay_finish).
 * The version in force is deemed in force from `first` when it took
 * effect later, as a daemon that had run all along would have had it:
 * otherwise its grandfather period, counted from when it was loaded, would
 * hold every replayed demotion (stored, so a restart keeps it).
 * Sets which changes get published: those dated at or after the replay's
 * start, or all with publish_past. */
int replay_open(tierd *d, td_time first, bool publish_past, td_error *err);

/* Refuses (FAILED_PRECONDITION, naming the replay position) what would act
 * at the real time while a replay is open: a program load, overrides,
 * approvals and denials, deleting a partner. `what` names it. 0 when no
 * replay is open. */
int replay_refuse(const tierd *d, const char *what, td_error *err);

/* Why an event at `at` for p (NULL: unknown, the engine says so) cannot be
 * replayed now, in buf, or NULL when it can. */
const char *replay_refusal(const tierd *d, const td_partner *p, td_time at, char *buf, size_t cap);

/* Walks the timer queue from the replay position to `at` and moves the
 * position there (stored with the turn). */
int replay_advance_to(tierd *d, td_time at, td_error *err);

/* Catches up from the replay position to the clock (timers_advance) and
 * closes the replay. No-op when none is open. */
int replay_finish(tierd *d, td_error *err);

#endif
