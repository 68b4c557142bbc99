/* Program file bookkeeping and the source of the version in force (see
 * program_source.h).
 *
 * It owns the store meta record "program_file": the store index (be64) of
 * the version the program file last produced, then the file's path. What
 * the file last loaded is compared with the file's text byte for byte
 * against that version's stored text, so no hash can collide and nothing
 * but the index and path need persisting. The record is written in a turn
 * of its own right after the load commits; a crash in between only means
 * the next start offers the same text again, which PutProgram answers as a
 * no-op (the same text is already in force).
 *
 * It does not load programs (PutProgram does, through rpc_invoke_local) and
 * keeps nothing outside the tierd and the store. */
#include "program_source.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state.h"
#include "tierd.pb-c.h"

#define PROGRAM_FILE_META  "program_file"
#define PROGRAM_INDEX_SIZE 8

static void be64_put(uint8_t *p, uint64_t v)
{
    for (int i = PROGRAM_INDEX_SIZE - 1; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t be64_get(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < PROGRAM_INDEX_SIZE; i++)
        v = v << 8 | p[i];
    return v;
}

/* The record, if any: *index 0 when there is none. *path is malloc'd. */
static int read_record(tierd *d, uint64_t *index, char **path, td_error *err)
{
    *index = 0;
    *path = NULL;
    uint8_t *val = NULL;
    size_t len = 0;
    int rc = store_get_meta(d->store, PROGRAM_FILE_META, &val, &len, err);
    if (rc == -TD_NOT_FOUND) {
        td_error_clear(err);
        return 0;
    }
    if (rc)
        return rc;
    if (len < PROGRAM_INDEX_SIZE) {
        free(val);
        return td_error_set(err, TD_DATA_LOSS, "meta record %s is %zu bytes", PROGRAM_FILE_META,
                            len);
    }
    *index = be64_get(val);
    size_t plen = len - PROGRAM_INDEX_SIZE;
    *path = malloc(plen + 1);
    if (!*path)
        abort();
    memcpy(*path, val + PROGRAM_INDEX_SIZE, plen);
    (*path)[plen] = 0;
    free(val);
    return 0;
}

static Tierd__ProgramVersion *version_at(tierd *d, uint64_t index, td_error *err)
{
    uint8_t *pb = NULL;
    size_t len = 0;
    if (store_get_program(d->store, index, &pb, &len, err) != 0)
        return NULL;
    Tierd__ProgramVersion *pv = tierd__program_version__unpack(NULL, len, pb);
    free(pb);
    if (!pv)
        td_error_set(err, TD_DATA_LOSS, "program version record %llu is damaged",
                     (unsigned long long)index);
    return pv;
}

typedef struct text_walk {
    const char *text;
    uint64_t newest; /* newest index holding exactly text; 0 = none */
} text_walk;

static int find_text(void *ud, uint64_t index, const uint8_t *pb, size_t len)
{
    text_walk *w = ud;
    Tierd__ProgramVersion *pv = tierd__program_version__unpack(NULL, len, pb);
    if (!pv)
        return 0; /* damaged records are state_open's to refuse */
    if (pv->yaml && strcmp(pv->yaml, w->text) == 0)
        w->newest = index;
    tierd__program_version__free_unpacked(pv, NULL);
    return 0;
}

int program_file_is_loaded(tierd *d, const char *text, bool *loaded, td_error *err)
{
    *loaded = false;
    uint64_t index;
    char *path;
    int rc = read_record(d, &index, &path, err);
    free(path);
    if (rc)
        return rc;
    if (index) {
        Tierd__ProgramVersion *pv = version_at(d, index, err);
        if (!pv && err->code == TD_NOT_FOUND) {
            td_error_clear(err); /* a record without its version: load the file */
            return 0;
        }
        if (!pv)
            return -(int)err->code;
        *loaded = pv->yaml && strcmp(pv->yaml, text) == 0;
        tierd__program_version__free_unpacked(pv, NULL);
        return 0;
    }
    text_walk w = {.text = text};
    rc = store_each_program(d->store, find_text, &w, err);
    *loaded = rc == 0 && w.newest != 0;
    return rc;
}

int program_file_record(tierd *d, const char *path, const char *text, td_error *err)
{
    text_walk w = {.text = text};
    int rc = store_each_program(d->store, find_text, &w, err);
    if (rc)
        return rc;
    if (!w.newest)
        return td_error_set(err, TD_INTERNAL, "program %s: no stored version holds its text", path);
    uint64_t recorded;
    char *recorded_path;
    rc = read_record(d, &recorded, &recorded_path, err);
    bool same = rc == 0 && recorded == w.newest && strcmp(recorded_path, path) == 0;
    free(recorded_path);
    if (rc || same)
        return rc; /* nothing to write: no turn, no fsync */
    size_t plen = strlen(path);
    uint8_t *val = malloc(PROGRAM_INDEX_SIZE + plen);
    if (!val)
        abort();
    be64_put(val, w.newest);
    memcpy(val + PROGRAM_INDEX_SIZE, path, plen);
    rc = state_begin(d, err);
    if (rc == 0 &&
        store_put_meta(d->store, PROGRAM_FILE_META, val, PROGRAM_INDEX_SIZE + plen, err) != 0) {
        state_fail(d, err);
        rc = -(int)err->code;
    }
    free(val);
    td_error ferr = {0};
    int frc = state_flush(d, &ferr);
    if (frc && rc == 0) {
        *err = ferr;
        rc = frc;
    }
    d->program_source_index = 0; /* the description may change */
    return rc;
}

/* The description is for people: a path too long for it is cut, not an
 * error. */
static void source_printf(char *buf, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void source_printf(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, n, fmt, ap);
    va_end(ap);
}

/* How version pv (index) got loaded: from the file, or by whom over RPC. */
static void describe_origin(char *buf, size_t n, const Tierd__ProgramVersion *pv, bool from_file,
                            const char *path)
{
    const char *actor = pv->actor && *pv->actor ? pv->actor : "unknown";
    if (from_file)
        source_printf(buf, n, "file %s", path);
    else if (strcmp(actor, PROGRAM_ACTOR_STARTUP) == 0 || strcmp(actor, PROGRAM_ACTOR_RELOAD) == 0)
        source_printf(buf, n, "file (an earlier text of the program file, loaded by %s)", actor);
    else
        source_printf(buf, n, "rpc (%s)", actor);
}

const char *program_source(tierd *d)
{
    uint64_t index = d->state ? state_program_index(d) : 0;
    if (index == 0)
        return "";
    if (index == d->program_source_index)
        return d->program_source;
    td_error err = {0};
    uint64_t file_index;
    char *path;
    Tierd__ProgramVersion *pv = NULL;
    if (read_record(d, &file_index, &path, &err) == 0 && (pv = version_at(d, index, &err))) {
        char origin[TD_PROGRAM_SOURCE_MAX];
        describe_origin(origin, sizeof origin, pv, index == file_index, path);
        if (pv->effective > pv->loaded) {
            char at[TD_TIME_STRLEN];
            td_time_format(pv->effective, at, sizeof at);
            source_printf(d->program_source, sizeof d->program_source,
                          "schedule (effective %s, loaded via %s)", at, origin);
        } else {
            source_printf(d->program_source, sizeof d->program_source, "%s", origin);
        }
        tierd__program_version__free_unpacked(pv, NULL);
        d->program_source_index = index;
    } else {
        /* Not cached: the next call tries again. */
        source_printf(d->program_source, sizeof d->program_source, "unknown (%s)", err.message);
    }
    free(path);
    return d->program_source;
}
