/* Where the program version in force came from, and whether the program
 * file (--program, or `program:` in the config) needs loading again.
 *
 * A restart or SIGHUP loads the file only when its text changed since the
 * file was last loaded, so neither displaces a version loaded later over
 * RPC; an edited file is a new decision and loads. Status and the log say
 * where the version in force came from: "file PATH", "rpc (ACTOR)", or
 * "schedule (...)" for a version that took effect at its `effective`
 * instant. */
#ifndef TD_PROGRAM_SOURCE_H
#define TD_PROGRAM_SOURCE_H

#include <stdbool.h>

#include "daemon.h"
#include "tierd/status.h"

/* The actors main.c loads the program file as (recorded on the version). */
#define PROGRAM_ACTOR_STARTUP "startup"
#define PROGRAM_ACTOR_RELOAD  "sighup"

/* *loaded = whether text is what the program file last loaded. A store
 * written before tierd recorded that counts the file as loaded when its
 * exact text is any stored version (the old tierd loaded it at every
 * start, so a newer stored version was loaded after it). */
int program_file_is_loaded(tierd *d, const char *text, bool *loaded, td_error *err);

/* Records, in a turn of its own, that the file at path was loaded with
 * text: the newest stored version with exactly that text, and the path. */
int program_file_record(tierd *d, const char *path, const char *text, td_error *err);

/* Where the version in force came from; "" when none is. The text lives in
 * d (rebuilt only when the version in force or the record changes, so
 * Status stays cheap) until the next call. */
const char *program_source(tierd *d);

#endif
