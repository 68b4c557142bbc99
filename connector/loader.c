/* Plugin loading for the connector host.
 *
 * Owns the rules for which shared objects may be mapped: only files directly
 * inside the configured plugin directory, only when the directory and the
 * file are not writable by group or others and belong to root or to the
 * user we run as (otherwise anyone with that write access could run code as
 * tierd), and only plugins built for our ABI version. It does not run the
 * plugin; connector/main.c does. */
#include "loader.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int check_owner_mode(const char *what, const char *path, const struct stat *st,
                            td_error *err)
{
    if (st->st_mode & (S_IWGRP | S_IWOTH))
        return td_error_set(err, TD_PERMISSION_DENIED,
                            "%s %s is writable by group or others (mode %04o); refusing to "
                            "load plugins from it",
                            what, path, (unsigned)(st->st_mode & 07777));
    if (st->st_uid != 0 && st->st_uid != geteuid())
        return td_error_set(err, TD_PERMISSION_DENIED,
                            "%s %s belongs to uid %u, neither root nor us (uid %u); refusing to "
                            "load plugins from it",
                            what, path, (unsigned)st->st_uid, (unsigned)geteuid());
    return 0;
}

int loader_resolve(const char *dir, const char *plugin, char *path, size_t n, td_error *err)
{
    if (!dir || !*dir)
        return td_error_set(err, TD_FAILED_PRECONDITION, "no plugin_dir configured");
    if (!plugin || !*plugin)
        return td_error_set(err, TD_INVALID_ARGUMENT, "empty plugin name");
    if (strchr(plugin, '/') || plugin[0] == '.')
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "plugin \"%s\": must be a file name inside plugin_dir, not a path",
                            plugin);
    size_t len = strlen(plugin);
    size_t slen = strlen(LOADER_SUFFIX);
    bool has_suffix = len > slen && strcmp(plugin + len - slen, LOADER_SUFFIX) == 0;
    int w = snprintf(path, n, "%s/%s%s", dir, plugin, has_suffix ? "" : LOADER_SUFFIX);
    if (w < 0 || (size_t)w >= n)
        return td_error_set(err, TD_INVALID_ARGUMENT, "plugin path %s/%s is too long", dir, plugin);

    struct stat st;
    if (stat(dir, &st) != 0)
        return td_error_set(err, TD_FAILED_PRECONDITION, "plugin_dir %s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return td_error_set(err, TD_FAILED_PRECONDITION, "plugin_dir %s is not a directory", dir);
    int rc = check_owner_mode("plugin_dir", dir, &st, err);
    if (rc)
        return rc;
    if (stat(path, &st) != 0)
        return td_error_set(err, TD_NOT_FOUND, "plugin %s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return td_error_set(err, TD_FAILED_PRECONDITION, "plugin %s is not a regular file", path);
    return check_owner_mode("plugin", path, &st, err);
}

int loader_open(const char *dir, const char *plugin, loader_plugin *out, td_error *err)
{
    memset(out, 0, sizeof *out);
    int rc = loader_resolve(dir, plugin, out->path, sizeof out->path, err);
    if (rc)
        return rc;
    /* RTLD_LOCAL keeps one plugin's symbols from satisfying another's. */
    out->handle = dlopen(out->path, RTLD_NOW | RTLD_LOCAL);
    if (!out->handle)
        return td_error_set(err, TD_FAILED_PRECONDITION, "plugin %s: cannot load: %s", out->path,
                            dlerror());
    tierd_connector_entry_fn entry;
    /* POSIX blesses this cast from the object pointer dlsym returns. */
    *(void **)&entry = dlsym(out->handle, TIERD_CONNECTOR_ENTRY_SYMBOL);
    if (!entry) {
        rc = td_error_set(err, TD_FAILED_PRECONDITION,
                          "plugin %s: no %s symbol; is it a tierd connector?", out->path,
                          TIERD_CONNECTOR_ENTRY_SYMBOL);
        goto fail;
    }
    const tierd_connector *d = entry();
    if (!d) {
        rc = td_error_set(err, TD_FAILED_PRECONDITION, "plugin %s: %s returned no descriptor",
                          out->path, TIERD_CONNECTOR_ENTRY_SYMBOL);
        goto fail;
    }
    if (d->abi_version != TIERD_PLUGIN_ABI_VERSION) {
        rc = td_error_set(err, TD_FAILED_PRECONDITION,
                          "plugin %s was built for connector ABI version %u, but this "
                          "tierd-connector speaks ABI version %u; rebuild the plugin against "
                          "this tierd's tierd/plugin.h",
                          out->path, (unsigned)d->abi_version, (unsigned)TIERD_PLUGIN_ABI_VERSION);
        goto fail;
    }
    if (!d->name || !d->version || !d->init || !d->run || !d->stop || !d->fini) {
        rc = td_error_set(err, TD_FAILED_PRECONDITION,
                          "plugin %s: descriptor lacks a name, version or callback", out->path);
        goto fail;
    }
    out->desc = d;
    return 0;
fail:
    dlclose(out->handle);
    out->handle = NULL;
    return rc;
}

void loader_close(loader_plugin *p)
{
    if (p->handle)
        dlclose(p->handle);
    p->handle = NULL;
    p->desc = NULL;
}
