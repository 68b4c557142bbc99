/* The connector plugin ABI as first released (ABI 1, before any member was
 * appended to tierd_host_api), frozen under names of its own: a plugin
 * built against it (abi1_plugin.c) stands for every plugin built before
 * corrections, and test_plugin_abi compares this layout with the current
 * header's. Never edit this file to follow tierd/plugin.h. */
#ifndef TD_PLUGIN_ABI1_0_H
#define TD_PLUGIN_ABI1_0_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tierd/status.h"

#define ABI1_0_VERSION 1

typedef struct abi1_0_partner {
    const char *id;
    const char *name;
    const char *const *types;
    size_t n_types;
} abi1_0_partner;

typedef struct abi1_0_event {
    const char *id;
    const char *source;
    const char *partner;
    const char *metric;
    double value;
    bool has_value;
    const char *at;
    const char *key;
    const char *origin;
} abi1_0_event;

typedef struct abi1_0_host abi1_0_host;

typedef struct abi1_0_host_api {
    uint32_t abi_version;
    size_t size;
    void (*log)(abi1_0_host *h, int level, const char *fmt, ...);
    const char *(*name)(abi1_0_host *h);
    const char *(*config_json)(abi1_0_host *h);
    const char *(*config_get)(abi1_0_host *h, const char *path);
    const char *(*cursor)(abi1_0_host *h);
    int (*emit_partner)(abi1_0_host *h, const abi1_0_partner *p, td_error *err);
    int (*emit_event)(abi1_0_host *h, const abi1_0_event *e, td_error *err);
    int (*commit)(abi1_0_host *h, const char *cursor, td_error *err);
    void (*heartbeat)(abi1_0_host *h);
    bool (*stopping)(abi1_0_host *h);
} abi1_0_host_api;

typedef struct abi1_0_connector {
    uint32_t abi_version;
    const char *name;
    const char *version;
    int (*init)(const abi1_0_host_api *api, abi1_0_host *h, void **state, td_error *err);
    int (*run)(void *state, td_error *err);
    void (*stop)(void *state);
    void (*fini)(void *state);
} abi1_0_connector;

#endif
