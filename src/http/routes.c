/* The static route table: every endpoint of vigil, its methods, its flags (checked once in server.c)
 * and its handler label. A path that matches no pattern is a 404; one that matches with another
 * method is a 405 with Allow. First match wins, so fixed paths go before patterns that overlap them. */
#include "api.h"

#define G HTTP_GET
#define P HTTP_POST
#define Q HTTP_F_QUIET

const http_route_t http_routes[] = {
    {"/-/healthy", G, Q, "/-/healthy", api_healthy},
    {"/-/ready", G, Q, "/-/ready", api_ready},
    {"/-/reload", P | HTTP_PUT, HTTP_F_ADMIN, "/-/reload", api_reload},
    {"/metrics", G, Q, "/metrics", api_metrics},
    {"/api/v1/health", G, Q, "/api/v1/health", api_health},
    {"/api/v1/health/{component}", G, Q, "/api/v1/health/{component}", api_health_component},
    {"/api/v1/alive", G, Q, "/api/v1/alive", api_alive},
    {"/api/v1/ready", G, Q, "/api/v1/ready", api_ready_json},
    {"/api/v1/status", G, 0, "/api/v1/status", api_status},
    {"/api/v1/targets", G, HTTP_F_AUTH, "/api/v1/targets", api_targets},
    {"/api/v1/write", P, HTTP_F_AUTH, "/api/v1/write", api_write},
    {"/api/v1/series", G | P, HTTP_F_AUTH, "/api/v1/series", api_series},
    {"/api/v1/labels", G | P, HTTP_F_AUTH, "/api/v1/labels", api_labels},
    {"/api/v1/label/{name}/values", G, HTTP_F_AUTH, "/api/v1/label/{name}/values", api_label_values},
    {"/api/v1/metadata", G, HTTP_F_AUTH, "/api/v1/metadata", api_metadata},
    {"/api/v1/query_exemplars", G | P, HTTP_F_AUTH, "/api/v1/query_exemplars", api_query_exemplars},
    {"/api/v1/status/buildinfo", G, 0, "/api/v1/status/buildinfo", api_buildinfo},
    {"/api/v1/status/runtimeinfo", G, HTTP_F_ADMIN, "/api/v1/status/runtimeinfo", api_runtimeinfo},
    {"/api/v1/status/flags", G, HTTP_F_ADMIN, "/api/v1/status/flags", api_flags},
    {"/api/v1/status/config", G, HTTP_F_ADMIN, "/api/v1/status/config", api_config},
    {"/api/v1/status/tsdb", G, HTTP_F_AUTH, "/api/v1/status/tsdb", api_tsdb_status},
};

const size_t http_n_routes = sizeof http_routes / sizeof http_routes[0];
