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
 * Sinks (ABI 2): a plugin may instead (or also) declare a sink direction,
 * a tierd_sink in its descriptor. A connector configured with `direction:
 * sink` runs it: the host follows the daemon's changes (ListChanges from
 * the acknowledged cursor), hands them to receive() in sequence order, a
 * batch at a time, and once receive returns 0 stores the batch's cursor in
 * the daemon (SinkAck) as the connector's cursor. After a crash or restart
 * delivery resumes after the last acknowledged batch, so a batch may come
 * twice but none is skipped: a sink must be idempotent (an upsert keyed by
 * partner and ladder, guarded by the sequence, is).
 *
 * Versioning: `abi_version` must be 1 or 2 (TIERD_PLUGIN_ABI_VERSION); any
 * other value is refused with a message naming both versions. An ABI 1
 * descriptor ends before `sink`, so an ABI 1 plugin is a source. The ABI
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

#define TIERD_PLUGIN_ABI_VERSION     2
#define TIERD_PLUGIN_ABI_VERSION_MIN 1 /* the oldest the host still loads */
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
    uint32_t abi_version; /* the plugin's own version (1 for an ABI 1 plugin) */
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

/* ---- ABI 2: the sink direction ---- */

/* One benefit (docs/program.md, "Benefits"). */
typedef struct tierd_benefit {
    const char *name;
    const char *value; /* as written after '='; "" for a bare name */
    double number;     /* value as a number, when has_number */
    bool has_number;
    const char *tier; /* the tier whose list grants it */
} tierd_benefit;

/* One tier change as a sink receives it: the change itself (tierd.TierChange,
 * docs/rpc.md) and the partner's standing on that ladder as the host read it
 * (GetTiers, GetBenefits) after fetching the batch: never older than the
 * change, possibly newer, so a row written from it converges on the
 * daemon's state. Strings are never NULL ("" = none or unranked) and live
 * until receive returns. Members are only ever appended, behind `size`. */
typedef struct tierd_tier_change {
    size_t size; /* sizeof(tierd_tier_change) of the host */
    uint64_t sequence;
    const char *partner;
    const char *ladder;
    const char *from_tier;
    const char *to_tier;
    int64_t at;        /* seconds since the epoch, on the daemon's clock */
    const char *cause; /* "promotion", "demotion", "override", ... (lower-case Cause) */
    const char *program_version;
    const char *event_id;
    const char *actor;
    const char *reason;
    const tierd_benefit *benefits_gained;
    size_t n_benefits_gained;
    const tierd_benefit *benefits_lost;
    size_t n_benefits_lost;
    /* Standing now. found false: the partner is gone (deleted). */
    bool found;
    const char *tier;              /* held now, an active override's included; "" = unranked */
    int64_t since;                 /* when the tier under any override was taken; 0 = never */
    const char *pending;           /* awaiting approval, "" none */
    const tierd_benefit *benefits; /* held now on this ladder */
    size_t n_benefits;
} tierd_tier_change;

typedef struct tierd_sink {
    /* As init: read config, open connections, check the destination. A
     * TD_UNAVAILABLE error is retried (the host restarts with back-off),
     * any other is fatal until the config is reloaded. */
    int (*open)(const tierd_host_api *api, tierd_host *h, void **state, td_error *err);
    /* Applies changes[0..n), in sequence order, durably. Called on a
     * delivery thread of the host (not the one open ran on), one call at a
     * time, while the host fetches the next batch. 0 acknowledges
     * the batch: the host then stores `cursor` (the last sequence, in
     * decimal) and never offers these changes again unless the
     * acknowledgement is lost. A negative td_code leaves it unacknowledged:
     * the host exits and is restarted with back-off, and the batch comes
     * again. */
    int (*receive)(void *state, const tierd_tier_change *const *changes, size_t n,
                   const char *cursor, td_error *err);
    void (*close)(void *state);
} tierd_sink;

typedef struct tierd_connector {
    uint32_t abi_version; /* TIERD_PLUGIN_ABI_VERSION the plugin was built for */
    const char *name;     /* plugin name, e.g. "postgres" */
    const char *version;  /* plugin version, free text */

    /* The source direction; all four NULL in a plugin that is only a sink. */
    int (*init)(const tierd_host_api *api, tierd_host *h, void **state, td_error *err);
    /* Returns 0 after stop, or a negative td_code on a fatal error. */
    int (*run)(void *state, td_error *err);
    /* Thread-safe and non-blocking: asks run to return. */
    void (*stop)(void *state);
    void (*fini)(void *state);

    /* ---- ABI 2 (absent from an ABI 1 descriptor: never read there) ---- */
    const tierd_sink *sink; /* NULL: no sink direction */
} tierd_connector;

typedef const tierd_connector *(*tierd_connector_entry_fn)(void);

/* Every plugin defines exactly this function. */
const tierd_connector *tierd_connector_entry(void);

#endif
