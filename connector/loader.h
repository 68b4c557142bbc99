/* Loading a connector plugin safely: where from, whose files, which ABI.
 *
 * Used by the tierd-connector host process (never by the daemon itself, which
 * must not map plugin code) and by the tests. */
#ifndef TD_CONNECTOR_LOADER_H
#define TD_CONNECTOR_LOADER_H

#include <stdbool.h>
#include <stddef.h>

#include "tierd/plugin.h"
#include "tierd/status.h"

#define LOADER_SUFFIX      ".so"
#define LOADER_PATH_MAX    4096
#define LOADER_FD_PATH_FMT "/proc/self/fd/%d"

typedef struct loader_plugin {
    void *handle; /* from dlopen */
    const tierd_connector *desc;
    uint32_t abi;                      /* desc->abi_version */
    bool is_source;                    /* has init, run, stop and fini */
    const tierd_sink *sink;            /* its sink direction; NULL for none (always for ABI 1) */
    char path[LOADER_PATH_MAX];        /* plugin_dir/name.so, for messages */
    char loaded_from[LOADER_PATH_MAX]; /* what dlopen was given */
} loader_plugin;

/* Resolves `plugin` (a bare name such as "postgres" or "postgres.so", no
 * slashes) inside dir and checks that it is a regular file and not a
 * symbolic link, that neither dir nor the file is writable by group or
 * others and that both belong to root or to us. Writes the file's path into
 * path. */
int loader_resolve(const char *dir, const char *plugin, char *path, size_t n, td_error *err);

/* loader_resolve's checks made on an open file, then dlopen of that very
 * file (through /proc/self/fd/N, so /proc must be mounted), find
 * TIERD_CONNECTOR_ENTRY_SYMBOL and check the plugin's descriptor: its ABI
 * version must be one we load (TIERD_PLUGIN_ABI_VERSION_MIN to
 * TIERD_PLUGIN_ABI_VERSION; the message names both) and it must offer a
 * direction whole: all four source callbacks, or (ABI 2) a sink with open,
 * receive and close, or both. An ABI 1 plugin is a source. */
int loader_open(const char *dir, const char *plugin, loader_plugin *out, td_error *err);
void loader_close(loader_plugin *p);

#endif
