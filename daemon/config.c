/* tierd.yaml reader. It owns the daemon's settings and their checks: every
 * key is known, every value has the right type and range, and the first
 * problem is reported as "file:line:column: what" so an operator can fix
 * the file without guessing. The file is read with the YAML reader every
 * tierd file shares (common/td_yaml.h: one document, UTF-8, no anchors or
 * aliases). The connectors section belongs to connectors_conf_parse; this
 * file hands it the same document.
 *
 * It does not apply anything: main.c and the SIGHUP path decide what takes
 * effect live (tokens, log level) and what needs a restart (endpoints). */
#include "config.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "td_alloc.h"
#include "td_file.h"
#include "td_yaml.h"

/* The first problem ends the read: the reader words it ("file:line:column:
 * what") into the caller's error, and the caller returns this. */
#define config_problem(r, at, ...)                                                                 \
    (td_yaml_problem((r), (at), __VA_ARGS__), -(int)TD_INVALID_ARGUMENT)

int config_check_endpoint(const char *url, bool allow_remote, td_error *err)
{
    if (strlen(url) > TD_MAX_URL)
        return td_error_set(err, TD_INVALID_ARGUMENT, "endpoint longer than %d bytes", TD_MAX_URL);
    if (strncmp(url, "ipc://", 6) == 0 && url[6])
        return 0;
    if (strncmp(url, "tcp://", 6) != 0)
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "endpoint '%.128s' must be ipc://PATH or tcp://HOST:PORT", url);
    const char *host = url + 6;
    const char *colon = strrchr(host, ':');
    if (!colon || colon == host || !colon[1])
        return td_error_set(err, TD_INVALID_ARGUMENT, "endpoint '%.128s' needs tcp://HOST:PORT",
                            url);
    char name[TD_MAX_URL + 1];
    size_t n = (size_t)(colon - host);
    memcpy(name, host, n);
    name[n] = 0;
    if (n >= 2 && name[0] == '[' && name[n - 1] == ']') {
        memmove(name, name + 1, n - 2);
        name[n - 2] = 0;
    }
    struct in_addr a4;
    struct in6_addr a6;
    bool v4 = inet_pton(AF_INET, name, &a4) == 1;
    bool v6 = inet_pton(AF_INET6, name, &a6) == 1;
    /* nanomsg binds an address, an interface name or "*"; it never
     * resolves a host name, and "localhost" fails with "No such device". */
    if (strcasecmp(name, "localhost") == 0)
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "endpoint '%.128s': nanomsg binds numeric addresses only; write "
                            "tcp://127.0.0.1:%.16s",
                            url, colon + 1);
    if (!v4 && !v6 && strcmp(name, "*") != 0 && if_nametoindex(name) == 0)
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "endpoint '%.128s': '%.64s' is neither a numeric address nor a network "
                            "interface of this host (nanomsg does not resolve host names)",
                            url, name);
    if (allow_remote)
        return 0;
    bool loopback = (v4 && (ntohl(a4.s_addr) >> 24) == 127) || (v6 && IN6_IS_ADDR_LOOPBACK(&a6));
    if (!loopback)
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "endpoint '%.128s' is not a loopback address; set allow_remote: true "
                            "in the config to listen beyond this host",
                            url);
    return 0;
}

int config_check_endpoint_use(const td_config *c, td_endpoint_kind kind, const char *url,
                              td_error *err)
{
    int rc = config_check_endpoint(url, c->allow_remote, err);
    if (rc)
        return rc;
    if (strncmp(url, "tcp://", 6) != 0)
        return 0;
    /* Without tokens nobody is authenticated: only a socket guarded by file
     * permissions may take requests. */
    if (kind == TD_ENDPOINT_LISTEN && c->n_tokens == 0)
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "%.128s needs tokens in the config: without them only ipc sockets "
                            "are opened",
                            url);
    /* A SUB socket cannot present a token, so a tcp feed gives every tier
     * change (criteria values, actors, override reasons) to whoever reaches
     * the port; authenticated followers use ListChanges instead. */
    if (kind == TD_ENDPOINT_PUBLISH && !c->publish_public)
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "publish %.128s: a tcp feed cannot check tokens, so anyone who reaches "
                            "it reads every tier change; set publish_public: true in the config "
                            "to open it anyway, or follow changes with ListChanges",
                            url);
    return 0;
}

static int config_urls(td_yaml *r, yaml_node_t *n, const char *key, char ***list, size_t *count)
{
    if (!n || n->type != YAML_SEQUENCE_NODE)
        return config_problem(r, n, "%s must be a list of URLs", key);
    size_t total = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (total > TD_MAX_ENDPOINTS)
        return config_problem(r, n, "%s holds %zu URLs; at most %d", key, total, TD_MAX_ENDPOINTS);
    char **urls = calloc(total ? total : 1, sizeof *urls);
    if (!urls)
        abort();
    size_t i = 0;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++, i++) {
        yaml_node_t *item = td_yaml_node(r, *it);
        int rc = td_yaml_read_string(r, item, key, TD_MAX_URL, &urls[i]);
        td_error e = {0};
        /* allow_remote may come later in the file; loopback is checked by
         * main once the whole config is known. */
        if (rc == 0 && config_check_endpoint(urls[i], true, &e) != 0)
            rc = config_problem(r, item, "%s", e.message);
        if (rc) {
            for (size_t j = 0; j <= i; j++)
                free(urls[j]);
            free(urls);
            return rc;
        }
    }
    for (size_t j = 0; j < *count; j++)
        free((*list)[j]);
    free(*list);
    *list = urls;
    *count = total;
    return 0;
}

static int config_token(td_yaml *r, yaml_node_t *n, rpc_token *t)
{
    if (!n || n->type != YAML_MAPPING_NODE)
        return config_problem(r, n, "each token must be a mapping {name, token, role}");
    bool have_role = false;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = td_yaml_node(r, p->key);
        yaml_node_t *v = td_yaml_node(r, p->value);
        const char *key = NULL;
        int rc = td_yaml_read_scalar(r, k, "a token key", &key);
        if (rc)
            return rc;
        if (strcmp(key, "name") == 0) {
            rc = td_yaml_read_string(r, v, "name", TD_MAX_TOKEN_NAME, &t->name);
        } else if (strcmp(key, "token") == 0) {
            rc = td_yaml_read_string(r, v, "token", TD_MAX_TOKEN_BYTES, &t->secret);
            if (rc == 0 && strlen(t->secret) < TD_MIN_TOKEN_BYTES)
                rc = config_problem(r, v, "token must be at least %d characters",
                                    TD_MIN_TOKEN_BYTES);
        } else if (strcmp(key, "role") == 0) {
            const char *s = NULL;
            rc = td_yaml_read_scalar(r, v, "role", &s);
            if (rc == 0 && !rpc_role_parse(s, &t->role))
                rc = config_problem(r, v, "role must be read, write or admin, not '%.64s'", s);
            have_role = true;
        } else {
            rc = config_problem(r, k, "unknown token key '%.64s' (name, token, role)", key);
        }
        if (rc)
            return rc;
    }
    if (!t->name || !t->secret || !have_role)
        return config_problem(r, n, "a token needs name, token and role");
    return 0;
}

static int config_tokens(td_yaml *r, yaml_node_t *n, td_config *c)
{
    if (!n || n->type != YAML_SEQUENCE_NODE)
        return config_problem(r, n, "tokens must be a list of {name, token, role}");
    size_t total = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (total > TD_MAX_TOKENS)
        return config_problem(r, n, "%zu tokens; at most %d", total, TD_MAX_TOKENS);
    c->tokens = calloc(total ? total : 1, sizeof *c->tokens);
    if (!c->tokens)
        abort();
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        yaml_node_t *item = td_yaml_node(r, *it);
        rpc_token *t = &c->tokens[c->n_tokens++];
        int rc = config_token(r, item, t);
        if (rc)
            return rc;
        for (size_t j = 0; j + 1 < c->n_tokens; j++) {
            if (strcmp(c->tokens[j].name, t->name) == 0)
                return config_problem(r, item, "token name '%s' is used twice", t->name);
            if (strcmp(c->tokens[j].secret, t->secret) == 0)
                return config_problem(r, item, "tokens '%s' and '%s' share a secret",
                                      c->tokens[j].name, t->name);
        }
    }
    return 0;
}

static int config_size(td_yaml *r, yaml_node_t *n, size_t *out)
{
    unsigned long long v = 0;
    int rc = td_yaml_read_count(r, n, "max_request_bytes", TD_MIN_REQUEST_BYTES,
                                TD_MAX_REQUEST_BYTES * 4ull, false, &v);
    if (rc)
        return rc;
    *out = (size_t)v;
    return 0;
}

static int config_key(td_yaml *r, const char *key, yaml_node_t *k, yaml_node_t *v, td_config *c)
{
    if (strcmp(key, "state_dir") == 0)
        return td_yaml_read_string(r, v, key, PATH_MAX_CONFIG, &c->state_dir);
    if (strcmp(key, "program") == 0)
        return td_yaml_read_string(r, v, key, PATH_MAX_CONFIG, &c->program);
    if (strcmp(key, "listen") == 0)
        return config_urls(r, v, key, &c->listen, &c->n_listen);
    if (strcmp(key, "publish") == 0)
        return config_urls(r, v, key, &c->publish, &c->n_publish);
    if (strcmp(key, "allow_remote") == 0)
        return td_yaml_read_bool(r, v, key, &c->allow_remote);
    if (strcmp(key, "publish_public") == 0)
        return td_yaml_read_bool(r, v, key, &c->publish_public);
    if (strcmp(key, "watchdog") == 0)
        return td_yaml_read_bool(r, v, key, &c->watchdog);
    if (strcmp(key, "tokens") == 0)
        return config_tokens(r, v, c);
    if (strcmp(key, "max_request_bytes") == 0)
        return config_size(r, v, &c->max_request_bytes);
    if (strcmp(key, "log_level") == 0) {
        const char *s = NULL;
        int rc = td_yaml_read_scalar(r, v, key, &s);
        if (rc == 0 && !log_level_parse(s, &c->log_level))
            return config_problem(r, v, "log_level must be error, warning, info or debug");
        c->log_level_set = true;
        return rc;
    }
    if (strcmp(key, "log_format") == 0) {
        const char *s = NULL;
        int rc = td_yaml_read_scalar(r, v, key, &s);
        if (rc == 0 && !log_format_parse(s, &c->log_format))
            return config_problem(r, v, "log_format must be text or json");
        return rc;
    }
    if (strcmp(key, "plugin_dir") == 0 || strcmp(key, "connectors") == 0)
        return 0; /* connectors_conf_parse reads these */
    if (webhooks_conf_owns(key))
        return webhooks_conf_key(r, key, v, &c->webhooks);
    return config_problem(
        r, k,
        "unknown key '%.64s' (state_dir, listen, publish, publish_public, "
        "allow_remote, tokens, program, log_level, log_format, max_request_bytes, watchdog, "
        "plugin_dir, connectors, webhooks, at_risk_lead, webhook_*)",
        key);
}

td_config *config_new_default(void)
{
    td_config *c = calloc(1, sizeof *c);
    if (!c)
        abort();
    c->log_level = TD_LOG_DEFAULT_LEVEL;
    c->max_request_bytes = TD_MAX_REQUEST_BYTES;
    c->watchdog = true;
    webhooks_conf_defaults(&c->webhooks);
    return c;
}

void config_free(td_config *c)
{
    if (!c)
        return;
    free(c->state_dir);
    free(c->program);
    for (size_t i = 0; i < c->n_listen; i++)
        free(c->listen[i]);
    free(c->listen);
    for (size_t i = 0; i < c->n_publish; i++)
        free(c->publish[i]);
    free(c->publish);
    for (size_t i = 0; i < c->n_tokens; i++) {
        free(c->tokens[i].name);
        if (c->tokens[i].secret)
            memset(c->tokens[i].secret, 0, strlen(c->tokens[i].secret));
        free(c->tokens[i].secret);
    }
    free(c->tokens);
    connectors_conf_free(&c->connectors);
    webhooks_conf_free(&c->webhooks);
    free(c);
}

/* The endpoint rules need the whole file (allow_remote, tokens and
 * publish_public may come after the URLs), so they run after it is read,
 * pointing at the URL they refuse. */
static int config_check_endpoints_at(td_yaml *r, yaml_node_t *root, const td_config *c)
{
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        const yaml_node_t *k = td_yaml_node(r, p->key);
        yaml_node_t *v = td_yaml_node(r, p->value);
        const char *key = (const char *)k->data.scalar.value;
        bool listen = strcmp(key, "listen") == 0;
        if (!listen && strcmp(key, "publish") != 0)
            continue;
        for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
             it++) {
            yaml_node_t *item = td_yaml_node(r, *it);
            td_error e = {0};
            if (config_check_endpoint_use(c, listen ? TD_ENDPOINT_LISTEN : TD_ENDPOINT_PUBLISH,
                                          (const char *)item->data.scalar.value, &e) != 0)
                return config_problem(r, item, "%s", e.message);
        }
    }
    return 0;
}

/* Every setting of the document, then the connectors, then the endpoint
 * rules that need the whole file. */
static int config_read(td_yaml *r, td_config *c)
{
    yaml_node_t *root = r->root;
    if (!root)
        return 0;
    if (root->type != YAML_MAPPING_NODE)
        return config_problem(r, root, "the config must be a mapping of settings");
    int rc = 0;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
         p < root->data.mapping.pairs.top && !rc; p++) {
        yaml_node_t *k = td_yaml_node(r, p->key);
        yaml_node_t *v = td_yaml_node(r, p->value);
        const char *key = NULL;
        rc = td_yaml_read_scalar(r, k, "a setting name", &key);
        if (rc == 0)
            rc = config_key(r, key, k, v, c);
    }
    if (rc == 0)
        rc = connectors_conf_parse(r, &c->connectors);
    if (rc == 0)
        rc = config_check_endpoints_at(r, root, c);
    return rc;
}

int config_load(const char *path, td_config **out, td_error *err)
{
    *out = NULL;
    size_t len = 0;
    char *text = NULL;
    int rc = td_file_read(path, TD_MAX_CONFIG_BYTES, &text, &len, err);
    if (rc)
        return rc;
    td_yaml y = {.file = path, .kind = "config file", .err = err};
    td_config *c = config_new_default();
    if (!td_yaml_load(&y, text, len, TD_MAX_CONFIG_BYTES) || y.problems)
        rc = y.oom ? -(int)TD_RESOURCE_EXHAUSTED : -(int)TD_INVALID_ARGUMENT;
    else
        rc = config_read(&y, c);
    td_yaml_free(&y);
    free(text);
    if (rc) {
        config_free(c);
        return rc;
    }
    *out = c;
    return 0;
}
