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
#include "forecast.h"
#include "lifecycle.h"

#define LC_SPAN_MAX      48 /* "12345 days" and the like */
#define SECONDS_PER_HOUR 3600

const program *engine_program(const engine *e)
{
    return e->prog;
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
    forecast_remap(e, old, np, p, on, nt, true, now, fn, ud);
    partner_set_tiers(p, nt, np->n_ladders);
    p->ladders = on;
    lc_ctx c = {e, p, 0, values, now, TD_CAUSE_PROGRAM_VERSION, NULL, fn, ud, NULL};
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

int engine_program_impact(const engine *e, const program *np, td_time at, td_impact *out)
{
    *out = (td_impact){.first_demotion = TD_TIME_NONE, .last_demotion = TD_TIME_NONE, .at = at};
    forecast f;
    if (forecast_begin(e, np, at, &f) != 0)
        return -TD_RESOURCE_EXHAUSTED;
    td_forecast rows[FORECAST_MAX_ROWS];
    const td_partner *p;
    PMAP_FOREACH(&e->map, p) {
        size_t n = forecast_partner(&f, p, rows);
        for (size_t i = 0; i < n; i++)
            forecast_sum(out, &rows[i]);
    }
    forecast_end(&f);
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
