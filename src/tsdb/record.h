/* WAL records, internal to the tsdb module: the one place that knows what the bytes of a record mean,
 * in both directions (implementation in record.c; byte layout in docs/format/wal.md).
 *
 * Writers build records only through the encoders below (series entries, samples, chunks, compression
 * of samples records); readers check a frame with tsdb__rec_frame and decode its payload with
 * tsdb__rec_decode. Segment files, their header and replay order belong to wal.c. Decoding never
 * trusts a length from disk: anything malformed is VG_ECORRUPT with a message naming the record type,
 * the byte within the payload and what was expected versus found — the caller prefixes the file and
 * offset. */
#ifndef VG_TSDB_RECORD_H
#define VG_TSDB_RECORD_H

#include "model/labels.h"
#include "util/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { TSDB__REC_SERIES = 1, TSDB__REC_SAMPLES = 2, TSDB__REC_CHUNK = 3, TSDB__REC_SAMPLES_ZSTD = 4 };
/* Flags of a chunk record. */
#define TSDB__CHUNK_OPEN 1   /* the series' open chunk: resume appending to it (XOR only) */
#define TSDB__CHUNK_NEWEST 2 /* holds the series' newest sample (when there is no open chunk) */
#define TSDB__REC_HDR 9      /* type u8, len u32le, crc32c u32le */
#define TSDB__REC_MAX (64u << 20)
#define TSDB__REC_SAMPLES_MAX 65536 /* samples per samples record: keeps records far below TSDB__REC_MAX */

/* "series", "samples", "chunk", "compressed samples" or "unknown" (static strings). */
const char *tsdb__rec_type_name(uint8_t type);

/* ---- encoding ---- */

/* A growable buffer of finished records. Encoders never fail on their own: when memory runs out
 * they set `failed` and do nothing more until tsdb__recbuf_reset. */
typedef struct tsdb__recbuf {
    uint8_t *p;
    size_t len, cap;
    size_t start; /* offset of the record being built */
    bool failed;
} tsdb__recbuf_t;

void tsdb__recbuf_reset(tsdb__recbuf_t *b);
void tsdb__recbuf_free(tsdb__recbuf_t *b);

/* A series record: tsdb__rec_begin(b, TSDB__REC_SERIES), any number of tsdb__rec_series, then
 * tsdb__rec_end (which drops the record if no entry went in). */
void tsdb__rec_begin(tsdb__recbuf_t *b, uint8_t type);
void tsdb__rec_series(tsdb__recbuf_t *b, uint64_t ref, const model_label_t *l, size_t n);
/* Finishes the record (length and CRC). An empty record is dropped. */
void tsdb__rec_end(tsdb__recbuf_t *b);

/* Samples records: begin, one tsdb__rec_sample per sample (a new record is started every
 * TSDB__REC_SAMPLES_MAX samples), end. The encoder keeps the delta state. */
typedef struct tsdb__samples_enc {
    int64_t ref, t; /* previous entry of the current record */
    uint32_t n;     /* entries in the current record */
} tsdb__samples_enc_t;
void tsdb__rec_samples_begin(tsdb__recbuf_t *b, tsdb__samples_enc_t *e);
void tsdb__rec_sample(tsdb__recbuf_t *b, tsdb__samples_enc_t *e, uint64_t ref, int64_t t, uint64_t vbits);
void tsdb__rec_samples_end(tsdb__recbuf_t *b, tsdb__samples_enc_t *e);

/* One complete chunk record (checkpoints). */
void tsdb__rec_chunk(tsdb__recbuf_t *b, uint64_t ref, int64_t mint, int64_t maxt, uint8_t enc, uint8_t flags,
                     const uint8_t *data, uint32_t len);

/* One complete record of any type around an arbitrary payload (tests and fuzzing build malformed
 * records with it). */
void tsdb__rec_raw(tsdb__recbuf_t *b, uint8_t type, const void *payload, size_t len);

/* Copies the finished records of in to the end of out, each samples record as a compressed-samples
 * record when that is smaller, using zctx (a ZSTD_CCtx, reused across calls). Sets out->failed when out
 * of memory. */
void tsdb__rec_compress(const tsdb__recbuf_t *in, tsdb__recbuf_t *out, void *zctx);

/* ---- decoding ---- */

/* Decompression state reused across records (a ZSTD_DCtx and the output buffer). */
typedef struct tsdb__rec_scratch {
    void *dctx;
    uint8_t *buf;
    size_t cap;
} tsdb__rec_scratch_t;
void tsdb__rec_scratch_free(tsdb__rec_scratch_t *s);

/* Record decoding callbacks; each returns 0 or an error that stops the replay (VG_ECORRUPT: the entry
 * contradicts the state it applies to). */
typedef struct tsdb__rec_handler {
    void *ctx;
    tsdb__rec_scratch_t *scratch; /* optional: without it each compressed record allocates its own */
    int (*series)(void *ctx, uint64_t ref, const model_label_t *l, size_t n);
    int (*sample)(void *ctx, uint64_t ref, int64_t t, uint64_t vbits);
    int (*chunk)(void *ctx, uint64_t ref, int64_t mint, int64_t maxt, uint8_t enc, uint8_t flags,
                 const uint8_t *data, uint32_t len);
} tsdb__rec_handler_t;

/* Decodes one record payload. VG_ECORRUPT for malformed content (after the CRC passed), with err
 * (may be NULL) saying "<type> record: <what> at byte <i> of <len>"; another code from a callback or
 * an allocation, also described in err. */
int tsdb__rec_decode(uint8_t type, const uint8_t *p, size_t len, const tsdb__rec_handler_t *h, vg_error_t *err);

/* Checks a framed record at p (avail bytes): returns its total length, 0 if truncated, -1 if invalid.
 * With err non-NULL, a 0 or -1 result is described in err (type, lengths, stored versus computed
 * CRC) — the scanning loops pass NULL and stay cheap. */
long tsdb__rec_frame(const uint8_t *p, size_t avail, vg_error_t *err);

#endif
