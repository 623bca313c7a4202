/* POST /api/v1/otlp/v1/metrics: the OTLP/HTTP metrics receiver. The request (protobuf or OTLP/JSON,
 * optionally gzip) is decoded and validated whole before anything is appended, translated into
 * Prometheus samples by ingest/otlp.h, admitted against the tenant's ingestion rate and appended
 * through the tenant appender (tenant label forced, series budget), as remote_write's receiver does.
 *
 * Answers, as the OTLP/HTTP specification says:
 *   - 200 with an ExportMetricsServiceResponse in the request's encoding; when data points were
 *     rejected (delta temporality, exponential histograms, a name without letters, invalid labels,
 *     series limits, out-of-order/duplicate/too old/too far in the future samples) it carries
 *     partial_success {rejected_data_points, error_message} and every other point is kept;
 *   - 400 for a payload that cannot be read (bad gzip, protobuf or JSON, a decoding limit), 413 for a
 *     body past the size limits or a batch above the tenant's ingestion burst, 415 for a content type
 *     or encoding other than protobuf/JSON and gzip/identity, 429 with Retry-After over the tenant's
 *     ingestion rate, 500 for a storage failure (the client retries): each with a google.rpc.Status
 *     body (code, message) in the request's encoding. Nothing is kept on any of them. */
#include "api.h"

#include "ingest/otlp.h"
#include "selfmon/selfmon.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

enum { R_DELTA, R_EXP, R_NONAME, R_INVALID, R_SERIES_LIMIT, R_SERIES_TOTAL, R_OOO, R_DUP, R_OOB, R_FUTURE, R_COMMIT, R_N };

static const char *const reason_label[R_N] = {
    [R_DELTA] = "delta_temporality", [R_EXP] = "exponential_histogram", [R_NONAME] = "invalid_name",
    [R_INVALID] = "invalid_labels",  [R_SERIES_LIMIT] = "series_limit", [R_SERIES_TOTAL] = "series_limit_total",
    [R_OOO] = "out_of_order",        [R_DUP] = "duplicate",             [R_OOB] = "out_of_bounds",
    [R_FUTURE] = "too_far_in_future", [R_COMMIT] = "rejected_at_commit",
};
static const char *const reason_text[R_N] = {
    [R_DELTA] = "delta temporality",
    [R_EXP] = "exponential histogram",
    [R_NONAME] = "metric name without letters or digits",
    [R_INVALID] = "invalid labels",
    [R_SERIES_LIMIT] = "per-tenant series limit (limits.max_series)",
    [R_SERIES_TOTAL] = "server-wide series limit (limits.max_series_total)",
    [R_OOO] = "out of order sample",
    [R_DUP] = "duplicate sample for timestamp",
    [R_OOB] = "out of bounds (older than the storage accepts)",
    [R_FUTURE] = "too far in the future (limits.max_future)",
    [R_COMMIT] = "rejected at commit (a concurrent write stored newer samples first)",
};

static selfmon_metric_t *m_samples, *m_points, *m_requests_rejected, *m_rejected[R_N];

static void init_metrics(void) {
    selfmon_registry_t *r = selfmon_default();
    m_samples = selfmon_metric(selfmon_counter(r, "vigil_otlp_samples_total", "Samples translated from OTLP and appended.", 0, NULL));
    m_points = selfmon_metric(selfmon_counter(r, "vigil_otlp_data_points_total", "OTLP data points received in accepted requests.", 0, NULL));
    m_requests_rejected = selfmon_metric(selfmon_counter(r, "vigil_otlp_rejected_requests_total",
                                                         "OTLP requests answered with an error status (nothing kept).", 0, NULL));
    static const char *const lbl[] = {"reason"};
    selfmon_family_t *f = selfmon_counter(r, "vigil_otlp_rejected_data_points_total",
                                          "OTLP data points rejected (partial success), by reason.", 1, lbl);
    for (int i = 0; i < R_N; i++) m_rejected[i] = selfmon_with(f, (const char *const[]){reason_label[i]});
}

/* The append pass: every sample through the appender; a data point with any sample dropped counts
 * once, under the reason of its first drop. */
typedef struct {
    http_req_t *req;
    storage_appender_t *app;
    size_t appended, samples_dropped;
    size_t points[R_N];
    size_t last_point; /* the last data point counted as rejected */
    int last_reason;
    char first[300];
    vg_error_t err;
} app_ctx_t;

static void drop(app_ctx_t *a, size_t point, int why, const model_label_t *ls, size_t n, const char *detail) {
    a->samples_dropped++;
    if (!a->first[0]) {
        char lbuf[160];
        if (model_labels_format(ls, n, lbuf, sizeof lbuf) >= sizeof lbuf) memcpy(lbuf + sizeof lbuf - 4, "...", 4);
        snprintf(a->first, sizeof a->first, "%s (%s%s%s)", lbuf, reason_text[why], detail ? ": " : "", detail ? detail : "");
    }
    if (point && point != a->last_point) {
        a->points[why]++;
        a->last_point = point;
        a->last_reason = why;
    }
}

static int append_one(void *ctx, size_t point, const model_label_t *ls, size_t n, int64_t t, double v) {
    app_ctx_t *a = ctx;
    uint64_t ref = 0;
    vg_error_t aerr;
    int r = storage_append(a->app, ls, n, t, v, &ref, &aerr);
    switch (r) {
    case 0: a->appended++; return 0;
    case STORAGE_REJECT_SERIES_LIMIT: drop(a, point, R_SERIES_LIMIT, ls, n, NULL); return 0;
    case STORAGE_REJECT_SERIES_LIMIT_TOTAL: drop(a, point, R_SERIES_TOTAL, ls, n, NULL); return 0;
    case STORAGE_REJECT_OUT_OF_ORDER: drop(a, point, R_OOO, ls, n, NULL); return 0;
    case STORAGE_REJECT_DUPLICATE: drop(a, point, R_DUP, ls, n, NULL); return 0;
    case STORAGE_REJECT_TOO_FAR_FUTURE: drop(a, point, R_FUTURE, ls, n, NULL); return 0;
    case VG_EINVAL:
    case VG_ELIMIT: drop(a, point, R_INVALID, ls, n, aerr.msg); return 0;
    default:
        if (r > 0) {
            drop(a, point, R_OOB, ls, n, NULL);
            return 0;
        }
        a->err = aerr;
        return r;
    }
}

static int count_one(void *ctx, size_t point, const model_label_t *ls, size_t n, int64_t t, double v) {
    (void)point, (void)ls, (void)n, (void)t, (void)v;
    (*(size_t *)ctx)++;
    return 0;
}

/* The token of a header value before `;`, trimmed, into out (lowercase); false when too long. */
static bool media_token(const char *h, char *out, size_t cap) {
    while (*h == ' ' || *h == '\t') h++;
    size_t n = strcspn(h, ";");
    while (n && (h[n - 1] == ' ' || h[n - 1] == '\t')) n--;
    if (n >= cap) return false;
    for (size_t i = 0; i < n; i++) out[i] = (char)(h[i] >= 'A' && h[i] <= 'Z' ? h[i] + 32 : h[i]);
    out[n] = 0;
    return true;
}

static int grpc_code(int status) {
    switch (status) {
    case 400: return 3;  /* INVALID_ARGUMENT */
    case 413:
    case 429: return 8;  /* RESOURCE_EXHAUSTED */
    case 415: return 3;
    case 503: return 14; /* UNAVAILABLE */
    default: return 13;  /* INTERNAL */
    }
}

/* An error answer: status from the code (VG_ELIMIT and VG_EINVAL are 400), google.rpc.Status body. */
static int fail(http_req_t *req, http_resp_t *resp, bool json, int code) {
    int status = code == VG_ELIMIT || code == VG_EINVAL ? 400 : vg_error_http_status(code);
    if (code == VG_ENOMEM || code == VG_EINTERNAL) status = 500;
    selfmon_counter_inc(m_requests_rejected);
    vg_buf_reset(&resp->body);
    resp->status = status;
    resp->content_type = json ? "application/json" : "application/x-protobuf";
    if (ingest_otlp_status(&resp->body, json, grpc_code(status), req->err.msg[0] ? req->err.msg : vg_error_str(code)))
        return vg_error_set(&req->err, VG_ENOMEM, "out of memory");
    return 0;
}

int api_otlp_metrics(http_req_t *req, http_resp_t *resp) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, init_metrics);
    char ct[64] = "", ce[32] = "";
    const char *h = http_req_header(req, "Content-Type");
    bool json = h && media_token(h, ct, sizeof ct) && !strcmp(ct, "application/json");
    if (!json && !(h && (!strcmp(ct, "application/x-protobuf") || !strcmp(ct, "application/protobuf")))) {
        vg_error_set(&req->err, VG_EMEDIATYPE,
                     "unsupported Content-Type \"%.64s\": OTLP/HTTP takes application/x-protobuf or application/json",
                     h ? h : "");
        return fail(req, resp, true, VG_EMEDIATYPE);
    }
    h = http_req_header(req, "Content-Encoding");
    bool gz = false;
    if (h && media_token(h, ce, sizeof ce) && (!strcmp(ce, "gzip") || !strcmp(ce, "x-gzip"))) gz = true;
    else if (h && *ce && strcmp(ce, "identity")) {
        vg_error_set(&req->err, VG_EMEDIATYPE, "unsupported Content-Encoding \"%.64s\": OTLP/HTTP takes gzip or none", h);
        return fail(req, resp, json, VG_EMEDIATYPE);
    } else if (h && !*ce && *h) {
        vg_error_set(&req->err, VG_EMEDIATYPE, "unsupported Content-Encoding \"%.64s\": OTLP/HTTP takes gzip or none", h);
        return fail(req, resp, json, VG_EMEDIATYPE);
    }
    if (!req->app->db) {
        vg_error_set(&req->err, VG_EUNAVAIL, "storage is not open");
        return fail(req, resp, json, VG_EUNAVAIL);
    }
    service_ctx_t *ctx = req->ctx;
    const config_ingest_limits_t *il = &ctx->cfg->ingest_limits;
    ingest_otlp_limits_t lim = INGEST_OTLP_LIMITS_DEFAULT;
    lim.max_decoded = il->max_otlp_decompressed_size;
    lim.max_points = lim.max_messages = (size_t)il->max_otlp_data_points_per_request;
    lim.max_attrs = (size_t)il->max_label_names_per_series;
    lim.max_key_len = (size_t)il->max_label_name_length;
    lim.max_value_len = (size_t)il->max_label_value_length;

    const void *data = req->body;
    size_t len = req->body_len;
    vg_buf_t inflated = VG_BUF_INIT;
    int rc = 0;
    if (gz) {
        if ((rc = ingest_otlp_gunzip(req->body, req->body_len, &lim, &inflated, &req->err))) goto out_fail;
        data = inflated.data ? inflated.data : "";
        len = inflated.len;
    } else if (lim.max_decoded && len > lim.max_decoded) {
        rc = vg_error_set(&req->err, VG_ETOOLARGE, "request of %zu bytes exceeds the limit of %zu bytes "
                                                   "(limits.max_otlp_decompressed_size)", len, lim.max_decoded);
        goto out_fail;
    }
    ingest_otlp_request_t *otlp;
    rc = json ? ingest_otlp_decode_json(data, len, &lim, req->arena, &otlp, &req->err)
              : ingest_otlp_decode_pb(data, len, &lim, req->arena, &otlp, &req->err);
    if (rc) goto out_fail;

    /* admission counts samples, not points: a histogram point is several series */
    size_t n_samples = 0;
    ingest_otlp_rejects_t rej;
    if ((rc = ingest_otlp_translate(otlp, req->arena, count_one, &n_samples, &rej))) {
        vg_error_set(&req->err, rc, "out of memory");
        goto out_fail;
    }
    int retry = 0;
    if ((rc = service_ingest_admit(ctx, n_samples, &retry, &req->err))) {
        if (retry > 0) {
            char *ra = vg_arena_alloc(req->arena, 24);
            if (ra) snprintf(ra, 24, "%d", retry), http_resp_header(resp, "Retry-After", ra);
        }
        goto out_fail;
    }
    storage_appender_t *app;
    if ((rc = service_appender(ctx, &app, &req->err))) goto out_fail;
    app_ctx_t a = {.req = req, .app = app};
    rc = ingest_otlp_translate(otlp, req->arena, append_one, &a, &rej);
    if (rc) {
        storage_rollback(app);
        storage_appender_free(app);
        if (a.err.msg[0]) req->err = a.err;
        else vg_error_set(&req->err, rc, "out of memory");
        rc = rc == VG_ENOMEM ? VG_ENOMEM : VG_EINTERNAL;
        req->err.code = rc;
        goto out_fail;
    }
    int late = storage_commit(app, &req->err);
    storage_appender_free(app);
    if (late < 0) {
        rc = VG_EINTERNAL;
        goto out_fail;
    }
    if ((size_t)late > a.appended) late = (int)a.appended;
    a.appended -= (size_t)late;
    a.points[R_COMMIT] += late ? 1 : 0; /* which points lost a sample at commit is not known: one at least */
    a.points[R_DELTA] = rej.delta;
    a.points[R_EXP] = rej.exp_histogram;
    a.points[R_NONAME] = rej.no_name;
    size_t rejected = 0;
    for (int i = 0; i < R_N; i++) {
        rejected += a.points[i];
        selfmon_counter_add(m_rejected[i], (double)a.points[i]);
    }
    selfmon_counter_add(m_samples, (double)a.appended);
    selfmon_counter_add(m_points, (double)otlp->n_points);
    if (ctx->scoped)
        tenancy_usage_ingested(service_usage(req->app), ctx->tenant, a.appended, a.points[R_SERIES_LIMIT], vg_now_ms());
    char msg[VG_ERROR_MSG_MAX] = "";
    if (rejected) {
        size_t l = (size_t)snprintf(msg, sizeof msg, "%zu of %zu data points rejected: ", rejected, otlp->n_points);
        const char *sep = "";
        for (int i = 0; i < R_N && l < sizeof msg; i++)
            if (a.points[i]) {
                l += (size_t)snprintf(msg + l, sizeof msg - l, "%s%s: %zu", sep, reason_text[i], a.points[i]);
                sep = ", ";
            }
        const char *first = rej.first[0] ? rej.first : a.first;
        if (l < sizeof msg && *first) snprintf(msg + l, sizeof msg - l, "; first: %s", first);
        vg_log_warn("otlp", "data points rejected", VG_LS("reasons", msg), VG_LI("kept_samples", a.appended),
                    VG_LI("rejected_points", rejected));
    }
    vg_buf_deinit(&inflated);
    resp->status = 200;
    resp->content_type = json ? "application/json" : "application/x-protobuf";
    if (ingest_otlp_response(&resp->body, json, (int64_t)rejected, msg))
        return vg_error_set(&req->err, VG_ENOMEM, "out of memory");
    return 0;

out_fail:
    vg_buf_deinit(&inflated);
    return fail(req, resp, json, rc);
}
