/* What tierctl's own help says it takes, read from the real tierctl
 * (TIERCTL_BIN): the commands `tierctl --help` lists, each command's flags
 * from the usage lines of `tierctl help CMD [SUB]`, and the global
 * options. The suites that hold the bash completion and tierctl(1) to the
 * command table read it from here, so a command added to the table and
 * forgotten there fails them. */
#ifndef TD_TEST_TIERCTL_HELP_H
#define TD_TEST_TIERCTL_HELP_H

#define TH_MAX_COMMANDS 96
#define TH_MAX_FLAGS    16
#define TH_WORD_MAX     48

typedef struct th_command {
    char words[2][TH_WORD_MAX]; /* "partner" "list"; words[1] "" for a one-word command */
    int nwords;
    char flags[TH_MAX_FLAGS][TH_WORD_MAX]; /* "--ladder", as its usage spells them */
    int nflags;
} th_command;

typedef struct th_help {
    th_command cmds[TH_MAX_COMMANDS];
    int n;
    char globals[TH_MAX_FLAGS][TH_WORD_MAX]; /* "--url", ..., "--help" */
    int nglobals;
} th_help;

/* Runs tierctl (no daemon needed) with its output in files under work and
 * fills out; fails the test when tierctl fails or its help lists no
 * command, or a line does not parse as expected. */
void th_read(th_help *out, const char *work);
/* "partner list" or "ping" into buf. */
const char *th_name(const th_command *c, char *buf, unsigned len);
/* True when text holds word as a whole word: the characters either side
 * are not letters, digits, '-' or '_'. */
int th_has_word(const char *text, const char *word);

#endif
