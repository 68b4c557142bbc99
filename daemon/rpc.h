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

#include <protobuf-c/protobuf-c.h>

#include "engine/td_time.h"
#include "tierd/status.h"

typedef struct tierd tierd;

typedef enum td_role {
    TD_ROLE_NONE = 0,
    TD_ROLE_READ = 1,
    TD_ROLE_WRITE = 2, /* ingest, partners */
    TD_ROLE_ADMIN = 3, /* programs, overrides, approvals, clock */
} td_role;

typedef struct rpc_arena rpc_arena;

typedef struct rpc_call {
    tierd *d;
    const char *actor; /* the token's name; "ipc" for the tokenless ipc socket */
    td_role role;
    td_time now; /* the daemon clock when the request was taken */
    rpc_arena *arena;
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

/* Arena allocation for responses; never returns NULL (aborts on OOM, as the
 * daemon cannot answer without memory anyway). */
void *rpc_alloc(rpc_call *call, size_t size);
char *rpc_strdup(rpc_call *call, const char *s); /* NULL -> "" */
rpc_arena *rpc_arena_new(void);
void rpc_arena_free(rpc_arena *a);

#endif
