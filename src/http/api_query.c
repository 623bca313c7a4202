/* PromQL over HTTP: /api/v1/query and /api/v1/query_range (Prometheus' parameters, validation order,
 * error texts and JSON), and the tenant metrics API /api/v1/metrics/query[_range] taking JSON bodies.
 * A scoped caller's expression is rewritten on its syntax tree before evaluation so every selector
 * carries the tenant's matcher; the engine never sees the tenant's text. */
#include "api.h"
#include "auth.h"
#include "params.h"

#include "promql/engine/promql_engine.h"
#include "tenancy/tenancy.h"
#include "tsdb/tsdb.h"
#include "util/json.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

static int open_querier(void *ctx, int64_t mint, int64_t maxt, storage_querier_t **out, vg_error_t *err) {
    return tsdb_db_querier(ctx, mint, maxt, out, err);
}

/* Parses, enforces (for tenants), evaluates and answers. */
static int run(http_req_t *req, http_resp_t *resp, const char *text, int64_t start, int64_t end, int64_t step,
               int64_t timeout_ms) {
    if (!req->app->db || !req->app->engine) return vg_error_set(&req->err, VG_EUNAVAIL, "the query engine is not ready");
    promql_node_t *expr;
    int rc = promql_parse(text, strlen(text), req->arena, &expr, &req->err);
    if (rc && step) return rc; /* Prometheus prefixes the parser's message for instant queries only */
    if (rc) {
        char msg[VG_ERROR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", req->err.msg);
        return vg_error_set(&req->err, rc, "invalid parameter \"query\": %s", msg);
    }
    config_limits_t lim = {0};
    if ((rc = api_enforce_query(req, expr))) return rc;
    if (req->ident->scoped) {
        config_t *c = http_app_config(req->app);
        config_tenant_limits(c, req->ident->tenant, &lim);
        config_unref(c);
        if (lim.max_query_range_ms && end - start > lim.max_query_range_ms) {
            char d[VG_DURATION_MAX];
            vg_duration_format(lim.max_query_range_ms, d);
            return vg_error_set(&req->err, VG_ELIMIT, "the query time range exceeds the limit of %s for this tenant", d);
        }
    }
    /* the audit log records what was evaluated (printed only when the line will be written) */
    if ((req->ident->scoped || req->ident->admin) && vg_log_get_level() <= VG_LOG_INFO) {
        vg_buf_t b = VG_BUF_INIT;
        if (!promql_print(expr, &b) && !b.failed) req->audit_query = vg_arena_strndup(req->arena, b.data, b.len);
        vg_buf_deinit(&b);
    }
    promql_queryable_t qb = {open_querier, req->app->db};
    promql_query_t q = {expr, start, end, step, timeout_ms, req->ident->scoped ? lim.max_samples_per_query : 0};
    promql_result_t *res;
    /* a tenant's concurrent queries are bounded too, on top of the engine's global gate */
    if (req->ident->scoped && (rc = tenancy_usage_query_begin(http_app_usage(req->app), req->ident->tenant,
                                                             lim.max_concurrent_queries, vg_now_ms(), &req->err)))
        return rc;
    rc = promql_exec(req->app->engine, &qb, &q, req->arena, &res, &req->err);
    if (req->ident->scoped) tenancy_usage_query_end(http_app_usage(req->app), req->ident->tenant);
    if (rc) return rc;
    vg_json_t j;
    vg_json_init(&j, &resp->body);
    vg_json_obj_open(&j);
    vg_json_key(&j, "status"), vg_json_str(&j, "success");
    vg_json_key(&j, "data");
    promql_result_write_json(res, &j);
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
