/* libtierd-client as installed: `meson install --destdir` of this build,
 * then examples/client/tierd-status.c compiled against that tree through
 * pkg-config alone (PKG_CONFIG_SYSROOT_DIR + PKG_CONFIG_PATH), linked to
 * the installed libtierd-client.so.0 and run against a real tierd. Proves
 * the headers, tierd-client.pc and the shared library an outside program
 * gets are complete, and that the installed tierctl uses that library.
 *
 * Meson passes MESON_BIN, MESON_BUILD_ROOT, INSTALL_PREFIX, INSTALL_LIBDIR,
 * INSTALL_BINDIR, EXAMPLE_CC and EXAMPLE_CFLAGS (the sanitizer flags of a
 * sanitized build). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define SHELL_WAIT_MS (5 * 60 * 1000) /* meson install copies every file */
#define CMD_MAX       8192
#define OUT_MAX       (64 * 1024)

static const char *env(const char *name)
{
    const char *v = getenv(name);
    ck_assert_msg(v && *v, "%s is not set (meson sets it)", name);
    return v;
}

/* Runs cmd with /bin/sh in dir; returns its exit status and its stdout and
 * stderr together in *out (malloc'd). */
static int sh(const char *dir, const char *cmd, char **out)
{
    char log[HARNESS_PATH_MAX];
    snprintf(log, sizeof log, "%s/sh.log", dir);
    const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    pid_t pid = tu_spawn(argv, "/dev/null", log, log);
    ck_assert_int_gt(pid, 0);
    int status = -1;
    ck_assert_msg(tu_wait_exit(pid, SHELL_WAIT_MS, &status), "still running: %s", cmd);
    *out = tu_read_file(log, OUT_MAX);
    return status;
}

/* Installs this build under work/root and returns the installed libdir. */
static void install_into(const harness *h, char *root, size_t rn, char *libdir, size_t ln)
{
    snprintf(root, rn, "%s/root", h->work);
    snprintf(libdir, ln, "%s%s/%s", root, env("INSTALL_PREFIX"), env("INSTALL_LIBDIR"));
    char cmd[CMD_MAX], *out;
    snprintf(cmd, sizeof cmd, "'%s' install -C '%s' --no-rebuild --quiet --destdir '%s'",
             env("MESON_BIN"), env("MESON_BUILD_ROOT"), root);
    int rc = sh(h->work, cmd, &out);
    ck_assert_msg(rc == 0, "meson install failed (%d): %s", rc, out);
    free(out);
}

START_TEST(test_example_client_builds_from_the_install_and_talks_to_tierd)
{
    harness h;
    harness_init(&h);
    char root[HARNESS_PATH_MAX], libdir[HARNESS_PATH_MAX * 2];
    install_into(&h, root, sizeof root, libdir, sizeof libdir);

    /* Compile with nothing from the source tree on the path: pkg-config
     * must give every flag, and <tierd/client.h> must find what it includes. */
    char cmd[CMD_MAX], *out;
    snprintf(cmd, sizeof cmd,
             "set -e; export PKG_CONFIG_SYSROOT_DIR='%s' PKG_CONFIG_PATH='%s/pkgconfig';"
             " pkg-config --modversion tierd-client;"
             " %s -std=c11 -Wall -Wextra -Werror %s -o '%s/tierd-status'"
             " '%s/examples/client/tierd-status.c' $(pkg-config --cflags --libs tierd-client)",
             root, libdir, env("EXAMPLE_CC"),
             getenv("EXAMPLE_CFLAGS") ? getenv("EXAMPLE_CFLAGS") : "", h.work,
             env("TIERD_SOURCE_ROOT"));
    int rc = sh(h.work, cmd, &out);
    ck_assert_msg(rc == 0, "example does not build against the install (%d): %s", rc, out);
    ck_assert_msg(strncmp(out, "0.2.0\n", 6) == 0, "tierd-client.pc version: %s", out);
    free(out);

    /* Both the example and the installed tierctl load the installed .so.0. */
    snprintf(cmd, sizeof cmd,
             "export LD_LIBRARY_PATH='%s'; ldd '%s/tierd-status' | grep libtierd-client;"
             " ldd '%s%s/%s/tierctl' | grep libtierd-client",
             libdir, h.work, root, env("INSTALL_PREFIX"), env("INSTALL_BINDIR"));
    rc = sh(h.work, cmd, &out);
    ck_assert_msg(rc == 0, "ldd (%d): %s", rc, out);
    char want[HARNESS_PATH_MAX * 3];
    snprintf(want, sizeof want, "libtierd-client.so.0 => %s/libtierd-client.so.0", libdir);
    ck_assert_msg(tu_count(out, want) == 2, "not linked to the installed library: %s", out);
    free(out);

    HARNESS_START_OK(&h, "--fake-clock", "2026-11-15T00:00:00Z", NULL);
    char program[HARNESS_PATH_MAX];
    snprintf(program, sizeof program, "%s/examples/programs/partners.yaml",
             env("TIERD_SOURCE_ROOT"));
    HARNESS_TIERCTL_OK(&h, "program", "load", program);
    HARNESS_TIERCTL_OK(&h, "partner", "put", "p-1", "--type", "reseller");

    snprintf(cmd, sizeof cmd, "LD_LIBRARY_PATH='%s' '%s/tierd-status' --url '%s' p-1 p-nobody",
             libdir, h.work, harness_url(&h));
    rc = sh(h.work, cmd, &out);
    ck_assert_msg(rc == 0, "tierd-status failed (%d): %s", rc, out);
    ck_assert_msg(strstr(out, "tierd " TIERD_VERSION " at ipc://"), "%s", out);
    ck_assert_msg(strstr(out, "\n1 partners, 0 events, 0 pending\n"), "%s", out);
    ck_assert_msg(strstr(out, "\np-1 reseller (unranked)\n"), "%s", out);
    ck_assert_msg(strstr(out, "\np-nobody: not found\n"), "%s", out);
    free(out);

    /* A daemon that is not there: exit 3, not a hang. */
    snprintf(cmd, sizeof cmd, "LD_LIBRARY_PATH='%s' '%s/tierd-status' --url 'ipc://%s/none.sock'",
             libdir, h.work, h.work);
    rc = sh(h.work, cmd, &out);
    ck_assert_msg(rc == 3, "unreachable daemon: exit %d: %s", rc, out);
    free(out);
    harness_finish(&h);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("installed_client");
    TCase *tc = tcase_create("install");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_example_client_builds_from_the_install_and_talks_to_tierd);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
