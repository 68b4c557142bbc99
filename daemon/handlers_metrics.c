/* The Metrics method: reads the gauges (partners per tier, pending
 * approvals, store size, connectors) at scrape time and has metrics.c
 * render them with its counters as Prometheus text (docs/metrics.md).
 * It reads what Stats and Status read, nothing more. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors.h"
#include "daemon.h"
#include "handlers.h"
#include "metrics.h"
#include "tierd.pb-c.h"

static const char *method_name(size_t i)
{
    return rpc_method_at(i)->name;
}

int handle_metrics(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                   td_error *err)
{
    (void)req;
    tierd *d = call->d;
    metrics_gauges g = {.version = TIERD_VERSION,
                        .method_name = method_name,
                        .pending = status_pending_count(d),
                        .connector_states = connector_state_names};
    const program *p = d->engine ? engine_program(d->engine) : NULL;
    if (p && p->n_ladders) {
        size_t n = p->n_ladders * (TD_MAX_TIERS + 1);
        uint64_t *counts = rpc_alloc(call, n * sizeof *counts);
        engine_stats(d->engine, counts);
        g.program = p;
        g.tier_counts = counts;
    }
    store_usage usage;
    if (d->store && store_get_usage(d->store, &usage) == 0)
        g.store = &usage;
    connector_view v;
    while (connectors_at(d->connectors, g.n_connectors, &v))
        g.n_connectors++;
    connector_view *views = rpc_alloc(call, (g.n_connectors ? g.n_connectors : 1) * sizeof *views);
    for (size_t i = 0; i < g.n_connectors; i++)
        connectors_at(d->connectors, i, &views[i]);
    g.connectors = views;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "out of memory rendering the metrics");
    metrics_render(d->metrics, &g, f);
    if (fclose(f) != 0 || !buf) {
        free(buf);
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "out of memory rendering the metrics");
    }
    Tierd__MetricsResponse *out = rpc_alloc(call, sizeof *out);
    tierd__metrics_response__init(out);
    out->text = rpc_alloc(call, len + 1);
    memcpy(out->text, buf, len + 1);
    free(buf);
    *resp = &out->base;
    return 0;
}
