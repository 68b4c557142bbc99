/* bench_http: GET /v1/partners/{id} through tierd-http against GetPartner
 * over tierd's RPC, both at 8 concurrent clients in the same run.
 *
 * Starts the real tierd (BENCH_TIERD_BIN) with the example program on a
 * temporary dir, loads 10,000 partners and heavy-tailed events (a few
 * partners carry most of them: Pareto-like counts, as channel programs
 * look), then the real tierd-http (BENCH_TIERD_HTTP_BIN) in front of it.
 * Each client (a thread with its own keep-alive libcurl handle, or its
 * own libtierd-client) asks for random partners for BENCH_SECONDS, best of
 * BENCH_ROUNDS alternating rounds. Prints both rates, their ratio (target
 * >= 0.5) and p50/p99 latency. Not a test: it prints figures. */
#include <curl/curl.h>
#include <math.h>
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

#include "bench_daemon.h"
#include "tierd.pb-c.h"
#include "tierd/client.h"

#define BENCH_SECONDS     2.0
#define BENCH_ROUNDS      3
#define BENCH_CLIENTS     8
#define BENCH_PARTNERS    10000ull
#define BENCH_ID_FMT      "p-%06llu"
#define BENCH_EVENTS      60000ul
#define BENCH_EV_BATCH    5000ul
#define BENCH_SPREAD_DAYS 300
#define BENCH_DAY_S       86400
#define BENCH_TARGET      0.5
#define BENCH_TIMEOUT_MS  5000
#define BENCH_MAX_SAMPLES 2000000
#define BENCH_TOKEN       "bench-read-token-000001"
#define BENCH_START_S     10.0
#define BENCH_PARETO_A    1.16 /* the 80/20 shape */

typedef struct load {
    bool http;
    const char *base; /* http://127.0.0.1:PORT */
    const char *url;  /* tierd's RPC url */
    atomic_bool stop;
    atomic_ulong done, failed;
    pthread_mutex_t mu;
    double *lat;
    size_t n_lat;
} load;

typedef struct client {
    load *l;
    unsigned seed;
    double lat[BENCH_MAX_SAMPLES / BENCH_CLIENTS];
    size_t n;
} client;

static size_t discard(char *p, size_t s, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return s * n;
}

static void *client_thread(void *arg)
{
    client *c = arg;
    load *l = c->l;
    CURL *h = NULL;
    struct curl_slist *hdr = NULL;
    td_client *cli = NULL;
    td_error err = {0};
    if (l->http) {
        h = curl_easy_init();
        hdr = curl_slist_append(NULL, "Authorization: Bearer " BENCH_TOKEN);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)BENCH_TIMEOUT_MS);
    } else if (td_client_open(l->url, NULL, BENCH_TIMEOUT_MS, &cli, &err) != 0) {
        atomic_fetch_add(&l->failed, 1);
        return NULL;
    }
    char id[BENCH_ID_TEXT_MAX], url[256];
    while (!atomic_load(&l->stop)) {
        snprintf(id, sizeof id, BENCH_ID_FMT,
                 (unsigned long long)rand_r(&c->seed) % BENCH_PARTNERS);
        double t0 = bench_now_s();
        bool ok;
        if (l->http) {
            snprintf(url, sizeof url, "%s/v1/partners/%s", l->base, id);
            curl_easy_setopt(h, CURLOPT_URL, url);
            long code = 0;
            ok = curl_easy_perform(h) == CURLE_OK &&
                 curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK && code == 200;
        } else {
            Tierd__PartnerInfo *p = NULL;
            ok = td_client_get_partner(cli, id, &p, &err) == 0;
            if (p)
                tierd__partner_info__free_unpacked(p, NULL);
        }
        double dt = bench_now_s() - t0;
        if (!ok) {
            atomic_fetch_add(&l->failed, 1);
            continue;
        }
        atomic_fetch_add(&l->done, 1);
        if (c->n < sizeof c->lat / sizeof *c->lat)
            c->lat[c->n++] = dt;
    }
    if (h) {
        curl_easy_cleanup(h);
        curl_slist_free_all(hdr);
    }
    td_client_close(cli);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct result {
    double rate, p50, p99;
    unsigned long failed;
} result;

static result run(bool http, const char *base, const char *url)
{
    static client clients[BENCH_CLIENTS];
    load l = {.http = http, .base = base, .url = url};
    pthread_t th[BENCH_CLIENTS];
    for (int i = 0; i < BENCH_CLIENTS; i++) {
        clients[i].l = &l;
        clients[i].seed = (unsigned)(i * 7919 + 1);
        clients[i].n = 0;
        pthread_create(&th[i], NULL, client_thread, &clients[i]);
    }
    double t0 = bench_now_s();
    while (bench_now_s() - t0 < BENCH_SECONDS)
        usleep(10000);
    atomic_store(&l.stop, true);
    for (int i = 0; i < BENCH_CLIENTS; i++)
        pthread_join(th[i], NULL);
    double took = bench_now_s() - t0;
    size_t total = 0;
    for (int i = 0; i < BENCH_CLIENTS; i++)
        total += clients[i].n;
    double *all = malloc((total ? total : 1) * sizeof *all);
    size_t k = 0;
    for (int i = 0; i < BENCH_CLIENTS; i++)
        for (size_t j = 0; j < clients[i].n; j++)
            all[k++] = clients[i].lat[j];
    qsort(all, total, sizeof *all, cmp_double);
    result r = {.rate = (double)atomic_load(&l.done) / took,
                .failed = atomic_load(&l.failed),
                .p50 = total ? all[total / 2] : 0,
                .p99 = total ? all[(size_t)((double)total * 0.99)] : 0};
    free(all);
    return r;
}

/* Heavy-tailed events: partner k gets a share ~ 1/(k+1)^(1/a) of them. */
static int load_events(td_client *c)
{
    time_t base = time(NULL);
    unsigned seed = 42;
    Tierd__Event *evs = calloc(BENCH_EV_BATCH, sizeof *evs);
    Tierd__Event **pp = calloc(BENCH_EV_BATCH, sizeof *pp);
    event_text *t = calloc(BENCH_EV_BATCH, sizeof *t);
    if (!evs || !pp || !t)
        return -1;
    for (unsigned long done = 0; done < BENCH_EVENTS; done += BENCH_EV_BATCH) {
        for (unsigned long i = 0; i < BENCH_EV_BATCH; i++) {
            double u = (rand_r(&seed) + 1.0) / ((double)RAND_MAX + 2.0);
            unsigned long long p =
                (unsigned long long)(pow(u, -1.0 / BENCH_PARETO_A) - 1.0) % BENCH_PARTNERS;
            tierd__event__init(&evs[i]);
            snprintf(t[i].id, sizeof t[i].id, "e-%lu", done + i);
            snprintf(t[i].partner, sizeof t[i].partner, BENCH_ID_FMT, p);
            time_t at = base - (time_t)(rand_r(&seed) % (BENCH_SPREAD_DAYS * BENCH_DAY_S));
            struct tm tm;
            gmtime_r(&at, &tm);
            strftime(t[i].at, sizeof t[i].at, "%Y-%m-%dT%H:%M:%SZ", &tm);
            snprintf(t[i].key, sizeof t[i].key, "k-%d", rand_r(&seed) % 64);
            evs[i].id = t[i].id;
            evs[i].source = "bench";
            evs[i].partner = t[i].partner;
            evs[i].metric = (char *)bench_event_names[rand_r(&seed) % BENCH_N_EVENT_NAMES];
            evs[i].has_value = true;
            evs[i].value = (double)(rand_r(&seed) % 50000);
            evs[i].at = t[i].at;
            evs[i].key = t[i].key;
            pp[i] = &evs[i];
        }
        Tierd__IngestRequest req = TIERD__INGEST_REQUEST__INIT;
        req.n_events = BENCH_EV_BATCH;
        req.events = pp;
        Tierd__IngestResponse *resp = NULL;
        td_error err = {0};
        if (td_client_ingest(c, &req, &resp, &err) != 0) {
            fprintf(stderr, "bench_http: Ingest: %s\n", err.message);
            return -1;
        }
        tierd__ingest_response__free_unpacked(resp, NULL);
    }
    free(evs);
    free(pp);
    free(t);
    return 0;
}

static pid_t start_http(const bench_daemon *b, char *base, size_t n)
{
    char cfg[BENCH_DIR_MAX + 32], log[BENCH_DIR_MAX + 32];
    snprintf(cfg, sizeof cfg, "%s/tierd-http.yaml", b->dir);
    snprintf(log, sizeof log, "%s/tierd-http.log", b->dir);
    FILE *f = fopen(cfg, "w");
    if (!f)
        return -1;
    fprintf(f,
            "listen: 127.0.0.1:0\ntierd:\n  url: %s\n  sockets: 64\n"
            "tokens:\n  - {name: bench, token: " BENCH_TOKEN ", role: read}\n"
            "limits:\n  requests_per_second: 1000000\n  burst: 1000000\n",
            b->url);
    fclose(f);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen(log, "w", stderr))
            _exit(127);
        execl(BENCH_TIERD_HTTP_BIN, BENCH_TIERD_HTTP_BIN, "-c", cfg, (char *)NULL);
        _exit(127);
    }
    double t0 = bench_now_s();
    while (bench_now_s() - t0 < BENCH_START_S) {
        char line[512] = "";
        FILE *l = fopen(log, "r");
        if (l) {
            if (!fgets(line, sizeof line, l))
                line[0] = 0;
            fclose(l);
        }
        char *at = strstr(line, "http://");
        if (at) {
            size_t len = strcspn(at, " ");
            snprintf(base, n, "%.*s", (int)len, at);
            return pid;
        }
        usleep(20000);
    }
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    return -1;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    bench_daemon b;
    if (bench_daemon_start(&b, "http", BENCH_TIERD_BIN, BENCH_PROGRAM) != 0) {
        bench_daemon_stop(&b);
        return 1;
    }
    td_client *c = NULL;
    td_error err = {0};
    int rc = 1;
    pid_t http = -1;
    char base[128];
    if (td_client_open(b.url, NULL, 60000, &c, &err) != 0 ||
        bench_upsert_partners(c, BENCH_ID_FMT, BENCH_PARTNERS, "bench_http") != 0 ||
        load_events(c) != 0)
        goto out;
    http = start_http(&b, base, sizeof base);
    if (http < 0) {
        fprintf(stderr, "bench_http: tierd-http did not start\n");
        goto out;
    }
    printf("bench_http: %llu partners, %lu heavy-tailed events; %d clients, best of %d x %.0f s\n",
           BENCH_PARTNERS, BENCH_EVENTS, BENCH_CLIENTS, BENCH_ROUNDS, BENCH_SECONDS);
    result best_http = {0}, best_rpc = {0};
    for (int round = 0; round < BENCH_ROUNDS; round++) {
        result h = run(true, base, b.url);
        result r = run(false, base, b.url);
        if (h.rate > best_http.rate)
            best_http = h;
        if (r.rate > best_rpc.rate)
            best_rpc = r;
    }
    printf("  RPC GetPartner          %9.0f req/s   p50 %6.3f ms   p99 %6.3f ms   failed %lu\n",
           best_rpc.rate, best_rpc.p50 * 1e3, best_rpc.p99 * 1e3, best_rpc.failed);
    printf("  HTTP GET /v1/partners/ID %8.0f req/s   p50 %6.3f ms   p99 %6.3f ms   failed %lu\n",
           best_http.rate, best_http.p50 * 1e3, best_http.p99 * 1e3, best_http.failed);
    double ratio = best_rpc.rate > 0 ? best_http.rate / best_rpc.rate : 0;
    printf("  ratio HTTP/RPC %.2f (target >= %.1f): %s\n", ratio, BENCH_TARGET,
           ratio >= BENCH_TARGET ? "met" : "NOT met");
    rc = 0;
out:
    if (rc)
        fprintf(stderr, "bench_http: %s\n", err.message);
    if (http > 0) {
        kill(http, SIGTERM);
        waitpid(http, NULL, 0);
    }
    td_client_close(c);
    bench_daemon_stop(&b);
    return rc;
}
