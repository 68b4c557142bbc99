/* The one error type of tierd: a status code (gRPC's numbers, the same as
 * `enum Status` in proto/tierd.proto) and a message saying where, what and
 * why. Every layer — engine, store, server, client — reports failure through
 * it. Self-contained on purpose: the engine and plugins include it too. */
#ifndef TIERD_STATUS_H
#define TIERD_STATUS_H

#include <stdarg.h>
#include <stddef.h>

typedef enum td_code {
    TD_OK = 0,
    TD_CANCELLED = 1,
    TD_UNKNOWN = 2,
    TD_INVALID_ARGUMENT = 3,
    TD_DEADLINE_EXCEEDED = 4,
    TD_NOT_FOUND = 5,
    TD_ALREADY_EXISTS = 6,
    TD_PERMISSION_DENIED = 7,
    TD_RESOURCE_EXHAUSTED = 8,
    TD_FAILED_PRECONDITION = 9,
    TD_ABORTED = 10,
    TD_OUT_OF_RANGE = 11,
    TD_UNIMPLEMENTED = 12,
    TD_INTERNAL = 13,
    TD_UNAVAILABLE = 14,
    TD_DATA_LOSS = 15,
    TD_UNAUTHENTICATED = 16,
} td_code;

#define TD_ERROR_MAX 512

typedef struct td_error {
    td_code code;
    char message[TD_ERROR_MAX];
} td_error;

/* Sets *err (when err is not NULL) and returns -(int)code, so callers can
 * write `return td_error_set(err, TD_NOT_FOUND, "partner %s", id);`. */
int td_error_set(td_error *err, td_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int td_error_vset(td_error *err, td_code code, const char *fmt, va_list ap);

/* Clears *err to TD_OK with an empty message. */
void td_error_clear(td_error *err);

/* Prefixes the message already in *err with "prefix: " (for context such as
 * "event 3"). Keeps the code. */
void td_error_prefix(td_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "INVALID_ARGUMENT", "NOT_FOUND", ...; "UNKNOWN" for codes out of range. */
const char *td_code_name(td_code code);

#endif
