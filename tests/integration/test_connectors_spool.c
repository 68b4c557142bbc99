/* The spool connector, run in the in-memory plugin host on a real
 * directory: each format, malformed lines, half-written and ignored files,
 * a daemon that goes away mid-file, corrections (op lines, CSV op
 * columns, voided xAPI statements) and partner attributes (NDJSON attrs,
 * CSV attribute columns). */
#include <check.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "testhost.h"
#include "testutil.h"
#include "tierd/plugin.h"

#define PATH_MAX_TEST 4096
#define DIR_MAX_TEST  512
#define WAIT_MS       5000
#define SETTLE        "300ms"
#define LONG_SETTLE   "10m"            /* "still being written" for as long as any test runs */
#define SETTLED_AGE_S 3600             /* a file this old has settled under either */
#define LAST_FILE     "zz-last.ndjson" /* sorts after every other name a test uses */
#define LAST_LINE     "{\"id\":\"last\",\"partner\":\"p\",\"metric\":\"m\",\"at\":\"2026-01-01\"}\n"

static char tmp[DIR_MAX_TEST / 2];
static char plugdir[DIR_MAX_TEST];
static char spooldir[DIR_MAX_TEST];
static testhost *th;

static void setup(void)
{
    ck_assert_ptr_nonnull(testhost_tmpdir("td-spool", tmp, sizeof tmp));
    const char *sos[] = {TD_SPOOL_SO};
    ck_assert_int_eq(testhost_plugin_dir(tmp, sos, 1, plugdir, sizeof plugdir), 0);
    snprintf(spooldir, sizeof spooldir, "%s/in", tmp);
    ck_assert_int_eq(mkdir(spooldir, 0755), 0);
    th = NULL;
}

static void teardown(void)
{
    testhost_free(th);
    ck_assert_int_eq(tu_rm_rf(tmp), 0);
}

static void start_settling(const char *settle, const char *extra_json)
{
    char cfg[8192];
    snprintf(cfg, sizeof cfg, "{\"dir\":\"%s\",\"settle\":\"%s\",\"scan\":\"100ms\"%s%s}", spooldir,
             settle, extra_json ? "," : "", extra_json ? extra_json : "");
    th = testhost_new("files", cfg, NULL);
    td_error err;
    ck_assert_msg(testhost_start(th, plugdir, "spool", &err) == 0, "%s", err.message);
}

static void start(const char *extra_json)
{
    start_settling(SETTLE, extra_json);
}

/* Sets path's times to long ago: a file whose writer finished. */
static void make_settled(const char *path)
{
    time_t then = time(NULL) - SETTLED_AGE_S;
    struct timespec times[2] = {{then, 0}, {then, 0}};
    ck_assert_int_eq(utimensat(AT_FDCWD, path, times, 0), 0);
}

static void path_in(char *out, size_t n, const char *sub, const char *name)
{
    if (sub)
        snprintf(out, n, "%s/%s/%s", spooldir, sub, name);
    else
        snprintf(out, n, "%s/%s", spooldir, name);
}

/* Writes name via a temporary and a rename, as a well-behaved producer does. */
static void drop(const char *name, const char *text)
{
    char tmpname[PATH_MAX_TEST], final[PATH_MAX_TEST];
    snprintf(tmpname, sizeof tmpname, "%s/.%s.tmp", spooldir, name);
    path_in(final, sizeof final, NULL, name);
    FILE *f = fopen(tmpname, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
    /* An old modification time: a renamed-in file has long settled. */
    make_settled(tmpname);
    ck_assert_int_eq(rename(tmpname, final), 0);
}

static bool exists(const char *sub, const char *name)
{
    char p[PATH_MAX_TEST];
    path_in(p, sizeof p, sub, name);
    return access(p, F_OK) == 0;
}

static bool wait_exists(const char *sub, const char *name)
{
    tu_deadline d = tu_deadline_in(WAIT_MS);
    bool there;
    while (!(there = exists(sub, name)) && tu_poll(&d))
        ;
    return there;
}

/* Waits until name was moved to failed/. Its .err is whole by then: the
 * spool writes that first, so the .err alone may still be half written. */
static bool wait_failed(const char *name)
{
    return wait_exists("failed", name);
}

/* Drops LAST_FILE and waits until it is done: the spool reads a scan's
 * files in name order, so every file already there was looked at. */
static void drop_last_and_wait(void)
{
    drop(LAST_FILE, LAST_LINE);
    ck_assert(wait_exists("done", LAST_FILE));
}

static char *slurp(const char *sub, const char *name)
{
    char p[PATH_MAX_TEST];
    path_in(p, sizeof p, sub, name);
    FILE *f = fopen(p, "r");
    ck_assert_msg(f != NULL, "cannot open %s", p);
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

START_TEST(test_ndjson_file_delivers_partners_and_events_then_moves_to_done)
{
    start(NULL);
    drop("a.ndjson",
         "{\"partner\":\"p-001\",\"name\":\"Acme Ltd\",\"types\":[\"reseller\",\"services\"]}\n"
         "\n"
         "{\"id\":\"opp-0042\",\"source\":\"crm\",\"partner\":\"p-001\",\"metric\":\"deal_closed\","
         "\"value\":12000,\"at\":\"2026-05-01T00:00:00Z\",\"key\":\"opp-0042\"}\n"
         "{\"id\":\"c-1\",\"partner\":\"p-001\",\"metric\":\"certification\","
         "\"at\":\"2026-05-02T00:00:00Z\",\"key\":\"sales-101\"}\n");
    ck_assert(testhost_wait_events(th, 2, WAIT_MS));
    ck_assert(wait_exists("done", "a.ndjson"));
    ck_assert(!exists(NULL, "a.ndjson"));
    json_t *p = testhost_partners(th);
    ck_assert_uint_eq(json_array_size(p), 1);
    ck_assert_str_eq(testhost_str(p, 0, "name"), "Acme Ltd");
    ck_assert_uint_eq(json_array_size(json_object_get(json_array_get(p, 0), "types")), 2);
    json_decref(p);
    json_t *e = testhost_events(th);
    ck_assert_uint_eq(json_array_size(e), 2);
    ck_assert_str_eq(testhost_str(e, 0, "source"), "crm");
    ck_assert(testhost_num(e, 0, "value") == 12000);
    ck_assert_str_eq(testhost_str(e, 0, "origin"), "a.ndjson:3");
    /* no source in the line: the connector's name stands in */
    ck_assert_str_eq(testhost_str(e, 1, "source"), "files");
    ck_assert(testhost_num(e, 1, "value") == 1);
    json_decref(e);
    char *cursor = testhost_cursor(th);
    ck_assert_str_eq(cursor, "a.ndjson");
    free(cursor);
}
END_TEST

START_TEST(test_ndjson_malformed_lines_are_listed_by_line_in_an_err_file)
{
    start(NULL);
    drop(
        "bad.ndjson",
        "{\"id\":\"e1\",\"partner\":\"p\",\"metric\":\"m\",\"at\":\"2026-01-01\"}\n"
        "{\"id\":\"e2\",\"partner\":\"p\",\n"
        "{\"id\":\"e3\",\"partner\":\"p\",\"metric\":\"m\",\"at\":\"2026-01-01\",\"value\":\"x\"}\n"
        "{\"id\":\"e4\",\"partner\":\"p\",\"metric\":\"m\",\"at\":\"2026-01-01\",\"value\":1e999}\n"
        "{\"id\":\"e5\",\"partner\":\"p\xff\",\"metric\":\"m\",\"at\":\"2026-01-01\"}\n"
        "[1,2]\n"
        "{\"id\":\"e7\",\"partner\":\"p\",\"metric\":\"m\",\"at\":\"2026-01-02\"}\n");
    ck_assert(wait_failed("bad.ndjson"));
    char *err = slurp("failed", "bad.ndjson.err");
    ck_assert_msg(strstr(err, "bad.ndjson:2: "), "%s", err);
    ck_assert_msg(strstr(err, "bad.ndjson:3: value must be a number"), "%s", err);
    ck_assert_msg(strstr(err, "bad.ndjson:4: "), "%s", err);
    ck_assert_msg(strstr(err, "bad.ndjson:5: "), "%s", err);
    ck_assert_msg(strstr(err, "bad.ndjson:6: not a JSON object"), "%s", err);
    ck_assert_msg(!strstr(err, "bad.ndjson:1:") && !strstr(err, "bad.ndjson:7:"), "%s", err);
    /* the good lines were still taken */
    json_t *e = testhost_events(th);
    ck_assert_uint_eq(json_array_size(e), 2);
    ck_assert_str_eq(testhost_str(e, 0, "id"), "e1");
    ck_assert_str_eq(testhost_str(e, 1, "id"), "e7");
    json_decref(e);
}
END_TEST

START_TEST(test_csv_rows_map_through_configured_columns)
{
    start("\"csv\":{\"columns\":{\"id\":\"Opportunity\",\"partner\":\"Account\","
          "\"value\":\"Amount\",\"at\":\"Closed\"},\"metric\":\"deal_closed\"}");
    drop("deals.csv", "Opportunity,Account,Stage,Amount,Closed\n"
                      "opp-1,p-001,won,12000,2026-05-01T00:00:00Z\n"
                      "\"opp-2\",\"p-002\",\"won, finally\",\"3500.5\",2026-05-03\n"
                      "\"opp-\"\"3\",p-003,won,,2026-05-04\r\n");
    ck_assert(testhost_wait_events(th, 3, WAIT_MS));
    ck_assert(wait_exists("done", "deals.csv"));
    json_t *e = testhost_events(th);
    ck_assert_str_eq(testhost_str(e, 0, "id"), "opp-1");
    ck_assert_str_eq(testhost_str(e, 0, "metric"), "deal_closed");
    ck_assert(testhost_num(e, 0, "value") == 12000);
    ck_assert_str_eq(testhost_str(e, 1, "partner"), "p-002");
    ck_assert(testhost_num(e, 1, "value") == 3500.5);
    ck_assert_str_eq(testhost_str(e, 2, "id"), "opp-\"3");
    ck_assert(!json_is_true(json_object_get(json_array_get(e, 2), "has_value")));
    json_decref(e);
}
END_TEST

START_TEST(test_csv_partners_file_upserts_partners)
{
    start("\"csv\":{\"kind\":\"partners\",\"columns\":{\"id\":\"id\",\"name\":\"name\","
          "\"types\":\"types\"}}");
    drop("partners.csv", "id,name,types\np-1,Acme,reseller;services\np-2,\"Beta, Inc\",msp\n");
    ck_assert(testhost_wait_partners(th, 2, WAIT_MS));
    json_t *p = testhost_partners(th);
    ck_assert_str_eq(testhost_str(p, 1, "name"), "Beta, Inc");
    ck_assert_uint_eq(json_array_size(json_object_get(json_array_get(p, 0), "types")), 2);
    json_decref(p);
}
END_TEST

START_TEST(test_csv_bad_rows_are_reported_by_line)
{
    start("\"csv\":{\"columns\":{\"id\":\"id\",\"partner\":\"p\",\"value\":\"v\",\"at\":\"at\"},"
          "\"metric\":\"deal_closed\"}");
    drop("x.csv", "id,p,v,at\n"
                  "a,p-1,1,2026-01-01\n"
                  "b,p-1,2\n"
                  "c,p-1,NaN,2026-01-01\n"
                  "d,p-1,\"unterminated,2026-01-01\n"
                  "e,p-1,1e400,2026-01-01\n"
                  "f,p-1,5,2026-01-01\n");
    ck_assert(wait_failed("x.csv"));
    char *err = slurp("failed", "x.csv.err");
    ck_assert_msg(strstr(err, "x.csv:3: 3 columns, the header has 4"), "%s", err);
    ck_assert_msg(strstr(err, "x.csv:4: value \"NaN\" is not a finite number"), "%s", err);
    ck_assert_msg(strstr(err, "x.csv:5: unterminated quoted field"), "%s", err);
    ck_assert_msg(strstr(err, "x.csv:6: "), "%s", err);
    json_t *e = testhost_events(th);
    ck_assert_uint_eq(json_array_size(e), 2);
    json_decref(e);
}
END_TEST

START_TEST(test_csv_header_missing_a_mapped_column_fails_the_file)
{
    start("\"csv\":{\"columns\":{\"id\":\"id\",\"partner\":\"account\",\"at\":\"at\"},"
          "\"metric\":\"m\"}");
    drop("y.csv", "id,partner,at\na,p,2026-01-01\n");
    ck_assert(wait_failed("y.csv"));
    char *err = slurp("failed", "y.csv.err");
    ck_assert_msg(strstr(err, "y.csv:1: header has no column \"account\""), "%s", err);
}
END_TEST

static const char *xapi_stmt(char *buf, size_t n, const char *id, const char *verb,
                             const char *mbox, const char *course, const char *extra)
{
    snprintf(buf, n,
             "{\"id\":\"%s\",\"actor\":{\"objectType\":\"Agent\",\"mbox\":\"mailto:%s\"},"
             "\"verb\":{\"id\":\"http://adlnet.gov/expapi/verbs/%s\"},"
             "\"object\":{\"id\":\"%s\"},\"timestamp\":\"2026-03-01T10:00:00Z\"%s}",
             id, mbox, verb, course, extra ? extra : "");
    return buf;
}

START_TEST(test_xapi_completed_and_passed_become_certifications_keyed_by_course)
{
    start("\"xapi\":{\"actors\":{\"acme.example\":\"p-001\",\"solo@beta.example\":\"p-002\"}}");
    char a[1024], b[1024], c[1024], d[1024], text[8192];
    snprintf(text, sizeof text, "%s\n%s\n%s\n%s\n",
             xapi_stmt(a, sizeof a, "s-1", "completed", "ann@acme.example",
                       "https://lms.example/course/sales-101", NULL),
             xapi_stmt(b, sizeof b, "s-2", "experienced", "ann@acme.example",
                       "https://lms.example/course/sales-101", NULL),
             xapi_stmt(c, sizeof c, "s-3", "passed", "solo@beta.example",
                       "https://lms.example/course/tech-201", NULL),
             xapi_stmt(d, sizeof d, "s-4", "passed", "bob@acme.example",
                       "https://lms.example/course/tech-201", ",\"result\":{\"success\":false}"));
    drop("lrs.xapi", text);
    ck_assert(wait_exists("done", "lrs.xapi"));
    json_t *e = testhost_events(th);
    ck_assert_uint_eq(json_array_size(e), 2);
    ck_assert_str_eq(testhost_str(e, 0, "id"), "s-1");
    ck_assert_str_eq(testhost_str(e, 0, "partner"), "p-001");
    ck_assert_str_eq(testhost_str(e, 0, "metric"), "certification");
    ck_assert_str_eq(testhost_str(e, 0, "key"), "https://lms.example/course/sales-101");
    ck_assert_str_eq(testhost_str(e, 0, "at"), "2026-03-01T10:00:00Z");
    ck_assert_str_eq(testhost_str(e, 1, "partner"), "p-002");
    json_decref(e);
}
END_TEST

START_TEST(test_xapi_array_with_unknown_actor_names_the_statement)
{
    start("\"xapi\":{\"actors\":{\"acme.example\":\"p-001\"}}");
    char a[1024], b[1024], text[4096];
    snprintf(text, sizeof text, "[\n%s,\n%s\n]\n",
             xapi_stmt(a, sizeof a, "s-1", "completed", "ann@acme.example", "c-1", NULL),
             xapi_stmt(b, sizeof b, "s-2", "completed", "eve@nowhere.example", "c-1", NULL));
    drop("batch.json", text);
    ck_assert(wait_failed("batch.json"));
    char *err = slurp("failed", "batch.json.err");
    ck_assert_msg(strstr(err, "batch.json:2: actor eve@nowhere.example maps to no partner"), "%s",
                  err);
    json_t *e = testhost_events(th);
    ck_assert_uint_eq(json_array_size(e), 1);
    json_decref(e);
}
END_TEST

/* A writer still at it keeps the modification time fresh; with a settle
 * of minutes the file stays that fresh for the whole test, whatever the
 * machine's speed. */
START_TEST(test_half_written_file_is_not_read_until_it_settles)
{
    start_settling(LONG_SETTLE, NULL);
    char p[PATH_MAX_TEST];
    path_in(p, sizeof p, NULL, "slow.ndjson");
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 8; i++)
        fprintf(f, "{\"id\":\"e%d\",\"partner\":\"p\",\"metric\":\"m\",\"at\":\"2026-01-01\"}\n",
                i);
    fputs("{\"id\":\"e8\",\"partner\":\"p\",", f); /* mid-line */
    fflush(f);
    drop_last_and_wait();
    ck_assert(exists(NULL, "slow.ndjson"));
    json_t *e = testhost_events(th);
    ck_assert_uint_eq(json_array_size(e), 1);
    ck_assert_str_eq(testhost_str(e, 0, "id"), "last");
    json_decref(e);
    fputs("\"metric\":\"m\",\"at\":\"2026-01-01\"}\n", f);
    ck_assert_int_eq(fclose(f), 0);
    make_settled(p);
    ck_assert(wait_exists("done", "slow.ndjson"));
    e = testhost_events(th);
    ck_assert_uint_eq(json_array_size(e), 1 + 9);
    json_decref(e);
}
END_TEST

START_TEST(test_part_tmp_and_dot_files_are_ignored_until_renamed)
{
    start(NULL);
    const char *line = "{\"id\":\"e1\",\"partner\":\"p\",\"metric\":\"m\",\"at\":\"2026-01-01\"}\n";
    const char *names[] = {"x.ndjson.part", "x.ndjson.tmp", ".x.ndjson"};
    for (size_t i = 0; i < 3; i++) {
        char p[PATH_MAX_TEST];
        path_in(p, sizeof p, NULL, names[i]);
        ck_assert_int_eq(tu_write_file(p, line), 0);
        make_settled(p);
    }
    drop_last_and_wait();
    for (size_t i = 0; i < 3; i++)
        ck_assert(exists(NULL, names[i]));
    ck_assert_uint_eq(testhost_commits(th), 1);
    char from[PATH_MAX_TEST], to[PATH_MAX_TEST];
    path_in(from, sizeof from, NULL, "x.ndjson.part");
    path_in(to, sizeof to, NULL, "x.ndjson");
    ck_assert_int_eq(rename(from, to), 0);
    ck_assert(testhost_wait_events(th, 2, WAIT_MS));
    ck_assert(wait_exists("done", "x.ndjson"));
}
END_TEST

START_TEST(test_file_stays_in_place_when_the_daemon_is_unavailable)
{
    start(NULL);
    testhost_fail_commits(th, true);
    drop("keep.ndjson",
         "{\"id\":\"e1\",\"partner\":\"p\",\"metric\":\"m\",\"at\":\"2026-01-01\"}\n");
    ck_assert(testhost_wait_exit(th, WAIT_MS));
    td_error err;
    ck_assert_int_ne(testhost_stop(th, &err), 0);
    ck_assert_int_eq(err.code, TD_UNAVAILABLE);
    ck_assert(exists(NULL, "keep.ndjson"));
    ck_assert(!exists("done", "keep.ndjson"));
    ck_assert(!exists("failed", "keep.ndjson"));
}
END_TEST

START_TEST(test_unknown_extension_goes_to_failed)
{
    start(NULL);
    drop("notes.txt", "hello\n");
    ck_assert(wait_failed("notes.txt"));
    char *err = slurp("failed", "notes.txt.err");
    ck_assert_msg(strstr(err, "unknown format"), "%s", err);
}
END_TEST

/* ---- corrections ---------------------------------------------------------- */

START_TEST(test_ndjson_op_lines_become_retractions_and_amends)
{
    start(NULL);
    drop("fix.ndjson", "{\"id\":\"d-1\",\"partner\":\"p-1\",\"metric\":\"deal_closed\",\"value\":5,"
                       "\"at\":\"2026-05-01T00:00:00Z\"}\n"
                       "{\"op\":\"amend\",\"revision\":2,\"id\":\"d-1\",\"partner\":\"p-1\","
                       "\"metric\":\"deal_closed\",\"value\":7,\"at\":\"2026-05-01T00:00:00Z\"}\n"
                       "{\"op\":\"retract\",\"id\":\"d-1\",\"source\":\"crm\"}\n");
    ck_assert(wait_exists("done", "fix.ndjson"));
    json_t *e = testhost_events(th);
    ck_assert_uint_eq(json_array_size(e), 3);
    ck_assert_str_eq(testhost_str(e, 0, "op"), "");
    ck_assert_str_eq(testhost_str(e, 1, "op"), "amend");
    ck_assert(testhost_num(e, 1, "revision") == 2);
    ck_assert(testhost_num(e, 1, "value") == 7);
    /* A retraction with no metric is still an event, not a partner line. */
    ck_assert_str_eq(testhost_str(e, 2, "op"), "retract");
    ck_assert_str_eq(testhost_str(e, 2, "id"), "d-1");
    ck_assert_str_eq(testhost_str(e, 2, "source"), "crm");
    ck_assert_ptr_null(testhost_str(e, 2, "metric"));
    json_decref(e);
}
END_TEST

START_TEST(test_ndjson_bad_op_lines_are_listed_by_line_and_the_rest_goes_on)
{
    start(NULL);
    drop("bad.ndjson",
         "{\"op\":\"delete\",\"id\":\"d-1\"}\n"
         "{\"op\":\"amend\",\"id\":\"d-1\",\"partner\":\"p\",\"metric\":\"m\",\"at\":\"2026-01-"
         "01\"}\n"
         "{\"op\":\"amend\",\"revision\":0,\"id\":\"d-1\",\"partner\":\"p\",\"metric\":\"m\","
         "\"at\":\"2026-01-01\"}\n"
         "{\"op\":\"retract\",\"revision\":3,\"id\":\"d-1\"}\n"
         "{\"op\":\"retract\"}\n"
         "{\"op\":\"retract\",\"id\":\"d-2\"}\n");
    ck_assert(wait_failed("bad.ndjson"));
    char *err = slurp("failed", "bad.ndjson.err");
    ck_assert_msg(strstr(err, "bad.ndjson:1: op \"delete\": expected retract or amend"), "%s", err);
    ck_assert_msg(strstr(err, "bad.ndjson:2: op \"amend\" needs a revision"), "%s", err);
    ck_assert_msg(strstr(err, "bad.ndjson:3: revision must be a whole number from 1"), "%s", err);
    ck_assert_msg(strstr(err, "bad.ndjson:4: revision belongs only to op \"amend\""), "%s", err);
    ck_assert_msg(strstr(err, "bad.ndjson:5: event id is missing"), "%s", err);
    json_t *e = testhost_events(th);
    ck_assert_uint_eq(json_array_size(e), 1);
    ck_assert_str_eq(testhost_str(e, 0, "id"), "d-2");
    json_decref(e);
}
END_TEST

/* A tierd-connector from before corrections offers no emit_event_op: an
 * op line is a bad line there, never sent as a new event. */
START_TEST(test_op_lines_on_a_host_without_corrections_are_refused_not_sent_as_new)
{
    char cfg[1024];
    snprintf(cfg, sizeof cfg, "{\"dir\":\"%s\",\"settle\":\"%s\",\"scan\":\"100ms\"}", spooldir,
             SETTLE);
    th = testhost_new("files", cfg, NULL);
    testhost_set_api_size(th, offsetof(tierd_host_api, emit_event_op));
    td_error err;
    ck_assert_msg(testhost_start(th, plugdir, "spool", &err) == 0, "%s", err.message);
    drop("old.ndjson",
         "{\"op\":\"retract\",\"id\":\"d-1\"}\n"
         "{\"id\":\"d-2\",\"partner\":\"p\",\"metric\":\"m\",\"at\":\"2026-01-01\"}\n");
    ck_assert(wait_failed("old.ndjson"));
    char *text = slurp("failed", "old.ndjson.err");
    ck_assert_msg(strstr(text, "old.ndjson:1: op \"retract\": this tierd-connector predates "
                               "corrections"),
                  "%s", text);
    json_t *e = testhost_events(th);
    ck_assert_uint_eq(json_array_size(e), 1);
    ck_assert_str_eq(testhost_str(e, 0, "id"), "d-2");
    json_decref(e);
}
END_TEST

START_TEST(test_csv_op_and_revision_columns_carry_corrections)
{
    start("\"csv\":{\"metric\":\"deal_closed\",\"columns\":{\"id\":\"Opp\",\"partner\":"
          "\"Partner\",\"value\":\"Amount\",\"at\":\"Closed\",\"op\":\"Change\","
          "\"revision\":\"Rev\"}}");
    drop("deals.csv", "Opp,Partner,Amount,Closed,Change,Rev\n"
                      "o-1,p-1,100,2026-05-01,,\n"
                      "o-1,p-1,150,2026-05-01,amend,3\n"
                      "o-2,,,,retract,\n"
                      "o-3,p-1,1,2026-05-01,amend,\n"
                      "o-4,p-1,1,2026-05-01,amend,-1\n"
                      "o-5,p-1,1,2026-05-01,void,\n");
    ck_assert(wait_failed("deals.csv"));
    json_t *e = testhost_events(th);
    ck_assert_uint_eq(json_array_size(e), 3);
    ck_assert_str_eq(testhost_str(e, 0, "op"), "");
    ck_assert_str_eq(testhost_str(e, 1, "op"), "amend");
    ck_assert(testhost_num(e, 1, "revision") == 3);
    ck_assert(testhost_num(e, 1, "value") == 150);
    ck_assert_str_eq(testhost_str(e, 2, "op"), "retract");
    ck_assert_str_eq(testhost_str(e, 2, "id"), "o-2");
    json_decref(e);
    char *err = slurp("failed", "deals.csv.err");
    ck_assert_msg(strstr(err, "deals.csv:5: op \"amend\" needs a revision"), "%s", err);
    ck_assert_msg(strstr(err, "deals.csv:6: revision \"-1\" is not a whole number from 1"), "%s",
                  err);
    ck_assert_msg(strstr(err, "deals.csv:7: op \"void\": expected retract, amend or nothing"), "%s",
                  err);
}
END_TEST

START_TEST(test_xapi_voided_statement_retracts_the_statement_it_names)
{
    start("\"xapi\":{\"actors\":{\"acme.example\":\"p-001\"}}");
    char a[1024], text[4096];
    snprintf(text, sizeof text,
             "%s\n"
             "{\"id\":\"v-1\",\"actor\":{\"mbox\":\"mailto:admin@lrs.example\"},"
             "\"verb\":{\"id\":\"http://adlnet.gov/expapi/verbs/voided\"},"
             "\"object\":{\"objectType\":\"StatementRef\",\"id\":\"s-1\"},"
             "\"timestamp\":\"2026-03-02T10:00:00Z\"}\n"
             "{\"id\":\"v-2\",\"actor\":{\"mbox\":\"mailto:admin@lrs.example\"},"
             "\"verb\":{\"id\":\"http://adlnet.gov/expapi/verbs/voided\"},"
             "\"object\":{\"id\":\"https://lms.example/course/x\"}}\n",
             xapi_stmt(a, sizeof a, "s-1", "completed", "ann@acme.example",
                       "https://lms.example/course/sales-101", NULL));
    drop("lrs.xapi", text);
    ck_assert(wait_failed("lrs.xapi"));
    json_t *e = testhost_events(th);
    ck_assert_uint_eq(json_array_size(e), 2);
    ck_assert_str_eq(testhost_str(e, 0, "id"), "s-1");
    ck_assert_str_eq(testhost_str(e, 0, "op"), "");
    /* The voiding statement's own actor needs no partner mapping: the
     * retraction names only the voided statement, under the same source. */
    ck_assert_str_eq(testhost_str(e, 1, "op"), "retract");
    ck_assert_str_eq(testhost_str(e, 1, "id"), "s-1");
    ck_assert_str_eq(testhost_str(e, 1, "source"), testhost_str(e, 0, "source"));
    json_decref(e);
    char *err = slurp("failed", "lrs.xapi.err");
    ck_assert_msg(strstr(err, "lrs.xapi:3: a voiding statement needs an object of objectType "
                              "StatementRef"),
                  "%s", err);
}
END_TEST

/* ---- partner attributes --------------------------------------------------- */

/* An NDJSON partner line's attrs go as the partner's whole map; a line
 * without attrs keeps the stored map (recorded null); a value that is no
 * string is a bad line and the rest goes on. */
START_TEST(test_ndjson_partner_attrs_are_sent_as_the_whole_map)
{
    start(NULL);
    drop("p.ndjson", "{\"partner\":\"p-1\",\"attrs\":{\"region\":\"EMEA\",\"segment\":\"smb\"}}\n"
                     "{\"partner\":\"p-2\",\"attrs\":{\"region\":7}}\n"
                     "{\"partner\":\"p-3\",\"attrs\":{}}\n"
                     "{\"partner\":\"p-4\"}\n");
    ck_assert(wait_failed("p.ndjson"));
    char *text = slurp("failed", "p.ndjson.err");
    ck_assert_msg(strstr(text, "p.ndjson:2: partner: attribute 'region' must be a string"), "%s",
                  text);
    json_t *p = testhost_partners(th);
    ck_assert_uint_eq(json_array_size(p), 3);
    json_t *a0 = json_object_get(json_array_get(p, 0), "attrs");
    ck_assert_str_eq(json_string_value(json_object_get(a0, "region")), "EMEA");
    ck_assert_str_eq(json_string_value(json_object_get(a0, "segment")), "smb");
    json_t *a1 = json_object_get(json_array_get(p, 1), "attrs");
    ck_assert(json_is_object(a1) && json_object_size(a1) == 0); /* {} clears */
    ck_assert(json_is_null(json_object_get(json_array_get(p, 2), "attrs")));
    json_decref(p);
}
END_TEST

/* The host's rule refuses the partner with the reason in the .err file. */
START_TEST(test_ndjson_partner_with_a_bad_attribute_is_listed_with_the_host_reason)
{
    start(NULL);
    drop("p.ndjson", "{\"partner\":\"p-1\",\"attrs\":{\"region\":\"EM\\u0007EA\"}}\n"
                     "{\"partner\":\"p-2\",\"attrs\":{\"region\":\"APAC\"}}\n");
    ck_assert(wait_failed("p.ndjson"));
    char *text = slurp("failed", "p.ndjson.err");
    ck_assert_msg(strstr(text, "p.ndjson:1: partner p-1: attribute 'region': value holds a "
                               "control character"),
                  "%s", text);
    json_t *p = testhost_partners(th);
    ck_assert_uint_eq(json_array_size(p), 1);
    ck_assert_str_eq(testhost_str(p, 0, "partner"), "p-2");
    json_decref(p);
}
END_TEST

/* CSV partner files map attribute columns by csv.columns.attrs; an empty
 * cell leaves the attribute out. */
START_TEST(test_csv_partner_attribute_columns_empty_cells_left_out)
{
    start("\"csv\":{\"kind\":\"partners\",\"columns\":{\"id\":\"Account\","
          "\"attrs\":{\"region\":\"Region\",\"size\":\"Size\"}}}");
    drop("p.csv", "Account,Region,Size\na-1,EMEA,large\na-2,,small\n");
    ck_assert(wait_exists("done", "p.csv"));
    json_t *p = testhost_partners(th);
    ck_assert_uint_eq(json_array_size(p), 2);
    json_t *a0 = json_object_get(json_array_get(p, 0), "attrs");
    ck_assert_uint_eq(json_object_size(a0), 2);
    ck_assert_str_eq(json_string_value(json_object_get(a0, "size")), "large");
    json_t *a1 = json_object_get(json_array_get(p, 1), "attrs");
    ck_assert_uint_eq(json_object_size(a1), 1);
    ck_assert_ptr_null(json_object_get(a1, "region"));
    json_decref(p);
}
END_TEST

START_TEST(test_csv_attribute_mapping_that_cannot_work_is_refused_at_start)
{
    static const char *bad[][2] = {
        {"\"csv\":{\"kind\":\"partners\",\"columns\":{\"attrs\":{\"bad key\":\"R\"}}}",
         "key 'bad key' must be 1..64 bytes"},
        {"\"csv\":{\"columns\":{\"attrs\":{\"region\":\"R\"}}}", "is for partner files"},
        {"\"csv\":{\"kind\":\"partners\",\"columns\":{\"attrs\":{\"region\":1}}}",
         "csv.columns.attrs.region must name a column"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char cfg[1024];
        snprintf(cfg, sizeof cfg, "{\"dir\":\"%s\",%s}", spooldir, bad[i][0]);
        testhost *t = testhost_new("files", cfg, NULL);
        td_error err;
        ck_assert_int_ne(testhost_start(t, plugdir, "spool", &err), 0);
        ck_assert_msg(strstr(err.message, bad[i][1]), "%s", err.message);
        testhost_free(t);
    }
}
END_TEST

/* A tierd-connector from before attributes offers no emit_partner_attrs: a
 * partner line with attrs is a bad line there, never sent without them. */
START_TEST(test_attrs_lines_on_a_host_without_attributes_are_refused_not_sent_bare)
{
    char cfg[1024];
    snprintf(cfg, sizeof cfg, "{\"dir\":\"%s\",\"settle\":\"%s\",\"scan\":\"100ms\"}", spooldir,
             SETTLE);
    th = testhost_new("files", cfg, NULL);
    testhost_set_api_size(th, offsetof(tierd_host_api, emit_partner_attrs));
    td_error err;
    ck_assert_msg(testhost_start(th, plugdir, "spool", &err) == 0, "%s", err.message);
    drop("old.ndjson", "{\"partner\":\"p-1\",\"attrs\":{\"region\":\"EMEA\"}}\n"
                       "{\"partner\":\"p-2\"}\n");
    ck_assert(wait_failed("old.ndjson"));
    char *text = slurp("failed", "old.ndjson.err");
    ck_assert_msg(strstr(text, "old.ndjson:1: partner attributes: this tierd-connector predates "
                               "them"),
                  "%s", text);
    json_t *p = testhost_partners(th);
    ck_assert_uint_eq(json_array_size(p), 1);
    ck_assert_str_eq(testhost_str(p, 0, "partner"), "p-2");
    json_decref(p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("connectors_spool");
    TCase *tc = tcase_create("spool");
    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_ndjson_file_delivers_partners_and_events_then_moves_to_done);
    tcase_add_test(tc, test_ndjson_malformed_lines_are_listed_by_line_in_an_err_file);
    tcase_add_test(tc, test_csv_rows_map_through_configured_columns);
    tcase_add_test(tc, test_csv_partners_file_upserts_partners);
    tcase_add_test(tc, test_csv_bad_rows_are_reported_by_line);
    tcase_add_test(tc, test_csv_header_missing_a_mapped_column_fails_the_file);
    tcase_add_test(tc, test_xapi_completed_and_passed_become_certifications_keyed_by_course);
    tcase_add_test(tc, test_xapi_array_with_unknown_actor_names_the_statement);
    tcase_add_test(tc, test_half_written_file_is_not_read_until_it_settles);
    tcase_add_test(tc, test_part_tmp_and_dot_files_are_ignored_until_renamed);
    tcase_add_test(tc, test_file_stays_in_place_when_the_daemon_is_unavailable);
    tcase_add_test(tc, test_unknown_extension_goes_to_failed);
    tcase_add_test(tc, test_ndjson_op_lines_become_retractions_and_amends);
    tcase_add_test(tc, test_ndjson_bad_op_lines_are_listed_by_line_and_the_rest_goes_on);
    tcase_add_test(tc, test_op_lines_on_a_host_without_corrections_are_refused_not_sent_as_new);
    tcase_add_test(tc, test_csv_op_and_revision_columns_carry_corrections);
    tcase_add_test(tc, test_xapi_voided_statement_retracts_the_statement_it_names);
    tcase_add_test(tc, test_ndjson_partner_attrs_are_sent_as_the_whole_map);
    tcase_add_test(tc, test_ndjson_partner_with_a_bad_attribute_is_listed_with_the_host_reason);
    tcase_add_test(tc, test_csv_partner_attribute_columns_empty_cells_left_out);
    tcase_add_test(tc, test_csv_attribute_mapping_that_cannot_work_is_refused_at_start);
    tcase_add_test(tc, test_attrs_lines_on_a_host_without_attributes_are_refused_not_sent_bare);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
