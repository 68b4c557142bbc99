/* Hostile Envelopes through rpc_execute, without sockets: the bytes a
 * client controls before it has proved who it is. What it proves: a token
 * or method name is compared by its wire length, so a NUL inside (or at
 * the end) is refused instead of matching the C string before it; fields
 * of the Envelope with the wrong wire type are refused; unknown Envelope
 * fields are skipped, not kept; and a payload whose decoding would need
 * more memory than its budget is refused with RESOURCE_EXHAUSTED naming
 * the budget, before any handler runs. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "rpc.h"
#include "tierd.pb-c.h"
#include "../wire_raw.h"
#include "testutil.h"

#define WIRE_MAX          512
#define READ_TOKEN        "read-secret-0123456789"
#define UNKNOWN_FIELD_TAG 0x28 /* field 5, varint: known to no message here */
/* Enough 2-byte unknown fields that decoding them would need several
 * times their size. */
#define HOSTILE_PAYLOAD_BYTES (2u << 20)

static rpc_token tokens[] = {{"reader", READ_TOKEN, TD_ROLE_READ}};
#define N_TOKENS (sizeof tokens / sizeof tokens[0])

/* Only Clock show reads the daemon, and only its clock. */
static tierd bare = {.fake_clock = true, .fake_now = 1767225600};

static size_t envelope(uint8_t *buf, const char *method, size_t mlen, const char *token,
                       size_t tlen)
{
    size_t n = put_bytes(buf, 1, method, mlen);
    n += put_varint(buf + n, 2 << 3 | 0);
    n += put_varint(buf + n, 31);
    if (token)
        n += put_bytes(buf + n, 3, token, tlen);
    return n;
}

START_TEST(test_a_token_with_a_trailing_nul_is_denied)
{
    uint8_t buf[WIRE_MAX];
    rpc_result r;
    size_t len = envelope(buf, "Clock", 5, READ_TOKEN, strlen(READ_TOKEN));
    rpc_execute(&bare, tokens, N_TOKENS, buf, len, NULL, &r);
    ck_assert_msg(r.status == TD_OK, "the plain token must work: %s", r.message);
    rpc_result_clear(&r);

    len = envelope(buf, "Clock", 5, READ_TOKEN "\0", strlen(READ_TOKEN) + 1);
    rpc_execute(&bare, tokens, N_TOKENS, buf, len, NULL, &r);
    ck_assert_int_eq(r.status, TD_PERMISSION_DENIED);
    ck_assert_str_eq(r.message, "token contains a NUL byte");
    ck_assert_uint_eq(r.request_id, 31);
    ck_assert_ptr_null(r.payload);

    len = envelope(buf, "Clock", 5, "read\0secret", 11);
    rpc_execute(&bare, tokens, N_TOKENS, buf, len, NULL, &r);
    ck_assert_int_eq(r.status, TD_PERMISSION_DENIED);
}
END_TEST

START_TEST(test_a_method_name_with_an_embedded_nul_is_refused)
{
    uint8_t buf[WIRE_MAX];
    rpc_result r;
    size_t len = envelope(buf, "Clock\0Reboot", 12, NULL, 0);
    rpc_execute(&bare, NULL, 0, buf, len, NULL, &r);
    ck_assert_int_eq(r.status, TD_INVALID_ARGUMENT);
    ck_assert_str_eq(r.message, "method name contains a NUL byte");
    ck_assert_ptr_null(r.payload);

    len = envelope(buf, "Clock\0", 6, NULL, 0);
    rpc_execute(&bare, NULL, 0, buf, len, NULL, &r);
    ck_assert_int_eq(r.status, TD_INVALID_ARGUMENT);
}
END_TEST

START_TEST(test_envelope_fields_with_the_wrong_wire_type_are_refused)
{
    uint8_t buf[WIRE_MAX];
    size_t n = put_varint(buf, 1 << 3 | 0); /* method as a varint */
    n += put_varint(buf + n, 5);
    rpc_result r;
    rpc_execute(&bare, NULL, 0, buf, n, NULL, &r);
    ck_assert_int_eq(r.status, TD_INVALID_ARGUMENT);
    ck_assert_msg(strstr(r.message, "request is not a valid Envelope: ") == r.message, "%s",
                  r.message);
    ck_assert_msg(strstr(r.message, "field 1"), "%s", r.message);
}
END_TEST

START_TEST(test_unknown_envelope_fields_are_skipped)
{
    uint8_t buf[WIRE_MAX];
    size_t n = 0;
    for (int i = 0; i < 40; i++) {
        buf[n++] = UNKNOWN_FIELD_TAG;
        buf[n++] = 0;
    }
    n += envelope(buf + n, "Clock", 5, NULL, 0);
    n += put_bytes(buf + n, 9, "future", 6);
    rpc_result r;
    rpc_execute(&bare, NULL, 0, buf, n, NULL, &r);
    ck_assert_msg(r.status == TD_OK, "%s", r.message);
    ck_assert_uint_eq(r.request_id, 31);
    rpc_result_clear(&r);
}
END_TEST

START_TEST(test_a_payload_that_needs_more_than_its_budget_to_decode_is_resource_exhausted)
{
    size_t plen = HOSTILE_PAYLOAD_BYTES;
    uint8_t *payload = malloc(plen);
    ck_assert_ptr_nonnull(payload);
    for (size_t i = 0; i < plen; i += 2) {
        payload[i] = UNKNOWN_FIELD_TAG;
        payload[i + 1] = 0;
    }
    uint8_t *buf = malloc(plen + WIRE_MAX);
    ck_assert_ptr_nonnull(buf);
    size_t n = envelope(buf, "Clock", 5, NULL, 0);
    n += put_varint(buf + n, 4 << 3 | 2);
    n += put_varint(buf + n, plen);
    memcpy(buf + n, payload, plen);
    n += plen;
    free(payload);
    rpc_result r;
    rpc_arena *scratch = rpc_arena_new();
    rpc_execute(&bare, NULL, 0, buf, n, scratch, &r);
    ck_assert_int_eq(r.status, TD_RESOURCE_EXHAUSTED);
    ck_assert_msg(strstr(r.message, "tierd.ClockRequest") && strstr(r.message, "bytes to decode"),
                  "%s", r.message);
    ck_assert_ptr_null(r.payload);
    rpc_arena_free(scratch);
    free(buf);
}
END_TEST

static Suite *hostile_suite(void)
{
    Suite *s = suite_create("rpc_hostile");
    TCase *tc = tcase_create("envelope");
    tcase_add_test(tc, test_a_token_with_a_trailing_nul_is_denied);
    tcase_add_test(tc, test_a_method_name_with_an_embedded_nul_is_refused);
    tcase_add_test(tc, test_envelope_fields_with_the_wrong_wire_type_are_refused);
    tcase_add_test(tc, test_unknown_envelope_fields_are_skipped);
    tcase_add_test(tc,
                   test_a_payload_that_needs_more_than_its_budget_to_decode_is_resource_exhausted);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(hostile_suite());
}
