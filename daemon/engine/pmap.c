/* The engine's partner map (pmap.h). Owns only its slot array; the
 * partners belong to the engine. Grows at 50% load so probe runs stay
 * short; never shrinks.
 *
 * Place in the engine's line (tests/unit/test_engine_layers.sh): above
 * partner and hash; calls nothing in the engine. */
#include "pmap.h"

#include <stdlib.h>
#include <string.h>

#include "hash.h"

#define PMAP_MIN_CAP 64

static uint64_t pmap_hash(const char *key)
{
    /* FNV-1a, then a finaliser so low bits mix well for masking. */
    uint64_t h = td_hash_fnv1a(key);
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h ? h : 1;
}

static size_t pmap_find(const pmap *m, const char *key, uint64_t h)
{
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        if (m->slots[i].hash == 0)
            return i;
        if (m->slots[i].hash == h && strcmp(m->slots[i].p->id, key) == 0)
            return i;
    }
}

td_partner *pmap_get(const pmap *m, const char *key)
{
    if (m->cap == 0)
        return NULL;
    size_t i = pmap_find(m, key, pmap_hash(key));
    return m->slots[i].hash ? m->slots[i].p : NULL;
}

static int pmap_grow(pmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : PMAP_MIN_CAP;
    pmap_slot *s = calloc(cap, sizeof *s);
    if (!s)
        return -1;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].hash)
            continue;
        size_t j = m->slots[i].hash & (cap - 1);
        while (s[j].hash)
            j = (j + 1) & (cap - 1);
        s[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = s;
    m->cap = cap;
    return 0;
}

td_partner *pmap_put(pmap *m, td_partner *p, int *oom)
{
    *oom = 0;
    if ((m->n + 1) * 2 > m->cap && pmap_grow(m) != 0) {
        *oom = 1;
        return NULL;
    }
    uint64_t h = pmap_hash(p->id);
    size_t i = pmap_find(m, p->id, h);
    td_partner *old = m->slots[i].hash ? m->slots[i].p : NULL;
    if (!old)
        m->n++;
    m->slots[i].hash = h;
    m->slots[i].p = p;
    return old;
}

td_partner *pmap_del(pmap *m, const char *key)
{
    if (m->cap == 0)
        return NULL;
    size_t mask = m->cap - 1;
    size_t i = pmap_find(m, key, pmap_hash(key));
    if (!m->slots[i].hash)
        return NULL;
    td_partner *old = m->slots[i].p;
    /* Backward shift: pull later members of the run into the hole when
     * their home slot does not lie cyclically within (hole, their slot]. */
    size_t hole = i;
    for (size_t j = (i + 1) & mask; m->slots[j].hash; j = (j + 1) & mask) {
        size_t home = m->slots[j].hash & mask;
        int between = (hole <= j) ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!between) {
            m->slots[hole] = m->slots[j];
            hole = j;
        }
    }
    m->slots[hole].hash = 0;
    m->slots[hole].p = NULL;
    m->n--;
    return old;
}

void pmap_free(pmap *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = m->n = 0;
}
