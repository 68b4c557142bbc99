/* The RPC handlers the method table in rpc.c points at: one prototype per
 * TierService method that has an implementation. Each takes the call (daemon,
 * actor, role, clock, arena), the decoded request message, and on success
 * sets *resp to a response allocated from the call's arena and returns 0; on
 * failure it fills err and returns -(int)err->code.
 *
 * Lifecycle methods (SetOverride, ClearOverride, ListPending, Approve, Deny)
 * have no handler yet; their table rows carry NULL and the server answers
 * UNIMPLEMENTED. GetCursor is declared in connectors.h. */
#ifndef TD_HANDLERS_H
#define TD_HANDLERS_H

#include <protobuf-c/protobuf-c.h>

#include "rpc.h"
#include "tierd/status.h"

#define TD_HANDLER(name)                                                                           \
    int handle_##name(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,        \
                      td_error *err)

TD_HANDLER(status);
TD_HANDLER(clock);
TD_HANDLER(put_program);
TD_HANDLER(get_program);
TD_HANDLER(upsert_partners);
TD_HANDLER(get_partner);
TD_HANDLER(list_partners);
TD_HANDLER(delete_partner);
TD_HANDLER(ingest);
TD_HANDLER(get_tiers);
TD_HANDLER(explain);
TD_HANDLER(history);
TD_HANDLER(list_changes);
TD_HANDLER(stats);

#undef TD_HANDLER

#endif
