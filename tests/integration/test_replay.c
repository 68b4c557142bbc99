/* Backfill with real dates (docs/events.md, "Replay"), end to end on real
 * tierd processes: a year of generated events for several partners under a
 * program with windows, grace, quarterly review and an approval tier.
 *
 * The reference daemon is fed live: --fake-clock at the first event, the
 * clock advanced to each event's instant, then the event ingested. The
 * replaying daemon starts at the end of the year and takes the same events,
 * shuffled, through `tierctl event import --replay`. Partner by partner the
 * two must agree: tiers, since, qualifying, pending, grace, and every
 * change in History (ladder, from, to, at, cause, event). Also: a replay
 * split in two imports with a restart between gives the same; events older
 * than a partner's history are refused with the reason; past changes are
 * not published unless --publish-past. */
#include <check.h>
#include <nanomsg/nn.h>
#include <nanomsg/pubsub.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "td_time.h"
#include "tierd.pb-c.h"

#define FIRST_AT   ((int64_t)1767225600) /* 2026-01-01 */
#define END_AT     ((int64_t)1798761600) /* 2027-01-01 */
#define DAY        ((int64_t)86400)
#define N_PARTNERS 6
#define MAX_EVENTS 600
#define TEXT_MAX   65536
#define LINE_MAX_  256
#define RECV_MS    300
#define CONNECT_MS 10000

static const char program_yaml[] =
    "program: replay\n"
    "version: \"1\"\n"
    "metrics:\n"
    "  arr:   { agg: sum, event: deal_closed, window: 90d }\n"
    "  certs: { agg: distinct, event: certification, window: 180d }\n"
    "ladders:\n"
    "  reseller:\n"
    "    partner_types: [reseller]\n"
    /* grandfather: the replayed copy loads the program at year end; the
     * replay deems it in force from the first event, as the live daemon
     * (which loads it then) has it, or no demotion would land all year. */
    "    policy: { review: quarterly, grace: 30d, approval: [Platinum], grandfather: 90d }\n"
    "    tiers:\n"
    "      - name: Silver\n"
    "        when: arr >= 20k\n"
    "      - name: Gold\n"
    "        when: arr >= 60k and certs >= 1\n"
    "      - name: Platinum\n"
    "        when: arr >= 150k and certs >= 2\n"
    "  services:\n"
    "    partner_types: [reseller]\n"
    "    tiers:\n"
    "      - name: Certified\n"
    "        when: certs >= 2\n";

typedef struct gen_event {
    char id[32], partner[16], metric[16], key[16];
    double value;
    int64_t at;
} gen_event;

static gen_event evs[MAX_EVENTS];
static size_t n_evs;

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Bursts and lulls per partner, heavy-tailed deal sizes, a certification
 * now and then: enough to climb, wait for approval, fall into grace and be
 * demoted at a quarter start. Sorted by time (ties keep generation order). */
static void generate(void)
{
    n_evs = 0;
    for (int p = 0; p < N_PARTNERS; p++) {
        int64_t t = FIRST_AT + (int64_t)(next_rand() % 20) * DAY;
        while (n_evs < MAX_EVENTS && t < END_AT - 5 * DAY) {
            gen_event *e = &evs[n_evs];
            snprintf(e->partner, sizeof e->partner, "p-%d", p);
            snprintf(e->id, sizeof e->id, "e-%zu", n_evs);
            if (next_rand() % 5 == 0) {
                snprintf(e->metric, sizeof e->metric, "certification");
                snprintf(e->key, sizeof e->key, "c-%d", (int)(next_rand() % 4));
                e->value = 1;
            } else {
                snprintf(e->metric, sizeof e->metric, "deal_closed");
                e->key[0] = 0;
                e->value = 2000.0 * (double)(1 + next_rand() % 8) * (next_rand() % 7 == 0 ? 8 : 1);
            }
            e->at = t + (int64_t)(next_rand() % DAY);
            n_evs++;
            /* a lull of up to four months now and then */
            t += (next_rand() % 9 == 0 ? 60 + (int64_t)(next_rand() % 60)
                                       : 1 + (int64_t)(next_rand() % 12)) *
                 DAY;
        }
    }
    /* insertion sort by time: stable */
    for (size_t i = 1; i < n_evs; i++) {
        gen_event x = evs[i];
        size_t j = i;
        while (j > 0 && evs[j - 1].at > x.at) {
            evs[j] = evs[j - 1];
            j--;
        }
        evs[j] = x;
    }
}

static void fmt_time(int64_t t, char *buf)
{
    td_time_format(t, buf, TD_TIME_STRLEN);
}

static void start(harness *h, int64_t clock)
{
    char at[TD_TIME_STRLEN];
    fmt_time(clock, at);
    HARNESS_START_OK(h, "--fake-clock", at, NULL);
}

static void setup_daemon(harness *h, int64_t clock)
{
    harness_init(h);
    start(h, clock);
    char path[HARNESS_PATH_MAX];
    harness_write_file(h, "program.yaml", program_yaml, path, sizeof path);
    HARNESS_TIERCTL_OK(h, "program", "load", path);
    for (int p = 0; p < N_PARTNERS; p++) {
        char id[16];
        snprintf(id, sizeof id, "p-%d", p);
        HARNESS_TIERCTL_OK(h, "partner", "put", id, "--type", "reseller");
    }
}

static void event_json(const gen_event *e, char *line, size_t cap)
{
    char at[TD_TIME_STRLEN];
    fmt_time(e->at, at);
    snprintf(
        line, cap,
        "{\"source\":\"crm\",\"id\":\"%s\",\"partner\":\"%s\",\"metric\":\"%s\",\"value\":%.0f,"
        "\"at\":\"%s\"%s%s%s}\n",
        e->id, e->partner, e->metric, e->value, at, e->key[0] ? ",\"key\":\"" : "", e->key,
        e->key[0] ? "\"" : "");
}

/* Events [lo, hi) in a file, in a shuffled order: tierctl sorts them. */
static void write_events(harness *h, const char *name, size_t lo, size_t hi, char *path)
{
    size_t n = hi - lo;
    size_t *order = malloc(n * sizeof *order);
    for (size_t i = 0; i < n; i++)
        order[i] = lo + i;
    for (size_t i = n; i > 1; i--) {
        size_t j = next_rand() % i, x = order[i - 1];
        order[i - 1] = order[j];
        order[j] = x;
    }
    char *text = malloc(n * LINE_MAX_ + 1);
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        event_json(&evs[order[i]], text + len, LINE_MAX_);
        len += strlen(text + len);
    }
    text[len] = 0;
    harness_write_file(h, name, text, path, HARNESS_PATH_MAX);
    free(text);
    free(order);
}

/* The reference: the clock advanced to each event, then the event. */
static void feed_live(harness *h)
{
    td_client *c = harness_client(h, NULL);
    int64_t clock = FIRST_AT;
    for (size_t i = 0; i < n_evs; i++) {
        td_error err = {0};
        if (evs[i].at > clock) {
            char adv[32];
            snprintf(adv, sizeof adv, "%llds", (long long)(evs[i].at - clock));
            Tierd__ClockResponse *cr = NULL;
            ck_assert_int_eq(td_client_clock(c, adv, &cr, &err), 0);
            tierd__clock_response__free_unpacked(cr, NULL);
            clock = evs[i].at;
        }
        char at[TD_TIME_STRLEN];
        fmt_time(evs[i].at, at);
        Tierd__Event ev = TIERD__EVENT__INIT;
        ev.source = "crm";
        ev.id = evs[i].id;
        ev.partner = evs[i].partner;
        ev.metric = evs[i].metric;
        ev.value = evs[i].value;
        ev.has_value = true;
        ev.at = at;
        ev.key = evs[i].key;
        Tierd__Event *evp = &ev;
        Tierd__IngestRequest req = TIERD__INGEST_REQUEST__INIT;
        req.n_events = 1;
        req.events = &evp;
        Tierd__IngestResponse *resp = NULL;
        ck_assert_int_eq(td_client_ingest(c, &req, &resp, &err), 0);
        ck_assert_int_eq(resp->accepted, 1);
        tierd__ingest_response__free_unpacked(resp, NULL);
    }
    char adv[32];
    snprintf(adv, sizeof adv, "%llds", (long long)(END_AT - clock));
    Tierd__ClockResponse *cr = NULL;
    td_error err = {0};
    ck_assert_int_eq(td_client_clock(c, adv, &cr, &err), 0);
    tierd__clock_response__free_unpacked(cr, NULL);
    td_client_close(c);
}

/* One partner's standing and history, as text two daemons can compare. */
static void describe(harness *h, const char *id, char *out, size_t cap)
{
    td_client *c = harness_client(h, NULL);
    td_error err = {0};
    size_t len = 0;
    Tierd__GetTiersResponse *tr = NULL;
    ck_assert_int_eq(td_client_get_tiers(c, &id, 1, &tr, &err), 0);
    ck_assert_int_eq(tr->n_partners, 1);
    for (size_t i = 0; i < tr->partners[0]->n_tiers; i++) {
        const Tierd__TierState *s = tr->partners[0]->tiers[i];
        len += (size_t)snprintf(
            out + len, cap - len, "%s: %s since %lld q=%s pending=%s below=%lld\n", s->ladder,
            s->tier, (long long)s->since, s->qualifying, s->pending, (long long)s->below_since);
    }
    tierd__get_tiers_response__free_unpacked(tr, NULL);
    Tierd__HistoryRequest hr = TIERD__HISTORY_REQUEST__INIT;
    hr.partner = (char *)id;
    hr.limit = 1000;
    Tierd__ChangesResponse *cr = NULL;
    ck_assert_int_eq(td_client_history(c, &hr, &cr, &err), 0);
    for (size_t i = 0; i < cr->n_changes && len < cap; i++) {
        const Tierd__TierChange *x = cr->changes[i];
        len += (size_t)snprintf(out + len, cap - len, "%s %s->%s at %lld cause %d event %s\n",
                                x->ladder, x->from_tier, x->to_tier, (long long)x->at, x->cause,
                                x->event_id);
    }
    tierd__changes_response__free_unpacked(cr, NULL);
    td_client_close(c);
}

static size_t assert_same_partners(harness *live, harness *replayed)
{
    static char a[TEXT_MAX], b[TEXT_MAX];
    size_t lines = 0;
    for (int p = 0; p < N_PARTNERS; p++) {
        char id[16];
        snprintf(id, sizeof id, "p-%d", p);
        describe(live, id, a, sizeof a);
        describe(replayed, id, b, sizeof b);
        ck_assert_msg(strcmp(a, b) == 0, "partner %s differs.\nlive:\n%s\nreplayed:\n%s", id, a, b);
        for (const char *s = a; *s; s++)
            lines += *s == '\n';
    }
    return lines;
}

static harness live;

static void run_live(void)
{
    generate();
    setup_daemon(&live, FIRST_AT);
    feed_live(&live);
}

START_TEST(test_a_replayed_year_matches_a_daemon_fed_live_partner_by_partner)
{
    run_live();
    harness rep;
    setup_daemon(&rep, END_AT);
    char path[HARNESS_PATH_MAX];
    write_events(&rep, "year.ndjson", 0, n_evs, path);
    char *out = harness_tierctl_expect(
        &rep, 0, (const char *const[]){"event", "import", path, "--replay", NULL});
    ck_assert_ptr_nonnull(strstr(out, "rejected"));
    free(out);
    size_t lines = assert_same_partners(&live, &rep);
    /* the year must have moved tiers many times, or the comparison proves little */
    ck_assert_uint_gt(lines, 4 * N_PARTNERS);
    harness_finish(&rep);
    harness_finish(&live);
}
END_TEST

/* The same replay in two halves with tierd stopped between them: cleanly,
 * or by kill -9 right after the first half was acknowledged. */
static void replay_in_two_halves(bool kill9)
{
    run_live();
    harness rep;
    setup_daemon(&rep, END_AT);
    char first[HARNESS_PATH_MAX], second[HARNESS_PATH_MAX];
    size_t half = n_evs / 2;
    write_events(&rep, "first.ndjson", 0, half, first);
    write_events(&rep, "second.ndjson", half, n_evs, second);
    HARNESS_TIERCTL_OK(&rep, "event", "import", first, "--replay", "--no-catch-up");
    /* open: live events and clock moves wait for the replay to finish */
    char *o = NULL, *e = NULL;
    HARNESS_TIERCTL(&rep, &o, &e, "clock", "advance", "1d");
    ck_assert_ptr_nonnull(strstr(e, "replayed import is open"));
    free(o);
    free(e);
    if (kill9)
        harness_kill(&rep, SIGKILL);
    else
        ck_assert_int_eq(harness_stop(&rep), 0);
    start(&rep, END_AT);
    ck_assert(harness_wait_log(&rep, "a replayed import is open at", 1, HARNESS_WAIT_MS));
    HARNESS_TIERCTL_OK(&rep, "event", "import", second, "--replay");
    assert_same_partners(&live, &rep);
    harness_finish(&rep);
    harness_finish(&live);
}

START_TEST(test_a_replay_split_by_a_restart_matches_the_live_daemon)
{
    replay_in_two_halves(false);
}
END_TEST

START_TEST(test_a_replay_split_by_kill_9_matches_the_live_daemon)
{
    replay_in_two_halves(true);
}
END_TEST

/* What would act at the real time in the middle of the past being
 * replayed waits for the replay to finish: a program load (a dry run
 * changes nothing and goes on), overrides, approvals, denials, deletes. */
START_TEST(test_an_open_replay_refuses_what_would_act_today)
{
    generate();
    harness rep;
    setup_daemon(&rep, END_AT);
    char first[HARNESS_PATH_MAX], prog[HARNESS_PATH_MAX], empty[HARNESS_PATH_MAX];
    write_events(&rep, "first.ndjson", 0, n_evs / 2, first);
    HARNESS_TIERCTL_OK(&rep, "event", "import", first, "--replay", "--no-catch-up");
    char v2[sizeof program_yaml + 8];
    snprintf(v2, sizeof v2, "%s", program_yaml);
    char *version = strstr(v2, "version: \"1\"");
    ck_assert_ptr_nonnull(version);
    version[strlen("version: \"")] = '2';
    harness_write_file(&rep, "v2.yaml", v2, prog, sizeof prog);
    const char *const refused[][12] = {
        {"program", "load", prog, NULL},
        {"override", "set", "p-0", "--ladder", "reseller", "--tier", "Gold", "--until",
         "2027-06-01T00:00:00Z", "--reason", "test", NULL},
        {"override", "clear", "p-0", "--ladder", "reseller", NULL},
        {"approve", "p-0", "--ladder", "reseller", NULL},
        {"deny", "p-0", "--ladder", "reseller", NULL},
        {"partner", "delete", "p-1", NULL},
    };
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        char *out = NULL, *err = NULL;
        int rc = harness_tierctl(&rep, refused[i], &out, &err);
        ck_assert_msg(rc == 1 && strstr(err, "a replayed import is open"), "%s %s: rc %d: %s",
                      refused[i][0], refused[i][1], rc, err);
        free(out);
        free(err);
    }
    HARNESS_TIERCTL_OK(&rep, "program", "load", prog, "--dry-run");
    /* Blank lines only: nothing to replay, and the replay closes. */
    harness_write_file(&rep, "empty.ndjson", "\n\n", empty, sizeof empty);
    HARNESS_TIERCTL_OK(&rep, "event", "import", empty, "--replay");
    HARNESS_TIERCTL_OK(&rep, "program", "load", prog);
    HARNESS_TIERCTL_OK(&rep, "partner", "delete", "p-1");
    harness_finish(&rep);
}
END_TEST

START_TEST(test_replay_refuses_events_older_than_the_partners_history_with_the_reason)
{
    generate();
    harness rep;
    setup_daemon(&rep, END_AT);
    char path[HARNESS_PATH_MAX];
    write_events(&rep, "year.ndjson", 0, n_evs, path);
    HARNESS_TIERCTL_OK(&rep, "event", "import", path, "--replay");
    /* p-0's history now reaches into the last quarter; a deal in February is older */
    harness_write_file(&rep, "late.ndjson",
                       "{\"source\":\"crm\",\"id\":\"late-1\",\"partner\":\"p-0\",\"metric\":"
                       "\"deal_closed\",\"value\":5,\"at\":\"2026-02-01T00:00:00Z\"}\n",
                       path, sizeof path);
    char *out = NULL, *err = NULL;
    int rc = HARNESS_TIERCTL(&rep, &out, &err, "event", "import", path, "--replay");
    ck_assert_int_eq(rc, 1);
    ck_assert_msg(strstr(err, "older than the newest instant already in partner 'p-0''s history"),
                  "%s", err);
    ck_assert_ptr_nonnull(strstr(err, "retract or amend"));
    free(out);
    free(err);
    harness_finish(&rep);
}
END_TEST

/* Receives everything the PUB socket sends until RECV_MS of quiet; returns
 * how many changes, *past how many of them are dated before END_AT (when
 * the replay began), and the last one's topic in last. */
static int drain(int sock, int *past, char *last, size_t cap)
{
    int n = 0;
    *past = 0;
    last[0] = 0;
    int ms = RECV_MS;
    nn_setsockopt(sock, NN_SOL_SOCKET, NN_RCVTIMEO, &ms, sizeof ms);
    for (;;) {
        char *msg = NULL;
        int len = nn_recv(sock, &msg, NN_MSG, 0);
        if (len < 0)
            break;
        n++;
        int tl = 0;
        while (tl < len && msg[tl] != '\n')
            tl++;
        snprintf(last, cap, "%.*s", tl, msg);
        Tierd__TierChange *c =
            tierd__tier_change__unpack(NULL, (size_t)(len - tl - 1), (const uint8_t *)msg + tl + 1);
        ck_assert_ptr_nonnull(c);
        if (c->at < END_AT)
            (*past)++;
        tierd__tier_change__free_unpacked(c, NULL);
        nn_freemsg(msg);
    }
    return n;
}

static int published_by_replay(bool publish_past)
{
    generate();
    harness rep;
    setup_daemon(&rep, END_AT);
    int sock = nn_socket(AF_SP, NN_SUB);
    ck_assert_int_ge(sock, 0);
    ck_assert_int_eq(nn_setsockopt(sock, NN_SUB, NN_SUB_SUBSCRIBE, "", 0), 0);
    ck_assert_int_ge(nn_connect(sock, rep.pub_url), 0);
    ck_assert(harness_wait_connected(sock, CONNECT_MS));
    char path[HARNESS_PATH_MAX];
    write_events(&rep, "year.ndjson", 0, n_evs, path);
    if (publish_past)
        HARNESS_TIERCTL_OK(&rep, "event", "import", path, "--replay", "--publish-past");
    else
        HARNESS_TIERCTL_OK(&rep, "event", "import", path, "--replay");
    /* a live change after the import: the feed is alive and says so */
    HARNESS_TIERCTL_OK(&rep, "partner", "put", "p-new", "--type", "reseller");
    HARNESS_TIERCTL_OK(&rep, "event", "add", "--partner", "p-new", "--metric", "deal_closed",
                       "--value", "30000", "--id", "live-1", "--source", "crm");
    char last[LINE_MAX_];
    int past = 0;
    int n = drain(sock, &past, last, sizeof last);
    nn_close(sock);
    ck_assert_str_eq(last, "change/reseller/p-new");
    ck_assert_int_ge(n, 1);
    harness_finish(&rep);
    return past;
}

START_TEST(test_replay_publishes_no_change_dated_before_it_began)
{
    ck_assert_int_eq(published_by_replay(false), 0);
}
END_TEST

START_TEST(test_replay_with_publish_past_publishes_the_past_changes)
{
    ck_assert_int_gt(published_by_replay(true), N_PARTNERS);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("replay");
    TCase *tc = tcase_create("replay");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_a_replayed_year_matches_a_daemon_fed_live_partner_by_partner);
    tcase_add_test(tc, test_a_replay_split_by_a_restart_matches_the_live_daemon);
    tcase_add_test(tc, test_a_replay_split_by_kill_9_matches_the_live_daemon);
    tcase_add_test(tc, test_replay_refuses_events_older_than_the_partners_history_with_the_reason);
    tcase_add_test(tc, test_an_open_replay_refuses_what_would_act_today);
    tcase_add_test(tc, test_replay_publishes_no_change_dated_before_it_began);
    tcase_add_test(tc, test_replay_with_publish_past_publishes_the_past_changes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
