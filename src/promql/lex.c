/* The PromQL lexer: turns query text into tokens the way Prometheus 2.42's lexer does.
 *
 * State machine (as Prometheus'): statements | inside braces (label matchers: every word is an identifier,
 * only = != =~ !~ , and strings) | right after '[' (a duration must follow). Inside [...] a ':' is the
 * subquery colon; elsewhere it is part of a metric name. Keywords are case-insensitive, "inf"/"nan" are
 * numbers. Invariants: tokens are views into the text; the lexer never reads past len; after an ERROR
 * token err is set and the lexer keeps returning ERROR. */
#include "promql_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const tok_names[] = {
#define PROMQL__TOK_NAME(name, str) str,
    PROMQL__TOKENS(PROMQL__TOK_NAME)
#undef PROMQL__TOK_NAME
};

const char *promql__tok_name(promql__tok_type_t t) {
    return (unsigned)t < PROMQL__T_COUNT_ ? tok_names[t] : "?";
}

bool promql__tok_is_keyword(promql__tok_type_t t) {
    return t >= PROMQL__T_LAND && t <= PROMQL__T_END;
}

void promql__lexer_init(promql__lexer_t *lx, const char *text, size_t len, vg_error_t *err) {
    memset(lx, 0, sizeof *lx);
    lx->text = text;
    lx->len = len;
    lx->err = err;
}

static bool is_alpha(int c) {
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
static bool is_digit(int c) {
    return c >= '0' && c <= '9';
}
static bool is_alnum(int c) {
    return is_alpha(c) || is_digit(c);
}
static bool is_space(int c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Character at pos, or -1 at the end. */
static int peek_at(const promql__lexer_t *lx, size_t pos) {
    return pos < lx->len ? (unsigned char)lx->text[pos] : -1;
}
static int peek(const promql__lexer_t *lx) {
    return peek_at(lx, lx->pos);
}

static bool accept(promql__lexer_t *lx, const char *set) {
    int c = peek(lx);
    if (c > 0 && strchr(set, c)) {
        lx->pos++;
        return true;
    }
    return false;
}
static void accept_run(promql__lexer_t *lx, const char *set) {
    while (accept(lx, set)) {
    }
}

/* Go's %#U of the character at pos: "U+0071 'q'". */
static void unicode_char(const promql__lexer_t *lx, size_t pos, char *out, size_t cap) {
    uint32_t r = 0xFFFD;
    size_t n = promql__utf8_decode((const unsigned char *)lx->text + pos, lx->len - pos, &r);
    if (n == 0) r = 0xFFFD;
    if (r >= 0x20 && r != 0x7f && (r < 0x80 || promql__unicode_is_print(r)))
        snprintf(out, cap, "U+%04X '%.*s'", (unsigned)r, (int)(n ? n : 1), lx->text + pos);
    else
        snprintf(out, cap, "U+%04X", (unsigned)r);
}

/* Go's %q of the rune at pos (strconv.QuoteRune) into out (>= 16 bytes). */
static void quote_char(const promql__lexer_t *lx, size_t pos, char *out, size_t cap) {
    int c = peek_at(lx, pos);
    uint32_t r = (uint32_t)c;
    size_t n = 1;
    if (c < 0) {
        snprintf(out, cap, "EOF");
        return;
    }
    if (c >= 0x80) {
        n = promql__utf8_decode((const unsigned char *)lx->text + pos, lx->len - pos, &r);
        if (n == 0) r = 0xFFFD, n = 1;
    }
    static const char esc[] = "\\a\\b\\f\\n\\r\\t\\v";
    if (r == '\'' || r == '\\') snprintf(out, cap, "'\\%c'", (char)r);
    else if (r >= 0x07 && r <= 0x0d) snprintf(out, cap, "'%.2s'", esc + 2 * (r - 0x07));
    else if (r < 0x20 || r == 0x7f) snprintf(out, cap, "'\\x%02x'", (unsigned)r);
    else if (r < 0x80) snprintf(out, cap, "'%c'", (char)r);
    else if (r != 0xFFFD && promql__unicode_is_print(r)) snprintf(out, cap, "'%.*s'", (int)n, lx->text + pos);
    else if (r < 0x10000) snprintf(out, cap, "'\\u%04x'", (unsigned)r);
    else snprintf(out, cap, "'\\U%08x'", (unsigned)r);
}

static promql__tok_t tok(promql__tok_type_t type, size_t start, size_t end) {
    promql__tok_t t = {type, (uint32_t)start, (uint32_t)(end - start)};
    return t;
}

__attribute__((format(printf, 3, 4))) static promql__tok_t lex_error(promql__lexer_t *lx, size_t start,
                                                                     const char *fmt, ...) {
    if (lx->err && lx->err->code == 0) {
        char msg[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        vg_error_set_pos(lx->err, VG_EINVAL, (long)start, (long)(lx->pos > start ? lx->pos : start + 1), "%s", msg);
    }
    lx->pos = lx->len;
    lx->brace_open = lx->bracket_open = false;
    lx->paren_depth = 0;
    return tok(PROMQL__T_ERROR, start, start);
}

/* Prometheus' scanNumber: digits (hex after 0x), fraction, exponent; true when no letter follows. */
static bool scan_number(promql__lexer_t *lx) {
    const char *digits = "0123456789";
    if (accept(lx, "0") && accept(lx, "xX")) digits = "0123456789abcdefABCDEF";
    accept_run(lx, digits);
    if (accept(lx, ".")) accept_run(lx, digits);
    if (accept(lx, "eE")) {
        accept(lx, "+-");
        accept_run(lx, "0123456789");
    }
    return !is_alnum(peek(lx));
}

/* Prometheus' acceptRemainingDuration: units after the first number, then no letter or digit. */
static bool accept_remaining_duration(promql__lexer_t *lx) {
    if (!accept(lx, "smhdwy")) return false;
    accept(lx, "s");
    while (accept(lx, "0123456789")) {
        accept_run(lx, "0123456789");
        if (!accept(lx, "smhdw")) return false;
        accept(lx, "s");
    }
    return !is_alnum(peek(lx));
}

static const struct {
    const char *word;
    promql__tok_type_t type;
} keywords[] = {
    {"and", PROMQL__T_LAND},
    {"or", PROMQL__T_LOR},
    {"unless", PROMQL__T_LUNLESS},
    {"atan2", PROMQL__T_ATAN2},
    {"sum", PROMQL__T_SUM},
    {"avg", PROMQL__T_AVG},
    {"count", PROMQL__T_COUNT},
    {"min", PROMQL__T_MIN},
    {"max", PROMQL__T_MAX},
    {"group", PROMQL__T_GROUP},
    {"stddev", PROMQL__T_STDDEV},
    {"stdvar", PROMQL__T_STDVAR},
    {"topk", PROMQL__T_TOPK},
    {"bottomk", PROMQL__T_BOTTOMK},
    {"count_values", PROMQL__T_COUNT_VALUES},
    {"quantile", PROMQL__T_QUANTILE},
    {"offset", PROMQL__T_OFFSET},
    {"by", PROMQL__T_BY},
    {"without", PROMQL__T_WITHOUT},
    {"on", PROMQL__T_ON},
    {"ignoring", PROMQL__T_IGNORING},
    {"group_left", PROMQL__T_GROUP_LEFT},
    {"group_right", PROMQL__T_GROUP_RIGHT},
    {"bool", PROMQL__T_BOOL},
    {"start", PROMQL__T_START},
    {"end", PROMQL__T_END},
    {"inf", PROMQL__T_NUMBER},
    {"nan", PROMQL__T_NUMBER},
};

static bool word_eq_ci(const char *w, size_t n, const char *kw) {
    size_t i = 0;
    for (; i < n; i++) {
        char c = w[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (kw[i] == '\0' || kw[i] != c) return false;
    }
    return kw[i] == '\0';
}

static promql__tok_t lex_word(promql__lexer_t *lx, size_t start) {
    bool colon = false;
    for (;;) {
        int c = peek(lx);
        if (c == ':') colon = true;
        else if (!is_alnum(c)) break;
        lx->pos++;
    }
    size_t n = lx->pos - start;
    const char *w = lx->text + start;
    if (n <= 12) {
        for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++)
            if (word_eq_ci(w, n, keywords[i].word)) return tok(keywords[i].type, start, lx->pos);
    }
    return tok(colon ? PROMQL__T_METRIC_IDENT : PROMQL__T_IDENT, start, lx->pos);
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return 99;
}

/* After a backslash inside a quoted string: validates one escape as Prometheus' lexEscape does. */
static bool lex_escape(promql__lexer_t *lx, int quote, size_t start) {
    int c = peek(lx);
    int n = 0;
    uint32_t base = 0, max = 0;
    if (c < 0) {
        lex_error(lx, start, "escape sequence not terminated");
        return false;
    }
    lx->pos++;
    switch (c) {
    case 'a': case 'b': case 'f': case 'n': case 'r': case 't': case 'v': case '\\':
        return true;
    case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7':
        n = 3, base = 8, max = 255;
        lx->pos--;
        break;
    case 'x': n = 2, base = 16, max = 255; break;
    case 'u': n = 4, base = 16, max = 0x10FFFF; break;
    case 'U': n = 8, base = 16, max = 0x10FFFF; break;
    default:
        if (c == quote) return true;
        {
            char q[24];
            unicode_char(lx, lx->pos - 1, q, sizeof q);
            lex_error(lx, start, "unknown escape sequence %s", q);
        }
        return false;
    }
    uint32_t x = 0;
    for (; n > 0; n--) {
        int d = peek(lx);
        uint32_t v = d < 0 ? 99 : (uint32_t)hexval(d);
        if (v >= base) {
            if (d < 0) {
                lex_error(lx, start, "escape sequence not terminated");
            } else {
                char q[24];
                unicode_char(lx, lx->pos, q, sizeof q);
                lex_error(lx, start, "illegal character %s in escape sequence", q);
            }
            return false;
        }
        x = x * base + v;
        lx->pos++;
    }
    if (x > max || (x >= 0xD800 && x < 0xE000)) {
        lex_error(lx, start, "escape sequence is an invalid Unicode code point");
        return false;
    }
    return true;
}

static promql__tok_t lex_string(promql__lexer_t *lx, size_t start, int quote) {
    for (;;) {
        int c = peek(lx);
        if (c < 0 || (c == '\n' && quote != '`')) {
            return lex_error(lx, start, "%s", quote == '`' ? "unterminated raw string" : "unterminated quoted string");
        }
        lx->pos++;
        if (c == quote) return tok(PROMQL__T_STRING, start, lx->pos);
        if (c == '\\' && quote != '`') {
            if (!lex_escape(lx, quote, start)) return tok(PROMQL__T_ERROR, start, start);
        }
    }
}

static void skip_blank(promql__lexer_t *lx) {
    for (;;) {
        int c = peek(lx);
        if (is_space(c)) {
            lx->pos++;
        } else if (c == '#') {
            while (lx->pos < lx->len && lx->text[lx->pos] != '\n') lx->pos++;
        } else {
            return;
        }
    }
}

static promql__tok_t lex_inside_braces(promql__lexer_t *lx, size_t start, int c) {
    char q[24];
    lx->pos++;
    if (is_alpha(c)) {
        while (is_alnum(peek(lx))) lx->pos++;
        return tok(PROMQL__T_IDENT, start, lx->pos);
    }
    switch (c) {
    case ',': return tok(PROMQL__T_COMMA, start, lx->pos);
    case '"': case '\'': case '`': return lex_string(lx, start, c);
    case '=':
        if (accept(lx, "~")) return tok(PROMQL__T_EQL_REGEX, start, lx->pos);
        return tok(PROMQL__T_EQL, start, lx->pos);
    case '!':
        if (accept(lx, "~")) return tok(PROMQL__T_NEQ_REGEX, start, lx->pos);
        if (accept(lx, "=")) return tok(PROMQL__T_NEQ, start, lx->pos);
        quote_char(lx, lx->pos, q, sizeof q);
        return lex_error(lx, start, "unexpected character after '!' inside braces: %s", q);
    case '{': return lex_error(lx, start, "unexpected left brace %s", "'{'");
    case '}':
        lx->brace_open = false;
        return tok(PROMQL__T_RBRACE, start, lx->pos);
    default:
        quote_char(lx, start, q, sizeof q);
        return lex_error(lx, start, "unexpected character inside braces: %s", q);
    }
}

promql__tok_t promql__lex_next(promql__lexer_t *lx) {
    char q[24];
    if (lx->err && lx->err->code) return tok(PROMQL__T_ERROR, lx->pos, lx->pos);
    skip_blank(lx);
    size_t start = lx->pos;
    int c = peek(lx);
    if (c < 0) {
        if (lx->brace_open) return lex_error(lx, start, "unexpected end of input inside braces");
        if (lx->paren_depth > 0) return lex_error(lx, start, "unclosed left parenthesis");
        if (lx->bracket_open) return lex_error(lx, start, "unclosed left bracket");
        return tok(PROMQL__T_EOF, start, start);
    }
    if (lx->brace_open) return lex_inside_braces(lx, start, c);
    if (lx->after_lbracket) {
        lx->after_lbracket = false;
        if (scan_number(lx)) return lex_error(lx, start, "missing unit character in duration");
        if (!accept_remaining_duration(lx)) {
            char msg[64];
            size_t n = lx->pos - start;
            snprintf(msg, sizeof msg, "\"%.*s\"", (int)(n > 40 ? 40 : n), lx->text + start);
            return lex_error(lx, start, "bad duration syntax: %s", msg);
        }
        return tok(PROMQL__T_DURATION, start, lx->pos);
    }
    if (is_digit(c) || (c == '.' && is_digit(peek_at(lx, start + 1)))) {
        if (scan_number(lx)) return tok(PROMQL__T_NUMBER, start, lx->pos);
        if (accept_remaining_duration(lx)) return tok(PROMQL__T_DURATION, start, lx->pos);
        char msg[64];
        size_t n = lx->pos - start;
        snprintf(msg, sizeof msg, "\"%.*s\"", (int)(n > 40 ? 40 : n), lx->text + start);
        return lex_error(lx, start, "bad number or duration syntax: %s", msg);
    }
    if (is_alpha(c) || (c == ':' && !lx->bracket_open)) return lex_word(lx, start);
    lx->pos++;
    switch (c) {
    case ',': return tok(PROMQL__T_COMMA, start, lx->pos);
    case '*': return tok(PROMQL__T_MUL, start, lx->pos);
    case '/': return tok(PROMQL__T_DIV, start, lx->pos);
    case '%': return tok(PROMQL__T_MOD, start, lx->pos);
    case '+': return tok(PROMQL__T_ADD, start, lx->pos);
    case '-': return tok(PROMQL__T_SUB, start, lx->pos);
    case '^': return tok(PROMQL__T_POW, start, lx->pos);
    case '@': return tok(PROMQL__T_AT, start, lx->pos);
    case '=':
        if (accept(lx, "=")) return tok(PROMQL__T_EQLC, start, lx->pos);
        if (peek(lx) == '~') return lex_error(lx, start, "unexpected character after '=': %s", "'~'");
        return tok(PROMQL__T_EQL, start, lx->pos);
    case '!':
        if (accept(lx, "=")) return tok(PROMQL__T_NEQ, start, lx->pos);
        quote_char(lx, lx->pos, q, sizeof q);
        return lex_error(lx, start, "unexpected character after '!': %s", q);
    case '<':
        if (accept(lx, "=")) return tok(PROMQL__T_LTE, start, lx->pos);
        return tok(PROMQL__T_LSS, start, lx->pos);
    case '>':
        if (accept(lx, "=")) return tok(PROMQL__T_GTE, start, lx->pos);
        return tok(PROMQL__T_GTR, start, lx->pos);
    case '"': case '\'': case '`': return lex_string(lx, start, c);
    case ':':
        if (lx->got_colon) return lex_error(lx, start, "unexpected colon %s", "':'");
        lx->got_colon = true;
        return tok(PROMQL__T_COLON, start, lx->pos);
    case '(':
        lx->paren_depth++;
        return tok(PROMQL__T_LPAREN, start, lx->pos);
    case ')':
        if (--lx->paren_depth < 0) return lex_error(lx, start + 1, "unexpected right parenthesis %s", "')'");
        return tok(PROMQL__T_RPAREN, start, lx->pos);
    case '{':
        lx->brace_open = true;
        return tok(PROMQL__T_LBRACE, start, lx->pos);
    case '[':
        if (lx->bracket_open) return lex_error(lx, start, "unexpected left bracket %s", "'['");
        lx->got_colon = false;
        lx->bracket_open = true;
        lx->after_lbracket = true;
        {
            promql__tok_t t = tok(PROMQL__T_LBRACKET, start, lx->pos);
            skip_blank(lx);
            return t;
        }
    case ']':
        if (!lx->bracket_open) return lex_error(lx, start, "unexpected right bracket %s", "']'");
        lx->bracket_open = false;
        return tok(PROMQL__T_RBRACKET, start, lx->pos);
    default:
        quote_char(lx, start, q, sizeof q);
        return lex_error(lx, start, "unexpected character: %s", q);
    }
}

size_t promql__utf8_decode(const unsigned char *s, size_t len, uint32_t *r) {
    if (len == 0) return 0;
    unsigned c = s[0];
    if (c < 0x80) {
        *r = c;
        return 1;
    }
    size_t n;
    uint32_t v, min;
    if ((c & 0xE0) == 0xC0) n = 2, v = c & 0x1F, min = 0x80;
    else if ((c & 0xF0) == 0xE0) n = 3, v = c & 0x0F, min = 0x800;
    else if ((c & 0xF8) == 0xF0) n = 4, v = c & 0x07, min = 0x10000;
    else return 0;
    if (len < n) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v < 0xE000)) return 0;
    *r = v;
    return n;
}

static void put_utf8(char *out, size_t *n, uint32_t r) {
    if (r < 0x80) {
        out[(*n)++] = (char)r;
    } else if (r < 0x800) {
        out[(*n)++] = (char)(0xC0 | (r >> 6));
        out[(*n)++] = (char)(0x80 | (r & 0x3F));
    } else if (r < 0x10000) {
        out[(*n)++] = (char)(0xE0 | (r >> 12));
        out[(*n)++] = (char)(0x80 | ((r >> 6) & 0x3F));
        out[(*n)++] = (char)(0x80 | (r & 0x3F));
    } else {
        out[(*n)++] = (char)(0xF0 | (r >> 18));
        out[(*n)++] = (char)(0x80 | ((r >> 12) & 0x3F));
        out[(*n)++] = (char)(0x80 | ((r >> 6) & 0x3F));
        out[(*n)++] = (char)(0x80 | (r & 0x3F));
    }
}

int promql__unquote(const char *s, size_t len, uint32_t pos, vg_arena_t *arena, promql_str_t *out,
                    vg_error_t *err) {
    if (len < 2 || s[0] != s[len - 1]) return vg_error_set_pos(err, VG_EINVAL, pos, pos + (long)len, "invalid string");
    char quote = s[0];
    const char *p = s + 1, *e = s + len - 1;
    /* The decoded text is never longer than the quoted one. */
    char *buf = vg_arena_alloc(arena, len);
    if (!buf) return VG_ENOMEM;
    size_t n = 0;
    if (quote == '`') {
        memcpy(buf, p, (size_t)(e - p));
        n = (size_t)(e - p);
    } else {
        while (p < e) {
            if (*p != '\\') {
                buf[n++] = *p++;
                continue;
            }
            p++;
            char c = *p++;
            switch (c) {
            case 'a': buf[n++] = '\a'; break;
            case 'b': buf[n++] = '\b'; break;
            case 'f': buf[n++] = '\f'; break;
            case 'n': buf[n++] = '\n'; break;
            case 'r': buf[n++] = '\r'; break;
            case 't': buf[n++] = '\t'; break;
            case 'v': buf[n++] = '\v'; break;
            case '\\': buf[n++] = '\\'; break;
            case '\'': case '"': buf[n++] = c; break;
            case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7': {
                unsigned v = (unsigned)(c - '0');
                for (int i = 0; i < 2; i++) v = v * 8 + (unsigned)(*p++ - '0');
                buf[n++] = (char)v;
                break;
            }
            case 'x': {
                unsigned v = (unsigned)(hexval(p[0]) * 16 + hexval(p[1]));
                p += 2;
                buf[n++] = (char)v;
                break;
            }
            case 'u': case 'U': {
                int k = c == 'u' ? 4 : 8;
                uint32_t v = 0;
                for (int i = 0; i < k; i++) v = v * 16 + (uint32_t)hexval(*p++);
                put_utf8(buf, &n, v); /* at most 4 bytes for 6 or 10 escape bytes */
                break;
            }
            default:
                return vg_error_set_pos(err, VG_EINVAL, pos, pos + (long)len, "invalid escape in string");
            }
        }
    }
    buf[n] = '\0';
    out->ptr = buf;
    out->len = n;
    return 0;
}
