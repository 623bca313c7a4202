/* Handlers of the route table, one family per api_*.c file (http-internal header). */
#ifndef VG_HTTP_API_H
#define VG_HTTP_API_H

#include "http.h"

/* api_status.c: probes, health, status, /metrics */
int api_healthy(http_req_t *req, http_resp_t *resp);
int api_ready(http_req_t *req, http_resp_t *resp);
int api_reload(http_req_t *req, http_resp_t *resp);
int api_health(http_req_t *req, http_resp_t *resp);
int api_alive(http_req_t *req, http_resp_t *resp);
int api_ready_json(http_req_t *req, http_resp_t *resp);
int api_status(http_req_t *req, http_resp_t *resp);
int api_health_component(http_req_t *req, http_resp_t *resp);
int api_metrics(http_req_t *req, http_resp_t *resp);

/* ui.c: the web console (its page at / and the console's paths, its embedded assets) */
int api_index(http_req_t *req, http_resp_t *resp);
int api_ui_asset(http_req_t *req, http_resp_t *resp);

/* api_meta.c: targets, metadata */
int api_targets(http_req_t *req, http_resp_t *resp);
int api_metadata(http_req_t *req, http_resp_t *resp);
int api_targets_metadata(http_req_t *req, http_resp_t *resp);
int api_query_exemplars(http_req_t *req, http_resp_t *resp);
int api_buildinfo(http_req_t *req, http_resp_t *resp);
int api_runtimeinfo(http_req_t *req, http_resp_t *resp);
int api_flags(http_req_t *req, http_resp_t *resp);
int api_config(http_req_t *req, http_resp_t *resp);
int api_tsdb_status(http_req_t *req, http_resp_t *resp);
int api_walreplay(http_req_t *req, http_resp_t *resp);

/* api_admin.c */
int api_admin_snapshot(http_req_t *req, http_resp_t *resp);
int api_admin_delete_series(http_req_t *req, http_resp_t *resp);
int api_admin_clean_tombstones(http_req_t *req, http_resp_t *resp);

/* api_alertmanagers.c */
int api_alertmanagers(http_req_t *req, http_resp_t *resp);

/* api_write.c: remote_write receiver */
int api_write(http_req_t *req, http_resp_t *resp);

/* api_otlp.c: OTLP/HTTP metrics receiver */
int api_otlp_metrics(http_req_t *req, http_resp_t *resp);
/* api_read.c: remote read */
int api_read(http_req_t *req, http_resp_t *resp);

/* api_series.c: series, label names and values */
int api_series(http_req_t *req, http_resp_t *resp);
int api_federate(http_req_t *req, http_resp_t *resp);
int api_labels(http_req_t *req, http_resp_t *resp);
int api_label_values(http_req_t *req, http_resp_t *resp);

/* api_query.c: PromQL */
int api_query(http_req_t *req, http_resp_t *resp);
int api_query_range(http_req_t *req, http_resp_t *resp);
int api_metrics_query(http_req_t *req, http_resp_t *resp);
int api_metrics_query_range(http_req_t *req, http_resp_t *resp);
int api_format_query(http_req_t *req, http_resp_t *resp);

/* api_rules.c: rules and alerts */
int api_rules(http_req_t *req, http_resp_t *resp);
int api_alerts(http_req_t *req, http_resp_t *resp);

/* api_ruler.c: the ruler configuration API (Mimir's /config/v1/rules) */
int api_ruler_list(http_req_t *req, http_resp_t *resp);
int api_ruler_namespace(http_req_t *req, http_resp_t *resp);
int api_ruler_group(http_req_t *req, http_resp_t *resp);

/* api_tenant.c */
int api_tenants_self(http_req_t *req, http_resp_t *resp);
int api_tenant_apikeys(http_req_t *req, http_resp_t *resp); /* GET list, POST create */
int api_tenant_apikey(http_req_t *req, http_resp_t *resp);  /* DELETE one */

/* api_grafana.c: Grafana tokens, dashboards, datasources, alerts, health; tenant metrics health */
int api_grafana_token(http_req_t *req, http_resp_t *resp);
int api_grafana_credential_rotate(http_req_t *req, http_resp_t *resp);
int api_grafana_tokens(http_req_t *req, http_resp_t *resp);
int api_grafana_token_revoke(http_req_t *req, http_resp_t *resp);
int api_grafana_dashboards(http_req_t *req, http_resp_t *resp);
int api_grafana_dashboard(http_req_t *req, http_resp_t *resp);
int api_grafana_public(http_req_t *req, http_resp_t *resp);
int api_grafana_templates(http_req_t *req, http_resp_t *resp);
int api_grafana_datasources(http_req_t *req, http_resp_t *resp);
int api_grafana_alerts(http_req_t *req, http_resp_t *resp);
int api_grafana_datasource(http_req_t *req, http_resp_t *resp);
int api_grafana_alert(http_req_t *req, http_resp_t *resp);
int api_grafana_health(http_req_t *req, http_resp_t *resp);
int api_metrics_health(http_req_t *req, http_resp_t *resp);
/* For other handlers acting in a tenant's Grafana organisation: the tenant a request acts for (its own,
 * or ?tenant= for an admin), a Grafana failure carried into req->err, and provisioning the tenant's
 * organisation (idempotent; the datasource key kept while valid). */
struct grafana_err;
int api_grafana_tenant(http_req_t *req, const char **out);
int api_grafana_fail(http_req_t *req, int rc, const struct grafana_err *ge);
int api_grafana_provision(http_req_t *req, const char *tenant);

/* api_clusters.c: the cluster and node overview */
int api_clusters(http_req_t *req, http_resp_t *resp);
int api_cluster_metrics(http_req_t *req, http_resp_t *resp);
int api_cluster_node_metrics(http_req_t *req, http_resp_t *resp);
int api_cluster_grafana_dashboard(http_req_t *req, http_resp_t *resp);

#endif
