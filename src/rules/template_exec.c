/* Alert templates, back half: executing a parsed template with Go's text/template semantics
 * (missingkey=zero, as Prometheus sets it) and Prometheus' template functions.
 *
 * Values are dynamic (template_int.h); every value produced during one execution lives in an arena
 * freed when rules_template_exec returns. Variables form a stack: a control structure remembers the
 * stack's height and cuts it back at its end, as Go scopes them. Every node, command and range
 * iteration costs one step; output, steps and nesting depth are bounded (template.h), and reaching a
 * bound is an execution error, never a crash. Execution errors read as Go's:
 * "error executing template NAME: template: NAME:LINE:COL: executing "NAME" at <CTX>: message". */
#include "template_int.h"

#include "model/regex.h"
#include "util/timeutil.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct var {
    const char *name;
    tmpl_val_t v;
} var_t;

typedef struct state {
    const rules_template_t *t;
    const rules_tmpl_data_t *d;
    vg_buf_t *out;
    size_t out_start;
    vg_error_t *err;
    vg_arena_t arena;
    var_t *vars;
    size_t n_vars, cap_vars;
    long steps;
    int depth;
    int jump; /* 1: {{break}}, 2: {{continue}} pending */
} state_t;

static int xerr(state_t *st, int code, int line, int col, const char *ctx, size_t ctx_len, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
static int xerr(state_t *st, int code, int line, int col, const char *ctx, size_t ctx_len, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *n = st->t->name;
    if (ctx_len > 60) ctx_len = 60;
    vg_error_set(st->err, code, "error executing template %s: template: %s:%d:%d: executing \"%s\" at <%.*s>: %s", n, n,
                 line, col, n, (int)ctx_len, ctx ? ctx : "", msg);
    if (st->err) {
        st->err->line = line;
        st->err->col = col;
    }
    return code;
}

#define CMD_ERR(st, c, ...) xerr((st), VG_EEXEC, (c)->line, (c)->col, (c)->src, (c)->src_len, __VA_ARGS__)

static int step(state_t *st, int line, int col) {
    if (++st->steps > RULES_TMPL_MAX_STEPS)
        return xerr(st, VG_ELIMIT, line, col, "", 0, "template exceeded %d evaluation steps", RULES_TMPL_MAX_STEPS);
    if (st->out->failed) return vg_error_set(st->err, VG_ENOMEM, "error executing template %s: out of memory", st->t->name);
    if (st->out->len - st->out_start > RULES_TMPL_MAX_OUTPUT)
        return xerr(st, VG_ELIMIT, line, col, "", 0, "output exceeds %d bytes", RULES_TMPL_MAX_OUTPUT);
    return 0;
}

static tmpl_val_t vstr(const char *s, size_t len) { return (tmpl_val_t){.k = TV_STR, .s = s, .len = len}; }
static tmpl_val_t vfloat(double f) { return (tmpl_val_t){.k = TV_FLOAT, .f = f}; }
static tmpl_val_t vbool(bool b) { return (tmpl_val_t){.k = TV_BOOL, .b = b}; }

/* A string built in a scratch buffer, copied into the arena. */
static int vbuf(state_t *st, vg_buf_t *b, tmpl_val_t *out) {
    if (b->failed) {
        vg_buf_deinit(b);
        return vg_error_set(st->err, VG_ENOMEM, "error executing template %s: out of memory", st->t->name);
    }
    char *s = vg_arena_strndup(&st->arena, b->data ? b->data : "", b->len);
    size_t len = b->len;
    vg_buf_deinit(b);
    if (!s) return vg_error_set(st->err, VG_ENOMEM, "error executing template %s: out of memory", st->t->name);
    *out = vstr(s, len);
    return 0;
}

static bool truth(const tmpl_val_t *v) {
    switch (v->k) {
    case TV_NIL: return false;
    case TV_STR: return v->len > 0;
    case TV_FLOAT: return v->f != 0;
    case TV_INT: return v->i != 0;
    case TV_BOOL: return v->b;
    case TV_LABELS:
    case TV_VEC:
    case TV_ARGS: return v->len > 0;
    default: return true;
    }
}

static int push_var(state_t *st, const char *name, tmpl_val_t v) {
    if (st->n_vars == st->cap_vars) {
        size_t cap = st->cap_vars ? st->cap_vars * 2 : 16;
        var_t *nv = realloc(st->vars, cap * sizeof *nv);
        if (!nv) return vg_error_set(st->err, VG_ENOMEM, "error executing template %s: out of memory", st->t->name);
        st->vars = nv;
        st->cap_vars = cap;
    }
    st->vars[st->n_vars++] = (var_t){name, v};
    return 0;
}

static var_t *find_var(state_t *st, const char *name) {
    for (size_t k = st->n_vars; k-- > 0;)
        if (!strcmp(st->vars[k].name, name)) return &st->vars[k];
    return NULL;
}

static const char *label_get(const model_label_t *l, size_t n, const char *name) {
    for (size_t k = 0; k < n; k++)
        if (!strcmp(l[k].name, name)) return l[k].value;
    return NULL;
}

static tmpl_val_t labels_val(const model_label_t *l, size_t n) {
    return (tmpl_val_t){.k = TV_LABELS, .labels = l, .len = n};
}

/* v.name, Go's field or map-key access. */
static int field(state_t *st, const tmpl_arg_t *a, const tmpl_val_t *v, const char *name, tmpl_val_t *out) {
    switch (v->k) {
    case TV_DATA:
        if (!strcmp(name, "Labels")) *out = labels_val(st->d->labels, st->d->n_labels);
        else if (!strcmp(name, "ExternalLabels")) *out = labels_val(st->d->external_labels, st->d->n_external_labels);
        else if (!strcmp(name, "Value")) *out = vfloat(st->d->value);
        else if (!strcmp(name, "ExternalURL")) *out = vstr(st->d->external_url ? st->d->external_url : "", st->d->external_url ? strlen(st->d->external_url) : 0);
        else break;
        return 0;
    case TV_LABELS: {
        const char *s = label_get(v->labels, v->len, name);
        *out = vstr(s ? s : "", s ? strlen(s) : 0); /* missingkey=zero: a missing label is "" */
        return 0;
    }
    case TV_ARGS:
        for (size_t k = 0; k < v->len; k++)
            if (!strcmp(v->kvs[k].key, name)) {
                *out = *v->kvs[k].val;
                return 0;
            }
        *out = (tmpl_val_t){.k = TV_NIL};
        return 0;
    case TV_SAMPLE:
        if (!strcmp(name, "Labels")) *out = labels_val(v->vec->labels, v->vec->n_labels);
        else if (!strcmp(name, "Value")) *out = vfloat(v->vec->value);
        else break;
        return 0;
    case TV_NIL:
        return xerr(st, VG_EEXEC, a->line, a->col, a->src, a->src_len, "nil pointer evaluating interface {}.%s", name);
    default:
        break;
    }
    return xerr(st, VG_EEXEC, a->line, a->col, a->src, a->src_len, "can't evaluate field %s in type %s", name,
                rules__tmpl_type_name(v));
}

static int eval_pipe(state_t *st, const tmpl_pipe_t *p, const tmpl_val_t *dot, bool range, tmpl_val_t *out);
static int call(state_t *st, const tmpl_cmd_t *c, const tmpl_arg_t *fa, const tmpl_val_t *dot, const tmpl_arg_t *const *args,
                size_t n_args, const tmpl_val_t *final, tmpl_val_t *out);

static int eval_arg(state_t *st, const tmpl_cmd_t *c, const tmpl_arg_t *a, const tmpl_val_t *dot, tmpl_val_t *out) {
    tmpl_val_t v = {.k = TV_NIL};
    int rc = 0;
    switch (a->kind) {
    case TA_DOT: v = *dot; break;
    case TA_FIELD: v = *dot; break;
    case TA_VAR: {
        var_t *var = find_var(st, a->s);
        if (!var) return xerr(st, VG_EEXEC, a->line, a->col, a->src, a->src_len, "undefined variable: %s", a->s);
        v = var->v;
        break;
    }
    case TA_FUNC: rc = call(st, c, a, dot, NULL, 0, NULL, &v); break;
    case TA_STRING: v = vstr(a->s, a->s_len); break;
    case TA_NUMBER: v = a->is_int ? (tmpl_val_t){.k = TV_INT, .i = a->i} : vfloat(a->f); break;
    case TA_BOOL: v = vbool(a->b); break;
    case TA_NIL: v = (tmpl_val_t){.k = TV_NIL}; break;
    case TA_PIPE:
        if (++st->depth > RULES_TMPL_MAX_DEPTH)
            return xerr(st, VG_ELIMIT, a->line, a->col, a->src, a->src_len, "nesting deeper than %d", RULES_TMPL_MAX_DEPTH);
        rc = eval_pipe(st, a->pipe, dot, false, &v);
        st->depth--;
        break;
    }
    for (size_t k = 0; rc == 0 && k < a->n_fields; k++) rc = field(st, a, &v, a->fields[k], &v);
    *out = v;
    return rc;
}

/* ---- comparisons (Go's eq/lt with its basic kinds) ---- */

typedef enum { K_INVALID, K_BOOL, K_INT, K_FLOAT, K_STRING, K_OTHER } kind_t;

static kind_t basic_kind(const tmpl_val_t *v) {
    switch (v->k) {
    case TV_NIL: return K_INVALID;
    case TV_BOOL: return K_BOOL;
    case TV_INT: return K_INT;
    case TV_FLOAT: return K_FLOAT;
    case TV_STR: return K_STRING;
    default: return K_OTHER;
    }
}

static int cmp_strings(const tmpl_val_t *a, const tmpl_val_t *b) {
    size_t n = a->len < b->len ? a->len : b->len;
    int r = memcmp(a->s, b->s, n);
    return r ? r : a->len < b->len ? -1 : a->len > b->len;
}

/* 0 and *res, or an error message in *msg. */
static int eq2(const tmpl_val_t *a, const tmpl_val_t *b, bool *res, const char **msg) {
    kind_t ka = basic_kind(a), kb = basic_kind(b);
    if (ka == K_OTHER || kb == K_OTHER) {
        *msg = "invalid type for comparison";
        return -1;
    }
    if (ka != kb) {
        if (ka != K_INVALID && kb != K_INVALID) {
            *msg = "incompatible types for comparison";
            return -1;
        }
        *res = false;
        return 0;
    }
    switch (ka) {
    case K_INVALID: *res = true; break;
    case K_BOOL: *res = a->b == b->b; break;
    case K_INT: *res = a->i == b->i; break;
    case K_FLOAT: *res = a->f == b->f; break;
    case K_STRING: *res = cmp_strings(a, b) == 0; break;
    default: break;
    }
    return 0;
}

static int lt2(const tmpl_val_t *a, const tmpl_val_t *b, bool *res, const char **msg) {
    kind_t ka = basic_kind(a), kb = basic_kind(b);
    if (ka == K_OTHER || kb == K_OTHER || ka == K_BOOL || kb == K_BOOL || ka == K_INVALID || kb == K_INVALID) {
        *msg = "invalid type for comparison";
        return -1;
    }
    if (ka != kb) {
        *msg = "incompatible types for comparison";
        return -1;
    }
    *res = ka == K_INT ? a->i < b->i : ka == K_FLOAT ? a->f < b->f : cmp_strings(a, b) < 0;
    return 0;
}

/* ---- Prometheus' helpers ---- */

/* Go's strconv.ParseFloat error texts. */
static int parse_float(const char *s, size_t len, double *out, char *msg, size_t cap) {
    char buf[128];
    if (len >= sizeof buf || len == 0) goto bad;
    memcpy(buf, s, len);
    buf[len] = '\0';
    for (size_t k = 0; k < len; k++)
        if (isspace((unsigned char)buf[k])) goto bad;
    const char *p = buf;
    if (*p == '+' || *p == '-') p++;
    if (!strcasecmp(p, "inf") || !strcasecmp(p, "infinity")) {
        *out = buf[0] == '-' ? -INFINITY : INFINITY;
        return 0;
    }
    if (!strcasecmp(p, "nan")) {
        if (p != buf) goto bad;
        *out = NAN;
        return 0;
    }
    for (const char *q = p; *q; q++)
        if (!(isxdigit((unsigned char)*q) || *q == '.' || *q == 'e' || *q == 'E' || *q == 'p' || *q == 'P' || *q == '+' ||
              *q == '-' || *q == 'x' || *q == 'X'))
            goto bad;
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (*end) goto bad;
    if (errno == ERANGE && isinf(v)) {
        snprintf(msg, cap, "strconv.ParseFloat: parsing \"%.*s\": value out of range", (int)len, s);
        return -1;
    }
    *out = v;
    return 0;
bad:
    snprintf(msg, cap, "strconv.ParseFloat: parsing \"%.*s\": invalid syntax", (int)(len > 100 ? 100 : len), s);
    return -1;
}

static int to_float(const tmpl_val_t *v, double *out, char *msg, size_t cap) {
    switch (v->k) {
    case TV_FLOAT: *out = v->f; return 0;
    case TV_INT: *out = (double)v->i; return 0;
    case TV_STR: return parse_float(v->s, v->len, out, msg, cap);
    default: snprintf(msg, cap, "can't convert %s to float", rules__tmpl_type_name(v)); return -1;
    }
}

static void sig4(vg_buf_t *b, double v, const char *suffix) {
    tmpl_val_t a = vfloat(v);
    rules__tmpl_sprintf(b, "%.4g", 4, &a, 1);
    vg_buf_puts(b, suffix);
}

static void humanize(vg_buf_t *b, double v) {
    if (v == 0 || isnan(v) || isinf(v)) return sig4(b, v, "");
    static const char *const big[] = {"k", "M", "G", "T", "P", "E", "Z", "Y"};
    static const char *const small[] = {"m", "u", "n", "p", "f", "a", "z", "y"};
    const char *prefix = "";
    if (fabs(v) >= 1) {
        for (size_t k = 0; k < 8 && fabs(v) >= 1000; k++) {
            prefix = big[k];
            v /= 1000;
        }
    } else {
        for (size_t k = 0; k < 8 && fabs(v) < 1; k++) {
            prefix = small[k];
            v *= 1000;
        }
    }
    sig4(b, v, prefix);
}

static void humanize1024(vg_buf_t *b, double v) {
    if (fabs(v) <= 1 || isnan(v) || isinf(v)) return sig4(b, v, "");
    static const char *const pre[] = {"ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"};
    const char *prefix = "";
    for (size_t k = 0; k < 8 && fabs(v) >= 1024; k++) {
        prefix = pre[k];
        v /= 1024;
    }
    sig4(b, v, prefix);
}

/* Go's int64(f) on amd64: out-of-range and NaN become math.MinInt64. */
static int64_t go_int64(double f) {
    if (!(f > -9223372036854775808.0 && f < 9223372036854775808.0)) return INT64_MIN;
    return (int64_t)f;
}

static void humanize_duration(vg_buf_t *b, double v) {
    if (isnan(v) || isinf(v)) return sig4(b, v, "");
    if (v == 0) return sig4(b, v, "s");
    if (fabs(v) >= 1) {
        const char *sign = "";
        if (v < 0) {
            sign = "-";
            v = -v;
        }
        int64_t i = go_int64(v);
        long long seconds = i % 60, minutes = (i / 60) % 60, hours = (i / 60 / 60) % 24, days = i / 60 / 60 / 24;
        if (days) vg_buf_printf(b, "%s%lldd %lldh %lldm %llds", sign, days, hours, minutes, seconds);
        else if (hours) vg_buf_printf(b, "%s%lldh %lldm %llds", sign, hours, minutes, seconds);
        else if (minutes) vg_buf_printf(b, "%s%lldm %llds", sign, minutes, seconds);
        else {
            vg_buf_puts(b, sign);
            sig4(b, v, "s");
        }
        return;
    }
    static const char *const small[] = {"m", "u", "n", "p", "f", "a", "z", "y"};
    const char *prefix = "";
    for (size_t k = 0; k < 8 && fabs(v) < 1; k++) {
        prefix = small[k];
        v *= 1000;
    }
    char suffix[8];
    snprintf(suffix, sizeof suffix, "%ss", prefix);
    sig4(b, v, suffix);
}

/* Prometheus' float seconds → time: NaN/Inf (1) and overflow (-1) are errors; else 0 and ms. */
static int float_to_time(double v, int64_t *ms) {
    if (isnan(v) || isinf(v)) return 1;
    double ns = v * 1e9;
    if (ns >= 9223372036854775808.0 || ns < -9223372036854775808.0) return -1;
    *ms = (int64_t)ns / 1000000; /* model.TimeFromUnixNano: truncated to milliseconds */
    return 0;
}

static bool title_sep(unsigned char c) {
    if (c >= 0x80) return false;
    if (isalnum(c) || c == '_') return false;
    return true;
}

/* net.SplitHostPort's host, or NULL when hp is not host:port. */
static const char *split_host(state_t *st, const char *hp, size_t len, size_t *hlen) {
    if (len > 0 && hp[0] == '[') {
        const char *close = memchr(hp, ']', len);
        if (!close) return NULL;
        size_t after = (size_t)(close - hp) + 1;
        if (after >= len || hp[after] != ':') return NULL;
        if (memchr(hp + after + 1, ':', len - after - 1) || memchr(hp + after + 1, '[', len - after - 1) ||
            memchr(hp + after + 1, ']', len - after - 1))
            return NULL;
        if (memchr(hp + 1, '[', (size_t)(close - hp) - 1)) return NULL;
        *hlen = (size_t)(close - hp) - 1;
        return hp + 1;
    }
    const char *colon = NULL;
    for (size_t k = len; k-- > 0;)
        if (hp[k] == ':') {
            colon = hp + k;
            break;
        }
    if (!colon) return NULL;
    size_t h = (size_t)(colon - hp);
    if (memchr(hp, ':', h) || memchr(hp, '[', len) || memchr(hp, ']', len)) return NULL;
    (void)st;
    *hlen = h;
    return hp;
}

/* Go's regexp (unanchored, leftmost-first) over vigil's anchored regex module: `(?s:.*?)` finds the
 * leftmost start, `(?s:.*)` accepts any rest; from the second search on, one character of context
 * before the search position keeps `^` and `\b` seeing the real text. The match itself is then taken
 * apart by the pattern alone, which yields the groups for `$1` expansion. */
typedef struct go_re {
    model_regex_t *first, *rest, *whole;
    uint32_t n_groups;
} go_re_t;

static void go_re_free(go_re_t *r) {
    model_regex_free(r->first);
    model_regex_free(r->rest);
    model_regex_free(r->whole);
}

/* Copies an error message into msg (cap bytes), cut to fit. */
static void copy_msg(char *msg, size_t cap, const char *src) {
    size_t n = strnlen(src, cap - 1);
    memcpy(msg, src, n);
    msg[n] = '\0';
}

static int go_re_compile(const char *pat, size_t len, go_re_t *r, char *msg, size_t cap) {
    memset(r, 0, sizeof *r);
    vg_error_t e;
    vg_error_clear(&e);
    if (model_regex_check(pat, len, NULL, &e) < 0) {
        /* The regex module quotes its anchored form `^(?:re)$`; Go's unanchored regexp quotes re. */
        char *q = strstr(e.msg, "`^(?:");
        size_t ql = q ? strlen(q) : 0;
        if (q && ql >= 8 && !strcmp(q + ql - 3, ")$`")) {
            memmove(q + 1, q + 5, ql - 5);
            q[ql - 5 + 1 - 3] = '`';
            q[ql - 5 + 1 - 2] = '\0';
        }
        copy_msg(msg, cap, e.msg);
        return -1;
    }
    vg_buf_t b = VG_BUF_INIT;
    vg_buf_puts(&b, "((?s:.*?))(?:");
    vg_buf_append(&b, pat, len);
    vg_buf_puts(&b, ")((?s:.*))");
    vg_buf_t b2 = VG_BUF_INIT;
    vg_buf_puts(&b2, "(?s:.)((?s:.*?))(?:");
    vg_buf_append(&b2, pat, len);
    vg_buf_puts(&b2, ")((?s:.*))");
    int rc = b.failed || b2.failed ? VG_ENOMEM : 0;
    if (!rc) rc = model_regex_new(b.data, b.len, NULL, &r->first, &e);
    if (!rc) rc = model_regex_new(b2.data, b2.len, NULL, &r->rest, &e);
    if (!rc) rc = model_regex_new(pat, len, NULL, &r->whole, &e);
    vg_buf_deinit(&b);
    vg_buf_deinit(&b2);
    if (rc) {
        go_re_free(r);
        copy_msg(msg, cap, e.msg);
        return -1;
    }
    return 0;
}

/* Finds the leftmost match at or after pos: 1 and [*ms, *me), 0 none, <0 undecidable. */
static int go_re_find(const go_re_t *r, const char *s, size_t len, size_t pos, size_t *ms, size_t *me) {
    model_regex_caps_t caps;
    size_t base = pos;
    const model_regex_t *re = r->first;
    if (pos > 0) {
        base = pos - 1;
        while (base > 0 && ((unsigned char)s[base] & 0xC0) == 0x80) base--;
        re = r->rest;
    }
    int rc = model_regex_capture(re, s + base, len - base, &caps);
    if (rc <= 0) return rc;
    /* group 1: the skipped prefix; the last group: the rest after the match */
    uint32_t last = caps.n - 1;
    *ms = base + caps.ov[3];
    *me = base + caps.ov[2 * last];
    return 1;
}

static int fn_re_replace(state_t *st, const tmpl_cmd_t *c, const tmpl_val_t *pat, const tmpl_val_t *repl, const tmpl_val_t *text,
                         tmpl_val_t *out) {
    char msg[300];
    go_re_t r;
    if (go_re_compile(pat->s, pat->len, &r, msg, sizeof msg))
        return CMD_ERR(st, c, "error calling reReplaceAll: regexp: Compile(`%.*s`): %s", (int)(pat->len > 80 ? 80 : pat->len), pat->s, msg);
    vg_buf_t b = VG_BUF_INIT;
    const char *s = text->s;
    size_t len = text->len, last_end = 0, search = 0;
    bool any = false;
    int rc = 0;
    while (search <= len) {
        size_t ms, me;
        rc = go_re_find(&r, s, len, search, &ms, &me);
        if (rc < 0) break;
        if (rc == 0) break;
        rc = 0;
        vg_buf_append(&b, s + last_end, ms - last_end);
        if (me > last_end || ms == 0 || !any) {
            model_regex_caps_t caps;
            int mr = model_regex_capture(r.whole, s + ms, me - ms, &caps);
            if (mr > 0) {
                size_t need = model_regex_expand(r.whole, repl->s, repl->len, &caps, NULL, 0);
                char *dst = malloc(need + 1);
                if (!dst) {
                    rc = VG_ENOMEM;
                    break;
                }
                model_regex_expand(r.whole, repl->s, repl->len, &caps, dst, need + 1);
                vg_buf_append(&b, dst, need);
                free(dst);
            } else {
                vg_buf_append(&b, repl->s, 0);
            }
        }
        any = true;
        last_end = me;
        size_t width = search < len ? 1 : 0;
        if (search < len) {
            unsigned char ch = (unsigned char)s[search];
            width = ch < 0x80 ? 1 : ch >= 0xF0 ? 4 : ch >= 0xE0 ? 3 : ch >= 0xC0 ? 2 : 1;
            if (search + width > len) width = 1;
        }
        if (search + width > me) search += width;
        else if (search + 1 > me) search++;
        else search = me;
        if (b.len > RULES_TMPL_MAX_OUTPUT) break;
    }
    go_re_free(&r);
    if (rc < 0) {
        vg_buf_deinit(&b);
        return CMD_ERR(st, c, "error calling reReplaceAll: regexp match could not be decided");
    }
    vg_buf_append(&b, s + last_end, len - last_end);
    return vbuf(st, &b, out);
}

static int fn_match(state_t *st, const tmpl_cmd_t *c, const tmpl_val_t *pat, const tmpl_val_t *text, tmpl_val_t *out) {
    char msg[300];
    go_re_t r;
    if (go_re_compile(pat->s, pat->len, &r, msg, sizeof msg)) return CMD_ERR(st, c, "error calling match: %s", msg);
    size_t ms, me;
    int rc = go_re_find(&r, text->s, text->len, 0, &ms, &me);
    go_re_free(&r);
    if (rc < 0) return CMD_ERR(st, c, "error calling match: regexp match could not be decided");
    *out = vbool(rc == 1);
    return 0;
}

static int cmp_sample_label(const void *a, const void *b, const char *by) {
    const rules_tmpl_sample_t *x = a, *y = b;
    const char *vx = label_get(x->labels, x->n_labels, by), *vy = label_get(y->labels, y->n_labels, by);
    return strcmp(vx ? vx : "", vy ? vy : "");
}

static bool escape_html(vg_buf_t *b, const char *s, size_t len) {
    for (size_t k = 0; k < len; k++) {
        switch (s[k]) {
        case '"': vg_buf_puts(b, "&#34;"); break;
        case '\'': vg_buf_puts(b, "&#39;"); break;
        case '&': vg_buf_puts(b, "&amp;"); break;
        case '<': vg_buf_puts(b, "&lt;"); break;
        case '>': vg_buf_puts(b, "&gt;"); break;
        case '\0': vg_buf_puts(b, "\xef\xbf\xbd"); break;
        default: vg_buf_putc(b, s[k]);
        }
    }
    return true;
}

static void escape_js(vg_buf_t *b, const char *s, size_t len) {
    for (size_t k = 0; k < len; k++) {
        unsigned char c = (unsigned char)s[k];
        switch (c) {
        case '\\': vg_buf_puts(b, "\\\\"); break;
        case '\'': vg_buf_puts(b, "\\'"); break;
        case '"': vg_buf_puts(b, "\\\""); break;
        case '<': vg_buf_puts(b, "\\u003C"); break;
        case '>': vg_buf_puts(b, "\\u003E"); break;
        case '&': vg_buf_puts(b, "\\u0026"); break;
        case '=': vg_buf_puts(b, "\\u003D"); break;
        default:
            if (c < ' ') vg_buf_printf(b, "\\u%04X", c);
            else vg_buf_putc(b, (char)c);
        }
    }
}

static void escape_query(vg_buf_t *b, const char *s, size_t len) {
    for (size_t k = 0; k < len; k++) {
        unsigned char c = (unsigned char)s[k];
        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') vg_buf_putc(b, (char)c);
        else if (c == ' ') vg_buf_putc(b, '+');
        else vg_buf_printf(b, "%%%02X", c);
    }
}

static int want_string(state_t *st, const tmpl_cmd_t *c, const tmpl_val_t *v) {
    if (v->k == TV_STR) return 0;
    return CMD_ERR(st, c, "wrong type for value; expected string; got %s", rules__tmpl_type_name(v));
}

static int want_sample(state_t *st, const tmpl_cmd_t *c, const char *fn, const tmpl_val_t *v) {
    if (v->k == TV_SAMPLE) return 0;
    if (v->k == TV_NIL) return CMD_ERR(st, c, "error calling %s: runtime error: invalid memory address or nil pointer dereference", fn);
    return CMD_ERR(st, c, "wrong type for value; expected *template.sample; got %s", rules__tmpl_type_name(v));
}

static int want_vec(state_t *st, const tmpl_cmd_t *c, const tmpl_val_t *v) {
    if (v->k == TV_VEC) return 0;
    return CMD_ERR(st, c, "wrong type for value; expected template.queryResult; got %s", rules__tmpl_type_name(v));
}

static int apply(state_t *st, const tmpl_cmd_t *c, int fn, tmpl_val_t *av, size_t n, tmpl_val_t *out) {
    const char *name = rules__tmpl_funcs[fn].name;
    char msg[300];
    vg_buf_t b = VG_BUF_INIT;
    int rc = 0;
    switch (fn) {
    case TF_NOT: *out = vbool(!truth(&av[0])); return 0;
    case TF_EQ:
    case TF_NE: {
        if (fn == TF_EQ && n < 2) return CMD_ERR(st, c, "error calling eq: missing argument for comparison");
        bool res = false;
        const char *m = NULL;
        for (size_t k = 1; k < n; k++) {
            if (eq2(&av[0], &av[k], &res, &m)) return CMD_ERR(st, c, "error calling %s: %s", name, m);
            if (res) break;
        }
        *out = vbool(fn == TF_EQ ? res : !res);
        return 0;
    }
    case TF_LT:
    case TF_LE:
    case TF_GT:
    case TF_GE: {
        bool lt = false, eq = false;
        const char *m = NULL;
        if (lt2(&av[0], &av[1], &lt, &m) || eq2(&av[0], &av[1], &eq, &m)) return CMD_ERR(st, c, "error calling %s: %s", name, m);
        *out = vbool(fn == TF_LT ? lt : fn == TF_LE ? lt || eq : fn == TF_GT ? !(lt || eq) : !lt);
        return 0;
    }
    case TF_LEN:
        if (av[0].k == TV_STR || av[0].k == TV_LABELS || av[0].k == TV_VEC || av[0].k == TV_ARGS) {
            *out = (tmpl_val_t){.k = TV_INT, .i = (int64_t)av[0].len};
            return 0;
        }
        return CMD_ERR(st, c, "error calling len: len of type %s", rules__tmpl_type_name(&av[0]));
    case TF_INDEX: {
        tmpl_val_t v = av[0];
        for (size_t k = 1; k < n; k++) {
            const tmpl_val_t *ix = &av[k];
            if (v.k == TV_LABELS || v.k == TV_ARGS) {
                if (ix->k != TV_STR) return CMD_ERR(st, c, "error calling index: value has type %s; should be string", rules__tmpl_type_name(ix));
                char *key = vg_arena_strndup(&st->arena, ix->s, ix->len);
                if (!key) return VG_ENOMEM;
                tmpl_arg_t fake = {.line = c->line, .col = c->col, .src = c->src, .src_len = c->src_len};
                rc = field(st, &fake, &v, key, &v);
                if (rc) return rc;
            } else if (v.k == TV_VEC || v.k == TV_STR) {
                if (ix->k != TV_INT) return CMD_ERR(st, c, "error calling index: cannot index slice/array with type %s", rules__tmpl_type_name(ix));
                if (ix->i < 0 || (uint64_t)ix->i >= v.len) return CMD_ERR(st, c, "error calling index: index out of range: %lld", (long long)ix->i);
                if (v.k == TV_VEC) v = (tmpl_val_t){.k = TV_SAMPLE, .vec = &v.vec[ix->i]};
                else v = (tmpl_val_t){.k = TV_INT, .i = (unsigned char)v.s[ix->i]};
            } else if (v.k == TV_NIL) {
                return CMD_ERR(st, c, "error calling index: index of untyped nil");
            } else {
                return CMD_ERR(st, c, "error calling index: can't index item of type %s", rules__tmpl_type_name(&v));
            }
        }
        *out = v;
        return 0;
    }
    case TF_PRINT:
    case TF_PRINTLN: rules__tmpl_sprint(&b, av, n, fn == TF_PRINTLN); return vbuf(st, &b, out);
    case TF_PRINTF:
        if (av[0].k != TV_STR) return want_string(st, c, &av[0]);
        rules__tmpl_sprintf(&b, av[0].s, av[0].len, av + 1, n - 1);
        return vbuf(st, &b, out);
    case TF_HTML:
    case TF_JS:
    case TF_URLQUERY: {
        vg_buf_t s = VG_BUF_INIT;
        if (n == 1 && av[0].k == TV_STR) vg_buf_append(&s, av[0].s, av[0].len);
        else rules__tmpl_sprint(&s, av, n, false);
        const char *p = s.data ? s.data : "";
        if (fn == TF_HTML) escape_html(&b, p, s.len);
        else if (fn == TF_JS) escape_js(&b, p, s.len);
        else escape_query(&b, p, s.len);
        vg_buf_deinit(&s);
        return vbuf(st, &b, out);
    }
    case TF_HUMANIZE:
    case TF_HUMANIZE1024:
    case TF_HUMANIZEDURATION:
    case TF_HUMANIZEPERCENTAGE:
    case TF_HUMANIZETIMESTAMP:
    case TF_TOTIME: {
        double v;
        if (to_float(&av[0], &v, msg, sizeof msg)) return CMD_ERR(st, c, "error calling %s: %s", name, msg);
        if (fn == TF_HUMANIZE) humanize(&b, v);
        else if (fn == TF_HUMANIZE1024) humanize1024(&b, v);
        else if (fn == TF_HUMANIZEDURATION) humanize_duration(&b, v);
        else if (fn == TF_HUMANIZEPERCENTAGE) sig4(&b, v * 100, "%");
        else {
            int64_t ms = 0;
            int tr = float_to_time(v, &ms);
            if (tr < 0) {
                vg_buf_t fv = VG_BUF_INIT;
                rules__tmpl_fmt_float_v(&fv, v);
                rc = CMD_ERR(st, c, "error calling %s: %s cannot be represented as a nanoseconds timestamp since it overflows int64", name,
                             fv.data ? fv.data : "");
                vg_buf_deinit(&fv);
                return rc;
            }
            if (fn == TF_TOTIME) {
                if (tr > 0) return CMD_ERR(st, c, "error calling toTime: value is NaN or Inf");
                *out = (tmpl_val_t){.k = TV_TIME, .i = ms};
                return 0;
            }
            if (tr > 0) sig4(&b, v, "");
            else rules__tmpl_fmt_time(&b, ms);
        }
        return vbuf(st, &b, out);
    }
    case TF_TITLE:
    case TF_TOUPPER:
    case TF_TOLOWER: {
        if ((rc = want_string(st, c, &av[0]))) return rc;
        bool prev_sep = true;
        for (size_t k = 0; k < av[0].len; k++) {
            unsigned char ch = (unsigned char)av[0].s[k];
            unsigned char o = ch;
            if (fn == TF_TOUPPER && ch < 0x80) o = (unsigned char)toupper(ch);
            else if (fn == TF_TOLOWER && ch < 0x80) o = (unsigned char)tolower(ch);
            else if (fn == TF_TITLE && prev_sep && ch < 0x80) o = (unsigned char)toupper(ch);
            if (fn == TF_TITLE && (ch < 0x80 || (ch & 0xC0) != 0x80)) prev_sep = title_sep(ch);
            vg_buf_putc(&b, (char)o);
        }
        return vbuf(st, &b, out);
    }
    case TF_REREPLACEALL:
        for (int k = 0; k < 3; k++)
            if ((rc = want_string(st, c, &av[k]))) return rc;
        return fn_re_replace(st, c, &av[0], &av[1], &av[2], out);
    case TF_MATCH:
        for (int k = 0; k < 2; k++)
            if ((rc = want_string(st, c, &av[k]))) return rc;
        return fn_match(st, c, &av[0], &av[1], out);
    case TF_QUERY: {
        if ((rc = want_string(st, c, &av[0]))) return rc;
        if (!st->d->query) return CMD_ERR(st, c, "error calling query: queries are not available here");
        char *q = vg_arena_strndup(&st->arena, av[0].s, av[0].len);
        if (!q) return VG_ENOMEM;
        rules_tmpl_sample_t *res = NULL;
        size_t nres = 0;
        vg_error_t qe;
        vg_error_clear(&qe);
        rc = st->d->query(st->d->query_ctx, q, st->d->t_ms, &st->arena, &res, &nres, &qe);
        if (rc < 0) return CMD_ERR(st, c, "error calling query: %s", qe.msg[0] ? qe.msg : vg_error_str(rc));
        if (nres > RULES_TMPL_MAX_QUERY_SAMPLES)
            return CMD_ERR(st, c, "error calling query: result has %zu samples, more than %d", nres, RULES_TMPL_MAX_QUERY_SAMPLES);
        *out = (tmpl_val_t){.k = TV_VEC, .vec = res, .len = nres};
        return 0;
    }
    case TF_FIRST:
        if ((rc = want_vec(st, c, &av[0]))) return rc;
        if (av[0].len == 0) return CMD_ERR(st, c, "error calling first: first() called on vector with no elements");
        *out = (tmpl_val_t){.k = TV_SAMPLE, .vec = av[0].vec};
        return 0;
    case TF_VALUE:
        if ((rc = want_sample(st, c, name, &av[0]))) return rc;
        *out = vfloat(av[0].vec->value);
        return 0;
    case TF_LABEL:
    case TF_STRVALUE: {
        const tmpl_val_t *s = fn == TF_LABEL ? &av[1] : &av[0];
        if (fn == TF_LABEL && (rc = want_string(st, c, &av[0]))) return rc;
        if ((rc = want_sample(st, c, name, s))) return rc;
        char *key = fn == TF_LABEL ? vg_arena_strndup(&st->arena, av[0].s, av[0].len) : (char *)"__value__";
        if (!key) return VG_ENOMEM;
        const char *v = label_get(s->vec->labels, s->vec->n_labels, key);
        *out = vstr(v ? v : "", v ? strlen(v) : 0);
        return 0;
    }
    case TF_SORTBYLABEL: {
        if ((rc = want_string(st, c, &av[0]))) return rc;
        if ((rc = want_vec(st, c, &av[1]))) return rc;
        char *by = vg_arena_strndup(&st->arena, av[0].s, av[0].len);
        rules_tmpl_sample_t *v = vg_arena_alloc(&st->arena, (av[1].len ? av[1].len : 1) * sizeof *v);
        if (!by || !v) return VG_ENOMEM;
        if (av[1].len) memcpy(v, av[1].vec, av[1].len * sizeof *v);
        for (size_t i = 1; i < av[1].len; i++) { /* insertion sort: stable */
            rules_tmpl_sample_t x = v[i];
            size_t j = i;
            for (; j > 0 && cmp_sample_label(&x, &v[j - 1], by) < 0; j--) v[j] = v[j - 1];
            v[j] = x;
            if (++st->steps > RULES_TMPL_MAX_STEPS) return CMD_ERR(st, c, "template exceeded %d evaluation steps", RULES_TMPL_MAX_STEPS);
        }
        *out = (tmpl_val_t){.k = TV_VEC, .vec = v, .len = av[1].len};
        return 0;
    }
    case TF_STRIPPORT: {
        if ((rc = want_string(st, c, &av[0]))) return rc;
        size_t hl;
        const char *h = split_host(st, av[0].s, av[0].len, &hl);
        *out = h ? vstr(h, hl) : av[0];
        return 0;
    }
    case TF_SAFEHTML:
        if ((rc = want_string(st, c, &av[0]))) return rc;
        *out = av[0];
        return 0;
    case TF_ARGS: {
        tmpl_kv_t *kv = vg_arena_alloc(&st->arena, (n ? n : 1) * sizeof *kv);
        if (!kv) return VG_ENOMEM;
        for (size_t k = 0; k < n; k++) {
            char key[32];
            snprintf(key, sizeof key, "arg%zu", k);
            kv[k].key = vg_arena_strndup(&st->arena, key, strlen(key));
            kv[k].val = vg_arena_alloc(&st->arena, sizeof *kv[k].val);
            if (!kv[k].key || !kv[k].val) return VG_ENOMEM;
            *kv[k].val = av[k];
        }
        for (size_t i = 1; i < n; i++) { /* map keys print and range sorted: arg10 < arg2 */
            tmpl_kv_t x = kv[i];
            size_t j = i;
            for (; j > 0 && strcmp(x.key, kv[j - 1].key) < 0; j--) kv[j] = kv[j - 1];
            kv[j] = x;
        }
        *out = (tmpl_val_t){.k = TV_ARGS, .kvs = kv, .len = n};
        return 0;
    }
    case TF_PARSEDURATION: {
        if ((rc = want_string(st, c, &av[0]))) return rc;
        int64_t ms;
        if (vg_duration_parse(av[0].s, av[0].len, &ms) < 0)
            return CMD_ERR(st, c, "error calling parseDuration: not a valid duration string: \"%.*s\"", (int)(av[0].len > 80 ? 80 : av[0].len), av[0].s);
        *out = vfloat((double)ms / 1000.0);
        return 0;
    }
    case TF_PATHPREFIX:
    case TF_EXTERNALURL: {
        const char *u = st->d->external_url ? st->d->external_url : "";
        if (fn == TF_EXTERNALURL) {
            *out = vstr(u, strlen(u));
            return 0;
        }
        const char *p = strstr(u, "://");
        p = p ? strchr(p + 3, '/') : (u[0] == '/' ? u : NULL);
        if (!p) {
            *out = vstr("", 0);
            return 0;
        }
        size_t pl = strcspn(p, "?#");
        *out = vstr(p, pl);
        return 0;
    }
    default: break;
    }
    return CMD_ERR(st, c, "function %s is not callable here", name);
}

/* Go types of a function's parameters: s string, v query result, p sample, a anything; NULL when
 * all are interface{}. */
static const char *param_types(int fn) {
    switch (fn) {
    case TF_REREPLACEALL: return "sss";
    case TF_MATCH: return "ss";
    case TF_TITLE: case TF_TOUPPER: case TF_TOLOWER: case TF_STRIPPORT: case TF_SAFEHTML: case TF_PARSEDURATION:
    case TF_QUERY: case TF_PRINTF: return "s";
    case TF_FIRST: return "v";
    case TF_VALUE: case TF_STRVALUE: return "p";
    case TF_LABEL: return "sp";
    case TF_SORTBYLABEL: return "sv";
    default: return NULL;
    }
}

/* Calls the function named by fa with the operands args (evaluated here; `and`/`or` stop early as Go's
 * do) and, in a pipeline, the previous command's result as the last argument. */
static int call(state_t *st, const tmpl_cmd_t *c, const tmpl_arg_t *fa, const tmpl_val_t *dot, const tmpl_arg_t *const *args,
                size_t n_args, const tmpl_val_t *final, tmpl_val_t *out) {
    const tmpl_func_info_t *fi = &rules__tmpl_funcs[fa->fn];
    size_t n = n_args + (final ? 1 : 0);
    tmpl_cmd_t ctx = {.line = fa->line, .col = fa->col, .src = c && args ? c->src : fa->src, .src_len = c && args ? c->src_len : fa->src_len};
    if ((int)n < fi->min_args || (fi->max_args >= 0 && (int)n > fi->max_args)) {
        ctx.src = fa->src; /* Go names the function alone here */
        ctx.src_len = fa->src_len;
        if (fi->max_args < 0) return CMD_ERR(st, &ctx, "wrong number of args for %s: want at least %d got %zu", fi->name, fi->min_args, n);
        return CMD_ERR(st, &ctx, "wrong number of args for %s: want %d got %zu", fi->name, fi->min_args, n);
    }
    if (fa->fn == TF_AND || fa->fn == TF_OR) {
        tmpl_val_t v = {.k = TV_NIL};
        for (size_t k = 0; k < n; k++) {
            int rc = k < n_args ? eval_arg(st, c, args[k], dot, &v) : (v = *final, 0);
            if (rc) return rc;
            if (truth(&v) != (fa->fn == TF_AND)) break;
        }
        *out = v;
        return 0;
    }
    /* Constants given to a typed parameter fail before the call, as Go's evalArg does. */
    const char *types = param_types(fa->fn);
    for (size_t k = 0; types && k < n_args && types[k]; k++) {
        const tmpl_arg_t *a = args[k];
        bool lit = a->kind == TA_NUMBER || a->kind == TA_STRING || a->kind == TA_BOOL;
        if (!lit || a->n_fields) continue;
        if (types[k] == 's' && a->kind != TA_STRING)
            return xerr(st, VG_EEXEC, a->line, a->col, a->src, a->src_len, "expected string; found %.*s", (int)a->src_len, a->src);
        if (types[k] == 'v' || types[k] == 'p')
            return xerr(st, VG_EEXEC, a->line, a->col, a->src, a->src_len, "can't handle %.*s for arg of type %s", (int)a->src_len, a->src,
                        types[k] == 'v' ? "template.queryResult" : "*template.sample");
    }
    tmpl_val_t *av = vg_arena_alloc(&st->arena, (n ? n : 1) * sizeof *av);
    if (!av) return vg_error_set(st->err, VG_ENOMEM, "error executing template %s: out of memory", st->t->name);
    for (size_t k = 0; k < n_args; k++) {
        int rc = eval_arg(st, c, args[k], dot, &av[k]);
        if (rc) return rc;
    }
    if (final) av[n_args] = *final;
    return apply(st, &ctx, fa->fn, av, n, out);
}

static int eval_cmd(state_t *st, const tmpl_cmd_t *c, const tmpl_val_t *dot, const tmpl_val_t *final, tmpl_val_t *out) {
    int rc = step(st, c->line, c->col);
    if (rc) return rc;
    const tmpl_arg_t *first = c->args[0];
    if (first->kind == TA_FUNC)
        return call(st, c, first, dot, (const tmpl_arg_t *const *)c->args + 1, c->n_args - 1, final, out);
    if (final) return CMD_ERR(st, c, "can't give argument to non-function %.*s", (int)first->src_len, first->src);
    return eval_arg(st, c, first, dot, out);
}

static int eval_pipe(state_t *st, const tmpl_pipe_t *p, const tmpl_val_t *dot, bool range, tmpl_val_t *out) {
    tmpl_val_t v = {.k = TV_NIL};
    for (size_t k = 0; k < p->n_cmds; k++) {
        int rc = eval_cmd(st, p->cmds[k], dot, k ? &v : NULL, &v);
        if (rc) return rc;
    }
    if (!range)
        for (int k = 0; k < p->n_decl; k++) {
            if (p->assign) {
                var_t *var = find_var(st, p->decl[k]);
                if (var) var->v = v;
            } else {
                int rc = push_var(st, p->decl[k], v);
                if (rc) return rc;
            }
        }
    *out = v;
    return 0;
}

static int exec_list(state_t *st, const tmpl_node_t *n, const tmpl_val_t *dot);

static int exec_range(state_t *st, const tmpl_node_t *n, const tmpl_val_t *dot) {
    tmpl_val_t v;
    int rc = eval_pipe(st, n->pipe, dot, true, &v);
    if (rc) return rc;
    size_t count;
    switch (v.k) {
    case TV_LABELS:
    case TV_ARGS:
    case TV_VEC: count = v.len; break;
    case TV_NIL: count = 0; break;
    default: {
        vg_buf_t b = VG_BUF_INIT;
        rules__tmpl_print_value(&b, &v, true);
        rc = xerr(st, VG_EEXEC, n->pipe->line, n->pipe->col, "range", 5, "range can't iterate over %.*s", (int)(b.len > 60 ? 60 : b.len),
                  b.data ? b.data : "");
        vg_buf_deinit(&b);
        return rc;
    }
    }
    for (size_t k = 0; k < count; k++) {
        if ((rc = step(st, n->line, n->col))) return rc;
        tmpl_val_t key, elem;
        if (v.k == TV_LABELS) {
            key = vstr(v.labels[k].name, strlen(v.labels[k].name));
            elem = vstr(v.labels[k].value, strlen(v.labels[k].value));
        } else if (v.k == TV_ARGS) {
            key = vstr(v.kvs[k].key, strlen(v.kvs[k].key));
            elem = *v.kvs[k].val;
        } else {
            key = (tmpl_val_t){.k = TV_INT, .i = (int64_t)k};
            elem = (tmpl_val_t){.k = TV_SAMPLE, .vec = &v.vec[k]};
        }
        size_t mark = st->n_vars;
        if (n->pipe->n_decl == 1) {
            rc = n->pipe->assign ? (find_var(st, n->pipe->decl[0])->v = elem, 0) : push_var(st, n->pipe->decl[0], elem);
        } else if (n->pipe->n_decl == 2) {
            if (n->pipe->assign) {
                find_var(st, n->pipe->decl[0])->v = key;
                find_var(st, n->pipe->decl[1])->v = elem;
            } else {
                rc = push_var(st, n->pipe->decl[0], key);
                if (!rc) rc = push_var(st, n->pipe->decl[1], elem);
            }
        }
        if (!rc) rc = exec_list(st, n->list, &elem);
        st->n_vars = mark;
        if (rc) return rc;
        if (st->jump == 1) {
            st->jump = 0;
            break;
        }
        st->jump = 0;
    }
    if (count == 0) return exec_list(st, n->else_list, dot);
    return 0;
}

static int exec_node(state_t *st, const tmpl_node_t *n, const tmpl_val_t *dot) {
    int rc = step(st, n->line, n->col);
    if (rc) return rc;
    if (++st->depth > RULES_TMPL_MAX_DEPTH) return xerr(st, VG_ELIMIT, n->line, n->col, "", 0, "nesting deeper than %d", RULES_TMPL_MAX_DEPTH);
    size_t mark = st->n_vars;
    tmpl_val_t v;
    switch (n->kind) {
    case TN_TEXT: vg_buf_append(st->out, n->text, n->len); break;
    case TN_ACTION:
        rc = eval_pipe(st, n->pipe, dot, false, &v);
        if (rc == 0 && n->pipe->n_decl == 0) {
            if (v.k == TV_NIL) vg_buf_puts(st->out, "<no value>");
            else rules__tmpl_print_value(st->out, &v, false);
        }
        mark = st->n_vars; /* a declaration lives to the end of the enclosing block */
        break;
    case TN_IF:
    case TN_WITH:
        rc = eval_pipe(st, n->pipe, dot, false, &v);
        if (rc == 0) {
            if (truth(&v)) rc = exec_list(st, n->list, n->kind == TN_WITH ? &v : dot);
            else rc = exec_list(st, n->else_list, dot);
        }
        break;
    case TN_RANGE: rc = exec_range(st, n, dot); break;
    case TN_BREAK: st->jump = 1; break;
    case TN_CONTINUE: st->jump = 2; break;
    }
    st->n_vars = mark;
    st->depth--;
    if (rc == 0) rc = step(st, n->line, n->col);
    return rc;
}

static int exec_list(state_t *st, const tmpl_node_t *n, const tmpl_val_t *dot) {
    size_t mark = st->n_vars;
    int rc = 0;
    for (; n && rc == 0 && !st->jump; n = n->next) rc = exec_node(st, n, dot);
    st->n_vars = mark;
    return rc;
}

int rules_template_exec(const rules_template_t *t, const rules_tmpl_data_t *d, vg_buf_t *out, vg_error_t *err) {
    state_t st = {.t = t, .d = d, .out = out, .out_start = out->len, .err = err};
    vg_arena_init(&st.arena, 4096);
    tmpl_val_t data = {.k = TV_DATA};
    const char *url = d->external_url ? d->external_url : "";
    int rc = push_var(&st, "$", data);
    if (!rc) rc = push_var(&st, "$labels", labels_val(d->labels, d->n_labels));
    if (!rc) rc = push_var(&st, "$externalLabels", labels_val(d->external_labels, d->n_external_labels));
    if (!rc) rc = push_var(&st, "$externalURL", vstr(url, strlen(url)));
    if (!rc) rc = push_var(&st, "$value", vfloat(d->value));
    if (!rc) rc = exec_list(&st, t->root, &data);
    if (!rc && out->failed) rc = vg_error_set(err, VG_ENOMEM, "error executing template %s: out of memory", t->name);
    if (!rc && out->len - st.out_start > RULES_TMPL_MAX_OUTPUT)
        rc = vg_error_set(err, VG_ELIMIT, "error executing template %s: output exceeds %d bytes", t->name, RULES_TMPL_MAX_OUTPUT);
    if (rc == VG_ENOMEM && err && !err->msg[0]) vg_error_set(err, VG_ENOMEM, "error executing template %s: out of memory", t->name);
    free(st.vars);
    vg_arena_deinit(&st.arena);
    return rc;
}
