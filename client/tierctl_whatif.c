/* tierctl's what-if commands: simulate, audit, calibrate (docs/tierctl.md).
 *
 * Each has three outputs: for a person (a summary table, then the rows with
 * something to say, every row with --all), --json (one document) and --csv
 * (a header line, then one row per partner and ladder, RFC 4180 quoting).
 * Rows come from tierd a page at a time; this file follows the pages to the
 * end. A calibration target is checked here against the ladder tierd
 * reports (shares adding to 100%, every tier named once, no unknown tier),
 * and tierd checks it again; a refused calibrate argument is a usage error
 * like one caught here. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tierctl.h"

#define WHATIF_PAGE      10000
#define TARGET_MAX       (TD_MAX_TIERS_CLI + 1)
#define TD_MAX_TIERS_CLI 16
#define SUM_TOLERANCE    0.01
#define TIME_BUF         64
#define NUM_BUF          64
#define PERCENT          100.0

/* ---- output helpers ---- */

static const char *const outcome_names[] = {"unchanged", "promoted", "queued", "demoted",
                                            "demoted_later"};

static const char *outcome_name(int o)
{
    return o >= 0 && (size_t)o < sizeof outcome_names / sizeof *outcome_names ? outcome_names[o]
                                                                              : "unknown";
}

/* One CSV field, quoted when it holds a comma, quote or line break. */
static void csv_field(const char *s, bool last)
{
    s = s ? s : "";
    if (strpbrk(s, ",\"\r\n")) {
        putchar('"');
        for (; *s; s++) {
            if (*s == '"')
                putchar('"');
            putchar(*s);
        }
        putchar('"');
    } else {
        fputs(s, stdout);
    }
    putchar(last ? '\n' : ',');
}

static void csv_time(int64_t t, bool last)
{
    char buf[TIME_BUF] = "";
    if (t)
        tctl_time_rfc3339(t, buf, sizeof buf);
    csv_field(buf, last);
}

static json_t *counts_json(Tierd__TierCounts *const *c, size_t n)
{
    json_t *arr = json_array();
    for (size_t l = 0; l < n; l++) {
        json_t *tiers = json_array();
        for (size_t t = 0; t < c[l]->n_tiers; t++)
            json_array_append_new(tiers,
                                  json_pack("{s:o, s:I}", "tier", tctl_str(c[l]->tiers[t]->tier),
                                            "count", (json_int_t)c[l]->tiers[t]->count));
        json_array_append_new(
            arr, json_pack("{s:o, s:o}", "ladder", tctl_str(c[l]->ladder), "tiers", tiers));
    }
    return arr;
}

/* The count of tier on ladder in c, 0 when either is absent. */
static uint64_t count_of(Tierd__TierCounts *const *c, size_t n, const char *ladder,
                         const char *tier)
{
    for (size_t l = 0; l < n; l++) {
        if (strcmp(c[l]->ladder, ladder) != 0)
            continue;
        for (size_t t = 0; t < c[l]->n_tiers; t++)
            if (strcmp(c[l]->tiers[t]->tier, tier) == 0)
                return c[l]->tiers[t]->count;
    }
    return 0;
}

static void print_distribution(const Tierd__TierCounts *after, Tierd__TierCounts *const *before,
                               size_t n_before, const Tierd__TierCounts *qual)
{
    printf("  ladder %s\n", after->ladder);
    printf("    %-24s %12s %12s %12s\n", "tier", "now", "after", "qualifying");
    for (size_t t = 0; t < after->n_tiers; t++) {
        const char *tier = after->tiers[t]->tier;
        char now[NUM_BUF], aft[NUM_BUF], q[NUM_BUF];
        tctl_num_human((double)count_of(before, n_before, after->ladder, tier), now, sizeof now);
        tctl_num_human((double)after->tiers[t]->count, aft, sizeof aft);
        tctl_num_human((double)(qual && t < qual->n_tiers ? qual->tiers[t]->count : 0), q,
                       sizeof q);
        printf("    %-24s %12s %12s %12s\n", tier, now, aft, q);
    }
}

static json_t *sums_json(const Tierd__ProgramImpact *im)
{
    return json_pack(
        "{s:I, s:I, s:I, s:I, s:o, s:o, s:I}", "promoted", (json_int_t)im->promoted,
        "queued_for_approval", (json_int_t)im->queued, "demoted", (json_int_t)im->demoted,
        "demoted_later", (json_int_t)im->demoted_later, "first_demotion",
        im->demoted_later ? tctl_time_json(im->first_demotion) : json_null(), "last_demotion",
        im->demoted_later ? tctl_time_json(im->last_demotion) : json_null(), "unchanged",
        (json_int_t)im->unchanged);
}

static void print_sums(const Tierd__ProgramImpact *im)
{
    char first[TIME_BUF], last[TIME_BUF];
    printf("  promoted now         %llu\n", (unsigned long long)im->promoted);
    printf("  queued for approval  %llu\n", (unsigned long long)im->queued);
    printf("  demoted now          %llu\n", (unsigned long long)im->demoted);
    if (im->demoted_later) {
        tctl_time_human(im->first_demotion, first, sizeof first);
        tctl_time_human(im->last_demotion, last, sizeof last);
        printf("  demoted later        %llu  (%s%s%s, unless they recover)\n",
               (unsigned long long)im->demoted_later, first,
               im->first_demotion == im->last_demotion ? "" : " to ",
               im->first_demotion == im->last_demotion ? "" : last);
    } else {
        printf("  demoted later        0\n");
    }
    printf("  unchanged            %llu\n", (unsigned long long)im->unchanged);
}

/* ---- simulate ---- */

static json_t *sim_row_json(const Tierd__SimulationRow *r)
{
    return json_pack("{s:o, s:o, s:s, s:o, s:o, s:o, s:o, s:b, s:o, s:o, s:o}", "partner",
                     tctl_str(r->partner), "ladder", tctl_str(r->ladder), "outcome",
                     outcome_name(r->outcome), "before", tctl_str_or_null(r->before), "after",
                     tctl_str_or_null(r->after), "qualifying", tctl_str_or_null(r->qualifying),
                     "pending", tctl_str_or_null(r->pending), "queued", r->queued, "demotion_at",
                     r->demotion_at ? tctl_time_json(r->demotion_at) : json_null(), "demotion_to",
                     r->demotion_at ? tctl_str_or_null(r->demotion_to) : json_null(), "due_reason",
                     r->demotion_at ? json_string(tctl_due_name(r->due_reason)) : json_null());
}

static void sim_row_csv(const Tierd__SimulationRow *r)
{
    csv_field(r->partner, false);
    csv_field(r->ladder, false);
    csv_field(outcome_name(r->outcome), false);
    csv_field(tctl_tier_name(r->before), false);
    csv_field(tctl_tier_name(r->after), false);
    csv_field(tctl_tier_name(r->qualifying), false);
    csv_field(r->pending, false);
    csv_field(r->queued ? "true" : "false", false);
    csv_time(r->demotion_at, false);
    csv_field(r->demotion_at ? tctl_tier_name(r->demotion_to) : "", false);
    csv_field(r->demotion_at ? tctl_due_name(r->due_reason) : "", true);
}

static void sim_row_print(const Tierd__SimulationRow *r)
{
    char when[TIME_BUF], detail[TIME_BUF + 2 * TD_MAX_TIERS_CLI * 8 + 64] = "";
    if (r->demotion_at) {
        tctl_time_human(r->demotion_at, when, sizeof when);
        snprintf(detail, sizeof detail, "  demoted on %s to %s (%s)", when,
                 tctl_tier_name(r->demotion_to), tctl_due_name(r->due_reason));
    }
    printf("  %-20s %-14s %-14s %s -> %s (qualifies %s)%s%s%s\n", r->partner, r->ladder,
           outcome_name(r->outcome), tctl_tier_name(r->before), tctl_tier_name(r->after),
           tctl_tier_name(r->qualifying), r->queued ? "  awaits approval for " : "",
           r->queued ? r->pending : "", detail);
}

int tctl_simulate(tctl *t, const char *file, const char *at, const char *partner, tctl_format fmt,
                  bool all)
{
    int code = 0;
    size_t len;
    char *yaml = tctl_read_program(file, &len, &code);
    if (!yaml)
        return code;
    Tierd__WhatIfPage page = TIERD__WHAT_IF_PAGE__INIT;
    page.partner = (char *)(partner ? partner : "");
    page.limit = WHATIF_PAGE;
    page.all_rows = all || fmt == TCTL_FORMAT_CSV;
    Tierd__SimulateRequest req = TIERD__SIMULATE_REQUEST__INIT;
    req.yaml = yaml;
    req.filename = (char *)file;
    req.at = (char *)(at ? at : "");
    req.page = &page;
    json_t *rows = json_array(), *doc = NULL;
    Tierd__SimulateResponse *first = NULL;
    char *after = NULL;
    int rc = 0;
    td_error err;
    for (;;) {
        Tierd__SimulateResponse *r;
        page.after = after ? after : (char *)"";
        if ((rc = td_client_simulate(t->cli, &req, &r, &err)) != 0)
            break;
        if (!first) {
            first = r;
            if (fmt == TCTL_FORMAT_CSV)
                printf("partner,ladder,outcome,before,after,qualifying,pending,queued,"
                       "demotion_at,demotion_to,due_reason\n");
            if (fmt == TCTL_FORMAT_TEXT) {
                char when[TIME_BUF];
                tctl_time_human(r->at, when, sizeof when);
                printf("simulating %s version %s at %s (counted per partner and ladder):\n",
                       r->program, r->version, when);
                if (r->sums)
                    print_sums(r->sums);
                printf("\ndistribution (held now, held right after, qualifying under it):\n");
                for (size_t l = 0; l < r->n_after; l++)
                    print_distribution(r->after[l], r->before, r->n_before,
                                       l < r->n_qualifying ? r->qualifying[l] : NULL);
                printf("\n%s:\n", all ? "every partner and ladder" : "partners that move");
            }
        }
        for (size_t i = 0; i < r->n_rows; i++) {
            if (fmt == TCTL_FORMAT_JSON)
                json_array_append_new(rows, sim_row_json(r->rows[i]));
            else if (fmt == TCTL_FORMAT_CSV)
                sim_row_csv(r->rows[i]);
            else
                sim_row_print(r->rows[i]);
        }
        free(after);
        after = r->next && *r->next ? strdup(r->next) : NULL;
        if (r != first)
            tierd__simulate_response__free_unpacked(r, NULL);
        if (!after)
            break;
    }
    free(yaml);
    free(after);
    if (rc == 0 && fmt == TCTL_FORMAT_JSON) {
        doc = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "program",
                        tctl_str(first->program), "version", tctl_str(first->version), "at",
                        tctl_time_json(first->at), "summary",
                        first->sums ? sums_json(first->sums) : json_null(), "before",
                        counts_json(first->before, first->n_before), "after",
                        counts_json(first->after, first->n_after), "qualifying",
                        counts_json(first->qualifying, first->n_qualifying), "rows", rows);
        tctl_print_json(doc);
        rows = NULL;
    }
    json_decref(rows);
    if (first)
        tierd__simulate_response__free_unpacked(first, NULL);
    return rc ? tctl_fail_rc(rc, &err) : 0;
}

/* ---- audit ---- */

static const char *const kind_titles[] = {"held above", "held below", "override stale", "near miss",
                                          "gate failing"};

static void kinds_text(const Tierd__AuditRow *r, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t k = 0; k < r->n_kinds && used < n; k++)
        used += (size_t)snprintf(buf + used, n - used, "%s%s", k ? ";" : "", r->kinds[k]);
}

/* The gaps as "metric op threshold (missing m)"; human: with separators. */
static void gaps_text(const Tierd__AuditRow *r, bool human, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t g = 0; g < r->n_gaps && used < n; g++) {
        char th[NUM_BUF], miss[NUM_BUF];
        if (human && r->gaps[g]->percent) {
            tctl_percent_human(r->gaps[g]->threshold, th, sizeof th);
            tctl_percent_human(r->gaps[g]->missing, miss, sizeof miss);
        } else if (human) {
            tctl_num_human(r->gaps[g]->threshold, th, sizeof th);
            tctl_num_human(r->gaps[g]->missing, miss, sizeof miss);
        } else {
            snprintf(th, sizeof th, "%.15g", r->gaps[g]->threshold);
            snprintf(miss, sizeof miss, "%.15g", r->gaps[g]->missing);
        }
        /* A metric with no value yet has no distance (NaN on the wire). */
        bool none = isnan(r->gaps[g]->missing);
        used += (size_t)snprintf(buf + used, n - used, "%s%s %s %s (%s%s)", g ? "; " : "",
                                 r->gaps[g]->metric, r->gaps[g]->op, th,
                                 none ? "no value yet" : "missing ", none ? "" : miss);
    }
}

static json_t *audit_row_json(const Tierd__AuditRow *r)
{
    json_t *kinds = json_array(), *gaps = json_array();
    for (size_t k = 0; k < r->n_kinds; k++)
        json_array_append_new(kinds, tctl_str(r->kinds[k]));
    for (size_t g = 0; g < r->n_gaps; g++)
        json_array_append_new(gaps, json_pack("{s:o, s:o, s:o, s:o, s:o}", "metric",
                                              tctl_str(r->gaps[g]->metric), "op",
                                              tctl_str(r->gaps[g]->op), "value",
                                              tctl_num_json(r->gaps[g]->value), "threshold",
                                              tctl_num_json(r->gaps[g]->threshold), "missing",
                                              tctl_num_json(r->gaps[g]->missing)));
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "partner", tctl_str(r->partner),
                     "ladder", tctl_str(r->ladder), "held", tctl_str_or_null(r->held), "qualifying",
                     tctl_str_or_null(r->qualifying), "override",
                     r->overridden ? tctl_str_or_null(r->override_tier) : json_null(), "next_tier",
                     tctl_str_or_null(r->next_tier), "kinds", kinds, "gaps", gaps);
}

static json_t *audit_counts_json(const Tierd__AuditCounts *c)
{
    return json_pack("{s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "ladder",
                     tctl_str_or_null(c->ladder), "partners", (json_int_t)c->partners, "in_line",
                     (json_int_t)c->in_line, "held_above", (json_int_t)c->held_above, "held_below",
                     (json_int_t)c->held_below, "override_stale", (json_int_t)c->override_stale,
                     "near_miss", (json_int_t)c->near_miss, "gate_failing",
                     (json_int_t)c->gate_failing);
}

static void audit_counts_print(const char *name, const Tierd__AuditCounts *c)
{
    uint64_t v[] = {c->partners,       c->in_line,   c->held_above,  c->held_below,
                    c->override_stale, c->near_miss, c->gate_failing};
    printf("  %-20s", name);
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        char buf[NUM_BUF];
        tctl_num_human((double)v[i], buf, sizeof buf);
        printf(" %14s", buf);
    }
    printf("\n");
}

/* "10%", "10" (percent) or "2.5%": a share 0..1; -1 when not. */
static double percent_arg(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || (*end && strcmp(end, "%") != 0) || !isfinite(v) || v < 0 || v > PERCENT)
        return -1;
    return v / PERCENT;
}

int tctl_audit(tctl *t, const char *near, const char *ladder, tctl_format fmt, bool all,
               const char *usage)
{
    Tierd__WhatIfPage page = TIERD__WHAT_IF_PAGE__INIT;
    page.limit = WHATIF_PAGE;
    page.all_rows = all || fmt == TCTL_FORMAT_CSV;
    Tierd__AuditRequest req = TIERD__AUDIT_REQUEST__INIT;
    req.ladder = (char *)(ladder ? ladder : "");
    req.page = &page;
    if (near) {
        req.near = percent_arg(near);
        req.near_set = true;
        if (req.near < 0) {
            fprintf(stderr,
                    "tierctl: --near '%s' must be a share from 0%% to 100%%\nusage: tierctl %s\n",
                    near, usage);
            return TCTL_EXIT_USAGE;
        }
    }
    json_t *rows = json_array();
    Tierd__AuditResponse *first = NULL;
    char *after = NULL;
    int rc = 0;
    td_error err;
    for (;;) {
        Tierd__AuditResponse *r;
        page.after = after ? after : (char *)"";
        if ((rc = td_client_audit(t->cli, &req, &r, &err)) != 0)
            break;
        if (!first) {
            first = r;
            if (fmt == TCTL_FORMAT_CSV)
                printf("partner,ladder,held,qualifying,override,next_tier,kinds,gaps\n");
            if (fmt == TCTL_FORMAT_TEXT) {
                char when[TIME_BUF];
                tctl_time_human(r->at, when, sizeof when);
                printf("audit at %s against the program in force, near = within %g%%:\n", when,
                       r->near * PERCENT);
                printf("  %-20s %14s %14s", "ladder", "partners", "in line");
                for (size_t k = 0; k < sizeof kind_titles / sizeof *kind_titles; k++)
                    printf(" %14s", kind_titles[k]);
                printf("\n");
                for (size_t l = 0; l < r->n_ladders; l++)
                    audit_counts_print(r->ladders[l]->ladder, r->ladders[l]);
                if (r->total)
                    audit_counts_print("total", r->total);
                printf("\n%s:\n", all ? "every partner and ladder" : "partners out of line");
            }
        }
        for (size_t i = 0; i < r->n_rows; i++) {
            const Tierd__AuditRow *row = r->rows[i];
            char kinds[256], gaps[1024];
            kinds_text(row, kinds, sizeof kinds);
            gaps_text(row, fmt == TCTL_FORMAT_TEXT, gaps, sizeof gaps);
            if (fmt == TCTL_FORMAT_JSON) {
                json_array_append_new(rows, audit_row_json(row));
            } else if (fmt == TCTL_FORMAT_CSV) {
                csv_field(row->partner, false);
                csv_field(row->ladder, false);
                csv_field(tctl_tier_name(row->held), false);
                csv_field(tctl_tier_name(row->qualifying), false);
                csv_field(row->overridden ? tctl_tier_name(row->override_tier) : "", false);
                csv_field(row->next_tier, false);
                csv_field(kinds, false);
                csv_field(gaps, true);
            } else {
                printf("  %-20s %-14s holds %s, qualifies %s%s%s  [%s]\n", row->partner,
                       row->ladder, tctl_tier_name(row->held), tctl_tier_name(row->qualifying),
                       row->overridden ? ", pinned " : "",
                       row->overridden ? tctl_tier_name(row->override_tier) : "",
                       *kinds ? kinds : "in line");
                if (*gaps)
                    printf("      for %s: %s\n", row->next_tier, gaps);
            }
        }
        free(after);
        after = r->next && *r->next ? strdup(r->next) : NULL;
        if (r != first)
            tierd__audit_response__free_unpacked(r, NULL);
        if (!after)
            break;
    }
    free(after);
    if (rc == 0 && fmt == TCTL_FORMAT_JSON) {
        json_t *ladders = json_array();
        for (size_t l = 0; l < first->n_ladders; l++)
            json_array_append_new(ladders, audit_counts_json(first->ladders[l]));
        tctl_print_json(json_pack("{s:o, s:f, s:o, s:o, s:o}", "at", tctl_time_json(first->at),
                                  "near", first->near, "ladders", ladders, "total",
                                  first->total ? audit_counts_json(first->total) : json_null(),
                                  "rows", rows));
        rows = NULL;
    }
    json_decref(rows);
    if (first)
        tierd__audit_response__free_unpacked(first, NULL);
    return rc ? tctl_fail_rc(rc, &err) : 0;
}

/* ---- calibrate ---- */

static int calib_usage(const char *usage, const char *msg)
{
    fprintf(stderr, "tierctl: %s\nusage: tierctl %s\n", msg, usage);
    return TCTL_EXIT_USAGE;
}

/* "A=50%,B=30%,...": into targets (names point into buf, a copy). */
static int parse_targets(const char *spec, char *buf, size_t cap, Tierd__CalibrateTarget *targets,
                         size_t *n, char *msg, size_t msg_n)
{
    *n = 0;
    if (strlen(spec) >= cap) {
        snprintf(msg, msg_n, "--target is too long");
        return -1;
    }
    strcpy(buf, spec);
    double sum = 0;
    for (char *save = NULL, *item = strtok_r(buf, ",", &save); item;
         item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        if (!eq || eq == item) {
            snprintf(msg, msg_n, "--target item '%s' is not TIER=SHARE%%", item);
            return -1;
        }
        *eq = '\0';
        double pc = percent_arg(eq + 1);
        if (pc < 0) {
            snprintf(msg, msg_n, "--target %s: share '%s' is not a number from 0%% to 100%%", item,
                     eq + 1);
            return -1;
        }
        for (size_t i = 0; i < *n; i++)
            if (strcmp(targets[i].tier, item) == 0) {
                snprintf(msg, msg_n, "--target names %s twice", item);
                return -1;
            }
        if (*n == TARGET_MAX) {
            snprintf(msg, msg_n, "--target names more than %d tiers", TARGET_MAX);
            return -1;
        }
        Tierd__CalibrateTarget init = TIERD__CALIBRATE_TARGET__INIT;
        targets[*n] = init;
        targets[*n].tier = item;
        targets[*n].percent = pc * PERCENT;
        sum += pc * PERCENT;
        (*n)++;
    }
    if (!*n) {
        snprintf(msg, msg_n, "--target names no tier");
        return -1;
    }
    if (fabs(sum - PERCENT) > SUM_TOLERANCE) {
        snprintf(msg, msg_n, "--target shares add up to %g%%, not 100%%", sum);
        return -1;
    }
    return 0;
}

/* The ladder as tierd reports it: an unknown ladder or tier, or a tier
 * left out, is named. 0, -1 with msg, or a failed call's code. */
static int check_against_program(tctl *t, const char *ladder, const Tierd__CalibrateTarget *targets,
                                 size_t n, char *msg, size_t msg_n)
{
    Tierd__GetProgramResponse *p;
    td_error err;
    int rc = td_client_get_program(t->cli, &p, &err);
    if (rc)
        return tctl_fail_rc(rc, &err);
    const Tierd__LadderInfo *li = NULL;
    for (size_t l = 0; l < p->n_ladders; l++)
        if (strcmp(p->ladders[l]->name, ladder) == 0)
            li = p->ladders[l];
    int bad = 0;
    if (!li) {
        snprintf(msg, msg_n, "unknown ladder '%s'", ladder);
        bad = -1;
    }
    for (size_t i = 0; !bad && i < n; i++) {
        bool known = strcmp(targets[i].tier, "unranked") == 0;
        for (size_t k = 0; !known && k < li->n_tiers; k++)
            known = strcmp(li->tiers[k], targets[i].tier) == 0;
        if (!known) {
            snprintf(msg, msg_n, "--target %s: ladder %s has no tier %s", targets[i].tier, ladder,
                     targets[i].tier);
            bad = -1;
        }
    }
    size_t used = 0;
    for (size_t k = 0; !bad && li && k < li->n_tiers; k++) {
        bool named = false;
        for (size_t i = 0; i < n; i++)
            named |= strcmp(li->tiers[k], targets[i].tier) == 0;
        if (!named && used < msg_n)
            used += (size_t)snprintf(msg + used, msg_n - used, "%s%s",
                                     used ? ", " : "--target names no share for ", li->tiers[k]);
    }
    if (used) {
        if (used < msg_n)
            snprintf(msg + used, msg_n - used, " (every tier of %s needs one, 0%% allowed)",
                     ladder);
        bad = -1;
    }
    tierd__get_program_response__free_unpacked(p, NULL);
    return bad;
}

int tctl_calibrate(tctl *t, const char *ladder, const char *target, const char *metric,
                   tctl_format fmt, const char *usage)
{
    if (!ladder || !*ladder)
        return calib_usage(usage, "--ladder is required");
    if (!target || !*target)
        return calib_usage(usage, "--target is required");
    if (fmt == TCTL_FORMAT_CSV)
        return calib_usage(usage, "calibrate has no --csv output");
    char buf[4096], msg[1024];
    Tierd__CalibrateTarget targets[TARGET_MAX], *ptrs[TARGET_MAX];
    size_t n;
    if (parse_targets(target, buf, sizeof buf, targets, &n, msg, sizeof msg) != 0)
        return calib_usage(usage, msg);
    int rc = check_against_program(t, ladder, targets, n, msg, sizeof msg);
    if (rc == -1)
        return calib_usage(usage, msg);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++)
        ptrs[i] = &targets[i];
    Tierd__CalibrateRequest req = TIERD__CALIBRATE_REQUEST__INIT;
    req.ladder = (char *)ladder;
    req.metric = (char *)(metric ? metric : "");
    req.targets = ptrs;
    req.n_targets = n;
    Tierd__CalibrateResponse *r;
    td_error err;
    if ((rc = td_client_calibrate(t->cli, &req, &r, &err)) != 0) {
        /* Every argument calibrate refuses is the caller's to fix. */
        if (rc == -TD_INVALID_ARGUMENT)
            return calib_usage(usage, err.message);
        return tctl_fail_rc(rc, &err);
    }
    if (fmt == TCTL_FORMAT_JSON) {
        json_t *tiers = json_array();
        for (size_t i = 0; i < r->n_tiers; i++) {
            const Tierd__CalibratedTier *c = r->tiers[i];
            json_array_append_new(
                tiers, json_pack("{s:o, s:f, s:o, s:o, s:b, s:b, s:I, s:I, s:o, s:o}", "tier",
                                 tctl_str(c->tier), "percent", c->percent, "op", tctl_str(c->op),
                                 "threshold", c->kept ? json_null() : tctl_num_json(c->threshold),
                                 "appended", c->appended, "kept", c->kept, "target",
                                 (json_int_t)c->target, "reached", (json_int_t)c->reached, "note",
                                 tctl_str_or_null(c->note), "when", tctl_str(c->when)));
        }
        Tierd__TierCounts *b[] = {r->before}, *a[] = {r->after}, *q[] = {r->qualifying};
        tctl_print_json(json_pack(
            "{s:o, s:o, s:b, s:I, s:o, s:o, s:o, s:o, s:o, s:o}", "ladder", tctl_str(r->ladder),
            "metric", tctl_str(r->metric), "cumulative", r->cumulative, "partners",
            (json_int_t)r->partners, "tiers", tiers, "fragment", tctl_str(r->fragment), "before",
            counts_json(b, r->before ? 1 : 0), "after", counts_json(a, r->after ? 1 : 0),
            "qualifying", counts_json(q, r->qualifying ? 1 : 0), "summary",
            r->sums ? sums_json(r->sums) : json_null()));
    } else {
        char parts[NUM_BUF];
        tctl_num_human((double)r->partners, parts, sizeof parts);
        printf("calibrating ladder %s on %s over %s partners (%s ladder):\n", r->ladder, r->metric,
               parts, r->cumulative ? "cumulative" : "non-cumulative");
        printf("  %-20s %8s %-28s %12s %12s\n", "tier", "share", "threshold", "at or above",
               "target");
        for (size_t i = 0; i < r->n_tiers; i++) {
            const Tierd__CalibratedTier *c = r->tiers[i];
            char th[NUM_BUF], cond[NUM_BUF * 2], reached[NUM_BUF], want[NUM_BUF];
            tctl_num_human(c->threshold, th, sizeof th);
            if (c->kept)
                snprintf(cond, sizeof cond, "(when unchanged)");
            else
                snprintf(cond, sizeof cond, "%s %s %s%s", r->metric, c->op, th,
                         c->appended ? " (added)" : "");
            tctl_num_human((double)c->reached, reached, sizeof reached);
            tctl_num_human((double)c->target, want, sizeof want);
            printf("  %-20s %7.2f%% %-28s %12s %12s\n", c->tier, c->percent, cond, reached, want);
            if (c->note && *c->note)
                printf("      %s\n", c->note);
        }
        printf("\nprogram fragment (ladder %s):\n%s\n", r->ladder, r->fragment);
        if (r->after) {
            printf("simulated now with these thresholds:\n");
            Tierd__TierCounts *b[] = {r->before};
            print_distribution(r->after, b, r->before ? 1 : 0, r->qualifying);
        }
        if (r->sums)
            print_sums(r->sums);
    }
    tierd__calibrate_response__free_unpacked(r, NULL);
    return 0;
}
