/* tierd-http against a real tierd (the harness) holding the example
 * program and data, over real HTTP (libcurl, raw sockets for the hostile
 * cases): every route end to end, roles and partner isolation, the limits
 * and every error as JSON, slow clients, tierd down, the long-poll, and
 * docs/openapi.yaml against the running server. */
#include <arpa/inet.h>
#include <check.h>
#include <curl/curl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml.h>

#include "harness.h"

#define ADMIN      "admin-token-0123456789"
#define READER     "read-token-0123456789"
#define WRITER     "write-token-0123456789"
#define PARTNER    "partner-token-0123456789"
#define LIMITED    "limited-token-0123456789"
#define OWN_ID     "p-0001"
#define OTHER_ID   "p-0002"
#define HTTP_WAIT  HARNESS_WAIT_MS
#define BODY_MAX   (4 * 1024 * 1024)
#define SMALL_BODY 4096
#define DEMO_CLOCK "2026-11-15"

typedef struct web {
    harness h;
    char cfg[HARNESS_PATH_MAX], log[HARNESS_PATH_MAX], www[HARNESS_PATH_MAX];
    char base[64];
    int port;
    pid_t pid;
} web;

typedef struct resp {
    long status;
    char *body;
    size_t len;
    char *headers;
    size_t hlen;
} resp;

static size_t grow(char **p, size_t *len, const void *data, size_t n)
{
    char *b = realloc(*p, *len + n + 1);
    ck_assert_ptr_nonnull(b);
    memcpy(b + *len, data, n);
    *len += n;
    b[*len] = 0;
    *p = b;
    return n;
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    resp *r = ud;
    return grow(&r->body, &r->len, data, size * n);
}

static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
    resp *r = ud;
    return grow(&r->headers, &r->hlen, data, size * n);
}

/* One request; body NULL for none. */
static resp call(const web *w, const char *method, const char *path, const char *token,
                 const char *body, size_t body_len)
{
    resp r = {0};
    r.body = calloc(1, 1);
    r.headers = calloc(1, 1);
    CURL *c = curl_easy_init();
    char url[1024], auth[256];
    snprintf(url, sizeof url, "%s%s", w->base, path);
    struct curl_slist *h = NULL;
    if (token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        h = curl_slist_append(h, auth);
    }
    /* Expect: 100-continue only for big bodies, as curl does by default:
     * an early 413 then reaches the client before it sends the body */
    if (body_len <= SMALL_BODY)
        h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 40000L);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body_len);
    }
    CURLcode rc = curl_easy_perform(c);
    ck_assert_msg(rc == CURLE_OK, "%s %s: %s", method, path, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    return r;
}

static void resp_free(resp *r)
{
    free(r->body);
    free(r->headers);
}

static resp get(const web *w, const char *path, const char *token)
{
    return call(w, "GET", path, token, NULL, 0);
}

static resp send_text(const web *w, const char *method, const char *path, const char *token,
                      const char *body)
{
    return call(w, method, path, token, body, strlen(body));
}

static json_t *json_of(const resp *r)
{
    json_error_t e;
    json_t *j = json_loads(r->body, 0, &e);
    ck_assert_msg(j != NULL, "not JSON (%s): %.300s", e.text, r->body);
    return j;
}

/* The error body every failure carries: code and HTTP status as expected. */
static void expect_error(const resp *r, long status, const char *code)
{
    ck_assert_msg(r->status == status, "want %ld, got %ld: %.300s", status, r->status, r->body);
    json_t *j = json_of(r);
    json_t *e = json_object_get(j, "error");
    ck_assert_msg(json_is_object(e), "no error object: %.300s", r->body);
    ck_assert_str_eq(json_string_value(json_object_get(e, "code")), code);
    ck_assert(json_is_integer(json_object_get(e, "status")));
    ck_assert(json_is_string(json_object_get(e, "message")));
    json_decref(j);
}

static const char *bin(const char *env)
{
    const char *b = getenv(env);
    ck_assert_msg(b != NULL, "%s is not set", env);
    return b;
}

static void web_config(web *w, const char *extra)
{
    char text[4096];
    snprintf(text, sizeof text,
             "listen: 127.0.0.1:0\n"
             "tierd:\n  url: %s\n  timeout: 2s\n"
             "tokens:\n"
             "  - {name: alice, token: " ADMIN ", role: admin}\n"
             "  - {name: rita, token: " READER ", role: read}\n"
             "  - {name: will, token: " WRITER ", role: write}\n"
             "  - {name: pioneer, token: " PARTNER ", role: partner, partner: " OWN_ID "}\n"
             "static_dir: %s\n%s",
             harness_url(&w->h), w->www, extra ? extra : "");
    snprintf(w->cfg, sizeof w->cfg, "%s/tierd-http.yaml", w->h.work);
    ck_assert_int_eq(tu_write_file(w->cfg, text), 0);
}

/* Starts tierd-http on a free port and waits for its "listening" line. */
static void web_start(web *w)
{
    snprintf(w->log, sizeof w->log, "%s/tierd-http.log", w->h.work);
    unlink(w->log); /* a restart must not read the last run's port */
    const char *argv[] = {bin("TIERD_HTTP_BIN"), "-c", w->cfg, NULL};
    w->pid = tu_spawn(argv, NULL, NULL, w->log);
    ck_assert_int_gt(w->pid, 0);
    tu_deadline d = tu_deadline_in(HTTP_WAIT);
    const char *mark = "listening on http://127.0.0.1:";
    for (;;) {
        char *log = tu_read_file(w->log, 1 << 20);
        char *at = strstr(log, mark);
        if (at) {
            w->port = atoi(at + strlen(mark));
            free(log);
            break;
        }
        int st;
        ck_assert_msg(!tu_wait_exit(w->pid, 0, &st), "tierd-http exited %d: %s", st, log);
        free(log);
        ck_assert_msg(tu_poll(&d), "tierd-http did not listen in time");
    }
    snprintf(w->base, sizeof w->base, "http://127.0.0.1:%d", w->port);
}

static void web_init(web *w, const char *extra, bool data)
{
    memset(w, 0, sizeof *w);
    harness_init(&w->h);
    char program[HARNESS_PATH_MAX], path[HARNESS_PATH_MAX * 2];
    const char *root = getenv("TIERD_SOURCE_ROOT");
    snprintf(program, sizeof program, "%s/examples/programs/partners.yaml", root);
    HARNESS_START_OK(&w->h, "--fake-clock", DEMO_CLOCK, "--program", program, NULL);
    if (data) {
        snprintf(path, sizeof path, "%s/examples/data/partners.ndjson", root);
        HARNESS_TIERCTL_OK(&w->h, "partner", "import", path);
        snprintf(path, sizeof path, "%s/examples/data/events.ndjson", root);
        HARNESS_TIERCTL_OK(&w->h, "event", "import", path, "--replay");
    }
    snprintf(w->www, sizeof w->www, "%s/www", w->h.work);
    mkdir(w->www, 0755);
    snprintf(path, sizeof path, "%s/partner.html", w->www);
    tu_write_file(path, "<!doctype html><title>partner</title>\n");
    snprintf(path, sizeof path, "%s/app.js", w->www);
    tu_write_file(path, "console.log('tierd');\n");
    snprintf(path, sizeof path, "%s/secret.txt", w->h.work);
    tu_write_file(path, "outside the static dir\n");
    char link[HARNESS_PATH_MAX * 2];
    snprintf(link, sizeof link, "%s/escape.txt", w->www);
    ck_assert_int_eq(symlink(path, link), 0);
    web_config(w, extra);
    web_start(w);
}

static int web_stop(web *w)
{
    if (!w->pid)
        return 0;
    kill(w->pid, SIGTERM);
    int st = -1;
    ck_assert_msg(tu_wait_exit(w->pid, HTTP_WAIT, &st), "tierd-http did not stop on SIGTERM");
    w->pid = 0;
    return st;
}

static void web_finish(web *w)
{
    ck_assert_int_eq(web_stop(w), 0);
    harness_finish(&w->h);
}

/* ---- routes end to end ------------------------------------------------------------ */

START_TEST(test_read_routes_answer_json_mirroring_the_rpc)
{
    web w;
    web_init(&w, NULL, true);
    resp r = get(&w, "/v1/status", READER);
    ck_assert_int_eq(r.status, 200);
    json_t *j = json_of(&r);
    ck_assert_str_eq(json_string_value(json_object_get(j, "program")), "acme-partners");
    ck_assert_str_eq(json_string_value(json_object_get(j, "now")), "2026-11-15T00:00:00Z");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "partners")), 300);
    ck_assert(strstr(r.headers, "Cache-Control: no-store"));
    ck_assert(strstr(r.headers, "X-Content-Type-Options: nosniff"));
    ck_assert(strstr(r.headers, "Content-Security-Policy: default-src 'self'"));
    json_decref(j);
    resp_free(&r);

    r = get(&w, "/v1/partners/" OWN_ID, READER);
    ck_assert_int_eq(r.status, 200);
    j = json_of(&r);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "partner"), "id")),
                     OWN_ID);
    json_t *tier0 = json_array_get(json_object_get(j, "tiers"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(tier0, "ladder")), "reseller");
    ck_assert(json_is_string(json_object_get(tier0, "since")));
    ck_assert(json_is_null(json_object_get(tier0, "override_until")));
    json_decref(j);
    resp_free(&r);

    const char *routes[] = {"/v1/partners?limit=5&ladder=reseller",
                            "/v1/partners/" OWN_ID "/explain?ladder=reseller",
                            "/v1/partners/" OWN_ID "/history?limit=3",
                            "/v1/partners/" OWN_ID "/benefits",
                            "/v1/stats",
                            "/v1/changes?since=0&limit=5",
                            "/v1/pending",
                            "/v1/program",
                            "/v1/kpi?ladder=reseller",
                            "/v1/whoami",
                            "/metrics"};
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++) {
        r = get(&w, routes[i], READER);
        ck_assert_msg(r.status == 200, "%s: %ld %.300s", routes[i], r.status, r.body);
        resp_free(&r);
    }
    r = get(&w, "/v1/partners/" OWN_ID "/explain?ladder=reseller", READER);
    ck_assert(strstr(r.body, "\"ladders\":[{\"ladder\":\"reseller\""));
    resp_free(&r);
    r = get(&w, "/v1/partners/nobody-here", READER);
    expect_error(&r, 404, "NOT_FOUND");
    resp_free(&r);
    r = get(&w, "/v1/partners/nobody-here/benefits", READER);
    expect_error(&r, 404, "NOT_FOUND");
    resp_free(&r);
    r = get(&w, "/v1/partners?tier=Gold", READER);
    expect_error(&r, 400, "INVALID_ARGUMENT");
    resp_free(&r);
    web_finish(&w);
}
END_TEST

START_TEST(test_ingest_takes_arrays_and_ndjson_with_per_item_results)
{
    web w;
    web_init(&w, NULL, true);
    resp r = send_text(&w, "POST", "/v1/partners", WRITER,
                       "{\"partner\":\"h-1\",\"name\":\"Web One\",\"types\":[\"reseller\"]}\n"
                       "\n{\"partner\":7}\n");
    ck_assert_int_eq(r.status, 200);
    json_t *j = json_of(&r);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "accepted")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "rejected")), 1);
    json_t *second = json_array_get(json_object_get(j, "results"), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(second, "index")), 1);
    ck_assert_str_eq(json_string_value(json_object_get(second, "outcome")), "REJECTED");
    ck_assert(strstr(json_string_value(json_object_get(second, "reason")), "partner"));
    json_decref(j);
    resp_free(&r);

    r = send_text(&w, "POST", "/v1/events", WRITER,
                  "[{\"id\":\"w-1\",\"partner\":\"h-1\",\"metric\":\"deal_closed\",\"value\":3,"
                  "\"at\":\"2026-11-14T00:00:00Z\"},"
                  " {\"id\":\"w-1\",\"partner\":\"h-1\",\"metric\":\"deal_closed\",\"value\":3,"
                  "\"at\":\"2026-11-14T00:00:00Z\"},"
                  " {\"id\":\"w-2\",\"partner\":\"h-1\"}]");
    ck_assert_int_eq(r.status, 200);
    j = json_of(&r);
    ck_assert_msg(json_integer_value(json_object_get(j, "accepted")) == 1, "%s", r.body);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "duplicate")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "rejected")), 1);
    ck_assert_int_eq(json_array_size(json_object_get(j, "results")), 3);
    json_decref(j);
    resp_free(&r);

    /* write may ingest but not approve; read may not ingest */
    r = send_text(&w, "POST", "/v1/events", READER, "[]");
    expect_error(&r, 403, "PERMISSION_DENIED");
    resp_free(&r);
    r = send_text(&w, "POST", "/v1/pending/h-1/approve", WRITER, "{\"ladder\":\"reseller\"}");
    expect_error(&r, 403, "PERMISSION_DENIED");
    resp_free(&r);
    web_finish(&w);
}
END_TEST

START_TEST(test_approve_moves_the_partner_and_records_the_token_name)
{
    web w;
    web_init(&w, NULL, true);
    resp r = get(&w, "/v1/pending", ADMIN);
    json_t *j = json_of(&r);
    json_t *first = json_array_get(json_object_get(j, "pending"), 0);
    ck_assert_msg(first != NULL, "no pending approval in the example data: %s", r.body);
    char partner[128], ladder[64], to[64], path[256], body[256];
    snprintf(partner, sizeof partner, "%s", json_string_value(json_object_get(first, "partner")));
    snprintf(ladder, sizeof ladder, "%s", json_string_value(json_object_get(first, "ladder")));
    snprintf(to, sizeof to, "%s", json_string_value(json_object_get(first, "to_tier")));
    json_decref(j);
    resp_free(&r);

    snprintf(path, sizeof path, "/v1/pending/%s/approve", partner);
    snprintf(body, sizeof body, "{\"ladder\":\"%s\",\"reason\":\"web check\"}", ladder);
    r = send_text(&w, "POST", path, ADMIN, body);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    j = json_of(&r);
    ck_assert_str_eq(json_string_value(json_object_get(j, "tier")), to);
    json_decref(j);
    resp_free(&r);

    snprintf(path, sizeof path, "/v1/partners/%s/history?limit=1&ladder=%s", partner, ladder);
    r = get(&w, path, READER);
    ck_assert_msg(strstr(r.body, "\"actor\":\"alice\"") && strstr(r.body, "\"APPROVAL\""), "%s",
                  r.body);
    resp_free(&r);

    snprintf(path, sizeof path, "/v1/pending/%s/deny", partner);
    r = send_text(&w, "POST", path, ADMIN, "{\"ladder\": 5}");
    expect_error(&r, 400, "INVALID_ARGUMENT");
    ck_assert(strstr(r.body, "'ladder'"));
    resp_free(&r);
    r = send_text(&w, "POST", path, ADMIN, "{\"ladder\": \"reseller\", \"actor\": \"x\"}");
    expect_error(&r, 400, "INVALID_ARGUMENT");
    ck_assert(strstr(r.body, "'actor'"));
    resp_free(&r);
    web_finish(&w);
}
END_TEST

START_TEST(test_program_put_dry_run_reports_and_bad_yaml_names_the_place)
{
    web w;
    web_init(&w, NULL, true);
    char path[HARNESS_PATH_MAX];
    snprintf(path, sizeof path, "%s/examples/programs/partners-2027.2.yaml",
             getenv("TIERD_SOURCE_ROOT"));
    char *text = tu_read_file(path, 1 << 20);
    resp r = send_text(&w, "PUT", "/v1/program?dry_run=true", ADMIN, text);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    ck_assert(strstr(r.body, "\"applied\":false"));
    resp_free(&r);
    free(text);
    r = send_text(&w, "PUT", "/v1/program?dry_run=true", ADMIN, "ladders: [\n");
    expect_error(&r, 400, "INVALID_ARGUMENT");
    ck_assert_msg(strstr(r.body, "program.yaml:"), "%s", r.body);
    resp_free(&r);
    r = send_text(&w, "PUT", "/v1/program", READER, "x: 1\n");
    expect_error(&r, 403, "PERMISSION_DENIED");
    resp_free(&r);
    web_finish(&w);
}
END_TEST

/* ---- roles ------------------------------------------------------------------------- */

START_TEST(test_partner_token_sees_only_its_partner)
{
    web w;
    web_init(&w, NULL, true);
    resp r = get(&w, "/v1/whoami", PARTNER);
    ck_assert_int_eq(r.status, 200);
    ck_assert(strstr(r.body, "\"role\":\"partner\"") && strstr(r.body, "\"partner\":\"" OWN_ID));
    resp_free(&r);
    const char *own[] = {"/v1/partners/" OWN_ID, "/v1/partners/" OWN_ID "/explain",
                         "/v1/partners/" OWN_ID "/history", "/v1/partners/" OWN_ID "/benefits",
                         "/v1/status"};
    for (size_t i = 0; i < sizeof own / sizeof *own; i++) {
        r = get(&w, own[i], PARTNER);
        ck_assert_msg(r.status == 200, "%s: %ld", own[i], r.status);
        resp_free(&r);
    }
    r = get(&w, "/v1/status", PARTNER);
    ck_assert(!strstr(r.body, "state_dir") && !strstr(r.body, "listen"));
    resp_free(&r);
    /* another partner, existing or not: the same 404 */
    const char *other[] = {"/v1/partners/" OTHER_ID, "/v1/partners/" OTHER_ID "/explain",
                           "/v1/partners/" OTHER_ID "/history", "/v1/partners/no-such/benefits"};
    for (size_t i = 0; i < sizeof other / sizeof *other; i++) {
        r = get(&w, other[i], PARTNER);
        expect_error(&r, 404, "NOT_FOUND");
        resp_free(&r);
    }
    const char *lists[] = {"/v1/partners", "/v1/stats", "/v1/pending", "/v1/program",
                           "/v1/changes",  "/v1/kpi",   "/metrics"};
    for (size_t i = 0; i < sizeof lists / sizeof *lists; i++) {
        r = get(&w, lists[i], PARTNER);
        expect_error(&r, 403, "PERMISSION_DENIED");
        resp_free(&r);
    }
    r = get(&w, "/v1/status", NULL);
    expect_error(&r, 401, "UNAUTHENTICATED");
    ck_assert(strstr(r.headers, "WWW-Authenticate: Bearer"));
    resp_free(&r);
    r = get(&w, "/v1/status", "not-a-token-at-all-xx");
    expect_error(&r, 401, "UNAUTHENTICATED");
    resp_free(&r);
    web_finish(&w);
}
END_TEST

/* ---- hostile HTTP --------------------------------------------------------------- */

START_TEST(test_bad_requests_get_json_errors_naming_the_problem)
{
    web w;
    web_init(&w, NULL, false);
    resp r = get(&w, "/v1/no-such-route", READER);
    expect_error(&r, 404, "NOT_FOUND");
    resp_free(&r);
    r = call(&w, "DELETE", "/v1/stats", READER, NULL, 0);
    expect_error(&r, 405, "UNIMPLEMENTED");
    ck_assert(strstr(r.headers, "Allow: GET"));
    resp_free(&r);
    r = send_text(&w, "POST", "/v1/events", WRITER, "[{\"id\": \"a\",\n \"value\": }]");
    expect_error(&r, 400, "INVALID_ARGUMENT");
    ck_assert_msg(strstr(r.body, "line 2 column"), "%s", r.body);
    resp_free(&r);
    r = send_text(&w, "POST", "/v1/events", WRITER, "{\"id\":\"a\"}\n{\"value\": NaN}\n");
    expect_error(&r, 400, "INVALID_ARGUMENT");
    ck_assert_msg(strstr(r.body, "line 2"), "%s", r.body);
    resp_free(&r);
    r = send_text(&w, "POST", "/v1/events", WRITER, "[{\"value\": 1e999}]");
    expect_error(&r, 400, "INVALID_ARGUMENT");
    resp_free(&r);
    r = send_text(&w, "POST", "/v1/events", WRITER,
                  "[{\"value\": 123456789012345678901234567890}]");
    expect_error(&r, 400, "INVALID_ARGUMENT");
    resp_free(&r);
    r = send_text(&w, "POST", "/v1/events", WRITER, "[{\"id\": \"\xff\xfe\"}]");
    expect_error(&r, 400, "INVALID_ARGUMENT");
    resp_free(&r);
    r = get(&w, "/v1/changes?wait=forever", READER);
    expect_error(&r, 400, "INVALID_ARGUMENT");
    ck_assert(strstr(r.body, "'wait'"));
    resp_free(&r);
    r = get(&w, "/v1/partners?limit=-1", READER);
    expect_error(&r, 400, "INVALID_ARGUMENT");
    ck_assert(strstr(r.body, "'limit'"));
    resp_free(&r);

    size_t big = 2 * 1024 * 1024;
    char *body = malloc(big + 1);
    memset(body, ' ', big);
    body[big] = 0;
    r = call(&w, "POST", "/v1/events", WRITER, body, big);
    expect_error(&r, 413, "RESOURCE_EXHAUSTED");
    ck_assert(strstr(r.body, "max_body_bytes"));
    resp_free(&r);
    free(body);
    web_finish(&w);
}
END_TEST

START_TEST(test_static_files_stay_inside_the_static_dir)
{
    web w;
    web_init(&w, NULL, false);
    resp r = get(&w, "/", NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert(strstr(r.headers, "Content-Type: text/html"));
    ck_assert(strstr(r.headers, "Content-Security-Policy: default-src 'self'"));
    ck_assert_msg(strstr(r.body, "<title>partner"), "/ serves the partner page");
    resp_free(&r);
    r = get(&w, "/partner", NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert(strstr(r.body, "<title>partner"));
    resp_free(&r);
    r = get(&w, "/app.js", NULL);
    ck_assert(strstr(r.headers, "Content-Type: text/javascript"));
    resp_free(&r);
    const char *bad[] = {"/../secret.txt",     "/%2e%2e/secret.txt", "/%2E%2E%2Fsecret.txt",
                         "/./index.html",      "//etc/passwd",       "/escape.txt",
                         "/www/../secret.txt", "/..%5csecret.txt",   "/%00index.html"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        r = get(&w, bad[i], NULL);
        ck_assert_msg(r.status == 404 || r.status == 400, "%s: %ld", bad[i], r.status);
        ck_assert_msg(!strstr(r.body, "outside the static dir"), "%s leaked", bad[i]);
        resp_free(&r);
    }
    r = call(&w, "POST", "/", NULL, "x", 1);
    ck_assert_int_eq(r.status, 405);
    resp_free(&r);
    web_finish(&w);
}
END_TEST

/* Raw socket helpers for what libcurl will not send. */
static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

START_TEST(test_oversized_headers_are_refused)
{
    web w;
    web_init(&w, "limits:\n  max_header_bytes: 4096\n", false);
    int fd = dial(w.port);
    char line[512];
    snprintf(line, sizeof line, "GET /v1/status HTTP/1.1\r\nHost: x\r\n");
    send(fd, line, strlen(line), MSG_NOSIGNAL);
    char hdr[1100];
    memset(hdr, 'a', sizeof hdr);
    memcpy(hdr, "X-Pad: ", 7);
    memcpy(hdr + sizeof hdr - 2, "\r\n", 2);
    for (int i = 0; i < 16; i++)
        send(fd, hdr, sizeof hdr, MSG_NOSIGNAL);
    send(fd, "\r\n", 2, MSG_NOSIGNAL);
    char buf[256] = {0};
    ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
    ck_assert_msg(n > 0 && strstr(buf, " 431 "), "want 431, got: %s", n > 0 ? buf : "(closed)");
    close(fd);
    /* the server still serves */
    resp r = get(&w, "/v1/whoami", READER);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
    web_finish(&w);
}
END_TEST

START_TEST(test_slow_client_is_dropped_while_others_are_served)
{
    web w;
    web_init(&w, "limits:\n  request_timeout: 2s\n  idle_timeout: 30s\n", false);
    int fd = dial(w.port);
    const char *start = "GET /v1/status HTTP/1.1\r\nHost: x\r\n";
    send(fd, start, strlen(start), MSG_NOSIGNAL);
    double t0 = tu_now_s();
    bool dropped = false;
    /* a header line every 200 ms: never idle, never done */
    while (tu_now_s() - t0 < 8) {
        if (send(fd, "X-Slow: 1\r\n", 11, MSG_NOSIGNAL) < 0) {
            dropped = true;
            break;
        }
        char c;
        ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);
        if (n == 0) {
            dropped = true;
            break;
        }
        resp r = get(&w, "/v1/whoami", READER);
        ck_assert_int_eq(r.status, 200);
        resp_free(&r);
        tu_sleep_ms(200);
    }
    double took = tu_now_s() - t0;
    ck_assert_msg(dropped, "the slow client was still connected after %.1f s", took);
    ck_assert_msg(took < 5, "dropped only after %.1f s (request_timeout 2s)", took);
    close(fd);
    web_finish(&w);
}
END_TEST

START_TEST(test_rate_limit_answers_429_with_retry_after)
{
    web w;
    web_init(&w, "limits:\n  requests_per_second: 0.5\n  burst: 3\n", false);
    long last = 0;
    resp r = {0};
    for (int i = 0; i < 5; i++) {
        if (i)
            resp_free(&r);
        r = get(&w, "/v1/whoami", READER);
        last = r.status;
    }
    ck_assert_int_eq(last, 429);
    expect_error(&r, 429, "RESOURCE_EXHAUSTED");
    ck_assert(strstr(r.headers, "Retry-After: "));
    resp_free(&r);
    /* per token: another token is not limited by this one */
    r = get(&w, "/v1/whoami", ADMIN);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
    web_finish(&w);
}
END_TEST

START_TEST(test_tierd_down_answers_503_json)
{
    web w;
    web_init(&w, NULL, false);
    ck_assert_int_eq(harness_stop(&w.h), 0);
    resp r = get(&w, "/v1/status", READER);
    expect_error(&r, 503, "UNAVAILABLE");
    resp_free(&r);
    r = get(&w, "/metrics", READER);
    ck_assert_int_eq(r.status, 200);
    ck_assert(strstr(r.body, "tierd_http_requests_total"));
    resp_free(&r);
    ck_assert_int_eq(web_stop(&w), 0);
    harness_cleanup(&w.h);
}
END_TEST

typedef struct poll_arg {
    web *w;
    resp r;
    double took;
} poll_arg;

START_TEST(test_long_poll_returns_when_a_change_commits)
{
    web w;
    web_init(&w, NULL, true);
    resp r = get(&w, "/v1/changes?since=0&limit=1", READER);
    json_t *j = json_of(&r);
    json_int_t last = json_integer_value(json_object_get(j, "last_sequence"));
    json_decref(j);
    resp_free(&r);
    char path[128];
    snprintf(path, sizeof path, "/v1/changes?since=%lld&wait=20s", (long long)last);
    pid_t child = tu_fork();
    if (child == 0) {
        /* a change after the long-poll started: an override commits one */
        tu_sleep_ms(500);
        int rc = HARNESS_TIERCTL(&w.h, NULL, NULL, "override", "set", OWN_ID, "--ladder",
                                 "reseller", "--tier", "Strategic", "--until", "2027-06-01",
                                 "--reason", "long-poll test");
        _exit(rc);
    }
    double t0 = tu_now_s();
    r = get(&w, path, READER);
    double took = tu_now_s() - t0;
    int st;
    ck_assert(tu_wait_exit(child, HTTP_WAIT, &st));
    ck_assert_int_eq(st, 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(strstr(r.body, "\"OVERRIDE\""), "%s", r.body);
    ck_assert_msg(took < 10, "the long-poll took %.1f s", took);
    resp_free(&r);
    web_finish(&w);
}
END_TEST

START_TEST(test_metrics_carry_request_counts_and_latency)
{
    web w;
    web_init(&w, "metrics_open: true\n", false);
    resp r = get(&w, "/v1/whoami", READER);
    resp_free(&r);
    r = get(&w, "/metrics", NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert(strstr(r.headers, "text/plain; version=0.0.4"));
    ck_assert(strstr(r.body, "tierd_http_requests_total{route=\"/v1/whoami\",code=\"200\"} 1"));
    ck_assert(strstr(r.body, "tierd_http_request_duration_seconds_bucket{route=\"/v1/whoami\""));
    resp_free(&r);
    web_finish(&w);
}
END_TEST

/* at_risk_within counts from tierd's (fake) clock: the same partners as
 * at_risk_before at that clock plus 90 days, p-0066 among them (the
 * example data puts it at risk), each with a tier whose lapses_at or
 * demotion_at falls before then. */
START_TEST(test_partners_at_risk_within_counts_from_tierds_clock)
{
    web w;
    web_init(&w, NULL, true);
    resp r = get(&w, "/v1/partners?at_risk_within=90d&limit=1000", READER);
    ck_assert_msg(r.status == 200, "%ld %.300s", r.status, r.body);
    json_t *within = json_of(&r);
    resp_free(&r);
    r = get(&w, "/v1/partners?at_risk_before=2027-02-13T00:00:00Z&limit=1000", READER);
    ck_assert_msg(r.status == 200, "%ld %.300s", r.status, r.body);
    json_t *before = json_of(&r);
    resp_free(&r);
    json_t *list = json_object_get(within, "partners");
    ck_assert_uint_gt(json_array_size(list), 0);
    ck_assert_uint_lt(json_array_size(list), 300);
    ck_assert_uint_eq(json_array_size(list), json_array_size(json_object_get(before, "partners")));
    bool listed = false;
    size_t i;
    json_t *p;
    json_array_foreach(list, i, p)
    {
        const char *id = json_string_value(json_object_get(json_object_get(p, "partner"), "id"));
        listed |= strcmp(id, "p-0066") == 0;
        bool soon = false;
        size_t k;
        json_t *t;
        json_array_foreach(json_object_get(p, "tiers"), k, t)
        {
            /* RFC 3339 strings of one shape order as the times do */
            const char *lapses = json_string_value(json_object_get(t, "lapses_at"));
            const char *demotion = json_string_value(json_object_get(t, "demotion_at"));
            soon |= (lapses && strcmp(lapses, "2027-02-13T00:00:00Z") < 0) ||
                    (demotion && strcmp(demotion, "2027-02-13T00:00:00Z") < 0);
        }
        ck_assert_msg(soon, "%s is listed but not at risk within 90 days", id);
    }
    ck_assert_msg(listed, "p-0066 is not among the partners at risk");
    json_decref(within);
    json_decref(before);

    r = get(&w, "/v1/partners?at_risk_within=soon", READER);
    expect_error(&r, 400, "INVALID_ARGUMENT");
    ck_assert_msg(strstr(r.body, "at_risk_within"), "%s", r.body);
    resp_free(&r);
    r = get(&w, "/v1/partners?at_risk_within=90d&at_risk_before=2027-01-01", READER);
    expect_error(&r, 400, "INVALID_ARGUMENT");
    resp_free(&r);
    r = get(&w, "/v1/partners?at_risk_before=tomorrow", READER);
    expect_error(&r, 400, "INVALID_ARGUMENT");
    ck_assert_msg(strstr(r.body, "at_risk_before"), "%s", r.body);
    resp_free(&r);
    web_finish(&w);
}
END_TEST

/* ---- docs/openapi.yaml against the server ----------------------------------------- */

#define API_MAX_OPS    64
#define API_MAX_CODES  16
#define API_MAX_PARAMS 16

typedef struct api_op {
    char method[8]; /* upper case */
    char path[128];
    int codes[API_MAX_CODES];
    size_t n_codes;
    char examples[API_MAX_PARAMS][192]; /* "name=example" of query parameters with one */
    size_t n_examples;
} api_op;

static yaml_node_t *map_get(yaml_document_t *d, yaml_node_t *m, const char *key)
{
    if (!m || m->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(d, p->key);
        if (k->type == YAML_SCALAR_NODE && strcmp((char *)k->data.scalar.value, key) == 0)
            return yaml_document_get_node(d, p->value);
    }
    return NULL;
}

/* Every operation of docs/openapi.yaml with its documented status codes. */
static size_t load_openapi(api_op *ops)
{
    char path[HARNESS_PATH_MAX];
    snprintf(path, sizeof path, "%s/docs/openapi.yaml", getenv("TIERD_SOURCE_ROOT"));
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    yaml_parser_t p;
    yaml_document_t d;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_file(&p, f);
    ck_assert_msg(yaml_parser_load(&p, &d), "%s does not parse", path);
    yaml_node_t *paths = map_get(&d, yaml_document_get_root_node(&d), "paths");
    ck_assert_ptr_nonnull(paths);
    size_t n = 0;
    for (yaml_node_pair_t *pp = paths->data.mapping.pairs.start; pp < paths->data.mapping.pairs.top;
         pp++) {
        const char *route = (char *)yaml_document_get_node(&d, pp->key)->data.scalar.value;
        yaml_node_t *item = yaml_document_get_node(&d, pp->value);
        for (yaml_node_pair_t *mp = item->data.mapping.pairs.start;
             mp < item->data.mapping.pairs.top; mp++) {
            const char *m = (char *)yaml_document_get_node(&d, mp->key)->data.scalar.value;
            ck_assert_uint_lt(n, API_MAX_OPS);
            api_op *op = &ops[n++];
            memset(op, 0, sizeof *op);
            for (size_t i = 0; m[i] && i + 1 < sizeof op->method; i++)
                op->method[i] = (char)(m[i] - ('a' <= m[i] && m[i] <= 'z' ? 32 : 0));
            snprintf(op->path, sizeof op->path, "%s", route);
            yaml_node_t *params = map_get(&d, yaml_document_get_node(&d, mp->value), "parameters");
            for (yaml_node_item_t *it = params ? params->data.sequence.items.start : NULL;
                 it && it < params->data.sequence.items.top && op->n_examples < API_MAX_PARAMS;
                 it++) {
                yaml_node_t *prm = yaml_document_get_node(&d, *it);
                yaml_node_t *name = map_get(&d, prm, "name"), *in = map_get(&d, prm, "in");
                yaml_node_t *ex = map_get(&d, prm, "example");
                if (name && in && ex && strcmp((char *)in->data.scalar.value, "query") == 0)
                    snprintf(op->examples[op->n_examples++], sizeof op->examples[0], "%s=%s",
                             (char *)name->data.scalar.value, (char *)ex->data.scalar.value);
            }
            yaml_node_t *codes = map_get(&d, yaml_document_get_node(&d, mp->value), "responses");
            ck_assert_msg(codes != NULL, "%s %s documents no responses", op->method, route);
            for (yaml_node_pair_t *cp = codes->data.mapping.pairs.start;
                 cp < codes->data.mapping.pairs.top && op->n_codes < API_MAX_CODES; cp++)
                op->codes[op->n_codes++] =
                    atoi((char *)yaml_document_get_node(&d, cp->key)->data.scalar.value);
        }
    }
    yaml_document_delete(&d);
    yaml_parser_delete(&p);
    fclose(f);
    return n;
}

static bool documented(const api_op *op, long status)
{
    for (size_t i = 0; i < op->n_codes; i++)
        if (op->codes[i] == status)
            return true;
    return false;
}

START_TEST(test_openapi_documents_every_route_and_its_answers)
{
    api_op ops[API_MAX_OPS];
    size_t n = load_openapi(ops);
    ck_assert_uint_gt(n, 10);

    /* every route the server has is documented */
    web w;
    web_init(&w, NULL, true);
    char out[HARNESS_PATH_MAX + 16];
    snprintf(out, sizeof out, "%s/routes.txt", w.h.work);
    const char *argv[] = {bin("TIERD_HTTP_BIN"), "--print-routes", NULL};
    pid_t pid = tu_spawn(argv, NULL, out, NULL);
    int st;
    ck_assert(tu_wait_exit(pid, HTTP_WAIT, &st));
    ck_assert_int_eq(st, 0);
    char *routes = tu_read_file(out, 1 << 16);
    size_t served = 0;
    for (char *line = strtok(routes, "\n"); line; line = strtok(NULL, "\n"), served++) {
        bool found = false;
        for (size_t i = 0; i < n && !found; i++) {
            size_t ml = strlen(ops[i].method);
            found = strncmp(line, ops[i].method, ml) == 0 && line[ml] == ' ' &&
                    strcmp(line + ml + 1, ops[i].path) == 0;
        }
        ck_assert_msg(found, "the server serves %s, which docs/openapi.yaml does not document",
                      line);
    }
    free(routes);
    ck_assert_uint_eq(served, n);

    /* every documented route answers, with a documented status */
    char prog[HARNESS_PATH_MAX];
    snprintf(prog, sizeof prog, "%s/examples/programs/partners.yaml", getenv("TIERD_SOURCE_ROOT"));
    char *program = tu_read_file(prog, 1 << 20);
    for (size_t i = 0; i < n; i++) {
        char path[256];
        const char *id = strstr(ops[i].path, "{id}");
        if (id)
            snprintf(path, sizeof path, "%.*s%s%s", (int)(id - ops[i].path), ops[i].path, OWN_ID,
                     id + 4);
        else
            snprintf(path, sizeof path, "%s", ops[i].path);
        const char *body = NULL;
        if (strcmp(ops[i].method, "PUT") == 0) {
            strncat(path, "?dry_run=true", sizeof path - strlen(path) - 1);
            body = program;
        } else if (strcmp(ops[i].method, "POST") == 0) {
            body = strstr(path, "/pending/") ? "{\"ladder\":\"reseller\"}" : "[]";
        }
        resp r = body ? send_text(&w, ops[i].method, path, ADMIN, body) : get(&w, path, ADMIN);
        ck_assert_msg(documented(&ops[i], r.status), "%s %s answered %ld, not documented: %.200s",
                      ops[i].method, path, r.status, r.body);
        resp_free(&r);
        /* a query parameter documented with an example is taken as such */
        for (size_t e = 0; e < ops[i].n_examples && !body; e++) {
            char with[512];
            snprintf(with, sizeof with, "%s?%s", path, ops[i].examples[e]);
            r = get(&w, with, ADMIN);
            ck_assert_msg(r.status == 200, "%s %s answered %ld: %.200s", ops[i].method, with,
                          r.status, r.body);
            resp_free(&r);
        }
        r = body ? send_text(&w, ops[i].method, path, NULL, body) : get(&w, path, NULL);
        ck_assert_msg(documented(&ops[i], r.status), "%s %s without a token: %ld, not documented",
                      ops[i].method, path, r.status);
        resp_free(&r);
    }
    free(program);
    web_finish(&w);
}
END_TEST

/* A bad config stops tierd-http at start with file:line:column. */
static void expect_config_refused(const web *w, const char *text, const char *where,
                                  const char *what)
{
    char cfg[HARNESS_PATH_MAX + 16], err[HARNESS_PATH_MAX + 16];
    snprintf(cfg, sizeof cfg, "%s/bad.yaml", w->h.work);
    snprintf(err, sizeof err, "%s/bad.err", w->h.work);
    ck_assert_int_eq(tu_write_file(cfg, text), 0);
    const char *argv[] = {bin("TIERD_HTTP_BIN"), "-c", cfg, NULL};
    pid_t pid = tu_spawn(argv, NULL, NULL, err);
    int st;
    ck_assert(tu_wait_exit(pid, HTTP_WAIT, &st));
    char *msg = tu_read_file(err, 1 << 16);
    ck_assert_msg(st == 1, "exit %d: %s", st, msg);
    ck_assert_msg(strstr(msg, where) && strstr(msg, what), "want %s ... %s, got: %s", where, what,
                  msg);
    free(msg);
}

START_TEST(test_bad_config_is_refused_naming_line_and_column)
{
    web w;
    memset(&w, 0, sizeof w);
    harness_init(&w.h);
    expect_config_refused(&w, "listen: 10.1.2.3:7480\n", "bad.yaml:1:9", "allow_remote");
    expect_config_refused(&w, "tokens:\n  - {name: a, token: short, role: read}\n",
                          "bad.yaml:2:", "at least 16");
    expect_config_refused(&w, "tokens:\n  - {name: a, token: 0123456789abcdefgh, role: partner}\n",
                          "bad.yaml:2:", "partner: ID");
    expect_config_refused(&w, "limits:\n  burst: many\n", "bad.yaml:2:10", "burst");
    expect_config_refused(&w, "colour: blue\n", "bad.yaml:1:1", "unknown key 'colour'");
    expect_config_refused(&w, "tokens:\n  - {name: a, token: change-me-0123456789, role: read}\n",
                          "bad.yaml:2:", "placeholder");
    expect_config_refused(&w, "tierd:\n  token: CHANGE-ME-upstream-0001\n", "bad.yaml:2:10",
                          "tierd.token 'CHANGE-ME-upstream-0001' is the example's placeholder");
    harness_cleanup(&w.h);
}
END_TEST

/* The example the package installs as /etc/tierd/tierd-http.yaml does not
 * serve until its placeholder tokens are replaced; the message says which
 * line and what to do. */
START_TEST(test_example_config_with_placeholder_tokens_is_refused)
{
    char example[HARNESS_PATH_MAX], err[HARNESS_PATH_MAX + 16];
    snprintf(example, sizeof example, "%s/examples/tierd-http.yaml", bin("TIERD_SOURCE_ROOT"));
    harness h;
    harness_init(&h);
    snprintf(err, sizeof err, "%s/example.err", h.work);
    const char *argv[] = {bin("TIERD_HTTP_BIN"), "-c", example, NULL};
    pid_t pid = tu_spawn(argv, NULL, NULL, err);
    int st;
    ck_assert(tu_wait_exit(pid, HTTP_WAIT, &st));
    char *msg = tu_read_file(err, 1 << 16);
    ck_assert_msg(st == 1, "exit %d: %s", st, msg);
    ck_assert_msg(strstr(msg, "tierd-http.yaml:") &&
                      strstr(msg, "token 'CHANGE-ME-read-token-0001' is the example's "
                                  "placeholder; replace it with a random secret"),
                  "got: %s", msg);
    free(msg);
    harness_cleanup(&h);
}
END_TEST

START_TEST(test_sighup_reloads_the_tokens)
{
    web w;
    web_init(&w, NULL, false);
    resp r = get(&w, "/v1/whoami", "fresh-token-0123456789");
    expect_error(&r, 401, "UNAUTHENTICATED");
    resp_free(&r);
    char text[1024];
    snprintf(text, sizeof text,
             "listen: 127.0.0.1:0\ntierd:\n  url: %s\nstatic_dir: %s\n"
             "tokens:\n  - {name: fresh, token: fresh-token-0123456789, role: read}\n",
             harness_url(&w.h), w.www);
    ck_assert_int_eq(tu_write_file(w.cfg, text), 0);
    kill(w.pid, SIGHUP);
    tu_deadline d = tu_deadline_in(HTTP_WAIT);
    for (;;) {
        r = get(&w, "/v1/whoami", "fresh-token-0123456789");
        long st = r.status;
        resp_free(&r);
        if (st == 200)
            break;
        ck_assert_msg(tu_poll(&d), "the new token was not taken after SIGHUP");
    }
    r = get(&w, "/v1/whoami", READER);
    expect_error(&r, 401, "UNAUTHENTICATED");
    resp_free(&r);
    /* a config that no longer reads keeps the tokens in use */
    ck_assert_int_eq(tu_write_file(w.cfg, "tokens: [oops\n"), 0);
    kill(w.pid, SIGHUP);
    d = tu_deadline_in(HTTP_WAIT);
    for (;;) {
        char *log = tu_read_file(w.log, 1 << 20);
        bool said = strstr(log, "keeping the tokens in use") != NULL;
        free(log);
        if (said)
            break;
        ck_assert_msg(tu_poll(&d), "no word about the bad config after SIGHUP");
    }
    r = get(&w, "/v1/whoami", "fresh-token-0123456789");
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
    web_finish(&w);
}
END_TEST

START_TEST(test_connection_limit_turns_away_the_extra_connection)
{
    web w;
    web_init(&w, "limits:\n  max_connections: 2\n", false);
    int a = dial(w.port), b = dial(w.port);
    /* both are accepted before the third arrives: each answers a request */
    const char *req =
        "GET /v1/whoami HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " READER "\r\n\r\n";
    for (int i = 0; i < 2; i++) {
        int fd = i ? b : a;
        send(fd, req, strlen(req), MSG_NOSIGNAL);
        char buf[64] = {0};
        ck_assert_int_gt(recv(fd, buf, sizeof buf - 1, 0), 0);
        ck_assert(strstr(buf, " 200 "));
    }
    /* the third waits in the listen queue: not served while both are open
     * (absence can only be shown by waiting a while), served once one closes */
    int c = dial(w.port);
    send(c, req, strlen(req), MSG_NOSIGNAL);
    struct timeval tv = {.tv_sec = 1};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[64] = {0};
    ssize_t n = recv(c, buf, sizeof buf - 1, 0);
    ck_assert_msg(n < 0, "a third connection was served beside two: %s", buf);
    close(a);
    tv.tv_sec = HTTP_WAIT / 1000;
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    n = recv(c, buf, sizeof buf - 1, 0);
    ck_assert_msg(n > 0 && strstr(buf, " 200 "), "the queued connection was not served");
    close(c);
    close(b);
    web_finish(&w);
}
END_TEST

START_TEST(test_busy_upstream_pool_answers_503)
{
    web w;
    web_init(&w, NULL, false);
    web_stop(&w);
    web_config(&w, "");
    /* two sockets to tierd: one long-poll at most */
    char text[4096];
    char *cfg = tu_read_file(w.cfg, 1 << 16);
    char *at = strstr(cfg, "  timeout: 2s\n");
    ck_assert_ptr_nonnull(at);
    snprintf(text, sizeof text, "%.*s  sockets: 2\n%s", (int)(at - cfg), cfg, at);
    free(cfg);
    ck_assert_int_eq(tu_write_file(w.cfg, text), 0);
    web_start(&w);
    pid_t child = tu_fork();
    if (child == 0) {
        resp r = get(&w, "/v1/changes?since=999999999&wait=5s", READER);
        _exit(r.status == 200 ? 0 : 1);
    }
    tu_deadline d = tu_deadline_in(HTTP_WAIT);
    for (;;) {
        resp r = get(&w, "/metrics", READER);
        bool busy = strstr(r.body, "tierd_http_upstream_busy 1") != NULL;
        resp_free(&r);
        if (busy)
            break;
        ck_assert_msg(tu_poll(&d), "the first long-poll never reached tierd");
    }
    resp r = get(&w, "/v1/changes?since=999999999&wait=10s", READER);
    expect_error(&r, 503, "RESOURCE_EXHAUSTED");
    ck_assert(strstr(r.body, "long-poll"));
    resp_free(&r);
    /* plain calls still go through the other socket */
    r = get(&w, "/v1/status", READER);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
    int st;
    ck_assert(tu_wait_exit(child, 20000, &st));
    ck_assert_int_eq(st, 0);
    web_finish(&w);
}
END_TEST

static Suite *http_suite(void)
{
    Suite *s = suite_create("http");
    TCase *tc = tcase_create("http");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_read_routes_answer_json_mirroring_the_rpc);
    tcase_add_test(tc, test_ingest_takes_arrays_and_ndjson_with_per_item_results);
    tcase_add_test(tc, test_approve_moves_the_partner_and_records_the_token_name);
    tcase_add_test(tc, test_program_put_dry_run_reports_and_bad_yaml_names_the_place);
    tcase_add_test(tc, test_partner_token_sees_only_its_partner);
    tcase_add_test(tc, test_bad_requests_get_json_errors_naming_the_problem);
    tcase_add_test(tc, test_static_files_stay_inside_the_static_dir);
    tcase_add_test(tc, test_oversized_headers_are_refused);
    tcase_add_test(tc, test_slow_client_is_dropped_while_others_are_served);
    tcase_add_test(tc, test_rate_limit_answers_429_with_retry_after);
    tcase_add_test(tc, test_tierd_down_answers_503_json);
    tcase_add_test(tc, test_long_poll_returns_when_a_change_commits);
    tcase_add_test(tc, test_metrics_carry_request_counts_and_latency);
    tcase_add_test(tc, test_partners_at_risk_within_counts_from_tierds_clock);
    tcase_add_test(tc, test_openapi_documents_every_route_and_its_answers);
    tcase_add_test(tc, test_bad_config_is_refused_naming_line_and_column);
    tcase_add_test(tc, test_example_config_with_placeholder_tokens_is_refused);
    tcase_add_test(tc, test_sighup_reloads_the_tokens);
    tcase_add_test(tc, test_connection_limit_turns_away_the_extra_connection);
    tcase_add_test(tc, test_busy_upstream_pool_answers_503);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return tu_run_suite(http_suite());
}
