/* What the benches that drive a real tierd share: a monotonic clock,
 * starting the daemon, waiting for its first answer, and packing an
 * Envelope by hand (so the request path measured is the daemon's, not the
 * client library's). */
#ifndef TD_BENCH_DAEMON_H
#define TD_BENCH_DAEMON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <protobuf-c/protobuf-c.h>

#include "tierd/client.h"

/* Seconds on the monotonic clock. */
double bench_now_s(void);

/* Forks and execs tierd on state with one RPC and one PUB endpoint and the
 * program file; returns the child's pid (or -1). */
pid_t bench_start_tierd(const char *bin, const char *state, const char *url, const char *pub,
                        const char *program);

/* Polls Status until it answers OK or limit_s pass; returns the seconds it
 * took, or -1. */
double bench_wait_ready(const char *url, double limit_s);

#define BENCH_DIR_MAX      512
#define BENCH_MKDTEMP_TAIL 6 /* mkdtemp replaces exactly six trailing 'X's */

/* A real tierd on a fresh temporary directory (state dir and ipc
 * endpoints inside it). */
typedef struct bench_daemon {
    char dir[BENCH_DIR_MAX];
    char state[BENCH_DIR_MAX + 8];
    char url[BENCH_DIR_MAX + 16];
    char pub[BENCH_DIR_MAX + 16];
    pid_t pid; /* 0 when not running */
} bench_daemon;

/* Makes a fresh /tmp/bench-NAME-* dir (mkdtemp), starts tierd there with program and waits
 * until it answers. Returns 0, or -1 with a message on stderr (call
 * bench_daemon_stop either way). */
int bench_daemon_start(bench_daemon *b, const char *name, const char *bin, const char *program);
/* SIGTERM, wait, and remove the directory. */
void bench_daemon_stop(bench_daemon *b);

#define BENCH_ID_TEXT_MAX  64
#define BENCH_UPSERT_BATCH 10000 /* the daemon's per-request cap */

/* Events of the example program, in rough proportion to real traffic. */
extern const char *const bench_event_names[];
#define BENCH_N_EVENT_NAMES 11

/* The text fields of one generated event. */
typedef struct event_text {
    char id[BENCH_ID_TEXT_MAX], partner[BENCH_ID_TEXT_MAX], at[BENCH_ID_TEXT_MAX],
        key[BENCH_ID_TEXT_MAX];
} event_text;

/* Upserts partners 0..count-1 on c, each with id and name id_fmt applied
 * to its number (an unsigned long long, e.g. "p-%08llu") and the types
 * reseller and services, in batches the daemon takes. 0, or -1 with a
 * message naming `who` on stderr. */
int bench_upsert_partners(td_client *c, const char *id_fmt, unsigned long long count,
                          const char *who);

/* A packed Envelope for method with payload (NULL = empty); malloc'd. */
uint8_t *bench_envelope(const char *method, const ProtobufCMessage *payload, size_t *len);

/* Makes a fresh directory ROOT/bench-NAME-<unique> (ROOT NULL or empty:
 * /tmp) into dir; 0, or -1 with errno set (ENAMETOOLONG when it does not
 * fit in n). */
int bench_mkdtemp(const char *root, const char *name, char *dir, size_t n);

/* Sends one packed Ingest envelope on a REQ socket and waits for its
 * reply: the events accepted, or -1 (with why on stderr, naming `who`)
 * when the reply is not OK or fewer than `expect` were accepted. */
long bench_ingest_round_trip(const char *who, int sock, const uint8_t *req, size_t len,
                             size_t expect);

#endif
