/* The tier lifecycle's rules (lifecycle.h; docs/program.md, "Lifecycle"):
 * how the tier a partner holds follows the tier it qualifies for.
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
 * - Demotion review: a demotion out of a tier in review_mask that falls due
 *   (after all of the above) does not happen: it waits in the approval
 *   queue (`pending`, with pending_demotion set) from that instant, its
 *   target following the qualifying tier as it moves. A person approves
 *   (decision.c) or denies it; a denial holds while the partner stays
 *   below the tier. With no decision it goes through by itself at
 *   pending_since + review_deadline, actor "system", cause as for any
 *   demotion. Recovering first withdraws it (WITHDRAWN).
 * - Overrides pin the tier everyone sees until they expire or are cleared;
 *   the lifecycle tier keeps evolving underneath, silently, and when the pin
 *   ends the partner lands on it (OVERRIDE_EXPIRED / OVERRIDE_CLEARED, from
 *   the pinned tier to the lifecycle tier).
 *
 * Pure like the rest of the engine: "now" is always an argument. Does not
 * evaluate metrics or work out the qualifying tier (its callers do), and
 * does not take decisions for people (decision.c) or put program versions
 * in force (versions.c).
 *
 * Place in the engine's line (tests/unit/test_engine_layers.sh): above
 * change, criteria and the engine's state; calls down only. */
#include "lifecycle.h"

#include <stdlib.h>

#include "change.h"

#define LC_WITHDRAWN_REASON "no longer qualifies"
#define LC_EXPIRED_REASON   "override expired"
#define LC_RECOVERED_REASON "no longer below its tier"
#define LC_DEADLINE_REASON  "review deadline passed"

void lifecycle_report(const lc_ctx *c, int from, int to, int crit, td_cause cause,
                      const char *actor, const char *reason)
{
    const ladder_def *ld = &c->e->prog->ladders[c->l];
    engine_touch(c->e, c->p);
    change_report(c->e->prog, c->p, ld->name, ld, ladder_tier_name(ld, from), crit,
                  ladder_tier_name(ld, to), c->now, cause, c->ev, c->values, actor, reason, c->fn,
                  c->ud);
}

/* Carries a report of a dropped demotion to the caller's fn, marked so. */
typedef struct lc_fwd {
    td_change_fn fn;
    void *ud;
} lc_fwd;

static void lc_mark_demotion(void *ud, const td_change *ch)
{
    const lc_fwd *f = ud;
    td_change d = *ch;
    d.dropped_demotion = true;
    f->fn(f->ud, &d);
}

void lifecycle_report_dropped_demotion(const lc_ctx *c, int target, td_cause cause,
                                       const char *actor, const char *reason)
{
    const ladder_def *ld = &c->e->prog->ladders[c->l];
    const char *held = ladder_tier_name(ld, ts_effective(&c->p->tiers[c->l]));
    lc_fwd f = {c->fn, c->ud};
    engine_touch(c->e, c->p);
    change_report(c->e->prog, c->p, ld->name, ld, held, target, held, c->now, cause, c->ev,
                  c->values, actor, reason, c->fn ? lc_mark_demotion : NULL, &f);
}

static void lc_move(const lc_ctx *c, tier_state *ts, int to, td_cause cause, const char *actor,
                    const char *reason)
{
    int from = ts->tier;
    ts->tier = (int8_t)to;
    ts->since = c->now;
    /* A pin hides the move; its end reports where the partner lands. */
    if (!ts_overridden(ts))
        lifecycle_report(c, from, to, to >= 0 ? to : from, c->cause ? c->cause : cause, actor,
                         reason ? reason : c->cause_reason);
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
void lifecycle_override_end(const lc_ctx *c, tier_state *ts, td_cause cause, const char *actor,
                            const char *reason)
{
    int pinned = ts->override_tier;
    override_drop(ts);
    if (pinned != ts->tier)
        ts->since = c->now;
    lifecycle_report(c, pinned, ts->tier, ts->tier >= 0 ? ts->tier : pinned, cause, actor, reason);
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

/* When the demotion falls due: grace, review point, grandfathering; *why
 * (may be NULL) names the rule that set the instant last. */
static td_time demotion_due_why(const engine *e, const ladder_def *ld, const tier_state *ts,
                                td_due_reason *why)
{
    td_due_reason w = TD_DUE_NONE;
    td_time due = TD_TIME_NONE;
    if (ts->below_since != TD_TIME_NONE) {
        const ladder_policy *pol = &ld->policy;
        td_time t = ts->below_since + (pol->grace > 0 ? pol->grace : 0);
        w = TD_DUE_GRACE_END;
        if (t <= ts->since) {
            t = ts->since + 1; /* one drop per review point */
            w = TD_DUE_NEXT_DROP;
        }
        if (pol->grandfather > 0 && e->version_effective != TD_TIME_NONE &&
            ts->since < e->version_effective && t < e->version_effective + pol->grandfather) {
            t = e->version_effective + pol->grandfather;
            w = TD_DUE_GRANDFATHER_END;
        }
        due = review_point(pol, t);
        if (due > t)
            w = TD_DUE_REVIEW_POINT;
    }
    if (why)
        *why = w;
    return due;
}

static td_time demotion_due(const engine *e, const ladder_def *ld, const tier_state *ts)
{
    return demotion_due_why(e, ld, ts, NULL);
}

bool lifecycle_under_review(const ladder_def *ld, int tier)
{
    return tier >= 0 && (ld->policy.review_mask & (1u << tier));
}

td_time lifecycle_review_deadline(const ladder_def *ld, const tier_state *ts)
{
    return ts->pending_demotion ? ts->pending_since + ld->policy.review_deadline : TD_TIME_NONE;
}

td_time lifecycle_demotion_when(const engine *e, const ladder_def *ld, const tier_state *ts,
                                td_due_reason *why)
{
    if (ts->pending_demotion) {
        *why = TD_DUE_REVIEW_DEADLINE;
        return lifecycle_review_deadline(ld, ts);
    }
    td_time due = demotion_due_why(e, ld, ts, why);
    if (due == TD_TIME_NONE || !lifecycle_under_review(ld, ts->tier))
        return due;
    if (ts->review_denied == ts->tier) {
        *why = TD_DUE_NONE;
        return TD_TIME_NONE;
    }
    *why = TD_DUE_REVIEW_DEADLINE;
    return due + ld->policy.review_deadline;
}

td_time lifecycle_demotion_time(const engine *e, const ladder_def *ld, const tier_state *ts)
{
    td_due_reason why;
    return lifecycle_demotion_when(e, ld, ts, &why);
}

int lifecycle_demotion_target(const ladder_def *ld, int cur, int q)
{
    int drop = ld->policy.max_drop > 0 ? ld->policy.max_drop : 1;
    int to = cur - drop;
    return to > q ? to : q;
}

static td_cause demotion_cause(const ladder_def *ld)
{
    return ld->policy.review == REVIEW_IMMEDIATE ? TD_CAUSE_DEMOTION : TD_CAUSE_REVIEW;
}

static void drop_pending_demotion(engine *e, tier_state *ts)
{
    ts->pending = -1;
    ts->pending_demotion = false;
    ts->pending_since = TD_TIME_NONE;
    e->queue_generation++;
}

/* Before anything moves: a pending demotion the partner recovered from is
 * withdrawn on record; one whose tier is no longer under review (a new
 * version) leaves the queue, and the demotion follows the plain rule. A
 * denial ends once the partner is back up or holds another tier. */
static void review_settle(const lc_ctx *c, const ladder_def *ld, tier_state *ts, int q)
{
    if (ts->review_denied >= 0 && (q >= ts->review_denied || ts->tier != ts->review_denied))
        ts->review_denied = -1;
    if (!ts->pending_demotion)
        return;
    bool recovered = q >= ts->tier;
    if (!recovered && lifecycle_under_review(ld, ts->tier))
        return;
    int was = ts->pending;
    drop_pending_demotion(c->e, ts);
    if (recovered)
        lifecycle_report_dropped_demotion(c, was, TD_CAUSE_WITHDRAWN, TD_ACTOR_SYSTEM,
                                          LC_RECOVERED_REASON);
}

/* Below a tier under review: the demotion joins the queue when it falls
 * due, and goes through by itself once its deadline has passed. */
static void review_step(const lc_ctx *c, const ladder_def *ld, tier_state *ts, int q)
{
    int cur = ts->tier;
    if (ts->review_denied == cur)
        return; /* the denial holds while the partner stays below */
    if (!ts->pending_demotion) {
        td_time due = demotion_due(c->e, ld, ts);
        if (due == TD_TIME_NONE || c->now < due)
            return;
        /* From when a person can see it, which is the due instant itself
         * whenever the daemon ran then: a reviewer always gets the whole
         * review_deadline. */
        ts->pending_demotion = true;
        ts->pending_since = c->now;
        c->e->queue_generation++;
    }
    int to = lifecycle_demotion_target(ld, cur, q);
    ts->pending = (int8_t)to;
    if (c->now < lifecycle_review_deadline(ld, ts))
        return;
    drop_pending_demotion(c->e, ts);
    lc_move(c, ts, to, demotion_cause(ld), TD_ACTOR_SYSTEM, LC_DEADLINE_REASON);
    ts->below_since = q < to ? c->now : TD_TIME_NONE;
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
        lifecycle_override_end(c, ts, TD_CAUSE_OVERRIDE_EXPIRED, TD_ACTOR_SYSTEM,
                               LC_EXPIRED_REASON);
    if (ts->denied >= 0 && q < ts->denied)
        ts->denied = -1;
    review_settle(c, ld, ts, q);
    if (!ts->pending_demotion && ts->pending >= 0 && (q < ts->pending || ts->pending <= ts->tier)) {
        int was = ts->pending;
        ts->pending = -1;
        ts->pending_since = TD_TIME_NONE;
        c->e->queue_generation++;
        if (was > ts->tier) {
            int eff = ts_effective(ts);
            lifecycle_report(c, eff, eff, was, TD_CAUSE_WITHDRAWN, TD_ACTOR_SYSTEM,
                             LC_WITHDRAWN_REASON);
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
            c->e->queue_generation++;
        }
        return;
    }
    if (q == cur) {
        ts->below_since = TD_TIME_NONE;
        return;
    }
    if (ts->below_since == TD_TIME_NONE)
        ts->below_since = c->now;
    if (lifecycle_under_review(ld, cur)) {
        review_step(c, ld, ts, q);
        return;
    }
    td_time due = demotion_due(c->e, ld, ts);
    if (due == TD_TIME_NONE || c->now < due)
        return;
    int to = lifecycle_demotion_target(ld, cur, q);
    lc_move(c, ts, to, demotion_cause(ld), NULL, NULL);
    ts->below_since = q < to ? c->now : TD_TIME_NONE;
}

/* The next instant the lifecycle acts on a partner below its tier: the
 * demotion, or under review its entry into the queue and then its deadline. */
static td_time demotion_next(const engine *e, const ladder_def *ld, const tier_state *ts)
{
    if (ts->pending_demotion)
        return lifecycle_review_deadline(ld, ts);
    if (lifecycle_under_review(ld, ts->tier) && ts->review_denied == ts->tier)
        return TD_TIME_NONE;
    return demotion_due(e, ld, ts);
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
        due_min(&due, demotion_next(e, &prog->ladders[l], ts), now);
    }
    return due;
}
