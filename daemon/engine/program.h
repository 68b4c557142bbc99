/* A partner program (docs/program.md): metrics, ladders, tiers, policy.
 *
 * program_parse turns the YAML text of one program file into a validated,
 * immutable `program`. It never stops at the first problem: every problem
 * found is reported as "file:line:column: message" and the whole file is
 * refused. Parsing does no I/O; the caller hands in the text.
 *
 * Grown since the design's first format (docs/program.md says so too): YAML
 * anchors/aliases are refused (no expansion bombs); a duration field also
 * takes a bare 0 for "none"; any one mapping holds at most 64 keys and any
 * one list at most 256 items.
 *
 * Place in the engine's line (tests/unit/test_engine_layers.sh): above expr
 * and td_time; engine.h and every engine file above it use it. */
#ifndef TD_PROGRAM_H
#define TD_PROGRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "expr.h"
#include "td_attrs.h"
#include "td_period.h"
#include "td_time.h"
#include "tierd/status.h"

/* Named limits; a program exceeding one is refused with a message. */
#define TD_MAX_METRICS       64 /* a ladder's metric set is a uint64_t mask */
#define TD_MAX_LADDERS       16
#define TD_MAX_TIERS         16
#define TD_MAX_NAME          128 /* bytes in any name */
#define TD_MAX_PROGRAM_BYTES (1u << 20)
#define TD_MAX_SCORE_TERMS   32
#define TD_MAX_WINDOW_DAYS   3660 /* ten years of rolling window */
/* TD_MAX_ATTRS, TD_MAX_ATTR_KEY, TD_MAX_ATTR_VALUE: common/td_attrs.h */
#define TD_MAX_KPI_BY 4 /* attributes kpi.by may name */

/* policy review_deadline when absent */
#define TD_REVIEW_DEADLINE_DEFAULT (14 * TD_SECONDS_PER_DAY)

typedef enum metric_agg {
    AGG_SUM,
    AGG_COUNT,
    AGG_AVG,
    AGG_MIN,
    AGG_MAX,
    AGG_LATEST,   /* value of the event with the greatest `at` */
    AGG_DISTINCT, /* number of distinct `key` values */
    AGG_SCORE,    /* weighted scorecard over other metrics, 0..100 */
} metric_agg;

typedef enum window_kind {
    WIN_LIFETIME,
    WIN_DAYS,    /* rolling: (now - days*86400, now] */
    WIN_QUARTER, /* calendar quarter containing now, UTC */
    WIN_YEAR,    /* calendar year containing now, UTC */
} window_kind;

typedef struct metric_window {
    window_kind kind;
    int days; /* WIN_DAYS only */
} metric_window;

typedef struct score_term {
    int metric;    /* index of a non-score metric */
    double weight; /* weights of one score sum to 100 */
    double target; /* value at which the term earns its full weight */
} score_term;

typedef struct metric_def {
    char *name;
    metric_agg agg;
    char *event; /* event metric name feeding it; defaults to name; NULL for scores */
    metric_window window;
    score_term *terms; /* AGG_SCORE only */
    size_t n_terms;
} metric_def;

typedef enum review_kind { REVIEW_IMMEDIATE, REVIEW_QUARTERLY, REVIEW_ANNUAL } review_kind;

typedef struct ladder_policy {
    review_kind review;
    unsigned review_month, review_day; /* REVIEW_ANNUAL */
    int64_t grace;                     /* seconds below criteria before a demotion */
    int max_drop;                      /* tiers lost per demotion at most; default 1 */
    int64_t grandfather;               /* seconds; 0 = none */
    uint32_t approval_mask;            /* bit i: promotions into tier i need approval */
    /* Demotion review: bit i, a demotion out of tier i waits for a person,
     * at most review_deadline seconds (> 0) before it goes through. */
    uint32_t review_mask;
    int64_t review_deadline;
} ladder_policy;

/* One benefit a tier lists (docs/program.md, "Benefits"): `name`, or
 * `name=value` split at the first '='. */
typedef struct benefit_def {
    char *name;
    char *value;   /* the text after '=', spaces around it trimmed; NULL: a bare name */
    double number; /* the value as a number, when has_number */
    bool has_number;
} benefit_def;

/* A benefit the holder of a tier has: one the tier lists, or one inherited
 * from a lower tier of the same ladder (benefits are cumulative). */
typedef struct benefit_grant {
    const benefit_def *def;
    const char *tier; /* the tier whose list grants it */
} benefit_grant;

typedef struct tier_def {
    char *name;
    char *when_src; /* the expression as written */
    expr *when;
    char **benefits; /* as written, for explain */
    size_t n_benefits;
    benefit_def *parsed; /* n_benefits, in the same order */
    /* What holding this tier grants: the benefits of every tier up to and
     * including this one, a higher tier's entry winning for a name, in
     * ladder order (lowest tier first, then as written). */
    benefit_grant *grants;
    size_t n_grants;
} tier_def;

/* One entry of a ladder's partner_filter (docs/program.md): a partner
 * sits on the ladder only when its value of `attr` is one of values. */
typedef struct partner_filter {
    char *attr;
    char **values;
    size_t n_values;
} partner_filter;

typedef struct ladder_def {
    char *name;
    char **partner_types;
    size_t n_types;
    partner_filter *filters; /* all must hold; none: types alone decide */
    size_t n_filters;
    char *gate_src; /* NULL when no gate */
    expr *gate;
    /* true (the default): a tier qualifies only when its own `when` and
     * every lower tier's hold, so partners climb the ladder; false: the
     * highest tier whose `when` holds (the rule before 0.2). */
    bool cumulative;
    ladder_policy policy;
    tier_def *tiers; /* lowest first */
    size_t n_tiers;
    uint64_t metric_mask; /* bit m: the ladder reads metric m (gate, tiers, scores' inputs) */
} ladder_def;

typedef struct program {
    char *name;
    char *version;
    td_time effective; /* TD_TIME_NONE: when loaded */
    int64_t notice;    /* seconds; 0 = none */
    metric_def *metrics;
    size_t n_metrics;
    ladder_def *ladders;
    size_t n_ladders;
    int64_t longest_window_days; /* retention horizon for windowed state */
    /* KPI history (docs/program.md, "KPI history"): `time_zone` as seconds
     * east of UTC and `kpi: {period, by}`. Snapshots are taken only when
     * the program has a `kpi` key (kpi): each is a pass over every partner. */
    bool kpi;
    td_period kpi_period;
    char **kpi_by; /* attribute keys the snapshots break down by */
    size_t n_kpi_by;
} program;

/* A growing list of diagnostics, each "file:line:column: message". */
typedef struct td_diags {
    char **items;
    size_t n, cap;
} td_diags;

void td_diags_add(td_diags *d, const char *file, int line, int column, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void td_diags_free(td_diags *d);

/* Parses and validates a program file. On success returns 0 and *out (free
 * with program_free). On failure returns -TD_INVALID_ARGUMENT, fills diags
 * with every problem found and sets err to a summary ("3 problems in FILE");
 * *out is left as it was. Running out of memory returns -TD_RESOURCE_EXHAUSTED.
 * diags may be NULL when only the summary is wanted. */
int program_parse(const char *text, size_t len, const char *filename, program **out,
                  td_diags *diags, td_error *err);
void program_free(program *p);

/* Index lookups; -1 when absent. */
int program_metric_index(const program *p, const char *name);
int program_ladder_index(const program *p, const char *name);
int ladder_tier_index(const ladder_def *l, const char *name);
/* "A, B, C": l's tier names lowest first, cut short with "..." when buf
 * (n >= 4) is too small; for messages naming the valid tiers. */
void ladder_tier_names(const ladder_def *l, char *buf, size_t n);
/* Tier t's name, or NULL for t < 0 (unranked). */
const char *ladder_tier_name(const ladder_def *l, int t);
/* What holding tier t of l grants (its `grants`); NULL and 0 for t < 0. */
const benefit_grant *ladder_tier_grants(const ladder_def *l, int t, size_t *n);
/* The grant of benefit `name` that holding tier t of l gives, or NULL. */
const benefit_grant *ladder_tier_grant(const ladder_def *l, int t, const char *name);
/* Whether a partner with these types sits on ladder l. */
bool ladder_matches_types(const ladder_def *l, char *const *types, size_t n_types);

#endif
