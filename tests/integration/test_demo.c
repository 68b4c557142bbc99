/* scripts/demo.sh stops what it starts: after it ends, whether it ran to the
 * end or was stopped midway, no tierd and no `tierctl watch` of its state
 * dir is left running (a watch used to outlive it for hours).
 *
 * The demo runs on the built binaries (TIERD_BIN, TIERCTL_BIN: it then
 * installs and builds nothing) and a temporary state dir (DEMO_STATE), so
 * every process it starts names that dir on its command line. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"

#define DEMO_WAIT_MS  120000
#define DEMO_MAX_LEFT 16
#define DEMO_OUT_MAX  (1 << 20)

/* Starts the demo with its output in work/demo.out. */
static pid_t start_demo(const harness *h)
{
    char script[HARNESS_PATH_MAX], out[HARNESS_PATH_MAX + 16];
    snprintf(script, sizeof script, "%s/scripts/demo.sh", getenv("TIERD_SOURCE_ROOT"));
    snprintf(out, sizeof out, "%s/demo.out", h->work);
    setenv("DEMO_STATE", h->state, 1);
    pid_t pid = tu_spawn((const char *const[]){"/bin/bash", script, NULL}, NULL, out, out);
    ck_assert_int_ge(pid, 0);
    return pid;
}

static int wait_demo(pid_t pid)
{
    int status = -1;
    if (tu_wait_exit(pid, DEMO_WAIT_MS, &status))
        return status;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    ck_abort_msg("the demo did not end within %d ms", DEMO_WAIT_MS);
    return -1;
}

/* Fails naming what the demo left running, after stopping it. */
static void expect_nothing_left(const harness *h)
{
    pid_t left[DEMO_MAX_LEFT];
    size_t n = tu_find_processes(h->state, NULL, left, DEMO_MAX_LEFT);
    for (size_t i = 0; i < n; i++)
        kill(left[i], SIGKILL);
    ck_assert_msg(n == 0, "%zu process(es) of the demo still running, the first pid %d", n,
                  n ? (int)left[0] : 0);
}

START_TEST(test_demo_run_to_the_end_leaves_no_process_behind)
{
    harness h;
    harness_init(&h);
    pid_t demo = start_demo(&h);
    int status = wait_demo(demo);
    if (status != 0) {
        char path[HARNESS_PATH_MAX + 16];
        snprintf(path, sizeof path, "%s/demo.out", h.work);
        ck_abort_msg("the demo failed with %d (output in %s)", status, path);
    }
    expect_nothing_left(&h);
    harness_cleanup(&h);
}
END_TEST

/* The re-tier the README promises, end to end: audit, calibrate, simulate,
 * a load with notice, demotions waiting for a person at the review point,
 * one approved, one denied, the rest through at the deadline. */
static const char *const RETIER_STORY[] = {
    "audit at 2026-11-15 against the program in force",
    "calibrating ladder reseller on arr over 183 partners (cumulative ladder)",
    "simulating acme-partners version 2027.2 at 2027-02-15",
    "loaded acme-partners version 2027.2, effective 2027-02-15 (scheduled)",
    "version 2027.2: loaded 2026-11-15 by ipc, effective 2027-02-15 (scheduled)",
    ("Specialist -> Selling demotion (waiting since 2027-07-01; goes through 2027-07-31 unless "
     "denied)"),
    "(approval by ipc): no pipeline this half",
    "demotion to Selling denied by ipc: big renewal signs next month",
    "(review by system): review deadline passed",
};

/* Issue 13's: the year imported with its real dates, KPIs over it, a deal
 * corrected up and back. */
static const char *const FACTS_STORY[] = {
    "7,428 lines: 7,428 accepted, 0 duplicate, 0 rejected",
    "reseller: unranked -> Selling (promotion, event crm/ctr-006089)",
    "KPI history: period month, time zone UTC, the first to 2026-11-15, 12 snapshots",
    ("p-0214 reseller: Selling -> Specialist (correction, event crm/opp-006111): amended to "
     "revision 1"),
    "duplicate amend of event opp-006111 (source crm)",
    "p-0214 reseller: Specialist -> Selling (review by system): review deadline passed",
};

START_TEST(test_demo_shows_a_re_tier_a_replayed_year_kpis_and_a_correction)
{
    harness h;
    harness_init(&h);
    int status = wait_demo(start_demo(&h));
    char path[HARNESS_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/demo.out", h.work);
    ck_assert_msg(status == 0, "the demo failed with %d (output in %s)", status, path);
    char *out = tu_read_file(path, DEMO_OUT_MAX);
    ck_assert_ptr_nonnull(out);
    for (size_t i = 0; i < sizeof RETIER_STORY / sizeof *RETIER_STORY; i++)
        ck_assert_msg(strstr(out, RETIER_STORY[i]) != NULL, "the demo never printed \"%s\" (%s)",
                      RETIER_STORY[i], path);
    for (size_t i = 0; i < sizeof FACTS_STORY / sizeof *FACTS_STORY; i++)
        ck_assert_msg(strstr(out, FACTS_STORY[i]) != NULL, "the demo never printed \"%s\" (%s)",
                      FACTS_STORY[i], path);
    free(out);
    harness_cleanup(&h);
}
END_TEST

START_TEST(test_demo_stopped_while_it_watches_leaves_no_process_behind)
{
    harness h;
    harness_init(&h);
    pid_t demo = start_demo(&h);
    pid_t watch;
    tu_deadline d = tu_deadline_in(DEMO_WAIT_MS);
    size_t found;
    while (!(found = tu_find_processes(h.state, " watch ", &watch, 1)) && tu_poll(&d))
        ;
    ck_assert_msg(found, "the demo never started its watch");
    ck_assert_int_eq(kill(demo, SIGTERM), 0);
    ck_assert_int_ne(wait_demo(demo), 0);
    expect_nothing_left(&h);
    harness_cleanup(&h);
}
END_TEST

static Suite *demo_suite(void)
{
    Suite *s = suite_create("demo");
    TCase *tc = tcase_create("processes");
    tcase_set_timeout(tc, 2 * DEMO_WAIT_MS / 1000);
    tcase_add_test(tc, test_demo_run_to_the_end_leaves_no_process_behind);
    tcase_add_test(tc, test_demo_stopped_while_it_watches_leaves_no_process_behind);
    tcase_add_test(tc, test_demo_shows_a_re_tier_a_replayed_year_kpis_and_a_correction);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(demo_suite());
}
