/* td_error: the one error type (see include/tierd/status.h).
 *
 * In common/, below everything: uses only the C library; the engine, the
 * daemon, the client, the connector host and every plugin report through
 * it. */
#include "tierd/status.h"

#include <stdio.h>
#include <string.h>

int td_error_vset(td_error *err, td_code code, const char *fmt, va_list ap)
{
    if (err) {
        err->code = code;
        vsnprintf(err->message, sizeof err->message, fmt, ap);
    }
    return -(int)code;
}

int td_error_set(td_error *err, td_code code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = td_error_vset(err, code, fmt, ap);
    va_end(ap);
    return rc;
}

void td_error_clear(td_error *err)
{
    if (err) {
        err->code = TD_OK;
        err->message[0] = '\0';
    }
}

void td_error_prefix(td_error *err, const char *fmt, ...)
{
    if (!err)
        return;
    char prefix[TD_ERROR_MAX];
    char old[TD_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->message, sizeof old);
    /* Truncation is acceptable: the message stays NUL-terminated. */
    size_t n = strlen(prefix);
    if (n > sizeof err->message - 3)
        n = sizeof err->message - 3;
    memcpy(err->message, prefix, n);
    memcpy(err->message + n, ": ", 2);
    size_t room = sizeof err->message - n - 3;
    size_t m = strnlen(old, room);
    memcpy(err->message + n + 2, old, m);
    err->message[n + 2 + m] = '\0';
}

static const char *const code_names[] = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

const char *td_code_name(td_code code)
{
    if ((unsigned)code >= sizeof code_names / sizeof code_names[0])
        return "UNKNOWN";
    return code_names[code];
}
