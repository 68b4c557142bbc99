/* The input format of fuzz_rpc, shared with make_seeds so seeds and target
 * agree byte for byte.
 *
 *   byte 0 == FUZZ_RPC_RAW: the rest is one Envelope, as it came off the
 *     socket, run with tokens configured.
 *   otherwise: up to FUZZ_RPC_MAX_CALLS calls, each
 *     u8 method (index into TierService's methods, modulo their number)
 *     u8 auth   (FUZZ_AUTH_*, modulo FUZZ_AUTH_COUNT)
 *     u16 little-endian payload length (cut to what is left)
 *     payload bytes (the method's request message)
 *   Byte 0 of this form is ignored beyond not being FUZZ_RPC_RAW.
 *
 * Deriving the method from a byte reaches every method with any payload;
 * the length prefix lets one input chain calls (upsert, then ingest, then
 * approve) the way a client does within one loop turn. */
#ifndef TD_FUZZ_RPC_INPUT_H
#define TD_FUZZ_RPC_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define FUZZ_RPC_RAW       0xff
#define FUZZ_RPC_SEQUENCE  0x00
#define FUZZ_RPC_MAX_CALLS 8
#define FUZZ_RPC_HEADER    4

typedef enum fuzz_auth {
    FUZZ_AUTH_NO_TOKENS, /* no tokens configured: the ipc socket, admin */
    FUZZ_AUTH_READ,      /* tokens configured, the read token */
    FUZZ_AUTH_WRITE,
    FUZZ_AUTH_ADMIN,
    FUZZ_AUTH_MISSING, /* tokens configured, none sent */
    FUZZ_AUTH_WRONG,   /* tokens configured, an unknown one sent */
    FUZZ_AUTH_COUNT
} fuzz_auth;

/* The configured tokens: name, secret, role (see rpc.h). */
#define FUZZ_TOKEN_READ  "fuzz-read-secret-0123456789"
#define FUZZ_TOKEN_WRITE "fuzz-write-secret-0123456789"
#define FUZZ_TOKEN_ADMIN "fuzz-admin-secret-0123456789"
#define FUZZ_TOKEN_WRONG "fuzz-admin-secret-012345678"

/* Appends one call at buf + *len (buf must have room for FUZZ_RPC_HEADER +
 * plen more bytes); plen is at most UINT16_MAX. */
static inline void fuzz_rpc_append(uint8_t *buf, size_t *len, unsigned method, fuzz_auth auth,
                                   const uint8_t *payload, size_t plen)
{
    uint8_t *p = buf + *len;
    p[0] = (uint8_t)method;
    p[1] = (uint8_t)auth;
    p[2] = (uint8_t)(plen & 0xff);
    p[3] = (uint8_t)(plen >> 8);
    if (plen)
        memcpy(p + FUZZ_RPC_HEADER, payload, plen);
    *len += FUZZ_RPC_HEADER + plen;
}

#endif
