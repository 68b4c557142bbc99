/* tierctl(1) (docs/man/tierctl.1.scd) keeps up with tierctl's command
 * table: every command `tierctl --help` lists has an entry in COMMANDS,
 * and every flag its usage names stands in one of its entries; every
 * global option stands in GLOBAL OPTIONS. Read from the real tierctl and
 * the page's source, so a new row in the table fails here until the page
 * says what it does. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tierctl_help.h"

#define PAGE_MAX    (256 * 1024)
#define MISSING_MAX 4096
#define ENTRY_MAX   64

static char *read_page(void)
{
    char path[HARNESS_PATH_MAX];
    snprintf(path, sizeof path, "%s/docs/man/tierctl.1.scd", getenv("TIERD_SOURCE_ROOT"));
    char *page = tu_read_file(path, PAGE_MAX);
    ck_assert_msg(page[0], "cannot read %s", path);
    return page;
}

/* The text of section `title` ("# COMMANDS") up to the next section
 * (malloc'd). */
static char *section(const char *page, const char *title)
{
    const char *p = strstr(page, title);
    ck_assert_msg(p, "no section '%s' in tierctl.1.scd", title);
    p += strlen(title);
    const char *e = strstr(p, "\n# ");
    size_t len = e ? (size_t)(e - p) : strlen(p);
    char *s = malloc(len + 1);
    ck_assert(s);
    memcpy(s, p, len);
    s[len] = '\0';
    return s;
}

/* An entry: its header line (the synopsis, not indented) and the
 * indented lines under it. */
typedef struct entry {
    const char *head;
    size_t head_len;
    const char *text; /* head and body */
    size_t len;
} entry;

static size_t entries(const char *sec, entry *out, size_t max)
{
    size_t n = 0;
    entry *cur = NULL;
    for (const char *p = sec; *p;) {
        size_t len = strcspn(p, "\n");
        if (p[0] == '*') {
            ck_assert_msg(n < max, "more entries than the test keeps");
            cur = &out[n++];
            *cur = (entry){.head = p, .head_len = len, .text = p};
        } else if (len && p[0] != '\t') {
            cur = NULL; /* a comment or plain text ends the entry */
        }
        if (cur)
            cur->len = (size_t)(p + len - cur->text);
        p += len;
        if (*p)
            p++;
    }
    return n;
}

/* The header names the command: "*partner list" followed by '*' or ' '
 * ("*partner list* [..." or "*event add --op retract*"). */
static bool names(const entry *e, const char *cmd)
{
    char want[2 * TH_WORD_MAX + 2];
    snprintf(want, sizeof want, "*%s", cmd);
    size_t len = strlen(want);
    for (const char *p = e->head; p < e->head + e->head_len; p++) {
        if ((size_t)(e->head + e->head_len - p) < len + 1)
            break;
        if (strncmp(p, want, len) == 0 && (p[len] == '*' || p[len] == ' '))
            return true;
    }
    return false;
}

static void note(char *missing, const char *fmt, const char *a, const char *b)
{
    size_t used = strlen(missing);
    snprintf(missing + used, MISSING_MAX - used, "  ");
    used = strlen(missing);
    snprintf(missing + used, MISSING_MAX - used, fmt, a, b);
    used = strlen(missing);
    snprintf(missing + used, MISSING_MAX - used, "\n");
}

START_TEST(test_every_command_and_flag_in_tierctl_help_is_in_the_man_page)
{
    harness h;
    harness_init(&h);
    static th_help th;
    th_read(&th, h.work);
    char *page = read_page();
    char *cmds = section(page, "\n# COMMANDS\n");
    char *globals = section(page, "\n# GLOBAL OPTIONS\n");
    entry es[ENTRY_MAX];
    size_t n = entries(cmds, es, ENTRY_MAX);
    char missing[MISSING_MAX] = "";
    for (int i = 0; i < th.n; i++) {
        const th_command *c = &th.cmds[i];
        char name[2 * TH_WORD_MAX];
        th_name(c, name, sizeof name);
        char *text = calloc(1, strlen(cmds) + 1);
        ck_assert(text);
        for (size_t k = 0; k < n; k++)
            if (names(&es[k], name))
                strncat(text, es[k].text, es[k].len);
        if (!text[0])
            note(missing, "command %s%s: no entry", name, "");
        for (int f = 0; text[0] && f < c->nflags; f++)
            if (!th_has_word(text, c->flags[f]))
                note(missing, "command %s: flag %s not in its entry", name, c->flags[f]);
        free(text);
    }
    for (int g = 0; g < th.nglobals; g++)
        if (!th_has_word(globals, th.globals[g]))
            note(missing, "global option %s%s", th.globals[g], "");
    ck_assert_msg(th.n >= 30, "only %d commands read from tierctl --help", th.n);
    ck_assert_msg(missing[0] == '\0',
                  "docs/man/tierctl.1.scd misses what tierctl's help lists:\n%s", missing);
    free(globals);
    free(cmds);
    free(page);
    harness_cleanup(&h);
}
END_TEST

/* The check itself: a command the page does not name is caught, and a
 * flag written inside a longer word does not count. */
START_TEST(test_the_check_notices_a_missing_entry_and_partial_words)
{
    entry es[4];
    size_t n = entries("*ping*\n\tOne round trip.\n\n*partner list* [*--limit* _N_]\n\tRows.\n"
                       "; a comment\n",
                       es, 4);
    ck_assert_uint_eq(n, 2);
    ck_assert(names(&es[0], "ping"));
    ck_assert(!names(&es[0], "pin"));
    ck_assert(names(&es[1], "partner list"));
    ck_assert(!names(&es[1], "list"));
    ck_assert(th_has_word("[*--limit* _N_]", "--limit"));
    ck_assert(!th_has_word("[*--limits* _N_]", "--limit"));
    ck_assert(!th_has_word("--in-flight", "--in"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tierctl_man");
    TCase *tc = tcase_create("tierctl_man");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_every_command_and_flag_in_tierctl_help_is_in_the_man_page);
    tcase_add_test(tc, test_the_check_notices_a_missing_entry_and_partial_words);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
