/* Kpi: the report over stored KPI snapshots (docs/kpi.md). Every number
 * is read from, or computed from, the snapshots whose boundary falls in
 * [from, to] and the one just before (for trends and retention), so the
 * answer costs one short walk of the "kpi" table however long the history
 * is: no pass over partners or the change log. Read only. */
#include <stdlib.h>
#include <string.h>

#include "handlers.h"
#include "kpi_snap.h"
#include "pbconv.h"
#include "tierd.pb-c.h"

#define KPI_MAX_ROWS    200000 /* a reply bigger than this asks for a narrower range */
#define SECONDS_PER_DAY 86400.0

typedef struct snaps {
    Tierd__KpiSnapshot **v;
    size_t n, cap;
    bool oom;
} snaps;

static int on_snapshot(void *ud, int64_t at, const uint8_t *pb, size_t len)
{
    (void)at;
    snaps *s = ud;
    Tierd__KpiSnapshot *k = tierd__kpi_snapshot__unpack(NULL, len, pb);
    if (!k)
        return 0; /* a record this tierd cannot read is left out */
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        Tierd__KpiSnapshot **v = realloc(s->v, cap * sizeof *v);
        if (!v) {
            tierd__kpi_snapshot__free_unpacked(k, NULL);
            s->oom = true;
            return 1;
        }
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = k;
    return 0;
}

static void snaps_free(snaps *s)
{
    for (size_t i = 0; i < s->n; i++)
        tierd__kpi_snapshot__free_unpacked(s->v[i], NULL);
    free(s->v);
}

static const Tierd__KpiLadder *find_ladder(const Tierd__KpiSnapshot *s, const char *name)
{
    for (size_t l = 0; s && l < s->n_ladders; l++)
        if (!strcmp(s->ladders[l]->ladder, name))
            return s->ladders[l];
    return NULL;
}

/* The group of kl for attribute `by` and `value`; the whole ladder when
 * by is "". */
static const Tierd__KpiGroup *find_group(const Tierd__KpiLadder *kl, const char *by,
                                         const char *value)
{
    if (!kl)
        return NULL;
    if (!*by)
        return kl->all;
    for (size_t g = 0; g < kl->n_by; g++)
        if (!strcmp(kl->by[g]->attr, by) && !strcmp(kl->by[g]->value, value))
            return kl->by[g];
    return NULL;
}

static double top_share(const Tierd__KpiGroup *g)
{
    return g && g->partners && g->n_counts > 1 ? (double)g->counts[g->n_counts - 1] / g->partners
                                               : 0;
}

static Tierd__KpiCauseCount **copy_causes(rpc_call *call, Tierd__KpiCauseCount **in, size_t n,
                                          uint64_t *sum)
{
    Tierd__KpiCauseCount **out = rpc_alloc(call, (n ? n : 1) * sizeof *out);
    *sum = 0;
    for (size_t i = 0; i < n; i++) {
        out[i] = rpc_alloc(call, sizeof *out[i]);
        tierd__kpi_cause_count__init(out[i]);
        out[i]->cause = in[i]->cause;
        out[i]->count = in[i]->count;
        *sum += in[i]->count;
    }
    return out;
}

/* One row: group g of ladder kl in snapshot s; prev is the same group a
 * period before (NULL when there is none). */
static Tierd__KpiRow *make_row(rpc_call *call, const Tierd__KpiSnapshot *s,
                               const Tierd__KpiLadder *kl, const char *by, const Tierd__KpiGroup *g,
                               const Tierd__KpiGroup *prev)
{
    Tierd__KpiRow *r = rpc_alloc(call, sizeof *r);
    tierd__kpi_row__init(r);
    r->period_start = s->period_start;
    r->period_end = s->at;
    r->late = s->late;
    r->ladder = rpc_strdup(call, kl->ladder);
    r->value = rpc_strdup(call, *by ? g->value : "");
    r->distribution = rpc_alloc(call, (g->n_counts ? g->n_counts : 1) * sizeof *r->distribution);
    for (size_t t = 0; t < g->n_counts && t <= kl->n_tiers; t++) {
        Tierd__TierCount *tc = rpc_alloc(call, sizeof *tc);
        tierd__tier_count__init(tc);
        tc->tier = rpc_strdup(call, t ? kl->tiers[t - 1] : "unranked");
        tc->count = g->counts[t];
        r->distribution[r->n_distribution++] = tc;
    }
    r->partners = g->partners;
    r->promotions = copy_causes(call, g->promotions, g->n_promotions, &r->promoted);
    r->n_promotions = g->n_promotions;
    r->demotions = copy_causes(call, g->demotions, g->n_demotions, &r->demoted);
    r->n_demotions = g->n_demotions;
    r->moved_up = g->moved_up;
    r->progression_rate = g->partners ? (double)g->moved_up / g->partners : 0;
    r->top_share = top_share(g);
    if (prev) {
        r->top_share_change = r->top_share - top_share(prev);
        r->has_top_share_change = true;
    }
    r->near_miss = g->near_miss;
    r->next_tier_moves = g->next_tier_moves;
    r->median_days_to_next_tier = g->next_tier_moves ? g->median_next_tier / SECONDS_PER_DAY : 0;
    r->active = g->active;
    r->retained = g->retained;
    if (prev && prev->active) {
        r->retention = (double)g->retained / prev->active;
        r->has_retention = true;
    }
    r->to_unranked = g->to_unranked;
    return r;
}

static int cmp_group_value(const void *a, const void *b)
{
    const Tierd__KpiGroup *x = *(Tierd__KpiGroup *const *)a, *y = *(Tierd__KpiGroup *const *)b;
    return strcmp(x->value, y->value);
}

int handle_kpi(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp, td_error *err)
{
    const Tierd__KpiRequest *r = (const Tierd__KpiRequest *)req;
    tierd *d = call->d;
    const program *p = engine_program(d->engine);
    if (!p)
        return td_error_set(err, TD_FAILED_PRECONDITION, TD_NO_PROGRAM_MESSAGE);
    td_time to = r->to ? r->to : call->now;
    if (r->from < 0 || to < 0 || r->from > to)
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "from (%lld) must not be after to (%lld), and neither before 1970",
                            (long long)r->from, (long long)to);
    const char *ladder = r->ladder ? r->ladder : "";
    if (*ladder && program_ladder_index(p, ladder) < 0)
        return td_error_set(err, TD_NOT_FOUND, "unknown ladder '%.*s'", TD_MAX_NAME, ladder);
    const char *by = r->by ? r->by : "";
    if (*by) {
        bool known = false;
        for (size_t a = 0; a < p->n_kpi_by; a++)
            known = known || !strcmp(p->kpi_by[a], by);
        if (!known)
            return td_error_set(err, TD_INVALID_ARGUMENT,
                                "attribute '%.64s' is not in the program's kpi.by: snapshots "
                                "break down only by the attributes it names (docs/program.md)",
                                by);
    }
    snaps s = {0};
    /* The period before the range, for trends and retention (none when
     * the range starts at the first). */
    int rc = r->from > 0 ? store_each_kpi_before(d->store, r->from, 1, on_snapshot, &s, err) : 0;
    size_t first = s.n; /* 0 or 1: the snapshot before the range */
    if (rc >= 0)
        rc = store_each_kpi(d->store, r->from, to, on_snapshot, &s, err);
    if (rc < 0) {
        snaps_free(&s);
        return rc;
    }
    if (s.oom) {
        snaps_free(&s);
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "kpi: out of memory reading snapshots");
    }
    Tierd__KpiResponse *out = rpc_alloc(call, sizeof *out);
    tierd__kpi_response__init(out);
    char zone[TD_ZONE_STRLEN];
    td_zone_format(p->kpi_period.offset, zone, sizeof zone);
    out->period = rpc_strdup(call, td_period_name(p->kpi_period.kind));
    out->time_zone = rpc_strdup(call, zone);
    out->by = rpc_strdup(call, by);
    out->snapshots = s.n - first;
    out->from = r->from;
    out->to = to;
    size_t cap = 0;
    for (size_t i = first; i < s.n; i++)
        for (size_t l = 0; l < s.v[i]->n_ladders; l++)
            cap += *by ? s.v[i]->ladders[l]->n_by : 1;
    if (cap > KPI_MAX_ROWS) {
        snaps_free(&s);
        return td_error_set(err, TD_OUT_OF_RANGE,
                            "%zu rows: more than %d; ask for a shorter range (--from, --to) or one "
                            "ladder",
                            cap, KPI_MAX_ROWS);
    }
    out->rows = rpc_alloc(call, (cap ? cap : 1) * sizeof *out->rows);
    for (size_t i = first; i < s.n; i++) {
        const Tierd__KpiSnapshot *snap = s.v[i], *prev = i ? s.v[i - 1] : NULL;
        for (size_t l = 0; l < snap->n_ladders; l++) {
            const Tierd__KpiLadder *kl = snap->ladders[l];
            if (*ladder && strcmp(kl->ladder, ladder) != 0)
                continue;
            const Tierd__KpiLadder *pl = find_ladder(prev, kl->ladder);
            if (!*by) {
                if (kl->all)
                    out->rows[out->n_rows++] =
                        make_row(call, snap, kl, by, kl->all, find_group(pl, by, ""));
                continue;
            }
            /* Values in a stable order, whatever order partners came in. */
            Tierd__KpiGroup **gs = rpc_alloc(call, (kl->n_by ? kl->n_by : 1) * sizeof *gs);
            size_t ng = 0;
            for (size_t g = 0; g < kl->n_by; g++)
                if (!strcmp(kl->by[g]->attr, by))
                    gs[ng++] = kl->by[g];
            qsort(gs, ng, sizeof *gs, cmp_group_value);
            for (size_t g = 0; g < ng; g++)
                out->rows[out->n_rows++] =
                    make_row(call, snap, kl, by, gs[g], find_group(pl, by, gs[g]->value));
        }
    }
    snaps_free(&s);
    *resp = &out->base;
    return 0;
}
