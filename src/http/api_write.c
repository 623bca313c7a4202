/* POST /api/v1/write: the remote_write 1.0 receiver. The whole request is decoded and validated
 * before anything is appended; then every valid sample of it is kept, as Mimir does:
 *
 *   - the request itself is refused with nothing kept when it cannot be read: a Content-Encoding other
 *     than snappy or a remote_write 2.0 content type (415), bytes that are not snappy + protobuf, or a
 *     series over the label, label-size or series-count limits found while decoding (400 naming the
 *     byte offset), a decoded size over the limit (413), a batch larger than the tenant's ingestion
 *     burst (413: it can never fit) or one over its current rate (429 with Retry-After);
 *   - otherwise each sample is appended on its own: a series with invalid labels, a new series past the
 *     tenant's series limit (limits.max_series) or the server-wide one (limits.max_series_total), and an
 *     out-of-order, duplicate, too old or too far in
 *     the future (limits.max_future) sample are dropped and counted, the rest is committed;
 *   - the answer is 204 only when every sample was kept; when anything was dropped it is 400 (the
 *     client must not retry: the same samples would be dropped again) naming the count per reason and
 *     the first offending series. Samples refused at commit because a concurrent writer stored newer
 *     ones first count as dropped too. Any other storage error drops the whole request and is a 500
 *     (the client retries).
 *
 * The tenant appender (service/) forces the tenant label and has the storage enforce the series budget
 * as it creates series, so concurrent requests cannot overshoot it. */
#include "api.h"

#include "ingest/remote_write.h"
#include "selfmon/selfmon.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static selfmon_metric_t *m_samples, *m_dropped, *m_invalid, *m_requests_rejected, *m_series_refused;

static void init_metrics(void) {
    selfmon_registry_t *r = selfmon_default();
    m_samples = selfmon_metric(selfmon_counter(r, "vigil_remote_write_samples_total", "Samples received by remote_write and appended.", 0, NULL));
    m_dropped = selfmon_metric(selfmon_counter(r, "vigil_remote_write_dropped_samples_total",
                                               "Samples of accepted remote_write requests that were dropped (invalid series, "
                                               "series limit, out of order, duplicate, out of bounds, too far in the future).",
                                               0, NULL));
    m_invalid = selfmon_metric(selfmon_counter(r, "vigil_remote_write_invalid_series_total",
                                               "Series skipped by remote_write for invalid labels.", 0, NULL));
    m_requests_rejected = selfmon_metric(selfmon_counter(r, "vigil_remote_write_rejected_requests_total",
                                                         "remote_write requests answered with an error (malformed, limits, "
                                                         "samples dropped).", 0, NULL));
    m_series_refused = selfmon_metric(selfmon_counter(r, "vigil_remote_write_series_refused_total",
                                                      "New series refused by a tenant's series limit.", 0, NULL));
}

/* What one request dropped: samples per reason, series per reason (with their samples), and the first
 * offending series with why. */
enum { D_OOO, D_DUP, D_OOB, D_FUTURE, D_COMMIT, D_N };

typedef struct drops {
    size_t samples[D_N];
    size_t invalid, invalid_samples; /* series with invalid labels */
    size_t refused, refused_samples; /* new series past the tenant's series limit */
    size_t capped, capped_samples;   /* new series past the server-wide series limit */
    char first[368];                 /* "{labels} (why)" of the first drop, "" until one */
} drops_t;

static const char *const reason[D_N] = {
    [D_OOO] = "out of order sample",
    [D_DUP] = "duplicate sample for timestamp",
    [D_OOB] = "out of bounds (older than the storage accepts)",
    [D_FUTURE] = "too far in the future (limits.max_future)",
    [D_COMMIT] = "rejected at commit (a concurrent write stored newer samples first)",
};

static size_t dropped_total(const drops_t *d) {
    size_t n = d->invalid_samples + d->refused_samples + d->capped_samples;
    for (int i = 0; i < D_N; i++) n += d->samples[i];
    return n;
}

static model_label_t *labels_of(http_req_t *req, ingest_rw_reader_t *rd, ingest_rw_series_t *s);

/* Records the first offending series: its labels (truncated; *ls is built when still NULL) and why. */
static void note_first(drops_t *d, http_req_t *req, ingest_rw_reader_t *rd, ingest_rw_series_t *s, model_label_t **ls,
                       const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void note_first(drops_t *d, http_req_t *req, ingest_rw_reader_t *rd, ingest_rw_series_t *s, model_label_t **ls,
                       const char *fmt, ...) {
    if (d->first[0]) return;
    char lbuf[200] = "{?}", why[160];
    if (!*ls) *ls = labels_of(req, rd, s);
    if (*ls && model_labels_format(*ls, s->n_labels, lbuf, sizeof lbuf) >= sizeof lbuf)
        memcpy(lbuf + sizeof lbuf - 4, "...", 4);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    snprintf(d->first, sizeof d->first, "%s (%s)", lbuf, why);
}

static int sample_reason(int r) {
    switch (r) {
    case STORAGE_REJECT_OUT_OF_ORDER: return D_OOO;
    case STORAGE_REJECT_DUPLICATE: return D_DUP;
    case STORAGE_REJECT_TOO_FAR_FUTURE: return D_FUTURE;
    default: return D_OOB;
    }
}

/* The labels of s as a model label set in the request's arena (NULL when out of memory). */
static model_label_t *labels_of(http_req_t *req, ingest_rw_reader_t *rd, ingest_rw_series_t *s) {
    ingest_rw_series_labels(rd, s);
    model_label_t *ls = vg_arena_alloc(req->arena, (s->n_labels ? s->n_labels : 1) * sizeof *ls);
    for (size_t i = 0; i < s->n_labels && ls; i++) {
        ls[i].name = vg_arena_strndup(req->arena, s->labels[i].name.ptr, s->labels[i].name.len);
        ls[i].value = vg_arena_strndup(req->arena, s->labels[i].value.ptr, s->labels[i].value.len);
        if (!ls[i].name || !ls[i].value) ls = NULL;
    }
    return ls;
}

/* Appends every valid sample of the request, counting what it drops; stops only at a storage error.
 * A series whose encoded labels the service has seen in this scope goes by its reference (no label
 * copy, no lookup by labels); the labels are built only for the others and to report a drop. */
static int append_all(http_req_t *req, ingest_rw_reader_t *rd, storage_appender_t *app, size_t *appended, drops_t *d) {
    uint32_t scope = service_write_scope(req->ctx);
    /* first every series and its cached reference (the lookups overlap), then their samples */
    size_t n_ser = ingest_rw_reader_stats(rd)->n_series, m = 0;
    ingest_rw_series_t *ser = vg_arena_alloc(req->arena, (n_ser ? n_ser : 1) * sizeof *ser);
    const uint8_t **keys = vg_arena_alloc(req->arena, (n_ser ? n_ser : 1) * sizeof *keys);
    size_t *lens = vg_arena_alloc(req->arena, (n_ser ? n_ser : 1) * sizeof *lens);
    uint64_t *refs = vg_arena_alloc(req->arena, (n_ser ? n_ser : 1) * sizeof *refs);
    if (!ser || !keys || !lens || !refs) return vg_error_set(&req->err, VG_ENOMEM, "out of memory");
    for (; m < n_ser && ingest_rw_reader_next_series_raw(rd, &ser[m]); m++)
        keys[m] = ser[m].label_bytes, lens[m] = ser[m].label_bytes_len;
    service_write_refs_get(req->ctx, scope, m, keys, lens, refs);
    for (size_t si = 0; si < m; si++) {
        ingest_rw_series_t s = ser[si];
        s.labels = NULL; /* the reader's array holds a later series' by now */
        size_t n = s.n_labels, n_smp = s.n_samples;
        uint64_t ref = refs[si];
        model_label_t *ls = NULL;
        if (!ref) {
            if (!(ls = labels_of(req, rd, &s))) return vg_error_set(&req->err, VG_ENOMEM, "out of memory");
            const char *name = model_labels_get(ls, n, MODEL_METRIC_NAME);
            if (!name || !*name) {
                d->invalid++;
                d->invalid_samples += n_smp;
                note_first(d, req, rd, &s, &ls, "invalid labels: no metric name");
                continue;
            }
        }
        ingest_rw_sample_t smp;
        int64_t last_t = INT64_MIN; /* newest sample of this series taken into the batch */
        double last_v = 0;
        for (size_t k = 0; ingest_rw_series_next_sample(&s, &smp); k++) {
            vg_error_t aerr;
            int r;
            /* The storage checks a sample against what is committed; one older than (or a different
             * value at the time of) a sample earlier in this series would only be refused at commit,
             * without its reason: classify it here. An identical repeat goes on (commit ignores it). */
            if (smp.t_ms < last_t) r = STORAGE_REJECT_OUT_OF_ORDER;
            else if (smp.t_ms == last_t && memcmp(&smp.v, &last_v, sizeof last_v)) r = STORAGE_REJECT_DUPLICATE;
            else {
                r = ref ? storage_append_ref(app, ref, smp.t_ms, smp.v, &aerr) : VG_ENOTFOUND;
                if (r == VG_ENOTFOUND) { /* not known yet, or gone since: by labels */
                    if (!ls && !(ls = labels_of(req, rd, &s))) return vg_error_set(&req->err, VG_ENOMEM, "out of memory");
                    r = storage_append(app, ls, n, smp.t_ms, smp.v, &ref, &aerr);
                    if (ref && s.label_bytes) service_write_ref_put(req->ctx, scope, s.label_bytes, s.label_bytes_len, ref);
                }
            }
            if (r == STORAGE_REJECT_SERIES_LIMIT) { /* a new series past the tenant's budget: none of its samples */
                d->refused++;
                d->refused_samples += n_smp - k;
                note_first(d, req, rd, &s, &ls, "new series over the tenant's series limit");
                break;
            }
            if (r == STORAGE_REJECT_SERIES_LIMIT_TOTAL) { /* past the server-wide cap: none of its samples */
                d->capped++;
                d->capped_samples += n_smp - k;
                note_first(d, req, rd, &s, &ls, "new series over the server-wide series limit");
                break;
            }
            if (r == VG_EINVAL || r == VG_ELIMIT) { /* labels the storage refuses: the series is skipped */
                d->invalid++;
                d->invalid_samples += n_smp - k;
                note_first(d, req, rd, &s, &ls, "invalid labels: %s", aerr.msg);
                break;
            }
            if (r > 0) {
                int why = sample_reason(r);
                d->samples[why]++;
                note_first(d, req, rd, &s, &ls, "%s at timestamp %lld", reason[why], (long long)smp.t_ms);
                continue;
            }
            if (r < 0) {
                req->err = aerr;
                return r;
            }
            (*appended)++;
            last_t = smp.t_ms, last_v = smp.v;
        }
    }
    return 0;
}

/* "a: 1, b: 2 (3 samples)" for the nonzero reasons, into out. */
static void format_drops(const drops_t *d, service_ctx_t *ctx, char *out, size_t cap) {
    size_t len = 0;
#define PUT(...)                                                                                                           \
    do {                                                                                                               \
        if (len < cap) len += (size_t)snprintf(out + len, cap - len, __VA_ARGS__);                                     \
    } while (0)
    const char *sep = "";
    if (d->capped) {
        PUT("server-wide series limit of %lld (limits.max_series_total) reached: %zu new series refused (%zu samples)",
            (long long)ctx->cfg->ingest_limits.max_series_total, d->capped, d->capped_samples);
        sep = ", ";
    }
    if (d->refused) {
        PUT("%sper-tenant series limit of %lld exceeded: %zu new series refused (%zu samples; the tenant has %llu active "
            "series)",
            sep, (long long)ctx->limits.max_series, d->refused, d->refused_samples,
            (unsigned long long)service_ctx_series_count(ctx));
        sep = ", ";
    }
    if (d->invalid) {
        PUT("%sinvalid labels: %zu series (%zu samples)", sep, d->invalid, d->invalid_samples);
        sep = ", ";
    }
    for (int i = 0; i < D_N; i++)
        if (d->samples[i]) {
            PUT("%s%s: %zu", sep, reason[i], d->samples[i]);
            sep = ", ";
        }
#undef PUT
}

/* The request's encoding and content type: 0, or VG_EMEDIATYPE naming what is supported. A missing
 * Content-Type or Content-Encoding is taken as remote_write 1.0 with snappy (senders that leave them
 * out exist); a form content type is not decoded as a form (the body is the payload). */
static int check_media(const http_req_t *req, vg_error_t *err) {
    const char *ce = http_req_header(req, "Content-Encoding");
    if (ce) {
        while (*ce == ' ' || *ce == '\t') ce++;
        size_t l = strlen(ce);
        while (l && (ce[l - 1] == ' ' || ce[l - 1] == '\t')) l--;
        if (!(l == 6 && !strncasecmp(ce, "snappy", 6)))
            return vg_error_set(err, VG_EMEDIATYPE,
                                "unsupported Content-Encoding \"%.*s\": remote_write bodies must be snappy-compressed "
                                "(Content-Encoding: snappy)",
                                (int)(l > 64 ? 64 : l), ce);
    }
    const char *ct = http_req_header(req, "Content-Type");
    const char *p = ct;
    while (p && (p = strchr(p, ';'))) { /* the proto= parameter names the message: only 1.0's is supported */
        p++;
        while (*p == ' ' || *p == '\t') p++;
        if (strncasecmp(p, "proto=", 6)) continue;
        const char *v = p + 6, *e = v + strcspn(v, ";");
        while (e > v && (e[-1] == ' ' || e[-1] == '\t')) e--;
        if (e - v >= 2 && *v == '"' && e[-1] == '"') v++, e--;
        if (!(e - v == 23 && !strncmp(v, "prometheus.WriteRequest", 23)))
            return vg_error_set(err, VG_EMEDIATYPE,
                                "unsupported Content-Type \"%.120s\": only remote_write 1.0 is supported "
                                "(application/x-protobuf or application/x-protobuf;proto=prometheus.WriteRequest)",
                                ct);
    }
    return 0;
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
    int rc = check_media(req, &req->err);
    if (rc) {
        selfmon_counter_inc(m_requests_rejected);
        return rc;
    }
    ingest_rw_reader_t rd;
    ingest_rw_reader_init(&rd, &rl);
    rc = ingest_rw_reader_load(&rd, req->body, req->body_len, &req->err);
    if (rc == VG_ELIMIT) rc = req->err.code = VG_EINVAL; /* a series over a label limit is bad data: 400, offset kept */
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
    size_t appended = 0, total = ingest_rw_reader_stats(&rd)->n_samples;
    drops_t d = {0};
    rc = append_all(req, &rd, app, &appended, &d);
    if (rc) {
        storage_rollback(app);
        selfmon_counter_inc(m_requests_rejected);
        /* storage-side failures other than bad data are the server's: let the client retry */
        if (rc != VG_EINVAL && rc != VG_ELIMIT && rc != VG_ETOOLARGE && rc != VG_ENOMEM) rc = VG_EINTERNAL;
    } else if ((rc = storage_commit(app, &req->err)) < 0) {
        rc = VG_EINTERNAL;
    } else {
        size_t late = (size_t)rc < appended ? (size_t)rc : appended;
        d.samples[D_COMMIT] = late;
        appended -= late;
        rc = 0;
        size_t dropped = dropped_total(&d);
        selfmon_counter_add(m_samples, (double)appended);
        selfmon_counter_add(m_invalid, (double)d.invalid);
        selfmon_counter_add(m_series_refused, (double)d.refused);
        if (ctx->scoped) tenancy_usage_ingested(service_usage(req->app), ctx->tenant, appended, d.refused, vg_now_ms());
        if (dropped || d.invalid || d.refused || d.capped) {
            selfmon_counter_add(m_dropped, (double)dropped);
            selfmon_counter_inc(m_requests_rejected);
            char why[VG_ERROR_MSG_MAX];
            format_drops(&d, ctx, why, sizeof why);
            if (!d.first[0]) snprintf(d.first, sizeof d.first, "%s", "a series written concurrently");
            vg_log_warn("remote_write", "samples dropped", VG_LS("reasons", why), VG_LS("first", d.first),
                        VG_LI("kept", appended), VG_LI("dropped", dropped));
            rc = vg_error_set(&req->err, VG_EINVAL, "%zu of %zu samples dropped, the other %zu were kept: %s; first: %s", dropped,
                              total, appended, why, d.first);
        } else {
            resp->status = 204;
            resp->content_type = "text/plain; charset=utf-8";
        }
    }
    storage_appender_free(app);
    /* the request's metric metadata, kept for /api/v1/metadata; never a reason to fail the request
     * (entries refused are counted by the service) */
    if (ingest_rw_reader_stats(&rd)->n_metadata && service_write_metadata(ctx, &rd, NULL))
        vg_log_warn("remote_write", "metadata not kept: out of memory");
    ingest_rw_reader_deinit(&rd);
    return rc;
}
