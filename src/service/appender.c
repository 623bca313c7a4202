/* The tenant appender: a storage_appender_t decorator that scopes writes to a tenant, and the ingestion
 * admission (rate limit) and series count that go with it.
 *
 * Invariants: every series a scoped appender passes on carries the tenant's label with an allowed
 * value; the series budget is checked by the storage's series gate, under the storage's own lock for
 * that series, against the tenant's count in tenancy_usage (reserved atomically), so concurrent writers
 * of one tenant cannot overshoot it and no second lookup of the series happens here. Labels are not
 * validated here: the storage does it, once. */
#include "service_int.h"

#include "tsdb/tsdb.h"
#include "util/timeutil.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    storage_appender_t base;
    storage_appender_t *inner;
    service_t *svc;
    char tenant[TENANCY_TENANT_MAX + 1];
    const char *label;         /* the tenant label (borrowed from the context's matcher, which outlives us) */
    const char *const *values; /* its allowed values; values[0] is forced */
    size_t n_values;
    int64_t max_series;
    model_label_t *scratch;
    size_t cap;
} tapp_t;

static bool allowed(const tapp_t *a, const char *v) {
    for (size_t k = 0; k < a->n_values; k++)
        if (!strcmp(v, a->values[k])) return true;
    return false;
}

/* The series gate: one reservation from the tenant's budget per series the storage creates. */
static bool gate(void *ctx, const model_label_t *l, size_t n) {
    (void)l, (void)n;
    tapp_t *a = ctx;
    uint64_t count;
    return tenancy_usage_series_reserve(service_usage(a->svc), a->tenant, a->max_series, &count);
}

static int t_append(storage_appender_t *base, const model_label_t *l, size_t n, int64_t t, double v, uint64_t *ref_out,
                    vg_error_t *err) {
    tapp_t *a = (tapp_t *)base;
    if (n + 1 > a->cap) {
        model_label_t *ns = realloc(a->scratch, (n + 1) * sizeof *ns);
        if (!ns) return vg_error_set(err, VG_ENOMEM, "out of memory");
        a->scratch = ns;
        a->cap = n + 1;
    }
    if (n) memcpy(a->scratch, l, n * sizeof *l);
    size_t k = n, i;
    for (i = 0; i < n && strcmp(l[i].name, a->label); i++) {}
    if (i == n) a->scratch[k++] = (model_label_t){a->label, a->values[0]};
    else if (!allowed(a, l[i].value)) a->scratch[i].value = a->values[0];
    return storage_append(a->inner, a->scratch, k, t, v, ref_out, err);
}

static int t_append_ref(storage_appender_t *base, uint64_t ref, int64_t t, double v, vg_error_t *err) {
    /* a reference comes from this appender's append, so its series already carries the tenant label */
    return storage_append_ref(((tapp_t *)base)->inner, ref, t, v, err);
}

static int t_commit(storage_appender_t *base, vg_error_t *err) { return storage_commit(((tapp_t *)base)->inner, err); }

static void t_rollback(storage_appender_t *base) { storage_rollback(((tapp_t *)base)->inner); }

static void t_free(storage_appender_t *base) {
    tapp_t *a = (tapp_t *)base;
    storage_appender_free(a->inner);
    free(a->scratch);
    free(a);
}

static const storage_appender_vt tapp_vt = {.append = t_append,
                                            .append_ref = t_append_ref,
                                            .commit = t_commit,
                                            .rollback = t_rollback,
                                            .free = t_free,
                                            .set_series_gate = NULL /* the budget is this appender's gate */};

int service_tenant_appender(service_ctx_t *ctx, storage_appender_t *inner, storage_appender_t **out, vg_error_t *err) {
    *out = NULL;
    if (!ctx->scoped) {
        *out = inner;
        return 0;
    }
    tapp_t *a = calloc(1, sizeof *a);
    if (!a) {
        storage_appender_free(inner);
        return vg_error_set(err, VG_ENOMEM, "out of memory");
    }
    a->base.vt = &tapp_vt;
    a->inner = inner;
    a->svc = ctx->svc;
    memcpy(a->tenant, ctx->tenant, sizeof a->tenant);
    a->label = ctx->matcher.label;
    a->values = (const char *const *)ctx->matcher.values;
    a->n_values = ctx->matcher.n_values;
    a->max_series = ctx->limits.max_series;
    if (a->max_series > 0) {
        service__active_series(ctx, SERVICE__ACTIVE_MAX_AGE_MS); /* the count the gate reserves from */
        int rc = storage_set_series_gate(inner, gate, a);
        if (rc) {
            t_free(&a->base);
            return vg_error_set(err, rc, "the storage cannot enforce a series limit");
        }
    }
    *out = &a->base;
    return 0;
}

int service_appender(service_ctx_t *ctx, storage_appender_t **out, vg_error_t *err) {
    *out = NULL;
    if (!ctx->svc || !ctx->svc->db) return vg_error_set(err, VG_EUNAVAIL, "storage is not open");
    storage_appender_t *inner;
    int rc = tsdb_db_appender(ctx->svc->db, &inner, err);
    return rc ? rc : service_tenant_appender(ctx, inner, out, err);
}

uint64_t service__active_series(service_ctx_t *ctx, int64_t max_age_ms) {
    tenancy_usage_t *u = service_usage(ctx->svc);
    const tenancy_matcher_t *m = &ctx->matcher;
    uint64_t token = 0;
    int64_t now = vg_now_ms();
    int must = tenancy_usage_series_begin(u, ctx->tenant, now, max_age_ms, &token);
    if (must == 0) return tenancy_usage_series_count(u, ctx->tenant);
    uint64_t n = ctx->svc->db ? tsdb_db_count_series(ctx->svc->db, m->label, (const char *const *)m->values, m->n_values,
                                                    now - ctx->cfg->ingest_limits.active_series_window_ms)
                              : 0;
    if (must > 0) tenancy_usage_series_measured(u, ctx->tenant, token, now, n);
    return must > 0 ? tenancy_usage_series_count(u, ctx->tenant) : n;
}

uint64_t service_ctx_active_series(service_ctx_t *ctx) { return ctx->scoped ? service__active_series(ctx, 0) : 0; }

uint64_t service_ctx_series_count(service_ctx_t *ctx) {
    return ctx->scoped ? tenancy_usage_series_count(service_usage(ctx->svc), ctx->tenant) : 0;
}

int service_ingest_admit(service_ctx_t *ctx, size_t n_samples, int *retry_after_s, vg_error_t *err) {
    *retry_after_s = 0;
    const config_limits_t *lim = &ctx->limits;
    if (!(lim->ingestion_rate > 0) || !n_samples) return 0;
    uint64_t burst = lim->ingestion_burst > 0 ? (uint64_t)lim->ingestion_burst : (uint64_t)lim->ingestion_rate;
    int64_t wait = tenancy_limiter_take(service_limiter(ctx->svc), ctx->scoped ? ctx->tenant : "-", "ingest",
                                        lim->ingestion_rate, burst, vg_mono_ns(), n_samples);
    if (wait == 0) return 0;
    if (wait == VG_ELIMIT) /* more than the bucket ever holds: retrying the same batch cannot succeed */
        return vg_error_set(err, VG_ETOOLARGE,
                            "a batch of %zu samples exceeds the tenant's ingestion burst of %llu samples (rate %g samples/s) "
                            "and can never be admitted; send smaller batches",
                            n_samples, (unsigned long long)burst, lim->ingestion_rate);
    if (wait > 0) *retry_after_s = (int)((wait + 999) / 1000);
    return vg_error_set(err, VG_ERATELIMIT, "ingestion rate limit (%g samples/s, burst %llu) exceeded by a request of %zu samples",
                        lim->ingestion_rate, (unsigned long long)burst, n_samples);
}

uint32_t service_write_scope(service_ctx_t *ctx) {
    service__priv_t *p = ctx->svc ? ctx->svc->priv : NULL;
    return p && p->refcache ? service__refcache_scope(p->refcache, ctx) : 0;
}

uint64_t service_write_ref_get(service_ctx_t *ctx, uint32_t scope, const void *bytes, size_t len) {
    return scope ? service__refcache_get(((service__priv_t *)ctx->svc->priv)->refcache, scope, bytes, len) : 0;
}

void service_write_refs_get(service_ctx_t *ctx, uint32_t scope, size_t n, const uint8_t *const *keys, const size_t *lens,
                            uint64_t *refs) {
    if (scope) service__refcache_get_batch(((service__priv_t *)ctx->svc->priv)->refcache, scope, n, keys, lens, refs);
    else memset(refs, 0, n * sizeof *refs);
}

void service_write_ref_put(service_ctx_t *ctx, uint32_t scope, const void *bytes, size_t len, uint64_t ref) {
    if (scope) service__refcache_put(((service__priv_t *)ctx->svc->priv)->refcache, scope, bytes, len, ref);
}
