/* tierctl's renderers: how a tier state, a partner, a change and an
 * explanation look, once as JSON for scripts and once as text for people.
 * Owns presentation only; it sends nothing and decides no exit status. */
#include "tierctl.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define CHECK_MARK "\u2713"
#define CROSS_MARK "\u2717"

const char *tctl_tier_name(const char *t)
{
    return t && *t ? t : "unranked";
}

static const char *cause_name(Tierd__Cause c)
{
    static const char *const names[] = {
        [TIERD__CAUSE__CAUSE_UNSPECIFIED] = "unspecified",
        [TIERD__CAUSE__PROMOTION] = "promotion",
        [TIERD__CAUSE__DEMOTION] = "demotion",
        [TIERD__CAUSE__OVERRIDE] = "override",
        [TIERD__CAUSE__APPROVAL] = "approval",
        [TIERD__CAUSE__PROGRAM_VERSION] = "program_version",
        [TIERD__CAUSE__REVIEW] = "review",
        [TIERD__CAUSE__OVERRIDE_CLEARED] = "override_cleared",
        [TIERD__CAUSE__OVERRIDE_EXPIRED] = "override_expired",
        [TIERD__CAUSE__DENIAL] = "denial",
        [TIERD__CAUSE__PARTNER_DELETED] = "partner_deleted",
        [TIERD__CAUSE__WITHDRAWN] = "withdrawn",
        [TIERD__CAUSE__CORRECTION] = "correction",
    };
    unsigned i = (unsigned)c;
    return i < sizeof names / sizeof *names && names[i] ? names[i] : "unknown";
}

const char *tctl_cause_name(int cause)
{
    return cause_name((Tierd__Cause)cause);
}

const char *tctl_due_name(int reason)
{
    static const char *const names[] = {
        [TIERD__DUE_REASON__DUE_NONE] = "",
        [TIERD__DUE_REASON__DUE_GRACE_END] = "grace_end",
        [TIERD__DUE_REASON__DUE_REVIEW_POINT] = "review_point",
        [TIERD__DUE_REASON__DUE_GRANDFATHER_END] = "grandfather_end",
        [TIERD__DUE_REASON__DUE_NEXT_DROP] = "next_drop",
        [TIERD__DUE_REASON__DUE_REVIEW_DEADLINE] = "review_deadline",
    };
    return reason >= 0 && (size_t)reason < sizeof names / sizeof *names && names[reason]
               ? names[reason]
               : "unknown";
}

/* " (review point)" for a person; "" without a reason. */
static void due_words(int reason, char *buf, size_t n)
{
    const char *name = tctl_due_name(reason);
    size_t used = (size_t)snprintf(buf, n, "%s%s", *name ? " (" : "", name);
    for (size_t i = 0; i < used && i < n; i++)
        if (buf[i] == '_')
            buf[i] = ' ';
    if (*name)
        snprintf(buf + used, n > used ? n - used : 0, ")");
}

json_t *tctl_tier_state_json(const Tierd__TierState *s)
{
    json_t *o = json_pack("{s:o, s:o, s:o}", "tier", tctl_str_or_null(s->tier), "since",
                          tctl_time_json(s->since), "qualifying", tctl_str_or_null(s->qualifying));
    if (!o)
        return NULL;
    if (s->pending_deadline)
        json_object_set_new(o, "pending_demotion",
                            json_pack("{s:o, s:o}", "to", tctl_str_or_null(s->pending), "deadline",
                                      tctl_time_json(s->pending_deadline)));
    else if (s->pending && *s->pending)
        json_object_set_new(o, "pending", tctl_str(s->pending));
    if (s->override_tier && *s->override_tier)
        json_object_set_new(o, "override",
                            json_pack("{s:o, s:o}", "tier", tctl_str(s->override_tier), "until",
                                      tctl_time_json(s->override_until)));
    if (s->below_since)
        json_object_set_new(o, "below_since", tctl_time_json(s->below_since));
    if (s->lapses_at)
        json_object_set_new(o, "lapses_at", tctl_time_json(s->lapses_at));
    if (s->demotion_at) {
        json_object_set_new(o, "demotion_at", tctl_time_json(s->demotion_at));
        json_object_set_new(o, "demotion_tier", tctl_str_or_null(s->demotion_tier));
        json_object_set_new(o, "demotion_reason",
                            tctl_str_or_null(tctl_due_name(s->demotion_reason)));
    }
    return o;
}

void tctl_print_tier_state(const Tierd__TierState *s, const char *indent)
{
    char since[64], until[64];
    tctl_time_human(s->since, since, sizeof since);
    printf("%s%s: %s", indent, s->ladder, tctl_tier_name(s->tier));
    if (s->since)
        printf(" (since %s)", since);
    if (strcmp(s->tier ? s->tier : "", s->qualifying ? s->qualifying : "") != 0)
        printf(", qualifies for %s", s->qualifying && *s->qualifying ? s->qualifying : "no tier");
    printf("\n");
    if (s->pending_deadline) {
        tctl_time_human(s->pending_deadline, until, sizeof until);
        printf("%s  demotion to %s waiting for approval; goes through %s unless denied\n", indent,
               tctl_tier_name(s->pending), until);
    } else if (s->pending && *s->pending) {
        printf("%s  waiting for approval: %s\n", indent, s->pending);
    }
    if (s->override_tier && *s->override_tier) {
        tctl_time_human(s->override_until, until, sizeof until);
        printf("%s  override: %s until %s\n", indent, s->override_tier, until);
    }
    if (s->below_since) {
        tctl_time_human(s->below_since, since, sizeof since);
        printf("%s  below its criteria since %s\n", indent, since);
    }
    if (s->demotion_at) {
        char lapses[64];
        tctl_time_human(s->lapses_at, lapses, sizeof lapses);
        tctl_time_human(s->demotion_at, until, sizeof until);
        char why[64];
        due_words(s->demotion_reason, why, sizeof why);
        printf("%s  at risk: lapses %s, falls to %s on %s%s if nothing new arrives\n", indent,
               lapses, tctl_tier_name(s->demotion_tier), until, why);
    }
}

json_t *tctl_benefit_json(const Tierd__Benefit *b)
{
    return json_pack("{s:o, s:o, s:o, s:o, s:o}", "name", tctl_str(b->name), "value",
                     tctl_str_or_null(b->value), "number",
                     b->has_number ? json_real(b->number) : json_null(), "ladder",
                     tctl_str(b->ladder), "tier", tctl_str(b->tier));
}

json_t *tctl_benefits_json(Tierd__Benefit **bs, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, tctl_benefit_json(bs[i]));
    return a;
}

void tctl_benefit_text(const Tierd__Benefit *b, char *buf, size_t n)
{
    if (b->value && *b->value)
        snprintf(buf, n, "%s=%s", b->name, b->value);
    else
        snprintf(buf, n, "%s", b->name ? b->name : "");
}

json_t *tctl_partner_json(const Tierd__PartnerInfo *p)
{
    const Tierd__Partner *pp = p->partner;
    json_t *types = json_array();
    for (size_t i = 0; pp && i < pp->n_types; i++)
        json_array_append_new(types, tctl_str(pp->types[i]));
    json_t *attrs = json_object();
    for (size_t i = 0; pp && i < pp->n_attrs; i++)
        json_object_set_new(attrs, pp->attrs[i]->key, tctl_str(pp->attrs[i]->value));
    json_t *tiers = json_object();
    for (size_t i = 0; i < p->n_tiers; i++)
        json_object_set_new(tiers, p->tiers[i]->ladder ? p->tiers[i]->ladder : "",
                            tctl_tier_state_json(p->tiers[i]));
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:o}", "partner",
                     tctl_str(pp ? pp->id : ""), "name", tctl_str_or_null(pp ? pp->name : NULL),
                     "types", types, "attrs", attrs, "tiers", tiers, "created",
                     tctl_time_json(p->created), "updated", tctl_time_json(p->updated), "events",
                     (json_int_t)p->events, "benefits",
                     tctl_benefits_json(p->benefits, p->n_benefits));
}

static json_t *criterion_json(const Tierd__Criterion *c)
{
    return json_pack("{s:o, s:o, s:o, s:o, s:b, s:o, s:o, s:b}", "metric", tctl_str(c->metric),
                     "op", tctl_str(c->op), "value", tctl_num_json(c->value), "threshold",
                     tctl_num_json(c->threshold), "met", c->met, "missing",
                     tctl_num_json(c->missing), "tier", tctl_str_or_null(c->tier), "percent",
                     c->percent);
}

static json_t *criteria_json(Tierd__Criterion **cs, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, criterion_json(cs[i]));
    return a;
}

json_t *tctl_change_json(const Tierd__TierChange *c)
{
    json_t *o = json_pack(
        "{s:I, s:o, s:o, s:o, s:o, s:o, s:s, s:o, s:o, s:o, s:o, s:o}", "sequence",
        (json_int_t)c->sequence, "partner", tctl_str(c->partner), "ladder", tctl_str(c->ladder),
        "from", tctl_str_or_null(c->from_tier), "to", tctl_str_or_null(c->to_tier), "at",
        tctl_time_json(c->at), "cause", cause_name(c->cause), "program_version",
        tctl_str_or_null(c->program_version), "event_id", tctl_str_or_null(c->event_id), "actor",
        tctl_str_or_null(c->actor), "reason", tctl_str_or_null(c->reason), "criteria",
        criteria_json(c->criteria, c->n_criteria));
    if (o && c->n_lost)
        json_object_set_new(o, "lost", criteria_json(c->lost, c->n_lost));
    if (o && c->promotion_tier && *c->promotion_tier)
        json_object_set_new(o, "promotion_tier", tctl_str(c->promotion_tier));
    if (o && c->n_benefits_gained)
        json_object_set_new(o, "benefits_gained",
                            tctl_benefits_json(c->benefits_gained, c->n_benefits_gained));
    if (o && c->n_benefits_lost)
        json_object_set_new(o, "benefits_lost",
                            tctl_benefits_json(c->benefits_lost, c->n_benefits_lost));
    if (o && c->dropped_demotion)
        json_object_set_new(o, "dropped_demotion", json_true());
    return o;
}

/* A threshold, value or distance as the program wrote its threshold: 80%
 * for a percentage, 250,000 otherwise. */
static void as_written(double v, bool percent, char *buf, size_t n)
{
    if (percent)
        tctl_percent_human(v, buf, n);
    else
        tctl_num_human(v, buf, n);
}

/* "value" of a criterion for a person: a metric with none says so. */
static void criterion_value(const Tierd__Criterion *c, char *buf, size_t n)
{
    if (isnan(c->value))
        snprintf(buf, n, "no value yet");
    else
        as_written(c->value, c->percent, buf, n);
}

/* A denial or withdrawal leaves the tier where it was: say what was dropped. */
static bool print_dropped_promotion(const Tierd__TierChange *c, const char *at)
{
    if (c->cause != TIERD__CAUSE__DENIAL && c->cause != TIERD__CAUSE__WITHDRAWN)
        return false;
    const char *to = c->promotion_tier && *c->promotion_tier ? c->promotion_tier
                     : c->dropped_demotion                   ? "unranked"
                                                             : "a higher tier";
    printf("#%llu %s %s %s: %s to %s %s", (unsigned long long)c->sequence, at, c->partner,
           c->ladder, c->dropped_demotion ? "demotion" : "promotion", to,
           c->cause == TIERD__CAUSE__WITHDRAWN ? "withdrawn" : "denied");
    if (c->cause == TIERD__CAUSE__DENIAL && c->actor && *c->actor)
        printf(" by %s", c->actor);
    if (c->event_id && *c->event_id)
        printf(" (event %s)", c->event_id);
    if (c->reason && *c->reason)
        printf(": %s", c->reason);
    printf("\n");
    return true;
}

/* "label a, b=5" on one line; nothing for none. */
static void print_benefit_list(const char *label, Tierd__Benefit **bs, size_t n)
{
    if (!n)
        return;
    printf("%s", label);
    for (size_t i = 0; i < n; i++) {
        char text[2 * TCTL_BENEFIT_MAX];
        tctl_benefit_text(bs[i], text, sizeof text);
        printf("%s %s", i ? "," : "", text);
    }
    printf("\n");
}

void tctl_print_change(const Tierd__TierChange *c)
{
    char at[64];
    tctl_time_rfc3339(c->at, at, sizeof at);
    if (print_dropped_promotion(c, at))
        return;
    printf("#%llu %s %s %s: %s -> %s (%s", (unsigned long long)c->sequence, at, c->partner,
           c->ladder, tctl_tier_name(c->from_tier), tctl_tier_name(c->to_tier),
           cause_name(c->cause));
    if (c->actor && *c->actor)
        printf(" by %s", c->actor);
    if (c->event_id && *c->event_id)
        printf(", event %s", c->event_id);
    printf(")");
    if (c->reason && *c->reason)
        printf(": %s", c->reason);
    printf("\n");
    /* Why the tier left was lost: its unmet criteria. */
    for (size_t i = 0; i < c->n_lost; i++) {
        const Tierd__Criterion *k = c->lost[i];
        if (k->met)
            continue;
        char th[TCTL_NUM_STRLEN], v[TCTL_NUM_STRLEN];
        as_written(k->threshold, k->percent, th, sizeof th);
        criterion_value(k, v, sizeof v);
        printf("    lost %s: %s %s %s not met (%s)\n", tctl_tier_name(c->from_tier), k->metric,
               k->op, th, v);
    }
    print_benefit_list("    benefits gained:", c->benefits_gained, c->n_benefits_gained);
    print_benefit_list("    benefits lost:", c->benefits_lost, c->n_benefits_lost);
}

json_t *tctl_changes_json(const Tierd__ChangesResponse *r)
{
    json_t *a = json_array();
    for (size_t i = 0; i < r->n_changes; i++)
        json_array_append_new(a, tctl_change_json(r->changes[i]));
    return json_pack("{s:o, s:I}", "changes", a, "last_sequence", (json_int_t)r->last_sequence);
}

/* A single TierState answer (override, approve, deny). */
int tctl_print_state_answer(tctl *t, const char *partner, Tierd__TierState *s)
{
    if (t->json) {
        json_t *o = tctl_tier_state_json(s);
        json_object_set_new(o, "partner", tctl_str(partner));
        json_object_set_new(o, "ladder", tctl_str(s->ladder));
        tctl_print_json(o);
    } else {
        printf("%s\n", partner);
        tctl_print_tier_state(s, "  ");
    }
    tierd__tier_state__free_unpacked(s, NULL);
    return 0;
}

/* " (from Registered)" for a criterion the next tier inherits, " (gate)"
 * for the gate's, "" for its own (and from servers before 0.2, which name
 * no tier). */
static void gap_origin(const Tierd__NextTier *n, const Tierd__Gap *g, char *buf, size_t len)
{
    if (g->gate)
        snprintf(buf, len, " (gate)");
    else if (g->tier && *g->tier && strcmp(g->tier, n->tier) != 0)
        snprintf(buf, len, " (from %s)", g->tier);
    else
        buf[0] = 0;
}

static void print_gaps(const Tierd__NextTier *n)
{
    for (size_t i = 0; i < n->n_gaps; i++) {
        const Tierd__Gap *g = n->gaps[i];
        char th[TCTL_NUM_STRLEN], v[TCTL_NUM_STRLEN], m[TCTL_NUM_STRLEN], from[TCTL_NUM_STRLEN * 3];
        as_written(g->threshold, g->percent, th, sizeof th);
        as_written(g->value, g->percent, v, sizeof v);
        as_written(g->missing, g->percent, m, sizeof m);
        gap_origin(n, g, from, sizeof from);
        if (isnan(g->value))
            printf("  %s needs %s %s %s%s: no value yet\n", n->tier, g->metric,
                   g->op && *g->op ? g->op : ">=", th, from);
        else
            printf("  %s needs %s %s %s%s: %s now, %s to go\n", n->tier, g->metric,
                   g->op && *g->op ? g->op : ">=", th, from, v, m);
    }
}

static void print_criteria(Tierd__Criterion **cs, size_t n, const char *indent)
{
    for (size_t i = 0; i < n; i++) {
        const Tierd__Criterion *c = cs[i];
        char th[TCTL_NUM_STRLEN], v[TCTL_NUM_STRLEN], m[TCTL_NUM_STRLEN];
        as_written(c->threshold, c->percent, th, sizeof th);
        criterion_value(c, v, sizeof v);
        as_written(c->missing, c->percent, m, sizeof m);
        printf("%s%s %s %s %s: %s", indent, c->met ? CHECK_MARK : CROSS_MARK, c->metric, c->op, th,
               v);
        if (!c->met && c->missing != 0 && !isnan(c->missing))
            printf(" (%s to go)", m);
        printf("\n");
    }
}

json_t *tctl_explain_json(const char *partner, const Tierd__LadderExplanation *l)
{
    json_t *next = json_null(), *risk = json_null();
    if (l->next && l->next->tier && *l->next->tier) {
        json_t *gaps = json_array();
        for (size_t i = 0; i < l->next->n_gaps; i++) {
            const Tierd__Gap *g = l->next->gaps[i];
            json_array_append_new(
                gaps, json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:b, s:b}", "metric",
                                tctl_str(g->metric), "value", tctl_num_json(g->value), "threshold",
                                tctl_num_json(g->threshold), "missing", tctl_num_json(g->missing),
                                "op", tctl_str(g->op && *g->op ? g->op : ">="), "tier",
                                tctl_str_or_null(g->tier), "gate", g->gate, "percent", g->percent));
        }
        json_decref(next);
        next = json_pack("{s:o, s:o}", "tier", tctl_str(l->next->tier), "gaps", gaps);
    }
    if (l->at_risk && l->at_risk->date) {
        json_decref(risk);
        risk = json_pack("{s:o, s:o, s:o, s:o, s:o}", "date", tctl_time_json(l->at_risk->date),
                         "tier", tctl_str_or_null(l->at_risk->tier), "lapses_at",
                         tctl_time_json(l->at_risk->lapses_at), "demotion_at",
                         tctl_time_json(l->at_risk->date), "reason",
                         tctl_str_or_null(tctl_due_name(l->at_risk->reason)));
    }
    json_t *tiers = json_array();
    for (size_t i = 0; i < l->n_tiers; i++) {
        const Tierd__TierExplanation *te = l->tiers[i];
        json_t *benefits = json_array();
        for (size_t k = 0; k < te->n_benefits; k++)
            json_array_append_new(benefits, tctl_str(te->benefits[k]));
        json_array_append_new(
            tiers, json_pack("{s:o, s:b, s:b, s:b, s:o, s:o, s:o, s:o}", "tier", tctl_str(te->tier),
                             "holds", te->holds, "gate_holds", te->gate_holds, "qualifies",
                             te->qualifies, "blocked_by", tctl_str_or_null(te->blocked_by), "when",
                             tctl_str(te->when), "criteria",
                             criteria_json(te->criteria, te->n_criteria), "benefits", benefits));
    }
    return json_pack(
        "{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:b, s:o, s:o, s:o, s:o, s:o, s:b}", "partner",
        tctl_str(partner), "ladder", tctl_str(l->ladder), "tier", tctl_str_or_null(l->tier), "next",
        next, "at_risk", risk, "qualifying", tctl_str_or_null(l->qualifying), "since",
        tctl_time_json(l->since), "gate", criteria_json(l->gate, l->n_gate), "gate_holds",
        l->gate_holds, "tiers", tiers, "pending", tctl_str_or_null(l->pending), "override",
        tctl_str_or_null(l->override_tier), "program_version", tctl_str_or_null(l->program_version),
        "at", tctl_time_json(l->at), "cumulative", l->cumulative);
}

void tctl_print_explain(const Tierd__LadderExplanation *l)
{
    char since[64];
    tctl_time_human(l->since, since, sizeof since);
    printf("%s: %s", l->ladder, tctl_tier_name(l->tier));
    if (l->since)
        printf(" (since %s)", since);
    printf("\n");
    if (l->qualifying && strcmp(l->qualifying, l->tier ? l->tier : "") != 0)
        printf("  qualifies for %s now\n",
               l->qualifying && *l->qualifying ? l->qualifying : "no tier");
    if (l->pending && *l->pending)
        printf("  waiting for approval: %s\n", l->pending);
    if (l->override_tier && *l->override_tier)
        printf("  pinned by an override: %s\n", l->override_tier);
    if (l->n_gate) {
        printf("  gate %s\n", l->gate_holds ? "holds" : "does not hold");
        print_criteria(l->gate, l->n_gate, "    ");
    }
    for (size_t i = 0; i < l->n_tiers; i++) {
        const Tierd__TierExplanation *te = l->tiers[i];
        printf("  %s %s: %s", te->holds ? CHECK_MARK : CROSS_MARK, te->tier, te->when);
        /* A cumulative ladder: its own criteria may hold while a lower
         * tier's do not, and those stay listed under that tier. */
        if (te->holds && te->blocked_by && *te->blocked_by)
            printf("  (needs %s first)", te->blocked_by);
        printf("\n");
        print_criteria(te->criteria, te->n_criteria, "      ");
    }
    if (l->next && l->next->tier && *l->next->tier)
        print_gaps(l->next);
    if (l->at_risk && l->at_risk->date) {
        char d[64];
        tctl_time_human(l->at_risk->date, d, sizeof d);
        char why[64];
        due_words(l->at_risk->reason, why, sizeof why);
        printf("  at risk: falls to %s on %s%s if nothing new arrives\n",
               tctl_tier_name(l->at_risk->tier), d, why);
        if (l->at_risk->lapses_at) {
            tctl_time_human(l->at_risk->lapses_at, d, sizeof d);
            printf("    (its criteria %s on %s; grace and the review point set the date)\n",
                   l->at_risk->lapses_at <= l->at ? "lapsed" : "lapse", d);
        }
    }
}

Tierd__GetProgramResponse *tctl_program_for_warnings(tctl *t)
{
    Tierd__GetProgramResponse *r = NULL;
    td_error err;
    if (td_client_get_program(t->cli, &r, &err) != 0)
        return NULL;
    return r;
}

/* Appends s to buf (at *used) unless it is already among seen[0..*n). */
static void add_type_once(const char *s, const char **seen, size_t *n, size_t cap, char *buf,
                          size_t len, size_t *used)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(seen[i], s) == 0)
            return;
    if (*n < cap)
        seen[(*n)++] = s;
    if (*used < len)
        *used += (size_t)snprintf(buf + *used, len - *used, "%s%s", *n > 1 ? ", " : "", s);
}

#define NO_LADDER_TYPES 64

bool tctl_no_ladder(const Tierd__GetProgramResponse *prog, char *const *types, size_t n_types,
                    char *buf, size_t len)
{
    if (!prog || !prog->n_ladders)
        return false;
    for (size_t l = 0; l < prog->n_ladders; l++)
        for (size_t k = 0; k < prog->ladders[l]->n_partner_types; k++)
            for (size_t i = 0; i < n_types; i++)
                if (strcmp(types[i], prog->ladders[l]->partner_types[k]) == 0)
                    return false;
    size_t used = (size_t)snprintf(buf, len, "on no ladder (%s", n_types ? "types: " : "no types");
    for (size_t i = 0; i < n_types && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "", types[i]);
    if (used < len)
        used += (size_t)snprintf(buf + used, len - used, "; ladders take: ");
    const char *seen[NO_LADDER_TYPES];
    size_t n_seen = 0;
    for (size_t l = 0; l < prog->n_ladders; l++)
        for (size_t k = 0; k < prog->ladders[l]->n_partner_types; k++)
            add_type_once(prog->ladders[l]->partner_types[k], seen, &n_seen, NO_LADDER_TYPES, buf,
                          len, &used);
    if (used < len)
        snprintf(buf + used, len - used, ")");
    return true;
}
