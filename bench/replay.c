/* bench_replay: what backfill with real dates costs (docs/events.md,
 * "Replay"). A generated year of history for N partners (default 20000)
 * and M events (default 200000), partners drawn in proportion to Pareto
 * weights, alpha 1.2 (a heavy tail: a few partners hold most events), event
 * names in the proportions of bench_event_names, dated over the 365 days
 * before yesterday, in a shuffled order. Two fresh daemons on the example
 * program take the same file through a tierctl process each:
 *   plain   `tierctl event import FILE` (every change dated now);
 *   replay  `tierctl event import FILE --replay` (sorted by time, the timer
 *           queue walked to each event's instant, then the catch-up).
 * It prints both times, events per second, the replay / plain ratio, and
 * how many changes each daemon's history holds. A measurement, not a test:
 * there is no target to miss.
 *
 *   bench_replay [PARTNERS [EVENTS]] */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_daemon.h"
#include "td_time.h"

#define REPLAY_DEFAULT_PARTNERS 20000L
#define REPLAY_DEFAULT_EVENTS   200000L
#define REPLAY_ALPHA            1.2
#define REPLAY_SEED             UINT64_C(20260101)
#define REPLAY_SPAN_S           (365L * 86400L)
#define REPLAY_END_BACK_S       86400L /* the year ends a day ago: nothing is after now */
#define REPLAY_DEAL_MAX_EXP     16     /* deal sizes 2^0..2^16 k: heavy-tailed too */
#define REPLAY_KEYS             6      /* certification ids */
#define REPLAY_PATH_MAX         1024
#define REPLAY_LINE_MAX         256
#define REPLAY_TIMEOUT_MS       "3600000"
#define REPLAY_PAGE             1000

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static double rng_unit(uint64_t *s)
{
    return ((double)(rng_next(s) >> 11) + 0.5) / (double)(UINT64_C(1) << 53);
}

static double *pareto_cumulative(long n, uint64_t *s)
{
    double *cum = malloc((size_t)n * sizeof *cum);
    double total = 0;
    for (long i = 0; cum && i < n; i++) {
        total += pow(rng_unit(s), -1.0 / REPLAY_ALPHA);
        cum[i] = total;
    }
    return cum;
}

static long pareto_draw(const double *cum, long n, uint64_t *s)
{
    double x = rng_unit(s) * cum[n - 1];
    long lo = 0, hi = n - 1;
    while (lo < hi) {
        long mid = lo + (hi - lo) / 2;
        if (cum[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The year as NDJSON in path; the share of events the busiest partner got
 * in *top_share. 0, or -1 with a message. */
static int generate(const char *path, long partners, long events, double *top_share)
{
    uint64_t s = REPLAY_SEED;
    double *cum = pareto_cumulative(partners, &s);
    long *count = calloc((size_t)partners, sizeof *count);
    char *lines = malloc((size_t)events * REPLAY_LINE_MAX);
    size_t *order = malloc((size_t)events * sizeof *order);
    FILE *f = fopen(path, "w");
    if (!cum || !count || !lines || !order || !f) {
        fprintf(stderr, "bench_replay: generating %s: %s\n", path, strerror(errno));
        free(cum), free(count), free(lines), free(order);
        if (f)
            fclose(f);
        return -1;
    }
    td_time end = (td_time)time(NULL) - REPLAY_END_BACK_S;
    for (long i = 0; i < events; i++) {
        long p = pareto_draw(cum, partners, &s);
        count[p]++;
        const char *name = bench_event_names[rng_next(&s) % BENCH_N_EVENT_NAMES];
        char at[TD_TIME_STRLEN];
        td_time_format(end - (td_time)(rng_next(&s) % REPLAY_SPAN_S), at, sizeof at);
        double value = 1;
        char key[32] = "";
        if (!strcmp(name, "deal_closed"))
            value = 1000.0 * (double)(UINT64_C(1) << (rng_next(&s) % REPLAY_DEAL_MAX_EXP));
        else if (!strcmp(name, "csat"))
            value = (double)(rng_next(&s) % 101) / 100.0;
        else if (!strcmp(name, "active_sellers"))
            value = (double)(1 + rng_next(&s) % 20);
        else if (!strcmp(name, "mdf_claimed"))
            value = (double)(1000 * (1 + rng_next(&s) % 50));
        if (!strcmp(name, "certification") || !strcmp(name, "consultant_trained") ||
            !strcmp(name, "implementation_completed") || !strcmp(name, "reference_customer"))
            snprintf(key, sizeof key, "k-%d", (int)(rng_next(&s) % REPLAY_KEYS));
        snprintf(lines + (size_t)i * REPLAY_LINE_MAX, REPLAY_LINE_MAX,
                 "{\"source\":\"crm\",\"id\":\"e-%ld\",\"partner\":\"p-%06ld\",\"metric\":\"%s\","
                 "\"value\":%g,\"at\":\"%s\"%s%s%s}\n",
                 i, p, name, value, at, key[0] ? ",\"key\":\"" : "", key, key[0] ? "\"" : "");
        order[i] = (size_t)i;
    }
    for (long i = events; i > 1; i--) {
        size_t j = rng_next(&s) % (uint64_t)i, x = order[i - 1];
        order[i - 1] = order[j];
        order[j] = x;
    }
    for (long i = 0; i < events; i++)
        fputs(lines + order[i] * REPLAY_LINE_MAX, f);
    long top = 0;
    for (long p = 0; p < partners; p++)
        if (count[p] > top)
            top = count[p];
    *top_share = events ? (double)top / (double)events : 0;
    free(cum), free(count), free(lines), free(order);
    return fclose(f) == 0 ? 0 : -1;
}

/* Runs tierctl with args; its exit status, or -1. Output goes to /dev/null
 * unless it fails (then the daemon's answer shows on stderr). */
static int tierctl(const char *const *args)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stdout))
            _exit(127);
        execv(BENCH_TIERCTL_BIN, (char *const *)args);
        _exit(127);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) < 0)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Changes in the daemon's history (the highest sequence number). */
static uint64_t changes_in(const char *url)
{
    td_client *c = NULL;
    td_error err = {0};
    Tierd__ChangesResponse *r = NULL;
    uint64_t n = 0, since = 0;
    if (td_client_open(url, NULL, 10000, &c, &err) == 0) {
        while (td_client_list_changes(c, since, REPLAY_PAGE, &r, &err) == 0 && r->n_changes) {
            n += r->n_changes;
            since = r->changes[r->n_changes - 1]->sequence;
            tierd__changes_response__free_unpacked(r, NULL);
            r = NULL;
        }
        if (r)
            tierd__changes_response__free_unpacked(r, NULL);
    }
    td_client_close(c);
    return n;
}

/* One daemon, the partners, then the file, timed; -1 on failure. */
static double run(const char *name, const char *file, long partners, bool replay, uint64_t *changes)
{
    bench_daemon b;
    double secs = -1;
    if (bench_daemon_start(&b, name, BENCH_TIERD_BIN, BENCH_PROGRAM) == 0) {
        td_client *c = NULL;
        td_error err = {0};
        if (td_client_open(b.url, NULL, 60000, &c, &err) == 0 &&
            bench_upsert_partners(c, "p-%06llu", (unsigned long long)partners, "bench_replay") ==
                0) {
            const char *args[] = {"tierctl",
                                  "--url",
                                  b.url,
                                  "--timeout",
                                  REPLAY_TIMEOUT_MS,
                                  "event",
                                  "import",
                                  file,
                                  replay ? "--replay" : NULL,
                                  NULL};
            double t0 = bench_now_s();
            int rc = tierctl(args);
            secs = bench_now_s() - t0;
            if (rc != 0) {
                fprintf(stderr, "bench_replay: %s import exited %d\n", name, rc);
                secs = -1;
            }
            *changes = changes_in(b.url);
        }
        td_client_close(c);
    }
    bench_daemon_stop(&b);
    return secs;
}

int main(int argc, char **argv)
{
    long partners = argc > 1 ? atol(argv[1]) : REPLAY_DEFAULT_PARTNERS;
    long events = argc > 2 ? atol(argv[2]) : REPLAY_DEFAULT_EVENTS;
    if (partners < 1 || events < 1) {
        fprintf(stderr, "usage: bench_replay [PARTNERS [EVENTS]]\n");
        return 2;
    }
    char dir[BENCH_DIR_MAX];
    if (bench_mkdtemp(NULL, "replay-file", dir, sizeof dir) != 0) {
        fprintf(stderr, "bench_replay: mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    char file[REPLAY_PATH_MAX];
    snprintf(file, sizeof file, "%s/year.ndjson", dir);
    double top = 0;
    int rc = generate(file, partners, events, &top);
    uint64_t plain_changes = 0, replay_changes = 0;
    double plain = rc ? -1 : run("replay-plain", file, partners, false, &plain_changes);
    double replay = rc ? -1 : run("replay-replay", file, partners, true, &replay_changes);
    unlink(file);
    rmdir(dir);
    if (plain < 0 || replay < 0)
        return 1;
    printf("bench_replay: %ld partners, %ld events over a year, Pareto alpha %.1f "
           "(busiest partner %.1f%% of events), shuffled\n",
           partners, events, REPLAY_ALPHA, 100 * top);
    printf("  plain import      %8.2f s  %9.0f events/s  %8llu changes in history\n", plain,
           (double)events / plain, (unsigned long long)plain_changes);
    printf("  --replay import   %8.2f s  %9.0f events/s  %8llu changes in history\n", replay,
           (double)events / replay, (unsigned long long)replay_changes);
    printf("  replay / plain    %8.2fx\n", replay / plain);
    return 0;
}
