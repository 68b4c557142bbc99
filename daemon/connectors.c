/* The connector supervisor (see connectors.h for the promises).
 *
 * One `conn` per configured connector, each a small state machine:
 *
 *   running ──exit/crash/hang──> restarting ──back-off timer──> running
 *      │
 *      └──exit status HOST_EXIT_FATAL──> failed (until reload)
 *   any ──connectors_stop──> stopped
 *
 * Children report on a socket at fd 3 (lines "ready", "hb", "sent",
 * "error": common/host_protocol.h names them, connector/main.c says when it
 * writes each). It is a SOCK_SEQPACKET socket with SO_PASSCRED, so every
 * message carries the pid of the process that sent it, as the kernel saw it: only the child's own
 * lines count, so a process its plugin forked cannot keep a hung child alive with heartbeats. Any
 * of the child's lines is a sign of life; the watchdog kills a child silent for longer than its
 * hang timeout. The numbers in "sent" lines are never used: the plugin shares the child's process
 * and could write any line, so Status reads the committed cursor and event count from the store. A
 * flood of data needs no throttling here: children send over the RPC and wait for each reply, so
 * they can never run ahead of the store.
 *
 * Each child is spawned detached (setsid), so it leads a process group;
 * stops, restarts and the watchdog signal the group. When the child exits,
 * its status socket is drained and closed at once and what is left of its
 * group is killed, so nothing a plugin started can hold a stop or a restart
 * up.
 *
 * Restarts use the real clock, not the daemon's (possibly fake) one: they
 * are about processes, not about tiers. This file does not load plugins and
 * never reads their data; the child does. */
#include "connectors.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "handlers.h"
#include "host_protocol.h"
#include "store.h"
#include "td_alloc.h"
#include "td_number.h"
#include "tierd/client.h"
#include "tierd/plugin.h"

#define WATCHDOG_DIVISOR      4 /* check this many times per hang timeout */
#define CONNECTOR_ARGS_MAX    16
#define CONNECTOR_PATH_MAX    4096
#define CONNECTOR_ENV_EXTRA   2  /* the config block and the token */
#define CONNECTOR_NUMBER_MAX  32 /* a number flag's text */
#define CONNECTOR_STR_(x)     #x
#define CONNECTOR_STR(x)      CONNECTOR_STR_(x)
#define STATUS_READS_PER_WAKE 64   /* messages taken per readable event, for fairness */
#define STATUS_DRAIN_MAX      4096 /* messages read from a child that has exited */
#define STATUS_FDS_MAX        16   /* descriptors a forged message may carry */

/* ---- supervision -------------------------------------------------------------- */

typedef enum conn_state {
    CONN_RUNNING,
    CONN_RESTARTING,
    CONN_FAILED,
    CONN_STOPPED,
} conn_state;

static const char *const conn_state_names[] = {
    [CONN_RUNNING] = "running",
    [CONN_RESTARTING] = "restarting",
    [CONN_FAILED] = "failed",
    [CONN_STOPPED] = "stopped",
};
const char *const connector_state_names[] = {"running", "restarting", "failed", "stopped", NULL};

typedef struct conn {
    connectors *owner;
    td_connector_conf conf;
    conn_state state;
    uv_process_t proc;
    uv_poll_t status; /* on status_fd, our end of the child's status socket */
    int status_fd;
    uv_timer_t restart_timer;
    uv_timer_t watchdog;
    int host_pid;        /* the child's pid, which is also its process group */
    bool proc_alive;     /* the child has not exited yet */
    bool proc_open;      /* proc handle not yet closed */
    bool status_open;    /* status poll handle not yet closed */
    bool got_error;      /* the child said why, in this run */
    bool warned_foreign; /* logged lines from another process, this run */
    int64_t started_ms;
    int64_t last_seen_ms;
    int64_t backoff_ms;
    int64_t next_start; /* wall seconds; 0 when none */
    uint32_t restarts;
    uint64_t events_at_start;                 /* committed count when tierd started */
    uint64_t events;                          /* committed count, as last read from the store */
    char cursor[TIERD_PLUGIN_CURSOR_MAX + 1]; /* committed, as last read */
    char last_error[TD_ERROR_MAX];
} conn;

struct connectors {
    tierd *d;
    uv_loop_t *loop;
    char *plugin_dir;
    char *rpc_url;
    char *token;
    char exe[CONNECTOR_PATH_MAX];
    int64_t backoff_min_ms, backoff_max_ms, stable_ms;
    conn *conns;
    size_t n;
    bool stopping;
    uv_timer_t kill_timer;
    size_t open_handles; /* every handle, including kill_timer */
};

static int64_t mono_ms(uv_loop_t *loop)
{
    uv_update_time(loop);
    return (int64_t)uv_now(loop);
}

static void maybe_free(connectors *c)
{
    if (!c->stopping || c->open_handles)
        return;
    for (size_t i = 0; i < c->n; i++) {
        free(c->conns[i].conf.name);
        free(c->conns[i].conf.plugin);
        free(c->conns[i].conf.config_json);
    }
    free(c->conns);
    free(c->plugin_dir);
    free(c->rpc_url);
    free(c->token);
    free(c);
}

static void on_handle_closed(uv_handle_t *h)
{
    connectors *c = h->data;
    c->open_handles--;
    maybe_free(c);
}

/* Handles carry the connectors as data so close callbacks find it; the
 * conn is found through container_of-style arithmetic where needed. */
#define CONN_OF(ptr, member) ((conn *)((char *)(ptr)-offsetof(conn, member)))

static void close_handle(connectors *c, uv_handle_t *h)
{
    h->data = c;
    uv_close(h, on_handle_closed);
}

static bool resolve_exe(connectors *c, const char *configured, td_error *err)
{
    const char *env = getenv(CONNECTOR_EXE_ENV);
    const char *pick = configured ? configured : env;
    if (pick) {
        snprintf(c->exe, sizeof c->exe, "%s", pick);
        if (access(c->exe, X_OK) == 0)
            return true;
        td_error_set(err, TD_FAILED_PRECONDITION, "connector host %s: %s", c->exe, strerror(errno));
        return false;
    }
    /* Next to the tierd binary (installed: libexec beside bin; build tree:
     * ../connector), then the usual libexec places. */
    char self[CONNECTOR_PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    static const char *const rel[] = {"", "../libexec/", "../connector/", "../lib/tierd/"};
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash)
            *slash = '\0';
        for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
            snprintf(c->exe, sizeof c->exe, "%.2048s/%s" CONNECTOR_EXE_NAME, self, rel[i]);
            if (access(c->exe, X_OK) == 0)
                return true;
        }
    }
    static const char *const fixed[] = {TD_LIBEXECDIR "/" CONNECTOR_EXE_NAME,
                                        "/usr/libexec/" CONNECTOR_EXE_NAME,
                                        "/usr/local/libexec/" CONNECTOR_EXE_NAME};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        snprintf(c->exe, sizeof c->exe, "%s", fixed[i]);
        if (access(c->exe, X_OK) == 0)
            return true;
    }
    td_error_set(err, TD_FAILED_PRECONDITION, "cannot find %s next to tierd or in libexec; set $%s",
                 CONNECTOR_EXE_NAME, CONNECTOR_EXE_ENV);
    return false;
}

static void spawn(conn *k);
static void close_kill_timer_when_done(connectors *c);

static void on_restart_timer(uv_timer_t *t)
{
    conn *k = CONN_OF(t, restart_timer);
    if (k->owner->stopping)
        return;
    spawn(k);
}

/* The child and everything in its process group. The group outlives the
 * child while any member is left, and its number cannot be reused until
 * the last one is gone, so this never reaches an unrelated process. */
static void kill_group(conn *k, int sig)
{
    if (k->host_pid > 0 && kill(-k->host_pid, sig) != 0 && errno != ESRCH)
        fprintf(stderr, "<4>tierd: connector %s: signalling process group %d: %s\n", k->conf.name,
                k->host_pid, strerror(errno));
}

static void schedule_restart(conn *k)
{
    connectors *c = k->owner;
    int64_t ran = mono_ms(c->loop) - k->started_ms;
    if (ran >= c->stable_ms)
        k->backoff_ms = c->backoff_min_ms;
    int64_t delay = k->backoff_ms;
    k->backoff_ms = k->backoff_ms * 2 > c->backoff_max_ms ? c->backoff_max_ms : k->backoff_ms * 2;
    k->state = CONN_RESTARTING;
    k->restarts++;
    k->next_start = (int64_t)time(NULL) + (delay + 999) / 1000;
    uv_timer_start(&k->restart_timer, on_restart_timer, (uint64_t)delay, 0);
    fprintf(stderr, "<4>tierd: connector %s: %s; restarting in %lld ms\n", k->conf.name,
            k->last_error, (long long)delay);
}

/* One status line from the child itself. Every line is a sign of life;
 * only "ready" and "error" carry something used, since any other content
 * could be the plugin's. */
static void status_line(conn *k, char *line)
{
    k->last_seen_ms = mono_ms(k->owner->loop);
    char *tab = strchr(line, HOST_LINE_SEP[0]);
    char *arg = tab ? tab + 1 : "";
    if (tab)
        *tab = '\0';
    if (strcmp(line, HOST_LINE_READY) == 0) {
        k->state = CONN_RUNNING;
    } else if (strcmp(line, HOST_LINE_ERROR) == 0) {
        snprintf(k->last_error, sizeof k->last_error, "%s", arg);
        k->got_error = true;
    }
}

static void close_status(conn *k)
{
    if (!k->status_open)
        return;
    k->status_open = false;
    /* uv_close stops polling at once, so the descriptor may go now. */
    close_handle(k->owner, (uv_handle_t *)&k->status);
    close(k->status_fd);
    k->status_fd = -1;
}

/* Closes any descriptors a message smuggled in (SCM_RIGHTS) and returns the
 * sender's pid, or -1 when the kernel attached none. */
static int message_sender(struct msghdr *mh)
{
    int pid = -1;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET)
            continue;
        if (cm->cmsg_type == SCM_CREDENTIALS && cm->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
            struct ucred cred;
            memcpy(&cred, CMSG_DATA(cm), sizeof cred);
            pid = cred.pid;
        } else if (cm->cmsg_type == SCM_RIGHTS) {
            size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < n; i++) {
                int fd;
                memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof fd);
                close(fd);
            }
        }
    }
    return pid;
}

/* Reads up to max messages; closes the socket at EOF or on an error.
 * Returns false once the socket is closed or would block. */
static bool read_status(conn *k, size_t max)
{
    for (size_t taken = 0; taken < max && k->status_open; taken++) {
        char buf[HOST_LINE_MAX];
        union {
            struct cmsghdr align;
            char bytes[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(STATUS_FDS_MAX * sizeof(int))];
        } ctl;
        struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf - 1};
        struct msghdr mh = {.msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = ctl.bytes,
                            .msg_controllen = sizeof ctl.bytes};
        ssize_t n = recvmsg(k->status_fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return false;
        int sender = n < 0 ? -1 : message_sender(&mh);
        /* recvmsg returns 0 for an empty message too, but only a message
         * carries its sender's credentials: without them it is the end. */
        if (n < 0 || (n == 0 && sender < 0)) {
            close_status(k);
            return false;
        }
        if (sender != k->host_pid) {
            if (!k->warned_foreign)
                fprintf(stderr,
                        "<4>tierd: connector %s: ignoring status lines from pid %d, which is "
                        "not its tierd-connector process (%d); did the plugin fork?\n",
                        k->conf.name, sender, k->host_pid);
            k->warned_foreign = true;
            continue;
        }
        /* One write is one message; a cut one is still a sign of life. */
        if (mh.msg_flags & MSG_TRUNC) {
            k->last_seen_ms = mono_ms(k->owner->loop);
            continue;
        }
        buf[n] = '\0';
        for (char *line = buf, *nl; *line; line = nl + 1) {
            nl = strchr(line, '\n');
            if (!nl) {
                status_line(k, line);
                break;
            }
            *nl = '\0';
            status_line(k, line);
        }
    }
    return k->status_open;
}

static void on_status_readable(uv_poll_t *p, int status, int events)
{
    (void)events;
    conn *k = CONN_OF(p, status);
    if (status < 0) {
        close_status(k);
        return;
    }
    read_status(k, STATUS_READS_PER_WAKE);
}

static void on_child_exit(uv_process_t *p, int64_t status, int term_signal)
{
    conn *k = CONN_OF(p, proc);
    connectors *c = k->owner;
    k->proc_alive = false;
    uv_timer_stop(&k->watchdog);
    /* What the child wrote before it went (its "error" line) is queued in
     * the socket; take it, then close: a process the plugin forked may hold
     * the other end open for ever. Whatever is left of the group goes too. */
    read_status(k, STATUS_DRAIN_MAX);
    close_status(k);
    kill_group(k, SIGKILL);
    k->host_pid = 0;
    if (k->proc_open) {
        k->proc_open = false;
        close_handle(c, (uv_handle_t *)&k->proc);
    }
    if (c->stopping) {
        k->state = CONN_STOPPED;
        close_kill_timer_when_done(c);
        return;
    }
    if (term_signal && !k->got_error)
        snprintf(k->last_error, sizeof k->last_error, "killed by signal %d (%s)", term_signal,
                 strsignal(term_signal));
    else if (!k->got_error)
        snprintf(k->last_error, sizeof k->last_error, "exited with status %lld", (long long)status);
    if (!term_signal && status == HOST_EXIT_FATAL) {
        k->state = CONN_FAILED;
        k->next_start = 0;
        fprintf(stderr, "<3>tierd: connector %s failed and will not be restarted: %s\n",
                k->conf.name, k->last_error);
        return;
    }
    schedule_restart(k);
}

/* The last child gone during a stop: the SIGKILL timer has no more work. */
static void close_kill_timer_when_done(connectors *c)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->conns[i].proc_alive)
            return;
    if (!uv_is_closing((uv_handle_t *)&c->kill_timer))
        close_handle(c, (uv_handle_t *)&c->kill_timer);
}

static void on_watchdog(uv_timer_t *t)
{
    conn *k = CONN_OF(t, watchdog);
    if (!k->proc_alive)
        return;
    int64_t silent = mono_ms(k->owner->loop) - k->last_seen_ms;
    if (silent < k->conf.hang_timeout_ms)
        return;
    snprintf(k->last_error, sizeof k->last_error, "no heartbeat for %lld ms; killed as hung",
             (long long)silent);
    k->got_error = true;
    kill_group(k, SIGKILL);
}

extern char **environ;

/* The status socket pair: sv[0] ours (it names each message's sender),
 * sv[1] the child's. false, with the reason in last_error, when it cannot
 * be made. */
static bool open_status_socket(conn *k, int sv[2])
{
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) != 0) {
        snprintf(k->last_error, sizeof k->last_error, "cannot create a status socket: %s",
                 strerror(errno));
        return false;
    }
    int on = 1;
    if (setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0) {
        snprintf(k->last_error, sizeof k->last_error, "cannot ask for status senders: %s",
                 strerror(errno));
        close(sv[0]);
        close(sv[1]);
        return false;
    }
    return true;
}

/* The child's argv (host_protocol.h); timeout (CONNECTOR_NUMBER_MAX bytes)
 * holds the text of its RPC timeout. */
static void child_args(const connectors *c, const conn *k, char *timeout, char **args)
{
    size_t a = 0;
    args[a++] = (char *)c->exe;
    args[a++] = "--" HOST_OPT_NAME;
    args[a++] = k->conf.name;
    args[a++] = "--" HOST_OPT_PLUGIN_DIR;
    args[a++] = c->plugin_dir;
    args[a++] = "--" HOST_OPT_PLUGIN;
    args[a++] = k->conf.plugin;
    args[a++] = "--" HOST_OPT_STATUS_FD;
    args[a++] = CONNECTOR_STR(HOST_STATUS_FD);
    if (k->conf.sink) {
        args[a++] = "--" HOST_OPT_DIRECTION;
        args[a++] = HOST_DIRECTION_SINK;
    }
    if (c->rpc_url) {
        args[a++] = "--" HOST_OPT_URL;
        args[a++] = c->rpc_url;
    }
    /* An RPC that outlives half the hang timeout ends in the child's own
     * clear error rather than in a SIGKILL from the watchdog. */
    int64_t rpc_ms = k->conf.hang_timeout_ms / 2;
    snprintf(timeout, CONNECTOR_NUMBER_MAX, "%lld",
             (long long)(rpc_ms < HOST_TIMEOUT_MS_DEFAULT ? rpc_ms : HOST_TIMEOUT_MS_DEFAULT));
    args[a++] = "--" HOST_OPT_TIMEOUT_MS;
    args[a++] = timeout;
    args[a] = NULL;
}

/* The child's environment: ours, minus what we set, plus the config and
 * token (kept out of argv, which every local user can read). vars borrows
 * from environ; config and token are ours to free. */
typedef struct child_env {
    char **vars;
    char *config, *token;
} child_env;

static void child_env_make(const connectors *c, const conn *k, child_env *out)
{
    size_t n_env = 0;
    while (environ[n_env])
        n_env++;
    *out = (child_env){.vars = calloc(n_env + CONNECTOR_ENV_EXTRA + 1, sizeof *out->vars)};
    if (!out->vars)
        abort();
    size_t e = 0;
    for (size_t i = 0; i < n_env; i++)
        if (strncmp(environ[i], HOST_CONFIG_ENV "=", strlen(HOST_CONFIG_ENV) + 1) != 0 &&
            strncmp(environ[i], TD_CLIENT_TOKEN_ENV "=", strlen(TD_CLIENT_TOKEN_ENV) + 1) != 0)
            out->vars[e++] = environ[i];
    if (asprintf(&out->config, HOST_CONFIG_ENV "=%s", k->conf.config_json) < 0)
        abort();
    out->vars[e++] = out->config;
    if (c->token) {
        if (asprintf(&out->token, TD_CLIENT_TOKEN_ENV "=%s", c->token) < 0)
            abort();
        out->vars[e++] = out->token;
    }
    out->vars[e] = NULL;
}

static void child_env_free(child_env *env)
{
    free(env->config);
    free(env->token);
    free(env->vars);
}

/* Starts the child on status_fd as its HOST_STATUS_FD. 0 or a libuv error;
 * either way k->proc is open and must be closed. */
static int start_child(conn *k, int status_fd)
{
    connectors *c = k->owner;
    char timeout[CONNECTOR_NUMBER_MAX];
    char *args[CONNECTOR_ARGS_MAX];
    child_args(c, k, timeout, args);
    child_env env;
    child_env_make(c, k, &env);

    uv_stdio_container_t stdio[HOST_STATUS_FD + 1];
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_INHERIT_FD;
    stdio[1].data.fd = STDERR_FILENO;
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = STDERR_FILENO;
    stdio[HOST_STATUS_FD].flags = UV_INHERIT_FD;
    stdio[HOST_STATUS_FD].data.fd = status_fd;

    uv_process_options_t opt = {0};
    opt.file = c->exe;
    opt.args = args;
    opt.env = env.vars;
    opt.exit_cb = on_child_exit;
    opt.stdio = stdio;
    opt.stdio_count = HOST_STATUS_FD + 1;
    /* setsid in the child: it leads a process group we can signal whole. */
    opt.flags = UV_PROCESS_DETACHED;

    k->started_ms = k->last_seen_ms = mono_ms(c->loop);
    int rc = uv_spawn(c->loop, &k->proc, &opt);
    child_env_free(&env);
    /* uv_spawn initialises the handle even when it fails. */
    k->proc_open = true;
    c->open_handles++;
    return rc;
}

/* Polls our end of the status socket and arms the watchdog. */
static void watch_child(conn *k, int status_fd)
{
    connectors *c = k->owner;
    int rc = uv_poll_init(c->loop, &k->status, status_fd);
    if (rc != 0) {
        /* Silent for good: end it now rather than at its hang timeout; the
         * exit callback schedules the restart. */
        close(status_fd);
        snprintf(k->last_error, sizeof k->last_error, "cannot watch its status socket: %s",
                 uv_strerror(rc));
        k->got_error = true;
        kill_group(k, SIGKILL);
    } else {
        k->status_fd = status_fd;
        k->status_open = true;
        c->open_handles++;
        uv_poll_start(&k->status, UV_READABLE, on_status_readable);
    }
    uint64_t every = (uint64_t)(k->conf.hang_timeout_ms / WATCHDOG_DIVISOR);
    uv_timer_start(&k->watchdog, on_watchdog, every ? every : 1, every ? every : 1);
}

static void spawn(conn *k)
{
    connectors *c = k->owner;
    k->got_error = false;
    k->warned_foreign = false;
    int sv[2];
    if (!open_status_socket(k, sv)) {
        schedule_restart(k);
        return;
    }
    int rc = start_child(k, sv[1]);
    close(sv[1]);
    if (rc != 0) {
        close(sv[0]);
        snprintf(k->last_error, sizeof k->last_error, "cannot start %.400s: %s", c->exe,
                 uv_strerror(rc));
        k->proc_open = false;
        close_handle(c, (uv_handle_t *)&k->proc);
        schedule_restart(k);
        return;
    }
    k->host_pid = k->proc.pid;
    k->proc_alive = true;
    k->state = CONN_RUNNING;
    k->next_start = 0;
    watch_child(k, sv[0]);
}

/* The token children get: one with role write, never admin, because a
 * plugin runs with whatever its host holds. Sets *refusal when tokens are
 * configured but none may be handed out. */
static const char *pick_token(const tierd *d, const td_connectors_conf *conf, bool *refusal)
{
    *refusal = false;
    if (!d->config || d->config->n_tokens == 0) {
        if (conf->n)
            fprintf(stderr, "<4>tierd: connectors: no tokens are configured, so every client of "
                            "the ipc socket, connectors included, acts as admin; add a token "
                            "with role write to confine them\n");
        return conf->token;
    }
    for (size_t i = 0; i < d->config->n_tokens; i++)
        if (d->config->tokens[i].role == TD_ROLE_WRITE)
            return d->config->tokens[i].secret;
    *refusal = true;
    return NULL;
}

/* Reads the committed cursor and event count; inside a turn's write
 * transaction the store would show uncommitted ones, so keep the last. */
static void refresh_committed(conn *k, store *s)
{
    if (!s || store_in_txn(s))
        return;
    td_error ignored;
    char *cur = NULL;
    if (store_get_cursor(s, k->conf.name, &cur, &ignored) == 0)
        snprintf(k->cursor, sizeof k->cursor, "%s", cur ? cur : "");
    free(cur);
    uint64_t n = 0;
    if (cursor_committed_events(s, k->conf.name, &n, &ignored) == 0)
        k->events = n;
}

int connectors_start(tierd *d, const td_connectors_conf *conf, connectors **out, td_error *err)
{
    *out = NULL;
    connectors *c = calloc(1, sizeof *c);
    if (!c)
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "connectors: out of memory");
    c->d = d;
    c->loop = d->loop;
    c->backoff_min_ms = conf->backoff_min_ms > 0 ? conf->backoff_min_ms : CONNECTOR_BACKOFF_MIN_MS;
    c->backoff_max_ms = conf->backoff_max_ms > 0 ? conf->backoff_max_ms : CONNECTOR_BACKOFF_MAX_MS;
    c->stable_ms = conf->stable_ms > 0 ? conf->stable_ms : CONNECTOR_STABLE_MS;
    uv_timer_init(c->loop, &c->kill_timer);
    c->open_handles = 1;
    if (conf->n && !resolve_exe(c, conf->connector_exe, err)) {
        c->stopping = true;
        close_handle(c, (uv_handle_t *)&c->kill_timer);
        return -(int)err->code;
    }
    c->plugin_dir = conf->plugin_dir ? td_xstrdup(conf->plugin_dir) : NULL;
    c->rpc_url = conf->rpc_url ? td_xstrdup(conf->rpc_url) : NULL;
    bool refusal = false;
    const char *token = pick_token(d, conf, &refusal);
    c->token = token ? td_xstrdup(token) : NULL;
    c->conns = calloc(conf->n ? conf->n : 1, sizeof *c->conns);
    if (!c->conns)
        abort();
    c->n = conf->n;
    for (size_t i = 0; i < conf->n; i++) {
        conn *k = &c->conns[i];
        k->owner = c;
        k->conf.name = td_xstrdup(conf->items[i].name);
        k->conf.plugin = td_xstrdup(conf->items[i].plugin);
        k->conf.config_json =
            td_xstrdup(conf->items[i].config_json ? conf->items[i].config_json : "{}");
        k->conf.sink = conf->items[i].sink;
        k->conf.hang_timeout_ms = conf->items[i].hang_timeout_ms > 0
                                      ? conf->items[i].hang_timeout_ms
                                      : CONNECTOR_DEFAULT_HANG_TIMEOUT_MS;
        k->backoff_ms = c->backoff_min_ms;
        uv_timer_init(c->loop, &k->restart_timer);
        uv_timer_init(c->loop, &k->watchdog);
        c->open_handles += 2;
        k->status_fd = -1;
        refresh_committed(k, d->store);
        k->events_at_start = k->events;
        if (refusal) {
            k->state = CONN_FAILED;
            snprintf(k->last_error, sizeof k->last_error,
                     "not started: the config has tokens but none with role write, and a "
                     "connector is never handed an admin token; add a token with role write");
            fprintf(stderr, "<3>tierd: connector %s %s\n", k->conf.name, k->last_error);
            continue;
        }
        spawn(k);
    }
    *out = c;
    return 0;
}

static void on_kill_timer(uv_timer_t *t)
{
    connectors *c = t->data;
    for (size_t i = 0; i < c->n; i++)
        if (c->conns[i].proc_alive) {
            fprintf(stderr, "<4>tierd: connector %s did not stop within %d ms; killed\n",
                    c->conns[i].conf.name, CONNECTOR_STOP_GRACE_MS);
            kill_group(&c->conns[i], SIGKILL);
        }
}

void connectors_stop(connectors *c)
{
    if (!c)
        return;
    c->stopping = true;
    bool any_alive = false;
    for (size_t i = 0; i < c->n; i++) {
        conn *k = &c->conns[i];
        uv_timer_stop(&k->restart_timer);
        uv_timer_stop(&k->watchdog);
        close_handle(c, (uv_handle_t *)&k->restart_timer);
        close_handle(c, (uv_handle_t *)&k->watchdog);
        if (k->proc_alive) {
            kill_group(k, SIGTERM);
            any_alive = true;
        } else {
            k->state = CONN_STOPPED;
        }
    }
    if (any_alive) {
        c->kill_timer.data = c;
        uv_timer_start(&c->kill_timer, on_kill_timer, CONNECTOR_STOP_GRACE_MS, 0);
    } else {
        close_handle(c, (uv_handle_t *)&c->kill_timer);
    }
}

bool connectors_at(const connectors *c, size_t i, connector_view *out)
{
    if (!c || i >= c->n)
        return false;
    const conn *k = &c->conns[i];
    out->name = k->conf.name;
    out->state = conn_state_names[k->state];
    out->restarts = k->restarts;
    return true;
}

bool connectors_is_sink(const connectors *c, const char *name)
{
    if (!c || !name)
        return false;
    for (size_t i = 0; i < c->n; i++)
        if (c->conns[i].conf.sink && strcmp(c->conns[i].conf.name, name) == 0)
            return true;
    return false;
}

/* Takes the `at` of the change walked (the walk is limited to one). */
static int first_change_at(void *ud, uint64_t seq, const uint8_t *pb, size_t len)
{
    (void)seq;
    Tierd__TierChange *ch = tierd__tier_change__unpack(NULL, len, pb);
    if (ch) {
        *(int64_t *)ud = ch->at;
        tierd__tier_change__free_unpacked(ch, NULL);
    }
    return 0;
}

/* A sink's lag: the changes committed after its acknowledged sequence
 * (the cursor) and the `at` of the first of them. */
static void sink_lag(store *st, const char *cursor, Tierd__ConnectorStatus *s)
{
    uint64_t acked = 0;
    if (*cursor && td_number_parse(cursor, 0, UINT64_MAX, &acked) != 0)
        return;
    uint64_t last = store_last_sequence(st);
    s->sink_lag = last > acked ? last - acked : 0;
    if (!s->sink_lag)
        return;
    td_error ignored;
    int64_t at = 0;
    store_each_change_since(st, acked, 1, first_change_at, &at, &ignored);
    s->sink_oldest_unacked = at;
}

void connectors_status(connectors *c, rpc_call *call, Tierd__StatusResponse *resp)
{
    if (!c || !c->n)
        return;
    size_t base = resp->n_connectors;
    Tierd__ConnectorStatus **list = rpc_alloc(call, (base + c->n) * sizeof *list);
    for (size_t i = 0; i < base; i++)
        list[i] = resp->connectors[i];
    for (size_t i = 0; i < c->n; i++) {
        conn *k = &c->conns[i];
        refresh_committed(k, call->d->store);
        Tierd__ConnectorStatus *s = rpc_alloc(call, sizeof *s);
        tierd__connector_status__init(s);
        s->name = rpc_strdup(call, k->conf.name);
        s->state = rpc_strdup(call, conn_state_names[k->state]);
        s->last_error = rpc_strdup(call, k->last_error);
        s->events_sent = k->events >= k->events_at_start ? k->events - k->events_at_start : 0;
        s->cursor = rpc_strdup(call, k->cursor);
        s->restarts = k->restarts;
        s->next_start = k->state == CONN_RESTARTING ? k->next_start : 0;
        s->direction = k->conf.sink ? HOST_DIRECTION_SINK : HOST_DIRECTION_SOURCE;
        if (k->conf.sink)
            sink_lag(call->d->store, k->cursor, s);
        list[base + i] = s;
    }
    resp->connectors = list;
    resp->n_connectors = base + c->n;
}
