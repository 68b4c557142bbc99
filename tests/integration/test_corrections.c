/* Corrections end to end (docs/events.md, "Corrections"): the real tierd,
 * its LMDB store, tierctl, restarts with SIGTERM and SIGKILL.
 *
 * Proves: an amendment and a retraction move a tier at once with cause
 * CORRECTION naming the event; a retraction made before a crash (kill -9)
 * or a restart stays made, and one made after it takes out an event the
 * restarted daemon only has from its ingest log; repeated corrections are
 * duplicates; bad correction lines are rejected with their reasons while
 * the rest of the batch goes in; an import holding amendments, sent twice,
 * changes nothing the second time. */
#include <check.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define SIGNAL_EXIT 128

/* lifetime sum and a distinct count: Gold needs 1000 of deals, Silver two
 * distinct certifications. */
static const char *program_yaml = "program: corrections-test\n"
                                  "version: \"c1\"\n"
                                  "metrics:\n"
                                  "  arr:   { agg: sum, event: deal_closed }\n"
                                  "  certs: { agg: distinct, event: cert }\n"
                                  "ladders:\n"
                                  "  reseller:\n"
                                  "    partner_types: [reseller]\n"
                                  "    policy: { max_drop: 10 }\n"
                                  "    tiers:\n"
                                  "      - { name: Bronze, when: arr >= 100 }\n"
                                  "      - { name: Gold,   when: arr >= 1000 }\n"
                                  "  skills:\n"
                                  "    partner_types: [reseller]\n"
                                  "    tiers:\n"
                                  "      - { name: Certified, when: certs >= 2 }\n";

typedef struct tdaemon {
    harness h;
    td_client *cli;
    int starts;
} tdaemon;

/* Each start's fake clock is five days past the last one's: the clock is
 * not kept across restarts, and the lifecycle drops a tier at most once
 * per instant. */
static void start(tdaemon *d)
{
    char now[32];
    snprintf(now, sizeof now, "2026-06-%02dT00:00:00Z", 1 + 5 * d->starts++);
    HARNESS_START_OK(&d->h, "--fake-clock", now, NULL);
    d->cli = harness_client(&d->h, NULL);
}

static void stop(tdaemon *d, int sig)
{
    td_client_close(d->cli);
    d->cli = NULL;
    ck_assert_int_eq(harness_kill(&d->h, sig), sig == SIGKILL ? SIGNAL_EXIT + SIGKILL : 0);
}

static void setup(tdaemon *d)
{
    d->starts = 0;
    harness_init(&d->h);
    start(d);
    Tierd__PutProgramRequest req = TIERD__PUT_PROGRAM_REQUEST__INIT;
    req.yaml = (char *)program_yaml;
    req.filename = "corrections.yaml";
    Tierd__PutProgramResponse *r = NULL;
    td_error err = {0};
    ck_assert_msg(td_client_put_program(d->cli, &req, &r, &err) == 0, "%s", err.message);
    tierd__put_program_response__free_unpacked(r, NULL);
    HARNESS_TIERCTL_OK(&d->h, "partner", "put", "p-1", "--type", "reseller");
}

/* One event through Ingest; returns its outcome and copies the reason. */
static Tierd__Outcome send(tdaemon *d, const char *op, uint64_t revision, const char *id,
                           const char *metric, double value, const char *key, char *why, size_t cap)
{
    Tierd__Event e = TIERD__EVENT__INIT, *ep = &e;
    e.source = "crm";
    e.id = (char *)id;
    e.op = (char *)(op ? op : "");
    e.revision = revision;
    if (metric) {
        e.partner = "p-1";
        e.metric = (char *)metric;
        e.value = value;
        e.has_value = true;
        e.at = "2026-05-01T00:00:00Z";
        e.key = (char *)(key ? key : "");
    }
    Tierd__IngestRequest req = TIERD__INGEST_REQUEST__INIT;
    req.events = &ep;
    req.n_events = 1;
    Tierd__IngestResponse *r = NULL;
    td_error err = {0};
    ck_assert_msg(td_client_ingest(d->cli, &req, &r, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(r->n_results, 1);
    Tierd__Outcome out = r->results[0]->outcome;
    if (why)
        snprintf(why, cap, "%s", r->results[0]->reason ? r->results[0]->reason : "");
    tierd__ingest_response__free_unpacked(r, NULL);
    return out;
}

/* Moves the fake clock on: the lifecycle drops a tier at most once per
 * instant, so a demotion right after the promotion it undoes waits a
 * second without this. */
static void advance(tdaemon *d)
{
    Tierd__ClockResponse *r = NULL;
    td_error err = {0};
    ck_assert_msg(td_client_clock(d->cli, "1h", &r, &err) == 0, "%s", err.message);
    tierd__clock_response__free_unpacked(r, NULL);
}

/* The tier p-1 holds on ladder ("" unranked). */
static void tier_of(tdaemon *d, const char *ladder, char *out, size_t cap)
{
    const char *ids[] = {"p-1"};
    Tierd__GetTiersResponse *r = NULL;
    td_error err = {0};
    ck_assert_msg(td_client_get_tiers(d->cli, ids, 1, &r, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(r->n_partners, 1);
    out[0] = '\0';
    for (size_t i = 0; i < r->partners[0]->n_tiers; i++)
        if (strcmp(r->partners[0]->tiers[i]->ladder, ladder) == 0)
            snprintf(out, cap, "%s", r->partners[0]->tiers[i]->tier);
    tierd__get_tiers_response__free_unpacked(r, NULL);
}

#define ASSERT_TIER(d, ladder, want)                                                               \
    do {                                                                                           \
        char got_[64];                                                                             \
        tier_of((d), (ladder), got_, sizeof got_);                                                 \
        ck_assert_str_eq(got_, (want));                                                            \
    } while (0)

/* The newest change of p-1 on ladder. */
static Tierd__TierChange *last_change(tdaemon *d, const char *ladder, Tierd__ChangesResponse **keep)
{
    Tierd__HistoryRequest req = TIERD__HISTORY_REQUEST__INIT;
    req.partner = "p-1";
    req.ladder = (char *)ladder;
    req.limit = 1;
    td_error err = {0};
    ck_assert_msg(td_client_history(d->cli, &req, keep, &err) == 0, "%s", err.message);
    ck_assert_uint_ge((*keep)->n_changes, 1);
    return (*keep)->changes[0];
}

static void assert_correction(tdaemon *d, const char *ladder, const char *to, const char *event,
                              const char *reason)
{
    Tierd__ChangesResponse *h = NULL;
    Tierd__TierChange *c = last_change(d, ladder, &h);
    ck_assert_int_eq(c->cause, TIERD__CAUSE__CORRECTION);
    ck_assert_str_eq(c->to_tier, to);
    ck_assert_str_eq(c->event_id, event);
    ck_assert_str_eq(c->reason, reason);
    tierd__changes_response__free_unpacked(h, NULL);
}

START_TEST(test_amend_and_retract_move_the_tier_at_once_with_cause_correction)
{
    tdaemon d;
    setup(&d);
    ck_assert_int_eq(send(&d, NULL, 0, "d1", "deal_closed", 500, NULL, NULL, 0),
                     TIERD__OUTCOME__ACCEPTED);
    ASSERT_TIER(&d, "reseller", "Bronze");
    ck_assert_int_eq(send(&d, "amend", 1, "d1", "deal_closed", 1500, NULL, NULL, 0),
                     TIERD__OUTCOME__ACCEPTED);
    ASSERT_TIER(&d, "reseller", "Gold");
    assert_correction(&d, "reseller", "Gold", "crm/d1", "amended to revision 1");
    /* The same revision again, and an older one: duplicates, no change. */
    ck_assert_int_eq(send(&d, "amend", 1, "d1", "deal_closed", 10, NULL, NULL, 0),
                     TIERD__OUTCOME__DUPLICATE);
    ASSERT_TIER(&d, "reseller", "Gold");
    advance(&d);
    ck_assert_int_eq(send(&d, "retract", 0, "d1", NULL, 0, NULL, NULL, 0),
                     TIERD__OUTCOME__ACCEPTED);
    ASSERT_TIER(&d, "reseller", "");
    assert_correction(&d, "reseller", "", "crm/d1", "retracted");
    ck_assert_int_eq(send(&d, "retract", 0, "d1", NULL, 0, NULL, NULL, 0),
                     TIERD__OUTCOME__DUPLICATE);
    /* A key seen twice counts once, and stays until both events are gone. */
    ck_assert_int_eq(send(&d, NULL, 0, "c1", "cert", 1, "cert-a", NULL, 0),
                     TIERD__OUTCOME__ACCEPTED);
    ck_assert_int_eq(send(&d, NULL, 0, "c2", "cert", 1, "cert-a", NULL, 0),
                     TIERD__OUTCOME__ACCEPTED);
    ck_assert_int_eq(send(&d, NULL, 0, "c3", "cert", 1, "cert-b", NULL, 0),
                     TIERD__OUTCOME__ACCEPTED);
    ASSERT_TIER(&d, "skills", "Certified");
    ck_assert_int_eq(send(&d, "retract", 0, "c1", NULL, 0, NULL, NULL, 0),
                     TIERD__OUTCOME__ACCEPTED);
    ASSERT_TIER(&d, "skills", "Certified");
    advance(&d);
    ck_assert_int_eq(send(&d, "retract", 0, "c2", NULL, 0, NULL, NULL, 0),
                     TIERD__OUTCOME__ACCEPTED);
    ASSERT_TIER(&d, "skills", "");
    assert_correction(&d, "skills", "", "crm/c2", "retracted");
    stop(&d, SIGTERM);
    harness_finish(&d.h);
}
END_TEST

START_TEST(test_retractions_hold_across_restart_and_kill9)
{
    tdaemon d;
    setup(&d);
    ck_assert_int_eq(send(&d, NULL, 0, "d1", "deal_closed", 600, NULL, NULL, 0),
                     TIERD__OUTCOME__ACCEPTED);
    ck_assert_int_eq(send(&d, NULL, 0, "d2", "deal_closed", 600, NULL, NULL, 0),
                     TIERD__OUTCOME__ACCEPTED);
    ASSERT_TIER(&d, "reseller", "Gold");
    advance(&d);
    ck_assert_int_eq(send(&d, "retract", 0, "d1", NULL, 0, NULL, NULL, 0),
                     TIERD__OUTCOME__ACCEPTED);
    ASSERT_TIER(&d, "reseller", "Bronze");
    /* Killed: the retraction lives only in the ingest log and the store. */
    stop(&d, SIGKILL);
    start(&d);
    ASSERT_TIER(&d, "reseller", "Bronze");
    ck_assert_int_eq(send(&d, "retract", 0, "d1", NULL, 0, NULL, NULL, 0),
                     TIERD__OUTCOME__DUPLICATE);
    /* After the crash, retract the event the restart replayed. */
    advance(&d);
    ck_assert_int_eq(send(&d, "retract", 0, "d2", NULL, 0, NULL, NULL, 0),
                     TIERD__OUTCOME__ACCEPTED);
    ASSERT_TIER(&d, "reseller", "");
    ck_assert_int_eq(send(&d, NULL, 0, "d3", "deal_closed", 150, NULL, NULL, 0),
                     TIERD__OUTCOME__ACCEPTED);
    ck_assert_int_eq(send(&d, "amend", 2, "d3", "deal_closed", 1200, NULL, NULL, 0),
                     TIERD__OUTCOME__ACCEPTED);
    ASSERT_TIER(&d, "reseller", "Gold");
    stop(&d, SIGKILL);
    start(&d);
    ASSERT_TIER(&d, "reseller", "Gold");
    stop(&d, SIGTERM);
    start(&d);
    ASSERT_TIER(&d, "reseller", "Gold");
    /* An amendment after a clean restart: 150 -> 1200 -> 50. */
    advance(&d);
    ck_assert_int_eq(send(&d, "amend", 3, "d3", "deal_closed", 50, NULL, NULL, 0),
                     TIERD__OUTCOME__ACCEPTED);
    ASSERT_TIER(&d, "reseller", "");
    stop(&d, SIGKILL);
    start(&d);
    ASSERT_TIER(&d, "reseller", "");
    stop(&d, SIGTERM);
    harness_finish(&d.h);
}
END_TEST

START_TEST(test_bad_corrections_are_rejected_with_reasons_and_the_batch_goes_on)
{
    tdaemon d;
    setup(&d);
    char why[512];
    ck_assert_int_eq(send(&d, "retract", 0, "nope", NULL, 0, NULL, why, sizeof why),
                     TIERD__OUTCOME__REJECTED);
    ck_assert_ptr_nonnull(strstr(why, "no event with this source and id"));
    ck_assert_int_eq(send(&d, "amend", 0, "d1", "deal_closed", 5, NULL, why, sizeof why),
                     TIERD__OUTCOME__REJECTED);
    ck_assert_ptr_nonnull(strstr(why, "revision"));
    ck_assert_int_eq(send(&d, NULL, 4, "d1", "deal_closed", 5, NULL, why, sizeof why),
                     TIERD__OUTCOME__REJECTED);
    ck_assert_ptr_nonnull(strstr(why, "revision"));
    ck_assert_int_eq(send(&d, "undo", 0, "d1", "deal_closed", 5, NULL, why, sizeof why),
                     TIERD__OUTCOME__REJECTED);
    ck_assert_ptr_nonnull(strstr(why, "op:"));
    ck_assert_int_eq(send(&d, NULL, 0, "d1", "deal_closed", 500, NULL, NULL, 0),
                     TIERD__OUTCOME__ACCEPTED);
    ck_assert_int_eq(send(&d, "amend", 1, "d1", "cert", 5, NULL, why, sizeof why),
                     TIERD__OUTCOME__REJECTED);
    ck_assert_ptr_nonnull(strstr(why, "metric:"));
    ASSERT_TIER(&d, "reseller", "Bronze");

    /* An import: good lines, corrections and bad lines in one file. */
    advance(&d);
    char path[HARNESS_PATH_MAX];
    harness_write_file(
        &d.h, "events.ndjson",
        "{\"id\":\"d1\",\"source\":\"crm\",\"op\":\"retract\"}\n"
        "{\"id\":\"i1\",\"source\":\"crm\",\"partner\":\"p-1\",\"metric\":\"deal_closed\","
        "\"value\":200,\"at\":\"2026-05-02\"}\n"
        "{\"id\":\"i1\",\"source\":\"crm\",\"partner\":\"p-1\",\"metric\":\"deal_closed\","
        "\"value\":700,\"at\":\"2026-05-02\",\"op\":\"amend\",\"revision\":1}\n"
        "{\"id\":\"i2\",\"source\":\"crm\",\"partner\":\"p-1\",\"metric\":\"deal_closed\","
        "\"value\":300,\"at\":\"2026-05-03\",\"op\":\"amend\"}\n"
        "{\"id\":\"i3\",\"source\":\"crm\",\"partner\":\"p-1\",\"metric\":\"deal_closed\","
        "\"value\":300,\"at\":\"2026-05-03\",\"op\":\"delete\"}\n"
        "{\"id\":\"zz\",\"source\":\"crm\",\"op\":\"retract\"}\n"
        "{\"id\":\"i4\",\"source\":\"crm\",\"partner\":\"p-1\",\"metric\":\"deal_closed\","
        "\"value\":100,\"at\":\"2026-05-04\"}\n"
        "{\"id\":\"i4\",\"source\":\"crm\",\"partner\":\"p-1\",\"metric\":\"deal_closed\","
        "\"value\":250,\"at\":\"2026-05-04\",\"op\":\"amend\",\"revision\":2}\n",
        path, sizeof path);
    char *out = NULL, *err = NULL;
    int rc = HARNESS_TIERCTL(&d.h, &out, &err, "event", "import", path, "--in-flight", "1");
    ck_assert_int_eq(rc, 1); /* some lines were rejected */
    ck_assert_msg(strstr(err, "revision") && strstr(err, "op:") &&
                      strstr(err, "no event with this source and id"),
                  "import said: %s / %s", out, err);
    free(out);
    free(err);
    /* d1 gone, 700 + 250: Gold would need 1000. */
    ASSERT_TIER(&d, "reseller", "Bronze");
    Tierd__StatusResponse *st = NULL;
    td_error terr = {0};
    ck_assert_int_eq(td_client_status(d.cli, &st, &terr), 0);
    uint64_t seq = st->last_sequence, events = st->events;
    tierd__status_response__free_unpacked(st, NULL);
    /* Sent again: every line is a duplicate or rejected as before. */
    rc = HARNESS_TIERCTL(&d.h, &out, &err, "event", "import", path, "--in-flight", "1");
    ck_assert_int_eq(rc, 1);
    ck_assert_ptr_nonnull(strstr(out, "0 accepted"));
    free(out);
    free(err);
    ck_assert_int_eq(td_client_status(d.cli, &st, &terr), 0);
    ck_assert_uint_eq(st->last_sequence, seq);
    ck_assert_uint_eq(st->events, events);
    tierd__status_response__free_unpacked(st, NULL);
    ASSERT_TIER(&d, "reseller", "Bronze");
    stop(&d, SIGTERM);
    harness_finish(&d.h);
}
END_TEST

/* Events and their amendments in different batches of one import, with
 * batches in flight at once: each amendment finds its event. */
START_TEST(test_an_import_amends_events_of_earlier_batches_in_flight)
{
    tdaemon d;
    setup(&d);
    enum { N = 1500 };
    size_t cap = 2 * N * 160, len = 0;
    char *text = malloc(cap);
    ck_assert_ptr_nonnull(text);
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < N; i++)
            len += (size_t)snprintf(
                text + len, cap - len,
                "{\"id\":\"b%d\",\"source\":\"crm\",\"partner\":\"p-1\","
                "\"metric\":\"deal_closed\",\"value\":%d,\"at\":\"2026-05-01\"%s}\n",
                i, pass ? 0 : 1, pass ? ",\"op\":\"amend\",\"revision\":1" : "");
    char path[HARNESS_PATH_MAX];
    harness_write_file(&d.h, "batches.ndjson", text, path, sizeof path);
    free(text);
    char *out = NULL, *err = NULL;
    int rc = HARNESS_TIERCTL(&d.h, &out, &err, "event", "import", path, "--in-flight", "4");
    ck_assert_msg(rc == 0, "import: %s / %s", out, err);
    ck_assert_msg(strstr(out, "3,000 accepted") != NULL, "import: %s", out);
    free(out);
    free(err);
    /* 1500 deals of 1 each, all amended to 0: the tier promoted on the way
     * drops once the instant of its promotion has passed. */
    advance(&d);
    ASSERT_TIER(&d, "reseller", "");
    stop(&d, SIGTERM);
    harness_finish(&d.h);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("corrections");
    TCase *tc = tcase_create("daemon");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_amend_and_retract_move_the_tier_at_once_with_cause_correction);
    tcase_add_test(tc, test_retractions_hold_across_restart_and_kill9);
    tcase_add_test(tc, test_bad_corrections_are_rejected_with_reasons_and_the_batch_goes_on);
    tcase_add_test(tc, test_an_import_amends_events_of_earlier_batches_in_flight);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
