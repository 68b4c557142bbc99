/* bench_webhooks: webhook deliveries per second from a real tierd to a
 * real receiver on 127.0.0.1 (the tests' libmicrohttpd receiver, which
 * verifies every signature), with the loop's longest turn.
 *
 * P partners (default 10,000) get a heavy-tailed number of tier changes
 * each (Pareto, alpha 1.2, capped at 200: most partners one or two, a few
 * hundreds), every change one signed POST. Deliveries of one partner go
 * one at a time, so the tail is what the per-partner order costs. The
 * clock runs from the first Ingest until the outbox is empty: the events
 * are taken while the deliveries go out on the same loop, so the figure
 * includes ingesting them (conservative).
 *
 * Figures: deliveries per second (target 5,000/s), the loop's longest turn
 * as tierd measures it (prepare-to-prepare wall time minus the time asleep
 * in poll, logged when it stops), and the slowest Status round trip seen
 * while sending. Usage: bench_webhooks [PARTNERS]. */
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_daemon.h"
#include "webhook_receiver.h"

#define SECRET           "bench-secret-0123456789"
#define DEFAULT_PARTNERS 10000
#define PARETO_ALPHA     1.2
#define MAX_CHANGES      200
#define BATCH            1000
#define TARGET_PER_S     5000.0
#define TARGET_TURN_MS   50.0
#define POLL_STATUS_MS   20

static const char program_yaml[] = "program: bench\n"
                                   "version: \"1\"\n"
                                   "metrics:\n"
                                   "  level: { agg: latest }\n"
                                   "ladders:\n"
                                   "  reseller:\n"
                                   "    partner_types: [reseller]\n"
                                   "    policy: { review: immediate }\n"
                                   "    tiers:\n"
                                   "      - { name: Silver, when: level >= 1 }\n"
                                   "      - { name: Gold, when: level >= 2 }\n";

static pid_t tierd_pid;

/* Leaves no tierd behind; _exit, as the receiver's threads may be busy. */
static void die(const char *what, const char *why)
{
    fprintf(stderr, "bench_webhooks: %s: %s\n", what, why);
    if (tierd_pid > 0) {
        kill(tierd_pid, SIGKILL);
        waitpid(tierd_pid, NULL, 0);
    }
    _exit(1);
}

typedef struct prober {
    const char *url;
    volatile int stop;
    double worst_ms;
} prober;

static void *probe(void *ud)
{
    prober *p = ud;
    td_client *c = NULL;
    td_error err;
    if (td_client_open(p->url, NULL, 5000, &c, &err) != 0)
        return NULL;
    while (!p->stop) {
        double t0 = bench_now_s();
        Tierd__StatusResponse *s = NULL;
        if (td_client_status(c, &s, &err) == 0)
            tierd__status_response__free_unpacked(s, NULL);
        double ms = (bench_now_s() - t0) * 1e3;
        if (ms > p->worst_ms)
            p->worst_ms = ms;
        usleep(POLL_STATUS_MS * 1000);
    }
    td_client_close(c);
    return NULL;
}

static uint64_t changes;

static uint64_t queued(td_client *c)
{
    Tierd__StatusResponse *s = NULL;
    td_error err;
    if (td_client_status(c, &s, &err) != 0)
        die("Status", err.message);
    uint64_t q = s->webhook_queued;
    changes = s->last_sequence;
    tierd__status_response__free_unpacked(s, NULL);
    return q;
}

int main(int argc, char **argv)
{
    long partners = argc > 1 ? atol(argv[1]) : DEFAULT_PARTNERS;
    if (partners <= 0)
        die("usage", "bench_webhooks [PARTNERS]");
    wr *w = wr_start(SECRET);
    if (!w)
        die("receiver", "cannot listen on 127.0.0.1");

    char dir[BENCH_DIR_MAX];
    if (bench_mkdtemp(NULL, "webhooks", dir, sizeof dir) != 0)
        die("mkdtemp", "failed");
    char conf[BENCH_DIR_MAX + 32], prog[BENCH_DIR_MAX + 32], state[BENCH_DIR_MAX + 16],
        url[BENCH_DIR_MAX + 32], pub[BENCH_DIR_MAX + 32], log[BENCH_DIR_MAX + 32];
    snprintf(conf, sizeof conf, "%s/tierd.yaml", dir);
    snprintf(prog, sizeof prog, "%s/bench.yaml", dir);
    snprintf(state, sizeof state, "%s/state", dir);
    snprintf(url, sizeof url, "ipc://%s/rpc.sock", dir);
    snprintf(pub, sizeof pub, "ipc://%s/pub.sock", dir);
    snprintf(log, sizeof log, "%s/tierd.log", dir);
    FILE *f = fopen(conf, "w");
    fprintf(f,
            "webhooks:\n  - name: bench\n    url: http://127.0.0.1:%u/hook\n"
            "    secret: " SECRET "\n    max_attempts: 100\n"
            "webhook_retry_base_ms: 10\nwebhook_retry_max_ms: 50\nwebhook_max_transfers: 64\n",
            wr_port(w));
    fclose(f);
    f = fopen(prog, "w");
    fputs(program_yaml, f);
    fclose(f);

    pid_t pid = fork();
    tierd_pid = pid;
    if (pid == 0) {
        freopen(log, "w", stderr);
        execl(BENCH_TIERD_BIN, BENCH_TIERD_BIN, "-c", conf, "--state-dir", state, "--listen", url,
              "--publish", pub, "--program", prog, "--log-level", "info", (char *)NULL);
        _exit(127);
    }
    if (bench_wait_ready(url, 10) < 0)
        die("tierd", "did not answer");
    td_client *c = NULL;
    td_error err;
    if (td_client_open(url, NULL, 60000, &c, &err) != 0)
        die("client", err.message);
    if (bench_upsert_partners(c, "p-%07llu", (unsigned long long)partners, "bench_webhooks") != 0)
        die("partners", "upsert failed");

    prober pr = {.url = url};
    pthread_t th;
    pthread_create(&th, NULL, probe, &pr);
    size_t before_ok = wr_count_ok(w);
    double t0 = bench_now_s();
    /* Heavy-tailed changes per partner; each event flips Silver/Gold. */
    srand(42);
    /* Event i of every partner at now - 1 day + i s: later flips are later. */
    char ats[MAX_CHANGES][32];
    time_t day_ago = time(NULL) - 86400;
    for (int i = 0; i < MAX_CHANGES; i++) {
        time_t t = day_ago + i;
        strftime(ats[i], sizeof ats[i], "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
    }
    Tierd__Event *evs = calloc(BATCH, sizeof *evs);
    Tierd__Event **pp = calloc(BATCH, sizeof *pp);
    char(*ids)[32] = calloc(BATCH, 32), (*pids)[32] = calloc(BATCH, 32);
    size_t n = 0;
    uint64_t total = 0, longest = 0;
    for (long p = 0; p < partners; p++) {
        double u = (rand() + 1.0) / ((double)RAND_MAX + 2.0);
        long k = (long)floor(pow(u, -1.0 / PARETO_ALPHA));
        if (k > MAX_CHANGES)
            k = MAX_CHANGES;
        if ((uint64_t)k > longest)
            longest = (uint64_t)k;
        for (long i = 0; i < k; i++) {
            tierd__event__init(&evs[n]);
            snprintf(ids[n], 32, "e-%ld-%ld", p, i);
            snprintf(pids[n], 32, "p-%07ld", p);
            evs[n].id = ids[n];
            evs[n].source = "bench";
            evs[n].partner = pids[n];
            evs[n].metric = "level";
            evs[n].value = i % 2 ? 1 : 2;
            evs[n].has_value = true;
            evs[n].at = ats[i];
            pp[n] = &evs[n];
            total++;
            if (++n == BATCH || (p == partners - 1 && i == k - 1)) {
                Tierd__IngestRequest req = TIERD__INGEST_REQUEST__INIT;
                req.n_events = n;
                req.events = pp;
                Tierd__IngestResponse *resp = NULL;
                if (td_client_ingest(c, &req, &resp, &err) != 0)
                    die("Ingest", err.message);
                if (resp->rejected && resp->n_results)
                    for (size_t r = 0; r < resp->n_results; r++)
                        if (resp->results[r]->reason && *resp->results[r]->reason)
                            die("Ingest", resp->results[r]->reason);
                tierd__ingest_response__free_unpacked(resp, NULL);
                n = 0;
            }
        }
    }
    double ingested = bench_now_s() - t0;
    uint64_t waiting = queued(c);
    printf("bench_webhooks: %ld partners, %llu events making %llu tier changes (most events "
           "for one partner: %llu); ingested in %.2f s, %llu deliveries still queued then\n",
           partners, (unsigned long long)total, (unsigned long long)changes,
           (unsigned long long)longest, ingested, (unsigned long long)waiting);
    while (queued(c) > 0)
        usleep(10 * 1000);
    double secs = bench_now_s() - t0;
    pr.stop = 1;
    pthread_join(th, NULL);
    size_t delivered = wr_count_ok(w) - before_ok;
    queued(c); /* the final change count */
    td_client_close(c);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);

    double turn_ms = -1;
    char *text = NULL;
    size_t len = 0;
    FILE *lf = fopen(log, "r");
    if (lf) {
        getdelim(&text, &len, 0, lf);
        fclose(lf);
        const char *at = text ? strstr(text, "longest turn meanwhile ") : NULL;
        if (at)
            turn_ms = atof(at + strlen("longest turn meanwhile "));
    }
    free(text);
    size_t bad = 0, nreq = wr_count(w), dup = 0;
    char(*seen)[128] = calloc(nreq ? nreq : 1, 128);
    for (size_t i = 0; i < nreq; i++) {
        wr_request r;
        if (wr_get(w, i, &r)) {
            bad += !r.signed_ok;
            memcpy(seen[i], r.id, 128);
            free(r.body);
        }
    }
    qsort(seen, nreq, 128, (int (*)(const void *, const void *))strcmp);
    for (size_t i = 1; i < nreq; i++)
        dup += strcmp(seen[i], seen[i - 1]) == 0;
    free(seen);
    printf("requests:     %zu, repeated ids %zu\n", nreq, dup);
    double rate = (double)delivered / secs;
    printf("deliveries:   %zu (every kind) for %llu changes in %.2f s = %.0f/s (target %.0f/s: "
           "%s); %zu bad "
           "signatures\n",
           delivered, (unsigned long long)changes, secs, rate, TARGET_PER_S,
           rate >= TARGET_PER_S ? "met" : "MISSED", bad);
    printf("longest turn: %.1f ms (tierd's loop over the run, Ingest turns of %d events "
           "included; target %.0f ms: %s)\n",
           turn_ms, BATCH, TARGET_TURN_MS,
           turn_ms >= 0 && turn_ms <= TARGET_TURN_MS ? "met" : "MISSED");
    printf("status rtt:   %.1f ms at worst while sending\n", pr.worst_ms);
    wr_stop(w);
    char cmd[BENCH_DIR_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_webhooks: could not remove %s\n", dir);
    free(evs);
    free(pp);
    free(ids);
    free(pids);
    return 0;
}
