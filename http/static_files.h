/* The pages' files (B's http/www): only regular files inside the static
 * dir, never through a symlink that leads out of it, never a path with a
 * `..` or `.` segment, a backslash or a NUL; Content-Type by extension. */
#ifndef TD_HTTP_STATIC_FILES_H
#define TD_HTTP_STATIC_FILES_H

#include <stddef.h>

struct MHD_Response;

/* A response for url path ("/" -> partner.html, "/partner" -> partner.html
 * when that exists, "/static/app.js" -> DIR/static/app.js), or NULL with
 * *status (404, 400, 403) and why. */
struct MHD_Response *static_file_response(const char *dir, const char *path, unsigned *status,
                                          char *why, size_t why_n);
/* The Content-Type for a file name. */
const char *static_content_type(const char *name);

#endif
