/* Partner attributes in the engine: the rules a map must follow, replace
 * and keep on upsert, maps shared between partners, the record codec's
 * version 4 (and version 3 records still read), a ladder's partner_filter
 * moving partners onto and off it with the same reports as a type change,
 * list --where and the breakdown by attribute. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "engine_fixture.h"
#include "testutil.h"

#define T0 ((td_time)1767225600) /* 2026-01-01 */

#define FILTER_PROGRAM                                                                             \
    "program: p\nversion: \"1\"\n"                                                                 \
    "metrics:\n  a: { agg: sum }\n"                                                                \
    "ladders:\n"                                                                                   \
    "  emea:\n"                                                                                    \
    "    partner_types: [reseller]\n"                                                              \
    "    partner_filter: { region: [EMEA, APAC], segment: [smb] }\n"                               \
    "    tiers:\n      - { name: T1, when: a >= 1 }\n"                                             \
    "  all:\n"                                                                                     \
    "    partner_types: [reseller]\n"                                                              \
    "    tiers:\n      - { name: A1, when: a >= 1 }\n"

static program *parse(const char *yaml, td_diags *d)
{
    program *p = NULL;
    td_error err = {0};
    program_parse(yaml, strlen(yaml), "f.yaml", &p, d, &err);
    return p;
}

static int put(engine *e, const char *id, const char *type, const td_attr *attrs, size_t n,
               bool set, td_time now, fx_log *log, td_error *err)
{
    const char *types[] = {type};
    td_partner_put in = {.id = id,
                         .types = type ? types : NULL,
                         .n_types = type ? 1 : 0,
                         .attrs = attrs,
                         .n_attrs = n,
                         .set_attrs = set};
    return engine_partner_put(e, &in, now, log ? fx_record : NULL, log, err);
}

static const char *attr_of(engine *e, const char *id, const char *key)
{
    td_partner *p = engine_partner_find(e, id);
    ck_assert_ptr_nonnull(p);
    return engine_partner_attr(p, key);
}

START_TEST(test_attrs_are_set_replaced_kept_and_cleared)
{
    engine *e = engine_new();
    td_error err;
    td_attr two[] = {{"segment", "smb"}, {"region", "EMEA"}};
    ck_assert_int_eq(put(e, "p1", "reseller", two, 2, true, T0, NULL, &err), 0);
    ck_assert_str_eq(attr_of(e, "p1", "region"), "EMEA");
    ck_assert_str_eq(attr_of(e, "p1", "segment"), "smb");
    ck_assert_ptr_null(attr_of(e, "p1", "manager"));
    td_attr out[TD_MAX_ATTRS];
    ck_assert_uint_eq(engine_partner_attrs(engine_partner_find(e, "p1"), out, TD_MAX_ATTRS), 2);
    ck_assert_str_eq(out[0].key, "region"); /* sorted by key */

    /* set_attrs false keeps them, whatever else changes. */
    ck_assert_int_eq(put(e, "p1", "services", NULL, 0, false, T0, NULL, &err), 0);
    ck_assert_str_eq(attr_of(e, "p1", "region"), "EMEA");

    /* Given: the whole map is replaced, not merged. */
    td_attr one[] = {{"region", "APAC"}};
    ck_assert_int_eq(put(e, "p1", NULL, one, 1, true, T0, NULL, &err), 0);
    ck_assert_str_eq(attr_of(e, "p1", "region"), "APAC");
    ck_assert_ptr_null(attr_of(e, "p1", "segment"));

    ck_assert_int_eq(put(e, "p1", NULL, NULL, 0, true, T0, NULL, &err), 0);
    ck_assert_ptr_null(attr_of(e, "p1", "region"));
    engine_free(e);
}
END_TEST

START_TEST(test_bad_attrs_are_refused_and_change_nothing)
{
    engine *e = engine_new();
    td_error err;
    td_attr good[] = {{"region", "EMEA"}};
    ck_assert_int_eq(put(e, "p1", "reseller", good, 1, true, T0, NULL, &err), 0);

    char long_key[TD_MAX_ATTR_KEY + 2], long_value[TD_MAX_ATTR_VALUE + 2];
    memset(long_key, 'k', sizeof long_key - 1);
    long_key[sizeof long_key - 1] = 0;
    memset(long_value, 'v', sizeof long_value - 1);
    long_value[sizeof long_value - 1] = 0;
    const td_attr bad[][2] = {
        {{"re gion", "EMEA"}, {"x", "y"}},
        {{"", "EMEA"}, {"x", "y"}},
        {{long_key, "v"}, {"x", "y"}},
        {{"region", ""}, {"x", "y"}},
        {{"region", "EM\x01"
                    "EA"},
         {"x", "y"}},
        {{"region", "\xc3\x28"}, {"x", "y"}},
        {{"region", long_value}, {"x", "y"}},
        {{"x", "1"}, {"x", "2"}},
    };
    const char *why[] = {"key",     "key",   "key",      "is empty",
                         "control", "UTF-8", "too long", "given twice"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(put(e, "p1", "services", bad[i], 2, true, T0 + 1, NULL, &err),
                         -TD_INVALID_ARGUMENT);
        ck_assert_msg(strstr(err.message, why[i]), "case %zu: %s", i, err.message);
        ck_assert_str_eq(attr_of(e, "p1", "region"), "EMEA");
        ck_assert_str_eq(fx_tier_of(e, "p1", "reseller"), "(off)"); /* no program: off all */
    }
    td_attr many[TD_MAX_ATTRS + 1];
    char keys[TD_MAX_ATTRS + 1][8];
    for (int i = 0; i <= TD_MAX_ATTRS; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        many[i] = (td_attr){keys[i], "v"};
    }
    ck_assert_int_eq(put(e, "p1", NULL, many, TD_MAX_ATTRS + 1, true, T0, NULL, &err),
                     -TD_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(err.message, "at most 32"));
    ck_assert_int_eq(put(e, "p1", NULL, many, TD_MAX_ATTRS, true, T0, NULL, &err), 0);
    ck_assert_ptr_null(engine_partner_find(e, "p2"));
    ck_assert_int_eq(put(e, "p2", "x", bad[0], 2, true, T0, NULL, &err), -TD_INVALID_ARGUMENT);
    ck_assert_ptr_null(engine_partner_find(e, "p2")); /* a refused new partner is not made */
    engine_free(e);
}
END_TEST

START_TEST(test_partners_with_the_same_map_share_one_copy)
{
    engine *e = engine_new();
    td_error err;
    td_attr a[] = {{"region", "EMEA"}, {"segment", "smb"}};
    td_attr b[] = {{"segment", "smb"}, {"region", "EMEA"}}; /* same map, other order */
    ck_assert_int_eq(put(e, "p1", "x", a, 2, true, T0, NULL, &err), 0);
    ck_assert_int_eq(put(e, "p2", "x", b, 2, true, T0, NULL, &err), 0);
    ck_assert_ptr_eq(attr_of(e, "p1", "region"), attr_of(e, "p2", "region"));
    td_attr c[] = {{"region", "APAC"}};
    ck_assert_int_eq(put(e, "p1", NULL, c, 1, true, T0, NULL, &err), 0);
    ck_assert_str_eq(attr_of(e, "p2", "region"), "EMEA"); /* p2's copy outlives p1's change */
    td_error derr;
    ck_assert_int_eq(engine_partner_delete(e, "p2", T0, NULL, NULL, &derr), 0);
    ck_assert_int_eq(put(e, "p3", "x", a, 2, true, T0, NULL, &err), 0);
    ck_assert_str_eq(attr_of(e, "p3", "segment"), "smb");
    engine_free(e);
}
END_TEST

static void encode(engine *e, const char *id, uint8_t **buf, size_t *len)
{
    ck_assert_int_eq(engine_partner_encode(e, engine_partner_find(e, id), buf, len), 0);
}

START_TEST(test_codec_v4_round_trips_attrs_and_v3_records_still_decode)
{
    engine *e = engine_new();
    ck_assert_int_eq(engine_program_apply(e, fx_partners_program("v1", 50000), T0, NULL, NULL), 0);
    td_error err;
    td_attr a[] = {{"region", "EMEA"}, {"manager", "Zoë"}};
    ck_assert_int_eq(put(e, "p1", "reseller", a, 2, true, T0, NULL, &err), 0);
    fx_event(e, "p1", "contract_signed", 1, T0, T0);
    uint8_t *buf, *again;
    size_t n, n2;
    encode(e, "p1", &buf, &n);
    ck_assert_uint_eq(buf[3], 4);

    engine *f = engine_new();
    ck_assert_int_eq(engine_program_apply(f, fx_partners_program("v1", 50000), T0, NULL, NULL), 0);
    ck_assert_int_eq(engine_partner_restore(f, buf, n, &err), 0);
    ck_assert_str_eq(attr_of(f, "p1", "region"), "EMEA");
    ck_assert_str_eq(attr_of(f, "p1", "manager"), "Zoë");
    encode(f, "p1", &again, &n2);
    ck_assert_uint_eq(n, n2);
    ck_assert(memcmp(buf, again, n) == 0);
    free(again);

    /* A version 3 record: the same bytes without the attribute count. */
    ck_assert_int_eq(put(e, "p2", "reseller", NULL, 0, false, T0, NULL, &err), 0);
    uint8_t *v4;
    encode(e, "p2", &v4, &n);
    size_t at = 4 + 4 + 2 + 4 + 4 + 4 + strlen("reseller"); /* header, id, no name, types */
    ck_assert(v4[at] == 0 && v4[at + 1] == 0 && v4[at + 2] == 0 && v4[at + 3] == 0);
    uint8_t *v3 = malloc(n - 4);
    memcpy(v3, v4, at);
    memcpy(v3 + at, v4 + at + 4, n - at - 4);
    v3[3] = 3;
    ck_assert_int_eq(engine_partner_restore(f, v3, n - 4, &err), 0);
    ck_assert_ptr_null(attr_of(f, "p2", "region"));
    ck_assert_str_eq(fx_tier_of(f, "p2", "reseller"), "-");

    /* Attributes that break the rules are data loss, not a crash. */
    buf[3 + 1 + 4 + 2 + 4 + 4 + 4 + 8 + 4 + 4 + 1] ^= 0x1f; /* into the first key */
    int rc = engine_partner_restore(f, buf, n2, &err);
    ck_assert_int_eq(rc, -TD_DATA_LOSS);
    free(buf);
    free(v3);
    free(v4);
    engine_free(f);
    engine_free(e);
}
END_TEST

START_TEST(test_partner_filter_moves_partners_onto_and_off_ladders_with_reports)
{
    td_diags d = {0};
    program *prog = parse(FILTER_PROGRAM, &d);
    ck_assert_msg(prog, "%s", d.n ? d.items[0] : "?");
    engine *e = engine_new();
    ck_assert_int_eq(engine_program_apply(e, prog, T0, NULL, NULL), 0);
    td_error err;
    td_attr emea[] = {{"region", "EMEA"}, {"segment", "smb"}};
    ck_assert_int_eq(put(e, "p1", "reseller", emea, 2, true, T0, NULL, &err), 0);
    fx_event(e, "p1", "a", 1, T0, T0);
    ck_assert_str_eq(fx_tier_of(e, "p1", "emea"), "T1");
    ck_assert_str_eq(fx_tier_of(e, "p1", "all"), "A1");

    /* Region changes: off the filtered ladder, reported as a type change is. */
    fx_log log = {0};
    td_attr na[] = {{"region", "NA"}, {"segment", "smb"}};
    ck_assert_int_eq(put(e, "p1", NULL, na, 2, true, T0 + 10, &log, &err), 0);
    ck_assert_str_eq(fx_tier_of(e, "p1", "emea"), "(off)");
    ck_assert_str_eq(fx_tier_of(e, "p1", "all"), "A1");
    ck_assert_uint_eq(log.n, 1);
    ck_assert_str_eq(log.c[0].ladder, "emea");
    ck_assert_str_eq(log.c[0].from, "T1");
    ck_assert_str_eq(log.c[0].to, "-");
    ck_assert_int_eq(log.c[0].cause, TD_CAUSE_DEMOTION);
    ck_assert_int_eq(log.c[0].at, T0 + 10);

    /* Back in APAC: on again, evaluated at once. */
    log.n = 0;
    td_attr apac[] = {{"segment", "smb"}, {"region", "APAC"}};
    ck_assert_int_eq(put(e, "p1", NULL, apac, 2, true, T0 + 20, &log, &err), 0);
    ck_assert_str_eq(fx_tier_of(e, "p1", "emea"), "T1");
    ck_assert_uint_eq(log.n, 1);
    ck_assert_str_eq(log.c[0].to, "T1");
    ck_assert_int_eq(log.c[0].cause, TD_CAUSE_PROMOTION);

    /* Every filter must hold; a missing attribute fails it. */
    td_attr no_segment[] = {{"region", "APAC"}};
    ck_assert_int_eq(put(e, "p1", NULL, no_segment, 1, true, T0 + 30, NULL, &err), 0);
    ck_assert_str_eq(fx_tier_of(e, "p1", "emea"), "(off)");

    /* A restored record is placed by its attributes too. */
    ck_assert_int_eq(put(e, "p1", NULL, apac, 2, true, T0 + 40, NULL, &err), 0);
    uint8_t *buf;
    size_t n;
    encode(e, "p1", &buf, &n);
    engine *f = engine_new();
    ck_assert_int_eq(engine_program_apply(f, parse(FILTER_PROGRAM, &d), T0, NULL, NULL), 0);
    ck_assert_int_eq(engine_partner_restore(f, buf, n, &err), 0);
    ck_assert_str_eq(fx_tier_of(f, "p1", "emea"), "T1");
    free(buf);
    engine_free(f);
    engine_free(e);
    td_diags_free(&d);
}
END_TEST

START_TEST(test_bad_partner_filters_are_reported_at_their_place)
{
    const char *head = "program: p\nversion: \"1\"\nmetrics:\n  a: { agg: sum }\nladders:\n"
                       "  l:\n    partner_types: [x]\n";
    const char *tiers = "    tiers:\n      - { name: T1, when: a >= 1 }\n";
    struct {
        const char *filter, *want;
    } cases[] = {
        {"    partner_filter: [region]\n", "f.yaml:8:21: partner_filter must be a mapping"},
        {"    partner_filter: {}\n", "f.yaml:8:21: ladder 'l' has an empty partner_filter"},
        {"    partner_filter: { region: [] }\n",
         "f.yaml:8:31: partner_filter 'region' has no values"},
        {"    partner_filter: { region: EMEA }\n",
         "f.yaml:8:31: partner_filter 'region' must be a list"},
        {"    partner_filter: { \"re gion\": [EMEA] }\n",
         "f.yaml:8:23: partner_filter key 're gion' must be 1..64 bytes"},
        {"    partner_filter: { region: [EMEA, EMEA] }\n",
         "f.yaml:8:38: 'EMEA' appears twice in partner_filter 'region'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char yaml[1024];
        snprintf(yaml, sizeof yaml, "%s%s%s", head, cases[i].filter, tiers);
        td_diags d = {0};
        program *p = parse(yaml, &d);
        ck_assert_ptr_null(p);
        ck_assert_uint_ge(d.n, 1);
        ck_assert_msg(strncmp(d.items[0], cases[i].want, strlen(cases[i].want)) == 0,
                      "case %zu: got '%s', want '%s'", i, d.items[0], cases[i].want);
        td_diags_free(&d);
    }
}
END_TEST

START_TEST(test_list_where_and_stats_by_attribute)
{
    td_diags d = {0};
    engine *e = engine_new();
    ck_assert_int_eq(engine_program_apply(e, parse(FILTER_PROGRAM, &d), T0, NULL, NULL), 0);
    td_error err;
    const char *regions[] = {"EMEA", "NA", "EMEA", NULL, "APAC"};
    for (int i = 0; i < 5; i++) {
        char id[8];
        snprintf(id, sizeof id, "p%d", i);
        td_attr a[] = {{"segment", i == 2 ? "ent" : "smb"}, {"region", regions[i]}};
        ck_assert_int_eq(put(e, id, "reseller", a, regions[i] ? 2 : 1, true, T0, NULL, &err), 0);
        if (i != 1)
            fx_event(e, id, "a", 1, T0, T0);
    }
    td_partner *out[8];
    bool more;
    td_attr w1[] = {{"region", "EMEA"}};
    size_t n = engine_partner_list_where(e, NULL, NULL, NULL, w1, 1, out, 8, &more, &err);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(fx_id(out[0]), "p0");
    ck_assert_str_eq(fx_id(out[1]), "p2");
    td_attr w2[] = {{"region", "EMEA"}, {"segment", "smb"}};
    n = engine_partner_list_where(e, NULL, NULL, NULL, w2, 2, out, 8, &more, &err);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(fx_id(out[0]), "p0");
    n = engine_partner_list_where(e, "p0", "emea", "T1", w1, 1, out, 8, &more, &err);
    ck_assert_uint_eq(n, 0); /* p2 is ent: not on emea */
    td_attr bad[] = {{"re gion", "x"}};
    err.code = TD_OK;
    n = engine_partner_list_where(e, NULL, NULL, NULL, bad, 1, out, 8, &more, &err);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(err.code, TD_INVALID_ARGUMENT);

    td_stats_by by;
    ck_assert_int_eq(engine_stats_by(e, "region", &by, &err), 0);
    ck_assert_uint_eq(by.n_rows, 4);
    size_t w = TD_MAX_TIERS + 1;
    ck_assert_ptr_null(by.rows[0].value); /* p3: no region */
    ck_assert_uint_eq(by.rows[0].partners, 1);
    ck_assert_uint_eq(by.rows[0].counts[0 * w + 0], 0); /* not on emea */
    ck_assert_uint_eq(by.rows[0].counts[1 * w + 1], 1); /* A1 on all */
    ck_assert_str_eq(by.rows[1].value, "APAC");
    ck_assert_str_eq(by.rows[2].value, "EMEA");
    ck_assert_uint_eq(by.rows[2].partners, 2);
    ck_assert_uint_eq(by.rows[2].counts[0 * w + 1], 1); /* p0 T1; p2 (ent) is off emea */
    ck_assert_uint_eq(by.rows[2].counts[1 * w + 1], 2);
    ck_assert_str_eq(by.rows[3].value, "NA");
    ck_assert_uint_eq(by.rows[3].counts[1 * w + 0], 1); /* p1 unranked on all */
    engine_stats_by_free(&by);
    ck_assert_int_eq(engine_stats_by(e, "bad key", &by, &err), -TD_INVALID_ARGUMENT);
    engine_free(e);
    td_diags_free(&d);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("attrs");
    TCase *tc = tcase_create("attrs");
    tcase_add_test(tc, test_attrs_are_set_replaced_kept_and_cleared);
    tcase_add_test(tc, test_bad_attrs_are_refused_and_change_nothing);
    tcase_add_test(tc, test_partners_with_the_same_map_share_one_copy);
    tcase_add_test(tc, test_codec_v4_round_trips_attrs_and_v3_records_still_decode);
    tcase_add_test(tc, test_partner_filter_moves_partners_onto_and_off_ladders_with_reports);
    tcase_add_test(tc, test_bad_partner_filters_are_reported_at_their_place);
    tcase_add_test(tc, test_list_where_and_stats_by_attribute);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
