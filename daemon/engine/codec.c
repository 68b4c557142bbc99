/* The partner codec: a compact, versioned, portable byte string holding one
 * partner's identity, metric streams and tier state, for the store.
 *
 * Layout (all integers little-endian, fixed width; doubles as IEEE-754
 * bits in a u64; a string is u32 length + bytes, length 0xFFFFFFFF = none):
 *   "TDP" u8 version
 *   str id, str? name, u32 n_types, str type...
 *   u32 n_attrs, per attribute (sorted by key): str key, str value
 *   i64 created, i64 updated, u64 events
 *   u32 n_streams, per stream (sorted by event name):
 *     str event, u64 count, f64 sum min max latest, i64 latest_at,
 *     u32 n_buckets, per bucket: i64 at, f64 sum min max last, u32 count
 *     u32 n_keys, per key: str key, i64 last
 *   u32 n_tiers, per ladder the partner sits on:
 *     str ladder, str? tier, str? qualifying, str? pending, str? override,
 *     str? denied, str? override actor, str? override reason,
 *     i64 since, i64 override_until, i64 below_since, i64 pending_since,
 *     u8 pending_demotion, str? review_denied
 * Version 3 lacks the attributes (they came in version 4): it is still
 * read, with none. Version 2 lacks the last two (demotion review came after it): it is still
 * read, with no demotion pending or denied. Version 1 (written before the lifecycle existed) lacks
 * denied, actor, reason and pending_since; it is still read, and any override fields in it are
 * ignored since nothing could have set them. An override is active when override_until is set
 * (override NULL then pins "unranked") and must carry its actor and reason. Streams and tiers are
 * keyed by NAME, so bytes survive program changes and restarts; streams are sorted so equal state
 * encodes to equal bytes.
 *
 * Restore validates every length against the buffer, every string as text,
 * every number as finite and every ordering the engine relies on before it
 * touches the engine; anything else is TD_DATA_LOSS. Tier state for ladders
 * or tiers the program in force does not have is dropped.
 *
 * Place in the engine's line (tests/unit/test_engine_layers.sh): above the
 * engine's state; calls down only (restoring evaluates nothing). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine_state.h"
#include "text.h"

#define CODEC_MAGIC      "TDP"
#define CODEC_MAGIC_LEN  3
#define CODEC_VERSION    4
#define CODEC_VERSION_3  3 /* before partner attributes: still read */
#define CODEC_VERSION_2  2 /* before demotion review: still read */
#define CODEC_VERSION_1  1 /* before the lifecycle: still read */
#define CODEC_NONE       UINT32_MAX
#define BUCKET_BYTES     (8 + 4 * 8 + 4)
#define KEY_MIN_BYTES    (4 + 8)
#define TIER_MIN_BYTES_1 (5 * 4 + 3 * 8)
#define TIER_MIN_BYTES_2 (8 * 4 + 4 * 8)
#define TIER_MIN_BYTES   (TIER_MIN_BYTES_2 + 1 + 4)

/* ---- writer ---- */

typedef struct wbuf {
    uint8_t *b;
    size_t n, cap;
    bool oom;
} wbuf;

static void w_bytes(wbuf *w, const void *src, size_t n)
{
    if (w->oom)
        return;
    if (w->n + n > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->n + n)
            cap *= 2;
        uint8_t *b = realloc(w->b, cap);
        if (!b) {
            w->oom = true;
            return;
        }
        w->b = b;
        w->cap = cap;
    }
    memcpy(w->b + w->n, src, n);
    w->n += n;
}

static void w_u64(wbuf *w, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    w_bytes(w, b, 8);
}

static void w_u32(wbuf *w, uint32_t v)
{
    uint8_t b[4];
    for (int i = 0; i < 4; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    w_bytes(w, b, 4);
}

static void w_i64(wbuf *w, int64_t v)
{
    w_u64(w, (uint64_t)v);
}

static void w_f64(wbuf *w, double d)
{
    uint64_t v;
    memcpy(&v, &d, sizeof v);
    w_u64(w, v);
}

static void w_str(wbuf *w, const char *s)
{
    if (!s) {
        w_u32(w, CODEC_NONE);
        return;
    }
    size_t n = strlen(s);
    w_u32(w, (uint32_t)n);
    w_bytes(w, s, n);
}

static int w_bucket(void *ud, const metric_bucket *b)
{
    wbuf *w = ud;
    w_i64(w, b->at);
    w_f64(w, b->sum);
    w_f64(w, b->min);
    w_f64(w, b->max);
    w_f64(w, b->last);
    w_u32(w, b->count);
    return 0;
}

static int w_key(void *ud, const char *key, td_time last)
{
    wbuf *w = ud;
    w_str(w, key);
    w_i64(w, last);
    return 0;
}

typedef struct stream_ref {
    const char *name;
    const metric_stream *s;
} stream_ref;

static int by_name(const void *a, const void *b)
{
    return strcmp(((const stream_ref *)a)->name, ((const stream_ref *)b)->name);
}

int engine_partner_encode(const engine *e, const td_partner *p, uint8_t **buf, size_t *len)
{
    wbuf w = {0};
    w_bytes(&w, CODEC_MAGIC, CODEC_MAGIC_LEN);
    uint8_t version = CODEC_VERSION;
    w_bytes(&w, &version, 1);
    w_str(&w, p->id);
    w_str(&w, p->name);
    w_u32(&w, p->n_types);
    for (uint32_t i = 0; i < p->n_types; i++)
        w_str(&w, p->types[i]);
    uint32_t na = p->attrs ? p->attrs->n : 0;
    w_u32(&w, na);
    for (uint32_t i = 0; i < 2 * na; i++)
        w_str(&w, p->attrs->kv[i]);
    w_i64(&w, p->created);
    w_i64(&w, p->updated);
    w_u64(&w, p->events);

    stream_ref *refs = calloc(p->n_streams ? p->n_streams : 1, sizeof *refs);
    if (!refs) {
        free(w.b);
        return -TD_RESOURCE_EXHAUSTED;
    }
    uint32_t ns = 0;
    for (uint32_t i = 0; i < p->n_streams && i < e->events.n; i++) {
        const metric_stream *s = &p->streams[i];
        if (s->count || metric_stream_has_window(s))
            refs[ns++] = (stream_ref){e->events.v[i], s};
    }
    qsort(refs, ns, sizeof *refs, by_name);
    w_u32(&w, ns);
    for (uint32_t i = 0; i < ns; i++) {
        const metric_stream *s = refs[i].s;
        w_str(&w, refs[i].name);
        w_u64(&w, s->count);
        w_f64(&w, s->count ? s->sum : 0);
        w_f64(&w, s->count ? s->min : 0);
        w_f64(&w, s->count ? s->max : 0);
        w_f64(&w, s->count ? s->latest : 0);
        w_i64(&w, s->count ? s->latest_at : 0);
        w_u32(&w, metric_stream_n_buckets(s));
        metric_stream_each_bucket(s, w_bucket, &w);
        w_u32(&w, metric_stream_n_keys(s));
        if (metric_stream_each_key(s, w_key, &w) != 0)
            w.oom = true;
    }
    free(refs);

    const program *prog = e->prog;
    uint32_t nt = 0;
    for (size_t l = 0; prog && p->tiers && l < prog->n_ladders; l++)
        nt += (p->ladders >> l) & 1u;
    w_u32(&w, nt);
    for (size_t l = 0; nt && l < prog->n_ladders; l++) {
        if (!(p->ladders & (1u << l)))
            continue;
        const ladder_def *ld = &prog->ladders[l];
        const tier_state *ts = &p->tiers[l];
        w_str(&w, ld->name);
        w_str(&w, ladder_tier_name(ld, ts->tier));
        w_str(&w, ladder_tier_name(ld, ts->qualifying));
        w_str(&w, ladder_tier_name(ld, ts->pending));
        w_str(&w, ladder_tier_name(ld, ts->override_tier));
        w_str(&w, ladder_tier_name(ld, ts->denied));
        const char *note = ts_overridden(ts) ? ts->override_note : NULL;
        w_str(&w, note);
        w_str(&w, tier_note_reason(note));
        w_i64(&w, ts->since);
        w_i64(&w, ts->override_until);
        w_i64(&w, ts->below_since);
        w_i64(&w, ts->pending_since);
        uint8_t down = ts->pending_demotion;
        w_bytes(&w, &down, 1);
        w_str(&w, ladder_tier_name(ld, ts->review_denied));
    }
    if (w.oom) {
        free(w.b);
        return -TD_RESOURCE_EXHAUSTED;
    }
    *buf = w.b;
    *len = w.n;
    return 0;
}

/* ---- reader ---- */

/* Strings read are copied, NUL-terminated, into `scratch`, which the
 * record keeps until it is placed: ids, names and keys are copied again
 * (or interned) by what takes them, so one buffer per record replaces a
 * malloc and a free per string. Every string costs its 4-byte length in
 * the input and one NUL in scratch, so scratch never needs more than the
 * input's length. */
typedef struct rbuf {
    const uint8_t *p;
    size_t left;
    const char *bad; /* first problem found, or NULL */
    char *scratch;
    size_t used;
} rbuf;

static bool r_take(rbuf *r, void *dst, size_t n, const char *what)
{
    if (r->bad)
        return false;
    if (r->left < n) {
        r->bad = what;
        return false;
    }
    memcpy(dst, r->p, n);
    r->p += n;
    r->left -= n;
    return true;
}

static uint64_t r_u64(rbuf *r, const char *what)
{
    uint8_t b[8] = {0};
    r_take(r, b, 8, what);
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | b[i];
    return v;
}

static uint8_t r_u8(rbuf *r, const char *what)
{
    uint8_t b = 0;
    r_take(r, &b, 1, what);
    return b;
}

static uint32_t r_u32(rbuf *r, const char *what)
{
    uint8_t b[4] = {0};
    r_take(r, b, 4, what);
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static int64_t r_i64(rbuf *r, const char *what)
{
    return (int64_t)r_u64(r, what);
}

static double r_f64(rbuf *r, const char *what)
{
    uint64_t v = r_u64(r, what);
    double d;
    memcpy(&d, &v, sizeof d);
    if (!r->bad && !isfinite(d))
        r->bad = what;
    return d;
}

static bool r_time_ok(td_time t)
{
    return t == TD_TIME_NONE || (t >= TD_TIME_MIN && t <= TD_TIME_MAX);
}

static int64_t r_time(rbuf *r, const char *what)
{
    int64_t t = r_i64(r, what);
    if (!r->bad && !r_time_ok(t))
        r->bad = what;
    return t;
}

/* A text string of at most max bytes, in r->scratch; NULL for "none"
 * (when optional) or on error (r->bad set). */
static char *r_str(rbuf *r, size_t max, bool optional, const char *what)
{
    uint32_t n = r_u32(r, what);
    if (r->bad)
        return NULL;
    if (n == CODEC_NONE && optional)
        return NULL;
    if (n > max || n > r->left) {
        r->bad = what;
        return NULL;
    }
    char *s = r->scratch + r->used;
    memcpy(s, r->p, n);
    s[n] = '\0';
    r->used += (size_t)n + 1;
    r->p += n;
    r->left -= n;
    if (!td_text_ok(s, max)) {
        r->bad = what;
        return NULL;
    }
    return s;
}

typedef struct rstream {
    char *event;
    metric_stream s;
} rstream;

static void r_stream(rbuf *r, rstream *rs)
{
    metric_stream *s = &rs->s;
    rs->event = r_str(r, TD_MAX_NAME, false, "stream event name");
    s->count = r_u64(r, "stream count");
    s->sum = r_f64(r, "stream sum");
    s->min = r_f64(r, "stream min");
    s->max = r_f64(r, "stream max");
    s->latest = r_f64(r, "stream latest");
    s->latest_at = r_time(r, "stream latest time");
    uint32_t nb = r_u32(r, "bucket count");
    if (r->bad)
        return;
    if ((uint64_t)nb * BUCKET_BYTES > r->left) {
        r->bad = "bucket count exceeds the data";
        return;
    }
    td_time prev_at = TD_TIME_NONE;
    for (uint32_t i = 0; i < nb && !r->bad; i++) {
        metric_bucket b;
        b.at = r_time(r, "bucket time");
        b.sum = r_f64(r, "bucket sum");
        b.min = r_f64(r, "bucket min");
        b.max = r_f64(r, "bucket max");
        b.last = r_f64(r, "bucket last");
        b.count = r_u32(r, "bucket count");
        if (r->bad)
            break;
        if (b.count == 0 || b.at == TD_TIME_NONE || b.min > b.max || (i > 0 && b.at <= prev_at)) {
            r->bad = "bucket out of order or empty";
            break;
        }
        prev_at = b.at;
        if (metric_stream_load_bucket(s, &b) != 0)
            r->bad = "out of memory";
    }
    uint32_t nk = r_u32(r, "key count");
    if (r->bad)
        return;
    if ((uint64_t)nk * KEY_MIN_BYTES > r->left) {
        r->bad = "key count exceeds the data";
        return;
    }
    const char *prev = NULL;
    for (uint32_t i = 0; i < nk && !r->bad; i++) {
        const char *key = r_str(r, TD_MAX_ID, false, "distinct key");
        if (!key)
            break;
        td_time last = r_time(r, "distinct key time");
        if (!r->bad && prev && strcmp(prev, key) >= 0)
            r->bad = "distinct keys out of order";
        if (!r->bad && metric_stream_load_key(s, key, last) != 0)
            r->bad = "out of memory";
        prev = key;
    }
    if (!r->bad && s->count == 0 && (metric_stream_n_buckets(s) || s->sum != 0))
        r->bad = "stream with data but no events";
}

typedef struct rtier {
    char *ladder, *tier, *qualifying, *pending, *override_tier, *denied, *actor, *reason;
    char *review_denied;
    td_time since, override_until, below_since, pending_since;
    bool pending_demotion;
} rtier;

static void r_tier(rbuf *r, rtier *t, uint8_t version)
{
    t->ladder = r_str(r, TD_MAX_NAME, false, "tier ladder");
    t->tier = r_str(r, TD_MAX_NAME, true, "tier");
    t->qualifying = r_str(r, TD_MAX_NAME, true, "qualifying tier");
    t->pending = r_str(r, TD_MAX_NAME, true, "pending tier");
    t->override_tier = r_str(r, TD_MAX_NAME, true, "override tier");
    if (version >= CODEC_VERSION_2) {
        t->denied = r_str(r, TD_MAX_NAME, true, "denied tier");
        t->actor = r_str(r, TD_MAX_ID, true, "override actor");
        t->reason = r_str(r, TD_MAX_REASON, true, "override reason");
    }
    t->since = r_time(r, "tier since");
    t->override_until = r_time(r, "override until");
    t->below_since = r_time(r, "below since");
    if (version >= CODEC_VERSION_2) {
        t->pending_since = r_time(r, "pending since");
        if (!r->bad && (t->override_until != TD_TIME_NONE) != (t->actor && t->reason))
            r->bad = "override without its actor and reason";
    } else {
        t->override_tier = NULL;
        t->override_until = TD_TIME_NONE;
    }
    if (version >= CODEC_VERSION_3) {
        uint8_t down = r_u8(r, "pending demotion");
        if (!r->bad && down > 1)
            r->bad = "pending demotion flag is neither 0 nor 1";
        t->pending_demotion = down == 1;
        t->review_denied = r_str(r, TD_MAX_NAME, true, "review denied tier");
        if (!r->bad && t->pending_demotion && t->pending_since == TD_TIME_NONE)
            r->bad = "pending demotion without its since";
    }
}

/* A partner record as read, before any of it reaches the engine: the
 * partner (identity, times, counts) and what is placed into it once the
 * whole record has proved sound. */
struct td_partner_record {
    td_partner *p;
    char *types[TD_MAX_PARTNER_TYPES];
    uint32_t n_types;
    td_attr attrs[TD_MAX_ATTRS];
    uint32_t n_attrs;
    rstream *streams;
    uint32_t n_streams;
    rtier *tiers;
    uint32_t n_tiers;
    char *scratch; /* every string above lives here (rbuf) */
};
typedef struct td_partner_record record;

static void record_free(record *rec)
{
    for (uint32_t i = 0; i < rec->n_streams; i++)
        metric_stream_free(&rec->streams[i].s);
    free(rec->streams);
    free(rec->tiers);
    free(rec->scratch);
    partner_destroy(rec->p);
}

/* "TDP" and a version this codec reads. */
static int r_header(rbuf *r, uint8_t *version, td_error *err)
{
    uint8_t magic[CODEC_MAGIC_LEN + 1];
    if (!r->p || !r_take(r, magic, sizeof magic, "header") ||
        memcmp(magic, CODEC_MAGIC, CODEC_MAGIC_LEN) != 0)
        return td_error_set(err, TD_DATA_LOSS, "partner record: bad magic");
    *version = magic[CODEC_MAGIC_LEN];
    if (*version < CODEC_VERSION_1 || *version > CODEC_VERSION)
        return td_error_set(err, TD_DATA_LOSS, "partner record: unknown version %u", *version);
    return 0;
}

/* The attributes, checked as an upsert checks them and sorted by key. */
static void r_attrs(rbuf *r, record *rec)
{
    uint32_t want = r_u32(r, "attribute count");
    if (!r->bad && want > TD_MAX_ATTRS)
        r->bad = "too many attributes";
    for (uint32_t i = 0; !r->bad && i < want; i++) {
        rec->attrs[i].key = r_str(r, TD_MAX_ATTR_KEY, false, "attribute key");
        rec->attrs[i].value = r_str(r, TD_MAX_ATTR_VALUE, false, "attribute value");
        rec->n_attrs = i + 1;
        if (!r->bad && i > 0 && strcmp(rec->attrs[i - 1].key, rec->attrs[i].key) >= 0)
            r->bad = "attributes out of order";
    }
    td_error err = {0};
    if (!r->bad && attrs_check(rec->attrs, rec->n_attrs, &err) != 0)
        r->bad = "attribute breaks the rules";
}

/* Everything after the id, into rec; r->bad names the first problem. */
static void r_record(rbuf *r, uint8_t version, record *rec)
{
    td_partner *p = rec->p;
    const char *name = r_str(r, TD_MAX_ID, true, "partner name");
    if (name && !(p->name = strdup(name)))
        r->bad = "out of memory";
    uint32_t want_types = r_u32(r, "type count");
    if (!r->bad && want_types > TD_MAX_PARTNER_TYPES)
        r->bad = "too many types";
    for (uint32_t i = 0; !r->bad && i < want_types; i++) {
        rec->types[i] = r_str(r, TD_MAX_NAME, false, "partner type");
        rec->n_types = i + 1;
    }
    if (version >= CODEC_VERSION)
        r_attrs(r, rec);
    p->created = r_time(r, "created");
    p->updated = r_time(r, "updated");
    p->events = r_u64(r, "event count");

    uint32_t want = r_u32(r, "stream count");
    if (!r->bad && want > TD_MAX_METRICS)
        r->bad = "too many streams";
    if (!r->bad && want) {
        rec->streams = calloc(want, sizeof *rec->streams);
        if (!rec->streams)
            r->bad = "out of memory";
    }
    for (uint32_t i = 0; !r->bad && i < want; i++) {
        rec->n_streams = i + 1;
        r_stream(r, &rec->streams[i]);
        if (!r->bad && i > 0 && strcmp(rec->streams[i - 1].event, rec->streams[i].event) >= 0)
            r->bad = "streams out of order";
    }
    uint32_t want_t = r_u32(r, "tier count");
    uint64_t tier_min = version == CODEC_VERSION_1   ? TIER_MIN_BYTES_1
                        : version == CODEC_VERSION_2 ? TIER_MIN_BYTES_2
                                                     : TIER_MIN_BYTES;
    if (!r->bad && (want_t > TD_MAX_LADDERS || (uint64_t)want_t * tier_min > r->left))
        r->bad = "tier count exceeds the data";
    if (!r->bad && want_t) {
        rec->tiers = calloc(want_t, sizeof *rec->tiers);
        if (!rec->tiers)
            r->bad = "out of memory";
    }
    for (uint32_t i = 0; !r->bad && i < want_t; i++) {
        rec->n_tiers = i + 1;
        r_tier(r, &rec->tiers[i], version);
    }
    if (!r->bad && r->left)
        r->bad = "trailing bytes";
}

static int8_t map_tier(const ladder_def *ld, const char *name)
{
    return (int8_t)(name ? ladder_tier_index(ld, name) : -1);
}

/* The engine's copy of every type; -1 on OOM. */
static int place_types(engine *e, td_partner *p, const record *rec)
{
    if (rec->n_types) {
        p->types = calloc(rec->n_types, sizeof *p->types);
        if (!p->types)
            return -1;
    }
    for (uint32_t i = 0; i < rec->n_types; i++) {
        p->types[i] = engine_type_intern(e, rec->types[i]);
        if (!p->types[i])
            return -1;
        p->n_types = i + 1;
    }
    return 0;
}

/* The engine's interned set for the record's attributes; -1 on OOM. */
static int place_attrs(engine *e, td_partner *p, const record *rec)
{
    bool oom = false;
    partner_set_attrs(p, attrs_intern(&e->attrs, rec->attrs, rec->n_attrs, &oom));
    return oom ? -1 : 0;
}

/* Each stream at its registry index (moved out of rec); -1 on OOM. */
static int place_streams(engine *e, td_partner *p, record *rec)
{
    for (uint32_t i = 0; i < rec->n_streams; i++) {
        int ev = names_intern(&e->events, rec->streams[i].event);
        if (ev < 0 || partner_grow_streams(p, (size_t)ev + 1) != 0)
            return -1;
        p->streams[ev] = rec->streams[i].s;
        memset(&rec->streams[i].s, 0, sizeof rec->streams[i].s);
    }
    return 0;
}

/* The restored tier on one ladder of prog, matched by tier name; false on
 * OOM. */
static bool map_tier_state(const ladder_def *ld, const rtier *t, tier_state *ts)
{
    *ts = (tier_state){
        .since = t->since,
        .override_until = t->override_until,
        .below_since = t->below_since,
        .pending_since = t->pending_since,
        .tier = map_tier(ld, t->tier),
        .qualifying = map_tier(ld, t->qualifying),
        .pending = map_tier(ld, t->pending),
        .override_tier = map_tier(ld, t->override_tier),
        .denied = map_tier(ld, t->denied),
        .pending_demotion = t->pending_demotion,
        .review_denied = map_tier(ld, t->review_denied),
    };
    if (t->override_tier && ts->override_tier < 0)
        ts->override_until = TD_TIME_NONE; /* the pinned tier is gone */
    if (t->override_until != TD_TIME_NONE) {
        ts->override_note = tier_note_new(t->actor, t->reason);
        if (!ts->override_note)
            return false;
    }
    if (ts->override_until == TD_TIME_NONE) {
        free(ts->override_note);
        ts->override_note = NULL;
        ts->override_tier = -1;
    }
    return true;
}

/* p's ladders under prog, and its state on those the record names; -1 on
 * OOM. */
static int place_tiers(const program *prog, td_partner *p, const record *rec)
{
    tier_state *tiers = malloc((prog->n_ladders ? prog->n_ladders : 1) * sizeof *tiers);
    if (!tiers)
        return -1;
    for (size_t l = 0; l < prog->n_ladders; l++)
        tier_state_init(&tiers[l]);
    partner_set_tiers(p, tiers, prog->n_ladders);
    p->ladders = partner_ladders(prog, p);
    for (uint32_t i = 0; i < rec->n_tiers; i++) {
        int l = program_ladder_index(prog, rec->tiers[i].ladder);
        if (l < 0 || !(p->ladders & (1u << l)))
            continue;
        tier_state ts;
        if (!map_tier_state(&prog->ladders[l], &rec->tiers[i], &ts))
            return -1;
        free(p->tiers[l].override_note);
        p->tiers[l] = ts;
    }
    return 0;
}

/* Puts a sound record's partner into the engine (rec->p then NULL); -1 on
 * OOM, the engine unchanged but for interned names. */
static int place_record(engine *e, record *rec)
{
    td_partner *p = rec->p;
    if (place_types(e, p, rec) != 0 || place_attrs(e, p, rec) != 0 ||
        place_streams(e, p, rec) != 0 || (e->prog && place_tiers(e->prog, p, rec) != 0) ||
        engine_partner_insert(e, p) != 0)
        return -1;
    rec->p = NULL;
    e->queue_generation++; /* it may replace a partner, and bring its queued tiers */
    return 0;
}

int engine_partner_decode(const uint8_t *buf, size_t len, td_partner_record **out, td_error *err)
{
    *out = NULL;
    rbuf r = {buf, len, NULL, NULL, 0};
    uint8_t version = 0;
    int rc = r_header(&r, &version, err);
    if (rc)
        return rc;
    record *rec = calloc(1, sizeof *rec);
    if (rec)
        rec->scratch = r.scratch = malloc(len + 1); /* see rbuf */
    if (!rec || !rec->scratch) {
        engine_partner_record_free(rec);
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "partner record: out of memory");
    }
    const char *id = r_str(&r, TD_MAX_ID, false, "partner id");
    if (id && !(rec->p = partner_alloc(id, 0, 0)))
        r.bad = "out of memory";
    if (rec->p)
        r_record(&r, version, rec);
    if (r.bad || !id) {
        bool oom = r.bad && strcmp(r.bad, "out of memory") == 0;
        rc = oom ? td_error_set(err, TD_RESOURCE_EXHAUSTED, "partner record: out of memory")
                 : td_error_set(err, TD_DATA_LOSS, "partner record: %s at byte %zu",
                                r.bad ? r.bad : "partner id", len - r.left);
        engine_partner_record_free(rec);
        return rc;
    }
    *out = rec;
    return 0;
}

int engine_partner_place(engine *e, td_partner_record *rec, td_error *err)
{
    int rc = place_record(e, rec) != 0
                 ? td_error_set(err, TD_RESOURCE_EXHAUSTED, "partner record: out of memory")
                 : 0;
    engine_partner_record_free(rec);
    return rc;
}

void engine_partner_record_free(td_partner_record *rec)
{
    if (!rec)
        return;
    record_free(rec);
    free(rec);
}

int engine_partner_restore(engine *e, const uint8_t *buf, size_t len, td_error *err)
{
    td_partner_record *rec = NULL;
    int rc = engine_partner_decode(buf, len, &rec, err);
    return rc ? rc : engine_partner_place(e, rec, err);
}
