/* /api/v1/rules and /api/v1/alerts in Prometheus 2.42's shapes, with its parameters (type=alert|record,
 * rule_name[], rule_group[], file[]) and error texts. What a caller sees is decided in service/ (a
 * tenant: its own groups, and the alerts carrying its label). */
#include "api.h"

#include "util/json.h"

#include <string.h>

/* The values of a repeated parameter (arena). */
static const char *const *param_list(http_req_t *req, const char *key, size_t *n_out) {
    size_t n = http_req_param_count(req, key), k = 0;
    const char **v = vg_arena_calloc(req->arena, n ? n : 1, sizeof *v);
    for (size_t i = 0; v && i < req->n_params && k < n; i++)
        if (!strcmp(req->params[i].key, key)) v[k++] = req->params[i].value;
    *n_out = v ? k : 0;
    return v;
}

int api_rules(http_req_t *req, http_resp_t *resp) {
    service_rules_query_t q = {0};
    const char *type = http_req_param(req, "type");
    if (type && *type) {
        if (!strcmp(type, "alert")) q.type = 1;
        else if (!strcmp(type, "record")) q.type = 2;
        else return vg_error_set(&req->err, VG_EINVAL, "invalid parameter \"type\": not supported value \"%s\"", type);
    }
    q.rule_names = param_list(req, "rule_name[]", &q.n_rule_names);
    q.groups = param_list(req, "rule_group[]", &q.n_groups);
    q.files = param_list(req, "file[]", &q.n_files);
    vg_json_t j;
    http_json_success(&j, resp);
    int rc = service_rules_json(req->ctx, &q, &j, &req->err);
    if (rc) return rc;
    vg_json_obj_close(&j);
    return 0;
}

int api_alerts(http_req_t *req, http_resp_t *resp) {
    vg_json_t j;
    http_json_success(&j, resp);
    int rc = service_alerts_json(req->ctx, &j, &req->err);
    if (rc) return rc;
    vg_json_obj_close(&j);
    return 0;
}
