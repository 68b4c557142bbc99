/* Webhook settings in tierd.yaml and the signature: defaults, filters, the
 * refusals with file:line:column, and the HMAC against a vector computed
 * with openssl dgst (docs/webhooks.md, "Verifying"). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "testutil.h"
#include "webhook_sign.h"

#define CFG_PATH_MAX 256
#define SECRET       "test-secret-0123456789"
#define HOOK         "  - name: crm\n    url: https://crm.example.com/hook\n    secret: " SECRET "\n"

static char path[CFG_PATH_MAX];

static void write_config(const char *text)
{
    snprintf(path, sizeof path, "/tmp/test-webhooks-conf-%d.yaml", (int)getpid());
    ck_assert_int_eq(tu_write_file(path, text), 0);
}

static td_config *load_ok(const char *text)
{
    write_config(text);
    td_config *c = NULL;
    td_error err = {0};
    ck_assert_msg(config_load(path, &c, &err) == 0, "%s", err.message);
    unlink(path);
    return c;
}

static void load_refused(const char *text, int line, int column, const char *what)
{
    write_config(text);
    td_config *c = NULL;
    td_error err = {0};
    ck_assert_int_ne(config_load(path, &c, &err), 0);
    ck_assert_ptr_null(c);
    char want[CFG_PATH_MAX + 32];
    snprintf(want, sizeof want, "%s:%d:%d: ", path, line, column);
    ck_assert_msg(strncmp(err.message, want, strlen(want)) == 0, "want %s, got %s", want,
                  err.message);
    ck_assert_msg(strstr(err.message, what), "want '%s' in %s", what, err.message);
    unlink(path);
}

START_TEST(test_an_endpoint_gets_every_default)
{
    td_config *c = load_ok("webhooks:\n" HOOK);
    ck_assert_uint_eq(c->webhooks.n, 1);
    const td_webhook_endpoint *e = &c->webhooks.endpoints[0];
    ck_assert_str_eq(e->name, "crm");
    ck_assert_uint_eq(e->kinds, WEBHOOK_KIND_ALL);
    ck_assert_uint_eq(e->directions, WEBHOOK_DIR_BOTH);
    ck_assert_uint_eq(e->max_attempts, WEBHOOK_DEFAULT_ATTEMPTS);
    ck_assert_int_eq(e->timeout_s, WEBHOOK_DEFAULT_TIMEOUT_S);
    ck_assert_uint_eq(e->n_ladders, 0);
    ck_assert_int_eq(c->webhooks.at_risk_lead_s, 30 * 86400);
    ck_assert_uint_eq(c->webhooks.retry_base_ms, 1000);
    ck_assert_uint_eq(c->webhooks.retry_max_ms, 600000);
    config_free(c);
}
END_TEST

START_TEST(test_filters_choose_kinds_ladders_and_directions)
{
    td_config *c = load_ok("webhooks:\n" HOOK "    kinds: [tier_change, at_risk]\n"
                           "    ladders: [reseller]\n"
                           "    directions: [down]\n"
                           "    timeout: 3s\n"
                           "    max_attempts: 2\n"
                           "at_risk_lead: 14d\n");
    const td_webhook_endpoint *e = &c->webhooks.endpoints[0];
    ck_assert(webhooks_endpoint_wants(e, WEBHOOK_KIND_TIER_CHANGE, "reseller", WEBHOOK_DIR_DOWN));
    ck_assert(!webhooks_endpoint_wants(e, WEBHOOK_KIND_TIER_CHANGE, "reseller", WEBHOOK_DIR_UP));
    ck_assert(!webhooks_endpoint_wants(e, WEBHOOK_KIND_TIER_CHANGE, "services", WEBHOOK_DIR_DOWN));
    /* A move neither up nor down goes only where both directions are wanted. */
    ck_assert(!webhooks_endpoint_wants(e, WEBHOOK_KIND_TIER_CHANGE, "reseller", WEBHOOK_DIR_BOTH));
    ck_assert(webhooks_endpoint_wants(e, WEBHOOK_KIND_AT_RISK, "reseller", WEBHOOK_DIR_DOWN));
    ck_assert(!webhooks_endpoint_wants(e, WEBHOOK_KIND_RECOVERED, "reseller", WEBHOOK_DIR_UP));
    ck_assert_int_eq(e->timeout_s, 3);
    ck_assert_uint_eq(e->max_attempts, 2);
    ck_assert_int_eq(c->webhooks.at_risk_lead_s, 14 * 86400);
    config_free(c);
}
END_TEST

START_TEST(test_bad_values_are_refused_where_they_stand)
{
    load_refused("webhooks:\n  - name: crm\n    url: file:///etc/passwd\n    secret: " SECRET "\n",
                 3, 10, "http:// or https://");
    load_refused("webhooks:\n  - name: crm\n    url: http://\n    secret: " SECRET "\n", 3, 10,
                 "names no host");
    load_refused("webhooks:\n  - name: crm\n    url: http://a\n    secret: fifteen-bytes!!\n", 4,
                 13, "at least 16");
    load_refused("webhooks:\n" HOOK "    directions: [sideways]\n", 5, 18, "unknown direction");
    load_refused("webhooks:\n" HOOK "    max_attempts: 0\n", 5, 19, "max_attempts");
    load_refused("webhooks:\n" HOOK HOOK, 5, 5, "used twice");
    load_refused("webhooks:\n  - name: crm\n    url: http://a\n", 2, 5,
                 "needs name, url and secret");
    load_refused("webhooks:\n" HOOK "    colour: red\n", 5, 5, "unknown webhook key");
    load_refused("webhook_retry_base_ms: -5\n", 1, 24, "whole number");
}
END_TEST

START_TEST(test_the_signature_matches_openssl_dgst)
{
    /* printf '1767225600.' | cat - body | openssl dgst -sha256 -hmac SECRET */
    char sig[WEBHOOK_SIG_LEN];
    const char *body = "{\"a\":1}";
    ck_assert_int_eq(webhook_sign(SECRET, 1767225600, body, strlen(body), sig), 0);
    ck_assert_str_eq(sig, "v1=b6c03f88bee2c3dac643ee728cadbb3a195178d611dba51dd0b168d299043465");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("webhooks_conf");
    TCase *tc = tcase_create("conf");
    tcase_add_test(tc, test_an_endpoint_gets_every_default);
    tcase_add_test(tc, test_filters_choose_kinds_ladders_and_directions);
    tcase_add_test(tc, test_bad_values_are_refused_where_they_stand);
    tcase_add_test(tc, test_the_signature_matches_openssl_dgst);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(suite());
}
