/* tierctl's help read back (tierctl_help.h). */
#include "tierctl_help.h"

#include <check.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define PATH_MAX_TH  512
#define OUT_MAX      (256 * 1024)
#define TIERCTL_WAIT 10000

/* tierctl args... must exit 0; its stdout (malloc'd). */
static char *run_tierctl(const char *work, const char *const *args)
{
    const char *bin = getenv("TIERCTL_BIN");
    ck_assert_msg(bin != NULL, "TIERCTL_BIN is not set");
    char out[PATH_MAX_TH], err[PATH_MAX_TH];
    snprintf(out, sizeof out, "%s/tierctl-help.out", work);
    snprintf(err, sizeof err, "%s/tierctl-help.err", work);
    const char *argv[8] = {bin};
    int n = 1;
    for (; args[n - 1] && n < 7; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    pid_t pid = tu_spawn(argv, "/dev/null", out, err);
    int status = -1;
    ck_assert(tu_wait_exit(pid, TIERCTL_WAIT, &status));
    char *e = tu_read_file(err, OUT_MAX);
    ck_assert_msg(status == 0, "tierctl %s %s %s: exit %d: %s", args[0], args[1] ? args[1] : "",
                  args[1] && args[2] ? args[2] : "", status, e);
    free(e);
    return tu_read_file(out, OUT_MAX);
}

static int is_word_char(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '_';
}

int th_has_word(const char *text, const char *word)
{
    size_t len = strlen(word);
    for (const char *p = strstr(text, word); p; p = strstr(p + 1, word))
        if ((p == text || !is_word_char(p[-1])) && !is_word_char(p[len]))
            return 1;
    return 0;
}

const char *th_name(const th_command *c, char *buf, unsigned len)
{
    snprintf(buf, len, "%s%s%s", c->words[0], c->nwords > 1 ? " " : "", c->words[1]);
    return buf;
}

/* The lines after the line `heading` up to the next empty line, or NULL. */
static const char *block(const char *text, const char *heading, const char **end)
{
    const char *p = strstr(text, heading);
    if (!p)
        return NULL;
    p = strchr(p + 1, '\n');
    if (!p)
        return NULL;
    p++;
    const char *e = strstr(p, "\n\n");
    *end = e ? e + 1 : p + strlen(p);
    return p;
}

/* Every "--flag" in [p, end) once, into flags. */
static int flags_in(const char *p, const char *end, char (*flags)[TH_WORD_MAX], int max)
{
    int n = 0;
    for (; p + 2 < end; p++) {
        if (p[0] != '-' || p[1] != '-' || !islower((unsigned char)p[2]))
            continue;
        if (p[-1] != ' ' && p[-1] != '[' && p[-1] != '|' && p[-1] != '\n')
            continue;
        size_t len = 2;
        while (p + len < end && (islower((unsigned char)p[len]) || p[len] == '-'))
            len++;
        ck_assert_msg(len < TH_WORD_MAX, "a flag too long in tierctl's help: %.60s", p);
        char f[TH_WORD_MAX];
        snprintf(f, sizeof f, "%.*s", (int)len, p);
        int seen = 0;
        for (int i = 0; i < n; i++)
            seen |= strcmp(flags[i], f) == 0;
        if (!seen) {
            ck_assert_msg(n < max, "more flags than the test keeps");
            snprintf(flags[n++], TH_WORD_MAX, "%s", f);
        }
        p += len - 1;
    }
    return n;
}

/* One overview line "  partner list  summary": its leading lower-case
 * words (the command), before placeholders (FILE, ID) and options. */
static void command_words(const char *line, size_t len, th_command *c)
{
    const char *p = line, *end = line + len;
    while (p < end && *p == ' ')
        p++;
    const char *gap = strstr(p, "  ");
    if (!gap || gap > end)
        gap = end;
    while (p < gap && c->nwords < 2) {
        size_t w = strcspn(p, " \n");
        if ((size_t)(gap - p) < w)
            w = (size_t)(gap - p);
        int lower = w > 0;
        for (size_t i = 0; i < w; i++)
            lower &= islower((unsigned char)p[i]) || p[i] == '-';
        if (!lower)
            break;
        ck_assert_msg(w < TH_WORD_MAX, "a command word too long: %.*s", (int)w, p);
        snprintf(c->words[c->nwords++], TH_WORD_MAX, "%.*s", (int)w, p);
        p += w;
        while (p < gap && *p == ' ')
            p++;
    }
    ck_assert_msg(c->nwords > 0, "no command in tierctl --help's line: %.*s", (int)len, line);
}

void th_read(th_help *out, const char *work)
{
    memset(out, 0, sizeof *out);
    char *over = run_tierctl(work, (const char *const[]){"--help", NULL});
    const char *end = NULL;
    const char *p = block(over, "\ncommands:", &end);
    ck_assert_msg(p, "no 'commands:' in tierctl --help:\n%s", over);
    while (p < end) {
        size_t len = strcspn(p, "\n");
        if (len) {
            ck_assert_msg(out->n < TH_MAX_COMMANDS, "more commands than the test keeps");
            th_command *c = &out->cmds[out->n++];
            command_words(p, len, c);
        }
        p += len + 1;
    }
    ck_assert_msg(out->n > 0, "tierctl --help lists no command:\n%s", over);
    p = block(over, "\nglobal options", &end);
    ck_assert_msg(p, "no 'global options' in tierctl --help:\n%s", over);
    out->nglobals = flags_in(p - 1, end, out->globals, TH_MAX_FLAGS);
    ck_assert_msg(out->nglobals > 0, "no global options in tierctl --help:\n%s", over);
    free(over);

    for (int i = 0; i < out->n; i++) {
        th_command *c = &out->cmds[i];
        char *h =
            run_tierctl(work, (const char *const[]){"help", c->words[0],
                                                    c->nwords > 1 ? c->words[1] : NULL, NULL});
        p = block(h, "\nusage:", &end);
        ck_assert_msg(p, "no 'usage:' in tierctl help %s:\n%s", c->words[0], h);
        c->nflags = flags_in(p - 1, end, c->flags, TH_MAX_FLAGS);
        free(h);
    }
}
