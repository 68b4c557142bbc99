/* Partner attributes (docs/events.md, "Partners"): a partner's map of
 * short string keys to string values (region, segment, size band, partner
 * manager), held as one shared, interned, immutable set.
 *
 * A million partners carry a few attributes each but few distinct maps
 * (a region times a segment times a size band), so the engine keeps each
 * distinct map once, in one allocation with its strings, sorted by key,
 * counted by the partners that hold it and freed by the last one: a
 * partner pays one pointer. A partner with no attributes holds NULL.
 *
 * Place in the engine's line (tests/unit/test_engine_layers.sh): above
 * metric and program (it reads a ladder's partner_filter); the partner
 * record and everything above it use it. */
#ifndef TD_ATTRS_H
#define TD_ATTRS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"

typedef struct attr_table attr_table;

/* One interned attribute map; never changes once made. */
typedef struct attr_set {
    attr_table *table; /* where it is interned, so the last release can unlink it */
    struct attr_set *next;
    uint64_t hash;
    uint32_t refs;
    uint32_t n;
    const char *kv[]; /* key 0, value 0, key 1, ... sorted by key; strings follow */
} attr_set;

/* The engine's set of distinct attribute maps (a chained hash). */
struct attr_table {
    attr_set **buckets;
    size_t cap, n;
};

/* attrs_check, the rules a map must follow: common/td_attrs.h. */
/* The interned set for attrs (checked by attrs_check; any order), with a
 * reference taken for the caller: NULL for none (n == 0) and on OOM
 * (*oom then true). */
attr_set *attrs_intern(attr_table *t, const td_attr *attrs, size_t n, bool *oom);
/* Takes another reference to s (may be NULL). */
attr_set *attrs_ref(attr_set *s);
/* Drops a reference; the last one frees s. NULL is fine. */
void attrs_release(attr_set *s);
/* The value s holds for key, or NULL (also for s NULL). */
const char *attrs_get(const attr_set *s, const char *key);
/* Whether s passes ladder l's partner_filter (true without one). */
bool attrs_pass_filter(const attr_set *s, const ladder_def *l);
/* Frees the table itself; every set must have been released. */
void attr_table_free(attr_table *t);

#endif
