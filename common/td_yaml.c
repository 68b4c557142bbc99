/* The YAML reader (td_yaml.h): libyaml's document API loads the text into
 * a node tree whose marks give line and column; this file adds the checks
 * every tierd file shares and the one way problems are worded.
 *
 * In common/, the pure part: no I/O, no clock. */
#include "td_yaml.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>

#include "td_alloc.h"
#include "text.h"

#define TD_YAML_MESSAGE_MAX 512
#define TD_YAML_FILE_MAX    4096 /* the longest file name quoted whole */
#define TD_YAML_LINE_MAX    (TD_YAML_FILE_MAX + TD_YAML_MESSAGE_MAX + 64)

static void vproblem_at(td_yaml *y, size_t line, size_t column, const char *fmt, va_list ap)
{
    char msg[TD_YAML_MESSAGE_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    char text[TD_YAML_LINE_MAX];
    snprintf(text, sizeof text, "%s:%zu:%zu: %s", y->file ? y->file : "", line, column, msg);
    if (y->problems++ == 0 && y->err)
        td_error_set(y->err, TD_INVALID_ARGUMENT, "%s", text);
    if (y->report)
        y->report(y->ud, text);
}

void td_yaml_problem_at(td_yaml *y, size_t line, size_t column, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vproblem_at(y, line, column, fmt, ap);
    va_end(ap);
}

void td_yaml_problem(td_yaml *y, const yaml_node_t *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vproblem_at(y, at ? at->start_mark.line + 1 : 1, at ? at->start_mark.column + 1 : 1, fmt, ap);
    va_end(ap);
}

yaml_node_t *td_yaml_node(const td_yaml *y, int id)
{
    return y->loaded ? yaml_document_get_node((yaml_document_t *)&y->doc, id) : NULL;
}

const char *td_yaml_scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

#define refuse(y, at, ...) (td_yaml_problem((y), (at), __VA_ARGS__), -(int)TD_INVALID_ARGUMENT)

int td_yaml_read_scalar(td_yaml *y, const yaml_node_t *n, const char *key, const char **out)
{
    *out = td_yaml_scalar(n);
    if (!*out)
        return refuse(y, n, "%s must be a single value", key);
    return 0;
}

int td_yaml_read_string(td_yaml *y, const yaml_node_t *n, const char *key, size_t max, char **out)
{
    const char *s = NULL;
    int rc = td_yaml_read_scalar(y, n, key, &s);
    if (rc)
        return rc;
    size_t len = strlen(s);
    if (len == 0 || len > max)
        return refuse(y, n, "%s must be 1 to %zu characters", key, max);
    free(*out);
    *out = td_xstrdup(s);
    return 0;
}

int td_yaml_read_bool(td_yaml *y, const yaml_node_t *n, const char *key, bool *out)
{
    const char *s = NULL;
    int rc = td_yaml_read_scalar(y, n, key, &s);
    if (rc)
        return rc;
    if (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0)
        *out = true;
    else if (strcmp(s, "false") == 0 || strcmp(s, "no") == 0)
        *out = false;
    else
        return refuse(y, n, "%s must be true or false, not '%.64s'", key, s);
    return 0;
}

int td_yaml_read_count(td_yaml *y, const yaml_node_t *n, const char *key, unsigned long long lo,
                       unsigned long long hi, bool name_value, unsigned long long *out)
{
    const char *s = NULL;
    int rc = td_yaml_read_scalar(y, n, key, &s);
    if (rc)
        return rc;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi) {
        if (name_value)
            return refuse(y, n, "%s must be a whole number from %llu to %llu, not '%.64s'", key, lo,
                          hi, s);
        return refuse(y, n, "%s must be a whole number from %llu to %llu", key, lo, hi);
    }
    *out = v;
    return 0;
}

static const char *kind(const td_yaml *y)
{
    return y->kind ? y->kind : "file";
}

static void out_of_memory(td_yaml *y)
{
    y->oom = true;
    if (y->err)
        td_error_set(y->err, TD_RESOURCE_EXHAUSTED, "%s: out of memory reading it",
                     y->file ? y->file : "");
}

/* libyaml reports bad UTF-8 with a byte offset and takes a NUL for the
 * end; this names the line and column of either. */
static bool check_utf8(td_yaml *y, const unsigned char *s, size_t len)
{
    size_t line = 1, col = 1;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = td_utf8_seq(s + i, len - i, &cp);
        if (n == 0) {
            td_yaml_problem_at(y, line, col, "not valid UTF-8 (byte 0x%02X)", s[i]);
            return false;
        }
        if (cp == 0) {
            td_yaml_problem_at(y, line, col, "contains a NUL byte");
            return false;
        }
        if (cp == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
        i += n;
    }
    return true;
}

/* libyaml's own refusal, at the place it names. */
static void parser_problem(td_yaml *y, const yaml_parser_t *parser)
{
    if (parser->error == YAML_MEMORY_ERROR) {
        out_of_memory(y);
        return;
    }
    td_yaml_problem_at(y, parser->problem_mark.line + 1, parser->problem_mark.column + 1,
                       "YAML: %s%s%s", parser->problem ? parser->problem : "syntax error",
                       parser->context ? " " : "", parser->context ? parser->context : "");
}

/* An alias makes a second edge to the anchored node: every node but the
 * root is reached exactly once in a tree, so the first one reached twice
 * is the anchored one. */
static bool refuse_aliases(td_yaml *y)
{
    yaml_document_t *doc = &y->doc;
    size_t n = (size_t)(doc->nodes.top - doc->nodes.start);
    unsigned char *refs = calloc(n + 1, 1);
    if (!refs) {
        out_of_memory(y);
        return false;
    }
    refs[1] = 1; /* the root, as if its parent held it */
    int twice = 0;
    for (size_t i = 0; i < n && !twice; i++) {
        yaml_node_t *nd = &doc->nodes.start[i];
        if (nd->type == YAML_SEQUENCE_NODE) {
            for (yaml_node_item_t *it = nd->data.sequence.items.start;
                 it < nd->data.sequence.items.top && !twice; it++)
                if (*it >= 1 && (size_t)*it <= n && refs[*it]++)
                    twice = *it;
        } else if (nd->type == YAML_MAPPING_NODE) {
            for (yaml_node_pair_t *pr = nd->data.mapping.pairs.start;
                 pr < nd->data.mapping.pairs.top && !twice; pr++) {
                int ids[2] = {pr->key, pr->value};
                for (int j = 0; j < 2 && !twice; j++)
                    if (ids[j] >= 1 && (size_t)ids[j] <= n && refs[ids[j]]++)
                        twice = ids[j];
            }
        }
    }
    free(refs);
    if (twice)
        td_yaml_problem(y, td_yaml_node(y, twice),
                        "YAML anchors and aliases are not allowed in a %s", kind(y));
    return !twice;
}

/* A second document is refused where it starts; the first stays. */
static void refuse_second_document(td_yaml *y, yaml_parser_t *parser)
{
    yaml_document_t second;
    if (!yaml_parser_load(parser, &second)) {
        parser_problem(y, parser);
        return;
    }
    if (yaml_document_get_root_node(&second))
        td_yaml_problem_at(y, second.start_mark.line + 1, second.start_mark.column + 1,
                           "more than one YAML document: a %s holds exactly one", kind(y));
    yaml_document_delete(&second);
}

bool td_yaml_load(td_yaml *y, const char *text, size_t len, size_t max)
{
    y->root = NULL;
    if (len > max) {
        td_yaml_problem_at(y, 1, 1, "file is %zu bytes, more than the limit of %zu", len, max);
        return false;
    }
    if (!check_utf8(y, (const unsigned char *)text, len))
        return false;
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        out_of_memory(y);
        return false;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
    if (!yaml_parser_load(&parser, &y->doc)) {
        parser_problem(y, &parser);
        yaml_parser_delete(&parser);
        return false;
    }
    y->loaded = true;
    y->root = yaml_document_get_root_node(&y->doc);
    bool walk = true;
    if (y->root) {
        refuse_second_document(y, &parser);
        walk = !y->oom && refuse_aliases(y);
    }
    yaml_parser_delete(&parser);
    if (!walk)
        y->root = NULL;
    return walk;
}

void td_yaml_free(td_yaml *y)
{
    if (y->loaded)
        yaml_document_delete(&y->doc);
    y->loaded = false;
    y->root = NULL;
}
