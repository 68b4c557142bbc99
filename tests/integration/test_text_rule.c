/* One text rule (common/text.h) from the RPC down to the engine: a C1
 * control character (U+0080..U+009F, here U+0085 NEL and U+009B CSI, which
 * terminals act on) is refused wherever a C0 control would be. Before the
 * rule was shared the RPC handlers let C1 through while the engine refused
 * it, so a request could be half taken (a program loaded under such a file
 * name, a connector cursor moved) and refusals quoted the character back
 * to whoever prints them. Each test sends one such string through the real
 * tierd and checks the refusal names the field, quotes nothing raw, and
 * changed nothing. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tierd.pb-c.h"

#define NEL "\xc2\x85" /* U+0085, a C1 control: a line break to some terminals */
#define CSI "\xc2\x9b" /* U+009B, a C1 control: starts a terminal escape */

static const char *const PROGRAM = "program: text\n"
                                   "version: \"1\"\n"
                                   "metrics:\n"
                                   "  arr: { agg: sum, event: deal_closed, window: 365d }\n"
                                   "ladders:\n"
                                   "  reseller:\n"
                                   "    partner_types: [reseller]\n"
                                   "    tiers:\n"
                                   "      - { name: Bronze, when: arr >= 1 }\n";

static harness h;
static td_client *client;

static void setup(void)
{
    harness_init(&h);
    HARNESS_START_OK(&h, "--fake-clock", "2026-11-15", NULL);
    client = harness_client(&h, NULL);
}

static void teardown(void)
{
    td_client_close(client);
    harness_finish(&h);
}

static bool has_c1(const char *s)
{
    return strstr(s, NEL) || strstr(s, CSI);
}

static void load_program(void)
{
    Tierd__PutProgramRequest req = TIERD__PUT_PROGRAM_REQUEST__INIT;
    req.yaml = (char *)PROGRAM;
    req.filename = "text.yaml";
    Tierd__PutProgramResponse *resp = NULL;
    td_error err = {0};
    ck_assert_msg(td_client_put_program(client, &req, &resp, &err) == 0, "%s", err.message);
    tierd__put_program_response__free_unpacked(resp, NULL);
}

static void upsert_partner(const char *id, const char *name, Tierd__UpsertPartnersResponse **out)
{
    Tierd__Partner p = TIERD__PARTNER__INIT;
    p.id = (char *)id;
    p.name = (char *)name;
    char *types[] = {"reseller"};
    p.types = types;
    p.n_types = 1;
    Tierd__Partner *ps[] = {&p};
    Tierd__UpsertPartnersRequest req = TIERD__UPSERT_PARTNERS_REQUEST__INIT;
    req.partners = ps;
    req.n_partners = 1;
    td_error err = {0};
    ck_assert_msg(td_client_upsert_partners(client, &req, out, &err) == 0, "%s", err.message);
}

static Tierd__Event deal(const char *source, const char *id)
{
    Tierd__Event ev = TIERD__EVENT__INIT;
    ev.source = (char *)source;
    ev.id = (char *)id;
    ev.partner = "p-1";
    ev.metric = "deal_closed";
    ev.value = 5;
    ev.has_value = true;
    ev.at = "2026-11-01T00:00:00Z";
    return ev;
}

/* p-1's event count, as the daemon holds it. */
static uint64_t events_of_p1(void)
{
    Tierd__PartnerInfo *info = NULL;
    td_error err = {0};
    ck_assert_msg(td_client_get_partner(client, "p-1", &info, &err) == 0, "%s", err.message);
    uint64_t n = info->events;
    tierd__partner_info__free_unpacked(info, NULL);
    return n;
}

START_TEST(test_c1_control_in_program_filename_is_refused_naming_the_field)
{
    Tierd__PutProgramRequest req = TIERD__PUT_PROGRAM_REQUEST__INIT;
    req.yaml = (char *)PROGRAM;
    req.filename = "text" NEL ".yaml";
    Tierd__PutProgramResponse *resp = NULL;
    td_error err = {0};
    int rc = td_client_put_program(client, &req, &resp, &err);
    if (rc == 0)
        tierd__put_program_response__free_unpacked(resp, NULL);
    ck_assert_msg(rc != 0, "PutProgram took a file name with a C1 control");
    ck_assert_int_eq(err.code, TD_INVALID_ARGUMENT);
    ck_assert_msg(strstr(err.message, "filename"), "the refusal names the field: %s", err.message);
    ck_assert_msg(!has_c1(err.message), "the refusal quotes the control: %s", err.message);

    Tierd__GetProgramResponse *gp = NULL;
    rc = td_client_get_program(client, &gp, &err);
    if (rc == 0)
        tierd__get_program_response__free_unpacked(gp, NULL);
    ck_assert_msg(rc != 0, "the refused program is in force");
    ck_assert_int_eq(err.code, TD_FAILED_PRECONDITION);
}
END_TEST

START_TEST(test_c1_control_in_connector_cursor_refuses_the_whole_batch)
{
    load_program();
    Tierd__UpsertPartnersResponse *up = NULL;
    upsert_partner("p-1", NULL, &up);
    ck_assert_uint_eq(up->accepted, 1);
    tierd__upsert_partners_response__free_unpacked(up, NULL);

    Tierd__Event ev = deal("crm", "e-1");
    Tierd__Event *evs[] = {&ev};
    Tierd__IngestRequest req = TIERD__INGEST_REQUEST__INIT;
    req.events = evs;
    req.n_events = 1;
    req.connector = "crm";
    req.cursor = "row" CSI "42";
    Tierd__IngestResponse *resp = NULL;
    td_error err = {0};
    int rc = td_client_ingest(client, &req, &resp, &err);
    if (rc == 0)
        tierd__ingest_response__free_unpacked(resp, NULL);
    ck_assert_msg(rc != 0, "Ingest took a cursor with a C1 control");
    ck_assert_int_eq(err.code, TD_INVALID_ARGUMENT);
    ck_assert_msg(strstr(err.message, "cursor"), "the refusal names the field: %s", err.message);
    ck_assert_msg(!has_c1(err.message), "the refusal quotes the control: %s", err.message);

    /* Nothing of the request was taken: no cursor, no event. */
    Tierd__CursorResponse *cur = NULL;
    ck_assert_msg(td_client_get_cursor(client, "crm", &cur, &err) == 0, "%s", err.message);
    ck_assert_str_eq(cur->cursor, "");
    tierd__cursor_response__free_unpacked(cur, NULL);
    ck_assert_uint_eq(events_of_p1(), 0);
}
END_TEST

START_TEST(test_c1_control_in_event_source_is_rejected_naming_the_field)
{
    load_program();
    Tierd__UpsertPartnersResponse *up = NULL;
    upsert_partner("p-1", NULL, &up);
    tierd__upsert_partners_response__free_unpacked(up, NULL);

    Tierd__Event bad = deal("crm" NEL, "e-1");
    Tierd__Event good = deal("crm", "e-2");
    Tierd__Event *evs[] = {&bad, &good};
    Tierd__IngestRequest req = TIERD__INGEST_REQUEST__INIT;
    req.events = evs;
    req.n_events = 2;
    Tierd__IngestResponse *resp = NULL;
    td_error err = {0};
    ck_assert_msg(td_client_ingest(client, &req, &resp, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(resp->rejected, 1);
    ck_assert_uint_eq(resp->accepted, 1);
    const char *why = resp->results[0]->reason;
    ck_assert_msg(strstr(why, "source"), "the reason names the field: %s", why);
    ck_assert_msg(!has_c1(why), "the reason quotes the control: %s", why);
    tierd__ingest_response__free_unpacked(resp, NULL);
    ck_assert_uint_eq(events_of_p1(), 1);
}
END_TEST

START_TEST(test_c1_control_in_partner_name_is_rejected_naming_the_field)
{
    load_program();
    Tierd__UpsertPartnersResponse *up = NULL;
    upsert_partner("p-2", "Acme" NEL "Ltd", &up);
    ck_assert_uint_eq(up->rejected, 1);
    const char *why = up->results[0]->reason;
    ck_assert_msg(strstr(why, "name"), "the reason names the field: %s", why);
    ck_assert_msg(!has_c1(why), "the reason quotes the control: %s", why);
    tierd__upsert_partners_response__free_unpacked(up, NULL);

    Tierd__PartnerInfo *info = NULL;
    td_error err = {0};
    int rc = td_client_get_partner(client, "p-2", &info, &err);
    if (rc == 0)
        tierd__partner_info__free_unpacked(info, NULL);
    ck_assert_msg(rc != 0, "the refused partner was created");
    ck_assert_int_eq(err.code, TD_NOT_FOUND);
}
END_TEST

START_TEST(test_c1_control_in_a_looked_up_id_is_not_quoted_back)
{
    Tierd__PartnerInfo *info = NULL;
    td_error err = {0};
    int rc = td_client_get_partner(client, "p" CSI "31m", &info, &err);
    if (rc == 0)
        tierd__partner_info__free_unpacked(info, NULL);
    ck_assert_int_eq(err.code, TD_NOT_FOUND);
    ck_assert_msg(!has_c1(err.message), "the refusal quotes the control: %s", err.message);
}
END_TEST

static Suite *text_rule_suite(void)
{
    Suite *s = suite_create("text_rule");
    TCase *tc = tcase_create("c1");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_c1_control_in_program_filename_is_refused_naming_the_field);
    tcase_add_test(tc, test_c1_control_in_connector_cursor_refuses_the_whole_batch);
    tcase_add_test(tc, test_c1_control_in_event_source_is_rejected_naming_the_field);
    tcase_add_test(tc, test_c1_control_in_partner_name_is_rejected_naming_the_field);
    tcase_add_test(tc, test_c1_control_in_a_looked_up_id_is_not_quoted_back);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(text_rule_suite());
}
