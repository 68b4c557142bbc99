/* Backup, restore and export against the real tierd and tierctl
 * (docs/tierd.md "Backup and restore", docs/tierctl.md "backup" and
 * "export"):
 *
 * - a backup taken while a thread keeps ingesting restores (tierd
 *   --restore into a new dir, then tierd on it) to the source's state at
 *   the backup's moment: the changes up to the sequence it reports, the
 *   events it counts and no later one, and the tiers a fresh tierd fed
 *   exactly those events reaches;
 * - export then import into an empty tierd gives the same partners,
 *   facts (amended and retracted events included) and tiers;
 * - hostile: a backup without an admin token, a restore of a file that is
 *   not a store or is cut short, into a dir holding a store or one a tierd
 *   runs on: each refused with a message saying why;
 * - log_format: json: every line tierd writes parses as one JSON object. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define FAKE_NOW     "2026-11-15T00:00:00Z"
#define N_PARTNERS   40
#define BATCH        500
#define ID_MAX       32
#define MIN_BATCHES  4 /* batches in before the backup starts */
#define MORE_BATCHES 2 /* batches in after it ended, so later events exist */
#define WAIT_MS      60000
#define CHANGES_PAGE 1000
#define TOKEN_READ   "backup-read-token-0123456789"
#define TOKEN_ADMIN  "backup-admin-token-0123456789"

/* Sums only: tiers follow from the set of events, whatever their order. */
static const char *program_yaml = "program: backup-test\n"
                                  "version: \"b1\"\n"
                                  "metrics:\n"
                                  "  arr:   { agg: sum,   event: deal_closed, window: 365d }\n"
                                  "  deals: { agg: count, event: deal_closed, window: 365d }\n"
                                  "  people: { agg: distinct, event: certified, window: 365d }\n"
                                  "ladders:\n"
                                  "  reseller:\n"
                                  "    partner_types: [reseller]\n"
                                  "    tiers:\n"
                                  "      - { name: Bronze, when: arr >= 2k }\n"
                                  "      - { name: Silver, when: arr >= 20k and deals >= 10 }\n"
                                  "      - { name: Gold,   when: arr >= 60k and people >= 2 }\n";

static void start_with_program(harness *h, const char *config)
{
    char program[HARNESS_PATH_MAX];
    harness_init(h);
    if (config)
        harness_write_config(h, config);
    harness_write_file(h, "program.yaml", program_yaml, program, sizeof program);
    HARNESS_START_OK(h, "--fake-clock", FAKE_NOW, "--program", program, NULL);
}

static void partner_id(int i, char *out)
{
    snprintf(out, ID_MAX, "p-%03d", i);
}

static void put_partners(const harness *h)
{
    td_client *cli = harness_client(h, NULL);
    Tierd__Partner ps[N_PARTNERS], *ptrs[N_PARTNERS];
    char ids[N_PARTNERS][ID_MAX];
    char *types[] = {"reseller"};
    for (int i = 0; i < N_PARTNERS; i++) {
        tierd__partner__init(&ps[i]);
        partner_id(i, ids[i]);
        ps[i].id = ids[i];
        ps[i].name = ids[i];
        ps[i].types = types;
        ps[i].n_types = 1;
        ptrs[i] = &ps[i];
    }
    Tierd__UpsertPartnersRequest req = TIERD__UPSERT_PARTNERS_REQUEST__INIT;
    req.partners = ptrs;
    req.n_partners = N_PARTNERS;
    Tierd__UpsertPartnersResponse *r = NULL;
    td_error err;
    ck_assert_msg(td_client_upsert_partners(cli, &req, &r, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(r->accepted, N_PARTNERS);
    tierd__upsert_partners_response__free_unpacked(r, NULL);
    td_client_close(cli);
}

/* Sends batch number b (events b*BATCH ..) and asserts all were accepted. */
static int send_batch(td_client *cli, size_t b, td_error *err)
{
    Tierd__Event evs[BATCH], *ptrs[BATCH];
    char ids[BATCH][ID_MAX], partners[BATCH][ID_MAX];
    for (size_t i = 0; i < BATCH; i++) {
        size_t n = b * BATCH + i;
        tierd__event__init(&evs[i]);
        snprintf(ids[i], ID_MAX, "e-%08zu", n);
        partner_id((int)(n % N_PARTNERS), partners[i]);
        evs[i].source = "crm";
        evs[i].id = ids[i];
        evs[i].partner = partners[i];
        evs[i].metric = "deal_closed";
        evs[i].value = (double)(10 * (n % 13 + 1));
        evs[i].has_value = true;
        evs[i].at = "2026-06-01T00:00:00Z";
        ptrs[i] = &evs[i];
    }
    Tierd__IngestRequest req = TIERD__INGEST_REQUEST__INIT;
    req.events = ptrs;
    req.n_events = BATCH;
    Tierd__IngestResponse *r = NULL;
    int rc = td_client_ingest(cli, &req, &r, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < r->n_results; i++)
        ck_assert_int_eq(r->results[i]->outcome, TIERD__OUTCOME__ACCEPTED);
    tierd__ingest_response__free_unpacked(r, NULL);
    return 0;
}

typedef struct ingester {
    const harness *h;
    atomic_size_t batches; /* batches accepted */
    atomic_bool stop;
    int rc;
    td_error err;
} ingester;

static void *ingest_loop(void *arg)
{
    ingester *g = arg;
    td_client *cli = harness_client(g->h, NULL);
    while (!atomic_load(&g->stop)) {
        g->rc = send_batch(cli, atomic_load(&g->batches), &g->err);
        if (g->rc)
            break;
        atomic_fetch_add(&g->batches, 1);
    }
    td_client_close(cli);
    return NULL;
}

static bool batches_at_least(ingester *g, size_t n)
{
    tu_deadline d = tu_deadline_in(WAIT_MS);
    while (atomic_load(&g->batches) < n && g->rc == 0 && tu_poll(&d))
        ;
    return atomic_load(&g->batches) >= n;
}

/* tierctl --json backup file on h: the numbers it reports. */
static json_t *backup_json(const harness *h, const char *file)
{
    char *out = harness_tierctl_expect(h, 0, (const char *const[]){"--json", "backup", file, NULL});
    json_error_t e;
    json_t *o = json_loads(out, 0, &e);
    ck_assert_msg(o != NULL, "backup output is not JSON: %s", out);
    free(out);
    return o;
}

static uint64_t jnum(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    ck_assert_msg(json_is_integer(v), "no %s", key);
    return (uint64_t)json_integer_value(v);
}

/* Runs the tierd binary with argv (NULL-terminated); its stderr into *err
 * (malloc'd). Returns its exit status. */
static int run_tierd(const harness *h, const char *const *argv, char **err)
{
    char path[HARNESS_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/run-tierd.err", h->work);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || dup2(fd, STDERR_FILENO) < 0)
            _exit(127);
        const char *args[HARNESS_MAX_ARGS] = {getenv("TIERD_BIN")};
        size_t n = 1;
        for (; argv[n - 1] && n < HARNESS_MAX_ARGS - 1; n++)
            args[n] = argv[n - 1];
        args[n] = NULL;
        execv(args[0], (char *const *)args);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char *buf = calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = 0;
    fclose(f);
    *err = buf;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
#define RUN_TIERD(h, err, ...) run_tierd((h), (const char *const[]){__VA_ARGS__, NULL}, (err))

/* Every change with sequence <= upto, packed, in order, appended to *buf. */
static size_t packed_changes(const harness *h, uint64_t upto, uint8_t **buf)
{
    td_client *cli = harness_client(h, NULL);
    size_t len = 0, cap = 0;
    *buf = NULL;
    uint64_t since = 0;
    for (;;) {
        Tierd__ChangesResponse *r = NULL;
        td_error err;
        ck_assert_msg(td_client_list_changes(cli, since, CHANGES_PAGE, &r, &err) == 0, "%s",
                      err.message);
        size_t i = 0;
        for (; i < r->n_changes && r->changes[i]->sequence <= upto; i++) {
            size_t n = tierd__tier_change__get_packed_size(r->changes[i]);
            if (len + n > cap) {
                cap = (len + n) * 2;
                *buf = realloc(*buf, cap);
                ck_assert_ptr_nonnull(*buf);
            }
            tierd__tier_change__pack(r->changes[i], *buf + len);
            len += n;
            since = r->changes[i]->sequence;
        }
        bool end = r->n_changes == 0 || i < r->n_changes;
        tierd__changes_response__free_unpacked(r, NULL);
        if (end)
            break;
    }
    td_client_close(cli);
    return len;
}

static uint64_t last_sequence(const harness *h)
{
    td_client *cli = harness_client(h, NULL);
    Tierd__ChangesResponse *r = NULL;
    td_error err;
    ck_assert_msg(td_client_list_changes(cli, UINT64_MAX - 1, 1, &r, &err) == 0, "%s", err.message);
    uint64_t s = r->last_sequence;
    tierd__changes_response__free_unpacked(r, NULL);
    td_client_close(cli);
    return s;
}

static char *tierctl_out(const harness *h, const char *const *argv)
{
    return harness_tierctl_expect(h, 0, argv);
}
#define TIERCTL_OUT(h, ...) tierctl_out((h), (const char *const[]){__VA_ARGS__, NULL})

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

START_TEST(test_a_backup_taken_during_ingest_restores_the_state_at_its_moment)
{
    harness src;
    start_with_program(&src, NULL);
    put_partners(&src);
    ingester g = {.h = &src};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, ingest_loop, &g), 0);
    ck_assert_msg(batches_at_least(&g, MIN_BATCHES), "ingest stalled: %s", g.err.message);

    char file[HARNESS_PATH_MAX + 16];
    snprintf(file, sizeof file, "%s/backup.mdb", src.work);
    json_t *b = backup_json(&src, file);
    size_t after = atomic_load(&g.batches);
    ck_assert_msg(batches_at_least(&g, after + MORE_BATCHES), "ingest stalled: %s", g.err.message);
    atomic_store(&g.stop, true);
    pthread_join(th, NULL);
    ck_assert_msg(g.rc == 0, "%s", g.err.message);

    uint64_t events = jnum(b, "events"), seq = jnum(b, "last_sequence");
    uint64_t total = atomic_load(&g.batches) * BATCH;
    /* Taken mid-stream: whole batches (each commits at once), some of them,
     * not all. */
    ck_assert_uint_eq(events % BATCH, 0);
    ck_assert_uint_ge(events, MIN_BATCHES * BATCH);
    ck_assert_uint_lt(events, total);
    ck_assert_uint_eq(jnum(b, "partners"), N_PARTNERS);
    struct stat st;
    ck_assert_int_eq(stat(file, &st), 0);
    ck_assert_uint_eq((uint64_t)st.st_size, jnum(b, "size"));
    json_decref(b);

    /* Restore into a new dir and serve it. */
    harness dst;
    harness_init(&dst);
    char *err = NULL;
    int rc = RUN_TIERD(&dst, &err, "--restore", file, "--state-dir", dst.state);
    ck_assert_msg(rc == 0, "restore failed: %s", err);
    free(err);
    HARNESS_START_OK(&dst, "--fake-clock", FAKE_NOW, NULL);

    /* The change log up to the backup's sequence, byte for byte, and no
     * later change. */
    ck_assert_uint_eq(last_sequence(&dst), seq);
    uint8_t *a = NULL, *c = NULL;
    size_t alen = packed_changes(&src, seq, &a), clen = packed_changes(&dst, seq, &c);
    ck_assert_uint_eq(alen, clen);
    ck_assert(alen == 0 || memcmp(a, c, alen) == 0);
    free(a);
    free(c);

    /* The events up to the backup and none after: the same as a fresh
     * tierd given exactly the first `events` events, and the same tiers. */
    harness ref;
    start_with_program(&ref, NULL);
    put_partners(&ref);
    td_client *rcli = harness_client(&ref, NULL);
    for (size_t i = 0; i < events / BATCH; i++) {
        td_error e;
        ck_assert_msg(send_batch(rcli, i, &e) == 0, "%s", e.message);
    }
    td_client_close(rcli);
    char *ev_dst = TIERCTL_OUT(&dst, "export", "events");
    char *ev_ref = TIERCTL_OUT(&ref, "export", "events");
    ck_assert_uint_eq(count_lines(ev_dst), events);
    ck_assert_str_eq(ev_dst, ev_ref);
    char *tiers_dst = TIERCTL_OUT(&dst, "--json", "partner", "list", "--limit", "1000");
    char *tiers_ref = TIERCTL_OUT(&ref, "--json", "partner", "list", "--limit", "1000");
    ck_assert_str_eq(tiers_dst, tiers_ref);
    /* The source went on: its later events are not in the copy. */
    char *ev_src = TIERCTL_OUT(&src, "export", "events");
    ck_assert_uint_eq(count_lines(ev_src), total);
    free(ev_src);
    free(ev_dst);
    free(ev_ref);
    free(tiers_dst);
    free(tiers_ref);
    /* The daemon removed its copy once tierctl had it. */
    char *left = harness_log(&src);
    ck_assert_ptr_nonnull(strstr(left, "backup"));
    free(left);
    harness_finish(&ref);
    harness_finish(&dst);
    harness_finish(&src);
}
END_TEST

static const char *partners_ndjson =
    "{\"partner\":\"p-001\",\"name\":\"Acme Ltd\",\"types\":[\"reseller\"],"
    "\"attrs\":{\"region\":\"emea\",\"size\":\"large\"}}\n"
    "{\"partner\":\"p-002\",\"name\":\"Beta \\\"Quoted\\\" GmbH\",\"types\":[\"reseller\"]}\n"
    "{\"partner\":\"p-003\",\"types\":[\"reseller\",\"services\"],\"attrs\":{\"region\":\"apac\"}}"
    "\n"
    "{\"partner\":\"p-004\",\"name\":\"No ladder\"}\n";

static const char *events_ndjson =
    "{\"id\":\"d1\",\"source\":\"crm\",\"partner\":\"p-001\",\"metric\":\"deal_closed\","
    "\"value\":30000,\"at\":\"2026-06-01T00:00:00Z\"}\n"
    "{\"id\":\"d2\",\"source\":\"crm\",\"partner\":\"p-001\",\"metric\":\"deal_closed\","
    "\"value\":40000,\"at\":\"2026-07-01\"}\n"
    "{\"id\":\"c1\",\"source\":\"lms\",\"partner\":\"p-001\",\"metric\":\"certified\","
    "\"at\":\"2026-07-01\",\"key\":\"alice\"}\n"
    "{\"id\":\"c2\",\"source\":\"lms\",\"partner\":\"p-001\",\"metric\":\"certified\","
    "\"at\":\"2026-07-02\",\"key\":\"bob\"}\n"
    "{\"id\":\"d3\",\"source\":\"crm\",\"partner\":\"p-002\",\"metric\":\"deal_closed\","
    "\"value\":50000,\"at\":\"2026-08-01T00:00:00Z\"}\n"
    "{\"id\":\"d4\",\"source\":\"crm\",\"partner\":\"p-003\",\"metric\":\"deal_closed\","
    "\"value\":3000,\"at\":\"2026-08-01T00:00:00Z\"}\n"
    /* d2 amended down, c2 retracted: p-001 drops below Gold. */
    "{\"id\":\"d2\",\"source\":\"crm\",\"partner\":\"p-001\",\"metric\":\"deal_closed\","
    "\"value\":20000,\"at\":\"2026-07-03\",\"op\":\"amend\",\"revision\":3}\n"
    "{\"id\":\"c2\",\"source\":\"lms\",\"op\":\"retract\"}\n";

START_TEST(test_export_then_import_into_an_empty_tierd_gives_the_same_facts_and_tiers)
{
    harness src, dst;
    start_with_program(&src, NULL);
    start_with_program(&dst, NULL);
    char pfile[HARNESS_PATH_MAX], efile[HARNESS_PATH_MAX];
    harness_write_file(&src, "partners.ndjson", partners_ndjson, pfile, sizeof pfile);
    harness_write_file(&src, "events.ndjson", events_ndjson, efile, sizeof efile);
    HARNESS_TIERCTL_OK(&src, "partner", "import", pfile);
    HARNESS_TIERCTL_OK(&src, "event", "import", efile, "--in-flight", "1");

    char pout[HARNESS_PATH_MAX + 32], eout[HARNESS_PATH_MAX + 32];
    snprintf(pout, sizeof pout, "%s/export-partners.ndjson", src.work);
    snprintf(eout, sizeof eout, "%s/export-events.ndjson", src.work);
    HARNESS_TIERCTL_OK(&src, "export", "partners", "--output", pout);
    HARNESS_TIERCTL_OK(&src, "export", "events", "--output", eout);
    HARNESS_TIERCTL_OK(&dst, "partner", "import", pout);
    HARNESS_TIERCTL_OK(&dst, "event", "import", eout);

    /* The same partners (names, types, attributes) and the same facts,
     * revisions and retractions included. */
    char *a = TIERCTL_OUT(&src, "export", "partners");
    char *b = TIERCTL_OUT(&dst, "export", "partners");
    ck_assert_str_eq(a, b);
    ck_assert_ptr_nonnull(strstr(a, "\"attrs\":{\"region\":\"emea\",\"size\":\"large\"}"));
    free(a);
    free(b);
    a = TIERCTL_OUT(&src, "export", "events");
    b = TIERCTL_OUT(&dst, "export", "events");
    ck_assert_str_eq(a, b);
    ck_assert_ptr_nonnull(strstr(a, "\"op\":\"amend\",\"revision\":3"));
    ck_assert_ptr_nonnull(strstr(a, "{\"id\":\"c2\",\"source\":\"lms\",\"op\":\"retract\"}"));
    free(a);
    free(b);
    /* The same tiers for every partner. */
    a = TIERCTL_OUT(&src, "partner", "list", "--limit", "1000");
    b = TIERCTL_OUT(&dst, "partner", "list", "--limit", "1000");
    ck_assert_str_eq(a, b);
    ck_assert_ptr_nonnull(strstr(a, "Bronze"));
    free(a);
    free(b);
    /* Re-importing the export into the source changes nothing. */
    HARNESS_TIERCTL_OK(&src, "event", "import", eout);
    a = TIERCTL_OUT(&src, "stats");
    b = TIERCTL_OUT(&dst, "stats");
    ck_assert_str_eq(a, b);
    free(a);
    free(b);
    /* Changes: one TierChange object a line, with --since by sequence. */
    a = TIERCTL_OUT(&src, "export", "changes");
    ck_assert_uint_gt(count_lines(a), 1);
    json_error_t e;
    json_t *first = json_loadb(a, strcspn(a, "\n"), 0, &e);
    ck_assert_ptr_nonnull(first);
    ck_assert_int_eq(json_integer_value(json_object_get(first, "sequence")), 1);
    json_decref(first);
    b = TIERCTL_OUT(&src, "export", "changes", "--since", "1");
    ck_assert_uint_eq(count_lines(b), count_lines(a) - 1);
    free(a);
    free(b);
    harness_finish(&dst);
    harness_finish(&src);
}
END_TEST

START_TEST(test_export_pages_through_more_items_than_a_page)
{
    harness h;
    start_with_program(&h, NULL);
    put_partners(&h);
    td_client *cli = harness_client(&h, NULL);
    for (size_t i = 0; i < 5; i++) {
        td_error e;
        ck_assert_msg(send_batch(cli, i, &e) == 0, "%s", e.message);
    }
    td_client_close(cli);
    char *out = TIERCTL_OUT(&h, "export", "events");
    ck_assert_uint_eq(count_lines(out), 5 * BATCH);
    free(out);
    out = TIERCTL_OUT(&h, "export", "events", "--since", "2026-07-01");
    ck_assert_uint_eq(count_lines(out), 0);
    free(out);
    harness_finish(&h);
}
END_TEST

static const char *tokens_config = "tokens:\n"
                                   "  - {name: reader, token: " TOKEN_READ ", role: read}\n"
                                   "  - {name: admin, token: " TOKEN_ADMIN ", role: admin}\n";

START_TEST(test_backup_and_restore_refuse_what_they_must_and_say_why)
{
    harness h;
    start_with_program(&h, tokens_config);
    h.token = TOKEN_ADMIN;
    put_partners(&h);
    char file[HARNESS_PATH_MAX + 16];
    snprintf(file, sizeof file, "%s/refused.mdb", h.work);

    /* A read token may export but not back up. */
    h.token = TOKEN_READ;
    char *out = NULL, *err = NULL;
    int rc = HARNESS_TIERCTL(&h, &out, &err, "backup", file);
    ck_assert_int_eq(rc, 1);
    ck_assert_msg(strstr(err, "lacks role admin for Backup"), "%s", err);
    ck_assert_int_ne(access(file, F_OK), 0);
    free(out);
    free(err);
    HARNESS_TIERCTL_OK(&h, "export", "partners");

    /* A copy an earlier run left behind goes with the next backup. */
    char leftover[HARNESS_PATH_MAX + 32];
    snprintf(leftover, sizeof leftover, "%s/backup-OLD123", h.state);
    FILE *lf = fopen(leftover, "w");
    ck_assert_ptr_nonnull(lf);
    fclose(lf);
    h.token = TOKEN_ADMIN;
    snprintf(file, sizeof file, "%s/good.mdb", h.work);
    json_decref(backup_json(&h, file));

    harness dst;
    harness_init(&dst);
    /* Not a store at all. */
    char junk[HARNESS_PATH_MAX];
    harness_write_file(&dst, "junk.mdb", "this is not an LMDB file\n", junk, sizeof junk);
    rc = RUN_TIERD(&dst, &err, "--restore", junk, "--state-dir", dst.state);
    ck_assert_int_eq(rc, 1);
    ck_assert_msg(strstr(err, "is not a tierd store"), "%s", err);
    free(err);
    /* A backup cut short. */
    char cut[HARNESS_PATH_MAX + 16];
    snprintf(cut, sizeof cut, "%s/cut.mdb", dst.work);
    struct stat st;
    ck_assert_int_eq(stat(file, &st), 0);
    {
        FILE *in = fopen(file, "rb"), *o = fopen(cut, "wb");
        ck_assert(in && o);
        char *buf = malloc((size_t)st.st_size);
        size_t n = fread(buf, 1, (size_t)st.st_size, in);
        ck_assert_uint_eq(n, (size_t)st.st_size);
        fwrite(buf, 1, n / 2, o);
        free(buf);
        fclose(in);
        fclose(o);
    }
    rc = RUN_TIERD(&dst, &err, "--restore", cut, "--state-dir", dst.state);
    ck_assert_int_eq(rc, 1);
    ck_assert_msg(strstr(err, "is truncated"), "%s", err);
    free(err);
    /* Nothing was put in place by the refusals. */
    char data[HARNESS_PATH_MAX + 32];
    snprintf(data, sizeof data, "%s/tierd.mdb", dst.state);
    ck_assert_int_ne(access(data, F_OK), 0);

    /* A dir a tierd runs on, even with --force. */
    rc = RUN_TIERD(&dst, &err, "--restore", file, "--state-dir", h.state, "--force");
    ck_assert_int_eq(rc, 1);
    ck_assert_msg(strstr(err, "is in use by pid"), "%s", err);
    free(err);
    /* A dir holding a store: only with --force. */
    rc = RUN_TIERD(&dst, &err, "--restore", file, "--state-dir", dst.state);
    ck_assert_msg(rc == 0, "%s", err);
    free(err);
    rc = RUN_TIERD(&dst, &err, "--restore", file, "--state-dir", dst.state);
    ck_assert_int_eq(rc, 1);
    ck_assert_msg(strstr(err, "already holds a store"), "%s", err);
    free(err);
    rc = RUN_TIERD(&dst, &err, "--restore", file, "--state-dir", dst.state, "--force");
    ck_assert_msg(rc == 0, "%s", err);
    free(err);
    /* Neither the copy nor the leftover stays in the source's state dir. */
    char *ls = NULL;
    {
        char cmd[HARNESS_PATH_MAX + 64];
        snprintf(cmd, sizeof cmd, "ls %s", h.state);
        FILE *p = popen(cmd, "r");
        ls = calloc(1, 4096);
        size_t n = fread(ls, 1, 4095, p);
        ls[n] = 0;
        pclose(p);
    }
    ck_assert_msg(!strstr(ls, "backup-"), "left in the state dir: %s", ls);
    free(ls);
    harness_cleanup(&dst);
    harness_finish(&h);
}
END_TEST

START_TEST(test_log_format_json_gives_one_json_object_a_line)
{
    harness h;
    start_with_program(&h, "log_format: json\n");
    put_partners(&h);
    char file[HARNESS_PATH_MAX + 16];
    snprintf(file, sizeof file, "%s/b.mdb", h.work);
    json_decref(backup_json(&h, file));
    ck_assert_int_eq(harness_stop(&h), 0);
    char *log = harness_log(&h);
    size_t lines = 0;
    bool backup_fields = false;
    for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n")) {
        json_error_t e;
        json_t *o = json_loads(line, 0, &e);
        ck_assert_msg(json_is_object(o), "not a JSON object: %s", line);
        ck_assert(json_is_string(json_object_get(o, "time")));
        ck_assert(json_is_string(json_object_get(o, "level")));
        ck_assert(json_is_string(json_object_get(o, "message")));
        json_t *f = json_object_get(o, "fields");
        ck_assert(json_is_object(f));
        backup_fields |= json_is_integer(json_object_get(f, "events")) &&
                         json_is_string(json_object_get(f, "backup"));
        json_decref(o);
        lines++;
    }
    ck_assert_uint_gt(lines, 3);
    ck_assert_msg(backup_fields, "no backup line with its fields");
    free(log);
    harness_cleanup(&h);
}
END_TEST

static Suite *backup_suite(void)
{
    Suite *s = suite_create("backup");
    TCase *tc = tcase_create("backup");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_a_backup_taken_during_ingest_restores_the_state_at_its_moment);
    tcase_add_test(tc, test_export_then_import_into_an_empty_tierd_gives_the_same_facts_and_tiers);
    tcase_add_test(tc, test_export_pages_through_more_items_than_a_page);
    tcase_add_test(tc, test_backup_and_restore_refuse_what_they_must_and_say_why);
    tcase_add_test(tc, test_log_format_json_gives_one_json_object_a_line);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(backup_suite());
}
