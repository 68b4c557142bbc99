/* libmicrohttpd on the libuv loop and the request frame (server.h). Owns
 * connections, their deadlines, auth, rate limits, body limits, error
 * bodies, static files and tierd-http's own request metrics; the routes'
 * meaning lives in routes.c. */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "static_files.h"
#include "td_json.h"
#include "tierd.pb-c.h"

#define SWEEP_MS         250
#define MS_PER_S         1000.0
#define ALLOW_MAX        64
#define MAX_SERIES       512
#define N_BUCKETS        12
#define METRIC_LABEL_MAX 96
#define BEARER           "Bearer "
#define JSON_TYPE        "application/json; charset=utf-8"
#define CSP              "default-src 'self'; frame-ancestors 'none'; base-uri 'none'"
#define MAX_ARG_LABEL    64
#define RETRY_AFTER_MAX  3600

static const double bucket_le[N_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                            0.1,   0.25,   0.5,   1,    2.5,   10};

/* One TCP connection: when its current request began (for the whole-request
 * deadline that catches slow clients MHD's idle timeout cannot see). */
typedef struct conn_info {
    struct conn_info *prev, *next;
    int fd;
    double mark;   /* opened, or the last response sent */
    bool handling; /* a request is with its handler (or with tierd) */
} conn_info;

typedef struct bucket {
    double tokens, at;
} bucket;

typedef struct series {
    char label[METRIC_LABEL_MAX];
    unsigned code;
    uint64_t count;
} series;

typedef struct latency {
    char label[METRIC_LABEL_MAX];
    uint64_t buckets[N_BUCKETS];
    uint64_t count;
    double sum;
} latency;

struct http_server {
    uv_loop_t *loop;
    http_config *cfg;
    upstream *up;
    const http_route *routes;
    size_t n_routes;
    char *static_dir;
    struct MHD_Daemon *mhd;
    uv_poll_t poll;
    uv_timer_t timer, sweep;
    conn_info conns; /* list head */
    unsigned port;
    bool loopback, stopping;
    int closing;     /* handles not yet closed */
    bucket *buckets; /* one per cfg->tokens */
    series series[MAX_SERIES];
    size_t n_series;
    latency lat[MAX_SERIES];
    size_t n_lat;
    uint64_t dropped_slow, rate_limited;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- status mapping and replies ------------------------------------------------ */

unsigned http_status_of(td_code code)
{
    switch (code) {
    case TD_OK:
        return MHD_HTTP_OK;
    case TD_CANCELLED:
        return 499;
    case TD_INVALID_ARGUMENT:
    case TD_FAILED_PRECONDITION:
    case TD_OUT_OF_RANGE:
        return MHD_HTTP_BAD_REQUEST;
    case TD_DEADLINE_EXCEEDED:
        return MHD_HTTP_GATEWAY_TIMEOUT;
    case TD_NOT_FOUND:
        return MHD_HTTP_NOT_FOUND;
    case TD_ALREADY_EXISTS:
    case TD_ABORTED:
        return MHD_HTTP_CONFLICT;
    case TD_PERMISSION_DENIED:
        return MHD_HTTP_FORBIDDEN;
    case TD_UNAUTHENTICATED:
        return MHD_HTTP_UNAUTHORIZED;
    case TD_RESOURCE_EXHAUSTED:
        return MHD_HTTP_TOO_MANY_REQUESTS;
    case TD_UNIMPLEMENTED:
        return MHD_HTTP_NOT_IMPLEMENTED;
    case TD_UNAVAILABLE:
        return MHD_HTTP_SERVICE_UNAVAILABLE;
    default:
        return MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
}

static void add_security_headers(struct MHD_Response *resp, bool api)
{
    MHD_add_response_header(resp, "Content-Security-Policy", CSP);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    if (api)
        MHD_add_response_header(resp, "Cache-Control", "no-store");
}

static void kick(http_server *s);
static void run_mhd(http_server *s);

/* Queues now, or after resuming when the connection waits suspended. */
static void respond(http_req *r, unsigned status, struct MHD_Response *resp)
{
    if (!resp) {
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
    r->status = status;
    if (r->suspended) {
        r->pending = resp;
        r->pending_status = status;
        r->suspended = false;
        MHD_resume_connection(r->conn);
        /* at once rather than on the next loop turn: tierd's answers come
         * from a uv_poll callback, never from inside MHD_run */
        run_mhd(r->srv);
        return;
    }
    MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
}

static struct MHD_Response *buffer_response(const char *text, size_t len, const char *type,
                                            bool api)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return NULL;
    MHD_add_response_header(resp, "Content-Type", type);
    add_security_headers(resp, api);
    return resp;
}

void http_reply_text(http_req *r, unsigned status, const char *content_type, const char *text,
                     size_t len)
{
    respond(r, status, buffer_response(text, len, content_type, true));
}

void http_reply_json(http_req *r, unsigned status, json_t *doc)
{
    char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(doc);
    if (!text) {
        http_reply_error(r, TD_RESOURCE_EXHAUSTED, 0, "out of memory building the answer");
        return;
    }
    size_t len = strlen(text);
    text[len] = '\n'; /* json_dumps' terminator becomes the final newline */
    respond(r, status, buffer_response(text, len + 1, JSON_TYPE, true));
    free(text);
}

static struct MHD_Response *error_response(td_code code, const char *message)
{
    json_t *doc = json_pack("{s:{s:s, s:i, s:o}}", "error", "code", td_code_name(code), "status",
                            (int)code, "message", td_json_str(message));
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!text)
        return NULL;
    size_t len = strlen(text);
    text[len] = '\n';
    struct MHD_Response *resp = buffer_response(text, len + 1, JSON_TYPE, true);
    free(text);
    return resp;
}

static void reply_error_v(http_req *r, td_code code, unsigned http_status, const char *fmt,
                          va_list ap)
{
    char msg[TD_ERROR_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    struct MHD_Response *resp = error_response(code, msg);
    unsigned status = http_status ? http_status : http_status_of(code);
    if (resp && status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(resp, "WWW-Authenticate", "Bearer realm=\"tierd\"");
    respond(r, status, resp);
}

void http_reply_error(http_req *r, td_code code, unsigned http_status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    reply_error_v(r, code, http_status, fmt, ap);
    va_end(ap);
}

/* ---- calls to tierd ------------------------------------------------------------ */

typedef struct call_ctx {
    http_req *r;
    const ProtobufCMessageDescriptor *resp;
    http_done_fn done;
    http_raw_fn raw;
} call_ctx;

static void on_upstream(void *ud, td_code code, const char *message, const uint8_t *payload,
                        size_t len)
{
    call_ctx *c = ud;
    http_req *r = c->r;
    if (c->raw) {
        c->raw(r, code, message, payload, len);
    } else if (code != TD_OK) {
        http_reply_error(r, code, 0, "%s", message && *message ? message : td_code_name(code));
    } else {
        const ProtobufCMessageDescriptor *d = c->resp ? c->resp : &tierd__empty__descriptor;
        ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, len, payload);
        if (!m)
            http_reply_error(r, TD_INTERNAL, 0, "tierd sent a malformed %s", d->short_name);
        else
            c->done(r, m);
        if (m)
            protobuf_c_message_free_unpacked(m, NULL);
    }
    free(c);
}

static void start_call(http_req *r, const char *method, const ProtobufCMessage *req,
                       unsigned extra_ms, call_ctx *c)
{
    td_error err = {0};
    if (!c) {
        http_reply_error(r, TD_RESOURCE_EXHAUSTED, 0, "out of memory");
        return;
    }
    c->r = r;
    /* suspended before the call: its answer may only come on a later loop turn */
    if (upstream_call(r->srv->up, method, req, extra_ms, on_upstream, c, &err) != 0) {
        http_raw_fn raw = c->raw;
        free(c);
        if (raw) {
            raw(r, err.code, err.message, NULL, 0);
            return;
        }
        /* a full pool is tierd-http's limit, not the caller's: 503 */
        unsigned status = err.code == TD_RESOURCE_EXHAUSTED ? MHD_HTTP_SERVICE_UNAVAILABLE : 0;
        http_reply_error(r, err.code, status, "%s", err.message);
        return;
    }
    /* a done callback may call tierd again (the connection is still
     * suspended then) */
    if (!r->suspended) {
        MHD_suspend_connection(r->conn);
        r->suspended = true;
    }
}

void http_call(http_req *r, const char *method, const ProtobufCMessage *req,
               const ProtobufCMessageDescriptor *resp, unsigned extra_ms, http_done_fn done)
{
    call_ctx *c = calloc(1, sizeof *c);
    if (c) {
        c->resp = resp;
        c->done = done;
    }
    start_call(r, method, req, extra_ms, c);
}

void http_call_raw(http_req *r, const char *method, const ProtobufCMessage *req, http_raw_fn done)
{
    call_ctx *c = calloc(1, sizeof *c);
    if (c)
        c->raw = done;
    start_call(r, method, req, 0, c);
}

/* ---- query arguments ---------------------------------------------------------------- */

const char *http_arg(http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

typedef struct args_ctx {
    const char *name;
    const char **out;
    size_t n, max;
} args_ctx;

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    args_ctx *a = cls;
    if (strcmp(key, a->name) == 0 && value && a->n < a->max)
        a->out[a->n++] = value;
    return MHD_YES;
}

size_t http_args(http_req *r, const char *name, const char **out, size_t max)
{
    args_ctx a = {.name = name, .out = out, .max = max};
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, collect_arg, &a);
    return a.n;
}

/* ---- auth and rate ------------------------------------------------------------------ */

/* Compares every byte of both (up to the longer) so the time taken says
 * nothing about how much of a secret matched. */
static bool same_secret(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), n = la > lb ? la : lb;
    unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < n; i++) {
        unsigned char x = i < la ? (unsigned char)a[i] : 0;
        unsigned char y = i < lb ? (unsigned char)b[i] : 0;
        diff |= x ^ y;
    }
    return diff == 0;
}

/* The token presented, checked against every configured one; -1 if none. */
static long find_token(const http_server *s, const char *presented)
{
    long found = -1;
    for (size_t i = 0; i < s->cfg->n_tokens; i++)
        if (same_secret(s->cfg->tokens[i].secret, presented) && found < 0)
            found = (long)i;
    return found;
}

/* Token bucket per token: rate per second, burst deep. Returns 0 or the
 * seconds until a request would be taken. */
static unsigned take_token(http_server *s, size_t i)
{
    bucket *b = &s->buckets[i];
    double now = now_s(), rate = s->cfg->rate_per_second, burst = s->cfg->burst;
    b->tokens += (now - b->at) * rate;
    if (b->tokens > burst)
        b->tokens = burst;
    b->at = now;
    if (b->tokens >= 1) {
        b->tokens -= 1;
        return 0;
    }
    double wait = (1 - b->tokens) / rate;
    unsigned secs = (unsigned)wait + 1;
    return secs > RETRY_AFTER_MAX ? RETRY_AFTER_MAX : secs;
}

static void reset_buckets(http_server *s)
{
    free(s->buckets);
    s->buckets = calloc(s->cfg->n_tokens ? s->cfg->n_tokens : 1, sizeof *s->buckets);
    if (!s->buckets)
        abort();
    double now = now_s();
    for (size_t i = 0; i < s->cfg->n_tokens; i++)
        s->buckets[i] = (bucket){.tokens = s->cfg->burst, .at = now};
}

/* ---- metrics ---------------------------------------------------------------------- */

static void count_request(http_server *s, const char *label, unsigned code, double secs)
{
    size_t i;
    for (i = 0; i < s->n_series; i++)
        if (s->series[i].code == code && strcmp(s->series[i].label, label) == 0)
            break;
    if (i == s->n_series && s->n_series < MAX_SERIES) {
        snprintf(s->series[i].label, METRIC_LABEL_MAX, "%s", label);
        s->series[i].code = code;
        s->n_series++;
    }
    if (i < s->n_series)
        s->series[i].count++;
    for (i = 0; i < s->n_lat; i++)
        if (strcmp(s->lat[i].label, label) == 0)
            break;
    if (i == s->n_lat && s->n_lat < MAX_SERIES) {
        snprintf(s->lat[i].label, METRIC_LABEL_MAX, "%s", label);
        s->n_lat++;
    }
    if (i < s->n_lat) {
        latency *l = &s->lat[i];
        for (size_t b = 0; b < N_BUCKETS; b++)
            if (secs <= bucket_le[b])
                l->buckets[b]++;
        l->count++;
        l->sum += secs;
    }
}

typedef struct strbuf {
    char *p;
    size_t len, cap;
    bool oom;
} strbuf;

static void sb_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(strbuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->len;
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? room : 0, fmt, ap);
        va_end(ap);
        if (n < 0 || b->oom)
            return;
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap ? b->cap * 2 : 4096) + (size_t)n;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

char *http_server_metrics(const http_server *s)
{
    strbuf b = {0};
    sb_printf(&b, "# HELP tierd_http_requests_total HTTP requests answered by tierd-http, by "
                  "route and status code.\n# TYPE tierd_http_requests_total counter\n");
    for (size_t i = 0; i < s->n_series; i++)
        sb_printf(&b, "tierd_http_requests_total{route=\"%s\",code=\"%u\"} %llu\n",
                  s->series[i].label, s->series[i].code, (unsigned long long)s->series[i].count);
    sb_printf(&b, "# HELP tierd_http_request_duration_seconds Time from a request's headers to "
                  "its answer, by route.\n# TYPE tierd_http_request_duration_seconds histogram\n");
    for (size_t i = 0; i < s->n_lat; i++) {
        const latency *l = &s->lat[i];
        for (size_t k = 0; k < N_BUCKETS; k++)
            sb_printf(&b,
                      "tierd_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                      l->label, bucket_le[k], (unsigned long long)l->buckets[k]);
        sb_printf(&b, "tierd_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
                  l->label, (unsigned long long)l->count);
        sb_printf(&b, "tierd_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n", l->label,
                  l->sum);
        sb_printf(&b, "tierd_http_request_duration_seconds_count{route=\"%s\"} %llu\n", l->label,
                  (unsigned long long)l->count);
    }
    unsigned open = 0, busy = 0;
    uint64_t timeouts = 0;
    upstream_stats(s->up, &open, &busy, &timeouts);
    sb_printf(&b,
              "# HELP tierd_http_upstream_sockets REQ sockets tierd-http holds to tierd.\n"
              "# TYPE tierd_http_upstream_sockets gauge\ntierd_http_upstream_sockets %u\n"
              "# HELP tierd_http_upstream_busy REQ sockets with a call to tierd in flight.\n"
              "# TYPE tierd_http_upstream_busy gauge\ntierd_http_upstream_busy %u\n"
              "# HELP tierd_http_upstream_timeouts_total Calls tierd did not answer in time.\n"
              "# TYPE tierd_http_upstream_timeouts_total counter\n"
              "tierd_http_upstream_timeouts_total %llu\n"
              "# HELP tierd_http_slow_clients_dropped_total Connections closed because a "
              "request did not arrive whole within request_timeout.\n"
              "# TYPE tierd_http_slow_clients_dropped_total counter\n"
              "tierd_http_slow_clients_dropped_total %llu\n"
              "# HELP tierd_http_rate_limited_total Requests refused with 429.\n"
              "# TYPE tierd_http_rate_limited_total counter\n"
              "tierd_http_rate_limited_total %llu\n",
              open, busy, (unsigned long long)timeouts, (unsigned long long)s->dropped_slow,
              (unsigned long long)s->rate_limited);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p ? b.p : calloc(1, 1);
}

/* ---- routing ---------------------------------------------------------------------- */

/* path matches pattern segment by segment; {id} takes one non-empty
 * segment (copied into *id). */
static bool match(const char *pattern, const char *path, char **id)
{
    const char *p = pattern, *q = path;
    while (*p && *q) {
        if (strncmp(p, "{id}", 4) == 0) {
            size_t n = strcspn(q, "/");
            if (n == 0)
                return false;
            if (id) {
                free(*id);
                *id = strndup(q, n);
            }
            p += 4;
            q += n;
            continue;
        }
        if (*p != *q)
            return false;
        p++;
        q++;
    }
    return !*p && !*q;
}

static bool is_api(const char *path)
{
    return strncmp(path, "/v1/", 4) == 0 || strcmp(path, "/v1") == 0 ||
           strcmp(path, "/metrics") == 0;
}

/* The route for method and path; with none for the method, *allow lists
 * the methods the path has (empty: no such path). */
static const http_route *find_route(http_server *s, const char *method, const char *path, char **id,
                                    char *allow, size_t allow_n)
{
    allow[0] = 0;
    for (size_t i = 0; i < s->n_routes; i++) {
        const http_route *rt = &s->routes[i];
        if (!match(rt->pattern, path, NULL))
            continue;
        if (strcmp(rt->method, method) == 0 ||
            (strcmp(method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0)) {
            match(rt->pattern, path, id);
            return rt;
        }
        if (!strstr(allow, rt->method)) {
            size_t used = strlen(allow);
            snprintf(allow + used, allow_n - used, "%s%s", used ? ", " : "", rt->method);
        }
    }
    return NULL;
}

/* Auth and role for the matched route: true when the handler may run;
 * otherwise the error is queued. */
static bool authorize(http_req *r, struct MHD_Connection *conn)
{
    http_server *s = r->srv;
    const http_route *rt = r->route;
    bool metrics = strcmp(rt->pattern, "/metrics") == 0;
    if (metrics && s->cfg->metrics_open && s->loopback) {
        r->role = HTTP_ROLE_READ;
        return true;
    }
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    if (!h || strncasecmp(h, BEARER, strlen(BEARER)) != 0) {
        http_reply_error(r, TD_UNAUTHENTICATED, 0, "%s needs an Authorization: Bearer TOKEN header",
                         r->path);
        return false;
    }
    long i = find_token(s, h + strlen(BEARER));
    if (i < 0) {
        http_reply_error(r, TD_UNAUTHENTICATED, 0, "unknown token");
        return false;
    }
    const http_token *t = &s->cfg->tokens[i];
    r->token_name = strdup(t->name);
    r->role = t->role;
    r->partner = t->partner ? strdup(t->partner) : NULL;
    unsigned wait = take_token(s, (size_t)i);
    if (wait) {
        s->rate_limited++;
        char secs[16];
        snprintf(secs, sizeof secs, "%u", wait);
        char msg[TD_ERROR_MAX];
        snprintf(msg, sizeof msg,
                 "token '%s' is over its rate of %g requests per second (burst %u); retry in %u s",
                 t->name, s->cfg->rate_per_second, s->cfg->burst, wait);
        struct MHD_Response *resp = error_response(TD_RESOURCE_EXHAUSTED, msg);
        if (resp)
            MHD_add_response_header(resp, "Retry-After", secs);
        respond(r, MHD_HTTP_TOO_MANY_REQUESTS, resp);
        return false;
    }
    if (r->role == HTTP_ROLE_PARTNER) {
        if (!rt->partner_ok) {
            http_reply_error(r, TD_PERMISSION_DENIED, 0,
                             "a partner token may read only its own partner's routes");
            return false;
        }
        /* another partner's id answers as if it did not exist */
        if (r->id && strcmp(r->id, r->partner) != 0) {
            http_reply_error(r, TD_NOT_FOUND, 0, "no partner '%.200s'", r->id);
            return false;
        }
        return true;
    }
    if (r->role < rt->min_role) {
        http_reply_error(r, TD_PERMISSION_DENIED, 0, "%s %s needs the %s role; token '%s' is %s",
                         rt->method, rt->pattern, http_role_name(rt->min_role), t->name,
                         http_role_name(t->role));
        return false;
    }
    return true;
}

/* ---- the access handler ---------------------------------------------------------- */

static void serve_static(http_req *r)
{
    unsigned status = 0;
    char why[TD_ERROR_MAX];
    struct MHD_Response *resp =
        static_file_response(r->srv->static_dir, r->path, &status, why, sizeof why);
    if (!resp) {
        http_reply_error(r, status == MHD_HTTP_NOT_FOUND ? TD_NOT_FOUND : TD_INTERNAL, status, "%s",
                         why);
        return;
    }
    add_security_headers(resp, false);
    respond(r, MHD_HTTP_OK, resp);
}

/* First call for a request: everything decided before its body arrives.
 * true when the body (if any) should be read and the handler run. */
static bool begin(http_req *r, struct MHD_Connection *conn)
{
    http_server *s = r->srv;
    char allow[ALLOW_MAX];
    r->route = find_route(s, r->method, r->path, &r->id, allow, sizeof allow);
    if (!r->route) {
        if (allow[0]) {
            r->label = "method_not_allowed";
            char msg[TD_ERROR_MAX];
            snprintf(msg, sizeof msg, "%s does not take %s; it takes %s", r->path, r->method,
                     allow);
            struct MHD_Response *resp = error_response(TD_UNIMPLEMENTED, msg);
            if (resp)
                MHD_add_response_header(resp, "Allow", allow);
            respond(r, MHD_HTTP_METHOD_NOT_ALLOWED, resp);
            return false;
        }
        if (is_api(r->path)) {
            r->label = "unknown";
            http_reply_error(r, TD_NOT_FOUND, 0, "no route %s %s (see docs/openapi.yaml)",
                             r->method, r->path);
            return false;
        }
        r->label = "static";
        if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
            struct MHD_Response *resp =
                error_response(TD_UNIMPLEMENTED, "pages take GET and HEAD only");
            if (resp)
                MHD_add_response_header(resp, "Allow", "GET, HEAD");
            respond(r, MHD_HTTP_METHOD_NOT_ALLOWED, resp);
            return false;
        }
        serve_static(r);
        return false;
    }
    r->label = r->route->pattern;
    if (!authorize(r, conn))
        return false;
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    if (cl) {
        char *end = NULL;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno || *end || n > s->cfg->max_body_bytes) {
            http_reply_error(r, TD_RESOURCE_EXHAUSTED, MHD_HTTP_CONTENT_TOO_LARGE,
                             "the body of %s bytes exceeds max_body_bytes %zu", cl,
                             s->cfg->max_body_bytes);
            return false;
        }
    }
    return true;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    http_server *s = cls;
    http_req *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        *con_cls = r;
        r->srv = s;
        r->conn = conn;
        r->method = method;
        r->path = strdup(url);
        r->started = now_s();
        r->label = "unknown";
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        r->ci = ci ? ci->socket_context : NULL;
        if (!r->path)
            return MHD_NO;
        if (!begin(r, conn))
            r->early = true;
        return MHD_YES;
    }
    if (r->pending) {
        /* resumed after tierd answered */
        enum MHD_Result ok = MHD_queue_response(conn, r->pending_status, r->pending);
        MHD_destroy_response(r->pending);
        r->pending = NULL;
        return ok;
    }
    if (r->early || r->dispatched) {
        *upload_size = 0; /* an answer is queued: the rest of the body is dropped */
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        /* MHD takes no answer in the middle of a body: the rest is dropped
         * as it comes (request_timeout bounds how long) and the 413 goes
         * out at its end */
        if (r->too_large || r->body_len + n > s->cfg->max_body_bytes) {
            r->too_large = true;
            *upload_size = 0;
            return MHD_YES;
        }
        char *b = realloc(r->body, r->body_len + n + 1);
        if (!b)
            return MHD_NO;
        memcpy(b + r->body_len, upload, n);
        r->body = b;
        r->body_len += n;
        r->body[r->body_len] = 0;
        *upload_size = 0;
        return MHD_YES;
    }
    r->dispatched = true;
    if (r->ci)
        r->ci->handling = true;
    if (r->too_large) {
        http_reply_error(r, TD_RESOURCE_EXHAUSTED, MHD_HTTP_CONTENT_TOO_LARGE,
                         "the body exceeds max_body_bytes %zu", s->cfg->max_body_bytes);
        return MHD_YES;
    }
    if (!r->route->body && r->body_len) {
        http_reply_error(r, TD_INVALID_ARGUMENT, 0, "%s %s takes no body", r->method,
                         r->route->pattern);
        return MHD_YES;
    }
    r->route->fn(r);
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    (void)toe;
    http_server *s = cls;
    http_req *r = *con_cls;
    if (!r)
        return;
    if (r->ci) {
        r->ci->handling = false;
        r->ci->mark = now_s();
    }
    if (r->status)
        count_request(s, r->label, r->status, now_s() - r->started);
    if (r->pending)
        MHD_destroy_response(r->pending);
    if (r->ctx_free)
        r->ctx_free(r->ctx);
    free(r->path);
    free(r->id);
    free(r->token_name);
    free(r->partner);
    free(r->body);
    free(r);
    *con_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    http_server *s = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        conn_info *c = calloc(1, sizeof *c);
        if (!c)
            return;
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        c->fd = ci ? ci->connect_fd : -1;
        c->mark = now_s();
        c->next = s->conns.next;
        c->prev = &s->conns;
        s->conns.next->prev = c;
        s->conns.next = c;
        *socket_context = c;
        return;
    }
    conn_info *c = *socket_context;
    if (!c)
        return;
    c->prev->next = c->next;
    c->next->prev = c->prev;
    free(c);
    *socket_context = NULL;
}

/* ---- MHD on the loop ----------------------------------------------------------- */

static void on_timer(uv_timer_t *t);

/* MHD's own decoding, except that a %00 becomes a byte every path check
 * refuses instead of a NUL that would silently end the path early. */
static size_t unescape(void *cls, struct MHD_Connection *conn, char *uri)
{
    (void)cls;
    (void)conn;
    size_t n = MHD_http_unescape(uri);
    for (size_t i = 0; i < n; i++)
        if (uri[i] == 0)
            uri[i] = 0x01;
    return n;
}

static void run_mhd(http_server *s)
{
    if (!s->mhd)
        return;
    MHD_run(s->mhd);
    MHD_UNSIGNED_LONG_LONG t = 0;
    if (MHD_get_timeout(s->mhd, &t) == MHD_YES)
        uv_timer_start(&s->timer, on_timer, t > UINT32_MAX ? UINT32_MAX : (uint64_t)t, 0);
    else
        uv_timer_stop(&s->timer);
}

static void on_timer(uv_timer_t *t)
{
    run_mhd(t->data);
}

static void on_epoll(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    run_mhd(p->data);
}

static void kick(http_server *s)
{
    uv_timer_start(&s->timer, on_timer, 0, 0);
}

/* Slow clients: a request that has not arrived whole request_timeout after
 * the connection opened (or its previous answer) loses the connection.
 * shutdown() rather than close(): MHD sees the end of the stream and
 * closes the socket itself, so no descriptor is reused behind its back. */
static void on_sweep(uv_timer_t *t)
{
    http_server *s = t->data;
    double now = now_s(), limit = s->cfg->request_timeout_s;
    bool dropped = false;
    for (conn_info *c = s->conns.next; c != &s->conns; c = c->next) {
        if (c->handling || c->fd < 0 || now - c->mark <= limit)
            continue;
        shutdown(c->fd, SHUT_RDWR);
        c->mark = now; /* once */
        s->dropped_slow++;
        dropped = true;
    }
    if (dropped)
        kick(s);
}

int http_server_start(uv_loop_t *loop, http_config *cfg, upstream *up, const http_route *routes,
                      size_t n_routes, const char *static_dir, http_server **out, td_error *err)
{
    struct sockaddr_storage addr;
    socklen_t alen = 0;
    int rc = http_listen_parse(cfg->listen, cfg->allow_remote, &addr, &alen, err);
    if (rc)
        return rc;
    http_server *s = calloc(1, sizeof *s);
    if (!s)
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "out of memory");
    s->loop = loop;
    s->cfg = cfg;
    s->up = up;
    s->routes = routes;
    s->n_routes = n_routes;
    s->static_dir = strdup(static_dir);
    s->conns.next = s->conns.prev = &s->conns;
    reset_buckets(s);
    if (addr.ss_family == AF_INET)
        s->loopback = (ntohl(((struct sockaddr_in *)&addr)->sin_addr.s_addr) >> 24) == 127;
    else
        s->loopback = IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&addr)->sin6_addr);
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | MHD_USE_TURBO;
    if (addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR,
                              (struct sockaddr *)&addr, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                              (size_t)cfg->max_header_bytes, MHD_OPTION_CONNECTION_TIMEOUT,
                              (unsigned int)cfg->idle_timeout_s, MHD_OPTION_CONNECTION_LIMIT,
                              (unsigned int)cfg->max_connections, MHD_OPTION_UNESCAPE_CALLBACK,
                              unescape, NULL, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                              MHD_OPTION_NOTIFY_CONNECTION, on_connection, s, MHD_OPTION_END);
    if (!s->mhd) {
        int e = errno;
        free(s->static_dir);
        free(s->buckets);
        free(s);
        return td_error_set(err, TD_UNAVAILABLE, "cannot listen on %s: %s", cfg->listen,
                            strerror(e));
    }
    const union MHD_DaemonInfo *lfd = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_LISTEN_FD);
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    if (lfd && getsockname(lfd->listen_fd, (struct sockaddr *)&bound, &blen) == 0)
        s->port = ntohs(bound.ss_family == AF_INET ? ((struct sockaddr_in *)&bound)->sin_port
                                                   : ((struct sockaddr_in6 *)&bound)->sin6_port);
    const union MHD_DaemonInfo *efd = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    uv_poll_init(loop, &s->poll, efd->epoll_fd);
    uv_timer_init(loop, &s->timer);
    uv_timer_init(loop, &s->sweep);
    s->poll.data = s->timer.data = s->sweep.data = s;
    uv_poll_start(&s->poll, UV_READABLE, on_epoll);
    uv_timer_start(&s->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
    kick(s);
    *out = s;
    return 0;
}

unsigned http_server_port(const http_server *s)
{
    return s->port;
}

bool http_server_loopback(const http_server *s)
{
    return s->loopback;
}

const http_config *http_server_config(const http_server *s)
{
    return s->cfg;
}

void http_server_reload_tokens(http_server *s, http_config *fresh)
{
    http_token *old = s->cfg->tokens;
    size_t n_old = s->cfg->n_tokens;
    s->cfg->tokens = fresh->tokens;
    s->cfg->n_tokens = fresh->n_tokens;
    fresh->tokens = old;
    fresh->n_tokens = n_old;
    reset_buckets(s);
}

static void on_server_closed(uv_handle_t *h)
{
    http_server *s = h->data;
    /* libuv runs close callbacks in no promised order: the last one frees */
    if (--s->closing > 0)
        return;
    free(s->static_dir);
    free(s->buckets);
    free(s);
}

void http_server_stop(http_server *s)
{
    if (!s)
        return;
    s->stopping = true;
    /* answers waiting on tierd go out as 503s, then MHD sends them */
    upstream_fail_all(s->up);
    MHD_quiesce_daemon(s->mhd);
    for (int i = 0; i < 4; i++)
        MHD_run(s->mhd);
    uv_poll_stop(&s->poll);
    MHD_stop_daemon(s->mhd);
    s->mhd = NULL;
    s->closing = 3;
    uv_close((uv_handle_t *)&s->poll, on_server_closed);
    uv_close((uv_handle_t *)&s->timer, on_server_closed);
    uv_close((uv_handle_t *)&s->sweep, on_server_closed);
}
