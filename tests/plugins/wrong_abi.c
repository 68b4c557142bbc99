/* A connector built for a future ABI version: the loader must refuse it
 * and name both versions. */
#include "tierd/plugin.h"

#define WRONG_ABI_VERSION (TIERD_PLUGIN_ABI_VERSION + 41)

static int wrong_init(const tierd_host_api *api, tierd_host *h, void **state, td_error *err)
{
    (void)api;
    (void)h;
    (void)state;
    (void)err;
    return 0;
}

static int wrong_run(void *state, td_error *err)
{
    (void)state;
    (void)err;
    return 0;
}

static void wrong_stop(void *state)
{
    (void)state;
}

static const tierd_connector wrong = {
    .abi_version = WRONG_ABI_VERSION,
    .name = "wrong_abi",
    .version = "0",
    .init = wrong_init,
    .run = wrong_run,
    .stop = wrong_stop,
    .fini = wrong_stop,
};

const tierd_connector *tierd_connector_entry(void)
{
    return &wrong;
}
