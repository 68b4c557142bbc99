/* A grow-only table of interned names: the engine's registry of event
 * names (a stream's index is its name's index here, for good) and its set
 * of partner types (thousands of partners share a few strings).
 *
 * Place in the engine's line (tests/unit/test_engine_layers.sh): uses
 * nothing in the engine; eng_prog and the engine's state use it. */
#ifndef TD_NAMES_H
#define TD_NAMES_H

#include <stddef.h>

typedef struct name_table {
    char **v; /* v[i]: the i-th name added; never moves or changes */
    size_t n, cap;
} name_table;

/* name's index, or -1 when it is not in the table. */
int names_find(const name_table *t, const char *name);
/* name's index, adding a copy when new; -1 on OOM with t unchanged. */
int names_intern(name_table *t, const char *name);
void names_free(name_table *t);

#endif
