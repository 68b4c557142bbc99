/* ListPartnersRequest.at_risk_before through the real tierd and tierctl:
 * a partner whose criteria lapse (or who is demoted) before the instant is
 * listed, one whose dates fall later or who has none is not; the filter
 * pages like the others, counts what a page left out, combines with the
 * ladder, tier and where filters, and `tierctl partner list --at-risk`
 * counts from tierd's clock. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define CLOCK_START "2026-11-15T00:00:00Z"
#define NOW         1794700800 /* CLOCK_START */
#define DAY         86400

/* A deal counts for 30 days; grace 10 days, so a deal of day D lapses on
 * D + 30 and demotes on D + 40. */
static const char *const PROGRAM = "program: risk\n"
                                   "version: \"1\"\n"
                                   "metrics:\n"
                                   "  deals: { agg: count, event: deal_closed, window: 30d }\n"
                                   "ladders:\n"
                                   "  reseller:\n"
                                   "    partner_types: [reseller]\n"
                                   "    policy: { grace: 10d }\n"
                                   "    tiers:\n"
                                   "      - { name: Silver, when: deals >= 1 }\n"
                                   "      - { name: Gold, when: deals >= 2 }\n";

static void put(harness *h, const char *id, const char *region)
{
    char attr[64];
    snprintf(attr, sizeof attr, "region=%s", region);
    HARNESS_TIERCTL_OK(h, "partner", "put", id, "--type", "reseller", "--attr", attr);
}

static void deal(harness *h, const char *partner, const char *at, const char *id)
{
    HARNESS_TIERCTL_OK(h, "event", "add", "--partner", partner, "--metric", "deal_closed", "--at",
                       at, "--id", id, "--source", "crm");
}

/* Soon: deals on 2026-10-26, lapsing 2026-11-25 (10 days ahead). Later:
 * a deal today, lapsing 2026-12-15 (30 days). idle: no deal, unranked. */
static void start(harness *h)
{
    harness_init(h);
    HARNESS_START_OK(h, "--fake-clock", CLOCK_START, NULL);
    char path[HARNESS_PATH_MAX + 16];
    harness_write_file(h, "risk.yaml", PROGRAM, path, sizeof path);
    HARNESS_TIERCTL_OK(h, "program", "load", path);
    put(h, "a-soon", "emea");
    put(h, "b-later", "emea");
    put(h, "c-soon", "apac");
    put(h, "d-idle", "emea");
    put(h, "e-soon", "emea");
    deal(h, "a-soon", "2026-10-26T00:00:00Z", "a1");
    deal(h, "b-later", "2026-11-15T00:00:00Z", "b1");
    deal(h, "c-soon", "2026-10-26T00:00:00Z", "c1");
    deal(h, "c-soon", "2026-10-26T00:00:00Z", "c2"); /* Gold */
    deal(h, "e-soon", "2026-10-26T00:00:00Z", "e1");
}

/* The ids of one ListPartners page, joined by ','; *next the page's next. */
static void list(td_client *c, Tierd__ListPartnersRequest *req, char *ids, size_t n, char *next,
                 uint64_t *remaining)
{
    Tierd__ListPartnersResponse *r = NULL;
    td_error err = {0};
    ck_assert_msg(td_client_list_partners(c, req, &r, &err) == 0, "ListPartners: %s", err.message);
    ids[0] = '\0';
    for (size_t i = 0; i < r->n_partners; i++) {
        const Tierd__PartnerInfo *p = r->partners[i];
        snprintf(ids + strlen(ids), n - strlen(ids), "%s%s", i ? "," : "", p->partner->id);
        /* the dates that put it on the list come with it */
        bool dated = false;
        for (size_t k = 0; k < p->n_tiers; k++)
            dated |= p->tiers[k]->lapses_at != 0 && p->tiers[k]->demotion_at != 0;
        ck_assert_msg(dated, "%s listed without its at-risk dates", p->partner->id);
    }
    if (next)
        snprintf(next, 64, "%s", r->next);
    if (remaining)
        *remaining = r->remaining;
    tierd__list_partners_response__free_unpacked(r, NULL);
}

START_TEST(test_at_risk_before_lists_the_partners_whose_dates_fall_before_it)
{
    harness h;
    start(&h);
    td_client *c = harness_client(&h, NULL);
    Tierd__ListPartnersRequest req = TIERD__LIST_PARTNERS_REQUEST__INIT;
    char ids[256];
    /* 15 days: the three soon ones lapse on day 10; b-later on day 30. */
    req.at_risk_before = NOW + 15 * DAY;
    list(c, &req, ids, sizeof ids, NULL, NULL);
    ck_assert_str_eq(ids, "a-soon,c-soon,e-soon");
    /* The instant itself is not before it: lapses on day 10 exactly. */
    req.at_risk_before = NOW + 10 * DAY;
    list(c, &req, ids, sizeof ids, NULL, NULL);
    ck_assert_str_eq(ids, "");
    /* b-later lapses on day 30. */
    req.at_risk_before = NOW + 31 * DAY;
    list(c, &req, ids, sizeof ids, NULL, NULL);
    ck_assert_str_eq(ids, "a-soon,b-later,c-soon,e-soon");
    td_client_close(c);
    harness_finish(&h);
}
END_TEST

START_TEST(test_at_risk_before_pages_and_counts_what_a_page_left_out)
{
    harness h;
    start(&h);
    td_client *c = harness_client(&h, NULL);
    Tierd__ListPartnersRequest req = TIERD__LIST_PARTNERS_REQUEST__INIT;
    char ids[256], next[64];
    uint64_t remaining = 0;
    req.at_risk_before = NOW + 15 * DAY;
    req.limit = 1;
    req.count_remaining = true;
    const char *want[] = {"a-soon", "c-soon", "e-soon"};
    const uint64_t left[] = {2, 1, 0};
    next[0] = '\0';
    req.after = next; /* sent before list() writes the page's next into it */
    for (size_t page = 0; page < 3; page++) {
        list(c, &req, ids, sizeof ids, next, &remaining);
        ck_assert_str_eq(ids, want[page]);
        ck_assert_uint_eq(remaining, left[page]);
        /* the last page says so: no next, though b-later and d-idle follow */
        ck_assert_str_eq(next, page < 2 ? want[page] : "");
    }
    td_client_close(c);
    harness_finish(&h);
}
END_TEST

START_TEST(test_at_risk_before_combines_with_ladder_tier_and_where)
{
    harness h;
    start(&h);
    td_client *c = harness_client(&h, NULL);
    Tierd__ListPartnersRequest req = TIERD__LIST_PARTNERS_REQUEST__INIT;
    char ids[256];
    req.at_risk_before = NOW + 15 * DAY;
    req.ladder = "reseller";
    req.tier = "Silver";
    list(c, &req, ids, sizeof ids, NULL, NULL);
    ck_assert_str_eq(ids, "a-soon,e-soon");
    req.tier = "";
    char *where[] = {"region=apac"};
    req.where = where;
    req.n_where = 1;
    list(c, &req, ids, sizeof ids, NULL, NULL);
    ck_assert_str_eq(ids, "c-soon");

    /* Not a time: refused, naming the field. */
    Tierd__ListPartnersRequest bad = TIERD__LIST_PARTNERS_REQUEST__INIT;
    bad.at_risk_before = -1;
    Tierd__ListPartnersResponse *r = NULL;
    td_error err = {0};
    ck_assert_int_ne(td_client_list_partners(c, &bad, &r, &err), 0);
    ck_assert_int_eq(err.code, TD_INVALID_ARGUMENT);
    ck_assert_msg(strstr(err.message, "at_risk_before"), "%s", err.message);
    td_client_close(c);
    harness_finish(&h);
}
END_TEST

START_TEST(test_tierctl_partner_list_at_risk_counts_from_tierds_clock)
{
    harness h;
    start(&h);
    char *out = harness_tierctl_expect(
        &h, 0, (const char *const[]){"partner", "list", "--at-risk", "15d", NULL});
    ck_assert_msg(strstr(out, "a-soon") && strstr(out, "c-soon") && strstr(out, "e-soon"), "%s",
                  out);
    ck_assert_msg(!strstr(out, "b-later") && !strstr(out, "d-idle"), "%s", out);
    free(out);
    /* The fake clock moves on 20 days: b-later lapses 10 days later. */
    HARNESS_TIERCTL_OK(&h, "clock", "advance", "20d");
    out = harness_tierctl_expect(
        &h, 0, (const char *const[]){"partner", "list", "--at-risk", "15d", NULL});
    ck_assert_msg(strstr(out, "b-later"), "%s", out);
    free(out);
    out = harness_tierctl_expect(
        &h, 2, (const char *const[]){"partner", "list", "--at-risk", "soon", NULL});
    free(out);
    harness_finish(&h);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("at_risk_rpc");
    TCase *tc = tcase_create("list");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_at_risk_before_lists_the_partners_whose_dates_fall_before_it);
    tcase_add_test(tc, test_at_risk_before_pages_and_counts_what_a_page_left_out);
    tcase_add_test(tc, test_at_risk_before_combines_with_ladder_tier_and_where);
    tcase_add_test(tc, test_tierctl_partner_list_at_risk_counts_from_tierds_clock);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
