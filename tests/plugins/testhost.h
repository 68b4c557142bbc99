/* An in-memory host of the connector plugin ABI for tests: it loads a
 * plugin with the real loader, runs it on a thread and records what it
 * commits, applying the same checks tierd-connector applies. Items emitted
 * but not yet committed are invisible, as they would be in the daemon. */
#ifndef TD_TESTHOST_H
#define TD_TESTHOST_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "tierd/status.h"

typedef struct testhost testhost;

/* config_json: the connector's config block as JSON (NULL = "{}");
 * cursor: the committed cursor to resume from (NULL = none). */
testhost *testhost_new(const char *name, const char *config_json, const char *cursor);
/* Loads plugin from dir, runs init on this thread and run on a new one. */
int testhost_start(testhost *t, const char *dir, const char *plugin, td_error *err);
/* Asks the plugin to stop, joins run, calls fini; returns run's result
 * (err gets its message). */
int testhost_stop(testhost *t, td_error *err);
void testhost_free(testhost *t);

/* Waits until at least n events (or partners) were committed or timeout_ms
 * passed; returns whether the count was reached. */
bool testhost_wait_events(testhost *t, size_t n, int timeout_ms);
bool testhost_wait_partners(testhost *t, size_t n, int timeout_ms);
/* Waits until run returned by itself. */
bool testhost_wait_exit(testhost *t, int timeout_ms);

/* Copies (caller decrefs) of what was committed: arrays of objects with the
 * fields of tierd_event / tierd_partner; events also carry "op" ("",
 * "retract", "amend") and "revision", partners "attrs" (an object of the
 * map sent by emit_partner_attrs, null after emit_partner). */
json_t *testhost_events(testhost *t);
json_t *testhost_partners(testhost *t);
size_t testhost_commits(testhost *t);
/* Field key of item i of such an array: its string (NULL when it is not
 * one) or its number (0 when not one). */
const char *testhost_str(json_t *items, size_t i, const char *key);
double testhost_num(json_t *items, size_t i, const char *key);
/* The last committed cursor, malloc'd; NULL when none. */
char *testhost_cursor(testhost *t);
/* Lines logged by the plugin, newline-separated, malloc'd. */
char *testhost_log(testhost *t);

/* Counts emitted events without keeping them (benchmarks): the event
 * array stays empty, testhost_wait_events still sees the count. */
void testhost_discard_events(testhost *t, bool discard);

/* Offers the plugin a host API table of only size bytes (before start),
 * as a tierd-connector from before the members past size were appended. */
void testhost_set_api_size(testhost *t, size_t size);

/* Makes commit fail with TD_UNAVAILABLE from now on (a daemon that is gone). */
void testhost_fail_commits(testhost *t, bool fail);

/* Creates a fresh directory "$TMPDIR/<prefix>-" (/tmp without TMPDIR) plus
 * six random characters
 * (mode 0755, so plugin and spool directories inside it can be checked),
 * writes its path to out; returns out, or NULL on failure. */
char *testhost_tmpdir(const char *prefix, char *out, size_t outn);

/* Creates a private plugin directory (mode 0755) under parent holding
 * copies of the given shared objects (mode 0755); writes its path to out. */
int testhost_plugin_dir(const char *parent, const char *const *so_paths, size_t n, char *out,
                        size_t outn);

#endif
