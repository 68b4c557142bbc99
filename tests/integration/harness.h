/* A real tierd for integration tests: each harness gets its own mkdtemp
 * work dir (state dir, config, the daemon's stderr), ipc endpoints inside
 * it, and a child process that harness_stop ends with SIGTERM.
 *
 *   harness h;
 *   harness_init(&h);                       // work dir, nothing running
 *   harness_write_config(&h, "log_level: debug\n");   // optional, adds -c
 *   ck_assert_int_eq(harness_start(&h, "--fake-clock", "2026-01-01", NULL), 0);
 *   ... harness_url(&h), harness_client(&h, token), HARNESS_TIERCTL(...) ...
 *   ck_assert_int_eq(harness_stop(&h), 0);  // exit status
 *   harness_cleanup(&h);                    // removes the work dir
 *
 * TIERD_BIN and TIERCTL_BIN name the binaries (meson sets them). */
#ifndef TD_TEST_HARNESS_H
#define TD_TEST_HARNESS_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include "tierd/client.h"

#define HARNESS_START_TIMEOUT_MS 10000
#define HARNESS_STOP_TIMEOUT_MS  10000
#define HARNESS_DIR_MAX          256
#define HARNESS_PATH_MAX         (2 * HARNESS_DIR_MAX)
#define HARNESS_MAX_ARGS         64

typedef struct harness {
    char work[HARNESS_DIR_MAX];       /* mkdtemp'd; everything lives under it */
    char state[HARNESS_DIR_MAX + 16]; /* work/state */
    char config[HARNESS_PATH_MAX];    /* work/tierd.yaml once written */
    char log[HARNESS_PATH_MAX];       /* work/tierd.log: the daemon's stderr */
    char url[HARNESS_PATH_MAX];       /* ipc://state/rpc.sock */
    char pub_url[HARNESS_PATH_MAX];
    bool have_config;
    const char *token; /* sent by harness_client/harness_tierctl; NULL = none */
    pid_t pid;         /* 0 when not running */
    int exit_status;   /* after the daemon ended: its exit code, 128+N for signal N */
} harness;

/* A fresh work dir. Aborts the test on failure. */
void harness_init(harness *h);
/* Another daemon on the same state dir as other (to test the lock), with
 * endpoints of its own. */
void harness_init_shared(harness *h, const harness *other);
/* Writes text to work/tierd.yaml; harness_start then passes -c. "@STATE@"
 * in text is replaced by the state dir. */
void harness_write_config(harness *h, const char *text);

/* Starts tierd with --state-dir, ipc --listen/--publish and the extra args
 * (NULL-terminated), and waits until it answers Status. Returns 0, or -1
 * when it exited first (h->exit_status says how; the log says why) or did
 * not answer in time (then it is killed). */
int harness_start(harness *h, ...);
const char *harness_url(const harness *h);
/* The daemon's stderr so far (malloc'd, never NULL). */
char *harness_log(const harness *h);

/* A client on harness_url with token (NULL = h->token). */
td_client *harness_client(const harness *h, const char *token);

/* Runs tierctl --url URL [--token T] argv... and returns its exit status;
 * *out and *err get its stdout and stderr (malloc'd; pass NULL to drop). */
int harness_tierctl(const harness *h, const char *const *argv, char **out, char **err);
#define HARNESS_TIERCTL(h, out, err, ...)                                                          \
    harness_tierctl((h), (const char *const[]){__VA_ARGS__, NULL}, (out), (err))

/* SIGTERM, wait (SIGKILL after HARNESS_STOP_TIMEOUT_MS) and return the exit
 * status. Returns the recorded status when it already ended. */
int harness_stop(harness *h);
/* Stops the daemon if running and removes the work dir. */
void harness_cleanup(harness *h);

#endif
