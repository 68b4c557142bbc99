/* tierctl kpi: the Kpi report (docs/kpi.md) for a person, as JSON, or as
 * CSV, one row per period, ladder (and attribute value with --by). The
 * daemon computes every number; this file only lays them out. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "td_time.h"
#include "tierctl.h"

#define PERCENT      100.0
#define KPI_TEXT_MAX 1024 /* a distribution or a cause list on one line */
#define KPI_NUM      32

static int parse_time_opt(const char *name, const char *s, int64_t *out, const char *usage)
{
    *out = 0;
    if (!s)
        return 0;
    td_error err = {0};
    td_time t;
    if (td_time_parse(s, &t, &err) != 0) {
        fprintf(stderr, "tierctl: --%s: %s\nusage: tierctl %s\n", name, err.message, usage);
        return -1;
    }
    *out = t;
    return 0;
}

/* "unranked=5;silver=3;gold=2" (sep ";") or "5/3/2" (sep NULL). */
static void distribution_text(const Tierd__KpiRow *r, const char *sep, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = 0;
    for (size_t i = 0; i < r->n_distribution && used < n; i++) {
        const Tierd__TierCount *tc = r->distribution[i];
        if (sep)
            used += (size_t)snprintf(buf + used, n - used, "%s%s=%llu", i ? sep : "", tc->tier,
                                     (unsigned long long)tc->count);
        else
            used += (size_t)snprintf(buf + used, n - used, "%s%llu", i ? "/" : "",
                                     (unsigned long long)tc->count);
    }
}

static void causes_text(Tierd__KpiCauseCount **cs, size_t nc, const char *sep, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = 0;
    for (size_t i = 0; i < nc && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s%s=%llu", i ? sep : "",
                                 tctl_cause_name(cs[i]->cause), (unsigned long long)cs[i]->count);
}

static json_t *causes_json(Tierd__KpiCauseCount **cs, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++)
        json_object_set_new(o, tctl_cause_name(cs[i]->cause),
                            json_integer((json_int_t)cs[i]->count));
    return o;
}

static json_t *row_json(const Tierd__KpiRow *r, bool by)
{
    json_t *dist = json_array();
    for (size_t i = 0; i < r->n_distribution; i++)
        json_array_append_new(dist, json_pack("{s:s, s:I}", "tier", r->distribution[i]->tier,
                                              "count", (json_int_t)r->distribution[i]->count));
    json_t *o = json_pack(
        "{s:o, s:o, s:b, s:s, s:I, s:o, s:o, s:o, s:I, s:I, s:I, s:f, s:f, s:o, s:I, s:o, s:I, "
        "s:I, s:I, s:o, s:I}",
        "period_start", tctl_time_json(r->period_start), "period_end",
        tctl_time_json(r->period_end), "late", r->late, "ladder", r->ladder, "partners",
        (json_int_t)r->partners, "distribution", dist, "promotions",
        causes_json(r->promotions, r->n_promotions), "demotions",
        causes_json(r->demotions, r->n_demotions), "promoted", (json_int_t)r->promoted, "demoted",
        (json_int_t)r->demoted, "moved_up", (json_int_t)r->moved_up, "progression_rate",
        r->progression_rate, "top_share", r->top_share, "top_share_change",
        r->has_top_share_change ? json_real(r->top_share_change) : json_null(), "near_miss",
        (json_int_t)r->near_miss, "median_days_to_next_tier",
        r->next_tier_moves ? json_real(r->median_days_to_next_tier) : json_null(),
        "next_tier_moves", (json_int_t)r->next_tier_moves, "active", (json_int_t)r->active,
        "retained", (json_int_t)r->retained, "retention",
        r->has_retention ? json_real(r->retention) : json_null(), "to_unranked",
        (json_int_t)r->to_unranked);
    if (by)
        json_object_set_new(o, "value", json_string(r->value));
    return o;
}

static void fmt_double(double v, char *buf, size_t n)
{
    snprintf(buf, n, "%.6g", v);
}

static void row_csv(const Tierd__KpiRow *r)
{
    char start[TD_TIME_STRLEN], end[TD_TIME_STRLEN], dist[KPI_TEXT_MAX], prom[KPI_TEXT_MAX],
        dem[KPI_TEXT_MAX];
    char num[14][KPI_NUM];
    tctl_time_rfc3339(r->period_start, start, sizeof start);
    tctl_time_rfc3339(r->period_end, end, sizeof end);
    distribution_text(r, ";", dist, sizeof dist);
    causes_text(r->promotions, r->n_promotions, ";", prom, sizeof prom);
    causes_text(r->demotions, r->n_demotions, ";", dem, sizeof dem);
    snprintf(num[0], KPI_NUM, "%llu", (unsigned long long)r->partners);
    snprintf(num[1], KPI_NUM, "%llu", (unsigned long long)r->promoted);
    snprintf(num[2], KPI_NUM, "%llu", (unsigned long long)r->demoted);
    snprintf(num[3], KPI_NUM, "%llu", (unsigned long long)r->moved_up);
    fmt_double(r->progression_rate, num[4], KPI_NUM);
    fmt_double(r->top_share, num[5], KPI_NUM);
    num[6][0] = 0;
    if (r->has_top_share_change)
        fmt_double(r->top_share_change, num[6], KPI_NUM);
    snprintf(num[7], KPI_NUM, "%llu", (unsigned long long)r->near_miss);
    num[8][0] = 0;
    if (r->next_tier_moves)
        fmt_double(r->median_days_to_next_tier, num[8], KPI_NUM);
    snprintf(num[9], KPI_NUM, "%llu", (unsigned long long)r->next_tier_moves);
    snprintf(num[10], KPI_NUM, "%llu", (unsigned long long)r->active);
    snprintf(num[11], KPI_NUM, "%llu", (unsigned long long)r->retained);
    num[12][0] = 0;
    if (r->has_retention)
        fmt_double(r->retention, num[12], KPI_NUM);
    snprintf(num[13], KPI_NUM, "%llu", (unsigned long long)r->to_unranked);
    const char *f[] = {start,     end,      r->late ? "true" : "false",
                       r->ladder, r->value, num[0],
                       dist,      num[1],   num[2],
                       prom,      dem,      num[3],
                       num[4],    num[5],   num[6],
                       num[7],    num[8],   num[9],
                       num[10],   num[11],  num[12],
                       num[13]};
    tctl_csv_row(f, sizeof f / sizeof *f);
}

static void percent_text(double share, char *buf, size_t n)
{
    snprintf(buf, n, "%.1f%%", share * PERCENT);
}

static void print_text(const Tierd__KpiResponse *r)
{
    char from[TD_TIME_STRLEN], to[TD_TIME_STRLEN];
    tctl_time_human(r->from, from, sizeof from);
    tctl_time_human(r->to, to, sizeof to);
    printf("KPI history: period %s, time zone %s, %s to %s, %llu snapshot%s%s%s\n", r->period,
           r->time_zone, r->from ? from : "the first", to, (unsigned long long)r->snapshots,
           r->snapshots == 1 ? "" : "s", *r->by ? ", by " : "", r->by);
    if (!r->n_rows) {
        printf("no snapshots in that range (one is taken at every period boundary)\n");
        return;
    }
    const char *ladder = NULL;
    for (size_t i = 0; i < r->n_rows; i++) {
        const Tierd__KpiRow *row = r->rows[i];
        if (!ladder || strcmp(ladder, row->ladder) != 0) {
            ladder = row->ladder;
            char tiers[KPI_TEXT_MAX] = "";
            size_t used = 0;
            for (size_t t = 0; t < row->n_distribution && used < sizeof tiers; t++)
                used += (size_t)snprintf(tiers + used, sizeof tiers - used, "%s%s", t ? "/" : "",
                                         row->distribution[t]->tier);
            printf("\nladder %s%s\n", ladder, i ? " (continued)" : "");
            printf("  %-20s %-12s %8s  %-20s %5s %5s %9s %7s %8s %5s %10s %9s %6s\n", "period end",
                   *r->by ? r->by : "", "partners", tiers, "up", "down", "progress", "top",
                   "top chg", "near", "days next", "retention", "churn");
        }
        char end[TD_TIME_STRLEN], dist[KPI_TEXT_MAX], prog[KPI_NUM], top[KPI_NUM], chg[KPI_NUM],
            med[KPI_NUM], ret[KPI_NUM];
        tctl_time_human(row->period_end, end, sizeof end);
        distribution_text(row, NULL, dist, sizeof dist);
        percent_text(row->progression_rate, prog, sizeof prog);
        percent_text(row->top_share, top, sizeof top);
        if (row->has_top_share_change)
            snprintf(chg, sizeof chg, "%+.1fpt", row->top_share_change * PERCENT);
        else
            snprintf(chg, sizeof chg, "-");
        if (row->next_tier_moves)
            snprintf(med, sizeof med, "%.1f", row->median_days_to_next_tier);
        else
            snprintf(med, sizeof med, "-");
        if (row->has_retention)
            percent_text(row->retention, ret, sizeof ret);
        else
            snprintf(ret, sizeof ret, "-");
        printf("  %-20s %-12s %8llu  %-20s %5llu %5llu %9s %7s %8s %5llu %10s %9s %6llu%s\n", end,
               row->value, (unsigned long long)row->partners, dist,
               (unsigned long long)row->promoted, (unsigned long long)row->demoted, prog, top, chg,
               (unsigned long long)row->near_miss, med, ret, (unsigned long long)row->to_unranked,
               row->late ? "  (late)" : "");
    }
    /* Tier inflation at a glance: the top share at the first and last
     * period of each ladder (whole ladder rows only). */
    if (*r->by)
        return;
    printf("\n");
    for (size_t i = 0; i < r->n_rows; i++) {
        const Tierd__KpiRow *first = r->rows[i];
        bool seen = false;
        for (size_t j = 0; j < i; j++)
            seen = seen || !strcmp(r->rows[j]->ladder, first->ladder);
        if (seen)
            continue;
        const Tierd__KpiRow *last = first;
        for (size_t j = i + 1; j < r->n_rows; j++)
            if (!strcmp(r->rows[j]->ladder, first->ladder))
                last = r->rows[j];
        char a[KPI_NUM], b[KPI_NUM];
        percent_text(first->top_share, a, sizeof a);
        percent_text(last->top_share, b, sizeof b);
        printf("%s: top-tier share %s -> %s (%+.1f points)\n", first->ladder, a, b,
               (last->top_share - first->top_share) * PERCENT);
    }
}

int tctl_kpi(tctl *t, const char *from, const char *to, const char *ladder, const char *by,
             tctl_format fmt, const char *usage)
{
    Tierd__KpiRequest req = TIERD__KPI_REQUEST__INIT;
    if (parse_time_opt("from", from, &req.from, usage) != 0 ||
        parse_time_opt("to", to, &req.to, usage) != 0)
        return TCTL_EXIT_USAGE;
    req.ladder = (char *)(ladder ? ladder : "");
    req.by = (char *)(by ? by : "");
    Tierd__KpiResponse *r;
    td_error err;
    int rc = td_client_kpi(t->cli, &req, &r, &err);
    if (rc)
        return tctl_fail_rc(rc, &err);
    bool has_by = *r->by != 0;
    if (fmt == TCTL_FORMAT_JSON) {
        json_t *rows = json_array();
        for (size_t i = 0; i < r->n_rows; i++)
            json_array_append_new(rows, row_json(r->rows[i], has_by));
        tctl_print_json(json_pack("{s:s, s:s, s:o, s:o, s:o, s:I, s:o}", "period", r->period,
                                  "time_zone", r->time_zone, "by", tctl_str_or_null(r->by), "from",
                                  tctl_time_json(r->from), "to", tctl_time_json(r->to), "snapshots",
                                  (json_int_t)r->snapshots, "rows", rows));
    } else if (fmt == TCTL_FORMAT_CSV) {
        const char *head[] = {"period_start",
                              "period_end",
                              "late",
                              "ladder",
                              "value",
                              "partners",
                              "distribution",
                              "promoted",
                              "demoted",
                              "promotions",
                              "demotions",
                              "moved_up",
                              "progression_rate",
                              "top_share",
                              "top_share_change",
                              "near_miss",
                              "median_days_to_next_tier",
                              "next_tier_moves",
                              "active",
                              "retained",
                              "retention",
                              "to_unranked"};
        tctl_csv_row(head, sizeof head / sizeof *head);
        for (size_t i = 0; i < r->n_rows; i++)
            row_csv(r->rows[i]);
    } else {
        print_text(r);
    }
    tierd__kpi_response__free_unpacked(r, NULL);
    return TCTL_EXIT_OK;
}
