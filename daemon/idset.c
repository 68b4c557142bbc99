/* Id sets: the partner ids a turn must write, the partners whose records
 * lag the ingest log, the ids a restart restores. Open addressing (linear
 * probing, at most half full) over indexes into `ids`, which keeps the
 * order ids were added in; ids are copied. */
#include "idset.h"

#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "grow.h"

#define IDSET_MIN_CAP 64 /* slots and ids before the first growth; a power of two */

static int idset_grow(idset *set)
{
    size_t cap = set->slot_cap ? set->slot_cap * 2 : IDSET_MIN_CAP;
    uint32_t *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < set->n; i++) {
        size_t j = td_hash_fnv1a(set->ids[i]) & (cap - 1);
        while (slots[j])
            j = (j + 1) & (cap - 1);
        slots[j] = (uint32_t)(i + 1);
    }
    free(set->slots);
    set->slots = slots;
    set->slot_cap = cap;
    return 0;
}

void idset_clear(idset *set)
{
    for (size_t i = 0; i < set->n; i++)
        free(set->ids[i]);
    set->n = 0;
    if (set->slots)
        memset(set->slots, 0, set->slot_cap * sizeof *set->slots);
}

void idset_free(idset *set)
{
    idset_clear(set);
    free(set->slots);
    free(set->ids);
    memset(set, 0, sizeof *set);
}

bool idset_has(const idset *set, const char *id)
{
    if (!set->slot_cap)
        return false;
    for (size_t j = td_hash_fnv1a(id) & (set->slot_cap - 1); set->slots[j];
         j = (j + 1) & (set->slot_cap - 1))
        if (strcmp(set->ids[set->slots[j] - 1], id) == 0)
            return true;
    return false;
}

int idset_add(idset *set, const char *id)
{
    if ((set->n + 1) * 2 > set->slot_cap && idset_grow(set) != 0)
        return -1;
    size_t j = td_hash_fnv1a(id) & (set->slot_cap - 1);
    while (set->slots[j]) {
        if (strcmp(set->ids[set->slots[j] - 1], id) == 0)
            return 0;
        j = (j + 1) & (set->slot_cap - 1);
    }
    char **ids = td_grow(set->ids, &set->cap, set->n + 1, sizeof *ids, IDSET_MIN_CAP);
    if (!ids)
        return -1;
    set->ids = ids;
    char *copy = strdup(id);
    if (!copy)
        return -1;
    set->ids[set->n++] = copy;
    set->slots[j] = (uint32_t)set->n;
    return 0;
}

long idset_index(const idset *set, const char *id)
{
    if (!set->slot_cap)
        return -1;
    for (size_t j = td_hash_fnv1a(id) & (set->slot_cap - 1); set->slots[j];
         j = (j + 1) & (set->slot_cap - 1))
        if (strcmp(set->ids[set->slots[j] - 1], id) == 0)
            return (long)set->slots[j] - 1;
    return -1;
}
