/* What-if handlers: Simulate, Audit and Calibrate (docs/rpc.md, "What-if").
 *
 * Read only: each asks the engine (whatif.h) and changes nothing, so the
 * read role may call them. Owns what comes off the wire: a candidate
 * program goes through the same parsing path as PutProgram (size cap,
 * file:line:column diagnostics), times through td_time, pages are clamped,
 * and every name and number the engine is handed is checked there again
 * (the request is hostile input). Rows borrow from the engine and the
 * candidate, so they are copied into the call's arena before either goes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/whatif.h"
#include "handlers.h"
#include "pbconv.h"
#include "state.h"

#define WHATIF_DEFAULT_ROWS 1000
#define WHATIF_MAX_ROWS     10000

static const char *const audit_kind_names[TD_AUDIT_KINDS] = {
    [TD_AUDIT_HELD_ABOVE] = "held_above",         [TD_AUDIT_HELD_BELOW] = "held_below",
    [TD_AUDIT_OVERRIDE_STALE] = "override_stale", [TD_AUDIT_NEAR_MISS] = "near_miss",
    [TD_AUDIT_GATE_FAILING] = "gate_failing",
};

/* The page a request asks for; -1 with err set for bad text. The summary
 * comes with the first page or for one partner. */
static int page_from_request(const Tierd__WhatIfPage *r, td_page *pg, td_error *err)
{
    memset(pg, 0, sizeof *pg);
    pg->limit = WHATIF_DEFAULT_ROWS;
    pg->summary = true;
    if (!r)
        return 0;
    if (r->partner && *r->partner) {
        if (!td_text_ok(r->partner, TD_MAX_ID))
            return td_error_set(err, TD_INVALID_ARGUMENT, "page.partner: %s",
                                pbconv_quote(r->partner, TD_MAX_ID));
        pg->partner = r->partner;
    }
    if (r->after && *r->after) {
        if (!td_text_ok(r->after, TD_MAX_ID))
            return td_error_set(err, TD_INVALID_ARGUMENT, "page.after: %s",
                                pbconv_quote(r->after, TD_MAX_ID));
        pg->after = r->after;
        pg->summary = pg->partner != NULL;
    }
    if (r->limit)
        pg->limit = r->limit > WHATIF_MAX_ROWS ? WHATIF_MAX_ROWS : r->limit;
    if (r->summary_only)
        pg->limit = 0;
    pg->all_rows = r->all_rows;
    return 0;
}

static Tierd__TierCounts *tier_counts(rpc_call *call, const td_tier_counts *c)
{
    const ladder_def *ld = c->ladder;
    Tierd__TierCounts *out = rpc_alloc(call, sizeof *out);
    tierd__tier_counts__init(out);
    out->ladder = rpc_strdup(call, ld->name);
    out->n_tiers = ld->n_tiers + 1;
    out->tiers = rpc_alloc(call, out->n_tiers * sizeof *out->tiers);
    for (size_t t = 0; t <= ld->n_tiers; t++) {
        Tierd__TierCount *tc = rpc_alloc(call, sizeof *tc);
        tierd__tier_count__init(tc);
        tc->tier = rpc_strdup(call, t ? ld->tiers[t - 1].name : "unranked");
        tc->count = c->counts[t];
        out->tiers[t] = tc;
    }
    return out;
}

static Tierd__TierCounts **tier_counts_list(rpc_call *call, const td_tier_counts *c, size_t n)
{
    Tierd__TierCounts **out = rpc_alloc(call, (n ? n : 1) * sizeof *out);
    for (size_t l = 0; l < n; l++)
        out[l] = tier_counts(call, &c[l]);
    return out;
}

static Tierd__ProgramImpact *impact(rpc_call *call, const td_impact *im)
{
    Tierd__ProgramImpact *pi = rpc_alloc(call, sizeof *pi);
    tierd__program_impact__init(pi);
    pi->at = im->at;
    pi->promoted = im->promoted;
    pi->queued = im->queued;
    pi->demoted = im->demoted;
    pi->demoted_later = im->demoted_later;
    pi->first_demotion = im->first_demotion != TD_TIME_NONE ? im->first_demotion : 0;
    pi->last_demotion = im->last_demotion != TD_TIME_NONE ? im->last_demotion : 0;
    pi->unchanged = im->unchanged;
    return pi;
}

static Tierd__SimulationRow *sim_row(rpc_call *call, const td_forecast *f)
{
    Tierd__SimulationRow *r = rpc_alloc(call, sizeof *r);
    tierd__simulation_row__init(r);
    r->partner = rpc_strdup(call, f->partner);
    r->ladder = rpc_strdup(call, f->ladder);
    r->outcome = (Tierd__ForecastOutcome)f->outcome;
    r->before = rpc_strdup(call, f->before);
    r->after = rpc_strdup(call, f->after);
    r->qualifying = rpc_strdup(call, f->qualifying);
    r->pending = rpc_strdup(call, f->pending);
    r->queued = f->queued;
    r->demotion_at = f->demotion_at != TD_TIME_NONE ? f->demotion_at : 0;
    r->demotion_to = rpc_strdup(call, f->demotion_to);
    r->due_reason = (Tierd__DueReason)f->due_reason;
    return r;
}

int handle_simulate(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                    td_error *err)
{
    const Tierd__SimulateRequest *r = (const Tierd__SimulateRequest *)req;
    td_page pg;
    if (page_from_request(r->page, &pg, err) != 0)
        return -(int)err->code;
    td_time at = TD_TIME_NONE;
    if (r->at && *r->at) {
        if (td_time_parse(r->at, &at, err) != 0) {
            td_error_prefix(err, "at");
            err->code = TD_INVALID_ARGUMENT;
            return -TD_INVALID_ARGUMENT;
        }
        /* Metric state before now is pruned: the past cannot be replayed. */
        if (at < call->now)
            return td_error_set(err, TD_INVALID_ARGUMENT,
                                "at: %s is before now; simulate looks from now on", r->at);
    }
    program *p = NULL;
    int rc = program_from_request(r->yaml, r->filename, &p, err);
    if (rc)
        return rc;
    if (at == TD_TIME_NONE)
        at = p->effective != TD_TIME_NONE && p->effective > call->now ? p->effective : call->now;
    td_simulation sim;
    rc = engine_simulate(call->d->engine, p, at, &pg, &sim, err);
    if (rc) {
        program_free(p);
        return rc;
    }
    Tierd__SimulateResponse *out = rpc_alloc(call, sizeof *out);
    tierd__simulate_response__init(out);
    out->program = rpc_strdup(call, p->name);
    out->version = rpc_strdup(call, p->version);
    out->at = at;
    if (pg.summary) {
        out->sums = impact(call, &sim.sums);
        out->n_before = sim.n_before;
        out->before = tier_counts_list(call, sim.before, sim.n_before);
        out->n_after = out->n_qualifying = sim.n_after;
        out->after = tier_counts_list(call, sim.after, sim.n_after);
        out->qualifying = tier_counts_list(call, sim.qualifying, sim.n_after);
    }
    out->n_rows = sim.n_rows;
    out->rows = rpc_alloc(call, (sim.n_rows ? sim.n_rows : 1) * sizeof *out->rows);
    for (size_t i = 0; i < sim.n_rows; i++)
        out->rows[i] = sim_row(call, &sim.rows[i]);
    out->next = rpc_strdup(call, sim.next);
    engine_simulation_free(&sim);
    program_free(p);
    *resp = &out->base;
    return 0;
}

static Tierd__AuditCounts *audit_counts(rpc_call *call, const td_audit_counts *c)
{
    Tierd__AuditCounts *out = rpc_alloc(call, sizeof *out);
    tierd__audit_counts__init(out);
    out->ladder = rpc_strdup(call, c->ladder);
    out->partners = c->partners;
    out->in_line = c->in_line;
    out->held_above = c->kinds[TD_AUDIT_HELD_ABOVE];
    out->held_below = c->kinds[TD_AUDIT_HELD_BELOW];
    out->override_stale = c->kinds[TD_AUDIT_OVERRIDE_STALE];
    out->near_miss = c->kinds[TD_AUDIT_NEAR_MISS];
    out->gate_failing = c->kinds[TD_AUDIT_GATE_FAILING];
    return out;
}

static Tierd__AuditRow *audit_row(rpc_call *call, const td_audit_row *a)
{
    Tierd__AuditRow *r = rpc_alloc(call, sizeof *r);
    tierd__audit_row__init(r);
    r->partner = rpc_strdup(call, a->partner);
    r->ladder = rpc_strdup(call, a->ladder);
    r->held = rpc_strdup(call, a->held);
    r->qualifying = rpc_strdup(call, a->qualifying);
    r->overridden = a->overridden;
    r->override_tier = rpc_strdup(call, a->override_tier);
    r->next_tier = rpc_strdup(call, a->next_tier);
    r->kinds = rpc_alloc(call, TD_AUDIT_KINDS * sizeof *r->kinds);
    for (int k = 0; k < TD_AUDIT_KINDS; k++)
        if (a->flags & (1u << k))
            r->kinds[r->n_kinds++] = rpc_strdup(call, audit_kind_names[k]);
    r->n_gaps = a->n_gaps;
    r->gaps = rpc_alloc(call, (a->n_gaps ? a->n_gaps : 1) * sizeof *r->gaps);
    for (size_t i = 0; i < a->n_gaps; i++) {
        Tierd__Gap *g = rpc_alloc(call, sizeof *g);
        tierd__gap__init(g);
        g->metric = rpc_strdup(call, a->gaps[i].metric);
        g->op = rpc_strdup(call, cmp_op_str(a->gaps[i].op));
        g->value = a->gaps[i].value;
        g->threshold = a->gaps[i].threshold;
        g->missing = a->gaps[i].missing;
        g->percent = a->gaps[i].percent;
        r->gaps[i] = g;
    }
    return r;
}

int handle_audit(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                 td_error *err)
{
    const Tierd__AuditRequest *r = (const Tierd__AuditRequest *)req;
    td_page pg;
    if (page_from_request(r->page, &pg, err) != 0)
        return -(int)err->code;
    const char *ladder = r->ladder && *r->ladder ? r->ladder : NULL;
    double near = r->near_set ? r->near : TD_AUDIT_NEAR_DEFAULT;
    if (!engine_program(call->d->engine))
        return td_error_set(err, TD_FAILED_PRECONDITION, TD_NO_PROGRAM_MESSAGE);
    td_audit a;
    int rc = engine_audit(call->d->engine, ladder, near, call->now, &pg, &a, err);
    if (rc)
        return rc;
    Tierd__AuditResponse *out = rpc_alloc(call, sizeof *out);
    tierd__audit_response__init(out);
    out->at = a.at;
    out->near = a.near;
    if (pg.summary) {
        out->ladders = rpc_alloc(call, (a.n_ladders ? a.n_ladders : 1) * sizeof *out->ladders);
        for (size_t l = 0; l < a.n_ladders; l++)
            if (!ladder || strcmp(a.ladders[l].ladder, ladder) == 0)
                out->ladders[out->n_ladders++] = audit_counts(call, &a.ladders[l]);
        out->total = audit_counts(call, &a.total);
    }
    out->n_rows = a.n_rows;
    out->rows = rpc_alloc(call, (a.n_rows ? a.n_rows : 1) * sizeof *out->rows);
    for (size_t i = 0; i < a.n_rows; i++)
        out->rows[i] = audit_row(call, &a.rows[i]);
    out->next = rpc_strdup(call, a.next);
    engine_audit_free(&a);
    *resp = &out->base;
    return 0;
}

int handle_calibrate(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                     td_error *err)
{
    const Tierd__CalibrateRequest *r = (const Tierd__CalibrateRequest *)req;
    if (!engine_program(call->d->engine))
        return td_error_set(err, TD_FAILED_PRECONDITION, TD_NO_PROGRAM_MESSAGE);
    if (r->n_targets > TD_MAX_TIERS + 1)
        return td_error_set(err, TD_INVALID_ARGUMENT, "%zu targets: a ladder has at most %d tiers",
                            r->n_targets, TD_MAX_TIERS);
    td_calib_target targets[TD_MAX_TIERS + 1];
    for (size_t i = 0; i < r->n_targets; i++)
        targets[i] = (td_calib_target){r->targets[i]->tier, r->targets[i]->percent};
    td_calibration c;
    int rc = engine_calibrate(call->d->engine, r->ladder, r->metric, targets, r->n_targets,
                              call->now, &c, err);
    if (rc)
        return rc;
    Tierd__CalibrateResponse *out = rpc_alloc(call, sizeof *out);
    tierd__calibrate_response__init(out);
    out->ladder = rpc_strdup(call, c.ladder);
    out->metric = rpc_strdup(call, c.metric);
    out->cumulative = c.cumulative;
    out->partners = c.partners;
    out->n_tiers = c.n_tiers;
    out->tiers = rpc_alloc(call, (c.n_tiers ? c.n_tiers : 1) * sizeof *out->tiers);
    for (size_t t = 0; t < c.n_tiers; t++) {
        const td_calib_tier *ct = &c.tiers[t];
        Tierd__CalibratedTier *o = rpc_alloc(call, sizeof *o);
        tierd__calibrated_tier__init(o);
        o->tier = rpc_strdup(call, ct->tier);
        o->op = rpc_strdup(call, cmp_op_str(ct->op));
        o->threshold = ct->threshold;
        o->appended = ct->appended;
        o->kept = ct->kept;
        o->percent = ct->percent;
        o->target = ct->target;
        o->reached = ct->reached;
        o->note = rpc_strdup(call, ct->note);
        o->when = rpc_strdup(call, ct->when);
        out->tiers[t] = o;
    }
    out->fragment = rpc_strdup(call, c.fragment);
    int l = program_ladder_index(engine_program(call->d->engine), c.ladder);
    out->before = tier_counts(call, &c.sim.before[l]);
    out->after = tier_counts(call, &c.sim.after[l]);
    out->qualifying = tier_counts(call, &c.sim.qualifying[l]);
    out->sums = impact(call, &c.sim.sums);
    engine_calibration_free(&c);
    *resp = &out->base;
    return 0;
}
