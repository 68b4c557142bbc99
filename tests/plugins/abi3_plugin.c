/* A plugin built for ABI 3, one past the newest this host speaks: the
 * loader must refuse it, naming 3 and the host's version. Its descriptor
 * is otherwise whole, so the version is the only thing wrong with it. */
#include "tierd/plugin.h"

#define ABI3_VERSION 3

static int abi3_init(const tierd_host_api *api, tierd_host *h, void **state, td_error *err)
{
    (void)api;
    (void)h;
    (void)state;
    (void)err;
    return 0;
}

static int abi3_run(void *state, td_error *err)
{
    (void)state;
    (void)err;
    return 0;
}

static void abi3_stop(void *state)
{
    (void)state;
}

static const tierd_connector abi3 = {
    .abi_version = ABI3_VERSION,
    .name = "abi3",
    .version = "0",
    .init = abi3_init,
    .run = abi3_run,
    .stop = abi3_stop,
    .fini = abi3_stop,
};

const tierd_connector *tierd_connector_entry(void)
{
    return &abi3;
}
