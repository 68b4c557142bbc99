/* The rules for partner attributes (docs/events.md, "Partners"): how many
 * a partner may carry, what a key and a value may be. One copy, below
 * everything, so the engine, the RPC handlers and the connector host
 * refuse exactly the same maps with the same reasons.
 *
 * In common/, pure: uses only text.h and tierd/status.h. */
#ifndef TD_ATTRS_RULE_H
#define TD_ATTRS_RULE_H

#include <stdbool.h>
#include <stddef.h>

#include "tierd/status.h"

#define TD_MAX_ATTRS      32  /* attributes on one partner */
#define TD_MAX_ATTR_KEY   64  /* bytes in an attribute key: [A-Za-z0-9_.-] */
#define TD_MAX_ATTR_VALUE 256 /* bytes in an attribute value (common/text.h's rule) */

/* One partner attribute. */
typedef struct td_attr {
    const char *key;
    const char *value;
} td_attr;

/* Whether k is an attribute key: 1..TD_MAX_ATTR_KEY bytes of
 * [A-Za-z0-9_.-]. The one key rule for partner attributes, `where`
 * filters and partner_filter alike. */
bool attr_key_ok(const char *k);

/* Whether attrs (n of them) follow the rules: at most TD_MAX_ATTRS, keys
 * 1..TD_MAX_ATTR_KEY bytes of [A-Za-z0-9_.-] each given once, values
 * 1..TD_MAX_ATTR_VALUE bytes of text (common/text.h). 0, or
 * TD_INVALID_ARGUMENT with what broke which rule in err. */
int attrs_check(const td_attr *attrs, size_t n, td_error *err);

#endif
