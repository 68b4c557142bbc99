/* Metrics: the registry the daemon shell counts into, and its rendering
 * in the Prometheus text exposition format 0.0.4 for the Metrics method
 * (docs/metrics.md lists every metric; names are tierd_*, units in the
 * name, counters end in _total).
 *
 * Counting is cheap on purpose: the arrays are sized at metrics_new and
 * indexed by method, status code, cause and bucket; an event source is
 * found through a fixed open-addressing table. The gauges come from the
 * Metrics handler, read at scrape time, so they never go stale.
 *
 * Label values are escaped as the format says (backslash, double quote,
 * newline); the values themselves are the program's ladder and tier
 * names, event sources and connector names, which the daemon already
 * holds to its text rule (common/text.h). */
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/engine.h"
#include "hash.h"
#include "text.h"
#include "tierd.pb-c.h"

#define METRICS_CODES        (TD_UNAUTHENTICATED + 1)
#define METRICS_HISTO_MAX    20                        /* bucket bounds per histogram, +Inf apart */
#define METRICS_SOURCE_SLOTS (METRICS_MAX_SOURCES + 2) /* + other, invalid */
#define METRICS_SOURCE_INDEX 1024                      /* power of two, over twice the slots */
#define METRICS_OUTCOMES     3
#define NS_PER_S             1e9

/* Upper bounds in seconds. RPC: tens of microseconds (a Status) up to a
 * ListChanges that waited its 30 s. Commit: an fsync on a fast disk up to
 * a stalled one. Timer lag: a due partner runs within its second when
 * nothing is behind; hours or days after a daemon was down. */
static const double rpc_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                    0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                    1,      2.5,     5,      10,    30};
static const double commit_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                       0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
static const double lag_bounds[] = {0.01, 0.1, 0.5, 1,   2,    5,     10,
                                    30,   60,  300, 900, 3600, 21600, 86400};
#define N_BOUNDS(a) (sizeof(a) / sizeof(a)[0])
_Static_assert(N_BOUNDS(rpc_bounds) <= METRICS_HISTO_MAX, "rpc_bounds: raise METRICS_HISTO_MAX");
_Static_assert(N_BOUNDS(commit_bounds) <= METRICS_HISTO_MAX,
               "commit_bounds: raise METRICS_HISTO_MAX");
_Static_assert(N_BOUNDS(lag_bounds) <= METRICS_HISTO_MAX, "lag_bounds: raise METRICS_HISTO_MAX");

static const char *const outcome_names[METRICS_OUTCOMES] = {
    [METRICS_ACCEPTED] = "accepted",
    [METRICS_DUPLICATE] = "duplicate",
    [METRICS_REJECTED] = "rejected",
};

typedef struct histo {
    uint64_t bucket[METRICS_HISTO_MAX + 1]; /* per bucket, not cumulative; last is +Inf */
    uint64_t count;
    double sum;
} histo;

typedef struct source_slot {
    char name[TD_MAX_ID + 1];
    uint64_t total[METRICS_OUTCOMES];
    uint64_t staged[METRICS_OUTCOMES];
    bool touched; /* staged counts wait for the turn's end */
} source_slot;

struct metrics {
    double started;     /* wall seconds */
    size_t n_methods;   /* the table's rows; row n_methods is METRICS_METHOD_UNKNOWN */
    uint64_t *requests; /* (n_methods + 1) x METRICS_CODES */
    histo *rpc;         /* n_methods + 1 */
    size_t n_causes;
    uint64_t *changes, *changes_staged; /* n_causes each */
    bool changes_touched;
    source_slot *sources; /* METRICS_SOURCE_SLOTS */
    size_t n_sources;
    uint16_t index[METRICS_SOURCE_INDEX]; /* slot + 1; 0 = empty */
    uint16_t touched[METRICS_SOURCE_SLOTS];
    size_t n_touched;
    histo commit;
    uint64_t committed_bytes;
    histo lag;
};

static void *metrics_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        abort();
    return p;
}

static double wall_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / NS_PER_S;
}

metrics *metrics_new(size_t n_methods)
{
    metrics *m = metrics_calloc(1, sizeof *m);
    m->started = wall_seconds();
    m->n_methods = n_methods;
    m->requests = metrics_calloc((m->n_methods + 1) * METRICS_CODES, sizeof *m->requests);
    m->rpc = metrics_calloc(m->n_methods + 1, sizeof *m->rpc);
    const ProtobufCEnumDescriptor *cd = &tierd__cause__descriptor;
    for (unsigned i = 0; i < cd->n_values; i++)
        if (cd->values[i].value >= 0 && (size_t)cd->values[i].value >= m->n_causes)
            m->n_causes = (size_t)cd->values[i].value + 1;
    m->changes = metrics_calloc(m->n_causes, sizeof *m->changes);
    m->changes_staged = metrics_calloc(m->n_causes, sizeof *m->changes_staged);
    m->sources = metrics_calloc(METRICS_SOURCE_SLOTS, sizeof *m->sources);
    return m;
}

void metrics_free(metrics *m)
{
    if (!m)
        return;
    free(m->requests);
    free(m->rpc);
    free(m->changes);
    free(m->changes_staged);
    free(m->sources);
    free(m);
}

static void histo_observe(histo *h, const double *bounds, size_t n, double v)
{
    size_t i = 0;
    while (i < n && v > bounds[i])
        i++;
    h->bucket[i]++;
    h->count++;
    h->sum += v;
}

void metrics_rpc_reply(metrics *m, int method, td_code status, uint64_t elapsed_ns)
{
    if (!m)
        return;
    size_t row = method >= 0 && (size_t)method < m->n_methods ? (size_t)method : m->n_methods;
    size_t code = (unsigned)status < METRICS_CODES ? (size_t)status : TD_UNKNOWN;
    m->requests[row * METRICS_CODES + code]++;
    histo_observe(&m->rpc[row], rpc_bounds, N_BOUNDS(rpc_bounds), (double)elapsed_ns / NS_PER_S);
}

/* The slot counting `name`, made on first sight while there is room. */
static source_slot *source_find(metrics *m, const char *name)
{
    size_t mask = METRICS_SOURCE_INDEX - 1;
    size_t at = (size_t)td_hash_fnv1a(name) & mask;
    for (;; at = (at + 1) & mask) {
        uint16_t k = m->index[at];
        if (k == 0)
            break;
        if (strcmp(m->sources[k - 1].name, name) == 0)
            return &m->sources[k - 1];
    }
    bool reserved =
        strcmp(name, METRICS_SOURCE_OTHER) == 0 || strcmp(name, METRICS_SOURCE_INVALID) == 0;
    if (!reserved && m->n_sources >= METRICS_MAX_SOURCES)
        return source_find(m, METRICS_SOURCE_OTHER);
    source_slot *s = &m->sources[m->n_sources];
    snprintf(s->name, sizeof s->name, "%s", name);
    m->index[at] = (uint16_t)(++m->n_sources);
    return s;
}

void metrics_event(metrics *m, const char *source, metrics_outcome outcome)
{
    if (!m || (unsigned)outcome >= METRICS_OUTCOMES)
        return;
    /* A source that breaks the text rule was rejected for it; as a label
     * it would break the exposition too. */
    if (!td_text_ok(source, TD_MAX_ID) || strcmp(source, METRICS_SOURCE_OTHER) == 0)
        source = METRICS_SOURCE_INVALID;
    source_slot *s = source_find(m, source);
    if (!s->touched) {
        s->touched = true;
        m->touched[m->n_touched++] = (uint16_t)(s - m->sources);
    }
    s->staged[outcome]++;
}

void metrics_change(metrics *m, int cause)
{
    if (!m)
        return;
    size_t c = cause >= 0 && (size_t)cause < m->n_causes ? (size_t)cause : 0;
    m->changes_staged[c]++;
    m->changes_touched = true;
}

void metrics_turn_end(metrics *m, bool committed)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_touched; i++) {
        source_slot *s = &m->sources[m->touched[i]];
        for (size_t o = 0; o < METRICS_OUTCOMES; o++) {
            if (committed)
                s->total[o] += s->staged[o];
            s->staged[o] = 0;
        }
        s->touched = false;
    }
    m->n_touched = 0;
    if (m->changes_touched) {
        for (size_t c = 0; c < m->n_causes; c++) {
            if (committed)
                m->changes[c] += m->changes_staged[c];
            m->changes_staged[c] = 0;
        }
        m->changes_touched = false;
    }
}

void metrics_commit(metrics *m, uint64_t elapsed_ns, uint64_t bytes)
{
    if (!m)
        return;
    histo_observe(&m->commit, commit_bounds, N_BOUNDS(commit_bounds),
                  (double)elapsed_ns / NS_PER_S);
    m->committed_bytes += bytes;
}

void metrics_timer_lag(metrics *m, double lag_s)
{
    if (!m)
        return;
    histo_observe(&m->lag, lag_bounds, N_BOUNDS(lag_bounds), lag_s > 0 ? lag_s : 0);
}

/* ---- the text ---------------------------------------------------------------- */

static void family(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value as the format wants it: \\, \" and \n escaped. */
static void label_value(FILE *f, const char *v)
{
    for (const char *p = v; *p; p++) {
        if (*p == '\\')
            fputs("\\\\", f);
        else if (*p == '"')
            fputs("\\\"", f);
        else if (*p == '\n')
            fputs("\\n", f);
        else
            fputc(*p, f);
    }
}

/* name{k1="v1",k2="v2"} with any of the pairs absent (NULL key). */
static void sample_start(FILE *f, const char *name, const char *k1, const char *v1, const char *k2,
                         const char *v2)
{
    fputs(name, f);
    if (!k1)
        return;
    fprintf(f, "{%s=\"", k1);
    label_value(f, v1);
    fputc('"', f);
    if (k2) {
        fprintf(f, ",%s=\"", k2);
        label_value(f, v2);
        fputc('"', f);
    }
    fputc('}', f);
}

static void sample_u64(FILE *f, const char *name, const char *k1, const char *v1, const char *k2,
                       const char *v2, uint64_t v)
{
    sample_start(f, name, k1, v1, k2, v2);
    fprintf(f, " %llu\n", (unsigned long long)v);
}

/* One histogram's _bucket (cumulative, +Inf last), _sum and _count lines,
 * with an optional label (k, v) before le. */
static void histo_render(FILE *f, const char *name, const char *k, const char *v, const histo *h,
                         const double *bounds, size_t n)
{
    char line[256];
    uint64_t cum = 0;
    for (size_t i = 0; i <= n; i++) {
        cum += h->bucket[i];
        snprintf(line, sizeof line, "%s_bucket", name);
        fputs(line, f);
        fputc('{', f);
        if (k) {
            fprintf(f, "%s=\"", k);
            label_value(f, v);
            fputs("\",", f);
        }
        if (i < n)
            fprintf(f, "le=\"%g\"} %llu\n", bounds[i], (unsigned long long)cum);
        else
            fprintf(f, "le=\"+Inf\"} %llu\n", (unsigned long long)cum);
    }
    snprintf(line, sizeof line, "%s_sum", name);
    sample_start(f, line, k, v, NULL, NULL);
    fprintf(f, " %.9g\n", h->sum);
    snprintf(line, sizeof line, "%s_count", name);
    sample_u64(f, line, k, v, NULL, NULL, h->count);
}

static const char *method_name(const metrics *m, const metrics_gauges *g, size_t row)
{
    return row < m->n_methods && g->method_name ? g->method_name(row) : METRICS_METHOD_UNKNOWN;
}

static void render_process(FILE *f, const metrics *m, const metrics_gauges *g)
{
    char format[16];
    snprintf(format, sizeof format, "%d", STORE_FORMAT_VERSION);
    family(f, "tierd_build_info", "gauge",
           "Always 1; the labels say which tierd this is and its store format.");
    sample_u64(f, "tierd_build_info", "version", g->version ? g->version : "", "store_format",
               format, 1);
    if (!m)
        return;
    family(f, "tierd_start_time_seconds", "gauge",
           "When tierd started, in seconds since the Unix epoch (the wall clock).");
    fprintf(f, "tierd_start_time_seconds %.3f\n", m->started);
}

static void render_partners(FILE *f, const metrics_gauges *g)
{
    family(f, "tierd_partners", "gauge",
           "Partners on each tier of each ladder of the program in force, unranked included.");
    const program *p = g->program;
    size_t width = TD_MAX_TIERS + 1;
    for (size_t l = 0; p && g->tier_counts && l < p->n_ladders; l++) {
        const ladder_def *ld = &p->ladders[l];
        for (size_t t = 0; t <= ld->n_tiers; t++)
            sample_u64(f, "tierd_partners", "ladder", ld->name, "tier",
                       t == 0 ? "unranked" : ld->tiers[t - 1].name, g->tier_counts[l * width + t]);
    }
    family(f, "tierd_pending_approvals", "gauge",
           "Tier moves waiting for a person's approval or review (tierctl pending).");
    fprintf(f, "tierd_pending_approvals %llu\n", (unsigned long long)g->pending);
}

static void render_counts(FILE *f, const metrics *m)
{
    family(f, "tierd_events_total", "counter",
           "Events judged by Ingest since tierd started, by source and outcome "
           "(accepted, duplicate, rejected); counted when their turn committed.");
    for (size_t i = 0; i < m->n_sources; i++)
        for (size_t o = 0; o < METRICS_OUTCOMES; o++)
            sample_u64(f, "tierd_events_total", "source", m->sources[i].name, "outcome",
                       outcome_names[o], m->sources[i].total[o]);
    family(f, "tierd_tier_changes_total", "counter",
           "Tier changes committed since tierd started, by cause (tierd.Cause names).");
    for (size_t c = 0; c < m->n_causes; c++) {
        const ProtobufCEnumValue *v =
            protobuf_c_enum_descriptor_get_value(&tierd__cause__descriptor, (int)c);
        if (v)
            sample_u64(f, "tierd_tier_changes_total", "cause", v->name, NULL, NULL, m->changes[c]);
    }
}

static void render_rpc(FILE *f, const metrics *m, const metrics_gauges *g)
{
    family(f, "tierd_rpc_requests_total", "counter",
           "RPC replies sent since tierd started, by method and status code.");
    for (size_t r = 0; r <= m->n_methods; r++)
        for (size_t c = 0; c < METRICS_CODES; c++)
            if (m->requests[r * METRICS_CODES + c])
                sample_u64(f, "tierd_rpc_requests_total", "method", method_name(m, g, r), "code",
                           td_code_name((td_code)c), m->requests[r * METRICS_CODES + c]);
    family(f, "tierd_rpc_duration_seconds", "histogram",
           "Time from taking an RPC request to sending its reply, by method (a ListChanges "
           "long-poll includes its wait).");
    for (size_t r = 0; r <= m->n_methods; r++)
        if (m->rpc[r].count)
            histo_render(f, "tierd_rpc_duration_seconds", "method", method_name(m, g, r),
                         &m->rpc[r], rpc_bounds, N_BOUNDS(rpc_bounds));
}

static void render_store(FILE *f, const metrics *m, const metrics_gauges *g)
{
    if (m) {
        family(f, "tierd_store_commit_duration_seconds", "histogram",
               "Time a store commit (one write transaction, one fsync) took.");
        histo_render(f, "tierd_store_commit_duration_seconds", NULL, NULL, &m->commit,
                     commit_bounds, N_BOUNDS(commit_bounds));
        family(f, "tierd_store_committed_bytes_total", "counter",
               "Key and value bytes written by committed store transactions since tierd "
               "started.");
        fprintf(f, "tierd_store_committed_bytes_total %llu\n",
                (unsigned long long)m->committed_bytes);
    }
    const store_usage *u = g->store;
    if (!u)
        return;
    family(f, "tierd_store_file_size_bytes", "gauge", "Size of the store's LMDB data file.");
    fprintf(f, "tierd_store_file_size_bytes %llu\n", (unsigned long long)u->file_bytes);
    family(f, "tierd_store_used_bytes", "gauge",
           "Bytes of the LMDB map in use (pages up to the last one used).");
    fprintf(f, "tierd_store_used_bytes %llu\n", (unsigned long long)u->used_bytes);
    family(f, "tierd_store_map_size_bytes", "gauge",
           "The LMDB map size: how far the store may grow before it is resized.");
    fprintf(f, "tierd_store_map_size_bytes %llu\n", (unsigned long long)u->map_bytes);
}

static void render_connectors(FILE *f, const metrics_gauges *g)
{
    family(f, "tierd_connector_state", "gauge",
           "1 for the state each configured connector is in, 0 for the others.");
    for (size_t i = 0; i < g->n_connectors; i++)
        for (const char *const *s = g->connector_states; s && *s; s++)
            sample_u64(f, "tierd_connector_state", "connector", g->connectors[i].name, "state", *s,
                       strcmp(*s, g->connectors[i].state) == 0);
    family(f, "tierd_connector_restarts_total", "counter",
           "Times tierd restarted each connector's process since tierd started.");
    for (size_t i = 0; i < g->n_connectors; i++)
        sample_u64(f, "tierd_connector_restarts_total", "connector", g->connectors[i].name, NULL,
                   NULL, g->connectors[i].restarts);
}

void metrics_render(const metrics *m, const metrics_gauges *g, FILE *f)
{
    render_process(f, m, g);
    render_partners(f, g);
    if (m) {
        render_counts(f, m);
        render_rpc(f, m, g);
    }
    render_store(f, m, g);
    if (m) {
        family(f, "tierd_timer_lag_seconds", "histogram",
               "How long after its due instant the real-clock timer evaluated a due partner.");
        histo_render(f, "tierd_timer_lag_seconds", NULL, NULL, &m->lag, lag_bounds,
                     N_BOUNDS(lag_bounds));
    }
    render_connectors(f, g);
}
