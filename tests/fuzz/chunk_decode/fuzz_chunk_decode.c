/* libFuzzer target: arbitrary bytes as an XOR chunk — iterate it, and reopen it for appending; if it
 * decodes, appending one more sample and decoding again must reproduce every sample. */
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
    return 0;
}
