/* Export (docs/rpc.md, "Backup and export"): the store a page at a time in
 * the shapes imports read back: partners (from the engine, id order),
 * accepted events (from the store, source/id order, the version counting
 * with its revision and retraction) and tier changes (sequence order).
 *
 * A page is bounded by `limit`, so a client walks a store of any size with
 * bounded memory on both sides; `next` is the last item's key. Pages are
 * read from the state at each request: what changes between pages shows
 * in the later pages only (a partner put behind the cursor is missed), as
 * for ListPartners. */
#include <string.h>

#include "daemon.h"
#include "handlers.h"
#include "pbconv.h"
#include "td_time.h"

#define EXPORT_DEFAULT_LIMIT 1000
#define EXPORT_MAX_LIMIT     10000
#define EXPORT_STOP          1 /* stops a store walk without an error */

typedef struct export_walk {
    rpc_call *call;
    Tierd__ExportResponse *out;
    size_t limit;
    td_time since;
    td_error *err;
} export_walk;

static Tierd__ExportResponse *export_new(rpc_call *call)
{
    Tierd__ExportResponse *out = rpc_alloc(call, sizeof *out);
    tierd__export_response__init(out);
    return out;
}

static void set_next(rpc_call *call, Tierd__ExportResponse *out, const void *key, size_t len)
{
    out->next.data = rpc_alloc(call, len ? len : 1);
    memcpy(out->next.data, key, len);
    out->next.len = len;
}

static int export_partners(rpc_call *call, const Tierd__ExportRequest *r, size_t limit,
                           Tierd__ExportResponse *out, td_error *err)
{
    char after[TD_MAX_ID + 1] = "";
    if (r->after.len > TD_MAX_ID || (r->after.len && memchr(r->after.data, 0, r->after.len)))
        return td_error_set(err, TD_INVALID_ARGUMENT, "after: not a partner id");
    if (r->after.len)
        memcpy(after, r->after.data, r->after.len);
    after[r->after.len] = 0;
    td_partner **found = rpc_alloc(call, limit * sizeof *found);
    bool more = false;
    td_error lerr = {0};
    size_t n = engine_partner_list_where(call->d->engine, *after ? after : NULL, NULL, NULL, NULL,
                                         0, found, limit, &more, &lerr);
    if (lerr.code != TD_OK)
        return td_error_set(err, lerr.code, "%s", lerr.message);
    out->partners = rpc_alloc(call, (n ? n : 1) * sizeof *out->partners);
    for (size_t i = 0; i < n; i++)
        out->partners[out->n_partners++] = pbconv_partner(call, found[i]);
    if (more && n) {
        const char *last = out->partners[n - 1]->id;
        set_next(call, out, last, strlen(last));
    }
    return 0;
}

static int collect_event(void *ud, const void *key, size_t key_len, const char *source,
                         const char *id, const store_event_meta *meta, const uint8_t *pb,
                         size_t len)
{
    export_walk *w = ud;
    if (w->out->n_events == w->limit) {
        /* One more exists: the page ends at the one before. */
        Tierd__ExportedEvent *last = w->out->events[w->limit - 1];
        char k[2 * (TD_MAX_ID + 1)];
        size_t sl = strlen(last->event->source), il = strlen(last->event->id);
        memcpy(k, last->event->source, sl + 1);
        memcpy(k + sl + 1, last->event->id, il);
        set_next(w->call, w->out, k, sl + 1 + il);
        return EXPORT_STOP;
    }
    (void)key;
    (void)key_len;
    Tierd__Event *ev = pbconv_event(w->call, pb, len);
    if (!ev)
        return td_error_set(w->err, TD_DATA_LOSS, "event %s/%s in the store is damaged", source,
                            id);
    /* An event whose partner was deleted counts for nothing and could not
     * be imported again. */
    if (!engine_partner_find(w->call->d->engine, ev->partner))
        return 0;
    if (w->since) {
        td_time at;
        td_error terr;
        if (td_time_parse(ev->at, &at, &terr) == 0 && at < w->since)
            return 0;
    }
    ev->source = rpc_strdup(w->call, source);
    ev->id = rpc_strdup(w->call, id);
    ev->op = "";
    ev->revision = 0;
    Tierd__ExportedEvent *x = rpc_alloc(w->call, sizeof *x);
    tierd__exported_event__init(x);
    x->event = ev;
    x->revision = meta->revision;
    x->retracted = meta->retracted;
    w->out->events[w->out->n_events++] = x;
    return 0;
}

static int collect_change(void *ud, uint64_t seq, const uint8_t *pb, size_t len)
{
    export_walk *w = ud;
    Tierd__TierChange *c = pbconv_tier_change(w->call, pb, len);
    if (!c)
        return td_error_set(w->err, TD_DATA_LOSS, "change %llu in the log is damaged",
                            (unsigned long long)seq);
    uint8_t key[8];
    for (int i = 7; i >= 0; i--)
        key[7 - i] = (uint8_t)(seq >> (8 * i));
    /* Every change walked moves the cursor, matching or not, so a page of
     * old changes skipped by since_time still ends. */
    set_next(w->call, w->out, key, sizeof key);
    if (!w->since || c->at >= w->since)
        w->out->changes[w->out->n_changes++] = c;
    return 0;
}

int handle_export(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                  td_error *err)
{
    const Tierd__ExportRequest *r = (const Tierd__ExportRequest *)req;
    const char *kind = r->kind ? r->kind : "";
    size_t limit = r->limit == 0                 ? EXPORT_DEFAULT_LIMIT
                   : r->limit > EXPORT_MAX_LIMIT ? EXPORT_MAX_LIMIT
                                                 : r->limit;
    Tierd__ExportResponse *out = export_new(call);
    export_walk w = {.call = call, .out = out, .limit = limit, .since = r->since_time, .err = err};
    int rc;
    if (strcmp(kind, "partners") == 0) {
        if (r->since_time || r->since_sequence)
            return td_error_set(err, TD_INVALID_ARGUMENT, "partners: no since filter");
        rc = export_partners(call, r, limit, out, err);
    } else if (strcmp(kind, "events") == 0) {
        if (r->since_sequence)
            return td_error_set(err, TD_INVALID_ARGUMENT,
                                "events: since takes a time (at or after), not a sequence");
        out->events = rpc_alloc(call, limit * sizeof *out->events);
        rc = store_each_event(call->d->store, r->after.data, r->after.len, collect_event, &w, err);
    } else if (strcmp(kind, "changes") == 0) {
        uint64_t since = r->since_sequence;
        if (r->after.len == 8) {
            uint64_t a = 0;
            for (size_t i = 0; i < 8; i++)
                a = a << 8 | r->after.data[i];
            since = a > since ? a : since;
        } else if (r->after.len) {
            return td_error_set(err, TD_INVALID_ARGUMENT, "after: not a changes cursor");
        }
        out->changes = rpc_alloc(call, limit * sizeof *out->changes);
        rc = store_each_change_since(call->d->store, since, limit, collect_change, &w, err);
        /* A short page is the end. */
        if (rc == 0 && store_last_sequence(call->d->store) <= since + limit)
            out->next.len = 0;
    } else {
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "kind must be partners, events or changes, not '%s'",
                            pbconv_quote(kind, TD_MAX_NAME));
    }
    if (rc < 0)
        return rc;
    *resp = &out->base;
    return 0;
}
