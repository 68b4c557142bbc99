/* tierd's one string hash: 64-bit FNV-1a over a NUL-terminated string.
 *
 * Owns nothing but the function. Promises the same value on every platform
 * and every run (no seed): a hash decides only where an entry sits in a
 * table, never what is stored or reported, so stability is for the reader,
 * not for correctness. Header only, so the lookups on the hot path (the
 * partner map, the distinct-key hash) inline it.
 *
 * In common/, below everything: the engine's tables and the daemon's id
 * sets and timer queue hash with it. */
#ifndef TD_HASH_H
#define TD_HASH_H

#include <stdint.h>

#define TD_FNV1A_OFFSET 1469598103934665603ull
#define TD_FNV1A_PRIME  1099511628211ull

static inline uint64_t td_hash_fnv1a(const char *s)
{
    uint64_t h = TD_FNV1A_OFFSET;
    for (const unsigned char *u = (const unsigned char *)s; *u; u++) {
        h ^= *u;
        h *= TD_FNV1A_PRIME;
    }
    return h;
}

#endif
