/* Interned partner attribute maps (attrs.h).
 *
 * Owns keeping each distinct map once (a chained hash keyed by the sorted
 * map's contents) with a count of its holders, and answering a key lookup
 * and a ladder's partner_filter; the rules a map must follow are
 * common/td_attrs.c's.
 * Promises that a refused or failed intern changes nothing. Does not know
 * partners or the engine.
 *
 * Place in the engine's line (tests/unit/test_engine_layers.sh): above
 * metric; uses program.h's ladder_def and common/ only. */
#include "attrs.h"
#include "hash.h"

#include <stdlib.h>
#include <string.h>

#define ATTR_TABLE_MIN_CAP 64

static int by_key(const void *a, const void *b)
{
    return strcmp(((const td_attr *)a)->key, ((const td_attr *)b)->key);
}

static uint64_t sorted_hash(const td_attr *a, size_t n)
{
    uint64_t h = TD_FNV1A_OFFSET;
    for (size_t i = 0; i < n; i++) {
        /* Key and value each end in a separator no key or value holds. */
        h = (h ^ td_hash_fnv1a(a[i].key)) * TD_FNV1A_PRIME;
        h = (h ^ td_hash_fnv1a(a[i].value)) * TD_FNV1A_PRIME;
    }
    return h;
}

static bool same(const attr_set *s, const td_attr *a, size_t n)
{
    if (s->n != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(s->kv[2 * i], a[i].key) || strcmp(s->kv[2 * i + 1], a[i].value))
            return false;
    return true;
}

static bool table_grow(attr_table *t)
{
    size_t cap = t->cap ? t->cap * 2 : ATTR_TABLE_MIN_CAP;
    attr_set **b = calloc(cap, sizeof *b);
    if (!b)
        return false;
    for (size_t i = 0; i < t->cap; i++)
        for (attr_set *s = t->buckets[i], *next; s; s = next) {
            next = s->next;
            s->next = b[s->hash & (cap - 1)];
            b[s->hash & (cap - 1)] = s;
        }
    free(t->buckets);
    t->buckets = b;
    t->cap = cap;
    return true;
}

attr_set *attrs_intern(attr_table *t, const td_attr *attrs, size_t n, bool *oom)
{
    *oom = false;
    if (n == 0)
        return NULL;
    td_attr sorted[TD_MAX_ATTRS];
    memcpy(sorted, attrs, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, by_key);
    uint64_t h = sorted_hash(sorted, n);
    for (attr_set *s = t->cap ? t->buckets[h & (t->cap - 1)] : NULL; s; s = s->next)
        if (s->hash == h && same(s, sorted, n))
            return attrs_ref(s);
    if (t->n + 1 > t->cap && !table_grow(t)) {
        *oom = true;
        return NULL;
    }
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += strlen(sorted[i].key) + strlen(sorted[i].value) + 2;
    attr_set *s = malloc(sizeof *s + 2 * n * sizeof s->kv[0] + bytes);
    if (!s) {
        *oom = true;
        return NULL;
    }
    char *at = (char *)&s->kv[2 * n];
    for (size_t i = 0; i < n; i++)
        for (int kv = 0; kv < 2; kv++) {
            const char *src = kv ? sorted[i].value : sorted[i].key;
            size_t len = strlen(src) + 1;
            memcpy(at, src, len);
            s->kv[2 * i + (size_t)kv] = at;
            at += len;
        }
    s->table = t;
    s->hash = h;
    s->refs = 1;
    s->n = (uint32_t)n;
    s->next = t->buckets[h & (t->cap - 1)];
    t->buckets[h & (t->cap - 1)] = s;
    t->n++;
    return s;
}

attr_set *attrs_ref(attr_set *s)
{
    if (s)
        s->refs++;
    return s;
}

void attrs_release(attr_set *s)
{
    if (!s || --s->refs)
        return;
    attr_table *t = s->table;
    attr_set **link = &t->buckets[s->hash & (t->cap - 1)];
    while (*link != s)
        link = &(*link)->next;
    *link = s->next;
    t->n--;
    free(s);
}

const char *attrs_get(const attr_set *s, const char *key)
{
    size_t lo = 0, hi = s ? s->n : 0;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(s->kv[2 * mid], key);
        if (c == 0)
            return s->kv[2 * mid + 1];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

bool attrs_pass_filter(const attr_set *s, const ladder_def *l)
{
    for (size_t f = 0; f < l->n_filters; f++) {
        const char *v = attrs_get(s, l->filters[f].attr);
        bool hit = false;
        for (size_t i = 0; v && !hit && i < l->filters[f].n_values; i++)
            hit = !strcmp(v, l->filters[f].values[i]);
        if (!hit)
            return false;
    }
    return true;
}

void attr_table_free(attr_table *t)
{
    free(t->buckets);
    *t = (attr_table){0};
}
