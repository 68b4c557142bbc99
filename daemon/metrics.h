/* Metrics: the daemon's Prometheus registry and its text (docs/metrics.md).
 *
 * Counters and histograms are kept here in arrays sized once, at
 * metrics_new, by what they are indexed with (RPC method, status code,
 * change cause, bucket), so counting a request, an event or a commit
 * allocates nothing and costs a few additions. The daemon shell calls
 * one function at each measured point, with times it took from
 * uv_hrtime; the engine is never measured from inside. What a loop turn
 * counts about events and tier changes waits for the turn's commit
 * (metrics_turn_end): a turn that rolls back counts nothing.
 *
 * Gauges (partners per tier, pending approvals, store size, connector
 * state) are not kept: the Metrics handler (handlers_metrics.c) reads
 * them at scrape time and hands them to metrics_render, so this file
 * depends on no other part of the daemon. Every counting function takes
 * a NULL registry and then does nothing, so code run without one (unit
 * tests driving the RPC path or the state) needs no special case. */
#ifndef TD_METRICS_H
#define TD_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <stdio.h>

#include "connectors.h"
#include "engine/program.h"
#include "store.h"
#include "tierd/status.h"

/* Distinct event sources counted one by one; past this many, further
 * sources are counted together under METRICS_SOURCE_OTHER, so a client
 * inventing sources cannot grow the registry (or the scrape) without end. */
#define METRICS_MAX_SOURCES  256
#define METRICS_SOURCE_OTHER "(other)"
/* The source label of an event whose source is missing or not text. */
#define METRICS_SOURCE_INVALID "(invalid)"
/* The method label of a request refused before its method was known. */
#define METRICS_METHOD_UNKNOWN "(unknown)"

typedef struct metrics metrics;

typedef enum metrics_outcome {
    METRICS_ACCEPTED = 0,
    METRICS_DUPLICATE = 1,
    METRICS_REJECTED = 2,
} metrics_outcome;

/* A registry with every counter at zero for n_methods RPC methods
 * (rpc_method_count) and the start time taken now (the wall clock,
 * whatever --fake-clock says). Aborts when out of memory, as the daemon
 * cannot start without it. */
metrics *metrics_new(size_t n_methods);
void metrics_free(metrics *m);

/* One reply sent: method is an index into rpc_method_at (-1: none was
 * known), elapsed_ns the time from taking the request to sending it. */
void metrics_rpc_reply(metrics *m, int method, td_code status, uint64_t elapsed_ns);

/* An Ingest item's outcome (source as the event gave it; NULL or not
 * text counts as METRICS_SOURCE_INVALID) and a tier change's cause (a
 * tierd.Cause value): both held until metrics_turn_end. */
void metrics_event(metrics *m, const char *source, metrics_outcome outcome);
void metrics_change(metrics *m, int cause);
/* The end of a turn: what it held is counted when committed, else dropped. */
void metrics_turn_end(metrics *m, bool committed);

/* One store commit that wrote: how long it took and the key and value
 * bytes its transaction put. */
void metrics_commit(metrics *m, uint64_t elapsed_ns, uint64_t bytes);

/* One due partner evaluated by the real-clock timer, lag_s seconds after
 * its due instant. */
void metrics_timer_lag(metrics *m, double lag_s);

/* What is read at scrape time rather than counted. */
typedef struct metrics_gauges {
    const char *version;
    const char *(*method_name)(size_t i); /* for i < n_methods */
    const program *program;               /* NULL: no partner gauges */
    const uint64_t *tier_counts;          /* engine_stats's layout for program */
    uint64_t pending;
    const store_usage *store; /* NULL: not known */
    const connector_view *connectors;
    size_t n_connectors;
    const char *const *connector_states; /* connector_state_names */
} metrics_gauges;

/* The registry (NULL: the gauges alone) and g in the Prometheus text
 * exposition format 0.0.4, written to f. */
void metrics_render(const metrics *m, const metrics_gauges *g, FILE *f);

#endif
