/* Subscriptions: tierd's change feed, each change exactly once, in order.
 *
 * Owns one nanomsg SUB socket and the catch-up from ListChanges. The PUB
 * socket is fast but lossy (it drops messages for a reader whose buffers are
 * full), and a ladder or partner filter means the subscriber never sees most
 * sequence numbers anyway. So the log is the truth and PUB only says "there
 * is news": `checked` is the highest global sequence number this
 * subscription has delivered or knowingly passed over. A PUB message with
 * sequence checked + 1 is delivered as is; one further ahead, or one that
 * does not decode, sends the subscription to the log for everything after
 * `checked`, filtered here; one at or below `checked` is a duplicate. A
 * quiet subscription reads the log's tail every idle interval, so a change
 * lost as the last of a burst still arrives. While the SUB socket has no
 * connection, nothing would say there is news, so the log reads wait for
 * the next change instead (a ListChanges long-poll).
 *
 * Where no PUB socket serves the client (a TCP URL with a token: tierd
 * publishes on TCP only when its config names the feed public), it
 * follows the log alone: each wait is a ListChanges long-poll (wait_ms),
 * answered as soon as a change commits. TD_SUB_FOLLOW_AUTO picks that
 * mode when tierd's Status lists no publish endpoint the client can reach.
 *
 * Promises: changes reach the caller in sequence order with no repeats and
 * none missing, across PUB drops, filters and daemon restarts (the SUB
 * socket reconnects by itself; the log fills what was published meanwhile).
 * It does not write to the daemon, retry refused calls, or own the client. */
#include "tierd/client.h"
#include "grow.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nanomsg/nn.h>
#include <nanomsg/pubsub.h>

#define SUB_TOPIC_PREFIX "change/"
#define SUB_TOPIC_MAX    1024
#define SUB_FILTER_MAX   (SUB_TOPIC_MAX / 2) /* ladder and partner share a topic */
#define SUB_URL_SHOWN    200                 /* of a URL quoted in an error message */
/* A TierChange is a few hundred bytes; anything near this is not one. */
#define SUB_MAX_MESSAGE_BYTES    (1 << 20)
#define SUB_LOG_PAGE             1000
#define SUB_RECONNECT_IVL_MS     100
#define SUB_RECONNECT_IVL_MAX_MS 1000
#define SUB_QUEUE_MIN            64
#define SUB_NO_DEADLINE          INT64_MAX
#define SUB_IPC_PREFIX           "ipc://"
#define SUB_TCP_PREFIX           "tcp://"

struct td_sub {
    td_client *rpc; /* borrowed */
    int sock;       /* -1 when following the log alone */
    bool by_log;
    char *ladder, *partner; /* NULL = any */
    char *url;
    int idle_ms;
    uint64_t checked;          /* highest sequence delivered or passed over */
    bool catch_up;             /* the log owes us everything after `checked` */
    int64_t retry_at;          /* earliest next log read after a failed one */
    int64_t next_poll;         /* when a quiet subscription reads the log's tail */
    Tierd__TierChange **queue; /* matching changes read from the log, in order */
    size_t head, n, cap;
    td_sub_info info;
};

static int64_t sub_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool ends_with(const char *s, size_t len, const char *tail)
{
    size_t tl = strlen(tail);
    return len >= tl && memcmp(s + len - tl, tail, tl) == 0;
}

int td_client_pub_url(const char *rpc_url, char *out, size_t n, td_error *err)
{
    if (!rpc_url || !out || n == 0)
        return td_error_set(err, TD_INVALID_ARGUMENT, "td_client_pub_url needs a URL and a buffer");
    size_t len = strlen(rpc_url);
    const char *from, *to;
    if (ends_with(rpc_url, len, TD_RPC_SOCKET_NAME) &&
        strncmp(rpc_url, SUB_IPC_PREFIX, strlen(SUB_IPC_PREFIX)) == 0) {
        from = TD_RPC_SOCKET_NAME;
        to = TD_PUB_SOCKET_NAME;
    } else if (ends_with(rpc_url, len, TD_TCP_RPC_PORT) &&
               strncmp(rpc_url, SUB_TCP_PREFIX, strlen(SUB_TCP_PREFIX)) == 0) {
        from = TD_TCP_RPC_PORT;
        to = TD_TCP_PUB_PORT;
    } else {
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "cannot tell the publish URL from '%.*s': it ends neither in %s nor "
                            "in %s",
                            SUB_URL_SHOWN, rpc_url, TD_RPC_SOCKET_NAME, TD_TCP_RPC_PORT);
    }
    size_t stem = len - strlen(from);
    if (stem + strlen(to) >= n)
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "the publish URL for '%.*s' is over %zu bytes", SUB_URL_SHOWN, rpc_url,
                            n - 1);
    memcpy(out, rpc_url, stem);
    strcpy(out + stem, to);
    return 0;
}

/* ---- filters ---------------------------------------------------------------------- */

/* A newline would end the topic early; the length keeps the topic in its buffer. */
static int filter_check(const char *what, const char *v, td_error *err)
{
    if (v && (strlen(v) > SUB_FILTER_MAX || strchr(v, '\n')))
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "%s filter must be at most %d bytes without a newline", what,
                            SUB_FILTER_MAX);
    return 0;
}

static bool sub_wants(const td_sub *s, const Tierd__TierChange *c)
{
    if (s->ladder && strcmp(s->ladder, c->ladder ? c->ladder : "") != 0)
        return false;
    if (s->partner && strcmp(s->partner, c->partner ? c->partner : "") != 0)
        return false;
    return true;
}

/* The SUB prefix: as narrow as a prefix can be. A partner filter alone
 * cannot be a prefix (the ladder comes first), so that one is applied after
 * decoding, like every filter is anyway. */
static void sub_topic(const td_sub *s, char *topic, size_t n)
{
    if (s->ladder && s->partner)
        snprintf(topic, n, SUB_TOPIC_PREFIX "%s/%s\n", s->ladder, s->partner);
    else if (s->ladder)
        snprintf(topic, n, SUB_TOPIC_PREFIX "%s/", s->ladder);
    else
        snprintf(topic, n, SUB_TOPIC_PREFIX);
}

/* ---- the queue of changes read from the log --------------------------------------- */

static int queue_push(td_sub *s, Tierd__TierChange *c, td_error *err)
{
    if (s->head == s->n)
        s->head = s->n = 0;
    Tierd__TierChange **q = td_grow(s->queue, &s->cap, s->n + 1, sizeof *q, SUB_QUEUE_MIN);
    if (!q)
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "out of memory queueing change %llu",
                            (unsigned long long)c->sequence);
    s->queue = q;
    s->queue[s->n++] = c;
    return 0;
}

static void queue_clear(td_sub *s)
{
    for (size_t i = s->head; i < s->n; i++)
        tierd__tier_change__free_unpacked(s->queue[i], NULL);
    s->head = s->n = 0;
}

/* ---- reading the log -------------------------------------------------------------- */

/* One ListChanges page after `checked`, waiting up to wait_ms for one when
 * there is none yet (0: answer at once). catch_up stays set until the log's
 * end is reached. The page's changes move into the queue (matching) or are
 * freed (filtered out), so the response is freed empty. */
static int sub_read_log(td_sub *s, uint32_t wait_ms, td_error *err)
{
    Tierd__ChangesResponse *r = NULL;
    s->info.log_reads++;
    int64_t asked = sub_now_ms();
    int rc = wait_ms
                 ? td_client_list_changes_wait(s->rpc, s->checked, SUB_LOG_PAGE, wait_ms, &r, err)
                 : td_client_list_changes(s->rpc, s->checked, SUB_LOG_PAGE, &r, err);
    s->info.unreachable = rc == -(int)TD_UNAVAILABLE;
    if (rc) {
        s->retry_at = sub_now_ms() + s->idle_ms;
        return rc;
    }
    /* Empty long before the wait was up: a tierd that does not know
     * wait_ms, or one on its way out. Poll at the idle interval instead of
     * asking again at once. */
    if (wait_ms && r->n_changes == 0 && sub_now_ms() - asked < (int64_t)wait_ms / 2)
        s->retry_at = sub_now_ms() + s->idle_ms;
    size_t n = r->n_changes;
    for (size_t i = 0; i < n; i++) {
        Tierd__TierChange *c = r->changes[i];
        r->changes[i] = NULL;
        /* a log that goes backwards would make us repeat; drop such entries */
        if (!c || c->sequence <= s->checked) {
            tierd__tier_change__free_unpacked(c, NULL);
            continue;
        }
        if (rc == 0 && sub_wants(s, c) && (rc = queue_push(s, c, err)) == 0) {
            s->checked = c->sequence;
            continue;
        }
        /* after a failed push, `checked` stays before it: the next read
         * starts there again */
        if (rc == 0)
            s->checked = c->sequence;
        tierd__tier_change__free_unpacked(c, NULL);
    }
    /* A daemon that does not say where its log ends gets read until a short page. */
    bool at_end = n == 0 || (r->last_sequence ? s->checked >= r->last_sequence : n < SUB_LOG_PAGE);
    r->n_changes = 0;
    tierd__changes_response__free_unpacked(r, NULL);
    if (rc)
        return rc;
    s->catch_up = !at_end;
    if (at_end)
        s->next_poll = sub_now_ms() + s->idle_ms;
    return 0;
}

/* ---- reading the PUB socket ------------------------------------------------------- */

/* Decodes "change/<ladder>/<partner>\n<TierChange>" and checks that the
 * topic names the change it carries; NULL when it does not. */
static Tierd__TierChange *sub_decode(const uint8_t *msg, size_t len)
{
    const uint8_t *nl = memchr(msg, '\n', len < SUB_TOPIC_MAX ? len : SUB_TOPIC_MAX);
    if (!nl)
        return NULL;
    size_t tlen = (size_t)(nl - msg);
    Tierd__TierChange *c = tierd__tier_change__unpack(NULL, len - tlen - 1, nl + 1);
    if (!c)
        return NULL;
    if (!c->ladder || !c->partner) {
        tierd__tier_change__free_unpacked(c, NULL);
        return NULL;
    }
    size_t pl = strlen(SUB_TOPIC_PREFIX), ll = strlen(c->ladder), ptl = strlen(c->partner);
    if (c->sequence == 0 || tlen != pl + ll + 1 + ptl || memcmp(msg, SUB_TOPIC_PREFIX, pl) != 0 ||
        memcmp(msg + pl, c->ladder, ll) != 0 || msg[pl + ll] != '/' ||
        memcmp(msg + pl + ll + 1, c->partner, ptl) != 0) {
        tierd__tier_change__free_unpacked(c, NULL);
        return NULL;
    }
    return c;
}

/* What one wait on the PUB socket brought. */
#define SUB_GOT_NOTHING 0 /* the wait ended empty */
#define SUB_GOT_CHANGE  1 /* *out is the next change and matches */
#define SUB_GOT_OTHER   2 /* a duplicate, a filtered one, a gap or garbage */

/* Waits up to wait_ms for one PUB message. Returns a SUB_GOT_ value or a
 * negative td_code. */
static int sub_receive(td_sub *s, int wait_ms, Tierd__TierChange **out, td_error *err)
{
    int flags = 0;
    if (wait_ms <= 0)
        flags = NN_DONTWAIT;
    else
        nn_setsockopt(s->sock, NN_SOL_SOCKET, NN_RCVTIMEO, &wait_ms, sizeof wait_ms);
    void *msg = NULL;
    int n = nn_recv(s->sock, &msg, NN_MSG, flags);
    if (n < 0) {
        int e = nn_errno();
        if (e == ETIMEDOUT || e == EAGAIN)
            return SUB_GOT_NOTHING;
        if (e == EINTR)
            return td_error_set(err, TD_CANCELLED, "waiting for changes from %s: interrupted",
                                s->url);
        return td_error_set(err, TD_INTERNAL, "receiving changes from %s: %s", s->url,
                            nn_strerror(e));
    }
    Tierd__TierChange *c = sub_decode(msg, (size_t)n);
    nn_freemsg(msg);
    if (!c) {
        /* whatever it was, a change may hide behind it */
        s->info.malformed++;
        s->catch_up = true;
        return SUB_GOT_OTHER;
    }
    uint64_t seq = c->sequence;
    if (seq <= s->checked) {
        /* already delivered or passed over */
    } else if (s->catch_up) {
        /* the log will deliver it in order; and tierd is evidently back */
        s->retry_at = 0;
    } else if (seq == s->checked + 1) {
        s->checked = seq;
        s->next_poll = sub_now_ms() + s->idle_ms;
        if (sub_wants(s, c)) {
            s->info.live++;
            *out = c;
            return SUB_GOT_CHANGE;
        }
    } else {
        s->info.gaps++;
        s->catch_up = true;
        s->retry_at = 0;
    }
    tierd__tier_change__free_unpacked(c, NULL);
    return SUB_GOT_OTHER;
}

/* ---- the public calls ------------------------------------------------------------- */

static char *sub_strdup_filter(const char *v)
{
    return v && *v ? strdup(v) : NULL;
}

/* ":7451" in "tcp://host:7451" */
static const char *sub_port(const char *url)
{
    const char *colon = strrchr(url, ':');
    return colon && colon > url + strlen(SUB_TCP_PREFIX) ? colon : "";
}

/* Whether tierd's Status lists a publish endpoint at url: the same ipc
 * path, or a TCP endpoint on the same port (tierd binds an address the
 * client may spell differently). With tokens, tierd publishes on TCP only
 * when its config names the feed public. */
static int sub_pub_listed(td_client *rpc, const char *url, bool *listed, td_error *err)
{
    Tierd__StatusResponse *st = NULL;
    int rc = td_client_status(rpc, &st, err);
    if (rc)
        return rc;
    bool tcp = strncmp(url, SUB_TCP_PREFIX, strlen(SUB_TCP_PREFIX)) == 0;
    *listed = false;
    for (size_t i = 0; i < st->n_publish && !*listed; i++) {
        const char *p = st->publish[i];
        if (strcmp(p, url) == 0)
            *listed = true;
        else if (tcp && strncmp(p, SUB_TCP_PREFIX, strlen(SUB_TCP_PREFIX)) == 0)
            *listed = *sub_port(url) && strcmp(sub_port(p), sub_port(url)) == 0;
    }
    tierd__status_response__free_unpacked(st, NULL);
    return 0;
}

/* Where the subscription starts: after since, or (TD_SUB_FROM_NOW) after
 * whatever the log holds now. Frees s on failure. */
static int sub_start(td_sub *s, uint64_t since, td_sub **out, td_error *err)
{
    int rc;
    if (since == TD_SUB_FROM_NOW) {
        Tierd__StatusResponse *st = NULL;
        rc = td_client_status(s->rpc, &st, err);
        if (rc) {
            td_sub_close(s);
            return rc;
        }
        s->checked = st->last_sequence;
        tierd__status_response__free_unpacked(st, NULL);
        s->next_poll = sub_now_ms() + s->idle_ms;
    } else {
        s->checked = since;
        s->catch_up = true;
        rc = sub_read_log(s, 0, err);
        if (rc) {
            td_sub_close(s);
            return rc;
        }
    }
    *out = s;
    return 0;
}

int td_sub_open_opts(td_client *rpc, const td_sub_options *opts, td_sub **out, td_error *err)
{
    if (out)
        *out = NULL;
    if (!rpc || !opts || !out)
        return td_error_set(err, TD_INVALID_ARGUMENT, "td_sub_open needs a client and options");
    const char *ladder = opts->ladder && *opts->ladder ? opts->ladder : NULL;
    const char *partner = opts->partner && *opts->partner ? opts->partner : NULL;
    int rc = filter_check("ladder", ladder, err);
    if (rc == 0)
        rc = filter_check("partner", partner, err);
    if (rc)
        return rc;
    char derived[TD_PUB_URL_MAX];
    const char *url = opts->pub_url;
    td_sub_follow follow = opts->follow;
    if (follow == TD_SUB_FOLLOW_LOG)
        url = "";
    else if (!url || !*url) {
        td_error derr = {0};
        rc = td_client_pub_url(td_client_url(rpc), derived, sizeof derived, &derr);
        if (rc && follow == TD_SUB_FOLLOW_PUB) {
            *err = derr;
            return rc;
        }
        url = rc ? NULL : derived;
        if (follow == TD_SUB_FOLLOW_AUTO) {
            bool served = false;
            rc = url ? sub_pub_listed(rpc, url, &served, err) : 0;
            if (rc)
                return rc;
            follow = served ? TD_SUB_FOLLOW_PUB : TD_SUB_FOLLOW_LOG;
        }
        if (follow == TD_SUB_FOLLOW_LOG)
            url = "";
    }
    if (strlen(url) >= TD_PUB_URL_MAX)
        return td_error_set(err, TD_INVALID_ARGUMENT, "publish URL is longer than %d bytes",
                            TD_PUB_URL_MAX - 1);

    td_sub *s = calloc(1, sizeof *s);
    if (!s)
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "out of memory opening a subscription");
    s->rpc = rpc;
    s->sock = -1;
    s->idle_ms = opts->idle_poll_ms > 0 ? opts->idle_poll_ms : TD_SUB_DEFAULT_IDLE_POLL_MS;
    s->url = strdup(url);
    s->ladder = sub_strdup_filter(ladder);
    s->partner = sub_strdup_filter(partner);
    if (!s->url || (ladder && !s->ladder) || (partner && !s->partner)) {
        td_sub_close(s);
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "out of memory opening a subscription");
    }
    s->by_log = follow == TD_SUB_FOLLOW_LOG;
    if (s->by_log)
        return sub_start(s, opts->since, out, err);
    s->sock = nn_socket(AF_SP, NN_SUB);
    if (s->sock < 0) {
        int e = nn_errno();
        td_sub_close(s);
        return td_error_set(err, TD_INTERNAL, "cannot create a subscriber: %s", nn_strerror(e));
    }
    char topic[SUB_TOPIC_MAX + 1];
    sub_topic(s, topic, sizeof topic);
    int ivl = SUB_RECONNECT_IVL_MS, ivl_max = SUB_RECONNECT_IVL_MAX_MS;
    int maxsize = SUB_MAX_MESSAGE_BYTES;
    int ok = nn_setsockopt(s->sock, NN_SUB, NN_SUB_SUBSCRIBE, topic, strlen(topic)) >= 0 &&
             nn_setsockopt(s->sock, NN_SOL_SOCKET, NN_RECONNECT_IVL, &ivl, sizeof ivl) >= 0 &&
             nn_setsockopt(s->sock, NN_SOL_SOCKET, NN_RECONNECT_IVL_MAX, &ivl_max,
                           sizeof ivl_max) >= 0 &&
             nn_setsockopt(s->sock, NN_SOL_SOCKET, NN_RCVMAXSIZE, &maxsize, sizeof maxsize) >= 0;
    /* The buffer must be set before connecting: nanomsg sizes each
     * connection's kernel buffer when it is made. */
    if (ok && opts->rcvbuf_bytes > 0)
        ok = nn_setsockopt(s->sock, NN_SOL_SOCKET, NN_RCVBUF, &opts->rcvbuf_bytes,
                           sizeof opts->rcvbuf_bytes) >= 0;
    if (!ok || nn_connect(s->sock, s->url) < 0) {
        int e = nn_errno();
        rc = td_error_set(err, TD_INVALID_ARGUMENT, "cannot subscribe at %s: %s", s->url,
                          nn_strerror(e));
        td_sub_close(s);
        return rc;
    }

    /* Subscribed first, then asked where the log stands: a change made
     * after that answer is on the socket, or, when the connection was not
     * up yet, found by the first idle poll. */
    return sub_start(s, opts->since, out, err);
}

int td_sub_open(td_client *rpc, const char *pub_url, const char *ladder, const char *partner,
                uint64_t since, td_sub **out, td_error *err)
{
    td_sub_options o = {.pub_url = pub_url, .ladder = ladder, .partner = partner, .since = since};
    return td_sub_open_opts(rpc, &o, out, err);
}

/* Sleeps until `until`; false when a signal cut it short. */
static bool sub_sleep_until(int64_t until)
{
    int64_t ms = until - sub_now_ms();
    if (ms <= 0)
        return true;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    return nanosleep(&ts, NULL) == 0;
}

/* td_sub_next following the log alone: each wait is a ListChanges
 * long-poll, so a change arrives as it commits and a quiet subscription
 * costs one call per TD_CHANGES_MAX_WAIT_MS (or per timeout_ms). */
static int sub_next_by_log(td_sub *s, int timeout_ms, int64_t deadline, Tierd__TierChange **change,
                           td_error *err)
{
    bool asked = false;
    for (;;) {
        if (s->head < s->n) {
            *change = s->queue[s->head++];
            s->info.from_log++;
            return 0;
        }
        int64_t now = sub_now_ms();
        if (now >= deadline && asked)
            return td_error_set(err, TD_DEADLINE_EXCEEDED, "no change within %d ms", timeout_ms);
        if (now < s->retry_at) {
            /* after a failed or cut-short read: not before the idle interval */
            if (deadline <= now)
                return td_error_set(err, TD_DEADLINE_EXCEEDED, "no change within %d ms",
                                    timeout_ms);
            if (!sub_sleep_until(s->retry_at < deadline ? s->retry_at : deadline))
                return td_error_set(err, TD_CANCELLED, "waiting for changes: interrupted");
            continue;
        }
        int64_t left = deadline - now;
        if (left > TD_CHANGES_MAX_WAIT_MS)
            left = TD_CHANGES_MAX_WAIT_MS;
        asked = true;
        int rc = sub_read_log(s, s->catch_up || left < 0 ? 0 : (uint32_t)left, err);
        if (rc)
            return rc;
    }
}

int td_sub_next(td_sub *s, int timeout_ms, Tierd__TierChange **change, td_error *err)
{
    if (change)
        *change = NULL;
    if (!s || !change)
        return td_error_set(err, TD_INVALID_ARGUMENT, "td_sub_next needs a subscription");
    int64_t start = sub_now_ms();
    int64_t deadline = timeout_ms < 0 ? SUB_NO_DEADLINE : start + timeout_ms;
    if (s->by_log)
        return sub_next_by_log(s, timeout_ms, deadline, change, err);
    bool read_log = false, listened = false;
    for (;;) {
        if (s->head < s->n) {
            *change = s->queue[s->head++];
            s->info.from_log++;
            return 0;
        }
        int64_t now = sub_now_ms();
        /* a filtered catch-up may walk many pages without a match: give
         * the caller its turn back once the time is up */
        if (now >= deadline && (read_log || listened))
            return td_error_set(err, TD_DEADLINE_EXCEEDED, "no change within %d ms", timeout_ms);
        /* Unconnected, the socket brings no news: go to the log, which
         * waits for the next change (below) instead of an idle poll. */
        bool unconnected = nn_get_statistic(s->sock, NN_STAT_CURRENT_CONNECTIONS) == 0;
        if (!s->catch_up && (now >= s->next_poll || unconnected)) {
            /* A caller slower than the idle interval finds messages
             * waiting; those come first, the log read only when the socket
             * is truly quiet: is the tail on the log only? */
            listened = true;
            int rc = sub_receive(s, 0, change, err);
            if (rc < 0)
                return rc;
            if (rc == SUB_GOT_CHANGE)
                return 0;
            if (rc == SUB_GOT_NOTHING)
                s->catch_up = true;
            continue;
        }
        if (s->catch_up && now >= s->retry_at) {
            read_log = true;
            /* With no connection to the publisher nothing would tell us of
             * the next change, so the read waits for it (tierd answers at
             * once when there is more to catch up on). */
            uint32_t wait = 0;
            if (deadline > now && unconnected)
                wait = deadline - now > TD_CHANGES_MAX_WAIT_MS ? TD_CHANGES_MAX_WAIT_MS
                                                               : (uint32_t)(deadline - now);
            int rc = sub_read_log(s, wait, err);
            if (rc)
                return rc;
            continue;
        }
        int64_t wake = s->catch_up ? s->retry_at : s->next_poll;
        if (deadline < wake)
            wake = deadline;
        int64_t wait = wake - now;
        if (wait > INT32_MAX)
            wait = INT32_MAX;
        listened = true;
        int rc = sub_receive(s, wait < 0 ? 0 : (int)wait, change, err);
        if (rc < 0)
            return rc;
        if (rc == SUB_GOT_CHANGE)
            return 0;
    }
}

void td_sub_get_info(const td_sub *s, td_sub_info *info)
{
    *info = s->info;
    info->resume_from = s->head < s->n ? s->queue[s->head]->sequence - 1 : s->checked;
    info->by_log = s->by_log;
    info->connected = s->by_log ? !s->info.unreachable
                                : nn_get_statistic(s->sock, NN_STAT_CURRENT_CONNECTIONS) > 0;
}

void td_sub_close(td_sub *s)
{
    if (!s)
        return;
    if (s->sock >= 0)
        nn_close(s->sock);
    queue_clear(s);
    free(s->queue);
    free(s->url);
    free(s->ladder);
    free(s->partner);
    free(s);
}
