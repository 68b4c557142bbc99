/* HMAC-SHA256 over timestamp "." body (webhook_sign.h). The message is fed
 * to libcrypto in three pieces so the body is never copied. */
#include "webhook_sign.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#define SHA256_BYTES 32

int webhook_sign(const char *secret, int64_t timestamp, const char *body, size_t len, char *out)
{
    char ts[32];
    int n = snprintf(ts, sizeof ts, "%" PRId64 ".", timestamp);
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t mac_len = 0;
    EVP_MAC *alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = alg ? EVP_MAC_CTX_new(alg) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", "SHA256", 0),
                           OSSL_PARAM_construct_end()};
    int ok = ctx && EVP_MAC_init(ctx, (const unsigned char *)secret, strlen(secret), params) &&
             EVP_MAC_update(ctx, (const unsigned char *)ts, (size_t)n) &&
             EVP_MAC_update(ctx, (const unsigned char *)body, len) &&
             EVP_MAC_final(ctx, mac, &mac_len, sizeof mac) && mac_len == SHA256_BYTES;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(alg);
    if (!ok)
        return -1;
    static const char hex[] = "0123456789abcdef";
    memcpy(out, WEBHOOK_SIG_PREFIX, 3);
    for (size_t i = 0; i < SHA256_BYTES; i++) {
        out[3 + 2 * i] = hex[mac[i] >> 4];
        out[3 + 2 * i + 1] = hex[mac[i] & 15];
    }
    out[3 + 2 * SHA256_BYTES] = 0;
    return 0;
}
