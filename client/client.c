/* libtierd-client: one nanomsg REQ socket, one request at a time.
 *
 * Owns the wire side of a call: wrapping a request in an Envelope, waiting
 * for the Reply with a deadline, matching request ids and turning a Reply's
 * status into a td_error with the daemon's message and code. It promises
 * that every call ends within the client's timeout: a daemon that is absent
 * or silent yields TD_UNAVAILABLE, never a hang. It does not retry refused
 * requests, interpret payloads or keep any state between calls beyond the
 * request id counter. */
#include "tierd/client.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <time.h>

#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>

/* Reconnecting quickly matters more than sparing a loopback peer: a daemon
 * that restarts should be reachable again on the next call. */
#define CLIENT_RECONNECT_IVL_MS     100
#define CLIENT_RECONNECT_IVL_MAX_MS 1000
#define CLIENT_IPC_PREFIX           "ipc://"
#define CLIENT_MAX_URL              1024

struct td_client {
    int sock;
    int timeout_ms;
    uint64_t next_id;
    char *url;
    char *token;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

int td_client_open(const char *url, const char *token, int timeout_ms, td_client **out,
                   td_error *err)
{
    *out = NULL;
    if (!url || !*url)
        url = getenv(TD_CLIENT_URL_ENV);
    if (!url || !*url)
        url = CLIENT_IPC_PREFIX TD_DEFAULT_STATE_DIR "/" TD_RPC_SOCKET_NAME;
    if (strlen(url) >= CLIENT_MAX_URL)
        return td_error_set(err, TD_INVALID_ARGUMENT, "url is longer than %d bytes",
                            CLIENT_MAX_URL - 1);
    if (!token)
        token = getenv(TD_CLIENT_TOKEN_ENV);

    td_client *c = calloc(1, sizeof *c);
    if (!c)
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "out of memory opening a client");
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : TD_CLIENT_DEFAULT_TIMEOUT_MS;
    c->next_id = 1;
    c->url = strdup(url);
    c->token = dup_or_null(token);
    c->sock = nn_socket(AF_SP, NN_REQ);
    if (!c->url || (token && !c->token) || c->sock < 0) {
        int e = errno;
        td_client_close(c);
        return td_error_set(err, TD_INTERNAL, "cannot create a request socket: %s", nn_strerror(e));
    }
    int ivl = CLIENT_RECONNECT_IVL_MS, ivl_max = CLIENT_RECONNECT_IVL_MAX_MS;
    int unlimited = -1, never = INT_MAX;
    /* Replies listing many partners can be large; the daemon bounds them. */
    if (nn_setsockopt(c->sock, NN_SOL_SOCKET, NN_RECONNECT_IVL, &ivl, sizeof ivl) < 0 ||
        nn_setsockopt(c->sock, NN_SOL_SOCKET, NN_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max) < 0 ||
        nn_setsockopt(c->sock, NN_SOL_SOCKET, NN_RCVMAXSIZE, &unlimited, sizeof unlimited) < 0 ||
        nn_setsockopt(c->sock, NN_SOL_SOCKET, NN_SNDTIMEO, &c->timeout_ms, sizeof(int)) < 0 ||
        /* nanomsg resends an unanswered request after 60 s by default; a
         * call that waits longer (--timeout, long-polls) would then apply a
         * mutation twice. Each call has its own deadline instead. */
        nn_setsockopt(c->sock, NN_REQ, NN_REQ_RESEND_IVL, &never, sizeof never) < 0) {
        int e = errno;
        td_client_close(c);
        return td_error_set(err, TD_INTERNAL, "cannot configure the request socket: %s",
                            nn_strerror(e));
    }
    if (nn_connect(c->sock, c->url) < 0) {
        int e = errno;
        td_error_set(err, TD_INVALID_ARGUMENT, "cannot use url '%s': %s", c->url, nn_strerror(e));
        td_client_close(c);
        return -(int)TD_INVALID_ARGUMENT;
    }
    *out = c;
    return 0;
}

void td_client_close(td_client *c)
{
    if (!c)
        return;
    if (c->sock >= 0)
        nn_close(c->sock);
    free(c->url);
    free(c->token);
    free(c);
}

/* nanomsg connects in the background and keeps retrying, so a missing
 * socket file, one a killed tierd left behind or one the user may not open
 * would each cost the whole timeout and end in the same "is it running?".
 * While the client has no connection, a plain connect() of our own tells
 * them apart at once; a live daemon just sees a connection open and close. */
static int check_ipc_path(const td_client *c, td_error *err)
{
    size_t plen = strlen(CLIENT_IPC_PREFIX);
    if (strncmp(c->url, CLIENT_IPC_PREFIX, plen) != 0)
        return 0;
    if (nn_get_statistic(c->sock, NN_STAT_CURRENT_CONNECTIONS) > 0)
        return 0;
    const char *path = c->url + plen;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path)
        return 0; /* nanomsg refuses such a path itself */
    memcpy(addr.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    int rc = connect(fd, (struct sockaddr *)&addr, sizeof addr);
    int e = rc == 0 ? 0 : errno;
    close(fd);
    switch (e) {
    case ENOENT:
        return td_error_set(err, TD_UNAVAILABLE, "no tierd at %s: %s does not exist", c->url, path);
    case ECONNREFUSED:
        return td_error_set(err, TD_UNAVAILABLE,
                            "no tierd is listening at %s (a stale socket file, left by a tierd "
                            "that did not stop cleanly?)",
                            c->url);
    case EACCES:
    case EPERM:
        return td_error_set(err, TD_UNAVAILABLE,
                            "permission denied opening %s (run as root or as a member of the "
                            "socket's group)",
                            path);
    case ENOTDIR:
        return td_error_set(err, TD_UNAVAILABLE, "no tierd at %s: %s", c->url, strerror(e));
    default:
        /* connected, busy (EAGAIN) or something nanomsg will report */
        return 0;
    }
}

static int unavailable(const td_client *c, int extra_ms, td_error *err)
{
    return td_error_set(err, TD_UNAVAILABLE,
                        "tierd at %s did not answer within %d ms (is it running?)", c->url,
                        c->timeout_ms + extra_ms);
}

static int send_envelope(td_client *c, const char *method, const ProtobufCMessage *req, uint64_t id,
                         td_error *err)
{
    Tierd__Envelope env = TIERD__ENVELOPE__INIT;
    env.method = (char *)method;
    env.request_id = id;
    env.token = c->token ? c->token : "";
    uint8_t *payload = NULL;
    if (req) {
        size_t plen = protobuf_c_message_get_packed_size(req);
        payload = malloc(plen ? plen : 1);
        if (!payload)
            return td_error_set(err, TD_RESOURCE_EXHAUSTED, "out of memory packing %s", method);
        env.payload.len = protobuf_c_message_pack(req, payload);
        env.payload.data = payload;
    }
    size_t len = tierd__envelope__get_packed_size(&env);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) {
        free(payload);
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "out of memory packing %s", method);
    }
    tierd__envelope__pack(&env, buf);
    free(payload);

    int64_t deadline = now_ms() + c->timeout_ms;
    for (;;) {
        int rc = nn_send(c->sock, buf, len, 0);
        if (rc >= 0)
            break;
        int e = errno;
        if (e == EINTR && now_ms() < deadline)
            continue;
        free(buf);
        if (e == ETIMEDOUT || e == EAGAIN || e == EINTR)
            return unavailable(c, 0, err);
        return td_error_set(err, TD_UNAVAILABLE, "cannot send %s to tierd at %s: %s", method,
                            c->url, nn_strerror(e));
    }
    free(buf);
    return 0;
}

/* Waits for the Reply to request id. A reply to an older request (one we
 * gave up on) is dropped and the wait goes on until the deadline. */
static int recv_reply(td_client *c, const char *method, uint64_t id, int64_t deadline, int extra_ms,
                      Tierd__Reply **out, td_error *err)
{
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return unavailable(c, extra_ms, err);
        int tmo = (int)left;
        nn_setsockopt(c->sock, NN_SOL_SOCKET, NN_RCVTIMEO, &tmo, sizeof tmo);
        void *msg = NULL;
        int n = nn_recv(c->sock, &msg, NN_MSG, 0);
        if (n < 0) {
            int e = errno;
            if (e == EINTR)
                continue;
            if (e == ETIMEDOUT || e == EAGAIN)
                return unavailable(c, extra_ms, err);
            return td_error_set(err, TD_UNAVAILABLE, "cannot receive the %s reply from %s: %s",
                                method, c->url, nn_strerror(e));
        }
        Tierd__Reply *r = tierd__reply__unpack(NULL, (size_t)n, msg);
        nn_freemsg(msg);
        if (!r)
            return td_error_set(err, TD_INTERNAL,
                                "tierd at %s sent a malformed reply to %s (%d bytes)", c->url,
                                method, n);
        if (r->request_id != id) {
            tierd__reply__free_unpacked(r, NULL);
            continue;
        }
        *out = r;
        return 0;
    }
}

/* td_client_call whose reply may take extra_ms longer (a long-poll). */
static int client_call(td_client *c, const char *method, const ProtobufCMessage *req,
                       const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
                       int extra_ms, td_error *err)
{
    if (resp)
        *resp = NULL;
    if (!c || !method || !*method)
        return td_error_set(err, TD_INVALID_ARGUMENT, "td_client_call needs a client and a method");
    int rc = check_ipc_path(c, err);
    if (rc)
        return rc;
    uint64_t id = c->next_id++;
    int64_t deadline = now_ms() + c->timeout_ms + extra_ms;
    rc = send_envelope(c, method, req, id, err);
    if (rc)
        return rc;
    Tierd__Reply *r = NULL;
    rc = recv_reply(c, method, id, deadline, extra_ms, &r, err);
    if (rc)
        return rc;
    if (r->status != TIERD__STATUS__OK) {
        int st = (int)r->status;
        td_code code = (st > TD_OK && st <= TD_UNAUTHENTICATED) ? (td_code)st : TD_UNKNOWN;
        td_error_set(err, code, "%s", r->message && *r->message ? r->message : td_code_name(code));
        tierd__reply__free_unpacked(r, NULL);
        return -(int)code;
    }
    if (resp_desc && resp) {
        ProtobufCMessage *m =
            protobuf_c_message_unpack(resp_desc, NULL, r->payload.len, r->payload.data);
        if (!m) {
            td_error_set(err, TD_INTERNAL, "tierd sent a malformed %s payload for %s (%zu bytes)",
                         resp_desc->short_name, method, r->payload.len);
            tierd__reply__free_unpacked(r, NULL);
            return -(int)TD_INTERNAL;
        }
        *resp = m;
    }
    tierd__reply__free_unpacked(r, NULL);
    return 0;
}

int td_client_call(td_client *c, const char *method, const ProtobufCMessage *req,
                   const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
                   td_error *err)
{
    return client_call(c, method, req, resp_desc, resp, 0, err);
}

const char *td_client_url(const td_client *c)
{
    return c->url;
}

/* The typed wrappers: one line of glue each, so that the method name and
 * the descriptors can never disagree at a call site. */
#define CALL(c, name, req, type, out, err)                                                         \
    td_client_call((c), (name), (const ProtobufCMessage *)(req), &type##__descriptor,              \
                   (ProtobufCMessage **)(out), (err))

int td_client_status(td_client *c, Tierd__StatusResponse **out, td_error *err)
{
    Tierd__Empty e = TIERD__EMPTY__INIT;
    return CALL(c, "Status", &e, tierd__status_response, out, err);
}

int td_client_put_program(td_client *c, const Tierd__PutProgramRequest *req,
                          Tierd__PutProgramResponse **out, td_error *err)
{
    return CALL(c, "PutProgram", req, tierd__put_program_response, out, err);
}

int td_client_get_program(td_client *c, Tierd__GetProgramResponse **out, td_error *err)
{
    Tierd__Empty e = TIERD__EMPTY__INIT;
    return CALL(c, "GetProgram", &e, tierd__get_program_response, out, err);
}

int td_client_upsert_partners(td_client *c, const Tierd__UpsertPartnersRequest *req,
                              Tierd__UpsertPartnersResponse **out, td_error *err)
{
    return CALL(c, "UpsertPartners", req, tierd__upsert_partners_response, out, err);
}

int td_client_get_partner(td_client *c, const char *id, Tierd__PartnerInfo **out, td_error *err)
{
    Tierd__PartnerRequest r = TIERD__PARTNER_REQUEST__INIT;
    r.id = (char *)id;
    return CALL(c, "GetPartner", &r, tierd__partner_info, out, err);
}

int td_client_list_partners(td_client *c, const Tierd__ListPartnersRequest *req,
                            Tierd__ListPartnersResponse **out, td_error *err)
{
    return CALL(c, "ListPartners", req, tierd__list_partners_response, out, err);
}

int td_client_delete_partner(td_client *c, const char *id, Tierd__DeletePartnerResponse **out,
                             td_error *err)
{
    Tierd__PartnerRequest r = TIERD__PARTNER_REQUEST__INIT;
    r.id = (char *)id;
    return CALL(c, "DeletePartner", &r, tierd__delete_partner_response, out, err);
}

int td_client_ingest(td_client *c, const Tierd__IngestRequest *req, Tierd__IngestResponse **out,
                     td_error *err)
{
    return CALL(c, "Ingest", req, tierd__ingest_response, out, err);
}

int td_client_get_tiers(td_client *c, const char *const *ids, size_t n,
                        Tierd__GetTiersResponse **out, td_error *err)
{
    Tierd__GetTiersRequest r = TIERD__GET_TIERS_REQUEST__INIT;
    r.n_partners = n;
    r.partners = (char **)ids;
    return CALL(c, "GetTiers", &r, tierd__get_tiers_response, out, err);
}

int td_client_explain(td_client *c, const Tierd__ExplainRequest *req, Tierd__ExplainResponse **out,
                      td_error *err)
{
    return CALL(c, "Explain", req, tierd__explain_response, out, err);
}

int td_client_history(td_client *c, const Tierd__HistoryRequest *req, Tierd__ChangesResponse **out,
                      td_error *err)
{
    return CALL(c, "History", req, tierd__changes_response, out, err);
}

int td_client_list_changes(td_client *c, uint64_t since, uint32_t limit,
                           Tierd__ChangesResponse **out, td_error *err)
{
    Tierd__ListChangesRequest r = TIERD__LIST_CHANGES_REQUEST__INIT;
    r.since = since;
    r.limit = limit;
    return CALL(c, "ListChanges", &r, tierd__changes_response, out, err);
}

int td_client_list_changes_wait(td_client *c, uint64_t since, uint32_t limit, uint32_t wait_ms,
                                Tierd__ChangesResponse **out, td_error *err)
{
    Tierd__ListChangesRequest r = TIERD__LIST_CHANGES_REQUEST__INIT;
    r.since = since;
    r.limit = limit;
    r.wait_ms = wait_ms < TD_CHANGES_MAX_WAIT_MS ? wait_ms : TD_CHANGES_MAX_WAIT_MS;
    return client_call(c, "ListChanges", &r.base, &tierd__changes_response__descriptor,
                       (ProtobufCMessage **)out, (int)r.wait_ms, err);
}

int td_client_set_override(td_client *c, const Tierd__SetOverrideRequest *req,
                           Tierd__TierState **out, td_error *err)
{
    return CALL(c, "SetOverride", req, tierd__tier_state, out, err);
}

int td_client_clear_override(td_client *c, const char *partner, const char *ladder,
                             Tierd__TierState **out, td_error *err)
{
    Tierd__ClearOverrideRequest r = TIERD__CLEAR_OVERRIDE_REQUEST__INIT;
    r.partner = (char *)partner;
    r.ladder = (char *)ladder;
    return CALL(c, "ClearOverride", &r, tierd__tier_state, out, err);
}

int td_client_list_pending(td_client *c, Tierd__ListPendingResponse **out, td_error *err)
{
    Tierd__Empty e = TIERD__EMPTY__INIT;
    return CALL(c, "ListPending", &e, tierd__list_pending_response, out, err);
}

int td_client_approve(td_client *c, const Tierd__DecisionRequest *req, Tierd__TierState **out,
                      td_error *err)
{
    return CALL(c, "Approve", req, tierd__tier_state, out, err);
}

int td_client_deny(td_client *c, const Tierd__DecisionRequest *req, Tierd__TierState **out,
                   td_error *err)
{
    return CALL(c, "Deny", req, tierd__tier_state, out, err);
}

int td_client_stats(td_client *c, Tierd__StatsResponse **out, td_error *err)
{
    Tierd__Empty e = TIERD__EMPTY__INIT;
    return CALL(c, "Stats", &e, tierd__stats_response, out, err);
}

int td_client_clock(td_client *c, const char *advance, Tierd__ClockResponse **out, td_error *err)
{
    Tierd__ClockRequest r = TIERD__CLOCK_REQUEST__INIT;
    r.advance = (char *)(advance ? advance : "");
    return CALL(c, "Clock", &r, tierd__clock_response, out, err);
}

int td_client_get_cursor(td_client *c, const char *connector, Tierd__CursorResponse **out,
                         td_error *err)
{
    Tierd__CursorRequest r = TIERD__CURSOR_REQUEST__INIT;
    r.connector = (char *)connector;
    return CALL(c, "GetCursor", &r, tierd__cursor_response, out, err);
}

int td_client_get_benefits(td_client *c, const char *const *ids, size_t n,
                           Tierd__GetBenefitsResponse **out, td_error *err)
{
    Tierd__GetBenefitsRequest r = TIERD__GET_BENEFITS_REQUEST__INIT;
    r.n_partners = n;
    r.partners = (char **)ids;
    return CALL(c, "GetBenefits", &r, tierd__get_benefits_response, out, err);
}

int td_client_list_benefit_holders(td_client *c, const Tierd__ListBenefitHoldersRequest *req,
                                   Tierd__ListBenefitHoldersResponse **out, td_error *err)
{
    return CALL(c, "ListBenefitHolders", req, tierd__list_benefit_holders_response, out, err);
}

int td_client_simulate(td_client *c, const Tierd__SimulateRequest *req,
                       Tierd__SimulateResponse **out, td_error *err)
{
    return CALL(c, "Simulate", req, tierd__simulate_response, out, err);
}

int td_client_audit(td_client *c, const Tierd__AuditRequest *req, Tierd__AuditResponse **out,
                    td_error *err)
{
    return CALL(c, "Audit", req, tierd__audit_response, out, err);
}

int td_client_kpi(td_client *c, const Tierd__KpiRequest *req, Tierd__KpiResponse **out,
                  td_error *err)
{
    return CALL(c, "Kpi", req, tierd__kpi_response, out, err);
}

int td_client_metrics(td_client *c, Tierd__MetricsResponse **out, td_error *err)
{
    Tierd__Empty e = TIERD__EMPTY__INIT;
    return CALL(c, "Metrics", &e, tierd__metrics_response, out, err);
}

int td_client_calibrate(td_client *c, const Tierd__CalibrateRequest *req,
                        Tierd__CalibrateResponse **out, td_error *err)
{
    return CALL(c, "Calibrate", req, tierd__calibrate_response, out, err);
}

int td_client_stats_by(td_client *c, const Tierd__StatsByRequest *req, Tierd__StatsByResponse **out,
                       td_error *err)
{
    return CALL(c, "StatsBy", req, tierd__stats_by_response, out, err);
}
