/* Membership (engine.h: partners and stats): which partners there are,
 * which ladders their types put them on, and who holds which tier.
 *
 * Owns creating, updating and deleting a partner through the API (a type
 * change moves it onto or off ladders, reported as tier changes), listing
 * partners by id with a ladder and tier filter, a partner's standing on
 * each ladder, and the count of partners per tier. Promises that a refused
 * upsert (bad text, too many types, out of memory) changes nothing. Does
 * not restore partners from their records (codec.c).
 *
 * Place in the engine's line (tests/unit/test_engine_layers.sh): above
 * evaluate; calls down only. */
#include <stdlib.h>
#include <string.h>

#include "change.h"
#include "evaluate.h"
#include "lifecycle.h"
#include "text.h"

static void leave_ladders(engine *e, td_partner *p, uint32_t leaving, td_time now, td_cause cause,
                          td_change_fn fn, void *ud)
{
    const program *prog = e->prog;
    if (!prog || !p->tiers || !leaving)
        return;
    e->queue_generation++; /* a tier queued on a ladder left goes with it */
    double values[TD_MAX_METRICS];
    eng_prog_values(&e->cp, p, eng_prog_partner_mask(&e->cp, p), now, values);
    for (size_t l = 0; l < prog->n_ladders; l++) {
        if (!(leaving & (1u << l)))
            continue;
        const ladder_def *ld = &prog->ladders[l];
        tier_state *ts = &p->tiers[l];
        int eff = ts_effective(ts);
        if (eff >= 0)
            change_report(prog, p, ld->name, ld, ld->tiers[eff].name, eff, NULL, now, cause, NULL,
                          cause == TD_CAUSE_PARTNER_DELETED ? NULL : values, NULL, NULL, fn, ud);
        tier_state_reset(ts);
    }
}

int engine_partner_upsert(engine *e, const char *id, const char *name, const char *const *types,
                          size_t n_types, td_time now, td_change_fn fn, void *ud, td_error *err)
{
    if (!td_text_ok(id, TD_MAX_ID))
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "partner id: must be 1..%d bytes of UTF-8 without control characters",
                            TD_MAX_ID);
    if (name && !td_text_ok(name, TD_MAX_ID))
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "partner '%s': name must be 1..%d bytes of UTF-8 without control "
                            "characters",
                            id, TD_MAX_ID);
    if (n_types > TD_MAX_PARTNER_TYPES)
        return td_error_set(err, TD_INVALID_ARGUMENT, "partner '%s': %zu types, at most %d", id,
                            n_types, TD_MAX_PARTNER_TYPES);
    for (size_t i = 0; types && i < n_types; i++)
        if (!td_text_ok(types[i], TD_MAX_NAME))
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
        p = partner_alloc(id, e->prog ? e->prog->n_ladders : 0, e->cp.n_ev);
        oom = !p || engine_partner_insert(e, p) != 0;
        if (oom && p) {
            partner_destroy(p);
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
    uint32_t on = program_ladders_for_types(e->prog, p->types, p->n_types);
    leave_ladders(e, p, p->ladders & ~on, now, TD_CAUSE_DEMOTION, fn, ud);
    uint32_t joining = on & ~p->ladders;
    p->ladders = on;
    evaluate_ladders(e, p, joining, now, 0, NULL, fn, ud);
    return 0;
}

int engine_partner_delete(engine *e, const char *id, td_time now, td_change_fn fn, void *ud,
                          td_error *err)
{
    td_partner *p = td_text_ok(id, TD_MAX_ID) ? engine_partner_find(e, id) : NULL;
    if (!p)
        return td_error_set(err, TD_NOT_FOUND, "unknown partner '%s'",
                            td_text_ok(id, TD_MAX_ID) ? id : "(invalid id)");
    leave_ladders(e, p, p->ladders, now, TD_CAUSE_PARTNER_DELETED, fn, ud);
    engine_partner_remove(e, p);
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
                         td_text_ok(ladder, TD_MAX_NAME) ? ladder : "(invalid)");
            return 0;
        }
        if (tier && strcmp(tier, "unranked") != 0) {
            t = ladder_tier_index(&e->prog->ladders[l], tier);
            if (t < 0) {
                td_error_set(err, TD_NOT_FOUND, "ladder '%s' has no tier '%s'", ladder,
                             td_text_ok(tier, TD_MAX_NAME) ? tier : "(invalid)");
                return 0;
            }
        }
    }
    if (engine_sorted_rebuild(e) != 0) {
        td_error_set(err, TD_RESOURCE_EXHAUSTED, "listing partners: out of memory");
        return 0;
    }
    size_t n = 0;
    for (size_t i = engine_sorted_after(e, after); i < e->n_sorted; i++) {
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
        out[n++] = (td_tier_view){
            .ladder = ld->name,
            .tier = ladder_tier_name(ld, eff),
            .since = ts->since,
            .qualifying = ladder_tier_name(ld, ts->qualifying),
            .pending = ladder_tier_name(ld, ts->pending),
            .override_tier = ladder_tier_name(ld, ts->override_tier),
            .override_until = ts->override_until,
            .below_since = ts->below_since,
            .lifecycle_tier = ladder_tier_name(ld, ts->tier),
            .overridden = ts_overridden(ts),
            .override_actor = ts->override_note,
            .override_reason = tier_note_reason(ts->override_note),
            .pending_since = ts->pending_since,
            .pending_demotion = ts->pending_demotion,
            .pending_deadline = lifecycle_review_deadline(ld, ts),
        };
    }
    return n;
}

/* ---- stats ---- */

void engine_stats(const engine *e, uint64_t *counts)
{
    const program *prog = e->prog;
    if (!prog)
        return;
    memset(counts, 0, prog->n_ladders * (TD_MAX_TIERS + 1) * sizeof *counts);
    const td_partner *p;
    PMAP_FOREACH(&e->map, p) {
        for (size_t l = 0; p->tiers && l < prog->n_ladders; l++)
            if (p->ladders & (1u << l))
                counts[l * (TD_MAX_TIERS + 1) + (size_t)(ts_effective(&p->tiers[l]) + 1)]++;
    }
}
