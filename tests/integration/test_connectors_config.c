/* The `plugin_dir:` / `connectors:` part of tierd.yaml: what is accepted,
 * how config blocks reach plugins, and the file:line:column problems. */
#include <check.h>
#include <glob.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "connectors.h"
#include "td_yaml.h"
#include "testutil.h"

#define PROBLEMS_MAX 16
#define PROBLEM_LEN  512

typedef struct collected {
    char lines[PROBLEMS_MAX][PROBLEM_LEN];
    int n;
} collected;

static void collect(void *ud, const char *msg)
{
    collected *c = ud;
    if (c->n < PROBLEMS_MAX)
        snprintf(c->lines[c->n++], PROBLEM_LEN, "%s", msg);
}

static int parse(const char *text, td_connectors_conf *out, collected *probs, td_error *err)
{
    memset(probs, 0, sizeof *probs);
    td_error_clear(err);
    td_yaml y = {
        .file = "tierd.yaml", .kind = "config file", .report = collect, .ud = probs, .err = err};
    ck_assert_msg(td_yaml_load(&y, text, strlen(text), SIZE_MAX), "test YAML does not load: %s",
                  err->message);
    int rc = connectors_conf_parse(&y, out);
    td_yaml_free(&y);
    return rc;
}

static bool has_problem(const collected *c, const char *needle)
{
    for (int i = 0; i < c->n; i++)
        if (strstr(c->lines[i], needle))
            return true;
    return false;
}

static void dump(const collected *c)
{
    for (int i = 0; i < c->n; i++)
        fprintf(stderr, "  %s\n", c->lines[i]);
}

START_TEST(test_connector_entries_are_read_with_their_config_as_json_strings)
{
    td_connectors_conf conf;
    collected probs;
    td_error err;
    int rc = parse("state_dir: /var/lib/tierd\n"
                   "plugin_dir: /usr/lib/tierd/plugins\n"
                   "connectors:\n"
                   "  - name: crm-deals\n"
                   "    plugin: postgres\n"
                   "    hang_timeout: 90s\n"
                   "    config:\n"
                   "      batch: 5000\n"
                   "      enabled: no\n"
                   "      columns: { id: opp_id, value: amount }\n"
                   "      list: [a, 1]\n"
                   "  - name: drop\n"
                   "    plugin: spool.so\n",
                   &conf, &probs, &err);
    dump(&probs);
    ck_assert_msg(rc == 0, "%s", err.message);
    ck_assert_str_eq(conf.plugin_dir, "/usr/lib/tierd/plugins");
    ck_assert_uint_eq(conf.n, 2);
    ck_assert_str_eq(conf.items[0].name, "crm-deals");
    ck_assert_str_eq(conf.items[0].plugin, "postgres");
    ck_assert_int_eq(conf.items[0].hang_timeout_ms, 90000);
    json_t *j = json_loads(conf.items[0].config_json, 0, NULL);
    ck_assert_ptr_nonnull(j);
    /* YAML's implicit types never reach the plugin: every scalar is text */
    ck_assert_str_eq(json_string_value(json_object_get(j, "batch")), "5000");
    ck_assert_str_eq(json_string_value(json_object_get(j, "enabled")), "no");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "columns"), "value")),
                     "amount");
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(j, "list"), 1)), "1");
    json_decref(j);
    ck_assert_str_eq(conf.items[1].config_json, "{}");
    ck_assert_int_eq(conf.items[1].hang_timeout_ms, CONNECTOR_DEFAULT_HANG_TIMEOUT_MS);
    connectors_conf_free(&conf);
}
END_TEST

START_TEST(test_every_problem_is_reported_with_file_line_and_column)
{
    td_connectors_conf conf;
    collected probs;
    td_error err;
    int rc = parse("plugin_dir: /p\n"
                   "connectors:\n"
                   "  - name: crm\n"
                   "    plugin: ../evil\n"
                   "  - name: crm\n"
                   "    plugin: postgres\n"
                   "  - name: \"bad name\"\n"
                   "    plugin: postgres\n"
                   "  - name: x\n"
                   "    plugin: postgres\n"
                   "    config: [1, 2]\n"
                   "    colour: blue\n"
                   "  - name: y\n"
                   "    plugin: postgres\n"
                   "    hang_timeout: soon\n"
                   "  - name: z\n",
                   &conf, &probs, &err);
    ck_assert_int_eq(rc, -(int)TD_INVALID_ARGUMENT);
    dump(&probs);
    ck_assert(has_problem(&probs, "tierd.yaml:4:13: plugin \"../evil\" must be a file name"));
    ck_assert(has_problem(&probs, "tierd.yaml:5:11: connector name \"crm\" is used twice"));
    ck_assert(has_problem(&probs, "tierd.yaml:7:11: connector name \"bad name\""));
    ck_assert(has_problem(&probs, "tierd.yaml:11:13: config must be a mapping"));
    ck_assert(has_problem(&probs, "tierd.yaml:12:5: unknown connector key \"colour\""));
    ck_assert(has_problem(&probs, "tierd.yaml:15:19: hang_timeout: "));
    ck_assert(has_problem(&probs, "tierd.yaml:16:5: connector z has no plugin"));
    /* err carries the first one */
    ck_assert_msg(strstr(err.message, "tierd.yaml:4:13:"), "%s", err.message);
    ck_assert_ptr_null(conf.items);
}
END_TEST

START_TEST(test_connectors_without_plugin_dir_load_from_the_installed_plugin_dir)
{
    td_connectors_conf conf;
    collected probs;
    td_error err;
    int rc = parse("connectors:\n  - name: a\n    plugin: spool\n", &conf, &probs, &err);
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(conf.plugin_dir, TD_DEFAULT_PLUGIN_DIR);
    /* the build's libdir, not a fixed /usr/lib */
    ck_assert(strstr(TD_DEFAULT_PLUGIN_DIR, "/tierd/plugins") != NULL);
    connectors_conf_free(&conf);
}
END_TEST

START_TEST(test_relative_plugin_dir_is_refused)
{
    td_connectors_conf conf;
    collected probs;
    td_error err;
    ck_assert_int_ne(parse("plugin_dir: plugins\n", &conf, &probs, &err), 0);
    ck_assert(has_problem(&probs, "tierd.yaml:1:13: plugin_dir must be an absolute path"));
}
END_TEST

START_TEST(test_config_without_connectors_is_fine)
{
    td_connectors_conf conf;
    collected probs;
    td_error err;
    ck_assert_int_eq(parse("state_dir: /x\n", &conf, &probs, &err), 0);
    ck_assert_uint_eq(conf.n, 0);
    ck_assert_ptr_null(conf.plugin_dir);
    connectors_conf_free(&conf);
}
END_TEST

START_TEST(test_direction_sink_is_read_and_anything_else_refused_with_its_place)
{
    td_connectors_conf conf;
    collected probs;
    td_error err;
    int rc = parse("plugin_dir: /usr/lib/tierd/plugins\n"
                   "connectors:\n"
                   "  - { name: crm-tiers, plugin: postgres, direction: sink }\n"
                   "  - { name: crm-deals, plugin: postgres, direction: source }\n"
                   "  - { name: crm-accounts, plugin: postgres }\n",
                   &conf, &probs, &err);
    dump(&probs);
    ck_assert_msg(rc == 0, "%s", err.message);
    ck_assert(conf.items[0].sink);
    ck_assert(!conf.items[1].sink);
    ck_assert(!conf.items[2].sink);
    connectors_conf_free(&conf);
    rc = parse("plugin_dir: /p\n"
               "connectors:\n"
               "  - name: both-ways\n"
               "    plugin: postgres\n"
               "    direction: both\n",
               &conf, &probs, &err);
    ck_assert_int_ne(rc, 0);
    dump(&probs);
    ck_assert(has_problem(
        &probs, "tierd.yaml:5:16: direction: expected source (the default) or sink, not \"both\""));
}
END_TEST

START_TEST(test_example_connector_configs_parse)
{
    const char *root = getenv("TIERD_SOURCE_ROOT");
    ck_assert_msg(root != NULL, "TIERD_SOURCE_ROOT is not set");
    char pattern[1024];
    snprintf(pattern, sizeof pattern, "%s/examples/connectors/*.yaml", root);
    glob_t g;
    ck_assert_int_eq(glob(pattern, 0, NULL, &g), 0);
    ck_assert_uint_ge(g.gl_pathc, 4);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        FILE *f = fopen(g.gl_pathv[i], "r");
        ck_assert_ptr_nonnull(f);
        static char text[65536];
        size_t n = fread(text, 1, sizeof text - 1, f);
        text[n] = '\0';
        fclose(f);
        td_connectors_conf conf;
        collected probs;
        td_error err;
        int rc = parse(text, &conf, &probs, &err);
        dump(&probs);
        ck_assert_msg(rc == 0, "%s: %s", g.gl_pathv[i], err.message);
        ck_assert_uint_ge(conf.n, 1);
        connectors_conf_free(&conf);
    }
    globfree(&g);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("connectors_config");
    TCase *tc = tcase_create("config");
    tcase_add_test(tc, test_connector_entries_are_read_with_their_config_as_json_strings);
    tcase_add_test(tc, test_every_problem_is_reported_with_file_line_and_column);
    tcase_add_test(tc, test_connectors_without_plugin_dir_load_from_the_installed_plugin_dir);
    tcase_add_test(tc, test_relative_plugin_dir_is_refused);
    tcase_add_test(tc, test_config_without_connectors_is_fine);
    tcase_add_test(tc, test_example_connector_configs_parse);
    tcase_add_test(tc, test_direction_sink_is_read_and_anything_else_refused_with_its_place);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
