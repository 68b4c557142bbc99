/* tierctl export partners|events|changes (docs/tierctl.md, "export"):
 * NDJSON that `partner import` and `event import` read back, a page of
 * the Export RPC at a time, so memory stays bounded whatever the store's
 * size.
 *
 * Events come in two passes: first every accepted event as a new event
 * line holding the version that counts now, then the corrections that
 * give it its state: an amend line (same values, its revision) for an
 * amended event and a retract line for a retracted one. Importing the
 * file gives the same facts, revisions and retractions; and since an
 * import waits for earlier batches before sending a correction, the
 * corrections all at the end keep the first pass's batches in flight. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "td_number.h"
#include "td_time.h"
#include "tierctl.h"

#define EXPORT_PAGE 10000 /* items a request: per-request latency dominates smaller pages */

typedef struct export_out {
    FILE *f;
    uint64_t lines;
    int pass; /* events: 0 the facts, 1 the corrections */
} export_out;

static int put_line(export_out *o, json_t *doc)
{
    char *s = doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(doc);
    if (!s)
        return -1;
    int rc = fprintf(o->f, "%s\n", s) < 0 ? -1 : 0;
    free(s);
    o->lines++;
    return rc;
}

static json_t *partner_line(const Tierd__Partner *p)
{
    json_t *o = json_object();
    json_object_set_new(o, "partner", tctl_str(p->id));
    if (p->name && *p->name)
        json_object_set_new(o, "name", tctl_str(p->name));
    json_t *types = json_array();
    for (size_t i = 0; i < p->n_types; i++)
        json_array_append_new(types, tctl_str(p->types[i]));
    json_object_set_new(o, "types", types);
    json_t *attrs = json_object();
    for (size_t i = 0; i < p->n_attrs; i++)
        json_object_set_new(attrs, p->attrs[i]->key, tctl_str(p->attrs[i]->value));
    json_object_set_new(o, "attrs", attrs);
    return o;
}

/* The event's fields as an import line reads them (op/revision added by
 * the caller). */
static json_t *event_fields(const Tierd__Event *e)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", tctl_str(e->id));
    json_object_set_new(o, "source", tctl_str(e->source));
    json_object_set_new(o, "partner", tctl_str(e->partner));
    json_object_set_new(o, "metric", tctl_str(e->metric));
    json_object_set_new(o, "value", tctl_num_json(e->has_value ? e->value : 1));
    json_object_set_new(o, "at", tctl_str(e->at));
    if (e->key && *e->key)
        json_object_set_new(o, "key", tctl_str(e->key));
    return o;
}

static int put_event(export_out *o, const Tierd__ExportedEvent *x)
{
    const Tierd__Event *e = x->event;
    if (!e)
        return 0;
    if (o->pass == 0)
        return put_line(o, event_fields(e));
    int rc = 0;
    if (x->revision > 0) {
        json_t *a = event_fields(e);
        json_object_set_new(a, "op", json_string("amend"));
        json_object_set_new(a, "revision", json_integer((json_int_t)x->revision));
        rc = put_line(o, a);
    }
    if (rc == 0 && x->retracted)
        rc = put_line(o, json_pack("{s:o, s:o, s:s}", "id", tctl_str(e->id), "source",
                                   tctl_str(e->source), "op", "retract"));
    return rc;
}

static int put_page(export_out *o, const Tierd__ExportResponse *r)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < r->n_partners; i++)
        rc = put_line(o, partner_line(r->partners[i]));
    for (size_t i = 0; rc == 0 && i < r->n_events; i++)
        rc = put_event(o, r->events[i]);
    for (size_t i = 0; rc == 0 && i < r->n_changes; i++)
        rc = put_line(o, tctl_change_json(r->changes[i]));
    return rc;
}

/* Walks every page of kind; returns 0 or an exit status. */
static int export_walk(tctl *t, Tierd__ExportRequest *req, export_out *o)
{
    uint8_t *after = NULL;
    size_t after_len = 0;
    for (;;) {
        req->after.data = after;
        req->after.len = after_len;
        Tierd__ExportResponse *r = NULL;
        td_error err;
        int rc = td_client_call(t->cli, "Export", &req->base, &tierd__export_response__descriptor,
                                (ProtobufCMessage **)&r, &err);
        if (rc) {
            free(after);
            return tctl_fail_rc(rc, &err);
        }
        if (put_page(o, r) != 0) {
            fprintf(stderr, "tierctl: export: writing: %s\n", strerror(errno));
            tierd__export_response__free_unpacked(r, NULL);
            free(after);
            return TCTL_EXIT_REFUSED;
        }
        free(after);
        after = NULL;
        after_len = r->next.len;
        if (after_len) {
            after = malloc(after_len);
            if (!after)
                abort();
            memcpy(after, r->next.data, after_len);
        }
        tierd__export_response__free_unpacked(r, NULL);
        if (!after_len)
            return 0;
    }
}

int tctl_export(tctl *t, const char *kind, const char *since, const char *output, const char *usage)
{
    Tierd__ExportRequest req = TIERD__EXPORT_REQUEST__INIT;
    req.kind = (char *)kind;
    req.limit = EXPORT_PAGE;
    if (since) {
        uint64_t n = 0;
        td_error terr;
        if (strcmp(kind, "partners") == 0) {
            fprintf(stderr, "tierctl: export partners takes no --since\nusage: tierctl %s\n",
                    usage);
            return TCTL_EXIT_USAGE;
        }
        if (strcmp(kind, "changes") == 0 && td_number_parse(since, 0, UINT64_MAX, &n) == 0) {
            req.since_sequence = n;
        } else if (td_time_parse(since, &req.since_time, &terr) != 0) {
            fprintf(stderr, "tierctl: --since: %s\nusage: tierctl %s\n", terr.message, usage);
            return TCTL_EXIT_USAGE;
        }
    }
    export_out o = {.f = stdout};
    char tmp[4096];
    if (output) {
        /* Written beside FILE and renamed at the end: FILE is whole or old. */
        snprintf(tmp, sizeof tmp, "%s.tmp", output);
        o.f = fopen(tmp, "w");
        if (!o.f) {
            fprintf(stderr, "tierctl: export: cannot write %s: %s\n", tmp, strerror(errno));
            return TCTL_EXIT_REFUSED;
        }
    }
    int rc = export_walk(t, &req, &o);
    if (rc == 0 && strcmp(kind, "events") == 0) {
        o.pass = 1;
        rc = export_walk(t, &req, &o);
    }
    if (output) {
        if (fflush(o.f) != 0 || fsync(fileno(o.f)) != 0) {
            fprintf(stderr, "tierctl: export: writing %s: %s\n", tmp, strerror(errno));
            rc = rc ? rc : TCTL_EXIT_REFUSED;
        }
        fclose(o.f);
        if (rc == 0 && rename(tmp, output) != 0) {
            fprintf(stderr, "tierctl: export: renaming %s: %s\n", tmp, strerror(errno));
            rc = TCTL_EXIT_REFUSED;
        }
        if (rc)
            unlink(tmp);
    } else if (fflush(stdout) != 0) {
        rc = rc ? rc : TCTL_EXIT_REFUSED;
    }
    if (rc == 0 && output)
        fprintf(stderr, "tierctl: exported %llu lines of %s\n", (unsigned long long)o.lines, kind);
    return rc;
}
