/* Cumulative ladders end to end through the real tierd and tierctl: the
 * same partners on a cumulative and a non-cumulative ladder, explain with
 * inherited gaps, and GetPartner's lapses_at and demotion_at, kept across
 * a restart. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define CLOCK_START "2026-11-15T00:00:00Z"

/* Two ladders with the same tiers over the same metrics: `climb` is
 * cumulative (the default), `any` keeps the rule before 0.2. contract
 * counts for 30 days, so it lapses under a held tier. */
static const char *const PROGRAM = "program: cum\n"
                                   "version: \"1\"\n"
                                   "metrics:\n"
                                   "  contract: { agg: count, window: 30d }\n"
                                   "  deals: { agg: sum }\n"
                                   "ladders:\n"
                                   "  climb:\n"
                                   "    partner_types: [reseller]\n"
                                   "    policy: { grace: 10d }\n"
                                   "    tiers:\n"
                                   "      - { name: T1, when: contract >= 1 }\n"
                                   "      - { name: T2, when: deals >= 2 }\n"
                                   "      - { name: T3, when: deals >= 5 }\n"
                                   "  any:\n"
                                   "    partner_types: [reseller]\n"
                                   "    cumulative: false\n"
                                   "    policy: { grace: 10d }\n"
                                   "    tiers:\n"
                                   "      - { name: T1, when: contract >= 1 }\n"
                                   "      - { name: T2, when: deals >= 2 }\n"
                                   "      - { name: T3, when: deals >= 5 }\n";

static json_t *ctl_json(harness *h, const char *const *argv)
{
    char *out = harness_tierctl_expect(h, 0, argv);
    json_error_t jerr;
    json_t *doc = json_loads(out, 0, &jerr);
    ck_assert_msg(doc != NULL, "not JSON (%s): %s", jerr.text, out);
    free(out);
    return doc;
}

static void event(harness *h, const char *partner, const char *metric, const char *value,
                  const char *id)
{
    free(harness_tierctl_expect(h, 0,
                                (const char *const[]){"event", "add", "--partner", partner,
                                                      "--metric", metric, "--value", value, "--id",
                                                      id, NULL}));
}

static const char *tier_on(json_t *partner, const char *ladder)
{
    json_t *t = json_object_get(json_object_get(json_object_get(partner, "tiers"), ladder), "tier");
    return json_is_string(t) ? json_string_value(t) : "unranked";
}

static void start(harness *h)
{
    harness_init(h);
    HARNESS_START_OK(h, "--fake-clock", CLOCK_START, NULL);
    char path[HARNESS_PATH_MAX];
    harness_write_file(h, "p.yaml", PROGRAM, path, sizeof path);
    free(harness_tierctl_expect(h, 0, (const char *const[]){"program", "load", path, NULL}));
    free(harness_tierctl_expect(
        h, 0, (const char *const[]){"partner", "put", "a", "--type", "reseller", NULL}));
}

START_TEST(test_the_same_partner_climbs_on_one_ladder_and_jumps_on_the_other)
{
    harness h;
    start(&h);
    event(&h, "a", "deals", "6", "d1");
    json_t *p = ctl_json(&h, (const char *const[]){"--json", "partner", "show", "a", NULL});
    ck_assert_str_eq(tier_on(p, "climb"), "unranked");
    ck_assert_str_eq(tier_on(p, "any"), "T3");
    json_decref(p);

    /* Explain says T3's own criteria hold but T1 blocks it, and the gap to
     * T1 is the contract. */
    json_t *x =
        ctl_json(&h, (const char *const[]){"--json", "explain", "a", "--ladder", "climb", NULL});
    json_t *l = x; /* one ladder asked: one object */
    ck_assert(json_is_true(json_object_get(l, "cumulative")));
    json_t *t3 = json_array_get(json_object_get(l, "tiers"), 2);
    ck_assert(json_is_true(json_object_get(t3, "holds")));
    ck_assert(json_is_false(json_object_get(t3, "qualifies")));
    ck_assert_str_eq(json_string_value(json_object_get(t3, "blocked_by")), "T1");
    json_t *gap = json_array_get(json_object_get(json_object_get(l, "next"), "gaps"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(gap, "metric")), "contract");
    ck_assert_str_eq(json_string_value(json_object_get(gap, "tier")), "T1");
    json_decref(x);
    char *text = harness_tierctl_expect(
        &h, 0, (const char *const[]){"explain", "a", "--ladder", "climb", NULL});
    ck_assert_msg(strstr(text, "T3: deals >= 5  (needs T1 first)") != NULL, "%s", text);
    free(text);

    text = harness_tierctl_expect(&h, 0, (const char *const[]){"program", "show", NULL});
    ck_assert_msg(strstr(text, "ladder any (reseller): T1 < T2 < T3  (not cumulative)") != NULL,
                  "%s", text);
    ck_assert_msg(strstr(text, "ladder climb (reseller): T1 < T2 < T3\n") != NULL, "%s", text);
    free(text);

    /* With the contract it climbs to T3 on both. */
    event(&h, "a", "contract", "1", "c1");
    p = ctl_json(&h, (const char *const[]){"--json", "partner", "show", "a", NULL});
    ck_assert_str_eq(tier_on(p, "climb"), "T3");
    ck_assert_str_eq(tier_on(p, "any"), "T3");
    json_decref(p);
    harness_finish(&h);
}
END_TEST

START_TEST(test_get_partner_dates_the_lapse_and_the_demotion_across_a_restart)
{
    harness h;
    start(&h);
    event(&h, "a", "deals", "6", "d1");
    event(&h, "a", "contract", "1", "c1");
    json_t *p = ctl_json(&h, (const char *const[]){"--json", "partner", "show", "a", NULL});
    ck_assert_str_eq(tier_on(p, "climb"), "T3");
    json_t *climb = json_object_get(json_object_get(p, "tiers"), "climb");
    /* The contract leaves its 30-day window on 2026-12-15; grace 10 days. */
    ck_assert_str_eq(json_string_value(json_object_get(climb, "lapses_at")),
                     "2026-12-15T00:00:00Z");
    ck_assert_str_eq(json_string_value(json_object_get(climb, "demotion_at")),
                     "2026-12-25T00:00:00Z");
    ck_assert_str_eq(json_string_value(json_object_get(climb, "demotion_tier")), "T2");
    ck_assert_str_eq(json_string_value(json_object_get(climb, "demotion_reason")), "grace_end");
    char *text = harness_tierctl_expect(
        &h, 0, (const char *const[]){"explain", "a", "--ladder", "climb", NULL});
    ck_assert_msg(strstr(text, "at risk: falls to T2 on 2026-12-25 (grace end) if nothing new "
                               "arrives") != NULL,
                  "%s", text);
    free(text);
    /* The non-cumulative ladder does not lose T3 with the contract. */
    json_t *any = json_object_get(json_object_get(p, "tiers"), "any");
    ck_assert_ptr_null(json_object_get(any, "demotion_at"));
    json_decref(p);

    ck_assert_int_eq(harness_stop(&h), 0);
    HARNESS_START_OK(&h, "--fake-clock", CLOCK_START, NULL);
    free(harness_tierctl_expect(&h, 0, (const char *const[]){"clock", "advance", "40d", NULL}));
    /* One tier per drop: T2 on day 40, and T2's own grace starts then. */
    p = ctl_json(&h, (const char *const[]){"--json", "partner", "show", "a", NULL});
    ck_assert_str_eq(tier_on(p, "climb"), "T2");
    ck_assert_str_eq(tier_on(p, "any"), "T3");
    json_decref(p);
    json_t *hist = ctl_json(&h, (const char *const[]){"--json", "history", "a", NULL});
    json_t *down = json_array_get(json_object_get(hist, "changes"), 0); /* newest first */
    ck_assert_str_eq(json_string_value(json_object_get(down, "from")), "T3");
    ck_assert_str_eq(json_string_value(json_object_get(down, "to")), "T2");
    json_t *lost0 = json_array_get(json_object_get(down, "lost"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(lost0, "tier")), "T1");
    ck_assert(json_is_false(json_object_get(lost0, "met")));
    json_decref(hist);
    harness_finish(&h);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cumulative_rpc");
    TCase *tc = tcase_create("tierctl");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_the_same_partner_climbs_on_one_ladder_and_jumps_on_the_other);
    tcase_add_test(tc, test_get_partner_dates_the_lapse_and_the_demotion_across_a_restart);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
