/* The whole-file reader (td_file.h). In common/'s I/O part: stdio only. */
#include "td_file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define TD_FILE_FIRST_CHUNK 4096

int td_file_read_stream(FILE *f, const char *name, size_t max, char **out, size_t *len,
                        td_error *err)
{
    *out = NULL;
    *len = 0;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 1 >= cap) {
            /* max + 1 bytes tell "larger than max" from "exactly max"; one
             * more holds the terminator. */
            size_t grown = cap ? cap * 2 : TD_FILE_FIRST_CHUNK;
            if (grown > max + 2)
                grown = max + 2;
            char *b = realloc(buf, grown);
            if (!b) {
                free(buf);
                return td_error_set(err, TD_RESOURCE_EXHAUSTED, "%s: out of memory reading it",
                                    name);
            }
            buf = b;
            cap = grown;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (n > max) {
            free(buf);
            return td_error_set(err, TD_INVALID_ARGUMENT, "%s: larger than %zu bytes", name, max);
        }
        if (got == 0) {
            if (ferror(f)) {
                int e = errno;
                free(buf);
                return td_error_set(err, TD_INVALID_ARGUMENT, "%s: read error: %s", name,
                                    strerror(e));
            }
            break;
        }
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

int td_file_read(const char *path, size_t max, char **out, size_t *len, td_error *err)
{
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return td_error_set(err, TD_NOT_FOUND, "%s: cannot open: %s", path, strerror(errno));
    int rc = td_file_read_stream(f, path, max, out, len, err);
    fclose(f);
    return rc;
}
