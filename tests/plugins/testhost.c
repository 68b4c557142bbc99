/* The in-memory plugin host used by the plugin tests (see testhost.h).
 *
 * It is a second, real implementation of tierd_host_api: it loads with
 * connector/loader.c and checks items with connector/hostcheck.c exactly as
 * tierd-connector does, but keeps committed items in memory instead of
 * sending them to a daemon, so plugins can be tested without one. */
#include "testhost.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hostcheck.h"
#include "loader.h"
#include "testutil.h"

#define TESTHOST_PATH_MAX 4096
#define TESTHOST_DIR_MODE 0755

struct tierd_host {
    testhost *t;
};

struct testhost {
    struct tierd_host h;
    tierd_host_api api; /* th_api, its size possibly cut (testhost_set_api_size) */
    char *name;
    char *config_text;
    json_t *config;
    loader_plugin lp;
    void *state;
    pthread_t thread;
    bool started;
    atomic_bool stopping;
    atomic_bool exited;
    int run_rc;
    td_error run_err;

    pthread_mutex_t lock;
    json_t *pending_events;
    json_t *pending_partners;
    json_t *events;
    json_t *partners;
    char *cursor;
    size_t commits;
    bool fail;
    bool discard;
    size_t pending_discarded;
    size_t discarded;
    char *log;
    size_t log_len;
};

static void th_log(tierd_host *h, tierd_log_level level, const char *fmt, ...)
{
    testhost *t = h->t;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&t->lock);
    size_t n = strlen(msg);
    char *grown = realloc(t->log, t->log_len + n + 2);
    if (grown) {
        t->log = grown;
        memcpy(t->log + t->log_len, msg, n);
        t->log_len += n;
        t->log[t->log_len++] = '\n';
        t->log[t->log_len] = '\0';
    }
    pthread_mutex_unlock(&t->lock);
    (void)level;
}

static const char *th_name(tierd_host *h)
{
    return h->t->name;
}

static const char *th_config_json(tierd_host *h)
{
    return h->t->config_text ? h->t->config_text : "{}";
}

static const char *th_config_get(tierd_host *h, const char *path)
{
    return hostcheck_config_get(h->t->config, path);
}

/* Read only by the plugin thread, written only by commit on that same
 * thread, so no lock is needed for the pointer the plugin gets. */
static const char *th_cursor(tierd_host *h)
{
    return h->t->cursor;
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* Records p with "attrs": an object when the map is set (emit_partner_attrs),
 * null when kept (emit_partner). */
static void record_partner(tierd_host *h, const tierd_partner *p, json_t *attrs)
{
    json_t *types = json_array();
    for (size_t i = 0; i < p->n_types; i++)
        json_array_append_new(types, json_string(p->types[i]));
    json_t *o = json_pack("{s:s, s:o, s:o, s:o}", "partner", p->id, "name", str_or_null(p->name),
                          "types", types, "attrs", attrs);
    pthread_mutex_lock(&h->t->lock);
    json_array_append_new(h->t->pending_partners, o);
    pthread_mutex_unlock(&h->t->lock);
}

static int th_emit_partner(tierd_host *h, const tierd_partner *p, td_error *err)
{
    int rc = hostcheck_partner(p, err);
    if (!rc)
        record_partner(h, p, json_null());
    return rc;
}

static int th_emit_partner_attrs(tierd_host *h, const tierd_partner *p, const tierd_attr *attrs,
                                 size_t n, td_error *err)
{
    int rc = hostcheck_partner_attrs(p, attrs, n, err);
    if (rc)
        return rc;
    json_t *map = json_object();
    for (size_t i = 0; i < n; i++)
        json_object_set_new(map, attrs[i].key, json_string(attrs[i].value));
    record_partner(h, p, map);
    return 0;
}

/* Records e with "op" ("", "retract", "amend") and "revision"; a
 * retraction's absent strings are recorded as null. */
static int th_emit_event_op(tierd_host *h, const tierd_event *e, tierd_event_op op,
                            uint64_t revision, td_error *err)
{
    int rc = hostcheck_event_op(e, op, revision, err);
    if (rc)
        return rc;
    if (h->t->discard) {
        pthread_mutex_lock(&h->t->lock);
        h->t->pending_discarded++;
        pthread_mutex_unlock(&h->t->lock);
        return 0;
    }
    json_t *o = json_pack(
        "{s:s, s:s, s:o, s:o, s:f, s:b, s:o, s:o, s:o, s:s, s:I}", "id", e->id, "source",
        e->source && *e->source ? e->source : h->t->name, "partner", str_or_null(e->partner),
        "metric", str_or_null(e->metric), "value", e->has_value ? e->value : 1.0, "has_value",
        e->has_value, "at", str_or_null(e->at), "key", str_or_null(e->key), "origin",
        str_or_null(e->origin), "op", hostcheck_op_name(op), "revision", (json_int_t)revision);
    pthread_mutex_lock(&h->t->lock);
    json_array_append_new(h->t->pending_events, o);
    pthread_mutex_unlock(&h->t->lock);
    return 0;
}

static int th_emit_event(tierd_host *h, const tierd_event *e, td_error *err)
{
    return th_emit_event_op(h, e, TIERD_EVENT_NEW, 0, err);
}

static int th_commit(tierd_host *h, const char *cursor, td_error *err)
{
    int rc = hostcheck_cursor(cursor, err);
    if (rc)
        return rc;
    testhost *t = h->t;
    pthread_mutex_lock(&t->lock);
    if (t->fail) {
        pthread_mutex_unlock(&t->lock);
        return td_error_set(err, TD_UNAVAILABLE, "test host: daemon unavailable");
    }
    json_array_extend(t->partners, t->pending_partners);
    json_array_clear(t->pending_partners);
    json_array_extend(t->events, t->pending_events);
    json_array_clear(t->pending_events);
    t->discarded += t->pending_discarded;
    t->pending_discarded = 0;
    if (cursor) {
        free(t->cursor);
        t->cursor = strdup(cursor);
    }
    t->commits++;
    pthread_mutex_unlock(&t->lock);
    return 0;
}

static void th_heartbeat(tierd_host *h)
{
    (void)h;
}

static bool th_stopping(tierd_host *h)
{
    return atomic_load(&h->t->stopping);
}

static const tierd_host_api th_api = {
    .abi_version = TIERD_PLUGIN_ABI_VERSION,
    .size = sizeof(tierd_host_api),
    .log = th_log,
    .name = th_name,
    .config_json = th_config_json,
    .config_get = th_config_get,
    .cursor = th_cursor,
    .emit_partner = th_emit_partner,
    .emit_event = th_emit_event,
    .commit = th_commit,
    .heartbeat = th_heartbeat,
    .stopping = th_stopping,
    .emit_event_op = th_emit_event_op,
    .emit_partner_attrs = th_emit_partner_attrs,
};

testhost *testhost_new(const char *name, const char *config_json, const char *cursor)
{
    testhost *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->h.t = t;
    t->api = th_api;
    t->name = strdup(name);
    t->config_text = config_json ? strdup(config_json) : NULL;
    t->cursor = cursor ? strdup(cursor) : NULL;
    pthread_mutex_init(&t->lock, NULL);
    t->pending_events = json_array();
    t->pending_partners = json_array();
    t->events = json_array();
    t->partners = json_array();
    atomic_init(&t->stopping, false);
    atomic_init(&t->exited, false);
    return t;
}

static void *run_thread(void *arg)
{
    testhost *t = arg;
    td_error_clear(&t->run_err);
    t->run_rc = t->lp.desc->run(t->state, &t->run_err);
    atomic_store(&t->exited, true);
    return NULL;
}

int testhost_start(testhost *t, const char *dir, const char *plugin, td_error *err)
{
    int rc = hostcheck_config_parse(t->config_text, &t->config, err);
    if (rc)
        return rc;
    rc = loader_open(dir, plugin, &t->lp, err);
    if (rc)
        return rc;
    /* Only sources run here; sinks need a daemon (test_sink_postgres). */
    if (!t->lp.is_source)
        return td_error_set(err, TD_FAILED_PRECONDITION, "testhost: plugin %s is only a sink",
                            plugin);
    /* As tierd-connector does: the table carries the plugin's own version. */
    t->api.abi_version = t->lp.abi;
    rc = t->lp.desc->init(&t->api, &t->h, &t->state, err);
    if (rc)
        return rc;
    if (pthread_create(&t->thread, NULL, run_thread, t) != 0) {
        t->lp.desc->fini(t->state);
        return td_error_set(err, TD_INTERNAL, "cannot start the plugin thread");
    }
    t->started = true;
    return 0;
}

int testhost_stop(testhost *t, td_error *err)
{
    if (!t->started)
        return 0;
    atomic_store(&t->stopping, true);
    t->lp.desc->stop(t->state);
    pthread_join(t->thread, NULL);
    t->lp.desc->fini(t->state);
    t->started = false;
    if (err)
        *err = t->run_err;
    return t->run_rc;
}

void testhost_free(testhost *t)
{
    if (!t)
        return;
    testhost_stop(t, NULL);
    loader_close(&t->lp);
    json_decref(t->config);
    json_decref(t->pending_events);
    json_decref(t->pending_partners);
    json_decref(t->events);
    json_decref(t->partners);
    free(t->name);
    free(t->config_text);
    free(t->cursor);
    free(t->log);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

static bool wait_count(testhost *t, json_t **arr, size_t n, int timeout_ms)
{
    tu_deadline d = tu_deadline_in(timeout_ms);
    for (;;) {
        pthread_mutex_lock(&t->lock);
        size_t have = json_array_size(*arr) + (*arr == t->events ? t->discarded : 0);
        pthread_mutex_unlock(&t->lock);
        if (have >= n)
            return true;
        if (!tu_poll(&d))
            return false;
    }
}

bool testhost_wait_events(testhost *t, size_t n, int timeout_ms)
{
    return wait_count(t, &t->events, n, timeout_ms);
}

bool testhost_wait_partners(testhost *t, size_t n, int timeout_ms)
{
    return wait_count(t, &t->partners, n, timeout_ms);
}

bool testhost_wait_exit(testhost *t, int timeout_ms)
{
    tu_deadline d = tu_deadline_in(timeout_ms);
    while (!atomic_load(&t->exited) && tu_poll(&d))
        ;
    return atomic_load(&t->exited);
}

static json_t *copy_locked(testhost *t, json_t *arr)
{
    pthread_mutex_lock(&t->lock);
    json_t *c = json_deep_copy(arr);
    pthread_mutex_unlock(&t->lock);
    return c;
}

json_t *testhost_events(testhost *t)
{
    return copy_locked(t, t->events);
}

json_t *testhost_partners(testhost *t)
{
    return copy_locked(t, t->partners);
}

size_t testhost_commits(testhost *t)
{
    pthread_mutex_lock(&t->lock);
    size_t n = t->commits;
    pthread_mutex_unlock(&t->lock);
    return n;
}

char *testhost_cursor(testhost *t)
{
    pthread_mutex_lock(&t->lock);
    char *c = t->cursor ? strdup(t->cursor) : NULL;
    pthread_mutex_unlock(&t->lock);
    return c;
}

char *testhost_log(testhost *t)
{
    pthread_mutex_lock(&t->lock);
    char *c = strdup(t->log ? t->log : "");
    pthread_mutex_unlock(&t->lock);
    return c;
}

void testhost_discard_events(testhost *t, bool discard)
{
    pthread_mutex_lock(&t->lock);
    t->discard = discard;
    pthread_mutex_unlock(&t->lock);
}

void testhost_set_api_size(testhost *t, size_t size)
{
    t->api.size = size < sizeof t->api ? size : sizeof t->api;
}

void testhost_fail_commits(testhost *t, bool fail)
{
    pthread_mutex_lock(&t->lock);
    t->fail = fail;
    pthread_mutex_unlock(&t->lock);
}

static int copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb");
    if (!in)
        return -1;
    int fd = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0755);
    if (fd < 0) {
        fclose(in);
        return -1;
    }
    char buf[65536];
    size_t n;
    int rc = 0;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        if (write(fd, buf, n) != (ssize_t)n)
            rc = -1;
    fclose(in);
    fchmod(fd, 0755);
    if (close(fd) != 0)
        rc = -1;
    return rc;
}

const char *testhost_str(json_t *items, size_t i, const char *key)
{
    json_t *v = json_object_get(json_array_get(items, i), key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

double testhost_num(json_t *items, size_t i, const char *key)
{
    return json_number_value(json_object_get(json_array_get(items, i), key));
}

char *testhost_tmpdir(const char *prefix, char *out, size_t outn)
{
    if (!tu_tmpdir(prefix, out, outn))
        return NULL;
    chmod(out, TESTHOST_DIR_MODE);
    return out;
}

int testhost_plugin_dir(const char *parent, const char *const *so_paths, size_t n, char *out,
                        size_t outn)
{
    snprintf(out, outn, "%s/plugins", parent);
    if (mkdir(out, 0755) != 0 && errno != EEXIST)
        return -1;
    chmod(out, 0755);
    for (size_t i = 0; i < n; i++) {
        const char *base = strrchr(so_paths[i], '/');
        base = base ? base + 1 : so_paths[i];
        char dest[TESTHOST_PATH_MAX];
        snprintf(dest, sizeof dest, "%s/%s", out, base);
        if (copy_file(so_paths[i], dest) != 0)
            return -1;
    }
    return 0;
}
