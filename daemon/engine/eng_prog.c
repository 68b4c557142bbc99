/* The compiled program (eng_prog.h).
 *
 * Owns turning a program into per-event and per-ladder facts, and reading
 * a partner's metric values (and when they next change) through them.
 * Promises that compiling either succeeds whole or leaves nothing behind.
 * Does not decide tiers (criteria.c, lifecycle.c) and keeps no state of
 * its own beyond the compiled arrays.
 *
 * Place in the engine's line (tests/unit/test_engine_layers.sh): above
 * names, partner and metric; calls down into metric only. */
#include "eng_prog.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SCORE_FULL 100.0
/* Days of history a calendar window may need: a quarter spans at most 92
 * days and a year 366. */
#define QUARTER_DAYS 92
#define YEAR_DAYS    366

static const char *metric_event_name(const metric_def *d)
{
    return d->event ? d->event : d->name;
}

int eng_prog_intern_events(name_table *events, const program *p)
{
    for (size_t m = 0; m < p->n_metrics; m++)
        if (p->metrics[m].agg != AGG_SCORE &&
            names_intern(events, metric_event_name(&p->metrics[m])) < 0)
            return -1;
    return 0;
}

void eng_prog_free(eng_prog *cp)
{
    free(cp->metric_ev);
    free(cp->ev_days);
    free(cp->ev_flags);
    free(cp->ev_metrics);
    free(cp->ev_ladders);
    free(cp->ladder_mask);
    memset(cp, 0, sizeof *cp);
}

static void mask_add(void *ud, int metric)
{
    if (metric >= 0 && metric < TD_MAX_METRICS)
        *(uint64_t *)ud |= 1ull << metric;
}

int eng_prog_compile(const name_table *events, const program *p, eng_prog *cp)
{
    memset(cp, 0, sizeof *cp);
    cp->p = p;
    cp->n_ev = events->n;
    size_t nev = cp->n_ev ? cp->n_ev : 1;
    size_t nm = p->n_metrics ? p->n_metrics : 1, nl = p->n_ladders ? p->n_ladders : 1;
    cp->metric_ev = calloc(nm, sizeof *cp->metric_ev);
    cp->ev_days = calloc(nev, sizeof *cp->ev_days);
    cp->ev_flags = calloc(nev, sizeof *cp->ev_flags);
    cp->ev_metrics = calloc(nev, sizeof *cp->ev_metrics);
    cp->ev_ladders = calloc(nev, sizeof *cp->ev_ladders);
    cp->ladder_mask = calloc(nl, sizeof *cp->ladder_mask);
    if (!cp->metric_ev || !cp->ev_days || !cp->ev_flags || !cp->ev_metrics || !cp->ev_ladders ||
        !cp->ladder_mask) {
        eng_prog_free(cp);
        return -1;
    }
    for (size_t m = 0; m < p->n_metrics && m < TD_MAX_METRICS; m++) {
        const metric_def *d = &p->metrics[m];
        cp->metric_ev[m] = d->agg == AGG_SCORE ? -1 : names_find(events, metric_event_name(d));
        int ev = cp->metric_ev[m];
        int32_t days = 0;
        uint8_t f = 0;
        switch (d->window.kind) {
        case WIN_DAYS:
            f = EVF_BUCKETS;
            days = d->window.days;
            break;
        case WIN_QUARTER:
            f = EVF_BUCKETS | EVF_QUARTER;
            days = QUARTER_DAYS;
            break;
        case WIN_YEAR:
            f = EVF_BUCKETS | EVF_YEAR;
            days = YEAR_DAYS;
            break;
        case WIN_LIFETIME:
            break;
        }
        if (d->agg == AGG_DISTINCT)
            f |= EVF_KEYS | (d->window.kind == WIN_LIFETIME ? EVF_KEYS_LIFE : 0);
        if (d->agg != AGG_SCORE && days > cp->max_days)
            cp->max_days = days;
        if (ev < 0)
            continue;
        cp->ev_metrics[ev] |= 1ull << m;
        cp->ev_flags[ev] |= f;
        if (d->window.kind == WIN_DAYS && days > cp->ev_days[ev])
            cp->ev_days[ev] = days;
    }
    for (size_t l = 0; l < p->n_ladders && l < TD_MAX_LADDERS; l++) {
        const ladder_def *ld = &p->ladders[l];
        uint64_t mask = ld->metric_mask;
        if (ld->gate)
            expr_metrics(ld->gate, mask_add, &mask);
        for (size_t t = 0; t < ld->n_tiers; t++)
            if (ld->tiers[t].when)
                expr_metrics(ld->tiers[t].when, mask_add, &mask);
        for (size_t m = 0; m < p->n_metrics && m < TD_MAX_METRICS; m++) {
            const metric_def *d = &p->metrics[m];
            if (d->agg != AGG_SCORE || !(mask & (1ull << m)))
                continue;
            for (size_t i = 0; i < d->n_terms; i++)
                mask_add(&mask, d->terms[i].metric);
        }
        cp->ladder_mask[l] = mask;
        for (size_t ev = 0; ev < cp->n_ev; ev++)
            if (cp->ev_metrics[ev] & mask)
                cp->ev_ladders[ev] |= 1u << l;
    }
    return 0;
}

uint64_t eng_prog_partner_mask(const eng_prog *cp, const td_partner *p)
{
    uint64_t mask = 0;
    if (!cp->p)
        return 0;
    for (size_t l = 0; l < cp->p->n_ladders; l++)
        if (p->ladders & (1u << l))
            mask |= cp->ladder_mask[l];
    return mask;
}

/* The stream metric m reads for p, or NULL when p has none. */
static const metric_stream *stream_of(const eng_prog *cp, const td_partner *p, size_t m)
{
    int ev = cp->metric_ev[m];
    return ev >= 0 && (uint32_t)ev < p->n_streams ? &p->streams[ev] : NULL;
}

void eng_prog_values(const eng_prog *cp, const td_partner *p, uint64_t mask, td_time t,
                     double *values)
{
    for (size_t i = 0; i < TD_MAX_METRICS; i++)
        values[i] = NAN;
    const program *prog = cp->p;
    for (size_t m = 0; m < prog->n_metrics; m++) {
        const metric_def *d = &prog->metrics[m];
        if (!(mask & (1ull << m)) || d->agg == AGG_SCORE)
            continue;
        values[m] = metric_stream_value(stream_of(cp, p, m), d->agg, &d->window, t);
    }
    for (size_t m = 0; m < prog->n_metrics; m++) {
        const metric_def *d = &prog->metrics[m];
        if (!(mask & (1ull << m)) || d->agg != AGG_SCORE)
            continue;
        double score = 0;
        for (size_t i = 0; i < d->n_terms; i++) {
            const score_term *st = &d->terms[i];
            double v = values[st->metric];
            if (!(mask & (1ull << st->metric)) || isnan(v) || st->target == 0)
                continue;
            double r = v / st->target;
            score += st->weight * (r < 0 ? 0 : r > 1 ? 1 : r);
        }
        values[m] = score > SCORE_FULL ? SCORE_FULL : score;
    }
}

td_time eng_prog_next_due(const eng_prog *cp, const td_partner *p, uint64_t mask, td_time t)
{
    const program *prog = cp->p;
    td_time due = TD_TIME_NONE;
    for (size_t m = 0; m < prog->n_metrics; m++) {
        const metric_stream *s = stream_of(cp, p, m);
        if (!(mask & (1ull << m)) || !s)
            continue;
        td_time d = metric_stream_next_due(s, &prog->metrics[m].window, t);
        if (d != TD_TIME_NONE && (due == TD_TIME_NONE || d < due))
            due = d;
    }
    return due;
}

td_time eng_prog_horizon(const eng_prog *cp, int ev, td_time now)
{
    td_time h = now - (td_time)cp->ev_days[ev] * TD_SECONDS_PER_DAY;
    if (cp->ev_flags[ev] & EVF_QUARTER) {
        td_time q = td_quarter_start(now) - 1;
        h = q < h ? q : h;
    }
    if (cp->ev_flags[ev] & EVF_YEAR) {
        td_time y = td_year_start(now) - 1;
        h = y < h ? y : h;
    }
    return h;
}
