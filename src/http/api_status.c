/* Self-monitoring endpoints: Prometheus-style probes (/-/healthy, /-/ready, /-/reload), vigil's JSON
 * health and status documents, and /metrics. None of them takes a lock on hot state: readiness and
 * reload status are atomics, component health is a small table read by copy. */
#include "api.h"

#include "selfmon/selfmon.h"
#include "util/json.h"
#include "util/timeutil.h"

#include "vigil_build.h"

#include <stdio.h>
#include <string.h>

int api_healthy(http_req_t *req, http_resp_t *resp) {
    (void)req;
    http_resp_text(resp, 200, "vigil is Healthy.\n");
    return 0;
}

int api_ready(http_req_t *req, http_resp_t *resp) {
    if (atomic_load(&req->app->ready)) http_resp_text(resp, 200, "vigil is Ready.\n");
    else http_resp_text(resp, 503, "Service Unavailable\n");
    return 0;
}

int api_reload(http_req_t *req, http_resp_t *resp) {
    vg_error_t err;
    if (service_reload(req->app, &err)) {
        char msg[VG_ERROR_MSG_MAX + 300];
        char loc[VG_ERROR_MSG_MAX + 256];
        config_error_format(&err, req->app->config_path ? req->app->config_path : "", loc, sizeof loc);
        snprintf(msg, sizeof msg, "failed to reload config: %s\n", loc);
        http_resp_text(resp, 500, msg);
        return 0;
    }
    http_resp_text(resp, 200, "");
    return 0;
}

static void uptime_fields(vg_json_t *j, const service_t *app) {
    char ts[VG_RFC3339_MAX];
    vg_rfc3339_format(vg_now_ms(), ts);
    vg_json_key(j, "timestamp"), vg_json_str(j, ts);
    vg_json_key(j, "uptime_seconds"), vg_json_f64(j, (double)(int64_t)((vg_now_s() - app->start_time) * 1000) / 1000);
}

int api_health(http_req_t *req, http_resp_t *resp) {
    vg_json_t j;
    vg_json_init(&j, &resp->body);
    vg_json_obj_open(&j);
    vg_json_key(&j, "status"), vg_json_str(&j, "healthy");
    vg_json_key(&j, "version"), vg_json_str(&j, VIGIL_VERSION);
    uptime_fields(&j, req->app);
    vg_json_obj_close(&j);
    return 0;
}

int api_alive(http_req_t *req, http_resp_t *resp) {
    (void)req;
    vg_buf_puts(&resp->body, "{\"status\":\"alive\"}");
    return 0;
}

int api_ready_json(http_req_t *req, http_resp_t *resp) {
    bool ready = atomic_load(&req->app->ready);
    resp->status = ready ? 200 : 503;
    vg_buf_puts(&resp->body, ready ? "{\"status\":\"ready\"}" : "{\"status\":\"not_ready\"}");
    return 0;
}

static void component_json(void *ctx, const char *name, selfmon_status_t st, const char *msg, double since) {
    vg_json_t *j = ctx;
    char ts[VG_RFC3339_MAX];
    vg_rfc3339_format((int64_t)(since * 1000), ts);
    vg_json_key(j, name);
    vg_json_obj_open(j);
    vg_json_key(j, "status"), vg_json_str(j, selfmon_status_name(st));
    vg_json_key(j, "message"), vg_json_str(j, msg);
    vg_json_key(j, "since"), vg_json_str(j, ts);
    vg_json_obj_close(j);
}

int api_status(http_req_t *req, http_resp_t *resp) {
    service_t *app = req->app;
    config_t *cfg = service_config(app);
    vg_json_t j;
    vg_json_init(&j, &resp->body);
    char ts[VG_RFC3339_MAX];
    vg_json_obj_open(&j);
    vg_json_key(&j, "status"), vg_json_str(&j, "success");
    vg_json_key(&j, "data");
    vg_json_obj_open(&j);
    vg_json_key(&j, "version"), vg_json_str(&j, VIGIL_VERSION);
    vg_json_key(&j, "revision"), vg_json_str(&j, VIGIL_REVISION);
    vg_rfc3339_format((int64_t)(app->start_time * 1000), ts);
    vg_json_key(&j, "start_time"), vg_json_str(&j, ts);
    uptime_fields(&j, app);
    vg_json_key(&j, "ready"), vg_json_bool(&j, atomic_load(&app->ready));
    vg_json_key(&j, "config");
    vg_json_obj_open(&j);
    vg_json_key(&j, "file"), vg_json_str(&j, cfg->file);
    vg_json_key(&j, "hash"), vg_json_str(&j, cfg->hash);
    vg_json_key(&j, "last_reload_successful"), vg_json_bool(&j, atomic_load(&app->last_reload_ok));
    vg_rfc3339_format(atomic_load(&app->last_reload_ms), ts);
    vg_json_key(&j, "last_reload_success_time"), vg_json_str(&j, ts);
    vg_json_obj_close(&j);
    vg_json_key(&j, "components");
    vg_json_obj_open(&j);
    selfmon_health_each(component_json, &j);
    vg_json_obj_close(&j);
    vg_json_obj_close(&j);
    vg_json_obj_close(&j);
    config_unref(cfg);
    return 0;
}

int api_health_component(http_req_t *req, http_resp_t *resp) {
    const char *name = http_req_path_param(req, "component");
    selfmon_status_t st;
    char msg[256];
    if (!name || !selfmon_health_get(name, &st, msg, sizeof msg))
        return vg_error_set(&req->err, VG_ENOTFOUND, "unknown component \"%.64s\"", name ? name : "");
    resp->status = st == SELFMON_UP || st == SELFMON_DEGRADED ? 200 : 503;
    vg_json_t j;
    vg_json_init(&j, &resp->body);
    vg_json_obj_open(&j);
    vg_json_key(&j, "component"), vg_json_str(&j, name);
    vg_json_key(&j, "status"), vg_json_str(&j, selfmon_status_name(st));
    vg_json_key(&j, "message"), vg_json_str(&j, msg);
    vg_json_obj_close(&j);
    return 0;
}

int api_metrics(http_req_t *req, http_resp_t *resp) {
    const char *accept = http_req_header(req, "Accept");
    bool om = accept && strstr(accept, "application/openmetrics-text");
    resp->content_type = om ? SELFMON_CT_OPENMETRICS : SELFMON_CT_TEXT;
    selfmon_write(selfmon_default(), &resp->body, om);
    return 0;
}
