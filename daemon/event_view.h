/* The engine's view of a wire event (Ingest, the ingest log). */
#ifndef TD_EVENT_VIEW_H
#define TD_EVENT_VIEW_H

#include "engine/engine.h"
#include "tierd.pb-c.h"

/* out borrows ev's strings; `at` is ev->at already parsed (the caller
 * refused the event when it did not parse). A missing value is 1, an empty
 * key none. */
void event_view(const Tierd__Event *ev, td_time at, td_event *out);

#endif
