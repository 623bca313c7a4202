/* POST /api/v1/write: the remote_write 1.0 receiver. The whole request is decoded and validated
 * before anything is appended, then appended as one transaction — as Prometheus 2.42 does: a series
 * with invalid labels is skipped (logged, counted), an out-of-order, duplicate or too-old sample fails
 * the request with 400 and nothing of it is kept (the client must not retry it), any other storage
 * error is a 500 (the client retries). Success is 204 with an empty body.
 *
 * A tenant's series limit (limits.max_series): new series that would take the tenant past it are
 * refused and the rest of the request is kept (samples of existing series, new series within the
 * limit); the answer is then 400 naming the limit, so the client does not retry. The count and the
 * creation of series happen under a per-tenant lock, so concurrent requests cannot overshoot. */
#include "api.h"
#include "auth.h"

#include "ingest/remote_write.h"
#include "tenancy/tenancy.h"
#include "selfmon/selfmon.h"
#include "tsdb/tsdb.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

static selfmon_metric_t *m_samples, *m_invalid, *m_requests_rejected, *m_series_refused;

/* Series creation per tenant is serialized (by stripe) while its series limit is checked. */
#define SERIES_LOCKS 64
static pthread_mutex_t series_locks[SERIES_LOCKS];

/* "Active": a sample in the last hour, or created and awaiting its first. The count is reused for a
 * second (series created meanwhile are added to it), so a steady writer does not rescan. */
#define ACTIVE_WINDOW_MS (3600 * 1000)
#define ACTIVE_CACHE_MS 1000

static void init_metrics(void) {
    selfmon_registry_t *r = selfmon_default();
    m_samples = selfmon_metric(selfmon_counter(r, "vigil_remote_write_samples_total", "Samples received by remote_write and appended.", 0, NULL));
    m_invalid = selfmon_metric(selfmon_counter(r, "vigil_remote_write_invalid_series_total",
                                               "Series skipped by remote_write for invalid labels.", 0, NULL));
    m_requests_rejected = selfmon_metric(selfmon_counter(r, "vigil_remote_write_rejected_requests_total",
                                                         "remote_write requests refused (malformed, out of order, limits).", 0, NULL));
    m_series_refused = selfmon_metric(selfmon_counter(r, "vigil_remote_write_series_refused_total",
                                                      "New series refused by a tenant's series limit.", 0, NULL));
    for (size_t i = 0; i < SERIES_LOCKS; i++) pthread_mutex_init(&series_locks[i], NULL);
}

uint64_t api_tenant_active_series(http_req_t *req, bool use_cache) {
    const http_identity_t *id = req->ident;
    tenancy_usage_t *u = http_app_usage(req->app);
    int64_t now = vg_now_ms(), at;
    uint64_t n;
    if (use_cache && tenancy_usage_series_cached(u, id->tenant, now, ACTIVE_CACHE_MS, &n, &at)) return n;
    n = tsdb_db_count_series(req->app->db, id->matcher.label, (const char *const *)id->matcher.values,
                             id->matcher.n_values, now - ACTIVE_WINDOW_MS);
    tenancy_usage_series_set(u, id->tenant, now, n);
    return n;
}

static const char *reject_msg(int rc) {
    switch (rc) {
    case STORAGE_REJECT_OUT_OF_ORDER: return "out of order sample";
    case STORAGE_REJECT_DUPLICATE: return "duplicate sample for timestamp";
    default: return "out of bounds";
    }
}

/* A tenant's series carry its label: an allowed value sent by the client is kept, anything else
 * (missing, another tenant's, forged) is overwritten with the tenant's first value. */
static model_label_t *force_tenant(http_req_t *req, model_label_t *ls, size_t *n) {
    const http_identity_t *id = req->ident;
    for (size_t i = 0; i < *n; i++) {
        if (strcmp(ls[i].name, id->matcher.label)) continue;
        bool allowed = false;
        for (size_t k = 0; k < id->matcher.n_values && !allowed; k++) allowed = !strcmp(ls[i].value, id->matcher.values[k]);
        if (!allowed) ls[i].value = id->matcher.values[0];
        return ls;
    }
    model_label_t *nl = vg_arena_alloc(req->arena, (*n + 1) * sizeof *nl);
    if (!nl) return NULL;
    memcpy(nl, ls, *n * sizeof *nl);
    nl[(*n)++] = (model_label_t){id->matcher.label, id->matcher.values[0]};
    return nl;
}

/* The tenant's ingestion rate (samples/s with a burst): a request that does not fit is refused whole
 * with 429 and Retry-After, before anything is appended. */
static int ingestion_limit(http_req_t *req, http_resp_t *resp, size_t n_samples) {
    config_t *c = http_app_config(req->app);
    config_limits_t lim;
    config_tenant_limits(c, req->ident->scoped ? req->ident->tenant : NULL, &lim);
    config_unref(c);
    if (!(lim.ingestion_rate > 0) || !n_samples) return 0;
    uint64_t burst = lim.ingestion_burst > 0 ? (uint64_t)lim.ingestion_burst : (uint64_t)lim.ingestion_rate;
    int64_t wait = tenancy_limiter_take(http_app_limiter(req->app), req->ident->scoped ? req->ident->tenant : "-", "ingest",
                                        lim.ingestion_rate, burst, vg_mono_ns(), n_samples);
    if (wait == 0) return 0;
    if (wait > 0) {
        char *ra = vg_arena_alloc(req->arena, 24);
        if (ra) snprintf(ra, 24, "%lld", (long long)((wait + 999) / 1000)), http_resp_header(resp, "Retry-After", ra);
    }
    return vg_error_set(&req->err, VG_ERATELIMIT, "ingestion rate limit (%g samples/s, burst %llu) exceeded by a request of %zu samples",
                        lim.ingestion_rate, (unsigned long long)burst, n_samples);
}

int api_write(http_req_t *req, http_resp_t *resp) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, init_metrics);
    if (!req->app->db) return vg_error_set(&req->err, VG_EUNAVAIL, "storage is not open");
    ingest_rw_reader_t rd;
    ingest_rw_reader_init(&rd, NULL);
    int rc = ingest_rw_reader_load(&rd, req->body, req->body_len, &req->err);
    if (rc) {
        ingest_rw_reader_deinit(&rd);
        selfmon_counter_inc(m_requests_rejected);
        return rc;
    }
    if ((rc = ingestion_limit(req, resp, ingest_rw_reader_stats(&rd)->n_samples))) {
        ingest_rw_reader_deinit(&rd);
        selfmon_counter_inc(m_requests_rejected);
        return rc;
    }
    storage_appender_t *app;
    if ((rc = tsdb_db_appender(req->app->db, &app, &req->err))) {
        ingest_rw_reader_deinit(&rd);
        return rc;
    }
    /* the series limit: the tenant's count, kept current under its lock while series are created */
    int64_t max_series = 0;
    uint64_t active = 0;
    pthread_mutex_t *series_mu = NULL;
    if (req->ident->scoped) {
        config_t *c = http_app_config(req->app);
        config_limits_t lim;
        config_tenant_limits(c, req->ident->tenant, &lim);
        config_unref(c);
        max_series = lim.max_series;
    }
    if (max_series > 0) {
        series_mu = &series_locks[XXH3_64bits(req->ident->tenant, strlen(req->ident->tenant)) % SERIES_LOCKS];
        pthread_mutex_lock(series_mu);
        active = api_tenant_active_series(req, true);
    }
    ingest_rw_series_t s;
    size_t appended = 0, invalid = 0, refused = 0, created = 0;
    while (!rc && ingest_rw_reader_next_series(&rd, &s)) {
        model_label_t *ls = vg_arena_alloc(req->arena, (s.n_labels ? s.n_labels : 1) * sizeof *ls);
        if (!ls) {
            rc = vg_error_set(&req->err, VG_ENOMEM, "out of memory");
            break;
        }
        for (size_t i = 0; i < s.n_labels && ls; i++) {
            ls[i].name = vg_arena_strndup(req->arena, s.labels[i].name.ptr, s.labels[i].name.len);
            ls[i].value = vg_arena_strndup(req->arena, s.labels[i].value.ptr, s.labels[i].value.len);
            if (!ls[i].name || !ls[i].value) ls = NULL;
        }
        if (!ls) {
            rc = vg_error_set(&req->err, VG_ENOMEM, "out of memory");
            break;
        }
        size_t n = s.n_labels;
        if (req->ident->scoped && !(ls = force_tenant(req, ls, &n))) {
            rc = vg_error_set(&req->err, VG_ENOMEM, "out of memory");
            break;
        }
        vg_error_t lerr;
        if (model_labels_normalize(ls, &n, NULL, &lerr) || !model_labels_get(ls, n, MODEL_METRIC_NAME)) {
            invalid++;
            vg_log_warn("remote_write", "invalid metric names or labels", VG_LS("err", lerr.code ? lerr.msg : "no metric name"));
            continue;
        }
        uint64_t ref = 0;
        ingest_rw_sample_t smp;
        bool checked = max_series <= 0;
        while (ingest_rw_series_next_sample(&s, &smp)) {
            if (!checked) { /* before the series' first sample creates it */
                checked = true;
                if (!tsdb_db_has_series(req->app->db, ls, n)) {
                    if (active + created >= (uint64_t)max_series) {
                        refused++;
                        break;
                    }
                    created++;
                }
            }
            int r = ref ? storage_append_ref(app, ref, smp.t_ms, smp.v, &req->err)
                        : storage_append(app, ls, n, smp.t_ms, smp.v, &ref, &req->err);
            if (r == VG_ENOTFOUND) r = storage_append(app, ls, n, smp.t_ms, smp.v, &ref, &req->err);
            if (r > 0) {
                char lbuf[512];
                model_labels_format(ls, n, lbuf, sizeof lbuf);
                vg_log_error("remote_write", "out of order sample from remote write", VG_LS("err", reject_msg(r)),
                             VG_LS("series", lbuf), VG_LI("timestamp", smp.t_ms));
                rc = vg_error_set(&req->err, VG_EINVAL, "%s", reject_msg(r));
                break;
            }
            if (r < 0) {
                rc = r;
                break;
            }
            appended++;
        }
    }
    if (series_mu) {
        /* creations are in the head now (even if rolled back below, as in Prometheus) */
        if (created) tenancy_usage_series_set(http_app_usage(req->app), req->ident->tenant, vg_now_ms() - ACTIVE_CACHE_MS / 2,
                                              active + created);
        pthread_mutex_unlock(series_mu);
    }
    if (rc) {
        storage_rollback(app);
        selfmon_counter_inc(m_requests_rejected);
        /* storage-side failures other than bad data are the server's: let the client retry */
        if (rc != VG_EINVAL && rc != VG_ELIMIT && rc != VG_ETOOLARGE && rc != VG_ENOMEM) rc = VG_EINTERNAL;
    } else if ((rc = storage_commit(app, &req->err)) < 0) {
        rc = VG_EINTERNAL;
    } else {
        rc = 0;
        selfmon_counter_add(m_samples, (double)appended);
        selfmon_counter_add(m_invalid, (double)invalid);
        if (req->ident->scoped)
            tenancy_usage_ingested(http_app_usage(req->app), req->ident->tenant, appended, refused, vg_now_ms());
        if (refused) {
            selfmon_counter_add(m_series_refused, (double)refused);
            selfmon_counter_inc(m_requests_rejected);
            rc = vg_error_set(&req->err, VG_EINVAL,
                              "per-tenant series limit of %lld exceeded: %zu new series refused (the tenant has %llu "
                              "active series); the request's other %zu samples were accepted",
                              (long long)max_series, refused, (unsigned long long)(active + created), appended);
        } else {
            resp->status = 204;
            resp->content_type = "text/plain; charset=utf-8";
        }
    }
    storage_appender_free(app);
    ingest_rw_reader_deinit(&rd);
    return rc;
}
