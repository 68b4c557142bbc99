/* chromedriver + headless Chromium for the browser tests (webdriver.h). */
#include "webdriver.h"

#include <arpa/inet.h>
#include <check.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define WD_LOG_MAX        (64 * 1024)
#define WD_MAX_KILL       256
#define WD_STOP_MS        5000
#define WD_PORT_TRIES     5
#define WD_ELEMENT_KEY    "element-6066-11e4-a52e-4f735466cecf"
#define WD_DEFAULT_BIN    "chromium"
#define WD_DEFAULT_DRIVER "chromedriver"

/* Flags that keep a test browser quiet and alone: no sandbox (containers
 * have no user namespaces), no GPU, no /dev/shm (small in containers), no
 * first-run UI, and nothing reaching the network by itself. */
static const char *const CHROMIUM_ARGS[] = {
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
};

/* ---- finding the binaries -------------------------------------------------- */

/* The path of name in PATH (or name itself when it has a slash) in out. */
static bool find_exe(const char *name, char *out, size_t outn)
{
    if (strchr(name, '/')) {
        snprintf(out, outn, "%s", name);
        return access(out, X_OK) == 0;
    }
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        size_t len = strcspn(path, ":");
        if (len > 0 && snprintf(out, outn, "%.*s/%s", (int)len, path, name) < (int)outn &&
            access(out, X_OK) == 0)
            return true;
        path += len + (path[len] == ':');
    }
    return false;
}

static const char *env_or(const char *var, const char *dflt)
{
    const char *v = getenv(var);
    return v && *v ? v : dflt;
}

bool wd_available(char *why, size_t whyn)
{
    char p[WD_PATH_MAX];
    const char *browser = env_or("CHROMIUM_BIN", WD_DEFAULT_BIN);
    const char *driver = env_or("CHROMEDRIVER_BIN", WD_DEFAULT_DRIVER);
    bool have_browser = find_exe(browser, p, sizeof p);
    bool have_driver = find_exe(driver, p, sizeof p);
    if (have_browser && have_driver)
        return true;
    snprintf(why, whyn,
             "browser tests skipped: %s%s%s not found (Debian: apt-get install chromium "
             "chromium-driver, or bash scripts/install-deps.sh)",
             have_browser ? "" : browser, !have_browser && !have_driver ? " and " : "",
             have_driver ? "" : driver);
    return false;
}

/* ---- HTTP to chromedriver ---------------------------------------------------- */

typedef struct buf {
    char *p;
    size_t n;
} buf;

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    buf *b = ud;
    size_t add = size * nmemb;
    char *p = realloc(b->p, b->n + add + 1);
    if (!p)
        return 0;
    memcpy(p + b->n, data, add);
    b->n += add;
    p[b->n] = '\0';
    b->p = p;
    return add;
}

/* One WebDriver call: method on base+path with body (NULL: none). Returns
 * the reply's JSON (the caller decrefs) and its HTTP status in *status (0
 * when nothing answered); NULL when nothing parseable came. */
static json_t *call(const char *base, const char *method, const char *path, json_t *body,
                    long timeout_ms, long *status)
{
    CURL *c = curl_easy_init();
    ck_assert_msg(c != NULL, "curl_easy_init failed");
    char url[WD_PATH_MAX + 256];
    snprintf(url, sizeof url, "%s%s", base, path);
    buf b = {0};
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    if (text)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, text);
    else if (strcmp(method, "POST") == 0)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "{}");
    *status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    free(text);
    json_t *reply = b.p ? json_loads(b.p, 0, NULL) : NULL;
    free(b.p);
    return reply;
}

/* A session call that must succeed: its "value" (new reference), or the
 * test fails with WebDriver's error and message. body is stolen. */
static json_t *session_call(wd *w, const char *method, const char *what, json_t *body)
{
    char path[WD_PATH_MAX];
    snprintf(path, sizeof path, "/session/%s%s", w->session, what);
    long status = 0;
    json_t *r = call(w->base, method, path, body, WD_CALL_MS, &status);
    json_decref(body);
    json_t *value = r ? json_object_get(r, "value") : NULL;
    if (status != 200 || !value) {
        const char *err = value ? json_string_value(json_object_get(value, "error")) : NULL;
        const char *msg = value ? json_string_value(json_object_get(value, "message")) : NULL;
        char copy[1024];
        snprintf(copy, sizeof copy, "%s %s: HTTP %ld, %s: %.900s", method, what, status,
                 err ? err : "no reply", msg ? msg : "");
        json_decref(r);
        ck_abort_msg("WebDriver %s", copy);
    }
    json_incref(value);
    json_decref(r);
    return value;
}

/* ---- starting and stopping ------------------------------------------------------ */

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(s, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ck_assert_int_eq(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(getsockname(s, (struct sockaddr *)&a, &len), 0);
    close(s);
    return ntohs(a.sin_port);
}

/* chromedriver in a process group of its own, so one kill reaches the
 * Chromium it starts too; the kernel kills it when we die (tu_fork). */
static pid_t spawn_driver(const char *driver, int port, const char *log)
{
    char port_arg[32], log_arg[WD_PATH_MAX + 16];
    snprintf(port_arg, sizeof port_arg, "--port=%d", port);
    snprintf(log_arg, sizeof log_arg, "--log-path=%s", log);
    pid_t pid = tu_fork();
    if (pid != 0)
        return pid;
    setpgid(0, 0);
    execl(driver, driver, port_arg, log_arg, "--allowed-ips=127.0.0.1", (char *)NULL);
    _exit(127);
}

static bool driver_ready(const char *base)
{
    long status = 0;
    json_t *r = call(base, "GET", "/status", NULL, 2000, &status);
    bool ok = status == 200 && json_is_true(json_object_get(json_object_get(r, "value"), "ready"));
    json_decref(r);
    return ok;
}

static void kill_group(wd *w)
{
    if (w->driver <= 0)
        return;
    kill(-w->driver, SIGTERM);
    kill(w->driver, SIGTERM);
    int st = 0;
    if (!tu_wait_exit(w->driver, WD_STOP_MS, &st)) {
        kill(-w->driver, SIGKILL);
        kill(w->driver, SIGKILL);
        waitpid(w->driver, NULL, 0);
    }
    /* Anything of the group still alive (a renderer slow to notice). */
    kill(-w->driver, SIGKILL);
    w->driver = 0;
}

static void fail_with_log(wd *w, const char *what)
{
    char *log = tu_read_file(w->log, WD_LOG_MAX);
    size_t n = strlen(log);
    char tail[2048];
    snprintf(tail, sizeof tail, "%s", n > 1500 ? log + n - 1500 : log);
    free(log);
    kill_group(w);
    wd_sweep(w->profile);
    ck_abort_msg("%s; chromedriver's log (%s) ends: %s", what, w->log, tail);
}

/* The new-session body: Chromium at browser with CHROMIUM_ARGS, a fresh
 * profile and the window size. */
static json_t *session_body(const char *browser, const char *profile, int width, int height)
{
    json_t *args = json_array();
    for (size_t i = 0; i < sizeof CHROMIUM_ARGS / sizeof *CHROMIUM_ARGS; i++)
        json_array_append_new(args, json_string(CHROMIUM_ARGS[i]));
    char a[WD_PATH_MAX + 32];
    snprintf(a, sizeof a, "--user-data-dir=%s", profile);
    json_array_append_new(args, json_string(a));
    snprintf(a, sizeof a, "--window-size=%d,%d", width, height);
    json_array_append_new(args, json_string(a));
    json_t *opts = json_pack("{s:s, s:o}", "binary", browser, "args", args);
    return json_pack("{s:{s:{s:s, s:o}}}", "capabilities", "alwaysMatch", "browserName", "chrome",
                     "goog:chromeOptions", opts);
}

void wd_start(wd *w, const char *work, int width, int height)
{
    memset(w, 0, sizeof *w);
    char browser[WD_PATH_MAX], driver[WD_PATH_MAX];
    ck_assert_msg(find_exe(env_or("CHROMIUM_BIN", WD_DEFAULT_BIN), browser, sizeof browser),
                  "chromium not found");
    ck_assert_msg(find_exe(env_or("CHROMEDRIVER_BIN", WD_DEFAULT_DRIVER), driver, sizeof driver),
                  "chromedriver not found");
    snprintf(w->profile, sizeof w->profile, "%s/chromium-profile", work);
    snprintf(w->log, sizeof w->log, "%s/chromedriver.log", work);
    ck_assert_msg(mkdir(w->profile, 0700) == 0 || errno == EEXIST, "mkdir %s: %s", w->profile,
                  strerror(errno));
    static bool curl_ready;
    if (!curl_ready) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        curl_ready = true;
    }
    /* A port found free may be taken before chromedriver binds it: then it
     * exits, and another port is tried. */
    for (int attempt = 0; attempt < WD_PORT_TRIES && !w->driver; attempt++) {
        w->port = free_port();
        snprintf(w->base, sizeof w->base, "http://127.0.0.1:%d", w->port);
        pid_t pid = spawn_driver(driver, w->port, w->log);
        ck_assert_int_gt(pid, 0);
        w->driver = pid;
        tu_deadline d = tu_deadline_in(WD_START_MS);
        bool ready = false;
        int st = 0;
        while (!(ready = driver_ready(w->base)) && !tu_wait_exit(pid, 0, &st) && tu_poll(&d))
            ;
        if (!ready) {
            if (!tu_wait_exit(pid, 0, &st))
                fail_with_log(w, "chromedriver did not answer");
            w->driver = 0;
        }
    }
    if (!w->driver)
        fail_with_log(w, "chromedriver would not start");

    json_t *body = session_body(browser, w->profile, width, height);
    long status = 0;
    json_t *r = call(w->base, "POST", "/session", body, WD_START_MS, &status);
    json_decref(body);
    const char *id = json_string_value(json_object_get(json_object_get(r, "value"), "sessionId"));
    if (status != 200 || !id) {
        char *dump = r ? json_dumps(r, JSON_COMPACT) : NULL;
        char what[1024];
        snprintf(what, sizeof what, "no Chromium session (HTTP %ld): %.900s", status,
                 dump ? dump : "no reply");
        free(dump);
        json_decref(r);
        fail_with_log(w, what);
    }
    snprintf(w->session, sizeof w->session, "%s", id);
    json_decref(r);
}

size_t wd_sweep(const char *needle)
{
    if (!needle || !*needle)
        return 0;
    pid_t pids[WD_MAX_KILL];
    size_t n = tu_find_processes(needle, NULL, pids, WD_MAX_KILL);
    for (size_t i = 0; i < n; i++)
        kill(pids[i], SIGKILL);
    return n;
}

void wd_stop(wd *w)
{
    if (w->session[0] && w->driver > 0) {
        char path[WD_PATH_MAX];
        snprintf(path, sizeof path, "/session/%s", w->session);
        long status = 0;
        json_decref(call(w->base, "DELETE", path, NULL, WD_STOP_MS, &status));
    }
    w->session[0] = '\0';
    kill_group(w);
    /* Chromium's helpers may have left the group; the profile names them. */
    tu_deadline d = tu_deadline_in(WD_STOP_MS);
    while (wd_sweep(w->profile) > 0 && tu_poll(&d))
        ;
}

/* ---- driving the page --------------------------------------------------------------- */

void wd_go(wd *w, const char *url)
{
    json_decref(session_call(w, "POST", "/url", json_pack("{s:s}", "url", url)));
}

char *wd_url(wd *w)
{
    json_t *v = session_call(w, "GET", "/url", NULL);
    char *s = strdup(json_is_string(v) ? json_string_value(v) : "");
    json_decref(v);
    return s;
}

json_t *wd_exec(wd *w, const char *script, json_t *args)
{
    return session_call(
        w, "POST", "/execute/sync",
        json_pack("{s:s, s:o}", "script", script, "args", args ? args : json_array()));
}

char *wd_exec_str(wd *w, const char *script)
{
    json_t *v = wd_exec(w, script, NULL);
    char *s = strdup(json_is_string(v) ? json_string_value(v) : "");
    json_decref(v);
    return s;
}

bool wd_wait_true(wd *w, const char *script, long timeout_ms)
{
    tu_deadline d = tu_deadline_in(timeout_ms);
    do {
        json_t *v = wd_exec(w, script, NULL);
        bool yes = json_is_true(v);
        json_decref(v);
        if (yes)
            return true;
    } while (tu_poll(&d));
    return false;
}

void wd_click(wd *w, const char *css)
{
    json_t *el = session_call(w, "POST", "/element",
                              json_pack("{s:s, s:s}", "using", "css selector", "value", css));
    const char *id = json_string_value(json_object_get(el, WD_ELEMENT_KEY));
    ck_assert_msg(id != NULL, "no element %s", css);
    char what[WD_PATH_MAX];
    snprintf(what, sizeof what, "/element/%s/click", id);
    json_decref(el);
    json_decref(session_call(w, "POST", what, json_object()));
}

void wd_type(wd *w, const char *css, const char *text)
{
    json_t *el = session_call(w, "POST", "/element",
                              json_pack("{s:s, s:s}", "using", "css selector", "value", css));
    const char *id = json_string_value(json_object_get(el, WD_ELEMENT_KEY));
    ck_assert_msg(id != NULL, "no element %s", css);
    char what[WD_PATH_MAX];
    snprintf(what, sizeof what, "/element/%s/value", id);
    json_decref(el);
    json_decref(session_call(w, "POST", what, json_pack("{s:s}", "text", text)));
}

void wd_resize(wd *w, int width, int height)
{
    json_decref(session_call(w, "POST", "/window/rect",
                             json_pack("{s:i, s:i}", "width", width, "height", height)));
}

/* Decodes standard base64 (no line breaks) into out; the length, or -1. */
static long base64_decode(const char *in, unsigned char *out)
{
    static signed char map[256];
    static bool ready;
    if (!ready) {
        memset(map, -1, sizeof map);
        const char *abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        for (int i = 0; abc[i]; i++)
            map[(unsigned char)abc[i]] = (signed char)i;
        ready = true;
    }
    long n = 0;
    unsigned acc = 0;
    int bits = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p && *p != '='; p++) {
        if (map[*p] < 0)
            return -1;
        acc = (acc << 6) | (unsigned)map[*p];
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(acc >> bits);
        }
    }
    return n;
}

int wd_screenshot(wd *w, const char *path)
{
    json_t *v = session_call(w, "GET", "/screenshot", NULL);
    const char *b64 = json_string_value(v);
    int rc = -1;
    if (b64) {
        unsigned char *png = malloc(strlen(b64) / 4 * 3 + 3);
        long n = png ? base64_decode(b64, png) : -1;
        FILE *f = n > 0 ? fopen(path, "wb") : NULL;
        if (f) {
            rc = fwrite(png, 1, (size_t)n, f) == (size_t)n ? 0 : -1;
            if (fclose(f) != 0)
                rc = -1;
        }
        free(png);
    }
    json_decref(v);
    return rc;
}

int wd_screenshot_full(wd *w, const char *path, int width, int min_height)
{
    wd_resize(w, width, min_height);
    /* The page's height, and how much taller the window is than its
     * viewport (so the window can be sized to show the page whole). */
    json_t *v = wd_exec(w,
                        "return [Math.ceil(document.documentElement.scrollHeight),"
                        " window.outerHeight - window.innerHeight];",
                        NULL);
    int h = (int)json_integer_value(json_array_get(v, 0));
    int extra = (int)json_integer_value(json_array_get(v, 1));
    json_decref(v);
    if (h + extra > min_height)
        wd_resize(w, width, h + (extra > 0 ? extra : 0));
    return wd_screenshot(w, path);
}
