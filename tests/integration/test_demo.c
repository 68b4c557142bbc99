/* scripts/demo.sh stops what it starts: after it ends, whether it ran to the
 * end or was stopped midway, no tierd and no `tierctl watch` of its state
 * dir is left running (a watch used to outlive it for hours).
 *
 * The demo runs on the built binaries (TIERD_BIN, TIERCTL_BIN: it then
 * installs and builds nothing) and a temporary state dir (DEMO_STATE), so
 * every process it starts names that dir on its command line. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define DEMO_CMDLINE_MAX 4096
#define DEMO_POLL_MS     10
#define DEMO_WAIT_MS     120000
#define DEMO_MAX_LEFT    16

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Pids (other than ours) whose command line mentions needle and, when
 * given, also also. */
static size_t find_processes(const char *needle, const char *also, pid_t *pids, size_t max)
{
    DIR *proc = opendir("/proc");
    ck_assert_ptr_nonnull(proc);
    size_t n = 0;
    for (struct dirent *e; (e = readdir(proc)) != NULL && n < max;) {
        char *end = NULL;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 0 || pid == getpid())
            continue;
        char path[64], cmd[DEMO_CMDLINE_MAX + 1];
        snprintf(path, sizeof path, "/proc/%ld/cmdline", pid);
        int fd = open(path, O_RDONLY);
        if (fd < 0)
            continue;
        ssize_t len = read(fd, cmd, DEMO_CMDLINE_MAX);
        close(fd);
        if (len <= 0)
            continue;
        for (ssize_t i = 0; i < len; i++)
            if (!cmd[i])
                cmd[i] = ' ';
        cmd[len] = 0;
        if (strstr(cmd, needle) && (!also || strstr(cmd, also)))
            pids[n++] = (pid_t)pid;
    }
    closedir(proc);
    return n;
}

/* Starts the demo with its output in work/demo.out. */
static pid_t start_demo(const harness *h)
{
    char script[HARNESS_PATH_MAX], out[HARNESS_PATH_MAX + 16];
    snprintf(script, sizeof script, "%s/scripts/demo.sh", getenv("TIERD_SOURCE_ROOT"));
    snprintf(out, sizeof out, "%s/demo.out", h->work);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0)
            _exit(126);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        setenv("DEMO_STATE", h->state, 1);
        execl("/bin/bash", "bash", script, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int wait_demo(pid_t pid)
{
    int ws = 0;
    for (long waited = 0; waited < DEMO_WAIT_MS; waited += DEMO_POLL_MS) {
        pid_t r = waitpid(pid, &ws, WNOHANG);
        if (r == pid)
            return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
        sleep_ms(DEMO_POLL_MS);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &ws, 0);
    ck_abort_msg("the demo did not end within %d ms", DEMO_WAIT_MS);
    return -1;
}

/* Fails naming what the demo left running, after stopping it. */
static void expect_nothing_left(const harness *h)
{
    pid_t left[DEMO_MAX_LEFT];
    size_t n = find_processes(h->state, NULL, left, DEMO_MAX_LEFT);
    for (size_t i = 0; i < n; i++)
        kill(left[i], SIGKILL);
    ck_assert_msg(n == 0, "%zu process(es) of the demo still running, the first pid %d", n,
                  n ? (int)left[0] : 0);
}

START_TEST(test_demo_run_to_the_end_leaves_no_process_behind)
{
    harness h;
    harness_init(&h);
    pid_t demo = start_demo(&h);
    int status = wait_demo(demo);
    if (status != 0) {
        char path[HARNESS_PATH_MAX + 16];
        snprintf(path, sizeof path, "%s/demo.out", h.work);
        ck_abort_msg("the demo failed with %d (output in %s)", status, path);
    }
    expect_nothing_left(&h);
    harness_cleanup(&h);
}
END_TEST

START_TEST(test_demo_stopped_while_it_watches_leaves_no_process_behind)
{
    harness h;
    harness_init(&h);
    pid_t demo = start_demo(&h);
    pid_t watch;
    size_t found = 0;
    for (long waited = 0; waited < DEMO_WAIT_MS && !found; waited += DEMO_POLL_MS) {
        found = find_processes(h.state, " watch ", &watch, 1);
        if (!found)
            sleep_ms(DEMO_POLL_MS);
    }
    ck_assert_msg(found, "the demo never started its watch");
    ck_assert_int_eq(kill(demo, SIGTERM), 0);
    ck_assert_int_ne(wait_demo(demo), 0);
    expect_nothing_left(&h);
    harness_cleanup(&h);
}
END_TEST

static Suite *demo_suite(void)
{
    Suite *s = suite_create("demo");
    TCase *tc = tcase_create("processes");
    tcase_set_timeout(tc, 2 * DEMO_WAIT_MS / 1000);
    tcase_add_test(tc, test_demo_run_to_the_end_leaves_no_process_behind);
    tcase_add_test(tc, test_demo_stopped_while_it_watches_leaves_no_process_behind);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(demo_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
