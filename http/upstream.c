/* The pool of REQ sockets to tierd (upstream.h). Owns the sockets, their
 * uv_poll and deadline timer handles and the Envelope/Reply framing; it
 * does not interpret payloads. */
#include "upstream.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>

#include "tierd.pb-c.h"

#define RECONNECT_IVL_MS     100
#define RECONNECT_IVL_MAX_MS 1000
#define METHOD_MAX           64

typedef struct up_sock {
    upstream *u;
    int sock;
    uv_poll_t poll;
    uv_timer_t timer;
    bool busy, long_poll;
    int closed_handles;
    uint64_t id;
    upstream_cb cb;
    void *ud;
    char method[METHOD_MAX];
    struct up_sock *next_idle;
} up_sock;

struct upstream {
    uv_loop_t *loop;
    char *url, *token;
    unsigned max, timeout_ms;
    up_sock **socks;
    unsigned n, busy, long_polls;
    up_sock *idle;
    uint64_t next_id, timeouts;
    unsigned closing; /* handles still to close */
    bool closed;
};

int upstream_open(uv_loop_t *loop, const char *url, const char *token, unsigned max_sockets,
                  unsigned timeout_ms, upstream **out, td_error *err)
{
    upstream *u = calloc(1, sizeof *u);
    if (!u)
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "out of memory");
    u->loop = loop;
    u->url = strdup(url);
    u->token = strdup(token ? token : "");
    u->max = max_sockets;
    u->timeout_ms = timeout_ms;
    u->next_id = 1;
    u->socks = calloc(max_sockets, sizeof *u->socks);
    if (!u->url || !u->token || !u->socks) {
        free(u->url);
        free(u->token);
        free(u->socks);
        free(u);
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "out of memory");
    }
    *out = u;
    return 0;
}

static void finish(up_sock *s, td_code code, const char *message, const uint8_t *payload,
                   size_t len)
{
    upstream_cb cb = s->cb;
    void *ud = s->ud;
    upstream *u = s->u;
    uv_poll_stop(&s->poll);
    uv_timer_stop(&s->timer);
    s->busy = false;
    s->cb = NULL;
    u->busy--;
    if (s->long_poll)
        u->long_polls--;
    s->next_idle = u->idle;
    u->idle = s;
    cb(ud, code, message, payload, len);
}

static void on_readable(uv_poll_t *h, int status, int events)
{
    (void)events;
    up_sock *s = h->data;
    if (!s->busy)
        return;
    if (status < 0) {
        finish(s, TD_UNAVAILABLE, uv_strerror(status), NULL, 0);
        return;
    }
    for (;;) {
        void *msg = NULL;
        int n = nn_recv(s->sock, &msg, NN_MSG, NN_DONTWAIT);
        if (n < 0)
            return; /* EAGAIN: nothing (more) yet */
        Tierd__Reply *r = tierd__reply__unpack(NULL, (size_t)n, msg);
        nn_freemsg(msg);
        if (!r) {
            finish(s, TD_INTERNAL, "tierd sent a malformed reply", NULL, 0);
            return;
        }
        if (r->request_id != s->id) {
            tierd__reply__free_unpacked(r, NULL);
            continue; /* a reply to a call we gave up on */
        }
        int st = (int)r->status;
        td_code code = (st >= TD_OK && st <= TD_UNAUTHENTICATED) ? (td_code)st : TD_UNKNOWN;
        finish(s, code, r->message ? r->message : "", r->payload.data, r->payload.len);
        tierd__reply__free_unpacked(r, NULL);
        return;
    }
}

static void on_deadline(uv_timer_t *t)
{
    up_sock *s = t->data;
    if (!s->busy)
        return;
    s->u->timeouts++;
    char msg[TD_ERROR_MAX];
    snprintf(msg, sizeof msg, "tierd at %.256s did not answer %s in time (is it running?)",
             s->u->url, s->method);
    finish(s, TD_UNAVAILABLE, msg, NULL, 0);
}

static up_sock *sock_new(upstream *u, td_error *err)
{
    up_sock *s = calloc(1, sizeof *s);
    if (!s) {
        td_error_set(err, TD_RESOURCE_EXHAUSTED, "out of memory");
        return NULL;
    }
    s->u = u;
    s->sock = nn_socket(AF_SP, NN_REQ);
    int ivl = RECONNECT_IVL_MS, ivl_max = RECONNECT_IVL_MAX_MS, unlimited = -1, never = INT_MAX;
    int fd = -1;
    size_t fdsz = sizeof fd;
    if (s->sock < 0 ||
        nn_setsockopt(s->sock, NN_SOL_SOCKET, NN_RECONNECT_IVL, &ivl, sizeof ivl) < 0 ||
        nn_setsockopt(s->sock, NN_SOL_SOCKET, NN_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max) < 0 ||
        nn_setsockopt(s->sock, NN_SOL_SOCKET, NN_RCVMAXSIZE, &unlimited, sizeof unlimited) < 0 ||
        /* a mutation must never be resent behind our back (docs/rpc.md) */
        nn_setsockopt(s->sock, NN_REQ, NN_REQ_RESEND_IVL, &never, sizeof never) < 0 ||
        nn_connect(s->sock, u->url) < 0 ||
        nn_getsockopt(s->sock, NN_SOL_SOCKET, NN_RCVFD, &fd, &fdsz) < 0) {
        td_error_set(err, TD_UNAVAILABLE, "cannot open a socket to tierd at %.256s: %s", u->url,
                     nn_strerror(errno));
        if (s->sock >= 0)
            nn_close(s->sock);
        free(s);
        return NULL;
    }
    uv_poll_init(u->loop, &s->poll, fd);
    uv_timer_init(u->loop, &s->timer);
    s->poll.data = s;
    s->timer.data = s;
    return s;
}

int upstream_call(upstream *u, const char *method, const ProtobufCMessage *req, unsigned extra_ms,
                  upstream_cb cb, void *ud, td_error *err)
{
    if (u->closed)
        return td_error_set(err, TD_UNAVAILABLE, "tierd-http is stopping");
    if (extra_ms && u->long_polls >= u->max / 2)
        return td_error_set(err, TD_RESOURCE_EXHAUSTED,
                            "%u long-polls are waiting already (at most half of tierd.sockets, %u)",
                            u->long_polls, u->max);
    up_sock *s = u->idle;
    if (s) {
        u->idle = s->next_idle;
    } else {
        if (u->n >= u->max)
            return td_error_set(err, TD_RESOURCE_EXHAUSTED,
                                "all %u connections to tierd are busy (tierd.sockets)", u->max);
        s = sock_new(u, err);
        if (!s)
            return -(int)err->code;
        u->socks[u->n++] = s;
    }

    Tierd__Envelope env = TIERD__ENVELOPE__INIT;
    env.method = (char *)method;
    env.request_id = u->next_id++;
    env.token = u->token;
    uint8_t *payload = NULL;
    if (req) {
        size_t plen = protobuf_c_message_get_packed_size(req);
        payload = malloc(plen ? plen : 1);
        if (payload) {
            env.payload.len = protobuf_c_message_pack(req, payload);
            env.payload.data = payload;
        }
    }
    size_t len = tierd__envelope__get_packed_size(&env);
    uint8_t *buf = (req && !payload) ? NULL : malloc(len ? len : 1);
    int rc = -1;
    if (buf) {
        tierd__envelope__pack(&env, buf);
        rc = nn_send(s->sock, buf, len, NN_DONTWAIT);
    }
    int e = errno;
    free(buf);
    free(payload);
    if (rc < 0) {
        s->next_idle = u->idle;
        u->idle = s;
        if (!buf)
            return td_error_set(err, TD_RESOURCE_EXHAUSTED, "out of memory packing %s", method);
        return td_error_set(err, TD_UNAVAILABLE, "cannot send %s to tierd at %.256s: %s", method,
                            u->url, nn_strerror(e));
    }
    s->busy = true;
    s->long_poll = extra_ms > 0;
    s->id = env.request_id;
    s->cb = cb;
    s->ud = ud;
    snprintf(s->method, sizeof s->method, "%s", method);
    u->busy++;
    if (s->long_poll)
        u->long_polls++;
    uv_poll_start(&s->poll, UV_READABLE, on_readable);
    uv_timer_start(&s->timer, on_deadline, (uint64_t)u->timeout_ms + extra_ms, 0);
    return 0;
}

void upstream_fail_all(upstream *u)
{
    u->closed = true;
    for (unsigned i = 0; i < u->n; i++)
        if (u->socks[i]->busy)
            finish(u->socks[i], TD_UNAVAILABLE, "tierd-http is stopping", NULL, 0);
}

static void on_closed(uv_handle_t *h)
{
    up_sock *s = h->data;
    upstream *u = s->u;
    /* the socket's second handle to close frees it, in whichever order */
    if (++s->closed_handles == 2) {
        nn_close(s->sock);
        free(s);
    }
    if (--u->closing == 0) {
        free(u->socks);
        free(u->url);
        free(u->token);
        free(u);
    }
}

void upstream_close(upstream *u)
{
    if (!u)
        return;
    upstream_fail_all(u);
    if (u->n == 0) {
        free(u->socks);
        free(u->url);
        free(u->token);
        free(u);
        return;
    }
    u->closing = 2 * u->n;
    for (unsigned i = 0; i < u->n; i++) {
        uv_close((uv_handle_t *)&u->socks[i]->poll, on_closed);
        uv_close((uv_handle_t *)&u->socks[i]->timer, on_closed);
    }
}

void upstream_stats(const upstream *u, unsigned *open, unsigned *busy, uint64_t *timeouts)
{
    *open = u->n;
    *busy = u->busy;
    *timeouts = u->timeouts;
}
