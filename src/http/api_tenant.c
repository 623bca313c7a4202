/* GET /api/v1/tenants/self: who the caller is to vigil — tenant, subject, role, the matcher enforced on
 * every query, the limits in force, and usage: active series (what max_series bounds), ingestion and
 * query rates over the last minute, totals since vigil started, queries running now.
 * /api/v1/tenants/self/api-keys: the tenant's own vigil API keys — list, create (the key is answered
 * once), revoke; an admin names the tenant with ?tenant= as on the Grafana endpoints. */
#include "api.h"
#include "params.h"

#include "tenancy/tenancy.h"
#include "util/json.h"
#include "util/timeutil.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int api_tenants_self(http_req_t *req, http_resp_t *resp) {
    service_ctx_t *id = req->ctx;
    const config_limits_t lim = id->limits;
    int64_t active = id->scoped && req->app->db ? (int64_t)service_ctx_active_series(id) : -1;
    tenancy_usage_stats_t u;
    if (id->scoped) tenancy_usage_get(service_usage(req->app), id->tenant, vg_now_ms(), &u);
    vg_json_t j;
    http_json_success(&j, resp);
    vg_json_obj_open(&j);
    vg_json_key(&j, "tenant"), vg_json_str(&j, id->tenant);
    vg_json_key(&j, "subject"), vg_json_str(&j, id->subject);
    vg_json_key(&j, "admin"), vg_json_bool(&j, id->admin);
    vg_json_key(&j, "anonymous"), vg_json_bool(&j, id->anonymous);
    if (id->scoped) {
        vg_json_key(&j, "enforced");
        vg_json_obj_open(&j);
        vg_json_key(&j, "label"), vg_json_str(&j, id->matcher.label);
        vg_json_key(&j, "values");
        vg_json_arr_open(&j);
        for (size_t i = 0; i < id->matcher.n_values; i++) vg_json_str(&j, id->matcher.values[i]);
        vg_json_arr_close(&j);
        vg_json_obj_close(&j);
    }
    char d[VG_DURATION_MAX];
    vg_duration_format(lim.max_query_range_ms, d);
    vg_json_key(&j, "limits");
    vg_json_obj_open(&j);
    vg_json_key(&j, "request_rate"), vg_json_f64(&j, lim.request_rate);
    vg_json_key(&j, "request_burst"), vg_json_i64(&j, lim.request_burst);
    vg_json_key(&j, "ingestion_rate"), vg_json_f64(&j, lim.ingestion_rate);
    vg_json_key(&j, "ingestion_burst"), vg_json_i64(&j, lim.ingestion_burst);
    vg_json_key(&j, "max_series"), vg_json_i64(&j, lim.max_series);
    vg_json_key(&j, "max_samples_per_query"), vg_json_i64(&j, lim.max_samples_per_query);
    vg_json_key(&j, "max_concurrent_queries"), vg_json_i64(&j, lim.max_concurrent_queries);
    vg_json_key(&j, "max_query_range"), vg_json_str(&j, d);
    vg_json_key(&j, "max_api_keys"), vg_json_i64(&j, lim.max_api_keys);
    vg_json_obj_close(&j);
    vg_json_key(&j, "usage");
    vg_json_obj_open(&j);
    vg_json_key(&j, "active_series");
    if (active >= 0) vg_json_i64(&j, active);
    else vg_json_null(&j);
    if (id->scoped) {
        vg_json_key(&j, "ingestion_rate"), vg_json_f64(&j, u.ingestion_rate);
        vg_json_key(&j, "samples_ingested_total"), vg_json_i64(&j, (int64_t)u.samples_total);
        vg_json_key(&j, "series_refused_total"), vg_json_i64(&j, (int64_t)u.series_refused_total);
        vg_json_key(&j, "queries_running"), vg_json_i64(&j, u.queries_running);
        vg_json_key(&j, "queries_total"), vg_json_i64(&j, (int64_t)u.queries_total);
        vg_json_key(&j, "query_rate"), vg_json_f64(&j, u.query_rate);
    }
    vg_json_obj_close(&j);
    vg_json_obj_close(&j);
    vg_json_obj_close(&j);
    return 0;
}

/* {"id","name","created","grafana"} of one key: never the key nor its digest. */
static void key_json(vg_json_t *j, const tenancy_apikey_info_t *k) {
    char t[VG_RFC3339_MAX];
    vg_rfc3339_format(k->created_ms, t);
    vg_json_obj_open(j);
    vg_json_key(j, "id"), vg_json_i64(j, (int64_t)k->id);
    vg_json_key(j, "name"), vg_json_str(j, k->name);
    vg_json_key(j, "created"), vg_json_str(j, t);
    vg_json_key(j, "grafana"), vg_json_bool(j, !strcmp(k->name, TENANCY_APIKEY_DATASOURCE));
}

static int keys_list(http_req_t *req, http_resp_t *resp, const char *tenant) {
    tenancy_apikey_info_t *v;
    size_t n;
    int rc = service_apikeys_list(req->ctx, tenant, &v, &n, &req->err);
    if (rc) return rc;
    vg_json_t j;
    http_json_success(&j, resp);
    vg_json_arr_open(&j);
    for (size_t i = 0; i < n; i++) key_json(&j, &v[i]), vg_json_obj_close(&j);
    vg_json_arr_close(&j);
    vg_json_obj_close(&j);
    free(v);
    return 0;
}

/* POST {"name": "..."}: 201 with the key, which is never shown again. */
static int keys_create(http_req_t *req, http_resp_t *resp, const char *tenant) {
    json_error_t je;
    json_t *body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &je);
    const char *name = json_string_value(json_object_get(body, "name"));
    if (!json_is_object(body) || !name) {
        json_decref(body);
        return vg_error_set(&req->err, VG_EINVAL, "body must be a JSON object with a string \"name\"");
    }
    char key[TENANCY_APIKEY_LEN + 1];
    tenancy_apikey_info_t k;
    int retry = 0;
    int rc = service_apikey_create(req->ctx, tenant, name, key, &k, &retry, &req->err);
    json_decref(body);
    if (rc) {
        char *ra = retry ? vg_arena_alloc(req->arena, 24) : NULL;
        if (ra) snprintf(ra, 24, "%d", retry), http_resp_header(resp, "Retry-After", ra);
        return rc;
    }
    vg_json_t j;
    http_json_success(&j, resp);
    key_json(&j, &k);
    vg_json_key(&j, "key"), vg_json_str(&j, key);
    vg_json_obj_close(&j);
    vg_json_obj_close(&j);
    explicit_bzero(key, sizeof key);
    http_resp_header(resp, "Cache-Control", "no-store");
    resp->status = 201;
    return 0;
}

int api_tenant_apikeys(http_req_t *req, http_resp_t *resp) {
    const char *tenant = NULL;
    int rc = api_grafana_tenant(req, &tenant);
    if (rc) return rc;
    return !strcmp(req->method, "POST") ? keys_create(req, resp, tenant) : keys_list(req, resp, tenant);
}

/* DELETE …/{id}: 204; 404 for an unknown id or another tenant's; the Grafana datasource's key only
 * with grafana=true. */
int api_tenant_apikey(http_req_t *req, http_resp_t *resp) {
    const char *tenant = NULL, *ids = http_req_path_param(req, "id"), *g = http_req_param(req, "grafana");
    int rc = api_grafana_tenant(req, &tenant);
    if (rc) return rc;
    char *end;
    unsigned long long id = ids && *ids >= '1' && *ids <= '9' ? strtoull(ids, &end, 10) : 0;
    if (!id || *end) return vg_error_set(&req->err, VG_ENOTFOUND, "no API key \"%.40s\"", ids ? ids : "");
    if ((rc = service_apikey_revoke(req->ctx, tenant, id, g && !strcmp(g, "true"), &req->err))) return rc;
    resp->status = 204;
    return 0;
}
