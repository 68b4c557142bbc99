/* The timer queue: (due time, partner id) with at most one entry per
 * partner. A binary min-heap of node numbers; nodes (id, due, heap position)
 * live in a stable array and an open-addressing hash maps an id to its
 * node, so a partner's entry is found, moved or dropped in O(log n). Ties
 * in due time go in id order so runs are reproducible. No loop, no engine:
 * the timers own the policy (timers.c). */
#include "timer_heap.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

#define HEAP_MIN_CAP  64
#define SLOTS_MIN_CAP 128 /* a power of two; kept at least twice the entries */
#define NODE_NONE     UINT32_MAX

/* The due time sits in the heap array itself so sifting compares without
 * touching nodes scattered over memory; only ties read the ids. */
typedef struct heap_slot {
    td_time due;
    uint32_t node;
} heap_slot;

typedef struct timer_node {
    char *id;
    uint64_t hash;
    td_time due;
    uint32_t pos; /* index in heap[], or the next free node when unused */
} timer_node;

struct timer_heap {
    timer_node *nodes;
    size_t n_nodes, cap_nodes;
    uint32_t free_node;
    heap_slot *heap; /* a binary min-heap by (due, id) */
    size_t n_heap, cap_heap;
    uint32_t *slots; /* node number + 1; 0 = empty */
    size_t slot_cap;
};

/* Ties in due time go in id order so runs are reproducible. */
static bool heap_less(const timer_heap *h, heap_slot a, heap_slot b)
{
    if (a.due != b.due)
        return a.due < b.due;
    return strcmp(h->nodes[a.node].id, h->nodes[b.node].id) < 0;
}

static void heap_place(timer_heap *h, size_t i, heap_slot e)
{
    h->heap[i] = e;
    h->nodes[e.node].pos = (uint32_t)i;
}

static void heap_sift_up(timer_heap *h, size_t i)
{
    heap_slot node = h->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!heap_less(h, node, h->heap[parent]))
            break;
        heap_place(h, i, h->heap[parent]);
        i = parent;
    }
    heap_place(h, i, node);
}

static void heap_sift_down(timer_heap *h, size_t i)
{
    heap_slot node = h->heap[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->n_heap)
            break;
        if (child + 1 < h->n_heap && heap_less(h, h->heap[child + 1], h->heap[child]))
            child++;
        if (!heap_less(h, h->heap[child], node))
            break;
        heap_place(h, i, h->heap[child]);
        i = child;
    }
    heap_place(h, i, node);
}

static void heap_fix(timer_heap *h, size_t i)
{
    if (i > 0 && heap_less(h, h->heap[i], h->heap[(i - 1) / 2]))
        heap_sift_up(h, i);
    else
        heap_sift_down(h, i);
}

/* The slot holding id, or the empty slot where it would go. */
static size_t slot_find(const timer_heap *h, const char *id, uint64_t hash)
{
    size_t mask = h->slot_cap - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        uint32_t s = h->slots[i];
        if (!s)
            return i;
        const timer_node *n = &h->nodes[s - 1];
        if (n->hash == hash && strcmp(n->id, id) == 0)
            return i;
    }
}

static int slots_grow(timer_heap *h)
{
    size_t cap = h->slot_cap ? h->slot_cap * 2 : SLOTS_MIN_CAP;
    uint32_t *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -TD_RESOURCE_EXHAUSTED;
    for (size_t i = 0; i < h->slot_cap; i++) {
        uint32_t s = h->slots[i];
        if (!s)
            continue;
        size_t j = h->nodes[s - 1].hash & (cap - 1);
        while (slots[j])
            j = (j + 1) & (cap - 1);
        slots[j] = s;
    }
    free(h->slots);
    h->slots = slots;
    h->slot_cap = cap;
    return 0;
}

/* Linear probing with backward-shift deletion: later entries of the same
 * probe run move up, so lookups never need tombstones. */
static void slot_delete(timer_heap *h, size_t i)
{
    size_t mask = h->slot_cap - 1;
    h->slots[i] = 0;
    for (size_t j = (i + 1) & mask; h->slots[j]; j = (j + 1) & mask) {
        size_t home = h->nodes[h->slots[j] - 1].hash & mask;
        bool movable = (j > i) ? (home <= i || home > j) : (home <= i && home > j);
        if (movable) {
            h->slots[i] = h->slots[j];
            h->slots[j] = 0;
            i = j;
        }
    }
}

timer_heap *timer_heap_new(void)
{
    timer_heap *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->free_node = NODE_NONE;
    if (slots_grow(h) != 0) {
        free(h);
        return NULL;
    }
    return h;
}

void timer_heap_clear(timer_heap *h)
{
    for (size_t i = 0; i < h->n_heap; i++)
        free(h->nodes[h->heap[i].node].id);
    h->n_heap = 0;
    h->n_nodes = 0;
    h->free_node = NODE_NONE;
    memset(h->slots, 0, h->slot_cap * sizeof *h->slots);
}

void timer_heap_free(timer_heap *h)
{
    if (!h)
        return;
    timer_heap_clear(h);
    free(h->nodes);
    free(h->heap);
    free(h->slots);
    free(h);
}

static int heap_reserve(timer_heap *h)
{
    if ((h->n_heap + 1) * 2 > h->slot_cap && slots_grow(h) != 0)
        return -TD_RESOURCE_EXHAUSTED;
    if (h->n_heap == h->cap_heap) {
        size_t cap = h->cap_heap ? h->cap_heap * 2 : HEAP_MIN_CAP;
        if (cap > NODE_NONE)
            return -TD_RESOURCE_EXHAUSTED;
        heap_slot *heap = realloc(h->heap, cap * sizeof *heap);
        if (!heap)
            return -TD_RESOURCE_EXHAUSTED;
        h->heap = heap;
        h->cap_heap = cap;
    }
    if (h->free_node == NODE_NONE && h->n_nodes == h->cap_nodes) {
        size_t cap = h->cap_nodes ? h->cap_nodes * 2 : HEAP_MIN_CAP;
        timer_node *nodes = realloc(h->nodes, cap * sizeof *nodes);
        if (!nodes)
            return -TD_RESOURCE_EXHAUSTED;
        h->nodes = nodes;
        h->cap_nodes = cap;
    }
    return 0;
}

bool timer_heap_remove(timer_heap *h, const char *id)
{
    size_t slot = slot_find(h, id, td_hash_fnv1a(id));
    uint32_t s = h->slots[slot];
    if (!s)
        return false;
    uint32_t node = s - 1;
    size_t pos = h->nodes[node].pos;
    slot_delete(h, slot);
    h->n_heap--;
    if (pos < h->n_heap) {
        heap_place(h, pos, h->heap[h->n_heap]);
        heap_fix(h, pos);
    }
    free(h->nodes[node].id);
    h->nodes[node].id = NULL;
    h->nodes[node].pos = h->free_node;
    h->free_node = node;
    return true;
}

int timer_heap_set(timer_heap *h, const char *id, td_time due)
{
    if (due == TD_TIME_NONE) {
        timer_heap_remove(h, id);
        return 0;
    }
    uint64_t hash = td_hash_fnv1a(id);
    size_t slot = slot_find(h, id, hash);
    if (h->slots[slot]) {
        timer_node *n = &h->nodes[h->slots[slot] - 1];
        n->due = due;
        h->heap[n->pos].due = due;
        heap_fix(h, n->pos);
        return 0;
    }
    if (heap_reserve(h) != 0)
        return -TD_RESOURCE_EXHAUSTED;
    char *copy = strdup(id);
    if (!copy)
        return -TD_RESOURCE_EXHAUSTED;
    uint32_t node;
    if (h->free_node != NODE_NONE) {
        node = h->free_node;
        h->free_node = h->nodes[node].pos;
    } else {
        node = (uint32_t)h->n_nodes++;
    }
    h->nodes[node] = (timer_node){.id = copy, .hash = hash, .due = due};
    /* The slot table may have grown in heap_reserve, so probe again. */
    h->slots[slot_find(h, id, hash)] = node + 1;
    heap_place(h, h->n_heap++, (heap_slot){.due = due, .node = node});
    heap_sift_up(h, h->n_heap - 1);
    return 0;
}

bool timer_heap_peek(const timer_heap *h, const char **id, td_time *due)
{
    if (!h->n_heap)
        return false;
    const timer_node *n = &h->nodes[h->heap[0].node];
    *id = n->id;
    *due = n->due;
    return true;
}

td_time timer_heap_due(const timer_heap *h, const char *id)
{
    uint32_t s = h->slots[slot_find(h, id, td_hash_fnv1a(id))];
    return s ? h->nodes[s - 1].due : TD_TIME_NONE;
}

size_t timer_heap_size(const timer_heap *h)
{
    return h->n_heap;
}
