/* Writes the binary seeds of the fuzz corpus: RPC calls for fuzz_rpc (one
 * per TierService method, a few chains, a few raw Envelopes) and partner
 * records for fuzz_codec (encoded by the real engine). Text seeds (YAML,
 * expressions, NDJSON, CSV, xAPI, status lines) are written by hand.
 *
 *   make_seeds DIR     writes DIR/fuzz_rpc/... and DIR/fuzz_codec/...
 *
 * Run it by hand (build-fuzz/tests/fuzz/make_seeds tests/fuzz/corpus) when
 * the wire format or the codec changes, and commit what it writes. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/engine.h"
#include "fuzz_rpc_input.h"
#include "tierd.pb-c.h"

#define SEED_MAX   ((size_t)64 << 10)
#define SEED_T0    ((td_time)1767225600) /* 2026-01-01T00:00:00Z */
#define SEED_DAY   ((td_time)TD_SECONDS_PER_DAY)
#define SEED_MODE  0755
#define SEED_PATHS 4096

static const char *out_dir;
static uint8_t buf[SEED_MAX];
static size_t len;

static const char tiny_program[] = "program: tiny\n"
                                   "version: \"2\"\n"
                                   "metrics:\n"
                                   "  deals: { agg: count, event: deal_closed, window: 365d }\n"
                                   "ladders:\n"
                                   "  reseller:\n"
                                   "    partner_types: [reseller]\n"
                                   "    tiers:\n"
                                   "      - name: Registered\n"
                                   "        when: deals >= 1\n";

static void die(const char *what)
{
    fprintf(stderr, "make_seeds: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void write_seed(const char *target, const char *name, const uint8_t *data, size_t n)
{
    char path[SEED_PATHS];
    snprintf(path, sizeof path, "%s/%s", out_dir, target);
    if (mkdir(path, SEED_MODE) != 0 && errno != EEXIST)
        die(path);
    snprintf(path, sizeof path, "%s/%s/%s", out_dir, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0)
        die(path);
}

static unsigned method_index(const char *name)
{
    const ProtobufCServiceDescriptor *s = &tierd__tier_service__descriptor;
    for (unsigned i = 0; i < s->n_methods; i++)
        if (strcmp(s->methods[i].name, name) == 0)
            return i;
    fprintf(stderr, "make_seeds: no method %s\n", name);
    exit(1);
}

/* Appends one call of method with msg (NULL = empty payload). */
static void add(const char *method, fuzz_auth auth, const ProtobufCMessage *msg)
{
    uint8_t payload[SEED_MAX / 2];
    size_t plen = msg ? protobuf_c_message_get_packed_size(msg) : 0;
    if (plen > sizeof payload || len + FUZZ_RPC_HEADER + plen > sizeof buf) {
        fprintf(stderr, "make_seeds: %s seed too large\n", method);
        exit(1);
    }
    if (msg)
        protobuf_c_message_pack(msg, payload);
    fuzz_rpc_append(buf, &len, method_index(method), auth, payload, plen);
}

static void begin(void)
{
    buf[0] = FUZZ_RPC_SEQUENCE;
    len = 1;
}

static void rpc_seed(const char *name)
{
    write_seed("fuzz_rpc", name, buf, len);
}

static void raw_seed(const char *name, const char *method, const ProtobufCMessage *msg)
{
    Tierd__Envelope env = TIERD__ENVELOPE__INIT;
    uint8_t payload[SEED_MAX / 2];
    env.method = (char *)method;
    env.request_id = 7;
    env.token = FUZZ_TOKEN_ADMIN;
    env.payload.len = msg ? protobuf_c_message_pack(msg, payload) : 0;
    env.payload.data = payload;
    buf[0] = FUZZ_RPC_RAW;
    len = 1 + tierd__envelope__pack(&env, buf + 1);
    rpc_seed(name);
}

static void rpc_seeds(void)
{
    Tierd__PartnerRequest pr = TIERD__PARTNER_REQUEST__INIT;
    pr.id = "p-1";
    Tierd__ListPartnersRequest lp = TIERD__LIST_PARTNERS_REQUEST__INIT;
    lp.ladder = "reseller";
    lp.tier = "Registered";
    lp.limit = 2;
    Tierd__Partner partner = TIERD__PARTNER__INIT;
    char *types[] = {"reseller", "services"};
    partner.id = "p-9";
    partner.name = "New Partner";
    partner.types = types;
    partner.n_types = 2;
    Tierd__Partner *partners[] = {&partner};
    Tierd__UpsertPartnersRequest up = TIERD__UPSERT_PARTNERS_REQUEST__INIT;
    up.partners = partners;
    up.n_partners = 1;
    up.connector = "crm";
    up.cursor = "c-2";
    Tierd__Event ev = TIERD__EVENT__INIT;
    ev.id = "e-100";
    ev.source = "crm";
    ev.partner = "p-3";
    ev.metric = "deal_closed";
    ev.value = 300000;
    ev.has_value = true;
    ev.at = "2026-10-01T00:00:00Z";
    ev.key = "opp-100";
    Tierd__Event *events[] = {&ev};
    Tierd__IngestRequest in = TIERD__INGEST_REQUEST__INIT;
    in.events = events;
    in.n_events = 1;
    char *ids[] = {"p-1", "p-2", "nobody"};
    Tierd__GetTiersRequest gt = TIERD__GET_TIERS_REQUEST__INIT;
    gt.partners = ids;
    gt.n_partners = 3;
    Tierd__ExplainRequest ex = TIERD__EXPLAIN_REQUEST__INIT;
    ex.partner = "p-1";
    ex.ladder = "reseller";
    ex.at = "2027-03-01T00:00:00Z";
    Tierd__HistoryRequest hi = TIERD__HISTORY_REQUEST__INIT;
    hi.partner = "p-1";
    hi.limit = 5;
    Tierd__ListChangesRequest lc = TIERD__LIST_CHANGES_REQUEST__INIT;
    lc.since = 1;
    lc.limit = 10;
    Tierd__SetOverrideRequest so = TIERD__SET_OVERRIDE_REQUEST__INIT;
    so.partner = "p-1";
    so.ladder = "reseller";
    so.tier = "Specialist";
    so.until = "2027-01-01T00:00:00Z";
    so.reason = "pinned for the audit";
    Tierd__ClearOverrideRequest co = TIERD__CLEAR_OVERRIDE_REQUEST__INIT;
    co.partner = "p-3";
    co.ladder = "reseller";
    Tierd__DecisionRequest dr = TIERD__DECISION_REQUEST__INIT;
    dr.partner = "p-1";
    dr.ladder = "reseller";
    dr.reason = "reviewed";
    Tierd__ClockRequest ck = TIERD__CLOCK_REQUEST__INIT;
    ck.advance = "140d";
    Tierd__CursorRequest cr = TIERD__CURSOR_REQUEST__INIT;
    cr.connector = "crm";
    Tierd__PutProgramRequest pp = TIERD__PUT_PROGRAM_REQUEST__INIT;
    pp.yaml = (char *)tiny_program;
    pp.filename = "tiny.yaml";
    pp.dry_run = true;
    Tierd__GetBenefitsRequest gb = TIERD__GET_BENEFITS_REQUEST__INIT;
    gb.partners = ids;
    gb.n_partners = 3;
    Tierd__ListBenefitHoldersRequest lb = TIERD__LIST_BENEFIT_HOLDERS_REQUEST__INIT;
    lb.benefit = "mdf";
    lb.ladder = "reseller";
    lb.after = "p-1";
    lb.limit = 2;
    Tierd__WhatIfPage wp = TIERD__WHAT_IF_PAGE__INIT;
    wp.limit = 10;
    Tierd__SimulateRequest sim = TIERD__SIMULATE_REQUEST__INIT;
    sim.yaml = (char *)tiny_program;
    sim.filename = "tiny.yaml";
    sim.page = &wp;
    Tierd__AuditRequest au = TIERD__AUDIT_REQUEST__INIT;
    au.near = 0.1;
    au.near_set = true;
    au.page = &wp;
    Tierd__CalibrateTarget ct[2] = {TIERD__CALIBRATE_TARGET__INIT, TIERD__CALIBRATE_TARGET__INIT};
    ct[0].tier = "Registered";
    ct[0].percent = 60;
    ct[1].tier = "Selling";
    ct[1].percent = 40;
    Tierd__CalibrateTarget *ctp[] = {&ct[0], &ct[1]};
    Tierd__CalibrateRequest ca = TIERD__CALIBRATE_REQUEST__INIT;
    ca.ladder = "reseller";
    ca.targets = ctp;
    ca.n_targets = 2;

    static const struct {
        const char *method;
        fuzz_auth auth;
    } plain[] = {
        {"Status", FUZZ_AUTH_READ},        {"GetProgram", FUZZ_AUTH_NO_TOKENS},
        {"ListPending", FUZZ_AUTH_READ},   {"Stats", FUZZ_AUTH_READ},
        {"GetPartner", FUZZ_AUTH_MISSING}, {"DeletePartner", FUZZ_AUTH_WRONG},
    };
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        begin();
        add(plain[i].method, plain[i].auth,
            strcmp(plain[i].method, "GetPartner") == 0 ||
                    strcmp(plain[i].method, "DeletePartner") == 0
                ? &pr.base
                : NULL);
        char name[64];
        snprintf(name, sizeof name, "%s", plain[i].method);
        rpc_seed(name);
    }
    const struct {
        const char *method;
        fuzz_auth auth;
        const ProtobufCMessage *msg;
    } with[] = {
        {"GetPartner", FUZZ_AUTH_READ, &pr.base},
        {"ListPartners", FUZZ_AUTH_READ, &lp.base},
        {"UpsertPartners", FUZZ_AUTH_WRITE, &up.base},
        {"DeletePartner", FUZZ_AUTH_WRITE, &pr.base},
        {"Ingest", FUZZ_AUTH_WRITE, &in.base},
        {"GetTiers", FUZZ_AUTH_READ, &gt.base},
        {"Explain", FUZZ_AUTH_READ, &ex.base},
        {"History", FUZZ_AUTH_READ, &hi.base},
        {"ListChanges", FUZZ_AUTH_READ, &lc.base},
        {"SetOverride", FUZZ_AUTH_ADMIN, &so.base},
        {"ClearOverride", FUZZ_AUTH_ADMIN, &co.base},
        {"Approve", FUZZ_AUTH_ADMIN, &dr.base},
        {"Deny", FUZZ_AUTH_ADMIN, &dr.base},
        {"Clock", FUZZ_AUTH_ADMIN, &ck.base},
        {"GetCursor", FUZZ_AUTH_READ, &cr.base},
        {"PutProgram", FUZZ_AUTH_ADMIN, &pp.base},
        {"Simulate", FUZZ_AUTH_READ, &sim.base},
        {"Audit", FUZZ_AUTH_READ, &au.base},
        {"Calibrate", FUZZ_AUTH_READ, &ca.base},
        {"GetBenefits", FUZZ_AUTH_READ, &gb.base},
        {"ListBenefitHolders", FUZZ_AUTH_READ, &lb.base},
    };
    for (size_t i = 0; i < sizeof with / sizeof with[0]; i++) {
        begin();
        add(with[i].method, with[i].auth, with[i].msg);
        char name[64];
        snprintf(name, sizeof name, "%s-request", with[i].method);
        rpc_seed(name);
    }

    /* Chains: what clients do within one turn. */
    begin();
    add("UpsertPartners", FUZZ_AUTH_WRITE, &up.base);
    ev.partner = "p-9";
    add("Ingest", FUZZ_AUTH_WRITE, &in.base);
    add("GetPartner", FUZZ_AUTH_READ, &pr.base);
    rpc_seed("chain-upsert-ingest");
    ev.partner = "p-3";

    begin();
    add("Approve", FUZZ_AUTH_ADMIN, &dr.base);
    add("History", FUZZ_AUTH_READ, &hi.base);
    add("Clock", FUZZ_AUTH_ADMIN, &ck.base);
    add("Stats", FUZZ_AUTH_READ, NULL);
    rpc_seed("chain-approve-advance");

    begin();
    pp.dry_run = false;
    pp.force = true;
    add("PutProgram", FUZZ_AUTH_ADMIN, &pp.base);
    add("ListPartners", FUZZ_AUTH_READ, &lp.base);
    add("Explain", FUZZ_AUTH_READ, &ex.base);
    rpc_seed("chain-program-change");

    begin();
    add("DeletePartner", FUZZ_AUTH_ADMIN, &pr.base);
    add("ListPending", FUZZ_AUTH_READ, NULL);
    add("Deny", FUZZ_AUTH_ADMIN, &dr.base);
    rpc_seed("chain-delete-deny");

    raw_seed("raw-status", "Status", NULL);
    raw_seed("raw-ingest", "Ingest", &in.base);
    raw_seed("raw-explain", "Explain", &ex.base);
    raw_seed("raw-unknown-method", "Reboot", NULL);
}

/* ---- partner records ---- */

static void event(engine *e, const char *partner, const char *metric, double value, td_time at,
                  const char *key)
{
    static unsigned n;
    char id[32];
    snprintf(id, sizeof id, "seed-%u", n++);
    td_event ev = {.source = "seed",
                   .id = id,
                   .partner = partner,
                   .metric = metric,
                   .value = value,
                   .at = at,
                   .key = key};
    td_error err;
    if (engine_ingest(e, &ev, at, NULL, NULL, &err) != 0) {
        fprintf(stderr, "make_seeds: %s\n", err.message);
        exit(1);
    }
}

static void codec_seed(engine *e, const char *id, const char *name)
{
    uint8_t *blob = NULL;
    size_t n = 0;
    if (engine_partner_encode(e, engine_partner_find(e, id), &blob, &n) != 0) {
        fprintf(stderr, "make_seeds: encoding %s failed\n", id);
        exit(1);
    }
    write_seed("fuzz_codec", name, blob, n);
    free(blob);
}

static void codec_seeds(void)
{
    FILE *f = fopen(FUZZ_PROGRAM, "rb");
    if (!f)
        die(FUZZ_PROGRAM);
    static char text[TD_MAX_PROGRAM_BYTES + 1];
    size_t n = fread(text, 1, TD_MAX_PROGRAM_BYTES, f);
    fclose(f);
    program *p = NULL;
    td_error err;
    if (program_parse(text, n, FUZZ_PROGRAM, &p, NULL, &err) != 0) {
        fprintf(stderr, "make_seeds: %s\n", err.message);
        exit(1);
    }
    engine *e = engine_new();
    engine_program_apply(e, p, SEED_T0, NULL, NULL);
    const char *reseller[] = {"reseller"}, *all[] = {"reseller", "services", "technology"};
    engine_partner_upsert(e, "p-empty", NULL, reseller, 1, SEED_T0, NULL, NULL, &err);
    codec_seed(e, "p-empty", "empty-partner");

    engine_partner_upsert(e, "p-strategic", "Acme Ltd", reseller, 1, SEED_T0, NULL, NULL, &err);
    event(e, "p-strategic", "contract_signed", 1, SEED_T0, NULL);
    event(e, "p-strategic", "active_sellers", 10, SEED_T0, NULL);
    event(e, "p-strategic", "certification", 1, SEED_T0, "sales-101");
    event(e, "p-strategic", "certification", 1, SEED_T0 + SEED_DAY, "sales-201");
    event(e, "p-strategic", "certification", 1, SEED_T0 + 2 * SEED_DAY, "sales-301");
    event(e, "p-strategic", "deal_closed", 1200000, SEED_T0 + 3 * SEED_DAY, "opp-1");
    codec_seed(e, "p-strategic", "pending-approval");

    engine_partner_upsert(e, "p-ü-all", "Ünïcode GmbH", all, 3, SEED_T0, NULL, NULL, &err);
    event(e, "p-ü-all", "consultant_trained", 1, SEED_T0, "ann");
    event(e, "p-ü-all", "consultant_trained", 1, SEED_T0, "bob");
    event(e, "p-ü-all", "csat", 0.9, SEED_T0 + SEED_DAY, NULL);
    event(e, "p-ü-all", "integration_shipped", 1, SEED_T0, NULL);
    event(e, "p-ü-all", "deal_closed", -5000, SEED_T0 + 2 * SEED_DAY, "opp-2");
    td_partner *pt = engine_partner_find(e, "p-ü-all");
    engine_override_set(e, pt, "reseller", "Selling", SEED_T0 + 90 * SEED_DAY, "admin",
                        "seeded override", SEED_T0 + 3 * SEED_DAY, NULL, NULL, &err);
    codec_seed(e, "p-ü-all", "override-three-ladders");
    engine_evaluate(e, pt, SEED_T0 + 400 * SEED_DAY, NULL, NULL);
    codec_seed(e, "p-ü-all", "after-a-year");
    engine_free(e);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_seeds DIR\n");
        return 2;
    }
    out_dir = argv[1];
    rpc_seeds();
    codec_seeds();
    return 0;
}
