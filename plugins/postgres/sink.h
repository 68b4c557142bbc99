/* The postgres plugin's sink direction (sink.c): tiers into a CRM table.
 * postgres.c puts it in the plugin's descriptor. */
#ifndef TD_PLUGIN_POSTGRES_SINK_H
#define TD_PLUGIN_POSTGRES_SINK_H

#include "tierd/plugin.h"

/* open, receive and close of the `direction: sink` side. */
extern const tierd_sink postgres_sink;

#endif
