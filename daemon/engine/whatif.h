/* What-if: a candidate program run against every partner's real state
 * (simulate), every partner checked against the program in force ignoring
 * the tier it holds (audit), and thresholds proposed from the data for a
 * target distribution (calibrate). None of them changes the engine.
 *
 * Simulate sums the same per-partner forecasts engine_program_impact sums
 * (forecast.c), so it says what loading the candidate really does. Rows
 * come in partner id order a page at a time; a summary (sums and the
 * distribution per ladder) covers the partners a request covers: all, or
 * the one it names.
 *
 * Place in the engine's line (tests/unit/test_engine_layers.sh): last,
 * above versions, forecast and explain; calls down only. The daemon uses
 * this header beside engine.h. */
#ifndef TD_WHATIF_H
#define TD_WHATIF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"

/* Which rows a request wants, and whether it wants the summary. */
typedef struct td_page {
    const char *partner; /* only this partner, or NULL for every one */
    const char *after;   /* rows of partners whose ids sort after this; NULL from the start */
    size_t limit;        /* rows at most, never splitting a partner's; 0: no rows */
    bool all_rows;       /* also rows with nothing to report (unchanged, in line) */
    bool summary;        /* sums and distributions: a pass over every partner covered */
} td_page;

/* Partners per tier of one ladder: [0] unranked, [t + 1] tier t. */
typedef struct td_tier_counts {
    const ladder_def *ladder;
    uint64_t counts[TD_MAX_TIERS + 1];
} td_tier_counts;

typedef struct td_simulation {
    td_time at;
    td_impact sums;                        /* summary only */
    td_tier_counts before[TD_MAX_LADDERS]; /* held under the program in force */
    size_t n_before;
    td_tier_counts after[TD_MAX_LADDERS];      /* held right after the candidate is applied */
    td_tier_counts qualifying[TD_MAX_LADDERS]; /* qualifying under the candidate */
    size_t n_after;
    td_forecast *rows; /* owned; strings borrowed until the engine or the candidate change */
    size_t n_rows;
    const char *next; /* pass as td_page.after for the next page; NULL at the end */
} td_simulation;

/* Simulates putting np in force at `at` (>= the instant the engine was last
 * evaluated at; the caller checks). TD_NOT_FOUND for an unknown partner,
 * TD_RESOURCE_EXHAUSTED out of memory; nothing changes either way. */
int engine_simulate(engine *e, const program *np, td_time at, const td_page *pg, td_simulation *out,
                    td_error *err);
void engine_simulation_free(td_simulation *s);

/* ---- audit ---- */
/* What an audit row may say (bits of td_audit_row.flags), and the index
 * of each in td_audit_counts.kinds. */
enum {
    TD_AUDIT_HELD_ABOVE = 0,     /* holds a tier above the one it qualifies for */
    TD_AUDIT_HELD_BELOW = 1,     /* holds a tier below it (approval, denial, pending) */
    TD_AUDIT_OVERRIDE_STALE = 2, /* an override pins a tier it does not qualify for */
    TD_AUDIT_NEAR_MISS = 3,      /* within `near` of the next tier on every unmet criterion */
    TD_AUDIT_GATE_FAILING = 4,   /* the ladder's gate does not hold */
    TD_AUDIT_KINDS = 5,
};
#define TD_AUDIT_NEAR_DEFAULT 0.10

typedef struct td_audit_row {
    const char *partner;
    const char *ladder;
    const char *held; /* effective tier; NULL unranked */
    const char *qualifying;
    const char *override_tier; /* the pinned tier while an override holds, else NULL */
    bool overridden;
    const char *next_tier; /* the tier above the qualifying one, or NULL at the top */
    unsigned flags;        /* 1u << TD_AUDIT_* */
    td_criterion *gaps;    /* next_tier's unmet criteria, as explain shows them; owned */
    size_t n_gaps;
} td_audit_row;

typedef struct td_audit_counts {
    const char *ladder; /* NULL for the total */
    uint64_t partners;  /* partner-ladder pairs examined */
    uint64_t in_line;   /* none of the kinds */
    uint64_t kinds[TD_AUDIT_KINDS];
} td_audit_counts;

typedef struct td_audit {
    td_time at;
    double near;
    td_audit_counts ladders[TD_MAX_LADDERS]; /* summary only */
    size_t n_ladders;
    td_audit_counts total;
    td_audit_row *rows; /* rows with a flag (every row with all_rows); owned */
    size_t n_rows;
    const char *next;
} td_audit;

/* Audits the partners on `ladder` (NULL: every ladder) at now against the
 * program in force; near is a share (0.1 = 10%) in [0, 1].
 * TD_FAILED_PRECONDITION without a program, TD_NOT_FOUND for an unknown
 * ladder or partner, TD_INVALID_ARGUMENT for a bad near. */
int engine_audit(engine *e, const char *ladder, double near, td_time now, const td_page *pg,
                 td_audit *out, td_error *err);
void engine_audit_free(td_audit *a);

/* ---- calibrate ---- */
#define TD_CALIB_UNRANKED      "unranked" /* a target may name it for partners on no tier */
#define TD_CALIB_SUM_TOLERANCE 0.01       /* percentage points the shares may miss 100 by */
#define TD_CALIB_NOTE          256

typedef struct td_calib_target {
    const char *tier;
    double percent; /* share of the ladder's partners at exactly this tier */
} td_calib_target;

typedef struct td_calib_tier {
    const char *tier;
    cmp_op op;        /* the comparison calibrated: >= or > */
    double threshold; /* as the fragment prints it */
    bool appended;    /* the tier had none: `and METRIC >= X` was added */
    /* The tier had none and its target wants every partner meeting the
     * rest: its `when` is left as it is, as a comparison would only shut
     * out partners with no value for the metric. threshold means nothing. */
    bool kept;
    double percent;           /* target share at this tier */
    uint64_t target;          /* partners wanted at this tier or above */
    uint64_t reached;         /* at this tier or above with the thresholds proposed */
    char note[TD_CALIB_NOTE]; /* why the target cannot be met, or "" */
    char *when;               /* the rewritten `when`; owned */
} td_calib_tier;

typedef struct td_calibration {
    const char *ladder;
    const char *metric;
    bool cumulative;
    uint64_t partners; /* on the ladder */
    td_calib_tier tiers[TD_MAX_TIERS];
    size_t n_tiers;
    char *fragment;    /* YAML: the ladder's tiers with the new thresholds; owned */
    td_simulation sim; /* summary of a simulation of the candidate at now */
    void *candidate;   /* the candidate program; private */
} td_calibration;

/* Proposes a threshold on `metric` (NULL or "": the metric most tiers of
 * the ladder read in their `when`) for every tier of `ladder` so that the
 * partners on it today fall into the target distribution: per tier, the
 * quantile of the metric among the partners that meet the tier's other
 * criteria (its other comparisons, the gate above the first tier, and on
 * a cumulative ladder every lower tier's with its proposed threshold; on
 * another, not qualifying higher). Thresholds never decrease up the ladder.
 * Then simulates the program in force with them. Refuses with
 * TD_INVALID_ARGUMENT naming what is wrong: unknown ladder, tier or metric,
 * a tier named twice or not at all, a share not in [0, 100] or shares not
 * adding to 100, no metric to choose, a tier comparing the metric twice.
 * TD_FAILED_PRECONDITION without a program. */
int engine_calibrate(engine *e, const char *ladder, const char *metric,
                     const td_calib_target *targets, size_t n_targets, td_time now,
                     td_calibration *out, td_error *err);
void engine_calibration_free(td_calibration *c);

#endif
