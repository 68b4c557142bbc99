/* common/: the helpers every part of tierd shares. What it proves: the
 * checked number parse refuses what atoi would have turned into a number;
 * the file reader takes a file of exactly its limit, refuses one byte more
 * naming the file, and names a file it cannot open; the text rule refuses
 * C0, DEL and C1 controls and malformed UTF-8, saying where. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "td_file.h"
#include "td_number.h"
#include "testutil.h"
#include "text.h"

#define COMMON_DIR_MAX  256
#define COMMON_PATH_MAX (COMMON_DIR_MAX + 64)
#define FILE_LIMIT      10

static char tmp[COMMON_DIR_MAX];

static void setup(void)
{
    ck_assert_ptr_nonnull(tu_tmpdir("td-common", tmp, sizeof tmp));
}

static void teardown(void)
{
    ck_assert_int_eq(tu_rm_rf(tmp), 0);
}

START_TEST(test_grow_doubles_from_its_minimum_and_refuses_what_cannot_be_sized)
{
    size_t cap = 0;
    int *v = td_grow(NULL, &cap, 1, sizeof *v, 4);
    ck_assert_ptr_nonnull(v);
    ck_assert_uint_eq(cap, 4);
    ck_assert_ptr_eq(td_grow(v, &cap, 4, sizeof *v, 4), v); /* room already */
    v = td_grow(v, &cap, 5, sizeof *v, 4);
    ck_assert_ptr_nonnull(v);
    ck_assert_uint_eq(cap, 8);
    v = td_grow(v, &cap, 33, sizeof *v, 4);
    ck_assert_ptr_nonnull(v);
    ck_assert_uint_eq(cap, 64);
    /* a size that does not fit leaves the array and its capacity alone */
    ck_assert_ptr_null(td_grow(v, &cap, SIZE_MAX / 2 + 2, sizeof *v, 4));
    ck_assert_uint_eq(cap, 64);
    free(v);
}
END_TEST

START_TEST(test_number_parse_takes_digits_in_range_only)
{
    uint64_t v = 7;
    ck_assert_int_eq(td_number_parse("42", 0, 100, &v), 0);
    ck_assert_uint_eq(v, 42);
    ck_assert_int_eq(td_number_parse("0", 0, 100, &v), 0);
    ck_assert_uint_eq(v, 0);
    const char *bad[] = {"", "abc", "3x", "-1", "+1", " 1", "0x10", "101", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = 7;
        ck_assert_msg(td_number_parse(bad[i], 0, 100, &v) != 0, "'%s' was taken", bad[i]);
        ck_assert_uint_eq(v, 7);
    }
    ck_assert_int_ne(td_number_parse("0", 1, 100, &v), 0);
    ck_assert_int_ne(td_number_parse(NULL, 0, 100, &v), 0);
}
END_TEST

START_TEST(test_file_read_takes_exactly_the_limit_and_refuses_one_byte_more)
{
    char path[COMMON_PATH_MAX];
    snprintf(path, sizeof path, "%s/f", tmp);
    ck_assert_int_eq(tu_write_file(path, "0123456789"), 0);
    char *text = NULL;
    size_t len = 0;
    td_error err = {0};
    ck_assert_msg(td_file_read(path, FILE_LIMIT, &text, &len, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(len, FILE_LIMIT);
    ck_assert_str_eq(text, "0123456789");
    free(text);

    ck_assert_int_eq(tu_write_file(path, "0123456789a"), 0);
    ck_assert_int_eq(td_file_read(path, FILE_LIMIT, &text, &len, &err), -TD_INVALID_ARGUMENT);
    ck_assert_ptr_null(text);
    ck_assert_msg(strstr(err.message, path) && strstr(err.message, "larger than 10 bytes"), "%s",
                  err.message);
}
END_TEST

START_TEST(test_file_read_grows_past_its_first_chunk)
{
    enum { BIG = 100000 };
    char path[COMMON_PATH_MAX];
    snprintf(path, sizeof path, "%s/big", tmp);
    char *want = malloc(BIG + 1);
    ck_assert_ptr_nonnull(want);
    for (size_t i = 0; i < BIG; i++)
        want[i] = (char)('a' + i % 26);
    want[BIG] = '\0';
    ck_assert_int_eq(tu_write_file(path, want), 0);
    char *text = NULL;
    size_t len = 0;
    td_error err = {0};
    ck_assert_msg(td_file_read(path, BIG, &text, &len, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(len, BIG);
    ck_assert_int_eq(memcmp(text, want, BIG), 0);
    ck_assert_int_eq(text[BIG], '\0');
    free(text);
    free(want);
}
END_TEST

START_TEST(test_file_read_names_a_file_it_cannot_open)
{
    char path[COMMON_PATH_MAX];
    snprintf(path, sizeof path, "%s/missing", tmp);
    char *text = NULL;
    size_t len = 0;
    td_error err = {0};
    ck_assert_int_eq(td_file_read(path, FILE_LIMIT, &text, &len, &err), -TD_NOT_FOUND);
    ck_assert_msg(strstr(err.message, path) && strstr(err.message, "cannot open"), "%s",
                  err.message);
}
END_TEST

START_TEST(test_text_rule_refuses_controls_and_malformed_utf8_saying_where)
{
    size_t at = 99;
    ck_assert_int_eq(td_text_check("caf\xc3\xa9", 16, &at), TD_TEXT_OK);
    ck_assert(td_text_ok("caf\xc3\xa9", 16));
    ck_assert_int_eq(td_text_check("a\x01", 16, &at), TD_TEXT_CONTROL);
    ck_assert_uint_eq(at, 1);
    ck_assert_int_eq(td_text_check("a\x7f", 16, &at), TD_TEXT_CONTROL);
    ck_assert_int_eq(td_text_check("ab\xc2\x85", 16, &at), TD_TEXT_CONTROL);
    ck_assert_uint_eq(at, 2);
    ck_assert(!td_text_ok("ab\xc2\x9b", 16));
    ck_assert_int_eq(td_text_check("ab\xc2\xa0", 16, &at), TD_TEXT_OK);       /* NBSP is text */
    ck_assert_int_eq(td_text_check("a\xc0\xaf", 16, &at), TD_TEXT_MALFORMED); /* overlong */
    ck_assert_uint_eq(at, 1);
    ck_assert_int_eq(td_text_check("\xed\xa0\x80", 16, &at), TD_TEXT_MALFORMED); /* surrogate */
    ck_assert_int_eq(td_text_check("\xf4\x90\x80\x80", 16, &at), TD_TEXT_MALFORMED);
    ck_assert_int_eq(td_text_check("ab\xe2\x82", 16, &at), TD_TEXT_MALFORMED); /* cut short */
    ck_assert_int_eq(td_text_check("", 16, &at), TD_TEXT_EMPTY);
    ck_assert_int_eq(td_text_check(NULL, 16, &at), TD_TEXT_EMPTY);
    ck_assert_int_eq(td_text_check("abcde", 4, &at), TD_TEXT_TOO_LONG);
    ck_assert(!td_text_ok("abcde", 4));
    ck_assert(td_text_ok("abcd", 4));
}
END_TEST

static Suite *common_suite(void)
{
    Suite *s = suite_create("common");
    TCase *tc = tcase_create("common");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_grow_doubles_from_its_minimum_and_refuses_what_cannot_be_sized);
    tcase_add_test(tc, test_number_parse_takes_digits_in_range_only);
    tcase_add_test(tc, test_file_read_takes_exactly_the_limit_and_refuses_one_byte_more);
    tcase_add_test(tc, test_file_read_grows_past_its_first_chunk);
    tcase_add_test(tc, test_file_read_names_a_file_it_cannot_open);
    tcase_add_test(tc, test_text_rule_refuses_controls_and_malformed_utf8_saying_where);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(common_suite());
}
