/* tierd's one rule for arrays that are appended to: capacity doubles from
 * a minimum, and running out of memory is reported, never fatal, so the
 * engine can use it too.
 *
 * Header only, like hash.h. In common/, below everything. */
#ifndef TD_GROW_H
#define TD_GROW_H

#include <stdint.h>
#include <stdlib.h>

/* Makes room for `need` elements of `elem` bytes in v (capacity *cap):
 * returns v, or a realloc'd v with *cap at least need (doubling from
 * min_cap), or NULL with v and *cap unchanged when memory is out. */
static inline void *td_grow(void *v, size_t *cap, size_t need, size_t elem, size_t min_cap)
{
    if (need <= *cap)
        return v;
    size_t c = *cap ? *cap : min_cap;
    while (c < need) {
        if (c > SIZE_MAX / 2)
            return NULL;
        c *= 2;
    }
    if (c > SIZE_MAX / elem)
        return NULL;
    void *grown = realloc(v, c * elem);
    if (grown)
        *cap = c;
    return grown;
}

#endif
