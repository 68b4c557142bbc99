/* Fuzzes the `when` / `gate` expression parser (daemon/engine/expr.c).
 *
 * The input is the expression text. Metric names resolve against a fixed
 * list like a program's, so both known and unknown names are reached. The
 * parser's promises are checked, not only its memory safety: a refusal
 * always reports at least one problem, every problem carries a column inside
 * the text (or just past it), an accepted tree has no more comparisons than
 * the cap and only known metric indexes, and evaluating it with values,
 * missing values (NaN) or extremes never misbehaves. */
#include <math.h>
#include <stdbool.h>

#include "engine/expr.h"
#include "fuzz_common.h"

#define FUZZ_EXPR_MAX_COMPARISONS 256 /* expr.c's EXPR_MAX_COMPARISONS */

static const char *const metric_names[] = {
    "revenue", "deals", "certification", "active_sellers", "csat", "arr", "a", "deal.closed",
    "x-1",     "_m",
};
#define N_METRICS (int)(sizeof metric_names / sizeof metric_names[0])

static int resolve(void *ud, const char *name, size_t len)
{
    (void)ud;
    for (int i = 0; i < N_METRICS; i++)
        if (strlen(metric_names[i]) == len && memcmp(metric_names[i], name, len) == 0)
            return i;
    return -1;
}

typedef struct diag_seen {
    size_t len;
    int n;
} diag_seen;

static void diag(void *ud, int column, const char *message)
{
    diag_seen *d = ud;
    d->n++;
    FUZZ_CHECK(message && *message, "empty problem message");
    FUZZ_CHECK(column >= 1 && (size_t)column <= d->len + 1, "column %d outside text of %zu bytes",
               column, d->len);
}

typedef struct walk {
    int comparisons;
} walk;

static void check_tree(const expr *e, walk *w)
{
    switch (e->kind) {
    case EXPR_CMP:
        w->comparisons++;
        FUZZ_CHECK(e->metric >= 0 && e->metric < N_METRICS, "metric index %d", e->metric);
        FUZZ_CHECK(e->op >= CMP_GE && e->op <= CMP_NE, "operator %d", (int)e->op);
        FUZZ_CHECK(!isnan(e->threshold), "NaN threshold");
        break;
    case EXPR_NOT:
        FUZZ_CHECK(e->a && !e->b, "not with %s", e->a ? "two children" : "no child");
        check_tree(e->a, w);
        break;
    case EXPR_AND:
    case EXPR_OR:
        FUZZ_CHECK(e->a && e->b, "and/or missing a side");
        check_tree(e->a, w);
        check_tree(e->b, w);
        break;
    default:
        FUZZ_CHECK(false, "node kind %d", (int)e->kind);
    }
}

static void count_metric(void *ud, int metric)
{
    (void)metric;
    (*(int *)ud)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *src = fuzz_cstr(data, size);
    diag_seen d = {.len = strlen(src)};
    expr *e = expr_parse(src, resolve, NULL, diag, &d);
    if (!e) {
        FUZZ_CHECK(d.n > 0, "refused \"%.80s\" without saying why", src);
        free(src);
        return 0;
    }
    FUZZ_CHECK(d.n == 0, "accepted with %d problems", d.n);
    walk w = {0};
    check_tree(e, &w);
    FUZZ_CHECK(w.comparisons <= FUZZ_EXPR_MAX_COMPARISONS, "%d comparisons", w.comparisons);
    int reads = 0;
    expr_metrics(e, count_metric, &reads);
    FUZZ_CHECK(reads == w.comparisons, "expr_metrics saw %d of %d", reads, w.comparisons);

    double values[N_METRICS];
    const double fills[] = {NAN, 0, -1, 1e15, INFINITY};
    for (size_t f = 0; f < sizeof fills / sizeof fills[0]; f++) {
        for (int i = 0; i < N_METRICS; i++)
            values[i] = i % 2 ? fills[f] : (double)i * 1000;
        (void)expr_eval(e, values);
    }
    expr_free(e);
    free(src);
    return 0;
}
