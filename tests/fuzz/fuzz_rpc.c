/* Fuzzes the RPC path whole: Envelope decode, method lookup, tokens and
 * roles, payload decode and every handler, through rpc_execute and the real
 * method table, on a real LMDB store in a temporary dir.
 *
 * Once per process the store is made in a mkdtemp dir (whose names go at
 * once; the open store lives on) and given a base state through the same
 * path: the example program, four partners (one with a promotion waiting
 * for approval, one with an override), their events and a connector
 * cursor; the fake clock stands at FUZZ_NOW. Each
 * input is then one turn (the format is in fuzz_rpc_input.h): up to eight
 * calls, or one raw Envelope. Every reply must make sense on its own: a
 * refusal has a status and a message, an OK reply's payload decodes as the
 * method's response, and the Reply packs and reads back with its request id.
 *
 * The turn is then failed on purpose and flushed, which rolls it back. So
 * every input starts from the same base state (libFuzzer needs that to
 * replay a finding alone), and the rollback itself is checked: afterwards
 * the partners, the approval queue, the stats and the store's counters must
 * be exactly as they were. A turn that left memory and disk apart would show
 * up here.
 *
 * Not covered here: the timers (d->timers is NULL, so Clock advance
 * re-evaluates every partner in place instead of replaying window edges;
 * the timers' advance commits slices on its own, which would make inputs
 * depend on each other), sockets (server.c) and connector children. */
#include <ftw.h>
#include <stdbool.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "fuzz_common.h"
#include "fuzz_rpc_input.h"
#include "rpc.h"
#include "state.h"
#include "tierd.pb-c.h"

#define FUZZ_NOW         ((td_time)1794700800) /* 2026-11-15T00:00:00Z, as in the demo */
#define FUZZ_EVENT_AT    "2026-06-01T00:00:00Z"
#define FUZZ_MAP_SIZE    ((size_t)64 << 20)
#define FUZZ_REQUEST_ID  4242
#define FUZZ_TMP_PREFIX  "/tmp/tierd-fuzz-rpc-"
#define FUZZ_TMP_TAIL    6 /* mkdtemp replaces exactly six trailing 'X's */
#define FUZZ_OPEN_FDS    16
#define FUZZ_BASE_EVENTS 12

static tierd d;
static uv_loop_t loop;
static rpc_arena *scratch;
static char dir[sizeof FUZZ_TMP_PREFIX + FUZZ_TMP_TAIL];
static const ProtobufCServiceDescriptor *service = &tierd__tier_service__descriptor;

static rpc_token tokens[] = {
    {"reader", FUZZ_TOKEN_READ, TD_ROLE_READ},
    {"writer", FUZZ_TOKEN_WRITE, TD_ROLE_WRITE},
    {"boss", FUZZ_TOKEN_ADMIN, TD_ROLE_ADMIN},
};
#define N_TOKENS (sizeof tokens / sizeof tokens[0])

/* What the base state looks like from outside, to compare after each turn. */
typedef struct snapshot {
    uint64_t last_sequence, events;
    size_t partners;
    rpc_result listed, pending, stats;
} snapshot;
static snapshot base;

/* ---- one call ---- */

static size_t pack_envelope(const char *method, const char *token, const uint8_t *payload,
                            size_t plen, uint8_t **out)
{
    Tierd__Envelope env = TIERD__ENVELOPE__INIT;
    env.method = (char *)method;
    env.request_id = FUZZ_REQUEST_ID;
    env.token = (char *)(token ? token : "");
    env.payload.data = (uint8_t *)payload;
    env.payload.len = plen;
    size_t n = tierd__envelope__get_packed_size(&env);
    *out = malloc(n ? n : 1);
    if (!*out)
        abort();
    return tierd__envelope__pack(&env, *out);
}

static bool same_bytes(const rpc_bytes *a, const uint8_t *b, size_t n)
{
    return a->len == n && (n == 0 || memcmp(a->data, b, n) == 0);
}

static bool has_nul(const rpc_bytes *b)
{
    return b->len && memchr(b->data, 0, b->len);
}

/* tierd reads the Envelope with its own allocation-free reader; protobuf-c
 * is the reference. Whatever tierd accepts, protobuf-c must read the same
 * way (protobuf-c is laxer, e.g. about oversized tags, so the converse does
 * not hold). Returns the reference's method row, or NULL. */
static const rpc_method *check_envelope(const uint8_t *env, size_t len, const rpc_result *r)
{
    rpc_envelope mine;
    td_error err = {0};
    if (rpc_envelope_read(env, len, &mine, &err) != 0) {
        FUZZ_CHECK(r->status == TD_INVALID_ARGUMENT && r->request_id == 0,
                   "an unreadable Envelope got status %d", (int)r->status);
        return NULL;
    }
    Tierd__Envelope *ref = tierd__envelope__unpack(NULL, len, env);
    FUZZ_CHECK(ref != NULL, "tierd reads an Envelope protobuf-c refuses");
    FUZZ_CHECK(mine.request_id == ref->request_id && r->request_id == ref->request_id,
               "request id %llu, protobuf-c reads %llu", (unsigned long long)r->request_id,
               (unsigned long long)ref->request_id);
    FUZZ_CHECK(same_bytes(&mine.payload, ref->payload.data, ref->payload.len), "payload differs");
    /* protobuf-c cuts strings at a NUL; tierd keeps the wire length. */
    if (!has_nul(&mine.method))
        FUZZ_CHECK(same_bytes(&mine.method, (const uint8_t *)ref->method, strlen(ref->method)),
                   "method differs");
    if (!has_nul(&mine.token))
        FUZZ_CHECK(same_bytes(&mine.token, (const uint8_t *)ref->token, strlen(ref->token)),
                   "token differs");
    const rpc_method *m = rpc_method_find(ref->method);
    tierd__envelope__free_unpacked(ref, NULL);
    return m;
}

/* Whatever came back must be a well-formed answer. */
static void check_result(const uint8_t *env, size_t len, const rpc_result *r)
{
    FUZZ_CHECK(r->status >= TD_OK && r->status <= TD_UNAUTHENTICATED, "status %d", (int)r->status);
    FUZZ_CHECK(memchr(r->message, '\0', sizeof r->message), "message not terminated");
    const rpc_method *m = check_envelope(env, len, r);
    if (r->status != TD_OK) {
        FUZZ_CHECK(r->message[0], "status %d without a message", (int)r->status);
        FUZZ_CHECK(r->payload == NULL, "a refusal carries a payload");
    } else {
        FUZZ_CHECK(m != NULL, "OK for a request with no method");
        ProtobufCMessage *resp =
            protobuf_c_message_unpack(m->response, NULL, r->payload_len, r->payload);
        FUZZ_CHECK(resp != NULL, "%s answered a payload that is not a %s", m->name,
                   m->response->name);
        protobuf_c_message_free_unpacked(resp, NULL);
    }
    size_t n = 0;
    uint8_t *reply = rpc_result_pack(r, &n);
    FUZZ_CHECK(reply != NULL, "reply did not pack");
    Tierd__Reply *back = tierd__reply__unpack(NULL, n, reply);
    FUZZ_CHECK(back != NULL, "reply does not read back");
    FUZZ_CHECK(strcmp(back->message, r->message) == 0, "reply message changed");
    FUZZ_CHECK(back->request_id == r->request_id, "reply request id changed");
    tierd__reply__free_unpacked(back, NULL);
    free(reply);
}

static void execute(const uint8_t *env, size_t len, bool with_tokens, rpc_result *out)
{
    rpc_execute(&d, with_tokens ? tokens : NULL, with_tokens ? N_TOKENS : 0, env, len, scratch,
                out);
    check_result(env, len, out);
    if (out->status == TD_OK && out->wait.ms) {
        /* A held ListChanges: what the server runs when it wakes. */
        rpc_result again;
        rpc_execute_wait(&d, &out->wait, out->request_id, scratch, &again);
        FUZZ_CHECK(again.request_id == out->request_id, "a held reply lost its request id");
        if (again.status == TD_OK) {
            Tierd__ChangesResponse *c =
                tierd__changes_response__unpack(NULL, again.payload_len, again.payload);
            FUZZ_CHECK(c != NULL, "a held ListChanges answered something else");
            tierd__changes_response__free_unpacked(c, NULL);
        } else {
            FUZZ_CHECK(again.message[0] && !again.payload, "held reply refused without a message");
        }
        rpc_result_clear(&again);
    }
}

static void call_auth(const char *method, fuzz_auth auth, const uint8_t *payload, size_t plen,
                      rpc_result *out)
{
    static const char *const secret[FUZZ_AUTH_COUNT] = {
        [FUZZ_AUTH_READ] = FUZZ_TOKEN_READ,
        [FUZZ_AUTH_WRITE] = FUZZ_TOKEN_WRITE,
        [FUZZ_AUTH_ADMIN] = FUZZ_TOKEN_ADMIN,
        [FUZZ_AUTH_WRONG] = FUZZ_TOKEN_WRONG,
    };
    uint8_t *env = NULL;
    size_t len = pack_envelope(method, secret[auth], payload, plen, &env);
    execute(env, len, auth != FUZZ_AUTH_NO_TOKENS, out);
    free(env);
}

/* A call the base state needs: it must succeed. The reply is kept in out
 * when given, else dropped. */
static void call_ok(const char *method, const ProtobufCMessage *msg, rpc_result *out)
{
    uint8_t *payload = NULL;
    size_t plen = 0;
    if (msg) {
        plen = protobuf_c_message_get_packed_size(msg);
        payload = malloc(plen ? plen : 1);
        if (!payload)
            abort();
        protobuf_c_message_pack(msg, payload);
    }
    rpc_result r, *res = out ? out : &r;
    call_auth(method, FUZZ_AUTH_ADMIN, payload, plen, res);
    FUZZ_CHECK(res->status == TD_OK, "base state: %s: %s", method, res->message);
    free(payload);
    if (!out)
        rpc_result_clear(&r);
}

static void flush_ok(void)
{
    td_error err = {0};
    FUZZ_CHECK(state_flush(&d, &err) == 0, "base state did not commit: %s", err.message);
}

/* ---- the base state ---- */

static char *read_program(size_t *len)
{
    FILE *f = fopen(FUZZ_PROGRAM, "rb");
    FUZZ_CHECK(f != NULL, "cannot open %s", FUZZ_PROGRAM);
    char *text = malloc(TD_MAX_PROGRAM_BYTES + 1);
    if (!text)
        abort();
    *len = fread(text, 1, TD_MAX_PROGRAM_BYTES, f);
    fclose(f);
    text[*len] = '\0';
    return text;
}

static void put_partners(void)
{
    char *reseller[] = {"reseller"}, *both[] = {"services", "technology"}, *tech[] = {"technology"};
    Tierd__Partner p[4];
    Tierd__Partner *pp[4];
    const char *ids[] = {"p-1", "p-2", "p-3", "p-4"};
    const char *names[] = {"Acme Ltd", "Beta GmbH", "Gamma SAS", "Delta Inc."};
    char **types[] = {reseller, both, reseller, tech};
    size_t n_types[] = {1, 2, 1, 1};
    for (size_t i = 0; i < 4; i++) {
        tierd__partner__init(&p[i]);
        p[i].id = (char *)ids[i];
        p[i].name = (char *)names[i];
        p[i].types = types[i];
        p[i].n_types = n_types[i];
        pp[i] = &p[i];
    }
    Tierd__UpsertPartnersRequest req = TIERD__UPSERT_PARTNERS_REQUEST__INIT;
    req.partners = pp;
    req.n_partners = 4;
    call_ok("UpsertPartners", &req.base, NULL);
}

static void put_events(void)
{
    /* p-1 qualifies for Strategic, which needs approval; p-2 is Trained and
     * Listed; p-3 is Registered. */
    static const struct {
        const char *id, *partner, *metric, *key;
        double value;
    } evs[FUZZ_BASE_EVENTS] = {
        {"e-1", "p-1", "contract_signed", NULL, 1},
        {"e-2", "p-1", "active_sellers", NULL, 10},
        {"e-3", "p-1", "certification", "sales-101", 1},
        {"e-4", "p-1", "certification", "sales-201", 1},
        {"e-5", "p-1", "certification", "sales-301", 1},
        {"e-6", "p-1", "deal_closed", "opp-1", 1200000},
        {"e-7", "p-2", "consultant_trained", "ann", 1},
        {"e-8", "p-2", "consultant_trained", "bob", 1},
        {"e-9", "p-2", "integration_shipped", NULL, 1},
        {"e-10", "p-3", "contract_signed", NULL, 1},
        {"e-11", "p-3", "certification", "sales-101", 1},
        {"e-12", "p-3", "active_sellers", NULL, 4},
    };
    Tierd__Event e[FUZZ_BASE_EVENTS];
    Tierd__Event *ep[FUZZ_BASE_EVENTS];
    for (size_t i = 0; i < FUZZ_BASE_EVENTS; i++) {
        tierd__event__init(&e[i]);
        e[i].id = (char *)evs[i].id;
        e[i].source = "crm";
        e[i].partner = (char *)evs[i].partner;
        e[i].metric = (char *)evs[i].metric;
        e[i].value = evs[i].value;
        e[i].has_value = true;
        e[i].at = FUZZ_EVENT_AT;
        e[i].key = (char *)(evs[i].key ? evs[i].key : "");
        ep[i] = &e[i];
    }
    Tierd__IngestRequest req = TIERD__INGEST_REQUEST__INIT;
    req.events = ep;
    req.n_events = FUZZ_BASE_EVENTS;
    req.connector = "crm";
    req.cursor = "2026-06-01#12";
    rpc_result r;
    call_ok("Ingest", &req.base, &r);
    Tierd__IngestResponse *resp = tierd__ingest_response__unpack(NULL, r.payload_len, r.payload);
    FUZZ_CHECK(resp && resp->accepted == FUZZ_BASE_EVENTS, "base events not all accepted");
    tierd__ingest_response__free_unpacked(resp, NULL);
    rpc_result_clear(&r);
}

static void take_snapshot(snapshot *s)
{
    s->last_sequence = store_last_sequence(d.store);
    s->events = store_event_count(d.store);
    s->partners = engine_partner_count(d.engine);
    call_ok("ListPartners", NULL, &s->listed);
    call_ok("ListPending", NULL, &s->pending);
    call_ok("Stats", NULL, &s->stats);
}

static bool same_payload(const rpc_result *a, const rpc_result *b)
{
    return a->payload_len == b->payload_len && memcmp(a->payload, b->payload, a->payload_len) == 0;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void tear_down(void)
{
    state_close(&d);
    rpc_arena_free(scratch);
    rpc_result_clear(&base.listed);
    rpc_result_clear(&base.pending);
    rpc_result_clear(&base.stats);
    uv_loop_close(&loop);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* mkdtemp's template: a run of 'X' it replaces with a unique name. */
    memcpy(dir, FUZZ_TMP_PREFIX, sizeof FUZZ_TMP_PREFIX - 1);
    memset(dir + sizeof FUZZ_TMP_PREFIX - 1, 'X', FUZZ_TMP_TAIL);
    dir[sizeof FUZZ_TMP_PREFIX - 1 + FUZZ_TMP_TAIL] = '\0';
    FUZZ_CHECK(mkdtemp(dir) != NULL, "mkdtemp failed");
    FUZZ_CHECK(uv_loop_init(&loop) == 0, "no loop");
    d.loop = &loop;
    d.fake_clock = true;
    d.fake_now = FUZZ_NOW;
    d.started = FUZZ_NOW;
    d.state_dir = dir;
    store_options opt = {.map_size = FUZZ_MAP_SIZE, .no_sync = true};
    td_error err = {0};
    FUZZ_CHECK(state_open_with(&d, dir, &opt, &err) == 0, "%s", err.message);
    /* The store keeps its files open; with their names gone, a run that
     * stops at a finding (abort skips atexit) leaves nothing in /tmp. */
    FUZZ_CHECK(nftw(dir, remove_entry, FUZZ_OPEN_FDS, FTW_DEPTH | FTW_PHYS) == 0, "removing %s",
               dir);
    scratch = rpc_arena_new();
    atexit(tear_down);

    size_t len = 0;
    char *text = read_program(&len);
    Tierd__PutProgramRequest prog = TIERD__PUT_PROGRAM_REQUEST__INIT;
    prog.yaml = text;
    prog.filename = "partners.yaml";
    call_ok("PutProgram", &prog.base, NULL);
    free(text);
    flush_ok();
    put_partners();
    put_events();
    flush_ok();

    Tierd__SetOverrideRequest ov = TIERD__SET_OVERRIDE_REQUEST__INIT;
    ov.partner = "p-3";
    ov.ladder = "reseller";
    ov.tier = "Selling";
    ov.until = "2027-06-01T00:00:00Z";
    ov.reason = "fuzz base state";
    call_ok("SetOverride", &ov.base, NULL);
    flush_ok();
    take_snapshot(&base);
    FUZZ_CHECK(base.partners == 4, "%zu partners in the base state", base.partners);
    /* Approve and Deny have something to decide on only if p-1 waits. */
    Tierd__ListPendingResponse *pend =
        tierd__list_pending_response__unpack(NULL, base.pending.payload_len, base.pending.payload);
    FUZZ_CHECK(pend && pend->n_pending == 1, "base state: no promotion waits for approval");
    tierd__list_pending_response__free_unpacked(pend, NULL);
    return 0;
}

/* ---- one input ---- */

static void run_sequence(const uint8_t *data, size_t size)
{
    for (int i = 0; i < FUZZ_RPC_MAX_CALLS && size >= FUZZ_RPC_HEADER; i++) {
        unsigned method = data[0] % service->n_methods;
        fuzz_auth auth = (fuzz_auth)(data[1] % FUZZ_AUTH_COUNT);
        size_t plen = (size_t)data[2] | (size_t)data[3] << 8;
        data += FUZZ_RPC_HEADER;
        size -= FUZZ_RPC_HEADER;
        if (plen > size)
            plen = size;
        rpc_result r;
        call_auth(service->methods[method].name, auth, data, plen, &r);
        rpc_result_clear(&r);
        data += plen;
        size -= plen;
    }
}

/* Fails the turn and flushes, which rolls it back, then checks that
 * nothing of it is left. */
static void roll_back(void)
{
    td_error why = {0};
    td_error_set(&why, TD_INTERNAL, "fuzz: rolling the turn back");
    state_fail(&d, &why);
    td_error err = {0};
    FUZZ_CHECK(state_flush(&d, &err) != 0, "a failed turn committed");
    d.fake_now = FUZZ_NOW;

    FUZZ_CHECK(store_last_sequence(d.store) == base.last_sequence, "sequence %llu, base %llu",
               (unsigned long long)store_last_sequence(d.store),
               (unsigned long long)base.last_sequence);
    FUZZ_CHECK(store_event_count(d.store) == base.events, "events left behind");
    FUZZ_CHECK(engine_partner_count(d.engine) == base.partners, "%zu partners after rollback",
               engine_partner_count(d.engine));
    snapshot now;
    take_snapshot(&now);
    FUZZ_CHECK(same_payload(&now.listed, &base.listed), "partners differ after rollback");
    FUZZ_CHECK(same_payload(&now.pending, &base.pending), "approval queue differs after rollback");
    FUZZ_CHECK(same_payload(&now.stats, &base.stats), "stats differ after rollback");
    rpc_result_clear(&now.listed);
    rpc_result_clear(&now.pending);
    rpc_result_clear(&now.stats);
    /* take_snapshot's reads opened no write transaction to undo. */
    FUZZ_CHECK(!store_in_txn(d.store), "a read left a transaction open");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] == FUZZ_RPC_RAW) {
        rpc_result r;
        execute(data + 1, size - 1, true, &r);
        rpc_result_clear(&r);
    } else {
        run_sequence(data + 1, size - 1);
    }
    roll_back();
    return 0;
}
