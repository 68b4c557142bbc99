/* Static files for the pages (static_files.h). MHD hands the path already
 * percent-decoded, so "%2e%2e" arrives as ".." and is refused like it. */
#include "static_files.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>

#define MAX_STATIC_PATH 1024

static const struct {
    const char *ext, *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".jpg", "image/jpeg"},
    {".ico", "image/x-icon"},
    {".txt", "text/plain; charset=utf-8"},
    {".woff2", "font/woff2"},
    {".webmanifest", "application/manifest+json"},
    {".map", "application/json; charset=utf-8"},
};

const char *static_content_type(const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
        size_t e = strlen(types[i].ext);
        if (n > e && strcasecmp(name + n - e, types[i].ext) == 0)
            return types[i].type;
    }
    return "application/octet-stream";
}

/* Every segment a plain name: no "", ".", "..", no backslash, no control
 * bytes. The trailing "/" of a directory-looking path is refused too. */
static bool clean_path(const char *rel)
{
    if (!*rel)
        return false;
    const char *p = rel;
    while (*p) {
        size_t n = strcspn(p, "/");
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)p[i] < 0x20 || p[i] == '\\' || p[i] == 0x7f)
                return false;
        p += n;
        if (*p == '/')
            p++;
        if (*p == 0 && p[-1] == '/')
            return false;
    }
    return true;
}

/* Opens DIR/rel when it resolves (symlinks included) to a regular file
 * inside DIR; -1 with errno otherwise (EXDEV: outside). */
static int open_inside(const char *dir, const char *rel, struct stat *st)
{
    char root[PATH_MAX], want[PATH_MAX * 2], real[PATH_MAX];
    if (!realpath(dir, root))
        return -1;
    if ((size_t)snprintf(want, sizeof want, "%s/%s", root, rel) >= sizeof want) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (!realpath(want, real))
        return -1;
    size_t rl = strlen(root);
    if (strncmp(real, root, rl) != 0 || real[rl] != '/') {
        errno = EXDEV;
        return -1;
    }
    int fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        close(fd);
        errno = EISDIR;
        return -1;
    }
    return fd;
}

struct MHD_Response *static_file_response(const char *dir, const char *path, unsigned *status,
                                          char *why, size_t why_n)
{
    if (path[0] != '/' || strlen(path) > MAX_STATIC_PATH || !clean_path(path + 1)) {
        if (strcmp(path, "/") != 0) {
            *status = MHD_HTTP_NOT_FOUND;
            snprintf(why, why_n, "no page %.200s", path);
            return NULL;
        }
    }
    char rel[MAX_STATIC_PATH + 16];
    if (strcmp(path, "/") == 0)
        snprintf(rel, sizeof rel, "partner.html");
    else
        snprintf(rel, sizeof rel, "%s", path + 1);
    struct stat st;
    int fd = open_inside(dir, rel, &st);
    /* "/partner" -> partner.html: pages have extension-less addresses */
    if (fd < 0 && !strchr(strrchr(rel, '/') ? strrchr(rel, '/') : rel, '.')) {
        strncat(rel, ".html", sizeof rel - strlen(rel) - 1);
        fd = open_inside(dir, rel, &st);
    }
    if (fd < 0) {
        *status = MHD_HTTP_NOT_FOUND;
        snprintf(why, why_n, "no page %.200s", path);
        return NULL;
    }
    struct MHD_Response *resp = MHD_create_response_from_fd64((uint64_t)st.st_size, fd);
    if (!resp) {
        close(fd);
        *status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        snprintf(why, why_n, "cannot serve %.200s", path);
        return NULL;
    }
    MHD_add_response_header(resp, "Content-Type", static_content_type(rel));
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    return resp;
}
