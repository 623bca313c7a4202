/* The Prometheus 2.42 API form of query results: the `data` object {"resultType":…,"result":…}.
 *
 * Invariants (web/api/v1/api.go and promql/value.go of 2.42): vector and matrix points are written as
 * [<sec>.<ms, 3 digits when non-zero>, "<value>"] with the value in Go's 'f' shortest form, or 'e' form
 * when 0 < |v| < 1e-6 or |v| >= 1e21; scalar and string results use float seconds and always 'f' form;
 * label objects list labels in sorted order (as Go marshals a map). */
#include "engine_int.h"

#include <math.h>
#include <string.h>

static void write_metric(vg_json_t *j, const promql_series_t *s) {
    vg_json_key(j, "metric");
    vg_json_obj_open(j);
    for (size_t i = 0; i < s->n_labels; i++) {
        vg_json_key(j, s->labels[i].name);
        vg_json_str(j, s->labels[i].value);
    }
    vg_json_obj_close(j);
}

static void write_point(vg_json_t *j, const promql_point_t *p) {
    vg_json_arr_open(j);
    vg_json_ts_ms_point(j, p->t);
    vg_json_f64_str_point(j, p->v);
    vg_json_arr_close(j);
}

/* A duration in seconds as Go's encoding/json writes a float64: exponent form below 1e-6 ("9.32e-07"). */
static void write_seconds(vg_json_t *j, double v) {
    if (v > 0 && v < 1e-6) {
        char tmp[VG_FLOAT_MAX];
        vg_json_raw(j, tmp, vg_fmt_float_g(v, tmp));
    } else {
        vg_json_f64(j, v);
    }
}

static void write_stats(const promql_result_t *r, bool per_step, vg_json_t *j) {
    const promql_stats_t *s = &r->stats;
    vg_json_key(j, "stats");
    vg_json_obj_open(j);
    vg_json_key(j, "timings");
    vg_json_obj_open(j);
    vg_json_key(j, "evalTotalTime"), write_seconds(j, s->eval_total_s);
    vg_json_key(j, "resultSortTime"), write_seconds(j, s->sort_s);
    vg_json_key(j, "queryPreparationTime"), write_seconds(j, s->prep_s);
    vg_json_key(j, "innerEvalTime"), write_seconds(j, s->inner_eval_s);
    vg_json_key(j, "execQueueTime"), write_seconds(j, s->exec_queue_s);
    vg_json_key(j, "execTotalTime"), write_seconds(j, s->exec_total_s);
    vg_json_obj_close(j);
    vg_json_key(j, "samples");
    vg_json_obj_open(j);
    if (per_step && s->n_steps) { /* Prometheus omits an empty list */
        vg_json_key(j, "totalQueryableSamplesPerStep");
        vg_json_arr_open(j);
        for (size_t k = 0; k < s->n_steps; k++) {
            vg_json_arr_open(j);
            vg_json_ts_ms(j, s->start_ms + (int64_t)k * s->step_ms);
            vg_json_i64(j, s->per_step ? s->per_step[k] : 0);
            vg_json_arr_close(j);
        }
        vg_json_arr_close(j);
    }
    vg_json_key(j, "totalQueryableSamples"), vg_json_i64(j, s->total_samples);
    vg_json_key(j, "peakSamples"), vg_json_i64(j, s->peak_samples);
    vg_json_obj_close(j);
    vg_json_obj_close(j);
}

void promql_result_write_json(const promql_result_t *r, vg_json_t *j) {
    promql_result_write_json_stats(r, false, false, j);
}

void promql_result_write_json_stats(const promql_result_t *r, bool stats, bool per_step, vg_json_t *j) {
    static const char *names[] = {"", "scalar", "vector", "matrix", "string"};
    vg_json_obj_open(j);
    vg_json_key(j, "resultType");
    vg_json_str(j, names[r->type <= PROMQL_TYPE_STRING ? r->type : 0]);
    vg_json_key(j, "result");
    switch (r->type) {
    case PROMQL_TYPE_SCALAR:
        vg_json_arr_open(j);
        vg_json_ts_ms(j, r->t);
        vg_json_f64_str(j, r->scalar);
        vg_json_arr_close(j);
        break;
    case PROMQL_TYPE_STRING:
        vg_json_arr_open(j);
        vg_json_ts_ms(j, r->t);
        vg_json_strn(j, r->string.ptr, r->string.len);
        vg_json_arr_close(j);
        break;
    case PROMQL_TYPE_VECTOR:
        vg_json_arr_open(j);
        for (size_t i = 0; i < r->n_series; i++) {
            vg_json_obj_open(j);
            write_metric(j, &r->series[i]);
            vg_json_key(j, "value");
            write_point(j, &r->series[i].points[0]);
            vg_json_obj_close(j);
        }
        vg_json_arr_close(j);
        break;
    default:
        vg_json_arr_open(j);
        for (size_t i = 0; i < r->n_series; i++) {
            vg_json_obj_open(j);
            write_metric(j, &r->series[i]);
            vg_json_key(j, "values");
            vg_json_arr_open(j);
            for (size_t k = 0; k < r->series[i].n_points; k++) write_point(j, &r->series[i].points[k]);
            vg_json_arr_close(j);
            vg_json_obj_close(j);
        }
        vg_json_arr_close(j);
        break;
    }
    if (stats) write_stats(r, per_step, j);
    vg_json_obj_close(j);
}
