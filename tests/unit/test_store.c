/* The store's promises, proved on real LMDB files in throwaway dirs: records
 * round-trip, idempotency keys survive reopen, sequences never repeat, a
 * second owner is refused, a newer format is refused, a full map fails
 * cleanly and recovers, a read-only store still serves reads, and a process
 * killed with SIGKILL loses no acknowledged commit. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store.h"
#include "testutil.h"

#define TEST_PATH_MAX          256
#define TEST_SMALL_MAP         ((size_t)1 << 20)
#define TEST_BIG_BLOB          4096
#define TEST_DISK_BYTES        "4m"
#define TEST_BALLAST_BYTES     (2 << 20)
#define TEST_BIG_TURNS         1000
#define TEST_BIG_TURN_PARTNERS 64
#define TEST_KILL_ROUNDS       3
#define TEST_KILL_BATCH        3
#define TEST_KILL_MIN_MS       50
#define TEST_KILL_SPREAD_MS    250

static char dir[TEST_PATH_MAX];
static const store_options fast = {.no_sync = true};

static void make_dir(void)
{
    ck_assert_ptr_nonnull(tu_tmpdir("tierd-store", dir, sizeof dir));
}

static void remove_dir(void)
{
    ck_assert_int_eq(tu_rm_rf(dir), 0);
}

static store *open_ok(const store_options *opt)
{
    store *s = NULL;
    td_error err = {0};
    int rc = store_open(dir, opt, &s, &err);
    ck_assert_msg(rc == 0, "store_open: %s", err.message);
    return s;
}

static void begin_ok(store *s)
{
    td_error err = {0};
    ck_assert_msg(store_begin(s, &err) == 0, "begin: %s", err.message);
}

static void commit_ok(store *s)
{
    td_error err = {0};
    ck_assert_msg(store_commit(s, &err) == 0, "commit: %s", err.message);
}

static void put_partner_ok(store *s, const char *id, const char *blob)
{
    td_error err = {0};
    ck_assert_msg(store_put_partner(s, id, (const uint8_t *)blob, strlen(blob), &err) == 0,
                  "put partner: %s", err.message);
}

static bool partner_is(store *s, const char *id, const char *want)
{
    uint8_t *blob = NULL;
    size_t len = 0;
    td_error err = {0};
    if (store_get_partner(s, id, &blob, &len, &err) != 0)
        return false;
    bool same = len == strlen(want) && memcmp(blob, want, len) == 0;
    free(blob);
    return same;
}

static bool event_seen(store *s, const char *source, const char *id)
{
    bool seen = false;
    td_error err = {0};
    ck_assert_msg(store_event_seen(s, source, id, &seen, &err) == 0, "seen: %s", err.message);
    return seen;
}

static void put_event_ok(store *s, const char *source, const char *id)
{
    td_error err = {0};
    ck_assert_msg(store_put_event(s, source, id, (const uint8_t *)"ev", 2, &err) == 0,
                  "put event: %s", err.message);
}

/* Collects walk output as "a,b,c". */
typedef struct collect {
    char text[1024];
    size_t n;
} collect;

static void collect_add(collect *c, const char *s, size_t len)
{
    size_t used = strlen(c->text);
    snprintf(c->text + used, sizeof c->text - used, "%s%.*s", c->n++ ? "," : "", (int)len, s);
}

static int collect_blob(void *ud, const uint8_t *blob, size_t len)
{
    collect_add(ud, (const char *)blob, len);
    return 0;
}

static int collect_seq(void *ud, uint64_t seq, const uint8_t *pb, size_t len)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%llu:%.*s", (unsigned long long)seq, (int)len, (const char *)pb);
    collect_add(ud, buf, strlen(buf));
    return 0;
}

static void put_change_ok(store *s, const char *partner, const char *rec)
{
    uint64_t seq = 0;
    td_error err = {0};
    ck_assert_int_eq(store_next_sequence(s, &seq), 0);
    ck_assert_msg(store_put_change(s, seq, partner, (const uint8_t *)rec, strlen(rec), &err) == 0,
                  "put change: %s", err.message);
}

/* ---- records ---- */

START_TEST(test_partners_round_trip_and_walk_in_id_order)
{
    make_dir();
    store *s = open_ok(&fast);
    begin_ok(s);
    put_partner_ok(s, "p-2", "two");
    put_partner_ok(s, "p-1", "one");
    put_partner_ok(s, "p-3", "three");
    commit_ok(s);
    ck_assert(partner_is(s, "p-1", "one"));

    begin_ok(s);
    put_partner_ok(s, "p-1", "uno");
    td_error err = {0};
    ck_assert_int_eq(store_del_partner(s, "p-3", &err), 0);
    ck_assert(partner_is(s, "p-1", "uno")); /* the open txn sees its own write */
    commit_ok(s);

    collect c = {0};
    ck_assert_int_eq(store_each_partner(s, collect_blob, &c, &err), 0);
    ck_assert_str_eq(c.text, "uno,two");
    uint8_t *blob = NULL;
    size_t len = 0;
    ck_assert_int_eq(store_get_partner(s, "p-3", &blob, &len, &err), -TD_NOT_FOUND);
    ck_assert_int_eq(err.code, TD_NOT_FOUND);
    store_close(s);
    remove_dir();
}
END_TEST

START_TEST(test_abort_drops_the_turns_writes)
{
    make_dir();
    store *s = open_ok(&fast);
    begin_ok(s);
    put_partner_ok(s, "p-1", "one");
    commit_ok(s);
    begin_ok(s);
    put_partner_ok(s, "p-1", "changed");
    put_partner_ok(s, "p-2", "new");
    store_abort(s);
    ck_assert(!store_in_txn(s));
    ck_assert(partner_is(s, "p-1", "one"));
    ck_assert(!partner_is(s, "p-2", "new"));
    store_close(s);
    remove_dir();
}
END_TEST

START_TEST(test_event_is_seen_inside_its_txn_after_commit_and_after_reopen)
{
    make_dir();
    store *s = open_ok(&fast);
    ck_assert(!event_seen(s, "crm", "opp-1"));
    begin_ok(s);
    put_event_ok(s, "crm", "opp-1");
    ck_assert(event_seen(s, "crm", "opp-1"));
    ck_assert(!event_seen(s, "lms", "opp-1")); /* the source is part of the key */
    td_error err = {0};
    ck_assert_int_eq(store_put_event(s, "crm", "opp-1", (const uint8_t *)"x", 1, &err),
                     -TD_ALREADY_EXISTS);
    commit_ok(s);
    ck_assert(event_seen(s, "crm", "opp-1"));
    ck_assert_uint_eq(store_event_count(s), 1);
    store_close(s);

    s = open_ok(&fast);
    ck_assert(event_seen(s, "crm", "opp-1"));
    ck_assert_uint_eq(store_event_count(s), 1);
    store_close(s);
    remove_dir();
}
END_TEST

START_TEST(test_aborted_event_is_not_seen)
{
    make_dir();
    store *s = open_ok(&fast);
    begin_ok(s);
    put_event_ok(s, "crm", "opp-1");
    store_abort(s);
    ck_assert(!event_seen(s, "crm", "opp-1"));
    ck_assert_uint_eq(store_event_count(s), 0);
    store_close(s);
    remove_dir();
}
END_TEST

START_TEST(test_overlong_and_empty_keys_are_rejected_with_a_reason)
{
    make_dir();
    store *s = open_ok(&fast);
    char longid[600];
    memset(longid, 'x', sizeof longid - 1);
    longid[sizeof longid - 1] = 0;
    bool seen = true;
    td_error err = {0};
    ck_assert_int_eq(store_event_seen(s, "crm", longid, &seen, &err), -TD_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(err.message, "limit"));
    begin_ok(s);
    ck_assert_int_eq(store_put_partner(s, "", (const uint8_t *)"x", 1, &err), -TD_INVALID_ARGUMENT);
    ck_assert_int_eq(store_put_partner(s, longid, (const uint8_t *)"x", 1, &err),
                     -TD_INVALID_ARGUMENT);
    /* Rejected arguments do not poison the turn. */
    put_partner_ok(s, "p-1", "one");
    commit_ok(s);
    ck_assert(partner_is(s, "p-1", "one"));
    store_close(s);
    remove_dir();
}
END_TEST

/* ---- sequences and the change log ---- */

START_TEST(test_sequences_survive_reopen_and_abort_hands_them_out_again)
{
    make_dir();
    store *s = open_ok(&fast);
    ck_assert_uint_eq(store_last_sequence(s), 0);
    begin_ok(s);
    put_change_ok(s, "p-1", "a");
    put_change_ok(s, "p-1", "b");
    commit_ok(s);
    ck_assert_uint_eq(store_last_sequence(s), 2);

    begin_ok(s);
    uint64_t seq = 0;
    ck_assert_int_eq(store_next_sequence(s, &seq), 0);
    ck_assert_uint_eq(seq, 3);
    store_abort(s);
    ck_assert_uint_eq(store_last_sequence(s), 2);
    store_close(s);

    s = open_ok(&fast);
    ck_assert_uint_eq(store_last_sequence(s), 2);
    begin_ok(s);
    ck_assert_int_eq(store_next_sequence(s, &seq), 0);
    ck_assert_uint_eq(seq, 3);
    store_abort(s);
    ck_assert_int_ne(store_next_sequence(s, &seq), 0); /* no txn, no number */
    store_close(s);
    remove_dir();
}
END_TEST

START_TEST(test_changes_since_respect_since_and_limit)
{
    make_dir();
    store *s = open_ok(&fast);
    begin_ok(s);
    put_change_ok(s, "p-1", "a");
    put_change_ok(s, "p-2", "b");
    put_change_ok(s, "p-1", "c");
    put_change_ok(s, "p-3", "d");
    commit_ok(s);
    td_error err = {0};
    collect c = {0};
    ck_assert_int_eq(store_each_change_since(s, 0, 0, collect_seq, &c, &err), 0);
    ck_assert_str_eq(c.text, "1:a,2:b,3:c,4:d");
    collect d = {0};
    ck_assert_int_eq(store_each_change_since(s, 1, 2, collect_seq, &d, &err), 0);
    ck_assert_str_eq(d.text, "2:b,3:c");
    collect e = {0};
    ck_assert_int_eq(store_each_change_since(s, 4, 0, collect_seq, &e, &err), 0);
    ck_assert_str_eq(e.text, "");
    store_close(s);
    remove_dir();
}
END_TEST

START_TEST(test_partner_changes_walk_newest_first_and_stop_at_the_partner)
{
    make_dir();
    store *s = open_ok(&fast);
    begin_ok(s);
    put_change_ok(s, "p-1", "a");
    put_change_ok(s, "p-10", "x"); /* shares a prefix with p-1 */
    put_change_ok(s, "p-1", "b");
    put_change_ok(s, "p-0", "y");
    put_change_ok(s, "p-1", "c");
    commit_ok(s);
    td_error err = {0};
    collect c = {0};
    ck_assert_int_eq(store_each_partner_change(s, "p-1", 0, collect_seq, &c, &err), 0);
    ck_assert_str_eq(c.text, "5:c,3:b,1:a");
    collect d = {0};
    ck_assert_int_eq(store_each_partner_change(s, "p-1", 2, collect_seq, &d, &err), 0);
    ck_assert_str_eq(d.text, "5:c,3:b");
    collect e = {0};
    ck_assert_int_eq(store_each_partner_change(s, "p-10", 0, collect_seq, &e, &err), 0);
    ck_assert_str_eq(e.text, "2:x");
    collect f = {0};
    ck_assert_int_eq(store_each_partner_change(s, "p-9", 0, collect_seq, &f, &err), 0);
    ck_assert_str_eq(f.text, "");
    store_close(s);
    remove_dir();
}
END_TEST

/* ---- programs, cursors, meta ---- */

static int collect_program(void *ud, uint64_t index, const uint8_t *pb, size_t len)
{
    return collect_seq(ud, index, pb, len);
}

START_TEST(test_program_versions_keep_load_order_across_reopen)
{
    make_dir();
    store *s = open_ok(&fast);
    td_error err = {0};
    uint64_t idx = 0;
    begin_ok(s);
    ck_assert_int_eq(store_put_program(s, &idx, (const uint8_t *)"v1", 2, &err), 0);
    ck_assert_uint_eq(idx, 1);
    ck_assert_int_eq(store_put_program(s, &idx, (const uint8_t *)"v2", 2, &err), 0);
    ck_assert_uint_eq(idx, 2);
    commit_ok(s);
    store_close(s);
    s = open_ok(&fast);
    begin_ok(s);
    ck_assert_int_eq(store_put_program(s, &idx, (const uint8_t *)"v3", 2, &err), 0);
    ck_assert_uint_eq(idx, 3);
    commit_ok(s);
    collect c = {0};
    ck_assert_int_eq(store_each_program(s, collect_program, &c, &err), 0);
    ck_assert_str_eq(c.text, "1:v1,2:v2,3:v3");
    store_close(s);
    remove_dir();
}
END_TEST

START_TEST(test_cursors_and_meta_round_trip)
{
    make_dir();
    store *s = open_ok(&fast);
    td_error err = {0};
    char *cur = (char *)"sentinel";
    ck_assert_int_eq(store_get_cursor(s, "crm", &cur, &err), 0);
    ck_assert_ptr_null(cur);
    begin_ok(s);
    ck_assert_int_eq(store_put_cursor(s, "crm", "2026-05-01|opp-9", &err), 0);
    ck_assert_int_eq(store_put_meta(s, "clock", (const uint8_t *)"\x01\x02", 2, &err), 0);
    ck_assert_int_eq(store_put_meta(s, "format", (const uint8_t *)"\x09", 1, &err),
                     -TD_INVALID_ARGUMENT);
    commit_ok(s);
    store_close(s);
    s = open_ok(&fast);
    ck_assert_int_eq(store_get_cursor(s, "crm", &cur, &err), 0);
    ck_assert_str_eq(cur, "2026-05-01|opp-9");
    free(cur);
    uint8_t *v = NULL;
    size_t len = 0;
    ck_assert_int_eq(store_get_meta(s, "clock", &v, &len, &err), 0);
    ck_assert_uint_eq(len, 2);
    ck_assert_int_eq(memcmp(v, "\x01\x02", 2), 0);
    free(v);
    ck_assert_int_eq(store_get_meta(s, "absent", &v, &len, &err), -TD_NOT_FOUND);
    store_close(s);
    remove_dir();
}
END_TEST

/* ---- ownership and format ---- */

START_TEST(test_second_open_in_the_same_process_is_refused_naming_the_pid)
{
    make_dir();
    store *s = open_ok(&fast);
    store *t = NULL;
    td_error err = {0};
    ck_assert_int_eq(store_open(dir, &fast, &t, &err), -TD_UNAVAILABLE);
    ck_assert_ptr_null(t);
    char want[64];
    snprintf(want, sizeof want, "in use by pid %ld", (long)getpid());
    ck_assert_msg(strstr(err.message, want), "message: %s", err.message);
    /* The refused open left the first store working. */
    begin_ok(s);
    put_partner_ok(s, "p-1", "one");
    commit_ok(s);
    store_close(s);
    s = open_ok(&fast); /* closing released the lock */
    ck_assert(partner_is(s, "p-1", "one"));
    store_close(s);
    remove_dir();
}
END_TEST

START_TEST(test_second_process_is_refused_while_the_first_holds_the_dir)
{
    make_dir();
    int ready[2], done[2];
    ck_assert_int_eq(pipe(ready), 0);
    ck_assert_int_eq(pipe(done), 0);
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        store *s = NULL;
        td_error err = {0};
        char ok = store_open(dir, &fast, &s, &err) == 0 ? 'y' : 'n';
        if (write(ready[1], &ok, 1) != 1)
            _exit(2);
        char c;
        if (read(done[0], &c, 1) < 0)
            _exit(2);
        store_close(s);
        _exit(0);
    }
    char ok = 0;
    ck_assert_int_eq(read(ready[0], &ok, 1), 1);
    ck_assert_int_eq(ok, 'y');
    store *s = NULL;
    td_error err = {0};
    ck_assert_int_eq(store_open(dir, &fast, &s, &err), -TD_UNAVAILABLE);
    char want[64];
    snprintf(want, sizeof want, "in use by pid %ld", (long)child);
    ck_assert_msg(strstr(err.message, want), "message: %s", err.message);
    ck_assert_int_eq(write(done[1], "x", 1), 1);
    int status = 0;
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    s = open_ok(&fast);
    store_close(s);
    remove_dir();
}
END_TEST

/* Writes meta "format" with a raw LMDB transaction, bypassing the store. */
static void write_raw_format(const uint8_t *v, size_t len)
{
    char path[TEST_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/tierd.mdb", dir);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi meta;
    ck_assert_int_eq(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 8);
    ck_assert_int_eq(mdb_env_open(env, path, MDB_NOSUBDIR, 0644), 0);
    ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    ck_assert_int_eq(mdb_dbi_open(txn, "meta", 0, &meta), 0);
    MDB_val k = {6, "format"}, val = {len, (void *)v};
    ck_assert_int_eq(mdb_put(txn, meta, &k, &val, 0), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

START_TEST(test_store_from_a_newer_format_is_refused_naming_both_versions)
{
    make_dir();
    store_close(open_ok(&fast));

    /* Rewrite meta.format behind the store's back, as a newer tierd would. */
    uint8_t v[4] = {0, 0, 0, STORE_FORMAT_VERSION + 1};
    write_raw_format(v, sizeof v);

    store *s = NULL;
    td_error err = {0};
    ck_assert_int_eq(store_open(dir, &fast, &s, &err), -TD_FAILED_PRECONDITION);
    char newer[32], ours[32];
    snprintf(newer, sizeof newer, "format %d", STORE_FORMAT_VERSION + 1);
    snprintf(ours, sizeof ours, "format %d", STORE_FORMAT_VERSION);
    ck_assert_msg(strstr(err.message, newer) && strstr(err.message, ours), "message: %s",
                  err.message);
    remove_dir();
}
END_TEST

START_TEST(test_damaged_format_record_is_data_loss)
{
    make_dir();
    store_close(open_ok(&fast));
    write_raw_format((const uint8_t *)"\x01\x02\x03", 3);
    store *s = NULL;
    td_error err = {0};
    ck_assert_int_eq(store_open(dir, &fast, &s, &err), -TD_DATA_LOSS);
    ck_assert_ptr_nonnull(strstr(err.message, "format"));
    remove_dir();
}
END_TEST

START_TEST(test_open_refuses_a_path_that_is_not_a_directory)
{
    store *s = NULL;
    td_error err = {0};
    ck_assert_int_ne(store_open("/etc/hostname", &fast, &s, &err), 0);
    ck_assert_ptr_null(s);
    ck_assert_ptr_nonnull(strstr(err.message, "/etc/hostname"));
    ck_assert_int_ne(store_open("/nonexistent/tierd", &fast, &s, &err), 0);
    ck_assert_ptr_null(s);
}
END_TEST

/* ---- full map ---- */

static int fill_until_full(store *s, int *committed, td_error *err)
{
    char blob[TEST_BIG_BLOB];
    memset(blob, 'b', sizeof blob - 1);
    blob[sizeof blob - 1] = 0;
    for (int i = 0; i < 100000; i++) {
        char id[32];
        snprintf(id, sizeof id, "p-%06d", i);
        int rc = store_begin(s, err);
        if (rc == 0)
            rc = store_put_partner(s, id, (const uint8_t *)blob, strlen(blob), err);
        if (rc == 0)
            rc = store_commit(s, err);
        if (rc)
            return rc;
        *committed = i + 1;
    }
    return 0;
}

START_TEST(test_failed_write_fails_the_rest_of_its_turn_and_drops_all_of_it)
{
    make_dir();
    store_options opt = {.no_sync = true, .map_size = TEST_SMALL_MAP};
    store *s = open_ok(&opt);
    begin_ok(s);
    put_partner_ok(s, "p-1", "one");
    commit_ok(s);

    begin_ok(s);
    put_partner_ok(s, "p-2", "two"); /* written before the failure: must vanish */
    size_t huge_len = 2 * TEST_SMALL_MAP;
    uint8_t *huge = calloc(1, huge_len);
    ck_assert_ptr_nonnull(huge);
    td_error err = {0};
    ck_assert_int_eq(store_put_partner(s, "p-huge", huge, huge_len, &err), -TD_RESOURCE_EXHAUSTED);
    free(huge);
    ck_assert_msg(strstr(err.message, "is full"), "message: %s", err.message);

    td_error later = {0};
    ck_assert_int_eq(store_put_partner(s, "p-3", (const uint8_t *)"x", 1, &later),
                     -TD_RESOURCE_EXHAUSTED);
    ck_assert_str_eq(later.message, err.message);
    ck_assert_int_eq(store_begin(s, &later), -TD_RESOURCE_EXHAUSTED);
    uint64_t seq = 0;
    ck_assert_int_ne(store_next_sequence(s, &seq), 0);
    ck_assert_int_eq(store_commit(s, &later), -TD_RESOURCE_EXHAUSTED); /* ends the turn */

    ck_assert(partner_is(s, "p-1", "one")); /* reads still served */
    ck_assert(!partner_is(s, "p-2", "two"));
    begin_ok(s);
    put_partner_ok(s, "p-4", "four");
    commit_ok(s);
    ck_assert(partner_is(s, "p-4", "four"));
    store_close(s);
    remove_dir();
}
END_TEST

static int stop_at_second(void *ud, const uint8_t *blob, size_t len)
{
    (void)blob;
    (void)len;
    int *n = ud;
    return ++*n == 2 ? 7 : 0;
}

START_TEST(test_partner_walk_stops_when_the_callback_says_so)
{
    make_dir();
    store *s = open_ok(&fast);
    begin_ok(s);
    put_partner_ok(s, "p-1", "a");
    put_partner_ok(s, "p-2", "b");
    put_partner_ok(s, "p-3", "c");
    commit_ok(s);
    int n = 0;
    td_error err = {0};
    ck_assert_int_eq(store_each_partner(s, stop_at_second, &n, &err), 7);
    ck_assert_int_eq(n, 2);
    /* The walk's read transaction was released: a write turn still works. */
    begin_ok(s);
    put_partner_ok(s, "p-4", "d");
    commit_ok(s);
    store_close(s);
    remove_dir();
}
END_TEST

START_TEST(test_full_map_fails_clearly_keeps_committed_data_and_recovers)
{
    make_dir();
    store_options opt = {.no_sync = true, .map_size = TEST_SMALL_MAP};
    store *s = open_ok(&opt);
    td_error err = {0};
    int committed = 0;
    ck_assert_int_eq(fill_until_full(s, &committed, &err), -TD_RESOURCE_EXHAUSTED);
    ck_assert_msg(strstr(err.message, "is full") && strstr(err.message, dir), "message: %s",
                  err.message);
    ck_assert_int_gt(committed, 10);

    /* The rest of the failed turn repeats the error instead of writing half. */
    td_error again = {0};
    ck_assert_int_eq(store_put_partner(s, "p-x", (const uint8_t *)"x", 1, &again),
                     store_in_txn(s) ? 0 : -TD_RESOURCE_EXHAUSTED);
    store_abort(s);

    uint8_t *blob = NULL;
    size_t len = 0;
    char last[32];
    snprintf(last, sizeof last, "p-%06d", committed - 1);
    ck_assert_int_eq(store_get_partner(s, last, &blob, &len, &err), 0);
    ck_assert_uint_eq(len, TEST_BIG_BLOB - 1);
    free(blob);

    /* Space comes back: delete half, then a small write succeeds, no reopen. */
    begin_ok(s);
    for (int i = 0; i < committed / 2; i++) {
        char id[32];
        snprintf(id, sizeof id, "p-%06d", i);
        ck_assert_int_eq(store_del_partner(s, id, &err), 0);
    }
    commit_ok(s);
    begin_ok(s);
    commit_ok(s); /* a second commit lets LMDB reuse the freed pages */
    begin_ok(s);
    put_partner_ok(s, "p-after", "small");
    commit_ok(s);
    ck_assert(partner_is(s, "p-after", "small"));
    store_close(s);
    remove_dir();
}
END_TEST

START_TEST(test_map_grows_between_turns_up_to_map_max)
{
    make_dir();
    store_options opt = {
        .no_sync = true, .map_size = TEST_SMALL_MAP, .map_max = 8 * TEST_SMALL_MAP};
    store *s = open_ok(&opt);
    td_error err = {0};
    int committed = 0;
    ck_assert_int_eq(fill_until_full(s, &committed, &err), -TD_RESOURCE_EXHAUSTED);
    store_abort(s);
    /* 4 KiB blobs: a 1 MiB map holds ~200, an 8 MiB map several times that. */
    ck_assert_int_gt(committed, 1000);
    store_close(s);
    remove_dir();
}
END_TEST

/* ---- read-only ---- */

START_TEST(test_read_only_store_serves_reads_and_refuses_writes)
{
    make_dir();
    store *s = open_ok(&fast);
    begin_ok(s);
    put_partner_ok(s, "p-1", "one");
    put_event_ok(s, "crm", "e-1");
    commit_ok(s);
    store_close(s);

    store_options ro = {.read_only = true};
    s = open_ok(&ro);
    ck_assert(partner_is(s, "p-1", "one"));
    ck_assert(event_seen(s, "crm", "e-1"));
    td_error err = {0};
    ck_assert_int_eq(store_begin(s, &err), -TD_UNAVAILABLE);
    ck_assert_msg(strstr(err.message, "read-only") && strstr(err.message, dir), "message: %s",
                  err.message);
    ck_assert_int_eq(store_put_partner(s, "p-2", (const uint8_t *)"x", 1, &err), -TD_UNAVAILABLE);
    ck_assert(partner_is(s, "p-1", "one"));
    store_close(s);
    remove_dir();
}
END_TEST

START_TEST(test_read_only_open_of_an_empty_dir_says_there_is_no_store)
{
    make_dir();
    store_options ro = {.read_only = true};
    store *s = NULL;
    td_error err = {0};
    ck_assert_int_eq(store_open(dir, &ro, &s, &err), -TD_UNAVAILABLE);
    ck_assert_ptr_nonnull(strstr(err.message, "no tierd store"));
    remove_dir();
}
END_TEST

/* ---- full disk ---- */

/* A real full disk: a 4 MiB tmpfs, which needs CAP_SYS_ADMIN. The mount is
 * made and removed by unchecked fixtures in the runner process, so a failing
 * test cannot leave it behind. Without the capability the test says it did
 * not run. */
static char disk[TEST_PATH_MAX];
static bool disk_mounted;

static void disk_setup(void)
{
    snprintf(disk, sizeof disk, "/tmp/tierd-store-disk-%ld", (long)getpid());
    disk_mounted =
        mkdir(disk, 0700) == 0 && mount("tmpfs", disk, "tmpfs", 0, "size=" TEST_DISK_BYTES) == 0;
}

static void disk_teardown(void)
{
    if (disk_mounted)
        umount2(disk, MNT_DETACH);
    rmdir(disk);
}

/* Points the store at the small disk; false (the test then does not run,
 * and says so) when there is none. */
static bool use_small_disk(const char *test)
{
    if (!disk_mounted) {
        fprintf(stderr, "%s: not run (mounting a tmpfs needs CAP_SYS_ADMIN)\n", test);
        return false;
    }
    snprintf(dir, sizeof dir, "%s", disk);
    return true;
}

START_TEST(test_full_disk_fails_clearly_and_writes_return_when_space_does)
{
    if (!use_small_disk(__func__))
        return;
    char ballast[TEST_PATH_MAX + 16];
    snprintf(ballast, sizeof ballast, "%s/ballast", disk);
    FILE *f = fopen(ballast, "w");
    ck_assert_ptr_nonnull(f);
    static char zeros[TEST_BALLAST_BYTES];
    ck_assert_uint_eq(fwrite(zeros, 1, sizeof zeros, f), sizeof zeros);
    ck_assert_int_eq(fclose(f), 0);

    store *s = open_ok(NULL);
    td_error err = {0};
    int committed = 0;
    ck_assert_int_eq(fill_until_full(s, &committed, &err), -TD_RESOURCE_EXHAUSTED);
    ck_assert_msg(strstr(err.message, "disk full") && strstr(err.message, disk), "message: %s",
                  err.message);
    ck_assert_int_gt(committed, 0);
    store_abort(s);

    char last[32];
    snprintf(last, sizeof last, "p-%06d", committed - 1);
    uint8_t *blob = NULL;
    size_t len = 0;
    ck_assert_int_eq(store_get_partner(s, last, &blob, &len, &err), 0);
    free(blob);

    ck_assert_int_eq(unlink(ballast), 0); /* space comes back */
    begin_ok(s);
    put_partner_ok(s, "p-after", "small");
    commit_ok(s);
    store_close(s);
    s = open_ok(NULL);
    ck_assert(partner_is(s, "p-after", "small"));
    ck_assert_int_eq(store_get_partner(s, last, &blob, &len, &err), 0);
    free(blob);
    store_close(s);
}
END_TEST

/* A turn of many pages: LMDB writes them with one pwritev, which a full
 * disk cuts short, and LMDB reports a short write as EIO. The caller must
 * still hear "disk full" with the path, not an I/O error. */
START_TEST(test_full_disk_in_a_big_turn_says_disk_full_and_the_path)
{
    if (!use_small_disk(__func__))
        return;
    store *s = open_ok(NULL);
    char blob[TEST_BIG_BLOB];
    memset(blob, 'b', sizeof blob - 1);
    blob[sizeof blob - 1] = 0;
    td_error err = {0};
    int rc = 0;
    for (int turn = 0; rc == 0 && turn < TEST_BIG_TURNS; turn++) {
        rc = store_begin(s, &err);
        for (int i = 0; rc == 0 && i < TEST_BIG_TURN_PARTNERS; i++) {
            char id[32];
            snprintf(id, sizeof id, "p-%04d-%03d", turn, i);
            rc = store_put_partner(s, id, (const uint8_t *)blob, strlen(blob), &err);
        }
        if (rc == 0)
            rc = store_commit(s, &err);
    }
    ck_assert_int_eq(rc, -TD_RESOURCE_EXHAUSTED);
    ck_assert_msg(strstr(err.message, "disk full") && strstr(err.message, disk), "message: %s",
                  err.message);
    store_abort(s);
    store_close(s);
}
END_TEST

/* ---- file modes ---- */

static mode_t file_mode(const char *name)
{
    char path[TEST_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat st;
    ck_assert_msg(stat(path, &st) == 0, "%s: %s", path, strerror(errno));
    return st.st_mode & 0777;
}

/* The store holds every partner's facts: nobody but the daemon's user may
 * read it, whatever the umask and the state dir's mode. */
START_TEST(test_store_files_are_created_0600_whatever_the_umask)
{
    make_dir();
    ck_assert_int_eq(chmod(dir, 0755), 0);
    mode_t old = umask(0);
    store *s = open_ok(&fast);
    umask(old);
    ck_assert_uint_eq(file_mode("tierd.mdb"), 0600);
    ck_assert_uint_eq(file_mode("tierd.mdb-lock"), 0600);
    ck_assert_uint_eq(file_mode("tierd.lock"), 0600);
    store_close(s);
    remove_dir();
}
END_TEST

START_TEST(test_store_files_left_readable_by_an_older_tierd_are_narrowed_to_0600)
{
    make_dir();
    store *s = open_ok(&fast);
    store_close(s);
    const char *names[] = {"tierd.mdb", "tierd.mdb-lock", "tierd.lock"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[TEST_PATH_MAX + 32];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        ck_assert_int_eq(chmod(path, 0644), 0);
    }
    s = open_ok(&fast);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        ck_assert_msg(file_mode(names[i]) == 0600, "%s is %o", names[i], file_mode(names[i]));
    store_close(s);
    remove_dir();
}
END_TEST

START_TEST(test_read_only_filesystem_serves_reads_and_refuses_writes)
{
    if (!use_small_disk(__func__))
        return;
    store *s = open_ok(NULL);
    begin_ok(s);
    put_partner_ok(s, "p-1", "one");
    commit_ok(s);
    store_close(s);
    ck_assert_int_eq(mount(NULL, disk, NULL, MS_REMOUNT | MS_RDONLY, NULL), 0);

    s = open_ok(NULL); /* no option: the store notices by itself */
    ck_assert(partner_is(s, "p-1", "one"));
    td_error err = {0};
    ck_assert_int_eq(store_begin(s, &err), -TD_UNAVAILABLE);
    ck_assert_msg(strstr(err.message, "read-only") && strstr(err.message, disk), "message: %s",
                  err.message);
    ck_assert(partner_is(s, "p-1", "one"));
    store_close(s);
}
END_TEST

/* ---- kill -9 ---- */

/* The child commits TEST_KILL_BATCH events per turn and acknowledges the
 * count on the pipe only after store_commit returned, as the daemon answers
 * only after its commit. It continues from whatever the store holds, so
 * several rounds of kill and restart pile up on one store. */
static void writer_child(int fd)
{
    store *s = NULL;
    td_error err = {0};
    if (store_open(dir, NULL, &s, &err) != 0)
        _exit(3);
    for (uint32_t n = (uint32_t)store_event_count(s);;) {
        if (store_begin(s, &err))
            _exit(4);
        for (int b = 0; b < TEST_KILL_BATCH; b++) {
            char id[32];
            snprintf(id, sizeof id, "e-%u", ++n);
            uint64_t seq = 0;
            if (store_put_event(s, "k", id, (const uint8_t *)id, strlen(id), &err) ||
                store_next_sequence(s, &seq) ||
                store_put_change(s, seq, "p-1", (const uint8_t *)id, strlen(id), &err))
                _exit(4);
        }
        if (store_commit(s, &err))
            _exit(4);
        if (write(fd, &n, sizeof n) != sizeof n)
            _exit(5);
    }
}

/* Runs one writer, kills it at a random moment, returns the last count it
 * acknowledged. */
static uint32_t kill_writer_at_random(void)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        close(p[0]);
        writer_child(p[1]);
    }
    close(p[1]);
    /* Wait for the first acknowledgement so a slow start cannot make the
     * round prove nothing. */
    uint32_t acked = 0, n;
    ck_assert_int_eq(read(p[0], &acked, sizeof acked), sizeof acked);
    /* The crash strikes at a random moment: a scenario, not a wait. */
    tu_sleep_ms(TEST_KILL_MIN_MS + rand() % TEST_KILL_SPREAD_MS);
    ck_assert_int_eq(kill(child, SIGKILL), 0);
    int status = 0;
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert_msg(WIFSIGNALED(status), "writer exited early with %d", WEXITSTATUS(status));
    while (read(p[0], &n, sizeof n) == sizeof n)
        acked = n;
    close(p[0]);
    return acked;
}

START_TEST(test_kill_9_loses_no_acknowledged_commit_and_keeps_no_half_turn)
{
    make_dir();
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    uint32_t before = 0;
    for (int round = 0; round < TEST_KILL_ROUNDS; round++) {
        uint32_t acked = kill_writer_at_random();
        ck_assert_uint_gt(acked, before);

        store *s = open_ok(NULL); /* the dead child's lock went with it */
        for (uint32_t i = 1; i <= acked; i++) {
            char id[32];
            snprintf(id, sizeof id, "e-%u", i);
            ck_assert_msg(event_seen(s, "k", id), "round %d: acknowledged event %u of %u lost",
                          round, i, acked);
        }
        /* Whole turns only: the one in flight either landed or did not.
         * Counts and sequences agree, so nothing was counted twice. */
        uint64_t events = store_event_count(s);
        ck_assert_uint_eq(events % TEST_KILL_BATCH, 0);
        ck_assert_uint_ge(events, acked);
        ck_assert_uint_le(events, acked + TEST_KILL_BATCH);
        ck_assert_uint_eq(store_last_sequence(s), events);
        before = (uint32_t)events;
        store_close(s);
    }
    remove_dir();
}
END_TEST

/* ---- copies: backup and restore ---- */

/* A compacted copy of a store with two partners and three events, at
 * dir/copy.mdb. */
static void make_copy(char *copy, size_t n)
{
    make_dir();
    store *s = open_ok(&fast);
    begin_ok(s);
    put_partner_ok(s, "p1", "blob-1");
    put_partner_ok(s, "p2", "blob-2");
    put_event_ok(s, "crm", "e1");
    put_event_ok(s, "crm", "e2");
    put_event_ok(s, "lms", "e3");
    put_change_ok(s, "p1", "change-1");
    commit_ok(s);
    snprintf(copy, n, "%s/copy.mdb", dir);
    int fd = open(copy, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    td_error err = {0};
    store_hold_map(s, true);
    ck_assert_msg(store_copy_compact(s, fd, &err) == 0, "%s", err.message);
    store_hold_map(s, false);
    close(fd);
    store_close(s);
}

START_TEST(test_a_compacted_copy_inspects_with_the_counts_it_holds)
{
    char copy[TEST_PATH_MAX + 16];
    make_copy(copy, sizeof copy);
    store_file_info info;
    td_error err = {0};
    ck_assert_msg(store_file_inspect(copy, &info, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(info.format, STORE_FORMAT_VERSION);
    ck_assert_uint_eq(info.partners, 2);
    ck_assert_uint_eq(info.events, 3);
    ck_assert_uint_eq(info.last_sequence, 1);
    remove_dir();
}
END_TEST

START_TEST(test_inspect_refuses_lmdb_without_tierd_and_a_newer_format)
{
    make_dir();
    /* An LMDB file with none of tierd's databases. */
    char path[TEST_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/other.mdb", dir);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    ck_assert_int_eq(mdb_env_create(&env), 0);
    ck_assert_int_eq(mdb_env_open(env, path, MDB_NOSUBDIR, 0600), 0);
    ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    ck_assert_int_eq(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
    MDB_val k = {3, "key"}, v = {5, "value"};
    ck_assert_int_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    store_file_info info;
    td_error err = {0};
    ck_assert_int_eq(store_file_inspect(path, &info, &err), -TD_INVALID_ARGUMENT);
    ck_assert_msg(strstr(err.message, "not a tierd store"), "%s", err.message);

    /* A store of a newer format. */
    store_close(open_ok(&fast));
    uint8_t fmt[4] = {0, 0, 0, STORE_FORMAT_VERSION + 1};
    write_raw_format(fmt, sizeof fmt);
    snprintf(path, sizeof path, "%s/tierd.mdb", dir);
    ck_assert_int_eq(store_file_inspect(path, &info, &err), -TD_FAILED_PRECONDITION);
    ck_assert_msg(strstr(err.message, "this tierd reads format 1 to"), "%s", err.message);
    remove_dir();
}
END_TEST

START_TEST(test_install_puts_the_copy_in_place_and_refuses_a_dir_holding_a_store_without_force)
{
    char copy[TEST_PATH_MAX + 16], target[TEST_PATH_MAX + 16];
    make_copy(copy, sizeof copy);
    snprintf(target, sizeof target, "%s/restored", dir);
    store_file_info info;
    td_error err = {0};
    ck_assert_msg(store_install_copy(copy, target, false, &info, &err) == 0, "%s", err.message);
    ck_assert_int_eq(store_install_copy(copy, target, false, &info, &err), -TD_ALREADY_EXISTS);
    ck_assert_msg(strstr(err.message, "--force"), "%s", err.message);
    ck_assert_msg(store_install_copy(copy, target, true, &info, &err) == 0, "%s", err.message);
    /* The restored dir opens as a store holding the copy's records. */
    store *s = NULL;
    ck_assert_msg(store_open(target, &fast, &s, &err) == 0, "%s", err.message);
    ck_assert(partner_is(s, "p2", "blob-2"));
    ck_assert(event_seen(s, "lms", "e3"));
    ck_assert_uint_eq(store_last_sequence(s), 1);
    /* Its lock is held now: a restore into it is refused. */
    ck_assert_int_eq(store_install_copy(copy, target, true, &info, &err), -TD_UNAVAILABLE);
    ck_assert_msg(strstr(err.message, "in use by pid"), "%s", err.message);
    store_close(s);
    remove_dir();
}
END_TEST

static int collect_event(void *ud, const void *key, size_t key_len, const char *source,
                         const char *id, const store_event_meta *meta, const uint8_t *pb,
                         size_t len)
{
    (void)key, (void)key_len, (void)meta, (void)pb, (void)len;
    char buf[64];
    snprintf(buf, sizeof buf, "%s/%s", source, id);
    collect_add(ud, buf, strlen(buf));
    return 0;
}

START_TEST(test_events_walk_in_key_order_and_resume_after_a_key)
{
    make_dir();
    store *s = open_ok(&fast);
    begin_ok(s);
    put_event_ok(s, "crm", "b");
    put_event_ok(s, "crm", "a");
    put_event_ok(s, "lms", "c");
    commit_ok(s);
    collect c = {0};
    td_error err = {0};
    ck_assert_int_eq(store_each_event(s, NULL, 0, collect_event, &c, &err), 0);
    ck_assert_str_eq(c.text, "crm/a,crm/b,lms/c");
    collect d = {0};
    ck_assert_int_eq(store_each_event(s, "crm\0b", 5, collect_event, &d, &err), 0);
    ck_assert_str_eq(d.text, "lms/c");
    store_close(s);
    remove_dir();
}
END_TEST

static Suite *store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *rec = tcase_create("records");
    tcase_add_test(rec, test_partners_round_trip_and_walk_in_id_order);
    tcase_add_test(rec, test_abort_drops_the_turns_writes);
    tcase_add_test(rec, test_event_is_seen_inside_its_txn_after_commit_and_after_reopen);
    tcase_add_test(rec, test_aborted_event_is_not_seen);
    tcase_add_test(rec, test_overlong_and_empty_keys_are_rejected_with_a_reason);
    tcase_add_test(rec, test_sequences_survive_reopen_and_abort_hands_them_out_again);
    tcase_add_test(rec, test_changes_since_respect_since_and_limit);
    tcase_add_test(rec, test_partner_changes_walk_newest_first_and_stop_at_the_partner);
    tcase_add_test(rec, test_program_versions_keep_load_order_across_reopen);
    tcase_add_test(rec, test_cursors_and_meta_round_trip);
    tcase_add_test(rec, test_partner_walk_stops_when_the_callback_says_so);
    suite_add_tcase(s, rec);

    TCase *own = tcase_create("ownership");
    tcase_add_test(own, test_second_open_in_the_same_process_is_refused_naming_the_pid);
    tcase_add_test(own, test_second_process_is_refused_while_the_first_holds_the_dir);
    tcase_add_test(own, test_store_from_a_newer_format_is_refused_naming_both_versions);
    tcase_add_test(own, test_damaged_format_record_is_data_loss);
    tcase_add_test(own, test_open_refuses_a_path_that_is_not_a_directory);
    suite_add_tcase(s, own);

    TCase *fail = tcase_create("failures");
    tcase_set_timeout(fail, 60);
    tcase_add_test(fail, test_failed_write_fails_the_rest_of_its_turn_and_drops_all_of_it);
    tcase_add_test(fail, test_full_map_fails_clearly_keeps_committed_data_and_recovers);
    tcase_add_test(fail, test_map_grows_between_turns_up_to_map_max);
    tcase_add_test(fail, test_read_only_store_serves_reads_and_refuses_writes);
    tcase_add_test(fail, test_read_only_open_of_an_empty_dir_says_there_is_no_store);
    tcase_add_test(fail, test_kill_9_loses_no_acknowledged_commit_and_keeps_no_half_turn);
    suite_add_tcase(s, fail);

    TCase *disk_case = tcase_create("full disk");
    tcase_add_unchecked_fixture(disk_case, disk_setup, disk_teardown);
    tcase_add_test(disk_case, test_full_disk_fails_clearly_and_writes_return_when_space_does);
    suite_add_tcase(s, disk_case);

    TCase *big_case = tcase_create("full disk, big turns");
    tcase_add_unchecked_fixture(big_case, disk_setup, disk_teardown);
    tcase_add_test(big_case, test_full_disk_in_a_big_turn_says_disk_full_and_the_path);
    suite_add_tcase(s, big_case);

    TCase *modes = tcase_create("file modes");
    tcase_add_test(modes, test_store_files_are_created_0600_whatever_the_umask);
    tcase_add_test(modes, test_store_files_left_readable_by_an_older_tierd_are_narrowed_to_0600);
    suite_add_tcase(s, modes);

    TCase *copies = tcase_create("copies");
    tcase_add_test(copies, test_a_compacted_copy_inspects_with_the_counts_it_holds);
    tcase_add_test(copies, test_inspect_refuses_lmdb_without_tierd_and_a_newer_format);
    tcase_add_test(
        copies,
        test_install_puts_the_copy_in_place_and_refuses_a_dir_holding_a_store_without_force);
    tcase_add_test(copies, test_events_walk_in_key_order_and_resume_after_a_key);
    suite_add_tcase(s, copies);

    TCase *ro_case = tcase_create("read-only filesystem");
    tcase_add_unchecked_fixture(ro_case, disk_setup, disk_teardown);
    tcase_add_test(ro_case, test_read_only_filesystem_serves_reads_and_refuses_writes);
    suite_add_tcase(s, ro_case);
    return s;
}

int main(void)
{
    return tu_run_suite(store_suite());
}
