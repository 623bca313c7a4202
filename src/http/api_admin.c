/* Prometheus' TSDB admin API: POST|PUT /api/v1/admin/tsdb/snapshot (?skip_head) answers
 * {"status":"success","data":{"name":"<name>"}}; /api/v1/admin/tsdb/delete_series (match[], start,
 * end) and /api/v1/admin/tsdb/clean_tombstones answer 204 with no body. Admin-only routes: a tenant
 * gets 403. Parameters in, one service call, the answer out. */
#include "api.h"
#include "params.h"

#include "util/json.h"

#include <string.h>
#include <strings.h>

/* A boolean as Go's strconv.ParseBool reads it. */
static int parse_bool(const char *s, bool *out) {
    static const char *const t[] = {"1", "t", "T", "TRUE", "true", "True"}, *const f[] = {"0", "f", "F", "FALSE", "false", "False"};
    for (size_t i = 0; i < 6; i++) {
        if (!strcmp(s, t[i])) return *out = true, 0;
        if (!strcmp(s, f[i])) return *out = false, 0;
    }
    return VG_EINVAL;
}

int api_admin_snapshot(http_req_t *req, http_resp_t *resp) {
    bool skip_head = false;
    const char *sh = http_req_param(req, "skip_head");
    if (sh && *sh && parse_bool(sh, &skip_head))
        return vg_error_set(&req->err, VG_EINVAL, "unable to parse boolean 'skip_head' argument: strconv.ParseBool: parsing \"%s\": invalid syntax", sh);
    char name[SERVICE_SNAPSHOT_NAME_MAX];
    int rc = service_tsdb_snapshot(req->ctx, skip_head, name, &req->err);
    if (rc) return rc;
    vg_json_t j;
    http_json_success(&j, resp);
    vg_json_obj_open(&j);
    vg_json_key(&j, "name"), vg_json_str(&j, name);
    vg_json_obj_close(&j);
    vg_json_obj_close(&j);
    return 0;
}

int api_admin_delete_series(http_req_t *req, http_resp_t *resp) {
    int64_t start, end;
    int rc = api_time_param(req, "start", API_MIN_TIME_MS, &start);
    if (!rc) rc = api_time_param(req, "end", API_MAX_TIME_MS, &end);
    if (rc) return rc;
    size_t n = http_req_param_count(req, "match[]");
    const char **sel = vg_arena_calloc(req->arena, n ? n : 1, sizeof *sel);
    if (!sel) return vg_error_set(&req->err, VG_ENOMEM, "out of memory");
    for (size_t i = 0, k = 0; i < req->n_params; i++)
        if (!strcmp(req->params[i].key, "match[]")) sel[k++] = req->params[i].value;
    if ((rc = service_tsdb_delete_series(req->ctx, sel, n, start, end, req->arena, &req->err))) return rc;
    resp->status = 204;
    resp->content_type = "text/plain; charset=utf-8";
    return 0;
}

int api_admin_clean_tombstones(http_req_t *req, http_resp_t *resp) {
    int rc = service_tsdb_clean_tombstones(req->ctx, &req->err);
    if (rc) return rc;
    resp->status = 204;
    resp->content_type = "text/plain; charset=utf-8";
    return 0;
}
