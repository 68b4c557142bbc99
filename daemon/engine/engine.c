/* The engine object (engine_state.h): what it holds and its lifetime.
 *
 * Owns struct engine and the bookkeeping every operation shares: the
 * partner map and its id-sorted view, the registries of event names and
 * partner types, and the list of partners whose stored form changed.
 * Promises that the changed list names every partner an engine call
 * changed (or says that one could not be listed), and that freeing the
 * engine frees everything it holds. Every tier-moving operation lives
 * above this file, each in the file of its noun (see engine.h's sections).
 *
 * Does no I/O, reads no clock, and does not check idempotency (the daemon
 * does, against its store).
 *
 * Place in the engine's line (tests/unit/test_engine_layers.sh): above
 * eng_prog, names, pmap and partner; calls down only. */
#include "engine_state.h"
#include "grow.h"

#include <stdlib.h>
#include <string.h>

#define TOUCHED_INITIAL_CAP 64 /* changed partners listed before the first growth */
#define SORTED_MIN_CAP      64 /* slots in the sorted view before its first growth */

engine *engine_new(void)
{
    return calloc(1, sizeof(engine));
}

void engine_free(engine *e)
{
    if (!e)
        return;
    td_partner *p;
    PMAP_FOREACH(&e->map, p)
        partner_destroy(p);
    pmap_free(&e->map);
    free(e->sorted);
    free(e->touched);
    eng_prog_free(&e->cp);
    if (e->prog)
        program_free(e->prog);
    if (e->scheduled)
        program_free(e->scheduled);
    names_free(&e->events);
    names_free(&e->types);
    attr_table_free(&e->attrs);
    free(e);
}

char *engine_type_intern(engine *e, const char *name)
{
    int i = names_intern(&e->types, name);
    return i < 0 ? NULL : e->types.v[i];
}

/* ---- partners whose stored form changed ---- */

void engine_touch(engine *e, td_partner *p)
{
    if (p->touched)
        return;
    if (e->n_touched == e->cap_touched) {
        size_t cap = e->cap_touched ? e->cap_touched * 2 : TOUCHED_INITIAL_CAP;
        td_partner **t = realloc(e->touched, cap * sizeof *t);
        if (!t) {
            e->touched_lost = true;
            return;
        }
        e->touched = t;
        e->cap_touched = cap;
    }
    e->touched[e->n_touched++] = p;
    p->touched = true;
}

/* Before p is freed. Linear, but only deletes and restores get here, and
 * the list holds one turn's partners. */
static void touched_forget(engine *e, td_partner *p)
{
    if (!p->touched)
        return;
    for (size_t i = 0; i < e->n_touched; i++)
        if (e->touched[i] == p) {
            e->touched[i] = e->touched[--e->n_touched];
            break;
        }
    p->touched = false;
}

int engine_touched_take(engine *e, td_touched_fn fn, void *ud)
{
    for (size_t i = 0; i < e->n_touched; i++) {
        e->touched[i]->touched = false;
        if (fn)
            fn(ud, e->touched[i]->id);
    }
    e->n_touched = 0;
    bool lost = e->touched_lost;
    e->touched_lost = false;
    return lost ? -TD_RESOURCE_EXHAUSTED : 0;
}

/* ---- the partner map ---- */

/* Extends a current sorted view by p when p's id sorts after the last;
 * -1 when the view must be rebuilt instead. */
static int sorted_append(engine *e, td_partner *p)
{
    if (e->dirty || e->n_sorted + 1 != e->map.n ||
        (e->n_sorted && strcmp(e->sorted[e->n_sorted - 1]->id, p->id) >= 0))
        return -1;
    td_partner **s = td_grow(e->sorted, &e->sorted_cap, e->n_sorted + 1, sizeof *s, SORTED_MIN_CAP);
    if (!s)
        return -1;
    e->sorted = s;
    e->sorted[e->n_sorted++] = p;
    return 0;
}

int engine_partner_insert(engine *e, td_partner *p)
{
    int oom;
    td_partner *old = pmap_put(&e->map, p, &oom);
    if (oom)
        return -1;
    if (old && old != p) {
        touched_forget(e, old);
        partner_destroy(old);
    }
    if (old || sorted_append(e, p) != 0)
        e->dirty = true;
    return 0;
}

void engine_partner_remove(engine *e, td_partner *p)
{
    pmap_del(&e->map, p->id);
    touched_forget(e, p);
    partner_destroy(p);
    e->dirty = true;
}

td_partner *engine_partner_find(const engine *e, const char *id)
{
    return id ? pmap_get(&e->map, id) : NULL;
}

size_t engine_partner_count(const engine *e)
{
    return e->map.n;
}

static int by_id(const void *a, const void *b)
{
    return strcmp((*(td_partner *const *)a)->id, (*(td_partner *const *)b)->id);
}

int engine_sorted_rebuild(engine *e)
{
    if (!e->dirty && e->n_sorted == e->map.n)
        return 0;
    td_partner **s = realloc(e->sorted, (e->map.n ? e->map.n : 1) * sizeof *s);
    if (!s)
        return -1;
    size_t n = 0;
    td_partner *p;
    PMAP_FOREACH(&e->map, p)
        s[n++] = p;
    qsort(s, n, sizeof *s, by_id);
    e->sorted = s;
    e->n_sorted = n;
    e->sorted_cap = e->map.n ? e->map.n : 1;
    e->dirty = false;
    return 0;
}

size_t engine_sorted_after(const engine *e, const char *after)
{
    size_t lo = 0, hi = e->n_sorted;
    while (after && lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(e->sorted[mid]->id, after) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}
