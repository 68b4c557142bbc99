/* Private to the engine: the shapes of partners, metric streams and the
 * compiled view of a program that engine.c, metric.c, explain.c,
 * lifecycle.c, codec.c and hashmap.c share. Outside daemon/engine only
 * white-box code includes it: the metric stream tests (tests/unit/
 * test_metric.c, test_oracle.c) and bench/engine.c, which measures what the
 * streams hold. The daemon uses engine.h.
 *
 * Metric state is kept per EVENT name, not per metric: one stream per event
 * name a partner has received, holding a lifetime aggregate plus, when some
 * windowed metric reads that event, one bucket per distinct event second
 * inside the retention horizon. A metric's value is derived from its event's
 * stream at evaluation time, so a new program that changes a metric's
 * window or aggregate needs no rebuild and two metrics fed by one event
 * share one copy. */
#ifndef TD_ENGINE_INTERNAL_H
#define TD_ENGINE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "engine.h"
#include "hashmap.h"
#include "mtree.h"

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

/* Per-event facts derived from the program in force. */
enum {
    EVF_BUCKETS = 1,   /* some windowed metric reads this event */
    EVF_QUARTER = 2,   /* ... with a quarter window */
    EVF_YEAR = 4,      /* ... with a year window */
    EVF_KEYS = 8,      /* some distinct metric reads it */
    EVF_KEYS_LIFE = 16 /* ... over its whole lifetime: keys are never pruned */
};

/* A program compiled against the engine's event registry. */
typedef struct eng_prog {
    const program *p;
    int *metric_ev; /* registry index per metric, -1 for scores/unknown events */
    size_t n_ev;    /* registry size when compiled */
    int32_t *ev_days;
    uint8_t *ev_flags;
    uint64_t *ev_metrics;  /* metrics fed by the event */
    uint32_t *ev_ladders;  /* ladders whose mask meets ev_metrics */
    uint64_t *ladder_mask; /* ladder's metric mask with every score's inputs */
    int32_t max_days;      /* longest rolling window; quarter/year count as theirs */
} eng_prog;

/* One partner's standing on one ladder. `tier` is the lifecycle tier
 * (grace, reviews, approvals applied); an override, active while
 * override_until is set, pins the tier everyone sees (ts_effective) without
 * stopping the lifecycle tier from evolving underneath. */
typedef struct tier_state {
    td_time since;          /* when `tier` was taken */
    td_time override_until; /* TD_TIME_NONE: no override */
    td_time below_since;    /* first evaluation below `tier`; NONE when not below */
    td_time pending_since;  /* when `pending` entered the approval queue */
    char *override_note;    /* malloc'd "actor\0reason\0"; NULL without override */
    int8_t tier;            /* -1 unranked */
    int8_t qualifying;
    int8_t pending;       /* tier awaiting approval, -1 none */
    int8_t override_tier; /* -1 with override_until set: pinned unranked */
    int8_t denied;        /* promotion refused; re-queued only after qualifying drops below it */
} tier_state;

static inline bool ts_overridden(const tier_state *ts)
{
    return ts->override_until != TD_TIME_NONE;
}

/* Field by field: a struct copy need not copy padding, so no memcmp. */
static inline bool ts_same(const tier_state *a, const tier_state *b)
{
    return a->since == b->since && a->override_until == b->override_until &&
           a->below_since == b->below_since && a->pending_since == b->pending_since &&
           a->override_note == b->override_note && a->tier == b->tier &&
           a->qualifying == b->qualifying && a->pending == b->pending &&
           a->override_tier == b->override_tier && a->denied == b->denied;
}

/* The tier the partner holds as far as anyone outside the engine sees. */
static inline int ts_effective(const tier_state *ts)
{
    return ts_overridden(ts) ? ts->override_tier : ts->tier;
}

struct td_partner {
    char *id; /* stored in the same allocation, right after the struct */
    char *name;
    char **types; /* own array of strings interned in the engine */
    uint32_t n_types;
    uint32_t ladders; /* bit l: the partner sits on ladder l */
    td_time created, updated;
    uint64_t events;
    metric_stream *streams; /* indexed by registry event index */
    uint32_t n_streams;
    uint8_t inline_parts; /* PARTNER_INLINE_*: parts living in the partner's own allocation */
    uint8_t n_tiers;      /* entries in tiers */
    bool touched;         /* in engine.touched: its stored form is out of date */
    tier_state *tiers;    /* one per ladder of the program in force */
};

enum { PARTNER_INLINE_TIERS = 1, PARTNER_INLINE_STREAMS = 2 };

struct engine {
    program *prog;
    eng_prog cp;
    char **events; /* registry of event names; indices never change */
    size_t n_events, cap_events;
    char **type_names; /* partner types, interned: thousands of partners share a few */
    size_t n_type_names, cap_type_names;
    pmap map;
    td_partner **sorted;
    size_t n_sorted;
    bool dirty;
    td_time version_effective; /* when the version in force took effect (grandfathering) */
    program *scheduled;        /* one version waiting for its `effective`, or NULL */
    td_time scheduled_at;
    /* Partners changed since engine_touched_take: what the caller must
     * write. touched_lost: one could not be listed (out of memory), so the
     * caller cannot know them all and must treat the turn as failed. */
    td_partner **touched;
    size_t n_touched, cap_touched;
    bool touched_lost;
};

/* ---- metric.c ---- */
int metric_stream_add(metric_stream *s, td_time at, double value, const char *key, uint8_t flags);
void metric_stream_prune(metric_stream *s, td_time horizon, uint8_t flags);
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
/* Oldest instant any windowed metric on event ev reads at now. */
td_time metric_horizon(const eng_prog *cp, int ev, td_time now);
/* values[m] for every metric in mask (scores after their inputs). */
void metric_values(const eng_prog *cp, const td_partner *p, uint64_t mask, td_time t,
                   double *values);

/* ---- engine.c, shared with explain.c / codec.c ---- */
int engine_event_index(const engine *e, const char *name);
int engine_event_intern(engine *e, const char *name);
int engine_partner_grow_streams(td_partner *p, size_t n);
/* A zeroed partner with its id copied in; NULL on OOM. */
td_partner *engine_partner_alloc(const char *id, size_t n_ladders, size_t n_streams);
/* Replaces p's tier array (taking ownership of tiers, n entries, which may
 * be NULL), freeing the old one and the override notes it still holds. */
void engine_partner_set_tiers(td_partner *p, tier_state *tiers, size_t n);
void engine_tier_state_init(tier_state *ts);
/* Back to init, freeing the override note. */
void engine_tier_state_reset(tier_state *ts);
/* The engine's copy of a partner type name; NULL on OOM. */
char *engine_type_intern(engine *e, const char *name);
uint64_t engine_partner_mask(const eng_prog *cp, const td_partner *p);
int engine_qualify(const ladder_def *l, const double *values);
/* Re-evaluates the ladders in sel (lifecycle included) at now. cause 0
 * lets the lifecycle pick causes; otherwise every tier move carries it. */
void engine_eval_ladders(engine *e, td_partner *p, uint32_t sel, td_time now, td_cause cause,
                         const td_event *ev, td_change_fn fn, void *ud);
/* Reports one change. crit_tier (a tier of ld, or -1) names whose criteria
 * go with it; values NULL sends none. actor/reason may be NULL. */
void engine_report(const engine *e, const td_partner *p, const char *ladder, const ladder_def *ld,
                   const char *from, int crit_tier, const char *to, td_time now, td_cause cause,
                   const td_event *ev, const double *values, const char *actor, const char *reason,
                   td_change_fn fn, void *ud);
/* The id-sorted partner array (e->sorted), rebuilt when stale; -1 on OOM. */
int engine_sorted_rebuild(engine *e);
/* Lists p as changed (see engine_touched_take). Every function that changes
 * what engine_partner_encode would write calls it. */
void engine_touch(engine *e, td_partner *p);
/* Adds p, replacing (and destroying) a partner with the same id. */
int engine_partner_insert(engine *e, td_partner *p);
void engine_partner_destroy(td_partner *p);
bool engine_text_ok(const char *s, size_t max);

/* ---- lifecycle.c ---- */
/* Moves ts on ladder l given qualifying tier q at c->now: override expiry,
 * approval queue, promotion, grace and review-gated demotion. */
typedef struct lc_ctx {
    engine *e;
    td_partner *p;
    size_t l;
    const double *values;
    td_time now;
    td_cause cause; /* 0, or forced on every tier move (PROGRAM_VERSION) */
    const td_event *ev;
    td_change_fn fn;
    void *ud;
} lc_ctx;
void lifecycle_step(const lc_ctx *c, int q);
/* The instant the lifecycle would demote ts (grace end, review point,
 * grandfather end, one drop per review), or TD_TIME_NONE when not below. */
td_time lifecycle_demotion_time(const engine *e, const ladder_def *ld, const tier_state *ts);
/* The tier a demotion at that instant would land on with qualifying q. */
int lifecycle_demotion_target(const ladder_def *ld, int cur, int q);
/* The earliest lifecycle instant > now for p (override ends, demotions). */
td_time lifecycle_next_due(const engine *e, const td_partner *p, td_time now);

/* ---- explain.c, shared with engine.c ---- */
/* Distance from value to meeting `value op threshold`: 0 when met, NaN
 * when value is NaN (the metric has no value yet). */
double engine_missing(cmp_op op, double value, double threshold);
/* Appends one criterion per comparison in x, in source order. -1 on OOM. */
int engine_criteria_add(const program *prog, const expr *x, const double *values,
                        td_criterion **arr, size_t *n, size_t *cap);

#endif
