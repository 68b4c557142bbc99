/* The engine end to end in process: partners on ladders, ingest and its
 * refusals, gates, windows expiring, type changes, program versions,
 * listing, deletion and stats, with every change checked as reported. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "engine_fixture.h"
#include "testutil.h"

#define T0 ((td_time)1767225600) /* 2026-01-01 */

static engine *setup_engine(void)
{
    return fx_engine(fx_partners_program("v1", 50000), T0);
}

/* Registered: contract + one certification. */
static void make_registered(engine *e, const char *id, td_time now, fx_log *log)
{
    fx_event(e, id, "contract_signed", 1, now, now);
    fx_event_key(e, id, "certification", 1, now, "sales-101", now, log);
}

START_TEST(test_partner_climbs_as_facts_arrive_and_each_change_carries_its_criteria)
{
    engine *e = setup_engine();
    fx_log log = {0};
    fx_partner(e, "p1", "reseller", T0, &log);
    ck_assert_uint_eq(log.n, 0);
    ck_assert_str_eq(fx_tier_of(e, "p1", "reseller"), "-");

    make_registered(e, "p1", T0, &log);
    ck_assert_uint_eq(log.n, 1);
    fx_change *c = &log.c[0];
    ck_assert_str_eq(c->partner, "p1");
    ck_assert_str_eq(c->ladder, "reseller");
    ck_assert_str_eq(c->from, "-");
    ck_assert_str_eq(c->to, "Registered");
    ck_assert_int_eq(c->cause, TD_CAUSE_PROMOTION);
    ck_assert_int_eq(c->at, T0);
    ck_assert_msg(strncmp(c->event_id, "test/e", 6) == 0, "event id %s", c->event_id);
    ck_assert_uint_eq(c->n_criteria, 2);
    ck_assert_str_eq(c->crit[0].metric, "contract_signed");
    ck_assert_str_eq(c->crit[1].metric, "sales_certs");
    ck_assert_double_eq(c->crit[1].value, 1);
    ck_assert_double_eq(c->crit[1].threshold, 1);
    ck_assert(c->crit[1].met);

    fx_event(e, "p1", "active_sellers", 3, T0 + 10, T0 + 10);
    fx_event_key(e, "p1", "deal_closed", 60000, T0 + 20, NULL, T0 + 20, &log);
    ck_assert_uint_eq(log.n, 2);
    c = &log.c[1];
    ck_assert_str_eq(c->from, "Registered");
    ck_assert_str_eq(c->to, "Selling");
    /* Destination criteria plus the gate, gate first. */
    ck_assert_uint_eq(c->n_criteria, 3);
    ck_assert_str_eq(c->crit[0].metric, "active_sellers");
    ck_assert_str_eq(c->crit[1].metric, "arr");
    ck_assert_double_eq(c->crit[1].value, 60000);
    ck_assert_double_eq(c->crit[1].threshold, 50000);
    ck_assert_str_eq(fx_tier_of(e, "p1", "reseller"), "Selling");
    engine_free(e);
}
END_TEST

START_TEST(test_gate_failure_keeps_partner_on_the_first_tier)
{
    engine *e = setup_engine();
    fx_partner(e, "p1", "reseller", T0, NULL);
    make_registered(e, "p1", T0, NULL);
    fx_event_key(e, "p1", "certification", 1, T0, "sales-201", T0, NULL);
    fx_event(e, "p1", "deal_closed", 300000, T0, T0);
    fx_event(e, "p1", "active_sellers", 0, T0, T0);
    /* Specialist's `when` holds, but active_sellers >= 1 does not. */
    ck_assert_str_eq(fx_tier_of(e, "p1", "reseller"), "Registered");
    fx_event(e, "p1", "active_sellers", 1, T0 + 1, T0 + 1);
    ck_assert_str_eq(fx_tier_of(e, "p1", "reseller"), "Specialist");
    engine_free(e);
}
END_TEST

START_TEST(test_partner_holds_one_tier_on_each_of_its_ladders)
{
    engine *e = setup_engine();
    const char *types[] = {"reseller", "services"};
    td_error err;
    ck_assert_int_eq(engine_partner_upsert(e, "p1", "Acme", types, 2, T0, NULL, NULL, &err), 0);
    make_registered(e, "p1", T0, NULL);
    for (int i = 0; i < 3; i++)
        fx_event(e, "p1", "implementation", 1, T0 + i, T0 + i);
    fx_event(e, "p1", "csat", 0.9, T0, T0 + 3);
    ck_assert_str_eq(fx_tier_of(e, "p1", "reseller"), "Registered");
    ck_assert_str_eq(fx_tier_of(e, "p1", "services"), "Delivering");
    td_partner_info info;
    engine_partner_info(engine_partner_find(e, "p1"), &info);
    ck_assert_str_eq(info.name, "Acme");
    ck_assert_uint_eq(info.n_types, 2);
    ck_assert_uint_eq(info.events, 6);
    ck_assert_int_eq(info.created, T0);
    ck_assert_int_eq(info.updated, T0 + 3);
    engine_free(e);
}
END_TEST

START_TEST(test_type_change_moves_partner_off_a_ladder)
{
    engine *e = setup_engine();
    fx_log log = {0};
    fx_partner(e, "p1", "reseller", T0, NULL);
    make_registered(e, "p1", T0, NULL);
    fx_event(e, "p1", "implementation", 1, T0, T0);
    fx_partner(e, "p1", "services", T0 + 5, &log);
    ck_assert_str_eq(fx_tier_of(e, "p1", "reseller"), "(off)");
    ck_assert_str_eq(fx_tier_of(e, "p1", "services"), "Trained");
    ck_assert_uint_eq(log.n, 2);
    ck_assert_str_eq(log.c[0].ladder, "reseller");
    ck_assert_str_eq(log.c[0].from, "Registered");
    ck_assert_str_eq(log.c[0].to, "-");
    ck_assert_int_eq(log.c[0].cause, TD_CAUSE_DEMOTION);
    ck_assert_uint_eq(log.c[0].n_criteria, 2); /* the criteria of the tier left */
    ck_assert_str_eq(log.c[1].ladder, "services");
    ck_assert_str_eq(log.c[1].to, "Trained");
    engine_free(e);
}
END_TEST

START_TEST(test_deals_leaving_the_window_demote_with_no_new_event)
{
    engine *e = setup_engine();
    fx_log log = {0};
    fx_partner(e, "p1", "reseller", T0, NULL);
    make_registered(e, "p1", T0, NULL);
    fx_event(e, "p1", "active_sellers", 3, T0, T0);
    fx_event(e, "p1", "deal_closed", 60000, T0 + 100, T0 + 100);
    ck_assert_str_eq(fx_tier_of(e, "p1", "reseller"), "Selling");
    td_partner *p = engine_partner_find(e, "p1");
    td_time due = engine_partner_next_due(e, p, T0 + 100);
    ck_assert_int_eq(due, T0 + 100 + 365 * FX_DAY);
    engine_evaluate(e, p, due - 1, fx_record, &log);
    ck_assert_uint_eq(log.n, 0);
    engine_evaluate(e, NULL, due, fx_record, &log);
    ck_assert_uint_eq(log.n, 1);
    ck_assert_str_eq(log.c[0].from, "Selling");
    ck_assert_str_eq(log.c[0].to, "Registered");
    ck_assert_int_eq(log.c[0].cause, TD_CAUSE_DEMOTION);
    ck_assert_int_eq(engine_partner_next_due(e, p, due), TD_TIME_NONE);
    engine_free(e);
}
END_TEST

static int ingest_one(engine *e, const char *source, const char *id, const char *partner,
                      const char *metric, double value, td_time at, const char *key, td_time now,
                      td_error *err)
{
    td_event ev = {source, id, partner, metric, value, at, key};
    return engine_ingest(e, &ev, now, NULL, NULL, err);
}

START_TEST(test_ingest_refuses_bad_events_and_touches_nothing)
{
    engine *e = engine_new();
    td_error err;
    ck_assert_int_eq(ingest_one(e, "crm", "1", "p1", "deal_closed", 1, T0, NULL, T0, &err),
                     -TD_FAILED_PRECONDITION);
    engine_free(e);

    e = setup_engine();
    fx_partner(e, "p1", "reseller", T0, NULL);
    ck_assert_int_eq(ingest_one(e, "crm", "1", "nope", "deal_closed", 1, T0, NULL, T0, &err),
                     -TD_NOT_FOUND);
    ck_assert_str_eq(err.message, "unknown partner 'nope'");
    ck_assert_int_eq(ingest_one(e, "crm", "1", "p1", "bogus", 1, T0, NULL, T0, &err),
                     -TD_INVALID_ARGUMENT);
    ck_assert_str_eq(err.message, "unknown metric 'bogus'");
    /* A metric name is not an event name: arr is fed by deal_closed. */
    ck_assert_int_eq(ingest_one(e, "crm", "1", "p1", "arr", 1, T0, NULL, T0, &err),
                     -TD_INVALID_ARGUMENT);
    const double bad_values[] = {NAN, INFINITY, -INFINITY, 1e16, -1e16};
    for (size_t i = 0; i < sizeof bad_values / sizeof bad_values[0]; i++) {
        ck_assert_int_eq(
            ingest_one(e, "crm", "1", "p1", "deal_closed", bad_values[i], T0, NULL, T0, &err),
            -TD_INVALID_ARGUMENT);
        ck_assert_ptr_nonnull(strstr(err.message, "value"));
    }
    ck_assert_int_eq(ingest_one(e, "crm", "1", "p1", "deal_closed", 1, 0, NULL, T0, &err),
                     -TD_INVALID_ARGUMENT);
    ck_assert_int_eq(ingest_one(e, "crm", "1", "p1", "deal_closed", 1, T0 + TD_MAX_FUTURE_SKEW + 1,
                                NULL, T0, &err),
                     -TD_INVALID_ARGUMENT);
    ck_assert_int_eq(ingest_one(e, "cr\xff", "1", "p1", "deal_closed", 1, T0, NULL, T0, &err),
                     -TD_INVALID_ARGUMENT);
    ck_assert_int_eq(ingest_one(e, "crm", "", "p1", "deal_closed", 1, T0, NULL, T0, &err),
                     -TD_INVALID_ARGUMENT);
    char big[TD_MAX_ID + 2];
    memset(big, 'k', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ck_assert_int_eq(ingest_one(e, "crm", "1", "p1", "certification", 1, T0, big, T0, &err),
                     -TD_INVALID_ARGUMENT);
    td_partner_info info;
    engine_partner_info(engine_partner_find(e, "p1"), &info);
    ck_assert_uint_eq(info.events, 0);
    /* The edge of the accepted future is accepted. */
    ck_assert_int_eq(ingest_one(e, "crm", "1", "p1", "deal_closed", -1e15, T0 + TD_MAX_FUTURE_SKEW,
                                NULL, T0, &err),
                     0);
    engine_free(e);
}
END_TEST

START_TEST(test_upsert_refuses_bad_ids_names_and_types)
{
    engine *e = setup_engine();
    td_error err;
    const char *t1[] = {"reseller"};
    char big[TD_MAX_ID + 2];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    const char *bad_ids[] = {"", big, "a\nb", "bad\xff", "over\xc0\xaflong", "c1\xc2\x85"};
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++)
        ck_assert_int_eq(engine_partner_upsert(e, bad_ids[i], NULL, t1, 1, T0, NULL, NULL, &err),
                         -TD_INVALID_ARGUMENT);
    ck_assert_int_eq(engine_partner_upsert(e, NULL, NULL, t1, 1, T0, NULL, NULL, &err),
                     -TD_INVALID_ARGUMENT);
    ck_assert_int_eq(engine_partner_upsert(e, "p1", "tab\there", t1, 1, T0, NULL, NULL, &err),
                     -TD_INVALID_ARGUMENT);
    const char *bad_type[] = {"re\x01seller"};
    ck_assert_int_eq(engine_partner_upsert(e, "p1", NULL, bad_type, 1, T0, NULL, NULL, &err),
                     -TD_INVALID_ARGUMENT);
    const char *many[TD_MAX_PARTNER_TYPES + 1];
    for (size_t i = 0; i <= TD_MAX_PARTNER_TYPES; i++)
        many[i] = "reseller";
    ck_assert_int_eq(
        engine_partner_upsert(e, "p1", NULL, many, TD_MAX_PARTNER_TYPES + 1, T0, NULL, NULL, &err),
        -TD_INVALID_ARGUMENT);
    ck_assert_uint_eq(engine_partner_count(e), 0);
    ck_assert_int_eq(engine_partner_upsert(e, "p-ü", "Ünïcode GmbH", t1, 1, T0, NULL, NULL, &err),
                     0);
    ck_assert_uint_eq(engine_partner_count(e), 1);
    engine_free(e);
}
END_TEST

START_TEST(test_list_pages_in_id_order_with_ladder_and_tier_filters)
{
    engine *e = setup_engine();
    char id[16];
    for (int i = 24; i >= 0; i--) {
        snprintf(id, sizeof id, "p%02d", i);
        fx_partner(e, id, i % 5 == 0 ? "services" : "reseller", T0, NULL);
        if (i % 2 == 0 && i % 5 != 0)
            make_registered(e, id, T0, NULL);
    }
    td_partner *out[10];
    bool more;
    td_error err;
    size_t n = engine_partner_list(e, NULL, NULL, NULL, out, 10, &more, &err);
    ck_assert_uint_eq(n, 10);
    ck_assert(more);
    ck_assert_str_eq(fx_id(out[0]), "p00");
    ck_assert_str_eq(fx_id(out[9]), "p09");
    n = engine_partner_list(e, "p19", NULL, NULL, out, 10, &more, &err);
    ck_assert_uint_eq(n, 5);
    ck_assert(!more);
    ck_assert_str_eq(fx_id(out[0]), "p20");

    /* Registered: even ids that are not multiples of 5 (ten of them). */
    n = engine_partner_list(e, NULL, "reseller", "Registered", out, 8, &more, &err);
    ck_assert_uint_eq(n, 8);
    ck_assert(more);
    ck_assert_str_eq(fx_id(out[0]), "p02");
    n = engine_partner_list(e, "p18", "reseller", "Registered", out, 10, &more, &err);
    ck_assert_uint_eq(n, 2);
    ck_assert(!more);
    n = engine_partner_list(e, NULL, "reseller", "unranked", out, 10, &more, &err);
    ck_assert_uint_eq(n, 10);
    ck_assert_str_eq(fx_id(out[0]), "p01");
    ck_assert(!more);

    err.code = TD_OK;
    n = engine_partner_list(e, NULL, "nope", NULL, out, 10, &more, &err);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(err.code, TD_NOT_FOUND);
    n = engine_partner_list(e, NULL, "reseller", "Gold", out, 10, &more, &err);
    ck_assert_int_eq(err.code, TD_NOT_FOUND);
    engine_free(e);
}
END_TEST

START_TEST(test_delete_reports_the_loss_and_forgets_the_partner)
{
    engine *e = setup_engine();
    fx_log log = {0};
    td_error err;
    fx_partner(e, "p1", "reseller", T0, NULL);
    fx_partner(e, "p2", "reseller", T0, NULL);
    make_registered(e, "p1", T0, NULL);
    ck_assert_int_eq(engine_partner_delete(e, "p1", T0 + 1, fx_record, &log, &err), 0);
    ck_assert_uint_eq(log.n, 1);
    ck_assert_int_eq(log.c[0].cause, TD_CAUSE_PARTNER_DELETED);
    ck_assert_str_eq(log.c[0].from, "Registered");
    ck_assert_str_eq(log.c[0].to, "-");
    ck_assert_ptr_null(engine_partner_find(e, "p1"));
    ck_assert_ptr_nonnull(engine_partner_find(e, "p2"));
    ck_assert_uint_eq(engine_partner_count(e), 1);
    ck_assert_int_eq(engine_partner_delete(e, "p1", T0 + 1, NULL, NULL, &err), -TD_NOT_FOUND);
    td_partner *out[4];
    bool more;
    ck_assert_uint_eq(engine_partner_list(e, NULL, NULL, NULL, out, 4, &more, &err), 1);
    ck_assert_str_eq(fx_id(out[0]), "p2");
    engine_free(e);
}
END_TEST

START_TEST(test_many_partners_survive_inserts_and_deletes_in_the_map)
{
    engine *e = setup_engine();
    char id[32];
    td_error err;
    for (int i = 0; i < 5000; i++) {
        snprintf(id, sizeof id, "partner-%d", i);
        fx_partner(e, id, "reseller", T0, NULL);
    }
    for (int i = 0; i < 5000; i += 3) {
        snprintf(id, sizeof id, "partner-%d", i);
        ck_assert_int_eq(engine_partner_delete(e, id, T0, NULL, NULL, &err), 0);
    }
    for (int i = 0; i < 5000; i++) {
        snprintf(id, sizeof id, "partner-%d", i);
        td_partner *p = engine_partner_find(e, id);
        if (i % 3 == 0)
            ck_assert_ptr_null(p);
        else
            ck_assert_str_eq(fx_id(p), id);
    }
    ck_assert_uint_eq(engine_partner_count(e), 5000 - 1667);
    engine_free(e);
}
END_TEST

START_TEST(test_program_apply_remaps_tiers_by_name_and_reports_version_changes)
{
    engine *e = setup_engine();
    fx_log log = {0};
    fx_partner(e, "p1", "reseller", T0, NULL);
    fx_partner(e, "p2", "reseller", T0, NULL);
    make_registered(e, "p1", T0, NULL);
    make_registered(e, "p2", T0, NULL);
    fx_event(e, "p1", "active_sellers", 3, T0, T0);
    fx_event(e, "p2", "active_sellers", 3, T0, T0);
    fx_event(e, "p1", "deal_closed", 60000, T0, T0);
    fx_event(e, "p2", "deal_closed", 120000, T0, T0);
    ck_assert_str_eq(fx_tier_of(e, "p1", "reseller"), "Selling");

    /* v2 raises Selling to 100k: p1 would fall, p2 would not. */
    program *v2 = fx_partners_program("v2", 100000);
    td_impact im;
    ck_assert_int_eq(engine_program_impact(e, v2, T0 + 10, &im), 0);
    ck_assert_uint_eq(im.demoted, 1);
    ck_assert_uint_eq(im.demoted_later, 0);
    ck_assert_uint_eq(im.promoted, 0);
    ck_assert_uint_eq(im.unchanged, 1);
    ck_assert_int_eq(engine_program_apply(e, v2, T0 + 10, fx_record, &log), 0);
    ck_assert_uint_eq(log.n, 1);
    ck_assert_str_eq(log.c[0].partner, "p1");
    ck_assert_str_eq(log.c[0].from, "Selling");
    ck_assert_str_eq(log.c[0].to, "Registered");
    ck_assert_int_eq(log.c[0].cause, TD_CAUSE_PROGRAM_VERSION);
    ck_assert_str_eq(fx_tier_of(e, "p2", "reseller"), "Selling");
    ck_assert_str_eq(engine_program(e)->version, "v2");

    /* v3 puts a new tier below Registered: tiers move by name, not index,
     * and nobody changes. */
    program *v3 = fx_partners_program("v3", 100000);
    ladder_def *r = &v3->ladders[0];
    memmove(&r->tiers[1], &r->tiers[0], r->n_tiers * sizeof *r->tiers);
    r->tiers[0] = (tier_def){.name = fx_strdup("Applicant"),
                             .when_src = fx_strdup("contract_signed >= 1"),
                             .when = fx_cmp(FX_CONTRACT, CMP_GE, 1)};
    r->n_tiers++;
    log.n = 0;
    ck_assert_int_eq(engine_program_apply(e, v3, T0 + 20, fx_record, &log), 0);
    ck_assert_uint_eq(log.n, 0);
    ck_assert_str_eq(fx_tier_of(e, "p1", "reseller"), "Registered");
    ck_assert_str_eq(fx_tier_of(e, "p2", "reseller"), "Selling");
    /* Metric state carried over: new events still add to the same stream. */
    fx_event(e, "p1", "deal_closed", 50000, T0 + 30, T0 + 30);
    ck_assert_str_eq(fx_tier_of(e, "p1", "reseller"), "Selling");
    engine_free(e);
}
END_TEST

START_TEST(test_new_program_reads_old_events_through_a_different_window)
{
    engine *e = setup_engine();
    fx_partner(e, "p1", "reseller", T0, NULL);
    make_registered(e, "p1", T0, NULL);
    fx_event(e, "p1", "active_sellers", 3, T0, T0);
    fx_event(e, "p1", "deal_closed", 40000, T0, T0);
    fx_event(e, "p1", "deal_closed", 40000, T0 + 200 * FX_DAY, T0 + 200 * FX_DAY);
    ck_assert_str_eq(fx_tier_of(e, "p1", "reseller"), "Selling");
    /* v2 reads arr over 90 days: only the second deal counts, from the
     * buckets already kept; nothing is replayed. */
    program *v2 = fx_partners_program("v2", 50000);
    v2->metrics[FX_ARR].window.days = 90;
    fx_log log = {0};
    ck_assert_int_eq(engine_program_apply(e, v2, T0 + 210 * FX_DAY, fx_record, &log), 0);
    ck_assert_uint_eq(log.n, 1);
    ck_assert_str_eq(log.c[0].to, "Registered");
    ck_assert_uint_eq(log.c[0].n_criteria, 2); /* the destination's criteria */
    td_explanation x;
    td_error err;
    ck_assert_int_eq(engine_explain(e, engine_partner_find(e, "p1"), 0, T0 + 210 * FX_DAY,
                                    T0 + 210 * FX_DAY, &x, &err),
                     0);
    ck_assert_str_eq(x.tiers[1].criteria[0].metric, "arr");
    ck_assert_double_eq(x.tiers[1].criteria[0].value, 40000);
    engine_explanation_free(&x);
    engine_free(e);
}
END_TEST

START_TEST(test_stats_count_partners_per_ladder_and_tier)
{
    engine *e = setup_engine();
    fx_partner(e, "p1", "reseller", T0, NULL);
    fx_partner(e, "p2", "reseller", T0, NULL);
    fx_partner(e, "p3", "services", T0, NULL);
    make_registered(e, "p1", T0, NULL);
    uint64_t counts[TD_MAX_LADDERS * (TD_MAX_TIERS + 1)];
    engine_stats(e, counts);
    ck_assert_uint_eq(counts[0], 1);                /* reseller unranked */
    ck_assert_uint_eq(counts[1], 1);                /* reseller Registered */
    ck_assert_uint_eq(counts[TD_MAX_TIERS + 1], 1); /* services unranked */
    ck_assert_uint_eq(counts[TD_MAX_TIERS + 1 + 1], 0);
    engine_free(e);
}
END_TEST

static Suite *engine_suite(void)
{
    Suite *s = suite_create("engine");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_partner_climbs_as_facts_arrive_and_each_change_carries_its_criteria);
    tcase_add_test(tc, test_gate_failure_keeps_partner_on_the_first_tier);
    tcase_add_test(tc, test_partner_holds_one_tier_on_each_of_its_ladders);
    tcase_add_test(tc, test_type_change_moves_partner_off_a_ladder);
    tcase_add_test(tc, test_deals_leaving_the_window_demote_with_no_new_event);
    tcase_add_test(tc, test_ingest_refuses_bad_events_and_touches_nothing);
    tcase_add_test(tc, test_upsert_refuses_bad_ids_names_and_types);
    tcase_add_test(tc, test_list_pages_in_id_order_with_ladder_and_tier_filters);
    tcase_add_test(tc, test_delete_reports_the_loss_and_forgets_the_partner);
    tcase_add_test(tc, test_many_partners_survive_inserts_and_deletes_in_the_map);
    tcase_add_test(tc, test_program_apply_remaps_tiers_by_name_and_reports_version_changes);
    tcase_add_test(tc, test_new_program_reads_old_events_through_a_different_window);
    tcase_add_test(tc, test_stats_count_partners_per_ladder_and_tier);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(engine_suite());
}
