/* tierctl's NDJSON imports: `event import` and `partner import`.
 *
 * Owns reading a file (or standard input) one line at a time, checking each
 * line's shape before anything is sent, batching good lines into Ingest or
 * UpsertPartners calls and mapping the daemon's per-item answers back to
 * line numbers. Promises: a malformed line never stops the import, it is
 * counted as rejected with its line number and reason, and so is a line
 * too large for the daemon's max_request_bytes; lines are sent in file
 * order, in batches bounded by count and by bytes; the file is streamed,
 * never held whole in memory. It does not
 * judge meaning (unknown partners, metrics, bad times): the daemon does. */
#include "tierctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define IMPORT_BATCH    1000
#define IMPORT_MAX_LINE (1024 * 1024)
/* A batch is sent once its lines reach this many bytes, so that even a
 * daemon with a small max_request_bytes answers it (tierd takes requests up
 * to the limit plus at least 2 MiB, refusing the excess with
 * RESOURCE_EXHAUSTED); a refused batch is split until the lines too big for
 * the daemon stand alone and are reported as those lines' errors. */
#define IMPORT_BATCH_BYTES (1024 * 1024)
#define IMPORT_SHOW_ERRORS 20
#define IMPORT_REASON_MAX  512
#define IMPORT_SOURCE      "tierctl"

typedef struct import_run {
    tctl *t;
    const char *what; /* "event" or "partner" */
    unsigned long lines, accepted, duplicate, rejected;
    json_t *errors;
    bool progress;
    /* the batch being filled: each item keeps its parsed line alive because
     * the request points into its strings */
    size_t n;
    size_t bytes; /* the batch's lines, as read */
    json_t *docs[IMPORT_BATCH];
    unsigned long line_of[IMPORT_BATCH];
    Tierd__Event events[IMPORT_BATCH];
    Tierd__Event *event_ptrs[IMPORT_BATCH];
    Tierd__Partner partners[IMPORT_BATCH];
    Tierd__Partner *partner_ptrs[IMPORT_BATCH];
    char **types[IMPORT_BATCH];
} import_run;

static void add_error(import_run *r, unsigned long line, const char *id, const char *reason)
{
    r->rejected++;
    json_array_append_new(r->errors, json_pack("{s:I, s:s?, s:s}", "line", (json_int_t)line, "id",
                                               id && *id ? id : NULL, "reason", reason));
}

static const char *get_str(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Every field present must be a string; returns the first that is not. */
static const char *check_strings(json_t *obj, const char *const *keys)
{
    for (; *keys; keys++) {
        json_t *v = json_object_get(obj, *keys);
        if (v && !json_is_string(v))
            return *keys;
    }
    return NULL;
}

static const char *unknown_field(json_t *obj, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        const char *const *a = allowed;
        while (*a && strcmp(*a, key) != 0)
            a++;
        if (!*a)
            return key;
    }
    return NULL;
}

static const char *const event_fields[] = {"id",    "source", "partner", "metric",
                                           "value", "at",     "key",     NULL};
static const char *const event_strings[] = {"id", "source", "partner", "metric", "at", "key", NULL};
static const char *const partner_fields[] = {"partner", "name", "types", NULL};
static const char *const partner_strings[] = {"partner", "name", NULL};

static int parse_event(import_run *r, json_t *obj, char *reason)
{
    if (!json_object_get(obj, "metric") &&
        (json_object_get(obj, "types") || json_object_get(obj, "name"))) {
        snprintf(reason, IMPORT_REASON_MAX, "a partner line, not an event (use partner import)");
        return -1;
    }
    const char *bad = unknown_field(obj, event_fields);
    if (bad) {
        snprintf(reason, IMPORT_REASON_MAX, "unknown field '%.100s'", bad);
        return -1;
    }
    bad = check_strings(obj, event_strings);
    if (bad) {
        snprintf(reason, IMPORT_REASON_MAX, "\"%s\" must be a string", bad);
        return -1;
    }
    const char *req[] = {"id", "partner", "metric"};
    for (size_t i = 0; i < sizeof req / sizeof *req; i++) {
        const char *s = get_str(obj, req[i]);
        if (!s || !*s) {
            snprintf(reason, IMPORT_REASON_MAX, "missing \"%s\"", req[i]);
            return -1;
        }
    }
    json_t *value = json_object_get(obj, "value");
    if (value && !json_is_number(value)) {
        snprintf(reason, IMPORT_REASON_MAX, "\"value\" must be a JSON number");
        return -1;
    }
    Tierd__Event *e = &r->events[r->n];
    tierd__event__init(e);
    e->id = (char *)get_str(obj, "id");
    e->source = (char *)(get_str(obj, "source") ? get_str(obj, "source") : IMPORT_SOURCE);
    e->partner = (char *)get_str(obj, "partner");
    e->metric = (char *)get_str(obj, "metric");
    e->at = (char *)(get_str(obj, "at") ? get_str(obj, "at") : "");
    e->key = (char *)(get_str(obj, "key") ? get_str(obj, "key") : "");
    e->has_value = value != NULL;
    e->value = value ? json_number_value(value) : 0;
    r->event_ptrs[r->n] = e;
    return 0;
}

static int parse_partner(import_run *r, json_t *obj, char *reason)
{
    if (json_object_get(obj, "metric")) {
        snprintf(reason, IMPORT_REASON_MAX, "an event line, not a partner (use event import)");
        return -1;
    }
    const char *bad = unknown_field(obj, partner_fields);
    if (bad) {
        snprintf(reason, IMPORT_REASON_MAX, "unknown field '%.100s'", bad);
        return -1;
    }
    bad = check_strings(obj, partner_strings);
    if (bad) {
        snprintf(reason, IMPORT_REASON_MAX, "\"%s\" must be a string", bad);
        return -1;
    }
    const char *id = get_str(obj, "partner");
    if (!id || !*id) {
        snprintf(reason, IMPORT_REASON_MAX, "missing \"partner\"");
        return -1;
    }
    json_t *types = json_object_get(obj, "types");
    size_t nt = 0;
    if (types) {
        if (!json_is_array(types)) {
            snprintf(reason, IMPORT_REASON_MAX, "\"types\" must be an array of strings");
            return -1;
        }
        nt = json_array_size(types);
        for (size_t i = 0; i < nt; i++) {
            json_t *s = json_array_get(types, i);
            if (!json_is_string(s) || !*json_string_value(s)) {
                snprintf(reason, IMPORT_REASON_MAX, "\"types\"[%zu] must be a non-empty string", i);
                return -1;
            }
        }
    }
    char **tv = calloc(nt ? nt : 1, sizeof *tv);
    if (!tv) {
        snprintf(reason, IMPORT_REASON_MAX, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < nt; i++)
        tv[i] = (char *)json_string_value(json_array_get(types, i));
    Tierd__Partner *p = &r->partners[r->n];
    tierd__partner__init(p);
    p->id = (char *)id;
    p->name = (char *)(get_str(obj, "name") ? get_str(obj, "name") : "");
    p->n_types = nt;
    p->types = tv;
    r->types[r->n] = tv;
    r->partner_ptrs[r->n] = p;
    return 0;
}

static void clear_batch(import_run *r)
{
    for (size_t i = 0; i < r->n; i++) {
        json_decref(r->docs[i]);
        free(r->types[i]);
        r->types[i] = NULL;
    }
    r->n = 0;
    r->bytes = 0;
}

/* results index the items of a request that started at item `first`. */
static void count_results(import_run *r, size_t first, size_t n_sent, Tierd__ItemResult **results,
                          size_t n_results)
{
    for (size_t i = 0; i < n_results; i++) {
        const Tierd__ItemResult *res = results[i];
        switch (res->outcome) {
        case TIERD__OUTCOME__ACCEPTED:
            r->accepted++;
            break;
        case TIERD__OUTCOME__DUPLICATE:
            r->duplicate++;
            break;
        default: {
            unsigned long line = res->index < n_sent ? r->line_of[first + res->index] : 0;
            add_error(r, line, res->id, res->reason && *res->reason ? res->reason : "rejected");
        }
        }
    }
}

static bool is_events(const import_run *r)
{
    return strcmp(r->what, "event") == 0;
}

/* One Ingest or UpsertPartners call for items [lo, hi). */
static int send_items(import_run *r, size_t lo, size_t hi, td_error *err)
{
    int rc;
    size_t n = hi - lo;
    if (is_events(r)) {
        Tierd__IngestRequest req = TIERD__INGEST_REQUEST__INIT;
        req.n_events = n;
        req.events = r->event_ptrs + lo;
        Tierd__IngestResponse *resp = NULL;
        rc = td_client_ingest(r->t->cli, &req, &resp, err);
        if (rc == 0) {
            if (resp->n_results)
                count_results(r, lo, n, resp->results, resp->n_results);
            else {
                r->accepted += resp->accepted;
                r->duplicate += resp->duplicate;
                r->rejected += resp->rejected;
            }
            tierd__ingest_response__free_unpacked(resp, NULL);
        }
    } else {
        Tierd__UpsertPartnersRequest req = TIERD__UPSERT_PARTNERS_REQUEST__INIT;
        req.n_partners = n;
        req.partners = r->partner_ptrs + lo;
        Tierd__UpsertPartnersResponse *resp = NULL;
        rc = td_client_upsert_partners(r->t->cli, &req, &resp, err);
        if (rc == 0) {
            if (resp->n_results)
                count_results(r, lo, n, resp->results, resp->n_results);
            else {
                r->accepted += resp->accepted;
                r->rejected += resp->rejected;
            }
            tierd__upsert_partners_response__free_unpacked(resp, NULL);
        }
    }
    return rc;
}

/* Sends items [lo, hi). A request the daemon finds too big
 * (RESOURCE_EXHAUSTED, refused before anything is applied) is split in
 * halves; an item too big alone is that line's error, and the rest goes
 * on. Any other failure stops the import. */
static int send_range(import_run *r, size_t lo, size_t hi, td_error *err)
{
    int rc = send_items(r, lo, hi, err);
    if (rc != -(int)TD_RESOURCE_EXHAUSTED)
        return rc;
    if (hi - lo == 1) {
        char reason[IMPORT_REASON_MAX + 32];
        snprintf(reason, sizeof reason, "line %lu: too large for tierd: %s", r->line_of[lo],
                 err->message);
        const char *id = is_events(r) ? r->events[lo].id : r->partners[lo].id;
        add_error(r, r->line_of[lo], id, reason);
        return 0;
    }
    size_t mid = lo + (hi - lo) / 2;
    rc = send_range(r, lo, mid, err);
    return rc ? rc : send_range(r, mid, hi, err);
}

static int flush_batch(import_run *r, td_error *err)
{
    if (r->n == 0)
        return 0;
    int rc = send_range(r, 0, r->n, err);
    clear_batch(r);
    return rc;
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return false;
    return true;
}

static void take_line(import_run *r, const char *line, size_t len)
{
    /* room for "line N: " in front of a parse reason */
    char reason[IMPORT_REASON_MAX + 32];
    if (len > IMPORT_MAX_LINE) {
        snprintf(reason, sizeof reason, "line %lu: longer than %d bytes", r->lines,
                 IMPORT_MAX_LINE);
        add_error(r, r->lines, NULL, reason);
        return;
    }
    json_error_t jerr;
    json_t *doc = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        snprintf(reason, sizeof reason, "line %lu: invalid JSON: %s (column %d)", r->lines,
                 jerr.text, jerr.column);
        add_error(r, r->lines, NULL, reason);
        return;
    }
    if (!json_is_object(doc)) {
        snprintf(reason, sizeof reason, "line %lu: not a JSON object", r->lines);
        add_error(r, r->lines, NULL, reason);
        json_decref(doc);
        return;
    }
    char why[IMPORT_REASON_MAX];
    int rc = strcmp(r->what, "event") == 0 ? parse_event(r, doc, why) : parse_partner(r, doc, why);
    if (rc) {
        snprintf(reason, sizeof reason, "line %lu: %s", r->lines, why);
        const char *id = get_str(doc, strcmp(r->what, "event") == 0 ? "id" : "partner");
        add_error(r, r->lines, id, reason);
        json_decref(doc);
        return;
    }
    r->docs[r->n] = doc;
    r->line_of[r->n] = r->lines;
    r->n++;
    r->bytes += len;
}

static void print_summary(import_run *r)
{
    if (r->t->json) {
        tctl_print_json(json_pack("{s:I, s:I, s:I, s:I, s:O}", "lines", (json_int_t)r->lines,
                                  "accepted", (json_int_t)r->accepted, "duplicate",
                                  (json_int_t)r->duplicate, "rejected", (json_int_t)r->rejected,
                                  "errors", r->errors));
        return;
    }
    size_t n = json_array_size(r->errors);
    for (size_t i = 0; i < n && i < IMPORT_SHOW_ERRORS; i++) {
        json_t *e = json_array_get(r->errors, i);
        const char *id = get_str(e, "id");
        const char *reason = get_str(e, "reason");
        long line = (long)json_integer_value(json_object_get(e, "line"));
        /* reasons found locally already name their line */
        if (strncmp(reason, "line ", 5) == 0)
            fprintf(stderr, "tierctl: %s\n", reason);
        else
            fprintf(stderr, "tierctl: line %ld%s%s%s: %s\n", line, id ? " (" : "", id ? id : "",
                    id ? ")" : "", reason);
    }
    if (n > IMPORT_SHOW_ERRORS)
        fprintf(stderr, "tierctl: ... and %zu more rejected lines (--json lists them all)\n",
                n - IMPORT_SHOW_ERRORS);
    char a[TCTL_NUM_STRLEN], d[TCTL_NUM_STRLEN], x[TCTL_NUM_STRLEN], l[TCTL_NUM_STRLEN];
    tctl_num_human((double)r->accepted, a, sizeof a);
    tctl_num_human((double)r->duplicate, d, sizeof d);
    tctl_num_human((double)r->rejected, x, sizeof x);
    tctl_num_human((double)r->lines, l, sizeof l);
    if (strcmp(r->what, "event") == 0)
        printf("%s lines: %s accepted, %s duplicate, %s rejected\n", l, a, d, x);
    else
        printf("%s lines: %s partners accepted, %s rejected\n", l, a, x);
}

static int import_file(tctl *t, const char *what, const char *file)
{
    FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
    if (!f) {
        fprintf(stderr, "tierctl: cannot open %s: %m\n", file);
        return TCTL_EXIT_REFUSED;
    }
    import_run *r = calloc(1, sizeof *r);
    if (!r) {
        fprintf(stderr, "tierctl: out of memory\n");
        if (f != stdin)
            fclose(f);
        return TCTL_EXIT_REFUSED;
    }
    r->t = t;
    r->what = what;
    r->errors = json_array();
    r->progress = isatty(STDERR_FILENO);
    bool shown = false;

    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int exit_code = TCTL_EXIT_OK;
    td_error err;
    while ((len = getline(&line, &cap, f)) >= 0) {
        r->lines++;
        if (blank(line, (size_t)len))
            continue;
        /* bytes as well as lines: a batch of long lines must still fit
         * in one request */
        if (r->n && r->bytes + (size_t)len > IMPORT_BATCH_BYTES && flush_batch(r, &err)) {
            exit_code = -1;
            break;
        }
        take_line(r, line, (size_t)len);
        if (r->n == IMPORT_BATCH || r->bytes >= IMPORT_BATCH_BYTES) {
            if (flush_batch(r, &err)) {
                exit_code = -1;
                break;
            }
            /* only a file of several batches is worth a progress line */
            if (r->progress) {
                char num[TCTL_NUM_STRLEN];
                tctl_num_human((double)r->lines, num, sizeof num);
                fprintf(stderr, "\r%s lines", num);
                shown = true;
            }
        }
    }
    if (exit_code == 0 && ferror(f)) {
        fprintf(stderr, "tierctl: reading %s failed at line %lu: %m\n", file, r->lines);
        exit_code = TCTL_EXIT_REFUSED;
    }
    if (exit_code == 0 && flush_batch(r, &err))
        exit_code = -1;
    free(line);
    if (f != stdin)
        fclose(f);
    if (shown)
        fputc('\n', stderr);
    if (exit_code < 0) {
        clear_batch(r);
        exit_code = tctl_fail(&err);
        fprintf(stderr, "tierctl: stopped at line %lu; %lu %ss accepted before that\n", r->lines,
                r->accepted, what);
    } else if (exit_code == 0) {
        print_summary(r);
        if (r->rejected)
            exit_code = TCTL_EXIT_REFUSED;
    }
    json_decref(r->errors);
    free(r);
    return exit_code;
}

int tctl_import_events(tctl *t, const char *file)
{
    return import_file(t, "event", file);
}

int tctl_import_partners(tctl *t, const char *file)
{
    return import_file(t, "partner", file);
}
