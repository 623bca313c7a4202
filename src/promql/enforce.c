/* Tenant enforcement: a rewrite of the syntax tree that puts the tenant's matcher on every vector selector
 * (under range selectors, subqueries, calls, aggregations and both operands of binary operators).
 *
 * Why a tree rewrite: editing query text (e.g. inserting before '}') is fooled by braces in strings,
 * comments, regexes and selectors without braces; the parser sees exactly the selectors the engine will.
 * Rules per selector and enforced label L with allowed values V: an existing `L="v"` (v in V) or the exact
 * tenant matcher is kept and nothing is added; any other matcher on L is a conflict (rejected, or removed
 * under PROMQL_ENFORCE_OVERRIDE); with no acceptable matcher left, the tenant matcher is appended. One value
 * gives `L="v"`; several give one `L=~"q(v1)|q(v2)"` with q = regex quoting, so no value can widen the
 * match. An appended matcher is marked `enforced` (absent() leaves it out of its labels); one the query
 * wrote itself is kept as written. Invariant: recursion depth is the tree height (bounded by the parser). */
#include "promql_int.h"

#include "model/regex.h"

#include <string.h>

typedef struct enforcer {
    const promql_enforced_label_t *labels;
    size_t n_labels;
    promql_matcher_t *targets; /* arena; one per label */
    promql_enforce_policy_t policy;
    vg_arena_t *arena;
    vg_error_t *err;
    int count;
} enforcer_t;

static bool str_is(promql_str_t s, const char *c, size_t n) {
    return s.len == n && memcmp(s.ptr, c, n) == 0;
}

static bool value_allowed(const promql_enforced_label_t *l, promql_str_t v) {
    for (size_t i = 0; i < l->n_values; i++)
        if (str_is(v, l->values[i], strlen(l->values[i]))) return true;
    return false;
}

/* Whether m (on label l) is acceptable as is. */
static bool matcher_ok(const promql_enforced_label_t *l, const promql_matcher_t *target, const promql_matcher_t *m) {
    if (m->type == PROMQL_MATCH_EQ) return value_allowed(l, m->value);
    return target->type == PROMQL_MATCH_RE && m->type == PROMQL_MATCH_RE && m->value.len == target->value.len &&
           memcmp(m->value.ptr, target->value.ptr, m->value.len) == 0;
}

static bool valid_utf8(const char *s, size_t len) {
    for (size_t i = 0; i < len;) {
        uint32_t r;
        size_t k = promql__utf8_decode((const unsigned char *)s + i, len - i, &r);
        if (!k) return false;
        i += k;
    }
    return true;
}

static int build_targets(enforcer_t *e) {
    if (e->n_labels == 0) return vg_error_set(e->err, VG_EINVAL, "no enforced labels given");
    e->targets = vg_arena_calloc(e->arena, e->n_labels, sizeof *e->targets);
    if (!e->targets) return vg_error_set(e->err, VG_ENOMEM, "out of memory");
    for (size_t i = 0; i < e->n_labels; i++) {
        const promql_enforced_label_t *l = &e->labels[i];
        size_t nlen = l->name ? strlen(l->name) : 0;
        if (!promql__is_label_name(l->name ? l->name : "", nlen) || strcmp(l->name, "__name__") == 0)
            return vg_error_set(e->err, VG_EINVAL, "invalid enforced label name \"%s\"", l->name ? l->name : "");
        if (l->n_values == 0 || !l->values)
            return vg_error_set(e->err, VG_EINVAL, "enforced label \"%s\" has no values", l->name);
        for (size_t v = 0; v < l->n_values; v++) {
            size_t vl = l->values[v] ? strlen(l->values[v]) : 0;
            if (vl == 0) return vg_error_set(e->err, VG_EINVAL, "enforced label \"%s\" has an empty value", l->name);
            if (!valid_utf8(l->values[v], vl))
                return vg_error_set(e->err, VG_EINVAL, "enforced label \"%s\" has a value that is not UTF-8", l->name);
        }
        promql_matcher_t *t = &e->targets[i];
        t->enforced = true;
        t->name.ptr = vg_arena_strndup(e->arena, l->name, nlen);
        t->name.len = nlen;
        if (l->n_values == 1) {
            size_t vl = strlen(l->values[0]);
            t->type = PROMQL_MATCH_EQ;
            t->value.ptr = vg_arena_strndup(e->arena, l->values[0], vl);
            t->value.len = vl;
        } else {
            vg_buf_t b = VG_BUF_INIT;
            model_regex_alternation(&b, l->values, l->n_values);
            t->type = PROMQL_MATCH_RE;
            t->value.ptr = b.failed ? NULL : vg_arena_strndup(e->arena, b.data, b.len);
            t->value.len = b.len;
            vg_buf_deinit(&b);
        }
        if (!t->name.ptr || !t->value.ptr) return vg_error_set(e->err, VG_ENOMEM, "out of memory");
    }
    return 0;
}

static int enforce_selector(enforcer_t *e, promql_node_t *vs) {
    size_t n = vs->u.vector.n_matchers;
    promql_matcher_t *out = vg_arena_alloc(e->arena, (n + e->n_labels) * sizeof *out);
    if (!out) return vg_error_set(e->err, VG_ENOMEM, "out of memory");
    if (n) memcpy(out, vs->u.vector.matchers, n * sizeof *out);
    for (size_t li = 0; li < e->n_labels; li++) {
        const promql_enforced_label_t *l = &e->labels[li];
        const promql_matcher_t *t = &e->targets[li];
        bool conflict = false, have = false;
        for (size_t i = 0; i < n; i++) {
            if (!str_is(out[i].name, t->name.ptr, t->name.len)) continue;
            if (matcher_ok(l, t, &out[i])) have = true;
            else conflict = true;
        }
        if (conflict) {
            if (e->policy != PROMQL_ENFORCE_OVERRIDE) {
                return vg_error_set_pos(e->err, VG_EFORBIDDEN, (long)vs->pos, (long)vs->end,
                                        "label \"%s\" is enforced for this tenant: the query may not match on it "
                                        "with another matcher",
                                        l->name);
            }
            size_t k = 0;
            for (size_t i = 0; i < n; i++)
                if (!str_is(out[i].name, t->name.ptr, t->name.len)) out[k++] = out[i];
            n = k;
            have = false;
        }
        if (!have) out[n++] = *t;
    }
    vs->u.vector.matchers = out;
    vs->u.vector.n_matchers = n;
    e->count++;
    return 0;
}

static int walk(enforcer_t *e, promql_node_t *n) {
    if (!n) return 0;
    int rc = 0;
    switch (n->type) {
    case PROMQL_NODE_NUMBER: case PROMQL_NODE_STRING: return 0;
    case PROMQL_NODE_VECTOR: return enforce_selector(e, n);
    case PROMQL_NODE_MATRIX: return walk(e, n->u.matrix.vector);
    case PROMQL_NODE_SUBQUERY: return walk(e, n->u.subquery.expr);
    case PROMQL_NODE_PAREN: return walk(e, n->u.paren.expr);
    case PROMQL_NODE_UNARY: return walk(e, n->u.unary.expr);
    case PROMQL_NODE_BINARY:
        if ((rc = walk(e, n->u.binary.lhs))) return rc;
        return walk(e, n->u.binary.rhs);
    case PROMQL_NODE_AGGREGATE:
        if ((rc = walk(e, n->u.aggregate.param))) return rc;
        return walk(e, n->u.aggregate.expr);
    case PROMQL_NODE_CALL:
        for (size_t i = 0; i < n->u.call.n_args; i++)
            if ((rc = walk(e, n->u.call.args[i]))) return rc;
        return 0;
    }
    return vg_error_set(e->err, VG_EINTERNAL, "unknown node type %d", (int)n->type);
}

int promql_enforce(promql_node_t *root, const promql_enforced_label_t *labels, size_t n_labels,
                   promql_enforce_policy_t policy, vg_arena_t *arena, vg_error_t *err) {
    vg_error_t local;
    if (!err) err = &local;
    vg_error_clear(err);
    enforcer_t e = {labels, n_labels, NULL, policy, arena, err, 0};
    int rc = build_targets(&e);
    if (rc) return rc;
    rc = walk(&e, root);
    return rc ? rc : e.count;
}

/* ---- verification ------------------------------------------------------------------------------ */

static int check_selector(enforcer_t *e, const promql_node_t *vs) {
    for (size_t li = 0; li < e->n_labels; li++) {
        const promql_matcher_t *t = &e->targets[li];
        bool have = false;
        for (size_t i = 0; i < vs->u.vector.n_matchers; i++) {
            const promql_matcher_t *m = &vs->u.vector.matchers[i];
            if (!str_is(m->name, t->name.ptr, t->name.len)) continue;
            if (!matcher_ok(&e->labels[li], t, m))
                return vg_error_set_pos(e->err, VG_EFORBIDDEN, (long)vs->pos, (long)vs->end,
                                        "selector matches label \"%s\" with a non-tenant matcher", e->labels[li].name);
            have = true;
        }
        if (!have)
            return vg_error_set_pos(e->err, VG_EFORBIDDEN, (long)vs->pos, (long)vs->end,
                                    "selector lacks the tenant matcher on label \"%s\"", e->labels[li].name);
    }
    e->count++;
    return 0;
}

static int verify(enforcer_t *e, const promql_node_t *n) {
    if (!n) return 0;
    int rc;
    switch (n->type) {
    case PROMQL_NODE_NUMBER: case PROMQL_NODE_STRING: return 0;
    case PROMQL_NODE_VECTOR: return check_selector(e, n);
    case PROMQL_NODE_MATRIX: return verify(e, n->u.matrix.vector);
    case PROMQL_NODE_SUBQUERY: return verify(e, n->u.subquery.expr);
    case PROMQL_NODE_PAREN: return verify(e, n->u.paren.expr);
    case PROMQL_NODE_UNARY: return verify(e, n->u.unary.expr);
    case PROMQL_NODE_BINARY:
        if ((rc = verify(e, n->u.binary.lhs))) return rc;
        return verify(e, n->u.binary.rhs);
    case PROMQL_NODE_AGGREGATE:
        if ((rc = verify(e, n->u.aggregate.param))) return rc;
        return verify(e, n->u.aggregate.expr);
    case PROMQL_NODE_CALL:
        for (size_t i = 0; i < n->u.call.n_args; i++)
            if ((rc = verify(e, n->u.call.args[i]))) return rc;
        return 0;
    }
    return vg_error_set(e->err, VG_EINTERNAL, "unknown node type %d", (int)n->type);
}

int promql_enforce_check(const promql_node_t *root, const promql_enforced_label_t *labels, size_t n_labels,
                         vg_error_t *err) {
    vg_error_t local;
    if (!err) err = &local;
    vg_error_clear(err);
    vg_arena_t arena;
    vg_arena_init(&arena, 1024);
    enforcer_t e = {labels, n_labels, NULL, PROMQL_ENFORCE_REJECT, &arena, err, 0};
    int rc = build_targets(&e);
    if (!rc) rc = verify(&e, root);
    vg_arena_deinit(&arena);
    return rc;
}

int promql_enforce_match(const char *const *match, const size_t *match_len, size_t n,
                         const promql_enforced_label_t *labels, size_t n_labels, promql_enforce_policy_t policy,
                         const promql_limits_t *limits, vg_arena_t *arena, promql_node_t **out, vg_error_t *err) {
    vg_error_t local;
    if (!err) err = &local;
    vg_error_clear(err);
    for (size_t i = 0; i < n; i++) out[i] = NULL;
    for (size_t i = 0; i < n; i++) {
        size_t len = match_len ? match_len[i] : strlen(match[i]);
        promql_node_t *sel;
        int rc = promql_parse_selector(match[i], len, limits, arena, &sel, err);
        if (rc == 0) {
            rc = promql_enforce(sel, labels, n_labels, policy, arena, err);
            if (rc > 0) rc = 0;
        }
        if (rc) {
            err->line = (int)(i + 1);
            for (size_t j = 0; j < i; j++) out[j] = NULL;
            return rc;
        }
        out[i] = sel;
    }
    return 0;
}
