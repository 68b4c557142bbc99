/* Forecasts (forecast.h): a program version's effect on one partner,
 * ladder by ladder, without changing it.
 *
 * The remap is the one engine_program_apply performs; the classification
 * runs lifecycle_step on a copy of the partner's tier states in a shadow
 * engine (the engine in force with the version and its compiled form
 * swapped in, version_effective at the instant assessed, scratch touched
 * list), so approvals queue, grace, review points and the version's
 * grandfather period hold as they will. A row's demotion date is
 * lifecycle_demotion_time on the state the step leaves, and its reason is
 * whichever rule set that instant last.
 *
 * Place in the engine's line (tests/unit/test_engine_layers.sh): above
 * explain, evaluate, lifecycle, change and criteria; calls down only. */
#include "forecast.h"

#include <stdlib.h>
#include <string.h>

#include "change.h"
#include "criteria.h"
#include "lifecycle.h"

static int tier_by_name(const ladder_def *from, int t, const ladder_def *to)
{
    return t >= 0 && to ? ladder_tier_index(to, from->tiers[t].name) : -1;
}

void forecast_remap(engine *e, const program *old, const program *np, td_partner *p, uint32_t on,
                    tier_state *nt, bool take_notes, td_time now, td_change_fn fn, void *ud)
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

int forecast_begin(const engine *e, const program *np, td_time at, forecast *f)
{
    memset(f, 0, sizeof *f);
    if (eng_prog_compile(&e->events, np, &f->cp) != 0)
        return -1;
    f->nt = malloc((np->n_ladders ? np->n_ladders : 1) * sizeof *f->nt);
    if (!f->nt) {
        eng_prog_free(&f->cp);
        return -1;
    }
    f->e = e;
    f->np = np;
    f->at = at;
    f->shadow = *e;
    f->shadow.prog = (program *)np; /* read only: the lifecycle reads the ladders */
    f->shadow.cp = f->cp;
    f->shadow.version_effective = at;
    f->shadow.touched = NULL;
    f->shadow.n_touched = f->shadow.cap_touched = 0;
    return 0;
}

void forecast_end(forecast *f)
{
    free(f->shadow.touched);
    free(f->nt);
    eng_prog_free(&f->cp);
    memset(f, 0, sizeof *f);
}

static td_forecast row_init(const td_partner *p, const char *ladder)
{
    return (td_forecast){.partner = p->id,
                         .ladder = ladder,
                         .ladder_index = -1,
                         .before_index = -1,
                         .after_index = -1,
                         .qualifying_index = -1,
                         .demotion_at = TD_TIME_NONE};
}

size_t forecast_partner(forecast *f, const td_partner *pt, td_forecast *rows)
{
    const program *np = f->np, *old = f->e->prog;
    size_t n = 0;
    uint32_t on = program_ladders_for_types(np, pt->types, pt->n_types);
    /* Ladders it leaves while holding a tier: a demotion at once. */
    for (size_t ol = 0; old && pt->tiers && ol < old->n_ladders; ol++) {
        const ladder_def *old_ld = &old->ladders[ol];
        int l = program_ladder_index(np, old_ld->name);
        int eff = (pt->ladders & (1u << ol)) ? ts_effective(&pt->tiers[ol]) : -1;
        if (eff < 0 || (l >= 0 && (on & (1u << l))))
            continue;
        td_forecast *r = &rows[n++];
        *r = row_init(pt, old_ld->name);
        r->before = old_ld->tiers[eff].name;
        r->before_index = eff;
        r->outcome = TD_OUTCOME_DEMOTED;
    }
    if (!on)
        return n;
    tier_state *nt = f->nt;
    for (size_t l = 0; l < np->n_ladders; l++)
        tier_state_init(&nt[l]);
    /* Without fn nothing is reported, and without take_notes pt is left as
     * it is: the cast only fits the applying path's signature. */
    forecast_remap(&f->shadow, old, np, (td_partner *)pt, on, nt, false, f->at, NULL, NULL);
    td_partner tmp = *pt;
    tmp.tiers = nt;
    tmp.n_tiers = (uint8_t)np->n_ladders;
    tmp.ladders = on;
    tmp.touched = false;
    double values[TD_MAX_METRICS];
    eng_prog_values(&f->cp, pt, UINT64_MAX, f->at, values);
    lc_ctx c = {&f->shadow, &tmp, 0,    values, f->at, TD_CAUSE_PROGRAM_VERSION,
                NULL,       NULL, NULL, NULL};
    for (size_t l = 0; l < np->n_ladders; l++) {
        if (!(on & (1u << l)))
            continue;
        const ladder_def *ld = &np->ladders[l];
        tier_state *ts = &nt[l];
        td_forecast *r = &rows[n++];
        *r = row_init(pt, ld->name);
        r->ladder_index = (int)l;
        /* The tier held now, read from the version in force by name. */
        int ol = old ? program_ladder_index(old, ld->name) : -1;
        if (ol >= 0 && (pt->ladders & (1u << ol)) && pt->tiers) {
            r->before_index = ts_effective(&pt->tiers[ol]);
            r->before = ladder_tier_name(&old->ladders[ol], r->before_index);
        }
        int from = ts_effective(ts), pending_before = ts->pending;
        bool promotion_before = !ts->pending_demotion;
        int q = criteria_qualify(ld, values);
        c.l = l;
        lifecycle_step(&c, q);
        int to = ts_effective(ts);
        r->after_index = to;
        r->after = ladder_tier_name(ld, to);
        r->qualifying_index = q;
        r->qualifying = ladder_tier_name(ld, q);
        r->pending = ladder_tier_name(ld, ts->pending);
        /* A promotion newly waiting; a demotion under review is demoted
         * later, at its deadline, unless a person decides first. */
        r->queued = ts->pending >= 0 && !ts->pending_demotion &&
                    (ts->pending != pending_before || !promotion_before);
        td_time due = TD_TIME_NONE;
        td_due_reason why = TD_DUE_NONE;
        bool below = !ts_overridden(ts) && ts->below_since != TD_TIME_NONE &&
                     (due = lifecycle_demotion_when(&f->shadow, ld, ts, &why)) != TD_TIME_NONE;
        if (below) {
            r->demotion_at = due;
            r->demotion_to = ladder_tier_name(ld, lifecycle_demotion_target(ld, ts->tier, q));
            r->due_reason = why;
        }
        /* The outcome compares the tier as remapped by name with the one
         * after the step: a tier the version drops counts from unranked. */
        if (to > from)
            r->outcome = TD_OUTCOME_PROMOTED;
        else if (to < from)
            r->outcome = TD_OUTCOME_DEMOTED;
        else if (below)
            r->outcome = TD_OUTCOME_DEMOTED_LATER;
        else if (r->queued)
            r->outcome = TD_OUTCOME_QUEUED;
        else
            r->outcome = TD_OUTCOME_UNCHANGED;
    }
    f->shadow.n_touched = 0; /* tmp is gone after this call */
    return n;
}

void forecast_sum(td_impact *out, const td_forecast *r)
{
    out->queued += r->queued;
    switch (r->outcome) {
    case TD_OUTCOME_PROMOTED:
        out->promoted++;
        break;
    case TD_OUTCOME_DEMOTED:
        out->demoted++;
        break;
    case TD_OUTCOME_DEMOTED_LATER:
        out->demoted_later++;
        if (out->first_demotion == TD_TIME_NONE || r->demotion_at < out->first_demotion)
            out->first_demotion = r->demotion_at;
        if (out->last_demotion == TD_TIME_NONE || r->demotion_at > out->last_demotion)
            out->last_demotion = r->demotion_at;
        break;
    case TD_OUTCOME_QUEUED:
        break;
    case TD_OUTCOME_UNCHANGED:
        out->unchanged++;
        break;
    }
}
