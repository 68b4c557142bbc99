/* A connector whose plugin forks, the way a careless or hostile plugin
 * might, to prove the supervisor does not depend on its children behaving.
 *
 * config:
 *   pid_file  where to write "<host pid> <child pid>\n" once the child runs
 *             (child pid 0 in mode idle)
 *   mode      idle       no child; heartbeats until stopped
 *             fork       a plain fork() child that waits forever
 *             escape     a child that leaves the process group (setsid) and
 *                        keeps a copy of the status descriptor open
 *             heartbeat  a child that writes "hb" lines on a copy of the
 *                        status descriptor while run() hangs silently
 * Every child ends by itself after FORKER_CHILD_LIFETIME_S so a failed test
 * cannot leave it behind for long. */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "host_protocol.h"
#include "tierd/plugin.h"

#define FORKER_CHILD_LIFETIME_S 60
#define FORKER_TICK_MS          50
#define FORKER_HB_EVERY_MS      100
#define FORKER_PATH_MAX         4096

typedef struct forker {
    const tierd_host_api *api;
    tierd_host *h;
    char pid_file[FORKER_PATH_MAX];
    char mode[32];
    atomic_bool stop;
} forker;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void child_wait(void)
{
    for (long waited = 0; waited < FORKER_CHILD_LIFETIME_S * 1000L; waited += FORKER_TICK_MS)
        sleep_ms(FORKER_TICK_MS);
    _exit(0);
}

static void child_heartbeats(int fd)
{
    for (long waited = 0; waited < FORKER_CHILD_LIFETIME_S * 1000L; waited += FORKER_HB_EVERY_MS) {
        ssize_t w = write(fd, "hb\n", 3);
        (void)w;
        sleep_ms(FORKER_HB_EVERY_MS);
    }
    _exit(0);
}

static int write_pids(forker *f, pid_t child, td_error *err)
{
    char tmp[FORKER_PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", f->pid_file);
    FILE *out = fopen(tmp, "w");
    if (!out)
        return td_error_set(err, TD_INTERNAL, "%s: %s", tmp, strerror(errno));
    fprintf(out, "%d %d\n", (int)getpid(), (int)child);
    if (fclose(out) != 0 || rename(tmp, f->pid_file) != 0)
        return td_error_set(err, TD_INTERNAL, "%s: %s", f->pid_file, strerror(errno));
    return 0;
}

static int forker_init(const tierd_host_api *api, tierd_host *h, void **state, td_error *err)
{
    const char *pid_file = api->config_get(h, "pid_file");
    const char *mode = api->config_get(h, "mode");
    if (!pid_file || !mode)
        return td_error_set(err, TD_INVALID_ARGUMENT, "forker needs pid_file and mode");
    forker *f = calloc(1, sizeof *f);
    if (!f)
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "out of memory");
    f->api = api;
    f->h = h;
    snprintf(f->pid_file, sizeof f->pid_file, "%s", pid_file);
    snprintf(f->mode, sizeof f->mode, "%s", mode);
    atomic_init(&f->stop, false);
    *state = f;
    return 0;
}

static int forker_run(void *state, td_error *err)
{
    forker *f = state;
    bool escape = strcmp(f->mode, "escape") == 0;
    bool heartbeat = strcmp(f->mode, "heartbeat") == 0;
    pid_t child = 0;
    if (strcmp(f->mode, "idle") != 0) {
        /* A copy under another number: closing the status descriptor in
         * the child (as an atfork handler might) does not close this one. */
        int keep = escape || heartbeat ? dup(HOST_STATUS_FD) : -1;
        child = fork();
        if (child < 0)
            return td_error_set(err, TD_INTERNAL, "fork: %s", strerror(errno));
        if (child == 0) {
            if (escape)
                setsid();
            if (heartbeat)
                child_heartbeats(keep);
            child_wait();
        }
        if (keep >= 0)
            close(keep);
    }
    int rc = write_pids(f, child, err);
    if (rc)
        return rc;
    if (heartbeat)
        for (;;)
            pause(); /* hung: no heartbeat of its own, deaf to stop */
    while (!atomic_load(&f->stop)) {
        f->api->heartbeat(f->h);
        sleep_ms(FORKER_TICK_MS);
    }
    return 0;
}

static void forker_stop(void *state)
{
    forker *f = state;
    atomic_store(&f->stop, true);
}

static void forker_fini(void *state)
{
    free(state);
}

static const tierd_connector forker_desc = {
    .abi_version = TIERD_PLUGIN_ABI_VERSION,
    .name = "forker",
    .version = "0",
    .init = forker_init,
    .run = forker_run,
    .stop = forker_stop,
    .fini = forker_fini,
};

const tierd_connector *tierd_connector_entry(void)
{
    return &forker_desc;
}
