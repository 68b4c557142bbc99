/* The connector plugin ABI: the whole contract between tierd and a connector.
 *
 * A connector is a shared object that exports one symbol,
 * TIERD_CONNECTOR_ENTRY_SYMBOL ("tierd_connector_entry"), a function that
 * returns a static tierd_connector descriptor. The plugin never runs inside
 * the daemon: the `tierd-connector` host process loads it, hands it a
 * tierd_host_api and forwards what it emits to tierd over the ordinary RPC.
 * A plugin that crashes or hangs takes down only its own host process, which
 * the daemon restarts with back-off.
 *
 * Life of a plugin, all calls on the host's main thread except `stop`:
 *   init(api, host, &state, err)  read config, open connections; no emitting
 *   run(state, err)               read the source until stopped; blocks
 *   stop(state)                   from another thread: make run return soon
 *   fini(state)                   release everything init acquired
 *
 * Emitting and cursors: emit_partner/emit_event buffer items; the host sends
 * them in batches (partners before events) and waits for the daemon's
 * answer, so a fast source is throttled by the daemon itself. commit(cursor)
 * sends whatever is buffered and stores `cursor` in the same daemon
 * transaction as that last batch: after a crash the plugin resumes from
 * `cursor()` and re-reads at most what followed the last commit. Re-sent
 * events are harmless as long as their (source, id) is stable, because the
 * daemon counts each pair once.
 *
 * Corrections: emit_event_op (appended to ABI 1, see below) sends a
 * retraction or an amendment of an event sent before, keyed by the same
 * (source, id); an amendment's revision must be above the stored one, so a
 * re-read repeats it as a harmless duplicate, like a re-sent event.
 *
 * Partner attributes: emit_partner_attrs (appended to ABI 1) sends a
 * partner with its whole attribute map (region, segment, ...), which
 * replaces the one tierd holds; emit_partner leaves that map as it is.
 *
 * Versioning: `abi_version` must equal TIERD_PLUGIN_ABI_VERSION of the host;
 * any other value is refused with a message naming both versions. The ABI
 * grows only by appending members to tierd_host_api (its `size` member tells
 * a plugin which ones exist: test with TIERD_HOST_API_HAS before calling an
 * appended member); any other change bumps the version. Members appended so
 * far: emit_event_op (corrections), emit_partner_attrs (partner
 * attributes).
 *
 * Self-contained: this header includes only the C library and
 * tierd/status.h, never anything from the daemon. */
#ifndef TIERD_PLUGIN_H
#define TIERD_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tierd/status.h"

#define TIERD_PLUGIN_ABI_VERSION     1
#define TIERD_CONNECTOR_ENTRY_SYMBOL "tierd_connector_entry"

/* Limits the host enforces on what a plugin hands it. */
#define TIERD_PLUGIN_ID_MAX     256  /* bytes in an id, partner, metric, source, key */
#define TIERD_PLUGIN_CURSOR_MAX 1024 /* bytes in a cursor; no control characters */
/* Partner attributes (docs/events.md, "Partners"), tierd's own limits. */
#define TIERD_PLUGIN_ATTRS_MAX      32  /* attributes on one partner */
#define TIERD_PLUGIN_ATTR_KEY_MAX   64  /* bytes in a key: letters, digits, '_', '.', '-' */
#define TIERD_PLUGIN_ATTR_VALUE_MAX 256 /* bytes in a value; no control characters */

typedef enum tierd_log_level {
    TIERD_LOG_ERROR = 3,
    TIERD_LOG_WARNING = 4,
    TIERD_LOG_INFO = 6,
    TIERD_LOG_DEBUG = 7,
} tierd_log_level;

/* A partner to create or update (docs/events.md). Strings are copied by the
 * host before emit_partner returns. */
typedef struct tierd_partner {
    const char *id;           /* required */
    const char *name;         /* NULL or "" = none */
    const char *const *types; /* n_types strings */
    size_t n_types;
} tierd_partner;

/* One partner attribute: key and value, both required. Copied by the host
 * before emit_partner_attrs returns. */
typedef struct tierd_attr {
    const char *key;
    const char *value;
} tierd_attr;

/* An event (docs/events.md). Strings are copied before emit_event returns. */
typedef struct tierd_event {
    const char *id;     /* required; with source, the idempotency key */
    const char *source; /* NULL = the connector's name */
    const char *partner;
    const char *metric;
    double value; /* used when has_value */
    bool has_value;
    const char *at;     /* RFC 3339 */
    const char *key;    /* NULL = none; feeds `distinct` */
    const char *origin; /* NULL or where it came from ("x.csv:12"), for logs */
} tierd_event;

/* What an event emitted through emit_event_op does (docs/events.md,
 * "Corrections"). */
typedef enum tierd_event_op {
    TIERD_EVENT_NEW = 0,     /* a new event, as emit_event */
    TIERD_EVENT_RETRACT = 1, /* remove the event stored under (source, id) */
    TIERD_EVENT_AMEND = 2,   /* replace it: same partner and metric, new value, at, key */
} tierd_event_op;

/* Opaque: the host's own state, passed back on every call. */
typedef struct tierd_host tierd_host;

typedef struct tierd_host_api {
    uint32_t abi_version; /* TIERD_PLUGIN_ABI_VERSION */
    size_t size;          /* sizeof(tierd_host_api) of the host */

    /* Logs to the daemon's log, prefixed with the connector name. */
    void (*log)(tierd_host *h, tierd_log_level level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
    /* The connector's name from tierd.yaml. */
    const char *(*name)(tierd_host *h);
    /* The connector's `config:` block as JSON text: YAML mappings become
     * objects, sequences arrays and every scalar a string. "{}" when absent. */
    const char *(*config_json)(tierd_host *h);
    /* A scalar from the config block by dotted path ("query.table"), or NULL
     * when absent or not a scalar. Valid until fini. */
    const char *(*config_get)(tierd_host *h, const char *path);
    /* The last committed cursor, NULL when none. Valid until the next
     * commit. */
    const char *(*cursor)(tierd_host *h);

    /* Buffer one item. Return 0, or a negative td_code when the item is
     * malformed (the item is dropped, err says why) or when sending a full
     * buffer failed (TD_UNAVAILABLE: give up and return from run). */
    int (*emit_partner)(tierd_host *h, const tierd_partner *p, td_error *err);
    int (*emit_event)(tierd_host *h, const tierd_event *e, td_error *err);
    /* Sends the buffered items and commits cursor with them (NULL: send
     * without moving the cursor). Returns when the daemon has committed. */
    int (*commit)(tierd_host *h, const char *cursor, td_error *err);

    /* Tells the supervisor the plugin is alive while it has nothing to send
     * (idle waits longer than a few seconds must call it). Cheap. */
    void (*heartbeat)(tierd_host *h);
    /* True once the host was asked to stop. */
    bool (*stopping)(tierd_host *h);

    /* ---- appended to ABI 1: present when TIERD_HOST_API_HAS(api, member) ---- */

    /* Buffers e as op (returns as emit_event). NEW: e as for emit_event,
     * revision 0. RETRACT: only e->id is required (source as for
     * emit_event); partner, metric and at may be NULL, and when given the
     * daemon checks them against the stored event; revision 0. AMEND: e is
     * the whole new event and revision >= 1, above the one stored (the
     * original is 0); at or below it the daemon counts a duplicate. */
    int (*emit_event_op)(tierd_host *h, const tierd_event *e, tierd_event_op op, uint64_t revision,
                         td_error *err);

    /* Buffers p (returns as emit_partner) with its attributes: the n pairs
     * of attrs replace the partner's whole map in tierd, so an attribute
     * left out is removed and n == 0 clears the map. Any pair breaking the
     * limits above (more than TIERD_PLUGIN_ATTRS_MAX, a key not of
     * [A-Za-z0-9_.-], an empty or non-text value, a key given twice) drops
     * the whole partner with TD_INVALID_ARGUMENT naming it and the rule. */
    int (*emit_partner_attrs)(tierd_host *h, const tierd_partner *p, const tierd_attr *attrs,
                              size_t n, td_error *err);
} tierd_host_api;

/* Whether the host behind api has `member` (one appended after the first
 * ABI 1 layout): its size covers the member. A plugin must check before
 * calling an appended member, since an older host's table ends before it. */
#define TIERD_HOST_API_HAS(api, member)                                                            \
    ((api)->size >= offsetof(tierd_host_api, member) + sizeof((api)->member) &&                    \
     (api)->member != NULL)

typedef struct tierd_connector {
    uint32_t abi_version; /* TIERD_PLUGIN_ABI_VERSION the plugin was built for */
    const char *name;     /* plugin name, e.g. "postgres" */
    const char *version;  /* plugin version, free text */

    int (*init)(const tierd_host_api *api, tierd_host *h, void **state, td_error *err);
    /* Returns 0 after stop, or a negative td_code on a fatal error. */
    int (*run)(void *state, td_error *err);
    /* Thread-safe and non-blocking: asks run to return. */
    void (*stop)(void *state);
    void (*fini)(void *state);
} tierd_connector;

typedef const tierd_connector *(*tierd_connector_entry_fn)(void);

/* Every plugin defines exactly this function. */
const tierd_connector *tierd_connector_entry(void);

#endif
