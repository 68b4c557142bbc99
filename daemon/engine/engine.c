/* The engine proper: the program in force, the partner map, ingest and
 * evaluation (engine.h).
 *
 * Owns partners (identity, ladder membership, tier state) and the registry
 * of event names their metric streams are keyed by. Promises: an accepted
 * event is folded into its stream and only the ladders reading a metric fed
 * by that event are re-evaluated; a rejected event touches nothing; every
 * tier change is reported through the caller's td_change_fn with the
 * criteria behind it. How the held tier follows the qualifying one (grace,
 * review points, approvals, overrides) is lifecycle.c's: evaluation here
 * computes the qualifying tier and hands every ladder that is not simply
 * settled to lifecycle_step.
 *
 * Does no I/O, reads no clock, and does not check idempotency (the daemon
 * does, against its store). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

#define EVENT_ID_MAX          (2 * TD_MAX_ID + 2) /* "source/id" */
#define REGISTRY_MIN_CAP      8
#define EVAL_PREFETCH_AHEAD   8 /* slots ahead whose partner struct is fetched */
#define EVAL_PREFETCH_NEAR    4 /* slots ahead whose buckets are fetched */
#define EVAL_CACHE_LINE       64
#define REPORT_STACK_CRITERIA 32
#define TOUCHED_INITIAL_CAP   64 /* changed partners listed before the first growth */

/* ---- text ---- */

bool engine_text_ok(const char *s, size_t max)
{
    if (!s || !*s)
        return false;
    /* Fast path: printable ASCII, the shape of nearly every id. */
    size_t i = 0;
    for (; s[i] >= 0x20 && s[i] < 0x7F; i++)
        if (i == max)
            return false;
    if (!s[i])
        return true;
    if (strnlen(s, max + 1) > max)
        return false;
    const unsigned char *u = (const unsigned char *)s;
    while (*u) {
        uint32_t c;
        int n;
        if (*u < 0x80) {
            c = *u;
            n = 1;
        } else if ((*u & 0xE0) == 0xC0) {
            c = *u & 0x1F;
            n = 2;
        } else if ((*u & 0xF0) == 0xE0) {
            c = *u & 0x0F;
            n = 3;
        } else if ((*u & 0xF8) == 0xF0) {
            c = *u & 0x07;
            n = 4;
        } else {
            return false;
        }
        for (int i = 1; i < n; i++) {
            if ((u[i] & 0xC0) != 0x80)
                return false;
            c = (c << 6) | (u[i] & 0x3F);
        }
        static const uint32_t min_for_len[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (c < min_for_len[n] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return false;
        if (c < 0x20 || c == 0x7F || (c >= 0x80 && c <= 0x9F))
            return false;
        u += n;
    }
    return true;
}

/* ---- event registry ---- */

int engine_event_index(const engine *e, const char *name)
{
    for (size_t i = 0; i < e->n_events; i++)
        if (strcmp(e->events[i], name) == 0)
            return (int)i;
    return -1;
}

/* Finds or adds name in a grow-only string table; its index or -1 on OOM. */
static int table_intern(char ***tab, size_t *n, size_t *cap, const char *name)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*tab)[i], name) == 0)
            return (int)i;
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : REGISTRY_MIN_CAP;
        char **t = realloc(*tab, ncap * sizeof *t);
        if (!t)
            return -1;
        *tab = t;
        *cap = ncap;
    }
    char *dup = strdup(name);
    if (!dup)
        return -1;
    (*tab)[*n] = dup;
    return (int)(*n)++;
}

char *engine_type_intern(engine *e, const char *name)
{
    int i = table_intern(&e->type_names, &e->n_type_names, &e->cap_type_names, name);
    return i < 0 ? NULL : e->type_names[i];
}

int engine_event_intern(engine *e, const char *name)
{
    return table_intern(&e->events, &e->n_events, &e->cap_events, name);
}

/* ---- compiled program ---- */

static void eng_prog_free(eng_prog *cp)
{
    free(cp->metric_ev);
    free(cp->ev_days);
    free(cp->ev_flags);
    free(cp->ev_metrics);
    free(cp->ev_ladders);
    free(cp->ladder_mask);
    memset(cp, 0, sizeof *cp);
}

static void mask_add(void *ud, int metric)
{
    if (metric >= 0 && metric < TD_MAX_METRICS)
        *(uint64_t *)ud |= 1ull << metric;
}

static const char *metric_event_name(const metric_def *d)
{
    return d->event ? d->event : d->name;
}

/* Compiles p against the registry as it stands: events the registry does not
 * know map to -1 (no partner can have data for them). */
static int eng_prog_compile(const engine *e, const program *p, eng_prog *cp)
{
    memset(cp, 0, sizeof *cp);
    cp->p = p;
    cp->n_ev = e->n_events;
    size_t nev = cp->n_ev ? cp->n_ev : 1;
    size_t nm = p->n_metrics ? p->n_metrics : 1, nl = p->n_ladders ? p->n_ladders : 1;
    cp->metric_ev = calloc(nm, sizeof *cp->metric_ev);
    cp->ev_days = calloc(nev, sizeof *cp->ev_days);
    cp->ev_flags = calloc(nev, sizeof *cp->ev_flags);
    cp->ev_metrics = calloc(nev, sizeof *cp->ev_metrics);
    cp->ev_ladders = calloc(nev, sizeof *cp->ev_ladders);
    cp->ladder_mask = calloc(nl, sizeof *cp->ladder_mask);
    if (!cp->metric_ev || !cp->ev_days || !cp->ev_flags || !cp->ev_metrics || !cp->ev_ladders ||
        !cp->ladder_mask) {
        eng_prog_free(cp);
        return -1;
    }
    for (size_t m = 0; m < p->n_metrics && m < TD_MAX_METRICS; m++) {
        const metric_def *d = &p->metrics[m];
        cp->metric_ev[m] = d->agg == AGG_SCORE ? -1 : engine_event_index(e, metric_event_name(d));
        int ev = cp->metric_ev[m];
        int32_t days = 0;
        uint8_t f = 0;
        switch (d->window.kind) {
        case WIN_DAYS:
            f = EVF_BUCKETS;
            days = d->window.days;
            break;
        case WIN_QUARTER:
            f = EVF_BUCKETS | EVF_QUARTER;
            days = 92;
            break;
        case WIN_YEAR:
            f = EVF_BUCKETS | EVF_YEAR;
            days = 366;
            break;
        case WIN_LIFETIME:
            break;
        }
        if (d->agg == AGG_DISTINCT)
            f |= EVF_KEYS | (d->window.kind == WIN_LIFETIME ? EVF_KEYS_LIFE : 0);
        if (d->agg != AGG_SCORE && days > cp->max_days)
            cp->max_days = days;
        if (ev < 0)
            continue;
        cp->ev_metrics[ev] |= 1ull << m;
        cp->ev_flags[ev] |= f;
        if (d->window.kind == WIN_DAYS && days > cp->ev_days[ev])
            cp->ev_days[ev] = days;
    }
    for (size_t l = 0; l < p->n_ladders && l < TD_MAX_LADDERS; l++) {
        const ladder_def *ld = &p->ladders[l];
        uint64_t mask = ld->metric_mask;
        if (ld->gate)
            expr_metrics(ld->gate, mask_add, &mask);
        for (size_t t = 0; t < ld->n_tiers; t++)
            if (ld->tiers[t].when)
                expr_metrics(ld->tiers[t].when, mask_add, &mask);
        for (size_t m = 0; m < p->n_metrics && m < TD_MAX_METRICS; m++) {
            const metric_def *d = &p->metrics[m];
            if (d->agg != AGG_SCORE || !(mask & (1ull << m)))
                continue;
            for (size_t i = 0; i < d->n_terms; i++)
                mask_add(&mask, d->terms[i].metric);
        }
        cp->ladder_mask[l] = mask;
        for (size_t ev = 0; ev < cp->n_ev; ev++)
            if (cp->ev_metrics[ev] & mask)
                cp->ev_ladders[ev] |= 1u << l;
    }
    return 0;
}

/* ---- partners ---- */

void engine_tier_state_init(tier_state *ts)
{
    *ts = (tier_state){
        .tier = -1, .qualifying = -1, .pending = -1, .override_tier = -1, .denied = -1};
}

void engine_tier_state_reset(tier_state *ts)
{
    free(ts->override_note);
    engine_tier_state_init(ts);
}

void engine_partner_destroy(td_partner *p)
{
    if (!p)
        return;
    for (uint32_t i = 0; i < p->n_streams; i++)
        metric_stream_free(&p->streams[i]);
    if (!(p->inline_parts & PARTNER_INLINE_STREAMS))
        free(p->streams);
    engine_partner_set_tiers(p, NULL, 0);
    free(p->types);
    free(p->name);
    free(p);
}

void engine_partner_set_tiers(td_partner *p, tier_state *tiers, size_t n)
{
    for (size_t l = 0; p->tiers && l < p->n_tiers; l++)
        free(p->tiers[l].override_note);
    p->n_tiers = (uint8_t)n;
    if (!(p->inline_parts & PARTNER_INLINE_TIERS))
        free(p->tiers);
    p->inline_parts &= (uint8_t)~PARTNER_INLINE_TIERS;
    p->tiers = tiers;
}

td_partner *engine_partner_alloc(const char *id, size_t n_ladders, size_t n_streams)
{
    /* One allocation for the struct, its tiers, its streams and its id:
     * evaluating a partner then walks adjacent cache lines. */
    size_t n = strlen(id) + 1;
    size_t tiers = n_ladders * sizeof(tier_state), streams = n_streams * sizeof(metric_stream);
    td_partner *p = calloc(1, sizeof *p + tiers + streams + n);
    if (!p)
        return NULL;
    uint8_t *at = (uint8_t *)(p + 1);
    if (n_ladders) {
        p->tiers = (tier_state *)at;
        p->inline_parts |= PARTNER_INLINE_TIERS;
        p->n_tiers = (uint8_t)n_ladders;
        for (size_t l = 0; l < n_ladders; l++)
            engine_tier_state_init(&p->tiers[l]);
    }
    if (n_streams) {
        p->streams = (metric_stream *)(at + tiers);
        p->n_streams = (uint32_t)n_streams;
        p->inline_parts |= PARTNER_INLINE_STREAMS;
    }
    p->id = (char *)(at + tiers + streams);
    memcpy(p->id, id, n);
    return p;
}

int engine_partner_grow_streams(td_partner *p, size_t n)
{
    if (n <= p->n_streams)
        return 0;
    metric_stream *s;
    if (p->inline_parts & PARTNER_INLINE_STREAMS) {
        s = malloc(n * sizeof *s);
        if (s && p->n_streams)
            memcpy(s, p->streams, p->n_streams * sizeof *s);
    } else {
        s = realloc(p->streams, n * sizeof *s);
    }
    if (!s)
        return -1;
    p->inline_parts &= (uint8_t)~PARTNER_INLINE_STREAMS;
    memset(&s[p->n_streams], 0, (n - p->n_streams) * sizeof *s);
    p->streams = s;
    p->n_streams = (uint32_t)n;
    return 0;
}

uint64_t engine_partner_mask(const eng_prog *cp, const td_partner *p)
{
    uint64_t mask = 0;
    if (!cp->p)
        return 0;
    for (size_t l = 0; l < cp->p->n_ladders; l++)
        if (p->ladders & (1u << l))
            mask |= cp->ladder_mask[l];
    return mask;
}

static uint32_t ladders_for(const program *prog, char *const *types, size_t n)
{
    uint32_t on = 0;
    for (size_t l = 0; prog && l < prog->n_ladders; l++)
        if (ladder_matches_types(&prog->ladders[l], types, n))
            on |= 1u << l;
    return on;
}

/* ---- partners whose stored form changed ---- */

void engine_touch(engine *e, td_partner *p)
{
    if (p->touched)
        return;
    if (e->n_touched == e->cap_touched) {
        size_t cap = e->cap_touched ? e->cap_touched * 2 : TOUCHED_INITIAL_CAP;
        td_partner **t = realloc(e->touched, cap * sizeof *t);
        if (!t) {
            e->touched_lost = true;
            return;
        }
        e->touched = t;
        e->cap_touched = cap;
    }
    e->touched[e->n_touched++] = p;
    p->touched = true;
}

/* Before p is freed. Linear, but only deletes and restores get here, and
 * the list holds one turn's partners. */
static void touched_forget(engine *e, td_partner *p)
{
    if (!p->touched)
        return;
    for (size_t i = 0; i < e->n_touched; i++)
        if (e->touched[i] == p) {
            e->touched[i] = e->touched[--e->n_touched];
            break;
        }
    p->touched = false;
}

int engine_touched_take(engine *e, td_touched_fn fn, void *ud)
{
    for (size_t i = 0; i < e->n_touched; i++) {
        e->touched[i]->touched = false;
        if (fn)
            fn(ud, e->touched[i]->id);
    }
    e->n_touched = 0;
    bool lost = e->touched_lost;
    e->touched_lost = false;
    return lost ? -TD_RESOURCE_EXHAUSTED : 0;
}

int engine_partner_insert(engine *e, td_partner *p)
{
    int oom;
    td_partner *old = pmap_put(&e->map, p, &oom);
    if (oom)
        return -1;
    if (old && old != p) {
        touched_forget(e, old);
        engine_partner_destroy(old);
    }
    e->dirty = true;
    return 0;
}

td_partner *engine_partner_find(const engine *e, const char *id)
{
    return id ? pmap_get(&e->map, id) : NULL;
}

size_t engine_partner_count(const engine *e)
{
    return e->map.n;
}

void engine_partner_info(const td_partner *p, td_partner_info *out)
{
    out->id = p->id;
    out->name = p->name;
    out->types = p->types;
    out->n_types = p->n_types;
    out->created = p->created;
    out->updated = p->updated;
    out->events = p->events;
}

size_t engine_partner_tiers(const engine *e, const td_partner *p, td_tier_view *out, size_t cap)
{
    size_t n = 0;
    const program *prog = e->prog;
    for (size_t l = 0; prog && p->tiers && l < prog->n_ladders && n < cap; l++) {
        if (!(p->ladders & (1u << l)))
            continue;
        const ladder_def *ld = &prog->ladders[l];
        const tier_state *ts = &p->tiers[l];
        int eff = ts_effective(ts);
        const char *note = ts->override_note;
        out[n++] = (td_tier_view){
            .ladder = ld->name,
            .tier = eff >= 0 ? ld->tiers[eff].name : NULL,
            .since = ts->since,
            .qualifying = ts->qualifying >= 0 ? ld->tiers[ts->qualifying].name : NULL,
            .pending = ts->pending >= 0 ? ld->tiers[ts->pending].name : NULL,
            .override_tier = ts->override_tier >= 0 ? ld->tiers[ts->override_tier].name : NULL,
            .override_until = ts->override_until,
            .below_since = ts->below_since,
            .lifecycle_tier = ts->tier >= 0 ? ld->tiers[ts->tier].name : NULL,
            .overridden = ts_overridden(ts),
            .override_actor = note,
            .override_reason = note ? note + strlen(note) + 1 : NULL,
            .pending_since = ts->pending_since,
        };
    }
    return n;
}

/* ---- evaluation ---- */

int engine_qualify(const ladder_def *l, const double *values)
{
    bool gate = !l->gate || expr_eval(l->gate, values);
    for (size_t t = l->n_tiers; t-- > 0;) {
        if (t > 0 && !gate)
            continue;
        if (!l->tiers[t].when || expr_eval(l->tiers[t].when, values))
            return (int)t;
    }
    return -1;
}

static size_t cmp_count(const expr *x)
{
    if (!x)
        return 0;
    return x->kind == EXPR_CMP ? 1 : cmp_count(x->a) + cmp_count(x->b);
}

/* Appends tier t's criteria (the gate above the first tier, then `when`);
 * -1 on OOM. */
static int tier_criteria(const engine *e, const ladder_def *ld, int t, const double *values,
                         td_criterion **arr, size_t *n, size_t *cap)
{
    int rc = 0;
    if (t > 0 && ld->gate)
        rc = engine_criteria_add(e->prog, ld->gate, values, arr, n, cap);
    if (rc == 0 && ld->tiers[t].when)
        rc = engine_criteria_add(e->prog, ld->tiers[t].when, values, arr, n, cap);
    return rc;
}

/* crit_tier is the destination's, or for a drop to unranked the tier left;
 * for DENIAL and WITHDRAWN, the tier whose promotion was dropped. */
void engine_report(const engine *e, const td_partner *p, const char *ladder, const ladder_def *ld,
                   const char *from, int crit_tier, const char *to, td_time now, td_cause cause,
                   const td_event *ev, const double *values, const char *actor, const char *reason,
                   td_change_fn fn, void *ud)
{
    if (!fn)
        return;
    /* Formatted only here: most events change no tier. */
    char event_id[EVENT_ID_MAX];
    if (ev)
        snprintf(event_id, sizeof event_id, "%s/%s", ev->source, ev->id);
    /* Criteria usually fit on the stack; engine_criteria_add only grows an
     * array once it is full, so a large expression starts on the heap. */
    td_criterion stack[REPORT_STACK_CRITERIA];
    td_criterion *crit = stack;
    size_t n = 0, cap = REPORT_STACK_CRITERIA;
    if (values && ld && crit_tier >= 0 &&
        cmp_count(crit_tier > 0 ? ld->gate : NULL) + cmp_count(ld->tiers[crit_tier].when) > cap) {
        crit = NULL;
        cap = 0;
    }
    if (values && ld && crit_tier >= 0 &&
        tier_criteria(e, ld, crit_tier, values, &crit, &n, &cap) != 0)
        n = 0; /* the change still goes out, without its criteria */
    /* A move down also says why the tier left was lost. Moves down are
     * rare next to events, so these go on the heap. */
    int from_t = ld && from ? ladder_tier_index(ld, from) : -1;
    int to_t = ld && to ? ladder_tier_index(ld, to) : -1;
    td_criterion *lost = NULL;
    size_t n_lost = 0, cap_lost = 0;
    if (values && from_t >= 0 && to_t < from_t &&
        tier_criteria(e, ld, from_t, values, &lost, &n_lost, &cap_lost) != 0)
        n_lost = 0;
    bool dropped = cause == TD_CAUSE_DENIAL || cause == TD_CAUSE_WITHDRAWN;
    td_change c = {
        .partner = p->id,
        .ladder = ladder,
        .from = from,
        .to = to,
        .at = now,
        .cause = cause,
        .program_version = e->prog ? e->prog->version : NULL,
        .event_id = ev ? event_id : NULL,
        .criteria = n ? crit : NULL,
        .n_criteria = n,
        .actor = actor,
        .reason = reason,
        .lost = n_lost ? lost : NULL,
        .n_lost = n_lost,
        .promotion_tier = dropped && ld && crit_tier >= 0 ? ld->tiers[crit_tier].name : NULL,
    };
    fn(ud, &c);
    if (crit != stack)
        free(crit);
    free(lost);
}

static void values_init(double *values)
{
    for (size_t i = 0; i < TD_MAX_METRICS; i++)
        values[i] = NAN;
}

void engine_eval_ladders(engine *e, td_partner *p, uint32_t sel, td_time now, td_cause cause,
                         const td_event *ev, td_change_fn fn, void *ud)
{
    const program *prog = e->prog;
    sel &= p->ladders;
    if (!prog || !sel || !p->tiers)
        return;
    uint64_t mask = 0;
    for (size_t l = 0; l < prog->n_ladders; l++)
        if (sel & (1u << l))
            mask |= e->cp.ladder_mask[l];
    double values[TD_MAX_METRICS];
    values_init(values);
    metric_values(&e->cp, p, mask, now, values);
    lc_ctx c = {e, p, 0, values, now, cause, ev, fn, ud};
    for (size_t l = 0; l < prog->n_ladders; l++) {
        if (!(sel & (1u << l)))
            continue;
        tier_state *ts = &p->tiers[l];
        int q = engine_qualify(&prog->ladders[l], values);
        /* The common case: nothing below, pending or pinned. */
        if (q == ts->tier && ts->below_since == TD_TIME_NONE && ts->pending < 0 && ts->denied < 0 &&
            !ts_overridden(ts)) {
            if (ts->qualifying != q) {
                ts->qualifying = (int8_t)q;
                engine_touch(e, p);
            }
            continue;
        }
        /* Time alone moves the qualifying tier and the start of grace with
         * no tier change to report; the store must hear of it all the same. */
        tier_state before = *ts;
        c.l = l;
        lifecycle_step(&c, q);
        if (!ts_same(&before, ts))
            engine_touch(e, p);
    }
}

/* Pruning changes what is stored, and which buckets a window's tree holds
 * decides how its sum is associated: the store must hear of it, or a
 * restarted daemon would sum the same window in another order. */
static void prune_stream(engine *e, td_partner *p, size_t ev, td_time horizon)
{
    metric_stream *s = &p->streams[ev];
    if (metric_stream_needs_prune(s, horizon, e->cp.ev_flags[ev])) {
        metric_stream_prune(s, horizon, e->cp.ev_flags[ev]);
        engine_touch(e, p);
    }
}

/* horizons[ev]: metric_horizon at now, worked out once per sweep. */
static void prune_partner_at(engine *e, td_partner *p, const td_time *horizons)
{
    for (size_t ev = 0; ev < p->n_streams && ev < e->cp.n_ev; ev++)
        if (metric_stream_has_window(&p->streams[ev]))
            prune_stream(e, p, ev, horizons[ev]);
}

static void prune_partner(engine *e, td_partner *p, td_time now)
{
    for (size_t ev = 0; ev < p->n_streams && ev < e->cp.n_ev; ev++)
        if (metric_stream_has_window(&p->streams[ev]))
            prune_stream(e, p, ev, metric_horizon(&e->cp, (int)ev, now));
}

/* Partners sit at random addresses: while one is evaluated, fetch the
 * block of a partner a few slots on, and the buckets of a nearer one. */
static void prefetch_ahead(const engine *e, size_t i)
{
    const pmap_slot *slots = e->map.slots;
    if (i + EVAL_PREFETCH_AHEAD < e->map.cap && slots[i + EVAL_PREFETCH_AHEAD].hash) {
        const char *b = (const char *)slots[i + EVAL_PREFETCH_AHEAD].p;
        size_t len = sizeof(td_partner) + e->cp.n_ev * sizeof(metric_stream) +
                     (e->prog ? e->prog->n_ladders : 0) * sizeof(tier_state);
        for (size_t off = 0; off < len; off += EVAL_CACHE_LINE)
            __builtin_prefetch(b + off);
    }
    if (i + EVAL_PREFETCH_NEAR < e->map.cap && slots[i + EVAL_PREFETCH_NEAR].hash) {
        const td_partner *q = slots[i + EVAL_PREFETCH_NEAR].p;
        for (uint32_t s = 0; s < q->n_streams; s++)
            if (q->streams[s].b)
                __builtin_prefetch(q->streams[s].b);
    }
}

void engine_evaluate(engine *e, td_partner *p, td_time now, td_change_fn fn, void *ud)
{
    if (!e->prog)
        return;
    if (p) {
        prune_partner(e, p, now);
        engine_eval_ladders(e, p, UINT32_MAX, now, 0, NULL, fn, ud);
        return;
    }
    td_time *horizons = malloc((e->cp.n_ev ? e->cp.n_ev : 1) * sizeof *horizons);
    for (size_t ev = 0; horizons && ev < e->cp.n_ev; ev++)
        horizons[ev] = metric_horizon(&e->cp, (int)ev, now);
    for (size_t i = 0; i < e->map.cap; i++) {
        prefetch_ahead(e, i);
        if (!e->map.slots[i].hash)
            continue;
        td_partner *q = e->map.slots[i].p;
        if (horizons)
            prune_partner_at(e, q, horizons);
        else
            prune_partner(e, q, now);
        engine_eval_ladders(e, q, UINT32_MAX, now, 0, NULL, fn, ud);
    }
    free(horizons);
}

td_time engine_partner_next_due(const engine *e, const td_partner *p, td_time now)
{
    const program *prog = e->prog;
    if (!prog)
        return TD_TIME_NONE;
    uint64_t mask = engine_partner_mask(&e->cp, p);
    td_time due = TD_TIME_NONE;
    for (size_t m = 0; m < prog->n_metrics; m++) {
        const metric_def *d = &prog->metrics[m];
        int ev = e->cp.metric_ev[m];
        if (!(mask & (1ull << m)) || ev < 0 || (uint32_t)ev >= p->n_streams)
            continue;
        td_time t = metric_stream_next_due(&p->streams[ev], &d->window, now);
        if (t != TD_TIME_NONE && (due == TD_TIME_NONE || t < due))
            due = t;
    }
    td_time t = lifecycle_next_due(e, p, now);
    if (t != TD_TIME_NONE && (due == TD_TIME_NONE || t < due))
        due = t;
    return due;
}

/* ---- partners: upsert / delete / list ---- */

static void leave_ladders(engine *e, td_partner *p, uint32_t leaving, td_time now, td_cause cause,
                          td_change_fn fn, void *ud)
{
    const program *prog = e->prog;
    if (!prog || !p->tiers || !leaving)
        return;
    double values[TD_MAX_METRICS];
    values_init(values);
    metric_values(&e->cp, p, engine_partner_mask(&e->cp, p), now, values);
    for (size_t l = 0; l < prog->n_ladders; l++) {
        if (!(leaving & (1u << l)))
            continue;
        const ladder_def *ld = &prog->ladders[l];
        tier_state *ts = &p->tiers[l];
        int eff = ts_effective(ts);
        if (eff >= 0)
            engine_report(e, p, ld->name, ld, ld->tiers[eff].name, eff, NULL, now, cause, NULL,
                          cause == TD_CAUSE_PARTNER_DELETED ? NULL : values, NULL, NULL, fn, ud);
        engine_tier_state_reset(ts);
    }
}

int engine_partner_upsert(engine *e, const char *id, const char *name, const char *const *types,
                          size_t n_types, td_time now, td_change_fn fn, void *ud, td_error *err)
{
    if (!engine_text_ok(id, TD_MAX_ID))
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "partner id: must be 1..%d bytes of UTF-8 without control characters",
                            TD_MAX_ID);
    if (name && !engine_text_ok(name, TD_MAX_ID))
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "partner '%s': name must be 1..%d bytes of UTF-8 without control "
                            "characters",
                            id, TD_MAX_ID);
    if (n_types > TD_MAX_PARTNER_TYPES)
        return td_error_set(err, TD_INVALID_ARGUMENT, "partner '%s': %zu types, at most %d", id,
                            n_types, TD_MAX_PARTNER_TYPES);
    for (size_t i = 0; types && i < n_types; i++)
        if (!engine_text_ok(types[i], TD_MAX_NAME))
            return td_error_set(err, TD_INVALID_ARGUMENT,
                                "partner '%s': type %zu must be 1..%d bytes of UTF-8 without "
                                "control characters",
                                id, i + 1, TD_MAX_NAME);

    /* Copy everything first so an allocation failure changes nothing. */
    char *nname = name ? strdup(name) : NULL;
    char **ntypes = types ? calloc(n_types ? n_types : 1, sizeof *ntypes) : NULL;
    bool oom = (name && !nname) || (types && !ntypes);
    for (size_t i = 0; !oom && types && i < n_types; i++)
        oom = !(ntypes[i] = engine_type_intern(e, types[i]));
    td_partner *p = engine_partner_find(e, id);
    bool fresh = !p;
    if (!oom && fresh) {
        p = engine_partner_alloc(id, e->prog ? e->prog->n_ladders : 0, e->cp.n_ev);
        oom = !p;
        if (!oom) {
            int full;
            pmap_put(&e->map, p, &full);
            oom = full;
        }
        if (oom && p) {
            engine_partner_destroy(p);
            p = NULL;
        }
    }
    if (oom) {
        free(nname);
        free(ntypes);
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "partner '%s': out of memory", id);
    }
    if (fresh) {
        p->created = now;
        e->dirty = true;
    }
    p->updated = now;
    engine_touch(e, p);
    if (nname) {
        free(p->name);
        p->name = nname;
    }
    if (ntypes) {
        free(p->types);
        p->types = ntypes;
        p->n_types = (uint32_t)n_types;
    }
    uint32_t on = ladders_for(e->prog, p->types, p->n_types);
    leave_ladders(e, p, p->ladders & ~on, now, TD_CAUSE_DEMOTION, fn, ud);
    uint32_t joining = on & ~p->ladders;
    p->ladders = on;
    engine_eval_ladders(e, p, joining, now, 0, NULL, fn, ud);
    return 0;
}

int engine_partner_delete(engine *e, const char *id, td_time now, td_change_fn fn, void *ud,
                          td_error *err)
{
    td_partner *p = engine_text_ok(id, TD_MAX_ID) ? engine_partner_find(e, id) : NULL;
    if (!p)
        return td_error_set(err, TD_NOT_FOUND, "unknown partner '%s'",
                            engine_text_ok(id, TD_MAX_ID) ? id : "(invalid id)");
    leave_ladders(e, p, p->ladders, now, TD_CAUSE_PARTNER_DELETED, fn, ud);
    pmap_del(&e->map, id);
    touched_forget(e, p);
    engine_partner_destroy(p);
    e->dirty = true;
    return 0;
}

static int by_id(const void *a, const void *b)
{
    return strcmp((*(td_partner *const *)a)->id, (*(td_partner *const *)b)->id);
}

int engine_sorted_rebuild(engine *e)
{
    if (!e->dirty && e->n_sorted == e->map.n)
        return 0;
    td_partner **s = realloc(e->sorted, (e->map.n ? e->map.n : 1) * sizeof *s);
    if (!s)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < e->map.cap; i++)
        if (e->map.slots[i].hash)
            s[n++] = e->map.slots[i].p;
    qsort(s, n, sizeof *s, by_id);
    e->sorted = s;
    e->n_sorted = n;
    e->dirty = false;
    return 0;
}

size_t engine_partner_list(engine *e, const char *after, const char *ladder, const char *tier,
                           td_partner **out, size_t cap, bool *more, td_error *err)
{
    *more = false;
    int l = -1, t = -1;
    if (tier && !ladder) {
        td_error_set(err, TD_INVALID_ARGUMENT, "a tier filter needs a ladder");
        return 0;
    }
    if (ladder) {
        if (!e->prog) {
            td_error_set(err, TD_FAILED_PRECONDITION, "no program loaded");
            return 0;
        }
        l = program_ladder_index(e->prog, ladder);
        if (l < 0) {
            td_error_set(err, TD_NOT_FOUND, "unknown ladder '%s'",
                         engine_text_ok(ladder, TD_MAX_NAME) ? ladder : "(invalid)");
            return 0;
        }
        if (tier && strcmp(tier, "unranked") != 0) {
            t = ladder_tier_index(&e->prog->ladders[l], tier);
            if (t < 0) {
                td_error_set(err, TD_NOT_FOUND, "ladder '%s' has no tier '%s'", ladder,
                             engine_text_ok(tier, TD_MAX_NAME) ? tier : "(invalid)");
                return 0;
            }
        }
    }
    if (engine_sorted_rebuild(e) != 0) {
        td_error_set(err, TD_RESOURCE_EXHAUSTED, "listing partners: out of memory");
        return 0;
    }
    size_t lo = 0, hi = e->n_sorted;
    while (after && lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(e->sorted[mid]->id, after) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t n = 0;
    for (size_t i = lo; i < e->n_sorted; i++) {
        td_partner *p = e->sorted[i];
        if (l >= 0 && (!(p->ladders & (1u << l)) || !p->tiers))
            continue;
        if (l >= 0 && tier && ts_effective(&p->tiers[l]) != t)
            continue;
        if (n == cap) {
            *more = true;
            break;
        }
        out[n++] = p;
    }
    return n;
}

/* ---- events ---- */

int engine_ingest(engine *e, const td_event *ev, td_time now, td_change_fn fn, void *ud,
                  td_error *err)
{
    if (!e->prog)
        return td_error_set(err, TD_FAILED_PRECONDITION, "no program loaded");
    if (!engine_text_ok(ev->source, TD_MAX_ID) || !engine_text_ok(ev->id, TD_MAX_ID))
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "event source and id must be 1..%d bytes of UTF-8 without control "
                            "characters",
                            TD_MAX_ID);
    if (ev->key && !engine_text_ok(ev->key, TD_MAX_ID))
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "event %s/%s: key must be 1..%d bytes of UTF-8 without control "
                            "characters",
                            ev->source, ev->id, TD_MAX_ID);
    if (!engine_text_ok(ev->partner, TD_MAX_ID))
        return td_error_set(err, TD_INVALID_ARGUMENT, "event %s/%s: invalid partner id", ev->source,
                            ev->id);
    td_partner *p = engine_partner_find(e, ev->partner);
    if (!p)
        return td_error_set(err, TD_NOT_FOUND, "unknown partner '%s'", ev->partner);
    int x = engine_text_ok(ev->metric, TD_MAX_NAME) ? engine_event_index(e, ev->metric) : -1;
    if (x < 0 || (size_t)x >= e->cp.n_ev || !e->cp.ev_metrics[x])
        return td_error_set(err, TD_INVALID_ARGUMENT, "unknown metric '%s'",
                            engine_text_ok(ev->metric, TD_MAX_NAME) ? ev->metric : "(invalid)");
    /* The caller names the event (index, source/id); these say only why. */
    if (!isfinite(ev->value) || fabs(ev->value) > TD_MAX_EVENT_VALUE)
        return td_error_set(err, TD_INVALID_ARGUMENT, "value must be finite and within +-%g",
                            TD_MAX_EVENT_VALUE);
    if (ev->at < TD_TIME_MIN || ev->at > TD_TIME_MAX)
        return td_error_set(err, TD_INVALID_ARGUMENT, "at: time %lld is outside 1970..9999",
                            (long long)ev->at);
    if (ev->at > now + TD_MAX_FUTURE_SKEW) {
        char at[TD_TIME_STRLEN], clock[TD_TIME_STRLEN];
        td_time_format(ev->at, at, sizeof at);
        td_time_format(now, clock, sizeof clock);
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "at: %s lies in the future (now is %s; at most %d s ahead is accepted)",
                            at, clock, TD_MAX_FUTURE_SKEW);
    }
    /* Every stream of the program at once: one allocation, not one per event kind. */
    if (engine_partner_grow_streams(p, e->cp.n_ev) != 0 ||
        metric_stream_add(&p->streams[x], ev->at, ev->value, ev->key, e->cp.ev_flags[x]) != 0)
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "event %s/%s: out of memory", ev->source,
                            ev->id);
    metric_stream *s = &p->streams[x];
    td_time horizon = metric_horizon(&e->cp, x, now);
    if (metric_stream_needs_prune(s, horizon, e->cp.ev_flags[x]))
        metric_stream_prune(s, horizon, e->cp.ev_flags[x]);
    p->events++;
    p->updated = now;
    engine_touch(e, p);
    engine_eval_ladders(e, p, e->cp.ev_ladders[x], now, 0, ev, fn, ud);
    return 0;
}

/* ---- programs ---- */

const program *engine_program(const engine *e)
{
    return e->prog;
}

static int tier_by_name(const ladder_def *from, int t, const ladder_def *to)
{
    return t >= 0 && to ? ladder_tier_index(to, from->tiers[t].name) : -1;
}

/* Fills nt (np->n_ladders entries, initialised) with p's standing under np,
 * matched by ladder and tier name from `old`, the version it leaves (e->prog
 * is already np, so reports carry np's version); `on` is the
 * set of np's ladders p sits on. Ladders p leaves while holding a tier, and
 * tiers that change name-matching, are reported with cause PROGRAM_VERSION.
 * take_notes moves override notes into nt (applying); otherwise nt gets
 * none and p is not changed at all (an impact assessment). */
static void tiers_for_program(engine *e, const program *old, const program *np, td_partner *p,
                              uint32_t on, tier_state *nt, bool take_notes, td_time now,
                              td_change_fn fn, void *ud)
{
    for (size_t ol = 0; old && p->tiers && ol < old->n_ladders; ol++) {
        if (!(p->ladders & (1u << ol)))
            continue;
        const ladder_def *old_ld = &old->ladders[ol];
        tier_state *ots = &p->tiers[ol];
        int oeff = ts_effective(ots);
        const char *from = oeff >= 0 ? old_ld->tiers[oeff].name : NULL;
        int l = program_ladder_index(np, old_ld->name);
        if (l < 0 || !(on & (1u << l))) {
            if (from)
                engine_report(e, p, old_ld->name, NULL, from, -1, NULL, now,
                              TD_CAUSE_PROGRAM_VERSION, NULL, NULL, NULL, NULL, fn, ud);
            continue;
        }
        const ladder_def *ld = &np->ladders[l];
        tier_state *ts = &nt[l];
        *ts = *ots;
        if (take_notes)
            ots->override_note = NULL; /* moved */
        else
            ts->override_note = NULL; /* p's own; an assessment never frees it */
        ts->tier = (int8_t)tier_by_name(old_ld, ots->tier, ld);
        ts->qualifying = (int8_t)tier_by_name(old_ld, ots->qualifying, ld);
        ts->pending = (int8_t)tier_by_name(old_ld, ots->pending, ld);
        ts->denied = (int8_t)tier_by_name(old_ld, ots->denied, ld);
        ts->override_tier = (int8_t)tier_by_name(old_ld, ots->override_tier, ld);
        if (ts_overridden(ots) && ots->override_tier >= 0 && ts->override_tier < 0) {
            /* The pinned tier is gone: the pin cannot hold. */
            free(ts->override_note);
            ts->override_note = NULL;
            ts->override_until = TD_TIME_NONE;
        }
        if (ots->tier >= 0 && ts->tier < 0) {
            ts->since = now;
            ts->below_since = TD_TIME_NONE;
        }
        /* A tier that vanished is left here; the lifecycle moves on from unranked. */
        int eff = ts_effective(ts);
        const char *to = eff >= 0 ? ld->tiers[eff].name : NULL;
        if (from && (!to || strcmp(from, to) != 0))
            engine_report(e, p, ld->name, NULL, from, -1, to, now, TD_CAUSE_PROGRAM_VERSION, NULL,
                          NULL, NULL, NULL, fn, ud);
    }
}

int engine_program_apply(engine *e, program *np, td_time now, td_change_fn fn, void *ud)
{
    for (size_t m = 0; m < np->n_metrics; m++)
        if (np->metrics[m].agg != AGG_SCORE &&
            engine_event_intern(e, metric_event_name(&np->metrics[m])) < 0)
            return -TD_RESOURCE_EXHAUSTED;
    eng_prog ncp;
    if (eng_prog_compile(e, np, &ncp) != 0)
        return -TD_RESOURCE_EXHAUSTED;
    program *old = e->prog;
    eng_prog ocp = e->cp;
    e->prog = np;
    e->cp = ncp;
    /* Grandfathering counts from the moment this version is in force. */
    e->version_effective = now;
    size_t nl = np->n_ladders ? np->n_ladders : 1;
    for (size_t i = 0; i < e->map.cap; i++) {
        if (!e->map.slots[i].hash)
            continue;
        td_partner *p = e->map.slots[i].p;
        /* Tiers are remapped by name and re-evaluated: rewrite every one. */
        engine_touch(e, p);
        tier_state *nt = malloc(nl * sizeof *nt);
        if (!nt) {
            /* Off every ladder rather than holding tiers of the old program. */
            engine_partner_set_tiers(p, NULL, 0);
            p->ladders = 0;
            continue;
        }
        uint32_t on = ladders_for(np, p->types, p->n_types);
        double values[TD_MAX_METRICS];
        values_init(values);
        metric_values(&e->cp, p, UINT64_MAX, now, values);
        for (size_t l = 0; l < np->n_ladders; l++)
            engine_tier_state_init(&nt[l]);
        tiers_for_program(e, old, np, p, on, nt, true, now, fn, ud);
        engine_partner_set_tiers(p, nt, np->n_ladders);
        p->ladders = on;
        lc_ctx c = {e, p, 0, values, now, TD_CAUSE_PROGRAM_VERSION, NULL, fn, ud};
        for (size_t l = 0; l < np->n_ladders; l++) {
            if (!(on & (1u << l)))
                continue;
            c.l = l;
            lifecycle_step(&c, engine_qualify(&np->ladders[l], values));
        }
        prune_partner(e, p, now);
    }
    eng_prog_free(&ocp);
    if (old)
        program_free(old);
    return 0;
}

/* One partner under np at `at`, without changing it: its tiers are remapped
 * into nt and the lifecycle steps on a copy, in `shadow`, an engine that
 * has np in force from `at` and whose own lists are scratch. */
static void impact_partner(engine *shadow, const engine *e, const eng_prog *cp, const program *np,
                           const td_partner *pt, tier_state *nt, td_time at, td_impact *out)
{
    uint32_t on = ladders_for(np, pt->types, pt->n_types);
    for (size_t l = 0; l < np->n_ladders; l++)
        engine_tier_state_init(&nt[l]);
    /* Ladders it leaves while holding a tier: a demotion at once. */
    for (size_t ol = 0; e->prog && pt->tiers && ol < e->prog->n_ladders; ol++) {
        int l = program_ladder_index(np, e->prog->ladders[ol].name);
        if ((pt->ladders & (1u << ol)) && ts_effective(&pt->tiers[ol]) >= 0 &&
            (l < 0 || !(on & (1u << l))))
            out->demoted++;
    }
    if (!on)
        return;
    /* Without fn nothing is reported, and without take_notes pt is left as
     * it is: the cast only fits the applying path's signature. */
    tiers_for_program(shadow, e->prog, np, (td_partner *)pt, on, nt, false, at, NULL, NULL);
    td_partner tmp = *pt;
    tmp.tiers = nt;
    tmp.n_tiers = (uint8_t)np->n_ladders;
    tmp.ladders = on;
    tmp.touched = false;
    double values[TD_MAX_METRICS];
    values_init(values);
    metric_values(cp, pt, UINT64_MAX, at, values);
    lc_ctx c = {shadow, &tmp, 0, values, at, TD_CAUSE_PROGRAM_VERSION, NULL, NULL, NULL};
    for (size_t l = 0; l < np->n_ladders; l++) {
        if (!(on & (1u << l)))
            continue;
        tier_state *ts = &nt[l];
        int from = ts_effective(ts), pending_before = ts->pending;
        c.l = l;
        lifecycle_step(&c, engine_qualify(&np->ladders[l], values));
        int to = ts_effective(ts);
        bool queued = ts->pending >= 0 && ts->pending != pending_before;
        out->queued += queued;
        if (to > from) {
            out->promoted++;
        } else if (to < from) {
            out->demoted++;
        } else if (!ts_overridden(ts) && ts->below_since != TD_TIME_NONE) {
            td_time due = lifecycle_demotion_time(shadow, &np->ladders[l], ts);
            out->demoted_later++;
            if (out->first_demotion == TD_TIME_NONE || due < out->first_demotion)
                out->first_demotion = due;
            if (out->last_demotion == TD_TIME_NONE || due > out->last_demotion)
                out->last_demotion = due;
        } else if (!queued) {
            out->unchanged++;
        }
    }
    shadow->n_touched = 0; /* tmp is gone after this call */
}

int engine_program_impact(const engine *e, const program *np, td_time at, td_impact *out)
{
    *out = (td_impact){.first_demotion = TD_TIME_NONE, .last_demotion = TD_TIME_NONE, .at = at};
    eng_prog cp;
    if (eng_prog_compile(e, np, &cp) != 0)
        return -TD_RESOURCE_EXHAUSTED;
    tier_state *nt = malloc((np->n_ladders ? np->n_ladders : 1) * sizeof *nt);
    if (!nt) {
        eng_prog_free(&cp);
        return -TD_RESOURCE_EXHAUSTED;
    }
    /* The lifecycle runs exactly as engine_program_apply runs it, so what is
     * counted is what will happen: approvals queue, grace and review points
     * and the new version's grandfather period (from `at`) hold. */
    engine shadow = *e;
    shadow.prog = (program *)np;
    shadow.cp = cp;
    shadow.version_effective = at;
    shadow.touched = NULL;
    shadow.n_touched = shadow.cap_touched = 0;
    for (size_t i = 0; i < e->map.cap; i++)
        if (e->map.slots[i].hash)
            impact_partner(&shadow, e, &cp, np, e->map.slots[i].p, nt, at, out);
    free(shadow.touched);
    free(nt);
    eng_prog_free(&cp);
    return 0;
}

/* ---- lifetime, stats ---- */

engine *engine_new(void)
{
    return calloc(1, sizeof(engine));
}

void engine_free(engine *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->map.cap; i++)
        if (e->map.slots[i].hash)
            engine_partner_destroy(e->map.slots[i].p);
    pmap_free(&e->map);
    free(e->sorted);
    free(e->touched);
    eng_prog_free(&e->cp);
    if (e->prog)
        program_free(e->prog);
    if (e->scheduled)
        program_free(e->scheduled);
    for (size_t i = 0; i < e->n_events; i++)
        free(e->events[i]);
    free(e->events);
    for (size_t i = 0; i < e->n_type_names; i++)
        free(e->type_names[i]);
    free(e->type_names);
    free(e);
}

void engine_stats(const engine *e, uint64_t *counts)
{
    const program *prog = e->prog;
    if (!prog)
        return;
    memset(counts, 0, prog->n_ladders * (TD_MAX_TIERS + 1) * sizeof *counts);
    for (size_t i = 0; i < e->map.cap; i++) {
        if (!e->map.slots[i].hash)
            continue;
        const td_partner *p = e->map.slots[i].p;
        for (size_t l = 0; p->tiers && l < prog->n_ladders; l++)
            if (p->ladders & (1u << l))
                counts[l * (TD_MAX_TIERS + 1) + (size_t)(ts_effective(&p->tiers[l]) + 1)]++;
    }
}
