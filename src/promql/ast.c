/* Structural equality of syntax trees: the round-trip invariant parse(print(t)) == t is stated with it.
 *
 * Positions and heights are ignored; matcher lists compare as multisets in order-insensitive form because
 * the printer sorts them; numbers compare bit-for-bit (so -0 differs from 0) except that every NaN
 * equals every NaN (Prometheus prints them all as "NaN").
 * Invariant: recursion depth is the tree height, bounded by the parser's depth limit. */
#include "promql_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static bool str_eq(promql_str_t a, promql_str_t b) {
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static bool strs_eq(const promql_str_t *a, size_t na, const promql_str_t *b, size_t nb) {
    if (na != nb) return false;
    for (size_t i = 0; i < na; i++)
        if (!str_eq(a[i], b[i])) return false;
    return true;
}

/* `enforced` is provenance, not syntax: an enforced tree equals its printed and re-parsed form. */
static bool matcher_eq(const promql_matcher_t *a, const promql_matcher_t *b) {
    return a->type == b->type && str_eq(a->name, b->name) && str_eq(a->value, b->value);
}

/* Every matcher of a has a distinct equal partner in b (n is small; quadratic is fine up to the limits). */
static bool matchers_eq(const promql_matcher_t *a, const promql_matcher_t *b, size_t n) {
    bool stack_used[64];
    bool *used = n <= 64 ? stack_used : calloc(n, sizeof *used);
    if (!used) return false;
    memset(used, 0, (n <= 64 ? 64 : n) * sizeof *used);
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        ok = false;
        for (size_t j = 0; j < n; j++) {
            if (!used[j] && matcher_eq(&a[i], &b[j])) {
                used[j] = ok = true;
                break;
            }
        }
    }
    if (used != stack_used) free(used);
    return ok;
}

static bool mods_eq(const promql_time_mods_t *a, const promql_time_mods_t *b) {
    return a->offset_ms == b->offset_ms && a->at == b->at && (a->at != PROMQL_AT_TIME || a->at_ms == b->at_ms);
}

bool promql_node_equal(const promql_node_t *a, const promql_node_t *b) {
    if (a == b) return true;
    if (!a || !b || a->type != b->type) return false;
    switch (a->type) {
    case PROMQL_NODE_NUMBER:
        if (isnan(a->u.number) || isnan(b->u.number)) return isnan(a->u.number) && isnan(b->u.number);
        return memcmp(&a->u.number, &b->u.number, sizeof(double)) == 0;
    case PROMQL_NODE_STRING: return str_eq(a->u.string, b->u.string);
    case PROMQL_NODE_VECTOR:
        return str_eq(a->u.vector.name, b->u.vector.name) && a->u.vector.n_matchers == b->u.vector.n_matchers &&
               mods_eq(&a->u.vector.mods, &b->u.vector.mods) &&
               matchers_eq(a->u.vector.matchers, b->u.vector.matchers, a->u.vector.n_matchers);
    case PROMQL_NODE_MATRIX:
        return a->u.matrix.range_ms == b->u.matrix.range_ms && promql_node_equal(a->u.matrix.vector, b->u.matrix.vector);
    case PROMQL_NODE_SUBQUERY:
        return a->u.subquery.range_ms == b->u.subquery.range_ms && a->u.subquery.step_ms == b->u.subquery.step_ms &&
               mods_eq(&a->u.subquery.mods, &b->u.subquery.mods) &&
               promql_node_equal(a->u.subquery.expr, b->u.subquery.expr);
    case PROMQL_NODE_PAREN: return promql_node_equal(a->u.paren.expr, b->u.paren.expr);
    case PROMQL_NODE_UNARY:
        return a->u.unary.op == b->u.unary.op && promql_node_equal(a->u.unary.expr, b->u.unary.expr);
    case PROMQL_NODE_BINARY:
        return a->u.binary.op == b->u.binary.op && a->u.binary.return_bool == b->u.binary.return_bool &&
               a->u.binary.has_matching == b->u.binary.has_matching && a->u.binary.card == b->u.binary.card &&
               a->u.binary.on == b->u.binary.on &&
               strs_eq(a->u.binary.labels, a->u.binary.n_labels, b->u.binary.labels, b->u.binary.n_labels) &&
               strs_eq(a->u.binary.include, a->u.binary.n_include, b->u.binary.include, b->u.binary.n_include) &&
               promql_node_equal(a->u.binary.lhs, b->u.binary.lhs) && promql_node_equal(a->u.binary.rhs, b->u.binary.rhs);
    case PROMQL_NODE_AGGREGATE:
        return a->u.aggregate.op == b->u.aggregate.op && a->u.aggregate.without == b->u.aggregate.without &&
               strs_eq(a->u.aggregate.grouping, a->u.aggregate.n_grouping, b->u.aggregate.grouping,
                       b->u.aggregate.n_grouping) &&
               promql_node_equal(a->u.aggregate.param, b->u.aggregate.param) &&
               promql_node_equal(a->u.aggregate.expr, b->u.aggregate.expr);
    case PROMQL_NODE_CALL:
        if (a->u.call.func != b->u.call.func || a->u.call.n_args != b->u.call.n_args) return false;
        for (size_t i = 0; i < a->u.call.n_args; i++)
            if (!promql_node_equal(a->u.call.args[i], b->u.call.args[i])) return false;
        return true;
    }
    return false;
}

int promql_matcher_compile(const promql_matcher_t *m, model_matcher_t **out, vg_error_t *err) {
    static const model_match_type_t types[] = {[PROMQL_MATCH_EQ] = MODEL_MATCH_EQ, [PROMQL_MATCH_NEQ] = MODEL_MATCH_NEQ,
                                               [PROMQL_MATCH_RE] = MODEL_MATCH_RE, [PROMQL_MATCH_NRE] = MODEL_MATCH_NRE};
    return model_matcher_new(types[m->type], m->name.ptr, m->value.ptr, out, err);
}

int promql_selector_matchers(const promql_node_t *sel, model_matcher_t **out, size_t cap, size_t *n_out, vg_error_t *err) {
    *n_out = 0;
    size_t n = sel->u.vector.n_matchers;
    if (n > cap) return vg_error_set(err, VG_ELIMIT, "more than %zu matchers in a selector", cap);
    for (size_t i = 0; i < n; i++) {
        int rc = promql_matcher_compile(&sel->u.vector.matchers[i], &out[i], err);
        if (rc) {
            while (i) model_matcher_free(out[--i]);
            return rc;
        }
    }
    *n_out = n;
    return 0;
}
