/* libtierd-client against a scripted REP socket in this process: what goes
 * into the Envelope, how a Reply's status becomes the call's result, and
 * that a garbled reply or payload is an error rather than a crash. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>

#include "tierd/client.h"
#include "testutil.h"

typedef enum script {
    SCRIPT_ECHO_METHOD,   /* OK; StatusResponse.version = the method name */
    SCRIPT_REFUSE,        /* status PERMISSION_DENIED with a message */
    SCRIPT_ODD_STATUS,    /* a status number outside the known range */
    SCRIPT_GARBAGE_REPLY, /* bytes that are no Reply */
    SCRIPT_GARBAGE_BODY,  /* a Reply whose payload is no StatusResponse */
    SCRIPT_SILENT,        /* never answers */
} script;

static char dir[128], url[256];
static int rep;
static script mode;
static pthread_t tid;
static char seen_method[64], seen_token[64];
static uint64_t seen_id;

static void send_reply(const Tierd__Reply *r)
{
    size_t len = tierd__reply__get_packed_size(r);
    uint8_t *buf = malloc(len + 1);
    tierd__reply__pack(r, buf);
    nn_send(rep, buf, len, 0);
    free(buf);
}

static void *serve(void *arg)
{
    (void)arg;
    for (;;) {
        void *msg;
        int n = nn_recv(rep, &msg, NN_MSG, 0);
        if (n < 0)
            return NULL;
        Tierd__Envelope *env = tierd__envelope__unpack(NULL, (size_t)n, msg);
        nn_freemsg(msg);
        if (!env)
            continue;
        snprintf(seen_method, sizeof seen_method, "%s", env->method);
        snprintf(seen_token, sizeof seen_token, "%s", env->token);
        seen_id = env->request_id;
        Tierd__Reply r = TIERD__REPLY__INIT;
        r.request_id = env->request_id;
        uint8_t body[256];
        Tierd__StatusResponse s = TIERD__STATUS_RESPONSE__INIT;
        switch (mode) {
        case SCRIPT_ECHO_METHOD:
            s.version = env->method;
            r.payload.len = tierd__status_response__pack(&s, body);
            r.payload.data = body;
            send_reply(&r);
            break;
        case SCRIPT_REFUSE:
            r.status = TIERD__STATUS__PERMISSION_DENIED;
            r.message = "token 'ro' has role read; PutProgram needs admin";
            send_reply(&r);
            break;
        case SCRIPT_ODD_STATUS:
            r.status = (Tierd__Status)99;
            r.message = "from the future";
            send_reply(&r);
            break;
        case SCRIPT_GARBAGE_REPLY:
            nn_send(rep, "\xff\xff\xff\xff", 4, 0);
            break;
        case SCRIPT_GARBAGE_BODY:
            body[0] = 0x0a; /* field 1, length-delimited, length far past the end */
            body[1] = 0x7f;
            r.payload.len = 2;
            r.payload.data = body;
            send_reply(&r);
            break;
        case SCRIPT_SILENT:
            break;
        }
        tierd__envelope__free_unpacked(env, NULL);
    }
}

static void start(script m)
{
    mode = m;
    ck_assert_ptr_nonnull(tu_tmpdir("test-client", dir, sizeof dir));
    snprintf(url, sizeof url, "ipc://%s/rpc.sock", dir);
    rep = nn_socket(AF_SP, NN_REP);
    ck_assert_int_ge(rep, 0);
    ck_assert_int_ge(nn_bind(rep, url), 0);
    ck_assert_int_eq(pthread_create(&tid, NULL, serve, NULL), 0);
}

static void stop(void)
{
    nn_close(rep);
    pthread_join(tid, NULL);
    ck_assert_int_eq(tu_rm_rf(dir), 0);
}

START_TEST(test_call_sends_method_token_and_increasing_ids)
{
    start(SCRIPT_ECHO_METHOD);
    td_client *c;
    td_error err;
    ck_assert_int_eq(td_client_open(url, "tok-1", 2000, &c, &err), 0);
    Tierd__StatusResponse *s;
    ck_assert_int_eq(td_client_status(c, &s, &err), 0);
    ck_assert_str_eq(s->version, "Status");
    tierd__status_response__free_unpacked(s, NULL);
    ck_assert_str_eq(seen_token, "tok-1");
    uint64_t first = seen_id;
    Tierd__GetProgramResponse *g;
    /* GetProgram's reply here is a StatusResponse; field 1 is a string in
     * both, so it decodes and names the method the daemon saw */
    ck_assert_int_eq(td_client_get_program(c, &g, &err), 0);
    ck_assert_str_eq(g->program, "GetProgram");
    tierd__get_program_response__free_unpacked(g, NULL);
    ck_assert_uint_gt(seen_id, first);
    td_client_close(c);
    stop();
}
END_TEST

START_TEST(test_refusal_keeps_the_daemons_code_and_message)
{
    start(SCRIPT_REFUSE);
    td_client *c;
    td_error err;
    ck_assert_int_eq(td_client_open(url, NULL, 2000, &c, &err), 0);
    Tierd__StatusResponse *s = (void *)1;
    int rc = td_client_status(c, &s, &err);
    ck_assert_int_eq(rc, -TD_PERMISSION_DENIED);
    ck_assert_int_eq(err.code, TD_PERMISSION_DENIED);
    ck_assert_str_eq(err.message, "token 'ro' has role read; PutProgram needs admin");
    ck_assert_ptr_null(s);
    td_client_close(c);
    stop();
}
END_TEST

START_TEST(test_unknown_status_number_becomes_unknown)
{
    start(SCRIPT_ODD_STATUS);
    td_client *c;
    td_error err;
    ck_assert_int_eq(td_client_open(url, NULL, 2000, &c, &err), 0);
    Tierd__StatusResponse *s;
    ck_assert_int_eq(td_client_status(c, &s, &err), -TD_UNKNOWN);
    ck_assert_str_eq(err.message, "from the future");
    td_client_close(c);
    stop();
}
END_TEST

START_TEST(test_garbled_reply_is_an_internal_error)
{
    start(SCRIPT_GARBAGE_REPLY);
    td_client *c;
    td_error err;
    ck_assert_int_eq(td_client_open(url, NULL, 2000, &c, &err), 0);
    Tierd__StatusResponse *s;
    ck_assert_int_eq(td_client_status(c, &s, &err), -TD_INTERNAL);
    ck_assert_ptr_nonnull(strstr(err.message, "malformed reply"));
    td_client_close(c);
    stop();
}
END_TEST

START_TEST(test_garbled_payload_is_an_internal_error)
{
    start(SCRIPT_GARBAGE_BODY);
    td_client *c;
    td_error err;
    ck_assert_int_eq(td_client_open(url, NULL, 2000, &c, &err), 0);
    Tierd__StatusResponse *s;
    ck_assert_int_eq(td_client_status(c, &s, &err), -TD_INTERNAL);
    ck_assert_ptr_nonnull(strstr(err.message, "malformed"));
    td_client_close(c);
    stop();
}
END_TEST

START_TEST(test_silent_daemon_is_unavailable_after_the_timeout_and_the_client_recovers)
{
    start(SCRIPT_SILENT);
    td_client *c;
    td_error err;
    ck_assert_int_eq(td_client_open(url, NULL, 300, &c, &err), 0);
    Tierd__StatusResponse *s;
    double t0 = tu_now_s();
    ck_assert_int_eq(td_client_status(c, &s, &err), -TD_UNAVAILABLE);
    double secs = tu_now_s() - t0;
    ck_assert_double_ge(secs, 0.25);
    ck_assert_double_lt(secs, 1.0);
    ck_assert_ptr_nonnull(strstr(err.message, "did not answer within 300 ms"));
    /* a REP socket that receives again drops the request it left
     * unanswered, so the same client's next call gets through */
    mode = SCRIPT_ECHO_METHOD;
    ck_assert_int_eq(td_client_status(c, &s, &err), 0);
    tierd__status_response__free_unpacked(s, NULL);
    td_client_close(c);
    stop();
}
END_TEST

START_TEST(test_missing_ipc_socket_fails_at_once)
{
    td_client *c;
    td_error err;
    ck_assert_int_eq(td_client_open("ipc:///nonexistent-dir/rpc.sock", NULL, 5000, &c, &err), 0);
    Tierd__StatusResponse *s;
    double t0 = tu_now_s();
    ck_assert_int_eq(td_client_status(c, &s, &err), -TD_UNAVAILABLE);
    ck_assert_double_lt(tu_now_s() - t0, 0.5);
    ck_assert_str_eq(err.message,
                     "no tierd at ipc:///nonexistent-dir/rpc.sock: /nonexistent-dir/rpc.sock "
                     "does not exist");
    td_client_close(c);
}
END_TEST

START_TEST(test_bad_url_is_refused_at_open)
{
    td_client *c = (void *)1;
    td_error err;
    ck_assert_int_eq(td_client_open("nonsense://x", NULL, 0, &c, &err), -TD_INVALID_ARGUMENT);
    ck_assert_ptr_null(c);
    ck_assert_ptr_nonnull(strstr(err.message, "nonsense://x"));
}
END_TEST

START_TEST(test_url_and_token_default_from_the_environment)
{
    start(SCRIPT_ECHO_METHOD);
    setenv(TD_CLIENT_URL_ENV, url, 1);
    setenv(TD_CLIENT_TOKEN_ENV, "from-env", 1);
    td_client *c;
    td_error err;
    ck_assert_int_eq(td_client_open(NULL, NULL, 0, &c, &err), 0);
    ck_assert_str_eq(td_client_url(c), url);
    Tierd__StatusResponse *s;
    ck_assert_int_eq(td_client_status(c, &s, &err), 0);
    tierd__status_response__free_unpacked(s, NULL);
    ck_assert_str_eq(seen_token, "from-env");
    td_client_close(c);
    stop();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("client_envelope");
    TCase *tc = tcase_create("envelope");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_call_sends_method_token_and_increasing_ids);
    tcase_add_test(tc, test_refusal_keeps_the_daemons_code_and_message);
    tcase_add_test(tc, test_unknown_status_number_becomes_unknown);
    tcase_add_test(tc, test_garbled_reply_is_an_internal_error);
    tcase_add_test(tc, test_garbled_payload_is_an_internal_error);
    tcase_add_test(tc, test_silent_daemon_is_unavailable_after_the_timeout_and_the_client_recovers);
    tcase_add_test(tc, test_missing_ipc_socket_fails_at_once);
    tcase_add_test(tc, test_bad_url_is_refused_at_open);
    tcase_add_test(tc, test_url_and_token_default_from_the_environment);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
