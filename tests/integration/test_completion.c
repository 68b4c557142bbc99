/* tierctl's bash completion (client/completion/tierctl.bash), run in a
 * real bash the way bash calls it (COMP_WORDS, COMP_CWORD, then the
 * function), against a real tierd running examples/programs/partners.yaml:
 * commands, subcommands and flags from its table, ladder, tier and
 * partner-type names asked from the daemon, and nothing (quickly) when no
 * daemon answers. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tierctl_help.h"

#define MAX_WORDS      32
#define MISSING_MAX    4096
#define OUT_MAX        (64 * 1024)
#define BASH_WAIT_MS   10000
#define UNREACHABLE_MS 3000 /* tierctl's --timeout 500 and a little */

static harness h;

/* The candidates bash would offer for the words (the last is the word being
 * completed; words[0] is replaced by TIERCTL_BIN), one a line, sorted as
 * the function left them. Run in work/ so file names are predictable. */
static char *complete(double *secs, const char *const *words)
{
    static const char script[] = "source \"$1\"; shift; COMP_WORDS=(\"$@\");"
                                 " COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _tierctl;"
                                 " printf '%s\\n' \"${COMPREPLY[@]}\"";
    char file[HARNESS_PATH_MAX], out[HARNESS_PATH_MAX], err[HARNESS_PATH_MAX];
    snprintf(file, sizeof file, "%s/client/completion/tierctl.bash", getenv("TIERD_SOURCE_ROOT"));
    snprintf(out, sizeof out, "%s/completion.out", h.work);
    snprintf(err, sizeof err, "%s/completion.err", h.work);
    const char *argv[MAX_WORDS + 6] = {"/bin/bash", "-c", script,
                                       "bash",      file, getenv("TIERCTL_BIN")};
    int n = 6;
    for (int i = 1; words[i] && n < MAX_WORDS + 5; i++)
        argv[n++] = words[i];
    argv[n] = NULL;
    double t0 = tu_now_s();
    pid_t pid = tu_spawn(argv, "/dev/null", out, err);
    int status = -1;
    ck_assert(tu_wait_exit(pid, BASH_WAIT_MS, &status));
    if (secs)
        *secs = tu_now_s() - t0;
    char *e = tu_read_file(err, OUT_MAX);
    ck_assert_msg(status == 0 && e[0] == '\0', "bash exit %d: %s", status, e);
    free(e);
    return tu_read_file(out, OUT_MAX);
}
#define COMPLETE(...) complete(NULL, (const char *const[]){"tierctl", __VA_ARGS__, NULL})

#define ASSERT_EQ(got, want)                                                                       \
    do {                                                                                           \
        char *g_ = (got);                                                                          \
        ck_assert_msg(strcmp(g_, (want)) == 0, "got:\n%s\nwant:\n%s", g_, (want));                 \
        free(g_);                                                                                  \
    } while (0)

static void setup(void)
{
    harness_init(&h);
    char program[HARNESS_PATH_MAX];
    snprintf(program, sizeof program, "%s/examples/programs/partners.yaml",
             getenv("TIERD_SOURCE_ROOT"));
    HARNESS_START_OK(&h, "--fake-clock", "2026-11-15T00:00:00Z", "--program", program, NULL);
}

static void teardown(void)
{
    harness_finish(&h);
}

START_TEST(test_commands_and_subcommands_come_from_the_table)
{
    char *all = COMPLETE("");
    ck_assert_msg(strstr(all, "ping\n") && strstr(all, "partner\n") && strstr(all, "kpi\n") &&
                      strstr(all, "calibrate\n"),
                  "%s", all);
    ck_assert_msg(!strstr(all, "partner list"), "a subcommand offered as a command: %s", all);
    free(all);
    ASSERT_EQ(COMPLETE("pro"), "program\n");
    ASSERT_EQ(COMPLETE("program", ""), "load\nshow\n");
    ASSERT_EQ(COMPLETE("--json", "override", "c"), "clear\n");
    ASSERT_EQ(COMPLETE("--ti"), "--timeout\n");
}
END_TEST

START_TEST(test_flags_follow_the_command)
{
    ASSERT_EQ(COMPLETE("partner", "list", "--"),
              "--ladder\n--tier\n--benefit\n--where\n--at-risk\n--limit\n--page\n--help\n");
    ASSERT_EQ(COMPLETE("export", "events", "--"), "--since\n--output\n--help\n");
    ASSERT_EQ(COMPLETE("--v"), "--version\n");
    ASSERT_EQ(COMPLETE("event", "import", "x.ndjson", "--r"), "--replay\n");
    ASSERT_EQ(COMPLETE("event", "add", "--op", ""), "retract\namend\n");
    /* after a flag that takes a value, the value is free text */
    ASSERT_EQ(COMPLETE("partner", "list", "--limit", ""), "\n");
}
END_TEST

START_TEST(test_ladders_and_tiers_are_asked_from_the_daemon)
{
    const char *url = harness_url(&h);
    ASSERT_EQ(COMPLETE("--url", url, "partner", "list", "--ladder", ""),
              "reseller\nservices\ntechnology\n");
    ASSERT_EQ(COMPLETE("--url", url, "partner", "list", "--ladder", "services", "--tier", ""),
              "Certified\\ Practice\nDelivering\nLead\\ Implementer\nTrained\nunranked\n");
    ASSERT_EQ(COMPLETE("--url", url, "override", "set", "p-1", "--ladder", "=", "reseller",
                       "--tier", "S"),
              "Selling\nSpecialist\nStrategic\n");
    ASSERT_EQ(COMPLETE("--url", url, "partner", "put", "p-1", "--type", "reseller,se"),
              "reseller,services\n");
}
END_TEST

START_TEST(test_no_daemon_means_no_names_and_no_wait)
{
    char url[HARNESS_PATH_MAX];
    snprintf(url, sizeof url, "ipc://%s/nobody.sock", h.work);
    double secs = 0;
    char *got = complete(&secs, (const char *const[]){"tierctl", "--url", url, "partner", "list",
                                                      "--ladder", "", NULL});
    ASSERT_EQ(got, "\n");
    ck_assert_msg(secs * 1000 < UNREACHABLE_MS, "took %.2f s", secs);
}
END_TEST

START_TEST(test_file_arguments_complete_file_names)
{
    char path[HARNESS_PATH_MAX * 2];
    snprintf(path, sizeof path, "%s/next-program.yaml", h.work);
    ck_assert_int_eq(tu_write_file(path, "x"), 0);
    char prefix[HARNESS_PATH_MAX];
    snprintf(prefix, sizeof prefix, "%s/next-p", h.work);
    char want[HARNESS_PATH_MAX * 2 + 2];
    snprintf(want, sizeof want, "%s\n", path);
    ASSERT_EQ(COMPLETE("program", "load", prefix), want);
    ASSERT_EQ(COMPLETE("backup", prefix), want);
    ASSERT_EQ(COMPLETE("export", "partners", "--output", prefix), want);
}
END_TEST

START_TEST(test_help_completes_commands_then_subcommands)
{
    ASSERT_EQ(COMPLETE("help", "ex"), "explain\nexport\n");
    ASSERT_EQ(COMPLETE("help", "export", ""), "partners\nevents\nchanges\n");
    ASSERT_EQ(COMPLETE("help", "metrics", ""), "\n");
    ASSERT_EQ(COMPLETE("help", "export", "events", ""), "\n");
}
END_TEST

/* True when list (one candidate a line) holds word as a whole line. */
static bool offers(const char *list, const char *word)
{
    size_t len = strlen(word);
    for (const char *p = list; (p = strstr(p, word)) != NULL; p++)
        if ((p == list || p[-1] == '\n') && p[len] == '\n')
            return true;
    return false;
}

static void note_missing(char *missing, const char *what, const char *name, const char *word)
{
    size_t used = strlen(missing);
    snprintf(missing + used, MISSING_MAX - used, "  %s%s%s: %s\n", what, name ? " " : "",
             name ? name : "", word);
}

/* Everything tierctl's own help lists is offered: each command and
 * subcommand, each flag of each command (in its usage), each global
 * option. A row added to tierctl's table without its completion line
 * fails here, naming what is missing. */
START_TEST(test_every_command_and_flag_in_tierctl_help_completes)
{
    static th_help th;
    th_read(&th, h.work);
    char missing[MISSING_MAX] = "";
    char *top = COMPLETE("");
    for (int i = 0; i < th.n; i++) {
        const th_command *c = &th.cmds[i];
        char name[2 * TH_WORD_MAX];
        th_name(c, name, sizeof name);
        if (!offers(top, c->words[0]))
            note_missing(missing, "command", NULL, c->words[0]);
        if (c->nwords > 1) {
            char *subs = COMPLETE(c->words[0], "");
            if (!offers(subs, c->words[1]))
                note_missing(missing, "subcommand", c->words[0], c->words[1]);
            free(subs);
        }
        char *flags =
            c->nwords > 1 ? COMPLETE(c->words[0], c->words[1], "--") : COMPLETE(c->words[0], "--");
        for (int f = 0; f < c->nflags; f++)
            if (!offers(flags, c->flags[f]))
                note_missing(missing, "flag of", name, c->flags[f]);
        if (!offers(flags, "--help"))
            note_missing(missing, "flag of", name, "--help");
        free(flags);
    }
    free(top);
    char *globals = COMPLETE("--");
    for (int g = 0; g < th.nglobals; g++)
        if (!offers(globals, th.globals[g]))
            note_missing(missing, "global option", NULL, th.globals[g]);
    free(globals);
    ck_assert_msg(th.n >= 30, "only %d commands read from tierctl --help", th.n);
    ck_assert_msg(missing[0] == '\0',
                  "tierctl's help lists what the completion does not offer:\n%s", missing);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("completion");
    TCase *tc = tcase_create("tierctl");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_commands_and_subcommands_come_from_the_table);
    tcase_add_test(tc, test_flags_follow_the_command);
    tcase_add_test(tc, test_ladders_and_tiers_are_asked_from_the_daemon);
    tcase_add_test(tc, test_no_daemon_means_no_names_and_no_wait);
    tcase_add_test(tc, test_file_arguments_complete_file_names);
    tcase_add_test(tc, test_help_completes_commands_then_subcommands);
    tcase_add_test(tc, test_every_command_and_flag_in_tierctl_help_completes);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
