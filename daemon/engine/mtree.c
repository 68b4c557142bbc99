/* mtree: see mtree.h. A crit-bit tree over 96-bit keys: the high 64 bits
 * are `at` with its sign bit flipped (so unsigned order is time order), the
 * low 32 bits are `tie`. Branches are ordered by bit, most significant
 * nearest the root, so a walk is at most MTREE_KEY_BITS deep and every
 * recursion below is bounded by that, whatever the input.
 *
 * Place in the engine's line (tests/unit/test_engine_layers.sh): above
 * td_time; uses nothing else in the engine. */
#include "mtree.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MTREE_MIN_CAP  4
#define MTREE_KEY_BITS 96
#define MTREE_TIE_BITS 32
#define MTREE_PATH_MAX (MTREE_KEY_BITS + 1)

typedef struct mkey {
    uint64_t hi;
    uint32_t lo;
} mkey;

static mkey key_of(td_time at, uint32_t tie)
{
    return (mkey){(uint64_t)at ^ (1ull << 63), tie};
}

static mkey node_key(const mtree_node *n)
{
    return key_of(n->at, n->tie);
}

static bool key_eq(mkey a, mkey b)
{
    return a.hi == b.hi && a.lo == b.lo;
}

static unsigned key_bit(mkey k, uint32_t bit)
{
    return bit >= MTREE_TIE_BITS ? (unsigned)(k.hi >> (bit - MTREE_TIE_BITS)) & 1u
                                 : (unsigned)(k.lo >> bit) & 1u;
}

/* The most significant bit where a and b differ (they must differ). */
static uint32_t crit_bit(mkey a, mkey b)
{
    if (a.hi != b.hi)
        return MTREE_TIE_BITS + 63u - (uint32_t)__builtin_clzll(a.hi ^ b.hi);
    return 31u - (uint32_t)__builtin_clz(a.lo ^ b.lo);
}

/* A branch's aggregate from its children, lower keys first. */
static void pull(mtree *t, uint32_t x)
{
    mtree_node *n = &t->n[x];
    const mtree_node *a = &t->n[n->child[0]], *b = &t->n[n->child[1]];
    n->at = a->at;
    n->at_hi = b->at_hi;
    n->count = a->count + b->count;
    n->sum = a->sum + b->sum;
    n->min = fmin(a->min, b->min);
    n->max = fmax(a->max, b->max);
}

static int reserve(mtree *t, uint32_t extra)
{
    uint32_t have = t->next ? t->next : 1;
    for (uint32_t f = t->free_top; f && extra; f = t->n[f].child[0])
        extra--;
    if ((uint64_t)have + extra <= t->cap)
        return 0;
    uint64_t cap = t->cap ? t->cap : MTREE_MIN_CAP;
    while (cap < (uint64_t)have + extra)
        cap *= 2;
    if (cap > UINT32_MAX)
        return -1;
    mtree_node *n = realloc(t->n, (size_t)cap * sizeof *n);
    if (!n)
        return -1;
    t->n = n;
    t->cap = (uint32_t)cap;
    return 0;
}

/* A slot; reserve() must have made room. */
static uint32_t slot_take(mtree *t)
{
    if (t->free_top) {
        uint32_t x = t->free_top;
        t->free_top = t->n[x].child[0];
        return x;
    }
    if (t->next == 0)
        t->next = 1; /* n[0] stays unused */
    return t->next++;
}

static void slot_free(mtree *t, uint32_t x)
{
    t->n[x].child[0] = t->free_top;
    t->free_top = x;
}

/* Walks towards k, filling path[] (root first); returns its length. The
 * last entry is the leaf reached, whose key may differ from k. */
static int walk(const mtree *t, mkey k, uint32_t *path)
{
    int depth = 0;
    uint32_t x = t->root;
    while (x) {
        path[depth++] = x;
        if (t->n[x].bit == MTREE_LEAF)
            break;
        x = t->n[x].child[key_bit(k, t->n[x].bit)];
    }
    return depth;
}

static void pull_path(mtree *t, const uint32_t *path, int depth)
{
    for (int i = depth - 1; i >= 0; i--)
        if (t->n[path[i]].bit != MTREE_LEAF)
            pull(t, path[i]);
}

static uint32_t find(const mtree *t, mkey k, uint32_t *path, int *depth)
{
    *depth = walk(t, k, path);
    if (*depth == 0)
        return 0;
    uint32_t leaf = path[*depth - 1];
    return key_eq(node_key(&t->n[leaf]), k) ? leaf : 0;
}

static void leaf_set(mtree_node *n, const mtree_node *e)
{
    n->at = n->at_hi = e->at;
    n->tie = e->tie;
    n->count = e->count;
    n->sum = e->sum;
    n->min = e->min;
    n->max = e->max;
    n->last = e->last;
    n->child[0] = n->child[1] = 0;
    n->bit = MTREE_LEAF;
}

/* Adds a new leaf for e (absent from the tree); room reserved. */
static void insert_leaf(mtree *t, const mtree_node *e)
{
    mkey k = key_of(e->at, e->tie);
    uint32_t leaf = slot_take(t);
    leaf_set(&t->n[leaf], e);
    t->size++;
    if (!t->root) {
        t->root = leaf;
        return;
    }
    uint32_t path[MTREE_PATH_MAX];
    int depth = walk(t, k, path);
    uint32_t bit = crit_bit(k, node_key(&t->n[path[depth - 1]]));
    /* The new branch goes above the first node that parts on a lower bit. */
    uint32_t *link = &t->root;
    int at = 0;
    while (at < depth && t->n[path[at]].bit != MTREE_LEAF && t->n[path[at]].bit > bit) {
        link = &t->n[path[at]].child[key_bit(k, t->n[path[at]].bit)];
        at++;
    }
    uint32_t branch = slot_take(t);
    mtree_node *b = &t->n[branch];
    memset(b, 0, sizeof *b);
    b->bit = bit;
    unsigned dir = key_bit(k, bit);
    b->child[dir] = leaf;
    b->child[!dir] = *link;
    *link = branch;
    pull(t, branch);
    pull_path(t, path, at);
}

int mtree_add(mtree *t, td_time at, uint32_t tie, double value)
{
    uint32_t path[MTREE_PATH_MAX];
    int depth;
    uint32_t x = find(t, key_of(at, tie), path, &depth);
    if (x) {
        mtree_node *n = &t->n[x];
        if (n->count >= UINT32_MAX)
            return -1;
        n->count++;
        n->sum += value;
        n->min = fmin(n->min, value);
        n->max = fmax(n->max, value);
        n->last = value;
        pull_path(t, path, depth);
        return 0;
    }
    mtree_node e = {
        .at = at, .tie = tie, .count = 1, .sum = value, .min = value, .max = value, .last = value};
    if (reserve(t, 2) != 0)
        return -1;
    insert_leaf(t, &e);
    return 0;
}

int mtree_put(mtree *t, const mtree_node *entry)
{
    uint32_t path[MTREE_PATH_MAX];
    int depth;
    uint32_t x = find(t, key_of(entry->at, entry->tie), path, &depth);
    if (x) {
        leaf_set(&t->n[x], entry);
        pull_path(t, path, depth);
        return 0;
    }
    if (reserve(t, 2) != 0)
        return -1;
    insert_leaf(t, entry);
    return 0;
}

bool mtree_remove(mtree *t, td_time at, uint32_t tie)
{
    uint32_t path[MTREE_PATH_MAX];
    int depth;
    uint32_t x = find(t, key_of(at, tie), path, &depth);
    if (!x)
        return false;
    if (depth == 1) {
        t->root = 0;
    } else {
        /* The parent branch gives way to the leaf's sibling. */
        uint32_t parent = path[depth - 2];
        uint32_t sibling = t->n[parent].child[t->n[parent].child[0] == x];
        if (depth == 2)
            t->root = sibling;
        else {
            uint32_t gp = path[depth - 3];
            t->n[gp].child[t->n[gp].child[1] == parent] = sibling;
        }
        slot_free(t, parent);
        pull_path(t, path, depth - 2);
    }
    slot_free(t, x);
    t->size--;
    return true;
}

typedef void (*drop_fn)(void *ud, const mtree_node *n);

static void free_all(mtree *t, uint32_t x, drop_fn fn, void *ud)
{
    if (t->n[x].bit == MTREE_LEAF) {
        if (fn)
            fn(ud, &t->n[x]);
        t->size--;
    } else {
        free_all(t, t->n[x].child[0], fn, ud);
        free_all(t, t->n[x].child[1], fn, ud);
    }
    slot_free(t, x);
}

/* Drops what lies at or before horizon under x; returns what is left. */
static uint32_t drop(mtree *t, uint32_t x, td_time horizon, drop_fn fn, void *ud)
{
    if (t->n[x].at > horizon)
        return x;
    if (t->n[x].at_hi <= horizon) {
        free_all(t, x, fn, ud);
        return 0;
    }
    /* A branch straddling the horizon: the lower side goes first. */
    uint32_t lo = drop(t, t->n[x].child[0], horizon, fn, ud);
    uint32_t hi = drop(t, t->n[x].child[1], horizon, fn, ud);
    if (lo && hi) {
        t->n[x].child[0] = lo;
        t->n[x].child[1] = hi;
        pull(t, x);
        return x;
    }
    slot_free(t, x);
    return lo ? lo : hi;
}

void mtree_drop_through(mtree *t, td_time horizon, drop_fn fn, void *ud)
{
    if (t->root)
        t->root = drop(t, t->root, horizon, fn, ud);
}

static void agg_add(mtree_agg *a, const mtree_node *n)
{
    if (a->count == 0) {
        a->sum = n->sum;
        a->min = n->min;
        a->max = n->max;
    } else {
        a->sum += n->sum;
        a->min = fmin(a->min, n->min);
        a->max = fmax(a->max, n->max);
    }
    a->count += n->count;
}

static void range(const mtree *t, uint32_t x, td_time lo, td_time hi, mtree_agg *a)
{
    const mtree_node *n = &t->n[x];
    if (n->at_hi <= lo || n->at > hi)
        return;
    if (n->at > lo && n->at_hi <= hi) {
        agg_add(a, n);
        return;
    }
    /* Only a branch can straddle an edge; lower keys first. */
    range(t, n->child[0], lo, hi, a);
    range(t, n->child[1], lo, hi, a);
}

mtree_agg mtree_range(const mtree *t, td_time lo, td_time hi)
{
    mtree_agg a = {0};
    if (t->root && hi > lo)
        range(t, t->root, lo, hi, &a);
    return a;
}

const mtree_node *mtree_last_through(const mtree *t, td_time hi)
{
    uint32_t x = t->root;
    if (!x || t->n[x].at > hi)
        return NULL;
    while (t->n[x].bit != MTREE_LEAF) {
        uint32_t up = t->n[x].child[1];
        x = t->n[up].at <= hi ? up : t->n[x].child[0];
    }
    return &t->n[x];
}

const mtree_node *mtree_first_after(const mtree *t, td_time lo)
{
    uint32_t x = t->root;
    if (!x || t->n[x].at_hi <= lo)
        return NULL;
    while (t->n[x].bit != MTREE_LEAF) {
        uint32_t down = t->n[x].child[0];
        x = t->n[down].at_hi > lo ? down : t->n[x].child[1];
    }
    return &t->n[x];
}

static int each(const mtree *t, uint32_t x, int (*fn)(void *ud, const mtree_node *n), void *ud)
{
    if (t->n[x].bit == MTREE_LEAF)
        return fn(ud, &t->n[x]);
    int rc = each(t, t->n[x].child[0], fn, ud);
    return rc ? rc : each(t, t->n[x].child[1], fn, ud);
}

int mtree_each(const mtree *t, int (*fn)(void *ud, const mtree_node *n), void *ud)
{
    return t->root ? each(t, t->root, fn, ud) : 0;
}

void mtree_free(mtree *t)
{
    free(t->n);
    memset(t, 0, sizeof *t);
}

size_t mtree_bytes(const mtree *t)
{
    return (size_t)t->cap * sizeof *t->n;
}
