/* What-if (whatif.h): simulate a candidate program, audit the partners
 * against the program in force, calibrate thresholds from the data.
 *
 * Simulate walks the partners with a forecast (forecast.c), the very rows
 * engine_program_impact sums, so its answer is what loading the candidate
 * does. Audit reads each partner's values at now, the qualifying tier
 * (criteria.c) and the gaps to the next tier exactly as explain shows them
 * (explain_gaps). Calibrate looks at one ladder: per partner the metric's
 * value and, per tier, whether the tier's `when` holds with the comparison
 * being calibrated forced true and forced false; the count at a tier or
 * above is then a monotone function of the threshold, and the threshold is
 * the quantile that gives the target count. It builds the candidate by
 * copying the program in force shallowly, with new `when` trees and texts
 * for the calibrated ladder only, and simulates it.
 *
 * Reads only: the engine's sorted view may be rebuilt, nothing else moves.
 *
 * Place in the engine's line (tests/unit/test_engine_layers.sh): last,
 * above versions, forecast and explain; calls down only. */
#include "whatif.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "criteria.h"
#include "explain.h"
#include "forecast.h"
#include "grow.h"
#include "text.h"

#define WHATIF_MIN_ROWS   64
#define NUMBER_MAX_DIGITS 15 /* exact in a double, so the parser reads back the same value */
#define NUMBER_MAX_FRAC   15
#define NUMBER_BUF        48
#define FRAGMENT_MIN_CAP  1024
#define APPEND_TEXT_EXTRA (TD_MAX_NAME + NUMBER_BUF + 16)
#define TIER_LIST_MAX     (TD_MAX_TIERS * (TD_MAX_NAME + 2) + 1)

/* ---- paging ---- */

/* Grows *rows to hold need entries of size elem; -1 out of memory. */
static int rows_room(void **rows, size_t *cap, size_t need, size_t elem)
{
    void *r = td_grow(*rows, cap, need, elem, WHATIF_MIN_ROWS);
    if (!r)
        return -1;
    *rows = r;
    return 0;
}

/* ---- simulate ---- */

static void counts_init(td_tier_counts *c, size_t *n, const program *p)
{
    *n = p ? p->n_ladders : 0;
    for (size_t l = 0; l < *n; l++) {
        memset(&c[l], 0, sizeof c[l]);
        c[l].ladder = &p->ladders[l];
    }
}

static bool row_reports(const td_forecast *r)
{
    return r->outcome != TD_OUTCOME_UNCHANGED || r->queued;
}

/* Adds p to the summary: held under the program in force, then its rows. */
static void sim_summary_add(forecast *f, const td_partner *p, td_simulation *out)
{
    const program *old = f->e->prog;
    for (size_t l = 0; old && p->tiers && l < old->n_ladders; l++)
        if (p->ladders & (1u << l))
            out->before[l].counts[ts_effective(&p->tiers[l]) + 1]++;
    td_forecast rows[FORECAST_MAX_ROWS];
    size_t n = forecast_partner(f, p, rows);
    for (size_t i = 0; i < n; i++) {
        forecast_sum(&out->sums, &rows[i]);
        if (rows[i].ladder_index < 0)
            continue;
        out->after[rows[i].ladder_index].counts[rows[i].after_index + 1]++;
        out->qualifying[rows[i].ladder_index].counts[rows[i].qualifying_index + 1]++;
    }
}

/* Appends p's rows the page wants; -1 out of memory. */
static int sim_rows_add(forecast *f, const td_partner *p, const td_page *pg, td_simulation *out,
                        size_t *cap)
{
    td_forecast rows[FORECAST_MAX_ROWS];
    size_t n = forecast_partner(f, p, rows);
    if (rows_room((void **)&out->rows, cap, out->n_rows + n, sizeof *out->rows) != 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (pg->all_rows || row_reports(&rows[i]))
            out->rows[out->n_rows++] = rows[i];
    return 0;
}

void engine_simulation_free(td_simulation *s)
{
    free(s->rows);
    memset(s, 0, sizeof *s);
}

int engine_simulate(engine *e, const program *np, td_time at, const td_page *pg, td_simulation *out,
                    td_error *err)
{
    memset(out, 0, sizeof *out);
    out->at = at;
    out->sums =
        (td_impact){.at = at, .first_demotion = TD_TIME_NONE, .last_demotion = TD_TIME_NONE};
    counts_init(out->before, &out->n_before, e->prog);
    counts_init(out->after, &out->n_after, np);
    memcpy(out->qualifying, out->after, sizeof out->after);
    const td_partner *one = NULL;
    if (pg->partner && !(one = engine_partner_find(e, pg->partner)))
        return td_error_set(err, TD_NOT_FOUND, "no partner '%s'",
                            td_text_ok(pg->partner, TD_MAX_ID) ? pg->partner : "(invalid)");
    if (!one && pg->limit && engine_sorted_rebuild(e) != 0)
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "simulating: out of memory");
    forecast f;
    if (forecast_begin(e, np, at, &f) != 0)
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "simulating: out of memory");
    int rc = 0;
    if (pg->summary) {
        const td_partner *p;
        if (one)
            sim_summary_add(&f, one, out);
        else
            PMAP_FOREACH(&e->map, p)
                sim_summary_add(&f, p, out);
    }
    size_t cap = 0;
    if (pg->limit && one) {
        rc = sim_rows_add(&f, one, pg, out, &cap);
    } else if (pg->limit) {
        for (size_t i = engine_sorted_after(e, pg->after); rc == 0 && i < e->n_sorted; i++) {
            if (out->n_rows >= pg->limit) {
                out->next = e->sorted[i - 1]->id;
                break;
            }
            rc = sim_rows_add(&f, e->sorted[i], pg, out, &cap);
        }
    }
    forecast_end(&f);
    if (rc != 0) {
        engine_simulation_free(out);
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "simulating: out of memory");
    }
    return 0;
}

/* ---- audit ---- */

/* Whether every gap is within `near` of its threshold (relative, as explain
 * measures the closest branch): a metric with no value never is. */
static bool near_miss(const td_criterion *gaps, size_t n, double near)
{
    if (!n)
        return false;
    for (size_t i = 0; i < n; i++) {
        double t = fabs(gaps[i].threshold), m = gaps[i].missing;
        if (isnan(m) || m / (t > 0 ? t : 1) > near)
            return false;
    }
    return true;
}

/* Audits p on ladder l into *row (gaps owned by it). -1 out of memory. */
static int audit_one(const engine *e, const td_partner *p, size_t l, double near, td_time now,
                     td_audit_row *row)
{
    const program *prog = e->prog;
    const ladder_def *ld = &prog->ladders[l];
    const tier_state *ts = &p->tiers[l];
    double values[TD_MAX_METRICS];
    eng_prog_values(&e->cp, p, e->cp.ladder_mask[l], now, values);
    int q = criteria_qualify(ld, values);
    int eff = ts_effective(ts);
    memset(row, 0, sizeof *row);
    row->partner = p->id;
    row->ladder = ld->name;
    row->held = ladder_tier_name(ld, eff);
    row->qualifying = ladder_tier_name(ld, q);
    row->overridden = ts_overridden(ts);
    if (row->overridden) {
        row->override_tier = ladder_tier_name(ld, ts->override_tier);
        if (ts->override_tier != q)
            row->flags |= 1u << TD_AUDIT_OVERRIDE_STALE;
    } else if (eff > q) {
        row->flags |= 1u << TD_AUDIT_HELD_ABOVE;
    } else if (eff < q) {
        row->flags |= 1u << TD_AUDIT_HELD_BELOW;
    }
    if (ld->gate && !expr_eval(ld->gate, values))
        row->flags |= 1u << TD_AUDIT_GATE_FAILING;
    if ((size_t)(q + 1) < ld->n_tiers) {
        row->next_tier = ld->tiers[q + 1].name;
        if (explain_gaps(prog, ld, q + 1, values, &row->gaps, &row->n_gaps) != 0)
            return -1;
        if (near_miss(row->gaps, row->n_gaps, near))
            row->flags |= 1u << TD_AUDIT_NEAR_MISS;
    }
    return 0;
}

static void audit_count(td_audit_counts *c, unsigned flags)
{
    c->partners++;
    if (!flags)
        c->in_line++;
    for (int k = 0; k < TD_AUDIT_KINDS; k++)
        c->kinds[k] += (flags >> k) & 1u;
}

/* Audits p's ladders in sel: counted when counts, kept as rows when rows
 * (then *cap is the rows' capacity). -1 out of memory. */
static int audit_partner(const engine *e, const td_partner *p, uint32_t sel, double near,
                         td_time now, td_audit *out, bool counts, const td_page *rows, size_t *cap)
{
    const program *prog = e->prog;
    for (size_t l = 0; p->tiers && l < prog->n_ladders; l++) {
        if (!(sel & p->ladders & (1u << l)))
            continue;
        td_audit_row row;
        if (audit_one(e, p, l, near, now, &row) != 0)
            return -1;
        if (counts) {
            audit_count(&out->ladders[l], row.flags);
            audit_count(&out->total, row.flags);
        }
        if (rows && (row.flags || rows->all_rows)) {
            if (rows_room((void **)&out->rows, cap, out->n_rows + 1, sizeof *out->rows) != 0) {
                free(row.gaps);
                return -1;
            }
            out->rows[out->n_rows++] = row;
        } else {
            free(row.gaps);
        }
    }
    return 0;
}

void engine_audit_free(td_audit *a)
{
    for (size_t i = 0; a->rows && i < a->n_rows; i++)
        free(a->rows[i].gaps);
    free(a->rows);
    memset(a, 0, sizeof *a);
}

int engine_audit(engine *e, const char *ladder, double near, td_time now, const td_page *pg,
                 td_audit *out, td_error *err)
{
    memset(out, 0, sizeof *out);
    out->at = now;
    out->near = near;
    const program *prog = e->prog;
    if (!prog)
        return td_error_set(err, TD_FAILED_PRECONDITION, "no program loaded");
    if (!(near >= 0 && near <= 1))
        return td_error_set(err, TD_INVALID_ARGUMENT, "near must be a share from 0%% to 100%%");
    uint32_t sel = UINT32_MAX;
    if (ladder && *ladder) {
        int l = program_ladder_index(prog, ladder);
        if (l < 0)
            return td_error_set(err, TD_NOT_FOUND, "unknown ladder '%s'",
                                td_text_ok(ladder, TD_MAX_NAME) ? ladder : "(invalid)");
        sel = 1u << l;
    }
    out->n_ladders = prog->n_ladders;
    for (size_t l = 0; l < prog->n_ladders; l++)
        out->ladders[l].ladder = prog->ladders[l].name;
    const td_partner *one = NULL;
    if (pg->partner && !(one = engine_partner_find(e, pg->partner)))
        return td_error_set(err, TD_NOT_FOUND, "no partner '%s'",
                            td_text_ok(pg->partner, TD_MAX_ID) ? pg->partner : "(invalid)");
    if (!one && pg->limit && engine_sorted_rebuild(e) != 0)
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "auditing: out of memory");
    int rc = 0;
    size_t cap = 0;
    if (one) {
        rc = audit_partner(e, one, sel, near, now, out, pg->summary, pg->limit ? pg : NULL, &cap);
    } else {
        if (pg->summary) {
            const td_partner *p;
            PMAP_FOREACH(&e->map, p) {
                if ((rc = audit_partner(e, p, sel, near, now, out, true, NULL, NULL)) != 0)
                    break;
            }
        }
        for (size_t i = engine_sorted_after(e, pg->after); rc == 0 && pg->limit && i < e->n_sorted;
             i++) {
            if (out->n_rows >= pg->limit) {
                out->next = e->sorted[i - 1]->id;
                break;
            }
            rc = audit_partner(e, e->sorted[i], sel, near, now, out, false, pg, &cap);
        }
    }
    if (rc != 0) {
        engine_audit_free(out);
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "auditing: out of memory");
    }
    return 0;
}

/* ---- calibrate: the candidate program ---- */

/* The program in force with one ladder's tiers replaced: everything else is
 * borrowed, so it must never reach program_free. */
typedef struct candidate {
    program p;
    ladder_def *ladders; /* own copy of the array */
    tier_def *tiers;     /* own copy of the calibrated ladder's tiers */
    size_t n_tiers;
} candidate;

static void candidate_free(candidate *c)
{
    if (!c)
        return;
    for (size_t t = 0; c->tiers && t < c->n_tiers; t++) {
        expr_free(c->tiers[t].when);
        free(c->tiers[t].when_src);
    }
    free(c->tiers);
    free(c->ladders);
    free(c);
}

/* A copy of x in which `node` (a comparison in x) compares with threshold
 * `th`; NULL out of memory (*oom set) or for a NULL x. */
static expr *expr_clone(const expr *x, const expr *node, double th, bool *oom)
{
    if (!x || *oom)
        return NULL;
    expr *c = malloc(sizeof *c);
    if (!c) {
        *oom = true;
        return NULL;
    }
    *c = *x;
    c->a = expr_clone(x->a, node, th, oom);
    c->b = expr_clone(x->b, node, th, oom);
    if (x == node)
        c->threshold = th;
    if (*oom) {
        expr_free(c);
        return NULL;
    }
    return c;
}

/* ---- calibrate: numbers a program file reads back exactly ---- */

/* The value expr.c's lexer gives the plain decimal s (digits, one '.'). */
static double lexed_value(const char *s)
{
    bool neg = *s == '-';
    double mant = 0, scale = 1;
    bool frac = false;
    for (s += neg; *s; s++) {
        if (*s == '.') {
            frac = true;
            continue;
        }
        mant = mant * 10 + (*s - '0');
        if (frac)
            scale *= 10;
    }
    double v = mant / scale;
    return neg ? -v : v;
}

static int digits_in(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s >= '0' && *s <= '9';
    return n;
}

/* v as the shortest plain decimal the expression parser reads back as the
 * same double; failing that (more than NUMBER_MAX_DIGITS digits) the
 * closest one on the side `down` says (at or below v, else at or above),
 * so a rounded threshold lets in no partner the exact one keeps out, or
 * the other way round. Returns the value the text stands for. */
static double number_text(double v, bool down, char *buf, size_t n)
{
    char best[NUMBER_BUF] = "0";
    double scale = 1;
    for (int prec = 0; prec <= NUMBER_MAX_FRAC; prec++, scale *= 10) {
        double r = down ? floor(v * scale) : ceil(v * scale);
        char b[NUMBER_BUF];
        for (int step = 0; step < 3; step++) {
            snprintf(b, sizeof b, "%.*f", prec, r / scale);
            double got = lexed_value(b);
            if (down ? got <= v : got >= v)
                break;
            r += down ? -1 : 1; /* v * scale rounded the wrong way */
        }
        if (digits_in(b) > NUMBER_MAX_DIGITS)
            break;
        snprintf(best, sizeof best, "%s", b);
        if (lexed_value(b) == v)
            break;
    }
    if (strcmp(best, "-0") == 0)
        snprintf(best, sizeof best, "0");
    snprintf(buf, n, "%s", best);
    return lexed_value(best);
}

/* ---- calibrate: the data ---- */

/* Per tier, the comparison calibrated (NULL: one is appended). */
typedef struct calib_plan {
    const ladder_def *ld;
    int l;
    int metric;
    const expr *node[TD_MAX_TIERS];
} calib_plan;

/* One partner on the ladder: the metric's value, the gate, and per tier
 * (bit t) whether `when` holds with the calibrated comparison forced true
 * (a) and forced false (b). b implies a: the comparison is not negated. */
typedef struct calib_row {
    double v;
    uint32_t a, b;
    bool gate;
} calib_row;

static bool eval_forced(const expr *x, const double *values, const expr *node, bool forced)
{
    if (!x)
        return true;
    if (x == node)
        return forced;
    switch (x->kind) {
    case EXPR_CMP:
        return cmp_holds(x->op, values[x->metric], x->threshold);
    case EXPR_AND:
        return eval_forced(x->a, values, node, forced) && eval_forced(x->b, values, node, forced);
    case EXPR_OR:
        return eval_forced(x->a, values, node, forced) || eval_forced(x->b, values, node, forced);
    case EXPR_NOT:
        return !eval_forced(x->a, values, node, forced);
    }
    return false;
}

/* The >=/> comparisons on metric m outside any `not`, counted; the first
 * kept in *found. */
static size_t find_calibrated(const expr *x, int m, bool neg, const expr **found)
{
    if (!x)
        return 0;
    if (x->kind == EXPR_CMP) {
        if (neg || x->metric != m || (x->op != CMP_GE && x->op != CMP_GT))
            return 0;
        if (!*found)
            *found = x;
        return 1;
    }
    if (x->kind == EXPR_NOT)
        return find_calibrated(x->a, m, !neg, found);
    return find_calibrated(x->a, m, neg, found) + find_calibrated(x->b, m, neg, found);
}

static void count_metric(void *ud, int m)
{
    *(uint64_t *)ud |= 1ull << m;
}

/* The metric most tiers' `when` read, or -1 with err set. */
static int default_metric(const program *prog, const ladder_def *ld, td_error *err)
{
    int tiers_reading[TD_MAX_METRICS] = {0};
    for (size_t t = 0; t < ld->n_tiers; t++) {
        uint64_t mask = 0;
        expr_metrics(ld->tiers[t].when, count_metric, &mask);
        for (size_t m = 0; m < prog->n_metrics; m++)
            tiers_reading[m] += (int)((mask >> m) & 1u);
    }
    int best = -1, ties = 0;
    for (size_t m = 0; m < prog->n_metrics; m++) {
        if (!tiers_reading[m])
            continue;
        if (best < 0 || tiers_reading[m] > tiers_reading[best]) {
            best = (int)m;
            ties = 0;
        } else if (tiers_reading[m] == tiers_reading[best]) {
            ties++;
        }
    }
    if (best < 0) {
        td_error_set(err, TD_INVALID_ARGUMENT,
                     "ladder %s: no tier's `when` reads a metric; name one with --metric",
                     ld->name);
        return -1;
    }
    if (ties) {
        char names[TIER_LIST_MAX] = "";
        size_t used = 0;
        for (size_t m = 0; m < prog->n_metrics && used < sizeof names; m++)
            if (tiers_reading[m] == tiers_reading[best])
                used += (size_t)snprintf(names + used, sizeof names - used, "%s%s",
                                         used ? ", " : "", prog->metrics[m].name);
        td_error_set(err, TD_INVALID_ARGUMENT,
                     "ladder %s: metrics %s each appear in %d tiers; choose one with --metric",
                     ld->name, names, tiers_reading[best]);
        return -1;
    }
    return best;
}

/* Checks the targets against ld: shares[t] (percent) per tier and
 * *unranked. -1 with err naming the problem. */
static int check_targets(const ladder_def *ld, const td_calib_target *targets, size_t n,
                         double *shares, double *unranked, td_error *err)
{
    bool named[TD_MAX_TIERS] = {false}, unranked_named = false;
    double sum = 0;
    *unranked = 0;
    if (n == 0)
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "no target: give a share for every tier of ladder %s", ld->name);
    for (size_t i = 0; i < n; i++) {
        const char *name = targets[i].tier;
        double pc = targets[i].percent;
        if (!name || !td_text_ok(name, TD_MAX_NAME))
            return td_error_set(err, TD_INVALID_ARGUMENT,
                                "target %zu: a tier name must be 1 to %d bytes of text", i + 1,
                                TD_MAX_NAME);
        if (!(pc >= 0 && pc <= 100))
            return td_error_set(err, TD_INVALID_ARGUMENT,
                                "target %s: share %g%% is not between 0%% and 100%%", name, pc);
        bool *seen;
        if (strcmp(name, TD_CALIB_UNRANKED) == 0) {
            seen = &unranked_named;
            *unranked = pc;
        } else {
            int t = ladder_tier_index(ld, name);
            if (t < 0)
                return td_error_set(err, TD_INVALID_ARGUMENT, "target %s: ladder %s has no tier %s",
                                    name, ld->name, name);
            seen = &named[t];
            shares[t] = pc;
        }
        if (*seen)
            return td_error_set(err, TD_INVALID_ARGUMENT, "target %s: named twice", name);
        *seen = true;
        sum += pc;
    }
    char missing[TIER_LIST_MAX] = "";
    size_t used = 0;
    for (size_t t = 0; t < ld->n_tiers && used < sizeof missing; t++)
        if (!named[t])
            used += (size_t)snprintf(missing + used, sizeof missing - used, "%s%s",
                                     used ? ", " : "", ld->tiers[t].name);
    if (used)
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "targets name no share for tier%s %s of ladder %s (every tier needs "
                            "one, 0%% allowed)",
                            strchr(missing, ',') ? "s" : "", missing, ld->name);
    if (fabs(sum - 100) > TD_CALIB_SUM_TOLERANCE)
        return td_error_set(err, TD_INVALID_ARGUMENT, "target shares add up to %g%%, not 100%%",
                            sum);
    return 0;
}

/* Reads every partner on the plan's ladder; *rows malloc'd. -1 OOM. */
static int calib_read(const engine *e, const calib_plan *pl, td_time now, calib_row **rows,
                      size_t *n)
{
    size_t cap = 0;
    *rows = NULL;
    *n = 0;
    const td_partner *p;
    PMAP_FOREACH(&e->map, p) {
        if (!(p->ladders & (1u << pl->l)) || !p->tiers)
            continue;
        if (rows_room((void **)rows, &cap, *n + 1, sizeof **rows) != 0)
            return -1;
        double values[TD_MAX_METRICS];
        eng_prog_values(&e->cp, p, UINT64_MAX, now, values);
        calib_row *r = &(*rows)[(*n)++];
        *r = (calib_row){.v = values[pl->metric],
                         .gate = !pl->ld->gate || expr_eval(pl->ld->gate, values)};
        for (size_t t = 0; t < pl->ld->n_tiers; t++) {
            const expr *w = pl->ld->tiers[t].when;
            if (pl->node[t]) {
                r->a |= (uint32_t)eval_forced(w, values, pl->node[t], true) << t;
                r->b |= (uint32_t)eval_forced(w, values, pl->node[t], false) << t;
            } else {
                /* `when and METRIC >= X`: the comparison decides when `when` holds. */
                r->a |= (uint32_t)(!w || expr_eval(w, values)) << t;
            }
        }
    }
    return 0;
}

static int cmp_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* A threshold none of cand (sorted descending, cand[0] the largest) meets. */
static double above_all(double top, cmp_op op)
{
    return op == CMP_GT ? top : top + fmax(1, fabs(top) * 1e-9);
}

/* The threshold that puts `need` of cand (sorted descending, nc of them)
 * over `op`, or the nearest it can (`fallback` when there are none); a note
 * says when it cannot. */
static double pick_threshold(const double *cand, size_t nc, int64_t need, cmp_op op,
                             double fallback, char *note, size_t note_n)
{
    if (nc == 0) {
        if (need > 0)
            snprintf(note, note_n, "no partner can reach this tier: %lld short", (long long)need);
        return fallback;
    }
    if (need <= 0) {
        if (need < 0)
            snprintf(note, note_n,
                     "%lld more than the target qualify whatever the threshold on this metric",
                     (long long)-need);
        return above_all(cand[0], op);
    }
    if ((size_t)need > nc) {
        snprintf(note, note_n, "only %zu more can reach it: %lld short", nc,
                 (long long)need - (long long)nc);
        need = (int64_t)nc;
    }
    if (op == CMP_GE)
        return cand[need - 1];
    return (size_t)need < nc ? cand[need] : cand[nc - 1] - fmax(1, fabs(cand[nc - 1]) * 1e-9);
}

/* ---- calibrate: the proposal ---- */

/* Tier t has no comparison on the metric and its target takes every
 * partner that meets the rest: leave its `when` alone (ct->kept) and let
 * everyone meeting it in, also those with no value for the metric. */
static void calib_keep(const calib_row *rows, size_t n, size_t t, bool cumulative, double floor,
                       bool *in, td_calib_tier *ct)
{
    ct->kept = true;
    ct->threshold = floor; /* only bounds the next tier's */
    ct->reached = 0;
    for (size_t i = 0; i < n; i++) {
        const calib_row *r = &rows[i];
        bool at = (t == 0 || r->gate) && (((r->b >> t) & 1u) || ((r->a >> t) & 1u));
        in[i] = cumulative ? in[i] && at : in[i] || at;
        ct->reached += in[i];
    }
    if (ct->reached < ct->target)
        snprintf(ct->note, sizeof ct->note, "only %llu can reach it: %llu short",
                 (unsigned long long)ct->reached, (unsigned long long)(ct->target - ct->reached));
}

/* The thresholds, tier by tier: up the ladder when it is cumulative (a tier
 * needs every lower one, so a tier's candidates are the partners still in
 * at the tier below), down it otherwise (a partner at a higher tier is at
 * this tier or above already). Fills out->tiers. -1 out of memory. */
static int calib_solve(const calib_plan *pl, const calib_row *rows, size_t n, bool cumulative,
                       const uint64_t *target, td_calibration *out)
{
    const ladder_def *ld = pl->ld;
    size_t T = ld->n_tiers;
    double *cand = malloc((n ? n : 1) * sizeof *cand);
    bool *in = calloc(n ? n : 1, sizeof *in);
    if (!cand || !in) {
        free(cand);
        free(in);
        return -1;
    }
    for (size_t i = 0; cumulative && i < n; i++)
        in[i] = true; /* still in the running at the tier below */
    for (size_t k = 0; k < T; k++) {
        size_t t = cumulative ? k : T - 1 - k;
        td_calib_tier *ct = &out->tiers[t];
        const expr *node = pl->node[t];
        cmp_op op = node ? node->op : CMP_GE;
        uint64_t fixed = 0;
        size_t nc = 0;
        for (size_t i = 0; i < n; i++) {
            const calib_row *r = &rows[i];
            bool gate_ok = t == 0 || r->gate;
            if (cumulative ? !in[i] || !gate_ok : !in[i] && !gate_ok)
                continue;
            if ((!cumulative && in[i]) || ((r->b >> t) & 1u))
                fixed++;
            else if (((r->a >> t) & 1u) && !isnan(r->v))
                cand[nc++] = r->v;
        }
        qsort(cand, nc, sizeof *cand, cmp_desc);
        bool has_bound = cumulative ? t > 0 : t + 1 < T;
        double bound = has_bound ? out->tiers[cumulative ? t - 1 : t + 1].threshold : 0;
        ct->op = op;
        ct->target = target[t];
        if (!node && (int64_t)target[t] - (int64_t)fixed >= (int64_t)nc) {
            calib_keep(rows, n, t, cumulative, nc ? cand[nc - 1] : bound, in, ct);
            continue;
        }
        double x = pick_threshold(cand, nc, (int64_t)target[t] - (int64_t)fixed, op,
                                  has_bound ? bound
                                  : node    ? node->threshold
                                            : 0,
                                  ct->note, sizeof ct->note);
        if (has_bound && (cumulative ? x < bound : x > bound)) {
            if (!ct->note[0])
                snprintf(ct->note, sizeof ct->note,
                         "%s to %s's threshold: thresholds never decrease up the ladder",
                         cumulative ? "raised" : "lowered",
                         ld->tiers[cumulative ? t - 1 : t + 1].name);
            x = bound;
        }
        char text[NUMBER_BUF];
        ct->threshold = number_text(x, op == CMP_GE, text, sizeof text);
        ct->appended = !node;
        ct->reached = fixed;
        for (size_t c = 0; c < nc; c++)
            ct->reached += cmp_holds(op, cand[c], ct->threshold);
        if (!ct->note[0] && ct->reached > ct->target)
            snprintf(ct->note, sizeof ct->note,
                     "%llu over the target: partners tie at the threshold",
                     (unsigned long long)(ct->reached - ct->target));
        for (size_t i = 0; i < n; i++) {
            const calib_row *r = &rows[i];
            bool at =
                (t == 0 || r->gate) &&
                (((r->b >> t) & 1u) || (((r->a >> t) & 1u) && cmp_holds(op, r->v, ct->threshold)));
            in[i] = cumulative ? in[i] && at : in[i] || at;
        }
    }
    free(cand);
    free(in);
    return 0;
}

static bool ident_char(char c)
{
    return c && c != ' ' && c != '\t' && c != '\n' && c != '\r' && !strchr("<>=!()", c);
}

/* td's `when` with the calibrated comparison's number replaced by num (or
 * `and METRIC >= num` appended); NULL out of memory or when the source
 * does not have the comparison where the tree says. */
static char *rewrite_when(const tier_def *td, const expr *node, const char *metric, const char *num)
{
    const char *src = td->when_src;
    char *out;
    if (!node) {
        size_t n = (src ? strlen(src) : 0) + APPEND_TEXT_EXTRA;
        if (!(out = malloc(n)))
            return NULL;
        if (!src || !td->when)
            snprintf(out, n, "%s >= %s", metric, num);
        else if (td->when->kind == EXPR_OR)
            snprintf(out, n, "(%s) and %s >= %s", src, metric, num);
        else
            snprintf(out, n, "%s and %s >= %s", src, metric, num);
        return out;
    }
    size_t len = src ? strlen(src) : 0, i = (size_t)(node->column - 1);
    if (!src || node->column < 1 || i >= len || strncmp(src + i, metric, strlen(metric)) != 0)
        return NULL;
    while (ident_char(src[i]))
        i++;
    while (src[i] == ' ' || src[i] == '\t')
        i++;
    while (src[i] && strchr("<>=!", src[i]))
        i++;
    while (src[i] == ' ' || src[i] == '\t')
        i++;
    size_t start = i;
    if (src[i] == '-')
        i++;
    while ((src[i] >= '0' && src[i] <= '9') || src[i] == '.')
        i++;
    if (src[i] == 'k' || src[i] == 'M' || src[i] == '%')
        i++;
    if (i == start)
        return NULL;
    size_t n = len - (i - start) + strlen(num) + 1;
    if (!(out = malloc(n)))
        return NULL;
    snprintf(out, n, "%.*s%s%s", (int)start, src, num, src + i);
    return out;
}

/* Builds the candidate: the program in force with ladder pl->l's `when`
 * trees and texts carrying the proposed thresholds. NULL out of memory. */
static candidate *candidate_build(const program *prog, const calib_plan *pl, td_calibration *out)
{
    candidate *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    const ladder_def *ld = pl->ld;
    c->p = *prog;
    c->ladders = malloc(prog->n_ladders * sizeof *c->ladders);
    c->tiers = malloc((ld->n_tiers ? ld->n_tiers : 1) * sizeof *c->tiers);
    if (!c->ladders || !c->tiers) {
        candidate_free(c);
        return NULL;
    }
    memcpy(c->ladders, prog->ladders, prog->n_ladders * sizeof *c->ladders);
    memcpy(c->tiers, ld->tiers, ld->n_tiers * sizeof *c->tiers);
    for (size_t t = 0; t < ld->n_tiers; t++)
        c->tiers[t].when = NULL, c->tiers[t].when_src = NULL;
    c->n_tiers = ld->n_tiers;
    c->p.ladders = c->ladders;
    c->ladders[pl->l].tiers = c->tiers;
    c->ladders[pl->l].metric_mask |= 1ull << pl->metric;
    const char *mname = prog->metrics[pl->metric].name;
    for (size_t t = 0; t < ld->n_tiers; t++) {
        const tier_def *td = &ld->tiers[t];
        td_calib_tier *ct = &out->tiers[t];
        char num[NUMBER_BUF];
        number_text(ct->threshold, true, num, sizeof num);
        bool oom = false;
        expr *w = expr_clone(td->when, pl->node[t], ct->threshold, &oom);
        if (ct->kept) {
            c->tiers[t].when = w;
            c->tiers[t].when_src = td->when_src ? strdup(td->when_src) : NULL;
            ct->when = td->when_src ? strdup(td->when_src) : NULL;
            if (oom || (td->when_src && (!c->tiers[t].when_src || !ct->when))) {
                candidate_free(c);
                return NULL;
            }
            continue;
        }
        if (!pl->node[t] && !oom) {
            expr *cmpx = calloc(1, sizeof *cmpx);
            expr *and = w ? calloc(1, sizeof *and) : NULL;
            if (!cmpx || (w && !and)) {
                free(cmpx);
                free(and);
                oom = true;
            } else {
                *cmpx = (expr){.kind = EXPR_CMP,
                               .metric = pl->metric,
                               .op = CMP_GE,
                               .threshold = ct->threshold,
                               .column = 1};
                if (and) {
                    *and = (expr){.kind = EXPR_AND, .a = w, .b = cmpx, .column = 1};
                    w = and;
                } else {
                    w = cmpx;
                }
            }
        }
        c->tiers[t].when = w;
        c->tiers[t].when_src = rewrite_when(td, pl->node[t], mname, num);
        ct->when = c->tiers[t].when_src ? strdup(c->tiers[t].when_src) : NULL;
        if (oom || !c->tiers[t].when_src || !ct->when) {
            candidate_free(c);
            return NULL;
        }
    }
    return c;
}

/* Appends s to the growing text *buf; -1 out of memory. */
static int text_add(char **buf, size_t *len, size_t *cap, const char *s)
{
    size_t n = strlen(s);
    char *b = td_grow(*buf, cap, *len + n + 1, 1, FRAGMENT_MIN_CAP);
    if (!b)
        return -1;
    *buf = b;
    memcpy(b + *len, s, n + 1);
    *len += n;
    return 0;
}

/* s as a YAML double-quoted scalar. */
static int text_quoted(char **buf, size_t *len, size_t *cap, const char *s)
{
    int rc = text_add(buf, len, cap, "\"");
    for (; rc == 0 && *s; s++) {
        char one[3] = {*s, 0, 0};
        if (*s == '"' || *s == '\\')
            one[0] = '\\', one[1] = *s;
        rc = text_add(buf, len, cap, one);
    }
    return rc ? rc : text_add(buf, len, cap, "\"");
}

/* The ladder's tiers as they would stand in the program file. */
static char *fragment_build(const ladder_def *ld, const td_calibration *out)
{
    char *buf = NULL, line[TD_MAX_NAME * 2 + 128];
    size_t len = 0, cap = 0;
    snprintf(line, sizeof line,
             "    tiers:   # ladder %s: thresholds on %s for %llu partners (tierctl calibrate)\n",
             ld->name, out->metric, (unsigned long long)out->partners);
    int rc = text_add(&buf, &len, &cap, line);
    for (size_t t = 0; rc == 0 && t < ld->n_tiers; t++) {
        const tier_def *td = &ld->tiers[t];
        rc = text_add(&buf, &len, &cap, "      - name: ");
        rc = rc ? rc : text_quoted(&buf, &len, &cap, td->name);
        rc = rc ? rc : text_add(&buf, &len, &cap, "\n        when: ");
        rc = rc ? rc : text_quoted(&buf, &len, &cap, out->tiers[t].when);
        rc = rc ? rc : text_add(&buf, &len, &cap, "\n");
        if (rc == 0 && td->n_benefits) {
            rc = text_add(&buf, &len, &cap, "        benefits: [");
            for (size_t b = 0; rc == 0 && b < td->n_benefits; b++) {
                rc = b ? text_add(&buf, &len, &cap, ", ") : 0;
                rc = rc ? rc : text_quoted(&buf, &len, &cap, td->benefits[b]);
            }
            rc = rc ? rc : text_add(&buf, &len, &cap, "]\n");
        }
    }
    if (rc != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

void engine_calibration_free(td_calibration *c)
{
    for (size_t t = 0; t < c->n_tiers; t++)
        free(c->tiers[t].when);
    free(c->fragment);
    engine_simulation_free(&c->sim);
    candidate_free(c->candidate);
    memset(c, 0, sizeof *c);
}

/* The ladder, the metric and the comparison per tier; -1 with err set. */
static int calib_plan_make(const program *prog, const char *ladder, const char *metric,
                           calib_plan *pl, td_error *err)
{
    memset(pl, 0, sizeof *pl);
    if (!ladder || !*ladder)
        return td_error_set(err, TD_INVALID_ARGUMENT, "name the ladder to calibrate");
    pl->l = program_ladder_index(prog, ladder);
    if (pl->l < 0)
        return td_error_set(err, TD_INVALID_ARGUMENT, "unknown ladder '%s'",
                            td_text_ok(ladder, TD_MAX_NAME) ? ladder : "(invalid)");
    pl->ld = &prog->ladders[pl->l];
    if (metric && *metric) {
        pl->metric = program_metric_index(prog, metric);
        if (pl->metric < 0)
            return td_error_set(err, TD_INVALID_ARGUMENT, "unknown metric '%s'",
                                td_text_ok(metric, TD_MAX_NAME) ? metric : "(invalid)");
    } else if ((pl->metric = default_metric(prog, pl->ld, err)) < 0) {
        return -(int)err->code;
    }
    for (size_t t = 0; t < pl->ld->n_tiers; t++) {
        const expr *node = NULL;
        if (find_calibrated(pl->ld->tiers[t].when, pl->metric, false, &node) > 1)
            return td_error_set(err, TD_INVALID_ARGUMENT,
                                "tier %s compares %s with >= or > more than once; calibrate "
                                "cannot tell which threshold to move",
                                pl->ld->tiers[t].name, prog->metrics[pl->metric].name);
        pl->node[t] = node;
    }
    return 0;
}

int engine_calibrate(engine *e, const char *ladder, const char *metric,
                     const td_calib_target *targets, size_t n_targets, td_time now,
                     td_calibration *out, td_error *err)
{
    memset(out, 0, sizeof *out);
    const program *prog = e->prog;
    if (!prog)
        return td_error_set(err, TD_FAILED_PRECONDITION, "no program loaded");
    calib_plan pl;
    int rc = calib_plan_make(prog, ladder, metric, &pl, err);
    if (rc)
        return rc;
    const ladder_def *ld = pl.ld;
    double shares[TD_MAX_TIERS] = {0}, unranked;
    if (check_targets(ld, targets, n_targets, shares, &unranked, err) != 0)
        return -(int)err->code;
    out->ladder = ld->name;
    out->metric = prog->metrics[pl.metric].name;
    out->cumulative = ld->cumulative;
    out->n_tiers = ld->n_tiers;
    calib_row *rows;
    size_t n;
    if (calib_read(e, &pl, now, &rows, &n) != 0) {
        free(rows);
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "calibrating: out of memory");
    }
    out->partners = n;
    /* Counts at a tier or above, each rounded from its cumulative share, so
     * no tier's own count is off by more than one partner. */
    uint64_t target[TD_MAX_TIERS];
    double cum = 0;
    for (size_t t = ld->n_tiers; t-- > 0;) {
        cum += shares[t];
        target[t] = (uint64_t)llround((double)n * fmin(cum, 100) / 100);
        out->tiers[t].tier = ld->tiers[t].name;
        out->tiers[t].percent = shares[t];
    }
    rc = calib_solve(&pl, rows, n, ld->cumulative, target, out);
    free(rows);
    candidate *c = rc == 0 ? candidate_build(prog, &pl, out) : NULL;
    out->candidate = c;
    if (!c || !(out->fragment = fragment_build(ld, out))) {
        engine_calibration_free(out);
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "calibrating: out of memory");
    }
    td_page pg = {.summary = true};
    if ((rc = engine_simulate(e, &c->p, now, &pg, &out->sim, err)) != 0)
        engine_calibration_free(out);
    return rc;
}
