/* What SIGHUP and a restart may and may not do, through the real daemon:
 *
 * - a reload never reaches a state a fresh start would refuse: a config
 *   that drops every token while a tcp endpoint is open is refused whole
 *   and the running config stays;
 * - a tcp change feed opens only when the config names it public (a SUB
 *   socket cannot present a token), with a warning in the log;
 * - the --program file is loaded again only when its content changed since
 *   it was last loaded, so neither a reload nor a restart displaces a
 *   version loaded later over RPC; Status and the log say which version is
 *   in force and where it came from.
 *
 * A reload runs whole inside one turn of the daemon's loop, so any request
 * sent after its "SIGHUP: reloading" line appears in the log is answered by
 * the reloaded daemon: the tests wait for that line, never for a time. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "tierd.pb-c.h"

#define TOKEN_ADMIN    "admin-token-0123456789"
#define TOKENS_CONFIG  "tokens:\n  - {name: boss, token: " TOKEN_ADMIN ", role: admin}\n"
#define URL_MAX        64
#define PROGRAM_MAX    1024
#define RELOAD_LINE    "SIGHUP: reloading"
#define FAKE_CLOCK     "2026-11-15T00:00:00Z"
#define VERSION_FILE   "2027.1"
#define VERSION_RPC    "2027.4"
#define VERSION_EDITED "2027.5"
#define PROGRAM_PATTERN                                                                            \
    "program: pv\n"                                                                                \
    "version: \"%s\"\n"                                                                            \
    "metrics:\n"                                                                                   \
    "  arr: { agg: sum, event: deal_closed, window: 365d }\n"                                      \
    "ladders:\n"                                                                                   \
    "  reseller:\n"                                                                                \
    "    partner_types: [reseller]\n"                                                              \
    "    tiers:\n"                                                                                 \
    "      - { name: Bronze, when: arr >= 1 }\n"

static bool log_has(const harness *h, const char *text)
{
    return harness_log_count(h, text) > 0;
}

/* SIGHUP number `nth` (from 1), and its end. */
static void reload(harness *h, size_t nth)
{
    ck_assert_int_eq(kill(h->pid, SIGHUP), 0);
    if (!harness_wait_log(h, RELOAD_LINE, nth, HARNESS_WAIT_MS)) {
        char *log = harness_log(h);
        ck_abort_msg("no %zu x '%s' in the log: %s", nth, RELOAD_LINE, log);
    }
}

/* A loopback tcp URL on a port nobody holds right now. */
static void free_tcp_url(char *url, size_t n)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(s, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    ck_assert_int_eq(getsockname(s, (struct sockaddr *)&a, &len), 0);
    snprintf(url, n, "tcp://127.0.0.1:%u", (unsigned)ntohs(a.sin_port));
    close(s);
}

static int status_at(const char *url, const char *token, Tierd__StatusResponse **out, td_error *err)
{
    td_client *c = NULL;
    int rc = td_client_open(url, token, 0, &c, err);
    if (rc)
        return rc;
    Tierd__StatusResponse *st = NULL;
    rc = td_client_status(c, &st, err);
    td_client_close(c);
    if (out)
        *out = st;
    else if (st)
        tierd__status_response__free_unpacked(st, NULL);
    return rc;
}

/* ---- config reloads -------------------------------------------------------- */

START_TEST(test_reload_that_drops_every_token_while_tcp_is_open_is_refused)
{
    harness h;
    harness_init(&h);
    harness_write_config(&h, TOKENS_CONFIG);
    char tcp[URL_MAX];
    free_tcp_url(tcp, sizeof tcp);
    h.token = TOKEN_ADMIN;
    HARNESS_START_OK(&h, "--listen", tcp, NULL);
    td_error err = {0};
    ck_assert_int_eq(status_at(tcp, NULL, NULL, &err), -TD_PERMISSION_DENIED);

    /* A fresh start with this config and these endpoints is refused. */
    harness_write_config(&h, "tokens: []\n");
    reload(&h, 1);
    ck_assert_int_eq(status_at(tcp, NULL, NULL, &err), -TD_PERMISSION_DENIED);
    ck_assert_int_eq(status_at(tcp, TOKEN_ADMIN, NULL, &err), 0);
    ck_assert_msg(log_has(&h, "config not reloaded"), "the refusal is not logged");
    ck_assert_msg(log_has(&h, "needs tokens"), "the reason is not logged");

    /* The same start refusal holds for a fresh start. */
    ck_assert_int_eq(harness_stop(&h), 0);
    ck_assert_int_eq(harness_start(&h, "--listen", tcp, NULL), -1);
    ck_assert_int_eq(h.exit_status, 1);
    harness_cleanup(&h);
}
END_TEST

START_TEST(test_reload_keeps_tokens_when_an_open_tcp_feed_is_no_longer_named_public)
{
    harness h;
    harness_init(&h);
    harness_write_config(&h, TOKENS_CONFIG "publish_public: true\n");
    char tcp[URL_MAX];
    free_tcp_url(tcp, sizeof tcp);
    h.token = TOKEN_ADMIN;
    HARNESS_START_OK(&h, "--publish", tcp, NULL);
    harness_write_config(&h,
                         "tokens:\n  - {name: new, token: new-token-0123456789, role: admin}\n");
    reload(&h, 1);
    td_error err = {0};
    ck_assert_int_eq(status_at(harness_url(&h), TOKEN_ADMIN, NULL, &err), 0);
    ck_assert_msg(log_has(&h, "config not reloaded"), "the refusal is not logged");
    harness_finish(&h);
}
END_TEST

/* ---- the tcp feed ---------------------------------------------------------- */

START_TEST(test_tcp_feed_with_tokens_opens_only_when_named_public_and_then_warns)
{
    harness h;
    harness_init(&h);
    harness_write_config(&h, TOKENS_CONFIG);
    char tcp[URL_MAX];
    free_tcp_url(tcp, sizeof tcp);
    h.token = TOKEN_ADMIN;
    ck_assert_int_eq(harness_start(&h, "--publish", tcp, NULL), -1);
    ck_assert_int_eq(h.exit_status, 1);
    ck_assert_msg(log_has(&h, "publish_public: true"), "the refusal does not name the fix");

    harness_write_config(&h, TOKENS_CONFIG "publish_public: true\n");
    HARNESS_START_OK(&h, "--publish", tcp, NULL);
    ck_assert_msg(log_has(&h, "warning: publish"), "no warning about the public feed");
    Tierd__StatusResponse *st = NULL;
    td_error err = {0};
    ck_assert_int_eq(status_at(harness_url(&h), TOKEN_ADMIN, &st, &err), 0);
    bool open = false;
    for (size_t i = 0; i < st->n_publish; i++)
        open |= strcmp(st->publish[i], tcp) == 0;
    tierd__status_response__free_unpacked(st, NULL);
    ck_assert_msg(open, "%s is not open", tcp);
    harness_finish(&h);
}
END_TEST

START_TEST(test_tcp_localhost_is_refused_at_start_naming_the_numeric_address)
{
    harness h;
    harness_init(&h);
    harness_write_config(&h, TOKENS_CONFIG);
    ck_assert_int_eq(harness_start(&h, "--listen", "tcp://localhost:7450", NULL), -1);
    ck_assert_int_eq(h.exit_status, 1);
    ck_assert_msg(log_has(&h, "tcp://127.0.0.1:7450"), "the refusal does not name the fix");
    ck_assert_msg(!log_has(&h, "No such device"), "nanomsg's error reached the operator");
    harness_cleanup(&h);
}
END_TEST

/* ---- the program file ------------------------------------------------------ */

static void write_program(const harness *h, char *path, size_t n, const char *version)
{
    char yaml[PROGRAM_MAX];
    snprintf(yaml, sizeof yaml, PROGRAM_PATTERN, version);
    harness_write_file(h, "program.yaml", yaml, path, n);
}

/* A daemon on the fake clock started with --program path, the file
 * holding VERSION_FILE. */
static void start_with_program_file(harness *h, char *path, size_t n)
{
    harness_init(h);
    write_program(h, path, n, VERSION_FILE);
    HARNESS_START_OK(h, "--fake-clock", FAKE_CLOCK, "--program", path, NULL);
}

static void load_over_rpc(const harness *h, const char *version)
{
    char yaml[PROGRAM_MAX];
    snprintf(yaml, sizeof yaml, PROGRAM_PATTERN, version);
    td_client *c = harness_client(h, NULL);
    Tierd__PutProgramRequest req = TIERD__PUT_PROGRAM_REQUEST__INIT;
    req.yaml = yaml;
    req.filename = "newer.yaml";
    Tierd__PutProgramResponse *pr = NULL;
    td_error err = {0};
    ck_assert_msg(td_client_put_program(c, &req, &pr, &err) == 0, "%s", err.message);
    tierd__put_program_response__free_unpacked(pr, NULL);
    td_client_close(c);
}

/* The version in force and Status's word on where it came from. */
static void expect_in_force(const harness *h, const char *version, const char *source)
{
    Tierd__StatusResponse *st = NULL;
    td_error err = {0};
    ck_assert_int_eq(status_at(harness_url(h), NULL, &st, &err), 0);
    ck_assert_str_eq(st->program_version, version);
    ck_assert_msg(strstr(st->program_source, source), "source '%s', want '%s'", st->program_source,
                  source);
    tierd__status_response__free_unpacked(st, NULL);
}

START_TEST(test_sighup_keeps_a_version_loaded_over_rpc_when_the_file_is_unchanged)
{
    harness h;
    char path[HARNESS_PATH_MAX + 16], from_file[HARNESS_PATH_MAX + 32];
    start_with_program_file(&h, path, sizeof path);
    snprintf(from_file, sizeof from_file, "file %s", path);
    expect_in_force(&h, VERSION_FILE, from_file);

    load_over_rpc(&h, VERSION_RPC);
    expect_in_force(&h, VERSION_RPC, "rpc");
    reload(&h, 1);
    expect_in_force(&h, VERSION_RPC, "rpc");
    ck_assert_msg(log_has(&h, "unchanged since it was last loaded"), "the skip is not logged");
    ck_assert_msg(log_has(&h, "program in force: pv " VERSION_RPC), "the log does not say");

    /* The operator edits the file: that is a new decision, and it loads. */
    write_program(&h, path, sizeof path, VERSION_EDITED);
    reload(&h, 2);
    expect_in_force(&h, VERSION_EDITED, from_file);
    harness_finish(&h);
}
END_TEST

START_TEST(test_restart_with_the_same_program_file_keeps_a_version_loaded_over_rpc)
{
    harness h;
    char path[HARNESS_PATH_MAX + 16];
    start_with_program_file(&h, path, sizeof path);
    load_over_rpc(&h, VERSION_RPC);
    ck_assert_int_eq(harness_stop(&h), 0);

    HARNESS_START_OK(&h, "--fake-clock", FAKE_CLOCK, "--program", path, NULL);
    expect_in_force(&h, VERSION_RPC, "rpc");
    harness_finish(&h);
}
END_TEST

START_TEST(test_status_says_a_version_in_force_by_schedule_came_from_its_schedule)
{
    harness h;
    char path[HARNESS_PATH_MAX + 16];
    start_with_program_file(&h, path, sizeof path);
    char yaml[PROGRAM_MAX];
    snprintf(yaml, sizeof yaml, "effective: 2026-12-01\n" PROGRAM_PATTERN, VERSION_RPC);
    td_client *c = harness_client(&h, NULL);
    Tierd__PutProgramRequest req = TIERD__PUT_PROGRAM_REQUEST__INIT;
    req.yaml = yaml;
    Tierd__PutProgramResponse *pr = NULL;
    td_error err = {0};
    ck_assert_msg(td_client_put_program(c, &req, &pr, &err) == 0, "%s", err.message);
    ck_assert(pr->scheduled);
    tierd__put_program_response__free_unpacked(pr, NULL);
    Tierd__ClockResponse *cr = NULL;
    ck_assert_int_eq(td_client_clock(c, "30d", &cr, &err), 0);
    tierd__clock_response__free_unpacked(cr, NULL);
    td_client_close(c);
    expect_in_force(&h, VERSION_RPC, "schedule");
    harness_finish(&h);
}
END_TEST

static Suite *reload_suite(void)
{
    Suite *s = suite_create("reload");
    TCase *cfg = tcase_create("config");
    tcase_set_timeout(cfg, 60);
    tcase_add_test(cfg, test_reload_that_drops_every_token_while_tcp_is_open_is_refused);
    tcase_add_test(cfg, test_reload_keeps_tokens_when_an_open_tcp_feed_is_no_longer_named_public);
    tcase_add_test(cfg, test_tcp_feed_with_tokens_opens_only_when_named_public_and_then_warns);
    tcase_add_test(cfg, test_tcp_localhost_is_refused_at_start_naming_the_numeric_address);
    suite_add_tcase(s, cfg);
    TCase *prog = tcase_create("program file");
    tcase_set_timeout(prog, 60);
    tcase_add_test(prog, test_sighup_keeps_a_version_loaded_over_rpc_when_the_file_is_unchanged);
    tcase_add_test(prog, test_restart_with_the_same_program_file_keeps_a_version_loaded_over_rpc);
    tcase_add_test(prog, test_status_says_a_version_in_force_by_schedule_came_from_its_schedule);
    suite_add_tcase(s, prog);
    return s;
}

int main(void)
{
    return tu_run_suite(reload_suite());
}
