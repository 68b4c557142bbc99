/* tierctl: the command-line face of tierd (docs/tierctl.md).
 *
 * Owns the command table, argument parsing and each command: the calls it
 * makes and the answers only it prints, for people (plain text) and for
 * scripts (--json: exactly one JSON document per command on stdout; `watch`
 * streams one document per line). What several commands print alike (a tier
 * state, a partner, a change, an explanation) is drawn by tierctl_render.c,
 * times, numbers and errors by tierctl_out.c; imports are tierctl_import.c's
 * and watch is tierctl_watch.c's; help and "did you mean" are drawn from
 * the command table by tierctl_help.c. Promises the exit statuses of
 * docs/tierctl.md: 0 ok, 1 refused request (message on stderr), 2 usage
 * error (with a usage line), 3 daemon unreachable. It keeps no state of its
 * own and decides nothing about tiers; the daemon does. */
#include "tierctl.h"
#include "tierctl_cmd.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "td_file.h"
#include "td_number.h"
#include "td_time.h"

#define MAX_TYPES          64
#define MAX_PROGRAM_BYTES  (16 * 1024 * 1024)
#define LIST_PAGE          1000
#define ID_MAX             128
#define PUB_URL_MAX        1024
#define EVENT_SOURCE       "tierctl"
#define TD_TIME_STRLEN_CLI 64

static const command *find_command(const char *name);

static const char *opt(const cmd_args *a, const char *name)
{
    for (int i = 0; a->names[i]; i++) {
        size_t len = strcspn(a->names[i], "=");
        if (strlen(name) == len && strncmp(a->names[i], name, len) == 0)
            return a->val[i];
    }
    return NULL;
}

/* Every value of repeatable option `name`, in order, into out (at most
 * MAX_REPEATS); returns how many. */
static size_t opt_all(const cmd_args *a, const char *name, const char **out)
{
    size_t n = 0;
    for (int r = 0; r < a->nrep; r++) {
        const char *spec = a->names[a->rep_opt[r]];
        size_t len = strcspn(spec, "=");
        if (strlen(name) == len && strncmp(spec, name, len) == 0)
            out[n++] = a->rep[r];
    }
    return n;
}

static int usage_error(const command *c, const char *fmt, const char *what)
{
    fprintf(stderr, "tierctl: ");
    fprintf(stderr, fmt, what);
    fprintf(stderr, "\nusage: tierctl [--url URL] [--token T] [--json] [--timeout MS] %s\n",
            c->usage);
    return TCTL_EXIT_USAGE;
}

/* Options may come before, between or after positional arguments; "--"
 * ends options, "-" alone is a positional (standard input). */
static int parse_args(const command *c, int argc, char **argv, cmd_args *a)
{
    memset(a, 0, sizeof *a);
    a->names = c->opts;
    bool options = true;
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (options && strcmp(s, "--") == 0) {
            options = false;
            continue;
        }
        if (options && s[0] == '-' && s[1] == '-') {
            const char *name = s + 2;
            const char *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            int k = 0;
            for (; c->opts[k]; k++) {
                size_t olen = strcspn(c->opts[k], "=");
                if (olen == len && strncmp(c->opts[k], name, len) == 0)
                    break;
            }
            if (!c->opts[k]) {
                char near[MAX_OPTS * 8];
                if (tctl_closest_option(c, s, near, sizeof near)) {
                    fprintf(stderr, "tierctl: unknown option '%s'; did you mean '%s'?\n", s, near);
                    fprintf(stderr, "usage: tierctl %s\n", c->usage);
                    return TCTL_EXIT_USAGE;
                }
                return usage_error(c, "unknown option '%s'", s);
            }
            bool takes = c->opts[k][len] == '=';
            if (takes) {
                if (eq)
                    a->val[k] = eq + 1;
                else if (i + 1 < argc)
                    a->val[k] = argv[++i];
                else
                    return usage_error(c, "option '%s' needs a value", s);
                if (c->opts[k][len + 1] == '*') {
                    if (a->nrep == MAX_REPEATS)
                        return usage_error(c, "option '%s' given too many times", s);
                    a->rep_opt[a->nrep] = k;
                    a->rep[a->nrep++] = a->val[k];
                }
            } else {
                if (eq)
                    return usage_error(c, "option '%s' takes no value", s);
                a->val[k] = "1";
            }
            continue;
        }
        if (options && s[0] == '-' && s[1] != '\0')
            return usage_error(c, "unknown option '%s'", s);
        if (a->npos >= c->max_pos)
            return usage_error(c, "unexpected argument '%s'", s);
        a->pos[a->npos++] = s;
    }
    if (a->npos < c->min_pos)
        return usage_error(c, "%s", "missing argument");
    return 0;
}

/* ---- commands ------------------------------------------------------------------ */

static int cmd_ping(tctl *t, cmd_args *a)
{
    (void)a;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    Tierd__StatusResponse *s;
    td_error err;
    int rc = td_client_status(t->cli, &s, &err);
    if (rc)
        return tctl_fail_rc(rc, &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    if (t->json)
        tctl_print_json(
            json_pack("{s:b, s:o, s:f}", "ok", 1, "version", tctl_str(s->version), "ms", ms));
    else
        printf("pong from tierd %s at %s in %.1f ms\n", s->version, td_client_url(t->cli), ms);
    tierd__status_response__free_unpacked(s, NULL);
    return 0;
}

static int cmd_status(tctl *t, cmd_args *a)
{
    (void)a;
    Tierd__StatusResponse *s;
    td_error err;
    int rc = td_client_status(t->cli, &s, &err);
    if (rc)
        return tctl_fail_rc(rc, &err);
    if (t->json) {
        json_t *listen = json_array(), *publish = json_array(), *conns = json_array();
        for (size_t i = 0; i < s->n_listen; i++)
            json_array_append_new(listen, tctl_str(s->listen[i]));
        for (size_t i = 0; i < s->n_publish; i++)
            json_array_append_new(publish, tctl_str(s->publish[i]));
        for (size_t i = 0; i < s->n_connectors; i++) {
            const Tierd__ConnectorStatus *c = s->connectors[i];
            json_t *o = json_pack(
                "{s:o, s:o, s:o, s:I, s:o, s:I, s:o}", "name", tctl_str(c->name), "state",
                tctl_str(c->state), "last_error", tctl_str_or_null(c->last_error), "events_sent",
                (json_int_t)c->events_sent, "cursor", tctl_str_or_null(c->cursor), "restarts",
                (json_int_t)c->restarts, "next_start", tctl_time_json(c->next_start));
            /* Sinks (part E): direction, lag and the oldest change not acknowledged. */
            json_object_set_new(o, "direction", tctl_str_or_null(c->direction));
            json_object_set_new(o, "sink_lag", json_integer((json_int_t)c->sink_lag));
            json_object_set_new(o, "sink_oldest_unacked", tctl_time_json(c->sink_oldest_unacked));
            json_array_append_new(conns, o);
        }
        json_t *wh =
            json_pack("{s:I, s:I, s:I, s:I}", "endpoints", (json_int_t)s->webhook_endpoints,
                      "queued", (json_int_t)s->webhook_queued, "dead", (json_int_t)s->webhook_dead,
                      "delivered", (json_int_t)s->webhook_delivered);
        tctl_print_json(json_pack(
            "{s:o, s:o, s:b, s:o, s:o, s:o, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o}",
            "version", tctl_str(s->version), "now", tctl_time_json(s->now), "fake_clock",
            s->fake_clock, "program", tctl_str_or_null(s->program), "program_version",
            tctl_str_or_null(s->program_version), "program_source",
            tctl_str_or_null(s->program_source), "partners", (json_int_t)s->partners, "events",
            (json_int_t)s->events, "last_sequence", (json_int_t)s->last_sequence, "pending",
            (json_int_t)s->pending, "started", tctl_time_json(s->started), "state_dir",
            tctl_str_or_null(s->state_dir), "listen", listen, "publish", publish, "connectors",
            conns, "webhooks", wh));
    } else {
        char now[64], started[64], n1[TCTL_NUM_STRLEN], n2[TCTL_NUM_STRLEN];
        tctl_time_rfc3339(s->now, now, sizeof now);
        tctl_time_rfc3339(s->started, started, sizeof started);
        printf("tierd %s, up since %s\n", s->version, started);
        printf("clock:     %s%s\n", now, s->fake_clock ? " (fake)" : "");
        if (s->program && *s->program)
            printf("program:   %s, version %s%s%s%s\n", s->program, s->program_version,
                   s->program_source && *s->program_source ? " (from " : "",
                   s->program_source ? s->program_source : "",
                   s->program_source && *s->program_source ? ")" : "");
        else
            printf("program:   none loaded (tierctl program load FILE)\n");
        tctl_num_human((double)s->partners, n1, sizeof n1);
        tctl_num_human((double)s->events, n2, sizeof n2);
        printf("partners:  %s\nevents:    %s\n", n1, n2);
        printf("changes:   %llu (last sequence)\npending:   %llu\n",
               (unsigned long long)s->last_sequence, (unsigned long long)s->pending);
        if (s->state_dir && *s->state_dir)
            printf("state dir: %s\n", s->state_dir);
        for (size_t i = 0; i < s->n_listen; i++)
            printf("listen:    %s\n", s->listen[i]);
        for (size_t i = 0; i < s->n_publish; i++)
            printf("publish:   %s\n", s->publish[i]);
        if (s->webhook_endpoints || s->webhook_queued || s->webhook_dead)
            printf("webhooks:  %llu endpoints, %llu queued, %llu dead, %llu delivered since "
                   "start\n",
                   (unsigned long long)s->webhook_endpoints, (unsigned long long)s->webhook_queued,
                   (unsigned long long)s->webhook_dead, (unsigned long long)s->webhook_delivered);
        for (size_t i = 0; i < s->n_connectors; i++) {
            const Tierd__ConnectorStatus *c = s->connectors[i];
            if (c->direction && strcmp(c->direction, "sink") == 0)
                printf("connector: %s (sink) %s, %llu changes acknowledged since start, at change "
                       "%s, lag %llu changes, %u restarts%s%s\n",
                       c->name, c->state, (unsigned long long)c->events_sent,
                       c->cursor && *c->cursor ? c->cursor : "0", (unsigned long long)c->sink_lag,
                       c->restarts, c->last_error && *c->last_error ? "; last error: " : "",
                       c->last_error ? c->last_error : "");
            else
                printf("connector: %s %s, %llu events committed since start, %u restarts%s%s\n",
                       c->name, c->state, (unsigned long long)c->events_sent, c->restarts,
                       c->last_error && *c->last_error ? "; last error: " : "",
                       c->last_error ? c->last_error : "");
        }
    }
    tierd__status_response__free_unpacked(s, NULL);
    return 0;
}

char *tctl_read_program(const char *path, size_t *len, int *exit_code)
{
    char *buf = NULL;
    td_error err;
    int rc = strcmp(path, "-") == 0
                 ? td_file_read_stream(stdin, "standard input", MAX_PROGRAM_BYTES, &buf, len, &err)
                 : td_file_read(path, MAX_PROGRAM_BYTES, &buf, len, &err);
    if (rc == 0 && strlen(buf) != *len) {
        rc = td_error_set(&err, TD_INVALID_ARGUMENT,
                          "%s contains a NUL byte; a program is YAML text", path);
        free(buf);
    }
    if (rc) {
        fprintf(stderr, "tierctl: %s\n", err.message);
        *exit_code = TCTL_EXIT_REFUSED;
        return NULL;
    }
    return buf;
}

/* null when the version was already in force (nothing happened). */
static json_t *impact_json(const Tierd__ProgramImpact *im)
{
    if (!im)
        return json_null();
    return json_pack(
        "{s:o, s:I, s:I, s:I, s:I, s:o, s:o, s:I}", "at", tctl_time_json(im->at), "promoted",
        (json_int_t)im->promoted, "queued_for_approval", (json_int_t)im->queued, "demoted",
        (json_int_t)im->demoted, "demoted_later", (json_int_t)im->demoted_later, "first_demotion",
        im->demoted_later ? tctl_time_json(im->first_demotion) : json_null(), "last_demotion",
        im->demoted_later ? tctl_time_json(im->last_demotion) : json_null(), "unchanged",
        (json_int_t)im->unchanged);
}

static void impact_print(const Tierd__ProgramImpact *im, bool dry_run)
{
    if (!im) {
        printf("already in force: nothing changed\n");
        return;
    }
    char at[64], first[64], last[64];
    tctl_time_human(im->at, at, sizeof at);
    printf("%s at %s (counted per partner and ladder):\n", dry_run ? "would happen" : "happens",
           at);
    printf("  promoted now         %llu\n", (unsigned long long)im->promoted);
    printf("  queued for approval  %llu\n", (unsigned long long)im->queued);
    printf("  demoted now          %llu\n", (unsigned long long)im->demoted);
    if (im->demoted_later) {
        tctl_time_human(im->first_demotion, first, sizeof first);
        tctl_time_human(im->last_demotion, last, sizeof last);
        if (im->first_demotion == im->last_demotion)
            printf("  demoted later        %llu  (on %s, unless they recover)\n",
                   (unsigned long long)im->demoted_later, first);
        else
            printf("  demoted later        %llu  (from %s to %s, unless they recover)\n",
                   (unsigned long long)im->demoted_later, first, last);
    } else {
        printf("  demoted later        0\n");
    }
    printf("  unchanged            %llu\n", (unsigned long long)im->unchanged);
}

static int cmd_program_load(tctl *t, cmd_args *a)
{
    int code = 0;
    size_t len;
    char *yaml = tctl_read_program(a->pos[0], &len, &code);
    if (!yaml)
        return code;
    Tierd__PutProgramRequest req = TIERD__PUT_PROGRAM_REQUEST__INIT;
    req.yaml = yaml;
    req.filename = (char *)a->pos[0];
    req.dry_run = opt(a, "dry-run") != NULL;
    req.force = opt(a, "force") != NULL;
    Tierd__PutProgramResponse *r;
    td_error err;
    int rc = td_client_put_program(t->cli, &req, &r, &err);
    free(yaml);
    if (rc)
        return tctl_fail_rc(rc, &err);
    if (t->json) {
        json_t *diags = json_array();
        for (size_t i = 0; i < r->n_diagnostics; i++)
            json_array_append_new(diags, tctl_str(r->diagnostics[i]));
        json_t *doc =
            json_pack("{s:o, s:o, s:o, s:b, s:b, s:b, s:I, s:I, s:o}", "program",
                      tctl_str(r->program), "version", tctl_str(r->version), "effective",
                      tctl_time_json(r->effective), "applied", r->applied, "dry_run", req.dry_run,
                      "scheduled", r->scheduled, "would_promote", (json_int_t)r->would_promote,
                      "would_demote", (json_int_t)r->would_demote, "diagnostics", diags);
        json_object_set_new(doc, "impact", impact_json(r->impact));
        tctl_print_json(doc);
    } else {
        char eff[64];
        tctl_time_human(r->effective, eff, sizeof eff);
        for (size_t i = 0; i < r->n_diagnostics; i++)
            fprintf(stderr, "%s\n", r->diagnostics[i]);
        if (req.dry_run)
            printf("%s version %s is valid (dry run, nothing changed); effective %s\n", r->program,
                   r->version, eff);
        else
            printf("loaded %s version %s, effective %s%s\n", r->program, r->version, eff,
                   r->scheduled ? " (scheduled)" : "");
        impact_print(r->impact, req.dry_run);
    }
    tierd__put_program_response__free_unpacked(r, NULL);
    return 0;
}

static int cmd_program_show(tctl *t, cmd_args *a)
{
    Tierd__GetProgramResponse *r;
    td_error err;
    int rc = td_client_get_program(t->cli, &r, &err);
    if (rc)
        return tctl_fail_rc(rc, &err);
    if (opt(a, "yaml") && !t->json) {
        fputs(r->yaml, stdout);
    } else if (t->json) {
        json_t *ladders = json_array(), *versions = json_array();
        for (size_t i = 0; i < r->n_ladders; i++) {
            const Tierd__LadderInfo *l = r->ladders[i];
            json_t *types = json_array(), *tiers = json_array();
            for (size_t k = 0; k < l->n_partner_types; k++)
                json_array_append_new(types, tctl_str(l->partner_types[k]));
            for (size_t k = 0; k < l->n_tiers; k++)
                json_array_append_new(tiers, tctl_str(l->tiers[k]));
            json_array_append_new(ladders, json_pack("{s:o, s:o, s:o, s:b}", "ladder",
                                                     tctl_str(l->name), "partner_types", types,
                                                     "tiers", tiers, "cumulative", l->cumulative));
        }
        for (size_t i = 0; i < r->n_versions; i++) {
            const Tierd__ProgramVersion *v = r->versions[i];
            json_array_append_new(versions, json_pack("{s:o, s:o, s:o, s:b, s:b, s:o}", "version",
                                                      tctl_str(v->version), "loaded",
                                                      tctl_time_json(v->loaded), "effective",
                                                      tctl_time_json(v->effective), "in_force",
                                                      v->in_force, "scheduled", v->scheduled,
                                                      "actor", tctl_str_or_null(v->actor)));
        }
        tctl_print_json(json_pack("{s:o, s:o, s:o, s:o, s:o}", "program",
                                  tctl_str_or_null(r->program), "version",
                                  tctl_str_or_null(r->version), "ladders", ladders, "versions",
                                  versions, "yaml", tctl_str(r->yaml)));
    } else {
        printf("program %s, version %s in force\n", r->program, r->version);
        for (size_t i = 0; i < r->n_ladders; i++) {
            const Tierd__LadderInfo *l = r->ladders[i];
            printf("  ladder %s (", l->name);
            for (size_t k = 0; k < l->n_partner_types; k++)
                printf("%s%s", k ? ", " : "", l->partner_types[k]);
            printf("):");
            for (size_t k = 0; k < l->n_tiers; k++)
                printf("%s %s", k ? " <" : "", l->tiers[k]);
            printf("%s\n", l->cumulative ? "" : "  (not cumulative)");
        }
        for (size_t i = 0; i < r->n_versions; i++) {
            const Tierd__ProgramVersion *v = r->versions[i];
            char loaded[64], eff[64];
            tctl_time_human(v->loaded, loaded, sizeof loaded);
            tctl_time_human(v->effective, eff, sizeof eff);
            printf("  version %s: loaded %s%s%s, effective %s%s\n", v->version, loaded,
                   v->actor && *v->actor ? " by " : "", v->actor ? v->actor : "", eff,
                   v->in_force    ? " (in force)"
                   : v->scheduled ? " (scheduled)"
                                  : "");
        }
    }
    tierd__get_program_response__free_unpacked(r, NULL);
    return 0;
}

static int split_types(const char *list, char *store, size_t cap, char **types, size_t *n)
{
    if (strlen(list) >= cap)
        return -1;
    strcpy(store, list);
    *n = 0;
    for (char *save = NULL, *tok = strtok_r(store, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        size_t len = strlen(tok);
        while (len && tok[len - 1] == ' ')
            tok[--len] = '\0';
        if (!len)
            continue;
        if (*n >= MAX_TYPES)
            return -1;
        types[(*n)++] = tok;
    }
    return *n ? 0 : -1;
}

static int cmd_partner_put(tctl *t, cmd_args *a);
/* --in-flight N: batches sent before the first answer is waited for. */
static int in_flight_arg(cmd_args *a, int *n)
{
    const char *v = opt(a, "in-flight");
    *n = TCTL_IMPORT_IN_FLIGHT;
    if (!v)
        return 0;
    uint64_t x;
    if (td_number_parse(v, 1, TCTL_IMPORT_IN_FLIGHT_MAX, &x) != 0) {
        fprintf(stderr, "tierctl: --in-flight: '%s' is not a whole number from 1 to %d\n", v,
                TCTL_IMPORT_IN_FLIGHT_MAX);
        return -1;
    }
    *n = (int)x;
    return 0;
}

static int cmd_partner_import(tctl *t, cmd_args *a)
{
    int n;
    if (in_flight_arg(a, &n))
        return TCTL_EXIT_USAGE;
    return tctl_import_partners(t, a->pos[0], n);
}

static int cmd_partner_show(tctl *t, cmd_args *a)
{
    Tierd__PartnerInfo *p;
    td_error err;
    int rc = td_client_get_partner(t->cli, a->pos[0], &p, &err);
    if (rc)
        return tctl_fail_rc(rc, &err);
    if (t->json) {
        tctl_print_json(tctl_partner_json(p));
    } else {
        const Tierd__Partner *pp = p->partner;
        printf("%s", pp ? pp->id : a->pos[0]);
        if (pp && pp->name && *pp->name)
            printf("  %s", pp->name);
        printf("  (");
        for (size_t i = 0; pp && i < pp->n_types; i++)
            printf("%s%s", i ? ", " : "", pp->types[i]);
        printf(")\n");
        for (size_t i = 0; pp && i < pp->n_attrs; i++)
            printf("  %s=%s\n", pp->attrs[i]->key, pp->attrs[i]->value);
        if (p->n_tiers == 0)
            printf("  on no ladder\n");
        for (size_t i = 0; i < p->n_tiers; i++)
            tctl_print_tier_state(p->tiers[i], "  ");
        char n[TCTL_NUM_STRLEN];
        tctl_num_human((double)p->events, n, sizeof n);
        printf("  %s events\n", n);
    }
    tierd__partner_info__free_unpacked(p, NULL);
    return 0;
}

/* The pages partner list fetched, kept to the end so that its columns
 * can be as wide as the rows shown need. */
typedef struct list_pages {
    Tierd__ListPartnersResponse **pages;
    size_t n, cap;
} list_pages;

static int list_pages_keep(list_pages *lp, Tierd__ListPartnersResponse *r)
{
    if (lp->n == lp->cap) {
        size_t cap = lp->cap ? 2 * lp->cap : 16;
        Tierd__ListPartnersResponse **p = realloc(lp->pages, cap * sizeof *p);
        if (!p)
            return -1;
        lp->pages = p;
        lp->cap = cap;
    }
    lp->pages[lp->n++] = r;
    return 0;
}

static void list_pages_free(list_pages *lp)
{
    for (size_t i = 0; i < lp->n; i++)
        tierd__list_partners_response__free_unpacked(lp->pages[i], NULL);
    free(lp->pages);
}

/* Columns: partner, name (when any row has one), then one per ladder in
 * the order rows first name them; "-" for a partner not on a ladder. The
 * rows shown are [skip[i], shown[i]) of each page. */
static void print_partner_columns(const list_pages *lp, const size_t *skip, const size_t *upto)
{
    const char *ladders[TCTL_MAX_COLUMNS];
    size_t nl = 0;
    bool names = false;
    tctl_table tb;
    if (tctl_table_init(&tb) != 0)
        return;
    for (size_t pg = 0; pg < lp->n; pg++)
        for (size_t i = skip[pg]; i < upto[pg]; i++) {
            const Tierd__PartnerInfo *p = lp->pages[pg]->partners[i];
            names |= p->partner && p->partner->name && *p->partner->name;
            for (size_t k = 0; k < p->n_tiers; k++) {
                size_t l = 0;
                while (l < nl && strcmp(ladders[l], p->tiers[k]->ladder) != 0)
                    l++;
                if (l == nl && nl + 2 < TCTL_MAX_COLUMNS)
                    ladders[nl++] = p->tiers[k]->ladder;
            }
        }
    const char *cells[TCTL_MAX_COLUMNS];
    size_t nc = 0;
    cells[nc++] = "partner";
    if (names)
        cells[nc++] = "name";
    for (size_t l = 0; l < nl; l++)
        cells[nc++] = ladders[l];
    tctl_table_add(&tb, cells, nc);
    for (size_t pg = 0; pg < lp->n; pg++)
        for (size_t i = skip[pg]; i < upto[pg]; i++) {
            const Tierd__PartnerInfo *p = lp->pages[pg]->partners[i];
            const Tierd__Partner *pp = p->partner;
            nc = 0;
            cells[nc++] = pp ? pp->id : "?";
            if (names)
                cells[nc++] = pp && pp->name && *pp->name ? pp->name : "-";
            for (size_t l = 0; l < nl; l++) {
                const char *tier = "-";
                for (size_t k = 0; k < p->n_tiers; k++)
                    if (strcmp(p->tiers[k]->ladder, ladders[l]) == 0)
                        tier = tctl_tier_name(p->tiers[k]->tier);
                cells[nc++] = tier;
            }
            tctl_table_add(&tb, cells, nc);
        }
    tctl_table_print(&tb, stdout);
    tctl_table_free(&tb);
}

/* --at-risk DURATION: the instant that far past tierd's clock (a fake one
 * too), for ListPartnersRequest.at_risk_before. */
static int at_risk_before(tctl *t, const command *c, const char *within, int64_t *out)
{
    td_error err = {0};
    int64_t seconds = 0;
    if (td_duration_parse(within, &seconds, &err) != 0) {
        char why[TD_ERROR_MAX + 64];
        snprintf(why, sizeof why, "'%.32s': %s", within, err.message);
        return usage_error(c, "--at-risk %s", why);
    }
    Tierd__ClockResponse *r;
    int rc = td_client_clock(t->cli, NULL, &r, &err);
    if (rc)
        return tctl_fail_rc(rc, &err);
    *out = r->now > TD_TIME_MAX - seconds ? TD_TIME_MAX : r->now + seconds;
    tierd__clock_response__free_unpacked(r, NULL);
    return 0;
}

/* partner list: every page (or --limit N rows, the --page P-th of them),
 * in columns for a person, one document for --json. With --limit the last
 * request asks tierd to count the partners left out, and a person is told
 * how many there are. */
static int cmd_partner_list(tctl *t, cmd_args *a)
{
    const command *c = find_command("partner");
    while (strcmp(c->name, "list") != 0)
        c++;
    uint64_t limit = 0, page = 1;
    if (opt(a, "limit") && td_number_parse(opt(a, "limit"), 0, UINT32_MAX, &limit) != 0)
        return usage_error(c, "--limit '%s' must be a whole number", opt(a, "limit"));
    if (opt(a, "page") && td_number_parse(opt(a, "page"), 1, UINT32_MAX, &page) != 0)
        return usage_error(c, "--page '%s' must be a whole number from 1", opt(a, "page"));
    if (opt(a, "page") && !limit)
        return usage_error(c, "%s", "--page needs --limit N (the rows on a page)");
    Tierd__ListPartnersRequest req = TIERD__LIST_PARTNERS_REQUEST__INIT;
    req.ladder = (char *)(opt(a, "ladder") ? opt(a, "ladder") : "");
    req.tier = (char *)(opt(a, "tier") ? opt(a, "tier") : "");
    req.benefit = (char *)(opt(a, "benefit") ? opt(a, "benefit") : "");
    const char *where[MAX_REPEATS];
    req.n_where = opt_all(a, "where", where);
    req.where = (char **)where;
    if (opt(a, "at-risk")) {
        int rc = at_risk_before(t, c, opt(a, "at-risk"), &req.at_risk_before);
        if (rc)
            return rc;
    }
    char after[ID_MAX * 8] = "";
    json_t *all = t->json ? json_array() : NULL;
    list_pages lp = {0};
    size_t *skip = NULL, *upto = NULL;
    uint64_t to_skip = (page - 1) * limit, shown = 0, remaining = 0;
    bool more = false, counted = false;
    td_error err;
    int code = 0;
    for (;;) {
        req.after = after;
        uint64_t want = limit ? to_skip + limit - shown : LIST_PAGE;
        req.limit = (uint32_t)(want < LIST_PAGE ? want : LIST_PAGE);
        /* Counting walks every partner after the page: only when this
         * request may be the last one shown. */
        req.count_remaining = limit && want <= LIST_PAGE;
        Tierd__ListPartnersResponse *r;
        int rc = td_client_list_partners(t->cli, &req, &r, &err);
        if (rc) {
            code = tctl_fail_rc(rc, &err);
            break;
        }
        if (list_pages_keep(&lp, r) != 0) {
            tierd__list_partners_response__free_unpacked(r, NULL);
            fprintf(stderr, "tierctl: out of memory\n");
            code = TCTL_EXIT_REFUSED;
            break;
        }
        size_t *ns = realloc(skip, lp.n * sizeof *ns),
               *nu = ns ? realloc(upto, lp.n * sizeof *nu) : NULL;
        if (ns)
            skip = ns;
        if (nu)
            upto = nu;
        if (!ns || !nu) {
            fprintf(stderr, "tierctl: out of memory\n");
            code = TCTL_EXIT_REFUSED;
            break;
        }
        size_t i = 0;
        for (; i < r->n_partners && to_skip; i++)
            to_skip--;
        skip[lp.n - 1] = i;
        for (; i < r->n_partners && (!limit || shown < limit); i++, shown++)
            if (t->json)
                json_array_append_new(all, tctl_partner_json(r->partners[i]));
        upto[lp.n - 1] = i;
        more = r->next && *r->next && r->n_partners > 0;
        counted = req.count_remaining;
        remaining = r->remaining + (r->n_partners - i);
        bool go_on = more && (!limit || shown < limit);
        if (go_on && strlen(r->next) >= sizeof after) {
            fprintf(stderr, "tierctl: INTERNAL: paging id too long\n");
            go_on = false;
        }
        if (!go_on)
            break;
        strcpy(after, r->next);
    }
    if (!more)
        remaining = 0;
    if (code == 0 && t->json) {
        json_t *doc = json_pack("{s:o, s:I}", "partners", all, "count", (json_int_t)shown);
        all = NULL;
        if (limit && doc)
            json_object_set_new(doc, "remaining",
                                more && (!counted || !remaining)
                                    ? json_null()
                                    : json_integer((json_int_t)remaining));
        tctl_print_json(doc);
    } else if (code == 0) {
        if (shown)
            print_partner_columns(&lp, skip, upto);
        else
            printf("no partners%s\n", page > 1 ? " on this page" : "");
        char n[TCTL_NUM_STRLEN];
        tctl_num_human((double)remaining, n, sizeof n);
        if (more && counted && remaining)
            printf("%s more; use --limit or --page\n", n);
        else if (more)
            printf("more partners; use --limit or --page\n");
    }
    json_decref(all);
    free(skip);
    free(upto);
    list_pages_free(&lp);
    return code;
}

static int cmd_partner_delete(tctl *t, cmd_args *a)
{
    Tierd__DeletePartnerResponse *r;
    td_error err;
    int rc = td_client_delete_partner(t->cli, a->pos[0], &r, &err);
    if (rc)
        return tctl_fail_rc(rc, &err);
    if (t->json)
        tctl_print_json(
            json_pack("{s:o, s:b}", "partner", tctl_str(a->pos[0]), "deleted", r->deleted));
    else
        printf(r->deleted ? "deleted %s\n" : "%s was not there; nothing deleted\n", a->pos[0]);
    tierd__delete_partner_response__free_unpacked(r, NULL);
    return 0;
}

static int cmd_event_add(tctl *t, cmd_args *a);
static int cmd_event_import(tctl *t, cmd_args *a)
{
    int n;
    if (in_flight_arg(a, &n))
        return TCTL_EXIT_USAGE;
    tctl_import_opts o = {.replay = opt(a, "replay") != NULL,
                          .publish_past = opt(a, "publish-past") != NULL,
                          .no_catch_up = opt(a, "no-catch-up") != NULL};
    if ((o.publish_past || o.no_catch_up) && !o.replay) {
        fprintf(stderr, "tierctl: --publish-past and --no-catch-up go with --replay\n");
        return TCTL_EXIT_USAGE;
    }
    if (o.replay && opt(a, "in-flight")) {
        fprintf(stderr,
                "tierctl: --replay sends one batch at a time, in order; drop --in-flight\n");
        return TCTL_EXIT_USAGE;
    }
    return tctl_import_events(t, a->pos[0], n, &o);
}

static int cmd_explain(tctl *t, cmd_args *a)
{
    Tierd__ExplainRequest req = TIERD__EXPLAIN_REQUEST__INIT;
    req.partner = (char *)a->pos[0];
    req.ladder = (char *)(opt(a, "ladder") ? opt(a, "ladder") : "");
    req.at = (char *)(opt(a, "at") ? opt(a, "at") : "");
    Tierd__ExplainResponse *r;
    td_error err;
    int rc = td_client_explain(t->cli, &req, &r, &err);
    if (rc)
        return tctl_fail_rc(rc, &err);
    const char *partner = r->partner && *r->partner ? r->partner : a->pos[0];
    if (t->json) {
        if (r->n_ladders == 1) {
            tctl_print_json(tctl_explain_json(partner, r->ladders[0]));
        } else {
            json_t *arr = json_array();
            for (size_t i = 0; i < r->n_ladders; i++)
                json_array_append_new(arr, tctl_explain_json(partner, r->ladders[i]));
            tctl_print_json(arr);
        }
    } else {
        if (r->n_ladders == 0)
            printf("%s is on no ladder\n", partner);
        for (size_t i = 0; i < r->n_ladders; i++) {
            if (i)
                printf("\n");
            tctl_print_explain(r->ladders[i]);
        }
    }
    tierd__explain_response__free_unpacked(r, NULL);
    return 0;
}

static int print_changes(tctl *t, Tierd__ChangesResponse *r)
{
    if (t->json) {
        tctl_print_json(tctl_changes_json(r));
    } else {
        if (r->n_changes == 0)
            printf("no changes\n");
        for (size_t i = 0; i < r->n_changes; i++)
            tctl_print_change(r->changes[i]);
    }
    tierd__changes_response__free_unpacked(r, NULL);
    return 0;
}

static int limit_opt(const cmd_args *a, const char *usage, uint32_t *out)
{
    uint64_t v = 0;
    if (opt(a, "limit") && td_number_parse(opt(a, "limit"), 0, UINT32_MAX, &v) != 0) {
        fprintf(stderr, "tierctl: --limit must be a whole number\nusage: tierctl %s\n", usage);
        return TCTL_EXIT_USAGE;
    }
    *out = (uint32_t)v;
    return 0;
}

static int cmd_history(tctl *t, cmd_args *a)
{
    Tierd__HistoryRequest req = TIERD__HISTORY_REQUEST__INIT;
    req.partner = (char *)a->pos[0];
    req.ladder = (char *)(opt(a, "ladder") ? opt(a, "ladder") : "");
    int bad = limit_opt(a, "history ID [--ladder L] [--limit N]", &req.limit);
    if (bad)
        return bad;
    Tierd__ChangesResponse *r;
    td_error err;
    int rc = td_client_history(t->cli, &req, &r, &err);
    if (rc)
        return tctl_fail_rc(rc, &err);
    return print_changes(t, r);
}

static int cmd_changes(tctl *t, cmd_args *a)
{
    uint64_t since = 0;
    uint32_t limit = 0;
    if (opt(a, "since") && td_number_parse(opt(a, "since"), 0, UINT64_MAX, &since) != 0) {
        fprintf(stderr, "tierctl: --since must be a sequence number\n"
                        "usage: tierctl changes [--since N] [--limit N]\n");
        return TCTL_EXIT_USAGE;
    }
    int bad = limit_opt(a, "changes [--since N] [--limit N]", &limit);
    if (bad)
        return bad;
    Tierd__ChangesResponse *r;
    td_error err;
    int rc = td_client_list_changes(t->cli, since, limit, &r, &err);
    if (rc)
        return tctl_fail_rc(rc, &err);
    return print_changes(t, r);
}

static int cmd_override_set(tctl *t, cmd_args *a)
{
    const char *need[] = {"ladder", "tier", "until", "reason"};
    for (size_t i = 0; i < sizeof need / sizeof *need; i++) {
        if (!opt(a, need[i]) || !*opt(a, need[i])) {
            fprintf(stderr,
                    "tierctl: override set needs --%s\n"
                    "usage: tierctl override set ID --ladder L --tier T --until T --reason R\n",
                    need[i]);
            return TCTL_EXIT_USAGE;
        }
    }
    Tierd__SetOverrideRequest req = TIERD__SET_OVERRIDE_REQUEST__INIT;
    req.partner = (char *)a->pos[0];
    req.ladder = (char *)opt(a, "ladder");
    req.tier = (char *)opt(a, "tier");
    req.until = (char *)opt(a, "until");
    req.reason = (char *)opt(a, "reason");
    Tierd__TierState *s;
    td_error err;
    int rc = td_client_set_override(t->cli, &req, &s, &err);
    if (rc)
        return tctl_fail_rc(rc, &err);
    return tctl_print_state_answer(t, a->pos[0], s);
}

static int need_ladder(const cmd_args *a, const char *usage)
{
    if (opt(a, "ladder") && *opt(a, "ladder"))
        return 0;
    fprintf(stderr, "tierctl: --ladder is required\nusage: tierctl %s\n", usage);
    return TCTL_EXIT_USAGE;
}

static int cmd_override_clear(tctl *t, cmd_args *a)
{
    int bad = need_ladder(a, "override clear ID --ladder L");
    if (bad)
        return bad;
    Tierd__TierState *s;
    td_error err;
    int rc = td_client_clear_override(t->cli, a->pos[0], opt(a, "ladder"), &s, &err);
    if (rc)
        return tctl_fail_rc(rc, &err);
    return tctl_print_state_answer(t, a->pos[0], s);
}

static int cmd_pending(tctl *t, cmd_args *a)
{
    (void)a;
    Tierd__ListPendingResponse *r;
    td_error err;
    int rc = td_client_list_pending(t->cli, &r, &err);
    if (rc)
        return tctl_fail_rc(rc, &err);
    if (t->json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < r->n_pending; i++) {
            const Tierd__PendingApproval *p = r->pending[i];
            bool down = p->direction == TIERD__DIRECTION__DIRECTION_DEMOTION;
            json_array_append_new(
                arr,
                json_pack("{s:o, s:o, s:o, s:o, s:o, s:s, s:o}", "partner", tctl_str(p->partner),
                          "ladder", tctl_str(p->ladder), "from", tctl_str_or_null(p->from_tier),
                          "to", tctl_str_or_null(p->to_tier), "since", tctl_time_json(p->since),
                          "direction", down ? "demotion" : "promotion", "deadline",
                          down ? tctl_time_json(p->deadline) : json_null()));
        }
        tctl_print_json(json_pack("{s:o}", "pending", arr));
    } else {
        if (r->n_pending == 0)
            printf("nothing waits for approval\n");
        for (size_t i = 0; i < r->n_pending; i++) {
            const Tierd__PendingApproval *p = r->pending[i];
            bool down = p->direction == TIERD__DIRECTION__DIRECTION_DEMOTION;
            char since[64], deadline[64];
            tctl_time_human(p->since, since, sizeof since);
            printf("%s %s: %s -> %s %s (waiting since %s", p->partner, p->ladder,
                   tctl_tier_name(p->from_tier), tctl_tier_name(p->to_tier),
                   down ? "demotion" : "promotion", since);
            if (down) {
                tctl_time_human(p->deadline, deadline, sizeof deadline);
                printf("; goes through %s unless denied", deadline);
            }
            printf(")\n");
        }
    }
    tierd__list_pending_response__free_unpacked(r, NULL);
    return 0;
}

static int decide(tctl *t, cmd_args *a, bool approve)
{
    int bad = need_ladder(a, approve ? "approve ID --ladder L [--reason R]"
                                     : "deny ID --ladder L [--reason R]");
    if (bad)
        return bad;
    Tierd__DecisionRequest req = TIERD__DECISION_REQUEST__INIT;
    req.partner = (char *)a->pos[0];
    req.ladder = (char *)opt(a, "ladder");
    req.reason = (char *)(opt(a, "reason") ? opt(a, "reason") : "");
    Tierd__TierState *s;
    td_error err;
    int rc = approve ? td_client_approve(t->cli, &req, &s, &err)
                     : td_client_deny(t->cli, &req, &s, &err);
    if (rc)
        return tctl_fail_rc(rc, &err);
    return tctl_print_state_answer(t, a->pos[0], s);
}

static int cmd_approve(tctl *t, cmd_args *a)
{
    return decide(t, a, true);
}

static int cmd_deny(tctl *t, cmd_args *a)
{
    return decide(t, a, false);
}

static json_t *ladder_counts_json(Tierd__LadderStats **ls, size_t n)
{
    json_t *ladders = json_object();
    for (size_t i = 0; i < n; i++) {
        json_t *counts = json_object();
        for (size_t k = 0; k < ls[i]->n_tiers; k++) {
            const Tierd__TierCount *c = ls[i]->tiers[k];
            json_object_set_new(counts, c->tier && *c->tier ? c->tier : "unranked",
                                json_integer((json_int_t)c->count));
        }
        json_object_set_new(ladders, ls[i]->ladder, counts);
    }
    return ladders;
}

/* stats --by ATTR: per value ("(none)" for partners without it), per
 * ladder, the count per tier. */
static int stats_by(tctl *t, const char *attr)
{
    Tierd__StatsByRequest req = TIERD__STATS_BY_REQUEST__INIT;
    req.attr = (char *)attr;
    Tierd__StatsByResponse *r;
    td_error err;
    int rc = td_client_stats_by(t->cli, &req, &r, &err);
    if (rc)
        return tctl_fail_rc(rc, &err);
    if (t->json) {
        json_t *values = json_array();
        for (size_t v = 0; v < r->n_values; v++) {
            const Tierd__AttrValueStats *vs = r->values[v];
            json_array_append_new(values,
                                  json_pack("{s:o, s:I, s:o}", "value",
                                            vs->none ? json_null() : tctl_str(vs->value),
                                            "partners", (json_int_t)vs->partners, "ladders",
                                            ladder_counts_json(vs->ladders, vs->n_ladders)));
        }
        tctl_print_json(json_pack("{s:o, s:o}", "by", tctl_str(r->attr), "values", values));
    } else {
        char n[TCTL_NUM_STRLEN];
        for (size_t v = 0; v < r->n_values; v++) {
            const Tierd__AttrValueStats *vs = r->values[v];
            tctl_num_human((double)vs->partners, n, sizeof n);
            printf("%s=%s: %s partners\n", r->attr, vs->none ? "(none)" : vs->value, n);
            for (size_t i = 0; i < vs->n_ladders; i++) {
                printf("  %s\n", vs->ladders[i]->ladder);
                for (size_t k = 0; k < vs->ladders[i]->n_tiers; k++) {
                    const Tierd__TierCount *c = vs->ladders[i]->tiers[k];
                    tctl_num_human((double)c->count, n, sizeof n);
                    printf("    %-20s %12s\n", tctl_tier_name(c->tier), n);
                }
            }
        }
    }
    tierd__stats_by_response__free_unpacked(r, NULL);
    return 0;
}

static int cmd_stats(tctl *t, cmd_args *a)
{
    if (opt(a, "by"))
        return stats_by(t, opt(a, "by"));
    Tierd__StatsResponse *r;
    td_error err;
    int rc = td_client_stats(t->cli, &r, &err);
    if (rc)
        return tctl_fail_rc(rc, &err);
    if (t->json) {
        json_t *ladders = ladder_counts_json(r->ladders, r->n_ladders);
        tctl_print_json(json_pack("{s:I, s:o, s:I}", "partners", (json_int_t)r->partners, "ladders",
                                  ladders, "events", (json_int_t)r->events));
    } else {
        char n[TCTL_NUM_STRLEN];
        tctl_num_human((double)r->partners, n, sizeof n);
        printf("%s partners", n);
        tctl_num_human((double)r->events, n, sizeof n);
        printf(", %s events\n", n);
        for (size_t i = 0; i < r->n_ladders; i++) {
            printf("%s\n", r->ladders[i]->ladder);
            for (size_t k = 0; k < r->ladders[i]->n_tiers; k++) {
                const Tierd__TierCount *c = r->ladders[i]->tiers[k];
                tctl_num_human((double)c->count, n, sizeof n);
                printf("  %-20s %12s\n", tctl_tier_name(c->tier), n);
            }
        }
    }
    tierd__stats_response__free_unpacked(r, NULL);
    return 0;
}

/* The Prometheus text as tierd renders it, whatever --json says: it is
 * already a machine format. */
static int cmd_metrics(tctl *t, cmd_args *a)
{
    (void)a;
    Tierd__MetricsResponse *r;
    td_error err;
    int rc = td_client_metrics(t->cli, &r, &err);
    if (rc)
        return tctl_fail_rc(rc, &err);
    fputs(r->text, stdout);
    tierd__metrics_response__free_unpacked(r, NULL);
    return 0;
}

static int clock_answer(tctl *t, const char *advance)
{
    Tierd__ClockResponse *r;
    td_error err;
    int rc = td_client_clock(t->cli, advance, &r, &err);
    if (rc)
        return tctl_fail_rc(rc, &err);
    if (t->json) {
        tctl_print_json(json_pack("{s:o, s:b, s:I}", "now", tctl_time_json(r->now), "fake", r->fake,
                                  "changes", (json_int_t)r->changes));
    } else {
        char now[64];
        tctl_time_rfc3339(r->now, now, sizeof now);
        printf("%s%s", now, r->fake ? " (fake clock)" : "");
        if (advance)
            printf("; %llu tier changes while advancing", (unsigned long long)r->changes);
        printf("\n");
    }
    tierd__clock_response__free_unpacked(r, NULL);
    return 0;
}

static int cmd_clock_show(tctl *t, cmd_args *a)
{
    (void)a;
    return clock_answer(t, NULL);
}

static int cmd_clock_advance(tctl *t, cmd_args *a)
{
    return clock_answer(t, a->pos[0]);
}

static int cmd_watch(tctl *t, cmd_args *a);
static int cmd_benefits(tctl *t, cmd_args *a);
static int cmd_simulate(tctl *t, cmd_args *a);
static int cmd_audit(tctl *t, cmd_args *a);
static int cmd_kpi(tctl *t, cmd_args *a);
static int cmd_calibrate(tctl *t, cmd_args *a);
static int cmd_help(tctl *t, cmd_args *a);
static int cmd_version(tctl *t, cmd_args *a);
static int cmd_webhook_deliveries(tctl *t, cmd_args *a);
static int cmd_webhook_resend(tctl *t, cmd_args *a);

static int cmd_backup(tctl *t, cmd_args *a)
{
    return tctl_backup(t, a->pos[0]);
}

/* One usage per row: `help export partners` and the completion test read
 * a row's options from it, and partners takes no --since. */
#define EXPORT_PARTNERS_USAGE "export partners [--output FILE]"
#define EXPORT_EVENTS_USAGE   "export events [--since T] [--output FILE]"
#define EXPORT_CHANGES_USAGE  "export changes [--since N|T] [--output FILE]"

static int cmd_export_partners(tctl *t, cmd_args *a)
{
    return tctl_export(t, "partners", NULL, opt(a, "output"), EXPORT_PARTNERS_USAGE);
}

static int cmd_export_events(tctl *t, cmd_args *a)
{
    return tctl_export(t, "events", opt(a, "since"), opt(a, "output"), EXPORT_EVENTS_USAGE);
}

static int cmd_export_changes(tctl *t, cmd_args *a)
{
    return tctl_export(t, "changes", opt(a, "since"), opt(a, "output"), EXPORT_CHANGES_USAGE);
}

/* The command table: one row per command, or per subcommand of a group
 * (a group's rows stay together). Everything a person sees about a command
 * comes from its row: `tierctl --help` (summary), `tierctl help CMD [SUB]`
 * and `CMD --help` (usage, details, examples), usage errors and "did you
 * mean". To add a command, add ONE row here: group (or NULL) and name, its
 * options ("ladder=" takes a value, "all" is a flag, "attr=*" repeats),
 * how many positional arguments it takes, its handler (in a file of its
 * own, declared in tierctl.h), usage (the synopsis after "tierctl "),
 * summary (one line, lower case, no full stop), examples (command lines
 * after "tierctl ", one a line) and, if needed, details; then a line in
 * docs/tierctl.md. */
static const command commands[] = {
    {.name = "ping",
     .run = cmd_ping,
     .usage = "ping",
     .summary = "check that tierd answers, and how fast",
     .examples = "ping\n--url tcp://10.0.0.5:7470 --token \"$TOKEN\" ping"},
    {.name = "status",
     .run = cmd_status,
     .usage = "status",
     .summary = "tierd's version, clock, program, counts, endpoints and connectors",
     .examples = "status\n--json status"},
    {.group = "program",
     .name = "load",
     .opts = {"dry-run", "force", NULL},
     .min_pos = 1,
     .max_pos = 1,
     .run = cmd_program_load,
     .usage = "program load FILE [--dry-run] [--force]",
     .summary = "load a program file (or check it with --dry-run)",
     .details = "Every problem is printed as file:line:column: message.\n"
                "Prints what the version does at its effective instant: promoted, queued, "
                "demoted now or later, unchanged.\n"
                "--force loads a version that breaks its notice period.",
     .examples = "program load program.yaml --dry-run\nprogram load program.yaml"},
    {.group = "program",
     .name = "show",
     .opts = {"yaml", NULL},
     .run = cmd_program_show,
     .usage = "program show [--yaml]",
     .summary = "the program in force: ladders, tiers and stored versions",
     .details = "--yaml prints the text of the version in force.",
     .examples = "program show\nprogram show --yaml > program.yaml"},
    {.group = "partner",
     .name = "put",
     .opts = {"type=", "name=", "attr=*", "replace-attrs", NULL},
     .min_pos = 1,
     .max_pos = 1,
     .run = cmd_partner_put,
     .usage = "partner put ID --type T[,T] [--name N] [--attr KEY=VALUE ...] [--replace-attrs]",
     .summary = "create or update one partner",
     .details = "--attr merges into the partner's attributes (KEY= removes one); with "
                "--replace-attrs the --attr given become the whole set.\n"
                "A partner whose types no ladder takes is saved with a warning.",
     .examples = "partner put acme --type reseller --name \"Acme Ltd\"\n"
                 "partner put acme --type reseller,services --attr region=emea"},
    {.group = "partner",
     .name = "import",
     .opts = {"in-flight=", NULL},
     .min_pos = 1,
     .max_pos = 1,
     .run = cmd_partner_import,
     .usage = "partner import FILE [--in-flight N]",
     .summary = "create or update partners from an NDJSON file ('-': standard input)",
     .details = "N batches at once (default 4; 1 keeps file order).\n"
                "Rejected lines are listed by file line number, in file order; exit 1 if any.\n"
                "Partners on no ladder are accepted with a warning.",
     .examples = "partner import partners.ndjson\nexport-crm | tierctl partner import -"},
    {.group = "partner",
     .name = "show",
     .min_pos = 1,
     .max_pos = 1,
     .run = cmd_partner_show,
     .usage = "partner show ID",
     .summary = "one partner: types, attributes and its tier on each ladder",
     .examples = "partner show acme\n--json partner show acme"},
    {.group = "partner",
     .name = "list",
     .opts = {"ladder=", "tier=", "benefit=", "where=*", "at-risk=", "limit=", "page=", NULL},
     .run = cmd_partner_list,
     .usage = "partner list [--ladder L] [--tier T|unranked] [--benefit B] [--where KEY=VALUE ...] "
              "[--at-risk DURATION] [--limit N [--page P]]",
     .summary = "partners and their tiers, in columns",
     .details = "--limit N shows N rows and says how many more there are; --page P (from 1) "
                "shows the P-th page of N rows.\n"
                "--tier needs --ladder; --where (repeatable, all must hold) cannot go with "
                "--benefit.\n"
                "--at-risk 90d keeps partners whose criteria lapse or who are demoted (if nothing "
                "new arrives) within 90 days of tierd's clock, on --ladder when given.",
     .examples = "partner list --limit 20\n"
                 "partner list --ladder reseller --tier Gold\n"
                 "partner list --where region=emea --limit 50 --page 2\n"
                 "partner list --at-risk 90d"},
    {.group = "partner",
     .name = "delete",
     .min_pos = 1,
     .max_pos = 1,
     .run = cmd_partner_delete,
     .usage = "partner delete ID",
     .summary = "delete a partner and its events",
     .examples = "partner delete acme"},
    {.group = "event",
     .name = "add",
     .opts = {"partner=", "metric=", "value=", "at=", "id=", "source=", "key=", "op=", "revision=",
              NULL},
     .run = cmd_event_add,
     .usage =
         "event add --partner P --metric M [--value V] [--at T] [--id I] [--source S] [--key K]\n"
         "  event add --op retract --id I [--source S]\n"
         "  event add --op amend --revision N --id I --partner P --metric M [--value V] "
         "[--at T] [--key K]",
     .summary = "send one event (or retract or amend a stored one)",
     .details = "--value defaults to 1, --at to tierd's clock, --id to a generated one (printed, "
                "so the event can be repeated idempotently).\n"
                "--op retract takes the event out of every metric it fed; --op amend replaces "
                "it with revision N.",
     .examples = "event add --partner acme --metric deal_closed --value 12000\n"
                 "event add --partner acme --metric csat --value 0.93 --at 2026-05-01\n"
                 "event add --op retract --id crm-4711 --source crm"},
    {.group = "event",
     .name = "import",
     .opts = {"in-flight=", "replay", "publish-past", "no-catch-up", NULL},
     .min_pos = 1,
     .max_pos = 1,
     .run = cmd_event_import,
     .usage = "event import FILE [--in-flight N]\n"
              "  event import FILE --replay [--publish-past] [--no-catch-up]",
     .summary = "send events from an NDJSON file ('-': standard input)",
     .details = "N batches at once (default 4; 1 keeps file order).\n"
                "--replay sorts the file by event time and dates each change when it would "
                "have happened (docs/events.md, \"Replay\").\n"
                "Rejected lines are listed by file line number, in file order; exit 1 if any.",
     .examples = "event import events.ndjson\n"
                 "event import history-2025.ndjson --replay\n"
                 "zcat events.ndjson.gz | tierctl event import -"},
    {.name = "explain",
     .opts = {"ladder=", "at=", NULL},
     .min_pos = 1,
     .max_pos = 1,
     .run = cmd_explain,
     .usage = "explain ID [--ladder L] [--at T]",
     .summary = "why a partner holds its tier, and what the next one needs",
     .details = "--json: one object per ladder; an array when the partner is on several ladders "
                "and no --ladder is given.",
     .examples = "explain acme\nexplain acme --ladder reseller --at 2026-06-30"},
    {.name = "history",
     .opts = {"ladder=", "limit=", NULL},
     .min_pos = 1,
     .max_pos = 1,
     .run = cmd_history,
     .usage = "history ID [--ladder L] [--limit N]",
     .summary = "a partner's tier changes, newest first",
     .examples = "history acme\nhistory acme --ladder reseller --limit 10"},
    {.name = "changes",
     .opts = {"since=", "limit=", NULL},
     .run = cmd_changes,
     .usage = "changes [--since N] [--limit N]",
     .summary = "every tier change after a sequence number, in order",
     .examples = "changes --since 1200\n--json changes --since 0 --limit 10000"},
    {.group = "override",
     .name = "set",
     .opts = {"ladder=", "tier=", "until=", "reason=", NULL},
     .min_pos = 1,
     .max_pos = 1,
     .run = cmd_override_set,
     .usage = "override set ID --ladder L --tier T --until T --reason R",
     .summary = "pin a partner's tier (or unranked) until a date",
     .details = "An unknown tier is refused with the ladder's tiers listed.",
     .examples = "override set acme --ladder reseller --tier Gold --until 2026-12-31 "
                 "--reason \"strategic account\""},
    {.group = "override",
     .name = "clear",
     .opts = {"ladder=", NULL},
     .min_pos = 1,
     .max_pos = 1,
     .run = cmd_override_clear,
     .usage = "override clear ID --ladder L",
     .summary = "end a pin; the tier follows the criteria again",
     .examples = "override clear acme --ladder reseller"},
    {.name = "pending",
     .run = cmd_pending,
     .usage = "pending",
     .summary = "promotions waiting for approval and demotions waiting for review",
     .examples = "pending\n--json pending"},
    {.name = "approve",
     .opts = {"ladder=", "reason=", NULL},
     .min_pos = 1,
     .max_pos = 1,
     .run = cmd_approve,
     .usage = "approve ID --ladder L [--reason R]",
     .summary = "let a waiting promotion or demotion go through",
     .examples = "approve acme --ladder reseller --reason \"checked by sales\""},
    {.name = "deny",
     .opts = {"ladder=", "reason=", NULL},
     .min_pos = 1,
     .max_pos = 1,
     .run = cmd_deny,
     .usage = "deny ID --ladder L [--reason R]",
     .summary = "refuse a waiting promotion or demotion",
     .examples = "deny acme --ladder reseller --reason \"contract ends\""},
    {.name = "stats",
     .opts = {"by=", NULL},
     .run = cmd_stats,
     .usage = "stats [--by ATTR]",
     .summary = "partners on each tier of each ladder (--by: per attribute value)",
     .examples = "stats\nstats --by region"},
    {.name = "benefits",
     .opts = {"ladder=", "holders=", "csv", NULL},
     .max_pos = 1,
     .run = cmd_benefits,
     .usage = "benefits ID [--ladder L]\n  benefits --holders NAME [--ladder L] [--csv]",
     .summary = "a partner's benefits, or every partner holding one",
     .examples = "benefits acme\nbenefits --holders discount --csv > holders.csv"},
    {.name = "watch",
     .opts = {"ladder=", "partner=", "since=", "pub-url=", "long-poll", NULL},
     .run = cmd_watch,
     .usage = "watch [--ladder L] [--partner P] [--since N] [--pub-url URL | --long-poll]",
     .summary = "print tier changes as they happen, until interrupted",
     .details = "--json: one object per line. Without a PUB endpoint in reach (e.g. TCP with a "
                "token) it long-polls.",
     .examples = "watch\nwatch --ladder reseller --since 1200\n--json watch | jq .partner"},
    {.name = "simulate",
     .opts = {"at=", "partner=", "all", "json", "csv", NULL},
     .min_pos = 1,
     .max_pos = 1,
     .run = cmd_simulate,
     .usage = "simulate FILE [--at T] [--partner P] [--all] [--json|--csv]",
     .summary = "what loading a program file would do, changing nothing",
     .examples = "simulate program-v2.yaml\nsimulate program-v2.yaml --at 2026-07-01 --csv"},
    {.name = "audit",
     .opts = {"near=", "ladder=", "all", "json", "csv", NULL},
     .run = cmd_audit,
     .usage = "audit [--near 10%] [--ladder L] [--all] [--json|--csv]",
     .summary = "partners held off their qualifying tier, near misses, stale overrides",
     .examples = "audit\naudit --near 5% --ladder reseller --csv"},
    {.name = "calibrate",
     .opts = {"ladder=", "target=", "metric=", "json", NULL},
     .run = cmd_calibrate,
     .usage = "calibrate --ladder L --target TIER=SHARE%,... [--metric M] [--json]",
     .summary = "propose thresholds that put partners into target shares",
     .examples = "calibrate --ladder reseller --target Registered=50%,Silver=30%,Gold=20%"},
    {.name = "kpi",
     .opts = {"from=", "to=", "ladder=", "by=", "json", "csv", NULL},
     .run = cmd_kpi,
     .usage = "kpi [--from T] [--to T] [--ladder L] [--by ATTR] [--json|--csv]",
     .summary = "program KPIs per period, from stored snapshots",
     .examples = "kpi --from 2026-01-01\nkpi --ladder reseller --by region --csv"},
    {.name = "metrics",
     .run = cmd_metrics,
     .usage = "metrics",
     .summary = "tierd's metrics in the Prometheus text format (docs/metrics.md)",
     .examples = "metrics\nmetrics | grep '^tierd_partners'"},
    {.name = "backup",
     .min_pos = 1,
     .max_pos = 1,
     .run = cmd_backup,
     .usage = "backup FILE",
     .summary = "a consistent compacted copy of tierd's store, taken while it runs (admin)",
     .details = "FILE is written atomically and checked against tierd's SHA-256.\n"
                "Restore with: tierd --restore FILE --state-dir DIR [--force].",
     .examples = "backup /backups/tierd-2026-11-27.mdb\n--json backup tierd.mdb"},
    {.group = "export",
     .name = "partners",
     .opts = {"output=", NULL},
     .run = cmd_export_partners,
     .usage = EXPORT_PARTNERS_USAGE,
     .summary = "every partner as NDJSON that `partner import` reads back",
     .examples = "export partners > partners.ndjson\nexport partners --output partners.ndjson"},
    {.group = "export",
     .name = "events",
     .opts = {"since=", "output=", NULL},
     .run = cmd_export_events,
     .usage = EXPORT_EVENTS_USAGE,
     .summary = "every event (with its corrections) as NDJSON that `event import` reads back",
     .examples = "export events --output events.ndjson\nexport events --since 2026-01-01"},
    {.group = "export",
     .name = "changes",
     .opts = {"since=", "output=", NULL},
     .run = cmd_export_changes,
     .usage = EXPORT_CHANGES_USAGE,
     .summary = "tier changes as NDJSON, in sequence order",
     .examples = "export changes --since 1200"},
    {.group = "webhook",
     .name = "deliveries",
     .opts = {"dead", "endpoint=", "limit=", NULL},
     .run = cmd_webhook_deliveries,
     .usage = "webhook deliveries [--dead] [--endpoint E] [--limit N]",
     .summary = "webhook deliveries waiting in the outbox (--dead: the dead letters)",
     .details = "A delivery goes dead after its endpoint's max_attempts failures; "
                "docs/webhooks.md.",
     .examples = "webhook deliveries\nwebhook deliveries --dead --endpoint crm"},
    {.group = "webhook",
     .name = "resend",
     .opts = {"all-dead", NULL},
     .max_pos = 1,
     .run = cmd_webhook_resend,
     .usage = "webhook resend ID | webhook resend --all-dead",
     .summary = "send dead webhook deliveries again (admin)",
     .examples = "webhook resend crm:1042\nwebhook resend --all-dead"},
    {.group = "clock",
     .name = "show",
     .run = cmd_clock_show,
     .usage = "clock show",
     .summary = "tierd's clock (and whether it is a fake one)",
     .examples = "clock show"},
    {.group = "clock",
     .name = "advance",
     .min_pos = 1,
     .max_pos = 1,
     .run = cmd_clock_advance,
     .usage = "clock advance DURATION",
     .summary = "move a fake clock and run the timers that fall due (tierd --fake-clock)",
     .examples = "clock advance 30d\nclock advance 12h"},
    {.name = "help",
     .max_pos = 2,
     .run = cmd_help,
     .usage = "help [COMMAND [SUB]]",
     .summary = "this list, or a command's usage and examples",
     .examples = "help\nhelp partner\nhelp partner list\npartner list --help",
     .offline = true},
    {.name = "version",
     .run = cmd_version,
     .usage = "version",
     .summary = "tierctl's version, and tierd's when it answers",
     .examples = "version\n--version\n--json version",
     .offline = true},
};

#define N_COMMANDS (sizeof commands / sizeof *commands)

static const command *find_command(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0 ||
            (commands[i].group && strcmp(commands[i].group, name) == 0))
            return &commands[i];
    return NULL;
}

/* The attributes partner put sends: the partner's own (read first, unless
 * --replace-attrs or it is new) with every --attr KEY=VALUE laid over them,
 * KEY= removing KEY. Strings point into `held` (freed by the caller), argv
 * or keys. Returns how many, or -1 (with the exit code in *code) after
 * printing why. */
static int put_attrs(tctl *t, const command *c, cmd_args *a, Tierd__PartnerInfo **held,
                     Tierd__Partner__AttrsEntry *ents, Tierd__Partner__AttrsEntry **ptrs,
                     char *keys, size_t keys_cap, int *code)
{
    const char *given[MAX_REPEATS];
    size_t ng = opt_all(a, "attr", given);
    size_t n = 0;
    *held = NULL;
    *code = TCTL_EXIT_USAGE;
    if (!opt(a, "replace-attrs")) {
        td_error err;
        int rc = td_client_get_partner(t->cli, a->pos[0], held, &err);
        if (rc && err.code != TD_NOT_FOUND) {
            *code = tctl_fail_rc(rc, &err);
            return -1;
        }
        const Tierd__Partner *pp = rc ? NULL : (*held)->partner;
        for (size_t i = 0; pp && i < pp->n_attrs && n < MAX_REPEATS; i++, n++)
            ents[n] = (Tierd__Partner__AttrsEntry){.key = pp->attrs[i]->key,
                                                   .value = pp->attrs[i]->value};
    }
    size_t used = 0;
    for (size_t g = 0; g < ng; g++) {
        const char *eq = strchr(given[g], '=');
        size_t klen = eq ? (size_t)(eq - given[g]) : 0;
        if (!eq || !klen || used + klen + 1 > keys_cap) {
            usage_error(c, "--attr '%s' must be KEY=VALUE", given[g]);
            return -1;
        }
        char *key = memcpy(keys + used, given[g], klen);
        key[klen] = '\0';
        used += klen + 1;
        size_t i = 0;
        while (i < n && strcmp(ents[i].key, key) != 0)
            i++;
        if (!eq[1]) { /* KEY=: drop it */
            if (i < n) {
                memmove(&ents[i], &ents[i + 1], (n - i - 1) * sizeof *ents);
                n--;
            }
            continue;
        }
        if (i == n) {
            if (n == MAX_REPEATS) {
                usage_error(c, "%s", "too many attributes");
                return -1;
            }
            n++;
        }
        ents[i] = (Tierd__Partner__AttrsEntry){.key = key, .value = (char *)eq + 1};
    }
    for (size_t i = 0; i < n; i++) {
        Tierd__Partner__AttrsEntry e = ents[i];
        tierd__partner__attrs_entry__init(&ents[i]);
        ents[i].key = e.key;
        ents[i].value = e.value;
        ptrs[i] = &ents[i];
    }
    return (int)n;
}

static int cmd_partner_put(tctl *t, cmd_args *a)
{
    const command *c = find_command("partner");
    while (strcmp(c->name, "put") != 0)
        c++;
    if (!opt(a, "type"))
        return usage_error(c, "%s", "partner put needs --type");
    char store[MAX_TYPES * ID_MAX];
    char *types[MAX_TYPES];
    size_t nt;
    if (split_types(opt(a, "type"), store, sizeof store, types, &nt) != 0)
        return usage_error(c, "--type '%s' must list 1 to 64 comma-separated types",
                           opt(a, "type"));
    Tierd__Partner p = TIERD__PARTNER__INIT;
    p.id = (char *)a->pos[0];
    p.name = (char *)(opt(a, "name") ? opt(a, "name") : "");
    p.n_types = nt;
    p.types = types;
    Tierd__PartnerInfo *held = NULL;
    Tierd__Partner__AttrsEntry ents[MAX_REPEATS];
    Tierd__Partner__AttrsEntry *ptrs[MAX_REPEATS];
    char keys[MAX_REPEATS * 65];
    if (opt(a, "attr") || opt(a, "replace-attrs")) {
        int code;
        int na = put_attrs(t, c, a, &held, ents, ptrs, keys, sizeof keys, &code);
        if (na < 0) {
            if (held)
                tierd__partner_info__free_unpacked(held, NULL);
            return code;
        }
        p.has_attrs = true;
        p.n_attrs = (size_t)na;
        p.attrs = ptrs;
    }
    Tierd__Partner *pp = &p;
    Tierd__UpsertPartnersRequest req = TIERD__UPSERT_PARTNERS_REQUEST__INIT;
    req.n_partners = 1;
    req.partners = &pp;
    Tierd__UpsertPartnersResponse *r;
    td_error err;
    int rc = td_client_upsert_partners(t->cli, &req, &r, &err);
    if (held)
        tierd__partner_info__free_unpacked(held, NULL);
    if (rc)
        return tctl_fail_rc(rc, &err);
    int code = 0;
    if (r->rejected || (r->n_results && r->results[0]->outcome == TIERD__OUTCOME__REJECTED)) {
        const char *why = r->n_results ? r->results[0]->reason : "rejected";
        td_error_set(&err, TD_INVALID_ARGUMENT, "partner '%s': %s", a->pos[0], why);
        code = tctl_fail(&err);
    } else {
        /* Saved all the same: its types may be meant for a ladder to come. */
        char warning[TD_ERROR_MAX];
        Tierd__GetProgramResponse *prog = tctl_program_for_warnings(t);
        bool no_ladder = tctl_no_ladder(prog, types, nt, warning, sizeof warning);
        if (prog)
            tierd__get_program_response__free_unpacked(prog, NULL);
        if (t->json) {
            json_t *doc =
                json_pack("{s:o, s:s}", "partner", tctl_str(a->pos[0]), "outcome", "accepted");
            if (doc && no_ladder)
                json_object_set_new(doc, "warning", tctl_str(warning));
            tctl_print_json(doc);
        } else {
            printf("saved partner %s\n", a->pos[0]);
        }
        if (no_ladder)
            fprintf(stderr, "tierctl: warning: partner %s is %s\n", a->pos[0], warning);
    }
    tierd__upsert_partners_response__free_unpacked(r, NULL);
    return code;
}

static int cmd_event_add(tctl *t, cmd_args *a)
{
    const command *c = find_command("event");
    const char *op = opt(a, "op") ? opt(a, "op") : "";
    bool retract = strcmp(op, "retract") == 0;
    if (*op && !retract && strcmp(op, "amend") != 0)
        return usage_error(c, "--op '%s' must be retract or amend", op);
    if (*op && (!opt(a, "id") || !*opt(a, "id")))
        return usage_error(c, "--op %s needs the --id (and --source) of the event to correct", op);
    if (!retract &&
        (!opt(a, "partner") || !*opt(a, "partner") || !opt(a, "metric") || !*opt(a, "metric")))
        return usage_error(c, "%s", "event add needs --partner and --metric");
    Tierd__Event e = TIERD__EVENT__INIT;
    e.op = (char *)op;
    if (opt(a, "revision")) {
        char *end;
        errno = 0;
        const char *rv = opt(a, "revision");
        unsigned long long n = strtoull(rv, &end, 10);
        if (end == rv || *end || *rv == '-' || errno == ERANGE || n == 0)
            return usage_error(c, "--revision '%s' must be a whole number of 1 or more", rv);
        e.revision = n;
    }
    if (opt(a, "value")) {
        char *end;
        errno = 0;
        double v = strtod(opt(a, "value"), &end);
        if (end == opt(a, "value") || *end || !isfinite(v) || errno == ERANGE)
            return usage_error(c, "--value '%s' must be a finite number", opt(a, "value"));
        e.value = v;
        e.has_value = true;
    }
    char gen[ID_MAX];
    const char *id = opt(a, "id");
    if (!id) {
        /* Printed below so the user can repeat the exact event idempotently. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        snprintf(gen, sizeof gen, "tierctl-%lld%09ld-%ld", (long long)ts.tv_sec, ts.tv_nsec,
                 (long)getpid());
        id = gen;
    }
    e.id = (char *)id;
    e.source = (char *)(opt(a, "source") ? opt(a, "source") : EVENT_SOURCE);
    e.partner = (char *)opt(a, "partner");
    e.metric = (char *)opt(a, "metric");
    char now[TD_TIME_STRLEN_CLI];
    td_error err;
    if (opt(a, "at")) {
        e.at = (char *)opt(a, "at");
    } else if (retract) {
        e.at = ""; /* a retraction names the stored event; its time is the store's */
    } else {
        /* "now" is the daemon's clock, which may be a fake one in tests
         * and demos, never this machine's. */
        Tierd__StatusResponse *s;
        int rc = td_client_status(t->cli, &s, &err);
        if (rc)
            return tctl_fail_rc(rc, &err);
        tctl_time_rfc3339(s->now, now, sizeof now);
        tierd__status_response__free_unpacked(s, NULL);
        e.at = now;
    }
    e.key = (char *)(opt(a, "key") ? opt(a, "key") : "");
    Tierd__Event *ep = &e;
    Tierd__IngestRequest req = TIERD__INGEST_REQUEST__INIT;
    req.n_events = 1;
    req.events = &ep;
    Tierd__IngestResponse *r;
    int rc = td_client_ingest(t->cli, &req, &r, &err);
    if (rc)
        return tctl_fail_rc(rc, &err);
    Tierd__Outcome out = r->n_results   ? r->results[0]->outcome
                         : r->rejected  ? TIERD__OUTCOME__REJECTED
                         : r->duplicate ? TIERD__OUTCOME__DUPLICATE
                                        : TIERD__OUTCOME__ACCEPTED;
    const char *reason = r->n_results && r->results[0]->reason ? r->results[0]->reason : "";
    static const char *const outcome_names[] = {"accepted", "duplicate", "rejected"};
    const char *oname = (unsigned)out < 3 ? outcome_names[out] : "rejected";
    int code = 0;
    if (out == TIERD__OUTCOME__REJECTED || (unsigned)out >= 3) {
        td_error_set(&err, TD_INVALID_ARGUMENT, "event %s/%s rejected: %s", e.source, id,
                     *reason ? reason : "no reason given");
        code = tctl_fail(&err);
    } else if (t->json) {
        tctl_print_json(json_pack("{s:o, s:o, s:s}", "id", tctl_str(id), "source",
                                  tctl_str(e.source), "outcome", oname));
    } else {
        printf("%s %s%sevent %s (source %s)\n", oname, op, *op ? " of " : "", id, e.source);
    }
    tierd__ingest_response__free_unpacked(r, NULL);
    return code;
}

static int cmd_watch(tctl *t, cmd_args *a)
{
    const command *c = find_command("watch");
    bool long_poll = opt(a, "long-poll") != NULL;
    if (long_poll && opt(a, "pub-url"))
        return usage_error(c, "%s", "--long-poll and --pub-url exclude each other");
    /* Without --pub-url the subscription finds the PUB endpoint itself, or
     * follows by long-poll when tierd publishes none it can reach. */
    uint64_t since = 0;
    bool have_since = opt(a, "since") != NULL;
    if (have_since && td_number_parse(opt(a, "since"), 0, UINT64_MAX, &since) != 0)
        return usage_error(c, "--since '%s' must be a sequence number", opt(a, "since"));

    return tctl_watch(t, opt(a, "ladder"), opt(a, "partner"), have_since, since, opt(a, "pub-url"),
                      long_poll);
}

/* `benefits --holders NAME`: every page of ListBenefitHolders, printed as
 * it arrives (tab-separated or CSV), or gathered into one JSON document. */
static int benefit_holders(tctl *t, const char *name, const char *ladder, bool csv)
{
    Tierd__ListBenefitHoldersRequest req = TIERD__LIST_BENEFIT_HOLDERS_REQUEST__INIT;
    req.benefit = (char *)name;
    req.ladder = (char *)(ladder ? ladder : "");
    char after[ID_MAX * 8] = "";
    json_t *all = t->json ? json_array() : NULL;
    uint64_t rows = 0;
    if (csv && !t->json)
        printf("partner,ladder,tier,value,granted_by\n");
    for (;;) {
        req.after = after;
        Tierd__ListBenefitHoldersResponse *r;
        td_error err;
        int rc = td_client_list_benefit_holders(t->cli, &req, &r, &err);
        if (rc) {
            json_decref(all);
            return tctl_fail_rc(rc, &err);
        }
        for (size_t i = 0; i < r->n_holders; i++, rows++) {
            const Tierd__BenefitHolder *h = r->holders[i];
            if (t->json)
                json_array_append_new(
                    all, json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "partner",
                                   tctl_str(h->partner), "ladder", tctl_str(h->ladder), "tier",
                                   tctl_str(h->tier), "value", tctl_str_or_null(h->value), "number",
                                   h->has_number ? json_real(h->number) : json_null(), "granted_by",
                                   tctl_str(h->granted_by)));
            else if (csv)
                tctl_csv_row(
                    (const char *const[]){h->partner, h->ladder, h->tier, h->value, h->granted_by},
                    5);
            else
                printf("%s\t%s\t%s\t%s\n", h->partner, h->ladder, h->tier,
                       h->value && *h->value ? h->value : "-");
        }
        bool more = r->next && *r->next && r->n_holders > 0 && strlen(r->next) < sizeof after;
        if (more)
            strcpy(after, r->next);
        tierd__list_benefit_holders_response__free_unpacked(r, NULL);
        if (!more)
            break;
    }
    if (t->json)
        tctl_print_json(json_pack("{s:o, s:o, s:I}", "benefit", tctl_str(name), "holders", all,
                                  "count", (json_int_t)rows));
    return 0;
}

static int cmd_benefits(tctl *t, cmd_args *a)
{
    const command *c = find_command("benefits");
    const char *holders = opt(a, "holders");
    if (holders && a->npos)
        return usage_error(c, "%s", "give a partner ID or --holders NAME, not both");
    if (!holders && !a->npos)
        return usage_error(c, "%s", "benefits needs a partner ID or --holders NAME");
    if (holders)
        return benefit_holders(t, holders, opt(a, "ladder"), opt(a, "csv") != NULL);
    if (opt(a, "csv"))
        return usage_error(c, "%s", "--csv goes with --holders");
    const char *ladder = opt(a, "ladder");
    Tierd__GetBenefitsResponse *r;
    td_error err;
    int rc = td_client_get_benefits(t->cli, &a->pos[0], 1, &r, &err);
    if (rc)
        return tctl_fail_rc(rc, &err);
    const Tierd__PartnerBenefits *pb = r->n_partners ? r->partners[0] : NULL;
    if (!pb || !pb->found) {
        tierd__get_benefits_response__free_unpacked(r, NULL);
        td_error_set(&err, TD_NOT_FOUND, "unknown partner '%s'", a->pos[0]);
        return tctl_fail(&err);
    }
    json_t *list = t->json ? json_array() : NULL;
    size_t shown = 0;
    for (size_t i = 0; i < pb->n_benefits; i++) {
        const Tierd__Benefit *b = pb->benefits[i];
        if (ladder && strcmp(ladder, b->ladder) != 0)
            continue;
        shown++;
        if (t->json) {
            json_array_append_new(list, tctl_benefit_json(b));
            continue;
        }
        char text[2 * TCTL_BENEFIT_MAX];
        tctl_benefit_text(b, text, sizeof text);
        printf("%s\t%s\t(%s)\n", b->ladder, text, b->tier);
    }
    if (t->json)
        tctl_print_json(json_pack("{s:o, s:o}", "partner", tctl_str(a->pos[0]), "benefits", list));
    else if (!shown)
        printf("%s holds no benefits%s%s\n", a->pos[0], ladder ? " on ladder " : "",
               ladder ? ladder : "");
    tierd__get_benefits_response__free_unpacked(r, NULL);
    return 0;
}

/* ---- main ----------------------------------------------------------------------------- */

/* --json (global or the command's) or --csv, not both; -1 after a usage
 * error. */
static int whatif_format(const tctl *t, const cmd_args *a, const command *c, tctl_format *fmt)
{
    bool json = t->json || opt(a, "json"), csv = opt(a, "csv") != NULL;
    if (json && csv) {
        usage_error(c, "%s", "--json and --csv exclude each other");
        return -1;
    }
    *fmt = json ? TCTL_FORMAT_JSON : csv ? TCTL_FORMAT_CSV : TCTL_FORMAT_TEXT;
    return 0;
}

static const command *command_named(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (!commands[i].group && strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static int cmd_simulate(tctl *t, cmd_args *a)
{
    tctl_format fmt;
    if (whatif_format(t, a, command_named("simulate"), &fmt) != 0)
        return TCTL_EXIT_USAGE;
    return tctl_simulate(t, a->pos[0], opt(a, "at"), opt(a, "partner"), fmt, opt(a, "all"));
}

static int cmd_audit(tctl *t, cmd_args *a)
{
    const command *c = command_named("audit");
    tctl_format fmt;
    if (whatif_format(t, a, c, &fmt) != 0)
        return TCTL_EXIT_USAGE;
    return tctl_audit(t, opt(a, "near"), opt(a, "ladder"), fmt, opt(a, "all"), c->usage);
}

static int cmd_calibrate(tctl *t, cmd_args *a)
{
    const command *c = command_named("calibrate");
    tctl_format fmt;
    if (whatif_format(t, a, c, &fmt) != 0)
        return TCTL_EXIT_USAGE;
    return tctl_calibrate(t, opt(a, "ladder"), opt(a, "target"), opt(a, "metric"), fmt, c->usage);
}

#define WEBHOOK_USAGE                                                                              \
    "webhook deliveries [--dead] [--endpoint E] [--limit N] | webhook resend ID|--all-dead"

static int cmd_webhook_deliveries(tctl *t, cmd_args *a)
{
    const char *pos[] = {"deliveries"};
    return tctl_webhook(t, pos, 1, opt(a, "dead") != NULL, false, opt(a, "endpoint"),
                        opt(a, "limit"), WEBHOOK_USAGE);
}

static int cmd_webhook_resend(tctl *t, cmd_args *a)
{
    const char *pos[] = {"resend", a->npos ? a->pos[0] : NULL};
    return tctl_webhook(t, pos, 1 + a->npos, false, opt(a, "all-dead") != NULL, NULL, NULL,
                        WEBHOOK_USAGE);
}

static int cmd_kpi(tctl *t, cmd_args *a)
{
    const command *c = command_named("kpi");
    tctl_format fmt;
    if (whatif_format(t, a, c, &fmt) != 0)
        return TCTL_EXIT_USAGE;
    return tctl_kpi(t, opt(a, "from"), opt(a, "to"), opt(a, "ladder"), opt(a, "by"), fmt, c->usage);
}

/* `tierctl help [COMMAND [SUB]]`. */
static int cmd_help(tctl *t, cmd_args *a)
{
    (void)t;
    return tctl_help_topic(commands, N_COMMANDS, a->npos, (char **)a->pos);
}

/* How long `version` waits for tierd's own version: it is a courtesy, not
 * the answer. */
#define VERSION_DAEMON_TIMEOUT_MS 500

/* tierctl's version, and tierd's when it answers within a short wait (or
 * --timeout); never fails for an absent daemon. */
static int cmd_version(tctl *t, cmd_args *a)
{
    (void)a;
    int wait = t->timeout_ms && t->timeout_ms < VERSION_DAEMON_TIMEOUT_MS
                   ? t->timeout_ms
                   : VERSION_DAEMON_TIMEOUT_MS;
    td_client *cli = NULL;
    td_error err;
    Tierd__StatusResponse *s = NULL;
    if (td_client_open(t->url, t->token, wait, &cli, &err) == 0 &&
        td_client_status(cli, &s, &err) != 0)
        s = NULL;
    if (t->json) {
        tctl_print_json(json_pack("{s:s, s:o, s:o}", "tierctl", TIERCTL_VERSION, "tierd",
                                  s ? tctl_str(s->version) : json_null(), "url",
                                  cli ? tctl_str(td_client_url(cli)) : json_null()));
    } else {
        printf("tierctl %s\n", TIERCTL_VERSION);
        if (s)
            printf("tierd %s at %s\n", s->version, td_client_url(cli));
    }
    if (s)
        tierd__status_response__free_unpacked(s, NULL);
    if (cli)
        td_client_close(cli);
    return TCTL_EXIT_OK;
}

/* What the global options' loop tells main: go on to the command, or end
 * with this exit status. */
#define TCTL_GO_ON (-1)

/* The options before the command (--url, --token, --timeout, --json,
 * --help, --version), from argv[*i] on; *i ends at the command.
 * TCTL_GO_ON or an exit status. */
static int global_options(int argc, char **argv, tctl *t, int *i, bool *version)
{
    for (; *i < argc && argv[*i][0] == '-' && argv[*i][1] == '-'; (*i)++) {
        const char *arg = argv[*i];
        const char *s = arg + 2;
        const char *eq = strchr(s, '=');
        size_t len = eq ? (size_t)(eq - s) : strlen(s);
        const char *val = eq ? eq + 1 : (*i + 1 < argc ? argv[*i + 1] : NULL);
#define IS(name) (len == strlen(name) && strncmp(s, name, len) == 0)
        if (len == 0) {
            (*i)++;
            break;
        } else if (IS("json")) {
            t->json = true;
            continue;
        } else if (IS("help")) {
            tctl_help_overview(stdout, commands, N_COMMANDS);
            return TCTL_EXIT_OK;
        } else if (IS("version")) {
            *version = true;
            continue;
        } else if (!IS("url") && !IS("token") && !IS("timeout")) {
            static const char *const globals[] = {"--url",  "--token",   "--json",
                                                  "--help", "--timeout", "--version"};
            const char *near = tctl_closest(arg, globals, sizeof globals / sizeof *globals);
            fprintf(stderr, "tierctl: unknown option '%s'", arg);
            if (near)
                fprintf(stderr, "; did you mean '%s'?", near);
            fprintf(stderr, "\ntierctl --help lists the options and commands\n");
            return TCTL_EXIT_USAGE;
        }
        if (!val) {
            fprintf(stderr, "tierctl: option '%s' needs a value\n", arg);
            tctl_help_overview(stderr, commands, N_COMMANDS);
            return TCTL_EXIT_USAGE;
        }
        if (IS("url")) {
            t->url = val;
        } else if (IS("token")) {
            t->token = val;
        } else {
            uint64_t ms;
            if (td_number_parse(val, 1, INT32_MAX, &ms) != 0) {
                fprintf(stderr, "tierctl: --timeout '%s' must be a positive number of ms\n", val);
                return TCTL_EXIT_USAGE;
            }
            t->timeout_ms = (int)ms;
        }
        if (!eq)
            (*i)++;
#undef IS
    }
    return TCTL_GO_ON;
}

/* The rows of g's group, from g on. */
static bool same_group(const command *c, const command *g)
{
    return c < commands + N_COMMANDS && c->group && strcmp(c->group, g->group) == 0;
}

static bool is_help_word(const char *s)
{
    return strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0;
}

/* The command argv[*i] names (with its subcommand, for a group); *i ends
 * at its first argument. NULL with *code set after a usage error or after
 * printing a group's help. */
static const command *pick_command(int argc, char **argv, int *i, int *code)
{
    *code = TCTL_EXIT_USAGE;
    if (*i >= argc) {
        tctl_help_overview(stderr, commands, N_COMMANDS);
        return NULL;
    }
    const command *g = find_command(argv[*i]);
    if (!g) {
        tctl_unknown_command(commands, N_COMMANDS, NULL, argv[*i]);
        return NULL;
    }
    (*i)++;
    if (!g->group)
        return g;
    const char *sub = *i < argc ? argv[*i] : "";
    for (const command *c = g; same_group(c, g); c++)
        if (strcmp(c->name, sub) == 0) {
            (*i)++;
            return c;
        }
    if (is_help_word(sub) || strcmp(sub, "help") == 0) {
        tctl_help_group(stdout, commands, N_COMMANDS, g->group);
        *code = TCTL_EXIT_OK;
        return NULL;
    }
    if (*sub && *sub != '-') {
        tctl_unknown_command(commands, N_COMMANDS, g->group, sub);
        return NULL;
    }
    fprintf(stderr, "tierctl: %s needs one of:", g->group);
    for (const command *c = g; same_group(c, g); c++)
        fprintf(stderr, " %s", c->name);
    fprintf(stderr, "\n");
    for (const command *c = g; same_group(c, g); c++)
        fprintf(stderr, "usage: tierctl %s\n", c->usage);
    return NULL;
}

/* `CMD ... --help` anywhere before "--" asks for the command's help. */
static bool asks_help(int argc, char **argv)
{
    for (int k = 0; k < argc && strcmp(argv[k], "--") != 0; k++)
        if (is_help_word(argv[k]))
            return true;
    return false;
}

int main(int argc, char **argv)
{
    tctl t = {0};
    int i = 1;
    bool version = false;
    int rc = global_options(argc, argv, &t, &i, &version);
    if (rc != TCTL_GO_ON)
        return rc;
    if (version)
        return cmd_version(&t, NULL);
    const command *c = pick_command(argc, argv, &i, &rc);
    if (!c)
        return rc;
    if (asks_help(argc - i, argv + i)) {
        tctl_help_command(stdout, c);
        return TCTL_EXIT_OK;
    }
    cmd_args a;
    if ((rc = parse_args(c, argc - i, argv + i, &a)))
        return rc;
    if (c->offline)
        return c->run(&t, &a);
    td_error err;
    if (td_client_open(t.url, t.token, t.timeout_ms, &t.cli, &err) != 0) {
        fprintf(stderr, "tierctl: %s\n", err.message);
        return TCTL_EXIT_USAGE;
    }
    rc = c->run(&t, &a);
    td_client_close(t.cli);
    return rc;
}
