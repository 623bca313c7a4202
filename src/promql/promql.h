/* The PromQL front end: a parser for the Prometheus 2.42 query language into an arena-allocated syntax
 * tree, the type checker, the canonical printer (byte-identical to Prometheus' String()), and tenant
 * enforcement as a rewrite of that tree.
 *
 * Invariants:
 *  - Every node and string of a parsed tree lives in the arena passed to promql_parse(); the tree is freed
 *    with the arena. Nothing points into the caller's query text.
 *  - A tree returned by promql_parse() is type-checked and no deeper than limits.max_depth, so every
 *    walker (printer, enforcer, equality) recurses at most that deep.
 *  - print(parse(q)) parses again to an equal tree (promql_node_equal), and enforcement keeps that true.
 *  - After promql_enforce() every vector selector of the tree (including those under range selectors,
 *    subqueries, calls and both operands of every binary operator) matches the enforced label only with
 *    the tenant's matcher. */
#ifndef VG_PROMQL_PROMQL_H
#define VG_PROMQL_PROMQL_H

#include "model/matcher.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- limits ------------------------------------------------------------------------------------ */

#define PROMQL_DEFAULT_MAX_BYTES (64u * 1024u) /* query text */
#define PROMQL_DEFAULT_MAX_DEPTH 256           /* syntax-tree depth */
#define PROMQL_DEFAULT_MAX_SELECTORS 10000     /* vector selectors per query */
/* Longest duration (range, offset, subquery step): INT64_MAX ns, as Go's time.Duration (~292 years). */
#define PROMQL_MAX_DURATION_MS 9223372036854LL

typedef struct promql_limits {
    size_t max_bytes;     /* 0 = PROMQL_DEFAULT_MAX_BYTES */
    int max_depth;        /* 0 = PROMQL_DEFAULT_MAX_DEPTH */
    size_t max_selectors; /* 0 = PROMQL_DEFAULT_MAX_SELECTORS */
} promql_limits_t;

/* ---- syntax tree ------------------------------------------------------------------------------- */

typedef enum promql_node_type {
    PROMQL_NODE_NUMBER,
    PROMQL_NODE_STRING,
    PROMQL_NODE_VECTOR,   /* instant vector selector */
    PROMQL_NODE_MATRIX,   /* range vector selector: a VECTOR node plus a range */
    PROMQL_NODE_SUBQUERY,
    PROMQL_NODE_PAREN,
    PROMQL_NODE_UNARY,
    PROMQL_NODE_BINARY,
    PROMQL_NODE_AGGREGATE,
    PROMQL_NODE_CALL,
} promql_node_type_t;

typedef enum promql_value_type {
    PROMQL_TYPE_NONE,
    PROMQL_TYPE_SCALAR,
    PROMQL_TYPE_VECTOR,
    PROMQL_TYPE_MATRIX,
    PROMQL_TYPE_STRING,
} promql_value_type_t;

/* Operators of binary, unary and aggregate expressions. */
typedef enum promql_op {
    PROMQL_OP_NONE,
    /* binary, in Prometheus' precedence groups (lowest first) */
    PROMQL_OP_LOR,
    PROMQL_OP_LAND,
    PROMQL_OP_LUNLESS,
    PROMQL_OP_EQLC, /* == */
    PROMQL_OP_NEQ,  /* != */
    PROMQL_OP_LSS,
    PROMQL_OP_LTE,
    PROMQL_OP_GTR,
    PROMQL_OP_GTE,
    PROMQL_OP_ADD,
    PROMQL_OP_SUB,
    PROMQL_OP_MUL,
    PROMQL_OP_DIV,
    PROMQL_OP_MOD,
    PROMQL_OP_ATAN2,
    PROMQL_OP_POW,
    /* aggregations */
    PROMQL_OP_SUM,
    PROMQL_OP_AVG,
    PROMQL_OP_COUNT,
    PROMQL_OP_MIN,
    PROMQL_OP_MAX,
    PROMQL_OP_GROUP,
    PROMQL_OP_STDDEV,
    PROMQL_OP_STDVAR,
    PROMQL_OP_TOPK,
    PROMQL_OP_BOTTOMK,
    PROMQL_OP_COUNT_VALUES,
    PROMQL_OP_QUANTILE,
} promql_op_t;

typedef enum promql_match_type {
    PROMQL_MATCH_EQ,  /* =  */
    PROMQL_MATCH_NEQ, /* != */
    PROMQL_MATCH_RE,  /* =~ (fully anchored, RE2 syntax) */
    PROMQL_MATCH_NRE, /* !~ */
} promql_match_type_t;

typedef enum promql_card {
    PROMQL_CARD_ONE_TO_ONE,
    PROMQL_CARD_MANY_TO_ONE, /* group_left */
    PROMQL_CARD_ONE_TO_MANY, /* group_right */
    PROMQL_CARD_MANY_TO_MANY,
} promql_card_t;

typedef enum promql_at {
    PROMQL_AT_NONE,
    PROMQL_AT_TIME, /* @ <at_ms> */
    PROMQL_AT_START,
    PROMQL_AT_END,
} promql_at_t;

/* A byte string (may hold NUL bytes); arena-owned and NUL-terminated after len. */
typedef struct promql_str {
    const char *ptr;
    size_t len;
} promql_str_t;

typedef struct promql_matcher {
    promql_str_t name, value;
    promql_match_type_t type;
    /* Put there by promql_enforce(), not written in the query: absent()/absent_over_time() leave it out
     * of their labels so a tenant sees what its own Prometheus would show. Printing, compiling and
     * promql_node_equal() ignore it (printed and re-parsed, it reads as written by the query). */
    bool enforced;
} promql_matcher_t;

/* Function signature (see promql_function_lookup). variadic: 0 = exactly n_args, -1 = unbounded
 * repetition of the last type, k > 0 = up to k more of the last type (and the last may be omitted). */
typedef struct promql_function {
    const char *name;
    promql_value_type_t arg_types[5];
    int n_args;
    int variadic;
    promql_value_type_t return_type;
} promql_function_t;

typedef struct promql_node promql_node_t;

/* Time modifiers shared by vector selectors and subqueries. */
typedef struct promql_time_mods {
    int64_t offset_ms; /* as written; may be negative */
    promql_at_t at;
    int64_t at_ms; /* when at == PROMQL_AT_TIME */
} promql_time_mods_t;

struct promql_node {
    promql_node_type_t type;
    uint32_t pos, end; /* byte range in the parsed text */
    uint32_t height;   /* 1 + the height of the deepest child; bounded by limits.max_depth */
    union {
        double number;
        promql_str_t string;
        struct {
            promql_str_t name;           /* metric name written before the braces, or empty */
            promql_matcher_t *matchers;  /* arena; in source order, the name's __name__= matcher last */
            size_t n_matchers;
            promql_time_mods_t mods;
        } vector;
        struct {
            promql_node_t *vector; /* a PROMQL_NODE_VECTOR carrying offset/@ */
            int64_t range_ms;
        } matrix;
        struct {
            promql_node_t *expr;
            int64_t range_ms, step_ms; /* step 0 = default */
            promql_time_mods_t mods;
        } subquery;
        struct {
            promql_node_t *expr;
        } paren;
        struct {
            promql_op_t op; /* ADD or SUB */
            promql_node_t *expr;
        } unary;
        struct {
            promql_op_t op;
            uint32_t op_pos; /* byte offset of the operator, for error messages */
            promql_node_t *lhs, *rhs;
            bool return_bool;
            bool has_matching; /* false when an operand is a scalar (no vector matching) */
            promql_card_t card;
            bool on; /* on(...) rather than ignoring(...) */
            promql_str_t *labels;
            size_t n_labels;
            promql_str_t *include; /* group_left/right labels */
            size_t n_include;
        } binary;
        struct {
            promql_op_t op;
            promql_node_t *expr;
            promql_node_t *param; /* topk, bottomk, quantile, count_values; else NULL */
            promql_str_t *grouping;
            size_t n_grouping;
            bool without;
        } aggregate;
        struct {
            const promql_function_t *func;
            promql_node_t **args;
            size_t n_args;
        } call;
    } u;
};

/* ---- parsing ----------------------------------------------------------------------------------- */

/* Parses and type-checks a PromQL expression. On success *out is the arena-owned root and 0 is
 * returned. On failure *out = NULL, a VG_EINVAL (syntax, type, nesting past limits.max_depth) or
 * VG_ETOOLARGE (text past limits.max_bytes, selectors past limits.max_selectors) code is returned
 * and err holds a Prometheus-like message ("1:5: parse error: unexpected ...") with the byte range.
 * limits may be NULL for the defaults. Invalid UTF-8 is an error. */
int promql_parse_ex(const char *text, size_t len, const promql_limits_t *limits, vg_arena_t *arena,
                    promql_node_t **out, vg_error_t *err);
int promql_parse(const char *text, size_t len, vg_arena_t *arena, promql_node_t **out, vg_error_t *err);

/* Parses a series selector as the match[] parameter takes it (a vector selector without modifiers,
 * like Prometheus' ParseMetricSelector). */
int promql_parse_selector(const char *text, size_t len, const promql_limits_t *limits, vg_arena_t *arena,
                          promql_node_t **out, vg_error_t *err);

/* The storage matcher of a parsed matcher (model_matcher_new's errors; free with model_matcher_free). */
int promql_matcher_compile(const promql_matcher_t *m, model_matcher_t **out, vg_error_t *err);
/* Every matcher of vector selector sel, compiled into out[0..n) (cap slots). VG_ELIMIT past cap; on
 * error nothing is left allocated. */
int promql_selector_matchers(const promql_node_t *sel, model_matcher_t **out, size_t cap, size_t *n_out, vg_error_t *err);

/* The type a node evaluates to. */
promql_value_type_t promql_node_value_type(const promql_node_t *n);

/* Deep structural equality (positions ignored; NaN equals NaN bit-for-bit). */
bool promql_node_equal(const promql_node_t *a, const promql_node_t *b);

/* Signature of a function by exact name, or NULL. The table is static. */
const promql_function_t *promql_function_lookup(const char *name, size_t len);

/* Static names: "sum", "+", "=~", "instant vector", ... */
const char *promql_op_str(promql_op_t op);
const char *promql_match_str(promql_match_type_t t);
const char *promql_value_type_str(promql_value_type_t t);

/* ---- printing ---------------------------------------------------------------------------------- */

/* Appends Prometheus 2.42's String() of n to out. Returns 0 or VG_ENOMEM. Deliberate differences, both
 * to keep print/parse an identity: `a * ignoring() group_left b` keeps its "ignoring () group_left ()"
 * (2.42 drops it and so changes the meaning), and an empty match[] selector prints "{}" (2.42: ""). */
int promql_print(const promql_node_t *n, vg_buf_t *out);

/* Appends s the way Go's strconv.Quote does (used for strings and matcher values). */
void promql_quote(vg_buf_t *out, const char *s, size_t len);

/* ---- tenant enforcement ------------------------------------------------------------------------ */

typedef enum promql_enforce_policy {
    PROMQL_ENFORCE_REJECT,   /* a conflicting matcher on an enforced label is an error */
    PROMQL_ENFORCE_OVERRIDE, /* conflicting matchers on an enforced label are replaced */
} promql_enforce_policy_t;

/* One enforced label: the selector must match name to one of values (all borrowed, n_values >= 1,
 * values non-empty). One value becomes name="v"; several become one name=~"v1|v2" with every value
 * regex-quoted. */
typedef struct promql_enforced_label {
    const char *name;
    const char *const *values;
    size_t n_values;
} promql_enforced_label_t;

/* Rewrites every vector selector under root so that it carries the enforced matchers. A selector's
 * existing matcher on an enforced label is kept when it is exactly the tenant matcher (or `= v` with v
 * one of the allowed values); any other matcher on that label is rejected (VG_EFORBIDDEN, the message
 * names the label) or, under PROMQL_ENFORCE_OVERRIDE, removed. New matchers are allocated in arena.
 * Returns the number of selectors visited (>= 0) or a negative VG_E* code (VG_EINVAL for a bad label
 * definition). On error the tree may be partly rewritten and must be discarded. */
int promql_enforce(promql_node_t *root, const promql_enforced_label_t *labels, size_t n_labels,
                   promql_enforce_policy_t policy, vg_arena_t *arena, vg_error_t *err);

/* Verifies the enforcement invariant on a tree (e.g. one re-parsed from enforced text): every vector
 * selector matches each enforced label only with the tenant matcher (or `= v`, v allowed) and has at least
 * one such matcher. Returns 0 or VG_EFORBIDDEN with the offending selector's position in err. */
int promql_enforce_check(const promql_node_t *root, const promql_enforced_label_t *labels, size_t n_labels,
                         vg_error_t *err);

/* Parses each of the n match[] selectors and enforces the labels on it; out[i] receives the rewritten
 * selector (arena-owned, n slots provided by the caller). Returns 0 or a negative code; the error
 * position is that of the failing selector text, and err->line holds its 1-based index. */
int promql_enforce_match(const char *const *match, const size_t *match_len, size_t n,
                         const promql_enforced_label_t *labels, size_t n_labels, promql_enforce_policy_t policy,
                         const promql_limits_t *limits, vg_arena_t *arena, promql_node_t **out, vg_error_t *err);

/* ---- command line ------------------------------------------------------------------------------ */

/* `vigil promql fmt 'expr'` and `vigil promql enforce --label name=value [--label ...] [--override]
 * 'expr'`: argv[0] is the subcommand name. Print to stdout, errors to stderr; return the exit code. */
int promql_cmd_fmt(int argc, char **argv);
int promql_cmd_enforce(int argc, char **argv);

#endif
