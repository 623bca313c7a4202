/* Metadata endpoints of the Prometheus API: what vigil scrapes (/api/v1/targets, /api/v1/metadata),
 * exemplars (none kept), and the /api/v1/status family (buildinfo, runtimeinfo, flags, config, tsdb). */
#include "api.h"

#include "auth.h"
#include "params.h"

#include "ingest/scrape/scrape.h"
#include "promql/promql.h"
#include "util/json.h"
#include "util/log.h"
#include "util/timeutil.h"

#include "vigil_build.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The targets a scoped caller may see (NULL: all). */
static const ingest_target_filter_t *tenant_filter(const http_req_t *req, ingest_target_filter_t *f) {
    const service_ctx_t *ctx = req->ctx;
    if (!ctx->scoped) return NULL;
    *f = (ingest_target_filter_t){ctx->matcher.label, (const char *const *)ctx->matcher.values, ctx->matcher.n_values};
    return f;
}

/* Prometheus' `limit` parameter (absent: -1, no limit). */
static int limit_param(http_req_t *req, long *out) {
    *out = -1;
    const char *ls = http_req_param(req, "limit");
    if (!ls || !*ls) return 0;
    char *end;
    *out = strtol(ls, &end, 10);
    return *end ? vg_error_set(&req->err, VG_EINVAL, "limit must be a number") : 0;
}

int api_targets(http_req_t *req, http_resp_t *resp) {
    const char *state = http_req_param(req, "state"); /* an unknown state selects nothing, as in Prometheus */
    vg_json_t j;
    vg_json_init(&j, &resp->body);
    vg_json_obj_open(&j);
    vg_json_key(&j, "status"), vg_json_str(&j, "success");
    vg_json_key(&j, "data");
    ingest_target_filter_t f;
    if (req->app->scraper) {
        ingest_scraper_targets_json(req->app->scraper, &j, state, tenant_filter(req, &f));
    } else {
        vg_json_obj_open(&j);
        vg_json_key(&j, "activeTargets"), vg_json_arr_open(&j), vg_json_arr_close(&j);
        vg_json_key(&j, "droppedTargets"), vg_json_arr_open(&j), vg_json_arr_close(&j);
        vg_json_obj_close(&j);
    }
    vg_json_obj_close(&j);
    return 0;
}

int api_targets_metadata(http_req_t *req, http_resp_t *resp) {
    long limit;
    if (limit_param(req, &limit)) return req->err.code;
    model_matcher_t *ms[32];
    size_t n_ms = 0;
    const char *mt = http_req_param(req, "match_target");
    if (mt && *mt) {
        promql_node_t *sel;
        int rc = promql_parse_selector(mt, strlen(mt), NULL, req->arena, &sel, &req->err);
        if (rc) {
            char msg[VG_ERROR_MSG_MAX];
            snprintf(msg, sizeof msg, "%s", req->err.msg);
            return vg_error_set(&req->err, rc, "invalid parameter \"match_target\": %s", msg);
        }
        if ((rc = promql_selector_matchers(sel, ms, sizeof ms / sizeof ms[0], &n_ms, &req->err))) return rc;
    }
    ingest_target_filter_t f;
    vg_json_t j;
    vg_json_init(&j, &resp->body);
    vg_json_obj_open(&j);
    vg_json_key(&j, "status"), vg_json_str(&j, "success");
    vg_json_key(&j, "data");
    if (req->app->scraper)
        ingest_scraper_targets_metadata_json(req->app->scraper, &j, ms, n_ms, http_req_param(req, "metric"), limit,
                                             tenant_filter(req, &f));
    else vg_json_arr_open(&j), vg_json_arr_close(&j);
    vg_json_obj_close(&j);
    while (n_ms) model_matcher_free(ms[--n_ms]);
    return 0;
}

/* ---- /api/v1/metadata, /api/v1/query_exemplars ---- */

int api_metadata(http_req_t *req, http_resp_t *resp) {
    long limit;
    if (limit_param(req, &limit)) return req->err.code;
    promql_metadata_t *md;
    size_t n;
    int rc = service_metadata(req->ctx, http_req_param(req, "metric"), limit, req->arena, &md, &n, &req->err);
    if (rc) return rc;
    vg_json_t j;
    vg_json_init(&j, &resp->body);
    vg_json_obj_open(&j);
    vg_json_key(&j, "status"), vg_json_str(&j, "success");
    vg_json_key(&j, "data");
    vg_json_obj_open(&j);
    for (size_t i = 0; i < n; i++) {
        if (!i || strcmp(md[i - 1].metric, md[i].metric)) {
            if (i) vg_json_arr_close(&j);
            vg_json_key(&j, md[i].metric);
            vg_json_arr_open(&j);
        }
        vg_json_obj_open(&j);
        vg_json_key(&j, "type"), vg_json_str(&j, md[i].type);
        vg_json_key(&j, "help"), vg_json_str(&j, md[i].help);
        vg_json_key(&j, "unit"), vg_json_str(&j, md[i].unit);
        vg_json_obj_close(&j);
    }
    if (n) vg_json_arr_close(&j);
    vg_json_obj_close(&j);
    vg_json_obj_close(&j);
    return 0;
}

int api_query_exemplars(http_req_t *req, http_resp_t *resp) {
    /* vigil keeps no exemplars: validate like Prometheus (and, for a tenant, enforce like a query, so a
     * matcher on another namespace is refused here as everywhere), answer an empty list */
    int64_t t;
    int rc = api_time_param(req, "start", API_MIN_TIME_MS, &t);
    if (!rc) rc = api_time_param(req, "end", API_MAX_TIME_MS, &t);
    if (rc) return rc;
    const char *q = http_req_param(req, "query");
    if ((rc = service_query_check(req->ctx, q ? q : "", req->arena, &req->err))) return rc;
    vg_buf_puts(&resp->body, "{\"status\":\"success\",\"data\":[]}");
    return 0;
}

/* ---- /api/v1/status/... ---- */

static void status_open(vg_json_t *j, vg_buf_t *b) {
    vg_json_init(j, b);
    vg_json_obj_open(j);
    vg_json_key(j, "status"), vg_json_str(j, "success");
    vg_json_key(j, "data");
    vg_json_obj_open(j);
}

static void status_close(vg_json_t *j) {
    vg_json_obj_close(j);
    vg_json_obj_close(j);
}

int api_buildinfo(http_req_t *req, http_resp_t *resp) {
    (void)req;
    vg_json_t j;
    status_open(&j, &resp->body);
    vg_json_key(&j, "version"), vg_json_str(&j, VIGIL_VERSION);
    vg_json_key(&j, "revision"), vg_json_str(&j, VIGIL_REVISION);
    vg_json_key(&j, "branch"), vg_json_str(&j, "");
    vg_json_key(&j, "buildUser"), vg_json_str(&j, "");
    vg_json_key(&j, "buildDate"), vg_json_str(&j, "");
    vg_json_key(&j, "goVersion"), vg_json_str(&j, "");
    vg_json_key(&j, "application"), vg_json_str(&j, "vigil");
    status_close(&j);
    return 0;
}

int api_runtimeinfo(http_req_t *req, http_resp_t *resp) {
    service_t *app = req->app;
    config_t *c = service_config(app);
    char ts[VG_RFC3339_MAX], ret[VG_DURATION_MAX], cwd[1024];
    vg_json_t j;
    status_open(&j, &resp->body);
    vg_rfc3339_format((int64_t)(app->start_time * 1000), ts);
    vg_json_key(&j, "startTime"), vg_json_str(&j, ts);
    vg_json_key(&j, "CWD"), vg_json_str(&j, getcwd(cwd, sizeof cwd) ? cwd : "");
    vg_json_key(&j, "reloadConfigSuccess"), vg_json_bool(&j, atomic_load(&app->last_reload_ok));
    vg_rfc3339_format(atomic_load(&app->last_reload_ms), ts);
    vg_json_key(&j, "lastConfigTime"), vg_json_str(&j, ts);
    vg_json_key(&j, "corruptionCount"), vg_json_i64(&j, 0);
    vg_json_key(&j, "goroutineCount"), vg_json_i64(&j, 0);
    vg_json_key(&j, "GOMAXPROCS"), vg_json_i64(&j, sysconf(_SC_NPROCESSORS_ONLN));
    vg_json_key(&j, "GOGC"), vg_json_str(&j, "");
    vg_json_key(&j, "GODEBUG"), vg_json_str(&j, "");
    vg_duration_format(c->storage.retention_ms, ret);
    vg_json_key(&j, "storageRetention"), vg_json_str(&j, ret);
    status_close(&j);
    config_unref(c);
    return 0;
}

int api_flags(http_req_t *req, http_resp_t *resp) {
    config_t *c = service_config(req->app);
    char ret[VG_DURATION_MAX];
    vg_duration_format(c->storage.retention_ms, ret);
    vg_json_t j;
    status_open(&j, &resp->body);
    vg_json_key(&j, "config.file"), vg_json_str(&j, req->app->config_path ? req->app->config_path : "");
    vg_json_key(&j, "web.listen-address"), vg_json_str(&j, c->server.listen);
    vg_json_key(&j, "storage.tsdb.path"), vg_json_str(&j, c->storage.path);
    vg_json_key(&j, "storage.tsdb.retention.time"), vg_json_str(&j, ret);
    vg_json_key(&j, "log.level"), vg_json_str(&j, vg_log_level_name(c->log.level));
    vg_json_key(&j, "log.format"), vg_json_str(&j, c->log.format == VG_LOG_JSON ? "json" : "logfmt");
    status_close(&j);
    config_unref(c);
    return 0;
}

int api_config(http_req_t *req, http_resp_t *resp) {
    config_t *c = service_config(req->app);
    vg_buf_t y = VG_BUF_INIT;
    config_write_yaml(c, &y);
    config_unref(c);
    vg_json_t j;
    status_open(&j, &resp->body);
    vg_json_key(&j, "yaml"), vg_json_strn(&j, y.data ? y.data : "", y.len);
    status_close(&j);
    vg_buf_deinit(&y);
    return y.failed ? vg_error_set(&req->err, VG_ENOMEM, "out of memory") : 0;
}

static void top_json(vg_json_t *j, const char *key, const service_top_t *t) {
    vg_json_key(j, key);
    vg_json_arr_open(j);
    for (size_t i = 0; i < t->n; i++) {
        vg_json_obj_open(j);
        vg_json_key(j, "name"), vg_json_str(j, t->v[i].name);
        vg_json_key(j, "value"), vg_json_u64(j, t->v[i].count);
        vg_json_obj_close(j);
    }
    vg_json_arr_close(j);
}

int api_tsdb_status(http_req_t *req, http_resp_t *resp) {
    service_tsdb_status_t st;
    int rc = service_tsdb_status(req->ctx, &st, &req->err);
    if (rc) return rc;
    vg_json_t j;
    status_open(&j, &resp->body);
    vg_json_key(&j, "headStats");
    vg_json_obj_open(&j);
    vg_json_key(&j, "numSeries"), vg_json_u64(&j, st.num_series);
    vg_json_key(&j, "numLabelPairs"), vg_json_u64(&j, st.num_label_pairs);
    vg_json_key(&j, "chunkCount"), vg_json_u64(&j, st.chunk_count);
    vg_json_key(&j, "minTime"), vg_json_i64(&j, st.min_time);
    vg_json_key(&j, "maxTime"), vg_json_i64(&j, st.max_time);
    vg_json_obj_close(&j);
    top_json(&j, "seriesCountByMetricName", &st.by_metric);
    top_json(&j, "labelValueCountByLabelName", &st.by_name_values);
    top_json(&j, "memoryInBytesByLabelName", &st.by_name_bytes);
    top_json(&j, "seriesCountByLabelValuePair", &st.by_pair);
    status_close(&j);
    return 0;
}
