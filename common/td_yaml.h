/* Reading a YAML file tierd checks (a program, the daemon config with its
 * connectors): the one reader, so every such file follows the same rules
 * and every problem reads "file:line:column: message" (line and column
 * from 1).
 *
 * td_yaml_load takes text already in memory and refuses, each at the place
 * it names: text over max bytes (1:1), bytes that are not UTF-8 or a NUL
 * (at the byte), libyaml's syntax errors (where libyaml stopped), a second
 * document (where it starts) and YAML anchors and aliases (at the anchored
 * node: they let a small file expand into a huge or cyclic tree). Then the
 * caller walks y->root, reporting its own problems with td_yaml_problem.
 *
 * Each problem goes to y->report as one line (when set) and the first to
 * y->err as INVALID_ARGUMENT (when set); y->problems counts them. The
 * reader does no I/O and keeps nothing between files: the engine parses
 * program text with it.
 *
 * The td_yaml_read_* helpers check one setting's value the same way in
 * every config reader (same words, same place); each reports the problem
 * and returns -TD_INVALID_ARGUMENT, or 0 with *out set.
 *
 * In common/, the pure part: uses libyaml, text.h, td_alloc and td_error
 * only. */
#ifndef TD_YAML_H
#define TD_YAML_H

#include <stdbool.h>
#include <stddef.h>

#include <yaml.h>

#include "tierd/status.h"

typedef void (*td_yaml_report_fn)(void *ud, const char *problem);

typedef struct td_yaml {
    /* Set by the caller before td_yaml_load. */
    const char *file;         /* names the text in every problem */
    const char *kind;         /* "program file", "config file": said in whole-file refusals */
    td_yaml_report_fn report; /* every problem as a line; may be NULL */
    void *ud;
    td_error *err; /* the first problem; may be NULL */
    /* Set by td_yaml_load. */
    yaml_document_t doc;
    yaml_node_t *root; /* NULL for an empty document */
    size_t problems;
    bool loaded; /* doc holds a document td_yaml_free deletes */
    bool oom;    /* memory ran out; then err (when set) says so */
} td_yaml;

/* Loads text (len bytes) as described above. true when y->root may be
 * walked (it is NULL for text with no document); false after a problem
 * that leaves nothing to walk, or when memory ran out (y->oom). A second
 * document is a problem that still leaves the first to walk. */
bool td_yaml_load(td_yaml *y, const char *text, size_t len, size_t max);
/* Deletes the document; y may be loaded again. */
void td_yaml_free(td_yaml *y);

/* A problem at node at (1:1 when NULL), or at line and column. */
void td_yaml_problem(td_yaml *y, const yaml_node_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void td_yaml_problem_at(td_yaml *y, size_t line, size_t column, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The node with this id in the document, or NULL. */
yaml_node_t *td_yaml_node(const td_yaml *y, int id);
/* A scalar node's text, or NULL for any other node (or none). */
const char *td_yaml_scalar(const yaml_node_t *n);

/* n's text, or "KEY must be a single value". */
int td_yaml_read_scalar(td_yaml *y, const yaml_node_t *n, const char *key, const char **out);
/* A copy of 1 to max characters, freeing the old *out; else "KEY must be
 * 1 to MAX characters". */
int td_yaml_read_string(td_yaml *y, const yaml_node_t *n, const char *key, size_t max, char **out);
/* true/yes or false/no; else "KEY must be true or false, not 'TEXT'". */
int td_yaml_read_bool(td_yaml *y, const yaml_node_t *n, const char *key, bool *out);
/* A whole number lo..hi (decimal, no minus); else "KEY must be a whole
 * number from LO to HI", followed by ", not 'TEXT'" when name_value (the
 * readers that said so before keep saying so). */
int td_yaml_read_count(td_yaml *y, const yaml_node_t *n, const char *key, unsigned long long lo,
                       unsigned long long hi, bool name_value, unsigned long long *out);

#endif
