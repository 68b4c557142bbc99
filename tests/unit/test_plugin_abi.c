/* The connector plugin ABI: what the loader accepts and refuses, and the
 * checks every host applies to what a plugin emits. plugin.h is included
 * first so this file also proves the header compiles on its own. */
#include "tierd/plugin.h"

#include <check.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hostcheck.h"
#include "loader.h"
#include "plugin_abi1_0.h"
#include "testhost.h"
#include "testutil.h"

#define PATH_MAX_TEST 4096

static char tmp[PATH_MAX_TEST];
static char plugdir[PATH_MAX_TEST];

static void setup(void)
{
    ck_assert_ptr_nonnull(testhost_tmpdir("td-abi", tmp, sizeof tmp));
    const char *sos[] = {TD_SPOOL_SO, TD_WRONG_ABI_SO, TD_CRASH_SO, TD_ABI1_SO, TD_ABI3_SO};
    ck_assert_int_eq(testhost_plugin_dir(tmp, sos, 5, plugdir, sizeof plugdir), 0);
}

static void teardown(void)
{
    ck_assert_int_eq(tu_rm_rf(tmp), 0);
}

START_TEST(test_plugin_built_for_current_abi_loads)
{
    loader_plugin lp;
    td_error err;
    ck_assert_msg(loader_open(plugdir, "spool", &lp, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(lp.desc->abi_version, TIERD_PLUGIN_ABI_VERSION);
    ck_assert_str_eq(lp.desc->name, "spool");
    loader_close(&lp);
}
END_TEST

START_TEST(test_plugin_for_another_abi_is_refused_naming_both_versions)
{
    loader_plugin lp;
    td_error err;
    ck_assert_int_ne(loader_open(plugdir, "wrong_abi.so", &lp, &err), 0);
    ck_assert_int_eq(err.code, TD_FAILED_PRECONDITION);
    char want_plugin[64], want_host[64];
    snprintf(want_plugin, sizeof want_plugin, "ABI version %u", TIERD_PLUGIN_ABI_VERSION + 41);
    snprintf(want_host, sizeof want_host, "speaks ABI version %u", TIERD_PLUGIN_ABI_VERSION);
    ck_assert_msg(strstr(err.message, want_plugin), "%s", err.message);
    ck_assert_msg(strstr(err.message, want_host), "%s", err.message);
    ck_assert_ptr_null(lp.handle);
}
END_TEST

START_TEST(test_plugin_named_by_path_is_refused)
{
    loader_plugin lp;
    td_error err;
    ck_assert_int_ne(loader_open(plugdir, "../plugins/spool", &lp, &err), 0);
    ck_assert_msg(strstr(err.message, "not a path"), "%s", err.message);
    ck_assert_int_ne(loader_open(plugdir, TD_SPOOL_SO, &lp, &err), 0);
}
END_TEST

START_TEST(test_plugin_dir_writable_by_others_is_refused)
{
    chmod(plugdir, 0757);
    loader_plugin lp;
    td_error err;
    ck_assert_int_ne(loader_open(plugdir, "spool", &lp, &err), 0);
    ck_assert_int_eq(err.code, TD_PERMISSION_DENIED);
    ck_assert_msg(strstr(err.message, "writable by group or others"), "%s", err.message);
}
END_TEST

START_TEST(test_plugin_file_writable_by_group_is_refused)
{
    char so[PATH_MAX_TEST + 16];
    snprintf(so, sizeof so, "%s/spool.so", plugdir);
    chmod(so, 0775);
    loader_plugin lp;
    td_error err;
    ck_assert_int_ne(loader_open(plugdir, "spool", &lp, &err), 0);
    ck_assert_int_eq(err.code, TD_PERMISSION_DENIED);
    ck_assert_msg(strstr(err.message, "spool.so"), "%s", err.message);
}
END_TEST

START_TEST(test_missing_plugin_is_not_found)
{
    loader_plugin lp;
    td_error err;
    ck_assert_int_ne(loader_open(plugdir, "nosuch", &lp, &err), 0);
    ck_assert_int_eq(err.code, TD_NOT_FOUND);
}
END_TEST

/* A symlink inside plugin_dir may point anywhere (a world-writable /tmp
 * file, another user's library): it must be refused, not followed. */
START_TEST(test_symlinked_plugin_refused)
{
    char outside[PATH_MAX_TEST + 32], link[PATH_MAX_TEST + 32], so[PATH_MAX_TEST + 32];
    snprintf(so, sizeof so, "%s/spool.so", plugdir);
    snprintf(outside, sizeof outside, "%s/elsewhere.so", tmp);
    snprintf(link, sizeof link, "%s/linked.so", plugdir);
    ck_assert_int_eq(rename(so, outside), 0);
    ck_assert_int_eq(symlink(outside, link), 0);
    loader_plugin lp;
    td_error err;
    ck_assert_int_ne(loader_open(plugdir, "linked", &lp, &err), 0);
    ck_assert_int_eq(err.code, TD_PERMISSION_DENIED);
    ck_assert_ptr_null(lp.handle);
    ck_assert_msg(strstr(err.message, link), "%s", err.message);
    ck_assert_msg(strstr(err.message, "symbolic link"), "%s", err.message);
    /* A link to a file inside the directory is refused the same way. */
    ck_assert_int_eq(rename(outside, so), 0);
    ck_assert_int_eq(unlink(link), 0);
    ck_assert_int_eq(symlink("spool.so", link), 0);
    ck_assert_int_ne(loader_open(plugdir, "linked.so", &lp, &err), 0);
    ck_assert_msg(strstr(err.message, "symbolic link"), "%s", err.message);
    ck_assert_msg(loader_open(plugdir, "spool", &lp, &err) == 0, "%s", err.message);
    loader_close(&lp);
}
END_TEST

/* What is mapped is the file that was checked: the loader keeps the
 * descriptor it inspected and loads through it, so renaming another file
 * over the name afterwards changes nothing. */
START_TEST(test_plugin_is_loaded_from_the_checked_descriptor)
{
    loader_plugin lp;
    td_error err;
    ck_assert_msg(loader_open(plugdir, "spool", &lp, &err) == 0, "%s", err.message);
    ck_assert_msg(strncmp(lp.loaded_from, "/proc/self/fd/", strlen("/proc/self/fd/")) == 0,
                  "loaded from %s", lp.loaded_from);
    ck_assert_str_eq(lp.desc->name, "spool");
    loader_close(&lp);
}
END_TEST

START_TEST(test_plugin_that_is_not_a_regular_file_is_refused)
{
    char sub[PATH_MAX_TEST + 32];
    snprintf(sub, sizeof sub, "%s/dir.so", plugdir);
    ck_assert_int_eq(mkdir(sub, 0755), 0);
    loader_plugin lp;
    td_error err;
    ck_assert_int_ne(loader_open(plugdir, "dir", &lp, &err), 0);
    ck_assert_msg(strstr(err.message, sub), "%s", err.message);
    ck_assert_msg(strstr(err.message, "not a regular file"), "%s", err.message);
}
END_TEST

static tierd_event good_event(void)
{
    tierd_event e = {.id = "opp-1",
                     .partner = "p-1",
                     .metric = "deal_closed",
                     .at = "2026-05-01T00:00:00Z",
                     .value = 12000,
                     .has_value = true};
    return e;
}

START_TEST(test_well_formed_event_passes_host_checks)
{
    tierd_event e = good_event();
    td_error err;
    ck_assert_int_eq(hostcheck_event(&e, &err), 0);
}
END_TEST

START_TEST(test_event_with_non_finite_value_is_refused)
{
    tierd_event e = good_event();
    td_error err;
    e.value = NAN;
    ck_assert_int_ne(hostcheck_event(&e, &err), 0);
    ck_assert_msg(strstr(err.message, "finite"), "%s", err.message);
    e.value = INFINITY;
    ck_assert_int_ne(hostcheck_event(&e, &err), 0);
}
END_TEST

START_TEST(test_event_with_bad_utf8_is_refused)
{
    tierd_event e = good_event();
    td_error err;
    e.partner = "p-\xc3\x28";
    ck_assert_int_ne(hostcheck_event(&e, &err), 0);
    ck_assert_msg(strstr(err.message, "event partner is not valid UTF-8"), "%s", err.message);
    e.partner = "p-\xe0\x80\xaf"; /* overlong '/' */
    ck_assert_int_ne(hostcheck_event(&e, &err), 0);
    e.partner = "p-\xed\xa0\x80"; /* surrogate */
    ck_assert_int_ne(hostcheck_event(&e, &err), 0);
    e.partner = "p-\xc3\xa9"; /* é is fine */
    ck_assert_int_eq(hostcheck_event(&e, &err), 0);
}
END_TEST

START_TEST(test_event_with_overlong_id_is_refused)
{
    char id[TIERD_PLUGIN_ID_MAX + 2];
    memset(id, 'x', sizeof id - 1);
    id[sizeof id - 1] = '\0';
    tierd_event e = good_event();
    e.id = id;
    td_error err;
    ck_assert_int_ne(hostcheck_event(&e, &err), 0);
    ck_assert_msg(strstr(err.message, "longer than"), "%s", err.message);
}
END_TEST

START_TEST(test_event_without_id_is_refused)
{
    tierd_event e = good_event();
    e.id = NULL;
    td_error err;
    ck_assert_int_ne(hostcheck_event(&e, &err), 0);
    ck_assert_msg(strstr(err.message, "event id is missing"), "%s", err.message);
}
END_TEST

START_TEST(test_cursor_with_newline_is_refused)
{
    td_error err;
    ck_assert_int_ne(hostcheck_cursor("12\n13", &err), 0);
    ck_assert_int_eq(hostcheck_cursor("2026-05-01 00:00:00+00", &err), 0);
    ck_assert_int_eq(hostcheck_cursor(NULL, &err), 0);
}
END_TEST

START_TEST(test_partner_with_control_character_in_type_is_refused)
{
    const char *types[] = {"reseller", "ser\x01vices"};
    tierd_partner p = {.id = "p-1", .types = types, .n_types = 2};
    td_error err;
    ck_assert_int_ne(hostcheck_partner(&p, &err), 0);
    ck_assert_msg(strstr(err.message, "partner p-1"), "%s", err.message);
}
END_TEST

/* The host holds plugin text to the daemon's and the engine's rule, so it
 * refuses a C1 control (U+0085 here) naming the field, as it does a C0 one,
 * instead of sending what the daemon refuses a round trip later. */
START_TEST(test_event_with_c1_control_is_refused_like_the_engine)
{
    tierd_event e = good_event();
    td_error err;
    e.key = "k-\xc2\x85";
    ck_assert_int_ne(hostcheck_event(&e, &err), 0);
    ck_assert_msg(strstr(err.message, "event key contains a control character at byte 2"), "%s",
                  err.message);
    ck_assert_int_ne(hostcheck_cursor("c\xc2\x9bz", &err), 0);
}
END_TEST

START_TEST(test_config_lookup_walks_dotted_paths)
{
    json_t *cfg;
    td_error err;
    ck_assert_int_eq(hostcheck_config_parse(
                         "{\"csv\":{\"columns\":{\"id\":\"opp\"}},\"dir\":\"/x\"}", &cfg, &err),
                     0);
    ck_assert_str_eq(hostcheck_config_get(cfg, "csv.columns.id"), "opp");
    ck_assert_str_eq(hostcheck_config_get(cfg, "dir"), "/x");
    ck_assert_ptr_null(hostcheck_config_get(cfg, "csv.columns"));
    ck_assert_ptr_null(hostcheck_config_get(cfg, "dir.x"));
    ck_assert_ptr_null(hostcheck_config_get(cfg, "nope"));
    json_decref(cfg);
}
END_TEST

START_TEST(test_config_block_that_is_not_a_mapping_is_refused)
{
    json_t *cfg;
    td_error err;
    ck_assert_int_ne(hostcheck_config_parse("[1,2]", &cfg, &err), 0);
    ck_assert_int_ne(hostcheck_config_parse("{\"a\":", &cfg, &err), 0);
    ck_assert_msg(strstr(err.message, "line 1"), "%s", err.message);
}
END_TEST

START_TEST(test_plugin_that_fails_init_reports_why)
{
    /* The spool plugin without `dir` must say what is missing. */
    testhost *t = testhost_new("files", "{}", NULL);
    td_error err;
    ck_assert_int_ne(testhost_start(t, plugdir, "spool", &err), 0);
    ck_assert_msg(strstr(err.message, "`dir`"), "%s", err.message);
    testhost_free(t);
}
END_TEST

/* ---- ABI 1 grows by appending: plugins built before corrections ------------ */

START_TEST(test_plugin_built_before_corrections_still_loads_and_runs)
{
    loader_plugin lp;
    td_error err;
    ck_assert_msg(loader_open(plugdir, "abi1_plugin", &lp, &err) == 0, "%s", err.message);
    ck_assert_str_eq(lp.desc->name, "abi1");
    loader_close(&lp);
    testhost *t = testhost_new("old", NULL, NULL);
    ck_assert_msg(testhost_start(t, plugdir, "abi1_plugin", &err) == 0, "%s", err.message);
    ck_assert(testhost_wait_events(t, 1, 5000));
    json_t *e = testhost_events(t);
    ck_assert_str_eq(testhost_str(e, 0, "id"), "old-1");
    ck_assert_str_eq(testhost_str(e, 0, "op"), "");
    ck_assert(testhost_num(e, 0, "value") == 42);
    json_decref(e);
    ck_assert_uint_eq(testhost_commits(t), 1);
    ck_assert_int_eq(testhost_stop(t, &err), 0);
    testhost_free(t);
}
END_TEST

/* What an old plugin reads through its own layout is where the current
 * header puts it; the appended member lies past the old table's end. */
START_TEST(test_first_abi1_layout_is_a_prefix_of_the_current_one)
{
#define SAME(field)                                                                                \
    ck_assert_uint_eq(offsetof(abi1_0_host_api, field), offsetof(tierd_host_api, field))
    SAME(abi_version);
    SAME(size);
    SAME(log);
    SAME(name);
    SAME(config_json);
    SAME(config_get);
    SAME(cursor);
    SAME(emit_partner);
    SAME(emit_event);
    SAME(commit);
    SAME(heartbeat);
    SAME(stopping);
#undef SAME
    ck_assert_uint_le(sizeof(abi1_0_host_api), offsetof(tierd_host_api, emit_event_op));
    ck_assert_uint_eq(sizeof(abi1_0_event), sizeof(tierd_event));
    ck_assert_uint_eq(offsetof(abi1_0_event, origin), offsetof(tierd_event, origin));
    ck_assert_uint_eq(sizeof(abi1_0_partner), sizeof(tierd_partner));
    /* ABI 2 appended `sink` to the descriptor: an ABI 1 one ends before it. */
    ck_assert_uint_eq(offsetof(abi1_0_connector, fini), offsetof(tierd_connector, fini));
    ck_assert_uint_le(sizeof(abi1_0_connector), offsetof(tierd_connector, sink));
}
END_TEST

/* ---- ABI 2: the sink direction ------------------------------------------------ */

START_TEST(test_abi1_plugin_loads_as_a_source_without_a_sink)
{
    loader_plugin lp;
    td_error err;
    ck_assert_msg(loader_open(plugdir, "abi1_plugin", &lp, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(lp.abi, 1);
    ck_assert(lp.is_source);
    ck_assert_ptr_null(lp.sink);
    loader_close(&lp);
    ck_assert_uint_eq(TIERD_PLUGIN_ABI_VERSION, 2);
    ck_assert_uint_eq(TIERD_PLUGIN_ABI_VERSION_MIN, 1);
}
END_TEST

START_TEST(test_abi3_plugin_is_refused_naming_3_and_the_hosts_2)
{
    loader_plugin lp;
    td_error err;
    ck_assert_int_ne(loader_open(plugdir, "abi3_plugin", &lp, &err), 0);
    ck_assert_int_eq(err.code, TD_FAILED_PRECONDITION);
    ck_assert_msg(strstr(err.message, "built for connector ABI version 3"), "%s", err.message);
    ck_assert_msg(strstr(err.message, "speaks ABI version 2"), "%s", err.message);
    ck_assert_ptr_null(lp.handle);
}
END_TEST

START_TEST(test_host_api_has_tells_an_appended_member_by_the_size)
{
    tierd_host_api api = {.size = sizeof api, .emit_event_op = NULL};
    ck_assert(!TIERD_HOST_API_HAS(&api, emit_event_op)); /* not filled in */
    api.emit_event_op =
        (int (*)(tierd_host *, const tierd_event *, tierd_event_op, uint64_t, td_error *))1;
    ck_assert(TIERD_HOST_API_HAS(&api, emit_event_op));
    api.size = offsetof(tierd_host_api, emit_event_op); /* an older host's table */
    ck_assert(!TIERD_HOST_API_HAS(&api, emit_event_op));
}
END_TEST

START_TEST(test_retraction_needs_only_the_id)
{
    tierd_event e = {.id = "opp-1"};
    td_error err;
    ck_assert_msg(hostcheck_event_op(&e, TIERD_EVENT_RETRACT, 0, &err) == 0, "%s", err.message);
    ck_assert_int_ne(hostcheck_event_op(&e, TIERD_EVENT_NEW, 0, &err), 0);
    e.id = NULL;
    ck_assert_int_ne(hostcheck_event_op(&e, TIERD_EVENT_RETRACT, 0, &err), 0);
    ck_assert_msg(strstr(err.message, "event id is missing"), "%s", err.message);
    e.id = "opp-1";
    e.partner = "p-\x01"; /* what is given is still held to the text rule */
    ck_assert_int_ne(hostcheck_event_op(&e, TIERD_EVENT_RETRACT, 0, &err), 0);
    ck_assert_msg(strstr(err.message, "event partner contains a control character"), "%s",
                  err.message);
}
END_TEST

START_TEST(test_amend_needs_a_revision_and_nothing_else_takes_one)
{
    tierd_event e = good_event();
    td_error err;
    ck_assert_int_eq(hostcheck_event_op(&e, TIERD_EVENT_AMEND, 1, &err), 0);
    ck_assert_int_ne(hostcheck_event_op(&e, TIERD_EVENT_AMEND, 0, &err), 0);
    ck_assert_msg(strstr(err.message, "event opp-1: an amend needs a revision of 1 or more"), "%s",
                  err.message);
    ck_assert_int_ne(hostcheck_event_op(&e, TIERD_EVENT_RETRACT, 2, &err), 0);
    ck_assert_msg(strstr(err.message, "a revision (2) belongs only to an amend"), "%s",
                  err.message);
    ck_assert_int_ne(hostcheck_event_op(&e, TIERD_EVENT_NEW, 2, &err), 0);
    /* An amend is a whole event: the fields a new one needs, it needs. */
    e.at = NULL;
    ck_assert_int_ne(hostcheck_event_op(&e, TIERD_EVENT_AMEND, 1, &err), 0);
    ck_assert_msg(strstr(err.message, "event at is missing"), "%s", err.message);
}
END_TEST

START_TEST(test_unknown_op_is_refused)
{
    tierd_event e = good_event();
    td_error err;
    ck_assert_int_ne(hostcheck_event_op(&e, (tierd_event_op)7, 0, &err), 0);
    ck_assert_msg(strstr(err.message, "op 7 is not new (0), retract (1) or amend (2)"), "%s",
                  err.message);
    ck_assert_str_eq(hostcheck_op_name(TIERD_EVENT_RETRACT), "retract");
    ck_assert_str_eq(hostcheck_op_name(TIERD_EVENT_AMEND), "amend");
    ck_assert_str_eq(hostcheck_op_name(TIERD_EVENT_NEW), "");
}
END_TEST

/* ---- partner attributes (emit_partner_attrs, appended to ABI 1) ---------- */

START_TEST(test_partner_attrs_follow_tierds_one_rule_naming_the_partner)
{
    tierd_partner p = {.id = "p-1"};
    td_error err;
    tierd_attr good[] = {{"region", "EMEA"}, {"manager", "Zo\xc3\xab"}};
    ck_assert_msg(hostcheck_partner_attrs(&p, good, 2, &err) == 0, "%s", err.message);
    ck_assert_int_eq(hostcheck_partner_attrs(&p, NULL, 0, &err), 0); /* clears the map */
    static const struct {
        tierd_attr a[2];
        size_t n;
        const char *why;
    } bad[] = {
        {{{"re gion", "x"}}, 1, "partner p-1: attribute 1: key must be 1..64 bytes"},
        {{{"region", ""}}, 1, "partner p-1: attribute 'region': value is empty"},
        {{{"region", "a\x01"}}, 1, "attribute 'region': value holds a control character"},
        {{{"region", "\xc3\x28"}}, 1, "value is not well-formed UTF-8"},
        {{{"region", "x"}, {"region", "y"}}, 2, "attribute 'region' given twice"},
        {{{NULL, "x"}}, 1, "attribute 1: key must be"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(hostcheck_partner_attrs(&p, bad[i].a, bad[i].n, &err),
                         -(int)TD_INVALID_ARGUMENT);
        ck_assert_msg(strstr(err.message, bad[i].why), "%zu: %s", i, err.message);
    }
    ck_assert_int_ne(hostcheck_partner_attrs(&p, NULL, 1, &err), 0);
}
END_TEST

START_TEST(test_more_attributes_than_the_limit_are_refused_stating_it)
{
    tierd_attr many[TIERD_PLUGIN_ATTRS_MAX + 1];
    char keys[TIERD_PLUGIN_ATTRS_MAX + 1][8];
    for (size_t i = 0; i < TIERD_PLUGIN_ATTRS_MAX + 1; i++) {
        snprintf(keys[i], sizeof keys[i], "k%zu", i);
        many[i] = (tierd_attr){keys[i], "v"};
    }
    tierd_partner p = {.id = "p-1"};
    td_error err;
    ck_assert_int_eq(hostcheck_partner_attrs(&p, many, TIERD_PLUGIN_ATTRS_MAX, &err), 0);
    ck_assert_int_ne(hostcheck_partner_attrs(&p, many, TIERD_PLUGIN_ATTRS_MAX + 1, &err), 0);
    ck_assert_msg(strstr(err.message, "partner p-1: 33 attributes, at most 32"), "%s", err.message);
}
END_TEST

/* The map is checked after the partner itself, so a bad id is named as such. */
START_TEST(test_partner_attrs_check_the_partner_first)
{
    tierd_partner p = {.id = NULL};
    tierd_attr a[] = {{"region", "EMEA"}};
    td_error err;
    ck_assert_int_ne(hostcheck_partner_attrs(&p, a, 1, &err), 0);
    ck_assert_msg(strstr(err.message, "partner id is missing"), "%s", err.message);
}
END_TEST

START_TEST(test_emit_partner_attrs_is_appended_after_emit_event_op)
{
    ck_assert_uint_gt(offsetof(tierd_host_api, emit_partner_attrs),
                      offsetof(tierd_host_api, emit_event_op));
    ck_assert_uint_le(sizeof(abi1_0_host_api), offsetof(tierd_host_api, emit_partner_attrs));
    tierd_host_api api = {.size = offsetof(tierd_host_api, emit_partner_attrs)};
    api.emit_partner_attrs =
        (int (*)(tierd_host *, const tierd_partner *, const tierd_attr *, size_t, td_error *))1;
    ck_assert(!TIERD_HOST_API_HAS(&api, emit_partner_attrs)); /* a host with corrections only */
    api.size = sizeof api;
    ck_assert(TIERD_HOST_API_HAS(&api, emit_partner_attrs));
}
END_TEST

/* The ABI 1 plugin's partner (emit_partner) keeps the stored map. */
START_TEST(test_plugin_built_before_attributes_sends_partners_that_keep_their_map)
{
    testhost *t = testhost_new("old", NULL, NULL);
    td_error err;
    ck_assert_msg(testhost_start(t, plugdir, "abi1_plugin", &err) == 0, "%s", err.message);
    ck_assert(testhost_wait_partners(t, 1, 5000));
    json_t *p = testhost_partners(t);
    ck_assert_str_eq(testhost_str(p, 0, "partner"), "p-old");
    ck_assert(json_is_null(json_object_get(json_array_get(p, 0), "attrs")));
    json_decref(p);
    ck_assert_int_eq(testhost_stop(t, &err), 0);
    testhost_free(t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("plugin_abi");
    TCase *tc = tcase_create("abi");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_plugin_built_for_current_abi_loads);
    tcase_add_test(tc, test_plugin_for_another_abi_is_refused_naming_both_versions);
    tcase_add_test(tc, test_plugin_named_by_path_is_refused);
    tcase_add_test(tc, test_plugin_dir_writable_by_others_is_refused);
    tcase_add_test(tc, test_plugin_file_writable_by_group_is_refused);
    tcase_add_test(tc, test_missing_plugin_is_not_found);
    tcase_add_test(tc, test_symlinked_plugin_refused);
    tcase_add_test(tc, test_plugin_is_loaded_from_the_checked_descriptor);
    tcase_add_test(tc, test_plugin_that_is_not_a_regular_file_is_refused);
    tcase_add_test(tc, test_plugin_that_fails_init_reports_why);
    tcase_add_test(tc, test_plugin_built_before_corrections_still_loads_and_runs);
    tcase_add_test(tc, test_first_abi1_layout_is_a_prefix_of_the_current_one);
    tcase_add_test(tc, test_abi1_plugin_loads_as_a_source_without_a_sink);
    tcase_add_test(tc, test_abi3_plugin_is_refused_naming_3_and_the_hosts_2);
    tcase_add_test(tc, test_host_api_has_tells_an_appended_member_by_the_size);
    tcase_add_test(tc, test_emit_partner_attrs_is_appended_after_emit_event_op);
    tcase_add_test(tc, test_plugin_built_before_attributes_sends_partners_that_keep_their_map);
    suite_add_tcase(s, tc);
    TCase *hc = tcase_create("host checks");
    tcase_add_test(hc, test_well_formed_event_passes_host_checks);
    tcase_add_test(hc, test_event_with_non_finite_value_is_refused);
    tcase_add_test(hc, test_event_with_bad_utf8_is_refused);
    tcase_add_test(hc, test_event_with_overlong_id_is_refused);
    tcase_add_test(hc, test_event_without_id_is_refused);
    tcase_add_test(hc, test_cursor_with_newline_is_refused);
    tcase_add_test(hc, test_partner_with_control_character_in_type_is_refused);
    tcase_add_test(hc, test_event_with_c1_control_is_refused_like_the_engine);
    tcase_add_test(hc, test_config_lookup_walks_dotted_paths);
    tcase_add_test(hc, test_config_block_that_is_not_a_mapping_is_refused);
    tcase_add_test(hc, test_retraction_needs_only_the_id);
    tcase_add_test(hc, test_amend_needs_a_revision_and_nothing_else_takes_one);
    tcase_add_test(hc, test_unknown_op_is_refused);
    tcase_add_test(hc, test_partner_attrs_follow_tierds_one_rule_naming_the_partner);
    tcase_add_test(hc, test_more_attributes_than_the_limit_are_refused_stating_it);
    tcase_add_test(hc, test_partner_attrs_check_the_partner_first);
    suite_add_tcase(s, hc);
    return tu_run_suite(s);
}
