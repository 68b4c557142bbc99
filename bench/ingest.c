/* bench_ingest: durable events per second through the Ingest RPC.
 *
 * Starts the real tierd (argv[1], else TIERD_BIN, else the build's) on a
 * mkdtemp state dir under /tmp (the normal disk, not a RAM disk) with the
 * example program and its default durability: the LMDB transaction of every
 * loop turn is fsynced before any reply of that turn leaves, so every
 * accepted event counted here was on disk when its client heard about it.
 *
 * Two loads, each with fresh event ids so nothing is a duplicate:
 *   (a) one client sending batches of BENCH_BATCH events, pre-packed so the
 *       client's own encoding is not measured, until BENCH_BATCHED_EVENTS
 *       are in or BENCH_BATCHED_SECONDS pass;
 *   (b) BENCH_CLIENTS threads, each with its own REQ socket, sending one
 *       event per request for BENCH_SINGLE_SECONDS. Several requests that
 *       arrive in one turn share one commit, so this measures group commit.
 * A reply counts only when it is OK and accepts every event it carried.
 * Not a test: it prints figures. */
#include <errno.h>
#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tierd.pb-c.h"
#include "bench_daemon.h"
#include "tierd/client.h"

#define BENCH_PARTNERS        100000
#define BENCH_BATCH           1000
#define BENCH_BATCHED_EVENTS  1000000
#define BENCH_BATCHED_SECONDS 10.0
#define BENCH_CLIENTS         8
#define BENCH_SINGLE_SECONDS  5.0
#define BENCH_TARGET_BATCHED  200000.0
#define BENCH_TIMEOUT_MS      30000
#define BENCH_DAY_S           86400
#define BENCH_SPREAD_DAYS     300 /* event times inside the program's 365-day windows */

/* ---- the daemon ------------------------------------------------------------ */

static int load_partners(const char *url)
{
    td_client *c = NULL;
    td_error err = {0};
    if (td_client_open(url, NULL, BENCH_TIMEOUT_MS, &c, &err) != 0)
        return -1;
    int rc = bench_upsert_partners(c, "p-%06llu", BENCH_PARTNERS, "bench_ingest");
    td_client_close(c);
    return rc;
}

/* ---- events ------------------------------------------------------------------ */

/* Fills ev (backed by t) with event number n of stream `stream`. */
static void make_event(Tierd__Event *ev, event_text *t, unsigned stream, unsigned long n,
                       time_t base)
{
    unsigned long h = (n + 1) * 2654435761ul + stream * 40503ul;
    tierd__event__init(ev);
    snprintf(t->id, sizeof t->id, "e%u-%lu", stream, n);
    snprintf(t->partner, sizeof t->partner, "p-%06lu", h % BENCH_PARTNERS);
    time_t at = base - (time_t)((h >> 7) % (BENCH_SPREAD_DAYS * BENCH_DAY_S));
    struct tm tm;
    gmtime_r(&at, &tm);
    strftime(t->at, sizeof t->at, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(t->key, sizeof t->key, "k-%lu", (h >> 11) % 64);
    ev->id = t->id;
    ev->source = stream ? "lms" : "crm";
    ev->partner = t->partner;
    ev->metric = (char *)bench_event_names[(h >> 3) % BENCH_N_EVENT_NAMES];
    ev->has_value = true;
    ev->value = strcmp(ev->metric, "csat") == 0 ? 0.9 : (double)((h >> 5) % 50000);
    ev->at = t->at;
    ev->key = t->key;
}

/* Packs `count` events of `stream` starting at `first` into one Ingest
 * envelope. */
static uint8_t *ingest_envelope(unsigned stream, unsigned long first, size_t count, time_t base,
                                size_t *len)
{
    Tierd__Event *evs = calloc(count, sizeof *evs);
    Tierd__Event **pp = calloc(count, sizeof *pp);
    event_text *texts = calloc(count, sizeof *texts);
    for (size_t i = 0; i < count; i++) {
        make_event(&evs[i], &texts[i], stream, first + i, base);
        pp[i] = &evs[i];
    }
    Tierd__IngestRequest req = TIERD__INGEST_REQUEST__INIT;
    req.n_events = count;
    req.events = pp;
    uint8_t *buf = bench_envelope("Ingest", &req.base, len);
    free(evs);
    free(pp);
    free(texts);
    return buf;
}

static int open_req(const char *url)
{
    int s = nn_socket(AF_SP, NN_REQ);
    int timeout = BENCH_TIMEOUT_MS;
    if (s < 0)
        return -1;
    nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &timeout, sizeof timeout);
    if (nn_connect(s, url) < 0) {
        nn_close(s);
        return -1;
    }
    return s;
}

/* (a): one client, batches. */
static double run_batched(const char *url, time_t base, unsigned long *events, double *secs)
{
    size_t nbatches = BENCH_BATCHED_EVENTS / BENCH_BATCH;
    uint8_t **reqs = calloc(nbatches, sizeof *reqs);
    size_t *lens = calloc(nbatches, sizeof *lens);
    for (size_t b = 0; b < nbatches; b++)
        reqs[b] = ingest_envelope(0, b * BENCH_BATCH, BENCH_BATCH, base, &lens[b]);
    int sock = open_req(url);
    unsigned long done = 0;
    double t0 = bench_now_s(), t = t0;
    for (size_t b = 0; sock >= 0 && b < nbatches && t - t0 < BENCH_BATCHED_SECONDS; b++) {
        long got = bench_ingest_round_trip("bench_ingest", sock, reqs[b], lens[b], BENCH_BATCH);
        if (got < 0)
            break;
        done += (unsigned long)got;
        t = bench_now_s();
    }
    if (sock >= 0)
        nn_close(sock);
    for (size_t b = 0; b < nbatches; b++)
        free(reqs[b]);
    free(reqs);
    free(lens);
    *events = done;
    *secs = t - t0;
    return *secs > 0 ? (double)done / *secs : 0;
}

/* (b): BENCH_CLIENTS threads, one event per request. */
typedef struct single_load {
    const char *url;
    time_t base;
    atomic_bool stop;
    atomic_ulong done;
    atomic_ulong failed;
    atomic_uint next_stream;
} single_load;

static void *single_client(void *arg)
{
    single_load *l = arg;
    /* Streams 1.. so ids never collide with the batched run's stream 0. */
    unsigned stream = atomic_fetch_add(&l->next_stream, 1) + 1;
    int sock = open_req(l->url);
    if (sock < 0) {
        atomic_fetch_add(&l->failed, 1);
        return NULL;
    }
    for (unsigned long n = 0; !atomic_load(&l->stop); n++) {
        size_t len = 0;
        uint8_t *req = ingest_envelope(stream, n, 1, l->base, &len);
        long got = bench_ingest_round_trip("bench_ingest", sock, req, len, 1);
        free(req);
        if (got < 0) {
            atomic_fetch_add(&l->failed, 1);
            break;
        }
        atomic_fetch_add(&l->done, 1);
    }
    nn_close(sock);
    return NULL;
}

static double run_single(const char *url, time_t base, unsigned long *events, unsigned long *failed)
{
    single_load l = {.url = url, .base = base};
    pthread_t th[BENCH_CLIENTS];
    double t0 = bench_now_s();
    for (int i = 0; i < BENCH_CLIENTS; i++)
        pthread_create(&th[i], NULL, single_client, &l);
    struct timespec ts = {(time_t)BENCH_SINGLE_SECONDS, 0};
    nanosleep(&ts, NULL);
    atomic_store(&l.stop, true);
    for (int i = 0; i < BENCH_CLIENTS; i++)
        pthread_join(th[i], NULL);
    double elapsed = bench_now_s() - t0;
    *events = atomic_load(&l.done);
    *failed = atomic_load(&l.failed);
    return (double)*events / elapsed;
}

int main(int argc, char **argv)
{
    const char *bin = argc > 1 ? argv[1] : getenv("TIERD_BIN");
    if (!bin)
        bin = BENCH_TIERD_BIN;
    const char *program = argc > 2 ? argv[2] : BENCH_PROGRAM;
    int status = 1;
    bench_daemon d;
    if (bench_daemon_start(&d, "ingest", bin, program) != 0)
        goto out;
    const char *url = d.url;
    if (load_partners(url) != 0)
        goto out;
    time_t base = time(NULL);

    printf("bench_ingest: real tierd, state dir %s on disk, default durability "
           "(fsync at every commit; a reply leaves only after its commit is durable)\n",
           d.dir);
    printf("%d partners (reseller+services), events of examples/programs/partners.yaml\n",
           BENCH_PARTNERS);
    unsigned long n = 0, failed = 0;
    double secs = 0;
    double batched = run_batched(url, base, &n, &secs);
    printf("(a) batched: 1 client, %d events/request: %lu events in %.2f s = %.0f events/s "
           "(target >= %.0f: %s)\n",
           BENCH_BATCH, n, secs, batched, BENCH_TARGET_BATCHED,
           batched >= BENCH_TARGET_BATCHED ? "met" : "NOT met");
    double single = run_single(url, base, &n, &failed);
    printf("(b) single: %d clients, 1 event/request: %lu events in %.0f s = %.0f events/s "
           "(no target; group commit shares one fsync per loop turn)\n",
           BENCH_CLIENTS, n, BENCH_SINGLE_SECONDS, single);
    if (failed)
        printf("failed requests: %lu\n", failed);
    status = 0;
out:
    bench_daemon_stop(&d);
    return status;
}
