/* The partner codec: encode -> restore -> encode gives identical bytes and
 * identical behaviour; random, truncated and bit-flipped buffers are
 * refused with TD_DATA_LOSS and never crash (run under ASan too). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "engine_fixture.h"
#include "testutil.h"

#define T0           ((td_time)1767225600) /* 2026-01-01 */
#define FUZZ_ROUNDS  20000
#define FUZZ_MAX_LEN 512

static engine *populated(void)
{
    engine *e = engine_new();
    ck_assert_int_eq(engine_program_apply(e, fx_partners_program("v1", 50000), T0, NULL, NULL), 0);
    const char *types[] = {"reseller", "services"};
    td_error err;
    ck_assert_int_eq(engine_partner_upsert(e, "p-ü1", "Acme Ltd", types, 2, T0, NULL, NULL, &err),
                     0);
    fx_event(e, "p-ü1", "contract_signed", 1, T0, T0);
    fx_event_key(e, "p-ü1", "certification", 1, T0, "sales-101", T0, NULL);
    fx_event_key(e, "p-ü1", "certification", 1, T0 + 9, "vertical-7", T0 + 9, NULL);
    fx_event(e, "p-ü1", "active_sellers", 4, T0, T0);
    for (int i = 0; i < 20; i++)
        fx_event(e, "p-ü1", "deal_closed", 10000 + i, T0 + i * FX_DAY, T0 + i * FX_DAY);
    fx_event(e, "p-ü1", "deal_closed", -5000, T0 + 3 * FX_DAY, T0 + 20 * FX_DAY);
    fx_event(e, "p-ü1", "implementation", 1, T0, T0 + 20 * FX_DAY);
    fx_event(e, "p-ü1", "csat", 0.75, T0 + 20 * FX_DAY, T0 + 20 * FX_DAY);
    return e;
}

static void encode(engine *e, const char *id, uint8_t **buf, size_t *len)
{
    td_partner *p = engine_partner_find(e, id);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(engine_partner_encode(e, p, buf, len), 0);
}

START_TEST(test_encode_restore_encode_gives_identical_bytes)
{
    engine *e = populated();
    ck_assert_str_eq(fx_tier_of(e, "p-ü1", "reseller"), "Selling");
    uint8_t *a, *b;
    size_t na, nb;
    encode(e, "p-ü1", &a, &na);

    engine *f = engine_new();
    td_error err;
    ck_assert_int_eq(engine_program_apply(f, fx_partners_program("v1", 50000), T0, NULL, NULL), 0);
    ck_assert_int_eq(engine_partner_restore(f, a, na, &err), 0);
    encode(f, "p-ü1", &b, &nb);
    ck_assert_uint_eq(na, nb);
    ck_assert(memcmp(a, b, na) == 0);
    ck_assert_str_eq(fx_tier_of(f, "p-ü1", "reseller"), "Selling");
    ck_assert_str_eq(fx_tier_of(f, "p-ü1", "services"), "Trained");
    td_partner_info info;
    engine_partner_info(engine_partner_find(f, "p-ü1"), &info);
    ck_assert_str_eq(info.name, "Acme Ltd");
    ck_assert_uint_eq(info.events, 27);

    /* The restored state behaves the same: the same deals expire then. */
    td_time due_e = engine_partner_next_due(e, engine_partner_find(e, "p-ü1"), T0 + 20 * FX_DAY);
    td_time due_f = engine_partner_next_due(f, engine_partner_find(f, "p-ü1"), T0 + 20 * FX_DAY);
    ck_assert_int_eq(due_e, due_f);
    ck_assert_int_eq(due_e, T0 + 365 * FX_DAY);

    /* Restoring over an existing partner replaces it. */
    ck_assert_int_eq(engine_partner_restore(e, a, na, &err), 0);
    ck_assert_uint_eq(engine_partner_count(e), 1);
    free(b);
    encode(e, "p-ü1", &b, &nb);
    ck_assert(nb == na && memcmp(a, b, na) == 0);
    free(a);
    free(b);
    engine_free(e);
    engine_free(f);
}
END_TEST

START_TEST(test_restore_refuses_bad_magic_and_unknown_versions)
{
    engine *e = populated();
    uint8_t *a;
    size_t na;
    encode(e, "p-ü1", &a, &na);
    td_error err;
    a[0] = 'X';
    ck_assert_int_eq(engine_partner_restore(e, a, na, &err), -TD_DATA_LOSS);
    ck_assert_ptr_nonnull(strstr(err.message, "magic"));
    a[0] = 'T';
    a[3] = 99;
    ck_assert_int_eq(engine_partner_restore(e, a, na, &err), -TD_DATA_LOSS);
    ck_assert_ptr_nonnull(strstr(err.message, "version"));
    ck_assert_int_eq(engine_partner_restore(e, NULL, 0, &err), -TD_DATA_LOSS);
    free(a);
    engine_free(e);
}
END_TEST

START_TEST(test_every_truncation_is_refused)
{
    engine *e = populated();
    uint8_t *a;
    size_t na;
    encode(e, "p-ü1", &a, &na);
    td_error err;
    for (size_t n = 0; n < na; n++) {
        /* A fresh copy of exactly n bytes so ASan sees any overread. */
        uint8_t *cut = malloc(n ? n : 1);
        memcpy(cut, a, n);
        ck_assert_int_eq(engine_partner_restore(e, cut, n, &err), -TD_DATA_LOSS);
        free(cut);
    }
    /* One byte too many is refused as well. */
    uint8_t *more = malloc(na + 1);
    memcpy(more, a, na);
    more[na] = 0;
    ck_assert_int_eq(engine_partner_restore(e, more, na + 1, &err), -TD_DATA_LOSS);
    ck_assert_ptr_nonnull(strstr(err.message, "trailing"));
    free(more);
    free(a);
    engine_free(e);
}
END_TEST

START_TEST(test_random_and_bit_flipped_buffers_never_crash)
{
    engine *e = populated();
    uint8_t *a;
    size_t na;
    encode(e, "p-ü1", &a, &na);
    td_error err;
    srand(12345);
    size_t refused = 0;
    for (int round = 0; round < FUZZ_ROUNDS; round++) {
        size_t n = (size_t)rand() % FUZZ_MAX_LEN;
        uint8_t *buf = malloc(n ? n : 1);
        for (size_t i = 0; i < n; i++)
            buf[i] = (uint8_t)rand();
        /* Half the rounds start with a valid header to get past the magic. */
        if (round % 2 && n >= 4)
            memcpy(buf, a, 4);
        refused += engine_partner_restore(e, buf, n, &err) == -TD_DATA_LOSS;
        free(buf);
    }
    ck_assert_uint_eq(refused, FUZZ_ROUNDS);
    for (size_t i = 4; i < na; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            uint8_t *buf = malloc(na);
            memcpy(buf, a, na);
            buf[i] ^= (uint8_t)(1u << bit);
            int rc = engine_partner_restore(e, buf, na, &err);
            ck_assert(rc == 0 || rc == -TD_DATA_LOSS);
            if (rc == 0) {
                /* Whatever was accepted must be safe to use. */
                td_partner *p = engine_partner_find(e, "p-ü1");
                if (p) {
                    uint8_t *again;
                    size_t n_again;
                    td_explanation x;
                    ck_assert_int_eq(engine_partner_encode(e, p, &again, &n_again), 0);
                    free(again);
                    if (engine_explain(e, p, 0, T0 + 30 * FX_DAY, T0 + 30 * FX_DAY, &x, &err) == 0)
                        engine_explanation_free(&x);
                    engine_partner_next_due(e, p, T0 + 30 * FX_DAY);
                }
                engine_evaluate(e, NULL, T0 + 30 * FX_DAY, NULL, NULL);
            }
            free(buf);
        }
    }
    free(a);
    engine_free(e);
}
END_TEST

static Suite *codec_suite(void)
{
    Suite *s = suite_create("codec");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_encode_restore_encode_gives_identical_bytes);
    tcase_add_test(tc, test_restore_refuses_bad_magic_and_unknown_versions);
    tcase_add_test(tc, test_every_truncation_is_refused);
    tcase_add_test(tc, test_random_and_bit_flipped_buffers_never_crash);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(codec_suite());
}
