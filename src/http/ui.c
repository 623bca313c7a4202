/* The web root: until vigil ships a console, `/` answers a short static HTML page that names the API
 * endpoints and where the documentation lives, so a first visit in a browser lands somewhere useful
 * instead of on a 404. Nothing on it depends on the request or on server state. */
#include "api.h"

#include "vigil_build.h"

static const char page[] =
    "<!DOCTYPE html>\n"
    "<html lang=\"en\"><head><meta charset=\"utf-8\"><title>vigil</title></head>\n"
    "<body>\n"
    "<h1>vigil " VIGIL_VERSION "</h1>\n"
    "<p>A multi-tenant, Prometheus-compatible monitoring server. There is no web console yet; point Grafana "
    "(a Prometheus datasource at this address) or any Prometheus API client here.</p>\n"
    "<h2>API</h2>\n"
    "<ul>\n"
    "<li><a href=\"api/v1/query?query=up\">/api/v1/query</a>, /api/v1/query_range: PromQL</li>\n"
    "<li><a href=\"api/v1/series?match[]=up\">/api/v1/series</a>, <a href=\"api/v1/labels\">/api/v1/labels</a>, "
    "/api/v1/label/&lt;name&gt;/values, <a href=\"api/v1/metadata\">/api/v1/metadata</a></li>\n"
    "<li><a href=\"api/v1/targets\">/api/v1/targets</a>: scrape targets and their health</li>\n"
    "<li>/api/v1/write: Prometheus remote_write receiver</li>\n"
    "<li><a href=\"api/v1/status/buildinfo\">/api/v1/status/buildinfo</a>, "
    "<a href=\"api/v1/status/tsdb\">/api/v1/status/tsdb</a>, <a href=\"api/v1/status\">/api/v1/status</a></li>\n"
    "</ul>\n"
    "<h2>Operations</h2>\n"
    "<ul>\n"
    "<li><a href=\"metrics\">/metrics</a>: vigil's own metrics</li>\n"
    "<li><a href=\"-/healthy\">/-/healthy</a>, <a href=\"-/ready\">/-/ready</a>, "
    "<a href=\"api/v1/health\">/api/v1/health</a>; POST /-/reload re-reads the configuration</li>\n"
    "</ul>\n"
    "<h2>Documentation</h2>\n"
    "<p>README.md and docs/ in vigil's source tree: docs/api.md (every endpoint), docs/configuration.md "
    "(every key), docs/tenancy.md (authentication and isolation).</p>\n"
    "</body></html>\n";

int api_index(http_req_t *req, http_resp_t *resp) {
    (void)req;
    http_resp_text(resp, 200, page);
    resp->content_type = "text/html; charset=utf-8";
    return 0;
}
