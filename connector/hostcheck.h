/* Checks every host of the plugin ABI applies to what a plugin hands it, and
 * the config-block lookup, shared by tierd-connector and the in-memory test
 * host so both enforce the same rules. */
#ifndef TD_CONNECTOR_HOSTCHECK_H
#define TD_CONNECTOR_HOSTCHECK_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "tierd/plugin.h"
#include "tierd/status.h"

/* A plugin-supplied string: present (unless optional), and otherwise held
 * to tierd's one text rule (common/text.h: at most max bytes of valid
 * UTF-8 without C0, DEL or C1 controls), so the host refuses, naming the
 * field, what the daemon would refuse a round trip later. `what` names it
 * in the message. */
int hostcheck_string(const char *what, const char *s, bool optional, size_t max, td_error *err);

int hostcheck_partner(const tierd_partner *p, td_error *err);
/* A partner with its attribute map (tierd_host_api.emit_partner_attrs):
 * hostcheck_partner, then the map held to tierd's one attribute rule
 * (common/td_attrs.h), the message naming the partner. */
int hostcheck_partner_attrs(const tierd_partner *p, const tierd_attr *attrs, size_t n,
                            td_error *err);
int hostcheck_event(const tierd_event *e, td_error *err);
/* An event emitted with op (tierd_host_api.emit_event_op): NEW as
 * hostcheck_event with revision 0; RETRACT needs only the id (the other
 * strings, when given, must pass the text rule) and revision 0; AMEND as
 * hostcheck_event with revision >= 1. An unknown op is refused. */
int hostcheck_event_op(const tierd_event *e, tierd_event_op op, uint64_t revision, td_error *err);
/* The wire spelling of op (Event.op): "", "retract" or "amend"; NULL when
 * op is none of them. */
const char *hostcheck_op_name(tierd_event_op op);

/* A cursor: NULL is fine (no move); otherwise a string as above. */
int hostcheck_cursor(const char *cursor, td_error *err);

/* The string at dotted path inside the config object, or NULL. */
const char *hostcheck_config_get(const json_t *config, const char *path);

/* Parses the config block (NULL or empty = "{}"); it must be an object. */
int hostcheck_config_parse(const char *text, json_t **out, td_error *err);

#endif
