/* Alert templates, front half: the lexer and parser of Go's text/template subset that Prometheus rule
 * annotations use (template.h lists it), building the syntax tree in template_int.h.
 *
 * The lexer turns the whole text into a token array first (text, delimiters and the tokens inside
 * actions, each with its line, column and whether white space preceded it: Go distinguishes
 * `$x.a` from `$x .a`). Trim markers (`{{- ` and ` -}}`) and comments are handled while lexing, so
 * the parser sees neither. The parser then follows Go's: names of functions and variables are
 * resolved at parse time (an unknown function or variable is a parse error, as in Go), and every
 * error reads "template: NAME:LINE:COL: message" with the position of the offending token. */
#include "template_int.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const tmpl_func_info_t rules__tmpl_funcs[TF__COUNT] = {
    [TF_AND] = {"and", 1, -1},
    [TF_OR] = {"or", 1, -1},
    [TF_NOT] = {"not", 1, 1},
    [TF_EQ] = {"eq", 1, -1},
    [TF_NE] = {"ne", 2, 2},
    [TF_LT] = {"lt", 2, 2},
    [TF_LE] = {"le", 2, 2},
    [TF_GT] = {"gt", 2, 2},
    [TF_GE] = {"ge", 2, 2},
    [TF_LEN] = {"len", 1, 1},
    [TF_INDEX] = {"index", 1, -1},
    [TF_PRINT] = {"print", 0, -1},
    [TF_PRINTF] = {"printf", 1, -1},
    [TF_PRINTLN] = {"println", 0, -1},
    [TF_HTML] = {"html", 0, -1},
    [TF_JS] = {"js", 0, -1},
    [TF_URLQUERY] = {"urlquery", 0, -1},
    [TF_HUMANIZE] = {"humanize", 1, 1},
    [TF_HUMANIZE1024] = {"humanize1024", 1, 1},
    [TF_HUMANIZEDURATION] = {"humanizeDuration", 1, 1},
    [TF_HUMANIZEPERCENTAGE] = {"humanizePercentage", 1, 1},
    [TF_HUMANIZETIMESTAMP] = {"humanizeTimestamp", 1, 1},
    [TF_TITLE] = {"title", 1, 1},
    [TF_TOUPPER] = {"toUpper", 1, 1},
    [TF_TOLOWER] = {"toLower", 1, 1},
    [TF_REREPLACEALL] = {"reReplaceAll", 3, 3},
    [TF_MATCH] = {"match", 2, 2},
    [TF_QUERY] = {"query", 1, 1},
    [TF_FIRST] = {"first", 1, 1},
    [TF_VALUE] = {"value", 1, 1},
    [TF_LABEL] = {"label", 2, 2},
    [TF_SORTBYLABEL] = {"sortByLabel", 2, 2},
    [TF_STRVALUE] = {"strvalue", 1, 1},
    [TF_STRIPPORT] = {"stripPort", 1, 1},
    [TF_SAFEHTML] = {"safeHtml", 1, 1},
    [TF_ARGS] = {"args", 0, -1},
    [TF_PARSEDURATION] = {"parseDuration", 1, 1},
    [TF_TOTIME] = {"toTime", 1, 1},
    [TF_PATHPREFIX] = {"pathPrefix", 0, 0},
    [TF_EXTERNALURL] = {"externalURL", 0, 0},
};

/* ---- lexer ---- */

typedef enum {
    T_EOF, T_TEXT, T_LEFT, T_RIGHT, T_IDENT, T_FIELD, T_DOT, T_VAR, T_STRING, T_NUMBER, T_CHAR, T_BOOL, T_NIL,
    T_PIPE, T_LPAREN, T_RPAREN, T_DECLARE, T_ASSIGN, T_COMMA
} tok_type_t;

typedef struct tok {
    tok_type_t type;
    const char *p; /* source bytes (T_TEXT: after trimming) */
    size_t len;
    int line, col;
    bool space_before;
} tok_t;

typedef struct lexer {
    const char *src, *end, *cur;
    int line;
    const char *line_start;
    tok_t *toks;
    size_t n, cap;
    int paren_depth;
} lexer_t;

typedef struct parser {
    rules_template_t *t;
    const char *name;
    vg_error_t *err;
    tok_t *toks;
    size_t n, i;
    const char **vars; /* declared variables, innermost last */
    size_t n_vars, cap_vars;
    int range_depth;
    int depth;
} parser_t;

static int col_of(const lexer_t *l, const char *p) {
    /* Columns count bytes, as Go's ErrorContext does. */
    return (int)(p - l->line_start) + 1;
}

static void advance(lexer_t *l, const char *to) {
    for (const char *p = l->cur; p < to; p++)
        if (*p == '\n') {
            l->line++;
            l->line_start = p + 1;
        }
    l->cur = to;
}

static int lex_error(lexer_t *l, const char *name, vg_error_t *err, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int lex_error(lexer_t *l, const char *name, vg_error_t *err, const char *at, const char *fmt, ...) {
    advance(l, at);
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line = l->line, col = col_of(l, at);
    vg_error_set_pos(err, VG_EINVAL, at - l->src, at - l->src, "template: %s:%d:%d: %s", name, line, col, msg);
    if (err) {
        err->line = line;
        err->col = col;
    }
    return VG_EINVAL;
}

static int push(lexer_t *l, tok_type_t type, const char *p, size_t len, int line, int col, bool space) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        tok_t *v = realloc(l->toks, cap * sizeof *v);
        if (!v) return VG_ENOMEM;
        l->toks = v;
        l->cap = cap;
    }
    l->toks[l->n++] = (tok_t){type, p, len, line, col, space};
    return 0;
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
static bool is_alnum(char c) { return isalnum((unsigned char)c) || c == '_' || (unsigned char)c >= 0x80; }

/* Does a left delimiter at p carry a trim marker ("{{- " with white space after the dash)? */
static bool left_trim(const char *p, const char *end) {
    return end - p >= 4 && p[2] == '-' && is_space(p[3]);
}

/* At p (inside an action): " -}}" (any white space before the dash) or "}}". Returns the length of
 * the closing delimiter including the marker, 0 if none; *trim tells whether it trims. */
static size_t right_delim(const char *p, const char *end, bool *trim) {
    *trim = false;
    if (end - p >= 2 && p[0] == '}' && p[1] == '}') return 2;
    if (end - p >= 4 && is_space(p[0]) && p[1] == '-' && p[2] == '}' && p[3] == '}') {
        *trim = true;
        return 4;
    }
    return 0;
}

static int lex_action(lexer_t *l, const char *name, vg_error_t *err, bool *trim_next);

/* Lexes the whole text. Trim markers shorten the neighbouring text tokens. */
static int lex(lexer_t *l, const char *name, vg_error_t *err) {
    bool trim_next = false; /* the previous action ended with " -}}" */
    while (l->cur < l->end) {
        const char *open = NULL;
        for (const char *p = l->cur; p + 1 < l->end; p++)
            if (p[0] == '{' && p[1] == '{') {
                open = p;
                break;
            }
        const char *text_end = open ? open : l->end;
        const char *ts = l->cur, *te = text_end;
        if (trim_next)
            while (ts < te && is_space(*ts)) ts++;
        bool ltrim = open && left_trim(open, l->end);
        if (ltrim)
            while (te > ts && is_space(te[-1])) te--;
        if (te > ts) {
            advance(l, ts);
            int rc = push(l, T_TEXT, ts, (size_t)(te - ts), l->line, col_of(l, ts), false);
            if (rc) return rc;
        }
        trim_next = false;
        if (!open) {
            advance(l, l->end);
            break;
        }
        advance(l, open);
        const char *after = open + (ltrim ? 4 : 2);
        /* A comment: "{{" then slash-star (after a trim marker too), closed by star-slash right before the
         * closing delimiter. */
        const char *c = after;
        if (ltrim)
            while (c < l->end && is_space(*c)) c++;
        if (l->end - c >= 2 && c[0] == '/' && c[1] == '*' && (ltrim || c == open + 2)) {
            const char *close = NULL;
            for (const char *p = c + 2; p + 1 < l->end; p++)
                if (p[0] == '*' && p[1] == '/') {
                    close = p;
                    break;
                }
            if (!close) return lex_error(l, name, err, open, "unclosed comment");
            bool trim;
            size_t dl = right_delim(close + 2, l->end, &trim);
            if (!dl) return lex_error(l, name, err, close, "comment ends before closing delimiter");
            trim_next = trim;
            advance(l, close + 2 + dl);
            continue;
        }
        int rc = push(l, T_LEFT, open, 2, l->line, col_of(l, open), false);
        if (rc) return rc;
        advance(l, after);
        rc = lex_action(l, name, err, &trim_next);
        if (rc) return rc;
    }
    return push(l, T_EOF, l->end, 0, l->line, col_of(l, l->end), false);
}

static int lex_number(lexer_t *l, const char *name, vg_error_t *err, bool space) {
    const char *p = l->cur, *s = p;
    if (*p == '+' || *p == '-') p++;
    bool hex = p + 1 < l->end && p[0] == '0' && (p[1] == 'x' || p[1] == 'X');
    while (p < l->end) {
        char c = *p;
        if (is_alnum(c) || c == '.') {
            p++;
        } else if ((c == '+' || c == '-') && p > s &&
                   (hex ? (p[-1] == 'p' || p[-1] == 'P') : (p[-1] == 'e' || p[-1] == 'E'))) {
            p++;
        } else {
            break;
        }
    }
    int rc = push(l, T_NUMBER, s, (size_t)(p - s), l->line, col_of(l, s), space);
    (void)name;
    (void)err;
    advance(l, p);
    return rc;
}

static int lex_action(lexer_t *l, const char *name, vg_error_t *err, bool *trim_next) {
    bool space = false;
    l->paren_depth = 0;
    for (;;) {
        if (l->cur >= l->end) return lex_error(l, name, err, l->end, "unclosed action");
        bool trim;
        size_t dl = right_delim(l->cur, l->end, &trim);
        if (dl) {
            if (l->paren_depth > 0) return lex_error(l, name, err, l->cur, "unclosed left paren");
            const char *d = l->cur + (trim ? 2 : 0);
            advance(l, d);
            int rc = push(l, T_RIGHT, d, 2, l->line, col_of(l, d), space);
            if (rc) return rc;
            advance(l, l->cur + (trim ? 2 : 2));
            *trim_next = trim;
            return 0;
        }
        const char *p = l->cur;
        char c = *p;
        int line = l->line, col = col_of(l, p);
        int rc = 0;
        if (is_space(c)) {
            advance(l, p + 1);
            space = true;
            continue;
        }
        if (c == '|' || c == '(' || c == ')' || c == ',' || c == '=') {
            tok_type_t tt = c == '|' ? T_PIPE : c == '(' ? T_LPAREN : c == ')' ? T_RPAREN : c == ',' ? T_COMMA : T_ASSIGN;
            if (c == '(') l->paren_depth++;
            if (c == ')') l->paren_depth--; /* a stray one is the parser's "unexpected \")\" in command" */
            rc = push(l, tt, p, 1, line, col, space);
            advance(l, p + 1);
        } else if (c == ':') {
            if (p + 1 >= l->end || p[1] != '=') return lex_error(l, name, err, p, "expected :=");
            rc = push(l, T_DECLARE, p, 2, line, col, space);
            advance(l, p + 2);
        } else if (c == '"') {
            const char *q = p + 1;
            for (; q < l->end && *q != '"'; q++) {
                if (*q == '\\' && q + 1 < l->end && q[1] != '\n') {
                    q++;
                } else if (*q == '\n' || (*q == '\\' && q + 1 >= l->end)) {
                    return lex_error(l, name, err, p, "unterminated quoted string");
                }
            }
            if (q >= l->end) return lex_error(l, name, err, p, "unterminated quoted string");
            rc = push(l, T_STRING, p, (size_t)(q + 1 - p), line, col, space);
            advance(l, q + 1);
        } else if (c == '`') {
            const char *q = memchr(p + 1, '`', (size_t)(l->end - p - 1));
            if (!q) return lex_error(l, name, err, p, "unterminated raw quoted string");
            rc = push(l, T_STRING, p, (size_t)(q + 1 - p), line, col, space);
            advance(l, q + 1);
        } else if (c == '\'') {
            const char *q = p + 1;
            for (; q < l->end && *q != '\''; q++) {
                if (*q == '\\' && q + 1 < l->end) q++;
                else if (*q == '\n') break;
            }
            if (q >= l->end || *q != '\'') return lex_error(l, name, err, p, "unterminated character constant");
            rc = push(l, T_CHAR, p, (size_t)(q + 1 - p), line, col, space);
            advance(l, q + 1);
        } else if (c == '$') {
            const char *q = p + 1;
            while (q < l->end && is_alnum(*q)) q++;
            rc = push(l, T_VAR, p, (size_t)(q - p), line, col, space);
            advance(l, q);
        } else if (c == '.') {
            if (p + 1 < l->end && isdigit((unsigned char)p[1])) {
                rc = lex_number(l, name, err, space);
            } else if (p + 1 < l->end && is_alnum(p[1])) {
                const char *q = p + 1;
                while (q < l->end && is_alnum(*q)) q++;
                rc = push(l, T_FIELD, p, (size_t)(q - p), line, col, space);
                advance(l, q);
            } else {
                rc = push(l, T_DOT, p, 1, line, col, space);
                advance(l, p + 1);
            }
        } else if (isdigit((unsigned char)c) ||
                   ((c == '+' || c == '-') && p + 1 < l->end && (isdigit((unsigned char)p[1]) || p[1] == '.'))) {
            rc = lex_number(l, name, err, space);
        } else if (is_alnum(c)) {
            const char *q = p;
            while (q < l->end && is_alnum(*q)) q++;
            size_t n = (size_t)(q - p);
            tok_type_t tt = (n == 4 && !memcmp(p, "true", 4)) || (n == 5 && !memcmp(p, "false", 5)) ? T_BOOL
                            : n == 3 && !memcmp(p, "nil", 3)                                        ? T_NIL
                                                                                                    : T_IDENT;
            rc = push(l, tt, p, n, line, col, space);
            advance(l, q);
        } else {
            if ((unsigned char)c < 0x80 && isprint((unsigned char)c))
                return lex_error(l, name, err, p, "unrecognized character in action: U+%04X '%c'", (unsigned)c, c);
            return lex_error(l, name, err, p, "unrecognized character in action: byte 0x%02X", (unsigned char)c);
        }
        if (rc) return rc;
        space = false;
    }
}

/* ---- parser ---- */

static int perr(parser_t *ps, const tok_t *t, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int perr(parser_t *ps, const tok_t *t, const char *fmt, ...) {
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    vg_error_set(ps->err, VG_EINVAL, "template: %s:%d:%d: %s", ps->name, t->line, t->col, msg);
    if (ps->err) {
        ps->err->line = t->line;
        ps->err->col = t->col;
        ps->err->pos = t->p - ps->toks[0].p;
    }
    return VG_EINVAL;
}

static int nomem(parser_t *ps) { return vg_error_set(ps->err, VG_ENOMEM, "template: %s: out of memory", ps->name); }

static const tok_t *peek(parser_t *ps) { return &ps->toks[ps->i]; }
static const tok_t *next(parser_t *ps) {
    const tok_t *t = &ps->toks[ps->i];
    if (t->type != T_EOF) ps->i++;
    return t;
}

static const char *tok_desc(const tok_t *t, char *buf, size_t cap) {
    switch (t->type) {
    case T_EOF: return "EOF";
    case T_RIGHT: return "}}";
    case T_LEFT: return "{{";
    default: snprintf(buf, cap, "%s%.*s%s", t->type == T_TEXT ? "text " : "\"", (int)(t->len > 40 ? 40 : t->len), t->p,
                      t->type == T_TEXT ? "" : "\"");
        return buf;
    }
}

static bool is_keyword(const tok_t *t, const char *kw) {
    size_t n = strlen(kw);
    return t->type == T_IDENT && t->len == n && !memcmp(t->p, kw, n);
}

static bool var_defined(parser_t *ps, const char *p, size_t len) {
    for (size_t k = ps->n_vars; k-- > 0;)
        if (strlen(ps->vars[k]) == len && !memcmp(ps->vars[k], p, len)) return true;
    return false;
}

static int push_var(parser_t *ps, const char *name) {
    if (ps->n_vars == ps->cap_vars) {
        size_t cap = ps->cap_vars ? ps->cap_vars * 2 : 16;
        const char **v = realloc(ps->vars, cap * sizeof *v);
        if (!v) return nomem(ps);
        ps->vars = v;
        ps->cap_vars = cap;
    }
    ps->vars[ps->n_vars++] = name;
    return 0;
}

static void *pcalloc(parser_t *ps, size_t n) { return vg_arena_calloc(&ps->t->arena, 1, n); }

/* Appends p to a growable array of pointers in the arena (copying when full). */
static int append_ptr(parser_t *ps, void ***v, size_t *n, void *p) {
    if ((*n & (*n - 1)) == 0) { /* 0, 1, 2, 4, ...: grow to the next power of two */
        size_t cap = *n ? *n * 2 : 1;
        void **nv = vg_arena_alloc(&ps->t->arena, cap * sizeof *nv);
        if (!nv) return nomem(ps);
        if (*n) memcpy(nv, *v, *n * sizeof *nv);
        *v = nv;
    }
    (*v)[(*n)++] = p;
    return 0;
}

/* Go's strconv.Unquote of a "..." literal into the arena. */
static int unquote(parser_t *ps, const tok_t *t, char **out, size_t *out_len) {
    char *d = vg_arena_alloc(&ps->t->arena, t->len + 1);
    if (!d) return nomem(ps);
    size_t o = 0;
    if (t->p[0] == '`') {
        memcpy(d, t->p + 1, t->len - 2);
        o = t->len - 2;
    } else {
        for (size_t k = 1; k + 1 < t->len; k++) {
            char c = t->p[k];
            if (c != '\\') {
                d[o++] = c;
                continue;
            }
            c = t->p[++k];
            unsigned long cp = 0;
            int nhex = 0;
            switch (c) {
            case 'a': d[o++] = '\a'; break;
            case 'b': d[o++] = '\b'; break;
            case 'f': d[o++] = '\f'; break;
            case 'n': d[o++] = '\n'; break;
            case 'r': d[o++] = '\r'; break;
            case 't': d[o++] = '\t'; break;
            case 'v': d[o++] = '\v'; break;
            case '\\': d[o++] = '\\'; break;
            case '"': d[o++] = '"'; break;
            case 'x': nhex = 2; break;
            case 'u': nhex = 4; break;
            case 'U': nhex = 8; break;
            default:
                if (c >= '0' && c <= '7' && k + 2 + 1 < t->len && t->p[k + 1] >= '0' && t->p[k + 1] <= '7' &&
                    t->p[k + 2] >= '0' && t->p[k + 2] <= '7') {
                    unsigned v = (unsigned)(c - '0') * 64 + (unsigned)(t->p[k + 1] - '0') * 8 + (unsigned)(t->p[k + 2] - '0');
                    if (v > 255) return perr(ps, t, "invalid syntax");
                    d[o++] = (char)v;
                    k += 2;
                    break;
                }
                return perr(ps, t, "invalid syntax");
            }
            if (nhex) {
                if (k + (size_t)nhex + 1 >= t->len + 0 && k + (size_t)nhex > t->len - 2) return perr(ps, t, "invalid syntax");
                for (int h = 0; h < nhex; h++) {
                    char x = t->p[k + 1 + (size_t)h];
                    if (!isxdigit((unsigned char)x)) return perr(ps, t, "invalid syntax");
                    cp = cp * 16 + (unsigned long)(isdigit((unsigned char)x) ? x - '0' : (tolower((unsigned char)x) - 'a' + 10));
                }
                k += (size_t)nhex;
                if (c == 'x') {
                    d[o++] = (char)cp;
                } else {
                    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return perr(ps, t, "invalid syntax");
                    if (cp < 0x80) {
                        d[o++] = (char)cp;
                    } else if (cp < 0x800) {
                        d[o++] = (char)(0xC0 | (cp >> 6));
                        d[o++] = (char)(0x80 | (cp & 0x3F));
                    } else if (cp < 0x10000) {
                        d[o++] = (char)(0xE0 | (cp >> 12));
                        d[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                        d[o++] = (char)(0x80 | (cp & 0x3F));
                    } else {
                        d[o++] = (char)(0xF0 | (cp >> 18));
                        d[o++] = (char)(0x80 | ((cp >> 12) & 0x3F));
                        d[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                        d[o++] = (char)(0x80 | (cp & 0x3F));
                    }
                }
            }
        }
    }
    d[o] = '\0';
    *out = d;
    *out_len = o;
    return 0;
}

/* A number literal: Go's int when it parses as one (base prefixes allowed), else a float64. */
static int parse_number(parser_t *ps, const tok_t *t, tmpl_arg_t *a) {
    char buf[128];
    if (t->len >= sizeof buf) return perr(ps, t, "bad number syntax: \"%.*s\"", 40, t->p);
    size_t n = 0;
    for (size_t k = 0; k < t->len; k++)
        if (t->p[k] != '_') buf[n++] = t->p[k];
    buf[n] = '\0';
    if (t->type == T_CHAR) {
        char *s;
        size_t sl;
        tok_t q = *t;
        char tmp[16];
        if (t->len > 12) return perr(ps, t, "malformed character constant: %.*s", (int)t->len, t->p);
        tmp[0] = '"';
        memcpy(tmp + 1, t->p + 1, t->len - 2);
        tmp[t->len - 1] = '"';
        q.p = tmp;
        int rc = unquote(ps, &q, &s, &sl);
        if (rc) return rc;
        /* decode one UTF-8 code point */
        const unsigned char *u = (const unsigned char *)s;
        int64_t cp = sl ? u[0] : 0;
        if (sl >= 2 && u[0] >= 0xC0) {
            int extra = u[0] >= 0xF0 ? 3 : u[0] >= 0xE0 ? 2 : 1;
            cp = u[0] & (0x3F >> extra);
            for (int k = 1; k <= extra && (size_t)k < sl; k++) cp = (cp << 6) | (u[k] & 0x3F);
        }
        a->is_int = true;
        a->i = cp;
        a->f = (double)cp;
        return 0;
    }
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 0);
    bool octal_like = buf[0] == '0' && n > 1 && isdigit((unsigned char)buf[1]);
    if (*end == '\0' && errno == 0 && !octal_like) {
        a->is_int = true;
        a->i = v;
        a->f = (double)v;
        return 0;
    }
    if (octal_like && *end == '\0') { /* Go reads a leading 0 as octal */
        errno = 0;
        v = strtoll(buf, &end, 8);
        if (*end == '\0' && errno == 0) {
            a->is_int = true;
            a->i = v;
            a->f = (double)v;
            return 0;
        }
    }
    errno = 0;
    double f = strtod(buf, &end);
    bool bad = *end != '\0' || n == 0 || isalpha((unsigned char)buf[n - 1]) || strpbrk(buf, "nN") || strpbrk(buf, "iI");
    if (bad) return perr(ps, t, "bad number syntax: \"%.*s\"", (int)(t->len > 40 ? 40 : t->len), t->p);
    if (!isfinite(f)) return perr(ps, t, "number overflows float64: %.*s", (int)(t->len > 40 ? 40 : t->len), t->p);
    a->is_int = false;
    a->f = f;
    return 0;
}

static int parse_pipeline(parser_t *ps, const char *context, tok_type_t end, bool allow_decl, bool range, tmpl_pipe_t **out);

/* Field names after an operand: adjacent ".a.b" tokens (the first one whatever precedes it when the
 * operand is itself a field). */
static int parse_fields(parser_t *ps, tmpl_arg_t *a) {
    bool first = a->kind == TA_FIELD;
    while (peek(ps)->type == T_FIELD && (first || !peek(ps)->space_before)) {
        first = false;
        const tok_t *f = next(ps);
        char *name = vg_arena_strndup(&ps->t->arena, f->p + 1, f->len - 1);
        if (!name) return nomem(ps);
        int rc = append_ptr(ps, (void ***)&a->fields, &a->n_fields, name);
        if (rc) return rc;
    }
    return 0;
}

static int parse_operand(parser_t *ps, tmpl_arg_t **out) {
    const tok_t *t = peek(ps);
    tmpl_arg_t *a = pcalloc(ps, sizeof *a);
    if (!a) return nomem(ps);
    a->line = t->line;
    a->col = t->col;
    a->src = t->p;
    int rc = 0;
    switch (t->type) {
    case T_IDENT: {
        next(ps);
        int fn = -1;
        for (int k = 0; k < TF__COUNT; k++)
            if (strlen(rules__tmpl_funcs[k].name) == t->len && !memcmp(rules__tmpl_funcs[k].name, t->p, t->len)) fn = k;
        if (fn < 0) return perr(ps, t, "function \"%.*s\" not defined", (int)t->len, t->p);
        a->kind = TA_FUNC;
        a->fn = fn;
        if (peek(ps)->type == T_FIELD && !peek(ps)->space_before) return perr(ps, peek(ps), "unexpected . after term \"%.*s\"", (int)t->len, t->p);
        break;
    }
    case T_DOT:
        next(ps);
        a->kind = TA_DOT;
        if (peek(ps)->type == T_FIELD && !peek(ps)->space_before) return perr(ps, peek(ps), "unexpected . after term \".\"");
        break;
    case T_FIELD:
        a->kind = TA_FIELD;
        rc = parse_fields(ps, a);
        break;
    case T_VAR:
        next(ps);
        if (!var_defined(ps, t->p, t->len)) return perr(ps, t, "undefined variable \"%.*s\"", (int)t->len, t->p);
        a->kind = TA_VAR;
        a->s = vg_arena_strndup(&ps->t->arena, t->p, t->len);
        if (!a->s) return nomem(ps);
        rc = parse_fields(ps, a);
        break;
    case T_STRING: {
        next(ps);
        char *s;
        rc = unquote(ps, t, &s, &a->s_len);
        a->s = s;
        a->kind = TA_STRING;
        break;
    }
    case T_NUMBER:
    case T_CHAR:
        next(ps);
        a->kind = TA_NUMBER;
        rc = parse_number(ps, t, a);
        break;
    case T_BOOL:
        next(ps);
        a->kind = TA_BOOL;
        a->b = t->p[0] == 't';
        break;
    case T_NIL:
        next(ps);
        a->kind = TA_NIL;
        break;
    case T_LPAREN:
        next(ps);
        a->kind = TA_PIPE;
        if (++ps->depth > RULES_TMPL_MAX_DEPTH) return perr(ps, t, "nesting too deep (limit %d)", RULES_TMPL_MAX_DEPTH);
        rc = parse_pipeline(ps, "parenthesized pipeline", T_RPAREN, false, false, &a->pipe);
        ps->depth--;
        if (!rc) rc = parse_fields(ps, a);
        break;
    default:
        *out = NULL;
        return 0;
    }
    if (rc) return rc;
    const tok_t *last = &ps->toks[ps->i - 1];
    a->src_len = (size_t)(last->p + last->len - a->src);
    *out = a;
    return 0;
}

static int parse_command(parser_t *ps, tok_type_t end, tmpl_cmd_t **out) {
    tmpl_cmd_t *c = pcalloc(ps, sizeof *c);
    if (!c) return nomem(ps);
    const tok_t *first = peek(ps);
    c->line = first->line;
    c->col = first->col;
    c->src = first->p;
    for (;;) {
        const tok_t *t = peek(ps);
        if (t->type == end || t->type == T_PIPE) break;
        if (c->n_args > 0 && !t->space_before) {
            char b[64];
            return perr(ps, t, "unexpected %s in operand", tok_desc(t, b, sizeof b));
        }
        tmpl_arg_t *a = NULL;
        int rc = parse_operand(ps, &a);
        if (rc) return rc;
        if (!a) {
            char b[64];
            return perr(ps, t, "unexpected %s in command", tok_desc(t, b, sizeof b));
        }
        rc = append_ptr(ps, (void ***)&c->args, &c->n_args, a);
        if (rc) return rc;
    }
    if (c->n_args == 0) return perr(ps, peek(ps), "missing value for command");
    if (c->args[0]->kind == TA_NIL) return perr(ps, first, "nil is not a command");
    for (size_t k = 1; k < c->n_args; k++)
        if (c->args[0]->kind != TA_FUNC) return perr(ps, first, "can't give argument to non-function %.*s", (int)c->args[0]->src_len, c->args[0]->src);
    const tok_t *last = &ps->toks[ps->i - 1];
    c->src_len = (size_t)(last->p + last->len - c->src);
    *out = c;
    return 0;
}

static int parse_pipeline(parser_t *ps, const char *context, tok_type_t end, bool allow_decl, bool range, tmpl_pipe_t **out) {
    tmpl_pipe_t *p = pcalloc(ps, sizeof *p);
    if (!p) return nomem(ps);
    const tok_t *start = peek(ps);
    p->line = start->line;
    p->col = start->col;
    if (allow_decl && start->type == T_VAR) {
        const tok_t *t1 = &ps->toks[ps->i + 1];
        if (t1->type == T_DECLARE || t1->type == T_ASSIGN || (t1->type == T_COMMA && range)) {
            const tok_t *vars[2] = {start, NULL};
            size_t adv = 2;
            const tok_t *op = t1;
            if (t1->type == T_COMMA) {
                vars[1] = &ps->toks[ps->i + 2];
                op = &ps->toks[ps->i + 3];
                if (vars[1]->type != T_VAR || (op->type != T_DECLARE && op->type != T_ASSIGN))
                    return perr(ps, t1, "range can only initialize variables");
                adv = 4;
            }
            p->assign = op->type == T_ASSIGN;
            p->n_decl = vars[1] ? 2 : 1;
            for (int k = 0; k < p->n_decl; k++) {
                char *name = vg_arena_strndup(&ps->t->arena, vars[k]->p, vars[k]->len);
                if (!name) return nomem(ps);
                p->decl[k] = name;
                if (p->assign) {
                    if (!var_defined(ps, vars[k]->p, vars[k]->len))
                        return perr(ps, vars[k], "undefined variable \"%.*s\"", (int)vars[k]->len, vars[k]->p);
                }
            }
            ps->i += adv;
            /* Declared variables are visible after the pipeline, not inside it (Go's order). */
            if (!p->assign)
                for (int k = 0; k < p->n_decl; k++) {
                    int rc = push_var(ps, p->decl[k]);
                    if (rc) return rc;
                }
        } else if (t1->type == T_COMMA) {
            return perr(ps, t1, "too many declarations in %s", context);
        }
    }
    for (;;) {
        const tok_t *t = peek(ps);
        if (t->type == end) {
            if (p->n_cmds == 0) return perr(ps, t, "missing value for %s", context);
            next(ps);
            break;
        }
        if (t->type == T_EOF) return perr(ps, t, "unclosed action");
        tmpl_cmd_t *c = NULL;
        int rc = parse_command(ps, end, &c);
        if (rc) return rc;
        rc = append_ptr(ps, (void ***)&p->cmds, &p->n_cmds, c);
        if (rc) return rc;
        if (peek(ps)->type == T_PIPE) {
            const tok_t *pipe_tok = next(ps);
            if (peek(ps)->type == end || peek(ps)->type == T_PIPE) return perr(ps, pipe_tok, "missing value for command");
        }
    }
    *out = p;
    return 0;
}

typedef enum { END_EOF, END_END, END_ELSE } list_end_t;

static int parse_list(parser_t *ps, tmpl_node_t **out, list_end_t *how, const tok_t **end_tok);

static int expect_right(parser_t *ps, const char *what) {
    const tok_t *t = peek(ps);
    if (t->type != T_RIGHT) {
        char b[64];
        return perr(ps, t, "unexpected %s in %s", tok_desc(t, b, sizeof b), what);
    }
    next(ps);
    return 0;
}

/* {{if}}, {{range}}, {{with}}: the keyword is consumed; parses through the matching {{end}}. */
static int parse_control(parser_t *ps, tmpl_node_kind_t kind, const tok_t *kw, tmpl_node_t **out) {
    const char *ctx = kind == TN_IF ? "if" : kind == TN_RANGE ? "range" : "with";
    if (++ps->depth > RULES_TMPL_MAX_DEPTH) return perr(ps, kw, "nesting too deep (limit %d)", RULES_TMPL_MAX_DEPTH);
    size_t mark = ps->n_vars;
    tmpl_node_t *n = pcalloc(ps, sizeof *n);
    if (!n) return nomem(ps);
    n->kind = kind;
    n->line = kw->line;
    n->col = kw->col;
    int rc = parse_pipeline(ps, ctx, T_RIGHT, true, kind == TN_RANGE, &n->pipe);
    if (rc) return rc;
    if (kind == TN_RANGE) ps->range_depth++;
    list_end_t how;
    const tok_t *et;
    rc = parse_list(ps, &n->list, &how, &et);
    if (kind == TN_RANGE) ps->range_depth--;
    if (rc) return rc;
    if (how == END_EOF) return perr(ps, et, "unexpected EOF");
    if (how == END_ELSE) {
        /* {{else if ...}} nests an if that shares this control's {{end}}. */
        if (kind == TN_IF && is_keyword(peek(ps), "if")) {
            const tok_t *kw2 = next(ps);
            tmpl_node_t *inner;
            rc = parse_control(ps, TN_IF, kw2, &inner);
            if (rc) return rc;
            n->else_list = inner;
            ps->n_vars = mark;
            ps->depth--;
            *out = n;
            return 0;
        }
        rc = expect_right(ps, "else");
        if (rc) return rc;
        rc = parse_list(ps, &n->else_list, &how, &et);
        if (rc) return rc;
        if (how == END_EOF) return perr(ps, et, "unexpected EOF");
        if (how == END_ELSE) return perr(ps, et, "expected end; found {{else}}");
    }
    ps->n_vars = mark;
    ps->depth--;
    *out = n;
    return 0;
}

/* Parses nodes up to {{end}}, {{else}} (whose keyword is consumed; for else, what follows the keyword
 * is left to the caller) or EOF. */
static int parse_list(parser_t *ps, tmpl_node_t **out, list_end_t *how, const tok_t **end_tok) {
    tmpl_node_t *head = NULL, **tail = &head;
    for (;;) {
        const tok_t *t = next(ps);
        tmpl_node_t *n = NULL;
        if (t->type == T_EOF) {
            *how = END_EOF;
            *end_tok = t;
            break;
        }
        if (t->type == T_TEXT) {
            n = pcalloc(ps, sizeof *n);
            if (!n) return nomem(ps);
            n->kind = TN_TEXT;
            n->text = t->p;
            n->len = t->len;
            n->line = t->line;
            n->col = t->col;
        } else { /* T_LEFT */
            const tok_t *k = peek(ps);
            int rc;
            if (is_keyword(k, "end")) {
                next(ps);
                rc = expect_right(ps, "end");
                if (rc) return rc;
                *how = END_END;
                *end_tok = k;
                break;
            }
            if (is_keyword(k, "else")) {
                next(ps);
                *how = END_ELSE;
                *end_tok = k;
                break;
            }
            if (is_keyword(k, "if") || is_keyword(k, "range") || is_keyword(k, "with")) {
                next(ps);
                rc = parse_control(ps, k->p[0] == 'i' ? TN_IF : k->p[0] == 'r' ? TN_RANGE : TN_WITH, k, &n);
            } else if (is_keyword(k, "break") || is_keyword(k, "continue")) {
                next(ps);
                if (ps->range_depth == 0) return perr(ps, k, "{{%.*s}} outside {{range}}", (int)k->len, k->p);
                rc = expect_right(ps, k->p[0] == 'b' ? "break" : "continue");
                if (!rc) {
                    n = pcalloc(ps, sizeof *n);
                    if (!n) return nomem(ps);
                    n->kind = k->p[0] == 'b' ? TN_BREAK : TN_CONTINUE;
                    n->line = k->line;
                    n->col = k->col;
                }
            } else if (is_keyword(k, "define") || is_keyword(k, "template") || is_keyword(k, "block")) {
                return perr(ps, k, "{{%.*s}} is not supported in alert templates", (int)k->len, k->p);
            } else {
                n = pcalloc(ps, sizeof *n);
                if (!n) return nomem(ps);
                n->kind = TN_ACTION;
                n->line = k->line;
                n->col = k->col;
                rc = parse_pipeline(ps, "command", T_RIGHT, true, false, &n->pipe);
            }
            if (rc) return rc;
        }
        *tail = n;
        tail = &n->next;
    }
    *out = head;
    return 0;
}

/* The variables Prometheus' prefix declares before the user's text. */
static const char *const predeclared[] = {"$", "$labels", "$externalLabels", "$externalURL", "$value"};

int rules_template_parse(const char *name, const char *src, size_t len, rules_template_t **out, vg_error_t *err) {
    *out = NULL;
    rules_template_t *t = calloc(1, sizeof *t);
    if (!t) return vg_error_set(err, VG_ENOMEM, "template: out of memory");
    vg_arena_init(&t->arena, 4096);
    t->name = vg_arena_strndup(&t->arena, name, strlen(name));
    /* The tree points into a copy of the text, so the caller's buffer may go away. */
    char *copy = vg_arena_strndup(&t->arena, src ? src : "", src ? len : 0);
    if (!copy) t->name = NULL;
    src = copy ? copy : "";
    lexer_t l = {.src = src, .end = src + len, .cur = src, .line = 1, .line_start = src};
    parser_t ps = {.t = t, .name = name, .err = err};
    int rc = t->name ? lex(&l, name, err) : VG_ENOMEM;
    if (rc == VG_ENOMEM) vg_error_set(err, VG_ENOMEM, "template: %s: out of memory", name);
    if (rc == 0) {
        ps.toks = l.toks;
        ps.n = l.n;
        for (size_t k = 0; k < sizeof predeclared / sizeof *predeclared && rc == 0; k++) rc = push_var(&ps, predeclared[k]);
        list_end_t how = END_EOF;
        const tok_t *et = NULL;
        if (rc == 0) rc = parse_list(&ps, &t->root, &how, &et);
        if (rc == 0 && how == END_END) rc = perr(&ps, et, "unexpected {{end}}");
        if (rc == 0 && how == END_ELSE) rc = perr(&ps, et, "unexpected {{else}}");
    }
    free(l.toks);
    free(ps.vars);
    if (rc) {
        rules_template_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

void rules_template_free(rules_template_t *t) {
    if (!t) return;
    vg_arena_deinit(&t->arena);
    free(t);
}
