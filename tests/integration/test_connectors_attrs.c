/* Partner attributes through connectors, end to end: the real tierd
 * (TIERD_BIN) supervising real tierd-connector processes that read a real
 * PostgreSQL server and two spool directories (NDJSON, CSV partners).
 *
 * One daemon run carries the story: accounts rows become partners with the
 * attributes their `attrs:` columns hold (a NULL column leaves the
 * attribute out); a row changed in the source changes the partner's
 * attribute in tierd; a row with a bad attribute value is refused for that
 * partner alone with the reason in the log while the next row goes in; the
 * spool does the same for NDJSON `attrs` objects and CSV attribute columns,
 * a bad line listed in its .err file with the reason. Read back with
 * GetPartner, as `tierctl partner show` does. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"
#include "pgserver.h"
#include "testhost.h"

#define WAIT_MS       20000
#define TEXT_MAX      8192
#define PATH_MAX_TEST 4096
#define ATTRS_MAX     1024

static pgserver pg;
static harness h;
static char plugdir[HARNESS_PATH_MAX + 16];
static char ndjson_dir[HARNESS_PATH_MAX + 16];
static char csv_dir[HARNESS_PATH_MAX + 16];
static char prog[HARNESS_PATH_MAX + 16];
static td_client *cli;

static const char *program_yaml = "program: attrs\n"
                                  "version: \"1\"\n"
                                  "metrics:\n"
                                  "  arr: { agg: sum, event: deal_closed, window: lifetime }\n"
                                  "ladders:\n"
                                  "  emea:\n"
                                  "    partner_types: [reseller]\n"
                                  "    partner_filter: { region: [EMEA] }\n"
                                  "    tiers:\n"
                                  "      - name: Bronze\n"
                                  "        when: arr >= 1k\n";

/* change_seq moves on every UPDATE, so a changed row is read again. */
static const char *schema =
    "CREATE SEQUENCE account_changes;"
    "CREATE TABLE accounts (id bigserial PRIMARY KEY, code text, kind text, region text, "
    "  segment text, change_seq bigint NOT NULL DEFAULT nextval('account_changes'));"
    "CREATE FUNCTION account_changed() RETURNS trigger AS $$ BEGIN "
    "  NEW.change_seq := nextval('account_changes'); RETURN NEW; END $$ LANGUAGE plpgsql;"
    "CREATE TRIGGER account_changed BEFORE UPDATE ON accounts FOR EACH ROW "
    "  EXECUTE FUNCTION account_changed();";

#define CONNECTORS_YAML_FMT                                                                        \
    "plugin_dir: %s\n"                                                                             \
    "connectors:\n"                                                                                \
    "  - name: crm-accounts\n"                                                                     \
    "    plugin: postgres\n"                                                                       \
    "    config:\n"                                                                                \
    "      conninfo: \"%s\"\n"                                                                     \
    "      kind: partners\n"                                                                       \
    "      from: accounts\n"                                                                       \
    "      cursor_column: change_seq\n"                                                            \
    "      interval: 200ms\n"                                                                      \
    "      columns: { id: code, types: kind }\n"                                                   \
    "      attrs: { region: region, segment: segment }\n"                                          \
    "  - name: drop\n"                                                                             \
    "    plugin: spool\n"                                                                          \
    "    config:\n"                                                                                \
    "      dir: \"%s\"\n"                                                                          \
    "      settle: 200ms\n"                                                                        \
    "      scan: 200ms\n"                                                                          \
    "  - name: drop-csv\n"                                                                         \
    "    plugin: spool\n"                                                                          \
    "    config:\n"                                                                                \
    "      dir: \"%s\"\n"                                                                          \
    "      settle: 200ms\n"                                                                        \
    "      scan: 200ms\n"                                                                          \
    "      csv:\n"                                                                                 \
    "        kind: partners\n"                                                                     \
    "        types: reseller\n"                                                                    \
    "        columns: { id: Account, attrs: { region: Region, size: Size } }\n"

static void sql(const char *text)
{
    char err[512];
    ck_assert_msg(pgserver_exec(&pg, text, err, sizeof err) == 0, "%s", err);
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
    snprintf(ndjson_dir, sizeof ndjson_dir, "%s/drop", h.work);
    snprintf(csv_dir, sizeof csv_dir, "%s/drop-csv", h.work);
    mkdir(ndjson_dir, 0755);
    mkdir(csv_dir, 0755);
    static char text[TEXT_MAX];
    snprintf(text, sizeof text, CONNECTORS_YAML_FMT, plugdir, pg.conninfo, ndjson_dir, csv_dir);
    harness_write_config(&h, text);
    if (harness_start(&h, "--program", prog, NULL) != 0) {
        fprintf(stderr, "tierd did not start (status %d): %s\n", h.exit_status, harness_log(&h));
        exit(EXIT_FAILURE);
    }
    cli = harness_client(&h, NULL);
}

static void suite_teardown(void)
{
    td_client_close(cli);
    harness_cleanup(&h);
    pgserver_stop(&pg);
}

/* partner's attributes as "k=v;k=v" sorted by key (tierd's order), or
 * NULL when tierd does not know the partner. */
static char *attrs_of(const char *partner)
{
    Tierd__PartnerInfo *info = NULL;
    td_error err;
    if (td_client_get_partner(cli, partner, &info, &err) != 0)
        return NULL;
    char buf[ATTRS_MAX] = "";
    size_t len = 0;
    for (size_t i = 0; i < info->partner->n_attrs && len < sizeof buf; i++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s=%s", i ? ";" : "",
                                info->partner->attrs[i]->key, info->partner->attrs[i]->value);
    tierd__partner_info__free_unpacked(info, NULL);
    return strdup(buf);
}

static void wait_attrs(const char *partner, const char *want)
{
    tu_deadline d = tu_deadline_in(WAIT_MS);
    char *got = NULL;
    for (;;) {
        free(got);
        got = attrs_of(partner);
        if (got && strcmp(got, want) == 0)
            break;
        if (!tu_poll(&d))
            ck_abort_msg("%s: attrs \"%s\", want \"%s\"\n%s", partner, got ? got : "(unknown)",
                         want, harness_log(&h));
    }
    free(got);
}

static void assert_unknown(const char *partner)
{
    char *got = attrs_of(partner);
    ck_assert_msg(!got, "%s is known to tierd with attrs \"%s\"", partner, got ? got : "");
}

/* Writes name into dir via a temporary and a rename. */
static void drop(const char *dir, const char *name, const char *text)
{
    char tmpname[PATH_MAX_TEST], final[PATH_MAX_TEST];
    snprintf(tmpname, sizeof tmpname, "%s/.%s.tmp", dir, name);
    snprintf(final, sizeof final, "%s/%s", dir, name);
    FILE *f = fopen(tmpname, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(rename(tmpname, final), 0);
}

/* The .err file of a file the spool put in failed/, waited for. */
static char *err_file(const char *dir, const char *name)
{
    char path[PATH_MAX_TEST];
    snprintf(path, sizeof path, "%s/failed/%s.err", dir, name);
    tu_deadline d = tu_deadline_in(WAIT_MS);
    for (;;) {
        char *text = tu_read_file(path, TEXT_MAX);
        if (*text)
            return text;
        free(text);
        ck_assert_msg(tu_poll(&d), "no %s", path);
    }
}

START_TEST(test_postgres_rows_bring_their_attribute_columns_null_ones_left_out)
{
    sql("INSERT INTO accounts (code, kind, region, segment) VALUES "
        "('p-001', 'reseller', 'EMEA', 'smb'), ('p-002', 'reseller', 'APAC', NULL);");
    wait_attrs("p-001", "region=EMEA;segment=smb");
    wait_attrs("p-002", "region=APAC");
}
END_TEST

START_TEST(test_postgres_row_changed_in_the_source_changes_the_attribute)
{
    wait_attrs("p-001", "region=EMEA;segment=smb");
    sql("UPDATE accounts SET region = 'NA', segment = NULL WHERE code = 'p-001';");
    wait_attrs("p-001", "region=NA");
}
END_TEST

START_TEST(test_postgres_row_with_a_bad_attribute_is_refused_alone_with_the_reason)
{
    sql("INSERT INTO accounts (code, kind, region, segment) VALUES "
        "('p-003', 'reseller', E'EM\\x01EA', 'smb'), ('p-004', 'reseller', 'EMEA', 'ent');");
    wait_attrs("p-004", "region=EMEA;segment=ent");
    assert_unknown("p-003");
    ck_assert_msg(harness_wait_log(&h,
                                   "partner p-003: attribute 'region': value holds a control "
                                   "character",
                                   1, WAIT_MS),
                  "%s", harness_log(&h));
}
END_TEST

START_TEST(test_spool_ndjson_attrs_arrive_change_and_a_bad_line_is_listed)
{
    drop(ndjson_dir, "a.ndjson",
         "{\"partner\":\"s-001\",\"types\":[\"reseller\"],"
         "\"attrs\":{\"region\":\"EMEA\",\"manager\":\"Zo\xc3\xab\"}}\n");
    wait_attrs("s-001", "manager=Zo\xc3\xab;region=EMEA");
    drop(ndjson_dir, "b.ndjson",
         "{\"partner\":\"s-002\",\"attrs\":{\"bad key\":\"x\"}}\n"
         "{\"partner\":\"s-001\",\"attrs\":{\"region\":\"APAC\"}}\n");
    wait_attrs("s-001", "region=APAC");
    assert_unknown("s-002");
    char *err = err_file(ndjson_dir, "b.ndjson");
    ck_assert_msg(strstr(err, "b.ndjson:1: partner s-002: attribute 1: key must be 1..64 bytes"),
                  "%s", err);
    ck_assert_msg(!strstr(err, "b.ndjson:2"), "%s", err);
    free(err);
}
END_TEST

START_TEST(test_spool_csv_attribute_columns_arrive_and_empty_cells_are_left_out)
{
    drop(csv_dir, "a.csv",
         "Account,Region,Size\n"
         "c-001,EMEA,large\n"
         "c-002,APAC,\n");
    wait_attrs("c-001", "region=EMEA;size=large");
    wait_attrs("c-002", "region=APAC");
    drop(csv_dir, "b.csv",
         "Account,Region,Size\n"
         "c-001,EMEA,small\n");
    wait_attrs("c-001", "region=EMEA;size=small");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("connectors_attrs");
    TCase *tc = tcase_create("attrs");
    tcase_set_timeout(tc, 120);
    tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
    /* In order: each step builds on the state the one before left. */
    tcase_add_test(tc, test_postgres_rows_bring_their_attribute_columns_null_ones_left_out);
    tcase_add_test(tc, test_postgres_row_changed_in_the_source_changes_the_attribute);
    tcase_add_test(tc, test_postgres_row_with_a_bad_attribute_is_refused_alone_with_the_reason);
    tcase_add_test(tc, test_spool_ndjson_attrs_arrive_change_and_a_bad_line_is_listed);
    tcase_add_test(tc, test_spool_csv_attribute_columns_arrive_and_empty_cells_are_left_out);
    suite_add_tcase(s, tc);
    return tu_run_suite_in_order(s);
}
