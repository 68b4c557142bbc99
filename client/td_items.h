/* Events and partners as JSON objects (docs/events.md, the NDJSON line
 * formats) -> protobuf items; shared by tierctl's imports and tierd-http. */
#ifndef TD_ITEMS_H
#define TD_ITEMS_H

#include <stddef.h>

#include <jansson.h>

#include "tierd.pb-c.h"

/* Fills e from obj (a source-less event gets default_source). 0, or -1 with
 * why in reason (n bytes), naming the field. e points into obj. */
int td_item_event(json_t *obj, const char *default_source, Tierd__Event *e, char *reason, size_t n);
/* Fills p from obj. On 0, *types_out and *attrs_out are blocks p points
 * into, which the caller frees once the request is sent; on -1 nothing
 * is left to free and reason (n bytes) says why. */
int td_item_partner(json_t *obj, Tierd__Partner *p, char ***types_out, void **attrs_out,
                    char *reason, size_t n);

#endif
