/* Program handlers: PutProgram (load, dry run) and GetProgram, and the one
 * path from a request's program text to a program (Simulate takes it too).
 *
 * Owns the rules for a new version: the text must parse whole (every
 * diagnostic goes back to the caller), a label already stored with other
 * text is refused, the same text as the version in force is a no-op, and an
 * applied version is stored and re-evaluates every partner in the same turn.
 *
 * A version that would demote anyone inside its notice period is refused
 * unless forced; one whose `effective` lies ahead is stored and scheduled,
 * and the timers put it in force at that instant. Refusals carry the
 * diagnostics in the error message, one a line, because a refused Reply
 * carries no payload. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers.h"
#include "replay.h"
#include "pbconv.h"
#include "state.h"

#define PROGRAM_DEFAULT_FILENAME "program.yaml"
#define PROGRAM_MAX_FILENAME     256
#define PROGRAM_MORE_RESERVE     48 /* room kept for "… and N more" */
#define PROGRAM_VERSIONS_INITIAL 8  /* slots first allocated for the version list */

/* "N problems in FILE" then the diagnostics, one a line, as many as fit. */
static int refuse_with_diags(td_error *err, const td_diags *diags, const char *filename)
{
    td_error_set(err, TD_INVALID_ARGUMENT, "%zu problem%s in %s", diags->n,
                 diags->n == 1 ? "" : "s", filename);
    size_t used = strlen(err->message);
    size_t shown = 0;
    for (; shown < diags->n; shown++) {
        size_t len = strlen(diags->items[shown]) + 1;
        size_t reserve = shown + 1 < diags->n ? PROGRAM_MORE_RESERVE : 0;
        if (used + len + reserve >= sizeof err->message)
            break;
        snprintf(err->message + used, sizeof err->message - used, "\n%s", diags->items[shown]);
        used += len;
    }
    if (shown < diags->n)
        snprintf(err->message + used, sizeof err->message - used, "\n… and %zu more",
                 diags->n - shown);
    return -TD_INVALID_ARGUMENT;
}

int program_from_request(const char *yaml, const char *filename, program **out, td_error *err)
{
    yaml = yaml ? yaml : "";
    size_t len = strlen(yaml);
    if (len > TD_MAX_PROGRAM_BYTES)
        return td_error_set(err, TD_INVALID_ARGUMENT, "program of %zu bytes exceeds %u", len,
                            TD_MAX_PROGRAM_BYTES);
    filename = filename && *filename ? filename : PROGRAM_DEFAULT_FILENAME;
    if (!td_text_ok(filename, PROGRAM_MAX_FILENAME))
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "filename must be at most %d bytes of UTF-8 text without control "
                            "characters",
                            PROGRAM_MAX_FILENAME);
    td_diags diags = {0};
    td_error perr = {0};
    if (program_parse(yaml, len, filename, out, &diags, &perr) != 0) {
        int rc = diags.n ? refuse_with_diags(err, &diags, filename)
                         : td_error_set(err, TD_INVALID_ARGUMENT, "%s", perr.message);
        td_diags_free(&diags);
        return rc;
    }
    td_diags_free(&diags);
    return 0;
}

typedef struct version_walk {
    rpc_call *call;
    uint64_t in_force;
    Tierd__ProgramVersion **list;
    size_t n, cap;
    td_error *err;
} version_walk;

static int collect_version(void *ud, uint64_t index, const uint8_t *pb, size_t len)
{
    version_walk *w = ud;
    Tierd__ProgramVersion *pv = tierd__program_version__unpack(NULL, len, pb);
    if (!pv)
        return td_error_set(w->err, TD_DATA_LOSS, "program version record %llu is damaged",
                            (unsigned long long)index);
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : PROGRAM_VERSIONS_INITIAL;
        Tierd__ProgramVersion **list = rpc_alloc(w->call, cap * sizeof *list);
        if (w->n)
            memcpy(list, w->list, w->n * sizeof *list);
        w->list = list;
        w->cap = cap;
    }
    Tierd__ProgramVersion *out = rpc_alloc(w->call, sizeof *out);
    tierd__program_version__init(out);
    out->version = rpc_strdup(w->call, pv->version);
    out->loaded = pv->loaded;
    out->effective = pv->effective;
    out->in_force = index == w->in_force;
    /* The one version waiting: loaded after the one in force, with the
     * label and instant the engine keeps for it. */
    const engine *e = w->call->d->engine;
    const program *sched = engine_program_scheduled(e);
    out->scheduled = sched && index > w->in_force && pv->version &&
                     strcmp(sched->version, pv->version) == 0 &&
                     pv->effective == engine_next_program_due(e);
    out->yaml = rpc_strdup(w->call, pv->yaml);
    out->actor = rpc_strdup(w->call, pv->actor);
    tierd__program_version__free_unpacked(pv, NULL);
    w->list[w->n++] = out;
    return 0;
}

static int all_versions(rpc_call *call, version_walk *w, td_error *err)
{
    *w = (version_walk){.call = call, .in_force = state_program_index(call->d), .err = err};
    return store_each_program(call->d->store, collect_version, w, err);
}

/* What p does at its effective instant (or now), under the lifecycle: the
 * same assessment for a dry run and for a load, made before anything moves. */
static int put_impact(rpc_call *call, const program *p, Tierd__PutProgramResponse *out,
                      td_error *err)
{
    td_impact im;
    td_time at =
        p->effective != TD_TIME_NONE && p->effective > call->now ? p->effective : call->now;
    if (engine_program_impact(call->d->engine, p, at, &im) != 0)
        return td_error_set(err, TD_RESOURCE_EXHAUSTED,
                            "version %s: out of memory assessing its impact", p->version);
    Tierd__ProgramImpact *pi = rpc_alloc(call, sizeof *pi);
    tierd__program_impact__init(pi);
    pi->at = im.at;
    pi->promoted = im.promoted;
    pi->queued = im.queued;
    pi->demoted = im.demoted;
    pi->demoted_later = im.demoted_later;
    pi->first_demotion = im.first_demotion != TD_TIME_NONE ? im.first_demotion : 0;
    pi->last_demotion = im.last_demotion != TD_TIME_NONE ? im.last_demotion : 0;
    pi->unchanged = im.unchanged;
    out->impact = pi;
    out->would_promote = im.promoted;
    out->would_demote = im.demoted + im.demoted_later;
    return 0;
}

static Tierd__PutProgramResponse *put_response(rpc_call *call, const program *p)
{
    Tierd__PutProgramResponse *out = rpc_alloc(call, sizeof *out);
    tierd__put_program_response__init(out);
    out->program = rpc_strdup(call, p->name);
    out->version = rpc_strdup(call, p->version);
    out->effective = p->effective != TD_TIME_NONE ? p->effective : call->now;
    return out;
}

/* Same label already stored: identical text in force is a no-op (1), other
 * text is refused, identical text of an older version loads again (0). */
static int check_label(rpc_call *call, const program *p, const char *yaml, td_error *err)
{
    version_walk w;
    int rc = all_versions(call, &w, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < w.n; i++) {
        if (strcmp(w.list[i]->version, p->version) != 0)
            continue;
        if (strcmp(w.list[i]->yaml, yaml) != 0)
            return td_error_set(err, TD_ALREADY_EXISTS,
                                "version %s is already loaded with different content", p->version);
        if (w.list[i]->in_force)
            return 1;
    }
    return 0;
}

int handle_put_program(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                       td_error *err)
{
    const Tierd__PutProgramRequest *r = (const Tierd__PutProgramRequest *)req;
    const char *yaml = r->yaml ? r->yaml : "";
    program *p = NULL;
    int prc = program_from_request(yaml, r->filename, &p, err);
    if (prc)
        return prc;
    Tierd__PutProgramResponse *out = put_response(call, p);
    if (r->dry_run) {
        int rc = put_impact(call, p, out, err);
        program_free(p);
        if (rc)
            return rc;
        *resp = &out->base;
        return 0;
    }
    int rc = replay_refuse(call->d, "a program load", err);
    if (rc == 0)
        rc = check_label(call, p, yaml, err);
    if (rc < 0) {
        program_free(p);
        return rc;
    }
    if (rc == 1) {
        program_free(p);
        *resp = &out->base;
        return 0;
    }
    /* docs/program.md, "Loading versions": a version that demotes anyone
     * needs its notice period; an admin may force it (PutProgram is
     * admin-only already). */
    if (!r->force) {
        uint64_t down = 0;
        rc = engine_program_notice_check(call->d->engine, p, call->now, &down, err);
        if (rc) {
            program_free(p);
            return rc;
        }
    }
    if ((rc = put_impact(call, p, out, err)) != 0) {
        program_free(p);
        return rc;
    }
    rc = state_put_program(call->d, p, yaml, call->actor, call->now, err);
    if (rc < 0) {
        program_free(p);
        return rc;
    }
    out->scheduled = rc == 1;
    out->applied = true;
    *resp = &out->base;
    return 0;
}

int handle_get_program(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                       td_error *err)
{
    (void)req;
    const program *p = engine_program(call->d->engine);
    if (!p)
        return td_error_set(err, TD_FAILED_PRECONDITION, TD_NO_PROGRAM_MESSAGE);
    version_walk w;
    int rc = all_versions(call, &w, err);
    if (rc)
        return rc;
    Tierd__GetProgramResponse *out = rpc_alloc(call, sizeof *out);
    tierd__get_program_response__init(out);
    out->program = rpc_strdup(call, p->name);
    out->version = rpc_strdup(call, p->version);
    out->n_versions = w.n;
    out->versions = w.list;
    for (size_t i = 0; i < w.n; i++)
        if (w.list[i]->in_force)
            out->yaml = w.list[i]->yaml;
    if (!out->yaml)
        out->yaml = rpc_strdup(call, "");
    out->n_ladders = p->n_ladders;
    out->ladders = rpc_alloc(call, (p->n_ladders ? p->n_ladders : 1) * sizeof *out->ladders);
    for (size_t l = 0; l < p->n_ladders; l++) {
        const ladder_def *ld = &p->ladders[l];
        Tierd__LadderInfo *li = rpc_alloc(call, sizeof *li);
        tierd__ladder_info__init(li);
        li->name = rpc_strdup(call, ld->name);
        li->cumulative = ld->cumulative;
        li->n_partner_types = ld->n_types;
        li->partner_types = rpc_alloc(call, (ld->n_types ? ld->n_types : 1) * sizeof(char *));
        for (size_t t = 0; t < ld->n_types; t++)
            li->partner_types[t] = rpc_strdup(call, ld->partner_types[t]);
        li->n_tiers = ld->n_tiers;
        li->tiers = rpc_alloc(call, (ld->n_tiers ? ld->n_tiers : 1) * sizeof(char *));
        for (size_t t = 0; t < ld->n_tiers; t++)
            li->tiers[t] = rpc_strdup(call, ld->tiers[t].name);
        out->ladders[l] = li;
    }
    *resp = &out->base;
    return 0;
}
