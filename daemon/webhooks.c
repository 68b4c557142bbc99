/* The webhook outbox (webhooks.h): deliveries written with the change they
 * report, notices decided per partner and ladder, and the sender's results
 * made durable in batches. */
#include "webhooks.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "engine.h"
#include "explain.h"
#include "grow.h"
#include "log.h"
#include "state.h"
#include "store.h"
#include "td_time.h"
#include "webhook_send.h"

#define WH_META_SEQ     "webhook_seq"
#define WH_KEY_MAX      (WEBHOOK_NAME_MAX + 1 + 8)
#define WH_NOTICE_KEY   (2 * 512 + 2)
#define WH_MIN_CAP      16
#define WH_TIERS_MAX    64
#define WH_COMMIT_RETRY 1000 /* ms before a failed batch of results is committed again */
#define WH_FIRST_SWEEP  1000 /* ms after start: the first at-risk sweep */
#define WH_NOTICE_KINDS                                                                            \
    (WEBHOOK_KIND_APPROVAL_WAITING | WEBHOOK_KIND_AT_RISK | WEBHOOK_KIND_RECOVERED)

typedef struct turn_item {
    size_t ep;
    uint64_t seq;
    uint32_t attempts;
    char *partner;
} turn_item;

typedef struct result {
    size_t ep;
    uint64_t seq;
    bool dead;
    uint32_t attempts;
    char *error;
} result;

struct webhooks {
    tierd *d;
    td_webhooks_conf conf; /* taken from the config at open */
    unsigned kinds;        /* every endpoint's kinds together */
    webhook_send *send;
    uint64_t seq, seq_written;
    turn_item *turn;
    size_t n_turn, turn_cap;
    result *results;
    size_t n_results, results_cap;
    uv_timer_t commit_timer, sweep_timer;
    bool timers_on;
    int handles;       /* timers not closed yet */
    char *sweep_after; /* the next sweep slice starts after this id; NULL: a new sweep */
    /* The loop's longest turn while webhooks run: wall time between two
     * prepare callbacks minus the time the loop slept in poll. */
    uv_prepare_t turn_probe;
    uint64_t probe_at, probe_idle, longest_turn_ns;
    bool sweeping;
    uint64_t delivered;
};

/* ---- keys --------------------------------------------------------------------- */

static size_t outbox_key(uint8_t *key, const char *endpoint, uint64_t seq)
{
    size_t n = strlen(endpoint);
    memcpy(key, endpoint, n);
    key[n++] = 0;
    for (int i = 0; i < 8; i++)
        key[n++] = (uint8_t)(seq >> (56 - 8 * i));
    return n;
}

static bool outbox_key_parse(const uint8_t *key, size_t klen, const char **endpoint, size_t *elen,
                             uint64_t *seq)
{
    if (klen < 10 || key[klen - 9] != 0)
        return false;
    *endpoint = (const char *)key;
    *elen = klen - 9;
    *seq = 0;
    for (size_t i = klen - 8; i < klen; i++)
        *seq = *seq << 8 | key[i];
    return true;
}

static long endpoint_index(const webhooks *w, const char *name, size_t len)
{
    for (size_t i = 0; i < w->conf.n; i++)
        if (strlen(w->conf.endpoints[i].name) == len &&
            memcmp(w->conf.endpoints[i].name, name, len) == 0)
            return (long)i;
    return -1;
}

/* "NAME:SEQ" -> outbox key; 0 when malformed. */
static size_t id_key(const char *id, uint8_t *key)
{
    const char *colon = strrchr(id, ':');
    if (!colon || colon == id || (size_t)(colon - id) > WEBHOOK_NAME_MAX || !colon[1])
        return 0;
    char *end = NULL;
    uint64_t seq = strtoull(colon + 1, &end, 10);
    if (*end)
        return 0;
    char name[WEBHOOK_NAME_MAX + 1];
    memcpy(name, id, (size_t)(colon - id));
    name[colon - id] = 0;
    return outbox_key(key, name, seq);
}

/* ---- enqueueing ------------------------------------------------------------------ */

static char *time_str(td_time t, char *buf)
{
    td_time_format(t, buf, TD_TIME_STRLEN);
    return buf;
}

static void set_time(json_t *o, const char *key, td_time t)
{
    char buf[TD_TIME_STRLEN];
    json_object_set_new(o, key, t != TD_TIME_NONE ? json_string(time_str(t, buf)) : json_null());
}

static void set_str(json_t *o, const char *key, const char *s)
{
    json_object_set_new(o, key, json_string(s ? s : ""));
}

/* Writes one delivery of `payload` (its id and sequence filled in here) to
 * endpoint ep's outbox in the open transaction. */
static int enqueue(webhooks *w, size_t ep, const char *partner, const char *ladder, unsigned kind,
                   json_t *payload, td_error *err)
{
    tierd *d = w->d;
    const char *name = w->conf.endpoints[ep].name;
    uint64_t seq = ++w->seq;
    char id[WEBHOOK_NAME_MAX + 32];
    snprintf(id, sizeof id, "%s:%" PRIu64, name, seq);
    json_object_set_new(payload, "id", json_string(id));
    json_object_set_new(payload, "sequence", json_integer((json_int_t)seq));
    char *body = json_dumps(payload, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!body)
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "webhook %s: out of memory", name);
    Tierd__WebhookDelivery r = TIERD__WEBHOOK_DELIVERY__INIT;
    r.id = id;
    r.endpoint = (char *)name;
    r.seq = seq;
    r.partner = (char *)partner;
    r.ladder = (char *)ladder;
    r.kind = (char *)webhooks_kind_name(kind);
    r.body = body;
    r.created = tierd_now(d);
    size_t len = tierd__webhook_delivery__get_packed_size(&r);
    uint8_t *pb = malloc(len ? len : 1);
    turn_item *t = td_grow(w->turn, &w->turn_cap, w->n_turn + 1, sizeof *t, WH_MIN_CAP);
    char *pcopy = strdup(partner);
    if (!pb || !t || !pcopy) {
        free(pb);
        free(body);
        free(pcopy);
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "webhook %s: out of memory", name);
    }
    w->turn = t;
    tierd__webhook_delivery__pack(&r, pb);
    free(body);
    uint8_t key[WH_KEY_MAX];
    size_t klen = outbox_key(key, name, seq);
    int rc = store_wh_put(d->store, STORE_WH_OUTBOX, key, klen, pb, len, err);
    free(pb);
    if (rc) {
        free(pcopy);
        return rc;
    }
    w->turn[w->n_turn++] = (turn_item){.ep = ep, .seq = seq, .partner = pcopy};
    return 0;
}

/* One delivery per endpoint that wants it; `payload` is reused. */
static int enqueue_all(webhooks *w, unsigned kind, const char *partner, const char *ladder,
                       unsigned dir, json_t *payload, td_error *err)
{
    int rc = 0;
    for (size_t i = 0; i < w->conf.n && !rc; i++)
        if (webhooks_endpoint_wants(&w->conf.endpoints[i], kind, ladder, dir))
            rc = enqueue(w, i, partner, ladder, kind, payload, err);
    return rc;
}

static int tier_rank(const ladder_def *ld, const char *tier)
{
    return ld && tier && *tier ? ladder_tier_index(ld, tier) : -1;
}

static const ladder_def *ladder_of(const engine *e, const char *ladder)
{
    const program *p = engine_program(e);
    int l = p ? program_ladder_index(p, ladder) : -1;
    return l >= 0 ? &p->ladders[l] : NULL;
}

static unsigned direction(const engine *e, const char *ladder, const char *from, const char *to)
{
    const ladder_def *ld = ladder_of(e, ladder);
    if (!ld)
        return to && *to ? WEBHOOK_DIR_UP : WEBHOOK_DIR_DOWN;
    int f = tier_rank(ld, from), t = tier_rank(ld, to);
    return t > f ? WEBHOOK_DIR_UP : t < f ? WEBHOOK_DIR_DOWN : WEBHOOK_DIR_BOTH;
}

static const char *dir_name(unsigned dir)
{
    return dir == WEBHOOK_DIR_UP ? "up" : dir == WEBHOOK_DIR_DOWN ? "down" : "none";
}

/* An enum value as the payload spells it: lowercase, without the enum's
 * prefix ("promotion", "grace_end"), as tierctl --json does. */
static void enum_name(const ProtobufCEnumDescriptor *desc, int v, const char *prefix, char *out,
                      size_t n)
{
    const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(desc, v);
    const char *s = ev ? ev->name : "";
    if (prefix && strncmp(s, prefix, strlen(prefix)) == 0)
        s += strlen(prefix);
    size_t i = 0;
    for (; s[i] && i + 1 < n; i++)
        out[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] - 'A' + 'a' : s[i]);
    out[i] = 0;
}

static json_t *benefit_names(Tierd__Benefit **b, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(b[i]->name));
    return a;
}

static void on_change(void *ud, const Tierd__TierChange *tc)
{
    webhooks *w = ud;
    if (!(w->kinds & WEBHOOK_KIND_TIER_CHANGE))
        return;
    unsigned dir = direction(w->d->engine, tc->ladder, tc->from_tier, tc->to_tier);
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(""));
    set_str(o, "kind", "tier_change");
    json_object_set_new(o, "sequence", json_integer(0));
    set_str(o, "partner", tc->partner);
    set_str(o, "ladder", tc->ladder);
    json_object_set_new(o, "from", tc->from_tier[0] ? json_string(tc->from_tier) : json_null());
    json_object_set_new(o, "to", tc->to_tier[0] ? json_string(tc->to_tier) : json_null());
    set_str(o, "direction", dir_name(dir));
    char cause[64];
    enum_name(&tierd__cause__descriptor, tc->cause, NULL, cause, sizeof cause);
    set_str(o, "cause", cause);
    set_time(o, "at", tc->at);
    set_str(o, "reason", tc->reason);
    set_str(o, "actor", tc->actor);
    set_str(o, "event_id", tc->event_id);
    set_str(o, "program_version", tc->program_version);
    json_object_set_new(o, "change_sequence", json_integer((json_int_t)tc->sequence));
    if (tc->promotion_tier[0])
        set_str(o, "promotion_tier", tc->promotion_tier);
    json_object_set_new(o, "benefits_gained",
                        benefit_names(tc->benefits_gained, tc->n_benefits_gained));
    json_object_set_new(o, "benefits_lost", benefit_names(tc->benefits_lost, tc->n_benefits_lost));
    td_error err = {0};
    if (enqueue_all(w, WEBHOOK_KIND_TIER_CHANGE, tc->partner, tc->ladder, dir, o, &err) != 0)
        state_fail(w->d, &err);
    json_decref(o);
}

/* ---- notices: approval waiting, at risk, recovered ---------------------------------- */

/* What was last told about one partner on one ladder. */
typedef struct notice {
    td_time risk;   /* the at-risk date told, 0 none */
    char tier[256]; /* the tier held when it was told */
    bool waiting;   /* an approval_waiting was told for `pending` */
    char pending[256];
} notice;

static size_t notice_key(char *key, const char *partner, const char *ladder)
{
    size_t a = strlen(partner), b = strlen(ladder);
    if (a + b + 1 > 511)
        return 0;
    memcpy(key, partner, a);
    key[a] = 0;
    memcpy(key + a + 1, ladder, b);
    return a + 1 + b;
}

static void notice_read(webhooks *w, const char *key, size_t klen, notice *n)
{
    memset(n, 0, sizeof *n);
    uint8_t *val = NULL;
    size_t len = 0;
    td_error err = {0};
    if (store_wh_get(w->d->store, STORE_WH_NOTICE, key, klen, &val, &len, &err) != 0)
        return;
    json_t *o = json_loadb((const char *)val, len, 0, NULL);
    free(val);
    if (!o)
        return;
    n->risk = (td_time)json_integer_value(json_object_get(o, "risk"));
    const char *s = json_string_value(json_object_get(o, "tier"));
    snprintf(n->tier, sizeof n->tier, "%s", s ? s : "");
    n->waiting = json_is_true(json_object_get(o, "waiting"));
    s = json_string_value(json_object_get(o, "pending"));
    snprintf(n->pending, sizeof n->pending, "%s", s ? s : "");
    json_decref(o);
}

static int notice_write(webhooks *w, const char *key, size_t klen, const notice *n, td_error *err)
{
    if (!n->risk && !n->waiting) {
        int rc = store_wh_del(w->d->store, STORE_WH_NOTICE, key, klen, err);
        return rc == -TD_NOT_FOUND ? 0 : rc;
    }
    json_t *o = json_pack("{sIsssbss}", "risk", (json_int_t)n->risk, "tier", n->tier, "waiting",
                          n->waiting, "pending", n->pending);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!text)
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "webhooks: out of memory");
    int rc = store_wh_put(w->d->store, STORE_WH_NOTICE, key, klen, (const uint8_t *)text,
                          strlen(text), err);
    free(text);
    return rc;
}

static json_t *notice_payload(const char *kind, const char *partner, const td_tier_view *v,
                              td_time now)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(""));
    set_str(o, "kind", kind);
    json_object_set_new(o, "sequence", json_integer(0));
    set_str(o, "partner", partner);
    set_str(o, "ladder", v->ladder);
    json_object_set_new(o, "tier", v->tier ? json_string(v->tier) : json_null());
    set_time(o, "at", now);
    return o;
}

/* The unmet criteria of the tier held: what the partner needs to keep it. */
static json_t *needs(webhooks *w, const td_partner *p, size_t l, const char *tier, td_time now)
{
    json_t *a = json_array();
    td_explanation x;
    td_error err = {0};
    if (!tier || engine_explain(w->d->engine, p, l, now, now, &x, &err) != 0)
        return a;
    for (size_t i = 0; i < x.n_tiers; i++) {
        if (!x.tiers[i].tier || strcmp(x.tiers[i].tier, tier) != 0)
            continue;
        for (size_t k = 0; k < x.tiers[i].n_criteria; k++) {
            const td_criterion *c = &x.tiers[i].criteria[k];
            if (c->met)
                continue;
            json_t *o = json_object();
            set_str(o, "metric", c->metric);
            set_str(o, "op", cmp_op_str(c->op));
            json_object_set_new(o, "threshold", json_real(c->threshold));
            json_object_set_new(o, "value",
                                c->value == c->value ? json_real(c->value) : json_null());
            json_array_append_new(a, o);
        }
    }
    engine_explanation_free(&x);
    return a;
}

static int check_ladder(webhooks *w, const td_partner *p, const char *id, const td_tier_view *v,
                        td_time now, td_error *err)
{
    const engine *e = w->d->engine;
    const program *prog = engine_program(e);
    int l = prog ? program_ladder_index(prog, v->ladder) : -1;
    if (l < 0)
        return 0;
    char key[WH_NOTICE_KEY];
    size_t klen = notice_key(key, id, v->ladder);
    if (!klen)
        return 0;
    notice n, was;
    notice_read(w, key, klen, &n);
    was = n;
    int rc = 0;

    /* Approval waiting: told once per target. */
    bool waiting = v->pending || v->pending_demotion;
    const char *target = v->pending ? v->pending : "";
    if (waiting && (!n.waiting || strcmp(n.pending, target) != 0)) {
        unsigned dir = v->pending_demotion ? WEBHOOK_DIR_DOWN : WEBHOOK_DIR_UP;
        json_t *o = notice_payload("approval_waiting", id, v, now);
        json_object_set_new(o, "pending", v->pending ? json_string(v->pending) : json_null());
        set_str(o, "direction", dir_name(dir));
        set_time(o, "since", v->pending_since);
        set_time(o, "deadline", v->pending_demotion ? v->pending_deadline : TD_TIME_NONE);
        rc = enqueue_all(w, WEBHOOK_KIND_APPROVAL_WAITING, id, v->ladder, dir, o, err);
        json_decref(o);
        n.waiting = true;
        snprintf(n.pending, sizeof n.pending, "%s", target);
    } else if (!waiting) {
        n.waiting = false;
        n.pending[0] = 0;
    }

    /* At risk: the demotion date within the lead; again when it moves. */
    td_at_risk r = {0};
    if (rc == 0 && engine_partner_at_risk(e, p, (size_t)l, now, &r) != 0)
        r.demotion_at = TD_TIME_NONE;
    bool at_risk = r.demotion_at != TD_TIME_NONE && r.demotion_at - now <= w->conf.at_risk_lead_s;
    if (rc == 0 && at_risk && n.risk != r.demotion_at) {
        json_t *o = notice_payload("at_risk", id, v, now);
        json_object_set_new(o, "target",
                            r.demotion_tier ? json_string(r.demotion_tier) : json_null());
        set_time(o, "date", r.demotion_at);
        set_time(o, "lapses_at", r.lapses_at);
        char why[64];
        enum_name(&tierd__due_reason__descriptor, (int)r.reason, "DUE_", why, sizeof why);
        set_str(o, "due_reason", why);
        set_time(o, "previous_date", n.risk);
        json_object_set_new(o, "needs", needs(w, p, (size_t)l, v->tier, now));
        rc = enqueue_all(w, WEBHOOK_KIND_AT_RISK, id, v->ladder, WEBHOOK_DIR_DOWN, o, err);
        json_decref(o);
        n.risk = r.demotion_at;
        snprintf(n.tier, sizeof n.tier, "%s", v->tier ? v->tier : "");
    } else if (rc == 0 && !at_risk && n.risk) {
        /* Over once the date is gone or beyond the lead; a recovery only
         * while the partner still holds the tier (a demotion is its own
         * tier_change). */
        const ladder_def *ld = &prog->ladders[l];
        if (tier_rank(ld, v->tier) >= tier_rank(ld, n.tier)) {
            json_t *o = notice_payload("recovered", id, v, now);
            set_time(o, "previous_date", n.risk);
            set_time(o, "date", r.demotion_at);
            rc = enqueue_all(w, WEBHOOK_KIND_RECOVERED, id, v->ladder, WEBHOOK_DIR_UP, o, err);
            json_decref(o);
        }
        n.risk = 0;
        n.tier[0] = 0;
    }
    if (rc == 0 && memcmp(&n, &was, sizeof n) != 0)
        rc = notice_write(w, key, klen, &n, err);
    return rc;
}

static int check_partner(webhooks *w, const char *id, td_time now, td_error *err)
{
    if (!(w->kinds & WH_NOTICE_KINDS) || !w->d->engine)
        return 0;
    td_partner *p = engine_partner_find(w->d->engine, id);
    if (!p)
        return 0;
    td_tier_view views[WH_TIERS_MAX];
    size_t n = engine_partner_tiers(w->d->engine, p, views, WH_TIERS_MAX);
    for (size_t i = 0; i < n; i++) {
        int rc = check_ladder(w, p, id, &views[i], now, err);
        if (rc)
            return rc;
    }
    return 0;
}

static int on_partner(void *ud, const char *id, td_error *err)
{
    webhooks *w = ud;
    return check_partner(w, id, tierd_now(w->d), err);
}

static int on_before_commit(void *ud, td_error *err)
{
    webhooks *w = ud;
    if (w->seq == w->seq_written)
        return 0;
    uint8_t be[8];
    for (int i = 0; i < 8; i++)
        be[i] = (uint8_t)(w->seq >> (56 - 8 * i));
    return store_put_meta(w->d->store, WH_META_SEQ, be, sizeof be, err);
}

static void turn_clear(webhooks *w)
{
    for (size_t i = 0; i < w->n_turn; i++)
        free(w->turn[i].partner);
    w->n_turn = 0;
}

static void on_committed(void *ud)
{
    webhooks *w = ud;
    w->seq_written = w->seq;
    for (size_t i = 0; i < w->n_turn; i++) {
        turn_item *t = &w->turn[i];
        if (webhook_send_add(w->send, t->ep, t->seq, t->partner, t->attempts) != 0)
            log_error("webhook %s delivery %" PRIu64 " waits for the next start: out of memory",
                      w->conf.endpoints[t->ep].name, t->seq);
    }
    turn_clear(w);
}

static void on_rolled_back(void *ud)
{
    turn_clear(ud);
}

int webhooks_check_all(webhooks *w, td_error *err)
{
    if (!w || !(w->kinds & WH_NOTICE_KINDS) || !w->d->engine)
        return 0;
    int rc = state_begin(w->d, err);
    td_time now = tierd_now(w->d);
    char after[TD_MAX_ID + 1] = "";
    bool more = true;
    while (rc == 0 && more) {
        td_partner *page[WEBHOOKS_SWEEP_SLICE];
        size_t n = engine_partner_list(w->d->engine, after[0] ? after : NULL, NULL, NULL, page,
                                       WEBHOOKS_SWEEP_SLICE, &more, err);
        for (size_t i = 0; i < n && rc == 0; i++) {
            td_partner_info info;
            engine_partner_info(page[i], &info);
            rc = check_partner(w, info.id, now, err);
            snprintf(after, sizeof after, "%s", info.id);
        }
        if (n == 0)
            break;
    }
    if (rc)
        state_fail(w->d, err);
    return rc;
}

/* ---- results from the sender ---------------------------------------------------------- */

static int get_body(void *ud, size_t ep, uint64_t seq, char **body, size_t *len)
{
    webhooks *w = ud;
    uint8_t key[WH_KEY_MAX];
    size_t klen = outbox_key(key, w->conf.endpoints[ep].name, seq);
    uint8_t *val = NULL;
    size_t vlen = 0;
    td_error err = {0};
    if (store_wh_get(w->d->store, STORE_WH_OUTBOX, key, klen, &val, &vlen, &err) != 0)
        return -1;
    Tierd__WebhookDelivery *r = tierd__webhook_delivery__unpack(NULL, vlen, val);
    free(val);
    if (!r)
        return -1;
    *len = strlen(r->body);
    *body = strdup(r->body);
    tierd__webhook_delivery__free_unpacked(r, NULL);
    return *body ? 0 : -1;
}

static void on_commit_timer(uv_timer_t *t);

static void on_done(void *ud, size_t ep, uint64_t seq, bool ok, bool dead, uint32_t attempts,
                    const char *error)
{
    webhooks *w = ud;
    if (!ok && !dead)
        return; /* retried; attempts are counted in memory */
    result *r = td_grow(w->results, &w->results_cap, w->n_results + 1, sizeof *r, WH_MIN_CAP);
    char *e = strdup(error ? error : "");
    if (!r || !e) {
        free(e);
        /* Left in the outbox: sent again at the next start, same id. */
        log_error("webhook delivery %" PRIu64 ": out of memory recording its result", seq);
        return;
    }
    w->results = r;
    w->results[w->n_results++] =
        (result){.ep = ep, .seq = seq, .dead = dead, .attempts = attempts, .error = e};
    if (ok)
        w->delivered++;
    if (!uv_is_active((uv_handle_t *)&w->commit_timer))
        uv_timer_start(&w->commit_timer, on_commit_timer, 0, 0);
}

static int bury(webhooks *w, const uint8_t *key, size_t klen, const result *r, td_error *err)
{
    uint8_t *val = NULL;
    size_t len = 0;
    int rc = store_wh_get(w->d->store, STORE_WH_OUTBOX, key, klen, &val, &len, err);
    if (rc == -TD_NOT_FOUND)
        return 0;
    if (rc)
        return rc;
    Tierd__WebhookDelivery *d = tierd__webhook_delivery__unpack(NULL, len, val);
    free(val);
    if (!d)
        return td_error_set(err, TD_DATA_LOSS, "webhook delivery %" PRIu64 " is damaged", r->seq);
    d->attempts = r->attempts;
    d->last_error = r->error;
    d->dead = true;
    size_t plen = tierd__webhook_delivery__get_packed_size(d);
    uint8_t *pb = malloc(plen ? plen : 1);
    if (!pb) {
        d->last_error = NULL;
        tierd__webhook_delivery__free_unpacked(d, NULL);
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "webhooks: out of memory");
    }
    tierd__webhook_delivery__pack(d, pb);
    d->last_error = NULL; /* ours, not the unpacker's */
    tierd__webhook_delivery__free_unpacked(d, NULL);
    rc = store_wh_put(w->d->store, STORE_WH_DEAD, key, klen, pb, plen, err);
    free(pb);
    if (rc == 0)
        rc = store_wh_del(w->d->store, STORE_WH_OUTBOX, key, klen, err);
    return rc;
}

/* One transaction for every result since the last: a success leaves the
 * outbox, a dead one moves to the dead letters. A crash before this commit
 * sends those deliveries again at the next start, with the same ids. */
static void on_commit_timer(uv_timer_t *t)
{
    webhooks *w = t->data;
    tierd *d = w->d;
    td_error err = {0};
    int rc = state_begin(d, &err);
    for (size_t i = 0; i < w->n_results && rc == 0; i++) {
        result *r = &w->results[i];
        uint8_t key[WH_KEY_MAX];
        size_t klen = outbox_key(key, w->conf.endpoints[r->ep].name, r->seq);
        if (r->dead) {
            rc = bury(w, key, klen, r, &err);
        } else {
            rc = store_wh_del(d->store, STORE_WH_OUTBOX, key, klen, &err);
            if (rc == -TD_NOT_FOUND)
                rc = 0;
        }
    }
    if (rc)
        state_fail(d, &err);
    if (state_flush(d, &err) != 0) {
        log_error("webhooks: recording delivery results failed, again in %d ms: %s",
                  WH_COMMIT_RETRY, err.message);
        uv_timer_start(&w->commit_timer, on_commit_timer, WH_COMMIT_RETRY, 0);
        return;
    }
    for (size_t i = 0; i < w->n_results; i++)
        free(w->results[i].error);
    w->n_results = 0;
}

/* ---- the real clock's at-risk sweep ------------------------------------------------------ */

static void on_sweep(uv_timer_t *t)
{
    webhooks *w = t->data;
    tierd *d = w->d;
    if (!d->engine || !(w->kinds & WH_NOTICE_KINDS))
        return;
    td_partner *page[WEBHOOKS_SWEEP_SLICE];
    bool more = false;
    td_error err = {0};
    size_t n = engine_partner_list(d->engine, w->sweep_after, NULL, NULL, page,
                                   WEBHOOKS_SWEEP_SLICE, &more, &err);
    td_time now = tierd_now(d);
    int rc = n ? state_begin(d, &err) : 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        td_partner_info info;
        engine_partner_info(page[i], &info);
        rc = check_partner(w, info.id, now, &err);
        if (i + 1 == n) {
            free(w->sweep_after);
            w->sweep_after = strdup(info.id);
        }
    }
    if (rc)
        state_fail(d, &err);
    if (n && state_flush(d, &err) != 0)
        log_error("webhooks: at-risk sweep slice failed: %s", err.message);
    if (more && w->sweep_after) {
        uv_timer_start(&w->sweep_timer, on_sweep, 0, 0);
        return;
    }
    free(w->sweep_after);
    w->sweep_after = NULL;
    uv_timer_start(&w->sweep_timer, on_sweep, (uint64_t)w->conf.at_risk_check_s * 1000, 0);
}

/* ---- the loop's longest turn --------------------------------------------------------------- */

static void on_turn_probe(uv_prepare_t *p)
{
    webhooks *w = p->data;
    uint64_t now = uv_hrtime(), idle = uv_metrics_idle_time(p->loop);
    if (w->probe_at) {
        uint64_t busy = now - w->probe_at - (idle - w->probe_idle);
        if (busy > w->longest_turn_ns)
            w->longest_turn_ns = busy;
    }
    w->probe_at = now;
    w->probe_idle = idle;
}

/* ---- lifetime -------------------------------------------------------------------------- */

struct load {
    webhooks *w;
    uint64_t max_seq;
    bool send;
    size_t unknown;
    td_error *err;
};

static int load_one(void *ud, const void *key, size_t klen, const uint8_t *val, size_t len)
{
    struct load *l = ud;
    const char *name;
    size_t nlen;
    uint64_t seq;
    if (!outbox_key_parse(key, klen, &name, &nlen, &seq))
        return 0;
    if (seq > l->max_seq)
        l->max_seq = seq;
    if (!l->send)
        return 0;
    long ep = endpoint_index(l->w, name, nlen);
    if (ep < 0) {
        l->unknown++;
        return 0;
    }
    Tierd__WebhookDelivery *r = tierd__webhook_delivery__unpack(NULL, len, val);
    if (!r)
        return td_error_set(l->err, TD_DATA_LOSS, "webhook delivery %.*s:%" PRIu64 " is damaged",
                            (int)nlen, name, seq);
    int rc = webhook_send_add(l->w->send, (size_t)ep, seq, r->partner, 0);
    tierd__webhook_delivery__free_unpacked(r, NULL);
    return rc ? td_error_set(l->err, TD_RESOURCE_EXHAUSTED, "webhooks: out of memory") : 0;
}

static void timer_closed(uv_handle_t *h)
{
    webhooks *w = h->data;
    if (--w->handles == 0)
        free(w);
}

int webhooks_open(tierd *d, webhooks **out, td_error *err)
{
    *out = NULL;
    td_webhooks_conf *c = &d->config->webhooks;
    if (c->n == 0)
        return 0;
    webhooks *w = calloc(1, sizeof *w);
    if (!w)
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "webhooks: out of memory");
    w->d = d;
    w->conf = *c; /* taken: the running endpoints stay until a restart */
    c->endpoints = NULL;
    c->n = 0;
    for (size_t i = 0; i < w->conf.n; i++)
        w->kinds |= w->conf.endpoints[i].kinds;
    webhook_send_hooks hooks = {.get_body = get_body, .done = on_done, .ud = w};
    w->send = webhook_send_open(d->loop, &w->conf, &hooks);
    if (!w->send) {
        webhooks_conf_free(&w->conf);
        free(w);
        return td_error_set(err, TD_INTERNAL, "webhooks: cannot start libcurl");
    }
    uint8_t *val = NULL;
    size_t len = 0;
    td_error merr = {0};
    if (store_get_meta(d->store, WH_META_SEQ, &val, &len, &merr) == 0 && len == 8)
        for (int i = 0; i < 8; i++)
            w->seq = w->seq << 8 | val[i];
    free(val);
    struct load l = {.w = w, .send = true, .err = err};
    int rc = store_wh_each(d->store, STORE_WH_OUTBOX, NULL, 0, load_one, &l, err);
    size_t queued = (size_t)store_wh_count(d->store, STORE_WH_OUTBOX);
    l.send = false;
    if (rc == 0)
        rc = store_wh_each(d->store, STORE_WH_DEAD, NULL, 0, load_one, &l, err);
    if (rc) {
        webhook_send_close(w->send);
        webhooks_conf_free(&w->conf);
        free(w);
        return rc;
    }
    if (l.max_seq > w->seq)
        w->seq = l.max_seq;
    w->seq_written = w->seq;
    if (l.unknown)
        log_warning("webhooks: %zu deliveries wait for endpoints no longer configured "
                    "(tierctl webhook deliveries)",
                    l.unknown);
    uv_timer_init(d->loop, &w->commit_timer);
    uv_timer_init(d->loop, &w->sweep_timer);
    w->commit_timer.data = w->sweep_timer.data = w;
    w->timers_on = true;
    w->handles = 3;
    /* Before uv_run: the loop then counts the time it sleeps in poll. */
    uv_loop_configure(d->loop, UV_METRICS_IDLE_TIME);
    uv_prepare_init(d->loop, &w->turn_probe);
    w->turn_probe.data = w;
    uv_prepare_start(&w->turn_probe, on_turn_probe);
    if (!d->fake_clock && (w->kinds & WH_NOTICE_KINDS))
        uv_timer_start(&w->sweep_timer, on_sweep, WH_FIRST_SWEEP, 0);
    state_outbox o = {.change = on_change,
                      .partner = on_partner,
                      .before_commit = on_before_commit,
                      .committed = on_committed,
                      .rolled_back = on_rolled_back,
                      .ud = w};
    state_set_outbox(d, &o);
    log_info("webhooks: %zu endpoints, %zu deliveries queued", w->conf.n, queued);
    *out = w;
    return 0;
}

void webhooks_close(webhooks *w)
{
    if (!w)
        return;
    if (w->d->state)
        state_set_outbox(w->d, NULL);
    /* Results not committed yet: their deliveries stay in the outbox and go
     * out again at the next start with the same ids. Try once now. */
    if (w->n_results && w->d->state)
        on_commit_timer(&w->commit_timer);
    for (size_t i = 0; i < w->n_results; i++)
        free(w->results[i].error);
    free(w->results);
    turn_clear(w);
    free(w->turn);
    free(w->sweep_after);
    webhook_send_close(w->send);
    webhooks_conf_free(&w->conf);
    log_info("webhooks: %llu delivered since start; the loop's longest turn meanwhile %.1f ms",
             (unsigned long long)w->delivered, (double)w->longest_turn_ns / 1e6);
    uv_close((uv_handle_t *)&w->commit_timer, timer_closed);
    uv_close((uv_handle_t *)&w->sweep_timer, timer_closed);
    uv_close((uv_handle_t *)&w->turn_probe, timer_closed);
}

/* ---- ListDeliveries, ResendDeliveries ------------------------------------------------------ */

struct list {
    rpc_call *call;
    const char *endpoint;
    const uint8_t *after;
    size_t after_len;
    size_t limit;
    Tierd__WebhookDelivery **items;
    size_t n;
    bool more;
    td_error *err;
};

static int list_one(void *ud, const void *key, size_t klen, const uint8_t *val, size_t len)
{
    struct list *l = ud;
    if (l->after_len == klen && memcmp(key, l->after, klen) == 0)
        return 0;
    const char *name;
    size_t nlen;
    uint64_t seq;
    if (!outbox_key_parse(key, klen, &name, &nlen, &seq))
        return 0;
    if (l->endpoint[0] && (strlen(l->endpoint) != nlen || memcmp(l->endpoint, name, nlen) != 0))
        return 0;
    if (l->n == l->limit) {
        l->more = true;
        return 1;
    }
    Tierd__WebhookDelivery *r = tierd__webhook_delivery__unpack(NULL, len, val);
    if (!r)
        return 0;
    Tierd__WebhookDelivery *o = rpc_alloc(l->call, sizeof *o);
    tierd__webhook_delivery__init(o);
    o->id = rpc_strdup(l->call, r->id);
    o->endpoint = rpc_strdup(l->call, r->endpoint);
    o->seq = r->seq;
    o->partner = rpc_strdup(l->call, r->partner);
    o->ladder = rpc_strdup(l->call, r->ladder);
    o->kind = rpc_strdup(l->call, r->kind);
    o->body = rpc_strdup(l->call, "");
    o->attempts = r->attempts;
    o->last_error = rpc_strdup(l->call, r->last_error);
    o->created = r->created;
    o->dead = r->dead;
    tierd__webhook_delivery__free_unpacked(r, NULL);
    l->items[l->n++] = o;
    return 0;
}

int webhooks_list(tierd *d, rpc_call *call, const Tierd__ListDeliveriesRequest *r,
                  Tierd__ListDeliveriesResponse *out, td_error *err)
{
    size_t limit = r->limit ? r->limit : WEBHOOKS_LIST_DEFAULT;
    if (limit > WEBHOOKS_LIST_MAX)
        limit = WEBHOOKS_LIST_MAX;
    uint8_t after[WH_KEY_MAX];
    size_t after_len = 0;
    if (r->after && r->after[0] && !(after_len = id_key(r->after, after)))
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "after '%.80s' is not a delivery id (ENDPOINT:SEQ)", r->after);
    struct list l = {.call = call,
                     .endpoint = r->endpoint ? r->endpoint : "",
                     .after = after,
                     .after_len = after_len,
                     .limit = limit,
                     .items = rpc_alloc(call, limit * sizeof *l.items),
                     .err = err};
    int rc = store_wh_each(d->store, r->dead ? STORE_WH_DEAD : STORE_WH_OUTBOX, after, after_len,
                           list_one, &l, err);
    if (rc < 0)
        return rc;
    out->deliveries = l.items;
    out->n_deliveries = l.n;
    out->next = rpc_strdup(call, l.more && l.n ? l.items[l.n - 1]->id : "");
    return 0;
}

struct keys {
    uint8_t (*keys)[WH_KEY_MAX];
    size_t *lens;
    size_t n, cap, lens_cap;
};

static int collect_key(void *ud, const void *key, size_t klen, const uint8_t *val, size_t len)
{
    (void)val;
    (void)len;
    struct keys *k = ud;
    if (klen > WH_KEY_MAX)
        return 0;
    size_t cap = k->cap;
    void *nk = td_grow(k->keys, &k->cap, k->n + 1, WH_KEY_MAX, WH_MIN_CAP);
    if (!nk)
        return -TD_RESOURCE_EXHAUSTED;
    k->keys = nk;
    (void)cap;
    size_t *nl = td_grow(k->lens, &k->lens_cap, k->n + 1, sizeof *nl, WH_MIN_CAP);
    if (!nl)
        return -TD_RESOURCE_EXHAUSTED;
    k->lens = nl;
    memcpy(k->keys[k->n], key, klen);
    k->lens[k->n++] = klen;
    return 0;
}

static int resend_one(webhooks *w, const uint8_t *key, size_t klen, const char *id, td_error *err)
{
    tierd *d = w->d;
    uint8_t *val = NULL;
    size_t len = 0;
    int rc = store_wh_get(d->store, STORE_WH_DEAD, key, klen, &val, &len, err);
    if (rc == -TD_NOT_FOUND)
        return td_error_set(err, TD_NOT_FOUND, "no dead letter '%s'", id);
    if (rc)
        return rc;
    Tierd__WebhookDelivery *r = tierd__webhook_delivery__unpack(NULL, len, val);
    free(val);
    if (!r)
        return td_error_set(err, TD_DATA_LOSS, "dead letter '%s' is damaged", id);
    const char *name;
    size_t nlen;
    uint64_t seq;
    long ep = outbox_key_parse(key, klen, &name, &nlen, &seq) ? endpoint_index(w, name, nlen) : -1;
    if (ep < 0) {
        tierd__webhook_delivery__free_unpacked(r, NULL);
        return td_error_set(err, TD_FAILED_PRECONDITION,
                            "dead letter '%s': its endpoint is no longer configured", id);
    }
    r->attempts = 0;
    r->dead = false;
    size_t plen = tierd__webhook_delivery__get_packed_size(r);
    uint8_t *pb = malloc(plen ? plen : 1);
    turn_item *t = td_grow(w->turn, &w->turn_cap, w->n_turn + 1, sizeof *t, WH_MIN_CAP);
    char *partner = strdup(r->partner);
    if (!pb || !t || !partner) {
        free(pb);
        free(partner);
        tierd__webhook_delivery__free_unpacked(r, NULL);
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "webhooks: out of memory");
    }
    w->turn = t;
    tierd__webhook_delivery__pack(r, pb);
    tierd__webhook_delivery__free_unpacked(r, NULL);
    rc = store_wh_put(d->store, STORE_WH_OUTBOX, key, klen, pb, plen, err);
    free(pb);
    if (rc == 0)
        rc = store_wh_del(d->store, STORE_WH_DEAD, key, klen, err);
    if (rc) {
        free(partner);
        return rc;
    }
    w->turn[w->n_turn++] = (turn_item){.ep = (size_t)ep, .seq = seq, .partner = partner};
    return 0;
}

int webhooks_resend(tierd *d, const Tierd__ResendDeliveriesRequest *r, uint64_t *resent,
                    td_error *err)
{
    *resent = 0;
    webhooks *w = d->webhooks;
    if (!w)
        return td_error_set(err, TD_FAILED_PRECONDITION, "no webhooks are configured");
    if (!r->all_dead && r->n_ids == 0)
        return td_error_set(err, TD_INVALID_ARGUMENT, "name delivery ids, or all_dead");
    struct keys k = {0};
    int rc = 0;
    if (r->all_dead) {
        rc = store_wh_each(d->store, STORE_WH_DEAD, NULL, 0, collect_key, &k, err);
        if (rc < 0 && !err->message[0])
            td_error_set(err, TD_RESOURCE_EXHAUSTED, "webhooks: out of memory");
    } else {
        for (size_t i = 0; i < r->n_ids && rc == 0; i++) {
            uint8_t key[WH_KEY_MAX];
            size_t klen = id_key(r->ids[i], key);
            if (!klen)
                rc = td_error_set(err, TD_INVALID_ARGUMENT,
                                  "'%.80s' is not a delivery id (ENDPOINT:SEQ)", r->ids[i]);
            else if ((rc = collect_key(&k, key, klen, NULL, 0)) != 0)
                td_error_set(err, TD_RESOURCE_EXHAUSTED, "webhooks: out of memory");
        }
    }
    if (rc == 0)
        rc = state_begin(d, err);
    for (size_t i = 0; i < k.n && rc == 0; i++) {
        char id[WEBHOOK_NAME_MAX + 32];
        const char *name = "";
        size_t nlen = 0;
        uint64_t seq = 0;
        outbox_key_parse(k.keys[i], k.lens[i], &name, &nlen, &seq);
        snprintf(id, sizeof id, "%.*s:%" PRIu64, (int)nlen, name, seq);
        rc = resend_one(w, k.keys[i], k.lens[i], id, err);
        if (rc == 0)
            (*resent)++;
    }
    free(k.keys);
    free(k.lens);
    if (rc && store_in_txn(d->store))
        state_fail(d, err);
    return rc;
}

void webhooks_get_stats(tierd *d, webhooks_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!d->store)
        return;
    out->queued = store_wh_count(d->store, STORE_WH_OUTBOX);
    out->dead = store_wh_count(d->store, STORE_WH_DEAD);
    if (d->webhooks) {
        out->endpoints = d->webhooks->conf.n;
        out->delivered = d->webhooks->delivered;
    }
}
