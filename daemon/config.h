/* tierd.yaml: the daemon's own settings (docs/tierd.md, examples/tierd.yaml).
 *
 * Keys: state_dir, listen [URL], publish [URL], publish_public, allow_remote, tokens
 * [{name, token, role}], program, log_level, max_request_bytes, watchdog,
 * plugin_dir and connectors (parsed by connectors_conf_parse), webhooks,
 * at_risk_lead and webhook_* (webhooks_conf_key). An unknown
 * key, a wrong type or a bad value is refused with "file:line:column:
 * message"; a config is applied whole or not at all. */
#ifndef TD_CONFIG_H
#define TD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "connectors.h"
#include "log.h"
#include "rpc.h"
#include "tierd/status.h"
#include "webhooks_conf.h"

#define TD_MAX_REQUEST_BYTES (16u * 1024u * 1024u)
#define TD_MIN_REQUEST_BYTES 1024u
#define TD_MAX_ENDPOINTS     16
#define TD_MAX_TOKENS        64
#define TD_MAX_TOKEN_NAME    64
#define TD_MIN_TOKEN_BYTES   16 /* shorter secrets are guessable */
#define TD_MAX_TOKEN_BYTES   256
#define TD_MAX_URL           512
#define TD_MAX_CONFIG_BYTES  (1u << 20)
#define TD_DEFAULT_RPC_TCP   "tcp://127.0.0.1:7450"
#define TD_DEFAULT_PUB_TCP   "tcp://127.0.0.1:7451"
#define TD_STATE_DIR_ENV     "STATE_DIRECTORY"
#define PATH_MAX_CONFIG      4096 /* state_dir, program: a path */

typedef struct td_config {
    char *state_dir; /* NULL: not set in the file */
    char **listen;
    size_t n_listen;
    char **publish;
    size_t n_publish;
    bool allow_remote;
    bool publish_public; /* tcp publish URLs may open: the feed needs no token */
    rpc_token *tokens;
    size_t n_tokens;
    char *program; /* NULL: none */
    td_log_level log_level;
    bool log_level_set;
    td_log_format log_format; /* text (default) or json */
    size_t max_request_bytes;
    bool watchdog; /* send WATCHDOG=1 when systemd asks for it */
    td_connectors_conf connectors;
    td_webhooks_conf webhooks;
} td_config;

/* A config with every default and no file. */
td_config *config_new_default(void);
/* Reads and checks path. On failure *out stays NULL and err says
 * "path:line:column: what" (TD_INVALID_ARGUMENT, or TD_NOT_FOUND when the
 * file cannot be read). */
int config_load(const char *path, td_config **out, td_error *err);
void config_free(td_config *c);

/* Whether url is acceptable to bind: ipc:// anywhere, tcp:// on a numeric
 * address, an interface name or "*" (nanomsg resolves no host names;
 * "localhost" is refused naming 127.0.0.1), and only on a loopback address
 * unless allow_remote. */
int config_check_endpoint(const char *url, bool allow_remote, td_error *err);

typedef enum td_endpoint_kind {
    TD_ENDPOINT_LISTEN,  /* RPC (REQ/REP): requests carry tokens */
    TD_ENDPOINT_PUBLISH, /* changes (PUB): a subscriber cannot present a token */
} td_endpoint_kind;

/* Whether c allows opening url as kind: config_check_endpoint, plus a tcp
 * RPC endpoint only with tokens and a tcp feed only with publish_public.
 * The start, the flags and a reload all decide by this one function. */
int config_check_endpoint_use(const td_config *c, td_endpoint_kind kind, const char *url,
                              td_error *err);

#endif
