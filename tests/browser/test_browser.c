/* The partner progress page and the program dashboard in a real headless
 * Chromium, against a real tierd (the example program, partners and a
 * year of events replayed, clock frozen at 2026-11-15 as in the demo) and
 * a real tierd-http serving http/www/:
 *
 * - the partner page shows a partner's real tier and gaps (as Explain
 *   over RPC gives them), and takes the token from #token=... off the
 *   address bar;
 * - a partner token cannot see another partner: the page says not found
 *   and the API answers 404;
 * - a criterion whose threshold was written with % shows as one (csat >=
 *   80%, its value 93.22%), the progress bar as before;
 * - a read token sees waiting approvals but no Approve or Deny buttons;
 * - the dashboard lists a partner at risk (tierd finds them) and an
 *   Approve click on it moves the partner (checked over RPC);
 * - a change made over RPC shows in the dashboard's recent changes without
 *   a reload (its long-poll on /v1/changes).
 *
 * Screenshots go to TIERD_ARTIFACTS (meson: BUILD/artifacts/browser).
 * Without chromium or chromedriver the suite is skipped (exit 77) with a
 * message saying what to install; scripts/install-deps.sh installs both. */
#include <check.h>
#include <arpa/inet.h>
#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "webdriver.h"

#define DEMO_CLOCK       "2026-11-15T00:00:00Z"
#define SHOW_PARTNER     "p-0214" /* two ladders, just below the next tier on both */
#define OTHER_PARTNER    "p-0066"
#define APPROVAL_PARTNER "p-0068" /* qualifies for Strategic, which waits for approval */
#define APPROVAL_LADDER  "reseller"
#define APPROVAL_TIER    "Strategic"
#define PERCENT_LADDER   "services" /* csat >= 80% in its tiers' rules */
#define PERCENT_METRIC   "csat"
#define LIVE_PARTNER     "p-0068" /* an override set over RPC while the dashboard watches */
#define LIVE_TIER        "Selling"
#define ADMIN_TOKEN      "admin-token-for-browser-tests"
#define READ_TOKEN       "read-token-for-browser-tests"
#define PARTNER_TOKEN    "partner-token-p-0214-browser"
#define PAGE_WAIT_MS     30000 /* a page loaded and filled from the API (sanitizer builds too) */
#define HTTP_WAIT_MS     15000
#define IMPORT_WAIT_MS   120000
#define WINDOW_W         1280
#define WINDOW_H         900
#define PHONE_W          375
#define PHONE_H          800
#define URL_MAX          1024
#define BODY_MAX         (1 << 20)

/* One story on one daemon, one tierd-http and one browser (CK_NOFORK:
 * the tests run in order in this process). */
static harness h;
static pid_t http_pid;
static int http_port;
static char http_log[HARNESS_PATH_MAX + 16];
static char artifacts[HARNESS_PATH_MAX];
static wd browser;
static bool browser_up;

/* ---- tierd-http ------------------------------------------------------------ */

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ck_assert_int_eq(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(getsockname(s, (struct sockaddr *)&a, &len), 0);
    close(s);
    return ntohs(a.sin_port);
}

typedef struct body {
    char *p;
    size_t n;
} body;

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    body *b = ud;
    size_t add = size * nmemb;
    if (b->n + add > BODY_MAX)
        return 0;
    char *p = realloc(b->p, b->n + add + 1);
    if (!p)
        return 0;
    memcpy(p + b->n, data, add);
    b->n += add;
    p[b->n] = '\0';
    b->p = p;
    return add;
}

/* GET path on tierd-http with token (NULL: none): the HTTP status (0 when
 * nothing answered) and the body in *out (malloc'd, may be NULL). */
static long http_get(const char *path, const char *token, char **out)
{
    char url[URL_MAX], auth[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", http_port, path);
    CURL *c = curl_easy_init();
    ck_assert_ptr_nonnull(c);
    struct curl_slist *hd = NULL;
    if (token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        hd = curl_slist_append(hd, auth);
    }
    body b = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hd);
    curl_easy_cleanup(c);
    if (out)
        *out = b.p;
    else
        free(b.p);
    return status;
}

static void start_http(void)
{
    const char *bin = getenv("TIERD_HTTP_BIN");
    ck_assert_msg(bin && *bin, "TIERD_HTTP_BIN is not set (meson sets it)");
    http_port = free_port();
    char config[8192], path[HARNESS_PATH_MAX];
    snprintf(config, sizeof config,
             "listen: 127.0.0.1:%d\n"
             "tierd:\n  url: %s\n"
             "static_dir: %s/http/www\n"
             /* tierd-http's default request rate per token: the pages must
              * live with it. */
             "tokens:\n"
             "  - {name: boss, token: %s, role: admin}\n"
             "  - {name: viewer, token: %s, role: read}\n"
             "  - {name: %s, token: %s, role: partner, partner: %s}\n",
             http_port, harness_url(&h), getenv("TIERD_SOURCE_ROOT"), ADMIN_TOKEN, READ_TOKEN,
             SHOW_PARTNER, PARTNER_TOKEN, SHOW_PARTNER);
    harness_write_file(&h, "tierd-http.yaml", config, path, sizeof path);
    snprintf(http_log, sizeof http_log, "%s/tierd-http.log", h.work);
    http_pid = tu_spawn((const char *const[]){bin, "-c", path, NULL}, NULL, http_log, http_log);
    ck_assert_int_gt(http_pid, 0);
    tu_deadline d = tu_deadline_in(HTTP_WAIT_MS);
    int st = 0;
    while (http_get("/v1/status", READ_TOKEN, NULL) != 200 && tu_poll(&d))
        if (tu_wait_exit(http_pid, 0, &st)) {
            http_pid = 0;
            ck_abort_msg("tierd-http exited with %d: %s", st, tu_read_file(http_log, 8192));
        }
    ck_assert_msg(http_get("/v1/status", READ_TOKEN, NULL) == 200,
                  "tierd-http did not answer within %d ms: %s", HTTP_WAIT_MS,
                  tu_read_file(http_log, 8192));
}

static void stop_http(void)
{
    if (http_pid <= 0)
        return;
    kill(http_pid, SIGTERM);
    int st = 0;
    if (!tu_wait_exit(http_pid, HARNESS_STOP_TIMEOUT_MS, &st)) {
        kill(http_pid, SIGKILL);
        waitpid(http_pid, NULL, 0);
    }
    http_pid = 0;
}

/* ---- the story's setup ----------------------------------------------------- */

static void load_example_data(void)
{
    char program[HARNESS_PATH_MAX], partners[HARNESS_PATH_MAX], events[HARNESS_PATH_MAX];
    const char *src = getenv("TIERD_SOURCE_ROOT");
    snprintf(program, sizeof program, "%s/examples/programs/partners.yaml", src);
    snprintf(partners, sizeof partners, "%s/examples/data/partners.ndjson", src);
    snprintf(events, sizeof events, "%s/examples/data/events.ndjson", src);
    HARNESS_START_OK(&h, "--fake-clock", DEMO_CLOCK, "--program", program, NULL);
    HARNESS_TIERCTL_OK(&h, "partner", "import", partners);
    HARNESS_TIERCTL_OK(&h, "event", "import", events, "--replay");
}

static void setup(void)
{
    harness_init(&h);
    const char *a = getenv("TIERD_ARTIFACTS");
    if (a && *a)
        snprintf(artifacts, sizeof artifacts, "%s", a);
    else
        snprintf(artifacts, sizeof artifacts, "%s/artifacts", h.work);
    char cmd[HARNESS_PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "%s", artifacts);
    for (char *p = cmd + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(cmd, 0755);
            *p = '/';
        }
    mkdir(cmd, 0755);
    load_example_data();
    start_http();
    wd_start(&browser, h.work, WINDOW_W, WINDOW_H);
    browser_up = true;
}

static void teardown(void)
{
    if (browser_up)
        wd_stop(&browser);
    browser_up = false;
    stop_http();
    harness_finish(&h);
}

/* ---- page helpers ------------------------------------------------------------ */

static void open_page(const char *page, const char *query, const char *token)
{
    char url[URL_MAX];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/%s%s%s%s", http_port, page, query ? query : "",
             token ? "#token=" : "", token ? token : "");
    /* A fresh tab state: the token of the previous test must not linger. */
    wd_go(&browser, "about:blank");
    char blank[URL_MAX];
    snprintf(blank, sizeof blank, "http://127.0.0.1:%d/static/tierd.css", http_port);
    wd_go(&browser, blank);
    json_decref(wd_exec(&browser, "sessionStorage.clear(); return true;", NULL));
    wd_go(&browser, url);
}

/* Waits until the element with id root has data-state state; fails with
 * what the page says otherwise. */
static void wait_state(const char *root, const char *state)
{
    char script[512];
    snprintf(script, sizeof script,
             "var r = document.getElementById('%s'); return !!r && r.dataset.state === '%s';", root,
             state);
    if (!wd_wait_true(&browser, script, PAGE_WAIT_MS)) {
        char *err = wd_exec_str(&browser, "var e = document.getElementById('error');"
                                          "return (e && !e.hidden ? e.textContent : '') + ' | ' +"
                                          " document.body.innerText.slice(0, 600);");
        ck_abort_msg("#%s never reached state %s; the page says: %s", root, state, err);
    }
    /* Under tierd-http's CSP (default-src 'self') nothing was blocked, and
     * nothing came from another host. */
    json_t *v = wd_exec(&browser,
                        "var d = document.documentElement.dataset;"
                        "var foreign = performance.getEntriesByType('resource').filter("
                        "  function (r) { return new URL(r.name).origin !== location.origin; });"
                        "return [Number(d.cspViolations || 0), d.cspLast || '', foreign.length];",
                        NULL);
    ck_assert_msg(json_integer_value(json_array_get(v, 0)) == 0, "CSP blocked %lld thing(s): %s",
                  (long long)json_integer_value(json_array_get(v, 0)),
                  json_string_value(json_array_get(v, 1)));
    ck_assert_msg(json_integer_value(json_array_get(v, 2)) == 0,
                  "the page loaded %lld resource(s) from other hosts",
                  (long long)json_integer_value(json_array_get(v, 2)));
    json_decref(v);
}

/* A screenshot into the artifacts dir: the whole page at desktop width,
 * the first screen at phone width (a phone page is many screens long). */
static void shot(const char *name, int width)
{
    char path[HARNESS_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", artifacts, name);
    int rc;
    if (width < WINDOW_W) {
        wd_resize(&browser, width, PHONE_H);
        json_decref(wd_exec(&browser, "window.scrollTo(0, 0); return true;", NULL));
        rc = wd_screenshot(&browser, path);
    } else {
        rc = wd_screenshot_full(&browser, path, width, WINDOW_H);
    }
    ck_assert_msg(rc == 0, "screenshot %s not written", path);
    wd_resize(&browser, WINDOW_W, WINDOW_H);
}

static td_client *rpc(void)
{
    return harness_client(&h, NULL);
}

/* ---- tests ---------------------------------------------------------------------- */

/* What the page shows for one ladder, as a JSON object: tier, next tier
 * and gaps (metric, threshold) read from the DOM. */
static const char *READ_LADDER =
    "var s = document.querySelector('section.ladder[data-ladder=\"' + arguments[0] + '\"]');"
    "if (!s) return null;"
    "var t = s.querySelector('.tier-line .tier');"
    "var n = s.querySelector('.next');"
    "return { tier: t ? t.textContent : null,"
    "  next: n ? n.dataset.nextTier : null,"
    "  gaps: n ? Array.from(n.querySelectorAll('li.gap')).map(function (g) {"
    "    return { metric: g.dataset.metric, threshold: Number(g.dataset.threshold),"
    "             text: g.textContent, bar: !!g.querySelector('progress') }; }) : [] };";

/* A share (0.9322) as the page writes a percentage: "93.22%" (at most two
 * decimals, no trailing zeros). */
static void percent_text(double share, char *out, size_t n)
{
    snprintf(out, n, "%.2f", share * 100);
    char *dot = strchr(out, '.');
    if (dot) {
        char *end = out + strlen(out) - 1;
        while (end > dot && *end == '0')
            *end-- = '\0';
        if (end == dot)
            *end = '\0';
    }
    strncat(out, "%", n - strlen(out) - 1);
}

/* The held tier's csat criterion on the services ladder, written `csat >=
 * 80%` in the program: the page says "csat >= 80%" and the value as a
 * percentage, never the shares, and its bar is as full as value/threshold. */
static void check_percent_criterion(const Tierd__ExplainResponse *ex)
{
    const Tierd__Criterion *want = NULL;
    for (size_t i = 0; i < ex->n_ladders && !want; i++) {
        const Tierd__LadderExplanation *lx = ex->ladders[i];
        if (strcmp(lx->ladder, PERCENT_LADDER) != 0)
            continue;
        for (size_t t = 0; t < lx->n_tiers && !want; t++)
            if (strcmp(lx->tiers[t]->tier, lx->tier) == 0)
                for (size_t k = 0; k < lx->tiers[t]->n_criteria && !want; k++)
                    if (strcmp(lx->tiers[t]->criteria[k]->metric, PERCENT_METRIC) == 0)
                        want = lx->tiers[t]->criteria[k];
    }
    ck_assert_msg(want, SHOW_PARTNER "'s tier on " PERCENT_LADDER " has no " PERCENT_METRIC
                                     " criterion (the example data changed?)");
    ck_assert_msg(want->percent, "Explain does not mark " PERCENT_METRIC " as a percentage");
    char threshold[32], value[32], rule[64];
    percent_text(want->threshold, threshold, sizeof threshold);
    percent_text(want->value, value, sizeof value);
    snprintf(rule, sizeof rule, PERCENT_METRIC " %s %s", want->op, threshold);
    json_t *seen = wd_exec(&browser,
                           "var li = document.querySelector('section.ladder[data-ladder=\"' +"
                           " arguments[0] + '\"] section.held li[data-metric=\"' + arguments[1] +"
                           " '\"]');"
                           "if (!li) return null;"
                           "var bar = li.querySelector('progress');"
                           "return [li.querySelector('code').textContent,"
                           " li.querySelector('.crit-value').textContent,"
                           " li.dataset.percent || '', bar ? Number(bar.value) : -1];",
                           json_pack("[ss]", PERCENT_LADDER, PERCENT_METRIC));
    ck_assert_msg(json_is_array(seen), "no " PERCENT_METRIC " criterion on the page");
    const char *code = json_string_value(json_array_get(seen, 0));
    const char *detail = json_string_value(json_array_get(seen, 1));
    ck_assert_msg(strcmp(code, rule) == 0, "the page names the rule '%s', not '%s'", code, rule);
    ck_assert_msg(strstr(detail, value) && strstr(detail, threshold),
                  "the page says '%s', not %s against %s", detail, value, threshold);
    char share[32];
    snprintf(share, sizeof share, " %g", want->threshold);
    ck_assert_msg(!strstr(detail, share), "the page still shows the share %s: %s", share, detail);
    ck_assert_str_eq(json_string_value(json_array_get(seen, 2)), "true");
    double full = want->met ? 1 : fmin(1, want->value / want->threshold);
    ck_assert_int_eq((int)json_integer_value(json_array_get(seen, 3)), (int)lround(full * 100));
    json_decref(seen);
}

START_TEST(test_partner_page_shows_the_real_tier_and_gaps_of_explain)
{
    td_client *c = rpc();
    Tierd__ExplainRequest req = TIERD__EXPLAIN_REQUEST__INIT;
    req.partner = (char *)SHOW_PARTNER;
    Tierd__ExplainResponse *ex = NULL;
    td_error err = {0};
    ck_assert_msg(td_client_explain(c, &req, &ex, &err) == 0, "Explain: %s", err.message);
    ck_assert_int_ge(ex->n_ladders, 2);

    open_page("partner", NULL, PARTNER_TOKEN);
    wait_state("partner", "ready");
    char *url = wd_url(&browser);
    ck_assert_msg(strstr(url, "token") == NULL, "the token stayed in the address bar: %s", url);
    free(url);

    for (size_t i = 0; i < ex->n_ladders; i++) {
        const Tierd__LadderExplanation *lx = ex->ladders[i];
        json_t *seen = wd_exec(&browser, READ_LADDER, json_pack("[s]", lx->ladder));
        ck_assert_msg(json_is_object(seen), "no section for ladder %s", lx->ladder);
        const char *tier = json_string_value(json_object_get(seen, "tier"));
        const char *want = lx->tier[0] ? lx->tier : "unranked";
        ck_assert_msg(tier && strcmp(tier, want) == 0, "%s: the page shows tier %s, Explain %s",
                      lx->ladder, tier ? tier : "(none)", want);
        ck_assert_msg(lx->next != NULL, "%s: Explain has no next tier for " SHOW_PARTNER,
                      lx->ladder);
        const char *next = json_string_value(json_object_get(seen, "next"));
        ck_assert_msg(next && strcmp(next, lx->next->tier) == 0,
                      "%s: the page's next tier is %s, Explain's %s", lx->ladder,
                      next ? next : "(none)", lx->next->tier);
        json_t *gaps = json_object_get(seen, "gaps");
        ck_assert_msg(json_array_size(gaps) == lx->next->n_gaps,
                      "%s: the page shows %zu gaps, Explain %zu", lx->ladder, json_array_size(gaps),
                      lx->next->n_gaps);
        for (size_t g = 0; g < lx->next->n_gaps; g++) {
            const Tierd__Gap *gap = lx->next->gaps[g];
            json_t *shown = json_array_get(gaps, g);
            const char *metric = json_string_value(json_object_get(shown, "metric"));
            double th = json_number_value(json_object_get(shown, "threshold"));
            const char *text = json_string_value(json_object_get(shown, "text"));
            ck_assert_msg(metric && strcmp(metric, gap->metric) == 0, "%s gap %zu: %s, not %s",
                          lx->ladder, g, metric ? metric : "(none)", gap->metric);
            ck_assert_msg(fabs(th - gap->threshold) < 1e-9, "%s gap %s: threshold %g, not %g",
                          lx->ladder, gap->metric, th, gap->threshold);
            ck_assert_msg(text && strstr(text, gap->metric), "%s gap %s not named in its text",
                          lx->ladder, gap->metric);
            ck_assert_msg(json_is_true(json_object_get(shown, "bar")),
                          "%s gap %s has no progress bar", lx->ladder, gap->metric);
        }
        json_decref(seen);
    }
    check_percent_criterion(ex);
    tierd__explain_response__free_unpacked(ex, NULL);
    td_client_close(c);
    shot("partner.png", WINDOW_W);

    /* A phone: the same page without a horizontal scroll bar. */
    wd_resize(&browser, PHONE_W, PHONE_H);
    json_t *fits = wd_exec(
        &browser, "return document.documentElement.scrollWidth <= window.innerWidth;", NULL);
    ck_assert_msg(json_is_true(fits), "the partner page scrolls sideways at %d px", PHONE_W);
    json_decref(fits);
    shot("partner-phone.png", PHONE_W);
}
END_TEST

START_TEST(test_a_partner_token_cannot_see_another_partner)
{
    open_page("partner", "?partner=" OTHER_PARTNER, PARTNER_TOKEN);
    wait_state("partner", "not-found");
    char *said = wd_exec_str(&browser, "return document.getElementById('main').innerText;");
    ck_assert_msg(strstr(said, "not found") || strstr(said, "Not found"),
                  "the page does not say not found: %s", said);
    ck_assert_msg(strstr(said, "Cedarforge") == NULL, "the page shows the other partner: %s", said);
    free(said);

    char *body = NULL;
    long status = http_get("/v1/partners/" OTHER_PARTNER, PARTNER_TOKEN, &body);
    ck_assert_msg(status == 404, "GET /v1/partners/" OTHER_PARTNER " answered %ld: %s", status,
                  body ? body : "");
    ck_assert_msg(body && strstr(body, "NOT_FOUND"), "no NOT_FOUND in %s", body ? body : "");
    free(body);
    status = http_get("/v1/partners/" OTHER_PARTNER "/explain", PARTNER_TOKEN, NULL);
    ck_assert_int_eq(status, 404);
    /* Its own partner stays in reach; lists are not for it. */
    ck_assert_int_eq(http_get("/v1/partners/" SHOW_PARTNER, PARTNER_TOKEN, NULL), 200);
    ck_assert_int_eq(http_get("/v1/partners", PARTNER_TOKEN, NULL), 403);

    /* The dashboard tells it so instead of showing anything. */
    open_page("dashboard", NULL, PARTNER_TOKEN);
    wait_state("dashboard", "forbidden");
    json_t *tables = wd_exec(&browser, "return document.querySelectorAll('table').length;", NULL);
    ck_assert_int_eq(json_integer_value(tables), 0);
    json_decref(tables);
}
END_TEST

static void rfc3339(int64_t t, char *out, size_t n)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* A read token looks at any partner with ?partner=ID; the at-risk warning
 * carries GetPartner's dates: when the criteria lapse, when and to what
 * the partner is demoted. */
START_TEST(test_a_read_token_sees_any_partner_with_its_at_risk_dates)
{
    td_client *c = rpc();
    Tierd__PartnerInfo *p = NULL;
    td_error err = {0};
    ck_assert_msg(td_client_get_partner(c, OTHER_PARTNER, &p, &err) == 0, "%s", err.message);
    const Tierd__TierState *st = NULL;
    for (size_t i = 0; i < p->n_tiers; i++)
        if (strcmp(p->tiers[i]->ladder, "reseller") == 0)
            st = p->tiers[i];
    ck_assert_msg(st && st->demotion_at && st->lapses_at,
                  OTHER_PARTNER " is not at risk on reseller (the example data changed?)");
    char lapses[32], demotion[32];
    rfc3339(st->lapses_at, lapses, sizeof lapses);
    rfc3339(st->demotion_at, demotion, sizeof demotion);
    char to[64];
    snprintf(to, sizeof to, "%s", st->demotion_tier[0] ? st->demotion_tier : "unranked");
    tierd__partner_info__free_unpacked(p, NULL);
    td_client_close(c);

    open_page("partner", "?partner=" OTHER_PARTNER, READ_TOKEN);
    wait_state("partner", "ready");
    json_t *box = wd_exec(&browser,
                          "var b = document.querySelector("
                          "'section.ladder[data-ladder=reseller] .at-risk');"
                          "return b ? [b.dataset.lapsesAt, b.dataset.demotionAt, b.dataset.to,"
                          " b.classList.contains('urgent'), b.textContent] : null;",
                          NULL);
    ck_assert_msg(json_is_array(box), "no at-risk warning for " OTHER_PARTNER);
    ck_assert_str_eq(json_string_value(json_array_get(box, 0)), lapses);
    ck_assert_str_eq(json_string_value(json_array_get(box, 1)), demotion);
    ck_assert_str_eq(json_string_value(json_array_get(box, 2)), to);
    ck_assert_msg(json_is_true(json_array_get(box, 3)),
                  "criteria lapsing within weeks are not shown as urgent");
    const char *text = json_string_value(json_array_get(box, 4));
    /* The page shows the dates as dates (YYYY-MM-DD, UTC). */
    char lapses_day[11], demotion_day[11];
    snprintf(lapses_day, sizeof lapses_day, "%.10s", lapses);
    snprintf(demotion_day, sizeof demotion_day, "%.10s", demotion);
    ck_assert_msg(strstr(text, to) && strstr(text, lapses_day) && strstr(text, demotion_day),
                  "the warning does not say when (%s, %s) and to what (%s): %s", lapses_day,
                  demotion_day, to, text);
    json_decref(box);
    shot("partner-at-risk.png", WINDOW_W);
}
END_TEST

/* Without a token the page asks for one; what is typed signs in. */
START_TEST(test_the_sign_in_form_takes_a_token)
{
    open_page("dashboard", NULL, NULL);
    ck_assert(
        wd_wait_true(&browser, "return !document.getElementById('signin').hidden;", PAGE_WAIT_MS));
    wd_type(&browser, "#token", READ_TOKEN);
    wd_click(&browser, "#signin button[type=submit]");
    wait_state("dashboard", "ready");
    char *who = wd_exec_str(&browser, "return document.getElementById('who').textContent;");
    ck_assert_msg(strstr(who, "viewer"), "the page does not say who signed in: %s", who);
    free(who);
}
END_TEST

START_TEST(test_a_read_token_sees_approvals_but_no_buttons)
{
    open_page("dashboard", NULL, READ_TOKEN);
    wait_state("dashboard", "ready");
    json_t *n = wd_exec(&browser,
                        "return [document.querySelectorAll('#pending tbody tr').length,"
                        " document.querySelectorAll('button[data-action]').length];",
                        NULL);
    ck_assert_msg(json_integer_value(json_array_get(n, 0)) > 0,
                  "the read token sees no waiting approvals");
    ck_assert_msg(json_integer_value(json_array_get(n, 1)) == 0,
                  "a read token sees %lld Approve/Deny buttons",
                  (long long)json_integer_value(json_array_get(n, 1)));
    json_decref(n);
}
END_TEST

static const char *tier_on(const Tierd__PartnerInfo *p, const char *ladder)
{
    for (size_t i = 0; i < p->n_tiers; i++)
        if (strcmp(p->tiers[i]->ladder, ladder) == 0)
            return p->tiers[i]->tier;
    return "";
}

START_TEST(test_an_approve_click_moves_the_partner)
{
    td_client *c = rpc();
    Tierd__PartnerInfo *before = NULL;
    td_error err = {0};
    ck_assert_msg(td_client_get_partner(c, APPROVAL_PARTNER, &before, &err) == 0, "%s",
                  err.message);
    ck_assert_str_ne(tier_on(before, APPROVAL_LADDER), APPROVAL_TIER);
    tierd__partner_info__free_unpacked(before, NULL);

    open_page("dashboard", NULL, ADMIN_TOKEN);
    wait_state("dashboard", "ready");
    const char *button = "button[data-action=approve][data-partner=\"" APPROVAL_PARTNER
                         "\"][data-ladder=\"" APPROVAL_LADDER "\"]";
    /* Let the at-risk list arrive first, so the screenshot has it. */
    ck_assert(wd_wait_true(
        &browser, "return !!document.querySelector('#at-risk table, #at-risk p:not(.muted)');",
        PAGE_WAIT_MS));
    /* tierd listed them (no error), and the one the example data puts
     * at risk is among them. */
    char *risk = wd_exec_str(&browser, "var e = document.querySelector('#at-risk-failed .error');"
                                       "return e ? e.textContent : '';");
    ck_assert_msg(risk[0] == '\0', "the at-risk list failed: %s", risk);
    free(risk);
    json_t *listed = wd_exec(&browser,
                             "return !!document.querySelector("
                             "'#at-risk tr[data-partner=\"" OTHER_PARTNER "\"]');",
                             NULL);
    ck_assert_msg(json_is_true(listed), OTHER_PARTNER " is not among the partners at risk");
    json_decref(listed);
    /* ... from a few listing requests, not a request per partner */
    json_t *asked = wd_exec(
        &browser,
        "var n = performance.getEntriesByType('resource').map("
        "  function (r) { return new URL(r.name).pathname + new URL(r.name).search; });"
        "return [n.filter(function (u) { return u.indexOf('at_risk_within=') >= 0; }).length,"
        " n.filter(function (u) { return /^\\/v1\\/partners\\/[^/?]+$/.test(u); }).length];",
        NULL);
    ck_assert_msg(json_integer_value(json_array_get(asked, 0)) >= 1,
                  "the dashboard did not ask /v1/partners?at_risk_within=");
    ck_assert_msg(json_integer_value(json_array_get(asked, 1)) == 0,
                  "the dashboard asked for %lld partners one by one",
                  (long long)json_integer_value(json_array_get(asked, 1)));
    json_decref(asked);
    shot("dashboard.png", WINDOW_W);
    json_t *found = wd_exec(&browser, "return document.querySelectorAll(arguments[0]).length;",
                            json_pack("[s]", button));
    ck_assert_msg(json_integer_value(found) == 1, "%lld buttons match %s",
                  (long long)json_integer_value(found), button);
    json_decref(found);
    wd_click(&browser, button);
    ck_assert_msg(wd_wait_true(&browser,
                               "var d = document.getElementById('decision-done');"
                               "return !!d && d.textContent.indexOf('Approved: " APPROVAL_PARTNER
                               "') === 0;",
                               PAGE_WAIT_MS),
                  "the page never said the approval went through");

    Tierd__PartnerInfo *after = NULL;
    ck_assert_msg(td_client_get_partner(c, APPROVAL_PARTNER, &after, &err) == 0, "%s", err.message);
    ck_assert_str_eq(tier_on(after, APPROVAL_LADDER), APPROVAL_TIER);
    tierd__partner_info__free_unpacked(after, NULL);
    td_client_close(c);

    /* The row left the list, which the page reloaded. */
    json_t *left = wd_exec(&browser, "return document.querySelectorAll(arguments[0]).length;",
                           json_pack("[s]", button));
    ck_assert_int_eq(json_integer_value(left), 0);
    json_decref(left);
    wd_resize(&browser, PHONE_W, PHONE_H);
    json_t *fits = wd_exec(
        &browser, "return document.documentElement.scrollWidth <= window.innerWidth;", NULL);
    ck_assert_msg(json_is_true(fits), "the dashboard scrolls sideways at %d px", PHONE_W);
    json_decref(fits);
    shot("dashboard-phone.png", PHONE_W);
}
END_TEST

/* The dashboard follows tierd: an override set over RPC after the page
 * loaded appears at the top of Recent changes, in the same page (a marker
 * set on the window before survives: no reload). */
START_TEST(test_the_dashboard_shows_a_change_made_over_rpc_without_a_reload)
{
    open_page("dashboard", NULL, READ_TOKEN);
    wait_state("dashboard", "ready");
    ck_assert_msg(wd_wait_true(&browser,
                               "return document.getElementById('dashboard').dataset.live === 'on';",
                               PAGE_WAIT_MS),
                  "the dashboard never started its live updates");
    const char *row = "#changes tr[data-partner=\"" LIVE_PARTNER "\"][data-cause=OVERRIDE]";
    json_t *before = wd_exec(&browser,
                             "window.tierdLiveMarker = 42;"
                             "return document.querySelectorAll(arguments[0]).length;",
                             json_pack("[s]", row));
    ck_assert_int_eq(json_integer_value(before), 0);
    json_decref(before);

    td_client *c = rpc();
    Tierd__SetOverrideRequest req = TIERD__SET_OVERRIDE_REQUEST__INIT;
    req.partner = (char *)LIVE_PARTNER;
    req.ladder = (char *)APPROVAL_LADDER;
    req.tier = (char *)LIVE_TIER;
    req.until = (char *)"2027-01-31T00:00:00Z";
    req.reason = (char *)"browser test: live dashboard";
    Tierd__TierState *st = NULL;
    td_error err = {0};
    ck_assert_msg(td_client_set_override(c, &req, &st, &err) == 0, "SetOverride: %s", err.message);
    tierd__tier_state__free_unpacked(st, NULL);
    td_client_close(c);

    char script[512];
    snprintf(script, sizeof script,
             "var r = document.querySelector('#changes tbody tr');"
             "return !!r && r.matches('%s') && r.classList.contains('fresh');",
             row);
    bool shown = wd_wait_true(&browser, script, PAGE_WAIT_MS);
    char *said = wd_exec_str(&browser, "var s = document.getElementById('changes');"
                                       "return s ? s.innerText.slice(0, 400) : '(no section)';");
    ck_assert_msg(shown, "the override never appeared on top of Recent changes: %s", said);
    free(said);
    json_t *same = wd_exec(&browser, "return window.tierdLiveMarker === 42;", NULL);
    ck_assert_msg(json_is_true(same), "the dashboard reloaded to show the change");
    json_decref(same);
}
END_TEST

/* Without tierd-http behind it (a file:// page) the page says so in words,
 * and still takes the token off the address bar. */
START_TEST(test_a_page_without_its_server_says_so_in_words)
{
    char work[HARNESS_DIR_MAX], url[URL_MAX];
    ck_assert_ptr_nonnull(tu_tmpdir("browser-offline", work, sizeof work));
    wd w;
    wd_start(&w, work, WINDOW_W, WINDOW_H);
    snprintf(url, sizeof url, "file://%s/http/www/partner.html#token=some-token",
             getenv("TIERD_SOURCE_ROOT"));
    wd_go(&w, url);
    bool said =
        wd_wait_true(&w,
                     "var e = document.getElementById('error');"
                     "return !!e && !e.hidden && e.textContent.indexOf('did not answer') >= 0;",
                     PAGE_WAIT_MS);
    char *text = wd_exec_str(&w, "return document.body.innerText;");
    char *now = wd_url(&w);
    wd_stop(&w);
    tu_rm_rf(work);
    ck_assert_msg(said, "the page did not say tierd-http did not answer: %s", text);
    ck_assert_msg(strstr(now, "token") == NULL, "the token stayed in the address bar: %s", now);
    free(text);
    free(now);
}
END_TEST

/* ---- running ---------------------------------------------------------------------- */

static char sweep_needle[HARNESS_DIR_MAX];

static void on_signal(int sig)
{
    /* meson's timeout: leave nothing running. */
    if (sweep_needle[0])
        wd_sweep(sweep_needle);
    signal(sig, SIG_DFL);
    raise(sig);
}

static Suite *browser_suite(void)
{
    Suite *s = suite_create("browser");
    TCase *offline = tcase_create("offline");
    tcase_set_timeout(offline, 120);
    tcase_add_test(offline, test_a_page_without_its_server_says_so_in_words);
    suite_add_tcase(s, offline);
    if (!getenv("TIERD_HTTP_BIN")) {
        printf("browser tests: TIERD_HTTP_BIN not set, only the offline page test runs\n");
        return s;
    }
    TCase *tc = tcase_create("pages");
    tcase_set_timeout(tc, 600);
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_partner_page_shows_the_real_tier_and_gaps_of_explain);
    tcase_add_test(tc, test_a_partner_token_cannot_see_another_partner);
    tcase_add_test(tc, test_a_read_token_sees_approvals_but_no_buttons);
    tcase_add_test(tc, test_a_read_token_sees_any_partner_with_its_at_risk_dates);
    tcase_add_test(tc, test_the_sign_in_form_takes_a_token);
    tcase_add_test(tc, test_an_approve_click_moves_the_partner);
    tcase_add_test(tc, test_the_dashboard_shows_a_change_made_over_rpc_without_a_reload);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    char why[512];
    if (!wd_available(why, sizeof why)) {
        printf("%s\n", why);
        return 77; /* meson: skipped */
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    /* Every work dir (and so every Chromium profile) of this run lies under
     * one temp root named for this process: swept at the end, whatever
     * happened. */
    char root[HARNESS_DIR_MAX], old_tmp[HARNESS_DIR_MAX];
    snprintf(old_tmp, sizeof old_tmp, "%s", getenv("TMPDIR") ? getenv("TMPDIR") : "");
    if (!tu_tmpdir("tierd-browser", root, sizeof root)) {
        fprintf(stderr, "browser tests: no temp dir\n");
        return 1;
    }
    setenv("TMPDIR", root, 1);
    snprintf(sweep_needle, sizeof sweep_needle, "%s", root);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    int rc = tu_run_suite_in_order(browser_suite());
    size_t left = wd_sweep(root);
    if (left)
        fprintf(stderr, "browser tests: killed %zu process(es) left behind\n", left);
    if (old_tmp[0])
        setenv("TMPDIR", old_tmp, 1);
    else
        unsetenv("TMPDIR");
    tu_rm_rf(root);
    return rc;
}
