/* Change reports (change.h).
 *
 * Owns building a td_change: the triggering event's "source/id", the
 * criteria of the tier reached (or left, or whose promotion was dropped),
 * and for a move down the criteria of the tier lost, met or not, which say
 * why it was lost. Promises that the change goes out even when its
 * criteria cannot be listed for lack of memory. Strings and arrays live
 * only for the callback. Does not decide that a tier changes, nor mark the
 * partner changed (the caller does both).
 *
 * Place in the engine's line (tests/unit/test_engine_layers.sh): above
 * criteria and partner; calls down into criteria only. */
#include "change.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "criteria.h"

#define EVENT_ID_MAX          (2 * TD_MAX_ID + 2) /* "source/id" */
#define REPORT_STACK_CRITERIA 32

static bool same_benefit(const benefit_def *a, const benefit_def *b)
{
    return !strcmp(a->name, b->name) &&
           (a->value ? b->value && !strcmp(a->value, b->value) : !b->value);
}

/* The grants in a[0..na) that b[0..nb) does not hold, into out (na
 * entries at least); returns how many. */
static size_t grants_minus(const benefit_grant *a, size_t na, const benefit_grant *b, size_t nb,
                           benefit_grant *out)
{
    size_t n = 0;
    for (size_t i = 0; i < na; i++) {
        bool held = false;
        for (size_t j = 0; j < nb && !held; j++)
            held = same_benefit(a[i].def, b[j].def);
        if (!held)
            out[n++] = a[i];
    }
    return n;
}

/* change_report, with the ladder each of `from` and `to` is a tier of
 * (for benefits; NULL: none). */
static void report(const program *prog, const td_partner *p, const char *ladder,
                   const ladder_def *ld, const char *from, int crit_tier, const char *to,
                   td_time now, td_cause cause, const td_event *ev, const double *values,
                   const char *actor, const char *reason, const ladder_def *from_ld,
                   const ladder_def *to_ld, td_change_fn fn, void *ud)
{
    if (!fn)
        return;
    /* Benefits: moves are rare next to events, so these go on the heap,
     * and a change goes out without them when memory runs out. */
    size_t n_had, n_has;
    const benefit_grant *had = ladder_tier_grants(
        from_ld, from_ld && from ? ladder_tier_index(from_ld, from) : -1, &n_had);
    const benefit_grant *has =
        ladder_tier_grants(to_ld, to_ld && to ? ladder_tier_index(to_ld, to) : -1, &n_has);
    benefit_grant *gained = n_has ? malloc(n_has * sizeof *gained) : NULL;
    benefit_grant *gone = n_had ? malloc(n_had * sizeof *gone) : NULL;
    size_t n_gained = gained ? grants_minus(has, n_has, had, n_had, gained) : 0;
    size_t n_gone = gone ? grants_minus(had, n_had, has, n_has, gone) : 0;
    /* Formatted only here: most events change no tier. */
    char event_id[EVENT_ID_MAX];
    if (ev)
        snprintf(event_id, sizeof event_id, "%s/%s", ev->source, ev->id);
    /* Criteria usually fit on the stack; criteria_add only grows an array
     * once it is full, so a large expression starts on the heap. */
    td_criterion stack[REPORT_STACK_CRITERIA];
    td_criterion *crit = stack;
    size_t n = 0, cap = REPORT_STACK_CRITERIA;
    if (values && ld && crit_tier >= 0 && criteria_count_of_tier(ld, crit_tier) > cap) {
        crit = NULL;
        cap = 0;
    }
    if (values && ld && crit_tier >= 0 &&
        criteria_of_tier(prog, ld, crit_tier, values, &crit, &n, &cap) != 0)
        n = 0; /* the change still goes out, without its criteria */
    /* A move down also says why the tier left was lost. Moves down are
     * rare next to events, so these go on the heap. */
    int from_t = ld && from ? ladder_tier_index(ld, from) : -1;
    int to_t = ld && to ? ladder_tier_index(ld, to) : -1;
    td_criterion *lost = NULL;
    size_t n_lost = 0, cap_lost = 0;
    if (values && from_t >= 0 && to_t < from_t &&
        criteria_of_tier(prog, ld, from_t, values, &lost, &n_lost, &cap_lost) != 0)
        n_lost = 0;
    bool dropped = cause == TD_CAUSE_DENIAL || cause == TD_CAUSE_WITHDRAWN;
    td_change c = {
        .partner = p->id,
        .ladder = ladder,
        .from = from,
        .to = to,
        .at = now,
        .cause = cause,
        .program_version = prog ? prog->version : NULL,
        .event_id = ev ? event_id : NULL,
        .criteria = n ? crit : NULL,
        .n_criteria = n,
        .actor = actor,
        .reason = reason,
        .lost = n_lost ? lost : NULL,
        .n_lost = n_lost,
        .promotion_tier = dropped && ld && crit_tier >= 0 ? ld->tiers[crit_tier].name : NULL,
        .gained = n_gained ? gained : NULL,
        .n_gained = n_gained,
        .benefits_lost = n_gone ? gone : NULL,
        .n_benefits_lost = n_gone,
    };
    fn(ud, &c);
    if (crit != stack)
        free(crit);
    free(lost);
    free(gained);
    free(gone);
}

void change_report(const program *prog, const td_partner *p, const char *ladder,
                   const ladder_def *ld, const char *from, int crit_tier, const char *to,
                   td_time now, td_cause cause, const td_event *ev, const double *values,
                   const char *actor, const char *reason, td_change_fn fn, void *ud)
{
    report(prog, p, ladder, ld, from, crit_tier, to, now, cause, ev, values, actor, reason, ld, ld,
           fn, ud);
}

void change_report_version(const program *prog, const td_partner *p, const ladder_def *old_ld,
                           const ladder_def *ld, const char *from, const char *to, td_time now,
                           td_change_fn fn, void *ud)
{
    report(prog, p, ld ? ld->name : old_ld->name, NULL, from, -1, to, now, TD_CAUSE_PROGRAM_VERSION,
           NULL, NULL, NULL, NULL, old_ld, ld, fn, ud);
}
