/* POST /api/v1/read: Prometheus' remote read, served from vigil's storage as Prometheus 2.42 serves it.
 *
 * The body is a snappy-compressed prometheus.ReadRequest (remote/read.c decodes it under
 * remote_read_limits: decoded size, queries). The response type is negotiated from
 * accepted_response_types (the first one implemented; none listed: SAMPLES):
 *
 *   - SAMPLES: one snappy-compressed ReadResponse, Content-Type application/x-protobuf,
 *     Content-Encoding snappy;
 *   - STREAMED_XOR_CHUNKS: frames of ChunkedReadResponse (REMOTE_READ_CHUNKED_CT), series in label
 *     order, each series' samples cut into XOR chunks of at most TSDB_CHUNK_MAX_SAMPLES (the encoding
 *     of Prometheus' chunkenc.XORChunk), a frame closed once its series reach
 *     remote_read_limits.max_bytes_in_frame (a series is never split across frames).
 *
 * Every query goes through service_remote_read, which enforces a tenant's matcher on the query's
 * matchers (403 for a matcher on another tenant's value) and counts the samples against
 * remote_read_limits.sample_limit for the whole request. The answer is built whole before it is sent,
 * so a failing query is an error response, never a truncated stream. */
#include "api.h"

#include "remote/remote.h"
#include "tsdb/chunkenc.h"

#include <string.h>

/* Cuts s's samples into XOR chunks (arena). */
static int xor_chunks(const remote_read_series_t *s, vg_arena_t *arena, remote_read_chunk_t **out, size_t *n_out,
                      size_t *bytes, vg_error_t *err) {
    size_t n = (s->n_samples + TSDB_CHUNK_MAX_SAMPLES - 1) / TSDB_CHUNK_MAX_SAMPLES;
    remote_read_chunk_t *cs = vg_arena_calloc(arena, n ? n : 1, sizeof *cs);
    if (!cs) return vg_error_set(err, VG_ENOMEM, "out of memory");
    for (size_t c = 0; c < n; c++) {
        size_t from = c * TSDB_CHUNK_MAX_SAMPLES, to = from + TSDB_CHUNK_MAX_SAMPLES;
        if (to > s->n_samples) to = s->n_samples;
        tsdb_xor_enc_t e;
        tsdb_xor_enc_init(&e);
        int rc = 0;
        for (size_t i = from; !rc && i < to; i++) rc = tsdb_xor_enc_append(&e, s->t[i], s->v[i]);
        size_t len = tsdb_xor_enc_len(&e);
        uint8_t *data = rc ? NULL : vg_arena_alloc(arena, len ? len : 1);
        if (data) memcpy(data, e.buf, len);
        tsdb_xor_enc_deinit(&e);
        if (!data) return vg_error_set(err, VG_ENOMEM, "out of memory");
        cs[c] = (remote_read_chunk_t){s->t[from], s->t[to - 1], data, len};
        *bytes += len + 32;
    }
    *out = cs;
    *n_out = n;
    return 0;
}

/* One query's series as frames appended to body. */
static int stream_query(http_req_t *req, int64_t index, const remote_read_series_t *series, size_t n, size_t max_frame,
                        vg_buf_t *body) {
    const remote_read_chunk_t **chunks = vg_arena_calloc(req->arena, n ? n : 1, sizeof *chunks);
    size_t *n_chunks = vg_arena_calloc(req->arena, n ? n : 1, sizeof *n_chunks);
    if (!chunks || !n_chunks) return vg_error_set(&req->err, VG_ENOMEM, "out of memory");
    size_t first = 0, bytes = 0;
    for (size_t i = 0; i < n; i++) {
        remote_read_chunk_t *cs = NULL;
        int rc = xor_chunks(&series[i], req->arena, &cs, &n_chunks[i], &bytes, &req->err);
        if (rc) return rc;
        chunks[i] = cs;
        for (size_t k = 0; k < series[i].n_labels; k++)
            bytes += strlen(series[i].labels[k].name) + strlen(series[i].labels[k].value) + 8;
        if (bytes >= max_frame || i + 1 == n) {
            if (remote_read_frame(body, index, series + first, chunks + first, n_chunks + first, i + 1 - first))
                return vg_error_set(&req->err, VG_ENOMEM, "out of memory");
            first = i + 1;
            bytes = 0;
        }
    }
    return 0;
}

int api_read(http_req_t *req, http_resp_t *resp) {
    service_ctx_t *ctx = req->ctx;
    const config_remote_read_t *lim = &ctx->cfg->remote_read_limits;
    remote_read_limits_t rl = {.max_decoded = lim->max_request_bytes, .max_queries = (size_t)lim->max_queries};
    remote_read_request_t rr;
    int type;
    int rc = remote_read_request_decode(req->body, req->body_len, &rl, req->arena, &rr, &req->err);
    if (rc || (rc = remote_read_negotiate(&rr, &type, &req->err))) return rc;
    int64_t left = lim->sample_limit;
    remote_read_response_t samples;
    remote_read_response_init(&samples);
    vg_buf_t frames = VG_BUF_INIT;
    for (size_t i = 0; !rc && i < rr.n_queries; i++) {
        remote_read_series_t *series;
        size_t n;
        if ((rc = service_remote_read(ctx, &rr.queries[i], &left, req->arena, &series, &n, &req->err))) break;
        if (type == REMOTE_READ_SAMPLES) rc = remote_read_response_query(&samples, series, n);
        else rc = stream_query(req, (int64_t)i, series, n, lim->max_bytes_in_frame, &frames);
        if (rc == VG_ENOMEM) vg_error_set(&req->err, rc, "out of memory");
    }
    if (!rc && type == REMOTE_READ_SAMPLES) {
        if ((rc = remote_read_response_finish(&samples, &resp->body))) vg_error_set(&req->err, rc, "out of memory");
        resp->content_type = "application/x-protobuf";
        http_resp_header(resp, "Content-Encoding", "snappy");
    } else if (!rc) {
        if (frames.failed || vg_buf_append(&resp->body, frames.data ? frames.data : "", frames.len))
            rc = vg_error_set(&req->err, VG_ENOMEM, "out of memory");
        resp->content_type = REMOTE_READ_CHUNKED_CT;
    }
    remote_read_response_deinit(&samples);
    vg_buf_deinit(&frames);
    return rc;
}
