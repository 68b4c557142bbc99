/* Restore: a fresh engine holding exactly what the store holds (start-up,
 * and a rollback that must rebuild). */
#ifndef TD_RESTORE_H
#define TD_RESTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"
#include "idset.h"
#include "store.h"

/* Meta record naming the stored program version in force (be64 index),
 * written in the same transaction that puts a version in force. */
#define RESTORE_META_IN_FORCE "program_in_force"
/* Meta record: the first ingest-log position a restore may need (be64),
 * written by the commit that finishes a checkpoint; the entries before it
 * are in records and only wait to be trimmed. */
#define RESTORE_META_LOG_FROM "ilog_needed_from"

typedef struct restored {
    bool want_ids;                           /* in: collect every partner id read into ids */
    engine *engine;                          /* out: the caller owns it */
    uint64_t program_index, scheduled_index; /* stored versions in force and waiting; 0 = none */
    idset deferred;    /* partners the ingest log was replayed into: their records lag it */
    uint64_t replayed; /* log entries replayed */
    char *ids;         /* with want_ids: NUL-separated, in id order */
    size_t ids_len, ids_cap, ids_n;
} restored;

/* Fills *out (zeroed but for want_ids) from the store: the version in force
 * (its effective instant kept, so no grandfather period restarts) and the
 * one scheduled next, every partner record, then the ingest log's entries
 * a record does not include yet, applied at the `now` they were accepted
 * at. TD_DATA_LOSS naming the record when anything stored does not read
 * back; on any error *out holds nothing. */
int restore_from_store(store *s, const char *dir, td_time now, restored *out, td_error *err);
/* Frees what *out holds but the engine. */
void restored_free(restored *r);

#endif
