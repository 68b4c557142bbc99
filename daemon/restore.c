/* Restore: a fresh engine holding exactly what the store holds, at start
 * and after a failed commit: the program version in force (and the one
 * scheduled next), every partner record, then the ingest-log entries the
 * records do not include yet. Anything stored that cannot be read back
 * stops it with TD_DATA_LOSS naming what.
 *
 * Partner records are decoded on every core, a batch of RESTORE_BATCH at a
 * time, and placed into the engine in id order on the calling thread: a
 * million partners spend most of a restart decoding, and decoding touches
 * no engine state (engine_partner_decode). Placing in id order also leaves
 * the engine's sorted view built.
 *
 * It does not write: restoring reproduces, the store already holds it all. */
#include "restore.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "corrections.h"
#include "event_view.h"
#include "log.h"
#include "tierd.pb-c.h"
#include "grow.h"

#define RESTORE_BATCH                                                                              \
    1024 /* records decoded together, then placed: small enough to stay in cache */
#define RESTORE_MAX_THREADS 8    /* decoders at most, the caller included */
#define RESTORE_IDS_MIN_CAP 4096 /* bytes of the id list before its first growth */
#define RESTORE_STAMPS_MIN  64   /* stamps before the first growth */

/* ---- the program ---- */

static uint64_t be64_read(const uint8_t *b)
{
    uint64_t v = 0;
    for (size_t i = 0; i < 8; i++)
        v = v << 8 | b[i];
    return v;
}

/* Which stored versions matter at start: the one in force (greatest
 * instant it took effect, max(loaded, effective), not after now; the later
 * loaded wins a tie) and the latest one still waiting for its effective
 * instant. */
typedef struct program_slot {
    uint64_t index;
    td_time took_effect;
    uint8_t *pb;
    size_t len;
} program_slot;

typedef struct program_pick {
    td_time now;
    uint64_t in_force_index; /* from meta; 0 = not recorded */
    program_slot in_force;
    program_slot scheduled;
    bool oom;
    td_error *err;
} program_pick;

static int slot_take(program_slot *slot, uint64_t index, td_time took_effect, const uint8_t *pb,
                     size_t len)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return -1;
    memcpy(copy, pb, len);
    free(slot->pb);
    *slot = (program_slot){.index = index, .took_effect = took_effect, .pb = copy, .len = len};
    return 0;
}

static int pick_programs(void *ud, uint64_t index, const uint8_t *pb, size_t len)
{
    program_pick *pick = ud;
    Tierd__ProgramVersion *pv = tierd__program_version__unpack(NULL, len, pb);
    if (!pv)
        return td_error_set(pick->err, TD_DATA_LOSS,
                            "program version record %llu is damaged (does not decode)",
                            (unsigned long long)index);
    td_time took_effect = pv->effective > pv->loaded ? pv->effective : pv->loaded;
    tierd__program_version__free_unpacked(pv, NULL);
    program_slot *slot;
    if (pick->in_force_index)
        /* The record says which version was put in force; a later one
         * never was, even if its instant passed while tierd was down: the
         * timers put it in force at start, with its changes recorded. */
        slot = index == pick->in_force_index  ? &pick->in_force
               : index > pick->in_force_index ? &pick->scheduled
                                              : NULL;
    else
        slot = took_effect <= pick->now ? &pick->in_force : &pick->scheduled;
    if (!slot)
        return 0;
    if (slot == &pick->in_force && slot->pb && slot->took_effect > took_effect)
        return 0;
    if (slot_take(slot, index, took_effect, pb, len) != 0) {
        pick->oom = true;
        return -TD_RESOURCE_EXHAUSTED;
    }
    return 0;
}

static void discard_change(void *ud, const td_change *c)
{
    (void)ud;
    (void)c;
}

/* Parses a stored version; TD_DATA_LOSS naming it when it no longer parses. */
static int stored_program(const program_slot *slot, const char *dir, program **out, td_error *err)
{
    Tierd__ProgramVersion *pv = tierd__program_version__unpack(NULL, slot->len, slot->pb);
    if (!pv)
        return td_error_set(err, TD_DATA_LOSS,
                            "%s: program version record %llu is damaged (does not decode)", dir,
                            (unsigned long long)slot->index);
    td_diags diags = {0};
    td_error perr = {0};
    char filename[TD_MAX_NAME + 32];
    snprintf(filename, sizeof filename, "stored program %.*s", TD_MAX_NAME,
             pv->version ? pv->version : "");
    int rc = program_parse(pv->yaml ? pv->yaml : "", pv->yaml ? strlen(pv->yaml) : 0, filename, out,
                           &diags, &perr);
    if (rc)
        rc = td_error_set(err, TD_DATA_LOSS,
                          "%s: program version record %llu (%s) no longer parses: %s%s%s", dir,
                          (unsigned long long)slot->index, pv->version ? pv->version : "",
                          perr.message, diags.n ? "; first: " : "", diags.n ? diags.items[0] : "");
    td_diags_free(&diags);
    tierd__program_version__free_unpacked(pv, NULL);
    return rc;
}

static int restore_program(engine *e, store *s, const char *dir, td_time now, uint64_t *index,
                           uint64_t *scheduled_index, td_error *err)
{
    program_pick pick = {.now = now, .err = err};
    *index = 0;
    *scheduled_index = 0;
    uint8_t *meta = NULL;
    size_t meta_len = 0;
    td_error merr = {0};
    if (store_get_meta(s, RESTORE_META_IN_FORCE, &meta, &meta_len, &merr) == 0 && meta_len == 8)
        pick.in_force_index = be64_read(meta);
    free(meta);
    int rc = store_each_program(s, pick_programs, &pick, err);
    if (rc) {
        if (pick.oom)
            td_error_set(err, TD_RESOURCE_EXHAUSTED, "%s: out of memory reading programs", dir);
        else
            td_error_prefix(err, "%s", dir);
        goto out;
    }
    if (pick.in_force.pb) {
        program *p = NULL;
        rc = stored_program(&pick.in_force, dir, &p, err);
        if (rc)
            goto out;
        if (engine_program_apply(e, p, now, discard_change, NULL) != 0) {
            program_free(p);
            rc =
                td_error_set(err, TD_RESOURCE_EXHAUSTED, "%s: out of memory applying program", dir);
            goto out;
        }
        /* Restoring must not restart the version's grandfather period. */
        engine_program_set_effective(e, pick.in_force.took_effect);
        *index = pick.in_force.index;
    }
    if (pick.scheduled.pb && pick.scheduled.index > pick.in_force.index) {
        program *p = NULL;
        rc = stored_program(&pick.scheduled, dir, &p, err);
        if (rc)
            goto out;
        engine_program_schedule(e, p, pick.scheduled.took_effect);
        *scheduled_index = pick.scheduled.index;
    }
out:
    free(pick.in_force.pb);
    free(pick.scheduled.pb);
    return rc;
}

/* ---- partner records ---- */

typedef struct decode_job {
    const uint8_t *blob;
    size_t len;
    td_partner_record *rec;
    int rc;
    td_error err;
} decode_job;

/* The helpers decode the current batch beside the caller. `claim` packs
 * the batch number (high 32 bits) and the next job (low 32): a helper
 * takes a job by compare-and-swap only while the batch number is the one
 * it woke for, so one that wakes late can never take a job of a later
 * batch, and the caller, which claims too, never waits for a helper that
 * has not started: only for jobs already claimed. */
typedef struct decode_pool {
    decode_job *jobs;
    _Atomic uint64_t claim;
    atomic_uint done; /* jobs of the current batch decoded */
    uint32_t n;       /* jobs in the current batch; with batch, under lock */
    uint32_t batch;
    bool quit;
    uv_mutex_t lock;
    uv_cond_t wake;     /* helpers: a new batch, or quit */
    uv_cond_t finished; /* the caller: the last job is decoded */
    uv_thread_t helpers[RESTORE_MAX_THREADS];
    unsigned n_helpers;
} decode_pool;

static void decode_claimed(decode_pool *pool, uint32_t batch, uint32_t n)
{
    uint64_t c = atomic_load(&pool->claim);
    while ((uint32_t)(c >> 32) == batch && (uint32_t)c < n) {
        if (!atomic_compare_exchange_weak(&pool->claim, &c, c + 1))
            continue; /* c now holds the current value */
        decode_job *j = &pool->jobs[(uint32_t)c];
        j->rc = engine_partner_decode(j->blob, j->len, &j->rec, &j->err);
        if (atomic_fetch_add(&pool->done, 1) + 1 == n) {
            uv_mutex_lock(&pool->lock);
            uv_cond_signal(&pool->finished);
            uv_mutex_unlock(&pool->lock);
        }
        c = atomic_load(&pool->claim);
    }
}

static void decode_helper(void *arg)
{
    decode_pool *pool = arg;
    uint32_t seen = 0;
    uv_mutex_lock(&pool->lock);
    for (;;) {
        while (!pool->quit && pool->batch == seen)
            uv_cond_wait(&pool->wake, &pool->lock);
        if (pool->quit)
            break;
        seen = pool->batch;
        uint32_t n = pool->n;
        uv_mutex_unlock(&pool->lock);
        decode_claimed(pool, seen, n);
        uv_mutex_lock(&pool->lock);
    }
    uv_mutex_unlock(&pool->lock);
}

/* Starts up to threads - 1 helpers; one that cannot start leaves its share
 * to the others and the caller. */
static int pool_open(decode_pool *pool, unsigned threads)
{
    *pool = (decode_pool){0};
    pool->jobs = malloc(RESTORE_BATCH * sizeof *pool->jobs);
    if (!pool->jobs)
        return -1;
    if (uv_mutex_init(&pool->lock) != 0) {
        free(pool->jobs);
        return -1;
    }
    if (uv_cond_init(&pool->wake) != 0 || uv_cond_init(&pool->finished) != 0)
        abort(); /* glibc's pthread_cond_init cannot fail */
    while (pool->n_helpers + 1 < threads &&
           uv_thread_create(&pool->helpers[pool->n_helpers], decode_helper, pool) == 0)
        pool->n_helpers++;
    return 0;
}

static void pool_close(decode_pool *pool)
{
    uv_mutex_lock(&pool->lock);
    pool->quit = true;
    uv_cond_broadcast(&pool->wake);
    uv_mutex_unlock(&pool->lock);
    for (unsigned i = 0; i < pool->n_helpers; i++)
        uv_thread_join(&pool->helpers[i]);
    uv_cond_destroy(&pool->wake);
    uv_cond_destroy(&pool->finished);
    uv_mutex_destroy(&pool->lock);
    free(pool->jobs);
}

/* Decodes jobs[0..n) with the helpers, returning when every one is done. */
static void decode_all(decode_pool *pool, uint32_t n)
{
    uv_mutex_lock(&pool->lock);
    pool->batch++;
    pool->n = n;
    atomic_store(&pool->done, 0);
    atomic_store(&pool->claim, (uint64_t)pool->batch << 32);
    uint32_t batch = pool->batch;
    uv_cond_broadcast(&pool->wake);
    uv_mutex_unlock(&pool->lock);
    decode_claimed(pool, batch, n);
    uv_mutex_lock(&pool->lock);
    while (atomic_load(&pool->done) < n)
        uv_cond_wait(&pool->finished, &pool->lock);
    uv_mutex_unlock(&pool->lock);
}

typedef struct partner_walk {
    engine *e;
    const char *dir;
    uint64_t n; /* records placed so far */
    td_error *err;
    decode_pool pool;
    /* with an ingest log to replay: each partner and the log position its
     * record includes (ids[i] <-> applied[i]) */
    bool stamps;
    idset ids;
    uint64_t *applied;
    size_t applied_cap;
    restored *out; /* gets every id read when out->want_ids */
} partner_walk;

static int collect_id(restored *r, const void *id, size_t id_len)
{
    char *b = td_grow(r->ids, &r->ids_cap, r->ids_len + id_len + 1, 1, RESTORE_IDS_MIN_CAP);
    if (!b)
        return -1;
    r->ids = b;
    memcpy(r->ids + r->ids_len, id, id_len);
    r->ids[r->ids_len + id_len] = '\0';
    r->ids_len += id_len + 1;
    r->ids_n++;
    return 0;
}

static int keep_stamp(partner_walk *w, const store_partner_view *v)
{
    char key[TD_MAX_ID + 1];
    if (v->id_len > TD_MAX_ID)
        return td_error_set(w->err, TD_DATA_LOSS, "%s: partner record %llu has a %zu-byte id",
                            w->dir, (unsigned long long)w->n, v->id_len);
    memcpy(key, v->id, v->id_len);
    key[v->id_len] = '\0';
    uint64_t *a = td_grow(w->applied, &w->applied_cap, w->ids.n + 1, sizeof *a, RESTORE_STAMPS_MIN);
    if (!a)
        return td_error_set(w->err, TD_RESOURCE_EXHAUSTED, "%s: out of memory", w->dir);
    w->applied = a;
    if (idset_add(&w->ids, key) != 0)
        return td_error_set(w->err, TD_RESOURCE_EXHAUSTED, "%s: out of memory", w->dir);
    w->applied[w->ids.n - 1] = v->applied;
    return 0;
}

/* One batch: decoded on every thread, then placed in id order. The first
 * damaged record stops the restore, naming its place in id order. */
static int restore_batch(void *ud, const store_partner_view *views, size_t n)
{
    partner_walk *w = ud;
    decode_pool *pool = &w->pool;
    for (size_t i = 0; i < n; i++)
        pool->jobs[i] = (decode_job){.blob = views[i].blob, .len = views[i].len};
    decode_all(pool, (uint32_t)n);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        decode_job *j = &pool->jobs[i];
        if (rc) {
            engine_partner_record_free(j->rec);
            continue;
        }
        w->n++;
        td_error perr = {0};
        if (j->rc)
            rc = td_error_set(w->err, TD_DATA_LOSS,
                              "%s: partner record %llu (in id order) is damaged: %s", w->dir,
                              (unsigned long long)w->n, j->err.message);
        else if (engine_partner_place(w->e, j->rec, &perr) != 0)
            rc = td_error_set(w->err, perr.code, "%s: partner record %llu: %s", w->dir,
                              (unsigned long long)w->n, perr.message);
        else if (w->out->want_ids && collect_id(w->out, views[i].id, views[i].id_len) != 0)
            rc = td_error_set(w->err, TD_RESOURCE_EXHAUSTED, "%s: out of memory", w->dir);
        else if (w->stamps)
            rc = keep_stamp(w, &views[i]);
    }
    return rc;
}

/* ---- the ingest log ---- */

typedef struct replay {
    store *s;
    partner_walk *w;
    idset *deferred;
    uint64_t replayed;
} replay;

/* A logged correction, made again as it was made: the version it replaced
 * is the one whose history says it stopped counting at pos, and a rebuild
 * reads what counted right after pos. */
static int replay_correction(store *s, engine *e, const Tierd__Event *ev, td_time at, uint64_t pos,
                             td_time now, td_error *err)
{
    char buf[3 * TD_STORE_HIST_TEXT + 8];
    td_event old;
    int rc = corrections_replaced(s, ev->partner, ev->metric ? ev->metric : "", ev->source, ev->id,
                                  pos, &old, buf, sizeof buf, err);
    if (rc)
        return rc;
    bool amend = strcmp(ev->op, "amend") == 0;
    td_event amended;
    if (amend)
        event_view(ev, at, &amended);
    corr_history hist = {
        .s = s, .partner = old.partner, .metric = old.metric, .at_position = true, .position = pos};
    return engine_correct(e, &old, amend ? &amended : NULL, ev->revision, corrections_history,
                          &hist, now, NULL, NULL, err);
}

/* Applies one logged event to its partner unless the partner's record
 * already includes it: the same engine call, at the same `now`, as when
 * it was accepted, so the partner ends exactly where it was. */
static int replay_one(void *ud, uint64_t pos, int64_t now, const uint8_t *pb, size_t len)
{
    replay *r = ud;
    partner_walk *w = r->w;
    Tierd__Event *ev = tierd__event__unpack(NULL, len, pb);
    if (!ev)
        return td_error_set(w->err, TD_DATA_LOSS, "%s: ingest log entry %llu does not decode",
                            w->dir, (unsigned long long)pos);
    int rc = 0;
    long i = ev->partner ? idset_index(&w->ids, ev->partner) : -1;
    /* Unknown here: deleted after the event was logged. */
    if (i >= 0 && pos > w->applied[i]) {
        td_event te;
        td_error eerr = {0};
        td_time at = TD_TIME_NONE;
        int applied = ev->at ? td_time_parse(ev->at, &at, &eerr) : -1;
        if (applied == 0 && ev->op && *ev->op)
            applied = replay_correction(r->s, w->e, ev, at, pos, now, &eerr);
        else if (applied == 0) {
            event_view(ev, at, &te);
            applied = engine_ingest(w->e, &te, now, NULL, NULL, &eerr);
        }
        if (applied == 0) {
            if (idset_add(r->deferred, ev->partner) != 0)
                rc = td_error_set(w->err, TD_RESOURCE_EXHAUSTED, "%s: out of memory", w->dir);
            r->replayed++;
        } else {
            log_warning("%s: ingest log entry %llu (%s/%s) no longer applies: %s", w->dir,
                        (unsigned long long)pos, ev->source ? ev->source : "", ev->id ? ev->id : "",
                        eerr.message);
        }
    }
    tierd__event__free_unpacked(ev, NULL);
    return rc;
}

/* ---- the whole ---- */

/* Where replay starts: entries before RESTORE_META_LOG_FROM are in every
 * record already, however many of them wait to be trimmed. */
static uint64_t log_needed_from(store *s)
{
    uint8_t *meta = NULL;
    size_t len = 0;
    td_error merr = {0};
    uint64_t from = 0;
    if (store_get_meta(s, RESTORE_META_LOG_FROM, &meta, &len, &merr) == 0 && len == 8)
        from = be64_read(meta);
    free(meta);
    return from;
}

static unsigned decode_threads(void)
{
    unsigned n = uv_available_parallelism();
    return n < 1 ? 1 : n > RESTORE_MAX_THREADS ? RESTORE_MAX_THREADS : n;
}

int restore_from_store(store *s, const char *dir, td_time now, restored *out, td_error *err)
{
    engine *e = engine_new();
    if (!e)
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "%s: out of memory creating the engine",
                            dir);
    /* Each record's stamp matters only to replay a log that holds entries;
     * keeping a million of them for an empty log costs a restart time. */
    partner_walk w = {
        .e = e, .dir = dir, .err = err, .stamps = store_ilog_count(s) > 0, .out = out};
    replay r = {.s = s, .w = &w, .deferred = &out->deferred};
    bool pooled = pool_open(&w.pool, decode_threads()) == 0;
    int rc = pooled ? 0
                    : td_error_set(err, TD_RESOURCE_EXHAUSTED,
                                   "%s: out of memory restoring partners", dir);
    if (rc == 0)
        rc = restore_program(e, s, dir, now, &out->program_index, &out->scheduled_index, err);
    if (rc == 0)
        rc = store_each_partner_batch(s, RESTORE_BATCH, restore_batch, &w, err);
    if (rc == 0 && w.stamps)
        rc = store_ilog_each(s, log_needed_from(s), replay_one, &r, err);
    if (pooled)
        pool_close(&w.pool);
    idset_free(&w.ids);
    free(w.applied);
    if (rc) {
        engine_free(e);
        restored_free(out);
        return rc;
    }
    if (r.replayed)
        log_info("%s: replayed %llu logged events into %zu partners", dir,
                 (unsigned long long)r.replayed, out->deferred.n);
    out->replayed = r.replayed;
    engine_touched_take(e, NULL, NULL); /* it holds what the store holds */
    out->engine = e;
    return 0;
}

void restored_free(restored *r)
{
    idset_free(&r->deferred);
    free(r->ids);
    r->ids = NULL;
    r->ids_len = r->ids_cap = r->ids_n = 0;
}
