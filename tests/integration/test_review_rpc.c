/* Demotion review through the real daemon and the real tierctl: a demotion
 * out of a tier under review waits in `tierctl pending` with its deadline,
 * and is approved, denied, or goes through by itself at the deadline on the
 * fake clock. The daemon is stopped and started again (at the clock it had
 * reached) between every step, so every piece of the review lives in the
 * store, and History says who decided. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "harness.h"

/* `lvl` is the latest `level` event, so one event sets the tier wanted. */
static const char *const PROGRAM = "program: rv\n"
                                   "version: \"1\"\n"
                                   "metrics:\n"
                                   "  lvl: { agg: latest, event: level }\n"
                                   "ladders:\n"
                                   "  reseller:\n"
                                   "    partner_types: [reseller]\n"
                                   "    policy: { review_demotions: true, review_deadline: 10d }\n"
                                   "    tiers:\n"
                                   "      - { name: Bronze, when: lvl >= 1 }\n"
                                   "      - { name: Silver, when: lvl >= 2 }\n"
                                   "      - { name: Gold, when: lvl >= 3 }\n";

#define START    "2026-11-15T00:00:00Z"
#define DEADLINE "2026-11-25T00:00:00Z" /* START + review_deadline */
#define TIME_MAX 64
#define MUST     HARNESS_TIERCTL_OK

/* Stops the daemon and starts it again at the clock it had reached. */
static void restart(harness *h)
{
    td_client *c = harness_client(h, NULL);
    td_error err = {0};
    Tierd__ClockResponse *cr = NULL;
    ck_assert_msg(td_client_clock(c, NULL, &cr, &err) == 0, "%s", err.message);
    time_t t = (time_t)cr->now;
    tierd__clock_response__free_unpacked(cr, NULL);
    td_client_close(c);
    struct tm tm;
    char now[TIME_MAX];
    ck_assert_ptr_nonnull(gmtime_r(&t, &tm));
    ck_assert_uint_gt(strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", &tm), 0);
    ck_assert_int_eq(harness_stop(h), 0);
    HARNESS_START_OK(h, "--fake-clock", now, NULL);
}

/* `latest` keeps the event with the greatest `at`, so each one is dated. */
static void level(harness *h, const char *value, const char *at, const char *id)
{
    MUST(h, "event", "add", "--partner", "p-1", "--metric", "level", "--value", value, "--at", at,
         "--id", id, "--source", "crm");
}

static json_t *ctl_json(harness *h, const char *const *argv)
{
    char *out = harness_tierctl_expect(h, 0, argv);
    json_error_t jerr;
    json_t *doc = json_loads(out, 0, &jerr);
    ck_assert_msg(doc != NULL, "not JSON: %s", out);
    free(out);
    return doc;
}

/* The reseller ladder's object in `tierctl --json partner show p-1`. */
static json_t *reseller_state(harness *h)
{
    json_t *doc = ctl_json(h, (const char *const[]){"--json", "partner", "show", "p-1", NULL});
    json_t *l = json_incref(json_object_get(json_object_get(doc, "tiers"), "reseller"));
    json_decref(doc);
    ck_assert_ptr_nonnull(l);
    return l;
}

static void expect_tier(harness *h, const char *tier)
{
    json_t *l = reseller_state(h);
    ck_assert_str_eq(json_string_value(json_object_get(l, "tier")), tier);
    json_decref(l);
}

static const char *str(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : "(none)";
}

/* Exactly one entry in `tierctl --json pending`: p-1's demotion from Gold
 * to Silver, queued at START with its deadline; also in `partner show`. */
static void expect_pending_demotion(harness *h)
{
    json_t *doc = ctl_json(h, (const char *const[]){"--json", "pending", NULL});
    json_t *arr = json_object_get(doc, "pending");
    ck_assert_uint_eq(json_array_size(arr), 1);
    json_t *p = json_array_get(arr, 0);
    ck_assert_str_eq(str(p, "partner"), "p-1");
    ck_assert_str_eq(str(p, "direction"), "demotion");
    ck_assert_str_eq(str(p, "from"), "Gold");
    ck_assert_str_eq(str(p, "to"), "Silver");
    ck_assert_str_eq(str(p, "since"), START);
    ck_assert_str_eq(str(p, "deadline"), DEADLINE);
    json_decref(doc);
    json_t *l = reseller_state(h);
    ck_assert_str_eq(str(l, "tier"), "Gold");
    json_t *pd = json_object_get(l, "pending_demotion");
    ck_assert_str_eq(str(pd, "to"), "Silver");
    ck_assert_str_eq(str(pd, "deadline"), DEADLINE);
    json_decref(l);
    char *out = harness_tierctl_expect(h, 0, (const char *const[]){"pending", NULL});
    ck_assert_msg(strstr(out, "p-1 reseller: Gold -> Silver demotion") &&
                      strstr(out, "unless denied"),
                  "%s", out);
    free(out);
}

static void expect_nothing_pending(harness *h)
{
    json_t *doc = ctl_json(h, (const char *const[]){"--json", "pending", NULL});
    ck_assert_uint_eq(json_array_size(json_object_get(doc, "pending")), 0);
    json_decref(doc);
}

/* The latest change in p-1's History, newest first (caller frees *doc). */
static json_t *last_change(harness *h, json_t **doc)
{
    *doc = ctl_json(h, (const char *const[]){"--json", "history", "p-1", NULL});
    json_t *arr = json_object_get(*doc, "changes");
    ck_assert_uint_gt(json_array_size(arr), 0);
    return json_array_get(arr, 0);
}

/* Gold at START, then below it at START: the demotion waits for review. */
static void start_fallen(harness *h)
{
    harness_init(h);
    HARNESS_START_OK(h, "--fake-clock", "2026-11-14T00:00:00Z", NULL);
    char path[HARNESS_PATH_MAX + 16];
    harness_write_file(h, "rv.yaml", PROGRAM, path, sizeof path);
    MUST(h, "program", "load", path);
    MUST(h, "partner", "put", "p-1", "--type", "reseller");
    level(h, "3", "2026-11-14T00:00:00Z", "l-1");
    restart(h);
    expect_tier(h, "Gold");
    /* A day later, so the drop is not the second tier move of one instant. */
    MUST(h, "clock", "advance", "1d");
    restart(h);
    level(h, "2", START, "l-2");
    restart(h);
    expect_pending_demotion(h);
    MUST(h, "clock", "advance", "2d");
    restart(h);
    expect_pending_demotion(h);
}

START_TEST(test_an_approved_demotion_happens_at_once_and_names_the_approver)
{
    harness h;
    start_fallen(&h);
    MUST(&h, "approve", "p-1", "--ladder", "reseller", "--reason", "confirmed with the AM");
    restart(&h);
    expect_tier(&h, "Silver");
    expect_nothing_pending(&h);
    json_t *doc, *c = last_change(&h, &doc);
    ck_assert_str_eq(str(c, "cause"), "approval");
    ck_assert_str_eq(str(c, "from"), "Gold");
    ck_assert_str_eq(str(c, "to"), "Silver");
    ck_assert_str_eq(str(c, "actor"), "ipc");
    ck_assert_str_eq(str(c, "reason"), "confirmed with the AM");
    ck_assert_str_eq(str(c, "at"), "2026-11-17T00:00:00Z");
    json_decref(doc);
    /* The deadline passing later changes nothing more. */
    MUST(&h, "clock", "advance", "20d");
    restart(&h);
    expect_tier(&h, "Silver");
    harness_finish(&h);
}
END_TEST

START_TEST(test_a_denied_demotion_keeps_the_tier_past_its_deadline_until_the_partner_falls_anew)
{
    harness h;
    start_fallen(&h);
    MUST(&h, "deny", "p-1", "--ladder", "reseller", "--reason", "renewal is signed");
    restart(&h);
    expect_tier(&h, "Gold");
    expect_nothing_pending(&h);
    json_t *doc, *c = last_change(&h, &doc);
    ck_assert_str_eq(str(c, "cause"), "denial");
    ck_assert_str_eq(str(c, "from"), "Gold");
    ck_assert_str_eq(str(c, "to"), "Gold");
    ck_assert_str_eq(str(c, "promotion_tier"), "Silver");
    ck_assert(json_is_true(json_object_get(c, "dropped_demotion")));
    ck_assert_str_eq(str(c, "actor"), "ipc");
    ck_assert_str_eq(str(c, "reason"), "renewal is signed");
    json_decref(doc);
    char *out = harness_tierctl_expect(&h, 0, (const char *const[]){"history", "p-1", NULL});
    ck_assert_msg(strstr(out, "demotion to Silver denied by ipc"), "%s", out);
    free(out);
    /* Far past the deadline, and across restarts, the denial holds. */
    MUST(&h, "clock", "advance", "30d");
    restart(&h);
    expect_tier(&h, "Gold");
    expect_nothing_pending(&h);
    /* Back up, then down again: queued anew. */
    level(&h, "3", "2026-12-16T00:00:00Z", "l-3");
    restart(&h);
    level(&h, "2", "2026-12-17T00:00:00Z", "l-4");
    restart(&h);
    json_t *pd = ctl_json(&h, (const char *const[]){"--json", "pending", NULL});
    json_t *p = json_array_get(json_object_get(pd, "pending"), 0);
    ck_assert_str_eq(str(p, "direction"), "demotion");
    ck_assert_str_eq(str(p, "since"), "2026-12-17T00:00:00Z");
    json_decref(pd);
    harness_finish(&h);
}
END_TEST

START_TEST(test_with_no_decision_the_demotion_goes_through_at_the_deadline_by_the_system)
{
    harness h;
    start_fallen(&h);
    MUST(&h, "clock", "advance", "7d"); /* a second before the deadline is not it */
    restart(&h);
    MUST(&h, "clock", "advance", "86399s");
    restart(&h);
    expect_pending_demotion(&h);
    MUST(&h, "clock", "advance", "2s");
    restart(&h);
    expect_tier(&h, "Silver");
    expect_nothing_pending(&h);
    json_t *doc, *c = last_change(&h, &doc);
    ck_assert_str_eq(str(c, "cause"), "demotion");
    ck_assert_str_eq(str(c, "from"), "Gold");
    ck_assert_str_eq(str(c, "to"), "Silver");
    ck_assert_str_eq(str(c, "actor"), "system");
    ck_assert_str_eq(str(c, "reason"), "review deadline passed");
    ck_assert_str_eq(str(c, "at"), DEADLINE);
    json_decref(doc);
    harness_finish(&h);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("review_rpc");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_an_approved_demotion_happens_at_once_and_names_the_approver);
    tcase_add_test(
        tc, test_a_denied_demotion_keeps_the_tier_past_its_deadline_until_the_partner_falls_anew);
    tcase_add_test(tc,
                   test_with_no_decision_the_demotion_goes_through_at_the_deadline_by_the_system);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(suite());
}
