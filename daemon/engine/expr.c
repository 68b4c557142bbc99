/* Criteria expressions: the parser and evaluator behind `when` and `gate`.
 *
 * Owns the grammar of docs/program.md, "Expressions":
 *
 *     or_expr  := and_expr ('or' and_expr)*
 *     and_expr := not_expr ('and' not_expr)*
 *     not_expr := 'not' not_expr | primary
 *     primary  := '(' or_expr ')' | metric OP number
 *
 * Keywords are lower-case; a number is digits with an optional fraction and
 * an optional k (x1e3), M (x1e6) or % (/100) suffix. Comparisons are always
 * written metric first: `50k <= arr` is refused with a hint, not reordered.
 *
 * Promises: every problem carries a 1-based column; unknown metrics are all
 * reported and parsing carries on past them, any other error stops the parse
 * where it was found. Hostile text cannot exhaust the stack or build a
 * pathological tree: nesting, comparisons and source length are capped.
 * Does not know what a metric is: names are resolved through a callback.
 *
 * Place in the engine's line (tests/unit/test_engine_layers.sh): above
 * status; uses nothing else in the engine. */
#include "expr.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Parentheses plus `not`s open at once; deeper is surely hostile. */
#define EXPR_MAX_DEPTH 32
/* Comparisons in one expression; bounds the tree's size and depth, which
 * every walker (eval, explain, encode) recurses over. */
#define EXPR_MAX_COMPARISONS 256
#define EXPR_MAX_SOURCE      4096
/* Digits in one number: enough for any threshold, small enough that the
 * value stays exact-ish and finite without strtod (whose decimal point
 * follows the process locale). */
#define EXPR_MAX_NUMBER_DIGITS 18
#define EXPR_MESSAGE_MAX       256
/* How much of a token is quoted back in a message. */
#define EXPR_ECHO_MAX 40

typedef enum tok_kind {
    TOK_END,
    TOK_LPAREN,
    TOK_RPAREN,
    TOK_IDENT,
    TOK_NUMBER,
    TOK_OP,
    TOK_BAD,
} tok_kind;

typedef struct token {
    tok_kind kind;
    size_t start, len;
    cmp_op op;     /* TOK_OP */
    bool percent;  /* TOK_NUMBER written with '%' */
    double number; /* TOK_NUMBER */
} token;

typedef struct parser {
    const char *src;
    size_t len;
    size_t pos; /* next byte the lexer reads */
    token tok;  /* current token */
    int depth;
    int comparisons;
    bool failed; /* an unknown metric was seen: keep parsing, return NULL */
    bool stopped;
    expr_resolve_fn resolve;
    void *resolve_ud;
    expr_diag_fn diag;
    void *diag_ud;
} parser;

static const char *const op_text[] = {
    [CMP_GE] = ">=", [CMP_GT] = ">",  [CMP_LE] = "<=",
    [CMP_LT] = "<",  [CMP_EQ] = "==", [CMP_NE] = "!=",
};

const char *cmp_op_str(cmp_op op)
{
    if ((unsigned)op >= sizeof op_text / sizeof op_text[0])
        return "?";
    return op_text[op];
}

static void report(parser *p, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void report(parser *p, size_t at, const char *fmt, ...)
{
    char msg[EXPR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (p->diag)
        p->diag(p->diag_ud, (int)at + 1, msg);
}

/* A syntax error: reported once, and the parse unwinds. */
static expr *stop(parser *p, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static expr *stop(parser *p, size_t at, const char *fmt, ...)
{
    char msg[EXPR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!p->stopped && p->diag)
        p->diag(p->diag_ud, (int)at + 1, msg);
    p->stopped = true;
    return NULL;
}

static bool is_ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Metric names may also hold '.' and '-' (program.c allows them). */
static bool is_ident_char(char c)
{
    return is_ident_start(c) || is_digit(c) || c == '.' || c == '-';
}

static bool tok_is(const parser *p, const char *word)
{
    size_t n = strlen(word);
    return p->tok.kind == TOK_IDENT && p->tok.len == n &&
           memcmp(p->src + p->tok.start, word, n) == 0;
}

static bool tok_is_keyword(const parser *p)
{
    return tok_is(p, "and") || tok_is(p, "or") || tok_is(p, "not");
}

/* A keyword typed in the wrong case ("AND"): worth a specific hint. */
static bool tok_is_miscased_keyword(const parser *p)
{
    static const char *const words[] = {"and", "or", "not"};
    if (p->tok.kind != TOK_IDENT || tok_is_keyword(p))
        return false;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        size_t n = strlen(words[i]);
        if (p->tok.len == n && strncasecmp(p->src + p->tok.start, words[i], n) == 0)
            return true;
    }
    return false;
}

static double pow10_int(int e)
{
    double r = 1;
    for (int i = 0; i < e; i++)
        r *= 10;
    return r;
}

/* Lexes a number at p->pos; the token spans digits, fraction and suffix.
 * Scaling is one multiplication or division of exact integers, so 80% is
 * the double nearest 0.8 and 2.5k is exactly 2500. */
static void lex_number(parser *p)
{
    const char *s = p->src;
    size_t i = p->pos;
    bool negative = false;
    if (s[i] == '-') {
        negative = true;
        i++;
    }
    double mantissa = 0;
    int digits = 0, frac = 0;
    while (i < p->len && is_digit(s[i])) {
        mantissa = mantissa * 10 + (s[i] - '0');
        digits++;
        i++;
    }
    bool bad = false;
    if (i < p->len && s[i] == '.') {
        i++;
        if (i >= p->len || !is_digit(s[i]))
            bad = true;
        while (i < p->len && is_digit(s[i])) {
            mantissa = mantissa * 10 + (s[i] - '0');
            digits++;
            frac++;
            i++;
        }
    }
    int scale = -frac;
    p->tok.percent = i < p->len && s[i] == '%';
    if (i < p->len && (s[i] == 'k' || s[i] == 'M' || s[i] == '%')) {
        scale += s[i] == 'k' ? 3 : s[i] == 'M' ? 6 : -2;
        i++;
    }
    /* "50kb", "1.2.3", "5e3": one glued token, refused as a whole. */
    while (i < p->len && (is_ident_char(s[i]) || s[i] == '%'))
        i++, bad = true;
    p->tok.kind = bad || digits > EXPR_MAX_NUMBER_DIGITS ? TOK_BAD : TOK_NUMBER;
    p->tok.start = p->pos;
    p->tok.len = i - p->pos;
    double v = scale >= 0 ? mantissa * pow10_int(scale) : mantissa / pow10_int(-scale);
    p->tok.number = negative ? -v : v;
    p->pos = i;
}

static void next(parser *p)
{
    const char *s = p->src;
    while (p->pos < p->len &&
           (s[p->pos] == ' ' || s[p->pos] == '\t' || s[p->pos] == '\n' || s[p->pos] == '\r'))
        p->pos++;
    token *t = &p->tok;
    t->start = p->pos;
    t->len = 1;
    if (p->pos >= p->len) {
        t->kind = TOK_END;
        t->len = 0;
        return;
    }
    char c = s[p->pos];
    char c2 = p->pos + 1 < p->len ? s[p->pos + 1] : '\0';
    if (c == '(' || c == ')') {
        t->kind = c == '(' ? TOK_LPAREN : TOK_RPAREN;
        p->pos++;
    } else if (is_ident_start(c)) {
        size_t i = p->pos;
        while (i < p->len && is_ident_char(s[i]))
            i++;
        t->kind = TOK_IDENT;
        t->len = i - p->pos;
        p->pos = i;
    } else if (is_digit(c) || (c == '-' && is_digit(c2))) {
        lex_number(p);
    } else if ((c == '>' || c == '<' || c == '=' || c == '!') && c2 == '=') {
        t->kind = TOK_OP;
        t->op = c == '>' ? CMP_GE : c == '<' ? CMP_LE : c == '=' ? CMP_EQ : CMP_NE;
        t->len = 2;
        p->pos += 2;
    } else if (c == '>' || c == '<') {
        t->kind = TOK_OP;
        t->op = c == '>' ? CMP_GT : CMP_LT;
        p->pos++;
    } else {
        t->kind = TOK_BAD;
        p->pos++;
    }
}

/* Quotes the current token for a message, cut short when long. */
static int tok_echo_len(const parser *p)
{
    return (int)(p->tok.len > EXPR_ECHO_MAX ? EXPR_ECHO_MAX : p->tok.len);
}

static expr *unexpected(parser *p)
{
    const token *t = &p->tok;
    const char *text = p->src + t->start;
    unsigned char c = (unsigned char)text[0];
    switch (t->kind) {
    case TOK_END:
        return stop(p, t->start, "unexpected end of expression, expected a metric, 'not' or '('");
    case TOK_RPAREN:
        return stop(p, t->start, "unexpected ')'");
    case TOK_NUMBER:
        return stop(p, t->start,
                    "expected a metric name, found number '%.*s' (write metric OP number)",
                    tok_echo_len(p), text);
    case TOK_OP:
        return stop(p, t->start, "unexpected '%s', expected a metric name", cmp_op_str(t->op));
    case TOK_IDENT:
        if (tok_is_miscased_keyword(p))
            return stop(p, t->start, "'%.*s': keywords are lower-case (and, or, not)",
                        tok_echo_len(p), text);
        return stop(p, t->start, "unexpected '%.*s'", tok_echo_len(p), text);
    default:
        if (is_digit((char)c) || c == '-')
            return stop(p, t->start,
                        "bad number '%.*s': digits with an optional fraction and an optional "
                        "k, M or %% suffix (at most %d digits)",
                        tok_echo_len(p), text, EXPR_MAX_NUMBER_DIGITS);
        if (c == '=')
            return stop(p, t->start, "unexpected '=' (comparisons use ==)");
        if (c >= 0x21 && c < 0x7f)
            return stop(p, t->start, "unexpected character '%c'", c);
        return stop(p, t->start, "unexpected byte 0x%02X", c);
    }
}

static expr *node_new(parser *p, expr_kind kind, size_t at)
{
    expr *e = calloc(1, sizeof *e);
    if (!e)
        return stop(p, at, "out of memory");
    e->kind = kind;
    e->column = (int)at + 1;
    e->metric = -1;
    return e;
}

static expr *parse_or(parser *p);

static expr *parse_comparison(parser *p)
{
    size_t name_at = p->tok.start, name_len = p->tok.len;
    const char *name = p->src + name_at;
    if (++p->comparisons > EXPR_MAX_COMPARISONS)
        return stop(p, name_at, "more than %d comparisons in one expression", EXPR_MAX_COMPARISONS);
    int metric = p->resolve ? p->resolve(p->resolve_ud, name, name_len) : -1;
    if (metric < 0) {
        report(p, name_at, "unknown metric '%.*s'", tok_echo_len(p), name);
        p->failed = true;
    }
    next(p);
    if (p->tok.kind != TOK_OP) {
        if (p->tok.kind == TOK_BAD && p->src[p->tok.start] == '=')
            return stop(p, p->tok.start, "unexpected '=' (comparisons use ==)");
        return stop(p, p->tok.kind == TOK_END ? p->len : p->tok.start,
                    "expected a comparison (>=, >, <=, <, ==, !=) after '%.*s'",
                    (int)(name_len > EXPR_ECHO_MAX ? EXPR_ECHO_MAX : name_len), name);
    }
    cmp_op op = p->tok.op;
    next(p);
    if (p->tok.kind != TOK_NUMBER) {
        if (p->tok.kind == TOK_BAD &&
            (is_digit(p->src[p->tok.start]) || p->src[p->tok.start] == '-'))
            return unexpected(p);
        return stop(p, p->tok.kind == TOK_END ? p->len : p->tok.start,
                    "expected a number after '%s'", cmp_op_str(op));
    }
    expr *e = node_new(p, EXPR_CMP, name_at);
    if (!e)
        return NULL;
    e->metric = metric;
    e->op = op;
    e->threshold = p->tok.number;
    e->percent = p->tok.percent;
    next(p);
    return e;
}

static expr *parse_primary(parser *p)
{
    if (p->tok.kind == TOK_LPAREN) {
        size_t open_at = p->tok.start;
        if (++p->depth > EXPR_MAX_DEPTH)
            return stop(p, open_at, "expression nested more than %d levels deep", EXPR_MAX_DEPTH);
        next(p);
        expr *inner = parse_or(p);
        if (!inner)
            return NULL;
        if (p->tok.kind != TOK_RPAREN) {
            expr_free(inner);
            return stop(p, p->tok.kind == TOK_END ? p->len : p->tok.start,
                        "expected ')' to close the '(' at column %zu", open_at + 1);
        }
        p->depth--;
        next(p);
        return inner;
    }
    if (p->tok.kind == TOK_IDENT && !tok_is_keyword(p) && !tok_is_miscased_keyword(p))
        return parse_comparison(p);
    return unexpected(p);
}

static expr *parse_not(parser *p)
{
    if (!tok_is(p, "not"))
        return parse_primary(p);
    size_t at = p->tok.start;
    if (++p->depth > EXPR_MAX_DEPTH)
        return stop(p, at, "expression nested more than %d levels deep", EXPR_MAX_DEPTH);
    next(p);
    expr *operand = parse_not(p);
    if (!operand)
        return NULL;
    p->depth--;
    expr *e = node_new(p, EXPR_NOT, at);
    if (!e) {
        expr_free(operand);
        return NULL;
    }
    e->a = operand;
    return e;
}

/* One left-associative level: and_expr over not_expr, or or_expr over
 * and_expr. Iterative, so long chains do not recurse here. */
static expr *parse_chain(parser *p, const char *keyword, expr_kind kind, expr *(*operand)(parser *))
{
    expr *left = operand(p);
    while (left && tok_is(p, keyword)) {
        size_t at = p->tok.start;
        next(p);
        expr *right = operand(p);
        if (!right) {
            expr_free(left);
            return NULL;
        }
        expr *e = node_new(p, kind, at);
        if (!e) {
            expr_free(left);
            expr_free(right);
            return NULL;
        }
        e->a = left;
        e->b = right;
        left = e;
    }
    return left;
}

static expr *parse_and(parser *p)
{
    return parse_chain(p, "and", EXPR_AND, parse_not);
}

static expr *parse_or(parser *p)
{
    return parse_chain(p, "or", EXPR_OR, parse_and);
}

expr *expr_parse(const char *src, expr_resolve_fn resolve, void *resolve_ud, expr_diag_fn diag,
                 void *diag_ud)
{
    parser p = {
        .src = src ? src : "",
        .resolve = resolve,
        .resolve_ud = resolve_ud,
        .diag = diag,
        .diag_ud = diag_ud,
    };
    p.len = strlen(p.src);
    if (p.len > EXPR_MAX_SOURCE) {
        stop(&p, 0, "expression longer than %d bytes", EXPR_MAX_SOURCE);
        return NULL;
    }
    next(&p);
    if (p.tok.kind == TOK_END) {
        stop(&p, 0, "empty expression");
        return NULL;
    }
    expr *e = parse_or(&p);
    if (e && p.tok.kind != TOK_END) {
        if (p.tok.kind == TOK_RPAREN || p.tok.kind == TOK_BAD || tok_is_miscased_keyword(&p))
            unexpected(&p);
        else
            stop(&p, p.tok.start, "trailing input: expected 'and', 'or' or the end");
        expr_free(e);
        return NULL;
    }
    if (!e || p.failed) {
        expr_free(e);
        return NULL;
    }
    return e;
}

void expr_free(expr *e)
{
    if (!e)
        return;
    expr_free(e->a);
    expr_free(e->b);
    free(e);
}

bool cmp_holds(cmp_op op, double value, double threshold)
{
    /* Written so that any NaN lands on false, including for !=. */
    if (isnan(value) || isnan(threshold))
        return false;
    switch (op) {
    case CMP_GE:
        return value >= threshold;
    case CMP_GT:
        return value > threshold;
    case CMP_LE:
        return value <= threshold;
    case CMP_LT:
        return value < threshold;
    case CMP_EQ:
        return value == threshold;
    case CMP_NE:
        return value != threshold;
    }
    return false;
}

bool expr_eval(const expr *e, const double *values)
{
    if (!e)
        return true;
    switch (e->kind) {
    case EXPR_AND:
        return expr_eval(e->a, values) && expr_eval(e->b, values);
    case EXPR_OR:
        return expr_eval(e->a, values) || expr_eval(e->b, values);
    case EXPR_NOT:
        return !expr_eval(e->a, values);
    case EXPR_CMP:
        return e->metric >= 0 && cmp_holds(e->op, values[e->metric], e->threshold);
    }
    return false;
}

void expr_metrics(const expr *e, void (*fn)(void *ud, int metric), void *ud)
{
    if (!e)
        return;
    if (e->kind == EXPR_CMP) {
        if (e->metric >= 0)
            fn(ud, e->metric);
        return;
    }
    expr_metrics(e->a, fn, ud);
    expr_metrics(e->b, fn, ud);
}
