/* A metric stream: what the engine keeps of the events of one name for one
 * partner, and the value of any metric over any window read from it.
 *
 * Metric state is kept per EVENT name, not per metric: one stream per event
 * name a partner has received, holding a lifetime aggregate plus, when some
 * windowed metric reads that event, one bucket per distinct event second
 * inside the retention horizon (and, for distinct metrics, each key's
 * latest time). A metric's value is derived from its event's stream at
 * evaluation time, so a new program that changes a metric's window or
 * aggregate needs no rebuild and two metrics fed by one event share one
 * copy. A stream knows nothing of partners or programs in force; what the
 * program asks of each event name comes in as EVF_* flags.
 *
 * Place in the engine's line (tests/unit/test_engine_layers.sh): above
 * mtree and the program's types; partner and everything above use it. */
#ifndef TD_METRIC_H
#define TD_METRIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mtree.h"
#include "program.h"
#include "td_time.h"

/* Seconds-exact bucket: every event at the same second folds into one.
 * The codec's view of a bucket; metric.c keeps them in an mtree. */
typedef struct metric_bucket {
    td_time at;
    double sum, min, max;
    double last; /* value of the last arrival at this second */
    uint32_t count;
} metric_bucket;

typedef struct metric_key {
    char *key;    /* NULL: a free slot (then `last` chains the free slots) */
    td_time last; /* latest `at` this key was seen */
} metric_key;

/* A stream's window state grows two ways. Up to METRIC_SMALL buckets (or
 * keys) it is a sorted array, scanned: for the many partners with a short
 * history nothing is faster or smaller. Past that it moves into an mtree
 * (buckets, and keys by their latest time, found through a hash), where a
 * window's value, the next instant it changes and pruning cost O(log n),
 * never the partner's whole history. The form follows from the count
 * alone, so the same entries always sum in the same order. */
#define METRIC_SMALL 32

typedef struct metric_win {
    mtree b;                     /* buckets (tie 0), once there are more than METRIC_SMALL */
    metric_key *k;               /* distinct keys by slot, once more than METRIC_SMALL */
    uint32_t kused, capk, kfree; /* slots handed out, allocated; first free slot + 1 */
    uint32_t *kh;                /* key hash: slot + 1; 0 empty, KEY_TOMBSTONE deleted */
    uint32_t khcap, khtomb;
    mtree kt; /* (last, slot) for every key held, count 1 each */
} metric_win;

typedef struct metric_stream {
    /* Lifetime aggregate: every event ever folded in. */
    uint64_t count;
    double sum, min, max;
    double latest;
    td_time latest_at;
    metric_bucket *b; /* small form: sorted by at, unique; NULL in tree form */
    metric_key *k;    /* small form: sorted by key; NULL in tree form */
    uint32_t nb, nk;  /* buckets and keys held, whichever the form */
    metric_win *w;    /* the tree forms; NULL while both are small */
} metric_stream;

/* What the program in force reads of an event name (eng_prog.h works them
 * out); a stream keeps only what some flag asks for. */
enum {
    EVF_BUCKETS = 1,   /* some windowed metric reads this event */
    EVF_QUARTER = 2,   /* ... with a quarter window */
    EVF_YEAR = 4,      /* ... with a year window */
    EVF_KEYS = 8,      /* some distinct metric reads it */
    EVF_KEYS_LIFE = 16 /* ... over its whole lifetime: keys are never pruned */
};

int metric_stream_add(metric_stream *s, td_time at, double value, const char *key, uint8_t flags);
void metric_stream_prune(metric_stream *s, td_time horizon, uint8_t flags);
/* Takes one event (at, value, key) that was folded in out again, when that
 * can be done exactly from what the stream holds: 0 when done, 1 when not
 * (an extreme, the latest, a second's last value or a distinct key might
 * be the one going: the caller rebuilds the stream from its events), with
 * nothing changed. Buckets at or before horizon were pruned: an event
 * there leaves only the lifetime aggregate. -1 on OOM, nothing changed. */
int metric_stream_remove(metric_stream *s, td_time at, double value, const char *key, uint8_t flags,
                         td_time horizon);
void metric_stream_free(metric_stream *s);
/* Whether metric_stream_prune at horizon would drop anything. */
bool metric_stream_needs_prune(const metric_stream *s, td_time horizon, uint8_t flags);
/* Whether the stream holds any bucket or key (what pruning could drop). */
bool metric_stream_has_window(const metric_stream *s);
uint32_t metric_stream_n_buckets(const metric_stream *s);
uint32_t metric_stream_n_keys(const metric_stream *s);
/* Buckets in time order; stops at and returns fn's first non-zero. */
int metric_stream_each_bucket(const metric_stream *s, int (*fn)(void *ud, const metric_bucket *b),
                              void *ud);
/* Keys in strcmp order; -1 on OOM, else stops at and returns fn's first
 * non-zero. */
int metric_stream_each_key(const metric_stream *s,
                           int (*fn)(void *ud, const char *key, td_time last), void *ud);
/* Restoring: a bucket or a key (copied) as the codec reads it. -1 on OOM. */
int metric_stream_load_bucket(metric_stream *s, const metric_bucket *b);
int metric_stream_load_key(metric_stream *s, const char *key, td_time last);
/* Bytes held for windows (benches). */
size_t metric_stream_window_bytes(const metric_stream *s);
/* Value of agg over window w at t; s may be NULL (no events). */
double metric_stream_value(const metric_stream *s, metric_agg agg, const metric_window *w,
                           td_time t);
/* Earliest instant > t at which the windowed value can change, or NONE. */
td_time metric_stream_next_due(const metric_stream *s, const metric_window *w, td_time t);
/* Exclusive lower edge of window w at t; false for lifetime. */
bool metric_window_lo(const metric_window *w, td_time t, td_time *lo);

#endif
