/* Partner handlers: UpsertPartners, GetPartner, ListPartners, DeletePartner,
 * GetTiers, Stats and StatsBy.
 *
 * Owns turning these requests into engine calls and engine views into
 * replies. Writes go through the state glue (state_begin, the change sink,
 * dirty marks), so they commit with the rest of the loop turn. A batch is
 * judged item by item: a bad partner is rejected with its reason and the rest
 * still apply. It does not validate partner text itself beyond what it
 * quotes back; the engine refuses bad ids, names and types. */
#include <stdlib.h>
#include <string.h>

#include "handlers.h"
#include "replay.h"
#include "pbconv.h"
#include "state.h"

#define PARTNER_TYPES_MAX TD_MAX_PARTNER_TYPES

/* A store error after the engine moved leaves memory ahead of the
 * transaction, so the whole turn has to roll back. */
static int write_failed(rpc_call *call, td_error *err)
{
    state_fail(call->d, err);
    return -(int)err->code;
}

static int begin_batch(rpc_call *call, const char *connector, const char *cursor, td_error *err)
{
    int rc = state_begin(call->d, err);
    if (rc)
        return rc;
    rc = cursor_commit_with_batch(call, connector, cursor, err);
    if (rc && err->code != TD_INVALID_ARGUMENT)
        return write_failed(call, err);
    return rc;
}

int handle_upsert_partners(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                           td_error *err)
{
    const Tierd__UpsertPartnersRequest *r = (const Tierd__UpsertPartnersRequest *)req;
    tierd *d = call->d;
    if (r->n_partners > TD_MAX_BATCH)
        return td_error_set(err, TD_INVALID_ARGUMENT, "batch of %zu partners exceeds %d",
                            r->n_partners, TD_MAX_BATCH);
    int rc = begin_batch(call, r->connector, r->cursor, err);
    if (rc)
        return rc;
    Tierd__UpsertPartnersResponse *out = rpc_alloc(call, sizeof *out);
    tierd__upsert_partners_response__init(out);
    out->n_results = r->n_partners;
    out->results = rpc_alloc(call, (r->n_partners ? r->n_partners : 1) * sizeof *out->results);
    for (size_t i = 0; i < r->n_partners; i++) {
        const Tierd__Partner *p = r->partners[i];
        Tierd__ItemResult *res = rpc_alloc(call, sizeof *res);
        tierd__item_result__init(res);
        res->index = (uint32_t)i;
        res->id = rpc_strdup(call, td_text_ok(p->id, TD_MAX_ID) ? p->id : "");
        out->results[i] = res;
        td_error perr = {0};
        int prc;
        if (p->n_types > PARTNER_TYPES_MAX)
            prc = td_error_set(&perr, TD_INVALID_ARGUMENT, "%zu types exceed %d", p->n_types,
                               PARTNER_TYPES_MAX);
        else if (p->n_attrs > TD_MAX_ATTRS)
            prc = td_error_set(&perr, TD_INVALID_ARGUMENT, "%zu attributes, at most %d", p->n_attrs,
                               TD_MAX_ATTRS);
        else {
            td_attr attrs[TD_MAX_ATTRS];
            for (size_t a = 0; a < p->n_attrs; a++)
                attrs[a] = (td_attr){p->attrs[a]->key, p->attrs[a]->value};
            td_partner_put put = {.id = p->id ? p->id : "",
                                  .name = p->name && *p->name ? p->name : NULL,
                                  .types = (const char *const *)p->types,
                                  .n_types = p->n_types,
                                  .attrs = attrs,
                                  .n_attrs = p->n_attrs,
                                  .set_attrs = p->has_attrs};
            prc = engine_partner_put(d->engine, &put, call->now, state_change_sink, d, &perr);
        }
        if (prc) {
            res->outcome = TIERD__OUTCOME__REJECTED;
            char reason[TD_REASON_MAX];
            snprintf(reason, sizeof reason, "partner %zu (%s): %s", i,
                     pbconv_quote(p->id, TD_MAX_ID), perr.message);
            res->reason = rpc_strdup(call, reason);
            out->rejected++;
            continue;
        }
        state_partner_changed(d, p->id);
        res->outcome = TIERD__OUTCOME__ACCEPTED;
        out->accepted++;
    }
    *resp = &out->base;
    return 0;
}

static int find_partner(rpc_call *call, const char *id, td_partner **out, td_error *err)
{
    *out = td_text_ok(id, TD_MAX_ID) ? engine_partner_find(call->d->engine, id) : NULL;
    if (!*out)
        return td_error_set(err, TD_NOT_FOUND, "unknown partner '%s'", pbconv_quote(id, TD_MAX_ID));
    return 0;
}

int handle_get_partner(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                       td_error *err)
{
    const Tierd__PartnerRequest *r = (const Tierd__PartnerRequest *)req;
    td_partner *p;
    int rc = find_partner(call, r->id, &p, err);
    if (rc)
        return rc;
    *resp = &pbconv_partner_info(call, p, true)->base;
    return 0;
}

/* ListPartnersRequest.where ("key=value", split at the first '=') into
 * where[]; the engine checks the keys and values. Pointers into a copy
 * in the call's arena. */
static int parse_where_into(rpc_call *call, const Tierd__ListPartnersRequest *r, td_attr *where,
                            td_error *err)
{
    if (r->n_where > TD_MAX_ATTRS)
        return td_error_set(err, TD_INVALID_ARGUMENT, "where: %zu conditions, at most %d",
                            r->n_where, TD_MAX_ATTRS);
    for (size_t i = 0; i < r->n_where; i++) {
        const char *w = r->where[i] ? r->where[i] : "";
        const char *eq = strchr(w, '=');
        if (!eq)
            return td_error_set(err, TD_INVALID_ARGUMENT, "where %zu ('%s'): not key=value", i + 1,
                                pbconv_quote(w, TD_MAX_ATTR_KEY + TD_MAX_ATTR_VALUE + 1));
        char *key = rpc_strdup(call, w);
        key[eq - w] = '\0';
        where[i] = (td_attr){key, key + (eq - w) + 1};
    }
    return 0;
}

/* The filters of one ListPartners request. */
typedef struct list_filter {
    const char *ladder, *tier, *benefit;
    const td_attr *where;
    size_t n_where;
    td_time at_risk_before; /* TD_TIME_NONE: no at-risk filter */
    int at_risk_ladder;     /* the ladder index it looks at; -1: every ladder */
    td_time now;
} list_filter;

/* The engine's walk for every filter but at_risk_before. */
static size_t engine_list(engine *e, const char *after, const list_filter *f, td_partner **out,
                          size_t cap, bool *more, td_error *err)
{
    return f->benefit ? engine_partner_list_benefit(e, after, f->ladder, f->tier, f->benefit, out,
                                                    cap, more, err)
                      : engine_partner_list_where(e, after, f->ladder, f->tier, f->where,
                                                  f->n_where, out, cap, more, err);
}

/* at_risk_before: on some ladder (f's ladder when given), GetPartner's
 * lapses_at or demotion_at is set and earlier than the instant. */
static bool at_risk_holds(const engine *e, const td_partner *p, const list_filter *f)
{
    const program *prog = engine_program(e);
    for (size_t l = 0; prog && l < prog->n_ladders; l++) {
        td_at_risk r;
        if ((f->at_risk_ladder >= 0 && (size_t)f->at_risk_ladder != l) ||
            engine_partner_at_risk(e, p, l, f->now, &r) != 0)
            continue;
        if ((r.lapses_at != TD_TIME_NONE && r.lapses_at < f->at_risk_before) ||
            (r.demotion_at != TD_TIME_NONE && r.demotion_at < f->at_risk_before))
            return true;
    }
    return false;
}

static void copy_id(const td_partner *p, char *buf, size_t n)
{
    td_partner_info info;
    engine_partner_info(p, &info);
    snprintf(buf, n, "%s", info.id);
}

/* Up to cap partners matching f after `after`, and *more when another
 * follows. The at-risk filter is not the engine's: the engine's pages
 * (chunk[], chunk_cap) are walked and filtered until cap are found and one
 * more, or the end. */
static size_t list_matching(engine *e, const char *after, const list_filter *f, td_partner **out,
                            size_t cap, td_partner **chunk, size_t chunk_cap, bool *more,
                            td_error *err)
{
    if (f->at_risk_before == TD_TIME_NONE)
        return engine_list(e, after, f, out, cap, more, err);
    char last[TD_MAX_ID + 1];
    size_t n = 0;
    *more = false;
    for (;;) {
        bool chunk_more = false;
        size_t k = engine_list(e, after, f, chunk, chunk_cap, &chunk_more, err);
        if (err->code != TD_OK)
            return 0;
        for (size_t i = 0; i < k; i++) {
            if (!at_risk_holds(e, chunk[i], f))
                continue;
            if (n == cap) {
                *more = true;
                return n;
            }
            out[n++] = chunk[i];
        }
        if (!chunk_more || !k)
            return n;
        copy_id(chunk[k - 1], last, sizeof last);
        after = last;
    }
}

/* ListPartnersRequest.count_remaining: the partners matching the same
 * filters after `after`, walked a page at a time (one walk of the id-sorted
 * view; a person asked how many rows a --limit left out). */
static uint64_t count_matching_after(engine *e, const char *after, const list_filter *f,
                                     td_partner **buf, size_t cap)
{
    uint64_t count = 0;
    char last[TD_MAX_ID + 1];
    for (bool more = true; more && after;) {
        td_error lerr = {0};
        more = false;
        size_t n = engine_list(e, after, f, buf, cap, &more, &lerr);
        if (!n || lerr.code != TD_OK)
            break;
        for (size_t i = 0; i < n; i++)
            count += f->at_risk_before == TD_TIME_NONE || at_risk_holds(e, buf[i], f);
        copy_id(buf[n - 1], last, sizeof last);
        after = last;
    }
    return count;
}

int handle_list_partners(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                         td_error *err)
{
    int rc;
    const Tierd__ListPartnersRequest *r = (const Tierd__ListPartnersRequest *)req;
    engine *e = call->d->engine;
    const char *ladder = r->ladder && *r->ladder ? r->ladder : NULL;
    const char *tier = r->tier && *r->tier ? r->tier : NULL;
    const char *after = r->after && *r->after ? r->after : NULL;
    int ladder_index = -1;
    if (tier && !ladder)
        return td_error_set(err, TD_INVALID_ARGUMENT, "a tier filter needs a ladder filter");
    if (ladder) {
        const program *prog = engine_program(e);
        if (!prog)
            return td_error_set(err, TD_FAILED_PRECONDITION, TD_NO_PROGRAM_MESSAGE);
        int l = td_text_ok(ladder, TD_MAX_NAME) ? program_ladder_index(prog, ladder) : -1;
        if (l < 0)
            return td_error_set(err, TD_INVALID_ARGUMENT, "no ladder named '%s'",
                                pbconv_quote(ladder, TD_MAX_NAME));
        ladder_index = l;
        if (tier && strcmp(tier, "unranked") != 0 &&
            (!td_text_ok(tier, TD_MAX_NAME) || ladder_tier_index(&prog->ladders[l], tier) < 0)) {
            char names[TD_ERROR_MAX / 2];
            ladder_tier_names(&prog->ladders[l], names, sizeof names);
            return td_error_set(err, TD_INVALID_ARGUMENT,
                                "ladder '%s' has no tier '%s'; its tiers: %s (or unranked)", ladder,
                                pbconv_quote(tier, TD_MAX_NAME), names);
        }
    }
    if (after && strnlen(after, TD_MAX_ID + 1) > TD_MAX_ID)
        return td_error_set(err, TD_INVALID_ARGUMENT, "after: longer than %d bytes", TD_MAX_ID);
    if (r->at_risk_before < 0 || r->at_risk_before > TD_TIME_MAX)
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "at_risk_before: %lld is not a time (Unix seconds from 1970 to 9999)",
                            (long long)r->at_risk_before);
    size_t limit = r->limit == 0                  ? TD_LIST_DEFAULT_LIMIT
                   : r->limit > TD_LIST_MAX_LIMIT ? TD_LIST_MAX_LIMIT
                                                  : r->limit;
    td_attr where[TD_MAX_ATTRS];
    rc = parse_where_into(call, r, where, err);
    if (rc)
        return rc;
    const char *benefit = r->benefit && *r->benefit ? r->benefit : NULL;
    if (benefit && r->n_where)
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "a benefit filter and a where filter cannot be combined");
    list_filter f = {.ladder = ladder,
                     .tier = tier,
                     .benefit = benefit,
                     .where = where,
                     .n_where = r->n_where,
                     .at_risk_before = r->at_risk_before,
                     .at_risk_ladder = ladder_index,
                     .now = call->now};
    td_partner **found = rpc_alloc(call, limit * sizeof *found);
    td_partner **chunk = r->at_risk_before || r->count_remaining
                             ? rpc_alloc(call, TD_LIST_MAX_LIMIT * sizeof *chunk)
                             : NULL;
    bool more = false;
    td_error lerr = {0};
    size_t n = list_matching(e, after, &f, found, limit, chunk, TD_LIST_MAX_LIMIT, &more, &lerr);
    if (lerr.code != TD_OK)
        return td_error_set(err, lerr.code == TD_NOT_FOUND ? TD_INVALID_ARGUMENT : lerr.code, "%s",
                            lerr.message);
    Tierd__ListPartnersResponse *out = rpc_alloc(call, sizeof *out);
    tierd__list_partners_response__init(out);
    out->n_partners = n;
    out->partners = rpc_alloc(call, (n ? n : 1) * sizeof *out->partners);
    for (size_t i = 0; i < n; i++)
        out->partners[i] = pbconv_partner_info(call, found[i], r->at_risk_before != 0);
    out->next = rpc_strdup(call, more && n ? out->partners[n - 1]->partner->id : "");
    if (r->count_remaining && more && n)
        out->remaining = count_matching_after(e, out->next, &f, chunk, TD_LIST_MAX_LIMIT);
    *resp = &out->base;
    return 0;
}

int handle_delete_partner(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                          td_error *err)
{
    const Tierd__PartnerRequest *r = (const Tierd__PartnerRequest *)req;
    tierd *d = call->d;
    td_partner *p;
    int rc = replay_refuse(d, "deleting a partner", err);
    if (rc)
        return rc;
    rc = find_partner(call, r->id, &p, err);
    if (rc)
        return rc;
    rc = state_begin(d, err);
    if (rc)
        return rc;
    rc = engine_partner_delete(d->engine, r->id, call->now, state_change_sink, d, err);
    if (rc)
        return rc;
    state_partner_changed(d, r->id);
    /* Its events can no longer be corrected: a partner of the same id
     * created later never held them. */
    rc = store_hist_drop_partner(d->store, r->id, err);
    if (rc) {
        state_fail(d, err);
        return rc;
    }
    Tierd__DeletePartnerResponse *out = rpc_alloc(call, sizeof *out);
    tierd__delete_partner_response__init(out);
    out->deleted = true;
    *resp = &out->base;
    return 0;
}

int handle_get_tiers(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                     td_error *err)
{
    const Tierd__GetTiersRequest *r = (const Tierd__GetTiersRequest *)req;
    engine *e = call->d->engine;
    int rc = pbconv_check_batch(e, r->n_partners, "partners", err);
    if (rc)
        return rc;
    Tierd__GetTiersResponse *out = rpc_alloc(call, sizeof *out);
    tierd__get_tiers_response__init(out);
    out->n_partners = r->n_partners;
    out->partners = rpc_alloc(call, (r->n_partners ? r->n_partners : 1) * sizeof *out->partners);
    for (size_t i = 0; i < r->n_partners; i++) {
        const char *id = r->partners[i];
        Tierd__PartnerTiers *pt = rpc_alloc(call, sizeof *pt);
        tierd__partner_tiers__init(pt);
        td_partner *p = td_text_ok(id, TD_MAX_ID) ? engine_partner_find(e, id) : NULL;
        pt->partner = rpc_strdup(call, p ? id : pbconv_quote(id, TD_MAX_ID));
        pt->found = p != NULL;
        if (p)
            pt->tiers = pbconv_tiers(call, p, true, &pt->n_tiers);
        out->partners[i] = pt;
    }
    *resp = &out->base;
    return 0;
}

int handle_stats(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                 td_error *err)
{
    (void)req;
    engine *e = call->d->engine;
    const program *prog = engine_program(e);
    if (!prog)
        return td_error_set(err, TD_FAILED_PRECONDITION, TD_NO_PROGRAM_MESSAGE);
    size_t width = TD_MAX_TIERS + 1;
    uint64_t *counts =
        rpc_alloc(call, (prog->n_ladders ? prog->n_ladders : 1) * width * sizeof *counts);
    memset(counts, 0, (prog->n_ladders ? prog->n_ladders : 1) * width * sizeof *counts);
    engine_stats(e, counts);
    Tierd__StatsResponse *out = rpc_alloc(call, sizeof *out);
    tierd__stats_response__init(out);
    out->partners = engine_partner_count(e);
    out->events = store_event_count(call->d->store);
    out->n_ladders = prog->n_ladders;
    out->ladders = rpc_alloc(call, (prog->n_ladders ? prog->n_ladders : 1) * sizeof *out->ladders);
    for (size_t l = 0; l < prog->n_ladders; l++) {
        const ladder_def *ld = &prog->ladders[l];
        Tierd__LadderStats *ls = rpc_alloc(call, sizeof *ls);
        tierd__ladder_stats__init(ls);
        ls->ladder = rpc_strdup(call, ld->name);
        ls->n_tiers = ld->n_tiers + 1;
        ls->tiers = rpc_alloc(call, ls->n_tiers * sizeof *ls->tiers);
        for (size_t t = 0; t <= ld->n_tiers; t++) {
            Tierd__TierCount *tc = rpc_alloc(call, sizeof *tc);
            tierd__tier_count__init(tc);
            tc->tier = rpc_strdup(call, t == 0 ? "unranked" : ld->tiers[t - 1].name);
            tc->count = counts[l * width + t];
            ls->tiers[t] = tc;
        }
        out->ladders[l] = ls;
    }
    *resp = &out->base;
    return 0;
}

int handle_stats_by(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                    td_error *err)
{
    const Tierd__StatsByRequest *r = (const Tierd__StatsByRequest *)req;
    engine *e = call->d->engine;
    const program *prog = engine_program(e);
    if (!prog)
        return td_error_set(err, TD_FAILED_PRECONDITION, TD_NO_PROGRAM_MESSAGE);
    td_stats_by by;
    int rc = engine_stats_by(e, r->attr ? r->attr : "", &by, err);
    if (rc)
        return rc;
    size_t width = TD_MAX_TIERS + 1;
    Tierd__StatsByResponse *out = rpc_alloc(call, sizeof *out);
    tierd__stats_by_response__init(out);
    out->attr = rpc_strdup(call, r->attr);
    out->n_values = by.n_rows;
    out->values = rpc_alloc(call, (by.n_rows ? by.n_rows : 1) * sizeof *out->values);
    for (size_t v = 0; v < by.n_rows; v++) {
        const td_stats_row *row = &by.rows[v];
        Tierd__AttrValueStats *as = rpc_alloc(call, sizeof *as);
        tierd__attr_value_stats__init(as);
        as->value = rpc_strdup(call, row->value ? row->value : "");
        as->none = !row->value;
        as->partners = row->partners;
        as->n_ladders = prog->n_ladders;
        as->ladders =
            rpc_alloc(call, (prog->n_ladders ? prog->n_ladders : 1) * sizeof *as->ladders);
        for (size_t l = 0; l < prog->n_ladders; l++) {
            const ladder_def *ld = &prog->ladders[l];
            Tierd__LadderStats *ls = rpc_alloc(call, sizeof *ls);
            tierd__ladder_stats__init(ls);
            ls->ladder = rpc_strdup(call, ld->name);
            ls->n_tiers = ld->n_tiers + 1;
            ls->tiers = rpc_alloc(call, ls->n_tiers * sizeof *ls->tiers);
            for (size_t t = 0; t <= ld->n_tiers; t++) {
                Tierd__TierCount *tc = rpc_alloc(call, sizeof *tc);
                tierd__tier_count__init(tc);
                tc->tier = rpc_strdup(call, t == 0 ? "unranked" : ld->tiers[t - 1].name);
                tc->count = row->counts[l * width + t];
                ls->tiers[t] = tc;
            }
            as->ladders[l] = ls;
        }
        out->values[v] = as;
    }
    engine_stats_by_free(&by);
    *resp = &out->base;
    return 0;
}
