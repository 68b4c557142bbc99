/* Backup: one compacted copy of the store at a time, made by a worker
 * thread and served in chunks from the loop.
 *
 * Why a thread: mdb_env_copyfd2 with compaction walks the whole store and
 * blocks for seconds on a large one; on the loop it would stall every
 * request. LMDB lets it read its own snapshot beside the loop's write
 * transactions; the store holds its map still meanwhile (store_hold_map),
 * since growing or reopening the map under a reader is not allowed.
 *
 * The worker then hashes the copy (SHA-256, OpenSSL) and checks it with
 * store_file_inspect, which also reads the last change sequence and event
 * count the copy holds: what a restore of it will show.
 *
 * Lifetime: the state lives in d->backup from the first request until
 * done, the idle timer or backup_close; while the worker runs, the end is
 * only marked and the after-work callback finishes it. */
#include "backup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "daemon.h"
#include "log.h"
#include "tierd.pb-c.h"

#define BACKUP_SHA256_LEN 32
#define BACKUP_ID_MAX     32
#define BACKUP_HASH_BUF   (1u << 20)
#define BACKUP_NS_PER_MS  1000000u

struct backup {
    tierd *d;
    uv_work_t work;
    uv_timer_t idle;
    char id[BACKUP_ID_MAX];
    char path[PATH_MAX];
    int fd;
    bool running; /* the worker has it */
    bool ending;  /* remove it once the worker is done */
    bool ready;
    td_error werr; /* the worker's failure */
    uint64_t started_ns;
    uint8_t sha[BACKUP_SHA256_LEN];
    store_file_info info;
};

static void on_idle_closed(uv_handle_t *h)
{
    free(h->data);
}

/* Removes the copy and frees b (after its timer has closed). */
static void backup_destroy(backup *b)
{
    if (b->d->backup == b)
        b->d->backup = NULL;
    if (b->fd >= 0)
        close(b->fd);
    b->fd = -1;
    if (*b->path)
        unlink(b->path);
    uv_timer_stop(&b->idle);
    uv_close((uv_handle_t *)&b->idle, on_idle_closed);
}

/* Ends b now, or when its worker returns. */
static void backup_end(backup *b)
{
    if (b->d->backup == b)
        b->d->backup = NULL;
    if (b->running)
        b->ending = true;
    else
        backup_destroy(b);
}

static void on_idle(uv_timer_t *t)
{
    backup *b = t->data;
    log_warning("backup %s: nobody asked for it for %u s: removed", b->id,
                BACKUP_IDLE_TIMEOUT_MS / 1000);
    backup_end(b);
}

static int hash_file(int fd, uint8_t *sha, td_error *err)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    uint8_t *buf = malloc(BACKUP_HASH_BUF);
    int rc = 0;
    if (!ctx || !buf || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
        rc = td_error_set(err, TD_RESOURCE_EXHAUSTED, "backup: cannot start a SHA-256");
    off_t off = 0;
    ssize_t n = 0;
    while (rc == 0 && (n = pread(fd, buf, BACKUP_HASH_BUF, off)) > 0) {
        if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1)
            rc = td_error_set(err, TD_INTERNAL, "backup: SHA-256 failed");
        off += n;
    }
    if (rc == 0 && n < 0)
        rc = td_error_set(err, TD_UNAVAILABLE, "backup: reading the copy: %s", strerror(errno));
    unsigned len = 0;
    if (rc == 0 && (EVP_DigestFinal_ex(ctx, sha, &len) != 1 || len != BACKUP_SHA256_LEN))
        rc = td_error_set(err, TD_INTERNAL, "backup: SHA-256 failed");
    EVP_MD_CTX_free(ctx);
    free(buf);
    return rc;
}

/* The worker thread: copy, hash, check. Touches only b and the store's
 * environment (held still by the loop). */
static void backup_work(uv_work_t *w)
{
    backup *b = w->data;
    int rc = store_copy_compact(b->d->store, b->fd, &b->werr);
    if (rc == 0 && fsync(b->fd) != 0)
        rc = td_error_set(&b->werr, TD_UNAVAILABLE, "backup: syncing %s: %s", b->path,
                          strerror(errno));
    if (rc == 0)
        rc = hash_file(b->fd, b->sha, &b->werr);
    if (rc == 0)
        rc = store_file_inspect(b->path, &b->info, &b->werr);
}

static void backup_after(uv_work_t *w, int status)
{
    backup *b = w->data;
    b->running = false;
    store_hold_map(b->d->store, false);
    if (status == UV_ECANCELED)
        td_error_set(&b->werr, TD_UNAVAILABLE, "backup cancelled");
    if (b->ending) {
        backup_destroy(b);
        return;
    }
    if (b->werr.code != TD_OK) {
        log_error("backup %s failed: %s", b->id, b->werr.message);
        return; /* kept (with its error) until asked, so the caller learns why */
    }
    b->ready = true;
    uint64_t ms = (uv_hrtime() - b->started_ns) / BACKUP_NS_PER_MS;
    log_fields(TD_LOG_INFO,
               (td_log_field[]){TD_LOG_STR("backup", b->id), TD_LOG_NUM("bytes", b->info.size),
                                TD_LOG_NUM("last_sequence", b->info.last_sequence),
                                TD_LOG_NUM("events", b->info.events), TD_LOG_NUM("ms", ms)},
               5, "backup %s ready: %llu bytes, last change %llu, %llu events, in %.2f s", b->id,
               (unsigned long long)b->info.size, (unsigned long long)b->info.last_sequence,
               (unsigned long long)b->info.events, (double)ms / 1e3);
}

/* Removes copies a tierd that died while handing one out left behind: with
 * no backup active, every backup-* file in the state dir (which this
 * process holds the lock of) is such a leftover. */
static void remove_leftovers(const char *dir)
{
    DIR *dp = opendir(dir);
    if (!dp)
        return;
    struct dirent *e;
    while ((e = readdir(dp)) != NULL) {
        if (strncmp(e->d_name, BACKUP_FILE_PREFIX, strlen(BACKUP_FILE_PREFIX)) != 0)
            continue;
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < (int)sizeof path &&
            unlink(path) == 0)
            log_info("removed %s, a backup copy left by an earlier run", path);
    }
    closedir(dp);
}

static int backup_start(rpc_call *call, backup **out, td_error *err)
{
    tierd *d = call->d;
    remove_leftovers(d->state_dir);
    int rc = store_copy_ready(d->store, err);
    if (rc)
        return rc;
    backup *b = calloc(1, sizeof *b);
    if (!b)
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "backup: out of memory");
    b->d = d;
    b->fd = -1;
    if (snprintf(b->path, sizeof b->path, "%s/" BACKUP_FILE_PREFIX "XXXXXX", d->state_dir) >=
        (int)sizeof b->path) {
        free(b);
        return td_error_set(err, TD_INVALID_ARGUMENT, "backup: state dir path too long");
    }
    b->fd = mkostemp(b->path, O_CLOEXEC);
    if (b->fd < 0) {
        int e = errno;
        free(b);
        return td_error_set(err, e == ENOSPC ? TD_RESOURCE_EXHAUSTED : TD_UNAVAILABLE,
                            "backup: cannot create a file in state dir %s: %s", d->state_dir,
                            strerror(e));
    }
    snprintf(b->id, sizeof b->id, "%s", b->path + strlen(b->path) - 6);
    uv_timer_init(d->loop, &b->idle);
    b->idle.data = b;
    b->work.data = b;
    b->started_ns = uv_hrtime();
    store_hold_map(d->store, true);
    b->running = true;
    if (uv_queue_work(d->loop, &b->work, backup_work, backup_after) != 0) {
        b->running = false;
        store_hold_map(d->store, false);
        backup_destroy(b);
        return td_error_set(err, TD_UNAVAILABLE, "backup: cannot start the copying thread");
    }
    d->backup = b;
    log_fields(TD_LOG_INFO,
               (td_log_field[]){TD_LOG_STR("backup", b->id), TD_LOG_STR("actor", call->actor)}, 2,
               "backup %s started by %s", b->id, call->actor);
    *out = b;
    return 0;
}

int handle_backup(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                  td_error *err)
{
    const Tierd__BackupRequest *r = (const Tierd__BackupRequest *)req;
    tierd *d = call->d;
    backup *b = d->backup;
    const char *id = r->id ? r->id : "";
    if (!*id) {
        if (b)
            return td_error_set(err, TD_FAILED_PRECONDITION,
                                "backup %s is in progress; one at a time (it is removed %u s after "
                                "its last request)",
                                b->id, BACKUP_IDLE_TIMEOUT_MS / 1000);
        int rc = backup_start(call, &b, err);
        if (rc)
            return rc;
    } else if (!b || strcmp(id, b->id) != 0) {
        return td_error_set(err, TD_NOT_FOUND,
                            "no backup '%.*s' (it ended, or nobody asked for it for %u s)",
                            BACKUP_ID_MAX, id, BACKUP_IDLE_TIMEOUT_MS / 1000);
    }
    Tierd__BackupResponse *out = rpc_alloc(call, sizeof *out);
    tierd__backup_response__init(out);
    out->id = rpc_strdup(call, b->id);
    if (r->done) {
        backup_end(b);
        *resp = &out->base;
        return 0;
    }
    if (!b->running && b->werr.code != TD_OK) {
        td_error_set(err, b->werr.code, "backup %s failed: %s", b->id, b->werr.message);
        backup_end(b);
        return -(int)err->code;
    }
    uv_timer_start(&b->idle, on_idle, BACKUP_IDLE_TIMEOUT_MS, 0);
    out->ready = b->ready;
    if (!b->ready) {
        *resp = &out->base;
        return 0;
    }
    out->size = b->info.size;
    out->sha256.data = rpc_alloc(call, BACKUP_SHA256_LEN);
    memcpy(out->sha256.data, b->sha, BACKUP_SHA256_LEN);
    out->sha256.len = BACKUP_SHA256_LEN;
    out->last_sequence = b->info.last_sequence;
    out->events = b->info.events;
    out->partners = b->info.partners;
    out->format = b->info.format;
    out->offset = r->offset;
    size_t want = r->max_bytes == 0                 ? BACKUP_CHUNK_DEFAULT
                  : r->max_bytes > BACKUP_CHUNK_MAX ? BACKUP_CHUNK_MAX
                                                    : r->max_bytes;
    if (r->offset < b->info.size) {
        uint64_t left = b->info.size - r->offset;
        size_t n = left < want ? (size_t)left : want;
        uint8_t *buf = rpc_alloc(call, n);
        ssize_t got = pread(b->fd, buf, n, (off_t)r->offset);
        if (got != (ssize_t)n)
            return td_error_set(err, TD_UNAVAILABLE, "backup %s: reading the copy: %s", b->id,
                                got < 0 ? strerror(errno) : "short read");
        out->data.data = buf;
        out->data.len = n;
    }
    *resp = &out->base;
    return 0;
}

void backup_close(tierd *d)
{
    if (d->backup)
        backup_end(d->backup);
}
