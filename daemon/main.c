/* tierd: the daemon's entry point, read top to bottom.
 *
 *   parse flags -> read the config -> lock and open the state dir (store +
 *   engine) -> load --program -> open sockets -> start connectors -> tell
 *   systemd READY=1 -> run the loop until SIGTERM/SIGINT -> close cleanly.
 *
 * Exit status: 0 after a clean stop, 1 when the daemon cannot start (bad
 * config, state dir in use or damaged, address in use), 2 for a usage error.
 * tierd never daemonizes itself; systemd (or the shell) supervises it. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "connectors.h"
#include "daemon.h"
#include "log.h"
#include "notify.h"
#include "rpc.h"
#include "server.h"
#include "state.h"
#include "tierd.pb-c.h"
#include "tierd/client.h"
#include "timers.h"

#define EXIT_START_FAILED 1
#define EXIT_USAGE        2
#define STATE_DIR_MODE    0750
#define ACTOR_STARTUP     "startup"
#define ACTOR_RELOAD      "sighup"
#define URL_BUF           (TD_MAX_URL + 1)

typedef struct flags {
    const char *config_path;
    const char *state_dir;
    const char *listen[TD_MAX_ENDPOINTS];
    size_t n_listen;
    const char *publish[TD_MAX_ENDPOINTS];
    size_t n_publish;
    const char *program;
    const char *fake_clock;
    const char *log_level;
} flags;

/* Everything main owns for the life of the process. */
typedef struct daemon_main {
    tierd d;
    uv_loop_t loop;
    flags f;
    char state_dir[URL_BUF];
    char ipc_rpc[URL_BUF + sizeof "ipc:///" + sizeof TD_RPC_SOCKET_NAME];
    char ipc_pub[URL_BUF + sizeof "ipc:///" + sizeof TD_PUB_SOCKET_NAME];
    const char *listen[TD_MAX_ENDPOINTS];
    size_t n_listen;
    const char *publish[TD_MAX_ENDPOINTS];
    size_t n_publish;
    uv_signal_t sig_term, sig_int, sig_hup;
    uv_timer_t watchdog;
    bool watchdog_on;
    bool stopping;
} daemon_main;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: tierd [-c tierd.yaml] [--state-dir DIR] [--listen URL]... [--publish URL]...\n"
            "             [--program FILE] [--fake-clock TIME] [--foreground]\n"
            "             [--log-level error|warning|info|debug] [--version] [--help]\n");
}

/* ---- flags ----------------------------------------------------------------- */

static int parse_flags(int argc, char **argv, flags *f)
{
    enum {
        OPT_STATE_DIR = 256,
        OPT_LISTEN,
        OPT_PUBLISH,
        OPT_PROGRAM,
        OPT_FAKE_CLOCK,
        OPT_FOREGROUND,
        OPT_LOG_LEVEL,
        OPT_VERSION,
        OPT_HELP
    };
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"state-dir", required_argument, NULL, OPT_STATE_DIR},
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"publish", required_argument, NULL, OPT_PUBLISH},
        {"program", required_argument, NULL, OPT_PROGRAM},
        {"fake-clock", required_argument, NULL, OPT_FAKE_CLOCK},
        {"foreground", no_argument, NULL, OPT_FOREGROUND},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"version", no_argument, NULL, OPT_VERSION},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    int opt;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "c:", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            f->config_path = optarg;
            break;
        case OPT_STATE_DIR:
            f->state_dir = optarg;
            break;
        case OPT_LISTEN:
        case OPT_PUBLISH: {
            bool listen = opt == OPT_LISTEN;
            size_t *n = listen ? &f->n_listen : &f->n_publish;
            if (*n == TD_MAX_ENDPOINTS) {
                fprintf(stderr, "tierd: at most %d --%s URLs\n", TD_MAX_ENDPOINTS,
                        listen ? "listen" : "publish");
                return -1;
            }
            (listen ? f->listen : f->publish)[(*n)++] = optarg;
            break;
        }
        case OPT_PROGRAM:
            f->program = optarg;
            break;
        case OPT_FAKE_CLOCK:
            f->fake_clock = optarg;
            break;
        case OPT_FOREGROUND:
            break; /* the only mode there is */
        case OPT_LOG_LEVEL:
            f->log_level = optarg;
            break;
        case OPT_VERSION:
            printf("tierd %s\n", TIERD_VERSION);
            exit(0);
        case OPT_HELP:
            usage(stdout);
            exit(0);
        default:
            fprintf(stderr, "tierd: %s: unknown option or missing value\n",
                    argv[optind - 1] ? argv[optind - 1] : "?");
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "tierd: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    td_log_level level;
    if (f->log_level && !log_level_parse(f->log_level, &level)) {
        fprintf(stderr, "tierd: --log-level must be error, warning, info or debug\n");
        return -1;
    }
    return 0;
}

/* ---- state dir ------------------------------------------------------------- */

static int pick_state_dir(daemon_main *m, td_error *err)
{
    const char *dir = m->f.state_dir;
    if (!dir)
        dir = m->d.config->state_dir;
    if (!dir)
        dir = getenv(TD_STATE_DIR_ENV);
    if (!dir || !*dir)
        dir = TD_DEFAULT_STATE_DIR;
    /* Room for "ipc://" + dir + "/rpc.sock" in the endpoint buffers. */
    if (strlen(dir) + strlen("ipc:///") + strlen(TD_RPC_SOCKET_NAME) >= sizeof m->state_dir)
        return td_error_set(err, TD_INVALID_ARGUMENT, "state dir path is too long");
    snprintf(m->state_dir, sizeof m->state_dir, "%s", dir);
    if (mkdir(dir, STATE_DIR_MODE) != 0 && errno != EEXIST)
        return td_error_set(err, TD_UNAVAILABLE, "cannot create state dir %s: %s", dir,
                            strerror(errno));
    m->d.state_dir = m->state_dir;
    return 0;
}

/* ---- program file ---------------------------------------------------------- */

static int load_program_file(tierd *d, const char *path, const char *actor, td_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return td_error_set(err, TD_NOT_FOUND, "cannot open program %s: %s", path, strerror(errno));
    char *text = malloc(TD_MAX_PROGRAM_BYTES + 1);
    if (!text)
        abort();
    size_t len = fread(text, 1, TD_MAX_PROGRAM_BYTES + 1, f);
    bool bad = ferror(f);
    fclose(f);
    if (bad || len > TD_MAX_PROGRAM_BYTES) {
        free(text);
        return td_error_set(err, TD_INVALID_ARGUMENT, "program %s: %s", path,
                            bad ? "read error" : "larger than the program size limit");
    }
    text[len] = 0;
    Tierd__PutProgramRequest req = TIERD__PUT_PROGRAM_REQUEST__INIT;
    req.yaml = text;
    req.filename = (char *)path;
    int rc = rpc_invoke_local(d, "PutProgram", &req.base, actor, err);
    free(text);
    return rc;
}

static const char *program_path(const daemon_main *m)
{
    return m->f.program ? m->f.program : m->d.config->program;
}

/* ---- endpoints ------------------------------------------------------------- */

static int pick_endpoints(daemon_main *m, td_error *err)
{
    const td_config *c = m->d.config;
    snprintf(m->ipc_rpc, sizeof m->ipc_rpc, "ipc://%s/%s", m->state_dir, TD_RPC_SOCKET_NAME);
    snprintf(m->ipc_pub, sizeof m->ipc_pub, "ipc://%s/%s", m->state_dir, TD_PUB_SOCKET_NAME);
    /* Flags replace the config, which replaces the defaults. */
    if (m->f.n_listen) {
        memcpy(m->listen, m->f.listen, m->f.n_listen * sizeof *m->listen);
        m->n_listen = m->f.n_listen;
    } else if (c->n_listen) {
        memcpy(m->listen, c->listen, c->n_listen * sizeof *m->listen);
        m->n_listen = c->n_listen;
    } else {
        m->listen[m->n_listen++] = m->ipc_rpc;
        if (c->n_tokens)
            m->listen[m->n_listen++] = TD_DEFAULT_RPC_TCP;
    }
    if (m->f.n_publish) {
        memcpy(m->publish, m->f.publish, m->f.n_publish * sizeof *m->publish);
        m->n_publish = m->f.n_publish;
    } else if (c->n_publish) {
        memcpy(m->publish, c->publish, c->n_publish * sizeof *m->publish);
        m->n_publish = c->n_publish;
    } else {
        m->publish[m->n_publish++] = m->ipc_pub;
        if (c->n_tokens)
            m->publish[m->n_publish++] = TD_DEFAULT_PUB_TCP;
    }
    for (size_t i = 0; i < m->n_listen + m->n_publish; i++) {
        const char *url = i < m->n_listen ? m->listen[i] : m->publish[i - m->n_listen];
        if (config_check_endpoint(url, c->allow_remote, err) != 0)
            return -(int)err->code;
        /* Without tokens nobody is authenticated: only a socket guarded by
         * file permissions may be open. */
        if (c->n_tokens == 0 && i < m->n_listen && strncmp(url, "ipc://", 6) != 0)
            return td_error_set(err, TD_INVALID_ARGUMENT,
                                "%s needs tokens in the config: without them only ipc "
                                "sockets are opened",
                                url);
    }
    return 0;
}

/* ---- connectors ------------------------------------------------------------ */

static int start_connectors(daemon_main *m, td_error *err)
{
    td_connectors_conf conf = m->d.config->connectors;
    if (conf.n == 0)
        return 0;
    conf.rpc_url = m->listen[0];
    for (size_t i = 0; i < m->n_listen; i++)
        if (strncmp(m->listen[i], "ipc://", 6) == 0) {
            conf.rpc_url = m->listen[i];
            break;
        }
    const td_config *c = m->d.config;
    for (size_t i = 0; i < c->n_tokens && !conf.token; i++)
        if (c->tokens[i].role >= TD_ROLE_WRITE)
            conf.token = c->tokens[i].secret;
    if (c->n_tokens && !conf.token)
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "connectors need a token with role write or admin in the config");
    return connectors_start(&m->d, &conf, &m->d.connectors, err);
}

/* ---- signals, watchdog, reload --------------------------------------------- */

static void on_handle_closed(uv_handle_t *h)
{
    (void)h;
}

static void stop(daemon_main *m, const char *why)
{
    if (m->stopping)
        return;
    m->stopping = true;
    log_info("%s: stopping", why);
    notify_stopping();
    /* Closing the server answers and commits anything taken, then no more
     * requests are read; connectors get SIGTERM and the loop ends once every
     * handle has closed. */
    server_close(m->d.server);
    m->d.server = NULL;
    state_set_publisher(&m->d, NULL, NULL);
    connectors_stop(m->d.connectors);
    m->d.connectors = NULL;
    timers_close(m->d.timers);
    m->d.timers = NULL;
    uv_close((uv_handle_t *)&m->sig_term, on_handle_closed);
    uv_close((uv_handle_t *)&m->sig_int, on_handle_closed);
    uv_close((uv_handle_t *)&m->sig_hup, on_handle_closed);
    if (m->watchdog_on)
        uv_close((uv_handle_t *)&m->watchdog, on_handle_closed);
}

static bool same_urls(char **a, size_t na, char **b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i], b[i]) != 0)
            return false;
    return true;
}

static void reload(daemon_main *m)
{
    log_info("SIGHUP: reloading");
    if (m->d.config_path) {
        td_config *fresh = NULL;
        td_error err = {0};
        if (config_load(m->d.config_path, &fresh, &err) != 0) {
            log_error("config not reloaded, the running one stays: %s", err.message);
        } else {
            td_config *old = m->d.config;
            if (fresh->n_tokens != old->n_tokens)
                log_info("tokens: %zu -> %zu (applied)", old->n_tokens, fresh->n_tokens);
            else
                log_info("tokens reloaded (%zu)", fresh->n_tokens);
            if (fresh->n_tokens == 0 && old->n_tokens)
                log_warning("tokens removed: every request is now admin; restart to close tcp "
                            "endpoints");
            if (!m->f.log_level && fresh->log_level != log_get_level()) {
                log_info("log_level: %s -> %s (applied)", log_level_name(log_get_level()),
                         log_level_name(fresh->log_level));
                log_set_level(fresh->log_level);
            }
            if (fresh->max_request_bytes != old->max_request_bytes) {
                log_info("max_request_bytes: %zu -> %zu (applied)", old->max_request_bytes,
                         fresh->max_request_bytes);
                server_set_max_request(m->d.server, fresh->max_request_bytes);
            }
            if (!same_urls(fresh->listen, fresh->n_listen, old->listen, old->n_listen) ||
                !same_urls(fresh->publish, fresh->n_publish, old->publish, old->n_publish) ||
                fresh->allow_remote != old->allow_remote)
                log_warning("endpoints changed in the config: they apply at the next restart");
            if ((fresh->state_dir && !old->state_dir) || (!fresh->state_dir && old->state_dir) ||
                (fresh->state_dir && strcmp(fresh->state_dir, old->state_dir) != 0))
                log_warning("state_dir changed in the config: it applies at the next restart");
            if (fresh->connectors.n != old->connectors.n)
                log_warning("connectors changed in the config: they apply at the next restart");
            /* The connector children were started with the old settings;
             * keep those so Status and restarts stay consistent. */
            td_connectors_conf keep = old->connectors;
            old->connectors = fresh->connectors;
            fresh->connectors = keep;
            m->d.config = fresh;
            config_free(old);
        }
    }
    const char *path = program_path(m);
    if (path) {
        td_error err = {0};
        if (load_program_file(&m->d, path, ACTOR_RELOAD, &err) != 0)
            log_error("program %s not reloaded: %s", path, err.message);
        else if (m->d.timers && timers_rebuild(m->d.timers, &err) != 0)
            log_error("program %s reloaded, but its window expiries are not scheduled: %s", path,
                      err.message);
        else
            log_info("program %s reloaded", path);
    }
}

static void on_signal(uv_signal_t *h, int signum)
{
    daemon_main *m = h->data;
    if (signum == SIGHUP)
        reload(m);
    else
        stop(m, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void on_watchdog(uv_timer_t *t)
{
    (void)t;
    notify_watchdog();
}

static int start_signals(daemon_main *m)
{
    uv_signal_t *sigs[] = {&m->sig_term, &m->sig_int, &m->sig_hup};
    int nums[] = {SIGTERM, SIGINT, SIGHUP};
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        uv_signal_init(&m->loop, sigs[i]);
        sigs[i]->data = m;
        int rc = uv_signal_start(sigs[i], on_signal, nums[i]);
        if (rc)
            return rc;
    }
    uint64_t usec = notify_watchdog_usec();
    if (usec && m->d.config->watchdog) {
        /* Half the interval, so one late turn does not get us killed. */
        uint64_t ms = usec / 2000 ? usec / 2000 : 1;
        uv_timer_init(&m->loop, &m->watchdog);
        m->watchdog_on = true;
        uv_timer_start(&m->watchdog, on_watchdog, ms, ms);
    }
    return 0;
}

/* ---- main ------------------------------------------------------------------ */

static int fail(daemon_main *m, const char *what, const td_error *err)
{
    log_error("%s: %s", what, err->message);
    (void)m;
    return EXIT_START_FAILED;
}

static int run(daemon_main *m)
{
    td_error err = {0};
    tierd *d = &m->d;

    if (m->f.config_path) {
        if (config_load(m->f.config_path, &d->config, &err) != 0)
            return fail(m, "config", &err);
        d->config_path = m->f.config_path;
    } else {
        d->config = config_new_default();
    }
    td_log_level level = d->config->log_level;
    if (m->f.log_level)
        log_level_parse(m->f.log_level, &level);
    log_set_level(level);

    if (m->f.fake_clock) {
        if (td_time_parse(m->f.fake_clock, &d->fake_now, &err) != 0)
            return fail(m, "--fake-clock", &err);
        d->fake_clock = true;
    }
    d->started = tierd_now(d);

    if (pick_state_dir(m, &err) != 0)
        return fail(m, "state dir", &err);
    /* The store takes the state dir's single-instance lock. */
    if (state_open(d, m->state_dir, &err) != 0)
        return fail(m, "opening the state", &err);

    const char *program = program_path(m);
    if (program && load_program_file(d, program, ACTOR_STARTUP, &err) != 0)
        return fail(m, "loading the program", &err);
    if (timers_open(d, &d->timers, &err) != 0)
        return fail(m, "scheduling window expiries", &err);

    if (pick_endpoints(m, &err) != 0)
        return fail(m, "endpoints", &err);
    server_endpoints ep = {.listen = m->listen,
                           .n_listen = m->n_listen,
                           .publish = m->publish,
                           .n_publish = m->n_publish,
                           .max_request_bytes = d->config->max_request_bytes};
    if (server_open(d, &ep, &d->server, &err) != 0)
        return fail(m, "opening sockets", &err);
    state_set_publisher(d, server_publish, d->server);

    if (start_connectors(m, &err) != 0)
        return fail(m, "starting connectors", &err);
    if (start_signals(m) != 0) {
        td_error_set(&err, TD_INTERNAL, "cannot install signal handlers");
        return fail(m, "signals", &err);
    }

    log_info("tierd %s serving %s (state %s)", TIERD_VERSION, m->listen[0], m->state_dir);
    notify_ready("serving");
    uv_run(&m->loop, UV_RUN_DEFAULT);
    return 0;
}

/* Undoes whatever run() got to, in reverse order. The loop runs until the
 * handles opened so far have closed, so ASan sees no leak at exit. */
static void shut_down(daemon_main *m)
{
    if (!m->stopping) {
        m->stopping = true;
        server_close(m->d.server);
        connectors_stop(m->d.connectors);
        timers_close(m->d.timers);
        if (m->sig_term.data)
            uv_close((uv_handle_t *)&m->sig_term, on_handle_closed);
        if (m->sig_int.data)
            uv_close((uv_handle_t *)&m->sig_int, on_handle_closed);
        if (m->sig_hup.data)
            uv_close((uv_handle_t *)&m->sig_hup, on_handle_closed);
        if (m->watchdog_on)
            uv_close((uv_handle_t *)&m->watchdog, on_handle_closed);
    }
    uv_run(&m->loop, UV_RUN_DEFAULT);
    if (m->d.state)
        state_close(&m->d);
    if (uv_loop_close(&m->loop) != 0)
        log_warning("the loop still held handles at exit");
    config_free(m->d.config);
}

int main(int argc, char **argv)
{
    static daemon_main m;
    if (parse_flags(argc, argv, &m.f) != 0) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (uv_loop_init(&m.loop) != 0) {
        fprintf(stderr, "tierd: cannot create the event loop\n");
        return EXIT_START_FAILED;
    }
    m.d.loop = &m.loop;
    int status = run(&m);
    shut_down(&m);
    if (status == 0)
        log_info("stopped");
    return status;
}
