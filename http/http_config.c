/* tierd-http.yaml reader (http_config.h): every key known, every value of
 * the right type and range, the first problem as "file:line:column: what". */
#include "http_config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "td_alloc.h"
#include "td_file.h"
#include "td_time.h"
#include "td_yaml.h"

#define DEFAULT_MAX_HEADER_BYTES  8192
#define DEFAULT_MAX_BODY_BYTES    (1024 * 1024)
#define DEFAULT_RATE              50.0
#define DEFAULT_BURST             100
#define DEFAULT_IDLE_TIMEOUT_S    30
#define DEFAULT_REQUEST_TIMEOUT_S 10
#define DEFAULT_MAX_CONNECTIONS   256
#define DEFAULT_UPSTREAM_TIMEOUT  5000
#define DEFAULT_UPSTREAM_SOCKETS  32
#define MIN_HEADER_BYTES          1024
#define MAX_HEADER_BYTES          (1024 * 1024)
#define MAX_BODY_BYTES            (256 * 1024 * 1024)
#define MAX_RATE                  1e6
#define MAX_COUNT                 1000000
#define MAX_UPSTREAM_SOCKETS      1024
#define MAX_TIMEOUT_S             3600
#define MS_PER_S                  1000
#define PORT_MAX                  65535

#define problem(r, at, ...) (td_yaml_problem((r), (at), __VA_ARGS__), -(int)TD_INVALID_ARGUMENT)

const char *http_role_name(http_role r)
{
    switch (r) {
    case HTTP_ROLE_READ:
        return "read";
    case HTTP_ROLE_WRITE:
        return "write";
    case HTTP_ROLE_ADMIN:
        return "admin";
    case HTTP_ROLE_PARTNER:
        return "partner";
    }
    return "?";
}

/* "30s", "2m" (td_duration_parse) or a bare number of seconds. */
static int seconds(td_yaml *r, yaml_node_t *n, const char *key, unsigned *out)
{
    const char *s = NULL;
    int rc = td_yaml_read_scalar(r, n, key, &s);
    if (rc)
        return rc;
    int64_t v = 0;
    td_error e = {0};
    char *end = NULL;
    long long plain = strtoll(s, &end, 10);
    if (end != s && !*end)
        v = plain;
    else if (td_duration_parse(s, &v, &e) != 0)
        return problem(r, n, "%s: %s", key, e.message);
    if (v < 1 || v > MAX_TIMEOUT_S)
        return problem(r, n, "%s must be 1s to %ds", key, MAX_TIMEOUT_S);
    *out = (unsigned)v;
    return 0;
}

/* A secret still holding the example's placeholder is refused: the file
 * installed as a conffile must not start serving until an operator edits
 * it. */
static int not_placeholder(td_yaml *r, yaml_node_t *n, const char *key, const char *secret)
{
    if (strncasecmp(secret, HTTP_PLACEHOLDER_TOKEN, strlen(HTTP_PLACEHOLDER_TOKEN)) != 0)
        return 0;
    return problem(r, n,
                   "%s '%.64s' is the example's placeholder; replace it with a random secret "
                   "(head -c 24 /dev/urandom | base64)",
                   key, secret);
}

static int token(td_yaml *r, yaml_node_t *n, http_token *t)
{
    if (!n || n->type != YAML_MAPPING_NODE)
        return problem(r, n, "each token must be a mapping {name, token, role[, partner]}");
    yaml_node_t *role_at = n;
    bool have_role = false;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = td_yaml_node(r, p->key), *v = td_yaml_node(r, p->value);
        const char *key = NULL;
        int rc = td_yaml_read_scalar(r, k, "a token key", &key);
        if (rc)
            return rc;
        if (strcmp(key, "name") == 0) {
            rc = td_yaml_read_string(r, v, "name", HTTP_MAX_TOKEN_NAME, &t->name);
        } else if (strcmp(key, "token") == 0) {
            rc = td_yaml_read_string(r, v, "token", HTTP_MAX_TOKEN_BYTES, &t->secret);
            if (rc == 0 && strlen(t->secret) < HTTP_MIN_TOKEN_BYTES)
                rc = problem(r, v, "token must be at least %d characters", HTTP_MIN_TOKEN_BYTES);
            if (rc == 0)
                rc = not_placeholder(r, v, "token", t->secret);
        } else if (strcmp(key, "role") == 0) {
            const char *s = NULL;
            rc = td_yaml_read_scalar(r, v, "role", &s);
            role_at = v;
            have_role = true;
            if (rc == 0 && strcmp(s, "read") == 0)
                t->role = HTTP_ROLE_READ;
            else if (rc == 0 && strcmp(s, "write") == 0)
                t->role = HTTP_ROLE_WRITE;
            else if (rc == 0 && strcmp(s, "admin") == 0)
                t->role = HTTP_ROLE_ADMIN;
            else if (rc == 0 && strcmp(s, "partner") == 0)
                t->role = HTTP_ROLE_PARTNER;
            else if (rc == 0)
                rc = problem(r, v, "role must be read, write, admin or partner, not '%.64s'", s);
        } else if (strcmp(key, "partner") == 0) {
            rc = td_yaml_read_string(r, v, "partner", HTTP_MAX_PARTNER_ID, &t->partner);
        } else {
            rc = problem(r, k, "unknown token key '%.64s' (name, token, role, partner)", key);
        }
        if (rc)
            return rc;
    }
    if (!t->name || !t->secret || !have_role)
        return problem(r, n, "a token needs name, token and role");
    if (t->role == HTTP_ROLE_PARTNER && !t->partner)
        return problem(r, role_at, "token '%s' has role partner and needs `partner: ID`", t->name);
    if (t->role != HTTP_ROLE_PARTNER && t->partner)
        return problem(r, role_at, "token '%s': `partner` goes only with role partner", t->name);
    return 0;
}

static int tokens(td_yaml *r, yaml_node_t *n, http_config *c)
{
    if (!n || n->type != YAML_SEQUENCE_NODE)
        return problem(r, n, "tokens must be a list of {name, token, role[, partner]}");
    size_t total = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (total > HTTP_MAX_TOKENS)
        return problem(r, n, "%zu tokens; at most %d", total, HTTP_MAX_TOKENS);
    c->tokens = calloc(total ? total : 1, sizeof *c->tokens);
    if (!c->tokens)
        abort();
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        yaml_node_t *item = td_yaml_node(r, *it);
        http_token *t = &c->tokens[c->n_tokens++];
        int rc = token(r, item, t);
        if (rc)
            return rc;
        for (size_t j = 0; j + 1 < c->n_tokens; j++) {
            if (strcmp(c->tokens[j].name, t->name) == 0)
                return problem(r, item, "token name '%s' is used twice", t->name);
            if (strcmp(c->tokens[j].secret, t->secret) == 0)
                return problem(r, item, "tokens '%s' and '%s' share a secret", c->tokens[j].name,
                               t->name);
        }
    }
    return 0;
}

static int tierd_section(td_yaml *r, yaml_node_t *n, http_config *c)
{
    if (!n || n->type != YAML_MAPPING_NODE)
        return problem(r, n, "tierd must be a mapping {url, token, timeout, sockets}");
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = td_yaml_node(r, p->key), *v = td_yaml_node(r, p->value);
        const char *key = NULL;
        int rc = td_yaml_read_scalar(r, k, "a tierd key", &key);
        unsigned long long u = 0;
        unsigned s = 0;
        if (rc)
            return rc;
        if (strcmp(key, "url") == 0) {
            rc = td_yaml_read_string(r, v, "tierd.url", HTTP_MAX_PATH, &c->tierd_url);
        } else if (strcmp(key, "token") == 0) {
            rc = td_yaml_read_string(r, v, "tierd.token", HTTP_MAX_TOKEN_BYTES, &c->tierd_token);
            if (rc == 0)
                rc = not_placeholder(r, v, "tierd.token", c->tierd_token);
        } else if (strcmp(key, "timeout") == 0) {
            rc = seconds(r, v, "tierd.timeout", &s);
            c->upstream_timeout_ms = s * MS_PER_S;
        } else if (strcmp(key, "sockets") == 0) {
            rc = td_yaml_read_count(r, v, "tierd.sockets", 2, MAX_UPSTREAM_SOCKETS, true, &u);
            c->upstream_sockets = (unsigned)u;
        } else {
            rc = problem(r, k, "unknown tierd key '%.64s' (url, token, timeout, sockets)", key);
        }
        if (rc)
            return rc;
    }
    return 0;
}

static int rate(td_yaml *r, yaml_node_t *n, double *out)
{
    const char *s = NULL;
    int rc = td_yaml_read_scalar(r, n, "requests_per_second", &s);
    if (rc)
        return rc;
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || *end || !(v > 0) || v > MAX_RATE)
        return problem(r, n, "requests_per_second must be a number above 0 and at most %g",
                       MAX_RATE);
    *out = v;
    return 0;
}

static int limits(td_yaml *r, yaml_node_t *n, http_config *c)
{
    if (!n || n->type != YAML_MAPPING_NODE)
        return problem(r, n, "limits must be a mapping");
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = td_yaml_node(r, p->key), *v = td_yaml_node(r, p->value);
        const char *key = NULL;
        int rc = td_yaml_read_scalar(r, k, "a limits key", &key);
        unsigned long long u = 0;
        if (rc)
            return rc;
        if (strcmp(key, "max_header_bytes") == 0) {
            rc = td_yaml_read_count(r, v, key, MIN_HEADER_BYTES, MAX_HEADER_BYTES, true, &u);
            c->max_header_bytes = (size_t)u;
        } else if (strcmp(key, "max_body_bytes") == 0) {
            rc = td_yaml_read_count(r, v, key, 1, MAX_BODY_BYTES, true, &u);
            c->max_body_bytes = (size_t)u;
        } else if (strcmp(key, "requests_per_second") == 0) {
            rc = rate(r, v, &c->rate_per_second);
        } else if (strcmp(key, "burst") == 0) {
            rc = td_yaml_read_count(r, v, key, 1, MAX_COUNT, true, &u);
            c->burst = (unsigned)u;
        } else if (strcmp(key, "idle_timeout") == 0) {
            rc = seconds(r, v, key, &c->idle_timeout_s);
        } else if (strcmp(key, "request_timeout") == 0) {
            rc = seconds(r, v, key, &c->request_timeout_s);
        } else if (strcmp(key, "max_connections") == 0) {
            rc = td_yaml_read_count(r, v, key, 1, MAX_COUNT, true, &u);
            c->max_connections = (unsigned)u;
        } else {
            rc = problem(r, k,
                         "unknown limits key '%.64s' (max_header_bytes, max_body_bytes, "
                         "requests_per_second, burst, idle_timeout, request_timeout, "
                         "max_connections)",
                         key);
        }
        if (rc)
            return rc;
    }
    return 0;
}

static int key(td_yaml *r, const char *k, yaml_node_t *kn, yaml_node_t *v, http_config *c)
{
    if (strcmp(k, "listen") == 0)
        return td_yaml_read_string(r, v, k, HTTP_MAX_PATH, &c->listen);
    if (strcmp(k, "allow_remote") == 0)
        return td_yaml_read_bool(r, v, k, &c->allow_remote);
    if (strcmp(k, "tierd") == 0)
        return tierd_section(r, v, c);
    if (strcmp(k, "tokens") == 0)
        return tokens(r, v, c);
    if (strcmp(k, "limits") == 0)
        return limits(r, v, c);
    if (strcmp(k, "static_dir") == 0)
        return td_yaml_read_string(r, v, k, HTTP_MAX_PATH, &c->static_dir);
    if (strcmp(k, "metrics_open") == 0)
        return td_yaml_read_bool(r, v, k, &c->metrics_open);
    return problem(r, kn,
                   "unknown key '%.64s' (listen, allow_remote, tierd, tokens, limits, static_dir, "
                   "metrics_open)",
                   k);
}

http_config *http_config_default(void)
{
    http_config *c = calloc(1, sizeof *c);
    if (!c)
        abort();
    c->listen = td_xstrdup(HTTP_DEFAULT_LISTEN);
    c->upstream_timeout_ms = DEFAULT_UPSTREAM_TIMEOUT;
    c->upstream_sockets = DEFAULT_UPSTREAM_SOCKETS;
    c->max_header_bytes = DEFAULT_MAX_HEADER_BYTES;
    c->max_body_bytes = DEFAULT_MAX_BODY_BYTES;
    c->rate_per_second = DEFAULT_RATE;
    c->burst = DEFAULT_BURST;
    c->idle_timeout_s = DEFAULT_IDLE_TIMEOUT_S;
    c->request_timeout_s = DEFAULT_REQUEST_TIMEOUT_S;
    c->max_connections = DEFAULT_MAX_CONNECTIONS;
    return c;
}

void http_config_free(http_config *c)
{
    if (!c)
        return;
    free(c->listen);
    free(c->tierd_url);
    if (c->tierd_token)
        memset(c->tierd_token, 0, strlen(c->tierd_token));
    free(c->tierd_token);
    for (size_t i = 0; i < c->n_tokens; i++) {
        free(c->tokens[i].name);
        if (c->tokens[i].secret)
            memset(c->tokens[i].secret, 0, strlen(c->tokens[i].secret));
        free(c->tokens[i].secret);
        free(c->tokens[i].partner);
    }
    free(c->tokens);
    free(c->static_dir);
    free(c);
}

int http_listen_parse(const char *s, bool allow_remote, struct sockaddr_storage *addr,
                      socklen_t *len, td_error *err)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || !colon[1])
        return td_error_set(err, TD_INVALID_ARGUMENT, "listen '%.128s' must be HOST:PORT", s);
    char host[INET6_ADDRSTRLEN + 3];
    size_t n = (size_t)(colon - s);
    if (n >= sizeof host)
        return td_error_set(err, TD_INVALID_ARGUMENT, "listen '%.128s': host too long", s);
    memcpy(host, s, n);
    host[n] = 0;
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
        memmove(host, host + 1, n - 2);
        host[n - 2] = 0;
    }
    char *end = NULL;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (errno || *end || colon[1] == '-' || port > PORT_MAX)
        return td_error_set(err, TD_INVALID_ARGUMENT, "listen '%.128s': bad port", s);
    memset(addr, 0, sizeof *addr);
    struct sockaddr_in *a4 = (struct sockaddr_in *)addr;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)addr;
    bool loopback;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        *len = sizeof *a4;
        loopback = (ntohl(a4->sin_addr.s_addr) >> 24) == 127;
    } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *len = sizeof *a6;
        loopback = IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr);
    } else {
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "listen '%.128s': '%.64s' is not a numeric address", s, host);
    }
    if (!loopback && !allow_remote)
        return td_error_set(err, TD_INVALID_ARGUMENT,
                            "listen '%.128s' is not a loopback address; set allow_remote: true "
                            "in the config to serve beyond this host",
                            s);
    return 0;
}

static int read_doc(td_yaml *r, http_config *c)
{
    yaml_node_t *root = r->root;
    if (!root)
        return 0;
    if (root->type != YAML_MAPPING_NODE)
        return problem(r, root, "the config must be a mapping of settings");
    yaml_node_t *listen_at = NULL;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = td_yaml_node(r, p->key), *v = td_yaml_node(r, p->value);
        const char *name = NULL;
        int rc = td_yaml_read_scalar(r, k, "a setting name", &name);
        if (rc == 0)
            rc = key(r, name, k, v, c);
        if (rc)
            return rc;
        if (strcmp(name, "listen") == 0)
            listen_at = v;
    }
    /* allow_remote may come after listen: checked once the file is read */
    struct sockaddr_storage ss;
    socklen_t sl;
    td_error e = {0};
    if (http_listen_parse(c->listen, c->allow_remote, &ss, &sl, &e) != 0)
        return problem(r, listen_at, "%s", e.message);
    return 0;
}

int http_config_load(const char *path, http_config **out, td_error *err)
{
    *out = NULL;
    size_t len = 0;
    char *text = NULL;
    int rc = td_file_read(path, HTTP_MAX_CONFIG_BYTES, &text, &len, err);
    if (rc)
        return rc;
    td_yaml y = {.file = path, .kind = "config file", .err = err};
    http_config *c = http_config_default();
    if (!td_yaml_load(&y, text, len, HTTP_MAX_CONFIG_BYTES) || y.problems)
        rc = y.oom ? -(int)TD_RESOURCE_EXHAUSTED : -(int)TD_INVALID_ARGUMENT;
    else
        rc = read_doc(&y, c);
    td_yaml_free(&y);
    free(text);
    if (rc) {
        http_config_free(c);
        return rc;
    }
    *out = c;
    return 0;
}
