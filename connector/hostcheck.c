/* Validation of plugin output and config lookup for connector hosts.
 *
 * Owns the rules a plugin's items must meet before they cost a round trip:
 * required fields, byte limits, the text rule (common/text.h), finite
 * values. It does not judge meaning (unknown partners, unknown metrics, bad
 * times): the daemon does, and says so per item in its reply. */
#include "hostcheck.h"

#include <math.h>
#include <string.h>

#include "td_attrs.h"
#include "text.h"

/* plugin.h states tierd's limits to plugins without including common/. */
_Static_assert(TIERD_PLUGIN_ATTRS_MAX == TD_MAX_ATTRS, "attribute count limit");
_Static_assert(TIERD_PLUGIN_ATTR_KEY_MAX == TD_MAX_ATTR_KEY, "attribute key limit");
_Static_assert(TIERD_PLUGIN_ATTR_VALUE_MAX == TD_MAX_ATTR_VALUE, "attribute value limit");

#define CONFIG_PATH_MAX 256

int hostcheck_string(const char *what, const char *s, bool optional, size_t max, td_error *err)
{
    size_t at = 0;
    switch (td_text_check(s, max, &at)) {
    case TD_TEXT_OK:
        return 0;
    case TD_TEXT_EMPTY:
        return optional ? 0 : td_error_set(err, TD_INVALID_ARGUMENT, "%s is missing", what);
    case TD_TEXT_TOO_LONG:
        return td_error_set(err, TD_INVALID_ARGUMENT, "%s is longer than %zu bytes", what, max);
    case TD_TEXT_MALFORMED:
        return td_error_set(err, TD_INVALID_ARGUMENT, "%s is not valid UTF-8", what);
    case TD_TEXT_CONTROL:
        break;
    }
    return td_error_set(err, TD_INVALID_ARGUMENT, "%s contains a control character at byte %zu",
                        what, at);
}

int hostcheck_partner(const tierd_partner *p, td_error *err)
{
    if (!p)
        return td_error_set(err, TD_INVALID_ARGUMENT, "no partner");
    int rc = hostcheck_string("partner id", p->id, false, TIERD_PLUGIN_ID_MAX, err);
    if (!rc)
        rc = hostcheck_string("partner name", p->name, true, TIERD_PLUGIN_ID_MAX, err);
    if (rc)
        return rc;
    if (p->n_types && !p->types)
        return td_error_set(err, TD_INVALID_ARGUMENT, "partner %s: n_types without types", p->id);
    for (size_t i = 0; i < p->n_types; i++) {
        rc = hostcheck_string("partner type", p->types[i], false, TIERD_PLUGIN_ID_MAX, err);
        if (rc) {
            td_error_prefix(err, "partner %s", p->id);
            return rc;
        }
    }
    return 0;
}

int hostcheck_partner_attrs(const tierd_partner *p, const tierd_attr *attrs, size_t n,
                            td_error *err)
{
    int rc = hostcheck_partner(p, err);
    if (rc)
        return rc;
    if (n && !attrs)
        return td_error_set(err, TD_INVALID_ARGUMENT, "partner %s: n attributes without attrs",
                            p->id);
    td_attr copy[TD_MAX_ATTRS];
    size_t take = n < TD_MAX_ATTRS ? n : TD_MAX_ATTRS;
    for (size_t i = 0; i < take; i++)
        copy[i] = (td_attr){attrs[i].key, attrs[i].value};
    /* attrs_check refuses n above the limit before reading any pair. */
    rc = attrs_check(copy, n, err);
    if (rc)
        td_error_prefix(err, "partner %s", p->id);
    return rc;
}

int hostcheck_event(const tierd_event *e, td_error *err)
{
    if (!e)
        return td_error_set(err, TD_INVALID_ARGUMENT, "no event");
    int rc = hostcheck_string("event id", e->id, false, TIERD_PLUGIN_ID_MAX, err);
    if (!rc)
        rc = hostcheck_string("event source", e->source, true, TIERD_PLUGIN_ID_MAX, err);
    if (!rc)
        rc = hostcheck_string("event partner", e->partner, false, TIERD_PLUGIN_ID_MAX, err);
    if (!rc)
        rc = hostcheck_string("event metric", e->metric, false, TIERD_PLUGIN_ID_MAX, err);
    if (!rc)
        rc = hostcheck_string("event at", e->at, false, TIERD_PLUGIN_ID_MAX, err);
    if (!rc)
        rc = hostcheck_string("event key", e->key, true, TIERD_PLUGIN_ID_MAX, err);
    if (rc)
        return rc;
    if (e->has_value && !isfinite(e->value))
        return td_error_set(err, TD_INVALID_ARGUMENT, "event %s: value is not a finite number",
                            e->id);
    return 0;
}

const char *hostcheck_op_name(tierd_event_op op)
{
    switch (op) {
    case TIERD_EVENT_NEW:
        return "";
    case TIERD_EVENT_RETRACT:
        return "retract";
    case TIERD_EVENT_AMEND:
        return "amend";
    }
    return NULL;
}

/* A retraction names the stored event by (source, id); whatever else it
 * carries is only checked against that event by the daemon, so it may be
 * absent, but what is present must still be text. */
static int check_retract(const tierd_event *e, td_error *err)
{
    int rc = hostcheck_string("event id", e->id, false, TIERD_PLUGIN_ID_MAX, err);
    if (!rc)
        rc = hostcheck_string("event source", e->source, true, TIERD_PLUGIN_ID_MAX, err);
    if (!rc)
        rc = hostcheck_string("event partner", e->partner, true, TIERD_PLUGIN_ID_MAX, err);
    if (!rc)
        rc = hostcheck_string("event metric", e->metric, true, TIERD_PLUGIN_ID_MAX, err);
    if (!rc)
        rc = hostcheck_string("event at", e->at, true, TIERD_PLUGIN_ID_MAX, err);
    if (!rc)
        rc = hostcheck_string("event key", e->key, true, TIERD_PLUGIN_ID_MAX, err);
    return rc;
}

int hostcheck_event_op(const tierd_event *e, tierd_event_op op, uint64_t revision, td_error *err)
{
    if (!e)
        return td_error_set(err, TD_INVALID_ARGUMENT, "no event");
    if (!hostcheck_op_name(op))
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "event op %d is not new (0), retract (1) or amend (2)", (int)op);
    /* Fields first, so the messages below quote an id known to be text. */
    int rc = op == TIERD_EVENT_RETRACT ? check_retract(e, err) : hostcheck_event(e, err);
    if (rc)
        return rc;
    if (op == TIERD_EVENT_AMEND && revision == 0)
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "event %s: an amend needs a revision of 1 or more", e->id);
    if (op != TIERD_EVENT_AMEND && revision != 0)
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "event %s: a revision (%llu) belongs only to an amend", e->id,
                            (unsigned long long)revision);
    return 0;
}

int hostcheck_cursor(const char *cursor, td_error *err)
{
    if (!cursor)
        return 0;
    return hostcheck_string("cursor", cursor, true, TIERD_PLUGIN_CURSOR_MAX, err);
}

const char *hostcheck_config_get(const json_t *config, const char *path)
{
    if (!config || !path)
        return NULL;
    char buf[CONFIG_PATH_MAX];
    size_t n = strlen(path);
    if (n >= sizeof buf)
        return NULL;
    memcpy(buf, path, n + 1);
    const json_t *node = config;
    char *save = NULL;
    for (char *part = strtok_r(buf, ".", &save); part; part = strtok_r(NULL, ".", &save)) {
        if (!json_is_object(node))
            return NULL;
        node = json_object_get(node, part);
        if (!node)
            return NULL;
    }
    return json_is_string(node) ? json_string_value(node) : NULL;
}

int hostcheck_config_parse(const char *text, json_t **out, td_error *err)
{
    *out = NULL;
    if (!text || !*text) {
        *out = json_object();
        return 0;
    }
    json_error_t je;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        return td_error_set(err, TD_INVALID_ARGUMENT, "config block: line %d column %d: %s",
                            je.line, je.column, je.text);
    if (!json_is_object(j)) {
        json_decref(j);
        return td_error_set(err, TD_INVALID_ARGUMENT, "config block: not a mapping");
    }
    *out = j;
    return 0;
}
