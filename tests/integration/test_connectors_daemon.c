/* Connectors end to end: the real tierd (TIERD_BIN) supervising real
 * tierd-connector processes that read a real PostgreSQL server.
 *
 * One daemon run carries the whole story, to keep the suite short: CRM
 * accounts, deals, Moodle completions and MDF requests flow in and tiers
 * follow; new rows move tiers; a connector killed with SIGKILL is restarted
 * and resumes from its committed cursor without losing or doubling events
 * while the daemon keeps answering; a plugin built for another ABI is
 * refused for good; one that segfaults at start and one that hangs are
 * restarted with back-off; a spool file reaches the daemon too. */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "pgserver.h"
#include "testhost.h"
#include "tierd/plugin.h"

#define WAIT_MS           20000
#define PATH_MAX_TEST     4096
#define TEXT_MAX          8192
#define CONNECTOR_PIDS    4
#define BACKOFF_WINDOW_MS 1000 /* the first back-off: a tight loop retries many times in it */

static pgserver pg;
static harness h;
static char plugdir[HARNESS_PATH_MAX + 16];
static char spooldir[HARNESS_PATH_MAX + 16];
static td_client *cli;

static const char *program_yaml =
    "program: e2e\n"
    "version: \"1\"\n"
    "metrics:\n"
    "  arr:   { agg: sum, event: deal_closed, window: lifetime }\n"
    "  certs: { agg: distinct, event: certification, window: lifetime }\n"
    "  mdf:   { agg: sum, event: mdf_requested, window: lifetime }\n"
    "ladders:\n"
    "  reseller:\n"
    "    partner_types: [reseller]\n"
    "    tiers:\n"
    "      - name: Registered\n"
    "        when: certs >= 1\n"
    "      - name: Selling\n"
    "        when: arr >= 20k and certs >= 1\n"
    "      - name: Specialist\n"
    "        when: arr >= 50k and certs >= 2\n";

static const char *schema =
    "CREATE TABLE accounts (id bigserial PRIMARY KEY, code text, name text, kind text);"
    "CREATE TABLE opportunities (id bigserial PRIMARY KEY, account text, stage text, "
    "  amount numeric, closed_at timestamptz);"
    "CREATE TABLE mdl_user (id bigserial PRIMARY KEY, email text, institution text);"
    "CREATE TABLE mdl_course (id bigserial PRIMARY KEY, shortname text);"
    "CREATE TABLE mdl_course_completions (id bigserial PRIMARY KEY, userid bigint, "
    "  course bigint, timecompleted bigint);"
    "CREATE TABLE fund_requests (id bigserial PRIMARY KEY, partner text, amount numeric, "
    "  requested_at timestamptz);"
    "INSERT INTO accounts (code, name, kind) VALUES ('p-001', 'Acme Ltd', 'reseller'),"
    "  ('p-002', 'Beta GmbH', 'reseller');"
    "INSERT INTO mdl_user (email, institution) VALUES ('ann@acme.example', 'p-001'),"
    "  ('bob@beta.example', 'p-002');"
    "INSERT INTO mdl_course (shortname) VALUES ('sales-101'), ('tech-201');";

/* A literal, so the compiler checks the arguments against it. */
#define CONNECTORS_YAML_FMT                                                                        \
    "plugin_dir: %s\n"                                                                             \
    "connectors:\n"                                                                                \
    "  - name: crm-accounts\n"                                                                     \
    "    plugin: postgres\n"                                                                       \
    "    config:\n"                                                                                \
    "      conninfo: \"%s\"\n"                                                                     \
    "      kind: partners\n"                                                                       \
    "      from: accounts\n"                                                                       \
    "      cursor_column: id\n"                                                                    \
    "      interval: 200ms\n"                                                                      \
    "      columns: { id: code, name: name, types: kind }\n"                                       \
    "  - name: crm-deals\n"                                                                        \
    "    plugin: postgres\n"                                                                       \
    "    config:\n"                                                                                \
    "      conninfo: \"%s\"\n"                                                                     \
    "      from: opportunities\n"                                                                  \
    "      where: \"stage = 'closed_won'\"\n"                                                      \
    "      cursor_column: id\n"                                                                    \
    "      interval: 200ms\n"                                                                      \
    "      source: crm\n"                                                                          \
    "      metric: deal_closed\n"                                                                  \
    "      columns: { id: \"'opp-' || id\", partner: account, value: amount, at: closed_at }\n"    \
    "  - name: lms\n"                                                                              \
    "    plugin: postgres\n"                                                                       \
    "    config:\n"                                                                                \
    "      conninfo: \"%s\"\n"                                                                     \
    "      from: \"mdl_course_completions cc JOIN mdl_user u ON u.id = cc.userid JOIN "            \
    "mdl_course c ON c.id = cc.course\"\n"                                                         \
    "      cursor_column: cc.id\n"                                                                 \
    "      interval: 200ms\n"                                                                      \
    "      source: lms\n"                                                                          \
    "      metric: certification\n"                                                                \
    "      columns: { id: \"'cc-' || cc.id\", partner: u.institution, key: c.shortname,\n"         \
    "                 at: to_timestamp(cc.timecompleted) }\n"                                      \
    "  - name: mdf-requests\n"                                                                     \
    "    plugin: postgres\n"                                                                       \
    "    config:\n"                                                                                \
    "      conninfo: \"%s\"\n"                                                                     \
    "      from: fund_requests\n"                                                                  \
    "      cursor_column: id\n"                                                                    \
    "      interval: 200ms\n"                                                                      \
    "      source: mdf\n"                                                                          \
    "      metric: mdf_requested\n"                                                                \
    "      columns: { id: \"'req-' || id\", partner: partner, value: amount, at: requested_at }\n" \
    "  - name: bad-abi\n"                                                                          \
    "    plugin: wrong_abi\n"                                                                      \
    "  - name: crasher\n"                                                                          \
    "    plugin: crash_at_start\n"                                                                 \
    "  - name: sleeper\n"                                                                          \
    "    plugin: hang\n"                                                                           \
    "    hang_timeout: 2s\n"                                                                       \
    "  - name: drop\n"                                                                             \
    "    plugin: spool\n"                                                                          \
    "    config: { dir: \"%s\", settle: 200ms, scan: 200ms }\n"

static void sql(const char *text)
{
    char err[512];
    ck_assert_msg(pgserver_exec(&pg, text, err, sizeof err) == 0, "%s", err);
}

static void start_daemon(void)
{
    char prog[HARNESS_PATH_MAX + 16];
    harness_write_file(&h, "program.yaml", program_yaml, prog, sizeof prog);
    snprintf(spooldir, sizeof spooldir, "%s/drop", h.work);
    mkdir(spooldir, 0755);
    static char text[TEXT_MAX];
    snprintf(text, sizeof text, CONNECTORS_YAML_FMT, plugdir, pg.conninfo, pg.conninfo, pg.conninfo,
             pg.conninfo, spooldir);
    harness_write_config(&h, text);
    if (harness_start(&h, "--program", prog, NULL) != 0) {
        char *log = harness_log(&h);
        fprintf(stderr, "tierd did not start (status %d): %s\n", h.exit_status, log);
        exit(EXIT_FAILURE);
    }
    cli = harness_client(&h, NULL);
}

static void suite_setup(void)
{
    /* The daemon finds the host binary of this build tree. */
    setenv("TIERD_CONNECTOR_BIN", TD_CONNECTOR_BIN, 1);
    char err[512];
    if (pgserver_start(&pg, err, sizeof err) != 0) {
        fprintf(stderr, "cannot start PostgreSQL: %s\n", err);
        exit(EXIT_FAILURE);
    }
    if (pgserver_exec(&pg, schema, err, sizeof err) != 0) {
        fprintf(stderr, "schema: %s\n", err);
        exit(EXIT_FAILURE);
    }
    harness_init(&h);
    const char *sos[] = {TD_POSTGRES_SO, TD_WRONG_ABI_SO, TD_CRASH_SO, TD_HANG_SO, TD_SPOOL_SO};
    if (testhost_plugin_dir(h.work, sos, 5, plugdir, sizeof plugdir) != 0)
        exit(EXIT_FAILURE);
    start_daemon();
}

static void suite_teardown(void)
{
    td_client_close(cli);
    harness_cleanup(&h);
    pgserver_stop(&pg);
}

/* The tier partner holds on the reseller ladder, "" for unranked, NULL when
 * the partner is unknown or the daemon did not answer. Caller frees. */
static char *tier_of(const char *partner)
{
    Tierd__GetTiersResponse *r = NULL;
    td_error err;
    const char *ids[] = {partner};
    if (td_client_get_tiers(cli, ids, 1, &r, &err) != 0)
        return NULL;
    char *out = NULL;
    if (r->n_partners == 1 && r->partners[0]->found) {
        out = strdup("");
        for (size_t i = 0; i < r->partners[0]->n_tiers; i++)
            if (strcmp(r->partners[0]->tiers[i]->ladder, "reseller") == 0) {
                free(out);
                out = strdup(r->partners[0]->tiers[i]->tier);
            }
    }
    tierd__get_tiers_response__free_unpacked(r, NULL);
    return out;
}

static bool wait_tier(const char *partner, const char *tier)
{
    tu_deadline d = tu_deadline_in(WAIT_MS);
    char *last = NULL;
    bool there;
    do {
        free(last);
        last = tier_of(partner);
        there = last && strcmp(last, tier) == 0;
    } while (!there && tu_poll(&d));
    if (!there)
        fprintf(stderr, "%s: wanted tier %s, have %s\n", partner, tier, last ? last : "(none)");
    free(last);
    return there;
}

static uint64_t daemon_events(void)
{
    Tierd__StatusResponse *st = NULL;
    td_error err;
    ck_assert_msg(td_client_status(cli, &st, &err) == 0, "daemon stopped answering: %s",
                  err.message);
    uint64_t n = st->events;
    tierd__status_response__free_unpacked(st, NULL);
    return n;
}

/* Waits until the daemon counts at least n events; true when it counts
 * exactly n then (more would be events nobody sent). */
static bool wait_events(uint64_t n)
{
    tu_deadline d = tu_deadline_in(WAIT_MS);
    uint64_t have;
    while ((have = daemon_events()) < n && tu_poll(&d))
        ;
    if (have != n)
        fprintf(stderr, "wanted %llu events, have %llu\n", (unsigned long long)n,
                (unsigned long long)have);
    return have == n;
}

/* The pid of the tierd-connector child of our daemon running connector name. */
static pid_t connector_pid(const char *name)
{
    char arg[PATH_MAX_TEST];
    snprintf(arg, sizeof arg, " --name %s ", name);
    pid_t pids[CONNECTOR_PIDS];
    size_t n = tu_find_processes("tierd-connector", arg, pids, CONNECTOR_PIDS);
    for (size_t i = 0; i < n; i++)
        if (tu_parent_of(pids[i]) == h.pid)
            return pids[i];
    return 0;
}

START_TEST(test_rows_from_crm_lms_and_mdf_set_and_move_tiers)
{
    /* Partners first: events for a partner the daemon does not know yet are
     * rejected, so the accounts connector must have delivered them. */
    ck_assert(wait_tier("p-001", ""));
    ck_assert(wait_tier("p-002", ""));
    sql("INSERT INTO mdl_course_completions (userid, course, timecompleted) VALUES "
        "(1, 1, 1767225600), (2, 2, 1767312000);"
        "INSERT INTO opportunities (account, stage, amount, closed_at) VALUES "
        "('p-001', 'closed_won', 12000, '2026-05-01'), ('p-001', 'lost', 90000, '2026-05-02'),"
        "('p-002', 'closed_won', 8000.5, '2026-05-03');"
        "INSERT INTO fund_requests (partner, amount, requested_at) VALUES "
        "('p-001', 5000, '2026-02-01');");
    ck_assert(wait_tier("p-001", "Registered"));
    ck_assert(wait_tier("p-002", "Registered"));
    ck_assert(wait_events(5));

    sql("INSERT INTO opportunities (account, stage, amount, closed_at) VALUES "
        "('p-001', 'closed_won', 10000, '2026-06-01');");
    ck_assert(wait_tier("p-001", "Selling"));
    sql("INSERT INTO opportunities (account, stage, amount, closed_at) VALUES "
        "('p-001', 'closed_won', 30000, '2026-06-02');"
        "INSERT INTO mdl_course_completions (userid, course, timecompleted) VALUES "
        "(1, 2, 1767400000);");
    ck_assert(wait_tier("p-001", "Specialist"));
    ck_assert(wait_tier("p-002", "Registered"));
    ck_assert(wait_events(8));
}
END_TEST

START_TEST(test_killed_connector_resumes_without_loss_or_duplicates)
{
    ck_assert(wait_tier("p-001", "Specialist"));
    uint64_t before = daemon_events();
    pid_t pid = connector_pid("crm-deals");
    ck_assert_msg(pid > 0, "no tierd-connector child for crm-deals");
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    /* rows written while the connector is down */
    sql("INSERT INTO opportunities (account, stage, amount, closed_at) "
        "SELECT 'p-002', 'closed_won', 1000, '2026-07-01' FROM generate_series(1, 250);");
    ck_assert_uint_ge(daemon_events(), before); /* the daemon still answers */
    ck_assert(wait_events(before + 250));
    /* One row more: the connector reads in cursor order, so once it counts,
     * anything the restart sent twice or made up would have counted too. */
    sql("INSERT INTO opportunities (account, stage, amount, closed_at) VALUES "
        "('p-002', 'closed_won', 1, '2026-07-02');");
    ck_assert(wait_events(before + 251));
    Tierd__StatusResponse *st;
    Tierd__ConnectorStatus *cs = harness_connector_status(&h, "crm-deals", &st);
    ck_assert_ptr_nonnull(cs);
    ck_assert_uint_ge(cs->restarts, 1);
    ck_assert_str_eq(cs->state, "running");
    ck_assert_msg(strstr(cs->last_error, "signal 9"), "%s", cs->last_error);
    pid_t again = connector_pid("crm-deals");
    ck_assert_msg(again > 0 && again != pid, "no new tierd-connector for crm-deals");
    tierd__status_response__free_unpacked(st, NULL);
    /* p-002 now has 8000.5 + 250 * 1000 + 1 of deals but one course: Selling */
    ck_assert(wait_tier("p-002", "Selling"));
}
END_TEST

static bool failed(const Tierd__ConnectorStatus *cs)
{
    return strcmp(cs->state, "failed") == 0;
}

static bool restarted(const Tierd__ConnectorStatus *cs)
{
    return cs->restarts >= 1;
}

static bool waits_after_two_restarts(const Tierd__ConnectorStatus *cs)
{
    return cs->restarts >= 2 && strcmp(cs->state, "restarting") == 0;
}

START_TEST(test_plugin_for_another_abi_is_refused_for_good)
{
    Tierd__StatusResponse *st;
    Tierd__ConnectorStatus *cs = harness_wait_connector(&h, "bad-abi", failed, &st, WAIT_MS);
    char want[64];
    snprintf(want, sizeof want, "ABI version %u", TIERD_PLUGIN_ABI_VERSION + 41);
    ck_assert_msg(strstr(cs->last_error, want), "%s", cs->last_error);
    snprintf(want, sizeof want, "speaks ABI version %u", TIERD_PLUGIN_ABI_VERSION);
    ck_assert_msg(strstr(cs->last_error, want), "%s", cs->last_error);
    ck_assert_uint_eq(cs->restarts, 0);
    ck_assert_int_eq(cs->next_start, 0);
    tierd__status_response__free_unpacked(st, NULL);
}
END_TEST

START_TEST(test_plugin_that_segfaults_at_start_is_restarted_with_back_off)
{
    /* Back-off 1 s, 2 s, 4 s: after the first tests ran, at least two
     * restarts happened, and the next start lies in the future. */
    Tierd__StatusResponse *st;
    Tierd__ConnectorStatus *cs =
        harness_wait_connector(&h, "crasher", waits_after_two_restarts, &st, WAIT_MS);
    ck_assert_msg(strstr(cs->last_error, "signal 11"), "%s", cs->last_error);
    ck_assert_int_ge(cs->next_start, st->now);
    uint32_t restarts = cs->restarts;
    tierd__status_response__free_unpacked(st, NULL);
    /* Back-off, not a tight loop: through the shortest back-off at most one
     * more try. Looked at every poll step, so a tight loop fails at once. */
    tu_deadline d = tu_deadline_in(BACKOFF_WINDOW_MS);
    do {
        cs = harness_connector_status(&h, "crasher", &st);
        ck_assert_ptr_nonnull(cs);
        ck_assert_uint_le(cs->restarts, restarts + 1);
        tierd__status_response__free_unpacked(st, NULL);
    } while (tu_poll(&d));
}
END_TEST

START_TEST(test_plugin_that_hangs_is_killed_and_restarted)
{
    Tierd__StatusResponse *st;
    Tierd__ConnectorStatus *cs = harness_wait_connector(&h, "sleeper", restarted, &st, WAIT_MS);
    ck_assert_msg(strstr(cs->last_error, "no heartbeat"), "%s", cs->last_error);
    tierd__status_response__free_unpacked(st, NULL);
}
END_TEST

START_TEST(test_spool_file_reaches_the_daemon_and_moves_to_done)
{
    uint64_t before = daemon_events();
    char part[PATH_MAX_TEST], final[PATH_MAX_TEST], done[PATH_MAX_TEST];
    snprintf(part, sizeof part, "%s/new.ndjson.part", spooldir);
    snprintf(final, sizeof final, "%s/new.ndjson", spooldir);
    snprintf(done, sizeof done, "%s/done/new.ndjson", spooldir);
    ck_assert_int_eq(
        tu_write_file(part, "{\"partner\":\"p-003\",\"name\":\"Gamma\",\"types\":[\"reseller\"]}\n"
                            "{\"id\":\"c-9\",\"source\":\"files\",\"partner\":\"p-003\","
                            "\"metric\":\"certification\",\"at\":\"2026-04-01T00:00:00Z\","
                            "\"key\":\"sales-101\"}\n"),
        0);
    /* written long ago, then renamed into place: read at once */
    struct timespec old[2] = {{time(NULL) - 60, 0}, {time(NULL) - 60, 0}};
    utimensat(AT_FDCWD, part, old, 0);
    ck_assert_int_eq(rename(part, final), 0);
    ck_assert(wait_tier("p-003", "Registered"));
    ck_assert(wait_events(before + 1));
    tu_deadline d = tu_deadline_in(WAIT_MS);
    bool moved;
    while (!(moved = access(done, F_OK) == 0) && tu_poll(&d))
        ;
    ck_assert_msg(moved, "%s was not moved to done/", final);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("connectors_daemon");
    TCase *tc = tcase_create("daemon");
    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
    tcase_add_test(tc, test_rows_from_crm_lms_and_mdf_set_and_move_tiers);
    tcase_add_test(tc, test_killed_connector_resumes_without_loss_or_duplicates);
    tcase_add_test(tc, test_plugin_for_another_abi_is_refused_for_good);
    tcase_add_test(tc, test_plugin_that_segfaults_at_start_is_restarted_with_back_off);
    tcase_add_test(tc, test_plugin_that_hangs_is_killed_and_restarted);
    tcase_add_test(tc, test_spool_file_reaches_the_daemon_and_moves_to_done);
    suite_add_tcase(s, tc);
    /* One daemon for the whole story: the tests run in order in this process. */
    return tu_run_suite_in_order(s);
}
