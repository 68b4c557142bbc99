/* spool: a connector that takes files dropped into a directory.
 *
 * Formats (docs/events.md for the records themselves):
 *   ndjson  one partner or event object per line (.ndjson, .jsonl)
 *   csv     a header line, then rows mapped to fields by `csv.columns` (.csv)
 *   xapi    xAPI 1.0.3 statements, one per line or a JSON array (.json,
 *           .xapi); verbs completed/passed become `xapi.metric`
 *           (certification) keyed by the object id, the partner taken from
 *           the actor's mbox through `xapi.actors` (address or domain ->
 *           partner id)
 *
 * Promises: a file is read only once it has settled (its modification time
 * is at least `settle` old, which a file renamed into place from a finished
 * temporary already is); dotfiles and *.tmp / *.part / *.err files are never
 * read. After a file is read and its items are committed it moves to done/;
 * a file with any bad line still delivers its good lines but moves to
 * failed/ next to NAME.err, which lists "NAME:LINE: problem" for each bad
 * line. Dropping a fixed file again is safe: events count once per
 * (source, id). A crash between commit and move re-reads the file, which is
 * harmless for the same reason.
 *
 * It runs its own libuv loop inside the connector process: a uv_fs_event
 * on the directory wakes it early, a periodic scan catches whatever the
 * notification missed. It does not judge events (unknown partners, times):
 * the daemon does.
 *
 * Partner attributes: an NDJSON partner line's "attrs" object, and in CSV
 * partner files the columns `csv.columns.attrs` maps to attribute keys (an
 * empty cell leaves that attribute out), go through emit_partner_attrs and
 * replace the partner's map; a host without it gets such lines refused. */
#include <errno.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>
#include <uv.h>

#include "td_attrs.h"
#include "tierd/plugin.h"

#define SPOOL_VERSION             "1.1"
#define SPOOL_LINE_MAX            (64 * 1024)
#define SPOOL_FILE_MAX            (256u * 1024 * 1024)
#define SPOOL_DEFAULT_SETTLE_MS   2000
#define SPOOL_DEFAULT_SCAN_MS     5000
#define SPOOL_WAKE_DEBOUNCE_MS    50
#define SPOOL_HEARTBEAT_MS        1000
#define SPOOL_MAX_COLUMNS         256
#define SPOOL_MAX_TYPES           32
#define SPOOL_ERR_LINES_MAX       1000
#define SPOOL_PATH_MAX            4096
#define SPOOL_DIR_MAX             2048
#define SPOOL_DEFAULT_XAPI_METRIC "certification"
#define SPOOL_DIR_MODE            0750
#define SPOOL_XAPI_VOIDED         "http://adlnet.gov/expapi/verbs/voided"

typedef enum spool_format {
    FMT_AUTO,
    FMT_NDJSON,
    FMT_CSV,
    FMT_XAPI,
} spool_format;

/* Fields a CSV row can feed. */
enum csv_field {
    CF_ID,
    CF_SOURCE,
    CF_PARTNER,
    CF_METRIC,
    CF_VALUE,
    CF_AT,
    CF_KEY,
    CF_NAME,
    CF_TYPES,
    CF_OP,
    CF_REVISION,
    CF_COUNT
};
static const char *const csv_field_names[CF_COUNT] = {
    "id", "source", "partner", "metric", "value", "at", "key", "name", "types", "op", "revision",
};

typedef struct spool {
    const tierd_host_api *api;
    tierd_host *host;
    char dir[SPOOL_DIR_MAX];
    spool_format format;
    uint64_t settle_ms;
    uint64_t scan_ms;
    const char *source;

    /* csv */
    bool csv_partners; /* rows are partners rather than events */
    char csv_delim;
    const char *csv_columns[CF_COUNT]; /* header names, NULL = unmapped */
    const char *csv_metric;            /* constant metric when unmapped */
    const char *csv_types;             /* constant types when unmapped */
    json_t *csv_attrs;                 /* attribute key -> header name, NULL = none */

    /* xapi */
    const char *xapi_metric;
    json_t *xapi_actors; /* object: address or domain -> partner id */
    json_t *xapi_verbs;  /* array of verb ids or last path segments */

    json_t *config;
    uv_loop_t loop;
    uv_fs_event_t watch;
    uv_timer_t scan_timer;
    uv_timer_t hb_timer;
    uv_async_t stop_async;
    bool watching;
    int fatal;
    td_error fatal_err;
} spool;

/* Per-file problem list written to the .err file. */
typedef struct problems {
    FILE *mem;
    char *buf;
    size_t len;
    size_t count;
    const char *file;
} problems;

static void problem(problems *p, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void problem(problems *p, size_t line, const char *fmt, ...)
{
    p->count++;
    if (p->count > SPOOL_ERR_LINES_MAX)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(p->mem, "%s:%zu: ", p->file, line);
    vfprintf(p->mem, fmt, ap);
    fputc('\n', p->mem);
    va_end(ap);
}

static uint64_t parse_ms(const char *s, uint64_t dflt, bool *ok)
{
    if (!s)
        return dflt;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    uint64_t mult = 1000;
    if (end == s || errno)
        goto bad;
    if (strcmp(end, "ms") == 0)
        mult = 1;
    else if (strcmp(end, "s") == 0 || *end == '\0')
        mult = 1000;
    else if (strcmp(end, "m") == 0)
        mult = 60000;
    else
        goto bad;
    if (v == 0 && mult != 1)
        return 0;
    if (v > UINT64_MAX / mult / 1000)
        goto bad;
    return v * mult;
bad:
    *ok = false;
    return dflt;
}

/* ---- one file ---------------------------------------------------------------- */

typedef struct csv_state {
    int index[CF_COUNT];                    /* column index per field, -1 = unmapped */
    int attr_index[TIERD_PLUGIN_ATTRS_MAX]; /* per csv.columns.attrs entry, in its order */
    size_t columns;
    bool have_header;
} csv_state;

typedef struct file_ctx {
    spool *s;
    csv_state csv;
    problems *probs;
    const char *name;
    int send_rc; /* a failed send: stop reading, keep the file */
    td_error send_err;
} file_ctx;

static void emit_failed(file_ctx *f, size_t line, const td_error *err, int rc)
{
    if (err->code == TD_INVALID_ARGUMENT) {
        problem(f->probs, line, "%s", err->message);
        return;
    }
    f->send_rc = rc;
    f->send_err = *err;
}

static void emit_event_op(file_ctx *f, size_t line, const tierd_event *ev, tierd_event_op op,
                          uint64_t revision)
{
    const tierd_host_api *api = f->s->api;
    if (op != TIERD_EVENT_NEW && !TIERD_HOST_API_HAS(api, emit_event_op)) {
        problem(f->probs, line,
                "op \"%s\": this tierd-connector predates corrections and cannot send it",
                op == TIERD_EVENT_RETRACT ? "retract" : "amend");
        return;
    }
    char origin[SPOOL_PATH_MAX];
    snprintf(origin, sizeof origin, "%s:%zu", f->name, line);
    tierd_event e = *ev;
    e.origin = origin;
    if (!e.source || !*e.source)
        e.source = f->s->source;
    td_error err;
    td_error_clear(&err);
    int rc = op == TIERD_EVENT_NEW ? api->emit_event(f->s->host, &e, &err)
                                   : api->emit_event_op(f->s->host, &e, op, revision, &err);
    if (rc)
        emit_failed(f, line, &err, rc);
}

static void emit_event(file_ctx *f, size_t line, const tierd_event *ev)
{
    emit_event_op(f, line, ev, TIERD_EVENT_NEW, 0);
}

/* "retract" or "amend" (the only ops a line may name; a new event names
 * none); false for anything else. */
static bool parse_op(const char *text, tierd_event_op *op)
{
    if (strcmp(text, "retract") == 0)
        *op = TIERD_EVENT_RETRACT;
    else if (strcmp(text, "amend") == 0)
        *op = TIERD_EVENT_AMEND;
    else
        return false;
    return true;
}

/* Whether op and revision go together: an amend needs one, nothing else
 * takes one. Reports the problem when not. */
static bool op_revision_ok(file_ctx *f, size_t line, tierd_event_op op, bool has_revision)
{
    if (op == TIERD_EVENT_AMEND && !has_revision) {
        problem(f->probs, line, "op \"amend\" needs a revision (a whole number from 1)");
        return false;
    }
    if (op != TIERD_EVENT_AMEND && has_revision) {
        problem(f->probs, line, "revision belongs only to op \"amend\"");
        return false;
    }
    return true;
}

static void emit_partner(file_ctx *f, size_t line, const tierd_partner *p)
{
    td_error err;
    td_error_clear(&err);
    int rc = f->s->api->emit_partner(f->s->host, p, &err);
    if (rc)
        emit_failed(f, line, &err, rc);
}

/* p with its whole attribute map (n pairs), which the host checks. */
static void emit_partner_attrs(file_ctx *f, size_t line, const tierd_partner *p,
                               const tierd_attr *attrs, size_t n)
{
    const tierd_host_api *api = f->s->api;
    if (!TIERD_HOST_API_HAS(api, emit_partner_attrs)) {
        problem(f->probs, line,
                "partner attributes: this tierd-connector predates them and cannot send them");
        return;
    }
    td_error err;
    td_error_clear(&err);
    int rc = api->emit_partner_attrs(f->s->host, p, attrs, n, &err);
    if (rc)
        emit_failed(f, line, &err, rc);
}

/* An NDJSON partner's "attrs" object, every value a string: the pairs in
 * *out (malloc'd, caller frees; NULL for none). False after reporting a
 * value that is no string. */
static bool ndjson_attrs(file_ctx *f, size_t line, json_t *obj, tierd_attr **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!json_is_object(obj)) {
        problem(f->probs, line, "partner: attrs must be an object of strings");
        return false;
    }
    size_t cap = json_object_size(obj);
    tierd_attr *av = calloc(cap ? cap : 1, sizeof *av);
    if (!av) {
        problem(f->probs, line, "out of memory");
        return false;
    }
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        if (!json_is_string(v)) {
            problem(f->probs, line, "partner: attribute '%.64s' must be a string", k);
            free(av);
            return false;
        }
        av[(*n)++] = (tierd_attr){k, json_string_value(v)};
    }
    *out = av;
    return true;
}

static const char *json_str(json_t *o, const char *k, bool *bad)
{
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v))
        return NULL;
    if (!json_is_string(v)) {
        *bad = true;
        return NULL;
    }
    return json_string_value(v);
}

/* {"partner":..,"name":..,"types":[..]} or an event (docs/events.md). */
static void ndjson_record(file_ctx *f, size_t line, json_t *o)
{
    if (!json_is_object(o)) {
        problem(f->probs, line, "not a JSON object");
        return;
    }
    bool bad = false;
    const char *metric = json_str(o, "metric", &bad);
    const char *partner = json_str(o, "partner", &bad);
    const char *op_text = json_str(o, "op", &bad);
    if (bad) {
        problem(f->probs, line, "metric, partner and op must be strings");
        return;
    }
    tierd_event_op op = TIERD_EVENT_NEW;
    if (op_text && !parse_op(op_text, &op)) {
        problem(f->probs, line, "op \"%.64s\": expected retract or amend", op_text);
        return;
    }
    json_t *rev = json_object_get(o, "revision");
    uint64_t revision = 0;
    if (rev && (!json_is_integer(rev) || json_integer_value(rev) < 1)) {
        problem(f->probs, line, "revision must be a whole number from 1");
        return;
    }
    if (rev)
        revision = (uint64_t)json_integer_value(rev);
    if (!op_revision_ok(f, line, op, rev != NULL))
        return;
    /* A retraction names only (source, id): no metric, yet an event. */
    if (!metric && op == TIERD_EVENT_NEW) {
        if (!partner) {
            problem(f->probs, line,
                    "neither an event (no \"metric\") nor a partner (no "
                    "\"partner\")");
            return;
        }
        const char *name = json_str(o, "name", &bad);
        json_t *types = json_object_get(o, "types");
        const char *tv[SPOOL_MAX_TYPES];
        size_t nt = 0;
        if (types && !json_is_array(types))
            bad = true;
        if (types && json_array_size(types) > SPOOL_MAX_TYPES) {
            problem(f->probs, line, "more than %d types", SPOOL_MAX_TYPES);
            return;
        }
        for (size_t i = 0; !bad && types && i < json_array_size(types); i++) {
            json_t *t = json_array_get(types, i);
            if (!json_is_string(t))
                bad = true;
            else
                tv[nt++] = json_string_value(t);
        }
        if (bad) {
            problem(f->probs, line, "partner: name must be a string, types an array of strings");
            return;
        }
        tierd_partner p = {.id = partner, .name = name, .types = tv, .n_types = nt};
        json_t *attrs = json_object_get(o, "attrs");
        if (!attrs) {
            emit_partner(f, line, &p);
            return;
        }
        tierd_attr *av;
        size_t na;
        if (ndjson_attrs(f, line, attrs, &av, &na))
            emit_partner_attrs(f, line, &p, av, na);
        free(av);
        return;
    }
    tierd_event e = {0};
    e.metric = metric;
    e.partner = partner;
    e.id = json_str(o, "id", &bad);
    e.source = json_str(o, "source", &bad);
    e.at = json_str(o, "at", &bad);
    e.key = json_str(o, "key", &bad);
    if (bad) {
        problem(f->probs, line, "id, source, at and key must be strings");
        return;
    }
    json_t *v = json_object_get(o, "value");
    if (v && !json_is_null(v)) {
        if (!json_is_number(v)) {
            problem(f->probs, line, "value must be a number");
            return;
        }
        e.value = json_number_value(v);
        e.has_value = true;
    }
    emit_event_op(f, line, &e, op, revision);
}

/* Reads lines, handing each complete one to fn; an overlong line is a
 * problem, not a crash. */
static void each_line(file_ctx *f, FILE *in, void (*fn)(file_ctx *, size_t, char *, size_t))
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    size_t lineno = 0;
    while (!f->send_rc && (n = getline(&line, &cap, in)) != -1) {
        lineno++;
        size_t len = (size_t)n;
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len > SPOOL_LINE_MAX) {
            problem(f->probs, lineno, "line longer than %d bytes", SPOOL_LINE_MAX);
            continue;
        }
        if (memchr(line, '\0', len)) {
            problem(f->probs, lineno, "line contains a NUL byte");
            continue;
        }
        fn(f, lineno, line, len);
    }
    free(line);
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t')
            return false;
    return true;
}

typedef void (*json_record_fn)(file_ctx *f, size_t lineno, json_t *o);

/* One JSON value a line (NDJSON, xAPI statements), handed to record. */
static void json_line(file_ctx *f, size_t lineno, char *line, size_t len, json_record_fn record)
{
    if (blank(line, len))
        return;
    json_error_t je;
    json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
    if (!o) {
        problem(f->probs, lineno, "column %d: %s", je.column, je.text);
        return;
    }
    record(f, lineno, o);
    json_decref(o);
}

static void ndjson_line(file_ctx *f, size_t lineno, char *line, size_t len)
{
    json_line(f, lineno, line, len, ndjson_record);
}

/* ---- csv ---------------------------------------------------------------------- */

/* Splits one RFC 4180 record in place (quoted fields, "" escapes). Records
 * spanning lines are not supported: a quoted field must close on its line. */
static int csv_split(char *line, char delim, char **fields, size_t max, size_t *n)
{
    size_t count = 0;
    char *p = line;
    for (;;) {
        if (count == max)
            return -1;
        char *out = p;
        fields[count++] = out;
        if (*p == '"') {
            p++;
            for (;;) {
                if (*p == '\0')
                    return -2;
                if (*p == '"') {
                    if (p[1] == '"') {
                        *out++ = '"';
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                *out++ = *p++;
            }
            if (*p != delim && *p != '\0')
                return -3;
        } else {
            while (*p && *p != delim)
                *out++ = *p++;
        }
        bool more = *p == delim;
        *out = '\0';
        if (!more)
            break;
        p++;
    }
    *n = count;
    return 0;
}

static void csv_header(file_ctx *f, size_t lineno, char **fields, size_t n)
{
    csv_state *cs = &f->csv;
    cs->columns = n;
    cs->have_header = true;
    for (int k = 0; k < CF_COUNT; k++) {
        cs->index[k] = -1;
        const char *want = f->s->csv_columns[k];
        if (!want)
            continue;
        for (size_t i = 0; i < n; i++)
            if (strcmp(fields[i], want) == 0)
                cs->index[k] = (int)i;
        if (cs->index[k] < 0) {
            problem(f->probs, lineno, "header has no column \"%s\" (mapped to %s)", want,
                    csv_field_names[k]);
            cs->have_header = false;
        }
    }
    size_t a = 0;
    const char *key;
    json_t *col;
    json_object_foreach(f->s->csv_attrs, key, col)
    {
        const char *want = json_string_value(col);
        cs->attr_index[a] = -1;
        for (size_t i = 0; i < n; i++)
            if (strcmp(fields[i], want) == 0)
                cs->attr_index[a] = (int)i;
        if (cs->attr_index[a] < 0) {
            problem(f->probs, lineno, "header has no column \"%s\" (mapped to attribute %s)", want,
                    key);
            cs->have_header = false;
        }
        a++;
    }
}

/* The row's attributes by csv.columns.attrs, empty cells left out; the
 * count. */
static size_t csv_attrs(const spool *s, char **fields, const csv_state *cs, tierd_attr *out)
{
    size_t a = 0, n = 0;
    const char *key;
    json_t *col;
    json_object_foreach(s->csv_attrs, key, col)
    {
        (void)col;
        const char *v = fields[cs->attr_index[a++]];
        if (*v)
            out[n++] = (tierd_attr){key, v};
    }
    return n;
}

static const char *csv_get(char **fields, const csv_state *cs, enum csv_field k)
{
    if (cs->index[k] < 0)
        return NULL;
    const char *v = fields[cs->index[k]];
    return *v ? v : NULL;
}

/* Digits only, 1 to UINT64_MAX. */
static bool parse_revision(const char *text, uint64_t *out)
{
    if (*text < '0' || *text > '9')
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (*end || errno == ERANGE || v == 0)
        return false;
    *out = v;
    return true;
}

static void csv_line(file_ctx *f, size_t lineno, char *line, size_t len)
{
    csv_state *cs = &f->csv;
    if (blank(line, len))
        return;
    char *fields[SPOOL_MAX_COLUMNS];
    size_t n = 0;
    int rc = csv_split(line, f->s->csv_delim, fields, SPOOL_MAX_COLUMNS, &n);
    if (rc == -1) {
        problem(f->probs, lineno, "more than %d columns", SPOOL_MAX_COLUMNS);
        return;
    }
    if (rc < 0) {
        problem(f->probs, lineno, "%s",
                rc == -2 ? "unterminated quoted field" : "text after a closing quote");
        return;
    }
    if (lineno == 1) {
        csv_header(f, lineno, fields, n);
        return;
    }
    if (!cs->have_header) {
        problem(f->probs, lineno, "skipped: the header line was unusable");
        return;
    }
    if (n != cs->columns) {
        problem(f->probs, lineno, "%zu columns, the header has %zu", n, cs->columns);
        return;
    }
    if (f->s->csv_partners) {
        const char *tv[SPOOL_MAX_TYPES];
        size_t nt = 0;
        const char *types = csv_get(fields, cs, CF_TYPES);
        char typebuf[SPOOL_LINE_MAX];
        snprintf(typebuf, sizeof typebuf, "%s",
                 types             ? types
                 : f->s->csv_types ? f->s->csv_types
                                   : "");
        char *save = NULL;
        for (char *t = strtok_r(typebuf, ";,|", &save); t; t = strtok_r(NULL, ";,|", &save)) {
            if (nt == SPOOL_MAX_TYPES) {
                problem(f->probs, lineno, "more than %d types", SPOOL_MAX_TYPES);
                return;
            }
            tv[nt++] = t;
        }
        tierd_partner p = {
            .id = csv_get(fields, cs, CF_PARTNER) ? csv_get(fields, cs, CF_PARTNER)
                                                  : csv_get(fields, cs, CF_ID),
            .name = csv_get(fields, cs, CF_NAME),
            .types = tv,
            .n_types = nt,
        };
        if (!f->s->csv_attrs) {
            emit_partner(f, lineno, &p);
            return;
        }
        tierd_attr av[TIERD_PLUGIN_ATTRS_MAX];
        emit_partner_attrs(f, lineno, &p, av, csv_attrs(f->s, fields, cs, av));
        return;
    }
    tierd_event e = {0};
    e.id = csv_get(fields, cs, CF_ID);
    e.source = csv_get(fields, cs, CF_SOURCE);
    e.partner = csv_get(fields, cs, CF_PARTNER);
    e.metric = csv_get(fields, cs, CF_METRIC);
    if (!e.metric)
        e.metric = f->s->csv_metric;
    e.at = csv_get(fields, cs, CF_AT);
    e.key = csv_get(fields, cs, CF_KEY);
    const char *value = csv_get(fields, cs, CF_VALUE);
    if (value) {
        char *end;
        errno = 0;
        double v = strtod(value, &end);
        if (end == value || *end != '\0' || errno == ERANGE || !isfinite(v)) {
            problem(f->probs, lineno, "value \"%.64s\" is not a finite number", value);
            return;
        }
        e.value = v;
        e.has_value = true;
    }
    tierd_event_op op = TIERD_EVENT_NEW;
    const char *op_text = csv_get(fields, cs, CF_OP);
    if (op_text && !parse_op(op_text, &op)) {
        problem(f->probs, lineno, "op \"%.64s\": expected retract, amend or nothing", op_text);
        return;
    }
    uint64_t revision = 0;
    const char *rev = csv_get(fields, cs, CF_REVISION);
    if (rev && !parse_revision(rev, &revision)) {
        problem(f->probs, lineno, "revision \"%.64s\" is not a whole number from 1", rev);
        return;
    }
    if (!op_revision_ok(f, lineno, op, rev != NULL))
        return;
    emit_event_op(f, lineno, &e, op, revision);
}

/* ---- xAPI ---------------------------------------------------------------------- */

static bool verb_matches(spool *s, const char *verb)
{
    const char *slash = strrchr(verb, '/');
    const char *last = slash ? slash + 1 : verb;
    for (size_t i = 0; i < json_array_size(s->xapi_verbs); i++) {
        const char *want = json_string_value(json_array_get(s->xapi_verbs, i));
        if (want && (strcmp(want, verb) == 0 || strcmp(want, last) == 0))
            return true;
    }
    return false;
}

static const char *actor_partner(spool *s, json_t *actor, char *why, size_t whyn)
{
    json_t *mbox = json_object_get(actor, "mbox");
    if (!json_is_string(mbox)) {
        snprintf(why, whyn, "actor has no mbox");
        return NULL;
    }
    const char *addr = json_string_value(mbox);
    if (strncmp(addr, "mailto:", strlen("mailto:")) == 0)
        addr += strlen("mailto:");
    json_t *p = json_object_get(s->xapi_actors, addr);
    const char *at = strrchr(addr, '@');
    if (!p && at)
        p = json_object_get(s->xapi_actors, at + 1);
    if (!json_is_string(p)) {
        snprintf(why, whyn, "actor %.200s maps to no partner (see xapi.actors)", addr);
        return NULL;
    }
    return json_string_value(p);
}

/* A voiding statement (xAPI 1.0.3 §2.3.2): its object is a StatementRef
 * naming the voided statement, whose event (keyed by the statement id, as
 * xapi_statement sends it) is retracted. Which verb the voided statement
 * had is not known here: voiding one that never became an event is
 * refused by the daemon as an unknown event and logged by the host. */
static void xapi_voiding(file_ctx *f, size_t where, json_t *st)
{
    json_t *obj = json_object_get(st, "object");
    json_t *type = json_object_get(obj, "objectType");
    json_t *ref = json_object_get(obj, "id");
    if (!json_is_string(type) || strcmp(json_string_value(type), "StatementRef") != 0 ||
        !json_is_string(ref)) {
        problem(f->probs, where,
                "a voiding statement needs an object of objectType StatementRef with an id");
        return;
    }
    tierd_event e = {.id = json_string_value(ref)};
    emit_event_op(f, where, &e, TIERD_EVENT_RETRACT, 0);
}

static void xapi_statement(file_ctx *f, size_t where, json_t *st)
{
    spool *s = f->s;
    if (!json_is_object(st)) {
        problem(f->probs, where, "statement is not a JSON object");
        return;
    }
    json_t *verb = json_object_get(json_object_get(st, "verb"), "id");
    if (!json_is_string(verb)) {
        problem(f->probs, where, "statement has no verb.id");
        return;
    }
    if (strcmp(json_string_value(verb), SPOOL_XAPI_VOIDED) == 0) {
        xapi_voiding(f, where, st);
        return;
    }
    if (!verb_matches(s, json_string_value(verb)))
        return; /* other verbs (attempted, experienced ...) carry no certification */
    json_t *success = json_object_get(json_object_get(st, "result"), "success");
    if (json_is_false(success))
        return;
    json_t *id = json_object_get(st, "id");
    json_t *obj = json_object_get(json_object_get(st, "object"), "id");
    json_t *ts = json_object_get(st, "timestamp");
    if (!json_is_string(ts))
        ts = json_object_get(st, "stored");
    if (!json_is_string(id) || !json_is_string(obj) || !json_is_string(ts)) {
        problem(f->probs, where, "statement lacks a string id, object.id or timestamp");
        return;
    }
    char why[512];
    const char *partner = actor_partner(s, json_object_get(st, "actor"), why, sizeof why);
    if (!partner) {
        problem(f->probs, where, "%s", why);
        return;
    }
    tierd_event e = {
        .id = json_string_value(id),
        .partner = partner,
        .metric = s->xapi_metric,
        .at = json_string_value(ts),
        .key = json_string_value(obj),
    };
    emit_event(f, where, &e);
}

static void xapi_line(file_ctx *f, size_t lineno, char *line, size_t len)
{
    json_line(f, lineno, line, len, xapi_statement);
}

/* A JSON array of statements: problems name the statement's position
 * (1-based) since jansson keeps no line numbers for values. */
static void xapi_array(file_ctx *f, FILE *in)
{
    json_error_t je;
    json_t *arr = json_loadf(in, JSON_REJECT_DUPLICATES, &je);
    if (!arr) {
        problem(f->probs, (size_t)(je.line > 0 ? je.line : 0), "column %d: %s", je.column, je.text);
        return;
    }
    if (!json_is_array(arr)) {
        problem(f->probs, 1, "not an array of statements");
    } else {
        for (size_t i = 0; i < json_array_size(arr) && !f->send_rc; i++)
            xapi_statement(f, i + 1, json_array_get(arr, i));
    }
    json_decref(arr);
}

/* ---- the spool directory ----------------------------------------------------- */

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static bool ignored(const char *name)
{
    return name[0] == '.' || ends_with(name, ".tmp") || ends_with(name, ".part") ||
           ends_with(name, ".err");
}

static spool_format format_of(spool *s, const char *name)
{
    if (s->format != FMT_AUTO)
        return s->format;
    if (ends_with(name, ".ndjson") || ends_with(name, ".jsonl"))
        return FMT_NDJSON;
    if (ends_with(name, ".csv"))
        return FMT_CSV;
    if (ends_with(name, ".json") || ends_with(name, ".xapi"))
        return FMT_XAPI;
    return FMT_AUTO;
}

static int write_err_file(spool *s, const char *name, problems *p)
{
    char path[SPOOL_PATH_MAX];
    snprintf(path, sizeof path, "%s/failed/%s.err", s->dir, name);
    FILE *out = fopen(path, "w");
    if (!out)
        return -1;
    fwrite(p->buf, 1, p->len, out);
    if (p->count > SPOOL_ERR_LINES_MAX)
        fprintf(out, "%s: %zu more problems not listed\n", name, p->count - SPOOL_ERR_LINES_MAX);
    return fclose(out);
}

static int move_file(spool *s, const char *name, const char *to)
{
    char from[SPOOL_PATH_MAX], dest[SPOOL_PATH_MAX];
    snprintf(from, sizeof from, "%s/%s", s->dir, name);
    snprintf(dest, sizeof dest, "%s/%s/%s", s->dir, to, name);
    if (rename(from, dest) != 0) {
        s->api->log(s->host, TIERD_LOG_ERROR, "cannot move %s to %s/: %s", name, to,
                    strerror(errno));
        return -1;
    }
    return 0;
}

/* Reads every item of an open file of a known format (one line each, or
 * an xAPI array), sending and counting as it goes. */
static void read_items(file_ctx *f, FILE *in, spool_format fmt)
{
    if (fmt == FMT_NDJSON) {
        each_line(f, in, ndjson_line);
    } else if (fmt == FMT_CSV) {
        each_line(f, in, csv_line);
    } else {
        int c;
        while ((c = fgetc(in)) == ' ' || c == '\t' || c == '\n' || c == '\r')
            ;
        rewind(in);
        if (c == '[')
            xapi_array(f, in);
        else
            each_line(f, in, xapi_line);
    }
}

/* Reads one settled file. Returns non-zero only when sending failed: the
 * file stays for the next start. */
static int process_file(spool *s, const char *name, off_t size)
{
    char path[SPOOL_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", s->dir, name);
    problems probs = {.file = name};
    probs.mem = open_memstream(&probs.buf, &probs.len);
    if (!probs.mem) {
        s->fatal = td_error_set(&s->fatal_err, TD_RESOURCE_EXHAUSTED, "spool: out of memory");
        return s->fatal;
    }
    file_ctx f = {.s = s, .probs = &probs, .name = name};
    spool_format fmt = format_of(s, name);
    FILE *in = NULL;
    if (fmt == FMT_AUTO) {
        problem(&probs, 0, "unknown format (expected .ndjson, .jsonl, .csv, .json or .xapi)");
    } else if ((uint64_t)size > SPOOL_FILE_MAX) {
        problem(&probs, 0, "larger than %u bytes", SPOOL_FILE_MAX);
    } else if (!(in = fopen(path, "r"))) {
        problem(&probs, 0, "cannot open: %s", strerror(errno));
    } else {
        read_items(&f, in, fmt);
    }
    if (in)
        fclose(in);
    fclose(probs.mem);

    int rc = f.send_rc;
    td_error err;
    if (!rc) {
        td_error_clear(&err);
        rc = s->api->commit(s->host, name, &err);
        if (rc)
            f.send_err = err;
    }
    if (rc) {
        s->fatal = rc;
        s->fatal_err = f.send_err;
        free(probs.buf);
        return rc;
    }
    if (probs.count) {
        s->api->log(s->host, TIERD_LOG_WARNING, "%s: %zu bad line(s); moved to failed/", name,
                    probs.count);
        if (write_err_file(s, name, &probs) != 0)
            s->api->log(s->host, TIERD_LOG_ERROR, "cannot write failed/%s.err: %s", name,
                        strerror(errno));
        move_file(s, name, "failed");
    } else {
        move_file(s, name, "done");
    }
    free(probs.buf);
    return 0;
}

static int64_t now_ms_real(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int name_cmp(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* Processes every settled file in name order; returns the delay until the
 * earliest unsettled one will have settled (0 when none is waiting). */
static uint64_t scan(spool *s)
{
    struct dirent **list = NULL;
    int n = scandir(s->dir, &list, NULL, name_cmp);
    if (n < 0) {
        s->api->log(s->host, TIERD_LOG_ERROR, "cannot read %s: %s", s->dir, strerror(errno));
        return 0;
    }
    uint64_t wait = 0;
    for (int i = 0; i < n; i++) {
        const char *name = list[i]->d_name;
        if (s->fatal || s->api->stopping(s->host) || ignored(name))
            continue;
        char path[SPOOL_PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", s->dir, name);
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        int64_t mtime = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
        int64_t age = now_ms_real() - mtime;
        if (age < (int64_t)s->settle_ms) {
            uint64_t left = s->settle_ms - (uint64_t)(age < 0 ? 0 : age);
            if (!wait || left < wait)
                wait = left;
            continue;
        }
        process_file(s, name, st.st_size);
        s->api->heartbeat(s->host);
    }
    for (int i = 0; i < n; i++)
        free(list[i]);
    free(list);
    return wait;
}

static void on_scan(uv_timer_t *t)
{
    spool *s = t->data;
    uint64_t wait = scan(s);
    if (s->fatal) {
        uv_stop(&s->loop);
        return;
    }
    /* Come back when the first waiting file settles, or at the next scan. */
    uint64_t next = wait && wait < s->scan_ms ? wait + 1 : s->scan_ms;
    uv_timer_start(&s->scan_timer, on_scan, next, 0);
}

static void on_fs_event(uv_fs_event_t *h, const char *filename, int events, int status)
{
    (void)filename;
    (void)events;
    (void)status;
    spool *s = h->data;
    uv_timer_start(&s->scan_timer, on_scan, SPOOL_WAKE_DEBOUNCE_MS, 0);
}

static void on_heartbeat(uv_timer_t *t)
{
    spool *s = t->data;
    s->api->heartbeat(s->host);
}

static void on_stop(uv_async_t *a)
{
    spool *s = a->data;
    uv_stop(&s->loop);
}

/* ---- plugin callbacks -------------------------------------------------------- */

static int make_dir(spool *s, const char *sub, td_error *err)
{
    char path[SPOOL_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", s->dir, sub);
    if (mkdir(path, SPOOL_DIR_MODE) != 0 && errno != EEXIST)
        return td_error_set(err, TD_FAILED_PRECONDITION, "spool: cannot create %s: %s", path,
                            strerror(errno));
    return 0;
}

/* csv.columns.attrs: {KEY: COLUMN, ...} for partner files, each key
 * tierd's attribute key rule (common/td_attrs.h), each column a header
 * name; a host without emit_partner_attrs cannot take it. */
static int csv_attrs_config(spool *s, td_error *err)
{
    json_t *map =
        json_object_get(json_object_get(json_object_get(s->config, "csv"), "columns"), "attrs");
    if (!map)
        return 0;
    if (!json_is_object(map) || json_object_size(map) == 0)
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "spool: csv.columns.attrs must map attribute keys to column names");
    if (!s->csv_partners)
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "spool: csv.columns.attrs is for partner files (csv.kind: partners)");
    if (json_object_size(map) > TD_MAX_ATTRS)
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "spool: csv.columns.attrs maps %zu attributes, at most %d",
                            json_object_size(map), TD_MAX_ATTRS);
    if (!TIERD_HOST_API_HAS(s->api, emit_partner_attrs))
        return td_error_set(err, TD_FAILED_PRECONDITION,
                            "spool: csv.columns.attrs needs a tierd-connector that carries "
                            "partner attributes; this one predates them");
    const char *key;
    json_t *col;
    json_object_foreach(map, key, col)
    {
        if (!attr_key_ok(key))
            return td_error_set(err, TD_INVALID_ARGUMENT,
                                "spool: csv.columns.attrs: key '%.64s' must be 1..%d bytes of "
                                "letters, digits, '_', '.' and '-'",
                                key, TD_MAX_ATTR_KEY);
        if (!json_is_string(col))
            return td_error_set(err, TD_INVALID_ARGUMENT,
                                "spool: csv.columns.attrs.%s must name a column", key);
    }
    s->csv_attrs = map;
    return 0;
}

static int spool_config(spool *s, td_error *err)
{
    const tierd_host_api *api = s->api;
    tierd_host *h = s->host;
    const char *dir = api->config_get(h, "dir");
    if (!dir || !*dir)
        return td_error_set(err, TD_INVALID_ARGUMENT, "spool: config needs `dir`");
    if (strlen(dir) >= sizeof s->dir - 64)
        return td_error_set(err, TD_INVALID_ARGUMENT, "spool: dir is too long");
    snprintf(s->dir, sizeof s->dir, "%s", dir);

    const char *fmt = api->config_get(h, "format");
    if (!fmt || strcmp(fmt, "auto") == 0)
        s->format = FMT_AUTO;
    else if (strcmp(fmt, "ndjson") == 0)
        s->format = FMT_NDJSON;
    else if (strcmp(fmt, "csv") == 0)
        s->format = FMT_CSV;
    else if (strcmp(fmt, "xapi") == 0)
        s->format = FMT_XAPI;
    else
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "spool: format \"%s\": expected auto, ndjson, csv or xapi", fmt);

    bool ok = true;
    s->settle_ms = parse_ms(api->config_get(h, "settle"), SPOOL_DEFAULT_SETTLE_MS, &ok);
    s->scan_ms = parse_ms(api->config_get(h, "scan"), SPOOL_DEFAULT_SCAN_MS, &ok);
    if (!ok || s->scan_ms == 0)
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "spool: settle and scan take durations such as 500ms, 2s, 1m "
                            "(scan above zero)");
    s->source = api->config_get(h, "source");
    if (!s->source)
        s->source = api->name(h);

    const char *kind = api->config_get(h, "csv.kind");
    if (kind && strcmp(kind, "partners") != 0 && strcmp(kind, "events") != 0)
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "spool: csv.kind \"%s\": expected events or partners", kind);
    s->csv_partners = kind && strcmp(kind, "partners") == 0;
    const char *delim = api->config_get(h, "csv.delimiter");
    if (delim && (strlen(delim) != 1 || *delim == '"'))
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "spool: csv.delimiter must be one character other than '\"'");
    s->csv_delim = delim ? *delim : ',';
    for (int k = 0; k < CF_COUNT; k++) {
        char path[64];
        snprintf(path, sizeof path, "csv.columns.%s", csv_field_names[k]);
        s->csv_columns[k] = api->config_get(h, path);
    }
    s->csv_metric = api->config_get(h, "csv.metric");
    s->csv_types = api->config_get(h, "csv.types");

    json_error_t je;
    s->config = json_loads(api->config_json(h), 0, &je);
    if (!s->config)
        return td_error_set(err, TD_INVALID_ARGUMENT, "spool: config: %s", je.text);
    json_t *xapi = json_object_get(s->config, "xapi");
    s->xapi_actors = json_object_get(xapi, "actors");
    if (s->xapi_actors && !json_is_object(s->xapi_actors))
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "spool: xapi.actors must map addresses or domains to partner ids");
    s->xapi_verbs = json_object_get(xapi, "verbs");
    if (s->xapi_verbs && !json_is_array(s->xapi_verbs))
        return td_error_set(err, TD_INVALID_ARGUMENT, "spool: xapi.verbs must be a list");
    if (!s->xapi_verbs) {
        s->xapi_verbs = json_pack("[ss]", "http://adlnet.gov/expapi/verbs/completed",
                                  "http://adlnet.gov/expapi/verbs/passed");
        json_object_set_new(s->config, "_verbs", s->xapi_verbs);
    }
    s->xapi_metric = api->config_get(h, "xapi.metric");
    if (!s->xapi_metric)
        s->xapi_metric = SPOOL_DEFAULT_XAPI_METRIC;
    return csv_attrs_config(s, err);
}

static void spool_free(spool *s)
{
    json_decref(s->config);
    free(s);
}

static int spool_init(const tierd_host_api *api, tierd_host *h, void **state, td_error *err)
{
    spool *s = calloc(1, sizeof *s);
    if (!s)
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "spool: out of memory");
    s->api = api;
    s->host = h;
    int rc = spool_config(s, err);
    struct stat st;
    if (!rc && (stat(s->dir, &st) != 0 || !S_ISDIR(st.st_mode)))
        rc = td_error_set(err, TD_FAILED_PRECONDITION, "spool: %s is not a directory", s->dir);
    if (!rc)
        rc = make_dir(s, "done", err);
    if (!rc)
        rc = make_dir(s, "failed", err);
    if (!rc && uv_loop_init(&s->loop) != 0)
        rc = td_error_set(err, TD_INTERNAL, "spool: cannot start an event loop");
    if (rc) {
        spool_free(s);
        return rc;
    }
    uv_timer_init(&s->loop, &s->scan_timer);
    uv_timer_init(&s->loop, &s->hb_timer);
    uv_async_init(&s->loop, &s->stop_async, on_stop);
    s->scan_timer.data = s->hb_timer.data = s->stop_async.data = s;
    uv_fs_event_init(&s->loop, &s->watch);
    s->watch.data = s;
    int urc = uv_fs_event_start(&s->watch, on_fs_event, s->dir, 0);
    s->watching = urc == 0;
    if (urc)
        api->log(h, TIERD_LOG_WARNING, "cannot watch %s (%s); relying on scans every %llu ms",
                 s->dir, uv_strerror(urc), (unsigned long long)s->scan_ms);
    *state = s;
    return 0;
}

static int spool_run(void *state, td_error *err)
{
    spool *s = state;
    uv_timer_start(&s->scan_timer, on_scan, 0, 0);
    uv_timer_start(&s->hb_timer, on_heartbeat, SPOOL_HEARTBEAT_MS, SPOOL_HEARTBEAT_MS);
    if (!s->api->stopping(s->host))
        uv_run(&s->loop, UV_RUN_DEFAULT);
    if (s->fatal) {
        *err = s->fatal_err;
        return s->fatal;
    }
    return 0;
}

static void spool_stop(void *state)
{
    spool *s = state;
    uv_async_send(&s->stop_async);
}

static void close_cb(uv_handle_t *h)
{
    (void)h;
}

static void spool_fini(void *state)
{
    spool *s = state;
    uv_close((uv_handle_t *)&s->scan_timer, close_cb);
    uv_close((uv_handle_t *)&s->hb_timer, close_cb);
    uv_close((uv_handle_t *)&s->stop_async, close_cb);
    uv_close((uv_handle_t *)&s->watch, close_cb);
    uv_run(&s->loop, UV_RUN_DEFAULT);
    uv_loop_close(&s->loop);
    spool_free(s);
}

static const tierd_connector spool_connector = {
    .abi_version = TIERD_PLUGIN_ABI_VERSION,
    .name = "spool",
    .version = SPOOL_VERSION,
    .init = spool_init,
    .run = spool_run,
    .stop = spool_stop,
    .fini = spool_fini,
};

const tierd_connector *tierd_connector_entry(void)
{
    return &spool_connector;
}
