/* The durable store: one LMDB environment in the state directory.
 *
 * It owns what must survive a crash: partners (as the engine's encoded
 * blobs, which carry metric and tier state), every accepted event keyed by
 * source+id (idempotency, forever), the sequence-numbered change log with a
 * per-partner index, program versions, connector cursors, KPI snapshots
 * (docs/kpi.md) and the format version.
 *
 * Writes go into one write transaction that the daemon opens with
 * store_begin and closes with store_commit at the end of a loop turn, so
 * every request of that turn shares one fsync (group commit). Reads made
 * while a write transaction is open see its uncommitted writes; otherwise
 * they use a fresh read transaction. A failed commit leaves the store as it
 * was before store_begin.
 *
 * Errors: a full map or full disk -> TD_RESOURCE_EXHAUSTED (a full disk says
 * "disk full", also when LMDB only saw a write cut short), a read-only or
 * unwritable state dir -> TD_UNAVAILABLE, a damaged record -> TD_DATA_LOSS,
 * each with a message naming the state dir and the cause. A store written
 * by a newer format version is refused with TD_FAILED_PRECONDITION. A second
 * process opening the same dir is refused with TD_UNAVAILABLE naming the
 * PID holding it. */
#ifndef TD_STORE_H
#define TD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tierd/status.h"

/* 2: partner records carry the ingest-log position they include, and the
 * ingest log exists (a format 1 store is taken as it is). 3: partner
 * records may be codec version 3 (demotion review), which a tierd of
 * format 2 cannot read; format 1 and 2 stores are taken as they are. */
#define STORE_FORMAT_VERSION   3
#define STORE_DEFAULT_MAP_SIZE ((size_t)16 << 30) /* 16 GiB of address space, sparse */

typedef struct store store;

typedef struct store_options {
    size_t map_size; /* 0 = STORE_DEFAULT_MAP_SIZE */
    size_t map_max;  /* the map may grow (between turns) up to this; 0 = map_size */
    bool no_sync;    /* tests and benches only: skip fsync at commit */
    bool read_only;  /* serve reads only; every write fails TD_UNAVAILABLE */
} store_options;

/* Opens (creating if needed) the store in dir. A dir this process cannot
 * write (or opt->read_only) opens an existing store for reading only. */
int store_open(const char *dir, const store_options *opt, store **out, td_error *err);
void store_close(store *s);

/* ---- transactions ---- */
/* No-op when one is open. After a failed write the turn stays failed (every
 * write, store_begin and store_commit repeat the error) until store_abort,
 * or store_commit which reports it and ends the turn. */
int store_begin(store *s, td_error *err); /* no-op when one is open */
bool store_in_txn(const store *s);
int store_commit(store *s, td_error *err); /* no-op when none is open */
void store_abort(store *s);
/* Key and value bytes the open transaction has put so far (0 when none is
 * open): what its commit writes, before LMDB's pages around them. */
uint64_t store_txn_bytes(const store *s);

/* How big the store is: its data file, the part of the map in use (pages
 * up to the last one used) and the map size. -1 when the environment is
 * closed (after a failure, until the next write reopens it). */
typedef struct store_usage {
    uint64_t file_bytes, used_bytes, map_bytes;
} store_usage;
int store_get_usage(store *s, store_usage *out);

/* ---- partners: id -> engine blob ---- */
/* Writes the blob stamped with store_ilog_position: the record includes
 * every ingest-log entry up to there. */
int store_put_partner(store *s, const char *id, const uint8_t *blob, size_t len, td_error *err);
int store_del_partner(store *s, const char *id, td_error *err);
/* Copies the blob into a malloc'd buffer; TD_NOT_FOUND when absent. */
int store_get_partner(store *s, const char *id, uint8_t **blob, size_t *len, td_error *err);
/* Calls fn for every partner blob in id order; fn returning non-zero stops
 * the walk and is returned. The blob lives only during the call. */
int store_each_partner(store *s, int (*fn)(void *ud, const uint8_t *blob, size_t len), void *ud,
                       td_error *err);
/* The same with the id and the ingest-log position each record includes
 * (0 for a record written before the log existed). */
typedef int (*store_partner_fn)(void *ud, const void *id, size_t id_len, const uint8_t *blob,
                                size_t len, uint64_t applied);
int store_each_partner_stamped(store *s, store_partner_fn fn, void *ud, td_error *err);
/* One partner record as the store holds it; the pointers live only during
 * the call they are passed to. */
typedef struct store_partner_view {
    const void *id;
    size_t id_len;
    const uint8_t *blob;
    size_t len;
    uint64_t applied; /* the ingest-log position the record includes */
} store_partner_view;
/* Calls fn with up to `batch` records at a time, every one in id order, all
 * from one snapshot, so a batch can be worked on as a whole (decoded on
 * several threads). fn returning non-zero stops the walk and is returned. */
typedef int (*store_batch_fn)(void *ud, const store_partner_view *views, size_t n);
int store_each_partner_batch(store *s, size_t batch, store_batch_fn fn, void *ud, td_error *err);

/* ---- ingest log: accepted events between checkpoints ----
 * Partner records are rewritten at checkpoints, not with every event: an
 * event is made durable by its entry here (with the `now` it was applied
 * at), and a restart replays the entries a partner's record does not
 * include yet. Appends are at the end of the tree; the log is emptied once
 * every partner record includes it. */
int store_ilog_append(store *s, int64_t now, const uint8_t *pb, size_t len, uint64_t *pos,
                      td_error *err);
/* The last position handed out (in the open transaction, else committed). */
uint64_t store_ilog_position(const store *s);
/* How many entries the committed log holds (0 on a read error). */
uint64_t store_ilog_count(store *s);
typedef int (*store_ilog_fn)(void *ud, uint64_t pos, int64_t now, const uint8_t *pb, size_t len);
/* Entries at positions from `from` on (0: all), in position order; fn
 * returning non-zero stops and is returned. */
int store_ilog_each(store *s, uint64_t from, store_ilog_fn fn, void *ud, td_error *err);
/* Drops every entry (positions keep counting). */
int store_ilog_clear(store *s, td_error *err);
/* Drops at most `max` of the entries at positions up to `upto`, oldest
 * first, in the open transaction; *more says whether any such entry is
 * left. */
int store_ilog_trim(store *s, uint64_t upto, size_t max, bool *more, td_error *err);

/* ---- events: (source, id) -> encoded tierd.Event ---- */
/* *seen = whether (source, id) was accepted before (committed or in the
 * open transaction). */
int store_event_seen(store *s, const char *source, const char *id, bool *seen, td_error *err);
/* TD_ALREADY_EXISTS when (source, id) is already there. */
int store_put_event(store *s, const char *source, const char *id, const uint8_t *pb, size_t len,
                    td_error *err);
uint64_t store_event_count(store *s);

/* ---- corrections: what an event counts for, kept to take it out again ----
 * The event record holds the version counted (or, retracted, the last one
 * counted) with its revision and the ingest-log position it was counted
 * at; the history holds, per partner and event name in the order counted,
 * every version with the position it stopped counting at (0: still
 * counts), so the events that counted at any log position can be listed
 * (a restart replays corrections at their position). */
#define TD_STORE_HIST_TEXT 256 /* bytes of a source, id or key at most */
typedef struct store_event_meta {
    uint64_t added;    /* ingest-log position of the version counted */
    uint64_t revision; /* 0: the original */
    bool retracted;
    bool kept; /* false: accepted before corrections were kept (no history) */
} store_event_meta;
/* *pb (malloc'd) the encoded event; TD_NOT_FOUND when never accepted. */
int store_get_event(store *s, const char *source, const char *id, store_event_meta *meta,
                    uint8_t **pb, size_t *len, td_error *err);
/* Writes (or replaces) the record of (source, id). */
int store_set_event(store *s, const char *source, const char *id, const store_event_meta *meta,
                    const uint8_t *pb, size_t len, td_error *err);
typedef struct store_hist_entry {
    const char *partner, *metric, *source, *id;
    const char *key; /* store_hist_add: NULL or text; read back: key_len bytes, not terminated */
    size_t key_len;
    double value;
    int64_t at;
    uint64_t added;   /* position it counts from */
    uint64_t retired; /* position it stopped counting at; 0 = counts */
} store_hist_entry;
int store_hist_add(store *s, const store_hist_entry *h, td_error *err);
/* Marks the version added at `added` as stopped counting at `retired`;
 * TD_NOT_FOUND when there is none (its partner was deleted since). */
int store_hist_retire(store *s, const char *partner, const char *metric, uint64_t added,
                      uint64_t retired, td_error *err);
/* Every version of partner's `metric` events in the order counted; fn
 * returning non-zero stops and is returned. Strings live during the call. */
typedef int (*store_hist_fn)(void *ud, const store_hist_entry *h);
int store_hist_each(store *s, const char *partner, const char *metric, store_hist_fn fn, void *ud,
                    td_error *err);
/* Whether the version added at `added` is in the history (it is not once
 * its partner was deleted). */
int store_hist_exists(store *s, const char *partner, const char *metric, uint64_t added,
                      bool *exists, td_error *err);
/* Forgets a deleted partner's history. */
int store_hist_drop_partner(store *s, const char *partner, td_error *err);

/* ---- change log: sequence -> encoded tierd.TierChange ---- */
/* Appends a change and returns its sequence number (1, 2, ...). The record
 * is `pb` with nothing rewritten; the caller puts the sequence into it. */
int store_next_sequence(store *s, uint64_t *seq);
int store_put_change(store *s, uint64_t seq, const char *partner, const uint8_t *pb, size_t len,
                     td_error *err);
/* The open transaction's last handed-out sequence, else the committed one. */
uint64_t store_last_sequence(store *s);
/* Changes with sequence > since, in order, at most limit (0 = no limit). */
int store_each_change_since(store *s, uint64_t since, size_t limit,
                            int (*fn)(void *ud, uint64_t seq, const uint8_t *pb, size_t len),
                            void *ud, td_error *err);
/* One partner's changes, newest first, at most limit (0 = no limit). */
int store_each_partner_change(store *s, const char *partner, size_t limit,
                              int (*fn)(void *ud, uint64_t seq, const uint8_t *pb, size_t len),
                              void *ud, td_error *err);

/* ---- program versions: load order -> encoded tierd.ProgramVersion ---- */
int store_put_program(store *s, uint64_t *index_out, const uint8_t *pb, size_t len, td_error *err);
int store_each_program(store *s, int (*fn)(void *ud, uint64_t index, const uint8_t *pb, size_t len),
                       void *ud, td_error *err);
/* Copies version `index` into a malloc'd buffer; TD_NOT_FOUND when absent. */
int store_get_program(store *s, uint64_t index, uint8_t **pb, size_t *len, td_error *err);

/* ---- connector cursors: connector name -> opaque string ---- */
int store_put_cursor(store *s, const char *connector, const char *cursor, td_error *err);
/* *cursor is malloc'd; NULL when none was committed. */
int store_get_cursor(store *s, const char *connector, char **cursor, td_error *err);

/* ---- KPI history (docs/kpi.md): boundary instant -> encoded tierd.KpiSnapshot ---- */
/* Writes (or replaces) the snapshot of boundary `at` (> 0) in the turn. */
int store_put_kpi(store *s, int64_t at, const uint8_t *pb, size_t len, td_error *err);
typedef int (*store_kpi_fn)(void *ud, int64_t at, const uint8_t *pb, size_t len);
/* Snapshots with from <= at <= to (to 0: no end) in time order; fn
 * returning non-zero stops and is returned. */
int store_each_kpi(store *s, int64_t from, int64_t to, store_kpi_fn fn, void *ud, td_error *err);
/* Snapshots with at < before (before 0: all), newest first, at most limit
 * (0: no limit). */
int store_each_kpi_before(store *s, int64_t before, size_t limit, store_kpi_fn fn, void *ud,
                          td_error *err);
/* A partner's event count at the last snapshot and whether it was active
 * in the period that snapshot closed; *found false when never recorded. */
int store_get_kpi_activity(store *s, const char *partner, uint64_t *events, bool *active,
                           bool *found, td_error *err);
int store_put_kpi_activity(store *s, const char *partner, uint64_t events, bool active,
                           td_error *err);

/* ---- webhooks (webhooks.h): three tables of opaque records ----
 * OUTBOX: deliveries not yet acknowledged, DEAD: dead letters, both keyed
 * endpoint "\0" be64 seq; NOTICE: per partner and ladder, what was last
 * told (approval waiting, at-risk date). Written in the turn's transaction,
 * so a delivery is stored with the change it reports. */
typedef enum store_wh_table {
    STORE_WH_OUTBOX = 0,
    STORE_WH_DEAD = 1,
    STORE_WH_NOTICE = 2,
} store_wh_table;
#define STORE_WH_TABLES 3
int store_wh_put(store *s, store_wh_table t, const void *key, size_t klen, const uint8_t *val,
                 size_t len, td_error *err);
/* TD_NOT_FOUND when the key is not there (the turn stays good). */
int store_wh_del(store *s, store_wh_table t, const void *key, size_t klen, td_error *err);
/* *val malloc'd; TD_NOT_FOUND when absent. */
int store_wh_get(store *s, store_wh_table t, const void *key, size_t klen, uint8_t **val,
                 size_t *len, td_error *err);
/* Records with key >= from (from_len 0: all) in key order; fn returning
 * non-zero stops and is returned. Pointers live during the call. */
typedef int (*store_wh_fn)(void *ud, const void *key, size_t klen, const uint8_t *val, size_t len);
int store_wh_each(store *s, store_wh_table t, const void *from, size_t from_len, store_wh_fn fn,
                  void *ud, td_error *err);
uint64_t store_wh_count(store *s, store_wh_table t);

/* ---- small named values (clock, counters) ---- */
int store_put_meta(store *s, const char *name, const uint8_t *val, size_t len, td_error *err);
int store_get_meta(store *s, const char *name, uint8_t **val, size_t *len, td_error *err);

/* ---- events in key order (export) ----
 * key/key_len: the record's key, to resume after; source and id as C
 * strings; meta and the encoded event of the version counted. The
 * pointers live only during the call. fn returning 1 stops quietly, other
 * non-zero stops and is returned. */
typedef int (*store_event_fn)(void *ud, const void *key, size_t key_len, const char *source,
                              const char *id, const store_event_meta *meta, const uint8_t *pb,
                              size_t len);
/* Event records with keys after `after` (after_len 0: from the first). */
int store_each_event(store *s, const void *after, size_t after_len, store_event_fn fn, void *ud,
                     td_error *err);

/* ---- copies: backup and restore (docs/tierd.md, "Backup and restore") ---- */
/* While held (set on the loop's thread), the map neither grows nor is
 * reopened, so another thread may read the environment (store_copy_compact).
 * A write that needs a bigger map fails TD_RESOURCE_EXHAUSTED meanwhile. */
void store_hold_map(store *s, bool hold);
/* 0 when there is an environment to copy (call on the loop's thread). */
int store_copy_ready(const store *s, td_error *err);
/* Writes a compacted copy of the last committed state to fd; blocks (run
 * it off the loop with the map held). Safe beside the loop's reads and
 * writes. */
int store_copy_compact(store *s, int fd, td_error *err);
/* What a store file holds. */
typedef struct store_file_info {
    uint64_t size;
    uint32_t format;
    uint64_t last_sequence; /* the last tier change */
    uint64_t events, partners;
} store_file_info;
/* Checks that path is a whole tierd store this tierd reads (an LMDB file,
 * not cut short, with tierd's databases and a format it knows, every
 * record readable) and fills *info. Errors name the file and what is
 * wrong: not LMDB / not tierd -> TD_INVALID_ARGUMENT, truncated or damaged
 * -> TD_DATA_LOSS, a newer format -> TD_FAILED_PRECONDITION. */
int store_file_inspect(const char *path, store_file_info *info, td_error *err);
/* Puts the store file `file` in place as dir's store: checks it
 * (store_file_inspect), takes dir's lock (TD_UNAVAILABLE naming the PID
 * when a tierd runs there), refuses a dir already holding a store unless
 * force (TD_ALREADY_EXISTS), then copies it beside the store, fsyncs and
 * renames it over, so dir holds the old store or the new one, never half. */
int store_install_copy(const char *file, const char *dir, bool force, store_file_info *info,
                       td_error *err);

#endif
