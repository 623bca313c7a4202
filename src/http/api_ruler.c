/* The ruler configuration API, with Mimir's paths and shapes, under /config/v1/rules and
 * /prometheus/config/v1/rules: list every namespace, one namespace, one group (YAML,
 * application/yaml); create or replace a group in a namespace (a YAML body of one group) and delete a
 * group or a namespace (202 with {"status":"success"}). Whose rules they are — the caller's tenant,
 * or for an admin the tenant X-Scope-OrgID names — and every check is decided in service/ruler.c;
 * errors use vigil's error shape with the status of their code (400, 403, 404, 413). */
#include "api.h"

#include "util/json.h"

#include <string.h>

/* X-Scope-OrgID: the tenant an admin acts for (a tenant may send its own). */
static const char *org_id(const http_req_t *req) { return http_req_header(req, "X-Scope-OrgID"); }

static int yaml_get(http_req_t *req, http_resp_t *resp, const char *ns, const char *group) {
    int rc = service_ruler_get(req->ctx, org_id(req), ns, group, &resp->body, &req->err);
    if (rc) return rc;
    resp->content_type = "application/yaml";
    return 0;
}

/* Mimir answers changes with 202: stored, evaluated from the group's next instant. */
static int accepted(http_resp_t *resp) {
    vg_json_t j;
    vg_json_init(&j, &resp->body);
    vg_json_obj_open(&j);
    vg_json_key(&j, "status"), vg_json_str(&j, "success");
    vg_json_key(&j, "data"), vg_json_null(&j);
    vg_json_key(&j, "errorType"), vg_json_str(&j, "");
    vg_json_key(&j, "error"), vg_json_str(&j, "");
    vg_json_obj_close(&j);
    resp->status = 202;
    return 0;
}

int api_ruler_list(http_req_t *req, http_resp_t *resp) { return yaml_get(req, resp, NULL, NULL); }

int api_ruler_namespace(http_req_t *req, http_resp_t *resp) {
    const char *ns = http_req_path_param(req, "namespace");
    if (!strcmp(req->method, "POST")) {
        int rc = service_ruler_set(req->ctx, org_id(req), ns, req->body ? req->body : "", req->body_len, &req->err);
        return rc ? rc : accepted(resp);
    }
    if (!strcmp(req->method, "DELETE")) {
        int rc = service_ruler_delete(req->ctx, org_id(req), ns, NULL, &req->err);
        return rc ? rc : accepted(resp);
    }
    return yaml_get(req, resp, ns, NULL);
}

int api_ruler_group(http_req_t *req, http_resp_t *resp) {
    const char *ns = http_req_path_param(req, "namespace"), *group = http_req_path_param(req, "group");
    if (!strcmp(req->method, "DELETE")) {
        int rc = service_ruler_delete(req->ctx, org_id(req), ns, group, &req->err);
        return rc ? rc : accepted(resp);
    }
    return yaml_get(req, resp, ns, group);
}
