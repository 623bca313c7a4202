/* libFuzzer target: arbitrary bytes as a block index (format v2). Opening must fail cleanly or
 * succeed; an index that opens is then walked the way a querier does (label names and values, every
 * postings list, every series entry of the all-series list) and verified. Nothing may read outside the
 * input. Seeds are indexes vigil's block writer produced (tests/fuzz/block_index/seeds). */
#include "tsdb/block_int.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* a private copy, exactly size bytes long, so ASan sees any read past the end */
    uint8_t *b = malloc(size ? size : 1);
    if (!b) return 0;
    if (size) memcpy(b, data, size);
    tsdb__index_t *ix;
    vg_error_t err;
    if (tsdb__index_open(b, size, "fuzz", &ix, &err) == 0) {
        tsdb__idvec_t ids = {0};
        model_label_t *l = NULL;
        tsdb__chunk_meta_t *c = NULL;
        size_t lcap = 0, ccap = 0, nl, nc;
        for (uint32_t i = 0; i < ix->n_names; i++) {
            (void)tsdb__index_name(ix, ix->syms[ix->names[i].name]);
            for (uint32_t j = 0; j < ix->names[i].n; j++) {
                ids.n = 0;
                (void)tsdb__index_postings(ix, ix->vals[ix->names[i].first + j].off, &ids, &err);
            }
        }
        ids.n = 0;
        if (ix->all_off && tsdb__index_postings(ix, ix->all_off, &ids, &err) == 0)
            for (size_t i = 0; i < ids.n; i++)
                if (tsdb__index_series(ix, ids.v[i], &l, &nl, &lcap, &c, &nc, &ccap, &err) == 0)
                    for (size_t k = 0; k < nl; k++) (void)tsdb__index_sym(ix, l[k].value);
        (void)tsdb__index_verify(ix, &err);
        free(l);
        free(c);
        tsdb__idvec_free(&ids);
        tsdb__index_close(ix);
    }
    free(b);
    return 0;
}
