/* Reading the webhook keys of tierd.yaml (webhooks_conf.h). Every rule of
 * an endpoint lives here, so the start, a reload and the docs agree. */
#include "webhooks_conf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "td_alloc.h"
#include "td_time.h"

#define problem(y, at, ...) (td_yaml_problem((y), (at), __VA_ARGS__), -(int)TD_INVALID_ARGUMENT)

/* Config memory is small; running out while reading it ends the process,
 * as td_xstrdup does. */
static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (!p)
        abort();
    return p;
}

static const char *const kind_names[] = {"tier_change", "approval_waiting", "at_risk", "recovered"};
#define N_KINDS (sizeof kind_names / sizeof kind_names[0])

const char *webhooks_kind_name(unsigned kind_bit)
{
    for (size_t i = 0; i < N_KINDS; i++)
        if (kind_bit == 1u << i)
            return kind_names[i];
    return "?";
}

void webhooks_conf_defaults(td_webhooks_conf *c)
{
    memset(c, 0, sizeof *c);
    c->at_risk_lead_s = WEBHOOK_DEFAULT_LEAD_S;
    c->retry_base_ms = WEBHOOK_DEFAULT_BASE_MS;
    c->retry_max_ms = WEBHOOK_DEFAULT_CAP_MS;
    c->max_transfers = WEBHOOK_DEFAULT_TRANSFERS;
    c->at_risk_check_s = WEBHOOK_DEFAULT_CHECK_S;
}

bool webhooks_conf_owns(const char *key)
{
    return strncmp(key, "webhook", 7) == 0 || strncmp(key, "at_risk", 7) == 0;
}

static void endpoint_free(td_webhook_endpoint *e)
{
    free(e->name);
    free(e->url);
    if (e->secret)
        memset(e->secret, 0, strlen(e->secret));
    free(e->secret);
    for (size_t i = 0; i < e->n_ladders; i++)
        free(e->ladders[i]);
    free(e->ladders);
}

void webhooks_conf_free(td_webhooks_conf *c)
{
    for (size_t i = 0; i < c->n; i++)
        endpoint_free(&c->endpoints[i]);
    free(c->endpoints);
    c->endpoints = NULL;
    c->n = 0;
}

bool webhooks_endpoint_wants(const td_webhook_endpoint *e, unsigned kind, const char *ladder,
                             unsigned dir)
{
    if (!(e->kinds & kind) || !(e->directions & dir) ||
        ((kind == WEBHOOK_KIND_TIER_CHANGE || kind == WEBHOOK_KIND_APPROVAL_WAITING) &&
         (dir & e->directions) != dir))
        return false;
    if (!e->n_ladders)
        return true;
    for (size_t i = 0; i < e->n_ladders; i++)
        if (strcmp(e->ladders[i], ladder) == 0)
            return true;
    return false;
}

static int duration(td_yaml *y, yaml_node_t *n, const char *key, int64_t max, int64_t *out)
{
    const char *s;
    int rc = td_yaml_read_scalar(y, n, key, &s);
    if (rc)
        return rc;
    td_error e = {0};
    if (td_duration_parse(s, out, &e) != 0)
        return problem(y, n, "%s: %s", key, e.message);
    if (max && *out > max)
        return problem(y, n, "%s must be at most %lld seconds", key, (long long)max);
    return 0;
}

static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > WEBHOOK_NAME_MAX)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '.' || *p == '-'))
            return false;
    return true;
}

/* http:// or https:// followed by a host; nothing else reaches libcurl
 * (which also refuses other protocols, CURLOPT_PROTOCOLS_STR). */
static int url_check(td_yaml *y, yaml_node_t *n, const char *s)
{
    size_t len = strlen(s);
    if (len > WEBHOOK_URL_MAX)
        return problem(y, n, "url is longer than %d bytes", WEBHOOK_URL_MAX);
    size_t skip = strncasecmp(s, "http://", 7) == 0    ? 7
                  : strncasecmp(s, "https://", 8) == 0 ? 8
                                                       : 0;
    if (!skip)
        return problem(y, n, "url '%.128s' must start with http:// or https://", s);
    if (!s[skip] || s[skip] == '/' || s[skip] == ':')
        return problem(y, n, "url '%.128s' names no host", s);
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return problem(y, n, "url '%.128s' holds a space or control character", s);
    return 0;
}

static int names_list(td_yaml *y, yaml_node_t *v, const char *key, const char *const *names,
                      size_t n_names, unsigned *bits)
{
    if (!v || v->type != YAML_SEQUENCE_NODE)
        return problem(y, v, "%s must be a list", key);
    unsigned out = 0;
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
        yaml_node_t *item = td_yaml_node(y, *it);
        const char *s;
        int rc = td_yaml_read_scalar(y, item, key, &s);
        if (rc)
            return rc;
        size_t i = 0;
        while (i < n_names && strcmp(names[i], s) != 0)
            i++;
        if (i == n_names) {
            char all[128] = "";
            for (size_t j = 0; j < n_names; j++)
                snprintf(all + strlen(all), sizeof all - strlen(all), "%s%s", j ? ", " : "",
                         names[j]);
            return problem(y, item, "unknown %s '%.64s' (%s)", key, s, all);
        }
        out |= 1u << i;
    }
    if (!out)
        return problem(y, v, "%s must name at least one", key);
    *bits = out;
    return 0;
}

static int ladders_list(td_yaml *y, yaml_node_t *v, td_webhook_endpoint *e)
{
    if (!v || v->type != YAML_SEQUENCE_NODE)
        return problem(y, v, "ladders must be a list of ladder names");
    size_t total = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (total == 0 || total > WEBHOOK_LADDERS_MAX)
        return problem(y, v, "ladders must name 1 to %d ladders", WEBHOOK_LADDERS_MAX);
    e->ladders = xcalloc(total, sizeof *e->ladders);
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
        yaml_node_t *item = td_yaml_node(y, *it);
        const char *s;
        int rc = td_yaml_read_scalar(y, item, "a ladder", &s);
        if (rc)
            return rc;
        if (!*s || strlen(s) > 256)
            return problem(y, item, "a ladder name must be 1 to 256 bytes");
        e->ladders[e->n_ladders++] = td_xstrdup(s);
    }
    return 0;
}

static int endpoint_read(td_yaml *y, yaml_node_t *n, td_webhook_endpoint *e)
{
    static const char *const dirs[] = {"up", "down"};
    if (!n || n->type != YAML_MAPPING_NODE)
        return problem(y, n, "each webhook must be a mapping {name, url, secret, ...}");
    e->kinds = WEBHOOK_KIND_ALL;
    e->directions = WEBHOOK_DIR_BOTH;
    e->timeout_s = WEBHOOK_DEFAULT_TIMEOUT_S;
    e->max_attempts = WEBHOOK_DEFAULT_ATTEMPTS;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = td_yaml_node(y, p->key);
        yaml_node_t *v = td_yaml_node(y, p->value);
        const char *key, *s;
        int rc = td_yaml_read_scalar(y, k, "a webhook key", &key);
        if (rc)
            return rc;
        if (strcmp(key, "name") == 0) {
            rc = td_yaml_read_scalar(y, v, key, &s);
            if (rc == 0 && !name_ok(s))
                rc = problem(y, v, "webhook name '%.64s' must be 1 to %d of A-Z a-z 0-9 _ . -", s,
                             WEBHOOK_NAME_MAX);
            if (rc == 0) {
                free(e->name);
                e->name = td_xstrdup(s);
            }
        } else if (strcmp(key, "url") == 0) {
            rc = td_yaml_read_scalar(y, v, key, &s);
            if (rc == 0)
                rc = url_check(y, v, s);
            if (rc == 0) {
                free(e->url);
                e->url = td_xstrdup(s);
            }
        } else if (strcmp(key, "secret") == 0) {
            rc = td_yaml_read_scalar(y, v, key, &s);
            if (rc == 0 && strlen(s) < WEBHOOK_SECRET_MIN)
                rc = problem(y, v, "secret is %zu bytes; a webhook secret needs at least %d",
                             strlen(s), WEBHOOK_SECRET_MIN);
            if (rc == 0 && strlen(s) > WEBHOOK_SECRET_MAX)
                rc = problem(y, v, "secret is longer than %d bytes", WEBHOOK_SECRET_MAX);
            if (rc == 0) {
                free(e->secret);
                e->secret = td_xstrdup(s);
            }
        } else if (strcmp(key, "kinds") == 0) {
            rc = names_list(y, v, "kind", kind_names, N_KINDS, &e->kinds);
        } else if (strcmp(key, "directions") == 0) {
            rc = names_list(y, v, "direction", dirs, 2, &e->directions);
        } else if (strcmp(key, "ladders") == 0) {
            rc = e->ladders ? problem(y, k, "ladders given twice") : ladders_list(y, v, e);
        } else if (strcmp(key, "timeout") == 0) {
            rc = duration(y, v, key, WEBHOOK_MAX_TIMEOUT_S, &e->timeout_s);
        } else if (strcmp(key, "max_attempts") == 0) {
            unsigned long long a = 0;
            rc = td_yaml_read_count(y, v, key, 1, WEBHOOK_MAX_ATTEMPTS, false, &a);
            e->max_attempts = (uint32_t)a;
        } else {
            rc = problem(y, k,
                         "unknown webhook key '%.64s' (name, url, secret, kinds, ladders, "
                         "directions, timeout, max_attempts)",
                         key);
        }
        if (rc)
            return rc;
    }
    if (!e->name || !e->url || !e->secret)
        return problem(y, n, "a webhook needs name, url and secret");
    return 0;
}

static int endpoints_read(td_yaml *y, yaml_node_t *v, td_webhooks_conf *c)
{
    if (!v || v->type != YAML_SEQUENCE_NODE)
        return problem(y, v, "webhooks must be a list of {name, url, secret, ...}");
    size_t total = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (total > WEBHOOK_ENDPOINTS_MAX)
        return problem(y, v, "%zu webhooks; at most %d", total, WEBHOOK_ENDPOINTS_MAX);
    webhooks_conf_free(c);
    c->endpoints = xcalloc(total ? total : 1, sizeof *c->endpoints);
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
        yaml_node_t *item = td_yaml_node(y, *it);
        td_webhook_endpoint *e = &c->endpoints[c->n++];
        int rc = endpoint_read(y, item, e);
        if (rc)
            return rc;
        for (size_t j = 0; j + 1 < c->n; j++)
            if (strcmp(c->endpoints[j].name, e->name) == 0)
                return problem(y, item, "webhook name '%s' is used twice", e->name);
    }
    return 0;
}

int webhooks_conf_key(td_yaml *y, const char *key, yaml_node_t *v, td_webhooks_conf *c)
{
    unsigned long long n = 0;
    int rc;
    if (strcmp(key, "webhooks") == 0)
        return endpoints_read(y, v, c);
    if (strcmp(key, "at_risk_lead") == 0)
        return duration(y, v, key, 0, &c->at_risk_lead_s);
    if (strcmp(key, "webhook_at_risk_check") == 0)
        return duration(y, v, key, 0, &c->at_risk_check_s);
    if (strcmp(key, "webhook_retry_base_ms") == 0) {
        rc = td_yaml_read_count(y, v, key, 1, 3600000, false, &n);
        c->retry_base_ms = n;
        return rc;
    }
    if (strcmp(key, "webhook_retry_max_ms") == 0) {
        rc = td_yaml_read_count(y, v, key, 1, 86400000, false, &n);
        c->retry_max_ms = n;
        return rc;
    }
    if (strcmp(key, "webhook_max_transfers") == 0) {
        rc = td_yaml_read_count(y, v, key, 1, WEBHOOK_MAX_TRANSFERS, false, &n);
        c->max_transfers = (uint32_t)n;
        return rc;
    }
    return problem(y, v,
                   "unknown key '%.64s' (webhooks, at_risk_lead, webhook_at_risk_check, "
                   "webhook_retry_base_ms, webhook_retry_max_ms, webhook_max_transfers)",
                   key);
}
