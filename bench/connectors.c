/* bench_connectors: rows per second from a PostgreSQL table to committed
 * events.
 *
 * Starts a throwaway PostgreSQL server, fills a table with N closed deals
 * (default 1,000,000) and times how long the postgres connector takes to
 * carry all of them:
 *   default   into a real tierd (TIERD_BIN) through a real tierd-connector
 *             process (TIERD_CONNECTOR_BIN): every row becomes an event the
 *             daemon has committed, together with its cursor;
 *   --memory  into the in-memory test host, measuring the plugin and libpq
 *             side alone (no daemon).
 * Target: >= 100,000 rows/s. Prints one line of figures; exit status 1 when
 * something failed (not when the target is missed: it is a measurement).
 *
 * It stops what it starts however it ends: a reaper process forked as soon
 * as PostgreSQL runs waits on a pipe from this one and, when the pipe closes
 * without a "done" (a failure, a signal, even SIGKILL), ends the daemon and
 * connector it was told about, stops PostgreSQL and removes the temporary
 * directories. The temporary directories honour $TMPDIR. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_reaper.h"
#include "pgserver.h"
#include "testhost.h"
#include "tierd/client.h"

#define BENCH_DEFAULT_ROWS   1000000L
#define BENCH_PARTNERS       1000
#define BENCH_BATCH          "10000"
#define BENCH_TARGET_RATE    100000.0
#define BENCH_TIMEOUT_S      600
#define BENCH_PATH_MAX       1024
#define BENCH_STARTUP_WAIT_S 20
#define BENCH_CFG_MAX        2048
#define BENCH_LINE_MAX       4096

static const char *program_yaml = "program: bench\n"
                                  "version: \"1\"\n"
                                  "metrics:\n"
                                  "  arr: { agg: sum, event: deal_closed, window: lifetime }\n"
                                  "ladders:\n"
                                  "  reseller:\n"
                                  "    partner_types: [reseller]\n"
                                  "    tiers:\n"
                                  "      - name: Registered\n"
                                  "        when: arr >= 1\n"
                                  "      - name: Gold\n"
                                  "        when: arr >= 1M\n";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Exits: the reaper (bench_reaper.h) cleans up after us. */
static void die(const char *what, const char *why)
{
    fprintf(stderr, "bench_connectors: %s: %s\n", what, why);
    exit(1);
}

static void remove_dir(const char *dir)
{
    char cmd[BENCH_PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_connectors: could not remove %s\n", dir);
}

/* What the reaper (bench_reaper.h) runs after a failed run. */
static void pg_cleanup(void *ud)
{
    pgserver_stop(ud);
}

static void plugin_config(char *out, size_t n, const pgserver *pg)
{
    snprintf(out, n,
             "{\"conninfo\":\"%s\",\"from\":\"deals\",\"cursor_column\":\"id\","
             "\"interval\":\"100ms\",\"batch\":\"" BENCH_BATCH "\",\"source\":\"crm\","
             "\"metric\":\"deal_closed\",\"columns\":{\"id\":\"id\",\"partner\":\"partner\","
             "\"value\":\"amount\",\"at\":\"closed_at\"}}",
             pg->conninfo);
}

static double run_memory(const pgserver *pg, const char *plugdir, long rows)
{
    char cfg[BENCH_CFG_MAX];
    plugin_config(cfg, sizeof cfg, pg);
    testhost *t = testhost_new("crm-deals", cfg, NULL);
    testhost_discard_events(t, true);
    td_error err;
    double t0 = now_s();
    if (testhost_start(t, plugdir, "postgres", &err))
        die("start plugin", err.message);
    if (!testhost_wait_events(t, (size_t)rows, BENCH_TIMEOUT_S * 1000))
        die("memory host", "timed out before every row arrived");
    double secs = now_s() - t0;
    testhost_free(t);
    return secs;
}

static pid_t spawn(char *const argv[], char *const extra_env[], int status_fd)
{
    pid_t pid = fork();
    if (pid < 0)
        die("fork", strerror(errno));
    if (pid == 0) {
        for (size_t i = 0; extra_env && extra_env[i]; i++)
            putenv(extra_env[i]);
        if (status_fd >= 0 && status_fd != 3) {
            dup2(status_fd, 3);
            close(status_fd);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static void setup_daemon(td_client *c, const char *state_dir)
{
    td_error err;
    Tierd__StatusResponse *st = NULL;
    for (int i = 0; i < BENCH_STARTUP_WAIT_S * 10; i++) {
        if (td_client_status(c, &st, &err) == 0)
            break;
        usleep(100000);
    }
    if (!st)
        die("tierd did not answer", err.message);
    tierd__status_response__free_unpacked(st, NULL);

    Tierd__PutProgramRequest preq = TIERD__PUT_PROGRAM_REQUEST__INIT;
    preq.yaml = (char *)program_yaml;
    preq.filename = "bench.yaml";
    Tierd__PutProgramResponse *presp = NULL;
    if (td_client_put_program(c, &preq, &presp, &err))
        die("PutProgram", err.message);
    tierd__put_program_response__free_unpacked(presp, NULL);

    Tierd__Partner parts[BENCH_PARTNERS];
    Tierd__Partner *ptrs[BENCH_PARTNERS];
    char ids[BENCH_PARTNERS][16];
    char *types[] = {"reseller"};
    for (int i = 0; i < BENCH_PARTNERS; i++) {
        tierd__partner__init(&parts[i]);
        snprintf(ids[i], sizeof ids[i], "p-%d", i);
        parts[i].id = ids[i];
        parts[i].name = ids[i];
        parts[i].types = types;
        parts[i].n_types = 1;
        ptrs[i] = &parts[i];
    }
    Tierd__UpsertPartnersRequest ureq = TIERD__UPSERT_PARTNERS_REQUEST__INIT;
    ureq.partners = ptrs;
    ureq.n_partners = BENCH_PARTNERS;
    Tierd__UpsertPartnersResponse *uresp = NULL;
    if (td_client_upsert_partners(c, &ureq, &uresp, &err))
        die("UpsertPartners", err.message);
    tierd__upsert_partners_response__free_unpacked(uresp, NULL);
    (void)state_dir;
}

/* Reads the connector's status lines until its cursor reaches last_id. */
static void wait_for_cursor(int fd, long last_id)
{
    char want[64];
    snprintf(want, sizeof want, "\t%ld\n", last_id);
    char buf[BENCH_LINE_MAX * 4];
    size_t len = 0;
    double deadline = now_s() + BENCH_TIMEOUT_S;
    while (now_s() < deadline) {
        ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
        if (n <= 0)
            die("tierd-connector", "exited before every row was committed (see its log)");
        len += (size_t)n;
        buf[len] = '\0';
        char *line;
        while ((line = memchr(buf, '\n', len))) {
            size_t l = (size_t)(line - buf) + 1;
            if (strncmp(buf, "sent\t", 5) == 0 && l >= strlen(want) &&
                memcmp(line + 1 - strlen(want), want, strlen(want)) == 0)
                return;
            if (strncmp(buf, "error\t", 6) == 0)
                fprintf(stderr, "tierd-connector: %.*s", (int)l, buf);
            memmove(buf, buf + l, len - l);
            len -= l;
        }
        if (len >= sizeof buf - 1)
            len = 0;
    }
    die("tierd-connector", "timed out");
}

static double run_daemon(const pgserver *pg, const char *tmp, const char *plugdir, long rows,
                         uint64_t *events_out)
{
    const char *tierd_bin = getenv("TIERD_BIN");
    const char *conn_bin = getenv("TIERD_CONNECTOR_BIN");
    if (!tierd_bin || !conn_bin)
        die("environment", "set TIERD_BIN and TIERD_CONNECTOR_BIN (or use --memory)");
    char state[BENCH_PATH_MAX / 2], url[BENCH_PATH_MAX], prog[BENCH_PATH_MAX];
    snprintf(state, sizeof state, "%s/state", tmp);
    snprintf(url, sizeof url, "ipc://%s/rpc.sock", state);
    snprintf(prog, sizeof prog, "%s/bench.yaml", tmp);
    mkdir(state, 0700);
    FILE *f = fopen(prog, "w");
    if (!f)
        die("write program", strerror(errno));
    fputs(program_yaml, f);
    fclose(f);

    char *targv[] = {(char *)tierd_bin, "--state-dir", state, "--listen", url,
                     "--foreground",    NULL};
    pid_t tierd = spawn(targv, NULL, -1);
    bench_reaper_note_pid(tierd);
    td_client *c;
    td_error err;
    if (td_client_open(url, NULL, 30000, &c, &err))
        die("client", err.message);
    setup_daemon(c, state);

    char cfg[BENCH_CFG_MAX], env_cfg[BENCH_CFG_MAX + 64];
    plugin_config(cfg, sizeof cfg, pg);
    snprintf(env_cfg, sizeof env_cfg, "TIERD_CONNECTOR_CONFIG=%s", cfg);
    char *env[] = {env_cfg, NULL};
    int fds[2];
    if (pipe(fds))
        die("pipe", strerror(errno));
    char *cargv[] = {(char *)conn_bin,
                     "--name",
                     "crm-deals",
                     "--plugin-dir",
                     (char *)plugdir,
                     "--plugin",
                     "postgres",
                     "--url",
                     url,
                     "--status-fd",
                     "3",
                     NULL};
    double t0 = now_s();
    pid_t conn = spawn(cargv, env, fds[1]);
    bench_reaper_note_pid(conn);
    close(fds[1]);
    wait_for_cursor(fds[0], rows);
    double secs = now_s() - t0;

    Tierd__StatusResponse *st = NULL;
    if (td_client_status(c, &st, &err) == 0) {
        *events_out = st->events;
        tierd__status_response__free_unpacked(st, NULL);
    }
    kill(conn, SIGTERM);
    waitpid(conn, NULL, 0);
    kill(tierd, SIGTERM);
    waitpid(tierd, NULL, 0);
    td_client_close(c);
    close(fds[0]);
    return secs;
}

int main(int argc, char **argv)
{
    long rows = BENCH_DEFAULT_ROWS;
    bool memory = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--memory") == 0)
            memory = true;
        else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
            rows = strtol(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: bench_connectors [--memory] [-n ROWS]\n");
            return 2;
        }
    }
    if (rows <= 0)
        die("-n", "needs a positive row count");

    pgserver pg;
    char err[512];
    /* A stop signal while the server starts waits until the reaper knows
     * about it: the server handles its own signal mask, and initdb and
     * pg_ctl, which inherit this one, end by themselves. */
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
    fprintf(stderr, "bench_connectors: PostgreSQL in %s\n", pg.dir);
    sigprocmask(SIG_SETMASK, &before, NULL);
    char sql[BENCH_LINE_MAX];
    snprintf(sql, sizeof sql,
             "CREATE TABLE deals (id bigserial PRIMARY KEY, partner text NOT NULL, "
             "amount numeric NOT NULL, closed_at timestamptz NOT NULL);"
             "INSERT INTO deals (partner, amount, closed_at) SELECT 'p-' || (g %% %d), "
             "(g %% 50000) + 0.5, timestamptz '2026-01-01' + (g %% 300) * interval '1 day' "
             "FROM generate_series(1, %ld) g; ANALYZE deals;",
             BENCH_PARTNERS, rows);
    double l0 = now_s();
    if (pgserver_exec(&pg, sql, err, sizeof err)) {
        pgserver_stop(&pg);
        die("load table", err);
    }
    double load = now_s() - l0;

    char tmp[BENCH_PATH_MAX / 4];
    if (!testhost_tmpdir("td-bench", tmp, sizeof tmp))
        die("mkdtemp", strerror(errno));
    bench_reaper_note_dir(tmp);
    char plugdir[BENCH_PATH_MAX];
    const char *sos[] = {TD_POSTGRES_SO};
    if (testhost_plugin_dir(tmp, sos, 1, plugdir, sizeof plugdir))
        die("plugin dir", "cannot copy postgres.so");

    uint64_t events = 0;
    double secs =
        memory ? run_memory(&pg, plugdir, rows) : run_daemon(&pg, tmp, plugdir, rows, &events);
    double rate = (double)rows / secs;
    printf("bench_connectors: mode=%s rows=%ld seconds=%.2f rows_per_s=%.0f target=%.0f %s",
           memory ? "memory" : "daemon", rows, secs, rate, BENCH_TARGET_RATE,
           rate >= BENCH_TARGET_RATE ? "MET" : "MISSED");
    if (!memory)
        printf(" daemon_events=%llu", (unsigned long long)events);
    printf(" (table load %.1fs)\n", load);

    pgserver_stop(&pg);
    remove_dir(tmp);
    bench_reaper_done();
    return 0;
}
