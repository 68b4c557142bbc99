/* Timers: the queue on its own (order, moved keys, removal, ties), then the
 * daemon's timers over a real state dir with a frozen clock: deleted
 * partners leave the queue, and a clock advance demotes at the moment the
 * window expired, not at the advance target. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_fixture.h"
#include "state.h"
#include "tierd.pb-c.h"
#include "timers.h"
#include "testutil.h"

#define DIR_MAX_TEST  256
#define FX_NOW        ((td_time)1780000000) /* 2026-05-28 */
#define MANY          20000
#define MAX_PUBLISHED 64
#define ID_BUF        32
#define ADVANCE_DAYS  400
#define DEAL_AGE_DAYS 30
#define RANDOM_SEED   12345u
#define LOOP_PARTNERS 2500

/* tierd_now belongs to the daemon; the tests freeze it. */
td_time tierd_now(const tierd *t)
{
    return t->fake_now;
}

/* ---- the queue ---- */

static td_time pop(timer_heap *h, char *id)
{
    const char *top;
    td_time due;
    if (!timer_heap_peek(h, &top, &due))
        return TD_TIME_NONE;
    snprintf(id, ID_BUF, "%s", top);
    ck_assert(timer_heap_remove(h, id));
    return due;
}

START_TEST(test_queue_gives_partners_in_due_order)
{
    timer_heap *h = timer_heap_new();
    srand(RANDOM_SEED);
    char id[ID_BUF];
    for (int i = 0; i < MANY; i++) {
        snprintf(id, sizeof id, "p-%d", i);
        ck_assert_int_eq(timer_heap_set(h, id, 1 + rand() % 100000), 0);
    }
    ck_assert_uint_eq(timer_heap_size(h), MANY);
    td_time last = 0;
    for (int i = 0; i < MANY; i++) {
        td_time due = pop(h, id);
        ck_assert_int_ge(due, last);
        last = due;
    }
    ck_assert_uint_eq(timer_heap_size(h), 0);
    timer_heap_free(h);
}
END_TEST

START_TEST(test_setting_an_existing_partner_moves_its_one_entry)
{
    timer_heap *h = timer_heap_new();
    timer_heap_set(h, "a", 100);
    timer_heap_set(h, "b", 200);
    timer_heap_set(h, "c", 300);
    timer_heap_set(h, "c", 50);  /* earlier */
    timer_heap_set(h, "a", 400); /* later */
    ck_assert_uint_eq(timer_heap_size(h), 3);
    ck_assert_int_eq(timer_heap_due(h, "a"), 400);
    char id[ID_BUF];
    ck_assert_int_eq(pop(h, id), 50);
    ck_assert_str_eq(id, "c");
    ck_assert_int_eq(pop(h, id), 200);
    ck_assert_str_eq(id, "b");
    ck_assert_int_eq(pop(h, id), 400);
    ck_assert_str_eq(id, "a");
    timer_heap_free(h);
}
END_TEST

START_TEST(test_removed_partners_leave_every_other_entry_findable)
{
    timer_heap *h = timer_heap_new();
    char id[ID_BUF];
    for (int i = 0; i < MANY; i++) {
        snprintf(id, sizeof id, "p-%d", i);
        timer_heap_set(h, id, 1000 + (i * 7919) % MANY);
    }
    for (int i = 0; i < MANY; i += 3) {
        snprintf(id, sizeof id, "p-%d", i);
        ck_assert(timer_heap_remove(h, id));
        ck_assert(!timer_heap_remove(h, id));
    }
    /* due NONE removes too */
    ck_assert_int_eq(timer_heap_set(h, "p-1", TD_TIME_NONE), 0);
    for (int i = 0; i < MANY; i++) {
        snprintf(id, sizeof id, "p-%d", i);
        td_time want = (i % 3 == 0 || i == 1) ? TD_TIME_NONE : 1000 + (i * 7919) % MANY;
        ck_assert_int_eq(timer_heap_due(h, id), want);
    }
    td_time last = 0;
    size_t n = 0;
    while (timer_heap_size(h)) {
        td_time due = pop(h, id);
        ck_assert_int_ge(due, last);
        last = due;
        n++;
    }
    ck_assert_uint_eq(n, MANY - (MANY + 2) / 3 - 1);
    timer_heap_free(h);
}
END_TEST

START_TEST(test_equal_due_times_come_out_in_id_order)
{
    timer_heap *h = timer_heap_new();
    char id[ID_BUF], prev[ID_BUF] = "";
    for (int i = MANY - 1; i >= 0; i--) {
        snprintf(id, sizeof id, "p-%06d", i);
        timer_heap_set(h, id, 777);
    }
    for (int i = 0; i < MANY; i++) {
        ck_assert_int_eq(pop(h, id), 777);
        ck_assert_int_lt(strcmp(prev, id), 0);
        snprintf(prev, sizeof prev, "%s", id);
    }
    timer_heap_free(h);
}
END_TEST

/* ---- the daemon's timers over a real state dir ---- */

static char dir[DIR_MAX_TEST];
static tierd d;

typedef struct published {
    char partner[MAX_PUBLISHED][ID_BUF];
    char to[MAX_PUBLISHED][ID_BUF];
    td_time at[MAX_PUBLISHED];
    size_t n;
} published;

static published pub;

static void record_publish(void *ud, const char *topic, const uint8_t *payload, size_t len)
{
    (void)topic;
    published *p = ud;
    if (p->n == MAX_PUBLISHED)
        return; /* the bulk tests count changes through the timers' stats */
    Tierd__TierChange *c = tierd__tier_change__unpack(NULL, len, payload);
    ck_assert_ptr_nonnull(c);
    snprintf(p->partner[p->n], ID_BUF, "%s", c->partner);
    snprintf(p->to[p->n], ID_BUF, "%s", c->to_tier);
    p->at[p->n++] = c->at;
    tierd__tier_change__free_unpacked(c, NULL);
}

static void setup(void)
{
    ck_assert_ptr_nonnull(tu_tmpdir("td-timers", dir, sizeof dir));
    memset(&d, 0, sizeof d);
    memset(&pub, 0, sizeof pub);
    d.fake_clock = true;
    d.fake_now = FX_NOW;
    store_options opt = {.no_sync = true};
    td_error err;
    ck_assert_msg(state_open_with(&d, dir, &opt, &err) == 0, "%s", err.message);
    state_set_publisher(&d, record_publish, &pub);
    ck_assert_int_eq(
        engine_program_apply(d.engine, fx_partners_program("v1", 50000), FX_NOW, NULL, NULL), 0);
}

static void teardown(void)
{
    state_close(&d);
    ck_assert_int_eq(tu_rm_rf(dir), 0);
}

/* A reseller that reaches Selling on a deal DEAL_AGE_DAYS old. */
static void make_selling(const char *id, td_time deal_at)
{
    td_error err;
    const char *types[] = {"reseller"};
    ck_assert_int_eq(state_begin(&d, &err), 0);
    ck_assert_int_eq(
        engine_partner_upsert(d.engine, id, id, types, 1, FX_NOW, state_change_sink, &d, &err), 0);
    state_partner_changed(&d, id);
    const char *metric[] = {"contract_signed", "active_sellers", "certification", "deal_closed"};
    double value[] = {1, 3, 1, 60000};
    for (size_t i = 0; i < sizeof metric / sizeof metric[0]; i++) {
        char evid[ID_BUF * 2];
        snprintf(evid, sizeof evid, "%s-%zu", id, i);
        td_event ev = {"crm", evid, id, metric[i], value[i], deal_at, "cert-a"};
        ck_assert_msg(engine_ingest(d.engine, &ev, FX_NOW, state_change_sink, &d, &err) == 0, "%s",
                      err.message);
    }
    ck_assert_msg(state_flush(&d, &err) == 0, "%s", err.message);
}

static const char *tier_of(const char *id)
{
    td_tier_view v[TD_MAX_LADDERS];
    td_partner *p = engine_partner_find(d.engine, id);
    ck_assert_ptr_nonnull(p);
    size_t n = engine_partner_tiers(d.engine, p, v, TD_MAX_LADDERS);
    ck_assert_uint_ge(n, 1);
    return v[0].tier;
}

/* Opens the timers on the state as it is; exactly one partner must be due. */
static timers *open_with_one_pending(void)
{
    timers *t;
    td_error err;
    ck_assert_msg(timers_open(&d, &t, &err) == 0, "%s", err.message);
    timers_stats st;
    timers_get_stats(t, &st);
    ck_assert_uint_eq(st.pending, 1);
    return t;
}

START_TEST(test_a_deleted_partner_leaves_the_queue_when_touched)
{
    make_selling("p-1", FX_NOW - DEAL_AGE_DAYS * FX_DAY);
    td_error err;
    timers *t = open_with_one_pending();
    timers_stats st;
    ck_assert_int_eq(state_begin(&d, &err), 0);
    ck_assert_int_eq(engine_partner_delete(d.engine, "p-1", FX_NOW, state_change_sink, &d, &err),
                     0);
    state_partner_changed(&d, "p-1");
    ck_assert_int_eq(state_flush(&d, &err), 0);
    timers_touch(t, "p-1");
    timers_get_stats(t, &st);
    ck_assert_uint_eq(st.pending, 0);
    timers_close(t);
}
END_TEST

/* Advances the fake clock ADVANCE_DAYS through t and commits what that
 * changed; returns how many changes the advance made. */
static uint64_t advance_and_flush(timers *t)
{
    td_time to = FX_NOW + ADVANCE_DAYS * FX_DAY;
    d.fake_now = to;
    uint64_t changes = 0;
    td_error err;
    ck_assert_msg(timers_advance(t, FX_NOW, to, &changes, &err) == 0, "%s", err.message);
    ck_assert_msg(state_flush(&d, &err) == 0, "%s", err.message);
    return changes;
}

START_TEST(test_advance_demotes_at_the_moment_the_window_expired)
{
    td_time deal_at = FX_NOW - DEAL_AGE_DAYS * FX_DAY;
    make_selling("p-1", deal_at);
    ck_assert_str_eq(tier_of("p-1"), "Selling");
    timers *t;
    td_error err;
    ck_assert_int_eq(timers_open(&d, &t, &err), 0);
    td_time expiry =
        engine_partner_next_due(d.engine, engine_partner_find(d.engine, "p-1"), FX_NOW);
    /* The deal leaves its 365-day window about a year after it was made. */
    ck_assert_int_ge(expiry, deal_at + 364 * FX_DAY);
    ck_assert_int_le(expiry, deal_at + 366 * FX_DAY);
    pub.n = 0;

    ck_assert_uint_eq(advance_and_flush(t), 1);
    ck_assert_uint_eq(pub.n, 1);
    ck_assert_str_eq(pub.to[0], "Registered");
    ck_assert_int_eq(pub.at[0], expiry);
    ck_assert_int_lt(pub.at[0], FX_NOW + ADVANCE_DAYS * FX_DAY);
    ck_assert_str_eq(tier_of("p-1"), "Registered");
    timers_stats st;
    timers_get_stats(t, &st);
    ck_assert_uint_ge(st.processed, 1);
    timers_close(t);
}
END_TEST

START_TEST(test_advance_replays_expiries_of_many_partners_in_time_order)
{
    char id[ID_BUF];
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof id, "p-%d", 9 - i); /* id order opposite to time order */
        make_selling(id, FX_NOW - (DEAL_AGE_DAYS + i) * FX_DAY);
    }
    timers *t;
    td_error err;
    ck_assert_int_eq(timers_open(&d, &t, &err), 0);
    pub.n = 0;
    ck_assert_uint_eq(advance_and_flush(t), 10);
    ck_assert_uint_eq(pub.n, 10);
    for (size_t i = 1; i < pub.n; i++)
        ck_assert_int_gt(pub.at[i], pub.at[i - 1]);
    ck_assert_str_eq(pub.partner[0], "p-0");
    ck_assert_str_eq(pub.partner[9], "p-9");
    timers_close(t);
}
END_TEST

START_TEST(test_advance_finds_partners_changed_after_the_queue_was_built)
{
    timers *t;
    td_error err;
    ck_assert_int_eq(timers_open(&d, &t, &err), 0);
    td_time deal_at = FX_NOW - DEAL_AGE_DAYS * FX_DAY;
    make_selling("p-1", deal_at); /* nobody touches the queue */
    td_time expiry =
        engine_partner_next_due(d.engine, engine_partner_find(d.engine, "p-1"), FX_NOW);
    pub.n = 0;
    ck_assert_uint_eq(advance_and_flush(t), 1);
    ck_assert_int_eq(pub.at[0], expiry);
    timers_close(t);
}
END_TEST

static void on_walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* Closes t and every handle left on loop, then loop itself: the loop must
 * close cleanly (uv_loop_close fails while a handle is open). */
static void close_timers_and_loop(timers *t, uv_loop_t *loop)
{
    timers_close(t);
    uv_walk(loop, on_walk_close, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(loop), 0);
    d.loop = NULL;
}

START_TEST(test_the_loop_timer_works_through_due_partners_in_slices)
{
    char id[ID_BUF];
    for (int i = 0; i < LOOP_PARTNERS; i++) {
        snprintf(id, sizeof id, "p-%04d", i);
        make_selling(id, FX_NOW - (DEAL_AGE_DAYS + i % DEAL_AGE_DAYS) * FX_DAY);
    }
    uv_loop_t loop;
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    d.loop = &loop;
    d.fake_clock = false; /* tierd_now still reads d.fake_now here */
    timers *t;
    td_error err;
    ck_assert_int_eq(timers_open(&d, &t, &err), 0);
    /* Nothing is due yet: the loop only waits. */
    ck_assert_int_eq(uv_run(&loop, UV_RUN_NOWAIT), 1);
    timers_stats st;
    timers_get_stats(t, &st);
    ck_assert_uint_eq(st.processed, 0);

    d.fake_now = FX_NOW + ADVANCE_DAYS * FX_DAY;
    timers_touch(t, "p-0000"); /* re-arms for what is now overdue */
    while (uv_run(&loop, UV_RUN_ONCE))
        ;
    timers_get_stats(t, &st);
    ck_assert_uint_eq(st.pending, 0);
    ck_assert_uint_eq(st.processed, LOOP_PARTNERS);
    ck_assert_uint_eq(st.changes, LOOP_PARTNERS);
    ck_assert_uint_ge(st.slices,
                      (LOOP_PARTNERS + TIMERS_SLICE_MAX_PARTNERS - 1) / TIMERS_SLICE_MAX_PARTNERS);
    for (int i = 0; i < LOOP_PARTNERS; i += LOOP_PARTNERS / 10) {
        snprintf(id, sizeof id, "p-%04d", i);
        ck_assert_str_eq(tier_of(id), "Registered");
    }
    close_timers_and_loop(t, &loop);
}
END_TEST

START_TEST(test_a_window_that_expired_while_the_daemon_was_down_is_evaluated_at_start)
{
    make_selling("p-1", FX_NOW - DEAL_AGE_DAYS * FX_DAY);
    uv_loop_t loop;
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    d.loop = &loop;
    d.fake_clock = false;
    d.fake_now = FX_NOW + ADVANCE_DAYS * FX_DAY; /* the restart, long after */
    timers *t = open_with_one_pending();
    while (uv_run(&loop, UV_RUN_ONCE))
        ;
    ck_assert_str_eq(tier_of("p-1"), "Registered");
    close_timers_and_loop(t, &loop);
}
END_TEST

/* A replay resumed right after a restart walks the queue while the
 * start-up fill (more than TIMERS_FILL_MIN_PARTNERS restored, a loop, a
 * real clock) has queued nobody yet: the walk must still find every due
 * partner, at its own instant. */
START_TEST(test_a_walk_during_the_start_up_fill_finds_every_due_partner)
{
    char id[ID_BUF];
    td_error err;
    ck_assert_int_eq(state_begin(&d, &err), 0);
    const char *types[] = {"reseller"};
    const char *metric[] = {"contract_signed", "active_sellers", "certification", "deal_closed"};
    double value[] = {1, 3, 1, 60000};
    td_time deal_at = FX_NOW - DEAL_AGE_DAYS * FX_DAY;
    for (int i = 0; i < TIMERS_FILL_MIN_PARTNERS; i++) {
        snprintf(id, sizeof id, "p-%05d", i);
        ck_assert_int_eq(
            engine_partner_upsert(d.engine, id, id, types, 1, FX_NOW, state_change_sink, &d, &err),
            0);
        state_partner_changed(&d, id);
        for (size_t m = 0; m < sizeof metric / sizeof metric[0]; m++) {
            char evid[ID_BUF * 2];
            snprintf(evid, sizeof evid, "%s-%zu", id, m);
            td_event ev = {"crm", evid, id, metric[m], value[m], deal_at, "cert-a"};
            ck_assert_int_eq(engine_ingest(d.engine, &ev, FX_NOW, state_change_sink, &d, &err), 0);
        }
    }
    ck_assert_msg(state_flush(&d, &err) == 0, "%s", err.message);
    /* the restart: the partners come back from the store */
    state_close(&d);
    store_options opt = {.no_sync = true};
    ck_assert_msg(state_open_with(&d, dir, &opt, &err) == 0, "%s", err.message);
    state_set_publisher(&d, record_publish, &pub);
    ck_assert_int_eq(
        engine_program_apply(d.engine, fx_partners_program("v1", 50000), FX_NOW, NULL, NULL), 0);
    ck_assert_str_eq(tier_of("p-00000"), "Selling");

    uv_loop_t loop;
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    d.loop = &loop;
    d.fake_clock = false;
    timers *t;
    ck_assert_int_eq(timers_open(&d, &t, &err), 0); /* the fill waits for the loop */
    pub.n = 0;
    td_time to = FX_NOW + ADVANCE_DAYS * FX_DAY;
    ck_assert_msg(timers_walk(t, FX_NOW, to, &err) == 0, "%s", err.message);
    ck_assert_msg(state_flush(&d, &err) == 0, "%s", err.message);
    timers_stats st;
    timers_get_stats(t, &st);
    ck_assert_uint_eq(st.changes, TIMERS_FILL_MIN_PARTNERS);
    ck_assert_int_ge(pub.at[0], deal_at + 364 * FX_DAY);
    ck_assert_int_lt(pub.at[0], to);
    ck_assert_str_eq(tier_of("p-00000"), "Registered");
    ck_assert_str_eq(tier_of("p-09999"), "Registered");
    close_timers_and_loop(t, &loop);
}
END_TEST

static Suite *timers_suite(void)
{
    Suite *s = suite_create("timers");
    TCase *q = tcase_create("queue");
    tcase_add_test(q, test_queue_gives_partners_in_due_order);
    tcase_add_test(q, test_setting_an_existing_partner_moves_its_one_entry);
    tcase_add_test(q, test_removed_partners_leave_every_other_entry_findable);
    tcase_add_test(q, test_equal_due_times_come_out_in_id_order);
    suite_add_tcase(s, q);
    TCase *dm = tcase_create("daemon");
    tcase_add_checked_fixture(dm, setup, teardown);
    tcase_add_test(dm, test_a_deleted_partner_leaves_the_queue_when_touched);
    tcase_add_test(dm, test_advance_demotes_at_the_moment_the_window_expired);
    tcase_add_test(dm, test_advance_replays_expiries_of_many_partners_in_time_order);
    tcase_add_test(dm, test_advance_finds_partners_changed_after_the_queue_was_built);
    tcase_add_test(dm, test_the_loop_timer_works_through_due_partners_in_slices);
    tcase_add_test(dm, test_a_window_that_expired_while_the_daemon_was_down_is_evaluated_at_start);
    tcase_add_test(dm, test_a_walk_during_the_start_up_fill_finds_every_due_partner);
    suite_add_tcase(s, dm);
    return s;
}

int main(void)
{
    return tu_run_suite(timers_suite());
}
