/* The durable store: every fact tierd acknowledged, in one LMDB environment.
 *
 * Layout. The state dir holds `tierd.lock` (our single-instance lock, with
 * the owner's PID in it), `tierd.mdb` (the LMDB data file, opened with
 * MDB_NOSUBDIR) and `tierd.mdb-lock` (LMDB's reader table), each mode 0600
 * whatever the umask (older files are narrowed at open). Named databases:
 *   meta            name -> small value ("format" u32, "sequence" u64, ...)
 *   partners        partner id -> engine blob
 *   events          source "\0" id -> encoded tierd.Event (idempotency keys;
 *                   they never expire)
 *   changes         sequence (be64) -> encoded tierd.TierChange
 *   partner_changes partner "\0" sequence (be64) -> empty (per-partner index)
 *   programs        load index (be64, from 1) -> encoded tierd.ProgramVersion
 *   cursors         connector name -> opaque cursor string
 * Integers in keys are big-endian so LMDB's byte order is numeric order.
 *
 * Promises. A commit fsyncs (unless store_options.no_sync, for benches and
 * tests), so an acknowledged fact survives kill -9 and power loss; a failed
 * put or commit leaves the store exactly as it was before store_begin, so a
 * fact is never counted twice or half-written. One process owns a state dir:
 * we take an exclusive flock on tierd.lock before touching the environment,
 * because LMDB's own lock file lets several processes in. The lock is per
 * open file description, so even a second store_open in the same process is
 * refused.
 *
 * Failure. After a failed write the LMDB transaction is unusable, so we abort
 * it at once and every later write of the same turn fails with the same error
 * until store_abort or store_commit ends the turn. Reads keep serving the
 * last committed state. A full map is reported as TD_RESOURCE_EXHAUSTED; when
 * store_options.map_max allows, the next store_begin grows the map (LMDB can
 * only resize while no transaction is open), so the caller's retry can
 * succeed without a reopen. A state dir we cannot write (or
 * store_options.read_only) opens the environment MDB_RDONLY: reads work,
 * every write fails TD_UNAVAILABLE. root passes access(W_OK) on any dir, so
 * for root only a read-only filesystem or the option makes the store
 * read-only.
 *
 * Not here: meaning. The store never decodes blobs or protobufs; the engine
 * and handlers validate content, the store validates sizes. */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define STORE_DATA_FILE     "tierd.mdb"
#define STORE_LOCK_FILE     "tierd.lock"
#define STORE_MAX_DBS       16
#define STORE_MAX_KEY       511        /* LMDB's default maximum key size */
#define STORE_MAX_VALUE     (1u << 30) /* far above any record; guards size_t -> LMDB */
#define STORE_FILE_MODE     0600       /* every partner's facts: the daemon's user only */
#define STORE_FILE_PERMS    0777
#define STORE_DISK_LOW      ((unsigned long long)1 << 20) /* free bytes under which EIO means full */
#define STORE_PID_MAX       32
#define STORE_GROW_NUM      3 /* grow once the map is more than 3/4 used */
#define STORE_GROW_DEN      4
#define STORE_META_FORMAT   "format"
#define STORE_META_SEQUENCE "sequence"
#define STORE_META_ILOG     "ilog_sequence"
/* A partner record from format 2 on: magic, the ingest-log position it
 * includes, then the engine blob. Format 1 records are the blob alone (an
 * engine blob starts with a small version number, never this magic). */
#define STORE_PARTNER_MAGIC     "TDP2"
#define STORE_PARTNER_MAGIC_LEN 4
#define STORE_PARTNER_HEAD      (STORE_PARTNER_MAGIC_LEN + STORE_SEQ_BYTES)
#define STORE_SEQ_BYTES         8

struct store {
    char *dir;
    MDB_env *env;
    MDB_dbi meta, partners, events, changes, partner_changes, programs, cursors, ilog;
    /* KPI history (issue 13): snapshots by boundary instant, and each
     * partner's event count at the last snapshot. Absent from a read-only
     * store written before they existed (has_kpi false): read as empty. */
    MDB_dbi kpi, kpi_activity;
    bool has_kpi;
    MDB_dbi event_history; /* corrections: partner, event name, position -> body */
    /* Webhooks (webhooks.h): outbox, dead letters, notices sent. Absent
     * from a read-only store written before they existed: read as empty. */
    MDB_dbi wh[STORE_WH_TABLES];
    bool has_wh;

    MDB_txn *wtxn;      /* the open write transaction, if any */
    uint64_t txn_bytes; /* key and value bytes it has put */
    MDB_txn *rtxn;      /* a reset read transaction kept for renewal */
    int rdepth;         /* nested reads sharing the renewed rtxn */
    bool read_only;
    bool no_sync;
    int lock_fd;

    uint64_t seq_committed, seq_txn;
    uint64_t ilog_committed, ilog_txn; /* last ingest-log position handed out */

    bool failed; /* the turn's write transaction was lost */
    td_error fail_err;

    size_t map_size, map_max;
    bool grow_wanted;
    /* Another thread reads the environment (a backup copy): the map may
     * neither move (grow) nor be closed (reopen) until it is done. Set and
     * read on the loop's thread only. */
    bool map_held;
};

/* ---- helpers ---- */

static void be64_put(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t be64_get(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

/* LMDB reports a short write as EIO, and a full disk cuts a large write
 * short rather than failing it: EIO on a filesystem with (next to) no room
 * left is a full disk. Root may use the blocks reserved for it, so for
 * root only those count. */
static bool disk_is_full(const store *s)
{
    struct statvfs v;
    if (statvfs(s->dir, &v) != 0)
        return false;
    unsigned long long blocks = geteuid() == 0 ? v.f_bfree : v.f_bavail;
    return blocks * v.f_frsize < STORE_DISK_LOW;
}

/* Maps an LMDB or errno result to the one error type, naming the dir. */
static int store_error(const store *s, int rc, const char *what, td_error *err)
{
    const char *why = mdb_strerror(rc);
    if (rc == EIO && disk_is_full(s)) {
        rc = ENOSPC;
        why = "no space left on the device (a write was cut short)";
    }
    switch (rc) {
    case ENOSPC:
    case EDQUOT:
        return td_error_set(err, TD_RESOURCE_EXHAUSTED,
                            "disk full: state dir %s has no room left: %s: %s", s->dir, what, why);
    case MDB_MAP_FULL:
    case MDB_TXN_FULL:
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "state dir %s is full: %s: %s", s->dir,
                            what, why);
    case EROFS:
    case EACCES:
    case EPERM:
        return td_error_set(err, TD_UNAVAILABLE, "state dir %s is read-only: %s: %s", s->dir, what,
                            why);
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
        return td_error_set(err, TD_DATA_LOSS, "state dir %s is damaged: %s: %s", s->dir, what,
                            why);
    default:
        return td_error_set(err, TD_INTERNAL, "state dir %s: %s: %s", s->dir, what, why);
    }
}

static int check_key(const char *kind, const char *key, size_t extra, td_error *err)
{
    if (!key || !*key)
        return td_error_set(err, TD_INVALID_ARGUMENT, "store: %s is empty", kind);
    size_t n = strlen(key);
    if (n + extra > STORE_MAX_KEY)
        return td_error_set(err, TD_INVALID_ARGUMENT, "store: %s is %zu bytes; the limit is %d",
                            kind, n, (int)(STORE_MAX_KEY - extra));
    return 0;
}

static int check_value(const char *kind, const uint8_t *v, size_t len, td_error *err)
{
    if (!v && len)
        return td_error_set(err, TD_INVALID_ARGUMENT, "store: %s has no bytes", kind);
    if (len > STORE_MAX_VALUE)
        return td_error_set(err, TD_INVALID_ARGUMENT, "store: %s is %zu bytes; the limit is %u",
                            kind, len, STORE_MAX_VALUE);
    return 0;
}

/* source "\0" id, or partner "\0" be64: one buffer of STORE_MAX_KEY bytes. */
static size_t join_key(uint8_t *buf, const char *a, const void *b, size_t blen)
{
    size_t n = strlen(a);
    memcpy(buf, a, n);
    buf[n] = 0;
    memcpy(buf + n + 1, b, blen);
    return n + 1 + blen;
}

/* ---- read transactions ---- */

static int reopen_env(store *s, td_error *err);

static void drop_rtxn(store *s)
{
    if (s->rtxn) {
        mdb_txn_abort(s->rtxn);
        s->rtxn = NULL;
        s->rdepth = 0;
    }
}

/* Reads inside a write turn see its writes; otherwise one short read txn,
 * renewed from the reset one so it costs no allocation. */
static int read_begin(store *s, MDB_txn **txn, td_error *err)
{
    if (s->wtxn) {
        *txn = s->wtxn;
        return 0;
    }
    if (s->rdepth > 0) {
        s->rdepth++;
        *txn = s->rtxn;
        return 0;
    }
    int rc;
    if (!s->env && (rc = reopen_env(s, err)) != 0)
        return rc;
    if (s->rtxn)
        rc = mdb_txn_renew(s->rtxn);
    else
        rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &s->rtxn);
    if (rc == MDB_PANIC) {
        drop_rtxn(s);
        if ((rc = reopen_env(s, err)) != 0)
            return rc;
        rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &s->rtxn);
    }
    if (rc) {
        if (s->rtxn) {
            mdb_txn_abort(s->rtxn);
            s->rtxn = NULL;
        }
        return store_error(s, rc, "starting a read", err);
    }
    s->rdepth = 1;
    *txn = s->rtxn;
    return 0;
}

static void read_end(store *s, MDB_txn *txn)
{
    if (txn == s->wtxn)
        return;
    if (--s->rdepth == 0)
        mdb_txn_reset(s->rtxn);
}

/* ---- write helpers ---- */

static int write_ready(store *s, td_error *err)
{
    if (s->failed)
        return td_error_set(err, s->fail_err.code, "%s", s->fail_err.message);
    if (s->read_only)
        return td_error_set(err, TD_UNAVAILABLE, "state dir %s is read-only", s->dir);
    if (!s->wtxn)
        return td_error_set(err, TD_FAILED_PRECONDITION,
                            "store: write outside a transaction (call store_begin)");
    return 0;
}

/* The transaction is dead after a failed write: drop it now and remember why,
 * so the rest of the turn fails the same way instead of writing half. */
static int write_failed(store *s, int rc, const char *what, td_error *err)
{
    store_error(s, rc, what, &s->fail_err);
    if (rc == MDB_MAP_FULL && s->map_size < s->map_max)
        s->grow_wanted = true;
    mdb_txn_abort(s->wtxn);
    s->wtxn = NULL;
    s->seq_txn = s->seq_committed;
    s->ilog_txn = s->ilog_committed;
    s->failed = true;
    return td_error_set(err, s->fail_err.code, "%s", s->fail_err.message);
}

/* Every write of the open transaction goes through here, so the bytes a
 * commit writes are known (store_txn_bytes). */
static int wput(store *s, MDB_dbi dbi, MDB_val *k, MDB_val *v, unsigned flags)
{
    int rc = mdb_put(s->wtxn, dbi, k, v, flags);
    if (rc == 0)
        s->txn_bytes += k->mv_size + v->mv_size;
    return rc;
}

static int put(store *s, MDB_dbi dbi, const void *k, size_t klen, const void *v, size_t vlen,
               unsigned flags, const char *what, td_error *err)
{
    MDB_val key = {klen, (void *)k}, val = {vlen, (void *)v};
    int rc = wput(s, dbi, &key, &val, flags);
    if (rc)
        return write_failed(s, rc, what, err);
    return 0;
}

/* Whether key is in dbi (*found), in its own read transaction. */
static int key_exists(store *s, MDB_dbi dbi, const void *k, size_t klen, const char *what,
                      bool *found, td_error *err)
{
    *found = false;
    MDB_txn *txn = NULL; /* read_begin sets it; -O3 cannot always tell */
    int rc = read_begin(s, &txn, err);
    if (rc)
        return rc;
    MDB_val key = {klen, (void *)k}, val;
    rc = mdb_get(txn, dbi, &key, &val);
    read_end(s, txn);
    if (rc == 0)
        *found = true;
    else if (rc != MDB_NOTFOUND)
        return store_error(s, rc, what, err);
    return 0;
}

/* Copies the value under key into a malloc'd buffer; TD_NOT_FOUND if absent. */
static int get_copy(store *s, MDB_dbi dbi, const void *k, size_t klen, uint8_t **out, size_t *len,
                    const char *what, td_error *err)
{
    MDB_txn *txn = NULL; /* read_begin sets it; -O3 cannot always tell */
    int rc = read_begin(s, &txn, err);
    if (rc)
        return rc;
    MDB_val key = {klen, (void *)k}, val;
    rc = mdb_get(txn, dbi, &key, &val);
    if (rc == MDB_NOTFOUND) {
        read_end(s, txn);
        return td_error_set(err, TD_NOT_FOUND, "store: no %s", what);
    }
    if (rc) {
        read_end(s, txn);
        return store_error(s, rc, what, err);
    }
    uint8_t *copy = malloc(val.mv_size ? val.mv_size : 1);
    if (!copy) {
        read_end(s, txn);
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "store: out of memory reading %s", what);
    }
    memcpy(copy, val.mv_data, val.mv_size);
    read_end(s, txn);
    *out = copy;
    *len = val.mv_size;
    return 0;
}

/* ---- single-instance lock ---- */

static int lock_dir(store *s, td_error *err)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", s->dir, STORE_LOCK_FILE) >= (int)sizeof path)
        return td_error_set(err, TD_INVALID_ARGUMENT, "state dir %s: path too long", s->dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, STORE_FILE_MODE);
    if (fd < 0 && (errno == EROFS || errno == EACCES || errno == EPERM)) {
        /* A read-only dir: lock the file if it is there, else nobody can
         * write here anyway. */
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT) {
            s->read_only = true;
            return 0;
        }
        s->read_only = true;
    }
    if (fd < 0)
        return store_error(s, errno, "opening " STORE_LOCK_FILE, err);
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char pid[STORE_PID_MAX] = {0};
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        close(fd);
        if (e != EWOULDBLOCK)
            return store_error(s, e, "locking " STORE_LOCK_FILE, err);
        pid[n > 0 ? n : 0] = 0;
        pid[strcspn(pid, "\n")] = 0;
        return td_error_set(err, TD_UNAVAILABLE, "state dir %s is in use by pid %s", s->dir,
                            *pid ? pid : "(unknown)");
    }
    if (!s->read_only) {
        /* An older tierd created it 0644. */
        if (fchmod(fd, STORE_FILE_MODE) != 0) {
            int e = errno;
            close(fd);
            return store_error(s, e, "narrowing " STORE_LOCK_FILE " to owner only", err);
        }
        char pid[STORE_PID_MAX];
        int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
        if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
            int e = errno;
            close(fd);
            return store_error(s, e, "writing " STORE_LOCK_FILE, err);
        }
    }
    s->lock_fd = fd;
    return 0;
}

/* ---- open ---- */

static int open_dbs(store *s, MDB_txn *txn, unsigned flags, td_error *err)
{
    struct {
        const char *name;
        MDB_dbi *dbi;
    } dbs[] = {
        {"meta", &s->meta},
        {"partners", &s->partners},
        {"events", &s->events},
        {"changes", &s->changes},
        {"partner_changes", &s->partner_changes},
        {"programs", &s->programs},
        {"cursors", &s->cursors},
        {"ilog", &s->ilog},
        {"kpi", &s->kpi},
        {"kpi_activity", &s->kpi_activity},
        {"event_history", &s->event_history},
        {"wh_outbox", &s->wh[STORE_WH_OUTBOX]},
        {"wh_dead", &s->wh[STORE_WH_DEAD]},
        {"wh_notice", &s->wh[STORE_WH_NOTICE]},
    };
    s->has_kpi = true;
    s->has_wh = true;
    for (size_t i = 0; i < sizeof dbs / sizeof dbs[0]; i++) {
        int rc = mdb_dbi_open(txn, dbs[i].name, flags, dbs[i].dbi);
        if (rc == MDB_NOTFOUND && (dbs[i].dbi == &s->kpi || dbs[i].dbi == &s->kpi_activity)) {
            s->has_kpi = false;
            continue;
        }
        if (rc == MDB_NOTFOUND && dbs[i].dbi >= &s->wh[0] && dbs[i].dbi < &s->wh[STORE_WH_TABLES]) {
            s->has_wh = false;
            continue;
        }
        if (rc == MDB_NOTFOUND)
            return td_error_set(err, TD_UNAVAILABLE,
                                "state dir %s is read-only and holds no tierd store", s->dir);
        if (rc) {
            char what[64];
            snprintf(what, sizeof what, "opening database %s", dbs[i].name);
            return store_error(s, rc, what, err);
        }
    }
    return 0;
}

/* Checks (and on a fresh store, records) the format; loads the sequence. */
static int load_meta(store *s, MDB_txn *txn, bool writable, td_error *err)
{
    MDB_val key = {strlen(STORE_META_FORMAT), STORE_META_FORMAT}, val;
    int rc = mdb_get(txn, s->meta, &key, &val);
    if (rc == MDB_NOTFOUND) {
        if (!writable)
            return td_error_set(err, TD_UNAVAILABLE,
                                "state dir %s is read-only and holds no tierd store", s->dir);
        uint8_t v[4] = {0, 0, 0, STORE_FORMAT_VERSION};
        MDB_val nv = {sizeof v, v};
        rc = mdb_put(txn, s->meta, &key, &nv, 0);
        if (rc)
            return store_error(s, rc, "recording the format version", err);
    } else if (rc) {
        return store_error(s, rc, "reading the format version", err);
    } else {
        if (val.mv_size != 4)
            return td_error_set(err, TD_DATA_LOSS,
                                "state dir %s: format version record is %zu bytes, not 4", s->dir,
                                val.mv_size);
        const uint8_t *p = val.mv_data;
        uint32_t format = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        if (format > STORE_FORMAT_VERSION)
            return td_error_set(err, TD_FAILED_PRECONDITION,
                                "state dir %s was written by store format %" PRIu32
                                "; this tierd reads format %d and older",
                                s->dir, format, STORE_FORMAT_VERSION);
        if (format == 0)
            return td_error_set(err, TD_DATA_LOSS, "state dir %s: format version 0 is invalid",
                                s->dir);
        /* Format 1 becomes 2 with nothing rewritten: its partner records
         * (no stamp) read as including no ingest log, and the log is new.
         * The record says 2 so that a 0.1 tierd refuses the store rather
         * than read a stamped record as a damaged blob. Format 2 becomes 3
         * the same way (its records decode as they are), so that a tierd of
         * format 2 refuses a store holding demotion-review records. */
        if (format < STORE_FORMAT_VERSION && writable) {
            uint8_t v[4] = {0, 0, 0, STORE_FORMAT_VERSION};
            MDB_val nv = {sizeof v, v};
            rc = mdb_put(txn, s->meta, &key, &nv, 0);
            if (rc)
                return store_error(s, rc, "recording the format version", err);
        }
    }
    key = (MDB_val){strlen(STORE_META_SEQUENCE), STORE_META_SEQUENCE};
    rc = mdb_get(txn, s->meta, &key, &val);
    if (rc == MDB_NOTFOUND) {
        s->seq_committed = 0;
    } else if (rc) {
        return store_error(s, rc, "reading the last sequence", err);
    } else if (val.mv_size != STORE_SEQ_BYTES) {
        return td_error_set(err, TD_DATA_LOSS, "state dir %s: sequence record is %zu bytes, not %d",
                            s->dir, val.mv_size, STORE_SEQ_BYTES);
    } else {
        s->seq_committed = be64_get(val.mv_data);
    }
    key = (MDB_val){strlen(STORE_META_ILOG), STORE_META_ILOG};
    rc = mdb_get(txn, s->meta, &key, &val);
    if (rc == MDB_NOTFOUND) {
        s->ilog_committed = 0;
    } else if (rc) {
        return store_error(s, rc, "reading the ingest log position", err);
    } else if (val.mv_size != STORE_SEQ_BYTES) {
        return td_error_set(err, TD_DATA_LOSS,
                            "state dir %s: ingest log position is %zu bytes, not %d", s->dir,
                            val.mv_size, STORE_SEQ_BYTES);
    } else {
        s->ilog_committed = be64_get(val.mv_data);
    }
    s->seq_txn = s->seq_committed;
    s->ilog_txn = s->ilog_committed;
    return 0;
}

/* Files created now get STORE_FILE_MODE from the open; files an older
 * tierd created 0644 are narrowed here. path is the data file. */
static int narrow_files(store *s, const char *path, td_error *err)
{
    char lock[PATH_MAX + sizeof "-lock"];
    snprintf(lock, sizeof lock, "%s-lock", path);
    const char *files[] = {path, lock};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        struct stat st;
        if (stat(files[i], &st) != 0 || (st.st_mode & STORE_FILE_PERMS) == STORE_FILE_MODE)
            continue;
        if (chmod(files[i], STORE_FILE_MODE) != 0)
            return store_error(s, errno, "narrowing the store's files to owner only", err);
    }
    return 0;
}

static int open_env_inner(store *s, td_error *err)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", s->dir, STORE_DATA_FILE) >= (int)sizeof path)
        return td_error_set(err, TD_INVALID_ARGUMENT, "state dir %s: path too long", s->dir);
    int rc = mdb_env_create(&s->env);
    if (rc)
        return store_error(s, rc, "creating the environment", err);
    mdb_env_set_maxdbs(s->env, STORE_MAX_DBS);
    mdb_env_set_mapsize(s->env, s->map_size);
    /* NOTLS: the kept read txn and the write txn live on one thread. When
     * read-only we hold the only flock, so LMDB's reader table (which a
     * read-only dir could not hold anyway) is not needed. */
    unsigned flags = MDB_NOSUBDIR | MDB_NOTLS;
    if (s->no_sync)
        flags |= MDB_NOSYNC;
    if (s->read_only)
        flags |= MDB_RDONLY | MDB_NOLOCK;
    rc = mdb_env_open(s->env, path, flags, STORE_FILE_MODE);
    if (rc == ENOENT && s->read_only)
        return td_error_set(err, TD_UNAVAILABLE,
                            "state dir %s is read-only and holds no tierd store", s->dir);
    if (rc)
        return store_error(s, rc, "opening " STORE_DATA_FILE, err);
    if (!s->read_only && (rc = narrow_files(s, path, err)) != 0)
        return rc;
    MDB_envinfo info;
    if (mdb_env_info(s->env, &info) == 0 && info.me_mapsize > s->map_size)
        s->map_size = info.me_mapsize;
    if (s->map_max < s->map_size)
        s->map_max = s->map_size;

    MDB_txn *txn = NULL; /* read_begin sets it; -O3 cannot always tell */
    rc = mdb_txn_begin(s->env, NULL, s->read_only ? MDB_RDONLY : 0, &txn);
    if (rc)
        return store_error(s, rc, "starting the opening transaction", err);
    rc = open_dbs(s, txn, s->read_only ? 0 : MDB_CREATE, err);
    if (rc == 0)
        rc = load_meta(s, txn, !s->read_only, err);
    if (rc) {
        mdb_txn_abort(txn);
        return rc;
    }
    rc = mdb_txn_commit(txn);
    if (rc)
        return store_error(s, rc, "committing the opening transaction", err);
    return 0;
}

/* On failure no half-open environment is left behind: s->env is NULL, and
 * reads and writes report the store unavailable until a reopen works. */
static int open_env(store *s, td_error *err)
{
    int rc = open_env_inner(s, err);
    if (rc && s->env) {
        mdb_env_close(s->env);
        s->env = NULL;
    }
    return rc;
}

int store_open(const char *dir, const store_options *opt, store **out, td_error *err)
{
    *out = NULL;
    if (!dir || !*dir)
        return td_error_set(err, TD_INVALID_ARGUMENT, "store: no state dir given");
    store *s = calloc(1, sizeof *s);
    if (!s || !(s->dir = strdup(dir))) {
        free(s);
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "store: out of memory");
    }
    s->lock_fd = -1;
    s->map_size = opt && opt->map_size ? opt->map_size : STORE_DEFAULT_MAP_SIZE;
    s->map_max = opt ? opt->map_max : 0;
    s->read_only = (opt && opt->read_only) || access(dir, W_OK) != 0;
    s->no_sync = opt && opt->no_sync;

    struct stat st;
    int rc;
    if (stat(dir, &st) != 0)
        rc = store_error(s, errno, "reading the state dir", err);
    else if (!S_ISDIR(st.st_mode))
        rc = td_error_set(err, TD_INVALID_ARGUMENT, "state dir %s is not a directory", dir);
    else
        rc = lock_dir(s, err);
    if (rc == 0)
        rc = open_env(s, err);
    if (rc) {
        store_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

void store_close(store *s)
{
    if (!s)
        return;
    if (s->wtxn)
        mdb_txn_abort(s->wtxn);
    drop_rtxn(s);
    if (s->env)
        mdb_env_close(s->env);
    if (s->lock_fd >= 0)
        close(s->lock_fd); /* releases the flock */
    free(s->dir);
    free(s);
}

/* ---- transactions ---- */

/* Resizing needs no open transaction in this process, so it happens here,
 * between turns: when the map is mostly used or the last turn hit its end. */
static void maybe_grow(store *s)
{
    if (s->map_size >= s->map_max || s->map_held)
        return;
    MDB_envinfo info;
    MDB_stat st;
    if (mdb_env_info(s->env, &info) != 0 || mdb_env_stat(s->env, &st) != 0)
        return;
    size_t used = ((size_t)info.me_last_pgno + 1) * st.ms_psize;
    if (!s->grow_wanted && used <= s->map_size / STORE_GROW_DEN * STORE_GROW_NUM)
        return;
    size_t next = s->map_size * 2;
    if (next > s->map_max || next < s->map_size)
        next = s->map_max;
    drop_rtxn(s);
    if (mdb_env_set_mapsize(s->env, next) == 0)
        s->map_size = next;
    s->grow_wanted = false;
}

/* LMDB marks the environment unusable (MDB_PANIC) when it could not write
 * a meta page, e.g. on a full disk. The data file still holds the last
 * committed state, so reopening the environment (keeping our flock) brings
 * writes back once space returns, with no restart of the daemon. */
static int reopen_env(store *s, td_error *err)
{
    if (s->map_held)
        return td_error_set(err, TD_UNAVAILABLE,
                            "state dir %s: the store cannot be reopened while a backup is being "
                            "copied; try again when it is done",
                            s->dir);
    drop_rtxn(s);
    if (s->env)
        mdb_env_close(s->env);
    s->env = NULL;
    return open_env(s, err);
}

int store_begin(store *s, td_error *err)
{
    if (s->failed)
        return td_error_set(err, s->fail_err.code, "%s", s->fail_err.message);
    if (s->wtxn)
        return 0;
    if (s->read_only)
        return td_error_set(err, TD_UNAVAILABLE, "state dir %s is read-only", s->dir);
    if (!s->env) {
        int rc = reopen_env(s, err);
        if (rc)
            return rc;
    }
    if (s->rdepth == 0)
        maybe_grow(s);
    int rc = mdb_txn_begin(s->env, NULL, 0, &s->wtxn);
    if (rc == MDB_PANIC) {
        s->wtxn = NULL;
        rc = reopen_env(s, err);
        if (rc)
            return rc;
        rc = mdb_txn_begin(s->env, NULL, 0, &s->wtxn);
    }
    if (rc) {
        s->wtxn = NULL;
        return store_error(s, rc, "starting a write", err);
    }
    s->seq_txn = s->seq_committed;
    s->ilog_txn = s->ilog_committed;
    s->txn_bytes = 0;
    return 0;
}

bool store_in_txn(const store *s)
{
    return s->wtxn != NULL;
}

uint64_t store_txn_bytes(const store *s)
{
    return s->wtxn ? s->txn_bytes : 0;
}

int store_get_usage(store *s, store_usage *out)
{
    memset(out, 0, sizeof *out);
    MDB_envinfo info;
    MDB_stat st;
    if (!s->env || mdb_env_info(s->env, &info) != 0 || mdb_env_stat(s->env, &st) != 0)
        return -1;
    out->used_bytes = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
    out->map_bytes = info.me_mapsize;
    char path[PATH_MAX];
    struct stat fs;
    if (snprintf(path, sizeof path, "%s/%s", s->dir, STORE_DATA_FILE) < (int)sizeof path &&
        stat(path, &fs) == 0)
        out->file_bytes = (uint64_t)fs.st_size;
    return 0;
}

int store_commit(store *s, td_error *err)
{
    if (s->failed) {
        /* The turn ends here; its transaction was already dropped. */
        int rc = td_error_set(err, s->fail_err.code, "%s", s->fail_err.message);
        s->failed = false;
        td_error_clear(&s->fail_err);
        return rc;
    }
    if (!s->wtxn)
        return 0;
    if (s->seq_txn != s->seq_committed) {
        uint8_t v[STORE_SEQ_BYTES];
        be64_put(v, s->seq_txn);
        int rc = put(s, s->meta, STORE_META_SEQUENCE, strlen(STORE_META_SEQUENCE), v, sizeof v, 0,
                     "recording the last sequence", err);
        if (rc) {
            s->failed = false;
            return rc;
        }
    }
    if (s->ilog_txn != s->ilog_committed) {
        uint8_t v[STORE_SEQ_BYTES];
        be64_put(v, s->ilog_txn);
        int rc = put(s, s->meta, STORE_META_ILOG, strlen(STORE_META_ILOG), v, sizeof v, 0,
                     "recording the ingest log position", err);
        if (rc) {
            s->failed = false;
            return rc;
        }
    }
    int rc = mdb_txn_commit(s->wtxn); /* frees the txn, success or not */
    s->wtxn = NULL;
    if (rc) {
        s->seq_txn = s->seq_committed;
        s->ilog_txn = s->ilog_committed;
        if (rc == MDB_MAP_FULL && s->map_size < s->map_max)
            s->grow_wanted = true;
        return store_error(s, rc, "committing", err);
    }
    s->seq_committed = s->seq_txn;
    s->ilog_committed = s->ilog_txn;
    return 0;
}

void store_abort(store *s)
{
    if (s->wtxn)
        mdb_txn_abort(s->wtxn);
    s->wtxn = NULL;
    s->seq_txn = s->seq_committed;
    s->ilog_txn = s->ilog_committed;
    s->failed = false;
    td_error_clear(&s->fail_err);
}

/* ---- partners ---- */

int store_put_partner(store *s, const char *id, const uint8_t *blob, size_t len, td_error *err)
{
    int rc = write_ready(s, err);
    if (rc == 0)
        rc = check_key("partner id", id, 0, err);
    if (rc == 0)
        rc = check_value("partner record", blob, len, err);
    if (rc)
        return rc;
    /* Reserved in place: a heavy partner's record is not copied twice. */
    MDB_val key = {strlen(id), (void *)id}, val = {STORE_PARTNER_HEAD + len, NULL};
    rc = wput(s, s->partners, &key, &val, MDB_RESERVE);
    if (rc)
        return write_failed(s, rc, "writing a partner", err);
    uint8_t *out = val.mv_data;
    memcpy(out, STORE_PARTNER_MAGIC, STORE_PARTNER_MAGIC_LEN);
    be64_put(out + STORE_PARTNER_MAGIC_LEN, s->ilog_txn);
    memcpy(out + STORE_PARTNER_HEAD, blob, len);
    return 0;
}

/* Splits a stored partner record into its ingest-log stamp and blob. */
static void partner_record(const uint8_t *v, size_t n, const uint8_t **blob, size_t *len,
                           uint64_t *applied)
{
    if (n >= STORE_PARTNER_HEAD && memcmp(v, STORE_PARTNER_MAGIC, STORE_PARTNER_MAGIC_LEN) == 0) {
        *applied = be64_get(v + STORE_PARTNER_MAGIC_LEN);
        *blob = v + STORE_PARTNER_HEAD;
        *len = n - STORE_PARTNER_HEAD;
    } else {
        *applied = 0;
        *blob = v;
        *len = n;
    }
}

int store_del_partner(store *s, const char *id, td_error *err)
{
    int rc = write_ready(s, err);
    if (rc == 0)
        rc = check_key("partner id", id, 0, err);
    if (rc)
        return rc;
    MDB_val key = {strlen(id), (void *)id};
    rc = mdb_del(s->wtxn, s->partners, &key, NULL);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return write_failed(s, rc, "deleting a partner", err);
    return 0;
}

int store_get_partner(store *s, const char *id, uint8_t **blob, size_t *len, td_error *err)
{
    int rc = check_key("partner id", id, 0, err);
    if (rc)
        return rc;
    uint8_t *rec = NULL;
    size_t n = 0;
    rc = get_copy(s, s->partners, id, strlen(id), &rec, &n, "partner", err);
    if (rc == -TD_NOT_FOUND)
        td_error_set(err, TD_NOT_FOUND, "store: no partner '%s'", id);
    if (rc)
        return rc;
    const uint8_t *b;
    uint64_t applied;
    partner_record(rec, n, &b, len, &applied);
    memmove(rec, b, *len);
    *blob = rec;
    return 0;
}

/* Walks dbi from `start` (NULL = first) in direction `op` calling visit for
 * each record; visit returns 1 to stop quietly, other non-zero to stop and
 * return it. */
typedef int (*store_visit)(void *ud, const MDB_val *k, const MDB_val *v);

static int walk(store *s, MDB_dbi dbi, const MDB_val *start, MDB_cursor_op first,
                MDB_cursor_op next, store_visit visit, void *ud, const char *what, td_error *err)
{
    MDB_txn *txn = NULL; /* read_begin sets it; -O3 cannot always tell */
    int rc = read_begin(s, &txn, err);
    if (rc)
        return rc;
    MDB_cursor *cur;
    rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc) {
        read_end(s, txn);
        return store_error(s, rc, what, err);
    }
    MDB_val k = start ? *start : (MDB_val){0, NULL}, v;
    int out = 0;
    rc = mdb_cursor_get(cur, &k, &v, first);
    while (rc == 0) {
        int r = visit(ud, &k, &v);
        if (r) {
            out = r == 1 ? 0 : r;
            break;
        }
        rc = mdb_cursor_get(cur, &k, &v, next);
    }
    if (rc && rc != MDB_NOTFOUND)
        out = store_error(s, rc, what, err);
    mdb_cursor_close(cur);
    read_end(s, txn);
    return out;
}

struct blob_walk {
    int (*fn)(void *ud, const uint8_t *blob, size_t len);
    store_partner_fn fn_stamped;
    void *ud;
    int rc;
};

static int visit_partner(void *ud, const MDB_val *k, const MDB_val *v)
{
    struct blob_walk *w = ud;
    const uint8_t *blob;
    size_t len;
    uint64_t applied;
    partner_record(v->mv_data, v->mv_size, &blob, &len, &applied);
    w->rc = w->fn ? w->fn(w->ud, blob, len)
                  : w->fn_stamped(w->ud, k->mv_data, k->mv_size, blob, len, applied);
    return w->rc ? 1 : 0;
}

int store_each_partner_stamped(store *s, store_partner_fn fn, void *ud, td_error *err)
{
    struct blob_walk w = {NULL, fn, ud, 0};
    int rc =
        walk(s, s->partners, NULL, MDB_FIRST, MDB_NEXT, visit_partner, &w, "reading partners", err);
    return rc ? rc : w.rc;
}

int store_each_partner(store *s, int (*fn)(void *ud, const uint8_t *blob, size_t len), void *ud,
                       td_error *err)
{
    struct blob_walk w = {fn, NULL, ud, 0};
    int rc =
        walk(s, s->partners, NULL, MDB_FIRST, MDB_NEXT, visit_partner, &w, "reading partners", err);
    return rc ? rc : w.rc;
}

int store_each_partner_batch(store *s, size_t batch, store_batch_fn fn, void *ud, td_error *err)
{
    if (!batch)
        batch = 1;
    store_partner_view *views = malloc(batch * sizeof *views);
    if (!views)
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "store: out of memory reading partners");
    MDB_txn *txn = NULL; /* read_begin sets it; -O3 cannot always tell */
    int rc = read_begin(s, &txn, err);
    if (rc) {
        free(views);
        return rc;
    }
    MDB_cursor *cur = NULL;
    int out = 0;
    rc = mdb_cursor_open(txn, s->partners, &cur);
    MDB_val k, v;
    size_t n = 0;
    if (rc == 0)
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == 0) {
        store_partner_view *pv = &views[n++];
        pv->id = k.mv_data;
        pv->id_len = k.mv_size;
        partner_record(v.mv_data, v.mv_size, &pv->blob, &pv->len, &pv->applied);
        if (n == batch && (out = fn(ud, views, n)) != 0)
            break;
        if (n == batch)
            n = 0;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    if (rc && rc != MDB_NOTFOUND)
        out = store_error(s, rc, "reading partners", err);
    else if (!out && n)
        out = fn(ud, views, n); /* the last, short batch, while the snapshot lives */
    if (cur)
        mdb_cursor_close(cur);
    read_end(s, txn);
    free(views);
    return out;
}

/* ---- ingest log: position -> (now, encoded tierd.Event) ---- */

int store_ilog_append(store *s, int64_t now, const uint8_t *pb, size_t len, uint64_t *pos,
                      td_error *err)
{
    int rc = write_ready(s, err);
    if (rc == 0)
        rc = check_value("ingest log entry", pb, len, err);
    if (rc)
        return rc;
    uint8_t key[STORE_SEQ_BYTES];
    be64_put(key, s->ilog_txn + 1);
    MDB_val k = {sizeof key, key}, v = {STORE_SEQ_BYTES + len, NULL};
    /* Positions only grow, so this is an append at the tree's right edge. */
    rc = wput(s, s->ilog, &k, &v, MDB_RESERVE | MDB_APPEND);
    if (rc)
        return write_failed(s, rc, "writing the ingest log", err);
    be64_put(v.mv_data, (uint64_t)now);
    memcpy((uint8_t *)v.mv_data + STORE_SEQ_BYTES, pb, len);
    *pos = ++s->ilog_txn;
    return 0;
}

uint64_t store_ilog_position(const store *s)
{
    return s->wtxn ? s->ilog_txn : s->ilog_committed;
}

struct ilog_walk {
    store_ilog_fn fn;
    void *ud;
    int rc;
};

static int visit_ilog(void *ud, const MDB_val *k, const MDB_val *v)
{
    struct ilog_walk *w = ud;
    if (k->mv_size != STORE_SEQ_BYTES || v->mv_size < STORE_SEQ_BYTES) {
        w->rc = -TD_DATA_LOSS;
        return 1;
    }
    const uint8_t *p = v->mv_data;
    w->rc = w->fn(w->ud, be64_get(k->mv_data), (int64_t)be64_get(p), p + STORE_SEQ_BYTES,
                  v->mv_size - STORE_SEQ_BYTES);
    return w->rc ? 1 : 0;
}

int store_ilog_each(store *s, uint64_t from, store_ilog_fn fn, void *ud, td_error *err)
{
    struct ilog_walk w = {fn, ud, 0};
    uint8_t key[STORE_SEQ_BYTES];
    be64_put(key, from);
    MDB_val start = {sizeof key, key};
    int rc = walk(s, s->ilog, from ? &start : NULL, from ? MDB_SET_RANGE : MDB_FIRST, MDB_NEXT,
                  visit_ilog, &w, "reading the ingest log", err);
    if (rc == 0 && w.rc == -TD_DATA_LOSS)
        return td_error_set(err, TD_DATA_LOSS, "state dir %s: an ingest log entry is damaged",
                            s->dir);
    return rc ? rc : w.rc;
}

int store_ilog_clear(store *s, td_error *err)
{
    int rc = write_ready(s, err);
    if (rc)
        return rc;
    rc = mdb_drop(s->wtxn, s->ilog, 0);
    if (rc)
        return write_failed(s, rc, "emptying the ingest log", err);
    return 0;
}

int store_ilog_trim(store *s, uint64_t upto, size_t max, bool *more, td_error *err)
{
    *more = false;
    int rc = write_ready(s, err);
    if (rc)
        return rc;
    MDB_cursor *cur;
    rc = mdb_cursor_open(s->wtxn, s->ilog, &cur);
    if (rc)
        return write_failed(s, rc, "trimming the ingest log", err);
    MDB_val k, v;
    size_t dropped = 0;
    while ((rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) == 0 && k.mv_size == STORE_SEQ_BYTES &&
           be64_get(k.mv_data) <= upto) {
        if (dropped == max) {
            *more = true;
            break;
        }
        if ((rc = mdb_cursor_del(cur, 0)) != 0)
            break;
        dropped++;
    }
    mdb_cursor_close(cur);
    if (rc && rc != MDB_NOTFOUND)
        return write_failed(s, rc, "trimming the ingest log", err);
    return 0;
}

/* ---- events ---- */

static int event_key(const char *source, const char *id, uint8_t *buf, size_t *klen, td_error *err)
{
    int rc = check_key("event source", source, 1, err);
    if (rc == 0)
        rc = check_key("event id", id, 0, err);
    if (rc == 0 && strlen(source) + 1 + strlen(id) > STORE_MAX_KEY)
        rc = td_error_set(err, TD_INVALID_ARGUMENT,
                          "store: event source and id together are %zu bytes; the limit is %d",
                          strlen(source) + strlen(id), STORE_MAX_KEY - 1);
    if (rc == 0)
        *klen = join_key(buf, source, id, strlen(id));
    return rc;
}

int store_event_seen(store *s, const char *source, const char *id, bool *seen, td_error *err)
{
    uint8_t key[STORE_MAX_KEY];
    size_t klen;
    *seen = false;
    int rc = event_key(source, id, key, &klen, err);
    if (rc)
        return rc;
    return key_exists(s, s->events, key, klen, "looking up an event", seen, err);
}

/* What writing an event record needs first: an open write, its key, a
 * value within bounds. */
static int event_write_key(store *s, const char *source, const char *id, const uint8_t *pb,
                           size_t len, uint8_t *key, size_t *klen, td_error *err)
{
    int rc = write_ready(s, err);
    if (rc == 0)
        rc = event_key(source, id, key, klen, err);
    if (rc == 0)
        rc = check_value("event", pb, len, err);
    return rc;
}

int store_put_event(store *s, const char *source, const char *id, const uint8_t *pb, size_t len,
                    td_error *err)
{
    uint8_t key[STORE_MAX_KEY];
    size_t klen;
    int rc = event_write_key(s, source, id, pb, len, key, &klen, err);
    if (rc)
        return rc;
    MDB_val k = {klen, key}, v = {len, (void *)pb};
    rc = wput(s, s->events, &k, &v, MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST)
        return td_error_set(err, TD_ALREADY_EXISTS, "store: event %s/%s was already accepted",
                            source, id);
    if (rc)
        return write_failed(s, rc, "writing an event", err);
    return 0;
}

/* An event record from corrections on: magic, the ingest-log position of
 * the version counted, its revision, a flag byte (1: retracted), then the
 * encoded event. Older records are the encoded event alone (position 0,
 * revision 0, counted); an encoded event never starts with the magic. */
#define STORE_EVENT_MAGIC     "TDE1"
#define STORE_EVENT_MAGIC_LEN 4
#define STORE_EVENT_HEAD      (STORE_EVENT_MAGIC_LEN + 2 * STORE_SEQ_BYTES + 1)

/* Splits a stored event record into its meta and encoded event. */
static void event_record(const uint8_t *v, size_t n, store_event_meta *meta, const uint8_t **pb,
                         size_t *len)
{
    *meta = (store_event_meta){0};
    *pb = v;
    *len = n;
    if (n >= STORE_EVENT_HEAD && memcmp(v, STORE_EVENT_MAGIC, STORE_EVENT_MAGIC_LEN) == 0) {
        meta->added = be64_get(v + STORE_EVENT_MAGIC_LEN);
        meta->revision = be64_get(v + STORE_EVENT_MAGIC_LEN + STORE_SEQ_BYTES);
        meta->retracted = v[STORE_EVENT_HEAD - 1] & 1;
        meta->kept = true;
        *pb = v + STORE_EVENT_HEAD;
        *len = n - STORE_EVENT_HEAD;
    }
}

int store_get_event(store *s, const char *source, const char *id, store_event_meta *meta,
                    uint8_t **pb, size_t *len, td_error *err)
{
    uint8_t key[STORE_MAX_KEY];
    size_t klen;
    int rc = event_key(source, id, key, &klen, err);
    if (rc)
        return rc;
    uint8_t *v = NULL;
    size_t n = 0;
    rc = get_copy(s, s->events, key, klen, &v, &n, "reading an event", err);
    if (rc)
        return rc;
    const uint8_t *body;
    size_t blen;
    event_record(v, n, meta, &body, &blen);
    memmove(v, body, blen);
    *pb = v;
    *len = blen;
    return 0;
}

int store_set_event(store *s, const char *source, const char *id, const store_event_meta *meta,
                    const uint8_t *pb, size_t len, td_error *err)
{
    uint8_t key[STORE_MAX_KEY];
    size_t klen;
    int rc = event_write_key(s, source, id, pb, len, key, &klen, err);
    if (rc)
        return rc;
    MDB_val k = {klen, key}, v = {STORE_EVENT_HEAD + len, NULL};
    rc = wput(s, s->events, &k, &v, MDB_RESERVE);
    if (rc)
        return write_failed(s, rc, "writing an event", err);
    uint8_t *out = v.mv_data;
    memcpy(out, STORE_EVENT_MAGIC, STORE_EVENT_MAGIC_LEN);
    be64_put(out + STORE_EVENT_MAGIC_LEN, meta->added);
    be64_put(out + STORE_EVENT_MAGIC_LEN + STORE_SEQ_BYTES, meta->revision);
    out[STORE_EVENT_HEAD - 1] = meta->retracted ? 1 : 0;
    memcpy(out + STORE_EVENT_HEAD, pb, len);
    return 0;
}

/* ---- event history: partner "\0" event "\0" be64(added) -> be64(retired),
 * value (IEEE bits, be64), be64(at), source "\0" id "\0" key ---- */

#define STORE_HIST_FIXED (3 * STORE_SEQ_BYTES)

static int hist_prefix(const char *partner, const char *metric, uint8_t *buf, size_t *n,
                       td_error *err)
{
    int rc = check_key("partner id", partner, 0, err);
    if (rc == 0)
        rc = check_key("event name", metric, 0, err);
    size_t pl = strlen(partner), ml = strlen(metric);
    if (rc == 0 && pl + ml + 2 + STORE_SEQ_BYTES > STORE_MAX_KEY)
        rc = td_error_set(err, TD_INVALID_ARGUMENT,
                          "store: partner id and event name together are %zu bytes", pl + ml);
    if (rc)
        return rc;
    memcpy(buf, partner, pl + 1);
    memcpy(buf + pl + 1, metric, ml + 1);
    *n = pl + ml + 2;
    return 0;
}

static uint64_t double_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

int store_hist_add(store *s, const store_hist_entry *h, td_error *err)
{
    uint8_t key[STORE_MAX_KEY];
    size_t kl;
    int rc = write_ready(s, err);
    if (rc == 0)
        rc = hist_prefix(h->partner, h->metric, key, &kl, err);
    if (rc)
        return rc;
    be64_put(key + kl, h->added);
    kl += STORE_SEQ_BYTES;
    size_t sl = strlen(h->source), il = strlen(h->id), yl = h->key ? strlen(h->key) : 0;
    size_t vlen = STORE_HIST_FIXED + sl + 1 + il + 1 + yl;
    MDB_val k = {kl, key}, v = {vlen, NULL};
    rc = wput(s, s->event_history, &k, &v, MDB_RESERVE);
    if (rc)
        return write_failed(s, rc, "writing event history", err);
    uint8_t *o = v.mv_data;
    be64_put(o, h->retired);
    be64_put(o + 8, double_bits(h->value));
    be64_put(o + 16, (uint64_t)h->at);
    memcpy(o + STORE_HIST_FIXED, h->source, sl + 1);
    memcpy(o + STORE_HIST_FIXED + sl + 1, h->id, il + 1);
    if (yl)
        memcpy(o + STORE_HIST_FIXED + sl + il + 2, h->key, yl);
    return 0;
}

int store_hist_retire(store *s, const char *partner, const char *metric, uint64_t added,
                      uint64_t retired, td_error *err)
{
    uint8_t key[STORE_MAX_KEY];
    size_t kl;
    int rc = write_ready(s, err);
    if (rc == 0)
        rc = hist_prefix(partner, metric, key, &kl, err);
    if (rc)
        return rc;
    be64_put(key + kl, added);
    kl += STORE_SEQ_BYTES;
    MDB_cursor *cur;
    rc = mdb_cursor_open(s->wtxn, s->event_history, &cur);
    if (rc)
        return write_failed(s, rc, "opening event history", err);
    MDB_val k = {kl, key}, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY);
    if (rc == MDB_NOTFOUND) {
        mdb_cursor_close(cur);
        return td_error_set(err, TD_NOT_FOUND, "store: no history for %s/%s at %llu", partner,
                            metric, (unsigned long long)added);
    }
    if (rc == 0 && v.mv_size >= STORE_HIST_FIXED) {
        /* Rewritten whole: LMDB values are read-only in place. */
        uint8_t buf[STORE_HIST_FIXED + 3 * TD_STORE_HIST_TEXT + 2];
        size_t n = v.mv_size <= sizeof buf ? v.mv_size : 0;
        if (!n) {
            mdb_cursor_close(cur);
            return td_error_set(err, TD_DATA_LOSS, "store: history entry of %s is too long",
                                partner);
        }
        memcpy(buf, v.mv_data, n);
        be64_put(buf, retired);
        MDB_val nv = {n, buf};
        rc = mdb_cursor_put(cur, &k, &nv, MDB_CURRENT);
    }
    mdb_cursor_close(cur);
    if (rc)
        return write_failed(s, rc, "writing event history", err);
    return 0;
}

static int hist_decode(const MDB_val *k, size_t plen, const MDB_val *v, store_hist_entry *h)
{
    if (k->mv_size != plen + STORE_SEQ_BYTES || v->mv_size < STORE_HIST_FIXED + 2)
        return -1;
    const uint8_t *o = v->mv_data, *end = o + v->mv_size;
    h->added = be64_get((const uint8_t *)k->mv_data + plen);
    h->retired = be64_get(o);
    uint64_t bits = be64_get(o + 8);
    memcpy(&h->value, &bits, sizeof bits);
    h->at = (int64_t)be64_get(o + 16);
    const uint8_t *src = o + STORE_HIST_FIXED;
    const uint8_t *z1 = memchr(src, 0, (size_t)(end - src));
    if (!z1)
        return -1;
    const uint8_t *z2 = memchr(z1 + 1, 0, (size_t)(end - z1 - 1));
    if (!z2)
        return -1;
    h->source = (const char *)src;
    h->id = (const char *)z1 + 1;
    h->key = (const char *)z2 + 1;
    h->key_len = (size_t)(end - z2 - 1);
    return 0;
}

int store_hist_each(store *s, const char *partner, const char *metric, store_hist_fn fn, void *ud,
                    td_error *err)
{
    uint8_t key[STORE_MAX_KEY];
    size_t kl;
    int rc = hist_prefix(partner, metric, key, &kl, err);
    if (rc)
        return rc;
    MDB_txn *txn = NULL; /* read_begin sets it; -O3 cannot always tell */
    rc = read_begin(s, &txn, err);
    if (rc)
        return rc;
    MDB_cursor *cur;
    rc = mdb_cursor_open(txn, s->event_history, &cur);
    if (rc) {
        read_end(s, txn);
        return store_error(s, rc, "reading event history", err);
    }
    MDB_val k = {kl, key}, v;
    int out = 0;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && k.mv_size > kl && memcmp(k.mv_data, key, kl) == 0) {
        store_hist_entry h = {.partner = partner, .metric = metric};
        if (hist_decode(&k, kl, &v, &h) != 0) {
            out = td_error_set(err, TD_DATA_LOSS, "%s: event history of %s/%s is damaged", s->dir,
                               partner, metric);
            break;
        }
        out = fn(ud, &h);
        if (out)
            break;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    if (!out && rc && rc != MDB_NOTFOUND)
        out = store_error(s, rc, "reading event history", err);
    mdb_cursor_close(cur);
    read_end(s, txn);
    return out;
}

int store_hist_exists(store *s, const char *partner, const char *metric, uint64_t added,
                      bool *exists, td_error *err)
{
    uint8_t key[STORE_MAX_KEY];
    size_t kl;
    *exists = false;
    int rc = hist_prefix(partner, metric, key, &kl, err);
    if (rc)
        return rc;
    be64_put(key + kl, added);
    kl += STORE_SEQ_BYTES;
    return key_exists(s, s->event_history, key, kl, "reading event history", exists, err);
}

int store_hist_drop_partner(store *s, const char *partner, td_error *err)
{
    int rc = write_ready(s, err);
    if (rc == 0)
        rc = check_key("partner id", partner, 0, err);
    if (rc)
        return rc;
    size_t pl = strlen(partner) + 1;
    MDB_cursor *cur;
    rc = mdb_cursor_open(s->wtxn, s->event_history, &cur);
    if (rc)
        return write_failed(s, rc, "opening event history", err);
    MDB_val k = {pl, (void *)partner}, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && k.mv_size > pl && memcmp(k.mv_data, partner, pl) == 0) {
        rc = mdb_cursor_del(cur, 0);
        if (rc == 0)
            rc = mdb_cursor_get(cur, &k, &v, MDB_GET_CURRENT);
    }
    mdb_cursor_close(cur);
    if (rc && rc != MDB_NOTFOUND && rc != EINVAL)
        return write_failed(s, rc, "dropping event history", err);
    return 0;
}

static uint64_t table_count(store *s, MDB_dbi dbi)
{
    MDB_txn *txn = NULL; /* read_begin sets it on success; -O3 cannot see that */
    if (read_begin(s, &txn, NULL) != 0)
        return 0;
    MDB_stat st;
    int rc = mdb_stat(txn, dbi, &st);
    read_end(s, txn);
    return rc ? 0 : st.ms_entries;
}

uint64_t store_event_count(store *s)
{
    return table_count(s, s->events);
}

uint64_t store_ilog_count(store *s)
{
    return table_count(s, s->ilog);
}

/* ---- change log ---- */

int store_next_sequence(store *s, uint64_t *seq)
{
    td_error err;
    int rc = write_ready(s, &err);
    if (rc)
        return rc;
    *seq = ++s->seq_txn;
    return 0;
}

int store_put_change(store *s, uint64_t seq, const char *partner, const uint8_t *pb, size_t len,
                     td_error *err)
{
    int rc = write_ready(s, err);
    if (rc == 0)
        rc = check_key("partner id", partner, 1 + STORE_SEQ_BYTES, err);
    if (rc == 0)
        rc = check_value("change", pb, len, err);
    if (rc == 0 && (seq == 0 || seq > s->seq_txn))
        rc =
            td_error_set(err, TD_INVALID_ARGUMENT,
                         "store: change sequence %" PRIu64 " was not handed out (last %" PRIu64 ")",
                         seq, s->seq_txn);
    if (rc)
        return rc;
    uint8_t skey[STORE_SEQ_BYTES], pkey[STORE_MAX_KEY];
    be64_put(skey, seq);
    rc = put(s, s->changes, skey, sizeof skey, pb, len, 0, "writing a change", err);
    if (rc)
        return rc;
    size_t plen = join_key(pkey, partner, skey, sizeof skey);
    return put(s, s->partner_changes, pkey, plen, "", 0, 0, "indexing a change", err);
}

uint64_t store_last_sequence(store *s)
{
    return s->wtxn ? s->seq_txn : s->seq_committed;
}

struct change_walk {
    store *s;
    int (*fn)(void *ud, uint64_t seq, const uint8_t *pb, size_t len);
    void *ud;
    size_t limit, n;
    int rc;
    /* partner walks: the key prefix, and the txn to fetch each record */
    const uint8_t *prefix;
    size_t prefix_len;
    MDB_txn *txn;
    td_error *err;
};

static int visit_change(void *ud, const MDB_val *k, const MDB_val *v)
{
    struct change_walk *w = ud;
    if (k->mv_size != STORE_SEQ_BYTES) {
        w->rc = td_error_set(w->err, TD_DATA_LOSS, "state dir %s: change key is %zu bytes",
                             w->s->dir, k->mv_size);
        return 1;
    }
    w->rc = w->fn(w->ud, be64_get(k->mv_data), v->mv_data, v->mv_size);
    if (w->rc || (w->limit && ++w->n >= w->limit))
        return 1;
    return 0;
}

int store_each_change_since(store *s, uint64_t since, size_t limit,
                            int (*fn)(void *ud, uint64_t seq, const uint8_t *pb, size_t len),
                            void *ud, td_error *err)
{
    if (since == UINT64_MAX)
        return 0;
    uint8_t start[STORE_SEQ_BYTES];
    be64_put(start, since + 1);
    MDB_val k = {sizeof start, start};
    struct change_walk w = {.s = s, .fn = fn, .ud = ud, .limit = limit, .err = err};
    int rc =
        walk(s, s->changes, &k, MDB_SET_RANGE, MDB_NEXT, visit_change, &w, "reading changes", err);
    return rc ? rc : w.rc;
}

static int visit_partner_change(void *ud, const MDB_val *k, const MDB_val *v)
{
    (void)v;
    struct change_walk *w = ud;
    if (k->mv_size != w->prefix_len + STORE_SEQ_BYTES ||
        memcmp(k->mv_data, w->prefix, w->prefix_len) != 0)
        return 1; /* walked past this partner's entries */
    uint8_t *seq = (uint8_t *)k->mv_data + w->prefix_len;
    MDB_val sk = {STORE_SEQ_BYTES, seq}, rec;
    int rc = mdb_get(w->txn, w->s->changes, &sk, &rec);
    if (rc) {
        if (rc == MDB_NOTFOUND)
            w->rc = td_error_set(w->err, TD_DATA_LOSS,
                                 "state dir %s: change %" PRIu64 " is indexed but missing",
                                 w->s->dir, be64_get(seq));
        else
            w->rc = store_error(w->s, rc, "reading a change", w->err);
        return 1;
    }
    w->rc = w->fn(w->ud, be64_get(seq), rec.mv_data, rec.mv_size);
    if (w->rc || (w->limit && ++w->n >= w->limit))
        return 1;
    return 0;
}

int store_each_partner_change(store *s, const char *partner, size_t limit,
                              int (*fn)(void *ud, uint64_t seq, const uint8_t *pb, size_t len),
                              void *ud, td_error *err)
{
    int rc = check_key("partner id", partner, 1 + STORE_SEQ_BYTES, err);
    if (rc)
        return rc;
    uint8_t prefix[STORE_MAX_KEY];
    size_t plen = strlen(partner) + 1;
    memcpy(prefix, partner, plen);

    MDB_txn *txn = NULL; /* read_begin sets it; -O3 cannot always tell */
    rc = read_begin(s, &txn, err);
    if (rc)
        return rc;
    MDB_cursor *cur;
    rc = mdb_cursor_open(txn, s->partner_changes, &cur);
    if (rc) {
        read_end(s, txn);
        return store_error(s, rc, "reading a partner's changes", err);
    }
    /* Position just past the partner's last entry (partner "\0" max), then
     * step back: newest first without scanning the partner's history. */
    uint8_t start[STORE_MAX_KEY];
    memcpy(start, prefix, plen);
    memset(start + plen, 0xff, STORE_SEQ_BYTES);
    MDB_val k = {plen + STORE_SEQ_BYTES, start}, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    if (rc == 0)
        rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
    else if (rc == MDB_NOTFOUND)
        rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    struct change_walk w = {.s = s,
                            .fn = fn,
                            .ud = ud,
                            .limit = limit,
                            .prefix = prefix,
                            .prefix_len = plen,
                            .txn = txn,
                            .err = err};
    int out = 0;
    while (rc == 0) {
        if (visit_partner_change(&w, &k, &v))
            break;
        rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
    }
    if (rc && rc != MDB_NOTFOUND)
        out = store_error(s, rc, "reading a partner's changes", err);
    mdb_cursor_close(cur);
    read_end(s, txn);
    return out ? out : w.rc;
}

/* ---- programs ---- */

int store_put_program(store *s, uint64_t *index_out, const uint8_t *pb, size_t len, td_error *err)
{
    int rc = write_ready(s, err);
    if (rc == 0)
        rc = check_value("program version", pb, len, err);
    if (rc)
        return rc;
    MDB_cursor *cur;
    rc = mdb_cursor_open(s->wtxn, s->programs, &cur);
    if (rc)
        return write_failed(s, rc, "reading program versions", err);
    MDB_val k, v;
    uint64_t last = 0;
    rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    mdb_cursor_close(cur);
    if (rc == 0 && k.mv_size == STORE_SEQ_BYTES)
        last = be64_get(k.mv_data);
    else if (rc == 0)
        return td_error_set(err, TD_DATA_LOSS, "state dir %s: program key is %zu bytes", s->dir,
                            k.mv_size);
    else if (rc != MDB_NOTFOUND)
        return write_failed(s, rc, "reading program versions", err);
    uint8_t key[STORE_SEQ_BYTES];
    be64_put(key, last + 1);
    rc = put(s, s->programs, key, sizeof key, pb, len, 0, "writing a program version", err);
    if (rc == 0 && index_out)
        *index_out = last + 1;
    return rc;
}

struct program_walk {
    store *s;
    int (*fn)(void *ud, uint64_t index, const uint8_t *pb, size_t len);
    void *ud;
    int rc;
    td_error *err;
};

static int visit_program(void *ud, const MDB_val *k, const MDB_val *v)
{
    struct program_walk *w = ud;
    if (k->mv_size != STORE_SEQ_BYTES) {
        w->rc = td_error_set(w->err, TD_DATA_LOSS, "state dir %s: program key is %zu bytes",
                             w->s->dir, k->mv_size);
        return 1;
    }
    w->rc = w->fn(w->ud, be64_get(k->mv_data), v->mv_data, v->mv_size);
    return w->rc ? 1 : 0;
}

int store_each_program(store *s, int (*fn)(void *ud, uint64_t index, const uint8_t *pb, size_t len),
                       void *ud, td_error *err)
{
    struct program_walk w = {s, fn, ud, 0, err};
    int rc = walk(s, s->programs, NULL, MDB_FIRST, MDB_NEXT, visit_program, &w,
                  "reading program versions", err);
    return rc ? rc : w.rc;
}

int store_get_program(store *s, uint64_t index, uint8_t **pb, size_t *len, td_error *err)
{
    uint8_t key[STORE_SEQ_BYTES];
    be64_put(key, index);
    int rc = get_copy(s, s->programs, key, sizeof key, pb, len, "program version", err);
    if (rc == -TD_NOT_FOUND)
        td_error_set(err, TD_NOT_FOUND, "store: no program version %llu",
                     (unsigned long long)index);
    return rc;
}

/* ---- cursors and meta ---- */

int store_put_cursor(store *s, const char *connector, const char *cursor, td_error *err)
{
    int rc = write_ready(s, err);
    if (rc == 0)
        rc = check_key("connector name", connector, 0, err);
    if (rc == 0 && !cursor)
        rc = td_error_set(err, TD_INVALID_ARGUMENT, "store: connector %s: no cursor", connector);
    if (rc == 0)
        rc = check_value("cursor", (const uint8_t *)cursor, strlen(cursor), err);
    if (rc)
        return rc;
    return put(s, s->cursors, connector, strlen(connector), cursor, strlen(cursor), 0,
               "writing a connector cursor", err);
}

int store_get_cursor(store *s, const char *connector, char **cursor, td_error *err)
{
    *cursor = NULL;
    int rc = check_key("connector name", connector, 0, err);
    if (rc)
        return rc;
    uint8_t *v = NULL;
    size_t len = 0;
    rc = get_copy(s, s->cursors, connector, strlen(connector), &v, &len, "cursor", err);
    if (rc == -TD_NOT_FOUND)
        return 0;
    if (rc)
        return rc;
    char *str = realloc(v, len + 1);
    if (!str) {
        free(v);
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "store: out of memory reading a cursor");
    }
    str[len] = 0;
    *cursor = str;
    return 0;
}

int store_put_meta(store *s, const char *name, const uint8_t *val, size_t len, td_error *err)
{
    int rc = write_ready(s, err);
    if (rc == 0)
        rc = check_key("meta name", name, 0, err);
    if (rc == 0 && (!strcmp(name, STORE_META_FORMAT) || !strcmp(name, STORE_META_SEQUENCE)))
        rc = td_error_set(err, TD_INVALID_ARGUMENT, "store: meta '%s' belongs to the store", name);
    if (rc == 0)
        rc = check_value("meta value", val, len, err);
    if (rc)
        return rc;
    return put(s, s->meta, name, strlen(name), val, len, 0, "writing a meta value", err);
}

int store_get_meta(store *s, const char *name, uint8_t **val, size_t *len, td_error *err)
{
    int rc = check_key("meta name", name, 0, err);
    if (rc)
        return rc;
    rc = get_copy(s, s->meta, name, strlen(name), val, len, "meta value", err);
    if (rc == -TD_NOT_FOUND)
        td_error_set(err, TD_NOT_FOUND, "store: no meta value '%s'", name);
    return rc;
}

/* ---- KPI history ---- */

int store_put_kpi(store *s, int64_t at, const uint8_t *pb, size_t len, td_error *err)
{
    int rc = write_ready(s, err);
    if (rc == 0)
        rc = check_value("KPI snapshot", pb, len, err);
    if (rc)
        return rc;
    if (at <= 0)
        return td_error_set(err, TD_INVALID_ARGUMENT, "store: KPI snapshot at %lld", (long long)at);
    uint8_t key[STORE_SEQ_BYTES];
    be64_put(key, (uint64_t)at);
    return put(s, s->kpi, key, sizeof key, pb, len, 0, "writing a KPI snapshot", err);
}

struct kpi_walk {
    store_kpi_fn fn;
    void *ud;
    int64_t to;
    int rc;
};

static int visit_kpi(void *ud, const MDB_val *k, const MDB_val *v)
{
    struct kpi_walk *w = ud;
    if (k->mv_size != STORE_SEQ_BYTES)
        return 0;
    int64_t at = (int64_t)be64_get(k->mv_data);
    if (w->to && at > w->to)
        return 1;
    w->rc = w->fn(w->ud, at, v->mv_data, v->mv_size);
    return w->rc ? 1 : 0;
}

int store_each_kpi(store *s, int64_t from, int64_t to, store_kpi_fn fn, void *ud, td_error *err)
{
    if (!s->has_kpi)
        return 0;
    uint8_t key[STORE_SEQ_BYTES];
    be64_put(key, (uint64_t)(from > 0 ? from : 0));
    MDB_val start = {sizeof key, key};
    struct kpi_walk w = {fn, ud, to, 0};
    int rc = walk(s, s->kpi, &start, MDB_SET_RANGE, MDB_NEXT, visit_kpi, &w,
                  "reading KPI snapshots", err);
    return rc ? rc : w.rc;
}

int store_each_kpi_before(store *s, int64_t before, size_t limit, store_kpi_fn fn, void *ud,
                          td_error *err)
{
    if (!s->has_kpi)
        return 0;
    MDB_txn *txn = NULL; /* read_begin sets it; -O3 cannot always tell */
    int rc = read_begin(s, &txn, err);
    if (rc)
        return rc;
    MDB_cursor *cur;
    rc = mdb_cursor_open(txn, s->kpi, &cur);
    if (rc) {
        read_end(s, txn);
        return store_error(s, rc, "reading KPI snapshots", err);
    }
    uint8_t key[STORE_SEQ_BYTES];
    be64_put(key, (uint64_t)(before > 0 ? before : 0));
    MDB_val k = {sizeof key, key}, v;
    /* The first key at or after `before`, then back; past the end, the last. */
    rc = before > 0 ? mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE) : MDB_NOTFOUND;
    rc = rc == 0 ? mdb_cursor_get(cur, &k, &v, MDB_PREV) : mdb_cursor_get(cur, &k, &v, MDB_LAST);
    int out = 0;
    for (size_t n = 0; rc == 0 && (!limit || n < limit); n++) {
        int64_t at = (int64_t)be64_get(k.mv_data);
        if (before > 0 && at >= before)
            break;
        if ((out = fn(ud, at, v.mv_data, v.mv_size)) != 0)
            break;
        rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
    }
    if (rc && rc != MDB_NOTFOUND)
        out = store_error(s, rc, "reading KPI snapshots", err);
    mdb_cursor_close(cur);
    read_end(s, txn);
    return out;
}

#define STORE_ACTIVITY_BYTES (STORE_SEQ_BYTES + 1)

int store_get_kpi_activity(store *s, const char *partner, uint64_t *events, bool *active,
                           bool *found, td_error *err)
{
    *found = false;
    *events = 0;
    *active = false;
    if (!s->has_kpi)
        return 0;
    MDB_txn *txn = NULL; /* read_begin sets it; -O3 cannot always tell */
    int rc = read_begin(s, &txn, err);
    if (rc)
        return rc;
    MDB_val key = {strlen(partner), (void *)partner}, val;
    rc = mdb_get(txn, s->kpi_activity, &key, &val);
    if (rc == 0 && val.mv_size == STORE_ACTIVITY_BYTES) {
        *events = be64_get(val.mv_data);
        *active = ((const uint8_t *)val.mv_data)[STORE_SEQ_BYTES] != 0;
        *found = true;
    }
    read_end(s, txn);
    if (rc && rc != MDB_NOTFOUND)
        return store_error(s, rc, "reading KPI activity", err);
    return 0;
}

int store_put_kpi_activity(store *s, const char *partner, uint64_t events, bool active,
                           td_error *err)
{
    int rc = write_ready(s, err);
    if (rc == 0)
        rc = check_key("partner id", partner, 0, err);
    if (rc)
        return rc;
    uint8_t v[STORE_ACTIVITY_BYTES];
    be64_put(v, events);
    v[STORE_SEQ_BYTES] = active ? 1 : 0;
    return put(s, s->kpi_activity, partner, strlen(partner), v, sizeof v, 0, "writing KPI activity",
               err);
}

/* ---- events in key order (export) ---- */

struct event_walk {
    const void *after;
    size_t after_len;
    store_event_fn fn;
    void *ud;
    int rc;
};

/* ---- webhooks ---- */

static int wh_ready(store_wh_table t, const void *key, size_t klen, td_error *err)
{
    if ((unsigned)t >= STORE_WH_TABLES)
        return td_error_set(err, TD_INVALID_ARGUMENT, "store: no webhook table %d", (int)t);
    if (!key || klen == 0 || klen > STORE_MAX_KEY)
        return td_error_set(err, TD_INVALID_ARGUMENT, "store: webhook key of %zu bytes", klen);
    return 0;
}

int store_wh_put(store *s, store_wh_table t, const void *key, size_t klen, const uint8_t *val,
                 size_t len, td_error *err)
{
    int rc = write_ready(s, err);
    if (rc == 0)
        rc = wh_ready(t, key, klen, err);
    if (rc == 0)
        rc = check_value("webhook record", val, len, err);
    if (rc)
        return rc;
    return put(s, s->wh[t], key, klen, val, len, 0, "writing a webhook record", err);
}

int store_wh_del(store *s, store_wh_table t, const void *key, size_t klen, td_error *err)
{
    int rc = write_ready(s, err);
    if (rc == 0)
        rc = wh_ready(t, key, klen, err);
    if (rc)
        return rc;
    MDB_val k = {klen, (void *)key};
    rc = mdb_del(s->wtxn, s->wh[t], &k, NULL);
    if (rc == MDB_NOTFOUND)
        return td_error_set(err, TD_NOT_FOUND, "store: no such webhook record");
    if (rc)
        return write_failed(s, rc, "deleting a webhook record", err);
    return 0;
}

int store_wh_get(store *s, store_wh_table t, const void *key, size_t klen, uint8_t **val,
                 size_t *len, td_error *err)
{
    int rc = wh_ready(t, key, klen, err);
    if (rc)
        return rc;
    if (!s->has_wh)
        return td_error_set(err, TD_NOT_FOUND, "store: no webhook record");
    return get_copy(s, s->wh[t], key, klen, val, len, "webhook record", err);
}

struct wh_walk {
    store_wh_fn fn;
    void *ud;
    int rc;
};

static int visit_event(void *ud, const MDB_val *k, const MDB_val *v)
{
    struct event_walk *w = ud;
    if (w->after_len && k->mv_size == w->after_len &&
        memcmp(k->mv_data, w->after, w->after_len) == 0)
        return 0;
    /* source "\0" id: each copied out so the callback gets C strings. */
    char source[STORE_MAX_KEY + 1], id[STORE_MAX_KEY + 1];
    const char *key = k->mv_data;
    size_t slen = strnlen(key, k->mv_size);
    if (slen == k->mv_size || k->mv_size > STORE_MAX_KEY) {
        w->rc = -TD_DATA_LOSS;
        return 1;
    }
    memcpy(source, key, slen);
    source[slen] = 0;
    memcpy(id, key + slen + 1, k->mv_size - slen - 1);
    id[k->mv_size - slen - 1] = 0;
    store_event_meta meta;
    const uint8_t *pb;
    size_t len;
    event_record(v->mv_data, v->mv_size, &meta, &pb, &len);
    w->rc = w->fn(w->ud, k->mv_data, k->mv_size, source, id, &meta, pb, len);
    return w->rc ? 1 : 0;
}

int store_each_event(store *s, const void *after, size_t after_len, store_event_fn fn, void *ud,
                     td_error *err)
{
    struct event_walk w = {after, after_len, fn, ud, 0};
    MDB_val start = {after_len, (void *)after};
    int rc = walk(s, s->events, after_len ? &start : NULL, after_len ? MDB_SET_RANGE : MDB_FIRST,
                  MDB_NEXT, visit_event, &w, "reading events", err);
    if (rc == 0 && w.rc == -TD_DATA_LOSS)
        return td_error_set(err, TD_DATA_LOSS, "state dir %s: an event key is damaged", s->dir);
    return rc ? rc : (w.rc > 0 ? 0 : w.rc);
}

/* ---- copies: backup and restore ---- */

void store_hold_map(store *s, bool hold)
{
    s->map_held = hold;
}

int store_copy_ready(const store *s, td_error *err)
{
    if (!s->env)
        return td_error_set(err, TD_UNAVAILABLE, "state dir %s: the store is not open", s->dir);
    return 0;
}

int store_copy_compact(store *s, int fd, td_error *err)
{
    int rc = mdb_env_copyfd2(s->env, fd, MDB_CP_COMPACT);
    if (rc)
        return store_error(s, rc, "copying the store", err);
    return 0;
}

/* The tierd databases a copy must hold; the others may be absent in an
 * older format. */
static const char *const store_required_dbs[] = {"meta", "partners", "events", "changes"};

static uint64_t meta_u64(MDB_txn *txn, MDB_dbi meta, const char *name)
{
    MDB_val k = {strlen(name), (void *)name}, v;
    if (mdb_get(txn, meta, &k, &v) != 0 || v.mv_size != STORE_SEQ_BYTES)
        return 0;
    return be64_get(v.mv_data);
}

/* Reads every record of every database in the file, so a damaged tree
 * shows before the copy is put in place. */
static int inspect_walk(MDB_txn *txn, const char *path, store_file_info *info, td_error *err)
{
    MDB_dbi main_db;
    int rc = mdb_dbi_open(txn, NULL, 0, &main_db);
    MDB_cursor *names = NULL;
    if (rc == 0)
        rc = mdb_cursor_open(txn, main_db, &names);
    MDB_val k, v;
    while (rc == 0 && (rc = mdb_cursor_get(names, &k, &v, MDB_NEXT)) == 0) {
        char name[STORE_MAX_KEY + 1];
        if (k.mv_size > STORE_MAX_KEY || memchr(k.mv_data, 0, k.mv_size))
            continue;
        memcpy(name, k.mv_data, k.mv_size);
        name[k.mv_size] = 0;
        MDB_dbi dbi;
        if (mdb_dbi_open(txn, name, 0, &dbi) != 0)
            continue; /* a plain key in the main database, not a named one */
        MDB_cursor *c;
        if ((rc = mdb_cursor_open(txn, dbi, &c)) != 0)
            break;
        MDB_val rk, rv;
        uint64_t n = 0;
        int r;
        while ((r = mdb_cursor_get(c, &rk, &rv, MDB_NEXT)) == 0)
            n++;
        mdb_cursor_close(c);
        if (r != MDB_NOTFOUND) {
            rc = r;
            break;
        }
        if (strcmp(name, "events") == 0)
            info->events = n;
        else if (strcmp(name, "partners") == 0)
            info->partners = n;
    }
    if (names)
        mdb_cursor_close(names);
    if (rc && rc != MDB_NOTFOUND)
        return td_error_set(err, TD_DATA_LOSS, "%s is damaged: %s", path, mdb_strerror(rc));
    return 0;
}

static int inspect_txn(MDB_txn *txn, const char *path, store_file_info *info, td_error *err)
{
    MDB_dbi dbis[sizeof store_required_dbs / sizeof *store_required_dbs];
    for (size_t i = 0; i < sizeof dbis / sizeof *dbis; i++) {
        int rc = mdb_dbi_open(txn, store_required_dbs[i], 0, &dbis[i]);
        if (rc == MDB_NOTFOUND)
            return td_error_set(err, TD_INVALID_ARGUMENT,
                                "%s is an LMDB file but not a tierd store (no '%s' database)", path,
                                store_required_dbs[i]);
        if (rc)
            return td_error_set(err, TD_DATA_LOSS, "%s is damaged: opening '%s': %s", path,
                                store_required_dbs[i], mdb_strerror(rc));
    }
    MDB_val k = {strlen(STORE_META_FORMAT), STORE_META_FORMAT}, v;
    int rc = mdb_get(txn, dbis[0], &k, &v);
    if (rc || v.mv_size != 4)
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "%s is an LMDB file but not a tierd store (no format record)", path);
    const uint8_t *p = v.mv_data;
    info->format = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    if (info->format == 0 || info->format > STORE_FORMAT_VERSION)
        return td_error_set(err, TD_FAILED_PRECONDITION,
                            "%s is a tierd store of format %" PRIu32
                            "; this tierd reads format 1 to %d",
                            path, info->format, STORE_FORMAT_VERSION);
    info->last_sequence = meta_u64(txn, dbis[0], STORE_META_SEQUENCE);
    return inspect_walk(txn, path, info, err);
}

int store_file_inspect(const char *path, store_file_info *info, td_error *err)
{
    *info = (store_file_info){0};
    struct stat st;
    if (stat(path, &st) != 0)
        return td_error_set(err, errno == ENOENT ? TD_NOT_FOUND : TD_UNAVAILABLE, "%s: %s", path,
                            strerror(errno));
    if (!S_ISREG(st.st_mode))
        return td_error_set(err, TD_INVALID_ARGUMENT, "%s is not a regular file", path);
    info->size = (uint64_t)st.st_size;
    MDB_env *env = NULL;
    int rc = mdb_env_create(&env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(env, STORE_MAX_DBS);
    if (rc == 0)
        rc = mdb_env_open(env, path, MDB_NOSUBDIR | MDB_RDONLY | MDB_NOLOCK, STORE_FILE_MODE);
    if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH || rc == EINVAL) {
        mdb_env_close(env);
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "%s is not a tierd store: not an LMDB file of a version this tierd "
                            "reads (%s)",
                            path, mdb_strerror(rc));
    }
    if (rc) {
        mdb_env_close(env);
        return td_error_set(err, TD_UNAVAILABLE, "%s: %s", path, mdb_strerror(rc));
    }
    /* Reading a page past the end of a cut-short file through the map
     * would kill us with SIGBUS: check the size the meta page promises
     * before reading any tree. */
    MDB_envinfo ei;
    MDB_stat ms;
    mdb_env_info(env, &ei);
    mdb_env_stat(env, &ms);
    uint64_t need = ((uint64_t)ei.me_last_pgno + 1) * ms.ms_psize;
    if (info->size < need) {
        mdb_env_close(env);
        return td_error_set(err, TD_DATA_LOSS,
                            "%s is truncated: %" PRIu64 " bytes, its pages need %" PRIu64, path,
                            info->size, need);
    }
    MDB_txn *txn = NULL;
    rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
    if (rc) {
        mdb_env_close(env);
        return td_error_set(err, TD_DATA_LOSS, "%s is damaged: %s", path, mdb_strerror(rc));
    }
    rc = inspect_txn(txn, path, info, err);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    return rc;
}

/* Copies src into a new file at dst (0600), fsynced. */
static int copy_file(const char *src, const char *dst, td_error *err)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return td_error_set(err, TD_UNAVAILABLE, "%s: %s", src, strerror(errno));
    int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, STORE_FILE_MODE);
    if (out < 0) {
        int e = errno;
        close(in);
        return td_error_set(err, TD_UNAVAILABLE, "%s: %s", dst, strerror(e));
    }
    static char buf[1 << 16];
    ssize_t n;
    int rc = 0;
    while ((n = read(in, buf, sizeof buf)) > 0) {
        for (ssize_t off = 0; off < n && rc == 0;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno != EINTR)
                rc = td_error_set(err, errno == ENOSPC ? TD_RESOURCE_EXHAUSTED : TD_UNAVAILABLE,
                                  "writing %s: %s", dst, strerror(errno));
            off += w > 0 ? w : 0;
        }
        if (rc)
            break;
    }
    if (rc == 0 && n < 0)
        rc = td_error_set(err, TD_UNAVAILABLE, "reading %s: %s", src, strerror(errno));
    if (rc == 0 && fsync(out) != 0)
        rc = td_error_set(err, TD_UNAVAILABLE, "syncing %s: %s", dst, strerror(errno));
    close(in);
    if (close(out) != 0 && rc == 0)
        rc = td_error_set(err, TD_UNAVAILABLE, "closing %s: %s", dst, strerror(errno));
    if (rc)
        unlink(dst);
    return rc;
}

int store_install_copy(const char *file, const char *dir, bool force, store_file_info *info,
                       td_error *err)
{
    int rc = store_file_inspect(file, info, err);
    if (rc)
        return rc;
    if (mkdir(dir, 0750) != 0 && errno != EEXIST)
        return td_error_set(err, TD_UNAVAILABLE, "cannot create state dir %s: %s", dir,
                            strerror(errno));
    /* The daemon's own lock: a tierd running on dir (or starting while we
     * work) is refused, and so are we. */
    store lk = {.dir = (char *)dir, .lock_fd = -1};
    if ((rc = lock_dir(&lk, err)) != 0)
        return rc;
    if (lk.read_only) {
        if (lk.lock_fd >= 0)
            close(lk.lock_fd);
        return td_error_set(err, TD_UNAVAILABLE, "state dir %s is read-only", dir);
    }
    char data[PATH_MAX], tmp[PATH_MAX + 16], rlock[PATH_MAX + 16];
    snprintf(data, sizeof data, "%s/%s", dir, STORE_DATA_FILE);
    snprintf(tmp, sizeof tmp, "%s.restore", data);
    snprintf(rlock, sizeof rlock, "%s-lock", data);
    struct stat st;
    if (!force && stat(data, &st) == 0)
        rc = td_error_set(err, TD_ALREADY_EXISTS,
                          "state dir %s already holds a store (%s); --force replaces it", dir,
                          STORE_DATA_FILE);
    if (rc == 0)
        rc = copy_file(file, tmp, err);
    if (rc == 0 && rename(tmp, data) != 0) {
        rc = td_error_set(err, TD_UNAVAILABLE, "renaming %s to %s: %s", tmp, data, strerror(errno));
        unlink(tmp);
    }
    if (rc == 0) {
        /* The old reader table belongs to the old data file. */
        unlink(rlock);
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    close(lk.lock_fd);
    return rc;
}

static int visit_wh(void *ud, const MDB_val *k, const MDB_val *v)
{
    struct wh_walk *w = ud;
    w->rc = w->fn(w->ud, k->mv_data, k->mv_size, v->mv_data, v->mv_size);
    return w->rc ? 1 : 0;
}

int store_wh_each(store *s, store_wh_table t, const void *from, size_t from_len, store_wh_fn fn,
                  void *ud, td_error *err)
{
    if ((unsigned)t >= STORE_WH_TABLES)
        return td_error_set(err, TD_INVALID_ARGUMENT, "store: no webhook table %d", (int)t);
    if (!s->has_wh)
        return 0;
    MDB_val start = {from_len, (void *)from};
    struct wh_walk w = {fn, ud, 0};
    int rc = walk(s, s->wh[t], from_len ? &start : NULL, from_len ? MDB_SET_RANGE : MDB_FIRST,
                  MDB_NEXT, visit_wh, &w, "reading webhook records", err);
    return rc ? rc : w.rc;
}

uint64_t store_wh_count(store *s, store_wh_table t)
{
    if ((unsigned)t >= STORE_WH_TABLES || !s->has_wh)
        return 0;
    return table_count(s, s->wh[t]);
}
