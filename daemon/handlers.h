/* The RPC handlers the method table in rpc.c points at: one prototype per
 * TierService method that has an implementation. Each takes the call (daemon,
 * actor, role, clock, arena), the decoded request message, and on success
 * sets *resp to a response allocated from the call's arena and returns 0; on
 * failure it fills err and returns -(int)err->code.
 *
 * The lifecycle methods (SetOverride, ClearOverride, ListPending, Approve,
 * Deny) live in handlers_lifecycle.c. GetCursor is declared in
 * connectors.h. */
#ifndef TD_HANDLERS_H
#define TD_HANDLERS_H

#include <protobuf-c/protobuf-c.h>

#include "rpc.h"
#include "tierd/status.h"

int handle_status(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                  td_error *err);
int handle_clock(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                 td_error *err);
int handle_put_program(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                       td_error *err);
int handle_get_program(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                       td_error *err);
int handle_upsert_partners(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                           td_error *err);
int handle_get_partner(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                       td_error *err);
int handle_list_partners(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                         td_error *err);
int handle_delete_partner(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                          td_error *err);
int handle_ingest(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                  td_error *err);
int handle_get_tiers(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                     td_error *err);
int handle_explain(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                   td_error *err);
int handle_history(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                   td_error *err);
int handle_list_changes(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                        td_error *err);
int handle_stats(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                 td_error *err);
int handle_set_override(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                        td_error *err);
int handle_clear_override(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                          td_error *err);
int handle_list_pending(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                        td_error *err);
int handle_approve(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                   td_error *err);
int handle_deny(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                td_error *err);

#endif
