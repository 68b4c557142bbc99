/* `when` and `gate` expressions (docs/program.md, "Expressions"): and, or,
 * not, parentheses and comparisons between a metric and a number with k/M/%
 * suffixes.
 *
 * A small recursive-descent parser builds a tree that the evaluator and the
 * explainer both walk. Precedence, lowest first: or, and, not, comparison.
 * A metric with no value (NaN: avg/min/max/latest with no events in window)
 * makes every comparison on it unmet, including `!=`; `not` is plain negation,
 * so `not x >= 1` holds when x has no value.
 *
 * Numbers may carry a leading '-' ("x > -5"); metric names in an expression
 * start with a letter or '_' and may then hold letters, digits, '_', '.' and
 * '-'. Hostile text is bounded: at most 4096 bytes, 32 open parentheses/nots
 * and 256 comparisons per expression (each refused with a message).
 *
 * Place in the engine's line (tests/unit/test_engine_layers.sh): above
 * status; knows no program (metric names resolve through a callback). */
#ifndef TD_EXPR_H
#define TD_EXPR_H

#include <stdbool.h>
#include <stddef.h>

typedef enum expr_kind { EXPR_AND, EXPR_OR, EXPR_NOT, EXPR_CMP } expr_kind;
typedef enum cmp_op { CMP_GE, CMP_GT, CMP_LE, CMP_LT, CMP_EQ, CMP_NE } cmp_op;

typedef struct expr {
    expr_kind kind;
    struct expr *a, *b; /* AND/OR: both; NOT: a */
    int metric;         /* CMP: index into the program's metrics */
    cmp_op op;
    double threshold; /* CMP: the number, suffixes applied */
    bool percent;     /* CMP: written with '%' (80%): shown back as a percentage */
    int column;       /* 1-based source column: the metric (CMP) or keyword */
} expr;

/* Resolves a metric name to its index, or -1 when unknown. */
typedef int (*expr_resolve_fn)(void *ud, const char *name, size_t len);
/* Receives each problem found, with its 1-based column in the source. */
typedef void (*expr_diag_fn)(void *ud, int column, const char *message);

/* Parses src. On success returns the tree (free with expr_free). On any
 * problem reports each through diag and returns NULL. Unknown metric names
 * are all reported; a syntax error stops the parse at that column. */
expr *expr_parse(const char *src, expr_resolve_fn resolve, void *resolve_ud, expr_diag_fn diag,
                 void *diag_ud);
void expr_free(expr *e);

/* Evaluates against values[metric]. NaN values make comparisons unmet. A
 * NULL expression (no gate) holds. */
bool expr_eval(const expr *e, const double *values);

/* Whether a single comparison holds for value (NaN: false). */
bool cmp_holds(cmp_op op, double value, double threshold);
const char *cmp_op_str(cmp_op op); /* ">=", ">", ... */

/* Calls fn for every metric index the expression reads (repeats allowed). */
void expr_metrics(const expr *e, void (*fn)(void *ud, int metric), void *ud);

#endif
