/* tierctl's help, drawn from its command table (tierctl_cmd.h): the
 * overview `tierctl --help` prints, `tierctl help CMD [SUB]` and
 * `CMD --help`, and "did you mean" for a mistyped command, subcommand or
 * option. Owns wording only; it sends nothing, and a table row is all a
 * new command needs to appear here. */
#include "tierctl_cmd.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define WORD_MAX       64 /* longer words get no suggestion */
#define SHORT_MAX      40 /* "partner import FILE" in the overview */
#define SHORT_WIDTH    24 /* the overview's first column, at least */
#define OPT_SPEC_MAX   64
#define GLOBAL_OPTIONS "[--url URL] [--token T] [--json] [--timeout MS]"
#define GLOBAL_USAGE   "tierctl " GLOBAL_OPTIONS

static size_t min3(size_t a, size_t b, size_t c)
{
    size_t m = a < b ? a : b;
    return m < c ? m : c;
}

/* Edits (insert, delete, replace, swap two neighbours) from a to b. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > WORD_MAX || lb > WORD_MAX)
        return (size_t)-1;
    size_t d[WORD_MAX + 1][WORD_MAX + 1];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] != b[j - 1];
            d[i][j] = min3(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < d[i][j])
                d[i][j] = d[i - 2][j - 2] + 1;
        }
    return d[la][lb];
}

const char *tctl_closest(const char *word, const char *const *cands, size_t n)
{
    size_t len = strlen(word);
    size_t allowed = len / 3 > 1 ? len / 3 : 1;
    const char *best = NULL, *prefix_of = NULL;
    size_t best_d = allowed + 1, prefixes = 0;
    for (size_t i = 0; i < n; i++) {
        if (!cands[i])
            continue;
        size_t d = edit_distance(word, cands[i]);
        if (d < best_d && d < len) {
            best_d = d;
            best = cands[i];
        }
        /* "part" for partner: a beginning only one name has */
        if (len >= 2 && strncmp(cands[i], word, len) == 0 &&
            (!prefix_of || strcmp(prefix_of, cands[i]) != 0)) {
            prefix_of = cands[i];
            prefixes++;
        }
    }
    return best ? best : prefixes == 1 ? prefix_of : NULL;
}

/* The first word of each row: its group, or its name for a one-word
 * command (repeats are harmless). */
static const char *top_word(const command *c)
{
    return c->group ? c->group : c->name;
}

const char *tctl_closest_command(const command *cmds, size_t n, const char *word)
{
    const char *names[256];
    size_t k = 0;
    for (size_t i = 0; i < n && k < sizeof names / sizeof *names; i++)
        names[k++] = top_word(&cmds[i]);
    return tctl_closest(word, names, k);
}

const char *tctl_closest_sub(const command *cmds, size_t n, const char *group, const char *word)
{
    const char *names[256];
    size_t k = 0;
    for (size_t i = 0; i < n && k < sizeof names / sizeof *names; i++)
        if (cmds[i].group && strcmp(cmds[i].group, group) == 0)
            names[k++] = cmds[i].name;
    return tctl_closest(word, names, k);
}

const char *tctl_closest_option(const command *c, const char *word, char *buf, size_t len)
{
    char specs[MAX_OPTS][OPT_SPEC_MAX];
    const char *names[MAX_OPTS + 1];
    size_t k = 0;
    for (; k < MAX_OPTS && c->opts[k]; k++) {
        snprintf(specs[k], sizeof specs[k], "--%.*s", (int)strcspn(c->opts[k], "="), c->opts[k]);
        names[k] = specs[k];
    }
    names[k++] = "--help";
    char w[OPT_SPEC_MAX];
    snprintf(w, sizeof w, "%.*s", (int)strcspn(word, "="), word);
    const char *best = tctl_closest(w, names, k);
    if (!best)
        return NULL;
    snprintf(buf, len, "%s", best);
    return buf;
}

int tctl_unknown_command(const command *cmds, size_t n, const char *group, const char *word)
{
    const char *best =
        group ? tctl_closest_sub(cmds, n, group, word) : tctl_closest_command(cmds, n, word);
    fprintf(stderr, "tierctl: unknown %s%scommand '%s'", group ? group : "", group ? " " : "",
            word);
    if (best)
        fprintf(stderr, "; did you mean '%s'?", best);
    fprintf(stderr, "\n");
    if (group) {
        fprintf(stderr, "%s commands:", group);
        const char *sep = " ";
        for (size_t i = 0; i < n; i++)
            if (cmds[i].group && strcmp(cmds[i].group, group) == 0) {
                fprintf(stderr, "%s%s", sep, cmds[i].name);
                sep = ", ";
            }
        fprintf(stderr, " (tierctl help %s)\n", group);
    } else {
        fprintf(stderr, "tierctl --help lists every command\n");
    }
    return TCTL_EXIT_USAGE;
}

/* "partner import FILE": the usage's first line up to its first option,
 * alternative or note. */
static void short_form(const command *c, char *buf, size_t len)
{
    const char *u = c->usage;
    size_t o = 0;
    for (const char *p = u; *p && *p != '\n';) {
        while (*p == ' ')
            p++;
        if (!*p || *p == '\n' || *p == '[' || *p == '-' || *p == '|' || *p == '(')
            break;
        size_t w = strcspn(p, " \n");
        if (o + w + 2 > len)
            break;
        if (o)
            buf[o++] = ' ';
        memcpy(buf + o, p, w);
        o += w;
        p += w;
    }
    buf[o] = '\0';
}

void tctl_help_overview(FILE *f, const command *cmds, size_t n)
{
    fprintf(f, "usage: " GLOBAL_USAGE " COMMAND ...\n\ncommands:\n");
    int width = SHORT_WIDTH;
    char s[SHORT_MAX];
    for (size_t i = 0; i < n; i++) {
        short_form(&cmds[i], s, sizeof s);
        if ((int)strlen(s) > width)
            width = (int)strlen(s);
    }
    for (size_t i = 0; i < n; i++) {
        short_form(&cmds[i], s, sizeof s);
        fprintf(f, "  %-*s  %s\n", width, s, cmds[i].summary ? cmds[i].summary : "");
    }
    fprintf(f,
            "\nglobal options (before the command):\n"
            "  --url URL      the RPC endpoint; default $%s, else ipc://%s/%s\n"
            "  --token T      the bearer token; default $%s\n"
            "  --json         one JSON document per command on stdout\n"
            "  --timeout MS   how long a call may wait for tierd (default 2000)\n"
            "  --version      tierctl's version (and tierd's when it answers)\n"
            "  --help         this list\n"
            "\n'tierctl help COMMAND' or 'tierctl COMMAND --help' shows a command's options and "
            "examples.\n"
            "exit status: 0 ok, 1 refused request, 2 usage error, 3 daemon unreachable.\n",
            TD_CLIENT_URL_ENV, TD_DEFAULT_STATE_DIR, TD_RPC_SOCKET_NAME, TD_CLIENT_TOKEN_ENV);
}

/* Prints each line of text after prefix. */
static void lines(FILE *f, const char *prefix, const char *text)
{
    while (text && *text) {
        while (*text == ' ')
            text++;
        size_t len = strcspn(text, "\n");
        fprintf(f, "%s%.*s\n", prefix, (int)len, text);
        text += len;
        if (*text == '\n')
            text++;
    }
}

void tctl_help_command(FILE *f, const command *c)
{
    fprintf(f, "tierctl %s%s%s: %s\n\n", c->group ? c->group : "", c->group ? " " : "", c->name,
            c->summary ? c->summary : "");
    fprintf(f, "usage:\n");
    lines(f, "  tierctl ", c->usage);
    if (c->details) {
        fprintf(f, "\n");
        lines(f, "  ", c->details);
    }
    if (c->examples) {
        fprintf(f, "\nexamples:\n");
        lines(f, "  tierctl ", c->examples);
    }
    if (!c->offline)
        fprintf(f, "\nglobal options before the command: %s (tierctl --help)\n", GLOBAL_OPTIONS);
}

void tctl_help_group(FILE *f, const command *cmds, size_t n, const char *group)
{
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        if (!cmds[i].group || strcmp(cmds[i].group, group) != 0)
            continue;
        if (!first)
            fprintf(f, "\n");
        first = false;
        tctl_help_command(f, &cmds[i]);
    }
}

int tctl_help_topic(const command *cmds, size_t n, int argc, char **argv)
{
    if (argc == 0) {
        tctl_help_overview(stdout, cmds, n);
        return TCTL_EXIT_OK;
    }
    const char *word = argv[0];
    const command *g = NULL;
    for (size_t i = 0; i < n && !g; i++)
        if (strcmp(top_word(&cmds[i]), word) == 0)
            g = &cmds[i];
    if (!g)
        return tctl_unknown_command(cmds, n, NULL, word);
    if (!g->group) {
        if (argc > 1) {
            fprintf(stderr, "tierctl: %s has no subcommands\nusage: tierctl help [COMMAND [SUB]]\n",
                    word);
            return TCTL_EXIT_USAGE;
        }
        tctl_help_command(stdout, g);
        return TCTL_EXIT_OK;
    }
    if (argc == 1) {
        tctl_help_group(stdout, cmds, n, g->group);
        return TCTL_EXIT_OK;
    }
    if (argc > 2) {
        fprintf(stderr, "tierctl: unexpected argument '%s'\nusage: tierctl help [COMMAND [SUB]]\n",
                argv[2]);
        return TCTL_EXIT_USAGE;
    }
    for (size_t i = 0; i < n; i++)
        if (cmds[i].group && strcmp(cmds[i].group, g->group) == 0 &&
            strcmp(cmds[i].name, argv[1]) == 0) {
            tctl_help_command(stdout, &cmds[i]);
            return TCTL_EXIT_OK;
        }
    return tctl_unknown_command(cmds, n, g->group, argv[1]);
}
