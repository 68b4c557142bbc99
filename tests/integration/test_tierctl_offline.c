/* tierctl without a real daemon: usage errors, unreachable daemons, and the
 * client side of the wire (envelopes, stale replies, refused requests,
 * NDJSON line mapping) against a small scripted REP socket in this process.
 * Runs the real tierctl binary (TIERCTL_BIN). */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <jansson.h>
#include <nanomsg/nn.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>

#include "harness.h"
#include "tierd.pb-c.h"

#define OUT_MAX        (256 * 1024)
#define FAKE_MAX_CALLS 64
#define MAX_ARGS       32
#define WATCH_WAIT_MS  10000
#define FAKE_URL_MAX   512

static char tmpdir[256];
static char out[OUT_MAX], err_out[OUT_MAX];

static const char *tierctl_bin(void)
{
    const char *b = getenv("TIERCTL_BIN");
    ck_assert_msg(b && *b, "TIERCTL_BIN is not set");
    return b;
}

static void slurp(const char *path, char *buf, size_t n)
{
    char *text = tu_read_file(path, n - 1);
    memcpy(buf, text, strlen(text) + 1);
    free(text);
}

/* Runs tierctl with args (NULL-terminated), stdin from in_path (or
 * /dev/null); fills `out`/`err_out`; returns the exit status. */
static int run(const char *in_path, double *secs, const char *const *args)
{
    char opath[512], epath[512];
    snprintf(opath, sizeof opath, "%s/stdout", tmpdir);
    snprintf(epath, sizeof epath, "%s/stderr", tmpdir);
    const char *argv[MAX_ARGS] = {tierctl_bin()};
    int n = 1;
    for (; args[n - 1] && n < MAX_ARGS - 1; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    double t0 = tu_now_s();
    pid_t pid = tu_spawn(argv, in_path ? in_path : "/dev/null", opath, epath);
    ck_assert_int_ge(pid, 0);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (secs)
        *secs = tu_now_s() - t0;
    slurp(opath, out, sizeof out);
    slurp(epath, err_out, sizeof err_out);
    ck_assert_msg(WIFEXITED(status), "tierctl did not exit normally");
    return WEXITSTATUS(status);
}

#define RUN(...) run(NULL, NULL, (const char *const[]){__VA_ARGS__, NULL})

static void setup(void)
{
    ck_assert_ptr_nonnull(tu_tmpdir("test-tierctl", tmpdir, sizeof tmpdir));
}

static void teardown(void)
{
    ck_assert_int_eq(tu_rm_rf(tmpdir), 0);
}

static void write_file(const char *name, const char *text, char *path, size_t n)
{
    snprintf(path, n, "%s/%s", tmpdir, name);
    ck_assert_int_eq(tu_write_file(path, text), 0);
}

/* ---- usage and reachability ------------------------------------------------- */

START_TEST(test_no_arguments_is_a_usage_error)
{
    ck_assert_int_eq(RUN(NULL), 2);
    ck_assert_ptr_nonnull(strstr(err_out, "usage: tierctl"));
}
END_TEST

START_TEST(test_unknown_command_is_a_usage_error)
{
    ck_assert_int_eq(RUN("frobnicate"), 2);
    ck_assert_ptr_nonnull(strstr(err_out, "unknown command 'frobnicate'"));
}
END_TEST

START_TEST(test_group_without_subcommand_is_a_usage_error)
{
    ck_assert_int_eq(RUN("partner"), 2);
    ck_assert_ptr_nonnull(strstr(err_out, "usage: tierctl partner show ID"));
    ck_assert_int_eq(RUN("partner", "explode", "p-1"), 2);
}
END_TEST

START_TEST(test_unknown_option_and_missing_value_are_usage_errors)
{
    ck_assert_int_eq(RUN("explain", "p-1", "--bogus"), 2);
    ck_assert_ptr_nonnull(strstr(err_out, "usage: tierctl"));
    ck_assert_int_eq(RUN("explain", "p-1", "--ladder"), 2);
    ck_assert_int_eq(RUN("--url"), 2);
    ck_assert_int_eq(RUN("--timeout", "soon", "ping"), 2);
}
END_TEST

START_TEST(test_missing_and_extra_arguments_are_usage_errors)
{
    ck_assert_int_eq(RUN("partner", "show"), 2);
    ck_assert_int_eq(RUN("partner", "show", "a", "b"), 2);
    ck_assert_int_eq(RUN("approve", "p-1"), 2);
    ck_assert_int_eq(RUN("override", "set", "p-1", "--ladder", "r", "--tier", "Gold"), 2);
    ck_assert_int_eq(RUN("event", "add", "--metric", "m"), 2);
}
END_TEST

START_TEST(test_event_value_must_be_a_finite_number)
{
    ck_assert_int_eq(RUN("--url", "ipc:///nonexistent/rpc.sock", "event", "add", "--partner", "p",
                         "--metric", "m", "--value", "nan"),
                     2);
    ck_assert_int_eq(RUN("--url", "ipc:///nonexistent/rpc.sock", "event", "add", "--partner", "p",
                         "--metric", "m", "--value", "1e999"),
                     2);
    ck_assert_int_eq(RUN("--url", "ipc:///nonexistent/rpc.sock", "event", "add", "--partner", "p",
                         "--metric", "m", "--value", "12abc"),
                     2);
}
END_TEST

START_TEST(test_help_prints_usage_and_succeeds)
{
    ck_assert_int_eq(RUN("--help"), 0);
    ck_assert_ptr_nonnull(strstr(out, "event import FILE"));
}
END_TEST

START_TEST(test_missing_ipc_socket_is_unreachable_at_once)
{
    char url[512];
    snprintf(url, sizeof url, "ipc://%s/nonexistent/rpc.sock", tmpdir);
    double secs;
    int rc = run(NULL, &secs, (const char *const[]){"--url", url, "ping", NULL});
    ck_assert_int_eq(rc, 3);
    ck_assert_double_lt(secs, 2.0);
    ck_assert_ptr_nonnull(strstr(err_out, "does not exist"));
}
END_TEST

START_TEST(test_silent_tcp_port_is_unreachable_within_the_timeout)
{
    double secs;
    int rc = run(NULL, &secs, (const char *const[]){"--url", "tcp://127.0.0.1:1", "ping", NULL});
    ck_assert_int_eq(rc, 3);
    ck_assert_double_lt(secs, 3.0);
    ck_assert_ptr_nonnull(strstr(err_out, "did not answer"));
}
END_TEST

START_TEST(test_import_of_a_missing_file_is_refused)
{
    char path[512];
    snprintf(path, sizeof path, "%s/none.ndjson", tmpdir);
    ck_assert_int_eq(RUN("--url", "ipc:///nonexistent/rpc.sock", "event", "import", path), 1);
}
END_TEST

/* ---- a scripted daemon -------------------------------------------------------- */

typedef enum fake_mode {
    FAKE_NORMAL,
    FAKE_STALE_FIRST, /* answer each request first with a wrong request id */
    FAKE_PUBLISHING,  /* Status lists pub.sock beside rpc.sock, so watches subscribe */
    FAKE_NOT_FOUND,   /* refuse everything with NOT_FOUND */
} fake_mode;

typedef struct fake {
    int sock;
    fake_mode mode;
    pthread_t tid;
    int calls;
    char methods[FAKE_MAX_CALLS][32];
    size_t batch_sizes[FAKE_MAX_CALLS];
    char token[64];
    _Atomic uint64_t max_seq; /* ListChanges knows changes 1..max_seq */
    char pub_url[FAKE_URL_MAX];
} fake;

static void fake_reply(fake *f, uint64_t id, int status, const char *msg,
                       const ProtobufCMessage *payload)
{
    Tierd__Reply r = TIERD__REPLY__INIT;
    r.request_id = id;
    r.status = (Tierd__Status)status;
    r.message = (char *)(msg ? msg : "");
    uint8_t *pbuf = NULL;
    if (payload) {
        pbuf = malloc(protobuf_c_message_get_packed_size(payload) + 1);
        r.payload.len = protobuf_c_message_pack(payload, pbuf);
        r.payload.data = pbuf;
    }
    size_t len = tierd__reply__get_packed_size(&r);
    uint8_t *buf = malloc(len + 1);
    tierd__reply__pack(&r, buf);
    nn_send(f->sock, buf, len, 0);
    free(buf);
    free(pbuf);
}

/* The per-item results of a batch, counted by outcome as a reply has them. */
typedef struct fake_items {
    Tierd__ItemResult *items;
    Tierd__ItemResult **ptrs;
    size_t n;
    uint32_t accepted, duplicate, rejected;
} fake_items;

/* Results for a batch of n the fake received (call number f->calls). */
static fake_items fake_items_new(fake *f, size_t n)
{
    if (f->calls <= FAKE_MAX_CALLS)
        f->batch_sizes[f->calls - 1] = n;
    fake_items r = {
        .items = calloc(n + 1, sizeof *r.items), .ptrs = calloc(n + 1, sizeof *r.ptrs), .n = n};
    ck_assert(r.items && r.ptrs);
    return r;
}

/* Item i, id, answered with outcome (and reason, for a rejection). */
static void fake_item(fake_items *r, size_t i, char *id, Tierd__Outcome outcome, char *reason)
{
    tierd__item_result__init(&r->items[i]);
    r->items[i].index = (uint32_t)i;
    r->items[i].id = id;
    r->items[i].outcome = outcome;
    r->items[i].reason = reason ? reason : "";
    r->ptrs[i] = &r->items[i];
    r->accepted += outcome == TIERD__OUTCOME__ACCEPTED;
    r->duplicate += outcome == TIERD__OUTCOME__DUPLICATE;
    r->rejected += outcome == TIERD__OUTCOME__REJECTED;
}

static void fake_items_free(fake_items *r)
{
    free(r->items);
    free(r->ptrs);
}

/* Ingest: every event is accepted except partner "ghost" (unknown) and a
 * repeated id (duplicate). */
static void fake_ingest(fake *f, const Tierd__Envelope *env)
{
    Tierd__IngestRequest *req =
        tierd__ingest_request__unpack(NULL, env->payload.len, env->payload.data);
    ck_assert_ptr_nonnull(req);
    fake_items r = fake_items_new(f, req->n_events);
    for (size_t i = 0; i < req->n_events; i++) {
        Tierd__Event *e = req->events[i];
        if (strcmp(e->partner, "ghost") == 0)
            fake_item(&r, i, e->id, TIERD__OUTCOME__REJECTED, "unknown partner 'ghost'");
        else if (strcmp(e->id, "dup") == 0)
            fake_item(&r, i, e->id, TIERD__OUTCOME__DUPLICATE, NULL);
        else
            fake_item(&r, i, e->id, TIERD__OUTCOME__ACCEPTED, NULL);
    }
    Tierd__IngestResponse resp = TIERD__INGEST_RESPONSE__INIT;
    resp.accepted = r.accepted;
    resp.duplicate = r.duplicate;
    resp.rejected = r.rejected;
    resp.n_results = r.n;
    resp.results = r.ptrs;
    fake_reply(f, env->request_id, 0, NULL, &resp.base);
    fake_items_free(&r);
    tierd__ingest_request__free_unpacked(req, NULL);
}

/* Explain: p-1 holds Selling on reseller since 2026-05-01 and is 208,000
 * of arr short of Specialist; it falls to Registered on 2027-03-01. */
static void fake_explain(fake *f, const Tierd__Envelope *env)
{
    Tierd__Criterion crit = TIERD__CRITERION__INIT, *critp = &crit;
    crit.metric = "arr";
    crit.op = ">=";
    crit.value = 42000;
    crit.threshold = 250000;
    crit.missing = 208000;
    Tierd__TierExplanation te = TIERD__TIER_EXPLANATION__INIT, *tep = &te;
    te.tier = "Specialist";
    te.when = "arr >= 250k";
    te.n_criteria = 1;
    te.criteria = &critp;
    Tierd__Gap gap = TIERD__GAP__INIT, *gapp = &gap;
    gap.metric = "arr";
    gap.op = ">=";
    gap.value = 42000;
    gap.threshold = 250000;
    gap.missing = 208000;
    Tierd__NextTier next = TIERD__NEXT_TIER__INIT;
    next.tier = "Specialist";
    next.n_gaps = 1;
    next.gaps = &gapp;
    Tierd__AtRisk risk = TIERD__AT_RISK__INIT;
    risk.date = 1803859200; /* 2027-03-01 */
    risk.tier = "Registered";
    Tierd__LadderExplanation l = TIERD__LADDER_EXPLANATION__INIT, *lp = &l;
    l.ladder = "reseller";
    l.tier = "Selling";
    l.qualifying = "Selling";
    l.since = 1777593600; /* 2026-05-01 */
    l.n_tiers = 1;
    l.tiers = &tep;
    l.next = &next;
    l.at_risk = &risk;
    Tierd__ExplainResponse resp = TIERD__EXPLAIN_RESPONSE__INIT;
    resp.partner = "p-1";
    resp.n_ladders = 1;
    resp.ladders = &lp;
    fake_reply(f, env->request_id, 0, NULL, &resp.base);
}

/* UpsertPartners: everyone is accepted except a partner with no types. */
static void fake_upsert(fake *f, const Tierd__Envelope *env)
{
    Tierd__UpsertPartnersRequest *req =
        tierd__upsert_partners_request__unpack(NULL, env->payload.len, env->payload.data);
    ck_assert_ptr_nonnull(req);
    fake_items r = fake_items_new(f, req->n_partners);
    for (size_t i = 0; i < req->n_partners; i++) {
        Tierd__Partner *p = req->partners[i];
        if (p->n_types == 0)
            fake_item(&r, i, p->id, TIERD__OUTCOME__REJECTED, "a partner needs at least one type");
        else
            fake_item(&r, i, p->id, TIERD__OUTCOME__ACCEPTED, NULL);
    }
    Tierd__UpsertPartnersResponse resp = TIERD__UPSERT_PARTNERS_RESPONSE__INIT;
    resp.accepted = r.accepted;
    resp.rejected = r.rejected;
    resp.n_results = r.n;
    resp.results = r.ptrs;
    fake_reply(f, env->request_id, 0, NULL, &resp.base);
    fake_items_free(&r);
    tierd__upsert_partners_request__free_unpacked(req, NULL);
}

static void fill_change(Tierd__TierChange *c, uint64_t seq)
{
    tierd__tier_change__init(c);
    c->sequence = seq;
    c->partner = seq % 2 ? "p-odd" : "p-even";
    c->ladder = "reseller";
    c->to_tier = "Selling";
    c->cause = TIERD__CAUSE__PROMOTION;
    c->at = 1777593600;
}

static void fake_list_changes(fake *f, const Tierd__Envelope *env)
{
    Tierd__ListChangesRequest *req =
        tierd__list_changes_request__unpack(NULL, env->payload.len, env->payload.data);
    ck_assert_ptr_nonnull(req);
    Tierd__ChangesResponse resp = TIERD__CHANGES_RESPONSE__INIT;
    Tierd__TierChange items[FAKE_MAX_CALLS];
    Tierd__TierChange *ptrs[FAKE_MAX_CALLS];
    for (uint64_t s = req->since + 1; s <= f->max_seq && resp.n_changes < FAKE_MAX_CALLS; s++) {
        fill_change(&items[resp.n_changes], s);
        ptrs[resp.n_changes] = &items[resp.n_changes];
        resp.n_changes++;
    }
    resp.changes = ptrs;
    resp.last_sequence = f->max_seq;
    fake_reply(f, env->request_id, 0, NULL, &resp.base);
    tierd__list_changes_request__free_unpacked(req, NULL);
}

static void publish_change(int pub, uint64_t seq)
{
    Tierd__TierChange c;
    fill_change(&c, seq);
    char topic[128];
    int tlen = snprintf(topic, sizeof topic, "change/%s/%s\n", c.ladder, c.partner);
    size_t len = (size_t)tlen + tierd__tier_change__get_packed_size(&c);
    uint8_t *buf = malloc(len);
    memcpy(buf, topic, (size_t)tlen);
    tierd__tier_change__pack(&c, buf + tlen);
    ck_assert_int_eq(nn_send(pub, buf, len, 0), (int)len);
    free(buf);
}

static void *fake_main(void *arg)
{
    fake *f = arg;
    for (;;) {
        void *msg = NULL;
        int n = nn_recv(f->sock, &msg, NN_MSG, 0);
        if (n < 0)
            return NULL;
        Tierd__Envelope *env = tierd__envelope__unpack(NULL, (size_t)n, msg);
        nn_freemsg(msg);
        if (!env)
            continue;
        if (f->calls < FAKE_MAX_CALLS)
            snprintf(f->methods[f->calls], sizeof f->methods[0], "%s", env->method);
        snprintf(f->token, sizeof f->token, "%s", env->token);
        f->calls++;
        if (f->mode == FAKE_NOT_FOUND) {
            fake_reply(f, env->request_id, TIERD__STATUS__NOT_FOUND, "unknown partner 'p-9'", NULL);
        } else if (strcmp(env->method, "Ingest") == 0) {
            fake_ingest(f, env);
        } else if (strcmp(env->method, "Explain") == 0) {
            fake_explain(f, env);
        } else if (strcmp(env->method, "UpsertPartners") == 0) {
            fake_upsert(f, env);
        } else if (strcmp(env->method, "ListChanges") == 0) {
            fake_list_changes(f, env);
        } else {
            Tierd__StatusResponse s = TIERD__STATUS_RESPONSE__INIT;
            s.version = "9.9.9";
            s.last_sequence = 7;
            char *publish[] = {f->pub_url};
            if (f->mode == FAKE_PUBLISHING) {
                s.n_publish = 1;
                s.publish = publish;
            }
            if (f->mode == FAKE_STALE_FIRST) {
                /* The only answer carries the wrong id: the client must
                 * not take it, and so runs into its deadline. */
                fake_reply(f, env->request_id + 1000, 0, NULL, &s.base);
            } else {
                fake_reply(f, env->request_id, 0, NULL, &s.base);
            }
        }
        tierd__envelope__free_unpacked(env, NULL);
    }
}

static fake *fake_start(fake_mode mode, char *url, size_t n)
{
    fake *f = calloc(1, sizeof *f);
    f->mode = mode;
    snprintf(url, n, "ipc://%s/rpc.sock", tmpdir);
    snprintf(f->pub_url, sizeof f->pub_url, "ipc://%s/pub.sock", tmpdir);
    f->sock = nn_socket(AF_SP, NN_REP);
    ck_assert_int_ge(f->sock, 0);
    ck_assert_int_ge(nn_bind(f->sock, url), 0);
    ck_assert_int_eq(pthread_create(&f->tid, NULL, fake_main, f), 0);
    return f;
}

static void fake_stop(fake *f)
{
    nn_close(f->sock);
    pthread_join(f->tid, NULL);
    free(f);
}

START_TEST(test_ping_sends_status_with_the_token)
{
    char url[512];
    fake *f = fake_start(FAKE_NORMAL, url, sizeof url);
    ck_assert_int_eq(RUN("--url", url, "--token", "s3cret", "--json", "ping"), 0);
    json_error_t je;
    json_t *doc = json_loads(out, 0, &je);
    ck_assert_msg(doc != NULL, "not JSON: %s", out);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "version")), "9.9.9");
    json_decref(doc);
    ck_assert_str_eq(f->methods[0], "Status");
    ck_assert_str_eq(f->token, "s3cret");
    fake_stop(f);
}
END_TEST

START_TEST(test_reply_with_a_stale_request_id_is_not_taken_as_the_answer)
{
    char url[512];
    fake *f = fake_start(FAKE_STALE_FIRST, url, sizeof url);
    double secs;
    int rc =
        run(NULL, &secs, (const char *const[]){"--url", url, "--timeout", "500", "ping", NULL});
    ck_assert_int_eq(rc, 3);
    ck_assert_double_lt(secs, 2.0);
    fake_stop(f);
}
END_TEST

START_TEST(test_refused_request_exits_1_with_code_and_message)
{
    char url[512];
    fake *f = fake_start(FAKE_NOT_FOUND, url, sizeof url);
    ck_assert_int_eq(RUN("--url", url, "partner", "show", "p-9"), 1);
    ck_assert_ptr_nonnull(strstr(err_out, "tierctl: NOT_FOUND: unknown partner 'p-9'"));
    ck_assert_str_eq(f->methods[0], "GetPartner");
    fake_stop(f);
}
END_TEST

START_TEST(test_event_import_maps_every_rejection_to_its_line)
{
    char url[512], path[512];
    fake *f = fake_start(FAKE_NORMAL, url, sizeof url);
    write_file("events.ndjson",
               "{\"id\":\"e1\",\"partner\":\"p-1\",\"metric\":\"deal_closed\",\"value\":12000,"
               "\"at\":\"2026-05-01T00:00:00Z\"}\n"
               "{not json\n"
               "\n"
               "{\"partner\":\"p-2\",\"name\":\"Beta\",\"types\":[\"reseller\"]}\n"
               "{\"id\":\"e4\",\"partner\":\"p-1\",\"metric\":\"arr\",\"value\":\"12\"}\n"
               "{\"id\":\"e5\",\"partner\":\"ghost\",\"metric\":\"arr\"}\n"
               "{\"id\":\"dup\",\"partner\":\"p-1\",\"metric\":\"arr\"}\n"
               "{\"id\":\"e7\",\"partner\":\"p-1\",\"metric\":\"arr\",\"vaule\":3}\n"
               "[1,2]\n"
               "{\"id\":\"e9\",\"partner\":\"p-1\",\"metric\":\"arr\",\"value\":1e999}\n",
               path, sizeof path);
    ck_assert_int_eq(RUN("--url", url, "--json", "event", "import", path), 1);
    json_error_t je;
    json_t *doc = json_loads(out, 0, &je);
    ck_assert_msg(doc != NULL, "not JSON: %s", out);
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "accepted")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "duplicate")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "rejected")), 7);
    json_t *errors = json_object_get(doc, "errors");
    ck_assert_int_eq(json_array_size(errors), 7);
    int lines[7];
    for (size_t i = 0; i < 7; i++)
        lines[i] = (int)json_integer_value(json_object_get(json_array_get(errors, i), "line"));
    /* in file order, whether tierctl or the daemon refused the line */
    int want[7] = {2, 4, 5, 6, 8, 9, 10};
    for (size_t i = 0; i < 7; i++)
        ck_assert_int_eq(lines[i], want[i]);
    const char *ghost = json_string_value(json_object_get(json_array_get(errors, 3), "reason"));
    ck_assert_str_eq(ghost, "unknown partner 'ghost'");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(errors, 3), "id")), "e5");
    json_decref(doc);
    ck_assert_int_eq(f->calls, 1);
    ck_assert_int_eq((int)f->batch_sizes[0], 3);
    fake_stop(f);
}
END_TEST

START_TEST(test_event_import_sends_large_files_in_batches_from_stdin)
{
    char url[512], path[512];
    fake *f = fake_start(FAKE_NORMAL, url, sizeof url);
    snprintf(path, sizeof path, "%s/big.ndjson", tmpdir);
    FILE *fp = fopen(path, "w");
    for (int i = 0; i < 2500; i++)
        fprintf(fp, "{\"id\":\"e%d\",\"partner\":\"p-1\",\"metric\":\"arr\",\"value\":%d}\n", i, i);
    fclose(fp);
    int rc = run(path, NULL, (const char *const[]){"--url", url, "event", "import", "-", NULL});
    ck_assert_int_eq(rc, 0);
    ck_assert_ptr_nonnull(strstr(out, "2,500 lines: 2,500 accepted, 0 duplicate, 0 rejected"));
    ck_assert_int_eq(f->calls, 3);
    /* Batches in flight reach the daemon in any order: two full, one of
     * the rest. */
    size_t full = 0, rest = 0;
    for (int i = 0; i < 3; i++) {
        full += f->batch_sizes[i] == 1000;
        rest += f->batch_sizes[i] == 500;
    }
    ck_assert_uint_eq(full, 2);
    ck_assert_uint_eq(rest, 1);
    fake_stop(f);
}
END_TEST

/* The daemon's log holds 1..12 and Status says 7 was the last before the
 * watch began; the PUB socket delivers 10, 12 and 11 only (as if 8, 9
 * and 11 were dropped first). Every change after 7 must print exactly
 * once, in order, with the gaps filled from ListChanges. 13, published
 * once 12 is out, ends the story: anything printed twice would come
 * before it. */
START_TEST(test_watch_fills_gaps_from_the_log_and_prints_each_change_once)
{
    char url[512];
    fake *f = fake_start(FAKE_PUBLISHING, url, sizeof url);
    f->max_seq = 12;
    int pub = nn_socket(AF_SP, NN_PUB);
    ck_assert_int_ge(nn_bind(pub, f->pub_url), 0);

    char opath[512];
    snprintf(opath, sizeof opath, "%s/watch.out", tmpdir);
    pid_t pid =
        tu_spawn((const char *const[]){tierctl_bin(), "--url", url, "--json", "watch", NULL}, NULL,
                 opath, NULL);
    ck_assert_int_ge(pid, 0);
    /* Our PUB counts the watch's connection once it will deliver to it. */
    ck_assert_msg(harness_wait_connected(pub, WATCH_WAIT_MS), "the watch did not subscribe");
    publish_change(pub, 10);
    publish_change(pub, 12);
    publish_change(pub, 11);
    tu_deadline d = tu_deadline_in(WATCH_WAIT_MS);
    while (tu_count_lines(opath) < 5 && tu_poll(&d))
        ;
    ck_assert_msg(tu_count_lines(opath) == 5, "8..12 did not print once each: %zu lines",
                  tu_count_lines(opath));
    f->max_seq = 13;
    publish_change(pub, 13);
    d = tu_deadline_in(WATCH_WAIT_MS);
    while (tu_count_lines(opath) < 6 && tu_poll(&d))
        ;
    kill(pid, SIGTERM);
    int status = -1;
    ck_assert(tu_wait_exit(pid, WATCH_WAIT_MS, &status));
    ck_assert_int_eq(status, 0);
    slurp(opath, out, sizeof out);
    uint64_t want = 8;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        json_error_t je;
        json_t *doc = json_loads(line, 0, &je);
        ck_assert_msg(doc != NULL, "not JSON: %s", line);
        ck_assert_int_eq(json_integer_value(json_object_get(doc, "sequence")), want);
        ck_assert_str_eq(json_string_value(json_object_get(doc, "cause")), "promotion");
        ck_assert(json_is_null(json_object_get(doc, "from")));
        json_decref(doc);
        want++;
    }
    ck_assert_int_eq(want, 14);
    nn_close(pub);
    fake_stop(f);
}
END_TEST

START_TEST(test_partner_import_refuses_event_lines_and_reports_daemon_rejections)
{
    char url[512], path[512];
    fake *f = fake_start(FAKE_NORMAL, url, sizeof url);
    write_file("partners.ndjson",
               "{\"partner\":\"p-1\",\"name\":\"Acme Ltd\",\"types\":[\"reseller\",\"services\"]}\n"
               "{\"id\":\"e1\",\"partner\":\"p-1\",\"metric\":\"arr\"}\n"
               "{\"partner\":\"p-2\"}\n"
               "{\"partner\":\"p-3\",\"types\":\"reseller\"}\n"
               "{\"partner\":\"p-4\",\"name\":\"\xff\xfe\",\"types\":[\"reseller\"]}\n",
               path, sizeof path);
    ck_assert_int_eq(RUN("--url", url, "partner", "import", path), 1);
    ck_assert_ptr_nonnull(strstr(out, "5 lines: 1 partners accepted, 4 rejected"));
    ck_assert_ptr_nonnull(strstr(err_out, "line 2: an event line"));
    ck_assert_ptr_nonnull(strstr(err_out, "line 3 (p-2): a partner needs at least one type"));
    ck_assert_ptr_nonnull(strstr(err_out, "line 4: \"types\" must be an array"));
    ck_assert_ptr_nonnull(strstr(err_out, "line 5: invalid JSON"));
    /* GetProgram first: a partner on no ladder gets a warning */
    ck_assert_int_eq(f->calls, 2);
    ck_assert_str_eq(f->methods[0], "GetProgram");
    ck_assert_str_eq(f->methods[1], "UpsertPartners");
    ck_assert_int_eq((int)f->batch_sizes[1], 2);
    fake_stop(f);
}
END_TEST

/* jansson quotes the token it stopped at, which can end halfway through a
 * UTF-8 character ("\\" then the first byte of "É"); the line must still
 * be listed with its reason (found by tests/fuzz/fuzz_ndjson). */
START_TEST(test_import_lists_a_line_whose_json_error_cuts_a_character)
{
    char url[512], path[512];
    fake *f = fake_start(FAKE_NORMAL, url, sizeof url);
    write_file("events.ndjson",
               "{\"id\":\"e1\",\"partner\":\"p-1\",\"metric\":\"deal_closed\"}\n"
               "{\"id\":\"C:\\\xc3\x89mile\",\"partner\":\"p-1\",\"metric\":\"arr\"}\n",
               path, sizeof path);
    ck_assert_int_eq(RUN("--url", url, "--json", "event", "import", path), 1);
    json_error_t je;
    json_t *doc = json_loads(out, 0, &je);
    ck_assert_msg(doc != NULL, "not JSON: %s", out);
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "rejected")), 1);
    json_t *errors = json_object_get(doc, "errors");
    ck_assert_int_eq(json_array_size(errors), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(errors, 0), "line")), 2);
    const char *reason = json_string_value(json_object_get(json_array_get(errors, 0), "reason"));
    ck_assert_msg(reason && strncmp(reason, "line 2: invalid JSON", 20) == 0, "%s",
                  reason ? reason : "(no reason)");
    json_decref(doc);
    fake_stop(f);
}
END_TEST

START_TEST(test_explain_says_what_is_missing_and_when_the_tier_is_at_risk)
{
    char url[512];
    fake *f = fake_start(FAKE_NORMAL, url, sizeof url);
    ck_assert_int_eq(RUN("--url", url, "explain", "p-1"), 0);
    ck_assert_ptr_nonnull(strstr(out, "reseller: Selling (since 2026-05-01)"));
    ck_assert_ptr_nonnull(
        strstr(out, "Specialist needs arr >= 250,000: 42,000 now, 208,000 to go"));
    ck_assert_ptr_nonnull(
        strstr(out, "at risk: falls to Registered on 2027-03-01 if nothing new arrives"));

    ck_assert_int_eq(RUN("--url", url, "--json", "explain", "p-1", "--ladder", "reseller"), 0);
    json_error_t je;
    json_t *doc = json_loads(out, 0, &je);
    ck_assert_msg(doc != NULL, "not one JSON document: %s", out);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "partner")), "p-1");
    ck_assert_str_eq(json_string_value(json_object_get(doc, "ladder")), "reseller");
    ck_assert_str_eq(json_string_value(json_object_get(doc, "tier")), "Selling");
    json_t *next = json_object_get(doc, "next");
    ck_assert_str_eq(json_string_value(json_object_get(next, "tier")), "Specialist");
    json_t *gap = json_array_get(json_object_get(next, "gaps"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(gap, "metric")), "arr");
    ck_assert(json_number_value(json_object_get(gap, "missing")) == 208000);
    ck_assert(json_number_value(json_object_get(gap, "threshold")) == 250000);
    json_t *risk = json_object_get(doc, "at_risk");
    ck_assert_str_eq(json_string_value(json_object_get(risk, "date")), "2027-03-01T00:00:00Z");
    ck_assert_str_eq(json_string_value(json_object_get(risk, "tier")), "Registered");
    json_decref(doc);
    fake_stop(f);
}
END_TEST

START_TEST(test_import_with_an_unreachable_daemon_exits_3)
{
    char path[512];
    write_file("one.ndjson", "{\"id\":\"e1\",\"partner\":\"p-1\",\"metric\":\"arr\"}\n", path,
               sizeof path);
    ck_assert_int_eq(RUN("--url", "ipc:///nonexistent/rpc.sock", "event", "import", path), 3);
}
END_TEST

/* ---- batches in flight: a daemon that holds its answers ------------------------ */

#define HOLD_QUIET_MS 300 /* answer whatever is held once nothing came for this long */
#define HOLD_MAX      64

typedef struct holder {
    int sock; /* raw REP: requests can be held and answered in any order */
    pthread_t tid;
    int max_held;
    int calls;
} holder;

static void holder_answer(holder *h, void *control, Tierd__Envelope *env)
{
    Tierd__IngestRequest *req =
        tierd__ingest_request__unpack(NULL, env->payload.len, env->payload.data);
    Tierd__IngestResponse resp = TIERD__INGEST_RESPONSE__INIT;
    resp.accepted = req ? (uint32_t)req->n_events : 0;
    Tierd__Reply r = TIERD__REPLY__INIT;
    r.request_id = env->request_id;
    uint8_t pbuf[64], buf[128];
    r.payload.len = tierd__ingest_response__pack(&resp, pbuf);
    r.payload.data = pbuf;
    size_t len = tierd__reply__pack(&r, buf);
    struct nn_iovec iov = {buf, len};
    struct nn_msghdr hdr = {&iov, 1, &control, NN_MSG};
    nn_sendmsg(h->sock, &hdr, 0);
    if (req)
        tierd__ingest_request__free_unpacked(req, NULL);
    tierd__envelope__free_unpacked(env, NULL);
}

static void *holder_main(void *arg)
{
    holder *h = arg;
    void *controls[HOLD_MAX];
    Tierd__Envelope *envs[HOLD_MAX];
    int held = 0;
    int tmo = HOLD_QUIET_MS;
    nn_setsockopt(h->sock, NN_SOL_SOCKET, NN_RCVTIMEO, &tmo, sizeof tmo);
    for (;;) {
        void *body = NULL, *control = NULL;
        struct nn_iovec iov = {&body, NN_MSG};
        struct nn_msghdr hdr = {&iov, 1, &control, NN_MSG};
        int n = nn_recvmsg(h->sock, &hdr, 0);
        if (n < 0) {
            if (errno != ETIMEDOUT && errno != EAGAIN)
                return NULL;
            for (int i = 0; i < held; i++)
                holder_answer(h, controls[i], envs[i]);
            held = 0;
            continue;
        }
        Tierd__Envelope *env = tierd__envelope__unpack(NULL, (size_t)n, body);
        nn_freemsg(body);
        if (!env || held == HOLD_MAX) {
            nn_freemsg(control);
            continue;
        }
        h->calls++;
        controls[held] = control;
        envs[held++] = env;
        if (held > h->max_held)
            h->max_held = held;
    }
}

static holder *holder_start(char *url, size_t n)
{
    holder *h = calloc(1, sizeof *h);
    snprintf(url, n, "ipc://%s/rpc.sock", tmpdir);
    h->sock = nn_socket(AF_SP_RAW, NN_REP);
    ck_assert_int_ge(h->sock, 0);
    ck_assert_int_ge(nn_bind(h->sock, url), 0);
    ck_assert_int_eq(pthread_create(&h->tid, NULL, holder_main, h), 0);
    return h;
}

static void holder_stop(holder *h)
{
    nn_close(h->sock);
    pthread_join(h->tid, NULL);
    free(h);
}

static void write_events(const char *path, int n)
{
    FILE *fp = fopen(path, "w");
    ck_assert_ptr_nonnull(fp);
    for (int i = 0; i < n; i++)
        fprintf(fp, "{\"id\":\"e%d\",\"partner\":\"p-1\",\"metric\":\"arr\",\"value\":%d}\n", i, i);
    fclose(fp);
}

START_TEST(test_event_import_keeps_several_batches_in_flight)
{
    char url[512], path[512];
    holder *h = holder_start(url, sizeof url);
    snprintf(path, sizeof path, "%s/four.ndjson", tmpdir);
    write_events(path, 4000);
    ck_assert_int_eq(RUN("--url", url, "event", "import", path), 0);
    ck_assert_ptr_nonnull(strstr(out, "4,000 lines: 4,000 accepted"));
    ck_assert_int_eq(h->calls, 4);
    /* All four batches were sent before the first answer came back. */
    ck_assert_int_eq(h->max_held, 4);
    holder_stop(h);
}
END_TEST

START_TEST(test_event_import_with_in_flight_1_sends_one_batch_at_a_time)
{
    char url[512], path[512];
    holder *h = holder_start(url, sizeof url);
    snprintf(path, sizeof path, "%s/three.ndjson", tmpdir);
    write_events(path, 3000);
    ck_assert_int_eq(RUN("--url", url, "event", "import", path, "--in-flight", "1"), 0);
    ck_assert_ptr_nonnull(strstr(out, "3,000 lines: 3,000 accepted"));
    ck_assert_int_eq(h->calls, 3);
    ck_assert_int_eq(h->max_held, 1);
    ck_assert_int_eq(RUN("--url", url, "event", "import", path, "--in-flight", "0"), 2);
    ck_assert_ptr_nonnull(strstr(err_out, "--in-flight: '0' is not a whole number from 1 to"));
    holder_stop(h);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("tierctl_offline");
    TCase *tc = tcase_create("offline");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_no_arguments_is_a_usage_error);
    tcase_add_test(tc, test_unknown_command_is_a_usage_error);
    tcase_add_test(tc, test_group_without_subcommand_is_a_usage_error);
    tcase_add_test(tc, test_unknown_option_and_missing_value_are_usage_errors);
    tcase_add_test(tc, test_missing_and_extra_arguments_are_usage_errors);
    tcase_add_test(tc, test_event_value_must_be_a_finite_number);
    tcase_add_test(tc, test_help_prints_usage_and_succeeds);
    tcase_add_test(tc, test_missing_ipc_socket_is_unreachable_at_once);
    tcase_add_test(tc, test_silent_tcp_port_is_unreachable_within_the_timeout);
    tcase_add_test(tc, test_import_of_a_missing_file_is_refused);
    tcase_add_test(tc, test_ping_sends_status_with_the_token);
    tcase_add_test(tc, test_reply_with_a_stale_request_id_is_not_taken_as_the_answer);
    tcase_add_test(tc, test_refused_request_exits_1_with_code_and_message);
    tcase_add_test(tc, test_event_import_maps_every_rejection_to_its_line);
    tcase_add_test(tc, test_event_import_sends_large_files_in_batches_from_stdin);
    tcase_add_test(tc, test_event_import_keeps_several_batches_in_flight);
    tcase_add_test(tc, test_event_import_with_in_flight_1_sends_one_batch_at_a_time);
    tcase_add_test(tc, test_import_with_an_unreachable_daemon_exits_3);
    tcase_add_test(tc, test_explain_says_what_is_missing_and_when_the_tier_is_at_risk);
    tcase_add_test(tc, test_partner_import_refuses_event_lines_and_reports_daemon_rejections);
    tcase_add_test(tc, test_import_lists_a_line_whose_json_error_cuts_a_character);
    tcase_add_test(tc, test_watch_fills_gaps_from_the_log_and_prints_each_change_once);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(suite());
}
