/* Lifecycle handlers: SetOverride, ClearOverride, ListPending, Approve and
 * Deny — the tier decisions a person makes.
 *
 * Owns turning those requests into engine calls (engine_override_set,
 * engine_override_clear, engine_pending_list, engine_approve, engine_deny)
 * with the caller's actor, and the resulting tier state into replies. A
 * decision goes through the state glue like any write: the change it causes
 * is numbered and logged in the turn's transaction, the partner is rewritten
 * at flush, and its timer is re-armed (an override's end is a due time).
 * The engine validates names, times and text and changes nothing when it
 * refuses; this file only parses the wire form (RFC 3339 `until`,
 * "unranked", empty = absent) and quotes client text safely. */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "handlers.h"
#include "replay.h"
#include "pbconv.h"
#include "state.h"

#define LIFECYCLE_UNRANKED    "unranked"
#define LIFECYCLE_PENDING_MAX 10000 /* pending promotions and demotions listed in one reply */

static const char *actor_of(const rpc_call *call)
{
    return call->actor && *call->actor ? call->actor : RPC_ACTOR_IPC;
}

static const char *opt(const char *s)
{
    return s && *s ? s : NULL;
}

/* The program in force and the partner named by id. */
static int lc_find(rpc_call *call, const char *id, td_partner **out, td_error *err)
{
    engine *e = call->d->engine;
    if (!engine_program(e))
        return td_error_set(err, TD_FAILED_PRECONDITION, TD_NO_PROGRAM_MESSAGE);
    *out = td_text_ok(id, TD_MAX_ID) ? engine_partner_find(e, id) : NULL;
    if (!*out)
        return td_error_set(err, TD_NOT_FOUND, "unknown partner '%s'", pbconv_quote(id, TD_MAX_ID));
    return 0;
}

/* p's state on ladder after a decision, as a reply. */
static ProtobufCMessage *lc_reply(rpc_call *call, const td_partner *p, const char *ladder)
{
    td_tier_view v[TD_MAX_LADDERS];
    size_t n = engine_partner_tiers(call->d->engine, p, v, TD_MAX_LADDERS);
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].ladder, ladder) == 0)
            return &pbconv_tier_state(call, &v[i])->base;
    /* The engine just acted on this ladder, so it is there; an empty state
     * is still a well-formed reply. */
    Tierd__TierState *t = rpc_alloc(call, sizeof *t);
    tierd__tier_state__init(t);
    return &t->base;
}

static void lc_touched(rpc_call *call, const td_partner *p)
{
    td_partner_info info;
    engine_partner_info(p, &info);
    state_partner_changed(call->d, info.id);
}

/* The ladder field, which every decision names. */
static int lc_ladder_arg(const char *ladder, td_error *err)
{
    if (!ladder || !*ladder)
        return td_error_set(err, TD_INVALID_ARGUMENT, "ladder: required");
    return 0;
}

int handle_set_override(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                        td_error *err)
{
    const Tierd__SetOverrideRequest *r = (const Tierd__SetOverrideRequest *)req;
    td_partner *p;
    int rc = replay_refuse(call->d, "an override", err);
    if (rc)
        return rc;
    rc = lc_find(call, r->partner, &p, err);
    if (rc || (rc = lc_ladder_arg(r->ladder, err)))
        return rc;
    if (!opt(r->tier))
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "tier: required (a tier of ladder %s, or \"%s\")",
                            pbconv_quote(r->ladder, TD_MAX_NAME), LIFECYCLE_UNRANKED);
    const char *tier = strcmp(r->tier, LIFECYCLE_UNRANKED) == 0 ? NULL : r->tier;
    if (!opt(r->until))
        return td_error_set(err, TD_INVALID_ARGUMENT, "until: required (an RFC 3339 time)");
    td_time until;
    if (td_time_parse(r->until, &until, err) != 0) {
        td_error_prefix(err, "until");
        err->code = TD_INVALID_ARGUMENT;
        return -TD_INVALID_ARGUMENT;
    }
    if (!opt(r->reason))
        return td_error_set(err, TD_INVALID_ARGUMENT, "reason: required (why the tier is pinned)");
    if ((rc = state_begin(call->d, err)))
        return rc;
    rc = engine_override_set(call->d->engine, p, r->ladder, tier, until, actor_of(call), r->reason,
                             call->now, state_change_sink, call->d, err);
    if (rc)
        return rc;
    lc_touched(call, p);
    *resp = lc_reply(call, p, r->ladder);
    return 0;
}

int handle_clear_override(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                          td_error *err)
{
    const Tierd__ClearOverrideRequest *r = (const Tierd__ClearOverrideRequest *)req;
    td_partner *p;
    int rc = replay_refuse(call->d, "clearing an override", err);
    if (rc)
        return rc;
    rc = lc_find(call, r->partner, &p, err);
    if (rc || (rc = lc_ladder_arg(r->ladder, err)) || (rc = state_begin(call->d, err)))
        return rc;
    rc = engine_override_clear(call->d->engine, p, r->ladder, actor_of(call), NULL, call->now,
                               state_change_sink, call->d, err);
    if (rc)
        return rc;
    lc_touched(call, p);
    *resp = lc_reply(call, p, r->ladder);
    return 0;
}

int handle_list_pending(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                        td_error *err)
{
    (void)req;
    engine *e = call->d->engine;
    if (!engine_program(e))
        return td_error_set(err, TD_FAILED_PRECONDITION, TD_NO_PROGRAM_MESSAGE);
    td_pending *found = rpc_alloc(call, LIFECYCLE_PENDING_MAX * sizeof *found);
    bool more = false;
    size_t n = engine_pending_list(e, NULL, NULL, found, LIFECYCLE_PENDING_MAX, &more);
    Tierd__ListPendingResponse *out = rpc_alloc(call, sizeof *out);
    tierd__list_pending_response__init(out);
    out->n_pending = n;
    out->pending = rpc_alloc(call, (n ? n : 1) * sizeof *out->pending);
    for (size_t i = 0; i < n; i++) {
        Tierd__PendingApproval *a = rpc_alloc(call, sizeof *a);
        tierd__pending_approval__init(a);
        a->partner = rpc_strdup(call, found[i].partner);
        a->ladder = rpc_strdup(call, found[i].ladder);
        a->from_tier = rpc_strdup(call, found[i].from);
        a->to_tier = rpc_strdup(call, found[i].to);
        a->since = found[i].since;
        a->direction = found[i].demotion ? TIERD__DIRECTION__DIRECTION_DEMOTION
                                         : TIERD__DIRECTION__DIRECTION_PROMOTION;
        a->deadline = found[i].demotion ? found[i].deadline : 0;
        out->pending[i] = a;
    }
    *resp = &out->base;
    return 0;
}

typedef int (*decision_fn)(engine *e, td_partner *p, const char *ladder, const char *actor,
                           const char *reason, td_time now, td_change_fn fn, void *ud,
                           td_error *err);

/* DecisionRequest.on_behalf_of: a caller that decides for a person
 * (tierd-http) names them; they are the actor recorded. Held to a token
 * name's limits so a history line stays one short line. */
static int decision_actor(const rpc_call *call, const char *named, const char **actor,
                          td_error *err)
{
    *actor = actor_of(call);
    if (!named || !*named)
        return 0;
    size_t n = strlen(named);
    if (n > TD_MAX_TOKEN_NAME)
        return td_error_set(err, TD_INVALID_ARGUMENT, "on_behalf_of is longer than %d bytes",
                            TD_MAX_TOKEN_NAME);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)named[i] < 0x20 || named[i] == 0x7f)
            return td_error_set(err, TD_INVALID_ARGUMENT,
                                "on_behalf_of holds a control character at byte %zu", i);
    *actor = named;
    return 0;
}

static int decide(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                  decision_fn fn, td_error *err)
{
    const Tierd__DecisionRequest *r = (const Tierd__DecisionRequest *)req;
    td_partner *p;
    const char *actor = NULL;
    int rc = decision_actor(call, r->on_behalf_of, &actor, err);
    if (rc)
        return rc;
    rc = replay_refuse(call->d, fn == engine_approve ? "an approval" : "a denial", err);
    if (rc)
        return rc;
    rc = lc_find(call, r->partner, &p, err);
    if (rc || (rc = lc_ladder_arg(r->ladder, err)) || (rc = state_begin(call->d, err)))
        return rc;
    rc = fn(call->d->engine, p, r->ladder, actor, opt(r->reason), call->now, state_change_sink,
            call->d, err);
    if (rc)
        return rc;
    lc_touched(call, p);
    *resp = lc_reply(call, p, r->ladder);
    return 0;
}

int handle_approve(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                   td_error *err)
{
    return decide(call, req, resp, engine_approve, err);
}

int handle_deny(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp, td_error *err)
{
    return decide(call, req, resp, engine_deny, err);
}
