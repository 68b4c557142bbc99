/* Engine views to wire messages.
 *
 * Owns the mapping from the engine's structs (tier views, partner info,
 * explanations, criteria) to the protobuf-c messages handlers return, with
 * every allocation in the call's arena. It promises never to hand protobuf-c
 * a NULL string (NULL becomes ""), so packing cannot crash. It does not look
 * anything up: callers pass what the engine gave them. It also holds the
 * checks every batch request makes first (pbconv_check_batch). */
#include "pbconv.h"

#define PBCONV_MAX_TIER_VIEWS TD_MAX_LADDERS

const char *pbconv_quote(const char *s, size_t max)
{
    switch (td_text_check(s, max, NULL)) {
    case TD_TEXT_OK:
        return s;
    case TD_TEXT_EMPTY:
        return "(empty)";
    case TD_TEXT_TOO_LONG:
        return "(too long)";
    case TD_TEXT_MALFORMED:
        return "(not valid UTF-8 text)";
    case TD_TEXT_CONTROL:
        break;
    }
    return "(text with a control character)";
}

int pbconv_check_batch(const engine *e, size_t n, const char *items, td_error *err)
{
    if (!engine_program(e))
        return td_error_set(err, TD_FAILED_PRECONDITION, TD_NO_PROGRAM_MESSAGE);
    if (n > TD_MAX_BATCH)
        return td_error_set(err, TD_INVALID_ARGUMENT, "batch of %zu %s exceeds %d", n, items,
                            TD_MAX_BATCH);
    return 0;
}

static char *s_or_empty(rpc_call *call, const char *s)
{
    return rpc_strdup(call, s);
}

Tierd__Criterion **pbconv_criteria(rpc_call *call, const td_criterion *c, size_t n)
{
    Tierd__Criterion **out = rpc_alloc(call, (n ? n : 1) * sizeof *out);
    for (size_t i = 0; i < n; i++) {
        Tierd__Criterion *k = rpc_alloc(call, sizeof *k);
        tierd__criterion__init(k);
        k->metric = s_or_empty(call, c[i].metric);
        k->op = rpc_strdup(call, cmp_op_str(c[i].op));
        k->value = c[i].value;
        k->threshold = c[i].threshold;
        k->met = c[i].met;
        k->missing = c[i].missing;
        k->tier = s_or_empty(call, c[i].tier);
        k->percent = c[i].percent;
        out[i] = k;
    }
    return out;
}

Tierd__TierState *pbconv_tier_state(rpc_call *call, const td_tier_view *v)
{
    Tierd__TierState *t = rpc_alloc(call, sizeof *t);
    tierd__tier_state__init(t);
    t->ladder = s_or_empty(call, v->ladder);
    t->tier = s_or_empty(call, v->tier);
    t->since = v->since;
    t->qualifying = s_or_empty(call, v->qualifying);
    t->pending = s_or_empty(call, v->pending);
    t->override_tier = s_or_empty(call, v->override_tier);
    t->override_until = v->override_until;
    t->below_since = v->below_since;
    t->pending_deadline = v->pending_demotion ? v->pending_deadline : 0;
    return t;
}

Tierd__TierState **pbconv_tiers(rpc_call *call, const td_partner *p, bool at_risk, size_t *n)
{
    const engine *e = call->d->engine;
    td_tier_view views[PBCONV_MAX_TIER_VIEWS];
    *n = engine_partner_tiers(e, p, views, PBCONV_MAX_TIER_VIEWS);
    Tierd__TierState **out = rpc_alloc(call, (*n ? *n : 1) * sizeof *out);
    for (size_t i = 0; i < *n; i++) {
        out[i] = pbconv_tier_state(call, &views[i]);
        int l = program_ladder_index(engine_program(e), views[i].ladder);
        td_at_risk r;
        if (!at_risk || l < 0 || engine_partner_at_risk(e, p, (size_t)l, call->now, &r) != 0)
            continue;
        if (r.lapses_at != TD_TIME_NONE)
            out[i]->lapses_at = r.lapses_at;
        if (r.demotion_at != TD_TIME_NONE) {
            out[i]->demotion_at = r.demotion_at;
            out[i]->demotion_tier = s_or_empty(call, r.demotion_tier);
            out[i]->demotion_reason = (Tierd__DueReason)r.reason;
        }
    }
    return out;
}

Tierd__Benefit **pbconv_benefits(rpc_call *call, const td_partner *p, size_t *n)
{
    const engine *e = call->d->engine;
    const program *prog = engine_program(e);
    size_t total = 0, k;
    for (size_t l = 0; prog && l < prog->n_ladders; l++) {
        engine_partner_benefits(e, p, l, &k);
        total += k;
    }
    Tierd__Benefit **out = rpc_alloc(call, (total ? total : 1) * sizeof *out);
    *n = 0;
    for (size_t l = 0; prog && l < prog->n_ladders; l++) {
        const benefit_grant *g = engine_partner_benefits(e, p, l, &k);
        for (size_t i = 0; i < k; i++) {
            Tierd__Benefit *b = rpc_alloc(call, sizeof *b);
            tierd__benefit__init(b);
            b->name = s_or_empty(call, g[i].def->name);
            b->value = s_or_empty(call, g[i].def->value);
            b->number = g[i].def->number;
            b->has_number = g[i].def->has_number;
            b->ladder = s_or_empty(call, prog->ladders[l].name);
            b->tier = s_or_empty(call, g[i].tier);
            out[(*n)++] = b;
        }
    }
    return out;
}

Tierd__Partner *pbconv_partner(rpc_call *call, const td_partner *p)
{
    td_partner_info info;
    engine_partner_info(p, &info);
    Tierd__Partner *pp = rpc_alloc(call, sizeof *pp);
    tierd__partner__init(pp);
    pp->id = s_or_empty(call, info.id);
    pp->name = s_or_empty(call, info.name);
    pp->n_types = info.n_types;
    pp->types = rpc_alloc(call, (info.n_types ? info.n_types : 1) * sizeof *pp->types);
    for (size_t i = 0; i < info.n_types; i++)
        pp->types[i] = s_or_empty(call, info.types[i]);
    td_attr attrs[TD_MAX_ATTRS];
    size_t na = engine_partner_attrs(p, attrs, TD_MAX_ATTRS);
    pp->has_attrs = true;
    pp->n_attrs = na;
    pp->attrs = rpc_alloc(call, (na ? na : 1) * sizeof *pp->attrs);
    for (size_t i = 0; i < na; i++) {
        Tierd__Partner__AttrsEntry *a = rpc_alloc(call, sizeof *a);
        tierd__partner__attrs_entry__init(a);
        a->key = s_or_empty(call, attrs[i].key);
        a->value = s_or_empty(call, attrs[i].value);
        pp->attrs[i] = a;
    }
    return pp;
}

Tierd__PartnerInfo *pbconv_partner_info(rpc_call *call, const td_partner *p, bool at_risk)
{
    td_partner_info info;
    engine_partner_info(p, &info);
    Tierd__Partner *pp = pbconv_partner(call, p);
    Tierd__PartnerInfo *out = rpc_alloc(call, sizeof *out);
    tierd__partner_info__init(out);
    out->partner = pp;
    out->tiers = pbconv_tiers(call, p, at_risk, &out->n_tiers);
    out->created = info.created;
    out->updated = info.updated;
    out->events = info.events;
    out->benefits = pbconv_benefits(call, p, &out->n_benefits);
    return out;
}

Tierd__LadderExplanation *pbconv_explanation(rpc_call *call, const td_explanation *x)
{
    Tierd__LadderExplanation *le = rpc_alloc(call, sizeof *le);
    tierd__ladder_explanation__init(le);
    le->ladder = s_or_empty(call, x->ladder);
    le->tier = s_or_empty(call, x->tier);
    le->qualifying = s_or_empty(call, x->qualifying);
    le->since = x->since;
    le->at = x->at;
    le->gate_holds = x->gate_holds;
    le->n_gate = x->n_gate;
    le->gate = pbconv_criteria(call, x->gate, x->n_gate);
    le->program_version = s_or_empty(call, x->program_version);
    le->pending = s_or_empty(call, x->pending);
    le->override_tier = s_or_empty(call, x->override_tier);
    le->cumulative = x->cumulative;
    le->n_tiers = x->n_tiers;
    le->tiers = rpc_alloc(call, (x->n_tiers ? x->n_tiers : 1) * sizeof *le->tiers);
    for (size_t i = 0; i < x->n_tiers; i++) {
        const td_tier_expl *te = &x->tiers[i];
        Tierd__TierExplanation *t = rpc_alloc(call, sizeof *t);
        tierd__tier_explanation__init(t);
        t->tier = s_or_empty(call, te->tier);
        t->holds = te->holds;
        t->gate_holds = te->gate_holds;
        t->qualifies = te->qualifies;
        t->blocked_by = s_or_empty(call, te->blocked_by);
        t->when = s_or_empty(call, te->when);
        t->n_criteria = te->n_criteria;
        t->criteria = pbconv_criteria(call, te->criteria, te->n_criteria);
        t->n_benefits = te->n_benefits;
        t->benefits = rpc_alloc(call, (te->n_benefits ? te->n_benefits : 1) * sizeof *t->benefits);
        for (size_t b = 0; b < te->n_benefits; b++)
            t->benefits[b] = s_or_empty(call, te->benefits[b]);
        le->tiers[i] = t;
    }
    if (x->next_tier) {
        Tierd__NextTier *nt = rpc_alloc(call, sizeof *nt);
        tierd__next_tier__init(nt);
        nt->tier = s_or_empty(call, x->next_tier);
        nt->n_gaps = x->n_gaps;
        nt->gaps = rpc_alloc(call, (x->n_gaps ? x->n_gaps : 1) * sizeof *nt->gaps);
        for (size_t i = 0; i < x->n_gaps; i++) {
            Tierd__Gap *g = rpc_alloc(call, sizeof *g);
            tierd__gap__init(g);
            g->metric = s_or_empty(call, x->gaps[i].metric);
            g->value = x->gaps[i].value;
            g->threshold = x->gaps[i].threshold;
            g->missing = x->gaps[i].missing;
            g->op = rpc_strdup(call, cmp_op_str(x->gaps[i].op));
            g->tier = s_or_empty(call, x->gaps[i].tier);
            g->gate = !x->gaps[i].tier;
            g->percent = x->gaps[i].percent;
            nt->gaps[i] = g;
        }
        le->next = nt;
    }
    if (x->at_risk_date != TD_TIME_NONE) {
        Tierd__AtRisk *r = rpc_alloc(call, sizeof *r);
        tierd__at_risk__init(r);
        r->date = x->at_risk_date;
        r->demotion_at = x->at_risk_date;
        r->lapses_at = x->at_risk_falls;
        r->reason = (Tierd__DueReason)x->at_risk_reason;
        r->tier = s_or_empty(call, x->at_risk_tier);
        le->at_risk = r;
    }
    return le;
}

static void *arena_alloc(void *ud, size_t size)
{
    return rpc_alloc(ud, size ? size : 1);
}

/* The arena frees everything at once after the reply is packed. */
static void arena_free(void *ud, void *ptr)
{
    (void)ud;
    (void)ptr;
}

Tierd__TierChange *pbconv_tier_change(rpc_call *call, const uint8_t *pb, size_t len)
{
    ProtobufCAllocator a = {.alloc = arena_alloc, .free = arena_free, .allocator_data = call};
    return tierd__tier_change__unpack(&a, len, pb);
}

Tierd__Event *pbconv_event(rpc_call *call, const uint8_t *pb, size_t len)
{
    ProtobufCAllocator a = {.alloc = arena_alloc, .free = arena_free, .allocator_data = call};
    return tierd__event__unpack(&a, len, pb);
}
