/* Time alone changes tiers, end to end: a real tierd with --fake-clock, the
 * shipped example program, a reseller made Selling by events, then
 * `tierctl clock advance` and no further event. The demotion must be in
 * History dated when the deal left its 365-day window, not at the advance
 * target: the daemon behaves as if it had been running through the jump.
 *
 * A last test does the same on the wall clock: the loop's own timer fires
 * when the window expires.
 *
 * Needs the daemon's timers wired in: the Clock handler (timers_advance) and,
 * for the wall-clock test, timers_touch after every accepted event. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "tierd.pb-c.h"

#define CLOCK_START            "2027-03-01T00:00:00Z"
#define CLOCK_START_T          ((int64_t)1803859200)
#define DAY                    ((int64_t)86400)
#define DEAL_AT                "2027-02-01T00:00:00Z"
#define DEAL_AT_T              ((int64_t)1801440000)
#define WINDOW_DAYS            365
#define ADVANCE                "400d"
#define ADVANCE_DAYS           400
#define SHORT_ADVANCE          "300d"
#define SHORT_ADVANCE_DAYS     300
#define REST_ADVANCE           "100d" /* with SHORT_ADVANCE: past the expiry */
#define LIFECYCLE_ADVANCE      "500d"
#define LIFECYCLE_ADVANCE_DAYS 500
#define REVIEW_AFTER_GRACE_T   ((int64_t)1846022400) /* 2028-07-01 */
#define PATH_BUF               1024
#define TIME_BUF               32
#define EXPIRES_IN_S           3
#define WAIT_MAX_MS            15000
/* More restored partners than TIMERS_FILL_MIN_PARTNERS (daemon/timers.h),
 * so a restart queues their due times in the background. */
#define FILL_PARTNERS 10000
/* Time for a stop and a restart before the window expires. */
#define RESTART_EXPIRES_IN_S 8

static harness h;

static void setup(void)
{
    harness_init(&h);
    HARNESS_START_OK(&h, "--fake-clock", CLOCK_START, NULL);
}

static void setup_real_clock(void)
{
    harness_init(&h);
    HARNESS_START_OK(&h, NULL);
}

static void teardown(void)
{
    /* A clean exit 0 also means the timers closed and freed (ASan builds). */
    int status = harness_stop(&h);
    if (status != 0) {
        char *log = harness_log(&h);
        fprintf(stderr, "%s", log);
        free(log);
    }
    ck_assert_int_eq(status, 0);
    harness_cleanup(&h);
}

#define TIERCTL_OK(...) HARNESS_TIERCTL_OK(&h, __VA_ARGS__)

/* The reseller motion without a lifecycle policy (review immediate, no
 * grace): the tier follows its criteria the moment they change. */
static const char immediate_program[] =
    "program: immediate\n"
    "version: \"1\"\n"
    "metrics:\n"
    "  arr:             { agg: sum, event: deal_closed, window: 365d }\n"
    "  active_sellers:  { agg: latest }\n"
    "  sales_certs:     { agg: distinct, event: certification, window: 730d }\n"
    "  contract_signed: { agg: latest }\n"
    "ladders:\n"
    "  reseller:\n"
    "    partner_types: [reseller]\n"
    "    gate: active_sellers >= 1\n"
    "    tiers:\n"
    "      - name: Registered\n"
    "        when: contract_signed >= 1 and sales_certs >= 1\n"
    "      - name: Selling\n"
    "        when: arr >= 50k and active_sellers >= 3\n";

/* Loads the shipped example program, or immediate_program when immediate. */
static void load_program(bool immediate)
{
    char path[PATH_BUF];
    if (immediate) {
        harness_write_file(&h, "immediate.yaml", immediate_program, path, sizeof path);
    } else {
        const char *root = getenv("TIERD_SOURCE_ROOT");
        ck_assert_ptr_nonnull(root);
        snprintf(path, sizeof path, "%s/examples/programs/partners.yaml", root);
    }
    TIERCTL_OK("program", "load", path);
}

/* p-1 reaches Selling: contract, sellers and a certification at `recent`,
 * one 60k deal at `deal`. */
static void make_selling(const char *recent, const char *deal)
{
    TIERCTL_OK("partner", "put", "p-1", "--type", "reseller", "--name", "Acme");
    TIERCTL_OK("event", "add", "--partner", "p-1", "--metric", "contract_signed", "--at", recent,
               "--id", "c-1", "--source", "crm");
    TIERCTL_OK("event", "add", "--partner", "p-1", "--metric", "active_sellers", "--value", "3",
               "--at", recent, "--id", "s-1", "--source", "crm");
    TIERCTL_OK("event", "add", "--partner", "p-1", "--metric", "certification", "--key", "cert-a",
               "--at", recent, "--id", "l-1", "--source", "lms");
    TIERCTL_OK("event", "add", "--partner", "p-1", "--metric", "deal_closed", "--value", "60000",
               "--at", deal, "--id", "o-1", "--source", "crm");
}

static Tierd__ChangesResponse *history(const char *partner)
{
    td_client *cli = harness_client(&h, NULL);
    ck_assert_ptr_nonnull(cli);
    Tierd__HistoryRequest req = TIERD__HISTORY_REQUEST__INIT;
    req.partner = (char *)partner;
    Tierd__ChangesResponse *r = NULL;
    td_error err;
    ck_assert_msg(td_client_history(cli, &req, &r, &err) == 0, "%s", err.message);
    td_client_close(cli);
    return r;
}

/* The demotion after `clock advance`, checked against History: one new
 * change, Selling -> Registered, with no triggering event. */
static const Tierd__TierChange *expect_demotion(Tierd__ChangesResponse *r, uint64_t before,
                                                Tierd__Cause cause)
{
    ck_assert_uint_eq(r->n_changes, before + 1);
    const Tierd__TierChange *c = r->changes[0]; /* newest first */
    ck_assert_int_eq(c->cause, cause);
    ck_assert_str_eq(c->ladder, "reseller");
    ck_assert_str_eq(c->from_tier, "Selling");
    ck_assert_str_eq(c->to_tier, "Registered");
    ck_assert_str_eq(c->event_id, "");
    return c;
}

static uint64_t selling_changes(void)
{
    Tierd__ChangesResponse *r = history("p-1");
    ck_assert_uint_ge(r->n_changes, 1);
    ck_assert_str_eq(r->changes[0]->to_tier, "Selling");
    uint64_t n = r->n_changes;
    tierd__changes_response__free_unpacked(r, NULL);
    return n;
}

START_TEST(test_clock_advance_demotes_at_the_moment_the_window_expired)
{
    load_program(true);
    make_selling(DEAL_AT, DEAL_AT);
    uint64_t before = selling_changes();

    TIERCTL_OK("clock", "advance", ADVANCE);

    Tierd__ChangesResponse *r = history("p-1");
    const Tierd__TierChange *c = expect_demotion(r, before, TIERD__CAUSE__DEMOTION);
    /* The deal left its window exactly a year after it closed, long before
     * the advance target. */
    ck_assert_int_eq(c->at, DEAL_AT_T + WINDOW_DAYS * DAY);
    ck_assert_int_lt(c->at, CLOCK_START_T + ADVANCE_DAYS * DAY);
    tierd__changes_response__free_unpacked(r, NULL);
}
END_TEST

/* The shipped program's reseller ladder demotes only after 90 days of grace
 * and then at a quarterly review: the window expires 2028-02-01, grace ends
 * 2028-05-01, so the demotion (cause REVIEW) is dated at the 2028-07-01
 * review, still before the advance target. */
START_TEST(test_clock_advance_demotes_at_the_review_after_grace_in_the_shipped_program)
{
    load_program(false);
    make_selling(DEAL_AT, DEAL_AT);
    uint64_t before = selling_changes();

    TIERCTL_OK("clock", "advance", LIFECYCLE_ADVANCE);

    Tierd__ChangesResponse *r = history("p-1");
    const Tierd__TierChange *c = expect_demotion(r, before, TIERD__CAUSE__REVIEW);
    ck_assert_int_eq(c->at, REVIEW_AFTER_GRACE_T);
    ck_assert_int_lt(c->at, CLOCK_START_T + LIFECYCLE_ADVANCE_DAYS * DAY);
    tierd__changes_response__free_unpacked(r, NULL);
}
END_TEST

/* The daemon's clock, as Status tells it. */
static int64_t daemon_now(void)
{
    td_client *cli = harness_client(&h, NULL);
    Tierd__StatusResponse *st = NULL;
    td_error err;
    ck_assert_msg(td_client_status(cli, &st, &err) == 0, "%s", err.message);
    int64_t now = st->now;
    tierd__status_response__free_unpacked(st, NULL);
    td_client_close(cli);
    return now;
}

/* "Nothing changed" alone would hold for an advance that did nothing: the
 * clock must have moved, and the days it moved must count, so the rest of
 * the way past the expiry demotes at the expiry. */
START_TEST(test_clock_advance_short_of_the_expiry_changes_nothing)
{
    load_program(true);
    make_selling(DEAL_AT, DEAL_AT);
    uint64_t before = selling_changes();
    TIERCTL_OK("clock", "advance", SHORT_ADVANCE);
    ck_assert_int_eq(daemon_now(), CLOCK_START_T + SHORT_ADVANCE_DAYS * DAY);
    ck_assert_uint_eq(selling_changes(), before);

    TIERCTL_OK("clock", "advance", REST_ADVANCE);
    Tierd__ChangesResponse *r = history("p-1");
    const Tierd__TierChange *c = expect_demotion(r, before, TIERD__CAUSE__DEMOTION);
    ck_assert_int_eq(c->at, DEAL_AT_T + WINDOW_DAYS * DAY);
    tierd__changes_response__free_unpacked(r, NULL);
}
END_TEST

static void rfc3339(time_t t, char *buf, size_t n)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Waits for p-1's demotion after `before` changes, dated no earlier than
 * `expiry`, with no request but History. */
static void expect_demotion_on_the_wall_clock(uint64_t before, int64_t expiry)
{
    tu_deadline d = tu_deadline_in(WAIT_MAX_MS);
    bool demoted = false;
    do {
        Tierd__ChangesResponse *r = history("p-1");
        if (r->n_changes > before) {
            demoted = true;
            const Tierd__TierChange *c = expect_demotion(r, before, TIERD__CAUSE__DEMOTION);
            ck_assert_int_ge(c->at, expiry);
        }
        tierd__changes_response__free_unpacked(r, NULL);
    } while (!demoted && tu_poll(&d));
    ck_assert_msg(demoted, "no demotion within %d ms of the window's expiry", WAIT_MAX_MS);
}

/* The real clock: a deal made a year ago, less a few seconds, leaves its
 * window while the test watches; the loop's timer demotes the partner with
 * no request at all. Needs timers_touch after ingest (handlers_event.c). */
START_TEST(test_the_running_daemon_demotes_when_a_window_expires_on_the_wall_clock)
{
    load_program(true);
    time_t now = time(NULL);
    char recent[TIME_BUF], expiring[TIME_BUF];
    rfc3339(now - DAY, recent, sizeof recent);
    rfc3339(now - WINDOW_DAYS * DAY + EXPIRES_IN_S, expiring, sizeof expiring);
    make_selling(recent, expiring);
    expect_demotion_on_the_wall_clock(selling_changes(), (int64_t)now + EXPIRES_IN_S);
}
END_TEST

/* FILL_PARTNERS partners with no events, beside p-1. */
static void add_filler_partners(void)
{
    static Tierd__Partner parts[FILL_PARTNERS];
    static Tierd__Partner *pp[FILL_PARTNERS];
    static char ids[FILL_PARTNERS][TIME_BUF];
    static char *types[] = {"reseller"};
    for (size_t i = 0; i < FILL_PARTNERS; i++) {
        snprintf(ids[i], sizeof ids[i], "filler-%05zu", i);
        tierd__partner__init(&parts[i]);
        parts[i].id = ids[i];
        parts[i].n_types = 1;
        parts[i].types = types;
        pp[i] = &parts[i];
    }
    Tierd__UpsertPartnersRequest req = TIERD__UPSERT_PARTNERS_REQUEST__INIT;
    req.n_partners = FILL_PARTNERS;
    req.partners = pp;
    Tierd__UpsertPartnersResponse *resp = NULL;
    td_error err;
    td_client *cli = harness_client(&h, NULL);
    ck_assert_ptr_nonnull(cli);
    ck_assert_msg(td_client_upsert_partners(cli, &req, &resp, &err) == 0, "%s", err.message);
    tierd__upsert_partners_response__free_unpacked(resp, NULL);
    td_client_close(cli);
}

/* After a restart with many partners the daemon serves before every due
 * time is queued (the queue fills in the background); the timer must still
 * be armed once the fill ends, so a window expiring after the restart
 * demotes on time. */
START_TEST(test_a_restart_with_many_partners_fills_the_queue_while_serving_and_still_demotes)
{
    load_program(true);
    time_t now = time(NULL);
    char recent[TIME_BUF], expiring[TIME_BUF];
    rfc3339(now - DAY, recent, sizeof recent);
    rfc3339(now - WINDOW_DAYS * DAY + RESTART_EXPIRES_IN_S, expiring, sizeof expiring);
    make_selling(recent, expiring);
    add_filler_partners();
    uint64_t before = selling_changes();

    ck_assert_int_eq(harness_stop(&h), 0);
    ck_assert_int_eq(harness_start(&h, "--log-level", "info", NULL), 0);
    expect_demotion_on_the_wall_clock(before, (int64_t)now + RESTART_EXPIRES_IN_S);
    char *log = harness_log(&h);
    ck_assert_msg(strstr(log, "partners queued in") && strstr(log, "while serving"),
                  "the restart did not fill the timer queue in the background:\n%s", log);
    free(log);
}
END_TEST

static Suite *time_driven_suite(void)
{
    Suite *s = suite_create("time_driven");
    TCase *tc = tcase_create("clock");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_clock_advance_demotes_at_the_moment_the_window_expired);
    tcase_add_test(tc, test_clock_advance_demotes_at_the_review_after_grace_in_the_shipped_program);
    tcase_add_test(tc, test_clock_advance_short_of_the_expiry_changes_nothing);
    suite_add_tcase(s, tc);
    TCase *real = tcase_create("wall clock");
    tcase_set_timeout(real, 60);
    tcase_add_checked_fixture(real, setup_real_clock, teardown);
    tcase_add_test(real, test_the_running_daemon_demotes_when_a_window_expires_on_the_wall_clock);
    tcase_add_test(
        real, test_a_restart_with_many_partners_fills_the_queue_while_serving_and_still_demotes);
    suite_add_tcase(s, real);
    return s;
}

int main(void)
{
    return tu_run_suite(time_driven_suite());
}
