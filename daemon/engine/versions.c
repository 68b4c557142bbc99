/* Program versions (engine.h: programs, and program versions over time):
 * putting a version in force, what it would do before it is, and the one
 * version waiting for its effective instant.
 *
 * Owns remapping every partner's tiers to a new version by ladder and tier
 * name (reporting the ones that move with cause PROGRAM_VERSION), then
 * letting the lifecycle run on under it exactly as it will run later:
 * promotions at once or queued for approval, demotions after grace, the
 * review point and the version's grandfather period. An impact assessment
 * runs that same path on copies, so what it counts is what applying does;
 * the notice check refuses on its count. Metric state is kept per event
 * name, so it carries over whatever the new metrics' windows. Promises
 * that a version refused for lack of memory changes nothing. Applying a
 * scheduled version at its due time is the daemon's job; this file only
 * keeps it.
 *
 * Place in the engine's line (tests/unit/test_engine_layers.sh): last,
 * above evaluate, lifecycle and change; calls down only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "change.h"
#include "criteria.h"
#include "evaluate.h"
#include "lifecycle.h"

#define LC_SPAN_MAX      48 /* "12345 days" and the like */
#define SECONDS_PER_HOUR 3600

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
                change_report_version(e->prog, p, old_ld, NULL, from, NULL, now, fn, ud);
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
        ts->review_denied = (int8_t)tier_by_name(old_ld, ots->review_denied, ld);
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
            change_report_version(e->prog, p, old_ld, ld, from, to, now, fn, ud);
    }
}

/* Puts p under the version just put in force (e->prog), leaving `old`:
 * tiers remapped by ladder and tier name, ladders from its types, one
 * lifecycle step per ladder at now with cause PROGRAM_VERSION, and its
 * streams pruned to the new windows. */
static void apply_to_partner(engine *e, const program *old, td_partner *p, td_time now,
                             td_change_fn fn, void *ud)
{
    const program *np = e->prog;
    /* Tiers are remapped by name and re-evaluated: rewrite every one. */
    engine_touch(e, p);
    tier_state *nt = malloc((np->n_ladders ? np->n_ladders : 1) * sizeof *nt);
    if (!nt) {
        /* Off every ladder rather than holding tiers of the old program. */
        partner_set_tiers(p, NULL, 0);
        p->ladders = 0;
        return;
    }
    uint32_t on = program_ladders_for_types(np, p->types, p->n_types);
    double values[TD_MAX_METRICS];
    eng_prog_values(&e->cp, p, UINT64_MAX, now, values);
    for (size_t l = 0; l < np->n_ladders; l++)
        tier_state_init(&nt[l]);
    tiers_for_program(e, old, np, p, on, nt, true, now, fn, ud);
    partner_set_tiers(p, nt, np->n_ladders);
    p->ladders = on;
    lc_ctx c = {e, p, 0, values, now, TD_CAUSE_PROGRAM_VERSION, NULL, fn, ud};
    for (size_t l = 0; l < np->n_ladders; l++) {
        if (!(on & (1u << l)))
            continue;
        c.l = l;
        lifecycle_step(&c, criteria_qualify(&np->ladders[l], values));
    }
    evaluate_prune_partner(e, p, now);
}

int engine_program_apply(engine *e, program *np, td_time now, td_change_fn fn, void *ud)
{
    e->queue_generation++; /* tiers map to the new ladders by name */
    eng_prog ncp;
    if (eng_prog_intern_events(&e->events, np) != 0 || eng_prog_compile(&e->events, np, &ncp) != 0)
        return -TD_RESOURCE_EXHAUSTED;
    program *old = e->prog;
    eng_prog ocp = e->cp;
    e->prog = np;
    e->cp = ncp;
    /* Grandfathering counts from the moment this version is in force. */
    e->version_effective = now;
    td_partner *p;
    PMAP_FOREACH(&e->map, p)
        apply_to_partner(e, old, p, now, fn, ud);
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
    uint32_t on = program_ladders_for_types(np, pt->types, pt->n_types);
    for (size_t l = 0; l < np->n_ladders; l++)
        tier_state_init(&nt[l]);
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
    eng_prog_values(cp, pt, UINT64_MAX, at, values);
    lc_ctx c = {shadow, &tmp, 0, values, at, TD_CAUSE_PROGRAM_VERSION, NULL, NULL, NULL};
    for (size_t l = 0; l < np->n_ladders; l++) {
        if (!(on & (1u << l)))
            continue;
        tier_state *ts = &nt[l];
        int from = ts_effective(ts), pending_before = ts->pending;
        bool promotion_before = !ts->pending_demotion;
        c.l = l;
        lifecycle_step(&c, criteria_qualify(&np->ladders[l], values));
        int to = ts_effective(ts);
        /* Demotion review: a queued demotion is counted as demoted later, at its deadline. */
        bool queued = ts->pending >= 0 && !ts->pending_demotion &&
                      (ts->pending != pending_before || !promotion_before);
        out->queued += queued;
        td_time due = TD_TIME_NONE;
        if (to > from) {
            out->promoted++;
        } else if (to < from) {
            out->demoted++;
        } else if (!ts_overridden(ts) && ts->below_since != TD_TIME_NONE &&
                   (due = lifecycle_demotion_time(shadow, &np->ladders[l], ts)) != TD_TIME_NONE) {
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
    if (eng_prog_compile(&e->events, np, &cp) != 0)
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
    const td_partner *p;
    PMAP_FOREACH(&e->map, p)
        impact_partner(&shadow, e, &cp, np, p, nt, at, out);
    free(shadow.touched);
    free(nt);
    eng_prog_free(&cp);
    return 0;
}

/* ---- program versions over time ---- */

/* "30 days", "12 hours", "45 seconds": the largest whole unit. */
static void span_format(int64_t s, char *buf, size_t n)
{
    if (s >= TD_SECONDS_PER_DAY)
        snprintf(buf, n, "%lld day%s", (long long)(s / TD_SECONDS_PER_DAY),
                 s / TD_SECONDS_PER_DAY == 1 ? "" : "s");
    else if (s >= SECONDS_PER_HOUR)
        snprintf(buf, n, "%lld hour%s", (long long)(s / SECONDS_PER_HOUR),
                 s / SECONDS_PER_HOUR == 1 ? "" : "s");
    else
        snprintf(buf, n, "%lld second%s", (long long)s, s == 1 ? "" : "s");
}

int engine_program_notice_check(const engine *e, const program *p, td_time now,
                                uint64_t *would_demote, td_error *err)
{
    td_time eff = p->effective != TD_TIME_NONE && p->effective > now ? p->effective : now;
    td_impact im;
    if (engine_program_impact(e, p, eff, &im) != 0)
        return td_error_set(err, TD_RESOURCE_EXHAUSTED,
                            "version %s: out of memory assessing its impact", p->version);
    /* Demoted at once or later: either way the version can demote them. */
    uint64_t down = im.demoted + im.demoted_later;
    *would_demote = down;
    if (!down || p->notice <= 0 || eff - now >= p->notice)
        return 0;
    char lead[LC_SPAN_MAX + sizeof "in "], notice[LC_SPAN_MAX];
    span_format(p->notice, notice, sizeof notice);
    if (eff == now)
        snprintf(lead, sizeof lead, "now");
    else {
        char span[LC_SPAN_MAX];
        span_format(eff - now, span, sizeof span);
        snprintf(lead, sizeof lead, "in %s", span);
    }
    return td_error_set(err, TD_FAILED_PRECONDITION,
                        "version %s would demote %llu partner%s and takes effect %s; notice is %s "
                        "(use --force)",
                        p->version, (unsigned long long)down, down == 1 ? "" : "s", lead, notice);
}

td_time engine_program_effective(const engine *e)
{
    return e->version_effective;
}

void engine_program_set_effective(engine *e, td_time effective)
{
    e->version_effective = effective;
}

void engine_program_schedule(engine *e, program *p, td_time effective)
{
    if (e->scheduled && e->scheduled != p)
        program_free(e->scheduled);
    e->scheduled = p;
    e->scheduled_at = p ? effective : TD_TIME_NONE;
}

const program *engine_program_scheduled(const engine *e)
{
    return e->scheduled;
}

td_time engine_next_program_due(const engine *e)
{
    return e->scheduled ? e->scheduled_at : TD_TIME_NONE;
}

program *engine_program_take_scheduled(engine *e)
{
    program *p = e->scheduled;
    e->scheduled = NULL;
    e->scheduled_at = TD_TIME_NONE;
    return p;
}
