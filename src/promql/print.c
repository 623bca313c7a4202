/* The canonical printer: Prometheus 2.42's String() of every node, byte for byte.
 *
 * Rules kept here: matchers are printed sorted by their printed form and joined by "," with the
 * __name__="<name>" matcher folded into the name; "@" is printed before "offset"; numbers use Go's %v;
 * strings and matcher values Go's %q; durations Prometheus' model.Duration form; parentheses only where
 * the tree has a PAREN node. Invariant: recursion depth is the tree height (bounded by the parser). */
#include "promql_int.h"

#include "util/timeutil.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char hexdig[] = "0123456789abcdef";

void promql_quote(vg_buf_t *out, const char *s, size_t len) {
    vg_buf_putc(out, '"');
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        /* Fast run of printable ASCII without escapes. */
        size_t j = i;
        while (j < len && (unsigned char)s[j] >= 0x20 && (unsigned char)s[j] < 0x7f && s[j] != '"' && s[j] != '\\') j++;
        if (j > i) {
            vg_buf_append(out, s + i, j - i);
            i = j;
            continue;
        }
        c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            vg_buf_append(out, e, 2);
            i++;
            continue;
        }
        uint32_t r;
        size_t k = c < 0x80 ? 1 : promql__utf8_decode((const unsigned char *)s + i, len - i, &r);
        if (c < 0x80) r = c;
        if (k == 0) { /* invalid UTF-8 byte */
            char e[4] = {'\\', 'x', hexdig[c >> 4], hexdig[c & 15]};
            vg_buf_append(out, e, 4);
            i++;
            continue;
        }
        if (r >= 0x80 && promql__unicode_is_print(r)) {
            vg_buf_append(out, s + i, k);
            i += k;
            continue;
        }
        i += k;
        switch (r) {
        case '\a': vg_buf_puts(out, "\\a"); continue;
        case '\b': vg_buf_puts(out, "\\b"); continue;
        case '\f': vg_buf_puts(out, "\\f"); continue;
        case '\n': vg_buf_puts(out, "\\n"); continue;
        case '\r': vg_buf_puts(out, "\\r"); continue;
        case '\t': vg_buf_puts(out, "\\t"); continue;
        case '\v': vg_buf_puts(out, "\\v"); continue;
        default: break;
        }
        char e[12];
        if (r < 0x20 || r == 0x7f) {
            snprintf(e, sizeof e, "\\x%c%c", hexdig[r >> 4], hexdig[r & 15]);
        } else if (r < 0x10000) {
            snprintf(e, sizeof e, "\\u%04" PRIx32, r);
        } else {
            snprintf(e, sizeof e, "\\U%08" PRIx32, r);
        }
        vg_buf_puts(out, e);
    }
    vg_buf_putc(out, '"');
}

/* Go's strconv.FormatFloat(v, 'g', -1, 64), which fmt.Sprint uses: the shortest digits that read back as
 * v, in exponent form when the decimal exponent is < -4 or >= 6 ("1e+06", "1.5e-05", "123456"). */
void promql__format_number(vg_buf_t *out, double v) {
    if (isnan(v)) {
        vg_buf_puts(out, "NaN");
        return;
    }
    if (isinf(v)) {
        vg_buf_puts(out, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (v == 0) {
        vg_buf_puts(out, signbit(v) ? "-0" : "0");
        return;
    }
    if (fabs(v) < 1e6 && v == (double)(int64_t)v) { /* common case: small integers print as themselves */
        vg_buf_put_i64(out, (int64_t)v);
        return;
    }
    char e[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec - 1, fabs(v));
        if (strtod(e, NULL) == fabs(v)) break;
    }
    /* e is "d[.ddd]e[+-]XX": collect digits and the exponent */
    char digs[24];
    int nd = 0;
    const char *p = e;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9') digs[nd++] = *p;
    int exp = atoi(p + 1);
    while (nd > 1 && digs[nd - 1] == '0') nd--;
    if (signbit(v)) vg_buf_putc(out, '-');
    if (exp < -4 || exp >= 6) {
        vg_buf_putc(out, digs[0]);
        if (nd > 1) {
            vg_buf_putc(out, '.');
            vg_buf_append(out, digs + 1, (size_t)nd - 1);
        }
        vg_buf_printf(out, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
        return;
    }
    int dp = exp + 1; /* digits before the decimal point */
    if (dp <= 0) {
        vg_buf_puts(out, "0.");
        for (int i = 0; i < -dp; i++) vg_buf_putc(out, '0');
        vg_buf_append(out, digs, (size_t)nd);
    } else if (dp >= nd) {
        vg_buf_append(out, digs, (size_t)nd);
        for (int i = nd; i < dp; i++) vg_buf_putc(out, '0');
    } else {
        vg_buf_append(out, digs, (size_t)dp);
        vg_buf_putc(out, '.');
        vg_buf_append(out, digs + dp, (size_t)(nd - dp));
    }
}

bool promql__is_label_name(const char *s, size_t len) {
    if (len == 0) return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9');
        if (!ok) return false;
    }
    return true;
}

const char *promql_op_str(promql_op_t op) {
    static const char *const names[] = {
        [PROMQL_OP_NONE] = "",        [PROMQL_OP_LOR] = "or",       [PROMQL_OP_LAND] = "and",
        [PROMQL_OP_LUNLESS] = "unless", [PROMQL_OP_EQLC] = "==",    [PROMQL_OP_NEQ] = "!=",
        [PROMQL_OP_LSS] = "<",        [PROMQL_OP_LTE] = "<=",       [PROMQL_OP_GTR] = ">",
        [PROMQL_OP_GTE] = ">=",       [PROMQL_OP_ADD] = "+",        [PROMQL_OP_SUB] = "-",
        [PROMQL_OP_MUL] = "*",        [PROMQL_OP_DIV] = "/",        [PROMQL_OP_MOD] = "%",
        [PROMQL_OP_ATAN2] = "atan2",  [PROMQL_OP_POW] = "^",        [PROMQL_OP_SUM] = "sum",
        [PROMQL_OP_AVG] = "avg",      [PROMQL_OP_COUNT] = "count",  [PROMQL_OP_MIN] = "min",
        [PROMQL_OP_MAX] = "max",      [PROMQL_OP_GROUP] = "group",  [PROMQL_OP_STDDEV] = "stddev",
        [PROMQL_OP_STDVAR] = "stdvar", [PROMQL_OP_TOPK] = "topk",   [PROMQL_OP_BOTTOMK] = "bottomk",
        [PROMQL_OP_COUNT_VALUES] = "count_values", [PROMQL_OP_QUANTILE] = "quantile",
    };
    return (unsigned)op < sizeof names / sizeof names[0] && names[op] ? names[op] : "?";
}

const char *promql_match_str(promql_match_type_t t) {
    switch (t) {
    case PROMQL_MATCH_EQ: return "=";
    case PROMQL_MATCH_NEQ: return "!=";
    case PROMQL_MATCH_RE: return "=~";
    case PROMQL_MATCH_NRE: return "!~";
    }
    return "?";
}

const char *promql_value_type_str(promql_value_type_t t) {
    switch (t) {
    case PROMQL_TYPE_SCALAR: return "scalar";
    case PROMQL_TYPE_VECTOR: return "instant vector";
    case PROMQL_TYPE_MATRIX: return "range vector";
    case PROMQL_TYPE_STRING: return "string";
    default: return "none";
    }
}

static void put_str(vg_buf_t *out, promql_str_t s) {
    vg_buf_append(out, s.ptr, s.len);
}

static void put_duration(vg_buf_t *out, int64_t ms) {
    char d[VG_DURATION_MAX];
    size_t n = vg_duration_format(ms, d);
    vg_buf_append(out, d, n);
}

/* " @ 123.000" / " @ start()" then " offset 5m" / " offset -5m". */
static void put_mods(vg_buf_t *out, const promql_time_mods_t *m) {
    switch (m->at) {
    case PROMQL_AT_TIME: vg_buf_printf(out, " @ %.3f", (double)m->at_ms / 1000.0); break;
    case PROMQL_AT_START: vg_buf_puts(out, " @ start()"); break;
    case PROMQL_AT_END: vg_buf_puts(out, " @ end()"); break;
    case PROMQL_AT_NONE: break;
    }
    if (m->offset_ms > 0) {
        vg_buf_puts(out, " offset ");
        put_duration(out, m->offset_ms);
    } else if (m->offset_ms < 0) {
        vg_buf_puts(out, " offset -");
        put_duration(out, m->offset_ms == INT64_MIN ? INT64_MAX : -m->offset_ms);
    }
}

static void put_labels(vg_buf_t *out, const promql_str_t *l, size_t n) {
    vg_buf_putc(out, '(');
    for (size_t i = 0; i < n; i++) {
        if (i) vg_buf_puts(out, ", ");
        put_str(out, l[i]);
    }
    vg_buf_putc(out, ')');
}

typedef struct {
    size_t off, len;
} span_t;

static int span_cmp(const char *base, const span_t *x, const span_t *y) {
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(base + x->off, base + y->off, n);
    if (c) return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

/* Stable bottom-up merge sort of spans by their bytes in base (Go's sort.Strings order); tmp holds k. */
static void span_sort(const char *base, span_t *a, span_t *tmp, size_t k) {
    for (size_t w = 1; w < k; w *= 2) {
        for (size_t lo = 0; lo < k; lo += 2 * w) {
            size_t mid = lo + w < k ? lo + w : k, hi = lo + 2 * w < k ? lo + 2 * w : k;
            size_t i = lo, j = mid, o = lo;
            while (i < mid && j < hi) tmp[o++] = span_cmp(base, &a[j], &a[i]) < 0 ? a[j++] : a[i++];
            while (i < mid) tmp[o++] = a[i++];
            while (j < hi) tmp[o++] = a[j++];
        }
        memcpy(a, tmp, k * sizeof *a);
    }
}

/* Prints a vector selector without its modifiers. Matchers are printed into a scratch buffer, sorted as
 * strings (Go's sort.Strings) and joined. */
static void put_selector(vg_buf_t *out, const promql_node_t *n) {
    put_str(out, n->u.vector.name);
    size_t nm = n->u.vector.n_matchers;
    span_t local_spans[32];
    span_t *spans = nm <= 16 ? local_spans : malloc(2 * nm * sizeof *spans);
    if (!spans) {
        out->failed = true;
        return;
    }
    vg_buf_t tmp = VG_BUF_INIT;
    size_t k = 0;
    for (size_t i = 0; i < nm; i++) {
        const promql_matcher_t *m = &n->u.vector.matchers[i];
        if (m->type == PROMQL_MATCH_EQ && m->name.len == 8 && memcmp(m->name.ptr, "__name__", 8) == 0 &&
            m->value.len == n->u.vector.name.len &&
            memcmp(m->value.ptr, n->u.vector.name.ptr, m->value.len) == 0 && n->u.vector.name.len > 0)
            continue;
        size_t off = tmp.len;
        put_str(&tmp, m->name);
        vg_buf_puts(&tmp, promql_match_str(m->type));
        promql_quote(&tmp, m->value.ptr, m->value.len);
        spans[k].off = off;
        spans[k].len = tmp.len - off;
        k++;
    }
    if (tmp.failed) out->failed = true;
    if (k > 0 && !tmp.failed) {
        if (k > 1) span_sort(tmp.data, spans, spans + (nm <= 16 ? 16 : nm), k);
        vg_buf_putc(out, '{');
        for (size_t i = 0; i < k; i++) {
            if (i) vg_buf_putc(out, ',');
            vg_buf_append(out, tmp.data + spans[i].off, spans[i].len);
        }
        vg_buf_putc(out, '}');
    } else if (n->u.vector.name.len == 0 && !tmp.failed) {
        vg_buf_puts(out, "{}"); /* only a match[] selector can be empty; "" would not parse back */
    }
    vg_buf_deinit(&tmp);
    if (spans != local_spans) free(spans);
}

static void print_node(const promql_node_t *n, vg_buf_t *out) {
    switch (n->type) {
    case PROMQL_NODE_NUMBER: promql__format_number(out, n->u.number); break;
    case PROMQL_NODE_STRING: promql_quote(out, n->u.string.ptr, n->u.string.len); break;
    case PROMQL_NODE_VECTOR:
        put_selector(out, n);
        put_mods(out, &n->u.vector.mods);
        break;
    case PROMQL_NODE_MATRIX:
        put_selector(out, n->u.matrix.vector);
        vg_buf_putc(out, '[');
        put_duration(out, n->u.matrix.range_ms);
        vg_buf_putc(out, ']');
        put_mods(out, &n->u.matrix.vector->u.vector.mods);
        break;
    case PROMQL_NODE_SUBQUERY:
        print_node(n->u.subquery.expr, out);
        vg_buf_putc(out, '[');
        put_duration(out, n->u.subquery.range_ms);
        vg_buf_putc(out, ':');
        if (n->u.subquery.step_ms) put_duration(out, n->u.subquery.step_ms);
        vg_buf_putc(out, ']');
        put_mods(out, &n->u.subquery.mods);
        break;
    case PROMQL_NODE_PAREN:
        vg_buf_putc(out, '(');
        print_node(n->u.paren.expr, out);
        vg_buf_putc(out, ')');
        break;
    case PROMQL_NODE_UNARY:
        vg_buf_puts(out, promql_op_str(n->u.unary.op));
        print_node(n->u.unary.expr, out);
        break;
    case PROMQL_NODE_BINARY: {
        print_node(n->u.binary.lhs, out);
        vg_buf_putc(out, ' ');
        vg_buf_puts(out, promql_op_str(n->u.binary.op));
        if (n->u.binary.return_bool) vg_buf_puts(out, " bool");
        bool grouped = n->u.binary.card == PROMQL_CARD_MANY_TO_ONE || n->u.binary.card == PROMQL_CARD_ONE_TO_MANY;
        if (n->u.binary.has_matching && (n->u.binary.n_labels > 0 || n->u.binary.on || grouped)) {
            vg_buf_puts(out, n->u.binary.on ? " on " : " ignoring ");
            put_labels(out, n->u.binary.labels, n->u.binary.n_labels);
            if (grouped) {
                vg_buf_puts(out, n->u.binary.card == PROMQL_CARD_MANY_TO_ONE ? " group_left " : " group_right ");
                put_labels(out, n->u.binary.include, n->u.binary.n_include);
            }
        }
        vg_buf_putc(out, ' ');
        print_node(n->u.binary.rhs, out);
        break;
    }
    case PROMQL_NODE_AGGREGATE:
        vg_buf_puts(out, promql_op_str(n->u.aggregate.op));
        if (n->u.aggregate.without) {
            vg_buf_puts(out, " without ");
            put_labels(out, n->u.aggregate.grouping, n->u.aggregate.n_grouping);
            vg_buf_putc(out, ' ');
        } else if (n->u.aggregate.n_grouping > 0) {
            vg_buf_puts(out, " by ");
            put_labels(out, n->u.aggregate.grouping, n->u.aggregate.n_grouping);
            vg_buf_putc(out, ' ');
        }
        vg_buf_putc(out, '(');
        if (n->u.aggregate.param) {
            print_node(n->u.aggregate.param, out);
            vg_buf_puts(out, ", ");
        }
        print_node(n->u.aggregate.expr, out);
        vg_buf_putc(out, ')');
        break;
    case PROMQL_NODE_CALL:
        vg_buf_puts(out, n->u.call.func->name);
        vg_buf_putc(out, '(');
        for (size_t i = 0; i < n->u.call.n_args; i++) {
            if (i) vg_buf_puts(out, ", ");
            print_node(n->u.call.args[i], out);
        }
        vg_buf_putc(out, ')');
        break;
    }
}

int promql_print(const promql_node_t *n, vg_buf_t *out) {
    if (!n) return VG_EINVAL;
    print_node(n, out);
    return out->failed ? VG_ENOMEM : 0;
}
