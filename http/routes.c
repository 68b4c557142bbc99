/* The route table and its handlers (routes.h). Owns the mapping between
 * query strings / JSON bodies and RPC requests; the frame (auth, limits,
 * errors) is server.c's. A handler either replies at once (a bad
 * argument: 400 naming it) or calls tierd through http_call. */
#include "routes.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "td_items.h"
#include "td_number.h"
#include "td_json.h"
#include "td_time.h"
#include "tierd.pb-c.h"
#include "tierd/client.h"

#define HTTP_SOURCE  "http"
#define REASON_MAX   512
#define MAX_WHERE    32
#define LIMIT_MAX    UINT32_MAX
#define PROGRAM_FILE "program.yaml"

/* ---- arguments --------------------------------------------------------------------- */

/* An unsigned query argument up to max (digits only, as td_number_parse
 * reads them); false after replying 400 naming it. */
static bool arg_uint(http_req *r, const char *name, uint64_t max, uint64_t *out)
{
    const char *s = http_arg(r, name);
    if (!s || !*s)
        return true;
    if (td_number_parse(s, 0, max, out) != 0) {
        http_reply_error(r, TD_INVALID_ARGUMENT, 0,
                         "query argument '%s' must be a whole number, not '%.64s'", name, s);
        return false;
    }
    return true;
}

static bool arg_u32(http_req *r, const char *name, uint32_t *out)
{
    uint64_t v = *out;
    if (!arg_uint(r, name, LIMIT_MAX, &v))
        return false;
    *out = (uint32_t)v;
    return true;
}

static bool arg_u64(http_req *r, const char *name, uint64_t *out)
{
    return arg_uint(r, name, UINT64_MAX, out);
}

static bool arg_bool(http_req *r, const char *name, protobuf_c_boolean *out)
{
    const char *s = http_arg(r, name);
    if (!s)
        return true;
    if (!*s || strcmp(s, "true") == 0 || strcmp(s, "1") == 0) {
        *out = true;
    } else if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0) {
        *out = false;
    } else {
        http_reply_error(r, TD_INVALID_ARGUMENT, 0,
                         "query argument '%s' must be true or false, not '%.64s'", name, s);
        return false;
    }
    return true;
}

static char *arg_str(http_req *r, const char *name)
{
    const char *s = http_arg(r, name);
    return (char *)(s ? s : "");
}

/* A time argument (RFC 3339 or a date) as Unix seconds; 0 when absent. */
static bool arg_time(http_req *r, const char *name, int64_t *out)
{
    const char *s = http_arg(r, name);
    if (!s || !*s)
        return true;
    td_error e = {0};
    td_time t = 0;
    if (td_time_parse(s, &t, &e) != 0) {
        http_reply_error(r, TD_INVALID_ARGUMENT, 0, "query argument '%s': %s", name, e.message);
        return false;
    }
    *out = t;
    return true;
}

/* ---- replies ------------------------------------------------------------------------ */

static void reply_pb(http_req *r, const ProtobufCMessage *m)
{
    http_reply_json(r, 200, td_json_from_pb(m));
}

/* ---- routes ------------------------------------------------------------------------- */

static void whoami(http_req *r)
{
    http_reply_json(r, 200,
                    json_pack("{s:s, s:s, s:o}", "name", r->token_name ? r->token_name : "", "role",
                              http_role_name(r->role), "partner", td_json_str_or_null(r->partner)));
}

/* A partner token sees what a page needs and nothing about the deployment. */
static void status_done(http_req *r, const ProtobufCMessage *m)
{
    if (r->role != HTTP_ROLE_PARTNER) {
        reply_pb(r, m);
        return;
    }
    const Tierd__StatusResponse *s = (const Tierd__StatusResponse *)m;
    http_reply_json(r, 200,
                    json_pack("{s:o, s:o, s:b, s:o, s:o}", "version", td_json_str(s->version),
                              "now", td_json_time(s->now), "fake_clock", s->fake_clock, "program",
                              td_json_str(s->program), "program_version",
                              td_json_str(s->program_version)));
}

static void status(http_req *r)
{
    http_call(r, "Status", NULL, &tierd__status_response__descriptor, 0, status_done);
}

/* ListPartners with the query's filters; at_risk_before as given (0:
 * none); a bad limit is answered 400. */
static void call_list_partners(http_req *r, int64_t at_risk_before)
{
    Tierd__ListPartnersRequest q = TIERD__LIST_PARTNERS_REQUEST__INIT;
    const char *where[MAX_WHERE];
    q.ladder = arg_str(r, "ladder");
    q.tier = arg_str(r, "tier");
    q.after = arg_str(r, "after");
    q.benefit = arg_str(r, "benefit");
    if (!arg_u32(r, "limit", &q.limit))
        return;
    q.n_where = http_args(r, "where", where, MAX_WHERE);
    q.where = (char **)where;
    q.at_risk_before = at_risk_before;
    http_call(r, "ListPartners", &q.base, &tierd__list_partners_response__descriptor, 0, reply_pb);
}

/* at_risk_within: a duration (td_duration_parse: "90d", "12h"); false
 * after replying 400 naming it. */
static bool arg_duration(http_req *r, const char *name, int64_t *out)
{
    const char *s = http_arg(r, name);
    if (!s || !*s)
        return true;
    td_error e = {0};
    if (td_duration_parse(s, out, &e) != 0) {
        http_reply_error(r, TD_INVALID_ARGUMENT, 0, "query argument '%s': %s", name, e.message);
        return false;
    }
    return true;
}

/* at_risk_within counts from tierd's clock (a fake one too), not
 * tierd-http's: Clock first, then the list. */
static void at_risk_clock_done(http_req *r, const ProtobufCMessage *m)
{
    const Tierd__ClockResponse *c = (const Tierd__ClockResponse *)m;
    int64_t within = 0;
    arg_duration(r, "at_risk_within", &within); /* checked before the call */
    int64_t before = c->now > TD_TIME_MAX - within ? TD_TIME_MAX : c->now + within;
    call_list_partners(r, before);
}

static void list_partners(http_req *r)
{
    int64_t within = 0, before = 0;
    if (!arg_duration(r, "at_risk_within", &within) || !arg_time(r, "at_risk_before", &before))
        return;
    if (within && before) {
        http_reply_error(r, TD_INVALID_ARGUMENT, 0,
                         "give query argument 'at_risk_within' or 'at_risk_before', not both");
        return;
    }
    if (!within) {
        call_list_partners(r, before);
        return;
    }
    Tierd__ClockRequest q = TIERD__CLOCK_REQUEST__INIT;
    q.advance = "";
    http_call(r, "Clock", &q.base, &tierd__clock_response__descriptor, 0, at_risk_clock_done);
}

static void get_partner(http_req *r)
{
    Tierd__PartnerRequest q = TIERD__PARTNER_REQUEST__INIT;
    q.id = r->id;
    http_call(r, "GetPartner", &q.base, &tierd__partner_info__descriptor, 0, reply_pb);
}

static void explain(http_req *r)
{
    Tierd__ExplainRequest q = TIERD__EXPLAIN_REQUEST__INIT;
    q.partner = r->id;
    q.ladder = arg_str(r, "ladder");
    q.at = arg_str(r, "at");
    http_call(r, "Explain", &q.base, &tierd__explain_response__descriptor, 0, reply_pb);
}

static void history(http_req *r)
{
    Tierd__HistoryRequest q = TIERD__HISTORY_REQUEST__INIT;
    q.partner = r->id;
    q.ladder = arg_str(r, "ladder");
    if (!arg_u32(r, "limit", &q.limit))
        return;
    http_call(r, "History", &q.base, &tierd__changes_response__descriptor, 0, reply_pb);
}

/* GetBenefits answers found=false for an unknown id; the route says 404. */
static void benefits_done(http_req *r, const ProtobufCMessage *m)
{
    const Tierd__GetBenefitsResponse *b = (const Tierd__GetBenefitsResponse *)m;
    if (b->n_partners != 1 || !b->partners[0]->found) {
        http_reply_error(r, TD_NOT_FOUND, 0, "no partner '%.200s'", r->id);
        return;
    }
    reply_pb(r, m);
}

static void benefits(http_req *r)
{
    Tierd__GetBenefitsRequest q = TIERD__GET_BENEFITS_REQUEST__INIT;
    q.n_partners = 1;
    q.partners = &r->id;
    http_call(r, "GetBenefits", &q.base, &tierd__get_benefits_response__descriptor, 0,
              benefits_done);
}

static void stats(http_req *r)
{
    http_call(r, "Stats", NULL, &tierd__stats_response__descriptor, 0, reply_pb);
}

/* wait: "30s", "500ms" or whole seconds; at most TD_CHANGES_MAX_WAIT_MS. */
static bool parse_wait(http_req *r, uint32_t *ms)
{
    const char *s = http_arg(r, "wait");
    if (!s || !*s)
        return true;
    int64_t v = 0;
    td_error e = {0};
    if (td_wait_parse_ms(s, &v, &e) != 0) {
        http_reply_error(r, TD_INVALID_ARGUMENT, 0,
                         "query argument 'wait' must be a duration up to 30s (\"30s\", "
                         "\"500ms\"), not '%.64s'",
                         s);
        return false;
    }
    *ms = v > TD_CHANGES_MAX_WAIT_MS ? TD_CHANGES_MAX_WAIT_MS : (uint32_t)v;
    return true;
}

static void changes(http_req *r)
{
    Tierd__ListChangesRequest q = TIERD__LIST_CHANGES_REQUEST__INIT;
    if (!arg_u64(r, "since", &q.since) || !arg_u32(r, "limit", &q.limit) ||
        !parse_wait(r, &q.wait_ms))
        return;
    http_call(r, "ListChanges", &q.base, &tierd__changes_response__descriptor, q.wait_ms, reply_pb);
}

static void pending(http_req *r)
{
    http_call(r, "ListPending", NULL, &tierd__list_pending_response__descriptor, 0, reply_pb);
}

/* The body as one JSON object (an empty body is {}); NULL after a 400
 * naming where it broke. */
static json_t *body_object(http_req *r)
{
    if (!r->body_len)
        return json_object();
    json_error_t e;
    json_t *doc = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &e);
    if (!doc) {
        http_reply_error(r, TD_INVALID_ARGUMENT, 0, "body line %d column %d: %s", e.line, e.column,
                         e.text);
        return NULL;
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        http_reply_error(r, TD_INVALID_ARGUMENT, 0, "the body must be a JSON object");
        return NULL;
    }
    return doc;
}

/* A string field of a body object; false after a 400 naming it. */
static bool body_string(http_req *r, json_t *doc, const char *field, char **out)
{
    json_t *v = json_object_get(doc, field);
    if (!v)
        return true;
    if (!json_is_string(v)) {
        http_reply_error(r, TD_INVALID_ARGUMENT, 0, "body field '%s' must be a string", field);
        return false;
    }
    *out = (char *)json_string_value(v);
    return true;
}

static void decide(http_req *r, const char *method)
{
    json_t *doc = body_object(r);
    if (!doc)
        return;
    const char *key;
    json_t *v;
    json_object_foreach(doc, key, v)
    {
        if (strcmp(key, "ladder") != 0 && strcmp(key, "reason") != 0) {
            http_reply_error(r, TD_INVALID_ARGUMENT, 0,
                             "unknown body field '%.64s' (ladder, reason)", key);
            json_decref(doc);
            return;
        }
    }
    Tierd__DecisionRequest q = TIERD__DECISION_REQUEST__INIT;
    q.partner = r->id;
    q.ladder = "";
    q.reason = "";
    if (body_string(r, doc, "ladder", &q.ladder) && body_string(r, doc, "reason", &q.reason)) {
        /* the person who decided, not tierd-http's own upstream token */
        q.on_behalf_of = r->token_name;
        http_call(r, method, &q.base, &tierd__tier_state__descriptor, 0, reply_pb);
    }
    json_decref(doc);
}

static void approve(http_req *r)
{
    decide(r, "Approve");
}

static void deny(http_req *r)
{
    decide(r, "Deny");
}

static void get_program(http_req *r)
{
    http_call(r, "GetProgram", NULL, &tierd__get_program_response__descriptor, 0, reply_pb);
}

static void put_program(http_req *r)
{
    Tierd__PutProgramRequest q = TIERD__PUT_PROGRAM_REQUEST__INIT;
    if (!arg_bool(r, "dry_run", &q.dry_run) || !arg_bool(r, "force", &q.force))
        return;
    if (memchr(r->body ? r->body : "", 0, r->body_len)) {
        http_reply_error(r, TD_INVALID_ARGUMENT, 0, "the program text holds a NUL byte");
        return;
    }
    q.yaml = r->body ? r->body : "";
    q.filename = http_arg(r, "filename") ? (char *)http_arg(r, "filename") : PROGRAM_FILE;
    http_call(r, "PutProgram", &q.base, &tierd__put_program_response__descriptor, 0, reply_pb);
}

static void kpi(http_req *r)
{
    Tierd__KpiRequest q = TIERD__KPI_REQUEST__INIT;
    if (!arg_time(r, "from", &q.from) || !arg_time(r, "to", &q.to))
        return;
    q.ladder = arg_str(r, "ladder");
    q.by = arg_str(r, "by");
    http_call(r, "Kpi", &q.base, &tierd__kpi_response__descriptor, 0, reply_pb);
}

/* ---- ingest: events and partners ---------------------------------------------- */

/* One ingest request: its items as read, those sent to tierd, and where
 * each sent one stands in the body (for per-item results in body order). */
typedef struct ingest {
    bool events;
    json_t **docs; /* one per body item */
    size_t n;
    char (*reasons)[REASON_MAX]; /* a refused item's reason, "" when sent */
    Tierd__Event *ev;
    Tierd__Event **ev_ptrs;
    Tierd__Partner *pa;
    Tierd__Partner **pa_ptrs;
    char ***types;
    void **attrs;
    size_t *sent_index; /* body index of each sent item */
    size_t n_sent;
} ingest;

static void ingest_free(void *p)
{
    ingest *g = p;
    if (!g)
        return;
    for (size_t i = 0; i < g->n; i++) {
        json_decref(g->docs[i]);
        if (g->types)
            free(g->types[i]);
        if (g->attrs)
            free(g->attrs[i]);
    }
    free(g->docs);
    free(g->reasons);
    free(g->ev);
    free(g->ev_ptrs);
    free(g->pa);
    free(g->pa_ptrs);
    free(g->types);
    free(g->attrs);
    free(g->sent_index);
    free(g);
}

static bool add_doc(http_req *r, ingest *g, json_t *doc, size_t cap)
{
    if (g->n >= cap) {
        json_decref(doc);
        http_reply_error(r, TD_INVALID_ARGUMENT, 0, "at most %d items per request", HTTP_MAX_ITEMS);
        return false;
    }
    g->docs[g->n++] = doc;
    return true;
}

/* The body's items: a JSON array, or NDJSON (one value per line, blank
 * lines skipped). A syntax error refuses the whole request (400 naming the
 * line and column): nothing is sent, nothing half-applied. */
static bool read_items(http_req *r, ingest *g)
{
    g->docs = calloc(HTTP_MAX_ITEMS, sizeof *g->docs);
    if (!g->docs) {
        http_reply_error(r, TD_RESOURCE_EXHAUSTED, 0, "out of memory");
        return false;
    }
    const char *b = r->body ? r->body : "";
    size_t len = r->body_len, i = 0;
    while (i < len && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n'))
        i++;
    json_error_t e;
    if (i < len && b[i] == '[') {
        json_t *arr = json_loadb(b, len, JSON_REJECT_DUPLICATES, &e);
        if (!arr) {
            http_reply_error(r, TD_INVALID_ARGUMENT, 0, "body line %d column %d: %s", e.line,
                             e.column, e.text);
            return false;
        }
        size_t k;
        json_t *v;
        json_array_foreach(arr, k, v)
        {
            if (!add_doc(r, g, json_incref(v), HTTP_MAX_ITEMS)) {
                json_decref(arr);
                return false;
            }
        }
        json_decref(arr);
        return true;
    }
    unsigned long line = 0;
    for (size_t start = 0; start < len;) {
        const char *nl = memchr(b + start, '\n', len - start);
        size_t end = nl ? (size_t)(nl - b) : len;
        line++;
        size_t j = start;
        while (j < end && (b[j] == ' ' || b[j] == '\t' || b[j] == '\r'))
            j++;
        if (j < end) {
            json_t *doc = json_loadb(b + start, end - start, JSON_REJECT_DUPLICATES, &e);
            if (!doc) {
                http_reply_error(r, TD_INVALID_ARGUMENT, 0, "body line %lu column %d: %s", line,
                                 e.column, e.text);
                return false;
            }
            if (!add_doc(r, g, doc, HTTP_MAX_ITEMS))
                return false;
        }
        start = end + 1;
    }
    return true;
}

static json_t *item_json(uint32_t index, const char *id, const char *outcome, const char *reason)
{
    return json_pack("{s:i, s:o, s:s, s:o}", "index", (int)index, "id", td_json_str(id), "outcome",
                     outcome, "reason", td_json_str(reason));
}

/* tierd's per-item results (indexed by what was sent) merged with the
 * items refused here, in body order. */
static void ingest_done(http_req *r, const ProtobufCMessage *m)
{
    ingest *g = r->ctx;
    Tierd__ItemResult **res;
    size_t n_res;
    json_t *out = json_object();
    uint32_t accepted, rejected, duplicate = 0;
    if (g->events) {
        const Tierd__IngestResponse *x = (const Tierd__IngestResponse *)m;
        res = x->results;
        n_res = x->n_results;
        accepted = x->accepted;
        rejected = x->rejected;
        duplicate = x->duplicate;
    } else {
        const Tierd__UpsertPartnersResponse *x = (const Tierd__UpsertPartnersResponse *)m;
        res = x->results;
        n_res = x->n_results;
        accepted = x->accepted;
        rejected = x->rejected;
    }
    json_t *items = json_array();
    size_t k = 0;
    for (size_t i = 0; i < g->n; i++) {
        if (g->reasons[i][0]) {
            const char *id =
                json_string_value(json_object_get(g->docs[i], g->events ? "id" : "partner"));
            json_array_append_new(items, item_json((uint32_t)i, id, "REJECTED", g->reasons[i]));
            rejected++;
            continue;
        }
        /* the k-th sent item; tierd answers one result per item, in order */
        const Tierd__ItemResult *ir = NULL;
        for (size_t j = 0; j < n_res && !ir; j++)
            if (res[j]->index == k)
                ir = res[j];
        k++;
        if (!ir)
            continue;
        const ProtobufCEnumValue *ev =
            protobuf_c_enum_descriptor_get_value(&tierd__outcome__descriptor, ir->outcome);
        json_array_append_new(
            items, item_json((uint32_t)i, ir->id, ev ? ev->name : "REJECTED", ir->reason));
    }
    json_object_set_new(out, "accepted", json_integer(accepted));
    if (g->events)
        json_object_set_new(out, "duplicate", json_integer(duplicate));
    json_object_set_new(out, "rejected", json_integer(rejected));
    json_object_set_new(out, "results", items);
    http_reply_json(r, 200, out);
}

static void ingest_route(http_req *r, bool events)
{
    ingest *g = calloc(1, sizeof *g);
    if (!g) {
        http_reply_error(r, TD_RESOURCE_EXHAUSTED, 0, "out of memory");
        return;
    }
    g->events = events;
    r->ctx = g;
    r->ctx_free = ingest_free;
    if (!read_items(r, g))
        return;
    size_t n = g->n ? g->n : 1;
    g->reasons = calloc(n, sizeof *g->reasons);
    g->sent_index = calloc(n, sizeof *g->sent_index);
    if (events) {
        g->ev = calloc(n, sizeof *g->ev);
        g->ev_ptrs = calloc(n, sizeof *g->ev_ptrs);
    } else {
        g->pa = calloc(n, sizeof *g->pa);
        g->pa_ptrs = calloc(n, sizeof *g->pa_ptrs);
        g->types = calloc(n, sizeof *g->types);
        g->attrs = calloc(n, sizeof *g->attrs);
    }
    if (!g->reasons || !g->sent_index ||
        (events ? !g->ev || !g->ev_ptrs : !g->pa || !g->pa_ptrs || !g->types || !g->attrs)) {
        http_reply_error(r, TD_RESOURCE_EXHAUSTED, 0, "out of memory");
        return;
    }
    for (size_t i = 0; i < g->n; i++) {
        json_t *doc = g->docs[i];
        char *why = g->reasons[i];
        int rc;
        if (!json_is_object(doc)) {
            snprintf(why, REASON_MAX, "item %zu must be a JSON object", i);
            continue;
        }
        if (events)
            rc = td_item_event(doc, HTTP_SOURCE, &g->ev[g->n_sent], why, REASON_MAX);
        else
            rc = td_item_partner(doc, &g->pa[g->n_sent], &g->types[i], &g->attrs[i], why,
                                 REASON_MAX);
        if (rc != 0) {
            if (!why[0])
                snprintf(why, REASON_MAX, "rejected");
            continue;
        }
        if (events)
            g->ev_ptrs[g->n_sent] = &g->ev[g->n_sent];
        else
            g->pa_ptrs[g->n_sent] = &g->pa[g->n_sent];
        g->sent_index[g->n_sent++] = i;
    }
    if (events) {
        Tierd__IngestRequest q = TIERD__INGEST_REQUEST__INIT;
        q.n_events = g->n_sent;
        q.events = g->ev_ptrs;
        http_call(r, "Ingest", &q.base, &tierd__ingest_response__descriptor, 0, ingest_done);
    } else {
        Tierd__UpsertPartnersRequest q = TIERD__UPSERT_PARTNERS_REQUEST__INIT;
        q.n_partners = g->n_sent;
        q.partners = g->pa_ptrs;
        http_call(r, "UpsertPartners", &q.base, &tierd__upsert_partners_response__descriptor, 0,
                  ingest_done);
    }
}

static void post_events(http_req *r)
{
    ingest_route(r, true);
}

static void post_partners(http_req *r)
{
    ingest_route(r, false);
}

/* ---- metrics ---------------------------------------------------------------------- */

/* tierd's Metrics text, then tierd-http's own. A tierd without Metrics
 * still gets tierd-http's own figures, and a comment saying why tierd's
 * are missing. */
static void metrics_done(http_req *r, td_code code, const char *message, const uint8_t *payload,
                         size_t len)
{
    char *own = http_server_metrics(r->srv);
    Tierd__MetricsResponse *m =
        code == TD_OK ? tierd__metrics_response__unpack(NULL, len, payload) : NULL;
    const char *tierd = m && m->text ? m->text : "";
    char note[TD_ERROR_MAX + 64] = "";
    if (!m) {
        snprintf(note, sizeof note, "# tierd metrics unavailable: %s: %s\n", td_code_name(code),
                 message ? message : "");
        for (char *p = note + 2; *p && p[1]; p++)
            if (*p == '\n')
                *p = ' ';
    }
    size_t tl = strlen(tierd), nl = strlen(note), ol = own ? strlen(own) : 0;
    char *text = malloc(tl + nl + ol + 2);
    if (!text) {
        http_reply_error(r, TD_RESOURCE_EXHAUSTED, 0, "out of memory");
    } else {
        size_t o = 0;
        memcpy(text + o, tierd, tl);
        o += tl;
        if (tl && tierd[tl - 1] != '\n')
            text[o++] = '\n';
        memcpy(text + o, note, nl);
        o += nl;
        if (own)
            memcpy(text + o, own, ol);
        o += ol;
        http_reply_text(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, o);
        free(text);
    }
    free(own);
    if (m)
        tierd__metrics_response__free_unpacked(m, NULL);
}

static void metrics(http_req *r)
{
    http_call_raw(r, "Metrics", NULL, metrics_done);
}

/* ---- the table ---------------------------------------------------------------------- */

#define R  HTTP_ROLE_READ
#define W  HTTP_ROLE_WRITE
#define A  HTTP_ROLE_ADMIN
#define P  true /* a partner token may call it */
#define NP false
#define B  true /* takes a body */
#define NB false

const http_route http_routes[] = {
    {"GET", "/v1/status", R, P, NB, status},
    {"GET", "/v1/whoami", R, P, NB, whoami},
    {"GET", "/v1/partners", R, NP, NB, list_partners},
    {"POST", "/v1/partners", W, NP, B, post_partners},
    {"GET", "/v1/partners/{id}", R, P, NB, get_partner},
    {"GET", "/v1/partners/{id}/explain", R, P, NB, explain},
    {"GET", "/v1/partners/{id}/history", R, P, NB, history},
    {"GET", "/v1/partners/{id}/benefits", R, P, NB, benefits},
    {"GET", "/v1/stats", R, NP, NB, stats},
    {"GET", "/v1/changes", R, NP, NB, changes},
    {"GET", "/v1/pending", R, NP, NB, pending},
    {"POST", "/v1/pending/{id}/approve", A, NP, B, approve},
    {"POST", "/v1/pending/{id}/deny", A, NP, B, deny},
    {"GET", "/v1/program", R, NP, NB, get_program},
    {"PUT", "/v1/program", A, NP, B, put_program},
    {"POST", "/v1/events", W, NP, B, post_events},
    {"GET", "/v1/kpi", R, NP, NB, kpi},
    {"GET", "/metrics", R, NP, NB, metrics},
};
const size_t http_n_routes = sizeof http_routes / sizeof *http_routes;
