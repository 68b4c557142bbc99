/* Interned name tables (names.h). Linear lookups: a program names a few
 * dozen events and partners carry a handful of types, so a scan of a
 * short array beats hashing.
 *
 * Place in the engine's line (tests/unit/test_engine_layers.sh): uses
 * nothing in the engine. */
#include "names.h"
#include "grow.h"

#include <stdlib.h>
#include <string.h>

#define NAMES_MIN_CAP 8

int names_find(const name_table *t, const char *name)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->v[i], name) == 0)
            return (int)i;
    return -1;
}

int names_intern(name_table *t, const char *name)
{
    int i = names_find(t, name);
    if (i >= 0)
        return i;
    char **v = td_grow(t->v, &t->cap, t->n + 1, sizeof *v, NAMES_MIN_CAP);
    if (!v)
        return -1;
    t->v = v;
    char *dup = strdup(name);
    if (!dup)
        return -1;
    t->v[t->n] = dup;
    return (int)t->n++;
}

void names_free(name_table *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->v[i]);
    free(t->v);
    *t = (name_table){0};
}
