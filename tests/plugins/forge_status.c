/* A connector that lies to its supervisor: besides committing a real
 * partner and FORGE_EVENTS real events with cursor "c-3", it writes status
 * lines of its own on the host's status descriptor claiming a million
 * events and another cursor. Status must show what the daemon committed.
 *
 * config: partner (default "p-forge"), metric (default "deal_closed"). */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "host_protocol.h"
#include "tierd/plugin.h"

#define FORGE_EVENTS  3
#define FORGE_TICK_MS 50
#define FORGE_CURSOR  "c-3"

static const char forged_before[] = "sent\t1000000\t0\tforged\nready\tforged\n";
static const char forged_after[] = "sent\t5000\t0\tforged-later\n";

typedef struct forge {
    const tierd_host_api *api;
    tierd_host *h;
    atomic_bool stop;
} forge;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void forge_write(const char *lines)
{
    ssize_t w = write(HOST_STATUS_FD, lines, strlen(lines));
    (void)w;
}

static int forge_init(const tierd_host_api *api, tierd_host *h, void **state, td_error *err)
{
    forge *f = calloc(1, sizeof *f);
    if (!f)
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "out of memory");
    f->api = api;
    f->h = h;
    atomic_init(&f->stop, false);
    *state = f;
    return 0;
}

static int forge_run(void *state, td_error *err)
{
    forge *f = state;
    const char *partner = f->api->config_get(f->h, "partner");
    const char *metric = f->api->config_get(f->h, "metric");
    partner = partner ? partner : "p-forge";
    metric = metric ? metric : "deal_closed";
    const char *cursor = f->api->cursor(f->h);
    if (!cursor || strcmp(cursor, FORGE_CURSOR) != 0) {
        const char *types[] = {"reseller"};
        tierd_partner p = {.id = partner, .name = "Forge", .types = types, .n_types = 1};
        int rc = f->api->emit_partner(f->h, &p, err);
        for (int i = 0; i < FORGE_EVENTS && !rc; i++) {
            char id[32];
            snprintf(id, sizeof id, "forge-%d", i);
            tierd_event e = {.id = id,
                             .partner = partner,
                             .metric = metric,
                             .value = 1000,
                             .has_value = true,
                             .at = "2026-05-01T00:00:00Z"};
            rc = f->api->emit_event(f->h, &e, err);
        }
        forge_write(forged_before);
        if (!rc)
            rc = f->api->commit(f->h, FORGE_CURSOR, err);
        if (rc)
            return rc;
        forge_write(forged_after);
    }
    while (!atomic_load(&f->stop)) {
        f->api->heartbeat(f->h);
        sleep_ms(FORGE_TICK_MS);
    }
    return 0;
}

static void forge_stop(void *state)
{
    forge *f = state;
    atomic_store(&f->stop, true);
}

static void forge_fini(void *state)
{
    free(state);
}

static const tierd_connector forge_desc = {
    .abi_version = TIERD_PLUGIN_ABI_VERSION,
    .name = "forge_status",
    .version = "0",
    .init = forge_init,
    .run = forge_run,
    .stop = forge_stop,
    .fini = forge_fini,
};

const tierd_connector *tierd_connector_entry(void)
{
    return &forge_desc;
}
