/* tierctl for people (issue 16.7), the real tierctl against the real tierd:
 * help drawn from the command table, --version, "did you mean", thresholds
 * shown as the program wrote them and numbers rounded for reading (full
 * precision in --json), partner list in columns with the rows left out
 * counted, the valid tiers named when one is unknown, a warning for a
 * partner on no ladder, and rejected import lines reported in file order
 * by file line number. Exit statuses stay 0/1/2/3. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define CLOCK_START   "2026-11-15T00:00:00Z"
#define BIG_IMPORT    2500 /* lines: three batches of at most 1,000 */
#define LINE_MAX_TEXT 256

/* csat is written as a percentage, revenue as a plain number. */
static const char *const PROGRAM = "program: ux\n"
                                   "version: \"1\"\n"
                                   "metrics:\n"
                                   "  csat: { agg: avg }\n"
                                   "  revenue: { agg: sum }\n"
                                   "ladders:\n"
                                   "  reseller:\n"
                                   "    partner_types: [reseller]\n"
                                   "    tiers:\n"
                                   "      - { name: Registered, when: csat >= 80% }\n"
                                   "      - { name: Gold, when: revenue >= 5000 }\n"
                                   "  services:\n"
                                   "    partner_types: [services, integrator]\n"
                                   "    tiers:\n"
                                   "      - { name: Trained, when: revenue >= 1 }\n";

static void has(const char *text, const char *want)
{
    ck_assert_msg(strstr(text, want) != NULL, "'%s' not in:\n%s", want, text);
}

static void lacks(const char *text, const char *unwanted)
{
    ck_assert_msg(strstr(text, unwanted) == NULL, "'%s' in:\n%s", unwanted, text);
}

static size_t count_lines(const char *text)
{
    size_t n = 0;
    for (; *text; text++)
        n += *text == '\n';
    return n;
}

/* tierctl argv must exit with want; its stdout and stderr (malloc'd). */
static void ctl(const harness *h, int want, char **out, char **err, const char *const *argv)
{
    int rc = harness_tierctl(h, argv, out, err);
    ck_assert_msg(rc == want, "tierctl %s %s exited %d, not %d; stderr:\n%s", argv[0],
                  argv[1] ? argv[1] : "", rc, want, *err);
}
#define CTL(h, want, out, err, ...)                                                                \
    ctl((h), (want), (out), (err), (const char *const[]){__VA_ARGS__, NULL})

static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    ck_assert_msg(doc != NULL, "not JSON (%s): %s", jerr.text, text);
    return doc;
}

static void start(harness *h)
{
    harness_init(h);
    HARNESS_START_OK(h, "--fake-clock", CLOCK_START, NULL);
    char path[HARNESS_PATH_MAX];
    harness_write_file(h, "p.yaml", PROGRAM, path, sizeof path);
    HARNESS_TIERCTL_OK(h, "program", "load", path);
}

static void event(const harness *h, const char *partner, const char *metric, const char *value,
                  const char *id)
{
    HARNESS_TIERCTL_OK(h, "event", "add", "--partner", partner, "--metric", metric, "--value",
                       value, "--id", id);
}

/* ---- help, version, did you mean (no daemon needed) ---------------------------- */

START_TEST(test_help_gives_every_command_a_one_line_description)
{
    harness h;
    harness_init(&h);
    char *out, *err;
    CTL(&h, 0, &out, &err, "--help");
    const char *cmds = strstr(out, "commands:\n");
    ck_assert_ptr_nonnull(cmds);
    const char *end = strstr(cmds, "\n\n");
    ck_assert_ptr_nonnull(end);
    size_t rows = 0;
    for (const char *l = strchr(cmds, '\n') + 1; l < end; l = strchr(l, '\n') + 1, rows++) {
        /* "  partner list              partners and their tiers..." */
        const char *gap = strstr(l + 2, "  ");
        const char *nl = strchr(l, '\n');
        ck_assert_msg(gap && gap < nl, "no description: %.*s", (int)(nl - l), l);
        while (*gap == ' ')
            gap++;
        ck_assert_msg(nl - gap > 10, "description too short: %.*s", (int)(nl - l), l);
    }
    ck_assert_uint_ge(rows, 30);
    has(out, "  partner list ");
    has(out, "partners and their tiers, in columns");
    has(out, "  help ");
    has(out, "  version ");
    char *out2, *err2;
    CTL(&h, 0, &out2, &err2, "help");
    ck_assert_str_eq(out, out2);
    free(out);
    free(err);
    free(out2);
    free(err2);
    harness_cleanup(&h);
}
END_TEST

START_TEST(test_help_for_a_command_shows_usage_and_examples)
{
    harness h;
    harness_init(&h);
    char *out, *err;
    CTL(&h, 0, &out, &err, "help", "partner", "list");
    has(out, "tierctl partner list: partners and their tiers, in columns");
    has(out, "usage:\n  tierctl partner list [--ladder L]");
    has(out, "examples:\n  tierctl partner list --limit 20\n");
    char *out2, *err2;
    /* CMD --help, wherever it stands, prints the same and needs no daemon */
    CTL(&h, 0, &out2, &err2, "--url", "ipc:///nonexistent/rpc.sock", "partner", "list", "--ladder",
        "x", "--help");
    ck_assert_str_eq(out, out2);
    free(out2);
    free(err2);
    /* a group: every subcommand */
    CTL(&h, 0, &out2, &err2, "help", "partner");
    has(out2, "tierctl partner put:");
    has(out2, "tierctl partner delete:");
    free(out2);
    free(err2);
    CTL(&h, 0, &out2, &err2, "partner", "--help");
    has(out2, "tierctl partner import:");
    free(out2);
    free(err2);
    CTL(&h, 0, &out2, &err2, "explain", "--help");
    has(out2, "examples:\n  tierctl explain acme\n");
    free(out2);
    free(err2);
    CTL(&h, 2, &out2, &err2, "help", "partner", "shw");
    has(err2, "tierctl: unknown partner command 'shw'; did you mean 'show'?");
    free(out2);
    free(err2);
    free(out);
    free(err);
    harness_cleanup(&h);
}
END_TEST

START_TEST(test_version_prints_tierctl_and_tierd_versions)
{
    harness h;
    harness_init(&h);
    char *out, *err;
    /* no daemon: tierctl's own version, exit 0 */
    CTL(&h, 0, &out, &err, "--url", "ipc:///nonexistent/rpc.sock", "--version");
    ck_assert_msg(strncmp(out, "tierctl ", 8) == 0, "%s", out);
    ck_assert_uint_eq(count_lines(out), 1);
    free(out);
    free(err);
    HARNESS_START_OK(&h, "--fake-clock", CLOCK_START, NULL);
    CTL(&h, 0, &out, &err, "version");
    ck_assert_msg(strncmp(out, "tierctl ", 8) == 0, "%s", out);
    has(out, "\ntierd ");
    free(out);
    free(err);
    CTL(&h, 0, &out, &err, "--json", "version");
    json_t *doc = parse(out);
    ck_assert(json_is_string(json_object_get(doc, "tierctl")));
    ck_assert(json_is_string(json_object_get(doc, "tierd")));
    json_decref(doc);
    free(out);
    free(err);
    harness_finish(&h);
}
END_TEST

START_TEST(test_a_mistyped_command_names_the_typo_and_the_closest_command)
{
    harness h;
    harness_init(&h);
    char *out, *err;
    CTL(&h, 2, &out, &err, "partner", "shw", "p-1");
    ck_assert_msg(
        strncmp(err, "tierctl: unknown partner command 'shw'; did you mean 'show'?\n", 61) == 0,
        "%s", err);
    free(out);
    free(err);
    /* an unknown command: one line and the hint, not the whole usage */
    CTL(&h, 2, &out, &err, "stauts");
    ck_assert_str_eq(err, "tierctl: unknown command 'stauts'; did you mean 'status'?\n"
                          "tierctl --help lists every command\n");
    free(out);
    free(err);
    CTL(&h, 2, &out, &err, "frobnicate");
    ck_assert_str_eq(err, "tierctl: unknown command 'frobnicate'\n"
                          "tierctl --help lists every command\n");
    free(out);
    free(err);
    CTL(&h, 2, &out, &err, "explain", "p-1", "--ladr", "x");
    has(err, "unknown option '--ladr'; did you mean '--ladder'?");
    free(out);
    free(err);
    CTL(&h, 2, &out, &err, "--jsno", "status");
    has(err, "unknown option '--jsno'; did you mean '--json'?");
    free(out);
    free(err);
    harness_cleanup(&h);
}
END_TEST

/* ---- percentages and rounding ---------------------------------------------------- */

START_TEST(test_a_percentage_threshold_is_shown_as_written_and_json_keeps_full_precision)
{
    harness h;
    start(&h);
    HARNESS_TIERCTL_OK(&h, "partner", "put", "p-1", "--type", "reseller");
    event(&h, "p-1", "csat", "0.9", "c1");
    event(&h, "p-1", "csat", "0.9644444444", "c2");
    event(&h, "p-1", "revenue", "1234.5678", "r1");
    char *out, *err;
    CTL(&h, 0, &out, &err, "explain", "p-1", "--ladder", "reseller");
    has(out, "csat >= 80%: 93.22%");
    /* a plain threshold stays a number, its value rounded for reading */
    has(out, "revenue >= 5,000: 1,234.57 (3,765.43 to go)");
    has(out, "Gold needs revenue >= 5,000: 1,234.57 now, 3,765.43 to go");
    lacks(out, "0.8");
    lacks(out, "0.9322");
    free(out);
    free(err);
    CTL(&h, 0, &out, &err, "--json", "explain", "p-1", "--ladder", "reseller");
    json_t *doc = parse(out);
    json_t *tiers = json_object_get(doc, "tiers");
    json_t *csat = json_array_get(json_object_get(json_array_get(tiers, 0), "criteria"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(csat, "metric")), "csat");
    ck_assert(json_is_true(json_object_get(csat, "percent")));
    ck_assert_double_eq_tol(json_real_value(json_object_get(csat, "threshold")), 0.8, 1e-12);
    ck_assert_double_eq_tol(json_real_value(json_object_get(csat, "value")), 0.9322222222, 1e-9);
    json_t *rev = json_array_get(json_object_get(json_array_get(tiers, 1), "criteria"), 0);
    ck_assert(json_is_false(json_object_get(rev, "percent")));
    ck_assert_double_eq_tol(json_real_value(json_object_get(rev, "value")), 1234.5678, 1e-9);
    json_decref(doc);
    free(out);
    free(err);

    /* the wire says so too: Explain's criteria and gaps carry percent */
    td_client *c = harness_client(&h, NULL);
    Tierd__ExplainRequest req = TIERD__EXPLAIN_REQUEST__INIT;
    req.partner = "p-1";
    req.ladder = "reseller";
    Tierd__ExplainResponse *r;
    td_error e;
    ck_assert_int_eq(td_client_explain(c, &req, &r, &e), 0);
    ck_assert_uint_eq(r->n_ladders, 1);
    const Tierd__LadderExplanation *l = r->ladders[0];
    ck_assert(l->tiers[0]->criteria[0]->percent);
    ck_assert(!l->tiers[1]->criteria[0]->percent);
    tierd__explain_response__free_unpacked(r, NULL);
    td_client_close(c);
    harness_finish(&h);
}
END_TEST

START_TEST(test_a_lost_percentage_criterion_reads_as_written_in_history)
{
    harness h;
    start(&h);
    HARNESS_TIERCTL_OK(&h, "partner", "put", "p-1", "--type", "reseller");
    event(&h, "p-1", "csat", "0.9", "c1");
    event(&h, "p-1", "csat", "0.5", "c2");            /* avg 0.7: Registered is lost */
    HARNESS_TIERCTL_OK(&h, "clock", "advance", "1d"); /* a tier is held for its first second */
    char *out, *err;
    CTL(&h, 0, &out, &err, "history", "p-1");
    has(out, "lost Registered: csat >= 80% not met (70%)");
    free(out);
    free(err);
    harness_finish(&h);
}
END_TEST

/* ---- partner list ------------------------------------------------------------------- */

/* The column where `word` starts in line number `n` of text, or -1. */
static long column_of(const char *text, size_t n, const char *word)
{
    const char *l = text;
    for (size_t i = 0; i < n && l; i++) {
        l = strchr(l, '\n');
        l = l ? l + 1 : NULL;
    }
    if (!l)
        return -1;
    const char *nl = strchr(l, '\n');
    const char *w = strstr(l, word);
    return w && (!nl || w < nl) ? (long)(w - l) : -1;
}

START_TEST(test_partner_list_is_in_columns_and_says_how_many_more_exist)
{
    harness h;
    start(&h);
    char path[HARNESS_PATH_MAX];
    harness_write_file(&h, "partners.ndjson",
                       "{\"partner\":\"a\",\"name\":\"Acme\",\"types\":[\"reseller\"]}\n"
                       "{\"partner\":\"bb-longer-id\",\"name\":\"Beta Systems Ltd\","
                       "\"types\":[\"reseller\",\"services\"]}\n"
                       "{\"partner\":\"c\",\"types\":[\"services\"]}\n"
                       "{\"partner\":\"d\",\"types\":[\"reseller\"]}\n"
                       "{\"partner\":\"e\",\"types\":[\"reseller\"]}\n",
                       path, sizeof path);
    HARNESS_TIERCTL_OK(&h, "partner", "import", path);
    event(&h, "c", "revenue", "5", "r1");
    char *out, *err;
    CTL(&h, 0, &out, &err, "partner", "list");
    /* widths from the rows shown: every row's cells start where the header's do */
    long name_col = column_of(out, 0, "name"), res_col = column_of(out, 0, "reseller"),
         svc_col = column_of(out, 0, "services");
    ck_assert_int_eq(name_col, (long)strlen("bb-longer-id  "));
    ck_assert_int_eq(res_col, name_col + (long)strlen("Beta Systems Ltd  "));
    ck_assert_int_eq(column_of(out, 1, "Acme"), name_col);
    ck_assert_int_eq(column_of(out, 2, "Beta Systems Ltd"), name_col);
    ck_assert_int_eq(column_of(out, 1, "unranked"), res_col);
    ck_assert_int_eq(column_of(out, 3, "Trained"), svc_col); /* c: services only */
    ck_assert_ptr_null(strchr(out, '\t'));
    ck_assert_uint_eq(count_lines(out), 6);
    lacks(out, "more");
    free(out);
    free(err);

    CTL(&h, 0, &out, &err, "partner", "list", "--limit", "2");
    ck_assert_uint_eq(count_lines(out), 4);
    has(out, "\na ");
    has(out, "3 more; use --limit or --page\n");
    free(out);
    free(err);
    CTL(&h, 0, &out, &err, "partner", "list", "--limit", "2", "--page", "2");
    has(out, "\nc ");
    has(out, "\nd ");
    lacks(out, "\na ");
    has(out, "1 more; use --limit or --page\n");
    free(out);
    free(err);
    CTL(&h, 0, &out, &err, "partner", "list", "--limit", "2", "--page", "3");
    has(out, "\ne ");
    lacks(out, "more");
    free(out);
    free(err);
    CTL(&h, 2, &out, &err, "partner", "list", "--page", "2");
    has(err, "--page needs --limit");
    free(out);
    free(err);

    /* --json: the same keys as before, plus remaining */
    CTL(&h, 0, &out, &err, "--json", "partner", "list", "--limit", "2");
    json_t *doc = parse(out);
    ck_assert_int_eq(json_array_size(json_object_get(doc, "partners")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "count")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "remaining")), 3);
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(doc, "partners"), 0), "partner")),
                     "a");
    json_decref(doc);
    free(out);
    free(err);

    /* the RPC counts what a page leaves out, with the page's filters */
    td_client *c = harness_client(&h, NULL);
    Tierd__ListPartnersRequest req = TIERD__LIST_PARTNERS_REQUEST__INIT;
    req.ladder = "reseller";
    req.limit = 1;
    req.count_remaining = true;
    Tierd__ListPartnersResponse *r;
    td_error e;
    ck_assert_int_eq(td_client_list_partners(c, &req, &r, &e), 0);
    ck_assert_uint_eq(r->n_partners, 1);
    ck_assert_uint_eq(r->remaining, 3); /* bb-longer-id, d, e */
    tierd__list_partners_response__free_unpacked(r, NULL);
    req.count_remaining = false;
    ck_assert_int_eq(td_client_list_partners(c, &req, &r, &e), 0);
    ck_assert_uint_eq(r->remaining, 0);
    tierd__list_partners_response__free_unpacked(r, NULL);
    td_client_close(c);
    harness_finish(&h);
}
END_TEST

/* ---- unknown tiers, partners on no ladder ------------------------------------------ */

START_TEST(test_an_override_to_an_unknown_tier_lists_the_ladders_tiers)
{
    harness h;
    start(&h);
    HARNESS_TIERCTL_OK(&h, "partner", "put", "p-1", "--type", "reseller");
    td_client *c = harness_client(&h, NULL);
    Tierd__SetOverrideRequest req = TIERD__SET_OVERRIDE_REQUEST__INIT;
    req.partner = "p-1";
    req.ladder = "reseller";
    req.tier = "Golf";
    req.until = "2027-01-01";
    req.reason = "test";
    Tierd__TierState *s = NULL;
    td_error e;
    ck_assert_int_ne(td_client_set_override(c, &req, &s, &e), 0);
    ck_assert_int_eq(e.code, TD_NOT_FOUND);
    has(e.message,
        "ladder 'reseller' has no tier 'Golf'; its tiers: Registered, Gold (or unranked)");
    td_client_close(c);
    char *out, *err;
    CTL(&h, 1, &out, &err, "override", "set", "p-1", "--ladder", "reseller", "--tier", "Golf",
        "--until", "2027-01-01", "--reason", "test");
    has(err, "its tiers: Registered, Gold (or unranked)");
    free(out);
    free(err);
    CTL(&h, 1, &out, &err, "partner", "list", "--ladder", "reseller", "--tier", "Golf");
    has(err, "its tiers: Registered, Gold (or unranked)");
    free(out);
    free(err);
    harness_finish(&h);
}
END_TEST

START_TEST(test_a_partner_on_no_ladder_is_saved_with_a_warning)
{
    harness h;
    start(&h);
    char *out, *err;
    CTL(&h, 0, &out, &err, "partner", "put", "p-1", "--type", "florist");
    has(out, "saved partner p-1");
    ck_assert_str_eq(err, "tierctl: warning: partner p-1 is on no ladder (types: florist; "
                          "ladders take: reseller, services, integrator)\n");
    free(out);
    free(err);
    CTL(&h, 0, &out, &err, "partner", "put", "p-2", "--type", "florist,integrator");
    ck_assert_str_eq(err, "");
    free(out);
    free(err);
    CTL(&h, 0, &out, &err, "--json", "partner", "put", "p-3", "--type", "x");
    json_t *doc = parse(out);
    has(json_string_value(json_object_get(doc, "warning")), "on no ladder (types: x;");
    json_decref(doc);
    free(out);
    free(err);

    char path[HARNESS_PATH_MAX];
    harness_write_file(&h, "partners.ndjson",
                       "{\"partner\":\"a\",\"types\":[\"reseller\"]}\n"
                       "{\"partner\":\"b\",\"types\":[\"baker\"]}\n"
                       "\n"
                       "{\"partner\":\"c\",\"types\":[\"services\"]}\n"
                       "{\"partner\":\"d\",\"types\":[\"baker\",\"florist\"]}\n",
                       path, sizeof path);
    CTL(&h, 0, &out, &err, "partner", "import", path);
    has(out, "5 lines: 4 partners accepted, 0 rejected");
    ck_assert_str_eq(err, "tierctl: warning: line 2 (b): on no ladder (types: baker; ladders "
                          "take: reseller, services, integrator)\n"
                          "tierctl: warning: line 5 (d): on no ladder (types: baker, florist; "
                          "ladders take: reseller, services, integrator)\n");
    free(out);
    free(err);
    CTL(&h, 0, &out, &err, "--json", "partner", "import", path);
    doc = parse(out);
    json_t *w = json_object_get(doc, "warnings");
    ck_assert_int_eq(json_array_size(w), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(w, 1), "line")), 5);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(w, 1), "id")), "d");
    json_decref(doc);
    free(out);
    free(err);
    harness_finish(&h);
}
END_TEST

/* ---- rejected import lines ------------------------------------------------------- */

/* BIG_IMPORT event lines for p-1, with an unknown partner on each line of
 * bad[] (1-based); every line has its own time so --replay reorders them
 * (the file runs backwards in time). */
static void write_events(const harness *h, const unsigned *bad, size_t n_bad, char *path, size_t n)
{
    size_t cap = (size_t)BIG_IMPORT * LINE_MAX_TEXT;
    char *text = malloc(cap);
    ck_assert_ptr_nonnull(text);
    size_t used = 0;
    for (unsigned line = 1; line <= BIG_IMPORT; line++) {
        bool is_bad = false;
        for (size_t k = 0; k < n_bad; k++)
            is_bad |= bad[k] == line;
        unsigned secs = BIG_IMPORT - line;
        used += (size_t)snprintf(text + used, cap - used,
                                 "{\"id\":\"e%u\",\"partner\":\"%s\",\"metric\":\"revenue\","
                                 "\"value\":1,\"at\":\"2026-11-14T%02u:%02u:%02uZ\"}\n",
                                 line, is_bad ? "ghost" : "p-1", secs / 3600, secs / 60 % 60,
                                 secs % 60);
    }
    harness_write_file(h, "events.ndjson", text, path, n);
    free(text);
}

static void assert_error_lines(const char *json_text, const unsigned *want, size_t n)
{
    json_t *doc = parse(json_text);
    json_t *errors = json_object_get(doc, "errors");
    ck_assert_int_eq(json_array_size(errors), n);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(errors, i);
        ck_assert_int_eq(json_integer_value(json_object_get(e, "line")), want[i]);
        const char *reason = json_string_value(json_object_get(e, "reason"));
        /* named by file line, not by its place in a batch ("event 3 (...): ") */
        unsigned index;
        char open;
        ck_assert_msg(sscanf(reason, "event %u %c", &index, &open) != 2 &&
                          sscanf(reason, "partner %u %c", &index, &open) != 2,
                      "reason names the batch index: %s", reason);
    }
    json_decref(doc);
}

START_TEST(test_rejected_event_lines_are_reported_in_file_order_by_file_line)
{
    harness h;
    start(&h);
    HARNESS_TIERCTL_OK(&h, "partner", "put", "p-1", "--type", "reseller");
    static const unsigned bad[] = {3, 999, 1001, 1500, 2001, 2499};
    char path[HARNESS_PATH_MAX];
    write_events(&h, bad, sizeof bad / sizeof *bad, path, sizeof path);
    char *out, *err;
    CTL(&h, 1, &out, &err, "--json", "event", "import", path, "--in-flight", "3");
    assert_error_lines(out, bad, sizeof bad / sizeof *bad);
    free(out);
    free(err);
    /* for a person: the line, the id, the daemon's reason */
    CTL(&h, 1, &out, &err, "event", "import", path);
    has(err, "tierctl: line 3 (e3): ");
    has(err, "unknown partner 'ghost'");
    lacks(err, "event 2 (");
    ck_assert_ptr_nonnull(strstr(err, "line 999 (") < strstr(err, "line 1001 (") ? err : NULL);
    ck_assert_ptr_nonnull(strstr(err, "line 2001 (") < strstr(err, "line 2499 (") ? err : NULL);
    has(out, "2,500 lines: 0 accepted, 2,494 duplicate, 6 rejected");
    free(out);
    free(err);
    harness_finish(&h);
}
END_TEST

/* A batch holding a correction waits for every batch in flight before it:
 * their outcomes must still merge oldest first. */
START_TEST(test_a_correction_batch_keeps_rejections_in_file_order)
{
    harness h;
    start(&h);
    HARNESS_TIERCTL_OK(&h, "partner", "put", "p-1", "--type", "reseller");
    enum { LINES = 4500, RETRACT_LINE = 4100 };
    static const unsigned bad[] = {2500, 3500};
    size_t cap = (size_t)LINES * LINE_MAX_TEXT;
    char *text = malloc(cap);
    ck_assert_ptr_nonnull(text);
    size_t used = 0;
    for (unsigned line = 1; line <= LINES; line++) {
        if (line == RETRACT_LINE) {
            used +=
                (size_t)snprintf(text + used, cap - used, "{\"id\":\"e1\",\"op\":\"retract\"}\n");
            continue;
        }
        used += (size_t)snprintf(text + used, cap - used,
                                 "{\"id\":\"e%u\",\"partner\":\"%s\",\"metric\":\"revenue\","
                                 "\"value\":1,\"at\":\"2026-11-14T00:00:00Z\"}\n",
                                 line, line == 2500 || line == 3500 ? "ghost" : "p-1");
    }
    char path[HARNESS_PATH_MAX];
    harness_write_file(&h, "events.ndjson", text, path, sizeof path);
    free(text);
    char *out, *err;
    CTL(&h, 1, &out, &err, "--json", "event", "import", path, "--in-flight", "3");
    assert_error_lines(out, bad, sizeof bad / sizeof *bad);
    free(out);
    free(err);
    harness_finish(&h);
}
END_TEST

START_TEST(test_rejected_replay_lines_are_reported_in_file_order_by_file_line)
{
    harness h;
    start(&h);
    HARNESS_TIERCTL_OK(&h, "partner", "put", "p-1", "--type", "reseller");
    static const unsigned bad[] = {2, 1200, 2400};
    char path[HARNESS_PATH_MAX];
    write_events(&h, bad, sizeof bad / sizeof *bad, path, sizeof path);
    char *out, *err;
    /* sorted by time the file runs backwards: line 2400 goes first */
    CTL(&h, 1, &out, &err, "--json", "event", "import", path, "--replay");
    assert_error_lines(out, bad, sizeof bad / sizeof *bad);
    free(out);
    free(err);
    harness_finish(&h);
}
END_TEST

START_TEST(test_rejected_partner_lines_are_reported_in_file_order_by_file_line)
{
    harness h;
    start(&h);
    size_t cap = (size_t)BIG_IMPORT * LINE_MAX_TEXT;
    char *text = malloc(cap);
    ck_assert_ptr_nonnull(text);
    size_t used = 0;
    static const unsigned bad[] = {4, 1002, 2003};
    for (unsigned line = 1; line <= BIG_IMPORT; line++) {
        bool is_bad = line == 4 || line == 1002 || line == 2003;
        used += (size_t)snprintf(text + used, cap - used,
                                 "{\"partner\":\"p%u\",\"types\":[\"reseller\"]%s}\n", line,
                                 is_bad ? ",\"attrs\":{\"bad key\":\"x\"}" : "");
    }
    char path[HARNESS_PATH_MAX];
    harness_write_file(&h, "partners.ndjson", text, path, sizeof path);
    free(text);
    char *out, *err;
    CTL(&h, 1, &out, &err, "--json", "partner", "import", path, "--in-flight", "3");
    assert_error_lines(out, bad, sizeof bad / sizeof *bad);
    free(out);
    free(err);
    harness_finish(&h);
}
END_TEST

/* ---- exit statuses ------------------------------------------------------------------- */

START_TEST(test_exit_statuses_stay_0_1_2_3)
{
    harness h;
    start(&h);
    char *out, *err;
    CTL(&h, 0, &out, &err, "ping");
    free(out);
    free(err);
    CTL(&h, 1, &out, &err, "partner", "show", "nobody");
    free(out);
    free(err);
    CTL(&h, 2, &out, &err, "partner", "shw", "nobody");
    free(out);
    free(err);
    CTL(&h, 2, &out, &err, "partner");
    free(out);
    free(err);
    harness_finish(&h);
    harness_init(&h);
    CTL(&h, 3, &out, &err, "ping"); /* nothing listens there */
    free(out);
    free(err);
    harness_cleanup(&h);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tierctl_ux");
    TCase *tc = tcase_create("ux");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_help_gives_every_command_a_one_line_description);
    tcase_add_test(tc, test_help_for_a_command_shows_usage_and_examples);
    tcase_add_test(tc, test_version_prints_tierctl_and_tierd_versions);
    tcase_add_test(tc, test_a_mistyped_command_names_the_typo_and_the_closest_command);
    tcase_add_test(tc,
                   test_a_percentage_threshold_is_shown_as_written_and_json_keeps_full_precision);
    tcase_add_test(tc, test_a_lost_percentage_criterion_reads_as_written_in_history);
    tcase_add_test(tc, test_partner_list_is_in_columns_and_says_how_many_more_exist);
    tcase_add_test(tc, test_an_override_to_an_unknown_tier_lists_the_ladders_tiers);
    tcase_add_test(tc, test_a_partner_on_no_ladder_is_saved_with_a_warning);
    tcase_add_test(tc, test_rejected_event_lines_are_reported_in_file_order_by_file_line);
    tcase_add_test(tc, test_a_correction_batch_keeps_rejections_in_file_order);
    tcase_add_test(tc, test_rejected_replay_lines_are_reported_in_file_order_by_file_line);
    tcase_add_test(tc, test_rejected_partner_lines_are_reported_in_file_order_by_file_line);
    tcase_add_test(tc, test_exit_statuses_stay_0_1_2_3);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
