/* The Metrics method end to end: the real tierd (TIERD_BIN) with the
 * example program and data, a frozen clock and one connector that cannot
 * start, scraped through libtierd-client and `tierctl metrics`.
 *
 * Proves what docs/metrics.md promises: the partner gauges equal Stats,
 * the event counters count each outcome by source (a duplicate and a bad
 * line included, a source that needs escaping too), the RPC counters and
 * latency histograms grow with the requests served, the tier changes a
 * clock advance makes are counted by their cause, and the whole text is
 * valid Prometheus exposition that `promtool check metrics` (TIERD_PROMTOOL)
 * passes without a lint warning. Without promtool the value checks still
 * run, and the suite then exits 77 (skipped) saying why. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define FAKE_NOW      "2026-11-15T00:00:00Z"
#define PROGRAM_FILE  "examples/programs/partners.yaml"
#define PARTNERS_FILE "examples/data/partners.ndjson"
#define EVENTS_FILE   "examples/data/events.ndjson"
#define WAIT_MS       20000
#define SAMPLE_MAX    512
#define EXIT_SKIP     77
#define CONNECTOR     "crm-feed"

/* A source that must be escaped in a label value: a quote and a backslash. */
#define ODD_SOURCE         "odd\"src\\x"
#define ODD_SOURCE_ESCAPED "odd\\\"src\\\\x"

static harness h;
static td_client *cli;

static void source_path(const char *rel, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", getenv("TIERD_SOURCE_ROOT"), rel);
}

static bool connector_failed(const Tierd__ConnectorStatus *cs)
{
    return strcmp(cs->state, "failed") == 0;
}

/* One daemon for the whole story: the example program, partners and events. */
static void daemon_start(void)
{
    harness_init(&h);
    harness_write_config(&h, "plugin_dir: @STATE@/no-plugins\n"
                             "connectors:\n"
                             "  - name: " CONNECTOR "\n"
                             "    plugin: nosuch\n");
    char program[HARNESS_PATH_MAX], partners[HARNESS_PATH_MAX], events[HARNESS_PATH_MAX];
    source_path(PROGRAM_FILE, program, sizeof program);
    source_path(PARTNERS_FILE, partners, sizeof partners);
    source_path(EVENTS_FILE, events, sizeof events);
    HARNESS_START_OK(&h, "--fake-clock", FAKE_NOW, "--program", program, NULL);
    cli = harness_client(&h, NULL);
    HARNESS_TIERCTL_OK(&h, "partner", "import", partners);
    HARNESS_TIERCTL_OK(&h, "event", "import", events);
    Tierd__StatusResponse *keep = NULL;
    harness_wait_connector(&h, CONNECTOR, connector_failed, &keep, WAIT_MS);
    tierd__status_response__free_unpacked(keep, NULL);
}

static void daemon_stop(void)
{
    td_client_close(cli);
    cli = NULL;
    harness_finish(&h);
}

/* The metrics text c's daemon answers now (malloc'd). */
static char *scrape_from(td_client *c)
{
    Tierd__MetricsResponse *r = NULL;
    td_error err;
    int rc = td_client_metrics(c, &r, &err);
    ck_assert_msg(rc == 0, "Metrics: %s", err.message);
    char *text = strdup(r->text);
    ck_assert_ptr_nonnull(text);
    tierd__metrics_response__free_unpacked(r, NULL);
    return text;
}

static char *scrape(void)
{
    return scrape_from(cli);
}

/* The value of the sample named exactly `sample` (name and labels as
 * rendered), or NAN when the text has no such line. */
static double value_of(const char *text, const char *sample)
{
    size_t n = strlen(sample);
    for (const char *line = text; line && *line;) {
        if (strncmp(line, sample, n) == 0 && line[n] == ' ')
            return strtod(line + n + 1, NULL);
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return NAN;
}

static void event(Tierd__Event *ev, const char *source, const char *id, const char *partner,
                  const char *at)
{
    tierd__event__init(ev);
    ev->source = (char *)source;
    ev->id = (char *)id;
    ev->partner = (char *)partner;
    ev->metric = "deal_closed";
    ev->value = 1000;
    ev->has_value = true;
    ev->at = (char *)at;
}

static void ingest(Tierd__Event *events, size_t n)
{
    Tierd__Event *ptrs[8];
    ck_assert_uint_le(n, 8);
    for (size_t i = 0; i < n; i++)
        ptrs[i] = &events[i];
    Tierd__IngestRequest req = TIERD__INGEST_REQUEST__INIT;
    req.events = ptrs;
    req.n_events = n;
    Tierd__IngestResponse *r = NULL;
    td_error err;
    ck_assert_msg(td_client_ingest(cli, &req, &r, &err) == 0, "Ingest: %s", err.message);
    tierd__ingest_response__free_unpacked(r, NULL);
}

START_TEST(test_partner_gauges_equal_stats_on_every_ladder_and_tier)
{
    Tierd__StatsResponse *st = NULL;
    td_error err;
    ck_assert_int_eq(td_client_stats(cli, &st, &err), 0);
    char *text = scrape();
    size_t checked = 0;
    for (size_t l = 0; l < st->n_ladders; l++)
        for (size_t t = 0; t < st->ladders[l]->n_tiers; t++) {
            const Tierd__TierCount *tc = st->ladders[l]->tiers[t];
            char sample[SAMPLE_MAX];
            snprintf(sample, sizeof sample, "tierd_partners{ladder=\"%s\",tier=\"%s\"}",
                     st->ladders[l]->ladder, tc->tier);
            double v = value_of(text, sample);
            ck_assert_msg(v == (double)tc->count, "%s is %g, Stats says %llu", sample, v,
                          (unsigned long long)tc->count);
            checked++;
        }
    ck_assert_uint_gt(checked, 3);
    ck_assert(!isnan(value_of(text, "tierd_partners{ladder=\"reseller\",tier=\"unranked\"}")));
    /* The example data was ingested: its sources are counted. */
    ck_assert_double_gt(value_of(text, "tierd_events_total{source=\"crm\",outcome=\"accepted\"}"),
                        0);
    free(text);
    tierd__stats_response__free_unpacked(st, NULL);
}
END_TEST

START_TEST(test_events_are_counted_by_source_and_outcome_once_committed)
{
    Tierd__Event ev[5];
    event(&ev[0], "metrics-test", "m-1", "p-0001", "2026-11-14T10:00:00Z");
    event(&ev[1], "metrics-test", "m-2", "p-0001", "2026-11-14T11:00:00Z");
    event(&ev[2], "metrics-test", "m-1", "p-0001", "2026-11-14T10:00:00Z"); /* duplicate */
    event(&ev[3], "metrics-test", "m-3", "p-0001", "yesterday");            /* bad time */
    event(&ev[4], "", "m-4", "p-0001", "2026-11-14T12:00:00Z");             /* no source */
    ingest(ev, 5);
    Tierd__Event odd;
    event(&odd, ODD_SOURCE, "o-1", "p-0002", "2026-11-14T10:00:00Z");
    ingest(&odd, 1);
    char *text = scrape();
    ck_assert_double_eq(
        value_of(text, "tierd_events_total{source=\"metrics-test\",outcome=\"accepted\"}"), 2);
    ck_assert_double_eq(
        value_of(text, "tierd_events_total{source=\"metrics-test\",outcome=\"duplicate\"}"), 1);
    ck_assert_double_eq(
        value_of(text, "tierd_events_total{source=\"metrics-test\",outcome=\"rejected\"}"), 1);
    ck_assert_double_eq(
        value_of(text, "tierd_events_total{source=\"(invalid)\",outcome=\"rejected\"}"), 1);
    ck_assert_double_eq(value_of(text, "tierd_events_total{source=\"" ODD_SOURCE_ESCAPED
                                       "\",outcome=\"accepted\"}"),
                        1);
    free(text);
}
END_TEST

START_TEST(test_rpc_counters_and_latency_grow_with_each_reply)
{
    const char *ok = "tierd_rpc_requests_total{method=\"Status\",code=\"OK\"}";
    const char *count = "tierd_rpc_duration_seconds_count{method=\"Status\"}";
    const char *inf = "tierd_rpc_duration_seconds_bucket{method=\"Status\",le=\"+Inf\"}";
    const char *missing = "tierd_rpc_requests_total{method=\"GetPartner\",code=\"NOT_FOUND\"}";
    char *before = scrape();
    double ok0 = value_of(before, ok), count0 = value_of(before, count);
    double missing0 = value_of(before, missing);
    free(before);
    for (int i = 0; i < 3; i++) {
        Tierd__StatusResponse *st = NULL;
        td_error err;
        ck_assert_int_eq(td_client_status(cli, &st, &err), 0);
        tierd__status_response__free_unpacked(st, NULL);
    }
    Tierd__PartnerInfo *pi = NULL;
    td_error err;
    ck_assert_int_ne(td_client_get_partner(cli, "no-such-partner", &pi, &err), 0);
    char *after = scrape();
    /* Status was called by the harness at start, so it is there before. */
    ck_assert_double_eq(value_of(after, ok), ok0 + 3);
    ck_assert_double_eq(value_of(after, count), count0 + 3);
    ck_assert_double_eq(value_of(after, inf), count0 + 3);
    ck_assert_double_eq(value_of(after, missing), (isnan(missing0) ? 0 : missing0) + 1);
    ck_assert_double_gt(value_of(after, "tierd_rpc_duration_seconds_sum{method=\"Status\"}"), 0);
    /* The scrape before this one was answered and counted. */
    ck_assert_double_ge(value_of(after, "tierd_rpc_requests_total{method=\"Metrics\",code=\"OK\"}"),
                        1);
    free(after);
}
END_TEST

/* tierd_tier_changes_total{cause=...} for every cause, in ListChanges's
 * terms: the changes after `since`, counted by cause name. */
static void changes_by_cause(uint64_t since, double *counts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        counts[i] = 0;
    for (;;) {
        Tierd__ChangesResponse *r = NULL;
        td_error err;
        ck_assert_int_eq(td_client_list_changes(cli, since, 1000, &r, &err), 0);
        for (size_t i = 0; i < r->n_changes; i++) {
            ck_assert_uint_lt((size_t)r->changes[i]->cause, n);
            counts[r->changes[i]->cause]++;
            since = r->changes[i]->sequence;
        }
        bool more = r->n_changes > 0;
        tierd__changes_response__free_unpacked(r, NULL);
        if (!more)
            break;
    }
}

START_TEST(test_a_clock_advance_counts_its_changes_by_cause)
{
    const ProtobufCEnumDescriptor *cd = &tierd__cause__descriptor;
    double before[32], after[32], listed[32];
    ck_assert_uint_le(cd->n_values, 32);
    Tierd__StatusResponse *st = NULL;
    td_error err;
    ck_assert_int_eq(td_client_status(cli, &st, &err), 0);
    uint64_t since = st->last_sequence;
    tierd__status_response__free_unpacked(st, NULL);
    char *text = scrape();
    char sample[SAMPLE_MAX];
    for (size_t i = 0; i < cd->n_values; i++) {
        snprintf(sample, sizeof sample, "tierd_tier_changes_total{cause=\"%s\"}",
                 cd->values[i].name);
        before[i] = value_of(text, sample);
        ck_assert_msg(!isnan(before[i]), "%s is missing", sample);
    }
    free(text);
    Tierd__ClockResponse *ck = NULL;
    ck_assert_int_eq(td_client_clock(cli, "400d", &ck, &err), 0);
    uint64_t changes = ck->changes;
    tierd__clock_response__free_unpacked(ck, NULL);
    ck_assert_uint_gt(changes, 0);
    changes_by_cause(since, listed, cd->n_values);
    text = scrape();
    double total = 0;
    for (size_t i = 0; i < cd->n_values; i++) {
        snprintf(sample, sizeof sample, "tierd_tier_changes_total{cause=\"%s\"}",
                 cd->values[i].name);
        after[i] = value_of(text, sample);
        int value = cd->values[i].value;
        ck_assert_msg(after[i] - before[i] == listed[value], "%s grew by %g, ListChanges has %g",
                      sample, after[i] - before[i], listed[value]);
        total += after[i] - before[i];
    }
    ck_assert_double_eq(total, (double)changes);
    free(text);
}
END_TEST

START_TEST(test_commits_store_and_connector_are_reported)
{
    char *text = scrape();
    ck_assert_double_gt(value_of(text, "tierd_store_commit_duration_seconds_count"), 0);
    ck_assert_double_eq(value_of(text, "tierd_store_commit_duration_seconds_bucket{le=\"+Inf\"}"),
                        value_of(text, "tierd_store_commit_duration_seconds_count"));
    ck_assert_double_gt(value_of(text, "tierd_store_committed_bytes_total"), 0);
    ck_assert_double_gt(value_of(text, "tierd_store_file_size_bytes"), 0);
    ck_assert_double_gt(value_of(text, "tierd_store_used_bytes"), 0);
    ck_assert_double_ge(value_of(text, "tierd_store_map_size_bytes"),
                        value_of(text, "tierd_store_used_bytes"));
    ck_assert_double_eq(
        value_of(text, "tierd_connector_state{connector=\"" CONNECTOR "\",state=\"failed\"}"), 1);
    ck_assert_double_eq(
        value_of(text, "tierd_connector_state{connector=\"" CONNECTOR "\",state=\"running\"}"), 0);
    ck_assert(
        !isnan(value_of(text, "tierd_connector_restarts_total{connector=\"" CONNECTOR "\"}")));
    ck_assert(!isnan(value_of(text, "tierd_pending_approvals")));
    ck_assert_double_eq(value_of(text, "tierd_timer_lag_seconds_count"), 0); /* fake clock */
    ck_assert_double_gt(value_of(text, "tierd_start_time_seconds"), 1.7e9);
    ck_assert_ptr_nonnull(strstr(text, "tierd_build_info{version=\""));
    free(text);
}
END_TEST

/* tierctl metrics prints the same text the RPC answers. */
START_TEST(test_tierctl_metrics_prints_the_text)
{
    char *out = harness_tierctl_expect(&h, 0, (const char *const[]){"metrics", NULL});
    ck_assert_ptr_nonnull(strstr(out, "# TYPE tierd_rpc_requests_total counter\n"));
    ck_assert_ptr_nonnull(strstr(out, "tierd_partners{ladder=\"reseller\",tier=\"unranked\"} "));
    free(out);
}
END_TEST

/* One partner whose only event leaves its window a few seconds from now. */
static const char *lag_program = "program: lag\n"
                                 "version: \"1\"\n"
                                 "metrics:\n"
                                 "  arr: { agg: sum, event: deal_closed, window: 1d }\n"
                                 "ladders:\n"
                                 "  reseller:\n"
                                 "    partner_types: [reseller]\n"
                                 "    policy:\n"
                                 "      review: immediate\n"
                                 "    tiers:\n"
                                 "      - name: Selling\n"
                                 "        when: arr >= 1\n";

#define LAG_EDGE_IN_S 2
#define DAY_S         86400

/* The real clock: a window edge falls due, the timer evaluates the
 * partner, and the lag histogram has it, within a sane bound. */
START_TEST(test_the_real_clock_timer_reports_its_lag)
{
    harness lh;
    harness_init(&lh);
    char prog[HARNESS_PATH_MAX + 16];
    harness_write_file(&lh, "lag.yaml", lag_program, prog, sizeof prog);
    HARNESS_START_OK(&lh, "--program", prog, NULL);
    td_client *c = harness_client(&lh, NULL);
    time_t at = time(NULL) - DAY_S + LAG_EDGE_IN_S;
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&at));
    HARNESS_TIERCTL_OK(&lh, "partner", "put", "p-lag", "--type", "reseller");
    HARNESS_TIERCTL_OK(&lh, "event", "add", "--partner", "p-lag", "--metric", "deal_closed",
                       "--value", "5", "--at", when, "--id", "lag-1");
    tu_deadline dl = tu_deadline_in(WAIT_MS);
    double count = 0, sum = 0;
    do {
        char *text = scrape_from(c);
        count = value_of(text, "tierd_timer_lag_seconds_count");
        sum = value_of(text, "tierd_timer_lag_seconds_sum");
        free(text);
    } while (count < 1 && tu_poll(&dl));
    ck_assert_msg(count >= 1, "no timer lag observed within %d ms (count %g)", WAIT_MS, count);
    /* Due instants are whole seconds and the timer is armed in seconds:
     * on time is under 2 s; a loaded machine gets a generous margin. */
    ck_assert_msg(sum >= 0 && sum / count < 30, "mean lag %g s", sum / count);
    td_client_close(c);
    harness_finish(&lh);
}
END_TEST

static const char *promtool_path(void)
{
    const char *p = getenv("TIERD_PROMTOOL");
    return p && *p && access(p, X_OK) == 0 ? p : NULL;
}

/* The whole text, after everything above made every kind of metric show
 * up, through promtool: valid exposition and no lint problem. */
START_TEST(test_promtool_check_metrics_passes_without_warnings)
{
    char *text = scrape();
    char path[HARNESS_PATH_MAX + 16], out[HARNESS_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/metrics.txt", h.work);
    snprintf(out, sizeof out, "%s/promtool.out", h.work);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    free(text);
    pid_t pid =
        tu_spawn((const char *const[]){promtool_path(), "check", "metrics", NULL}, path, out, out);
    ck_assert_int_gt(pid, 0);
    int status = -1;
    ck_assert(tu_wait_exit(pid, WAIT_MS, &status));
    char *said = tu_read_file(out, 1 << 20);
    ck_assert_msg(status == 0 && said && *said == '\0',
                  "promtool check metrics exited %d on %s saying:\n%s", status, path,
                  said ? said : "(nothing)");
    free(said);
}
END_TEST

static Suite *metrics_suite(bool promtool)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("scrape");
    tcase_set_timeout(tc, 120);
    tcase_add_unchecked_fixture(tc, daemon_start, daemon_stop);
    tcase_add_test(tc, test_partner_gauges_equal_stats_on_every_ladder_and_tier);
    tcase_add_test(tc, test_events_are_counted_by_source_and_outcome_once_committed);
    tcase_add_test(tc, test_rpc_counters_and_latency_grow_with_each_reply);
    tcase_add_test(tc, test_a_clock_advance_counts_its_changes_by_cause);
    tcase_add_test(tc, test_commits_store_and_connector_are_reported);
    tcase_add_test(tc, test_tierctl_metrics_prints_the_text);
    if (promtool)
        tcase_add_test(tc, test_promtool_check_metrics_passes_without_warnings);
    suite_add_tcase(s, tc);
    TCase *real = tcase_create("real_clock");
    tcase_set_timeout(real, 120);
    tcase_add_test(real, test_the_real_clock_timer_reports_its_lag);
    suite_add_tcase(s, real);
    return s;
}

int main(void)
{
    bool promtool = promtool_path() != NULL;
    int rc = tu_run_suite_in_order(metrics_suite(promtool));
    if (rc == 0 && !promtool) {
        fprintf(stderr, "test_metrics: SKIPPED the format check: promtool not found "
                        "(TIERD_PROMTOOL unset; install Debian package prometheus and "
                        "reconfigure); the value checks passed\n");
        return EXIT_SKIP;
    }
    return rc;
}
