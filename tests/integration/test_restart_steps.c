/* A restart between any two steps changes nothing anyone can see.
 *
 * Two real tierds run the example program and data on the fake clock and
 * advance time in the same steps: one never stops, the other is stopped
 * and started again (at the clock it had reached) after every step. After
 * each step every partner's GetPartner, Explain and History, and the whole
 * change log, must be byte-identical between the two. Lifecycle state that
 * lived only in memory (qualifying tier, start of grace) shows up here as a
 * demotion that happens later, or never, in the restarted daemon. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "tierd/client.h"

#define STEPS_CLOCK_START "2026-11-15T00:00:00Z"
#define STEPS_ADVANCE     "30d"
#define STEPS_COUNT       13 /* 390 days: every review point of a year */
#define STEPS_PAGE        500
#define STEPS_TIME_MAX    64

/* What a user can see, as one byte string: packed replies in a fixed order. */
typedef struct snapshot {
    uint8_t *buf;
    size_t len, cap;
    size_t partners;
} snapshot;

static void snap_add(snapshot *s, const char *label, const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    size_t ln = strlen(label) + 1;
    if (s->len + ln + n + sizeof n > s->cap) {
        s->cap = (s->len + ln + n + sizeof n) * 2;
        s->buf = realloc(s->buf, s->cap);
        ck_assert_ptr_nonnull(s->buf);
    }
    memcpy(s->buf + s->len, label, ln);
    s->len += ln;
    memcpy(s->buf + s->len, &n, sizeof n);
    s->len += sizeof n;
    protobuf_c_message_pack(m, s->buf + s->len);
    s->len += n;
}

static void snap_take(const harness *h, snapshot *s)
{
    memset(s, 0, sizeof *s);
    td_client *c = harness_client(h, NULL);
    td_error err = {0};
    uint64_t since = 0;
    for (;;) {
        Tierd__ChangesResponse *ch = NULL;
        ck_assert_msg(td_client_list_changes(c, since, STEPS_PAGE, &ch, &err) == 0, "%s",
                      err.message);
        snap_add(s, "changes", &ch->base);
        size_t n = ch->n_changes;
        if (n)
            since = ch->changes[n - 1]->sequence;
        tierd__changes_response__free_unpacked(ch, NULL);
        if (n == 0)
            break;
    }
    char after[256] = "";
    for (;;) {
        Tierd__ListPartnersRequest lr = TIERD__LIST_PARTNERS_REQUEST__INIT;
        lr.after = after;
        lr.limit = STEPS_PAGE;
        Tierd__ListPartnersResponse *lp = NULL;
        ck_assert_msg(td_client_list_partners(c, &lr, &lp, &err) == 0, "%s", err.message);
        for (size_t i = 0; i < lp->n_partners; i++) {
            const char *id = lp->partners[i]->partner->id;
            s->partners++;
            Tierd__PartnerInfo *pi = NULL;
            ck_assert_msg(td_client_get_partner(c, id, &pi, &err) == 0, "%s", err.message);
            snap_add(s, id, &pi->base);
            tierd__partner_info__free_unpacked(pi, NULL);
            Tierd__ExplainRequest er = TIERD__EXPLAIN_REQUEST__INIT;
            er.partner = (char *)id;
            Tierd__ExplainResponse *ex = NULL;
            int rc = td_client_explain(c, &er, &ex, &err);
            if (rc == 0) {
                snap_add(s, id, &ex->base);
                tierd__explain_response__free_unpacked(ex, NULL);
            } else {
                snap_add(s, err.message, &er.base); /* a partner on no ladder */
            }
            Tierd__HistoryRequest hr = TIERD__HISTORY_REQUEST__INIT;
            hr.partner = (char *)id;
            Tierd__ChangesResponse *hi = NULL;
            ck_assert_msg(td_client_history(c, &hr, &hi, &err) == 0, "%s", err.message);
            snap_add(s, id, &hi->base);
            tierd__changes_response__free_unpacked(hi, NULL);
        }
        bool more = lp->next && *lp->next;
        if (more)
            snprintf(after, sizeof after, "%s", lp->next);
        tierd__list_partners_response__free_unpacked(lp, NULL);
        if (!more)
            break;
    }
    td_client_close(c);
}

/* Names the first partner whose replies differ, for a readable failure. */
static const char *snap_first_difference(const snapshot *a, const snapshot *b)
{
    size_t i = 0;
    const char *label = "(start)";
    while (i < a->len && i < b->len) {
        const char *la = (const char *)a->buf + i;
        size_t ln = strlen(la) + 1;
        if (i + ln > b->len || memcmp(la, b->buf + i, ln) != 0)
            return la;
        label = la;
        size_t n;
        memcpy(&n, a->buf + i + ln, sizeof n);
        size_t whole = ln + sizeof n + n;
        if (i + whole > b->len || memcmp(a->buf + i, b->buf + i, whole) != 0)
            return label;
        i += whole;
    }
    return a->len == b->len ? NULL : label;
}

static void ctl_ok(const harness *h, const char *const *argv)
{
    char *out = NULL, *err = NULL;
    int rc = harness_tierctl(h, argv, &out, &err);
    ck_assert_msg(rc == 0, "tierctl %s %s: exit %d: %s", argv[0], argv[1] ? argv[1] : "", rc, err);
    free(out);
    free(err);
}

static void load_example(const harness *h)
{
    const char *root = getenv("TIERD_SOURCE_ROOT");
    ck_assert_ptr_nonnull(root);
    char program[PATH_MAX], partners[PATH_MAX], events[PATH_MAX];
    snprintf(program, sizeof program, "%s/examples/programs/partners.yaml", root);
    snprintf(partners, sizeof partners, "%s/examples/data/partners.ndjson", root);
    snprintf(events, sizeof events, "%s/examples/data/events.ndjson", root);
    ctl_ok(h, (const char *const[]){"program", "load", program, NULL});
    /* One batch at a time: both daemons must apply the events in the same
     * order, or sums differ in their last bits. */
    ctl_ok(h, (const char *const[]){"partner", "import", partners, "--in-flight", "1", NULL});
    ctl_ok(h, (const char *const[]){"event", "import", events, "--in-flight", "1", NULL});
}

static void clock_now(const harness *h, char *out, size_t n)
{
    td_client *c = harness_client(h, NULL);
    td_error err = {0};
    Tierd__ClockResponse *cr = NULL;
    ck_assert_msg(td_client_clock(c, NULL, &cr, &err) == 0, "%s", err.message);
    time_t t = (time_t)cr->now;
    struct tm tm;
    ck_assert_ptr_nonnull(gmtime_r(&t, &tm));
    ck_assert_uint_gt(strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm), 0);
    tierd__clock_response__free_unpacked(cr, NULL);
    td_client_close(c);
}

START_TEST(test_restart_between_every_step_changes_nothing_visible)
{
    harness steady, restarted;
    harness_init(&steady);
    harness_init(&restarted);
    HARNESS_START_OK(&steady, "--fake-clock", STEPS_CLOCK_START, NULL);
    HARNESS_START_OK(&restarted, "--fake-clock", STEPS_CLOCK_START, NULL);
    load_example(&steady);
    load_example(&restarted);
    for (int step = 1; step <= STEPS_COUNT; step++) {
        ctl_ok(&steady, (const char *const[]){"clock", "advance", STEPS_ADVANCE, NULL});
        ctl_ok(&restarted, (const char *const[]){"clock", "advance", STEPS_ADVANCE, NULL});
        char now[STEPS_TIME_MAX];
        clock_now(&restarted, now, sizeof now);
        ck_assert_int_eq(harness_stop(&restarted), 0);
        HARNESS_START_OK(&restarted, "--fake-clock", now, NULL);
        snapshot a, b;
        snap_take(&steady, &a);
        snap_take(&restarted, &b);
        ck_assert_uint_gt(a.partners, 0);
        const char *diff = snap_first_difference(&a, &b);
        ck_assert_msg(diff == NULL,
                      "step %d (%s, clock %s): replies for '%s' differ after a restart", step,
                      STEPS_ADVANCE, now, diff);
        free(a.buf);
        free(b.buf);
    }
    ck_assert_int_eq(harness_stop(&steady), 0);
    ck_assert_int_eq(harness_stop(&restarted), 0);
    harness_cleanup(&steady);
    harness_cleanup(&restarted);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("restart_steps");
    TCase *tc = tcase_create("year");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_restart_between_every_step_changes_nothing_visible);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
