/* The static route table: every endpoint of vigil, its methods, its flags (checked once in server.c:
 * auth needed, admin only, tenant-aware, quiet logging) and its rate-limit class; the pattern is also the
 * `handler` label of the vigil_http_* metrics.
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
    {"/", "ui", G, Q, api_index},
    /* the console's own paths (client-side views of one page; /graph is Prometheus' classic link) */
    {"/graph", "ui", G, Q, api_index},
    {"/targets", "ui", G, Q, api_index},
    {"/rules", "ui", G, Q, api_index},
    {"/alerts", "ui", G, Q, api_index},
    {"/status", "ui", G, Q, api_index},
    {"/tenant", "ui", G, Q, api_index},
    {"/assets/{file}", "ui", G, Q, api_ui_asset},
    {"/-/healthy", "probe", G, Q, api_healthy},
    {"/-/ready", "probe", G, Q, api_ready},
    {"/-/reload", "admin", P | HTTP_PUT, ADM, api_reload},
    {"/metrics", "probe", G, Q, api_metrics},
    {"/api/v1/metrics/prometheus", "probe", G, Q, api_metrics}, /* the same self-metrics, under the API prefix */
    {"/api/v1/health", "probe", G, Q, api_health},
    {"/api/v1/health/{component}", "probe", G, Q, api_health_component},
    {"/api/v1/alive", "probe", G, Q, api_alive},
    {"/api/v1/ready", "probe", G, Q, api_ready_json},
    {"/api/v1/status", "probe", G, 0, api_status},
    {"/api/v1/query", "query", G | P, T | F, api_query},
    {"/api/v1/query_range", "query", G | P, T | F, api_query_range},
    {"/api/v1/format_query", "query", G | P, T | F, api_format_query},
    {"/api/v1/metrics/query", "query", P, T, api_metrics_query},
    {"/api/v1/metrics/query_range", "query", P, T, api_metrics_query_range},
    {"/api/v1/targets", "meta", G, T, api_targets},
    {"/api/v1/targets/metadata", "meta", G, T, api_targets_metadata},
    {"/api/v1/write", "write", P, T, api_write},
    {"/api/v1/otlp/v1/metrics", "write", P, T, api_otlp_metrics},
    {"/api/v1/read", "query", P, T, api_read},
    {"/federate", "meta", G, T, api_federate},
    {"/api/v1/series", "meta", G | P, T | F, api_series},
    {"/api/v1/labels", "meta", G | P, T | F, api_labels},
    {"/api/v1/label/{name}/values", "meta", G, T, api_label_values},
    {"/api/v1/metadata", "meta", G, T, api_metadata},
    {"/api/v1/rules", "meta", G, T, api_rules},
    {"/api/v1/alerts", "meta", G, T, api_alerts},
    /* the ruler configuration API, as Mimir serves it (and under its /prometheus prefix) */
    {"/config/v1/rules", "ruler", G, T, api_ruler_list},
    {"/config/v1/rules/{namespace}", "ruler", G | P | HTTP_DELETE, T, api_ruler_namespace},
    {"/config/v1/rules/{namespace}/{group}", "ruler", G | HTTP_DELETE, T, api_ruler_group},
    {"/prometheus/config/v1/rules", "ruler", G, T, api_ruler_list},
    {"/prometheus/config/v1/rules/{namespace}", "ruler", G | P | HTTP_DELETE, T, api_ruler_namespace},
    {"/prometheus/config/v1/rules/{namespace}/{group}", "ruler", G | HTTP_DELETE, T, api_ruler_group},
    {"/api/v1/query_exemplars", "query", G | P, T | F, api_query_exemplars},
    {"/api/v1/status/buildinfo", "probe", G, 0, api_buildinfo},
    {"/api/v1/status/runtimeinfo", "admin", G, ADM, api_runtimeinfo},
    {"/api/v1/status/flags", "admin", G, ADM, api_flags},
    {"/api/v1/status/config", "admin", G, ADM, api_config},
    {"/api/v1/status/tsdb", "meta", G, T, api_tsdb_status},
    {"/api/v1/status/walreplay", "meta", G, T, api_walreplay},
    {"/api/v1/alertmanagers", "admin", G, ADM, api_alertmanagers},
    {"/api/v1/admin/tsdb/snapshot", "admin", P | HTTP_PUT, ADM | F, api_admin_snapshot},
    {"/api/v1/admin/tsdb/delete_series", "admin", P | HTTP_PUT, ADM | F, api_admin_delete_series},
    {"/api/v1/admin/tsdb/clean_tombstones", "admin", P | HTTP_PUT, ADM, api_admin_clean_tombstones},
    {"/api/v1/metrics/health", "probe", G, T, api_metrics_health},
    {"/api/v1/tenants/self", "meta", G, T, api_tenants_self},
    {"/api/v1/tenants/self/api-keys", "apikeys", G | P, T, api_tenant_apikeys},
    {"/api/v1/tenants/self/api-keys/{id}", "apikeys", HTTP_DELETE, T, api_tenant_apikey},
    {"/api/v1/metrics/grafana-token", "grafana", P, T, api_grafana_token},
    {"/api/v1/metrics/grafana-credential/rotate", "grafana", P, T, api_grafana_credential_rotate},
    {"/api/v1/metrics/grafana-tokens", "grafana", G, T, api_grafana_tokens},
    {"/api/v1/metrics/grafana-tokens/{id}", "grafana", HTTP_DELETE, T, api_grafana_token_revoke},
    {"/api/v1/grafana/dashboards", "grafana", G | P, T, api_grafana_dashboards},
    {"/api/v1/grafana/dashboards/{uid}/public", "grafana", G | P, T, api_grafana_public},
    {"/api/v1/grafana/dashboards/{uid}", "grafana", G | HTTP_PUT | HTTP_DELETE, T, api_grafana_dashboard},
    {"/api/v1/grafana/templates", "grafana", G, T, api_grafana_templates},
    {"/api/v1/grafana/datasources", "grafana", G | P, T, api_grafana_datasources},
    {"/api/v1/grafana/datasources/{uid}", "grafana", G | HTTP_DELETE, T, api_grafana_datasource},
    {"/api/v1/grafana/alerts", "grafana", G | P, T, api_grafana_alerts},
    {"/api/v1/grafana/alerts/{uid}", "grafana", G | HTTP_DELETE, T, api_grafana_alert},
    {"/api/v1/grafana/health", "grafana", G, T, api_grafana_health},
    {"/api/v1/clusters", "query", G, T, api_clusters},
    {"/api/v1/clusters/{cluster}/metrics", "query", G, T, api_cluster_metrics},
    {"/api/v1/clusters/{cluster}/node-metrics", "query", G, T, api_cluster_node_metrics},
    {"/api/v1/clusters/{cluster}/grafana-dashboard", "grafana", G, T, api_cluster_grafana_dashboard},
};

const size_t http_n_routes = sizeof http_routes / sizeof http_routes[0];
