/* The engine's state: struct engine, what every engine operation reads and
 * changes, and the bookkeeping engine.c keeps on it (the partner map, the
 * id-sorted list, the list of partners changed since the caller last wrote
 * them, the registries of event names and partner types).
 *
 * Private to daemon/engine, plus white-box code that reads what the
 * engine holds: tests/unit/test_oracle.c and bench/engine.c. The daemon
 * uses engine.h.
 *
 * Place in the engine's line (tests/unit/test_engine_layers.sh): above
 * eng_prog, names, pmap and partner; codec and every operation above it
 * use it. */
#ifndef TD_ENGINE_STATE_H
#define TD_ENGINE_STATE_H

#include <stdbool.h>
#include <stddef.h>

#include "eng_prog.h"
#include "engine.h"
#include "names.h"
#include "partner.h"
#include "pmap.h"

struct engine {
    program *prog;
    eng_prog cp;
    name_table events; /* registry of event names; indices never change */
    name_table types;  /* partner types, interned: thousands of partners share a few */
    attr_table attrs;  /* partner attribute maps, interned and counted (attrs.h) */
    pmap map;
    /* The id-sorted view; inserts in id order (a restore walks the store
     * in id order) extend it, anything else marks it stale (dirty). */
    td_partner **sorted;
    size_t n_sorted, sorted_cap;
    /* Moves whenever the approval queue may have changed (a tier queued
     * or taken off, a partner placed, deleted or leaving a ladder, a
     * program applied), so a count of it is redone only then. */
    uint64_t queue_generation;
    bool dirty;
    td_time version_effective; /* when the version in force took effect (grandfathering) */
    program *scheduled;        /* one version waiting for its `effective`, or NULL */
    td_time scheduled_at;
    /* Partners changed since engine_touched_take: what the caller must
     * write. touched_lost: one could not be listed (out of memory), so the
     * caller cannot know them all and must treat the turn as failed. */
    td_partner **touched;
    size_t n_touched, cap_touched;
    bool touched_lost;
};

/* Lists p as changed (see engine_touched_take). Every function that changes
 * what engine_partner_encode would write calls it. */
void engine_touch(engine *e, td_partner *p);
/* Adds p, replacing (and destroying) a partner with the same id. -1 on OOM
 * with nothing changed. */
int engine_partner_insert(engine *e, td_partner *p);
/* Takes p out of the map and the changed list, and frees it. */
void engine_partner_remove(engine *e, td_partner *p);
/* The id-sorted partner array (e->sorted), rebuilt when stale; -1 on OOM. */
int engine_sorted_rebuild(engine *e);
/* The first index of the current sorted view whose id sorts after `after`
 * (NULL: 0): where a page that continues after `after` starts. */
size_t engine_sorted_after(const engine *e, const char *after);
/* The engine's copy of a partner type name; NULL on OOM. */
char *engine_type_intern(engine *e, const char *name);

#endif
