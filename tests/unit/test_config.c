/* tierd.yaml parsing: every documented key is read, and every wrong key,
 * type or value is refused with file:line:column before anything applies. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "testutil.h"

#define CFG_PATH_MAX 256
#define CFG_TOKENS   "tokens:\n  - {name: ops, token: abcdefghijklmnopqrstuvwxyz, role: admin}\n"

static char path[CFG_PATH_MAX];

static void write_config(const char *text)
{
    snprintf(path, sizeof path, "/tmp/test-config-%d.yaml", (int)getpid());
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static td_config *load_ok(const char *text)
{
    write_config(text);
    td_config *c = NULL;
    td_error err = {0};
    int rc = config_load(path, &c, &err);
    ck_assert_msg(rc == 0, "%s", err.message);
    unlink(path);
    return c;
}

/* The refusal's message, which must start with path:line:column. */
static void load_refused(const char *text, int line, int column, const char *what)
{
    write_config(text);
    td_config *c = NULL;
    td_error err = {0};
    ck_assert_int_ne(config_load(path, &c, &err), 0);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(err.code, TD_INVALID_ARGUMENT);
    char want[CFG_PATH_MAX + 32];
    snprintf(want, sizeof want, "%s:%d:%d: ", path, line, column);
    ck_assert_msg(strncmp(err.message, want, strlen(want)) == 0, "want %s, got %s", want,
                  err.message);
    ck_assert_msg(strstr(err.message, what), "want '%s' in %s", what, err.message);
    unlink(path);
}

START_TEST(test_every_documented_key_is_read)
{
    td_config *c = load_ok("state_dir: /var/lib/x\n"
                           "listen: [ipc:///run/a.sock, tcp://127.0.0.1:9000]\n"
                           "publish: [\"tcp://[::1]:9001\"]\n"
                           "publish_public: true\n"
                           "allow_remote: false\n"
                           "tokens:\n"
                           "  - {name: ops, token: abcdefghijklmnopqrstuvwxyz, role: admin}\n"
                           "program: /etc/tierd/program.yaml\n"
                           "log_level: debug\n"
                           "log_format: json\n"
                           "max_request_bytes: 65536\n"
                           "watchdog: no\n");
    ck_assert_str_eq(c->state_dir, "/var/lib/x");
    ck_assert_uint_eq(c->n_listen, 2);
    ck_assert_str_eq(c->listen[1], "tcp://127.0.0.1:9000");
    ck_assert_uint_eq(c->n_publish, 1);
    ck_assert(c->publish_public);
    ck_assert_uint_eq(c->n_tokens, 1);
    ck_assert_str_eq(c->tokens[0].name, "ops");
    ck_assert_int_eq(c->tokens[0].role, TD_ROLE_ADMIN);
    ck_assert_str_eq(c->program, "/etc/tierd/program.yaml");
    ck_assert_int_eq(c->log_level, TD_LOG_DEBUG);
    ck_assert_int_eq(c->log_format, TD_LOG_JSON);
    ck_assert_uint_eq(c->max_request_bytes, 65536);
    ck_assert(!c->watchdog);
    config_free(c);
}
END_TEST

START_TEST(test_an_empty_file_takes_the_defaults)
{
    td_config *c = load_ok("");
    ck_assert_uint_eq(c->max_request_bytes, TD_MAX_REQUEST_BYTES);
    ck_assert_int_eq(c->log_level, TD_LOG_DEFAULT_LEVEL);
    ck_assert_int_eq(c->log_format, TD_LOG_TEXT);
    ck_assert_uint_eq(c->n_tokens, 0);
    ck_assert(c->watchdog);
    config_free(c);
}
END_TEST

START_TEST(test_unknown_key_is_refused_where_it_stands)
{
    load_refused("log_level: info\n  \nlisten_on: []\n", 3, 1, "unknown key 'listen_on'");
}
END_TEST

START_TEST(test_bad_values_are_refused_with_their_position)
{
    load_refused("log_level: loud\n", 1, 12, "log_level must be");
    load_refused("log_format: xml\n", 1, 13, "log_format must be text or json");
    load_refused("allow_remote: maybe\n", 1, 15, "true or false");
    load_refused("max_request_bytes: -5\n", 1, 20, "whole number");
    load_refused("max_request_bytes: 1e9\n", 1, 20, "whole number");
    load_refused("listen: ipc:///x\n", 1, 9, "list of URLs");
    load_refused("listen: [http://x]\n", 1, 10, "ipc://PATH or tcp://HOST:PORT");
    load_refused("tokens:\n  - {name: a, token: short, role: read}\n", 2, 22, "at least");
    load_refused("tokens:\n  - {name: a, token: abcdefghijklmnopqrstuvwxyz, role: root}\n", 2, 56,
                 "read, write or admin");
    load_refused("tokens:\n  - {name: a, token: abcdefghijklmnopqrstuvwxyz}\n", 2, 5,
                 "needs name, token and role");
    load_refused("tokens:\n"
                 "  - {name: a, token: abcdefghijklmnopqrstuvwxyz, role: read}\n"
                 "  - {name: a, token: zyxwvutsrqponmlkjihgfedcba, role: read}\n",
                 3, 5, "used twice");
    load_refused("- a\n- b\n", 1, 1, "mapping");
}
END_TEST

START_TEST(test_remote_endpoints_need_allow_remote)
{
    write_config("listen: [tcp://10.0.0.1:7450]\n");
    td_config *c = NULL;
    td_error err = {0};
    ck_assert_int_ne(config_load(path, &c, &err), 0);
    ck_assert_msg(strstr(err.message, "not a loopback address"), "%s", err.message);
    unlink(path);
    c = load_ok(CFG_TOKENS "allow_remote: true\nlisten: [tcp://10.0.0.1:7450]\n");
    config_free(c);
    ck_assert_int_eq(config_check_endpoint("tcp://127.0.0.2:1", false, &err), 0);
    ck_assert_int_ne(config_check_endpoint("tcp://0.0.0.0:1", false, &err), 0);
    ck_assert_int_ne(config_check_endpoint("tcp://:1", false, &err), 0);
}
END_TEST

/* nanomsg SUB cannot send a token, so a tcp feed is readable by anyone who
 * reaches the port: it opens only when the config says the feed is public. */
START_TEST(test_tcp_publish_with_tokens_is_refused_unless_the_feed_is_named_public)
{
    load_refused(CFG_TOKENS "publish: [ipc:///run/p.sock, tcp://127.0.0.1:7451]\n", 3, 30,
                 "publish_public: true");
    load_refused("publish: [tcp://127.0.0.1:7451]\n" CFG_TOKENS, 1, 11, "publish_public");
    td_config *c = load_ok(CFG_TOKENS "publish: [tcp://127.0.0.1:7451]\npublish_public: true\n");
    ck_assert(c->publish_public);
    config_free(c);
    c = load_ok(CFG_TOKENS "publish: [ipc:///run/p.sock]\n");
    ck_assert(!c->publish_public);
    config_free(c);
    load_refused("publish_public: sometimes\n", 1, 17, "true or false");
}
END_TEST

START_TEST(test_tcp_listen_without_tokens_is_refused_where_it_stands)
{
    load_refused("log_level: info\nlisten: [ipc:///run/r.sock, tcp://127.0.0.1:7450]\n", 2, 29,
                 "needs tokens");
}
END_TEST

START_TEST(test_remote_addresses_are_refused_where_they_stand)
{
    load_refused(CFG_TOKENS "listen:\n  - tcp://10.0.0.1:7450\n", 4, 5, "allow_remote: true");
}
END_TEST

/* nanomsg binds numeric addresses and interface names only: "localhost"
 * passed the loopback check and then failed with "No such device". */
START_TEST(test_tcp_localhost_is_refused_naming_the_numeric_address)
{
    load_refused(CFG_TOKENS "listen: [tcp://localhost:7450]\n", 3, 10, "tcp://127.0.0.1:7450");
    td_error err = {0};
    ck_assert_int_ne(config_check_endpoint("tcp://localhost:1", false, &err), 0);
    ck_assert_msg(strstr(err.message, "tcp://127.0.0.1:1"), "%s", err.message);
    ck_assert_int_ne(config_check_endpoint("tcp://LocalHost:1", true, &err), 0);
    ck_assert_int_ne(config_check_endpoint("tcp://no-such-host.example:1", true, &err), 0);
    ck_assert_msg(strstr(err.message, "numeric"), "%s", err.message);
    ck_assert_int_eq(config_check_endpoint("tcp://*:1", true, &err), 0);
    ck_assert_int_eq(config_check_endpoint("tcp://lo:1", true, &err), 0); /* an interface */
    ck_assert_int_eq(config_check_endpoint("tcp://127.0.0.1:1", false, &err), 0);
}
END_TEST

START_TEST(test_a_missing_file_is_not_found)
{
    td_config *c = NULL;
    td_error err = {0};
    ck_assert_int_ne(config_load("/nonexistent/tierd.yaml", &c, &err), 0);
    ck_assert_int_eq(err.code, TD_NOT_FOUND);
}
END_TEST

START_TEST(test_broken_yaml_is_refused_with_its_position)
{
    load_refused("tokens: [\n", 2, 1, "");
}
END_TEST

/* One YAML rule for every tierd file (common/td_yaml.h): anchors and
 * aliases are refused as in a program file, at the anchored node. */
START_TEST(test_yaml_anchors_and_aliases_are_refused_where_they_stand)
{
    load_refused("log_level: &lvl info\nstate_dir: *lvl\n", 1, 12,
                 "YAML anchors and aliases are not allowed in a config file");
    load_refused("plugin_dir: /usr/lib/tierd/plugins\n"
                 "connectors:\n"
                 "  - name: a\n"
                 "    plugin: spool\n"
                 "    config: &shared { dir: /srv/in }\n"
                 "  - name: b\n"
                 "    plugin: spool\n"
                 "    config: *shared\n",
                 5, 13, "YAML anchors and aliases are not allowed in a config file");
}
END_TEST

/* A second document was read by nobody: the settings in it never applied. */
START_TEST(test_a_second_yaml_document_is_refused_where_it_starts)
{
    load_refused("log_level: info\n---\nlog_level: debug\n", 2, 1,
                 "more than one YAML document: a config file holds exactly one");
}
END_TEST

/* The reader names the line and column of bytes that are not UTF-8. */
START_TEST(test_bytes_that_are_not_utf8_are_refused_where_they_stand)
{
    load_refused("log_level: info\nstate_dir: /x\xff\n", 2, 14, "not valid UTF-8 (byte 0xFF)");
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("load");
    tcase_add_test(tc, test_every_documented_key_is_read);
    tcase_add_test(tc, test_an_empty_file_takes_the_defaults);
    tcase_add_test(tc, test_unknown_key_is_refused_where_it_stands);
    tcase_add_test(tc, test_bad_values_are_refused_with_their_position);
    tcase_add_test(tc, test_remote_endpoints_need_allow_remote);
    tcase_add_test(tc, test_a_missing_file_is_not_found);
    tcase_add_test(tc, test_broken_yaml_is_refused_with_its_position);
    tcase_add_test(tc, test_tcp_publish_with_tokens_is_refused_unless_the_feed_is_named_public);
    tcase_add_test(tc, test_tcp_listen_without_tokens_is_refused_where_it_stands);
    tcase_add_test(tc, test_remote_addresses_are_refused_where_they_stand);
    tcase_add_test(tc, test_tcp_localhost_is_refused_naming_the_numeric_address);
    tcase_add_test(tc, test_yaml_anchors_and_aliases_are_refused_where_they_stand);
    tcase_add_test(tc, test_a_second_yaml_document_is_refused_where_it_starts);
    tcase_add_test(tc, test_bytes_that_are_not_utf8_are_refused_where_they_stand);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(config_suite());
}
