/* Status and Clock: what the daemon reports about itself, and the fake
 * clock that tests and demos move by hand.
 *
 * Clock advance is refused unless tierd runs with --fake-clock (moving the
 * real clock is not ours to do) and unless the caller is admin. Advancing
 * sets the frozen time and replays every due time in between through the
 * timers (window edges, ends of grace at their review points, ends of
 * overrides, a scheduled program version; each partner evaluated at its own
 * due instants, in order), so the jump has the effect of the daemon running
 * through it. */
#include <stdio.h>
#include <string.h>

#include "connectors.h"
#include "handlers.h"
#include "program_source.h"
#include "server.h"
#include "state.h"
#include "timers.h"
#include "tierd.pb-c.h"
#include "webhooks.h"

#define STATUS_DURATION_MAX 64

static char **status_urls(rpc_call *call, const char *const *urls, size_t n)
{
    char **out = rpc_alloc(call, (n ? n : 1) * sizeof *out);
    for (size_t i = 0; i < n; i++)
        out[i] = rpc_strdup(call, urls[i]);
    return out;
}

/* The approval queue's length is what an operator checks before running
 * `tierctl pending`. Counting walks every partner (150 ms at a million),
 * and Status is the call monitors poll, also under a bulk import, so the
 * count is redone only when the engine says the queue may have moved (or
 * the engine was rebuilt). */
uint64_t status_pending_count(tierd *d)
{
    if (!d->engine)
        return 0;
    uint64_t gen = engine_pending_generation(d->engine);
    if (d->pending_engine != d->engine || d->pending_generation != gen) {
        d->pending_count = engine_pending_count(d->engine);
        d->pending_engine = d->engine;
        d->pending_generation = gen;
    }
    return d->pending_count;
}

int handle_status(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                  td_error *err)
{
    (void)req;
    (void)err;
    tierd *d = call->d;
    Tierd__StatusResponse *out = rpc_alloc(call, sizeof *out);
    tierd__status_response__init(out);
    out->version = rpc_strdup(call, TIERD_VERSION);
    out->now = call->now;
    out->fake_clock = d->fake_clock;
    const program *p = d->engine ? engine_program(d->engine) : NULL;
    out->program = rpc_strdup(call, p ? p->name : "");
    out->program_version = rpc_strdup(call, p ? p->version : "");
    out->program_source = rpc_strdup(call, p ? program_source(d) : "");
    out->partners = d->engine ? engine_partner_count(d->engine) : 0;
    out->events = d->store ? store_event_count(d->store) : 0;
    out->last_sequence = d->store ? store_last_sequence(d->store) : 0;
    out->started = d->started;
    out->state_dir = rpc_strdup(call, d->state_dir);
    if (d->server) {
        const char *const *urls;
        size_t n;
        server_listen_urls(d->server, &urls, &n);
        out->listen = status_urls(call, urls, n);
        out->n_listen = n;
        server_publish_urls(d->server, &urls, &n);
        out->publish = status_urls(call, urls, n);
        out->n_publish = n;
    }
    connectors_status(d->connectors, call, out);
    out->pending = status_pending_count(d);
    webhooks_stats ws;
    webhooks_get_stats(d, &ws);
    out->webhook_queued = ws.queued;
    out->webhook_dead = ws.dead;
    out->webhook_endpoints = ws.endpoints;
    out->webhook_delivered = ws.delivered;
    *resp = &out->base;
    return 0;
}

int handle_clock(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                 td_error *err)
{
    const Tierd__ClockRequest *r = (const Tierd__ClockRequest *)req;
    tierd *d = call->d;
    Tierd__ClockResponse *out = rpc_alloc(call, sizeof *out);
    tierd__clock_response__init(out);
    if (r->advance && *r->advance) {
        if (!d->fake_clock)
            return td_error_set(err, TD_FAILED_PRECONDITION, "clock advance needs --fake-clock");
        if (call->role < TD_ROLE_ADMIN)
            return td_error_set(err, TD_PERMISSION_DENIED,
                                "token lacks role admin for Clock advance");
        if (d->replay_at != TD_TIME_NONE)
            return td_error_set(err, TD_FAILED_PRECONDITION,
                                "a replayed import is open: it moves time itself until it "
                                "finishes (tierctl event import --replay, the rest or an empty "
                                "file)");
        if (strnlen(r->advance, STATUS_DURATION_MAX + 1) > STATUS_DURATION_MAX)
            return td_error_set(err, TD_INVALID_ARGUMENT, "duration longer than %d characters",
                                STATUS_DURATION_MAX);
        int64_t seconds = 0;
        int rc = td_duration_parse(r->advance, &seconds, err);
        if (rc)
            return rc;
        if (seconds <= 0)
            return td_error_set(err, TD_INVALID_ARGUMENT,
                                "the clock only moves forward; '%s' is not a positive duration",
                                r->advance);
        if (d->fake_now > INT64_MAX - seconds)
            return td_error_set(err, TD_OUT_OF_RANGE, "advancing by %s overflows the clock",
                                r->advance);
        rc = state_begin(d, err);
        if (rc)
            return rc;
        td_time from = d->fake_now;
        d->fake_now += seconds;
        if (d->timers) {
            uint64_t changes = 0;
            rc = timers_advance(d->timers, from, d->fake_now, &changes, err);
            out->changes = changes;
            if (rc)
                return rc;
        } else {
            uint64_t before = d->store ? store_last_sequence(d->store) : 0;
            engine_evaluate(d->engine, NULL, d->fake_now, state_change_sink, d);
            out->changes = (d->store ? store_last_sequence(d->store) : 0) - before;
        }
        /* Time alone brings demotion dates within the at-risk lead. */
        rc = webhooks_check_all(d->webhooks, err);
        if (rc)
            return rc;
    }
    out->now = tierd_now(d);
    out->fake = d->fake_clock;
    *resp = &out->base;
    return 0;
}
