/* A plugin built against the first ABI 1 layout (plugin_abi1_0.h), as
 * every plugin built before corrections was: it must still load and run,
 * even though it insists that the host's table says ABI 1.
 * It sends one partner and one event, commits cursor "1" and waits to be
 * stopped. */
#include <stdlib.h>
#include <time.h>

#include "plugin_abi1_0.h"

typedef struct abi1 {
    const abi1_0_host_api *api;
    abi1_0_host *host;
} abi1;

static int abi1_init(const abi1_0_host_api *api, abi1_0_host *h, void **state, td_error *err)
{
    /* A strict plugin of its time: it knows one version and checks it. */
    if (api->abi_version != ABI1_0_VERSION)
        return td_error_set(err, TD_FAILED_PRECONDITION, "abi1: the host says ABI %u, not %u",
                            (unsigned)api->abi_version, (unsigned)ABI1_0_VERSION);
    abi1 *a = calloc(1, sizeof *a);
    if (!a)
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "abi1: out of memory");
    a->api = api;
    a->host = h;
    *state = a;
    return 0;
}

static int abi1_run(void *state, td_error *err)
{
    abi1 *a = state;
    const abi1_0_partner p = {.id = "p-old"};
    const abi1_0_event e = {.id = "old-1",
                            .partner = "p-old",
                            .metric = "deal_closed",
                            .value = 42,
                            .has_value = true,
                            .at = "2026-01-01T00:00:00Z"};
    int rc = a->api->emit_partner(a->host, &p, err);
    if (!rc)
        rc = a->api->emit_event(a->host, &e, err);
    if (!rc)
        rc = a->api->commit(a->host, "1", err);
    if (rc)
        return rc;
    while (!a->api->stopping(a->host)) {
        a->api->heartbeat(a->host);
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

static void abi1_stop(void *state)
{
    (void)state; /* run polls stopping() */
}

static void abi1_fini(void *state)
{
    free(state);
}

static const abi1_0_connector abi1_connector = {
    .abi_version = ABI1_0_VERSION,
    .name = "abi1",
    .version = "1.0",
    .init = abi1_init,
    .run = abi1_run,
    .stop = abi1_stop,
    .fini = abi1_fini,
};

const abi1_0_connector *tierd_connector_entry(void);

const abi1_0_connector *tierd_connector_entry(void)
{
    return &abi1_connector;
}
