/* tierd-http: the HTTP/JSON face of tierd (docs/http.md), read top to
 * bottom:
 *
 *   parse flags -> read tierd-http.yaml -> open the upstream pool -> listen
 *   -> READY=1 -> run the loop until SIGTERM/SIGINT (SIGHUP re-reads the
 *   tokens) -> STOPPING=1, answer what waits with 503, close.
 *
 * Exit status: 0 after a clean stop, 1 when it cannot start, 2 for a usage
 * error. It never daemonizes itself (--foreground is accepted for symmetry
 * with tierd). */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "http_config.h"
#include "notify.h"
#include "routes.h"
#include "server.h"
#include "td_alloc.h"
#include "tierd/client.h"
#include "upstream.h"

#define EXIT_START_FAILED 1
#define EXIT_USAGE        2
#define US_PER_MS         1000
#define WATCHDOG_SHARE    2 /* ping twice per interval systemd asked for */

#ifndef TIERD_HTTP_DATADIR
#define TIERD_HTTP_DATADIR "/usr/local/share/tierd/www"
#endif
#ifndef TIERD_VERSION
#define TIERD_VERSION "unknown"
#endif

typedef struct app {
    uv_loop_t *loop;
    const char *config_path;
    http_config *cfg;
    upstream *up;
    http_server *srv;
    uv_signal_t sigterm, sigint, sighup;
    uv_timer_t watchdog;
    bool have_watchdog;
} app;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tierd-http [-c tierd-http.yaml] [--listen HOST:PORT] [--tierd-url URL]\n"
            "                  [--static-dir DIR] [--foreground] [--version] [--print-routes]\n");
}

static void on_stop(uv_signal_t *s, int signum)
{
    app *a = s->data;
    fprintf(stderr, "tierd-http: %s: stopping\n", strsignal(signum));
    notify_stopping();
    http_server_stop(a->srv);
    a->srv = NULL;
    upstream_close(a->up);
    a->up = NULL;
    uv_close((uv_handle_t *)&a->sigterm, NULL);
    uv_close((uv_handle_t *)&a->sigint, NULL);
    uv_close((uv_handle_t *)&a->sighup, NULL);
    if (a->have_watchdog)
        uv_close((uv_handle_t *)&a->watchdog, NULL);
}

/* SIGHUP: only the tokens change live; the rest needs a restart. */
static void on_hup(uv_signal_t *s, int signum)
{
    (void)signum;
    app *a = s->data;
    if (!a->config_path) {
        fprintf(stderr, "tierd-http: SIGHUP: no config file to re-read\n");
        return;
    }
    http_config *fresh = NULL;
    td_error err = {0};
    if (http_config_load(a->config_path, &fresh, &err) != 0) {
        fprintf(stderr, "tierd-http: SIGHUP: keeping the tokens in use: %s\n", err.message);
        return;
    }
    http_server_reload_tokens(a->srv, fresh);
    fprintf(stderr, "tierd-http: SIGHUP: %zu tokens loaded from %s\n",
            http_server_config(a->srv)->n_tokens, a->config_path);
    http_config_free(fresh);
}

static void on_watchdog(uv_timer_t *t)
{
    (void)t;
    notify_watchdog();
}

int main(int argc, char **argv)
{
    app a = {0};
    const char *listen = NULL, *url = NULL, *static_dir = NULL;
    enum {
        OPT_LISTEN = 256,
        OPT_URL,
        OPT_STATIC,
        OPT_FOREGROUND,
        OPT_VERSION,
        OPT_HELP,
        OPT_ROUTES
    };
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"tierd-url", required_argument, NULL, OPT_URL},
        {"static-dir", required_argument, NULL, OPT_STATIC},
        {"foreground", no_argument, NULL, OPT_FOREGROUND},
        {"version", no_argument, NULL, OPT_VERSION},
        {"help", no_argument, NULL, OPT_HELP},
        {"print-routes", no_argument, NULL, OPT_ROUTES},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            a.config_path = optarg;
            break;
        case OPT_LISTEN:
            listen = optarg;
            break;
        case OPT_URL:
            url = optarg;
            break;
        case OPT_STATIC:
            static_dir = optarg;
            break;
        case OPT_FOREGROUND:
            break;
        case OPT_VERSION:
            printf("tierd-http %s\n", TIERD_VERSION);
            return 0;
        case OPT_HELP:
            usage(stdout);
            return 0;
        case OPT_ROUTES:
            /* what the suite checks docs/openapi.yaml against */
            for (size_t i = 0; i < http_n_routes; i++)
                printf("%s %s\n", http_routes[i].method, http_routes[i].pattern);
            return 0;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "tierd-http: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return EXIT_USAGE;
    }
    signal(SIGPIPE, SIG_IGN);

    td_error err = {0};
    if (a.config_path) {
        if (http_config_load(a.config_path, &a.cfg, &err) != 0) {
            fprintf(stderr, "tierd-http: %s\n", err.message);
            return EXIT_START_FAILED;
        }
    } else {
        a.cfg = http_config_default();
    }
    if (listen) {
        free(a.cfg->listen);
        a.cfg->listen = td_xstrdup(listen);
    }
    if (url) {
        free(a.cfg->tierd_url);
        a.cfg->tierd_url = td_xstrdup(url);
    }
    if (!static_dir)
        static_dir = a.cfg->static_dir ? a.cfg->static_dir : TIERD_HTTP_DATADIR;
    if (a.cfg->n_tokens == 0)
        fprintf(stderr, "tierd-http: warning: no tokens configured: only the pages (and "
                        "/metrics with metrics_open) answer\n");

    a.loop = uv_default_loop();
    const char *tierd_url = a.cfg->tierd_url ? a.cfg->tierd_url : getenv("TIERD_URL");
    if (!tierd_url || !*tierd_url)
        tierd_url = "ipc://" TD_DEFAULT_STATE_DIR "/" TD_RPC_SOCKET_NAME;
    int rc = upstream_open(a.loop, tierd_url, a.cfg->tierd_token, a.cfg->upstream_sockets,
                           a.cfg->upstream_timeout_ms, &a.up, &err);
    if (rc == 0)
        rc = http_server_start(a.loop, a.cfg, a.up, http_routes, http_n_routes, static_dir, &a.srv,
                               &err);
    if (rc != 0) {
        fprintf(stderr, "tierd-http: %s\n", err.message);
        upstream_close(a.up);
        uv_run(a.loop, UV_RUN_DEFAULT);
        http_config_free(a.cfg);
        return EXIT_START_FAILED;
    }
    uv_signal_init(a.loop, &a.sigterm);
    uv_signal_init(a.loop, &a.sigint);
    uv_signal_init(a.loop, &a.sighup);
    a.sigterm.data = a.sigint.data = a.sighup.data = &a;
    uv_signal_start(&a.sigterm, on_stop, SIGTERM);
    uv_signal_start(&a.sigint, on_stop, SIGINT);
    uv_signal_start(&a.sighup, on_hup, SIGHUP);
    uint64_t wd = notify_watchdog_usec();
    if (wd) {
        a.have_watchdog = true;
        uv_timer_init(a.loop, &a.watchdog);
        uint64_t every = wd / US_PER_MS / WATCHDOG_SHARE;
        uv_timer_start(&a.watchdog, on_watchdog, every ? every : 1, every ? every : 1);
    }
    const char *host = a.cfg->listen;
    const char *colon = strrchr(host, ':');
    fprintf(stderr, "tierd-http: listening on http://%.*s:%u (tierd at %s, static files in %s)\n",
            (int)(colon - host), host, http_server_port(a.srv), tierd_url, static_dir);
    char status[128];
    snprintf(status, sizeof status, "serving on port %u", http_server_port(a.srv));
    notify_ready(status);
    uv_run(a.loop, UV_RUN_DEFAULT);
    uv_loop_close(a.loop);
    http_config_free(a.cfg);
    return 0;
}
