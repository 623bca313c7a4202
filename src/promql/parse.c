/* The PromQL parser: precedence climbing over the lexer's tokens, building the arena tree that
 * Prometheus 2.42's yacc grammar builds, then the type check of its checkAST().
 *
 * Grammar facts kept here: postfix modifiers ([range], [range:step], offset, @) bind tighter than any
 * operator and apply to the primary before them; unary +/- binds like '*' but its operand absorbs '^'
 * ("-2^2" is -(2^2)); '^' is right-associative, all other binary operators left-associative; a unary
 * sign on a number literal folds into the literal. Invariants: recursion depth and tree height are both
 * bounded by limits.max_depth (checked before descending), so no input overflows the stack; the first
 * error wins and every later step stops. */
#include "promql_int.h"
#include "model/regex.h"

#include "util/timeutil.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct parser {
    promql__lexer_t lx;
    promql__tok_t tok, next;
    bool has_next;
    const char *text;
    size_t len;
    vg_arena_t *arena;
    vg_error_t *err;
    int max_depth;
    size_t max_selectors, n_selectors;
    int depth;
    bool failed;
} parser_t;

enum { PREC_LOR = 1, PREC_LAND, PREC_CMP, PREC_ADD, PREC_MUL, PREC_POW };

/* ---- errors ------------------------------------------------------------------------------------ */

__attribute__((format(printf, 5, 0))) static void vperr(parser_t *p, int code, long pos, long end, const char *fmt, va_list ap) {
    if (p->failed) return;
    p->failed = true;
    char msg[VG_ERROR_MSG_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    int line = 1;
    long last_nl = -1;
    if (pos > (long)p->len) pos = (long)p->len;
    for (long i = 0; i < pos; i++)
        if (p->text[i] == '\n') line++, last_nl = i;
    if (end < pos) end = pos;
    vg_error_set_pos(p->err, code, pos, end, "%d:%ld: parse error: %s", line, pos - last_nl, msg);
}

__attribute__((format(printf, 4, 5))) static void *perr(parser_t *p, long pos, long end, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vperr(p, VG_EINVAL, pos, end, fmt, ap);
    va_end(ap);
    return NULL;
}

__attribute__((format(printf, 4, 5))) static void *perr_limit(parser_t *p, long pos, long end, const char *fmt,
                                                              ...) {
    va_list ap;
    va_start(ap, fmt);
    vperr(p, VG_ETOOLARGE, pos, end, fmt, ap);
    va_end(ap);
    return NULL;
}

static void *oom(parser_t *p) {
    if (!p->failed) {
        p->failed = true;
        vg_error_set(p->err, VG_ENOMEM, "out of memory while parsing the query");
    }
    return NULL;
}

/* Prometheus' Item.desc(): "end of input", `identifier "foo"`, `"("`, `<by>`, ... */
static void tok_desc(const parser_t *p, promql__tok_t t, char *out, size_t cap) {
    const char *s = p->text + t.pos;
    switch (t.type) {
    case PROMQL__T_EOF: snprintf(out, cap, "end of input"); return;
    case PROMQL__T_IDENT: case PROMQL__T_METRIC_IDENT: case PROMQL__T_NUMBER: case PROMQL__T_DURATION: {
        vg_buf_t b = VG_BUF_INIT;
        promql_quote(&b, s, t.len);
        snprintf(out, cap, "%s %s", promql__tok_name(t.type), b.data ? b.data : "\"\"");
        vg_buf_deinit(&b);
        return;
    }
    case PROMQL__T_STRING: {
        vg_buf_t b = VG_BUF_INIT;
        /* Go's %.10q: the first 10 runes, quoted, then "..." */
        size_t n = 0, runes = 0;
        while (n < t.len && runes < 10) {
            uint32_t r;
            size_t k = promql__utf8_decode((const unsigned char *)s + n, t.len - n, &r);
            n += k ? k : 1;
            runes++;
        }
        promql_quote(&b, s, n);
        snprintf(out, cap, "string %s%s", b.data ? b.data : "\"\"", n < t.len ? "..." : "");
        vg_buf_deinit(&b);
        return;
    }
    default:
        if ((t.type >= PROMQL__T_ADD && t.type <= PROMQL__T_ATAN2) || t.type == PROMQL__T_AT)
            snprintf(out, cap, "<op:%.*s>", (int)t.len, s);
        else if (t.type >= PROMQL__T_SUM && t.type <= PROMQL__T_QUANTILE)
            snprintf(out, cap, "<aggr:%.*s>", (int)t.len, s);
        else if (t.type == PROMQL__T_START || t.type == PROMQL__T_END)
            snprintf(out, cap, "\"%.*s\"", (int)t.len, s);
        else if (promql__tok_is_keyword(t.type))
            snprintf(out, cap, "<%.*s>", (int)t.len, s);
        else
            snprintf(out, cap, "\"%s\"", promql__tok_name(t.type));
        return;
    }
}

/* Prometheus' unexpected(context, expected). */
static void *unexpected(parser_t *p, const char *context, const char *expected) {
    if (p->failed) return NULL;
    char d[160];
    tok_desc(p, p->tok, d, sizeof d);
    return perr(p, p->tok.pos, (long)p->tok.pos + (long)(p->tok.len ? p->tok.len : 1), "unexpected %s%s%s%s%s", d,
                context ? " in " : "", context ? context : "", expected ? ", expected " : "",
                expected ? expected : "");
}

/* ---- tokens ------------------------------------------------------------------------------------ */

static void advance(parser_t *p) {
    if (p->has_next) {
        p->tok = p->next;
        p->has_next = false;
    } else {
        p->tok = promql__lex_next(&p->lx);
    }
    if (p->tok.type == PROMQL__T_ERROR && !p->failed) {
        /* The lexer left a bare message; give it Prometheus' "line:col: parse error: " prefix. */
        char msg[VG_ERROR_MSG_MAX];
        long pos = p->err->pos, end = p->err->end;
        snprintf(msg, sizeof msg, "%s", p->err->msg);
        vg_error_clear(p->err);
        perr(p, pos, end, "%s", msg);
    }
}

static promql__tok_t peek_next(parser_t *p) {
    if (!p->has_next) {
        p->next = promql__lex_next(&p->lx);
        p->has_next = true;
    }
    return p->next;
}

static uint32_t tok_end(promql__tok_t t) {
    return t.pos + t.len;
}

/* ---- nodes ------------------------------------------------------------------------------------- */

static promql_node_t *mk(parser_t *p, promql_node_type_t type, uint32_t pos, uint32_t end) {
    promql_node_t *n = vg_arena_calloc(p->arena, 1, sizeof *n);
    if (!n) return oom(p);
    n->type = type;
    n->pos = pos;
    n->end = end;
    n->height = 1;
    return n;
}

/* Raises n's height over child c; false (error set) past the depth limit. */
static bool grow(parser_t *p, promql_node_t *n, const promql_node_t *c) {
    if (c && c->height + 1 > n->height) n->height = c->height + 1;
    if (n->height > (uint32_t)p->max_depth) { /* a property of the expression, so 400 like a syntax error */
        perr(p, n->pos, n->end, "query is nested deeper than the limit of %d", p->max_depth);
        return false;
    }
    return true;
}

static bool enter(parser_t *p) {
    if (++p->depth > p->max_depth) {
        perr(p, p->tok.pos, tok_end(p->tok), "query is nested deeper than the limit of %d", p->max_depth);
        return false;
    }
    return true;
}

static bool str_eq(promql_str_t a, const char *b) {
    size_t n = strlen(b);
    return a.len == n && memcmp(a.ptr, b, n) == 0;
}

static promql_str_t tok_str(parser_t *p, promql__tok_t t) {
    promql_str_t s = {vg_arena_strndup(p->arena, p->text + t.pos, t.len), t.len};
    if (!s.ptr) oom(p);
    return s;
}

/* ---- literals ---------------------------------------------------------------------------------- */

static bool all_in(const char *s, size_t n, const char *set) {
    for (size_t i = 0; i < n; i++)
        if (!strchr(set, s[i])) return false;
    return true;
}

/* Go's strconv.ParseInt(s, 0, 64) for the forms the lexer produces; false when it would fail. */
static bool parse_int(const char *s, size_t n, int64_t *out) {
    unsigned base = 10;
    size_t i = 0;
    if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16, i = 2;
        if (!all_in(s + 2, n - 2, "0123456789abcdefABCDEF")) return false;
    } else if (n > 1 && s[0] == '0') {
        base = 8, i = 1;
        if (!all_in(s + 1, n - 1, "01234567")) return false;
    } else if (n == 0 || !all_in(s, n, "0123456789")) {
        return false;
    }
    uint64_t v = 0;
    for (; i < n; i++) {
        int c = s[i];
        unsigned d = c <= '9' ? (unsigned)(c - '0') : (unsigned)((c | 0x20) - 'a' + 10);
        if (v > (UINT64_MAX - d) / base) return false;
        v = v * base + d;
        if (v > (uint64_t)INT64_MAX) return false;
    }
    *out = (int64_t)v;
    return true;
}

/* A NUMBER token's value as Prometheus computes it (ParseInt base 0, else ParseFloat). */
static bool parse_number(parser_t *p, promql__tok_t t, double *out) {
    const char *s = p->text + t.pos;
    size_t n = t.len;
    int64_t iv;
    if (n == 3 && (s[0] | 0x20) == 'i' && (s[1] | 0x20) == 'n' && (s[2] | 0x20) == 'f') {
        *out = INFINITY;
        return true;
    }
    if (n == 3 && (s[0] | 0x20) == 'n' && (s[1] | 0x20) == 'a' && (s[2] | 0x20) == 'n') {
        *out = NAN;
        return true;
    }
    if (parse_int(s, n, &iv)) {
        *out = (double)iv;
        return true;
    }
    /* decimal float: digits [. digits] [e [+-] digits], at least one mantissa digit */
    size_t i = 0, md = 0;
    bool ok = true;
    while (i < n && s[i] >= '0' && s[i] <= '9') i++, md++;
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++, md++;
    }
    if (md == 0) ok = false;
    if (ok && i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        size_t ed = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++, ed++;
        if (ed == 0) ok = false;
    }
    if (i != n) ok = false;
    if (!ok) {
        perr(p, t.pos, tok_end(t), "error parsing number: strconv.ParseFloat: parsing \"%.*s\": invalid syntax", (int)n,
             s);
        return false;
    }
    char buf[128];
    char *tmp = n < sizeof buf ? buf : malloc(n + 1);
    if (!tmp) {
        oom(p);
        return false;
    }
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    errno = 0;
    double v = strtod(tmp, NULL);
    int e = errno;
    if (tmp != buf) free(tmp);
    if (e == ERANGE && isinf(v)) {
        perr(p, t.pos, tok_end(t), "error parsing number: strconv.ParseFloat: parsing \"%.*s\": value out of range",
             (int)n, s);
        return false;
    }
    *out = v;
    return true;
}

/* A DURATION token as Prometheus' parseDuration: valid syntax and > 0. */
static bool parse_duration(parser_t *p, promql__tok_t t, int64_t *out) {
    if (t.type != PROMQL__T_DURATION) return false;
    if (vg_duration_parse(p->text + t.pos, t.len, out) != 0) {
        perr(p, t.pos, tok_end(t), "not a valid duration string: \"%.*s\"", (int)t.len, p->text + t.pos);
        return false;
    }
    if (*out == 0) {
        perr(p, t.pos, tok_end(t), "duration must be greater than 0");
        return false;
    }
    /* Prometheus holds durations as Go time.Duration (int64 ns); this bound also keeps the engine's
     * time arithmetic (reference time minus offset, range and lookback) clear of int64 overflow */
    if (*out > PROMQL_MAX_DURATION_MS) {
        perr(p, t.pos, tok_end(t), "duration out of range");
        return false;
    }
    return true;
}

/* ---- selectors --------------------------------------------------------------------------------- */

static bool vec_add_matcher(parser_t *p, promql_node_t *vs, promql_matcher_t m, size_t *cap) {
    if (vs->u.vector.n_matchers == *cap) {
        size_t ncap = *cap ? *cap * 2 : 4;
        promql_matcher_t *nm = vg_arena_alloc(p->arena, ncap * sizeof *nm);
        if (!nm) return oom(p), false;
        if (vs->u.vector.n_matchers) memcpy(nm, vs->u.vector.matchers, vs->u.vector.n_matchers * sizeof *nm);
        vs->u.vector.matchers = nm;
        *cap = ncap;
    }
    vs->u.vector.matchers[vs->u.vector.n_matchers++] = m;
    return true;
}

/* Parses `{ ... }` (current token is '{') into vs's matchers. */
static bool parse_label_matchers(parser_t *p, promql_node_t *vs, size_t *cap) {
    advance(p);
    for (;;) {
        if (p->failed) return false;
        if (p->tok.type == PROMQL__T_RBRACE) break;
        if (p->tok.type != PROMQL__T_IDENT) return unexpected(p, "label matching", "identifier or \"}\""), false;
        promql__tok_t name = p->tok;
        advance(p);
        promql_matcher_t m = {0};
        switch (p->tok.type) {
        case PROMQL__T_EQL: m.type = PROMQL_MATCH_EQ; break;
        case PROMQL__T_NEQ: m.type = PROMQL_MATCH_NEQ; break;
        case PROMQL__T_EQL_REGEX: m.type = PROMQL_MATCH_RE; break;
        case PROMQL__T_NEQ_REGEX: m.type = PROMQL_MATCH_NRE; break;
        default: return unexpected(p, "label matching", "label matching operator"), false;
        }
        advance(p);
        if (p->tok.type != PROMQL__T_STRING) return unexpected(p, "label matching", "string"), false;
        m.name = tok_str(p, name);
        int rc = promql__unquote(p->text + p->tok.pos, p->tok.len, p->tok.pos, p->arena, &m.value, p->err);
        if (rc) {
            p->failed = true;
            return false;
        }
        if (m.type == PROMQL_MATCH_RE || m.type == PROMQL_MATCH_NRE) {
            vg_error_t rerr;
            vg_error_clear(&rerr);
            if (model_regex_check(m.value.ptr, m.value.len, NULL, &rerr)) {
                perr(p, name.pos, tok_end(p->tok), "%s", rerr.msg);
                return false;
            }
        }
        if (!vec_add_matcher(p, vs, m, cap)) return false;
        advance(p);
        if (p->tok.type == PROMQL__T_COMMA) {
            advance(p);
            continue;
        }
        if (p->tok.type != PROMQL__T_RBRACE) return unexpected(p, "label matching", "\",\" or \"}\""), false;
    }
    vs->end = tok_end(p->tok);
    advance(p); /* '}' */
    return !p->failed;
}

/* Whether a matcher matches the empty string (a regex that fails to compile counts as matching it). */
static bool matcher_matches_empty(const promql_matcher_t *m) {
    switch (m->type) {
    case PROMQL_MATCH_EQ: return m->value.len == 0;
    case PROMQL_MATCH_NEQ: return m->value.len != 0;
    case PROMQL_MATCH_RE:
    case PROMQL_MATCH_NRE: {
        bool e = false;
        if (model_regex_check(m->value.ptr, m->value.len, &e, NULL)) return true;
        return m->type == PROMQL_MATCH_RE ? e : !e;
    }
    }
    return true;
}

/* Prometheus' checks on a finished vector selector. */
static bool check_vector(parser_t *p, promql_node_t *vs) {
    size_t n = vs->u.vector.n_matchers;
    if (vs->u.vector.name.len) {
        for (size_t i = 0; i + 1 < n; i++) {
            const promql_matcher_t *m = &vs->u.vector.matchers[i];
            if (str_eq(m->name, "__name__")) {
                vg_buf_t a = VG_BUF_INIT, b = VG_BUF_INIT;
                promql_quote(&a, vs->u.vector.name.ptr, vs->u.vector.name.len);
                promql_quote(&b, m->value.ptr, m->value.len);
                perr(p, vs->pos, vs->end, "metric name must not be set twice: %s or %s", a.data ? a.data : "",
                     b.data ? b.data : "");
                vg_buf_deinit(&a);
                vg_buf_deinit(&b);
                return false;
            }
        }
        return true;
    }
    for (size_t i = 0; i < n; i++)
        if (!matcher_matches_empty(&vs->u.vector.matchers[i])) return true;
    perr(p, vs->pos, vs->end, "vector selector must contain at least one non-empty matcher");
    return false;
}

/* A vector selector whose name token (if any) is current, or '{'. */
static promql_node_t *parse_vector_selector(parser_t *p, bool check) {
    promql_node_t *vs = mk(p, PROMQL_NODE_VECTOR, p->tok.pos, tok_end(p->tok));
    if (!vs) return NULL;
    if (++p->n_selectors > p->max_selectors)
        return perr_limit(p, p->tok.pos, tok_end(p->tok), "query has more than %zu selectors", p->max_selectors);
    size_t cap = 0;
    promql__tok_t name = {PROMQL__T_EOF, 0, 0};
    if (p->tok.type != PROMQL__T_LBRACE) {
        name = p->tok;
        vs->u.vector.name = tok_str(p, name);
        if (p->failed) return NULL;
        advance(p);
    }
    if (p->tok.type == PROMQL__T_LBRACE && !parse_label_matchers(p, vs, &cap)) return NULL;
    if (name.len) {
        promql_matcher_t m = {{vg_arena_strndup(p->arena, "__name__", 8), 8}, vs->u.vector.name, PROMQL_MATCH_EQ};
        if (!m.name.ptr) return oom(p);
        if (!vec_add_matcher(p, vs, m, &cap)) return NULL;
    }
    if (check && !check_vector(p, vs)) return NULL;
    return vs;
}

/* ---- expressions ------------------------------------------------------------------------------- */

static promql_node_t *parse_expr(parser_t *p, int min_prec);

static bool is_label_token(promql__tok_type_t t) {
    switch (t) {
    case PROMQL__T_IDENT: case PROMQL__T_METRIC_IDENT: case PROMQL__T_AVG: case PROMQL__T_BOOL:
    case PROMQL__T_BOTTOMK: case PROMQL__T_BY: case PROMQL__T_COUNT: case PROMQL__T_COUNT_VALUES:
    case PROMQL__T_GROUP: case PROMQL__T_GROUP_LEFT: case PROMQL__T_GROUP_RIGHT: case PROMQL__T_IGNORING:
    case PROMQL__T_LAND: case PROMQL__T_LOR: case PROMQL__T_LUNLESS: case PROMQL__T_MAX: case PROMQL__T_MIN:
    case PROMQL__T_OFFSET: case PROMQL__T_ON: case PROMQL__T_QUANTILE: case PROMQL__T_STDDEV:
    case PROMQL__T_STDVAR: case PROMQL__T_SUM: case PROMQL__T_TOPK: case PROMQL__T_START: case PROMQL__T_END:
    case PROMQL__T_ATAN2:
        return true;
    default:
        return false;
    }
}

/* `( label, ... )` of by/without/on/ignoring/group_x; current token must be '('. */
static bool parse_grouping_labels(parser_t *p, promql_str_t **out, size_t *n_out) {
    *out = NULL;
    *n_out = 0;
    if (p->tok.type != PROMQL__T_LPAREN) return unexpected(p, "grouping opts", "\"(\""), false;
    advance(p);
    size_t cap = 0;
    while (!p->failed && p->tok.type != PROMQL__T_RPAREN) {
        if (!is_label_token(p->tok.type)) return unexpected(p, "grouping opts", "label"), false;
        promql_str_t s = tok_str(p, p->tok);
        if (p->failed) return false;
        if (!promql__is_label_name(s.ptr, s.len)) return unexpected(p, "grouping opts", "label"), false;
        if (*n_out == cap) {
            size_t ncap = cap ? cap * 2 : 4;
            promql_str_t *nl = vg_arena_alloc(p->arena, ncap * sizeof *nl);
            if (!nl) return oom(p), false;
            if (*n_out) memcpy(nl, *out, *n_out * sizeof *nl);
            *out = nl;
            cap = ncap;
        }
        (*out)[(*n_out)++] = s;
        advance(p);
        if (p->tok.type == PROMQL__T_COMMA) {
            advance(p);
            continue;
        }
        if (p->tok.type != PROMQL__T_RPAREN) return unexpected(p, "grouping opts", "\",\" or \")\""), false;
    }
    if (p->failed) return false;
    advance(p); /* ')' */
    return !p->failed;
}

/* `( expr, ... )` of calls and aggregations; current token is '('. */
static bool parse_call_args(parser_t *p, promql_node_t ***args, size_t *n_args) {
    *args = NULL;
    *n_args = 0;
    advance(p);
    if (p->tok.type == PROMQL__T_RPAREN) {
        advance(p);
        return !p->failed;
    }
    size_t cap = 0;
    for (;;) {
        promql_node_t *a = parse_expr(p, PREC_LOR);
        if (!a) return false;
        if (*n_args == cap) {
            size_t ncap = cap ? cap * 2 : 4;
            promql_node_t **na = vg_arena_alloc(p->arena, ncap * sizeof *na);
            if (!na) return oom(p), false;
            if (*n_args) memcpy(na, *args, *n_args * sizeof *na);
            *args = na;
            cap = ncap;
        }
        (*args)[(*n_args)++] = a;
        if (p->tok.type == PROMQL__T_COMMA) {
            promql__tok_t comma = p->tok;
            advance(p);
            if (p->tok.type == PROMQL__T_RPAREN) {
                perr(p, comma.pos, tok_end(comma), "trailing commas not allowed in function call args");
                return false;
            }
            continue;
        }
        if (p->tok.type != PROMQL__T_RPAREN) return unexpected(p, NULL, NULL), false;
        advance(p);
        return !p->failed;
    }
}

static promql_op_t agg_op(promql__tok_type_t t) {
    switch (t) {
    case PROMQL__T_SUM: return PROMQL_OP_SUM;
    case PROMQL__T_AVG: return PROMQL_OP_AVG;
    case PROMQL__T_COUNT: return PROMQL_OP_COUNT;
    case PROMQL__T_MIN: return PROMQL_OP_MIN;
    case PROMQL__T_MAX: return PROMQL_OP_MAX;
    case PROMQL__T_GROUP: return PROMQL_OP_GROUP;
    case PROMQL__T_STDDEV: return PROMQL_OP_STDDEV;
    case PROMQL__T_STDVAR: return PROMQL_OP_STDVAR;
    case PROMQL__T_TOPK: return PROMQL_OP_TOPK;
    case PROMQL__T_BOTTOMK: return PROMQL_OP_BOTTOMK;
    case PROMQL__T_COUNT_VALUES: return PROMQL_OP_COUNT_VALUES;
    case PROMQL__T_QUANTILE: return PROMQL_OP_QUANTILE;
    default: return PROMQL_OP_NONE;
    }
}

static bool agg_has_param(promql_op_t op) {
    return op == PROMQL_OP_TOPK || op == PROMQL_OP_BOTTOMK || op == PROMQL_OP_COUNT_VALUES || op == PROMQL_OP_QUANTILE;
}

static promql_node_t *parse_aggregate(parser_t *p) {
    promql__tok_t optok = p->tok;
    promql_node_t *n = mk(p, PROMQL_NODE_AGGREGATE, optok.pos, tok_end(optok));
    if (!n) return NULL;
    n->u.aggregate.op = agg_op(optok.type);
    advance(p);
    bool have_mod = false;
    if (p->tok.type == PROMQL__T_BY || p->tok.type == PROMQL__T_WITHOUT) {
        n->u.aggregate.without = p->tok.type == PROMQL__T_WITHOUT;
        advance(p);
        if (!parse_grouping_labels(p, &n->u.aggregate.grouping, &n->u.aggregate.n_grouping)) return NULL;
        have_mod = true;
    }
    if (p->tok.type != PROMQL__T_LPAREN) return unexpected(p, "aggregation", NULL);
    promql_node_t **args;
    size_t n_args;
    if (!parse_call_args(p, &args, &n_args)) return NULL;
    if (!have_mod && (p->tok.type == PROMQL__T_BY || p->tok.type == PROMQL__T_WITHOUT)) {
        n->u.aggregate.without = p->tok.type == PROMQL__T_WITHOUT;
        advance(p);
        if (!parse_grouping_labels(p, &n->u.aggregate.grouping, &n->u.aggregate.n_grouping)) return NULL;
    }
    n->end = p->tok.pos;
    if (n_args == 0) return perr(p, n->pos, n->end, "no arguments for aggregate expression provided");
    size_t want = agg_has_param(n->u.aggregate.op) ? 2 : 1;
    if (n_args != want)
        return perr(p, n->pos, n->end,
                    "wrong number of arguments for aggregate expression provided, expected %zu, got %zu", want, n_args);
    if (want == 2) {
        n->u.aggregate.param = args[0];
        if (!grow(p, n, args[0])) return NULL;
    }
    n->u.aggregate.expr = args[want - 1];
    if (!grow(p, n, n->u.aggregate.expr)) return NULL;
    return n;
}

static promql_node_t *parse_call(parser_t *p) {
    promql__tok_t name = p->tok;
    const promql_function_t *f = promql_function_lookup(p->text + name.pos, name.len);
    if (!f) return perr(p, name.pos, tok_end(name), "unknown function with name \"%.*s\"", (int)name.len, p->text + name.pos);
    promql_node_t *n = mk(p, PROMQL_NODE_CALL, name.pos, tok_end(name));
    if (!n) return NULL;
    n->u.call.func = f;
    advance(p); /* name; '(' is current */
    if (!parse_call_args(p, &n->u.call.args, &n->u.call.n_args)) return NULL;
    n->end = p->tok.pos;
    for (size_t i = 0; i < n->u.call.n_args; i++)
        if (!grow(p, n, n->u.call.args[i])) return NULL;
    return n;
}

static promql_node_t *parse_primary(parser_t *p) {
    promql__tok_t t = p->tok;
    switch (t.type) {
    case PROMQL__T_NUMBER: {
        double v;
        if (!parse_number(p, t, &v)) return NULL;
        promql_node_t *n = mk(p, PROMQL_NODE_NUMBER, t.pos, tok_end(t));
        if (!n) return NULL;
        n->u.number = v;
        advance(p);
        return n;
    }
    case PROMQL__T_STRING: {
        promql_node_t *n = mk(p, PROMQL_NODE_STRING, t.pos, tok_end(t));
        if (!n) return NULL;
        if (promql__unquote(p->text + t.pos, t.len, t.pos, p->arena, &n->u.string, p->err)) {
            p->failed = true;
            return NULL;
        }
        advance(p);
        return n;
    }
    case PROMQL__T_LPAREN: {
        promql_node_t *n = mk(p, PROMQL_NODE_PAREN, t.pos, tok_end(t));
        if (!n) return NULL;
        advance(p);
        promql_node_t *e = parse_expr(p, PREC_LOR);
        if (!e) return NULL;
        if (p->tok.type != PROMQL__T_RPAREN) return unexpected(p, NULL, NULL);
        n->end = tok_end(p->tok);
        n->u.paren.expr = e;
        if (!grow(p, n, e)) return NULL;
        advance(p);
        return n;
    }
    case PROMQL__T_LBRACE: case PROMQL__T_METRIC_IDENT:
        return parse_vector_selector(p, true);
    case PROMQL__T_IDENT:
        if (peek_next(p).type == PROMQL__T_LPAREN) return parse_call(p);
        return parse_vector_selector(p, true);
    case PROMQL__T_SUM: case PROMQL__T_AVG: case PROMQL__T_COUNT: case PROMQL__T_MIN: case PROMQL__T_MAX:
    case PROMQL__T_GROUP: case PROMQL__T_STDDEV: case PROMQL__T_STDVAR: case PROMQL__T_TOPK: case PROMQL__T_BOTTOMK:
    case PROMQL__T_COUNT_VALUES: case PROMQL__T_QUANTILE: {
        promql__tok_type_t nt = peek_next(p).type;
        if (nt == PROMQL__T_LPAREN || nt == PROMQL__T_BY || nt == PROMQL__T_WITHOUT) return parse_aggregate(p);
        return parse_vector_selector(p, true);
    }
    case PROMQL__T_BY: case PROMQL__T_LAND: case PROMQL__T_LOR: case PROMQL__T_LUNLESS: case PROMQL__T_OFFSET:
    case PROMQL__T_WITHOUT: case PROMQL__T_START: case PROMQL__T_END:
        return parse_vector_selector(p, true);
    default:
        return unexpected(p, NULL, NULL);
    }
}

static promql_time_mods_t *time_mods(promql_node_t *n) {
    switch (n->type) {
    case PROMQL_NODE_VECTOR: return &n->u.vector.mods;
    case PROMQL_NODE_MATRIX: return &n->u.matrix.vector->u.vector.mods;
    case PROMQL_NODE_SUBQUERY: return &n->u.subquery.mods;
    default: return NULL;
    }
}

/* `@ ...` after n; current token is '@'. */
static bool parse_at(parser_t *p, promql_node_t *n) {
    advance(p);
    promql_at_t at;
    double ts = 0;
    if (p->tok.type == PROMQL__T_START || p->tok.type == PROMQL__T_END) {
        at = p->tok.type == PROMQL__T_START ? PROMQL_AT_START : PROMQL_AT_END;
        advance(p);
        if (p->tok.type != PROMQL__T_LPAREN) return unexpected(p, "@", "timestamp"), false;
        advance(p);
        if (p->tok.type != PROMQL__T_RPAREN) return unexpected(p, "@", "timestamp"), false;
    } else {
        bool neg = false;
        if (p->tok.type == PROMQL__T_ADD || p->tok.type == PROMQL__T_SUB) {
            neg = p->tok.type == PROMQL__T_SUB;
            advance(p);
        }
        if (p->tok.type != PROMQL__T_NUMBER) return unexpected(p, "@", "timestamp"), false;
        if (!parse_number(p, p->tok, &ts)) return false;
        if (neg) ts = -ts;
        at = PROMQL_AT_TIME;
        if (isinf(ts) || isnan(ts) || ts >= 9223372036854775807.0 || ts <= -9223372036854775808.0) {
            if (isnan(ts)) perr(p, n->pos, tok_end(p->tok), "timestamp out of bounds for @ modifier: NaN");
            else if (isinf(ts)) perr(p, n->pos, tok_end(p->tok), "timestamp out of bounds for @ modifier: %sInf", ts > 0 ? "+" : "-");
            else perr(p, n->pos, tok_end(p->tok), "timestamp out of bounds for @ modifier: %f", ts);
            return false;
        }
    }
    promql_time_mods_t *m = time_mods(n);
    if (!m) {
        perr(p, n->pos, n->end,
             "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery");
        return false;
    }
    if (m->at != PROMQL_AT_NONE) {
        perr(p, n->pos, n->end, "@ <timestamp> may not be set multiple times");
        return false;
    }
    m->at = at;
    if (at == PROMQL_AT_TIME) {
        /* Go: int64(math.Round(ts * 1000)); out-of-range conversions give INT64_MIN on amd64. */
        double ms = round(ts * 1000.0);
        m->at_ms = (ms >= -9223372036854775808.0 && ms < 9223372036854775808.0) ? (int64_t)ms : INT64_MIN;
    }
    n->end = tok_end(p->tok);
    advance(p);
    return !p->failed;
}

static bool parse_offset(parser_t *p, promql_node_t *n) {
    advance(p);
    bool neg = false;
    if (p->tok.type == PROMQL__T_SUB) {
        neg = true;
        advance(p);
    }
    int64_t d;
    if (p->tok.type != PROMQL__T_DURATION) return unexpected(p, "offset", "duration"), false;
    if (!parse_duration(p, p->tok, &d)) return false;
    promql_time_mods_t *m = time_mods(n);
    if (!m) {
        perr(p, n->pos, n->end,
             "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery");
        return false;
    }
    if (m->offset_ms != 0) {
        perr(p, n->pos, n->end, "offset may not be set multiple times");
        return false;
    }
    m->offset_ms = neg ? -d : d;
    n->end = tok_end(p->tok);
    advance(p);
    return !p->failed;
}

/* `[range]` or `[range:step]` after n; current token is '['. */
static promql_node_t *parse_bracket(parser_t *p, promql_node_t *n) {
    promql__tok_t lb = p->tok;
    advance(p);
    int64_t range, step = 0;
    if (p->tok.type != PROMQL__T_DURATION) return unexpected(p, "range", "duration");
    if (!parse_duration(p, p->tok, &range)) return NULL;
    advance(p);
    if (p->tok.type == PROMQL__T_COLON) {
        advance(p);
        if (p->tok.type == PROMQL__T_DURATION) {
            if (!parse_duration(p, p->tok, &step)) return NULL;
            advance(p);
        }
        if (p->tok.type != PROMQL__T_RBRACKET) return unexpected(p, "subquery selector", "duration or \"]\"");
        promql_node_t *s = mk(p, PROMQL_NODE_SUBQUERY, n->pos, tok_end(p->tok));
        if (!s) return NULL;
        s->u.subquery.expr = n;
        s->u.subquery.range_ms = range;
        s->u.subquery.step_ms = step;
        if (!grow(p, s, n)) return NULL;
        advance(p);
        return p->failed ? NULL : s;
    }
    if (p->tok.type != PROMQL__T_RBRACKET) return unexpected(p, "range", "\"]\"");
    const char *msg = NULL;
    if (n->type != PROMQL_NODE_VECTOR) msg = "ranges only allowed for vector selectors";
    else if (n->u.vector.mods.offset_ms != 0) msg = "no offset modifiers allowed before range";
    else if (n->u.vector.mods.at == PROMQL_AT_TIME) msg = "no @ modifiers allowed before range";
    if (msg) return perr(p, lb.pos, tok_end(p->tok), "%s", msg);
    promql_node_t *m = mk(p, PROMQL_NODE_MATRIX, n->pos, tok_end(p->tok));
    if (!m) return NULL;
    m->u.matrix.vector = n;
    m->u.matrix.range_ms = range;
    if (!grow(p, m, n)) return NULL;
    advance(p);
    return p->failed ? NULL : m;
}

static promql_node_t *parse_postfix(parser_t *p, promql_node_t *n) {
    while (n && !p->failed) {
        switch (p->tok.type) {
        case PROMQL__T_LBRACKET: n = parse_bracket(p, n); break;
        case PROMQL__T_OFFSET:
            if (!parse_offset(p, n)) return NULL;
            break;
        case PROMQL__T_AT:
            if (!parse_at(p, n)) return NULL;
            break;
        default: return n;
        }
    }
    return p->failed ? NULL : n;
}

static promql_node_t *parse_unary(parser_t *p) {
    if (p->tok.type != PROMQL__T_ADD && p->tok.type != PROMQL__T_SUB) return parse_postfix(p, parse_primary(p));
    promql__tok_t op = p->tok;
    advance(p);
    promql_node_t *e = parse_expr(p, PREC_POW); /* counts the recursion depth */
    if (!e) return NULL;
    if (e->type == PROMQL_NODE_NUMBER) {
        if (op.type == PROMQL__T_SUB) e->u.number = -e->u.number;
        e->pos = op.pos;
        return e;
    }
    promql_node_t *n = mk(p, PROMQL_NODE_UNARY, op.pos, e->end);
    if (!n) return NULL;
    n->u.unary.op = op.type == PROMQL__T_SUB ? PROMQL_OP_SUB : PROMQL_OP_ADD;
    n->u.unary.expr = e;
    return grow(p, n, e) ? n : NULL;
}

static promql_op_t bin_op(promql__tok_type_t t, int *prec) {
    switch (t) {
    case PROMQL__T_LOR: *prec = PREC_LOR; return PROMQL_OP_LOR;
    case PROMQL__T_LAND: *prec = PREC_LAND; return PROMQL_OP_LAND;
    case PROMQL__T_LUNLESS: *prec = PREC_LAND; return PROMQL_OP_LUNLESS;
    case PROMQL__T_EQLC: *prec = PREC_CMP; return PROMQL_OP_EQLC;
    case PROMQL__T_NEQ: *prec = PREC_CMP; return PROMQL_OP_NEQ;
    case PROMQL__T_LSS: *prec = PREC_CMP; return PROMQL_OP_LSS;
    case PROMQL__T_LTE: *prec = PREC_CMP; return PROMQL_OP_LTE;
    case PROMQL__T_GTR: *prec = PREC_CMP; return PROMQL_OP_GTR;
    case PROMQL__T_GTE: *prec = PREC_CMP; return PROMQL_OP_GTE;
    case PROMQL__T_ADD: *prec = PREC_ADD; return PROMQL_OP_ADD;
    case PROMQL__T_SUB: *prec = PREC_ADD; return PROMQL_OP_SUB;
    case PROMQL__T_MUL: *prec = PREC_MUL; return PROMQL_OP_MUL;
    case PROMQL__T_DIV: *prec = PREC_MUL; return PROMQL_OP_DIV;
    case PROMQL__T_MOD: *prec = PREC_MUL; return PROMQL_OP_MOD;
    case PROMQL__T_ATAN2: *prec = PREC_MUL; return PROMQL_OP_ATAN2;
    case PROMQL__T_POW: *prec = PREC_POW; return PROMQL_OP_POW;
    default: *prec = 0; return PROMQL_OP_NONE;
    }
}

static promql_node_t *parse_expr(parser_t *p, int min_prec) {
    if (!enter(p)) return NULL;
    promql_node_t *lhs = parse_unary(p);
    while (lhs && !p->failed) {
        int prec;
        promql_op_t op = bin_op(p->tok.type, &prec);
        if (op == PROMQL_OP_NONE || prec < min_prec) break;
        promql_node_t *n = mk(p, PROMQL_NODE_BINARY, lhs->pos, lhs->end);
        if (!n) return NULL;
        n->u.binary.op = op;
        n->u.binary.op_pos = p->tok.pos;
        n->u.binary.has_matching = true;
        n->u.binary.card = PROMQL_CARD_ONE_TO_ONE;
        advance(p);
        if (p->tok.type == PROMQL__T_BOOL) {
            n->u.binary.return_bool = true;
            advance(p);
        }
        if (p->tok.type == PROMQL__T_ON || p->tok.type == PROMQL__T_IGNORING) {
            n->u.binary.on = p->tok.type == PROMQL__T_ON;
            advance(p);
            if (!parse_grouping_labels(p, &n->u.binary.labels, &n->u.binary.n_labels)) return NULL;
            if (p->tok.type == PROMQL__T_GROUP_LEFT || p->tok.type == PROMQL__T_GROUP_RIGHT) {
                n->u.binary.card =
                    p->tok.type == PROMQL__T_GROUP_LEFT ? PROMQL_CARD_MANY_TO_ONE : PROMQL_CARD_ONE_TO_MANY;
                advance(p);
                if (p->tok.type == PROMQL__T_LPAREN &&
                    !parse_grouping_labels(p, &n->u.binary.include, &n->u.binary.n_include))
                    return NULL;
            }
        }
        promql_node_t *rhs = parse_expr(p, op == PROMQL_OP_POW ? prec : prec + 1);
        if (!rhs) return NULL;
        n->u.binary.lhs = lhs;
        n->u.binary.rhs = rhs;
        n->end = rhs->end;
        if (!grow(p, n, lhs) || !grow(p, n, rhs)) return NULL;
        lhs = n;
    }
    p->depth--;
    return p->failed ? NULL : lhs;
}

/* ---- type check (Prometheus' checkAST) --------------------------------------------------------- */

static bool op_is_comparison(promql_op_t op) {
    return op >= PROMQL_OP_EQLC && op <= PROMQL_OP_GTE;
}
static bool op_is_set(promql_op_t op) {
    return op == PROMQL_OP_LAND || op == PROMQL_OP_LOR || op == PROMQL_OP_LUNLESS;
}

promql_value_type_t promql_node_value_type(const promql_node_t *n) {
    for (;;) {
        switch (n->type) {
        case PROMQL_NODE_NUMBER: return PROMQL_TYPE_SCALAR;
        case PROMQL_NODE_STRING: return PROMQL_TYPE_STRING;
        case PROMQL_NODE_VECTOR: case PROMQL_NODE_AGGREGATE: return PROMQL_TYPE_VECTOR;
        case PROMQL_NODE_MATRIX: case PROMQL_NODE_SUBQUERY: return PROMQL_TYPE_MATRIX;
        case PROMQL_NODE_PAREN: n = n->u.paren.expr; break;
        case PROMQL_NODE_UNARY: n = n->u.unary.expr; break;
        case PROMQL_NODE_CALL: return n->u.call.func->return_type;
        case PROMQL_NODE_BINARY:
            return promql_node_value_type(n->u.binary.lhs) == PROMQL_TYPE_SCALAR &&
                           promql_node_value_type(n->u.binary.rhs) == PROMQL_TYPE_SCALAR
                       ? PROMQL_TYPE_SCALAR
                       : PROMQL_TYPE_VECTOR;
        default: return PROMQL_TYPE_NONE;
        }
    }
}

static promql_value_type_t check(parser_t *p, promql_node_t *n);

static void expect_type(parser_t *p, promql_node_t *n, promql_value_type_t want, const char *context) {
    promql_value_type_t t = check(p, n);
    if (!p->failed && t != want)
        perr(p, n->pos, n->end, "expected type %s in %s, got %s", promql_value_type_str(want), context,
             promql_value_type_str(t));
}

static const char *value_type_go(promql_value_type_t t) {
    switch (t) {
    case PROMQL_TYPE_SCALAR: return "scalar";
    case PROMQL_TYPE_VECTOR: return "vector";
    case PROMQL_TYPE_MATRIX: return "matrix";
    case PROMQL_TYPE_STRING: return "string";
    default: return "none";
    }
}

static void check_binary(parser_t *p, promql_node_t *n) {
    promql_value_type_t lt = check(p, n->u.binary.lhs);
    promql_value_type_t rt = check(p, n->u.binary.rhs);
    if (p->failed) return;
    long op_pos = n->u.binary.op_pos, op_end = op_pos + 1;
    promql_op_t op = n->u.binary.op;
    if (n->u.binary.return_bool && !op_is_comparison(op)) {
        perr(p, op_pos, op_end, "bool modifier can only be used on comparison operators");
        return;
    }
    if (op_is_comparison(op) && !n->u.binary.return_bool && lt == PROMQL_TYPE_SCALAR && rt == PROMQL_TYPE_SCALAR) {
        perr(p, op_pos, op_end, "comparisons between scalars must use BOOL modifier");
        return;
    }
    if (op_is_set(op) && n->u.binary.card == PROMQL_CARD_ONE_TO_ONE) n->u.binary.card = PROMQL_CARD_MANY_TO_MANY;
    if (n->u.binary.on) {
        for (size_t i = 0; i < n->u.binary.n_labels; i++)
            for (size_t j = 0; j < n->u.binary.n_include; j++) {
                promql_str_t a = n->u.binary.labels[i], b = n->u.binary.include[j];
                if (a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0) {
                    perr(p, op_pos, op_end, "label \"%s\" must not occur in ON and GROUP clause at once", a.ptr);
                    return;
                }
            }
    }
    if (lt != PROMQL_TYPE_SCALAR && lt != PROMQL_TYPE_VECTOR) {
        perr(p, n->u.binary.lhs->pos, n->u.binary.lhs->end,
             "binary expression must contain only scalar and instant vector types");
        return;
    }
    if (rt != PROMQL_TYPE_SCALAR && rt != PROMQL_TYPE_VECTOR) {
        perr(p, n->u.binary.rhs->pos, n->u.binary.rhs->end,
             "binary expression must contain only scalar and instant vector types");
        return;
    }
    if (lt != PROMQL_TYPE_VECTOR || rt != PROMQL_TYPE_VECTOR) {
        if (n->u.binary.n_labels > 0) {
            perr(p, n->pos, n->end, "vector matching only allowed between instant vectors");
            return;
        }
        n->u.binary.has_matching = false;
        n->u.binary.on = false;
        n->u.binary.card = PROMQL_CARD_ONE_TO_ONE;
        n->u.binary.include = NULL;
        n->u.binary.n_include = 0;
    } else if (op_is_set(op)) {
        if (n->u.binary.card == PROMQL_CARD_ONE_TO_MANY || n->u.binary.card == PROMQL_CARD_MANY_TO_ONE) {
            perr(p, n->pos, n->end, "no grouping allowed for \"%s\" operation", promql_op_str(op));
            return;
        }
    }
    if ((lt == PROMQL_TYPE_SCALAR || rt == PROMQL_TYPE_SCALAR) && op_is_set(op))
        perr(p, n->pos, n->end, "set operator \"%s\" not allowed in binary scalar expression", promql_op_str(op));
}

static void check_call(parser_t *p, promql_node_t *n) {
    const promql_function_t *f = n->u.call.func;
    int na = (int)n->u.call.n_args;
    if (f->variadic == 0) {
        if (f->n_args != na) {
            perr(p, n->pos, n->end, "expected %d argument(s) in call to \"%s\", got %d", f->n_args, f->name, na);
            return;
        }
    } else {
        int min = f->n_args - 1;
        if (min > na) {
            perr(p, n->pos, n->end, "expected at least %d argument(s) in call to \"%s\", got %d", min, f->name, na);
            return;
        }
        if (f->variadic > 0 && min + f->variadic < na) {
            perr(p, n->pos, n->end, "expected at most %d argument(s) in call to \"%s\", got %d", min + f->variadic,
                 f->name, na);
            return;
        }
    }
    char ctx[96];
    snprintf(ctx, sizeof ctx, "call to function \"%s\"", f->name);
    for (int i = 0; i < na && !p->failed; i++) {
        int ti = i;
        if (ti >= f->n_args) {
            if (f->variadic == 0) break;
            ti = f->n_args - 1;
        }
        expect_type(p, n->u.call.args[i], f->arg_types[ti], ctx);
    }
}

static promql_value_type_t check(parser_t *p, promql_node_t *n) {
    if (p->failed) return PROMQL_TYPE_NONE;
    switch (n->type) {
    case PROMQL_NODE_NUMBER: case PROMQL_NODE_STRING: case PROMQL_NODE_VECTOR: break;
    case PROMQL_NODE_MATRIX: check(p, n->u.matrix.vector); break;
    case PROMQL_NODE_PAREN: check(p, n->u.paren.expr); break;
    case PROMQL_NODE_SUBQUERY: {
        promql_value_type_t t = check(p, n->u.subquery.expr);
        if (!p->failed && t != PROMQL_TYPE_VECTOR)
            perr(p, n->pos, n->end, "subquery is only allowed on instant vector, got %s instead", value_type_go(t));
        break;
    }
    case PROMQL_NODE_UNARY: {
        promql_value_type_t t = check(p, n->u.unary.expr);
        if (!p->failed && t != PROMQL_TYPE_SCALAR && t != PROMQL_TYPE_VECTOR)
            perr(p, n->pos, n->end,
                 "unary expression only allowed on expressions of type scalar or instant vector, got \"%s\"",
                 promql_value_type_str(t));
        break;
    }
    case PROMQL_NODE_BINARY: check_binary(p, n); break;
    case PROMQL_NODE_AGGREGATE:
        expect_type(p, n->u.aggregate.expr, PROMQL_TYPE_VECTOR, "aggregation expression");
        if (n->u.aggregate.op == PROMQL_OP_COUNT_VALUES)
            expect_type(p, n->u.aggregate.param, PROMQL_TYPE_STRING, "aggregation parameter");
        else if (n->u.aggregate.param)
            expect_type(p, n->u.aggregate.param, PROMQL_TYPE_SCALAR, "aggregation parameter");
        break;
    case PROMQL_NODE_CALL: check_call(p, n); break;
    }
    return p->failed ? PROMQL_TYPE_NONE : promql_node_value_type(n);
}

/* ---- entry points ------------------------------------------------------------------------------ */

static int setup(parser_t *p, const char *text, size_t len, const promql_limits_t *limits, vg_arena_t *arena,
                 vg_error_t *err) {
    memset(p, 0, sizeof *p);
    p->text = text;
    p->len = len;
    p->arena = arena;
    p->err = err;
    p->max_depth = limits && limits->max_depth > 0 ? limits->max_depth : PROMQL_DEFAULT_MAX_DEPTH;
    p->max_selectors = limits && limits->max_selectors ? limits->max_selectors : PROMQL_DEFAULT_MAX_SELECTORS;
    size_t max_bytes = limits && limits->max_bytes ? limits->max_bytes : PROMQL_DEFAULT_MAX_BYTES;
    if (len > max_bytes) {
        return vg_error_set_pos(err, VG_ETOOLARGE, (long)max_bytes, (long)len,
                                "query is %zu bytes, more than the limit of %zu", len, max_bytes);
    }
    if (len > UINT32_MAX) return vg_error_set(err, VG_ETOOLARGE, "query too long");
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)text[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        uint32_t r;
        size_t k = promql__utf8_decode((const unsigned char *)text + i, len - i, &r);
        if (k == 0) {
            p->failed = false;
            perr(p, (long)i, (long)i + 1, "invalid UTF-8 rune");
            return VG_EINVAL;
        }
        i += k;
    }
    promql__lexer_init(&p->lx, text, len, err);
    advance(p);
    return 0;
}

static int finish(parser_t *p, promql_node_t *root, promql_node_t **out) {
    if (!p->failed && root && p->tok.type != PROMQL__T_EOF) unexpected(p, NULL, NULL);
    if (!p->failed && root) check(p, root);
    if (p->failed || !root) {
        if (p->err && p->err->code == 0) vg_error_set(p->err, VG_EINVAL, "parse error");
        return p->err ? p->err->code : VG_EINVAL;
    }
    *out = root;
    return 0;
}

int promql_parse_ex(const char *text, size_t len, const promql_limits_t *limits, vg_arena_t *arena,
                    promql_node_t **out, vg_error_t *err) {
    vg_error_t local;
    if (!err) err = &local;
    vg_error_clear(err);
    *out = NULL;
    parser_t p;
    int rc = setup(&p, text, len, limits, arena, err);
    if (rc) return rc;
    if (p.tok.type == PROMQL__T_EOF) {
        perr(&p, 0, 0, "no expression found in input");
        return VG_EINVAL;
    }
    promql_node_t *root = parse_expr(&p, PREC_LOR);
    return finish(&p, root, out);
}

int promql_parse(const char *text, size_t len, vg_arena_t *arena, promql_node_t **out, vg_error_t *err) {
    return promql_parse_ex(text, len, NULL, arena, out, err);
}

int promql_parse_selector(const char *text, size_t len, const promql_limits_t *limits, vg_arena_t *arena,
                          promql_node_t **out, vg_error_t *err) {
    vg_error_t local;
    if (!err) err = &local;
    vg_error_clear(err);
    *out = NULL;
    parser_t p;
    int rc = setup(&p, text, len, limits, arena, err);
    if (rc) return rc;
    promql_node_t *root = NULL;
    switch (p.tok.type) {
    case PROMQL__T_LBRACE: case PROMQL__T_IDENT: case PROMQL__T_METRIC_IDENT: case PROMQL__T_SUM: case PROMQL__T_AVG:
    case PROMQL__T_COUNT: case PROMQL__T_MIN: case PROMQL__T_MAX: case PROMQL__T_GROUP: case PROMQL__T_STDDEV:
    case PROMQL__T_STDVAR: case PROMQL__T_TOPK: case PROMQL__T_BOTTOMK: case PROMQL__T_COUNT_VALUES:
    case PROMQL__T_QUANTILE: case PROMQL__T_BY: case PROMQL__T_LAND: case PROMQL__T_LOR: case PROMQL__T_LUNLESS:
    case PROMQL__T_OFFSET: case PROMQL__T_WITHOUT: case PROMQL__T_START: case PROMQL__T_END:
        root = parse_vector_selector(&p, false);
        break;
    default:
        unexpected(&p, NULL, NULL);
        break;
    }
    return finish(&p, root, out);
}
