/* Connector cursors and counts over RPC.
 *
 * Owns GetCursor, SinkAck (a sink's acknowledged sequence is its cursor),
 * the rule that a connector's cursor moves only in the
 * transaction that stores its batch (cursor_commit_with_batch, called by
 * the UpsertPartners and Ingest handlers), and the count of events each
 * connector got committed, kept in the store beside the cursor so Status
 * reports what the daemon committed rather than what a plugin claims. It checks the connector name
 * and the cursor before they reach the store; it does not interpret cursors: they are opaque to the
 * daemon, meaningful only to their plugin. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors.h"
#include "handlers.h"
#include "pbconv.h"
#include "state.h"
#include "store.h"
#include "td_number.h"
#include "tierd/plugin.h"

/* A store meta value per connector: its committed event count, 8 bytes
 * big-endian. */
#define CURSOR_EVENTS_META_FMT "connector_events/%s"
#define CURSOR_EVENTS_META_MAX (sizeof "connector_events/" + CONNECTOR_NAME_MAX)
#define CURSOR_COUNT_BYTES     8

static bool name_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '_' || ch == '.';
}

static int check_connector(const char *name, td_error *err)
{
    size_t n = strnlen(name, CONNECTOR_NAME_MAX + 1);
    if (n == 0)
        return td_error_set(err, TD_INVALID_ARGUMENT, "connector: empty name");
    if (n > CONNECTOR_NAME_MAX)
        return td_error_set(err, TD_INVALID_ARGUMENT, "connector: name longer than %d bytes",
                            CONNECTOR_NAME_MAX);
    for (size_t i = 0; i < n; i++)
        if (!name_char(name[i]))
            return td_error_set(err, TD_INVALID_ARGUMENT,
                                "connector: name may hold only letters, digits, '-', '_' and "
                                "'.' (byte %zu is not one)",
                                i);
    return 0;
}

/* Well-formed UTF-8 without control characters (td_text_ok): a cursor
 * is shown in Status and logs, so it must print. Empty means "none". */
static int check_cursor(const char *connector, const char *cursor, td_error *err)
{
    if (strnlen(cursor, TIERD_PLUGIN_CURSOR_MAX + 1) > TIERD_PLUGIN_CURSOR_MAX)
        return td_error_set(err, TD_INVALID_ARGUMENT, "connector %s: cursor longer than %d bytes",
                            connector, TIERD_PLUGIN_CURSOR_MAX);
    if (*cursor && !td_text_ok(cursor, TIERD_PLUGIN_CURSOR_MAX))
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "connector %s: cursor is not printable UTF-8 (control character or "
                            "malformed sequence)",
                            connector);
    return 0;
}

int handle_get_cursor(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                      td_error *err)
{
    const Tierd__CursorRequest *r = (const Tierd__CursorRequest *)req;
    const char *name = r->connector ? r->connector : "";
    int rc = check_connector(name, err);
    if (rc)
        return rc;
    char *cursor = NULL;
    /* A local error: the store may leave "not found" in it while answering
     * 0 with no cursor, which is not a failure of this call. */
    td_error serr;
    td_error_clear(&serr);
    rc = store_get_cursor(call->d->store, name, &cursor, &serr);
    if (rc) {
        *err = serr;
        return rc;
    }
    Tierd__CursorResponse *out = rpc_alloc(call, sizeof *out);
    tierd__cursor_response__init(out);
    out->cursor = rpc_strdup(call, cursor);
    free(cursor);
    *resp = &out->base;
    return 0;
}

int handle_sink_ack(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                    td_error *err)
{
    const Tierd__SinkAckRequest *r = (const Tierd__SinkAckRequest *)req;
    const char *name = r->connector ? r->connector : "";
    int rc = check_connector(name, err);
    if (rc)
        return rc;
    if (!connectors_is_sink(call->d->connectors, name))
        return td_error_set(err, TD_NOT_FOUND,
                            "connector %s: not a configured sink (direction: sink in tierd.yaml)",
                            name);
    uint64_t last = store_last_sequence(call->d->store);
    if (r->sequence > last)
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "connector %s: acknowledges change %llu, but the last change is %llu",
                            name, (unsigned long long)r->sequence, (unsigned long long)last);
    td_error serr;
    td_error_clear(&serr);
    char *cursor = NULL;
    rc = store_get_cursor(call->d->store, name, &cursor, &serr);
    if (rc) {
        *err = serr;
        return rc;
    }
    uint64_t stored = 0;
    bool had = cursor && *cursor;
    bool numeric = !had || td_number_parse(cursor, 0, UINT64_MAX, &stored) == 0;
    free(cursor);
    /* A second host (or a stale one) must not move the ack backwards:
     * that would re-deliver what the sink already has at best. */
    if (numeric && r->sequence < stored)
        return td_error_set(err, TD_FAILED_PRECONDITION,
                            "connector %s: acknowledges change %llu, below the %llu already "
                            "acknowledged",
                            name, (unsigned long long)r->sequence, (unsigned long long)stored);
    char text[24];
    snprintf(text, sizeof text, "%llu", (unsigned long long)r->sequence);
    rc = state_put_cursor(call->d, name, text, err);
    if (!rc)
        rc = cursor_count_accepted(call, name, r->delivered, err);
    if (rc)
        return rc;
    Tierd__SinkAckResponse *out = rpc_alloc(call, sizeof *out);
    tierd__sink_ack_response__init(out);
    out->sequence = r->sequence;
    out->last_sequence = last;
    *resp = &out->base;
    return 0;
}

int cursor_commit_with_batch(rpc_call *call, const char *connector, const char *cursor,
                             td_error *err)
{
    if (!connector || !*connector)
        return 0;
    int rc = check_connector(connector, err);
    if (rc)
        return rc;
    if (!cursor || !*cursor)
        return 0;
    rc = check_cursor(connector, cursor, err);
    if (rc)
        return rc;
    return state_put_cursor(call->d, connector, cursor, err);
}

static void events_meta_name(const char *connector, char *out, size_t n)
{
    snprintf(out, n, CURSOR_EVENTS_META_FMT, connector);
}

int cursor_committed_events(store *s, const char *connector, uint64_t *out, td_error *err)
{
    *out = 0;
    char name[CURSOR_EVENTS_META_MAX];
    events_meta_name(connector, name, sizeof name);
    uint8_t *val = NULL;
    size_t len = 0;
    td_error gerr;
    td_error_clear(&gerr);
    int rc = store_get_meta(s, name, &val, &len, &gerr);
    if (rc == -(int)TD_NOT_FOUND)
        return 0;
    if (rc) {
        *err = gerr;
        return rc;
    }
    if (len == CURSOR_COUNT_BYTES)
        for (size_t i = 0; i < CURSOR_COUNT_BYTES; i++)
            *out = (*out << 8) | val[i];
    free(val);
    return 0;
}

int cursor_count_accepted(rpc_call *call, const char *connector, uint64_t accepted, td_error *err)
{
    /* cursor_commit_with_batch already refused a malformed name. */
    td_error ignored;
    if (!connector || !*connector || accepted == 0 || check_connector(connector, &ignored) != 0)
        return 0;
    uint64_t n = 0;
    int rc = cursor_committed_events(call->d->store, connector, &n, err);
    if (rc == 0) {
        n += accepted;
        uint8_t be[CURSOR_COUNT_BYTES];
        for (size_t i = 0; i < CURSOR_COUNT_BYTES; i++)
            be[i] = (uint8_t)(n >> (8 * (CURSOR_COUNT_BYTES - 1 - i)));
        char name[CURSOR_EVENTS_META_MAX];
        events_meta_name(connector, name, sizeof name);
        return state_put_meta(call->d, name, be, sizeof be, err);
    }
    if (rc)
        state_fail(call->d, err);
    return rc;
}
