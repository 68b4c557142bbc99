/* The tier lifecycle (docs/program.md, "Lifecycle"): how the tier a partner
 * holds follows the tier it qualifies for, and the people-facing operations
 * on it (overrides, approvals, denials) plus program versions over time.
 *
 * Rules, per ladder, applied by lifecycle_step at every evaluation:
 * - Promotion happens at once, up to just below the first tier between the
 *   current and the qualifying one whose bit is in approval_mask; that tier
 *   becomes `pending` (no tier change is reported). A pending promotion the
 *   partner no longer qualifies for is withdrawn and recorded as cause
 *   WITHDRAWN, actor "system", from == to, the dropped tier as
 *   promotion_tier. A denied tier is not queued again until the partner
 *   has dropped below it and qualifies anew.
 * - Demotion waits until the partner has been below its tier for `grace`
 *   (below_since marks the first evaluation below; recovering clears it),
 *   and then for the first review point at or after that: any instant for
 *   `immediate`, a quarter start for `quarterly`, the MM-DD anchor for
 *   `annual`. One demotion loses at most max_drop tiers and never goes below
 *   the qualifying tier. A partner still below afterwards starts a new
 *   grace at that instant, and a later drop needs a strictly later review
 *   point: so with the default policy (immediate, grace 0, max_drop 1) a
 *   partner that fell two tiers loses one now and the next one second later,
 *   at the due time engine_partner_next_due reports. Cause is DEMOTION for
 *   immediate review and REVIEW for quarterly and annual ones (PROGRAM_VERSION
 *   while a new version is being applied).
 * - Grandfathering: for policy.grandfather after a version takes effect, no
 *   partner whose tier was taken before that instant is demoted.
 * - Overrides pin the tier everyone sees until they expire or are cleared;
 *   the lifecycle tier keeps evolving underneath, silently, and when the pin
 *   ends the partner lands on it (OVERRIDE_EXPIRED / OVERRIDE_CLEARED, from
 *   the pinned tier to the lifecycle tier).
 *
 * Pure like the rest of the engine: "now" is always an argument. Applying a
 * scheduled version at its due time is the daemon's job; this file only
 * keeps it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

#define LC_WITHDRAWN_REASON "no longer qualifies"
#define LC_EXPIRED_REASON   "override expired"
#define LC_SPAN_MAX         48 /* "12345 days" and the like */

static const char *tier_name(const ladder_def *ld, int t)
{
    return t >= 0 ? ld->tiers[t].name : NULL;
}

static void lc_report(const lc_ctx *c, int from, int to, int crit, td_cause cause,
                      const char *actor, const char *reason)
{
    const ladder_def *ld = &c->e->prog->ladders[c->l];
    engine_touch(c->e, c->p);
    engine_report(c->e, c->p, ld->name, ld, tier_name(ld, from), crit, tier_name(ld, to), c->now,
                  cause, c->ev, c->values, actor, reason, c->fn, c->ud);
}

static void lc_move(const lc_ctx *c, tier_state *ts, int to, td_cause cause, const char *actor,
                    const char *reason)
{
    int from = ts->tier;
    ts->tier = (int8_t)to;
    ts->since = c->now;
    /* A pin hides the move; its end reports where the partner lands. */
    if (!ts_overridden(ts))
        lc_report(c, from, to, to >= 0 ? to : from, c->cause ? c->cause : cause, actor, reason);
}

static void override_drop(tier_state *ts)
{
    free(ts->override_note);
    ts->override_note = NULL;
    ts->override_until = TD_TIME_NONE;
    ts->override_tier = -1;
}

/* Ends the pin and reports where the partner lands. When the tier seen
 * changes, the partner holds the lifecycle tier from now on: `since` says
 * so, not the moment the lifecycle took it under the pin. */
static void override_end(const lc_ctx *c, tier_state *ts, td_cause cause, const char *actor,
                         const char *reason)
{
    int pinned = ts->override_tier;
    override_drop(ts);
    if (pinned != ts->tier)
        ts->since = c->now;
    lc_report(c, pinned, ts->tier, ts->tier >= 0 ? ts->tier : pinned, cause, actor, reason);
}

static td_time review_point(const ladder_policy *pol, td_time t)
{
    switch (pol->review) {
    case REVIEW_QUARTERLY:
        return td_next_quarter_start(t - 1);
    case REVIEW_ANNUAL:
        return td_next_anniversary(t - 1, pol->review_month, pol->review_day);
    case REVIEW_IMMEDIATE:
        break;
    }
    return t;
}

td_time lifecycle_demotion_time(const engine *e, const ladder_def *ld, const tier_state *ts)
{
    if (ts->below_since == TD_TIME_NONE)
        return TD_TIME_NONE;
    const ladder_policy *pol = &ld->policy;
    td_time t = ts->below_since + (pol->grace > 0 ? pol->grace : 0);
    if (t <= ts->since)
        t = ts->since + 1; /* one drop per review point */
    if (pol->grandfather > 0 && e->version_effective != TD_TIME_NONE &&
        ts->since < e->version_effective && t < e->version_effective + pol->grandfather)
        t = e->version_effective + pol->grandfather;
    return review_point(pol, t);
}

int lifecycle_demotion_target(const ladder_def *ld, int cur, int q)
{
    int drop = ld->policy.max_drop > 0 ? ld->policy.max_drop : 1;
    int to = cur - drop;
    return to > q ? to : q;
}

/* The first tier in (cur, q] a promotion may not enter without a person. */
static int approval_gate(const ladder_def *ld, int cur, int q)
{
    for (int t = cur + 1; t <= q; t++)
        if (ld->policy.approval_mask & (1u << t))
            return t;
    return -1;
}

void lifecycle_step(const lc_ctx *c, int q)
{
    const ladder_def *ld = &c->e->prog->ladders[c->l];
    tier_state *ts = &c->p->tiers[c->l];
    ts->qualifying = (int8_t)q;
    if (ts_overridden(ts) && c->now >= ts->override_until)
        override_end(c, ts, TD_CAUSE_OVERRIDE_EXPIRED, TD_ACTOR_SYSTEM, LC_EXPIRED_REASON);
    if (ts->denied >= 0 && q < ts->denied)
        ts->denied = -1;
    if (ts->pending >= 0 && (q < ts->pending || ts->pending <= ts->tier)) {
        int was = ts->pending;
        ts->pending = -1;
        ts->pending_since = TD_TIME_NONE;
        if (was > ts->tier) {
            int eff = ts_effective(ts);
            lc_report(c, eff, eff, was, TD_CAUSE_WITHDRAWN, TD_ACTOR_SYSTEM, LC_WITHDRAWN_REASON);
        }
    }
    int cur = ts->tier;
    if (q > cur) {
        ts->below_since = TD_TIME_NONE;
        int gate = approval_gate(ld, cur, q);
        int target = gate >= 0 ? gate - 1 : q;
        if (target > cur)
            lc_move(c, ts, target, TD_CAUSE_PROMOTION, NULL, NULL);
        int want = gate >= 0 && gate != ts->denied ? gate : -1;
        if (want != ts->pending) {
            ts->pending = (int8_t)want;
            ts->pending_since = want >= 0 ? c->now : TD_TIME_NONE;
        }
        return;
    }
    if (q == cur) {
        ts->below_since = TD_TIME_NONE;
        return;
    }
    if (ts->below_since == TD_TIME_NONE)
        ts->below_since = c->now;
    td_time due = lifecycle_demotion_time(c->e, ld, ts);
    if (due == TD_TIME_NONE || c->now < due)
        return;
    int to = lifecycle_demotion_target(ld, cur, q);
    lc_move(c, ts, to, ld->policy.review == REVIEW_IMMEDIATE ? TD_CAUSE_DEMOTION : TD_CAUSE_REVIEW,
            NULL, NULL);
    ts->below_since = q < to ? c->now : TD_TIME_NONE;
}

static void due_min(td_time *due, td_time t, td_time now)
{
    if (t == TD_TIME_NONE)
        return;
    if (t <= now)
        t = now + 1; /* overdue: the next evaluation settles it */
    if (*due == TD_TIME_NONE || t < *due)
        *due = t;
}

td_time lifecycle_next_due(const engine *e, const td_partner *p, td_time now)
{
    const program *prog = e->prog;
    td_time due = TD_TIME_NONE;
    for (size_t l = 0; prog && p->tiers && l < prog->n_ladders; l++) {
        if (!(p->ladders & (1u << l)))
            continue;
        const tier_state *ts = &p->tiers[l];
        if (ts_overridden(ts))
            due_min(&due, ts->override_until, now);
        due_min(&due, lifecycle_demotion_time(e, &prog->ladders[l], ts), now);
    }
    return due;
}

/* ---- operations a person asks for ---- */

/* Finds ladder `name` and p's state on it. */
static int lc_ladder(const engine *e, const td_partner *p, const char *name, size_t *l,
                     td_error *err)
{
    if (!e->prog)
        return td_error_set(err, TD_FAILED_PRECONDITION, "no program loaded");
    if (!engine_text_ok(name, TD_MAX_NAME))
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

static int lc_text(const char *what, const char *s, size_t max, bool required, td_error *err)
{
    if (!s && !required)
        return 0;
    if (!engine_text_ok(s, max))
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "%s: must be 1..%zu bytes of UTF-8 without control characters", what,
                            max);
    return 0;
}

static void lc_values(const engine *e, const td_partner *p, size_t l, td_time now, double *values)
{
    for (size_t i = 0; i < TD_MAX_METRICS; i++)
        values[i] = NAN;
    metric_values(&e->cp, p, e->cp.ladder_mask[l], now, values);
}

int engine_override_set(engine *e, td_partner *p, const char *ladder, const char *tier,
                        td_time until, const char *actor, const char *reason, td_time now,
                        td_change_fn fn, void *ud, td_error *err)
{
    size_t l = 0; /* set by lc_ladder on success; -O3 cannot see that */
    int rc = lc_ladder(e, p, ladder, &l, err);
    if (rc)
        return rc;
    const ladder_def *ld = &e->prog->ladders[l];
    int t = -1;
    if (tier) {
        t = engine_text_ok(tier, TD_MAX_NAME) ? ladder_tier_index(ld, tier) : -1;
        if (t < 0)
            return td_error_set(err, TD_NOT_FOUND, "ladder '%s' has no tier '%s'", ld->name,
                                engine_text_ok(tier, TD_MAX_NAME) ? tier : "(invalid)");
    }
    if (until <= now || until > TD_TIME_MAX)
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "until: an override must end after now and by 9999-12-31");
    if ((rc = lc_text("actor", actor, TD_MAX_ID, true, err)) ||
        (rc = lc_text("reason", reason, TD_MAX_REASON, true, err)))
        return rc;
    size_t na = strlen(actor), nr = strlen(reason);
    char *note = malloc(na + nr + 2);
    if (!note)
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "override for '%s': out of memory", p->id);
    memcpy(note, actor, na + 1);
    memcpy(note + na + 1, reason, nr + 1);
    /* Bring the ladder up to now first, so an expired pin ends on record. */
    engine_eval_ladders(e, p, 1u << l, now, 0, NULL, fn, ud);
    tier_state *ts = &p->tiers[l];
    int from = ts_effective(ts);
    free(ts->override_note);
    ts->override_note = note;
    ts->override_tier = (int8_t)t;
    ts->override_until = until;
    double values[TD_MAX_METRICS];
    lc_values(e, p, l, now, values);
    lc_ctx c = {e, p, l, values, now, 0, NULL, fn, ud};
    lc_report(&c, from, t, t >= 0 ? t : from, TD_CAUSE_OVERRIDE, actor, reason);
    return 0;
}

int engine_override_clear(engine *e, td_partner *p, const char *ladder, const char *actor,
                          const char *reason, td_time now, td_change_fn fn, void *ud, td_error *err)
{
    size_t l = 0; /* set by lc_ladder on success; -O3 cannot see that */
    int rc = lc_ladder(e, p, ladder, &l, err);
    if (rc || (rc = lc_text("actor", actor, TD_MAX_ID, true, err)) ||
        (rc = lc_text("reason", reason, TD_MAX_REASON, false, err)))
        return rc;
    tier_state *ts = &p->tiers[l];
    if (!ts_overridden(ts) || now >= ts->override_until)
        return td_error_set(err, TD_FAILED_PRECONDITION,
                            "partner '%s' has no active override on ladder %s", p->id, ladder);
    double values[TD_MAX_METRICS];
    lc_values(e, p, l, now, values);
    lc_ctx c = {e, p, l, values, now, 0, NULL, fn, ud};
    override_end(&c, ts, TD_CAUSE_OVERRIDE_CLEARED, actor, reason);
    engine_eval_ladders(e, p, 1u << l, now, 0, NULL, fn, ud);
    return 0;
}

uint64_t engine_pending_count(const engine *e)
{
    const program *prog = e->prog;
    if (!prog)
        return 0;
    uint64_t n = 0;
    for (size_t i = 0; i < e->map.cap; i++) {
        const td_partner *p = e->map.slots[i].hash ? e->map.slots[i].p : NULL;
        if (!p || !p->tiers)
            continue;
        for (size_t l = 0; l < prog->n_ladders; l++)
            if ((p->ladders & (1u << l)) && p->tiers[l].pending >= 0)
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
            if (!(p->ladders & (1u << l)) || ts->pending < 0 || (cmp == 0 && (int)l <= after_l))
                continue;
            if (n == cap) {
                *more = true;
                return n;
            }
            const ladder_def *ld = &prog->ladders[l];
            out[n++] = (td_pending){p->id, ld->name, tier_name(ld, ts_effective(ts)),
                                    ld->tiers[ts->pending].name, ts->pending_since};
        }
    }
    return n;
}

/* The ladder and its pending tier, or an error naming why there is none. */
static int lc_decision(engine *e, td_partner *p, const char *ladder, const char *actor,
                       const char *reason, size_t *l, td_error *err)
{
    int rc = lc_ladder(e, p, ladder, l, err);
    if (rc || (rc = lc_text("actor", actor, TD_MAX_ID, true, err)) ||
        (rc = lc_text("reason", reason, TD_MAX_REASON, false, err)))
        return rc;
    if (p->tiers[*l].pending < 0)
        return td_error_set(err, TD_FAILED_PRECONDITION,
                            "partner '%s' has no promotion waiting for approval on ladder %s",
                            p->id, ladder);
    return 0;
}

int engine_approve(engine *e, td_partner *p, const char *ladder, const char *actor,
                   const char *reason, td_time now, td_change_fn fn, void *ud, td_error *err)
{
    size_t l;
    int rc = lc_decision(e, p, ladder, actor, reason, &l, err);
    if (rc)
        return rc;
    const ladder_def *ld = &e->prog->ladders[l];
    tier_state *ts = &p->tiers[l];
    double values[TD_MAX_METRICS];
    lc_values(e, p, l, now, values);
    int q = engine_qualify(ld, values);
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
    lc_ctx c = {e, p, l, values, now, 0, NULL, fn, ud};
    /* Under a pin the decision is on record but the tier seen does not move. */
    int eff = ts_effective(ts);
    lc_report(&c, ts_overridden(ts) ? eff : from, eff, to, TD_CAUSE_APPROVAL, actor, reason);
    engine_eval_ladders(e, p, 1u << l, now, 0, NULL, fn, ud);
    return 0;
}

int engine_deny(engine *e, td_partner *p, const char *ladder, const char *actor, const char *reason,
                td_time now, td_change_fn fn, void *ud, td_error *err)
{
    size_t l;
    int rc = lc_decision(e, p, ladder, actor, reason, &l, err);
    if (rc)
        return rc;
    tier_state *ts = &p->tiers[l];
    int was = ts->pending;
    ts->denied = (int8_t)was;
    ts->pending = -1;
    ts->pending_since = TD_TIME_NONE;
    double values[TD_MAX_METRICS];
    lc_values(e, p, l, now, values);
    lc_ctx c = {e, p, l, values, now, 0, NULL, fn, ud};
    int eff = ts_effective(ts);
    lc_report(&c, eff, eff, was, TD_CAUSE_DENIAL, actor, reason);
    return 0;
}

/* ---- program versions over time ---- */

/* "30 days", "12 hours", "45 seconds": the largest whole unit. */
static void span_format(int64_t s, char *buf, size_t n)
{
    if (s >= TD_SECONDS_PER_DAY)
        snprintf(buf, n, "%lld day%s", (long long)(s / TD_SECONDS_PER_DAY),
                 s / TD_SECONDS_PER_DAY == 1 ? "" : "s");
    else if (s >= 3600)
        snprintf(buf, n, "%lld hour%s", (long long)(s / 3600), s / 3600 == 1 ? "" : "s");
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
