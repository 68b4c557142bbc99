/* bench_rpc: how close tierd's request path comes to nanomsg itself.
 *
 * Starts the real tierd (argv[1], else TIERD_BIN, else the build's) on a
 * temporary state dir with the example program and 1,000 partners, then
 * measures round trips per second for Status and GetPartner with 1 and 8
 * client threads (each its own REQ socket), best of BENCH_ROUNDS rounds. The same
 * load runs against a null server: a raw-mode REP in a thread that echoes
 * every message back. The ratio tierd/null is the figure that matters
 * (target >= 0.9 at 8 clients). Last, batched GetTiers with 1,000 ids per
 * call, reported as partners per second. Not a test: it prints figures. */
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

#define BENCH_SECONDS     1.0
#define BENCH_ROUNDS      3 /* alternating tierd/null rounds; the best of each counts */
#define BENCH_MAX_CLIENTS 8
#define BENCH_PARTNERS    1000
#define BENCH_BATCH       1000
#define BENCH_TARGET      0.9
#define BENCH_TIMEOUT_MS  5000
#define BENCH_ID_MAX      32
#define BENCH_ID_FMT      "p-%04llu"

typedef struct load {
    const char *url;
    const uint8_t *request; /* a packed Envelope */
    size_t len;
    bool check_reply; /* decode the Reply and require OK */
    atomic_bool stop;
    atomic_ulong done;
    atomic_ulong failed;
} load;

static void *client_thread(void *arg)
{
    load *l = arg;
    int s = nn_socket(AF_SP, NN_REQ);
    int timeout = BENCH_TIMEOUT_MS;
    nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &timeout, sizeof timeout);
    if (s < 0 || nn_connect(s, l->url) < 0) {
        atomic_fetch_add(&l->failed, 1);
        return NULL;
    }
    while (!atomic_load(&l->stop)) {
        void *reply = NULL;
        if (nn_send(s, l->request, l->len, 0) < 0) {
            atomic_fetch_add(&l->failed, 1);
            break;
        }
        int n = nn_recv(s, &reply, NN_MSG, 0);
        if (n < 0) {
            atomic_fetch_add(&l->failed, 1);
            break;
        }
        bool ok = true;
        if (l->check_reply) {
            Tierd__Reply *r = tierd__reply__unpack(NULL, (size_t)n, reply);
            ok = r && r->status == TIERD__STATUS__OK;
            if (r)
                tierd__reply__free_unpacked(r, NULL);
        }
        nn_freemsg(reply);
        atomic_fetch_add(ok ? &l->done : &l->failed, 1);
    }
    nn_close(s);
    return NULL;
}

/* Round trips per second of `clients` threads sending request to url. */
static double run_load(const char *url, const uint8_t *req, size_t len, bool check, int clients,
                       unsigned long *failed)
{
    load l = {.url = url, .request = req, .len = len, .check_reply = check};
    pthread_t th[BENCH_MAX_CLIENTS];
    double t0 = bench_now_s();
    for (int i = 0; i < clients; i++)
        pthread_create(&th[i], NULL, client_thread, &l);
    struct timespec ts = {(time_t)BENCH_SECONDS, 0};
    nanosleep(&ts, NULL);
    atomic_store(&l.stop, true);
    for (int i = 0; i < clients; i++)
        pthread_join(th[i], NULL);
    double elapsed = bench_now_s() - t0;
    *failed = atomic_load(&l.failed);
    return (double)atomic_load(&l.done) / elapsed;
}

/* ---- the null server: raw REP echo ---------------------------------------- */

/* Runs in its own process, like tierd, and takes requests the way tierd
 * does: wait for readability, then drain without blocking. Only the work
 * between receive and send differs. */
static void echo_serve(const char *url)
{
    int sock = nn_socket(AF_SP_RAW, NN_REP);
    if (sock < 0 || nn_bind(sock, url) < 0)
        _exit(1);
    for (;;) {
        struct nn_pollfd pfd = {.fd = sock, .events = NN_POLLIN};
        if (nn_poll(&pfd, 1, -1) < 0 && nn_errno() != EINTR)
            _exit(1);
        for (;;) {
            void *body = NULL, *control = NULL;
            struct nn_iovec iov = {&body, NN_MSG};
            struct nn_msghdr hdr = {.msg_iov = &iov,
                                    .msg_iovlen = 1,
                                    .msg_control = &control,
                                    .msg_controllen = NN_MSG};
            if (nn_recvmsg(sock, &hdr, NN_DONTWAIT) < 0)
                break;
            if (nn_sendmsg(sock, &hdr, NN_DONTWAIT) < 0)
                nn_freemsg(body);
        }
    }
}

static pid_t start_echo(const char *url)
{
    pid_t pid = fork();
    if (pid == 0)
        echo_serve(url);
    return pid;
}

/* ---- tierd ---------------------------------------------------------------- */

/* Upserts the partners and gives their ids, for the requests that follow. */
static int load_partners(const char *url, char ids[][BENCH_ID_MAX])
{
    for (int i = 0; i < BENCH_PARTNERS; i++)
        snprintf(ids[i], BENCH_ID_MAX, BENCH_ID_FMT, (unsigned long long)i);
    td_client *c = NULL;
    td_error err = {0};
    if (td_client_open(url, NULL, BENCH_TIMEOUT_MS, &c, &err) != 0)
        return -1;
    int rc = bench_upsert_partners(c, BENCH_ID_FMT, BENCH_PARTNERS, "bench_rpc");
    td_client_close(c);
    return rc;
}

int main(int argc, char **argv)
{
    const char *bin = argc > 1 ? argv[1] : getenv("TIERD_BIN");
    if (!bin)
        bin = BENCH_TIERD_BIN;
    const char *program = argc > 2 ? argv[2] : BENCH_PROGRAM;
    static char ids[BENCH_PARTNERS][BENCH_ID_MAX];
    int status = 1;
    bench_daemon d;
    if (bench_daemon_start(&d, "rpc", bin, program) != 0)
        goto out;
    const char *url = d.url;
    char null_url[sizeof d.url];
    snprintf(null_url, sizeof null_url, "ipc://%s/null.sock", d.dir);
    if (load_partners(url, ids) != 0)
        goto out;

    pid_t echo_pid = start_echo(null_url);

    size_t status_len, partner_len, tiers_len;
    uint8_t *status_req = bench_envelope("Status", NULL, &status_len);
    Tierd__PartnerRequest preq = TIERD__PARTNER_REQUEST__INIT;
    preq.id = ids[BENCH_PARTNERS / 2];
    uint8_t *partner_req = bench_envelope("GetPartner", &preq.base, &partner_len);
    static char *batch[BENCH_BATCH];
    for (int i = 0; i < BENCH_BATCH; i++)
        batch[i] = ids[i % BENCH_PARTNERS];
    Tierd__GetTiersRequest treq = TIERD__GET_TIERS_REQUEST__INIT;
    treq.n_partners = BENCH_BATCH;
    treq.partners = batch;
    uint8_t *tiers_req = bench_envelope("GetTiers", &treq.base, &tiers_len);

    printf("bench_rpc: %d partners, best of %d rounds of %.0f s, ipc, clients = REQ threads\n",
           BENCH_PARTNERS, BENCH_ROUNDS, BENCH_SECONDS);
    printf("%-11s %7s %14s %14s %8s\n", "method", "clients", "tierd rt/s", "null rt/s", "ratio");
    const struct {
        const char *name;
        uint8_t *req;
        size_t len;
    } methods[] = {{"Status", status_req, status_len}, {"GetPartner", partner_req, partner_len}};
    const int clients[] = {1, BENCH_MAX_CLIENTS};
    double ratio8 = 1e9;
    unsigned long failures = 0;
    for (size_t m = 0; m < 2; m++)
        for (size_t c = 0; c < 2; c++) {
            /* The machine is shared: alternate the two servers and keep
             * each one's best round, so a burst of other work does not
             * decide the ratio. */
            double t = 0, n = 0;
            for (int round = 0; round < BENCH_ROUNDS; round++) {
                unsigned long f1 = 0, f2 = 0;
                double tr = run_load(url, methods[m].req, methods[m].len, true, clients[c], &f1);
                double nr =
                    run_load(null_url, methods[m].req, methods[m].len, false, clients[c], &f2);
                failures += f1 + f2;
                t = tr > t ? tr : t;
                n = nr > n ? nr : n;
            }
            double ratio = n > 0 ? t / n : 0;
            if (clients[c] == BENCH_MAX_CLIENTS && ratio < ratio8)
                ratio8 = ratio;
            printf("%-11s %7d %14.0f %14.0f %8.2f\n", methods[m].name, clients[c], t, n, ratio);
        }
    unsigned long tf = 0;
    double calls = run_load(url, tiers_req, tiers_len, true, 1, &tf);
    failures += tf;
    printf("GetTiers    %7d %14.0f calls/s = %.0f partners/s (%d ids per call)\n", 1, calls,
           calls * BENCH_BATCH, BENCH_BATCH);
    printf("target: tierd >= %.1f x null at %d clients: %s (worst ratio %.2f)\n", BENCH_TARGET,
           BENCH_MAX_CLIENTS, ratio8 >= BENCH_TARGET ? "met" : "NOT met", ratio8);
    if (failures)
        printf("failed round trips: %lu\n", failures);
    status = 0;
    kill(echo_pid, SIGTERM);
    waitpid(echo_pid, NULL, 0);
    free(status_req);
    free(partner_req);
    free(tiers_req);
out:
    bench_daemon_stop(&d);
    return status;
}
