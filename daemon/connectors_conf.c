/* Reading the `plugin_dir:` and `connectors:` keys of tierd.yaml (see
 * connectors.h). It owns the rules for a connector entry (unique names of
 * safe characters, a plugin file name rather than a path, a mapping as the
 * config block) and turns each config block into the JSON text handed to
 * the plugin. It checks nothing on disk: tierd-connector checks the plugin
 * directory when it loads from it. */
#include "connectors.h"

#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "host_protocol.h"
#include "td_alloc.h"

#define YAML_JSON_DEPTH_MAX 32
#define CONNECTOR_PATH_MAX  4096

/* ---- configuration ----------------------------------------------------------- */

typedef struct conf_parser {
    td_yaml *y;   /* the daemon config's document; counts and words problems */
    json_t *seen; /* connector names so far, valid entries or not */
} conf_parser;

#define problem(p, at, ...) td_yaml_problem((p)->y, (at), __VA_ARGS__)

/* Every scalar becomes a JSON string: plugins read typed values themselves,
 * and YAML's implicit typing ("no" -> false, 010 -> 8) must not reach them. */
static json_t *yaml_to_json(conf_parser *p, yaml_node_t *n, int depth)
{
    if (depth > YAML_JSON_DEPTH_MAX) {
        problem(p, n, "config block nested deeper than %d levels", YAML_JSON_DEPTH_MAX);
        return NULL;
    }
    switch (n->type) {
    case YAML_SCALAR_NODE: {
        json_t *s = json_stringn((const char *)n->data.scalar.value, n->data.scalar.length);
        if (!s)
            problem(p, n, "value is not valid UTF-8 or holds a NUL byte");
        return s;
    }
    case YAML_SEQUENCE_NODE: {
        json_t *a = json_array();
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
             it++) {
            json_t *v = yaml_to_json(p, td_yaml_node(p->y, *it), depth + 1);
            if (!v) {
                json_decref(a);
                return NULL;
            }
            json_array_append_new(a, v);
        }
        return a;
    }
    case YAML_MAPPING_NODE: {
        json_t *o = json_object();
        for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top;
             pr++) {
            yaml_node_t *k = td_yaml_node(p->y, pr->key);
            const char *key = td_yaml_scalar(k);
            if (!key) {
                problem(p, k, "mapping keys must be plain values");
                json_decref(o);
                return NULL;
            }
            if (json_object_get(o, key)) {
                problem(p, k, "key \"%s\" appears twice", key);
                json_decref(o);
                return NULL;
            }
            json_t *v = yaml_to_json(p, td_yaml_node(p->y, pr->value), depth + 1);
            if (!v) {
                json_decref(o);
                return NULL;
            }
            json_object_set_new(o, key, v);
        }
        return o;
    }
    default:
        problem(p, n, "unexpected YAML node");
        return NULL;
    }
}

static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > CONNECTOR_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

static void parse_connector(conf_parser *p, yaml_node_t *n, td_connectors_conf *out)
{
    if (n->type != YAML_MAPPING_NODE) {
        problem(p, n, "a connector is a mapping with name, plugin and config");
        return;
    }
    td_connector_conf c = {.hang_timeout_ms = CONNECTOR_DEFAULT_HANG_TIMEOUT_MS};
    const yaml_node_t *name_node = n;
    size_t before = p->y->problems;
    for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = td_yaml_node(p->y, pr->key);
        yaml_node_t *v = td_yaml_node(p->y, pr->value);
        const char *key = td_yaml_scalar(k);
        if (!key) {
            problem(p, k, "connector keys must be plain values");
            continue;
        }
        if (strcmp(key, "name") == 0 || strcmp(key, "plugin") == 0) {
            const char *val = td_yaml_scalar(v);
            char **slot = key[0] == 'n' ? &c.name : &c.plugin;
            if (*slot)
                problem(p, k, "%s given twice", key);
            else if (!val || !*val)
                problem(p, v, "%s must be a non-empty value", key);
            else if (key[0] == 'n' && !valid_name(val))
                problem(p, v, "connector name \"%s\": use 1 to %d letters, digits, '-', '_' or '.'",
                        val, CONNECTOR_NAME_MAX);
            else if (key[0] == 'p' && (strchr(val, '/') || val[0] == '.'))
                problem(p, v, "plugin \"%s\" must be a file name inside plugin_dir, not a path",
                        val);
            else
                *slot = td_xstrdup(val);
            if (key[0] == 'n')
                name_node = v;
        } else if (strcmp(key, "config") == 0) {
            if (v->type != YAML_MAPPING_NODE) {
                problem(p, v, "config must be a mapping");
                continue;
            }
            json_t *j = yaml_to_json(p, v, 0);
            if (j) {
                free(c.config_json);
                c.config_json = json_dumps(j, JSON_COMPACT);
                json_decref(j);
            }
        } else if (strcmp(key, "hang_timeout") == 0) {
            const char *val = td_yaml_scalar(v);
            int64_t secs = 0;
            td_error derr;
            if (!val || td_duration_parse(val, &secs, &derr) != 0)
                problem(p, v, "hang_timeout: %s", val ? derr.message : "expected a duration");
            else if (secs > INT64_MAX / 1000)
                problem(p, v, "hang_timeout: too long");
            else
                c.hang_timeout_ms = secs * 1000;
        } else if (strcmp(key, "direction") == 0) {
            const char *val = td_yaml_scalar(v);
            if (val && strcmp(val, HOST_DIRECTION_SINK) == 0)
                c.sink = true;
            else if (val && strcmp(val, HOST_DIRECTION_SOURCE) == 0)
                c.sink = false;
            else
                problem(p, v, "direction: expected %s (the default) or %s, not \"%s\"",
                        HOST_DIRECTION_SOURCE, HOST_DIRECTION_SINK, val ? val : "");
        } else {
            problem(p, k,
                    "unknown connector key \"%s\" (expected name, plugin, direction, config, "
                    "hang_timeout)",
                    key);
        }
    }
    if (!c.name && p->y->problems == before)
        problem(p, n, "connector without a name");
    if (!c.plugin && p->y->problems == before)
        problem(p, n, "connector %s has no plugin", c.name ? c.name : "");
    if (c.name && json_object_get(p->seen, c.name))
        problem(p, name_node, "connector name \"%s\" is used twice", c.name);
    else if (c.name)
        json_object_set_new(p->seen, c.name, json_true());
    if (out->n == CONNECTORS_MAX)
        problem(p, n, "more than %d connectors", CONNECTORS_MAX);
    if (p->y->problems != before) {
        free(c.name);
        free(c.plugin);
        free(c.config_json);
        return;
    }
    if (!c.config_json)
        c.config_json = td_xstrdup("{}");
    td_connector_conf *grown = realloc(out->items, (out->n + 1) * sizeof *grown);
    if (!grown)
        abort();
    out->items = grown;
    out->items[out->n++] = c;
}

int connectors_conf_parse(td_yaml *y, td_connectors_conf *out)
{
    memset(out, 0, sizeof *out);
    conf_parser p = {.y = y};
    size_t before = y->problems;
    yaml_node_t *root = y->root;
    if (!root)
        return 0;
    if (root->type != YAML_MAPPING_NODE) {
        problem(&p, root, "the daemon config must be a mapping");
        return -(int)TD_INVALID_ARGUMENT;
    }
    p.seen = json_object();
    yaml_node_t *list = NULL;
    for (yaml_node_pair_t *pr = root->data.mapping.pairs.start; pr < root->data.mapping.pairs.top;
         pr++) {
        yaml_node_t *k = td_yaml_node(y, pr->key);
        yaml_node_t *v = td_yaml_node(y, pr->value);
        const char *key = td_yaml_scalar(k);
        if (!key)
            continue;
        if (strcmp(key, "plugin_dir") == 0) {
            const char *val = td_yaml_scalar(v);
            if (!val || val[0] != '/')
                problem(&p, v, "plugin_dir must be an absolute path");
            else if (strlen(val) >= CONNECTOR_PATH_MAX / 2)
                problem(&p, v, "plugin_dir is too long");
            else {
                free(out->plugin_dir);
                out->plugin_dir = td_xstrdup(val);
            }
        } else if (strcmp(key, "connectors") == 0) {
            list = v;
            if (v->type != YAML_SEQUENCE_NODE) {
                problem(&p, v, "connectors must be a list");
                list = NULL;
                continue;
            }
            for (yaml_node_item_t *it = v->data.sequence.items.start;
                 it < v->data.sequence.items.top; it++)
                parse_connector(&p, td_yaml_node(y, *it), out);
        }
    }
    /* Without plugin_dir, plugins load from where this build installs them. */
    if (list && out->n && !out->plugin_dir)
        out->plugin_dir = td_xstrdup(TD_DEFAULT_PLUGIN_DIR);
    json_decref(p.seen);
    if (y->problems == before)
        return 0;
    connectors_conf_free(out);
    return -(int)TD_INVALID_ARGUMENT;
}

void connectors_conf_free(td_connectors_conf *conf)
{
    if (!conf)
        return;
    for (size_t i = 0; i < conf->n; i++) {
        free(conf->items[i].name);
        free(conf->items[i].plugin);
        free(conf->items[i].config_json);
    }
    free(conf->items);
    free(conf->plugin_dir);
    memset(conf, 0, sizeof *conf);
}
