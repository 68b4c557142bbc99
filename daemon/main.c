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

#include "backup.h"
#include "config.h"
#include "connectors.h"
#include "daemon.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "program_source.h"
#include "rpc.h"
#include "server.h"
#include "state.h"
#include "td_file.h"
#include "tierd.pb-c.h"
#include "tierd/client.h"
#include "replay.h"
#include "timers.h"
#include "webhooks.h"

/* Under AddressSanitizer every allocation is freed at exit, so a leak
 * shows; otherwise exit leaves the engine's memory to the kernel (see
 * state_close_for_exit). */
#if defined(__SANITIZE_ADDRESS__)
#define TD_FREE_AT_EXIT 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TD_FREE_AT_EXIT 1
#endif
#endif
#ifndef TD_FREE_AT_EXIT
#define TD_FREE_AT_EXIT 0
#endif

#define NS_PER_S          1e9
#define NS_PER_MS         1000000u
#define EXIT_START_FAILED 1
#define EXIT_USAGE        2
#define STATE_DIR_MODE    0750
#define STATE_DIR_OTHERS  0007 /* permission bits for users outside the owner and group */
#define MODE_BITS         07777
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
    const char *log_format;
    const char *restore; /* --restore FILE: put a backup in place and exit */
    bool force;          /* --restore over a state dir holding a store */
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
            "             [--log-level error|warning|info|debug] [--log-format text|json]\n"
            "             [--version] [--help]\n"
            "       tierd --restore FILE [--state-dir DIR] [--force]\n");
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
        OPT_LOG_FORMAT,
        OPT_RESTORE,
        OPT_FORCE,
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
        {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
        {"restore", required_argument, NULL, OPT_RESTORE},
        {"force", no_argument, NULL, OPT_FORCE},
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
        case OPT_LOG_FORMAT:
            f->log_format = optarg;
            break;
        case OPT_RESTORE:
            f->restore = optarg;
            break;
        case OPT_FORCE:
            f->force = true;
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
    td_log_format format;
    if (f->log_format && !log_format_parse(f->log_format, &format)) {
        fprintf(stderr, "tierd: --log-format must be text or json\n");
        return -1;
    }
    if (f->force && !f->restore) {
        fprintf(stderr, "tierd: --force goes with --restore\n");
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
    /* The store's files are 0600 whatever the dir, but a dir others can
     * read still shows them what is there and when it changes. */
    struct stat st;
    if (stat(dir, &st) == 0 && (st.st_mode & STATE_DIR_OTHERS))
        log_warning("state dir %s is mode %04o: users outside its owner and group can look "
                    "inside; chmod %04o %s",
                    dir, (unsigned)(st.st_mode & MODE_BITS), STATE_DIR_MODE, dir);
    m->d.state_dir = m->state_dir;
    return 0;
}

/* ---- program file ---------------------------------------------------------- */

/* Loads the program file unless its text is what it last loaded: a version
 * loaded later over RPC must survive a restart or SIGHUP that offers the
 * same file again (program_source.h). *loaded says whether it was loaded. */
static int load_program_file(tierd *d, const char *path, const char *actor, bool *loaded,
                             td_error *err)
{
    *loaded = false;
    char *text = NULL;
    size_t len = 0;
    if (td_file_read(path, TD_MAX_PROGRAM_BYTES, &text, &len, err) != 0) {
        td_error_prefix(err, "program");
        return -(int)err->code;
    }
    bool unchanged = false;
    int rc = program_file_is_loaded(d, text, &unchanged, err);
    if (rc == 0 && unchanged) {
        log_info("program %s unchanged since it was last loaded: not loaded again", path);
    } else if (rc == 0) {
        Tierd__PutProgramRequest req = TIERD__PUT_PROGRAM_REQUEST__INIT;
        req.yaml = text;
        req.filename = (char *)path;
        rc = rpc_invoke_local(d, "PutProgram", &req.base, actor, err);
        *loaded = rc == 0;
    }
    td_error rerr = {0};
    /* Unchanged text still records the path: the file may have moved.
     * Status shows it, so it is made absolute where it can be. */
    char *full = rc == 0 ? realpath(path, NULL) : NULL;
    if (rc == 0 && program_file_record(d, full ? full : path, text, &rerr) != 0)
        log_warning("program %s loaded, but not recorded as loaded (the next start loads it "
                    "again): %s",
                    path, rerr.message);
    free(full);
    free(text);
    return rc;
}

/* The log's word on the version in force, after a start or reload. */
static void log_program_in_force(tierd *d)
{
    const program *p = d->engine ? engine_program(d->engine) : NULL;
    if (p)
        log_info("program in force: %s %s, from %s", p->name, p->version, program_source(d));
    else
        log_info("no program in force (tierctl program load FILE)");
}

static const char *program_path(const daemon_main *m)
{
    return m->f.program ? m->f.program : m->d.config->program;
}

/* ---- endpoints ------------------------------------------------------------- */

/* The endpoints config c opens: the flags, else c's lists, else the
 * defaults (ipc, plus loopback tcp for RPC with tokens and for the feed
 * when c names it public). */
static void endpoints_for(daemon_main *m, const td_config *c, const char **listen, size_t *n_listen,
                          const char **publish, size_t *n_publish)
{
    *n_listen = *n_publish = 0;
    if (m->f.n_listen) {
        memcpy(listen, m->f.listen, m->f.n_listen * sizeof *listen);
        *n_listen = m->f.n_listen;
    } else if (c->n_listen) {
        memcpy(listen, c->listen, c->n_listen * sizeof *listen);
        *n_listen = c->n_listen;
    } else {
        listen[(*n_listen)++] = m->ipc_rpc;
        if (c->n_tokens)
            listen[(*n_listen)++] = TD_DEFAULT_RPC_TCP;
    }
    if (m->f.n_publish) {
        memcpy(publish, m->f.publish, m->f.n_publish * sizeof *publish);
        *n_publish = m->f.n_publish;
    } else if (c->n_publish) {
        memcpy(publish, c->publish, c->n_publish * sizeof *publish);
        *n_publish = c->n_publish;
    } else {
        publish[(*n_publish)++] = m->ipc_pub;
        if (c->n_tokens && c->publish_public)
            publish[(*n_publish)++] = TD_DEFAULT_PUB_TCP;
    }
}

/* Every check a start makes before it serves with config c on these
 * endpoints; a reload runs the same, so it cannot reach a state a fresh
 * start would refuse. */
static int check_config_use(const td_config *c, const char *const *listen, size_t n_listen,
                            const char *const *publish, size_t n_publish, td_error *err)
{
    for (size_t i = 0; i < n_listen + n_publish; i++) {
        bool rpc = i < n_listen;
        int rc = config_check_endpoint_use(c, rpc ? TD_ENDPOINT_LISTEN : TD_ENDPOINT_PUBLISH,
                                           rpc ? listen[i] : publish[i - n_listen], err);
        if (rc)
            return rc;
    }
    bool writer = false;
    for (size_t i = 0; i < c->n_tokens; i++)
        writer |= c->tokens[i].role >= TD_ROLE_WRITE;
    if (c->connectors.n && c->n_tokens && !writer)
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "connectors need a token with role write or admin in the config");
    return 0;
}

static void warn_public_feeds(const char *const *publish, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strncmp(publish[i], "tcp://", 6) == 0)
            log_warning("publish %s is public (publish_public: true): whoever reaches it reads "
                        "every tier change with its criteria values, actors and override reasons; "
                        "authenticated followers should use ListChanges",
                        publish[i]);
}

static int pick_endpoints(daemon_main *m, td_error *err)
{
    snprintf(m->ipc_rpc, sizeof m->ipc_rpc, "ipc://%s/%s", m->state_dir, TD_RPC_SOCKET_NAME);
    snprintf(m->ipc_pub, sizeof m->ipc_pub, "ipc://%s/%s", m->state_dir, TD_PUB_SOCKET_NAME);
    endpoints_for(m, m->d.config, m->listen, &m->n_listen, m->publish, &m->n_publish);
    int rc = check_config_use(m->d.config, m->listen, m->n_listen, m->publish, m->n_publish, err);
    if (rc == 0)
        warn_public_feeds(m->publish, m->n_publish);
    return rc;
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
    /* check_config_use made sure there is one when tokens are configured. */
    const td_config *c = m->d.config;
    for (size_t i = 0; i < c->n_tokens && !conf.token; i++)
        if (c->tokens[i].role >= TD_ROLE_WRITE)
            conf.token = c->tokens[i].secret;
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
    backup_close(&m->d);
    webhooks_close(m->d.webhooks);
    m->d.webhooks = NULL;
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

/* Whether fresh may replace the running config: a fresh start with it must
 * be accepted (its own endpoints), and the endpoints open now (which change
 * only at a restart) must pass its rules too; e.g. `tokens: []` while a tcp
 * endpoint is open would leave it open with admin rights for everyone. */
static int check_reload(daemon_main *m, const td_config *fresh, td_error *err)
{
    const char *listen[TD_MAX_ENDPOINTS + 2], *publish[TD_MAX_ENDPOINTS + 2];
    size_t n_listen, n_publish;
    endpoints_for(m, fresh, listen, &n_listen, publish, &n_publish);
    int rc = check_config_use(fresh, listen, n_listen, publish, n_publish, err);
    if (rc)
        return rc;
    rc = check_config_use(fresh, m->listen, m->n_listen, m->publish, m->n_publish, err);
    if (rc)
        td_error_prefix(err, "with the endpoints open now (they change only at a restart)");
    /* The connectors run with the token picked at start; a config that
     * drops it would lock them out. */
    const td_config *old = m->d.config;
    const char *running = NULL;
    for (size_t i = 0; rc == 0 && i < old->n_tokens && !running && old->connectors.n; i++)
        if (old->tokens[i].role >= TD_ROLE_WRITE)
            running = old->tokens[i].secret;
    bool kept = !running;
    for (size_t i = 0; running && i < fresh->n_tokens; i++)
        kept |=
            strcmp(fresh->tokens[i].secret, running) == 0 && fresh->tokens[i].role >= TD_ROLE_WRITE;
    if (rc == 0 && !kept)
        rc = td_error_set(err, TD_INVALID_ARGUMENT,
                          "the running connectors use a token this config drops or demotes; "
                          "restart to hand them a new one");
    return rc;
}

static void reload_config(daemon_main *m)
{
    td_config *fresh = NULL;
    td_error err = {0};
    if (config_load(m->d.config_path, &fresh, &err) != 0 || check_reload(m, fresh, &err) != 0) {
        log_error("config not reloaded, the running one stays: %s", err.message);
        config_free(fresh);
        return;
    }
    td_config *old = m->d.config;
    if (fresh->n_tokens != old->n_tokens)
        log_info("tokens: %zu -> %zu (applied)", old->n_tokens, fresh->n_tokens);
    else
        log_info("tokens reloaded (%zu)", fresh->n_tokens);
    if (fresh->n_tokens == 0 && old->n_tokens)
        log_warning("tokens removed: every caller on the ipc socket is now admin, guarded by its "
                    "file permissions only");
    if (!m->f.log_level && fresh->log_level != log_get_level()) {
        log_info("log_level: %s -> %s (applied)", log_level_name(log_get_level()),
                 log_level_name(fresh->log_level));
        log_set_level(fresh->log_level);
    }
    if (!m->f.log_format && fresh->log_format != log_get_format()) {
        log_info("log_format: %s (applied)", fresh->log_format == TD_LOG_JSON ? "json" : "text");
        log_set_format(fresh->log_format);
    }
    if (fresh->max_request_bytes != old->max_request_bytes) {
        log_info("max_request_bytes: %zu -> %zu (applied)", old->max_request_bytes,
                 fresh->max_request_bytes);
        server_set_max_request(m->d.server, fresh->max_request_bytes);
    }
    if (!same_urls(fresh->listen, fresh->n_listen, old->listen, old->n_listen) ||
        !same_urls(fresh->publish, fresh->n_publish, old->publish, old->n_publish) ||
        fresh->allow_remote != old->allow_remote || fresh->publish_public != old->publish_public)
        log_warning("endpoints changed in the config: they apply at the next restart");
    if ((fresh->state_dir && !old->state_dir) || (!fresh->state_dir && old->state_dir) ||
        (fresh->state_dir && strcmp(fresh->state_dir, old->state_dir) != 0))
        log_warning("state_dir changed in the config: it applies at the next restart");
    if (fresh->connectors.n != old->connectors.n)
        log_warning("connectors changed in the config: they apply at the next restart");
    if (fresh->webhooks.n || m->d.webhooks)
        log_warning("webhook settings are read at start: changes apply at the next restart");
    /* The connector children were started with the old settings; keep
     * those so Status and restarts stay consistent. */
    td_connectors_conf keep = old->connectors;
    old->connectors = fresh->connectors;
    fresh->connectors = keep;
    m->d.config = fresh;
    config_free(old);
}

static void reload(daemon_main *m)
{
    log_info("SIGHUP: reloading");
    if (m->d.config_path)
        reload_config(m);
    const char *path = program_path(m);
    if (path) {
        td_error err = {0};
        bool loaded = false;
        if (load_program_file(&m->d, path, PROGRAM_ACTOR_RELOAD, &loaded, &err) != 0)
            log_error("program %s not reloaded: %s", path, err.message);
        else if (loaded)
            log_info("program %s reloaded", path);
    }
    log_program_in_force(&m->d);
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

static int run_restore(daemon_main *m);

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
    td_log_format format = d->config->log_format;
    if (m->f.log_format)
        log_format_parse(m->f.log_format, &format);
    log_set_format(format);
    if (m->f.restore)
        return run_restore(m);

    if (m->f.fake_clock) {
        if (td_time_parse(m->f.fake_clock, &d->fake_now, &err) != 0)
            return fail(m, "--fake-clock", &err);
        d->fake_clock = true;
    }
    d->started = tierd_now(d);
    d->metrics = metrics_new(rpc_method_count());

    if (pick_state_dir(m, &err) != 0)
        return fail(m, "state dir", &err);
    /* The store takes the state dir's single-instance lock. */
    uint64_t t_open = uv_hrtime();
    if (state_open(d, m->state_dir, &err) != 0)
        return fail(m, "opening the state", &err);
    uint64_t open_ns = uv_hrtime() - t_open;
    log_fields(TD_LOG_INFO,
               (td_log_field[]){TD_LOG_NUM("partners", engine_partner_count(d->engine)),
                                TD_LOG_NUM("ms", open_ns / NS_PER_MS)},
               2, "state restored: %zu partners in %.2f s", engine_partner_count(d->engine),
               (double)open_ns / NS_PER_S);

    if (replay_restore(d, &err) != 0)
        return fail(m, "resuming a replayed import", &err);
    /* Before the program loads: the changes it makes are told too. */
    if (webhooks_open(d, &d->webhooks, &err) != 0)
        return fail(m, "starting webhooks", &err);

    const char *program = program_path(m);
    bool loaded = false;
    if (program && load_program_file(d, program, PROGRAM_ACTOR_STARTUP, &loaded, &err) != 0)
        return fail(m, "loading the program", &err);
    log_program_in_force(d);
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

    log_fields(TD_LOG_INFO,
               (td_log_field[]){TD_LOG_STR("version", TIERD_VERSION),
                                TD_LOG_STR("listen", m->listen[0]),
                                TD_LOG_STR("state_dir", m->state_dir)},
               3, "tierd %s serving %s (state %s)", TIERD_VERSION, m->listen[0], m->state_dir);
    notify_ready("serving");
    uv_run(&m->loop, UV_RUN_DEFAULT);
    return 0;
}

/* tierd --restore FILE: checks FILE, puts it in place as the state dir's
 * store (store_install_copy) and exits; the daemon does not start. */
static int run_restore(daemon_main *m)
{
    td_error err = {0};
    const char *dir = m->f.state_dir ? m->f.state_dir : m->d.config->state_dir;
    if (!dir)
        dir = getenv(TD_STATE_DIR_ENV);
    if (!dir || !*dir)
        dir = TD_DEFAULT_STATE_DIR;
    store_file_info info;
    if (store_install_copy(m->f.restore, dir, m->f.force, &info, &err) != 0) {
        log_error("restore refused: %s", err.message);
        return EXIT_START_FAILED;
    }
    log_fields(
        TD_LOG_INFO,
        (td_log_field[]){TD_LOG_STR("file", m->f.restore), TD_LOG_STR("state_dir", dir),
                         TD_LOG_NUM("format", info.format), TD_LOG_NUM("partners", info.partners),
                         TD_LOG_NUM("events", info.events),
                         TD_LOG_NUM("last_sequence", info.last_sequence)},
        6, "restored %s into %s: store format %u, %llu partners, %llu events, last change %llu",
        m->f.restore, dir, (unsigned)info.format, (unsigned long long)info.partners,
        (unsigned long long)info.events, (unsigned long long)info.last_sequence);
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
        backup_close(&m->d);
        webhooks_close(m->d.webhooks);
        m->d.webhooks = NULL;
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
    if (m->d.state) {
#if TD_FREE_AT_EXIT
        state_close(&m->d);
#else
        state_close_for_exit(&m->d);
#endif
    }
    if (uv_loop_close(&m->loop) != 0)
        log_warning("the loop still held handles at exit");
    config_free(m->d.config);
    metrics_free(m->d.metrics);
}

int main(int argc, char **argv)
{
    static daemon_main m;
    if (parse_flags(argc, argv, &m.f) != 0) {
        usage(stderr);
        return EXIT_USAGE;
    }
    td_log_format format;
    if (m.f.log_format && log_format_parse(m.f.log_format, &format))
        log_set_format(format); /* before the config, so its errors come out as asked */
    if (uv_loop_init(&m.loop) != 0) {
        fprintf(stderr, "tierd: cannot create the event loop\n");
        return EXIT_START_FAILED;
    }
    m.d.loop = &m.loop;
    int status = run(&m);
    shut_down(&m);
    if (status == 0 && !m.f.restore)
        log_info("stopped");
    return status;
}
