/* The executor: the one read interface behind every HTTP read path and the rule engine. PromQL
 * (instant and range), series, label names and values, and metric metadata, over a backend that is
 * either local (the engine over the TSDB querier, service/) or remote (a Prometheus-compatible API).
 *
 * Contract: an executor is always called *after* tenant enforcement — the expression and matchers it
 * gets already carry the tenant's matcher, so tenancy holds whatever backend serves. Everything a call
 * returns lives in the arena passed in. An executor is shared by every thread (its functions are
 * thread-safe). Errors follow promql_exec (VG_EINVAL, VG_EEXEC, VG_ELIMIT, VG_ETIMEOUT, VG_EUNAVAIL …). */
#ifndef VG_PROMQL_EXECUTOR_H
#define VG_PROMQL_EXECUTOR_H

#include "model/labels.h"
#include "model/matcher.h"
#include "promql/engine/promql_engine.h"
#include "util/arena.h"
#include "util/error.h"

#include <stddef.h>
#include <stdint.h>

/* One selector's matchers (a match[] parameter): a series must match all of them. */
typedef struct promql_matcher_set {
    model_matcher_t *const *v;
    size_t n;
} promql_matcher_set_t;

/* A series' labels (sorted by name; arena). */
typedef struct promql_labels {
    const model_label_t *labels;
    size_t n_labels;
} promql_labels_t;

/* One metadata entry of a metric family (strings in the arena; type "unknown" and "" when unknown). */
typedef struct promql_metadata {
    const char *metric, *type, *help, *unit;
} promql_metadata_t;

/* A series' newest sample (for /federate): labels sorted by name (arena). */
typedef struct promql_latest {
    const model_label_t *labels;
    size_t n_labels;
    int64_t t;
    double v;
} promql_latest_t;

typedef struct promql_executor promql_executor_t;

typedef struct promql_executor_vt {
    /* q->step_ms == 0 and start == end: an instant query. */
    int (*query_instant)(promql_executor_t *ex, const promql_query_t *q, vg_arena_t *arena, promql_result_t **out,
                         vg_error_t *err);
    int (*query_range)(promql_executor_t *ex, const promql_query_t *q, vg_arena_t *arena, promql_result_t **out,
                       vg_error_t *err);
    /* Series with samples in [start, end] matching any of the sets, sorted by labels, each once. */
    int (*series)(promql_executor_t *ex, int64_t start, int64_t end, const promql_matcher_set_t *sets, size_t n_sets,
                  vg_arena_t *arena, promql_labels_t **out, size_t *n_out, vg_error_t *err);
    /* Sorted distinct label names (name == NULL) or values of `name` over the series matching any set
     * (n_sets == 0: every series, as Prometheus answers without match[]). */
    int (*labels)(promql_executor_t *ex, const char *name, int64_t start, int64_t end, const promql_matcher_set_t *sets,
                  size_t n_sets, vg_arena_t *arena, const char *const **out, size_t *n_out, vg_error_t *err);
    /* Metadata per metric family, sorted by family, each distinct entry once; metric NULL/"" for all;
     * at most limit families (< 0: no limit). scope non-NULL: only families that have a series
     * matching it (a tenant's). */
    int (*metadata)(promql_executor_t *ex, const char *metric, long limit, const promql_matcher_set_t *scope,
                    vg_arena_t *arena, promql_metadata_t **out, size_t *n_out, vg_error_t *err);
    /* For each series matching any set, its newest sample in [t - lookback_ms, t] unless that sample is
     * a staleness marker (series without one are left out), sorted by labels, each series once. */
    int (*latest)(promql_executor_t *ex, int64_t t, int64_t lookback_ms, const promql_matcher_set_t *sets,
                  size_t n_sets, vg_arena_t *arena, promql_latest_t **out, size_t *n_out, vg_error_t *err);
    void (*free)(promql_executor_t *ex);
    /* Optional (NULL: the executor acts the same for every caller). An executor acting for one caller:
     * tenant is the caller's tenant id, NULL for an unscoped caller (borrowed for the executor's life).
     * The view lives in arena and is used only for the calls of one request; a backend that forwards
     * calls elsewhere (the remote engine) names the tenant to it. Returns ex itself when it has no
     * memory for the view. */
    promql_executor_t *(*scoped)(promql_executor_t *ex, const char *tenant, vg_arena_t *arena);
} promql_executor_vt;

struct promql_executor {
    const promql_executor_vt *vt;
};

static inline int promql_query_instant(promql_executor_t *ex, const promql_query_t *q, vg_arena_t *arena,
                                       promql_result_t **out, vg_error_t *err) {
    return ex->vt->query_instant(ex, q, arena, out, err);
}
static inline int promql_query_range(promql_executor_t *ex, const promql_query_t *q, vg_arena_t *arena,
                                     promql_result_t **out, vg_error_t *err) {
    return ex->vt->query_range(ex, q, arena, out, err);
}
static inline int promql_series(promql_executor_t *ex, int64_t start, int64_t end, const promql_matcher_set_t *sets,
                                size_t n_sets, vg_arena_t *arena, promql_labels_t **out, size_t *n_out, vg_error_t *err) {
    return ex->vt->series(ex, start, end, sets, n_sets, arena, out, n_out, err);
}
static inline int promql_label_names(promql_executor_t *ex, int64_t start, int64_t end, const promql_matcher_set_t *sets,
                                     size_t n_sets, vg_arena_t *arena, const char *const **out, size_t *n_out,
                                     vg_error_t *err) {
    return ex->vt->labels(ex, NULL, start, end, sets, n_sets, arena, out, n_out, err);
}
static inline int promql_label_values(promql_executor_t *ex, const char *name, int64_t start, int64_t end,
                                      const promql_matcher_set_t *sets, size_t n_sets, vg_arena_t *arena,
                                      const char *const **out, size_t *n_out, vg_error_t *err) {
    return ex->vt->labels(ex, name, start, end, sets, n_sets, arena, out, n_out, err);
}
static inline int promql_metadata(promql_executor_t *ex, const char *metric, long limit, const promql_matcher_set_t *scope,
                                  vg_arena_t *arena, promql_metadata_t **out, size_t *n_out, vg_error_t *err) {
    return ex->vt->metadata(ex, metric, limit, scope, arena, out, n_out, err);
}
static inline int promql_latest(promql_executor_t *ex, int64_t t, int64_t lookback_ms, const promql_matcher_set_t *sets,
                                size_t n_sets, vg_arena_t *arena, promql_latest_t **out, size_t *n_out, vg_error_t *err) {
    return ex->vt->latest(ex, t, lookback_ms, sets, n_sets, arena, out, n_out, err);
}
static inline promql_executor_t *promql_executor_scoped(promql_executor_t *ex, const char *tenant, vg_arena_t *arena) {
    return ex && ex->vt->scoped ? ex->vt->scoped(ex, tenant, arena) : ex;
}
static inline void promql_executor_free(promql_executor_t *ex) {
    if (ex) ex->vt->free(ex);
}

#endif
