/* Metric state: one stream per partner per event name (metric.h).
 *
 * Owns folding an event into a stream, pruning what no window can read any
 * more, and deriving a metric's value at any instant from its stream. Every
 * event is folded in O(log n) (usually an append); a value is computed from
 * the buckets inside its window, never from event history. Windows are
 * exact to the second: rolling windows are (t - N days, t], quarter and year
 * windows [start, t], so buckets are one per distinct event second rather
 * than per day. Sum, count and distinct of nothing are 0; avg, min, max and
 * latest of nothing are NaN ("no value").
 *
 * Does not validate events (ingest.c does) and reads no clock. Which
 * streams a metric reads and how far back is eng_prog.c's to say.
 *
 * Place in the engine's line (tests/unit/test_engine_layers.sh): above
 * mtree, hash and the program's types; knows no partner. */
#include "metric.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

#define SMALL_MIN_CAP 4
#define KEYS_MIN_CAP  4
#define KEY_TOMBSTONE UINT32_MAX

/* Small arrays keep no capacity field: it follows from the count (at least
 * SMALL_MIN_CAP, then powers of two), so a stream stays 80 bytes. */
static bool small_full(uint32_t n)
{
    return n == 0 || (n >= SMALL_MIN_CAP && (n & (n - 1)) == 0);
}

static size_t small_cap(uint32_t n)
{
    size_t cap = SMALL_MIN_CAP;
    while (cap < n)
        cap *= 2;
    return cap;
}

static int small_grow(void **arr, uint32_t n, size_t elem)
{
    if (!small_full(n))
        return 0;
    size_t cap = n ? (size_t)n * 2 : SMALL_MIN_CAP;
    void *a = realloc(*arr, cap * elem);
    if (!a)
        return -1;
    *arr = a;
    return 0;
}

static metric_win *win_get(metric_stream *s)
{
    if (!s->w)
        s->w = calloc(1, sizeof *s->w);
    return s->w;
}

static void win_release_if_empty(metric_stream *s)
{
    metric_win *w = s->w;
    if (w && !w->b.root && !w->kused && !w->kt.root) {
        mtree_free(&w->b);
        mtree_free(&w->kt);
        free(w->k);
        free(w->kh);
        free(w);
        s->w = NULL;
    }
}

/* ---- buckets, small form: a sorted array ---- */

/* First bucket with at > t. */
static uint32_t bucket_after(const metric_bucket *b, uint32_t n, td_time t)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (b[mid].at <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* ---- buckets, either form ---- */

static bool buckets_tree(const metric_stream *s)
{
    return s->nb > METRIC_SMALL;
}

/* A bucket as an mtree leaf (tie 0). */
static mtree_node bucket_node(const metric_bucket *b)
{
    return (mtree_node){.at = b->at,
                        .count = b->count,
                        .sum = b->sum,
                        .min = b->min,
                        .max = b->max,
                        .last = b->last};
}

/* Moves the array into a tree once it outgrows METRIC_SMALL. */
static int buckets_to_tree(metric_stream *s)
{
    metric_win *w = win_get(s);
    if (!w)
        return -1;
    mtree t = {0};
    for (uint32_t i = 0; i < s->nb; i++) {
        mtree_node e = bucket_node(&s->b[i]);
        if (mtree_put(&t, &e) != 0) {
            mtree_free(&t);
            return -1;
        }
    }
    w->b = t;
    free(s->b);
    s->b = NULL;
    return 0;
}

static int to_array(void *ud, const mtree_node *n)
{
    metric_stream *s = ud;
    s->b[s->nb++] = (metric_bucket){n->at, n->sum, n->min, n->max, n->last, (uint32_t)n->count};
    return 0;
}

/* Back to an array once pruning leaves METRIC_SMALL or fewer. */
static void buckets_to_array(metric_stream *s)
{
    uint32_t n = s->w->b.size;
    metric_bucket *b = malloc((n > SMALL_MIN_CAP ? n : SMALL_MIN_CAP) * 2 * sizeof *b);
    if (!b)
        return; /* stays a tree; both forms answer the same */
    s->b = b;
    s->nb = 0;
    mtree_each(&s->w->b, to_array, s);
    mtree_free(&s->w->b);
}

static int add_bucket(metric_stream *s, td_time at, double value)
{
    if (buckets_tree(s)) {
        uint32_t before = s->w->b.size;
        if (mtree_add(&s->w->b, at, 0, value) != 0)
            return -1;
        s->nb += s->w->b.size - before;
        return 0;
    }
    /* Events arrive roughly in time order, so this is usually an append. */
    uint32_t i = (s->nb && s->b[s->nb - 1].at < at) ? s->nb : bucket_after(s->b, s->nb, at);
    if (i > 0 && s->b[i - 1].at == at) {
        metric_bucket *b = &s->b[i - 1];
        if (b->count == UINT32_MAX)
            return -1;
        b->count++;
        b->sum += value;
        b->min = fmin(b->min, value);
        b->max = fmax(b->max, value);
        b->last = value; /* same second: the later arrival wins */
        return 0;
    }
    if (small_grow((void **)&s->b, s->nb, sizeof *s->b) != 0)
        return -1;
    memmove(&s->b[i + 1], &s->b[i], (s->nb - i) * sizeof *s->b);
    s->b[i] = (metric_bucket){at, value, value, value, value, 1};
    s->nb++;
    if (buckets_tree(s) && buckets_to_tree(s) != 0) {
        /* Undo, so that the failure leaves the stream as it was. */
        s->nb--;
        memmove(&s->b[i], &s->b[i + 1], (s->nb - i) * sizeof *s->b);
        return -1;
    }
    return 0;
}

static void prune_buckets(metric_stream *s, td_time horizon)
{
    if (buckets_tree(s)) {
        mtree_drop_through(&s->w->b, horizon, NULL, NULL);
        s->nb = s->w->b.size;
        if (!buckets_tree(s))
            buckets_to_array(s);
        return;
    }
    if (s->nb && s->b[0].at <= horizon) {
        uint32_t i = bucket_after(s->b, s->nb, horizon);
        memmove(s->b, &s->b[i], (s->nb - i) * sizeof *s->b);
        s->nb -= i;
    }
    if (s->nb == 0) {
        free(s->b);
        s->b = NULL;
    }
}

static void free_buckets(metric_stream *s)
{
    free(s->b);
    s->b = NULL;
    if (s->w)
        mtree_free(&s->w->b);
    s->nb = 0;
}

/* ---- distinct keys, tree form: a hash by text, an mtree by last time ---- */

/* The hash slot holding key, or the empty one where it would go. */
static uint32_t kh_find(const metric_win *w, const char *key, bool *found)
{
    uint32_t mask = w->khcap - 1, i = (uint32_t)td_hash_fnv1a(key) & mask, tomb = UINT32_MAX;
    for (;; i = (i + 1) & mask) {
        uint32_t v = w->kh[i];
        if (v == 0) {
            *found = false;
            return tomb != UINT32_MAX ? tomb : i;
        }
        if (v == KEY_TOMBSTONE) {
            if (tomb == UINT32_MAX)
                tomb = i;
        } else if (strcmp(w->k[v - 1].key, key) == 0) {
            *found = true;
            return i;
        }
    }
}

/* Rebuilds the hash at cap slots (a power of two), dropping tombstones. */
static int kh_rebuild(metric_win *w, uint32_t cap)
{
    uint32_t *kh = calloc(cap, sizeof *kh);
    if (!kh)
        return -1;
    for (uint32_t slot = 0; slot < w->kused; slot++) {
        if (!w->k[slot].key)
            continue;
        uint32_t i = (uint32_t)td_hash_fnv1a(w->k[slot].key) & (cap - 1);
        while (kh[i])
            i = (i + 1) & (cap - 1);
        kh[i] = slot + 1;
    }
    free(w->kh);
    w->kh = kh;
    w->khcap = cap;
    w->khtomb = 0;
    return 0;
}

/* Adds key (taking ownership of `owned` when non-NULL, else copying) or
 * moves its last time forward. 0, 1 when it was new, -1 on OOM with
 * nothing changed. */
static int tree_key_add(metric_win *w, const char *key, char *owned, td_time at, uint32_t held)
{
    if ((held + w->khtomb + 1) * 2 > w->khcap) {
        uint32_t cap = KEYS_MIN_CAP * 2;
        while (cap < (held + 1) * 4)
            cap *= 2;
        if (kh_rebuild(w, cap) != 0)
            return -1;
    }
    bool found;
    uint32_t i = kh_find(w, key, &found);
    if (found) {
        uint32_t slot = w->kh[i] - 1;
        metric_key *k = &w->k[slot];
        if (at > k->last) {
            mtree_node e = {.at = at, .tie = slot, .count = 1};
            if (mtree_put(&w->kt, &e) != 0)
                return -1;
            mtree_remove(&w->kt, k->last, slot);
            k->last = at;
        }
        free(owned);
        return 0;
    }
    if (!w->kfree && w->kused == w->capk) {
        uint32_t cap = w->capk ? w->capk * 2 : KEYS_MIN_CAP;
        metric_key *k = realloc(w->k, (size_t)cap * sizeof *k);
        if (!k)
            return -1;
        w->k = k;
        w->capk = cap;
    }
    char *dup = owned ? owned : strdup(key);
    if (!dup)
        return -1;
    uint32_t slot = w->kfree ? w->kfree - 1 : w->kused;
    mtree_node e = {.at = at, .tie = slot, .count = 1};
    if (mtree_put(&w->kt, &e) != 0) {
        if (!owned)
            free(dup);
        return -1;
    }
    if (w->kfree)
        w->kfree = (uint32_t)w->k[slot].last;
    else
        w->kused++;
    w->k[slot] = (metric_key){dup, at};
    if (w->kh[i] == KEY_TOMBSTONE)
        w->khtomb--;
    w->kh[i] = slot + 1;
    return 1;
}

static void tree_keys_free(metric_win *w)
{
    for (uint32_t i = 0; i < w->kused; i++)
        free(w->k[i].key);
    free(w->k);
    free(w->kh);
    mtree_free(&w->kt);
    w->k = NULL;
    w->kh = NULL;
    w->kused = w->capk = w->kfree = w->khcap = w->khtomb = 0;
}

typedef struct key_drop {
    metric_win *w;
    uint32_t dropped;
} key_drop;

static void drop_key(void *ud, const mtree_node *n)
{
    key_drop *kd = ud;
    metric_win *w = kd->w;
    metric_key *k = &w->k[n->tie];
    bool found;
    uint32_t i = kh_find(w, k->key, &found);
    if (found) {
        w->kh[i] = KEY_TOMBSTONE;
        w->khtomb++;
    }
    free(k->key);
    k->key = NULL;
    k->last = w->kfree; /* chains the free slots */
    w->kfree = n->tie + 1;
    kd->dropped++;
}

/* ---- distinct keys, either form ---- */

static bool keys_tree(const metric_stream *s)
{
    return s->nk > METRIC_SMALL;
}

static int by_key_text(const void *a, const void *b)
{
    return strcmp(((const metric_key *)a)->key, ((const metric_key *)b)->key);
}

/* Moves the sorted array into the hash and tree (the strings move too). */
static int keys_to_tree(metric_stream *s)
{
    metric_win *w = win_get(s);
    if (!w)
        return -1;
    for (uint32_t i = 0; i < s->nk; i++)
        if (tree_key_add(w, s->k[i].key, s->k[i].key, s->k[i].last, i) < 0) {
            /* Give the strings back to the array and drop the half tree. */
            for (uint32_t j = 0; j < w->kused; j++)
                w->k[j].key = NULL;
            tree_keys_free(w);
            return -1;
        }
    free(s->k);
    s->k = NULL;
    return 0;
}

static void keys_to_array(metric_stream *s)
{
    metric_win *w = s->w;
    metric_key *k = malloc((s->nk > SMALL_MIN_CAP ? s->nk : SMALL_MIN_CAP) * 2 * sizeof *k);
    if (!k)
        return; /* stays a tree; both forms answer the same */
    uint32_t n = 0;
    for (uint32_t i = 0; i < w->kused; i++)
        if (w->k[i].key) {
            k[n++] = w->k[i];
            w->k[i].key = NULL; /* moved */
        }
    qsort(k, n, sizeof *k, by_key_text);
    tree_keys_free(w);
    s->k = k;
}

static int add_key(metric_stream *s, const char *key, td_time at)
{
    if (keys_tree(s)) {
        int rc = tree_key_add(s->w, key, NULL, at, s->nk);
        if (rc < 0)
            return -1;
        s->nk += (uint32_t)rc;
        return 0;
    }
    uint32_t lo = 0, hi = s->nk;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = strcmp(s->k[mid].key, key);
        if (c == 0) {
            if (at > s->k[mid].last)
                s->k[mid].last = at;
            return 0;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (small_grow((void **)&s->k, s->nk, sizeof *s->k) != 0)
        return -1;
    char *dup = strdup(key);
    if (!dup)
        return -1;
    memmove(&s->k[lo + 1], &s->k[lo], (s->nk - lo) * sizeof *s->k);
    s->k[lo] = (metric_key){dup, at};
    s->nk++;
    if (keys_tree(s) && keys_to_tree(s) != 0) {
        s->nk--;
        free(s->k[lo].key);
        memmove(&s->k[lo], &s->k[lo + 1], (s->nk - lo) * sizeof *s->k);
        return -1;
    }
    return 0;
}

static void free_keys(metric_stream *s)
{
    for (uint32_t i = 0; s->k && i < s->nk; i++)
        free(s->k[i].key);
    free(s->k);
    s->k = NULL;
    if (s->w)
        tree_keys_free(s->w);
    s->nk = 0;
}

static void prune_keys(metric_stream *s, td_time horizon)
{
    if (keys_tree(s)) {
        metric_win *w = s->w;
        key_drop kd = {w, 0};
        mtree_drop_through(&w->kt, horizon, drop_key, &kd);
        s->nk -= kd.dropped;
        if (!keys_tree(s)) {
            keys_to_array(s);
        } else if (w->khtomb > s->nk && w->khcap > KEYS_MIN_CAP * 2) {
            uint32_t cap = KEYS_MIN_CAP * 2;
            while (cap < s->nk * 4)
                cap *= 2;
            kh_rebuild(w, cap); /* on failure the old hash still works */
        }
        return;
    }
    uint32_t w = 0;
    for (uint32_t r = 0; r < s->nk; r++) {
        if (s->k[r].last > horizon)
            s->k[w++] = s->k[r];
        else
            free(s->k[r].key);
    }
    s->nk = w;
    if (w == 0) {
        free(s->k);
        s->k = NULL;
    }
}

/* ---- folding events in ---- */

int metric_stream_add(metric_stream *s, td_time at, double value, const char *key, uint8_t flags)
{
    /* Windows first, so a failure leaves the lifetime aggregate untouched
     * (a key recorded before a failing bucket is harmless: it was seen). */
    if ((flags & EVF_KEYS) && key && add_key(s, key, at) != 0)
        return -1;
    if ((flags & EVF_BUCKETS) && add_bucket(s, at, value) != 0)
        return -1;
    if (s->count == 0) {
        s->sum = value;
        s->min = s->max = value;
        s->latest = value;
        s->latest_at = at;
    } else {
        s->sum += value;
        s->min = fmin(s->min, value);
        s->max = fmax(s->max, value);
        if (at >= s->latest_at) {
            s->latest = value;
            s->latest_at = at;
        }
    }
    s->count++;
    return 0;
}

/* ---- taking an event out ---- */

/* The bucket at `at`: its index in the small form, or its tree leaf. */
static bool bucket_find(const metric_stream *s, td_time at, metric_bucket *out, uint32_t *index)
{
    if (buckets_tree(s)) {
        const mtree_node *n = mtree_last_through(&s->w->b, at);
        if (!n || n->at != at)
            return false;
        *out = (metric_bucket){n->at, n->sum, n->min, n->max, n->last, (uint32_t)n->count};
        return true;
    }
    uint32_t i = bucket_after(s->b, s->nb, at);
    if (i == 0 || s->b[i - 1].at != at)
        return false;
    *index = i - 1;
    *out = s->b[i - 1];
    return true;
}

/* Whether value leaves an aggregate of count events with extremes mn, mx
 * exactly: not an extreme (another might share it, or not). */
static bool inner_value(uint64_t count, double value, double mn, double mx)
{
    return count >= 2 && value > mn && value < mx;
}

int metric_stream_remove(metric_stream *s, td_time at, double value, const char *key, uint8_t flags,
                         td_time horizon)
{
    if (s->count == 0)
        return 1;
    if (s->nk && (flags & EVF_KEYS) && key)
        return 1; /* the same key may have come with another event */
    bool last_one = s->count == 1;
    if (!last_one && (!inner_value(s->count, value, s->min, s->max) || at >= s->latest_at))
        return 1;
    metric_bucket b = {0};
    uint32_t bi = 0;
    bool held = s->nb && bucket_find(s, at, &b, &bi);
    if (held) {
        if (b.count == 1 ? b.sum != value || b.last != value
                         : !inner_value(b.count, value, b.min, b.max) || value == b.last)
            return 1;
    } else if (s->nb && (flags & EVF_BUCKETS) && at > horizon) {
        return 1; /* its bucket should be here: the stream is not what the event left */
    }
    if (last_one) {
        /* Nothing else was ever folded in: the stream empties. */
        metric_stream_free(s);
        return 0;
    }
    if (held && b.count == 1) {
        if (buckets_tree(s)) {
            mtree_remove(&s->w->b, at, 0);
            s->nb = s->w->b.size;
            if (!buckets_tree(s))
                buckets_to_array(s);
        } else {
            memmove(&s->b[bi], &s->b[bi + 1], (s->nb - bi - 1) * sizeof *s->b);
            if (--s->nb == 0) {
                free(s->b);
                s->b = NULL;
            }
        }
        win_release_if_empty(s);
    } else if (held) {
        b.count--;
        b.sum -= value;
        if (buckets_tree(s)) {
            mtree_node e = bucket_node(&b);
            if (mtree_put(&s->w->b, &e) != 0) /* an existing key: no allocation */
                return -1;
        } else {
            s->b[bi] = b;
        }
    }
    s->count--;
    s->sum -= value;
    return 0;
}

static td_time oldest_bucket(const metric_stream *s)
{
    if (buckets_tree(s)) {
        const mtree_node *n = mtree_first_after(&s->w->b, TD_TIME_MIN - 1);
        return n ? n->at : TD_TIME_NONE;
    }
    return s->nb ? s->b[0].at : TD_TIME_NONE;
}

static td_time oldest_key(const metric_stream *s)
{
    if (keys_tree(s)) {
        const mtree_node *n = mtree_first_after(&s->w->kt, TD_TIME_MIN - 1);
        return n ? n->at : TD_TIME_NONE;
    }
    td_time t = TD_TIME_NONE;
    for (uint32_t i = 0; i < s->nk; i++)
        if (t == TD_TIME_NONE || s->k[i].last < t)
            t = s->k[i].last;
    return t;
}

bool metric_stream_needs_prune(const metric_stream *s, td_time horizon, uint8_t flags)
{
    if (s->nb) {
        td_time b = oldest_bucket(s);
        if (!(flags & EVF_BUCKETS) || b <= horizon)
            return true;
    }
    if (s->nk) {
        if (!(flags & EVF_KEYS))
            return true;
        if (!(flags & EVF_KEYS_LIFE) && oldest_key(s) <= horizon)
            return true;
    }
    return false;
}

void metric_stream_prune(metric_stream *s, td_time horizon, uint8_t flags)
{
    if (!(flags & EVF_BUCKETS))
        free_buckets(s);
    else
        prune_buckets(s, horizon);
    if (!(flags & EVF_KEYS))
        free_keys(s);
    else if (!(flags & EVF_KEYS_LIFE))
        prune_keys(s, horizon);
    win_release_if_empty(s);
}

void metric_stream_free(metric_stream *s)
{
    free_buckets(s);
    free_keys(s);
    if (s->w) {
        mtree_free(&s->w->kt);
        free(s->w);
    }
    memset(s, 0, sizeof *s);
}

bool metric_stream_has_window(const metric_stream *s)
{
    return s->nb || s->nk;
}

uint32_t metric_stream_n_buckets(const metric_stream *s)
{
    return s->nb;
}

uint32_t metric_stream_n_keys(const metric_stream *s)
{
    return s->nk;
}

typedef struct bucket_walk {
    int (*fn)(void *ud, const metric_bucket *b);
    void *ud;
} bucket_walk;

static int bucket_of(void *ud, const mtree_node *n)
{
    bucket_walk *bw = ud;
    metric_bucket b = {n->at, n->sum, n->min, n->max, n->last, (uint32_t)n->count};
    return bw->fn(bw->ud, &b);
}

int metric_stream_each_bucket(const metric_stream *s, int (*fn)(void *ud, const metric_bucket *b),
                              void *ud)
{
    if (buckets_tree(s)) {
        bucket_walk bw = {fn, ud};
        return mtree_each(&s->w->b, bucket_of, &bw);
    }
    for (uint32_t i = 0; i < s->nb; i++) {
        int rc = fn(ud, &s->b[i]);
        if (rc)
            return rc;
    }
    return 0;
}

static int by_key_ptr(const void *a, const void *b)
{
    return strcmp((*(const metric_key *const *)a)->key, (*(const metric_key *const *)b)->key);
}

int metric_stream_each_key(const metric_stream *s,
                           int (*fn)(void *ud, const char *key, td_time last), void *ud)
{
    if (!keys_tree(s)) {
        for (uint32_t i = 0; i < s->nk; i++) {
            int rc = fn(ud, s->k[i].key, s->k[i].last);
            if (rc)
                return rc;
        }
        return 0;
    }
    const metric_win *w = s->w;
    const metric_key **order = malloc((size_t)s->nk * sizeof *order);
    if (!order)
        return -1;
    uint32_t n = 0;
    for (uint32_t i = 0; i < w->kused; i++)
        if (w->k[i].key)
            order[n++] = &w->k[i];
    qsort(order, n, sizeof *order, by_key_ptr);
    int rc = 0;
    for (uint32_t i = 0; i < n && rc == 0; i++)
        rc = fn(ud, order[i]->key, order[i]->last);
    free(order);
    return rc;
}

int metric_stream_load_bucket(metric_stream *s, const metric_bucket *b)
{
    if (buckets_tree(s)) {
        mtree_node e = bucket_node(b);
        if (mtree_put(&s->w->b, &e) != 0)
            return -1;
        s->nb = s->w->b.size;
        return 0;
    }
    /* The codec hands buckets over in order: an append. */
    if (small_grow((void **)&s->b, s->nb, sizeof *s->b) != 0)
        return -1;
    s->b[s->nb++] = *b;
    if (buckets_tree(s) && buckets_to_tree(s) != 0) {
        s->nb--;
        return -1;
    }
    return 0;
}

int metric_stream_load_key(metric_stream *s, const char *key, td_time last)
{
    return add_key(s, key, last);
}

size_t metric_stream_window_bytes(const metric_stream *s)
{
    size_t n = 0;
    if (s->b)
        n += small_cap(s->nb) * sizeof *s->b;
    if (s->k)
        n += small_cap(s->nk) * sizeof *s->k;
    for (uint32_t i = 0; s->k && i < s->nk; i++)
        n += strlen(s->k[i].key) + 1;
    const metric_win *w = s->w;
    if (w) {
        n += sizeof *w + mtree_bytes(&w->b) + mtree_bytes(&w->kt) + (size_t)w->capk * sizeof *w->k +
             (size_t)w->khcap * sizeof *w->kh;
        for (uint32_t i = 0; i < w->kused; i++)
            if (w->k[i].key)
                n += strlen(w->k[i].key) + 1;
    }
    return n;
}

bool metric_window_lo(const metric_window *w, td_time t, td_time *lo)
{
    switch (w->kind) {
    case WIN_DAYS:
        *lo = t - (td_time)w->days * TD_SECONDS_PER_DAY;
        return true;
    case WIN_QUARTER:
        *lo = td_quarter_start(t) - 1;
        return true;
    case WIN_YEAR:
        *lo = td_year_start(t) - 1;
        return true;
    case WIN_LIFETIME:
        break;
    }
    return false;
}

static double lifetime_value(const metric_stream *s, metric_agg agg)
{
    switch (agg) {
    case AGG_SUM:
        return s->count ? s->sum : 0.0;
    case AGG_COUNT:
        return (double)s->count;
    case AGG_DISTINCT:
        return (double)metric_stream_n_keys(s);
    case AGG_AVG:
        return s->count ? s->sum / (double)s->count : NAN;
    case AGG_MIN:
        return s->count ? s->min : NAN;
    case AGG_MAX:
        return s->count ? s->max : NAN;
    case AGG_LATEST:
        return s->count ? s->latest : NAN;
    case AGG_SCORE:
        break;
    }
    return NAN;
}

double metric_stream_value(const metric_stream *s, metric_agg agg, const metric_window *w,
                           td_time t)
{
    static const metric_stream empty;
    if (!s)
        s = &empty;
    td_time lo;
    if (!metric_window_lo(w, t, &lo))
        return lifetime_value(s, agg);
    if (agg == AGG_DISTINCT) {
        if (keys_tree(s))
            return (double)mtree_range(&s->w->kt, lo, t).count;
        uint64_t n = 0;
        for (uint32_t i = 0; i < s->nk; i++)
            n += s->k[i].last > lo && s->k[i].last <= t;
        return (double)n;
    }
    if (buckets_tree(s)) {
        if (agg == AGG_LATEST) {
            const mtree_node *n = mtree_last_through(&s->w->b, t);
            return n && n->at > lo ? n->last : NAN;
        }
        mtree_agg a = mtree_range(&s->w->b, lo, t);
        if (a.count == 0)
            return (agg == AGG_SUM || agg == AGG_COUNT) ? 0.0 : NAN;
        switch (agg) {
        case AGG_SUM:
            return a.sum;
        case AGG_COUNT:
            return (double)a.count;
        case AGG_AVG:
            return a.sum / (double)a.count;
        case AGG_MIN:
            return a.min;
        case AGG_MAX:
            return a.max;
        default:
            return NAN;
        }
    }
    uint32_t i = bucket_after(s->b, s->nb, lo), end = bucket_after(s->b, s->nb, t);
    if (i >= end)
        return (agg == AGG_SUM || agg == AGG_COUNT) ? 0.0 : NAN;
    double sum = 0, mn = INFINITY, mx = -INFINITY;
    uint64_t count = 0;
    for (uint32_t j = i; j < end; j++) {
        sum += s->b[j].sum;
        count += s->b[j].count;
        mn = fmin(mn, s->b[j].min);
        mx = fmax(mx, s->b[j].max);
    }
    switch (agg) {
    case AGG_SUM:
        return sum;
    case AGG_COUNT:
        return (double)count;
    case AGG_AVG:
        return sum / (double)count;
    case AGG_MIN:
        return mn;
    case AGG_MAX:
        return mx;
    case AGG_LATEST:
        return s->b[end - 1].last;
    case AGG_DISTINCT:
    case AGG_SCORE:
        break;
    }
    return NAN;
}

/* Keeps the earliest instant strictly after t. */
static void due_min(td_time *due, td_time t, td_time x)
{
    if (x > t && (*due == TD_TIME_NONE || x < *due))
        *due = x;
}

/* The first bucket time > t, and the oldest bucket time in (lo, t]. */
static void bucket_edges(const metric_stream *s, td_time lo, td_time t, td_time *next, td_time *in)
{
    *next = *in = TD_TIME_NONE;
    if (buckets_tree(s)) {
        const mtree_node *a = mtree_first_after(&s->w->b, t);
        const mtree_node *b = mtree_first_after(&s->w->b, lo);
        *next = a ? a->at : TD_TIME_NONE;
        *in = b && b->at <= t ? b->at : TD_TIME_NONE;
        return;
    }
    uint32_t first = bucket_after(s->b, s->nb, lo), fut = bucket_after(s->b, s->nb, t);
    if (fut < s->nb)
        *next = s->b[fut].at;
    if (first < fut)
        *in = s->b[first].at;
}

/* The same for the keys' latest times. */
static void key_edges(const metric_stream *s, td_time lo, td_time t, td_time *next, td_time *in)
{
    *next = *in = TD_TIME_NONE;
    if (keys_tree(s)) {
        const mtree_node *a = mtree_first_after(&s->w->kt, t);
        const mtree_node *b = mtree_first_after(&s->w->kt, lo);
        *next = a ? a->at : TD_TIME_NONE;
        *in = b && b->at <= t ? b->at : TD_TIME_NONE;
        return;
    }
    for (uint32_t i = 0; i < s->nk; i++) {
        td_time k = s->k[i].last;
        if (k > lo && k <= t && (*in == TD_TIME_NONE || k < *in))
            *in = k;
        else if (k > t && (*next == TD_TIME_NONE || k < *next))
            *next = k;
    }
}

td_time metric_stream_next_due(const metric_stream *s, const metric_window *w, td_time t)
{
    td_time lo;
    if (!s || !metric_window_lo(w, t, &lo))
        return TD_TIME_NONE;
    td_time due = TD_TIME_NONE, b_next, b_in, k_next, k_in;
    bucket_edges(s, lo, t, &b_next, &b_in);
    key_edges(s, lo, t, &k_next, &k_in);
    /* What enters: an event dated ahead of t (within the allowed skew). */
    if (b_next != TD_TIME_NONE)
        due_min(&due, t, b_next);
    if (k_next != TD_TIME_NONE)
        due_min(&due, t, k_next);
    /* What leaves: the oldest inside the window, one span on. */
    if (w->kind == WIN_DAYS) {
        td_time span = (td_time)w->days * TD_SECONDS_PER_DAY;
        if (b_in != TD_TIME_NONE)
            due_min(&due, t, b_in + span);
        if (k_in != TD_TIME_NONE)
            due_min(&due, t, k_in + span);
    } else if (b_in != TD_TIME_NONE || k_in != TD_TIME_NONE) {
        due_min(&due, t, w->kind == WIN_QUARTER ? td_next_quarter_start(t) : td_next_year_start(t));
    }
    return due;
}
