/* The cluster and node overview (docs/api.md, "Clusters"): /api/v1/clusters, a cluster's metrics over a
 * preset range, its nodes' figures, and its public Grafana dashboard. Parameters in → one service call
 * (service/clusters.c) → JSON out. Figures without a value are null; a cluster the caller has no nodes
 * in is 404, whoever else has it. */
#include "api.h"

#include "grafana/grafana.h"
#include "util/json.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void num(vg_json_t *j, const char *key, double v) {
    vg_json_key(j, key);
    if (isfinite(v)) vg_json_f64(j, v);
    else vg_json_null(j);
}

static void state(vg_json_t *j, const char *key, service_state_t s) {
    vg_json_key(j, key);
    const char *n = service_state_name(s);
    if (n) vg_json_str(j, n);
    else vg_json_null(j);
}

static const char *param_or(http_req_t *req, const char *name, const char *dflt) {
    const char *v = http_req_param(req, name);
    return v && *v ? v : dflt;
}

int api_clusters(http_req_t *req, http_resp_t *resp) {
    service_cluster_t *cl;
    size_t n;
    int rc = service_clusters(req->ctx, req->arena, &cl, &n, &req->err);
    if (rc) return rc;
    vg_json_t j;
    http_json_success(&j, resp);
    vg_json_obj_open(&j);
    vg_json_key(&j, "label");
    vg_json_str(&j, req->ctx->cfg->clusters.label);
    vg_json_key(&j, "clusters");
    vg_json_arr_open(&j);
    for (size_t i = 0; i < n; i++) {
        vg_json_obj_open(&j);
        vg_json_key(&j, "name");
        vg_json_str(&j, cl[i].name);
        vg_json_key(&j, "nodes");
        vg_json_u64(&j, cl[i].n_nodes);
        vg_json_key(&j, "nodes_ready");
        vg_json_u64(&j, cl[i].n_ready);
        state(&j, "status", cl[i].status);
        vg_json_obj_close(&j);
    }
    vg_json_arr_close(&j);
    vg_json_obj_close(&j);
    vg_json_obj_close(&j);
    return 0;
}

int api_cluster_node_metrics(http_req_t *req, http_resp_t *resp) {
    const char *cluster = http_req_path_param(req, "cluster");
    service_node_t *nodes;
    size_t n;
    int rc = service_cluster_nodes(req->ctx, cluster, req->arena, &nodes, &n, &req->err);
    if (rc) return rc;
    vg_json_t j;
    http_json_success(&j, resp);
    vg_json_obj_open(&j);
    vg_json_key(&j, "cluster");
    vg_json_str(&j, cluster);
    vg_json_key(&j, "nodes");
    vg_json_arr_open(&j);
    for (size_t i = 0; i < n; i++) {
        const service_node_t *x = &nodes[i];
        vg_json_obj_open(&j);
        vg_json_key(&j, "name"), vg_json_str(&j, x->name);
        vg_json_key(&j, "instance"), vg_json_str(&j, x->instance);
        vg_json_key(&j, "ip"), vg_json_str(&j, x->ip);
        vg_json_key(&j, "status");
        vg_json_str(&j, x->ready == 1 ? "Ready" : x->ready == 0 ? "NotReady" : "Unknown");
        vg_json_key(&j, "status_source");
        if (x->ready_source) vg_json_str(&j, x->ready_source);
        else vg_json_null(&j);
        vg_json_key(&j, "cpu");
        vg_json_obj_open(&j);
        num(&j, "percent", x->cpu_percent);
        state(&j, "state", x->cpu_state);
        vg_json_obj_close(&j);
        vg_json_key(&j, "memory");
        vg_json_obj_open(&j);
        num(&j, "used_bytes", x->memory_used);
        num(&j, "total_bytes", x->memory_total);
        num(&j, "percent", x->memory_percent);
        state(&j, "state", x->memory_state);
        vg_json_obj_close(&j);
        vg_json_key(&j, "disk");
        vg_json_obj_open(&j);
        num(&j, "used_bytes", x->disk_used);
        num(&j, "total_bytes", x->disk_total);
        num(&j, "percent", x->disk_percent);
        state(&j, "state", x->disk_state);
        vg_json_obj_close(&j);
        vg_json_key(&j, "network");
        vg_json_obj_open(&j);
        num(&j, "receive_bits_per_second", x->net_receive_bps);
        num(&j, "transmit_bits_per_second", x->net_transmit_bps);
        vg_json_obj_close(&j);
        num(&j, "running_pods", x->running_pods);
        vg_json_obj_close(&j);
    }
    vg_json_arr_close(&j);
    vg_json_obj_close(&j);
    vg_json_obj_close(&j);
    return 0;
}

int api_cluster_metrics(http_req_t *req, http_resp_t *resp) {
    const char *cluster = http_req_path_param(req, "cluster");
    service_cluster_metrics_t m;
    int rc = service_cluster_metrics(req->ctx, cluster, param_or(req, "time_range", "10min"),
                                     param_or(req, "metric_type", "all"), req->arena, &m, &req->err);
    if (rc) return rc;
    vg_json_t j;
    http_json_success(&j, resp);
    vg_json_obj_open(&j);
    vg_json_key(&j, "cluster"), vg_json_str(&j, cluster);
    vg_json_key(&j, "time_range"), vg_json_str(&j, m.range.name);
    vg_json_key(&j, "start"), vg_json_ts_ms(&j, m.range.start);
    vg_json_key(&j, "end"), vg_json_ts_ms(&j, m.range.end);
    vg_json_key(&j, "step"), vg_json_ts_ms(&j, m.range.step);
    vg_json_key(&j, "metrics");
    vg_json_obj_open(&j);
    for (size_t i = 0; i < m.n; i++) {
        const service_cluster_metric_t *x = &m.v[i];
        vg_json_key(&j, x->name);
        vg_json_obj_open(&j);
        vg_json_key(&j, "unit"), vg_json_str(&j, x->unit);
        num(&j, "current", x->current);
        if (!strcmp(x->unit, "percent")) state(&j, "state", x->state);
        num(&j, "average", x->average);
        num(&j, "previous_average", x->previous_average);
        num(&j, "change", x->change);
        num(&j, "change_percent", x->change_percent);
        vg_json_key(&j, "values");
        vg_json_arr_open(&j);
        for (size_t k = 0; k < x->n_points; k++) {
            vg_json_arr_open(&j);
            vg_json_ts_ms(&j, x->points[k].t);
            if (isfinite(x->points[k].v)) vg_json_f64(&j, x->points[k].v);
            else vg_json_null(&j);
            vg_json_arr_close(&j);
        }
        vg_json_arr_close(&j);
        vg_json_obj_close(&j);
    }
    vg_json_obj_close(&j);
    vg_json_obj_close(&j);
    vg_json_obj_close(&j);
    return 0;
}

/* The dashboard uid of a cluster: <template uid>-<cluster>, characters Grafana refuses in a uid
 * replaced by '_', at most 40 bytes. */
static int dashboard_uid(http_req_t *req, const char *tmpl, const char *cluster, char out[41]) {
    char *list = NULL;
    const char *uid = NULL;
    if (grafana_template_list(req->app->grafana, &list)) return vg_error_set(&req->err, VG_ENOMEM, "cannot list templates");
    json_t *arr = json_loads(list, 0, NULL);
    free(list);
    for (size_t i = 0; json_is_array(arr) && i < json_array_size(arr) && !uid; i++) {
        json_t *t = json_array_get(arr, i);
        if (!strcmp(json_string_value(json_object_get(t, "name")) ? json_string_value(json_object_get(t, "name")) : "", tmpl))
            uid = json_string_value(json_object_get(t, "uid"));
    }
    if (!uid) {
        json_decref(arr);
        return vg_error_set(&req->err, VG_ENOTFOUND, "no Grafana dashboard template named \"%s\" (clusters.grafana_template)",
                            tmpl);
    }
    snprintf(out, 41, "%s-%s", uid, cluster);
    json_decref(arr);
    for (char *p = out; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
            *p = '_';
    return 0;
}

int api_cluster_grafana_dashboard(http_req_t *req, http_resp_t *resp) {
    const char *cluster = http_req_path_param(req, "cluster"), *tenant = NULL;
    int rc = service_cluster_check(req->ctx, cluster, req->arena, &req->err);
    if (rc) return rc;
    if (!req->app->grafana)
        return vg_error_set(&req->err, VG_ENOTFOUND,
                            "no Grafana dashboard: the Grafana integration is not configured (grafana.url)");
    if ((rc = api_grafana_tenant(req, &tenant))) return rc;
    char uid[41];
    if ((rc = dashboard_uid(req, req->ctx->cfg->clusters.grafana_template, cluster, uid))) return rc;
    grafana_client_t *g = req->app->grafana;
    grafana_err_t ge;
    char *out = NULL;
    bool created = false;
    rc = grafana_dashboard_public_get(g, tenant, uid, &out, &ge);
    if (rc == VG_ENOTFOUND) { /* not public yet, or not there at all: create it on first request */
        rc = grafana_dashboard_get(g, tenant, uid, &out, &ge);
        free(out);
        out = NULL;
        if (rc == VG_ENOTFOUND) {
            if ((rc = api_grafana_provision(req, tenant))) return rc;
            grafana_var_t var = {"cluster", cluster};
            grafana_dashboard_opts_t o = {.template_name = req->ctx->cfg->clusters.grafana_template, .uid = uid,
                                          .vars = &var, .n_vars = 1};
            rc = grafana_dashboard_create(g, tenant, &o, &out, &ge);
            free(out);
            out = NULL;
            if (rc == VG_EEXIST) rc = 0; /* created meanwhile by a concurrent request */
            created = !rc;
        }
        if (!rc) rc = grafana_dashboard_publish(g, tenant, uid, &out, &ge);
    }
    if (rc) return api_grafana_fail(req, rc, &ge);
    json_t *pub = json_loads(out, 0, NULL);
    free(out);
    const char *url = json_string_value(json_object_get(pub, "url"));
    vg_json_t j;
    http_json_success(&j, resp);
    vg_json_obj_open(&j);
    vg_json_key(&j, "cluster"), vg_json_str(&j, cluster);
    vg_json_key(&j, "dashboard_uid"), vg_json_str(&j, uid);
    vg_json_key(&j, "url");
    if (url) vg_json_str(&j, url);
    else vg_json_null(&j);
    vg_json_key(&j, "created"), vg_json_bool(&j, created);
    vg_json_obj_close(&j);
    vg_json_obj_close(&j);
    json_decref(pub);
    return 0;
}
