/* Following the change log by long-poll, for followers the PUB socket does
 * not serve (a TCP URL with a token, where tierd publishes no feed):
 * ListChanges with wait_ms against the real tierd, the subscription client
 * in its log-only mode, and `tierctl watch` on a TCP URL.
 *
 * What it proves: a waiting ListChanges is answered when a change commits,
 * not before and not at its deadline, while other clients are served; it
 * ends empty at its deadline; SIGTERM answers it at once; a subscription
 * that follows by log alone delivers every change once, in order, promptly
 * and without polling in a loop; and with no PUB endpoint it can reach, a
 * subscription (and tierctl watch) follows by long-poll on its own. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "feed.h"
#include "harness.h"

#define FAKE_NOW                 "2026-01-01T00:00:00Z"
#define TOKEN                    "long-poll-token-0123456789" /* read: a follower */
#define WRITER_TOKEN             "long-poll-writer-0123456789"
#define LONG_WAIT_MS             20000u /* far longer than any answer the tests expect */
#define SHORT_WAIT_MS            500u
#define PROMPT_S                 5.0 /* "at once": well under LONG_WAIT_MS, generous for sanitizers */
#define DEADLINE_SLACK           0.05
#define SERVE_OTHERS_S           1.0
#define NEXT_MS                  10000
#define QUIET_MS                 300
#define IDLE_NEVER_MS            600000
#define LOG_WAIT_MS              10000
#define WATCH_WAIT_MS            15000
#define PAGE                     100
#define PARTNERS                 3
#define PARTNER_FMT              "p%d"
#define URL_MAX                  64
#define OUT_MAX                  (64 * 1024)
#define MAX_LOG_READS_PER_CHANGE 3 /* a long-poll per change, and a page */

#define TOKENS_CONFIG                                                                              \
    "tokens:\n  - {name: follower, token: %s, role: read}\n"                                       \
    "  - {name: writer, token: %s, role: write}\n"

static harness h;

/* A TCP port nobody listens on right now. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* Starts tierd with the test program, debug logs and the extra arguments;
 * token (NULL: none) is what the test's own clients send. */
static void start_daemon(const char *config, const char *token, const char *extra1,
                         const char *extra2)
{
    harness_init(&h);
    h.token = token;
    char path[HARNESS_PATH_MAX + 32];
    harness_write_file(&h, "program.yaml", feed_program_yaml, path, sizeof path);
    if (config)
        harness_write_config(&h, config);
    /* extra1 NULL ends the arguments there. */
    HARNESS_START_OK(&h, "--fake-clock", FAKE_NOW, "--program", path, "--log-level", "debug",
                     extra1, extra2, NULL);
    td_client *c = harness_client(&h, NULL);
    feed_put_partners(c, PARTNER_FMT, 1, PARTNERS, "reseller");
    td_client_close(c);
}

static void stop_daemon(void)
{
    harness_finish(&h);
}

/* One deal for partner pN: one tier change, committed before this returns.
 * A client of its own, as it may run on another thread. */
static void deal(int n)
{
    td_client *c = harness_client(&h, NULL);
    feed_deals(c, PARTNER_FMT, n, 1, FAKE_NOW);
    td_client_close(c);
}

/* The daemon's log line for a ListChanges that waits after since. */
static void parked_line(uint64_t since, char *out, size_t n)
{
    snprintf(out, n, " ms for a change after %llu\n", (unsigned long long)since);
}

/* How many times the daemon's log says a ListChanges waits after since. */
static size_t parked_count(uint64_t since)
{
    char want[64];
    parked_line(since, want, sizeof want);
    return harness_log_count(&h, want);
}

/* Waits until that count goes past `before`: one more is waiting now. */
static void wait_until_parked(uint64_t since, size_t before)
{
    char want[64];
    parked_line(since, want, sizeof want);
    ck_assert_msg(harness_wait_log(&h, want, before + 1, LOG_WAIT_MS),
                  "no ListChanges after %llu waited", (unsigned long long)since);
}

/* ---- a ListChanges that waits, on its own thread --------------------------------- */

typedef struct poll_call {
    pthread_t thread;
    td_client *c;
    uint64_t since;
    uint32_t wait_ms;
    int rc;
    td_error err;
    Tierd__ChangesResponse *resp;
    double secs;
} poll_call;

static void *poll_run(void *arg)
{
    poll_call *p = arg;
    double t0 = tu_now_s();
    p->rc = td_client_list_changes_wait(p->c, p->since, PAGE, p->wait_ms, &p->resp, &p->err);
    p->secs = tu_now_s() - t0;
    return NULL;
}

static void poll_start(poll_call *p, uint64_t since, uint32_t wait_ms)
{
    memset(p, 0, sizeof *p);
    p->c = harness_client(&h, NULL);
    p->since = since;
    p->wait_ms = wait_ms;
    ck_assert_int_eq(pthread_create(&p->thread, NULL, poll_run, p), 0);
}

static void poll_finish(poll_call *p)
{
    pthread_join(p->thread, NULL);
    td_client_close(p->c);
}

START_TEST(test_a_waiting_list_changes_is_answered_when_a_change_commits)
{
    start_daemon(NULL, NULL, NULL, NULL);
    poll_call p;
    poll_start(&p, 0, LONG_WAIT_MS);
    wait_until_parked(0, 0);

    /* The loop goes on serving everybody else meanwhile. */
    td_client *other = harness_client(&h, NULL);
    Tierd__StatusResponse *st = NULL;
    td_error err = {0};
    double t0 = tu_now_s();
    ck_assert_int_eq(td_client_status(other, &st, &err), 0);
    ck_assert_msg(tu_now_s() - t0 < SERVE_OTHERS_S, "Status took %.2f s", tu_now_s() - t0);
    ck_assert_uint_eq(st->last_sequence, 0);
    tierd__status_response__free_unpacked(st, NULL);
    td_client_close(other);

    deal(1);
    poll_finish(&p);
    ck_assert_msg(p.rc == 0, "%s", p.err.message);
    ck_assert_msg(p.secs < PROMPT_S, "answered after %.2f s", p.secs);
    ck_assert_uint_eq(p.resp->n_changes, 1);
    ck_assert_uint_eq(p.resp->changes[0]->sequence, 1);
    ck_assert_str_eq(p.resp->changes[0]->partner, "p1");
    ck_assert_str_eq(p.resp->changes[0]->to_tier, "Registered");
    tierd__changes_response__free_unpacked(p.resp, NULL);
    stop_daemon();
}
END_TEST

START_TEST(test_a_waiting_list_changes_ends_empty_at_its_deadline)
{
    start_daemon(NULL, NULL, NULL, NULL);
    deal(1); /* 1 */
    poll_call p;
    poll_start(&p, 1, SHORT_WAIT_MS);
    poll_finish(&p);
    ck_assert_msg(p.rc == 0, "%s", p.err.message);
    ck_assert_uint_eq(p.resp->n_changes, 0);
    ck_assert_uint_eq(p.resp->last_sequence, 1);
    ck_assert_msg(p.secs >= SHORT_WAIT_MS / 1000.0 - DEADLINE_SLACK, "answered after %.3f s",
                  p.secs);
    ck_assert_msg(p.secs < PROMPT_S, "answered after %.2f s", p.secs);
    tierd__changes_response__free_unpacked(p.resp, NULL);

    /* What is there already is answered at once, wait or not. */
    poll_start(&p, 0, LONG_WAIT_MS);
    poll_finish(&p);
    ck_assert_msg(p.rc == 0 && p.secs < PROMPT_S, "%s after %.2f s", p.err.message, p.secs);
    ck_assert_uint_eq(p.resp->n_changes, 1);
    tierd__changes_response__free_unpacked(p.resp, NULL);
    stop_daemon();
}
END_TEST

START_TEST(test_sigterm_answers_a_waiting_list_changes_at_once)
{
    start_daemon(NULL, NULL, NULL, NULL);
    poll_call p;
    poll_start(&p, 0, LONG_WAIT_MS);
    wait_until_parked(0, 0);
    ck_assert_int_eq(harness_stop(&h), 0);
    poll_finish(&p);
    ck_assert_msg(p.rc == 0, "%s", p.err.message);
    ck_assert_msg(p.secs < PROMPT_S, "answered after %.2f s", p.secs);
    ck_assert_uint_eq(p.resp->n_changes, 0);
    tierd__changes_response__free_unpacked(p.resp, NULL);
    harness_cleanup(&h);
}
END_TEST

/* ---- subscriptions by long-poll -------------------------------------------------- */

/* The next change within NEXT_MS; checks its sequence and partner. */
static void expect_change(td_sub *s, uint64_t seq, const char *partner, double *secs)
{
    Tierd__TierChange *c = NULL;
    td_error err = {0};
    double t0 = tu_now_s();
    int rc = td_sub_next(s, NEXT_MS, &c, &err);
    if (secs)
        *secs = tu_now_s() - t0;
    ck_assert_msg(rc == 0, "change %llu: %s", (unsigned long long)seq, err.message);
    ck_assert_uint_eq(c->sequence, seq);
    ck_assert_str_eq(c->partner, partner);
    tierd__tier_change__free_unpacked(c, NULL);
}

static void expect_quiet(td_sub *s)
{
    Tierd__TierChange *c = NULL;
    td_error err = {0};
    ck_assert_int_eq(td_sub_next(s, QUIET_MS, &c, &err), -(int)TD_DEADLINE_EXCEEDED);
}

/* A change made on another thread after a pause, while td_sub_next waits. */
typedef struct later {
    pthread_t thread;
    int partner;
    uint64_t since; /* what the waiting subscription has seen */
    size_t before;  /* waits after since logged before */
} later;

static void *later_run(void *arg)
{
    later *l = arg;
    wait_until_parked(l->since, l->before);
    deal(l->partner);
    return NULL;
}

START_TEST(test_a_subscription_follows_by_long_poll_alone)
{
    start_daemon(NULL, NULL, NULL, NULL);
    deal(1); /* 1: before the starting point */
    td_client *cli = harness_client(&h, NULL);
    td_sub_options o = {.pub_url = "ipc:///nonexistent/pub.sock", /* ignored: log only */
                        .partner = "p2",
                        .since = 1,
                        .idle_poll_ms = IDLE_NEVER_MS,
                        .follow = TD_SUB_FOLLOW_LOG};
    td_sub *s = NULL;
    td_error err = {0};
    ck_assert_msg(td_sub_open_opts(cli, &o, &s, &err) == 0, "%s", err.message);
    deal(2); /* 2: p2 Registered */
    deal(1); /* 3: p1 Selling, filtered out */
    expect_change(s, 2, "p2", NULL);
    expect_quiet(s);

    /* A change made while td_sub_next waits arrives as it commits: the
     * wait is the daemon's, not a poll every idle interval. */
    later l = {.partner = 2, .since = 3, .before = parked_count(3)};
    ck_assert_int_eq(pthread_create(&l.thread, NULL, later_run, &l), 0);
    double secs = 0;
    expect_change(s, 4, "p2", &secs); /* 4: p2 Selling */
    pthread_join(l.thread, NULL);
    ck_assert_msg(secs < PROMPT_S, "took %.2f s", secs);

    td_sub_info info;
    td_sub_get_info(s, &info);
    ck_assert(info.by_log);
    ck_assert_uint_eq(info.live, 0);
    ck_assert_uint_eq(info.from_log, 2);
    ck_assert_uint_eq(info.resume_from, 4);
    ck_assert_msg(info.log_reads <= 2 * MAX_LOG_READS_PER_CHANGE, "%llu log reads",
                  (unsigned long long)info.log_reads);
    td_sub_close(s);
    td_client_close(cli);
    stop_daemon();
}
END_TEST

START_TEST(test_a_subscription_whose_pub_socket_has_no_connection_waits_on_the_log)
{
    start_daemon(NULL, NULL, NULL, NULL);
    deal(1); /* 1 */
    td_client *cli = harness_client(&h, NULL);
    td_sub_options o = {.pub_url = "ipc:///nonexistent/pub.sock",
                        .since = TD_SUB_FROM_NOW,
                        .idle_poll_ms = IDLE_NEVER_MS,
                        .follow = TD_SUB_FOLLOW_PUB};
    td_sub *s = NULL;
    td_error err = {0};
    ck_assert_msg(td_sub_open_opts(cli, &o, &s, &err) == 0, "%s", err.message);
    later l = {.partner = 2, .since = 1, .before = parked_count(1)};
    ck_assert_int_eq(pthread_create(&l.thread, NULL, later_run, &l), 0);
    double secs = 0;
    expect_change(s, 2, "p2", &secs);
    pthread_join(l.thread, NULL);
    ck_assert_msg(secs < PROMPT_S, "took %.2f s", secs);
    td_sub_info info;
    td_sub_get_info(s, &info);
    ck_assert(!info.by_log);
    ck_assert(!info.connected);
    td_sub_close(s);
    td_client_close(cli);
    stop_daemon();
}
END_TEST

START_TEST(test_with_no_pub_endpoint_in_reach_a_subscription_follows_by_long_poll)
{
    char tcp[URL_MAX], config[256];
    snprintf(tcp, sizeof tcp, "tcp://127.0.0.1:%d", free_port());
    snprintf(config, sizeof config, TOKENS_CONFIG, TOKEN, WRITER_TOKEN);
    start_daemon(config, WRITER_TOKEN, "--listen", tcp);
    td_client *cli = NULL;
    td_error err = {0};
    ck_assert_int_eq(td_client_open(tcp, TOKEN, 0, &cli, &err), 0);
    td_sub_options o = {.since = 0};
    td_sub *s = NULL;
    ck_assert_msg(td_sub_open_opts(cli, &o, &s, &err) == 0, "%s", err.message);
    td_sub_info info;
    td_sub_get_info(s, &info);
    ck_assert(info.by_log);
    deal(3);
    expect_change(s, 1, "p3", NULL);
    expect_quiet(s);
    td_sub_close(s);
    td_client_close(cli);
    stop_daemon();
}
END_TEST

START_TEST(test_tierctl_watch_follows_a_tcp_url_with_a_token_by_long_poll)
{
    char tcp[URL_MAX], config[256];
    snprintf(tcp, sizeof tcp, "tcp://127.0.0.1:%d", free_port());
    snprintf(config, sizeof config, TOKENS_CONFIG, TOKEN, WRITER_TOKEN);
    start_daemon(config, WRITER_TOKEN, "--listen", tcp);
    /* The watch is tierctl with a token of its own on the TCP URL. */
    const char *bin = getenv("TIERCTL_BIN");
    ck_assert_ptr_nonnull(bin);
    char out[HARNESS_PATH_MAX + 32], errp[HARNESS_PATH_MAX + 32];
    snprintf(out, sizeof out, "%s/watch.out", h.work);
    snprintf(errp, sizeof errp, "%s/watch.err", h.work);
    pid_t pid = tu_spawn((const char *const[]){bin, "--url", tcp, "--token", TOKEN, "--json",
                                               "watch", "--since", "0", NULL},
                         NULL, out, errp);
    ck_assert_int_ge(pid, 0);
    deal(1);
    deal(2);
    tu_deadline d = tu_deadline_in(WATCH_WAIT_MS);
    while (tu_count_lines(out) < 2 && tu_poll(&d)) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            char *text = tu_read_file(errp, OUT_MAX);
            ck_abort_msg("tierctl watch ended early (%d): %s", st, text);
        }
    }
    kill(pid, SIGTERM);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "tierctl watch ended with %d",
                  status);
    ck_assert_uint_eq(tu_count_lines(out), 2);
    FILE *f = fopen(out, "r");
    char line[OUT_MAX];
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    ck_assert_msg(strstr(line, "\"sequence\": 1") || strstr(line, "\"sequence\":1"), "%s", line);
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    ck_assert_msg(strstr(line, "\"partner\": \"p2\"") || strstr(line, "\"partner\":\"p2\""), "%s",
                  line);
    fclose(f);
    stop_daemon();
}
END_TEST

static Suite *long_poll_suite(void)
{
    Suite *s = suite_create("long_poll");
    TCase *tc = tcase_create("list_changes");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_a_waiting_list_changes_is_answered_when_a_change_commits);
    tcase_add_test(tc, test_a_waiting_list_changes_ends_empty_at_its_deadline);
    tcase_add_test(tc, test_sigterm_answers_a_waiting_list_changes_at_once);
    tcase_add_test(tc, test_a_subscription_follows_by_long_poll_alone);
    tcase_add_test(tc, test_a_subscription_whose_pub_socket_has_no_connection_waits_on_the_log);
    tcase_add_test(tc, test_with_no_pub_endpoint_in_reach_a_subscription_follows_by_long_poll);
    tcase_add_test(tc, test_tierctl_watch_follows_a_tcp_url_with_a_token_by_long_poll);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(long_poll_suite());
}
