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
/* A partner a request changed (or deleted): its record is written (or
 * deleted) with the turn, and the watch hears of it (the timers re-queue
 * it). The one call handlers make after changing a partner. */
void state_partner_changed(tierd *d, const char *partner_id);
/* An event the engine just accepted: recorded for idempotency and in the
 * ingest log with the `now` it was applied at (what makes it durable until
 * a checkpoint), and its partner's change told to the watch. On failure the
 * turn is poisoned (state_fail). */
int state_record_event(tierd *d, td_time now, const Tierd__Event *ev, const td_event *te,
                       td_error *err);
/* A correction the engine just made (engine_correct): ev as logged (a
 * retraction naming the stored partner and event name), in the ingest log
 * like an event; `old` (as stored under `was`, encoded old_pb) stops
 * counting in the history at that log position and `amended`, when given,
 * counts from it; the event record then holds the new version and
 * revision, or says retracted. On failure the turn is poisoned. */
int state_record_correction(tierd *d, td_time now, const Tierd__Event *ev,
                            const store_event_meta *was, const td_event *old, const uint8_t *old_pb,
                            size_t old_len, const td_event *amended, td_error *err);
/* A connector's cursor, and a meta record, written in the turn; on failure
 * the turn is poisoned. */
int state_put_cursor(tierd *d, const char *connector, const char *cursor, td_error *err);
int state_put_meta(tierd *d, const char *name, const uint8_t *val, size_t len, td_error *err);
/* Takes the engine's list of changed partners. replayable: the changes
 * came from events recorded with state_record_event, so the partners' records
 * may wait for the next checkpoint (a restart replays the log); otherwise
 * they are written with this turn. state_flush absorbs what is left as
 * not replayable, so only the ingest path needs to call it. */
void state_absorb(tierd *d, bool replayable);
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

/* Changes dated before `floor` are numbered and stored but not published
 * (a replayed import's past, replay.h); TD_TIME_NONE publishes all. It
 * holds until set again. */
void state_set_publish_floor(tierd *d, td_time floor);

/* Poisons the turn: a handler that hit a write error after touching the
 * engine calls it, and state_flush then rolls the whole turn back and
 * returns this error. The first error wins. */
void state_fail(tierd *d, const td_error *err);
/* Program versions, stored and put in force in the turn (a failed flush
 * rebuilds the engine from the store). state_put_program stores p (its
 * text `yaml`, loaded by `actor` at `now`) and puts it in force now (0) or,
 * when its `effective` is later, schedules it (1); the watch hears that
 * everyone may have changed. Takes p unless it returns a negative code
 * (then the turn is poisoned). */
int state_put_program(tierd *d, program *p, const char *yaml, const char *actor, td_time now,
                      td_error *err);
/* Puts the scheduled version in force when its effective instant is at or
 * before *at: applies it at that instant (changes carry cause
 * PROGRAM_VERSION) inside the turn, sets *at to it and returns 1; returns
 * 0 when nothing is due, a negative code on failure. Its only caller, the
 * timers, re-queues everyone itself (at *at, which may be before now). */
int state_apply_scheduled(tierd *d, td_time *at, td_error *err);
/* The store index of the program version in force (0 = none). */
uint64_t state_program_index(const tierd *d);

/* Commits the turn (no-op when nothing was written), then publishes the
 * turn's changes in sequence order. On failure rolls back as described. */
int state_flush(tierd *d, td_error *err);

/* Who keeps something derived from partners (the timers' queue) and must
 * hear of changes made through state: `partner` when one partner changed
 * (state_partner_changed, state_record_event); `everyone` when any may have
 * (state_put_program, and a failed flush that restored memory from the
 * store). NULL stops the telling. */
typedef struct state_watch {
    void (*partner)(void *ud, const char *partner_id);
    void (*everyone)(void *ud);
    void *ud;
} state_watch;
void state_set_watch(tierd *d, const state_watch *w);

/* The webhook outbox (webhooks.h) hears of a turn's work inside its
 * transaction, so what it enqueues commits or rolls back with the turn:
 * `change` for each tier change stored (not for a replayed import's past),
 * `partner` for each partner the turn touched and `before_commit` once, both
 * right before the commit (an error poisons the turn), then `committed` or
 * `rolled_back`. NULL stops the telling. */
typedef struct state_outbox {
    void (*change)(void *ud, const Tierd__TierChange *tc);
    int (*partner)(void *ud, const char *partner_id, td_error *err);
    int (*before_commit)(void *ud, td_error *err);
    void (*committed)(void *ud);
    void (*rolled_back)(void *ud);
    void *ud;
} state_outbox;
void state_set_outbox(tierd *d, const state_outbox *o);

/* Publishing hook the server installs: topic "change/<ladder>/<partner>",
 * payload an encoded tierd.TierChange; topic NULL (no payload) for a change
 * committed but not to be published (state_set_publish_floor). */
typedef void (*state_publish_fn)(void *ud, const char *topic, const uint8_t *payload, size_t len);
void state_set_publisher(tierd *d, state_publish_fn fn, void *ud);

#endif
