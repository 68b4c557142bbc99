/* libtierd-client: talk to tierd over nanomsg REQ/REP (docs/rpc.md).
 *
 * A client holds one REQ socket connected to one URL. Every call has a
 * deadline: a daemon that is not there or does not answer yields
 * TD_UNAVAILABLE within the client's timeout, never a hang. Responses are
 * protobuf-c messages the caller frees with protobuf_c_message_free_unpacked
 * (or the typed *_free_unpacked). */
#ifndef TIERD_CLIENT_H
#define TIERD_CLIENT_H

#include <stdbool.h>
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
/* The longest wait_ms tierd honours (more counts as this). */
#define TD_CHANGES_MAX_WAIT_MS 30000u
/* ListChanges as a long-poll: when nothing after since is there yet, tierd
 * holds the answer until a change commits or wait_ms pass (then it may be
 * empty). The call's deadline is the client's timeout plus wait_ms; a
 * daemon older than wait_ms answers at once. */
int td_client_list_changes_wait(td_client *c, uint64_t since, uint32_t limit, uint32_t wait_ms,
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
int td_client_get_benefits(td_client *c, const char *const *ids, size_t n,
                           Tierd__GetBenefitsResponse **out, td_error *err);
int td_client_list_benefit_holders(td_client *c, const Tierd__ListBenefitHoldersRequest *req,
                                   Tierd__ListBenefitHoldersResponse **out, td_error *err);
/* What-if (docs/rpc.md, "What-if"): read only. A page of rows at a time;
 * pass the response's `next` as page.after for the next one. */
int td_client_simulate(td_client *c, const Tierd__SimulateRequest *req,
                       Tierd__SimulateResponse **out, td_error *err);
int td_client_audit(td_client *c, const Tierd__AuditRequest *req, Tierd__AuditResponse **out,
                    td_error *err);
int td_client_calibrate(td_client *c, const Tierd__CalibrateRequest *req,
                        Tierd__CalibrateResponse **out, td_error *err);
/* Tier counts per ladder broken down by the value of one partner attribute. */
int td_client_stats_by(td_client *c, const Tierd__StatsByRequest *req, Tierd__StatsByResponse **out,
                       td_error *err);

/* KPI history (docs/kpi.md): the report over stored snapshots; read only. */
int td_client_kpi(td_client *c, const Tierd__KpiRequest *req, Tierd__KpiResponse **out,
                  td_error *err);

/* The daemon's metrics as Prometheus text (docs/metrics.md); read only. */
int td_client_metrics(td_client *c, Tierd__MetricsResponse **out, td_error *err);

/* The URL the client is connected to (after defaults were applied). */
const char *td_client_url(const td_client *c);

/* ---- subscriptions (docs/rpc.md, "Changes and subscriptions") ----------------------
 *
 * A subscription follows tierd's change log through its PUB socket
 * (message = "change/<ladder>/<partner>", '\n', packed TierChange) and
 * fills every gap from ListChanges, or, where no PUB socket serves it
 * (TCP with tokens), by ListChanges long-polls alone, so the caller sees each change after
 * its starting point exactly once and in sequence order, whether PUB
 * dropped messages, a ladder/partner filter hides others' changes, or the
 * daemon restarted in between. It borrows an open td_client for the
 * ListChanges and Status calls; keep that client open until td_sub_close.
 * Like a client, a subscription is for one thread at a time. */

#define TD_TCP_RPC_PORT             ":7450"
#define TD_TCP_PUB_PORT             ":7451"
#define TD_PUB_URL_MAX              1024
#define TD_SUB_FROM_NOW             UINT64_MAX /* `since`: only changes made after the open */
#define TD_SUB_DEFAULT_IDLE_POLL_MS 1000

/* The PUB URL that goes with an RPC URL: ".../rpc.sock" -> ".../pub.sock",
 * "tcp://HOST:7450" -> "tcp://HOST:7451". Returns 0, or -TD_INVALID_ARGUMENT
 * when rpc_url is neither or the result does not fit in n bytes. */
int td_client_pub_url(const char *rpc_url, char *out, size_t n, td_error *err);

typedef struct td_sub td_sub;

/* How a subscription hears of new changes. */
typedef enum td_sub_follow {
    /* PUB when pub_url is given, or when tierd's Status lists a publish
     * endpoint at the URL derived from the client's; the log otherwise (a
     * TCP URL with a token, where tierd publishes no feed). */
    TD_SUB_FOLLOW_AUTO = 0,
    TD_SUB_FOLLOW_PUB, /* the PUB socket, the log filling its gaps */
    TD_SUB_FOLLOW_LOG, /* ListChanges long-polls alone; no PUB socket */
} td_sub_follow;

typedef struct td_sub_options {
    const char *pub_url; /* NULL: td_client_pub_url of the client's URL */
    const char *ladder;  /* NULL or "": every ladder */
    const char *partner; /* NULL or "": every partner */
    uint64_t since;      /* deliver changes with sequence > since; TD_SUB_FROM_NOW */
    int idle_poll_ms;    /* <= 0: TD_SUB_DEFAULT_IDLE_POLL_MS; how long a quiet
                            subscription waits before reading the log's tail */
    int rcvbuf_bytes;    /* <= 0: nanomsg's default receive buffer */
    td_sub_follow follow;
} td_sub_options;

/* What a subscription has done so far; for logs, tests and tools. */
typedef struct td_sub_info {
    uint64_t live;        /* changes delivered straight from the PUB socket */
    uint64_t from_log;    /* changes delivered from ListChanges */
    uint64_t gaps;        /* PUB messages that showed a sequence gap */
    uint64_t malformed;   /* PUB messages that were not a well-formed change */
    uint64_t log_reads;   /* ListChanges calls */
    uint64_t resume_from; /* reopen with since = this to miss nothing and repeat nothing */
    bool unreachable;     /* the last ListChanges call did not reach tierd */
    bool connected;       /* the SUB socket is connected to the publisher now
                             (following the log: the last read reached tierd) */
    bool by_log;          /* follows by ListChanges long-polls, without PUB */
} td_sub_info;

/* Subscribes, then talks to tierd once so that an unreachable daemon fails
 * here: Status for TD_SUB_FROM_NOW, else the first ListChanges page. */
int td_sub_open_opts(td_client *rpc, const td_sub_options *opts, td_sub **out, td_error *err);
/* td_sub_open_opts with the default idle poll and receive buffer. */
int td_sub_open(td_client *rpc, const char *pub_url, const char *ladder, const char *partner,
                uint64_t since, td_sub **out, td_error *err);

/* The next matching change in sequence order, each exactly once. Waits up
 * to timeout_ms (< 0: no limit; 0: only what is already there) and returns
 * 0 with *change (free it with tierd__tier_change__free_unpacked),
 * -TD_DEADLINE_EXCEEDED when nothing arrived, -TD_CANCELLED when a signal
 * interrupted the wait, or another negative td_code. A ListChanges call
 * that fails (-TD_UNAVAILABLE while tierd restarts) leaves the
 * subscription usable: a later call retries after the idle poll interval,
 * or at once when a PUB message shows tierd is back. One call may overrun
 * timeout_ms by at most one ListChanges round trip (the client's timeout).
 * Following the log, the wait is a ListChanges long-poll of what is left
 * of timeout_ms (at most TD_CHANGES_MAX_WAIT_MS per call to tierd). */
int td_sub_next(td_sub *s, int timeout_ms, Tierd__TierChange **change, td_error *err);
void td_sub_get_info(const td_sub *s, td_sub_info *info);
/* Closes the SUB socket and frees undelivered changes; not the client. */
void td_sub_close(td_sub *s);

#endif
