/* Membership (engine.h: partners and stats): which partners there are,
 * which ladders their types put them on, and who holds which tier.
 *
 * Owns creating, updating and deleting a partner through the API (a type
 * change moves it onto or off ladders, reported as tier changes), listing
 * partners by id with a ladder and tier filter, a partner's standing on
 * each ladder, and the count of partners per tier. Promises that a refused
 * upsert (bad text, too many types, out of memory) changes nothing. Does
 * not restore partners from their records (codec.c).
 *
 * Place in the engine's line (tests/unit/test_engine_layers.sh): above
 * evaluate; calls down only. */
#include <stdlib.h>
#include <string.h>

#include "change.h"
#include "evaluate.h"
#include "lifecycle.h"
#include "grow.h"
#include "hash.h"
#include "text.h"

static void leave_ladders(engine *e, td_partner *p, uint32_t leaving, td_time now, td_cause cause,
                          td_change_fn fn, void *ud)
{
    const program *prog = e->prog;
    if (!prog || !p->tiers || !leaving)
        return;
    e->queue_generation++; /* a tier queued on a ladder left goes with it */
    double values[TD_MAX_METRICS];
    eng_prog_values(&e->cp, p, eng_prog_partner_mask(&e->cp, p), now, values);
    for (size_t l = 0; l < prog->n_ladders; l++) {
        if (!(leaving & (1u << l)))
            continue;
        const ladder_def *ld = &prog->ladders[l];
        tier_state *ts = &p->tiers[l];
        int eff = ts_effective(ts);
        if (eff >= 0)
            change_report(prog, p, ld->name, ld, ld->tiers[eff].name, eff, NULL, now, cause, NULL,
                          cause == TD_CAUSE_PARTNER_DELETED ? NULL : values, NULL, NULL, fn, ud);
        tier_state_reset(ts);
    }
}

int engine_partner_upsert(engine *e, const char *id, const char *name, const char *const *types,
                          size_t n_types, td_time now, td_change_fn fn, void *ud, td_error *err)
{
    td_partner_put in = {.id = id, .name = name, .types = types, .n_types = n_types};
    return engine_partner_put(e, &in, now, fn, ud, err);
}

static int put_check(const td_partner_put *in, td_error *err)
{
    const char *id = in->id;
    if (!td_text_ok(id, TD_MAX_ID))
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "partner id: must be 1..%d bytes of UTF-8 without control characters",
                            TD_MAX_ID);
    if (in->name && !td_text_ok(in->name, TD_MAX_ID))
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "partner '%s': name must be 1..%d bytes of UTF-8 without control "
                            "characters",
                            id, TD_MAX_ID);
    if (in->n_types > TD_MAX_PARTNER_TYPES)
        return td_error_set(err, TD_INVALID_ARGUMENT, "partner '%s': %zu types, at most %d", id,
                            in->n_types, TD_MAX_PARTNER_TYPES);
    for (size_t i = 0; in->types && i < in->n_types; i++)
        if (!td_text_ok(in->types[i], TD_MAX_NAME))
            return td_error_set(err, TD_INVALID_ARGUMENT,
                                "partner '%s': type %zu must be 1..%d bytes of UTF-8 without "
                                "control characters",
                                id, i + 1, TD_MAX_NAME);
    td_error aerr = {0};
    if (in->set_attrs && attrs_check(in->attrs, in->n_attrs, &aerr) != 0)
        return td_error_set(err, TD_INVALID_ARGUMENT, "partner '%s': %s", id, aerr.message);
    return 0;
}

int engine_partner_put(engine *e, const td_partner_put *in, td_time now, td_change_fn fn, void *ud,
                       td_error *err)
{
    int rc = put_check(in, err);
    if (rc)
        return rc;
    const char *id = in->id;
    const char *const *types = in->types;
    size_t n_types = in->n_types;

    /* Copy everything first so an allocation failure changes nothing. */
    char *nname = in->name ? strdup(in->name) : NULL;
    char **ntypes = types ? calloc(n_types ? n_types : 1, sizeof *ntypes) : NULL;
    bool oom = (in->name && !nname) || (types && !ntypes);
    for (size_t i = 0; !oom && types && i < n_types; i++)
        oom = !(ntypes[i] = engine_type_intern(e, types[i]));
    attr_set *nattrs = NULL;
    if (!oom && in->set_attrs)
        nattrs = attrs_intern(&e->attrs, in->attrs, in->n_attrs, &oom);
    td_partner *p = engine_partner_find(e, id);
    bool fresh = !p;
    if (!oom && fresh) {
        p = partner_alloc(id, e->prog ? e->prog->n_ladders : 0, e->cp.n_ev);
        oom = !p || engine_partner_insert(e, p) != 0;
        if (oom && p) {
            partner_destroy(p);
            p = NULL;
        }
    }
    if (oom) {
        attrs_release(nattrs);
        free(nname);
        free(ntypes);
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "partner '%s': out of memory", id);
    }
    if (fresh) {
        p->created = now;
        e->dirty = true;
    }
    p->updated = now;
    engine_touch(e, p);
    if (nname) {
        free(p->name);
        p->name = nname;
    }
    if (ntypes) {
        free(p->types);
        p->types = ntypes;
        p->n_types = (uint32_t)n_types;
    }
    if (in->set_attrs)
        partner_set_attrs(p, nattrs);
    uint32_t on = partner_ladders(e->prog, p);
    leave_ladders(e, p, p->ladders & ~on, now, TD_CAUSE_DEMOTION, fn, ud);
    uint32_t joining = on & ~p->ladders;
    p->ladders = on;
    evaluate_ladders(e, p, joining, now, 0, NULL, fn, ud);
    return 0;
}

int engine_partner_delete(engine *e, const char *id, td_time now, td_change_fn fn, void *ud,
                          td_error *err)
{
    td_partner *p = td_text_ok(id, TD_MAX_ID) ? engine_partner_find(e, id) : NULL;
    if (!p)
        return td_error_set(err, TD_NOT_FOUND, "unknown partner '%s'",
                            td_text_ok(id, TD_MAX_ID) ? id : "(invalid id)");
    leave_ladders(e, p, p->ladders, now, TD_CAUSE_PARTNER_DELETED, fn, ud);
    engine_partner_remove(e, p);
    return 0;
}

size_t engine_partner_list(engine *e, const char *after, const char *ladder, const char *tier,
                           td_partner **out, size_t cap, bool *more, td_error *err)
{
    return engine_partner_list_where(e, after, ladder, tier, NULL, 0, out, cap, more, err);
}

static bool where_holds(const td_partner *p, const td_attr *where, size_t n_where)
{
    for (size_t i = 0; i < n_where; i++) {
        const char *v = attrs_get(p->attrs, where[i].key);
        if (!v || strcmp(v, where[i].value) != 0)
            return false;
    }
    return true;
}

size_t engine_partner_list_where(engine *e, const char *after, const char *ladder, const char *tier,
                                 const td_attr *where, size_t n_where, td_partner **out, size_t cap,
                                 bool *more, td_error *err)
{
    *more = false;
    td_error werr = {0};
    if (n_where && attrs_check(where, n_where, &werr) != 0) {
        td_error_set(err, TD_INVALID_ARGUMENT, "where: %s", werr.message);
        return 0;
    }
    int l = -1, t = -1;
    if (tier && !ladder) {
        td_error_set(err, TD_INVALID_ARGUMENT, "a tier filter needs a ladder");
        return 0;
    }
    if (ladder) {
        if (!e->prog) {
            td_error_set(err, TD_FAILED_PRECONDITION, "no program loaded");
            return 0;
        }
        l = program_ladder_index(e->prog, ladder);
        if (l < 0) {
            td_error_set(err, TD_NOT_FOUND, "unknown ladder '%s'",
                         td_text_ok(ladder, TD_MAX_NAME) ? ladder : "(invalid)");
            return 0;
        }
        if (tier && strcmp(tier, "unranked") != 0) {
            t = ladder_tier_index(&e->prog->ladders[l], tier);
            if (t < 0) {
                td_error_set(err, TD_NOT_FOUND, "ladder '%s' has no tier '%s'", ladder,
                             td_text_ok(tier, TD_MAX_NAME) ? tier : "(invalid)");
                return 0;
            }
        }
    }
    if (engine_sorted_rebuild(e) != 0) {
        td_error_set(err, TD_RESOURCE_EXHAUSTED, "listing partners: out of memory");
        return 0;
    }
    size_t n = 0;
    for (size_t i = engine_sorted_after(e, after); i < e->n_sorted; i++) {
        td_partner *p = e->sorted[i];
        if (l >= 0 && (!(p->ladders & (1u << l)) || !p->tiers))
            continue;
        if (l >= 0 && tier && ts_effective(&p->tiers[l]) != t)
            continue;
        if (n_where && !where_holds(p, where, n_where))
            continue;
        if (n == cap) {
            *more = true;
            break;
        }
        out[n++] = p;
    }
    return n;
}

size_t engine_partner_tiers(const engine *e, const td_partner *p, td_tier_view *out, size_t cap)
{
    size_t n = 0;
    const program *prog = e->prog;
    for (size_t l = 0; prog && p->tiers && l < prog->n_ladders && n < cap; l++) {
        if (!(p->ladders & (1u << l)))
            continue;
        const ladder_def *ld = &prog->ladders[l];
        const tier_state *ts = &p->tiers[l];
        int eff = ts_effective(ts);
        out[n++] = (td_tier_view){
            .ladder = ld->name,
            .tier = ladder_tier_name(ld, eff),
            .since = ts->since,
            .qualifying = ladder_tier_name(ld, ts->qualifying),
            .pending = ladder_tier_name(ld, ts->pending),
            .override_tier = ladder_tier_name(ld, ts->override_tier),
            .override_until = ts->override_until,
            .below_since = ts->below_since,
            .lifecycle_tier = ladder_tier_name(ld, ts->tier),
            .overridden = ts_overridden(ts),
            .override_actor = ts->override_note,
            .override_reason = tier_note_reason(ts->override_note),
            .pending_since = ts->pending_since,
            .pending_demotion = ts->pending_demotion,
            .pending_deadline = lifecycle_review_deadline(ld, ts),
        };
    }
    return n;
}

/* ---- stats ---- */

void engine_stats(const engine *e, uint64_t *counts)
{
    const program *prog = e->prog;
    if (!prog)
        return;
    memset(counts, 0, prog->n_ladders * (TD_MAX_TIERS + 1) * sizeof *counts);
    const td_partner *p;
    PMAP_FOREACH(&e->map, p) {
        for (size_t l = 0; p->tiers && l < prog->n_ladders; l++)
            if (p->ladders & (1u << l))
                counts[l * (TD_MAX_TIERS + 1) + (size_t)(ts_effective(&p->tiers[l]) + 1)]++;
    }
}

/* Rows of a breakdown by value, found through an open-addressing hash of
 * the value (slot 0 of rows is the partners without the attribute). */
typedef struct by_rows {
    td_stats_by *out;
    size_t cap_rows;
    int32_t *slots; /* row index + 1; 0 empty */
    size_t n_slots;
    size_t width;
} by_rows;

static bool by_grow_slots(by_rows *b)
{
    size_t n = b->n_slots ? b->n_slots * 2 : 64;
    int32_t *s = calloc(n, sizeof *s);
    if (!s)
        return false;
    for (size_t r = 1; r < b->out->n_rows; r++) {
        size_t i = td_hash_fnv1a(b->out->rows[r].value) & (n - 1);
        while (s[i])
            i = (i + 1) & (n - 1);
        s[i] = (int32_t)r + 1;
    }
    free(b->slots);
    b->slots = s;
    b->n_slots = n;
    return true;
}

/* The row for value (NULL: row 0); NULL on OOM or past the row limit. */
static td_stats_row *by_row(by_rows *b, const char *value)
{
    td_stats_by *o = b->out;
    if (!value)
        return &o->rows[0];
    size_t i = td_hash_fnv1a(value) & (b->n_slots - 1);
    for (; b->slots[i]; i = (i + 1) & (b->n_slots - 1))
        if (!strcmp(o->rows[b->slots[i] - 1].value, value))
            return &o->rows[b->slots[i] - 1];
    if (o->n_rows > TD_STATS_BY_MAX_VALUES)
        return NULL;
    td_stats_row *rows = td_grow(o->rows, &b->cap_rows, o->n_rows + 1, sizeof *rows, 16);
    if (!rows)
        return NULL;
    o->rows = rows;
    uint64_t *counts = calloc(b->width ? b->width : 1, sizeof *counts);
    if (!counts)
        return NULL;
    size_t r = o->n_rows++;
    o->rows[r] = (td_stats_row){.value = value, .counts = counts};
    b->slots[i] = (int32_t)r + 1;
    if (2 * o->n_rows > b->n_slots && !by_grow_slots(b))
        return NULL;
    return &o->rows[r];
}

static int by_value(const void *a, const void *b)
{
    return strcmp(((const td_stats_row *)a)->value, ((const td_stats_row *)b)->value);
}

int engine_stats_by(const engine *e, const char *attr, td_stats_by *out, td_error *err)
{
    *out = (td_stats_by){0};
    const program *prog = e->prog;
    if (!prog)
        return td_error_set(err, TD_FAILED_PRECONDITION, "no program loaded");
    td_attr probe = {attr, "x"};
    td_error kerr = {0};
    if (attrs_check(&probe, 1, &kerr) != 0)
        return td_error_set(err, TD_INVALID_ARGUMENT, "by: %s", kerr.message);
    by_rows b = {.out = out, .width = prog->n_ladders * (TD_MAX_TIERS + 1)};
    out->n_ladders = prog->n_ladders;
    /* Row 0: partners without the attribute; it has no slot. */
    out->rows = td_grow(NULL, &b.cap_rows, 1, sizeof *out->rows, 16);
    uint64_t *none = calloc(b.width ? b.width : 1, sizeof *none);
    bool oom = !out->rows || !none || !by_grow_slots(&b);
    if (out->rows && none)
        out->rows[out->n_rows++] = (td_stats_row){.value = NULL, .counts = none};
    else
        free(none);
    const td_partner *p;
    PMAP_FOREACH(&e->map, p) {
        if (oom)
            break;
        td_stats_row *row = by_row(&b, attrs_get(p->attrs, attr));
        if (!row) {
            oom = true;
            break;
        }
        row->partners++;
        for (size_t l = 0; p->tiers && l < prog->n_ladders; l++)
            if (p->ladders & (1u << l))
                row->counts[l * (TD_MAX_TIERS + 1) + (size_t)(ts_effective(&p->tiers[l]) + 1)]++;
    }
    bool too_many = out->n_rows > TD_STATS_BY_MAX_VALUES;
    free(b.slots);
    if (oom || too_many) {
        engine_stats_by_free(out);
        return too_many
                   ? td_error_set(err, TD_FAILED_PRECONDITION,
                                  "attribute '%s' has more than %d distinct values", attr,
                                  TD_STATS_BY_MAX_VALUES)
                   : td_error_set(err, TD_RESOURCE_EXHAUSTED, "stats by '%s': out of memory", attr);
    }
    if (out->n_rows > 2)
        qsort(out->rows + 1, out->n_rows - 1, sizeof *out->rows, by_value);
    return 0;
}

void engine_stats_by_free(td_stats_by *s)
{
    for (size_t r = 0; r < s->n_rows; r++)
        free(s->rows[r].counts);
    free(s->rows);
    *s = (td_stats_by){0};
}
