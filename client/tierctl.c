/* tierctl: the command-line face of tierd (DESIGN.md §7).
 *
 * Owns the command table, argument parsing and the rendering of every
 * answer, for people (plain text) and for scripts (--json: exactly one JSON
 * document per command on stdout; `watch` streams one document per line).
 * Promises the exit statuses of §7: 0 ok, 1 refused request (message on
 * stderr), 2 usage error (with a usage line), 3 daemon unreachable. It keeps
 * no state of its own and decides nothing about tiers; the daemon does. */
#include "tierctl.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nanomsg/nn.h>
#include <nanomsg/pubsub.h>

#define MAX_OPTS            8
#define MAX_POS             2
#define MAX_TYPES           64
#define MAX_PROGRAM_BYTES   (16 * 1024 * 1024)
#define LIST_PAGE           1000
#define WATCH_IDLE_MS       5000
#define WATCH_CATCHUP_LIMIT 1000
#define ID_MAX              128
#define TOPIC_MAX           1024
#define TCP_RPC_PORT        ":7450"
#define TCP_PUB_PORT        ":7451"
#define EVENT_SOURCE        "tierctl"
#define TD_TIME_STRLEN_CLI  64
#define CHECK_MARK          "\u2713"
#define CROSS_MARK          "\u2717"

typedef struct cmd_args {
    const char *pos[MAX_POS];
    int npos;
    const char *const *names; /* option specs: "ladder=" takes a value, "dry-run" does not */
    const char *val[MAX_OPTS];
} cmd_args;

typedef struct command {
    const char *group; /* "partner" in `partner show`; NULL for one-word commands */
    const char *name;
    const char *const opts[MAX_OPTS + 1];
    int min_pos, max_pos;
    int (*run)(tctl *t, cmd_args *a);
    const char *usage;
} command;

static const char *opt(const cmd_args *a, const char *name)
{
    for (int i = 0; a->names[i]; i++) {
        size_t len = strcspn(a->names[i], "=");
        if (strlen(name) == len && strncmp(a->names[i], name, len) == 0)
            return a->val[i];
    }
    return NULL;
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
            if (!c->opts[k])
                return usage_error(c, "unknown option '%s'", s);
            bool takes = c->opts[k][len] == '=';
            if (takes) {
                if (eq)
                    a->val[k] = eq + 1;
                else if (i + 1 < argc)
                    a->val[k] = argv[++i];
                else
                    return usage_error(c, "option '%s' needs a value", s);
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

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    if (!s || !*s || *s == '-' || *s == '+')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

/* ---- shared renderers ------------------------------------------------------ */

static const char *tier_name(const char *t)
{
    return t && *t ? t : "unranked";
}

static const char *cause_name(Tierd__Cause c)
{
    static const char *const names[] = {
        [TIERD__CAUSE__CAUSE_UNSPECIFIED] = "unspecified",
        [TIERD__CAUSE__PROMOTION] = "promotion",
        [TIERD__CAUSE__DEMOTION] = "demotion",
        [TIERD__CAUSE__OVERRIDE] = "override",
        [TIERD__CAUSE__APPROVAL] = "approval",
        [TIERD__CAUSE__PROGRAM_VERSION] = "program_version",
        [TIERD__CAUSE__REVIEW] = "review",
        [TIERD__CAUSE__OVERRIDE_CLEARED] = "override_cleared",
        [TIERD__CAUSE__OVERRIDE_EXPIRED] = "override_expired",
        [TIERD__CAUSE__DENIAL] = "denial",
        [TIERD__CAUSE__PARTNER_DELETED] = "partner_deleted",
    };
    unsigned i = (unsigned)c;
    return i < sizeof names / sizeof *names && names[i] ? names[i] : "unknown";
}

static json_t *tier_state_json(const Tierd__TierState *s)
{
    json_t *o = json_pack("{s:o, s:o, s:o}", "tier", tctl_str_or_null(s->tier), "since",
                          tctl_time_json(s->since), "qualifying", tctl_str_or_null(s->qualifying));
    if (!o)
        return NULL;
    if (s->pending && *s->pending)
        json_object_set_new(o, "pending", tctl_str(s->pending));
    if (s->override_tier && *s->override_tier)
        json_object_set_new(o, "override",
                            json_pack("{s:o, s:o}", "tier", tctl_str(s->override_tier), "until",
                                      tctl_time_json(s->override_until)));
    if (s->below_since)
        json_object_set_new(o, "below_since", tctl_time_json(s->below_since));
    return o;
}

static void print_tier_state(const Tierd__TierState *s, const char *indent)
{
    char since[64], until[64];
    tctl_time_human(s->since, since, sizeof since);
    printf("%s%s: %s", indent, s->ladder, tier_name(s->tier));
    if (s->since)
        printf(" (since %s)", since);
    if (strcmp(s->tier ? s->tier : "", s->qualifying ? s->qualifying : "") != 0)
        printf(", qualifies for %s", s->qualifying && *s->qualifying ? s->qualifying : "no tier");
    printf("\n");
    if (s->pending && *s->pending)
        printf("%s  waiting for approval: %s\n", indent, s->pending);
    if (s->override_tier && *s->override_tier) {
        tctl_time_human(s->override_until, until, sizeof until);
        printf("%s  override: %s until %s\n", indent, s->override_tier, until);
    }
    if (s->below_since) {
        tctl_time_human(s->below_since, since, sizeof since);
        printf("%s  below its criteria since %s\n", indent, since);
    }
}

static json_t *partner_json(const Tierd__PartnerInfo *p)
{
    const Tierd__Partner *pp = p->partner;
    json_t *types = json_array();
    for (size_t i = 0; pp && i < pp->n_types; i++)
        json_array_append_new(types, tctl_str(pp->types[i]));
    json_t *tiers = json_object();
    for (size_t i = 0; i < p->n_tiers; i++)
        json_object_set_new(tiers, p->tiers[i]->ladder ? p->tiers[i]->ladder : "",
                            tier_state_json(p->tiers[i]));
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:I}", "partner", tctl_str(pp ? pp->id : ""),
                     "name", tctl_str_or_null(pp ? pp->name : NULL), "types", types, "tiers", tiers,
                     "created", tctl_time_json(p->created), "updated", tctl_time_json(p->updated),
                     "events", (json_int_t)p->events);
}

static json_t *criterion_json(const Tierd__Criterion *c)
{
    return json_pack("{s:o, s:o, s:o, s:o, s:b, s:o}", "metric", tctl_str(c->metric), "op",
                     tctl_str(c->op), "value", tctl_num_json(c->value), "threshold",
                     tctl_num_json(c->threshold), "met", c->met, "missing",
                     tctl_num_json(c->missing));
}

static json_t *criteria_json(Tierd__Criterion **cs, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, criterion_json(cs[i]));
    return a;
}

static json_t *change_json(const Tierd__TierChange *c)
{
    json_t *o = json_pack(
        "{s:I, s:o, s:o, s:o, s:o, s:o, s:s, s:o, s:o, s:o, s:o, s:o}", "sequence",
        (json_int_t)c->sequence, "partner", tctl_str(c->partner), "ladder", tctl_str(c->ladder),
        "from", tctl_str_or_null(c->from_tier), "to", tctl_str_or_null(c->to_tier), "at",
        tctl_time_json(c->at), "cause", cause_name(c->cause), "program_version",
        tctl_str_or_null(c->program_version), "event_id", tctl_str_or_null(c->event_id), "actor",
        tctl_str_or_null(c->actor), "reason", tctl_str_or_null(c->reason), "criteria",
        criteria_json(c->criteria, c->n_criteria));
    return o;
}

static void print_change(const Tierd__TierChange *c)
{
    char at[64];
    tctl_time_rfc3339(c->at, at, sizeof at);
    printf("#%llu %s %s %s: %s -> %s (%s", (unsigned long long)c->sequence, at, c->partner,
           c->ladder, tier_name(c->from_tier), tier_name(c->to_tier), cause_name(c->cause));
    if (c->actor && *c->actor)
        printf(" by %s", c->actor);
    if (c->event_id && *c->event_id)
        printf(", event %s", c->event_id);
    printf(")");
    if (c->reason && *c->reason)
        printf(": %s", c->reason);
    printf("\n");
}

static json_t *changes_json(const Tierd__ChangesResponse *r)
{
    json_t *a = json_array();
    for (size_t i = 0; i < r->n_changes; i++)
        json_array_append_new(a, change_json(r->changes[i]));
    return json_pack("{s:o, s:I}", "changes", a, "last_sequence", (json_int_t)r->last_sequence);
}

/* A single TierState answer (override, approve, deny). */
static int print_state_answer(tctl *t, const char *partner, Tierd__TierState *s)
{
    if (t->json) {
        json_t *o = tier_state_json(s);
        json_object_set_new(o, "partner", tctl_str(partner));
        json_object_set_new(o, "ladder", tctl_str(s->ladder));
        tctl_print_json(o);
    } else {
        printf("%s\n", partner);
        print_tier_state(s, "  ");
    }
    tierd__tier_state__free_unpacked(s, NULL);
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
            json_array_append_new(conns, json_pack("{s:o, s:o, s:o, s:I, s:o, s:I, s:o}", "name",
                                                   tctl_str(c->name), "state", tctl_str(c->state),
                                                   "last_error", tctl_str_or_null(c->last_error),
                                                   "events_sent", (json_int_t)c->events_sent,
                                                   "cursor", tctl_str_or_null(c->cursor),
                                                   "restarts", (json_int_t)c->restarts,
                                                   "next_start", tctl_time_json(c->next_start)));
        }
        tctl_print_json(
            json_pack("{s:o, s:o, s:b, s:o, s:o, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:o}",
                      "version", tctl_str(s->version), "now", tctl_time_json(s->now), "fake_clock",
                      s->fake_clock, "program", tctl_str_or_null(s->program), "program_version",
                      tctl_str_or_null(s->program_version), "partners", (json_int_t)s->partners,
                      "events", (json_int_t)s->events, "last_sequence",
                      (json_int_t)s->last_sequence, "pending", (json_int_t)s->pending, "started",
                      tctl_time_json(s->started), "state_dir", tctl_str_or_null(s->state_dir),
                      "listen", listen, "publish", publish, "connectors", conns));
    } else {
        char now[64], started[64], n1[TCTL_NUM_STRLEN], n2[TCTL_NUM_STRLEN];
        tctl_time_rfc3339(s->now, now, sizeof now);
        tctl_time_rfc3339(s->started, started, sizeof started);
        printf("tierd %s, up since %s\n", s->version, started);
        printf("clock:     %s%s\n", now, s->fake_clock ? " (fake)" : "");
        if (s->program && *s->program)
            printf("program:   %s, version %s\n", s->program, s->program_version);
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
        for (size_t i = 0; i < s->n_connectors; i++) {
            const Tierd__ConnectorStatus *c = s->connectors[i];
            printf("connector: %s %s, %llu events sent, %u restarts%s%s\n", c->name, c->state,
                   (unsigned long long)c->events_sent, c->restarts,
                   c->last_error && *c->last_error ? "; last error: " : "",
                   c->last_error ? c->last_error : "");
        }
    }
    tierd__status_response__free_unpacked(s, NULL);
    return 0;
}

static char *read_file(const char *path, size_t *len, int *exit_code)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f) {
        fprintf(stderr, "tierctl: cannot open %s: %m\n", path);
        *exit_code = TCTL_EXIT_REFUSED;
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            if (cap >= MAX_PROGRAM_BYTES) {
                fprintf(stderr, "tierctl: %s is larger than %d bytes\n", path, MAX_PROGRAM_BYTES);
                free(buf);
                buf = NULL;
                break;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) {
                fprintf(stderr, "tierctl: reading %s failed: %m\n", path);
                free(buf);
                buf = NULL;
            }
            break;
        }
    }
    if (f != stdin)
        fclose(f);
    if (!buf) {
        *exit_code = TCTL_EXIT_REFUSED;
        return NULL;
    }
    buf[n] = '\0';
    if (strlen(buf) != n) {
        fprintf(stderr, "tierctl: %s contains a NUL byte; a program is YAML text\n", path);
        free(buf);
        *exit_code = TCTL_EXIT_REFUSED;
        return NULL;
    }
    *len = n;
    return buf;
}

static int cmd_program_load(tctl *t, cmd_args *a)
{
    int code = 0;
    size_t len;
    char *yaml = read_file(a->pos[0], &len, &code);
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
        tctl_print_json(json_pack("{s:o, s:o, s:o, s:b, s:b, s:b, s:I, s:I, s:o}", "program",
                                  tctl_str(r->program), "version", tctl_str(r->version),
                                  "effective", tctl_time_json(r->effective), "applied", r->applied,
                                  "dry_run", req.dry_run, "scheduled", r->scheduled,
                                  "would_promote", (json_int_t)r->would_promote, "would_demote",
                                  (json_int_t)r->would_demote, "diagnostics", diags));
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
        printf("%s: %llu partners promoted, %llu demoted\n", req.dry_run ? "would be" : "impact",
               (unsigned long long)r->would_promote, (unsigned long long)r->would_demote);
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
            json_array_append_new(ladders, json_pack("{s:o, s:o, s:o}", "ladder", tctl_str(l->name),
                                                     "partner_types", types, "tiers", tiers));
        }
        for (size_t i = 0; i < r->n_versions; i++) {
            const Tierd__ProgramVersion *v = r->versions[i];
            json_array_append_new(
                versions,
                json_pack("{s:o, s:o, s:o, s:b, s:o}", "version", tctl_str(v->version), "loaded",
                          tctl_time_json(v->loaded), "effective", tctl_time_json(v->effective),
                          "in_force", v->in_force, "actor", tctl_str_or_null(v->actor)));
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
            printf("\n");
        }
        for (size_t i = 0; i < r->n_versions; i++) {
            const Tierd__ProgramVersion *v = r->versions[i];
            char loaded[64], eff[64];
            tctl_time_human(v->loaded, loaded, sizeof loaded);
            tctl_time_human(v->effective, eff, sizeof eff);
            printf("  version %s: loaded %s%s%s, effective %s%s\n", v->version, loaded,
                   v->actor && *v->actor ? " by " : "", v->actor ? v->actor : "", eff,
                   v->in_force ? " (in force)" : "");
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
static int cmd_partner_import(tctl *t, cmd_args *a)
{
    return tctl_import_partners(t, a->pos[0]);
}

static int cmd_partner_show(tctl *t, cmd_args *a)
{
    Tierd__PartnerInfo *p;
    td_error err;
    int rc = td_client_get_partner(t->cli, a->pos[0], &p, &err);
    if (rc)
        return tctl_fail_rc(rc, &err);
    if (t->json) {
        tctl_print_json(partner_json(p));
    } else {
        const Tierd__Partner *pp = p->partner;
        printf("%s", pp ? pp->id : a->pos[0]);
        if (pp && pp->name && *pp->name)
            printf("  %s", pp->name);
        printf("  (");
        for (size_t i = 0; pp && i < pp->n_types; i++)
            printf("%s%s", i ? ", " : "", pp->types[i]);
        printf(")\n");
        if (p->n_tiers == 0)
            printf("  on no ladder\n");
        for (size_t i = 0; i < p->n_tiers; i++)
            print_tier_state(p->tiers[i], "  ");
        char n[TCTL_NUM_STRLEN];
        tctl_num_human((double)p->events, n, sizeof n);
        printf("  %s events\n", n);
    }
    tierd__partner_info__free_unpacked(p, NULL);
    return 0;
}

static int cmd_partner_list(tctl *t, cmd_args *a)
{
    uint64_t limit = 0;
    if (opt(a, "limit") && parse_u64(opt(a, "limit"), UINT32_MAX, &limit) != 0) {
        fprintf(stderr, "tierctl: --limit must be a whole number\n"
                        "usage: tierctl partner list [--ladder L] [--tier T] [--limit N]\n");
        return TCTL_EXIT_USAGE;
    }
    Tierd__ListPartnersRequest req = TIERD__LIST_PARTNERS_REQUEST__INIT;
    req.ladder = (char *)(opt(a, "ladder") ? opt(a, "ladder") : "");
    req.tier = (char *)(opt(a, "tier") ? opt(a, "tier") : "");
    char after[ID_MAX * 8] = "";
    json_t *all = json_array();
    uint64_t shown = 0;
    td_error err;
    for (;;) {
        req.after = after;
        uint64_t want = limit ? limit - shown : LIST_PAGE;
        req.limit = (uint32_t)(want < LIST_PAGE ? want : LIST_PAGE);
        Tierd__ListPartnersResponse *r;
        int rc = td_client_list_partners(t->cli, &req, &r, &err);
        if (rc) {
            json_decref(all);
            return tctl_fail_rc(rc, &err);
        }
        for (size_t i = 0; i < r->n_partners && (!limit || shown < limit); i++, shown++) {
            const Tierd__PartnerInfo *p = r->partners[i];
            if (t->json) {
                json_array_append_new(all, partner_json(p));
                continue;
            }
            const Tierd__Partner *pp = p->partner;
            printf("%s", pp ? pp->id : "?");
            if (pp && pp->name && *pp->name)
                printf("\t%s", pp->name);
            for (size_t k = 0; k < p->n_tiers; k++)
                printf("\t%s=%s", p->tiers[k]->ladder, tier_name(p->tiers[k]->tier));
            printf("\n");
        }
        bool more = r->next && *r->next && r->n_partners > 0 && (!limit || shown < limit);
        if (more && strlen(r->next) >= sizeof after) {
            fprintf(stderr, "tierctl: INTERNAL: paging id too long\n");
            more = false;
        }
        if (more)
            strcpy(after, r->next);
        tierd__list_partners_response__free_unpacked(r, NULL);
        if (!more)
            break;
    }
    if (t->json)
        tctl_print_json(json_pack("{s:o, s:I}", "partners", all, "count", (json_int_t)shown));
    else
        json_decref(all);
    return 0;
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
    return tctl_import_events(t, a->pos[0]);
}

static void print_gaps(const Tierd__NextTier *n)
{
    for (size_t i = 0; i < n->n_gaps; i++) {
        const Tierd__Gap *g = n->gaps[i];
        char th[TCTL_NUM_STRLEN], v[TCTL_NUM_STRLEN], m[TCTL_NUM_STRLEN];
        tctl_num_human(g->threshold, th, sizeof th);
        tctl_num_human(g->value, v, sizeof v);
        tctl_num_human(g->missing, m, sizeof m);
        printf("  %s needs %s %s %s: %s now, %s to go\n", n->tier, g->metric,
               g->op && *g->op ? g->op : ">=", th, v, m);
    }
}

static void print_criteria(Tierd__Criterion **cs, size_t n, const char *indent)
{
    for (size_t i = 0; i < n; i++) {
        const Tierd__Criterion *c = cs[i];
        char th[TCTL_NUM_STRLEN], v[TCTL_NUM_STRLEN], m[TCTL_NUM_STRLEN];
        tctl_num_human(c->threshold, th, sizeof th);
        tctl_num_human(c->value, v, sizeof v);
        tctl_num_human(c->missing, m, sizeof m);
        printf("%s%s %s %s %s: %s", indent, c->met ? CHECK_MARK : CROSS_MARK, c->metric, c->op, th,
               v);
        if (!c->met && c->missing != 0)
            printf(" (%s to go)", m);
        printf("\n");
    }
}

static json_t *explain_json(const char *partner, const Tierd__LadderExplanation *l)
{
    json_t *next = json_null(), *risk = json_null();
    if (l->next && l->next->tier && *l->next->tier) {
        json_t *gaps = json_array();
        for (size_t i = 0; i < l->next->n_gaps; i++) {
            const Tierd__Gap *g = l->next->gaps[i];
            json_array_append_new(
                gaps, json_pack("{s:o, s:o, s:o, s:o, s:o}", "metric", tctl_str(g->metric), "value",
                                tctl_num_json(g->value), "threshold", tctl_num_json(g->threshold),
                                "missing", tctl_num_json(g->missing), "op",
                                tctl_str(g->op && *g->op ? g->op : ">=")));
        }
        json_decref(next);
        next = json_pack("{s:o, s:o}", "tier", tctl_str(l->next->tier), "gaps", gaps);
    }
    if (l->at_risk && l->at_risk->date) {
        json_decref(risk);
        risk = json_pack("{s:o, s:o}", "date", tctl_time_json(l->at_risk->date), "tier",
                         tctl_str_or_null(l->at_risk->tier));
    }
    json_t *tiers = json_array();
    for (size_t i = 0; i < l->n_tiers; i++) {
        const Tierd__TierExplanation *te = l->tiers[i];
        json_t *benefits = json_array();
        for (size_t k = 0; k < te->n_benefits; k++)
            json_array_append_new(benefits, tctl_str(te->benefits[k]));
        json_array_append_new(
            tiers, json_pack("{s:o, s:b, s:b, s:o, s:o, s:o}", "tier", tctl_str(te->tier), "holds",
                             te->holds, "gate_holds", te->gate_holds, "when", tctl_str(te->when),
                             "criteria", criteria_json(te->criteria, te->n_criteria), "benefits",
                             benefits));
    }
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:b, s:o, s:o, s:o, s:o, s:o}",
                     "partner", tctl_str(partner), "ladder", tctl_str(l->ladder), "tier",
                     tctl_str_or_null(l->tier), "next", next, "at_risk", risk, "qualifying",
                     tctl_str_or_null(l->qualifying), "since", tctl_time_json(l->since), "gate",
                     criteria_json(l->gate, l->n_gate), "gate_holds", l->gate_holds, "tiers", tiers,
                     "pending", tctl_str_or_null(l->pending), "override",
                     tctl_str_or_null(l->override_tier), "program_version",
                     tctl_str_or_null(l->program_version), "at", tctl_time_json(l->at));
}

static void print_explain(const Tierd__LadderExplanation *l)
{
    char since[64];
    tctl_time_human(l->since, since, sizeof since);
    printf("%s: %s", l->ladder, tier_name(l->tier));
    if (l->since)
        printf(" (since %s)", since);
    printf("\n");
    if (l->qualifying && strcmp(l->qualifying, l->tier ? l->tier : "") != 0)
        printf("  qualifies for %s now\n",
               l->qualifying && *l->qualifying ? l->qualifying : "no tier");
    if (l->pending && *l->pending)
        printf("  waiting for approval: %s\n", l->pending);
    if (l->override_tier && *l->override_tier)
        printf("  pinned by an override: %s\n", l->override_tier);
    if (l->n_gate) {
        printf("  gate %s\n", l->gate_holds ? "holds" : "does not hold");
        print_criteria(l->gate, l->n_gate, "    ");
    }
    for (size_t i = 0; i < l->n_tiers; i++) {
        const Tierd__TierExplanation *te = l->tiers[i];
        printf("  %s %s: %s\n", te->holds ? CHECK_MARK : CROSS_MARK, te->tier, te->when);
        print_criteria(te->criteria, te->n_criteria, "      ");
    }
    if (l->next && l->next->tier && *l->next->tier)
        print_gaps(l->next);
    if (l->at_risk && l->at_risk->date) {
        char d[64];
        tctl_time_human(l->at_risk->date, d, sizeof d);
        printf("  at risk: falls to %s on %s if nothing new arrives\n", tier_name(l->at_risk->tier),
               d);
    }
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
            tctl_print_json(explain_json(partner, r->ladders[0]));
        } else {
            json_t *arr = json_array();
            for (size_t i = 0; i < r->n_ladders; i++)
                json_array_append_new(arr, explain_json(partner, r->ladders[i]));
            tctl_print_json(arr);
        }
    } else {
        if (r->n_ladders == 0)
            printf("%s is on no ladder\n", partner);
        for (size_t i = 0; i < r->n_ladders; i++) {
            if (i)
                printf("\n");
            print_explain(r->ladders[i]);
        }
    }
    tierd__explain_response__free_unpacked(r, NULL);
    return 0;
}

static int print_changes(tctl *t, Tierd__ChangesResponse *r)
{
    if (t->json) {
        tctl_print_json(changes_json(r));
    } else {
        if (r->n_changes == 0)
            printf("no changes\n");
        for (size_t i = 0; i < r->n_changes; i++)
            print_change(r->changes[i]);
    }
    tierd__changes_response__free_unpacked(r, NULL);
    return 0;
}

static int limit_opt(const cmd_args *a, const char *usage, uint32_t *out)
{
    uint64_t v = 0;
    if (opt(a, "limit") && parse_u64(opt(a, "limit"), UINT32_MAX, &v) != 0) {
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
    if (opt(a, "since") && parse_u64(opt(a, "since"), UINT64_MAX, &since) != 0) {
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
    return print_state_answer(t, a->pos[0], s);
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
    return print_state_answer(t, a->pos[0], s);
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
            json_array_append_new(
                arr,
                json_pack("{s:o, s:o, s:o, s:o, s:o}", "partner", tctl_str(p->partner), "ladder",
                          tctl_str(p->ladder), "from", tctl_str_or_null(p->from_tier), "to",
                          tctl_str_or_null(p->to_tier), "since", tctl_time_json(p->since)));
        }
        tctl_print_json(json_pack("{s:o}", "pending", arr));
    } else {
        if (r->n_pending == 0)
            printf("nothing waits for approval\n");
        for (size_t i = 0; i < r->n_pending; i++) {
            const Tierd__PendingApproval *p = r->pending[i];
            char since[64];
            tctl_time_human(p->since, since, sizeof since);
            printf("%s %s: %s -> %s (waiting since %s)\n", p->partner, p->ladder,
                   tier_name(p->from_tier), tier_name(p->to_tier), since);
        }
    }
    tierd__list_pending_response__free_unpacked(r, NULL);
    return 0;
}

static int decide(tctl *t, cmd_args *a, bool approve)
{
    int bad = need_ladder(a, approve ? "approve ID --ladder L" : "deny ID --ladder L [--reason R]");
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
    return print_state_answer(t, a->pos[0], s);
}

static int cmd_approve(tctl *t, cmd_args *a)
{
    return decide(t, a, true);
}

static int cmd_deny(tctl *t, cmd_args *a)
{
    return decide(t, a, false);
}

static int cmd_stats(tctl *t, cmd_args *a)
{
    (void)a;
    Tierd__StatsResponse *r;
    td_error err;
    int rc = td_client_stats(t->cli, &r, &err);
    if (rc)
        return tctl_fail_rc(rc, &err);
    if (t->json) {
        json_t *ladders = json_object();
        for (size_t i = 0; i < r->n_ladders; i++) {
            json_t *counts = json_object();
            for (size_t k = 0; k < r->ladders[i]->n_tiers; k++) {
                const Tierd__TierCount *c = r->ladders[i]->tiers[k];
                json_object_set_new(counts, c->tier && *c->tier ? c->tier : "unranked",
                                    json_integer((json_int_t)c->count));
            }
            json_object_set_new(ladders, r->ladders[i]->ladder, counts);
        }
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
                printf("  %-20s %12s\n", tier_name(c->tier), n);
            }
        }
    }
    tierd__stats_response__free_unpacked(r, NULL);
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

static const command commands[] = {
    {NULL, "ping", {NULL}, 0, 0, cmd_ping, "ping"},
    {NULL, "status", {NULL}, 0, 0, cmd_status, "status"},
    {"program",
     "load",
     {"dry-run", "force", NULL},
     1,
     1,
     cmd_program_load,
     "program load FILE [--dry-run] [--force]"},
    {"program", "show", {"yaml", NULL}, 0, 0, cmd_program_show, "program show [--yaml]"},
    {"partner",
     "put",
     {"type=", "name=", NULL},
     1,
     1,
     cmd_partner_put,
     "partner put ID --type T[,T] [--name N]"},
    {"partner",
     "import",
     {NULL},
     1,
     1,
     cmd_partner_import,
     "partner import FILE   (NDJSON, '-' = stdin; exit 1 if any line was rejected)"},
    {"partner", "show", {NULL}, 1, 1, cmd_partner_show, "partner show ID"},
    {"partner",
     "list",
     {"ladder=", "tier=", "limit=", NULL},
     0,
     0,
     cmd_partner_list,
     "partner list [--ladder L] [--tier T|unranked] [--limit N]"},
    {"partner", "delete", {NULL}, 1, 1, cmd_partner_delete, "partner delete ID"},
    {"event",
     "add",
     {"partner=", "metric=", "value=", "at=", "id=", "source=", "key=", NULL},
     0,
     0,
     cmd_event_add,
     "event add --partner P --metric M [--value V] [--at T] [--id I] [--source S] [--key K]"},
    {"event",
     "import",
     {NULL},
     1,
     1,
     cmd_event_import,
     "event import FILE   (NDJSON, '-' = stdin; exit 1 if any line was rejected)"},
    {NULL,
     "explain",
     {"ladder=", "at=", NULL},
     1,
     1,
     cmd_explain,
     "explain ID [--ladder L] [--at T]   (--json: one object per ladder; an array when the "
     "partner is on several ladders and no --ladder is given)"},
    {NULL,
     "history",
     {"ladder=", "limit=", NULL},
     1,
     1,
     cmd_history,
     "history ID [--ladder L] [--limit N]"},
    {NULL,
     "changes",
     {"since=", "limit=", NULL},
     0,
     0,
     cmd_changes,
     "changes [--since N] [--limit N]"},
    {"override",
     "set",
     {"ladder=", "tier=", "until=", "reason=", NULL},
     1,
     1,
     cmd_override_set,
     "override set ID --ladder L --tier T --until T --reason R"},
    {"override",
     "clear",
     {"ladder=", NULL},
     1,
     1,
     cmd_override_clear,
     "override clear ID --ladder L"},
    {NULL, "pending", {NULL}, 0, 0, cmd_pending, "pending"},
    {NULL, "approve", {"ladder=", NULL}, 1, 1, cmd_approve, "approve ID --ladder L"},
    {NULL, "deny", {"ladder=", "reason=", NULL}, 1, 1, cmd_deny, "deny ID --ladder L [--reason R]"},
    {NULL, "stats", {NULL}, 0, 0, cmd_stats, "stats"},
    {NULL,
     "watch",
     {"ladder=", "partner=", "since=", "pub-url=", NULL},
     0,
     0,
     cmd_watch,
     "watch [--ladder L] [--partner P] [--since N] [--pub-url URL]   (--json: one object per "
     "line)"},
    {"clock", "show", {NULL}, 0, 0, cmd_clock_show, "clock show"},
    {"clock",
     "advance",
     {NULL},
     1,
     1,
     cmd_clock_advance,
     "clock advance DURATION   (only when tierd runs with --fake-clock)"},
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
    Tierd__Partner *pp = &p;
    Tierd__UpsertPartnersRequest req = TIERD__UPSERT_PARTNERS_REQUEST__INIT;
    req.n_partners = 1;
    req.partners = &pp;
    Tierd__UpsertPartnersResponse *r;
    td_error err;
    int rc = td_client_upsert_partners(t->cli, &req, &r, &err);
    if (rc)
        return tctl_fail_rc(rc, &err);
    int code = 0;
    if (r->rejected || (r->n_results && r->results[0]->outcome == TIERD__OUTCOME__REJECTED)) {
        const char *why = r->n_results ? r->results[0]->reason : "rejected";
        td_error_set(&err, TD_INVALID_ARGUMENT, "partner '%s': %s", a->pos[0], why);
        code = tctl_fail(&err);
    } else if (t->json) {
        tctl_print_json(
            json_pack("{s:o, s:s}", "partner", tctl_str(a->pos[0]), "outcome", "accepted"));
    } else {
        printf("saved partner %s\n", a->pos[0]);
    }
    tierd__upsert_partners_response__free_unpacked(r, NULL);
    return code;
}

static int cmd_event_add(tctl *t, cmd_args *a)
{
    const command *c = find_command("event");
    if (!opt(a, "partner") || !*opt(a, "partner") || !opt(a, "metric") || !*opt(a, "metric"))
        return usage_error(c, "%s", "event add needs --partner and --metric");
    Tierd__Event e = TIERD__EVENT__INIT;
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
        printf("%s event %s (source %s)\n", oname, id, e.source);
    }
    tierd__ingest_response__free_unpacked(r, NULL);
    return code;
}

/* ---- watch ------------------------------------------------------------------------ */

static volatile sig_atomic_t watch_stop;

static void on_signal(int sig)
{
    (void)sig;
    watch_stop = 1;
}

typedef struct watcher {
    tctl *t;
    const char *ladder, *partner;
    uint64_t last; /* highest sequence printed or skipped */
    bool started;  /* past the first answer: from then on an absent daemon is waited for */
    bool down;     /* said so on stderr already */
} watcher;

static void watch_emit(watcher *w, const Tierd__TierChange *c)
{
    if (c->sequence <= w->last)
        return;
    w->last = c->sequence;
    if (w->ladder && strcmp(w->ladder, c->ladder ? c->ladder : "") != 0)
        return;
    if (w->partner && strcmp(w->partner, c->partner ? c->partner : "") != 0)
        return;
    if (w->t->json)
        tctl_print_json_line(change_json(c));
    else {
        print_change(c);
        fflush(stdout);
    }
}

/* Fills from ListChanges everything after w->last up to `upto` (0 = all
 * there is): PUB drops messages for slow readers and a filtered
 * subscription sees gaps by design, so the log is the truth. */
static int watch_catch_up(watcher *w, uint64_t upto)
{
    for (;;) {
        Tierd__ChangesResponse *r;
        td_error err;
        int rc = td_client_list_changes(w->t->cli, w->last, WATCH_CATCHUP_LIMIT, &r, &err);
        if (rc && (-rc) == TD_UNAVAILABLE && w->started) {
            /* A restarting daemon is no reason to stop watching: the SUB
             * socket reconnects by itself and the next catch-up fills in. */
            if (!w->down)
                fprintf(stderr, "tierctl: %s; still watching\n", err.message);
            w->down = true;
            return 0;
        }
        if (rc)
            return tctl_fail_rc(rc, &err);
        if (w->down)
            fprintf(stderr, "tierctl: tierd answers again\n");
        w->down = false;
        size_t n = r->n_changes;
        for (size_t i = 0; i < n; i++)
            watch_emit(w, r->changes[i]);
        tierd__changes_response__free_unpacked(r, NULL);
        /* the daemon may clamp the page below what was asked, so a short
         * page ends the walk only when no target sequence is known */
        if (n == 0 || (upto && w->last >= upto) || (!upto && n < WATCH_CATCHUP_LIMIT))
            return 0;
    }
}

static int pub_url_for(const char *rpc, char *out, size_t n)
{
    size_t len = strlen(rpc), rl = strlen(TD_RPC_SOCKET_NAME), tl = strlen(TCP_RPC_PORT);
    if (len >= rl && strcmp(rpc + len - rl, TD_RPC_SOCKET_NAME) == 0) {
        snprintf(out, n, "%.*s%s", (int)(len - rl), rpc, TD_PUB_SOCKET_NAME);
        return 0;
    }
    if (strncmp(rpc, "tcp://", 6) == 0 && len >= tl && strcmp(rpc + len - tl, TCP_RPC_PORT) == 0) {
        snprintf(out, n, "%.*s%s", (int)(len - tl), rpc, TCP_PUB_PORT);
        return 0;
    }
    return -1;
}

static int cmd_watch(tctl *t, cmd_args *a)
{
    const command *c = find_command("watch");
    watcher w = {.t = t, .ladder = opt(a, "ladder"), .partner = opt(a, "partner")};
    char pub[TOPIC_MAX];
    if (opt(a, "pub-url"))
        snprintf(pub, sizeof pub, "%s", opt(a, "pub-url"));
    else if (pub_url_for(td_client_url(t->cli), pub, sizeof pub) != 0)
        return usage_error(c, "cannot guess the publish URL from '%s'; give --pub-url",
                           td_client_url(t->cli));
    uint64_t since = 0;
    bool have_since = opt(a, "since") != NULL;
    if (have_since && parse_u64(opt(a, "since"), UINT64_MAX, &since) != 0)
        return usage_error(c, "--since '%s' must be a sequence number", opt(a, "since"));

    int sock = nn_socket(AF_SP, NN_SUB);
    if (sock < 0) {
        fprintf(stderr, "tierctl: INTERNAL: cannot create a subscriber: %s\n", nn_strerror(errno));
        return TCTL_EXIT_REFUSED;
    }
    /* Subscribe before asking where the log ends, so nothing falls between. */
    char topic[TOPIC_MAX];
    if (w.ladder && w.partner)
        snprintf(topic, sizeof topic, "change/%s/%s\n", w.ladder, w.partner);
    else if (w.ladder)
        snprintf(topic, sizeof topic, "change/%s/", w.ladder);
    else
        snprintf(topic, sizeof topic, "change/");
    int idle = WATCH_IDLE_MS;
    int unlimited = -1;
    if (nn_setsockopt(sock, NN_SUB, NN_SUB_SUBSCRIBE, topic, strlen(topic)) < 0 ||
        nn_setsockopt(sock, NN_SOL_SOCKET, NN_RCVTIMEO, &idle, sizeof idle) < 0 ||
        nn_setsockopt(sock, NN_SOL_SOCKET, NN_RCVMAXSIZE, &unlimited, sizeof unlimited) < 0 ||
        nn_connect(sock, pub) < 0) {
        fprintf(stderr, "tierctl: cannot subscribe at %s: %s\n", pub, nn_strerror(errno));
        nn_close(sock);
        return TCTL_EXIT_REFUSED;
    }
    int code = 0;
    if (have_since) {
        w.last = since;
        code = watch_catch_up(&w, 0);
    } else {
        Tierd__StatusResponse *s;
        td_error err;
        int rc = td_client_status(t->cli, &s, &err);
        if (rc)
            code = tctl_fail_rc(rc, &err);
        else {
            w.last = s->last_sequence;
            tierd__status_response__free_unpacked(s, NULL);
        }
    }
    w.started = true;
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    while (code == 0 && !watch_stop) {
        void *msg = NULL;
        int n = nn_recv(sock, &msg, NN_MSG, 0);
        if (n < 0) {
            if (errno == ETIMEDOUT || errno == EAGAIN)
                code = watch_catch_up(&w, 0); /* the tail may have been dropped */
            else if (errno != EINTR)
                break;
            continue;
        }
        const uint8_t *nl = memchr(msg, '\n', (size_t)n);
        Tierd__TierChange *ch =
            nl ? tierd__tier_change__unpack(NULL, (size_t)(n - (nl + 1 - (uint8_t *)msg)), nl + 1)
               : NULL;
        nn_freemsg(msg);
        if (!ch) {
            fprintf(stderr, "tierctl: skipped a malformed change message (%d bytes)\n", n);
            continue;
        }
        if (ch->sequence > w.last + 1)
            code = watch_catch_up(&w, ch->sequence - 1);
        /* while the gap stays open this change waits for a later catch-up,
         * so that nothing prints out of order */
        if (code == 0 && w.last + 1 >= ch->sequence)
            watch_emit(&w, ch);
        tierd__tier_change__free_unpacked(ch, NULL);
    }
    nn_close(sock);
    return code;
}

/* ---- main ----------------------------------------------------------------------------- */

static void print_usage(FILE *f)
{
    fprintf(f, "usage: tierctl [--url URL] [--token T] [--json] [--timeout MS] COMMAND ...\n\n"
               "commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %s\n", commands[i].usage);
    fprintf(f,
            "\nURL defaults to $%s, else ipc://%s/%s; the token to $%s.\n"
            "exit status: 0 ok, 1 refused request, 2 usage error, 3 daemon unreachable.\n",
            TD_CLIENT_URL_ENV, TD_DEFAULT_STATE_DIR, TD_RPC_SOCKET_NAME, TD_CLIENT_TOKEN_ENV);
}

int main(int argc, char **argv)
{
    tctl t = {0};
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
        const char *s = argv[i] + 2;
        const char *eq = strchr(s, '=');
        size_t len = eq ? (size_t)(eq - s) : strlen(s);
        const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[i + 1] : NULL);
#define IS(name) (len == strlen(name) && strncmp(s, name, len) == 0)
        if (len == 0) {
            i++;
            break;
        } else if (IS("json")) {
            t.json = true;
            continue;
        } else if (IS("help")) {
            print_usage(stdout);
            return 0;
        } else if (!IS("url") && !IS("token") && !IS("timeout")) {
            fprintf(stderr, "tierctl: unknown option '%s'\n", argv[i]);
            print_usage(stderr);
            return TCTL_EXIT_USAGE;
        }
        if (!val) {
            fprintf(stderr, "tierctl: option '%s' needs a value\n", argv[i]);
            print_usage(stderr);
            return TCTL_EXIT_USAGE;
        }
        if (IS("url"))
            t.url = val;
        else if (IS("token"))
            t.token = val;
        else {
            uint64_t ms;
            if (parse_u64(val, INT32_MAX, &ms) != 0 || ms == 0) {
                fprintf(stderr, "tierctl: --timeout '%s' must be a positive number of ms\n", val);
                return TCTL_EXIT_USAGE;
            }
            t.timeout_ms = (int)ms;
        }
        if (!eq)
            i++;
#undef IS
    }
    if (i >= argc) {
        print_usage(stderr);
        return TCTL_EXIT_USAGE;
    }
    const command *c = find_command(argv[i]);
    if (!c) {
        fprintf(stderr, "tierctl: unknown command '%s'\n", argv[i]);
        print_usage(stderr);
        return TCTL_EXIT_USAGE;
    }
    i++;
    if (c->group) {
        const command *g = c;
        const char *sub = i < argc ? argv[i] : "";
        for (; c < commands + N_COMMANDS && c->group && strcmp(c->group, g->group) == 0; c++)
            if (strcmp(c->name, sub) == 0)
                break;
        if (c == commands + N_COMMANDS || !c->group || strcmp(c->group, g->group) != 0) {
            fprintf(stderr, "tierctl: %s needs one of:", g->group);
            for (c = g; c < commands + N_COMMANDS && c->group && strcmp(c->group, g->group) == 0;
                 c++)
                fprintf(stderr, " %s", c->name);
            fprintf(stderr, "\n");
            for (c = g; c < commands + N_COMMANDS && c->group && strcmp(c->group, g->group) == 0;
                 c++)
                fprintf(stderr, "usage: tierctl %s\n", c->usage);
            return TCTL_EXIT_USAGE;
        }
        i++;
    }
    cmd_args a;
    int rc = parse_args(c, argc - i, argv + i, &a);
    if (rc)
        return rc;

    td_error err;
    if (td_client_open(t.url, t.token, t.timeout_ms, &t.cli, &err) != 0) {
        fprintf(stderr, "tierctl: %s\n", err.message);
        return TCTL_EXIT_USAGE;
    }
    rc = c->run(&t, &a);
    td_client_close(t.cli);
    return rc;
}
