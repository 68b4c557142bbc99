/* Validation of plugin output and config lookup for connector hosts.
 *
 * Owns the rules a plugin's items must meet before they cost a round trip:
 * required fields, byte limits, UTF-8, finite values. It does not judge
 * meaning (unknown partners, unknown metrics, bad times): the daemon does,
 * and says so per item in its reply. */
#include "hostcheck.h"

#include <math.h>
#include <string.h>

#define CONFIG_PATH_MAX 256

bool hostcheck_utf8(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        size_t len;
        unsigned min;
        unsigned cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            len = 2, min = 0x80, cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, min = 0x800, cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4, min = 0x10000, cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

int hostcheck_string(const char *what, const char *s, bool optional, size_t max, td_error *err)
{
    if (!s || !*s) {
        if (optional)
            return 0;
        return td_error_set(err, TD_INVALID_ARGUMENT, "%s is missing", what);
    }
    size_t n = strnlen(s, max + 1);
    if (n > max)
        return td_error_set(err, TD_INVALID_ARGUMENT, "%s is longer than %zu bytes", what, max);
    if (!hostcheck_utf8(s, n))
        return td_error_set(err, TD_INVALID_ARGUMENT, "%s is not valid UTF-8", what);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return td_error_set(err, TD_INVALID_ARGUMENT,
                                "%s contains a control character at byte %zu", what, i);
    return 0;
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
