/* Series metadata endpoints of the Prometheus API: /api/v1/series, /api/v1/labels and
 * /api/v1/label/{name}/values — parameters in, one service call (which enforces the tenant and runs
 * the executor), JSON out, with Prometheus' parameters and error texts. */
#include "api.h"
#include "params.h"

#include "selfmon/selfmon.h"
#include "util/json.h"
#include "util/timeutil.h"

#include <stdlib.h>
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

static const char *metric_name(const promql_latest_t *s) {
    for (size_t k = 0; k < s->n_labels; k++)
        if (!strcmp(s->labels[k].name, MODEL_METRIC_NAME)) return s->labels[k].value;
    return "";
}

static int cmp_family(const void *a, const void *b) {
    const promql_latest_t *x = a, *y = b;
    int c = strcmp(metric_name(x), metric_name(y));
    return c ? c : model_labels_cmp(x->labels, x->n_labels, y->labels, y->n_labels);
}

static int cmp_key(const void *a, const void *b, void *kv) {
    const config_kv_t *ext = kv;
    return strcmp(ext->keys[*(const size_t *)a], ext->keys[*(const size_t *)b]);
}

static void put_label(vg_buf_t *b, bool *open, const char *name, const char *value) {
    vg_buf_puts(b, *open ? "," : "{");
    *open = true;
    vg_buf_printf(b, "%s=\"", name);
    selfmon_escape(b, value, true);
    vg_buf_putc(b, '"');
}

/* /federate: the newest sample of every series matching match[], in the text exposition format, as
 * Prometheus serves it — families by metric name, each with `# TYPE <name> untyped`, labels in the
 * stored order, then the external labels the series does not carry itself, then value and timestamp. */
int api_federate(http_req_t *req, http_resp_t *resp) {
    service_match_t m;
    int64_t ignored_start, ignored_end;
    promql_latest_t *all;
    size_t n;
    int rc = common_params(req, false, &ignored_start, &ignored_end, &m);
    if (rc || (rc = service_federate(req->ctx, &m, vg_now_ms(), req->arena, &all, &n, &req->err))) return rc;
    const config_kv_t *ext = &req->ctx->cfg->global.external_labels;
    /* families are contiguous; external labels go in name order */
    if (n) qsort(all, n, sizeof *all, cmp_family);
    size_t *order = vg_arena_calloc(req->arena, ext->n ? ext->n : 1, sizeof *order);
    if (!order) return vg_error_set(&req->err, VG_ENOMEM, "out of memory");
    for (size_t e = 0; e < ext->n; e++) order[e] = e;
    qsort_r(order, ext->n, sizeof *order, cmp_key, (void *)ext);
    resp->content_type = SELFMON_CT_TEXT;
    vg_buf_t *b = &resp->body;
    const char *family = NULL;
    for (size_t i = 0; i < n; i++) {
        const char *name = metric_name(&all[i]);
        if (!family || strcmp(family, name)) {
            vg_buf_printf(b, "# TYPE %s untyped\n", name);
            family = name;
        }
        vg_buf_puts(b, name);
        bool open = false;
        for (size_t k = 0; k < all[i].n_labels; k++)
            if (strcmp(all[i].labels[k].name, MODEL_METRIC_NAME))
                put_label(b, &open, all[i].labels[k].name, all[i].labels[k].value);
        for (size_t e = 0; e < ext->n; e++) {
            const char *key = ext->keys[order[e]];
            bool own = false;
            for (size_t k = 0; !own && k < all[i].n_labels; k++) own = !strcmp(all[i].labels[k].name, key);
            if (!own) put_label(b, &open, key, ext->values[order[e]]);
        }
        if (open) vg_buf_putc(b, '}');
        char v[VG_FLOAT_MAX];
        vg_buf_putc(b, ' ');
        vg_buf_append(b, v, vg_fmt_float_g(all[i].v, v));
        vg_buf_printf(b, " %lld\n", (long long)all[i].t);
    }
    return 0;
}
