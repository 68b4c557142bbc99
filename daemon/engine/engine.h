/* The tier engine: partners, their metric state, and the tier each holds on
 * every ladder of the program in force.
 *
 * Pure by design: no I/O, no clock reads, no globals. Every function that
 * depends on time takes `now`. Whatever changes a tier reports it through a
 * td_change_fn callback; the caller (the daemon) numbers, stores and
 * publishes changes. Metric state is updated incrementally per event and
 * pruned to the longest window in use, so memory does not grow with history.
 *
 * Idempotency (source+id) is not the engine's job: the daemon checks its
 * store before calling engine_ingest.
 *
 * Behind this header the engine's files form a line, each owning one noun
 * and calling only the files before it: metric streams, the partner
 * record, the partner map, the compiled program, the engine's state
 * (engine.c), the record codec, criteria, change reports, the lifecycle's
 * rules, evaluation, then the operations: ingest, membership, decisions,
 * explanations and program versions. tests/unit/test_engine_layers.sh
 * holds the line and fails on any include or call that goes up it. Each
 * section below names the file that defines it. This header stands right
 * after program.h in the line: types and declarations only, so every
 * engine file may include it, and the call check sees any call that
 * would go up. */
#ifndef TD_ENGINE_H
#define TD_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "expr.h"
#include "program.h"
#include "td_time.h"
#include "tierd/status.h"

#define TD_MAX_ID            256 /* bytes in a partner id, event id, source, key */
#define TD_MAX_PARTNER_TYPES 16
#define TD_MAX_EVENT_VALUE   1e15 /* |value| above this is refused */
#define TD_MAX_FUTURE_SKEW   3600 /* events dated further ahead of now are refused */

typedef struct engine engine;
typedef struct td_partner td_partner;

/* Same numbers as `enum Cause` in proto/tierd.proto. */
typedef enum td_cause {
    TD_CAUSE_PROMOTION = 1,
    TD_CAUSE_DEMOTION = 2,
    TD_CAUSE_OVERRIDE = 3,
    TD_CAUSE_APPROVAL = 4,
    TD_CAUSE_PROGRAM_VERSION = 5,
    TD_CAUSE_REVIEW = 6,
    TD_CAUSE_OVERRIDE_CLEARED = 7,
    TD_CAUSE_OVERRIDE_EXPIRED = 8,
    TD_CAUSE_DENIAL = 9,
    TD_CAUSE_PARTNER_DELETED = 10,
    TD_CAUSE_WITHDRAWN = 11,  /* a pending promotion dropped: no longer qualifies */
    TD_CAUSE_CORRECTION = 12, /* a retraction or amendment moved the tier at once */
} td_cause;

/* One criterion (a comparison in a `when` or gate) evaluated at a moment. */
typedef struct td_criterion {
    const char *metric;
    cmp_op op;
    double value; /* NaN when the metric has no value */
    double threshold;
    bool met;
    double missing; /* distance to met; 0 when met, NaN with no value */
    bool percent;   /* the threshold was written as a percentage (80%) */
    /* The tier whose `when` holds the comparison (a lower one's, on a
     * cumulative ladder, when it is inherited); NULL for the gate. */
    const char *tier;
} td_criterion;

/* A tier change. Strings and arrays live only for the callback. Tier names
 * are NULL for "unranked". */
typedef struct td_change {
    const char *partner;
    const char *ladder;
    const char *from;
    const char *to;
    td_time at;
    td_cause cause;
    const char *program_version;
    const char *event_id; /* "source/id" of the triggering event, or NULL */
    const td_criterion *criteria;
    size_t n_criteria;
    const char *actor;
    const char *reason;
    /* A move down: the criteria of the tier left (gate included), met or
     * not, at that moment; the unmet ones say why it was lost. */
    const td_criterion *lost;
    size_t n_lost;
    const char *promotion_tier; /* DENIAL, WITHDRAWN: the tier whose move was dropped */
    /* Benefits (docs/program.md, "Benefits"): what holding `to` grants
     * that holding `from` did not, and the other way round, each under the
     * version the tier was held in. A benefit whose value changes is in
     * both lists. */
    const benefit_grant *gained;
    size_t n_gained;
    const benefit_grant *benefits_lost;
    size_t n_benefits_lost;
    /* DENIAL, WITHDRAWN: the move dropped was a demotion under review
     * (promotion_tier its target, NULL for unranked), not a promotion. */
    bool dropped_demotion;
} td_change;

typedef void (*td_change_fn)(void *ud, const td_change *c);

/* An event as the engine sees it: validated strings, parsed time. */
typedef struct td_event {
    const char *source;
    const char *id;
    const char *partner;
    const char *metric;
    double value; /* already defaulted to 1 by the caller when absent */
    td_time at;
    const char *key; /* may be NULL */
} td_event;

/* A partner's standing on one ladder. Tier names NULL = unranked. */
typedef struct td_tier_view {
    const char *ladder;
    const char *tier; /* the tier held: the override's while one is active */
    td_time since;    /* when the lifecycle tier was taken */
    const char *qualifying;
    const char *pending;        /* awaiting approval, or NULL (also a demotion to unranked) */
    const char *override_tier;  /* active override, or NULL (also for a pinned "unranked") */
    td_time override_until;     /* TD_TIME_NONE: no override */
    td_time below_since;        /* grace started, or TD_TIME_NONE */
    const char *lifecycle_tier; /* what grace/reviews/approvals say, under any override */
    bool overridden;
    const char *override_actor; /* who set the active override, or NULL */
    const char *override_reason;
    td_time pending_since;
    /* A demotion under review waits (pending is its target, NULL for
     * unranked) and goes through by itself at pending_deadline; NONE for
     * a promotion or when nothing waits. */
    bool pending_demotion;
    td_time pending_deadline;
} td_tier_view;

/* td_attr, one partner attribute: common/td_attrs.h (through program.h). */

typedef struct td_partner_info {
    const char *id;
    const char *name;
    char *const *types;
    size_t n_types;
    td_time created;
    td_time updated;
    uint64_t events;
} td_partner_info;

/* ---- lifetime (engine.c) ---- */
engine *engine_new(void);
void engine_free(engine *e);

/* ---- programs (versions.c) ---- */
/* The program in force, or NULL before the first one. */
const program *engine_program(const engine *e);
/* Puts p in force (taking ownership) and re-evaluates every partner at now,
 * reporting changes with cause PROGRAM_VERSION. The lifecycle still holds:
 * promotions happen (or queue for approval) at once, demotions wait for
 * grace, the review point and the new version's grandfather period, which
 * starts at now (engine_program_effective). Tier state moves by ladder
 * and tier NAME; metric state is kept per event name, so it carries over
 * whatever the new metrics' windows and aggregates. Returns 0, or
 * -TD_RESOURCE_EXHAUSTED with nothing changed and p still the caller's. */
int engine_program_apply(engine *e, program *p, td_time now, td_change_fn fn, void *ud);
/* What putting p in force at `at` would do, with the lifecycle as it
 * really runs (approvals queue, grace, review points, p's grandfather period
 * from `at`), counted per partner and ladder, without changing anything. */
typedef struct td_impact {
    td_time at;
    uint64_t promoted;      /* move up at once */
    uint64_t queued;        /* a promotion that will wait for a person (may also be promoted,
                               up to the tier below the one needing approval) */
    uint64_t demoted;       /* move down at once, or leave a ladder while holding a tier */
    uint64_t demoted_later; /* below their tier: demoted at a later instant unless they recover */
    td_time first_demotion; /* earliest and latest of those instants; TD_TIME_NONE: none */
    td_time last_demotion;
    uint64_t unchanged; /* none of the above */
} td_impact;
/* 0, or -TD_RESOURCE_EXHAUSTED with *out zeroed but for `at`. The sums of
 * the per-ladder forecasts below, over every partner. */
int engine_program_impact(const engine *e, const program *p, td_time at, td_impact *out);

/* What putting a version in force does to one partner on one ladder: the
 * classification behind td_impact and a what-if simulation (whatif.h).
 * Same numbers as `enum ForecastOutcome` and `enum DueReason` in proto/tierd.proto. */
typedef enum td_outcome {
    TD_OUTCOME_UNCHANGED = 0,
    TD_OUTCOME_PROMOTED = 1,      /* moves up at once */
    TD_OUTCOME_QUEUED = 2,        /* no move now; a promotion waits for a person */
    TD_OUTCOME_DEMOTED = 3,       /* moves down at once, or leaves the ladder holding a tier */
    TD_OUTCOME_DEMOTED_LATER = 4, /* below its tier: demoted at demotion_at unless it recovers */
} td_outcome;
/* What decides the instant of a demotion that waits. */
typedef enum td_due_reason {
    TD_DUE_NONE = 0,
    TD_DUE_GRACE_END = 1,
    TD_DUE_REVIEW_POINT = 2,
    TD_DUE_GRANDFATHER_END = 3,
    TD_DUE_NEXT_DROP = 4,       /* one drop per review point: the next one follows */
    TD_DUE_REVIEW_DEADLINE = 5, /* demotion review: it goes through then unless decided */
} td_due_reason;
typedef struct td_forecast {
    const char *partner;
    const char *ladder;
    int ladder_index;   /* in the version assessed; -1: a ladder of the one in force it leaves */
    const char *before; /* tier held now (the effective tier); NULL unranked */
    const char *after;  /* tier held right after the version is put in force */
    const char *qualifying;                          /* under the version assessed */
    const char *pending;                             /* awaiting approval after it, or NULL */
    int before_index, after_index, qualifying_index; /* -1 unranked */
    td_outcome outcome;
    bool queued; /* a promotion newly waits for approval (also with PROMOTED) */
    /* Still below its tier afterwards (and not pinned): when the lifecycle
     * demotes it with no new events and qualifying as at the instant
     * assessed, to which tier, and why then. TD_TIME_NONE otherwise. */
    td_time demotion_at;
    const char *demotion_to;
    td_due_reason due_reason;
} td_forecast;

/* ---- partners (membership.c; find and count engine.c, info partner.c) ---- */
/* Creates or updates a partner (name may be NULL to keep it; types NULL
 * keeps the current types, none for a new partner). Type changes
 * move it onto or off ladders; resulting tier changes go to fn. Refuses empty
 * or oversize ids, non-UTF-8 text and too many types with TD_INVALID_ARGUMENT. */
int engine_partner_upsert(engine *e, const char *id, const char *name, const char *const *types,
                          size_t n_types, td_time now, td_change_fn fn, void *ud, td_error *err);
/* engine_partner_upsert with attributes. set_attrs: attrs (n_attrs, in
 * any order) replace the partner's whole map (none clears it); false keeps
 * it (a new partner has none). An attribute change moves the partner onto
 * or off ladders with a partner_filter exactly as a type change does.
 * Refuses attributes breaking attrs.h's rules (at most TD_MAX_ATTRS; keys
 * 1..TD_MAX_ATTR_KEY bytes of [A-Za-z0-9_.-], once each; values
 * 1..TD_MAX_ATTR_VALUE bytes of text) with TD_INVALID_ARGUMENT, changing
 * nothing. */
typedef struct td_partner_put {
    const char *id;
    const char *name;         /* NULL keeps it */
    const char *const *types; /* NULL keeps them */
    size_t n_types;
    const td_attr *attrs;
    size_t n_attrs;
    bool set_attrs;
} td_partner_put;
int engine_partner_put(engine *e, const td_partner_put *in, td_time now, td_change_fn fn, void *ud,
                       td_error *err);
/* p's value of attribute key, or NULL when p has none (the per-attribute
 * breakdowns' "(none)"). Borrowed until p's attributes change. */
const char *engine_partner_attr(const td_partner *p, const char *key);
/* p's attributes sorted by key into out (at most cap); returns how many
 * p has. Strings borrowed until p's attributes change. */
size_t engine_partner_attrs(const td_partner *p, td_attr *out, size_t cap);
/* Removes a partner and its state; TD_NOT_FOUND when absent. */
int engine_partner_delete(engine *e, const char *id, td_time now, td_change_fn fn, void *ud,
                          td_error *err);
td_partner *engine_partner_find(const engine *e, const char *id);
size_t engine_partner_count(const engine *e);
void engine_partner_info(const td_partner *p, td_partner_info *out);
/* Fills out[] with the partner's standing on each ladder it sits on, in
 * program order; returns how many (at most cap). */
size_t engine_partner_tiers(const engine *e, const td_partner *p, td_tier_view *out, size_t cap);

/* Partners in id order, strictly after `after` (NULL = from the start),
 * optionally only those on `ladder` holding `tier` ("unranked" for none;
 * NULL = any). Fills out[] up to cap and returns the count; *more tells
 * whether further matches exist. */
size_t engine_partner_list(engine *e, const char *after, const char *ladder, const char *tier,
                           td_partner **out, size_t cap, bool *more, td_error *err);
/* engine_partner_list keeping only partners whose attributes hold every
 * one of where[0..n_where) (attribute key = value; a partner without the
 * key fails it). One walk of the id-sorted view. */
size_t engine_partner_list_where(engine *e, const char *after, const char *ladder, const char *tier,
                                 const td_attr *where, size_t n_where, td_partner **out, size_t cap,
                                 bool *more, td_error *err);

/* ---- benefits (benefits.c; docs/program.md, "Benefits") ---- */
/* What p holds on ladder index l: the grants of the tier it holds there
 * (override included); NULL and 0 when off the ladder or unranked.
 * Borrowed from the program in force. */
const benefit_grant *engine_partner_benefits(const engine *e, const td_partner *p, size_t l,
                                             size_t *n);
/* One partner holding a benefit on one ladder. */
typedef struct td_holder {
    const td_partner *partner;
    size_t ladder; /* index in the program in force */
    int tier;      /* the tier held there */
    const benefit_grant *grant;
} td_holder;
/* Who holds `benefit`, in partner id order strictly after `after` (NULL:
 * from the start), one row per ladder each holds it on (only `ladder`
 * when non-NULL), in program ladder order. A page ends at the first
 * partner boundary at or after cap rows, so out must hold cap +
 * TD_MAX_LADDERS - 1 entries; *more tells whether others follow. Fails
 * (count 0, err) with TD_FAILED_PRECONDITION without a program,
 * TD_NOT_FOUND for an unknown ladder or a benefit no tier (of that
 * ladder) grants, TD_INVALID_ARGUMENT for a name that is no text. One walk
 * of the id-sorted view from `after`. */
size_t engine_benefit_holders(engine *e, const char *benefit, const char *ladder, const char *after,
                              td_holder *out, size_t cap, bool *more, td_error *err);
/* engine_partner_list, keeping only partners that hold `benefit` (on
 * `ladder` when given); same errors as engine_benefit_holders. */
size_t engine_partner_list_benefit(engine *e, const char *after, const char *ladder,
                                   const char *tier, const char *benefit, td_partner **out,
                                   size_t cap, bool *more, td_error *err);

/* ---- events (ingest.c; evaluation and due times evaluate.c) ---- */
/* Validates ev (known partner, known event metric, finite value within
 * TD_MAX_EVENT_VALUE, sane time), folds it into every metric it feeds and
 * re-evaluates the ladders reading those metrics. 0 when accepted; on
 * rejection a negative code with the reason in err and no state touched. */
int engine_ingest(engine *e, const td_event *ev, td_time now, td_change_fn fn, void *ud,
                  td_error *err);

/* ---- corrections (correct.c; docs/events.md, "Corrections") ----
 * Idempotency and revisions are the daemon's (its store keeps every
 * accepted event); the engine takes an event's contribution out again. */
/* The events of one partner and event name that still count once a
 * correction is made, in the order they were accepted, an amended event's
 * new version counting as accepted last and a retracted one absent: each(ud,
 * ev) for every one. Returns 0, or a negative code with the reason in err. */
typedef int (*td_event_each_fn)(void *ud, const td_event *ev);
typedef int (*td_history_fn)(void *hud, td_event_each_fn each, void *ud, td_error *err);
/* Takes `old` (an event accepted before, as stored) out of every metric it
 * fed and, for an amendment, folds `amended` (revision > 0; same source,
 * id, partner and event name; checked as engine_ingest checks an event) in
 * its place, at once: every aggregate and window, lifetime included, as
 * if old had never come. What the streams cannot take out exactly (an
 * extreme, the latest value, a distinct key that may have come twice) is
 * rebuilt from history(hud, ...), called only then. The partner's ladders
 * are then re-evaluated; a tier move at once carries cause CORRECTION,
 * reason "retracted" or "amended to revision N", and names the event.
 * 0, or a negative code with the reason in err and nothing changed (but
 * for TD_RESOURCE_EXHAUSTED, after which the caller restores the partner
 * from its store). An event name the program in force no longer reads holds nothing to take
 * out: a retraction of it changes only the partner's event count. */
int engine_correct(engine *e, const td_event *old, const td_event *amended, uint64_t revision,
                   td_history_fn history, void *hud, td_time now, td_change_fn fn, void *ud,
                   td_error *err);

/* Re-evaluates one partner (or all when p is NULL) at now. Used by timers
 * when windows expire. */
void engine_evaluate(engine *e, td_partner *p, td_time now, td_change_fn fn, void *ud);

/* The earliest instant after now at which p's evaluation can change with no
 * new event, or TD_TIME_NONE: a window edge, the end of an override, or the
 * instant a pending demotion falls due (grace end, review point, end of a
 * grandfather period). The daemon re-evaluates p then. */
td_time engine_partner_next_due(const engine *e, const td_partner *p, td_time now);

/* ---- lifecycle (docs/program.md, "Lifecycle"): people's decisions (decision.c);
 * lifecycle.c tells the rules ---- */
#define TD_MAX_REASON   1024 /* bytes in an override, approval or denial reason */
#define TD_ACTOR_SYSTEM "system"

/* Pins p's tier on ladder to `tier` (NULL = unranked) until `until`
 * (> now, <= TD_TIME_MAX) for actor with reason (both required text).
 * Reports cause OVERRIDE. Replaces an active override. TD_NOT_FOUND for an
 * unknown ladder/tier or a partner off that ladder, TD_INVALID_ARGUMENT for
 * bad times or text, TD_FAILED_PRECONDITION without a program. */
int engine_override_set(engine *e, td_partner *p, const char *ladder, const char *tier,
                        td_time until, const char *actor, const char *reason, td_time now,
                        td_change_fn fn, void *ud, td_error *err);
/* Ends an active override (cause OVERRIDE_CLEARED, from the pinned tier to
 * the lifecycle tier); TD_FAILED_PRECONDITION when none is active. reason
 * may be NULL. */
int engine_override_clear(engine *e, td_partner *p, const char *ladder, const char *actor,
                          const char *reason, td_time now, td_change_fn fn, void *ud,
                          td_error *err);

/* A promotion, or a demotion under review, waiting for a person. Strings
 * borrowed from the engine until the next change to it. */
typedef struct td_pending {
    const char *partner;
    const char *ladder;
    const char *from; /* the tier held (effective); NULL unranked */
    const char *to;   /* NULL: a demotion to unranked */
    td_time since;
    bool demotion;
    td_time deadline; /* a demotion goes through by itself then; NONE for a promotion */
} td_pending;
/* How many promotions and demotions wait for a person, over every partner
 * and ladder: one pass over the partners, no sorting. */
uint64_t engine_pending_count(const engine *e);
/* A number that changes whenever engine_pending_count may have (it never
 * changes otherwise): a caller keeps its count until this moves. */
uint64_t engine_pending_generation(const engine *e);
/* Pending promotions and demotions in partner id order, then program ladder order, after
 * (after_partner, after_ladder) when after_partner is non-NULL. Fills out[]
 * up to cap; *more tells whether others follow. */
size_t engine_pending_list(engine *e, const char *after_partner, const char *after_ladder,
                           td_pending *out, size_t cap, bool *more);
/* Promotes p to its pending tier on ladder, or carries out its pending
 * demotion (to lifecycle_demotion_target at now), cause APPROVAL with actor
 * and reason, then lets the lifecycle continue. TD_FAILED_PRECONDITION when
 * nothing is pending, p no longer qualifies for the promotion, or is no
 * longer below the tier it would be demoted from. */
int engine_approve(engine *e, td_partner *p, const char *ladder, const char *actor,
                   const char *reason, td_time now, td_change_fn fn, void *ud, td_error *err);
/* Drops the pending promotion or demotion (cause DENIAL, from == to). A
 * denied promotion is queued again only after p has dropped below that
 * tier and qualified anew; a denied demotion only after p has recovered
 * its tier and fallen below it anew. */
int engine_deny(engine *e, td_partner *p, const char *ladder, const char *actor, const char *reason,
                td_time now, td_change_fn fn, void *ud, td_error *err);

/* ---- program versions over time (versions.c) ---- */
/* Refuses (TD_FAILED_PRECONDITION, message naming version, count, days and
 * notice) a version that would demote anyone at its effective instant and
 * takes effect less than p->notice after now. *would_demote gets the count
 * either way. Callers skip it when the operator forces the load. */
int engine_program_notice_check(const engine *e, const program *p, td_time now,
                                uint64_t *would_demote, td_error *err);
/* When the version in force took effect (set by engine_program_apply to its
 * now); grandfather periods count from it. The daemon restores it after a
 * restart with engine_program_set_effective, as applying again at start-up
 * would restart every grandfather period. */
td_time engine_program_effective(const engine *e);
void engine_program_set_effective(engine *e, td_time effective);
/* Keeps p (ownership taken) to be applied at `effective`; replaces (and
 * frees) any version scheduled before. The engine never applies it by
 * itself: at engine_next_program_due the daemon calls
 * engine_program_take_scheduled and engine_program_apply. */
void engine_program_schedule(engine *e, program *p, td_time effective);
const program *engine_program_scheduled(const engine *e);
/* The scheduled version's effective instant, or TD_TIME_NONE. */
td_time engine_next_program_due(const engine *e);
/* Hands the scheduled version back to the caller (NULL when none). */
program *engine_program_take_scheduled(engine *e);

/* ---- explanations (explain.c) ---- */
typedef struct td_tier_expl {
    const char *tier;
    bool holds; /* its own `when` */
    bool gate_holds;
    /* The tier qualifies: `holds`, the gate above the first tier and, on a
     * cumulative ladder, every lower tier's `when`. */
    bool qualifies;
    const char *blocked_by; /* cumulative: the lowest tier below whose `when` fails */
    const char *when;
    td_criterion *criteria;
    size_t n_criteria;
    char *const *benefits;
    size_t n_benefits;
} td_tier_expl;

typedef struct td_explanation {
    const char *partner;
    const char *ladder;
    const char *tier; /* current; NULL unranked */
    const char *qualifying;
    td_time since;
    td_time at;
    td_criterion *gate;
    size_t n_gate;
    bool gate_holds;
    td_tier_expl *tiers;
    size_t n_tiers;
    bool cumulative;       /* the ladder's rule (docs/program.md) */
    const char *next_tier; /* NULL at the top */
    /* Unmet criteria of next_tier (closest `or` branch), with, on a
     * cumulative ladder, the unmet ones it inherits from lower tiers:
     * lowest tier first, then the gate, then next_tier's own; each names
     * its tier. */
    td_criterion *gaps;
    size_t n_gaps;
    /* With no new events: at_risk_falls is when qualifying drops below the
     * tier held, at_risk_date when the lifecycle (grace, review point,
     * grandfathering) would actually demote, to at_risk_tier (max_drop
     * respected). TD_TIME_NONE when nothing is due or an override pins the
     * tier. */
    td_time at_risk_date;
    const char *at_risk_tier;
    td_due_reason at_risk_reason;
    td_time at_risk_falls;
    const char *pending;
    const char *override_tier;
    const char *program_version;
} td_explanation;

/* When p's tier on a ladder is at risk with no new events: the instant the
 * tier qualified for lapses below the tier held (already past when it has)
 * and the instant the lifecycle would really demote (grace, review point,
 * grandfathering), to demotion_tier (max_drop respected; NULL unranked).
 * TD_TIME_NONE for both when nothing is due or an override pins the tier. */
typedef struct td_at_risk {
    td_time lapses_at;
    td_time demotion_at;
    const char *demotion_tier;
    td_due_reason reason; /* the rule that sets demotion_at */
} td_at_risk;
/* p's at-risk dates on ladder index l at now; -TD_NOT_FOUND when p is not
 * on it or no program is loaded. */
int engine_partner_at_risk(const engine *e, const td_partner *p, size_t ladder, td_time now,
                           td_at_risk *out);

/* Explains p's standing on ladder index l at `at` (metric values evaluated
 * at `at`); p's state is as evaluated at `now`, so for an `at` ahead of now
 * grace counts from when p falls below in between, not from `at`. The
 * explanation owns its arrays; free with engine_explanation_free.
 * TD_FAILED_PRECONDITION without a program, TD_NOT_FOUND when p is not on
 * that ladder. */
int engine_explain(const engine *e, const td_partner *p, size_t ladder, td_time now, td_time at,
                   td_explanation *out, td_error *err);
void engine_explanation_free(td_explanation *x);

/* ---- stats (membership.c) ---- */
/* counts[l][t+1] for ladder l, tier t (index 0 = unranked). counts must hold
 * n_ladders * (TD_MAX_TIERS + 1) entries. */
void engine_stats(const engine *e, uint64_t *counts);
/* engine_stats broken down by the value of attribute `attr`: one row per
 * distinct value (NULL value: partners without the attribute, shown as
 * "(none)"), rows sorted by value with the NULL row first. Each row's
 * counts are laid out as engine_stats's; partners counts every partner
 * with that value, on a ladder or not. One pass over the partners and a
 * sort of the distinct values. Free with engine_stats_by_free. */
typedef struct td_stats_row {
    const char *value; /* borrowed from the engine until the next change; NULL: none */
    uint64_t partners;
    uint64_t *counts; /* n_ladders * (TD_MAX_TIERS + 1) */
} td_stats_row;
typedef struct td_stats_by {
    td_stats_row *rows;
    size_t n_rows;
    size_t n_ladders;
} td_stats_by;
/* 0; TD_FAILED_PRECONDITION without a program or for an attribute with
 * more than TD_STATS_BY_MAX_VALUES distinct values; TD_INVALID_ARGUMENT
 * for a key that breaks the key rule; TD_RESOURCE_EXHAUSTED. */
#define TD_STATS_BY_MAX_VALUES 10000
int engine_stats_by(const engine *e, const char *attr, td_stats_by *out, td_error *err);
void engine_stats_by_free(td_stats_by *s);

/* ---- persistence (changed partners engine.c, records codec.c) ---- */
/* Every partner whose stored form (engine_partner_encode) changed since the
 * last call, by any engine call at all: events, upserts, lifecycle moves
 * made by time alone (the qualifying tier, the start of grace), overrides,
 * approvals, program versions. Calls fn (may be NULL) once for each and
 * forgets them. Returns 0, or -TD_RESOURCE_EXHAUSTED when one could not be
 * listed for lack of memory: the caller cannot write them all and must
 * rebuild from its store. Deleted partners are not listed; their callers
 * know them. */
typedef void (*td_touched_fn)(void *ud, const char *partner_id);
int engine_touched_take(engine *e, td_touched_fn fn, void *ud);

/* Serialises a partner (identity, metric state, tier state) into a portable
 * byte string the engine can restore; *buf is malloc'd. */
int engine_partner_encode(const engine *e, const td_partner *p, uint8_t **buf, size_t *len);
/* Restores (replacing any in-memory partner with the same id) from bytes
 * made by engine_partner_encode. Refuses malformed input with
 * TD_DATA_LOSS and a message; never reads out of bounds. Tier state is
 * matched to the program in force by ladder and tier name, so restore after
 * applying the program; without one, tiers start unranked when it comes. */
int engine_partner_restore(engine *e, const uint8_t *buf, size_t len, td_error *err);
/* engine_partner_restore in two steps, so records can be decoded on several
 * threads at once. Decoding reads no engine and checks everything restore
 * checks; placing (names interned, tiers matched to the program in force,
 * the partner inserted) takes the engine, one thread at a time, and always
 * consumes the record. Placing records in id order keeps the id-sorted view
 * without a sort. */
typedef struct td_partner_record td_partner_record;
int engine_partner_decode(const uint8_t *buf, size_t len, td_partner_record **out, td_error *err);
int engine_partner_place(engine *e, td_partner_record *rec, td_error *err);
void engine_partner_record_free(td_partner_record *rec);

#endif
