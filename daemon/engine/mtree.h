/* mtree: an ordered set of time-keyed entries with subtree aggregates, for
 * windowed metrics whose cost must not grow with a partner's history.
 *
 * Owns a crit-bit tree (a binary trie on the bits of the key, one branch
 * node per bit where keys part) kept in one array: indices, not pointers,
 * so growing it is one realloc. An entry's key is (at, tie); its payload is
 * a bucket: a count of events, their sum, min, max and the value of the
 * last arrival. Every branch holds the count, sum, min, max and the least
 * and greatest `at` below it, so the aggregate over any range (lo, hi],
 * insertion, removal, predecessor and successor cost one walk down: at
 * most 96 levels (the key's bits), O(log n) for keys spread over time, and
 * no arrival order or choice of times can make it deeper.
 *
 * The shape depends only on the set of keys, and aggregates combine the
 * lower keys first, so the same entries give bit-identical floating-point
 * results however they arrived: a daemon that restarted answers exactly as
 * one that did not.
 *
 * Promises: no allocation failure leaves the tree changed. Does not know
 * what the entries mean (metric.c does) and reads no clock.
 *
 * Place in the engine's line (tests/unit/test_engine_layers.sh): above
 * td_time; metric uses it. */
#ifndef TD_MTREE_H
#define TD_MTREE_H

#include <stdbool.h>
#include <stdint.h>

#include "td_time.h"

/* An entry (a leaf) or a branch. For a leaf, at..last are its own; for a
 * branch, at is the least and at_hi the greatest `at` below it, and count,
 * sum, min and max cover everything below it. */
typedef struct mtree_node {
    td_time at;
    td_time at_hi;
    uint64_t count;
    double sum, min, max;
    double last;       /* leaf: value of the last arrival */
    uint32_t tie;      /* leaf: second key (0 for buckets, a key's slot for distinct keys) */
    uint32_t child[2]; /* branch: lower and higher keys; a free slot chains through child[0] */
    uint32_t bit;      /* branch: the bit the children part on; MTREE_LEAF for a leaf */
} mtree_node;

#define MTREE_LEAF UINT32_MAX

typedef struct mtree {
    mtree_node *n;     /* n[0] is unused so that 0 can mean "none" */
    uint32_t root;     /* 0: empty */
    uint32_t size;     /* entries (leaves) */
    uint32_t cap;      /* slots in n, n[0] included */
    uint32_t next;     /* slots ever handed out, n[0] included */
    uint32_t free_top; /* a freed slot to reuse first */
} mtree;

/* Aggregate of a key range. count 0: the range is empty (min, max, sum
 * then meaningless). */
typedef struct mtree_agg {
    uint64_t count;
    double sum, min, max;
} mtree_agg;

/* Folds one event of `value` into the entry (at, tie), creating it with
 * count 1 when absent; `last` becomes value (the later arrival wins).
 * 0, or -1 on allocation failure (or an entry already holding UINT32_MAX
 * events) with the tree unchanged. */
int mtree_add(mtree *t, td_time at, uint32_t tie, double value);
/* Puts a whole entry (at, tie, count, sum, min, max, last, as the codec
 * reads it back); replaces an equal key. */
int mtree_put(mtree *t, const mtree_node *entry);
/* Removes the entry (at, tie); false when absent. */
bool mtree_remove(mtree *t, td_time at, uint32_t tie);
/* Drops every entry with at <= horizon, calling fn (may be NULL) for each,
 * in key order, before it goes. */
void mtree_drop_through(mtree *t, td_time horizon, void (*fn)(void *ud, const mtree_node *n),
                        void *ud);
/* The aggregate of the entries with lo < at <= hi. */
mtree_agg mtree_range(const mtree *t, td_time lo, td_time hi);
/* The entry with the greatest key whose at <= hi, or NULL. */
const mtree_node *mtree_last_through(const mtree *t, td_time hi);
/* The entry with the least key whose at > lo, or NULL. */
const mtree_node *mtree_first_after(const mtree *t, td_time lo);
/* Calls fn for every entry in key order; stops early when fn returns
 * non-zero and returns that. */
int mtree_each(const mtree *t, int (*fn)(void *ud, const mtree_node *n), void *ud);
void mtree_free(mtree *t);
/* Bytes the tree holds (for benches). */
size_t mtree_bytes(const mtree *t);

#endif
