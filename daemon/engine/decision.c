/* Decisions people take on a partner's tier (engine.h: lifecycle): an
 * override that pins the tier everyone sees until it ends, and the
 * approval or denial of a promotion waiting in the queue, which this file
 * also lists and counts.
 *
 * Owns checking what a person asks for (known ladder, partner on it, text
 * actor and reason, a sane end for an override, a promotion still
 * qualified for) and recording it with its actor and reason. Promises that
 * a refused request changes nothing, and that the ladder is brought up to
 * now first, so an override that expired meanwhile ends on record before
 * a new one starts. The rules the lifecycle follows afterwards are
 * lifecycle.c's.
 *
 * Place in the engine's line (tests/unit/test_engine_layers.sh): above
 * evaluate and lifecycle; calls down only. */
#include <stdlib.h>
#include <string.h>

#include "criteria.h"
#include "evaluate.h"
#include "lifecycle.h"
#include "text.h"

/* Finds ladder `name` and p's state on it. */
static int find_ladder(const engine *e, const td_partner *p, const char *name, size_t *l,
                       td_error *err)
{
    if (!e->prog)
        return td_error_set(err, TD_FAILED_PRECONDITION, "no program loaded");
    if (!td_text_ok(name, TD_MAX_NAME))
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "ladder: must be 1..%d bytes of UTF-8 without control characters",
                            TD_MAX_NAME);
    int i = program_ladder_index(e->prog, name);
    if (i < 0)
        return td_error_set(err, TD_NOT_FOUND, "no ladder named '%s'", name);
    if (!(p->ladders & (1u << i)) || !p->tiers)
        return td_error_set(err, TD_NOT_FOUND, "partner '%s' is not on ladder %s", p->id, name);
    *l = (size_t)i;
    return 0;
}

static int check_text(const char *what, const char *s, size_t max, bool required, td_error *err)
{
    if (!s && !required)
        return 0;
    if (!td_text_ok(s, max))
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "%s: must be 1..%zu bytes of UTF-8 without control characters", what,
                            max);
    return 0;
}

/* The values ladder l reads, for the criteria of a report. */
static void ladder_values(const engine *e, const td_partner *p, size_t l, td_time now,
                          double *values)
{
    eng_prog_values(&e->cp, p, e->cp.ladder_mask[l], now, values);
}

int engine_override_set(engine *e, td_partner *p, const char *ladder, const char *tier,
                        td_time until, const char *actor, const char *reason, td_time now,
                        td_change_fn fn, void *ud, td_error *err)
{
    size_t l = 0; /* set by find_ladder on success; -O3 cannot see that */
    int rc = find_ladder(e, p, ladder, &l, err);
    if (rc)
        return rc;
    const ladder_def *ld = &e->prog->ladders[l];
    int t = -1;
    if (tier) {
        t = td_text_ok(tier, TD_MAX_NAME) ? ladder_tier_index(ld, tier) : -1;
        if (t < 0) {
            char names[TD_ERROR_MAX / 2];
            ladder_tier_names(ld, names, sizeof names);
            return td_error_set(
                err, TD_NOT_FOUND, "ladder '%s' has no tier '%s'; its tiers: %s (or unranked)",
                ld->name, td_text_ok(tier, TD_MAX_NAME) ? tier : "(invalid)", names);
        }
    }
    if (until <= now || until > TD_TIME_MAX)
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "until: an override must end after now and by 9999-12-31");
    if ((rc = check_text("actor", actor, TD_MAX_ID, true, err)) ||
        (rc = check_text("reason", reason, TD_MAX_REASON, true, err)))
        return rc;
    char *note = tier_note_new(actor, reason);
    if (!note)
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "override for '%s': out of memory", p->id);
    /* Bring the ladder up to now first, so an expired pin ends on record. */
    evaluate_ladders(e, p, 1u << l, now, 0, NULL, fn, ud);
    tier_state *ts = &p->tiers[l];
    int from = ts_effective(ts);
    free(ts->override_note);
    ts->override_note = note;
    ts->override_tier = (int8_t)t;
    ts->override_until = until;
    double values[TD_MAX_METRICS];
    ladder_values(e, p, l, now, values);
    lc_ctx c = {e, p, l, values, now, 0, NULL, fn, ud, NULL};
    lifecycle_report(&c, from, t, t >= 0 ? t : from, TD_CAUSE_OVERRIDE, actor, reason);
    return 0;
}

int engine_override_clear(engine *e, td_partner *p, const char *ladder, const char *actor,
                          const char *reason, td_time now, td_change_fn fn, void *ud, td_error *err)
{
    size_t l = 0; /* set by find_ladder on success; -O3 cannot see that */
    int rc = find_ladder(e, p, ladder, &l, err);
    if (rc || (rc = check_text("actor", actor, TD_MAX_ID, true, err)) ||
        (rc = check_text("reason", reason, TD_MAX_REASON, false, err)))
        return rc;
    tier_state *ts = &p->tiers[l];
    if (!ts_overridden(ts) || now >= ts->override_until)
        return td_error_set(err, TD_FAILED_PRECONDITION,
                            "partner '%s' has no active override on ladder %s", p->id, ladder);
    double values[TD_MAX_METRICS];
    ladder_values(e, p, l, now, values);
    lc_ctx c = {e, p, l, values, now, 0, NULL, fn, ud, NULL};
    lifecycle_override_end(&c, ts, TD_CAUSE_OVERRIDE_CLEARED, actor, reason);
    evaluate_ladders(e, p, 1u << l, now, 0, NULL, fn, ud);
    return 0;
}

uint64_t engine_pending_generation(const engine *e)
{
    return e->queue_generation;
}

uint64_t engine_pending_count(const engine *e)
{
    const program *prog = e->prog;
    if (!prog)
        return 0;
    uint64_t n = 0;
    const td_partner *p;
    PMAP_FOREACH(&e->map, p) {
        if (!p->tiers)
            continue;
        for (size_t l = 0; l < prog->n_ladders; l++)
            if ((p->ladders & (1u << l)) && ts_has_pending(&p->tiers[l]))
                n++;
    }
    return n;
}

size_t engine_pending_list(engine *e, const char *after_partner, const char *after_ladder,
                           td_pending *out, size_t cap, bool *more)
{
    *more = false;
    const program *prog = e->prog;
    if (!prog || engine_sorted_rebuild(e) != 0)
        return 0;
    int after_l = after_ladder ? program_ladder_index(prog, after_ladder) : -1;
    size_t n = 0;
    for (size_t i = 0; i < e->n_sorted; i++) {
        const td_partner *p = e->sorted[i];
        int cmp = after_partner ? strcmp(p->id, after_partner) : 1;
        if (cmp < 0 || !p->tiers)
            continue;
        for (size_t l = 0; l < prog->n_ladders; l++) {
            const tier_state *ts = &p->tiers[l];
            if (!(p->ladders & (1u << l)) || !ts_has_pending(ts) || (cmp == 0 && (int)l <= after_l))
                continue;
            if (n == cap) {
                *more = true;
                return n;
            }
            const ladder_def *ld = &prog->ladders[l];
            out[n++] = (td_pending){p->id,
                                    ld->name,
                                    ladder_tier_name(ld, ts_effective(ts)),
                                    ladder_tier_name(ld, ts->pending),
                                    ts->pending_since,
                                    ts->pending_demotion,
                                    lifecycle_review_deadline(ld, ts)};
        }
    }
    return n;
}

/* The ladder and its pending tier, or an error naming why there is none. */
static int check_pending(engine *e, td_partner *p, const char *ladder, const char *actor,
                         const char *reason, size_t *l, td_error *err)
{
    int rc = find_ladder(e, p, ladder, l, err);
    if (rc || (rc = check_text("actor", actor, TD_MAX_ID, true, err)) ||
        (rc = check_text("reason", reason, TD_MAX_REASON, false, err)))
        return rc;
    if (!ts_has_pending(&p->tiers[*l]))
        return td_error_set(err, TD_FAILED_PRECONDITION,
                            "partner '%s' has no promotion or demotion waiting for approval on "
                            "ladder %s",
                            p->id, ladder);
    return 0;
}

/* A demotion carried out because a person said so: to where the lifecycle
 * would take it now, with a new grace from now when still below. */
static int approve_demotion(engine *e, td_partner *p, size_t l, const char *actor,
                            const char *reason, td_time now, td_change_fn fn, void *ud,
                            td_error *err)
{
    const ladder_def *ld = &e->prog->ladders[l];
    tier_state *ts = &p->tiers[l];
    double values[TD_MAX_METRICS];
    ladder_values(e, p, l, now, values);
    int q = criteria_qualify(ld, values);
    int from = ts->tier;
    if (q >= from)
        return td_error_set(err, TD_FAILED_PRECONDITION,
                            "partner '%s' is no longer below %s on ladder %s", p->id,
                            ld->tiers[from].name, ld->name);
    int to = lifecycle_demotion_target(ld, from, q);
    ts->tier = (int8_t)to;
    ts->since = now;
    ts->below_since = q < to ? now : TD_TIME_NONE;
    ts->pending = -1;
    ts->pending_demotion = false;
    ts->pending_since = TD_TIME_NONE;
    e->queue_generation++;
    lc_ctx c = {e, p, l, values, now, 0, NULL, fn, ud, NULL};
    /* Under a pin the decision is on record but the tier seen does not move. */
    int eff = ts_effective(ts);
    lifecycle_report(&c, ts_overridden(ts) ? eff : from, eff, to >= 0 ? to : from,
                     TD_CAUSE_APPROVAL, actor, reason);
    evaluate_ladders(e, p, 1u << l, now, 0, NULL, fn, ud);
    return 0;
}

int engine_approve(engine *e, td_partner *p, const char *ladder, const char *actor,
                   const char *reason, td_time now, td_change_fn fn, void *ud, td_error *err)
{
    size_t l = 0; /* set by check_pending on success; -O3 cannot see that */
    int rc = check_pending(e, p, ladder, actor, reason, &l, err);
    if (rc)
        return rc;
    if (p->tiers[l].pending_demotion)
        return approve_demotion(e, p, l, actor, reason, now, fn, ud, err);
    const ladder_def *ld = &e->prog->ladders[l];
    tier_state *ts = &p->tiers[l];
    double values[TD_MAX_METRICS];
    ladder_values(e, p, l, now, values);
    int q = criteria_qualify(ld, values);
    int to = ts->pending;
    if (q < to)
        return td_error_set(err, TD_FAILED_PRECONDITION,
                            "partner '%s' no longer qualifies for %s on ladder %s", p->id,
                            ld->tiers[to].name, ld->name);
    int from = ts->tier;
    ts->tier = (int8_t)to;
    ts->since = now;
    ts->below_since = TD_TIME_NONE;
    ts->pending = -1;
    ts->pending_since = TD_TIME_NONE;
    e->queue_generation++;
    lc_ctx c = {e, p, l, values, now, 0, NULL, fn, ud, NULL};
    /* Under a pin the decision is on record but the tier seen does not move. */
    int eff = ts_effective(ts);
    lifecycle_report(&c, ts_overridden(ts) ? eff : from, eff, to, TD_CAUSE_APPROVAL, actor, reason);
    evaluate_ladders(e, p, 1u << l, now, 0, NULL, fn, ud);
    return 0;
}

int engine_deny(engine *e, td_partner *p, const char *ladder, const char *actor, const char *reason,
                td_time now, td_change_fn fn, void *ud, td_error *err)
{
    size_t l = 0; /* set by check_pending on success; -O3 cannot see that */
    int rc = check_pending(e, p, ladder, actor, reason, &l, err);
    if (rc)
        return rc;
    tier_state *ts = &p->tiers[l];
    int was = ts->pending;
    bool demotion = ts->pending_demotion;
    if (demotion)
        ts->review_denied = ts->tier;
    else
        ts->denied = (int8_t)was;
    ts->pending = -1;
    ts->pending_demotion = false;
    ts->pending_since = TD_TIME_NONE;
    e->queue_generation++;
    double values[TD_MAX_METRICS];
    ladder_values(e, p, l, now, values);
    lc_ctx c = {e, p, l, values, now, 0, NULL, fn, ud, NULL};
    int eff = ts_effective(ts);
    if (demotion)
        lifecycle_report_dropped_demotion(&c, was, TD_CAUSE_DENIAL, actor, reason);
    else
        lifecycle_report(&c, eff, eff, was, TD_CAUSE_DENIAL, actor, reason);
    return 0;
}
