/* The local executor: promql/executor.h over vigil's own engine and TSDB querier, with metric metadata
 * from the scraper's last scrapes.
 *
 * Invariants: every querier it opens is closed before the call returns, so results are copied into the
 * caller's arena (labels and strings), which keeps them valid after retention or head GC; results of
 * several selectors are merged sorted and distinct, as Prometheus answers. */
#include "service_int.h"

#include "ingest/scrape/scrape.h"
#include "tsdb/chunkenc.h"
#include "tsdb/tsdb.h"

#include <stdlib.h>
#include <string.h>

typedef struct local {
    promql_executor_t base;
    service_t *svc; /* engine, db and scraper are read from it at each call (they start after us) */
    bool scoped;    /* a view acting for a tenant (remote_read entries not tenant_safe are left out) */
} local_t;

static const promql_executor_vt local_vt;

static int open_querier(void *ctx, int64_t mint, int64_t maxt, storage_querier_t **out, vg_error_t *err) {
    const local_t *l = ctx;
    return service__open_querier(l->svc, l->scoped, mint, maxt, out, err);
}

static int ready(const local_t *l, vg_error_t *err) {
    return l->svc->db && l->svc->engine ? 0 : vg_error_set(err, VG_EUNAVAIL, "the query engine is not ready");
}

static int exec_query(promql_executor_t *ex, const promql_query_t *q, vg_arena_t *arena, promql_result_t **out,
                      vg_error_t *err) {
    local_t *l = (local_t *)ex;
    *out = NULL;
    int rc = ready(l, err);
    if (rc) return rc;
    promql_queryable_t qb = {open_querier, l};
    return promql_exec(l->svc->engine, &qb, q, arena, out, err);
}

static int cmp_latest(const void *a, const void *b) {
    const promql_latest_t *x = a, *y = b;
    return model_labels_cmp(x->labels, x->n_labels, y->labels, y->n_labels);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static const char *dup(vg_arena_t *a, const char *s) { return vg_arena_strndup(a, s, strlen(s)); }

/* The newest sample of the current series, unless it is a staleness marker: false when none. */
static bool newest_sample(storage_series_set_t *ss, storage_iterator_t **it, int64_t *t, double *v) {
    *it = ss->vt->iterator(ss, *it);
    bool found = false;
    while ((*it)->vt->next(*it) == STORAGE_VAL_FLOAT) {
        (*it)->vt->at(*it, t, v);
        found = true;
    }
    union { double d; uint64_t u; } bits = {.d = *v};
    return found && !(*it)->vt->err(*it) && bits.u != TSDB_STALE_NAN_BITS;
}

/* The series in [mint, maxt] matching any set, sorted and distinct, labels copied into arena; with
 * `latest`, each with its newest sample (series without one left out), from local storage only (as
 * Prometheus federates its local storage); without, remote_read entries are read too. */
static int collect(local_t *l, int64_t mint, int64_t maxt, const promql_matcher_set_t *sets, size_t n_sets, bool latest,
                   vg_arena_t *arena, promql_latest_t **out, size_t *n_out, vg_error_t *err) {
    *out = NULL;
    *n_out = 0;
    storage_querier_t *q;
    int rc = l->svc->db ? 0 : vg_error_set(err, VG_EUNAVAIL, "storage is not open");
    if (rc || (rc = latest ? tsdb_db_querier(l->svc->db, mint, maxt, &q, err)
                           : service__open_querier(l->svc, l->scoped, mint, maxt, &q, err)))
        return rc;
    promql_latest_t *all = NULL;
    size_t n = 0, cap = 0;
    storage_iterator_t *it = NULL;
    for (size_t i = 0; !rc && i < n_sets; i++) {
        storage_series_set_t *ss;
        if ((rc = storage_select(q, true, sets[i].v, sets[i].n, &ss, err))) break;
        while (ss->vt->next(ss)) {
            promql_latest_t s = {0};
            if (latest && !newest_sample(ss, &it, &s.t, &s.v)) continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                promql_latest_t *na = realloc(all, cap * sizeof *na);
                if (!na) {
                    rc = vg_error_set(err, VG_ENOMEM, "out of memory");
                    break;
                }
                all = na;
            }
            ss->vt->labels(ss, &s.labels, &s.n_labels);
            all[n++] = s;
        }
        if (!rc && ss->vt->err(ss)) rc = vg_error_set(err, ss->vt->err(ss), "reading series failed");
    }
    if (!rc && n_sets > 1) qsort(all, n, sizeof *all, cmp_latest);
    promql_latest_t *res = rc ? NULL : vg_arena_calloc(arena, n ? n : 1, sizeof *res);
    if (!rc && !res) rc = vg_error_set(err, VG_ENOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        if (i && !cmp_latest(&all[i - 1], &all[i])) continue; /* the same series from two selectors */
        model_label_t *ls = vg_arena_alloc(arena, (all[i].n_labels ? all[i].n_labels : 1) * sizeof *ls);
        if (!ls) rc = vg_error_set(err, VG_ENOMEM, "out of memory");
        for (size_t j = 0; !rc && j < all[i].n_labels; j++) {
            ls[j].name = dup(arena, all[i].labels[j].name);
            ls[j].value = dup(arena, all[i].labels[j].value);
            if (!ls[j].name || !ls[j].value) rc = vg_error_set(err, VG_ENOMEM, "out of memory");
        }
        res[k] = all[i];
        res[k++].labels = ls;
    }
    free(all);
    storage_querier_close(q);
    if (rc) return rc;
    *out = res;
    *n_out = k;
    return 0;
}

static int exec_series(promql_executor_t *ex, int64_t start, int64_t end, const promql_matcher_set_t *sets, size_t n_sets,
                       vg_arena_t *arena, promql_labels_t **out, size_t *n_out, vg_error_t *err) {
    promql_latest_t *all;
    size_t n;
    int rc = collect((local_t *)ex, start, end, sets, n_sets, false, arena, &all, &n, err);
    if (rc) return rc;
    promql_labels_t *res = vg_arena_calloc(arena, n ? n : 1, sizeof *res);
    if (!res) return vg_error_set(err, VG_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) res[i] = (promql_labels_t){all[i].labels, all[i].n_labels};
    *out = res;
    *n_out = n;
    return 0;
}

static int exec_latest(promql_executor_t *ex, int64_t t, int64_t lookback_ms, const promql_matcher_set_t *sets,
                       size_t n_sets, vg_arena_t *arena, promql_latest_t **out, size_t *n_out, vg_error_t *err) {
    return collect((local_t *)ex, t - lookback_ms, t, sets, n_sets, true, arena, out, n_out, err);
}

static int exec_labels(promql_executor_t *ex, const char *name, int64_t start, int64_t end, const promql_matcher_set_t *sets,
                       size_t n_sets, vg_arena_t *arena, const char *const **out, size_t *n_out, vg_error_t *err) {
    local_t *l = (local_t *)ex;
    *out = NULL;
    *n_out = 0;
    storage_querier_t *q;
    int rc = l->svc->db ? 0 : vg_error_set(err, VG_EUNAVAIL, "storage is not open");
    if (rc || (rc = tsdb_db_querier(l->svc->db, start, end, &q, err))) return rc;
    const char **all = NULL;
    size_t n = 0;
    for (size_t i = 0; !rc && i < (n_sets ? n_sets : 1); i++) {
        const char *const *v;
        size_t nv;
        model_matcher_t *const *ms = n_sets ? sets[i].v : NULL;
        size_t n_ms = n_sets ? sets[i].n : 0;
        rc = name ? q->vt->label_values(q, name, ms, n_ms, &v, &nv, err) : q->vt->label_names(q, ms, n_ms, &v, &nv, err);
        if (rc) break;
        const char **na = realloc(all, (n + nv + 1) * sizeof *na);
        if (!na) {
            rc = vg_error_set(err, VG_ENOMEM, "out of memory");
            break;
        }
        all = na;
        if (nv) memcpy(all + n, v, nv * sizeof *v);
        n += nv;
    }
    if (!rc && n_sets > 1) qsort(all, n, sizeof *all, cmp_str);
    const char **res = rc ? NULL : vg_arena_calloc(arena, n ? n : 1, sizeof *res);
    if (!rc && !res) rc = vg_error_set(err, VG_ENOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        if (i && !strcmp(all[i - 1], all[i])) continue;
        if (!(res[k++] = dup(arena, all[i]))) rc = vg_error_set(err, VG_ENOMEM, "out of memory");
    }
    free(all);
    storage_querier_close(q);
    if (rc) return rc;
    *out = res;
    *n_out = k;
    return 0;
}

static int exec_metadata(promql_executor_t *ex, const char *metric, long limit, const promql_matcher_set_t *scope,
                         vg_arena_t *arena, promql_metadata_t **out, size_t *n_out, vg_error_t *err) {
    local_t *l = (local_t *)ex;
    *out = NULL;
    *n_out = 0;
    const char *const *names = NULL;
    size_t n_names = 0;
    int rc = 0;
    if (scope) { /* the metric names that have a series in scope */
        if ((rc = exec_labels(ex, MODEL_METRIC_NAME, INT64_MIN / 2, INT64_MAX / 2, scope, 1, arena, &names, &n_names, err)))
            return rc;
    }
    if (!l->svc->scraper) return 0;
    ingest_metric_metadata_t *m;
    size_t n;
    if ((rc = ingest_scraper_metadata(l->svc->scraper, metric, limit, scope ? names : NULL, n_names, arena, &m, &n)))
        return vg_error_set(err, rc, "out of memory");
    promql_metadata_t *res = vg_arena_calloc(arena, n ? n : 1, sizeof *res);
    if (!res) return vg_error_set(err, VG_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) res[i] = (promql_metadata_t){m[i].metric, m[i].type, m[i].help, m[i].unit};
    *out = res;
    *n_out = n;
    return 0;
}

static void exec_free(promql_executor_t *ex) { free(ex); }

/* A view for one request: the same executor, knowing whether its caller is a tenant. */
static promql_executor_t *exec_scoped(promql_executor_t *ex, const char *tenant, vg_arena_t *arena) {
    local_t *v = vg_arena_alloc(arena, sizeof *v);
    if (!v) return ex;
    *v = *(local_t *)ex;
    v->scoped = tenant != NULL;
    return &v->base;
}

static const promql_executor_vt local_vt = {.query_instant = exec_query,
                                            .query_range = exec_query,
                                            .series = exec_series,
                                            .labels = exec_labels,
                                            .metadata = exec_metadata,
                                            .latest = exec_latest,
                                            .free = exec_free,
                                            .scoped = exec_scoped};

int service_executor_local(service_t *s, vg_error_t *err) {
    local_t *l = calloc(1, sizeof *l);
    if (!l) return vg_error_set(err, VG_ENOMEM, "out of memory");
    l->base.vt = &local_vt;
    l->svc = s;
    promql_executor_free(s->exec);
    s->exec = &l->base;
    service__rread_apply(s);
    return 0;
}
