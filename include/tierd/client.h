/* libtierd-client: talk to tierd over nanomsg REQ/REP (DESIGN.md §6).
 *
 * A client holds one REQ socket connected to one URL. Every call has a
 * deadline: a daemon that is not there or does not answer yields
 * TD_UNAVAILABLE within the client's timeout, never a hang. Responses are
 * protobuf-c messages the caller frees with protobuf_c_message_free_unpacked
 * (or the typed *_free_unpacked). */
#ifndef TIERD_CLIENT_H
#define TIERD_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "tierd.pb-c.h"
#include "tierd/status.h"

#define TD_CLIENT_DEFAULT_TIMEOUT_MS 2000
#define TD_CLIENT_URL_ENV            "TIERD_URL"
#define TD_CLIENT_TOKEN_ENV          "TIERD_TOKEN"
#define TD_DEFAULT_STATE_DIR         "/var/lib/tierd"
#define TD_RPC_SOCKET_NAME           "rpc.sock"
#define TD_PUB_SOCKET_NAME           "pub.sock"

typedef struct td_client td_client;

/* Connects to url (NULL: $TIERD_URL, else ipc://TD_DEFAULT_STATE_DIR/rpc.sock)
 * with token (NULL: $TIERD_TOKEN, else none). timeout_ms <= 0 takes the
 * default. Connecting is lazy in nanomsg; reachability shows on first call. */
int td_client_open(const char *url, const char *token, int timeout_ms, td_client **out,
                   td_error *err);
void td_client_close(td_client *c);

/* Sends method with req (NULL = empty payload) and waits for the reply.
 * Returns 0 and *resp (decoded with resp_desc; may be NULL when resp_desc is
 * NULL) when the daemon answers OK; otherwise a negative td_code with the
 * daemon's message (or the transport's) in err. */
int td_client_call(td_client *c, const char *method, const ProtobufCMessage *req,
                   const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
                   td_error *err);

/* Typed wrappers: same contract as td_client_call. */
int td_client_status(td_client *c, Tierd__StatusResponse **out, td_error *err);
int td_client_put_program(td_client *c, const Tierd__PutProgramRequest *req,
                          Tierd__PutProgramResponse **out, td_error *err);
int td_client_get_program(td_client *c, Tierd__GetProgramResponse **out, td_error *err);
int td_client_upsert_partners(td_client *c, const Tierd__UpsertPartnersRequest *req,
                              Tierd__UpsertPartnersResponse **out, td_error *err);
int td_client_get_partner(td_client *c, const char *id, Tierd__PartnerInfo **out, td_error *err);
int td_client_list_partners(td_client *c, const Tierd__ListPartnersRequest *req,
                            Tierd__ListPartnersResponse **out, td_error *err);
int td_client_delete_partner(td_client *c, const char *id, Tierd__DeletePartnerResponse **out,
                             td_error *err);
int td_client_ingest(td_client *c, const Tierd__IngestRequest *req, Tierd__IngestResponse **out,
                     td_error *err);
int td_client_get_tiers(td_client *c, const char *const *ids, size_t n,
                        Tierd__GetTiersResponse **out, td_error *err);
int td_client_explain(td_client *c, const Tierd__ExplainRequest *req, Tierd__ExplainResponse **out,
                      td_error *err);
int td_client_history(td_client *c, const Tierd__HistoryRequest *req, Tierd__ChangesResponse **out,
                      td_error *err);
int td_client_list_changes(td_client *c, uint64_t since, uint32_t limit,
                           Tierd__ChangesResponse **out, td_error *err);
int td_client_stats(td_client *c, Tierd__StatsResponse **out, td_error *err);
int td_client_clock(td_client *c, const char *advance, Tierd__ClockResponse **out, td_error *err);

int td_client_set_override(td_client *c, const Tierd__SetOverrideRequest *req,
                           Tierd__TierState **out, td_error *err);
int td_client_clear_override(td_client *c, const char *partner, const char *ladder,
                             Tierd__TierState **out, td_error *err);
int td_client_list_pending(td_client *c, Tierd__ListPendingResponse **out, td_error *err);
int td_client_approve(td_client *c, const Tierd__DecisionRequest *req, Tierd__TierState **out,
                      td_error *err);
int td_client_deny(td_client *c, const Tierd__DecisionRequest *req, Tierd__TierState **out,
                   td_error *err);
int td_client_get_cursor(td_client *c, const char *connector, Tierd__CursorResponse **out,
                         td_error *err);

/* The URL the client is connected to (after defaults were applied). */
const char *td_client_url(const td_client *c);

#endif
