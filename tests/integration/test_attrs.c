/* Partner attributes end to end: the real tierd and tierctl. Put merges
 * attributes (--replace-attrs replaces them), import takes an "attrs"
 * object per line and refuses bad ones line by line while the rest of the
 * batch goes in, list --where filters, stats --by breaks counts down,
 * attributes survive a restart, and a ladder's partner_filter takes a
 * partner off when its region changes, with the change in its history. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define FAKE_NOW "2026-06-01T00:00:00Z"

static const char *program_yaml = "program: attrs-test\n"
                                  "version: \"a1\"\n"
                                  "metrics:\n"
                                  "  deals: { agg: count, event: deal_closed }\n"
                                  "ladders:\n"
                                  "  emea:\n"
                                  "    partner_types: [reseller]\n"
                                  "    partner_filter: { region: [EMEA] }\n"
                                  "    tiers:\n"
                                  "      - { name: Bronze, when: deals >= 1 }\n"
                                  "  world:\n"
                                  "    partner_types: [reseller]\n"
                                  "    tiers:\n"
                                  "      - { name: Listed, when: deals >= 1 }\n";

static void has(const char *text, const char *want)
{
    ck_assert_msg(strstr(text, want), "wanted '%s' in:\n%s", want, text);
}

static void lacks(const char *text, const char *unwanted)
{
    ck_assert_msg(!strstr(text, unwanted), "did not want '%s' in:\n%s", unwanted, text);
}

static char *tierctl(const harness *h, int want, const char *const *argv)
{
    return harness_tierctl_expect(h, want, argv);
}
#define CTL(h, want, ...) tierctl((h), (want), (const char *const[]){__VA_ARGS__, NULL})

START_TEST(test_attrs_through_put_import_list_stats_and_restart)
{
    harness h;
    harness_init(&h);
    char prog[HARNESS_PATH_MAX], partners[HARNESS_PATH_MAX], events[HARNESS_PATH_MAX];
    harness_write_file(&h, "program.yaml", program_yaml, prog, sizeof prog);
    harness_write_file(
        &h, "partners.ndjson",
        "{\"partner\":\"p1\",\"types\":[\"reseller\"],\"attrs\":{\"region\":\"EMEA\","
        "\"segment\":\"smb\"}}\n"
        "{\"partner\":\"p2\",\"types\":[\"reseller\"],\"attrs\":{\"region\":\"NA\"}}\n"
        "{\"partner\":\"bad1\",\"types\":[\"reseller\"],\"attrs\":{\"re gion\":\"EMEA\"}}\n"
        "{\"partner\":\"bad2\",\"types\":[\"reseller\"],\"attrs\":{\"region\":\"\\u0007\"}}\n"
        "{\"partner\":\"bad3\",\"types\":[\"reseller\"],\"attrs\":{\"region\":7}}\n"
        "{\"partner\":\"bad4\",\"types\":[\"reseller\"],\"attrs\":[\"region\"]}\n"
        "{\"partner\":\"p3\",\"types\":[\"reseller\"],\"attrs\":{\"region\":\"EMEA\","
        "\"segment\":\"ent\"}}\n"
        "{\"partner\":\"p4\",\"types\":[\"reseller\"]}\n",
        partners, sizeof partners);
    harness_write_file(&h, "events.ndjson",
                       "{\"id\":\"e1\",\"partner\":\"p1\",\"metric\":\"deal_closed\","
                       "\"at\":\"2026-05-01T00:00:00Z\"}\n"
                       "{\"id\":\"e2\",\"partner\":\"p2\",\"metric\":\"deal_closed\","
                       "\"at\":\"2026-05-01T00:00:00Z\"}\n"
                       "{\"id\":\"e3\",\"partner\":\"p3\",\"metric\":\"deal_closed\","
                       "\"at\":\"2026-05-01T00:00:00Z\"}\n",
                       events, sizeof events);
    HARNESS_START_OK(&h, "--fake-clock", FAKE_NOW, NULL);
    HARNESS_TIERCTL_OK(&h, "program", "load", prog);

    /* Bad lines are refused one by one; the rest of the batch goes in. */
    char *out = NULL, *err = NULL;
    int rc = HARNESS_TIERCTL(&h, &out, &err, "partner", "import", partners);
    ck_assert_int_eq(rc, 1);
    has(out, "4 partners accepted, 4 rejected");
    has(err, "line 3");
    has(err, "key must be 1..64 bytes");
    has(err, "line 4");
    has(err, "control character");
    has(err, "line 5");
    has(err, "\"attrs\".region must be a string");
    has(err, "line 6");
    has(err, "\"attrs\" must be an object");
    free(out);
    free(err);
    HARNESS_TIERCTL_OK(&h, "event", "import", events);

    out = CTL(&h, 0, "partner", "show", "p1");
    has(out, "region=EMEA");
    has(out, "segment=smb");
    free(out);

    /* put merges: segment stays, manager is added. */
    free(CTL(&h, 0, "partner", "put", "p1", "--type", "reseller", "--attr", "manager=Zoë", "--attr",
             "segment="));
    out = CTL(&h, 0, "--json", "partner", "show", "p1");
    has(out, "\"manager\": \"Zoë\"");
    has(out, "\"region\": \"EMEA\"");
    lacks(out, "\"segment\"");
    free(out);
    free(CTL(&h, 2, "partner", "put", "p1", "--type", "reseller", "--attr", "novalue"));
    out = CTL(&h, 1, "partner", "put", "p1", "--type", "reseller", "--attr", "bad key=x");
    free(out);

    /* list --where: all must hold. */
    out = CTL(&h, 0, "partner", "list", "--where", "region=EMEA");
    has(out, "p1");
    has(out, "p3");
    lacks(out, "p2");
    free(out);
    out = CTL(&h, 0, "partner", "list", "--where", "region=EMEA", "--where", "segment=ent");
    has(out, "p3");
    lacks(out, "p1");
    free(out);
    free(CTL(&h, 1, "partner", "list", "--where", "region"));

    /* stats --by: "(none)" first, then by value. */
    td_client *cli = harness_client(&h, NULL);
    Tierd__StatsByRequest req = TIERD__STATS_BY_REQUEST__INIT;
    req.attr = "region";
    Tierd__StatsByResponse *by;
    td_error terr;
    ck_assert_int_eq(td_client_stats_by(cli, &req, &by, &terr), 0);
    ck_assert_uint_eq(by->n_values, 3);
    ck_assert(by->values[0]->none); /* p4 */
    ck_assert_uint_eq(by->values[0]->partners, 1);
    ck_assert_str_eq(by->values[1]->value, "EMEA");
    ck_assert_uint_eq(by->values[1]->partners, 2);
    ck_assert_str_eq(by->values[1]->ladders[0]->ladder, "emea");
    ck_assert_uint_eq(by->values[1]->ladders[0]->tiers[1]->count, 2); /* Bronze */
    ck_assert_str_eq(by->values[2]->value, "NA");
    ck_assert_uint_eq(by->values[2]->ladders[0]->tiers[0]->count, 0); /* p2 is off emea */
    ck_assert_uint_eq(by->values[2]->ladders[0]->tiers[1]->count, 0);
    ck_assert_uint_eq(by->values[2]->ladders[1]->tiers[1]->count, 1); /* Listed on world */
    tierd__stats_by_response__free_unpacked(by, NULL);
    req.attr = "bad key";
    ck_assert_int_ne(td_client_stats_by(cli, &req, &by, &terr), 0);
    ck_assert_int_eq(terr.code, TD_INVALID_ARGUMENT);
    td_client_close(cli);
    out = CTL(&h, 0, "stats", "--by", "region");
    has(out, "region=(none): 1 partners");
    free(out);

    /* Region changes: off the EMEA ladder, in its history. */
    free(CTL(&h, 0, "partner", "put", "p3", "--type", "reseller", "--attr", "region=APAC"));
    out = CTL(&h, 0, "partner", "show", "p3");
    lacks(out, "emea");
    has(out, "segment=ent");
    free(out);
    out = CTL(&h, 0, "--json", "history", "p3");
    has(out, "\"ladder\": \"emea\"");
    has(out, "\"from\": \"Bronze\"");
    free(out);

    /* A restart keeps every attribute. */
    ck_assert_int_eq(harness_stop(&h), 0);
    HARNESS_START_OK(&h, "--fake-clock", FAKE_NOW, NULL);
    out = CTL(&h, 0, "--json", "partner", "show", "p1");
    has(out, "\"manager\": \"Zoë\"");
    has(out, "\"region\": \"EMEA\"");
    lacks(out, "\"segment\"");
    free(out);
    out = CTL(&h, 0, "partner", "list", "--where", "region=APAC");
    has(out, "p3");
    lacks(out, "p1");
    free(out);
    /* --replace-attrs: the --attr given are the whole set. */
    free(CTL(&h, 0, "partner", "put", "p1", "--type", "reseller", "--replace-attrs", "--attr",
             "region=NA"));
    out = CTL(&h, 0, "--json", "partner", "show", "p1");
    has(out, "\"region\": \"NA\"");
    lacks(out, "\"manager\"");
    free(out);
    harness_finish(&h);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("attrs");
    TCase *tc = tcase_create("attrs");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_attrs_through_put_import_list_stats_and_restart);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
