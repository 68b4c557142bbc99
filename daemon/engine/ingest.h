/* Events as the engine takes them (ingest.c): the checks every new fact
 * passes, whether it comes as an event or as an amendment's new version.
 *
 * Place in the engine's line (tests/unit/test_engine_layers.sh): above
 * evaluate; corrections use it. */
#ifndef TD_INGEST_H
#define TD_INGEST_H

#include "evaluate.h"

/* Checks ev as engine_ingest does (program, text, known partner and event
 * name, value, time against now) and finds its partner and event index.
 * 0, or a negative code with the reason in err. */
int ingest_check(engine *e, const td_event *ev, td_time now, td_partner **p, int *index,
                 td_error *err);

#endif
