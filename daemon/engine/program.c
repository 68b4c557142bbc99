/* Program files: YAML text in, validated immutable `program` out.
 *
 * Owns the reading of docs/program.md. The YAML reader every tierd file
 * shares (common/td_yaml.h) loads the text into a node tree (marks give
 * line and column); this file walks that tree once, checking every key,
 * type, name, number, duration, date and expression, and collects every
 * problem as "file:line:column: message" before deciding. A file with any problem is refused whole
 * and nothing built from it escapes; the caller keeps whatever program it had.
 *
 * Promises: unknown keys are refused at every level (a typo never silently
 * turns into a default); YAML anchors and aliases are refused, so a small
 * file cannot expand into a huge or cyclic tree, and sizes are capped
 * before libyaml sees the text (both by the reader). Does no I/O and keeps
 * no state between calls.
 *
 * Place in the engine's line (tests/unit/test_engine_layers.sh): above expr
 * and td_time; calls down only. */
#include "program.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "td_yaml.h"
#include "text.h"

/* Scores are percentages: weights must add up to this. */
#define SCORE_TOTAL_WEIGHT     100.0
#define SCORE_WEIGHT_TOLERANCE 1e-9
/* Windows expressed as a number of days, for the retention horizon. */
#define QUARTER_RETENTION_DAYS 92
#define YEAR_RETENTION_DAYS    366
#define DIAG_MESSAGE_MAX       512
/* How much of a refused value is quoted back in a message. */
#define ECHO_MAX        60
#define MAX_DROP_LIMIT  1000
#define MONTHS_PER_YEAR 12
/* Keys in any one mapping and items in any one list. Far above what a real
 * program writes; they keep duplicate checks (quadratic) cheap on hostile
 * files of TD_MAX_PROGRAM_BYTES. */
#define PROGRAM_MAX_KEYS       64
#define PROGRAM_KEY_NAMES_MAX  128 /* "a, b, c" of one mapping's expected keys */
#define PROGRAM_MAX_LIST_ITEMS 256
#define REVIEW_ANNUAL_PREFIX   "annual@"
#define REVIEW_ANNUAL_LEN      (sizeof REVIEW_ANNUAL_PREFIX - 1 + sizeof "MM-DD" - 1)

typedef struct loader {
    const char *file;
    td_yaml y; /* the document, and every problem (reported into diags) */
    td_diags *diags;
    bool oom;
    program *p;
} loader;

/* ---- diagnostics ---------------------------------------------------- */

/* Takes item (malloc'd) into d, or frees it when d cannot grow. */
static void diags_take(td_diags *d, char *item)
{
    if (!item)
        return;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        char **items = realloc(d->items, cap * sizeof *items);
        if (!items) {
            free(item);
            return;
        }
        d->items = items;
        d->cap = cap;
    }
    d->items[d->n++] = item;
}

void td_diags_add(td_diags *d, const char *file, int line, int column, const char *fmt, ...)
{
    if (!d)
        return;
    char msg[DIAG_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t need = strlen(file ? file : "") + strlen(msg) + 32;
    char *item = malloc(need);
    if (item)
        snprintf(item, need, "%s:%d:%d: %s", file ? file : "", line, column, msg);
    diags_take(d, item);
}

/* The reader's report: every problem, already "file:line:column: message". */
static void diags_report(void *ud, const char *problem)
{
    diags_take(ud, strdup(problem));
}

void td_diags_free(td_diags *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++)
        free(d->items[i]);
    free(d->items);
    d->items = NULL;
    d->n = d->cap = 0;
}

/* Problems go through the reader, which words and counts them. */
#define problem_at(ld, line, column, ...)                                                          \
    td_yaml_problem_at(&(ld)->y, (line), (column), __VA_ARGS__)
#define problem(ld, n, ...) td_yaml_problem(&(ld)->y, (n), __VA_ARGS__)

/* ---- node helpers --------------------------------------------------- */

static yaml_node_t *node(loader *ld, int id)
{
    return td_yaml_node(&ld->y, id);
}

static const char *kind_name(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_SCALAR_NODE:
        return "a scalar";
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_MAPPING_NODE:
        return "a mapping";
    default:
        return "nothing";
    }
}

static const char *scalar(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

/* A plain `~`, `null` or nothing at all: YAML's way of saying "no value". */
static bool is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *s = scalar(n);
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

static bool expect_mapping(loader *ld, const yaml_node_t *n, const char *what)
{
    if (n->type == YAML_MAPPING_NODE)
        return true;
    problem(ld, n, "%s must be a mapping, found %s", what, is_null(n) ? "no value" : kind_name(n));
    return false;
}

static bool expect_sequence(loader *ld, const yaml_node_t *n, const char *what)
{
    if (n->type == YAML_SEQUENCE_NODE)
        return true;
    problem(ld, n, "%s must be a list, found %s", what, is_null(n) ? "no value" : kind_name(n));
    return false;
}

/* The text of a scalar that must hold a value; NULL (reported) otherwise. */
static const char *expect_text(loader *ld, const yaml_node_t *n, const char *what)
{
    if (n->type != YAML_SCALAR_NODE) {
        problem(ld, n, "%s must be a single value, found %s", what, kind_name(n));
        return NULL;
    }
    if (is_null(n)) {
        problem(ld, n, "%s has no value", what);
        return NULL;
    }
    return scalar(n);
}

static char *dup_text(loader *ld, const char *s)
{
    char *d = strdup(s);
    if (!d)
        ld->oom = true;
    return d;
}

static int echo_len(const char *s)
{
    size_t n = strlen(s);
    return (int)(n > ECHO_MAX ? ECHO_MAX : n);
}

/* true or false (YAML's yes and no too); anything else is reported and
 * leaves *out as it was. */
static void read_bool(loader *ld, const yaml_node_t *n, const char *what, bool *out)
{
    const char *s = n->type == YAML_SCALAR_NODE ? scalar(n) : NULL;
    if (s && (!strcmp(s, "true") || !strcmp(s, "yes")))
        *out = true;
    else if (s && (!strcmp(s, "false") || !strcmp(s, "no")))
        *out = false;
    else if (s)
        problem(ld, n, "%s must be true or false, not '%.*s'", what, echo_len(s), s);
    else
        problem(ld, n, "%s must be true or false, found %s", what, kind_name(n));
}

/* Names for metrics and events: what the NDJSON and expressions can carry. */
static bool check_metric_name(loader *ld, const yaml_node_t *n, const char *s, const char *what)
{
    size_t len = strlen(s);
    if (len > TD_MAX_NAME) {
        problem(ld, n, "%s '%.*s...' is longer than %d bytes", what, echo_len(s), s, TD_MAX_NAME);
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-')) {
            problem(ld, n, "%s '%.*s' may hold only letters, digits, '_', '.' and '-'", what,
                    echo_len(s), s);
            return false;
        }
    }
    return true;
}

/* Other names (program, ladders, tiers, partner types, benefits, version):
 * any printable text. libyaml has already refused invalid UTF-8. */
static bool check_label(loader *ld, const yaml_node_t *n, const char *s, const char *what)
{
    size_t len = strlen(s);
    if (len == 0) {
        problem(ld, n, "%s must not be empty", what);
        return false;
    }
    if (len > TD_MAX_NAME) {
        problem(ld, n, "%s '%.*s...' is longer than %d bytes", what, echo_len(s), s, TD_MAX_NAME);
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) {
            problem(ld, n, "%s must not contain control characters", what);
            return false;
        }
    }
    return true;
}

/* A mapping's expected keys, each with where its value node goes in the
 * caller's context struct (offsetof a yaml_node_t * field). */
typedef struct key_slot {
    const char *key;
    size_t offset;
} key_slot;

#define KEY_SLOT(type, key, field)                                                                 \
    {                                                                                              \
        key, offsetof(type, field)                                                                 \
    }

/* "a, b, c" for an "unknown key" message. */
static void slot_names(const key_slot *slots, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = 0;
    for (size_t i = 0; slots[i].key && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s%s", i ? ", " : "", slots[i].key);
}

/* Walks a mapping's pairs and stores each value node in its slot of ctx;
 * refuses non-scalar keys, duplicates and keys outside `slots`. Returns
 * false when the node is not a mapping. */
static bool each_pair(loader *ld, yaml_node_t *map, const char *what, const key_slot *slots,
                      void *ctx)
{
    if (!expect_mapping(ld, map, what))
        return false;
    size_t n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    if (n > PROGRAM_MAX_KEYS) {
        problem(ld, map, "%s has %zu keys, more than the limit of %d", what, n, PROGRAM_MAX_KEYS);
        return false;
    }
    for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top;
         pr++) {
        yaml_node_t *k = node(ld, pr->key), *v = node(ld, pr->value);
        if (!k || !v)
            continue;
        if (k->type != YAML_SCALAR_NODE) {
            problem(ld, k, "keys in %s must be plain names, found %s", what, kind_name(k));
            continue;
        }
        const char *key = scalar(k);
        bool dup = false;
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < pr; q++) {
            yaml_node_t *qk = node(ld, q->key);
            if (qk && qk->type == YAML_SCALAR_NODE && !strcmp(scalar(qk), key)) {
                dup = true;
                break;
            }
        }
        if (dup) {
            problem(ld, k, "duplicate key '%.*s' in %s", echo_len(key), key, what);
            continue;
        }
        const key_slot *slot = slots;
        while (slot->key && strcmp(slot->key, key) != 0)
            slot++;
        if (!slot->key) {
            char expected[PROGRAM_KEY_NAMES_MAX];
            slot_names(slots, expected, sizeof expected);
            problem(ld, k, "unknown key '%.*s' in %s (expected %s)", echo_len(key), key, what,
                    expected);
            continue;
        }
        *(yaml_node_t **)((char *)ctx + slot->offset) = v;
    }
    return true;
}

/* How many items a list of 1..max holds: 0 when `list` (named `what`) is
 * not a list or holds none or too many, reported as "<owner> has no
 * <items>" or "<owner> has N <items>, <over> <max>". */
static size_t count_items(loader *ld, yaml_node_t *list, const char *what, const char *owner,
                          const char *items, const char *over, size_t max)
{
    if (!expect_sequence(ld, list, what))
        return 0;
    size_t n = (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);
    if (n == 0)
        problem(ld, list, "%s has no %s", owner, items);
    else if (n > max)
        problem(ld, list, "%s has %zu %s, %s %zu", owner, n, items, over, max);
    return n > max ? 0 : n;
}

/* How many entries a mapping of named things holds, 1..max: 0 when `map`
 * (named `what`, "metrics") is not a mapping or names none or too many
 * (reported; `one` names an entry, "metric"). */
static size_t count_entries(loader *ld, yaml_node_t *map, const char *what, const char *one,
                            size_t max)
{
    if (!expect_mapping(ld, map, what))
        return 0;
    size_t n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    if (n == 0)
        problem(ld, map, "%s must name at least one %s", what, one);
    else if (n > max)
        problem(ld, map, "%zu %s, more than the limit of %zu", n, what, max);
    return n > max ? 0 : n;
}

/* Entry i of such a mapping: its key, a plain name, with the value in *v;
 * NULL (reported when the key is not a plain name) otherwise. */
static yaml_node_t *entry_key(loader *ld, yaml_node_t *map, size_t i, const char *one,
                              yaml_node_t **v)
{
    yaml_node_pair_t *pr = &map->data.mapping.pairs.start[i];
    yaml_node_t *k = node(ld, pr->key);
    *v = node(ld, pr->value);
    if (!k || !*v)
        return NULL;
    if (k->type != YAML_SCALAR_NODE) {
        problem(ld, k, "%s names must be plain names, found %s", one, kind_name(k));
        return NULL;
    }
    return k;
}

/* ---- numbers, durations, windows ------------------------------------ */

static bool parse_double(const char *s, double *out)
{
    if (!*s)
        return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || errno == ERANGE || !isfinite(v))
        return false;
    *out = v;
    return true;
}

/* A duration field, or bare 0 for "none". */
static void read_duration(loader *ld, yaml_node_t *v, const char *what, int64_t *out)
{
    const char *s = expect_text(ld, v, what);
    if (!s)
        return;
    if (!strcmp(s, "0")) {
        *out = 0;
        return;
    }
    td_error err = {0};
    if (td_duration_parse(s, out, &err) != 0)
        problem(ld, v, "%s: %s", what, err.message);
}

static void read_window(loader *ld, yaml_node_t *v, const char *metric, metric_window *w)
{
    char what[TD_MAX_NAME + 32];
    snprintf(what, sizeof what, "window of metric '%s'", metric);
    const char *s = expect_text(ld, v, what);
    if (!s)
        return;
    if (!strcmp(s, "lifetime")) {
        *w = (metric_window){WIN_LIFETIME, 0};
        return;
    }
    if (!strcmp(s, "quarter")) {
        *w = (metric_window){WIN_QUARTER, 0};
        return;
    }
    if (!strcmp(s, "year")) {
        *w = (metric_window){WIN_YEAR, 0};
        return;
    }
    size_t len = strlen(s);
    long days = 0;
    bool shape = len >= 2 && s[len - 1] == 'd' && len <= 8;
    for (size_t i = 0; shape && i + 1 < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            shape = false;
        else
            days = days * 10 + (s[i] - '0');
    }
    if (!shape) {
        problem(ld, v,
                "bad window '%.*s' for metric '%s': expected Nd (N days, 1..%d), quarter, year "
                "or lifetime",
                echo_len(s), s, metric, TD_MAX_WINDOW_DAYS);
        return;
    }
    if (days < 1 || days > TD_MAX_WINDOW_DAYS) {
        problem(ld, v, "bad window '%s' for metric '%s': N must be 1..%d days", s, metric,
                TD_MAX_WINDOW_DAYS);
        return;
    }
    *w = (metric_window){WIN_DAYS, (int)days};
}

/* ---- metrics -------------------------------------------------------- */

static const struct {
    const char *name;
    metric_agg agg;
} agg_table[] = {
    {"sum", AGG_SUM}, {"count", AGG_COUNT},   {"avg", AGG_AVG},           {"min", AGG_MIN},
    {"max", AGG_MAX}, {"latest", AGG_LATEST}, {"distinct", AGG_DISTINCT}, {"score", AGG_SCORE},
};
#define AGG_NAMES "sum, count, avg, min, max, latest, distinct"

typedef struct metric_ctx {
    yaml_node_t *agg, *event, *window, *score;
} metric_ctx;

typedef struct term_ctx {
    yaml_node_t *metric, *weight, *target;
} term_ctx;

/* A score term's metric: a known metric, not a score, not already in
 * score m; -1 (reported) otherwise. */
static int read_term_metric(loader *ld, const metric_def *m, yaml_node_t *v)
{
    const char *name = expect_text(ld, v, "score term metric");
    int idx = name ? program_metric_index(ld->p, name) : -1;
    if (name && idx < 0) {
        problem(ld, v, "unknown metric '%.*s' in score '%s'", echo_len(name), name, m->name);
        return -1;
    }
    if (idx >= 0 && ld->p->metrics[idx].agg == AGG_SCORE) {
        problem(ld, v, "score '%s' cannot use score metric '%s'", m->name, name);
        return -1;
    }
    for (size_t j = 0; idx >= 0 && j < m->n_terms; j++)
        if (m->terms[j].metric == idx) {
            problem(ld, v, "metric '%s' appears twice in score '%s'", name, m->name);
            return -1;
        }
    return idx;
}

/* A score term's weight or target (`field`): a number above 0; false
 * (reported when there is a value to quote) otherwise. */
static bool read_term_number(loader *ld, yaml_node_t *v, const char *field, const char *score,
                             double *out)
{
    char what[sizeof "score term " + sizeof "weight"];
    snprintf(what, sizeof what, "score term %s", field);
    const char *s = expect_text(ld, v, what);
    if (s && parse_double(s, out) && *out > 0)
        return true;
    if (s)
        problem(ld, v, "%s '%.*s' in score '%s' must be a number above 0", field, echo_len(s), s,
                score);
    return false;
}

/* Term i of score m, kept (m->n_terms grows) only when complete and
 * sound. Its weight adds to *total; a missing or bad weight clears
 * *weights_ok, as the sum then says nothing. */
static void read_term(loader *ld, metric_def *m, yaml_node_t *item, size_t i, double *total,
                      bool *weights_ok)
{
    static const key_slot keys[] = {KEY_SLOT(term_ctx, "metric", metric),
                                    KEY_SLOT(term_ctx, "weight", weight),
                                    KEY_SLOT(term_ctx, "target", target),
                                    {NULL, 0}};
    term_ctx c = {0};
    char what[TD_MAX_NAME + 48];
    snprintf(what, sizeof what, "term %zu of score '%s'", i + 1, m->name);
    score_term *t = &m->terms[m->n_terms];
    t->metric = -1;
    if (!each_pair(ld, item, what, keys, &c)) {
        *weights_ok = false;
        return;
    }
    bool ok = true;
    if (!c.metric || !c.weight || !c.target) {
        problem(ld, item, "%s is missing '%s'", what,
                !c.metric   ? "metric"
                : !c.weight ? "weight"
                            : "target");
        ok = false;
        if (!c.weight)
            *weights_ok = false;
    }
    int metric = c.metric ? read_term_metric(ld, m, c.metric) : -1;
    if (c.metric && metric < 0)
        ok = false;
    if (c.weight) {
        if (read_term_number(ld, c.weight, "weight", m->name, &t->weight))
            *total += t->weight;
        else
            ok = *weights_ok = false;
    }
    if (c.target && !read_term_number(ld, c.target, "target", m->name, &t->target))
        ok = false;
    if (ok) {
        t->metric = metric;
        m->n_terms++;
    }
}

static void read_score(loader *ld, metric_def *m, yaml_node_t *list)
{
    char what[TD_MAX_NAME + 32];
    snprintf(what, sizeof what, "score of metric '%s'", m->name);
    size_t n = count_items(ld, list, what, what, "terms", "more than", TD_MAX_SCORE_TERMS);
    if (!n)
        return;
    m->terms = calloc(n, sizeof *m->terms);
    if (!m->terms) {
        ld->oom = true;
        return;
    }
    double total = 0;
    bool weights_ok = true;
    for (size_t i = 0; i < n; i++)
        read_term(ld, m, node(ld, list->data.sequence.items.start[i]), i, &total, &weights_ok);
    if (weights_ok && fabs(total - SCORE_TOTAL_WEIGHT) > SCORE_WEIGHT_TOLERANCE)
        problem(ld, list, "weights of score '%s' add up to %g, not 100", m->name, total);
}

static void read_metric(loader *ld, metric_def *m, yaml_node_t *v)
{
    static const key_slot keys[] = {KEY_SLOT(metric_ctx, "agg", agg),
                                    KEY_SLOT(metric_ctx, "event", event),
                                    KEY_SLOT(metric_ctx, "window", window),
                                    KEY_SLOT(metric_ctx, "score", score),
                                    {NULL, 0}};
    char what[TD_MAX_NAME + 16];
    snprintf(what, sizeof what, "metric '%s'", m->name);
    metric_ctx c = {0};
    m->window = (metric_window){WIN_LIFETIME, 0};
    if (!each_pair(ld, v, what, keys, &c))
        return;
    const char *agg = c.agg ? expect_text(ld, c.agg, "agg") : NULL;
    bool known = false;
    if (agg) {
        for (size_t i = 0; i < sizeof agg_table / sizeof agg_table[0]; i++)
            if (!strcmp(agg_table[i].name, agg)) {
                m->agg = agg_table[i].agg;
                known = true;
            }
        if (!known)
            problem(ld, c.agg, "unknown agg '%.*s' for metric '%s' (expected " AGG_NAMES ")",
                    echo_len(agg), agg, m->name);
    }
    if (c.score) {
        if (known && m->agg != AGG_SCORE) {
            problem(ld, c.agg, "metric '%s' has a score, so its agg must be score or absent",
                    m->name);
            return;
        }
        m->agg = AGG_SCORE;
        if (c.event)
            problem(ld, c.event, "score metric '%s' takes no event", m->name);
        if (c.window)
            problem(ld, c.window, "score metric '%s' takes no window (its inputs have their own)",
                    m->name);
        read_score(ld, m, c.score);
        return;
    }
    if (!c.agg) {
        problem(ld, v, "metric '%s' is missing 'agg' (" AGG_NAMES ") or 'score'", m->name);
        return;
    }
    if (!known)
        return;
    if (m->agg == AGG_SCORE) {
        problem(ld, c.agg, "score metric '%s' is missing 'score'", m->name);
        return;
    }
    if (c.event) {
        const char *ev = expect_text(ld, c.event, "event");
        if (ev && check_metric_name(ld, c.event, ev, "event name"))
            m->event = dup_text(ld, ev);
    } else {
        m->event = dup_text(ld, m->name);
    }
    if (c.window)
        read_window(ld, c.window, m->name, &m->window);
}

static void read_metrics(loader *ld, yaml_node_t *map)
{
    size_t n = count_entries(ld, map, "metrics", "metric", TD_MAX_METRICS);
    if (!n)
        return;
    program *p = ld->p;
    p->metrics = calloc(n, sizeof *p->metrics);
    if (!p->metrics) {
        ld->oom = true;
        return;
    }
    /* Names first, so scores and expressions may refer to metrics defined
     * further down the file. */
    yaml_node_t *bodies[TD_MAX_METRICS];
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *v, *k = entry_key(ld, map, i, "metric", &v);
        if (!k)
            continue;
        const char *name = scalar(k);
        if (!*name) {
            problem(ld, k, "metric name must not be empty");
            continue;
        }
        if (!check_metric_name(ld, k, name, "metric name"))
            continue;
        if (program_metric_index(p, name) >= 0) {
            problem(ld, k, "duplicate metric '%s'", name);
            continue;
        }
        metric_def *m = &p->metrics[p->n_metrics];
        m->name = dup_text(ld, name);
        if (!m->name)
            return;
        /* Score-ness must be known before any score reads its terms. */
        m->agg = AGG_SUM;
        if (v->type == YAML_MAPPING_NODE)
            for (yaml_node_pair_t *q = v->data.mapping.pairs.start; q < v->data.mapping.pairs.top;
                 q++) {
                yaml_node_t *qk = node(ld, q->key);
                if (qk && qk->type == YAML_SCALAR_NODE && !strcmp(scalar(qk), "score"))
                    m->agg = AGG_SCORE;
            }
        bodies[p->n_metrics] = v;
        p->n_metrics++;
    }
    for (size_t i = 0; i < p->n_metrics; i++)
        read_metric(ld, &p->metrics[i], bodies[i]);
}

/* ---- expressions ---------------------------------------------------- */

typedef struct expr_site {
    loader *ld;
    const yaml_node_t *n;
} expr_site;

static int resolve_metric(void *ud, const char *name, size_t len)
{
    const program *p = ud;
    for (size_t i = 0; i < p->n_metrics; i++)
        if (strlen(p->metrics[i].name) == len && !memcmp(p->metrics[i].name, name, len))
            return (int)i;
    return -1;
}

/* Maps a column inside the expression onto the file. Exact for one-line
 * plain and quoted scalars; block and multi-line scalars are folded by YAML,
 * so there the node's own position is the honest answer. */
static void expr_problem(void *ud, int column, const char *message)
{
    expr_site *site = ud;
    const yaml_node_t *n = site->n;
    int line = (int)n->start_mark.line + 1;
    int col = (int)n->start_mark.column + 1;
    yaml_scalar_style_t style = n->data.scalar.style;
    bool one_line = n->start_mark.line == n->end_mark.line;
    if (one_line && style == YAML_PLAIN_SCALAR_STYLE)
        col += column - 1;
    else if (one_line &&
             (style == YAML_SINGLE_QUOTED_SCALAR_STYLE || style == YAML_DOUBLE_QUOTED_SCALAR_STYLE))
        col += column;
    problem_at(site->ld, line, col, "%s", message);
}

static expr *read_expr(loader *ld, yaml_node_t *v, const char *what, char **src_out)
{
    const char *s = expect_text(ld, v, what);
    if (!s)
        return NULL;
    expr_site site = {ld, v};
    size_t before = ld->y.problems;
    expr *e = expr_parse(s, resolve_metric, ld->p, expr_problem, &site);
    if (e) {
        *src_out = dup_text(ld, s);
        if (!*src_out) {
            expr_free(e);
            return NULL;
        }
    } else if (ld->y.problems == before) {
        /* expr_parse reports what it refuses; a silent NULL is memory. */
        ld->oom = true;
    }
    return e;
}

/* ---- ladders -------------------------------------------------------- */

typedef struct ladder_ctx {
    yaml_node_t *types, *filter, *gate, *cumulative, *policy, *tiers;
} ladder_ctx;

typedef struct policy_ctx {
    yaml_node_t *review, *grace, *max_drop, *approval, *grandfather, *review_demotions,
        *review_deadline;
} policy_ctx;

typedef struct tier_ctx {
    yaml_node_t *name, *when, *benefits;
} tier_ctx;

/* Reads a list of labels into a fresh array; reports each bad item. */
static char **read_labels(loader *ld, yaml_node_t *list, const char *what, size_t *n_out,
                          bool refuse_repeats)
{
    *n_out = 0;
    if (!expect_sequence(ld, list, what))
        return NULL;
    size_t n = (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);
    if (n == 0)
        return NULL;
    if (n > PROGRAM_MAX_LIST_ITEMS) {
        problem(ld, list, "%s has %zu items, more than the limit of %d", what, n,
                PROGRAM_MAX_LIST_ITEMS);
        return NULL;
    }
    char **items = calloc(n, sizeof *items);
    if (!items) {
        ld->oom = true;
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *it = node(ld, list->data.sequence.items.start[i]);
        const char *s = it ? expect_text(ld, it, what) : NULL;
        if (!s || !check_label(ld, it, s, what))
            continue;
        bool seen = false;
        for (size_t j = 0; refuse_repeats && j < *n_out; j++)
            seen = seen || !strcmp(items[j], s);
        if (seen) {
            problem(ld, it, "'%s' appears twice in %s", s, what);
            continue;
        }
        items[*n_out] = dup_text(ld, s);
        if (items[*n_out])
            (*n_out)++;
    }
    return items;
}

static bool two_digits(const char *s, unsigned *v)
{
    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
        return false;
    *v = (unsigned)(s[0] - '0') * 10 + (unsigned)(s[1] - '0');
    return true;
}

static void read_review(loader *ld, yaml_node_t *v, ladder_policy *pol, const char *ladder)
{
    const char *s = expect_text(ld, v, "review");
    if (!s)
        return;
    if (!strcmp(s, "immediate")) {
        pol->review = REVIEW_IMMEDIATE;
        return;
    }
    if (!strcmp(s, "quarterly")) {
        pol->review = REVIEW_QUARTERLY;
        return;
    }
    unsigned mm, dd;
    const size_t plen = sizeof REVIEW_ANNUAL_PREFIX - 1;
    const char *d = s + plen;
    if (!strncmp(s, REVIEW_ANNUAL_PREFIX, plen) && strlen(s) == REVIEW_ANNUAL_LEN &&
        two_digits(d, &mm) && d[2] == '-' && two_digits(d + 3, &dd)) {
        /* td_next_anniversary knows which month/day pairs some year has
         * (29 February included). */
        if (mm >= 1 && mm <= MONTHS_PER_YEAR && dd >= 1 &&
            td_next_anniversary(0, mm, dd) != TD_TIME_NONE) {
            pol->review = REVIEW_ANNUAL;
            pol->review_month = mm;
            pol->review_day = dd;
            return;
        }
        problem(ld, v, "review '%s' of ladder '%s' names no real date", s, ladder);
        return;
    }
    problem(ld, v,
            "bad review '%.*s' for ladder '%s': expected immediate, quarterly or annual@MM-DD",
            echo_len(s), s, ladder);
}

/* Policy keys that name tiers, checked once every tier name is known. */
typedef struct policy_tiers {
    yaml_node_t *approval, *review_demotions;
} policy_tiers;

/* review_deadline: a demotion under review must get some time, and a
 * deadline with nothing under review would be a silent no-op. */
static void read_review_deadline(loader *ld, ladder_def *l, const policy_ctx *c)
{
    if (!c->review_deadline)
        return;
    if (!c->review_demotions) {
        problem(ld, c->review_deadline,
                "review_deadline of ladder '%s' needs review_demotions (true or a list of tiers)",
                l->name);
        return;
    }
    int64_t d = -1;
    read_duration(ld, c->review_deadline, "review_deadline", &d);
    if (d == 0)
        problem(ld, c->review_deadline,
                "review_deadline of ladder '%s' must be a positive duration (a demotion under "
                "review goes through when it passes)",
                l->name);
    else if (d > 0)
        l->policy.review_deadline = d;
}

static void read_policy(loader *ld, ladder_def *l, yaml_node_t *v, policy_tiers *named)
{
    static const key_slot keys[] = {KEY_SLOT(policy_ctx, "review", review),
                                    KEY_SLOT(policy_ctx, "grace", grace),
                                    KEY_SLOT(policy_ctx, "max_drop", max_drop),
                                    KEY_SLOT(policy_ctx, "approval", approval),
                                    KEY_SLOT(policy_ctx, "grandfather", grandfather),
                                    KEY_SLOT(policy_ctx, "review_demotions", review_demotions),
                                    KEY_SLOT(policy_ctx, "review_deadline", review_deadline),
                                    {NULL, 0}};
    char what[TD_MAX_NAME + 32];
    snprintf(what, sizeof what, "policy of ladder '%s'", l->name);
    policy_ctx c = {0};
    if (!each_pair(ld, v, what, keys, &c))
        return;
    if (c.review)
        read_review(ld, c.review, &l->policy, l->name);
    if (c.grace)
        read_duration(ld, c.grace, "grace", &l->policy.grace);
    if (c.grandfather)
        read_duration(ld, c.grandfather, "grandfather", &l->policy.grandfather);
    if (c.max_drop) {
        const char *s = expect_text(ld, c.max_drop, "max_drop");
        if (s) {
            size_t len = strlen(s);
            bool digits = len > 0 && len <= 4 && strspn(s, "0123456789") == len;
            int v2 = digits ? atoi(s) : 0;
            if (!digits || v2 < 1 || v2 > MAX_DROP_LIMIT)
                problem(ld, c.max_drop, "max_drop '%.*s' must be a whole number from 1 to %d",
                        echo_len(s), s, MAX_DROP_LIMIT);
            else
                l->policy.max_drop = v2;
        }
    }
    read_review_deadline(ld, l, &c);
    named->approval = c.approval;
    named->review_demotions = c.review_demotions;
}

/* Every tier name written in a ladder, complete tier or not (pointers into
 * the YAML document): duplicates and approvals are checked against what the
 * author wrote, so one broken tier does not cause a second, false report. */
typedef struct tier_names {
    const char *v[TD_MAX_TIERS];
    size_t n;
} tier_names;

static bool tier_named(const tier_names *names, const char *s)
{
    for (size_t i = 0; i < names->n; i++)
        if (!strcmp(names->v[i], s))
            return true;
    return false;
}

static void read_approval(loader *ld, ladder_def *l, yaml_node_t *list, const tier_names *names)
{
    if (!expect_sequence(ld, list, "approval"))
        return;
    for (yaml_node_item_t *it = list->data.sequence.items.start; it < list->data.sequence.items.top;
         it++) {
        yaml_node_t *n = node(ld, *it);
        const char *s = n ? expect_text(ld, n, "approval tier") : NULL;
        if (!s)
            continue;
        int t = ladder_tier_index(l, s);
        if (t < 0 && !tier_named(names, s))
            problem(ld, n, "approval names tier '%.*s', which ladder '%s' does not have",
                    echo_len(s), s, l->name);
        else if (t >= 0)
            l->policy.approval_mask |= 1u << t;
    }
}

/* review_demotions: true (every tier), false (none) or a list of the tiers
 * whose demotions wait for a person. */
static void read_review_demotions(loader *ld, ladder_def *l, yaml_node_t *v,
                                  const tier_names *names)
{
    if (v->type == YAML_SCALAR_NODE && !is_null(v)) {
        const char *s = scalar(v);
        if (!strcmp(s, "true"))
            l->policy.review_mask = l->n_tiers ? (uint32_t)((1ull << l->n_tiers) - 1) : 0;
        else if (strcmp(s, "false") != 0)
            problem(ld, v,
                    "review_demotions of ladder '%s' must be true, false or a list of tiers, not "
                    "'%.*s'",
                    l->name, echo_len(s), s);
        return;
    }
    if (v->type != YAML_SEQUENCE_NODE) {
        problem(ld, v, "review_demotions of ladder '%s' must be true, false or a list of tiers",
                l->name);
        return;
    }
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
        yaml_node_t *n = node(ld, *it);
        const char *s = n ? expect_text(ld, n, "review_demotions tier") : NULL;
        if (!s)
            continue;
        int t = ladder_tier_index(l, s);
        if (t < 0 && !tier_named(names, s))
            problem(ld, n, "review_demotions names tier '%.*s', which ladder '%s' does not have",
                    echo_len(s), s, l->name);
        else if (t >= 0)
            l->policy.review_mask |= 1u << t;
    }
}

static void tier_def_free(tier_def *t)
{
    free(t->name);
    free(t->when_src);
    expr_free(t->when);
    for (size_t b = 0; b < t->n_benefits; b++) {
        free(t->benefits[b]);
        free(t->parsed[b].name);
        free(t->parsed[b].value);
    }
    free(t->benefits);
    free(t->parsed);
    free(t->grants);
}

/* docs/program.md, "Benefits": a value written as a decimal number is
 * also a number; anything else (5k, 50%, gold, 0x10) is text only. */
static bool benefit_number(const char *s, double *out)
{
    const char *q = s + (*s == '-');
    size_t digits = strspn(q, "0123456789");
    if (!digits)
        return false;
    q += digits;
    if (*q == '.') {
        size_t frac = strspn(q + 1, "0123456789");
        if (!frac)
            return false;
        q += 1 + frac;
    }
    if (*q == 'e' || *q == 'E') {
        q += 1 + (q[1] == '+' || q[1] == '-');
        size_t exp = strspn(q, "0123456789");
        if (!exp)
            return false;
        q += exp;
    }
    return !*q && parse_double(s, out);
}

/* s (n bytes) without the spaces at either end, copied. */
static char *dup_trimmed(loader *ld, const char *s, size_t n)
{
    while (n && *s == ' ')
        s++, n--;
    while (n && s[n - 1] == ' ')
        n--;
    char *d = malloc(n + 1);
    if (!d) {
        ld->oom = true;
        return NULL;
    }
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

/* Splits benefit text s (item n) into b; false (reported, b freed) when a
 * side of its '=' is empty. */
static bool split_benefit(loader *ld, const yaml_node_t *n, const char *s, benefit_def *b)
{
    const char *eq = strchr(s, '=');
    b->name = dup_trimmed(ld, s, eq ? (size_t)(eq - s) : strlen(s));
    b->value = eq ? dup_trimmed(ld, eq + 1, strlen(eq + 1)) : NULL;
    bool ok = b->name && (!eq || b->value);
    if (ok && !*b->name) {
        problem(ld, n, "benefit '%.*s' has no name before '='", echo_len(s), s);
        ok = false;
    } else if (ok && eq && !*b->value) {
        problem(ld, n,
                "benefit '%.*s' has no value after '=' (write '%s' alone for a benefit "
                "without one)",
                echo_len(s), s, b->name);
        ok = false;
    }
    if (ok && b->value)
        b->has_number = benefit_number(b->value, &b->number);
    if (!ok) {
        free(b->name);
        free(b->value);
        *b = (benefit_def){0};
    }
    return ok;
}

/* A tier's `benefits` (what: "tier 2 of ladder 'l'"): labels, each split
 * into name and value; a name twice in one tier is refused. */
static void read_benefits(loader *ld, tier_def *t, yaml_node_t *list, const char *what)
{
    if (!expect_sequence(ld, list, "benefits"))
        return;
    size_t n = (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);
    if (n == 0)
        return;
    if (n > PROGRAM_MAX_LIST_ITEMS) {
        problem(ld, list, "benefits has %zu items, more than the limit of %d", n,
                PROGRAM_MAX_LIST_ITEMS);
        return;
    }
    t->benefits = calloc(n, sizeof *t->benefits);
    t->parsed = calloc(n, sizeof *t->parsed);
    if (!t->benefits || !t->parsed) {
        ld->oom = true;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *it = node(ld, list->data.sequence.items.start[i]);
        const char *s = it ? expect_text(ld, it, "benefits") : NULL;
        benefit_def b = {0};
        if (!s || !check_label(ld, it, s, "benefits") || !split_benefit(ld, it, s, &b))
            continue;
        bool seen = false;
        for (size_t j = 0; j < t->n_benefits && !seen; j++)
            seen = !strcmp(t->parsed[j].name, b.name);
        char *text = seen ? NULL : dup_text(ld, s);
        if (seen)
            problem(ld, it, "benefit '%s' appears twice in %s", b.name, what);
        if (!text) {
            free(b.name);
            free(b.value);
            continue;
        }
        t->benefits[t->n_benefits] = text;
        t->parsed[t->n_benefits++] = b;
    }
}

/* Whether a tier in (lo, hi] of l lists benefit `name`. */
static bool listed_above(const ladder_def *l, size_t lo, size_t hi, const char *name)
{
    for (size_t u = lo + 1; u <= hi; u++)
        for (size_t i = 0; i < l->tiers[u].n_benefits; i++)
            if (!strcmp(l->tiers[u].parsed[i].name, name))
                return true;
    return false;
}

/* Cumulative benefits (docs/program.md, "Benefits"): each tier's grants. */
static void compute_grants(loader *ld, ladder_def *l)
{
    for (size_t t = 0; t < l->n_tiers; t++) {
        tier_def *td = &l->tiers[t];
        size_t cap = 0;
        for (size_t s = 0; s <= t; s++)
            cap += l->tiers[s].n_benefits;
        if (!cap)
            continue;
        td->grants = calloc(cap, sizeof *td->grants);
        if (!td->grants) {
            ld->oom = true;
            return;
        }
        for (size_t s = 0; s <= t; s++)
            for (size_t i = 0; i < l->tiers[s].n_benefits; i++)
                if (!listed_above(l, s, t, l->tiers[s].parsed[i].name))
                    td->grants[td->n_grants++] =
                        (benefit_grant){&l->tiers[s].parsed[i], l->tiers[s].name};
    }
}

/* Tier i of ladder l, kept (l->n_tiers grows) only when complete, so
 * indices stay dense and nothing half-built reaches a caller. Its name,
 * complete or not, goes into names. */
static void read_tier(loader *ld, ladder_def *l, yaml_node_t *item, size_t i, tier_names *names)
{
    static const key_slot keys[] = {KEY_SLOT(tier_ctx, "name", name),
                                    KEY_SLOT(tier_ctx, "when", when),
                                    KEY_SLOT(tier_ctx, "benefits", benefits),
                                    {NULL, 0}};
    char what[TD_MAX_NAME + 48];
    snprintf(what, sizeof what, "tier %zu of ladder '%s'", i + 1, l->name);
    tier_ctx c = {0};
    if (!item || !each_pair(ld, item, what, keys, &c))
        return;
    tier_def *t = &l->tiers[l->n_tiers];
    const char *name = NULL;
    if (!c.name) {
        problem(ld, item, "%s is missing 'name'", what);
    } else {
        name = expect_text(ld, c.name, "tier name");
        if (name && !check_label(ld, c.name, name, "tier name"))
            name = NULL;
        if (name && tier_named(names, name)) {
            problem(ld, c.name, "duplicate tier '%s' in ladder '%s'", name, l->name);
            name = NULL;
        } else if (name) {
            names->v[names->n++] = name;
        }
    }
    if (!c.when)
        problem(ld, item, "%s is missing 'when'", what);
    else
        t->when = read_expr(ld, c.when, "when", &t->when_src);
    if (c.benefits)
        read_benefits(ld, t, c.benefits, what);
    if (name)
        t->name = dup_text(ld, name);
    if (t->name && t->when) {
        l->n_tiers++;
    } else {
        tier_def_free(t);
        memset(t, 0, sizeof *t);
    }
}

static void read_tiers(loader *ld, ladder_def *l, yaml_node_t *list, tier_names *names)
{
    char what[TD_MAX_NAME + 32], owner[TD_MAX_NAME + 16];
    snprintf(what, sizeof what, "tiers of ladder '%s'", l->name);
    snprintf(owner, sizeof owner, "ladder '%s'", l->name);
    size_t n = count_items(ld, list, what, owner, "tiers", "more than the limit of", TD_MAX_TIERS);
    if (!n)
        return;
    l->tiers = calloc(n, sizeof *l->tiers);
    if (!l->tiers) {
        ld->oom = true;
        return;
    }
    for (size_t i = 0; i < n; i++)
        read_tier(ld, l, node(ld, list->data.sequence.items.start[i]), i, names);
}

static void mask_add(void *ud, int metric)
{
    uint64_t *mask = ud;
    *mask |= UINT64_C(1) << metric;
}

static void compute_mask(const program *p, ladder_def *l)
{
    uint64_t direct = 0;
    expr_metrics(l->gate, mask_add, &direct);
    for (size_t t = 0; t < l->n_tiers; t++)
        expr_metrics(l->tiers[t].when, mask_add, &direct);
    uint64_t mask = direct;
    for (size_t m = 0; m < p->n_metrics; m++)
        if ((direct >> m & 1) && p->metrics[m].agg == AGG_SCORE)
            for (size_t i = 0; i < p->metrics[m].n_terms; i++)
                mask |= UINT64_C(1) << p->metrics[m].terms[i].metric;
    l->metric_mask = mask;
}

/* One partner_filter entry's values: a list of 1..PROGRAM_MAX_LIST_ITEMS
 * attribute values, each given once. */
static void read_filter_values(loader *ld, partner_filter *f, yaml_node_t *list)
{
    char what[TD_MAX_ATTR_KEY + 32];
    snprintf(what, sizeof what, "partner_filter '%s'", f->attr);
    size_t n = count_items(ld, list, what, what, "values", "more than the limit of",
                           PROGRAM_MAX_LIST_ITEMS);
    if (!n)
        return;
    f->values = calloc(n, sizeof *f->values);
    if (!f->values) {
        ld->oom = true;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *it = node(ld, list->data.sequence.items.start[i]);
        const char *s = it ? expect_text(ld, it, what) : NULL;
        if (!s)
            continue;
        if (!td_text_ok(s, TD_MAX_ATTR_VALUE)) {
            problem(ld, it, "%s: value must be 1..%d bytes of UTF-8 without control characters",
                    what, TD_MAX_ATTR_VALUE);
            continue;
        }
        bool seen = false;
        for (size_t j = 0; j < f->n_values; j++)
            seen = seen || !strcmp(f->values[j], s);
        if (seen) {
            problem(ld, it, "'%.*s' appears twice in %s", echo_len(s), s, what);
            continue;
        }
        f->values[f->n_values] = dup_text(ld, s);
        if (f->values[f->n_values])
            f->n_values++;
    }
}

/* partner_filter: {ATTR: [VALUE, ...], ...}, at least one attribute. */
static void read_partner_filter(loader *ld, ladder_def *l, yaml_node_t *map)
{
    if (!expect_mapping(ld, map, "partner_filter"))
        return;
    size_t n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    if (n == 0) {
        problem(ld, map,
                "ladder '%s' has an empty partner_filter (leave it out to take every partner "
                "its types match)",
                l->name);
        return;
    }
    if (n > TD_MAX_ATTRS) {
        problem(ld, map, "partner_filter names %zu attributes, more than the limit of %d", n,
                TD_MAX_ATTRS);
        return;
    }
    l->filters = calloc(n, sizeof *l->filters);
    if (!l->filters) {
        ld->oom = true;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        yaml_node_pair_t *pr = &map->data.mapping.pairs.start[i];
        yaml_node_t *k = node(ld, pr->key), *v = node(ld, pr->value);
        if (!k || !v)
            continue;
        if (k->type != YAML_SCALAR_NODE) {
            problem(ld, k, "keys in partner_filter must be attribute names, found %s",
                    kind_name(k));
            continue;
        }
        const char *key = scalar(k);
        if (!attr_key_ok(key)) {
            problem(ld, k,
                    "partner_filter key '%.*s' must be 1..%d bytes of letters, digits, '_', '.' "
                    "and '-'",
                    echo_len(key), key, TD_MAX_ATTR_KEY);
            continue;
        }
        bool dup = false;
        for (size_t j = 0; j < l->n_filters; j++)
            dup = dup || !strcmp(l->filters[j].attr, key);
        if (dup) {
            problem(ld, k, "duplicate key '%s' in partner_filter", key);
            continue;
        }
        partner_filter *f = &l->filters[l->n_filters];
        f->attr = dup_text(ld, key);
        if (!f->attr)
            continue;
        l->n_filters++;
        read_filter_values(ld, f, v);
    }
}

static void read_ladder(loader *ld, ladder_def *l, yaml_node_t *v)
{
    static const key_slot keys[] = {KEY_SLOT(ladder_ctx, "partner_types", types),
                                    KEY_SLOT(ladder_ctx, "partner_filter", filter),
                                    KEY_SLOT(ladder_ctx, "gate", gate),
                                    KEY_SLOT(ladder_ctx, "cumulative", cumulative),
                                    KEY_SLOT(ladder_ctx, "policy", policy),
                                    KEY_SLOT(ladder_ctx, "tiers", tiers),
                                    {NULL, 0}};
    char what[TD_MAX_NAME + 16];
    snprintf(what, sizeof what, "ladder '%s'", l->name);
    l->policy = (ladder_policy){
        .review = REVIEW_IMMEDIATE, .max_drop = 1, .review_deadline = TD_REVIEW_DEADLINE_DEFAULT};
    ladder_ctx c = {0};
    tier_names names = {.n = 0};
    if (!each_pair(ld, v, what, keys, &c))
        return;
    if (!c.types)
        problem(ld, v, "ladder '%s' is missing 'partner_types'", l->name);
    else {
        l->partner_types = read_labels(ld, c.types, "partner_types", &l->n_types, true);
        if (c.types->type == YAML_SEQUENCE_NODE &&
            c.types->data.sequence.items.top == c.types->data.sequence.items.start)
            problem(ld, c.types, "ladder '%s' has empty partner_types", l->name);
    }
    if (c.filter)
        read_partner_filter(ld, l, c.filter);
    if (c.gate)
        l->gate = read_expr(ld, c.gate, "gate", &l->gate_src);
    l->cumulative = true;
    if (c.cumulative)
        read_bool(ld, c.cumulative, "cumulative", &l->cumulative);
    if (!c.tiers)
        problem(ld, v, "ladder '%s' is missing 'tiers'", l->name);
    else
        read_tiers(ld, l, c.tiers, &names);
    compute_grants(ld, l);
    policy_tiers named = {NULL, NULL};
    if (c.policy)
        read_policy(ld, l, c.policy, &named);
    if (named.approval)
        read_approval(ld, l, named.approval, &names);
    if (named.review_demotions)
        read_review_demotions(ld, l, named.review_demotions, &names);
}

static void read_ladders(loader *ld, yaml_node_t *map)
{
    size_t n = count_entries(ld, map, "ladders", "ladder", TD_MAX_LADDERS);
    if (!n)
        return;
    program *p = ld->p;
    p->ladders = calloc(n, sizeof *p->ladders);
    if (!p->ladders) {
        ld->oom = true;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *v, *k = entry_key(ld, map, i, "ladder", &v);
        if (!k)
            continue;
        const char *name = scalar(k);
        if (!check_label(ld, k, name, "ladder name"))
            continue;
        if (program_ladder_index(p, name) >= 0) {
            problem(ld, k, "duplicate ladder '%s'", name);
            continue;
        }
        ladder_def *l = &p->ladders[p->n_ladders++];
        l->name = dup_text(ld, name);
        if (!l->name)
            return;
        read_ladder(ld, l, v);
        compute_mask(p, l);
    }
}

/* ---- KPI history: time_zone and kpi ---------------------------------- */

static void read_time_zone(loader *ld, yaml_node_t *v)
{
    const char *s = expect_text(ld, v, "time_zone");
    td_error err = {0};
    if (s && td_zone_parse(s, &ld->p->kpi_period.offset, &err) != 0)
        problem(ld, v, "time_zone: %s", err.message);
}

/* An attribute key kpi.by names: what a partner's attrs may hold
 * (attr_key_ok, the one key rule). */
static bool check_attr_key(loader *ld, const yaml_node_t *n, const char *s)
{
    bool ok = attr_key_ok(s);
    if (!ok)
        problem(ld, n,
                "kpi.by: attribute '%.*s' must be 1 to %d bytes of letters, digits, '_', '.' and "
                "'-'",
                echo_len(s), s, TD_MAX_ATTR_KEY);
    return ok;
}

static void read_kpi_by(loader *ld, yaml_node_t *list)
{
    /* `by: []` says "no breakdown" as plainly as leaving it out. */
    if (list->type == YAML_SEQUENCE_NODE &&
        list->data.sequence.items.top == list->data.sequence.items.start)
        return;
    size_t n = count_items(ld, list, "kpi.by", "kpi.by", "attributes", "more than the limit of",
                           TD_MAX_KPI_BY);
    if (!n)
        return;
    program *p = ld->p;
    p->kpi_by = calloc(n, sizeof *p->kpi_by);
    if (!p->kpi_by) {
        ld->oom = true;
        return;
    }
    for (yaml_node_item_t *it = list->data.sequence.items.start; it < list->data.sequence.items.top;
         it++) {
        yaml_node_t *v = node(ld, *it);
        const char *s = v ? expect_text(ld, v, "an attribute in kpi.by") : NULL;
        if (!s || !check_attr_key(ld, v, s))
            continue;
        bool dup = false;
        for (size_t i = 0; i < p->n_kpi_by; i++)
            dup = dup || !strcmp(p->kpi_by[i], s);
        if (dup) {
            problem(ld, v, "kpi.by names attribute '%s' twice", s);
            continue;
        }
        if (!(p->kpi_by[p->n_kpi_by] = dup_text(ld, s)))
            return;
        p->n_kpi_by++;
    }
}

typedef struct kpi_ctx {
    yaml_node_t *period, *by;
} kpi_ctx;

static void read_kpi(loader *ld, yaml_node_t *map)
{
    static const key_slot keys[] = {
        KEY_SLOT(kpi_ctx, "period", period), KEY_SLOT(kpi_ctx, "by", by), {NULL, 0}};
    kpi_ctx c = {0};
    if (!each_pair(ld, map, "kpi", keys, &c))
        return;
    const char *s;
    td_error err = {0};
    if (c.period && (s = expect_text(ld, c.period, "kpi.period")) &&
        td_period_parse(s, &ld->p->kpi_period.kind, &err) != 0)
        problem(ld, c.period, "kpi.period: %s", err.message);
    if (c.by)
        read_kpi_by(ld, c.by);
}

/* ---- the document --------------------------------------------------- */

typedef struct top_ctx {
    yaml_node_t *program, *version, *effective, *notice, *metrics, *ladders, *time_zone, *kpi;
} top_ctx;

static void read_program(loader *ld, yaml_node_t *root)
{
    static const key_slot keys[] = {KEY_SLOT(top_ctx, "program", program),
                                    KEY_SLOT(top_ctx, "version", version),
                                    KEY_SLOT(top_ctx, "effective", effective),
                                    KEY_SLOT(top_ctx, "notice", notice),
                                    KEY_SLOT(top_ctx, "metrics", metrics),
                                    KEY_SLOT(top_ctx, "ladders", ladders),
                                    KEY_SLOT(top_ctx, "time_zone", time_zone),
                                    KEY_SLOT(top_ctx, "kpi", kpi),
                                    {NULL, 0}};
    top_ctx c = {0};
    if (root->type != YAML_MAPPING_NODE) {
        problem(ld, root,
                "a program must be a mapping (program, version, metrics, ladders), "
                "found %s",
                kind_name(root));
        return;
    }
    /* Too many keys: what they hold is not worth reporting one by one. */
    if (!each_pair(ld, root, "the program", keys, &c))
        return;
    program *p = ld->p;
    const char *s;
    if (!c.program)
        problem(ld, root, "missing 'program' (the program's name)");
    else if ((s = expect_text(ld, c.program, "program")) &&
             check_label(ld, c.program, s, "program"))
        p->name = dup_text(ld, s);
    if (!c.version)
        problem(ld, root, "missing 'version'");
    else if ((s = expect_text(ld, c.version, "version")) &&
             check_label(ld, c.version, s, "version"))
        p->version = dup_text(ld, s);
    if (c.effective && (s = expect_text(ld, c.effective, "effective"))) {
        td_error err = {0};
        if (td_time_parse(s, &p->effective, &err) != 0)
            problem(ld, c.effective, "effective: %s", err.message);
    }
    if (c.notice)
        read_duration(ld, c.notice, "notice", &p->notice);
    if (c.time_zone)
        read_time_zone(ld, c.time_zone);
    if (c.kpi) {
        ld->p->kpi = true;
        read_kpi(ld, c.kpi);
    }
    if (!c.metrics)
        problem(ld, root, "missing 'metrics'");
    else
        read_metrics(ld, c.metrics);
    if (!c.ladders)
        problem(ld, root, "missing 'ladders'");
    else
        read_ladders(ld, c.ladders);
    for (size_t m = 0; m < p->n_metrics; m++) {
        const metric_window *w = &p->metrics[m].window;
        int64_t days = w->kind == WIN_DAYS      ? w->days
                       : w->kind == WIN_QUARTER ? QUARTER_RETENTION_DAYS
                       : w->kind == WIN_YEAR    ? YEAR_RETENTION_DAYS
                                                : 0;
        if (p->metrics[m].agg != AGG_SCORE && days > p->longest_window_days)
            p->longest_window_days = days;
    }
}

static void load(loader *ld, const char *text, size_t len)
{
    if (!td_yaml_load(&ld->y, text, len, TD_MAX_PROGRAM_BYTES)) {
        ld->oom = ld->y.oom;
        return;
    }
    if (!ld->y.root)
        problem_at(ld, 1, 1, "empty file: a program needs program, version, metrics and ladders");
    else
        read_program(ld, ld->y.root);
}

int program_parse(const char *text, size_t len, const char *filename, program **out,
                  td_diags *diags, td_error *err)
{
    td_diags local = {0};
    loader ld = {
        .file = filename ? filename : "program",
        .diags = diags ? diags : &local,
    };
    ld.y =
        (td_yaml){.file = ld.file, .kind = "program file", .report = diags_report, .ud = ld.diags};
    ld.p = calloc(1, sizeof *ld.p);
    if (!ld.p)
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "out of memory reading %s", ld.file);
    load(&ld, text ? text : "", text ? len : 0);
    td_yaml_free(&ld.y);
    td_diags_free(&local);
    if (ld.oom) {
        program_free(ld.p);
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "out of memory reading %s", ld.file);
    }
    if (ld.y.problems) {
        program_free(ld.p);
        return td_error_set(err, TD_INVALID_ARGUMENT, "%zu problem%s in %s", ld.y.problems,
                            ld.y.problems == 1 ? "" : "s", ld.file);
    }
    *out = ld.p;
    td_error_clear(err);
    return 0;
}

void program_free(program *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_metrics; i++) {
        free(p->metrics[i].name);
        free(p->metrics[i].event);
        free(p->metrics[i].terms);
    }
    free(p->metrics);
    for (size_t i = 0; i < p->n_ladders; i++) {
        ladder_def *l = &p->ladders[i];
        free(l->name);
        for (size_t t = 0; t < l->n_types; t++)
            free(l->partner_types[t]);
        free(l->partner_types);
        for (size_t f = 0; f < l->n_filters; f++) {
            for (size_t i = 0; i < l->filters[f].n_values; i++)
                free(l->filters[f].values[i]);
            free(l->filters[f].values);
            free(l->filters[f].attr);
        }
        free(l->filters);
        free(l->gate_src);
        expr_free(l->gate);
        for (size_t t = 0; t < l->n_tiers; t++)
            tier_def_free(&l->tiers[t]);
        free(l->tiers);
    }
    free(p->ladders);
    for (size_t i = 0; i < p->n_kpi_by; i++)
        free(p->kpi_by[i]);
    free(p->kpi_by);
    free(p->name);
    free(p->version);
    free(p);
}

int program_metric_index(const program *p, const char *name)
{
    if (!p || !name)
        return -1;
    for (size_t i = 0; i < p->n_metrics; i++)
        if (p->metrics[i].name && !strcmp(p->metrics[i].name, name))
            return (int)i;
    return -1;
}

int program_ladder_index(const program *p, const char *name)
{
    if (!p || !name)
        return -1;
    for (size_t i = 0; i < p->n_ladders; i++)
        if (p->ladders[i].name && !strcmp(p->ladders[i].name, name))
            return (int)i;
    return -1;
}

int ladder_tier_index(const ladder_def *l, const char *name)
{
    if (!l || !name)
        return -1;
    for (size_t i = 0; i < l->n_tiers; i++)
        if (l->tiers[i].name && !strcmp(l->tiers[i].name, name))
            return (int)i;
    return -1;
}

void ladder_tier_names(const ladder_def *l, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; l && i < l->n_tiers; i++) {
        int w = snprintf(buf + used, n - used, "%s%s", i ? ", " : "",
                         l->tiers[i].name ? l->tiers[i].name : "");
        if (w < 0 || (size_t)w >= n - used) {
            snprintf(buf + (n > 4 ? n - 4 : 0), 4, "...");
            return;
        }
        used += (size_t)w;
    }
}

const char *ladder_tier_name(const ladder_def *l, int t)
{
    return t >= 0 ? l->tiers[t].name : NULL;
}

const benefit_grant *ladder_tier_grants(const ladder_def *l, int t, size_t *n)
{
    bool held = l && t >= 0 && (size_t)t < l->n_tiers;
    *n = held ? l->tiers[t].n_grants : 0;
    return held ? l->tiers[t].grants : NULL;
}

const benefit_grant *ladder_tier_grant(const ladder_def *l, int t, const char *name)
{
    size_t n;
    const benefit_grant *g = ladder_tier_grants(l, t, &n);
    for (size_t i = 0; name && i < n; i++)
        if (!strcmp(g[i].def->name, name))
            return &g[i];
    return NULL;
}

bool ladder_matches_types(const ladder_def *l, char *const *types, size_t n_types)
{
    if (!l)
        return false;
    for (size_t i = 0; i < n_types; i++)
        for (size_t j = 0; j < l->n_types; j++)
            if (types[i] && !strcmp(types[i], l->partner_types[j]))
                return true;
    return false;
}
