/* A connector that stops sending heartbeats and ignores stop: the
 * supervisor must kill it after its hang timeout. */
#include <unistd.h>

#include "tierd/plugin.h"

static int hang_init(const tierd_host_api *api, tierd_host *h, void **state, td_error *err)
{
    (void)api;
    (void)h;
    (void)state;
    (void)err;
    return 0;
}

static int hang_run(void *state, td_error *err)
{
    (void)state;
    (void)err;
    for (;;)
        pause();
    return 0;
}

static void hang_stop(void *state)
{
    (void)state;
}

static const tierd_connector hang = {
    .abi_version = TIERD_PLUGIN_ABI_VERSION,
    .name = "hang",
    .version = "0",
    .init = hang_init,
    .run = hang_run,
    .stop = hang_stop,
    .fini = hang_stop,
};

const tierd_connector *tierd_connector_entry(void)
{
    return &hang;
}
