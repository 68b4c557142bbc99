/* The text rule (text.h). Self-contained: the one check every id, name,
 * key and note passes before tierd keeps, quotes or forwards it.
 *
 * In common/, below everything: uses only the C library. */
#include "text.h"

#include <stdint.h>
#include <string.h>

/* The smallest code point each UTF-8 length may encode: anything below is
 * an overlong form. */
static const uint32_t min_for_len[5] = {0, 0, 0x80, 0x800, 0x10000};

bool td_text_ok(const char *s, size_t max)
{
    if (!s || !*s)
        return false;
    /* Fast path: printable ASCII, the shape of nearly every id. */
    size_t i = 0;
    for (; s[i] >= 0x20 && s[i] < 0x7F; i++)
        if (i == max)
            return false;
    if (!s[i])
        return true;
    if (strnlen(s, max + 1) > max)
        return false;
    const unsigned char *u = (const unsigned char *)s;
    while (*u) {
        uint32_t c;
        int n;
        if (*u < 0x80) {
            c = *u;
            n = 1;
        } else if ((*u & 0xE0) == 0xC0) {
            c = *u & 0x1F;
            n = 2;
        } else if ((*u & 0xF0) == 0xE0) {
            c = *u & 0x0F;
            n = 3;
        } else if ((*u & 0xF8) == 0xF0) {
            c = *u & 0x07;
            n = 4;
        } else {
            return false;
        }
        for (int i = 1; i < n; i++) {
            if ((u[i] & 0xC0) != 0x80)
                return false;
            c = (c << 6) | (u[i] & 0x3F);
        }
        if (c < min_for_len[n] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return false;
        if (c < 0x20 || c == 0x7F || (c >= 0x80 && c <= 0x9F))
            return false;
        u += n;
    }
    return true;
}
