/* Benefits (engine.h: benefits): what each partner holds by the tier it
 * holds, and who holds a given benefit.
 *
 * Owns reading the grants the program computed for each tier
 * (program.h, benefit_grant) against partners' effective tiers: a
 * partner's benefits on a ladder, the holders of a benefit page by page,
 * and the benefit filter of a partner listing. Every listing walks the
 * id-sorted view once from `after`, testing each partner against a
 * per-ladder set of the tiers that grant the benefit, so no request sorts
 * or copies the partners. Does not parse benefits (program.c) nor report
 * gained and lost ones (change.c).
 *
 * Place in the engine's line (tests/unit/test_engine_layers.sh): above
 * membership; calls down only. */
#include <string.h>

#include "engine_state.h"
#include "text.h"

const benefit_grant *engine_partner_benefits(const engine *e, const td_partner *p, size_t l,
                                             size_t *n)
{
    *n = 0;
    if (!e->prog || l >= e->prog->n_ladders || !p->tiers || !(p->ladders & (1u << l)))
        return NULL;
    return ladder_tier_grants(&e->prog->ladders[l], ts_effective(&p->tiers[l]), n);
}

/* Bit t of masks[l]: holding tier t of ladder l grants `benefit` (only
 * ladder `only` when >= 0). Fails (in err) without a program, for an
 * unknown ladder and for a benefit no such tier grants. */
static int benefit_masks(const engine *e, const char *benefit, const char *ladder,
                         uint32_t masks[TD_MAX_LADDERS], td_error *err)
{
    memset(masks, 0, TD_MAX_LADDERS * sizeof *masks);
    if (!e->prog)
        return td_error_set(err, TD_FAILED_PRECONDITION, "no program loaded");
    if (!td_text_ok(benefit, TD_MAX_NAME))
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "benefit: must be 1..%d bytes of UTF-8 without control characters",
                            TD_MAX_NAME);
    int only = -1;
    if (ladder) {
        only = program_ladder_index(e->prog, ladder);
        if (only < 0)
            return td_error_set(err, TD_NOT_FOUND, "unknown ladder '%s'",
                                td_text_ok(ladder, TD_MAX_NAME) ? ladder : "(invalid)");
    }
    bool any = false;
    for (size_t l = 0; l < e->prog->n_ladders; l++) {
        if (only >= 0 && (size_t)only != l)
            continue;
        for (size_t t = 0; t < e->prog->ladders[l].n_tiers; t++)
            if (ladder_tier_grant(&e->prog->ladders[l], (int)t, benefit)) {
                masks[l] |= 1u << t;
                any = true;
            }
    }
    if (!any)
        return td_error_set(err, TD_NOT_FOUND, "no tier%s%s%s grants benefit '%s'",
                            ladder ? " of ladder '" : "", ladder ? ladder : "", ladder ? "'" : "",
                            benefit);
    return 0;
}

/* Whether p holds the benefit on ladder l under masks. */
static bool holds_on(const td_partner *p, const uint32_t *masks, size_t l)
{
    if (!masks[l] || !p->tiers || !(p->ladders & (1u << l)))
        return false;
    int t = ts_effective(&p->tiers[l]);
    return t >= 0 && (masks[l] >> t & 1);
}

size_t engine_benefit_holders(engine *e, const char *benefit, const char *ladder, const char *after,
                              td_holder *out, size_t cap, bool *more, td_error *err)
{
    *more = false;
    uint32_t masks[TD_MAX_LADDERS];
    if (benefit_masks(e, benefit, ladder, masks, err) != 0)
        return 0;
    if (engine_sorted_rebuild(e) != 0) {
        td_error_set(err, TD_RESOURCE_EXHAUSTED, "listing benefit holders: out of memory");
        return 0;
    }
    const program *prog = e->prog;
    size_t n = 0;
    for (size_t i = engine_sorted_after(e, after); i < e->n_sorted; i++) {
        const td_partner *p = e->sorted[i];
        for (size_t l = 0; l < prog->n_ladders; l++) {
            if (!holds_on(p, masks, l))
                continue;
            if (n >= cap && (n == 0 || out[n - 1].partner != p)) {
                *more = true;
                return n;
            }
            int t = ts_effective(&p->tiers[l]);
            out[n++] = (td_holder){p, l, t, ladder_tier_grant(&prog->ladders[l], t, benefit)};
        }
    }
    return n;
}

size_t engine_partner_list_benefit(engine *e, const char *after, const char *ladder,
                                   const char *tier, const char *benefit, td_partner **out,
                                   size_t cap, bool *more, td_error *err)
{
    *more = false;
    uint32_t masks[TD_MAX_LADDERS];
    if (benefit_masks(e, benefit, ladder, masks, err) != 0)
        return 0;
    int l = ladder ? program_ladder_index(e->prog, ladder) : -1;
    int t = -1;
    if (tier && l < 0) {
        td_error_set(err, TD_INVALID_ARGUMENT, "a tier filter needs a ladder");
        return 0;
    }
    if (tier && strcmp(tier, "unranked") != 0 &&
        (t = ladder_tier_index(&e->prog->ladders[l], tier)) < 0) {
        td_error_set(err, TD_NOT_FOUND, "ladder '%s' has no tier '%s'", ladder,
                     td_text_ok(tier, TD_MAX_NAME) ? tier : "(invalid)");
        return 0;
    }
    if (engine_sorted_rebuild(e) != 0) {
        td_error_set(err, TD_RESOURCE_EXHAUSTED, "listing partners: out of memory");
        return 0;
    }
    size_t n = 0;
    for (size_t i = engine_sorted_after(e, after); i < e->n_sorted; i++) {
        td_partner *p = e->sorted[i];
        bool holds = false;
        for (size_t k = 0; k < e->prog->n_ladders && !holds; k++)
            holds = holds_on(p, masks, k);
        if (!holds || (tier && ts_effective(&p->tiers[l]) != t))
            continue;
        if (n == cap) {
            *more = true;
            break;
        }
        out[n++] = p;
    }
    return n;
}
