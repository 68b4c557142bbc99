/* Events (engine_ingest in engine.h): the one way metric state grows.
 *
 * Owns validating an event as the engine sees it (known partner, known
 * event name, finite value within TD_MAX_EVENT_VALUE, sane time, text ids
 * and key), folding it into its stream, pruning that stream to its
 * horizon, and re-evaluating only the ladders that read a metric the
 * event feeds. Promises that a rejected event touches nothing and that an
 * accepted one marks its partner changed. Does not check idempotency (the
 * daemon does, against its store).
 *
 * Place in the engine's line (tests/unit/test_engine_layers.sh): above
 * evaluate; calls down only. */
#include <math.h>

#include "ingest.h"
#include "text.h"

int ingest_check(engine *e, const td_event *ev, td_time now, td_partner **out, int *index,
                 td_error *err)
{
    if (!e->prog)
        return td_error_set(err, TD_FAILED_PRECONDITION, "no program loaded");
    if (!td_text_ok(ev->source, TD_MAX_ID) || !td_text_ok(ev->id, TD_MAX_ID))
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "event source and id must be 1..%d bytes of UTF-8 without control "
                            "characters",
                            TD_MAX_ID);
    if (ev->key && !td_text_ok(ev->key, TD_MAX_ID))
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "event %s/%s: key must be 1..%d bytes of UTF-8 without control "
                            "characters",
                            ev->source, ev->id, TD_MAX_ID);
    if (!td_text_ok(ev->partner, TD_MAX_ID))
        return td_error_set(err, TD_INVALID_ARGUMENT, "event %s/%s: invalid partner id", ev->source,
                            ev->id);
    td_partner *p = engine_partner_find(e, ev->partner);
    if (!p)
        return td_error_set(err, TD_NOT_FOUND, "unknown partner '%s'", ev->partner);
    int x = td_text_ok(ev->metric, TD_MAX_NAME) ? names_find(&e->events, ev->metric) : -1;
    if (x < 0 || (size_t)x >= e->cp.n_ev || !e->cp.ev_metrics[x])
        return td_error_set(err, TD_INVALID_ARGUMENT, "unknown metric '%s'",
                            td_text_ok(ev->metric, TD_MAX_NAME) ? ev->metric : "(invalid)");
    /* The caller names the event (index, source/id); these say only why. */
    if (!isfinite(ev->value) || fabs(ev->value) > TD_MAX_EVENT_VALUE)
        return td_error_set(err, TD_INVALID_ARGUMENT, "value must be finite and within +-%g",
                            TD_MAX_EVENT_VALUE);
    if (ev->at < TD_TIME_MIN || ev->at > TD_TIME_MAX)
        return td_error_set(err, TD_INVALID_ARGUMENT, "at: time %lld is outside 1970..9999",
                            (long long)ev->at);
    if (ev->at > now + TD_MAX_FUTURE_SKEW) {
        char at[TD_TIME_STRLEN], clock[TD_TIME_STRLEN];
        td_time_format(ev->at, at, sizeof at);
        td_time_format(now, clock, sizeof clock);
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "at: %s lies in the future (now is %s; at most %d s ahead is accepted)",
                            at, clock, TD_MAX_FUTURE_SKEW);
    }
    *out = p;
    *index = x;
    return 0;
}

int engine_ingest(engine *e, const td_event *ev, td_time now, td_change_fn fn, void *ud,
                  td_error *err)
{
    td_partner *p;
    int x;
    int rc = ingest_check(e, ev, now, &p, &x, err);
    if (rc)
        return rc;
    /* Every stream of the program at once: one allocation, not one per event kind. */
    if (partner_grow_streams(p, e->cp.n_ev) != 0 ||
        metric_stream_add(&p->streams[x], ev->at, ev->value, ev->key, e->cp.ev_flags[x]) != 0)
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "event %s/%s: out of memory", ev->source,
                            ev->id);
    metric_stream *s = &p->streams[x];
    td_time horizon = eng_prog_horizon(&e->cp, x, now);
    if (metric_stream_needs_prune(s, horizon, e->cp.ev_flags[x]))
        metric_stream_prune(s, horizon, e->cp.ev_flags[x]);
    p->events++;
    p->updated = now;
    engine_touch(e, p);
    evaluate_ladders(e, p, e->cp.ev_ladders[x], now, 0, ev, fn, ud);
    return 0;
}
