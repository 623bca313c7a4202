/* Metadata endpoints of the Prometheus API that describe what vigil collects: /api/v1/targets. */
#include "api.h"

#include "ingest/scrape/scrape.h"
#include "util/json.h"

#include <string.h>

int api_targets(http_req_t *req, http_resp_t *resp) {
    const char *state = http_req_param(req, "state"); /* an unknown state selects nothing, as in Prometheus */
    vg_json_t j;
    vg_json_init(&j, &resp->body);
    vg_json_obj_open(&j);
    vg_json_key(&j, "status"), vg_json_str(&j, "success");
    vg_json_key(&j, "data");
    if (req->app->scraper) {
        ingest_scraper_targets_json(req->app->scraper, &j, state);
    } else {
        vg_json_obj_open(&j);
        vg_json_key(&j, "activeTargets"), vg_json_arr_open(&j), vg_json_arr_close(&j);
        vg_json_key(&j, "droppedTargets"), vg_json_arr_open(&j), vg_json_arr_close(&j);
        vg_json_obj_close(&j);
    }
    vg_json_obj_close(&j);
    return 0;
}
