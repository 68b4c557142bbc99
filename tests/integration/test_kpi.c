/* KPI history through the real tierd and tierctl (docs/kpi.md): a simulated
 * year with the fake clock, events every day, one restart half way and a
 * last jump of the clock with no events; then `tierctl --json kpi` is
 * checked period by period against numbers computed here, independently,
 * from `tierctl --json changes` (moves, distributions, time to the next
 * tier, churn) and from the events the test sent (activity, retention);
 * the near misses of one snapshot against `tierctl --json audit` at the
 * same instant. Also: one snapshot per boundary, none lost or doubled by a
 * restart, one late snapshot for boundaries passed while tierd was down,
 * --csv, --by, bad arguments, and the report's speed over a year of three
 * ladders. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "td_time.h"

#define CLOCK_START   "2026-01-01T12:00:00Z" /* events at noon UTC, boundaries 23:00 UTC */
#define PARTNERS      20
#define EVENT_DAYS    365
#define RESTART_DAY   150
#define AUDIT_DAY     200 /* the clock stops on that day's boundary for an audit */
#define TAIL_DAYS     35  /* the last jump, no events: EVENT_DAYS + TAIL_DAYS snapshots */
#define DAY           86400
#define HOURS_TO_BDRY 11 /* noon UTC to 23:00 UTC: midnight at +01:00 */
#define N_LADDERS     3
#define MAX_TIERS     4
#define ID_MAX        32
#define PATH_MAX_K    512
#define RANDOM_SEED   20260101u
#define REPORT_MS     500.0 /* a year x 3 ladders must answer well under a second */

static const char *const PROGRAM = "program: kpi\n"
                                   "version: \"1\"\n"
                                   "time_zone: \"+01:00\"\n"
                                   "kpi: { period: 1d, by: [region] }\n"
                                   "metrics:\n"
                                   "  deals: { agg: count, event: deal, window: 30d }\n"
                                   "  certs: { agg: count, event: cert, window: 90d }\n"
                                   "  score: { agg: sum, event: score, window: 60d }\n"
                                   "ladders:\n"
                                   "  resale:\n"
                                   "    partner_types: [all]\n"
                                   "    policy: { grace: 7d }\n"
                                   "    tiers:\n"
                                   "      - { name: silver, when: deals >= 1 }\n"
                                   "      - { name: gold, when: deals >= 3 }\n"
                                   "      - { name: platinum, when: deals >= 6 }\n"
                                   "  services:\n"
                                   "    partner_types: [all]\n"
                                   "    tiers:\n"
                                   "      - { name: bronze, when: certs >= 1 }\n"
                                   "      - { name: silver, when: certs >= 3 }\n"
                                   "  tech:\n"
                                   "    partner_types: [all]\n"
                                   "    tiers:\n"
                                   "      - { name: member, when: score >= 20 }\n"
                                   "      - { name: elite, when: score >= 150 }\n";

static const char *const LADDERS[N_LADDERS] = {"resale", "services", "tech"};
static const char *const TIERS[N_LADDERS][MAX_TIERS] = {
    {"silver", "gold", "platinum"}, {"bronze", "silver"}, {"member", "elite"}};
static const int N_TIERS[N_LADDERS] = {3, 2, 2};

static harness h;
static td_client *cli;
static td_time start_time;
/* The instants events were sent at, per partner (one per day at most). */
static td_time sent[PARTNERS][EVENT_DAYS];
static size_t n_sent[PARTNERS];

/* ---- driving the daemon ---- */

static unsigned rnd_state = RANDOM_SEED;
static unsigned rnd(unsigned n)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return (rnd_state >> 16) % n;
}

static void advance(const char *by)
{
    Tierd__ClockResponse *r;
    td_error err;
    ck_assert_msg(td_client_clock(cli, by, &r, &err) == 0, "%s", err.message);
    tierd__clock_response__free_unpacked(r, NULL);
}

static td_time daemon_now(void)
{
    Tierd__ClockResponse *r;
    td_error err;
    ck_assert_msg(td_client_clock(cli, "", &r, &err) == 0, "%s", err.message);
    td_time now = r->now;
    tierd__clock_response__free_unpacked(r, NULL);
    return now;
}

static void put_partners(void)
{
    Tierd__Partner ps[PARTNERS], *pp[PARTNERS];
    char ids[PARTNERS][ID_MAX];
    char *types[] = {"all"};
    for (int i = 0; i < PARTNERS; i++) {
        tierd__partner__init(&ps[i]);
        snprintf(ids[i], ID_MAX, "p%02d", i);
        ps[i].id = ids[i];
        ps[i].types = types;
        ps[i].n_types = 1;
        pp[i] = &ps[i];
    }
    Tierd__UpsertPartnersRequest req = TIERD__UPSERT_PARTNERS_REQUEST__INIT;
    req.partners = pp;
    req.n_partners = PARTNERS;
    Tierd__UpsertPartnersResponse *r;
    td_error err;
    ck_assert_msg(td_client_upsert_partners(cli, &req, &r, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(r->accepted, PARTNERS);
    tierd__upsert_partners_response__free_unpacked(r, NULL);
}

/* One day's events, at the daemon's now: each partner sells with its own
 * odds (partner i: (i % 5 + 1) in 12), certifies now and then, scores. */
static void send_day(int day, td_time now)
{
    Tierd__Event evs[PARTNERS * 3], *pe[PARTNERS * 3];
    char ids[PARTNERS * 3][ID_MAX], partners[PARTNERS][ID_MAX], at[TD_TIME_STRLEN];
    td_time_format(now, at, sizeof at);
    size_t n = 0;
    for (int i = 0; i < PARTNERS; i++) {
        snprintf(partners[i], ID_MAX, "p%02d", i);
        /* Quiet spells: partners 15.. stop after day 120, so tiers fall. */
        if (i >= 15 && day > 120)
            continue;
        bool any = false;
        const char *metric[3] = {"deal", "cert", "score"};
        bool want[3] = {rnd(12) < (unsigned)(i % 5 + 1), rnd(20) == 0, rnd(3) == 0};
        for (int m = 0; m < 3; m++) {
            if (!want[m])
                continue;
            Tierd__Event *e = &evs[n];
            tierd__event__init(e);
            snprintf(ids[n], ID_MAX, "d%d-p%d-%d", day, i, m);
            e->id = ids[n];
            e->source = "kpi-test";
            e->partner = partners[i];
            e->metric = (char *)metric[m];
            e->value = m == 2 ? (double)(rnd(30) + 1) : 1;
            e->has_value = true;
            e->at = at;
            pe[n] = e;
            n++;
            any = true;
        }
        if (any)
            sent[i][n_sent[i]++] = now;
    }
    if (!n)
        return;
    Tierd__IngestRequest req = TIERD__INGEST_REQUEST__INIT;
    req.events = pe;
    req.n_events = n;
    Tierd__IngestResponse *r;
    td_error err;
    ck_assert_msg(td_client_ingest(cli, &req, &r, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(r->accepted, n);
    tierd__ingest_response__free_unpacked(r, NULL);
}

static json_t *tierctl_json(const char *const *argv)
{
    char *out = harness_tierctl_expect(&h, 0, argv);
    json_error_t jerr;
    json_t *doc = json_loads(out, 0, &jerr);
    ck_assert_msg(doc != NULL, "not JSON (%s): %.200s", jerr.text, out);
    free(out);
    return doc;
}
#define TIERCTL_JSON(...) tierctl_json((const char *const[]){"--json", __VA_ARGS__, NULL})

static td_time jtime(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    ck_assert_msg(json_is_string(v), "%s is not a time", key);
    td_time t;
    td_error err;
    ck_assert_msg(td_time_parse(json_string_value(v), &t, &err) == 0, "%s", err.message);
    return t;
}

static long long jint(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    ck_assert_msg(json_is_integer(v), "%s is not an integer", key);
    return (long long)json_integer_value(v);
}

static json_t *kpi_rows(json_t *doc)
{
    json_t *rows = json_object_get(doc, "rows");
    ck_assert(json_is_array(rows));
    return rows;
}

static void start(const char *clock)
{
    HARNESS_START_OK(&h, "--fake-clock", clock, NULL);
    cli = harness_client(&h, NULL);
}

static void restart_at_now(void)
{
    char now[TD_TIME_STRLEN];
    td_time_format(daemon_now(), now, sizeof now);
    td_client_close(cli);
    ck_assert_int_eq(harness_stop(&h), 0);
    start(now);
}

/* ---- what the change log says, computed here ---- */

typedef struct change {
    char partner[ID_MAX];
    int ladder, from, to; /* tier indexes, -1 unranked */
    td_time at;
    char cause[ID_MAX];
} change;

static change *changes;
static size_t n_changes;

static int tier_index(int l, const json_t *v)
{
    if (!json_is_string(v))
        return -1;
    for (int t = 0; t < N_TIERS[l]; t++)
        if (!strcmp(TIERS[l][t], json_string_value(v)))
            return t;
    ck_abort_msg("unknown tier %s", json_string_value(v));
    return -1;
}

static void read_changes(void)
{
    free(changes);
    changes = NULL;
    n_changes = 0;
    size_t cap = 0;
    long long since = 0;
    for (;;) {
        char s[ID_MAX];
        snprintf(s, sizeof s, "%lld", since);
        json_t *doc = TIERCTL_JSON("changes", "--since", s, "--limit", "1000");
        json_t *a = json_object_get(doc, "changes");
        size_t n = json_array_size(a);
        for (size_t i = 0; i < n; i++) {
            json_t *c = json_array_get(a, i);
            if (n_changes == cap) {
                cap = cap ? cap * 2 : 1024;
                changes = realloc(changes, cap * sizeof *changes);
                ck_assert_ptr_nonnull(changes);
            }
            change *x = &changes[n_changes++];
            int l = -1;
            for (int k = 0; k < N_LADDERS; k++)
                if (!strcmp(LADDERS[k], json_string_value(json_object_get(c, "ladder"))))
                    l = k;
            ck_assert_int_ge(l, 0);
            x->ladder = l;
            snprintf(x->partner, ID_MAX, "%s", json_string_value(json_object_get(c, "partner")));
            x->from = tier_index(l, json_object_get(c, "from"));
            x->to = tier_index(l, json_object_get(c, "to"));
            x->at = jtime(c, "at");
            snprintf(x->cause, ID_MAX, "%s", json_string_value(json_object_get(c, "cause")));
            since = jint(c, "sequence");
        }
        json_decref(doc);
        if (!n)
            break;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int partner_index(const char *id)
{
    return atoi(id + 1);
}

/* How much the checks saw, so they are known to have checked something. */
static struct {
    long long demoted, to_unranked, medians, retained, near_miss, demoted_tail;
} seen;

/* Every number of one report row, from the change log and the events. */
static void check_row(const json_t *row, const json_t *prev_row)
{
    int l = -1;
    for (int k = 0; k < N_LADDERS; k++)
        if (!strcmp(LADDERS[k], json_string_value(json_object_get(row, "ladder"))))
            l = k;
    ck_assert_int_ge(l, 0);
    td_time from = jtime(row, "period_start"), to = jtime(row, "period_end");
    char when[TD_TIME_STRLEN];
    td_time_format(to, when, sizeof when);

    /* Distribution at the boundary: each partner's last move before it. */
    int tier[PARTNERS];
    for (int i = 0; i < PARTNERS; i++)
        tier[i] = -1;
    long long promoted = 0, demoted = 0, to_unranked = 0, moved_up = 0, promo_cause = 0;
    bool up[PARTNERS] = {false};
    double samples[PARTNERS * 64];
    size_t ns = 0;
    for (size_t c = 0; c < n_changes; c++) {
        const change *x = &changes[c];
        if (x->ladder != l || x->at >= to)
            continue;
        int p = partner_index(x->partner);
        tier[p] = x->to;
        if (x->at < from)
            continue;
        if (x->to > x->from) {
            promoted++;
            promo_cause += !strcmp(x->cause, "promotion");
            if (!up[p])
                moved_up++;
            up[p] = true;
            if (x->from >= 0 && x->to == x->from + 1) {
                /* When it took x->from: its move before this one there. */
                for (size_t b = c; b-- > 0;)
                    if (changes[b].ladder == l && !strcmp(changes[b].partner, x->partner)) {
                        if (changes[b].to == x->from)
                            samples[ns++] = (double)(x->at - changes[b].at) / DAY;
                        break;
                    }
            }
        } else if (x->to < x->from) {
            demoted++;
            to_unranked += x->to < 0;
        }
    }
    long long counts[MAX_TIERS + 1] = {0};
    for (int i = 0; i < PARTNERS; i++)
        counts[tier[i] + 1]++;
    const json_t *dist = json_object_get(row, "distribution");
    ck_assert_uint_eq(json_array_size(dist), (size_t)N_TIERS[l] + 1);
    for (int t = 0; t <= N_TIERS[l]; t++)
        ck_assert_msg(jint(json_array_get(dist, (size_t)t), "count") == counts[t],
                      "%s %s: %lld at tier %d, history says %lld", LADDERS[l], when,
                      jint(json_array_get(dist, (size_t)t), "count"), t - 1, counts[t]);
    ck_assert_int_eq(jint(row, "partners"), PARTNERS);
    ck_assert_msg(jint(row, "promoted") == promoted, "%s %s: promoted %lld, history %lld",
                  LADDERS[l], when, jint(row, "promoted"), promoted);
    ck_assert_int_eq(jint(row, "demoted"), demoted);
    ck_assert_int_eq(jint(row, "to_unranked"), to_unranked);
    ck_assert_int_eq(jint(row, "moved_up"), moved_up);
    const json_t *pc = json_object_get(json_object_get(row, "promotions"), "promotion");
    ck_assert_int_eq(pc ? (long long)json_integer_value(pc) : 0, promo_cause);
    ck_assert(fabs(json_real_value(json_object_get(row, "progression_rate")) -
                   (double)moved_up / PARTNERS) < 1e-9);
    double top = (double)counts[N_TIERS[l]] / PARTNERS;
    ck_assert(fabs(json_real_value(json_object_get(row, "top_share")) - top) < 1e-9);
    if (prev_row) {
        double before = json_real_value(json_object_get(prev_row, "top_share"));
        ck_assert(fabs(json_real_value(json_object_get(row, "top_share_change")) - (top - before)) <
                  1e-9);
    }
    ck_assert_int_eq(jint(row, "next_tier_moves"), (long long)ns);
    const json_t *med = json_object_get(row, "median_days_to_next_tier");
    if (ns) {
        qsort(samples, ns, sizeof *samples, cmp_double);
        double m = ns % 2 ? samples[ns / 2] : (samples[ns / 2 - 1] + samples[ns / 2]) / 2;
        ck_assert_msg(fabs(json_real_value(med) - m) < 1e-9, "%s %s: median %g, history %g",
                      LADDERS[l], when, json_real_value(med), m);
    } else {
        ck_assert(json_is_null(med));
    }

    /* Activity from the events sent; retention against the period before. */
    long long active = 0, retained = 0;
    td_time pfrom = prev_row ? jtime(prev_row, "period_start") : 0;
    for (int i = 0; i < PARTNERS; i++) {
        bool now_active = false, before = false;
        for (size_t k = 0; k < n_sent[i]; k++) {
            now_active = now_active || (sent[i][k] >= from && sent[i][k] < to);
            before = before || (prev_row && sent[i][k] >= pfrom && sent[i][k] < from);
        }
        active += now_active;
        retained += now_active && before;
    }
    ck_assert_msg(jint(row, "active") == active, "%s %s: active %lld, events say %lld", LADDERS[l],
                  when, jint(row, "active"), active);
    ck_assert_int_eq(jint(row, "retained"), retained);
    seen.demoted += demoted;
    seen.to_unranked += to_unranked;
    seen.medians += ns > 0;
    seen.retained += retained;
    seen.near_miss += jint(row, "near_miss");
    if (from >= start_time + (td_time)EVENT_DAYS * DAY)
        seen.demoted_tail += demoted;
    if (prev_row && jint(prev_row, "active"))
        ck_assert(fabs(json_real_value(json_object_get(row, "retention")) -
                       (double)retained / (double)jint(prev_row, "active")) < 1e-9);
}

/* ---- the year ---- */

static size_t kpi_count(void)
{
    json_t *doc = TIERCTL_JSON("kpi");
    size_t n = (size_t)jint(doc, "snapshots");
    json_decref(doc);
    return n;
}

START_TEST(test_a_simulated_year_of_kpis_matches_the_history)
{
    harness_init(&h);
    start(CLOCK_START);
    char path[PATH_MAX_K];
    harness_write_file(&h, "kpi.yaml", PROGRAM, path, sizeof path);
    HARNESS_TIERCTL_OK(&h, "program", "load", path);
    put_partners();
    td_error perr;
    ck_assert_int_eq(td_time_parse(CLOCK_START, &start_time, &perr), 0);

    char *before_restart = NULL;
    for (int day = 0; day < EVENT_DAYS; day++) {
        send_day(day, daemon_now());
        if (day == RESTART_DAY) {
            /* Snapshots so far survive a restart whole: none lost, none
             * doubled, the same numbers. */
            size_t n = kpi_count();
            ck_assert_uint_eq(n, (size_t)day);
            before_restart =
                harness_tierctl_expect(&h, 0, (const char *const[]){"--json", "kpi", NULL});
            restart_at_now();
            ck_assert_uint_eq(kpi_count(), n);
            char *after =
                harness_tierctl_expect(&h, 0, (const char *const[]){"--json", "kpi", NULL});
            ck_assert_str_eq(after, before_restart);
            free(after);
        }
        if (day == AUDIT_DAY) {
            /* On the boundary itself: the audit sees what the snapshot saw
             * (nothing is due at 23:00, events and windows turn at noon). */
            advance("11h");
            json_t *audit = TIERCTL_JSON("audit");
            char bdry[TD_TIME_STRLEN];
            td_time_format(daemon_now(), bdry, sizeof bdry);
            json_t *kpi = TIERCTL_JSON("kpi", "--from", bdry);
            json_t *first = json_array_get(kpi_rows(kpi), 0);
            ck_assert_int_eq(jtime(first, "period_end"), daemon_now());
            json_t *ls = json_object_get(audit, "ladders");
            for (size_t l = 0; l < N_LADDERS; l++) {
                json_t *row = json_array_get(kpi_rows(kpi), l);
                json_t *al = json_array_get(ls, l);
                ck_assert_str_eq(json_string_value(json_object_get(al, "ladder")),
                                 json_string_value(json_object_get(row, "ladder")));
                ck_assert_int_eq(jint(row, "near_miss"), jint(al, "near_miss"));
            }
            json_decref(audit);
            json_decref(kpi);
            advance("13h");
        } else {
            advance("1d");
        }
    }
    free(before_restart);
    /* One jump with no events: tiers fall as windows empty, each on its
     * own day, and every boundary of the jump has its snapshot. */
    HARNESS_TIERCTL_OK(&h, "clock", "advance", "35d");
    ck_assert_uint_eq(kpi_count(), EVENT_DAYS + TAIL_DAYS);

    read_changes();
    ck_assert_uint_gt(n_changes, 100);
    json_t *doc = TIERCTL_JSON("kpi");
    json_t *rows = kpi_rows(doc);
    ck_assert_uint_eq(json_array_size(rows), (size_t)(EVENT_DAYS + TAIL_DAYS) * N_LADDERS);
    for (size_t i = 0; i < json_array_size(rows); i++)
        check_row(json_array_get(rows, i),
                  i >= N_LADDERS ? json_array_get(rows, i - N_LADDERS) : NULL);
    ck_assert_int_gt(seen.demoted, 0);
    ck_assert_int_gt(seen.to_unranked, 0);
    ck_assert_int_gt(seen.medians, 0);
    ck_assert_int_gt(seen.retained, 0);
    ck_assert_int_gt(seen.near_miss, 0);
    ck_assert_int_gt(seen.demoted_tail, 0);
    fprintf(stderr,
            "kpi: checked %zu rows: %lld demotions (%lld in the last jump), %lld to unranked, "
            "%lld medians, %lld retained, %lld near misses\n",
            json_array_size(rows), seen.demoted, seen.demoted_tail, seen.to_unranked, seen.medians,
            seen.retained, seen.near_miss);
    /* Boundaries are midnight at +01:00, one a day, none late. */
    for (size_t i = 0; i < json_array_size(rows); i += N_LADDERS) {
        json_t *row = json_array_get(rows, i);
        ck_assert_int_eq(jtime(row, "period_end"),
                         start_time + (td_time)(i / N_LADDERS) * DAY + HOURS_TO_BDRY * 3600);
        ck_assert(!json_is_true(json_object_get(row, "late")));
    }
    json_decref(doc);

    /* A range, one ladder, and the breakdown (no partner has attributes
     * on this branch: everyone is "(none)"), through CSV too. */
    doc = TIERCTL_JSON("kpi", "--from", "2026-03-01", "--to", "2026-03-31", "--ladder", "tech");
    ck_assert_uint_eq(json_array_size(kpi_rows(doc)), 30);
    json_decref(doc);
    doc = TIERCTL_JSON("kpi", "--from", "2026-03-01", "--to", "2026-03-31", "--by", "region");
    ck_assert_uint_eq(json_array_size(kpi_rows(doc)), 30 * N_LADDERS);
    json_t *r0 = json_array_get(kpi_rows(doc), 0);
    ck_assert_str_eq(json_string_value(json_object_get(r0, "value")), "(none)");
    ck_assert_int_eq(jint(r0, "partners"), PARTNERS);
    json_decref(doc);
    char *csv = harness_tierctl_expect(&h, 0, (const char *const[]){"kpi", "--csv", NULL});
    size_t lines = 0;
    for (const char *c = csv; *c; c++)
        lines += *c == '\n';
    ck_assert_uint_eq(lines, 1 + (size_t)(EVENT_DAYS + TAIL_DAYS) * N_LADDERS);
    ck_assert(!strncmp(csv, "period_start,period_end,late,ladder,value,partners,distribution,",
                       strlen("period_start,period_end,late,ladder,value,partners,distribution,")));
    free(csv);
    char *text = harness_tierctl_expect(&h, 0, (const char *const[]){"kpi", NULL});
    ck_assert_ptr_nonnull(strstr(text, "resale: top-tier share"));
    free(text);

    /* The report reads snapshots only: a year of three ladders is quick. */
    Tierd__KpiRequest req = TIERD__KPI_REQUEST__INIT;
    Tierd__KpiResponse *r;
    td_error err;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    ck_assert_msg(td_client_kpi(cli, &req, &r, &err) == 0, "%s", err.message);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
    ck_assert_uint_eq(r->n_rows, (size_t)(EVENT_DAYS + TAIL_DAYS) * N_LADDERS);
    tierd__kpi_response__free_unpacked(r, NULL);
    fprintf(stderr, "kpi: %d snapshots x %d ladders answered in %.1f ms\n", EVENT_DAYS + TAIL_DAYS,
            N_LADDERS, ms);
    ck_assert_msg(ms < REPORT_MS, "%.1f ms", ms);

    /* Bad arguments say what is wrong. */
    char *err_out = NULL;
    ck_assert_int_eq(HARNESS_TIERCTL(&h, NULL, &err_out, "kpi", "--by", "segment"), 1);
    ck_assert_ptr_nonnull(strstr(err_out, "'segment' is not in the program's kpi.by"));
    free(err_out);
    ck_assert_int_eq(HARNESS_TIERCTL(&h, NULL, &err_out, "kpi", "--ladder", "nope"), 1);
    ck_assert_ptr_nonnull(strstr(err_out, "unknown ladder 'nope'"));
    free(err_out);
    ck_assert_int_eq(HARNESS_TIERCTL(&h, NULL, &err_out, "kpi", "--from", "yesterday"), 2);
    free(err_out);
    ck_assert_int_eq(
        HARNESS_TIERCTL(&h, NULL, &err_out, "kpi", "--from", "2026-05-01", "--to", "2026-04-01"),
        1);
    free(err_out);

    free(changes);
    changes = NULL;
    td_client_close(cli);
    harness_finish(&h);
}
END_TEST

/* Boundaries passed while tierd was down get one snapshot, marked late,
 * for the last of them; a restart after that adds none. */
START_TEST(test_boundaries_missed_while_down_get_one_late_snapshot)
{
    harness_init(&h);
    start("2025-01-01T12:00:00Z");
    char path[PATH_MAX_K];
    harness_write_file(&h, "kpi.yaml", PROGRAM, path, sizeof path);
    HARNESS_TIERCTL_OK(&h, "program", "load", path);
    put_partners();
    advance("3d");
    ck_assert_uint_eq(kpi_count(), 3);
    td_client_close(cli);
    ck_assert_int_eq(harness_stop(&h), 0);

    /* The real clock: years of boundaries have passed since. */
    HARNESS_START_OK(&h, NULL);
    cli = harness_client(&h, NULL);
    tu_deadline dl = tu_deadline_in(HARNESS_WAIT_MS);
    while (kpi_count() < 4 && tu_poll(&dl))
        ;
    ck_assert_uint_eq(kpi_count(), 4);
    json_t *doc = TIERCTL_JSON("kpi");
    json_t *rows = kpi_rows(doc);
    json_t *late = json_array_get(rows, 3 * N_LADDERS);
    ck_assert(json_is_true(json_object_get(late, "late")));
    ck_assert(!json_is_true(json_object_get(json_array_get(rows, 0), "late")));
    /* It closes the period from the last snapshot before the stop. */
    ck_assert_int_eq(jtime(late, "period_start"),
                     jtime(json_array_get(rows, 2 * N_LADDERS), "period_end"));
    td_time boundary = jtime(late, "period_end");
    ck_assert_int_le(boundary, (td_time)time(NULL));
    ck_assert_int_gt(boundary, (td_time)time(NULL) - DAY);
    json_decref(doc);
    td_client_close(cli);
    ck_assert_int_eq(harness_stop(&h), 0);

    HARNESS_START_OK(&h, NULL);
    cli = harness_client(&h, NULL);
    /* Only a boundary passing during the test itself could add one. */
    size_t n = kpi_count();
    ck_assert_msg(n == 4 || (n == 5 && (td_time)time(NULL) - DAY < boundary + DAY), "%zu", n);
    td_client_close(cli);
    harness_finish(&h);
}
END_TEST

/* Snapshots cost a pass over every partner: a program without `kpi:`
 * takes none, and the same program with the key takes one a day. */
START_TEST(test_a_program_without_kpi_takes_no_snapshots)
{
    harness_init(&h);
    start("2025-01-01T12:00:00Z");
    char path[PATH_MAX_K];
    const char *kpi_line = "kpi: { period: 1d, by: [region] }\n";
    const char *at = strstr(PROGRAM, kpi_line);
    ck_assert_ptr_nonnull(at);
    char without[4096];
    snprintf(without, sizeof without, "%.*s%s", (int)(at - PROGRAM), PROGRAM,
             at + strlen(kpi_line));
    harness_write_file(&h, "plain.yaml", without, path, sizeof path);
    HARNESS_TIERCTL_OK(&h, "program", "load", path);
    put_partners();
    advance("3d");
    ck_assert_uint_eq(kpi_count(), 0);
    char with[4096];
    snprintf(with, sizeof with, "%s", PROGRAM);
    char *version = strstr(with, "version: \"1\"");
    ck_assert_ptr_nonnull(version);
    version[strlen("version: \"")] = '2';
    harness_write_file(&h, "kpi.yaml", with, path, sizeof path);
    HARNESS_TIERCTL_OK(&h, "program", "load", path);
    advance("3d");
    ck_assert_uint_eq(kpi_count(), 3);
    td_client_close(cli);
    harness_finish(&h);
}
END_TEST

/* A replayed import (tierctl event import --replay) walks time from its
 * first event: the boundaries it passes get their snapshots, dated then,
 * each counting what the partners held at that instant. */
START_TEST(test_a_replayed_import_takes_the_snapshots_of_the_periods_it_replays)
{
    harness_init(&h);
    start("2025-02-01T12:00:00Z");
    char path[PATH_MAX_K];
    harness_write_file(&h, "kpi.yaml", PROGRAM, path, sizeof path);
    HARNESS_TIERCTL_OK(&h, "program", "load", path);
    put_partners();
    /* A deal a day for p00 from 2025-01-01 to 2025-01-10 (noon UTC). */
    char events[4096];
    size_t used = 0;
    for (int day = 0; day < 10; day++)
        used += (size_t)snprintf(events + used, sizeof events - used,
                                 "{\"id\":\"r%d\",\"source\":\"crm\",\"partner\":\"p00\","
                                 "\"metric\":\"deal\",\"at\":\"2025-01-%02dT12:00:00Z\"}\n",
                                 day, day + 1);
    harness_write_file(&h, "events.ndjson", events, path, sizeof path);
    HARNESS_TIERCTL_OK(&h, "event", "import", path, "--replay");
    /* Midnights at +01:00 from 2025-01-01 23:00 UTC to 2025-01-31 23:00
     * UTC: 31 boundaries before now. */
    ck_assert_uint_eq(kpi_count(), 31);
    json_t *doc = TIERCTL_JSON("kpi", "--ladder", "resale");
    json_t *rows = kpi_rows(doc);
    ck_assert_uint_eq(json_array_size(rows), 31);
    /* The third boundary (midnight at +01:00 on 4 January): p00 has had
     * three deals in 30 days, so it holds gold there. */
    json_t *third = json_array_get(rows, 2);
    ck_assert_int_eq(jtime(third, "period_end"), (td_time)1735945200); /* 2025-01-03T23:00Z */
    ck_assert(!json_is_true(json_object_get(third, "late")));
    /* distribution: unranked, silver, gold, platinum */
    const json_t *dist = json_object_get(third, "distribution");
    ck_assert_int_eq(jint(json_array_get(dist, 2), "count"), 1);
    ck_assert_int_eq(jint(json_array_get(dist, 0), "count"), PARTNERS - 1);
    /* The first boundary: one deal, silver. */
    dist = json_object_get(json_array_get(rows, 0), "distribution");
    ck_assert_int_eq(jint(json_array_get(dist, 1), "count"), 1);
    char *text =
        harness_tierctl_expect(&h, 0, (const char *const[]){"kpi", "--ladder", "resale", NULL});
    ck_assert_msg(strstr(text, "gold") != NULL, "%s", text);
    free(text);
    json_decref(doc);
    td_client_close(cli);
    harness_finish(&h);
}
END_TEST

static Suite *kpi_suite(void)
{
    Suite *s = suite_create("kpi");
    TCase *tc = tcase_create("kpi");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_a_simulated_year_of_kpis_matches_the_history);
    tcase_add_test(tc, test_boundaries_missed_while_down_get_one_late_snapshot);
    tcase_add_test(tc, test_a_program_without_kpi_takes_no_snapshots);
    tcase_add_test(tc, test_a_replayed_import_takes_the_snapshots_of_the_periods_it_replays);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(kpi_suite());
}
