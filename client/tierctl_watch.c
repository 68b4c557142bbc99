/* tierctl watch: tier changes as they happen (docs/tierctl.md, "watch").
 *
 * A thin loop over the client library's subscription (td_sub_*), which owns
 * the PUB socket and the catch-up from ListChanges, or, where tierd
 * publishes nowhere the client can reach (TCP with a token) or with
 * --long-poll, follows by ListChanges long-polls alone. Promises what td_sub
 * promises: every change after the starting point prints exactly once and
 * in sequence order, even when PUB drops messages, when a filter makes gaps
 * normal, or when the daemon restarts in between. This file adds only the
 * printing, the signals that end the watch, and telling the user on stderr
 * that the daemon went away and came back. It never writes to the daemon. */
#include "tierctl.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

/* How often the loop looks up from waiting, to notice a signal that came
 * just before a wait began and a daemon that answers again. */
#define WATCH_TICK_MS 1000

static volatile sig_atomic_t watch_stop;

static void on_signal(int sig)
{
    (void)sig;
    watch_stop = 1;
}

static void watch_print(const tctl *t, const Tierd__TierChange *c)
{
    if (t->json)
        tctl_print_json_line(tctl_change_json(c));
    else {
        tctl_print_change(c);
        fflush(stdout);
    }
}

int tctl_watch(tctl *t, const char *ladder, const char *partner, bool have_since, uint64_t since,
               const char *pub, bool long_poll)
{
    td_sub_options o = {.pub_url = pub,
                        .ladder = ladder,
                        .partner = partner,
                        .since = have_since ? since : TD_SUB_FROM_NOW,
                        .follow = long_poll ? TD_SUB_FOLLOW_LOG : TD_SUB_FOLLOW_AUTO};
    td_sub *s = NULL;
    td_error err;
    int rc = td_sub_open_opts(t->cli, &o, &s, &err);
    if (rc)
        return tctl_fail_rc(rc, &err);

    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    bool down = false; /* said so on stderr already */
    uint64_t malformed = 0;
    int code = 0;
    while (code == 0 && !watch_stop) {
        Tierd__TierChange *c = NULL;
        rc = td_sub_next(s, WATCH_TICK_MS, &c, &err);
        td_sub_info info;
        td_sub_get_info(s, &info);
        for (; malformed < info.malformed; malformed++)
            fprintf(stderr, "tierctl: skipped a malformed change message\n");
        if (rc == 0) {
            watch_print(t, c);
            tierd__tier_change__free_unpacked(c, NULL);
        } else if (rc == -(int)TD_UNAVAILABLE) {
            /* A restarting daemon is no reason to stop watching: the
             * subscription reconnects by itself and catches up. */
            if (!down)
                fprintf(stderr, "tierctl: %s; still watching\n", err.message);
            down = true;
            continue;
        } else if (rc != -(int)TD_DEADLINE_EXCEEDED && rc != -(int)TD_CANCELLED) {
            code = tctl_fail_rc(rc, &err);
        }
        if (down && !info.unreachable) {
            fprintf(stderr, "tierctl: tierd answers again\n");
            down = false;
        }
    }
    td_sub_close(s);
    return code;
}
