/* Plugin loading for the connector host.
 *
 * Owns the rules for which shared objects may be mapped: only files directly
 * inside the configured plugin directory, never through a symbolic link,
 * only when the directory and the file are not writable by group or others
 * and belong to root or to the user we run as (otherwise anyone with that
 * write access could run code as tierd), and only plugins built for an ABI
 * version we load (1 or 2). The checks are made on open descriptors and the plugin is mapped
 * through the checked descriptor, so nothing can be swapped in between. It
 * does not run the plugin; connector/main.c does. */
#include "loader.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
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

/* Opens plugin inside dir without following a symlink and checks the open
 * descriptors, so what is checked is what gets loaded. Returns the file's
 * descriptor (O_CLOEXEC), or a negative td_code. */
static int open_checked(const char *dir, const char *plugin, char *path, size_t n, td_error *err)
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
    const char *base = path + strlen(dir) + 1;

    /* The directory itself is the operator's choice and may be reached
     * through a link; what it holds may not. */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return td_error_set(err, TD_FAILED_PRECONDITION, "plugin_dir %s: %s", dir,
                            errno == ENOTDIR ? "not a directory" : strerror(errno));
    struct stat st;
    int rc = fstat(dfd, &st) != 0 ? td_error_set(err, TD_FAILED_PRECONDITION, "plugin_dir %s: %s",
                                                 dir, strerror(errno))
                                  : check_owner_mode("plugin_dir", dir, &st, err);
    if (rc) {
        close(dfd);
        return rc;
    }
    /* O_NONBLOCK: a FIFO planted under the plugin's name must not block the
     * open; it is refused below as not a regular file. */
    int fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    int open_errno = errno;
    close(dfd);
    if (fd < 0) {
        if (open_errno == ELOOP)
            return td_error_set(err, TD_PERMISSION_DENIED,
                                "plugin %s is a symbolic link; refusing to follow it (copy the "
                                "plugin itself into plugin_dir)",
                                path);
        return td_error_set(err, open_errno == ENOENT ? TD_NOT_FOUND : TD_FAILED_PRECONDITION,
                            "plugin %s: %s", path, strerror(open_errno));
    }
    if (fstat(fd, &st) != 0)
        rc = td_error_set(err, TD_FAILED_PRECONDITION, "plugin %s: %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        rc = td_error_set(err, TD_FAILED_PRECONDITION, "plugin %s is not a regular file", path);
    else
        rc = check_owner_mode("plugin", path, &st, err);
    if (rc) {
        close(fd);
        return rc;
    }
    return fd;
}

int loader_resolve(const char *dir, const char *plugin, char *path, size_t n, td_error *err)
{
    int fd = open_checked(dir, plugin, path, n, err);
    if (fd < 0)
        return fd;
    close(fd);
    return 0;
}

int loader_open(const char *dir, const char *plugin, loader_plugin *out, td_error *err)
{
    memset(out, 0, sizeof *out);
    int fd = open_checked(dir, plugin, out->path, sizeof out->path, err);
    if (fd < 0)
        return fd;
    /* dlopen takes a path, so give it the descriptor's own: the kernel
     * resolves /proc/self/fd/N to the very file checked above, whatever has
     * been renamed or linked into plugin_dir since. */
    snprintf(out->loaded_from, sizeof out->loaded_from, LOADER_FD_PATH_FMT, fd);
    /* RTLD_LOCAL keeps one plugin's symbols from satisfying another's. */
    out->handle = dlopen(out->loaded_from, RTLD_NOW | RTLD_LOCAL);
    close(fd);
    int rc;
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
    if (d->abi_version < TIERD_PLUGIN_ABI_VERSION_MIN ||
        d->abi_version > TIERD_PLUGIN_ABI_VERSION) {
        rc = td_error_set(err, TD_FAILED_PRECONDITION,
                          "plugin %s was built for connector ABI version %u, but this "
                          "tierd-connector speaks ABI version %u (and loads versions %u to %u); "
                          "rebuild the plugin against this tierd's tierd/plugin.h",
                          out->path, (unsigned)d->abi_version, (unsigned)TIERD_PLUGIN_ABI_VERSION,
                          (unsigned)TIERD_PLUGIN_ABI_VERSION_MIN,
                          (unsigned)TIERD_PLUGIN_ABI_VERSION);
        goto fail;
    }
    /* An ABI 1 descriptor ends before `sink`: reading it would read past
     * the plugin's object. */
    const tierd_sink *sink = d->abi_version >= 2 ? d->sink : NULL;
    bool any_source = d->init || d->run || d->stop || d->fini;
    bool source = d->init && d->run && d->stop && d->fini;
    if (!d->name || !d->version || (any_source && !source) || (d->abi_version < 2 && !source)) {
        rc = td_error_set(err, TD_FAILED_PRECONDITION,
                          "plugin %s: descriptor lacks a name, version or callback", out->path);
        goto fail;
    }
    if (sink && (!sink->open || !sink->receive || !sink->close)) {
        rc = td_error_set(err, TD_FAILED_PRECONDITION,
                          "plugin %s: its sink lacks open, receive or close", out->path);
        goto fail;
    }
    if (!source && !sink) {
        rc = td_error_set(err, TD_FAILED_PRECONDITION,
                          "plugin %s: descriptor offers neither a source nor a sink", out->path);
        goto fail;
    }
    out->abi = d->abi_version;
    out->is_source = source;
    out->sink = sink;
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
