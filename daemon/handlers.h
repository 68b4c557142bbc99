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

#include "engine/program.h"
#include "rpc.h"
#include "store.h"
#include "tierd/status.h"

int handle_status(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                  td_error *err);
/* The approval queue's length (ListPending's count), recounted only when
 * the engine says it may have moved: cheap enough for every Status and
 * every metrics scrape. */
uint64_t status_pending_count(tierd *d);
/* Metrics (handlers_metrics.c): Prometheus text, docs/metrics.md. */
int handle_metrics(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                   td_error *err);
int handle_clock(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                 td_error *err);
int handle_put_program(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                       td_error *err);
int handle_get_program(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                       td_error *err);
/* A program from a request's text (handlers_program.c): at most
 * TD_MAX_PROGRAM_BYTES, a sane filename ("" for the default), and on a
 * parse failure TD_INVALID_ARGUMENT whose message lists the file:line:column
 * diagnostics one a line. */
int program_from_request(const char *yaml, const char *filename, program **out, td_error *err);

/* ---- what-if (handlers_whatif.c): Simulate, Audit, Calibrate; read only ---- */
int handle_simulate(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                    td_error *err);
int handle_audit(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                 td_error *err);
int handle_calibrate(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
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
int handle_stats_by(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
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

/* ---- benefits (handlers_benefits.c) ---- */
int handle_get_benefits(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                        td_error *err);
int handle_list_benefit_holders(rpc_call *call, const ProtobufCMessage *req,
                                ProtobufCMessage **resp, td_error *err);

/* ---- KPI history (handlers_kpi.c): Kpi, read only (docs/kpi.md) ---- */
int handle_kpi(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp, td_error *err);

/* ---- export (handlers_export.c): Export, read only ---- */
int handle_export(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                  td_error *err);
/* ---- webhooks (handlers_webhooks.c; docs/webhooks.md) ---- */
int handle_list_deliveries(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                           td_error *err);
int handle_resend_deliveries(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                             td_error *err);

/* ---- connector cursors (handlers_cursor.c) ---- */

/* GetCursor: the connector's committed cursor ("" when none). */
int handle_get_cursor(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                      td_error *err);

/* SinkAck (write, mutating): a sink connector's host stores the last
 * change sequence its plugin applied as the connector's cursor, with the
 * count of changes delivered. Refused for a connector not configured as a
 * sink, a sequence past the last committed change, or one below the ack
 * already stored (the same one again is fine: at-least-once). */
int handle_sink_ack(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                    td_error *err);

/* For the UpsertPartners and Ingest handlers: when connector is non-empty,
 * checks it and the cursor and writes the cursor in the turn's transaction
 * (state_put_cursor), so it commits or rolls back with the
 * batch. Call it before applying the batch's items and refuse the whole
 * request when it fails (the items would otherwise land without their
 * cursor). An empty cursor leaves the stored one as it is. */
int cursor_commit_with_batch(rpc_call *call, const char *connector, const char *cursor,
                             td_error *err);

/* For the Ingest handler, after its items: adds the batch's accepted events
 * to the connector's count in the store, in the turn's transaction, so the
 * count moves only if the batch commits. A no-op without a connector. On a
 * store error it poisons the turn (state_fail) and returns the code. */
int cursor_count_accepted(rpc_call *call, const char *connector, uint64_t accepted, td_error *err);

/* The connector's committed event count (0 when none). */
int cursor_committed_events(store *s, const char *connector, uint64_t *out, td_error *err);

#endif
