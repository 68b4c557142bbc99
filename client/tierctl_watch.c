/* tierctl watch: tier changes as they happen (DESIGN.md §6).
 *
 * Owns the subscription to tierd's PUB socket (message = topic, '\n', packed
 * TierChange) and the catch-up from ListChanges. Promises: every change
 * after the starting point prints exactly once and in sequence order, even
 * when PUB drops messages, when a filter makes gaps normal, or when the
 * daemon restarts in between. It does not filter by anything but ladder and
 * partner, and it never writes to the daemon. */
#include "tierctl.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <nanomsg/nn.h>
#include <nanomsg/pubsub.h>

#define WATCH_IDLE_MS       5000
#define WATCH_CATCHUP_LIMIT 1000
#define TOPIC_MAX           1024
static volatile sig_atomic_t watch_stop;

static void on_signal(int sig)
{
    (void)sig;
    watch_stop = 1;
}

typedef struct watcher {
    tctl *t;
    const char *ladder, *partner;
    uint64_t last; /* highest sequence printed or skipped */
    bool started;  /* past the first answer: from then on an absent daemon is waited for */
    bool down;     /* said so on stderr already */
} watcher;

static void watch_emit(watcher *w, const Tierd__TierChange *c)
{
    if (c->sequence <= w->last)
        return;
    w->last = c->sequence;
    if (w->ladder && strcmp(w->ladder, c->ladder ? c->ladder : "") != 0)
        return;
    if (w->partner && strcmp(w->partner, c->partner ? c->partner : "") != 0)
        return;
    if (w->t->json)
        tctl_print_json_line(tctl_change_json(c));
    else {
        tctl_print_change(c);
        fflush(stdout);
    }
}

/* Fills from ListChanges everything after w->last up to `upto` (0 = all
 * there is): PUB drops messages for slow readers and a filtered
 * subscription sees gaps by design, so the log is the truth. */
static int watch_catch_up(watcher *w, uint64_t upto)
{
    for (;;) {
        Tierd__ChangesResponse *r;
        td_error err;
        int rc = td_client_list_changes(w->t->cli, w->last, WATCH_CATCHUP_LIMIT, &r, &err);
        if (rc && (-rc) == TD_UNAVAILABLE && w->started) {
            /* A restarting daemon is no reason to stop watching: the SUB
             * socket reconnects by itself and the next catch-up fills in. */
            if (!w->down)
                fprintf(stderr, "tierctl: %s; still watching\n", err.message);
            w->down = true;
            return 0;
        }
        if (rc)
            return tctl_fail_rc(rc, &err);
        if (w->down)
            fprintf(stderr, "tierctl: tierd answers again\n");
        w->down = false;
        size_t n = r->n_changes;
        for (size_t i = 0; i < n; i++)
            watch_emit(w, r->changes[i]);
        tierd__changes_response__free_unpacked(r, NULL);
        /* the daemon may clamp the page below what was asked, so a short
         * page ends the walk only when no target sequence is known */
        if (n == 0 || (upto && w->last >= upto) || (!upto && n < WATCH_CATCHUP_LIMIT))
            return 0;
    }
}

int tctl_watch(tctl *t, const char *ladder, const char *partner, bool have_since, uint64_t since,
               const char *pub)
{
    watcher w = {.t = t, .ladder = ladder, .partner = partner};
    int sock = nn_socket(AF_SP, NN_SUB);
    if (sock < 0) {
        fprintf(stderr, "tierctl: INTERNAL: cannot create a subscriber: %s\n", nn_strerror(errno));
        return TCTL_EXIT_REFUSED;
    }
    /* Subscribe before asking where the log ends, so nothing falls between. */
    char topic[TOPIC_MAX];
    if (w.ladder && w.partner)
        snprintf(topic, sizeof topic, "change/%s/%s\n", w.ladder, w.partner);
    else if (w.ladder)
        snprintf(topic, sizeof topic, "change/%s/", w.ladder);
    else
        snprintf(topic, sizeof topic, "change/");
    int idle = WATCH_IDLE_MS;
    int unlimited = -1;
    if (nn_setsockopt(sock, NN_SUB, NN_SUB_SUBSCRIBE, topic, strlen(topic)) < 0 ||
        nn_setsockopt(sock, NN_SOL_SOCKET, NN_RCVTIMEO, &idle, sizeof idle) < 0 ||
        nn_setsockopt(sock, NN_SOL_SOCKET, NN_RCVMAXSIZE, &unlimited, sizeof unlimited) < 0 ||
        nn_connect(sock, pub) < 0) {
        fprintf(stderr, "tierctl: cannot subscribe at %s: %s\n", pub, nn_strerror(errno));
        nn_close(sock);
        return TCTL_EXIT_REFUSED;
    }
    int code = 0;
    if (have_since) {
        w.last = since;
        code = watch_catch_up(&w, 0);
    } else {
        Tierd__StatusResponse *s;
        td_error err;
        int rc = td_client_status(t->cli, &s, &err);
        if (rc)
            code = tctl_fail_rc(rc, &err);
        else {
            w.last = s->last_sequence;
            tierd__status_response__free_unpacked(s, NULL);
        }
    }
    w.started = true;
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    while (code == 0 && !watch_stop) {
        void *msg = NULL;
        int n = nn_recv(sock, &msg, NN_MSG, 0);
        if (n < 0) {
            if (errno == ETIMEDOUT || errno == EAGAIN)
                code = watch_catch_up(&w, 0); /* the tail may have been dropped */
            else if (errno != EINTR)
                break;
            continue;
        }
        const uint8_t *nl = memchr(msg, '\n', (size_t)n);
        Tierd__TierChange *ch =
            nl ? tierd__tier_change__unpack(NULL, (size_t)(n - (nl + 1 - (uint8_t *)msg)), nl + 1)
               : NULL;
        nn_freemsg(msg);
        if (!ch) {
            fprintf(stderr, "tierctl: skipped a malformed change message (%d bytes)\n", n);
            continue;
        }
        if (ch->sequence > w.last + 1)
            code = watch_catch_up(&w, ch->sequence - 1);
        /* while the gap stays open this change waits for a later catch-up,
         * so that nothing prints out of order */
        if (code == 0 && w.last + 1 >= ch->sequence)
            watch_emit(&w, ch);
        tierd__tier_change__free_unpacked(ch, NULL);
    }
    nn_close(sock);
    return code;
}
