/* The runner of Prometheus' scripted PromQL tests (`vigil promqltest FILE…`), following the 2.42 harness
 * (promql/test.go): load/clear/eval/eval_ordered/eval_fail, series notation (`1+2x5`, `_`, `stale`…),
 * each instant eval repeated as a range query T-1m..T+1m step 1m and with `@` variants, float
 * comparison with the harness' tolerance. Format: ../shared/promql/FORMAT.md, docs/promql-engine.md.
 *
 * Invariants: one storage per file, recreated by `clear`; every eval is counted once, as passed or failed
 * (a file-level error in an eval line counts that eval as failed); output goes to stdout. */
#include "engine_int.h"

#include "util/timeutil.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEST_MAX_SAMPLES 10000          /* the 2.42 harness' engine settings */
#define TEST_TIMEOUT_MS (100 * 1000)
#define TEST_EPSILON 0.000001
#define TEST_MIN_NORMAL 2.2250738585072014e-308
#define TEST_MAX_ERR 1024

typedef struct runner {
    const promql_test_storage_t *st;
    void *db;
    promql_engine_t *eng;
    bool verbose;
    const char *file;
    int passed, failed;
} runner_t;

/* ---- parsing helpers ----------------------------------------------------------------------------- */

static bool almost_equal(double a, double b) {
    if (isnan(a) && isnan(b)) return true;
    if (a == b) return true;
    double d = fabs(a - b);
    if (a == 0 || b == 0 || d < TEST_MIN_NORMAL) return d < TEST_EPSILON * TEST_MIN_NORMAL;
    return d / (fabs(a) + fabs(b)) < TEST_EPSILON;
}

/* Go strconv.Unquote for "…", '…' and `…` label values. Returns the end of the literal or NULL. */
static const char *unquote(const char *p, vg_buf_t *out) {
    char q = *p++;
    if (q == '`') {
        const char *e = strchr(p, '`');
        if (!e) return NULL;
        vg_buf_append(out, p, (size_t)(e - p));
        return e + 1;
    }
    while (*p && *p != q) {
        if (*p != '\\') {
            vg_buf_putc(out, *p++);
            continue;
        }
        p++;
        char c = *p++;
        switch (c) {
        case 'n': vg_buf_putc(out, '\n'); break;
        case 't': vg_buf_putc(out, '\t'); break;
        case 'r': vg_buf_putc(out, '\r'); break;
        case 'a': vg_buf_putc(out, '\a'); break;
        case 'b': vg_buf_putc(out, '\b'); break;
        case 'f': vg_buf_putc(out, '\f'); break;
        case 'v': vg_buf_putc(out, '\v'); break;
        case '\\': case '"': case '\'': vg_buf_putc(out, c); break;
        case 'x': case 'u': case 'U': {
            int nd = c == 'x' ? 2 : c == 'u' ? 4 : 8;
            unsigned long v = 0;
            for (int i = 0; i < nd; i++, p++) {
                if (!isxdigit((unsigned char)*p)) return NULL;
                v = v * 16 + (unsigned long)(isdigit((unsigned char)*p) ? *p - '0' : (tolower(*p) - 'a' + 10));
            }
            if (c == 'x') {
                vg_buf_putc(out, (char)v);
            } else { /* UTF-8 encode */
                char b[4];
                int n;
                if (v < 0x80) b[0] = (char)v, n = 1;
                else if (v < 0x800) b[0] = (char)(0xC0 | v >> 6), b[1] = (char)(0x80 | (v & 0x3F)), n = 2;
                else if (v < 0x10000)
                    b[0] = (char)(0xE0 | v >> 12), b[1] = (char)(0x80 | (v >> 6 & 0x3F)),
                    b[2] = (char)(0x80 | (v & 0x3F)), n = 3;
                else
                    b[0] = (char)(0xF0 | v >> 18), b[1] = (char)(0x80 | (v >> 12 & 0x3F)),
                    b[2] = (char)(0x80 | (v >> 6 & 0x3F)), b[3] = (char)(0x80 | (v & 0x3F)), n = 4;
                vg_buf_append(out, b, (size_t)n);
            }
            break;
        }
        default:
            if (c >= '0' && c <= '7') {
                unsigned v = (unsigned)(c - '0');
                for (int i = 0; i < 2; i++, p++) {
                    if (*p < '0' || *p > '7') return NULL;
                    v = v * 8 + (unsigned)(*p - '0');
                }
                vg_buf_putc(out, (char)v);
                break;
            }
            return NULL;
        }
    }
    if (*p != q) return NULL;
    return p + 1;
}

static bool name_char(char c, bool first, bool colon) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':') ||
           (!first && c >= '0' && c <= '9');
}

/* A parsed series description. */
typedef struct sdesc {
    model_label_t *l;
    size_t nl;
    double *v;
    bool *omit;
    size_t nv;
} sdesc_t;

static const char *skip_ws(const char *p) {
    while (*p == ' ' || *p == '\t') p++;
    return p;
}

/* Label set: `name`, `name{...}` or `{...}` (arena strings). Returns the position after it or NULL. */
static const char *parse_labels(vg_arena_t *a, const char *p, sdesc_t *d) {
    size_t cap = 8;
    d->l = vg_arena_alloc(a, cap * sizeof *d->l);
    d->nl = 0;
    if (name_char(*p, true, true)) {
        const char *s = p;
        while (name_char(*p, false, true)) p++;
        d->l[d->nl++] = (model_label_t){MODEL_METRIC_NAME, vg_arena_strndup(a, s, (size_t)(p - s))};
    }
    if (*p != '{') return p;
    p = skip_ws(p + 1);
    while (*p != '}') {
        const char *s = p;
        while (name_char(*p, p == s, false)) p++;
        if (p == s) return NULL;
        char *name = vg_arena_strndup(a, s, (size_t)(p - s));
        p = skip_ws(p);
        if (*p != '=') return NULL;
        p = skip_ws(p + 1);
        if (*p != '"' && *p != '\'' && *p != '`') return NULL;
        vg_buf_t b = VG_BUF_INIT;
        p = unquote(p, &b);
        char *val = p ? vg_arena_strndup(a, b.data ? b.data : "", b.len) : NULL;
        vg_buf_deinit(&b);
        if (!p) return NULL;
        if (d->nl == cap) {
            model_label_t *g = vg_arena_alloc(a, cap * 2 * sizeof *g);
            memcpy(g, d->l, cap * sizeof *g);
            d->l = g;
            cap *= 2;
        }
        if (*val) d->l[d->nl++] = (model_label_t){name, val};
        p = skip_ws(p);
        if (*p == ',') p = skip_ws(p + 1);
        else if (*p != '}') return NULL;
    }
    return p + 1;
}

/* A number of the series notation: [+-] (decimal [exponent] | Inf | NaN). */
static const char *parse_num(const char *p, double *out) {
    const char *s = p;
    if (*p == '+' || *p == '-') p++;
    if (strncasecmp(p, "inf", 3) == 0) {
        *out = *s == '-' ? -INFINITY : INFINITY;
        return p + 3;
    }
    if (strncasecmp(p, "nan", 3) == 0) {
        *out = NAN;
        return p + 3;
    }
    const char *d = p;
    while (isdigit((unsigned char)*p)) p++;
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p)) p++;
    }
    if (p == d || (p == d + 1 && *d == '.')) return NULL;
    if ((*p == 'e' || *p == 'E') &&
        (isdigit((unsigned char)p[1]) || ((p[1] == '+' || p[1] == '-') && isdigit((unsigned char)p[2])))) {
        p += 2;
        while (isdigit((unsigned char)*p)) p++;
    }
    char buf[128];
    size_t n = (size_t)(p - s);
    if (n >= sizeof buf) return NULL;
    memcpy(buf, s, n);
    buf[n] = 0;
    *out = strtod(buf, NULL);
    return p;
}

static bool push_val(vg_arena_t *a, sdesc_t *d, size_t *cap, double v, bool omit) {
    if (d->nv == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        double *nv = vg_arena_alloc(a, nc * sizeof *nv);
        bool *no = vg_arena_alloc(a, nc * sizeof *no);
        if (!nv || !no) return false;
        if (d->nv) memcpy(nv, d->v, d->nv * sizeof *nv), memcpy(no, d->omit, d->nv * sizeof *no);
        d->v = nv;
        d->omit = no;
        *cap = nc;
    }
    d->v[d->nv] = v;
    d->omit[d->nv] = omit;
    d->nv++;
    return true;
}

static const char *parse_count(const char *p, uint64_t *n) {
    if (!isdigit((unsigned char)*p)) return NULL;
    *n = 0;
    while (isdigit((unsigned char)*p)) {
        *n = *n * 10 + (uint64_t)(*p++ - '0');
        if (*n > 100000000) return NULL;
    }
    return p;
}

static bool parse_series(vg_arena_t *a, const char *line, sdesc_t *d) {
    memset(d, 0, sizeof *d);
    const char *p = parse_labels(a, line, d);
    if (!p) return false;
    model_labels_sort(d->l, d->nl);
    size_t cap = 0;
    double stale;
    uint64_t sb = PROMQL_STALE_NAN_BITS;
    memcpy(&stale, &sb, sizeof stale);
    for (;;) {
        p = skip_ws(p);
        if (!*p) return true;
        uint64_t n;
        if (*p == '_') {
            p++;
            n = 1;
            if (*p == 'x' && !(p = parse_count(p + 1, &n))) return false;
            for (uint64_t i = 0; i < n; i++)
                if (!push_val(a, d, &cap, 0, true)) return false;
        } else if (strncmp(p, "stale", 5) == 0) {
            p += 5;
            if (!push_val(a, d, &cap, stale, false)) return false;
        } else {
            double v0, inc = 0;
            if (!(p = parse_num(p, &v0))) return false;
            n = 0;
            if (*p == '+' || *p == '-') {
                bool neg = *p == '-';
                if (!(p = parse_num(p + 1, &inc))) return false;
                if (neg) inc = -inc;
                if (*p != 'x' || !(p = parse_count(p + 1, &n))) return false;
            } else if (*p == 'x') {
                if (!(p = parse_count(p + 1, &n))) return false;
            }
            double v = v0;
            for (uint64_t i = 0; i <= n; i++) {
                if (!push_val(a, d, &cap, v, false)) return false;
                v += inc;
            }
        }
        if (*p && *p != ' ' && *p != '\t') return false;
    }
}

int promql_test_parse_series(vg_arena_t *arena, const char *line, promql_test_series_t *out) {
    memset(out, 0, sizeof *out);
    sdesc_t d;
    if (!parse_series(arena, skip_ws(line), &d)) return VG_EINVAL;
    *out = (promql_test_series_t){d.l, d.nl, d.v, d.omit, d.nv};
    return 0;
}

int promql_test_parse_metric(vg_arena_t *arena, const char *text, model_label_t **labels, size_t *n_labels) {
    *labels = NULL;
    *n_labels = 0;
    sdesc_t d;
    const char *p = skip_ws(text);
    const char *e = *p ? parse_labels(arena, p, &d) : NULL;
    if (!e || e == p || *skip_ws(e)) return VG_EINVAL;
    model_labels_sort(d.l, d.nl);
    *labels = d.l;
    *n_labels = d.nl;
    return 0;
}

/* strconv.ParseInt(s, 0, 64) or ParseFloat(s, 64). */
static bool parse_number(const char *s, double *out) {
    if (!*s) return false;
    char *end;
    errno = 0;
    long long i = strtoll(s, &end, 0);
    if (!*end && errno == 0 && !isspace((unsigned char)*s)) {
        *out = (double)i;
        return true;
    }
    const char *p = s;
    if (*p == '+' || *p == '-') p++;
    if (!strcasecmp(p, "inf") || !strcasecmp(p, "infinity") || !strcasecmp(p, "nan"))
        return promql__parse_go_float(s, out);
    for (p = s; *p; p++)
        if (!(isdigit((unsigned char)*p) || strchr("+-.eE", *p))) return false;
    return promql__parse_go_float(s, out);
}

/* ---- the @ rewrite of the harness ---------------------------------------------------------------- */

static bool at_unsafe(const promql_node_t *n) {
    static const char *const unsafe[] = {"days_in_month", "day_of_month", "day_of_week", "day_of_year", "hour",
                                         "minute",        "month",        "year",        "predict_linear",
                                         "time",          "timestamp"};
    switch (n->type) {
    case PROMQL_NODE_CALL:
        for (size_t i = 0; i < sizeof unsafe / sizeof unsafe[0]; i++)
            if (strcmp(n->u.call.func->name, unsafe[i]) == 0) return true;
        for (size_t i = 0; i < n->u.call.n_args; i++)
            if (at_unsafe(n->u.call.args[i])) return true;
        return false;
    case PROMQL_NODE_PAREN: return at_unsafe(n->u.paren.expr);
    case PROMQL_NODE_UNARY: return at_unsafe(n->u.unary.expr);
    case PROMQL_NODE_BINARY: return at_unsafe(n->u.binary.lhs) || at_unsafe(n->u.binary.rhs);
    case PROMQL_NODE_AGGREGATE:
        return at_unsafe(n->u.aggregate.expr) || (n->u.aggregate.param && at_unsafe(n->u.aggregate.param));
    default: return false; /* nothing under a subquery is looked at */
    }
}

/* A copy of n where every selector and subquery outside subqueries without `@` gets `@ t`. */
static promql_node_t *with_at(vg_arena_t *a, const promql_node_t *n, int64_t t) {
    promql_node_t *c = vg_arena_alloc(a, sizeof *c);
    if (!c) return NULL;
    *c = *n;
    switch (n->type) {
    case PROMQL_NODE_VECTOR:
        /* @ start()/end() are not timestamps yet when the harness rewrites: they become @ t too */
        if (c->u.vector.mods.at != PROMQL_AT_TIME) c->u.vector.mods.at = PROMQL_AT_TIME, c->u.vector.mods.at_ms = t;
        break;
    case PROMQL_NODE_MATRIX: c->u.matrix.vector = with_at(a, n->u.matrix.vector, t); break;
    case PROMQL_NODE_SUBQUERY:
        if (c->u.subquery.mods.at != PROMQL_AT_TIME)
            c->u.subquery.mods.at = PROMQL_AT_TIME, c->u.subquery.mods.at_ms = t;
        break;
    case PROMQL_NODE_PAREN: c->u.paren.expr = with_at(a, n->u.paren.expr, t); break;
    case PROMQL_NODE_UNARY: c->u.unary.expr = with_at(a, n->u.unary.expr, t); break;
    case PROMQL_NODE_BINARY:
        c->u.binary.lhs = with_at(a, n->u.binary.lhs, t);
        c->u.binary.rhs = with_at(a, n->u.binary.rhs, t);
        break;
    case PROMQL_NODE_AGGREGATE:
        c->u.aggregate.expr = with_at(a, n->u.aggregate.expr, t);
        if (n->u.aggregate.param) c->u.aggregate.param = with_at(a, n->u.aggregate.param, t);
        break;
    case PROMQL_NODE_CALL:
        c->u.call.args = vg_arena_alloc(a, (n->u.call.n_args + 1) * sizeof *c->u.call.args);
        if (!c->u.call.args) return NULL;
        for (size_t i = 0; i < n->u.call.n_args; i++) c->u.call.args[i] = with_at(a, n->u.call.args[i], t);
        break;
    default: break;
    }
    return c;
}

/* ---- evaluation of one eval command -------------------------------------------------------------- */

typedef struct expect {
    bool scalar;
    double v;
    sdesc_t *series; /* vector expectations */
    size_t *pos;     /* 1-based line position (ordered) */
    size_t n;
} expect_t;

static int open_q(void *ctx, int64_t mint, int64_t maxt, storage_querier_t **out, vg_error_t *err) {
    runner_t *r = ctx;
    return r->st->querier(r->db, mint, maxt, out, err);
}

static void fmt_labels(const model_label_t *l, size_t n, vg_buf_t *b) {
    const char *name = promql__lbl_get(l, (uint32_t)n, MODEL_METRIC_NAME);
    if (name) vg_buf_puts(b, name);
    vg_buf_putc(b, '{');
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(l[i].name, MODEL_METRIC_NAME) == 0) continue;
        if (!first) vg_buf_puts(b, ", ");
        first = false;
        vg_buf_printf(b, "%s=", l[i].name);
        promql_quote(b, l[i].value, strlen(l[i].value));
    }
    vg_buf_putc(b, '}');
}

static void fmt_value(double v, vg_buf_t *b) {
    char f[VG_FLOAT_MAX];
    vg_fmt_float_g(v, f);
    vg_buf_puts(b, f);
}

/* Compares a result (vector of samples, or scalar) with the expectation; why receives the reason. */
static bool compare(const expect_t *e, bool ordered, const promql_series_t *vec, size_t n, bool is_scalar,
                    double scalar, vg_buf_t *why) {
    if (is_scalar) {
        if (!e->scalar) {
            vg_buf_puts(why, "expected a vector, got a scalar");
            return false;
        }
        if (!almost_equal(e->v, scalar)) {
            vg_buf_puts(why, "expected scalar ");
            fmt_value(e->v, why);
            vg_buf_puts(why, " but got ");
            fmt_value(scalar, why);
            return false;
        }
        return true;
    }
    if (e->scalar) {
        vg_buf_puts(why, "expected a scalar, got a vector");
        return false;
    }
    bool *seen = calloc(e->n + 1, 1);
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        size_t j;
        for (j = 0; j < e->n; j++)
            if (model_labels_equal(e->series[j].l, e->series[j].nl, vec[i].labels, vec[i].n_labels)) break;
        if (j == e->n) {
            vg_buf_puts(why, "unexpected metric ");
            fmt_labels(vec[i].labels, vec[i].n_labels, why);
            vg_buf_puts(why, " in result");
            ok = false;
            break;
        }
        if (ordered && e->pos[j] != i + 1) {
            vg_buf_puts(why, "expected metric ");
            fmt_labels(vec[i].labels, vec[i].n_labels, why);
            vg_buf_printf(why, " at position %zu but was at %zu", e->pos[j], i + 1);
            ok = false;
            break;
        }
        if (!almost_equal(e->series[j].v[0], vec[i].points[0].v)) {
            vg_buf_puts(why, "expected ");
            fmt_value(e->series[j].v[0], why);
            vg_buf_puts(why, " for ");
            fmt_labels(vec[i].labels, vec[i].n_labels, why);
            vg_buf_puts(why, " but got ");
            fmt_value(vec[i].points[0].v, why);
            ok = false;
            break;
        }
        seen[j] = true;
    }
    for (size_t j = 0; j < e->n && ok; j++)
        if (!seen[j]) {
            vg_buf_puts(why, "expected metric ");
            fmt_labels(e->series[j].l, e->series[j].nl, why);
            vg_buf_puts(why, " with ");
            fmt_value(e->series[j].v[0], why);
            vg_buf_puts(why, " not found");
            ok = false;
        }
    free(seen);
    if (!ok) {
        vg_buf_puts(why, "\n      got:");
        for (size_t i = 0; i < n; i++) {
            vg_buf_puts(why, "\n        ");
            fmt_labels(vec[i].labels, vec[i].n_labels, why);
            vg_buf_putc(why, ' ');
            fmt_value(vec[i].points[0].v, why);
        }
    }
    return ok;
}

/* Runs one query variant (instant + range check). Returns true when it passed. */
static bool run_variant(runner_t *r, const promql_node_t *expr, int64_t t, bool fail, bool ordered,
                        const expect_t *e, vg_buf_t *why) {
    vg_arena_t a;
    vg_arena_init(&a, 64 * 1024);
    promql_queryable_t qb = {open_q, r};
    promql_result_t *res;
    vg_error_t err;
    vg_error_clear(&err);
    bool ok = true;
    int rc = promql_exec_instant(r->eng, &qb, expr, t, &a, &res, &err);
    if (rc < 0) {
        if (!fail) {
            vg_buf_printf(why, "error evaluating query at %lld: %s", (long long)t, err.msg);
            ok = false;
        }
        goto out;
    }
    if (fail) {
        vg_buf_printf(why, "expected error evaluating query at %lld but got none", (long long)t);
        ok = false;
        goto out;
    }
    if (res->type == PROMQL_TYPE_MATRIX) {
        vg_buf_puts(why, "received range result on instant evaluation");
        ok = false;
        goto out;
    }
    if (res->type == PROMQL_TYPE_STRING) {
        vg_buf_puts(why, "unexpected string result");
        ok = false;
        goto out;
    }
    bool is_scalar = res->type == PROMQL_TYPE_SCALAR;
    if (!compare(e, ordered, res->series, res->n_series, is_scalar, res->scalar, why)) {
        vg_buf_printf(why, " (instant query at %lld)", (long long)t);
        ok = false;
        goto out;
    }
    const int64_t minute = 60 * 1000;
    promql_result_t *rr;
    rc = promql_exec_range(r->eng, &qb, expr, t - minute, t + minute, minute, &a, &rr, &err);
    if (rc < 0) {
        vg_buf_printf(why, "error evaluating query at %lld in range mode: %s", (long long)t, err.msg);
        ok = false;
        goto out;
    }
    if (ordered) goto out;
    promql_series_t *vec = vg_arena_alloc(&a, (rr->n_series + 1) * sizeof *vec);
    size_t nv = 0;
    for (size_t i = 0; i < rr->n_series; i++)
        for (size_t k = 0; k < rr->series[i].n_points; k++)
            if (rr->series[i].points[k].t == t) {
                vec[nv] = rr->series[i];
                vec[nv].points = &rr->series[i].points[k];
                vec[nv].n_points = 1;
                nv++;
                break;
            }
    if (is_scalar) {
        if (nv == 0) {
            vg_buf_printf(why, "range mode at %lld: no point for the scalar", (long long)t);
            ok = false;
        } else if (!compare(e, false, NULL, 0, true, vec[0].points[0].v, why)) {
            vg_buf_printf(why, " (range mode at %lld)", (long long)t);
            ok = false;
        }
    } else if (!compare(e, false, vec, nv, false, 0, why)) {
        vg_buf_printf(why, " (range mode at %lld)", (long long)t);
        ok = false;
    }
out:
    vg_arena_deinit(&a);
    return ok;
}

static bool run_eval(runner_t *r, const char *expr_text, int64_t t, bool fail, bool ordered, const expect_t *e,
                     vg_buf_t *why) {
    vg_arena_t a;
    vg_arena_init(&a, 16 * 1024);
    promql_node_t *expr;
    vg_error_t err;
    vg_error_clear(&err);
    bool ok = true;
    if (promql_parse(expr_text, strlen(expr_text), &a, &expr, &err) < 0) {
        vg_buf_printf(why, "parse error: %s", err.msg);
        ok = false;
        goto out;
    }
    ok = run_variant(r, expr, t, fail, ordered, e, why);
    if (ok && !at_unsafe(expr)) {
        int64_t times[5];
        size_t nt;
        if (t == 0) {
            times[0] = -1000, times[1] = 0, times[2] = 1000;
            nt = 3;
        } else {
            times[0] = -10 * t, times[1] = 0, times[2] = t / 5, times[3] = t, times[4] = 10 * t;
            nt = 5;
        }
        promql_node_t *ax = with_at(&a, expr, t);
        for (size_t i = 0; i < nt && ok && ax; i++) {
            ok = run_variant(r, ax, times[i], fail, ordered, e, why);
            if (!ok) vg_buf_printf(why, " [@ %lld variant]", (long long)t);
        }
    }
out:
    vg_arena_deinit(&a);
    return ok;
}

/* ---- file driver --------------------------------------------------------------------------------- */

static int storage_reset(runner_t *r, vg_error_t *err) {
    if (r->db) r->st->destroy(r->db);
    r->db = NULL;
    return r->st->create(r->st->ctx, &r->db, err);
}

static void file_error(runner_t *r, size_t line, const char *msg) {
    fprintf(stdout, "%s:%zu: %s\n", r->file, line, msg);
}

static int do_load(runner_t *r, char **lines, size_t n, size_t first, size_t *next) {
    const char *p = skip_ws(lines[first] + 4);
    int64_t gap;
    if (vg_duration_parse(p, strlen(p), &gap) < 0) {
        file_error(r, first + 1, "invalid load interval");
        return -1;
    }
    vg_arena_t a;
    vg_arena_init(&a, 64 * 1024);
    size_t i = first + 1, nd = 0;
    sdesc_t *defs = vg_arena_alloc(&a, (n + 1) * sizeof *defs);
    int rc = 0;
    for (; i < n && lines[i][0]; i++) {
        sdesc_t d;
        if (!parse_series(&a, lines[i], &d)) {
            file_error(r, i + 1, "invalid series description");
            rc = -1;
            continue;
        }
        size_t j;
        for (j = 0; j < nd; j++)
            if (model_labels_equal(defs[j].l, defs[j].nl, d.l, d.nl)) break;
        defs[j] = d;
        if (j == nd) nd++;
    }
    *next = i;
    vg_error_t err;
    vg_error_clear(&err);
    storage_appender_t *app = NULL;
    if (r->st->appender(r->db, &app, &err) < 0) {
        file_error(r, first + 1, err.msg);
        vg_arena_deinit(&a);
        return -1;
    }
    for (size_t j = 0; j < nd && rc == 0; j++)
        for (size_t k = 0; k < defs[j].nv; k++) {
            if (defs[j].omit[k]) continue;
            int ar = storage_append(app, defs[j].l, defs[j].nl, (int64_t)k * gap, defs[j].v[k], NULL, &err);
            if (ar != 0) {
                file_error(r, first + 1, ar < 0 ? err.msg : "sample rejected by the storage");
                rc = -1;
                break;
            }
        }
    if (rc == 0 && storage_commit(app, &err) < 0) {
        file_error(r, first + 1, err.msg);
        rc = -1;
    }
    storage_appender_free(app);
    vg_arena_deinit(&a);
    return rc;
}

static void do_eval(runner_t *r, char **lines, size_t n, size_t first, size_t *next) {
    const char *line = lines[first];
    const char *p = line + 4;
    bool fail = false, ordered = false;
    if (strncmp(p, "_fail", 5) == 0) fail = true, p += 5;
    else if (strncmp(p, "_ordered", 8) == 0) ordered = true, p += 8;
    vg_buf_t why = VG_BUF_INIT;
    vg_arena_t a;
    vg_arena_init(&a, 16 * 1024);
    expect_t e = {0};
    e.series = vg_arena_alloc(&a, (n + 1) * sizeof *e.series);
    e.pos = vg_arena_alloc(&a, (n + 1) * sizeof *e.pos);
    bool bad = false;
    int64_t t = 0;
    const char *expr = NULL;
    if (!isspace((unsigned char)*p)) bad = true;
    p = skip_ws(p);
    if (!bad && strncmp(p, "instant", 7) == 0 && isspace((unsigned char)p[7])) {
        p = skip_ws(p + 7);
        if (strncmp(p, "at", 2) == 0 && isspace((unsigned char)p[2])) {
            p = skip_ws(p + 2);
            const char *s = p;
            while (*p && !isspace((unsigned char)*p)) p++;
            if (vg_duration_parse(s, (size_t)(p - s), &t) < 0) bad = true;
            expr = skip_ws(p);
            if (!*expr) bad = true;
        } else {
            bad = true;
        }
    } else {
        bad = true;
    }
    size_t i = first + 1;
    for (size_t j = 1; i < n && lines[i][0]; i++, j++) {
        double v;
        if (parse_number(lines[i], &v)) {
            e.scalar = true;
            e.v = v;
            i++;
            break;
        }
        sdesc_t d;
        if (!parse_series(&a, lines[i], &d) || d.nv != 1 || d.omit[0]) {
            vg_buf_printf(&why, "line %zu: invalid expected sample\n", i + 1);
            bad = true;
            continue;
        }
        size_t k;
        for (k = 0; k < e.n; k++)
            if (model_labels_equal(e.series[k].l, e.series[k].nl, d.l, d.nl)) break;
        e.series[k] = d;
        e.pos[k] = j;
        if (k == e.n) e.n++;
    }
    *next = i;
    bool ok = !bad && run_eval(r, expr, t, fail, ordered, &e, &why);
    if (bad && !why.len) vg_buf_puts(&why, "invalid eval command");
    if (ok) {
        r->passed++;
    } else {
        r->failed++;
        if (r->verbose) fprintf(stdout, "%s:%zu: FAIL %s\n    %s\n", r->file, first + 1, line, why.data ? why.data : "");
    }
    vg_buf_deinit(&why);
    vg_arena_deinit(&a);
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    vg_buf_t b = VG_BUF_INIT;
    char tmp[65536];
    size_t k;
    while ((k = fread(tmp, 1, sizeof tmp, f)) > 0) vg_buf_append(&b, tmp, k);
    fclose(f);
    if (!b.data) vg_buf_puts(&b, "");
    return vg_buf_steal(&b, len);
}

static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) s[--n] = 0;
    return s;
}

/* Runs one file; returns -1 on a file-level problem (counted as a failure of the run). */
static int run_file(runner_t *r, const char *path) {
    size_t len;
    char *text = read_file(path, &len);
    if (!text) {
        fprintf(stdout, "%s: cannot read: %s\n", path, strerror(errno));
        return -1;
    }
    const char *base = strrchr(path, '/');
    r->file = base ? base + 1 : path;
    size_t n = 1;
    for (size_t i = 0; i < len; i++) n += text[i] == '\n';
    char **lines = calloc(n, sizeof *lines);
    size_t k = 0;
    for (char *s = text, *e; s; s = e) {
        e = strchr(s, '\n');
        if (e) *e++ = 0;
        char *t = trim(s);
        if (*t == '#') *t = 0;
        lines[k++] = t;
    }
    n = k;
    int before_p = r->passed, before_f = r->failed, rc = 0;
    vg_error_t err;
    vg_error_clear(&err);
    promql_engine_opts_t eo = {0};
    eo.max_samples = TEST_MAX_SAMPLES;
    eo.timeout_ms = TEST_TIMEOUT_MS;
    if (storage_reset(r, &err) < 0 || promql_engine_new(&eo, &r->eng, &err) < 0) {
        fprintf(stdout, "%s: %s\n", path, err.msg);
        rc = -1;
        goto out;
    }
    for (size_t i = 0; i < n;) {
        if (!lines[i][0]) {
            i++;
            continue;
        }
        char word[16] = {0};
        for (size_t j = 0; j < sizeof word - 1 && lines[i][j] && !isspace((unsigned char)lines[i][j]); j++)
            word[j] = (char)tolower((unsigned char)lines[i][j]);
        size_t next = i + 1;
        if (strcmp(word, "clear") == 0) {
            if (storage_reset(r, &err) < 0) {
                file_error(r, i + 1, err.msg);
                rc = -1;
                break;
            }
        } else if (strncmp(word, "load", 4) == 0) {
            if (do_load(r, lines, n, i, &next) < 0) rc = -1;
        } else if (strncmp(word, "eval", 4) == 0) {
            do_eval(r, lines, n, i, &next);
        } else {
            file_error(r, i + 1, "invalid command");
            rc = -1;
        }
        i = next;
    }
out:
    fprintf(stdout, "%s: %d passed, %d failed%s\n", r->file, r->passed - before_p, r->failed - before_f,
            rc < 0 ? " (file errors)" : "");
    promql_engine_free(r->eng);
    r->eng = NULL;
    if (r->db) r->st->destroy(r->db);
    r->db = NULL;
    free(lines);
    free(text);
    return rc;
}

int promql_cmd_test(int argc, char **argv, const promql_test_storage_t *storage) {
    runner_t r = {0};
    r.st = storage;
    int first = 1;
    for (; first < argc && argv[first][0] == '-'; first++) {
        if (strcmp(argv[first], "-v") == 0) r.verbose = true;
        else {
            fprintf(stderr, "usage: vigil promqltest [-v] FILE...\n");
            return 2;
        }
    }
    if (first >= argc) {
        fprintf(stderr, "usage: vigil promqltest [-v] FILE...\n");
        return 2;
    }
    bool file_err = false;
    for (int i = first; i < argc; i++)
        if (run_file(&r, argv[i]) < 0) file_err = true;
    fprintf(stdout, "promqltest: %d passed, %d failed\n", r.passed, r.failed);
    return r.failed || file_err ? 1 : 0;
}
