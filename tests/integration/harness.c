/* The integration-test harness (see harness.h): real processes, real
 * sockets, temporary dirs. It promises that a test never leaves a daemon
 * behind: harness_cleanup kills what harness_start started. It does not
 * check anything itself; tests assert on what it returns. */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HARNESS_POLL_MS      20
#define HARNESS_PROBE_MS     500
#define HARNESS_FILE_MAX     (4u << 20)
#define HARNESS_MKDTEMP_TAIL 6

static void harness_die(const char *what)
{
    fprintf(stderr, "harness: %s: %s\n", what, strerror(errno));
    abort();
}

static void harness_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void harness_paths(harness *h)
{
    snprintf(h->config, sizeof h->config, "%s/tierd.yaml", h->work);
    snprintf(h->log, sizeof h->log, "%s/tierd.log", h->work);
    snprintf(h->url, sizeof h->url, "ipc://%s/rpc.sock", h->state);
    snprintf(h->pub_url, sizeof h->pub_url, "ipc://%s/pub.sock", h->state);
}

void harness_init(harness *h)
{
    memset(h, 0, sizeof *h);
    const char *tmp = getenv("TMPDIR");
    snprintf(h->work, sizeof h->work, "%s/tierd-test-", tmp && *tmp ? tmp : "/tmp");
    size_t n = strlen(h->work);
    if (n + HARNESS_MKDTEMP_TAIL >= sizeof h->work)
        harness_die("TMPDIR is too long");
    /* mkdtemp's template: a run of 'X' it replaces with a unique name. */
    memset(h->work + n, 'X', HARNESS_MKDTEMP_TAIL);
    h->work[n + HARNESS_MKDTEMP_TAIL] = 0;
    if (!mkdtemp(h->work))
        harness_die("mkdtemp");
    snprintf(h->state, sizeof h->state, "%s/state", h->work);
    harness_paths(h);
}

void harness_init_shared(harness *h, const harness *other)
{
    harness_init(h);
    snprintf(h->state, sizeof h->state, "%s", other->state);
    harness_paths(h);
    /* Own endpoints, so a probe never mistakes the other daemon's answer
     * for this one's. */
    snprintf(h->url, sizeof h->url, "ipc://%s/rpc.sock", h->work);
    snprintf(h->pub_url, sizeof h->pub_url, "ipc://%s/pub.sock", h->work);
}

static char *harness_read(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = calloc(1, HARNESS_FILE_MAX + 1);
    if (!buf)
        abort();
    if (f) {
        size_t n = fread(buf, 1, HARNESS_FILE_MAX, f);
        buf[n] = 0;
        fclose(f);
    }
    return buf;
}

void harness_write_config(harness *h, const char *text)
{
    FILE *f = fopen(h->config, "w");
    if (!f)
        harness_die("writing the config");
    for (const char *p = text; *p;) {
        const char *at = strstr(p, "@STATE@");
        if (!at) {
            fputs(p, f);
            break;
        }
        fwrite(p, 1, (size_t)(at - p), f);
        fputs(h->state, f);
        p = at + strlen("@STATE@");
    }
    fclose(f);
    h->have_config = true;
}

const char *harness_url(const harness *h)
{
    return h->url;
}

char *harness_log(const harness *h)
{
    return harness_read(h->log);
}

td_client *harness_client(const harness *h, const char *token)
{
    td_client *c = NULL;
    td_error err = {0};
    if (td_client_open(h->url, token ? token : h->token, 0, &c, &err) != 0) {
        fprintf(stderr, "harness: client: %s\n", err.message);
        abort();
    }
    return c;
}

static int harness_status_of(int wstatus)
{
    if (WIFEXITED(wstatus))
        return WEXITSTATUS(wstatus);
    if (WIFSIGNALED(wstatus))
        return 128 + WTERMSIG(wstatus);
    return -1;
}

/* Whether the daemon ended; records its status when it did. */
static bool harness_reaped(harness *h)
{
    int ws = 0;
    pid_t r = waitpid(h->pid, &ws, WNOHANG);
    if (r == h->pid) {
        h->exit_status = harness_status_of(ws);
        h->pid = 0;
        return true;
    }
    return false;
}

static bool harness_answers(const harness *h)
{
    td_client *c = NULL;
    td_error err = {0};
    if (td_client_open(h->url, h->token, HARNESS_PROBE_MS, &c, &err) != 0)
        return false;
    Tierd__StatusResponse *st = NULL;
    int rc = td_client_status(c, &st, &err);
    if (st)
        tierd__status_response__free_unpacked(st, NULL);
    td_client_close(c);
    /* A refusal (wrong token) still proves the daemon is serving. */
    return rc == 0 || err.code == TD_PERMISSION_DENIED;
}

int harness_start(harness *h, ...)
{
    const char *bin = getenv("TIERD_BIN");
    if (!bin) {
        fprintf(stderr, "harness: TIERD_BIN is not set\n");
        abort();
    }
    const char *argv[HARNESS_MAX_ARGS];
    size_t n = 0;
    argv[n++] = bin;
    if (h->have_config) {
        argv[n++] = "-c";
        argv[n++] = h->config;
    }
    argv[n++] = "--state-dir";
    argv[n++] = h->state;
    argv[n++] = "--listen";
    argv[n++] = h->url;
    argv[n++] = "--publish";
    argv[n++] = h->pub_url;
    va_list ap;
    va_start(ap, h);
    for (const char *a; (a = va_arg(ap, const char *)) != NULL && n + 1 < HARNESS_MAX_ARGS;)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;

    h->exit_status = -1;
    pid_t pid = fork();
    if (pid < 0)
        harness_die("fork");
    if (pid == 0) {
        int fd = open(h->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    h->pid = pid;
    for (long waited = 0; waited < HARNESS_START_TIMEOUT_MS; waited += HARNESS_POLL_MS) {
        if (harness_reaped(h))
            return -1;
        if (harness_answers(h))
            return 0;
        harness_sleep_ms(HARNESS_POLL_MS);
    }
    kill(h->pid, SIGKILL);
    waitpid(h->pid, NULL, 0);
    h->pid = 0;
    return -1;
}

int harness_tierctl(const harness *h, const char *const *argv, char **out, char **err)
{
    const char *bin = getenv("TIERCTL_BIN");
    if (!bin) {
        fprintf(stderr, "harness: TIERCTL_BIN is not set\n");
        abort();
    }
    char out_path[HARNESS_PATH_MAX + 16], err_path[HARNESS_PATH_MAX + 16];
    snprintf(out_path, sizeof out_path, "%s/tierctl.out", h->work);
    snprintf(err_path, sizeof err_path, "%s/tierctl.err", h->work);
    const char *args[HARNESS_MAX_ARGS];
    size_t n = 0;
    args[n++] = bin;
    args[n++] = "--url";
    args[n++] = h->url;
    if (h->token) {
        args[n++] = "--token";
        args[n++] = h->token;
    }
    for (size_t i = 0; argv[i] && n + 1 < HARNESS_MAX_ARGS; i++)
        args[n++] = argv[i];
    args[n] = NULL;
    pid_t pid = fork();
    if (pid < 0)
        harness_die("fork");
    if (pid == 0) {
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o < 0 || e < 0)
            _exit(126);
        dup2(o, STDOUT_FILENO);
        dup2(e, STDERR_FILENO);
        unsetenv(TD_CLIENT_URL_ENV);
        unsetenv(TD_CLIENT_TOKEN_ENV);
        execv(bin, (char *const *)args);
        _exit(127);
    }
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
        ;
    if (out)
        *out = harness_read(out_path);
    if (err)
        *err = harness_read(err_path);
    return harness_status_of(ws);
}

int harness_stop(harness *h)
{
    if (!h->pid)
        return h->exit_status;
    kill(h->pid, SIGTERM);
    for (long waited = 0; waited < HARNESS_STOP_TIMEOUT_MS; waited += HARNESS_POLL_MS) {
        if (harness_reaped(h))
            return h->exit_status;
        harness_sleep_ms(HARNESS_POLL_MS);
    }
    kill(h->pid, SIGKILL);
    int ws = 0;
    waitpid(h->pid, &ws, 0);
    h->pid = 0;
    h->exit_status = harness_status_of(ws);
    return h->exit_status;
}

static void harness_rm(const char *dir)
{
    char cmd[HARNESS_PATH_MAX * 2];
    /* Only ever a dir harness_init made. */
    if (!strstr(dir, "/tierd-test-"))
        return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "harness: could not remove %s\n", dir);
}

void harness_cleanup(harness *h)
{
    if (h->pid)
        harness_stop(h);
    harness_rm(h->work);
}
