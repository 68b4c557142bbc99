/* tierd-http's side of tierd's RPC: a pool of nanomsg REQ sockets driven
 * by the libuv loop (uv_poll on each socket's NN_RCVFD), so a request to
 * tierd never blocks the loop. A socket carries one call at a time; the
 * pool grows to its bound and refuses beyond it (the caller answers 503),
 * and at most half of it may hold long-polls. Every call has a deadline:
 * its callback runs exactly once, with tierd's answer, or UNAVAILABLE when
 * tierd did not answer in time, or when the pool closes. */
#ifndef TD_HTTP_UPSTREAM_H
#define TD_HTTP_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>
#include <uv.h>

#include "tierd/status.h"

typedef struct upstream upstream;

/* code: TD_OK with the Reply's payload, or tierd's (or the transport's)
 * code and message; payload is valid during the call only. */
typedef void (*upstream_cb)(void *ud, td_code code, const char *message, const uint8_t *payload,
                            size_t len);

int upstream_open(uv_loop_t *loop, const char *url, const char *token, unsigned max_sockets,
                  unsigned timeout_ms, upstream **out, td_error *err);
/* Sends method(req) (NULL: Empty). extra_ms lengthens the deadline (a
 * long-poll's wait) and marks the call as a long-poll. 0, or -code when it
 * cannot start (every socket busy: RESOURCE_EXHAUSTED; then cb never runs). */
int upstream_call(upstream *u, const char *method, const ProtobufCMessage *req, unsigned extra_ms,
                  upstream_cb cb, void *ud, td_error *err);
/* Ends every call in flight with UNAVAILABLE "tierd-http is stopping". */
void upstream_fail_all(upstream *u);
/* Closes the sockets (after upstream_fail_all); frees once libuv let go. */
void upstream_close(upstream *u);
/* For /metrics: sockets open and busy now, calls that timed out so far. */
void upstream_stats(const upstream *u, unsigned *open, unsigned *busy, uint64_t *timeouts);

#endif
