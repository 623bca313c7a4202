/* The remote query executor: promql/executor.h over a Prometheus-compatible HTTP API.
 *
 * Every call becomes one HTTP request: query_instant → POST /api/v1/query, query_range → POST
 * /api/v1/query_range (the expression printed by promql_print from the tree service/ enforced), series →
 * POST /api/v1/series, label names/values → GET /api/v1/labels, /api/v1/label/<name>/values, metadata →
 * GET /api/v1/metadata, latest → GET /federate; match[] sets are printed back as selectors
 * `{name="value",…}`. Query answers are read into the local engine's structs in the caller's arena by
 * answer.c's one-pass reader; what it declines (errors, unusual shapes) and the other APIs' answers are
 * parsed with jansson.
 *
 * Invariants:
 *  - Nothing the caller presented (its JWT or API key) is ever sent: the headers of a request are the
 *    configured ones, the configured credentials, and tenant_header with the tenant id the *executor
 *    view* carries (promql_executor_scoped), never a value from the request.
 *  - A response body is read up to opts.max_bytes and no further (the transfer is aborted), so jansson
 *    never parses more than that.
 *  - Easy handles are pooled (each keeps its connections alive) and share DNS, TLS sessions and the
 *    connection cache through one curl share handle guarded by a lock per data kind.
 *  - Errors of the engine keep their text; their errorType maps back onto the VG_E* code whose
 *    errorType is the same, so the client sees the status and message the engine gave. */
#include "remote/remote_int.h"

#include "promql/promql.h"
#include "util/buf.h"
#include "util/json.h"

#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POOL_MAX 32

typedef struct remote {
    promql_executor_t base;
    char *url, *tenant_header, *unscoped_tenant, *basic_user, *basic_password, *authz;
    char *ca_file, *cert_file, *key_file;
    char **headers; /* "Name: value" */
    size_t n_headers;
    bool insecure;
    int64_t timeout_ms;
    uint64_t max_bytes;
    remote_text_parse_fn parse_text;
    CURLSH *share;
    pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST];
    pthread_mutex_t pool_mu;
    CURL *pool[POOL_MAX];
    size_t n_pool;
} remote_t;

/* An executor acting for one caller (arena). */
typedef struct view {
    promql_executor_t base;
    remote_t *r;
    const char *tenant;
} view_t;

static const promql_executor_vt remote_vt, view_vt;

static void who(promql_executor_t *ex, remote_t **r, const char **tenant) {
    if (ex->vt == &view_vt) {
        *r = ((view_t *)ex)->r;
        *tenant = ((view_t *)ex)->tenant;
    } else {
        *r = (remote_t *)ex;
        *tenant = NULL;
    }
}

/* ---- errors ------------------------------------------------------------------------------------ */

int remote_error_code(const char *t, long status) {
    static const struct {
        const char *type;
        int code;
    } types[] = {{"bad_data", VG_EINVAL},       {"execution", VG_EEXEC},      {"timeout", VG_ETIMEOUT},
                 {"canceled", VG_ECANCELED},    {"internal", VG_EINTERNAL},   {"unavailable", VG_EUNAVAIL},
                 {"not_found", VG_ENOTFOUND},   {"forbidden", VG_EFORBIDDEN}, {"unauthorized", VG_EAUTH},
                 {"too_many_requests", VG_ERATELIMIT}};
    for (size_t i = 0; t && i < sizeof types / sizeof types[0]; i++)
        if (!strcmp(t, types[i].type)) return types[i].code;
    switch (status) {
    case 400: return VG_EINVAL;
    case 401: return VG_EAUTH;
    case 403: return VG_EFORBIDDEN;
    case 404: return VG_ENOTFOUND;
    case 413: return VG_ETOOLARGE;
    case 422: return VG_EEXEC;
    case 429: return VG_ERATELIMIT;
    case 503: return VG_EUNAVAIL;
    default: return status >= 500 ? VG_EUPSTREAM : VG_EINVAL;
    }
}

/* The Prometheus API envelope of an answer: *root (free with json_decref) and its "data" (borrowed),
 * or the engine's error mapped onto VG_E*. */
static int envelope(const char *body, size_t len, long status, json_t **root, json_t **data, vg_error_t *err) {
    *root = *data = NULL;
    json_error_t jerr;
    json_t *j = json_loadb(body, len, JSON_ALLOW_NUL, &jerr);
    const char *st = j ? json_string_value(json_object_get(j, "status")) : NULL;
    if (!st) {
        json_decref(j);
        int n = len > 160 ? 160 : (int)len;
        for (int i = 0; i < n; i++)
            if ((unsigned char)body[i] < 0x20) n = i; /* the first line only */
        if (status >= 500 || status == 0)
            return vg_error_set(err, status == 503 ? VG_EUNAVAIL : VG_EUPSTREAM,
                                "remote query engine answered HTTP %ld: %.*s", status, n, body);
        return vg_error_set(err, VG_EUPSTREAM, "remote query engine answered HTTP %ld with no Prometheus API response: %.*s",
                            status, n, body);
    }
    if (strcmp(st, "success")) {
        const char *type = json_string_value(json_object_get(j, "errorType"));
        const char *msg = json_string_value(json_object_get(j, "error"));
        int rc = vg_error_set(err, remote_error_code(type, status), "%s", msg ? msg : "remote query engine: unknown error");
        json_decref(j);
        return rc;
    }
    *root = j;
    *data = json_object_get(j, "data");
    if (!*data) {
        json_decref(j);
        *root = NULL;
        return vg_error_set(err, VG_EUPSTREAM, "remote query engine: an answer without \"data\"");
    }
    return 0;
}

/* ---- JSON → the engine's structs ---------------------------------------------------------------- */

static int bad(vg_error_t *err, const char *what) {
    return vg_error_set(err, VG_EUPSTREAM, "remote query engine: malformed answer: %s", what);
}

static const char *dup_str(vg_arena_t *a, const json_t *s) {
    return vg_arena_strndup(a, json_string_value(s), json_string_length(s));
}

static int parse_labels(const json_t *obj, vg_arena_t *a, const model_label_t **out, size_t *n_out, vg_error_t *err) {
    if (!json_is_object(obj)) return bad(err, "labels are not an object");
    size_t n = json_object_size(obj);
    model_label_t *ls = vg_arena_calloc(a, n ? n : 1, sizeof *ls);
    if (!ls) return vg_error_set(err, VG_ENOMEM, "out of memory");
    size_t k = 0;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        if (!json_is_string(v)) return bad(err, "a label value is not a string");
        ls[k].name = vg_arena_strndup(a, key, strlen(key));
        ls[k].value = dup_str(a, v);
        if (!ls[k].name || !ls[k].value) return vg_error_set(err, VG_ENOMEM, "out of memory");
        k++;
    }
    model_labels_sort(ls, k);
    *out = ls;
    *n_out = k;
    return 0;
}

/* [ <unix seconds>, "<value>" ] */
static int parse_pair(const json_t *p, int64_t *t, const char **s, vg_error_t *err) {
    if (!json_is_array(p) || json_array_size(p) != 2 || !json_is_number(json_array_get(p, 0)) ||
        !json_is_string(json_array_get(p, 1)))
        return bad(err, "a sample is not [time, \"value\"]");
    *t = llround(json_number_value(json_array_get(p, 0)) * 1000.0);
    *s = json_string_value(json_array_get(p, 1));
    return 0;
}

static int parse_value(const char *s, double *v, vg_error_t *err) {
    return vg_parse_f64(s, strlen(s), v) ? bad(err, "a sample value is not a number") : 0;
}

static int parse_point(const json_t *p, promql_point_t *out, vg_error_t *err) {
    const char *s;
    int rc = parse_pair(p, &out->t, &s, err);
    return rc ? rc : parse_value(s, &out->v, err);
}

static int parse_series(const json_t *e, bool matrix, vg_arena_t *a, promql_series_t *out, vg_error_t *err) {
    int rc = parse_labels(json_object_get(e, "metric"), a, &out->labels, &out->n_labels, err);
    if (rc) return rc;
    const json_t *vals = json_object_get(e, matrix ? "values" : "value");
    if (!matrix) {
        promql_point_t *p = vg_arena_alloc(a, sizeof *p);
        if (!p) return vg_error_set(err, VG_ENOMEM, "out of memory");
        if ((rc = parse_point(vals, p, err))) return rc;
        out->points = p;
        out->n_points = 1;
        return 0;
    }
    if (!json_is_array(vals)) return bad(err, "a series without \"values\"");
    size_t n = json_array_size(vals);
    promql_point_t *ps = vg_arena_alloc(a, (n ? n : 1) * sizeof *ps);
    if (!ps) return vg_error_set(err, VG_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        if ((rc = parse_point(json_array_get(vals, i), &ps[i], err))) return rc;
    out->points = ps;
    out->n_points = n;
    return 0;
}

static int parse_result(const json_t *root, const json_t *data, int64_t t_ms, vg_arena_t *a, promql_result_t **out,
                        vg_error_t *err) {
    promql_result_t *r = vg_arena_calloc(a, 1, sizeof *r);
    if (!r) return vg_error_set(err, VG_ENOMEM, "out of memory");
    r->t = t_ms;
    const char *type = json_string_value(json_object_get(data, "resultType"));
    const json_t *res = json_object_get(data, "result");
    int rc = 0;
    if (!type || !res) return bad(err, "no resultType or result");
    if (!strcmp(type, "vector") || !strcmp(type, "matrix")) {
        bool matrix = type[0] == 'm';
        r->type = matrix ? PROMQL_TYPE_MATRIX : PROMQL_TYPE_VECTOR;
        if (!json_is_array(res)) return bad(err, "result is not an array");
        size_t n = json_array_size(res);
        r->series = vg_arena_calloc(a, n ? n : 1, sizeof *r->series);
        if (!r->series) return vg_error_set(err, VG_ENOMEM, "out of memory");
        for (size_t i = 0; i < n && !rc; i++) rc = parse_series(json_array_get(res, i), matrix, a, &r->series[i], err);
        r->n_series = n;
    } else if (!strcmp(type, "scalar")) {
        const char *s;
        r->type = PROMQL_TYPE_SCALAR;
        if (!(rc = parse_pair(res, &r->t, &s, err))) rc = parse_value(s, &r->scalar, err);
    } else if (!strcmp(type, "string")) {
        const char *s;
        r->type = PROMQL_TYPE_STRING;
        if (!(rc = parse_pair(res, &r->t, &s, err))) {
            r->string.len = json_string_length(json_array_get(res, 1));
            if (!(r->string.ptr = vg_arena_strndup(a, s, r->string.len))) rc = vg_error_set(err, VG_ENOMEM, "out of memory");
        }
    } else {
        return vg_error_set(err, VG_EUPSTREAM, "remote query engine: unsupported resultType \"%s\"", type);
    }
    const json_t *w = json_object_get(root, "warnings");
    if (!rc && json_is_array(w) && json_array_size(w)) {
        size_t n = json_array_size(w);
        r->warnings = vg_arena_calloc(a, n, sizeof *r->warnings);
        if (!r->warnings) return vg_error_set(err, VG_ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++)
            if (json_is_string(json_array_get(w, i)) && (r->warnings[r->n_warnings] = dup_str(a, json_array_get(w, i))))
                r->n_warnings++;
    }
    if (!rc) *out = r;
    return rc;
}

/* What vigil's own results promise and the engine's answer may not keep: a matrix series' points in
 * ascending time order, each time once (the cache splits and merges by time). */
static int check_order(const promql_result_t *r, vg_error_t *err) {
    for (size_t i = 0; r->type == PROMQL_TYPE_MATRIX && i < r->n_series; i++)
        for (size_t k = 1; k < r->series[i].n_points; k++)
            if (r->series[i].points[k].t <= r->series[i].points[k - 1].t)
                return vg_error_set(err, VG_EUPSTREAM, "the remote engine's answer has points out of time order");
    return 0;
}

int remote_result_parse(const char *body, size_t len, long http_status, int64_t t_ms, vg_arena_t *arena,
                        promql_result_t **out, vg_error_t *err) {
    int rc = 0;
    if (remote__answer_read(body, len, t_ms, arena, out)) {
        json_t *root, *data;
        if ((rc = envelope(body, len, http_status, &root, &data, err))) return rc;
        rc = parse_result(root, data, t_ms, arena, out, err);
        json_decref(root);
    }
    if (!rc) rc = check_order(*out, err);
    if (rc) *out = NULL;
    return rc;
}

/* ---- HTTP --------------------------------------------------------------------------------------- */

typedef struct sink {
    vg_buf_t *b;
    uint64_t max;
    bool over;
} sink_t;

static size_t on_data(char *p, size_t size, size_t n, void *ud) {
    sink_t *s = ud;
    size_t len = size * n;
    if (s->b->len + len > s->max) {
        s->over = true;
        return 0;
    }
    return vg_buf_append(s->b, p, len) ? 0 : len;
}

static void share_lock(CURL *h, curl_lock_data d, curl_lock_access a, void *ud) {
    (void)h, (void)a;
    pthread_mutex_lock(&((remote_t *)ud)->share_mu[d]);
}

static void share_unlock(CURL *h, curl_lock_data d, void *ud) {
    (void)h;
    pthread_mutex_unlock(&((remote_t *)ud)->share_mu[d]);
}

static CURL *handle_get(remote_t *r) {
    pthread_mutex_lock(&r->pool_mu);
    CURL *h = r->n_pool ? r->pool[--r->n_pool] : NULL;
    pthread_mutex_unlock(&r->pool_mu);
    if (h) curl_easy_reset(h); /* options go; live connections and caches stay */
    return h ? h : curl_easy_init();
}

static void handle_put(remote_t *r, CURL *h) {
    pthread_mutex_lock(&r->pool_mu);
    if (r->n_pool < POOL_MAX) {
        r->pool[r->n_pool++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&r->pool_mu);
    if (h) curl_easy_cleanup(h);
}

/* One request: GET <url><path> (form NULL) or POST with an urlencoded form. *status is the HTTP status;
 * body receives the answer (bounded by max_bytes). */
static int call(remote_t *r, const char *tenant, const char *path, const char *form, vg_buf_t *body, long *status,
                vg_error_t *err) {
    *status = 0;
    vg_buf_t url = VG_BUF_INIT;
    vg_buf_puts(&url, r->url);
    vg_buf_puts(&url, path);
    struct curl_slist *hdrs = NULL, *t;
    bool oom = url.failed;
    for (size_t i = 0; i < r->n_headers && !oom; i++) oom = !(t = curl_slist_append(hdrs, r->headers[i])) || !(hdrs = t);
    const char *tv = tenant ? tenant : r->unscoped_tenant;
    char line[512];
    if (!oom && r->tenant_header && tv) {
        snprintf(line, sizeof line, "%s: %s", r->tenant_header, tv);
        oom = !(t = curl_slist_append(hdrs, line)) || !(hdrs = t);
    }
    if (!oom && r->authz) {
        vg_buf_t a = VG_BUF_INIT;
        vg_buf_printf(&a, "Authorization: %s", r->authz);
        oom = a.failed || !(t = curl_slist_append(hdrs, a.data)) || !(hdrs = t);
        if (a.data) memset(a.data, 0, a.len);
        vg_buf_deinit(&a);
    }
    if (!oom && form) oom = !(t = curl_slist_append(hdrs, "Content-Type: application/x-www-form-urlencoded")) || !(hdrs = t);
    if (!oom) oom = !(t = curl_slist_append(hdrs, "Accept: application/json, text/plain;version=0.0.4")) || !(hdrs = t);
    CURL *h = oom ? NULL : handle_get(r);
    if (!h) {
        curl_slist_free_all(hdrs);
        vg_buf_deinit(&url);
        return vg_error_set(err, VG_ENOMEM, "out of memory");
    }
    sink_t sink = {body, r->max_bytes, false};
    curl_easy_setopt(h, CURLOPT_URL, url.data);
    curl_easy_setopt(h, CURLOPT_SHARE, r->share);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)r->timeout_ms);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "vigil-remote-query/1");
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, ""); /* whatever libcurl decodes */
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    if (form) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, form);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(form));
    }
    if (r->basic_user) {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERNAME, r->basic_user);
        curl_easy_setopt(h, CURLOPT_PASSWORD, r->basic_password ? r->basic_password : "");
    }
    if (r->ca_file) curl_easy_setopt(h, CURLOPT_CAINFO, r->ca_file);
    if (r->cert_file) curl_easy_setopt(h, CURLOPT_SSLCERT, r->cert_file);
    if (r->key_file) curl_easy_setopt(h, CURLOPT_SSLKEY, r->key_file);
    if (r->insecure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    CURLcode cc = curl_easy_perform(h);
    int rc = 0;
    if (cc == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    } else if (sink.over) {
        rc = vg_error_set(err, VG_ELIMIT,
                          "the remote query engine's answer exceeds %llu bytes (query.max_bytes)",
                          (unsigned long long)r->max_bytes);
    } else if (cc == CURLE_OPERATION_TIMEDOUT) {
        rc = vg_error_set(err, VG_ETIMEOUT, "remote query engine: no answer within %lld ms (remote_query.timeout)",
                          (long long)r->timeout_ms);
    } else if (cc == CURLE_WRITE_ERROR) {
        rc = vg_error_set(err, VG_ENOMEM, "out of memory");
    } else {
        rc = vg_error_set(err, VG_EUNAVAIL, "remote query engine %s: %s", r->url, curl_easy_strerror(cc));
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    handle_put(r, h);
    for (struct curl_slist *s = hdrs; s; s = s->next) memset(s->data, 0, strlen(s->data)); /* credentials */
    curl_slist_free_all(hdrs);
    vg_buf_deinit(&url);
    return rc;
}

/* A GET/POST whose answer is the Prometheus API envelope. */
static int api(remote_t *r, const char *tenant, const char *path, const char *form, json_t **root, json_t **data,
               vg_error_t *err) {
    vg_buf_t body = VG_BUF_INIT;
    long status;
    int rc = call(r, tenant, path, form, &body, &status, err);
    if (!rc) rc = envelope(body.data ? body.data : "", body.len, status, root, data, err);
    vg_buf_deinit(&body);
    return rc;
}

/* ---- request parameters ------------------------------------------------------------------------- */

static void put_param(vg_buf_t *b, const char *key, const char *value) {
    if (b->len) vg_buf_putc(b, '&');
    vg_buf_puts(b, key);
    vg_buf_putc(b, '=');
    char *e = curl_easy_escape(NULL, value, (int)strlen(value));
    if (e) vg_buf_puts(b, e);
    else b->failed = true;
    curl_free(e);
}

/* Unix seconds with millisecond precision, as the Prometheus API takes times. */
static void put_time(vg_buf_t *b, const char *key, int64_t ms) {
    char v[48];
    uint64_t a = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
    snprintf(v, sizeof v, "%s%llu.%03llu", ms < 0 ? "-" : "", (unsigned long long)(a / 1000), (unsigned long long)(a % 1000));
    put_param(b, key, v);
}

/* start/end of series and label calls: the API's own defaults stand for "all time" (vigil's bounds are
 * far outside what some engines parse). */
#define OPEN_RANGE_MS (INT64_C(1) << 52)

static void put_range(vg_buf_t *b, int64_t start, int64_t end) {
    if (start > -OPEN_RANGE_MS) put_time(b, "start", start);
    if (end < OPEN_RANGE_MS) put_time(b, "end", end);
}

/* A match[] set printed back as a selector: {name="value",…} with Go-quoted values. */
static void put_set(vg_buf_t *b, const promql_matcher_set_t *s) {
    vg_buf_t sel = VG_BUF_INIT;
    vg_buf_putc(&sel, '{');
    for (size_t i = 0; i < s->n; i++) {
        const char *v = model_matcher_value(s->v[i]);
        if (i) vg_buf_putc(&sel, ',');
        vg_buf_puts(&sel, model_matcher_name(s->v[i]));
        vg_buf_puts(&sel, model_match_type_str(model_matcher_type(s->v[i])));
        promql_quote(&sel, v, strlen(v));
    }
    vg_buf_putc(&sel, '}');
    if (sel.failed) b->failed = true;
    else put_param(b, "match[]", sel.data);
    vg_buf_deinit(&sel);
}

static void put_sets(vg_buf_t *b, const promql_matcher_set_t *sets, size_t n) {
    for (size_t i = 0; i < n; i++) put_set(b, &sets[i]);
}

static int oom(vg_buf_t *b, vg_error_t *err) {
    if (!b->failed) return 0;
    vg_buf_deinit(b);
    return vg_error_set(err, VG_ENOMEM, "out of memory");
}

/* ---- the executor ------------------------------------------------------------------------------- */

static int exec_query(promql_executor_t *ex, const promql_query_t *q, vg_arena_t *arena, promql_result_t **out,
                      vg_error_t *err) {
    remote_t *r;
    const char *tenant;
    who(ex, &r, &tenant);
    *out = NULL;
    vg_buf_t text = VG_BUF_INIT, form = VG_BUF_INIT;
    if (promql_print(q->expr, &text) || text.failed) {
        vg_buf_deinit(&text);
        return vg_error_set(err, VG_ENOMEM, "out of memory");
    }
    put_param(&form, "query", text.data);
    vg_buf_deinit(&text);
    bool range = q->step_ms > 0;
    if (range) {
        put_time(&form, "start", q->start_ms);
        put_time(&form, "end", q->end_ms);
        put_time(&form, "step", q->step_ms);
    } else {
        put_time(&form, "time", q->start_ms);
    }
    if (q->timeout_ms > 0) put_time(&form, "timeout", q->timeout_ms);
    int rc = oom(&form, err);
    if (rc) return rc;
    vg_buf_t body = VG_BUF_INIT;
    long status;
    rc = call(r, tenant, range ? "/api/v1/query_range" : "/api/v1/query", form.data, &body, &status, err);
    vg_buf_deinit(&form);
    if (!rc) rc = remote_result_parse(body.data ? body.data : "", body.len, status, q->start_ms, arena, out, err);
    vg_buf_deinit(&body);
    return rc;
}

static int cmp_labels(const void *a, const void *b) {
    const promql_labels_t *x = a, *y = b;
    return model_labels_cmp(x->labels, x->n_labels, y->labels, y->n_labels);
}

static int cmp_latest(const void *a, const void *b) {
    const promql_latest_t *x = a, *y = b;
    return model_labels_cmp(x->labels, x->n_labels, y->labels, y->n_labels);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static int exec_series(promql_executor_t *ex, int64_t start, int64_t end, const promql_matcher_set_t *sets, size_t n_sets,
                       vg_arena_t *arena, promql_labels_t **out, size_t *n_out, vg_error_t *err) {
    remote_t *r;
    const char *tenant;
    who(ex, &r, &tenant);
    *out = NULL;
    *n_out = 0;
    vg_buf_t form = VG_BUF_INIT;
    put_sets(&form, sets, n_sets);
    put_range(&form, start, end);
    int rc = oom(&form, err);
    json_t *root, *data;
    if (rc || (rc = api(r, tenant, "/api/v1/series", form.data ? form.data : "", &root, &data, err))) {
        vg_buf_deinit(&form);
        return rc;
    }
    vg_buf_deinit(&form);
    size_t n = json_is_array(data) ? json_array_size(data) : 0;
    promql_labels_t *res = vg_arena_calloc(arena, n ? n : 1, sizeof *res);
    if (!json_is_array(data)) rc = bad(err, "series data is not an array");
    else if (!res) rc = vg_error_set(err, VG_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < n; i++) rc = parse_labels(json_array_get(data, i), arena, &res[i].labels, &res[i].n_labels, err);
    json_decref(root);
    if (rc) return rc;
    qsort(res, n, sizeof *res, cmp_labels);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!k || cmp_labels(&res[k - 1], &res[i])) res[k++] = res[i];
    *out = res;
    *n_out = k;
    return 0;
}

static int exec_labels(promql_executor_t *ex, const char *name, int64_t start, int64_t end, const promql_matcher_set_t *sets,
                       size_t n_sets, vg_arena_t *arena, const char *const **out, size_t *n_out, vg_error_t *err) {
    remote_t *r;
    const char *tenant;
    who(ex, &r, &tenant);
    *out = NULL;
    *n_out = 0;
    vg_buf_t path = VG_BUF_INIT;
    if (name) {
        char *e = curl_easy_escape(NULL, name, (int)strlen(name));
        if (!e) return vg_error_set(err, VG_ENOMEM, "out of memory");
        vg_buf_printf(&path, "/api/v1/label/%s/values?", e);
        curl_free(e);
    } else {
        vg_buf_puts(&path, "/api/v1/labels?");
    }
    vg_buf_t q = VG_BUF_INIT;
    put_sets(&q, sets, n_sets);
    put_range(&q, start, end);
    if (q.len) vg_buf_append(&path, q.data, q.len);
    if (q.failed) path.failed = true;
    vg_buf_deinit(&q);
    int rc = oom(&path, err);
    json_t *root, *data;
    if (rc || (rc = api(r, tenant, path.data, NULL, &root, &data, err))) {
        vg_buf_deinit(&path);
        return rc;
    }
    vg_buf_deinit(&path);
    size_t n = json_is_array(data) ? json_array_size(data) : 0;
    const char **res = vg_arena_calloc(arena, n ? n : 1, sizeof *res);
    if (!json_is_array(data)) rc = bad(err, "label data is not an array");
    else if (!res) rc = vg_error_set(err, VG_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < n; i++) {
        const json_t *s = json_array_get(data, i);
        if (!json_is_string(s)) rc = bad(err, "a label is not a string");
        else if (!(res[i] = dup_str(arena, s))) rc = vg_error_set(err, VG_ENOMEM, "out of memory");
    }
    json_decref(root);
    if (rc) return rc;
    qsort(res, n, sizeof *res, cmp_str);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!k || strcmp(res[k - 1], res[i])) res[k++] = res[i];
    *out = res;
    *n_out = k;
    return 0;
}

static const char *str_field(vg_arena_t *a, const json_t *o, const char *key, const char *dflt) {
    const json_t *s = json_object_get(o, key);
    return json_is_string(s) ? dup_str(a, s) : dflt;
}

static int exec_metadata(promql_executor_t *ex, const char *metric, long limit, const promql_matcher_set_t *scope,
                         vg_arena_t *arena, promql_metadata_t **out, size_t *n_out, vg_error_t *err) {
    remote_t *r;
    const char *tenant;
    who(ex, &r, &tenant);
    *out = NULL;
    *n_out = 0;
    const char *const *names = NULL;
    size_t n_names = 0;
    int rc = 0;
    if (scope && (rc = exec_labels(ex, MODEL_METRIC_NAME, INT64_MIN / 2, INT64_MAX / 2, scope, 1, arena, &names, &n_names, err)))
        return rc;
    vg_buf_t path = VG_BUF_INIT, q = VG_BUF_INIT;
    vg_buf_puts(&path, "/api/v1/metadata?");
    if (metric && *metric) put_param(&q, "metric", metric);
    if (limit >= 0 && !scope) {
        char l[24];
        snprintf(l, sizeof l, "%ld", limit);
        put_param(&q, "limit", l);
    }
    if (q.len) vg_buf_append(&path, q.data, q.len);
    if (q.failed) path.failed = true;
    vg_buf_deinit(&q);
    json_t *root, *data;
    if ((rc = oom(&path, err)) || (rc = api(r, tenant, path.data, NULL, &root, &data, err))) {
        vg_buf_deinit(&path);
        return rc;
    }
    vg_buf_deinit(&path);
    if (!json_is_object(data)) {
        json_decref(root);
        return bad(err, "metadata data is not an object");
    }
    /* families sorted by name, then their entries in the engine's order */
    size_t nf = json_object_size(data), total = 0, k = 0;
    const char **fam = vg_arena_calloc(arena, nf ? nf : 1, sizeof *fam);
    const char *key;
    json_t *v;
    if (!fam) rc = vg_error_set(err, VG_ENOMEM, "out of memory");
    json_object_foreach(data, key, v) {
        if (rc || !json_is_array(v)) continue;
        if (scope && !bsearch(&key, names, n_names, sizeof *names, cmp_str)) continue;
        if (!(fam[k++] = vg_arena_strndup(arena, key, strlen(key)))) rc = vg_error_set(err, VG_ENOMEM, "out of memory");
        total += json_array_size(v);
    }
    if (!rc) qsort(fam, k, sizeof *fam, cmp_str);
    if (!rc && limit >= 0 && (size_t)limit < k) k = (size_t)limit;
    promql_metadata_t *res = rc ? NULL : vg_arena_calloc(arena, total ? total : 1, sizeof *res);
    if (!rc && !res) rc = vg_error_set(err, VG_ENOMEM, "out of memory");
    size_t n = 0;
    for (size_t i = 0; !rc && i < k; i++) {
        const json_t *entries = json_object_get(data, fam[i]);
        for (size_t e = 0; e < json_array_size(entries); e++) {
            const json_t *m = json_array_get(entries, e);
            res[n++] = (promql_metadata_t){fam[i], str_field(arena, m, "type", "unknown"), str_field(arena, m, "help", ""),
                                           str_field(arena, m, "unit", "")};
        }
    }
    json_decref(root);
    if (rc) return rc;
    *out = res;
    *n_out = n;
    return 0;
}

static int exec_latest(promql_executor_t *ex, int64_t t, int64_t lookback_ms, const promql_matcher_set_t *sets,
                       size_t n_sets, vg_arena_t *arena, promql_latest_t **out, size_t *n_out, vg_error_t *err) {
    remote_t *r;
    const char *tenant;
    who(ex, &r, &tenant);
    *out = NULL;
    *n_out = 0;
    if (!r->parse_text) return vg_error_set(err, VG_EUNSUPPORTED, "federation is not available with this backend");
    if (n_sets == 0) return 0;
    vg_buf_t path = VG_BUF_INIT, q = VG_BUF_INIT;
    vg_buf_puts(&path, "/federate?");
    put_sets(&q, sets, n_sets);
    if (q.len) vg_buf_append(&path, q.data, q.len);
    if (q.failed) path.failed = true;
    vg_buf_deinit(&q);
    int rc = oom(&path, err);
    if (rc) return rc;
    vg_buf_t body = VG_BUF_INIT;
    long status;
    rc = call(r, tenant, path.data, NULL, &body, &status, err);
    vg_buf_deinit(&path);
    if (!rc && status != 200) { /* an error comes as the API's JSON envelope, or as plain text */
        json_t *root, *data;
        rc = envelope(body.data ? body.data : "", body.len, status, &root, &data, err);
        if (!rc) {
            json_decref(root);
            rc = vg_error_set(err, remote_error_code(NULL, status), "remote query engine: /federate answered HTTP %ld", status);
        }
    }
    promql_latest_t *all = NULL;
    size_t n = 0;
    if (!rc) rc = r->parse_text(body.data ? body.data : "", body.len, arena, &all, &n, err);
    vg_buf_deinit(&body);
    if (rc) return rc;
    qsort(all, n, sizeof *all, cmp_latest);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (all[i].t > t || all[i].t < t - lookback_ms) continue; /* vigil's lookback, not the engine's */
        if (k && !cmp_latest(&all[k - 1], &all[i])) continue;
        all[k++] = all[i];
    }
    *out = all;
    *n_out = k;
    return 0;
}

static promql_executor_t *exec_scoped(promql_executor_t *ex, const char *tenant, vg_arena_t *arena) {
    remote_t *r;
    const char *ignored;
    who(ex, &r, &ignored);
    view_t *v = vg_arena_alloc(arena, sizeof *v);
    if (!v) return ex;
    *v = (view_t){{&view_vt}, r, tenant};
    return &v->base;
}

static void exec_free(promql_executor_t *ex) {
    if (!ex || ex->vt != &remote_vt) return; /* a view lives in its arena */
    remote_t *r = (remote_t *)ex;
    for (size_t i = 0; i < r->n_pool; i++) curl_easy_cleanup(r->pool[i]);
    if (r->share) curl_share_cleanup(r->share);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++) pthread_mutex_destroy(&r->share_mu[i]);
    pthread_mutex_destroy(&r->pool_mu);
    char **strs[] = {&r->url, &r->tenant_header, &r->unscoped_tenant, &r->basic_user, &r->basic_password, &r->authz,
                     &r->ca_file, &r->cert_file, &r->key_file};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        if (*strs[i]) memset(*strs[i], 0, strlen(*strs[i]));
        free(*strs[i]);
    }
    for (size_t i = 0; i < r->n_headers; i++) {
        memset(r->headers[i], 0, strlen(r->headers[i]));
        free(r->headers[i]);
    }
    free(r->headers);
    free(r);
}

#define VT_FUNCS                                                                                                       \
    .query_instant = exec_query, .query_range = exec_query, .series = exec_series, .labels = exec_labels,               \
    .metadata = exec_metadata, .latest = exec_latest, .free = exec_free, .scoped = exec_scoped
static const promql_executor_vt remote_vt = {VT_FUNCS}, view_vt = {VT_FUNCS};

static void init_curl(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

static int copy(const char *s, char **out) {
    *out = NULL;
    return s && !(*out = strdup(s)) ? VG_ENOMEM : 0;
}

int remote_executor_new(const remote_query_opts_t *o, promql_executor_t **out, vg_error_t *err) {
    *out = NULL;
    if (!o->url || (strncmp(o->url, "http://", 7) && strncmp(o->url, "https://", 8)))
        return vg_error_set(err, VG_EINVAL, "remote query url \"%s\" is not an http(s) URL", o->url ? o->url : "");
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, init_curl);
    remote_t *r = calloc(1, sizeof *r);
    if (!r) return vg_error_set(err, VG_ENOMEM, "out of memory");
    r->base.vt = &remote_vt;
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++) pthread_mutex_init(&r->share_mu[i], NULL);
    pthread_mutex_init(&r->pool_mu, NULL);
    int rc = copy(o->url, &r->url);
    if (!rc && r->url[0]) { /* "http://h/prometheus/" and "http://h/prometheus" are the same root */
        size_t l = strlen(r->url);
        while (l > 8 && r->url[l - 1] == '/') r->url[--l] = '\0';
    }
    if (!rc) rc = copy(o->tenant_header, &r->tenant_header);
    if (!rc) rc = copy(o->unscoped_tenant, &r->unscoped_tenant);
    if (!rc) rc = copy(o->basic_user, &r->basic_user);
    if (!rc) rc = copy(o->basic_password, &r->basic_password);
    if (!rc) rc = copy(o->authorization, &r->authz);
    if (!rc) rc = copy(o->ca_file, &r->ca_file);
    if (!rc) rc = copy(o->cert_file, &r->cert_file);
    if (!rc) rc = copy(o->key_file, &r->key_file);
    if (!rc && o->n_headers && !(r->headers = calloc(o->n_headers, sizeof *r->headers))) rc = VG_ENOMEM;
    for (size_t i = 0; !rc && i < o->n_headers; i++) {
        size_t l = strlen(o->header_names[i]) + strlen(o->header_values[i]) + 3;
        if (!(r->headers[i] = malloc(l))) rc = VG_ENOMEM;
        else snprintf(r->headers[i], l, "%s: %s", o->header_names[i], o->header_values[i]);
        r->n_headers += !rc;
    }
    r->insecure = o->insecure_skip_verify;
    r->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 2 * 60 * 1000;
    r->max_bytes = o->max_bytes ? o->max_bytes : (uint64_t)1 << 30;
    r->parse_text = o->parse_text;
    if (!rc && !(r->share = curl_share_init())) rc = VG_ENOMEM;
    if (!rc) {
        curl_share_setopt(r->share, CURLSHOPT_LOCKFUNC, share_lock);
        curl_share_setopt(r->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
        curl_share_setopt(r->share, CURLSHOPT_USERDATA, r);
        curl_share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
        curl_share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
        curl_share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    }
    if (rc) {
        exec_free(&r->base);
        return vg_error_set(err, rc, "out of memory");
    }
    *out = &r->base;
    return 0;
}

