/* The text rule (text.h). Self-contained: the one check every id, name,
 * key and note passes before tierd keeps, quotes or forwards it.
 *
 * In common/, below everything: uses only the C library. */
#include "text.h"

#include <string.h>

#define UTF8_SEQ_MAX 4
#define UNICODE_MAX  0x10FFFF

/* The smallest code point each UTF-8 length may encode: anything below is
 * an overlong form. */
static const uint32_t min_for_len[UTF8_SEQ_MAX + 1] = {0, 0, 0x80, 0x800, 0x10000};

size_t td_utf8_seq(const unsigned char *s, size_t avail, uint32_t *cp)
{
    if (avail == 0)
        return 0;
    uint32_t c;
    size_t n;
    if (*s < 0x80) {
        *cp = *s;
        return 1;
    } else if ((*s & 0xE0) == 0xC0) {
        c = *s & 0x1F;
        n = 2;
    } else if ((*s & 0xF0) == 0xE0) {
        c = *s & 0x0F;
        n = 3;
    } else if ((*s & 0xF8) == 0xF0) {
        c = *s & 0x07;
        n = 4;
    } else {
        return 0;
    }
    if (avail < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min_for_len[n] || c > UNICODE_MAX || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return n;
}

bool td_text_control(uint32_t cp)
{
    return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F);
}

td_text_fault td_text_check(const char *s, size_t max, size_t *at)
{
    if (!s || !*s)
        return TD_TEXT_EMPTY;
    size_t len = strnlen(s, max + 1);
    if (len > max)
        return TD_TEXT_TOO_LONG;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = td_utf8_seq(u + i, len - i, &cp);
        if (n == 0 || td_text_control(cp)) {
            if (at)
                *at = i;
            return n == 0 ? TD_TEXT_MALFORMED : TD_TEXT_CONTROL;
        }
        i += n;
    }
    return TD_TEXT_OK;
}

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
    return td_text_check(s, max, NULL) == TD_TEXT_OK;
}
