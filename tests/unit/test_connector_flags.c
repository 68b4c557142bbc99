/* tierd-connector's command line: a number flag that is not a number is a
 * usage error naming the flag and the value (exit status 2), never a
 * silent 0 (atoi) that hands the plugin stdin as its status descriptor or
 * a 0 ms RPC timeout. Runs the real binary; a plugin directory that does
 * not exist makes a well-formed command line end at the loader (exit 78,
 * retrying cannot help), which tells the two outcomes apart. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host_protocol.h"
#include "testhost.h"
#include "testutil.h"

#define FLAGS_EXIT_WAIT_MS 10000
#define FLAGS_DIR_MAX      256
#define FLAGS_PATH_MAX     (FLAGS_DIR_MAX + 64)
#define FLAGS_STDERR_MAX   4096

static char tmp[FLAGS_DIR_MAX];
static char err_path[FLAGS_PATH_MAX];
static char missing_dir[FLAGS_PATH_MAX];

static void setup(void)
{
    ck_assert_ptr_nonnull(tu_tmpdir("td-flags", tmp, sizeof tmp));
    snprintf(err_path, sizeof err_path, "%s/stderr", tmp);
    snprintf(missing_dir, sizeof missing_dir, "%s/no-such-dir", tmp);
}

static void teardown(void)
{
    ck_assert_int_eq(tu_rm_rf(tmp), 0);
}

/* Runs tierd-connector with the usual flags plus flag=value; returns its
 * exit status and leaves what it wrote (stdout and stderr) in *text
 * (malloc'd). */
static int run_with(const char *flag, const char *value, char **text)
{
    const char *argv[] = {TD_CONNECTOR_BIN,
                          "--name",
                          "flags",
                          "--plugin-dir",
                          missing_dir,
                          "--plugin",
                          "spool",
                          "--url",
                          "ipc:///nonexistent/rpc.sock",
                          flag,
                          value,
                          NULL};
    pid_t pid = tu_spawn(argv, "/dev/null", err_path, err_path);
    ck_assert_int_gt(pid, 0);
    int status = -1;
    ck_assert_msg(tu_wait_exit(pid, FLAGS_EXIT_WAIT_MS, &status),
                  "tierd-connector %s %s did not exit", flag, value);
    *text = tu_read_file(err_path, FLAGS_STDERR_MAX);
    return status;
}

static void expect_usage_error(const char *flag, const char *value)
{
    char *text = NULL;
    int status = run_with(flag, value, &text);
    ck_assert_msg(status == HOST_EXIT_USAGE, "%s %s: exit %d, want %d; stderr: %s", flag, value,
                  status, HOST_EXIT_USAGE, text);
    ck_assert_msg(strstr(text, flag), "the error names %s: %s", flag, text);
    char quoted[FLAGS_DIR_MAX];
    snprintf(quoted, sizeof quoted, "'%s'", value);
    ck_assert_msg(strstr(text, quoted), "the error quotes %s: %s", quoted, text);
    free(text);
}

START_TEST(test_status_fd_that_is_not_a_number_is_a_usage_error)
{
    expect_usage_error("--status-fd", "abc");
}
END_TEST

/* "1x": atoi's 1 would be stdout, which run_with sends to the file. */
START_TEST(test_status_fd_with_trailing_text_is_a_usage_error)
{
    expect_usage_error("--status-fd", "1x");
}
END_TEST

START_TEST(test_negative_status_fd_is_a_usage_error)
{
    expect_usage_error("--status-fd", "-1");
}
END_TEST

START_TEST(test_timeout_that_is_not_a_number_is_a_usage_error)
{
    expect_usage_error("--timeout-ms", "soon");
}
END_TEST

START_TEST(test_timeout_beyond_an_int_is_a_usage_error)
{
    expect_usage_error("--timeout-ms", "99999999999999999999");
}
END_TEST

/* The control: well-formed numbers pass the flags and the host goes on to
 * the loader, which refuses the missing directory as fatal. */
START_TEST(test_well_formed_numbers_reach_the_loader)
{
    char *text = NULL;
    int status = run_with("--timeout-ms", "500", &text);
    ck_assert_msg(status == HOST_EXIT_FATAL, "exit %d, want %d; stderr: %s", status,
                  HOST_EXIT_FATAL, text);
    ck_assert_msg(strstr(text, "no-such-dir"), "the loader names the directory: %s", text);
    free(text);
}
END_TEST

static Suite *connector_flags_suite(void)
{
    Suite *s = suite_create("connector_flags");
    TCase *tc = tcase_create("flags");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_status_fd_that_is_not_a_number_is_a_usage_error);
    tcase_add_test(tc, test_status_fd_with_trailing_text_is_a_usage_error);
    tcase_add_test(tc, test_negative_status_fd_is_a_usage_error);
    tcase_add_test(tc, test_timeout_that_is_not_a_number_is_a_usage_error);
    tcase_add_test(tc, test_timeout_beyond_an_int_is_a_usage_error);
    tcase_add_test(tc, test_well_formed_numbers_reach_the_loader);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(connector_flags_suite());
}
