/* tierd-http's HTTP side: libmicrohttpd in external-epoll mode on the
 * libuv loop (a uv_poll on MHD's epoll fd, a uv_timer for MHD's timeout),
 * and the frame every request goes through: route lookup, 404/405, bearer
 * auth and roles, the per-token rate limit, the body limit, then the
 * route's handler. A handler that calls tierd suspends its connection
 * until the answer comes (http_call), so the loop never waits.
 *
 * Every error is a JSON body {"error":{"code","status","message"}} with
 * the HTTP status mapped from the gRPC-style code (http_status_of). */
#ifndef TD_HTTP_SERVER_H
#define TD_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <uv.h>

#include "http_config.h"
#include "tierd/status.h"
#include "upstream.h"

typedef struct http_server http_server;
typedef struct http_req http_req;

typedef void (*route_fn)(http_req *r);

/* One route of the table (routes.c). */
typedef struct http_route {
    const char *method;  /* "GET", "POST", "PUT" */
    const char *pattern; /* "/v1/partners/{id}/explain": {id} is one path segment */
    http_role min_role;  /* HTTP_ROLE_READ, WRITE or ADMIN */
    bool partner_ok;     /* a partner token may call it ({id} must be its partner) */
    bool body;           /* takes a request body */
    route_fn fn;
} http_route;

/* What a handler sees of its request. */
struct http_req {
    http_server *srv;
    const http_route *route;
    const char *method;
    char *path;
    char *id; /* the {id} segment, when the pattern has one */
    char *token_name;
    http_role role;
    char *partner; /* role partner: its partner id */
    char *body;
    size_t body_len;
    void *ctx; /* the handler's state across a call to tierd, freed with ctx_free */
    void (*ctx_free)(void *ctx);
    /* private to server.c */
    struct MHD_Connection *conn;
    struct conn_info *ci;
    struct MHD_Response *pending;
    unsigned pending_status;
    unsigned status;
    double started;
    bool dispatched, suspended, early, too_large;
    const char *label;
};

int http_server_start(uv_loop_t *loop, http_config *cfg, upstream *up, const http_route *routes,
                      size_t n_routes, const char *static_dir, http_server **out, td_error *err);
/* The port it listens on (after binding port 0, the one the kernel chose). */
unsigned http_server_port(const http_server *s);
/* SIGHUP: takes the tokens (and nothing else) of cfg; the server keeps
 * using the config it started with for everything else. */
void http_server_reload_tokens(http_server *s, http_config *fresh);
/* Stops accepting, answers what waits on tierd with 503, closes. */
void http_server_stop(http_server *s);

/* The query argument name, or NULL. */
const char *http_arg(http_req *r, const char *name);
/* Every value of a repeated query argument, in order; returns the count
 * (at most max). */
size_t http_args(http_req *r, const char *name, const char **out, size_t max);
/* Replies with doc (taken) as JSON and the given HTTP status. */
void http_reply_json(http_req *r, unsigned status, json_t *doc);
/* Replies with the JSON error body; http_status 0 maps code. */
void http_reply_error(http_req *r, td_code code, unsigned http_status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void http_reply_text(http_req *r, unsigned status, const char *content_type, const char *text,
                     size_t len);
/* Calls method(req) on tierd with the connection suspended; on OK decodes
 * the payload with resp (NULL: Empty) and calls done(r, msg) (msg freed
 * after it returns); otherwise replies with tierd's error. extra_ms: a
 * long-poll's wait. */
typedef void (*http_done_fn)(http_req *r, const ProtobufCMessage *msg);
void http_call(http_req *r, const char *method, const ProtobufCMessage *req,
               const ProtobufCMessageDescriptor *resp, unsigned extra_ms, http_done_fn done);
/* The same with the raw payload (for /metrics). */
typedef void (*http_raw_fn)(http_req *r, td_code code, const char *message, const uint8_t *payload,
                            size_t len);
void http_call_raw(http_req *r, const char *method, const ProtobufCMessage *req, http_raw_fn done);

/* HTTP status for a gRPC-style code (404 for NOT_FOUND, 503 UNAVAILABLE...). */
unsigned http_status_of(td_code code);
/* tierd-http's own metrics in Prometheus text format (malloc'd). */
char *http_server_metrics(const http_server *s);
/* Whether the listener is on loopback (metrics_open needs it). */
bool http_server_loopback(const http_server *s);
const http_config *http_server_config(const http_server *s);

#endif
