/* Shared by the benches that start the real tierd (bench_daemon.h). */
#include "bench_daemon.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nanomsg/nn.h>

#include "tierd/client.h"

const char *const bench_event_names[BENCH_N_EVENT_NAMES] = {
    "deal_closed", "deal_closed",        "deal_closed",       "certification",
    "csat",        "consultant_trained", "active_sellers",    "implementation_completed",
    "mdf_claimed", "contract_signed",    "reference_customer"};

#define BENCH_POLL_MS       200
#define BENCH_POLL_SLEEP_US 20000
#define BENCH_START_LIMIT_S 5.0

double bench_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

pid_t bench_start_tierd(const char *bin, const char *state, const char *url, const char *pub,
                        const char *program)
{
    pid_t pid = fork();
    if (pid == 0) {
        execl(bin, bin, "--state-dir", state, "--listen", url, "--publish", pub, "--program",
              program, "--log-level", "warning", (char *)NULL);
        _exit(127);
    }
    return pid;
}

double bench_wait_ready(const char *url, double limit_s)
{
    double t0 = bench_now_s();
    while (bench_now_s() - t0 < limit_s) {
        td_client *c = NULL;
        td_error err = {0};
        Tierd__StatusResponse *st = NULL;
        if (td_client_open(url, NULL, BENCH_POLL_MS, &c, &err) == 0 &&
            td_client_status(c, &st, &err) == 0) {
            double t = bench_now_s() - t0;
            tierd__status_response__free_unpacked(st, NULL);
            td_client_close(c);
            return t;
        }
        td_client_close(c);
        usleep(BENCH_POLL_SLEEP_US);
    }
    return -1;
}

uint8_t *bench_envelope(const char *method, const ProtobufCMessage *payload, size_t *len)
{
    Tierd__Envelope env = TIERD__ENVELOPE__INIT;
    env.method = (char *)method;
    env.request_id = 1;
    env.token = "";
    uint8_t *pb = NULL;
    if (payload) {
        env.payload.len = protobuf_c_message_get_packed_size(payload);
        pb = malloc(env.payload.len + 1);
        protobuf_c_message_pack(payload, pb);
        env.payload.data = pb;
    }
    *len = tierd__envelope__get_packed_size(&env);
    uint8_t *buf = malloc(*len);
    tierd__envelope__pack(&env, buf);
    free(pb);
    return buf;
}

int bench_daemon_start(bench_daemon *b, const char *name, const char *bin, const char *program)
{
    memset(b, 0, sizeof *b);
    if (bench_mkdtemp(NULL, name, b->dir, sizeof b->dir) != 0) {
        fprintf(stderr, "bench_%s: mkdtemp: %s\n", name, strerror(errno));
        b->dir[0] = 0;
        return -1;
    }
    snprintf(b->state, sizeof b->state, "%s/state", b->dir);
    snprintf(b->url, sizeof b->url, "ipc://%s/rpc.sock", b->dir);
    snprintf(b->pub, sizeof b->pub, "ipc://%s/pub.sock", b->dir);
    b->pid = bench_start_tierd(bin, b->state, b->url, b->pub, program);
    if (b->pid < 0 || bench_wait_ready(b->url, BENCH_START_LIMIT_S) < 0) {
        fprintf(stderr, "bench_%s: %s did not start\n", name, bin);
        return -1;
    }
    return 0;
}

void bench_daemon_stop(bench_daemon *b)
{
    if (b->pid > 0) {
        kill(b->pid, SIGTERM);
        waitpid(b->pid, NULL, 0);
        b->pid = 0;
    }
    if (!b->dir[0])
        return;
    char cmd[BENCH_DIR_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", b->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench: could not remove %s\n", b->dir);
    b->dir[0] = 0;
}

int bench_upsert_partners(td_client *c, const char *id_fmt, unsigned long long count,
                          const char *who)
{
    static Tierd__Partner parts[BENCH_UPSERT_BATCH];
    static Tierd__Partner *pp[BENCH_UPSERT_BATCH];
    static char ids[BENCH_UPSERT_BATCH][BENCH_ID_TEXT_MAX];
    static char *types[] = {"reseller", "services"};
    for (unsigned long long base = 0; base < count; base += BENCH_UPSERT_BATCH) {
        size_t n = count - base < BENCH_UPSERT_BATCH ? (size_t)(count - base) : BENCH_UPSERT_BATCH;
        for (size_t i = 0; i < n; i++) {
            snprintf(ids[i], sizeof ids[i], id_fmt, base + i);
            tierd__partner__init(&parts[i]);
            parts[i].id = ids[i];
            parts[i].name = ids[i];
            parts[i].n_types = 2;
            parts[i].types = types;
            pp[i] = &parts[i];
        }
        Tierd__UpsertPartnersRequest req = TIERD__UPSERT_PARTNERS_REQUEST__INIT;
        req.n_partners = n;
        req.partners = pp;
        Tierd__UpsertPartnersResponse *resp = NULL;
        td_error err = {0};
        if (td_client_upsert_partners(c, &req, &resp, &err) != 0) {
            fprintf(stderr, "%s: upsert: %s\n", who, err.message);
            return -1;
        }
        tierd__upsert_partners_response__free_unpacked(resp, NULL);
    }
    return 0;
}

int bench_mkdtemp(const char *root, const char *name, char *dir, size_t n)
{
    int len = snprintf(dir, n, "%s/bench-%s-", root && *root ? root : "/tmp", name);
    if (len < 0 || (size_t)len + BENCH_MKDTEMP_TAIL >= n) {
        errno = ENAMETOOLONG;
        return -1;
    }
    /* mkdtemp's template: a run of 'X' it replaces with a unique name. */
    memset(dir + len, 'X', BENCH_MKDTEMP_TAIL);
    dir[len + BENCH_MKDTEMP_TAIL] = '\0';
    return mkdtemp(dir) ? 0 : -1;
}

/* The first item's reason, for a message. */
static const char *first_reason(const Tierd__IngestResponse *ir)
{
    for (size_t i = 0; i < ir->n_results; i++)
        if (ir->results[i]->reason && *ir->results[i]->reason)
            return ir->results[i]->reason;
    return "";
}

long bench_ingest_round_trip(const char *who, int sock, const uint8_t *req, size_t len,
                             size_t expect)
{
    if (nn_send(sock, req, len, 0) < 0)
        return -1;
    void *buf = NULL;
    int n = nn_recv(sock, &buf, NN_MSG, 0);
    if (n < 0)
        return -1;
    long accepted = -1;
    Tierd__Reply *r = tierd__reply__unpack(NULL, (size_t)n, buf);
    if (r && r->status == TIERD__STATUS__OK) {
        Tierd__IngestResponse *ir =
            tierd__ingest_response__unpack(NULL, r->payload.len, r->payload.data);
        if (ir && ir->accepted == expect)
            accepted = (long)ir->accepted;
        else if (ir)
            fprintf(stderr, "%s: %u accepted, %u duplicate, %u rejected of %zu %s\n", who,
                    ir->accepted, ir->duplicate, ir->rejected, expect, first_reason(ir));
        if (ir)
            tierd__ingest_response__free_unpacked(ir, NULL);
    } else if (r) {
        fprintf(stderr, "%s: status %d: %s\n", who, r->status, r->message);
    }
    if (r)
        tierd__reply__free_unpacked(r, NULL);
    nn_freemsg(buf);
    return accepted;
}
