/* The RPC method table: one row per TierService method, naming the role it
 * needs, whether it mutates state (and so waits for the turn's commit), the
 * protobuf descriptors of its request and response, and its handler.
 *
 * Handlers allocate their response (and anything it points to) from the
 * call's arena with rpc_alloc/rpc_strdup; the server packs the response and
 * then frees the arena, so handlers never free what they return. */
#ifndef TD_RPC_H
#define TD_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "td_time.h"
#include "tierd/status.h"

typedef struct tierd tierd;

typedef enum td_role {
    TD_ROLE_NONE = 0,
    TD_ROLE_READ = 1,
    TD_ROLE_WRITE = 2, /* ingest, partners */
    TD_ROLE_ADMIN = 3, /* programs, overrides, approvals, clock */
} td_role;

typedef struct rpc_arena rpc_arena;

/* The longest a ListChanges may wait for a change (its wait_ms is cut to
 * this): short enough that a client's REQ socket never resends it (nanomsg
 * resends after 60 s) and that a follower notices a dead connection. */
#define RPC_CHANGES_MAX_WAIT_MS 30000u

/* A ListChanges that found nothing after `since` and asked to wait: the
 * server holds its reply and runs it again (rpc_execute_wait) once a
 * change is committed, ms pass, or it closes. ms == 0: answer now. */
typedef struct rpc_wait {
    uint32_t ms;
    uint32_t limit;
    uint64_t since;
} rpc_wait;

typedef struct rpc_call {
    tierd *d;
    const char *actor; /* the token's name; "ipc" for the tokenless ipc socket */
    td_role role;
    td_time now; /* the daemon clock when the request was taken */
    rpc_arena *arena;
    bool may_wait; /* the caller can hold the reply: a handler may set wait */
    rpc_wait wait;
} rpc_call;

typedef int (*rpc_handler_fn)(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                              td_error *err);

typedef struct rpc_method {
    const char *name;
    td_role role;
    bool mutates;
    const ProtobufCMessageDescriptor *request;
    const ProtobufCMessageDescriptor *response;
    rpc_handler_fn handler;
} rpc_method;

/* The row for name, or NULL for an unknown method. */
const rpc_method *rpc_method_find(const char *name);
/* The table's rows by index, 0 .. rpc_method_count() - 1 (NULL past it):
 * what per-method counters are indexed by (rpc_result.method). */
size_t rpc_method_count(void);
const rpc_method *rpc_method_at(size_t i);

/* Arena allocation for responses; never returns NULL (aborts on OOM, as the
 * daemon cannot answer without memory anyway). */
void *rpc_alloc(rpc_call *call, size_t size);
char *rpc_strdup(rpc_call *call, const char *s); /* NULL -> "" */
rpc_arena *rpc_arena_new(void);
void rpc_arena_free(rpc_arena *a);
/* Forgets everything allocated, keeping one block for the next call, so a
 * server reusing one arena does no allocation for small requests. */
void rpc_arena_reset(rpc_arena *a);

/* A configured bearer token. Secrets are compared in constant time. */
typedef struct rpc_token {
    char *name; /* the actor recorded for its requests */
    char *secret;
    td_role role;
} rpc_token;

#define RPC_ACTOR_IPC "ipc"

/* "read", "write", "admin" -> role; false for anything else. */
bool rpc_role_parse(const char *s, td_role *out);
const char *rpc_role_name(td_role role);

/* Who is calling: with no tokens configured everyone is admin with actor
 * "ipc" (only the ipc socket is open then); otherwise the token's len bytes
 * must match one of tokens exactly (a NUL byte among them never does).
 * Sets *actor (pointing into tokens) and *role. */
int rpc_authenticate_bytes(const rpc_token *tokens, size_t n, const uint8_t *token, size_t len,
                           const char **actor, td_role *role, td_error *err);
/* The same for a C string token. */
int rpc_authenticate(const rpc_token *tokens, size_t n, const char *token, const char **actor,
                     td_role *role, td_error *err);

/* Bytes inside a buffer someone else owns. */
typedef struct rpc_bytes {
    const uint8_t *data;
    size_t len;
} rpc_bytes;

/* An Envelope read in place: its fields point into the request buffer. */
typedef struct rpc_envelope {
    rpc_bytes method, token, payload;
    uint64_t request_id;
} rpc_envelope;

/* Reads tierd.Envelope's four fields without allocating: unknown fields
 * are skipped, strings keep their wire length (NULs included). Returns 0,
 * or INVALID_ARGUMENT saying what is wrong at which byte. */
int rpc_envelope_read(const uint8_t *buf, size_t len, rpc_envelope *out, td_error *err);

/* One request taken whole: what the server sends back and whether it waits
 * for the turn's commit. payload is malloc'd (NULL when empty). */
typedef struct rpc_result {
    uint64_t request_id;
    int method; /* rpc_method_at index; -1 when refused before the method was known */
    td_code status;
    char message[TD_ERROR_MAX];
    uint8_t *payload;
    size_t payload_len;
    bool mutates;  /* a mutating method's handler ran */
    rpc_wait wait; /* ms > 0: the answer may wait (payload holds the answer for now) */
} rpc_result;

/* Reads the Envelope in place, finds the method, authenticates, checks the
 * role, and only then decodes the payload (within a memory budget: a
 * payload that needs more is RESOURCE_EXHAUSTED), runs the handler and
 * packs its response. Never fails: every problem becomes out->status and
 * out->message. */
void rpc_execute(tierd *d, const rpc_token *tokens, size_t n_tokens, const uint8_t *buf, size_t len,
                 rpc_arena *scratch, rpc_result *out);
/* Runs a held ListChanges again, without waiting, as request_id. */
void rpc_execute_wait(tierd *d, const rpc_wait *w, uint64_t request_id, rpc_arena *scratch,
                      rpc_result *out);
/* Packs out as a Reply into a malloc'd buffer; NULL on OOM. */
uint8_t *rpc_result_pack(const rpc_result *r, size_t *len);
/* The same into a caller's buffer of rpc_result_packed_size bytes (the
 * server packs straight into a nanomsg message, saving a copy). */
size_t rpc_result_packed_size(const rpc_result *r);
size_t rpc_result_pack_into(const rpc_result *r, uint8_t *buf);
void rpc_result_clear(rpc_result *r);

/* Runs method in-process as `actor` with admin role (the --program load
 * and SIGHUP reload), committing the turn when the method mutates. */
int rpc_invoke_local(tierd *d, const char *method, const ProtobufCMessage *req, const char *actor,
                     td_error *err);

#endif
