/* An open-addressing map from partner id to partner, private to the engine.
 * Linear probing with backward-shift deletion, so there are no tombstones
 * and lookups stay short after many deletes. Keys are borrowed from the
 * values (the partner owns its id). */
#ifndef TD_HASHMAP_H
#define TD_HASHMAP_H

#include <stddef.h>
#include <stdint.h>

struct td_partner;

typedef struct pmap_slot {
    uint64_t hash; /* 0: empty */
    struct td_partner *p;
} pmap_slot;

typedef struct pmap {
    pmap_slot *slots;
    size_t cap; /* power of two, or 0 */
    size_t n;
} pmap;

uint64_t pmap_hash(const char *key);
struct td_partner *pmap_get(const pmap *m, const char *key);
/* Inserts or replaces; returns the replaced value or NULL. -1 via *oom. */
struct td_partner *pmap_put(pmap *m, struct td_partner *p, int *oom);
struct td_partner *pmap_del(pmap *m, const char *key);
void pmap_free(pmap *m);

#endif
