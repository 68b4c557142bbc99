/* The data methods end to end: the real tierd (TIERD_BIN) on a temporary
 * state dir with a frozen clock, driven through libtierd-client.
 *
 * Proves what docs/program.md, docs/events.md and docs/rpc.md promise users
 * of the data methods: programs load whole or not at all, events promote
 * partners and the changes carry their cause, bad events are refused one by
 * one with a reason while the rest of the batch counts, and the read
 * methods agree. */
#include <check.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nanomsg/nn.h>
#include <nanomsg/pubsub.h>

#include "harness.h"

#define FAKE_NOW         "2026-06-01T00:00:00Z"
#define PARTNERS_EXAMPLE "examples/programs/partners.yaml"
#define PROGRAM_MAX      (1 << 20)
#define SUB_WAIT_MS      2000

/* One reseller ladder with immediate review, so promotions follow events. */
static const char *program_yaml =
    "program: test-partners\n"
    "version: \"t1\"\n"
    "metrics:\n"
    "  arr:             { agg: sum,      event: deal_closed,  window: 365d }\n"
    "  active_sellers:  { agg: latest }\n"
    "  sales_certs:     { agg: distinct, event: certification, window: lifetime }\n"
    "  contract_signed: { agg: latest }\n"
    "ladders:\n"
    "  reseller:\n"
    "    partner_types: [reseller]\n"
    "    gate: active_sellers >= 1\n"
    "    policy:\n"
    "      review: immediate\n"
    "      grace: 90d\n"
    "    tiers:\n"
    "      - name: Registered\n"
    "        when: contract_signed >= 1 and sales_certs >= 1\n"
    "        benefits: [portal]\n"
    "      - name: Selling\n"
    "        when: arr >= 50k and active_sellers >= 3\n"
    "      - name: Specialist\n"
    "        when: arr >= 250k and sales_certs >= 2\n";

/* Two problems on two lines: an unknown aggregate and an unknown metric. */
static const char *broken_yaml = "program: broken\n"
                                 "version: \"b1\"\n"
                                 "metrics:\n"
                                 "  arr: { agg: total, event: deal_closed }\n"
                                 "ladders:\n"
                                 "  reseller:\n"
                                 "    partner_types: [reseller]\n"
                                 "    tiers:\n"
                                 "      - name: Registered\n"
                                 "        when: nosuchmetric >= 1\n";

static harness h;
static td_client *cli;

static void daemon_start(void)
{
    harness_init(&h);
    HARNESS_START_OK(&h, "--fake-clock", FAKE_NOW, NULL);
    cli = harness_client(&h, NULL);
}

static void daemon_stop(void)
{
    td_client_close(cli);
    cli = NULL;
    harness_finish(&h);
}

static Tierd__PutProgramResponse *put_program(const char *yaml, const char *filename, bool dry,
                                              td_error *err)
{
    Tierd__PutProgramRequest req = TIERD__PUT_PROGRAM_REQUEST__INIT;
    req.yaml = (char *)yaml;
    req.filename = (char *)filename;
    req.dry_run = dry;
    Tierd__PutProgramResponse *r = NULL;
    return td_client_put_program(cli, &req, &r, err) == 0 ? r : NULL;
}

static void load_test_program(void)
{
    td_error err;
    Tierd__PutProgramResponse *r = put_program(program_yaml, "test.yaml", false, &err);
    ck_assert_msg(r != NULL, "%s", err.message);
    ck_assert(r->applied);
    tierd__put_program_response__free_unpacked(r, NULL);
}

static void upsert(const char *id, const char *type)
{
    Tierd__Partner p = TIERD__PARTNER__INIT;
    p.id = (char *)id;
    p.name = (char *)id;
    char *types[] = {(char *)type};
    p.types = types;
    p.n_types = 1;
    Tierd__Partner *ps[] = {&p};
    Tierd__UpsertPartnersRequest req = TIERD__UPSERT_PARTNERS_REQUEST__INIT;
    req.partners = ps;
    req.n_partners = 1;
    Tierd__UpsertPartnersResponse *r = NULL;
    td_error err;
    ck_assert_msg(td_client_upsert_partners(cli, &req, &r, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(r->accepted, 1);
    tierd__upsert_partners_response__free_unpacked(r, NULL);
}

static Tierd__Event event(const char *source, const char *id, const char *partner,
                          const char *metric, double value, const char *at, const char *key)
{
    Tierd__Event e = TIERD__EVENT__INIT;
    e.source = (char *)source;
    e.id = (char *)id;
    e.partner = (char *)partner;
    e.metric = (char *)metric;
    e.value = value;
    e.has_value = true;
    e.at = (char *)at;
    e.key = (char *)(key ? key : "");
    return e;
}

static Tierd__IngestResponse *ingest(Tierd__Event *evs, size_t n)
{
    Tierd__Event *ptrs[16];
    ck_assert(n <= 16);
    for (size_t i = 0; i < n; i++)
        ptrs[i] = &evs[i];
    Tierd__IngestRequest req = TIERD__INGEST_REQUEST__INIT;
    req.events = ptrs;
    req.n_events = n;
    Tierd__IngestResponse *r = NULL;
    td_error err;
    ck_assert_msg(td_client_ingest(cli, &req, &r, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(r->n_results, n);
    return r;
}

static void ingest_one_accepted(Tierd__Event e)
{
    Tierd__IngestResponse *r = ingest(&e, 1);
    ck_assert_msg(r->accepted == 1, "event %s/%s: %s", e.source, e.id, r->results[0]->reason);
    tierd__ingest_response__free_unpacked(r, NULL);
}

/* The tier p holds on the reseller ladder ("" unranked); caller frees. */
static char *reseller_tier(const char *partner)
{
    Tierd__PartnerInfo *pi = NULL;
    td_error err;
    ck_assert_msg(td_client_get_partner(cli, partner, &pi, &err) == 0, "%s", err.message);
    char *out = NULL;
    for (size_t i = 0; i < pi->n_tiers; i++)
        if (strcmp(pi->tiers[i]->ladder, "reseller") == 0)
            out = strdup(pi->tiers[i]->tier);
    tierd__partner_info__free_unpacked(pi, NULL);
    ck_assert_msg(out != NULL, "%s is not on the reseller ladder", partner);
    return out;
}

static void assert_tier(const char *partner, const char *tier)
{
    char *t = reseller_tier(partner);
    ck_assert_str_eq(t, tier);
    free(t);
}

/* The daemon's explanation of partner's tiers (caller frees). */
static Tierd__ExplainResponse *explain_of(const char *partner)
{
    Tierd__ExplainRequest req = TIERD__EXPLAIN_REQUEST__INIT;
    req.partner = (char *)partner;
    Tierd__ExplainResponse *x = NULL;
    td_error err;
    ck_assert_msg(td_client_explain(cli, &req, &x, &err) == 0, "%s", err.message);
    return x;
}

static Tierd__StatsResponse *stats(void)
{
    Tierd__StatsResponse *st = NULL;
    td_error err;
    ck_assert_msg(td_client_stats(cli, &st, &err) == 0, "%s", err.message);
    return st;
}

/* p-1 climbs to Registered, then Selling, one triggering event each. */
static void promote_p1(void)
{
    upsert("p-1", "reseller");
    ingest_one_accepted(event("crm", "c-1", "p-1", "contract_signed", 1, "2026-05-01", NULL));
    ingest_one_accepted(event("crm", "s-1", "p-1", "active_sellers", 3, "2026-05-02", NULL));
    ingest_one_accepted(
        event("lms", "l-1", "p-1", "certification", 1, "2026-05-03T10:00:00Z", "cert-a"));
    assert_tier("p-1", "Registered");
    ingest_one_accepted(event("crm", "o-1", "p-1", "deal_closed", 60000, "2026-05-04", NULL));
    assert_tier("p-1", "Selling");
}

static void setup(void)
{
    daemon_start();
}

static void setup_loaded(void)
{
    daemon_start();
    load_test_program();
}

START_TEST(test_methods_needing_a_program_refuse_before_one_is_loaded)
{
    td_error err;
    Tierd__StatsResponse *st = NULL;
    ck_assert_int_eq(td_client_stats(cli, &st, &err), -TD_FAILED_PRECONDITION);
    ck_assert_ptr_nonnull(strstr(err.message, "tierctl program load"));
    Tierd__Event e = event("crm", "x-1", "p-1", "deal_closed", 1, "2026-05-01", NULL);
    Tierd__Event *ptrs[] = {&e};
    Tierd__IngestRequest req = TIERD__INGEST_REQUEST__INIT;
    req.events = ptrs;
    req.n_events = 1;
    Tierd__IngestResponse *ir = NULL;
    ck_assert_int_eq(td_client_ingest(cli, &req, &ir, &err), -TD_FAILED_PRECONDITION);
    const char *ids[] = {"p-1"};
    Tierd__GetTiersResponse *gt = NULL;
    ck_assert_int_eq(td_client_get_tiers(cli, ids, 1, &gt, &err), -TD_FAILED_PRECONDITION);
    /* partners exist without a program; they simply hold no tiers */
    upsert("p-1", "reseller");
    Tierd__PartnerInfo *pi = NULL;
    ck_assert_msg(td_client_get_partner(cli, "p-1", &pi, &err) == 0, "%s", err.message);
    ck_assert_str_eq(pi->partner->id, "p-1");
    ck_assert_uint_eq(pi->n_tiers, 0);
    tierd__partner_info__free_unpacked(pi, NULL);
}
END_TEST

START_TEST(test_example_partners_program_loads)
{
    const char *root = getenv("TIERD_SOURCE_ROOT");
    ck_assert_msg(root != NULL, "TIERD_SOURCE_ROOT is not set");
    char path[HARNESS_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", root, PARTNERS_EXAMPLE);
    char *text = tu_read_file(path, PROGRAM_MAX);
    ck_assert_msg(*text, "cannot read %s", path);
    td_error err;
    Tierd__PutProgramResponse *r = put_program(text, "partners.yaml", false, &err);
    ck_assert_msg(r != NULL, "%s", err.message);
    ck_assert(r->applied);
    ck_assert_str_ne(r->version, "");
    tierd__put_program_response__free_unpacked(r, NULL);
    Tierd__GetProgramResponse *g = NULL;
    ck_assert_msg(td_client_get_program(cli, &g, &err) == 0, "%s", err.message);
    ck_assert_str_eq(g->yaml, text);
    ck_assert_uint_ge(g->n_ladders, 1);
    tierd__get_program_response__free_unpacked(g, NULL);
    free(text);
}
END_TEST

START_TEST(test_broken_program_is_refused_with_every_diagnostic_and_running_version_stays)
{
    td_error err;
    for (int dry = 1; dry >= 0; dry--) {
        Tierd__PutProgramResponse *r = put_program(broken_yaml, "broken.yaml", dry, &err);
        ck_assert_ptr_null(r);
        ck_assert_int_eq(err.code, TD_INVALID_ARGUMENT);
        ck_assert_msg(strstr(err.message, "problems in broken.yaml") != NULL, "%s", err.message);
        ck_assert_msg(strstr(err.message, "\nbroken.yaml:4:") != NULL, "%s", err.message);
        ck_assert_msg(strstr(err.message, "\nbroken.yaml:10:") != NULL, "%s", err.message);
    }
    Tierd__GetProgramResponse *g = NULL;
    ck_assert_msg(td_client_get_program(cli, &g, &err) == 0, "%s", err.message);
    ck_assert_str_eq(g->version, "t1");
    ck_assert_uint_eq(g->n_versions, 1);
    ck_assert(g->versions[0]->in_force);
    tierd__get_program_response__free_unpacked(g, NULL);
}
END_TEST

START_TEST(test_dry_run_reports_impact_and_applies_nothing)
{
    promote_p1();
    char *lower = strdup(program_yaml);
    /* the same ladder with Selling out of reach: p-1 would fall */
    char *v = strstr(lower, "\"t1\"");
    v[2] = '2';
    char *k = strstr(lower, "arr >= 50k");
    memcpy(k, "arr >= 90M", 10);
    td_error err;
    Tierd__PutProgramResponse *r = put_program(lower, "lower.yaml", true, &err);
    ck_assert_msg(r != NULL, "%s", err.message);
    ck_assert(!r->applied);
    ck_assert_str_eq(r->version, "t2");
    ck_assert_uint_eq(r->would_demote, 1);
    ck_assert_uint_eq(r->would_promote, 0);
    tierd__put_program_response__free_unpacked(r, NULL);
    free(lower);
    assert_tier("p-1", "Selling");
    Tierd__GetProgramResponse *g = NULL;
    ck_assert_msg(td_client_get_program(cli, &g, &err) == 0, "%s", err.message);
    ck_assert_str_eq(g->version, "t1");
    tierd__get_program_response__free_unpacked(g, NULL);
}
END_TEST

START_TEST(test_same_version_label_is_idempotent_or_refused_when_text_differs)
{
    td_error err;
    Tierd__PutProgramResponse *r = put_program(program_yaml, "test.yaml", false, &err);
    ck_assert_msg(r != NULL, "%s", err.message);
    ck_assert(!r->applied);
    tierd__put_program_response__free_unpacked(r, NULL);
    size_t n = strlen(program_yaml);
    char *other = malloc(n + 32);
    snprintf(other, n + 32, "%s        benefits: [mdf]\n", program_yaml);
    r = put_program(other, "test.yaml", false, &err);
    free(other);
    ck_assert_ptr_null(r);
    ck_assert_int_eq(err.code, TD_ALREADY_EXISTS);
    ck_assert_msg(strstr(err.message, "version t1 is already loaded with different content"), "%s",
                  err.message);
}
END_TEST

START_TEST(test_events_promote_a_partner_and_changes_carry_cause_event_and_criteria)
{
    promote_p1();
    td_error err;
    Tierd__HistoryRequest hreq = TIERD__HISTORY_REQUEST__INIT;
    hreq.partner = "p-1";
    Tierd__ChangesResponse *h = NULL;
    ck_assert_msg(td_client_history(cli, &hreq, &h, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(h->n_changes, 2);
    /* newest first */
    Tierd__TierChange *sel = h->changes[0], *reg = h->changes[1];
    ck_assert_str_eq(sel->from_tier, "Registered");
    ck_assert_str_eq(sel->to_tier, "Selling");
    ck_assert_int_eq(sel->cause, TIERD__CAUSE__PROMOTION);
    ck_assert_str_eq(sel->event_id, "crm/o-1");
    ck_assert_str_eq(sel->program_version, "t1");
    ck_assert_str_eq(sel->ladder, "reseller");
    ck_assert_uint_gt(sel->sequence, reg->sequence);
    bool saw_arr = false;
    for (size_t i = 0; i < sel->n_criteria; i++)
        if (strcmp(sel->criteria[i]->metric, "arr") == 0) {
            saw_arr = true;
            ck_assert_double_eq(sel->criteria[i]->value, 60000);
            ck_assert_double_eq(sel->criteria[i]->threshold, 50000);
            ck_assert(sel->criteria[i]->met);
            ck_assert_str_eq(sel->criteria[i]->op, ">=");
        }
    ck_assert(saw_arr);
    ck_assert_str_eq(reg->from_tier, "");
    ck_assert_str_eq(reg->to_tier, "Registered");
    ck_assert_str_eq(reg->event_id, "lms/l-1");
    tierd__changes_response__free_unpacked(h, NULL);

    Tierd__ChangesResponse *lc = NULL;
    ck_assert_msg(td_client_list_changes(cli, 0, 0, &lc, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(lc->n_changes, 2);
    ck_assert_uint_eq(lc->changes[0]->sequence, 1);
    ck_assert_uint_eq(lc->changes[1]->sequence, 2);
    ck_assert_uint_eq(lc->last_sequence, 2);
    tierd__changes_response__free_unpacked(lc, NULL);
    ck_assert_msg(td_client_list_changes(cli, 1, 0, &lc, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(lc->n_changes, 1);
    ck_assert_str_eq(lc->changes[0]->to_tier, "Selling");
    tierd__changes_response__free_unpacked(lc, NULL);
}
END_TEST

START_TEST(test_explain_shows_the_gaps_to_the_next_tier)
{
    promote_p1();
    Tierd__ExplainResponse *x = explain_of("p-1");
    ck_assert_uint_eq(x->n_ladders, 1);
    Tierd__LadderExplanation *le = x->ladders[0];
    ck_assert_str_eq(le->ladder, "reseller");
    ck_assert_str_eq(le->tier, "Selling");
    ck_assert_ptr_nonnull(le->next);
    ck_assert_str_eq(le->next->tier, "Specialist");
    bool arr = false, certs = false;
    for (size_t i = 0; i < le->next->n_gaps; i++) {
        Tierd__Gap *g = le->next->gaps[i];
        if (strcmp(g->metric, "arr") == 0) {
            arr = true;
            ck_assert_double_eq(g->missing, 190000);
        }
        if (strcmp(g->metric, "sales_certs") == 0) {
            certs = true;
            ck_assert_double_eq(g->value, 1);
            ck_assert_double_eq(g->threshold, 2);
        }
    }
    ck_assert(arr && certs);
    tierd__explain_response__free_unpacked(x, NULL);

    Tierd__ExplainRequest req = TIERD__EXPLAIN_REQUEST__INIT;
    req.partner = "p-1";
    td_error err;
    req.ladder = "nosuch";
    ck_assert_int_eq(td_client_explain(cli, &req, &x, &err), -TD_NOT_FOUND);
    ck_assert_msg(strstr(err.message, "no ladder named"), "%s", err.message);
    req.ladder = "";
    req.at = "2026-02-30";
    ck_assert_int_eq(td_client_explain(cli, &req, &x, &err), -TD_INVALID_ARGUMENT);
    ck_assert_msg(strncmp(err.message, "at: ", 4) == 0, "%s", err.message);
    req.at = "";
    req.partner = "p-nobody";
    ck_assert_int_eq(td_client_explain(cli, &req, &x, &err), -TD_NOT_FOUND);
}
END_TEST

START_TEST(test_duplicate_events_answer_duplicate_even_within_one_batch)
{
    promote_p1();
    Tierd__Event evs[] = {
        event("crm", "o-1", "p-1", "deal_closed", 60000, "2026-05-04", NULL),
        event("crm", "o-2", "p-1", "deal_closed", 1000, "2026-05-05", NULL),
        event("crm", "o-2", "p-1", "deal_closed", 1000, "2026-05-05", NULL),
    };
    Tierd__IngestResponse *r = ingest(evs, 3);
    ck_assert_uint_eq(r->accepted, 1);
    ck_assert_uint_eq(r->duplicate, 2);
    ck_assert_int_eq(r->results[0]->outcome, TIERD__OUTCOME__DUPLICATE);
    ck_assert_int_eq(r->results[1]->outcome, TIERD__OUTCOME__ACCEPTED);
    ck_assert_int_eq(r->results[2]->outcome, TIERD__OUTCOME__DUPLICATE);
    tierd__ingest_response__free_unpacked(r, NULL);
    Tierd__ExplainResponse *x = explain_of("p-1");
    for (size_t i = 0; i < x->ladders[0]->next->n_gaps; i++)
        if (strcmp(x->ladders[0]->next->gaps[i]->metric, "arr") == 0)
            ck_assert_double_eq(x->ladders[0]->next->gaps[i]->value, 61000);
    tierd__explain_response__free_unpacked(x, NULL);
}
END_TEST

static void assert_rejected(const Tierd__IngestResponse *r, size_t i, const char *part)
{
    ck_assert_msg(r->results[i]->outcome == TIERD__OUTCOME__REJECTED, "event %zu not rejected", i);
    ck_assert_msg(strstr(r->results[i]->reason, part) != NULL, "event %zu: '%s' lacks '%s'", i,
                  r->results[i]->reason, part);
}

START_TEST(test_bad_events_are_rejected_with_reasons_and_the_rest_is_accepted)
{
    upsert("p-1", "reseller");
    Tierd__Event evs[] = {
        event("crm", "g-1", "p-1", "deal_closed", 1000, "2026-05-01", NULL),
        event("crm", "b-1", "p-9", "deal_closed", 1000, "2026-05-01", NULL),
        event("crm", "b-2", "p-1", "nosuchmetric", 1, "2026-05-01", NULL),
        event("crm", "b-3", "p-1", "deal_closed", NAN, "2026-05-01", NULL),
        event("crm", "b-4", "p-1", "deal_closed", 1, "2026-13-01", NULL),
        event("crm", "b-5", "p-1", "deal_closed", 1, "2026-06-03T00:00:00Z", NULL),
        event("", "b-6", "p-1", "deal_closed", 1, "2026-05-01", NULL),
        event("crm", "b-7", "p-1", "deal_closed", INFINITY, "2026-05-01", NULL),
        event("crm", "g-2", "p-1", "deal_closed", 2000, "2026-05-02", NULL),
    };
    Tierd__IngestResponse *r = ingest(evs, 9);
    ck_assert_uint_eq(r->accepted, 2);
    ck_assert_uint_eq(r->rejected, 7);
    ck_assert_int_eq(r->results[0]->outcome, TIERD__OUTCOME__ACCEPTED);
    ck_assert_int_eq(r->results[8]->outcome, TIERD__OUTCOME__ACCEPTED);
    assert_rejected(r, 1, "event 1 (crm/b-1): unknown partner 'p-9'");
    assert_rejected(r, 2, "unknown metric 'nosuchmetric'");
    assert_rejected(r, 3, "finite");
    assert_rejected(r, 4, "at: ");
    assert_rejected(r, 5, "lies in the future");
    assert_rejected(r, 6, "source is required");
    assert_rejected(r, 7, "finite");
    tierd__ingest_response__free_unpacked(r, NULL);
    /* the rejected ones were not remembered: sent again fixed, they count */
    Tierd__Event fixed = event("crm", "b-3", "p-1", "deal_closed", 5, "2026-05-01", NULL);
    ingest_one_accepted(fixed);
    Tierd__PartnerInfo *pi = NULL;
    td_error err;
    ck_assert_msg(td_client_get_partner(cli, "p-1", &pi, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(pi->events, 3);
    tierd__partner_info__free_unpacked(pi, NULL);
}
END_TEST

static char **list_ids(const char *ladder, const char *tier, const char *after, uint32_t limit,
                       size_t *n, char **next, td_code *code)
{
    Tierd__ListPartnersRequest req = TIERD__LIST_PARTNERS_REQUEST__INIT;
    req.ladder = (char *)ladder;
    req.tier = (char *)tier;
    req.after = (char *)after;
    req.limit = limit;
    Tierd__ListPartnersResponse *r = NULL;
    td_error err;
    *code = TD_OK;
    if (td_client_list_partners(cli, &req, &r, &err) != 0) {
        *code = err.code;
        return NULL;
    }
    char **ids = calloc(r->n_partners + 1, sizeof *ids);
    for (size_t i = 0; i < r->n_partners; i++)
        ids[i] = strdup(r->partners[i]->partner->id);
    *n = r->n_partners;
    *next = strdup(r->next);
    tierd__list_partners_response__free_unpacked(r, NULL);
    return ids;
}

static void free_ids(char **ids, size_t n, char *next)
{
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    free(next);
}

START_TEST(test_list_partners_pages_in_id_order_and_filters_by_ladder_and_tier)
{
    promote_p1();
    upsert("p-2", "reseller");
    upsert("p-3", "reseller");
    upsert("p-4", "distributor");
    size_t n;
    char *next;
    td_code code;
    char **ids = list_ids("", "", "", 2, &n, &next, &code);
    ck_assert_int_eq(code, TD_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(ids[0], "p-1");
    ck_assert_str_eq(ids[1], "p-2");
    ck_assert_str_eq(next, "p-2");
    free_ids(ids, n, next);
    ids = list_ids("", "", "p-2", 2, &n, &next, &code);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(ids[0], "p-3");
    ck_assert_str_eq(ids[1], "p-4");
    ck_assert_str_eq(next, "");
    free_ids(ids, n, next);
    ids = list_ids("reseller", "Selling", "", 0, &n, &next, &code);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(ids[0], "p-1");
    free_ids(ids, n, next);
    ids = list_ids("reseller", "unranked", "", 0, &n, &next, &code);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(ids[0], "p-2");
    ck_assert_str_eq(ids[1], "p-3");
    free_ids(ids, n, next);
    ck_assert_ptr_null(list_ids("nosuch", "", "", 0, &n, &next, &code));
    ck_assert_int_eq(code, TD_INVALID_ARGUMENT);
    ck_assert_ptr_null(list_ids("reseller", "Platinum", "", 0, &n, &next, &code));
    ck_assert_int_eq(code, TD_INVALID_ARGUMENT);
}
END_TEST

START_TEST(test_delete_partner_removes_it_and_a_second_delete_is_not_found)
{
    promote_p1();
    upsert("p-2", "reseller");
    td_error err;
    Tierd__DeletePartnerResponse *d = NULL;
    ck_assert_msg(td_client_delete_partner(cli, "p-1", &d, &err) == 0, "%s", err.message);
    ck_assert(d->deleted);
    tierd__delete_partner_response__free_unpacked(d, NULL);
    ck_assert_int_eq(td_client_delete_partner(cli, "p-1", &d, &err), -TD_NOT_FOUND);
    Tierd__PartnerInfo *pi = NULL;
    ck_assert_int_eq(td_client_get_partner(cli, "p-1", &pi, &err), -TD_NOT_FOUND);
    const char *ids[] = {"p-1", "p-2"};
    Tierd__GetTiersResponse *gt = NULL;
    ck_assert_msg(td_client_get_tiers(cli, ids, 2, &gt, &err) == 0, "%s", err.message);
    ck_assert(!gt->partners[0]->found);
    ck_assert(gt->partners[1]->found);
    tierd__get_tiers_response__free_unpacked(gt, NULL);
    Tierd__StatsResponse *st = stats();
    ck_assert_uint_eq(st->partners, 1);
    tierd__stats_response__free_unpacked(st, NULL);
}
END_TEST

START_TEST(test_stats_count_partners_per_tier_and_events)
{
    promote_p1();
    upsert("p-2", "reseller");
    upsert("p-3", "distributor");
    Tierd__StatsResponse *st = stats();
    ck_assert_uint_eq(st->partners, 3);
    ck_assert_uint_eq(st->events, 4);
    ck_assert_uint_eq(st->n_ladders, 1);
    uint64_t selling = 99, unranked = 99;
    for (size_t i = 0; i < st->ladders[0]->n_tiers; i++) {
        if (strcmp(st->ladders[0]->tiers[i]->tier, "Selling") == 0)
            selling = st->ladders[0]->tiers[i]->count;
        if (strcmp(st->ladders[0]->tiers[i]->tier, "unranked") == 0)
            unranked = st->ladders[0]->tiers[i]->count;
    }
    ck_assert_uint_eq(selling, 1);
    ck_assert_uint_eq(unranked, 1);
    tierd__stats_response__free_unpacked(st, NULL);
}
END_TEST

START_TEST(test_oversize_batch_is_refused_whole)
{
    size_t n = 10001;
    Tierd__Event *evs = calloc(n, sizeof *evs);
    Tierd__Event **ptrs = calloc(n, sizeof *ptrs);
    for (size_t i = 0; i < n; i++) {
        evs[i] = event("crm", "x", "p-1", "deal_closed", 1, "2026-05-01", NULL);
        ptrs[i] = &evs[i];
    }
    Tierd__IngestRequest req = TIERD__INGEST_REQUEST__INIT;
    req.events = ptrs;
    req.n_events = n;
    Tierd__IngestResponse *r = NULL;
    td_error err;
    ck_assert_int_eq(td_client_ingest(cli, &req, &r, &err), -TD_INVALID_ARGUMENT);
    ck_assert_msg(strstr(err.message, "batch of 10001 events exceeds 10000"), "%s", err.message);
    free(evs);
    free(ptrs);
}
END_TEST

/* GetTiers and GetBenefits share Ingest's batch check: more than 10000 ids
 * are refused whole, naming the count; 10000 are answered. */
START_TEST(test_tier_and_benefit_reads_refuse_more_than_10000_ids_whole)
{
    size_t n = 10001;
    const char **ids = calloc(n, sizeof *ids);
    for (size_t i = 0; i < n; i++)
        ids[i] = "p-1";
    Tierd__GetTiersResponse *gt = NULL;
    Tierd__GetBenefitsResponse *gb = NULL;
    td_error err;
    ck_assert_int_eq(td_client_get_tiers(cli, ids, n, &gt, &err), -TD_INVALID_ARGUMENT);
    ck_assert_msg(strstr(err.message, "batch of 10001 partners exceeds 10000"), "%s", err.message);
    ck_assert_int_eq(td_client_get_benefits(cli, ids, n, &gb, &err), -TD_INVALID_ARGUMENT);
    ck_assert_msg(strstr(err.message, "batch of 10001 partners exceeds 10000"), "%s", err.message);
    ck_assert_msg(td_client_get_tiers(cli, ids, n - 1, &gt, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(gt->n_partners, n - 1);
    tierd__get_tiers_response__free_unpacked(gt, NULL);
    ck_assert_msg(td_client_get_benefits(cli, ids, n - 1, &gb, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(gb->n_partners, n - 1);
    tierd__get_benefits_response__free_unpacked(gb, NULL);
    free(ids);
}
END_TEST

START_TEST(test_get_benefits_refuses_before_a_program_is_loaded)
{
    const char *ids[] = {"p-1"};
    Tierd__GetBenefitsResponse *gb = NULL;
    td_error err;
    ck_assert_int_eq(td_client_get_benefits(cli, ids, 1, &gb, &err), -TD_FAILED_PRECONDITION);
    ck_assert_ptr_nonnull(strstr(err.message, "tierctl program load"));
}
END_TEST

START_TEST(test_hostile_strings_and_numbers_are_refused_with_reasons)
{
    td_error err;
    char long_id[300];
    memset(long_id, 'x', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    const char bad_utf8[] = "p-\xff\xfe";
    const char overlong[] = "p-\xc0\xaf"; /* '/' in two bytes */

    /* partners: each bad id refused on its own, the good one taken */
    Tierd__Partner ps[4];
    Tierd__Partner *pp[4];
    const char *ids[] = {long_id, bad_utf8, overlong, "p-ok"};
    char *types[] = {"reseller"};
    for (int i = 0; i < 4; i++) {
        tierd__partner__init(&ps[i]);
        ps[i].id = (char *)ids[i];
        ps[i].types = types;
        ps[i].n_types = 1;
        pp[i] = &ps[i];
    }
    Tierd__UpsertPartnersRequest ureq = TIERD__UPSERT_PARTNERS_REQUEST__INIT;
    ureq.partners = pp;
    ureq.n_partners = 4;
    Tierd__UpsertPartnersResponse *ur = NULL;
    ck_assert_msg(td_client_upsert_partners(cli, &ureq, &ur, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(ur->accepted, 1);
    ck_assert_uint_eq(ur->rejected, 3);
    ck_assert_int_eq(ur->results[3]->outcome, TIERD__OUTCOME__ACCEPTED);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(ur->results[i]->outcome, TIERD__OUTCOME__REJECTED);
        ck_assert_str_ne(ur->results[i]->reason, "");
    }
    /* a reason never echoes bytes that are not text */
    ck_assert_ptr_null(strstr(ur->results[1]->reason, "\xff"));
    tierd__upsert_partners_response__free_unpacked(ur, NULL);

    /* events: huge values, bad text, absurd times */
    Tierd__Event evs[] = {
        event("crm", "h-1", "p-ok", "deal_closed", 1e300, "2026-05-01", NULL),
        event("crm", "h-2", "p-ok", "deal_closed", -1e16, "2026-05-01", NULL),
        event("crm\xff", "h-3", "p-ok", "deal_closed", 1, "2026-05-01", NULL),
        event("crm", long_id, "p-ok", "deal_closed", 1, "2026-05-01", NULL),
        event("crm", "h-5", "p-ok", "deal_closed", 1, "99999-01-01T00:00:00Z", NULL),
        event("crm", "h-6", "p-ok", "deal_closed", 1, "1969-12-31T23:59:59Z", NULL),
        event("crm", "h-7", "p-ok", "deal_closed", 1, "2026-05-01T25:00:00Z", NULL),
        event("crm", "h-8", "p-ok", "certification", 1, "2026-05-01", long_id),
        event("crm", "h-9", "p-ok", "deal_closed", 1, "2026-05-01", NULL),
    };
    Tierd__IngestResponse *ir = ingest(evs, 9);
    ck_assert_uint_eq(ir->accepted, 1);
    ck_assert_uint_eq(ir->rejected, 8);
    ck_assert_int_eq(ir->results[8]->outcome, TIERD__OUTCOME__ACCEPTED);
    for (int i = 0; i < 8; i++) {
        ck_assert_msg(ir->results[i]->outcome == TIERD__OUTCOME__REJECTED, "event %d taken", i);
        ck_assert_msg(strncmp(ir->results[i]->reason, "event ", 6) == 0, "%s",
                      ir->results[i]->reason);
    }
    tierd__ingest_response__free_unpacked(ir, NULL);

    /* reads with hostile keys answer, never crash */
    Tierd__PartnerInfo *pi = NULL;
    ck_assert_int_eq(td_client_get_partner(cli, bad_utf8, &pi, &err), -TD_NOT_FOUND);
    ck_assert_msg(strstr(err.message, "not valid UTF-8") != NULL, "%s", err.message);
    ck_assert_int_eq(td_client_get_partner(cli, long_id, &pi, &err), -TD_NOT_FOUND);
    Tierd__HistoryRequest hreq = TIERD__HISTORY_REQUEST__INIT;
    hreq.partner = (char *)bad_utf8;
    Tierd__ChangesResponse *h = NULL;
    ck_assert_int_eq(td_client_history(cli, &hreq, &h, &err), -TD_INVALID_ARGUMENT);
    Tierd__ListPartnersRequest lreq = TIERD__LIST_PARTNERS_REQUEST__INIT;
    lreq.after = long_id;
    Tierd__ListPartnersResponse *lr = NULL;
    ck_assert_int_eq(td_client_list_partners(cli, &lreq, &lr, &err), -TD_INVALID_ARGUMENT);
    lreq.after = "";
    lreq.limit = 4000000000u;
    ck_assert_msg(td_client_list_partners(cli, &lreq, &lr, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(lr->n_partners, 1);
    tierd__list_partners_response__free_unpacked(lr, NULL);

    /* a program over the size limit is refused before parsing */
    size_t big = (1u << 20) + 1;
    char *text = malloc(big + 1);
    memset(text, '#', big);
    text[big] = '\0';
    Tierd__PutProgramResponse *pr = put_program(text, "big.yaml", true, &err);
    free(text);
    ck_assert_ptr_null(pr);
    ck_assert_int_eq(err.code, TD_INVALID_ARGUMENT);
    ck_assert_msg(strstr(err.message, "exceeds") != NULL, "%s", err.message);
}
END_TEST

/* The next publication: its topic into topic[], its change decoded. */
static Tierd__TierChange *next_publication(int sub, char *topic, size_t n)
{
    char *msg = NULL;
    int len = nn_recv(sub, &msg, NN_MSG, 0);
    ck_assert_msg(len >= 0, "no publication within %d ms: %s", SUB_WAIT_MS,
                  nn_strerror(nn_errno()));
    char *nl = memchr(msg, '\n', (size_t)len);
    ck_assert_ptr_nonnull(nl);
    snprintf(topic, n, "%.*s", (int)(nl - msg), msg);
    size_t off = (size_t)(nl - msg) + 1;
    Tierd__TierChange *c =
        tierd__tier_change__unpack(NULL, (size_t)len - off, (const uint8_t *)msg + off);
    nn_freemsg(msg);
    ck_assert_ptr_nonnull(c);
    return c;
}

START_TEST(test_changes_are_published_after_commit_with_topic_and_sequence)
{
    int sub = nn_socket(AF_SP, NN_SUB);
    ck_assert_int_ge(sub, 0);
    ck_assert_int_eq(nn_setsockopt(sub, NN_SUB, NN_SUB_SUBSCRIBE, "change/reseller/", 16), 0);
    int timeout = SUB_WAIT_MS;
    ck_assert_int_eq(nn_setsockopt(sub, NN_SOL_SOCKET, NN_RCVTIMEO, &timeout, sizeof timeout), 0);
    ck_assert_int_ge(nn_connect(sub, h.pub_url), 0);
    ck_assert_msg(harness_wait_connected(sub, HARNESS_WAIT_MS), "the subscriber did not connect");
    promote_p1();
    char topic[128];
    Tierd__TierChange *c = next_publication(sub, topic, sizeof topic);
    ck_assert_str_eq(topic, "change/reseller/p-1");
    ck_assert_uint_eq(c->sequence, 1);
    ck_assert_str_eq(c->to_tier, "Registered");
    tierd__tier_change__free_unpacked(c, NULL);
    c = next_publication(sub, topic, sizeof topic);
    ck_assert_uint_eq(c->sequence, 2);
    ck_assert_str_eq(c->to_tier, "Selling");
    ck_assert_str_eq(c->event_id, "crm/o-1");
    tierd__tier_change__free_unpacked(c, NULL);
    nn_close(sub);
}
END_TEST

static Suite *data_suite(void)
{
    Suite *s = suite_create("data");
    TCase *bare = tcase_create("no program");
    tcase_add_checked_fixture(bare, setup, daemon_stop);
    tcase_set_timeout(bare, 60);
    tcase_add_test(bare, test_methods_needing_a_program_refuse_before_one_is_loaded);
    tcase_add_test(bare, test_example_partners_program_loads);
    tcase_add_test(bare, test_get_benefits_refuses_before_a_program_is_loaded);
    suite_add_tcase(s, bare);
    TCase *tc = tcase_create("loaded");
    tcase_add_checked_fixture(tc, setup_loaded, daemon_stop);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc,
                   test_broken_program_is_refused_with_every_diagnostic_and_running_version_stays);
    tcase_add_test(tc, test_dry_run_reports_impact_and_applies_nothing);
    tcase_add_test(tc, test_same_version_label_is_idempotent_or_refused_when_text_differs);
    tcase_add_test(tc, test_events_promote_a_partner_and_changes_carry_cause_event_and_criteria);
    tcase_add_test(tc, test_explain_shows_the_gaps_to_the_next_tier);
    tcase_add_test(tc, test_duplicate_events_answer_duplicate_even_within_one_batch);
    tcase_add_test(tc, test_bad_events_are_rejected_with_reasons_and_the_rest_is_accepted);
    tcase_add_test(tc, test_list_partners_pages_in_id_order_and_filters_by_ladder_and_tier);
    tcase_add_test(tc, test_delete_partner_removes_it_and_a_second_delete_is_not_found);
    tcase_add_test(tc, test_stats_count_partners_per_tier_and_events);
    tcase_add_test(tc, test_oversize_batch_is_refused_whole);
    tcase_add_test(tc, test_tier_and_benefit_reads_refuse_more_than_10000_ids_whole);
    tcase_add_test(tc, test_hostile_strings_and_numbers_are_refused_with_reasons);
    tcase_add_test(tc, test_changes_are_published_after_commit_with_topic_and_sequence);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(data_suite());
}
