/* bench_sink: tier changes per second from tierd into a PostgreSQL table
 * through the postgres sink (target 50,000 rows/s), and how far the sink
 * lags behind a daemon under load.
 *
 * Starts a throwaway PostgreSQL server and a real tierd (TIERD_BIN) with
 * no connectors, loads a program of two ten-tier ladders with benefits,
 * upserts P partners (default 100,000) and ingests deals spread with a
 * heavy tail (partner k gets about C / k^0.8 of them, at least one), so a
 * few partners climb many tiers and most take one step: every step is a
 * change. Then:
 *   catch-up  tierd restarted with the sink configured (tierd.yaml); the
 *             time from its first answer (the daemon's own start is
 *             printed apart) until the sink acknowledged the last change:
 *             rows (changes) per second.
 *   live      one more deal for every partner, ingested as fast as tierd
 *             takes it while the sink runs: the largest lag seen in Status
 *             (changes not yet acknowledged) and how long after the last
 *             ingest the sink caught up.
 * Prints one line of figures; exit status 1 when something failed (not
 * when the target is missed: it is a measurement). A reaper
 * (bench_reaper.h) stops tierd, its connector host and PostgreSQL and
 * removes the temporary directory however the bench ends. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "bench_reaper.h"
#include "pgserver.h"
#include "testhost.h"
#include "tierd/client.h"

#define BENCH_DEFAULT_PARTNERS 100000L
#define BENCH_TAIL_TOP         3000.0 /* deals of the busiest partner */
#define BENCH_TAIL_EXPONENT    0.8
#define BENCH_BATCH            10000 /* the daemon's per-request cap */
#define BENCH_TARGET_RATE      50000.0
#define BENCH_TIMEOUT_S        900
#define BENCH_PATH_MAX         1024
#define BENCH_ID_MAX           32
#define BENCH_CONNECTOR        "crm-tiers"
#define BENCH_POLL_US          20000

static const char *program_yaml =
    "program: bench-sink\n"
    "version: \"1\"\n"
    "metrics:\n"
    "  deals: { agg: count, event: deal_closed }\n"
    "ladders:\n"
    "  reseller:\n"
    "    partner_types: [reseller]\n"
    "    tiers:\n"
    "      - { name: R1, when: deals >= 1, benefits: [portal, margin=1] }\n"
    "      - { name: R2, when: deals >= 2, benefits: [margin=2] }\n"
    "      - { name: R3, when: deals >= 3, benefits: [margin=3, mdf=small] }\n"
    "      - { name: R4, when: deals >= 5, benefits: [margin=4] }\n"
    "      - { name: R5, when: deals >= 8, benefits: [margin=5, mdf=medium] }\n"
    "      - { name: R6, when: deals >= 13, benefits: [margin=6] }\n"
    "      - { name: R7, when: deals >= 21, benefits: [margin=7, mdf=big] }\n"
    "      - { name: R8, when: deals >= 34, benefits: [margin=8] }\n"
    "      - { name: R9, when: deals >= 55, benefits: [margin=9, concierge] }\n"
    "      - { name: R10, when: deals >= 89, benefits: [margin=10] }\n"
    "  services:\n"
    "    partner_types: [reseller]\n"
    "    tiers:\n"
    "      - { name: S1, when: deals >= 1, benefits: [badge] }\n"
    "      - { name: S2, when: deals >= 4, benefits: [badge=silver] }\n"
    "      - { name: S3, when: deals >= 16, benefits: [badge=gold, leads=10] }\n"
    "      - { name: S4, when: deals >= 64, benefits: [badge=platinum, leads=50] }\n"
    "      - { name: S5, when: deals >= 256, benefits: [badge=diamond, leads=200] }\n";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *why)
{
    fprintf(stderr, "bench_sink: %s: %s\n", what, why);
    exit(1);
}

static void pg_cleanup(void *ud)
{
    pgserver_stop(ud);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0)
        die(path, strerror(errno));
}

typedef struct bench {
    const char *tierd_bin;
    char dir[BENCH_PATH_MAX / 4];
    char state[BENCH_PATH_MAX / 2];
    char url[BENCH_PATH_MAX];
    char program[BENCH_PATH_MAX];
    char config[BENCH_PATH_MAX];
    pid_t tierd;
    td_client *c;
} bench;

static void start_tierd(bench *b, bool with_sink)
{
    const char *argv[] = {b->tierd_bin, "--state-dir", b->state,   "--listen",
                          b->url,       "--program",   b->program, with_sink ? "-c" : NULL,
                          b->config,    NULL};
    pid_t pid = fork();
    if (pid < 0)
        die("fork", strerror(errno));
    if (pid == 0) {
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    b->tierd = pid;
    bench_reaper_note_pid(pid);
    td_error err;
    if (td_client_open(b->url, NULL, 60000, &b->c, &err))
        die("client", err.message);
    for (int i = 0; i < 600; i++) {
        Tierd__StatusResponse *st = NULL;
        if (td_client_status(b->c, &st, &err) == 0) {
            tierd__status_response__free_unpacked(st, NULL);
            return;
        }
        usleep(50000);
    }
    die("tierd did not answer", err.message);
}

static void stop_tierd(bench *b)
{
    td_client_close(b->c);
    b->c = NULL;
    kill(b->tierd, SIGTERM);
    waitpid(b->tierd, NULL, 0);
    bench_reaper_forget_pid(b->tierd);
    b->tierd = 0;
}

static void upsert_partners(bench *b, long n)
{
    static Tierd__Partner ps[BENCH_BATCH];
    static Tierd__Partner *pp[BENCH_BATCH];
    static char ids[BENCH_BATCH][BENCH_ID_MAX];
    char *types[] = {"reseller"};
    for (long first = 0; first < n; first += BENCH_BATCH) {
        size_t k = 0;
        for (long i = first; i < n && k < BENCH_BATCH; i++, k++) {
            tierd__partner__init(&ps[k]);
            snprintf(ids[k], BENCH_ID_MAX, "p-%06ld", i);
            ps[k].id = ids[k];
            ps[k].types = types;
            ps[k].n_types = 1;
            pp[k] = &ps[k];
        }
        Tierd__UpsertPartnersRequest req = TIERD__UPSERT_PARTNERS_REQUEST__INIT;
        req.partners = pp;
        req.n_partners = k;
        Tierd__UpsertPartnersResponse *r = NULL;
        td_error err;
        if (td_client_upsert_partners(b->c, &req, &r, &err))
            die("UpsertPartners", err.message);
        tierd__upsert_partners_response__free_unpacked(r, NULL);
    }
}

/* Buffers events and sends them BENCH_BATCH at a time. */
typedef struct feeder {
    bench *b;
    Tierd__Event ev[BENCH_BATCH];
    Tierd__Event *ep[BENCH_BATCH];
    char ids[BENCH_BATCH][BENCH_ID_MAX];
    char partners[BENCH_BATCH][BENCH_ID_MAX];
    size_t n;
    unsigned long long next_id;
    unsigned long long sent;
    uint64_t max_lag; /* sampled after each request when the sink runs */
    bool sample;
} feeder;

static uint64_t sink_lag(bench *b, uint64_t *cursor, bool *running)
{
    Tierd__StatusResponse *st = NULL;
    td_error err;
    if (td_client_status(b->c, &st, &err))
        die("Status", err.message);
    uint64_t lag = 0;
    *cursor = 0;
    *running = false;
    for (size_t i = 0; i < st->n_connectors; i++)
        if (strcmp(st->connectors[i]->name, BENCH_CONNECTOR) == 0) {
            lag = st->connectors[i]->sink_lag;
            *cursor = strtoull(st->connectors[i]->cursor, NULL, 10);
            *running = strcmp(st->connectors[i]->state, "running") == 0;
            if (strcmp(st->connectors[i]->state, "failed") == 0)
                die("sink failed", st->connectors[i]->last_error);
        }
    tierd__status_response__free_unpacked(st, NULL);
    return lag;
}

static void flush(feeder *f)
{
    if (!f->n)
        return;
    Tierd__IngestRequest req = TIERD__INGEST_REQUEST__INIT;
    req.events = f->ep;
    req.n_events = f->n;
    Tierd__IngestResponse *r = NULL;
    td_error err;
    if (td_client_ingest(f->b->c, &req, &r, &err))
        die("Ingest", err.message);
    tierd__ingest_response__free_unpacked(r, NULL);
    f->sent += f->n;
    f->n = 0;
    if (f->sample) {
        uint64_t cursor;
        bool running;
        uint64_t lag = sink_lag(f->b, &cursor, &running);
        if (lag > f->max_lag)
            f->max_lag = lag;
    }
}

static void deal(feeder *f, long partner)
{
    Tierd__Event *e = &f->ev[f->n];
    tierd__event__init(e);
    snprintf(f->ids[f->n], BENCH_ID_MAX, "d-%llu", ++f->next_id);
    snprintf(f->partners[f->n], BENCH_ID_MAX, "p-%06ld", partner);
    e->id = f->ids[f->n];
    e->source = "crm";
    e->partner = f->partners[f->n];
    e->metric = "deal_closed";
    e->at = "2026-01-01T00:00:00Z";
    f->ep[f->n] = e;
    if (++f->n == BENCH_BATCH)
        flush(f);
}

static uint64_t last_sequence(bench *b)
{
    Tierd__ChangesResponse *r = NULL;
    td_error err;
    if (td_client_list_changes(b->c, UINT64_MAX - 1, 1, &r, &err))
        die("ListChanges", err.message);
    uint64_t last = r->last_sequence;
    tierd__changes_response__free_unpacked(r, NULL);
    return last;
}

/* Polls Status until the sink acknowledged `last`; the seconds it took
 * from t0. */
static double wait_acked(bench *b, uint64_t last, double t0)
{
    while (now_s() - t0 < BENCH_TIMEOUT_S) {
        uint64_t cursor;
        bool running;
        sink_lag(b, &cursor, &running);
        if (cursor >= last)
            return now_s() - t0;
        usleep(BENCH_POLL_US);
    }
    die("sink", "timed out before acknowledging every change");
    return 0;
}

/* Rows in the CRM table. */
static long count_rows(const pgserver *pg)
{
    PGconn *c = PQconnectdb(pg->conninfo);
    PGresult *r = PQexec(c, "SELECT count(*) FROM crm_partner_tiers");
    long n = PQresultStatus(r) == PGRES_TUPLES_OK ? strtol(PQgetvalue(r, 0, 0), NULL, 10) : -1;
    PQclear(r);
    PQfinish(c);
    return n;
}

int main(int argc, char **argv)
{
    long partners = BENCH_DEFAULT_PARTNERS;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
            partners = strtol(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: bench_sink [-n PARTNERS]\n");
            return 2;
        }
    }
    if (partners <= 0)
        die("-n", "needs a positive partner count");
    static bench b;
    b.tierd_bin = getenv("TIERD_BIN");
    if (!b.tierd_bin || !getenv("TIERD_CONNECTOR_BIN"))
        die("environment", "set TIERD_BIN and TIERD_CONNECTOR_BIN");

    pgserver pg;
    char err[512];
    sigset_t stops, before;
    sigemptyset(&stops);
    sigaddset(&stops, SIGINT);
    sigaddset(&stops, SIGTERM);
    sigaddset(&stops, SIGHUP);
    sigprocmask(SIG_BLOCK, &stops, &before);
    if (pgserver_start(&pg, err, sizeof err)) {
        pgserver_stop(&pg);
        die("PostgreSQL", err);
    }
    if (bench_reaper_start(pg_cleanup, &pg) != 0) {
        pgserver_stop(&pg);
        die("reaper", strerror(errno));
    }
    sigprocmask(SIG_SETMASK, &before, NULL);
    if (!testhost_tmpdir("td-bench-sink", b.dir, sizeof b.dir))
        die("mkdtemp", strerror(errno));
    bench_reaper_note_dir(b.dir);
    char plugdir[BENCH_PATH_MAX];
    const char *sos[] = {TD_POSTGRES_SO};
    if (testhost_plugin_dir(b.dir, sos, 1, plugdir, sizeof plugdir))
        die("plugin dir", "cannot copy postgres.so");
    snprintf(b.state, sizeof b.state, "%s/state", b.dir);
    snprintf(b.url, sizeof b.url, "ipc://%s/rpc.sock", b.state);
    snprintf(b.program, sizeof b.program, "%s/program.yaml", b.dir);
    snprintf(b.config, sizeof b.config, "%s/tierd.yaml", b.dir);
    mkdir(b.state, 0700);
    write_file(b.program, program_yaml);
    char config[BENCH_PATH_MAX * 3];
    snprintf(config, sizeof config,
             "plugin_dir: %s\n"
             "connectors:\n"
             "  - name: " BENCH_CONNECTOR "\n"
             "    plugin: postgres\n"
             "    direction: sink\n"
             "    config: { conninfo: \"%s\", table: crm_partner_tiers, create_table: true }\n",
             plugdir, pg.conninfo);
    write_file(b.config, config);

    /* The backlog, made with no sink running. */
    start_tierd(&b, false);
    upsert_partners(&b, partners);
    static feeder f;
    f.b = &b;
    double i0 = now_s();
    for (long k = 0; k < partners; k++) {
        long deals = (long)floor(BENCH_TAIL_TOP / pow((double)(k + 1), BENCH_TAIL_EXPONENT));
        for (long d = 0; d < (deals > 1 ? deals : 1); d++)
            deal(&f, (k * 7919) % partners); /* busy partners spread over the id space */
    }
    flush(&f);
    double ingest_s = now_s() - i0;
    uint64_t backlog = last_sequence(&b);
    stop_tierd(&b);

    /* Catch-up: from tierd's start with the sink to its last ack. */
    double t0 = now_s();
    start_tierd(&b, true);
    double start_s = now_s() - t0;
    double catch_s = wait_acked(&b, backlog, t0) - start_s;

    /* Live: one more deal each while the sink follows. */
    f.sample = true;
    uint64_t before_live = last_sequence(&b);
    for (long k = 0; k < partners; k++)
        deal(&f, k);
    flush(&f);
    double l1 = now_s();
    uint64_t live_last = last_sequence(&b);
    double drain_s = wait_acked(&b, live_last, l1);

    long rows = count_rows(&pg);
    double rate = (double)backlog / catch_s;
    printf("bench_sink: partners=%ld events=%llu (ingest %.1fs) backlog_changes=%llu "
           "tierd_start_s=%.2f catch_up_s=%.2f rows_per_s=%.0f target=%.0f %s | live: changes=%llu "
           "max_lag=%llu "
           "drained_after_last_ingest_s=%.2f | table_rows=%ld\n",
           partners, (unsigned long long)(f.sent - (unsigned long long)partners), ingest_s,
           (unsigned long long)backlog, start_s, catch_s, rate, BENCH_TARGET_RATE,
           rate >= BENCH_TARGET_RATE ? "MET" : "MISSED",
           (unsigned long long)(live_last - before_live), (unsigned long long)f.max_lag, drain_s,
           rows);
    stop_tierd(&b);
    pgserver_stop(&pg);
    char cmd[BENCH_PATH_MAX];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", b.dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_sink: could not remove %s\n", b.dir);
    bench_reaper_forget_dir(b.dir);
    bench_reaper_done();
    return 0;
}
