/* tierd-connector: the isolated host process for one connector plugin.
 *
 * The daemon spawns one of these per configured connector. It loads the
 * plugin (connector/loader.c decides whether it may), asks the daemon for
 * the connector's committed cursor (GetCursor), runs the plugin, and sends
 * what the plugin emits as ordinary UpsertPartners / Ingest requests through
 * libtierd-client, the cursor riding in the same request as its batch so
 * the daemon commits both in one transaction. A crash here loses nothing the
 * daemon committed; the plugin resumes from the cursor. With --direction
 * sink it runs the plugin's sink instead (connector/sinkrun.c): changes go
 * the other way and the cursor is the acknowledged change sequence.
 *
 * It reports to its supervisor on the status descriptor (--status-fd), one
 * tab-separated line per write, one fact each (common/host_protocol.h names
 * the words, flags and exit statuses both sides use); heartbeats go at most
 * once per HOST_HEARTBEAT_MIN_MS. The plugin shares this process and could
 * write such lines itself, so the
 * daemon takes them as signs of life and reasons only, never as counts:
 * Status counts what the daemon committed. A child the plugin forks gets
 * the signal mask this process had at start (not the one blocked for the
 * signal thread) and no status descriptor, so SIGTERM ends it and it cannot
 * speak for the host; the daemon also ignores lines from any other pid.
 * Exit status: 0 after a requested stop, HOST_EXIT_RETRY on a failure worth
 * retrying, HOST_EXIT_FATAL when retrying cannot help (bad plugin, ABI,
 * config). It does not decide about restarts; daemon/connectors.c does. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "host_protocol.h"
#include "hostcheck.h"
#include "loader.h"
#include "sinkrun.h"
#include "td_number.h"
#include "tierd/client.h"
#include "tierd/plugin.h"

#define HOST_BATCH_ITEMS            5000 /* under the daemon's TD_MAX_BATCH (10000) */
#define HOST_BATCH_BYTES            (1u << 20)
#define HOST_HEARTBEAT_MIN_MS       1000
#define HOST_CONNECT_ATTEMPTS       10
#define HOST_CONNECT_RETRY_MS       300
#define HOST_REJECTS_LOGGED_PER_RPC 10

struct tierd_host {
    const char *name;
    td_client *client;
    json_t *config;
    char *config_text;
    char *cursor; /* last committed, NULL when none */
    int status_fd;
    int64_t last_hb_ms;
    atomic_bool stopping;

    Tierd__Partner *partners; /* HOST_BATCH_ITEMS each */
    Tierd__Partner **partner_ptrs;
    size_t n_partners;
    Tierd__Event *events;
    Tierd__Event **event_ptrs;
    char **origins; /* per buffered event, may be NULL */
    size_t n_events;
    size_t bytes;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Status lines are best effort: the descriptor is non-blocking so a stalled
 * supervisor can never wedge the plugin; a lost heartbeat costs nothing and
 * a lost "sent" only delays the counters in Status. */
static void status_line(tierd_host *h, const char *fmt, ...)
{
    if (h->status_fd < 0)
        return;
    char line[HOST_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof line - 2)
        n = (int)sizeof line - 2;
    for (int i = 0; i < n; i++)
        if (line[i] == '\n')
            line[i] = ' ';
    line[n++] = '\n';
    ssize_t w = write(h->status_fd, line, (size_t)n);
    (void)w;
    h->last_hb_ms = now_ms();
}

static void host_log(tierd_host *h, tierd_log_level level, const char *fmt, ...)
{
    char msg[TD_ERROR_MAX * 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* "<N>" is the sd-daemon level prefix journald understands on stderr. */
    fprintf(stderr, "<%d>tierd-connector[%s]: %s\n", (int)level, h->name, msg);
}

static const char *host_name(tierd_host *h)
{
    return h->name;
}

static const char *host_config_json(tierd_host *h)
{
    return h->config_text ? h->config_text : "{}";
}

static const char *host_config_get(tierd_host *h, const char *path)
{
    return hostcheck_config_get(h->config, path);
}

static const char *host_cursor(tierd_host *h)
{
    return h->cursor;
}

static void host_heartbeat(tierd_host *h)
{
    if (now_ms() - h->last_hb_ms >= HOST_HEARTBEAT_MIN_MS)
        status_line(h, HOST_LINE_HEARTBEAT);
}

static bool host_stopping(tierd_host *h)
{
    return atomic_load(&h->stopping);
}

static char *dup_or_empty(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d) {
        fputs("tierd-connector: out of memory\n", stderr);
        exit(HOST_EXIT_RETRY);
    }
    return d;
}

static void free_partner(Tierd__Partner *p)
{
    free(p->id);
    free(p->name);
    for (size_t i = 0; i < p->n_types; i++)
        free(p->types[i]);
    free(p->types);
    for (size_t i = 0; i < p->n_attrs; i++) {
        free(p->attrs[i]->key);
        free(p->attrs[i]->value);
        free(p->attrs[i]);
    }
    free(p->attrs);
}

static void free_event(Tierd__Event *e)
{
    free(e->id);
    free(e->source);
    free(e->partner);
    free(e->metric);
    free(e->at);
    free(e->key);
    free(e->op);
}

static void clear_buffers(tierd_host *h)
{
    for (size_t i = 0; i < h->n_partners; i++)
        free_partner(&h->partners[i]);
    for (size_t i = 0; i < h->n_events; i++) {
        free_event(&h->events[i]);
        free(h->origins[i]);
        h->origins[i] = NULL;
    }
    h->n_partners = h->n_events = 0;
    h->bytes = 0;
}

static void log_rejects(tierd_host *h, const char *what, Tierd__ItemResult **results, size_t n,
                        char **origins)
{
    size_t logged = 0;
    size_t rejected = 0;
    for (size_t i = 0; i < n; i++) {
        if (results[i]->outcome != TIERD__OUTCOME__REJECTED)
            continue;
        rejected++;
        if (logged++ >= HOST_REJECTS_LOGGED_PER_RPC)
            continue;
        uint32_t idx = results[i]->index;
        const char *origin = origins && idx < n && origins[idx] ? origins[idx] : NULL;
        host_log(h, TIERD_LOG_WARNING, "%s %s%s%s rejected: %s", what, results[i]->id,
                 origin ? " from " : "", origin ? origin : "", results[i]->reason);
    }
    if (rejected > HOST_REJECTS_LOGGED_PER_RPC)
        host_log(h, TIERD_LOG_WARNING, "%zu more %ss rejected in the same batch",
                 rejected - HOST_REJECTS_LOGGED_PER_RPC, what);
}

/* Sends the buffers; the cursor (when not NULL) rides on the last request
 * so it commits with the last of the batch. */
static int send_buffers(tierd_host *h, const char *cursor, td_error *err)
{
    bool send_events = h->n_events > 0 || cursor;
    size_t n_events = h->n_events;
    size_t n_partners = h->n_partners;
    if (h->n_partners) {
        Tierd__UpsertPartnersRequest req = TIERD__UPSERT_PARTNERS_REQUEST__INIT;
        req.partners = h->partner_ptrs;
        req.n_partners = h->n_partners;
        req.connector = (char *)h->name;
        if (!send_events)
            req.cursor = (char *)(cursor ? cursor : "");
        Tierd__UpsertPartnersResponse *resp = NULL;
        int rc = td_client_upsert_partners(h->client, &req, &resp, err);
        if (rc) {
            td_error_prefix(err, "UpsertPartners");
            return rc;
        }
        log_rejects(h, "partner", resp->results, resp->n_results, NULL);
        tierd__upsert_partners_response__free_unpacked(resp, NULL);
    }
    if (send_events) {
        Tierd__IngestRequest req = TIERD__INGEST_REQUEST__INIT;
        req.events = h->event_ptrs;
        req.n_events = h->n_events;
        req.connector = (char *)h->name;
        req.cursor = (char *)(cursor ? cursor : "");
        Tierd__IngestResponse *resp = NULL;
        int rc = td_client_ingest(h->client, &req, &resp, err);
        if (rc) {
            td_error_prefix(err, "Ingest");
            return rc;
        }
        log_rejects(h, "event", resp->results, resp->n_results, h->origins);
        tierd__ingest_response__free_unpacked(resp, NULL);
    }
    clear_buffers(h);
    if (cursor) {
        free(h->cursor);
        h->cursor = dup_or_empty(cursor);
    }
    status_line(h, HOST_LINE_SENT HOST_LINE_SEP "%zu" HOST_LINE_SEP "%zu" HOST_LINE_SEP "%s",
                n_events, n_partners, h->cursor ? h->cursor : "");
    return 0;
}

static int host_commit(tierd_host *h, const char *cursor, td_error *err)
{
    int rc = hostcheck_cursor(cursor, err);
    if (rc)
        return rc;
    if (cursor && h->cursor && strcmp(cursor, h->cursor) == 0)
        cursor = NULL;
    if (!cursor && !h->n_events && !h->n_partners) {
        host_heartbeat(h);
        return 0;
    }
    return send_buffers(h, cursor, err);
}

static int flush_if_full(tierd_host *h, td_error *err)
{
    if (h->n_events < HOST_BATCH_ITEMS && h->n_partners < HOST_BATCH_ITEMS &&
        h->bytes < HOST_BATCH_BYTES)
        return 0;
    return send_buffers(h, NULL, err);
}

static size_t slen(const char *s)
{
    return s ? strlen(s) : 0;
}

/* Buffers p (checked); with set_attrs its n attrs go as Partner.attrs
 * with has_attrs, replacing the partner's map, else the map is kept. */
static int buffer_partner(tierd_host *h, const tierd_partner *p, bool set_attrs,
                          const tierd_attr *attrs, size_t n, td_error *err)
{
    int rc = flush_if_full(h, err);
    if (rc)
        return rc;
    Tierd__Partner *m = &h->partners[h->n_partners];
    tierd__partner__init(m);
    m->id = dup_or_empty(p->id);
    m->name = dup_or_empty(p->name);
    m->n_types = p->n_types;
    m->types = calloc(p->n_types ? p->n_types : 1, sizeof *m->types);
    m->attrs = calloc(n ? n : 1, sizeof *m->attrs);
    if (!m->types || !m->attrs) {
        free(m->types);
        free(m->attrs);
        free(m->id);
        free(m->name);
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "out of memory");
    }
    h->bytes += slen(p->id) + slen(p->name);
    for (size_t i = 0; i < p->n_types; i++) {
        m->types[i] = dup_or_empty(p->types[i]);
        h->bytes += slen(p->types[i]);
    }
    m->has_attrs = set_attrs;
    for (size_t i = 0; set_attrs && i < n; i++) {
        Tierd__Partner__AttrsEntry *a = malloc(sizeof *a);
        if (!a) {
            fputs("tierd-connector: out of memory\n", stderr);
            exit(HOST_EXIT_RETRY);
        }
        tierd__partner__attrs_entry__init(a);
        a->key = dup_or_empty(attrs[i].key);
        a->value = dup_or_empty(attrs[i].value);
        m->attrs[m->n_attrs++] = a;
        h->bytes += slen(attrs[i].key) + slen(attrs[i].value);
    }
    h->partner_ptrs[h->n_partners++] = m;
    return 0;
}

static int host_emit_partner(tierd_host *h, const tierd_partner *p, td_error *err)
{
    int rc = hostcheck_partner(p, err);
    return rc ? rc : buffer_partner(h, p, false, NULL, 0, err);
}

static int host_emit_partner_attrs(tierd_host *h, const tierd_partner *p, const tierd_attr *attrs,
                                   size_t n, td_error *err)
{
    int rc = hostcheck_partner_attrs(p, attrs, n, err);
    return rc ? rc : buffer_partner(h, p, true, attrs, n, err);
}

/* Buffers e as op with revision (Event.op, Event.revision on the wire). A
 * retraction may leave partner, metric and at out; they then go as "" and
 * the daemon takes them from the stored event. */
static int host_emit_event_op(tierd_host *h, const tierd_event *e, tierd_event_op op,
                              uint64_t revision, td_error *err)
{
    int rc = hostcheck_event_op(e, op, revision, err);
    if (rc) {
        if (e && e->origin)
            td_error_prefix(err, "%s", e->origin);
        return rc;
    }
    rc = flush_if_full(h, err);
    if (rc)
        return rc;
    Tierd__Event *m = &h->events[h->n_events];
    tierd__event__init(m);
    m->id = dup_or_empty(e->id);
    m->source = dup_or_empty(e->source && *e->source ? e->source : h->name);
    m->partner = dup_or_empty(e->partner);
    m->metric = dup_or_empty(e->metric);
    m->value = e->has_value ? e->value : 1;
    m->has_value = e->has_value;
    m->at = dup_or_empty(e->at);
    m->key = dup_or_empty(e->key);
    m->op = dup_or_empty(hostcheck_op_name(op));
    m->revision = revision;
    h->origins[h->n_events] = e->origin ? dup_or_empty(e->origin) : NULL;
    h->bytes += slen(e->id) + slen(m->source) + slen(e->partner) + slen(e->metric) + slen(e->at) +
                slen(e->key) + slen(m->op) + sizeof(double) + sizeof(uint64_t);
    h->event_ptrs[h->n_events++] = m;
    return 0;
}

static int host_emit_event(tierd_host *h, const tierd_event *e, td_error *err)
{
    return host_emit_event_op(h, e, TIERD_EVENT_NEW, 0, err);
}

static const tierd_host_api host_api = {
    .abi_version = TIERD_PLUGIN_ABI_VERSION,
    .size = sizeof(tierd_host_api),
    .log = host_log,
    .name = host_name,
    .config_json = host_config_json,
    .config_get = host_config_get,
    .cursor = host_cursor,
    .emit_partner = host_emit_partner,
    .emit_event = host_emit_event,
    .commit = host_commit,
    .heartbeat = host_heartbeat,
    .stopping = host_stopping,
    .emit_event_op = host_emit_event_op,
    .emit_partner_attrs = host_emit_partner_attrs,
};

/* What a child the plugin forks must not inherit from the host: the stop
 * signals blocked for sigwait (it would then ignore SIGTERM and outlive
 * every stop) and the status descriptor (it could then speak for a host
 * that is hung or gone). Set once, before any plugin code runs. */
static sigset_t fork_child_mask;
static int fork_child_status_fd = -1;

static void on_fork_child(void)
{
    if (fork_child_status_fd >= 0)
        close(fork_child_status_fd);
    pthread_sigmask(SIG_SETMASK, &fork_child_mask, NULL);
}

/* Signals are taken by one thread with sigwait, so the plugin's stop runs
 * in ordinary thread context rather than inside a signal handler. */
typedef struct stop_waiter {
    sigset_t set;
    tierd_host *host;
    const tierd_connector *desc;
    void *state;
    pthread_mutex_t lock;
    bool running; /* the plugin's state is live */
} stop_waiter;

static void *stop_thread(void *arg)
{
    stop_waiter *w = arg;
    for (;;) {
        int sig = 0;
        if (sigwait(&w->set, &sig) != 0)
            continue;
        atomic_store(&w->host->stopping, true);
        pthread_mutex_lock(&w->lock);
        if (w->running)
            w->desc->stop(w->state);
        pthread_mutex_unlock(&w->lock);
    }
    return NULL;
}

static int fetch_cursor(tierd_host *h, td_error *err)
{
    int rc = 0;
    for (int attempt = 0; attempt < HOST_CONNECT_ATTEMPTS; attempt++) {
        if (atomic_load(&h->stopping))
            return td_error_set(err, TD_CANCELLED, "stopped before start");
        Tierd__CursorRequest req = TIERD__CURSOR_REQUEST__INIT;
        req.connector = (char *)h->name;
        Tierd__CursorResponse *resp = NULL;
        rc = td_client_call(h->client, "GetCursor", &req.base, &tierd__cursor_response__descriptor,
                            (ProtobufCMessage **)&resp, err);
        if (rc == 0) {
            free(h->cursor);
            h->cursor = resp->cursor && *resp->cursor ? dup_or_empty(resp->cursor) : NULL;
            tierd__cursor_response__free_unpacked(resp, NULL);
            return 0;
        }
        if (err->code != TD_UNAVAILABLE)
            break;
        struct timespec ts = {0, HOST_CONNECT_RETRY_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
    td_error_prefix(err, "GetCursor");
    return rc;
}

static void usage(void)
{
    fputs("usage: tierd-connector --" HOST_OPT_NAME " NAME --" HOST_OPT_PLUGIN_DIR
          " DIR --" HOST_OPT_PLUGIN " PLUGIN\n"
          "                       [--" HOST_OPT_URL " URL] [--" HOST_OPT_STATUS_FD
          " FD] [--" HOST_OPT_TIMEOUT_MS " MS]\n"
          "                       [--" HOST_OPT_DIRECTION " " HOST_DIRECTION_SOURCE
          "|" HOST_DIRECTION_SINK "]\n"
          "The config block is read as JSON from $" HOST_CONFIG_ENV
          ", the token from $" TD_CLIENT_TOKEN_ENV ".\n",
          stderr);
}

static int fail(tierd_host *h, int code, const td_error *err)
{
    host_log(h, TIERD_LOG_ERROR, "%s", err->message);
    status_line(h, HOST_LINE_ERROR HOST_LINE_SEP "%s", err->message);
    return code;
}

/* The command line, checked. */
typedef struct host_args {
    const char *name, *dir, *plugin, *url;
    bool sink;     /* --direction sink */
    int status_fd; /* -1: none */
    int timeout_ms;
} host_args;

/* A number flag's value in min..max, or a usage error naming the flag. */
static bool number_arg(const char *flag, const char *value, int min, int max, int *out)
{
    uint64_t v;
    if (td_number_parse(value, (uint64_t)min, (uint64_t)max, &v) != 0) {
        fprintf(stderr, "tierd-connector: --%s: '%s' is not a whole number from %d to %d\n", flag,
                value, min, max);
        return false;
    }
    *out = (int)v;
    return true;
}

/* 0, or HOST_EXIT_USAGE after saying what is wrong. */
static int parse_args(int argc, char **argv, host_args *a)
{
    static const struct option opts[] = {
        {HOST_OPT_NAME, required_argument, NULL, 'n'},
        {HOST_OPT_PLUGIN_DIR, required_argument, NULL, 'd'},
        {HOST_OPT_PLUGIN, required_argument, NULL, 'p'},
        {HOST_OPT_URL, required_argument, NULL, 'u'},
        {HOST_OPT_STATUS_FD, required_argument, NULL, 's'},
        {HOST_OPT_TIMEOUT_MS, required_argument, NULL, 't'},
        {HOST_OPT_DIRECTION, required_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *a = (host_args){.status_fd = -1, .timeout_ms = HOST_TIMEOUT_MS_DEFAULT};
    int c;
    bool ok = true;
    while (ok && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'n')
            a->name = optarg;
        else if (c == 'd')
            a->dir = optarg;
        else if (c == 'p')
            a->plugin = optarg;
        else if (c == 'u')
            a->url = optarg;
        else if (c == 's')
            ok = number_arg(HOST_OPT_STATUS_FD, optarg, 0, INT_MAX, &a->status_fd);
        else if (c == 't')
            ok = number_arg(HOST_OPT_TIMEOUT_MS, optarg, 1, HOST_TIMEOUT_MS_MAX, &a->timeout_ms);
        else if (c == 'D' && strcmp(optarg, HOST_DIRECTION_SINK) == 0)
            a->sink = true;
        else if (c == 'D' && strcmp(optarg, HOST_DIRECTION_SOURCE) == 0)
            a->sink = false;
        else if (c == 'D') {
            fprintf(stderr, "tierd-connector: --%s: '%s' is neither %s nor %s\n",
                    HOST_OPT_DIRECTION, optarg, HOST_DIRECTION_SOURCE, HOST_DIRECTION_SINK);
            ok = false;
        } else
            ok = false;
    }
    if (!ok || !a->name || !a->dir || !a->plugin || optind != argc) {
        usage();
        return HOST_EXIT_USAGE;
    }
    return 0;
}

/* Takes the status descriptor when it is open: non-blocking (see
 * status_line) and closed on exec. */
static void adopt_status_fd(tierd_host *h, int fd)
{
    h->status_fd = -1;
    if (fd < 0 || fcntl(fd, F_GETFD) == -1)
        return;
    h->status_fd = fd;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/* What must be in place before any plugin code runs: the fork handler,
 * the batch buffers and the parsed config block. Returns 0 or an exit
 * status (already reported). */
static int host_prepare(tierd_host *h, td_error *err)
{
    /* Before dlopen, since a plugin's constructors are plugin code too. */
    pthread_sigmask(SIG_SETMASK, NULL, &fork_child_mask);
    fork_child_status_fd = h->status_fd;
    if (pthread_atfork(NULL, NULL, on_fork_child) != 0) {
        td_error_set(err, TD_INTERNAL, "cannot register the fork handler");
        return fail(h, HOST_EXIT_RETRY, err);
    }
    h->partners = calloc(HOST_BATCH_ITEMS, sizeof *h->partners);
    h->partner_ptrs = calloc(HOST_BATCH_ITEMS, sizeof *h->partner_ptrs);
    h->events = calloc(HOST_BATCH_ITEMS, sizeof *h->events);
    h->event_ptrs = calloc(HOST_BATCH_ITEMS, sizeof *h->event_ptrs);
    h->origins = calloc(HOST_BATCH_ITEMS, sizeof *h->origins);
    if (!h->partners || !h->partner_ptrs || !h->events || !h->event_ptrs || !h->origins) {
        td_error_set(err, TD_RESOURCE_EXHAUSTED, "out of memory");
        return fail(h, HOST_EXIT_RETRY, err);
    }
    const char *cfg = getenv(HOST_CONFIG_ENV);
    h->config_text = cfg && *cfg ? strdup(cfg) : NULL;
    if (hostcheck_config_parse(h->config_text, &h->config, err))
        return fail(h, HOST_EXIT_FATAL, err);
    return 0;
}

/* Starts the thread that turns SIGTERM, SIGINT and SIGHUP into the
 * plugin's stop. 0 or an exit status (already reported). */
static int start_stop_thread(tierd_host *h, stop_waiter *w, const tierd_connector *desc,
                             td_error *err)
{
    w->host = h;
    w->desc = desc;
    pthread_mutex_init(&w->lock, NULL);
    sigemptyset(&w->set);
    sigaddset(&w->set, SIGTERM);
    sigaddset(&w->set, SIGINT);
    sigaddset(&w->set, SIGHUP);
    /* Blocked before any plugin thread exists, so they all inherit it; a
     * forked child gets the mask of before back (on_fork_child). */
    pthread_sigmask(SIG_BLOCK, &w->set, NULL);
    pthread_t tid;
    if (pthread_create(&tid, NULL, stop_thread, w) != 0) {
        td_error_set(err, TD_INTERNAL, "cannot start the signal thread");
        return fail(h, HOST_EXIT_RETRY, err);
    }
    return 0;
}

/* Opens the RPC client and asks where to resume. 0 or an exit status
 * (already reported). */
static int connect_daemon(tierd_host *h, const host_args *a, td_error *err)
{
    if (td_client_open(a->url, NULL, a->timeout_ms, &h->client, err))
        return fail(h, HOST_EXIT_FATAL, err);
    /* Both are copied by now; whatever the plugin runs must not inherit
     * the daemon token or the config block's secrets (a conninfo password). */
    unsetenv(TD_CLIENT_TOKEN_ENV);
    unsetenv(HOST_CONFIG_ENV);
    if (fetch_cursor(h, err))
        return fail(h, atomic_load(&h->stopping) ? HOST_EXIT_STOPPED : HOST_EXIT_RETRY, err);
    return 0;
}

/* The table handed to a plugin: ours, stamped with the plugin's own ABI
 * version, so an ABI 1 plugin that checks it sees the 1 it knows (the
 * layout only grew by appending). */
static tierd_host_api plugin_api;

static void sink_ready(tierd_host *h, const char *cursor)
{
    status_line(h, HOST_LINE_READY HOST_LINE_SEP "%s", cursor ? cursor : "");
}

static void sink_acked(tierd_host *h, size_t n, const char *cursor)
{
    free(h->cursor);
    h->cursor = dup_or_empty(cursor);
    status_line(h, HOST_LINE_SENT HOST_LINE_SEP "%zu" HOST_LINE_SEP "0" HOST_LINE_SEP "%s", n,
                cursor);
}

/* The sink direction until stopped; the exit status. */
static int run_sink(tierd_host *h, const loader_plugin *lp, td_error *err)
{
    host_log(h, TIERD_LOG_INFO, "plugin %s %s receiving changes after %s", lp->desc->name,
             lp->desc->version, h->cursor ? h->cursor : "the first");
    sinkrun_io io = {.client = h->client,
                     .name = h->name,
                     .api = &plugin_api,
                     .host = h,
                     .sink = lp->sink,
                     .cursor = h->cursor,
                     .ready = sink_ready,
                     .acked = sink_acked};
    bool fatal = false;
    if (sinkrun(&io, &fatal, err)) {
        td_error_prefix(err, "plugin %s", lp->desc->name);
        return fail(h, fatal ? HOST_EXIT_FATAL : HOST_EXIT_RETRY, err);
    }
    return HOST_EXIT_STOPPED;
}

/* The direction asked for must be one the plugin has. 0 or an exit status
 * (already reported). */
static int check_direction(tierd_host *h, const host_args *a, const loader_plugin *lp,
                           td_error *err)
{
    if (a->sink && !lp->sink)
        td_error_set(err, TD_FAILED_PRECONDITION,
                     "plugin %s (ABI %u) has no sink direction; remove `direction: sink` or use "
                     "a sink plugin",
                     lp->path, (unsigned)lp->abi);
    else if (!a->sink && !lp->is_source)
        td_error_set(err, TD_FAILED_PRECONDITION,
                     "plugin %s is only a sink; add `direction: sink` to connector %s", lp->path,
                     a->name);
    else
        return 0;
    return fail(h, HOST_EXIT_FATAL, err);
}

/* init, run until stopped, fini; the exit status. */
static int run_plugin(tierd_host *h, stop_waiter *w, const tierd_connector *desc, td_error *err)
{
    void *state = NULL;
    if (desc->init(&plugin_api, h, &state, err)) {
        td_error_prefix(err, "plugin %s init", desc->name);
        return fail(h, err->code == TD_UNAVAILABLE ? HOST_EXIT_RETRY : HOST_EXIT_FATAL, err);
    }
    host_log(h, TIERD_LOG_INFO, "plugin %s %s running, resuming from cursor %s", desc->name,
             desc->version, h->cursor ? h->cursor : "(none)");
    status_line(h, HOST_LINE_READY HOST_LINE_SEP "%s", h->cursor ? h->cursor : "");

    pthread_mutex_lock(&w->lock);
    w->state = state;
    w->running = true;
    bool early_stop = atomic_load(&h->stopping);
    pthread_mutex_unlock(&w->lock);
    if (early_stop)
        desc->stop(state);

    int rc = desc->run(state, err);

    pthread_mutex_lock(&w->lock);
    w->running = false;
    pthread_mutex_unlock(&w->lock);
    desc->fini(state);

    if (rc) {
        td_error_prefix(err, "plugin %s", desc->name);
        return fail(h, HOST_EXIT_RETRY, err);
    }
    if (!atomic_load(&h->stopping)) {
        td_error_set(err, TD_INTERNAL, "plugin %s returned from run without being stopped",
                     desc->name);
        return fail(h, HOST_EXIT_RETRY, err);
    }
    return HOST_EXIT_STOPPED;
}

int main(int argc, char **argv)
{
    host_args a;
    int code = parse_args(argc, argv, &a);
    if (code)
        return code;

    /* Die with the daemon rather than keep sending to nobody. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);

    static tierd_host host;
    tierd_host *h = &host;
    h->name = a.name;
    adopt_status_fd(h, a.status_fd);
    atomic_init(&h->stopping, false);
    td_error err;
    td_error_clear(&err);
    if ((code = host_prepare(h, &err)))
        return code;
    loader_plugin lp;
    if (loader_open(a.dir, a.plugin, &lp, &err))
        return fail(h, HOST_EXIT_FATAL, &err);
    if ((code = check_direction(h, &a, &lp, &err)))
        return code;
    plugin_api = host_api;
    plugin_api.abi_version = lp.abi;
    static stop_waiter waiter;
    if ((code = start_stop_thread(h, &waiter, lp.desc, &err)) ||
        (code = connect_daemon(h, &a, &err)))
        return code;

    code = a.sink ? run_sink(h, &lp, &err) : run_plugin(h, &waiter, lp.desc, &err);
    clear_buffers(h);
    td_client_close(h->client);
    json_decref(h->config);
    free(h->config_text);
    free(h->cursor);
    /* The plugin is not unloaded: its threads may still be winding down,
     * and the process is about to end anyway. */
    _exit(code);
}
