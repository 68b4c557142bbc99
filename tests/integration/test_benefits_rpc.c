/* Benefits through the real daemon and tierctl: GetPartner and GetBenefits
 * return what each partner holds, every TierChange carries the benefits
 * gained and lost, stored as they were then (a later version and a restart
 * change nothing in history), ListBenefitHolders pages, and tierctl's
 * `benefits` and `partner list --benefit` print them. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define PROGRAM_HEAD                                                                               \
    "program: bp\n"                                                                                \
    "metrics:\n"                                                                                   \
    "  arr: { agg: sum, event: deal_closed }\n"                                                    \
    "ladders:\n"                                                                                   \
    "  reseller:\n"                                                                                \
    "    partner_types: [reseller]\n"                                                              \
    "    tiers:\n"                                                                                 \
    "      - { name: Registered, when: arr >= 1, benefits: [portal, margin_points=2] }\n"

static const char *const V1 =
    "version: \"1\"\n" PROGRAM_HEAD "      - { name: Specialist, when: arr >= 100, benefits: [mdf, "
    "margin_points=5] }\n";
/* Version 2 changes what Specialist grants. */
static const char *const V2 = "version: \"2\"\n" PROGRAM_HEAD
                              "      - { name: Specialist, when: arr >= 100, benefits: [mdf=big, "
                              "margin_points=7] }\n";

static void put(td_client *c, const char *yaml)
{
    Tierd__PutProgramRequest req = TIERD__PUT_PROGRAM_REQUEST__INIT;
    req.yaml = (char *)yaml;
    req.filename = "bp.yaml";
    Tierd__PutProgramResponse *r = NULL;
    td_error err = {0};
    ck_assert_msg(td_client_put_program(c, &req, &r, &err) == 0, "%s", err.message);
    tierd__put_program_response__free_unpacked(r, NULL);
}

static void partner_with_arr(harness *h, const char *id, const char *arr)
{
    HARNESS_TIERCTL_OK(h, "partner", "put", id, "--type", "reseller");
    if (arr)
        HARNESS_TIERCTL_OK(h, "event", "add", "--partner", id, "--metric", "deal_closed", "--value",
                           arr, "--id", id, "--source", "crm");
}

/* "name=value@tier" list of bs, for comparing in one assertion. */
static void benefits_text(Tierd__Benefit **bs, size_t n, char *buf, size_t cap)
{
    buf[0] = 0;
    for (size_t i = 0; i < n; i++) {
        size_t used = strlen(buf);
        snprintf(buf + used, cap - used, "%s%s%s%s@%s/%s%s", i ? " " : "", bs[i]->name,
                 *bs[i]->value ? "=" : "", bs[i]->value, bs[i]->ladder, bs[i]->tier,
                 bs[i]->has_number ? "#" : "");
    }
}

/* p-1's first change, from History: its gained benefits as text. */
static void first_change_gained(td_client *c, char *buf, size_t cap)
{
    Tierd__HistoryRequest req = TIERD__HISTORY_REQUEST__INIT;
    req.partner = "p-1";
    Tierd__ChangesResponse *r = NULL;
    td_error err = {0};
    ck_assert_int_eq(td_client_history(c, &req, &r, &err), 0);
    ck_assert_uint_ge(r->n_changes, 1);
    const Tierd__TierChange *first = r->changes[0];
    for (size_t i = 1; i < r->n_changes; i++)
        if (r->changes[i]->sequence < first->sequence)
            first = r->changes[i];
    ck_assert_str_eq(first->to_tier, "Specialist");
    benefits_text(first->benefits_gained, first->n_benefits_gained, buf, cap);
    ck_assert_uint_eq(first->n_benefits_lost, 0);
    tierd__changes_response__free_unpacked(r, NULL);
}

#define P1_GAINED                                                                                  \
    "portal@reseller/Registered mdf@reseller/Specialist "                                          \
    "margin_points=5@reseller/Specialist#"

START_TEST(test_benefits_are_served_and_history_keeps_what_was_gained_then)
{
    harness h;
    harness_init(&h);
    HARNESS_START_OK(&h, "--fake-clock", "2026-11-15T00:00:00Z", NULL);
    td_client *c = harness_client(&h, NULL);
    put(c, V1);
    partner_with_arr(&h, "p-1", "150");
    partner_with_arr(&h, "p-2", "5");
    partner_with_arr(&h, "p-3", NULL);
    partner_with_arr(&h, "p-4", "500");

    Tierd__PartnerInfo *pi = NULL;
    td_error err = {0};
    char text[1024];
    ck_assert_int_eq(td_client_get_partner(c, "p-1", &pi, &err), 0);
    benefits_text(pi->benefits, pi->n_benefits, text, sizeof text);
    ck_assert_str_eq(text, P1_GAINED);
    tierd__partner_info__free_unpacked(pi, NULL);
    first_change_gained(c, text, sizeof text);
    ck_assert_str_eq(text, P1_GAINED);

    /* One call for a batch, unknown ids flagged. */
    const char *ids[] = {"p-2", "nobody", "p-3"};
    Tierd__GetBenefitsResponse *gb = NULL;
    ck_assert_int_eq(td_client_get_benefits(c, ids, 3, &gb, &err), 0);
    ck_assert_uint_eq(gb->n_partners, 3);
    ck_assert(gb->partners[0]->found);
    benefits_text(gb->partners[0]->benefits, gb->partners[0]->n_benefits, text, sizeof text);
    ck_assert_str_eq(text, "portal@reseller/Registered margin_points=2@reseller/Registered#");
    ck_assert(!gb->partners[1]->found);
    ck_assert_str_eq(gb->partners[1]->partner, "nobody");
    ck_assert(gb->partners[2]->found);
    ck_assert_uint_eq(gb->partners[2]->n_benefits, 0);
    tierd__get_benefits_response__free_unpacked(gb, NULL);

    /* Holders page by partner id. */
    Tierd__ListBenefitHoldersRequest hr = TIERD__LIST_BENEFIT_HOLDERS_REQUEST__INIT;
    hr.benefit = "mdf";
    hr.limit = 1;
    Tierd__ListBenefitHoldersResponse *hl = NULL;
    ck_assert_int_eq(td_client_list_benefit_holders(c, &hr, &hl, &err), 0);
    ck_assert_uint_eq(hl->n_holders, 1);
    ck_assert_str_eq(hl->holders[0]->partner, "p-1");
    ck_assert_str_eq(hl->holders[0]->tier, "Specialist");
    ck_assert_str_eq(hl->next, "p-1");
    hr.after = "p-1";
    tierd__list_benefit_holders_response__free_unpacked(hl, NULL);
    ck_assert_int_eq(td_client_list_benefit_holders(c, &hr, &hl, &err), 0);
    ck_assert_uint_eq(hl->n_holders, 1);
    ck_assert_str_eq(hl->holders[0]->partner, "p-4");
    ck_assert_str_eq(hl->next, "");
    tierd__list_benefit_holders_response__free_unpacked(hl, NULL);
    hr.benefit = "jet";
    hr.after = "";
    ck_assert_int_eq(td_client_list_benefit_holders(c, &hr, &hl, &err), -TD_INVALID_ARGUMENT);
    ck_assert_str_eq(err.message, "no tier grants benefit 'jet'");

    /* tierctl */
    char *out = harness_tierctl_expect(&h, 0, (const char *const[]){"benefits", "p-1", NULL});
    ck_assert_str_eq(out, "reseller\tportal\t(Registered)\nreseller\tmdf\t(Specialist)\n"
                          "reseller\tmargin_points=5\t(Specialist)\n");
    free(out);
    out = harness_tierctl_expect(
        &h, 0, (const char *const[]){"benefits", "--holders", "margin_points", "--csv", NULL});
    ck_assert_str_eq(out, "partner,ladder,tier,value,granted_by\n"
                          "p-1,reseller,Specialist,5,Specialist\n"
                          "p-2,reseller,Registered,2,Registered\n"
                          "p-4,reseller,Specialist,5,Specialist\n");
    free(out);
    out = harness_tierctl_expect(
        &h, 0, (const char *const[]){"partner", "list", "--benefit", "mdf", NULL});
    ck_assert_str_eq(out, "partner  reseller\n"
                          "p-1      Specialist\n"
                          "p-4      Specialist\n");
    free(out);
    free(harness_tierctl_expect(&h, 1, (const char *const[]){"benefits", "nobody", NULL}));
    free(harness_tierctl_expect(&h, 2, (const char *const[]){"benefits", NULL}));

    /* A later version changes Specialist's benefits: p-1 holds the new
     * ones, its history still says what it gained then, also after a
     * restart. */
    put(c, V2);
    ck_assert_int_eq(td_client_get_partner(c, "p-1", &pi, &err), 0);
    benefits_text(pi->benefits, pi->n_benefits, text, sizeof text);
    ck_assert_str_eq(text, "portal@reseller/Registered mdf=big@reseller/Specialist "
                           "margin_points=7@reseller/Specialist#");
    tierd__partner_info__free_unpacked(pi, NULL);
    first_change_gained(c, text, sizeof text);
    ck_assert_str_eq(text, P1_GAINED);
    td_client_close(c);
    ck_assert_int_eq(harness_stop(&h), 0);
    HARNESS_START_OK(&h, "--fake-clock", "2026-11-16T00:00:00Z", NULL);
    c = harness_client(&h, NULL);
    first_change_gained(c, text, sizeof text);
    ck_assert_str_eq(text, P1_GAINED);
    td_client_close(c);
    harness_finish(&h);
}
END_TEST

static Suite *benefits_rpc_suite(void)
{
    Suite *s = suite_create("benefits_rpc");
    TCase *tc = tcase_create("benefits_rpc");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_benefits_are_served_and_history_keeps_what_was_gained_then);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(benefits_rpc_suite());
}
