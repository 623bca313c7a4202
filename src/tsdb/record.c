/* WAL record framing and payload codec: what the bytes of a record mean, in both directions, for
 * every record type — series, samples, compressed samples, chunk (layout in docs/format/wal.md;
 * interface in record.h). No other file lays out or parses record bytes.
 *
 * Encoding appends to a growable buffer and latches `failed` on the first allocation failure (the
 * caller checks once per batch). Decoding walks a payload with explicit bounds and reports VG_ECORRUPT
 * for anything malformed — it never trusts a length from disk — with the record type, the byte offset
 * within the payload and what was expected versus found in the vg_error_t. */
#include "tsdb/record.h"

#include "tsdb/chunkenc.h"
#include "util/crc32c.h"
#include "util/fault.h"
#include "util/varint.h"

#include <stdlib.h>
#include <string.h>
#include <zstd.h>

static bool reserve(tsdb__recbuf_t *b, size_t n) {
    if (b->failed) return false;
    if (b->len + n <= b->cap) return true;
    size_t nc = b->cap ? b->cap * 2 : 4096;
    while (nc < b->len + n) nc *= 2;
    uint8_t *np = VG_FAULT_ALLOC_FAILS() ? NULL : realloc(b->p, nc);
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

static void put_uvarint(tsdb__recbuf_t *b, uint64_t v) {
    if (reserve(b, VG_VARINT_MAX)) b->len += vg_uvarint_put(b->p + b->len, v);
}

static void put_varint(tsdb__recbuf_t *b, int64_t v) {
    if (reserve(b, VG_VARINT_MAX)) b->len += vg_varint_put(b->p + b->len, v);
}

static void put_u64le(tsdb__recbuf_t *b, uint64_t v) {
    if (!reserve(b, 8)) return;
    for (int i = 0; i < 8; i++) b->p[b->len + (size_t)i] = (uint8_t)(v >> (8 * i));
    b->len += 8;
}

static void put_bytes(tsdb__recbuf_t *b, const void *p, size_t n) {
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

const char *tsdb__rec_type_name(uint8_t type) {
    switch (type) {
    case TSDB__REC_SERIES: return "series";
    case TSDB__REC_SAMPLES: return "samples";
    case TSDB__REC_CHUNK: return "chunk";
    case TSDB__REC_SAMPLES_ZSTD: return "compressed samples";
    }
    return "unknown";
}

void tsdb__rec_series(tsdb__recbuf_t *b, uint64_t ref, const model_label_t *l, size_t n) {
    put_uvarint(b, ref);
    put_uvarint(b, n);
    for (size_t i = 0; i < n; i++) {
        size_t a = strlen(l[i].name), v = strlen(l[i].value);
        put_uvarint(b, a);
        put_bytes(b, l[i].name, a);
        put_uvarint(b, v);
        put_bytes(b, l[i].value, v);
    }
}

void tsdb__rec_samples_begin(tsdb__recbuf_t *b, tsdb__samples_enc_t *e) {
    tsdb__rec_begin(b, TSDB__REC_SAMPLES);
    *e = (tsdb__samples_enc_t){0};
}

/* Each entry is a delta against the previous one of the same record (the first against 0). */
void tsdb__rec_sample(tsdb__recbuf_t *b, tsdb__samples_enc_t *e, uint64_t ref, int64_t t, uint64_t vbits) {
    if (e->n == TSDB__REC_SAMPLES_MAX) {
        tsdb__rec_end(b);
        tsdb__rec_samples_begin(b, e);
    }
    put_varint(b, (int64_t)(ref - (uint64_t)e->ref));
    put_varint(b, (int64_t)((uint64_t)t - (uint64_t)e->t));
    put_u64le(b, vbits);
    e->ref = (int64_t)ref;
    e->t = t;
    e->n++;
}

void tsdb__rec_samples_end(tsdb__recbuf_t *b, tsdb__samples_enc_t *e) {
    tsdb__rec_end(b);
    *e = (tsdb__samples_enc_t){0};
}

void tsdb__rec_chunk(tsdb__recbuf_t *b, uint64_t ref, int64_t mint, int64_t maxt, uint8_t enc, uint8_t flags,
                     const uint8_t *data, uint32_t len) {
    tsdb__rec_begin(b, TSDB__REC_CHUNK);
    put_uvarint(b, ref);
    put_varint(b, mint);
    put_varint(b, maxt);
    uint8_t ef[2] = {enc, flags};
    put_bytes(b, ef, 2);
    put_uvarint(b, len);
    put_bytes(b, data, len);
    tsdb__rec_end(b);
}

void tsdb__rec_raw(tsdb__recbuf_t *b, uint8_t type, const void *payload, size_t len) {
    tsdb__rec_begin(b, type);
    put_bytes(b, payload, len);
    tsdb__rec_end(b);
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
            put_uvarint(out, plen);
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
        put_bytes(out, r, rlen);
        off += rlen;
    }
}

long tsdb__rec_frame(const uint8_t *p, size_t avail, vg_error_t *err) {
    if (avail < TSDB__REC_HDR) {
        if (err) VG_CORRUPT(err, "record header truncated: %zu of %d bytes", avail, TSDB__REC_HDR);
        return 0;
    }
    uint8_t type = p[0];
    if (type < TSDB__REC_SERIES || type > TSDB__REC_SAMPLES_ZSTD) {
        if (err) VG_CORRUPT(err, "unknown record type %u (expected 1..4)", type);
        return -1;
    }
    uint32_t len = get_u32le(p + 1);
    if (len == 0 || len > TSDB__REC_MAX) {
        if (err)
            VG_CORRUPT(err, "%s record: payload length %u out of range (expected 1..%u)", tsdb__rec_type_name(type),
                       len, TSDB__REC_MAX);
        return -1;
    }
    if ((size_t)len > avail - TSDB__REC_HDR) {
        if (err)
            VG_CORRUPT(err, "%s record truncated: payload of %u bytes, %zu left", tsdb__rec_type_name(type), len,
                       avail - TSDB__REC_HDR);
        return 0;
    }
    uint32_t crc = vg_crc32c_update(0, p, 5);
    crc = vg_crc32c_update(crc, p + TSDB__REC_HDR, len);
    if (crc != get_u32le(p + 5)) {
        if (err)
            VG_CORRUPT(err, "%s record (%u bytes): bad CRC32C: stored %08x, computed %08x", tsdb__rec_type_name(type),
                       len, get_u32le(p + 5), crc);
        return -1;
    }
    return (long)(TSDB__REC_HDR + len);
}

#define MAX_LABELS 1024
#define STR_MAX 65536

/* A payload being decoded: the bounds, the cursor and the error to fill. */
typedef struct rd {
    const uint8_t *base, *p, *end;
    const char *rec; /* "samples record" etc., for messages */
    vg_error_t *err;
} rd_t;

static size_t rd_off(const rd_t *r) { return (size_t)(r->p - r->base); }
static size_t rd_len(const rd_t *r) { return (size_t)(r->end - r->base); }

/* Sets err for a malformed field at the cursor: "<type> record: <what> at byte i of n". */
#define RD_CORRUPT(r, fmt, ...) \
    VG_CORRUPT((r)->err, "%s: " fmt " at byte %zu of %zu", (r)->rec, __VA_ARGS__, rd_off(r), rd_len(r))

static bool varint_fail(rd_t *r, const char *field) {
    /* truncated: every byte up to the end has its continuation bit set; else more than 10 bytes */
    bool truncated = r->end - r->p < VG_VARINT_MAX;
    for (const uint8_t *q = r->p; truncated && q < r->end; q++) truncated = *q & 0x80;
    RD_CORRUPT(r, "%s: %s varint", field, truncated ? "truncated" : "overlong");
    return false;
}

static bool rd_uvarint(rd_t *r, const char *field, uint64_t *v) {
    size_t k = vg_uvarint_get(r->p, r->end, v);
    if (!k) return varint_fail(r, field);
    r->p += k;
    return true;
}

static bool rd_varint(rd_t *r, const char *field, int64_t *v) {
    size_t k = vg_varint_get(r->p, r->end, v);
    if (!k) return varint_fail(r, field);
    r->p += k;
    return true;
}

static bool rd_need(rd_t *r, const char *field, uint64_t n) {
    if ((uint64_t)(r->end - r->p) >= n) return true;
    RD_CORRUPT(r, "%s: need %llu bytes, %zu left", field, (unsigned long long)n, (size_t)(r->end - r->p));
    return false;
}

/* A callback refused the entry that starts at byte `at`. */
static int rejected(rd_t *r, int rc, const char *what, uint64_t ref, size_t at) {
    if (rc == VG_ECORRUPT)
        return VG_CORRUPT(r->err, "%s: %s for series %llu at byte %zu of %zu rejected as inconsistent", r->rec,
                          what, (unsigned long long)ref, at, rd_len(r));
    return vg_error_set(r->err, rc, "%s: %s for series %llu at byte %zu of %zu: %s", r->rec, what,
                        (unsigned long long)ref, at, rd_len(r), vg_error_str(rc));
}

static int decode_series(rd_t *r, const tsdb__rec_handler_t *h) {
    model_label_t *l = VG_FAULT_ALLOC_FAILS() ? NULL : malloc(MAX_LABELS * sizeof *l);
    char *arena = NULL;
    int rc = 0;
    if (!l) {
        rc = vg_error_set(r->err, VG_ENOMEM, "%s: out of memory", r->rec);
        goto out;
    }
    while (r->p < r->end) {
        uint64_t ref, n;
        size_t at = rd_off(r);
        if (!rd_uvarint(r, "series ref", &ref) || !rd_uvarint(r, "label count", &n)) goto corrupt;
        if (n == 0 || n > MAX_LABELS) {
            RD_CORRUPT(r, "label count %llu out of range (expected 1..%d)", (unsigned long long)n, MAX_LABELS);
            goto corrupt;
        }
        /* Copy each pair into NUL-terminated scratch: names/values are not terminated on disk. */
        size_t arena_len = 0;
        for (uint64_t i = 0; i < n; i++) {
            uint64_t sl[2];
            const uint8_t *s[2];
            for (int j = 0; j < 2; j++) {
                const char *what = j ? "label value length" : "label name length";
                if (!rd_uvarint(r, what, &sl[j])) goto corrupt;
                if (sl[j] > STR_MAX) {
                    RD_CORRUPT(r, "%s %llu above %d", what, (unsigned long long)sl[j], STR_MAX);
                    goto corrupt;
                }
                if (!rd_need(r, j ? "label value" : "label name", sl[j])) goto corrupt;
                s[j] = r->p;
                r->p += sl[j];
            }
            char *na = VG_FAULT_ALLOC_FAILS() ? NULL : realloc(arena, arena_len + sl[0] + sl[1] + 2);
            if (!na) {
                rc = vg_error_set(r->err, VG_ENOMEM, "%s: out of memory", r->rec);
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
        arena = NULL;
        if (rc) {
            rc = rejected(r, rc, "labels", ref, at);
            goto out;
        }
    }
    goto out;
corrupt:
    rc = VG_ECORRUPT;
out:
    free(arena);
    free(l);
    return rc;
}

static int decode_samples(rd_t *r, const tsdb__rec_handler_t *h) {
    int64_t ref = 0, t = 0;
    while (r->p < r->end) {
        int64_t dr, dt;
        size_t at = rd_off(r);
        if (!rd_varint(r, "series ref delta", &dr) || !rd_varint(r, "timestamp delta", &dt)) return VG_ECORRUPT;
        if (!rd_need(r, "value", 8)) return VG_ECORRUPT;
        uint64_t v = 0;
        for (int i = 0; i < 8; i++) v |= (uint64_t)r->p[i] << (8 * i);
        r->p += 8;
        ref = (int64_t)((uint64_t)ref + (uint64_t)dr);
        t = (int64_t)((uint64_t)t + (uint64_t)dt);
        if (ref <= 0) {
            r->p = r->base + at;
            return RD_CORRUPT(r, "series ref %lld not positive", (long long)ref);
        }
        int rc = h->sample ? h->sample(h->ctx, (uint64_t)ref, t, v) : 0;
        if (rc) return rejected(r, rc, "sample", (uint64_t)ref, at);
    }
    return 0;
}

void tsdb__rec_scratch_free(tsdb__rec_scratch_t *s) {
    ZSTD_freeDCtx(s->dctx);
    free(s->buf);
    memset(s, 0, sizeof *s);
}

/* uvarint raw_len, then one zstd frame holding a samples payload of exactly raw_len bytes. */
static int decode_samples_zstd(rd_t *r, const tsdb__rec_handler_t *h) {
    uint64_t raw;
    if (!rd_uvarint(r, "raw length", &raw)) return VG_ECORRUPT;
    if (raw == 0 || raw > TSDB__REC_MAX)
        return RD_CORRUPT(r, "raw length %llu out of range (expected 1..%u)", (unsigned long long)raw, TSDB__REC_MAX);
    unsigned long long fcs = ZSTD_getFrameContentSize(r->p, (size_t)(r->end - r->p));
    if (fcs != raw) {
        if (fcs == ZSTD_CONTENTSIZE_ERROR || fcs == ZSTD_CONTENTSIZE_UNKNOWN)
            return RD_CORRUPT(r, "%s", "no zstd frame header with a content size");
        return RD_CORRUPT(r, "zstd frame of %llu bytes, raw length says %llu", fcs, (unsigned long long)raw);
    }
    tsdb__rec_scratch_t own = {0}, *s = h->scratch ? h->scratch : &own;
    if (!s->dctx && (VG_FAULT_ALLOC_FAILS() || !(s->dctx = ZSTD_createDCtx())))
        return vg_error_set(r->err, VG_ENOMEM, "%s: out of memory", r->rec);
    if (s->cap < raw) {
        uint8_t *nb = VG_FAULT_ALLOC_FAILS() ? NULL : realloc(s->buf, (size_t)raw);
        if (!nb) {
            tsdb__rec_scratch_free(&own);
            return vg_error_set(r->err, VG_ENOMEM, "%s: out of memory", r->rec);
        }
        s->buf = nb, s->cap = (size_t)raw;
    }
    size_t n = ZSTD_decompressDCtx(s->dctx, s->buf, (size_t)raw, r->p, (size_t)(r->end - r->p));
    int rc;
    if (ZSTD_isError(n)) {
        rc = RD_CORRUPT(r, "zstd frame does not decompress (%s)", ZSTD_getErrorName(n));
    } else if (n != raw) {
        rc = RD_CORRUPT(r, "zstd frame decompressed to %zu bytes, expected %llu", n, (unsigned long long)raw);
    } else {
        /* the inner payload's offsets are reported within the decompressed bytes */
        rd_t in = {.base = s->buf, .p = s->buf, .end = s->buf + raw, .rec = "compressed samples record, decompressed payload",
                   .err = r->err};
        rc = decode_samples(&in, h);
    }
    tsdb__rec_scratch_free(&own);
    return rc;
}

static int decode_chunk(rd_t *r, const tsdb__rec_handler_t *h) {
    uint64_t ref, len;
    int64_t mint, maxt;
    if (!rd_uvarint(r, "series ref", &ref)) return VG_ECORRUPT;
    if (ref == 0) return RD_CORRUPT(r, "%s", "series ref 0");
    if (!rd_varint(r, "mint", &mint) || !rd_varint(r, "maxt", &maxt)) return VG_ECORRUPT;
    if (!rd_need(r, "encoding and flags", 2)) return VG_ECORRUPT;
    uint8_t enc = r->p[0], flags = r->p[1];
    if (enc != TSDB_ENC_XOR && enc != TSDB_ENC_DENSE)
        return RD_CORRUPT(r, "encoding %u (expected %d or %d)", enc, TSDB_ENC_XOR, TSDB_ENC_DENSE);
    r->p++;
    if (flags & ~3u) return RD_CORRUPT(r, "flags 0x%02x (expected bits 0x03 only)", flags);
    if ((flags & TSDB__CHUNK_OPEN) && enc != TSDB_ENC_XOR)
        return RD_CORRUPT(r, "open flag on encoding %u (open chunks are XOR)", enc);
    r->p++;
    if (!rd_uvarint(r, "chunk length", &len)) return VG_ECORRUPT;
    if (len > TSDB_CHUNK_MAX_BYTES)
        return RD_CORRUPT(r, "chunk length %llu above %d", (unsigned long long)len, TSDB_CHUNK_MAX_BYTES);
    if ((uint64_t)(r->end - r->p) != len)
        return RD_CORRUPT(r, "chunk length %llu but %zu bytes follow", (unsigned long long)len,
                          (size_t)(r->end - r->p));
    if (mint > maxt)
        return RD_CORRUPT(r, "mint %lld after maxt %lld", (long long)mint, (long long)maxt);
    size_t at = 0;
    int rc = h->chunk ? h->chunk(h->ctx, ref, mint, maxt, enc, flags, r->p, (uint32_t)len) : 0;
    return rc ? rejected(r, rc, "chunk", ref, at) : 0;
}

int tsdb__rec_decode(uint8_t type, const uint8_t *p, size_t len, const tsdb__rec_handler_t *h, vg_error_t *err) {
    static const char *const names[] = {"unknown record", "series record", "samples record", "chunk record",
                                        "compressed samples record"};
    rd_t r = {.base = p, .p = p, .end = p + len, .rec = names[type <= TSDB__REC_SAMPLES_ZSTD ? type : 0], .err = err};
    switch (type) {
    case TSDB__REC_SERIES: return decode_series(&r, h);
    case TSDB__REC_SAMPLES: return decode_samples(&r, h);
    case TSDB__REC_SAMPLES_ZSTD: return decode_samples_zstd(&r, h);
    case TSDB__REC_CHUNK: return decode_chunk(&r, h);
    }
    return VG_CORRUPT(err, "unknown record type %u (expected 1..4)", type);
}
