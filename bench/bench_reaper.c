/* The benches' reaper (bench_reaper.h): one forked process per bench run,
 * fed "pid N", "-pid N", "dir PATH", "-dir PATH" and "done" lines over a
 * pipe. It keeps the current lists and acts only when the pipe closes
 * without "done". */
#include "bench_reaper.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REAPER_ITEMS    16
#define REAPER_LINE_MAX 1024
#define REAPER_GRACE_MS 5000 /* SIGTERM, then SIGKILL after this */
#define REAPER_POLL_MS  50

static int reaper_fd = -1;
static pid_t reaper_pid;

typedef struct reaper_lists {
    pid_t pids[REAPER_ITEMS];
    char dirs[REAPER_ITEMS][REAPER_LINE_MAX];
    size_t n_pids, n_dirs;
} reaper_lists;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void end_process(pid_t pid)
{
    if (kill(pid, SIGTERM) != 0)
        return;
    for (long waited = 0; waited < REAPER_GRACE_MS; waited += REAPER_POLL_MS) {
        if (kill(pid, 0) != 0)
            return;
        sleep_ms(REAPER_POLL_MS);
    }
    kill(pid, SIGKILL);
}

static void remove_dir(const char *dir)
{
    char cmd[REAPER_LINE_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench reaper: could not remove %s\n", dir);
}

/* One line from the bench; true when it said "done". */
static bool reaper_line(reaper_lists *l, const char *line)
{
    if (strcmp(line, "done") == 0)
        return true;
    if (strncmp(line, "pid ", 4) == 0 && l->n_pids < REAPER_ITEMS) {
        l->pids[l->n_pids++] = (pid_t)atol(line + 4);
    } else if (strncmp(line, "-pid ", 5) == 0) {
        pid_t pid = (pid_t)atol(line + 5);
        for (size_t i = 0; i < l->n_pids; i++)
            if (l->pids[i] == pid) {
                l->pids[i] = l->pids[--l->n_pids];
                break;
            }
    } else if (strncmp(line, "dir ", 4) == 0 && l->n_dirs < REAPER_ITEMS) {
        snprintf(l->dirs[l->n_dirs++], REAPER_LINE_MAX, "%.*s", REAPER_LINE_MAX - 1, line + 4);
    } else if (strncmp(line, "-dir ", 5) == 0) {
        for (size_t i = 0; i < l->n_dirs; i++)
            if (strcmp(l->dirs[i], line + 5) == 0) {
                memcpy(l->dirs[i], l->dirs[--l->n_dirs], REAPER_LINE_MAX);
                break;
            }
    }
    return false;
}

static void reaper_run(int fd, void (*cleanup)(void *), void *ud)
{
    static reaper_lists l;
    char buf[REAPER_LINE_MAX * 2];
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        char *nl;
        while ((nl = memchr(buf, '\n', len))) {
            *nl = '\0';
            if (reaper_line(&l, buf))
                _exit(0);
            size_t used = (size_t)(nl - buf) + 1;
            memmove(buf, nl + 1, len - used);
            len -= used;
        }
        if (len >= sizeof buf - 1)
            len = 0; /* a line longer than any we send: drop it */
    }
    fprintf(stderr, "bench reaper: cleaning up after a failed run\n");
    for (size_t i = l.n_pids; i-- > 0;)
        if (l.pids[i] > 0)
            end_process(l.pids[i]);
    if (cleanup)
        cleanup(ud);
    for (size_t i = 0; i < l.n_dirs; i++)
        remove_dir(l.dirs[i]);
    _exit(0);
}

int bench_reaper_start(void (*cleanup)(void *ud), void *ud)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(fds[0]);
        close(fds[1]);
        errno = e;
        return -1;
    }
    if (pid == 0) {
        close(fds[1]);
        signal(SIGINT, SIG_IGN);
        signal(SIGTERM, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        signal(SIGPIPE, SIG_IGN);
        reaper_run(fds[0], cleanup, ud);
    }
    close(fds[0]);
    reaper_fd = fds[1];
    reaper_pid = pid;
    /* A write to a reaper that died must not kill the bench in turn. */
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

static void note(const char *kind, const char *what)
{
    if (reaper_fd >= 0)
        dprintf(reaper_fd, "%s %s\n", kind, what);
}

static void note_pid(const char *kind, pid_t pid)
{
    char text[32];
    snprintf(text, sizeof text, "%ld", (long)pid);
    note(kind, text);
}

void bench_reaper_note_pid(pid_t pid)
{
    note_pid("pid", pid);
}

void bench_reaper_forget_pid(pid_t pid)
{
    note_pid("-pid", pid);
}

void bench_reaper_note_dir(const char *dir)
{
    note("dir", dir);
}

void bench_reaper_forget_dir(const char *dir)
{
    note("-dir", dir);
}

void bench_reaper_done(void)
{
    if (reaper_fd < 0)
        return;
    dprintf(reaper_fd, "done\n");
    close(reaper_fd);
    reaper_fd = -1;
    waitpid(reaper_pid, NULL, 0);
}
