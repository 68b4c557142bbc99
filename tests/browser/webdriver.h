/* A headless Chromium for browser tests, driven through chromedriver's
 * W3C WebDriver HTTP API (libcurl + jansson).
 *
 *   char why[256];
 *   if (!wd_available(why, sizeof why)) { puts(why); return 77; }   // meson: skipped
 *   wd w;
 *   wd_start(&w, work_dir, 1280, 900);    // fails the test when it cannot
 *   wd_go(&w, "http://127.0.0.1:PORT/partner#token=...");
 *   wd_wait_true(&w, "return document.body.dataset.ready === '1'", 10000);
 *   wd_click(&w, "button[data-action=approve]");
 *   wd_screenshot(&w, "/path/partner.png");
 *   wd_stop(&w);
 *
 * It promises that nothing it starts outlives the test: chromedriver runs
 * in a process group of its own with Chromium (fresh --user-data-dir in
 * the work dir) under it; wd_stop ends the session and kills the group and
 * any process naming the profile, and the kernel kills chromedriver when
 * the test process dies (wd_sweep, called from main, catches what a
 * crash would leave). CHROMIUM_BIN and CHROMEDRIVER_BIN override where the
 * binaries are looked for (default: chromium and chromedriver in PATH). */
#ifndef TD_TEST_WEBDRIVER_H
#define TD_TEST_WEBDRIVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define WD_PATH_MAX 512
#define WD_START_MS 30000 /* chromedriver answering, then a session */
#define WD_CALL_MS  60000 /* one WebDriver call */

typedef struct wd {
    pid_t driver;              /* chromedriver, leader of its process group; 0 when none */
    int port;                  /* chromedriver's */
    char base[64];             /* http://127.0.0.1:PORT */
    char session[128];         /* the session id; "" when none */
    char profile[WD_PATH_MAX]; /* work/chromium-profile */
    char log[WD_PATH_MAX];     /* work/chromedriver.log */
} wd;

/* Whether chromium and chromedriver are installed; when not, why names
 * what is missing and how to install it. */
bool wd_available(char *why, size_t whyn);

/* Starts chromedriver on a free port and a headless Chromium session with
 * a window of width x height. Fails the test (with chromedriver's log)
 * when it cannot. */
void wd_start(wd *w, const char *work, int width, int height);
/* Ends the session, kills chromedriver's process group and any process
 * left naming the profile. Safe to call twice. */
void wd_stop(wd *w);
/* Kills every process whose command line holds needle (a work dir): what
 * a test that died midway left behind. Returns how many. */
size_t wd_sweep(const char *needle);

/* Opens url in the session. */
void wd_go(wd *w, const char *url);
/* The address bar's URL (malloc'd). */
char *wd_url(wd *w);
/* Runs script (a function body: `return ...`) with args (a JSON array,
 * stolen; NULL for none) and returns its value (the caller decrefs), or
 * fails the test when the script throws. */
json_t *wd_exec(wd *w, const char *script, json_t *args);
/* The same, for a string result (malloc'd; "" when it is not a string). */
char *wd_exec_str(wd *w, const char *script);
/* Polls script until it returns true; false when it did not within
 * timeout_ms. */
bool wd_wait_true(wd *w, const char *script, long timeout_ms);
/* Clicks the first element matching the CSS selector (WebDriver's click:
 * scrolled into view, the real pointer path). Fails the test when none. */
void wd_click(wd *w, const char *css);
/* Types text into the first element matching css, as keys. Fails the
 * test when none. */
void wd_type(wd *w, const char *css, const char *text);
/* Sets the window size (CSS pixels). */
void wd_resize(wd *w, int width, int height);
/* Writes a PNG of the viewport to path; 0, or -1 when it could not. */
int wd_screenshot(wd *w, const char *path);
/* Resizes the window to the page's full height (at least min_height),
 * then writes the screenshot. */
int wd_screenshot_full(wd *w, const char *path, int width, int min_height);

#endif
