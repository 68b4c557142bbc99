/* State: the glue between the pure engine and the LMDB store.
 *
 * Owns the write side of a loop turn: the set of partners touched, the
 * changes produced (numbered and written to the change log as they happen,
 * published only after the commit), and the rollback when the commit fails.
 * It also owns start-up restore: the program version in force, then every
 * partner blob, refusing to start when anything stored cannot be read back.
 *
 * Promises: after state_flush returns, memory matches disk. On success the
 * turn's changes went out in sequence order; on failure nothing of the turn
 * is left in memory or on disk and no change was published.
 *
 * It does not decide what a turn is (the server calls state_flush), nor
 * validate requests (the handlers do), nor schedule timers.
 *
 * Which program version is in force: the one the store's meta record
 * `program_in_force` names, written in the same transaction that puts a
 * version in force (at load, or at its `effective` instant through
 * state_apply_scheduled). A version stored after it waits for its
 * `effective`: restore schedules the latest such one, and the timers put it
 * in force at that instant, at start when it passed while tierd was down.
 * A store from before that record takes the version that took effect last,
 * at max(loaded, effective) and not after now (the later loaded on a tie). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "log.h"
#include "idset.h"
#include "metrics.h"
#include "restore.h"
#include "state.h"
#include "tierd.pb-c.h"
#include "grow.h"

#define STATE_QUEUE_MIN_CAP 64 /* queued changes before the first growth */
#define STATE_EVENT_ID_MAX  (2 * TD_MAX_ID + 2)
#define STATE_EVENT_BUF     1024 /* an encoded event up to this size is packed on the stack */
#define STATE_TOPIC_PREFIX  "change/"
/* Checkpoints: whichever comes first. The log's size bounds a restart's
 * replay; the time bounds how long a quiet daemon's log lingers. (Not the
 * number of partners lagging: under steady load that soon becomes all of
 * them, and every turn would write them all.) */
#define STATE_CHECKPOINT_EVENTS 1000000
/* Per turn: partner records a checkpoint writes, and log entries it trims
 * (each about 5 and 1 microseconds: a slice stays near 10 ms). */
#define STATE_CHECKPOINT_SLICE 2048
#define STATE_TRIM_SLICE       8192
#define STATE_CHECKPOINT_MS    30000

typedef struct queued_change {
    char *topic;
    uint8_t *buf;
    size_t len;
} queued_change;

struct state {
    char *dir;
    store_options opt;

    /* partners to write with this turn's commit */
    idset dirty;
    /* partners changed only by events, whose records lag the ingest log:
     * written at the next checkpoint, replayed from the log after a crash */
    idset deferred;
    bool turn_deferred; /* this turn added to `deferred` */
    /* A checkpoint runs in slices, so no turn writes a million partners:
     * when it begins, the lagging set is frozen into `ckpt` and the log
     * position noted; each turn writes STATE_CHECKPOINT_SLICE of them; once
     * all are written, every log entry up to ckpt_upto is in a record, and
     * those entries are trimmed, STATE_TRIM_SLICE per turn. Partners that
     * lag again meanwhile go to `deferred`, for the next checkpoint. */
    idset ckpt;
    bool ckpt_active;
    size_t ckpt_next;         /* ckpt.ids[0..ckpt_next) are committed */
    uint64_t ckpt_upto;       /* the log position when ckpt was frozen */
    uint64_t trim_upto;       /* entries up to here are no longer needed; 0 = none */
    bool checkpoint_wanted;   /* state_checkpoint: at the next flush */
    uint64_t deferred_events; /* log entries since the last checkpoint */
    uint64_t deferred_since;  /* ms (uv_hrtime-free: the caller's clock) of the first */

    queued_change *queue;
    size_t n_queue, queue_cap;

    bool failed;
    td_error fail_err;
    bool program_changed;
    uint64_t program_index;
    uint64_t program_index_before;
    uint64_t scheduled_index; /* stored version waiting for its effective instant */
    uint64_t scheduled_index_before;

    char cause_event[STATE_EVENT_ID_MAX];
    bool has_cause_event;

    state_publish_fn publish;
    void *publish_ud;
    state_outbox outbox;
    idset turn_ids;        /* with an outbox: partners this turn deferred (dirty has the rest) */
    td_time publish_floor; /* changes dated before it are not published */
    state_watch watch;

    /* the ids the start-up restore read, NUL-separated, in store order:
     * the timers queue them after the daemon starts serving */
    char *restored_ids;
    size_t restored_len, restored_n;
};

/* Out of memory here would lose a write silently, so it poisons the turn. */
static void dirty_add(state *st, const char *id)
{
    if (idset_add(&st->dirty, id) != 0 && !st->failed) {
        st->failed = true;
        td_error_set(&st->fail_err, TD_RESOURCE_EXHAUSTED,
                     "out of memory remembering partner '%s' for the commit", id);
    }
}

/* Poisons the turn with a write error and returns it. */
static int write_failed(tierd *d, int rc, const td_error *err)
{
    if (rc)
        state_fail(d, err);
    return rc;
}

static void tell_everyone(state *st)
{
    if (st->watch.everyone)
        st->watch.everyone(st->watch.ud);
}

/* ---- change queue ---- */

static void queue_clear(state *st)
{
    for (size_t i = 0; i < st->n_queue; i++) {
        free(st->queue[i].topic);
        free(st->queue[i].buf);
    }
    st->n_queue = 0;
}

static int queue_push(state *st, char *topic, uint8_t *buf, size_t len)
{
    queued_change *q =
        td_grow(st->queue, &st->queue_cap, st->n_queue + 1, sizeof *q, STATE_QUEUE_MIN_CAP);
    if (!q)
        return -1;
    st->queue = q;
    st->queue[st->n_queue++] = (queued_change){.topic = topic, .buf = buf, .len = len};
    return 0;
}

/* ---- lifetime ---- */

int state_open(tierd *d, const char *state_dir, td_error *err)
{
    return state_open_with(d, state_dir, NULL, err);
}

int state_open_with(tierd *d, const char *state_dir, const store_options *opt, td_error *err)
{
    state *st = calloc(1, sizeof *st);
    if (!st || !(st->dir = strdup(state_dir))) {
        free(st);
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "%s: out of memory", state_dir);
    }
    if (opt)
        st->opt = *opt;
    int rc = store_open(state_dir, &st->opt, &d->store, err);
    if (rc) {
        free(st->dir);
        free(st);
        return rc;
    }
    restored r = {.want_ids = true};
    rc = restore_from_store(d->store, st->dir, tierd_now(d), &r, err);
    if (rc) {
        store_close(d->store);
        d->store = NULL;
        free(st->dir);
        free(st);
        return rc;
    }
    d->engine = r.engine;
    st->program_index = r.program_index;
    st->scheduled_index = r.scheduled_index;
    st->deferred = r.deferred;
    st->deferred_events = r.replayed;
    st->restored_ids = r.ids;
    st->restored_len = r.ids_len;
    st->restored_n = r.ids_n;
    d->state = st;
    return 0;
}

char *state_take_restored_ids(tierd *d, size_t *count, size_t *len)
{
    state *st = d->state;
    char *ids = st->restored_ids;
    *count = st->restored_n;
    *len = st->restored_len;
    st->restored_ids = NULL;
    st->restored_len = st->restored_n = 0;
    return ids;
}

void state_close_for_exit(tierd *d)
{
    if (d->store) {
        store_abort(d->store);
        store_close(d->store);
        d->store = NULL;
    }
    /* A million partners take seconds to free one by one; the process
     * ends now and the kernel takes the memory back at once. */
    d->engine = NULL;
    d->state = NULL;
}

void state_close(tierd *d)
{
    state *st = d->state;
    if (d->store) {
        store_abort(d->store);
        store_close(d->store);
        d->store = NULL;
    }
    if (d->engine) {
        engine_free(d->engine);
        d->engine = NULL;
    }
    if (!st)
        return;
    idset_free(&st->dirty);
    idset_free(&st->deferred);
    idset_free(&st->ckpt);
    idset_free(&st->turn_ids);
    free(st->restored_ids);
    queue_clear(st);
    free(st->queue);
    free(st->dir);
    free(st);
    d->state = NULL;
}

/* ---- the turn ---- */

int state_begin(tierd *d, td_error *err)
{
    state *st = d->state;
    if (st->failed)
        return td_error_set(err, st->fail_err.code, "%s", st->fail_err.message);
    if (store_in_txn(d->store))
        return 0;
    st->program_index_before = st->program_index;
    st->scheduled_index_before = st->scheduled_index;
    int rc = store_begin(d->store, err);
    if (rc)
        state_fail(d, err);
    return rc;
}

void state_partner_changed(tierd *d, const char *partner_id)
{
    state *st = d->state;
    dirty_add(st, partner_id);
    if (st->watch.partner)
        st->watch.partner(st->watch.ud, partner_id);
}

int state_put_cursor(tierd *d, const char *connector, const char *cursor, td_error *err)
{
    int rc = state_begin(d, err);
    return rc ? rc : write_failed(d, store_put_cursor(d->store, connector, cursor, err), err);
}

int state_put_meta(tierd *d, const char *name, const uint8_t *val, size_t len, td_error *err)
{
    int rc = state_begin(d, err);
    return rc ? rc : write_failed(d, store_put_meta(d->store, name, val, len, err), err);
}

void state_fail(tierd *d, const td_error *err)
{
    state *st = d->state;
    if (st->failed)
        return;
    st->failed = true;
    st->fail_err = *err;
    if (st->fail_err.code == TD_OK)
        st->fail_err.code = TD_INTERNAL;
}

/* ---- program versions ---- */

/* The turn put the stored version `index` in force: recorded for restore,
 * and a failed flush rebuilds the engine from the store. */
static void program_loaded(tierd *d, uint64_t index)
{
    d->state->program_changed = true;
    d->state->program_index = index;
    uint8_t be[8];
    for (int i = 0; i < 8; i++)
        be[i] = (uint8_t)(index >> (56 - 8 * i));
    td_error err = {0};
    if (store_put_meta(d->store, RESTORE_META_IN_FORCE, be, sizeof be, &err) != 0)
        state_fail(d, &err);
}

uint64_t state_program_index(const tierd *d)
{
    return d->state->program_index;
}

int state_put_program(tierd *d, program *p, const char *yaml, const char *actor, td_time now,
                      td_error *err)
{
    int rc = state_begin(d, err);
    if (rc)
        return rc;
    Tierd__ProgramVersion pv = TIERD__PROGRAM_VERSION__INIT;
    pv.version = p->version;
    pv.loaded = now;
    pv.effective = p->effective != TD_TIME_NONE ? p->effective : now;
    pv.yaml = (char *)yaml;
    pv.actor = (char *)(actor ? actor : "");
    size_t len = tierd__program_version__get_packed_size(&pv);
    uint8_t *pb = malloc(len ? len : 1);
    if (!pb) {
        td_error_set(err, TD_RESOURCE_EXHAUSTED, "storing version %s: out of memory", p->version);
        return write_failed(d, -TD_RESOURCE_EXHAUSTED, err);
    }
    tierd__program_version__pack(&pv, pb);
    uint64_t index = 0;
    rc = store_put_program(d->store, &index, pb, len, err);
    free(pb);
    if (rc)
        return write_failed(d, rc, err);
    state *st = d->state;
    if (p->effective > now) {
        /* docs/program.md, "Loading versions": a future `effective`
         * schedules the version; the timers put it in force at that
         * instant (state_apply_scheduled). */
        engine_program_schedule(d->engine, p, p->effective);
        st->program_changed = true;
        st->scheduled_index = index;
        tell_everyone(st);
        return 1;
    }
    if (engine_program_apply(d->engine, p, now, state_change_sink, d) != 0) {
        td_error_set(err, TD_RESOURCE_EXHAUSTED, "applying version %s: out of memory", p->version);
        return write_failed(d, -TD_RESOURCE_EXHAUSTED, err);
    }
    program_loaded(d, index);
    tell_everyone(st); /* every partner's next due time may have moved */
    return 0;
}

int state_apply_scheduled(tierd *d, td_time *at, td_error *err)
{
    td_time due = engine_next_program_due(d->engine);
    if (due == TD_TIME_NONE || due > *at)
        return 0;
    int rc = state_begin(d, err);
    if (rc)
        return rc;
    program *p = engine_program_take_scheduled(d->engine);
    if (!p)
        return 0;
    if (engine_program_apply(d->engine, p, due, state_change_sink, d) != 0) {
        td_error_set(err, TD_RESOURCE_EXHAUSTED, "applying scheduled version %s: out of memory",
                     p->version);
        program_free(p);
        state_fail(d, err);
        return -TD_RESOURCE_EXHAUSTED;
    }
    log_info("program version %s took effect", engine_program(d->engine)->version);
    program_loaded(d, d->state->scheduled_index);
    d->state->scheduled_index = 0;
    *at = due;
    return 1;
}

void state_set_cause_event(tierd *d, const char *event_id)
{
    state *st = d->state;
    st->has_cause_event = event_id != NULL;
    if (event_id)
        snprintf(st->cause_event, sizeof st->cause_event, "%s", event_id);
}

void state_set_watch(tierd *d, const state_watch *w)
{
    d->state->watch = w ? *w : (state_watch){0};
}

void state_set_publish_floor(tierd *d, td_time floor)
{
    d->state->publish_floor = floor;
}

void state_set_outbox(tierd *d, const state_outbox *o)
{
    d->state->outbox = o ? *o : (state_outbox){0};
}

void state_set_publisher(tierd *d, state_publish_fn fn, void *ud)
{
    d->state->publish = fn;
    d->state->publish_ud = ud;
}

static char *nz(const char *s)
{
    return (char *)(s ? s : "");
}

void state_change_sink(void *ud, const td_change *c)
{
    tierd *d = ud;
    state *st = d->state;
    /* The partner itself reaches the store through the engine's list of
     * changed partners (state_absorb), at once or at a checkpoint. */
    td_error err = {0};
    if (st->failed || state_begin(d, &err) != 0)
        return;
    uint64_t seq = 0;
    if (store_next_sequence(d->store, &seq) != 0) {
        td_error_set(&err, TD_INTERNAL, "numbering a change of partner '%s' failed", c->partner);
        state_fail(d, &err);
        return;
    }
    /* Why the tier holds, then why the one left was lost: one array. */
    size_t nc = c->n_criteria + c->n_lost;
    Tierd__Criterion *crit = calloc(nc ? nc : 1, sizeof *crit);
    Tierd__Criterion **critp = calloc(nc ? nc : 1, sizeof *critp);
    Tierd__Benefit *ben = NULL, **benp = NULL;
    uint8_t *buf = NULL;
    char *topic = NULL;
    if (!crit || !critp)
        goto oom;
    for (size_t i = 0; i < nc; i++) {
        const td_criterion *k = i < c->n_criteria ? &c->criteria[i] : &c->lost[i - c->n_criteria];
        tierd__criterion__init(&crit[i]);
        crit[i].metric = nz(k->metric);
        crit[i].op = (char *)cmp_op_str(k->op);
        crit[i].value = k->value;
        crit[i].threshold = k->threshold;
        crit[i].met = k->met;
        crit[i].missing = k->missing;
        crit[i].tier = nz(k->tier);
        crit[i].percent = k->percent;
        critp[i] = &crit[i];
    }
    size_t nb = c->n_gained + c->n_benefits_lost;
    if (nb) {
        ben = calloc(nb, sizeof *ben);
        benp = calloc(nb, sizeof *benp);
        if (!ben || !benp)
            goto oom;
    }
    for (size_t i = 0; i < nb; i++) {
        const benefit_grant *g =
            i < c->n_gained ? &c->gained[i] : &c->benefits_lost[i - c->n_gained];
        tierd__benefit__init(&ben[i]);
        ben[i].name = nz(g->def->name);
        ben[i].value = nz(g->def->value);
        ben[i].number = g->def->number;
        ben[i].has_number = g->def->has_number;
        ben[i].ladder = nz(c->ladder);
        ben[i].tier = nz(g->tier);
        benp[i] = &ben[i];
    }
    Tierd__TierChange tc = TIERD__TIER_CHANGE__INIT;
    tc.sequence = seq;
    tc.partner = nz(c->partner);
    tc.ladder = nz(c->ladder);
    tc.from_tier = nz(c->from);
    tc.to_tier = nz(c->to);
    tc.at = c->at;
    tc.cause = (Tierd__Cause)c->cause;
    tc.program_version = nz(c->program_version);
    tc.event_id = c->event_id ? (char *)c->event_id : st->has_cause_event ? st->cause_event : "";
    tc.n_criteria = c->n_criteria;
    tc.criteria = critp;
    tc.n_lost = c->n_lost;
    tc.lost = critp + c->n_criteria;
    tc.promotion_tier = nz(c->promotion_tier);
    tc.dropped_demotion = c->dropped_demotion;
    tc.actor = nz(c->actor);
    tc.reason = nz(c->reason);
    tc.n_benefits_gained = c->n_gained;
    tc.benefits_gained = benp;
    tc.n_benefits_lost = c->n_benefits_lost;
    tc.benefits_lost = benp ? benp + c->n_gained : NULL;
    size_t len = tierd__tier_change__get_packed_size(&tc);
    buf = malloc(len ? len : 1);
    if (!buf)
        goto oom;
    tierd__tier_change__pack(&tc, buf);
    /* A replay's past is history, not news (below): no webhooks for it. */
    if (st->outbox.change && !(st->publish_floor != TD_TIME_NONE && c->at < st->publish_floor))
        st->outbox.change(st->outbox.ud, &tc);
    free(crit);
    free(critp);
    free(ben);
    free(benp);
    crit = NULL;
    critp = NULL;
    ben = NULL;
    benp = NULL;
    if (store_put_change(d->store, seq, c->partner, buf, len, &err) != 0) {
        free(buf);
        state_fail(d, &err);
        return;
    }
    metrics_change(d->metrics, c->cause);
    /* A replay's past is history, not news: followers find it through
     * ListChanges where the sequence numbers jump (docs/rpc.md). Queued
     * without a topic, it still wakes ListChanges long-polls. */
    if (st->publish_floor != TD_TIME_NONE && c->at < st->publish_floor) {
        free(buf);
        buf = NULL;
        if (queue_push(st, NULL, NULL, 0) != 0)
            goto oom;
        return;
    }
    size_t tlen = strlen(STATE_TOPIC_PREFIX) + strlen(tc.ladder) + 1 + strlen(tc.partner) + 1;
    topic = malloc(tlen);
    if (!topic)
        goto oom;
    snprintf(topic, tlen, STATE_TOPIC_PREFIX "%s/%s", tc.ladder, tc.partner);
    if (queue_push(st, topic, buf, len) != 0)
        goto oom;
    return;
oom:
    free(crit);
    free(critp);
    free(ben);
    free(benp);
    free(buf);
    free(topic);
    td_error_set(&err, TD_RESOURCE_EXHAUSTED, "out of memory recording a change of partner '%s'",
                 c->partner);
    state_fail(d, &err);
}

/* Writes (or deletes) the records of set->ids[from..to). */
static int write_partners(tierd *d, const idset *set, size_t from, size_t to, td_error *err)
{
    for (size_t i = from; i < to; i++) {
        const char *id = set->ids[i];
        td_partner *p = engine_partner_find(d->engine, id);
        int rc;
        if (p) {
            uint8_t *blob = NULL;
            size_t len = 0;
            if (engine_partner_encode(d->engine, p, &blob, &len) != 0)
                return td_error_set(err, TD_RESOURCE_EXHAUSTED,
                                    "out of memory encoding partner '%s'", id);
            rc = store_put_partner(d->store, id, blob, len, err);
            free(blob);
        } else {
            rc = store_del_partner(d->store, id, err);
            if (rc == -TD_NOT_FOUND)
                rc = 0;
        }
        if (rc)
            return rc;
    }
    return 0;
}

/* Makes memory match the store again after the turn's transaction was
 * dropped. A turn that changed the program rebuilds the engine whole: the
 * program re-evaluated every partner, dirty or not. */
static int rollback(tierd *d, td_error *err)
{
    state *st = d->state;
    store_abort(d->store);
    td_time now = tierd_now(d);
    /* A partner whose record lags the ingest log cannot be restored from
     * its record alone: then, as after a program change, rebuild it all. */
    bool lagging = st->turn_deferred;
    for (size_t i = 0; !lagging && i < st->dirty.n; i++)
        lagging = idset_has(&st->deferred, st->dirty.ids[i]) ||
                  (st->ckpt_active && idset_has(&st->ckpt, st->dirty.ids[i]));
    if (st->program_changed || lagging) {
        restored r = {0};
        td_error rerr = {0};
        if (restore_from_store(d->store, st->dir, now, &r, &rerr) == 0) {
            engine_free(d->engine);
            d->engine = r.engine;
            st->program_index = r.program_index;
            st->scheduled_index = r.scheduled_index;
            idset_free(&st->deferred);
            st->deferred = r.deferred; /* every lagging partner, exactly */
            st->deferred_events = r.replayed;
            idset_free(&st->ckpt);
            st->ckpt_active = false;
            d->pending_engine = NULL; /* Status counts the new engine's queue */
            return 0;
        }
        log_error("rolling back: %s", rerr.message);
        st->program_index = st->program_index_before;
        st->scheduled_index = st->scheduled_index_before;
    }
    int rc = 0;
    for (size_t i = 0; i < st->dirty.n; i++) {
        const char *id = st->dirty.ids[i];
        uint8_t *blob = NULL;
        size_t len = 0;
        td_error gerr = {0};
        int g = store_get_partner(d->store, id, &blob, &len, &gerr);
        if (g == 0) {
            g = engine_partner_restore(d->engine, blob, len, &gerr);
            free(blob);
        } else if (g == -TD_NOT_FOUND) {
            g = engine_partner_delete(d->engine, id, now, NULL, NULL, &gerr);
            if (g == -TD_NOT_FOUND)
                g = 0;
        }
        if (g && rc == 0) {
            rc = g;
            td_error_set(err, gerr.code, "rolling back partner '%s': %s", id, gerr.message);
        }
    }
    return rc;
}

static void turn_reset(state *st)
{
    idset_clear(&st->dirty);
    idset_clear(&st->turn_ids);
    st->turn_deferred = false;
    queue_clear(st);
    st->failed = false;
    st->program_changed = false;
    st->has_cause_event = false;
    td_error_clear(&st->fail_err);
}

/* Whatever the engine changed this turn, through any path (a handler, a
 * timer, a clock advance, a program version), is written: handlers need not
 * know which partners time moved. */
static void collect_touched(void *ud, const char *partner_id)
{
    dirty_add(ud, partner_id);
}

/* Out of memory here would lose a notice silently, so it poisons the turn. */
static void dirty_add_turn(state *st, const char *id)
{
    if (idset_add(&st->turn_ids, id) != 0 && !st->failed) {
        st->failed = true;
        td_error_set(&st->fail_err, TD_RESOURCE_EXHAUSTED,
                     "out of memory remembering partner '%s' for webhooks", id);
    }
}

/* The outbox's look at every partner the turn touched, in its transaction. */
static int outbox_turn(tierd *d, td_error *err)
{
    state *st = d->state;
    if (!st->outbox.partner || st->failed)
        return 0;
    if ((st->dirty.n || st->turn_ids.n) && state_begin(d, err) != 0)
        return -1;
    for (size_t i = 0; i < st->dirty.n; i++)
        if (st->outbox.partner(st->outbox.ud, st->dirty.ids[i], err) != 0)
            return -1;
    for (size_t i = 0; i < st->turn_ids.n; i++)
        if (!idset_has(&st->dirty, st->turn_ids.ids[i]) &&
            st->outbox.partner(st->outbox.ud, st->turn_ids.ids[i], err) != 0)
            return -1;
    if (store_in_txn(d->store) && st->outbox.before_commit &&
        st->outbox.before_commit(st->outbox.ud, err) != 0)
        return -1;
    return 0;
}

static void collect_deferred(void *ud, const char *partner_id)
{
    state *st = ud;
    if (st->outbox.partner)
        dirty_add_turn(st, partner_id);
    if (idset_add(&st->deferred, partner_id) != 0) {
        /* Not remembered as lagging: write it with this turn instead. */
        dirty_add(st, partner_id);
        return;
    }
    st->turn_deferred = true;
}

void state_absorb(tierd *d, bool replayable)
{
    state *st = d->state;
    if (engine_touched_take(d->engine, replayable ? collect_deferred : collect_touched, st) != 0) {
        /* A changed partner went unlisted: only a rebuild from the store
         * makes memory match disk again. */
        td_error err = {0};
        td_error_set(&err, TD_RESOURCE_EXHAUSTED, "out of memory listing changed partners");
        st->program_changed = true;
        state_fail(d, &err);
    }
}

/* A checkpoint begins once the log holds enough to make a restart's replay
 * slow, or has held entries for a while (one at a time). */
static bool checkpoint_due(tierd *d)
{
    state *st = d->state;
    if (st->ckpt_active || !st->deferred.n || st->failed)
        return false;
    if (st->checkpoint_wanted || st->deferred_events >= STATE_CHECKPOINT_EVENTS)
        return true;
    uint64_t now = d->loop ? uv_now(d->loop) : 0;
    if (st->deferred_since == 0)
        st->deferred_since = now ? now : 1;
    return now && now - st->deferred_since >= STATE_CHECKPOINT_MS;
}

/* Freezes the lagging set; `upto` is the log position it covers. */
static void checkpoint_begin(state *st, uint64_t upto)
{
    idset_free(&st->ckpt);
    st->ckpt = st->deferred;
    st->deferred = (idset){0};
    st->ckpt_active = true;
    st->ckpt_next = 0;
    st->ckpt_upto = upto;
    st->checkpoint_wanted = false;
    st->deferred_events = 0;
    st->deferred_since = 0;
}

/* The turn's part of a running checkpoint, in the open transaction: the
 * next slice of frozen partners and, once all are written, of the log
 * entries they make unneeded. *next and *trim_upto get the progress, which
 * the caller keeps only if the commit succeeds. */
static int checkpoint_slice(tierd *d, size_t *next, uint64_t *trim_upto, td_error *err)
{
    state *st = d->state;
    *next = st->ckpt_next;
    *trim_upto = st->trim_upto;
    if (st->ckpt_active) {
        size_t end = st->ckpt.n - *next > STATE_CHECKPOINT_SLICE ? *next + STATE_CHECKPOINT_SLICE
                                                                 : st->ckpt.n;
        int rc = write_partners(d, &st->ckpt, *next, end, err);
        if (rc)
            return rc;
        *next = end;
        if (end == st->ckpt.n) {
            /* Nothing logged since the freeze: the whole log goes at once. */
            if (!st->deferred.n && store_ilog_position(d->store) == st->ckpt_upto) {
                *trim_upto = 0;
                return store_ilog_clear(d->store, err);
            }
            *trim_upto = st->ckpt_upto;
            /* A restart need not read what waits to be trimmed. */
            uint8_t be[8];
            for (int i = 0; i < 8; i++)
                be[i] = (uint8_t)((st->ckpt_upto + 1) >> (56 - 8 * i));
            int rc = store_put_meta(d->store, RESTORE_META_LOG_FROM, be, sizeof be, err);
            if (rc)
                return rc;
        }
    }
    bool more = false;
    if (*trim_upto) {
        int rc = store_ilog_trim(d->store, *trim_upto, STATE_TRIM_SLICE, &more, err);
        if (rc)
            return rc;
        if (!more)
            *trim_upto = 0;
    }
    return 0;
}

static void checkpoint_advanced(state *st, size_t next, uint64_t trim_upto)
{
    st->trim_upto = trim_upto;
    if (!st->ckpt_active)
        return;
    st->ckpt_next = next;
    if (next == st->ckpt.n) {
        idset_free(&st->ckpt);
        st->ckpt_active = false;
    }
}

void state_checkpoint(tierd *d)
{
    d->state->checkpoint_wanted = true;
}

size_t state_lagging(const tierd *d)
{
    const state *st = d->state;
    return st->deferred.n + (st->ckpt_active ? st->ckpt.n - st->ckpt_next : 0);
}

/* Packs ev and appends it to the ingest log; *pb is `small` or malloc'd. */
static int log_event(tierd *d, td_time now, const Tierd__Event *ev, uint8_t *small, size_t cap,
                     uint8_t **pb, size_t *len, uint64_t *pos, td_error *err)
{
    *len = tierd__event__get_packed_size(ev);
    *pb = *len <= cap ? small : malloc(*len);
    if (!*pb) {
        td_error_set(err, TD_RESOURCE_EXHAUSTED, "out of memory recording event %s/%s", ev->source,
                     ev->id);
        state_fail(d, err);
        return -TD_RESOURCE_EXHAUSTED;
    }
    tierd__event__pack(ev, *pb);
    return store_ilog_append(d->store, now, *pb, *len, pos, err);
}

static store_hist_entry hist_entry(const td_event *te, uint64_t added)
{
    return (store_hist_entry){.partner = te->partner,
                              .metric = te->metric,
                              .source = te->source,
                              .id = te->id,
                              .key = te->key,
                              .value = te->value,
                              .at = te->at,
                              .added = added};
}

int state_record_event(tierd *d, td_time now, const Tierd__Event *ev, const td_event *te,
                       td_error *err)
{
    state *st = d->state;
    if (st->watch.partner)
        st->watch.partner(st->watch.ud, ev->partner);
    uint8_t small[STATE_EVENT_BUF];
    uint8_t *pb = NULL;
    size_t len = 0;
    uint64_t pos = 0;
    int rc = log_event(d, now, ev, small, sizeof small, &pb, &len, &pos, err);
    if (rc == -TD_RESOURCE_EXHAUSTED && !pb)
        return rc;
    if (rc == 0) {
        store_event_meta meta = {.added = pos};
        rc = store_set_event(d->store, ev->source, ev->id, &meta, pb, len, err);
    }
    if (rc == 0) {
        store_hist_entry h = hist_entry(te, pos);
        rc = store_hist_add(d->store, &h, err);
    }
    if (pb != small)
        free(pb);
    if (rc)
        return write_failed(d, rc, err);
    st->deferred_events++;
    return 0;
}

int state_record_correction(tierd *d, td_time now, const Tierd__Event *ev,
                            const store_event_meta *was, const td_event *old, const uint8_t *old_pb,
                            size_t old_len, const td_event *amended, td_error *err)
{
    state *st = d->state;
    if (st->watch.partner)
        st->watch.partner(st->watch.ud, old->partner);
    uint8_t small[STATE_EVENT_BUF];
    uint8_t *pb = NULL;
    size_t len = 0;
    uint64_t pos = 0;
    int rc = log_event(d, now, ev, small, sizeof small, &pb, &len, &pos, err);
    if (rc == -TD_RESOURCE_EXHAUSTED && !pb)
        return rc;
    if (rc == 0)
        rc = store_hist_retire(d->store, old->partner, old->metric, was->added, pos, err);
    if (rc == 0 && amended) {
        store_hist_entry h = hist_entry(amended, pos);
        rc = store_hist_add(d->store, &h, err);
    }
    if (rc == 0) {
        store_event_meta meta = *was;
        if (amended) {
            meta.added = pos;
            meta.revision = ev->revision;
        } else {
            meta.retracted = true;
        }
        rc = amended ? store_set_event(d->store, ev->source, ev->id, &meta, pb, len, err)
                     : store_set_event(d->store, ev->source, ev->id, &meta, old_pb, old_len, err);
    }
    if (pb != small)
        free(pb);
    if (rc)
        return write_failed(d, rc, err);
    st->deferred_events++;
    return 0;
}

/* store_commit, timed and its bytes counted when it writes anything. */
static int commit_measured(tierd *d, td_error *err)
{
    if (!store_in_txn(d->store))
        return store_commit(d->store, err);
    uint64_t bytes = store_txn_bytes(d->store);
    uint64_t started = uv_hrtime();
    int rc = store_commit(d->store, err);
    if (rc == 0)
        metrics_commit(d->metrics, uv_hrtime() - started, bytes);
    return rc;
}

int state_flush(tierd *d, td_error *err)
{
    state *st = d->state;
    state_absorb(d, false);
    td_error oerr = {0};
    if (outbox_turn(d, &oerr) != 0)
        state_fail(d, &oerr);
    bool begin = checkpoint_due(d);
    bool checkpointing = begin || st->ckpt_active || st->trim_upto;
    if (!st->failed && (st->dirty.n || checkpointing) && !store_in_txn(d->store))
        state_begin(d, err);
    if (!st->failed) {
        td_error werr = {0};
        size_t next = 0;
        uint64_t trim_upto = 0;
        if (begin)
            checkpoint_begin(st, store_ilog_position(d->store));
        if (write_partners(d, &st->dirty, 0, st->dirty.n, &werr) != 0 ||
            checkpoint_slice(d, &next, &trim_upto, &werr) != 0 || commit_measured(d, &werr) != 0) {
            state_fail(d, &werr);
            if (begin) { /* the freeze never happened */
                idset_free(&st->deferred);
                st->deferred = st->ckpt;
                st->ckpt = (idset){0};
                st->ckpt_active = false;
            }
        } else {
            checkpoint_advanced(st, next, trim_upto);
        }
    }
    if (st->failed) {
        td_error why = st->fail_err;
        td_error rerr = {0};
        if (rollback(d, &rerr) != 0)
            log_error("%s", rerr.message);
        engine_touched_take(d->engine, NULL, NULL); /* restored from the store */
        metrics_turn_end(d->metrics, false);
        if (st->outbox.rolled_back)
            st->outbox.rolled_back(st->outbox.ud);
        turn_reset(st);
        tell_everyone(st);
        return td_error_set(err, why.code, "%s", why.message);
    }
    for (size_t i = 0; i < st->n_queue && st->publish; i++)
        st->publish(st->publish_ud, st->queue[i].topic, st->queue[i].buf, st->queue[i].len);
    metrics_turn_end(d->metrics, true);
    if (st->outbox.committed)
        st->outbox.committed(st->outbox.ud);
    turn_reset(st);
    return 0;
}
