/* GET /api/v1/tenants/self: who the caller is to vigil — tenant, subject, role, the matcher enforced on
 * every query, the limits in force, and usage: active series (what max_series bounds), ingestion and
 * query rates over the last minute, totals since vigil started, queries running now. */
#include "api.h"
#include "params.h"

#include "tenancy/tenancy.h"
#include "util/json.h"
#include "util/timeutil.h"

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
