/* The PromQL evaluation engine: instant and range evaluation of a parsed expression (promql.h) over the
 * storage interface (tsdb/storage.h) with Prometheus 2.42 semantics, the Prometheus JSON form of its
 * results, and the scripted-test runner behind `vigil promqltest`.
 *
 * Invariants:
 *  - The engine object is immutable after promql_engine_new() except for its concurrency gate, so one
 *    engine serves any number of threads; at most opts.max_concurrent queries evaluate at once, the
 *    others wait (bounded by their timeout).
 *  - Everything a result points to (labels, points, strings) lives in the arena the caller passed in;
 *    the querier opened for a query is closed before the exec call returns.
 *  - Samples: float64 only. A value whose bits are PROMQL_STALE_NAN_BITS marks a series stale.
 *  - Recursion follows the syntax tree, whose depth the parser bounds (PROMQL_DEFAULT_MAX_DEPTH). */
#ifndef VG_PROMQL_ENGINE_PROMQL_ENGINE_H
#define VG_PROMQL_ENGINE_PROMQL_ENGINE_H

#include "model/labels.h"
#include "promql/promql.h"
#include "tsdb/storage.h"
#include "util/arena.h"
#include "util/error.h"
#include "util/json.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- defaults (Prometheus 2.42 server flags) ---------------------------------------------------- */

#define PROMQL_DEFAULT_LOOKBACK_MS (5 * 60 * 1000)      /* --query.lookback-delta */
#define PROMQL_DEFAULT_SUBQUERY_STEP_MS (60 * 1000)     /* global evaluation_interval */
#define PROMQL_DEFAULT_MAX_SAMPLES 50000000             /* --query.max-samples */
#define PROMQL_DEFAULT_TIMEOUT_MS (2 * 60 * 1000)       /* --query.timeout */
#define PROMQL_DEFAULT_MAX_POINTS 11000                 /* points per series of a range query */
#define PROMQL_DEFAULT_MAX_CONCURRENT 20                /* --query.max-concurrency */
#define PROMQL_DEFAULT_MAX_EVAL_BYTES (1LL << 30)          /* query.max_bytes: memory one evaluation may take */

#define PROMQL_STALE_NAN_BITS 0x7ff0000000000002ULL

typedef struct promql_engine_opts {
    int64_t lookback_ms;      /* 0 = PROMQL_DEFAULT_LOOKBACK_MS */
    int64_t subquery_step_ms; /* step of subqueries written without one; 0 = default */
    int64_t max_samples;      /* samples held in memory at once; 0 = default */
    int64_t timeout_ms;       /* per query, including the wait for a slot; 0 = default */
    int64_t max_points;       /* (end-start)/step of a range query; 0 = default */
    int max_concurrent;       /* 0 = default */
    int64_t max_bytes;        /* bytes one query's evaluation may allocate (labels, points, everything in
                                 its arena, label_replace/label_join buffers); 0 = default */
} promql_engine_opts_t;

typedef struct promql_engine promql_engine_t;

/* opts may be NULL (all defaults). *out is owned: free with promql_engine_free(). */
int promql_engine_new(const promql_engine_opts_t *opts, promql_engine_t **out, vg_error_t *err);
void promql_engine_free(promql_engine_t *eng);

/* Where a query reads from: open_querier is called once per query with the time range the expression
 * needs ([mint, maxt], ms, inclusive); the engine closes the querier before returning. */
typedef struct promql_queryable {
    int (*open_querier)(void *ctx, int64_t mint, int64_t maxt, storage_querier_t **out, vg_error_t *err);
    void *ctx;
} promql_queryable_t;

/* ---- results ------------------------------------------------------------------------------------ */

typedef struct promql_point {
    int64_t t; /* ms */
    double v;
} promql_point_t;

typedef struct promql_series {
    const model_label_t *labels; /* arena; sorted by name */
    size_t n_labels;
    const promql_point_t *points; /* arena; ascending t (a vector element has exactly one) */
    size_t n_points;
} promql_series_t;

/* What evaluating a query cost, as Prometheus' query stats report it (stats= on the API). Times in
 * seconds. Samples: those the selectors loaded per evaluation step (a vector selector's point, a range
 * function's window), in total and per step of the query's grid (samples of a subquery's inner grid
 * count in the total only); peak: the most samples the evaluation held at once. */
typedef struct promql_stats {
    double exec_queue_s, exec_total_s, eval_total_s, prep_s, inner_eval_s, sort_s;
    int64_t total_samples, peak_samples;
    int64_t *per_step; /* arena; n_steps entries, step k at start_ms + k*step_ms */
    size_t n_steps;
    int64_t start_ms, step_ms;
} promql_stats_t;

typedef struct promql_result {
    promql_value_type_t type; /* SCALAR, STRING, VECTOR or MATRIX */
    int64_t t;                /* evaluation time of an instant query (ms) */
    double scalar;            /* SCALAR */
    promql_str_t string;      /* STRING (arena) */
    promql_series_t *series;  /* VECTOR: evaluation order; MATRIX: sorted by labels (arena) */
    size_t n_series;
    const char **warnings; /* arena; none are produced today (no remote storage) */
    size_t n_warnings;
    uint64_t samples_read; /* stats: samples read from storage */
    promql_stats_t stats;
} promql_result_t;

/* ---- execution ---------------------------------------------------------------------------------- */

typedef struct promql_query {
    const promql_node_t *expr; /* borrowed, from promql_parse */
    int64_t start_ms, end_ms;  /* equal for an instant query */
    int64_t step_ms;           /* 0 for an instant query */
    int64_t timeout_ms;        /* 0 = engine default; capped at the engine's timeout */
    int64_t max_samples;       /* 0 = engine default; only lowers it (a tenant's limit) */
    int64_t max_bytes;         /* 0 = engine default; only lowers it */
} promql_query_t;

/* Evaluates q. On success *out (arena) holds the result and 0 is returned. Errors (*out = NULL):
 *  VG_EINVAL   bad range (end < start, step <= 0, too many points) or an expression type that a range
 *              query cannot return; message as Prometheus' API writes it
 *  VG_EEXEC    evaluation error (many-to-many matching, duplicate label sets, bad label_replace regex…)
 *  VG_ELIMIT   "query processing would load too many samples into memory in query execution", or
 *              "query processing would use more than N bytes of memory in query execution (query.max_bytes)"
 *  VG_ETIMEOUT "query timed out in query queue|expression evaluation"
 *  or whatever open_querier / the storage returned. */
int promql_exec(promql_engine_t *eng, const promql_queryable_t *qb, const promql_query_t *q, vg_arena_t *arena,
                promql_result_t **out, vg_error_t *err);
int promql_exec_instant(promql_engine_t *eng, const promql_queryable_t *qb, const promql_node_t *expr, int64_t t_ms,
                        vg_arena_t *arena, promql_result_t **out, vg_error_t *err);
int promql_exec_range(promql_engine_t *eng, const promql_queryable_t *qb, const promql_node_t *expr,
                      int64_t start_ms, int64_t end_ms, int64_t step_ms, vg_arena_t *arena, promql_result_t **out,
                      vg_error_t *err);

/* Writes Prometheus' `data` object {"resultType":…,"result":…} for r, byte-identical to Prometheus
 * 2.42 (timestamps and values formatted as its API does). */
void promql_result_write_json(const promql_result_t *r, vg_json_t *j);
/* The same with Prometheus' "stats" member after "result" when stats is set: timings and samples, and
 * with per_step the samples of every step ("totalQueryableSamplesPerStep", as Prometheus 2.42 writes
 * it for stats=all with per-step statistics enabled). */
void promql_result_write_json_stats(const promql_result_t *r, bool stats, bool per_step, vg_json_t *j);

/* ---- scripted tests ----------------------------------------------------------------------------- */

/* A factory of empty storages for `promqltest` (main.c plugs in the in-memory TSDB). */
typedef struct promql_test_storage {
    void *ctx;
    /* A new empty storage; *out is passed to the other functions. */
    int (*create)(void *ctx, void **out, vg_error_t *err);
    int (*appender)(void *st, storage_appender_t **out, vg_error_t *err);
    /* Same contract as promql_queryable_t.open_querier, with ctx = the storage. */
    int (*querier)(void *st, int64_t mint, int64_t maxt, storage_querier_t **out, vg_error_t *err);
    void (*destroy)(void *st);
} promql_test_storage_t;

/* `vigil promqltest [-v] FILE…`: argv[0] is the subcommand name. Runs every file in the Prometheus
 * scripted-test format, prints per-file counts and "promqltest: N passed, N failed"; returns the exit
 * code (0 all passed, 1 any failure, 2 usage). */
int promql_cmd_test(int argc, char **argv, const promql_test_storage_t *storage);

/* A series of the `load` notation (`up{job="a"} 0+10x5 _ stale 1x3`): labels sorted by name, one value
 * per load step; omit[i] marks a `_` (no sample at that step). Everything lives in the arena. */
typedef struct promql_test_series {
    model_label_t *labels;
    size_t n_labels;
    double *values; /* a `stale` is PROMQL_STALE_NAN_BITS */
    bool *omit;
    size_t n_values;
} promql_test_series_t;

/* Parses one series line of a `load` block as the scripted tests do. 0, or VG_EINVAL. */
int promql_test_parse_series(vg_arena_t *arena, const char *line, promql_test_series_t *out);
/* Parses a metric without values (`name{l="v"}`, `{l="v"}`, `name`), as the scripted tests read their
 * expected samples; labels sorted by name (arena). 0, or VG_EINVAL. */
int promql_test_parse_metric(vg_arena_t *arena, const char *text, model_label_t **labels, size_t *n_labels);

#endif
