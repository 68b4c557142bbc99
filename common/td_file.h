/* Reading a whole file into memory: the one reader for the daemon's
 * config, its program file and tierctl's program and import files.
 *
 * Promises a NUL-terminated buffer of at most max bytes (the terminator
 * not counted), grown as it reads so a small file costs little, and an
 * error that names the file and says why: it cannot be opened (NOT_FOUND),
 * it cannot be read or is larger than max (INVALID_ARGUMENT), memory ran
 * out (RESOURCE_EXHAUSTED). It does not judge the content (NUL bytes, text
 * rules): the caller's parser does.
 *
 * In common/, the part that does I/O: the daemon, tierctl and the tests
 * use it, the engine never does (tests/unit/test_engine_layers.sh). */
#ifndef TD_FILE_H
#define TD_FILE_H

#include <stddef.h>
#include <stdio.h>

#include "tierd/status.h"

/* The whole of path in *out (free it) and its length in *len: 0, or
 * -code with err saying "PATH: why". "-" is a file name like any other. */
int td_file_read(const char *path, size_t max, char **out, size_t *len, td_error *err);
/* The same from an open stream (standard input), named name in errors;
 * the stream stays open. */
int td_file_read_stream(FILE *f, const char *name, size_t max, char **out, size_t *len,
                        td_error *err);

#endif
