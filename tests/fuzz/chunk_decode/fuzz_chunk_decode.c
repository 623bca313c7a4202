/* libFuzzer target: arbitrary bytes as a chunk of each encoding. XOR: iterate it and reopen it for
 * appending; if it decodes, appending one more sample and decoding again must reproduce every sample,
 * and its dense re-encoding must decode to the same samples. Dense: decode it; if it decodes,
 * re-encoding and decoding again must be the identity. */
#include "tsdb/chunkenc.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tsdb_xor_iter_t it;
    tsdb_xor_iter_init(&it, data, size);
    int64_t ts[TSDB_CHUNK_MAX_SAMPLES + 1];
    uint64_t vs[TSDB_CHUNK_MAX_SAMPLES + 1];
    size_t n = 0;
    while (tsdb_xor_iter_next(&it)) {
        if (n < TSDB_CHUNK_MAX_SAMPLES) ts[n] = it.t, vs[n] = it.v;
        n++;
    }
    tsdb_xor_enc_t e;
    if (tsdb_xor_enc_resume(&e, data, size) != 0) return 0;
    if (e.n < TSDB_CHUNK_MAX_SAMPLES && e.t < INT64_MAX) {
        if (tsdb_xor_enc_append(&e, e.t + 1, 1.5) == 0) {
            ts[n] = e.t;
            memcpy(&vs[n], &(double){1.5}, 8);
            n++;
            tsdb_xor_iter_init(&it, e.buf, tsdb_xor_enc_len(&e));
            size_t i = 0;
            while (tsdb_xor_iter_next(&it)) {
                if (i >= n || it.t != ts[i] || it.v != vs[i]) abort();
                i++;
            }
            if (it.err || i != n) abort();
        }
    }
    tsdb_xor_enc_deinit(&e);
    /* dense */
    uint8_t dense[TSDB_CHUNK_MAX_BYTES];
    size_t dl = n && n <= TSDB_CHUNK_MAX_SAMPLES ? tsdb_dense_encode(ts, vs, n, dense, sizeof dense) : 0;
    int64_t t2[TSDB_CHUNK_MAX_SAMPLES];
    uint64_t v2[TSDB_CHUNK_MAX_SAMPLES];
    if (dl) {
        int k = tsdb_dense_decode(dense, dl, t2, v2);
        if (k != (int)n) abort();
        for (size_t i = 0; i < n; i++)
            if (t2[i] != ts[i] || v2[i] != vs[i]) abort();
    }
    int k = tsdb_dense_decode(data, size, t2, v2);
    if (k > 0) {
        dl = tsdb_dense_encode(t2, v2, (size_t)k, dense, sizeof dense);
        if (dl) {
            int64_t t3[TSDB_CHUNK_MAX_SAMPLES];
            uint64_t v3[TSDB_CHUNK_MAX_SAMPLES];
            if (tsdb_dense_decode(dense, dl, t3, v3) != k) abort();
            for (int i = 0; i < k; i++)
                if (t3[i] != t2[i] || v3[i] != v2[i]) abort();
        }
    }
    return 0;
}
