/* bench_hostile: what hostile requests cost the real tierd in memory.
 *
 * Starts tierd (argv[1], else TIERD_BIN, else the build's) on a temporary
 * dir with one read token and max_request_bytes at its largest (64 MiB),
 * then sends requests made of 2-byte unknown fields (the cheapest bytes to
 * send and the dearest to decode) of several sizes: once in the Envelope
 * without a token, once as the payload behind a valid token. For each it
 * reads the daemon's /proc/PID/status: VmRSS before, VmHWM (reset through
 * clear_refs just before) and VmRSS once it settles. Targets: the peak
 * rises by at most 4x the request, and RSS settles within 10% of where it
 * was. Not a test: it prints figures (test_hostile_rpc asserts them). */
#include <errno.h>
#include <fcntl.h>
#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_daemon.h"
#include "tierd.pb-c.h"
#include "tierd/client.h"
#include "../tests/wire_raw.h"

#define HOSTILE_TOKEN      "bench-hostile-token-0123456789"
#define HOSTILE_LIMIT      (64u << 20) /* the largest max_request_bytes */
#define HOSTILE_TIMEOUT_MS 30000
#define HOSTILE_READY_S    10.0
#define HOSTILE_SETTLE_MS  2000
#define HOSTILE_POLL_MS    20
#define HOSTILE_PEAK_MAX   4.0 /* x the request */
#define HOSTILE_SLACK_PCT  10
#define HOSTILE_UNKNOWN    0x28 /* field 5, varint: in no message */
#define HOSTILE_HEAD_MAX   256
#define MIB                (1024.0 * 1024.0)

static const size_t sizes[] = {1u << 20, 16u << 20, 60u << 20};

static long proc_kib(pid_t pid, const char *key)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long v = -1;
    size_t kl = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, kl) == 0 && line[kl] == ':')
            v = strtol(line + kl + 1, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

static int reset_peak(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/clear_refs", (int)pid);
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return -1;
    int rc = write(fd, "5", 1) == 1 ? 0 : -1;
    close(fd);
    return rc;
}

static void fill_unknown(uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i += 2) {
        p[i] = HOSTILE_UNKNOWN;
        p[i + 1] = 0;
    }
}

/* A Status request of about n bytes of unknown fields: in the Envelope
 * (no token) or as the payload behind the token. */
static uint8_t *hostile_request(size_t n, bool with_token, size_t *len)
{
    uint8_t *buf = malloc(n + HOSTILE_HEAD_MAX);
    if (!buf)
        return NULL;
    size_t at = put_bytes(buf, 1, "Status", 6);
    if (with_token) {
        at += put_bytes(buf + at, 3, HOSTILE_TOKEN, strlen(HOSTILE_TOKEN));
        /* payload field header, then the payload in place */
        uint8_t *payload = buf + at + HOSTILE_HEAD_MAX / 2;
        fill_unknown(payload, n);
        at += put_bytes(buf + at, 4, payload, n);
    } else {
        fill_unknown(buf + at, n);
        at += n;
    }
    *len = at;
    return buf;
}

/* The Reply's status, or -1 when none came. */
static int send_request(const char *url, const uint8_t *buf, size_t len)
{
    int s = nn_socket(AF_SP, NN_REQ);
    int tmo = HOSTILE_TIMEOUT_MS;
    nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &tmo, sizeof tmo);
    nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDTIMEO, &tmo, sizeof tmo);
    int status = -1;
    if (s >= 0 && nn_connect(s, url) >= 0 && nn_send(s, buf, len, 0) == (int)len) {
        void *msg = NULL;
        int n = nn_recv(s, &msg, NN_MSG, 0);
        if (n >= 0) {
            Tierd__Reply *r = tierd__reply__unpack(NULL, (size_t)n, msg);
            status = r ? (int)r->status : -1;
            if (r)
                tierd__reply__free_unpacked(r, NULL);
            nn_freemsg(msg);
        }
    }
    if (s >= 0)
        nn_close(s);
    return status;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Starts tierd with a config of its own (the shared helper takes none). */
static pid_t start_tierd(const char *bin, const char *dir, const char *url)
{
    char config[BENCH_DIR_MAX + 32], state[BENCH_DIR_MAX + 16], pub[BENCH_DIR_MAX + 32];
    snprintf(config, sizeof config, "%s/tierd.yaml", dir);
    snprintf(state, sizeof state, "%s/state", dir);
    snprintf(pub, sizeof pub, "ipc://%s/pub.sock", dir);
    FILE *f = fopen(config, "w");
    if (!f)
        return -1;
    fprintf(f,
            "tokens:\n  - {name: bench, token: " HOSTILE_TOKEN ", role: read}\n"
            "max_request_bytes: %u\nlog_level: error\n",
            HOSTILE_LIMIT);
    fclose(f);
    pid_t pid = fork();
    if (pid == 0) {
        execl(bin, bin, "-c", config, "--state-dir", state, "--listen", url, "--publish", pub,
              (char *)NULL);
        _exit(127);
    }
    return pid;
}

static bool ready(const char *url)
{
    for (double t0 = bench_now_s(); bench_now_s() - t0 < HOSTILE_READY_S;
         sleep_ms(HOSTILE_POLL_MS)) {
        td_client *c = NULL;
        td_error err = {0};
        if (td_client_open(url, HOSTILE_TOKEN, 0, &c, &err) != 0)
            return false;
        Tierd__StatusResponse *st = NULL;
        int rc = td_client_status(c, &st, &err);
        if (st)
            tierd__status_response__free_unpacked(st, NULL);
        td_client_close(c);
        if (rc == 0)
            return true;
    }
    return false;
}

int main(int argc, char **argv)
{
    const char *bin = argc > 1 ? argv[1] : getenv("TIERD_BIN");
    if (!bin)
        bin = BENCH_TIERD_BIN;
    char dir[BENCH_DIR_MAX];
    if (bench_mkdtemp(NULL, "hostile", dir, sizeof dir) != 0) {
        perror("mkdtemp");
        return 1;
    }
    char url[BENCH_DIR_MAX + 16];
    snprintf(url, sizeof url, "ipc://%s/rpc.sock", dir);
    pid_t pid = start_tierd(bin, dir, url);
    int failures = 0;
    if (pid < 0 || !ready(url)) {
        fprintf(stderr, "bench_hostile: tierd (%s) did not answer\n", bin);
        failures++;
        goto out;
    }
    printf("%-10s %-26s %-20s %10s %10s %8s %10s %6s\n", "request", "unknown fields", "answer",
           "RSS before", "peak rise", "x size", "RSS after", "ok");
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        for (int tok = 0; tok < 2; tok++) {
            size_t len = 0;
            uint8_t *buf = hostile_request(sizes[i], tok, &len);
            if (!buf) {
                fprintf(stderr, "bench_hostile: out of memory\n");
                failures++;
                goto out;
            }
            long base = proc_kib(pid, "VmRSS");
            if (reset_peak(pid) != 0)
                fprintf(stderr, "bench_hostile: cannot reset VmHWM (not root?)\n");
            int status = send_request(url, buf, len);
            free(buf);
            long peak = proc_kib(pid, "VmHWM");
            long after = proc_kib(pid, "VmRSS");
            long limit = base + base * HOSTILE_SLACK_PCT / 100;
            for (long waited = 0; after > limit && waited < HOSTILE_SETTLE_MS;
                 waited += HOSTILE_POLL_MS) {
                sleep_ms(HOSTILE_POLL_MS);
                after = proc_kib(pid, "VmRSS");
            }
            double rise = (double)(peak - base) * 1024.0;
            double factor = rise / (double)len;
            bool ok = status >= 0 && factor <= HOSTILE_PEAK_MAX && after <= limit;
            failures += !ok;
            char size[16];
            snprintf(size, sizeof size, "%.0f MiB", (double)len / MIB);
            printf("%-10s %-26s %-20s %7ld KiB %6.1f MiB %7.2fx %6ld KiB %6s\n", size,
                   tok ? "payload, valid token" : "Envelope, no token",
                   status < 0 ? "none" : td_code_name((td_code)status), base, rise / MIB, factor,
                   after, ok ? "yes" : "NO");
        }
    }
out:
    if (pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
    char cmd[BENCH_DIR_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_hostile: could not remove %s\n", dir);
    return failures ? 1 : 0;
}
