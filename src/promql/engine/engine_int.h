/* Internal types of the PromQL engine shared by its files: the per-query context, evaluated values over
 * a step grid, label helpers, a small hash index and the output builder.
 *
 * Invariants:
 *  - An evaluator (promql__ev_t) has a step grid start + k*step, k < n_steps (an instant query: one step).
 *  - A VECTOR value holds series whose points lie on that grid, strictly ascending, so the point of step k
 *    is found with a per-series cursor; a SCALAR value holds one double per step.
 *  - All memory is from the query arena; label arrays are immutable once built and may be shared.
 *  - Every function that can fail returns 0 or a negative VG_E* code with q->err set. */
#ifndef VG_PROMQL_ENGINE_ENGINE_INT_H
#define VG_PROMQL_ENGINE_ENGINE_INT_H

#include "promql_engine.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define TRY(x)                                                                                                   \
    do {                                                                                                         \
        int rc__ = (x);                                                                                          \
        if (rc__ < 0) return rc__;                                                                               \
    } while (0)

/* Time checks happen once every this many units of work (series × steps). */
#define PROMQL__CHECK_EVERY 4096

typedef struct promql__ser {
    model_label_t *lbl; /* arena, sorted */
    uint32_t nl;
    uint64_t h; /* model_labels_hash(lbl) */
    promql_point_t *p;
    uint32_t np, cap;
} promql__ser_t;

typedef struct promql__val {
    promql_value_type_t type;
    double *sc; /* SCALAR: one per step */
    promql__ser_t *s;
    size_t ns;
    promql_str_t str;
} promql__val_t;

/* Open-addressing index from a 64-bit hash to a uint32 payload; equal hashes are disambiguated by the
 * caller's eq callback so collisions never merge distinct keys. */
typedef struct promql__hmap {
    uint64_t *keys;
    uint32_t *vals; /* UINT32_MAX = empty */
    size_t cap, n;
} promql__hmap_t;

typedef struct promql__q {
    vg_arena_t *a;
    storage_querier_t *qr;
    vg_error_t *err;
    int64_t lookback, sub_step;
    int64_t q_start, q_end; /* for @ start() / end() */
    int64_t max_samples, cur_samples;
    int64_t max_bytes; /* the arena's limit during evaluation is its total at the start plus this */
    uint64_t samples_read;
    promql_stats_t *stats; /* the result's statistics, counted while evaluating */
    uint64_t deadline_ns;
    unsigned tick;
    promql_point_t *scratch; /* malloc'd, reused while reading series; freed at the end */
    size_t scratch_cap;
    model_matcher_t **ms; /* compiled matchers to free at the end */
    size_t n_ms, cap_ms;
} promql__q_t;

typedef struct promql__ev {
    promql__q_t *q;
    int64_t start, end, step;
    size_t n_steps;
} promql__ev_t;

/* Output builder: series found by label set, points appended in step order. */
typedef struct promql__ob {
    promql__q_t *q;
    promql__ser_t *s;
    size_t ns, cap;
    promql__hmap_t map;
    uint32_t pt_cap0; /* first capacity of a point array */
} promql__ob_t;

/* ---- engine.c ---- */
int promql__eval(promql__ev_t *ev, const promql_node_t *n, promql__val_t *out);
/* Fails with VG_ETIMEOUT past the deadline; looks at the clock once every PROMQL__CHECK_EVERY calls. */
int promql__check_time_now(promql__q_t *q);
static inline int promql__check_time(promql__q_t *q) {
    return ++q->tick % PROMQL__CHECK_EVERY ? 0 : promql__check_time_now(q);
}
int promql__samples_add(promql__q_t *q, int64_t n);
/* Statistics: n samples loaded for the step at ts (ts off the query's grid: the total only), and a
 * transient hold of n samples beyond cur_samples (for the peak). */
void promql__stat_loaded(promql__q_t *q, int64_t ts, int64_t n);
void promql__stat_hold(promql__q_t *q, int64_t n);
/* VG_ELIMIT (q->err set) unless n more bytes fit in the query's memory budget; for memory taken outside
 * the arena (malloc'd scratch buffers), which the arena's limit does not see. */
int promql__bytes_check(promql__q_t *q, size_t n);
int promql__err_bytes(promql__q_t *q);
int promql__err_same_labelset(promql__q_t *q);
int64_t promql__at_ms(const promql__q_t *q, const promql_time_mods_t *m);
/* A raw range input (matrix selector or subquery): series with samples, window parameters. */
typedef struct promql__rin {
    promql__ser_t *s;
    size_t ns;
    int64_t range, offset;
    bool has_at;
    int64_t at;
} promql__rin_t;
int promql__eval_range_input(promql__ev_t *ev, const promql_node_t *n, promql__rin_t *out);
/* The vector selector of a matrix-selector range input, with the window parameters in out (no series)
 * and the time range to read in [*mint, *maxt]; NULL when n is not a matrix selector (a subquery). */
const promql_node_t *promql__range_selector(const promql__ev_t *ev, const promql_node_t *n, promql__rin_t *out,
                                            int64_t *mint, int64_t *maxt);
/* One selected series: labels borrowed from the querier, points in a buffer reused for the next one. */
typedef int (*promql__series_fn)(void *ctx, model_label_t *lbl, uint32_t nl, const promql_point_t *p, uint32_t np);
int promql__select_each(promql__q_t *q, const promql_node_t *vs, int64_t mint, int64_t maxt, bool drop_stale,
                        promql__series_fn fn, void *ctx);
const promql_node_t *promql__unparen(const promql_node_t *n);

/* ---- util.c ---- */
int promql__hmap_init(promql__q_t *q, promql__hmap_t *m, size_t hint);
/* Returns the payload of the entry with hash h for which eq(ctx, payload) holds, or UINT32_MAX. */
uint32_t promql__hmap_get(const promql__hmap_t *m, uint64_t h, bool (*eq)(const void *ctx, uint32_t v),
                          const void *ctx);
int promql__hmap_put(promql__q_t *q, promql__hmap_t *m, uint64_t h, uint32_t v);

void promql__ob_init(promql__ob_t *ob, promql__q_t *q, size_t n_steps);
/* Index of the series with labels (lbl, nl, h), created when missing; *created tells which. */
int promql__ob_series(promql__ob_t *ob, model_label_t *lbl, uint32_t nl, uint64_t h, uint32_t *idx,
                      bool *created);
/* Adds a whole series whose label set the caller knows is not in ob yet; an ob filled this way is not
 * searched by labels (promql__ob_series must not be mixed in). */
int promql__ob_append(promql__ob_t *ob, const promql__ser_t *s);
/* Appends a point; a point at the same t already present is a duplicate label set (error). */
int promql__ob_push(promql__ob_t *ob, uint32_t idx, int64_t t, double v);
void promql__ob_take(promql__ob_t *ob, promql__val_t *out);

int promql__ser_push(promql__q_t *q, promql__ser_t *s, int64_t t, double v);

/* The empty label set (never NULL, so NULL can mean out of memory). */
extern model_label_t promql__no_labels[1];
/* Go's math.Max/math.Min (NaN wins). */
double promql__go_max(double a, double b);
double promql__go_min(double a, double b);

/* Label helpers (results are arena-allocated; inputs sorted). */
model_label_t *promql__lbl_drop_name(promql__q_t *q, const model_label_t *l, uint32_t n, uint32_t *nout);
int promql__lbl_set(promql__q_t *q, const model_label_t *l, uint32_t n, const char *name, const char *value,
                    model_label_t **out, uint32_t *nout);
const char *promql__lbl_get(const model_label_t *l, uint32_t n, const char *name);
bool promql__lbl_has_name(const model_label_t *l, uint32_t n);
/* Hash of the labels selected by names (on=true: only those; false: all but those and __name__). */
uint64_t promql__lbl_sig(const model_label_t *l, uint32_t n, const promql_str_t *names, size_t nn, bool on);
bool promql__lbl_sig_eq(const model_label_t *a, uint32_t na, const model_label_t *b, uint32_t nb,
                        const promql_str_t *names, size_t nn, bool on);
/* Go's Labels.String(): {a="b", c="d"}. */
void promql__lbl_string(const model_label_t *l, uint32_t n, vg_buf_t *out);
static inline bool promql__stale(double v) {
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b == PROMQL_STALE_NAN_BITS;
}
void promql__sort_go(void *base, size_t n, size_t size, bool (*less)(const void *a, const void *b, void *ctx),
                     void *ctx);
double promql__quantile(double q, double *v, size_t n);
bool promql__parse_go_float(const char *s, double *out);

/* ---- functions.c / aggregate.c / binop.c ---- */
int promql__eval_call(promql__ev_t *ev, const promql_node_t *n, promql__val_t *out);
int promql__eval_aggregate(promql__ev_t *ev, const promql_node_t *n, promql__val_t *out);
int promql__eval_binary(promql__ev_t *ev, const promql_node_t *n, promql__val_t *out);

/* Per-step view of a VECTOR value on the evaluator's grid. */
typedef struct promql__cur {
    const promql__val_t *v;
    uint32_t *idx; /* series present at the current step, ascending (read only) */
    double *val;   /* their values */
    size_t n;
    /* bucketed: every point by step, series order within a step */
    bool bucketed;
    int64_t start, step;
    size_t n_steps;
    size_t *off; /* step k: entries [off[k], off[k+1]) */
    uint32_t *all_idx;
    double *all_val;
    uint32_t *pos; /* otherwise: per series cursor */
} promql__cur_t;
int promql__cur_init(const promql__ev_t *ev, promql__cur_t *c, const promql__val_t *v);
/* Sets idx/val to the series that have a point at t (a step of the grid; t ascending across calls). */
void promql__cur_step(promql__cur_t *c, int64_t t);

#endif
