/* Module-internal interface of promql/: the lexer's tokens and helpers shared by the
 * parser, printer and enforcer.
 *
 * Invariant: the lexer never reads past text[len] and never allocates; tokens are views into the text. */
#ifndef VG_PROMQL_PROMQL_INT_H
#define VG_PROMQL_PROMQL_INT_H

#include "promql.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Token kinds. Keywords are recognised case-insensitively outside braces. */
#define PROMQL__TOKENS(X)                                                                                   \
    X(EOF, "end of input")                                                                                  \
    X(ERROR, "error")                                                                                       \
    X(IDENT, "identifier")                                                                                  \
    X(METRIC_IDENT, "metric identifier")                                                                    \
    X(NUMBER, "number")                                                                                     \
    X(DURATION, "duration")                                                                                 \
    X(STRING, "string")                                                                                     \
    X(LPAREN, "(")                                                                                          \
    X(RPAREN, ")")                                                                                          \
    X(LBRACE, "{")                                                                                          \
    X(RBRACE, "}")                                                                                          \
    X(LBRACKET, "[")                                                                                        \
    X(RBRACKET, "]")                                                                                        \
    X(COMMA, ",")                                                                                           \
    X(COLON, ":")                                                                                           \
    X(AT, "@")                                                                                              \
    X(EQL, "=")                                                                                             \
    X(EQL_REGEX, "=~")                                                                                      \
    X(NEQ_REGEX, "!~")                                                                                      \
    X(ADD, "+")                                                                                             \
    X(SUB, "-")                                                                                             \
    X(MUL, "*")                                                                                             \
    X(DIV, "/")                                                                                             \
    X(MOD, "%")                                                                                             \
    X(POW, "^")                                                                                             \
    X(EQLC, "==")                                                                                           \
    X(NEQ, "!=")                                                                                            \
    X(LSS, "<")                                                                                             \
    X(LTE, "<=")                                                                                            \
    X(GTR, ">")                                                                                             \
    X(GTE, ">=")                                                                                            \
    X(LAND, "and")                                                                                          \
    X(LOR, "or")                                                                                            \
    X(LUNLESS, "unless")                                                                                    \
    X(ATAN2, "atan2")                                                                                       \
    X(SUM, "sum")                                                                                           \
    X(AVG, "avg")                                                                                           \
    X(COUNT, "count")                                                                                       \
    X(MIN, "min")                                                                                           \
    X(MAX, "max")                                                                                           \
    X(GROUP, "group")                                                                                       \
    X(STDDEV, "stddev")                                                                                     \
    X(STDVAR, "stdvar")                                                                                     \
    X(TOPK, "topk")                                                                                         \
    X(BOTTOMK, "bottomk")                                                                                   \
    X(COUNT_VALUES, "count_values")                                                                         \
    X(QUANTILE, "quantile")                                                                                 \
    X(OFFSET, "offset")                                                                                     \
    X(BY, "by")                                                                                             \
    X(WITHOUT, "without")                                                                                   \
    X(ON, "on")                                                                                             \
    X(IGNORING, "ignoring")                                                                                 \
    X(GROUP_LEFT, "group_left")                                                                             \
    X(GROUP_RIGHT, "group_right")                                                                           \
    X(BOOL, "bool")                                                                                         \
    X(START, "start")                                                                                       \
    X(END, "end")

typedef enum promql__tok_type {
#define PROMQL__TOK_ENUM(name, str) PROMQL__T_##name,
    PROMQL__TOKENS(PROMQL__TOK_ENUM)
#undef PROMQL__TOK_ENUM
        PROMQL__T_COUNT_
} promql__tok_type_t;

typedef struct promql__tok {
    promql__tok_type_t type;
    uint32_t pos, len; /* view into the text */
} promql__tok_t;

typedef struct promql__lexer {
    const char *text;
    size_t len, pos;
    bool brace_open, bracket_open, got_colon;
    bool after_lbracket; /* the next token is the range duration of [...] */
    int paren_depth;
    vg_error_t *err;     /* set with the first lexical error */
} promql__lexer_t;

void promql__lexer_init(promql__lexer_t *lx, const char *text, size_t len, vg_error_t *err);
/* Next token (comments and blanks skipped). An ERROR token means err was filled. */
promql__tok_t promql__lex_next(promql__lexer_t *lx);
/* "end of input", "(", "sum", ... */
const char *promql__tok_name(promql__tok_type_t t);
bool promql__tok_is_keyword(promql__tok_type_t t);

/* Decodes a STRING token's text (quotes included) into arena memory, applying Go escapes. Returns 0 or
 * VG_EINVAL (with err at the token) / VG_ENOMEM. */
int promql__unquote(const char *s, size_t len, uint32_t pos, vg_arena_t *arena, promql_str_t *out,
                    vg_error_t *err);

/* Go's unicode.IsPrint for code points >= 0x80 (Unicode 14 tables generated by gen_unicode_print.py). */
bool promql__unicode_is_print(uint32_t r);

/* Decodes one UTF-8 sequence at s[0..len); returns its length (1..4) and *r, or 0 when invalid
 * (overlong, surrogate, > U+10FFFF, truncated). */
size_t promql__utf8_decode(const unsigned char *s, size_t len, uint32_t *r);

/* Appends v like Go's fmt.Sprint(float64) ("1e-05", "1e+06", "+Inf", "NaN"). */
void promql__format_number(vg_buf_t *out, double v);

/* Whether s is a valid label name ([a-zA-Z_][a-zA-Z0-9_]*). */
bool promql__is_label_name(const char *s, size_t len);

/* The function table, by index (for the tests' sortedness check). */
size_t promql__function_count(void);
const promql_function_t *promql__function_at(size_t i);

#endif
