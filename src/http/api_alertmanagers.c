/* /api/v1/alertmanagers: the Alertmanagers the notifier sends to and those its relabeling dropped, in
 * Prometheus' shape. Admin-only: the list is the operator's infrastructure, not a tenant's business. */
#include "api.h"

#include "util/json.h"

static void url_list(vg_json_t *j, const char *key, const char *const *v, size_t n) {
    vg_json_key(j, key);
    vg_json_arr_open(j);
    for (size_t i = 0; i < n; i++) {
        vg_json_obj_open(j);
        vg_json_key(j, "url"), vg_json_str(j, v[i]);
        vg_json_obj_close(j);
    }
    vg_json_arr_close(j);
}

int api_alertmanagers(http_req_t *req, http_resp_t *resp) {
    const char *const *active, *const *dropped;
    size_t n_active, n_dropped;
    int rc = service_alertmanagers(req->ctx, req->arena, &active, &n_active, &dropped, &n_dropped, &req->err);
    if (rc) return rc;
    vg_json_t j;
    http_json_success(&j, resp);
    vg_json_obj_open(&j);
    url_list(&j, "activeAlertmanagers", active, n_active);
    url_list(&j, "droppedAlertmanagers", dropped, n_dropped);
    vg_json_obj_close(&j);
    vg_json_obj_close(&j);
    return 0;
}
