/* KPI snapshots (kpi_snap.h): one pass over the partners (distribution,
 * near misses through the audit's own test, activity) and one over the
 * change log since the snapshot before (moves by cause, time to the next
 * tier), summed per ladder and per kpi.by group, packed as a
 * tierd.KpiSnapshot and put in the store's open turn.
 *
 * Activity: a partner's event count (engine_partner_info) is compared with
 * the count the store's kpi_activity table kept for it at the snapshot
 * before; a difference means it had an event in the period. The table
 * also keeps whether it was active in that period, which is what
 * retention needs. Only partners whose record changes are written. */
#include "kpi_snap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/whatif.h"
#include "idset.h"
#include "log.h"
#include "state.h"
#include "tierd.pb-c.h"

#define KPI_PAGE       1024 /* partners per engine_partner_list call */
#define KPI_MAX_CAUSES 32   /* cause numbers counted; higher ones count as 0 */

struct kpi_snap {
    tierd *d;
    td_time last_at;   /* the last snapshot's boundary, TD_TIME_NONE: none */
    uint64_t last_seq; /* the change log it counted up to */
    td_time anchor;    /* with no snapshot: the first is the first boundary after this */
    bool anchored;     /* a program with `kpi` was in force when the anchor was set */
    td_time opened;    /* daemon time at start-up: a boundary before it passed while down */
};

/* ---- the last snapshot ---- */

static int on_last(void *ud, int64_t at, const uint8_t *pb, size_t len)
{
    kpi_snap *k = ud;
    Tierd__KpiSnapshot *s = tierd__kpi_snapshot__unpack(NULL, len, pb);
    k->last_at = at;
    k->last_seq = s ? s->last_sequence : 0;
    if (s)
        tierd__kpi_snapshot__free_unpacked(s, NULL);
    return 1;
}

int kpi_snap_reload(kpi_snap *k, td_time now, td_error *err)
{
    k->last_at = TD_TIME_NONE;
    k->last_seq = 0;
    int rc = store_each_kpi_before(k->d->store, 0, 1, on_last, k, err);
    if (rc < 0)
        return rc;
    /* The first period starts when the first program asking for
     * snapshots does, not when the daemon did: re-anchored until one with
     * a `kpi` key is in force. */
    const program *p = engine_program(k->d->engine);
    if (k->last_at == TD_TIME_NONE && !k->anchored) {
        k->anchor = now;
        k->anchored = p && p->kpi;
    }
    return 0;
}

int kpi_snap_open(tierd *d, td_time now, kpi_snap **out, td_error *err)
{
    kpi_snap *k = calloc(1, sizeof *k);
    if (!k)
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "kpi: out of memory");
    k->d = d;
    k->opened = now;
    int rc = kpi_snap_reload(k, now, err);
    if (rc) {
        free(k);
        return rc;
    }
    *out = k;
    return 0;
}

void kpi_snap_free(kpi_snap *k)
{
    free(k);
}

td_time kpi_snap_due(const kpi_snap *k)
{
    const program *p = engine_program(k->d->engine);
    if (!p || !p->kpi)
        return TD_TIME_NONE;
    /* A replayed import (replay.h) moves time from its first event: the
     * periods it walks through are taken too, at their instants. */
    td_time anchor = k->anchor;
    if (k->d->replay_at != TD_TIME_NONE && k->d->replay_at < anchor)
        anchor = k->d->replay_at;
    td_time base = k->last_at != TD_TIME_NONE && k->last_at > anchor ? k->last_at : anchor;
    return td_period_next(p->kpi_period, base);
}

td_time kpi_snap_boundary(const kpi_snap *k, td_time now)
{
    const program *p = engine_program(k->d->engine);
    return p ? td_period_start(p->kpi_period, now) : TD_TIME_NONE;
}

/* ---- sums while the snapshot is taken ---- */

typedef struct kpi_acc {
    const char *attr; /* NULL for the whole ladder */
    char *value;
    uint64_t counts[TD_MAX_TIERS + 1];
    uint64_t partners, near_miss, active, retained, to_unranked;
    uint64_t promotions[KPI_MAX_CAUSES], demotions[KPI_MAX_CAUSES];
    idset movers; /* partners with a move up */
    double *samples;
    size_t n_samples, cap_samples;
} kpi_acc;

typedef struct kpi_ladder_acc {
    const ladder_def *l;
    kpi_acc all;
    kpi_acc *by;
    size_t n_by, cap_by;
    bool full[TD_MAX_KPI_BY]; /* KPI_MAX_VALUES reached for attribute a */
} kpi_ladder_acc;

typedef struct kpi_take {
    tierd *d;
    const program *p;
    kpi_ladder_acc ladders[TD_MAX_LADDERS];
    bool oom;
} kpi_take;

static void acc_free(kpi_acc *a)
{
    free(a->value);
    idset_free(&a->movers);
    free(a->samples);
}

/* The group of ladder la for attribute a and value v (NULL: KPI_NO_VALUE). */
static kpi_acc *group(kpi_take *t, kpi_ladder_acc *la, size_t a, const char *v)
{
    const char *attr = t->p->kpi_by[a];
    if (!v || !*v)
        v = KPI_NO_VALUE;
    for (size_t i = 0; i < la->n_by; i++)
        if (la->by[i].attr == attr && !strcmp(la->by[i].value, v))
            return &la->by[i];
    if (la->full[a])
        v = KPI_OTHER_VALUE;
    size_t count = 0;
    for (size_t i = 0; i < la->n_by; i++) {
        if (la->by[i].attr == attr && !strcmp(la->by[i].value, v))
            return &la->by[i];
        count += la->by[i].attr == attr;
    }
    if (count + 1 >= KPI_MAX_VALUES && strcmp(v, KPI_OTHER_VALUE) != 0) {
        la->full[a] = true;
        return group(t, la, a, KPI_OTHER_VALUE);
    }
    if (la->n_by == la->cap_by) {
        size_t cap = la->cap_by ? la->cap_by * 2 : 8;
        kpi_acc *g = realloc(la->by, cap * sizeof *g);
        if (!g) {
            t->oom = true;
            return NULL;
        }
        la->by = g;
        la->cap_by = cap;
    }
    kpi_acc *g = &la->by[la->n_by];
    memset(g, 0, sizeof *g);
    g->attr = attr;
    if (!(g->value = strdup(v))) {
        t->oom = true;
        return NULL;
    }
    la->n_by++;
    return g;
}

/* The groups partner p (NULL: deleted since) counts in on ladder la:
 * the whole ladder first, then one per kpi.by attribute. */
static size_t groups_of(kpi_take *t, kpi_ladder_acc *la, const td_partner *p,
                        kpi_acc *out[TD_MAX_KPI_BY + 1])
{
    size_t n = 0;
    out[n++] = &la->all;
    for (size_t a = 0; a < t->p->n_kpi_by; a++) {
        kpi_acc *g = group(t, la, a, p ? engine_partner_attr(p, t->p->kpi_by[a]) : NULL);
        if (g)
            out[n++] = g;
    }
    return n;
}

/* ---- the pass over the partners ---- */

static int count_partner(kpi_take *t, td_partner *p, td_time at, td_error *err)
{
    tierd *d = t->d;
    td_partner_info info;
    engine_partner_info(p, &info);
    uint64_t before = 0;
    bool was_active = false, found = false;
    if (store_get_kpi_activity(d->store, info.id, &before, &was_active, &found, err) != 0)
        return -(int)err->code;
    bool active = info.events != before;
    (void)found; /* a partner never recorded counts from 0 events, inactive */
    if ((info.events != before || active != was_active) &&
        store_put_kpi_activity(d->store, info.id, info.events, active, err) != 0)
        return -(int)err->code;

    td_tier_view views[TD_MAX_LADDERS];
    size_t nv = engine_partner_tiers(d->engine, p, views, TD_MAX_LADDERS);
    if (!nv)
        return 0;
    td_audit au;
    td_page pg = {.partner = info.id, .summary = true};
    td_error aerr = {0};
    bool audited = engine_audit(d->engine, NULL, KPI_NEAR, at, &pg, &au, &aerr) == 0;
    for (size_t v = 0; v < nv; v++) {
        int l = program_ladder_index(t->p, views[v].ladder);
        if (l < 0)
            continue;
        kpi_ladder_acc *la = &t->ladders[l];
        int tier = views[v].tier ? ladder_tier_index(la->l, views[v].tier) : -1;
        bool near = audited && au.ladders[l].kinds[TD_AUDIT_NEAR_MISS] > 0;
        kpi_acc *gs[TD_MAX_KPI_BY + 1];
        size_t ng = groups_of(t, la, p, gs);
        for (size_t g = 0; g < ng; g++) {
            gs[g]->counts[tier + 1]++;
            gs[g]->partners++;
            gs[g]->near_miss += near;
            gs[g]->active += active;
            gs[g]->retained += active && was_active;
        }
    }
    if (audited)
        engine_audit_free(&au);
    return t->oom ? td_error_set(err, TD_RESOURCE_EXHAUSTED, "kpi: out of memory") : 0;
}

static int count_partners(kpi_take *t, td_time at, td_error *err)
{
    td_partner *page[KPI_PAGE];
    const char *after = NULL;
    bool more = true;
    while (more) {
        td_error lerr = {0};
        size_t n =
            engine_partner_list(t->d->engine, after, NULL, NULL, page, KPI_PAGE, &more, &lerr);
        if (lerr.code != TD_OK)
            return td_error_set(err, lerr.code, "kpi: %s", lerr.message);
        for (size_t i = 0; i < n; i++) {
            int rc = count_partner(t, page[i], at, err);
            if (rc)
                return rc;
        }
        if (!n)
            break;
        td_partner_info last;
        engine_partner_info(page[n - 1], &last);
        after = last.id;
    }
    return 0;
}

/* ---- the pass over the change log ---- */

/* When the partner took tier `tier` on `ladder`: its last change there
 * before sequence `seq` that moved to it. */
typedef struct took_find {
    uint64_t seq;
    const char *ladder, *tier;
    td_time at;
} took_find;

static int on_partner_change(void *ud, uint64_t seq, const uint8_t *pb, size_t len)
{
    took_find *f = ud;
    if (seq >= f->seq)
        return 0;
    Tierd__TierChange *c = tierd__tier_change__unpack(NULL, len, pb);
    if (!c)
        return 0;
    int stop = 0;
    if (!strcmp(c->ladder, f->ladder)) {
        if (!strcmp(c->to_tier, f->tier))
            f->at = c->at;
        stop = 1; /* the change before on this ladder: it took f->tier, or the chain broke */
    }
    tierd__tier_change__free_unpacked(c, NULL);
    return stop;
}

static bool add_sample(kpi_take *t, kpi_acc *a, double s)
{
    if (a->n_samples == a->cap_samples) {
        size_t cap = a->cap_samples ? a->cap_samples * 2 : 16;
        double *n = realloc(a->samples, cap * sizeof *n);
        if (!n) {
            t->oom = true;
            return false;
        }
        a->samples = n;
        a->cap_samples = cap;
    }
    a->samples[a->n_samples++] = s;
    return true;
}

typedef struct change_walk {
    kpi_take *t;
    td_error *err;
    int rc;
} change_walk;

static int on_change(void *ud, uint64_t seq, const uint8_t *pb, size_t len)
{
    change_walk *w = ud;
    kpi_take *t = w->t;
    Tierd__TierChange *c = tierd__tier_change__unpack(NULL, len, pb);
    if (!c)
        return 0; /* the change feed reports a damaged record; a KPI skips it */
    int l = program_ladder_index(t->p, c->ladder);
    if (l >= 0) {
        kpi_ladder_acc *la = &t->ladders[l];
        int from = *c->from_tier ? ladder_tier_index(la->l, c->from_tier) : -1;
        int to = *c->to_tier ? ladder_tier_index(la->l, c->to_tier) : -1;
        unsigned cause = (unsigned)c->cause < KPI_MAX_CAUSES ? (unsigned)c->cause : 0;
        double took = NAN;
        if (to == from + 1 && from >= 0) {
            took_find f = {seq, c->ladder, c->from_tier, TD_TIME_NONE};
            td_error ferr = {0};
            if (store_each_partner_change(t->d->store, c->partner, 0, on_partner_change, &f,
                                          &ferr) >= 0 &&
                f.at != TD_TIME_NONE && c->at >= f.at)
                took = (double)(c->at - f.at);
        }
        /* A tier a later version renamed away (index -1 on a named tier)
         * cannot be placed: such a move is not counted either way. */
        bool placeable = (!*c->from_tier || from >= 0) && (!*c->to_tier || to >= 0);
        kpi_acc *gs[TD_MAX_KPI_BY + 1];
        size_t ng =
            placeable ? groups_of(t, la, engine_partner_find(t->d->engine, c->partner), gs) : 0;
        for (size_t g = 0; g < ng; g++) {
            if (to > from) {
                gs[g]->promotions[cause]++;
                if (idset_add(&gs[g]->movers, c->partner) != 0)
                    t->oom = true;
                if (!isnan(took))
                    add_sample(t, gs[g], took);
            } else if (to < from) {
                gs[g]->demotions[cause]++;
                gs[g]->to_unranked += to < 0;
            }
        }
    }
    tierd__tier_change__free_unpacked(c, NULL);
    if (t->oom) {
        w->rc = td_error_set(w->err, TD_RESOURCE_EXHAUSTED, "kpi: out of memory");
        return 1;
    }
    return 0;
}

/* ---- packing ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
    if (!n)
        return 0;
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Everything a packed snapshot points at, freed after packing. */
typedef struct kpi_pack {
    void **blocks;
    size_t n, cap;
    bool oom;
} kpi_pack;

static void *pack_alloc(kpi_pack *pk, size_t size)
{
    if (pk->n == pk->cap) {
        size_t cap = pk->cap ? pk->cap * 2 : 64;
        void **b = realloc(pk->blocks, cap * sizeof *b);
        if (!b) {
            pk->oom = true;
            return NULL;
        }
        pk->blocks = b;
        pk->cap = cap;
    }
    void *m = calloc(1, size ? size : 1);
    if (!m)
        pk->oom = true;
    else
        pk->blocks[pk->n++] = m;
    return m;
}

static void pack_free(kpi_pack *pk)
{
    for (size_t i = 0; i < pk->n; i++)
        free(pk->blocks[i]);
    free(pk->blocks);
}

static Tierd__KpiCauseCount **cause_counts(kpi_pack *pk, const uint64_t *by_cause, size_t *n)
{
    *n = 0;
    Tierd__KpiCauseCount **out = pack_alloc(pk, KPI_MAX_CAUSES * sizeof *out);
    if (!out)
        return NULL;
    for (size_t c = 0; c < KPI_MAX_CAUSES; c++) {
        if (!by_cause[c])
            continue;
        Tierd__KpiCauseCount *cc = pack_alloc(pk, sizeof *cc);
        if (!cc)
            return NULL;
        tierd__kpi_cause_count__init(cc);
        cc->cause = (Tierd__Cause)c;
        cc->count = by_cause[c];
        out[(*n)++] = cc;
    }
    return out;
}

static Tierd__KpiGroup *pack_group(kpi_pack *pk, kpi_acc *a, size_t n_tiers)
{
    Tierd__KpiGroup *g = pack_alloc(pk, sizeof *g);
    uint64_t *counts = pack_alloc(pk, (n_tiers + 1) * sizeof *counts);
    if (!g || !counts)
        return NULL;
    tierd__kpi_group__init(g);
    g->attr = (char *)(a->attr ? a->attr : "");
    g->value = a->value ? a->value : (char *)"";
    memcpy(counts, a->counts, (n_tiers + 1) * sizeof *counts);
    g->counts = counts;
    g->n_counts = n_tiers + 1;
    g->partners = a->partners;
    g->near_miss = a->near_miss;
    g->active = a->active;
    g->retained = a->retained;
    g->moved_up = a->movers.n;
    g->to_unranked = a->to_unranked;
    g->promotions = cause_counts(pk, a->promotions, &g->n_promotions);
    g->demotions = cause_counts(pk, a->demotions, &g->n_demotions);
    g->median_next_tier = median(a->samples, a->n_samples);
    g->next_tier_moves = a->n_samples;
    return g;
}

static int put_snapshot(kpi_take *t, Tierd__KpiSnapshot *s, td_error *err)
{
    kpi_pack pk = {0};
    const program *p = t->p;
    s->ladders = pack_alloc(&pk, p->n_ladders * sizeof *s->ladders);
    for (size_t l = 0; s->ladders && l < p->n_ladders; l++) {
        kpi_ladder_acc *la = &t->ladders[l];
        Tierd__KpiLadder *kl = pack_alloc(&pk, sizeof *kl);
        char **tiers = pack_alloc(&pk, la->l->n_tiers * sizeof *tiers);
        Tierd__KpiGroup **by = pack_alloc(&pk, la->n_by * sizeof *by);
        if (!kl || !tiers || !by)
            break;
        tierd__kpi_ladder__init(kl);
        kl->ladder = la->l->name;
        for (size_t i = 0; i < la->l->n_tiers; i++)
            tiers[i] = la->l->tiers[i].name;
        kl->tiers = tiers;
        kl->n_tiers = la->l->n_tiers;
        kl->all = pack_group(&pk, &la->all, la->l->n_tiers);
        kl->by = by;
        for (size_t i = 0; i < la->n_by; i++)
            if ((by[kl->n_by] = pack_group(&pk, &la->by[i], la->l->n_tiers)))
                kl->n_by++;
        s->ladders[s->n_ladders++] = kl;
    }
    int rc = 0;
    if (pk.oom) {
        rc = td_error_set(err, TD_RESOURCE_EXHAUSTED, "kpi: out of memory packing a snapshot");
    } else {
        size_t len = tierd__kpi_snapshot__get_packed_size(s);
        uint8_t *buf = malloc(len ? len : 1);
        if (!buf) {
            rc = td_error_set(err, TD_RESOURCE_EXHAUSTED, "kpi: out of memory packing a snapshot");
        } else {
            tierd__kpi_snapshot__pack(s, buf);
            rc = store_put_kpi(t->d->store, s->at, buf, len, err);
            free(buf);
        }
    }
    pack_free(&pk);
    return rc;
}

/* ---- taking one ---- */

int kpi_snap_take(kpi_snap *k, td_time now, td_error *err)
{
    tierd *d = k->d;
    const program *p = engine_program(d->engine);
    td_time due = kpi_snap_due(k);
    if (!p || due == TD_TIME_NONE || now < due)
        return 0;
    td_time at = kpi_snap_boundary(k, now);
    kpi_take t = {.d = d, .p = p};
    for (size_t l = 0; l < p->n_ladders; l++)
        t.ladders[l].l = &p->ladders[l];
    uint64_t upto = store_last_sequence(d->store);
    int rc = count_partners(&t, at, err);
    change_walk w = {&t, err, 0};
    if (!rc && upto > k->last_seq) {
        rc = store_each_change_since(d->store, k->last_seq, (size_t)(upto - k->last_seq), on_change,
                                     &w, err);
        if (!rc)
            rc = w.rc;
    }
    if (!rc) {
        char zone[TD_ZONE_STRLEN];
        td_zone_format(p->kpi_period.offset, zone, sizeof zone);
        Tierd__KpiSnapshot s = TIERD__KPI_SNAPSHOT__INIT;
        s.at = at;
        s.period_start = k->last_at != TD_TIME_NONE && k->last_at < at
                             ? k->last_at
                             : td_period_start(p->kpi_period, at - 1);
        /* A replay takes its past boundaries in time, at their instants. */
        s.late = at > due || (at < k->opened && d->replay_at == TD_TIME_NONE);
        s.taken_at = now;
        s.last_sequence = upto;
        s.period = (char *)td_period_name(p->kpi_period.kind);
        s.time_zone = zone;
        s.program_version = p->version;
        rc = put_snapshot(&t, &s, err);
        if (!rc) {
            k->last_at = at;
            k->last_seq = upto;
            if (s.late) {
                char b[TD_TIME_STRLEN], n[TD_TIME_STRLEN];
                td_time_format(at, b, sizeof b);
                td_time_format(now, n, sizeof n);
                log_info("kpi: the snapshot for the boundary %s was taken late, at %s (tierd was "
                         "down over it)",
                         b, n);
            }
        }
    }
    for (size_t l = 0; l < p->n_ladders; l++) {
        acc_free(&t.ladders[l].all);
        for (size_t i = 0; i < t.ladders[l].n_by; i++)
            acc_free(&t.ladders[l].by[i]);
        free(t.ladders[l].by);
    }
    if (rc) {
        rc = rc < 0 ? rc : -(int)err->code;
        state_fail(d, err);
    }
    return rc;
}
