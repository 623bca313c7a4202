/* Dense chunk encoding (encoding 2) for full, immutable chunks: bit-packed frame-of-reference
 * delta-of-deltas for timestamps, and decimal values as integers m (v = m / 10^e) bit-packed as
 * deltas or delta-of-deltas, whichever packs narrower. Byte layout in docs/format/chunks.md.
 *
 * Invariants: the encoder only accepts values that decode back to the same 64 bits (checked per value
 * by dividing exactly as the decoder does), so the encoding is lossless; the decoder validates every
 * count and width and reads through a bounds-checked bit reader. */
#include "tsdb/chunkenc.h"

#include "util/error.h"
#include "util/varint.h"

#include <math.h>
#include <string.h>

#define MAX_E 18
static const double p10[MAX_E + 1] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9,
                                      1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18};

static inline double u2d(uint64_t u) {
    double d;
    memcpy(&d, &u, 8);
    return d;
}
static inline uint64_t d2u(double d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}

static inline double from_dec(int64_t m, unsigned e) { return e ? (double)m / p10[e] : (double)m; }

/* m with from_dec(m, e) bit-identical to v, if any. */
static bool to_dec(uint64_t vb, unsigned e, int64_t *m) {
    double v = u2d(vb);
    if (!isfinite(v) || vb == UINT64_C(0x8000000000000000)) return false;
    double x = v * p10[e];
    if (!(fabs(x) < 9007199254740992.0)) return false; /* 2^53 */
    int64_t r = (int64_t)llround(x);
    if (d2u(from_dec(r, e)) != vb) return false;
    *m = r;
    return true;
}

static unsigned width(uint64_t x) { return x ? 64u - (unsigned)__builtin_clzll(x) : 0; }

typedef struct bw {
    uint8_t *p;
    size_t cap, len;
    uint64_t acc;
    unsigned nacc;
    bool over;
} bw_t;

static void put_byte(bw_t *w, uint8_t b) {
    if (w->len < w->cap) w->p[w->len] = b;
    else w->over = true;
    w->len++;
}
static void put_uv(bw_t *w, uint64_t v) {
    uint8_t tmp[VG_VARINT_MAX];
    size_t n = vg_uvarint_put(tmp, v);
    for (size_t i = 0; i < n; i++) put_byte(w, tmp[i]);
}
static void put_bits(bw_t *w, uint64_t v, unsigned k) { /* k <= 64, MSB first */
    while (k > 0) {
        unsigned take = k > 8 - w->nacc ? 8 - w->nacc : k;
        uint64_t bits = (v >> (k - take)) & ((1u << take) - 1);
        w->acc = (w->acc << take) | bits;
        w->nacc += take;
        k -= take;
        if (w->nacc == 8) {
            put_byte(w, (uint8_t)w->acc);
            w->acc = 0;
            w->nacc = 0;
        }
    }
}
static void flush_bits(bw_t *w) {
    if (w->nacc) put_byte(w, (uint8_t)(w->acc << (8 - w->nacc)));
    w->acc = 0;
    w->nacc = 0;
}

/* Packs x[0..n) (as offsets from their minimum) with the narrowest width. */
static void put_packed(bw_t *w, const int64_t *x, size_t n) {
    if (n == 0) return;
    int64_t mn = x[0];
    for (size_t i = 1; i < n; i++)
        if (x[i] < mn) mn = x[i];
    uint64_t mx = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t d = (uint64_t)x[i] - (uint64_t)mn;
        if (d > mx) mx = d;
    }
    unsigned wd = width(mx);
    uint8_t tmp[VG_VARINT_MAX];
    size_t k = vg_varint_put(tmp, mn);
    for (size_t i = 0; i < k; i++) put_byte(w, tmp[i]);
    put_byte(w, (uint8_t)wd);
    for (size_t i = 0; i < n; i++) put_bits(w, (uint64_t)x[i] - (uint64_t)mn, wd);
    flush_bits(w);
}

static unsigned packed_width(const int64_t *x, size_t n) {
    if (n == 0) return 0;
    int64_t mn = x[0], mx = x[0];
    for (size_t i = 1; i < n; i++) {
        if (x[i] < mn) mn = x[i];
        if (x[i] > mx) mx = x[i];
    }
    return width((uint64_t)mx - (uint64_t)mn);
}

size_t tsdb_dense_encode(const int64_t *t, const uint64_t *v, size_t n, uint8_t *out, size_t cap) {
    if (n == 0 || n > TSDB_CHUNK_MAX_SAMPLES) return 0;
    for (size_t i = 1; i < n; i++)
        if (t[i] <= t[i - 1]) return 0; /* only valid series data */
    int64_t m[TSDB_CHUNK_MAX_SAMPLES], a[TSDB_CHUNK_MAX_SAMPLES], b[TSDB_CHUNK_MAX_SAMPLES];
    unsigned e = 0;
    for (;; e++) {
        if (e > MAX_E) return 0;
        size_t i = 0;
        while (i < n && to_dec(v[i], e, &m[i])) i++;
        if (i == n) break;
    }
    bw_t w = {.p = out, .cap = cap};
    put_byte(&w, (uint8_t)n);
    uint8_t tmp[VG_VARINT_MAX];
    size_t k = vg_varint_put(tmp, t[0]);
    for (size_t i = 0; i < k; i++) put_byte(&w, tmp[i]);
    if (n >= 2) put_uv(&w, (uint64_t)t[1] - (uint64_t)t[0]);
    for (size_t i = 2; i < n; i++) a[i - 2] = (int64_t)(((uint64_t)t[i] - (uint64_t)t[i - 1]) - ((uint64_t)t[i - 1] - (uint64_t)t[i - 2]));
    if (n >= 3) put_packed(&w, a, n - 2);
    /* values: deltas (mode 0) or delta-of-deltas (mode 1) of m */
    for (size_t i = 1; i < n; i++) a[i - 1] = m[i] - m[i - 1];
    for (size_t i = 2; i < n; i++) b[i - 2] = a[i - 1] - a[i - 2];
    bool dod = n >= 3 && packed_width(b, n - 2) < packed_width(a, n - 1);
    put_byte(&w, (uint8_t)(e | (dod ? 0x80 : 0)));
    k = vg_varint_put(tmp, m[0]);
    for (size_t i = 0; i < k; i++) put_byte(&w, tmp[i]);
    if (dod) {
        k = vg_varint_put(tmp, a[0]);
        for (size_t i = 0; i < k; i++) put_byte(&w, tmp[i]);
        put_packed(&w, b, n - 2);
    } else if (n >= 2) {
        put_packed(&w, a, n - 1);
    }
    return w.over ? 0 : w.len;
}

typedef struct br {
    const uint8_t *p, *end;
    uint64_t acc;
    unsigned nacc;
} br_t;

static bool get_byte(br_t *r, uint8_t *b) {
    if (r->p >= r->end) return false;
    *b = *r->p++;
    return true;
}
static bool get_varint(br_t *r, int64_t *v) {
    size_t k = vg_varint_get(r->p, r->end, v);
    r->p += k;
    return k > 0;
}
static bool get_uvarint(br_t *r, uint64_t *v) {
    size_t k = vg_uvarint_get(r->p, r->end, v);
    r->p += k;
    return k > 0;
}

/* Unpacks n values of the frame written by put_packed into x (as int64). */
static bool get_packed(br_t *r, int64_t *x, size_t n) {
    int64_t mn;
    uint8_t wd;
    if (!get_varint(r, &mn) || !get_byte(r, &wd) || wd > 64) return false;
    size_t need = (n * wd + 7) / 8;
    if ((size_t)(r->end - r->p) < need) return false;
    const uint8_t *p = r->p;
    size_t bit = 0, avail = (size_t)(r->end - r->p);
    for (size_t i = 0; i < n; i++) {
        if (wd == 0) {
            x[i] = mn;
            continue;
        }
        if (wd <= 56 && (bit >> 3) + 8 <= avail) { /* one unaligned 64-bit load covers the field */
            uint64_t w;
            memcpy(&w, p + (bit >> 3), 8);
            w = __builtin_bswap64(w);
            x[i] = (int64_t)((uint64_t)mn + ((w << (bit & 7)) >> (64 - wd)));
            bit += wd;
            continue;
        }
        uint64_t val = 0;
        unsigned k = wd;
        while (k > 0) {
            unsigned off = (unsigned)(bit & 7), take = 8 - off < k ? 8 - off : k;
            uint8_t byte = p[bit >> 3];
            val = (val << take) | (uint64_t)((byte >> (8 - off - take)) & ((1u << take) - 1));
            bit += take;
            k -= take;
        }
        x[i] = (int64_t)((uint64_t)mn + val);
    }
    r->p += need;
    return true;
}

int tsdb_dense_decode(const uint8_t *data, size_t len, int64_t *t, uint64_t *v) {
    br_t r = {data, data + len, 0, 0};
    uint8_t n8, em;
    int64_t a[TSDB_CHUNK_MAX_SAMPLES], m0;
    if (!get_byte(&r, &n8) || n8 == 0 || n8 > TSDB_CHUNK_MAX_SAMPLES) return VG_ECORRUPT;
    size_t n = n8;
    if (!get_varint(&r, &t[0])) return VG_ECORRUPT;
    if (n >= 2) {
        uint64_t d;
        if (!get_uvarint(&r, &d)) return VG_ECORRUPT;
        t[1] = (int64_t)((uint64_t)t[0] + d);
    }
    if (n >= 3) {
        if (!get_packed(&r, a, n - 2)) return VG_ECORRUPT;
        uint64_t d = (uint64_t)t[1] - (uint64_t)t[0];
        for (size_t i = 2; i < n; i++) {
            d += (uint64_t)a[i - 2];
            t[i] = (int64_t)((uint64_t)t[i - 1] + d);
        }
    }
    if (!get_byte(&r, &em) || (em & 0x7f) > MAX_E) return VG_ECORRUPT;
    unsigned e = em & 0x7f;
    if (!get_varint(&r, &m0)) return VG_ECORRUPT;
    int64_t m = m0;
    v[0] = d2u(from_dec(m, e));
    if (em & 0x80) {
        int64_t d;
        if (n < 3 || !get_varint(&r, &d) || !get_packed(&r, a, n - 2)) return VG_ECORRUPT;
        m = (int64_t)((uint64_t)m + (uint64_t)d);
        v[1] = d2u(from_dec(m, e));
        for (size_t i = 2; i < n; i++) {
            d = (int64_t)((uint64_t)d + (uint64_t)a[i - 2]);
            m = (int64_t)((uint64_t)m + (uint64_t)d);
            v[i] = d2u(from_dec(m, e));
        }
    } else if (n >= 2) {
        if (!get_packed(&r, a, n - 1)) return VG_ECORRUPT;
        for (size_t i = 1; i < n; i++) {
            m = (int64_t)((uint64_t)m + (uint64_t)a[i - 1]);
            v[i] = d2u(from_dec(m, e));
        }
    }
    if (r.p != r.end) return VG_ECORRUPT;
    for (size_t i = 1; i < n; i++)
        if (t[i] <= t[i - 1]) return VG_ECORRUPT; /* the head relies on increasing timestamps */
    return (int)n;
}

size_t tsdb_chunk_densify(const uint8_t *xor_data, size_t len, uint8_t *out, size_t cap) {
    int64_t t[TSDB_CHUNK_MAX_SAMPLES];
    uint64_t v[TSDB_CHUNK_MAX_SAMPLES];
    tsdb_xor_iter_t it;
    tsdb_xor_iter_init(&it, xor_data, len);
    size_t n = 0;
    while (n < TSDB_CHUNK_MAX_SAMPLES && tsdb_xor_iter_next(&it)) {
        t[n] = it.t;
        v[n] = it.v;
        n++;
    }
    if (it.err || n == 0 || n != it.n) return 0;
    size_t dl = tsdb_dense_encode(t, v, n, out, cap < len ? cap : len - 1);
    return dl && dl < len ? dl : 0;
}

void tsdb_chunk_iter_init(tsdb_chunk_iter_t *it, uint8_t enc, const uint8_t *data, size_t len) {
    it->enc = enc;
    it->i = 0;
    it->n = 0;
    it->err = 0;
    if (enc == TSDB_ENC_XOR) {
        tsdb_xor_iter_init(&it->x, data, len);
    } else if (enc == TSDB_ENC_DENSE) {
        int n = tsdb_dense_decode(data, len, it->ts, it->vs);
        if (n < 0) it->err = n;
        else it->n = n;
    } else {
        it->err = VG_ECORRUPT;
    }
}

bool tsdb_chunk_iter_refill(tsdb_chunk_iter_t *it) {
    if (it->err || it->enc != TSDB_ENC_XOR) return false; /* a dense chunk is decoded whole at init */
    it->n = (int)tsdb_xor_iter_read(&it->x, it->ts, it->vs, TSDB_CHUNK_MAX_SAMPLES);
    it->i = 0;
    if (it->n == 0) {
        it->err = it->x.err;
        return false;
    }
    return true;
}
