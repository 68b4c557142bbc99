/* Explain, History and ListChanges: why a partner holds its tier, and what
 * changed when.
 *
 * Explain asks the engine per ladder and converts; History and ListChanges
 * read the change log from the store (which, inside a turn, also sees that
 * turn's uncommitted changes). A change record that no longer decodes is
 * reported as DATA_LOSS naming its sequence number, never skipped. Nothing
 * here writes. */
#include <stdlib.h>
#include <string.h>

#include "handlers.h"
#include "pbconv.h"
#include "state.h"

int handle_explain(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                   td_error *err)
{
    const Tierd__ExplainRequest *r = (const Tierd__ExplainRequest *)req;
    engine *e = call->d->engine;
    const program *prog = engine_program(e);
    if (!prog)
        return td_error_set(err, TD_FAILED_PRECONDITION, TD_NO_PROGRAM_MESSAGE);
    td_partner *p = td_text_ok(r->partner, TD_MAX_ID) ? engine_partner_find(e, r->partner) : NULL;
    if (!p)
        return td_error_set(err, TD_NOT_FOUND, "unknown partner '%s'",
                            pbconv_quote(r->partner, TD_MAX_ID));
    int only = -1;
    if (r->ladder && *r->ladder) {
        only = td_text_ok(r->ladder, TD_MAX_NAME) ? program_ladder_index(prog, r->ladder) : -1;
        if (only < 0)
            return td_error_set(err, TD_NOT_FOUND, "no ladder named '%s'",
                                pbconv_quote(r->ladder, TD_MAX_NAME));
    }
    td_time at = call->now;
    if (r->at && *r->at && td_time_parse(r->at, &at, err) != 0) {
        td_error_prefix(err, "at");
        err->code = TD_INVALID_ARGUMENT;
        return -TD_INVALID_ARGUMENT;
    }
    Tierd__ExplainResponse *out = rpc_alloc(call, sizeof *out);
    tierd__explain_response__init(out);
    out->partner = rpc_strdup(call, r->partner);
    out->ladders = rpc_alloc(call, (prog->n_ladders ? prog->n_ladders : 1) * sizeof *out->ladders);
    for (size_t l = 0; l < prog->n_ladders; l++) {
        if (only >= 0 && (size_t)only != l)
            continue;
        td_explanation x;
        td_error xerr = {0};
        int rc = engine_explain(e, p, l, call->now, at, &x, &xerr);
        if (rc == -TD_NOT_FOUND) {
            if (only >= 0)
                return td_error_set(err, TD_NOT_FOUND, "partner %s is not on ladder %s", r->partner,
                                    r->ladder);
            continue;
        }
        if (rc)
            return td_error_set(err, xerr.code, "%s", xerr.message);
        out->ladders[out->n_ladders++] = pbconv_explanation(call, &x);
        engine_explanation_free(&x);
    }
    *resp = &out->base;
    return 0;
}

typedef struct change_walk {
    rpc_call *call;
    Tierd__ChangesResponse *out;
    size_t limit;
    const char *ladder; /* NULL = every ladder */
    td_error *err;
} change_walk;

#define CHANGE_WALK_DONE 1 /* stops the store's walk without an error */

static int collect_change(void *ud, uint64_t seq, const uint8_t *pb, size_t len)
{
    change_walk *w = ud;
    Tierd__TierChange *c = pbconv_tier_change(w->call, pb, len);
    if (!c)
        return td_error_set(w->err, TD_DATA_LOSS, "change %llu in the log is damaged",
                            (unsigned long long)seq);
    if (w->ladder && strcmp(c->ladder, w->ladder) != 0)
        return 0;
    w->out->changes[w->out->n_changes++] = c;
    return w->out->n_changes == w->limit ? CHANGE_WALK_DONE : 0;
}

static Tierd__ChangesResponse *changes_new(rpc_call *call, size_t limit)
{
    Tierd__ChangesResponse *out = rpc_alloc(call, sizeof *out);
    tierd__changes_response__init(out);
    out->changes = rpc_alloc(call, limit * sizeof *out->changes);
    out->last_sequence = store_last_sequence(call->d->store);
    return out;
}

static size_t clamp_limit(uint32_t asked, size_t dflt, size_t max)
{
    return asked == 0 ? dflt : asked > max ? max : asked;
}

int handle_history(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                   td_error *err)
{
    const Tierd__HistoryRequest *r = (const Tierd__HistoryRequest *)req;
    if (!td_text_ok(r->partner, TD_MAX_ID))
        return td_error_set(err, TD_INVALID_ARGUMENT, "partner: %s",
                            pbconv_quote(r->partner, TD_MAX_ID));
    const char *ladder = r->ladder && *r->ladder ? r->ladder : NULL;
    if (ladder && !td_text_ok(ladder, TD_MAX_NAME))
        return td_error_set(err, TD_INVALID_ARGUMENT, "ladder: %s",
                            pbconv_quote(ladder, TD_MAX_NAME));
    size_t limit = clamp_limit(r->limit, TD_HISTORY_DEFAULT_LIMIT, TD_HISTORY_MAX_LIMIT);
    change_walk w = {.call = call,
                     .out = changes_new(call, limit),
                     .limit = limit,
                     .ladder = ladder,
                     .err = err};
    /* With a ladder filter the store cannot count for us. */
    int rc = store_each_partner_change(call->d->store, r->partner, ladder ? 0 : limit,
                                       collect_change, &w, err);
    if (rc < 0)
        return rc;
    *resp = &w.out->base;
    return 0;
}

int handle_list_changes(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                        td_error *err)
{
    const Tierd__ListChangesRequest *r = (const Tierd__ListChangesRequest *)req;
    size_t limit = clamp_limit(r->limit, TD_CHANGES_DEFAULT_LIMIT, TD_CHANGES_MAX_LIMIT);
    change_walk w = {.call = call, .out = changes_new(call, limit), .limit = limit, .err = err};
    int rc = store_each_change_since(call->d->store, r->since, limit, collect_change, &w, err);
    if (rc < 0)
        return rc;
    /* Nothing new and the caller may wait: the server holds the (empty)
     * answer and runs this again once a change is committed. */
    if (w.out->n_changes == 0 && r->wait_ms && call->may_wait)
        call->wait = (rpc_wait){
            .ms = r->wait_ms < RPC_CHANGES_MAX_WAIT_MS ? r->wait_ms : RPC_CHANGES_MAX_WAIT_MS,
            .limit = r->limit,
            .since = r->since};
    *resp = &w.out->base;
    return 0;
}
