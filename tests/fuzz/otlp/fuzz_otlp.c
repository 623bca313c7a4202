/* Fuzz target: the OTLP decoders. The first byte picks the path — even: protobuf, odd: OTLP/JSON,
 * and bit 1 also runs the bytes through gzip inflation first — the rest is the request, copied to an
 * exact-size buffer. Each input is decoded with default and with tight limits and, when it decodes,
 * translated. Checks: a failure has a message and the code it returned, protobuf error offsets lie
 * inside the input, a success respects the limits (points counted match, attributes per point),
 * every translated sample has a non-empty __name__, and nothing crashes, leaks or reads outside the
 * input. */
#include "ingest/otlp.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int emit(void *ctx, size_t point, const model_label_t *ls, size_t n, int64_t t, double v) {
    (void)point, (void)t, (void)v;
    const char *name = NULL; /* labels come unsorted */
    for (size_t i = 0; i < n; i++)
        if (!strcmp(ls[i].name, MODEL_METRIC_NAME)) name = ls[i].value;
    if (!name || !*name) abort();
    (*(size_t *)ctx)++;
    return 0;
}

static void run(const uint8_t *in, size_t len, int json, const ingest_otlp_limits_t *lim) {
    vg_arena_t a;
    vg_arena_init(&a, 4096);
    ingest_otlp_request_t *req = NULL;
    vg_error_t err;
    memset(&err, 0, sizeof err);
    int rc = json ? ingest_otlp_decode_json(in, len, lim, &a, &req, &err) : ingest_otlp_decode_pb(in, len, lim, &a, &req, &err);
    if (rc) {
        if (!err.msg[0] || err.code != rc || req) abort();
        if (!json && rc == VG_EINVAL && (err.pos < 0 || (size_t)err.pos > len)) abort();
    } else {
        size_t pts = 0;
        for (size_t r = 0; r < req->n_resources; r++) {
            const ingest_otlp_resource_t *res = &req->resources[r];
            if (lim->max_attrs && res->n_attrs > lim->max_attrs) abort();
            for (size_t m = 0; m < res->n_metrics; m++) {
                pts += res->metrics[m].n_points;
                for (size_t p = 0; p < res->metrics[m].n_points; p++) {
                    const ingest_otlp_point_t *pt = &res->metrics[m].points[p];
                    if (lim->max_attrs && pt->n_attrs > lim->max_attrs) abort();
                    for (size_t i = 0; i < pt->n_attrs; i++)
                        if (lim->max_value_len && pt->attrs[i].value.len > lim->max_value_len) abort();
                }
            }
        }
        if (pts != req->n_points || (lim->max_points && pts > lim->max_points)) abort();
        size_t n = 0;
        ingest_otlp_rejects_t rej;
        if (ingest_otlp_translate(req, &a, emit, &n, &rej)) abort();
        if (rej.points > pts) abort();
    }
    vg_arena_deinit(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int json = data[0] & 1, gz = data[0] & 2;
    size_t len = size - 1;
    uint8_t *in = malloc(len ? len : 1);
    if (!in) return 0;
    if (len) memcpy(in, data + 1, len);
    ingest_otlp_limits_t def = INGEST_OTLP_LIMITS_DEFAULT;
    ingest_otlp_limits_t tight = {.max_decoded = 4096, .max_points = 4, .max_messages = 6, .max_attrs = 3,
                                  .max_key_len = 16, .max_value_len = 32, .max_depth = 3};
    if (gz) {
        vg_buf_t out = VG_BUF_INIT;
        vg_error_t err;
        int rc = ingest_otlp_gunzip(in, len, &tight, &out, &err);
        if (rc && (!err.msg[0] || err.code != rc)) abort();
        if (!rc && out.len > tight.max_decoded) abort();
        if (!rc) {
            uint8_t *exact = malloc(out.len ? out.len : 1);
            if (out.len) memcpy(exact, out.data, out.len);
            run(exact, out.len, json, &def);
            free(exact);
        }
        vg_buf_deinit(&out);
    } else {
        run(in, len, json, &def);
        run(in, len, json, &tight);
    }
    free(in);
    return 0;
}
