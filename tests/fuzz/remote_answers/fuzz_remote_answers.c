/* Fuzz target: what a remote engine or store sends back to vigil — a query API answer (the one-pass
 * reader, then the general JSON path) under several HTTP statuses, and a remote read response (snappy and
 * raw protobuf), with and without bounds — is read or refused with a message, never crashes, leaks or
 * reads outside the input. Checks: a read answer is well formed (types, counts, labels and points
 * present, the matrix points ascending), error codes come with a message, and the bounds hold. */
#include "remote/remote.h"
#include "remote/remote_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_result(const promql_result_t *r) {
    if (r->type == PROMQL_TYPE_STRING && !r->string.ptr && r->string.len) abort();
    if ((r->type == PROMQL_TYPE_VECTOR || r->type == PROMQL_TYPE_MATRIX) && r->n_series && !r->series) abort();
    for (size_t i = 0; i < r->n_series && r->series; i++) {
        const promql_series_t *s = &r->series[i];
        if (s->n_labels && !s->labels) abort();
        for (size_t k = 0; k < s->n_labels; k++)
            if (!s->labels[k].name || !s->labels[k].value) abort();
        if (s->n_points && !s->points) abort();
        if (r->type == PROMQL_TYPE_VECTOR && s->n_points != 1) abort();
        for (size_t k = 1; r->type == PROMQL_TYPE_MATRIX && k < s->n_points; k++)
            if (s->points[k].t <= s->points[k - 1].t) abort();
    }
}

static void answers(const uint8_t *data, size_t size) {
    static const long statuses[] = {200, 400, 422, 503};
    for (size_t i = 0; i < sizeof statuses / sizeof *statuses; i++) {
        vg_arena_t a;
        vg_arena_init(&a, 4096);
        promql_result_t *r = NULL;
        vg_error_t err = {0};
        int rc = remote_result_parse((const char *)data, size, statuses[i], 1000, &a, &r, &err);
        if (rc == 0 && r) check_result(r);
        if (rc != 0 && (err.msg[0] == '\0' || r)) abort();
        vg_arena_deinit(&a);
    }
}

static void read_responses(const uint8_t *data, size_t size) {
    for (int bounded = 0; bounded < 2; bounded++) {
        for (int raw = 0; raw < 2; raw++) {
            vg_arena_t a;
            vg_arena_init(&a, 4096);
            remote_read_result_t *res = NULL;
            size_t n = 0;
            vg_error_t err = {0};
            int64_t max_samples = bounded ? 16 : -1;
            int rc = raw ? remote_read_response_decode_pb(data, size, max_samples, &a, &res, &n, &err)
                         : remote_read_response_decode(data, size, bounded ? 4096 : 0, max_samples, &a, &res, &n, &err);
            if (rc) {
                if (err.msg[0] == '\0') abort();
            } else {
                int64_t samples = 0;
                for (size_t i = 0; i < n; i++)
                    for (size_t k = 0; k < res[i].n_series; k++) {
                        const remote_read_series_t *s = &res[i].series[k];
                        for (size_t j = 1; j < s->n_labels; j++)
                            if (strcmp(s->labels[j - 1].name, s->labels[j].name) > 0) abort(); /* sorted */
                        samples += (int64_t)s->n_samples;
                    }
                if (max_samples >= 0 && samples > max_samples) abort();
            }
            vg_arena_deinit(&a);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    answers(data, size);
    read_responses(data, size);
    return 0;
}
