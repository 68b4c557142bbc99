/* Log lines are safe whatever a message carries: a connector id or partner
 * id with a newline, a carriage return, an escape sequence or bytes that are
 * not UTF-8 cannot split a line, forge one, or reach a terminal raw. The
 * suite captures the daemon's stderr in a temporary file and reads back
 * exactly what log_msg wrote. */
#include <check.h>
#include <jansson.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "testutil.h"

#define LOG_TEST_CAPTURE_MAX 16384
#define LOG_TEST_PATH_MAX    64
#define LOG_TEST_LONG        5000 /* longer than one log line holds */

/* Runs one log call with stderr sent to a file and returns what it wrote
 * (malloc'd). */
static char *captured;

static void capture_begin(int *saved, FILE **f)
{
    char path[LOG_TEST_PATH_MAX];
    snprintf(path, sizeof path, "/tmp/tierd-test-log-%d", (int)getpid());
    *f = fopen(path, "w+");
    ck_assert_ptr_nonnull(*f);
    unlink(path);
    fflush(stderr);
    *saved = dup(STDERR_FILENO);
    ck_assert_int_ge(*saved, 0);
    ck_assert_int_ge(dup2(fileno(*f), STDERR_FILENO), 0);
    unsetenv("JOURNAL_STREAM");
}

static void capture_end(int saved, FILE *f)
{
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    free(captured);
    captured = calloc(1, LOG_TEST_CAPTURE_MAX + 1);
    ck_assert_ptr_nonnull(captured);
    rewind(f);
    size_t n = fread(captured, 1, LOG_TEST_CAPTURE_MAX, f);
    captured[n] = 0;
    fclose(f);
}

#define CAPTURE(call)                                                                              \
    do {                                                                                           \
        int saved_;                                                                                \
        FILE *f_;                                                                                  \
        capture_begin(&saved_, &f_);                                                               \
        call;                                                                                      \
        capture_end(saved_, f_);                                                                   \
    } while (0)

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

START_TEST(test_control_characters_in_a_message_are_escaped_on_one_line)
{
    log_set_level(TD_LOG_INFO);
    CAPTURE(log_info("connector %s started", "evil\ntierd: error: forged\r\tx\x1b[31m\x7f"));
    ck_assert_uint_eq(count_lines(captured), 1);
    ck_assert_str_eq(captured, "tierd: info: connector evil\\ntierd: error: forged\\r\\tx\\x1b[31m"
                               "\\x7f started\n");
}
END_TEST

START_TEST(test_c1_controls_and_invalid_utf8_are_escaped_and_valid_utf8_kept)
{
    log_set_level(TD_LOG_INFO);
    /* U+0085 (NEL, a C1 control) is C2 85 in UTF-8; FF and a lone C3 are
     * not UTF-8; an overlong '/' (C0 AF) is not either; é and € stay. */
    CAPTURE(log_info("id %s", "a\xc2\x85"
                              "b\xff"
                              "c\xc3"
                              "d\xc0\xaf"
                              "e é €"));
    ck_assert_str_eq(captured, "tierd: info: id a\\xc2\\x85b\\xffc\\xc3d\\xc0\\xafe é €\n");
}
END_TEST

START_TEST(test_a_backslash_is_doubled_so_escapes_cannot_be_faked)
{
    log_set_level(TD_LOG_INFO);
    CAPTURE(log_info("id %s", "a\\nb"));
    ck_assert_str_eq(captured, "tierd: info: id a\\\\nb\n");
}
END_TEST

START_TEST(test_a_journald_line_keeps_its_priority_and_stays_one_line)
{
    log_set_level(TD_LOG_INFO);
    int saved;
    FILE *f;
    capture_begin(&saved, &f);
    setenv("JOURNAL_STREAM", "8:1234", 1);
    log_warning("partner %s\n<3>forged", "p-1");
    unsetenv("JOURNAL_STREAM");
    capture_end(saved, f);
    ck_assert_str_eq(captured, "<4>partner p-1\\n<3>forged\n");
}
END_TEST

START_TEST(test_an_overlong_message_is_cut_without_splitting_an_escape)
{
    log_set_level(TD_LOG_INFO);
    char *big = malloc(LOG_TEST_LONG + 1);
    ck_assert_ptr_nonnull(big);
    memset(big, '\n', LOG_TEST_LONG);
    big[LOG_TEST_LONG] = 0;
    CAPTURE(log_info("%s", big));
    free(big);
    ck_assert_uint_eq(count_lines(captured), 1);
    size_t len = strlen(captured);
    ck_assert_uint_gt(len, 100);
    /* Only whole "\n" escapes before the newline that ends the line. */
    const char *body = captured + strlen("tierd: info: ");
    size_t body_len = len - strlen("tierd: info: ") - 1;
    ck_assert_uint_eq(body_len % 2, 0);
    for (size_t i = 0; i < body_len; i += 2)
        ck_assert_msg(body[i] == '\\' && body[i + 1] == 'n', "at %zu: %.8s", i, body + i);
}
END_TEST

/* ---- log_format: json ---- */

/* The one JSON object the capture holds (one line), or fails. */
static json_t *captured_json(void)
{
    ck_assert_uint_eq(count_lines(captured), 1);
    json_error_t e;
    json_t *o = json_loads(captured, 0, &e);
    ck_assert_msg(o != NULL, "not JSON (%s): %s", e.text, captured);
    ck_assert(json_is_object(o));
    return o;
}

START_TEST(test_a_json_line_has_time_level_message_and_fields)
{
    log_set_format(TD_LOG_JSON);
    CAPTURE(log_fields(TD_LOG_WARNING,
                       (td_log_field[]){TD_LOG_STR("partner", "p-1"), TD_LOG_NUM("events", 42)}, 2,
                       "partner %s got %d events", "p-1", 42));
    log_set_format(TD_LOG_TEXT);
    json_t *o = captured_json();
    ck_assert_str_eq(json_string_value(json_object_get(o, "level")), "warning");
    ck_assert_str_eq(json_string_value(json_object_get(o, "message")), "partner p-1 got 42 events");
    json_t *f = json_object_get(o, "fields");
    ck_assert_str_eq(json_string_value(json_object_get(f, "partner")), "p-1");
    ck_assert_int_eq(json_integer_value(json_object_get(f, "events")), 42);
    /* RFC 3339, UTC, milliseconds. */
    regex_t re;
    ck_assert_int_eq(regcomp(&re,
                             "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$",
                             REG_EXTENDED | REG_NOSUB),
                     0);
    const char *t = json_string_value(json_object_get(o, "time"));
    ck_assert_ptr_nonnull(t);
    ck_assert_msg(regexec(&re, t, 0, NULL, 0) == 0, "time %s", t);
    regfree(&re);
    json_decref(o);
}
END_TEST

START_TEST(test_a_json_line_stays_one_valid_object_whatever_the_message_holds)
{
    log_set_format(TD_LOG_JSON);
    CAPTURE(log_fields(TD_LOG_INFO, (td_log_field[]){TD_LOG_STR("id", "a\"b\n{\xff")}, 1,
                       "quote \" newline \n brace } bad \xc3\x28 esc \x1b[31m"));
    log_set_format(TD_LOG_TEXT);
    json_t *o = captured_json();
    const char *m = json_string_value(json_object_get(o, "message"));
    ck_assert_ptr_nonnull(strstr(m, "quote \" newline \\n brace }"));
    ck_assert_ptr_nonnull(strstr(m, "\\x1b[31m"));
    const char *id = json_string_value(json_object_get(json_object_get(o, "fields"), "id"));
    ck_assert_str_eq(id, "a\"b\\n{\\xff");
    json_decref(o);
}
END_TEST

START_TEST(test_a_json_line_without_fields_has_an_empty_fields_object)
{
    log_set_format(TD_LOG_JSON);
    CAPTURE(log_info("plain"));
    log_set_format(TD_LOG_TEXT);
    json_t *o = captured_json();
    ck_assert(json_is_object(json_object_get(o, "fields")));
    ck_assert_uint_eq(json_object_size(json_object_get(o, "fields")), 0);
    json_decref(o);
}
END_TEST

START_TEST(test_text_lines_carry_fields_after_the_message)
{
    CAPTURE(log_fields(TD_LOG_INFO, (td_log_field[]){TD_LOG_STR("k", "v\nw"), TD_LOG_NUM("n", 7)},
                       2, "msg"));
    ck_assert_str_eq(captured, "tierd: info: msg k=v\\nw n=7\n");
}
END_TEST

START_TEST(test_log_format_parses_text_and_json_only)
{
    td_log_format f;
    ck_assert(log_format_parse("json", &f) && f == TD_LOG_JSON);
    ck_assert(log_format_parse("text", &f) && f == TD_LOG_TEXT);
    ck_assert(!log_format_parse("JSON", &f));
    ck_assert(!log_format_parse("", &f));
    ck_assert(!log_format_parse(NULL, &f));
}
END_TEST

static Suite *log_suite(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("escaping");
    tcase_add_test(tc, test_control_characters_in_a_message_are_escaped_on_one_line);
    tcase_add_test(tc, test_c1_controls_and_invalid_utf8_are_escaped_and_valid_utf8_kept);
    tcase_add_test(tc, test_a_backslash_is_doubled_so_escapes_cannot_be_faked);
    tcase_add_test(tc, test_a_journald_line_keeps_its_priority_and_stays_one_line);
    tcase_add_test(tc, test_an_overlong_message_is_cut_without_splitting_an_escape);
    suite_add_tcase(s, tc);
    TCase *tj = tcase_create("format");
    tcase_add_test(tj, test_a_json_line_has_time_level_message_and_fields);
    tcase_add_test(tj, test_a_json_line_stays_one_valid_object_whatever_the_message_holds);
    tcase_add_test(tj, test_a_json_line_without_fields_has_an_empty_fields_object);
    tcase_add_test(tj, test_text_lines_carry_fields_after_the_message);
    tcase_add_test(tj, test_log_format_parses_text_and_json_only);
    suite_add_tcase(s, tj);
    return s;
}

int main(void)
{
    int rc = tu_run_suite(log_suite());
    free(captured);
    return rc;
}
