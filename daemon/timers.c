/* Timers: time-driven evaluation (docs/program.md, "Lifecycle": time alone
 * changes tiers).
 *
 * Owns a priority queue of (due time, partner id) with at most one entry per
 * partner (timer_heap.c) and one libuv timer armed for the earliest entry,
 * so nothing ever sweeps all partners to find who is due.
 *
 * Promises: every partner whose evaluation can change with time alone has
 * exactly one entry, at engine_partner_next_due; due partners are evaluated
 * in time order, in slices of at most TIMERS_SLICE_MAX_PARTNERS partners or
 * TIMERS_SLICE_MAX_MS, each slice one commit, so queries are served between
 * slices. A slice whose commit fails is rolled back by state_flush and its
 * partners are queued again, so no expiry is lost.
 *
 * Ids, not partner pointers, are queued: a rollback may rebuild the engine,
 * and a partner deleted meanwhile simply has no match when its time comes.
 *
 * It does not decide what changes (the engine does), nor number, store or
 * publish changes (state does), nor read the clock itself (tierd_now). */
#include "timers.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kpi_snap.h"
#include "log.h"
#include "metrics.h"
#include "replay.h"
#include "state.h"

#define NS_PER_MS 1e6
#define MS_PER_S  1000

/* ---- the daemon's timers ---- */

/* A partner evaluated in the open slice and the due time it had, so a
 * failed commit can queue it again. */
typedef struct slice_entry {
    char id[TD_MAX_ID + 1];
    td_time due;
} slice_entry;

struct timers {
    tierd *d;
    timer_heap *heap;
    uv_timer_t timer;
    bool has_timer;
    slice_entry *slice;
    size_t n_slice;
    uint64_t slice_started; /* uv_hrtime() at the slice's first partner */
    timers_stats stats;
    kpi_snap *kpi; /* KPI snapshots: one more kind of due instant */

    /* Start-up fill: a million partners' due times take seconds to
     * compute, so after a restart they are queued in slices while the
     * daemon already serves; the timer is armed once the queue is whole. */
    uv_idle_t fill;
    bool filling;
    char *fill_ids; /* the restored ids, NUL-separated; fill_off is the next */
    size_t fill_len, fill_off;
    uint64_t fill_started;
    int open_handles;
};

static void timers_on_timer(uv_timer_t *h);
static int timers_rebuild_at(timers *t, td_time now, td_error *err);

/* The instant time-driven evaluation has reached: the clock, or while a
 * replayed import is open (replay.h) the instant it has replayed up to, so
 * due times are counted from where the replay stands, not from today. */
static td_time timers_now(const timers *t)
{
    return t->d->replay_at != TD_TIME_NONE ? t->d->replay_at : tierd_now(t->d);
}

static double elapsed_ms(uint64_t since)
{
    return (double)(uv_hrtime() - since) / NS_PER_MS;
}

/* Counts changes on their way to state, which numbers and stores them. */
static void timers_sink(void *ud, const td_change *c)
{
    timers *t = ud;
    t->stats.changes++;
    state_change_sink(t->d, c);
}

static void timers_arm(timers *t)
{
    /* A partial queue would run partners out of time order. */
    if (!t->has_timer || t->filling)
        return;
    /* An open replay moves time itself (timers_walk); the real timer would
     * evaluate its past instants at today's date. */
    if (t->d->replay_at != TD_TIME_NONE) {
        uv_timer_stop(&t->timer);
        return;
    }
    const char *id;
    td_time due;
    td_time program_due = engine_next_program_due(t->d->engine);
    td_time kpi_due = t->kpi ? kpi_snap_due(t->kpi) : TD_TIME_NONE;
    if (!timer_heap_peek(t->heap, &id, &due))
        due = program_due;
    else if (program_due != TD_TIME_NONE && program_due < due)
        due = program_due;
    /* Snapshots alone do not keep the loop alive: boundaries never end,
     * and the daemon's sockets hold the loop anyway (a test's loop runs
     * until the partners are done). */
    if (due == TD_TIME_NONE)
        uv_unref((uv_handle_t *)&t->timer);
    else
        uv_ref((uv_handle_t *)&t->timer);
    if (kpi_due != TD_TIME_NONE && (due == TD_TIME_NONE || kpi_due < due))
        due = kpi_due;
    if (due == TD_TIME_NONE) {
        uv_timer_stop(&t->timer);
        return;
    }
    td_time now = tierd_now(t->d);
    int64_t delay = due > now ? due - now : 0;
    /* A capped delay re-checks daily, so a wall clock set back or forward
     * never leaves a due partner waiting for a stale deadline. */
    if (delay > TIMERS_MAX_DELAY_S)
        delay = TIMERS_MAX_DELAY_S;
    uv_timer_start(&t->timer, timers_on_timer, (uint64_t)delay * MS_PER_S, 0);
}

static void queue_set(timers *t, const char *id, td_time due)
{
    if (timer_heap_set(t->heap, id, due) != 0)
        log_error("timers: out of memory queueing partner '%s'; it is re-evaluated on its next "
                  "event",
                  id);
}

/* Evaluates the partner (p, or looked up by id) at `at` and queues its next
 * due time. id must not point into the queue: queue_set may free the entry. */
static void eval_one(timers *t, td_partner *p, const char *id, td_time due, td_time at)
{
    engine *e = t->d->engine;
    if (!p)
        p = engine_partner_find(e, id);
    if (!p) {
        timer_heap_remove(t->heap, id);
        return;
    }
    if (t->n_slice == 0)
        t->slice_started = uv_hrtime();
    slice_entry *s = &t->slice[t->n_slice++];
    memcpy(s->id, id, strlen(id) + 1);
    s->due = due;
    engine_evaluate(e, p, at, timers_sink, t);
    t->stats.processed++;
    td_time next = engine_partner_next_due(e, p, at);
    /* The engine promises a time after `at`; anything else would spin. */
    if (next != TD_TIME_NONE && next <= at)
        next = TD_TIME_NONE;
    queue_set(t, s->id, next);
}

static bool slice_full(const timers *t)
{
    return t->n_slice >= TIMERS_SLICE_MAX_PARTNERS ||
           (t->n_slice && elapsed_ms(t->slice_started) >= TIMERS_SLICE_MAX_MS);
}

/* Commits the slice. On failure state_flush has restored its partners from
 * the store, so they go back in the queue: at `retry`, or at their own due
 * time when retry is TD_TIME_NONE. */
static int slice_commit(timers *t, td_time retry, td_error *err)
{
    uint64_t commit_started = uv_hrtime();
    int rc = state_flush(t->d, err);
    double commit_ms = elapsed_ms(commit_started);
    if (commit_ms > t->stats.longest_commit_ms)
        t->stats.longest_commit_ms = commit_ms;
    double ms = t->n_slice ? elapsed_ms(t->slice_started) : 0;
    if (t->n_slice) {
        t->stats.slices++;
        t->stats.last_slice_ms = ms;
        if (ms > t->stats.longest_slice_ms)
            t->stats.longest_slice_ms = ms;
        if (ms > TIMERS_SLOW_SLICE_MS)
            t->stats.slow_slices++;
    }
    if (rc) {
        t->stats.failed_slices++;
        for (size_t i = 0; i < t->n_slice; i++)
            queue_set(t, t->slice[i].id, retry != TD_TIME_NONE ? retry : t->slice[i].due);
    }
    t->n_slice = 0;
    return rc;
}

/* Real clock: one slice of the partners due by now, then re-arm (at once
 * when more are due, so the loop polls sockets in between). */
static void timers_on_timer(uv_timer_t *h)
{
    timers *t = h->data;
    tierd *d = t->d;
    td_time now = tierd_now(d);
    td_error err = {0};
    if (state_begin(d, &err) != 0) {
        log_warning("timers: cannot open a transaction: %s", err.message);
        uv_timer_start(&t->timer, timers_on_timer, (uint64_t)TIMERS_RETRY_S * MS_PER_S, 0);
        return;
    }
    td_time at = now;
    int applied = state_apply_scheduled(d, &at, &err);
    if (applied < 0)
        log_warning("timers: a scheduled program version could not take effect: %s", err.message);
    else if (applied > 0 && timers_rebuild_at(t, now, &err) != 0)
        log_warning("timers: %s", err.message);
    const char *id;
    td_time due;
    char idbuf[TD_MAX_ID + 1];
    /* A boundary passed: partners due before it first, then the snapshot,
     * so it describes the state just before the boundary (the last one
     * passed: after a pause over several, only that one is taken). */
    td_time kpi_due = t->kpi ? kpi_snap_due(t->kpi) : TD_TIME_NONE;
    bool kpi_now = kpi_due != TD_TIME_NONE && kpi_due <= now;
    td_time kpi_at = kpi_now ? kpi_snap_boundary(t->kpi, now) : TD_TIME_NONE;
    /* The lag is measured against the wall clock to the nanosecond: due
     * instants are whole seconds, and lateness under a second is news. */
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    while (!slice_full(t) && timer_heap_peek(t->heap, &id, &due) && due <= now &&
           !(kpi_now && due >= kpi_at)) {
        memcpy(idbuf, id, strlen(id) + 1);
        metrics_timer_lag(d->metrics, (double)(wall.tv_sec - due) +
                                          (double)wall.tv_nsec / NS_PER_MS / MS_PER_S);
        eval_one(t, NULL, idbuf, due, now);
    }
    if (kpi_now && !slice_full(t) && !(timer_heap_peek(t->heap, &id, &due) && due < kpi_at) &&
        kpi_snap_take(t->kpi, now, &err) != 0)
        log_warning("timers: taking a KPI snapshot failed: %s", err.message);
    if (slice_commit(t, now + TIMERS_RETRY_S, &err) != 0)
        log_warning("timers: committing expired windows failed, retrying in %ds: %s",
                    TIMERS_RETRY_S, err.message);
    timers_arm(t);
}

/* Queues p's next due time. Counting from the partner's last change rather
 * than from now keeps an edge that passed unevaluated (the daemon was down,
 * or the entry was overdue when the queue was dropped) as an overdue entry,
 * evaluated at once; from now it would be lost. */
static int queue_partner(timers *t, td_partner *p, td_time now)
{
    td_partner_info info;
    engine_partner_info(p, &info);
    td_time base = info.updated > 0 && info.updated < now ? info.updated : now;
    /* A replay that stands before a partner's own state must not evaluate
     * it at an instant it has already left behind. */
    if (t->d->replay_at != TD_TIME_NONE) {
        td_time asof = replay_partner_asof(t->d->engine, p);
        if (asof > base)
            base = asof;
    }
    return timer_heap_set(t->heap, info.id, engine_partner_next_due(t->d->engine, p, base));
}

static void fill_stop(timers *t)
{
    if (!t->filling)
        return;
    uv_idle_stop(&t->fill);
    free(t->fill_ids);
    t->fill_ids = NULL;
    t->filling = false;
}

/* One slice of the start-up fill: restored partners in store order until
 * TIMERS_FILL_SLICE_MS pass. A partner deleted since has no match; one
 * changed since was queued by timers_touch and is queued again here from
 * its state now, which gives the same due time. */
static void timers_on_fill(uv_idle_t *h)
{
    timers *t = h->data;
    uint64_t started = uv_hrtime();
    td_time now = timers_now(t);
    for (size_t n = 1; t->fill_off < t->fill_len; n++) {
        const char *id = t->fill_ids + t->fill_off;
        t->fill_off += strlen(id) + 1;
        td_partner *p = engine_partner_find(t->d->engine, id);
        if (p && queue_partner(t, p, now) != 0)
            log_error("timers: out of memory queueing partner '%s'; it is re-evaluated on its "
                      "next event",
                      id);
        if (n % TIMERS_FILL_CHECK_EVERY == 0 && elapsed_ms(started) >= TIMERS_FILL_SLICE_MS)
            return;
    }
    fill_stop(t);
    t->stats.pending = timer_heap_size(t->heap);
    log_info("timers: %llu partners queued in %.2f s, while serving",
             (unsigned long long)t->stats.pending, elapsed_ms(t->fill_started) / MS_PER_S);
    timers_arm(t);
}

/* Every partner's next due time after `now`, from scratch. */
static int timers_rebuild_at(timers *t, td_time now, td_error *err)
{
    tierd *d = t->d;
    fill_stop(t); /* the rebuild queues every partner itself */
    timer_heap_clear(t->heap);
    td_partner *page[TIMERS_PAGE];
    const char *after = NULL;
    bool more = true;
    while (more) {
        td_error lerr = {0};
        size_t n =
            engine_partner_list(d->engine, after, NULL, NULL, page, TIMERS_PAGE, &more, &lerr);
        if (lerr.code != TD_OK)
            return td_error_set(err, lerr.code, "timers: %s", lerr.message);
        for (size_t i = 0; i < n; i++) {
            if (queue_partner(t, page[i], now) != 0)
                return td_error_set(err, TD_RESOURCE_EXHAUSTED,
                                    "timers: out of memory queueing %zu partners",
                                    timer_heap_size(t->heap));
        }
        if (!n)
            break;
        td_partner_info last;
        engine_partner_info(page[n - 1], &last);
        after = last.id;
    }
    t->stats.pending = timer_heap_size(t->heap);
    return 0;
}

int timers_rebuild(timers *t, td_error *err)
{
    if (!t)
        return 0;
    int rc = timers_rebuild_at(t, timers_now(t), err);
    timers_arm(t);
    return rc;
}

/* A program version applied or scheduled, or a failed commit that restored
 * partners from the store or rebuilt the engine: every queued due time may
 * describe state that no longer exists. */
static void timers_on_everyone(void *ud)
{
    timers *t = ud;
    td_error err = {0};
    /* A failed commit may have dropped a snapshot; a new program may
     * change the period. */
    if (t->kpi && kpi_snap_reload(t->kpi, tierd_now(t->d), &err) != 0)
        log_error("timers: reading the last KPI snapshot failed: %s", err.message);
    if (timers_rebuild(t, &err) != 0)
        log_error("timers: rebuilding the queue failed: %s", err.message);
}

static void timers_on_partner(void *ud, const char *partner_id)
{
    timers_touch(ud, partner_id);
}

static void timers_free(timers *t)
{
    kpi_snap_free(t->kpi);
    timer_heap_free(t->heap);
    free(t->slice);
    free(t->fill_ids);
    free(t);
}

/* With a loop and restored partners: starts the fill and returns true. */
static bool fill_start(timers *t)
{
    size_t count = 0, len = 0;
    char *ids = t->d->state ? state_take_restored_ids(t->d, &count, &len) : NULL;
    if (!t->has_timer || count < TIMERS_FILL_MIN_PARTNERS) {
        free(ids);
        return false;
    }
    t->fill_ids = ids;
    t->fill_len = len;
    t->fill_off = 0;
    t->fill_started = uv_hrtime();
    t->filling = true;
    uv_idle_start(&t->fill, timers_on_fill);
    return true;
}

int timers_open(tierd *d, timers **out, td_error *err)
{
    timers *t = calloc(1, sizeof *t);
    if (!t)
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "timers: out of memory");
    t->d = d;
    t->heap = timer_heap_new();
    t->slice = malloc(TIMERS_SLICE_MAX_PARTNERS * sizeof *t->slice);
    if (!t->heap || !t->slice) {
        timers_free(t);
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "timers: out of memory");
    }
    if (d->store && kpi_snap_open(d, tierd_now(d), &t->kpi, err) != 0) {
        timers_free(t);
        return -(int)err->code;
    }
    /* A fake clock moves only through timers_advance, so nothing is armed. */
    if (d->loop && !d->fake_clock) {
        uv_timer_init(d->loop, &t->timer);
        uv_idle_init(d->loop, &t->fill);
        t->timer.data = t->fill.data = t;
        t->has_timer = true;
    }
    uint64_t started = uv_hrtime();
    int rc = fill_start(t) ? 0 : timers_rebuild(t, err);
    if (rc) {
        timers_close(t);
        return rc;
    }
    if (!t->filling)
        log_info("timers: %llu partners queued in %.2f s", (unsigned long long)t->stats.pending,
                 elapsed_ms(started) / MS_PER_S);
    if (d->state)
        state_set_watch(d, &(state_watch){timers_on_partner, timers_on_everyone, t});
    *out = t;
    return 0;
}

static void timers_on_closed(uv_handle_t *h)
{
    timers *t = h->data;
    if (--t->open_handles == 0)
        timers_free(t);
}

void timers_close(timers *t)
{
    if (!t)
        return;
    if (t->d->state)
        state_set_watch(t->d, NULL);
    if (t->has_timer) {
        fill_stop(t);
        uv_timer_stop(&t->timer);
        t->open_handles = 2;
        uv_close((uv_handle_t *)&t->timer, timers_on_closed);
        uv_close((uv_handle_t *)&t->fill, timers_on_closed);
        return;
    }
    timers_free(t);
}

void timers_touch(timers *t, const char *partner_id)
{
    if (!t || !partner_id)
        return;
    engine *e = t->d->engine;
    td_partner *p = engine_partner_find(e, partner_id);
    td_time now = timers_now(t);
    td_time queued = timer_heap_due(t->heap, partner_id);
    if (!p)
        timer_heap_remove(t->heap, partner_id);
    else if (queued == TD_TIME_NONE || queued > now)
        queue_set(t, partner_id, engine_partner_next_due(e, p, now));
    /* An overdue entry stays: next_due looks only after now, and the change
     * between its due time and now has not been evaluated yet. */
    timers_arm(t);
}

/* Commits the open slice when it is full and opens the next one. */
static int advance_slice(timers *t, td_error *err)
{
    if (!slice_full(t))
        return 0;
    if (slice_commit(t, TD_TIME_NONE, err) != 0)
        return -1;
    return state_begin(t->d, err);
}

/* The queue is first rebuilt at `from`: a fake clock serves tests and demos,
 * where one pass over the partners is cheap next to the jump, and the
 * replay then holds even if some path that changed a partner did not touch
 * its entry.
 *
 * Why each partner is evaluated at its own due instant rather than at `to`:
 * a window that expired on day 30 of a 400-day jump demoted the partner on
 * day 30, and History must say so; and a partner can be due several times
 * in the jump (each bucket leaving its window), each crossing a tier edge
 * of its own. Taking the queue in time order replays the jump as if the
 * daemon had been running through it. The sweep at `to` afterwards catches
 * whatever no window edge predicts. Everything runs synchronously in the
 * Clock request (a fake clock is for tests and demos; the reply waits), but
 * commits every slice so one huge jump is never one huge transaction. */
static int walk_due(timers *t, td_time from, td_time to, td_error *err)
{
    tierd *d = t->d;
    int rc = state_begin(d, err);
    const char *id;
    td_time due;
    char idbuf[TD_MAX_ID + 1];
    for (;;) {
        if (rc)
            break;
        bool have = timer_heap_peek(t->heap, &id, &due) && due <= to;
        /* A KPI boundary takes its place in time order too, before
         * anything due at the boundary itself (kpi_snap.h). */
        td_time kpi_due = t->kpi ? kpi_snap_due(t->kpi) : TD_TIME_NONE;
        td_time program_due = engine_next_program_due(d->engine);
        if (kpi_due != TD_TIME_NONE && kpi_due <= to && (!have || kpi_due <= due) &&
            (program_due == TD_TIME_NONE || kpi_due <= program_due)) {
            if (kpi_snap_take(t->kpi, kpi_due < from ? from : kpi_due, err) != 0) {
                rc = -1;
                break;
            }
            rc = advance_slice(t, err);
            continue;
        }
        /* A scheduled version takes effect in its place in time order: the
         * partners due before it are judged under the old one. */
        if (program_due != TD_TIME_NONE && program_due <= to && (!have || program_due <= due)) {
            td_time at = program_due < from ? from : program_due;
            if (state_apply_scheduled(d, &at, err) < 0 ||
                timers_rebuild_at(t, at < from ? from : at, err) != 0) {
                rc = -1;
                break;
            }
            rc = advance_slice(t, err);
            continue;
        }
        if (!have)
            break;
        memcpy(idbuf, id, strlen(id) + 1);
        eval_one(t, NULL, idbuf, due, due < from ? from : due);
        rc = advance_slice(t, err);
    }
    return rc;
}

int timers_walk(timers *t, td_time from, td_time to, td_error *err)
{
    /* Right after a restart the fill may not have queued everyone yet; a
     * walk over part of the queue would pass the others' due times by and
     * judge them later, at the wrong instant. */
    int rc = t->filling ? timers_rebuild_at(t, from, err) : 0;
    if (!rc)
        rc = walk_due(t, from, to, err);
    t->stats.pending = timer_heap_size(t->heap);
    if (rc) {
        state_fail(t->d, err);
        return -(int)err->code;
    }
    return 0;
}

int timers_advance(timers *t, td_time from, td_time to, uint64_t *changes, td_error *err)
{
    tierd *d = t->d;
    uint64_t before = t->stats.changes;
    int rc = timers_rebuild_at(t, from, err);
    if (!rc)
        rc = walk_due(t, from, to, err);
    char idbuf[TD_MAX_ID + 1];
    /* Partners are not freed by evaluation or by a successful commit, so a
     * page's pointers (and the last id, the next page's start) stay valid. */
    const char *after = NULL;
    bool more = true;
    td_partner *page[TIMERS_PAGE];
    while (!rc && more) {
        td_error lerr = {0};
        size_t n =
            engine_partner_list(d->engine, after, NULL, NULL, page, TIMERS_PAGE, &more, &lerr);
        if (lerr.code != TD_OK) {
            rc = td_error_set(err, lerr.code, "timers: %s", lerr.message);
            break;
        }
        for (size_t i = 0; i < n && !rc; i++) {
            td_partner_info info;
            engine_partner_info(page[i], &info);
            memcpy(idbuf, info.id, strlen(info.id) + 1);
            eval_one(t, page[i], idbuf, timer_heap_due(t->heap, idbuf), to);
            after = info.id;
            rc = advance_slice(t, err);
        }
        if (!n)
            break;
    }
    if (changes)
        *changes = t->stats.changes - before;
    t->stats.pending = timer_heap_size(t->heap);
    if (rc) {
        /* The server's flush of this turn then fails too, so requests that
         * shared the rolled-back slice are not answered OK. */
        state_fail(d, err);
        return -(int)err->code;
    }
    return 0;
}

void timers_get_stats(const timers *t, timers_stats *out)
{
    *out = t->stats;
    out->pending = timer_heap_size(t->heap);
}
