/* The webhook sender (webhook_send.h): per-partner queues, the transfer
 * bound, retries with back-off, and libcurl's multi-socket API driven by
 * libuv (uv_poll per socket, uv_timer for curl's timeout). */
#include "webhook_send.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "grow.h"
#include "idset.h"
#include "log.h"
#include "webhook_sign.h"

#define SEND_MIN_CAP     16
#define SEND_HEADER_MAX  128
#define SEND_BACKOFF_MAX 40 /* doublings at most: 2^40 ms is already years */

typedef struct delivery {
    uint64_t seq;
    uint32_t attempts;
    struct delivery *next;
} delivery;

/* One partner's deliveries to one endpoint, oldest first. */
typedef struct pqueue {
    delivery *head, *tail;
    bool busy;    /* its head is in flight */
    bool waiting; /* its head waits for a retry */
    bool ready;   /* in the endpoint's ready ring */
    uint64_t wait_until;
} pqueue;

typedef struct ep_state {
    idset partners; /* partner -> index into pqs */
    pqueue *pqs;
    size_t pq_cap;
    size_t *ring; /* ready partners, FIFO */
    size_t ring_head, ring_n, ring_cap;
    size_t *waiting;
    size_t n_waiting, waiting_cap;
    uint64_t queued;
    uint64_t busy;
} ep_state;

typedef struct transfer {
    webhook_send *s;
    size_t ep, pq;
    uint64_t seq;
    CURL *easy;
    struct curl_slist *hdrs;
    char *body;
    size_t got;  /* response bytes seen */
    bool capped; /* we ended the read at WEBHOOK_BODY_CAP */
    char snippet[WEBHOOK_ERROR_MAX + 1];
    char errbuf[CURL_ERROR_SIZE];
    struct transfer *prev, *next;
} transfer;

typedef struct sock_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
    webhook_send *s;
    struct sock_ctx *prev, *next;
} sock_ctx;

struct webhook_send {
    uv_loop_t *loop;
    const td_webhooks_conf *conf;
    webhook_send_hooks hooks;
    CURLM *multi;
    uv_timer_t curl_timer, retry_timer;
    ep_state *eps;
    size_t n_eps, rr;
    transfer *transfers; /* in flight */
    sock_ctx *socks;
    int handles; /* open libuv handles; freed at 0 once closing */
    bool closing;
    uint64_t rng;
    webhook_send_stats st;
};

static void send_free(webhook_send *s);
static void pump(webhook_send *s);
static void on_retry(uv_timer_t *t);

/* ---- per-partner queues ---------------------------------------------------- */

static void ring_push(ep_state *e, size_t i)
{
    if (e->ring_n == e->ring_cap) {
        size_t cap = e->ring_cap ? e->ring_cap * 2 : SEND_MIN_CAP;
        size_t *r = malloc(cap * sizeof *r);
        if (!r)
            abort(); /* a ready flag without its entry would strand the partner */
        for (size_t k = 0; k < e->ring_n; k++)
            r[k] = e->ring[(e->ring_head + k) % e->ring_cap];
        free(e->ring);
        e->ring = r;
        e->ring_cap = cap;
        e->ring_head = 0;
    }
    e->ring[(e->ring_head + e->ring_n++) % e->ring_cap] = i;
}

static void make_ready(ep_state *e, size_t i)
{
    pqueue *q = &e->pqs[i];
    if (q->head && !q->busy && !q->waiting && !q->ready) {
        q->ready = true;
        ring_push(e, i);
    }
}

/* With nothing queued the partner table starts over, so it holds only
 * partners with deliveries since the endpoint was last idle. */
static void maybe_reset(ep_state *e)
{
    if (e->queued || e->busy || e->n_waiting || e->ring_n)
        return;
    idset_clear(&e->partners);
}

int webhook_send_add(webhook_send *s, size_t endpoint, uint64_t seq, const char *partner,
                     uint32_t attempts)
{
    if (endpoint >= s->n_eps)
        return 0;
    ep_state *e = &s->eps[endpoint];
    size_t before = e->partners.n;
    if (idset_add(&e->partners, partner) != 0)
        return -1;
    long idx = idset_index(&e->partners, partner);
    if (e->partners.n > before) {
        pqueue *q = td_grow(e->pqs, &e->pq_cap, e->partners.n, sizeof *q, SEND_MIN_CAP);
        if (!q)
            return -1; /* the id stays in the set with an empty queue slot: harmless */
        e->pqs = q;
        memset(&e->pqs[idx], 0, sizeof e->pqs[idx]);
    }
    delivery *d = calloc(1, sizeof *d);
    if (!d)
        return -1;
    d->seq = seq;
    d->attempts = attempts;
    pqueue *q = &e->pqs[idx];
    /* Usually the newest; a resent dead letter goes back in seq order,
     * behind one in flight. */
    if (!q->tail || q->tail->seq < seq) {
        if (q->tail)
            q->tail->next = d;
        else
            q->head = d;
        q->tail = d;
    } else {
        delivery **at = &q->head;
        if (q->busy)
            at = &q->head->next;
        while (*at && (*at)->seq < seq)
            at = &(*at)->next;
        d->next = *at;
        *at = d;
        if (!d->next)
            q->tail = d;
    }
    e->queued++;
    s->st.queued++;
    make_ready(e, (size_t)idx);
    pump(s);
    return 0;
}

static delivery *pop_head(ep_state *e, pqueue *q)
{
    delivery *d = q->head;
    q->head = d->next;
    if (!q->head)
        q->tail = NULL;
    e->queued--;
    return d;
}

/* ---- back-off --------------------------------------------------------------- */

static uint64_t rng_next(webhook_send *s)
{
    /* xorshift64: jitter needs spread, not secrecy. */
    uint64_t x = s->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return s->rng = x;
}

/* base * 2^(attempts-1), capped, then a random point in its upper half, so
 * partners that failed together do not retry together. */
static uint64_t backoff_ms(webhook_send *s, uint32_t attempts)
{
    uint32_t shift = attempts > 0 ? attempts - 1 : 0;
    if (shift > SEND_BACKOFF_MAX)
        shift = SEND_BACKOFF_MAX;
    uint64_t d = s->conf->retry_base_ms;
    uint64_t cap = s->conf->retry_max_ms;
    d = shift >= 63 || d > (cap >> shift) ? cap : d << shift;
    if (d > cap)
        d = cap;
    uint64_t half = d / 2;
    return half + (half ? rng_next(s) % (d - half + 1) : 0);
}

static void arm_retry(webhook_send *s)
{
    uint64_t first = UINT64_MAX;
    for (size_t k = 0; k < s->n_eps; k++)
        for (size_t i = 0; i < s->eps[k].n_waiting; i++) {
            uint64_t w = s->eps[k].pqs[s->eps[k].waiting[i]].wait_until;
            if (w < first)
                first = w;
        }
    if (first == UINT64_MAX) {
        uv_timer_stop(&s->retry_timer);
        return;
    }
    uint64_t now = uv_now(s->loop);
    uv_timer_start(&s->retry_timer, on_retry, first > now ? first - now : 0, 0);
}

static void on_retry(uv_timer_t *t)
{
    webhook_send *s = t->data;
    uint64_t now = uv_now(s->loop);
    for (size_t k = 0; k < s->n_eps; k++) {
        ep_state *e = &s->eps[k];
        for (size_t i = 0; i < e->n_waiting;) {
            pqueue *q = &e->pqs[e->waiting[i]];
            if (q->wait_until <= now) {
                q->waiting = false;
                make_ready(e, e->waiting[i]);
                e->waiting[i] = e->waiting[--e->n_waiting];
            } else {
                i++;
            }
        }
    }
    arm_retry(s);
    pump(s);
}

/* ---- curl on the loop (after curl's docs/examples/multi-uv.c) ---------------- */

/* Timers carry the sender in data, sockets their sock_ctx. */
static void on_handle_closed(uv_handle_t *h)
{
    webhook_send *s = h->data;
    if (h->type == UV_POLL) {
        sock_ctx *c = h->data;
        s = c->s;
        free(c);
    }
    if (--s->handles == 0 && s->closing)
        send_free(s);
}

static void sock_close(sock_ctx *c)
{
    webhook_send *s = c->s;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->socks = c->next;
    if (c->next)
        c->next->prev = c->prev;
    uv_poll_stop(&c->poll);
    uv_close((uv_handle_t *)&c->poll, on_handle_closed);
}

static void finish(webhook_send *s, transfer *t, CURLcode res, long code);

static void check_done(webhook_send *s)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(s->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        transfer *t = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        long code = 0;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
        finish(s, t, msg->data.result, code);
    }
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    sock_ctx *c = h->data;
    webhook_send *s = c->s;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    int running = 0;
    curl_multi_socket_action(s->multi, c->fd, flags, &running);
    check_done(s);
    pump(s);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *ud, void *sockp)
{
    (void)easy;
    webhook_send *s = ud;
    sock_ctx *c = sockp;
    if (what == CURL_POLL_REMOVE) {
        if (c) {
            sock_close(c);
            curl_multi_assign(s->multi, fd, NULL);
        }
        return 0;
    }
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c || uv_poll_init_socket(s->loop, &c->poll, fd) != 0) {
            free(c);
            return -1;
        }
        c->fd = fd;
        c->s = s;
        c->poll.data = c;
        s->handles++;
        c->next = s->socks;
        if (s->socks)
            s->socks->prev = c;
        s->socks = c;
        curl_multi_assign(s->multi, fd, c);
    }
    int events = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        events |= UV_READABLE;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        events |= UV_WRITABLE;
    uv_poll_start(&c->poll, events, on_poll);
    return 0;
}

static void on_curl_timer(uv_timer_t *t)
{
    webhook_send *s = t->data;
    int running = 0;
    curl_multi_socket_action(s->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(s);
    pump(s);
}

static int on_timer_change(CURLM *multi, long ms, void *ud)
{
    (void)multi;
    webhook_send *s = ud;
    if (ms < 0)
        uv_timer_stop(&s->curl_timer);
    else
        uv_timer_start(&s->curl_timer, on_curl_timer, ms ? (uint64_t)ms : 1, 0);
    return 0;
}

/* ---- transfers ---------------------------------------------------------------- */

/* Keeps the start of the body for last_error; past WEBHOOK_BODY_CAP the
 * transfer ends (the status line already told success or not). */
static size_t on_body(char *ptr, size_t size, size_t n, void *ud)
{
    transfer *t = ud;
    size_t len = size * n;
    size_t have = strlen(t->snippet);
    if (have < WEBHOOK_ERROR_MAX) {
        size_t take = len < WEBHOOK_ERROR_MAX - have ? len : WEBHOOK_ERROR_MAX - have;
        memcpy(t->snippet + have, ptr, take);
        t->snippet[have + take] = 0;
    }
    t->got += len;
    if (t->got > WEBHOOK_BODY_CAP) {
        t->capped = true;
        return 0;
    }
    return len;
}

static void transfer_free(webhook_send *s, transfer *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        s->transfers = t->next;
    if (t->next)
        t->next->prev = t->prev;
    if (t->easy) {
        curl_multi_remove_handle(s->multi, t->easy);
        curl_easy_cleanup(t->easy);
    }
    curl_slist_free_all(t->hdrs);
    free(t->body);
    free(t);
}

static struct curl_slist *header(struct curl_slist *l, bool *ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static struct curl_slist *header(struct curl_slist *l, bool *ok, const char *fmt, ...)
{
    char line[SEND_HEADER_MAX + WEBHOOK_NAME_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    struct curl_slist *n = curl_slist_append(l, line);
    if (!n) {
        *ok = false;
        return l;
    }
    return n;
}

/* Starts queue q's head; false when it could not (then it is retried). */
static bool start(webhook_send *s, size_t ep, size_t qi)
{
    const td_webhook_endpoint *conf = &s->conf->endpoints[ep];
    ep_state *e = &s->eps[ep];
    pqueue *q = &e->pqs[qi];
    transfer *t = calloc(1, sizeof *t);
    if (!t)
        return false;
    t->s = s;
    t->ep = ep;
    t->pq = qi;
    t->seq = q->head->seq;
    size_t len = 0;
    if (s->hooks.get_body(s->hooks.ud, ep, t->seq, &t->body, &len) != 0) {
        /* Gone from the outbox (resent or cleared meanwhile): nothing to send. */
        free(t);
        free(pop_head(e, q));
        s->st.queued--;
        make_ready(e, qi);
        return true;
    }
    int64_t ts = (int64_t)time(NULL);
    char sig[WEBHOOK_SIG_LEN];
    bool ok = webhook_sign(conf->secret, ts, t->body, len, sig) == 0;
    t->hdrs = header(t->hdrs, &ok, "Content-Type: application/json");
    t->hdrs = header(t->hdrs, &ok, "Expect:");
    t->hdrs = header(t->hdrs, &ok, "X-Tierd-Delivery: %s:%" PRIu64, conf->name, t->seq);
    t->hdrs = header(t->hdrs, &ok, "X-Tierd-Timestamp: %" PRId64, ts);
    t->hdrs = header(t->hdrs, &ok, "X-Tierd-Signature: %s", sig);
    t->easy = ok ? curl_easy_init() : NULL;
    if (!t->easy) {
        curl_slist_free_all(t->hdrs);
        free(t->body);
        free(t);
        return false;
    }
    CURL *c = t->easy;
    long total_ms = (long)conf->timeout_s * 1000;
    curl_easy_setopt(c, CURLOPT_URL, conf->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, total_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     total_ms < WEBHOOK_CONNECT_MS ? total_ms : (long)WEBHOOK_CONNECT_MS);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, t->body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, t->hdrs);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "tierd/" TIERD_VERSION);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(c, CURLOPT_PRIVATE, t);
    t->next = s->transfers;
    if (s->transfers)
        s->transfers->prev = t;
    s->transfers = t;
    if (curl_multi_add_handle(s->multi, c) != CURLM_OK) {
        transfer_free(s, t);
        return false;
    }
    q->busy = true;
    e->busy++;
    s->st.in_flight++;
    s->st.sent++;
    return true;
}

/* A delivery that could not even start waits as a failed attempt would,
 * so a lack of memory does not spin the loop. */
static void wait_retry(webhook_send *s, ep_state *e, size_t qi, uint32_t attempts)
{
    pqueue *q = &e->pqs[qi];
    q->waiting = true;
    q->wait_until = uv_now(s->loop) + backoff_ms(s, attempts ? attempts : 1);
    size_t *w = td_grow(e->waiting, &e->waiting_cap, e->n_waiting + 1, sizeof *w, SEND_MIN_CAP);
    if (!w)
        abort(); /* a waiting flag without its entry would strand the partner */
    e->waiting = w;
    e->waiting[e->n_waiting++] = qi;
    arm_retry(s);
}

static void pump(webhook_send *s)
{
    if (s->closing)
        return;
    size_t idle = 0;
    while (s->st.in_flight < s->conf->max_transfers && idle < s->n_eps) {
        ep_state *e = &s->eps[s->rr];
        size_t ep = s->rr;
        s->rr = (s->rr + 1) % s->n_eps;
        if (!e->ring_n) {
            idle++;
            maybe_reset(e);
            continue;
        }
        idle = 0;
        size_t qi = e->ring[e->ring_head];
        e->ring_head = (e->ring_head + 1) % e->ring_cap;
        e->ring_n--;
        pqueue *q = &e->pqs[qi];
        q->ready = false;
        if (!q->head || q->busy || q->waiting)
            continue;
        if (!start(s, ep, qi))
            wait_retry(s, e, qi, q->head->attempts + 1);
    }
}

static void finish(webhook_send *s, transfer *t, CURLcode res, long code)
{
    ep_state *e = &s->eps[t->ep];
    pqueue *q = &e->pqs[t->pq];
    const td_webhook_endpoint *conf = &s->conf->endpoints[t->ep];
    bool got_2xx = code >= 200 && code < 300;
    bool ok = got_2xx && (res == CURLE_OK || (res == CURLE_WRITE_ERROR && t->capped));
    char error[WEBHOOK_ERROR_MAX + 64] = "";
    if (!ok && res != CURLE_OK && !(res == CURLE_WRITE_ERROR && t->capped))
        snprintf(error, sizeof error, "%s", t->errbuf[0] ? t->errbuf : curl_easy_strerror(res));
    else if (!ok)
        snprintf(error, sizeof error, "HTTP %ld%s%s", code, t->snippet[0] ? ": " : "", t->snippet);
    for (char *p = error; *p; p++)
        if ((unsigned char)*p < ' ')
            *p = ' ';
    q->busy = false;
    e->busy--;
    s->st.in_flight--;
    transfer_free(s, t);
    delivery *d = q->head;
    if (ok) {
        s->st.delivered++;
        pop_head(e, q);
        s->st.queued--;
        s->hooks.done(s->hooks.ud, (size_t)(e - s->eps), d->seq, true, false, d->attempts, "");
        free(d);
    } else {
        s->st.failed++;
        d->attempts++;
        log_debug("webhook %s delivery %" PRIu64 ": attempt %u failed: %s", conf->name, d->seq,
                  d->attempts, error);
        if (d->attempts >= conf->max_attempts) {
            s->st.dead++;
            pop_head(e, q);
            s->st.queued--;
            log_warning("webhook %s delivery %s:%" PRIu64 " is dead after %u attempts: %s",
                        conf->name, conf->name, d->seq, d->attempts, error);
            s->hooks.done(s->hooks.ud, (size_t)(e - s->eps), d->seq, false, true, d->attempts,
                          error);
            free(d);
        } else {
            s->hooks.done(s->hooks.ud, (size_t)(e - s->eps), d->seq, false, false, d->attempts,
                          error);
            wait_retry(s, e, (size_t)(q - e->pqs), d->attempts);
            return;
        }
    }
    make_ready(e, (size_t)(q - e->pqs));
}

/* ---- lifetime ------------------------------------------------------------------ */

webhook_send *webhook_send_open(uv_loop_t *loop, const td_webhooks_conf *conf,
                                const webhook_send_hooks *hooks)
{
    static bool curl_ready;
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return NULL;
        curl_ready = true;
    }
    webhook_send *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->loop = loop;
    s->conf = conf;
    s->hooks = *hooks;
    s->n_eps = conf->n;
    s->eps = calloc(conf->n ? conf->n : 1, sizeof *s->eps);
    s->multi = curl_multi_init();
    if (!s->eps || !s->multi) {
        if (s->multi)
            curl_multi_cleanup(s->multi);
        free(s->eps);
        free(s);
        return NULL;
    }
    s->rng = ((uint64_t)uv_hrtime() << 1) | 1;
    curl_multi_setopt(s->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(s->multi, CURLMOPT_SOCKETDATA, s);
    curl_multi_setopt(s->multi, CURLMOPT_TIMERFUNCTION, on_timer_change);
    curl_multi_setopt(s->multi, CURLMOPT_TIMERDATA, s);
    curl_multi_setopt(s->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)conf->max_transfers);
    uv_timer_init(loop, &s->curl_timer);
    uv_timer_init(loop, &s->retry_timer);
    s->curl_timer.data = s->retry_timer.data = s;
    s->handles = 2;
    return s;
}

static void send_free(webhook_send *s)
{
    for (size_t k = 0; k < s->n_eps; k++) {
        ep_state *e = &s->eps[k];
        for (size_t i = 0; i < e->partners.n; i++) {
            delivery *d = e->pqs[i].head;
            while (d) {
                delivery *n = d->next;
                free(d);
                d = n;
            }
        }
        idset_free(&e->partners);
        free(e->pqs);
        free(e->ring);
        free(e->waiting);
    }
    free(s->eps);
    free(s);
}

void webhook_send_close(webhook_send *s)
{
    if (!s)
        return;
    s->closing = true;
    while (s->transfers)
        transfer_free(s, s->transfers);
    curl_multi_cleanup(s->multi);
    s->multi = NULL;
    while (s->socks)
        sock_close(s->socks);
    uv_close((uv_handle_t *)&s->curl_timer, on_handle_closed);
    uv_close((uv_handle_t *)&s->retry_timer, on_handle_closed);
}

void webhook_send_get_stats(const webhook_send *s, webhook_send_stats *out)
{
    *out = s ? s->st : (webhook_send_stats){0};
}
