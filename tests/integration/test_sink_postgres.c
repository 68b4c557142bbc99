/* The postgres sink end to end: the real tierd supervising a real
 * tierd-connector running the postgres plugin's sink direction against a
 * real PostgreSQL (tests/plugins/pgserver.c).
 *
 * Every test ends by comparing the whole CRM table with the daemon: each
 * partner's tier and since per ladder (GetTiers) and the names of the
 * benefits it holds there (GetBenefits); a partner/ladder without a row
 * must be unranked. In between: tierd stopped and started again while the
 * sink is behind, the connector host killed with SIGKILL, PostgreSQL down
 * and up again, and tables or plugins the sink cannot use. */
#include <check.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed.h"
#include "harness.h"
#include "pgserver.h"
#include "testhost.h"
#include "testutil.h"

#define WAIT_MS      60000
#define TEXT_MAX     8192
#define PARTNER_FMT  "p-%05d"
#define FAKE_NOW     "2026-01-01T00:00:00Z"
#define CONNECTOR    "crm-tiers"
#define PIDS_MAX     4
#define NAMES_MAX    256
#define ID_MAX       32
#define PARTNERS_MAX 5000

static pgserver pg;
static harness h;
static td_client *cli;
static char plugdir[HARNESS_PATH_MAX + 16];
static char prog[HARNESS_PATH_MAX + 16];

static const char *program_yaml =
    "program: sink-test\n"
    "version: \"1\"\n"
    "metrics:\n"
    "  deals: { agg: count, event: deal_closed }\n"
    "ladders:\n"
    "  reseller:\n"
    "    partner_types: [reseller]\n"
    "    tiers:\n"
    "      - { name: Registered, when: deals >= 1, benefits: [portal, margin=2] }\n"
    "      - { name: Selling, when: deals >= 2, benefits: [margin=5] }\n"
    "      - { name: Gold, when: deals >= 3, benefits: [mdf=big, margin=8] }\n"
    "  services:\n"
    "    partner_types: [services]\n"
    "    tiers:\n"
    "      - { name: Certified, when: deals >= 1, benefits: [badge] }\n";

#define SINK_YAML_FMT                                                                              \
    "plugin_dir: %s\n"                                                                             \
    "connectors:\n"                                                                                \
    "  - name: " CONNECTOR "\n"                                                                    \
    "    plugin: postgres\n"                                                                       \
    "    direction: sink\n"                                                                        \
    "    config:\n"                                                                                \
    "      conninfo: \"%s\"\n"                                                                     \
    "      table: crm_partner_tiers\n"                                                             \
    "      create_table: true\n"

static void sql(const char *text)
{
    char err[512];
    ck_assert_msg(pgserver_exec(&pg, text, err, sizeof err) == 0, "%s", err);
}

static void start_daemon(void)
{
    HARNESS_START_OK(&h, "--fake-clock", FAKE_NOW, "--program", prog, NULL);
    cli = harness_client(&h, NULL);
}

static void stop_daemon(void)
{
    td_client_close(cli);
    cli = NULL;
    ck_assert_int_eq(harness_stop(&h), 0);
}

static void setup_with(const char *config)
{
    char err[512];
    ck_assert_msg(pgserver_start(&pg, err, sizeof err) == 0, "cannot start PostgreSQL: %s", err);
    harness_init(&h);
    const char *sos[] = {TD_POSTGRES_SO, TD_ABI1_SO};
    ck_assert_int_eq(testhost_plugin_dir(h.work, sos, 2, plugdir, sizeof plugdir), 0);
    harness_write_file(&h, "program.yaml", program_yaml, prog, sizeof prog);
    static char text[TEXT_MAX];
    snprintf(text, sizeof text, config, plugdir, pg.conninfo);
    harness_write_config(&h, text);
    start_daemon();
}

static void setup(void)
{
    setenv("TIERD_CONNECTOR_BIN", TD_CONNECTOR_BIN, 1);
    setup_with(SINK_YAML_FMT);
}

static void teardown(void)
{
    td_client_close(cli);
    cli = NULL;
    harness_cleanup(&h);
    pgserver_stop(&pg);
}

/* n partners from first, half resellers and half services. */
static void partners(int first, int n)
{
    feed_put_partners(cli, PARTNER_FMT, first, n / 2, "reseller");
    feed_put_partners(cli, PARTNER_FMT, first + n / 2, n - n / 2, "services");
}

/* One deal for each of n partners from first, in requests of 5,000. */
static void deals(int first, int n)
{
    for (int i = 0; i < n; i += 5000)
        feed_deals(cli, PARTNER_FMT, first + i, n - i < 5000 ? n - i : 5000, FAKE_NOW);
}

static uint64_t last_sequence(void)
{
    Tierd__ChangesResponse *r = NULL;
    td_error err;
    ck_assert_msg(td_client_list_changes(cli, UINT64_MAX - 1, 1, &r, &err) == 0, "%s", err.message);
    uint64_t last = r->last_sequence;
    tierd__changes_response__free_unpacked(r, NULL);
    return last;
}

static uint64_t want_cursor;

static bool caught_up(const Tierd__ConnectorStatus *cs)
{
    return strcmp(cs->state, "running") == 0 && cs->sink_lag == 0 &&
           strtoull(cs->cursor, NULL, 10) == want_cursor;
}

/* Waits until the sink acknowledged every change committed so far. */
static Tierd__ConnectorStatus *wait_caught_up(Tierd__StatusResponse **keep)
{
    want_cursor = last_sequence();
    ck_assert_uint_gt(want_cursor, 0);
    return harness_wait_connector(&h, CONNECTOR, caught_up, keep, WAIT_MS);
}

/* The names of the benefits in bs on ladder, sorted, comma-separated. */
static void names_on(Tierd__Benefit **bs, size_t n, const char *ladder, char *out, size_t cap)
{
    const char *names[NAMES_MAX];
    size_t k = 0;
    for (size_t i = 0; i < n && k < NAMES_MAX; i++)
        if (strcmp(bs[i]->ladder, ladder) == 0)
            names[k++] = bs[i]->name;
    for (size_t i = 1; i < k; i++)
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            const char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    out[0] = '\0';
    for (size_t i = 0; i < k; i++) {
        size_t used = strlen(out);
        snprintf(out + used, cap - used, "%s%s", i ? "," : "", names[i]);
    }
}

/* Compares the table with the daemon for partners first..first+n-1;
 * returns how many rows it compared. */
/* Rows of r (partner, ladder in C order) and the key searched. */
typedef struct row_key {
    PGresult *r;
    const char *partner, *ladder;
} row_key;

static int cmp_row(const void *key, const void *elem)
{
    const row_key *k = key;
    int row = *(const int *)elem;
    int c = strcmp(k->partner, PQgetvalue(k->r, row, 0));
    return c ? c : strcmp(k->ladder, PQgetvalue(k->r, row, 1));
}

/* Every row holds the sequence of the last change tierd made on its
 * partner and ladder: changes landed in order, none skipped at the end. */
static void rows_hold_their_last_change(PGresult *r)
{
    int rows = PQntuples(r);
    int *order = malloc((size_t)(rows ? rows : 1) * sizeof *order);
    uint64_t *want = calloc((size_t)(rows ? rows : 1), sizeof *want);
    ck_assert(order && want);
    for (int i = 0; i < rows; i++)
        order[i] = i;
    uint64_t since = 0;
    for (;;) {
        Tierd__ChangesResponse *ch = NULL;
        td_error err;
        ck_assert_msg(td_client_list_changes(cli, since, 10000, &ch, &err) == 0, "%s", err.message);
        size_t n = ch->n_changes;
        for (size_t i = 0; i < n; i++) {
            row_key k = {r, ch->changes[i]->partner, ch->changes[i]->ladder};
            const int *hit = bsearch(&k, order, (size_t)rows, sizeof *order, cmp_row);
            if (hit)
                want[*hit] = ch->changes[i]->sequence;
            since = ch->changes[i]->sequence;
        }
        tierd__changes_response__free_unpacked(ch, NULL);
        if (n == 0)
            break;
    }
    for (int i = 0; i < rows; i++)
        ck_assert_msg(strtoull(PQgetvalue(r, i, 5), NULL, 10) == want[i],
                      "%s on %s: row at change %s, its last change is %llu", PQgetvalue(r, i, 0),
                      PQgetvalue(r, i, 1), PQgetvalue(r, i, 5), (unsigned long long)want[i]);
    free(order);
    free(want);
}

static size_t table_matches_daemon(int first, int n)
{
    PGconn *c = PQconnectdb(pg.conninfo);
    ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
    PGresult *r =
        PQexec(c, "SELECT partner, ladder, coalesce(tier, ''), "
                  "coalesce(extract(epoch FROM since)::bigint, 0), "
                  "coalesce((SELECT string_agg(k, ',' ORDER BY k) FROM "
                  "jsonb_object_keys(benefits) k), ''), sequence "
                  "FROM crm_partner_tiers ORDER BY partner COLLATE \"C\", ladder COLLATE \"C\"");
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQresultErrorMessage(r));
    int rows = PQntuples(r);
    static char ids[PARTNERS_MAX][ID_MAX];
    const char *idp[PARTNERS_MAX];
    ck_assert_int_le(n, PARTNERS_MAX);
    for (int i = 0; i < n; i++) {
        snprintf(ids[i], ID_MAX, PARTNER_FMT, first + i);
        idp[i] = ids[i];
    }
    Tierd__GetTiersResponse *t = NULL;
    Tierd__GetBenefitsResponse *b = NULL;
    td_error err;
    ck_assert_msg(td_client_get_tiers(cli, idp, (size_t)n, &t, &err) == 0, "%s", err.message);
    ck_assert_msg(td_client_get_benefits(cli, idp, (size_t)n, &b, &err) == 0, "%s", err.message);
    int matched = 0;
    for (int i = 0; i < n; i++) {
        const Tierd__PartnerTiers *pt = t->partners[i];
        ck_assert(pt->found);
        for (size_t l = 0; l < pt->n_tiers; l++) {
            const Tierd__TierState *ts = pt->tiers[l];
            int row = -1;
            for (int k = 0; k < rows && row < 0; k++)
                if (strcmp(PQgetvalue(r, k, 0), ids[i]) == 0 &&
                    strcmp(PQgetvalue(r, k, 1), ts->ladder) == 0)
                    row = k;
            if (row < 0) {
                ck_assert_msg(ts->tier[0] == '\0', "%s on %s holds %s but has no row", ids[i],
                              ts->ladder, ts->tier);
                continue;
            }
            matched++;
            ck_assert_msg(strcmp(PQgetvalue(r, row, 2), ts->tier) == 0,
                          "%s on %s: table %s, tierd %s", ids[i], ts->ladder, PQgetvalue(r, row, 2),
                          ts->tier);
            ck_assert_int_eq(strtoll(PQgetvalue(r, row, 3), NULL, 10), ts->since);
            char want[TEXT_MAX];
            names_on(b->partners[i]->benefits, b->partners[i]->n_benefits, ts->ladder, want,
                     sizeof want);
            ck_assert_msg(strcmp(PQgetvalue(r, row, 4), want) == 0,
                          "%s on %s: benefits %s, want %s", ids[i], ts->ladder,
                          PQgetvalue(r, row, 4), want);
        }
    }
    /* No row for anything the daemon does not hold. */
    ck_assert_int_eq(matched, rows);
    rows_hold_their_last_change(r);
    tierd__get_tiers_response__free_unpacked(t, NULL);
    tierd__get_benefits_response__free_unpacked(b, NULL);
    PQclear(r);
    PQfinish(c);
    return (size_t)matched;
}

/* The pid of the tierd-connector child of our daemon running the sink. */
static pid_t sink_pid(void)
{
    pid_t pids[PIDS_MAX];
    size_t n = tu_find_processes("tierd-connector", " --name " CONNECTOR " ", pids, PIDS_MAX);
    for (size_t i = 0; i < n; i++)
        if (tu_parent_of(pids[i]) == h.pid)
            return pids[i];
    return 0;
}

START_TEST(test_changes_land_in_the_table_matching_the_daemons_tiers_and_benefits)
{
    partners(0, 200);
    deals(0, 200);
    deals(0, 100); /* resellers move on to Selling */
    deals(0, 50);  /* and some to Gold */
    Tierd__StatusResponse *st;
    Tierd__ConnectorStatus *cs = wait_caught_up(&st);
    ck_assert_str_eq(cs->direction, "sink");
    ck_assert_uint_eq(cs->events_sent, last_sequence());
    ck_assert_int_eq(cs->sink_oldest_unacked, 0);
    tierd__status_response__free_unpacked(st, NULL);
    ck_assert_uint_eq(table_matches_daemon(0, 200), 200);
    char *out = harness_tierctl_expect(&h, 0, (const char *const[]){"status", NULL});
    ck_assert_msg(strstr(out, "connector: " CONNECTOR " (sink) running,") &&
                      strstr(out, ", lag 0 changes,"),
                  "%s", out);
    free(out);

    PGconn *c = PQconnectdb(pg.conninfo);
    PGresult *r = PQexec(c, "SELECT tier, benefits->>'mdf', benefits->'margin', since FROM "
                            "crm_partner_tiers WHERE partner = 'p-00007' AND ladder = 'reseller'");
    ck_assert_int_eq(PQntuples(r), 1);
    ck_assert_str_eq(PQgetvalue(r, 0, 0), "Gold");
    ck_assert_str_eq(PQgetvalue(r, 0, 1), "big");
    ck_assert_str_eq(PQgetvalue(r, 0, 2), "8");
    ck_assert_str_eq(PQgetvalue(r, 0, 3), "2026-01-01 00:00:00+00");
    PQclear(r);
    PQfinish(c);
}
END_TEST

/* An ACCESS EXCLUSIVE lock on the table, held by the test: the sink's
 * next write waits for it, so whatever happens meanwhile happens in the
 * middle of a batch. NULL when released. */
static PGconn *locker;

static void lock_table(void)
{
    locker = PQconnectdb(pg.conninfo);
    ck_assert_msg(PQstatus(locker) == CONNECTION_OK, "%s", PQerrorMessage(locker));
    PGresult *r = PQexec(locker, "BEGIN; LOCK TABLE crm_partner_tiers IN ACCESS EXCLUSIVE MODE");
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQresultErrorMessage(r));
    PQclear(r);
}

/* Ends the server backend whose write waits for the lock, so the batch it
 * held never reaches the table (PostgreSQL would otherwise finish it for
 * the dead host once the lock goes). */
static void drop_blocked_write(void)
{
    sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        "AND query LIKE 'INSERT INTO crm_partner_tiers%'");
}

static void unlock_table(void)
{
    PQclear(PQexec(locker, "COMMIT"));
    PQfinish(locker);
    locker = NULL;
}

/* The sink's write of a batch is waiting for the lock. */
static bool sink_waits_for_lock(void)
{
    PGconn *c = PQconnectdb(pg.conninfo);
    PGresult *r = PQexec(c, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = "
                            "'Lock' AND query LIKE 'INSERT INTO crm_partner_tiers%'");
    bool waits = PQresultStatus(r) == PGRES_TUPLES_OK && strcmp(PQgetvalue(r, 0, 0), "0") != 0;
    PQclear(r);
    PQfinish(c);
    return waits;
}

/* Waits until the sink's write waits for the lock. */
static bool wait_sink_blocked(void)
{
    tu_deadline d = tu_deadline_in(WAIT_MS);
    while (!sink_waits_for_lock() && tu_poll(&d))
        ;
    return sink_waits_for_lock();
}

START_TEST(test_tierd_restart_and_host_kill_mid_batch_lose_nothing)
{
    partners(0, 4000);
    deals(0, 4000);
    Tierd__StatusResponse *st;
    wait_caught_up(&st);
    tierd__status_response__free_unpacked(st, NULL);

    /* tierd stopped while the sink is in the middle of writing a batch:
     * the host is killed at the end of the stop's grace, the batch never
     * lands, and the restarted sink must deliver it again. */
    lock_table();
    deals(0, 2000); /* Registered -> Selling */
    ck_assert(wait_sink_blocked());
    stop_daemon();
    drop_blocked_write();
    unlock_table();
    start_daemon();
    deals(0, 1000);
    wait_caught_up(&st);
    tierd__status_response__free_unpacked(st, NULL);
    ck_assert_uint_eq(table_matches_daemon(0, 4000), 4000);

    /* The host killed with SIGKILL in the middle of a batch. */
    lock_table();
    deals(1000, 1000); /* Selling -> Gold */
    ck_assert(wait_sink_blocked());
    pid_t pid = sink_pid();
    ck_assert_msg(pid > 0, "no tierd-connector child for " CONNECTOR);
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    drop_blocked_write();
    partners(4000, 400);
    deals(4000, 400);
    unlock_table();
    Tierd__ConnectorStatus *cs = wait_caught_up(&st);
    ck_assert_uint_ge(cs->restarts, 1);
    ck_assert_msg(strstr(cs->last_error, "signal 9"), "%s", cs->last_error);
    tierd__status_response__free_unpacked(st, NULL);
    ck_assert_uint_eq(table_matches_daemon(0, 4400), 4400);
}
END_TEST

static int sink_ack(const char *connector, uint64_t sequence, td_error *err)
{
    Tierd__SinkAckRequest req = TIERD__SINK_ACK_REQUEST__INIT;
    req.connector = (char *)connector;
    req.sequence = sequence;
    Tierd__SinkAckResponse *r = NULL;
    int rc = td_client_call(cli, "SinkAck", &req.base, &tierd__sink_ack_response__descriptor,
                            (ProtobufCMessage **)&r, err);
    if (r)
        tierd__sink_ack_response__free_unpacked(r, NULL);
    return rc;
}

START_TEST(test_sink_ack_refuses_other_connectors_the_future_and_going_back)
{
    partners(0, 20);
    deals(0, 20);
    Tierd__StatusResponse *st;
    wait_caught_up(&st);
    tierd__status_response__free_unpacked(st, NULL);
    uint64_t last = last_sequence();
    td_error err;
    ck_assert_int_eq(sink_ack("crm-deals", 1, &err), -(int)TD_NOT_FOUND);
    ck_assert_msg(strstr(err.message, "not a configured sink"), "%s", err.message);
    ck_assert_int_eq(sink_ack(CONNECTOR, last + 5, &err), -(int)TD_INVALID_ARGUMENT);
    ck_assert_msg(strstr(err.message, "but the last change is"), "%s", err.message);
    ck_assert_int_eq(sink_ack(CONNECTOR, 1, &err), -(int)TD_FAILED_PRECONDITION);
    ck_assert_msg(strstr(err.message, "below the"), "%s", err.message);
    /* The same ack again is what a re-delivered batch sends: fine. */
    ck_assert_msg(sink_ack(CONNECTOR, last, &err) == 0, "%s", err.message);
}
END_TEST

static bool retrying(const Tierd__ConnectorStatus *cs)
{
    return cs->restarts >= 1 && strstr(cs->last_error, "postgres sink") != NULL;
}

START_TEST(test_postgres_down_then_up_is_retried_until_the_table_catches_up)
{
    partners(0, 100);
    deals(0, 100);
    Tierd__StatusResponse *st;
    wait_caught_up(&st);
    tierd__status_response__free_unpacked(st, NULL);
    char err[512];
    ck_assert_msg(pgserver_halt(&pg, err, sizeof err) == 0, "%s", err);
    deals(0, 100);
    Tierd__ConnectorStatus *cs = harness_wait_connector(&h, CONNECTOR, retrying, &st, WAIT_MS);
    ck_assert_uint_gt(cs->sink_lag, 0);
    ck_assert_int_ne(cs->sink_oldest_unacked, 0);
    tierd__status_response__free_unpacked(st, NULL);
    ck_assert_msg(pgserver_resume(&pg, err, sizeof err) == 0, "%s", err);
    wait_caught_up(&st);
    tierd__status_response__free_unpacked(st, NULL);
    ck_assert_uint_eq(table_matches_daemon(0, 100), 100);
}
END_TEST

/* ---- what the sink cannot use ---------------------------------------------------- */

#define BAD_YAML_FMT                                                                               \
    "plugin_dir: %s\n"                                                                             \
    "connectors:\n"                                                                                \
    "  - name: no-tier-column\n"                                                                   \
    "    plugin: postgres\n"                                                                       \
    "    direction: sink\n"                                                                        \
    "    config: { conninfo: \"%s\", table: crm_thin }\n"                                          \
    "  - name: no-table\n"                                                                         \
    "    plugin: postgres\n"                                                                       \
    "    direction: sink\n"                                                                        \
    "    config: { conninfo: \"%s\", table: crm_missing }\n"                                       \
    "  - name: old-plugin\n"                                                                       \
    "    plugin: abi1_plugin\n"                                                                    \
    "    direction: sink\n"                                                                        \
    "  - name: old-source\n"                                                                       \
    "    plugin: abi1_plugin\n"

static bool failed(const Tierd__ConnectorStatus *cs)
{
    return strcmp(cs->state, "failed") == 0;
}

static bool sent_one(const Tierd__ConnectorStatus *cs)
{
    return strcmp(cs->state, "running") == 0 && cs->events_sent == 1;
}

static void expect_failed(const char *name, const char *want)
{
    Tierd__StatusResponse *st;
    Tierd__ConnectorStatus *cs = harness_wait_connector(&h, name, failed, &st, WAIT_MS);
    ck_assert_msg(strstr(cs->last_error, want), "%s: %s", name, cs->last_error);
    ck_assert_str_eq(cs->direction, "sink");
    tierd__status_response__free_unpacked(st, NULL);
}

START_TEST(test_tables_and_plugins_the_sink_cannot_use_fail_with_a_clear_error)
{
    char err[512];
    ck_assert_msg(pgserver_start(&pg, err, sizeof err) == 0, "cannot start PostgreSQL: %s", err);
    sql("CREATE TABLE crm_thin (partner text, ladder text, PRIMARY KEY (partner, ladder))");
    harness_init(&h);
    const char *sos[] = {TD_POSTGRES_SO, TD_ABI1_SO};
    ck_assert_int_eq(testhost_plugin_dir(h.work, sos, 2, plugdir, sizeof plugdir), 0);
    harness_write_file(&h, "program.yaml", program_yaml, prog, sizeof prog);
    static char text[TEXT_MAX];
    snprintf(text, sizeof text, BAD_YAML_FMT, plugdir, pg.conninfo, pg.conninfo);
    harness_write_config(&h, text);
    start_daemon();
    expect_failed("no-tier-column", "table crm_thin has no column tier (text)");
    expect_failed("no-table", "table crm_missing does not exist");
    expect_failed("old-plugin", "has no sink direction");
    /* The same ABI 1 plugin as a source runs in the real host as before. */
    Tierd__StatusResponse *st;
    Tierd__ConnectorStatus *cs = harness_wait_connector(&h, "old-source", sent_one, &st, WAIT_MS);
    ck_assert_str_eq(cs->direction, "source");
    ck_assert_str_eq(cs->cursor, "1");
    tierd__status_response__free_unpacked(st, NULL);
}
END_TEST

static void bare_setup(void)
{
    setenv("TIERD_CONNECTOR_BIN", TD_CONNECTOR_BIN, 1);
}

int main(void)
{
    Suite *s = suite_create("sink_postgres");
    TCase *tc = tcase_create("sink");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_changes_land_in_the_table_matching_the_daemons_tiers_and_benefits);
    tcase_add_test(tc, test_tierd_restart_and_host_kill_mid_batch_lose_nothing);
    tcase_add_test(tc, test_postgres_down_then_up_is_retried_until_the_table_catches_up);
    tcase_add_test(tc, test_sink_ack_refuses_other_connectors_the_future_and_going_back);
    suite_add_tcase(s, tc);
    TCase *bad = tcase_create("refused");
    tcase_add_checked_fixture(bad, bare_setup, teardown);
    tcase_set_timeout(bad, 120);
    tcase_add_test(bad, test_tables_and_plugins_the_sink_cannot_use_fail_with_a_clear_error);
    suite_add_tcase(s, bad);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed_n = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed_n ? EXIT_FAILURE : EXIT_SUCCESS;
}
