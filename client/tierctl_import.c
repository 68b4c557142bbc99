/* tierctl's NDJSON imports: `event import` and `partner import`.
 *
 * Owns reading a file (or standard input) one line at a time, checking each
 * line's shape before anything is sent, batching good lines into Ingest or
 * UpsertPartners calls and mapping the daemon's per-item answers back to
 * line numbers. Promises: a malformed line never stops the import, it is
 * counted as rejected with its line number and reason, and so is a line
 * too large for the daemon's max_request_bytes; lines go in batches bounded
 * by count and by bytes, several batches in flight at once (each on its own
 * connection, so the daemon commits them together), and every rejection is
 * reported in file order; the file is streamed, never held whole in memory.
 * Batches in flight may be applied in any order among themselves: with
 * --in-flight 1 the file's order is kept exactly. With --replay the file is
 * read whole and sorted by event time (ties in file order), then sent one
 * batch at a time, in order (docs/events.md, "Replay"). It does not judge meaning
 * (unknown partners, metrics, bad times): the daemon does. */
#include "tierctl.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "td_items.h"
#include "td_time.h"

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

/* One batch: the lines it holds (each item keeps its parsed line alive
 * because the request points into its strings) and, once answered, what
 * became of them. */
typedef struct import_batch {
    size_t n;
    size_t bytes; /* the batch's lines, as read */
    json_t *docs[IMPORT_BATCH];
    unsigned long line_of[IMPORT_BATCH];
    Tierd__Event events[IMPORT_BATCH];
    Tierd__Event *event_ptrs[IMPORT_BATCH];
    Tierd__Partner partners[IMPORT_BATCH];
    Tierd__Partner *partner_ptrs[IMPORT_BATCH];
    char **types[IMPORT_BATCH];
    void *attrs[IMPORT_BATCH]; /* each partner's attribute entries, one block */
    /* outcomes; lines refused while the batch filled count here too, so that
     * every rejection is reported in file order */
    unsigned long accepted, duplicate, rejected;
    json_t *errors;
    int rc; /* 0, or the failure that stops the import */
    td_error err;
    bool last;     /* a replay's final batch: the daemon catches up after it */
    bool corrects; /* holds a retraction or amendment */
} import_batch;

struct import_run;

/* A batch with the connection and thread that send it. */
typedef struct import_slot {
    struct import_run *run;
    import_batch b;
    td_client *cli;
    pthread_t thread;
    bool started;
    bool queued; /* handed to the thread, not yet answered */
    bool busy;   /* handed over and its outcome not yet merged */
} import_slot;

typedef struct import_run {
    tctl *t;
    const char *what; /* "event" or "partner" */
    unsigned long lines, accepted, duplicate, rejected;
    json_t *errors;
    bool progress;
    int in_flight;
    import_slot *slots;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool quit;
    const tctl_import_opts *opts;
} import_run;

static void add_error(import_batch *b, unsigned long line, const char *id, const char *reason)
{
    b->rejected++;
    /* tctl_str: a reason quoting jansson's "near '...'" may end halfway
     * through a UTF-8 character, and json_pack would drop the error. */
    json_array_append_new(b->errors,
                          json_pack("{s:I, s:o?, s:o}", "line", (json_int_t)line, "id",
                                    id && *id ? tctl_str(id) : NULL, "reason", tctl_str(reason)));
}

static const char *get_str(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int parse_event(import_batch *r, json_t *obj, char *reason)
{
    Tierd__Event *e = &r->events[r->n];
    if (td_item_event(obj, IMPORT_SOURCE, e, reason, IMPORT_REASON_MAX) != 0)
        return -1;
    r->corrects |= *e->op != 0;
    r->event_ptrs[r->n] = e;
    return 0;
}

static int parse_partner(import_batch *r, json_t *obj, char *reason)
{
    Tierd__Partner *p = &r->partners[r->n];
    if (td_item_partner(obj, p, &r->types[r->n], &r->attrs[r->n], reason, IMPORT_REASON_MAX) != 0)
        return -1;
    r->partner_ptrs[r->n] = p;
    return 0;
}

static void clear_batch(import_batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        json_decref(b->docs[i]);
        free(b->types[i]);
        b->types[i] = NULL;
        free(b->attrs[i]);
        b->attrs[i] = NULL;
    }
    b->n = 0;
    b->bytes = 0;
    b->accepted = b->duplicate = b->rejected = 0;
    json_array_clear(b->errors);
    b->rc = 0;
    b->last = false;
    b->corrects = false;
}

/* results index the items of a request that started at item `first`. */
static void count_results(import_batch *b, size_t first, size_t n_sent, Tierd__ItemResult **results,
                          size_t n_results)
{
    for (size_t i = 0; i < n_results; i++) {
        const Tierd__ItemResult *res = results[i];
        switch (res->outcome) {
        case TIERD__OUTCOME__ACCEPTED:
            b->accepted++;
            break;
        case TIERD__OUTCOME__DUPLICATE:
            b->duplicate++;
            break;
        default: {
            unsigned long line = res->index < n_sent ? b->line_of[first + res->index] : 0;
            add_error(b, line, res->id, res->reason && *res->reason ? res->reason : "rejected");
        }
        }
    }
}

static bool is_events(const import_run *r)
{
    return strcmp(r->what, "event") == 0;
}

/* One Ingest or UpsertPartners call for items [lo, hi). */
static int send_items(import_run *r, td_client *cli, import_batch *b, size_t lo, size_t hi,
                      td_error *err)
{
    int rc;
    size_t n = hi - lo;
    if (is_events(r)) {
        Tierd__IngestRequest req = TIERD__INGEST_REQUEST__INIT;
        req.n_events = n;
        req.events = b->event_ptrs + lo;
        if (r->opts && r->opts->replay) {
            req.replay = true;
            req.publish_past = r->opts->publish_past;
            /* A batch split for size is the last only in its last part. */
            req.replay_more = r->opts->no_catch_up || !b->last || hi != b->n;
        }
        Tierd__IngestResponse *resp = NULL;
        rc = td_client_ingest(cli, &req, &resp, err);
        if (rc == 0) {
            if (resp->n_results)
                count_results(b, lo, n, resp->results, resp->n_results);
            else {
                b->accepted += resp->accepted;
                b->duplicate += resp->duplicate;
                b->rejected += resp->rejected;
            }
            tierd__ingest_response__free_unpacked(resp, NULL);
        }
    } else {
        Tierd__UpsertPartnersRequest req = TIERD__UPSERT_PARTNERS_REQUEST__INIT;
        req.n_partners = n;
        req.partners = b->partner_ptrs + lo;
        Tierd__UpsertPartnersResponse *resp = NULL;
        rc = td_client_upsert_partners(cli, &req, &resp, err);
        if (rc == 0) {
            if (resp->n_results)
                count_results(b, lo, n, resp->results, resp->n_results);
            else {
                b->accepted += resp->accepted;
                b->rejected += resp->rejected;
            }
            tierd__upsert_partners_response__free_unpacked(resp, NULL);
        }
    }
    return rc;
}

/* The daemon's refusals for size: over max_request_bytes, or a payload
 * whose decoding would pass its budget. */
static bool too_large(const td_error *err)
{
    return strstr(err->message, "exceeds max_request_bytes") ||
           strstr(err->message, "bytes to decode as");
}

/* Sends items [lo, hi). A request the daemon finds too big
 * (RESOURCE_EXHAUSTED, refused before anything is applied) is split in
 * halves; an item too big alone is that line's error, and the rest goes
 * on. Any other failure stops the import. */
static int send_range(import_run *r, td_client *cli, import_batch *b, size_t lo, size_t hi,
                      td_error *err)
{
    int rc = send_items(r, cli, b, lo, hi, err);
    /* Only a refusal for size is worth splitting; a full disk is not. */
    if (rc != -(int)TD_RESOURCE_EXHAUSTED || !too_large(err))
        return rc;
    if (hi - lo == 1) {
        char reason[IMPORT_REASON_MAX + 32];
        snprintf(reason, sizeof reason, "line %lu: too large for tierd: %s", b->line_of[lo],
                 err->message);
        const char *id = is_events(r) ? b->events[lo].id : b->partners[lo].id;
        add_error(b, b->line_of[lo], id, reason);
        return 0;
    }
    size_t mid = lo + (hi - lo) / 2;
    rc = send_range(r, cli, b, lo, mid, err);
    return rc ? rc : send_range(r, cli, b, mid, hi, err);
}

/* ---- batches in flight: one thread and one connection per slot ---- */

static void *slot_main(void *arg)
{
    import_slot *s = arg;
    import_run *r = s->run;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (!s->queued && !r->quit)
            pthread_cond_wait(&r->cv, &r->mu);
        if (!s->queued)
            break;
        pthread_mutex_unlock(&r->mu);
        td_error err = {0};
        int rc = s->b.n || s->b.last ? send_range(r, s->cli, &s->b, 0, s->b.n, &err) : 0;
        pthread_mutex_lock(&r->mu);
        s->b.rc = rc;
        s->b.err = err;
        s->queued = false;
        pthread_cond_broadcast(&r->cv);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

static int by_line(const void *a, const void *b)
{
    json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "line"));
    json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "line"));
    return x < y ? -1 : x > y;
}

/* Waits for the slot's batch, if any, and adds its outcome to the run's:
 * slots are reused in turn, so outcomes merge in file order. Returns the
 * batch's failure (0 when none); *err gets it. */
static int slot_settle(import_run *r, import_slot *s, td_error *err)
{
    pthread_mutex_lock(&r->mu);
    while (s->queued)
        pthread_cond_wait(&r->cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
    if (!s->busy)
        return 0;
    s->busy = false;
    import_batch *b = &s->b;
    r->accepted += b->accepted;
    r->duplicate += b->duplicate;
    r->rejected += b->rejected;
    size_t n = json_array_size(b->errors);
    json_t **errs = malloc((n ? n : 1) * sizeof *errs);
    for (size_t i = 0; errs && i < n; i++)
        errs[i] = json_array_get(b->errors, i);
    if (errs)
        qsort(errs, n, sizeof *errs, by_line);
    for (size_t i = 0; i < n; i++)
        json_array_append(r->errors, errs ? errs[i] : json_array_get(b->errors, i));
    free(errs);
    int rc = b->rc;
    if (rc)
        *err = b->err;
    clear_batch(b);
    return rc;
}

static void slot_dispatch(import_run *r, import_slot *s)
{
    pthread_mutex_lock(&r->mu);
    s->busy = true;
    s->queued = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* Sends s's batch. A correction must find the event it corrects, which an
 * earlier line of the file may carry: every batch still in flight is
 * applied first. */
static int batch_send(import_run *r, import_slot *s, td_error *err)
{
    for (int i = 0; s->b.corrects && i < r->in_flight; i++)
        if (&r->slots[i] != s && slot_settle(r, &r->slots[i], err) != 0)
            return -1;
    slot_dispatch(r, s);
    return 0;
}

static int slots_open(import_run *r, td_error *err)
{
    r->slots = calloc((size_t)r->in_flight, sizeof *r->slots);
    if (!r->slots)
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "out of memory");
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    for (int i = 0; i < r->in_flight; i++) {
        import_slot *s = &r->slots[i];
        s->run = r;
        s->b.errors = json_array();
        int rc =
            td_client_open(td_client_url(r->t->cli), r->t->token, r->t->timeout_ms, &s->cli, err);
        if (rc)
            return rc;
        if (pthread_create(&s->thread, NULL, slot_main, s) != 0)
            return td_error_set(err, TD_RESOURCE_EXHAUSTED, "cannot start a sending thread");
        s->started = true;
    }
    return 0;
}

static void slots_close(import_run *r)
{
    if (!r->slots)
        return;
    pthread_mutex_lock(&r->mu);
    r->quit = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    for (int i = 0; i < r->in_flight; i++) {
        import_slot *s = &r->slots[i];
        if (s->started)
            pthread_join(s->thread, NULL);
        if (s->cli)
            td_client_close(s->cli);
        clear_batch(&s->b);
        json_decref(s->b.errors);
    }
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r->slots);
    r->slots = NULL;
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return false;
    return true;
}

static void take_line(import_run *run, import_batch *r, const char *line, size_t len)
{
    unsigned long lineno = run->lines;
    /* room for "line N: " in front of a parse reason */
    char reason[IMPORT_REASON_MAX + 32];
    if (len > IMPORT_MAX_LINE) {
        snprintf(reason, sizeof reason, "line %lu: longer than %d bytes", lineno, IMPORT_MAX_LINE);
        add_error(r, lineno, NULL, reason);
        return;
    }
    json_error_t jerr;
    json_t *doc = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        snprintf(reason, sizeof reason, "line %lu: invalid JSON: %s (column %d)", lineno, jerr.text,
                 jerr.column);
        add_error(r, lineno, NULL, reason);
        return;
    }
    if (!json_is_object(doc)) {
        snprintf(reason, sizeof reason, "line %lu: not a JSON object", lineno);
        add_error(r, lineno, NULL, reason);
        json_decref(doc);
        return;
    }
    char why[IMPORT_REASON_MAX];
    int rc = is_events(run) ? parse_event(r, doc, why) : parse_partner(r, doc, why);
    if (rc) {
        snprintf(reason, sizeof reason, "line %lu: %s", lineno, why);
        const char *id = get_str(doc, is_events(run) ? "id" : "partner");
        add_error(r, lineno, id, reason);
        json_decref(doc);
        return;
    }
    r->docs[r->n] = doc;
    r->line_of[r->n] = lineno;
    r->n++;
    r->bytes += len;
}

/* ---- replay: the whole file in event-time order ---- */

/* A line kept for sorting: its text, number and event time (0 when it has
 * none that parses: such lines go first and the daemon names their fault). */
typedef struct replay_line {
    char *text;
    size_t len;
    unsigned long lineno;
    td_time at;
} replay_line;

static int replay_by_time(const void *a, const void *b)
{
    const replay_line *x = a, *y = b;
    if (x->at != y->at)
        return x->at < y->at ? -1 : 1;
    return x->lineno < y->lineno ? -1 : x->lineno > y->lineno;
}

static td_time line_time(const char *line, size_t len)
{
    json_t *doc = json_loadb(line, len, 0, NULL);
    td_time at = TD_TIME_NONE;
    const char *s = json_is_object(doc) ? get_str(doc, "at") : NULL;
    td_error err = {0};
    if (s && td_time_parse(s, &at, &err) != 0)
        at = TD_TIME_NONE;
    json_decref(doc);
    return at;
}

/* Reads every non-blank line of f into *out (NULL when there are none);
 * -1 with *n 0 and a message on failure. */
static int replay_read(FILE *f, const char *file, import_run *run, replay_line **out, size_t *n)
{
    *out = NULL;
    replay_line *v = NULL;
    size_t cap = 0;
    *n = 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    while ((len = getline(&line, &lcap, f)) >= 0) {
        run->lines++;
        if (blank(line, (size_t)len))
            continue;
        if (*n == cap) {
            size_t ncap = cap ? 2 * cap : 4096;
            replay_line *nv = realloc(v, ncap * sizeof *nv);
            if (!nv)
                goto oom;
            v = nv;
            cap = ncap;
        }
        char *copy = malloc((size_t)len + 1);
        if (!copy)
            goto oom;
        memcpy(copy, line, (size_t)len + 1);
        v[*n] = (replay_line){.text = copy,
                              .len = (size_t)len,
                              .lineno = run->lines,
                              .at = len <= IMPORT_MAX_LINE ? line_time(line, (size_t)len) : 0};
        (*n)++;
    }
    free(line);
    if (ferror(f)) {
        fprintf(stderr, "tierctl: reading %s failed at line %lu: %m\n", file, run->lines);
        goto fail;
    }
    /* Stable by line number: events at the same instant keep file order.
     * An empty file (it closes an open replay) has nothing to sort. */
    if (*n)
        qsort(v, *n, sizeof *v, replay_by_time);
    *out = v;
    return 0;
oom:
    free(line);
    fprintf(stderr,
            "tierctl: out of memory holding %s to sort it (--replay sorts the whole file)\n", file);
fail:
    for (size_t i = 0; i < *n; i++)
        free(v[i].text);
    free(v);
    *n = 0;
    return -1;
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

static int import_file(tctl *t, const char *what, const char *file, int in_flight,
                       const tctl_import_opts *opts)
{
    bool replay = opts && opts->replay;
    if (replay)
        in_flight = 1; /* a replay needs its batches in order */
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
    r->in_flight = in_flight;
    r->opts = opts;
    bool shown = false;
    replay_line *sorted = NULL;
    size_t n_sorted = 0, next_sorted = 0;
    if (replay) {
        if (replay_read(f, file, r, &sorted, &n_sorted) != 0) {
            if (f != stdin)
                fclose(f);
            json_decref(r->errors);
            free(r);
            return TCTL_EXIT_REFUSED;
        }
    }

    int exit_code = TCTL_EXIT_OK;
    td_error err = {0};
    unsigned long stopped_at = 0;
    if (slots_open(r, &err) != 0)
        exit_code = -1;
    /* Slots are filled and sent in turn; before one is refilled, the batch
     * it sent last is waited for and merged, the oldest in flight. */
    size_t turn = 0;
    import_slot *cur = exit_code == 0 ? &r->slots[0] : NULL;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    unsigned long read_lines = r->lines;
    for (;;) {
        if (exit_code != 0)
            break;
        if (replay) {
            if (next_sorted == n_sorted)
                break;
            replay_line *l = &sorted[next_sorted++];
            line = l->text;
            len = (ssize_t)l->len;
            r->lines = l->lineno; /* take_line names the line by it */
        } else {
            if ((len = getline(&line, &cap, f)) < 0)
                break;
            r->lines++;
        }
        if (blank(line, (size_t)len))
            continue;
        /* bytes as well as lines: a batch of long lines must still fit
         * in one request */
        bool full = cur->b.n && cur->b.bytes + (size_t)len > IMPORT_BATCH_BYTES;
        if (full) {
            if (batch_send(r, cur, &err)) {
                exit_code = -1;
                break;
            }
            cur = &r->slots[++turn % (size_t)r->in_flight];
            if (slot_settle(r, cur, &err)) {
                exit_code = -1;
                break;
            }
        }
        take_line(r, &cur->b, line, (size_t)len);
        if (cur->b.n == IMPORT_BATCH || cur->b.bytes >= IMPORT_BATCH_BYTES) {
            if (batch_send(r, cur, &err)) {
                exit_code = -1;
                break;
            }
            cur = &r->slots[++turn % (size_t)r->in_flight];
            if (slot_settle(r, cur, &err)) {
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
    if (replay) {
        line = NULL;
        r->lines = read_lines;
    }
    if (exit_code == 0 && !replay && ferror(f)) {
        fprintf(stderr, "tierctl: reading %s failed at line %lu: %m\n", file, r->lines);
        exit_code = TCTL_EXIT_REFUSED;
    }
    stopped_at = r->lines;
    /* The last batch, then every batch still in flight, oldest first. */
    if (cur && exit_code == 0 && replay)
        cur->b.last = true; /* sent even when empty: it ends the replay */
    if (cur && exit_code == 0 && (cur->b.n || json_array_size(cur->b.errors) || cur->b.last)) {
        if (batch_send(r, cur, &err))
            exit_code = -1;
        else
            turn++;
    }
    for (size_t i = 0; r->slots && i < (size_t)r->in_flight; i++) {
        td_error serr = {0};
        if (slot_settle(r, &r->slots[(turn + i) % (size_t)r->in_flight], &serr) && exit_code == 0) {
            exit_code = -1;
            err = serr;
        }
    }
    slots_close(r);
    free(line);
    for (size_t i = 0; i < n_sorted; i++)
        free(sorted[i].text);
    free(sorted);
    /* Sorted by time, the batches reported their lines out of file order. */
    if (replay) {
        size_t ne = json_array_size(r->errors);
        json_t **errs = malloc((ne ? ne : 1) * sizeof *errs);
        for (size_t i = 0; errs && i < ne; i++)
            errs[i] = json_incref(json_array_get(r->errors, i));
        if (errs) {
            qsort(errs, ne, sizeof *errs, by_line);
            json_array_clear(r->errors);
            for (size_t i = 0; i < ne; i++)
                json_array_append_new(r->errors, errs[i]);
        }
        free(errs);
    }
    if (f != stdin)
        fclose(f);
    if (shown)
        fputc('\n', stderr);
    if (exit_code < 0) {
        exit_code = tctl_fail(&err);
        fprintf(stderr, "tierctl: stopped at line %lu; %lu %ss accepted before that\n", stopped_at,
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

int tctl_import_events(tctl *t, const char *file, int in_flight, const tctl_import_opts *opts)
{
    return import_file(t, "event", file, in_flight, opts);
}

int tctl_import_partners(tctl *t, const char *file, int in_flight)
{
    return import_file(t, "partner", file, in_flight, NULL);
}
