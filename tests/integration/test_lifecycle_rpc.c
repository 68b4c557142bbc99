/* Overrides and approvals through the real daemon and the real tierctl:
 * what an operator does by hand, end to end, with both ends recorded in
 * History and the tier state visible in `partner show --json`. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "harness.h"

/* Gold needs approval; the policy is immediate with no grace. */
static const char *const PROGRAM = "program: lc\n"
                                   "version: \"1\"\n"
                                   "metrics:\n"
                                   "  arr: { agg: sum, event: deal_closed, window: 365d }\n"
                                   "ladders:\n"
                                   "  reseller:\n"
                                   "    partner_types: [reseller]\n"
                                   "    policy: { approval: [Gold] }\n"
                                   "    tiers:\n"
                                   "      - { name: Bronze, when: arr >= 1 }\n"
                                   "      - { name: Silver, when: arr >= 100 }\n"
                                   "      - { name: Gold, when: arr >= 1000 }\n";

#define MUST HARNESS_TIERCTL_OK

static void start_with_partner(harness *h, const char *value)
{
    harness_init(h);
    HARNESS_START_OK(h, "--fake-clock", "2026-11-15T00:00:00Z", NULL);
    char path[HARNESS_PATH_MAX + 16];
    harness_write_file(h, "lc.yaml", PROGRAM, path, sizeof path);
    MUST(h, "program", "load", path);
    MUST(h, "partner", "put", "p-1", "--type", "reseller");
    MUST(h, "event", "add", "--partner", "p-1", "--metric", "deal_closed", "--value", value, "--at",
         "2026-11-01T00:00:00Z", "--id", "d-1", "--source", "crm");
}

/* The reseller ladder's object in `tierctl --json partner show p-1`. */
static json_t *reseller_state(harness *h)
{
    char *out = NULL, *err = NULL;
    ck_assert_int_eq(HARNESS_TIERCTL(h, &out, &err, "--json", "partner", "show", "p-1"), 0);
    json_error_t jerr;
    json_t *doc = json_loads(out, 0, &jerr);
    ck_assert_msg(doc != NULL, "not JSON: %s", out);
    free(out);
    free(err);
    json_t *l = json_incref(json_object_get(json_object_get(doc, "tiers"), "reseller"));
    json_decref(doc);
    ck_assert_ptr_nonnull(l);
    return l;
}

static const char *tier_of(json_t *l)
{
    json_t *t = json_object_get(l, "tier");
    return json_is_string(t) ? json_string_value(t) : "unranked";
}

static void expect_tier(harness *h, const char *tier)
{
    json_t *l = reseller_state(h);
    ck_assert_str_eq(tier_of(l), tier);
    json_decref(l);
}

/* `tierctl --json history p-1` (caller frees). */
static char *history_causes(harness *h)
{
    return harness_tierctl_expect(h, 0, (const char *const[]){"--json", "history", "p-1", NULL});
}

START_TEST(test_promotion_into_an_approval_tier_waits_until_approved_and_names_the_approver)
{
    harness h;
    start_with_partner(&h, "5000");
    json_t *l = reseller_state(&h);
    ck_assert_str_eq(tier_of(l), "Silver");
    ck_assert_str_eq(json_string_value(json_object_get(l, "pending")), "Gold");
    json_decref(l);

    char *out = NULL, *err = NULL;
    ck_assert_int_eq(HARNESS_TIERCTL(&h, &out, &err, "pending"), 0);
    ck_assert_msg(strstr(out, "p-1") && strstr(out, "Gold"), "%s", out);
    free(out);
    free(err);

    MUST(&h, "approve", "p-1", "--ladder", "reseller");
    expect_tier(&h, "Gold");
    char *hist = history_causes(&h);
    ck_assert_msg(strstr(hist, "approval") && strstr(hist, "\"ipc\""), "%s", hist);
    free(hist);
    harness_finish(&h);
}
END_TEST

START_TEST(test_denied_promotion_keeps_the_tier_and_is_recorded)
{
    harness h;
    start_with_partner(&h, "5000");
    MUST(&h, "deny", "p-1", "--ladder", "reseller", "--reason", "no joint plan yet");
    json_t *l = reseller_state(&h);
    ck_assert_str_eq(tier_of(l), "Silver");
    ck_assert_ptr_null(json_string_value(json_object_get(l, "pending")));
    json_decref(l);
    char *hist = history_causes(&h);
    ck_assert_msg(strstr(hist, "denial") && strstr(hist, "no joint plan yet"), "%s", hist);
    free(hist);
    /* a second decision has nothing to decide */
    char *out = NULL, *err = NULL;
    ck_assert_int_eq(HARNESS_TIERCTL(&h, &out, &err, "approve", "p-1", "--ladder", "reseller"), 1);
    free(out);
    free(err);
    harness_finish(&h);
}
END_TEST

START_TEST(test_override_wins_until_it_expires_and_history_records_both_ends)
{
    harness h;
    start_with_partner(&h, "150");
    MUST(&h, "override", "set", "p-1", "--ladder", "reseller", "--tier", "Bronze", "--until",
         "2026-12-01T00:00:00Z", "--reason", "contract dispute");
    expect_tier(&h, "Bronze");

    MUST(&h, "clock", "advance", "20d");
    expect_tier(&h, "Silver");
    char *hist = history_causes(&h);
    ck_assert_msg(strstr(hist, "override_expired") && strstr(hist, "contract dispute"), "%s", hist);
    free(hist);
    harness_finish(&h);
}
END_TEST

START_TEST(test_cleared_override_returns_the_partner_to_its_earned_tier)
{
    harness h;
    start_with_partner(&h, "150");
    MUST(&h, "override", "set", "p-1", "--ladder", "reseller", "--tier", "Gold", "--until",
         "2027-06-01T00:00:00Z", "--reason", "strategic pilot");
    expect_tier(&h, "Gold");
    MUST(&h, "override", "clear", "p-1", "--ladder", "reseller");
    expect_tier(&h, "Silver");
    char *hist = history_causes(&h);
    ck_assert_msg(strstr(hist, "override_cleared"), "%s", hist);
    free(hist);
    harness_finish(&h);
}
END_TEST

START_TEST(test_override_with_an_expiry_in_the_past_is_refused)
{
    harness h;
    start_with_partner(&h, "150");
    char *out = NULL, *err = NULL;
    ck_assert_int_eq(HARNESS_TIERCTL(&h, &out, &err, "override", "set", "p-1", "--ladder",
                                     "reseller", "--tier", "Gold", "--until",
                                     "2026-01-01T00:00:00Z", "--reason", "too late"),
                     1);
    ck_assert_msg(strstr(err, "INVALID_ARGUMENT") != NULL, "%s", err);
    free(out);
    free(err);
    expect_tier(&h, "Silver");
    harness_finish(&h);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lifecycle_rpc");
    TCase *tc = tcase_create("lifecycle");
    tcase_set_timeout(tc, 60);
    tcase_add_test(
        tc, test_promotion_into_an_approval_tier_waits_until_approved_and_names_the_approver);
    tcase_add_test(tc, test_denied_promotion_keeps_the_tier_and_is_recorded);
    tcase_add_test(tc, test_override_wins_until_it_expires_and_history_records_both_ends);
    tcase_add_test(tc, test_cleared_override_returns_the_partner_to_its_earned_tier);
    tcase_add_test(tc, test_override_with_an_expiry_in_the_past_is_refused);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
