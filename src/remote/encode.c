/* The remote_write 1.0 request, sending side: prometheus.WriteRequest in protobuf, then one snappy
 * block (the receiving side is src/ingest/remote_write.c; the wire format is in docs/ingest.md).
 *
 *   WriteRequest { repeated TimeSeries timeseries = 1; }
 *   TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
 *   Label        { string name = 1; string value = 2; }
 *   Sample       { double value = 1; int64 timestamp = 2; }
 *
 * Sizes are computed first and every message is written once, front to back, into one buffer: no
 * per-sample allocation. Values are written as their IEEE-754 bits, so staleness markers pass as is. */
#include "remote/write.h"

#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>

static size_t uv_len(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) v >>= 7, n++;
    return n;
}

static uint8_t *put_uv(uint8_t *p, uint64_t v) {
    while (v >= 0x80) *p++ = (uint8_t)(v | 0x80), v >>= 7;
    *p++ = (uint8_t)v;
    return p;
}

static size_t label_len(const model_label_t *l) {
    size_t a = strlen(l->name), b = strlen(l->value);
    return 1 + uv_len(a) + a + 1 + uv_len(b) + b;
}

static size_t sample_len(int64_t t) {
    size_t n = 1 + 8; /* value: fixed64 */
    if (t) n += 1 + uv_len((uint64_t)t); /* int64: two's complement varint; 0 is the default, left out */
    return n;
}

static size_t series_len(const remote_pb_series_t *s) {
    size_t n = 0;
    for (size_t i = 0; i < s->n_labels; i++) {
        size_t l = label_len(&s->labels[i]);
        n += 1 + uv_len(l) + l;
    }
    for (size_t i = 0; i < s->n_samples; i++) {
        size_t l = sample_len(s->t[i]);
        n += 1 + uv_len(l) + l;
    }
    return n;
}

static int grow(remote_pb_buf_t *b, size_t need) {
    if (b->cap >= need) return 0;
    size_t nc = b->cap ? b->cap : 4096;
    while (nc < need) nc *= 2;
    uint8_t *np = realloc(b->p, nc);
    if (!np) return VG_ENOMEM;
    b->p = np;
    b->cap = nc;
    return 0;
}

int remote_pb_encode(const remote_pb_series_t *s, size_t n, remote_pb_buf_t *pb, remote_pb_buf_t *out) {
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = series_len(&s[i]);
        total += 1 + uv_len(l) + l;
    }
    if (grow(pb, total ? total : 1)) return VG_ENOMEM;
    uint8_t *p = pb->p;
    for (size_t i = 0; i < n; i++) {
        *p++ = 0x0a; /* field 1, length-delimited */
        p = put_uv(p, series_len(&s[i]));
        for (size_t k = 0; k < s[i].n_labels; k++) {
            const model_label_t *l = &s[i].labels[k];
            size_t a = strlen(l->name), b = strlen(l->value);
            *p++ = 0x0a;
            p = put_uv(p, label_len(l));
            *p++ = 0x0a;
            p = put_uv(p, a);
            memcpy(p, l->name, a), p += a;
            *p++ = 0x12;
            p = put_uv(p, b);
            memcpy(p, l->value, b), p += b;
        }
        for (size_t k = 0; k < s[i].n_samples; k++) {
            *p++ = 0x12;
            p = put_uv(p, sample_len(s[i].t[k]));
            *p++ = 0x09; /* field 1, fixed64 */
            uint64_t bits;
            memcpy(&bits, &s[i].v[k], 8);
            for (int j = 0; j < 8; j++) *p++ = (uint8_t)(bits >> (8 * j));
            if (s[i].t[k]) {
                *p++ = 0x10; /* field 2, varint */
                p = put_uv(p, (uint64_t)s[i].t[k]);
            }
        }
    }
    pb->len = (size_t)(p - pb->p);
    size_t clen = snappy_max_compressed_length(pb->len);
    if (grow(out, clen)) return VG_ENOMEM;
    if (snappy_compress((const char *)pb->p, pb->len, (char *)out->p, &clen) != SNAPPY_OK) return VG_ENOMEM;
    out->len = clen;
    return 0;
}

void remote_pb_buf_free(remote_pb_buf_t *b) {
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}
