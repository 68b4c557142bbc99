/* Expressions: precedence, `not`, parentheses, number suffixes, every error
 * with its exact column, the nesting and size caps, and NaN making every
 * comparison unmet. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/expr.h"
#include "testutil.h"

#define MAX_DIAGS 16

static const char *const metric_names[] = {"a", "b", "c", "arr", "fit", "deal.closed"};
#define N_METRICS (int)(sizeof metric_names / sizeof metric_names[0])

static int resolve(void *ud, const char *name, size_t len)
{
    (void)ud;
    for (int i = 0; i < N_METRICS; i++)
        if (strlen(metric_names[i]) == len && memcmp(metric_names[i], name, len) == 0)
            return i;
    return -1;
}

typedef struct diags {
    int n;
    int column[MAX_DIAGS];
    char message[MAX_DIAGS][256];
} diags;

static void collect(void *ud, int column, const char *message)
{
    diags *d = ud;
    ck_assert_int_lt(d->n, MAX_DIAGS);
    d->column[d->n] = column;
    snprintf(d->message[d->n], sizeof d->message[d->n], "%s", message);
    d->n++;
}

static expr *parse_ok(const char *src)
{
    diags d = {0};
    expr *e = expr_parse(src, resolve, NULL, collect, &d);
    ck_assert_msg(e != NULL, "%s: %d:%s", src, d.column[0], d.message[0]);
    ck_assert_int_eq(d.n, 0);
    return e;
}

/* Asserts the parse fails with exactly one problem, at column, saying message. */
static void parse_refused(const char *src, int column, const char *message)
{
    diags d = {0};
    expr *e = expr_parse(src, resolve, NULL, collect, &d);
    ck_assert_msg(e == NULL, "%s parsed", src);
    ck_assert_msg(d.n == 1, "%s: %d problems, first %s", src, d.n, d.message[0]);
    ck_assert_str_eq(d.message[0], message);
    ck_assert_int_eq(d.column[0], column);
}

static void assert_cmp(const expr *e, int metric, cmp_op op, double threshold, int column)
{
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->kind, EXPR_CMP);
    ck_assert_int_eq(e->metric, metric);
    ck_assert_int_eq(e->op, op);
    ck_assert_double_eq(e->threshold, threshold);
    ck_assert_int_eq(e->column, column);
}

START_TEST(test_a_single_comparison_parses_with_its_column)
{
    expr *e = parse_ok("  arr >= 50000");
    assert_cmp(e, 3, CMP_GE, 50000, 3);
    expr_free(e);
    const char *ops[] = {">=", ">", "<=", "<", "==", "!="};
    const cmp_op want[] = {CMP_GE, CMP_GT, CMP_LE, CMP_LT, CMP_EQ, CMP_NE};
    for (int i = 0; i < 6; i++) {
        char src[32];
        snprintf(src, sizeof src, "fit%s7", ops[i]);
        e = parse_ok(src);
        assert_cmp(e, 4, want[i], 7, 1);
        ck_assert_str_eq(cmp_op_str(want[i]), ops[i]);
        expr_free(e);
    }
}
END_TEST

START_TEST(test_and_binds_tighter_than_or)
{
    expr *e = parse_ok("a >= 1 or b >= 1 and c >= 1");
    ck_assert_int_eq(e->kind, EXPR_OR);
    ck_assert_int_eq(e->column, 8);
    assert_cmp(e->a, 0, CMP_GE, 1, 1);
    ck_assert_int_eq(e->b->kind, EXPR_AND);
    ck_assert_int_eq(e->b->column, 18);
    assert_cmp(e->b->a, 1, CMP_GE, 1, 11);
    assert_cmp(e->b->b, 2, CMP_GE, 1, 22);
    expr_free(e);

    e = parse_ok("a >= 1 and b >= 1 or c >= 1");
    ck_assert_int_eq(e->kind, EXPR_OR);
    ck_assert_int_eq(e->a->kind, EXPR_AND);
    assert_cmp(e->b, 2, CMP_GE, 1, 22);
    expr_free(e);
}
END_TEST

START_TEST(test_chains_group_to_the_left)
{
    expr *e = parse_ok("a > 1 and b > 2 and c > 3");
    ck_assert_int_eq(e->kind, EXPR_AND);
    ck_assert_int_eq(e->a->kind, EXPR_AND);
    assert_cmp(e->a->a, 0, CMP_GT, 1, 1);
    assert_cmp(e->a->b, 1, CMP_GT, 2, 11);
    assert_cmp(e->b, 2, CMP_GT, 3, 21);
    expr_free(e);
}
END_TEST

START_TEST(test_not_binds_tighter_than_and)
{
    expr *e = parse_ok("not a >= 1 and b >= 1");
    ck_assert_int_eq(e->kind, EXPR_AND);
    ck_assert_int_eq(e->a->kind, EXPR_NOT);
    ck_assert_int_eq(e->a->column, 1);
    assert_cmp(e->a->a, 0, CMP_GE, 1, 5);
    assert_cmp(e->b, 1, CMP_GE, 1, 16);
    expr_free(e);

    e = parse_ok("not not a >= 1");
    ck_assert_int_eq(e->kind, EXPR_NOT);
    ck_assert_int_eq(e->a->kind, EXPR_NOT);
    assert_cmp(e->a->a, 0, CMP_GE, 1, 9);
    expr_free(e);
}
END_TEST

START_TEST(test_parentheses_override_precedence)
{
    expr *e = parse_ok("(a >= 1 or b >= 1) and c >= 1");
    ck_assert_int_eq(e->kind, EXPR_AND);
    ck_assert_int_eq(e->a->kind, EXPR_OR);
    assert_cmp(e->b, 2, CMP_GE, 1, 24);
    expr_free(e);

    e = parse_ok("not (a >= 1 and b >= 1)");
    ck_assert_int_eq(e->kind, EXPR_NOT);
    ck_assert_int_eq(e->a->kind, EXPR_AND);
    expr_free(e);

    e = parse_ok("((((a<1))))");
    assert_cmp(e, 0, CMP_LT, 1, 5);
    expr_free(e);
}
END_TEST

START_TEST(test_number_suffixes_scale_the_threshold)
{
    struct {
        const char *src;
        double want;
    } cases[] = {
        {"arr >= 50k", 50000},     {"arr >= 1M", 1000000},  {"arr >= 2.5k", 2500},
        {"fit >= 80%", 0.8},       {"fit >= 12.5%", 0.125}, {"arr >= 0.5", 0.5},
        {"arr > -3", -3},          {"arr > -1.5k", -1500},  {"arr >= 007", 7},
        {"arr >= 1.25M", 1250000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        expr *e = parse_ok(cases[i].src);
        ck_assert_msg(e->threshold == cases[i].want, "%s gave %.17g", cases[i].src, e->threshold);
        expr_free(e);
    }
}
END_TEST

START_TEST(test_metric_names_may_hold_dots_and_dashes)
{
    expr *e = parse_ok("deal.closed>=1");
    assert_cmp(e, 5, CMP_GE, 1, 1);
    expr_free(e);
}
END_TEST

START_TEST(test_syntax_errors_name_their_column)
{
    parse_refused(")", 1, "unexpected ')'");
    parse_refused("a >= 1)", 7, "unexpected ')'");
    parse_refused("a >= 1 and )", 12, "unexpected ')'");
    parse_refused("arr >= ", 8, "expected a number after '>='");
    parse_refused("arr >= b", 8, "expected a number after '>='");
    parse_refused("arr < (1)", 7, "expected a number after '<'");
    parse_refused("arr 5", 5, "expected a comparison (>=, >, <=, <, ==, !=) after 'arr'");
    parse_refused("arr", 4, "expected a comparison (>=, >, <=, <, ==, !=) after 'arr'");
    parse_refused("arr = 5", 5, "unexpected '=' (comparisons use ==)");
    parse_refused("a >= 1 b >= 1", 8, "trailing input: expected 'and', 'or' or the end");
    parse_refused("(a >= 1", 8, "expected ')' to close the '(' at column 1");
    parse_refused("(a >= 1 b", 9, "expected ')' to close the '(' at column 1");
    parse_refused("a >= 1 and", 11,
                  "unexpected end of expression, expected a metric, 'not' or '('");
    parse_refused("not", 4, "unexpected end of expression, expected a metric, 'not' or '('");
    parse_refused("a >= 1 or or b > 1", 11, "unexpected 'or'");
    parse_refused(">= 5", 1, "unexpected '>=', expected a metric name");
    parse_refused("a >= 1 @", 8, "unexpected character '@'");
    parse_refused("a >= 1 \xc3\xa9", 8, "unexpected byte 0xC3");
    parse_refused("", 1, "empty expression");
    parse_refused("   ", 1, "empty expression");
}
END_TEST

START_TEST(test_number_first_comparisons_are_refused_with_a_hint)
{
    parse_refused("50k <= arr", 1,
                  "expected a metric name, found number '50k' (write metric OP number)");
}
END_TEST

START_TEST(test_malformed_numbers_are_refused_whole)
{
    const char *why = "digits with an optional fraction and an optional k, M or % suffix (at "
                      "most 18 digits)";
    char want[256];
    const char *bad[] = {"50kb", "1.2.3", "5e3", "5.", "1%%", "1234567890123456789"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char src[64];
        snprintf(src, sizeof src, "arr >= %s", bad[i]);
        snprintf(want, sizeof want, "bad number '%s': %s", bad[i], why);
        parse_refused(src, 8, want);
    }
    expr *e = parse_ok("arr >= 123456789012345678");
    expr_free(e);
}
END_TEST

START_TEST(test_upper_case_keywords_get_a_specific_hint)
{
    parse_refused("a >= 1 AND b >= 1", 8, "'AND': keywords are lower-case (and, or, not)");
    parse_refused("Not a >= 1", 1, "'Not': keywords are lower-case (and, or, not)");
}
END_TEST

START_TEST(test_every_unknown_metric_is_reported_and_parsing_continues)
{
    diags d = {0};
    expr *e = expr_parse("arrr >= 1 and fit >= 2 or zz < 3", resolve, NULL, collect, &d);
    ck_assert_ptr_null(e);
    ck_assert_int_eq(d.n, 2);
    ck_assert_str_eq(d.message[0], "unknown metric 'arrr'");
    ck_assert_int_eq(d.column[0], 1);
    ck_assert_str_eq(d.message[1], "unknown metric 'zz'");
    ck_assert_int_eq(d.column[1], 27);

    /* An unknown metric before a syntax error: both are reported. */
    memset(&d, 0, sizeof d);
    e = expr_parse("q >= 1 and )", resolve, NULL, collect, &d);
    ck_assert_ptr_null(e);
    ck_assert_int_eq(d.n, 2);
    ck_assert_str_eq(d.message[0], "unknown metric 'q'");
    ck_assert_str_eq(d.message[1], "unexpected ')'");
    ck_assert_int_eq(d.column[1], 12);
}
END_TEST

static void nested(char *src, size_t cap, int depth)
{
    size_t n = 0;
    for (int i = 0; i < depth; i++)
        src[n++] = '(';
    n += (size_t)snprintf(src + n, cap - n, "a>=1");
    for (int i = 0; i < depth; i++)
        src[n++] = ')';
    src[n] = '\0';
}

START_TEST(test_nesting_deeper_than_the_limit_is_refused)
{
    char src[512];
    nested(src, sizeof src, 33);
    parse_refused(src, 33, "expression nested more than 32 levels deep");
    nested(src, sizeof src, 32);
    expr *e = parse_ok(src);
    assert_cmp(e, 0, CMP_GE, 1, 33);
    expr_free(e);
}
END_TEST

START_TEST(test_hostile_not_chains_and_huge_inputs_are_refused_cleanly)
{
    size_t big = 100000;
    char *src = malloc(big + 1);
    for (size_t i = 0; i + 4 <= big; i += 4)
        memcpy(src + i, "not ", 4);
    src[big] = '\0';
    parse_refused(src, 1, "expression longer than 4096 bytes");
    /* Within the size cap: the depth cap stops it. */
    src[33 * 4] = '\0';
    parse_refused(src, 129, "expression nested more than 32 levels deep");
    /* A wall of opening parentheses. */
    memset(src, '(', 4000);
    src[4000] = '\0';
    parse_refused(src, 33, "expression nested more than 32 levels deep");
    free(src);
}
END_TEST

START_TEST(test_more_than_256_comparisons_are_refused)
{
    char *src = malloc(8192);
    size_t n = 0;
    for (int i = 0; i < 257; i++)
        n += (size_t)sprintf(src + n, "%sa>1", i ? " or " : "");
    ck_assert_uint_le(n, 4096);
    parse_refused(src, (int)(n - 2), "more than 256 comparisons in one expression");
    /* One fewer is accepted. */
    src[n - 7] = '\0';
    expr *e = parse_ok(src);
    expr_free(e);
    free(src);
}
END_TEST

START_TEST(test_nan_makes_every_comparison_unmet)
{
    const cmp_op ops[] = {CMP_GE, CMP_GT, CMP_LE, CMP_LT, CMP_EQ, CMP_NE};
    for (int i = 0; i < 6; i++) {
        ck_assert(!cmp_holds(ops[i], NAN, 1));
        ck_assert(!cmp_holds(ops[i], 1, NAN));
    }
    ck_assert(cmp_holds(CMP_NE, 2, 1));
    ck_assert(!cmp_holds(CMP_NE, 1, 1));
    ck_assert(cmp_holds(CMP_EQ, 0.8, 0.8));
    ck_assert(cmp_holds(CMP_GE, INFINITY, 1));

    double values[N_METRICS] = {NAN, 5, 5, 0, 0, 0};
    expr *e = parse_ok("a != 3");
    ck_assert(!expr_eval(e, values));
    expr_free(e);
    /* `not` is plain negation: a negated unmet comparison holds. */
    e = parse_ok("not a >= 3");
    ck_assert(expr_eval(e, values));
    expr_free(e);
    e = parse_ok("a >= 3 or b >= 3");
    ck_assert(expr_eval(e, values));
    expr_free(e);
}
END_TEST

START_TEST(test_evaluation_follows_the_tree)
{
    double values[N_METRICS] = {1, 0, 1, 60000, 85, 0};
    struct {
        const char *src;
        bool want;
    } cases[] = {
        {"a >= 1 or b >= 1 and c >= 1", true},
        {"(a >= 1 or b >= 1) and c >= 2", false},
        {"arr >= 50k and fit >= 80", true},
        {"arr >= 1M or fit < 80", false},
        {"not (b == 0)", false},
        {"b == 0 and not a > 1", true},
        {"arr > 60k", false},
        {"arr >= 60k", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        expr *e = parse_ok(cases[i].src);
        ck_assert_msg(expr_eval(e, values) == cases[i].want, "%s", cases[i].src);
        expr_free(e);
    }
}
END_TEST

static void count_metric(void *ud, int metric)
{
    int *seen = ud;
    seen[metric]++;
}

START_TEST(test_metrics_lists_every_metric_read)
{
    int seen[N_METRICS] = {0};
    expr *e = parse_ok("a > 1 and (arr > 2 or not a < 3) or fit > 4");
    expr_metrics(e, count_metric, seen);
    ck_assert_int_eq(seen[0], 2);
    ck_assert_int_eq(seen[1], 0);
    ck_assert_int_eq(seen[3], 1);
    ck_assert_int_eq(seen[4], 1);
    expr_free(e);
}
END_TEST

START_TEST(test_parse_without_a_diag_callback_still_refuses)
{
    ck_assert_ptr_null(expr_parse("a >=", resolve, NULL, NULL, NULL));
    ck_assert_ptr_null(expr_parse("zz >= 1", resolve, NULL, NULL, NULL));
    ck_assert_ptr_null(expr_parse(NULL, resolve, NULL, NULL, NULL));
    expr_free(NULL);
}
END_TEST

static Suite *expr_suite(void)
{
    Suite *s = suite_create("expr");
    TCase *tc = tcase_create("expr");
    tcase_add_test(tc, test_a_single_comparison_parses_with_its_column);
    tcase_add_test(tc, test_and_binds_tighter_than_or);
    tcase_add_test(tc, test_chains_group_to_the_left);
    tcase_add_test(tc, test_not_binds_tighter_than_and);
    tcase_add_test(tc, test_parentheses_override_precedence);
    tcase_add_test(tc, test_number_suffixes_scale_the_threshold);
    tcase_add_test(tc, test_metric_names_may_hold_dots_and_dashes);
    tcase_add_test(tc, test_syntax_errors_name_their_column);
    tcase_add_test(tc, test_number_first_comparisons_are_refused_with_a_hint);
    tcase_add_test(tc, test_malformed_numbers_are_refused_whole);
    tcase_add_test(tc, test_upper_case_keywords_get_a_specific_hint);
    tcase_add_test(tc, test_every_unknown_metric_is_reported_and_parsing_continues);
    tcase_add_test(tc, test_nesting_deeper_than_the_limit_is_refused);
    tcase_add_test(tc, test_hostile_not_chains_and_huge_inputs_are_refused_cleanly);
    tcase_add_test(tc, test_more_than_256_comparisons_are_refused);
    tcase_add_test(tc, test_nan_makes_every_comparison_unmet);
    tcase_add_test(tc, test_evaluation_follows_the_tree);
    tcase_add_test(tc, test_metrics_lists_every_metric_read);
    tcase_add_test(tc, test_parse_without_a_diag_callback_still_refuses);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(expr_suite());
}
