/* The host protocol: how tierd (daemon/connectors.c) starts a
 * tierd-connector child (connector/main.c) and what the child says back.
 * Both sides include this header, so a flag, a status word or an exit
 * status is named once.
 *
 * Start: argv carries the flags below (never secrets: every local user can
 * read argv); the environment carries the connector's config block as
 * JSON in HOST_CONFIG_ENV and its token in TD_CLIENT_TOKEN_ENV
 * (tierd/client.h). The child reports on the descriptor named by
 * --status-fd, one message per write, each a line of tab-separated fields
 * starting with one of the HOST_LINE_ words:
 *   ready <cursor>                      plugin initialised, resuming from cursor
 *   hb                                  alive
 *   sent <events> <partners> <cursor>   a commit went through (a sink: an
 *                                       acknowledged batch, <events> its changes)
 *   error <message>                     why the process is about to exit
 * and ends with one of the HOST_EXIT_ statuses. The daemon restarts a child
 * that exits with anything but HOST_EXIT_FATAL.
 *
 * Owns names and sizes only; it does not say what either side does with
 * them (connector/main.c and daemon/connectors.c do). */
#ifndef TD_HOST_PROTOCOL_H
#define TD_HOST_PROTOCOL_H

#include "tierd/plugin.h"
#include "tierd/status.h"

/* Exit statuses of tierd-connector. */
#define HOST_EXIT_STOPPED 0  /* a requested stop */
#define HOST_EXIT_RETRY   1  /* a failure worth retrying */
#define HOST_EXIT_USAGE   2  /* a bad command line */
#define HOST_EXIT_FATAL   78 /* EX_CONFIG: retrying cannot help (bad plugin, ABI, config) */

/* Long options (getopt_long names; argv spells them "--" NAME). */
#define HOST_OPT_NAME       "name"
#define HOST_OPT_PLUGIN_DIR "plugin-dir"
#define HOST_OPT_PLUGIN     "plugin"
#define HOST_OPT_URL        "url"
#define HOST_OPT_STATUS_FD  "status-fd"
#define HOST_OPT_TIMEOUT_MS "timeout-ms"
#define HOST_OPT_DIRECTION  "direction" /* HOST_DIRECTION_SOURCE (default) or _SINK */

/* A connector's direction: the `direction:` key in tierd.yaml, the
 * --direction flag and ConnectorStatus.direction spell it the same. */
#define HOST_DIRECTION_SOURCE "source"
#define HOST_DIRECTION_SINK   "sink"

/* The descriptor the daemon hands a child for its status lines. */
#define HOST_STATUS_FD 3
/* The largest --timeout-ms, and the child's default without one. */
#define HOST_TIMEOUT_MS_MAX     (24 * 60 * 60 * 1000)
#define HOST_TIMEOUT_MS_DEFAULT 30000

#define HOST_CONFIG_ENV "TIERD_CONNECTOR_CONFIG"

/* Status lines: the first field, the separator, and the longest line. */
#define HOST_LINE_READY     "ready"
#define HOST_LINE_HEARTBEAT "hb"
#define HOST_LINE_SENT      "sent"
#define HOST_LINE_ERROR     "error"
#define HOST_LINE_SEP       "\t"
#define HOST_LINE_MAX       (TIERD_PLUGIN_CURSOR_MAX + TD_ERROR_MAX + 64)

#endif
