/* bench_timers: time-driven evaluation at the target scale, in process.
 *
 * N partners (default 1,000,000) on one reseller ladder, each Selling on a
 * single deal whose 365-day window expires on a day spread over the coming
 * year. The engine and the state glue run over a real LMDB store in a
 * temporary dir (no fsync, so the figure is CPU and LMDB, not the disk);
 * no sockets. Measures building the queue (what a restart pays), then a
 * clock advance of a year, which demotes every partner at its own expiry
 * in slices of one commit each. Prints changes per second and the longest
 * slice against their targets. Usage: bench_timers [N]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "state.h"
#include "timers.h"

/* mkdtemp replaces this run of six X characters with a unique name. */
#define MKDTEMP_TAIL                                                                               \
    "XX"                                                                                           \
    "XX"                                                                                           \
    "XX"

#define DEFAULT_PARTNERS     1000000
#define START                ((td_time)1780000000) /* 2026-05-28 */
#define DAY                  ((td_time)TD_SECONDS_PER_DAY)
#define SPREAD_DAYS          365
#define ADVANCE_DAYS         366
#define DEAL_VALUE           60000.0
#define ID_BUF               32
#define DIR_BUF              64
#define TARGET_CHANGES_PER_S 100000.0
#define TARGET_SLICE_MS      50.0
#define TARGET_REBUILD_S     2.0

static const char program_yaml[] = "program: bench\n"
                                   "version: \"1\"\n"
                                   "metrics:\n"
                                   "  arr: { agg: sum, event: deal_closed, window: 365d }\n"
                                   "ladders:\n"
                                   "  reseller:\n"
                                   "    partner_types: [reseller]\n"
                                   "    policy: { review: immediate }\n"
                                   "    tiers:\n"
                                   "      - name: Selling\n"
                                   "        when: arr >= 50k\n";

/* The bench freezes the clock itself. */
td_time tierd_now(const tierd *t)
{
    return t->fake_now;
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const td_error *err)
{
    fprintf(stderr, "bench_timers: %s: %s\n", what, err->message);
    exit(1);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : DEFAULT_PARTNERS;
    if (n <= 0) {
        fprintf(stderr, "usage: bench_timers [N]\n");
        return 2;
    }
    char dir[DIR_BUF];
    snprintf(dir, sizeof dir, "/tmp/td-bench-timers-" MKDTEMP_TAIL);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    tierd d;
    memset(&d, 0, sizeof d);
    d.fake_clock = true;
    d.fake_now = START;
    td_error err = {0};
    store_options opt = {.no_sync = true};
    if (state_open_with(&d, dir, &opt, &err) != 0)
        die("opening the state", &err);

    program *prog = NULL;
    td_diags diags = {0};
    if (program_parse(program_yaml, strlen(program_yaml), "bench.yaml", &prog, &diags, &err) != 0)
        die("parsing the program", &err);
    td_diags_free(&diags);
    if (engine_program_apply(d.engine, prog, START, NULL, NULL) != 0)
        die("applying the program", &err);

    double t0 = seconds();
    const char *types[] = {"reseller"};
    char id[ID_BUF], evid[ID_BUF];
    for (long i = 0; i < n; i++) {
        snprintf(id, sizeof id, "p-%07ld", i);
        snprintf(evid, sizeof evid, "d-%07ld", i);
        if (engine_partner_upsert(d.engine, id, NULL, types, 1, START, NULL, NULL, &err) != 0)
            die("adding a partner", &err);
        /* Deals made over the past year expire over the coming one. */
        td_time at = START - (td_time)(i % SPREAD_DAYS) * DAY - (i % DAY);
        td_event ev = {"crm", evid, id, "deal_closed", DEAL_VALUE, at, NULL};
        if (engine_ingest(d.engine, &ev, START, NULL, NULL, &err) != 0)
            die("ingesting a deal", &err);
    }
    /* Setup filled the engine directly, as a restart would from the store:
     * nothing of it is for the first slice to write. */
    engine_touched_take(d.engine, NULL, NULL);
    double t1 = seconds();

    timers *t;
    if (timers_open(&d, &t, &err) != 0)
        die("building the queue", &err);
    double t2 = seconds();
    timers_stats st;
    timers_get_stats(t, &st);

    td_time to = START + ADVANCE_DAYS * DAY;
    d.fake_now = to;
    uint64_t changes = 0;
    if (timers_advance(t, START, to, &changes, &err) != 0)
        die("advancing", &err);
    if (state_flush(&d, &err) != 0)
        die("committing the last slice", &err);
    double t3 = seconds();
    timers_stats after;
    timers_get_stats(t, &after);

    double advance_s = t3 - t2;
    double rate = advance_s > 0 ? (double)changes / advance_s : 0;
    printf("partners                 %ld (set up in %.2f s)\n", n, t1 - t0);
    printf("queue build              %.3f s for %llu entries   target <= %.1f s\n", t2 - t1,
           (unsigned long long)st.pending, TARGET_REBUILD_S);
    printf("advance %d days          %.2f s, %llu changes, %llu evaluations, %llu slices\n",
           ADVANCE_DAYS, advance_s, (unsigned long long)changes,
           (unsigned long long)after.processed, (unsigned long long)after.slices);
    printf("changes per second       %.0f   target >= %.0f  %s\n", rate, TARGET_CHANGES_PER_S,
           rate >= TARGET_CHANGES_PER_S ? "ok" : "MISSED");
    printf("longest slice            %.1f ms   target <= %.0f ms  %s\n", after.longest_slice_ms,
           TARGET_SLICE_MS, after.longest_slice_ms <= TARGET_SLICE_MS ? "ok" : "MISSED");
    printf("  of which commit        %.1f ms at most\n", after.longest_commit_ms);
    printf("slices over %d ms        %llu of %llu\n", TIMERS_SLOW_SLICE_MS,
           (unsigned long long)after.slow_slices, (unsigned long long)after.slices);
    printf("demoted                  %s\n", changes == (uint64_t)n ? "every partner" : "NOT all");

    timers_close(t);
    state_close(&d);
    char cmd[DIR_BUF + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_timers: could not remove %s\n", dir);
    return changes == (uint64_t)n ? 0 : 1;
}
