/* The text rule for every string the engine keeps from outside: ids,
 * names, partner types, keys, actors and reasons.
 *
 * td_text_ok accepts 1..max bytes of well-formed UTF-8 (shortest form, no
 * surrogates, nothing above U+10FFFF) with no control character: none of
 * C0 (below 0x20), DEL (0x7F) or C1 (U+0080..U+009F), since any of them
 * can rewrite a terminal or a log line that prints the string.
 *
 * In common/, below everything: uses only the C library. */
#ifndef TD_TEXT_H
#define TD_TEXT_H

#include <stdbool.h>
#include <stddef.h>

bool td_text_ok(const char *s, size_t max);

#endif
