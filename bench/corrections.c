/* bench_corrections: retractions and amendments per second against new
 * events per second, through the same path (the Ingest RPC of the real
 * tierd, default durability: fsync at every commit).
 *
 * Three phases on one daemon, each one client sending batches of
 * BENCH_BATCH pre-packed events for up to BENCH_PHASE_SECONDS:
 *   (1) new events (as bench_ingest (a));
 *   (2) amendments of those events, in the same order: revision 1, a new
 *       value and a time a day later;
 *   (3) retractions of the same events.
 * Prints each rate and the ratio to (1); the target is corrections
 * within 1.5x of new events. Half the amendments and retractions touch a
 * stream's extreme or latest value and rebuild it from the store's event
 * history; the rest are taken out in place. Not a test: it prints figures. */
#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tierd.pb-c.h"
#include "bench_daemon.h"
#include "tierd/client.h"

#define BENCH_PARTNERS      100000
#define BENCH_BATCH         1000
#define BENCH_EVENTS        300000
#define BENCH_PHASE_SECONDS 10.0
#define BENCH_TIMEOUT_MS    30000
#define BENCH_DAY_S         86400
#define BENCH_SPREAD_DAYS   300
#define BENCH_TARGET_RATIO  1.5

enum phase { PHASE_NEW, PHASE_AMEND, PHASE_RETRACT };

static void make_event(Tierd__Event *ev, event_text *t, unsigned long n, time_t base, enum phase ph)
{
    unsigned long h = (n + 1) * 2654435761ul;
    tierd__event__init(ev);
    snprintf(t->id, sizeof t->id, "e-%lu", n);
    snprintf(t->partner, sizeof t->partner, "p-%06lu", h % BENCH_PARTNERS);
    time_t at = base - (time_t)((h >> 7) % (BENCH_SPREAD_DAYS * BENCH_DAY_S)) -
                (ph == PHASE_AMEND ? BENCH_DAY_S : 0);
    struct tm tm;
    gmtime_r(&at, &tm);
    strftime(t->at, sizeof t->at, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(t->key, sizeof t->key, "k-%lu", (h >> 11) % 64);
    ev->id = t->id;
    ev->source = "crm";
    if (ph == PHASE_RETRACT) {
        ev->op = "retract";
        return;
    }
    ev->partner = t->partner;
    ev->metric = (char *)bench_event_names[(h >> 3) % BENCH_N_EVENT_NAMES];
    ev->has_value = true;
    ev->value = strcmp(ev->metric, "csat") == 0 ? 0.9 : (double)((h >> 5) % 50000);
    if (ph == PHASE_AMEND) {
        ev->op = "amend";
        ev->revision = 1;
        ev->value = strcmp(ev->metric, "csat") == 0 ? 0.8 : ev->value + 7;
    }
    ev->at = t->at;
    ev->key = t->key;
}

static uint8_t *envelope(unsigned long first, size_t count, time_t base, enum phase ph, size_t *len)
{
    Tierd__Event *evs = calloc(count, sizeof *evs);
    Tierd__Event **pp = calloc(count, sizeof *pp);
    event_text *texts = calloc(count, sizeof *texts);
    for (size_t i = 0; i < count; i++) {
        make_event(&evs[i], &texts[i], first + i, base, ph);
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

/* One phase over events [0, upto); returns events per second. */
static double run_phase(const char *url, time_t base, enum phase ph, unsigned long upto,
                        unsigned long *events, double *secs)
{
    size_t nbatches = upto / BENCH_BATCH;
    uint8_t **reqs = calloc(nbatches, sizeof *reqs);
    size_t *lens = calloc(nbatches, sizeof *lens);
    for (size_t b = 0; b < nbatches; b++)
        reqs[b] = envelope(b * BENCH_BATCH, BENCH_BATCH, base, ph, &lens[b]);
    int sock = nn_socket(AF_SP, NN_REQ);
    int timeout = BENCH_TIMEOUT_MS;
    if (sock >= 0) {
        nn_setsockopt(sock, NN_SOL_SOCKET, NN_RCVTIMEO, &timeout, sizeof timeout);
        if (nn_connect(sock, url) < 0) {
            nn_close(sock);
            sock = -1;
        }
    }
    unsigned long done = 0;
    double t0 = bench_now_s(), t = t0;
    for (size_t b = 0; sock >= 0 && b < nbatches && t - t0 < BENCH_PHASE_SECONDS; b++) {
        long got =
            bench_ingest_round_trip("bench_corrections", sock, reqs[b], lens[b], BENCH_BATCH);
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

int main(int argc, char **argv)
{
    const char *bin = argc > 1 ? argv[1] : getenv("TIERD_BIN");
    if (!bin)
        bin = BENCH_TIERD_BIN;
    const char *program = argc > 2 ? argv[2] : BENCH_PROGRAM;
    int status = 1;
    bench_daemon d;
    if (bench_daemon_start(&d, "corrections", bin, program) != 0)
        goto out;
    td_client *c = NULL;
    td_error err = {0};
    if (td_client_open(d.url, NULL, BENCH_TIMEOUT_MS, &c, &err) != 0)
        goto out;
    int rc = bench_upsert_partners(c, "p-%06llu", BENCH_PARTNERS, "bench_corrections");
    td_client_close(c);
    if (rc != 0)
        goto out;
    time_t base = time(NULL);
    printf("bench_corrections: real tierd, state dir %s on disk, fsync at every commit; "
           "%d partners, 1 client, %d events/request\n",
           d.dir, BENCH_PARTNERS, BENCH_BATCH);
    unsigned long n_new = 0, n_amend = 0, n_retract = 0;
    double s_new = 0, s_amend = 0, s_retract = 0;
    double r_new = run_phase(d.url, base, PHASE_NEW, BENCH_EVENTS, &n_new, &s_new);
    printf("(1) new events:  %lu in %.2f s = %.0f/s\n", n_new, s_new, r_new);
    double r_amend = run_phase(d.url, base, PHASE_AMEND, n_new, &n_amend, &s_amend);
    printf("(2) amendments:  %lu in %.2f s = %.0f/s (new events %.2fx as fast; target <= %.1fx: "
           "%s)\n",
           n_amend, s_amend, r_amend, r_amend > 0 ? r_new / r_amend : 0, BENCH_TARGET_RATIO,
           r_amend > 0 && r_new / r_amend <= BENCH_TARGET_RATIO ? "met" : "NOT met");
    double r_retract = run_phase(d.url, base, PHASE_RETRACT, n_amend, &n_retract, &s_retract);
    printf("(3) retractions: %lu in %.2f s = %.0f/s (new events %.2fx as fast; target <= %.1fx: "
           "%s)\n",
           n_retract, s_retract, r_retract, r_retract > 0 ? r_new / r_retract : 0,
           BENCH_TARGET_RATIO,
           r_retract > 0 && r_new / r_retract <= BENCH_TARGET_RATIO ? "met" : "NOT met");
    status = n_new && n_amend && n_retract ? 0 : 1;
out:
    bench_daemon_stop(&d);
    return status;
}
