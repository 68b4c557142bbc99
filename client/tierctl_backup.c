/* tierctl backup FILE (docs/tierctl.md, "backup"): asks tierd for a
 * compacted copy of its store (the Backup RPC), waits while tierd makes
 * it, fetches it in chunks and writes FILE atomically: a temporary file
 * beside FILE, checked against the size and SHA-256 tierd reported,
 * fsynced, then renamed over FILE. FILE is never left half-written. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tierctl.h"

#define BACKUP_CHUNK       (4u << 20) /* what tierd gives at most */
#define BACKUP_POLL_MIN_MS 20
#define BACKUP_POLL_MAX_MS 250
#define BACKUP_SHA256_LEN  32
#define BACKUP_HEX_LEN     (2 * BACKUP_SHA256_LEN + 1)
#define BACKUP_MS_PER_S    1000
#define BACKUP_NS_PER_MS   1000000L

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / BACKUP_MS_PER_S, (ms % BACKUP_MS_PER_S) * BACKUP_NS_PER_MS};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int backup_call(tctl *t, const char *id, uint64_t offset, bool done,
                       Tierd__BackupResponse **out, td_error *err)
{
    Tierd__BackupRequest req = TIERD__BACKUP_REQUEST__INIT;
    req.id = (char *)id;
    req.offset = offset;
    req.max_bytes = BACKUP_CHUNK;
    req.done = done;
    return td_client_call(t->cli, "Backup", &req.base, &tierd__backup_response__descriptor,
                          (ProtobufCMessage **)out, err);
}

/* Tells tierd it may remove the copy; failures do not matter (it removes
 * an abandoned copy itself). */
static void backup_release(tctl *t, const char *id)
{
    Tierd__BackupResponse *r = NULL;
    td_error err;
    if (backup_call(t, id, 0, true, &r, &err) == 0)
        tierd__backup_response__free_unpacked(r, NULL);
}

static void hex(const uint8_t *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 0xf];
    }
    out[2 * n] = 0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Fetches every chunk of backup `ready` into fd, hashing as it goes. */
static int fetch(tctl *t, const Tierd__BackupResponse *ready, int fd, uint8_t *sha, td_error *err)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "cannot start a SHA-256");
    }
    uint64_t off = 0;
    int rc = 0;
    while (rc == 0 && off < ready->size) {
        Tierd__BackupResponse *r = NULL;
        rc = backup_call(t, ready->id, off, false, &r, err);
        if (rc)
            break;
        if (r->data.len == 0 || r->offset != off)
            rc = td_error_set(err, TD_DATA_LOSS, "tierd sent no bytes at offset %llu of %llu",
                              (unsigned long long)off, (unsigned long long)ready->size);
        else if (write_all(fd, r->data.data, r->data.len) != 0)
            rc = td_error_set(err, errno == ENOSPC ? TD_RESOURCE_EXHAUSTED : TD_UNAVAILABLE,
                              "writing the backup: %s", strerror(errno));
        else if (EVP_DigestUpdate(ctx, r->data.data, r->data.len) != 1)
            rc = td_error_set(err, TD_INTERNAL, "SHA-256 failed");
        off += r->data.len;
        tierd__backup_response__free_unpacked(r, NULL);
    }
    unsigned len = 0;
    if (rc == 0 && (EVP_DigestFinal_ex(ctx, sha, &len) != 1 || len != BACKUP_SHA256_LEN))
        rc = td_error_set(err, TD_INTERNAL, "SHA-256 failed");
    EVP_MD_CTX_free(ctx);
    return rc;
}

static void print_done(tctl *t, const char *file, const Tierd__BackupResponse *r, const char *sha)
{
    if (t->json) {
        tctl_print_json(json_pack(
            "{s:s, s:I, s:s, s:I, s:I, s:I, s:I}", "file", file, "size", (json_int_t)r->size,
            "sha256", sha, "format", (json_int_t)r->format, "partners", (json_int_t)r->partners,
            "events", (json_int_t)r->events, "last_sequence", (json_int_t)r->last_sequence));
        return;
    }
    printf("backup %s: %llu bytes, sha256 %s\n  store format %u, %llu partners, %llu events, last "
           "change %llu\n",
           file, (unsigned long long)r->size, sha, (unsigned)r->format,
           (unsigned long long)r->partners, (unsigned long long)r->events,
           (unsigned long long)r->last_sequence);
}

/* Makes FILE's rename durable. */
static void sync_dir_of(const char *file)
{
    char copy[PATH_MAX];
    snprintf(copy, sizeof copy, "%s", file);
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
}

int tctl_backup(tctl *t, const char *file)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.XXXXXX", file) >= (int)sizeof tmp) {
        fprintf(stderr, "tierctl: backup: path too long\n");
        return TCTL_EXIT_USAGE;
    }
    td_error err;
    Tierd__BackupResponse *r = NULL;
    int rc = backup_call(t, "", 0, false, &r, &err);
    if (rc)
        return tctl_fail_rc(rc, &err);
    /* tierd copies on a thread of its own; ask until it is ready. */
    long wait = BACKUP_POLL_MIN_MS;
    while (rc == 0 && !r->ready) {
        char id[64];
        snprintf(id, sizeof id, "%s", r->id);
        tierd__backup_response__free_unpacked(r, NULL);
        r = NULL;
        sleep_ms(wait);
        wait = wait * 2 > BACKUP_POLL_MAX_MS ? BACKUP_POLL_MAX_MS : wait * 2;
        rc = backup_call(t, id, 0, false, &r, &err);
    }
    if (rc)
        return tctl_fail_rc(rc, &err);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "tierctl: backup: cannot create %s: %s\n", tmp, strerror(errno));
        backup_release(t, r->id);
        tierd__backup_response__free_unpacked(r, NULL);
        return TCTL_EXIT_REFUSED;
    }
    uint8_t sha[BACKUP_SHA256_LEN];
    rc = fetch(t, r, fd, sha, &err);
    char got[BACKUP_HEX_LEN], want[BACKUP_HEX_LEN] = "";
    hex(sha, sizeof sha, got);
    if (r->sha256.len == BACKUP_SHA256_LEN)
        hex(r->sha256.data, r->sha256.len, want);
    if (rc == 0 && strcmp(got, want) != 0)
        rc = td_error_set(&err, TD_DATA_LOSS,
                          "the copy received does not match: sha256 %s, tierd made %s", got,
                          *want ? want : "(none)");
    if (rc == 0 && fsync(fd) != 0)
        rc = td_error_set(&err, TD_UNAVAILABLE, "syncing %s: %s", tmp, strerror(errno));
    if (close(fd) != 0 && rc == 0)
        rc = td_error_set(&err, TD_UNAVAILABLE, "closing %s: %s", tmp, strerror(errno));
    if (rc == 0 && rename(tmp, file) != 0)
        rc =
            td_error_set(&err, TD_UNAVAILABLE, "renaming %s to %s: %s", tmp, file, strerror(errno));
    backup_release(t, r->id);
    if (rc) {
        unlink(tmp);
        tierd__backup_response__free_unpacked(r, NULL);
        td_error_prefix(&err, "backup");
        return tctl_fail(&err);
    }
    sync_dir_of(file);
    print_done(t, file, r, got);
    tierd__backup_response__free_unpacked(r, NULL);
    return TCTL_EXIT_OK;
}
