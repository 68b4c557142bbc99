/* Events and partners as JSON objects -> protobuf (docs/events.md, the
 * NDJSON line formats): the one reading of an item that tierctl's imports
 * and tierd-http's ingest routes share.
 *
 * It checks shape only (known fields, types, the fields an item needs) and
 * says why an item is refused, naming the field; the daemon judges meaning
 * (unknown partners and metrics, bad times). The message it fills points
 * into obj's strings: keep obj alive until the request is sent. */
#include "td_items.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *get_str(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Every field present must be a string; returns the first that is not. */
static const char *check_strings(json_t *obj, const char *const *keys)
{
    for (; *keys; keys++) {
        json_t *v = json_object_get(obj, *keys);
        if (v && !json_is_string(v))
            return *keys;
    }
    return NULL;
}

static const char *unknown_field(json_t *obj, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        const char *const *a = allowed;
        while (*a && strcmp(*a, key) != 0)
            a++;
        if (!*a)
            return key;
    }
    return NULL;
}

static const char *const event_fields[] = {"id", "source", "partner", "metric",   "value",
                                           "at", "key",    "op",      "revision", NULL};
static const char *const event_strings[] = {"id", "source", "partner", "metric",
                                            "at", "key",    "op",      NULL};
static const char *const partner_fields[] = {"partner", "name", "types", "attrs", NULL};
static const char *const partner_strings[] = {"partner", "name", NULL};

int td_item_event(json_t *obj, const char *default_source, Tierd__Event *e, char *reason, size_t n)
{
    if (!json_object_get(obj, "metric") &&
        (json_object_get(obj, "types") || json_object_get(obj, "name"))) {
        snprintf(reason, n, "a partner, not an event");
        return -1;
    }
    const char *bad = unknown_field(obj, event_fields);
    if (bad) {
        snprintf(reason, n, "unknown field '%.100s'", bad);
        return -1;
    }
    bad = check_strings(obj, event_strings);
    if (bad) {
        snprintf(reason, n, "\"%s\" must be a string", bad);
        return -1;
    }
    /* A retraction names the stored event by source and id alone. */
    const char *op = get_str(obj, "op");
    bool retract = op && strcmp(op, "retract") == 0;
    json_t *revision = json_object_get(obj, "revision");
    if (revision && (!json_is_integer(revision) || json_integer_value(revision) < 1)) {
        snprintf(reason, n, "\"revision\" must be an integer of 1 or more");
        return -1;
    }
    const char *req[] = {"id", "partner", "metric"};
    for (size_t i = 0; i < (retract ? 1 : sizeof req / sizeof *req); i++) {
        const char *s = get_str(obj, req[i]);
        if (!s || !*s) {
            snprintf(reason, n, "missing \"%s\"", req[i]);
            return -1;
        }
    }
    json_t *value = json_object_get(obj, "value");
    if (value && !json_is_number(value)) {
        snprintf(reason, n, "\"value\" must be a JSON number");
        return -1;
    }
    tierd__event__init(e);
    e->id = (char *)get_str(obj, "id");
    e->source = (char *)(get_str(obj, "source") ? get_str(obj, "source") : default_source);
    e->partner = (char *)get_str(obj, "partner");
    e->metric = (char *)get_str(obj, "metric");
    e->at = (char *)(get_str(obj, "at") ? get_str(obj, "at") : "");
    e->key = (char *)(get_str(obj, "key") ? get_str(obj, "key") : "");
    e->has_value = value != NULL;
    e->value = value ? json_number_value(value) : 0;
    /* The daemon judges op and revision (an unknown op, a revision without
     * an amend): one place says why. */
    e->op = (char *)(op ? op : "");
    e->revision = revision ? (uint64_t)json_integer_value(revision) : 0;
    if (retract && !e->partner)
        e->partner = "";
    if (retract && !e->metric)
        e->metric = "";
    return 0;
}

int td_item_partner(json_t *obj, Tierd__Partner *p, char ***types_out, void **attrs_out,
                    char *reason, size_t n)
{
    if (json_object_get(obj, "metric")) {
        snprintf(reason, n, "an event, not a partner");
        return -1;
    }
    const char *bad = unknown_field(obj, partner_fields);
    if (bad) {
        snprintf(reason, n, "unknown field '%.100s'", bad);
        return -1;
    }
    bad = check_strings(obj, partner_strings);
    if (bad) {
        snprintf(reason, n, "\"%s\" must be a string", bad);
        return -1;
    }
    const char *id = get_str(obj, "partner");
    if (!id || !*id) {
        snprintf(reason, n, "missing \"partner\"");
        return -1;
    }
    json_t *types = json_object_get(obj, "types");
    size_t nt = 0;
    if (types) {
        if (!json_is_array(types)) {
            snprintf(reason, n, "\"types\" must be an array of strings");
            return -1;
        }
        nt = json_array_size(types);
        for (size_t i = 0; i < nt; i++) {
            json_t *s = json_array_get(types, i);
            if (!json_is_string(s) || !*json_string_value(s)) {
                snprintf(reason, n, "\"types\"[%zu] must be a non-empty string", i);
                return -1;
            }
        }
    }
    json_t *attrs = json_object_get(obj, "attrs");
    if (attrs && !json_is_object(attrs)) {
        snprintf(reason, n, "\"attrs\" must be an object of strings");
        return -1;
    }
    size_t na = attrs ? json_object_size(attrs) : 0;
    const char *key;
    json_t *val;
    json_object_foreach(attrs, key, val)
    {
        if (!json_is_string(val)) {
            snprintf(reason, n, "\"attrs\".%.64s must be a string", key);
            return -1;
        }
    }
    char **tv = calloc(nt ? nt : 1, sizeof *tv);
    /* Entries and the pointers to them in one block, freed with the batch. */
    void *am = calloc(1, (na ? na : 1) * (sizeof(Tierd__Partner__AttrsEntry) +
                                          sizeof(Tierd__Partner__AttrsEntry *)));
    if (!tv || !am) {
        free(tv);
        free(am);
        snprintf(reason, n, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < nt; i++)
        tv[i] = (char *)json_string_value(json_array_get(types, i));
    tierd__partner__init(p);
    p->id = (char *)id;
    p->name = (char *)(get_str(obj, "name") ? get_str(obj, "name") : "");
    p->n_types = nt;
    p->types = tv;
    *types_out = tv;
    *attrs_out = am;
    if (attrs) {
        Tierd__Partner__AttrsEntry **ptrs = am;
        Tierd__Partner__AttrsEntry *ents = (Tierd__Partner__AttrsEntry *)(ptrs + (na ? na : 1));
        size_t i = 0;
        json_object_foreach(attrs, key, val)
        {
            tierd__partner__attrs_entry__init(&ents[i]);
            ents[i].key = (char *)key;
            ents[i].value = (char *)json_string_value(val);
            ptrs[i] = &ents[i];
            i++;
        }
        p->has_attrs = true;
        p->n_attrs = na;
        p->attrs = ptrs;
    }
    return 0;
}
