/* Hostile and edge-of-limit requests against the real tierd, and tierctl
 * against sockets nobody serves. What it proves: a Reply that packs to no
 * bytes is sent as no bytes; a request at max_request_bytes is answered and
 * one past it gets RESOURCE_EXHAUSTED naming the limit (with a log line);
 * `event import` reports a line too big for the daemon as that line's
 * error and imports the rest; 16 MiB of unknown fields, with or without a
 * token, raise the daemon's peak RSS by at most 4x their size and leave
 * its RSS within 10% of where it was; a stale ipc socket is reported at
 * once as "no tierd is listening" and a socket the user may not open as
 * "permission denied". */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <nanomsg/nn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "tierd.pb-c.h"
#include "../wire_raw.h"

#define RAW_TIMEOUT_MS    5000
#define TOKEN_READ        "read-token-0123456789"
#define EDGE_LIMIT        2048
#define IMPORT_LIMIT      4096
#define IMPORT_GOOD       10
#define IMPORT_OVERSIZED  20
#define OVERSIZED_KEY     (IMPORT_LIMIT + 1000)
#define BYTES_LIMIT       (3 << 19) /* 1.5 MiB */
#define LONG_LINES        1000
#define LONG_LINE_KEY     2000
#define HOSTILE_BYTES     (16u << 20)
#define HOSTILE_LIMIT     "67108864" /* the largest max_request_bytes allowed */
#define PEAK_FACTOR       4          /* peak RSS may rise by this times the request */
#define RSS_SLACK_PCT     10         /* RSS afterwards within this of the baseline */
#define RSS_SETTLE_MS     5000
#define UNREACHABLE_MAX_S 1.0 /* "at once": well under the 2 s client timeout */
#define NOBODY_UID        65534
#define UNKNOWN_VARINT    0x28 /* field 5, varint: in no message */
#define PADDING_FIELD     9    /* a length-delimited field no message has */
#define EVENT_AT          "2026-01-01T00:00:00Z"

static const char tokens_config[] = "tokens:\n"
                                    "  - {name: reader, token: " TOKEN_READ ", role: read}\n";

static const char *program_path(char *buf, size_t n)
{
    const char *root = getenv("TIERD_SOURCE_ROOT");
    ck_assert_ptr_nonnull(root);
    snprintf(buf, n, "%s/examples/programs/partners.yaml", root);
    return buf;
}

/* ---- raw requests ----------------------------------------------------------------- */

/* An Envelope for method with request_id 1; fills buf (room for it is the
 * caller's) and returns its length. */
static size_t envelope(uint8_t *buf, const char *method, const char *token, const uint8_t *payload,
                       size_t plen)
{
    size_t n = put_bytes(buf, 1, method, strlen(method));
    n += put_varint(buf + n, 2 << 3 | 0);
    n += put_varint(buf + n, 1);
    if (token)
        n += put_bytes(buf + n, 3, token, strlen(token));
    if (payload)
        n += put_bytes(buf + n, 4, payload, plen);
    return n;
}

/* An Envelope for method of exactly total bytes, padded with an unknown
 * field (as a newer client's field would be). */
static uint8_t *padded_envelope(const char *method, size_t total)
{
    uint8_t *buf = calloc(1, total + 64);
    ck_assert_ptr_nonnull(buf);
    size_t base = envelope(buf, method, NULL, NULL, 0);
    for (size_t pad = total - base; pad + 16 > total - base && pad > 0; pad--) {
        uint8_t hdr[16];
        size_t h = put_varint(hdr, PADDING_FIELD << 3 | 2);
        h += put_varint(hdr + h, pad);
        if (base + h + pad == total) {
            memcpy(buf + base, hdr, h);
            return buf;
        }
    }
    ck_abort_msg("cannot pad an Envelope to %zu bytes", total);
    return NULL;
}

static int raw_exchange(const harness *h, const void *buf, size_t len, void **msg)
{
    return harness_raw_exchange(h, buf, len, msg, RAW_TIMEOUT_MS);
}

static Tierd__Reply *raw_request(const harness *h, const void *buf, size_t len)
{
    void *msg = NULL;
    int n = raw_exchange(h, buf, len, &msg);
    if (n < 0)
        return NULL;
    Tierd__Reply *r = tierd__reply__unpack(NULL, (size_t)n, msg);
    ck_assert_msg(r != NULL, "the daemon's %d-byte reply is not a Reply", n);
    nn_freemsg(msg);
    return r;
}

static void start(harness *h, const char *config, const char *program)
{
    harness_init(h);
    if (config)
        harness_write_config(h, config);
    int rc = program ? harness_start(h, "--program", program, NULL) : harness_start(h, NULL);
    if (rc != 0) {
        char *log = harness_log(h);
        ck_abort_msg("tierd did not start (status %d): %s", h->exit_status, log);
    }
}

/* ---- item: empty replies ---------------------------------------------------------- */

START_TEST(test_a_reply_that_packs_to_nothing_is_sent_as_zero_bytes)
{
    harness h;
    start(&h, NULL, NULL);
    /* request_id 0, OK, no message, no payload: every Reply field is its
     * default, so the Reply packs to zero bytes. */
    const char *methods[] = {"ListPending", "GetTiers", "UpsertPartners", "Ingest", "GetCursor"};
    for (size_t i = 0; i < sizeof methods / sizeof *methods; i++) {
        uint8_t buf[64];
        size_t len = put_bytes(buf, 1, methods[i], strlen(methods[i]));
        void *msg = NULL;
        int n = raw_exchange(&h, buf, len, &msg);
        ck_assert_msg(n >= 0, "%s: no reply", methods[i]);
        Tierd__Reply *r = tierd__reply__unpack(NULL, (size_t)n, msg);
        ck_assert_msg(r != NULL, "%s: a %d-byte reply that is not a Reply", methods[i], n);
        ck_assert_msg(r->status == TIERD__STATUS__OK || r->message[0], "%s", methods[i]);
        ck_assert_msg((size_t)n == tierd__reply__get_packed_size(r),
                      "%s: sent %d bytes for a Reply of %zu", methods[i], n,
                      tierd__reply__get_packed_size(r));
        tierd__reply__free_unpacked(r, NULL);
        nn_freemsg(msg);
    }
    harness_finish(&h);
}
END_TEST

/* ---- item: max_request_bytes ------------------------------------------------------ */

START_TEST(test_a_request_at_max_request_bytes_is_answered_and_one_past_it_is_refused)
{
    harness h;
    char config[64];
    snprintf(config, sizeof config, "max_request_bytes: %d\n", EDGE_LIMIT);
    start(&h, config, NULL);

    uint8_t *at = padded_envelope("Status", EDGE_LIMIT);
    Tierd__Reply *r = raw_request(&h, at, EDGE_LIMIT);
    ck_assert_msg(r != NULL, "no reply to a request of exactly max_request_bytes");
    ck_assert_int_eq(r->status, TIERD__STATUS__OK);
    tierd__reply__free_unpacked(r, NULL);
    free(at);

    const size_t past[] = {EDGE_LIMIT + 1, EDGE_LIMIT * 8};
    for (size_t i = 0; i < 2; i++) {
        uint8_t *buf = padded_envelope("Status", past[i]);
        r = raw_request(&h, buf, past[i]);
        ck_assert_msg(r != NULL, "no reply to a %zu-byte request", past[i]);
        ck_assert_int_eq(r->status, TIERD__STATUS__RESOURCE_EXHAUSTED);
        char want[128];
        snprintf(want, sizeof want, "request of %zu bytes exceeds max_request_bytes %d", past[i],
                 EDGE_LIMIT);
        ck_assert_str_eq(r->message, want);
        tierd__reply__free_unpacked(r, NULL);
        free(buf);
    }
    char *log = harness_log(&h);
    char want[128];
    snprintf(want, sizeof want, "refused a %d-byte request: max_request_bytes is %d",
             EDGE_LIMIT + 1, EDGE_LIMIT);
    ck_assert_msg(strstr(log, want), "no log line '%s' in: %s", want, log);
    free(log);
    harness_finish(&h);
}
END_TEST

START_TEST(test_event_import_reports_lines_too_big_for_the_daemon_and_imports_the_rest)
{
    harness h;
    char config[64], program[HARNESS_PATH_MAX];
    snprintf(config, sizeof config, "max_request_bytes: %d\n", IMPORT_LIMIT);
    start(&h, config, program_path(program, sizeof program));
    ck_assert_int_eq(HARNESS_TIERCTL(&h, NULL, NULL, "partner", "put", "p1", "--type", "reseller"),
                     0);
    char path[HARNESS_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/events.ndjson", h.work);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    char *key = malloc(OVERSIZED_KEY + 1);
    memset(key, 'k', OVERSIZED_KEY);
    key[OVERSIZED_KEY] = 0;
    int oversized_lines[IMPORT_OVERSIZED], n_over = 0;
    for (int line = 1; line <= IMPORT_GOOD + IMPORT_OVERSIZED; line++) {
        if (line % 3 == 1) {
            fprintf(f,
                    "{\"id\":\"g%d\",\"partner\":\"p1\",\"metric\":\"active_sellers\","
                    "\"at\":\"" EVENT_AT "\"}\n",
                    line);
        } else {
            fprintf(f,
                    "{\"id\":\"o%d\",\"partner\":\"p1\",\"metric\":\"certification\","
                    "\"key\":\"%s\"}\n",
                    line, key);
            oversized_lines[n_over++] = line;
        }
    }
    fclose(f);
    free(key);
    ck_assert_int_eq(n_over, IMPORT_OVERSIZED);

    char *out = NULL, *err = NULL;
    int rc = HARNESS_TIERCTL(&h, &out, &err, "--json", "event", "import", path);
    ck_assert_msg(rc == 1, "exit %d: %s", rc, err);
    json_error_t je;
    json_t *doc = json_loads(out, 0, &je);
    ck_assert_msg(doc != NULL, "not JSON: %s", out);
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "accepted")), IMPORT_GOOD);
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "rejected")), IMPORT_OVERSIZED);
    json_t *errors = json_object_get(doc, "errors");
    ck_assert_int_eq(json_array_size(errors), IMPORT_OVERSIZED);
    for (size_t i = 0; i < IMPORT_OVERSIZED; i++) {
        json_t *e = json_array_get(errors, i);
        ck_assert_int_eq(json_integer_value(json_object_get(e, "line")), oversized_lines[i]);
        const char *reason = json_string_value(json_object_get(e, "reason"));
        ck_assert_msg(reason && strstr(reason, "max_request_bytes"), "%s", reason);
    }
    json_decref(doc);
    free(out);
    free(err);

    /* The good lines are in the store. */
    td_client *c = harness_client(&h, NULL);
    Tierd__StatusResponse *st = NULL;
    td_error e = {0};
    ck_assert_int_eq(td_client_status(c, &st, &e), 0);
    ck_assert_uint_eq(st->events, IMPORT_GOOD);
    tierd__status_response__free_unpacked(st, NULL);
    td_client_close(c);
    harness_finish(&h);
}
END_TEST

/* 1000 lines of 2 KB make a 2 MB batch by count; a daemon taking 1.5 MiB
 * must never see it: the batch closes at IMPORT_BATCH_BYTES first. */
START_TEST(test_event_import_closes_batches_by_bytes_before_the_daemon_must_refuse)
{
    harness h;
    char config[64], program[HARNESS_PATH_MAX];
    snprintf(config, sizeof config, "max_request_bytes: %d\n", BYTES_LIMIT);
    start(&h, config, program_path(program, sizeof program));
    char path[HARNESS_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/long.ndjson", h.work);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    char *key = malloc(LONG_LINE_KEY + 1);
    memset(key, 'k', LONG_LINE_KEY);
    key[LONG_LINE_KEY] = 0;
    for (int line = 1; line <= LONG_LINES; line++)
        fprintf(f,
                "{\"id\":\"l%d\",\"partner\":\"p1\",\"metric\":\"certification\","
                "\"at\":\"" EVENT_AT "\",\"key\":\"%s\"}\n",
                line, key);
    fclose(f);
    free(key);
    char *out = NULL, *err = NULL;
    HARNESS_TIERCTL(&h, &out, &err, "--json", "event", "import", path);
    json_t *doc = json_loads(out, 0, NULL);
    ck_assert_msg(doc != NULL, "not JSON: %s / %s", out, err);
    /* every line answered by the daemon (taken or refused for its own
     * reasons), none as too large */
    json_int_t answered = json_integer_value(json_object_get(doc, "accepted")) +
                          json_integer_value(json_object_get(doc, "duplicate")) +
                          json_integer_value(json_object_get(doc, "rejected"));
    ck_assert_int_eq(answered, LONG_LINES);
    ck_assert_msg(!strstr(out, "max_request_bytes"), "%s", out);
    json_decref(doc);
    free(out);
    free(err);
    char *log = harness_log(&h);
    ck_assert_msg(!strstr(log, "refused a"), "a batch was too large: %s", log);
    free(log);
    harness_finish(&h);
}
END_TEST

/* ---- item: memory before authentication ------------------------------------------- */

/* VmRSS or VmHWM of pid in KiB. */
static long proc_kib(pid_t pid, const char *key)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    long v = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, kl) == 0 && line[kl] == ':')
            v = strtol(line + kl + 1, NULL, 10);
    fclose(f);
    ck_assert_int_ge(v, 0);
    return v;
}

/* Makes VmHWM start again from the current RSS. */
static void reset_peak(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/clear_refs", (int)pid);
    int fd = open(path, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "5", 1), 1);
    close(fd);
}

/* payload or envelope made of HOSTILE_BYTES of 2-byte unknown fields */
static uint8_t *unknown_fields(size_t n)
{
    uint8_t *p = malloc(n);
    ck_assert_ptr_nonnull(p);
    for (size_t i = 0; i + 1 < n; i += 2) {
        p[i] = UNKNOWN_VARINT;
        p[i + 1] = 0;
    }
    return p;
}

typedef struct rss_figures {
    long base_kib, peak_kib, after_kib;
} rss_figures;

/* Sends one hostile request, expecting `status`, and measures the daemon. */
static rss_figures measure(const harness *h, const uint8_t *buf, size_t len, int status)
{
    rss_figures f;
    f.base_kib = proc_kib(h->pid, "VmRSS");
    reset_peak(h->pid);
    Tierd__Reply *r = raw_request(h, buf, len);
    ck_assert_msg(r != NULL, "no reply to a hostile request");
    ck_assert_msg((int)r->status == status, "status %d: %s", r->status, r->message);
    tierd__reply__free_unpacked(r, NULL);
    f.peak_kib = proc_kib(h->pid, "VmHWM");
    long limit = f.base_kib + f.base_kib * RSS_SLACK_PCT / 100;
    tu_deadline d = tu_deadline_in(RSS_SETTLE_MS);
    while ((f.after_kib = proc_kib(h->pid, "VmRSS")) > limit && tu_poll(&d))
        ;
    return f;
}

static void check_figures(const char *what, rss_figures f)
{
    fprintf(stderr, "%s: RSS %ld KiB before, peak %ld KiB, %ld KiB after\n", what, f.base_kib,
            f.peak_kib, f.after_kib);
#ifndef __SANITIZE_ADDRESS__
    /* AddressSanitizer keeps freed memory in quarantine: figures only
     * mean something without it. */
    long request_kib = (long)(HOSTILE_BYTES / 1024);
    ck_assert_msg(f.peak_kib - f.base_kib <= PEAK_FACTOR * request_kib,
                  "%s: peak rose by %ld KiB for a %ld KiB request", what, f.peak_kib - f.base_kib,
                  request_kib);
    ck_assert_msg(f.after_kib <= f.base_kib + f.base_kib * RSS_SLACK_PCT / 100,
                  "%s: RSS stayed at %ld KiB after, from %ld KiB", what, f.after_kib, f.base_kib);
#endif
}

START_TEST(test_sixteen_mib_of_unknown_fields_raise_rss_at_most_4x_and_give_it_back)
{
    harness h;
    char config[256];
    snprintf(config, sizeof config, "%smax_request_bytes: %s\n", tokens_config, HOSTILE_LIMIT);
    start(&h, config, NULL);
    h.token = TOKEN_READ;
    /* Warm the daemon up so the baseline includes what any request costs. */
    uint8_t small[256];
    for (int i = 0; i < 3; i++) {
        Tierd__Reply *r = raw_request(&h, small, envelope(small, "Status", TOKEN_READ, NULL, 0));
        ck_assert_ptr_nonnull(r);
        tierd__reply__free_unpacked(r, NULL);
    }

    /* Without a token: the unknown fields sit in the Envelope itself. */
    size_t head = put_bytes(small, 1, "Status", 6);
    uint8_t *buf = unknown_fields(HOSTILE_BYTES + head);
    memcpy(buf + HOSTILE_BYTES, small, head);
    rss_figures f = measure(&h, buf, HOSTILE_BYTES + head, TIERD__STATUS__PERMISSION_DENIED);
    check_figures("16 MiB of unknown Envelope fields, no token", f);
    free(buf);

    /* With a token: they make up the payload, decoded after the token. */
    uint8_t *payload = unknown_fields(HOSTILE_BYTES);
    buf = malloc(HOSTILE_BYTES + 256);
    ck_assert_ptr_nonnull(buf);
    size_t len = envelope(buf, "Status", TOKEN_READ, payload, HOSTILE_BYTES);
    free(payload);
    f = measure(&h, buf, len, TIERD__STATUS__RESOURCE_EXHAUSTED);
    check_figures("16 MiB payload of unknown fields, with a token", f);
    free(buf);

    harness_finish(&h);
}
END_TEST

/* ---- item: unreachable ipc sockets ------------------------------------------------ */

#define SOCK_DIR_MODE 0755 /* another user must reach the socket in it */
static char sock_dir[HARNESS_DIR_MAX];

static void make_sock_dir(void)
{
    ck_assert_ptr_nonnull(tu_tmpdir("tierd-sock", sock_dir, sizeof sock_dir));
    ck_assert_int_eq(chmod(sock_dir, SOCK_DIR_MODE), 0);
}

static void remove_sock_dir(void)
{
    ck_assert_int_eq(tu_rm_rf(sock_dir), 0);
}

/* A Unix socket bound at path; listening when listen_too, else left as a
 * killed daemon leaves it. Returns the fd (close it when done). */
static int unix_socket_at(const char *path, bool listen_too)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    if (listen_too)
        ck_assert_int_eq(listen(fd, 1), 0);
    return fd;
}

/* Runs tierctl --url url ARGS as uid (-1: as we are), returns its exit
 * status, its stderr in err and the seconds it took. */
static int tierctl_as(uid_t uid, const char *url, char *err, size_t n, double *secs)
{
    char epath[HARNESS_DIR_MAX + 16];
    snprintf(epath, sizeof epath, "%s/err", sock_dir);
    const char *bin = getenv("TIERCTL_BIN");
    ck_assert_ptr_nonnull(bin);
    double t0 = tu_now_s();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int e = open(epath, O_WRONLY | O_CREAT | O_TRUNC, 0666);
        if (e < 0)
            _exit(126);
        dup2(e, STDERR_FILENO);
        if (uid != (uid_t)-1 && (setgid(uid) != 0 || setuid(uid) != 0))
            _exit(125);
        execl(bin, bin, "--url", url, "status", (char *)NULL);
        _exit(127);
    }
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
        ;
    *secs = tu_now_s() - t0;
    FILE *f = fopen(epath, "r");
    size_t got = f ? fread(err, 1, n - 1, f) : 0;
    err[got] = 0;
    if (f)
        fclose(f);
    ck_assert(WIFEXITED(ws));
    return WEXITSTATUS(ws);
}

START_TEST(test_a_stale_ipc_socket_is_refused_at_once)
{
    make_sock_dir();
    char path[HARNESS_DIR_MAX + 16], url[HARNESS_DIR_MAX + 32], err[4096];
    snprintf(path, sizeof path, "%s/rpc.sock", sock_dir);
    snprintf(url, sizeof url, "ipc://%s", path);
    close(unix_socket_at(path, false)); /* the file stays, nobody listens */
    double secs = 0;
    int rc = tierctl_as((uid_t)-1, url, err, sizeof err, &secs);
    ck_assert_msg(rc == 3, "exit %d: %s", rc, err);
    ck_assert_msg(strstr(err, "no tierd is listening"), "%s", err);
    ck_assert_msg(secs < UNREACHABLE_MAX_S, "took %.2f s", secs);
    remove_sock_dir();
}
END_TEST

START_TEST(test_an_ipc_socket_the_user_may_not_open_says_permission_denied)
{
    make_sock_dir();
    char path[HARNESS_DIR_MAX + 16], url[HARNESS_DIR_MAX + 32], err[4096];
    snprintf(path, sizeof path, "%s/rpc.sock", sock_dir);
    snprintf(url, sizeof url, "ipc://%s", path);
    int fd = unix_socket_at(path, true);
    uid_t as = (uid_t)-1;
    if (geteuid() == 0) {
        as = NOBODY_UID; /* root opens anything: ask as somebody else */
        ck_assert_int_eq(chmod(path, 0660), 0);
    } else {
        ck_assert_int_eq(chmod(path, 0), 0);
    }
    double secs = 0;
    int rc = tierctl_as(as, url, err, sizeof err, &secs);
    ck_assert_msg(rc == 3, "exit %d: %s", rc, err);
    ck_assert_msg(strstr(err, "permission denied"), "%s", err);
    ck_assert_msg(!strstr(err, "is it running"), "%s", err);
    ck_assert_msg(secs < UNREACHABLE_MAX_S, "took %.2f s", secs);
    close(fd);
    remove_sock_dir();
}
END_TEST

static Suite *hostile_suite(void)
{
    Suite *s = suite_create("hostile_rpc");
    TCase *tc = tcase_create("daemon");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_a_reply_that_packs_to_nothing_is_sent_as_zero_bytes);
    tcase_add_test(tc, test_a_request_at_max_request_bytes_is_answered_and_one_past_it_is_refused);
    tcase_add_test(tc, test_event_import_reports_lines_too_big_for_the_daemon_and_imports_the_rest);
    tcase_add_test(tc, test_event_import_closes_batches_by_bytes_before_the_daemon_must_refuse);
    tcase_add_test(tc, test_sixteen_mib_of_unknown_fields_raise_rss_at_most_4x_and_give_it_back);
    tcase_add_test(tc, test_a_stale_ipc_socket_is_refused_at_once);
    tcase_add_test(tc, test_an_ipc_socket_the_user_may_not_open_says_permission_denied);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(hostile_suite());
}
