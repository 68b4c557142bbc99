/* Connectors that misbehave on purpose, against the real tierd, the real
 * tierd-connector host and real test plugins (tests/plugins/forker.c,
 * forge_status.c):
 *
 * - a plugin that forks must not stall the daemon's stop, and its children
 *   die with the host (own process group, signal mask restored in them);
 * - a forked child that writes heartbeats cannot keep a hung host alive;
 * - status lines a plugin forges do not become Status counters: those come
 *   from what the daemon committed;
 * - connectors get a write token, never an admin one;
 * - a plugin reached through a symlink is refused with a clear message.
 *
 * Each test runs its own daemon in its own work dir. */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "testhost.h"
#include "tierd.pb-c.h"

#define WAIT_MS      20000
#define TEXT_MAX     4096
#define ADMIN_SECRET "admin-secret-0123456789"
#define WRITE_SECRET "write-secret-0123456789"
#define READ_SECRET  "read-secret-01234567890"
/* Well under the harness's SIGKILL (HARNESS_STOP_TIMEOUT_MS): a stop that
 * needed it is a stop that hung. */
#define STOP_BOUND_MS  8000
#define TOKEN_ENV_NAME "TIERD_TOKEN="
#define ENVIRON_MAX    65536
#define FORGED_EVENTS  3
#define FORGED_CURSOR  "c-3"
#define TOKENS_ADMIN   "  - { name: root, token: \"" ADMIN_SECRET "\", role: admin }\n"
#define TOKENS_WRITE   "  - { name: feeder, token: \"" WRITE_SECRET "\", role: write }\n"
#define TOKENS_READ    "  - { name: viewer, token: \"" READ_SECRET "\", role: read }\n"

static const char *program_yaml = "program: hardening\n"
                                  "version: \"1\"\n"
                                  "metrics:\n"
                                  "  arr: { agg: sum, event: deal_closed, window: lifetime }\n"
                                  "ladders:\n"
                                  "  reseller:\n"
                                  "    partner_types: [reseller]\n"
                                  "    tiers:\n"
                                  "      - name: Registered\n"
                                  "        when: arr >= 1\n";

static harness h;
static char plugdir[HARNESS_PATH_MAX + 16];

static void work_path(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", h.work, name);
}

/* tokens: YAML list items (or NULL for none); connectors: the list items
 * of `connectors:`, "@WORK@" standing for the work dir. */
static void start_daemon(const char *tokens, const char *connectors)
{
    const char *sos[] = {TD_FORKER_SO, TD_FORGE_STATUS_SO};
    ck_assert_int_eq(testhost_plugin_dir(h.work, sos, 2, plugdir, sizeof plugdir), 0);
    char body[TEXT_MAX];
    size_t n = 0;
    for (const char *p = connectors; *p && n + HARNESS_DIR_MAX + 1 < sizeof body;) {
        if (strncmp(p, "@WORK@", 6) == 0) {
            n += (size_t)snprintf(body + n, sizeof body - n, "%s", h.work);
            p += 6;
        } else {
            body[n++] = *p++;
        }
    }
    body[n] = '\0';
    char text[TEXT_MAX * 2];
    snprintf(text, sizeof text, "%s%splugin_dir: %s\nconnectors:\n%s", tokens ? "tokens:\n" : "",
             tokens ? tokens : "", plugdir, body);
    harness_write_config(&h, text);
    char prog[HARNESS_PATH_MAX + 16];
    harness_write_file(&h, "program.yaml", program_yaml, prog, sizeof prog);
    h.token = tokens ? ADMIN_SECRET : NULL;
    HARNESS_START_OK(&h, "--program", prog, NULL);
}

static void setup(void)
{
    harness_init(&h);
}

/* Reads "<host pid> <child pid>" from a forker pid file; false until the
 * plugin wrote it. */
static bool read_pids(const char *name, pid_t *host, pid_t *child)
{
    char path[HARNESS_PATH_MAX + 32];
    work_path(path, sizeof path, name);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    int a = 0, b = 0;
    bool ok = fscanf(f, "%d %d", &a, &b) == 2;
    fclose(f);
    *host = a;
    *child = b;
    return ok && a > 0;
}

static void wait_pids(const char *name, pid_t *host, pid_t *child)
{
    tu_deadline d = tu_deadline_in(WAIT_MS);
    do {
        if (read_pids(name, host, child))
            return;
    } while (tu_poll(&d));
    char *log = harness_log(&h);
    ck_abort_msg("the plugin never wrote %s; daemon log:\n%s", name, log);
}

/* Gone, or a zombie nobody reaps yet: either way it runs no more. */
static bool pid_gone(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return true;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')');
    return paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X');
}

static bool wait_gone(pid_t pid)
{
    tu_deadline d = tu_deadline_in(WAIT_MS);
    bool gone;
    while (!(gone = pid_gone(pid)) && tu_poll(&d))
        ;
    return gone;
}

/* Children a failing run may leave behind (and the escaped one, which is
 * outside every group tierd can signal). */
static void kill_children(const char *name)
{
    pid_t host = 0, child = 0;
    if (read_pids(name, &host, &child) && child > 0 && !pid_gone(child))
        kill(child, SIGKILL);
}

static void teardown(void)
{
    kill_children("fork.pid");
    kill_children("escape.pid");
    kill_children("hb.pid");
    harness_cleanup(&h);
}

static bool restarted(const Tierd__ConnectorStatus *cs)
{
    return cs->restarts >= 1;
}

static bool failed(const Tierd__ConnectorStatus *cs)
{
    return strcmp(cs->state, "failed") == 0;
}

static bool at_forged_cursor(const Tierd__ConnectorStatus *cs)
{
    return strcmp(cs->cursor, FORGED_CURSOR) == 0;
}

START_TEST(test_forking_plugin_does_not_stall_shutdown)
{
    start_daemon(NULL, "  - name: forkee\n"
                       "    plugin: forker\n"
                       "    config: { mode: fork, pid_file: \"@WORK@/fork.pid\" }\n"
                       "  - name: escapee\n"
                       "    plugin: forker\n"
                       "    config: { mode: escape, pid_file: \"@WORK@/escape.pid\" }\n");
    pid_t host, child, ehost, echild;
    wait_pids("fork.pid", &host, &child);
    wait_pids("escape.pid", &ehost, &echild);
    ck_assert_int_gt(child, 0);
    ck_assert_int_gt(echild, 0);
    int64_t t0 = tu_now_ms();
    int status = harness_stop(&h);
    int64_t took = tu_now_ms() - t0;
    char *log = harness_log(&h);
    ck_assert_msg(status == 0, "tierd exited with %d after %lld ms; log:\n%s", status,
                  (long long)took, log);
    ck_assert_msg(took < STOP_BOUND_MS, "stopping took %lld ms", (long long)took);
    free(log);
    /* The child in the host's group went with it; the one that left the
     * group no longer holds tierd up (teardown kills it). */
    ck_assert_msg(wait_gone(child), "the plugin's child %d survived the stop", (int)child);
    ck_assert(pid_gone(host));
    ck_assert(pid_gone(ehost));
}
END_TEST

START_TEST(test_forked_plugin_child_dies_on_sigterm)
{
    start_daemon(NULL, "  - name: forkee\n"
                       "    plugin: forker\n"
                       "    config: { mode: fork, pid_file: \"@WORK@/fork.pid\" }\n");
    pid_t host, child;
    wait_pids("fork.pid", &host, &child);
    ck_assert_int_gt(child, 0);
    /* The host leads a process group of its own, so tierd can signal the
     * host with everything its plugin started. */
    ck_assert_int_eq(getpgid(host), host);
    ck_assert_int_eq(getpgid(child), host);
    ck_assert_int_ne(getpgid(host), getpgid(h.pid));
    /* The host blocks SIGTERM for its signal thread; the plugin's child
     * must not inherit that. */
    ck_assert_int_eq(kill(child, SIGTERM), 0);
    ck_assert_msg(wait_gone(child), "the plugin's child %d ignored SIGTERM", (int)child);
    ck_assert_int_eq(harness_stop(&h), 0);
}
END_TEST

START_TEST(test_forked_child_heartbeats_do_not_defeat_watchdog)
{
    start_daemon(NULL, "  - name: beater\n"
                       "    plugin: forker\n"
                       "    hang_timeout: 1s\n"
                       "    config: { mode: heartbeat, pid_file: \"@WORK@/hb.pid\" }\n");
    pid_t host, child;
    wait_pids("hb.pid", &host, &child);
    ck_assert_int_gt(child, 0);
    Tierd__StatusResponse *st;
    Tierd__ConnectorStatus *cs = harness_wait_connector(&h, "beater", restarted, &st, WAIT_MS);
    ck_assert_msg(strstr(cs->last_error, "no heartbeat"), "%s", cs->last_error);
    tierd__status_response__free_unpacked(st, NULL);
    char *log = harness_log(&h);
    ck_assert_msg(strstr(log, "not its tierd-connector process"), "%s", log);
    free(log);
    /* The restart took the whole group down, the forged heartbeats too. */
    ck_assert_msg(wait_gone(child), "the heartbeat child %d outlived its host", (int)child);
    ck_assert(wait_gone(host));
    ck_assert_int_eq(harness_stop(&h), 0);
}
END_TEST

START_TEST(test_forged_status_counters_ignored)
{
    start_daemon(TOKENS_ADMIN TOKENS_WRITE, "  - name: liar\n"
                                            "    plugin: forge_status\n");
    Tierd__StatusResponse *st;
    Tierd__ConnectorStatus *cs = harness_wait_connector(&h, "liar", at_forged_cursor, &st, WAIT_MS);
    ck_assert_uint_eq(cs->events_sent, FORGED_EVENTS);
    ck_assert_str_eq(cs->cursor, FORGED_CURSOR);
    ck_assert_uint_eq(st->events, FORGED_EVENTS);
    tierd__status_response__free_unpacked(st, NULL);
    ck_assert_int_eq(harness_stop(&h), 0);
}
END_TEST

/* The token the daemon handed the host, from its initial environment. */
static bool host_token(pid_t host, char *out, size_t n)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/environ", (int)host);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    static char env[ENVIRON_MAX];
    size_t len = fread(env, 1, sizeof env - 1, f);
    fclose(f);
    env[len] = '\0';
    for (size_t i = 0; i < len; i += strlen(env + i) + 1)
        if (strncmp(env + i, TOKEN_ENV_NAME, strlen(TOKEN_ENV_NAME)) == 0) {
            snprintf(out, n, "%s", env + i + strlen(TOKEN_ENV_NAME));
            return true;
        }
    return false;
}

START_TEST(test_connector_gets_write_token_only)
{
    /* The admin token comes first: the first token that may write is not
     * the one to hand out. */
    start_daemon(TOKENS_READ TOKENS_ADMIN TOKENS_WRITE,
                 "  - name: probe\n"
                 "    plugin: forker\n"
                 "    config: { mode: idle, pid_file: \"@WORK@/idle.pid\" }\n");
    pid_t host, child;
    wait_pids("idle.pid", &host, &child);
    char token[256];
    ck_assert_msg(host_token(host, token, sizeof token), "no token in the host's environment");
    ck_assert_str_eq(token, WRITE_SECRET);
    ck_assert_int_eq(harness_stop(&h), 0);
}
END_TEST

START_TEST(test_connector_refused_when_only_admin_tokens_exist)
{
    start_daemon(TOKENS_READ TOKENS_ADMIN, "  - name: probe\n"
                                           "    plugin: forker\n"
                                           "    config: { mode: idle, pid_file: "
                                           "\"@WORK@/idle.pid\" }\n");
    Tierd__StatusResponse *st;
    Tierd__ConnectorStatus *cs = harness_wait_connector(&h, "probe", failed, &st, WAIT_MS);
    ck_assert_msg(strstr(cs->last_error, "role write"), "%s", cs->last_error);
    ck_assert_msg(strstr(cs->last_error, "admin"), "%s", cs->last_error);
    ck_assert_uint_eq(cs->restarts, 0);
    tierd__status_response__free_unpacked(st, NULL);
    pid_t host, child;
    ck_assert_msg(!read_pids("idle.pid", &host, &child), "the connector ran anyway");
    char *log = harness_log(&h);
    ck_assert_msg(strstr(log, "probe"), "%s", log);
    free(log);
    /* The daemon itself serves on. */
    ck_assert_int_eq(harness_stop(&h), 0);
}
END_TEST

START_TEST(test_symlinked_plugin_refused_by_the_host)
{
    const char *sos[] = {TD_FORKER_SO};
    ck_assert_int_eq(testhost_plugin_dir(h.work, sos, 1, plugdir, sizeof plugdir), 0);
    char outside[HARNESS_PATH_MAX + 32], link[HARNESS_PATH_MAX + 64], copy[HARNESS_PATH_MAX + 64];
    work_path(outside, sizeof outside, "forker.so");
    snprintf(link, sizeof link, "%s/linked.so", plugdir);
    snprintf(copy, sizeof copy, "%s/forker.so", plugdir);
    ck_assert_int_eq(rename(copy, outside), 0);
    ck_assert_int_eq(symlink(outside, link), 0);
    start_daemon(NULL, "  - name: linked\n"
                       "    plugin: linked\n"
                       "    config: { mode: idle, pid_file: \"@WORK@/idle.pid\" }\n");
    Tierd__StatusResponse *st;
    Tierd__ConnectorStatus *cs = harness_wait_connector(&h, "linked", failed, &st, WAIT_MS);
    ck_assert_msg(strstr(cs->last_error, link), "%s", cs->last_error);
    ck_assert_msg(strstr(cs->last_error, "symbolic link"), "%s", cs->last_error);
    tierd__status_response__free_unpacked(st, NULL);
    pid_t host, child;
    ck_assert_msg(!read_pids("idle.pid", &host, &child), "the linked plugin ran");
    ck_assert_int_eq(harness_stop(&h), 0);
}
END_TEST

int main(void)
{
    /* The daemon finds the host binary of this build tree. */
    setenv("TIERD_CONNECTOR_BIN", TD_CONNECTOR_BIN, 1);
    Suite *s = suite_create("connectors_hardening");
    TCase *tc = tcase_create("hardening");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_forking_plugin_does_not_stall_shutdown);
    tcase_add_test(tc, test_forked_plugin_child_dies_on_sigterm);
    tcase_add_test(tc, test_forked_child_heartbeats_do_not_defeat_watchdog);
    tcase_add_test(tc, test_forged_status_counters_ignored);
    tcase_add_test(tc, test_connector_gets_write_token_only);
    tcase_add_test(tc, test_connector_refused_when_only_admin_tokens_exist);
    tcase_add_test(tc, test_symlinked_plugin_refused_by_the_host);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
