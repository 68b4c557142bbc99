/* Metric state: one stream per partner per event name (engine_internal.h).
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
 * Does not validate events (engine.c does) and reads no clock. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

#define KEYS_MIN_CAP  4
#define KEY_TOMBSTONE UINT32_MAX
#define SCORE_FULL    100.0

/* ---- windows: allocated on first need ---- */

static metric_win *win_get(metric_stream *s)
{
    if (!s->w)
        s->w = calloc(1, sizeof *s->w);
    return s->w;
}

/* ---- distinct keys: a hash by text, an mtree by last time ---- */

static uint64_t key_hash(const char *k)
{
    /* FNV-1a */
    uint64_t h = 1469598103934665603ull;
    for (; *k; k++)
        h = (h ^ (uint8_t)*k) * 1099511628211ull;
    return h;
}

/* The hash slot holding key, or the empty one where it would go. */
static uint32_t kh_find(const metric_win *w, const char *key, bool *found)
{
    uint32_t mask = w->khcap - 1, i = (uint32_t)key_hash(key) & mask, tomb = UINT32_MAX;
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
        uint32_t i = (uint32_t)key_hash(w->k[slot].key) & (cap - 1);
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

static int add_key(metric_win *w, const char *key, td_time at)
{
    /* Room first (hash at most half full, a free slot), so that nothing
     * below can fail half way. */
    if ((w->nk + w->khtomb + 1) * 2 > w->khcap) {
        uint32_t cap = KEYS_MIN_CAP * 2;
        while (cap < (w->nk + 1) * 4)
            cap *= 2;
        if (kh_rebuild(w, cap) != 0)
            return -1;
    }
    bool found;
    uint32_t i = kh_find(w, key, &found);
    if (found) {
        metric_key *k = &w->k[w->kh[i] - 1];
        if (at > k->last) {
            uint32_t slot = w->kh[i] - 1;
            mtree_node e = {.at = at, .tie = slot, .count = 1};
            if (mtree_put(&w->kt, &e) != 0)
                return -1;
            mtree_remove(&w->kt, k->last, slot);
            k->last = at;
        }
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
    char *dup = strdup(key);
    if (!dup)
        return -1;
    uint32_t slot = w->kfree ? w->kfree - 1 : w->kused;
    mtree_node e = {.at = at, .tie = slot, .count = 1};
    if (mtree_put(&w->kt, &e) != 0) {
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
    w->nk++;
    return 0;
}

static void drop_key(void *ud, const mtree_node *n)
{
    metric_win *w = ud;
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
    w->nk--;
}

static void keys_free(metric_win *w)
{
    for (uint32_t i = 0; i < w->kused; i++)
        free(w->k[i].key);
    free(w->k);
    free(w->kh);
    mtree_free(&w->kt);
    w->k = NULL;
    w->kh = NULL;
    w->nk = w->kused = w->capk = w->kfree = w->khcap = w->khtomb = 0;
}

/* ---- folding events in ---- */

int metric_stream_add(metric_stream *s, td_time at, double value, const char *key, uint8_t flags)
{
    /* Windows first, so a failure leaves the lifetime aggregate untouched
     * (a key recorded before a failing bucket is harmless: it was seen). */
    if ((flags & (EVF_KEYS | EVF_BUCKETS)) && !win_get(s))
        return -1;
    if ((flags & EVF_KEYS) && key && add_key(s->w, key, at) != 0)
        return -1;
    if ((flags & EVF_BUCKETS) && mtree_add(&s->w->b, at, 0, value) != 0)
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

void metric_stream_prune(metric_stream *s, td_time horizon, uint8_t flags)
{
    metric_win *w = s->w;
    if (!w)
        return;
    if (!(flags & EVF_BUCKETS))
        mtree_free(&w->b);
    else
        mtree_drop_through(&w->b, horizon, NULL, NULL);
    if (!(flags & EVF_KEYS))
        keys_free(w);
    else if (!(flags & EVF_KEYS_LIFE))
        mtree_drop_through(&w->kt, horizon, drop_key, w);
    if (w->b.size == 0 && w->nk == 0) {
        metric_stream_free_window(s);
        return;
    }
    /* Mostly tombstones: shrink the hash back. */
    if (w->khtomb > w->nk && w->khcap > KEYS_MIN_CAP * 2) {
        uint32_t cap = KEYS_MIN_CAP * 2;
        while (cap < w->nk * 4)
            cap *= 2;
        kh_rebuild(w, cap); /* on failure the old hash still works */
    }
}

void metric_stream_free_window(metric_stream *s)
{
    if (!s->w)
        return;
    mtree_free(&s->w->b);
    keys_free(s->w);
    free(s->w);
    s->w = NULL;
}

void metric_stream_free(metric_stream *s)
{
    metric_stream_free_window(s);
    memset(s, 0, sizeof *s);
}

bool metric_stream_needs_prune(const metric_stream *s, td_time horizon, uint8_t flags)
{
    const metric_win *w = s->w;
    if (!w)
        return false;
    const mtree_node *b = mtree_first_after(&w->b, TD_TIME_MIN - 1);
    const mtree_node *k = mtree_first_after(&w->kt, TD_TIME_MIN - 1);
    return (b && (b->at <= horizon || !(flags & EVF_BUCKETS))) ||
           (k && (!(flags & EVF_KEYS) || (!(flags & EVF_KEYS_LIFE) && k->at <= horizon)));
}

bool metric_stream_has_window(const metric_stream *s)
{
    return s->w && (s->w->b.size || s->w->nk);
}

td_time metric_stream_oldest(const metric_stream *s)
{
    const mtree_node *n = s->w ? mtree_first_after(&s->w->b, TD_TIME_MIN - 1) : NULL;
    return n ? n->at : TD_TIME_NONE;
}

uint32_t metric_stream_n_buckets(const metric_stream *s)
{
    return s->w ? s->w->b.size : 0;
}

uint32_t metric_stream_n_keys(const metric_stream *s)
{
    return s->w ? s->w->nk : 0;
}

typedef struct bucket_walk {
    int (*fn)(void *ud, const metric_bucket *b);
    void *ud;
} bucket_walk;

static int bucket_of(void *ud, const mtree_node *n)
{
    bucket_walk *bw = ud;
    metric_bucket b = {n->at, n->sum, n->min, n->max, n->last, n->count};
    return bw->fn(bw->ud, &b);
}

int metric_stream_each_bucket(const metric_stream *s, int (*fn)(void *ud, const metric_bucket *b),
                              void *ud)
{
    bucket_walk bw = {fn, ud};
    return s->w ? mtree_each(&s->w->b, bucket_of, &bw) : 0;
}

static int by_key(const void *a, const void *b)
{
    return strcmp((*(const metric_key *const *)a)->key, (*(const metric_key *const *)b)->key);
}

int metric_stream_each_key(const metric_stream *s,
                           int (*fn)(void *ud, const char *key, td_time last), void *ud)
{
    const metric_win *w = s->w;
    if (!w || !w->nk)
        return 0;
    const metric_key **order = malloc((size_t)w->nk * sizeof *order);
    if (!order)
        return -1;
    uint32_t n = 0;
    for (uint32_t i = 0; i < w->kused; i++)
        if (w->k[i].key)
            order[n++] = &w->k[i];
    qsort(order, n, sizeof *order, by_key);
    int rc = 0;
    for (uint32_t i = 0; i < n && rc == 0; i++)
        rc = fn(ud, order[i]->key, order[i]->last);
    free(order);
    return rc;
}

int metric_stream_load_bucket(metric_stream *s, const metric_bucket *b)
{
    if (!win_get(s))
        return -1;
    mtree_node e = {.at = b->at,
                    .count = b->count,
                    .sum = b->sum,
                    .min = b->min,
                    .max = b->max,
                    .last = b->last};
    return mtree_put(&s->w->b, &e);
}

int metric_stream_load_key(metric_stream *s, const char *key, td_time last)
{
    return win_get(s) ? add_key(s->w, key, last) : -1;
}

size_t metric_stream_window_bytes(const metric_stream *s)
{
    const metric_win *w = s->w;
    if (!w)
        return 0;
    size_t n = sizeof *w + mtree_bytes(&w->b) + mtree_bytes(&w->kt) +
               (size_t)w->capk * sizeof *w->k + (size_t)w->khcap * sizeof *w->kh;
    for (uint32_t i = 0; i < w->kused; i++)
        if (w->k[i].key)
            n += strlen(w->k[i].key) + 1;
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
    if (agg == AGG_DISTINCT)
        return s->w ? (double)mtree_range(&s->w->kt, lo, t).count : 0.0;
    if (agg == AGG_LATEST) {
        const mtree_node *n = s->w ? mtree_last_through(&s->w->b, t) : NULL;
        return n && n->at > lo ? n->last : NAN;
    }
    mtree_agg a = s->w ? mtree_range(&s->w->b, lo, t) : (mtree_agg){0};
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
    case AGG_LATEST:
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

td_time metric_stream_next_due(const metric_stream *s, const metric_window *w, td_time t)
{
    td_time lo;
    if (!s || !s->w || !metric_window_lo(w, t, &lo))
        return TD_TIME_NONE;
    const metric_win *mw = s->w;
    td_time due = TD_TIME_NONE;
    /* What enters: the first bucket or key time ahead of t (an event
     * accepted early, within the allowed clock skew). */
    const mtree_node *b_next = mtree_first_after(&mw->b, t);
    const mtree_node *k_next = mtree_first_after(&mw->kt, t);
    if (b_next)
        due_min(&due, t, b_next->at);
    if (k_next)
        due_min(&due, t, k_next->at);
    /* What leaves: the oldest inside the window, one span on. */
    const mtree_node *b_in = mtree_first_after(&mw->b, lo);
    const mtree_node *k_in = mtree_first_after(&mw->kt, lo);
    bool b_has = b_in && b_in->at <= t, k_has = k_in && k_in->at <= t;
    if (w->kind == WIN_DAYS) {
        td_time span = (td_time)w->days * TD_SECONDS_PER_DAY;
        if (b_has)
            due_min(&due, t, b_in->at + span);
        if (k_has)
            due_min(&due, t, k_in->at + span);
    } else if (b_has || k_has) {
        due_min(&due, t, w->kind == WIN_QUARTER ? td_next_quarter_start(t) : td_next_year_start(t));
    }
    return due;
}

td_time metric_horizon(const eng_prog *cp, int ev, td_time now)
{
    td_time h = now - (td_time)cp->ev_days[ev] * TD_SECONDS_PER_DAY;
    if (cp->ev_flags[ev] & EVF_QUARTER) {
        td_time q = td_quarter_start(now) - 1;
        h = q < h ? q : h;
    }
    if (cp->ev_flags[ev] & EVF_YEAR) {
        td_time y = td_year_start(now) - 1;
        h = y < h ? y : h;
    }
    return h;
}

void metric_values(const eng_prog *cp, const td_partner *p, uint64_t mask, td_time t,
                   double *values)
{
    const program *prog = cp->p;
    for (size_t m = 0; m < prog->n_metrics; m++) {
        const metric_def *d = &prog->metrics[m];
        if (!(mask & (1ull << m)) || d->agg == AGG_SCORE)
            continue;
        int ev = cp->metric_ev[m];
        const metric_stream *s = (ev >= 0 && (uint32_t)ev < p->n_streams) ? &p->streams[ev] : NULL;
        values[m] = metric_stream_value(s, d->agg, &d->window, t);
    }
    for (size_t m = 0; m < prog->n_metrics; m++) {
        const metric_def *d = &prog->metrics[m];
        if (!(mask & (1ull << m)) || d->agg != AGG_SCORE)
            continue;
        double score = 0;
        for (size_t i = 0; i < d->n_terms; i++) {
            const score_term *st = &d->terms[i];
            double v = values[st->metric];
            if (!(mask & (1ull << st->metric)) || isnan(v) || st->target == 0)
                continue;
            double r = v / st->target;
            score += st->weight * (r < 0 ? 0 : r > 1 ? 1 : r);
        }
        values[m] = score > SCORE_FULL ? SCORE_FULL : score;
    }
}
