/* The sink direction of tierd-connector: follow the daemon's changes from
 * the acknowledged cursor, hand them to the plugin's sink in sequence
 * order a batch at a time, and acknowledge each batch it applied
 * (SinkAck), so a crash re-delivers from the last acknowledgement.
 *
 * connector/main.c loads the plugin and owns the process; this file owns
 * only the delivery loop and what a batch carries (include/tierd/plugin.h,
 * tierd_tier_change). */
#ifndef TD_CONNECTOR_SINKRUN_H
#define TD_CONNECTOR_SINKRUN_H

#include <stdbool.h>
#include <stddef.h>

#include "tierd/client.h"
#include "tierd/plugin.h"

#define SINKRUN_BATCH   10000 /* changes per ListChanges (its most), GetTiers takes as many ids */
#define SINKRUN_POLL_MS 1000  /* a long-poll's wait: also how soon a stop is seen */

typedef struct sinkrun_io {
    td_client *client;
    const char *name; /* the connector's */
    const tierd_host_api *api;
    tierd_host *host;
    const tierd_sink *sink;
    const char *cursor; /* acknowledged sequence in decimal; NULL or "" for none */
    /* Told once open succeeded, and after each acknowledged batch. */
    void (*ready)(tierd_host *h, const char *cursor);
    void (*acked)(tierd_host *h, size_t n, const char *cursor);
} sinkrun_io;

/* Opens the sink, delivers until api->stopping(host), closes it. Returns 0
 * when stopped, else a negative td_code with err; *fatal then tells
 * whether retrying cannot help (a cursor that is no sequence, open failing
 * with anything but TD_UNAVAILABLE). */
int sinkrun(const sinkrun_io *io, bool *fatal, td_error *err);

#endif
