/* A set of partner ids that remembers the order they were added in. */
#ifndef TD_IDSET_H
#define TD_IDSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A set of partner ids: open addressing over `slots` (indexes into ids+1;
 * 0 = empty), `ids` in the order they were added. */
typedef struct idset {
    uint32_t *slots;
    size_t slot_cap;
    char **ids;
    size_t n, cap;
} idset;

/* Adds a copy of id (nothing when present): 0, or -1 on OOM with the set
 * unchanged. */
int idset_add(idset *set, const char *id);
bool idset_has(const idset *set, const char *id);
/* The position of id in the set (added order), or -1. */
long idset_index(const idset *set, const char *id);
/* Empties the set, keeping its memory for reuse. */
void idset_clear(idset *set);
/* Frees everything; the set is empty and usable again. */
void idset_free(idset *set);

#endif
