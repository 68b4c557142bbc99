/* State: the glue between the pure engine and the durable store.
 *
 * It owns the write side of a loop turn. A mutating handler calls
 * state_begin, changes the engine, and marks the partners it touched; every
 * tier change the engine reports goes through state_change_sink, which
 * numbers it and appends it to the change log in the same transaction. At
 * the end of the turn the server calls state_flush: dirty partners are
 * encoded and written, the transaction commits (one fsync for the whole
 * turn), and only then are the turn's changes published and its replies
 * sent. If the commit fails, state_flush restores every dirty partner from
 * the store so memory matches disk again, drops the turn's changes and
 * returns the error; the server then answers that turn's mutating requests
 * with it. Nothing is ever half-applied. */
#ifndef TD_STATE_H
#define TD_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "daemon.h"
#include "engine.h"
#include "tierd.pb-c.h"
#include "tierd/status.h"

/* Opens the store in the state dir and restores the engine from it
 * (program version in force, partners with their metric and tier state).
 * Creates d->store and d->engine; state_close frees both (a rollback of a
 * turn that changed the program may replace d->engine, so nobody else may
 * keep the pointer across turns). opt may be NULL for the defaults. A stored
 * program that no longer parses or a damaged partner record refuses the
 * start with TD_DATA_LOSS naming the record: data is never dropped. */
int state_open(tierd *d, const char *state_dir, td_error *err);
/* The same with store options (no_sync for tests and benches, map size). */
int state_open_with(tierd *d, const char *state_dir, const store_options *opt, td_error *err);
void state_close(tierd *d);
/* Hands over the ids of the partners the start-up restore read: *count
 * NUL-terminated ids packed in *len bytes, in store order; the caller frees
 * the buffer. NULL (with *count 0) once taken, or when none were read. */
char *state_take_restored_ids(tierd *d, size_t *count, size_t *len);
/* For a process about to exit: closes the store (nothing is lost: every
 * turn was committed) and leaves the engine's memory to the kernel. */
void state_close_for_exit(tierd *d);

/* Opens the turn's write transaction if none is open. Mutating handlers call
 * it before touching the engine. */
int state_begin(tierd *d, td_error *err);
/* Remembers that p's blob must be rewritten (or deleted) at flush. */
void state_mark_dirty(tierd *d, const char *partner_id);
/* Takes the engine's list of changed partners. replayable: the changes
 * came from events logged with state_log_event, so the partners' records
 * may wait for the next checkpoint (a restart replays the log); otherwise
 * they are written with this turn. state_flush absorbs what is left as
 * not replayable, so only the ingest path needs to call it. */
void state_absorb(tierd *d, bool replayable);
/* Logs an accepted event (its wire form, and the `now` it was applied at)
 * in the turn's transaction: what makes it durable until a checkpoint. */
int state_log_event(tierd *d, td_time now, const uint8_t *pb, size_t len, td_error *err);
/* Makes the next state_flush a checkpoint: every partner whose record
 * lags the ingest log is written and the log emptied. */
void state_checkpoint(tierd *d);
/* Partners whose records lag the ingest log now. */
size_t state_lagging(const tierd *d);
/* The td_change_fn to hand to engine calls; ud must be the tierd. */
void state_change_sink(void *ud, const td_change *c);
/* The triggering event id to stamp on the changes that follow ("source/id"),
 * or NULL. */
void state_set_cause_event(tierd *d, const char *event_id);

/* Poisons the turn: a handler that hit a write error after touching the
 * engine calls it, and state_flush then rolls the whole turn back and
 * returns this error. The first error wins. */
void state_fail(tierd *d, const td_error *err);
/* Records that the turn put the stored program version `index` in force;
 * a failed flush then rebuilds the engine from the store. */
void state_program_loaded(tierd *d, uint64_t index);
/* The store index of the program version in force (0 = none). */
uint64_t state_program_index(const tierd *d);
/* Records that the turn stored version `index` to take effect later (it is
 * scheduled in the engine); a failed flush rebuilds the engine. */
void state_program_scheduled(tierd *d, uint64_t index);
/* Puts the scheduled version in force when its effective instant is at or
 * before *at: applies it at that instant (changes carry cause
 * PROGRAM_VERSION) inside the turn, sets *at to it and returns 1; returns
 * 0 when nothing is due, a negative code on failure. */
int state_apply_scheduled(tierd *d, td_time *at, td_error *err);

/* Commits the turn (no-op when nothing was written), then publishes the
 * turn's changes in sequence order. On failure rolls back as described. */
int state_flush(tierd *d, td_error *err);

/* Called after a failed flush restored memory from the store (partners
 * restored or dropped, or the engine rebuilt), so whoever caches engine
 * state (the timers' queue) can rebuild it. */
typedef void (*state_rollback_fn)(void *ud);
void state_set_rollback_hook(tierd *d, state_rollback_fn fn, void *ud);

/* Publishing hook the server installs: topic "change/<ladder>/<partner>",
 * payload an encoded tierd.TierChange. */
typedef void (*state_publish_fn)(void *ud, const char *topic, const uint8_t *payload, size_t len);
void state_set_publisher(tierd *d, state_publish_fn fn, void *ud);

#endif
