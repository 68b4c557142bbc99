/* Fuzzes the program YAML parser (daemon/engine/program.c) and what the
 * engine does with whatever it accepts.
 *
 * The input is the program text. A refusal must name at least one problem
 * as "file:line:column: message" and leave nothing behind. An accepted
 * program must respect the named limits, and then it goes to work: it is
 * put in force on a fresh engine, a partner sitting on every ladder gets one
 * event per event metric, and the partner is evaluated a year later,
 * explained on every ladder, encoded and restored. A program the parser
 * accepts must never make the engine misbehave. */
#include <math.h>
#include <stdbool.h>

#include "engine/engine.h"
#include "fuzz_common.h"

#define FUZZ_FILE       "fuzz.yaml"
#define FUZZ_T0         ((td_time)1767225600) /* 2026-01-01T00:00:00Z */
#define FUZZ_LATER      (FUZZ_T0 + 400 * (td_time)TD_SECONDS_PER_DAY)
#define FUZZ_PARTNER    "p-fuzz"
#define FUZZ_EVENT_SKEW 60

static void check_limits(const program *p)
{
    FUZZ_CHECK(p->name && p->version, "accepted without name or version");
    FUZZ_CHECK(p->n_metrics <= TD_MAX_METRICS, "%zu metrics", p->n_metrics);
    FUZZ_CHECK(p->n_ladders <= TD_MAX_LADDERS, "%zu ladders", p->n_ladders);
    for (size_t m = 0; m < p->n_metrics; m++) {
        const metric_def *md = &p->metrics[m];
        FUZZ_CHECK(md->name && strlen(md->name) <= TD_MAX_NAME, "metric %zu name", m);
        FUZZ_CHECK(md->n_terms <= TD_MAX_SCORE_TERMS, "%zu score terms", md->n_terms);
        for (size_t t = 0; t < md->n_terms; t++)
            FUZZ_CHECK(md->terms[t].metric >= 0 && (size_t)md->terms[t].metric < p->n_metrics,
                       "score term metric %d", md->terms[t].metric);
    }
    for (size_t l = 0; l < p->n_ladders; l++) {
        const ladder_def *ld = &p->ladders[l];
        FUZZ_CHECK(ld->name && ld->n_tiers >= 1 && ld->n_tiers <= TD_MAX_TIERS,
                   "ladder %zu has %zu tiers", l, ld->n_tiers);
        for (size_t t = 0; t < ld->n_tiers; t++)
            FUZZ_CHECK(ld->tiers[t].name && ld->tiers[t].when, "ladder %zu tier %zu", l, t);
    }
}

/* Every type any ladder takes, so the partner sits on as many ladders as
 * the engine allows. */
static size_t collect_types(const program *p, const char **types)
{
    size_t n = 0;
    for (size_t l = 0; l < p->n_ladders; l++)
        for (size_t t = 0; t < p->ladders[l].n_types && n < TD_MAX_PARTNER_TYPES; t++) {
            const char *ty = p->ladders[l].partner_types[t];
            bool seen = false;
            for (size_t i = 0; i < n && !seen; i++)
                seen = strcmp(types[i], ty) == 0;
            if (!seen)
                types[n++] = ty;
        }
    return n;
}

static void exercise(program *p)
{
    engine *e = engine_new();
    const program *held = p;
    if (engine_program_apply(e, p, FUZZ_T0, NULL, NULL) != 0) {
        program_free(p);
        engine_free(e);
        return;
    }
    const char *types[TD_MAX_PARTNER_TYPES];
    size_t nt = collect_types(held, types);
    td_error err = {0};
    if (engine_partner_upsert(e, FUZZ_PARTNER, "Fuzz Ltd", types, nt, FUZZ_T0, NULL, NULL, &err) !=
        0) {
        engine_free(e);
        return;
    }
    td_partner *pt = engine_partner_find(e, FUZZ_PARTNER);
    FUZZ_CHECK(pt != NULL, "upserted partner is missing");
    for (size_t m = 0; m < held->n_metrics; m++) {
        if (!held->metrics[m].event)
            continue;
        char id[32];
        snprintf(id, sizeof id, "ev-%zu", m);
        td_event ev = {.source = "fuzz",
                       .id = id,
                       .partner = FUZZ_PARTNER,
                       .metric = held->metrics[m].event,
                       .value = (double)(m + 1) * 1000,
                       .at = FUZZ_T0 + (td_time)m * FUZZ_EVENT_SKEW,
                       .key = id};
        (void)engine_ingest(e, &ev, FUZZ_T0 + TD_SECONDS_PER_DAY, NULL, NULL, &err);
    }
    engine_evaluate(e, pt, FUZZ_LATER, NULL, NULL);
    (void)engine_partner_next_due(e, pt, FUZZ_LATER);
    for (size_t l = 0; l < held->n_ladders; l++) {
        td_explanation x;
        if (engine_explain(e, pt, l, FUZZ_LATER, FUZZ_LATER, &x, &err) == 0)
            engine_explanation_free(&x);
    }
    uint8_t *blob = NULL;
    size_t len = 0;
    FUZZ_CHECK(engine_partner_encode(e, pt, &blob, &len) == 0, "encode failed");
    FUZZ_CHECK(engine_partner_restore(e, blob, len, &err) == 0, "own encoding refused: %s",
               err.message);
    free(blob);
    engine_free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    program *p = NULL;
    td_diags diags = {0};
    td_error err = {0};
    int rc = program_parse((const char *)data, size, FUZZ_FILE, &p, &diags, &err);
    if (rc != 0) {
        FUZZ_CHECK(p == NULL, "refused but returned a program");
        FUZZ_CHECK(err.code != TD_OK && err.message[0], "refused without a message");
        if (rc == -TD_INVALID_ARGUMENT)
            FUZZ_CHECK(diags.n > 0, "refused without a problem: %s", err.message);
        for (size_t i = 0; i < diags.n; i++)
            FUZZ_CHECK(strncmp(diags.items[i], FUZZ_FILE ":", strlen(FUZZ_FILE ":")) == 0,
                       "problem without its place: %s", diags.items[i]);
        td_diags_free(&diags);
        return 0;
    }
    FUZZ_CHECK(p != NULL && diags.n == 0, "accepted with %zu problems", diags.n);
    td_diags_free(&diags);
    check_limits(p);
    exercise(p);
    return 0;
}
