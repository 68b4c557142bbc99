/* The engine's view of an event as it came over the wire or out of the
 * ingest log: the one place that defaults its value and key. */
#include "event_view.h"

void event_view(const Tierd__Event *ev, td_time at, td_event *out)
{
    *out = (td_event){
        .source = ev->source,
        .id = ev->id,
        .partner = ev->partner,
        .metric = ev->metric,
        .value = ev->has_value ? ev->value : 1.0,
        .at = at,
        .key = ev->key && *ev->key ? ev->key : NULL,
    };
}
