/* The RPC core: the one method table, the per-call arena, and the path from
 * request bytes to reply bytes that every transport shares.
 *
 * rpc_execute takes one request whole: Envelope read (in place, so an
 * unauthenticated client makes us allocate nothing), method lookup, token
 * check, role check, payload decode (within a memory budget), handler,
 * response pack. Each step that fails becomes a Reply status with a
 * message saying which step and why, so a hostile or broken client always
 * learns what was wrong and the daemon never trusts a byte it has not
 * checked. A ListChanges that asks to wait says so in its result
 * (rpc_wait); the server holds it and runs it again with
 * rpc_execute_wait. It does not touch
 * sockets or commit anything: the server decides when replies leave (after
 * the turn's commit) and replaces mutating replies when the commit fails. */
#include "rpc.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "backup.h"
#include "handlers.h"
#include "state.h"
#include "tierd.pb-c.h"

#define RPC_ARENA_BLOCK (16u * 1024u)
#define RPC_ARENA_ALIGN 16u
#define RPC_MAX_METHOD  64
/* What decoding a payload may allocate. Small items cost protobuf-c more
 * than their bytes: TD_MAX_BATCH minimal events (400 KB) decode into
 * 2.5 MB, 10,000 short ids (70 KB) into 0.8 MB; the fixed part covers
 * that, the part per byte long strings and items richer than today's.
 * Unknown fields cost some 36 times their size, so a payload made of them
 * runs out of budget instead of memory: a request's peak is then at most
 * its size three times over plus RPC_DECODE_BUDGET_MIN. */
#define RPC_DECODE_BUDGET_MIN      (4u << 20)
#define RPC_DECODE_BUDGET_PER_BYTE 2u
/* Protobuf wire format: the parts the Envelope reader needs. */
#define RPC_WIRE_VARINT    0
#define RPC_WIRE_FIXED64   1
#define RPC_WIRE_LEN       2
#define RPC_WIRE_FIXED32   5
#define RPC_WIRE_MAX_FIELD ((1u << 29) - 1)
#define RPC_VARINT_MAX     10
#define RPC_ENV_METHOD     1
#define RPC_ENV_REQUEST_ID 2
#define RPC_ENV_TOKEN      3
#define RPC_ENV_PAYLOAD    4

/* clang-format off */
static const rpc_method rpc_methods[] = {
    {"Status", TD_ROLE_READ, false, &tierd__empty__descriptor, &tierd__status_response__descriptor, handle_status},
    {"PutProgram", TD_ROLE_ADMIN, true, &tierd__put_program_request__descriptor, &tierd__put_program_response__descriptor, handle_put_program},
    {"GetProgram", TD_ROLE_READ, false, &tierd__empty__descriptor, &tierd__get_program_response__descriptor, handle_get_program},
    {"UpsertPartners", TD_ROLE_WRITE, true, &tierd__upsert_partners_request__descriptor, &tierd__upsert_partners_response__descriptor, handle_upsert_partners},
    {"GetPartner", TD_ROLE_READ, false, &tierd__partner_request__descriptor, &tierd__partner_info__descriptor, handle_get_partner},
    {"ListPartners", TD_ROLE_READ, false, &tierd__list_partners_request__descriptor, &tierd__list_partners_response__descriptor, handle_list_partners},
    {"DeletePartner", TD_ROLE_WRITE, true, &tierd__partner_request__descriptor, &tierd__delete_partner_response__descriptor, handle_delete_partner},
    {"Ingest", TD_ROLE_WRITE, true, &tierd__ingest_request__descriptor, &tierd__ingest_response__descriptor, handle_ingest},
    {"GetTiers", TD_ROLE_READ, false, &tierd__get_tiers_request__descriptor, &tierd__get_tiers_response__descriptor, handle_get_tiers},
    {"Explain", TD_ROLE_READ, false, &tierd__explain_request__descriptor, &tierd__explain_response__descriptor, handle_explain},
    {"History", TD_ROLE_READ, false, &tierd__history_request__descriptor, &tierd__changes_response__descriptor, handle_history},
    {"ListChanges", TD_ROLE_READ, false, &tierd__list_changes_request__descriptor, &tierd__changes_response__descriptor, handle_list_changes},
    {"SetOverride", TD_ROLE_ADMIN, true, &tierd__set_override_request__descriptor, &tierd__tier_state__descriptor, handle_set_override},
    {"ClearOverride", TD_ROLE_ADMIN, true, &tierd__clear_override_request__descriptor, &tierd__tier_state__descriptor, handle_clear_override},
    {"ListPending", TD_ROLE_READ, false, &tierd__empty__descriptor, &tierd__list_pending_response__descriptor, handle_list_pending},
    {"Approve", TD_ROLE_ADMIN, true, &tierd__decision_request__descriptor, &tierd__tier_state__descriptor, handle_approve},
    {"Deny", TD_ROLE_ADMIN, true, &tierd__decision_request__descriptor, &tierd__tier_state__descriptor, handle_deny},
    {"Stats", TD_ROLE_READ, false, &tierd__empty__descriptor, &tierd__stats_response__descriptor, handle_stats},
    /* Read role: advancing checks for admin inside the handler. Mutating so
     * an advance commits before it answers. */
    {"Clock", TD_ROLE_READ, true, &tierd__clock_request__descriptor, &tierd__clock_response__descriptor, handle_clock},
    {"GetCursor", TD_ROLE_READ, false, &tierd__cursor_request__descriptor, &tierd__cursor_response__descriptor, handle_get_cursor},
    {"GetBenefits", TD_ROLE_READ, false, &tierd__get_benefits_request__descriptor, &tierd__get_benefits_response__descriptor, handle_get_benefits},
    {"ListBenefitHolders", TD_ROLE_READ, false, &tierd__list_benefit_holders_request__descriptor, &tierd__list_benefit_holders_response__descriptor, handle_list_benefit_holders},
    /* What-if: read only, whatever the candidate says (docs/rpc.md). */
    {"Simulate", TD_ROLE_READ, false, &tierd__simulate_request__descriptor, &tierd__simulate_response__descriptor, handle_simulate},
    {"Audit", TD_ROLE_READ, false, &tierd__audit_request__descriptor, &tierd__audit_response__descriptor, handle_audit},
    {"Calibrate", TD_ROLE_READ, false, &tierd__calibrate_request__descriptor, &tierd__calibrate_response__descriptor, handle_calibrate},
    {"StatsBy", TD_ROLE_READ, false, &tierd__stats_by_request__descriptor, &tierd__stats_by_response__descriptor, handle_stats_by},
    /* KPI history: stored snapshots only (docs/kpi.md). */
    {"Kpi", TD_ROLE_READ, false, &tierd__kpi_request__descriptor, &tierd__kpi_response__descriptor, handle_kpi},
    /* Prometheus text (docs/metrics.md). */
    {"Metrics", TD_ROLE_READ, false, &tierd__empty__descriptor, &tierd__metrics_response__descriptor, handle_metrics},
    /* Backup is admin: the copy holds every partner's facts. Neither mutates. */
    {"Backup", TD_ROLE_ADMIN, false, &tierd__backup_request__descriptor, &tierd__backup_response__descriptor, handle_backup},
    {"Export", TD_ROLE_READ, false, &tierd__export_request__descriptor, &tierd__export_response__descriptor, handle_export},
    /* Sink connectors acknowledge what they applied (handlers_cursor.c). */
    {"SinkAck", TD_ROLE_WRITE, true, &tierd__sink_ack_request__descriptor, &tierd__sink_ack_response__descriptor, handle_sink_ack},
    /* Webhooks: the outbox and dead letters (docs/webhooks.md). */
    {"ListDeliveries", TD_ROLE_READ, false, &tierd__list_deliveries_request__descriptor, &tierd__list_deliveries_response__descriptor, handle_list_deliveries},
    {"ResendDeliveries", TD_ROLE_ADMIN, true, &tierd__resend_deliveries_request__descriptor, &tierd__resend_deliveries_response__descriptor, handle_resend_deliveries},
};
/* clang-format on */

const rpc_method *rpc_method_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < sizeof rpc_methods / sizeof rpc_methods[0]; i++)
        if (strcmp(rpc_methods[i].name, name) == 0)
            return &rpc_methods[i];
    return NULL;
}

size_t rpc_method_count(void)
{
    return sizeof rpc_methods / sizeof rpc_methods[0];
}

const rpc_method *rpc_method_at(size_t i)
{
    return i < rpc_method_count() ? &rpc_methods[i] : NULL;
}

/* ---- arena ---------------------------------------------------------------- */

typedef struct rpc_block {
    struct rpc_block *next;
    size_t used, size;
    _Alignas(RPC_ARENA_ALIGN) unsigned char data[];
} rpc_block;

struct rpc_arena {
    rpc_block *head;
    size_t budget; /* 0: none; else what rpc_alloc_budgeted may still hand out */
    bool over;     /* a budgeted allocation was refused */
};

rpc_arena *rpc_arena_new(void)
{
    rpc_arena *a = calloc(1, sizeof *a);
    if (!a)
        abort();
    return a;
}

void rpc_arena_free(rpc_arena *a)
{
    if (!a)
        return;
    for (rpc_block *b = a->head, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    free(a);
}

void rpc_arena_reset(rpc_arena *a)
{
    rpc_block *keep = NULL;
    for (rpc_block *b = a->head, *next; b; b = next) {
        next = b->next;
        if (!keep && b->size == RPC_ARENA_BLOCK) {
            keep = b;
            continue;
        }
        free(b);
    }
    if (keep) {
        keep->used = 0;
        keep->next = NULL;
    }
    a->head = keep;
    a->budget = 0;
    a->over = false;
}

void *rpc_alloc(rpc_call *call, size_t size)
{
    rpc_arena *a = call->arena;
    size = (size + RPC_ARENA_ALIGN - 1) & ~(size_t)(RPC_ARENA_ALIGN - 1);
    if (size == 0)
        size = RPC_ARENA_ALIGN;
    rpc_block *b = a->head;
    if (!b || b->size - b->used < size) {
        size_t cap = size > RPC_ARENA_BLOCK ? size : RPC_ARENA_BLOCK;
        b = malloc(sizeof *b + cap);
        if (!b)
            abort();
        b->size = cap;
        b->used = 0;
        b->next = a->head;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += size;
    memset(p, 0, size);
    return p;
}

char *rpc_strdup(rpc_call *call, const char *s)
{
    if (!s)
        s = "";
    size_t n = strlen(s) + 1;
    char *p = rpc_alloc(call, n);
    memcpy(p, s, n);
    return p;
}

/* protobuf-c allocator over the arena: decoded requests live exactly as
 * long as the call, and frees are no-ops. It hands out at most the call's
 * decode budget; past it, it returns NULL and protobuf-c gives up. */
static void *rpc_pb_alloc(void *ud, size_t size)
{
    rpc_call *call = ud;
    rpc_arena *a = call->arena;
    size_t need = (size + RPC_ARENA_ALIGN - 1) & ~(size_t)(RPC_ARENA_ALIGN - 1);
    if (need < size || need > a->budget) {
        a->over = true;
        return NULL;
    }
    a->budget -= need;
    return rpc_alloc(call, size);
}

static void rpc_pb_free(void *ud, void *p)
{
    (void)ud;
    (void)p;
}

/* ---- roles and tokens ----------------------------------------------------- */

static const char *const rpc_role_names[] = {
    [TD_ROLE_NONE] = "none",
    [TD_ROLE_READ] = "read",
    [TD_ROLE_WRITE] = "write",
    [TD_ROLE_ADMIN] = "admin",
};

bool rpc_role_parse(const char *s, td_role *out)
{
    for (int r = TD_ROLE_READ; r <= TD_ROLE_ADMIN; r++)
        if (s && strcmp(s, rpc_role_names[r]) == 0) {
            *out = (td_role)r;
            return true;
        }
    return false;
}

const char *rpc_role_name(td_role role)
{
    return role <= TD_ROLE_ADMIN ? rpc_role_names[role] : "unknown";
}

/* Equal without an early exit, so timing does not reveal how much of a
 * secret a guess got right. Length differences fold into the result. */
static bool rpc_secret_equal(const char *secret, const char *guess, size_t guess_len)
{
    size_t len = strlen(secret);
    unsigned diff = (unsigned)(len ^ guess_len);
    for (size_t i = 0; i < guess_len; i++)
        diff |= (unsigned char)guess[i] ^ (unsigned char)(i < len ? secret[i] : 0);
    return diff == 0;
}

int rpc_authenticate_bytes(const rpc_token *tokens, size_t n, const uint8_t *token, size_t len,
                           const char **actor, td_role *role, td_error *err)
{
    if (n == 0) {
        *actor = RPC_ACTOR_IPC;
        *role = TD_ROLE_ADMIN;
        return 0;
    }
    if (!token || len == 0)
        return td_error_set(err, TD_PERMISSION_DENIED, "missing token");
    /* Secrets are C strings: a NUL would make a longer guess compare equal
     * to the secret before it. */
    if (memchr(token, 0, len))
        return td_error_set(err, TD_PERMISSION_DENIED, "token contains a NUL byte");
    const rpc_token *match = NULL;
    /* Every token is compared, so the time does not say which one matched. */
    for (size_t i = 0; i < n; i++)
        if (rpc_secret_equal(tokens[i].secret, (const char *)token, len) && !match)
            match = &tokens[i];
    if (!match)
        return td_error_set(err, TD_PERMISSION_DENIED, "unknown token");
    *actor = match->name;
    *role = match->role;
    return 0;
}

int rpc_authenticate(const rpc_token *tokens, size_t n, const char *token, const char **actor,
                     td_role *role, td_error *err)
{
    return rpc_authenticate_bytes(tokens, n, (const uint8_t *)token, token ? strlen(token) : 0,
                                  actor, role, err);
}

/* ---- the Envelope ---------------------------------------------------------- */

/* protobuf-c would copy the payload and allocate every unknown field before
 * the token could be checked, and it hands strings back NUL-terminated, so
 * a NUL inside one goes unseen. The Envelope has four fields; reading them
 * in place costs nothing, skips unknown fields without keeping them, and
 * keeps each string's wire length. */
static bool rpc_wire_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < RPC_VARINT_MAX && *p < end; i++) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

static int rpc_envelope_bad(size_t len, const char *why, size_t at, td_error *err)
{
    return td_error_set(err, TD_INVALID_ARGUMENT,
                        "request is not a valid Envelope: %zu bytes do not decode as "
                        "tierd.Envelope (%s at byte %zu)",
                        len, why, at);
}

int rpc_envelope_read(const uint8_t *buf, size_t len, rpc_envelope *out, td_error *err)
{
    memset(out, 0, sizeof *out);
    const uint8_t *p = buf, *end = buf + len;
    while (p < end) {
        size_t at = (size_t)(p - buf);
        uint64_t tag;
        if (!rpc_wire_varint(&p, end, &tag))
            return rpc_envelope_bad(len, "truncated field tag", at, err);
        uint64_t field = tag >> 3;
        unsigned wire = (unsigned)(tag & 7);
        char why[64];
        if (field == 0 || field > RPC_WIRE_MAX_FIELD)
            return rpc_envelope_bad(len, "invalid field number", at, err);
        uint64_t v = 0;
        const uint8_t *data = NULL;
        switch (wire) {
        case RPC_WIRE_VARINT:
            if (!rpc_wire_varint(&p, end, &v))
                return rpc_envelope_bad(len, "truncated varint", at, err);
            break;
        case RPC_WIRE_FIXED64:
        case RPC_WIRE_FIXED32: {
            size_t n = wire == RPC_WIRE_FIXED64 ? 8 : 4;
            if ((size_t)(end - p) < n)
                return rpc_envelope_bad(len, "truncated fixed-size field", at, err);
            p += n;
            break;
        }
        case RPC_WIRE_LEN:
            if (!rpc_wire_varint(&p, end, &v) || v > (uint64_t)(end - p))
                return rpc_envelope_bad(len, "length runs past the end", at, err);
            data = p;
            p += v;
            break;
        default:
            snprintf(why, sizeof why, "unsupported wire type %u", wire);
            return rpc_envelope_bad(len, why, at, err);
        }
        unsigned want = field == RPC_ENV_REQUEST_ID ? RPC_WIRE_VARINT : RPC_WIRE_LEN;
        if (field > RPC_ENV_PAYLOAD)
            continue; /* a newer client's field: skipped, as protobuf allows */
        if (wire != want) {
            snprintf(why, sizeof why, "field %u has wire type %u, not %u", (unsigned)field, wire,
                     want);
            return rpc_envelope_bad(len, why, at, err);
        }
        /* A repeated singular field: the last one wins, as in protobuf. */
        rpc_bytes b = {data, (size_t)v};
        if (field == RPC_ENV_METHOD)
            out->method = b;
        else if (field == RPC_ENV_TOKEN)
            out->token = b;
        else if (field == RPC_ENV_PAYLOAD)
            out->payload = b;
        else
            out->request_id = v;
    }
    return 0;
}

/* ---- one request ---------------------------------------------------------- */

static void rpc_refuse(rpc_result *out, const td_error *e)
{
    out->status = e->code;
    snprintf(out->message, sizeof out->message, "%s", e->message);
}

/* The method name as it may appear in a message: printable ASCII only. */
static const char *rpc_method_quote(const char *name)
{
    size_t n = strlen(name);
    if (n == 0)
        return "(empty)";
    for (size_t i = 0; i < n; i++)
        if (name[i] < 0x20 || name[i] > 0x7e)
            return "(not printable)";
    return name;
}

/* The method row for the wire name, or a refusal saying why there is none. */
static const rpc_method *rpc_method_lookup(const rpc_bytes *name, td_error *err)
{
    char buf[RPC_MAX_METHOD + 1];
    if (name->len > RPC_MAX_METHOD) {
        td_error_set(err, TD_INVALID_ARGUMENT, "unknown method '(overlong name)'");
        return NULL;
    }
    if (name->len && memchr(name->data, 0, name->len)) {
        td_error_set(err, TD_INVALID_ARGUMENT, "method name contains a NUL byte");
        return NULL;
    }
    if (name->len)
        memcpy(buf, name->data, name->len);
    buf[name->len] = 0;
    const rpc_method *m = rpc_method_find(buf);
    if (!m)
        td_error_set(err, TD_INVALID_ARGUMENT, "unknown method '%s'", rpc_method_quote(buf));
    return m;
}

/* The handler, then its response packed into out. */
static int rpc_handle(rpc_call *call, const rpc_method *m, const ProtobufCMessage *req,
                      rpc_result *out, td_error *err)
{
    ProtobufCMessage *resp = NULL;
    int rc = m->handler(call, req, &resp, err);
    if (m->mutates)
        out->mutates = true;
    if (rc)
        return rc;
    if (!resp)
        return td_error_set(err, TD_INTERNAL, "%s produced no response", m->name);
    size_t len = protobuf_c_message_get_packed_size(resp);
    out->payload = malloc(len ? len : 1);
    if (!out->payload)
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "out of memory packing %zu bytes", len);
    out->payload_len = protobuf_c_message_pack(resp, out->payload);
    out->wait = call->wait;
    return 0;
}

static int rpc_run(tierd *d, const rpc_method *m, const char *actor, td_role role,
                   const rpc_bytes *payload, rpc_arena *scratch, rpc_result *out, td_error *err)
{
    rpc_call call = {.d = d, .actor = actor, .role = role, .now = tierd_now(d)};
    call.arena = scratch ? scratch : rpc_arena_new();
    call.arena->budget = RPC_DECODE_BUDGET_MIN + RPC_DECODE_BUDGET_PER_BYTE * payload->len;
    call.arena->over = false;
    ProtobufCAllocator alloc = {rpc_pb_alloc, rpc_pb_free, &call};
    ProtobufCMessage *req =
        protobuf_c_message_unpack(m->request, &alloc, payload->len, payload->data);
    int rc;
    if (!req && call.arena->over) {
        rc = td_error_set(
            err, TD_RESOURCE_EXHAUSTED,
            "payload of %zu bytes needs more than %zu bytes to decode as %s "
            "(unknown fields?)",
            payload->len,
            (size_t)(RPC_DECODE_BUDGET_MIN + RPC_DECODE_BUDGET_PER_BYTE * payload->len),
            m->request->name);
        goto done;
    }
    if (!req) {
        rc = td_error_set(err, TD_INVALID_ARGUMENT, "payload does not decode as %s",
                          m->request->name);
        goto done;
    }
    call.may_wait = true;
    rc = rpc_handle(&call, m, req, out, err);
done:
    if (scratch)
        rpc_arena_reset(scratch);
    else
        rpc_arena_free(call.arena);
    return rc;
}

void rpc_execute(tierd *d, const rpc_token *tokens, size_t n_tokens, const uint8_t *buf, size_t len,
                 rpc_arena *scratch, rpc_result *out)
{
    memset(out, 0, sizeof *out);
    out->method = -1;
    td_error err = {0};
    rpc_envelope env;
    if (rpc_envelope_read(buf, len, &env, &err) != 0) {
        rpc_refuse(out, &err);
        return;
    }
    out->request_id = env.request_id;
    const char *actor = NULL;
    td_role role = TD_ROLE_NONE;
    const rpc_method *m = rpc_method_lookup(&env.method, &err);
    if (m)
        out->method = (int)(m - rpc_methods);
    if (m && rpc_authenticate_bytes(tokens, n_tokens, env.token.data, env.token.len, &actor, &role,
                                    &err) == 0) {
        if (role < m->role)
            td_error_set(&err, TD_PERMISSION_DENIED, "token lacks role %s for %s",
                         rpc_role_name(m->role), m->name);
        else
            rpc_run(d, m, actor, role, &env.payload, scratch, out, &err);
    }
    if (err.code != TD_OK)
        rpc_refuse(out, &err);
}

void rpc_execute_wait(tierd *d, const rpc_wait *w, uint64_t request_id, rpc_arena *scratch,
                      rpc_result *out)
{
    memset(out, 0, sizeof *out);
    out->request_id = request_id;
    td_error err = {0};
    const rpc_method *m = rpc_method_find("ListChanges");
    out->method = (int)(m - rpc_methods);
    Tierd__ListChangesRequest req = TIERD__LIST_CHANGES_REQUEST__INIT;
    req.since = w->since;
    req.limit = w->limit;
    rpc_call call = {.d = d, .actor = RPC_ACTOR_IPC, .role = TD_ROLE_READ, .now = tierd_now(d)};
    call.arena = scratch ? scratch : rpc_arena_new();
    if (rpc_handle(&call, m, &req.base, out, &err) != 0) {
        rpc_result_clear(out);
        rpc_refuse(out, &err);
    }
    if (scratch)
        rpc_arena_reset(scratch);
    else
        rpc_arena_free(call.arena);
}

static void rpc_reply_init(const rpc_result *r, Tierd__Reply *reply)
{
    tierd__reply__init(reply);
    reply->request_id = r->request_id;
    reply->status = (Tierd__Status)r->status;
    reply->message = (char *)r->message;
    if (r->status == TD_OK) {
        reply->payload.data = r->payload;
        reply->payload.len = r->payload_len;
    }
}

size_t rpc_result_packed_size(const rpc_result *r)
{
    Tierd__Reply reply;
    rpc_reply_init(r, &reply);
    return tierd__reply__get_packed_size(&reply);
}

size_t rpc_result_pack_into(const rpc_result *r, uint8_t *buf)
{
    Tierd__Reply reply;
    rpc_reply_init(r, &reply);
    return tierd__reply__pack(&reply, buf);
}

uint8_t *rpc_result_pack(const rpc_result *r, size_t *len)
{
    size_t n = rpc_result_packed_size(r);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf)
        return NULL;
    *len = rpc_result_pack_into(r, buf);
    return buf;
}

void rpc_result_clear(rpc_result *r)
{
    free(r->payload);
    r->payload = NULL;
    r->payload_len = 0;
}

int rpc_invoke_local(tierd *d, const char *method, const ProtobufCMessage *req, const char *actor,
                     td_error *err)
{
    const rpc_method *m = rpc_method_find(method);
    if (!m || !m->handler)
        return td_error_set(err, TD_INTERNAL, "no handler for %s", method);
    rpc_call call = {.d = d, .actor = actor, .role = TD_ROLE_ADMIN, .now = tierd_now(d)};
    call.arena = rpc_arena_new();
    ProtobufCMessage *resp = NULL;
    int rc = m->handler(&call, req, &resp, err);
    rpc_arena_free(call.arena);
    if (m->mutates) {
        td_error ferr = {0};
        int frc = state_flush(d, &ferr);
        if (frc && rc == 0) {
            *err = ferr;
            rc = frc;
        }
    }
    return rc;
}
