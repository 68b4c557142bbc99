/* Program versions over time, through the real daemon: the notice period,
 * forcing, a version scheduled for a future `effective` that takes effect
 * when the (fake) clock reaches it, and the version in force surviving a
 * restart. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static const char *const V1 = "program: pv\n"
                              "version: \"1\"\n"
                              "metrics:\n"
                              "  arr: { agg: sum, event: deal_closed, window: 365d }\n"
                              "ladders:\n"
                              "  reseller:\n"
                              "    partner_types: [reseller]\n"
                              "    tiers:\n"
                              "      - { name: Bronze, when: arr >= 1 }\n"
                              "      - { name: Silver, when: arr >= 100 }\n";

/* Raises Silver to 1,000 (demoting p-1), with 90 days' notice, effective
 * 2026-12-01: less than 90 days after the 2026-11-15 clock. */
static const char *const V2 = "program: pv\n"
                              "version: \"2\"\n"
                              "effective: 2026-12-01\n"
                              "notice: 90d\n"
                              "metrics:\n"
                              "  arr: { agg: sum, event: deal_closed, window: 365d }\n"
                              "ladders:\n"
                              "  reseller:\n"
                              "    partner_types: [reseller]\n"
                              "    tiers:\n"
                              "      - { name: Bronze, when: arr >= 1 }\n"
                              "      - { name: Silver, when: arr >= 1000 }\n";

static int put(td_client *c, const char *yaml, bool force, Tierd__PutProgramResponse **out,
               td_error *err)
{
    Tierd__PutProgramRequest req = TIERD__PUT_PROGRAM_REQUEST__INIT;
    req.yaml = (char *)yaml;
    req.filename = "pv.yaml";
    req.force = force;
    return td_client_put_program(c, &req, out, err);
}

static const char *in_force(td_client *c, char *buf, size_t n)
{
    Tierd__GetProgramResponse *gp = NULL;
    td_error err = {0};
    ck_assert_int_eq(td_client_get_program(c, &gp, &err), 0);
    snprintf(buf, n, "%s", gp->version);
    tierd__get_program_response__free_unpacked(gp, NULL);
    return buf;
}

static void seed_silver_partner(harness *h, td_client *c)
{
    Tierd__PutProgramResponse *pr = NULL;
    td_error err = {0};
    ck_assert_int_eq(put(c, V1, false, &pr, &err), 0);
    tierd__put_program_response__free_unpacked(pr, NULL);
    HARNESS_TIERCTL_OK(h, "partner", "put", "p-1", "--type", "reseller");
    HARNESS_TIERCTL_OK(h, "event", "add", "--partner", "p-1", "--metric", "deal_closed", "--value",
                       "150", "--at", "2026-11-01T00:00:00Z", "--id", "d-1", "--source", "crm");
}

#define CLOCK_START "2026-11-15T00:00:00Z"
#define CLOCK_AFTER "2026-12-10T00:00:00Z" /* past V2's effective date */

/* A daemon at CLOCK_START running V1 with p-1 at Silver; returns a client. */
static td_client *start_with_silver_partner(harness *h)
{
    harness_init(h);
    HARNESS_START_OK(h, "--fake-clock", CLOCK_START, NULL);
    td_client *c = harness_client(h, NULL);
    seed_silver_partner(h, c);
    return c;
}

/* V2, forced past its notice: scheduled for its effective date. */
static void schedule_v2(td_client *c)
{
    Tierd__PutProgramResponse *pr = NULL;
    td_error err = {0};
    ck_assert_msg(put(c, V2, true, &pr, &err) == 0, "%s", err.message);
    ck_assert(pr->scheduled);
    tierd__put_program_response__free_unpacked(pr, NULL);
}

static void advance(td_client *c, const char *by)
{
    Tierd__ClockResponse *cr = NULL;
    td_error err = {0};
    ck_assert_msg(td_client_clock(c, by, &cr, &err) == 0, "%s", err.message);
    tierd__clock_response__free_unpacked(cr, NULL);
}

/* p-1's newest change (the caller frees *keep). */
static Tierd__TierChange *newest_change(td_client *c, Tierd__ChangesResponse **keep)
{
    Tierd__HistoryRequest hr = TIERD__HISTORY_REQUEST__INIT;
    hr.partner = "p-1";
    td_error err = {0};
    ck_assert_msg(td_client_history(c, &hr, keep, &err) == 0, "%s", err.message);
    ck_assert_uint_ge((*keep)->n_changes, 1);
    return (*keep)->changes[0]; /* newest first */
}

/* V1 is still in force; once the clock moves `by`, V2 is, and p-1's newest
 * change says the version made it (returned; the caller frees *keep). */
static Tierd__TierChange *expect_v2_after(td_client *c, const char *by,
                                          Tierd__ChangesResponse **keep)
{
    char v[64];
    ck_assert_str_eq(in_force(c, v, sizeof v), "1");
    advance(c, by);
    ck_assert_str_eq(in_force(c, v, sizeof v), "2");
    Tierd__TierChange *last = newest_change(c, keep);
    ck_assert_int_eq(last->cause, TIERD__CAUSE__PROGRAM_VERSION);
    return last;
}

START_TEST(test_version_inside_notice_that_demotes_is_refused_unless_forced)
{
    harness h;
    td_client *c = start_with_silver_partner(&h);

    Tierd__PutProgramResponse *pr = NULL;
    td_error err = {0};
    ck_assert_int_eq(put(c, V2, false, &pr, &err), -TD_FAILED_PRECONDITION);
    ck_assert_msg(strstr(err.message, "would demote 1 partner") != NULL, "%s", err.message);
    ck_assert_msg(strstr(err.message, "--force") != NULL, "%s", err.message);
    char v[64];
    ck_assert_str_eq(in_force(c, v, sizeof v), "1");

    schedule_v2(c);
    /* scheduled, not yet in force */
    ck_assert_str_eq(in_force(c, v, sizeof v), "1");
    td_client_close(c);
    harness_finish(&h);
}
END_TEST

START_TEST(test_scheduled_version_takes_effect_when_the_clock_reaches_it)
{
    harness h;
    td_client *c = start_with_silver_partner(&h);
    schedule_v2(c);

    advance(c, "10d");
    Tierd__ChangesResponse *hist = NULL;
    Tierd__TierChange *last = expect_v2_after(c, "10d", &hist);
    ck_assert_str_eq(last->from_tier, "Silver");
    ck_assert_str_eq(last->to_tier, "Bronze");
    ck_assert_str_eq(last->program_version, "2");
    /* 2026-12-01T00:00:00Z: the effective instant, not the clock's */
    ck_assert_int_eq(last->at, 1796083200);
    tierd__changes_response__free_unpacked(hist, NULL);
    td_client_close(c);
    ck_assert_int_eq(harness_stop(&h), 0);

    /* After a restart past the effective date, version 2 is still in force. */
    HARNESS_START_OK(&h, "--fake-clock", CLOCK_AFTER, NULL);
    c = harness_client(&h, NULL);
    char v[64];
    ck_assert_str_eq(in_force(c, v, sizeof v), "2");
    td_client_close(c);
    harness_finish(&h);
}
END_TEST

START_TEST(test_version_whose_instant_passed_while_down_takes_effect_with_its_changes_recorded)
{
    harness h;
    td_client *c = start_with_silver_partner(&h);
    schedule_v2(c);
    td_client_close(c);
    ck_assert_int_eq(harness_stop(&h), 0);

    /* Down across 2026-12-01: the version was never put in force, so it
     * still waits, and the first turn of the clock applies it. */
    HARNESS_START_OK(&h, "--fake-clock", CLOCK_AFTER, NULL);
    c = harness_client(&h, NULL);
    Tierd__ChangesResponse *hist = NULL;
    Tierd__TierChange *last = expect_v2_after(c, "1s", &hist);
    ck_assert_str_eq(last->to_tier, "Bronze");
    tierd__changes_response__free_unpacked(hist, NULL);
    td_client_close(c);
    harness_finish(&h);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("program_versions");
    TCase *tc = tcase_create("versions");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_version_inside_notice_that_demotes_is_refused_unless_forced);
    tcase_add_test(tc, test_scheduled_version_takes_effect_when_the_clock_reaches_it);
    tcase_add_test(
        tc, test_version_whose_instant_passed_while_down_takes_effect_with_its_changes_recorded);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
