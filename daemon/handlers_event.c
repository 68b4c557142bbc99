/* The Ingest handler: a batch of events, judged one by one.
 *
 * Owns the order of checks for one event: required strings, its time, its
 * idempotency key (source + id, looked up in the store, which also sees
 * this turn's uncommitted events, so a repeat inside one batch is a
 * duplicate too), then the engine. An accepted event is stored under its
 * key in the same transaction as the partner it changed. A rejected event
 * touches nothing and carries its reason; the rest of the batch still
 * counts. Store errors are not the event's fault: they fail the whole turn.
 *
 * A replayed batch (IngestRequest.replay) is taken in event-time order, each
 * event applied at its own instant after the timer queue has walked up to
 * it (replay.h); while a replay is open, live batches are refused.
 *
 * A correction (op "retract" or "amend", docs/events.md) is judged against
 * the event stored under its key: unknown, or with a partner or metric
 * other than the stored one, it is rejected; a retraction of a retracted
 * event, or an amendment whose revision is not above the stored one, is a
 * duplicate (so an import can be sent again). A replayed batch takes no
 * corrections: they change the past, which a replay only adds to. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event_view.h"
#include "handlers.h"
#include "metrics.h"
#include "pbconv.h"
#include "corrections.h"
#include "replay.h"
#include "state.h"

#define TD_STR_(x) #x
#define TD_STR(x)  TD_STR_(x)

static void set_result(rpc_call *call, Tierd__ItemResult *res, Tierd__Outcome outcome, size_t index,
                       const Tierd__Event *ev, const char *why)
{
    res->outcome = outcome;
    if (!why)
        return;
    /* Room for the index, source and id around a `why` of TD_REASON_MAX. */
    char reason[TD_REASON_MAX + 2 * TD_MAX_ID + 64];
    snprintf(reason, sizeof reason, "event %zu (%s/%s): %s", index,
             pbconv_quote(ev->source, TD_MAX_ID), pbconv_quote(ev->id, TD_MAX_ID), why);
    res->reason = rpc_strdup(call, reason);
}

/* The engine names the event in some messages; the reason already does. */
static const char *engine_reason(const td_error *e, const Tierd__Event *ev)
{
    char prefix[2 * TD_MAX_ID + 16];
    int n = snprintf(prefix, sizeof prefix, "event %s/%s: ", ev->source, ev->id);
    if (n > 0 && (size_t)n < sizeof prefix && strncmp(e->message, prefix, (size_t)n) == 0)
        return e->message + n;
    return e->message;
}

/* Checks what the engine cannot: presence of the strings and the time.
 * Returns the reason, or NULL when the event may go on. */
static const char *check_event(const Tierd__Event *ev, td_time *at, td_error *terr)
{
    if (!ev->source || !*ev->source)
        return "source is required";
    if (!ev->id || !*ev->id)
        return "id is required";
    if (!td_text_ok(ev->source, TD_MAX_ID))
        return "source must be at most " TD_STR(TD_MAX_ID) " bytes of UTF-8 text without control "
                                                           "characters";
    if (!td_text_ok(ev->id, TD_MAX_ID))
        return "id must be at most " TD_STR(TD_MAX_ID) " bytes of UTF-8 text without control "
                                                       "characters";
    if (!ev->partner || !*ev->partner)
        return "partner is required";
    if (!ev->metric || !*ev->metric)
        return "metric is required";
    if (!ev->at || !*ev->at)
        return "at is required (RFC 3339 time)";
    if (td_time_parse(ev->at, at, terr) != 0) {
        td_error_prefix(terr, "at");
        return terr->message;
    }
    return NULL;
}

#define OP_RETRACT "retract"
#define OP_AMEND   "amend"

/* The op and revision fields alone; the reason, or NULL. */
static const char *check_op(const Tierd__Event *ev)
{
    const char *op = ev->op ? ev->op : "";
    if (!*op)
        return ev->revision ? "revision: only an amend (\"op\": \"amend\") carries one" : NULL;
    if (strcmp(op, OP_RETRACT) == 0)
        return ev->revision ? "revision: a retract carries none (only an amend does)" : NULL;
    if (strcmp(op, OP_AMEND) == 0)
        return ev->revision ? NULL : "revision: an amend needs a revision of 1 or more";
    return "op: must be \"retract\" or \"amend\" (or absent for a new event)";
}

/* What a retraction must name; the rest may be absent. */
static const char *check_key(const Tierd__Event *ev)
{
    if (!ev->source || !*ev->source)
        return "source is required";
    if (!ev->id || !*ev->id)
        return "id is required";
    if (!td_text_ok(ev->source, TD_MAX_ID) || !td_text_ok(ev->id, TD_MAX_ID))
        return "source and id must be at most " TD_STR(TD_MAX_ID) " bytes of UTF-8 text without "
                                                                  "control characters";
    return NULL;
}

static bool differs(const char *given, const char *stored)
{
    return given && *given && strcmp(given, stored) != 0;
}

/* One correction. Returns 0 with res set (accepted, duplicate or rejected
 * with its reason), or a store error that fails the turn. */
static int ingest_correction(rpc_call *call, size_t i, const Tierd__Event *ev,
                             Tierd__ItemResult *res, Tierd__IngestResponse *out, td_error *err)
{
    tierd *d = call->d;
    bool amend = strcmp(ev->op, OP_AMEND) == 0;
    char why[TD_REASON_MAX];
    td_time at = TD_TIME_NONE;
    td_error eerr = {0};
    const char *bad = amend ? check_event(ev, &at, &eerr) : check_key(ev);
    if (bad) {
        set_result(call, res, TIERD__OUTCOME__REJECTED, i, ev, bad);
        out->rejected++;
        return 0;
    }
    store_event_meta was;
    uint8_t *old_pb = NULL;
    size_t old_len = 0;
    td_error gerr = {0};
    int rc = store_get_event(d->store, ev->source, ev->id, &was, &old_pb, &old_len, &gerr);
    if (rc == -TD_NOT_FOUND) {
        snprintf(why, sizeof why, "no event with this source and id was accepted, nothing to %s",
                 ev->op);
        set_result(call, res, TIERD__OUTCOME__REJECTED, i, ev, why);
        out->rejected++;
        return 0;
    }
    if (rc) {
        *err = gerr;
        state_fail(d, err);
        return rc;
    }
    Tierd__Event *stored = NULL;
    const char *reject = NULL;
    bool duplicate = false;
    td_time old_at = TD_TIME_NONE;
    if (!was.kept)
        reject = "accepted before tierd kept event history (0.1): it cannot be corrected";
    else if (!amend && was.retracted)
        duplicate = true;
    else if (amend && ev->revision <= was.revision)
        duplicate = true;
    else if (amend && was.retracted)
        reject = "it was retracted: an amendment cannot bring it back (send it under a new id)";
    else if (!(stored = tierd__event__unpack(NULL, old_len, old_pb)) || !stored->partner ||
             !stored->metric || !stored->at || td_time_parse(stored->at, &old_at, &eerr) != 0)
        reject = "the stored event does not decode";
    else if (differs(ev->partner, stored->partner)) {
        snprintf(why, sizeof why, "partner: '%s' is not the stored event's partner '%s'",
                 pbconv_quote(ev->partner, TD_MAX_ID), pbconv_quote(stored->partner, TD_MAX_ID));
        reject = why;
    } else if (differs(ev->metric, stored->metric)) {
        snprintf(why, sizeof why, "metric: '%s' is not the stored event's metric '%s'",
                 pbconv_quote(ev->metric, TD_MAX_ID), pbconv_quote(stored->metric, TD_MAX_ID));
        reject = why;
    }
    if (!reject && !duplicate) {
        bool exists = false;
        rc = store_hist_exists(d->store, stored->partner, stored->metric, was.added, &exists, err);
        if (rc) {
            tierd__event__free_unpacked(stored, NULL);
            free(old_pb);
            state_fail(d, err);
            return rc;
        }
        if (!exists)
            reject = "its partner was deleted after it was accepted";
    }
    if (reject || duplicate) {
        set_result(call, res, duplicate ? TIERD__OUTCOME__DUPLICATE : TIERD__OUTCOME__REJECTED, i,
                   ev, reject);
        if (duplicate)
            out->duplicate++;
        else
            out->rejected++;
        if (stored)
            tierd__event__free_unpacked(stored, NULL);
        free(old_pb);
        return 0;
    }
    td_event old_te, new_te;
    event_view(stored, old_at, &old_te);
    old_te.source = ev->source;
    old_te.id = ev->id;
    if (amend)
        event_view(ev, at, &new_te);
    corr_history hist = {.s = d->store,
                         .partner = stored->partner,
                         .metric = stored->metric,
                         .skip_added = was.added,
                         .amended = amend ? &new_te : NULL};
    char cause[2 * TD_MAX_ID + 2];
    snprintf(cause, sizeof cause, "%s/%s", ev->source, ev->id);
    state_set_cause_event(d, cause);
    rc = engine_correct(d->engine, &old_te, amend ? &new_te : NULL, ev->revision,
                        corrections_history, &hist, call->now, state_change_sink, d, &eerr);
    state_set_cause_event(d, NULL);
    if (rc == -TD_RESOURCE_EXHAUSTED ||
        (rc && eerr.code != TD_INVALID_ARGUMENT && eerr.code != TD_NOT_FOUND &&
         eerr.code != TD_FAILED_PRECONDITION)) {
        /* Not the event's fault, and the partner may be half changed: the
         * turn rolls back (the store has it as it was). */
        td_error_set(err, eerr.code, "event %zu (%s/%s): %s", i, ev->source, ev->id, eerr.message);
        state_fail(d, err);
        tierd__event__free_unpacked(stored, NULL);
        free(old_pb);
        return -eerr.code;
    }
    if (rc) {
        set_result(call, res, TIERD__OUTCOME__REJECTED, i, ev, engine_reason(&eerr, ev));
        out->rejected++;
        tierd__event__free_unpacked(stored, NULL);
        free(old_pb);
        return 0;
    }
    /* The log names the partner and event name even when a retraction
     * did not: a restart replays it against that partner. */
    Tierd__Event logged = *ev;
    logged.partner = stored->partner;
    logged.metric = stored->metric;
    if (!amend) {
        logged.at = stored->at;
        logged.value = stored->value;
        logged.has_value = stored->has_value;
        logged.key = stored->key;
    }
    rc = state_record_correction(d, call->now, &logged, &was, &old_te, old_pb, old_len,
                                 amend ? &new_te : NULL, err);
    tierd__event__free_unpacked(stored, NULL);
    free(old_pb);
    if (rc)
        return rc;
    res->outcome = TIERD__OUTCOME__ACCEPTED;
    out->accepted++;
    return 0;
}

/* Whether source+id was stored already (this turn's events included). */
static int ingest_seen(rpc_call *call, const Tierd__Event *ev, Tierd__ItemResult *res,
                       Tierd__IngestResponse *out, bool *seen, td_error *err)
{
    int rc = store_event_seen(call->d->store, ev->source, ev->id, seen, err);
    if (rc) {
        state_fail(call->d, err);
        return rc;
    }
    if (*seen) {
        res->outcome = TIERD__OUTCOME__DUPLICATE;
        out->duplicate++;
    }
    return 0;
}

/* The engine's judgement and, when accepted, the record, both at `now`.
 * Only a store error is returned (the turn is failed); a refusal is the
 * event's outcome. */
static int ingest_apply(rpc_call *call, const Tierd__Event *ev, td_time at, size_t i, td_time now,
                        Tierd__ItemResult *res, Tierd__IngestResponse *out, td_error *err)
{
    tierd *d = call->d;
    td_event te;
    event_view(ev, at, &te);
    char cause[2 * TD_MAX_ID + 2];
    snprintf(cause, sizeof cause, "%s/%s", ev->source, ev->id);
    state_set_cause_event(d, cause);
    td_error eerr = {0};
    int rc = engine_ingest(d->engine, &te, now, state_change_sink, d, &eerr);
    state_set_cause_event(d, NULL);
    if (rc) {
        set_result(call, res, TIERD__OUTCOME__REJECTED, i, ev, engine_reason(&eerr, ev));
        out->rejected++;
        return 0;
    }
    rc = state_record_event(d, now, ev, &te, err);
    if (rc)
        return rc;
    res->outcome = TIERD__OUTCOME__ACCEPTED;
    out->accepted++;
    return 0;
}

static metrics_outcome metrics_outcome_of(Tierd__Outcome o)
{
    return o == TIERD__OUTCOME__ACCEPTED    ? METRICS_ACCEPTED
           : o == TIERD__OUTCOME__DUPLICATE ? METRICS_DUPLICATE
                                            : METRICS_REJECTED;
}

/* An event of a replayed batch, with its time and place in the request. */
typedef struct replay_item {
    td_time at;
    size_t index;
} replay_item;

/* Time order; ties keep the request's order (qsort is not stable). */
static int by_time(const void *a, const void *b)
{
    const replay_item *x = a, *y = b;
    if (x->at != y->at)
        return x->at < y->at ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* A replayed batch (docs/events.md, "Replay"): events in time order, the
 * timer queue walked up to each one's instant before it is applied at that
 * instant; then, unless more batches follow, a catch-up to now. */
static int ingest_replay(rpc_call *call, const Tierd__IngestRequest *r, Tierd__IngestResponse *out,
                         td_error *err)
{
    tierd *d = call->d;
    replay_item *items = rpc_alloc(call, (r->n_events ? r->n_events : 1) * sizeof *items);
    size_t n = 0;
    for (size_t i = 0; i < r->n_events; i++) {
        const Tierd__Event *ev = r->events[i];
        Tierd__ItemResult *res = out->results[i];
        td_time at = TD_TIME_NONE;
        td_error eerr = {0};
        const char *why = ev->op && *ev->op ? "op: a replayed import takes new events only; send "
                                              "corrections without --replay"
                          : ev->revision    ? check_op(ev)
                                            : check_event(ev, &at, &eerr);
        if (why) {
            set_result(call, res, TIERD__OUTCOME__REJECTED, i, ev, why);
            out->rejected++;
            continue;
        }
        items[n++] = (replay_item){.at = at, .index = i};
    }
    qsort(items, n, sizeof *items, by_time);
    int rc = 0;
    if (n || d->replay_at != TD_TIME_NONE)
        rc = replay_open(d, n ? items[0].at : tierd_now(d), r->publish_past, err);
    for (size_t k = 0; !rc && k < n; k++) {
        size_t i = items[k].index;
        td_time at = items[k].at;
        const Tierd__Event *ev = r->events[i];
        Tierd__ItemResult *res = out->results[i];
        bool seen = false;
        rc = ingest_seen(call, ev, res, out, &seen, err);
        if (rc || seen)
            continue;
        char why[TD_REASON_MAX];
        if (replay_refusal(d, engine_partner_find(d->engine, ev->partner), at, why, sizeof why)) {
            set_result(call, res, TIERD__OUTCOME__REJECTED, i, ev, why);
            out->rejected++;
            continue;
        }
        rc = replay_advance_to(d, at, err);
        if (!rc)
            rc = ingest_apply(call, ev, at, i, at, res, out, err);
    }
    if (!rc && !r->replay_more)
        rc = replay_finish(d, err);
    return rc;
}

int handle_ingest(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                  td_error *err)
{
    const Tierd__IngestRequest *r = (const Tierd__IngestRequest *)req;
    tierd *d = call->d;
    int rc = pbconv_check_batch(d->engine, r->n_events, "events", err);
    if (rc)
        return rc;
    if (!r->replay && d->replay_at != TD_TIME_NONE) {
        char at[TD_TIME_STRLEN];
        td_time_format(d->replay_at, at, sizeof at);
        return td_error_set(err, TD_FAILED_PRECONDITION,
                            "a replayed import is open (it has reached %s): live events wait until "
                            "it finishes, or they would be dated before the past it replays "
                            "(finish it: tierctl event import --replay with the rest of the file, "
                            "or an empty one)",
                            at);
    }
    rc = state_begin(d, err);
    if (rc)
        return rc;
    /* What earlier requests of the turn changed is written with the turn;
     * what these events change can wait for a checkpoint (see below). */
    state_absorb(d, false);
    rc = cursor_commit_with_batch(call, r->connector, r->cursor, err);
    if (rc) {
        if (err->code != TD_INVALID_ARGUMENT)
            state_fail(d, err);
        return rc;
    }
    Tierd__IngestResponse *out = rpc_alloc(call, sizeof *out);
    tierd__ingest_response__init(out);
    out->n_results = r->n_events;
    out->results = rpc_alloc(call, (r->n_events ? r->n_events : 1) * sizeof *out->results);
    for (size_t i = 0; i < r->n_events; i++) {
        const Tierd__Event *ev = r->events[i];
        Tierd__ItemResult *res = rpc_alloc(call, sizeof *res);
        tierd__item_result__init(res);
        res->index = (uint32_t)i;
        res->id = rpc_strdup(call, td_text_ok(ev->id, TD_MAX_ID) ? ev->id : "");
        out->results[i] = res;
    }
    if (r->replay) {
        rc = ingest_replay(call, r, out, err);
        if (rc)
            return rc;
    }
    for (size_t i = 0; !r->replay && i < r->n_events; i++) {
        const Tierd__Event *ev = r->events[i];
        Tierd__ItemResult *res = out->results[i];
        const char *op_why = check_op(ev);
        if (op_why) {
            set_result(call, res, TIERD__OUTCOME__REJECTED, i, ev, op_why);
            out->rejected++;
            continue;
        }
        if (ev->op && *ev->op) {
            rc = ingest_correction(call, i, ev, res, out, err);
            if (rc)
                return rc;
            continue;
        }
        td_time at = TD_TIME_NONE;
        td_error eerr = {0};
        const char *why = check_event(ev, &at, &eerr);
        if (why) {
            set_result(call, res, TIERD__OUTCOME__REJECTED, i, ev, why);
            out->rejected++;
            continue;
        }
        bool seen = false;
        rc = ingest_seen(call, ev, res, out, &seen, err);
        if (rc)
            return rc;
        if (seen)
            continue;
        rc = ingest_apply(call, ev, at, i, call->now, res, out, err);
        if (rc)
            return rc;
    }
    state_absorb(d, true);
    for (size_t i = 0; i < r->n_events; i++)
        metrics_event(d->metrics, r->events[i]->source,
                      metrics_outcome_of(out->results[i]->outcome));
    /* Status counts a connector's events from here, not from its word. */
    rc = cursor_count_accepted(call, r->connector, out->accepted, err);
    if (rc)
        return rc;
    *resp = &out->base;
    return 0;
}
