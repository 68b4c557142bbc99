/* tierctl's command table (client/tierctl.c) as the files that parse
 * command lines and print help from it see it. */
#ifndef TIERCTL_CMD_H
#define TIERCTL_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "tierctl.h"

#define MAX_OPTS    10
#define MAX_POS     2
#define MAX_REPEATS 64 /* values of repeatable options ("attr=*") in one command line */

typedef struct cmd_args {
    const char *pos[MAX_POS];
    int npos;
    /* option specs: "ladder=" takes a value, "dry-run" does not, "attr=*"
     * takes a value and may be given again (every value kept, in order) */
    const char *const *names;
    const char *val[MAX_OPTS];
    const char *rep[MAX_REPEATS]; /* repeatable options' values, in order */
    int rep_opt[MAX_REPEATS];     /* which option (index in names) each is */
    int nrep;
} cmd_args;

/* One row of the table: a command, or one subcommand of a group. */
typedef struct command {
    const char *group; /* "partner" in `partner show`; NULL for one-word commands */
    const char *name;
    const char *const opts[MAX_OPTS + 1];
    int min_pos, max_pos;
    int (*run)(tctl *t, cmd_args *a);
    const char *usage;    /* the synopsis after "tierctl "; more lines start "  " */
    const char *summary;  /* one line for `tierctl --help`, lower case, no full stop */
    const char *examples; /* command lines after "tierctl ", one a line; NULL: none */
    const char *details;  /* `help CMD` only: what else to know, one note a line; NULL: none */
    bool offline;         /* runs without a connection to tierd (help, version) */
} command;

/* Help from the table (tierctl_help.c). */
/* The list of every command with its summary, the global options and the
 * exit statuses. */
void tctl_help_overview(FILE *f, const command *cmds, size_t n);
/* One command: usage, summary, details, examples. */
void tctl_help_command(FILE *f, const command *c);
/* Every subcommand of group, as tctl_help_command prints each. */
void tctl_help_group(FILE *f, const command *cmds, size_t n, const char *group);
/* `tierctl help [CMD [SUB]]` on stdout: 0, or 2 after naming on stderr
 * what is unknown (with the closest name). */
int tctl_help_topic(const command *cmds, size_t n, int argc, char **argv);

/* "did you mean": the candidate closest to word (edit distance, at most a
 * third of the word's length and at least 1), or NULL. */
const char *tctl_closest(const char *word, const char *const *cands, size_t n);
/* The closest command or group name, the closest subcommand of group, and
 * the closest option of c ("--ladder"; word given with its dashes). */
const char *tctl_closest_command(const command *cmds, size_t n, const char *word);
const char *tctl_closest_sub(const command *cmds, size_t n, const char *group, const char *word);
const char *tctl_closest_option(const command *c, const char *word, char *buf, size_t len);
/* Prints "tierctl: unknown command 'w'; did you mean 'x'?" (or the
 * subcommand's "unknown partner command") and one line saying where to
 * look; returns 2. */
int tctl_unknown_command(const command *cmds, size_t n, const char *group, const char *word);

#endif
