/* PromQL over HTTP: /api/v1/query and /api/v1/query_range (Prometheus' parameters, validation order,
 * error texts and JSON), and the tenant metrics API /api/v1/metrics/query[_range] taking JSON bodies.
 * A scoped caller's expression is rewritten on its syntax tree before evaluation so every selector
 * carries the tenant's matcher; the engine never sees the tenant's text. */
#include "api.h"
#include "params.h"

#include "util/json.h"
#include "util/timeutil.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* Runs a query through the service (parse → enforce → limits → executor) and answers. As Prometheus,
 * any non-empty `stats` parameter adds the query's statistics to `data`, and `stats=all` adds the
 * samples of every step too (Prometheus does with its per-step statistics feature on). */
static int run(http_req_t *req, http_resp_t *resp, const char *text, int64_t start, int64_t end, int64_t step,
               int64_t timeout_ms) {
    const char *stats = http_req_param(req, "stats");
    service_query_t q = {text, start, end, step, timeout_ms};
    promql_result_t *res;
    /* statistics describe one evaluation: such a request is evaluated whole, never from the cache */
    int rc = step && !(stats && *stats)
                 ? service_query_cached(req->ctx, &q, SERVICE_CACHE_EXTENTS, req->arena, &res, &req->audit_query, &req->err)
                 : service_query(req->ctx, &q, req->arena, &res, &req->audit_query, &req->err);
    if (rc) return rc;
    vg_json_t j;
    http_json_success(&j, resp);
    promql_result_write_json_stats(res, stats && *stats, stats && !strcmp(stats, "all"), &j);
    if (res->n_warnings) {
        vg_json_key(&j, "warnings");
        vg_json_arr_open(&j);
        for (size_t i = 0; i < res->n_warnings; i++) vg_json_str(&j, res->warnings[i]);
        vg_json_arr_close(&j);
    }
    vg_json_obj_close(&j);
    return 0;
}

static int timeout_param(http_req_t *req, int64_t *out) {
    *out = 0;
    const char *to = http_req_param(req, "timeout");
    return to && *to ? api_parse_duration("timeout", to, out, &req->err) : 0;
}

/* Prometheus' checks of a range, with its texts. */
static int check_range(http_req_t *req, int64_t start, int64_t end, int64_t step) {
    if (end < start) return vg_error_set(&req->err, VG_EINVAL, "end timestamp must not be before start time");
    if (step <= 0)
        return vg_error_set(&req->err, VG_EINVAL,
                            "zero or negative query resolution step widths are not accepted. Try a positive integer");
    if ((end - start) / step > PROMQL_DEFAULT_MAX_POINTS)
        return vg_error_set(&req->err, VG_EINVAL,
                            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query "
                            "resolution (?step=XX)");
    return 0;
}

int api_query(http_req_t *req, http_resp_t *resp) {
    int64_t t, timeout;
    int rc = api_time_param(req, "time", vg_now_ms(), &t);
    if (rc || (rc = timeout_param(req, &timeout))) return rc;
    const char *q = http_req_param(req, "query");
    return run(req, resp, q ? q : "", t, t, 0, timeout);
}

int api_query_range(http_req_t *req, http_resp_t *resp) {
    int64_t start, end, step, timeout;
    int rc = api_parse_time("start", http_req_param(req, "start"), &start, &req->err);
    if (!rc) rc = api_parse_time("end", http_req_param(req, "end"), &end, &req->err);
    if (!rc) rc = api_parse_duration("step", http_req_param(req, "step") ? http_req_param(req, "step") : "", &step, &req->err);
    if (!rc) rc = check_range(req, start, end, step);
    if (!rc) rc = timeout_param(req, &timeout);
    if (rc) return rc;
    const char *q = http_req_param(req, "query");
    return run(req, resp, q ? q : "", start, end, step, timeout);
}

/* The canonical text of a query, as the caller wrote it (a tenant's query is checked, not rewritten). */
int api_format_query(http_req_t *req, http_resp_t *resp) {
    const char *q = http_req_param(req, "query"), *out;
    int rc = service_query_format(req->ctx, q ? q : "", req->arena, &out, &req->err);
    if (rc) return rc;
    vg_json_t j;
    http_json_success(&j, resp);
    vg_json_str(&j, out);
    vg_json_obj_close(&j);
    return 0;
}

/* ---- the tenant metrics API: the same, with a JSON body {"query","time"} / {"query","start","end","step"} ---- */

/* A JSON time: a number of Unix seconds or a string (RFC 3339 or Unix seconds). */
static int json_time(http_req_t *req, json_t *o, const char *key, bool required, int64_t dflt, int64_t *out) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        if (required) return vg_error_set(&req->err, VG_EINVAL, "missing field \"%s\"", key);
        *out = dflt;
        return 0;
    }
    char buf[64];
    if (json_is_number(v)) snprintf(buf, sizeof buf, "%.17g", json_number_value(v));
    else if (json_is_string(v)) snprintf(buf, sizeof buf, "%s", json_string_value(v));
    else return vg_error_set(&req->err, VG_EINVAL, "field \"%s\" must be a time (RFC 3339 or Unix seconds)", key);
    return api_parse_time(key, buf, out, &req->err);
}

static int json_body(http_req_t *req, json_t **out) {
    json_error_t je;
    *out = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return vg_error_set(&req->err, VG_EINVAL, "body must be a JSON object: %s at byte %d", je.text, je.position);
    }
    if (!json_is_string(json_object_get(*out, "query"))) {
        json_decref(*out);
        *out = NULL;
        return vg_error_set(&req->err, VG_EINVAL, "missing string field \"query\"");
    }
    return 0;
}

int api_metrics_query(http_req_t *req, http_resp_t *resp) {
    json_t *b;
    int64_t t;
    int rc = json_body(req, &b);
    if (rc) return rc;
    if (!(rc = json_time(req, b, "time", false, vg_now_ms(), &t)))
        rc = run(req, resp, json_string_value(json_object_get(b, "query")), t, t, 0, 0);
    json_decref(b);
    return rc;
}

int api_metrics_query_range(http_req_t *req, http_resp_t *resp) {
    json_t *b;
    int64_t start, end, step = 0;
    int rc = json_body(req, &b);
    if (rc) return rc;
    if (!(rc = json_time(req, b, "start", true, 0, &start)) && !(rc = json_time(req, b, "end", true, 0, &end))) {
        json_t *s = json_object_get(b, "step");
        char buf[64] = "";
        if (json_is_number(s)) snprintf(buf, sizeof buf, "%.17g", json_number_value(s));
        else if (json_is_string(s)) snprintf(buf, sizeof buf, "%s", json_string_value(s));
        rc = api_parse_duration("step", buf, &step, &req->err);
    }
    if (!rc) rc = check_range(req, start, end, step);
    if (!rc) rc = run(req, resp, json_string_value(json_object_get(b, "query")), start, end, step, 0);
    json_decref(b);
    return rc;
}
