/* Series metadata endpoints of the Prometheus API: /api/v1/series, /api/v1/labels and
 * /api/v1/label/{name}/values, answered from the storage querier over [start, end], with Prometheus'
 * parameters, error texts and sorted output. */
#include "api.h"
#include "params.h"

#include "tsdb/tsdb.h"
#include "util/json.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const model_label_t *l;
    size_t n;
} lset_t;

static int cmp_lset(const void *a, const void *b) {
    const lset_t *x = a, *y = b;
    return model_labels_cmp(x->l, x->n, y->l, y->n);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* start/end with Prometheus' defaults (the whole time range). */
static int range_params(http_req_t *req, int64_t *start, int64_t *end) {
    int rc = api_time_param(req, "start", API_MIN_TIME_MS, start);
    if (!rc) rc = api_time_param(req, "end", API_MAX_TIME_MS, end);
    return rc;
}

static void success_open(vg_json_t *j, vg_buf_t *b) {
    vg_json_init(j, b);
    vg_json_obj_open(j);
    vg_json_key(j, "status"), vg_json_str(j, "success");
    vg_json_key(j, "data");
}

/* The common start of the three endpoints: start/end, the (tenant-enforced) match[] sets, a querier. */
static int open_request(http_req_t *req, bool wrap, api_matchers_t **sets, size_t *n_sets, storage_querier_t **q) {
    if (!req->app->db) return vg_error_set(&req->err, VG_EUNAVAIL, "storage is not open");
    int64_t start, end;
    int rc = range_params(req, &start, &end);
    if (rc || (rc = api_match_params(req, wrap, sets, n_sets))) return rc;
    if ((rc = tsdb_db_querier(req->app->db, start, end, q, &req->err))) api_matchers_release(*sets, *n_sets);
    return rc;
}

int api_series(http_req_t *req, http_resp_t *resp) {
    if (http_req_param_count(req, "match[]") == 0 && !req->ident->scoped) /* a tenant gets its own series */
        return vg_error_set(&req->err, VG_EINVAL, "no match[] parameter provided");
    api_matchers_t *sets;
    size_t n_sets;
    storage_querier_t *q;
    int rc = open_request(req, true, &sets, &n_sets, &q);
    if (rc) return rc;
    lset_t *all = NULL;
    size_t n_all = 0, cap = 0;
    for (size_t i = 0; !rc && i < n_sets; i++) {
        storage_series_set_t *ss;
        if ((rc = storage_select(q, true, sets[i].v, sets[i].n, &ss, &req->err))) break;
        while (ss->vt->next(ss)) {
            if (n_all == cap) {
                cap = cap ? cap * 2 : 64;
                lset_t *na = realloc(all, cap * sizeof *na);
                if (!na) {
                    rc = vg_error_set(&req->err, VG_ENOMEM, "out of memory");
                    break;
                }
                all = na;
            }
            ss->vt->labels(ss, &all[n_all].l, &all[n_all].n);
            n_all++;
        }
        if (!rc && ss->vt->err(ss)) rc = vg_error_set(&req->err, ss->vt->err(ss), "reading series failed");
    }
    if (!rc) {
        if (n_sets > 1) qsort(all, n_all, sizeof *all, cmp_lset);
        vg_json_t j;
        success_open(&j, &resp->body);
        vg_json_arr_open(&j);
        for (size_t i = 0; i < n_all; i++) {
            if (i && !cmp_lset(&all[i - 1], &all[i])) continue; /* the same series from two match[] */
            vg_json_obj_open(&j);
            for (size_t k = 0; k < all[i].n; k++) {
                vg_json_key(&j, all[i].l[k].name);
                vg_json_str(&j, all[i].l[k].value);
            }
            vg_json_obj_close(&j);
        }
        vg_json_arr_close(&j);
        vg_json_obj_close(&j);
    }
    free(all);
    storage_querier_close(q);
    api_matchers_release(sets, n_sets);
    return rc;
}

/* Names (name == NULL) or values of `name`, over every match[] set (or all series), sorted, unique. */
static int names_or_values(http_req_t *req, http_resp_t *resp, const char *name) {
    api_matchers_t *sets;
    size_t n_sets;
    storage_querier_t *q;
    int rc = open_request(req, false, &sets, &n_sets, &q);
    if (rc) return rc;
    const char **all = NULL;
    size_t n_all = 0;
    for (size_t i = 0; !rc && i < (n_sets ? n_sets : 1); i++) {
        const char *const *v;
        size_t n;
        model_matcher_t *const *ms = n_sets ? sets[i].v : NULL;
        size_t n_ms = n_sets ? sets[i].n : 0;
        rc = name ? q->vt->label_values(q, name, ms, n_ms, &v, &n, &req->err)
                  : q->vt->label_names(q, ms, n_ms, &v, &n, &req->err);
        if (rc) break;
        const char **na = realloc(all, (n_all + n + 1) * sizeof *na);
        if (!na) {
            rc = vg_error_set(&req->err, VG_ENOMEM, "out of memory");
            break;
        }
        all = na;
        if (n) memcpy(all + n_all, v, n * sizeof *v);
        n_all += n;
    }
    if (!rc) {
        if (n_sets > 1) qsort(all, n_all, sizeof *all, cmp_str);
        vg_json_t j;
        success_open(&j, &resp->body);
        vg_json_arr_open(&j);
        for (size_t i = 0; i < n_all; i++)
            if (!i || strcmp(all[i - 1], all[i])) vg_json_str(&j, all[i]);
        vg_json_arr_close(&j);
        vg_json_obj_close(&j);
    }
    free(all);
    storage_querier_close(q);
    api_matchers_release(sets, n_sets);
    return rc;
}

int api_labels(http_req_t *req, http_resp_t *resp) { return names_or_values(req, resp, NULL); }

int api_label_values(http_req_t *req, http_resp_t *resp) {
    const char *name = http_req_path_param(req, "name");
    if (!name || !model_label_name_valid(name, strlen(name)))
        return vg_error_set(&req->err, VG_EINVAL, "invalid label name: \"%.200s\"", name ? name : "");
    return names_or_values(req, resp, name);
}
