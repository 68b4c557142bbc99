/* A real tierd for integration tests: each harness gets its own mkdtemp
 * work dir (state dir, config, the daemon's stderr), ipc endpoints inside
 * it, and a child process that harness_stop ends with SIGTERM. Every
 * integration suite that runs tierd runs it through here.
 *
 *   harness h;
 *   harness_init(&h);                       // work dir, nothing running
 *   harness_write_config(&h, "log_level: debug\n");   // optional, adds -c
 *   HARNESS_START_OK(&h, "--fake-clock", "2026-01-01", NULL);
 *   ... harness_url(&h), harness_client(&h, token), HARNESS_TIERCTL(...) ...
 *   harness_finish(&h);     // stops it (it must exit 0), removes the work dir
 *
 * Waits poll a condition (the log holds a line, a socket is connected)
 * with testutil's deadline, never a fixed time. A daemon never outlives
 * the test process that started it, however that process ends (the
 * kernel kills it when its parent dies). The harness asserts only in
 * HARNESS_START_OK, harness_tierctl_expect, harness_wait_connector and
 * harness_finish; everything else returns what it saw for the test to
 * judge. TIERD_BIN and TIERCTL_BIN name the binaries (meson sets them). */
#ifndef TD_TEST_HARNESS_H
#define TD_TEST_HARNESS_H

#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/types.h>

#include "testutil.h"
#include "tierd/client.h"

#define HARNESS_START_TIMEOUT_MS 10000
#define HARNESS_STOP_TIMEOUT_MS  10000
#define HARNESS_WAIT_MS          10000 /* a log line, a connection: generous for sanitizers */
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
/* Writes text to work/name and puts its path in out (for --program files
 * and the like). */
void harness_write_file(const harness *h, const char *name, const char *text, char *out,
                        size_t outn);

/* Starts tierd with --state-dir, ipc --listen/--publish and the extra args
 * (NULL-terminated), and waits until it answers Status. Returns 0, or -1
 * when it exited first (h->exit_status says how; the log says why) or did
 * not answer in time (then it is killed). */
int harness_start(harness *h, ...);
/* Fails the test with the daemon's log when rc (harness_start's) is not 0. */
void harness_assert_started(const harness *h, int rc);
#define HARNESS_START_OK(h, ...) harness_assert_started((h), harness_start((h), __VA_ARGS__))
const char *harness_url(const harness *h);
/* The daemon's stderr so far (malloc'd, never NULL). */
char *harness_log(const harness *h);
/* How many times text stands in the daemon's log so far. */
size_t harness_log_count(const harness *h, const char *text);
/* Waits until the log holds text at least `times` times; false when it
 * did not within timeout_ms. */
bool harness_wait_log(const harness *h, const char *text, size_t times, long timeout_ms);

/* A client on harness_url with token (NULL = h->token). */
td_client *harness_client(const harness *h, const char *token);

/* Sends the raw bytes buf on a REQ socket of its own to harness_url and
 * waits timeout_ms for the reply: its length and the reply in *reply
 * (nn_freemsg it), or -1 and NULL when none came. Replies of any size are
 * taken. */
int harness_raw_exchange(const harness *h, const void *buf, size_t len, void **reply,
                         int timeout_ms);

/* Connector `name` in a fresh Status from the daemon (*keep holds the
 * response, which the caller frees), or NULL when the daemon did not
 * answer (*keep NULL) or runs no such connector. */
Tierd__ConnectorStatus *harness_connector_status(const harness *h, const char *name,
                                                 Tierd__StatusResponse **keep);
typedef bool (*harness_connector_pred)(const Tierd__ConnectorStatus *cs);
/* Polls Status until pred holds for connector name and returns it (the
 * caller frees *keep); fails the test with the last status seen when it
 * does not within timeout_ms. */
Tierd__ConnectorStatus *harness_wait_connector(const harness *h, const char *name,
                                               harness_connector_pred pred,
                                               Tierd__StatusResponse **keep, long timeout_ms);

/* Waits until the nanomsg socket sock (a SUB of ours, or a PUB of ours
 * another process subscribes to) has a connection; false when none came
 * within timeout_ms. nanomsg counts a connection once the SP handshake is
 * done; a message tierd publishes on behalf of a request sent after that
 * reaches the subscriber (tierd's one I/O thread attaches the subscriber
 * before it reads a request that was sent later). */
bool harness_wait_connected(int sock, long timeout_ms);

/* Runs tierctl --url URL [--token T] argv... and returns its exit status;
 * *out and *err get its stdout and stderr (malloc'd; pass NULL to drop). */
int harness_tierctl(const harness *h, const char *const *argv, char **out, char **err);
#define HARNESS_TIERCTL(h, out, err, ...)                                                          \
    harness_tierctl((h), (const char *const[]){__VA_ARGS__, NULL}, (out), (err))
/* The same, failing the test (with tierctl's stderr) unless it exits with
 * want; returns its stdout (malloc'd). */
char *harness_tierctl_expect(const harness *h, int want, const char *const *argv);
/* tierctl argv... must succeed; its output is dropped. */
#define HARNESS_TIERCTL_OK(h, ...)                                                                 \
    free(harness_tierctl_expect((h), 0, (const char *const[]){__VA_ARGS__, NULL}))
/* Starts tierctl the same way without waiting for it: stdout goes to
 * work/<name>.out, stderr to work/<name>.err (paths in out/err when not
 * NULL). Returns its pid. */
pid_t harness_tierctl_spawn(const harness *h, const char *name, const char *const *argv, char *out,
                            char *err);

/* SIGTERM, wait (SIGKILL after HARNESS_STOP_TIMEOUT_MS) and return the exit
 * status. Returns the recorded status when it already ended. */
int harness_stop(harness *h);
/* The same with signal sig (SIGKILL: a crash). */
int harness_kill(harness *h, int sig);
/* Stops the daemon if running and removes the work dir. */
void harness_cleanup(harness *h);
/* The end of a test whose daemon must stop cleanly: harness_stop, failing
 * the test with the log unless the daemon exits 0, then harness_cleanup. */
void harness_finish(harness *h);

#endif
