/* One partner as the engine holds it: identity, types, the ladders it sits
 * on, one metric stream per event name and one tier_state per ladder of
 * the program in force.
 *
 * A partner is one allocation where it can be: the struct, its tiers, its
 * streams and its id side by side, so evaluating it walks adjacent cache
 * lines; the parts move to their own allocations only when they grow.
 *
 * Place in the engine's line (tests/unit/test_engine_layers.sh): above
 * metric (a partner holds streams) and attrs (it holds an attribute set);
 * pmap and everything above use it. */
#ifndef TD_PARTNER_H
#define TD_PARTNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attrs.h"
#include "engine.h"
#include "metric.h"

/* One partner's standing on one ladder. `tier` is the lifecycle tier
 * (grace, reviews, approvals applied); an override, active while
 * override_until is set, pins the tier everyone sees (ts_effective) without
 * stopping the lifecycle tier from evolving underneath. */
typedef struct tier_state {
    td_time since;          /* when `tier` was taken */
    td_time override_until; /* TD_TIME_NONE: no override */
    td_time below_since;    /* first evaluation below `tier`; NONE when not below */
    td_time pending_since;  /* when `pending` entered the approval queue */
    char *override_note;    /* tier_note_new's "actor\0reason\0"; NULL without override */
    int8_t tier;            /* -1 unranked */
    int8_t qualifying;
    int8_t pending;       /* tier awaiting approval, -1 none */
    int8_t override_tier; /* -1 with override_until set: pinned unranked */
    int8_t denied;        /* promotion refused; re-queued only after qualifying drops below it */
    /* Demotion review: `pending` is then the demotion's target (-1 for
     * unranked), not a promotion. review_denied is the tier whose demotion
     * a person refused, kept while the partner stays below it (-1 none). */
    bool pending_demotion;
    int8_t review_denied;
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
           a->override_tier == b->override_tier && a->denied == b->denied &&
           a->pending_demotion == b->pending_demotion && a->review_denied == b->review_denied;
}

/* A promotion or a demotion waits for a person. */
static inline bool ts_has_pending(const tier_state *ts)
{
    return ts->pending >= 0 || ts->pending_demotion;
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
    attr_set *attrs;      /* interned, shared with every partner holding the same map; NULL: none */
};

enum { PARTNER_INLINE_TIERS = 1, PARTNER_INLINE_STREAMS = 2 };

/* A zeroed partner with its id copied in, n_ladders tier states (at init)
 * and n_streams empty streams; NULL on OOM. */
td_partner *partner_alloc(const char *id, size_t n_ladders, size_t n_streams);
void partner_destroy(td_partner *p);
/* At least n streams, the new ones empty; -1 on OOM with p unchanged. */
int partner_grow_streams(td_partner *p, size_t n);
/* Replaces p's tier array (taking ownership of tiers, n entries, which may
 * be NULL), freeing the old one and the override notes it still holds. */
void partner_set_tiers(td_partner *p, tier_state *tiers, size_t n);

/* Replaces p's attributes with s (a reference the caller hands over; NULL
 * for none), releasing the old set. */
void partner_set_attrs(td_partner *p, attr_set *s);
/* The ladders of prog (bit l for ladder l) p sits on: its types match the
 * ladder's partner_types and its attributes pass the ladder's
 * partner_filter. 0 when prog is NULL. */
uint32_t partner_ladders(const program *prog, const td_partner *p);

void tier_state_init(tier_state *ts);
/* Back to init, freeing the override note. */
void tier_state_reset(tier_state *ts);
/* An override's note, "actor\0reason\0" in one allocation; NULL on OOM. */
char *tier_note_new(const char *actor, const char *reason);
/* The reason in a note made by tier_note_new; NULL for no note. */
const char *tier_note_reason(const char *note);

#endif
