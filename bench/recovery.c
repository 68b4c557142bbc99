/* bench_recovery: how long tierd takes to come back after a restart.
 *
 * Two sections.
 *
 * 1. The store alone. Fills a state dir (once; a filled dir is reused) with
 *    N partner blobs of BLOB bytes and M event keys, closes it, then times
 *    store_open (lock, environment, format check) and one store_each_partner
 *    walk over every blob. The engine's decode of each blob is not included.
 *
 * 2. The real daemon (skipped with --store-only). Starts tierd on a mkdtemp
 *    state dir with the example program, feeds N partners and M events of
 *    that program through UpsertPartners and Ingest in the biggest batches
 *    the daemon takes (printing progress), stops it with SIGTERM, then times
 *    a fresh start until the first successful Status reply, and GetPartner
 *    of a sample of partners after that. The state dir is deleted at the end.
 *
 * Figures are with a warm page cache.
 *
 * usage: bench_recovery [PARTNERS EVENTS] [--dir DIR] [--no-fill] [--store-only]
 *                       [--keep STATE_DIR] [--tierd BIN]
 * --keep feeds the daemon section into STATE_DIR and leaves it there; a later
 * run with the same --keep restarts that state without feeding it again.
 * (defaults 1,000,000 partners and 10,000,000 events; target: Status answered
 * within 5 s of start)
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store.h"
#include "tierd.pb-c.h"
#include "bench_daemon.h"
#include "tierd/client.h"

#define BENCH_DEFAULT_DIR      "/tmp/tierd-bench-recovery"
#define BENCH_DEFAULT_PARTNERS 1000000ull
#define BENCH_DEFAULT_EVENTS   10000000ull
#define BENCH_BLOB_BYTES       200
#define BENCH_EVENT_BYTES      48        /* about an encoded tierd.Event */
#define BENCH_BATCH            100000ull /* records per fill transaction */
#define BENCH_ID_MAX           64
#define BENCH_ID_FMT           "p-%08llu"
#define BENCH_RPC_BATCH        10000 /* the daemon's per-request cap */
#define BENCH_TIMEOUT_MS       60000
#define BENCH_POLL_MS          100 /* per Status attempt while the daemon starts */
#define BENCH_POLL_SLEEP_US    2000
#define BENCH_START_LIMIT_S    600.0
#define BENCH_TARGET_S         5.0
#define BENCH_SAMPLES          100
#define BENCH_PROGRESS_EVERY   1000000ull
#define BENCH_PATH_MAX         512
#define BENCH_DAY_S            86400
#define BENCH_SPREAD_DAYS      300

static void die(const char *what, const td_error *err)
{
    fprintf(stderr, "bench_recovery: %s: %s\n", what, err->message);
    exit(1);
}

static int fill(const char *dir, unsigned long long partners, unsigned long long events)
{
    store_options opt = {.no_sync = true};
    store *s = NULL;
    td_error err = {0};
    if (store_open(dir, &opt, &s, &err))
        die("open for fill", &err);
    uint8_t blob[BENCH_BLOB_BYTES], ev[BENCH_EVENT_BYTES];
    memset(blob, 0xab, sizeof blob);
    memset(ev, 0xcd, sizeof ev);
    char id[BENCH_ID_MAX];
    double t0 = bench_now_s();
    for (unsigned long long i = 0; i < partners; i++) {
        if (i % BENCH_BATCH == 0 && (store_commit(s, &err) || store_begin(s, &err)))
            die("fill partners", &err);
        snprintf(id, sizeof id, "p-%08llu", i);
        memcpy(blob, &i, sizeof i);
        if (store_put_partner(s, id, blob, sizeof blob, &err))
            die("put partner", &err);
    }
    for (unsigned long long i = 0; i < events; i++) {
        if (i % BENCH_BATCH == 0 && (store_commit(s, &err) || store_begin(s, &err)))
            die("fill events", &err);
        /* Keys arrive in no particular order in real life. */
        unsigned long long k = (i * 2654435761ull) % (events * 4 + 1);
        snprintf(id, sizeof id, "ev-%llu-%llu", k, i);
        if (store_put_event(s, "crm", id, ev, sizeof ev, &err))
            die("put event", &err);
    }
    if (store_commit(s, &err))
        die("final commit", &err);
    store_close(s);
    printf("fill: %llu partners, %llu events in %.2f s\n", partners, events, bench_now_s() - t0);
    return 0;
}

struct walk {
    unsigned long long n, bytes, sum;
};

static int count_blob(void *ud, const uint8_t *blob, size_t len)
{
    struct walk *w = ud;
    w->n++;
    w->bytes += len;
    w->sum += len ? blob[len - 1] : 0; /* touch the blob so the walk reads it */
    return 0;
}

/* ---- section 2: the real daemon ---------------------------------------------- */

static void partner_id(char *buf, unsigned long long i)
{
    snprintf(buf, BENCH_ID_MAX, BENCH_ID_FMT, i);
}

static int feed_partners(td_client *c, unsigned long long partners)
{
    double t0 = bench_now_s();
    if (bench_upsert_partners(c, BENCH_ID_FMT, partners, "bench_recovery") != 0)
        return -1;
    printf("feed: %llu partners in %.1f s\n", partners, bench_now_s() - t0);
    return 0;
}

static void make_event(Tierd__Event *ev, event_text *t, unsigned long long n,
                       unsigned long long partners, time_t base)
{
    unsigned long long h = (n + 1) * 2654435761ull;
    tierd__event__init(ev);
    snprintf(t->id, sizeof t->id, "r-%llu", n);
    partner_id(t->partner, h % partners);
    time_t at = base - (time_t)((h >> 7) % (BENCH_SPREAD_DAYS * BENCH_DAY_S));
    struct tm tm;
    gmtime_r(&at, &tm);
    strftime(t->at, sizeof t->at, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(t->key, sizeof t->key, "k-%llu", (h >> 11) % 64);
    ev->id = t->id;
    ev->source = "crm";
    ev->partner = t->partner;
    ev->metric = (char *)bench_event_names[(h >> 3) % BENCH_N_EVENT_NAMES];
    ev->has_value = true;
    ev->value = strcmp(ev->metric, "csat") == 0 ? 0.9 : (double)((h >> 5) % 50000);
    ev->at = t->at;
    ev->key = t->key;
}

static int feed_events(td_client *c, unsigned long long partners, unsigned long long events)
{
    static Tierd__Event evs[BENCH_RPC_BATCH];
    static Tierd__Event *pp[BENCH_RPC_BATCH];
    static event_text texts[BENCH_RPC_BATCH];
    td_error err = {0};
    time_t base = time(NULL);
    double t0 = bench_now_s();
    unsigned long long accepted = 0, next_report = BENCH_PROGRESS_EVERY;
    for (unsigned long long first = 0; first < events; first += BENCH_RPC_BATCH) {
        size_t n = events - first < BENCH_RPC_BATCH ? (size_t)(events - first) : BENCH_RPC_BATCH;
        for (size_t i = 0; i < n; i++) {
            make_event(&evs[i], &texts[i], first + i, partners, base);
            pp[i] = &evs[i];
        }
        Tierd__IngestRequest req = TIERD__INGEST_REQUEST__INIT;
        req.n_events = n;
        req.events = pp;
        Tierd__IngestResponse *resp = NULL;
        if (td_client_ingest(c, &req, &resp, &err)) {
            fprintf(stderr, "bench_recovery: ingest: %s\n", err.message);
            return -1;
        }
        accepted += resp->accepted;
        tierd__ingest_response__free_unpacked(resp, NULL);
        if (first + n >= next_report) {
            double t = bench_now_s() - t0;
            printf("feed: %llu events in %.1f s (%.0f events/s)\n", first + n, t,
                   (double)(first + n) / t);
            fflush(stdout);
            next_report += BENCH_PROGRESS_EVERY;
        }
    }
    printf("feed: %llu events sent, %llu accepted, in %.1f s\n", events, accepted,
           bench_now_s() - t0);
    return accepted == events ? 0 : -1;
}

static int stop_tierd(pid_t pid)
{
    int st = 0;
    kill(pid, SIGTERM);
    waitpid(pid, &st, 0);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* Times GetPartner of BENCH_SAMPLES partners spread over the id range. */
static int sample_partners(const char *url, unsigned long long partners)
{
    td_client *c = NULL;
    td_error err = {0};
    if (td_client_open(url, NULL, BENCH_TIMEOUT_MS, &c, &err))
        return -1;
    char id[BENCH_ID_MAX];
    int found = 0;
    double t0 = bench_now_s(), first = 0;
    for (int i = 0; i < BENCH_SAMPLES; i++) {
        partner_id(id, (unsigned long long)i * partners / BENCH_SAMPLES);
        Tierd__PartnerInfo *info = NULL;
        if (td_client_get_partner(c, id, &info, &err) == 0) {
            found++;
            tierd__partner_info__free_unpacked(info, NULL);
        } else {
            fprintf(stderr, "bench_recovery: GetPartner %s: %s\n", id, err.message);
        }
        if (i == 0)
            first = bench_now_s() - t0;
    }
    double all = bench_now_s() - t0;
    td_client_close(c);
    printf("GetPartner: first %.2f ms, %d of %d samples found, %.3f ms each on average\n",
           first * 1e3, found, BENCH_SAMPLES, all * 1e3 / BENCH_SAMPLES);
    return found == BENCH_SAMPLES ? 0 : -1;
}

static int daemon_section(const char *bin, unsigned long long partners, unsigned long long events,
                          const char *keep)
{
    char dir[BENCH_PATH_MAX] = "/tmp/bench-recovery-______";
    bool fed = false;
    if (keep) {
        /* a kept dir that already holds a state is restarted without feeding
         * again, so the restart alone can be timed (and profiled) repeatedly */
        char probe[BENCH_PATH_MAX];
        snprintf(dir, sizeof dir, "%s", keep);
        snprintf(probe, sizeof probe, "%s/state", dir);
        struct stat st;
        fed = stat(probe, &st) == 0;
        if (!fed && mkdir(dir, 0755) != 0 && errno != EEXIST) {
            perror(dir);
            return 1;
        }
    } else {
        /* mkdtemp's template: a run of 'X' it replaces with a unique name. */
        memset(strchr(dir, '_'), 'X', strlen(strchr(dir, '_')));
        if (!mkdtemp(dir)) {
            perror("bench_recovery: mkdtemp");
            return 1;
        }
    }
    char state[BENCH_PATH_MAX], url[BENCH_PATH_MAX], pub[BENCH_PATH_MAX];
    snprintf(state, sizeof state, "%s/state", dir);
    snprintf(url, sizeof url, "ipc://%s/rpc.sock", dir);
    snprintf(pub, sizeof pub, "ipc://%s/pub.sock", dir);
    printf("daemon: %s, state dir %s, %llu partners, %llu events\n", bin, dir, partners, events);

    int status = 1;
    td_client *c = NULL;
    td_error err = {0};
    pid_t pid = -1;
    if (!fed) {
        pid = bench_start_tierd(bin, state, url, pub, BENCH_PROGRAM);
        if (pid < 0 || bench_wait_ready(url, BENCH_START_LIMIT_S) < 0) {
            fprintf(stderr, "bench_recovery: %s did not start\n", bin);
            goto out;
        }
        if (td_client_open(url, NULL, BENCH_TIMEOUT_MS, &c, &err) || feed_partners(c, partners) ||
            feed_events(c, partners, events))
            goto out;
        td_client_close(c);
        c = NULL;
        double t_stop = bench_now_s();
        int stopped = stop_tierd(pid);
        pid = -1;
        printf("stop: SIGTERM to exit in %.2f s%s\n", bench_now_s() - t_stop,
               stopped ? " (exit status not 0)" : "");
    } else {
        printf("restart of the state kept in %s (not fed again)\n", dir);
    }

    double t0 = bench_now_s();
    pid = bench_start_tierd(bin, state, url, pub, BENCH_PROGRAM);
    double ready = pid < 0 ? -1 : bench_wait_ready(url, BENCH_START_LIMIT_S);
    if (ready >= 0)
        ready = bench_now_s() - t0; /* from the fork, not from the first poll */
    if (ready < 0) {
        fprintf(stderr, "bench_recovery: restarted tierd did not answer Status\n");
        goto out;
    }
    printf("restart: first Status OK %.2f s after start (target <= %.0f s: %s)\n", ready,
           BENCH_TARGET_S, ready <= BENCH_TARGET_S ? "met" : "NOT met");
    status = sample_partners(url, partners) ? 1 : 0;
out:
    td_client_close(c);
    if (pid > 0)
        stop_tierd(pid);
    if (keep)
        return status;
    char cmd[BENCH_PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_recovery: could not remove %s\n", dir);
    return status;
}

int main(int argc, char **argv)
{
    const char *dir = BENCH_DEFAULT_DIR;
    unsigned long long partners = BENCH_DEFAULT_PARTNERS, events = BENCH_DEFAULT_EVENTS;
    int no_fill = 0, store_only = 0, positional = 0;
    const char *keep = NULL;
    const char *bin = getenv("TIERD_BIN") ? getenv("TIERD_BIN") : BENCH_TIERD_BIN;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--partners") && i + 1 < argc)
            partners = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--events") && i + 1 < argc)
            events = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--keep") && i + 1 < argc)
            keep = argv[++i];
        else if (!strcmp(argv[i], "--no-fill"))
            no_fill = 1;
        else if (!strcmp(argv[i], "--store-only"))
            store_only = 1;
        else if (!strcmp(argv[i], "--tierd") && i + 1 < argc)
            bin = argv[++i];
        else if (argv[i][0] >= '0' && argv[i][0] <= '9' && positional < 2)
            *(positional++ ? &events : &partners) = strtoull(argv[i], NULL, 10);
        else {
            fprintf(stderr, "usage: bench_recovery [PARTNERS EVENTS] [--dir DIR] [--no-fill] "
                            "[--store-only] [--keep STATE_DIR] [--tierd BIN]\n");
            return 2;
        }
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        perror(dir);
        return 1;
    }

    store *s = NULL;
    td_error err = {0};
    if (!no_fill) {
        if (store_open(dir, NULL, &s, &err))
            die("open", &err);
        unsigned long long have = store_event_count(s);
        store_close(s);
        if (have == 0)
            fill(dir, partners, events);
    }

    double t0 = bench_now_s();
    if (store_open(dir, NULL, &s, &err))
        die("open", &err);
    double t1 = bench_now_s();
    struct walk w = {0};
    if (store_each_partner(s, count_blob, &w, &err))
        die("walk", &err);
    double t2 = bench_now_s();
    unsigned long long ev = store_event_count(s);
    store_close(s);
    printf("store only (%s):\n", dir);
    printf("open: %.3f s\n", t1 - t0);
    printf("walk: %.3f s for %llu partner blobs (%.1f MB)\n", t2 - t1, w.n, (double)w.bytes / 1e6);
    printf("recovery total: %.3f s (store holds %llu event keys)\n", t2 - t0, ev);
    if (store_only)
        return 0;
    fflush(stdout);
    return daemon_section(bin, partners, events, keep);
}
