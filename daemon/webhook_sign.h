/* The webhook signature (docs/webhooks.md, "Verifying"): the header value
 * "v1=" + lowercase hex HMAC-SHA256(secret, timestamp "." body), computed
 * with OpenSSL's libcrypto. The receiver example and the tests verify with
 * the same function or with `openssl dgst`. */
#ifndef TD_WEBHOOK_SIGN_H
#define TD_WEBHOOK_SIGN_H

#include <stddef.h>
#include <stdint.h>

#define WEBHOOK_SIG_PREFIX "v1="
/* "v1=" + 64 hex digits + NUL */
#define WEBHOOK_SIG_LEN (3 + 64 + 1)

/* Writes the signature of (timestamp, body) under secret into out (at least
 * WEBHOOK_SIG_LEN bytes); 0, or -1 when libcrypto fails. */
int webhook_sign(const char *secret, int64_t timestamp, const char *body, size_t len, char *out);

#endif
