/* Corrections (engine_correct in engine.h): a retraction or an amendment
 * of an event accepted before.
 *
 * Owns taking one event's contribution out of its stream: exactly in
 * place when the stream can tell (metric_stream_remove), else by
 * rebuilding the stream from the events that still count, which the
 * caller's store supplies, into a fresh stream that replaces the old one
 * only once whole, so a failure changes nothing. A rebuild folds the
 * events in the order they were accepted, so the result is what a daemon
 * that never saw the corrected event would hold. Then the partner's
 * ladders are re-evaluated with cause CORRECTION.
 *
 * Place in the engine's line (tests/unit/test_engine_layers.sh): above
 * ingest; calls down only. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ingest.h"
#include "text.h"

#define CORRECT_REASON_MAX 64

typedef struct rebuild {
    metric_stream s;
    const td_event *old;
    uint8_t flags;
    bool oom;
} rebuild;

static int fold_one(void *ud, const td_event *ev)
{
    rebuild *r = ud;
    if (metric_stream_add(&r->s, ev->at, ev->value, ev->key, r->flags) != 0) {
        r->oom = true;
        return -TD_RESOURCE_EXHAUSTED;
    }
    return 0;
}

/* Replaces stream x of p with one rebuilt from history, pruned to horizon. */
static int rebuild_stream(td_partner *p, int x, uint8_t flags, td_time horizon,
                          td_history_fn history, void *hud, const td_event *old, td_error *err)
{
    if (!history)
        return td_error_set(err, TD_FAILED_PRECONDITION,
                            "event %s/%s: taking it out needs the partner's event history",
                            old->source, old->id);
    rebuild r = {.old = old, .flags = flags};
    int rc = history(hud, fold_one, &r, err);
    if (rc || r.oom) {
        metric_stream_free(&r.s);
        if (r.oom)
            return td_error_set(err, TD_RESOURCE_EXHAUSTED, "event %s/%s: out of memory",
                                old->source, old->id);
        return rc;
    }
    if (metric_stream_needs_prune(&r.s, horizon, flags))
        metric_stream_prune(&r.s, horizon, flags);
    metric_stream_free(&p->streams[x]);
    p->streams[x] = r.s;
    return 0;
}

static bool same_text(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

int engine_correct(engine *e, const td_event *old, const td_event *amended, uint64_t revision,
                   td_history_fn history, void *hud, td_time now, td_change_fn fn, void *ud,
                   td_error *err)
{
    if (!e->prog)
        return td_error_set(err, TD_FAILED_PRECONDITION, "no program loaded");
    if (!td_text_ok(old->partner, TD_MAX_ID) || !td_text_ok(old->metric, TD_MAX_NAME))
        return td_error_set(err, TD_INVALID_ARGUMENT, "event %s/%s: the stored event is damaged",
                            old->source, old->id);
    td_partner *p = engine_partner_find(e, old->partner);
    if (!p)
        return td_error_set(err, TD_NOT_FOUND, "unknown partner '%s'", old->partner);
    int x = names_find(&e->events, old->metric);
    bool read = x >= 0 && (size_t)x < e->cp.n_ev && e->cp.ev_metrics[x];
    if (amended) {
        if (revision == 0)
            return td_error_set(err, TD_INVALID_ARGUMENT, "revision: an amendment needs 1 or more");
        if (!same_text(amended->partner, old->partner))
            return td_error_set(err, TD_INVALID_ARGUMENT,
                                "partner: '%s' is not the stored event's partner '%s'",
                                amended->partner ? amended->partner : "", old->partner);
        if (!same_text(amended->metric, old->metric))
            return td_error_set(err, TD_INVALID_ARGUMENT,
                                "metric: '%s' is not the stored event's metric '%s'",
                                amended->metric ? amended->metric : "", old->metric);
        td_partner *q;
        int y;
        int rc = ingest_check(e, amended, now, &q, &y, err);
        if (rc)
            return rc;
    }
    char reason[CORRECT_REASON_MAX];
    if (amended)
        snprintf(reason, sizeof reason, "amended to revision %" PRIu64, revision);
    else
        snprintf(reason, sizeof reason, "retracted");
    if (read) {
        uint8_t flags = e->cp.ev_flags[x];
        td_time horizon = eng_prog_horizon(&e->cp, x, now);
        if (partner_grow_streams(p, e->cp.n_ev) != 0)
            return td_error_set(err, TD_RESOURCE_EXHAUSTED, "event %s/%s: out of memory",
                                old->source, old->id);
        metric_stream *s = &p->streams[x];
        /* In place when exact (the common case: an ordinary value, not the
         * latest), the new version folded in after; else one rebuild from
         * the history, which holds the new version already. */
        int rc = metric_stream_remove(s, old->at, old->value, old->key, flags, horizon);
        if (rc == 0 && amended &&
            metric_stream_add(s, amended->at, amended->value, amended->key, flags) != 0)
            rc = 1; /* the removal stands; the rebuild below makes it whole */
        if (rc != 0) {
            rc = rebuild_stream(p, x, flags, horizon, history, hud, old, err);
            if (rc)
                return rc;
        } else if (metric_stream_needs_prune(s, horizon, flags)) {
            metric_stream_prune(s, horizon, flags);
        }
    }
    if (!amended && p->events)
        p->events--;
    p->updated = now;
    engine_touch(e, p);
    if (read)
        evaluate_ladders_because(e, p, e->cp.ev_ladders[x], now, TD_CAUSE_CORRECTION, reason,
                                 amended ? amended : old, fn, ud);
    return 0;
}
