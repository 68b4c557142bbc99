/* The RPC core: the one method table, the per-call arena, and the path from
 * request bytes to reply bytes that every transport shares.
 *
 * rpc_execute takes one request whole: Envelope decode, method lookup,
 * token check, role check, payload decode, handler, response pack. Each
 * step that fails becomes a Reply status with a message saying which step
 * and why, so a hostile or broken client always learns what was wrong and
 * the daemon never trusts a byte it has not checked. It does not touch
 * sockets or commit anything: the server decides when replies leave (after
 * the turn's commit) and replaces mutating replies when the commit fails. */
#include "rpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors.h"
#include "daemon.h"
#include "handlers.h"
#include "state.h"
#include "tierd.pb-c.h"

#define RPC_ARENA_BLOCK (16u * 1024u)
#define RPC_ARENA_ALIGN 16u
#define RPC_MAX_METHOD  64

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

/* ---- arena ---------------------------------------------------------------- */

typedef struct rpc_block {
    struct rpc_block *next;
    size_t used, size;
    _Alignas(RPC_ARENA_ALIGN) unsigned char data[];
} rpc_block;

struct rpc_arena {
    rpc_block *head;
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
 * long as the call, and frees are no-ops. */
static void *rpc_pb_alloc(void *ud, size_t size)
{
    return rpc_alloc(ud, size);
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

int rpc_authenticate(const rpc_token *tokens, size_t n, const char *token, const char **actor,
                     td_role *role, td_error *err)
{
    if (n == 0) {
        *actor = RPC_ACTOR_IPC;
        *role = TD_ROLE_ADMIN;
        return 0;
    }
    if (!token || !*token)
        return td_error_set(err, TD_PERMISSION_DENIED, "missing token");
    size_t len = strlen(token);
    const rpc_token *match = NULL;
    /* Every token is compared, so the time does not say which one matched. */
    for (size_t i = 0; i < n; i++)
        if (rpc_secret_equal(tokens[i].secret, token, len) && !match)
            match = &tokens[i];
    if (!match)
        return td_error_set(err, TD_PERMISSION_DENIED, "unknown token");
    *actor = match->name;
    *role = match->role;
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
    if (n > RPC_MAX_METHOD)
        return "(overlong name)";
    for (size_t i = 0; i < n; i++)
        if (name[i] < 0x20 || name[i] > 0x7e)
            return "(not printable)";
    return name;
}

static int rpc_run(tierd *d, const rpc_method *m, const char *actor, td_role role,
                   const Tierd__Envelope *env, rpc_arena *scratch, rpc_result *out, td_error *err)
{
    rpc_call call = {.d = d, .actor = actor, .role = role, .now = tierd_now(d)};
    call.arena = scratch ? scratch : rpc_arena_new();
    ProtobufCAllocator alloc = {rpc_pb_alloc, rpc_pb_free, &call};
    ProtobufCMessage *req =
        protobuf_c_message_unpack(m->request, &alloc, env->payload.len, env->payload.data);
    int rc;
    if (!req) {
        rc = td_error_set(err, TD_INVALID_ARGUMENT, "payload does not decode as %s",
                          m->request->name);
        goto done;
    }
    ProtobufCMessage *resp = NULL;
    rc = m->handler(&call, req, &resp, err);
    if (m->mutates)
        out->mutates = true;
    if (rc)
        goto done;
    if (!resp) {
        rc = td_error_set(err, TD_INTERNAL, "%s produced no response", m->name);
        goto done;
    }
    size_t len = protobuf_c_message_get_packed_size(resp);
    out->payload = malloc(len ? len : 1);
    if (!out->payload) {
        rc = td_error_set(err, TD_RESOURCE_EXHAUSTED, "out of memory packing %zu bytes", len);
        goto done;
    }
    out->payload_len = protobuf_c_message_pack(resp, out->payload);
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
    td_error err = {0};
    Tierd__Envelope *env = tierd__envelope__unpack(NULL, len, buf);
    if (!env) {
        td_error_set(&err, TD_INVALID_ARGUMENT,
                     "request is not a valid Envelope: %zu bytes do not decode as tierd.Envelope",
                     len);
        rpc_refuse(out, &err);
        return;
    }
    out->request_id = env->request_id;
    const rpc_method *m = rpc_method_find(env->method);
    const char *actor = NULL;
    td_role role = TD_ROLE_NONE;
    if (!m) {
        td_error_set(&err, TD_INVALID_ARGUMENT, "unknown method '%s'",
                     rpc_method_quote(env->method));
    } else if (rpc_authenticate(tokens, n_tokens, env->token, &actor, &role, &err) == 0) {
        if (role < m->role)
            td_error_set(&err, TD_PERMISSION_DENIED, "token lacks role %s for %s",
                         rpc_role_name(m->role), m->name);
        else
            rpc_run(d, m, actor, role, env, scratch, out, &err);
    }
    if (err.code != TD_OK)
        rpc_refuse(out, &err);
    tierd__envelope__free_unpacked(env, NULL);
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
