/* Fuzz target: any bytes given to the remote_write decoder — as a snappy body and as raw protobuf,
 * with default and with tight limits — load or fail with a message, never crash, leak or read
 * outside the input. Checks: iteration after a successful load yields exactly the counts load()
 * reported, every label slice lies inside the decoded bytes, limits hold, a failed load leaves
 * nothing to iterate, and error offsets lie inside the input. */
#include "ingest/ingest.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int inside(ingest_str_t s, const uint8_t *b, size_t n) {
    if (s.len == 0) return 1;
    return (const uint8_t *)s.ptr >= b && (const uint8_t *)s.ptr + s.len <= b + n;
}

static void check(ingest_rw_reader_t *r, int rc, const vg_error_t *err, size_t in_len, int raw) {
    ingest_rw_series_t s;
    ingest_rw_metadata_t md;
    if (rc != 0) {
        if (err->msg[0] == '\0' || err->code != rc) abort();
        if (raw && rc == VG_EINVAL && (err->pos < 0 || (size_t)err->pos > in_len)) abort();
        if (ingest_rw_reader_next_series(r, &s) != 0 || ingest_rw_reader_next_metadata(r, &md) != 0) abort();
        return;
    }
    const ingest_rw_stats_t *st = ingest_rw_reader_stats(r);
    const uint8_t *b = r->data;
    size_t n = r->len, ns = 0, nsmp = 0, nex = 0, nh = 0, nmd = 0;
    if (r->lim.max_series && st->n_series > r->lim.max_series) abort();
    while (ingest_rw_reader_next_series(r, &s)) {
        ns++;
        if (r->lim.max_labels && s.n_labels > r->lim.max_labels) abort();
        for (size_t i = 0; i < s.n_labels; i++) {
            if (!inside(s.labels[i].name, b, n) || !inside(s.labels[i].value, b, n)) abort();
            if (r->lim.max_name_len && s.labels[i].name.len > r->lim.max_name_len) abort();
            if (r->lim.max_value_len && s.labels[i].value.len > r->lim.max_value_len) abort();
        }
        ingest_rw_sample_t smp;
        size_t k = 0;
        while (ingest_rw_series_next_sample(&s, &smp)) k++;
        if (k != s.n_samples) abort();
        nsmp += k;
        nex += s.n_exemplars;
        nh += s.n_histograms;
    }
    while (ingest_rw_reader_next_metadata(r, &md)) {
        nmd++;
        if (!inside(md.family, b, n) || !inside(md.help, b, n) || !inside(md.unit, b, n)) abort();
    }
    if (ns != st->n_series || nsmp != st->n_samples || nex != st->n_exemplars || nh != st->n_histograms ||
        nmd != st->n_metadata)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *buf = malloc(size ? size : 1); /* exact size: ASan flags any over-read */
    if (!buf) return 0;
    memcpy(buf, data, size);
    static const ingest_rw_limits_t tight = {.max_decoded = 4096, .max_series = 4, .max_labels = 3,
                                             .max_name_len = 16, .max_value_len = 16};
    for (int pass = 0; pass < 2; pass++) {
        ingest_rw_reader_t r;
        ingest_rw_reader_init(&r, pass ? &tight : NULL);
        vg_error_t err;
        int rc = ingest_rw_reader_load(&r, buf, size, &err);
        check(&r, rc, &err, size, 0);
        rc = ingest_rw_reader_load_pb(&r, buf, size, &err);
        check(&r, rc, &err, size, 1);
        ingest_rw_reader_deinit(&r);
    }
    free(buf);
    return 0;
}
