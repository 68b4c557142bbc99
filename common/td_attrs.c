/* Partner attribute rules (td_attrs.h).
 *
 * Owns the count limit, the key rule and the value rule, and the words a
 * refusal uses. Does not store or compare maps: the engine's attrs.c
 * interns them. */
#include "td_attrs.h"

#include <string.h>

#include "text.h"

static const char *text_fault_name(td_text_fault f)
{
    switch (f) {
    case TD_TEXT_EMPTY:
        return "is empty";
    case TD_TEXT_TOO_LONG:
        return "is too long";
    case TD_TEXT_MALFORMED:
        return "is not well-formed UTF-8";
    case TD_TEXT_CONTROL:
        return "holds a control character";
    default:
        return "is fine";
    }
}

bool attr_key_ok(const char *k)
{
    size_t n = k ? strnlen(k, TD_MAX_ATTR_KEY + 1) : 0;
    if (n == 0 || n > TD_MAX_ATTR_KEY)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = k[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

int attrs_check(const td_attr *attrs, size_t n, td_error *err)
{
    if (n > TD_MAX_ATTRS)
        return td_error_set(err, TD_INVALID_ARGUMENT, "%zu attributes, at most %d", n,
                            TD_MAX_ATTRS);
    for (size_t i = 0; i < n; i++) {
        const char *k = attrs[i].key;
        if (!attr_key_ok(k))
            return td_error_set(err, TD_INVALID_ARGUMENT,
                                "attribute %zu: key must be 1..%d bytes of letters, digits, "
                                "'_', '.' and '-'",
                                i + 1, TD_MAX_ATTR_KEY);
        td_text_fault f = td_text_check(attrs[i].value, TD_MAX_ATTR_VALUE, NULL);
        if (f != TD_TEXT_OK)
            return td_error_set(err, TD_INVALID_ARGUMENT,
                                "attribute '%s': value %s (values are 1..%d bytes of UTF-8 "
                                "without control characters)",
                                k, text_fault_name(f), TD_MAX_ATTR_VALUE);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(attrs[j].key, k))
                return td_error_set(err, TD_INVALID_ARGUMENT, "attribute '%s' given twice", k);
    }
    return 0;
}
