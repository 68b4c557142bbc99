/* Connectors: the daemon side of the plugin host (include/tierd/plugin.h,
 * examples/connectors/README.md).
 *
 * The daemon never loads plugin code. For every connector in tierd.yaml it
 * spawns a `tierd-connector` child (connector/main.c) that loads the plugin
 * from plugin_dir and speaks the ordinary RPC back to us, and supervises it:
 * a child that exits, crashes or stops sending heartbeats within its hang
 * timeout is killed and restarted after an exponential back-off (1 s doubling
 * to 60 s, back to 1 s once a run lasted CONNECTOR_STABLE_MS). A child that
 * exits with the host's "fatal" status (bad plugin, wrong ABI, bad config)
 * is not restarted: its state is "failed" with the child's message until the
 * configuration is reloaded. Status shows each connector's state, last
 * error, and the cursor and events the daemon committed for it.
 *
 * A child leads a process group of its own: a stop, a restart or a hang
 * signals the whole group, so whatever its plugin forked goes with it, and
 * the stop is bounded (SIGKILL to the group after CONNECTOR_STOP_GRACE_MS).
 * Only lines the child process itself writes on its status socket count
 * as heartbeats (the kernel names the sender), never its descendants'.
 *
 * Tokens: a connector is handed a token with role write, never admin. With
 * tokens configured but none with role write, connectors are not started
 * (state "failed", the message says why). With no tokens at all the ipc
 * socket's file mode is the only guard and every client of it, connectors
 * included, acts as admin; the daemon warns about that at start.
 *
 * Cursors: a connector's requests carry `connector` and `cursor`; the
 * mutating handlers call cursor_commit_with_batch so the cursor lands in the
 * same store transaction as the batch, and GetCursor (handle_get_cursor,
 * handlers_cursor.c)
 * tells a starting child where to resume.
 *
 * Sinks (`direction: sink`): the child follows ListChanges from the
 * connector's cursor, hands the changes to its plugin and acknowledges
 * each applied batch with SinkAck (handlers_cursor.c), which stores the
 * batch's last sequence as the cursor. Supervision is the same; Status
 * adds the direction, the lag (changes committed after the ack) and the
 * `at` of the first change not yet acknowledged. */
#ifndef TD_CONNECTORS_H
#define TD_CONNECTORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon.h"
#include "rpc.h"
#include "td_yaml.h"
#include "tierd.pb-c.h"
#include "tierd/status.h"

#define CONNECTORS_MAX                    64
#define CONNECTOR_NAME_MAX                64
#define CONNECTOR_DEFAULT_HANG_TIMEOUT_MS 60000
#define CONNECTOR_BACKOFF_MIN_MS          1000
#define CONNECTOR_BACKOFF_MAX_MS          60000
#define CONNECTOR_STABLE_MS               60000 /* a run this long resets the back-off */
#define CONNECTOR_STOP_GRACE_MS           5000  /* SIGTERM, then SIGKILL after this */
#define CONNECTOR_EXE_ENV                 "TIERD_CONNECTOR_BIN"
#define CONNECTOR_EXE_NAME                "tierd-connector"

typedef struct td_connector_conf {
    char *name;              /* unique, [A-Za-z0-9_.-], at most CONNECTOR_NAME_MAX */
    char *plugin;            /* file name inside plugin_dir, ".so" optional */
    char *config_json;       /* the `config:` block as JSON; scalars are strings */
    int64_t hang_timeout_ms; /* no heartbeat for this long -> killed */
    bool sink;               /* `direction: sink`: it receives changes instead of sending */
} td_connector_conf;

typedef struct td_connectors_conf {
    /* From tierd.yaml (connectors_conf_parse). */
    char *plugin_dir;
    td_connector_conf *items;
    size_t n;

    /* Filled by the daemon before connectors_start, not from YAML. */
    const char *rpc_url;       /* where children connect, e.g. ipc://STATE/rpc.sock */
    const char *token;         /* ignored when d->config has tokens: its write token is used */
    const char *connector_exe; /* NULL: $TIERD_CONNECTOR_BIN, else next to tierd */
    /* Supervision timings; 0 takes the defaults above. */
    int64_t backoff_min_ms;
    int64_t backoff_max_ms;
    int64_t stable_ms;
} td_connectors_conf;

/* Reads the `plugin_dir:` and `connectors:` keys of the daemon config's root
 * mapping (y->root, loaded by td_yaml_load) into out (which it zeroes
 * first). Every problem goes through y ("file:line:column: message" to its
 * report and err). Returns 0, or a negative td_code when it found any
 * problem (out is then freed). Unknown keys inside a connector are
 * problems; other root keys are ignored (config.c owns them). */
int connectors_conf_parse(td_yaml *y, td_connectors_conf *out);
void connectors_conf_free(td_connectors_conf *conf);

typedef struct connectors connectors;

/* Spawns every configured connector on d->loop. conf is copied. */
int connectors_start(tierd *d, const td_connectors_conf *conf, connectors **out, td_error *err);

/* Sends SIGTERM to every child, SIGKILL after CONNECTOR_STOP_GRACE_MS, and
 * frees everything once the children are gone and the handles closed (the
 * loop must keep running for that). c is invalid after the call. NULL is
 * fine. */
void connectors_stop(connectors *c);

/* Appends one ConnectorStatus per connector to resp, allocated from the
 * call's arena: events_sent counts the events the daemon accepted and
 * committed for the connector since tierd started, cursor is its committed
 * cursor (both read from the store, not taken from the child). NULL c
 * leaves resp untouched. */
void connectors_status(connectors *c, rpc_call *call, Tierd__StatusResponse *resp);

/* One connector as the metrics show it; the strings live as long as c. */
typedef struct connector_view {
    const char *name;
    const char *state; /* one of connector_state_names */
    uint32_t restarts;
} connector_view;
/* The i-th configured connector (0, 1, ...); false past the last or for
 * NULL c. */
bool connectors_at(const connectors *c, size_t i, connector_view *out);
/* Every state a connector can be in ("running", ...), NULL-terminated. */
extern const char *const connector_state_names[];
/* Whether name is a configured connector with `direction: sink`. NULL c:
 * false. */
bool connectors_is_sink(const connectors *c, const char *name);

#endif
