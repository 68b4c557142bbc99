/* The engine's windowed metrics against a brute-force oracle.
 *
 * Random programs (every aggregate over rolling, quarter, year and lifetime
 * windows) are fed random event streams: one partner holds most events
 * (heavy tail), events arrive late and out of order, several share one
 * second, many sit exactly on window edges, and keys repeat. At many
 * instants every metric of every partner is compared with a recomputation
 * from the raw events; partners are encoded and restored (a restart) at
 * random moments in between. Values are whole numbers, so sums are exact
 * whatever order they are added in, and any difference fails.
 *
 * The same runs with corrections (engine_correct): now and then an event
 * accepted before is retracted or amended (a new value, time and key),
 * and the oracle drops it (the new version counting as accepted last).
 *
 * Events are dated at or before the engine's "now" here: the engine keeps
 * a distinct key's latest time only, so a key seen again inside the allowed
 * clock skew ahead of now is counted from that later time. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_state.h"
#include "testutil.h"

#define ORACLE_TRIALS        40
#define ORACLE_EVENTS        2500
#define ORACLE_CORRECT_PCT   15 /* share of steps that correct an earlier event */
#define ORACLE_PARTNERS      5
#define ORACLE_EVENT_NAMES   3
#define ORACLE_KEYS          40
#define ORACLE_MAX_METRICS   10
#define ORACLE_CHECK_EVERY   50
#define ORACLE_RESTART_EVERY 400
#define ORACLE_YAML_MAX      4096
#define DAY                  86400

static const td_time T0 = 1767225600; /* 2026-01-01 */

typedef struct raw_event {
    int partner, name;
    td_time at;
    double value;
    int key;
    unsigned seq; /* arrival order */
    int id;       /* the event's id: x<id> (an amendment keeps its event's) */
    bool gone;    /* retracted, or replaced by an amendment */
} raw_event;

typedef struct oracle {
    uint64_t rng;
    program *prog;
    size_t n_metrics;
    raw_event ev[ORACLE_EVENTS];
    size_t n;
} oracle;

static uint64_t rnd(oracle *o)
{
    /* splitmix64: a fixed seed per trial makes every failure reproducible */
    uint64_t z = (o->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int pick(oracle *o, int n)
{
    return (int)(rnd(o) % (uint64_t)n);
}

static const char *const AGGS[] = {"sum", "count", "avg", "min", "max", "latest", "distinct"};
static const char *const WINDOWS[] = {"lifetime", "1d",   "7d",      "30d",
                                      "90d",      "365d", "quarter", "year"};

static program *random_program(oracle *o)
{
    char yaml[ORACLE_YAML_MAX];
    size_t len = (size_t)snprintf(yaml, sizeof yaml, "program: oracle\nversion: \"1\"\nmetrics:\n");
    o->n_metrics = 3 + (size_t)pick(o, ORACLE_MAX_METRICS - 3);
    for (size_t m = 0; m < o->n_metrics; m++)
        len += (size_t)snprintf(yaml + len, sizeof yaml - len,
                                "  m%zu: { agg: %s, event: e%d, window: %s }\n", m,
                                AGGS[pick(o, 7)], pick(o, ORACLE_EVENT_NAMES), WINDOWS[pick(o, 8)]);
    snprintf(yaml + len, sizeof yaml - len,
             "ladders:\n  l:\n    partner_types: [t]\n    tiers:\n"
             "      - { name: A, when: m0 >= 1 }\n      - { name: B, when: m1 >= 2 }\n");
    program *p = NULL;
    td_diags diags = {0};
    td_error err = {0};
    int rc = program_parse(yaml, strlen(yaml), "oracle.yaml", &p, &diags, &err);
    ck_assert_msg(rc == 0, "%s %s\n%s", err.message, diags.n ? diags.items[0] : "", yaml);
    td_diags_free(&diags);
    return p;
}

/* The exact value of metric m for partner at t, from the raw events. */
static double brute(const oracle *o, size_t m, int partner, td_time t)
{
    const metric_def *d = &o->prog->metrics[m];
    int name = atoi(d->event + 1);
    td_time lo = 0;
    bool windowed = metric_window_lo(&d->window, t, &lo);
    double sum = 0, mn = INFINITY, mx = -INFINITY, latest = NAN;
    td_time latest_at = TD_TIME_MIN;
    unsigned latest_seq = 0;
    uint64_t count = 0;
    bool key_seen[ORACLE_KEYS] = {false};
    for (size_t i = 0; i < o->n; i++) {
        const raw_event *e = &o->ev[i];
        if (e->gone || e->partner != partner || e->name != name)
            continue;
        if (windowed && (e->at <= lo || e->at > t))
            continue;
        count++;
        sum += e->value;
        mn = fmin(mn, e->value);
        mx = fmax(mx, e->value);
        key_seen[e->key] = true;
        if (e->at > latest_at || (e->at == latest_at && e->seq > latest_seq)) {
            latest = e->value;
            latest_at = e->at;
            latest_seq = e->seq;
        }
    }
    switch (d->agg) {
    case AGG_SUM:
        return sum;
    case AGG_COUNT:
        return (double)count;
    case AGG_AVG:
        return count ? sum / (double)count : NAN;
    case AGG_MIN:
        return count ? mn : NAN;
    case AGG_MAX:
        return count ? mx : NAN;
    case AGG_LATEST:
        return count ? latest : NAN;
    case AGG_DISTINCT: {
        double n = 0;
        for (int k = 0; k < ORACLE_KEYS; k++)
            n += key_seen[k];
        return n;
    }
    case AGG_SCORE:
        break;
    }
    return NAN;
}

static void check_all(engine *e, const oracle *o, td_time t, int trial, size_t after)
{
    for (int pt = 0; pt < ORACLE_PARTNERS; pt++) {
        char id[16];
        snprintf(id, sizeof id, "p%d", pt);
        const td_partner *p = engine_partner_find(e, id);
        ck_assert_ptr_nonnull(p);
        double values[TD_MAX_METRICS];
        for (size_t i = 0; i < TD_MAX_METRICS; i++)
            values[i] = NAN;
        eng_prog_values(&e->cp, p, UINT64_MAX, t, values);
        for (size_t m = 0; m < o->n_metrics; m++) {
            double want = brute(o, m, pt, t);
            bool same = (isnan(want) && isnan(values[m])) || want == values[m];
            ck_assert_msg(same,
                          "trial %d after %zu events: %s (%s of %s) for %s at %lld: engine "
                          "%.17g, exact %.17g",
                          trial, after, o->prog->metrics[m].name, AGGS[o->prog->metrics[m].agg],
                          o->prog->metrics[m].event, id, (long long)t, values[m], want);
        }
    }
}

/* A late event: mostly recent, some far back, many exactly on an edge. */
static td_time event_time(oracle *o, td_time now)
{
    switch (pick(o, 6)) {
    case 0:
        return now;
    case 1: /* on a rolling edge, or one second inside it */
        return now - (td_time)(1 + pick(o, 365)) * DAY + pick(o, 2);
    case 2: /* a quarter or year start */
        return pick(o, 2) ? td_quarter_start(now) : td_year_start(now);
    case 3:
        return now - pick(o, 400) * DAY - pick(o, DAY);
    default:
        return now - pick(o, 3 * DAY);
    }
}

static void restart(engine *e)
{
    for (int pt = 0; pt < ORACLE_PARTNERS; pt++) {
        char id[16];
        snprintf(id, sizeof id, "p%d", pt);
        uint8_t *blob = NULL;
        size_t len = 0;
        ck_assert_int_eq(engine_partner_encode(e, engine_partner_find(e, id), &blob, &len), 0);
        td_error err = {0};
        ck_assert_msg(engine_partner_restore(e, blob, len, &err) == 0, "%s", err.message);
        free(blob);
    }
}

/* engine_correct's history: the oracle's counted events of one partner
 * and name, in arrival order. */
typedef struct oracle_hist {
    const oracle *o;
    int partner, name;
    char (*names)[8], (*keys)[8];
} oracle_hist;

static int oracle_history(void *hud, td_event_each_fn each, void *ud, td_error *err)
{
    (void)err;
    const oracle_hist *h = hud;
    const oracle *o = h->o;
    /* o->ev is in arrival order: an amendment is appended when made. */
    for (size_t i = 0; i < o->n; i++) {
        const raw_event *r = &o->ev[i];
        if (r->gone || r->partner != h->partner || r->name != h->name)
            continue;
        char pid[16], evid[16];
        snprintf(pid, sizeof pid, "p%d", r->partner);
        snprintf(evid, sizeof evid, "x%d", r->id);
        td_event ev = {"oracle", evid, pid, h->names[r->name], r->value, r->at, h->keys[r->key]};
        int rc = each(ud, &ev);
        if (rc)
            return rc;
    }
    return 0;
}

/* Retracts or amends a random counted event. */
static void correct_one(engine *e, oracle *o, td_time now, char (*names)[8], char (*keys)[8])
{
    size_t i = (size_t)pick(o, (int)o->n);
    while (o->ev[i].gone)
        i = (i + 1) % o->n;
    raw_event *old = &o->ev[i];
    char pid[16], evid[16];
    snprintf(pid, sizeof pid, "p%d", old->partner);
    snprintf(evid, sizeof evid, "x%d", old->id);
    td_event was = {"oracle", evid, pid, names[old->name], old->value, old->at, keys[old->key]};
    bool amend = pick(o, 2) && o->n < ORACLE_EVENTS;
    raw_event *r = NULL;
    td_event now_ev;
    if (amend) {
        r = &o->ev[o->n];
        *r = *old;
        r->at = event_time(o, now);
        r->value = (double)(pick(o, 1051) - 50);
        r->key = pick(o, ORACLE_KEYS);
        r->seq = o->ev[o->n - 1].seq + 1;
        now_ev = (td_event){"oracle", evid, pid, names[r->name], r->value, r->at, keys[r->key]};
    }
    old->gone = true;
    if (amend)
        o->n++;
    oracle_hist h = {o, old->partner, old->name, names, keys};
    td_error err = {0};
    ck_assert_msg(engine_correct(e, &was, amend ? &now_ev : NULL, amend ? 1 + o->n : 0,
                                 oracle_history, &h, now, NULL, NULL, &err) == 0,
                  "%s", err.message);
}

static void run_trial(int trial, bool corrections)
{
    int _i = trial;
    oracle *o = calloc(1, sizeof *o);
    ck_assert_ptr_nonnull(o);
    o->rng = 0xC0FFEEull + (uint64_t)_i;
    o->prog = random_program(o);
    engine *e = engine_new();
    td_error err = {0};
    /* The engine owns the program; the oracle reads the same definitions. */
    td_time now = T0 + pick(o, 200) * DAY;
    ck_assert_int_eq(engine_program_apply(e, o->prog, now, NULL, NULL), 0);
    for (int pt = 0; pt < ORACLE_PARTNERS; pt++) {
        char id[16];
        snprintf(id, sizeof id, "p%d", pt);
        const char *types[] = {"t"};
        ck_assert_int_eq(engine_partner_upsert(e, id, NULL, types, 1, now, NULL, NULL, &err), 0);
    }
    char names[ORACLE_EVENT_NAMES][8], keys[ORACLE_KEYS][8];
    for (int i = 0; i < ORACLE_EVENT_NAMES; i++)
        snprintf(names[i], sizeof names[i], "e%d", i);
    for (int i = 0; i < ORACLE_KEYS; i++)
        snprintf(keys[i], sizeof keys[i], "k%d", i);
    for (size_t i = 0; i < ORACLE_EVENTS; i++) {
        if (pick(o, 10) == 0)
            now += pick(o, 4 * DAY);
        raw_event *r = &o->ev[o->n];
        /* Heavy tail: p0 takes about 70%, p1 most of the rest. */
        int u = pick(o, 100);
        r->partner = u < 70 ? 0 : u < 90 ? 1 : 2 + pick(o, ORACLE_PARTNERS - 2);
        /* Only events some metric reads: others are refused as unknown. */
        const metric_def *fed = &o->prog->metrics[pick(o, (int)o->n_metrics)];
        r->name = atoi(fed->event + 1);
        r->at = event_time(o, now);
        r->value = (double)(pick(o, 1051) - 50);
        r->key = pick(o, ORACLE_KEYS);
        r->seq = o->n ? o->ev[o->n - 1].seq + 1 : 1;
        r->id = (int)i;
        r->gone = false;
        char id[16], evid[16];
        snprintf(id, sizeof id, "p%d", r->partner);
        snprintf(evid, sizeof evid, "x%zu", i);
        td_event ev = {"oracle", evid, id, names[r->name], r->value, r->at, keys[r->key]};
        ck_assert_msg(engine_ingest(e, &ev, now, NULL, NULL, &err) == 0, "%s", err.message);
        o->n++;
        if (corrections && o->n < ORACLE_EVENTS && pick(o, 100) < ORACLE_CORRECT_PCT)
            correct_one(e, o, now, names, keys);
        if (o->n >= ORACLE_EVENTS)
            break;
        if (i % ORACLE_RESTART_EVERY == ORACLE_RESTART_EVERY - 1)
            restart(e);
        if (pick(o, 200) == 0)
            engine_evaluate(e, NULL, now, NULL, NULL); /* prunes at now */
        if (i % ORACLE_CHECK_EVERY == 0) {
            check_all(e, o, now, _i, o->n);
            /* Ahead of now, time alone moves windows: on edges and between. */
            check_all(e, o, now + pick(o, 400) * DAY, _i, o->n);
            td_time edge = r->at + 365 * DAY + pick(o, 2);
            check_all(e, o, edge > now ? edge : now, _i, o->n);
            check_all(e, o, td_next_quarter_start(now) - pick(o, 2), _i, o->n);
        }
    }
    check_all(e, o, now, _i, o->n);
    engine_free(e); /* frees o->prog too */
    free(o);
}

START_TEST(test_windowed_metrics_equal_a_brute_force_recomputation)
{
    run_trial(_i, false);
}
END_TEST

START_TEST(test_metrics_after_random_retractions_and_amendments_equal_a_brute_force_recomputation)
{
    run_trial(_i, true);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("oracle");
    TCase *tc = tcase_create("windows");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_windowed_metrics_equal_a_brute_force_recomputation, 0,
                        ORACLE_TRIALS);
    suite_add_tcase(s, tc);
    TCase *tcc = tcase_create("corrections");
    tcase_set_timeout(tcc, 120);
    tcase_add_loop_test(
        tcc, test_metrics_after_random_retractions_and_amendments_equal_a_brute_force_recomputation,
        0, ORACLE_TRIALS);
    suite_add_tcase(s, tcc);
    return tu_run_suite(s);
}
