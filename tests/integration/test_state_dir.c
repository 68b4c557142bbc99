/* The state dir through the real daemon: a full disk reaches the client as
 * RESOURCE_EXHAUSTED "disk full" naming the state dir (not INTERNAL with an
 * I/O error), the store's files are private whatever the umask, and a
 * state dir other users can read is warned about at start.
 *
 * The reply is checked as libtierd-client receives it: tierctl's import
 * reads RESOURCE_EXHAUSTED as "batch too large" and splits (its own
 * business).
 *
 * The full disk is a real one: a small tmpfs with ballast, mounted by an
 * unchecked fixture in the runner process (so a failing test cannot leave
 * it behind), which needs CAP_SYS_ADMIN; without it the test says it did
 * not run. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define DISK_SIZE         "4m"
#define DISK_BALLAST      (2u << 20)
#define DISK_EVENTS_BATCH 2000
#define DISK_MAX_BATCHES  200
#define DISK_KEY_BYTES    200 /* long `key`s fill pages fast */
#define DISK_ID_BYTES     32
#define DISK_PARTNERS     300 /* in examples/data/partners.ndjson */
#define FILE_MODE_MASK    0777
#define PRIVATE_MODE      0600
#define WORLD_READABLE    0755

static char disk[HARNESS_DIR_MAX];
static bool disk_mounted;

static void disk_setup(void)
{
    snprintf(disk, sizeof disk, "/tmp/tierd-test-disk-%ld", (long)getpid());
    disk_mounted =
        mkdir(disk, 0700) == 0 && mount("tmpfs", disk, "tmpfs", 0, "size=" DISK_SIZE) == 0;
}

static void disk_teardown(void)
{
    if (disk_mounted)
        umount2(disk, MNT_DETACH);
    rmdir(disk);
}

/* A harness whose state dir is on the small disk. */
static void init_on_disk(harness *h)
{
    harness_init(h);
    snprintf(h->state, sizeof h->state, "%s/state", disk);
    snprintf(h->url, sizeof h->url, "ipc://%s/rpc.sock", h->state);
    snprintf(h->pub_url, sizeof h->pub_url, "ipc://%s/pub.sock", h->state);
}

static void write_ballast(void)
{
    char path[HARNESS_PATH_MAX];
    snprintf(path, sizeof path, "%s/ballast", disk);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    static char zeros[DISK_BALLAST];
    ck_assert_uint_eq(fwrite(zeros, 1, sizeof zeros, f), sizeof zeros);
    ck_assert_int_eq(fclose(f), 0);
}

static void tierctl_ok(harness *h, const char *const *argv)
{
    char *out = NULL, *err = NULL;
    int rc = harness_tierctl(h, argv, &out, &err);
    ck_assert_msg(rc == 0, "tierctl %s: %s", argv[0], err);
    free(out);
    free(err);
}

START_TEST(test_full_disk_reaches_the_client_as_resource_exhausted_disk_full_with_the_path)
{
    if (!disk_mounted) {
        fprintf(stderr, "test_full_disk_reaches_the_client...: not run (needs CAP_SYS_ADMIN)\n");
        return;
    }
    write_ballast();
    harness h;
    init_on_disk(&h);
    char program[HARNESS_PATH_MAX];
    snprintf(program, sizeof program, "%s/examples/programs/partners.yaml",
             getenv("TIERD_SOURCE_ROOT"));
    HARNESS_START_OK(&h, "--program", program, NULL);
    char partners[HARNESS_PATH_MAX];
    snprintf(partners, sizeof partners, "%s/examples/data/partners.ndjson",
             getenv("TIERD_SOURCE_ROOT"));
    tierctl_ok(&h, (const char *const[]){"partner", "import", partners, NULL});

    /* Ingest through libtierd-client: what the daemon itself answers. */
    td_client *c = harness_client(&h, NULL);
    static Tierd__Event ev[DISK_EVENTS_BATCH];
    static Tierd__Event *evp[DISK_EVENTS_BATCH];
    static char ids[DISK_EVENTS_BATCH][DISK_ID_BYTES],
        partner_ids[DISK_EVENTS_BATCH][DISK_ID_BYTES];
    static char keys[DISK_EVENTS_BATCH][DISK_KEY_BYTES + DISK_ID_BYTES];
    td_error err = {0};
    int rc = 0;
    for (int batch = 0; rc == 0 && batch < DISK_MAX_BATCHES; batch++) {
        for (int i = 0; i < DISK_EVENTS_BATCH; i++) {
            tierd__event__init(&ev[i]);
            snprintf(ids[i], sizeof ids[i], "e-%d-%d", batch, i);
            snprintf(partner_ids[i], sizeof partner_ids[i], "p-%04d", i % DISK_PARTNERS + 1);
            snprintf(keys[i], sizeof keys[i], "%0*d", DISK_KEY_BYTES, i);
            ev[i].id = ids[i];
            ev[i].source = "crm";
            ev[i].partner = partner_ids[i];
            ev[i].metric = "deal_closed";
            ev[i].at = "2026-05-01T00:00:00Z";
            ev[i].key = keys[i];
            evp[i] = &ev[i];
        }
        Tierd__IngestRequest req = TIERD__INGEST_REQUEST__INIT;
        req.events = evp;
        req.n_events = DISK_EVENTS_BATCH;
        Tierd__IngestResponse *resp = NULL;
        rc = td_client_ingest(c, &req, &resp, &err);
        if (resp)
            tierd__ingest_response__free_unpacked(resp, NULL);
    }
    td_client_close(c);
    ck_assert_int_eq(rc, -TD_RESOURCE_EXHAUSTED);
    ck_assert_msg(strstr(err.message, "disk full") && strstr(err.message, h.state), "reply: %s",
                  err.message);
    harness_finish(&h);
}
END_TEST

static mode_t mode_of(const harness *h, const char *name)
{
    char path[HARNESS_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/%s", h->state, name);
    struct stat st;
    ck_assert_msg(stat(path, &st) == 0, "%s: %s", path, strerror(errno));
    return st.st_mode & FILE_MODE_MASK;
}

START_TEST(test_store_files_are_private_and_a_readable_state_dir_is_warned_about)
{
    harness h;
    harness_init(&h);
    ck_assert_int_eq(mkdir(h.state, WORLD_READABLE), 0);
    ck_assert_int_eq(chmod(h.state, WORLD_READABLE), 0);
    mode_t old = umask(0);
    int rc = harness_start(&h, NULL);
    umask(old);
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(mode_of(&h, "tierd.mdb"), PRIVATE_MODE);
    ck_assert_uint_eq(mode_of(&h, "tierd.mdb-lock"), PRIVATE_MODE);
    ck_assert_uint_eq(mode_of(&h, "tierd.lock"), PRIVATE_MODE);
    char *log = harness_log(&h);
    ck_assert_msg(strstr(log, "warning: state dir") && strstr(log, "0755"), "log: %s", log);
    free(log);
    ck_assert_int_eq(harness_stop(&h), 0);

    /* A private dir draws no warning. */
    ck_assert_int_eq(chmod(h.state, 0750), 0);
    ck_assert_int_eq(truncate(h.log, 0), 0);
    HARNESS_START_OK(&h, NULL);
    log = harness_log(&h);
    ck_assert_msg(!strstr(log, "warning: state dir"), "log: %s", log);
    free(log);
    harness_finish(&h);
}
END_TEST

static Suite *state_dir_suite(void)
{
    Suite *s = suite_create("state dir");
    TCase *full = tcase_create("full disk");
    tcase_set_timeout(full, 120);
    tcase_add_unchecked_fixture(full, disk_setup, disk_teardown);
    tcase_add_test(full,
                   test_full_disk_reaches_the_client_as_resource_exhausted_disk_full_with_the_path);
    suite_add_tcase(s, full);
    TCase *modes = tcase_create("modes");
    tcase_add_test(modes, test_store_files_are_private_and_a_readable_state_dir_is_warned_about);
    suite_add_tcase(s, modes);
    return s;
}

int main(void)
{
    return tu_run_suite(state_dir_suite());
}
