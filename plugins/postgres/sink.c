/* The postgres plugin's sink direction (`direction: sink`): each partner's
 * tier per ladder, written into a table of the CRM's database.
 *
 * One row per (partner, ladder): the tier held now (NULL = unranked), since
 * when, the benefits held on that ladder as a JSON object (name: value, a
 * number when the value is one, true for a bare name) and the sequence of
 * the last change applied. The row is the partner's standing as tierd
 * reported it with the batch (tierd_tier_change.tier, since, benefits),
 * not a sum of the changes' benefits_gained and benefits_lost, so it is
 * right even when the first change the table sees is not the partner's
 * first, or an override or a new program version moved the benefits.
 *
 * Each batch is one transaction: one row per (partner, ladder), its latest
 * change's, COPYed into a temporary table, then
 *
 *   INSERT ... SELECT ... FROM the temporary table
 *   ON CONFLICT (partner, ladder) DO UPDATE ... WHERE row.sequence <= new.sequence
 *
 * so a batch delivered twice (after a crash, before its ack) rewrites the
 * same rows and an older batch can never overwrite a newer one. A partner
 * deleted in tierd loses its rows the same way, guarded by the sequence.
 *
 * Config: conninfo, table ([schema.]name), create_table (true: create it
 * when missing). An existing table must have the columns partner, ladder,
 * tier (text), since (timestamptz), benefits (jsonb or json), sequence
 * (bigint) and a unique key on (partner, ladder); anything else is refused
 * at open with a message saying what is missing. A column updated_at, when
 * present, is set to now() on every write. */
#include "sink.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#define SINK_SQL_MAX   4096
#define SINK_TABLE_MAX 128
#define SINK_TEMP      "tierd_sink_in"

typedef struct buf {
    char *p;
    size_t n, cap;
} buf;

typedef struct pgsink {
    const tierd_host_api *api;
    tierd_host *host;
    const char *conninfo;
    char table[SINK_TABLE_MAX + 1];
    bool has_updated_at;
    PGconn *conn;
    buf rows;
    buf tmp;
    const tierd_tier_change **sorted; /* receive's changes, one per row first */
    size_t cap_sorted;
} pgsink;

static void buf_reserve(buf *b, size_t more)
{
    if (b->n + more <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 1 << 16;
    while (cap < b->n + more)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p)
        abort();
    b->p = p;
    b->cap = cap;
}

static void buf_add(buf *b, const char *s, size_t n)
{
    buf_reserve(b, n);
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void buf_fmt(buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    buf_reserve(b, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)n;
}

/* s as a field of COPY's text format: backslash, tab, newline and CR
 * escaped, so no value can end a field or a row. */
static void copy_text(buf *b, const char *s, size_t n)
{
    buf_reserve(b, 2 * n);
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\\' || c == '\t' || c == '\n' || c == '\r') {
            b->p[b->n++] = '\\';
            c = c == '\t' ? 't' : c == '\n' ? 'n' : c == '\r' ? 'r' : '\\';
        }
        b->p[b->n++] = c;
    }
}

/* s as a JSON string, quotes included. */
static void json_string(buf *b, const char *s)
{
    buf_add(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            char e[2] = {'\\', (char)*p};
            buf_add(b, e, 2);
        } else if (*p < 0x20) {
            buf_fmt(b, "\\u%04x", *p);
        } else {
            buf_add(b, (const char *)p, 1);
        }
    }
    buf_add(b, "\"", 1);
}

/* The benefits as a JSON object into b. */
static void benefits_json(buf *b, const tierd_benefit *bs, size_t n)
{
    buf_add(b, "{", 1);
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_add(b, ",", 1);
        json_string(b, bs[i].name);
        buf_add(b, ":", 1);
        if (bs[i].has_number && isfinite(bs[i].number))
            buf_fmt(b, "%.17g", bs[i].number);
        else if (bs[i].value[0])
            json_string(b, bs[i].value);
        else
            buf_add(b, "true", 4);
    }
    buf_add(b, "}", 1);
}

static void copy_time(buf *b, int64_t t)
{
    if (t == 0) {
        buf_add(b, "\\N", 2);
        return;
    }
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    char s[40];
    size_t n = strftime(s, sizeof s, "%Y-%m-%d %H:%M:%S+00", &tm);
    buf_add(b, s, n);
}

/* One COPY row: partner, ladder, tier, since, benefits, sequence, found. */
static void copy_row(pgsink *s, const tierd_tier_change *c)
{
    buf *b = &s->rows;
    copy_text(b, c->partner, strlen(c->partner));
    buf_add(b, "\t", 1);
    copy_text(b, c->ladder, strlen(c->ladder));
    buf_add(b, "\t", 1);
    if (c->tier[0])
        copy_text(b, c->tier, strlen(c->tier));
    else
        buf_add(b, "\\N", 2);
    buf_add(b, "\t", 1);
    copy_time(b, c->found ? c->since : 0);
    buf_add(b, "\t", 1);
    s->tmp.n = 0;
    benefits_json(&s->tmp, c->benefits, c->n_benefits);
    copy_text(b, s->tmp.p, s->tmp.n);
    buf_fmt(b, "\t%llu\t%s\n", (unsigned long long)c->sequence, c->found ? "t" : "f");
}

/* An error from the server or the connection: TD_UNAVAILABLE when the
 * connection is gone (the host retries with back-off), else code. */
static int pg_fail(pgsink *s, td_code code, td_error *err, const char *what)
{
    const char *msg = PQerrorMessage(s->conn);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        n--;
    if (PQstatus(s->conn) == CONNECTION_BAD)
        code = TD_UNAVAILABLE;
    return td_error_set(err, code, "postgres sink, table %s: %s: %.*s", s->table, what, (int)n,
                        msg);
}

/* Runs sql, wanting status; 0 or pg_fail's code (code unless the
 * connection is gone). */
static int exec(pgsink *s, const char *sql, ExecStatusType want, td_code code, td_error *err,
                const char *what)
{
    PGresult *r = PQexec(s->conn, sql);
    int rc = PQresultStatus(r) == want ? 0 : pg_fail(s, code, err, what);
    if (rc && PQresultErrorMessage(r)[0]) {
        const char *msg = PQresultErrorMessage(r);
        size_t n = strcspn(msg, "\n");
        td_error_set(err, err->code, "postgres sink, table %s: %s: %.*s", s->table, what, (int)n,
                     msg);
    }
    PQclear(r);
    return rc;
}

static bool valid_table(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > SINK_TABLE_MAX || t[0] == '.' || t[n - 1] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.'))
            return false;
    }
    return true;
}

/* Column name, the types it may have, and how to say them. */
static const struct {
    const char *name;
    const char *types[3];
    const char *want;
} sink_columns[] = {
    {"partner", {"text", "character varying"}, "text"},
    {"ladder", {"text", "character varying"}, "text"},
    {"tier", {"text", "character varying"}, "text"},
    {"since", {"timestamp with time zone"}, "timestamptz"},
    {"benefits", {"jsonb", "json"}, "jsonb"},
    {"sequence", {"bigint", "numeric"}, "bigint"},
};
#define SINK_NCOLUMNS (sizeof sink_columns / sizeof sink_columns[0])

#define SINK_CREATE_FMT                                                                            \
    "CREATE TABLE IF NOT EXISTS %s (partner text NOT NULL, ladder text NOT NULL, tier text, "      \
    "since timestamptz, benefits jsonb NOT NULL DEFAULT '{}', sequence bigint NOT NULL, "          \
    "updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (partner, ladder))"

/* The table exists (or is created) with the columns and key we write. */
static int check_table(pgsink *s, bool create, td_error *err)
{
    char sql[SINK_SQL_MAX];
    const char *params[1] = {s->table};
    PGresult *r =
        PQexecParams(s->conn, "SELECT to_regclass($1) IS NOT NULL", 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        return pg_fail(s, TD_UNAVAILABLE, err, "looking the table up");
    }
    bool exists = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (!exists && !create)
        return td_error_set(err, TD_FAILED_PRECONDITION,
                            "postgres sink: table %s does not exist; create it (" SINK_CREATE_FMT
                            ") or set create_table: true",
                            s->table, s->table);
    if (!exists) {
        snprintf(sql, sizeof sql, SINK_CREATE_FMT, s->table);
        int rc = exec(s, sql, PGRES_COMMAND_OK, TD_FAILED_PRECONDITION, err, "creating the table");
        if (rc)
            return rc;
        s->api->log(s->host, TIERD_LOG_INFO, "created table %s", s->table);
    }
    r = PQexecParams(s->conn,
                     "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE "
                     "attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped",
                     1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        return pg_fail(s, TD_UNAVAILABLE, err, "reading the table's columns");
    }
    int rc = 0;
    for (size_t c = 0; c < SINK_NCOLUMNS && !rc; c++) {
        int row = -1;
        for (int i = 0; i < PQntuples(r); i++)
            if (strcmp(PQgetvalue(r, i, 0), sink_columns[c].name) == 0)
                row = i;
        if (row < 0) {
            rc = td_error_set(err, TD_FAILED_PRECONDITION,
                              "postgres sink: table %s has no column %s (%s); it needs partner "
                              "text, ladder text, tier text, since timestamptz, benefits jsonb, "
                              "sequence bigint and a unique key on (partner, ladder)",
                              s->table, sink_columns[c].name, sink_columns[c].want);
            break;
        }
        const char *type = PQgetvalue(r, row, 1);
        bool ok = false;
        for (size_t t = 0; t < 3 && sink_columns[c].types[t]; t++)
            ok = ok ||
                 strncmp(type, sink_columns[c].types[t], strlen(sink_columns[c].types[t])) == 0;
        if (!ok)
            rc = td_error_set(err, TD_FAILED_PRECONDITION,
                              "postgres sink: table %s: column %s is %s, expected %s", s->table,
                              sink_columns[c].name, type, sink_columns[c].want);
    }
    for (int i = 0; i < PQntuples(r); i++)
        if (strcmp(PQgetvalue(r, i, 0), "updated_at") == 0)
            s->has_updated_at = true;
    PQclear(r);
    if (rc)
        return rc;
    /* ON CONFLICT (partner, ladder) needs a unique index on exactly them. */
    r = PQexecParams(s->conn,
                     "SELECT count(*) FROM pg_index i WHERE i.indrelid = to_regclass($1) AND "
                     "i.indisunique AND i.indpred IS NULL AND (SELECT array_agg(a.attname::text "
                     "ORDER BY a.attname) FROM pg_attribute a WHERE a.attrelid = i.indrelid AND "
                     "a.attnum = ANY(i.indkey)) = ARRAY['ladder','partner'] AND i.indnatts = 2",
                     1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        return pg_fail(s, TD_UNAVAILABLE, err, "reading the table's keys");
    }
    bool keyed = strcmp(PQgetvalue(r, 0, 0), "0") != 0;
    PQclear(r);
    if (!keyed)
        return td_error_set(err, TD_FAILED_PRECONDITION,
                            "postgres sink: table %s has no unique key on (partner, ladder); add "
                            "one (ALTER TABLE %s ADD PRIMARY KEY (partner, ladder))",
                            s->table, s->table);
    snprintf(sql, sizeof sql,
             "CREATE TEMP TABLE IF NOT EXISTS " SINK_TEMP " (partner text, ladder text, tier text, "
             "since timestamptz, benefits jsonb, sequence bigint, found boolean) ON COMMIT "
             "DELETE ROWS");
    return exec(s, sql, PGRES_COMMAND_OK, TD_UNAVAILABLE, err, "creating the temporary table");
}

static int sink_open(const tierd_host_api *api, tierd_host *h, void **state, td_error *err)
{
    pgsink *s = calloc(1, sizeof *s);
    if (!s)
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "postgres sink: out of memory");
    s->api = api;
    s->host = h;
    s->conninfo = api->config_get(h, "conninfo");
    const char *table = api->config_get(h, "table");
    const char *create = api->config_get(h, "create_table");
    int rc = 0;
    if (!s->conninfo || !*s->conninfo)
        rc = td_error_set(err, TD_INVALID_ARGUMENT, "postgres sink: config needs conninfo");
    else if (!table || !valid_table(table))
        rc = td_error_set(err, TD_INVALID_ARGUMENT,
                          "postgres sink: config needs table: a name of lower-case letters, "
                          "digits and '_', optionally schema.name (got \"%s\")",
                          table ? table : "");
    else if (create && strcmp(create, "true") != 0 && strcmp(create, "false") != 0)
        rc = td_error_set(err, TD_INVALID_ARGUMENT,
                          "postgres sink: create_table is true or false, not \"%s\"", create);
    if (rc) {
        free(s);
        return rc;
    }
    snprintf(s->table, sizeof s->table, "%s", table);
    s->conn = PQconnectdb(s->conninfo);
    if (PQstatus(s->conn) != CONNECTION_OK)
        rc = pg_fail(s, TD_UNAVAILABLE, err, "cannot connect");
    /* An acknowledged batch is never offered again, so COMMIT must not
     * return before the server has it in its WAL, whatever the server's
     * default (synchronous_commit = off would lose it in a crash). */
    else if (!(rc = exec(s, "SET synchronous_commit TO on", PGRES_COMMAND_OK, TD_UNAVAILABLE, err,
                         "setting synchronous_commit")))
        rc = check_table(s, create && strcmp(create, "true") == 0, err);
    if (rc) {
        PQfinish(s->conn);
        free(s);
        return rc;
    }
    *state = s;
    return 0;
}

static int copy_in(pgsink *s, td_error *err)
{
    PGresult *r = PQexec(s->conn, "COPY " SINK_TEMP " FROM STDIN");
    ExecStatusType st = PQresultStatus(r);
    PQclear(r);
    if (st != PGRES_COPY_IN)
        return pg_fail(s, TD_UNAVAILABLE, err, "starting COPY");
    if (PQputCopyData(s->conn, s->rows.p, (int)s->rows.n) != 1 || PQputCopyEnd(s->conn, NULL) != 1)
        return pg_fail(s, TD_UNAVAILABLE, err, "sending COPY data");
    int rc = 0;
    while ((r = PQgetResult(s->conn))) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK && !rc)
            rc = pg_fail(s, TD_UNAVAILABLE, err, "COPY");
        PQclear(r);
    }
    return rc;
}

/* Partner, then ladder, then the later change first. */
static int cmp_change(const void *a, const void *b)
{
    const tierd_tier_change *x = *(const tierd_tier_change *const *)a;
    const tierd_tier_change *y = *(const tierd_tier_change *const *)b;
    int c = strcmp(x->partner, y->partner);
    if (!c)
        c = strcmp(x->ladder, y->ladder);
    if (!c)
        c = x->sequence < y->sequence ? 1 : x->sequence > y->sequence ? -1 : 0;
    return c;
}

static int sink_receive(void *state, const tierd_tier_change *const *changes, size_t n,
                        const char *cursor, td_error *err)
{
    (void)cursor;
    pgsink *s = state;
    /* One row per (partner, ladder): its latest change's, which carries
     * the same standing as the earlier ones and the highest sequence. */
    if (n > s->cap_sorted) {
        free(s->sorted);
        s->sorted = malloc(n * sizeof *s->sorted);
        if (!s->sorted) {
            s->cap_sorted = 0;
            return td_error_set(err, TD_RESOURCE_EXHAUSTED, "postgres sink: out of memory");
        }
        s->cap_sorted = n;
    }
    memcpy(s->sorted, changes, n * sizeof *changes);
    qsort(s->sorted, n, sizeof *s->sorted, cmp_change);
    s->rows.n = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || strcmp(s->sorted[i]->partner, s->sorted[i - 1]->partner) != 0 ||
            strcmp(s->sorted[i]->ladder, s->sorted[i - 1]->ladder) != 0)
            copy_row(s, s->sorted[i]);
    char sql[SINK_SQL_MAX];
    const char *upd = s->has_updated_at ? ", updated_at = now()" : "";
    snprintf(sql, sizeof sql,
             "INSERT INTO %s AS cur (partner, ladder, tier, since, benefits, sequence) "
             "SELECT partner, ladder, tier, since, benefits, sequence FROM " SINK_TEMP
             " WHERE found "
             "ON CONFLICT (partner, ladder) DO UPDATE SET tier = EXCLUDED.tier, since = "
             "EXCLUDED.since, benefits = EXCLUDED.benefits, sequence = EXCLUDED.sequence%s "
             "WHERE cur.sequence <= EXCLUDED.sequence;"
             "DELETE FROM %s AS cur USING (SELECT partner, ladder, max(sequence) AS sequence "
             "FROM " SINK_TEMP " WHERE NOT found GROUP BY partner, ladder) AS gone WHERE "
             "cur.partner = gone.partner AND cur.ladder = gone.ladder AND cur.sequence <= "
             "gone.sequence;"
             "COMMIT",
             s->table, upd, s->table);
    int rc = exec(s, "BEGIN", PGRES_COMMAND_OK, TD_UNAVAILABLE, err, "BEGIN");
    if (!rc)
        rc = copy_in(s, err);
    if (!rc)
        rc = exec(s, sql, PGRES_COMMAND_OK, TD_UNAVAILABLE, err, "writing the batch");
    if (rc && PQstatus(s->conn) == CONNECTION_OK)
        PQclear(PQexec(s->conn, "ROLLBACK"));
    s->api->heartbeat(s->host);
    return rc;
}

static void sink_close(void *state)
{
    pgsink *s = state;
    if (!s)
        return;
    PQfinish(s->conn);
    free(s->rows.p);
    free(s->tmp.p);
    free(s->sorted);
    free(s);
}

const tierd_sink postgres_sink = {
    .open = sink_open,
    .receive = sink_receive,
    .close = sink_close,
};
