/* bench_backup: what `tierctl backup` and `tierctl export` cost on a
 * store of N events (default 1,000,000) over 10,000 partners: the time
 * and size of the backup (copy, hash, check, fetch, write), how long a
 * restore takes, and the export rate in lines per second.
 *
 *   bench_backup [EVENTS]       (in a fresh /tmp/bench-backup-* dir)
 *
 * It drives the real tierd and tierctl binaries as an operator would. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_daemon.h"

#define BENCH_EVENTS   1000000ull
#define BENCH_PARTNERS 10000ull
#define BENCH_BATCH    1000
#define BENCH_CMD_MAX  4096

static int ingest(td_client *c, unsigned long long first, unsigned long long events)
{
    Tierd__Event *evs = calloc(BENCH_BATCH, sizeof *evs);
    Tierd__Event **ptrs = calloc(BENCH_BATCH, sizeof *ptrs);
    event_text *txt = calloc(BENCH_BATCH, sizeof *txt);
    if (!evs || !ptrs || !txt)
        return -1;
    for (unsigned long long from = first; from < first + events; from += BENCH_BATCH) {
        size_t n = 0;
        for (; n < BENCH_BATCH && from + n < first + events; n++) {
            unsigned long long k = from + n;
            tierd__event__init(&evs[n]);
            snprintf(txt[n].id, sizeof txt[n].id, "ev-%010llu", k);
            snprintf(txt[n].partner, sizeof txt[n].partner, "p-%08llu", k % BENCH_PARTNERS);
            snprintf(txt[n].at, sizeof txt[n].at, "2026-%02llu-%02lluT10:00:00Z", k % 10 + 1,
                     k % 28 + 1);
            evs[n].id = txt[n].id;
            evs[n].source = "bench";
            evs[n].partner = txt[n].partner;
            evs[n].metric = "deal_closed";
            evs[n].value = (double)(k % 5000);
            evs[n].has_value = true;
            evs[n].at = txt[n].at;
            ptrs[n] = &evs[n];
        }
        Tierd__IngestRequest req = TIERD__INGEST_REQUEST__INIT;
        req.events = ptrs;
        req.n_events = n;
        Tierd__IngestResponse *r = NULL;
        td_error err;
        if (td_client_ingest(c, &req, &r, &err) != 0) {
            fprintf(stderr, "bench_backup: ingest: %s\n", err.message);
            return -1;
        }
        tierd__ingest_response__free_unpacked(r, NULL);
    }
    free(evs);
    free(ptrs);
    free(txt);
    return 0;
}

static double run(const char *cmd)
{
    double t0 = bench_now_s();
    int rc = system(cmd);
    if (rc != 0) {
        fprintf(stderr, "bench_backup: failed (%d): %s\n", rc, cmd);
        return -1;
    }
    return bench_now_s() - t0;
}

int main(int argc, char **argv)
{
    unsigned long long events = argc > 1 ? strtoull(argv[1], NULL, 10) : BENCH_EVENTS;
    bench_daemon b;
    if (bench_daemon_start(&b, "backup", BENCH_TIERD_BIN, BENCH_PROGRAM) != 0) {
        bench_daemon_stop(&b);
        return 1;
    }
    td_client *c = NULL;
    td_error err;
    if (td_client_open(b.url, NULL, 60000, &c, &err) != 0 ||
        bench_upsert_partners(c, "p-%08llu", BENCH_PARTNERS, "bench_backup") != 0) {
        bench_daemon_stop(&b);
        return 1;
    }
    double t0 = bench_now_s();
    if (ingest(c, 0, events) != 0) {
        bench_daemon_stop(&b);
        return 1;
    }
    printf("ingested %llu events over %llu partners in %.1f s\n", events, BENCH_PARTNERS,
           bench_now_s() - t0);

    char file[BENCH_DIR_MAX + 32], out[BENCH_DIR_MAX + 32], restored[BENCH_DIR_MAX + 32];
    char cmd[BENCH_CMD_MAX];
    snprintf(file, sizeof file, "%s/backup.mdb", b.dir);
    snprintf(out, sizeof out, "%s/events.ndjson", b.dir);
    snprintf(restored, sizeof restored, "%s/restored", b.dir);
    struct stat live;
    char data[BENCH_DIR_MAX + 32];
    snprintf(data, sizeof data, "%s/tierd.mdb", b.state);
    stat(data, &live);

    snprintf(cmd, sizeof cmd, "%s --url %s --timeout 60000 backup %s", BENCH_TIERCTL_BIN, b.url,
             file);
    double t_backup = run(cmd);
    struct stat st;
    stat(file, &st);
    printf("backup: %.2f s, %.1f MB (live store file %.1f MB)\n", t_backup, st.st_size / 1e6,
           live.st_size / 1e6);

    /* Ingest with and without a backup being made beside it. */
    unsigned long long extra = events / 10;
    t0 = bench_now_s();
    if (ingest(c, events, extra) != 0)
        return 1;
    double alone = bench_now_s() - t0;
    char file2[BENCH_DIR_MAX + 32];
    snprintf(file2, sizeof file2, "%s/backup2.mdb", b.dir);
    snprintf(cmd, sizeof cmd, "%s --url %s --timeout 60000 backup %s > /dev/null",
             BENCH_TIERCTL_BIN, b.url, file2);
    FILE *bg = popen(cmd, "r");
    t0 = bench_now_s();
    if (!bg || ingest(c, events + extra, extra) != 0)
        return 1;
    double beside = bench_now_s() - t0;
    pclose(bg);
    printf("ingest of %llu more events: %.0f events/s alone, %.0f events/s while a backup is "
           "made\n",
           extra, extra / alone, extra / beside);
    td_client_close(c);

    snprintf(cmd, sizeof cmd, "%s --restore %s --state-dir %s", BENCH_TIERD_BIN, file, restored);
    printf("restore: %.2f s\n", run(cmd));

    snprintf(cmd, sizeof cmd, "%s --url %s --timeout 60000 export events > %s", BENCH_TIERCTL_BIN,
             b.url, out);
    double t_export = run(cmd);
    double lines = (double)(events + 2 * extra);
    printf("export events: %.2f s, %.0f lines/s\n", t_export, lines / t_export);
    snprintf(cmd, sizeof cmd, "%s --url %s --timeout 60000 export changes > /dev/null",
             BENCH_TIERCTL_BIN, b.url);
    printf("export changes: %.2f s\n", run(cmd));
    bench_daemon_stop(&b);
    return 0;
}
