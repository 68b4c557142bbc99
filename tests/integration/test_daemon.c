/* The daemon shell end to end: the real tierd binary on temporary state
 * dirs with ipc endpoints, driven through libtierd-client, tierctl and raw
 * nanomsg sockets. What it proves: requests round-trip; tokens and roles
 * are enforced; hostile bytes get an error reply (or are dropped) and never
 * stop the daemon; SIGTERM exits 0 and cleans up its sockets; the ipc
 * socket is 0660; a state dir serves one daemon; bad configs are refused
 * with file:line:column. */
#include <check.h>
#include <nanomsg/nn.h>
#include <nanomsg/pubsub.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "tierd.pb-c.h"

#define RAW_TIMEOUT_MS 2000
#define TOKEN_READ     "read-token-0123456789"
#define TOKEN_WRITE    "write-token-0123456789"
#define TOKEN_ADMIN    "admin-token-0123456789"
#define OVERSIZE_LIMIT 2048

static const char tokens_config[] = "tokens:\n"
                                    "  - {name: reader, token: " TOKEN_READ ", role: read}\n"
                                    "  - {name: writer, token: " TOKEN_WRITE ", role: write}\n"
                                    "  - {name: boss, token: " TOKEN_ADMIN ", role: admin}\n";

static void start_plain(harness *h)
{
    harness_init(h);
    HARNESS_START_OK(h, NULL);
}

/* A daemon whose config holds the reader, writer and admin tokens. */
static void start_with_tokens(harness *h)
{
    harness_init(h);
    harness_write_config(h, tokens_config);
    HARNESS_START_OK(h, NULL);
}

static int status_with(const harness *h, const char *token, td_error *err)
{
    td_client *c = harness_client(h, token);
    Tierd__StatusResponse *st = NULL;
    int rc = td_client_status(c, &st, err);
    if (st)
        tierd__status_response__free_unpacked(st, NULL);
    td_client_close(c);
    return rc;
}

/* Sends raw bytes on a REQ socket; returns the decoded Reply or NULL when
 * none came within RAW_TIMEOUT_MS. */
static Tierd__Reply *raw_request(const harness *h, const void *buf, size_t len)
{
    void *msg = NULL;
    int n = harness_raw_exchange(h, buf, len, &msg, RAW_TIMEOUT_MS);
    if (n < 0)
        return NULL;
    Tierd__Reply *r = tierd__reply__unpack(NULL, (size_t)n, msg);
    nn_freemsg(msg);
    ck_assert_msg(r != NULL, "the daemon's reply is not a Reply");
    return r;
}

static Tierd__Reply *envelope_request(const harness *h, const char *method, const char *token,
                                      const uint8_t *payload, size_t plen)
{
    Tierd__Envelope env = TIERD__ENVELOPE__INIT;
    env.method = (char *)method;
    env.request_id = 4242;
    env.token = (char *)(token ? token : "");
    env.payload.data = (uint8_t *)payload;
    env.payload.len = plen;
    size_t len = tierd__envelope__get_packed_size(&env);
    uint8_t *buf = malloc(len + 1);
    tierd__envelope__pack(&env, buf);
    Tierd__Reply *r = raw_request(h, buf, len);
    free(buf);
    return r;
}

/* Checks that a reply came with status and, when message is given, that
 * message; frees it. */
static void expect_reply(Tierd__Reply *r, Tierd__Status status, const char *message)
{
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->status, status);
    if (message)
        ck_assert_str_eq(r->message, message);
    tierd__reply__free_unpacked(r, NULL);
}

/* After what a test sent: the daemon still answers, and stops cleanly. */
static void expect_serving_then_stop(harness *h)
{
    td_error err = {0};
    ck_assert_msg(status_with(h, NULL, &err) == 0, "%s", err.message);
    harness_finish(h);
}

START_TEST(test_status_round_trips_through_the_client_library)
{
    harness h;
    start_plain(&h);
    td_client *c = harness_client(&h, NULL);
    Tierd__StatusResponse *st = NULL;
    td_error err = {0};
    ck_assert_int_eq(td_client_status(c, &st, &err), 0);
    ck_assert_str_eq(st->state_dir, h.state);
    ck_assert_uint_eq(st->n_listen, 1);
    ck_assert_str_eq(st->listen[0], h.url);
    ck_assert(!st->fake_clock);
    ck_assert_str_eq(st->program, "");
    tierd__status_response__free_unpacked(st, NULL);
    td_client_close(c);
    harness_finish(&h);
}
END_TEST

START_TEST(test_wrong_or_missing_token_is_permission_denied)
{
    harness h;
    start_with_tokens(&h);
    td_error err = {0};
    ck_assert_int_eq(status_with(&h, TOKEN_READ, &err), 0);
    ck_assert_int_ne(status_with(&h, "not-a-token-at-all-xx", &err), 0);
    ck_assert_int_eq(err.code, TD_PERMISSION_DENIED);
    ck_assert_msg(strstr(err.message, "unknown token"), "%s", err.message);
    Tierd__Reply *r = envelope_request(&h, "Status", "", NULL, 0);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->status, TIERD__STATUS__PERMISSION_DENIED);
    ck_assert_str_eq(r->message, "missing token");
    ck_assert_uint_eq(r->request_id, 4242);
    tierd__reply__free_unpacked(r, NULL);
    harness_finish(&h);
}
END_TEST

START_TEST(test_read_token_cannot_put_program_but_admin_reaches_the_handler)
{
    harness h;
    start_with_tokens(&h);
    Tierd__PutProgramRequest req = TIERD__PUT_PROGRAM_REQUEST__INIT;
    req.yaml = "not: a program\n";
    req.dry_run = true;
    size_t len = tierd__put_program_request__get_packed_size(&req);
    uint8_t buf[256];
    ck_assert_uint_lt(len, sizeof buf);
    tierd__put_program_request__pack(&req, buf);

    const char *denied[] = {TOKEN_READ, TOKEN_WRITE};
    for (size_t i = 0; i < 2; i++) {
        Tierd__Reply *r = envelope_request(&h, "PutProgram", denied[i], buf, len);
        expect_reply(r, TIERD__STATUS__PERMISSION_DENIED, "token lacks role admin for PutProgram");
    }
    /* The admin token passes the role check: whatever the handler says, it
     * is not a permission problem. */
    Tierd__Reply *r = envelope_request(&h, "PutProgram", TOKEN_ADMIN, buf, len);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_ne(r->status, TIERD__STATUS__PERMISSION_DENIED);
    tierd__reply__free_unpacked(r, NULL);
    harness_finish(&h);
}
END_TEST

START_TEST(test_random_bytes_get_an_invalid_argument_reply_and_the_daemon_keeps_serving)
{
    harness h;
    start_plain(&h);
    srand(7);
    for (int round = 0; round < 20; round++) {
        uint8_t junk[512];
        size_t len = 1 + (size_t)rand() % sizeof junk;
        for (size_t i = 0; i < len; i++)
            junk[i] = (uint8_t)rand();
        Tierd__Reply *r = raw_request(&h, junk, len);
        /* Junk that happens to decode as an Envelope names no method. */
        expect_reply(r, TIERD__STATUS__INVALID_ARGUMENT, NULL);
    }
    expect_serving_then_stop(&h);
}
END_TEST

START_TEST(test_truncated_envelope_is_refused_as_not_an_envelope)
{
    harness h;
    start_plain(&h);
    Tierd__Envelope env = TIERD__ENVELOPE__INIT;
    env.method = "Status";
    env.request_id = 9;
    uint8_t buf[64];
    size_t len = tierd__envelope__pack(&env, buf);
    /* Cut inside the method string: its length prefix promises more. */
    ck_assert_uint_gt(len, 4);
    Tierd__Reply *r = raw_request(&h, buf, 4);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->status, TIERD__STATUS__INVALID_ARGUMENT);
    ck_assert_msg(strstr(r->message, "request is not a valid Envelope"), "%s", r->message);
    tierd__reply__free_unpacked(r, NULL);
    expect_serving_then_stop(&h);
}
END_TEST

START_TEST(test_unknown_method_and_undecodable_payload_are_invalid_argument)
{
    harness h;
    start_plain(&h);
    Tierd__Reply *r = envelope_request(&h, "Reboot", NULL, NULL, 0);
    expect_reply(r, TIERD__STATUS__INVALID_ARGUMENT, "unknown method 'Reboot'");
    const uint8_t bad[] = {0x0a, 0x7f, 'x'}; /* field 1 claims 127 bytes, has 1 */
    r = envelope_request(&h, "PutProgram", NULL, bad, sizeof bad);
    expect_reply(r, TIERD__STATUS__INVALID_ARGUMENT,
                 "payload does not decode as tierd.PutProgramRequest");
    harness_finish(&h);
}
END_TEST

START_TEST(test_oversized_request_is_refused_or_dropped_and_the_daemon_keeps_serving)
{
    harness h;
    harness_init(&h);
    harness_write_config(&h, "max_request_bytes: 2048\n");
    ck_assert_int_eq(harness_start(&h, NULL), 0);
    size_t big = OVERSIZE_LIMIT * 4;
    uint8_t *payload = calloc(1, big);
    Tierd__Reply *r = envelope_request(&h, "Status", NULL, payload, big);
    if (r) {
        ck_assert_int_eq(r->status, TIERD__STATUS__RESOURCE_EXHAUSTED);
        tierd__reply__free_unpacked(r, NULL);
    }
    free(payload);
    expect_serving_then_stop(&h);
}
END_TEST

START_TEST(test_sigterm_exits_zero_and_removes_the_ipc_socket)
{
    harness h;
    start_plain(&h);
    char path[HARNESS_PATH_MAX];
    snprintf(path, sizeof path, "%s/rpc.sock", h.state);
    ck_assert_int_eq(access(path, F_OK), 0);
    ck_assert_int_eq(harness_stop(&h), 0);
    ck_assert_int_ne(access(path, F_OK), 0);
    harness_cleanup(&h);
}
END_TEST

START_TEST(test_ipc_socket_mode_is_0660)
{
    harness h;
    start_plain(&h);
    char path[HARNESS_PATH_MAX];
    snprintf(path, sizeof path, "%s/rpc.sock", h.state);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0660);
    harness_finish(&h);
}
END_TEST

START_TEST(test_second_tierd_on_the_same_state_dir_refuses_to_start)
{
    harness a, b;
    start_plain(&a);
    harness_init_shared(&b, &a);
    ck_assert_int_eq(harness_start(&b, NULL), -1);
    ck_assert_int_ne(b.exit_status, 0);
    char *log = harness_log(&b);
    ck_assert_msg(strstr(log, "in use"), "log: %s", log);
    free(log);
    /* The first daemon lost nothing, its socket included. */
    td_error err = {0};
    ck_assert_int_eq(status_with(&a, NULL, &err), 0);
    ck_assert_int_eq(harness_stop(&a), 0);
    harness_cleanup(&b);
    harness_cleanup(&a);
}
END_TEST

START_TEST(test_tierctl_against_a_stopped_daemon_exits_3)
{
    harness h;
    start_plain(&h);
    ck_assert_int_eq(HARNESS_TIERCTL(&h, NULL, NULL, "status"), 0);
    ck_assert_int_eq(harness_stop(&h), 0);
    ck_assert_int_eq(HARNESS_TIERCTL(&h, NULL, NULL, "status"), 3);
    harness_cleanup(&h);
}
END_TEST

START_TEST(test_unknown_config_key_is_refused_with_file_line_column)
{
    harness h;
    harness_init(&h);
    harness_write_config(&h, "log_level: info\nlisten_on: [ipc:///x]\n");
    ck_assert_int_eq(harness_start(&h, NULL), -1);
    ck_assert_int_eq(h.exit_status, 1);
    char *log = harness_log(&h);
    char want[HARNESS_PATH_MAX + 32];
    snprintf(want, sizeof want, "%s:2:1: unknown key 'listen_on'", h.config);
    ck_assert_msg(strstr(log, want), "log: %s", log);
    free(log);
    harness_cleanup(&h);
}
END_TEST

START_TEST(test_non_loopback_tcp_is_refused_without_allow_remote)
{
    harness h;
    harness_init(&h);
    harness_write_config(&h, tokens_config);
    ck_assert_int_eq(harness_start(&h, "--listen", "tcp://10.1.2.3:7450", NULL), -1);
    ck_assert_int_eq(h.exit_status, 1);
    char *log = harness_log(&h);
    ck_assert_msg(strstr(log, "not a loopback address"), "log: %s", log);
    free(log);
    harness_cleanup(&h);
}
END_TEST

START_TEST(test_bad_flags_exit_2_with_usage)
{
    harness h;
    harness_init(&h);
    ck_assert_int_eq(harness_start(&h, "--no-such-flag", NULL), -1);
    ck_assert_int_eq(h.exit_status, 2);
    char *log = harness_log(&h);
    ck_assert_msg(strstr(log, "usage: tierd"), "log: %s", log);
    free(log);
    harness_cleanup(&h);
}
END_TEST

START_TEST(test_clock_advance_needs_fake_clock_and_moves_a_fake_one)
{
    harness h;
    start_plain(&h);
    char *err = NULL;
    ck_assert_int_eq(HARNESS_TIERCTL(&h, NULL, &err, "clock", "advance", "1d"), 1);
    ck_assert_msg(strstr(err, "clock advance needs --fake-clock"), "%s", err);
    free(err);
    harness_finish(&h);

    harness_init(&h);
    ck_assert_int_eq(harness_start(&h, "--fake-clock", "2026-01-01T00:00:00Z", NULL), 0);
    td_client *c = harness_client(&h, NULL);
    Tierd__ClockResponse *cr = NULL;
    td_error e = {0};
    ck_assert_int_eq(td_client_clock(c, "2d", &cr, &e), 0);
    ck_assert(cr->fake);
    ck_assert_int_eq(cr->now, 1767225600 + 2 * 86400);
    tierd__clock_response__free_unpacked(cr, NULL);
    td_client_close(c);
    harness_finish(&h);
}
END_TEST

START_TEST(test_lifecycle_methods_reach_their_handlers)
{
    harness h;
    start_plain(&h);
    /* No program is loaded: the handler refuses, but it is the handler
     * answering, not the table. */
    Tierd__Reply *r = envelope_request(&h, "SetOverride", NULL, NULL, 0);
    expect_reply(r, TIERD__STATUS__FAILED_PRECONDITION, NULL);
    harness_finish(&h);
}
END_TEST

START_TEST(test_sighup_applies_new_tokens_live)
{
    harness h;
    start_with_tokens(&h);
    td_error err = {0};
    ck_assert_int_eq(status_with(&h, TOKEN_READ, &err), 0);
    harness_write_config(&h, "tokens:\n"
                             "  - {name: fresh, token: fresh-token-0123456789, role: read}\n");
    ck_assert_int_eq(kill(h.pid, SIGHUP), 0);
    /* The reload runs on the loop; poll until the old token stops working. */
    tu_deadline d = tu_deadline_in(HARNESS_WAIT_MS);
    int rc;
    while ((rc = status_with(&h, TOKEN_READ, &err)) == 0 && tu_poll(&d))
        ;
    ck_assert_int_ne(rc, 0);
    ck_assert_int_eq(err.code, TD_PERMISSION_DENIED);
    ck_assert_int_eq(status_with(&h, "fresh-token-0123456789", &err), 0);
    harness_finish(&h);
}
END_TEST

/* The refusal must be seen to happen (its log line), and what it kept must
 * be the running config and not something in between: the old tokens
 * still open the door and it stays shut to a client without one. A good
 * config after it still applies, so the SIGHUP path lived through it. */
START_TEST(test_sighup_keeps_the_running_config_when_the_new_one_is_broken)
{
    harness h;
    start_with_tokens(&h);
    harness_write_config(&h, "tokens: [\n");
    ck_assert_int_eq(kill(h.pid, SIGHUP), 0);
    if (!harness_wait_log(&h, "config not reloaded", 1, HARNESS_WAIT_MS)) {
        char *log = harness_log(&h);
        ck_abort_msg("no refusal in the log: %s", log);
    }
    td_error err = {0};
    ck_assert_int_eq(status_with(&h, TOKEN_READ, &err), 0);
    ck_assert_int_eq(status_with(&h, NULL, &err), -TD_PERMISSION_DENIED);

    harness_write_config(&h, "tokens:\n"
                             "  - {name: fresh, token: fresh-token-0123456789, role: read}\n");
    ck_assert_int_eq(kill(h.pid, SIGHUP), 0);
    tu_deadline d = tu_deadline_in(HARNESS_WAIT_MS);
    int rc;
    while ((rc = status_with(&h, "fresh-token-0123456789", &err)) != 0 && tu_poll(&d))
        ;
    ck_assert_msg(rc == 0, "the good config after the broken one was not applied: %s", err.message);
    harness_finish(&h);
}
END_TEST

START_TEST(test_a_tier_change_is_published_with_its_topic_after_commit)
{
    const char *root = getenv("TIERD_SOURCE_ROOT");
    ck_assert_ptr_nonnull(root);
    char program[HARNESS_PATH_MAX];
    snprintf(program, sizeof program, "%s/examples/programs/partners.yaml", root);
    harness h;
    harness_init(&h);
    ck_assert_int_eq(
        harness_start(&h, "--fake-clock", "2026-01-01T00:00:00Z", "--program", program, NULL), 0);
    int sub = nn_socket(AF_SP, NN_SUB);
    ck_assert_int_ge(sub, 0);
    ck_assert_int_eq(nn_setsockopt(sub, NN_SUB, NN_SUB_SUBSCRIBE, "change/", 7), 0);
    int timeout = RAW_TIMEOUT_MS;
    nn_setsockopt(sub, NN_SOL_SOCKET, NN_RCVTIMEO, &timeout, sizeof timeout);
    ck_assert_int_ge(nn_connect(sub, h.pub_url), 0);
    ck_assert_msg(harness_wait_connected(sub, HARNESS_WAIT_MS), "the subscriber did not connect");

    ck_assert_int_eq(HARNESS_TIERCTL(&h, NULL, NULL, "partner", "put", "p1", "--type", "reseller"),
                     0);
    ck_assert_int_eq(HARNESS_TIERCTL(&h, NULL, NULL, "event", "add", "--partner", "p1", "--metric",
                                     "active_sellers", "--value", "1"),
                     0);
    ck_assert_int_eq(HARNESS_TIERCTL(&h, NULL, NULL, "event", "add", "--partner", "p1", "--metric",
                                     "contract_signed", "--value", "1"),
                     0);
    ck_assert_int_eq(HARNESS_TIERCTL(&h, NULL, NULL, "event", "add", "--partner", "p1", "--metric",
                                     "certification", "--key", "alice"),
                     0);
    void *msg = NULL;
    int n = nn_recv(sub, &msg, NN_MSG, 0);
    ck_assert_msg(n > 0, "no publication: %s", nn_strerror(nn_errno()));
    const char topic[] = "change/reseller/p1\n";
    ck_assert_int_gt(n, (int)strlen(topic));
    ck_assert(memcmp(msg, topic, strlen(topic)) == 0);
    Tierd__TierChange *tc = tierd__tier_change__unpack(NULL, (size_t)n - strlen(topic),
                                                       (const uint8_t *)msg + strlen(topic));
    ck_assert_ptr_nonnull(tc);
    ck_assert_str_eq(tc->partner, "p1");
    ck_assert_str_eq(tc->to_tier, "Registered");
    ck_assert_uint_eq(tc->sequence, 1);
    tierd__tier_change__free_unpacked(tc, NULL);
    nn_freemsg(msg);
    nn_close(sub);
    harness_finish(&h);
}
END_TEST

static Suite *daemon_suite(void)
{
    Suite *s = suite_create("daemon");
    TCase *tc = tcase_create("shell");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_status_round_trips_through_the_client_library);
    tcase_add_test(tc, test_wrong_or_missing_token_is_permission_denied);
    tcase_add_test(tc, test_read_token_cannot_put_program_but_admin_reaches_the_handler);
    tcase_add_test(tc,
                   test_random_bytes_get_an_invalid_argument_reply_and_the_daemon_keeps_serving);
    tcase_add_test(tc, test_truncated_envelope_is_refused_as_not_an_envelope);
    tcase_add_test(tc, test_unknown_method_and_undecodable_payload_are_invalid_argument);
    tcase_add_test(tc, test_oversized_request_is_refused_or_dropped_and_the_daemon_keeps_serving);
    tcase_add_test(tc, test_sigterm_exits_zero_and_removes_the_ipc_socket);
    tcase_add_test(tc, test_ipc_socket_mode_is_0660);
    tcase_add_test(tc, test_second_tierd_on_the_same_state_dir_refuses_to_start);
    tcase_add_test(tc, test_tierctl_against_a_stopped_daemon_exits_3);
    tcase_add_test(tc, test_unknown_config_key_is_refused_with_file_line_column);
    tcase_add_test(tc, test_non_loopback_tcp_is_refused_without_allow_remote);
    tcase_add_test(tc, test_bad_flags_exit_2_with_usage);
    tcase_add_test(tc, test_clock_advance_needs_fake_clock_and_moves_a_fake_one);
    tcase_add_test(tc, test_lifecycle_methods_reach_their_handlers);
    tcase_add_test(tc, test_sighup_applies_new_tokens_live);
    tcase_add_test(tc, test_a_tier_change_is_published_with_its_topic_after_commit);
    tcase_add_test(tc, test_sighup_keeps_the_running_config_when_the_new_one_is_broken);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(daemon_suite());
}
