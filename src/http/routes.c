/* The static route table: every endpoint of vigil, its methods, its flags (checked once in server.c:
 * auth needed, admin only, tenant-aware, quiet logging), its rate-limit class and its handler label.
 * A path that matches no pattern is a 404; one that matches with another method is a 405 with Allow.
 * First match wins, so fixed paths go before patterns that overlap them. */
#include "api.h"

#define G HTTP_GET
#define P HTTP_POST
#define Q HTTP_F_QUIET
#define A HTTP_F_AUTH
#define T (HTTP_F_AUTH | HTTP_F_TENANT)
#define ADM HTTP_F_ADMIN
#define F HTTP_F_FORM

const http_route_t http_routes[] = {
    {"/-/healthy", "probe", G, Q, "/-/healthy", api_healthy},
    {"/-/ready", "probe", G, Q, "/-/ready", api_ready},
    {"/-/reload", "admin", P | HTTP_PUT, ADM, "/-/reload", api_reload},
    {"/metrics", "probe", G, Q, "/metrics", api_metrics},
    {"/api/v1/health", "probe", G, Q, "/api/v1/health", api_health},
    {"/api/v1/health/{component}", "probe", G, Q, "/api/v1/health/{component}", api_health_component},
    {"/api/v1/alive", "probe", G, Q, "/api/v1/alive", api_alive},
    {"/api/v1/ready", "probe", G, Q, "/api/v1/ready", api_ready_json},
    {"/api/v1/status", "probe", G, 0, "/api/v1/status", api_status},
    {"/api/v1/query", "query", G | P, T | F, "/api/v1/query", api_query},
    {"/api/v1/query_range", "query", G | P, T | F, "/api/v1/query_range", api_query_range},
    {"/api/v1/metrics/query", "query", P, T, "/api/v1/metrics/query", api_metrics_query},
    {"/api/v1/metrics/query_range", "query", P, T, "/api/v1/metrics/query_range", api_metrics_query_range},
    {"/api/v1/targets", "meta", G, T, "/api/v1/targets", api_targets},
    {"/api/v1/targets/metadata", "meta", G, T, "/api/v1/targets/metadata", api_targets_metadata},
    {"/api/v1/write", "write", P, T, "/api/v1/write", api_write},
    {"/api/v1/series", "meta", G | P, T | F, "/api/v1/series", api_series},
    {"/api/v1/labels", "meta", G | P, T | F, "/api/v1/labels", api_labels},
    {"/api/v1/label/{name}/values", "meta", G, T, "/api/v1/label/{name}/values", api_label_values},
    {"/api/v1/metadata", "meta", G, T, "/api/v1/metadata", api_metadata},
    {"/api/v1/query_exemplars", "query", G | P, T | F, "/api/v1/query_exemplars", api_query_exemplars},
    {"/api/v1/status/buildinfo", "probe", G, 0, "/api/v1/status/buildinfo", api_buildinfo},
    {"/api/v1/status/runtimeinfo", "admin", G, ADM, "/api/v1/status/runtimeinfo", api_runtimeinfo},
    {"/api/v1/status/flags", "admin", G, ADM, "/api/v1/status/flags", api_flags},
    {"/api/v1/status/config", "admin", G, ADM, "/api/v1/status/config", api_config},
    {"/api/v1/status/tsdb", "meta", G, T, "/api/v1/status/tsdb", api_tsdb_status},
    {"/api/v1/metrics/health", "probe", G, T, "/api/v1/metrics/health", api_metrics_health},
    {"/api/v1/tenants/self", "meta", G, T, "/api/v1/tenants/self", api_tenants_self},
    {"/api/v1/metrics/grafana-token", "grafana", P, T, "/api/v1/metrics/grafana-token", api_grafana_token},
    {"/api/v1/metrics/grafana-tokens", "grafana", G, T, "/api/v1/metrics/grafana-tokens", api_grafana_tokens},
    {"/api/v1/metrics/grafana-tokens/{id}", "grafana", HTTP_DELETE, T, "/api/v1/metrics/grafana-tokens/{id}",
     api_grafana_token_revoke},
    {"/api/v1/grafana/dashboards", "grafana", G | P, T, "/api/v1/grafana/dashboards", api_grafana_dashboards},
    {"/api/v1/grafana/dashboards/{uid}/public", "grafana", G | P, T, "/api/v1/grafana/dashboards/{uid}/public",
     api_grafana_public},
    {"/api/v1/grafana/dashboards/{uid}", "grafana", G | HTTP_PUT | HTTP_DELETE, T, "/api/v1/grafana/dashboards/{uid}",
     api_grafana_dashboard},
    {"/api/v1/grafana/templates", "grafana", G, T, "/api/v1/grafana/templates", api_grafana_templates},
    {"/api/v1/grafana/datasources", "grafana", P, T, "/api/v1/grafana/datasources", api_grafana_datasources},
    {"/api/v1/grafana/alerts", "grafana", P, T, "/api/v1/grafana/alerts", api_grafana_alerts},
    {"/api/v1/grafana/health", "grafana", G, T, "/api/v1/grafana/health", api_grafana_health},
};

const size_t http_n_routes = sizeof http_routes / sizeof http_routes[0];
