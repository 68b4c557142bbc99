/* The webhook keys of tierd.yaml (docs/webhooks.md): `webhooks:` (a list of
 * endpoints), `at_risk_lead:`, and the delivery tuning keys
 * `webhook_retry_base_ms:`, `webhook_retry_max_ms:`, `webhook_max_transfers:`
 * and `webhook_at_risk_check:`. It owns their rules (http or https URLs
 * only, secrets of at least 16 bytes, known kinds and directions, unique
 * names); config.c hands it each key and it words any problem as
 * "file:line:column: what". */
#ifndef TD_WEBHOOKS_CONF_H
#define TD_WEBHOOKS_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "td_yaml.h"

#define WEBHOOK_NAME_MAX          64
#define WEBHOOK_URL_MAX           2048
#define WEBHOOK_SECRET_MIN        16 /* shorter HMAC keys are guessable */
#define WEBHOOK_SECRET_MAX        512
#define WEBHOOK_ENDPOINTS_MAX     32
#define WEBHOOK_LADDERS_MAX       64
#define WEBHOOK_DEFAULT_TIMEOUT_S 10
#define WEBHOOK_MAX_TIMEOUT_S     300
#define WEBHOOK_DEFAULT_ATTEMPTS  8
#define WEBHOOK_MAX_ATTEMPTS      100
#define WEBHOOK_DEFAULT_LEAD_S    (30 * 86400)
#define WEBHOOK_DEFAULT_BASE_MS   1000
#define WEBHOOK_DEFAULT_CAP_MS    600000 /* 10 minutes */
#define WEBHOOK_DEFAULT_TRANSFERS 64
#define WEBHOOK_MAX_TRANSFERS     1024
#define WEBHOOK_DEFAULT_CHECK_S   3600 /* real clock: at-risk sweep interval */

/* Notice kinds, as bits of an endpoint's `kinds`. */
enum {
    WEBHOOK_KIND_TIER_CHANGE = 1u << 0,
    WEBHOOK_KIND_APPROVAL_WAITING = 1u << 1,
    WEBHOOK_KIND_AT_RISK = 1u << 2,
    WEBHOOK_KIND_RECOVERED = 1u << 3,
    WEBHOOK_KIND_ALL = 0xfu,
};
/* Directions, as bits of an endpoint's `directions`. */
enum {
    WEBHOOK_DIR_UP = 1u << 0,
    WEBHOOK_DIR_DOWN = 1u << 1,
    WEBHOOK_DIR_BOTH = 3u,
};

typedef struct td_webhook_endpoint {
    char *name; /* [A-Za-z0-9_.-], unique */
    char *url;  /* http:// or https:// */
    char *secret;
    unsigned kinds; /* WEBHOOK_KIND_* bits */
    char **ladders; /* NULL/0: every ladder */
    size_t n_ladders;
    unsigned directions; /* WEBHOOK_DIR_* bits */
    int64_t timeout_s;   /* whole request, connect included */
    uint32_t max_attempts;
} td_webhook_endpoint;

typedef struct td_webhooks_conf {
    td_webhook_endpoint *endpoints;
    size_t n;
    int64_t at_risk_lead_s;
    uint64_t retry_base_ms, retry_max_ms;
    uint32_t max_transfers;
    int64_t at_risk_check_s;
} td_webhooks_conf;

void webhooks_conf_defaults(td_webhooks_conf *c);
/* Whether key is one of ours. */
bool webhooks_conf_owns(const char *key);
/* Reads key's value v into c; 0, or -TD_INVALID_ARGUMENT after a problem. */
int webhooks_conf_key(td_yaml *y, const char *key, yaml_node_t *v, td_webhooks_conf *c);
void webhooks_conf_free(td_webhooks_conf *c);
/* Kind names ("tier_change", ...) and their bits. */
const char *webhooks_kind_name(unsigned kind_bit);
/* Whether endpoint e takes a notice of this kind on ladder with direction
 * dir (WEBHOOK_DIR_* bits; both for a move that is neither). */
bool webhooks_endpoint_wants(const td_webhook_endpoint *e, unsigned kind, const char *ladder,
                             unsigned dir);

#endif
