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

#define STREAM_MIN_CAP 4
#define SCORE_FULL     100.0

static int grow(void **arr, uint32_t *cap, size_t elem)
{
    uint32_t ncap = *cap ? *cap * 2 : STREAM_MIN_CAP;
    void *n = realloc(*arr, (size_t)ncap * elem);
    if (!n)
        return -1;
    *arr = n;
    *cap = ncap;
    return 0;
}

/* First bucket with at > t. */
static uint32_t bucket_after(const metric_stream *s, td_time t)
{
    uint32_t lo = 0, hi = s->nb;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (s->b[mid].at <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int add_bucket(metric_stream *s, td_time at, double value)
{
    /* Events arrive roughly in time order, so this is usually an append. */
    uint32_t i = (s->nb && s->b[s->nb - 1].at < at) ? s->nb : bucket_after(s, at);
    if (i > 0 && s->b[i - 1].at == at) {
        metric_bucket *b = &s->b[i - 1];
        b->count++;
        b->sum += value;
        b->min = fmin(b->min, value);
        b->max = fmax(b->max, value);
        b->last = value; /* same second: the later arrival wins */
        return 0;
    }
    if (s->nb == s->capb && grow((void **)&s->b, &s->capb, sizeof *s->b) != 0)
        return -1;
    memmove(&s->b[i + 1], &s->b[i], (s->nb - i) * sizeof *s->b);
    s->b[i] = (metric_bucket){at, value, value, value, value, 1};
    s->nb++;
    return 0;
}

static int add_key(metric_stream *s, const char *key, td_time at)
{
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
    if (s->nk == s->capk && grow((void **)&s->k, &s->capk, sizeof *s->k) != 0)
        return -1;
    char *dup = strdup(key);
    if (!dup)
        return -1;
    memmove(&s->k[lo + 1], &s->k[lo], (s->nk - lo) * sizeof *s->k);
    s->k[lo] = (metric_key){dup, at};
    s->nk++;
    return 0;
}

int metric_stream_add(metric_stream *s, td_time at, double value, const char *key, uint8_t flags)
{
    /* Allocation first so a failure leaves the aggregate untouched. */
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

void metric_stream_prune(metric_stream *s, td_time horizon, uint8_t flags)
{
    if (!(flags & EVF_BUCKETS)) {
        free(s->b);
        s->b = NULL;
        s->nb = s->capb = 0;
    } else if (s->nb && s->b[0].at <= horizon) {
        uint32_t i = bucket_after(s, horizon);
        memmove(s->b, &s->b[i], (s->nb - i) * sizeof *s->b);
        s->nb -= i;
    }
    if (!(flags & EVF_KEYS) || !(flags & EVF_KEYS_LIFE)) {
        uint32_t w = 0;
        for (uint32_t r = 0; r < s->nk; r++) {
            if ((flags & EVF_KEYS) && s->k[r].last > horizon)
                s->k[w++] = s->k[r];
            else
                free(s->k[r].key);
        }
        s->nk = w;
        if (w == 0) {
            free(s->k);
            s->k = NULL;
            s->capk = 0;
        }
    }
}

void metric_stream_free(metric_stream *s)
{
    free(s->b);
    for (uint32_t i = 0; i < s->nk; i++)
        free(s->k[i].key);
    free(s->k);
    memset(s, 0, sizeof *s);
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
        return (double)s->nk;
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
        uint64_t n = 0;
        for (uint32_t i = 0; i < s->nk; i++)
            n += s->k[i].last > lo && s->k[i].last <= t;
        return (double)n;
    }
    uint32_t i = bucket_after(s, lo), end = bucket_after(s, t);
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

td_time metric_stream_next_due(const metric_stream *s, const metric_window *w, td_time t)
{
    td_time lo;
    if (!s || !metric_window_lo(w, t, &lo))
        return TD_TIME_NONE;
    td_time due = TD_TIME_NONE;
    uint32_t first = bucket_after(s, lo), fut = bucket_after(s, t);
    bool has_in = first < fut;
    for (uint32_t i = 0; i < s->nk; i++) {
        if (s->k[i].last > lo && s->k[i].last <= t)
            has_in = true;
        else if (s->k[i].last > t)
            due_min(&due, t, s->k[i].last);
    }
    if (fut < s->nb)
        due_min(&due, t, s->b[fut].at);
    if (w->kind == WIN_DAYS) {
        td_time span = (td_time)w->days * TD_SECONDS_PER_DAY;
        if (first < fut)
            due_min(&due, t, s->b[first].at + span);
        for (uint32_t i = 0; i < s->nk; i++)
            if (s->k[i].last > lo && s->k[i].last <= t)
                due_min(&due, t, s->k[i].last + span);
    } else if (has_in) {
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
