/* The helpers every suite shares (see testutil.h). Each is written here
 * once, so a fix to how tests wait, make dirs or run children reaches every
 * suite. Nothing here asserts: the caller turns what it returns into a
 * failure with its own words. */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TU_MKDTEMP_TAIL    6 /* mkdtemp replaces exactly six trailing 'X's */
#define TU_DEFAULT_TMP     "/tmp"
#define TU_RM_FDS          16
#define TU_CMDLINE_MAX     8192
#define TU_PROC_PATH_MAX   64
#define TU_SIGNAL_BASE     128
#define TU_NS_PER_MS       1000000L
#define TU_MS_PER_S        1000
#define TU_CHILD_EXEC_FAIL 127
#define TU_CHILD_IO_FAIL   126

/* ---- time ----------------------------------------------------------------- */

int64_t tu_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * TU_MS_PER_S + ts.tv_nsec / TU_NS_PER_MS;
}

double tu_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void tu_sleep_ms(long ms)
{
    struct timespec ts = {ms / TU_MS_PER_S, (ms % TU_MS_PER_S) * TU_NS_PER_MS};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

tu_deadline tu_deadline_in(long ms)
{
    return (tu_deadline){tu_now_ms() + ms};
}

bool tu_poll(const tu_deadline *d)
{
    int64_t left = d->end_ms - tu_now_ms();
    if (left <= 0)
        return false;
    tu_sleep_ms(left < TU_POLL_MS ? (long)left : TU_POLL_MS);
    return true;
}

/* ---- files ---------------------------------------------------------------- */

static const char *tu_tmp_root(void)
{
    const char *t = getenv("TMPDIR");
    return t && *t ? t : TU_DEFAULT_TMP;
}

char *tu_tmpdir(const char *prefix, char *out, size_t outn)
{
    int len = snprintf(out, outn, "%s/%s-", tu_tmp_root(), prefix);
    if (len < 0 || (size_t)len + TU_MKDTEMP_TAIL >= outn)
        return NULL;
    memset(out + len, 'X', TU_MKDTEMP_TAIL);
    out[len + TU_MKDTEMP_TAIL] = '\0';
    return mkdtemp(out);
}

static bool tu_under(const char *dir, const char *root)
{
    size_t n = strlen(root);
    return strncmp(dir, root, n) == 0 && dir[n] == '/' && dir[n + 1] != '\0';
}

static int tu_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    int rc = flag == FTW_DP ? rmdir(path) : unlink(path);
    return rc != 0 && errno != ENOENT ? -1 : 0;
}

int tu_rm_rf(const char *dir)
{
    bool ours = (tu_under(dir, tu_tmp_root()) || tu_under(dir, TU_DEFAULT_TMP)) &&
                strchr(dir, '-') != NULL && strstr(dir, "/..") == NULL;
    if (!ours) {
        fprintf(stderr, "testutil: not removing %s: not a dir tu_tmpdir made\n", dir);
        return -1;
    }
    /* Depth first, links removed rather than followed. */
    if (nftw(dir, tu_rm_one, TU_RM_FDS, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT) {
        fprintf(stderr, "testutil: could not remove %s: %s\n", dir, strerror(errno));
        return -1;
    }
    return 0;
}

char *tu_read_file(const char *path, size_t max)
{
    char *buf = calloc(1, max + 1);
    if (!buf)
        abort();
    FILE *f = fopen(path, "rb");
    if (f) {
        size_t n = fread(buf, 1, max, f);
        buf[n] = '\0';
        fclose(f);
    }
    return buf;
}

int tu_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    bool ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

size_t tu_count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    size_t n = 0;
    if (!f)
        return 0;
    for (int ch; (ch = fgetc(f)) != EOF;)
        n += ch == '\n';
    fclose(f);
    return n;
}

size_t tu_count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* ---- processes ------------------------------------------------------------ */

/* In the child: path onto fd, or leave fd as inherited when path is NULL. */
static bool tu_redirect(const char *path, int flags, int fd)
{
    if (!path)
        return true;
    int o = open(path, flags, 0600);
    if (o < 0 || dup2(o, fd) < 0)
        return false;
    close(o);
    return true;
}

pid_t tu_fork(void)
{
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    /* A test that fails or times out ends its process without reaching its
     * cleanup; the kernel then ends what it started. */
    if (pid == 0 && (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent))
        _exit(TU_CHILD_EXEC_FAIL);
    return pid;
}

pid_t tu_spawn(const char *const *argv, const char *in, const char *out, const char *err)
{
    pid_t pid = tu_fork();
    if (pid != 0)
        return pid;
    int w = O_WRONLY | O_CREAT | O_TRUNC;
    /* One file for both: one open, or each stream would write over the other. */
    bool shared = out && err && strcmp(out, err) == 0;
    if (!tu_redirect(in, O_RDONLY, STDIN_FILENO) || !tu_redirect(out, w, STDOUT_FILENO) ||
        (shared ? dup2(STDOUT_FILENO, STDERR_FILENO) < 0 : !tu_redirect(err, w, STDERR_FILENO)))
        _exit(TU_CHILD_IO_FAIL);
    execv(argv[0], (char *const *)argv);
    _exit(TU_CHILD_EXEC_FAIL);
}

int tu_exit_status(int wstatus)
{
    if (WIFEXITED(wstatus))
        return WEXITSTATUS(wstatus);
    if (WIFSIGNALED(wstatus))
        return TU_SIGNAL_BASE + WTERMSIG(wstatus);
    return -1;
}

bool tu_wait_exit(pid_t pid, long timeout_ms, int *status)
{
    tu_deadline d = tu_deadline_in(timeout_ms);
    do {
        int ws = 0;
        pid_t r = waitpid(pid, &ws, WNOHANG);
        if (r == pid) {
            *status = tu_exit_status(ws);
            return true;
        }
        if (r < 0 && errno != EINTR)
            return false;
    } while (tu_poll(&d));
    return false;
}

/* /proc/<pid>/<what> into buf, NULs as spaces; its length, 0 when gone. */
static size_t tu_proc_text(long pid, const char *what, char *buf, size_t n)
{
    char path[TU_PROC_PATH_MAX];
    snprintf(path, sizeof path, "/proc/%ld/%s", pid, what);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return 0;
    ssize_t len = read(fd, buf, n - 1);
    close(fd);
    if (len <= 0)
        return 0;
    for (ssize_t i = 0; i < len; i++)
        if (!buf[i])
            buf[i] = ' ';
    buf[len] = '\0';
    return (size_t)len;
}

size_t tu_find_processes(const char *needle, const char *also, pid_t *pids, size_t max)
{
    DIR *proc = opendir("/proc");
    if (!proc)
        return 0;
    size_t n = 0;
    for (struct dirent *e; n < max && (e = readdir(proc)) != NULL;) {
        char *end = NULL;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 0 || pid == getpid())
            continue;
        char cmd[TU_CMDLINE_MAX];
        if (tu_proc_text(pid, "cmdline", cmd, sizeof cmd) == 0)
            continue;
        if (strstr(cmd, needle) && (!also || strstr(cmd, also)))
            pids[n++] = (pid_t)pid;
    }
    closedir(proc);
    return n;
}

pid_t tu_parent_of(pid_t pid)
{
    char stat[TU_CMDLINE_MAX];
    if (tu_proc_text(pid, "stat", stat, sizeof stat) == 0)
        return 0;
    /* "pid (comm) state ppid ...": comm may hold spaces and parentheses. */
    const char *paren = strrchr(stat, ')');
    int ppid = 0;
    if (!paren || sscanf(paren + 1, " %*c %d", &ppid) != 1)
        return 0;
    return (pid_t)ppid;
}

/* ---- running a suite ------------------------------------------------------ */

static int tu_run(Suite *s, bool in_order)
{
    SRunner *sr = srunner_create(s);
    if (in_order)
        srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

int tu_run_suite(Suite *s)
{
    return tu_run(s, false);
}

int tu_run_suite_in_order(Suite *s)
{
    return tu_run(s, true);
}
