/* Webhooks through the real tierd and a real HTTP receiver on 127.0.0.1
 * (webhook_receiver.c): signed notices of tier changes, approvals waiting,
 * at-risk and recovered; retries, timeouts, redirects, huge bodies, order
 * per partner, kill -9 with deliveries pending, dead letters and resend,
 * and config errors with file:line:column. */
#include <check.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "webhook_receiver.h"

#define SECRET  "test-secret-0123456789"
#define WAIT_MS 20000
#define MUST    HARNESS_TIERCTL_OK

/* Gold needs 1000 of arr over 90 days; a partner below keeps its tier for
 * a 30-day grace. Platinum waits for approval. */
static const char *const PROGRAM = "program: wh\n"
                                   "version: \"1\"\n"
                                   "metrics:\n"
                                   "  arr: { agg: sum, event: deal_closed, window: 90d }\n"
                                   "ladders:\n"
                                   "  reseller:\n"
                                   "    partner_types: [reseller]\n"
                                   "    policy: { grace: 30d, approval: [Platinum] }\n"
                                   "    tiers:\n"
                                   "      - { name: Silver, when: arr >= 100 }\n"
                                   "      - { name: Gold, when: arr >= 1000 }\n"
                                   "      - { name: Platinum, when: arr >= 100000 }\n";

/* tierd with one webhook to w (plus `extra` config lines and endpoint
 * keys), the program loaded, at 2026-01-01 on a fake clock. */
static void start(harness *h, wr *w, const char *endpoint_extra, const char *extra)
{
    harness_init(h);
    char conf[2048];
    snprintf(conf, sizeof conf,
             "webhooks:\n"
             "  - name: crm\n"
             "    url: http://127.0.0.1:%u/hook\n"
             "    secret: \"" SECRET "\"\n"
             "%s"
             "webhook_retry_base_ms: 20\n"
             "webhook_retry_max_ms: 100\n"
             "%s",
             wr_port(w), endpoint_extra ? endpoint_extra : "", extra ? extra : "");
    harness_write_config(h, conf);
    HARNESS_START_OK(h, "--fake-clock", "2026-01-01T00:00:00Z", NULL);
    char path[HARNESS_PATH_MAX + 16];
    harness_write_file(h, "wh.yaml", PROGRAM, path, sizeof path);
    MUST(h, "program", "load", path);
}

static void deal(harness *h, const char *partner, const char *id, const char *value, const char *at)
{
    MUST(h, "event", "add", "--partner", partner, "--metric", "deal_closed", "--value", value,
         "--at", at, "--id", id, "--source", "crm");
}

static Tierd__StatusResponse *status(harness *h)
{
    td_client *c = harness_client(h, NULL);
    Tierd__StatusResponse *s = NULL;
    td_error err;
    ck_assert_msg(td_client_status(c, &s, &err) == 0, "status: %s", err.message);
    td_client_close(c);
    return s;
}

static bool outbox_empty(harness *h, uint64_t dead)
{
    Tierd__StatusResponse *s = status(h);
    bool empty = s->webhook_queued == 0 && s->webhook_dead == dead;
    tierd__status_response__free_unpacked(s, NULL);
    return empty;
}

static void wait_ok(wr *w, size_t n)
{
    tu_deadline d = tu_deadline_in(WAIT_MS);
    while (wr_count_ok(w) < n && tu_poll(&d))
        ;
    ck_assert_msg(wr_count_ok(w) >= n, "receiver got %zu answered 2xx, want %zu (of %zu)",
                  wr_count_ok(w), n, wr_count(w));
}

static void wait_outbox_empty(harness *h, uint64_t dead)
{
    tu_deadline d = tu_deadline_in(WAIT_MS);
    while (!outbox_empty(h, dead) && tu_poll(&d))
        ;
    ck_assert_msg(outbox_empty(h, dead), "outbox not drained (dead %llu expected)",
                  (unsigned long long)dead);
}

static json_t *body_of(wr *w, size_t i)
{
    wr_request r;
    ck_assert(wr_get(w, i, &r));
    json_t *doc = json_loads(r.body, 0, NULL);
    ck_assert_msg(doc != NULL, "not JSON: %s", r.body);
    free(r.body);
    return doc;
}

static const char *jstr(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "(null)";
}

/* Requests of kind, in arrival order, whose field key equals val (NULL: any). */
static size_t count_kind(wr *w, const char *kind, const char *key, const char *val)
{
    size_t n = 0;
    for (size_t i = 0; i < wr_count(w); i++) {
        json_t *b = body_of(w, i);
        if (strcmp(jstr(b, "kind"), kind) == 0 && (!key || strcmp(jstr(b, key), val) == 0))
            n++;
        json_decref(b);
    }
    return n;
}

START_TEST(test_tier_change_arrives_signed_with_its_delivery_id_and_payload)
{
    wr *w = wr_start(SECRET);
    harness h;
    start(&h, w, NULL, NULL);
    MUST(&h, "partner", "put", "p-1", "--type", "reseller");
    deal(&h, "p-1", "d-1", "1500", "2026-01-01T00:00:00Z");
    wait_ok(w, 1);
    wr_request r;
    ck_assert(wr_get(w, 0, &r));
    ck_assert_msg(r.signed_ok, "signature did not verify: %s", r.body);
    ck_assert_str_eq(r.id, "crm:1");
    int64_t now = (int64_t)time(NULL);
    ck_assert_msg(r.timestamp > now - 60 && r.timestamp <= now + 1, "timestamp %lld",
                  (long long)r.timestamp);
    free(r.body);
    json_t *b = body_of(w, 0);
    ck_assert_str_eq(jstr(b, "id"), "crm:1");
    ck_assert_str_eq(jstr(b, "kind"), "tier_change");
    ck_assert_str_eq(jstr(b, "partner"), "p-1");
    ck_assert_str_eq(jstr(b, "ladder"), "reseller");
    ck_assert(json_is_null(json_object_get(b, "from")));
    ck_assert_str_eq(jstr(b, "to"), "Gold");
    ck_assert_str_eq(jstr(b, "direction"), "up");
    ck_assert_str_eq(jstr(b, "cause"), "promotion");
    ck_assert_str_eq(jstr(b, "at"), "2026-01-01T00:00:00Z");
    ck_assert_str_eq(jstr(b, "event_id"), "crm/d-1");
    json_decref(b);
    wait_outbox_empty(&h, 0);
    Tierd__StatusResponse *s = status(&h);
    ck_assert_uint_eq(s->webhook_endpoints, 1);
    ck_assert_uint_eq(s->webhook_delivered, 1);
    tierd__status_response__free_unpacked(s, NULL);
    harness_finish(&h);
    wr_stop(w);
}
END_TEST

START_TEST(test_a_500_is_retried_with_the_same_delivery_id_until_a_200)
{
    wr *w = wr_start(SECRET);
    wr_set_mode(w, WR_STATUS, 500, 0, 2);
    harness h;
    start(&h, w, NULL, NULL);
    MUST(&h, "partner", "put", "p-1", "--type", "reseller");
    deal(&h, "p-1", "d-1", "1500", "2026-01-01T00:00:00Z");
    wait_ok(w, 1);
    wait_outbox_empty(&h, 0);
    ck_assert_uint_eq(wr_count(w), 3);
    for (size_t i = 0; i < 3; i++) {
        wr_request r;
        ck_assert(wr_get(w, i, &r));
        ck_assert_str_eq(r.id, "crm:1");
        ck_assert_int_eq(r.status, i < 2 ? 500 : 200);
        ck_assert(r.signed_ok);
        free(r.body);
    }
    harness_finish(&h);
    wr_stop(w);
}
END_TEST

START_TEST(test_a_stalled_receiver_times_out_while_rpcs_answer_at_once)
{
    wr *w = wr_start(SECRET);
    wr_set_mode(w, WR_STALL, 200, 8000, 1);
    harness h;
    start(&h, w, "    timeout: 1s\n", NULL);
    MUST(&h, "partner", "put", "p-1", "--type", "reseller");
    deal(&h, "p-1", "d-1", "1500", "2026-01-01T00:00:00Z");
    tu_deadline d = tu_deadline_in(WAIT_MS);
    while (wr_count(w) < 1 && tu_poll(&d))
        ;
    ck_assert_uint_ge(wr_count(w), 1);
    /* The receiver holds the transfer; the loop still answers. */
    for (int i = 0; i < 5; i++) {
        int64_t t0 = tu_now_ms();
        Tierd__StatusResponse *s = status(&h);
        tierd__status_response__free_unpacked(s, NULL);
        ck_assert_msg(tu_now_ms() - t0 < 500, "Status took %lld ms during a stalled delivery",
                      (long long)(tu_now_ms() - t0));
    }
    /* After the 1 s timeout the delivery is tried again and succeeds. */
    d = tu_deadline_in(WAIT_MS);
    while (!(wr_count(w) >= 2 && outbox_empty(&h, 0)) && tu_poll(&d))
        ;
    ck_assert_uint_ge(wr_count(w), 2);
    ck_assert(outbox_empty(&h, 0));
    wr_request r;
    ck_assert(wr_get(w, 1, &r));
    ck_assert_str_eq(r.id, "crm:1");
    free(r.body);
    harness_finish(&h);
    wr_stop(w);
}
END_TEST

START_TEST(test_a_redirect_is_not_followed_and_counts_as_a_failure_until_dead)
{
    wr *w = wr_start(SECRET);
    wr_set_mode(w, WR_REDIRECT, 302, 0, 0);
    harness h;
    start(&h, w, "    max_attempts: 2\n", NULL);
    MUST(&h, "partner", "put", "p-1", "--type", "reseller");
    deal(&h, "p-1", "d-1", "1500", "2026-01-01T00:00:00Z");
    wait_outbox_empty(&h, 1);
    ck_assert_uint_eq(wr_count(w), 2);
    ck_assert_uint_eq(wr_count_other_path(w), 0);
    char *out = harness_tierctl_expect(
        &h, 0, (const char *const[]){"--json", "webhook", "deliveries", "--dead", NULL});
    json_t *doc = json_loads(out, 0, NULL);
    ck_assert_msg(json_array_size(doc) == 1, "dead letters: %s", out);
    json_t *d0 = json_array_get(doc, 0);
    ck_assert_str_eq(jstr(d0, "id"), "crm:1");
    ck_assert_int_eq(json_integer_value(json_object_get(d0, "attempts")), 2);
    ck_assert_msg(strstr(jstr(d0, "last_error"), "302") != NULL, "last_error: %s",
                  jstr(d0, "last_error"));
    json_decref(doc);
    free(out);
    harness_finish(&h);
    wr_stop(w);
}
END_TEST

START_TEST(test_a_huge_response_body_is_cut_short_and_the_2xx_counts)
{
    wr *w = wr_start(SECRET);
    wr_set_mode(w, WR_HUGE, 200, 0, 0);
    harness h;
    start(&h, w, NULL, NULL);
    MUST(&h, "partner", "put", "p-1", "--type", "reseller");
    deal(&h, "p-1", "d-1", "1500", "2026-01-01T00:00:00Z");
    wait_outbox_empty(&h, 0);
    ck_assert_uint_eq(wr_count(w), 1);
    ck_assert_msg(wr_huge_bytes(w) < ((uint64_t)16 << 20), "tierd read on: %llu of 64 MiB written",
                  (unsigned long long)wr_huge_bytes(w));
    harness_finish(&h);
    wr_stop(w);
}
END_TEST

/* Partners p-1 and p-2 each move up and down several times while every
 * third request fails: each partner's notices reach the receiver in
 * sequence order, a later one never before an earlier one succeeded. */
START_TEST(test_deliveries_keep_their_order_per_partner_through_failures)
{
    wr *w = wr_start(SECRET);
    harness h;
    start(&h, w, NULL, NULL);
    MUST(&h, "partner", "put", "p-1", "--type", "reseller");
    MUST(&h, "partner", "put", "p-2", "--type", "reseller");
    wr_set_mode(w, WR_STATUS, 500, 0, 3);
    char id[32], at[32];
    for (int i = 0; i < 6; i++) {
        /* Up to Gold, then a negative correction of the same size down. */
        snprintf(at, sizeof at, "2026-01-01T00:00:%02dZ", i);
        snprintf(id, sizeof id, "a-%d", i);
        deal(&h, i % 2 ? "p-2" : "p-1", id, i < 2 ? "1500" : "10", at);
    }
    MUST(&h, "clock", "advance", "200d");
    wait_outbox_empty(&h, 0);
    for (const char *const *p = (const char *const[]){"p-1", "p-2", NULL}; *p; p++) {
        int64_t last_ok = 0, last_seen = 0;
        size_t seen = 0;
        for (size_t i = 0; i < wr_count(w); i++) {
            wr_request r;
            ck_assert(wr_get(w, i, &r));
            if (strcmp(r.partner, *p) == 0) {
                json_t *b = json_loads(r.body, 0, NULL);
                int64_t seq = json_integer_value(json_object_get(b, "sequence"));
                json_decref(b);
                ck_assert_msg(seq >= last_seen, "%s: %lld after %lld", *p, (long long)seq,
                              (long long)last_seen);
                ck_assert_msg(seq == last_seen || last_ok == last_seen,
                              "%s: %lld sent before %lld succeeded", *p, (long long)seq,
                              (long long)last_seen);
                last_seen = seq;
                if (r.status == 200)
                    last_ok = seq;
                seen++;
            }
            free(r.body);
        }
        ck_assert_msg(seen >= 2, "%s: %zu notices", *p, seen);
    }
    harness_finish(&h);
    wr_stop(w);
}
END_TEST

/* Notices pile up while the receiver fails; tierd dies by SIGKILL and
 * starts again: every delivery arrives, distinct ids exactly the ones
 * enqueued, a repeat only ever with the same id. */
START_TEST(test_kill_9_with_deliveries_pending_loses_none)
{
    wr *w = wr_start(SECRET);
    wr_set_mode(w, WR_STATUS, 503, 0, 0);
    harness h;
    start(&h, w, "    max_attempts: 100\n", NULL);
    enum { N = 20 };
    for (int i = 0; i < N; i++) {
        char p[16], id[16];
        snprintf(p, sizeof p, "p-%02d", i);
        snprintf(id, sizeof id, "d-%02d", i);
        MUST(&h, "partner", "put", p, "--type", "reseller");
        deal(&h, p, id, "1500", "2026-01-01T00:00:00Z");
    }
    Tierd__StatusResponse *s = status(&h);
    ck_assert_uint_eq(s->webhook_queued, N);
    tierd__status_response__free_unpacked(s, NULL);
    harness_kill(&h, SIGKILL);
    /* A request the dead tierd had sent may still be read after the kill:
     * answering it 200 would count a delivery nobody heard. Switch only
     * once the receiver has closed every connection the dead tierd had. */
    tu_deadline quiet = tu_deadline_in(10000);
    while (wr_open_connections(w) > 0 && tu_poll(&quiet))
        ;
    ck_assert_uint_eq(wr_open_connections(w), 0);
    wr_set_mode(w, WR_OK, 200, 0, 0);
    HARNESS_START_OK(&h, "--fake-clock", "2026-01-01T00:00:00Z", NULL);
    wait_outbox_empty(&h, 0);
    char seen[N] = {0};
    for (size_t i = 0; i < wr_count(w); i++) {
        wr_request r;
        ck_assert(wr_get(w, i, &r));
        unsigned seq = 0;
        ck_assert_msg(sscanf(r.id, "crm:%u", &seq) == 1 && seq >= 1 && seq <= N, "id %s", r.id);
        ck_assert(r.signed_ok);
        if (r.status == 200) {
            ck_assert_msg(!seen[seq - 1], "%s delivered twice with a 200", r.id);
            seen[seq - 1] = 1;
        }
        free(r.body);
    }
    for (int i = 0; i < N; i++)
        ck_assert_msg(seen[i], "crm:%d never delivered", i + 1);
    harness_finish(&h);
    wr_stop(w);
}
END_TEST

START_TEST(test_dead_letters_show_in_status_and_go_out_again_on_resend)
{
    wr *w = wr_start(SECRET);
    wr_set_mode(w, WR_STATUS, 500, 0, 0);
    harness h;
    start(&h, w, "    max_attempts: 3\n", NULL);
    MUST(&h, "partner", "put", "p-1", "--type", "reseller");
    deal(&h, "p-1", "d-1", "1500", "2026-01-01T00:00:00Z");
    wait_outbox_empty(&h, 1);
    ck_assert_uint_eq(wr_count(w), 3);
    char *out = harness_tierctl_expect(&h, 0, (const char *const[]){"status", NULL});
    ck_assert_msg(strstr(out, "1 dead") != NULL, "status: %s", out);
    free(out);
    /* Not admin-free: a bad id is refused whole. */
    char *err = NULL;
    ck_assert_int_eq(HARNESS_TIERCTL(&h, NULL, &err, "webhook", "resend", "crm:99"), 1);
    ck_assert_msg(strstr(err, "no dead letter") != NULL, "%s", err);
    free(err);
    wr_set_mode(w, WR_OK, 200, 0, 0);
    out = harness_tierctl_expect(&h, 0, (const char *const[]){"webhook", "resend", "crm:1", NULL});
    ck_assert_msg(strstr(out, "1 dead letters queued again") != NULL, "%s", out);
    free(out);
    wait_outbox_empty(&h, 0);
    wr_request r;
    ck_assert(wr_get(w, 3, &r));
    ck_assert_str_eq(r.id, "crm:1");
    ck_assert_int_eq(r.status, 200);
    free(r.body);
    harness_finish(&h);
    wr_stop(w);
}
END_TEST

START_TEST(test_a_move_waiting_for_approval_is_told_once)
{
    wr *w = wr_start(SECRET);
    harness h;
    start(&h, w, NULL, NULL);
    MUST(&h, "partner", "put", "p-1", "--type", "reseller");
    deal(&h, "p-1", "d-1", "200000", "2026-01-01T00:00:00Z");
    deal(&h, "p-1", "d-2", "1", "2026-01-01T00:00:01Z");
    wait_outbox_empty(&h, 0);
    ck_assert_uint_eq(count_kind(w, "approval_waiting", "pending", "Platinum"), 1);
    harness_finish(&h);
    wr_stop(w);
}
END_TEST

/* Gold from two deals (Jan 1 and Jan 10, 600 each): it lapses Apr 1 and,
 * after 30 days of grace, goes May 1. With a 60-day lead the notice comes
 * on Mar 20, once (also across a restart); a deal that moves the lapse to
 * Apr 10 moves the date to May 10 (told again); a big deal ends the risk
 * (recovered). */
START_TEST(test_at_risk_once_again_when_the_date_moves_then_recovered)
{
    wr *w = wr_start(SECRET);
    harness h;
    start(&h, w, "    kinds: [at_risk, recovered]\n", "at_risk_lead: 60d\n");
    MUST(&h, "partner", "put", "p-1", "--type", "reseller");
    deal(&h, "p-1", "d-1", "600", "2026-01-01T00:00:00Z");
    MUST(&h, "clock", "advance", "9d");
    deal(&h, "p-1", "d-2", "600", "2026-01-10T00:00:00Z");
    MUST(&h, "clock", "advance", "21d"); /* Jan 31 */
    wait_outbox_empty(&h, 0);
    ck_assert_uint_eq(wr_count(w), 0);   /* May 1 is 90 days off */
    MUST(&h, "clock", "advance", "48d"); /* Mar 20 */
    wait_ok(w, 1);
    json_t *b = body_of(w, 0);
    ck_assert_str_eq(jstr(b, "kind"), "at_risk");
    ck_assert_str_eq(jstr(b, "date"), "2026-05-01T00:00:00Z");
    ck_assert_str_eq(jstr(b, "tier"), "Gold");
    ck_assert_str_eq(jstr(b, "target"), "Silver");
    ck_assert_str_eq(jstr(b, "due_reason"), "grace_end");
    json_decref(b);
    /* Once: not again on the next day, nor after a restart. */
    MUST(&h, "clock", "advance", "1d");
    ck_assert_int_eq(harness_stop(&h), 0);
    HARNESS_START_OK(&h, "--fake-clock", "2026-03-21T00:00:00Z", NULL);
    MUST(&h, "clock", "advance", "1d"); /* Mar 22 */
    wait_outbox_empty(&h, 0);
    ck_assert_uint_eq(count_kind(w, "at_risk", NULL, NULL), 1);
    deal(&h, "p-1", "d-3", "500", "2026-03-22T00:00:00Z");
    wait_ok(w, 2);
    ck_assert_uint_eq(count_kind(w, "at_risk", "date", "2026-05-10T00:00:00Z"), 1);
    ck_assert_uint_eq(count_kind(w, "at_risk", "previous_date", "2026-05-01T00:00:00Z"), 1);
    deal(&h, "p-1", "d-4", "5000", "2026-03-22T00:00:01Z");
    wait_ok(w, 3);
    ck_assert_uint_eq(count_kind(w, "recovered", "tier", "Gold"), 1);
    wait_outbox_empty(&h, 0);
    ck_assert_uint_eq(wr_count(w), 3);
    harness_finish(&h);
    wr_stop(w);
}
END_TEST

/* The config refuses, naming file:line:column and why. */
static void expect_refused(const char *conf, const char *where, const char *why)
{
    harness h;
    harness_init(&h);
    harness_write_config(&h, conf);
    ck_assert_int_ne(harness_start(&h, NULL), 0);
    char *log = harness_log(&h);
    char want[HARNESS_PATH_MAX + 64];
    snprintf(want, sizeof want, "%s:%s", h.config, where);
    ck_assert_msg(strstr(log, want) && strstr(log, why), "want %s ... %s in:\n%s", want, why, log);
    free(log);
    harness_cleanup(&h);
}

START_TEST(test_bad_webhook_config_is_refused_with_file_line_column)
{
    expect_refused("webhooks:\n"
                   "  - name: crm\n"
                   "    url: ftp://127.0.0.1/hook\n"
                   "    secret: \"" SECRET "\"\n",
                   "3:10:", "must start with http:// or https://");
    expect_refused("webhooks:\n"
                   "  - name: crm\n"
                   "    url: http://127.0.0.1/hook\n"
                   "    secret: short\n",
                   "4:13:", "at least 16");
    expect_refused("webhooks:\n"
                   "  - name: crm\n"
                   "    url: http://127.0.0.1/hook\n"
                   "    secret: \"" SECRET "\"\n"
                   "    kinds: [tier_change, gossip]\n",
                   "5:26:", "unknown kind 'gossip'");
    expect_refused("at_risk_lead: soon\n", "1:15:", "at_risk_lead");
}
END_TEST

START_TEST(test_a_bad_webhook_config_on_sighup_keeps_the_running_one)
{
    wr *w = wr_start(SECRET);
    harness h;
    start(&h, w, NULL, NULL);
    harness_write_config(&h, "webhooks:\n"
                             "  - name: crm\n"
                             "    url: gopher://x\n"
                             "    secret: \"" SECRET "\"\n");
    kill(h.pid, SIGHUP);
    ck_assert(harness_wait_log(&h, "config not reloaded, the running one stays", 1, WAIT_MS));
    ck_assert(harness_wait_log(&h, "tierd.yaml:3:10:", 1, WAIT_MS));
    MUST(&h, "partner", "put", "p-1", "--type", "reseller");
    deal(&h, "p-1", "d-1", "1500", "2026-01-01T00:00:00Z");
    wait_ok(w, 1);
    harness_finish(&h);
    wr_stop(w);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("webhooks");
    TCase *tc = tcase_create("webhooks");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_tier_change_arrives_signed_with_its_delivery_id_and_payload);
    tcase_add_test(tc, test_a_500_is_retried_with_the_same_delivery_id_until_a_200);
    tcase_add_test(tc, test_a_stalled_receiver_times_out_while_rpcs_answer_at_once);
    tcase_add_test(tc, test_a_redirect_is_not_followed_and_counts_as_a_failure_until_dead);
    tcase_add_test(tc, test_a_huge_response_body_is_cut_short_and_the_2xx_counts);
    tcase_add_test(tc, test_deliveries_keep_their_order_per_partner_through_failures);
    tcase_add_test(tc, test_kill_9_with_deliveries_pending_loses_none);
    tcase_add_test(tc, test_dead_letters_show_in_status_and_go_out_again_on_resend);
    tcase_add_test(tc, test_a_move_waiting_for_approval_is_told_once);
    tcase_add_test(tc, test_at_risk_once_again_when_the_date_moves_then_recovered);
    tcase_add_test(tc, test_bad_webhook_config_is_refused_with_file_line_column);
    tcase_add_test(tc, test_a_bad_webhook_config_on_sighup_keeps_the_running_one);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(suite());
}
