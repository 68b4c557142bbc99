/* Sending webhook deliveries: libcurl's multi-socket API on the libuv loop
 * (uv_poll per socket, one uv_timer for curl's timeouts), as curl's
 * docs/examples/multi-uv.c does.
 *
 * Per endpoint, deliveries of one partner go out one at a time in seq
 * order: the next starts once the one before succeeded or went dead.
 * Partners are independent, so many go in parallel, at most max_transfers
 * at once over all endpoints. A failure waits base * 2^(attempts-1) ms,
 * capped, with jitter (a random point in the upper half), on the loop's
 * monotonic clock (also under --fake-clock).
 *
 * Bounds, so a slow, redirecting or chatty receiver cannot stall the loop
 * or grow memory: connect and total timeouts, no redirects followed (a 3xx
 * fails), only http and https, and at most WEBHOOK_BODY_CAP bytes of a
 * response body read (the rest ends the transfer; a 2xx still counts).
 *
 * It keeps only ids in memory; the body is fetched (get_body) when a
 * delivery starts. Results go to `done`, whose owner makes them durable. */
#ifndef TD_WEBHOOK_SEND_H
#define TD_WEBHOOK_SEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "webhooks_conf.h"

#define WEBHOOK_BODY_CAP   4096 /* response bytes read at most */
#define WEBHOOK_ERROR_MAX  200  /* bytes of a failure kept in last_error */
#define WEBHOOK_CONNECT_MS 5000 /* connect timeout, under the total one */

typedef struct webhook_send webhook_send;

typedef struct webhook_send_hooks {
    /* The delivery's id (X-Tierd-Delivery) and body, malloc'd; non-zero
     * when it is gone (then it is dropped as done). */
    int (*get_body)(void *ud, size_t endpoint, uint64_t seq, char **body, size_t *len);
    /* The attempt ended: ok (2xx), or failed with `error`; dead when that
     * was the last attempt. Not called for a failure that will be retried. */
    void (*done)(void *ud, size_t endpoint, uint64_t seq, bool ok, bool dead, uint32_t attempts,
                 const char *error);
    void *ud;
} webhook_send_hooks;

/* conf must outlive the sender (endpoints by index). NULL on failure. */
webhook_send *webhook_send_open(uv_loop_t *loop, const td_webhooks_conf *conf,
                                const webhook_send_hooks *hooks);
/* Stops every transfer (they are sent again at the next start) and frees
 * the sender once libuv has closed its handles. NULL is fine. */
void webhook_send_close(webhook_send *s);
/* Queues a delivery behind the partner's earlier ones (in seq order);
 * attempts already failed. 0, or -1 out of memory. */
int webhook_send_add(webhook_send *s, size_t endpoint, uint64_t seq, const char *partner,
                     uint32_t attempts);

typedef struct webhook_send_stats {
    uint64_t queued; /* in memory, in flight included */
    uint64_t in_flight;
    uint64_t sent;      /* attempts started */
    uint64_t delivered; /* 2xx */
    uint64_t failed;    /* attempts that failed */
    uint64_t dead;
} webhook_send_stats;
void webhook_send_get_stats(const webhook_send *s, webhook_send_stats *out);

#endif
