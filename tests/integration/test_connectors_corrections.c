/* Corrections through connectors, end to end: the real tierd (TIERD_BIN)
 * supervising real tierd-connector processes that read a real PostgreSQL
 * server and a spool directory.
 *
 * One daemon run carries the story: a deal row updated with a higher
 * revision moves its partner's tier down at once with cause CORRECTION;
 * after a restart of tierd the same row seen again at the same revision
 * (what a re-read after a crash sends) changes nothing; a row flagged
 * deleted and a row deleted into the tombstone table retract their deals;
 * a spool NDJSON amend and retract, and a voided xAPI statement, do the
 * same through the spool connector. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include "harness.h"
#include "pgserver.h"
#include "testhost.h"

#define WAIT_MS       20000
#define TEXT_MAX      8192
#define PATH_MAX_TEST 4096

static pgserver pg;
static harness h;
static char plugdir[HARNESS_PATH_MAX + 16];
static char spooldir[HARNESS_PATH_MAX + 16];
static char prog[HARNESS_PATH_MAX + 16];
static td_client *cli;

/* Platinum needs more than twice a Gold deal, so a deal counted twice
 * would show. */
static const char *program_yaml =
    "program: corrections\n"
    "version: \"1\"\n"
    "metrics:\n"
    "  arr:   { agg: sum, event: deal_closed, window: lifetime }\n"
    "  certs: { agg: distinct, event: certification, window: lifetime }\n"
    "ladders:\n"
    "  reseller:\n"
    "    partner_types: [reseller]\n"
    /* A retraction from Gold lands on unranked in one move, so the move
     * is the correction's, not a timer's second drop. */
    "    policy: { max_drop: 3 }\n"
    "    tiers:\n"
    "      - name: Bronze\n"
    "        when: arr >= 1k\n"
    "      - name: Gold\n"
    "        when: arr >= 20k\n"
    "      - name: Platinum\n"
    "        when: arr >= 50k\n"
    "  learning:\n"
    "    partner_types: [reseller]\n"
    "    tiers:\n"
    "      - name: Certified\n"
    "        when: certs >= 1\n";

static const char *schema =
    "CREATE TABLE accounts (id bigserial PRIMARY KEY, code text, kind text);"
    "CREATE SEQUENCE deal_changes;"
    "CREATE TABLE deals (id bigserial PRIMARY KEY, opp text NOT NULL, account text, "
    "  amount numeric, closed_at timestamptz, rev bigint NOT NULL DEFAULT 0, "
    "  deleted boolean NOT NULL DEFAULT false, "
    "  change_seq bigint NOT NULL DEFAULT nextval('deal_changes'));"
    "CREATE TABLE deals_deleted (seq bigserial PRIMARY KEY, opp text NOT NULL);"
    "CREATE FUNCTION deal_changed() RETURNS trigger AS $$ BEGIN "
    "  NEW.change_seq := nextval('deal_changes'); RETURN NEW; END $$ LANGUAGE plpgsql;"
    "CREATE TRIGGER deal_changed BEFORE UPDATE ON deals FOR EACH ROW "
    "  EXECUTE FUNCTION deal_changed();"
    "CREATE FUNCTION deal_gone() RETURNS trigger AS $$ BEGIN "
    "  INSERT INTO deals_deleted (opp) VALUES (OLD.opp); RETURN OLD; END $$ LANGUAGE plpgsql;"
    "CREATE TRIGGER deal_gone AFTER DELETE ON deals FOR EACH ROW EXECUTE FUNCTION deal_gone();"
    "INSERT INTO accounts (code, kind) VALUES ('p-001', 'reseller'), ('p-002', 'reseller'),"
    "  ('p-003', 'reseller');";

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
    "      columns: { id: code, types: kind }\n"                                                   \
    "  - name: crm-deals\n"                                                                        \
    "    plugin: postgres\n"                                                                       \
    "    config:\n"                                                                                \
    "      conninfo: \"%s\"\n"                                                                     \
    "      from: deals\n"                                                                          \
    "      cursor_column: change_seq\n"                                                            \
    "      revision_column: rev\n"                                                                 \
    "      deleted_column: deleted\n"                                                              \
    "      tombstones: { from: deals_deleted, cursor_column: seq, columns: { id: opp } }\n"        \
    "      interval: 200ms\n"                                                                      \
    "      source: crm\n"                                                                          \
    "      metric: deal_closed\n"                                                                  \
    "      columns: { id: opp, partner: account, value: amount, at: closed_at }\n"                 \
    "  - name: drop\n"                                                                             \
    "    plugin: spool\n"                                                                          \
    "    config:\n"                                                                                \
    "      dir: \"%s\"\n"                                                                          \
    "      settle: 200ms\n"                                                                        \
    "      scan: 200ms\n"                                                                          \
    "      xapi: { actors: { acme.example: p-003 } }\n"

static void sql(const char *text)
{
    char err[512];
    ck_assert_msg(pgserver_exec(&pg, text, err, sizeof err) == 0, "%s", err);
}

static void start_daemon(void)
{
    if (harness_start(&h, "--program", prog, NULL) != 0) {
        char *log = harness_log(&h);
        fprintf(stderr, "tierd did not start (status %d): %s\n", h.exit_status, log);
        exit(EXIT_FAILURE);
    }
    cli = harness_client(&h, NULL);
}

static void suite_setup(void)
{
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
    const char *sos[] = {TD_POSTGRES_SO, TD_SPOOL_SO};
    if (testhost_plugin_dir(h.work, sos, 2, plugdir, sizeof plugdir) != 0)
        exit(EXIT_FAILURE);
    harness_write_file(&h, "program.yaml", program_yaml, prog, sizeof prog);
    snprintf(spooldir, sizeof spooldir, "%s/drop", h.work);
    mkdir(spooldir, 0755);
    static char text[TEXT_MAX];
    snprintf(text, sizeof text, CONNECTORS_YAML_FMT, plugdir, pg.conninfo, pg.conninfo, spooldir);
    harness_write_config(&h, text);
    start_daemon();
}

static void suite_teardown(void)
{
    td_client_close(cli);
    harness_cleanup(&h);
    pgserver_stop(&pg);
}

/* The tier partner holds on ladder: "" unranked, NULL when unknown or no
 * answer. Caller frees. */
static char *tier_of(const char *partner, const char *ladder)
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
            if (strcmp(r->partners[0]->tiers[i]->ladder, ladder) == 0) {
                free(out);
                out = strdup(r->partners[0]->tiers[i]->tier);
            }
    }
    tierd__get_tiers_response__free_unpacked(r, NULL);
    return out;
}

static void wait_tier(const char *partner, const char *ladder, const char *want)
{
    tu_deadline d = tu_deadline_in(WAIT_MS);
    char *got = NULL;
    for (;;) {
        free(got);
        got = tier_of(partner, ladder);
        if (got && strcmp(got, want) == 0)
            break;
        if (!tu_poll(&d))
            ck_abort_msg("%s on %s: tier \"%s\", want \"%s\"\n%s", partner, ladder,
                         got ? got : "(none)", want, harness_log(&h));
    }
    free(got);
}

/* Waits until the clock has passed the second a tier was just taken in:
 * the lifecycle demotes a tier at most once per instant, so a correction
 * in that same second would land its move a second later, by the timer,
 * as a plain demotion. */
static void wait_next_second(void)
{
    time_t t0 = time(NULL);
    tu_deadline d = tu_deadline_in(WAIT_MS);
    while (time(NULL) <= t0)
        ck_assert_msg(tu_poll(&d), "the clock did not move");
}

/* The newest change of partner on ladder must be a correction naming
 * event_id, to `to`, with a reason holding reason_part. */
static void newest_change_is_correction(const char *partner, const char *ladder, const char *to,
                                        const char *event_id, const char *reason_part)
{
    Tierd__HistoryRequest req = TIERD__HISTORY_REQUEST__INIT;
    req.partner = (char *)partner;
    req.ladder = (char *)ladder;
    req.limit = 1;
    Tierd__ChangesResponse *r = NULL;
    td_error err;
    ck_assert_msg(td_client_history(cli, &req, &r, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(r->n_changes, 1);
    Tierd__TierChange *c = r->changes[0];
    ck_assert_int_eq(c->cause, TIERD__CAUSE__CORRECTION);
    ck_assert_str_eq(c->to_tier, to);
    ck_assert_str_eq(c->event_id, event_id);
    ck_assert_msg(strstr(c->reason, reason_part), "reason \"%s\"", c->reason);
    tierd__changes_response__free_unpacked(r, NULL);
}

/* Writes name into the spool directory via a temporary and a rename. */
static void drop(const char *name, const char *text)
{
    char tmpname[PATH_MAX_TEST], final[PATH_MAX_TEST];
    snprintf(tmpname, sizeof tmpname, "%s/.%s.tmp", spooldir, name);
    snprintf(final, sizeof final, "%s/%s", spooldir, name);
    FILE *f = fopen(tmpname, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(rename(tmpname, final), 0);
}

START_TEST(test_updated_row_amends_the_deal_and_moves_the_tier_with_cause_correction)
{
    /* The accounts connector may start after the deals one: a deal read
     * before its partner exists is rejected, so the partners come first. */
    wait_tier("p-001", "reseller", "");
    wait_tier("p-002", "reseller", "");
    wait_tier("p-003", "reseller", "");
    sql("INSERT INTO deals (opp, account, amount, closed_at) VALUES "
        "('opp-1', 'p-001', 30000, '2026-01-10 00:00:00+00');");
    wait_tier("p-001", "reseller", "Gold");
    wait_next_second();
    sql("UPDATE deals SET amount = 5000, rev = 1 WHERE opp = 'opp-1';");
    wait_tier("p-001", "reseller", "Bronze");
    newest_change_is_correction("p-001", "reseller", "Bronze", "crm/opp-1", "amended");
    sql("UPDATE deals SET amount = 30000, rev = 2 WHERE opp = 'opp-1';");
    wait_tier("p-001", "reseller", "Gold");
    newest_change_is_correction("p-001", "reseller", "Gold", "crm/opp-1", "revision 2");
}
END_TEST

/* After a restart of tierd the connector resumes from its cursor; a row
 * read again at a revision tierd holds (as after a crash before the
 * commit) is a duplicate: 30000 counted twice would be Platinum. */
START_TEST(test_row_seen_again_at_the_same_revision_after_a_restart_counts_once)
{
    td_client_close(cli);
    ck_assert_int_eq(harness_stop(&h), 0);
    start_daemon();
    wait_tier("p-001", "reseller", "Gold");
    /* Moves the cursor column, not the revision: the plugin sends the event
     * and the amend at revision 2 again. The second deal proves the pass
     * went through. */
    sql("UPDATE deals SET closed_at = closed_at WHERE opp = 'opp-1';"
        "INSERT INTO deals (opp, account, amount, closed_at) VALUES "
        "('opp-2', 'p-002', 25000, '2026-01-11 00:00:00+00');");
    wait_tier("p-002", "reseller", "Gold");
    char *t = tier_of("p-001", "reseller");
    ck_assert_str_eq(t, "Gold");
    free(t);
}
END_TEST

START_TEST(test_row_flagged_deleted_retracts_its_deal)
{
    wait_tier("p-002", "reseller", "Gold");
    wait_next_second();
    sql("UPDATE deals SET deleted = true WHERE opp = 'opp-2';");
    wait_tier("p-002", "reseller", "");
    newest_change_is_correction("p-002", "reseller", "", "crm/opp-2", "retracted");
}
END_TEST

START_TEST(test_row_deleted_into_the_tombstone_table_retracts_its_deal)
{
    wait_tier("p-001", "reseller", "Gold");
    wait_next_second();
    sql("DELETE FROM deals WHERE opp = 'opp-1';");
    wait_tier("p-001", "reseller", "");
    newest_change_is_correction("p-001", "reseller", "", "crm/opp-1", "retracted");
}
END_TEST

START_TEST(test_spool_ndjson_amend_and_retract_move_the_tier)
{
    drop("a.ndjson",
         "{\"id\":\"d-9\",\"source\":\"files\",\"partner\":\"p-003\","
         "\"metric\":\"deal_closed\",\"value\":25000,\"at\":\"2026-01-12T00:00:00Z\"}\n");
    wait_tier("p-003", "reseller", "Gold");
    wait_next_second();
    drop("b.ndjson", "{\"op\":\"amend\",\"revision\":1,\"id\":\"d-9\",\"source\":\"files\","
                     "\"partner\":\"p-003\",\"metric\":\"deal_closed\",\"value\":2000,"
                     "\"at\":\"2026-01-12T00:00:00Z\"}\n");
    wait_tier("p-003", "reseller", "Bronze");
    newest_change_is_correction("p-003", "reseller", "Bronze", "files/d-9", "amended");
    wait_next_second();
    drop("c.ndjson", "{\"op\":\"retract\",\"id\":\"d-9\",\"source\":\"files\"}\n");
    wait_tier("p-003", "reseller", "");
    newest_change_is_correction("p-003", "reseller", "", "files/d-9", "retracted");
}
END_TEST

START_TEST(test_voided_xapi_statement_takes_the_certification_back)
{
    drop("a.xapi", "{\"id\":\"s-1\",\"actor\":{\"mbox\":\"mailto:ann@acme.example\"},"
                   "\"verb\":{\"id\":\"http://adlnet.gov/expapi/verbs/completed\"},"
                   "\"object\":{\"id\":\"https://lms.example/course/sales-101\"},"
                   "\"timestamp\":\"2026-01-13T00:00:00Z\"}\n");
    wait_tier("p-003", "learning", "Certified");
    wait_next_second();
    drop("b.xapi", "{\"id\":\"v-1\",\"actor\":{\"mbox\":\"mailto:admin@lrs.example\"},"
                   "\"verb\":{\"id\":\"http://adlnet.gov/expapi/verbs/voided\"},"
                   "\"object\":{\"objectType\":\"StatementRef\",\"id\":\"s-1\"}}\n");
    wait_tier("p-003", "learning", "");
    newest_change_is_correction("p-003", "learning", "", "drop/s-1", "retracted");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("connectors_corrections");
    TCase *tc = tcase_create("corrections");
    tcase_set_timeout(tc, 120);
    tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
    /* In order: each step builds on the state the one before left. */
    tcase_add_test(tc, test_updated_row_amends_the_deal_and_moves_the_tier_with_cause_correction);
    tcase_add_test(tc, test_row_seen_again_at_the_same_revision_after_a_restart_counts_once);
    tcase_add_test(tc, test_row_flagged_deleted_retracts_its_deal);
    tcase_add_test(tc, test_row_deleted_into_the_tombstone_table_retracts_its_deal);
    tcase_add_test(tc, test_spool_ndjson_amend_and_retract_move_the_tier);
    tcase_add_test(tc, test_voided_xapi_statement_takes_the_certification_back);
    suite_add_tcase(s, tc);
    return tu_run_suite_in_order(s);
}
