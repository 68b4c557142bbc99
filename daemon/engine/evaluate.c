/* Evaluation (evaluate.h; engine_evaluate and engine_partner_next_due in
 * engine.h).
 *
 * Owns the step every tier move starts from: metric values at now for the
 * ladders asked about, the qualifying tier of each (criteria.c), and, for
 * any ladder that is not simply settled, the lifecycle step (lifecycle.c).
 * Owns pruning too, since a sweep over every partner does both in one
 * pass. Promises that a partner whose stored form changed (a tier, the
 * qualifying tier, the start of grace, a pruned stream) is marked changed.
 * Does not validate or fold events (ingest.c).
 *
 * Place in the engine's line (tests/unit/test_engine_layers.sh): above
 * lifecycle, criteria and the engine's state; calls down only. */
#include "evaluate.h"

#include <stdlib.h>

#include "criteria.h"
#include "lifecycle.h"

#define EVAL_PREFETCH_AHEAD 8 /* slots ahead whose partner struct is fetched */
#define EVAL_PREFETCH_NEAR  4 /* slots ahead whose buckets are fetched */
#define EVAL_CACHE_LINE     64

void evaluate_ladders(engine *e, td_partner *p, uint32_t sel, td_time now, td_cause cause,
                      const td_event *ev, td_change_fn fn, void *ud)
{
    evaluate_ladders_because(e, p, sel, now, cause, NULL, ev, fn, ud);
}

void evaluate_ladders_because(engine *e, td_partner *p, uint32_t sel, td_time now, td_cause cause,
                              const char *reason, const td_event *ev, td_change_fn fn, void *ud)
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
    eng_prog_values(&e->cp, p, mask, now, values);
    lc_ctx c = {e, p, 0, values, now, cause, ev, fn, ud, reason};
    for (size_t l = 0; l < prog->n_ladders; l++) {
        if (!(sel & (1u << l)))
            continue;
        tier_state *ts = &p->tiers[l];
        int q = criteria_qualify(&prog->ladders[l], values);
        /* The common case: nothing below, pending or pinned. */
        if (q == ts->tier && ts->below_since == TD_TIME_NONE && !ts_has_pending(ts) &&
            ts->denied < 0 && ts->review_denied < 0 && !ts_overridden(ts)) {
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

/* horizons[ev]: eng_prog_horizon at now, worked out once per sweep. */
static void prune_partner_at(engine *e, td_partner *p, const td_time *horizons)
{
    for (size_t ev = 0; ev < p->n_streams && ev < e->cp.n_ev; ev++)
        if (metric_stream_has_window(&p->streams[ev]))
            prune_stream(e, p, ev, horizons[ev]);
}

void evaluate_prune_partner(engine *e, td_partner *p, td_time now)
{
    for (size_t ev = 0; ev < p->n_streams && ev < e->cp.n_ev; ev++)
        if (metric_stream_has_window(&p->streams[ev]))
            prune_stream(e, p, ev, eng_prog_horizon(&e->cp, (int)ev, now));
}

/* Partners sit at random addresses: while one is evaluated, fetch the
 * block of a partner a few slots on, and the buckets of a nearer one. */
static void prefetch_ahead(const engine *e, size_t i)
{
    const td_partner *far =
        i + EVAL_PREFETCH_AHEAD < e->map.cap ? pmap_at(&e->map, i + EVAL_PREFETCH_AHEAD) : NULL;
    if (far) {
        const char *b = (const char *)far;
        size_t len = sizeof(td_partner) + e->cp.n_ev * sizeof(metric_stream) +
                     (e->prog ? e->prog->n_ladders : 0) * sizeof(tier_state);
        for (size_t off = 0; off < len; off += EVAL_CACHE_LINE)
            __builtin_prefetch(b + off);
    }
    const td_partner *near =
        i + EVAL_PREFETCH_NEAR < e->map.cap ? pmap_at(&e->map, i + EVAL_PREFETCH_NEAR) : NULL;
    for (uint32_t s = 0; near && s < near->n_streams; s++)
        if (near->streams[s].b)
            __builtin_prefetch(near->streams[s].b);
}

void engine_evaluate(engine *e, td_partner *p, td_time now, td_change_fn fn, void *ud)
{
    if (!e->prog)
        return;
    if (p) {
        evaluate_prune_partner(e, p, now);
        evaluate_ladders(e, p, UINT32_MAX, now, 0, NULL, fn, ud);
        return;
    }
    td_time *horizons = malloc((e->cp.n_ev ? e->cp.n_ev : 1) * sizeof *horizons);
    for (size_t ev = 0; horizons && ev < e->cp.n_ev; ev++)
        horizons[ev] = eng_prog_horizon(&e->cp, (int)ev, now);
    /* By slot, not PMAP_FOREACH: the prefetch looks ahead by slot index,
     * empty slots included. */
    for (size_t i = 0; i < e->map.cap; i++) {
        prefetch_ahead(e, i);
        td_partner *q = pmap_at(&e->map, i);
        if (!q)
            continue;
        if (horizons)
            prune_partner_at(e, q, horizons);
        else
            evaluate_prune_partner(e, q, now);
        evaluate_ladders(e, q, UINT32_MAX, now, 0, NULL, fn, ud);
    }
    free(horizons);
}

td_time engine_partner_next_due(const engine *e, const td_partner *p, td_time now)
{
    if (!e->prog)
        return TD_TIME_NONE;
    td_time due = eng_prog_next_due(&e->cp, p, eng_prog_partner_mask(&e->cp, p), now);
    td_time t = lifecycle_next_due(e, p, now);
    if (t != TD_TIME_NONE && (due == TD_TIME_NONE || t < due))
        due = t;
    return due;
}
