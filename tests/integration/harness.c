/* The integration-test harness (see harness.h): real processes, real
 * sockets, temporary dirs. It promises that a test never leaves a daemon
 * behind: harness_cleanup stops what harness_start started, and a daemon
 * whose test process died is killed by the kernel. It checks nothing but
 * harness_assert_started, harness_tierctl_expect, harness_wait_connector
 * and harness_finish; tests assert on what the rest returns. */
#include "harness.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>

#define HARNESS_PROBE_MS   500
#define HARNESS_FILE_MAX   (4u << 20)
#define HARNESS_EXEC_FAIL  127
#define HARNESS_LOG_MODE   0644
#define HARNESS_WORK_NAME  "tierd-test"
#define HARNESS_CONFIG_VAR "@STATE@"

static void harness_die(const char *what)
{
    fprintf(stderr, "harness: %s: %s\n", what, strerror(errno));
    abort();
}

static const char *harness_bin(const char *var)
{
    const char *bin = getenv(var);
    if (!bin) {
        fprintf(stderr, "harness: %s is not set\n", var);
        abort();
    }
    return bin;
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
    if (!tu_tmpdir(HARNESS_WORK_NAME, h->work, sizeof h->work))
        harness_die("making the work dir");
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

void harness_write_config(harness *h, const char *text)
{
    FILE *f = fopen(h->config, "w");
    if (!f)
        harness_die("writing the config");
    for (const char *p = text; *p;) {
        const char *at = strstr(p, HARNESS_CONFIG_VAR);
        if (!at) {
            fputs(p, f);
            break;
        }
        fwrite(p, 1, (size_t)(at - p), f);
        fputs(h->state, f);
        p = at + strlen(HARNESS_CONFIG_VAR);
    }
    fclose(f);
    h->have_config = true;
}

void harness_write_file(const harness *h, const char *name, const char *text, char *out,
                        size_t outn)
{
    snprintf(out, outn, "%s/%s", h->work, name);
    if (tu_write_file(out, text) != 0)
        harness_die(out);
}

const char *harness_url(const harness *h)
{
    return h->url;
}

char *harness_log(const harness *h)
{
    return tu_read_file(h->log, HARNESS_FILE_MAX);
}

size_t harness_log_count(const harness *h, const char *text)
{
    char *log = harness_log(h);
    size_t n = tu_count(log, text);
    free(log);
    return n;
}

bool harness_wait_log(const harness *h, const char *text, size_t times, long timeout_ms)
{
    tu_deadline d = tu_deadline_in(timeout_ms);
    bool seen;
    while (!(seen = harness_log_count(h, text) >= times) && tu_poll(&d))
        ;
    return seen;
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

int harness_raw_exchange(const harness *h, const void *buf, size_t len, void **reply,
                         int timeout_ms)
{
    *reply = NULL;
    int s = nn_socket(AF_SP, NN_REQ);
    if (s < 0)
        return -1;
    int unlimited = -1;
    nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
    nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDTIMEO, &timeout_ms, sizeof timeout_ms);
    nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVMAXSIZE, &unlimited, sizeof unlimited);
    int n = -1;
    if (nn_connect(s, h->url) >= 0 && nn_send(s, buf, len, 0) == (int)len)
        n = nn_recv(s, reply, NN_MSG, 0);
    if (n < 0)
        *reply = NULL;
    nn_close(s);
    return n;
}

Tierd__ConnectorStatus *harness_connector_status(const harness *h, const char *name,
                                                 Tierd__StatusResponse **keep)
{
    *keep = NULL;
    td_client *c = harness_client(h, NULL);
    td_error err = {0};
    int rc = td_client_status(c, keep, &err);
    td_client_close(c);
    if (rc != 0)
        return NULL;
    for (size_t i = 0; i < (*keep)->n_connectors; i++)
        if (strcmp((*keep)->connectors[i]->name, name) == 0)
            return (*keep)->connectors[i];
    return NULL;
}

Tierd__ConnectorStatus *harness_wait_connector(const harness *h, const char *name,
                                               harness_connector_pred pred,
                                               Tierd__StatusResponse **keep, long timeout_ms)
{
    tu_deadline d = tu_deadline_in(timeout_ms);
    for (;;) {
        Tierd__ConnectorStatus *cs = harness_connector_status(h, name, keep);
        if (cs && pred(cs))
            return cs;
        if (!tu_poll(&d))
            ck_abort_msg("connector %s: state %s, restarts %u, events %llu, cursor \"%s\", "
                         "error \"%s\"",
                         name, cs ? cs->state : "?", cs ? cs->restarts : 0,
                         cs ? (unsigned long long)cs->events_sent : 0ULL, cs ? cs->cursor : "",
                         cs ? cs->last_error : "");
        if (*keep)
            tierd__status_response__free_unpacked(*keep, NULL);
    }
}

bool harness_wait_connected(int sock, long timeout_ms)
{
    tu_deadline d = tu_deadline_in(timeout_ms);
    bool up;
    while (!(up = nn_get_statistic(sock, NN_STAT_CURRENT_CONNECTIONS) > 0) && tu_poll(&d))
        ;
    return up;
}

/* Whether the daemon ended; records its status when it did. */
static bool harness_reaped(harness *h)
{
    int ws = 0;
    if (waitpid(h->pid, &ws, WNOHANG) != h->pid)
        return false;
    h->exit_status = tu_exit_status(ws);
    h->pid = 0;
    return true;
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
    const char *bin = harness_bin("TIERD_BIN");
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
    pid_t pid = tu_fork();
    if (pid < 0)
        harness_die("fork");
    if (pid == 0) {
        int fd = open(h->log, O_WRONLY | O_CREAT | O_APPEND, HARNESS_LOG_MODE);
        if (fd >= 0) {
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        execv(bin, (char *const *)argv);
        _exit(HARNESS_EXEC_FAIL);
    }
    h->pid = pid;
    tu_deadline d = tu_deadline_in(HARNESS_START_TIMEOUT_MS);
    do {
        if (harness_reaped(h))
            return -1;
        if (harness_answers(h))
            return 0;
    } while (tu_poll(&d));
    harness_kill(h, SIGKILL);
    h->exit_status = -1;
    return -1;
}

void harness_assert_started(const harness *h, int rc)
{
    if (rc == 0)
        return;
    char *log = harness_log(h);
    ck_abort_msg("tierd did not start (status %d): %s", h->exit_status, log);
}

/* argv with tierctl, --url and --token in front, in args. */
static void harness_tierctl_args(const harness *h, const char *const *argv, const char **args)
{
    size_t n = 0;
    args[n++] = harness_bin("TIERCTL_BIN");
    args[n++] = "--url";
    args[n++] = h->url;
    if (h->token) {
        args[n++] = "--token";
        args[n++] = h->token;
    }
    for (size_t i = 0; argv[i] && n + 1 < HARNESS_MAX_ARGS; i++)
        args[n++] = argv[i];
    args[n] = NULL;
    /* The test's own environment must not choose the daemon or the token. */
    unsetenv(TD_CLIENT_URL_ENV);
    unsetenv(TD_CLIENT_TOKEN_ENV);
}

pid_t harness_tierctl_spawn(const harness *h, const char *name, const char *const *argv, char *out,
                            char *err)
{
    char opath[HARNESS_PATH_MAX], epath[HARNESS_PATH_MAX];
    snprintf(opath, sizeof opath, "%s/%s.out", h->work, name);
    snprintf(epath, sizeof epath, "%s/%s.err", h->work, name);
    if (out)
        snprintf(out, HARNESS_PATH_MAX, "%s", opath);
    if (err)
        snprintf(err, HARNESS_PATH_MAX, "%s", epath);
    const char *args[HARNESS_MAX_ARGS];
    harness_tierctl_args(h, argv, args);
    pid_t pid = tu_spawn(args, NULL, opath, epath);
    if (pid < 0)
        harness_die("fork");
    return pid;
}

int harness_tierctl(const harness *h, const char *const *argv, char **out, char **err)
{
    char opath[HARNESS_PATH_MAX], epath[HARNESS_PATH_MAX];
    pid_t pid = harness_tierctl_spawn(h, "tierctl", argv, opath, epath);
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
        ;
    if (out)
        *out = tu_read_file(opath, HARNESS_FILE_MAX);
    if (err)
        *err = tu_read_file(epath, HARNESS_FILE_MAX);
    return tu_exit_status(ws);
}

char *harness_tierctl_expect(const harness *h, int want, const char *const *argv)
{
    char *out = NULL, *err = NULL;
    int rc = harness_tierctl(h, argv, &out, &err);
    if (rc != want)
        ck_abort_msg("tierctl %s %s: exit %d (wanted %d): %s", argv[0],
                     argv[0] && argv[1] ? argv[1] : "", rc, want, err);
    free(err);
    return out;
}

int harness_kill(harness *h, int sig)
{
    if (!h->pid)
        return h->exit_status;
    kill(h->pid, sig);
    int status = 0;
    if (!tu_wait_exit(h->pid, HARNESS_STOP_TIMEOUT_MS, &status)) {
        kill(h->pid, SIGKILL);
        int ws = 0;
        waitpid(h->pid, &ws, 0);
        status = tu_exit_status(ws);
    }
    h->pid = 0;
    h->exit_status = status;
    return status;
}

int harness_stop(harness *h)
{
    return harness_kill(h, SIGTERM);
}

void harness_finish(harness *h)
{
    int status = harness_stop(h);
    if (status != 0) {
        char *log = harness_log(h);
        ck_abort_msg("tierd exited with %d: %s", status, log);
    }
    harness_cleanup(h);
}

void harness_cleanup(harness *h)
{
    if (h->pid)
        harness_stop(h);
    tu_rm_rf(h->work);
}
