/* The change-feed fixture (see feed.h): one program and the partner and
 * deal requests test_watch and test_long_poll each used to write. */
#include "feed.h"

#include <check.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#define FEED_ID_MAX 32

const char feed_program_yaml[] = "program: feed-test\n"
                                 "version: \"1\"\n"
                                 "metrics:\n"
                                 "  deals: { agg: count, event: deal_closed }\n"
                                 "ladders:\n"
                                 "  reseller:\n"
                                 "    partner_types: [reseller]\n"
                                 "    tiers:\n"
                                 "      - name: Registered\n"
                                 "        when: deals >= 1\n"
                                 "      - name: Selling\n"
                                 "        when: deals >= 2\n"
                                 "      - name: Gold\n"
                                 "        when: deals >= 3\n"
                                 "  services:\n"
                                 "    partner_types: [services]\n"
                                 "    tiers:\n"
                                 "      - name: Certified\n"
                                 "        when: deals >= 1\n";

/* Deal ids stay unique across a test, whichever thread sends. */
static atomic_uint feed_deal_no;

void feed_put_partners(td_client *c, const char *id_fmt, int first, int n, const char *type)
{
    Tierd__Partner *ps = calloc((size_t)n, sizeof *ps);
    Tierd__Partner **pp = calloc((size_t)n, sizeof *pp);
    char(*ids)[FEED_ID_MAX] = calloc((size_t)n, sizeof *ids);
    char *types[] = {(char *)type};
    ck_assert(ps && pp && ids);
    for (int i = 0; i < n; i++) {
        tierd__partner__init(&ps[i]);
        snprintf(ids[i], FEED_ID_MAX, id_fmt, first + i);
        ps[i].id = ids[i];
        ps[i].n_types = 1;
        ps[i].types = types;
        pp[i] = &ps[i];
    }
    Tierd__UpsertPartnersRequest req = TIERD__UPSERT_PARTNERS_REQUEST__INIT;
    req.n_partners = (size_t)n;
    req.partners = pp;
    Tierd__UpsertPartnersResponse *r = NULL;
    td_error err = {0};
    ck_assert_msg(td_client_upsert_partners(c, &req, &r, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(r->accepted, (unsigned)n);
    tierd__upsert_partners_response__free_unpacked(r, NULL);
    free(ps);
    free(pp);
    free(ids);
}

void feed_deals(td_client *c, const char *id_fmt, int first, int n, const char *at)
{
    Tierd__Event *es = calloc((size_t)n, sizeof *es);
    Tierd__Event **ep = calloc((size_t)n, sizeof *ep);
    char(*ids)[FEED_ID_MAX] = calloc((size_t)n, sizeof *ids);
    char(*partners)[FEED_ID_MAX] = calloc((size_t)n, sizeof *partners);
    ck_assert(es && ep && ids && partners);
    for (int i = 0; i < n; i++) {
        tierd__event__init(&es[i]);
        snprintf(ids[i], FEED_ID_MAX, "deal-%u", ++feed_deal_no);
        snprintf(partners[i], FEED_ID_MAX, id_fmt, first + i);
        es[i].id = ids[i];
        es[i].source = "crm";
        es[i].partner = partners[i];
        es[i].metric = "deal_closed";
        es[i].at = (char *)at;
        ep[i] = &es[i];
    }
    Tierd__IngestRequest req = TIERD__INGEST_REQUEST__INIT;
    req.n_events = (size_t)n;
    req.events = ep;
    Tierd__IngestResponse *r = NULL;
    td_error err = {0};
    ck_assert_msg(td_client_ingest(c, &req, &r, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(r->accepted, (unsigned)n);
    tierd__ingest_response__free_unpacked(r, NULL);
    free(es);
    free(ep);
    free(ids);
    free(partners);
}
