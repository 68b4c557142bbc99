/* The postgres connector against a real PostgreSQL server (started in a
 * temporary directory, Unix socket only), run in the in-memory plugin host:
 * CRM accounts and opportunities, Moodle-style course completions, MDF
 * requests and claims, paging, polling and resuming from a cursor. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pgserver.h"
#include "testhost.h"
#include "testutil.h"

#define WAIT_MS      10000
#define DIR_MAX_TEST 512

static pgserver pg;
static char tmp[DIR_MAX_TEST / 2];
static char plugdir[DIR_MAX_TEST];
static testhost *th;

static const char *schema =
    "DROP TABLE IF EXISTS accounts, opportunities, mdl_user, mdl_course, "
    "mdl_course_completions, mdf_requests, mdf_claims;"
    "CREATE TABLE accounts (id bigserial PRIMARY KEY, account_id text NOT NULL, name text, "
    "  kind text[]);"
    "CREATE TABLE opportunities (id bigserial PRIMARY KEY, opp_id text NOT NULL, "
    "  account_id text, stage text, amount numeric, closed_at timestamptz);"
    "CREATE TABLE mdl_user (id bigserial PRIMARY KEY, email text, institution text);"
    "CREATE TABLE mdl_course (id bigserial PRIMARY KEY, shortname text);"
    "CREATE TABLE mdl_course_completions (id bigserial PRIMARY KEY, userid bigint, "
    "  course bigint, timecompleted bigint);"
    "CREATE TABLE mdf_requests (id bigserial PRIMARY KEY, partner text, amount numeric, "
    "  requested_at timestamptz);"
    "CREATE TABLE mdf_claims (id bigserial PRIMARY KEY, partner text, amount numeric, "
    "  claimed_at timestamptz);"
    "INSERT INTO accounts (account_id, name, kind) VALUES "
    "  ('p-001', 'Acme Ltd', '{reseller,services}'), ('p-002', 'Beta GmbH', '{reseller}');"
    "INSERT INTO opportunities (opp_id, account_id, stage, amount, closed_at) VALUES "
    "  ('opp-1', 'p-001', 'closed_won', 12000, '2026-05-01 10:00:00+02'),"
    "  ('opp-2', 'p-001', 'negotiation', 50000, NULL),"
    "  ('opp-3', 'p-002', 'closed_won', 8000.50, '2026-05-03 00:00:00+00');"
    "INSERT INTO mdl_user (email, institution) VALUES ('ann@acme.example', 'p-001'),"
    "  ('bob@beta.example', 'p-002');"
    "INSERT INTO mdl_course (shortname) VALUES ('sales-101'), ('tech-201');"
    "INSERT INTO mdl_course_completions (userid, course, timecompleted) VALUES "
    "  (1, 1, 1767225600), (2, 2, 1767312000), (1, 2, NULL);"
    "INSERT INTO mdf_requests (partner, amount, requested_at) VALUES "
    "  ('p-001', 5000, '2026-02-01');"
    "INSERT INTO mdf_claims (partner, amount, claimed_at) VALUES ('p-001', 4200, '2026-03-01');";

static void suite_setup(void)
{
    char err[512];
    if (pgserver_start(&pg, err, sizeof err) != 0) {
        fprintf(stderr, "cannot start PostgreSQL: %s\n", err);
        exit(EXIT_FAILURE);
    }
    if (!testhost_tmpdir("td-pgc", tmp, sizeof tmp))
        exit(EXIT_FAILURE);
    const char *sos[] = {TD_POSTGRES_SO};
    if (testhost_plugin_dir(tmp, sos, 1, plugdir, sizeof plugdir) != 0)
        exit(EXIT_FAILURE);
}

static void suite_teardown(void)
{
    pgserver_stop(&pg);
    tu_rm_rf(tmp);
}

static void sql(const char *text)
{
    char err[512];
    ck_assert_msg(pgserver_exec(&pg, text, err, sizeof err) == 0, "%s", err);
}

static void setup(void)
{
    sql(schema);
    th = NULL;
}

static void teardown(void)
{
    testhost_free(th);
    th = NULL;
}

/* config_tail: JSON members after conninfo. */
static testhost *start(const char *name, const char *config_tail, const char *cursor)
{
    char cfg[4096];
    snprintf(cfg, sizeof cfg, "{\"conninfo\":\"%s\",\"interval\":\"200ms\",%s}", pg.conninfo,
             config_tail);
    testhost *t = testhost_new(name, cfg, cursor);
    td_error err;
    ck_assert_msg(testhost_start(t, plugdir, "postgres", &err) == 0, "%s", err.message);
    return t;
}

#define OPPS_CONFIG                                                                                \
    "\"from\":\"opportunities\",\"where\":\"stage = 'closed_won'\",\"cursor_column\":\"id\","      \
    "\"metric\":\"deal_closed\",\"source\":\"crm\",\"columns\":{\"id\":\"opp_id\","                \
    "\"partner\":\"account_id\",\"value\":\"amount\",\"at\":\"closed_at\",\"key\":\"opp_id\"}"

/* Adds a closed_won opportunity "opp-last" after every row a test made and
 * waits until t delivered `total` events, the last of them opp-last. The
 * connector reads in cursor order, so whatever it read twice or should
 * not have read stands before it: the count then says whether anything
 * did. */
static json_t *events_up_to_a_last_deal(testhost *t, size_t total)
{
    sql("INSERT INTO opportunities (opp_id, account_id, stage, amount, closed_at) VALUES "
        "('opp-last', 'p-002', 'closed_won', 1, now());");
    ck_assert(testhost_wait_events(t, total, WAIT_MS));
    json_t *e = testhost_events(t);
    ck_assert_uint_eq(json_array_size(e), total);
    ck_assert_str_eq(testhost_str(e, total - 1, "id"), "opp-last");
    return e;
}

START_TEST(test_crm_accounts_become_partners_with_their_types)
{
    th = start("crm-accounts",
               "\"kind\":\"partners\",\"from\":\"accounts\",\"cursor_column\":\"id\","
               "\"columns\":{\"id\":\"account_id\",\"name\":\"name\",\"types\":\"kind\"}",
               NULL);
    ck_assert(testhost_wait_partners(th, 2, WAIT_MS));
    json_t *p = testhost_partners(th);
    ck_assert_str_eq(testhost_str(p, 0, "partner"), "p-001");
    ck_assert_str_eq(testhost_str(p, 0, "name"), "Acme Ltd");
    json_t *types = json_object_get(json_array_get(p, 0), "types");
    ck_assert_uint_eq(json_array_size(types), 2);
    ck_assert_str_eq(json_string_value(json_array_get(types, 1)), "services");
    json_decref(p);
    char *cur = testhost_cursor(th);
    ck_assert_str_eq(cur, "2");
    free(cur);
}
END_TEST

START_TEST(test_closed_won_opportunities_become_deal_closed_with_the_amount)
{
    th = start("crm-deals", OPPS_CONFIG, NULL);
    ck_assert(testhost_wait_events(th, 2, WAIT_MS));
    json_t *e = testhost_events(th);
    ck_assert_uint_eq(json_array_size(e), 2);
    ck_assert_str_eq(testhost_str(e, 0, "id"), "opp-1");
    ck_assert_str_eq(testhost_str(e, 0, "source"), "crm");
    ck_assert_str_eq(testhost_str(e, 0, "metric"), "deal_closed");
    ck_assert(testhost_num(e, 0, "value") == 12000);
    /* 10:00 at +02 is 08:00 UTC */
    ck_assert_str_eq(testhost_str(e, 0, "at"), "2026-05-01T08:00:00Z");
    ck_assert_str_eq(testhost_str(e, 1, "id"), "opp-3");
    ck_assert(testhost_num(e, 1, "value") == 8000.5);
    json_decref(e);
}
END_TEST

START_TEST(test_rows_added_later_are_read_on_the_next_poll)
{
    th = start("crm-deals", OPPS_CONFIG, NULL);
    ck_assert(testhost_wait_events(th, 2, WAIT_MS));
    sql("INSERT INTO opportunities (opp_id, account_id, stage, amount, closed_at) VALUES "
        "('opp-4', 'p-002', 'closed_won', 100, now());"
        "UPDATE opportunities SET stage = 'closed_won', closed_at = now() WHERE opp_id = "
        "'opp-2';");
    /* opp-2 changed without moving the keyset column: by design it is not
     * seen again; only the new row arrives. */
    ck_assert(testhost_wait_events(th, 3, WAIT_MS));
    json_t *e = events_up_to_a_last_deal(th, 4);
    ck_assert_str_eq(testhost_str(e, 2, "id"), "opp-4");
    json_decref(e);
}
END_TEST

START_TEST(test_restart_resumes_after_the_cursor_without_loss_or_duplicates)
{
    th = start("crm-deals", OPPS_CONFIG, NULL);
    ck_assert(testhost_wait_events(th, 2, WAIT_MS));
    td_error err;
    ck_assert_int_eq(testhost_stop(th, &err), 0);
    char *cursor = testhost_cursor(th);
    ck_assert_str_eq(cursor, "3");
    testhost_free(th);
    th = NULL;

    sql("INSERT INTO opportunities (opp_id, account_id, stage, amount, closed_at) "
        "SELECT 'opp-x' || g, 'p-001', 'closed_won', g, now() FROM generate_series(1, 50) g;");
    th = start("crm-deals", OPPS_CONFIG, cursor);
    free(cursor);
    ck_assert(testhost_wait_events(th, 50, WAIT_MS));
    json_t *e = events_up_to_a_last_deal(th, 51);
    ck_assert_str_eq(testhost_str(e, 0, "id"), "opp-x1");
    ck_assert_str_eq(testhost_str(e, 49, "id"), "opp-x50");
    json_decref(e);
}
END_TEST

START_TEST(test_each_page_commits_its_last_cursor)
{
    sql("INSERT INTO opportunities (opp_id, account_id, stage, amount, closed_at) "
        "SELECT 'opp-p' || g, 'p-001', 'closed_won', g, now() FROM generate_series(1, 23) g;");
    th = start("crm-deals", OPPS_CONFIG ",\"batch\":\"10\"", NULL);
    ck_assert(testhost_wait_events(th, 25, WAIT_MS));
    ck_assert_uint_ge(testhost_commits(th), 3);
    char *cur = testhost_cursor(th);
    ck_assert_str_eq(cur, "26");
    free(cur);
}
END_TEST

START_TEST(test_moodle_completions_become_certifications_keyed_by_course)
{
    th = start("lms",
               "\"from\":\"mdl_course_completions cc JOIN mdl_user u ON u.id = cc.userid JOIN "
               "mdl_course c ON c.id = cc.course\",\"where\":\"cc.timecompleted IS NOT NULL\","
               "\"cursor_column\":\"cc.id\",\"metric\":\"certification\",\"source\":\"lms\","
               "\"columns\":{\"id\":\"'completion-' || cc.id\",\"partner\":\"u.institution\","
               "\"key\":\"c.shortname\",\"at\":\"to_timestamp(cc.timecompleted)\"}",
               NULL);
    ck_assert(testhost_wait_events(th, 2, WAIT_MS));
    /* One completion more, after the one without a time: the where clause
     * must have passed over that one by the time this one arrives. */
    sql("INSERT INTO mdl_course_completions (userid, course, timecompleted) VALUES "
        "(2, 1, 1767400000);");
    ck_assert(testhost_wait_events(th, 3, WAIT_MS));
    json_t *e = testhost_events(th);
    ck_assert_uint_eq(json_array_size(e), 3);
    ck_assert_str_eq(testhost_str(e, 2, "id"), "completion-4");
    ck_assert_str_eq(testhost_str(e, 0, "id"), "completion-1");
    ck_assert_str_eq(testhost_str(e, 0, "partner"), "p-001");
    ck_assert_str_eq(testhost_str(e, 0, "key"), "sales-101");
    ck_assert_str_eq(testhost_str(e, 0, "at"), "2026-01-01T00:00:00Z");
    ck_assert_str_eq(testhost_str(e, 1, "key"), "tech-201");
    json_decref(e);
}
END_TEST

START_TEST(test_mdf_requests_and_claims_become_their_metrics)
{
    th = start("mdf-requests",
               "\"from\":\"mdf_requests\",\"cursor_column\":\"id\",\"metric\":\"mdf_requested\","
               "\"columns\":{\"id\":\"'req-' || id\",\"partner\":\"partner\",\"value\":\"amount\","
               "\"at\":\"requested_at\"}",
               NULL);
    testhost *claims =
        start("mdf-claims",
              "\"from\":\"mdf_claims\",\"cursor_column\":\"id\",\"metric\":\"mdf_claimed\","
              "\"columns\":{\"id\":\"'claim-' || id\",\"partner\":\"partner\",\"value\":\"amount\","
              "\"at\":\"claimed_at\"}",
              NULL);
    ck_assert(testhost_wait_events(th, 1, WAIT_MS));
    ck_assert(testhost_wait_events(claims, 1, WAIT_MS));
    json_t *e = testhost_events(th);
    ck_assert_str_eq(testhost_str(e, 0, "metric"), "mdf_requested");
    ck_assert_str_eq(testhost_str(e, 0, "source"), "mdf-requests");
    ck_assert(testhost_num(e, 0, "value") == 5000);
    json_decref(e);
    e = testhost_events(claims);
    ck_assert_str_eq(testhost_str(e, 0, "metric"), "mdf_claimed");
    ck_assert(testhost_num(e, 0, "value") == 4200);
    json_decref(e);
    testhost_free(claims);
}
END_TEST

START_TEST(test_row_with_a_non_finite_amount_is_skipped_and_logged)
{
    sql("INSERT INTO opportunities (opp_id, account_id, stage, amount, closed_at) VALUES "
        "('opp-nan', 'p-001', 'closed_won', 'NaN', now()),"
        "('opp-after', 'p-001', 'closed_won', 1, now());");
    th = start("crm-deals", OPPS_CONFIG, NULL);
    ck_assert(testhost_wait_events(th, 3, WAIT_MS));
    json_t *e = testhost_events(th);
    ck_assert_str_eq(testhost_str(e, 2, "id"), "opp-after");
    json_decref(e);
    char *log = testhost_log(th);
    ck_assert_msg(strstr(log, "row id=4 skipped: value \"NaN\" is not a finite number"), "%s", log);
    free(log);
}
END_TEST

START_TEST(test_unreachable_database_is_reported_unavailable)
{
    testhost *t = testhost_new("crm-deals",
                               "{\"conninfo\":\"host=/nonexistent dbname=x connect_timeout=2\","
                               "\"from\":\"opportunities\",\"cursor_column\":\"id\",\"metric\":"
                               "\"m\",\"columns\":{\"id\":\"opp_id\",\"partner\":\"account_id\","
                               "\"at\":\"closed_at\"}}",
                               NULL);
    td_error err;
    ck_assert_int_eq(testhost_start(t, plugdir, "postgres", &err), 0);
    ck_assert(testhost_wait_exit(t, WAIT_MS));
    ck_assert_int_ne(testhost_stop(t, &err), 0);
    ck_assert_int_eq(err.code, TD_UNAVAILABLE);
    ck_assert_msg(strstr(err.message, "cannot connect"), "%s", err.message);
    testhost_free(t);
}
END_TEST

START_TEST(test_config_without_cursor_column_is_refused)
{
    testhost *t = testhost_new("x", "{\"conninfo\":\"host=/x\",\"from\":\"t\"}", NULL);
    td_error err;
    ck_assert_int_ne(testhost_start(t, plugdir, "postgres", &err), 0);
    ck_assert_msg(strstr(err.message, "cursor_column"), "%s", err.message);
    testhost_free(t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("connectors_postgres");
    TCase *tc = tcase_create("postgres");
    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_crm_accounts_become_partners_with_their_types);
    tcase_add_test(tc, test_closed_won_opportunities_become_deal_closed_with_the_amount);
    tcase_add_test(tc, test_rows_added_later_are_read_on_the_next_poll);
    tcase_add_test(tc, test_restart_resumes_after_the_cursor_without_loss_or_duplicates);
    tcase_add_test(tc, test_each_page_commits_its_last_cursor);
    tcase_add_test(tc, test_moodle_completions_become_certifications_keyed_by_course);
    tcase_add_test(tc, test_mdf_requests_and_claims_become_their_metrics);
    tcase_add_test(tc, test_row_with_a_non_finite_amount_is_skipped_and_logged);
    tcase_add_test(tc, test_unreachable_database_is_reported_unavailable);
    tcase_add_test(tc, test_config_without_cursor_column_is_refused);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
