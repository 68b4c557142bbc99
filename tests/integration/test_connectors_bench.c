/* bench_connectors stops what it starts: a run that fails, or is stopped
 * with SIGTERM halfway, leaves no PostgreSQL server, daemon or temporary
 * directory behind.
 *
 * Each run gets a private $TMPDIR (pgserver and testhost honour it), so
 * "what it started" is exactly the processes whose command line names that
 * directory and whatever is left inside it, whatever other tests run
 * beside. BENCH_CONNECTORS_BIN names the benchmark (meson sets it). */
#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "testutil.h"

#define PATH_MAX_TEST      512
#define LOG_MAX            8192
#define WAIT_EXIT_MS       180000
#define WAIT_CLEAN_MS      30000
#define WAIT_SERVER_MS     60000
#define WAIT_KILLED_MS     10000
#define SMALL_TABLE_ROWS   "1000"
#define EXIT_STATUS_SIGNAL 128
#define DIR_MODE_SHARED    0755

static char root[PATH_MAX_TEST]; /* the run's $TMPDIR */
static char logs[PATH_MAX_TEST]; /* its stdout and stderr, outside root */

static void make_dir(char *out, const char *prefix)
{
    ck_assert_ptr_nonnull(tu_tmpdir(prefix, out, PATH_MAX_TEST));
    /* As root the server runs as postgres, which must reach its directory. */
    chmod(out, DIR_MODE_SHARED);
}

static void setup(void)
{
    make_dir(root, "td-benchrun");
    make_dir(logs, "td-benchlog");
}

/* A process whose command line mentions root (the postmaster's -D). */
static pid_t process_naming_root(void)
{
    pid_t pid = 0;
    return tu_find_processes(root, NULL, &pid, 1) ? pid : 0;
}

static size_t entries_in_root(void)
{
    DIR *d = opendir(root);
    size_t n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    if (d)
        closedir(d);
    return n;
}

/* What a failed run left: stops it so the next test starts clean. Called
 * before a failure too, since Check ends a failed test without teardown. */
static void clean_root(void)
{
    tu_deadline d = tu_deadline_in(WAIT_KILLED_MS);
    do {
        pid_t pid = process_naming_root();
        if (!pid)
            break;
        kill(pid, SIGKILL);
    } while (tu_poll(&d));
    tu_rm_rf(root);
}

static void teardown(void)
{
    clean_root();
    tu_rm_rf(logs);
}

static pid_t start_bench(bool with_binaries, const char *rows)
{
    const char *bench = getenv("BENCH_CONNECTORS_BIN");
    ck_assert_msg(bench != NULL, "BENCH_CONNECTORS_BIN is not set");
    char out[PATH_MAX_TEST + 16], err[PATH_MAX_TEST + 16];
    snprintf(out, sizeof out, "%s/out", logs);
    snprintf(err, sizeof err, "%s/err", logs);
    pid_t pid = tu_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        setenv("TMPDIR", root, 1);
        if (with_binaries)
            setenv("TIERD_CONNECTOR_BIN", TD_CONNECTOR_BIN, 1);
        else {
            unsetenv("TIERD_BIN");
            unsetenv("TIERD_CONNECTOR_BIN");
        }
        if (!freopen(out, "w", stdout) || !freopen(err, "w", stderr))
            _exit(126);
        if (rows)
            execl(bench, bench, "-n", rows, (char *)NULL);
        else
            execl(bench, bench, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int wait_exit(pid_t pid)
{
    int status = -1;
    if (tu_wait_exit(pid, WAIT_EXIT_MS, &status))
        return status;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    clean_root();
    ck_abort_msg("bench_connectors did not end");
    return -1;
}

/* The run's stdout or stderr so far; the last call's text stays valid
 * until the next call. */
static char *read_log(const char *name)
{
    static char *text;
    free(text);
    char path[PATH_MAX_TEST + 16];
    snprintf(path, sizeof path, "%s/%s", logs, name);
    text = tu_read_file(path, LOG_MAX);
    return text;
}

/* Polls until nothing the run started is left; aborts naming what is. */
static void assert_cleaned_up(void)
{
    pid_t left = 0;
    size_t files = 0;
    tu_deadline d = tu_deadline_in(WAIT_CLEAN_MS);
    do {
        left = process_naming_root();
        files = entries_in_root();
        if (!left && !files)
            return;
    } while (tu_poll(&d));
    clean_root();
    ck_abort_msg("left behind: process %d, %zu entries in %s; stderr:\n%s", (int)left, files, root,
                 read_log("err"));
}

START_TEST(test_bench_connectors_stops_postgres_when_it_fails)
{
    /* Without TIERD_BIN the daemon run fails after PostgreSQL is up and
     * the table is loaded. */
    pid_t pid = start_bench(false, SMALL_TABLE_ROWS);
    int status = wait_exit(pid);
    ck_assert_msg(status == 1, "exit status %d; stderr:\n%s", status, read_log("err"));
    ck_assert_msg(strstr(read_log("err"), "TIERD_BIN"), "%s", read_log("err"));
    assert_cleaned_up();
}
END_TEST

START_TEST(test_bench_connectors_stops_postgres_on_sigterm)
{
    pid_t pid = start_bench(true, NULL);
    pid_t server = 0;
    tu_deadline d = tu_deadline_in(WAIT_SERVER_MS);
    while (!(server = process_naming_root()) && tu_poll(&d))
        ;
    ck_assert_msg(server > 0, "no PostgreSQL started under %s; stderr:\n%s", root, read_log("err"));
    ck_assert_int_eq(kill(pid, SIGTERM), 0);
    ck_assert_int_eq(wait_exit(pid), EXIT_STATUS_SIGNAL + SIGTERM);
    assert_cleaned_up();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("connectors_bench");
    TCase *tc = tcase_create("cleanup");
    tcase_set_timeout(tc, 300);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_bench_connectors_stops_postgres_when_it_fails);
    tcase_add_test(tc, test_bench_connectors_stops_postgres_on_sigterm);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
