/* The one text rule for every string tierd takes from outside: ids,
 * names, partner types, keys, actors, reasons, cursors and file names, in
 * the engine, in the RPC handlers and in the connector host alike, so no
 * layer accepts what another refuses.
 *
 * td_text_ok accepts 1..max bytes of well-formed UTF-8 (shortest form, no
 * surrogates, nothing above U+10FFFF) with no control character: none of
 * C0 (below 0x20), DEL (0x7F) or C1 (U+0080..U+009F), since any of them
 * can rewrite a terminal or a log line that prints the string.
 * td_text_check applies the same rule and says what broke it and where;
 * td_utf8_seq is its decoder, for readers that walk text themselves (the
 * log's escaper, the YAML reader's line:column scan).
 *
 * In common/, below everything: uses only the C library. */
#ifndef TD_TEXT_H
#define TD_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum td_text_fault {
    TD_TEXT_OK = 0,
    TD_TEXT_EMPTY,     /* NULL or "" */
    TD_TEXT_TOO_LONG,  /* more than max bytes */
    TD_TEXT_MALFORMED, /* not well-formed UTF-8 */
    TD_TEXT_CONTROL,   /* a C0, DEL or C1 control character */
} td_text_fault;

/* Whether s follows the rule, in at most max bytes. */
bool td_text_ok(const char *s, size_t max);
/* What breaks the rule first in s; *at (when not NULL) gets the byte
 * offset of the malformed sequence or control character. */
td_text_fault td_text_check(const char *s, size_t max, size_t *at);

/* The length (1..4) of the well-formed UTF-8 sequence at s, which has
 * avail bytes, and its code point in *cp; 0 when it is malformed
 * (overlong, a surrogate, above U+10FFFF, cut short). */
size_t td_utf8_seq(const unsigned char *s, size_t avail, uint32_t *cp);
/* Whether code point cp is a control character: C0, DEL or C1. */
bool td_text_control(uint32_t cp);

#endif
