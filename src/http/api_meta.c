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
#include <strings.h>
#include <unistd.h>

/* Whether a caller may see a target: a tenant sees the targets whose labels give its matcher's label
 * one of its values (and no dropped targets); everyone else sees all. */
static bool target_visible(const http_req_t *req, const ingest_target_status_t *t) {
    if (!req->ctx->scoped) return true;
    const tenancy_matcher_t *m = &req->ctx->matcher;
    const char *v = model_labels_get(t->labels, t->n_labels, m->label);
    for (size_t i = 0; v && i < m->n_values; i++)
        if (!strcmp(v, m->values[i])) return true;
    return false;
}

static void target_labels_json(vg_json_t *j, const model_label_t *l, size_t n) {
    vg_json_obj_open(j);
    for (size_t i = 0; i < n; i++) {
        vg_json_key(j, l[i].name);
        vg_json_str(j, l[i].value);
    }
    vg_json_obj_close(j);
}

static const char *target_health_name(ingest_target_health_t h) {
    return h == INGEST_TARGET_UP ? "up" : h == INGEST_TARGET_DOWN ? "down" : "unknown";
}

static void active_target_json(vg_json_t *j, const ingest_target_status_t *t) {
    char ts[VG_RFC3339_MAX], iv[VG_DURATION_MAX], to[VG_DURATION_MAX];
    vg_json_obj_open(j);
    vg_json_key(j, "discoveredLabels");
    target_labels_json(j, t->discovered, t->n_discovered);
    vg_json_key(j, "labels");
    target_labels_json(j, t->labels, t->n_labels);
    vg_json_key(j, "scrapePool"), vg_json_str(j, t->scrape_pool);
    vg_json_key(j, "scrapeUrl"), vg_json_str(j, t->url);
    vg_json_key(j, "globalUrl"), vg_json_str(j, t->url);
    vg_json_key(j, "lastError"), vg_json_str(j, t->last_error);
    if (t->last_scrape_ms) vg_rfc3339_format(t->last_scrape_ms, ts);
    else snprintf(ts, sizeof ts, "%s", "0001-01-01T00:00:00Z"); /* Go's zero time */
    vg_json_key(j, "lastScrape"), vg_json_str(j, ts);
    vg_json_key(j, "lastScrapeDuration"), vg_json_f64(j, t->last_duration_s);
    vg_json_key(j, "health"), vg_json_str(j, target_health_name(t->health));
    vg_duration_format(t->interval_ms, iv);
    vg_duration_format(t->timeout_ms, to);
    vg_json_key(j, "scrapeInterval"), vg_json_str(j, iv);
    vg_json_key(j, "scrapeTimeout"), vg_json_str(j, to);
    vg_json_obj_close(j);
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
    bool any = !state || !*state || !strcasecmp(state, "any");
    bool active = any || !strcasecmp(state, "active");
    bool dropped = (any || !strcasecmp(state, "dropped")) && !req->ctx->scoped;
    ingest_targets_snapshot_t *snap = NULL;
    unsigned flags = (active ? INGEST_SNAPSHOT_ACTIVE : 0) | (dropped ? INGEST_SNAPSHOT_DROPPED : 0);
    if (req->app->scraper && flags && ingest_scraper_targets_snapshot(req->app->scraper, flags, &snap))
        return vg_error_set(&req->err, VG_ENOMEM, "out of memory");
    vg_json_t j;
    http_json_success(&j, resp);
    vg_json_obj_open(&j);
    vg_json_key(&j, "activeTargets");
    vg_json_arr_open(&j);
    for (size_t i = 0; snap && i < snap->n_active; i++)
        if (target_visible(req, &snap->active[i])) active_target_json(&j, &snap->active[i]);
    vg_json_arr_close(&j);
    vg_json_key(&j, "droppedTargets");
    vg_json_arr_open(&j);
    for (size_t i = 0; snap && i < snap->n_dropped; i++) {
        vg_json_obj_open(&j);
        vg_json_key(&j, "discoveredLabels");
        target_labels_json(&j, snap->dropped[i].discovered, snap->dropped[i].n_discovered);
        vg_json_obj_close(&j);
    }
    vg_json_arr_close(&j);
    vg_json_obj_close(&j);
    vg_json_obj_close(&j);
    ingest_targets_snapshot_free(snap);
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
    ingest_targets_snapshot_t *snap = NULL;
    if (req->app->scraper &&
        ingest_scraper_targets_snapshot(req->app->scraper, INGEST_SNAPSHOT_ACTIVE | INGEST_SNAPSHOT_METADATA, &snap)) {
        while (n_ms) model_matcher_free(ms[--n_ms]);
        return vg_error_set(&req->err, VG_ENOMEM, "out of memory");
    }
    /* which targets match_target selects, decided before the answer starts: a regex that cannot be
     * evaluated fails the request instead of hiding or showing a target */
    size_t n_active = snap ? snap->n_active : 0;
    bool *sel_ok = vg_arena_calloc(req->arena, n_active ? n_active : 1, sizeof *sel_ok);
    int mrc = sel_ok ? 0 : vg_error_set(&req->err, VG_ENOMEM, "out of memory");
    for (size_t t = 0; t < n_active && !mrc; t++) {
        const ingest_target_status_t *ts = &snap->active[t];
        int r = target_visible(req, ts);
        for (size_t k = 0; k < n_ms && r == 1; k++)
            if ((r = model_matcher_match(ms[k], model_labels_get(ts->labels, ts->n_labels, model_matcher_name(ms[k])))) < 0)
                mrc = model_matcher_error(ms[k], r, &req->err);
        sel_ok[t] = r == 1;
    }
    if (mrc) {
        ingest_targets_snapshot_free(snap);
        while (n_ms) model_matcher_free(ms[--n_ms]);
        return mrc;
    }
    const char *metric = http_req_param(req, "metric");
    vg_json_t j;
    http_json_success(&j, resp);
    vg_json_arr_open(&j);
    long n = 0;
    for (size_t t = 0; t < n_active; t++) {
        const ingest_target_status_t *ts = &snap->active[t];
        bool ok = sel_ok[t];
        for (size_t i = 0; ok && i < ts->n_meta && (limit < 0 || n < limit); i++) {
            const ingest_target_meta_t *m = &ts->meta[i];
            if (metric && *metric && strcmp(metric, m->family)) continue;
            vg_json_obj_open(&j);
            vg_json_key(&j, "target");
            target_labels_json(&j, ts->labels, ts->n_labels);
            if (!metric || !*metric) vg_json_key(&j, "metric"), vg_json_str(&j, m->family); /* omitted when asked for */
            vg_json_key(&j, "type"), vg_json_str(&j, ingest_mtype_name(m->type));
            vg_json_key(&j, "help"), vg_json_str(&j, m->help);
            vg_json_key(&j, "unit"), vg_json_str(&j, m->unit);
            vg_json_obj_close(&j);
            n++;
        }
    }
    vg_json_arr_close(&j);
    vg_json_obj_close(&j);
    ingest_targets_snapshot_free(snap);
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
    http_json_success(&j, resp);
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

static void status_open(vg_json_t *j, http_resp_t *resp) {
    http_json_success(j, resp);
    vg_json_obj_open(j);
}

static void status_close(vg_json_t *j) {
    vg_json_obj_close(j);
    vg_json_obj_close(j);
}

int api_buildinfo(http_req_t *req, http_resp_t *resp) {
    (void)req;
    vg_json_t j;
    status_open(&j, resp);
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
    const config_t *c = req->ctx->cfg; /* an admin route: the request's snapshot */
    char ts[VG_RFC3339_MAX], ret[VG_DURATION_MAX], cwd[1024];
    vg_json_t j;
    status_open(&j, resp);
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
    return 0;
}

int api_flags(http_req_t *req, http_resp_t *resp) {
    const config_t *c = req->ctx->cfg;
    char ret[VG_DURATION_MAX];
    vg_duration_format(c->storage.retention_ms, ret);
    vg_json_t j;
    status_open(&j, resp);
    vg_json_key(&j, "config.file"), vg_json_str(&j, req->app->config_path ? req->app->config_path : "");
    vg_json_key(&j, "web.listen-address"), vg_json_str(&j, c->server.listen);
    vg_json_key(&j, "storage.tsdb.path"), vg_json_str(&j, c->storage.path);
    vg_json_key(&j, "storage.tsdb.retention.time"), vg_json_str(&j, ret);
    vg_json_key(&j, "log.level"), vg_json_str(&j, vg_log_level_name(c->log.level));
    vg_json_key(&j, "log.format"), vg_json_str(&j, c->log.format == VG_LOG_JSON ? "json" : "logfmt");
    status_close(&j);
    return 0;
}

int api_config(http_req_t *req, http_resp_t *resp) {
    const config_t *c = req->ctx->cfg;
    vg_buf_t y = VG_BUF_INIT;
    config_write_yaml(c, &y);
    vg_json_t j;
    status_open(&j, resp);
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

int api_walreplay(http_req_t *req, http_resp_t *resp) {
    service_walreplay_t w;
    int rc = service_walreplay(req->ctx, &w, &req->err);
    if (rc) return rc;
    vg_json_t j;
    status_open(&j, resp);
    vg_json_key(&j, "min"), vg_json_u64(&j, w.min);
    vg_json_key(&j, "max"), vg_json_u64(&j, w.max);
    vg_json_key(&j, "current"), vg_json_u64(&j, w.current);
    status_close(&j);
    return 0;
}

int api_tsdb_status(http_req_t *req, http_resp_t *resp) {
    service_tsdb_status_t st;
    int rc = service_tsdb_status(req->ctx, &st, &req->err);
    if (rc) return rc;
    vg_json_t j;
    status_open(&j, resp);
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
    if (st.has_blocks) { /* vigil's extension: Prometheus' clients ignore it */
        vg_json_key(&j, "vigil");
        vg_json_obj_open(&j);
        vg_json_key(&j, "blockStats");
        vg_json_obj_open(&j);
        vg_json_key(&j, "numBlocks"), vg_json_u64(&j, st.blocks);
        vg_json_key(&j, "bytes"), vg_json_u64(&j, st.blocks_bytes);
        vg_json_key(&j, "minTime"), vg_json_i64(&j, st.blocks_min_time);
        vg_json_key(&j, "maxTime"), vg_json_i64(&j, st.blocks_max_time);
        vg_json_key(&j, "corrupt"), vg_json_u64(&j, st.blocks_corrupt);
        vg_json_key(&j, "lastCorrupt"), vg_json_str(&j, st.corrupt_block);
        vg_json_obj_close(&j);
        vg_json_key(&j, "storageBytes"), vg_json_u64(&j, st.storage_bytes);
        vg_json_obj_close(&j);
    }
    status_close(&j);
    return 0;
}
