/* Gorilla-style XOR chunks: delta-of-delta timestamps and XOR-compressed float64 values, up to
 * TSDB_CHUNK_MAX_SAMPLES samples per chunk. The bit stream is the one of Prometheus' XOR chunk
 * (encoding 1), so chunks are interchangeable with Prometheus'; layout in docs/format/chunks.md.
 *
 * Values are stored as raw IEEE-754 bits: NaN payloads (the staleness marker 0x7ff0000000000002),
 * -0.0, infinities and denormals round-trip bit-exactly. Decoding never trusts its input: a truncated
 * or inconsistent chunk stops the iterator with VG_ECORRUPT, it never reads out of bounds. */
#ifndef VG_TSDB_CHUNKENC_H
#define VG_TSDB_CHUNKENC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TSDB_CHUNK_MAX_SAMPLES 120
#define TSDB_ENC_XOR 1
#define TSDB_ENC_DENSE 2 /* vigil's denser encoding for full chunks, see below */
/* Upper bound of an encoded chunk's size in bytes (header + worst case per sample). */
#define TSDB_CHUNK_MAX_BYTES (2 + 10 + 8 + 10 + (TSDB_CHUNK_MAX_SAMPLES * (4 + 64 + 2 + 5 + 6 + 64) + 7) / 8)

/* The Prometheus staleness marker: a NaN with this exact payload. */
#define TSDB_STALE_NAN_BITS UINT64_C(0x7ff0000000000002)

/* An open chunk being appended to. buf is owned (free with tsdb_xor_enc_deinit); the encoded chunk is
 * buf[0..tsdb_xor_enc_len()). Field order keeps the struct at 40 bytes: one lives in every head series. */
typedef struct tsdb_xor_enc {
    uint8_t *buf;
    int64_t t;       /* last timestamp */
    int64_t tdelta;  /* last timestamp delta */
    uint64_t v;      /* last value bits */
    uint16_t cap;    /* bytes allocated */
    uint16_t nbits;  /* bits used after the 2-byte header */
    uint16_t n;      /* samples */
    uint8_t leading; /* current XOR window; leading == 0xff: none yet */
    uint8_t trailing;
} tsdb_xor_enc_t;

void tsdb_xor_enc_init(tsdb_xor_enc_t *e);
void tsdb_xor_enc_deinit(tsdb_xor_enc_t *e);
/* Appends a sample; the caller guarantees n < TSDB_CHUNK_MAX_SAMPLES and t > last t. Returns 0 or
 * VG_ENOMEM (the chunk is unchanged then). */
int tsdb_xor_enc_append(tsdb_xor_enc_t *e, int64_t t, double v);
static inline size_t tsdb_xor_enc_len(const tsdb_xor_enc_t *e) { return e->n ? 2 + ((size_t)e->nbits + 7) / 8 : 0; }
/* Reopens an existing chunk for appending (copies data into e, which must be fresh). Returns 0,
 * VG_ECORRUPT if the chunk does not decode, or VG_ENOMEM. */
int tsdb_xor_enc_resume(tsdb_xor_enc_t *e, const uint8_t *data, size_t len);
/* Shrinks buf to the encoded length (for a chunk that will not grow any more). */
void tsdb_xor_enc_shrink(tsdb_xor_enc_t *e);

/* Iterates a chunk's samples. Borrows data for its lifetime. */
typedef struct tsdb_xor_iter {
    const uint8_t *p, *end;
    uint64_t bits; /* bit window, MSB first */
    unsigned avail;
    uint16_t n, i;
    uint8_t leading, trailing;
    int err; /* 0 or VG_ECORRUPT once next() returned false on bad bytes */
    int64_t t, tdelta;
    uint64_t v;
} tsdb_xor_iter_t;

void tsdb_xor_iter_init(tsdb_xor_iter_t *it, const uint8_t *data, size_t len);
/* Advances; false at the end or on corruption (then it->err != 0). */
bool tsdb_xor_iter_next(tsdb_xor_iter_t *it);
/* Decodes up to cap further samples into t/v (value bits); returns how many. Fewer than cap: the end or
 * corruption (it->err) was reached. */
size_t tsdb_xor_iter_read(tsdb_xor_iter_t *it, int64_t *t, uint64_t *v, size_t cap);
static inline int64_t tsdb_xor_iter_t_at(const tsdb_xor_iter_t *it) { return it->t; }
static inline double tsdb_xor_iter_v_at(const tsdb_xor_iter_t *it) {
    union { uint64_t u; double d; } c = {.u = it->v};
    return c.d;
}

/* Number of samples a chunk claims in its header (0 if too short). */
static inline uint16_t tsdb_xor_num_samples(const uint8_t *data, size_t len) {
    return len >= 2 ? (uint16_t)((data[0] << 8) | data[1]) : 0;
}

/* ---- dense chunks (encoding 2) ----
 * Full chunks are immutable, so they can be re-encoded once with a denser layout when that is
 * smaller: timestamps as frame-of-reference bit-packed delta-of-deltas, and values that are decimals
 * (v == m / 10^e exactly, for integers m and e <= 18) as bit-packed deltas or delta-of-deltas of m.
 * Any value that is not such a decimal (NaN, Inf, -0, full-precision floats) keeps the chunk in XOR.
 * Layout in docs/format/chunks.md. */

/* Encodes n (1..TSDB_CHUNK_MAX_SAMPLES) samples into out (cap bytes). Returns the length, or 0 when the
 * values are not all decimals or the result would not fit. */
size_t tsdb_dense_encode(const int64_t *t, const uint64_t *v, size_t n, uint8_t *out, size_t cap);
/* Decodes a dense chunk into t/v (room for TSDB_CHUNK_MAX_SAMPLES each). Returns the number of
 * samples, or VG_ECORRUPT. Never reads outside [data, data+len). */
int tsdb_dense_decode(const uint8_t *data, size_t len, int64_t *t, uint64_t *v);

/* Iterates a chunk of either encoding. Borrows data. Samples are decoded in batches into ts/vs (a dense
 * chunk at once, an XOR chunk TSDB_CHUNK_MAX_SAMPLES at a time), so next() is an array read. A corrupt
 * XOR chunk yields the samples before the bad bytes, then stops with err set. */
typedef struct tsdb_chunk_iter {
    uint8_t enc;
    tsdb_xor_iter_t x;
    int n, i; /* samples in ts/vs, next one */
    int err;
    int64_t t;
    uint64_t v;
    int64_t ts[TSDB_CHUNK_MAX_SAMPLES];
    uint64_t vs[TSDB_CHUNK_MAX_SAMPLES];
} tsdb_chunk_iter_t;

void tsdb_chunk_iter_init(tsdb_chunk_iter_t *it, uint8_t enc, const uint8_t *data, size_t len);
/* Decodes the next batch of an XOR chunk; false at the end or on corruption (err set then). */
bool tsdb_chunk_iter_refill(tsdb_chunk_iter_t *it);
/* Advances; false at the end or on corruption (then it->err != 0). */
static inline bool tsdb_chunk_iter_next(tsdb_chunk_iter_t *it) {
    if (it->i >= it->n && !tsdb_chunk_iter_refill(it)) return false;
    it->t = it->ts[it->i];
    it->v = it->vs[it->i];
    it->i++;
    return true;
}
static inline double tsdb_chunk_iter_v_at(const tsdb_chunk_iter_t *it) {
    union { uint64_t u; double d; } c = {.u = it->v};
    return c.d;
}

/* Re-encodes a full XOR chunk densely into out (cap bytes) when that is smaller. Returns the dense
 * length, or 0 to keep the XOR bytes. */
size_t tsdb_chunk_densify(const uint8_t *xor_data, size_t len, uint8_t *out, size_t cap);

#endif
