/* One partner record (partner.h): its memory and its tier states.
 *
 * Owns allocating a partner in one block, growing its streams out of that
 * block when new event names arrive, swapping its tier array when a
 * program is applied or a record restored, and freeing all of it. Promises
 * that an allocation failure leaves the partner as it was. Does not decide
 * which ladders a partner sits on or what its tiers are (membership.c,
 * lifecycle.c) and does not know the partner map.
 *
 * Also owns which ladders a partner's types and attributes put it on
 * (partner_ladders), and reading its attributes.
 *
 * Place in the engine's line (tests/unit/test_engine_layers.sh): above
 * metric and attrs; calls down into them and program only. */
#include "partner.h"

#include <stdlib.h>
#include <string.h>

void tier_state_init(tier_state *ts)
{
    *ts = (tier_state){.tier = -1,
                       .qualifying = -1,
                       .pending = -1,
                       .override_tier = -1,
                       .denied = -1,
                       .review_denied = -1};
}

void tier_state_reset(tier_state *ts)
{
    free(ts->override_note);
    tier_state_init(ts);
}

char *tier_note_new(const char *actor, const char *reason)
{
    size_t na = strlen(actor), nr = strlen(reason);
    char *note = malloc(na + nr + 2);
    if (!note)
        return NULL;
    memcpy(note, actor, na + 1);
    memcpy(note + na + 1, reason, nr + 1);
    return note;
}

const char *tier_note_reason(const char *note)
{
    return note ? note + strlen(note) + 1 : NULL;
}

td_partner *partner_alloc(const char *id, size_t n_ladders, size_t n_streams)
{
    /* One allocation for the struct, its tiers, its streams and its id:
     * evaluating a partner then walks adjacent cache lines. */
    size_t n = strlen(id) + 1;
    size_t tiers = n_ladders * sizeof(tier_state), streams = n_streams * sizeof(metric_stream);
    td_partner *p = calloc(1, sizeof *p + tiers + streams + n);
    if (!p)
        return NULL;
    uint8_t *at = (uint8_t *)(p + 1);
    if (n_ladders) {
        p->tiers = (tier_state *)at;
        p->inline_parts |= PARTNER_INLINE_TIERS;
        p->n_tiers = (uint8_t)n_ladders;
        for (size_t l = 0; l < n_ladders; l++)
            tier_state_init(&p->tiers[l]);
    }
    if (n_streams) {
        p->streams = (metric_stream *)(at + tiers);
        p->n_streams = (uint32_t)n_streams;
        p->inline_parts |= PARTNER_INLINE_STREAMS;
    }
    p->id = (char *)(at + tiers + streams);
    memcpy(p->id, id, n);
    return p;
}

void partner_set_tiers(td_partner *p, tier_state *tiers, size_t n)
{
    for (size_t l = 0; p->tiers && l < p->n_tiers; l++)
        free(p->tiers[l].override_note);
    p->n_tiers = (uint8_t)n;
    if (!(p->inline_parts & PARTNER_INLINE_TIERS))
        free(p->tiers);
    p->inline_parts &= (uint8_t)~PARTNER_INLINE_TIERS;
    p->tiers = tiers;
}

void partner_destroy(td_partner *p)
{
    if (!p)
        return;
    for (uint32_t i = 0; i < p->n_streams; i++)
        metric_stream_free(&p->streams[i]);
    if (!(p->inline_parts & PARTNER_INLINE_STREAMS))
        free(p->streams);
    partner_set_tiers(p, NULL, 0);
    attrs_release(p->attrs);
    free(p->types);
    free(p->name);
    free(p);
}

int partner_grow_streams(td_partner *p, size_t n)
{
    if (n <= p->n_streams)
        return 0;
    metric_stream *s;
    if (p->inline_parts & PARTNER_INLINE_STREAMS) {
        s = malloc(n * sizeof *s);
        if (s && p->n_streams)
            memcpy(s, p->streams, p->n_streams * sizeof *s);
    } else {
        s = realloc(p->streams, n * sizeof *s);
    }
    if (!s)
        return -1;
    p->inline_parts &= (uint8_t)~PARTNER_INLINE_STREAMS;
    memset(&s[p->n_streams], 0, (n - p->n_streams) * sizeof *s);
    p->streams = s;
    p->n_streams = (uint32_t)n;
    return 0;
}

void engine_partner_info(const td_partner *p, td_partner_info *out)
{
    out->id = p->id;
    out->name = p->name;
    out->types = p->types;
    out->n_types = p->n_types;
    out->created = p->created;
    out->updated = p->updated;
    out->events = p->events;
}

void partner_set_attrs(td_partner *p, attr_set *s)
{
    attrs_release(p->attrs);
    p->attrs = s;
}

uint32_t partner_ladders(const program *prog, const td_partner *p)
{
    uint32_t on = 0;
    for (size_t l = 0; prog && l < prog->n_ladders; l++) {
        const ladder_def *ld = &prog->ladders[l];
        if (ladder_matches_types(ld, p->types, p->n_types) && attrs_pass_filter(p->attrs, ld))
            on |= 1u << l;
    }
    return on;
}

const char *engine_partner_attr(const td_partner *p, const char *key)
{
    return key ? attrs_get(p->attrs, key) : NULL;
}

size_t engine_partner_attrs(const td_partner *p, td_attr *out, size_t cap)
{
    size_t n = p->attrs ? p->attrs->n : 0;
    for (size_t i = 0; i < n && i < cap; i++)
        out[i] = (td_attr){p->attrs->kv[2 * i], p->attrs->kv[2 * i + 1]};
    return n;
}
