/* POST /api/v1/write: the remote_write 1.0 receiver. The whole request is decoded and validated
 * before anything is appended, then appended as one transaction — as Prometheus 2.42 does: a series
 * with invalid labels is skipped (logged, counted), an out-of-order, duplicate or too-old sample fails
 * the request with 400 and nothing of it is kept (the client must not retry it), any other storage
 * error is a 500 (the client retries). Success is 204 with an empty body.
 *
 * A tenant's series limit (limits.max_series): new series that would take the tenant past it are
 * refused and the rest of the request is kept (samples of existing series, new series within the
 * limit); the answer is then 400 naming the limit, so the client does not retry. The tenant appender
 * (service/) forces the tenant label and has the storage enforce the budget as it creates series, so
 * concurrent requests cannot overshoot. */
#include "api.h"

#include "ingest/remote_write.h"
#include "selfmon/selfmon.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static selfmon_metric_t *m_samples, *m_invalid, *m_requests_rejected, *m_series_refused;

static void init_metrics(void) {
    selfmon_registry_t *r = selfmon_default();
    m_samples = selfmon_metric(selfmon_counter(r, "vigil_remote_write_samples_total", "Samples received by remote_write and appended.", 0, NULL));
    m_invalid = selfmon_metric(selfmon_counter(r, "vigil_remote_write_invalid_series_total",
                                               "Series skipped by remote_write for invalid labels.", 0, NULL));
    m_requests_rejected = selfmon_metric(selfmon_counter(r, "vigil_remote_write_rejected_requests_total",
                                                         "remote_write requests refused (malformed, out of order, limits).", 0, NULL));
    m_series_refused = selfmon_metric(selfmon_counter(r, "vigil_remote_write_series_refused_total",
                                                      "New series refused by a tenant's series limit.", 0, NULL));
}

static const char *reject_msg(int rc) {
    switch (rc) {
    case STORAGE_REJECT_OUT_OF_ORDER: return "out of order sample";
    case STORAGE_REJECT_DUPLICATE: return "duplicate sample for timestamp";
    default: return "out of bounds";
    }
}

/* Appends every series of the request; stops at the first rejected sample or storage error. */
static int append_all(http_req_t *req, ingest_rw_reader_t *rd, storage_appender_t *app, size_t *appended, size_t *invalid,
                      size_t *refused) {
    ingest_rw_series_t s;
    int rc = 0;
    while (!rc && ingest_rw_reader_next_series(rd, &s)) {
        model_label_t *ls = vg_arena_alloc(req->arena, (s.n_labels ? s.n_labels : 1) * sizeof *ls);
        for (size_t i = 0; i < s.n_labels && ls; i++) {
            ls[i].name = vg_arena_strndup(req->arena, s.labels[i].name.ptr, s.labels[i].name.len);
            ls[i].value = vg_arena_strndup(req->arena, s.labels[i].value.ptr, s.labels[i].value.len);
            if (!ls[i].name || !ls[i].value) ls = NULL;
        }
        if (!ls) return vg_error_set(&req->err, VG_ENOMEM, "out of memory");
        size_t n = s.n_labels;
        const char *name = model_labels_get(ls, n, MODEL_METRIC_NAME);
        if (!name || !*name) {
            (*invalid)++;
            vg_log_warn("remote_write", "invalid metric names or labels", VG_LS("err", "no metric name"));
            continue;
        }
        uint64_t ref = 0;
        ingest_rw_sample_t smp;
        while (ingest_rw_series_next_sample(&s, &smp)) {
            vg_error_t aerr;
            int r = ref ? storage_append_ref(app, ref, smp.t_ms, smp.v, &aerr)
                        : storage_append(app, ls, n, smp.t_ms, smp.v, &ref, &aerr);
            if (r == VG_ENOTFOUND) r = storage_append(app, ls, n, smp.t_ms, smp.v, &ref, &aerr);
            if (r == STORAGE_REJECT_SERIES_LIMIT) { /* a new series past the tenant's budget: none of its samples */
                (*refused)++;
                break;
            }
            if (r == VG_EINVAL || r == VG_ELIMIT) { /* labels the storage refuses: the series is skipped */
                (*invalid)++;
                vg_log_warn("remote_write", "invalid metric names or labels", VG_LS("err", aerr.msg));
                break;
            }
            if (r > 0) {
                char lbuf[512];
                model_labels_format(ls, n, lbuf, sizeof lbuf);
                vg_log_error("remote_write", "out of order sample from remote write", VG_LS("err", reject_msg(r)),
                             VG_LS("series", lbuf), VG_LI("timestamp", smp.t_ms));
                return vg_error_set(&req->err, VG_EINVAL, "%s", reject_msg(r));
            }
            if (r < 0) {
                req->err = aerr;
                return r;
            }
            (*appended)++;
        }
    }
    return rc;
}

int api_write(http_req_t *req, http_resp_t *resp) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, init_metrics);
    if (!req->app->db) return vg_error_set(&req->err, VG_EUNAVAIL, "storage is not open");
    service_ctx_t *ctx = req->ctx;
    const config_ingest_limits_t *il = &ctx->cfg->ingest_limits;
    ingest_rw_limits_t rl = {.max_decoded = il->max_remote_write_decompressed_size,
                             .max_series = (size_t)il->max_remote_write_series_per_request,
                             .max_labels = (size_t)il->max_label_names_per_series,
                             .max_name_len = (size_t)il->max_label_name_length,
                             .max_value_len = (size_t)il->max_label_value_length};
    ingest_rw_reader_t rd;
    ingest_rw_reader_init(&rd, &rl);
    int rc = ingest_rw_reader_load(&rd, req->body, req->body_len, &req->err);
    int retry = 0;
    if (!rc && (rc = service_ingest_admit(ctx, ingest_rw_reader_stats(&rd)->n_samples, &retry, &req->err)) && retry > 0) {
        char *ra = vg_arena_alloc(req->arena, 24);
        if (ra) snprintf(ra, 24, "%d", retry), http_resp_header(resp, "Retry-After", ra);
    }
    if (rc) {
        ingest_rw_reader_deinit(&rd);
        selfmon_counter_inc(m_requests_rejected);
        return rc;
    }
    storage_appender_t *app;
    if ((rc = service_appender(ctx, &app, &req->err))) {
        ingest_rw_reader_deinit(&rd);
        return rc;
    }
    size_t appended = 0, invalid = 0, refused = 0;
    rc = append_all(req, &rd, app, &appended, &invalid, &refused);
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
        if (ctx->scoped) tenancy_usage_ingested(service_usage(req->app), ctx->tenant, appended, refused, vg_now_ms());
        if (refused) {
            selfmon_counter_add(m_series_refused, (double)refused);
            selfmon_counter_inc(m_requests_rejected);
            rc = vg_error_set(&req->err, VG_EINVAL,
                              "per-tenant series limit of %lld exceeded: %zu new series refused (the tenant has %llu "
                              "active series); the request's other %zu samples were accepted",
                              (long long)ctx->limits.max_series, refused,
                              (unsigned long long)service_ctx_series_count(ctx), appended);
        } else {
            resp->status = 204;
            resp->content_type = "text/plain; charset=utf-8";
        }
    }
    storage_appender_free(app);
    ingest_rw_reader_deinit(&rd);
    return rc;
}
