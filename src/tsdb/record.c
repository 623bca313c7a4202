/* WAL record framing and payload codec: what the bytes of a record mean (layout in
 * docs/format/wal.md). Encoding appends to a growable buffer; decoding walks a payload with explicit
 * bounds and reports VG_ECORRUPT for anything malformed — it never trusts a length from disk. */
#include "tsdb/tsdb_int.h"

#include "util/crc32c.h"
#include "util/varint.h"

#include <stdlib.h>
#include <string.h>
#include <zstd.h>

static bool reserve(tsdb__recbuf_t *b, size_t n) {
    if (b->failed) return false;
    if (b->len + n <= b->cap) return true;
    size_t nc = b->cap ? b->cap * 2 : 4096;
    while (nc < b->len + n) nc *= 2;
    uint8_t *np = realloc(b->p, nc);
    if (!np) {
        b->failed = true;
        return false;
    }
    b->p = np;
    b->cap = nc;
    return true;
}

void tsdb__recbuf_reset(tsdb__recbuf_t *b) {
    b->len = 0;
    b->start = 0;
    b->failed = false;
}

void tsdb__recbuf_free(tsdb__recbuf_t *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

void tsdb__rec_begin(tsdb__recbuf_t *b, uint8_t type) {
    if (!reserve(b, TSDB__REC_HDR)) return;
    b->start = b->len;
    memset(b->p + b->len, 0, TSDB__REC_HDR);
    b->p[b->len] = type;
    b->len += TSDB__REC_HDR;
}

void tsdb__rec_put_uvarint(tsdb__recbuf_t *b, uint64_t v) {
    if (reserve(b, VG_VARINT_MAX)) b->len += vg_uvarint_put(b->p + b->len, v);
}

void tsdb__rec_put_varint(tsdb__recbuf_t *b, int64_t v) {
    if (reserve(b, VG_VARINT_MAX)) b->len += vg_varint_put(b->p + b->len, v);
}

void tsdb__rec_put_u64le(tsdb__recbuf_t *b, uint64_t v) {
    if (!reserve(b, 8)) return;
    for (int i = 0; i < 8; i++) b->p[b->len + (size_t)i] = (uint8_t)(v >> (8 * i));
    b->len += 8;
}

void tsdb__rec_put_bytes(tsdb__recbuf_t *b, const void *p, size_t n) {
    if (!reserve(b, n)) return;
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void put_u32le(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get_u32le(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void tsdb__rec_end(tsdb__recbuf_t *b) {
    if (b->failed) return;
    uint8_t *h = b->p + b->start;
    size_t plen = b->len - b->start - TSDB__REC_HDR;
    if (plen == 0) { /* nothing in it */
        b->len = b->start;
        return;
    }
    if (plen > TSDB__REC_MAX) {
        b->failed = true;
        return;
    }
    put_u32le(h + 1, (uint32_t)plen);
    uint32_t crc = vg_crc32c_update(0, h, 5);
    crc = vg_crc32c_update(crc, h + TSDB__REC_HDR, plen);
    put_u32le(h + 5, crc);
}

void tsdb__rec_series(tsdb__recbuf_t *b, uint64_t ref, const model_label_t *l, size_t n) {
    tsdb__rec_put_uvarint(b, ref);
    tsdb__rec_put_uvarint(b, n);
    for (size_t i = 0; i < n; i++) {
        size_t a = strlen(l[i].name), v = strlen(l[i].value);
        tsdb__rec_put_uvarint(b, a);
        tsdb__rec_put_bytes(b, l[i].name, a);
        tsdb__rec_put_uvarint(b, v);
        tsdb__rec_put_bytes(b, l[i].value, v);
    }
}

/* zstd level 1: the samples records of scraped data shrink from 10.8 to 4.7 bytes per sample (bench_tsdb). */
#define ZSTD_LEVEL 1
#define COMPRESS_MIN 64 /* smaller payloads do not gain from a frame header */

void tsdb__rec_compress(const tsdb__recbuf_t *in, tsdb__recbuf_t *out, void *zctx) {
    for (size_t off = 0; off + TSDB__REC_HDR <= in->len && !out->failed;) {
        const uint8_t *r = in->p + off;
        size_t plen = get_u32le(r + 1), rlen = TSDB__REC_HDR + plen;
        size_t mark = out->len;
        if (r[0] == TSDB__REC_SAMPLES && plen >= COMPRESS_MIN) {
            size_t bound = ZSTD_compressBound(plen);
            tsdb__rec_begin(out, TSDB__REC_SAMPLES_ZSTD);
            tsdb__rec_put_uvarint(out, plen);
            if (reserve(out, bound)) {
                size_t z = ZSTD_compressCCtx(zctx, out->p + out->len, bound, r + TSDB__REC_HDR, plen, ZSTD_LEVEL);
                if (!ZSTD_isError(z) && out->len + z - mark < rlen) {
                    out->len += z;
                    tsdb__rec_end(out);
                    off += rlen;
                    continue;
                }
            }
            if (out->failed) return;
            out->len = mark; /* not smaller: keep it as it is */
        }
        tsdb__rec_put_bytes(out, r, rlen);
        off += rlen;
    }
}

long tsdb__rec_frame(const uint8_t *p, size_t avail) {
    if (avail < TSDB__REC_HDR) return 0;
    uint8_t type = p[0];
    if (type < TSDB__REC_SERIES || type > TSDB__REC_SAMPLES_ZSTD) return -1;
    uint32_t len = get_u32le(p + 1);
    if (len == 0 || len > TSDB__REC_MAX) return -1;
    if ((size_t)len > avail - TSDB__REC_HDR) return 0;
    uint32_t crc = vg_crc32c_update(0, p, 5);
    crc = vg_crc32c_update(crc, p + TSDB__REC_HDR, len);
    if (crc != get_u32le(p + 5)) return -1;
    return (long)(TSDB__REC_HDR + len);
}

#define MAX_LABELS 1024
#define STR_MAX 65536

static int decode_series(const uint8_t *p, const uint8_t *end, const tsdb__rec_handler_t *h) {
    model_label_t *l = malloc(MAX_LABELS * sizeof *l);
    int rc = 0;
    if (!l) {
        rc = VG_ENOMEM;
        goto out;
    }
    while (p < end) {
        uint64_t ref, n;
        size_t k;
        if (!(k = vg_uvarint_get(p, end, &ref))) goto corrupt;
        p += k;
        if (!(k = vg_uvarint_get(p, end, &n)) || n == 0 || n > MAX_LABELS) goto corrupt;
        p += k;
        /* Copy each pair into NUL-terminated scratch: names/values are not terminated on disk. */
        char *arena = NULL;
        size_t arena_len = 0;
        for (uint64_t i = 0; i < n; i++) {
            uint64_t sl[2];
            const uint8_t *s[2];
            for (int j = 0; j < 2; j++) {
                if (!(k = vg_uvarint_get(p, end, &sl[j])) || sl[j] > STR_MAX) goto corrupt_free;
                p += k;
                if ((uint64_t)(end - p) < sl[j]) goto corrupt_free;
                s[j] = p;
                p += sl[j];
            }
            char *na = realloc(arena, arena_len + sl[0] + sl[1] + 2);
            if (!na) {
                free(arena);
                rc = VG_ENOMEM;
                goto out;
            }
            arena = na;
            memcpy(arena + arena_len, s[0], sl[0]);
            arena[arena_len + sl[0]] = '\0';
            memcpy(arena + arena_len + sl[0] + 1, s[1], sl[1]);
            arena[arena_len + sl[0] + 1 + sl[1]] = '\0';
            l[i].name = (const char *)(uintptr_t)arena_len; /* offsets until arena stops moving */
            l[i].value = (const char *)(uintptr_t)(arena_len + sl[0] + 1);
            arena_len += sl[0] + sl[1] + 2;
        }
        for (uint64_t i = 0; i < n; i++) {
            l[i].name = arena + (uintptr_t)l[i].name;
            l[i].value = arena + (uintptr_t)l[i].value;
        }
        rc = h->series ? h->series(h->ctx, ref, l, (size_t)n) : 0;
        free(arena);
        if (rc) goto out;
        continue;
    corrupt_free:
        free(arena);
        goto corrupt;
    }
    goto out;
corrupt:
    rc = VG_ECORRUPT;
out:
    free(l);
    return rc;
}

static int decode_samples(const uint8_t *p, const uint8_t *end, const tsdb__rec_handler_t *h) {
    int64_t ref = 0, t = 0;
    while (p < end) {
        int64_t dr, dt;
        size_t k;
        if (!(k = vg_varint_get(p, end, &dr))) return VG_ECORRUPT;
        p += k;
        if (!(k = vg_varint_get(p, end, &dt))) return VG_ECORRUPT;
        p += k;
        if (end - p < 8) return VG_ECORRUPT;
        uint64_t v = 0;
        for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
        p += 8;
        ref = (int64_t)((uint64_t)ref + (uint64_t)dr);
        t = (int64_t)((uint64_t)t + (uint64_t)dt);
        if (ref <= 0) return VG_ECORRUPT;
        int rc = h->sample ? h->sample(h->ctx, (uint64_t)ref, t, v) : 0;
        if (rc) return rc;
    }
    return 0;
}

void tsdb__rec_scratch_free(tsdb__rec_scratch_t *s) {
    ZSTD_freeDCtx(s->dctx);
    free(s->buf);
    memset(s, 0, sizeof *s);
}

/* uvarint raw_len, then one zstd frame holding a samples payload of exactly raw_len bytes. */
static int decode_samples_zstd(const uint8_t *p, const uint8_t *end, const tsdb__rec_handler_t *h) {
    uint64_t raw;
    size_t k = vg_uvarint_get(p, end, &raw);
    if (!k || raw == 0 || raw > TSDB__REC_MAX) return VG_ECORRUPT;
    p += k;
    if (ZSTD_getFrameContentSize(p, (size_t)(end - p)) != raw) return VG_ECORRUPT;
    tsdb__rec_scratch_t own = {0}, *s = h->scratch ? h->scratch : &own;
    if (!s->dctx && !(s->dctx = ZSTD_createDCtx())) return VG_ENOMEM;
    if (s->cap < raw) {
        uint8_t *nb = realloc(s->buf, (size_t)raw);
        if (!nb) {
            tsdb__rec_scratch_free(&own);
            return VG_ENOMEM;
        }
        s->buf = nb, s->cap = (size_t)raw;
    }
    size_t n = ZSTD_decompressDCtx(s->dctx, s->buf, (size_t)raw, p, (size_t)(end - p));
    int rc = ZSTD_isError(n) || n != raw ? VG_ECORRUPT : decode_samples(s->buf, s->buf + raw, h);
    tsdb__rec_scratch_free(&own);
    return rc;
}

static int decode_chunk(const uint8_t *p, const uint8_t *end, const tsdb__rec_handler_t *h) {
    uint64_t ref, len;
    int64_t mint, maxt;
    size_t k;
    if (!(k = vg_uvarint_get(p, end, &ref)) || ref == 0) return VG_ECORRUPT;
    p += k;
    if (!(k = vg_varint_get(p, end, &mint))) return VG_ECORRUPT;
    p += k;
    if (!(k = vg_varint_get(p, end, &maxt))) return VG_ECORRUPT;
    p += k;
    if (end - p < 2) return VG_ECORRUPT;
    uint8_t enc = *p++, flags = *p++;
    if ((enc != TSDB_ENC_XOR && enc != TSDB_ENC_DENSE) || (flags & ~3u)) return VG_ECORRUPT;
    if ((flags & TSDB__CHUNK_OPEN) && enc != TSDB_ENC_XOR) return VG_ECORRUPT;
    if (!(k = vg_uvarint_get(p, end, &len)) || len > TSDB_CHUNK_MAX_BYTES) return VG_ECORRUPT;
    p += k;
    if ((uint64_t)(end - p) != len || mint > maxt) return VG_ECORRUPT;
    return h->chunk ? h->chunk(h->ctx, ref, mint, maxt, enc, flags, p, (uint32_t)len) : 0;
}

int tsdb__rec_decode(uint8_t type, const uint8_t *p, size_t len, const tsdb__rec_handler_t *h) {
    const uint8_t *end = p + len;
    switch (type) {
    case TSDB__REC_SERIES: return decode_series(p, end, h);
    case TSDB__REC_SAMPLES: return decode_samples(p, end, h);
    case TSDB__REC_SAMPLES_ZSTD: return decode_samples_zstd(p, end, h);
    case TSDB__REC_CHUNK: return decode_chunk(p, end, h);
    }
    return VG_ECORRUPT;
}
