/* postgres: a connector that reads partners or events from PostgreSQL
 * (and, as a sink, writes tiers back: sink.c).
 *
 * Every `interval` it runs one incremental keyset query, page after page:
 *
 *   SELECT <mapped columns>, (<cursor_column>)::text
 *   FROM <from> WHERE (<where>) AND <cursor_column> > $1
 *   ORDER BY <cursor_column> LIMIT <batch>
 *
 * and commits each page with the last cursor value it saw, so the cursor
 * and the rows before it land in the daemon in one transaction. After a
 * restart it resumes strictly after the committed value: nothing is lost,
 * and a page re-read after a crash repeats events the daemon already counts
 * once. The cursor column must grow with every new or changed row and be
 * unique (a serial id, or a change counter maintained by a trigger);
 * `$1` takes the column's own type, so the cursor is stored as its text.
 *
 * Mapping (`columns:`) gives an SQL expression per field: for events id,
 * partner, metric (or a constant `metric:`), value, at, key, source; for
 * partners (`kind: partners`) id, name, types (comma-separated or an
 * array). `at` is converted to RFC 3339 UTC by the query itself.
 *
 * Partner attributes (partners only): `attrs: {KEY: EXPR, ...}` selects
 * one more column per attribute; each row's non-NULL ones are sent as the
 * partner's whole map (emit_partner_attrs), so a NULL leaves that
 * attribute out and a value changed in the source replaces tierd's.
 *
 * Corrections (events only; examples/connectors/README.md): with
 * `revision_column` (an integer) or `updated_at_column` (a timestamp, its
 * revision the microseconds since the epoch) a row whose revision is above
 * 0 is sent as the event followed by an amend at that revision: the first
 * is a duplicate when tierd already has the event and creates it when the
 * row changed before it was first read; the amend is a duplicate when
 * tierd already has that revision. With `deleted_column` (a boolean) a row
 * where it holds is sent as a retraction. With `tombstones:` (a table of
 * deleted rows: from, cursor_column, columns.id, optionally where and
 * columns.source) every row there retracts its event; it is read after the
 * rows, by a keyset of its own, and the cursor then holds both positions
 * as {"rows":..., "tombstones":...}. Rows being read again only when the
 * cursor column moves, a change must move it (a change counter a trigger
 * bumps); a re-read after a crash repeats only duplicates.
 *
 * The config is the operator's (the same trust as tierd.yaml): expressions
 * are pasted into SQL as written. Only the cursor travels as a parameter. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "sink.h"
#include "td_attrs.h"
#include "tierd/plugin.h"

#define PG_VERSION_TEXT     "1.2"
#define PG_DEFAULT_BATCH    5000
#define PG_MAX_BATCH        100000
#define PG_DEFAULT_INTERVAL 5000
#define PG_HEARTBEAT_MS     1000
#define PG_SQL_MAX          8192
#define PG_MAX_TYPES        32
#define PG_TYPES_MAX_BYTES  1024
/* Output columns are aliased so that ORDER BY <cursor_column> can never
 * bind to an output column of the same name (PostgreSQL prefers those),
 * which would order by the cursor's text instead of its value. */
#define PG_ALIAS "tierd_c"

enum pg_field {
    PF_ID,
    PF_PARTNER,
    PF_METRIC,
    PF_VALUE,
    PF_AT,
    PF_KEY,
    PF_SOURCE,
    PF_NAME,
    PF_TYPES,
    PF_COUNT
};
/* Columns the corrections add after the mapped ones, -1 when not asked. */
typedef struct pg_correction_cols {
    int revision; /* text of a uint64 */
    int deleted;  /* "true" / "false" */
} pg_correction_cols;

/* The tombstone table's keyset query (`tombstones:`). */
typedef struct pg_tombstones {
    bool on;
    const char *cursor_column;
    int col_id, col_source, col_cursor;
    char sql_first[PG_SQL_MAX];
    char sql_next[PG_SQL_MAX];
} pg_tombstones;
static const char *const pg_field_names[PF_COUNT] = {
    "id", "partner", "metric", "value", "at", "key", "source", "name", "types",
};

typedef struct pg {
    const tierd_host_api *api;
    tierd_host *host;
    const char *conninfo;
    const char *cursor_column;
    bool partners;
    const char *metric; /* constant when not mapped */
    const char *source;
    long batch;
    long interval_ms;
    int col[PF_COUNT]; /* result column per field, -1 = unmapped */
    int cursor_col;
    const char *revision_expr; /* `revision_column` or the µs of `updated_at_column` */
    bool revision_is_time;
    const char *deleted_expr;
    pg_correction_cols corr;
    pg_tombstones tomb;
    json_t *config; /* the parsed config block, holding attr_keys' strings */
    size_t n_attrs; /* `attrs:` entries (partners) */
    const char *attr_keys[TD_MAX_ATTRS];
    const char *attr_exprs[TD_MAX_ATTRS];
    int attr_col; /* result column of the first, the others follow */
    /* Where each keyset stands: the committed cursor split (cursor_split). */
    char at_rows[TIERD_PLUGIN_CURSOR_MAX + 1];
    char at_tomb[TIERD_PLUGIN_CURSOR_MAX + 1];
    char sql_first[PG_SQL_MAX]; /* without a cursor yet */
    char sql_next[PG_SQL_MAX];
    PGconn *conn;
    int stop_pipe[2];
} pg;

static long parse_ms(const char *s, long dflt, bool *ok)
{
    if (!s)
        return dflt;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    long mult;
    if (end == s || errno || v <= 0)
        goto bad;
    if (strcmp(end, "ms") == 0)
        mult = 1;
    else if (*end == '\0' || strcmp(end, "s") == 0)
        mult = 1000;
    else if (strcmp(end, "m") == 0)
        mult = 60000;
    else
        goto bad;
    if (v > 86400000L / mult)
        goto bad;
    return v * mult;
bad:
    *ok = false;
    return dflt;
}

static int append(char *buf, size_t n, size_t *len, td_error *err, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int append(char *buf, size_t n, size_t *len, td_error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf + *len, n - *len, fmt, ap);
    va_end(ap);
    if (w < 0 || (size_t)w >= n - *len)
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "postgres: the generated query is longer than %d bytes", PG_SQL_MAX);
    *len += (size_t)w;
    return 0;
}

/* Builds both queries from the config: the select list in field order,
 * then the cursor as text. */
static int build_sql(pg *p, td_error *err)
{
    const tierd_host_api *api = p->api;
    tierd_host *h = p->host;
    const char *from = api->config_get(h, "from");
    if (!from)
        from = api->config_get(h, "table");
    if (!from)
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "postgres: config needs `from` (a table or join)");
    const char *where = api->config_get(h, "where");
    char select[PG_SQL_MAX];
    size_t len = 0;
    int ncols = 0;
    int rc = append(select, sizeof select, &len, err, "SELECT ");
    for (int k = 0; k < PF_COUNT && !rc; k++) {
        char path[64];
        snprintf(path, sizeof path, "columns.%s", pg_field_names[k]);
        const char *expr = api->config_get(h, path);
        p->col[k] = -1;
        if (!expr)
            continue;
        p->col[k] = ncols++;
        if (k == PF_AT)
            rc = append(select, sizeof select, &len, err,
                        "to_char((%s)::timestamptz AT TIME ZONE 'UTC', "
                        "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS " PG_ALIAS "%d, ",
                        expr, p->col[k]);
        else
            rc = append(select, sizeof select, &len, err, "(%s)::text AS " PG_ALIAS "%d, ", expr,
                        p->col[k]);
    }
    p->corr.revision = p->corr.deleted = -1;
    if (!rc && p->revision_expr) {
        p->corr.revision = ncols++;
        if (p->revision_is_time)
            /* Whole seconds and the microseconds apart: exact even where
             * extract returns a double (before PostgreSQL 14). */
            rc = append(select, sizeof select, &len, err,
                        "coalesce(extract(epoch FROM date_trunc('second', (%s)::timestamptz))"
                        "::bigint * 1000000 + extract(microseconds FROM (%s)::timestamptz)"
                        "::bigint %% 1000000, 0)::text AS " PG_ALIAS "%d, ",
                        p->revision_expr, p->revision_expr, p->corr.revision);
        else
            rc = append(select, sizeof select, &len, err,
                        "coalesce((%s)::bigint, 0)::text AS " PG_ALIAS "%d, ", p->revision_expr,
                        p->corr.revision);
    }
    p->attr_col = ncols;
    for (size_t a = 0; a < p->n_attrs && !rc; a++)
        rc = append(select, sizeof select, &len, err, "(%s)::text AS " PG_ALIAS "%d, ",
                    p->attr_exprs[a], ncols++);
    if (!rc && p->deleted_expr) {
        p->corr.deleted = ncols++;
        rc = append(select, sizeof select, &len, err,
                    "coalesce((%s)::boolean, false)::text AS " PG_ALIAS "%d, ", p->deleted_expr,
                    p->corr.deleted);
    }
    if (rc)
        return rc;
    p->cursor_col = ncols;
    rc = append(select, sizeof select, &len, err, "(%s)::text AS " PG_ALIAS "c FROM %s WHERE (%s)",
                p->cursor_column, from, where ? where : "true");
    if (rc)
        return rc;
    int w = snprintf(p->sql_first, sizeof p->sql_first, "%s ORDER BY %s LIMIT %ld", select,
                     p->cursor_column, p->batch);
    int w2 = snprintf(p->sql_next, sizeof p->sql_next, "%s AND (%s) > $1 ORDER BY %s LIMIT %ld",
                      select, p->cursor_column, p->cursor_column, p->batch);
    if (w < 0 || w2 < 0 || (size_t)w >= sizeof p->sql_first || (size_t)w2 >= sizeof p->sql_next)
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "postgres: the generated query is longer than %d bytes", PG_SQL_MAX);

    if (p->partners) {
        if (p->col[PF_ID] < 0)
            return td_error_set(err, TD_INVALID_ARGUMENT,
                                "postgres: kind partners needs columns.id");
    } else {
        static const enum pg_field need[] = {PF_ID, PF_PARTNER, PF_AT};
        for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
            if (p->col[need[i]] < 0)
                return td_error_set(err, TD_INVALID_ARGUMENT,
                                    "postgres: kind events needs columns.%s",
                                    pg_field_names[need[i]]);
        if (p->col[PF_METRIC] < 0 && !p->metric)
            return td_error_set(err, TD_INVALID_ARGUMENT,
                                "postgres: events need `metric:` or columns.metric");
    }
    return 0;
}

/* Reads revision_column / updated_at_column, deleted_column and
 * tombstones, refusing what cannot work: corrections of partners, both
 * revision keys, a tombstone table without its keyset or id, a host
 * without emit_event_op. */
static int corrections_config(pg *p, td_error *err)
{
    const tierd_host_api *api = p->api;
    tierd_host *h = p->host;
    const char *rev = api->config_get(h, "revision_column");
    const char *upd = api->config_get(h, "updated_at_column");
    p->deleted_expr = api->config_get(h, "deleted_column");
    const char *tomb_from = api->config_get(h, "tombstones.from");
    bool any = rev || upd || p->deleted_expr || tomb_from;
    if (!any)
        return 0;
    if (p->partners)
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "postgres: revision_column, updated_at_column, deleted_column and "
                            "tombstones are for events (kind partners has no corrections)");
    if (rev && upd)
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "postgres: give revision_column or updated_at_column, not both");
    if (!TIERD_HOST_API_HAS(api, emit_event_op))
        return td_error_set(err, TD_FAILED_PRECONDITION,
                            "postgres: corrections (revision, deletion) need a tierd-connector "
                            "that carries them; this one predates them");
    p->revision_expr = rev ? rev : upd;
    p->revision_is_time = upd != NULL;
    if (tomb_from) {
        p->tomb.on = true;
        p->tomb.cursor_column = api->config_get(h, "tombstones.cursor_column");
        if (!p->tomb.cursor_column || !api->config_get(h, "tombstones.columns.id"))
            return td_error_set(err, TD_INVALID_ARGUMENT,
                                "postgres: tombstones needs cursor_column and columns.id next to "
                                "from");
    }
    return 0;
}

/* `attrs:` ({KEY: EXPR, ...}): for partners only, keys by tierd's key rule
 * (common/td_attrs.h), at most TD_MAX_ATTRS, and a host that carries
 * attributes. */
static int attrs_config(pg *p, td_error *err)
{
    json_error_t je;
    p->config = json_loads(p->api->config_json(p->host), 0, &je);
    if (!p->config)
        return td_error_set(err, TD_INVALID_ARGUMENT, "postgres: config: %s", je.text);
    json_t *map = json_object_get(p->config, "attrs");
    if (!map)
        return 0;
    if (!p->partners)
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "postgres: attrs is for kind partners (events carry no attributes)");
    if (!json_is_object(map) || json_object_size(map) == 0)
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "postgres: attrs must map attribute keys to SQL expressions");
    if (json_object_size(map) > TD_MAX_ATTRS)
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "postgres: attrs maps %zu attributes, at most %d",
                            json_object_size(map), TD_MAX_ATTRS);
    if (!TIERD_HOST_API_HAS(p->api, emit_partner_attrs))
        return td_error_set(err, TD_FAILED_PRECONDITION,
                            "postgres: attrs needs a tierd-connector that carries partner "
                            "attributes; this one predates them");
    const char *key;
    json_t *expr;
    json_object_foreach(map, key, expr)
    {
        if (!attr_key_ok(key))
            return td_error_set(err, TD_INVALID_ARGUMENT,
                                "postgres: attrs: key '%.64s' must be 1..%d bytes of letters, "
                                "digits, '_', '.' and '-'",
                                key, TD_MAX_ATTR_KEY);
        if (!json_is_string(expr) || !*json_string_value(expr))
            return td_error_set(err, TD_INVALID_ARGUMENT,
                                "postgres: attrs.%s must be an SQL expression", key);
        p->attr_keys[p->n_attrs] = key;
        p->attr_exprs[p->n_attrs++] = json_string_value(expr);
    }
    return 0;
}

/* The tombstone keyset query: id, source (when mapped), the cursor. */
static int build_tomb_sql(pg *p, td_error *err)
{
    const tierd_host_api *api = p->api;
    tierd_host *h = p->host;
    pg_tombstones *t = &p->tomb;
    const char *from = api->config_get(h, "tombstones.from");
    const char *where = api->config_get(h, "tombstones.where");
    const char *id = api->config_get(h, "tombstones.columns.id");
    const char *source = api->config_get(h, "tombstones.columns.source");
    char select[PG_SQL_MAX];
    size_t len = 0;
    int ncols = 0;
    t->col_id = ncols++;
    int rc = append(select, sizeof select, &len, err, "SELECT (%s)::text AS " PG_ALIAS "0, ", id);
    t->col_source = -1;
    if (!rc && source) {
        t->col_source = ncols++;
        rc = append(select, sizeof select, &len, err, "(%s)::text AS " PG_ALIAS "1, ", source);
    }
    t->col_cursor = ncols;
    if (!rc)
        rc = append(select, sizeof select, &len, err,
                    "(%s)::text AS " PG_ALIAS "c FROM %s WHERE (%s)", t->cursor_column, from,
                    where ? where : "true");
    if (rc)
        return rc;
    int w = snprintf(t->sql_first, sizeof t->sql_first, "%s ORDER BY %s LIMIT %ld", select,
                     t->cursor_column, p->batch);
    int w2 = snprintf(t->sql_next, sizeof t->sql_next, "%s AND (%s) > $1 ORDER BY %s LIMIT %ld",
                      select, t->cursor_column, t->cursor_column, p->batch);
    if (w < 0 || w2 < 0 || (size_t)w >= sizeof t->sql_first || (size_t)w2 >= sizeof t->sql_next)
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "postgres: the generated query is longer than %d bytes", PG_SQL_MAX);
    return 0;
}

/* Splits the committed cursor into the two keyset positions. Without
 * tombstones it is the rows' position as it always was; with them it is
 * {"rows":..,"tombstones":..}, and a plain one (tombstones configured
 * since) is the rows' position with the tombstones from the start. */
static void cursor_split(pg *p, const char *cursor)
{
    p->at_rows[0] = p->at_tomb[0] = '\0';
    if (!cursor || !*cursor)
        return;
    json_t *j = cursor[0] == '{' ? json_loads(cursor, 0, NULL) : NULL;
    json_t *rows = json_object_get(j, "rows");
    json_t *tomb = json_object_get(j, "tombstones");
    if (json_is_string(rows) || json_is_string(tomb)) {
        snprintf(p->at_rows, sizeof p->at_rows, "%s",
                 json_is_string(rows) ? json_string_value(rows) : "");
        snprintf(p->at_tomb, sizeof p->at_tomb, "%s",
                 json_is_string(tomb) ? json_string_value(tomb) : "");
    } else {
        snprintf(p->at_rows, sizeof p->at_rows, "%s", cursor);
    }
    json_decref(j);
}

/* The cursor to commit for the current positions (malloc'd): the rows'
 * position alone without tombstones, both as JSON with them. */
static char *cursor_join(pg *p)
{
    if (!p->tomb.on)
        return strdup(p->at_rows);
    json_t *j = json_pack("{s:s, s:s}", "rows", p->at_rows, "tombstones", p->at_tomb);
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(j);
    return text;
}

static int pg_init(const tierd_host_api *api, tierd_host *h, void **state, td_error *err)
{
    pg *p = calloc(1, sizeof *p);
    if (!p)
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "postgres: out of memory");
    p->api = api;
    p->host = h;
    p->stop_pipe[0] = p->stop_pipe[1] = -1;
    int rc = 0;
    p->conninfo = api->config_get(h, "conninfo");
    p->cursor_column = api->config_get(h, "cursor_column");
    const char *kind = api->config_get(h, "kind");
    p->metric = api->config_get(h, "metric");
    p->source = api->config_get(h, "source");
    bool ok = true;
    p->interval_ms = parse_ms(api->config_get(h, "interval"), PG_DEFAULT_INTERVAL, &ok);
    const char *batch = api->config_get(h, "batch");
    p->batch = PG_DEFAULT_BATCH;
    if (batch) {
        char *end;
        p->batch = strtol(batch, &end, 10);
        if (*end || p->batch <= 0 || p->batch > PG_MAX_BATCH)
            ok = false;
    }
    if (!p->conninfo)
        rc = td_error_set(err, TD_INVALID_ARGUMENT, "postgres: config needs `conninfo`");
    else if (!p->cursor_column)
        rc = td_error_set(err, TD_INVALID_ARGUMENT,
                          "postgres: config needs `cursor_column` (the keyset column)");
    else if (kind && strcmp(kind, "events") != 0 && strcmp(kind, "partners") != 0)
        rc = td_error_set(err, TD_INVALID_ARGUMENT,
                          "postgres: kind \"%s\": expected events or partners", kind);
    else if (!ok)
        rc = td_error_set(err, TD_INVALID_ARGUMENT,
                          "postgres: interval takes a duration (500ms, 5s, 1m); batch a count "
                          "from 1 to %d",
                          PG_MAX_BATCH);
    if (!rc) {
        p->partners = kind && strcmp(kind, "partners") == 0;
        rc = corrections_config(p, err);
    }
    if (!rc)
        rc = attrs_config(p, err);
    if (!rc)
        rc = build_sql(p, err);
    if (!rc && p->tomb.on)
        rc = build_tomb_sql(p, err);
    if (!rc)
        cursor_split(p, api->cursor(h));
    if (!rc && pipe2(p->stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
        rc = td_error_set(err, TD_INTERNAL, "postgres: pipe: %s", strerror(errno));
    if (rc) {
        if (p->stop_pipe[0] >= 0) {
            close(p->stop_pipe[0]);
            close(p->stop_pipe[1]);
        }
        json_decref(p->config);
        free(p);
        return rc;
    }
    if (!p->source)
        p->source = api->name(h);
    *state = p;
    return 0;
}

static int connect_db(pg *p, td_error *err)
{
    if (p->conn && PQstatus(p->conn) == CONNECTION_OK)
        return 0;
    if (p->conn)
        PQfinish(p->conn);
    p->conn = PQconnectdb(p->conninfo);
    if (PQstatus(p->conn) != CONNECTION_OK) {
        /* The host restarts us with back-off; the server may come back. */
        td_error_set(err, TD_UNAVAILABLE, "postgres: cannot connect: %s", PQerrorMessage(p->conn));
        PQfinish(p->conn);
        p->conn = NULL;
        return -(int)TD_UNAVAILABLE;
    }
    return 0;
}

static const char *field(PGresult *res, int row, int col)
{
    if (col < 0 || PQgetisnull(res, row, col))
        return NULL;
    return PQgetvalue(res, row, col);
}

static void row_problem(pg *p, const char *cursor, const td_error *e)
{
    p->api->log(p->host, TIERD_LOG_WARNING, "row %s=%s skipped: %s", p->cursor_column, cursor,
                e->message);
}

/* Sends the event of a row as its correction columns say: a retraction
 * when deleted, the event and an amend at its revision when that is above
 * 0 (see the top of the file), else the event alone. */
static int emit_corrected(pg *p, PGresult *res, int r, tierd_event *ev, const char *cursor,
                          td_error *e)
{
    const char *deleted = field(res, r, p->corr.deleted);
    if (deleted && strcmp(deleted, "true") == 0) {
        tierd_event gone = {.id = ev->id, .source = ev->source, .origin = ev->origin};
        return p->api->emit_event_op(p->host, &gone, TIERD_EVENT_RETRACT, 0, e);
    }
    const char *rev = field(res, r, p->corr.revision);
    uint64_t revision = 0;
    if (rev) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(rev, &end, 10);
        if (rev[0] == '-' || end == rev || *end || errno == ERANGE) {
            td_error_set(e, TD_INVALID_ARGUMENT,
                         "revision \"%.64s\" is not a whole number of 0 "
                         "or more",
                         rev);
            row_problem(p, cursor ? cursor : "", e);
            td_error_clear(e);
            return 0;
        }
        revision = v;
    }
    int rc = p->api->emit_event(p->host, ev, e);
    if (rc || revision == 0)
        return rc;
    return p->api->emit_event_op(p->host, ev, TIERD_EVENT_AMEND, revision, e);
}

/* Emits one row; a malformed row is logged and skipped, a failed send is
 * returned. */
static int emit_row(pg *p, PGresult *res, int r, td_error *err)
{
    const char *cursor = field(res, r, p->cursor_col);
    td_error e;
    td_error_clear(&e);
    int rc;
    if (p->partners) {
        const char *types = field(res, r, p->col[PF_TYPES]);
        char buf[PG_TYPES_MAX_BYTES];
        const char *tv[PG_MAX_TYPES];
        size_t nt = 0;
        snprintf(buf, sizeof buf, "%s", types ? types : "");
        /* A text[] column arrives as {a,b}; a text one as a,b. */
        char *list = buf;
        size_t blen = strlen(buf);
        if (blen >= 2 && buf[0] == '{' && buf[blen - 1] == '}') {
            buf[blen - 1] = '\0';
            list = buf + 1;
        }
        char *save = NULL;
        for (char *t = strtok_r(list, ", \"", &save); t && nt < PG_MAX_TYPES;
             t = strtok_r(NULL, ", \"", &save))
            tv[nt++] = t;
        tierd_partner pt = {
            .id = field(res, r, p->col[PF_ID]),
            .name = field(res, r, p->col[PF_NAME]),
            .types = tv,
            .n_types = nt,
        };
        if (p->n_attrs) {
            tierd_attr av[TD_MAX_ATTRS];
            size_t na = 0;
            for (size_t a = 0; a < p->n_attrs; a++) {
                const char *v = field(res, r, p->attr_col + (int)a);
                if (v) /* NULL: the partner has no such attribute */
                    av[na++] = (tierd_attr){p->attr_keys[a], v};
            }
            rc = p->api->emit_partner_attrs(p->host, &pt, av, na, &e);
        } else {
            rc = p->api->emit_partner(p->host, &pt, &e);
        }
    } else {
        char origin[TIERD_PLUGIN_ID_MAX];
        snprintf(origin, sizeof origin, "row %s=%.128s", p->cursor_column, cursor ? cursor : "");
        tierd_event ev = {
            .id = field(res, r, p->col[PF_ID]),
            .source = field(res, r, p->col[PF_SOURCE]),
            .partner = field(res, r, p->col[PF_PARTNER]),
            .metric = field(res, r, p->col[PF_METRIC]),
            .at = field(res, r, p->col[PF_AT]),
            .key = field(res, r, p->col[PF_KEY]),
            .origin = origin,
        };
        if (!ev.source)
            ev.source = p->source;
        if (!ev.metric)
            ev.metric = p->metric;
        const char *value = field(res, r, p->col[PF_VALUE]);
        if (value) {
            char *end;
            errno = 0;
            ev.value = strtod(value, &end);
            if (end == value || *end || errno == ERANGE || !isfinite(ev.value)) {
                td_error_set(&e, TD_INVALID_ARGUMENT, "value \"%.64s\" is not a finite number",
                             value);
                row_problem(p, cursor ? cursor : "", &e);
                return 0;
            }
            ev.has_value = true;
        }
        rc = emit_corrected(p, res, r, &ev, cursor, &e);
    }
    if (rc && e.code == TD_INVALID_ARGUMENT) {
        row_problem(p, cursor ? cursor : "", &e);
        return 0;
    }
    if (rc)
        *err = e;
    return rc;
}

/* A tombstone row: retracts its event. */
static int emit_tombstone(pg *p, PGresult *res, int r, td_error *err)
{
    const char *cursor = field(res, r, p->tomb.col_cursor);
    char origin[TIERD_PLUGIN_ID_MAX];
    snprintf(origin, sizeof origin, "tombstone %s=%.128s", p->tomb.cursor_column,
             cursor ? cursor : "");
    tierd_event gone = {
        .id = field(res, r, p->tomb.col_id),
        .source = field(res, r, p->tomb.col_source),
        .origin = origin,
    };
    if (!gone.source)
        gone.source = p->source;
    td_error e;
    td_error_clear(&e);
    int rc = p->api->emit_event_op(p->host, &gone, TIERD_EVENT_RETRACT, 0, &e);
    if (rc && e.code == TD_INVALID_ARGUMENT) {
        p->api->log(p->host, TIERD_LOG_WARNING, "%s skipped: %s", origin, e.message);
        return 0;
    }
    if (rc)
        *err = e;
    return rc;
}

/* One keyset: the rows of the table, or the tombstones. */
typedef struct pg_keyset {
    const char *sql_first, *sql_next;
    const char *cursor_column;
    int cursor_col;
    char *at; /* p->at_rows or p->at_tomb */
    int (*emit)(pg *p, PGresult *res, int r, td_error *err);
} pg_keyset;

/* Reads pages of k until one comes back short, committing after each the
 * position it reached (with the other keyset's unchanged). */
static int poll_keyset(pg *p, const pg_keyset *k, td_error *err)
{
    for (;;) {
        if (p->api->stopping(p->host))
            return 0;
        PGresult *res;
        if (k->at[0]) {
            const char *params[1] = {k->at};
            res = PQexecParams(p->conn, k->sql_next, 1, NULL, params, NULL, NULL, 0);
        } else {
            res = PQexec(p->conn, k->sql_first);
        }
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            bool lost = PQstatus(p->conn) != CONNECTION_OK;
            int rc = td_error_set(err, lost ? TD_UNAVAILABLE : TD_FAILED_PRECONDITION,
                                  "postgres: query failed: %s", PQresultErrorMessage(res));
            PQclear(res);
            return rc;
        }
        int rows = PQntuples(res);
        if (PQnfields(res) != k->cursor_col + 1) {
            PQclear(res);
            return td_error_set(err, TD_INTERNAL, "postgres: unexpected column count");
        }
        int rc = 0;
        for (int r = 0; r < rows && !rc; r++)
            rc = k->emit(p, res, r, err);
        if (!rc && rows > 0) {
            const char *last = field(res, rows - 1, k->cursor_col);
            if (!last) {
                rc = td_error_set(err, TD_FAILED_PRECONDITION,
                                  "postgres: cursor_column %s is NULL in a row; it must never "
                                  "be",
                                  k->cursor_column);
            } else if (strlen(last) > TIERD_PLUGIN_CURSOR_MAX) {
                rc = td_error_set(err, TD_FAILED_PRECONDITION,
                                  "postgres: cursor_column %s holds more than %d bytes",
                                  k->cursor_column, TIERD_PLUGIN_CURSOR_MAX);
            } else {
                char before[TIERD_PLUGIN_CURSOR_MAX + 1];
                snprintf(before, sizeof before, "%s", k->at);
                snprintf(k->at, TIERD_PLUGIN_CURSOR_MAX + 1, "%s", last);
                char *cursor = cursor_join(p);
                rc = cursor ? p->api->commit(p->host, cursor, err)
                            : td_error_set(err, TD_RESOURCE_EXHAUSTED, "postgres: out of memory");
                free(cursor);
                if (rc) /* not committed: the next poll starts where the last commit left */
                    snprintf(k->at, TIERD_PLUGIN_CURSOR_MAX + 1, "%s", before);
            }
        }
        PQclear(res);
        if (rc)
            return rc;
        if (rows < p->batch)
            return 0;
    }
}

/* Reads the rows, then the tombstones. */
static int poll_once(pg *p, td_error *err)
{
    int rc = connect_db(p, err);
    if (rc)
        return rc;
    pg_keyset rows = {p->sql_first,  p->sql_next, p->cursor_column,
                      p->cursor_col, p->at_rows,  emit_row};
    rc = poll_keyset(p, &rows, err);
    if (rc || !p->tomb.on)
        return rc;
    pg_keyset tomb = {p->tomb.sql_first,  p->tomb.sql_next, p->tomb.cursor_column,
                      p->tomb.col_cursor, p->at_tomb,       emit_tombstone};
    return poll_keyset(p, &tomb, err);
}

static int pg_run(void *state, td_error *err)
{
    pg *p = state;
    while (!p->api->stopping(p->host)) {
        int rc = poll_once(p, err);
        if (rc)
            return rc;
        /* Sleep until the next poll, waking early on stop, beating on the way. */
        long left = p->interval_ms;
        while (left > 0 && !p->api->stopping(p->host)) {
            long slice = left < PG_HEARTBEAT_MS ? left : PG_HEARTBEAT_MS;
            struct pollfd pfd = {.fd = p->stop_pipe[0], .events = POLLIN};
            if (poll(&pfd, 1, (int)slice) > 0)
                break;
            left -= slice;
            p->api->heartbeat(p->host);
        }
    }
    return 0;
}

static void pg_stop(void *state)
{
    pg *p = state;
    char b = 1;
    ssize_t w = write(p->stop_pipe[1], &b, 1);
    (void)w;
}

static void pg_fini(void *state)
{
    pg *p = state;
    if (p->conn)
        PQfinish(p->conn);
    close(p->stop_pipe[0]);
    close(p->stop_pipe[1]);
    json_decref(p->config);
    free(p);
}

static const tierd_connector pg_connector = {
    .abi_version = TIERD_PLUGIN_ABI_VERSION,
    .name = "postgres",
    .version = PG_VERSION_TEXT,
    .init = pg_init,
    .run = pg_run,
    .stop = pg_stop,
    .fini = pg_fini,
    .sink = &postgres_sink,
};

const tierd_connector *tierd_connector_entry(void)
{
    return &pg_connector;
}
