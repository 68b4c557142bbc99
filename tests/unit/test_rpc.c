/* The RPC path without sockets: rpc_execute is what the server runs for
 * every request, so these tests drive it directly with hand-built bytes.
 * They prove that garbage, truncated and unknown requests are refused with
 * a message saying which step failed, that tokens and roles gate methods
 * before any handler runs, that an undecodable payload names its expected
 * type, and that a valid request reaches its handler and packs a Reply the
 * client can read. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "daemon.h"
#include "rpc.h"
#include "tierd.pb-c.h"
#include "testutil.h"

static rpc_token tokens[] = {
    {"reader", "read-secret-0123456789", TD_ROLE_READ},
    {"writer", "write-secret-0123456789", TD_ROLE_WRITE},
    {"boss", "admin-secret-0123456789", TD_ROLE_ADMIN},
};
#define N_TOKENS (sizeof tokens / sizeof tokens[0])

/* A daemon context with nothing open: only Clock show touches it. */
static tierd bare;
/* Shared by the tests that go through run(), as the server shares one. */
static rpc_arena *scratch;

static size_t pack_envelope(const char *method, const char *token, const uint8_t *payload,
                            size_t plen, uint8_t *buf)
{
    Tierd__Envelope env = TIERD__ENVELOPE__INIT;
    env.method = (char *)method;
    env.request_id = 77;
    env.token = (char *)(token ? token : "");
    env.payload.data = (uint8_t *)payload;
    env.payload.len = plen;
    return tierd__envelope__pack(&env, buf);
}

static void run(const char *method, const char *token, const rpc_token *toks, size_t n,
                rpc_result *out)
{
    uint8_t buf[512];
    size_t len = pack_envelope(method, token, NULL, 0, buf);
    rpc_execute(&bare, toks, n, buf, len, scratch, out);
}

START_TEST(test_garbage_bytes_are_not_a_valid_envelope)
{
    const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    rpc_result r;
    rpc_execute(&bare, NULL, 0, junk, sizeof junk, NULL, &r);
    ck_assert_int_eq(r.status, TD_INVALID_ARGUMENT);
    ck_assert_msg(strstr(r.message, "request is not a valid Envelope: ") == r.message, "%s",
                  r.message);
    ck_assert_ptr_null(r.payload);
}
END_TEST

START_TEST(test_truncated_envelope_is_not_a_valid_envelope)
{
    uint8_t buf[512];
    size_t len = pack_envelope("Status", NULL, NULL, 0, buf);
    rpc_result r;
    for (size_t cut = 1; cut < 8 && cut < len; cut++) {
        rpc_execute(&bare, NULL, 0, buf, cut, NULL, &r);
        ck_assert_msg(r.status == TD_INVALID_ARGUMENT, "cut at %zu: %s", cut, r.message);
    }
}
END_TEST

START_TEST(test_unknown_method_is_named_in_the_refusal)
{
    rpc_result r;
    run("Reboot", NULL, NULL, 0, &r);
    ck_assert_int_eq(r.status, TD_INVALID_ARGUMENT);
    ck_assert_str_eq(r.message, "unknown method 'Reboot'");
    ck_assert_uint_eq(r.request_id, 77);
    run("Bad\x01name", NULL, NULL, 0, &r);
    ck_assert_str_eq(r.message, "unknown method '(not printable)'");
}
END_TEST

START_TEST(test_missing_and_unknown_tokens_are_denied_when_tokens_exist)
{
    rpc_result r;
    run("Status", NULL, tokens, N_TOKENS, &r);
    ck_assert_int_eq(r.status, TD_PERMISSION_DENIED);
    ck_assert_str_eq(r.message, "missing token");
    run("Status", "read-secret-012345678", tokens, N_TOKENS, &r); /* one byte short */
    ck_assert_int_eq(r.status, TD_PERMISSION_DENIED);
    ck_assert_str_eq(r.message, "unknown token");
    run("Status", "read-secret-01234567890", tokens, N_TOKENS, &r); /* one byte long */
    ck_assert_str_eq(r.message, "unknown token");
}
END_TEST

START_TEST(test_roles_gate_methods_before_their_handlers)
{
    rpc_result r;
    run("PutProgram", "read-secret-0123456789", tokens, N_TOKENS, &r);
    ck_assert_int_eq(r.status, TD_PERMISSION_DENIED);
    ck_assert_str_eq(r.message, "token lacks role admin for PutProgram");
    ck_assert(!r.mutates);
    run("Ingest", "read-secret-0123456789", tokens, N_TOKENS, &r);
    ck_assert_str_eq(r.message, "token lacks role write for Ingest");
    run("DeletePartner", "write-secret-0123456789", tokens, N_TOKENS, &r);
    ck_assert_int_ne(r.status, TD_PERMISSION_DENIED);
    rpc_result_clear(&r);
}
END_TEST

START_TEST(test_authenticate_without_tokens_gives_admin_as_ipc)
{
    const char *actor = NULL;
    td_role role = TD_ROLE_NONE;
    td_error err = {0};
    ck_assert_int_eq(rpc_authenticate(NULL, 0, "", &actor, &role, &err), 0);
    ck_assert_str_eq(actor, RPC_ACTOR_IPC);
    ck_assert_int_eq(role, TD_ROLE_ADMIN);
    ck_assert_int_eq(
        rpc_authenticate(tokens, N_TOKENS, "write-secret-0123456789", &actor, &role, &err), 0);
    ck_assert_str_eq(actor, "writer");
    ck_assert_int_eq(role, TD_ROLE_WRITE);
}
END_TEST

START_TEST(test_payload_that_does_not_decode_names_the_expected_type)
{
    const uint8_t bad[] = {0x0a, 0x7f, 'x'};
    uint8_t buf[512];
    size_t len = pack_envelope("PutProgram", NULL, bad, sizeof bad, buf);
    rpc_result r;
    rpc_execute(&bare, NULL, 0, buf, len, NULL, &r);
    ck_assert_int_eq(r.status, TD_INVALID_ARGUMENT);
    ck_assert_str_eq(r.message, "payload does not decode as tierd.PutProgramRequest");
}
END_TEST

START_TEST(test_lifecycle_methods_need_admin_except_list_pending)
{
    const char *names[] = {"SetOverride", "ClearOverride", "Approve", "Deny"};
    rpc_result r;
    for (size_t i = 0; i < 4; i++) {
        run(names[i], "write-secret-0123456789", tokens, N_TOKENS, &r);
        ck_assert_int_eq(r.status, TD_PERMISSION_DENIED);
        ck_assert_msg(strstr(r.message, "token lacks role admin for "), "%s", r.message);
    }
    ck_assert_int_eq(rpc_method_find("ListPending")->role, TD_ROLE_READ);
}
END_TEST

START_TEST(test_every_service_method_has_a_row_and_a_handler)
{
    const ProtobufCServiceDescriptor *svc = &tierd__tier_service__descriptor;
    for (unsigned i = 0; i < svc->n_methods; i++) {
        const rpc_method *m = rpc_method_find(svc->methods[i].name);
        ck_assert_msg(m != NULL, "no row for %s", svc->methods[i].name);
        ck_assert_ptr_eq(m->request, svc->methods[i].input);
        ck_assert_ptr_eq(m->response, svc->methods[i].output);
        ck_assert_msg(m->handler != NULL, "%s has no handler", m->name);
    }
}
END_TEST

START_TEST(test_valid_request_reaches_its_handler_and_packs_a_reply)
{
    bare.fake_clock = true;
    bare.fake_now = 1767225600;
    rpc_result r;
    run("Clock", NULL, NULL, 0, &r);
    ck_assert_int_eq(r.status, TD_OK);
    ck_assert_str_eq(r.message, "");
    size_t len = 0;
    uint8_t *buf = rpc_result_pack(&r, &len);
    ck_assert_ptr_nonnull(buf);
    Tierd__Reply *reply = tierd__reply__unpack(NULL, len, buf);
    ck_assert_ptr_nonnull(reply);
    ck_assert_uint_eq(reply->request_id, 77);
    Tierd__ClockResponse *cr =
        tierd__clock_response__unpack(NULL, reply->payload.len, reply->payload.data);
    ck_assert_ptr_nonnull(cr);
    ck_assert_int_eq(cr->now, 1767225600);
    ck_assert(cr->fake);
    tierd__clock_response__free_unpacked(cr, NULL);
    tierd__reply__free_unpacked(reply, NULL);
    free(buf);
    rpc_result_clear(&r);
    bare.fake_clock = false;
}
END_TEST

START_TEST(test_clock_advance_by_a_read_token_is_denied)
{
    bare.fake_clock = true;
    Tierd__ClockRequest req = TIERD__CLOCK_REQUEST__INIT;
    req.advance = "1d";
    uint8_t payload[64];
    size_t plen = tierd__clock_request__pack(&req, payload);
    uint8_t buf[512];
    size_t len = pack_envelope("Clock", "read-secret-0123456789", payload, plen, buf);
    rpc_result r;
    rpc_execute(&bare, tokens, N_TOKENS, buf, len, NULL, &r);
    ck_assert_int_eq(r.status, TD_PERMISSION_DENIED);
    bare.fake_clock = false;
}
END_TEST

static Suite *rpc_suite(void)
{
    Suite *s = suite_create("rpc");
    TCase *tc = tcase_create("execute");
    tcase_add_test(tc, test_garbage_bytes_are_not_a_valid_envelope);
    tcase_add_test(tc, test_truncated_envelope_is_not_a_valid_envelope);
    tcase_add_test(tc, test_unknown_method_is_named_in_the_refusal);
    tcase_add_test(tc, test_missing_and_unknown_tokens_are_denied_when_tokens_exist);
    tcase_add_test(tc, test_roles_gate_methods_before_their_handlers);
    tcase_add_test(tc, test_authenticate_without_tokens_gives_admin_as_ipc);
    tcase_add_test(tc, test_payload_that_does_not_decode_names_the_expected_type);
    tcase_add_test(tc, test_lifecycle_methods_need_admin_except_list_pending);
    tcase_add_test(tc, test_every_service_method_has_a_row_and_a_handler);
    tcase_add_test(tc, test_valid_request_reaches_its_handler_and_packs_a_reply);
    tcase_add_test(tc, test_clock_advance_by_a_read_token_is_denied);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    scratch = rpc_arena_new();
    int rc = tu_run_suite(rpc_suite());
    rpc_arena_free(scratch);
    return rc;
}
