/* bench_recovery: how long tierd's store takes to come back after a restart.
 *
 * Fills a state dir (once; a filled dir is reused) with N partner blobs of
 * BLOB bytes and M event keys, closes it, then times what a restart does:
 * store_open (lock, environment, format check) and one store_each_partner
 * walk over every blob. The engine's decode of each blob is not included;
 * the daemon adds that on top. Figures are with a warm page cache unless the
 * caller drops caches between the fill and the run (run with --no-fill).
 *
 * usage: bench_recovery [--dir DIR] [--partners N] [--events M] [--no-fill]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "store.h"

#define BENCH_DEFAULT_DIR      "/tmp/tierd-bench-recovery"
#define BENCH_DEFAULT_PARTNERS 1000000ull
#define BENCH_DEFAULT_EVENTS   10000000ull
#define BENCH_BLOB_BYTES       200
#define BENCH_EVENT_BYTES      48        /* about an encoded tierd.Event */
#define BENCH_BATCH            100000ull /* records per fill transaction */
#define BENCH_ID_MAX           64

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

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
    double t0 = now_s();
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
    printf("fill: %llu partners, %llu events in %.2f s\n", partners, events, now_s() - t0);
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

int main(int argc, char **argv)
{
    const char *dir = BENCH_DEFAULT_DIR;
    unsigned long long partners = BENCH_DEFAULT_PARTNERS, events = BENCH_DEFAULT_EVENTS;
    int no_fill = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--partners") && i + 1 < argc)
            partners = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--events") && i + 1 < argc)
            events = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--no-fill"))
            no_fill = 1;
        else {
            fprintf(stderr,
                    "usage: bench_recovery [--dir DIR] [--partners N] [--events M] [--no-fill]\n");
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

    double t0 = now_s();
    if (store_open(dir, NULL, &s, &err))
        die("open", &err);
    double t1 = now_s();
    struct walk w = {0};
    if (store_each_partner(s, count_blob, &w, &err))
        die("walk", &err);
    double t2 = now_s();
    unsigned long long ev = store_event_count(s);
    store_close(s);
    printf("open: %.3f s\n", t1 - t0);
    printf("walk: %.3f s for %llu partner blobs (%.1f MB)\n", t2 - t1, w.n, (double)w.bytes / 1e6);
    printf("recovery total: %.3f s (store holds %llu event keys)\n", t2 - t0, ev);
    return 0;
}
