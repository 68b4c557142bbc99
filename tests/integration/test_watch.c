/* The change feed end to end: the real tierd with --fake-clock, its real PUB
 * socket, libtierd-client's subscriptions and the real `tierctl watch`.
 *
 * What it proves (docs/rpc.md, "Changes and subscriptions"): a subscriber
 * sees every change after its starting point exactly once and in sequence
 * order, with topics change/<ladder>/<partner> on the wire; PUB drops under
 * a stalled reader, filters that hide most sequence numbers, a lost tail,
 * hostile PUB messages and daemon restarts cost nothing, because the gaps
 * are filled from ListChanges. The log itself is the reference every test
 * compares against. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <nanomsg/nn.h>
#include <nanomsg/pubsub.h>

#include "feed.h"
#include "harness.h"

#define FAKE_NOW          "2026-01-01T00:00:00Z"
#define EVENT_AT          "2025-12-01T00:00:00Z"
#define CONNECT_WAIT_MS   5000
#define NEXT_MS           10000  /* generous: sanitizer builds are slow */
#define QUIET_MS          300    /* "nothing more comes" */
#define IDLE_NEVER_MS     600000 /* an idle poll that never happens within a test */
#define IDLE_FAST_MS      100
#define STALL_PARTNERS    6000
#define STALL_SECOND_DEAL 3000 /* partners that close a second deal: Registered -> Selling */
#define STALL_RCVBUF      1024
#define LOG_PAGE          1000
#define ID_MAX            32
#define PARTNER_FMT       "p-%05d"
#define WATCH_WAIT_MS     15000
#define RAW_TIMEOUT_MS    2000
#define FILTER_PARTNER    "p-00042"
#define WATCH_OUT_MAX     (64 * 1024)

static harness h;
static td_client *cli;

typedef struct rec {
    uint64_t seq;
    char partner[ID_MAX], ladder[ID_MAX], from[ID_MAX], to[ID_MAX];
} rec;

typedef struct recs {
    rec *v;
    size_t n, cap;
} recs;

static void recs_add(recs *r, const Tierd__TierChange *c)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : LOG_PAGE;
        r->v = realloc(r->v, r->cap * sizeof *r->v);
        ck_assert_ptr_nonnull(r->v);
    }
    rec *x = &r->v[r->n++];
    x->seq = c->sequence;
    snprintf(x->partner, sizeof x->partner, "%s", c->partner);
    snprintf(x->ladder, sizeof x->ladder, "%s", c->ladder);
    snprintf(x->from, sizeof x->from, "%s", c->from_tier);
    snprintf(x->to, sizeof x->to, "%s", c->to_tier);
}

/* Everything in the log after `since` that passes the filters (NULL = any). */
static recs log_after(uint64_t since, const char *ladder, const char *partner)
{
    recs r = {0};
    for (;;) {
        Tierd__ChangesResponse *resp = NULL;
        td_error err = {0};
        ck_assert_msg(td_client_list_changes(cli, since, LOG_PAGE, &resp, &err) == 0, "%s",
                      err.message);
        size_t n = resp->n_changes;
        for (size_t i = 0; i < n; i++) {
            const Tierd__TierChange *c = resp->changes[i];
            since = c->sequence;
            if ((!ladder || strcmp(ladder, c->ladder) == 0) &&
                (!partner || strcmp(partner, c->partner) == 0))
                recs_add(&r, c);
        }
        tierd__changes_response__free_unpacked(resp, NULL);
        if (n == 0)
            return r;
    }
}

static uint64_t last_sequence(void)
{
    Tierd__StatusResponse *st = NULL;
    td_error err = {0};
    ck_assert_msg(td_client_status(cli, &st, &err) == 0, "%s", err.message);
    uint64_t last = st->last_sequence;
    tierd__status_response__free_unpacked(st, NULL);
    return last;
}

static void start_daemon(void)
{
    harness_init(&h);
    char program[HARNESS_PATH_MAX];
    harness_write_file(&h, "program.yaml", feed_program_yaml, program, sizeof program);
    HARNESS_START_OK(&h, "--fake-clock", FAKE_NOW, "--program", program, NULL);
    cli = harness_client(&h, NULL);
}

/* The state dir keeps the program, so a restart needs no --program. */
static void restart_daemon(void)
{
    ck_assert_int_eq(harness_stop(&h), 0);
    ck_assert_int_eq(harness_start(&h, "--fake-clock", FAKE_NOW, NULL), 0);
}

static void stop_daemon(void)
{
    td_client_close(cli);
    cli = NULL;
    harness_finish(&h);
}

/* Partners p-<first>..p-<first+n-1> of one type, in one request. */
static void put_partners(int first, int n, const char *type)
{
    feed_put_partners(cli, PARTNER_FMT, first, n, type);
}

/* One deal each for partners p-<first>..p-<first+n-1>, in one request. */
static void deals(int first, int n)
{
    feed_deals(cli, PARTNER_FMT, first, n, EVENT_AT);
}

static td_sub *open_sub(const char *pub, const char *ladder, const char *partner, uint64_t since,
                        int idle_ms, int rcvbuf)
{
    td_sub_options o = {.pub_url = pub,
                        .ladder = ladder,
                        .partner = partner,
                        .since = since,
                        .idle_poll_ms = idle_ms,
                        .rcvbuf_bytes = rcvbuf};
    td_sub *s = NULL;
    td_error err = {0};
    ck_assert_msg(td_sub_open_opts(cli, &o, &s, &err) == 0, "%s", err.message);
    return s;
}

/* A change published before a subscriber's connection is up reaches it
 * only through the log; tests that count live deliveries wait for it (see
 * harness_wait_connected for why the connection is enough). */
static void wait_connected(int sock)
{
    ck_assert_msg(harness_wait_connected(sock, CONNECT_WAIT_MS), "the subscriber did not connect");
}

static void wait_sub_connected(const td_sub *s)
{
    tu_deadline d = tu_deadline_in(CONNECT_WAIT_MS);
    td_sub_info info;
    while (td_sub_get_info(s, &info), !info.connected && tu_poll(&d))
        ;
    ck_assert_msg(info.connected, "the subscription did not connect");
}

/* Reads want->n changes and checks them one by one against want, then
 * checks that nothing else follows. */
static void expect_exactly(td_sub *s, const recs *want)
{
    for (size_t i = 0; i < want->n; i++) {
        Tierd__TierChange *c = NULL;
        td_error err = {0};
        int rc = td_sub_next(s, NEXT_MS, &c, &err);
        ck_assert_msg(rc == 0, "change %zu of %zu (sequence %llu): %s", i + 1, want->n,
                      (unsigned long long)want->v[i].seq, err.message);
        ck_assert_msg(c->sequence == want->v[i].seq, "got sequence %llu where %llu was due",
                      (unsigned long long)c->sequence, (unsigned long long)want->v[i].seq);
        ck_assert_str_eq(c->partner, want->v[i].partner);
        ck_assert_str_eq(c->ladder, want->v[i].ladder);
        ck_assert_str_eq(c->from_tier, want->v[i].from);
        ck_assert_str_eq(c->to_tier, want->v[i].to);
        tierd__tier_change__free_unpacked(c, NULL);
    }
    Tierd__TierChange *extra = NULL;
    td_error err = {0};
    int rc = td_sub_next(s, QUIET_MS, &extra, &err);
    ck_assert_msg(rc == -(int)TD_DEADLINE_EXCEEDED, "after the last change: rc %d, sequence %llu",
                  rc, extra ? (unsigned long long)extra->sequence : 0ULL);
}

static void recs_free(recs *r)
{
    free(r->v);
    r->v = NULL;
    r->n = r->cap = 0;
}

/* ---- live delivery -------------------------------------------------------------------- */

START_TEST(test_a_subscriber_receives_live_changes_in_order_with_their_topics)
{
    start_daemon();
    put_partners(1, 3, "reseller");
    put_partners(4, 1, "services");
    int raw = nn_socket(AF_SP, NN_SUB);
    ck_assert_int_ge(raw, 0);
    ck_assert_int_eq(nn_setsockopt(raw, NN_SUB, NN_SUB_SUBSCRIBE, "", 0), 0);
    int tmo = RAW_TIMEOUT_MS;
    nn_setsockopt(raw, NN_SOL_SOCKET, NN_RCVTIMEO, &tmo, sizeof tmo);
    ck_assert_int_ge(nn_connect(raw, h.pub_url), 0);
    td_sub *s = open_sub(NULL, NULL, NULL, TD_SUB_FROM_NOW, IDLE_NEVER_MS, 0);
    wait_connected(raw);
    wait_sub_connected(s);

    deals(1, 1); /* p-00001 Registered */
    deals(2, 1); /* p-00002 Registered */
    deals(4, 1); /* p-00004 Certified on services */
    deals(2, 1); /* p-00002 Selling */
    deals(3, 2); /* p-00003 Registered, p-00004 stays Certified */
    recs want = log_after(0, NULL, NULL);
    ck_assert_uint_eq(want.n, 5);
    for (size_t i = 0; i < want.n; i++)
        ck_assert_uint_eq(want.v[i].seq, i + 1);
    ck_assert_str_eq(want.v[3].partner, "p-00002");
    ck_assert_str_eq(want.v[3].from, "Registered");
    ck_assert_str_eq(want.v[3].to, "Selling");
    ck_assert_str_eq(want.v[2].ladder, "services");
    expect_exactly(s, &want);
    td_sub_info info;
    td_sub_get_info(s, &info);
    /* connected before the first change and never slow: all of it live */
    ck_assert_uint_eq(info.live, 5);
    ck_assert_uint_eq(info.from_log, 0);
    ck_assert_uint_eq(info.resume_from, 5);

    /* on the wire: change/<ladder>/<partner>, a newline, the TierChange */
    for (size_t i = 0; i < want.n; i++) {
        void *msg = NULL;
        int n = nn_recv(raw, &msg, NN_MSG, 0);
        ck_assert_msg(n > 0, "publication %zu: %s", i + 1, nn_strerror(nn_errno()));
        char topic[3 * ID_MAX];
        int tl =
            snprintf(topic, sizeof topic, "change/%s/%s\n", want.v[i].ladder, want.v[i].partner);
        ck_assert_int_gt(n, tl);
        ck_assert_msg(memcmp(msg, topic, (size_t)tl) == 0, "topic of %zu: %.*s", i + 1, tl,
                      (char *)msg);
        Tierd__TierChange *c =
            tierd__tier_change__unpack(NULL, (size_t)(n - tl), (uint8_t *)msg + tl);
        ck_assert_ptr_nonnull(c);
        ck_assert_uint_eq(c->sequence, want.v[i].seq);
        tierd__tier_change__free_unpacked(c, NULL);
        nn_freemsg(msg);
    }
    nn_close(raw);
    recs_free(&want);
    td_sub_close(s);
    stop_daemon();
}
END_TEST

/* With a filter the subscriber's own sequence numbers jump (3 of 7 here);
 * those jumps must not look like losses nor hide a real one. */
START_TEST(test_a_filtered_subscriber_gets_only_its_ladder_and_partner_in_global_order)
{
    start_daemon();
    put_partners(1, 3, "reseller");
    put_partners(4, 1, "services");
    td_sub *both = open_sub(NULL, "reseller", "p-00002", TD_SUB_FROM_NOW, IDLE_NEVER_MS, 0);
    td_sub *partner = open_sub(NULL, NULL, "p-00004", TD_SUB_FROM_NOW, IDLE_NEVER_MS, 0);
    td_sub *ladder = open_sub(NULL, "services", NULL, TD_SUB_FROM_NOW, IDLE_NEVER_MS, 0);
    wait_sub_connected(both);
    wait_sub_connected(partner);
    wait_sub_connected(ladder);
    deals(1, 4); /* 1..4: all four promoted */
    deals(2, 1); /* 5: p-00002 Selling */
    deals(1, 1); /* 6: p-00001 Selling */
    deals(3, 1); /* 7: p-00003 Selling */

    recs want = log_after(0, "reseller", "p-00002");
    ck_assert_uint_eq(want.n, 2);
    ck_assert_str_eq(want.v[1].to, "Selling");
    expect_exactly(both, &want);
    recs_free(&want);
    want = log_after(0, NULL, "p-00004");
    ck_assert_uint_eq(want.n, 1);
    expect_exactly(partner, &want);
    recs_free(&want);
    want = log_after(0, "services", NULL);
    ck_assert_uint_eq(want.n, 1);
    expect_exactly(ladder, &want);
    recs_free(&want);

    td_sub_info info;
    td_sub_get_info(both, &info);
    ck_assert_uint_eq(info.resume_from, 7); /* passed over the rest, delivered nothing twice */
    td_sub_close(both);
    td_sub_close(partner);
    td_sub_close(ladder);
    stop_daemon();
}
END_TEST

/* ---- losses ----------------------------------------------------------------------------- */

/* A subscriber whose PUB URL leads nowhere hears nothing live: every change
 * is a lost tail, and the idle poll must still deliver it. */
START_TEST(test_a_change_the_pub_socket_never_delivers_arrives_by_the_idle_poll)
{
    start_daemon();
    put_partners(1, 2, "reseller");
    char nowhere[HARNESS_PATH_MAX + 32];
    snprintf(nowhere, sizeof nowhere, "ipc://%s/nobody-publishes-here.sock", h.work);
    td_sub *s = open_sub(nowhere, NULL, NULL, TD_SUB_FROM_NOW, IDLE_FAST_MS, 0);
    deals(1, 2);
    recs want = log_after(0, NULL, NULL);
    ck_assert_uint_eq(want.n, 2);
    expect_exactly(s, &want);
    td_sub_info info;
    td_sub_get_info(s, &info);
    ck_assert_uint_eq(info.live, 0);
    ck_assert_uint_eq(info.from_log, 2);
    recs_free(&want);
    td_sub_close(s);
    stop_daemon();
}
END_TEST

/* Reads from s until nothing comes within timeout_ms or `until` changes
 * are in got; checks sequence order on the way. */
static void read_into(td_sub *s, recs *got, size_t until, int timeout_ms)
{
    while (got->n < until) {
        Tierd__TierChange *c = NULL;
        td_error err = {0};
        int rc = td_sub_next(s, timeout_ms, &c, &err);
        if (rc == -(int)TD_DEADLINE_EXCEEDED)
            return;
        ck_assert_msg(rc == 0, "after %zu changes: %s", got->n, err.message);
        ck_assert_msg(got->n == 0 || c->sequence > got->v[got->n - 1].seq,
                      "sequence %llu after %llu", (unsigned long long)c->sequence,
                      (unsigned long long)got->v[got->n - 1].seq);
        recs_add(got, c);
        tierd__tier_change__free_unpacked(c, NULL);
    }
}

/* Three subscribers with tiny receive buffers do not read while 9,000
 * changes are published in two requests, so PUB drops most of them (it
 * drops everything once a reader's buffers are full: the lost part is the
 * burst's whole tail). Then they read. */
START_TEST(test_a_stalled_subscriber_gets_every_change_once_in_order_after_pub_drops)
{
    start_daemon();
    put_partners(0, STALL_PARTNERS, "reseller");
    /* the usual subscription: the idle poll finds the lost tail */
    td_sub *plain = open_sub(NULL, NULL, NULL, TD_SUB_FROM_NOW, 0, STALL_RCVBUF);
    /* no idle poll: only a sequence gap can send this one to the log */
    td_sub *gapped = open_sub(NULL, NULL, NULL, TD_SUB_FROM_NOW, IDLE_NEVER_MS, STALL_RCVBUF);
    td_sub *one = open_sub(NULL, "reseller", FILTER_PARTNER, TD_SUB_FROM_NOW, 0, STALL_RCVBUF);
    wait_sub_connected(plain);
    wait_sub_connected(gapped);
    wait_sub_connected(one);
    deals(0, STALL_PARTNERS);
    deals(0, STALL_SECOND_DEAL);
    size_t burst = STALL_PARTNERS + STALL_SECOND_DEAL;

    /* what survived in the socket buffers, then one more change whose
     * sequence number shows the hole */
    recs got = {0};
    read_into(gapped, &got, burst, QUIET_MS);
    ck_assert_msg(got.n > 0 && got.n < burst, "%zu of %zu changes arrived live", got.n, burst);
    deals(STALL_PARTNERS - 1, 1);
    recs want = log_after(0, NULL, NULL);
    ck_assert_uint_eq(want.n, burst + 1);
    read_into(gapped, &got, want.n, NEXT_MS);
    ck_assert_uint_eq(got.n, want.n);
    for (size_t i = 0; i < want.n; i++) {
        ck_assert_uint_eq(got.v[i].seq, want.v[i].seq);
        ck_assert_str_eq(got.v[i].partner, want.v[i].partner);
        ck_assert_str_eq(got.v[i].to, want.v[i].to);
    }
    td_sub_info info;
    td_sub_get_info(gapped, &info);
    ck_assert_uint_ge(info.gaps, 1);
    ck_assert_uint_gt(info.from_log, 0);
    ck_assert_uint_eq(info.live + info.from_log, want.n);
    recs_free(&got);

    /* how much of it this one takes live depends on whether its idle poll
     * came first; that all of it arrives once does not */
    expect_exactly(plain, &want);
    td_sub_get_info(plain, &info);
    ck_assert_uint_gt(info.from_log, 0);
    ck_assert_uint_eq(info.live + info.from_log, want.n);
    recs_free(&want);

    want = log_after(0, "reseller", FILTER_PARTNER);
    ck_assert_uint_eq(want.n, 2);
    expect_exactly(one, &want);
    recs_free(&want);
    td_sub_close(plain);
    td_sub_close(gapped);
    td_sub_close(one);
    stop_daemon();
}
END_TEST

/* A publisher of our own stands in for tierd's PUB socket and sends what a
 * hostile or broken peer might; the log is the real daemon's. */
START_TEST(test_malformed_pub_messages_are_skipped_and_the_log_fills_in)
{
    start_daemon();
    put_partners(1, 2, "reseller");
    char url[HARNESS_PATH_MAX + 32];
    snprintf(url, sizeof url, "ipc://%s/hostile.sock", h.work);
    int pub = nn_socket(AF_SP, NN_PUB);
    ck_assert_int_ge(pub, 0);
    ck_assert_int_ge(nn_bind(pub, url), 0);
    td_sub *s = open_sub(url, NULL, NULL, TD_SUB_FROM_NOW, IDLE_NEVER_MS, 0);
    wait_sub_connected(s);
    deals(1, 2); /* 1 and 2 in the log; nothing of it on our PUB */

    Tierd__TierChange c = TIERD__TIER_CHANGE__INIT;
    c.sequence = 2;
    c.partner = "p-00002";
    c.ladder = "reseller";
    uint8_t packed[256];
    size_t plen = tierd__tier_change__pack(&c, packed);
    const char topic_lie[] = "change/reseller/p-00001\n"; /* not the change it carries */
    const char no_payload[] = "change/reseller/p-00002\n\xff\xff\xff";
    uint8_t buf[512];
    ck_assert_int_eq(nn_send(pub, "change/ but no newline", 22, 0), 22);
    ck_assert_int_eq(nn_send(pub, no_payload, sizeof no_payload - 1, 0),
                     (int)sizeof no_payload - 1);
    memcpy(buf, topic_lie, strlen(topic_lie));
    memcpy(buf + strlen(topic_lie), packed, plen);
    ck_assert_int_eq(nn_send(pub, buf, strlen(topic_lie) + plen, 0),
                     (int)(strlen(topic_lie) + plen));

    recs want = log_after(0, NULL, NULL);
    ck_assert_uint_eq(want.n, 2);
    expect_exactly(s, &want);
    td_sub_info info;
    td_sub_get_info(s, &info);
    ck_assert_uint_eq(info.malformed, 3);
    ck_assert_uint_eq(info.from_log, 2);
    recs_free(&want);
    td_sub_close(s);
    nn_close(pub);
    stop_daemon();
}
END_TEST

/* ---- restarts ------------------------------------------------------------------------- */

START_TEST(test_a_subscriber_opened_with_since_after_a_restart_catches_up_from_there)
{
    start_daemon();
    put_partners(1, 5, "reseller");
    deals(1, 5); /* 1..5 */
    restart_daemon();
    deals(1, 2); /* 6, 7 after the restart */
    ck_assert_uint_eq(last_sequence(), 7);
    td_sub *s = open_sub(NULL, NULL, NULL, 3, IDLE_NEVER_MS, 0);
    wait_sub_connected(s);
    deals(3, 1); /* 8, live */
    recs want = log_after(3, NULL, NULL);
    ck_assert_uint_eq(want.n, 5);
    ck_assert_uint_eq(want.v[0].seq, 4);
    expect_exactly(s, &want);
    td_sub_info info;
    td_sub_get_info(s, &info);
    ck_assert_uint_eq(info.from_log, 4);
    ck_assert_uint_eq(info.live, 1);
    recs_free(&want);
    td_sub_close(s);
    stop_daemon();
}
END_TEST

/* The subscriber stays open while tierd stops and starts again; what was
 * published while its SUB socket reconnected comes from the log. */
START_TEST(test_a_subscriber_keeps_its_place_across_a_daemon_restart)
{
    start_daemon();
    put_partners(1, 4, "reseller");
    td_sub *s = open_sub(NULL, NULL, NULL, TD_SUB_FROM_NOW, IDLE_FAST_MS, 0);
    wait_sub_connected(s);
    deals(1, 2); /* 1, 2 */
    recs before = log_after(0, NULL, NULL);
    ck_assert_uint_eq(before.n, 2);
    for (size_t i = 0; i < before.n; i++) {
        Tierd__TierChange *c = NULL;
        td_error err = {0};
        ck_assert_msg(td_sub_next(s, NEXT_MS, &c, &err) == 0, "%s", err.message);
        ck_assert_uint_eq(c->sequence, before.v[i].seq);
        tierd__tier_change__free_unpacked(c, NULL);
    }
    recs_free(&before);

    ck_assert_int_eq(harness_stop(&h), 0);
    /* while tierd is away: no change, and no give-up */
    Tierd__TierChange *c = NULL;
    td_error err = {0};
    int rc = td_sub_next(s, QUIET_MS, &c, &err);
    ck_assert_msg(rc == -(int)TD_UNAVAILABLE || rc == -(int)TD_DEADLINE_EXCEEDED, "rc %d: %s", rc,
                  err.message);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(harness_start(&h, "--fake-clock", FAKE_NOW, NULL), 0);
    deals(3, 2); /* 3, 4 */
    deals(1, 1); /* 5 */

    recs want = log_after(2, NULL, NULL);
    ck_assert_uint_eq(want.n, 3);
    for (size_t i = 0; i < want.n;) {
        c = NULL;
        rc = td_sub_next(s, NEXT_MS, &c, &err);
        if (rc == -(int)TD_UNAVAILABLE)
            continue; /* a catch-up that ran before tierd was back */
        ck_assert_msg(rc == 0, "change %zu: %s", i + 1, err.message);
        ck_assert_uint_eq(c->sequence, want.v[i].seq);
        ck_assert_str_eq(c->partner, want.v[i].partner);
        tierd__tier_change__free_unpacked(c, NULL);
        i++;
    }
    rc = td_sub_next(s, QUIET_MS, &c, &err);
    ck_assert_int_eq(rc, -(int)TD_DEADLINE_EXCEEDED);
    recs_free(&want);

    /* the SUB socket found the new daemon by itself */
    wait_sub_connected(s);
    deals(2, 1); /* 6 */
    ck_assert_msg(td_sub_next(s, NEXT_MS, &c, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(c->sequence, 6);
    tierd__tier_change__free_unpacked(c, NULL);
    td_sub_close(s);
    stop_daemon();
}
END_TEST

/* ---- tierctl watch -------------------------------------------------------------------- */

typedef struct watcher {
    pid_t pid;
    char out[HARNESS_PATH_MAX];
} watcher;

static void watcher_start(watcher *w, const char *name, const char *const *args)
{
    const char *argv[HARNESS_MAX_ARGS] = {"--json", "watch"};
    size_t n = 2;
    for (size_t i = 0; args[i] && n + 1 < HARNESS_MAX_ARGS; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    w->pid = harness_tierctl_spawn(&h, name, argv, w->out, NULL);
}

/* Waits for `lines` lines, the last one a change made after all the others
 * a test looks at: the watch prints in sequence order, so a line too many
 * would be among them. Then SIGTERM; returns the output (malloc'd). */
static char *watcher_finish(watcher *w, size_t lines)
{
    tu_deadline d = tu_deadline_in(WATCH_WAIT_MS);
    while (tu_count_lines(w->out) < lines && tu_poll(&d))
        ;
    kill(w->pid, SIGTERM);
    int status = -1;
    ck_assert_msg(tu_wait_exit(w->pid, WATCH_WAIT_MS, &status), "tierctl watch did not stop");
    ck_assert_msg(status == 0, "tierctl watch ended with %d", status);
    return tu_read_file(w->out, WATCH_OUT_MAX);
}

/* Checks one line of `tierctl --json watch` against the change it names. */
static void check_line(json_t *doc, uint64_t seq, const char *partner, const char *from,
                       const char *to)
{
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "sequence")), (json_int_t)seq);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "partner")), partner);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "ladder")), "reseller");
    if (from)
        ck_assert_str_eq(json_string_value(json_object_get(doc, "from")), from);
    else
        ck_assert(json_is_null(json_object_get(doc, "from")));
    ck_assert_str_eq(json_string_value(json_object_get(doc, "to")), to);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "cause")), "promotion");
}

START_TEST(test_tierctl_watch_json_prints_each_change_as_one_line)
{
    start_daemon();
    put_partners(1, 2, "reseller");
    deals(1, 1); /* 1: before the watch's starting point */
    char since[32];
    snprintf(since, sizeof since, "%llu", (unsigned long long)last_sequence());
    watcher all, one;
    watcher_start(&all, "all", (const char *const[]){"--since", since, NULL});
    watcher_start(&one, "one",
                  (const char *const[]){"--since", since, "--ladder", "reseller", "--partner",
                                        "p-00002", NULL});
    deals(2, 1); /* 2: p-00002 Registered */
    deals(1, 1); /* 3: p-00001 Selling */
    deals(2, 1); /* 4: p-00002 Selling */
    deals(2, 1); /* 5: p-00002 Gold, the last line both watches print */

    char *text = watcher_finish(&all, 4);
    const struct {
        uint64_t seq;
        const char *partner, *from, *to;
    } want[] = {{2, "p-00002", NULL, "Registered"},
                {3, "p-00001", "Registered", "Selling"},
                {4, "p-00002", "Registered", "Selling"},
                {5, "p-00002", "Selling", "Gold"}};
    size_t n = 0;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save), n++) {
        json_error_t je;
        json_t *doc = json_loads(line, 0, &je);
        ck_assert_msg(doc != NULL, "line %zu is not JSON: %s", n + 1, line);
        ck_assert_msg(n < 4, "a fifth line: %s", line);
        check_line(doc, want[n].seq, want[n].partner, want[n].from, want[n].to);
        json_decref(doc);
    }
    ck_assert_uint_eq(n, 4);
    free(text);

    text = watcher_finish(&one, 3);
    const size_t of_p2[] = {0, 2, 3};
    n = 0;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save), n++) {
        json_t *doc = json_loads(line, 0, NULL);
        ck_assert_msg(doc != NULL && n < 3, "line %zu: %s", n + 1, line);
        size_t k = of_p2[n];
        check_line(doc, want[k].seq, want[k].partner, want[k].from, want[k].to);
        json_decref(doc);
    }
    ck_assert_uint_eq(n, 3);
    free(text);
    stop_daemon();
}
END_TEST

/* ---- arguments ------------------------------------------------------------------------ */

START_TEST(test_the_pub_url_follows_the_rpc_url_or_is_refused)
{
    char out[TD_PUB_URL_MAX];
    td_error err = {0};
    ck_assert_int_eq(td_client_pub_url("ipc:///var/lib/tierd/rpc.sock", out, sizeof out, &err), 0);
    ck_assert_str_eq(out, "ipc:///var/lib/tierd/pub.sock");
    ck_assert_int_eq(td_client_pub_url("tcp://127.0.0.1:7450", out, sizeof out, &err), 0);
    ck_assert_str_eq(out, "tcp://127.0.0.1:7451");
    ck_assert_int_eq(td_client_pub_url("tcp://127.0.0.1:9000", out, sizeof out, &err),
                     -(int)TD_INVALID_ARGUMENT);
    ck_assert_msg(strstr(err.message, "cannot tell the publish URL"), "%s", err.message);
    ck_assert_int_eq(td_client_pub_url("ipc:///tmp/rpc.sock", out, 8, &err),
                     -(int)TD_INVALID_ARGUMENT);
}
END_TEST

START_TEST(test_a_subscription_refuses_bad_filters_and_an_absent_daemon)
{
    harness_init(&h);
    cli = harness_client(&h, NULL); /* nothing listens at h.url */
    td_sub *s = NULL;
    td_error err = {0};
    ck_assert_int_eq(td_sub_open(cli, NULL, "reseller\nx", NULL, 0, &s, &err),
                     -(int)TD_INVALID_ARGUMENT);
    ck_assert_ptr_null(s);
    char *long_id = malloc(TD_PUB_URL_MAX + 1);
    memset(long_id, 'p', TD_PUB_URL_MAX);
    long_id[TD_PUB_URL_MAX] = 0;
    ck_assert_int_eq(td_sub_open(cli, NULL, NULL, long_id, 0, &s, &err), -(int)TD_INVALID_ARGUMENT);
    free(long_id);
    ck_assert_int_eq(td_sub_open(cli, NULL, NULL, NULL, TD_SUB_FROM_NOW, &s, &err),
                     -(int)TD_UNAVAILABLE);
    ck_assert_int_eq(td_sub_open(cli, NULL, NULL, NULL, 0, &s, &err), -(int)TD_UNAVAILABLE);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(td_sub_next(NULL, 0, NULL, &err), -(int)TD_INVALID_ARGUMENT);
    td_client_close(cli);
    cli = NULL;
    harness_cleanup(&h);
}
END_TEST

static Suite *watch_suite(void)
{
    Suite *s = suite_create("watch");
    TCase *tc = tcase_create("feed");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_a_subscriber_receives_live_changes_in_order_with_their_topics);
    tcase_add_test(tc, test_a_filtered_subscriber_gets_only_its_ladder_and_partner_in_global_order);
    tcase_add_test(tc, test_a_change_the_pub_socket_never_delivers_arrives_by_the_idle_poll);
    tcase_add_test(tc, test_a_stalled_subscriber_gets_every_change_once_in_order_after_pub_drops);
    tcase_add_test(tc, test_malformed_pub_messages_are_skipped_and_the_log_fills_in);
    tcase_add_test(tc, test_a_subscriber_opened_with_since_after_a_restart_catches_up_from_there);
    tcase_add_test(tc, test_a_subscriber_keeps_its_place_across_a_daemon_restart);
    tcase_add_test(tc, test_tierctl_watch_json_prints_each_change_as_one_line);
    tcase_add_test(tc, test_the_pub_url_follows_the_rpc_url_or_is_refused);
    tcase_add_test(tc, test_a_subscription_refuses_bad_filters_and_an_absent_daemon);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(watch_suite());
}
