/* The postgres connector against a real PostgreSQL server (started in a
 * temporary directory, Unix socket only), run in the in-memory plugin host:
 * CRM accounts and opportunities, Moodle-style course completions, MDF
 * requests and claims, paging, polling and resuming from a cursor; updated
 * and deleted rows sent as amends and retractions (revision, updated_at,
 * deletion flag, tombstone table). */
#include <check.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pgserver.h"
#include "testhost.h"
#include "testutil.h"
#include "tierd/plugin.h"

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

/* ---- corrections: updated and deleted rows ---------------------------------- */

/* Deals whose every change moves change_seq (a trigger), with a revision,
 * an updated_at, a deletion flag, and a tombstone table a delete fills. */
static const char *corrections_schema =
    "DROP TABLE IF EXISTS deals, deals_deleted; DROP SEQUENCE IF EXISTS deal_changes;"
    "CREATE SEQUENCE deal_changes;"
    "CREATE TABLE deals (id bigserial PRIMARY KEY, opp_id text NOT NULL, account_id text, "
    "  amount numeric, closed_at timestamptz, rev bigint NOT NULL DEFAULT 0, "
    "  updated_at timestamptz, deleted boolean NOT NULL DEFAULT false, "
    "  change_seq bigint NOT NULL DEFAULT nextval('deal_changes'));"
    "CREATE TABLE deals_deleted (seq bigserial PRIMARY KEY, opp_id text NOT NULL);"
    "CREATE OR REPLACE FUNCTION deal_changed() RETURNS trigger AS $$ BEGIN "
    "  NEW.change_seq := nextval('deal_changes'); RETURN NEW; END $$ LANGUAGE plpgsql;"
    "CREATE TRIGGER deal_changed BEFORE UPDATE ON deals FOR EACH ROW "
    "  EXECUTE FUNCTION deal_changed();"
    "CREATE OR REPLACE FUNCTION deal_gone() RETURNS trigger AS $$ BEGIN "
    "  INSERT INTO deals_deleted (opp_id) VALUES (OLD.opp_id); RETURN OLD; END $$ "
    "  LANGUAGE plpgsql;"
    "CREATE TRIGGER deal_gone AFTER DELETE ON deals FOR EACH ROW EXECUTE FUNCTION deal_gone();"
    "INSERT INTO deals (opp_id, account_id, amount, closed_at) VALUES "
    "  ('opp-1', 'p-001', 12000, '2026-05-01 00:00:00+00'),"
    "  ('opp-2', 'p-002', 8000, '2026-05-02 00:00:00+00');";

#define DEALS_CONFIG                                                                               \
    "\"from\":\"deals\",\"cursor_column\":\"change_seq\",\"metric\":\"deal_closed\","              \
    "\"source\":\"crm\",\"columns\":{\"id\":\"opp_id\",\"partner\":\"account_id\","                \
    "\"value\":\"amount\",\"at\":\"closed_at\"}"

/* Waits for n events and returns them (the caller decrefs). */
static json_t *wait_events(testhost *t, size_t n)
{
    ck_assert_msg(testhost_wait_events(t, n, WAIT_MS), "fewer than %zu events", n);
    json_t *e = testhost_events(t);
    ck_assert_uint_eq(json_array_size(e), n);
    return e;
}

START_TEST(test_updated_row_with_a_higher_revision_is_sent_as_an_amend)
{
    sql(corrections_schema);
    th = start("crm-deals", DEALS_CONFIG ",\"revision_column\":\"rev\"", NULL);
    json_t *e = wait_events(th, 2);
    /* Revision 0 is the original: sent as a plain event, nothing more. */
    ck_assert_str_eq(testhost_str(e, 0, "op"), "");
    ck_assert(testhost_num(e, 0, "revision") == 0);
    json_decref(e);
    sql("UPDATE deals SET amount = 30000, rev = 1 WHERE opp_id = 'opp-1';");
    e = wait_events(th, 4);
    /* The event again (a duplicate for tierd, or its creation when tierd
     * never saw it), then the amend carrying the new value. */
    ck_assert_str_eq(testhost_str(e, 2, "id"), "opp-1");
    ck_assert_str_eq(testhost_str(e, 2, "op"), "");
    ck_assert_str_eq(testhost_str(e, 3, "id"), "opp-1");
    ck_assert_str_eq(testhost_str(e, 3, "op"), "amend");
    ck_assert(testhost_num(e, 3, "revision") == 1);
    ck_assert(testhost_num(e, 3, "value") == 30000);
    ck_assert_str_eq(testhost_str(e, 3, "source"), "crm");
    ck_assert_str_eq(testhost_str(e, 3, "partner"), "p-001");
    json_decref(e);
}
END_TEST

START_TEST(test_updated_at_becomes_the_revision_in_microseconds_since_the_epoch)
{
    sql(corrections_schema);
    th = start("crm-deals", DEALS_CONFIG ",\"updated_at_column\":\"updated_at\"", NULL);
    json_t *e = wait_events(th, 2); /* updated_at NULL: originals */
    ck_assert_str_eq(testhost_str(e, 1, "op"), "");
    json_decref(e);
    sql("UPDATE deals SET amount = 9000, updated_at = '2026-05-02 12:00:00.123456+02' "
        "WHERE opp_id = 'opp-2';");
    e = wait_events(th, 4);
    ck_assert_str_eq(testhost_str(e, 3, "op"), "amend");
    /* 10:00:00.123456 UTC on 2026-05-02, to the microsecond */
    json_t *rev = json_object_get(json_array_get(e, 3), "revision");
    ck_assert_int_eq(json_integer_value(rev), 1777716000123456LL);
    ck_assert(testhost_num(e, 3, "value") == 9000);
    json_decref(e);
}
END_TEST

START_TEST(test_row_flagged_deleted_is_sent_as_a_retraction)
{
    sql(corrections_schema);
    th = start("crm-deals", DEALS_CONFIG ",\"deleted_column\":\"deleted\"", NULL);
    json_decref(wait_events(th, 2));
    sql("UPDATE deals SET deleted = true WHERE opp_id = 'opp-2';");
    json_t *e = wait_events(th, 3);
    ck_assert_str_eq(testhost_str(e, 2, "op"), "retract");
    ck_assert_str_eq(testhost_str(e, 2, "id"), "opp-2");
    ck_assert_str_eq(testhost_str(e, 2, "source"), "crm");
    /* (source, id) names the event; nothing else is sent to disagree with it */
    ck_assert_ptr_null(testhost_str(e, 2, "partner"));
    json_decref(e);
}
END_TEST

START_TEST(test_tombstone_rows_retract_and_both_positions_resume_after_a_restart)
{
    sql(corrections_schema);
    const char *cfg = DEALS_CONFIG ",\"tombstones\":{\"from\":\"deals_deleted\","
                                   "\"cursor_column\":\"seq\",\"columns\":{\"id\":\"opp_id\"}}";
    th = start("crm-deals", cfg, NULL);
    json_decref(wait_events(th, 2));
    sql("DELETE FROM deals WHERE opp_id = 'opp-1';");
    json_t *e = wait_events(th, 3);
    ck_assert_str_eq(testhost_str(e, 2, "op"), "retract");
    ck_assert_str_eq(testhost_str(e, 2, "id"), "opp-1");
    ck_assert_str_eq(testhost_str(e, 2, "source"), "crm");
    json_decref(e);
    td_error err;
    ck_assert_int_eq(testhost_stop(th, &err), 0);
    char *cursor = testhost_cursor(th);
    ck_assert_str_eq(cursor, "{\"rows\":\"2\",\"tombstones\":\"1\"}");
    testhost_free(th);

    /* After a restart from that cursor only what is new arrives. */
    sql("INSERT INTO deals (opp_id, account_id, amount, closed_at) VALUES "
        "('opp-3', 'p-001', 1, now()); DELETE FROM deals WHERE opp_id = 'opp-2';");
    th = start("crm-deals", cfg, cursor);
    free(cursor);
    e = wait_events(th, 2);
    ck_assert_str_eq(testhost_str(e, 0, "id"), "opp-3");
    ck_assert_str_eq(testhost_str(e, 0, "op"), "");
    ck_assert_str_eq(testhost_str(e, 1, "id"), "opp-2");
    ck_assert_str_eq(testhost_str(e, 1, "op"), "retract");
    json_decref(e);
    cursor = testhost_cursor(th);
    ck_assert_str_eq(cursor, "{\"rows\":\"3\",\"tombstones\":\"2\"}");
    free(cursor);
}
END_TEST

/* A cursor committed before tombstones were configured is the rows'
 * position: the rows are not read again, the tombstones from the start. */
START_TEST(test_plain_cursor_keeps_its_rows_position_when_tombstones_are_added)
{
    sql(corrections_schema);
    sql("DELETE FROM deals WHERE opp_id = 'opp-1';");
    th = start("crm-deals",
               DEALS_CONFIG ",\"tombstones\":{\"from\":\"deals_deleted\","
                            "\"cursor_column\":\"seq\",\"columns\":{\"id\":\"opp_id\"}}",
               "2");
    json_t *e = wait_events(th, 1);
    ck_assert_str_eq(testhost_str(e, 0, "op"), "retract");
    ck_assert_str_eq(testhost_str(e, 0, "id"), "opp-1");
    json_decref(e);
}
END_TEST

static void refused(const char *config_tail, const char *want, size_t api_size)
{
    char cfg[2048];
    snprintf(cfg, sizeof cfg, "{\"conninfo\":\"host=/x\",%s}", config_tail);
    testhost *t = testhost_new("x", cfg, NULL);
    if (api_size)
        testhost_set_api_size(t, api_size);
    td_error err;
    ck_assert_int_ne(testhost_start(t, plugdir, "postgres", &err), 0);
    ck_assert_msg(strstr(err.message, want), "%s", err.message);
    testhost_free(t);
}

START_TEST(test_correction_settings_that_cannot_work_are_refused_at_start)
{
    refused(DEALS_CONFIG ",\"revision_column\":\"rev\",\"updated_at_column\":\"updated_at\"",
            "not both", 0);
    refused("\"kind\":\"partners\",\"from\":\"a\",\"cursor_column\":\"id\",\"columns\":{\"id\":"
            "\"id\"},\"deleted_column\":\"deleted\"",
            "kind partners has no corrections", 0);
    refused(DEALS_CONFIG ",\"tombstones\":{\"from\":\"deals_deleted\"}",
            "tombstones needs cursor_column and columns.id", 0);
    /* A host from before emit_event_op: refused, not sent as new events. */
    refused(DEALS_CONFIG ",\"deleted_column\":\"deleted\"", "predates them",
            offsetof(tierd_host_api, emit_event_op));
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
    tcase_add_test(tc, test_updated_row_with_a_higher_revision_is_sent_as_an_amend);
    tcase_add_test(tc, test_updated_at_becomes_the_revision_in_microseconds_since_the_epoch);
    tcase_add_test(tc, test_row_flagged_deleted_is_sent_as_a_retraction);
    tcase_add_test(tc, test_tombstone_rows_retract_and_both_positions_resume_after_a_restart);
    tcase_add_test(tc, test_plain_cursor_keeps_its_rows_position_when_tombstones_are_added);
    tcase_add_test(tc, test_correction_settings_that_cannot_work_are_refused_at_start);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
