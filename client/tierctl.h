/* Internal to tierctl: the pieces its source files share. */
#ifndef TIERCTL_H
#define TIERCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "tierd/client.h"

/* Exit statuses (docs/tierctl.md, "Exit status"). */
#define TCTL_EXIT_OK          0
#define TCTL_EXIT_REFUSED     1
#define TCTL_EXIT_USAGE       2
#define TCTL_EXIT_UNREACHABLE 3

#define TCTL_NUM_STRLEN 64

typedef struct tctl {
    td_client *cli;
    bool json;
    const char *url;   /* as given on the command line; NULL = default */
    const char *token; /* as given on the command line; NULL = $TIERD_TOKEN */
    int timeout_ms;
} tctl;

/* Prints "tierctl: CODE: message" on stderr; returns 3 for an unreachable
 * daemon (TD_UNAVAILABLE), 1 for anything else. */
int tctl_fail(const td_error *err);
/* The same for a negative td_code from a call. */
int tctl_fail_rc(int rc, const td_error *err);
/* One CSV record (RFC 4180) on stdout: a field holding a comma, quote or
 * line break is quoted, its quotes doubled; NULL prints as empty. */
void tctl_csv_row(const char *const *fields, size_t n);

/* Prints the JSON document on stdout, one document per command, and frees it. */
void tctl_print_json(json_t *doc);
/* Same but on one line, for streams (watch). */
void tctl_print_json_line(json_t *doc);

/* Daemon time (seconds since the epoch; 0 = none) as RFC 3339 or JSON null. */
json_t *tctl_time_json(int64_t t);
/* "2026-05-01" when t is midnight UTC, the full RFC 3339 time otherwise, "-"
 * for none. */
void tctl_time_human(int64_t t, char *buf, size_t n);
void tctl_time_rfc3339(int64_t t, char *buf, size_t n);
/* Numbers for people: thousands separators; a fraction rounded to 4
 * significant digits, at least 2 decimals (0.9322, 12,345.68); --json keeps
 * full precision. */
void tctl_num_human(double v, char *buf, size_t n);
/* Numbers written as percentages (a threshold `80%`): 0.9322 -> "93.22%". */
void tctl_percent_human(double share, char *buf, size_t n);

/* Text in aligned columns for people: rows of cells (copied), each column
 * as wide as its widest cell (in characters, not bytes), two spaces apart,
 * the last column unpadded. */
#define TCTL_MAX_COLUMNS 32
typedef struct tctl_table {
    char **cells; /* row-major, TCTL_MAX_COLUMNS a row; NULL past a row's end */
    size_t rows, cap;
} tctl_table;
int tctl_table_init(tctl_table *tb);
/* Adds a row of n cells (at most TCTL_MAX_COLUMNS); -1 out of memory. */
int tctl_table_add(tctl_table *tb, const char *const *cells, size_t n);
void tctl_table_print(const tctl_table *tb, FILE *f);
void tctl_table_free(tctl_table *tb);

/* JSON string, or null for NULL/"" (unranked tiers, absent names). */
json_t *tctl_str_or_null(const char *s);
/* Integral values as JSON integers, others as reals, non-finite as null. */
json_t *tctl_num_json(double v);
/* JSON string that survives bytes that are not UTF-8 (they become '?'). */
json_t *tctl_str(const char *s);

/* Renderers (tierctl_render.c): JSON for scripts, text for people. */
const char *tctl_tier_name(const char *t); /* "unranked" for none */
/* A change's cause (enum Cause) as JSON and CSV spell it: "promotion", ... */
const char *tctl_cause_name(int cause);
/* What sets a demotion's date (enum DueReason): "grace_end", "review_point",
 * "grandfather_end", "next_drop", "review_deadline"; "" for none. */
const char *tctl_due_name(int reason);
json_t *tctl_tier_state_json(const Tierd__TierState *s);
void tctl_print_tier_state(const Tierd__TierState *s, const char *indent);
json_t *tctl_partner_json(const Tierd__PartnerInfo *p);
/* A benefit: name, value (null for a bare name), number (null unless the
 * value is one), ladder, tier (the one granting it). */
json_t *tctl_benefit_json(const Tierd__Benefit *b);
json_t *tctl_benefits_json(Tierd__Benefit **bs, size_t n);
#define TCTL_BENEFIT_MAX 260 /* a benefit's name or value, with room to spare */
/* "name" or "name=value". */
void tctl_benefit_text(const Tierd__Benefit *b, char *buf, size_t n);
json_t *tctl_change_json(const Tierd__TierChange *c);
void tctl_print_change(const Tierd__TierChange *c);
json_t *tctl_changes_json(const Tierd__ChangesResponse *r);
json_t *tctl_explain_json(const char *partner, const Tierd__LadderExplanation *l);
void tctl_print_explain(const Tierd__LadderExplanation *l);
/* Prints a TierState answer (override, approve, deny), frees it, returns 0. */
int tctl_print_state_answer(tctl *t, const char *partner, Tierd__TierState *s);

/* Follows tier changes until SIGINT/SIGTERM (tierctl_watch.c); returns the
 * exit status. since counts only when have_since. pub_url NULL: the PUB
 * socket when tierd publishes where the client can reach, else long-polls;
 * long_poll: long-polls alone. */
int tctl_watch(tctl *t, const char *ladder, const char *partner, bool have_since, uint64_t since,
               const char *pub_url, bool long_poll);

/* NDJSON imports (tierctl_import.c); file "-" is standard input. */
/* NDJSON imports with in_flight batches sent at once (1: strictly in file
 * order); see tierctl_import.c. */
#define TCTL_IMPORT_IN_FLIGHT     4
#define TCTL_IMPORT_IN_FLIGHT_MAX 32
/* `event import --replay` (docs/tierctl.md): sorted by event time, sent in
 * order; publish_past and no_catch_up go to IngestRequest. */
typedef struct tctl_import_opts {
    bool replay;
    bool publish_past;
    bool no_catch_up; /* every batch says more follow: the replay stays open */
} tctl_import_opts;
int tctl_import_events(tctl *t, const char *file, int in_flight, const tctl_import_opts *opts);
int tctl_import_partners(tctl *t, const char *file, int in_flight);

/* Partners on no ladder (tierctl_render.c). The program in force, for
 * tctl_no_ladder; NULL when there is none or it cannot be read (a warning
 * is a courtesy, never a failure). */
Tierd__GetProgramResponse *tctl_program_for_warnings(tctl *t);
/* When no ladder of prog takes any of types: true, with "on no ladder
 * (types: x; ladders take: a, b)" in buf. */
bool tctl_no_ladder(const Tierd__GetProgramResponse *prog, char *const *types, size_t n_types,
                    char *buf, size_t len);

/* A program file's text ("-" = standard input), malloc'd; NULL after
 * printing why, with *exit_code set. */
char *tctl_read_program(const char *path, size_t *len, int *exit_code);

/* What-if commands (tierctl_whatif.c); each returns the exit status. CSV
 * lists every partner and ladder; the others the rows with something to
 * say unless all. usage is the command's usage line for usage errors. */
typedef enum tctl_format { TCTL_FORMAT_TEXT, TCTL_FORMAT_JSON, TCTL_FORMAT_CSV } tctl_format;
int tctl_simulate(tctl *t, const char *file, const char *at, const char *partner, tctl_format fmt,
                  bool all);
int tctl_audit(tctl *t, const char *near, const char *ladder, tctl_format fmt, bool all,
               const char *usage);
/* tierctl webhook deliveries|resend (tierctl_webhook.c): pos are the
 * words after `webhook`. */
int tctl_webhook(tctl *t, const char *const *pos, int npos, bool dead, bool all_dead,
                 const char *endpoint, const char *limit, const char *usage);
/* tierctl kpi (tierctl_kpi.c): from/to are time strings or NULL. */
int tctl_kpi(tctl *t, const char *from, const char *to, const char *ladder, const char *by,
             tctl_format fmt, const char *usage);
int tctl_calibrate(tctl *t, const char *ladder, const char *target, const char *metric,
                   tctl_format fmt, const char *usage);

/* tierctl backup FILE (tierctl_backup.c): the Backup RPC into FILE,
 * written atomically and checked against tierd's size and SHA-256. */
int tctl_backup(tctl *t, const char *file);
/* tierctl export KIND (tierctl_export.c): NDJSON on stdout, or into output
 * (written atomically); since is a sequence or time for changes, a time
 * for events, NULL for all. */
int tctl_export(tctl *t, const char *kind, const char *since, const char *output,
                const char *usage);

#endif
