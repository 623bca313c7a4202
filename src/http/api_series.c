/* Series metadata endpoints of the Prometheus API: /api/v1/series, /api/v1/labels and
 * /api/v1/label/{name}/values — parameters in, one service call (which enforces the tenant and runs
 * the executor), JSON out, with Prometheus' parameters and error texts. */
#include "api.h"
#include "params.h"

#include "util/json.h"

#include <string.h>

/* start/end with Prometheus' defaults (the whole time range), and the match[] selectors. */
static int common_params(http_req_t *req, bool wrap, int64_t *start, int64_t *end, service_match_t *m) {
    int rc = api_time_param(req, "start", API_MIN_TIME_MS, start);
    if (!rc) rc = api_time_param(req, "end", API_MAX_TIME_MS, end);
    if (rc) return rc;
    size_t n = http_req_param_count(req, "match[]");
    const char **sel = vg_arena_calloc(req->arena, n ? n : 1, sizeof *sel);
    if (!sel) return vg_error_set(&req->err, VG_ENOMEM, "out of memory");
    for (size_t i = 0, k = 0; i < req->n_params; i++)
        if (!strcmp(req->params[i].key, "match[]")) sel[k++] = req->params[i].value;
    *m = (service_match_t){sel, n, wrap};
    return 0;
}

int api_series(http_req_t *req, http_resp_t *resp) {
    if (http_req_param_count(req, "match[]") == 0 && !req->ctx->scoped) /* a tenant gets its own series */
        return vg_error_set(&req->err, VG_EINVAL, "no match[] parameter provided");
    int64_t start, end;
    service_match_t m;
    promql_labels_t *all;
    size_t n;
    int rc = common_params(req, true, &start, &end, &m);
    if (rc || (rc = service_series(req->ctx, &m, start, end, req->arena, &all, &n, &req->err))) return rc;
    vg_json_t j;
    http_json_success(&j, resp);
    vg_json_arr_open(&j);
    for (size_t i = 0; i < n; i++) {
        vg_json_obj_open(&j);
        for (size_t k = 0; k < all[i].n_labels; k++) {
            vg_json_key(&j, all[i].labels[k].name);
            vg_json_str(&j, all[i].labels[k].value);
        }
        vg_json_obj_close(&j);
    }
    vg_json_arr_close(&j);
    vg_json_obj_close(&j);
    return 0;
}

/* Names (name == NULL) or values of `name`. */
static int names_or_values(http_req_t *req, http_resp_t *resp, const char *name) {
    int64_t start, end;
    service_match_t m;
    const char *const *all;
    size_t n;
    int rc = common_params(req, false, &start, &end, &m);
    if (rc || (rc = service_labels(req->ctx, name, &m, start, end, req->arena, &all, &n, &req->err))) return rc;
    vg_json_t j;
    http_json_success(&j, resp);
    vg_json_arr_open(&j);
    for (size_t i = 0; i < n; i++) vg_json_str(&j, all[i]);
    vg_json_arr_close(&j);
    vg_json_obj_close(&j);
    return 0;
}

int api_labels(http_req_t *req, http_resp_t *resp) { return names_or_values(req, resp, NULL); }

int api_label_values(http_req_t *req, http_resp_t *resp) {
    const char *name = http_req_path_param(req, "name");
    if (!name || !model_label_name_valid(name, strlen(name)))
        return vg_error_set(&req->err, VG_EINVAL, "invalid label name: \"%.200s\"", name ? name : "");
    return names_or_values(req, resp, name);
}
