/* pmap: the engine's map from partner id to partner.
 *
 * Open addressing with linear probing and backward-shift deletion, so
 * there are no tombstones and lookups stay short after many deletes. Keys
 * are borrowed from the values (the partner owns its id); the map owns
 * only its slot array. Walk it with PMAP_FOREACH, in slot order: an order
 * that depends on the ids and the map's history, never on anything else.
 *
 * Place in the engine's line (tests/unit/test_engine_layers.sh): above
 * partner and hash; the engine's state holds one. */
#ifndef TD_PMAP_H
#define TD_PMAP_H

#include <stddef.h>
#include <stdint.h>

#include "partner.h"

typedef struct pmap_slot {
    uint64_t hash; /* 0: empty */
    td_partner *p;
} pmap_slot;

typedef struct pmap {
    pmap_slot *slots;
    size_t cap; /* power of two, or 0 */
    size_t n;
} pmap;

td_partner *pmap_get(const pmap *m, const char *key);
/* Inserts or replaces; returns the replaced value or NULL. -1 via *oom. */
td_partner *pmap_put(pmap *m, td_partner *p, int *oom);
td_partner *pmap_del(pmap *m, const char *key);
void pmap_free(pmap *m);

/* The partner in slot i (i < m->cap), or NULL for an empty slot: for the
 * one walk that needs the slot index (evaluate.c prefetches ahead). */
static inline td_partner *pmap_at(const pmap *m, size_t i)
{
    return m->slots[i].hash ? m->slots[i].p : NULL;
}

/* Runs the statement that follows once per partner, in slot order, with p
 * (a td_partner * or const td_partner * the caller declares) set to it:
 *     PMAP_FOREACH(&e->map, p) count += p->events;
 * `break` and `continue` act on the walk. The map must not change inside. */
#define PMAP_FOREACH(m, p)                                                                         \
    for (size_t pmap_i_ = 0; pmap_i_ < (m)->cap; pmap_i_++)                                        \
        if (((p) = pmap_at((m), pmap_i_)) == NULL) {                                               \
        } else

#endif
