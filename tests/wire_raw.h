/* Raw protobuf wire bytes for hostile-input tests and benches: what
 * protobuf-c will not write (NUL bytes inside strings, fields of any
 * number and size), so the daemon's own reader can be fed them. */
#ifndef TD_TESTS_WIRE_RAW_H
#define TD_TESTS_WIRE_RAW_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* A base-128 varint at p; returns its length. */
static inline size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* A length-delimited field with exactly these bytes, NULs included; data
 * may overlap p (memmove). Returns the field's length. */
static inline size_t put_bytes(uint8_t *p, unsigned field, const void *data, size_t len)
{
    size_t n = put_varint(p, (uint64_t)field << 3 | 2);
    n += put_varint(p + n, len);
    if (len)
        memmove(p + n, data, len);
    return n + len;
}

#endif
