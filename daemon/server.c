/* The server owns tierd's nanomsg sockets and the order in which a loop
 * turn's requests are answered.
 *
 * The RPC socket is a REP in raw mode (AF_SP_RAW): nanomsg hands us each
 * request with its backtrace header in the control data, and we may answer
 * in any order, later, by sending that header back. That is what makes
 * group commit possible: on each wake-up the server drains every readable
 * request (up to SERVER_MAX_PER_TURN so a flood cannot starve timers and
 * signals), runs them through rpc_execute, then commits the turn once with
 * state_flush, and only then sends the replies. If the commit fails, every
 * mutating request of the turn is answered with the commit's error; reads
 * of the same turn are held until after the commit too, so no client sees
 * data that was about to be rolled back.
 *
 * The same raw socket lets a reply wait: a ListChanges that found nothing
 * after its `since` and asked for wait_ms is parked with its header (up to
 * SERVER_MAX_WAITERS of them) while the loop goes on serving everyone else.
 * server_publish, through which every committed change passes, wakes them;
 * a timer ends each wait at its deadline; closing answers them all.
 *
 * Promises: every request that reaches us with a usable header gets exactly
 * one reply; requests over max_request_bytes are refused with
 * RESOURCE_EXHAUSTED (and logged) up to twice the limit (at least the limit
 * plus SERVER_OVERSIZE_MARGIN_MIN), past which nanomsg drops the
 * connection unseen; a message without a header (no route back) is
 * dropped; after a large request the freed memory is given back. It does
 * not decode anything itself: rpc.c owns the Envelope and the method
 * table. */
#include "server.h"

#include <errno.h>
#include <malloc.h>
#include <nanomsg/nn.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "metrics.h"
#include "rpc.h"
#include "state.h"
#include "store.h"

#define SERVER_IPC_PREFIX "ipc://"
/* nanomsg cuts off (closes the connection on) a message over NN_RCVMAXSIZE
 * without telling us, and counts its own header in the size. So the socket
 * takes requests past max_request_bytes by this margin (at least), and we
 * refuse those ourselves with an answer. */
#define SERVER_OVERSIZE_MARGIN_MIN (2u << 20)
/* After a request this large, freed memory goes back to the system:
 * glibc keeps freed heap pages otherwise, and one hostile request would
 * leave the daemon's RSS that much higher for good. */
#define SERVER_TRIM_AFTER_BYTES (1u << 20)
/* Allocations from this size up get their own mapping, returned to the
 * system on free. glibc otherwise raises the threshold after each large
 * free, and the next request buffer (allocated by nanomsg's worker thread,
 * in an arena malloc_trim does not shrink) stays resident for good. */
#define SERVER_MMAP_THRESHOLD (1u << 20)
/* Long-polls held at once; past this a ListChanges is answered at once
 * (its client falls back to polling), so followers cannot pin memory. */
#define SERVER_MAX_WAITERS 1024

typedef struct server_pending {
    void *control;  /* the backtrace header chunk, handed back on send */
    uint64_t taken; /* uv_hrtime() when the request was taken, for its latency */
    rpc_result result;
} server_pending;

/* A ListChanges whose reply waits for a change (long-poll). */
typedef struct server_waiter {
    void *control;
    uint64_t request_id;
    uint64_t taken;    /* as server_pending's */
    uint64_t deadline; /* uv_now() milliseconds */
    rpc_wait wait;
} server_waiter;

struct server {
    tierd *d;
    int rep;
    int pub;
    uv_poll_t poll;
    bool polling;
    size_t max_request;
    char **listen;
    size_t n_listen;
    char **publish;
    size_t n_publish;
    size_t n_listen_bound, n_publish_bound; /* only these files are ours to remove */
    server_pending *pending;
    size_t n_pending, cap_pending;
    server_waiter *waiters;
    size_t n_waiters, cap_waiters;
    uv_timer_t wake;  /* the next waiter's deadline, or at once after a commit */
    int open_handles; /* poll and timer; the server is freed when both closed */
    bool closing;
    rpc_arena *scratch; /* reused by every request */
};

static char **server_copy_urls(const char *const *urls, size_t n)
{
    char **out = calloc(n ? n : 1, sizeof *out);
    if (!out)
        abort();
    for (size_t i = 0; i < n; i++)
        if (!(out[i] = strdup(urls[i])))
            abort();
    return out;
}

static void server_free_urls(char **urls, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(urls[i]);
    free(urls);
}

/* Binds every URL on sock; ipc files get SERVER_IPC_MODE so the tierd group
 * (and nobody else) can talk to the daemon. */
static int server_bind_all(int sock, char **urls, size_t n, size_t *bound, td_error *err)
{
    for (size_t i = 0; i < n; i++) {
        if (nn_bind(sock, urls[i]) < 0)
            return td_error_set(err, TD_UNAVAILABLE, "cannot bind %s: %s", urls[i],
                                nn_strerror(nn_errno()));
        *bound = i + 1;
        if (strncmp(urls[i], SERVER_IPC_PREFIX, strlen(SERVER_IPC_PREFIX)) == 0) {
            const char *path = urls[i] + strlen(SERVER_IPC_PREFIX);
            if (chmod(path, SERVER_IPC_MODE) != 0)
                return td_error_set(err, TD_UNAVAILABLE, "cannot chmod %s: %s", path,
                                    strerror(errno));
        }
    }
    return 0;
}

static void server_unlink_ipc(char **urls, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strncmp(urls[i], SERVER_IPC_PREFIX, strlen(SERVER_IPC_PREFIX)) == 0)
            unlink(urls[i] + strlen(SERVER_IPC_PREFIX));
}

static void server_on_wake(uv_timer_t *t);

static void server_push(server *s, const server_pending *p)
{
    if (s->n_pending == s->cap_pending) {
        size_t cap = s->cap_pending ? s->cap_pending * 2 : 64;
        server_pending *grown = realloc(s->pending, cap * sizeof *grown);
        if (!grown)
            abort();
        s->pending = grown;
        s->cap_pending = cap;
    }
    s->pending[s->n_pending++] = *p;
}

/* Takes one request if one is waiting. Returns 1 when it took one, 0 when
 * the socket is empty, -1 on a socket error. *biggest grows to the largest
 * request taken. */
static int server_take(server *s, bool *mutated, size_t *biggest)
{
    void *body = NULL;
    void *control = NULL;
    struct nn_iovec iov = {.iov_base = &body, .iov_len = NN_MSG};
    struct nn_msghdr hdr = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control, .msg_controllen = NN_MSG};
    int n = nn_recvmsg(s->rep, &hdr, NN_DONTWAIT);
    uint64_t taken = uv_hrtime();
    if (n < 0) {
        int e = nn_errno();
        if (e == EAGAIN || e == EINTR)
            return 0;
        log_error("receiving a request: %s", nn_strerror(e));
        return -1;
    }
    if (!control) {
        /* Without the backtrace there is nobody to answer. */
        log_warning("dropped a %d-byte request that carried no reply route", n);
        nn_freemsg(body);
        return 1;
    }
    if ((size_t)n > *biggest)
        *biggest = (size_t)n;
    server_pending p = {.control = control, .taken = taken, .result.method = -1};
    if ((size_t)n > s->max_request) {
        /* Reading the Envelope in place allocates nothing; its request id
         * lets the client match the refusal to its request. */
        rpc_envelope env;
        td_error ignored = {0};
        if (rpc_envelope_read(body, (size_t)n, &env, &ignored) == 0)
            p.result.request_id = env.request_id;
        log_warning("refused a %d-byte request: max_request_bytes is %zu", n, s->max_request);
        p.result.status = TD_RESOURCE_EXHAUSTED;
        snprintf(p.result.message, sizeof p.result.message,
                 "request of %d bytes exceeds max_request_bytes %zu", n, s->max_request);
    } else {
        const td_config *c = s->d->config;
        rpc_execute(s->d, c ? c->tokens : NULL, c ? c->n_tokens : 0, body, (size_t)n, s->scratch,
                    &p.result);
        if (p.result.status != TD_OK && p.result.status != TD_NOT_FOUND)
            log_debug("request %llu refused: %s: %s", (unsigned long long)p.result.request_id,
                      td_code_name(p.result.status), p.result.message);
    }
    nn_freemsg(body);
    if (p.result.mutates)
        *mutated = true;
    server_push(s, &p);
    return 1;
}

static void server_send(server *s, server_pending *p)
{
    /* A Reply whose every field is its default packs to zero bytes, and
     * an empty message is what says so. */
    size_t len = rpc_result_packed_size(&p->result);
    uint8_t *msg = nn_allocmsg(len, 0);
    if (!msg) {
        log_error("out of memory packing a reply; request %llu goes unanswered",
                  (unsigned long long)p->result.request_id);
        rpc_result_clear(&p->result);
        nn_freemsg(p->control);
        return;
    }
    len = rpc_result_pack_into(&p->result, msg);
    rpc_result_clear(&p->result);
    struct nn_iovec iov = {.iov_base = &msg, .iov_len = NN_MSG};
    struct nn_msghdr hdr = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &p->control, .msg_controllen = NN_MSG};
    /* On success nanomsg owns both chunks; on failure it has released the
     * control chunk but the body is still ours. */
    if (nn_sendmsg(s->rep, &hdr, NN_DONTWAIT) < 0) {
        log_warning("reply to request %llu not sent: %s", (unsigned long long)p->result.request_id,
                    nn_strerror(nn_errno()));
        nn_freemsg(msg);
    }
    metrics_rpc_reply(s->d->metrics, p->result.method, p->result.status, uv_hrtime() - p->taken);
}

/* ---- long-polls ------------------------------------------------------------- */

/* Sets the wake timer for the nearest deadline, or stops it. */
static void server_arm(server *s)
{
    if (s->n_waiters == 0) {
        uv_timer_stop(&s->wake);
        return;
    }
    uint64_t first = s->waiters[0].deadline;
    for (size_t i = 1; i < s->n_waiters; i++)
        if (s->waiters[i].deadline < first)
            first = s->waiters[i].deadline;
    uint64_t now = uv_now(s->d->loop);
    uv_timer_start(&s->wake, server_on_wake, first > now ? first - now : 0, 0);
}

/* Answers every waiter whose wait is over: a change after its `since` is
 * committed, its deadline has come, or (all) the server is closing. The
 * answer is ListChanges run again, so it carries whatever is there. */
static void server_serve_waiters(server *s, bool all)
{
    uint64_t last = s->d->store ? store_last_sequence(s->d->store) : 0;
    uint64_t now = uv_now(s->d->loop);
    size_t keep = 0;
    for (size_t i = 0; i < s->n_waiters; i++) {
        server_waiter *w = &s->waiters[i];
        if (!all && w->deadline > now && last <= w->wait.since) {
            s->waiters[keep++] = *w;
            continue;
        }
        server_pending p = {.control = w->control, .taken = w->taken};
        rpc_execute_wait(s->d, &w->wait, w->request_id, s->scratch, &p.result);
        server_send(s, &p);
    }
    s->n_waiters = keep;
    if (!s->closing)
        server_arm(s);
}

static void server_on_wake(uv_timer_t *t)
{
    server_serve_waiters(t->data, false);
}

/* Holds p's reply when it is a ListChanges that asked to wait and may;
 * returns false when p is to be answered now. */
static bool server_park(server *s, server_pending *p)
{
    const rpc_result *r = &p->result;
    if (r->wait.ms == 0 || r->status != TD_OK || s->closing)
        return false;
    if (s->n_waiters >= SERVER_MAX_WAITERS) {
        log_debug("ListChanges %llu answered at once: %d long-polls are waiting already",
                  (unsigned long long)r->request_id, SERVER_MAX_WAITERS);
        return false;
    }
    if (s->n_waiters == s->cap_waiters) {
        size_t cap = s->cap_waiters ? s->cap_waiters * 2 : 16;
        server_waiter *grown = realloc(s->waiters, cap * sizeof *grown);
        if (!grown)
            return false;
        s->waiters = grown;
        s->cap_waiters = cap;
    }
    log_debug("ListChanges %llu waits up to %u ms for a change after %llu",
              (unsigned long long)r->request_id, r->wait.ms, (unsigned long long)r->wait.since);
    s->waiters[s->n_waiters++] = (server_waiter){.control = p->control,
                                                 .request_id = r->request_id,
                                                 .taken = p->taken,
                                                 .deadline = uv_now(s->d->loop) + r->wait.ms,
                                                 .wait = r->wait};
    rpc_result_clear(&p->result);
    return true;
}

/* One turn: drain, commit once, answer. */
static void server_turn(server *s)
{
    bool mutated = false;
    size_t biggest = 0;
    for (size_t taken = 0; taken < SERVER_MAX_PER_TURN; taken++)
        if (server_take(s, &mutated, &biggest) <= 0)
            break;
    if (mutated) {
        td_error err = {0};
        if (state_flush(s->d, &err) != 0) {
            log_error("commit failed; refusing this turn's writes: %s", err.message);
            for (size_t i = 0; i < s->n_pending; i++) {
                rpc_result *r = &s->pending[i].result;
                if (!r->mutates)
                    continue;
                rpc_result_clear(r);
                r->status = err.code;
                snprintf(r->message, sizeof r->message, "%s", err.message);
            }
        }
    }
    bool parked = false;
    for (size_t i = 0; i < s->n_pending; i++) {
        if (server_park(s, &s->pending[i]))
            parked = true;
        else
            server_send(s, &s->pending[i]);
    }
    s->n_pending = 0;
    /* A change this very turn committed may already be what they wait for. */
    if (parked)
        server_serve_waiters(s, false);
    if (biggest >= SERVER_TRIM_AFTER_BYTES)
        malloc_trim(0);
}

static void server_on_readable(uv_poll_t *h, int status, int events)
{
    (void)events;
    server *s = h->data;
    if (status < 0) {
        log_error("polling the RPC socket: %s", uv_strerror(status));
        return;
    }
    server_turn(s);
}

void server_publish(void *server_ud, const char *topic, const uint8_t *payload, size_t len)
{
    server *s = server_ud;
    if (!s)
        return;
    /* Every committed change is published through here, whoever committed
     * it (a request, a timer, a reload): the moment to look at the waiters. */
    if (s->n_waiters && !s->closing)
        uv_timer_start(&s->wake, server_on_wake, 0, 0);
    if (s->pub < 0 || !topic) /* no topic: stored, not for the feed */
        return;
    size_t tlen = strlen(topic);
    uint8_t *msg = nn_allocmsg(tlen + 1 + len, 0);
    if (!msg) {
        log_warning("dropped publication %s: out of memory", topic);
        return;
    }
    memcpy(msg, topic, tlen);
    msg[tlen] = '\n';
    if (len)
        memcpy(msg + tlen + 1, payload, len);
    if (nn_send(s->pub, &msg, NN_MSG, NN_DONTWAIT) < 0) {
        log_debug("publication %s not sent: %s", topic, nn_strerror(nn_errno()));
        nn_freemsg(msg);
    }
}

void server_set_max_request(server *s, size_t bytes)
{
    s->max_request = bytes;
    size_t margin = bytes > SERVER_OVERSIZE_MARGIN_MIN ? bytes : SERVER_OVERSIZE_MARGIN_MIN;
    size_t cut = bytes + margin;
    int opt = cut > (size_t)INT32_MAX ? -1 : (int)cut;
    nn_setsockopt(s->rep, NN_SOL_SOCKET, NN_RCVMAXSIZE, &opt, sizeof opt);
}

void server_listen_urls(const server *s, const char *const **urls, size_t *n)
{
    *urls = (const char *const *)s->listen;
    *n = s->n_listen;
}

void server_publish_urls(const server *s, const char *const **urls, size_t *n)
{
    *urls = (const char *const *)s->publish;
    *n = s->n_publish;
}

static void server_free(server *s)
{
    server_free_urls(s->listen, s->n_listen);
    server_free_urls(s->publish, s->n_publish);
    free(s->pending);
    free(s->waiters);
    rpc_arena_free(s->scratch);
    free(s);
}

static void server_on_closed(uv_handle_t *h)
{
    server *s = h->data;
    if (--s->open_handles == 0)
        server_free(s);
}

void server_close(server *s)
{
    if (!s)
        return;
    if (s->n_pending)
        server_turn(s);
    /* Long-polls get what there is now, before the socket goes. */
    s->closing = true;
    server_serve_waiters(s, true);
    uv_timer_stop(&s->wake);
    /* The poll watches a descriptor nanomsg owns: stop it before nn_close
     * frees that descriptor. */
    if (s->polling)
        uv_poll_stop(&s->poll);
    if (s->rep >= 0)
        nn_close(s->rep);
    if (s->pub >= 0)
        nn_close(s->pub);
    server_unlink_ipc(s->listen, s->n_listen_bound);
    server_unlink_ipc(s->publish, s->n_publish_bound);
    uv_close((uv_handle_t *)&s->wake, server_on_closed);
    if (s->polling)
        uv_close((uv_handle_t *)&s->poll, server_on_closed);
    else
        s->open_handles--;
}

int server_open(tierd *d, const server_endpoints *ep, server **out, td_error *err)
{
    *out = NULL;
    server *s = calloc(1, sizeof *s);
    if (!s)
        abort();
    s->d = d;
    mallopt(M_MMAP_THRESHOLD, SERVER_MMAP_THRESHOLD);
    s->scratch = rpc_arena_new();
    uv_timer_init(d->loop, &s->wake);
    s->wake.data = s;
    s->open_handles = 2; /* the timer, and the poll once it is open */
    s->rep = nn_socket(AF_SP_RAW, NN_REP);
    s->pub = nn_socket(AF_SP, NN_PUB);
    s->listen = server_copy_urls(ep->listen, ep->n_listen);
    s->n_listen = ep->n_listen;
    s->publish = server_copy_urls(ep->publish, ep->n_publish);
    s->n_publish = ep->n_publish;
    int rc = 0;
    if (s->rep < 0 || s->pub < 0)
        rc = td_error_set(err, TD_UNAVAILABLE, "cannot create nanomsg sockets: %s",
                          nn_strerror(nn_errno()));
    if (rc == 0) {
        server_set_max_request(s, ep->max_request_bytes ? ep->max_request_bytes
                                                        : TD_MAX_REQUEST_BYTES);
        rc = server_bind_all(s->rep, s->listen, s->n_listen, &s->n_listen_bound, err);
    }
    if (rc == 0)
        rc = server_bind_all(s->pub, s->publish, s->n_publish, &s->n_publish_bound, err);
    int fd = -1;
    size_t fdlen = sizeof fd;
    if (rc == 0 && nn_getsockopt(s->rep, NN_SOL_SOCKET, NN_RCVFD, &fd, &fdlen) < 0)
        rc = td_error_set(err, TD_INTERNAL, "cannot get the RPC socket's fd: %s",
                          nn_strerror(nn_errno()));
    if (rc == 0) {
        int uerr = uv_poll_init(d->loop, &s->poll, fd);
        if (uerr == 0) {
            s->poll.data = s;
            s->polling = true;
            uerr = uv_poll_start(&s->poll, UV_READABLE, server_on_readable);
        }
        if (uerr)
            rc =
                td_error_set(err, TD_INTERNAL, "cannot poll the RPC socket: %s", uv_strerror(uerr));
    }
    if (rc) {
        server_close(s);
        return rc;
    }
    *out = s;
    return 0;
}
