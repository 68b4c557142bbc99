/* A connector that dies of SIGSEGV as soon as it is initialised: the
 * supervisor must keep the daemon up and restart it with back-off. */
#include <signal.h>

#include "tierd/plugin.h"

static int crash_init(const tierd_host_api *api, tierd_host *h, void **state, td_error *err)
{
    (void)api;
    (void)h;
    (void)state;
    (void)err;
    /* A sanitizer's SEGV handler would turn the crash into an exit status;
     * the supervisor must see a real death by signal. */
    signal(SIGSEGV, SIG_DFL);
    raise(SIGSEGV);
    return 0;
}

static int crash_run(void *state, td_error *err)
{
    (void)state;
    (void)err;
    return 0;
}

static void crash_stop(void *state)
{
    (void)state;
}

static const tierd_connector crash = {
    .abi_version = TIERD_PLUGIN_ABI_VERSION,
    .name = "crash_at_start",
    .version = "0",
    .init = crash_init,
    .run = crash_run,
    .stop = crash_stop,
    .fini = crash_stop,
};

const tierd_connector *tierd_connector_entry(void)
{
    return &crash;
}
