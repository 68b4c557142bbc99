/* What tierctl tells a person about the lifecycle, end to end through the
 * real tierd: a program load's impact, why a tier was lost, a metric with
 * no value yet, a withdrawn approval, and `since` after an override. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define CLOCK_START "2026-11-15T00:00:00Z"
#define DAY         86400
#define TEXT_MAX    2048

/* T3 needs a person; csat has no events at all. */
static const char *const V1 = "program: rep\n"
                              "version: \"1\"\n"
                              "metrics:\n"
                              "  lvl: { agg: latest, event: level }\n"
                              "  csat: { agg: avg, window: 30d }\n"
                              "ladders:\n"
                              "  main:\n"
                              "    partner_types: [reseller]\n"
                              "    policy: { grace: 30d, approval: [T3] }\n"
                              "    tiers:\n"
                              "      - { name: T1, when: lvl >= 1 }\n"
                              "      - { name: T2, when: lvl >= 2 }\n"
                              "      - { name: T3, when: lvl >= 4 }\n"
                              "      - { name: T4, when: lvl >= 9 and csat >= 80% }\n";

/* T2 gets harder (d falls below it, with grace), T3 easier (a qualifies,
 * but T3 waits for approval), u is untouched. */
static const char *const V2 = "program: rep\n"
                              "version: \"2\"\n"
                              "metrics:\n"
                              "  lvl: { agg: latest, event: level }\n"
                              "  csat: { agg: avg, window: 30d }\n"
                              "ladders:\n"
                              "  main:\n"
                              "    partner_types: [reseller]\n"
                              "    policy: { grace: 30d, approval: [T3] }\n"
                              "    tiers:\n"
                              "      - { name: T1, when: lvl >= 1 }\n"
                              "      - { name: T2, when: lvl >= 2.5 }\n"
                              "      - { name: T3, when: lvl >= 3 }\n"
                              "      - { name: T4, when: lvl >= 9 and csat >= 80% }\n";

/* tierctl argv... exiting with want_rc; its stdout (caller frees). */
static char *ctl(harness *h, int want_rc, const char *const *argv)
{
    return harness_tierctl_expect(h, want_rc, argv);
}

static json_t *ctl_json(harness *h, const char *const *argv)
{
    char *out = ctl(h, 0, argv);
    json_error_t jerr;
    json_t *doc = json_loads(out, 0, &jerr);
    ck_assert_msg(doc != NULL, "not JSON (%s): %s", jerr.text, out);
    free(out);
    return doc;
}

static void level(harness *h, const char *partner, const char *value, const char *id)
{
    free(ctl(h, 0,
             (const char *const[]){"event", "add", "--partner", partner, "--metric", "level",
                                   "--value", value, "--id", id, NULL}));
}

/* a holds T2 (lvl 3), d holds T2 (lvl 2), u holds T1 (lvl 1), under V1. */
static void start_v1(harness *h)
{
    harness_init(h);
    HARNESS_START_OK(h, "--fake-clock", CLOCK_START, NULL);
    char path[HARNESS_PATH_MAX];
    harness_write_file(h, "v1.yaml", V1, path, sizeof path);
    free(ctl(h, 0, (const char *const[]){"program", "load", path, NULL}));
    const char *ids[] = {"a", "d", "u"};
    for (size_t i = 0; i < 3; i++)
        free(
            ctl(h, 0, (const char *const[]){"partner", "put", ids[i], "--type", "reseller", NULL}));
    level(h, "a", "3", "e-a");
    level(h, "d", "2", "e-d");
    level(h, "u", "1", "e-u");
}

static json_int_t int_at(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    ck_assert_msg(json_is_integer(v), "'%s' is not an integer", key);
    return json_integer_value(v);
}

static void check_v2_impact(json_t *doc)
{
    json_t *im = json_object_get(doc, "impact");
    ck_assert_msg(json_is_object(im), "no impact object");
    ck_assert_int_eq(int_at(im, "promoted"), 0);
    ck_assert_int_eq(int_at(im, "queued_for_approval"), 1);
    ck_assert_int_eq(int_at(im, "demoted"), 0);
    ck_assert_int_eq(int_at(im, "demoted_later"), 1);
    ck_assert_str_eq(json_string_value(json_object_get(im, "first_demotion")),
                     "2026-12-15T00:00:00Z");
    ck_assert_int_eq(int_at(im, "unchanged"), 1);
}

START_TEST(test_program_load_states_queued_approvals_and_later_demotions)
{
    harness h;
    start_v1(&h);
    char path[HARNESS_PATH_MAX];
    harness_write_file(&h, "v2.yaml", V2, path, sizeof path);
    json_t *dry =
        ctl_json(&h, (const char *const[]){"--json", "program", "load", path, "--dry-run", NULL});
    check_v2_impact(dry);
    json_decref(dry);
    char *text = ctl(&h, 0, (const char *const[]){"program", "load", path, "--dry-run", NULL});
    ck_assert_msg(strstr(text, "queued for approval  1") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "demoted later        1  (on 2026-12-15, unless they recover)"),
                  "%s", text);
    free(text);
    /* The load itself reports the same, and it is what happens. */
    json_t *load = ctl_json(&h, (const char *const[]){"--json", "program", "load", path, NULL});
    check_v2_impact(load);
    json_decref(load);
    char *pending = ctl(&h, 0, (const char *const[]){"pending", NULL});
    ck_assert_msg(strstr(pending, "a") && strstr(pending, "T3"), "%s", pending);
    free(pending);
    harness_finish(&h);
}
END_TEST

START_TEST(test_history_says_which_criteria_lost_the_tier)
{
    harness h;
    start_v1(&h);
    char path[HARNESS_PATH_MAX];
    harness_write_file(&h, "v2.yaml", V2, path, sizeof path);
    free(ctl(&h, 0, (const char *const[]){"program", "load", path, NULL}));
    free(ctl(&h, 0, (const char *const[]){"clock", "advance", "31d", NULL}));
    json_t *hist = ctl_json(&h, (const char *const[]){"--json", "history", "d", NULL});
    json_t *changes = json_object_get(hist, "changes");
    ck_assert_uint_ge(json_array_size(changes), 1);
    json_t *last = json_array_get(changes, 0); /* newest first */
    ck_assert_str_eq(json_string_value(json_object_get(last, "from")), "T2");
    ck_assert_str_eq(json_string_value(json_object_get(last, "to")), "T1");
    /* The ladder is cumulative: T2's criteria come after the T1 ones it
     * inherits, each naming its tier. */
    json_t *lost = json_object_get(last, "lost");
    ck_assert_msg(json_array_size(lost) == 2, "lost: %zu criteria", json_array_size(lost));
    json_t *inherited = json_array_get(lost, 0);
    ck_assert_str_eq(json_string_value(json_object_get(inherited, "tier")), "T1");
    ck_assert(json_is_true(json_object_get(inherited, "met")));
    json_t *k = json_array_get(lost, 1);
    ck_assert_str_eq(json_string_value(json_object_get(k, "tier")), "T2");
    ck_assert_str_eq(json_string_value(json_object_get(k, "metric")), "lvl");
    ck_assert(json_is_false(json_object_get(k, "met")));
    ck_assert_int_eq(json_integer_value(json_object_get(k, "value")), 2);
    ck_assert_double_eq(json_number_value(json_object_get(k, "threshold")), 2.5);
    json_decref(hist);
    char *text = ctl(&h, 0, (const char *const[]){"history", "d", NULL});
    ck_assert_msg(strstr(text, "lost T2: lvl >= 2.5 not met (2)") != NULL, "%s", text);
    free(text);
    harness_finish(&h);
}
END_TEST

START_TEST(test_a_withdrawn_approval_reads_as_withdrawn)
{
    harness h;
    start_v1(&h);
    level(&h, "a", "4", "e-a4"); /* qualifies for T3: queued */
    char *pending = ctl(&h, 0, (const char *const[]){"pending", NULL});
    ck_assert_msg(strstr(pending, "T3") != NULL, "%s", pending);
    free(pending);
    level(&h, "a", "3", "e-a3"); /* no longer */
    char *text = ctl(&h, 0, (const char *const[]){"history", "a", NULL});
    ck_assert_msg(
        strstr(text, "promotion to T3 withdrawn (event tierctl/e-a3): no longer qualifies"), "%s",
        text);
    ck_assert_msg(strstr(text, "T2 -> T2") == NULL, "%s", text);
    free(text);
    json_t *hist = ctl_json(&h, (const char *const[]){"--json", "history", "a", NULL});
    json_t *changes = json_object_get(hist, "changes");
    json_t *last = json_array_get(changes, 0); /* newest first */
    ck_assert_str_eq(json_string_value(json_object_get(last, "cause")), "withdrawn");
    ck_assert_str_eq(json_string_value(json_object_get(last, "promotion_tier")), "T3");
    json_decref(hist);
    harness_finish(&h);
}
END_TEST

START_TEST(test_a_metric_with_no_value_says_so)
{
    harness h;
    start_v1(&h);
    level(&h, "a", "9", "e-a9");
    free(ctl(&h, 0, (const char *const[]){"approve", "a", "--ladder", "main", NULL}));
    json_t *x = ctl_json(&h, (const char *const[]){"--json", "explain", "a", NULL});
    json_t *gaps = json_object_get(json_object_get(x, "next"), "gaps");
    ck_assert_uint_eq(json_array_size(gaps), 1);
    json_t *g = json_array_get(gaps, 0);
    ck_assert_str_eq(json_string_value(json_object_get(g, "metric")), "csat");
    ck_assert(json_is_null(json_object_get(g, "value")));
    ck_assert(json_is_null(json_object_get(g, "missing")));
    json_decref(x);
    char *text = ctl(&h, 0, (const char *const[]){"explain", "a", NULL});
    ck_assert_msg(strstr(text, "T4 needs csat >= 80%: no value yet") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "nan") == NULL, "%s", text);
    free(text);
    harness_finish(&h);
}
END_TEST

START_TEST(test_since_after_an_override_expires_is_the_expiry)
{
    harness h;
    start_v1(&h);
    free(ctl(&h, 0,
             (const char *const[]){"override", "set", "u", "--ladder", "main", "--tier", "T2",
                                   "--until", "2026-11-20T00:00:00Z", "--reason", "trial", NULL}));
    free(ctl(&h, 0, (const char *const[]){"clock", "advance", "6d", NULL}));
    json_t *p = ctl_json(&h, (const char *const[]){"--json", "partner", "show", "u", NULL});
    json_t *main = json_object_get(json_object_get(p, "tiers"), "main");
    ck_assert_str_eq(json_string_value(json_object_get(main, "tier")), "T1");
    ck_assert_str_eq(json_string_value(json_object_get(main, "since")), "2026-11-20T00:00:00Z");
    json_decref(p);
    harness_finish(&h);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lifecycle_report");
    TCase *tc = tcase_create("tierctl");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_program_load_states_queued_approvals_and_later_demotions);
    tcase_add_test(tc, test_history_says_which_criteria_lost_the_tier);
    tcase_add_test(tc, test_a_withdrawn_approval_reads_as_withdrawn);
    tcase_add_test(tc, test_a_metric_with_no_value_says_so);
    tcase_add_test(tc, test_since_after_an_override_expires_is_the_expiry);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
