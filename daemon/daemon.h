/* The daemon's context: one struct that the loop, the server, the handlers
 * and the timers share. Nothing in tierd is global; everything hangs off the
 * `tierd` passed around. */
#ifndef TD_DAEMON_H
#define TD_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "engine/engine.h"
#include "store.h"

#define TD_PROGRAM_SOURCE_MAX 1024 /* "file PATH", "rpc (ACTOR)", "schedule (...)" */

typedef struct td_config td_config;
typedef struct server server;
typedef struct state state;
typedef struct backup backup;

typedef struct tierd {
    uv_loop_t *loop;
    td_config *config;
    const char *config_path; /* -c, or NULL */
    engine *engine;
    store *store;
    state *state;                  /* glue between engine and store: group commit, changes */
    server *server;                /* nanomsg sockets */
    struct connectors *connectors; /* supervised connector children, or NULL */
    struct timers *timers;         /* window-edge re-evaluation, or NULL */
    struct metrics *metrics;       /* counters for the Metrics method (metrics.h), or NULL */
    backup *backup;                /* the backup being made or handed out (backup.h), or NULL */
    struct webhooks *webhooks;     /* outbox and sender (webhooks.h), or NULL */
    const char *state_dir;
    td_time started;
    bool fake_clock;
    td_time fake_now;       /* the frozen clock when fake_clock */
    td_time replay_at;      /* an open replay (replay.h) has evaluated up to here; NONE: none */
    td_time replay_started; /* when that replay began: earlier changes are not published */
    uint64_t pending_count; /* Status's approval-queue count ... */
    const engine *pending_engine;               /* ... of this engine ... */
    uint64_t pending_generation;                /* ... at this engine_pending_generation */
    char program_source[TD_PROGRAM_SOURCE_MAX]; /* program_source()'s text ... */
    uint64_t program_source_index;              /* ... for this version in force, 0 = none yet */
} tierd;

/* The daemon clock: the real time, or the frozen fake one. */
td_time tierd_now(const tierd *d);

#endif
