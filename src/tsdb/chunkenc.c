/* XOR chunk encoder and decoder (see chunkenc.h; byte layout in docs/format/chunks.md).
 *
 * Encoder invariant: bytes of buf past the last written bit are zero, so writing ORs bits in.
 * Decoder invariant: `bits` holds `avail` valid bits at its top; every read checks `avail` after a
 * refill, so corrupt input ends in VG_ECORRUPT, never in a read past `end`. */
#include "tsdb/chunkenc.h"

#include "util/error.h"
#include "util/varint.h"

#include <stdlib.h>
#include <string.h>

void tsdb_xor_enc_init(tsdb_xor_enc_t *e) {
    memset(e, 0, sizeof *e);
    e->leading = 0xff;
}

void tsdb_xor_enc_deinit(tsdb_xor_enc_t *e) {
    free(e->buf);
    tsdb_xor_enc_init(e);
}

static int reserve(tsdb_xor_enc_t *e, size_t need_bytes) {
    if (need_bytes <= e->cap) return 0;
    /* Small steps: an open chunk lives in every head series, so slack costs resident memory. */
    size_t ncap = e->cap ? (size_t)e->cap + e->cap / 4 + 16 : 32;
    if (ncap < need_bytes) ncap = need_bytes;
    ncap = (ncap + 7) & ~(size_t)7;
    if (ncap > TSDB_CHUNK_MAX_BYTES + 16) ncap = TSDB_CHUNK_MAX_BYTES + 16;
    if (ncap < need_bytes) return VG_ENOMEM;
    uint8_t *nb = realloc(e->buf, ncap);
    if (!nb) return VG_ENOMEM;
    memset(nb + e->cap, 0, ncap - e->cap);
    e->buf = nb;
    e->cap = (uint16_t)ncap;
    return 0;
}

/* Writes the low k bits of v (k <= 64), MSB first. */
static void put_bits(tsdb_xor_enc_t *e, uint64_t v, unsigned k) {
    size_t pos = e->nbits;
    uint8_t *b = e->buf + 2;
    while (k > 0) {
        unsigned fr = 8 - (unsigned)(pos & 7);
        unsigned take = k < fr ? k : fr;
        uint8_t bits = (uint8_t)((v >> (k - take)) & ((1u << take) - 1));
        b[pos >> 3] |= (uint8_t)(bits << (fr - take));
        pos += take;
        k -= take;
    }
    e->nbits = (uint16_t)pos;
}

static void put_bytes(tsdb_xor_enc_t *e, const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) put_bits(e, p[i], 8);
}

static inline uint64_t f2u(double d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}

static void put_value(tsdb_xor_enc_t *e, uint64_t vb) {
    uint64_t x = vb ^ e->v;
    if (x == 0) {
        put_bits(e, 0, 1);
        return;
    }
    unsigned lead = (unsigned)__builtin_clzll(x), trail = (unsigned)__builtin_ctzll(x);
    if (lead > 31) lead = 31; /* 5 bits */
    if (e->leading != 0xff && lead >= e->leading && trail >= e->trailing) {
        put_bits(e, 2, 2); /* '10': reuse the window */
        unsigned sig = 64 - e->leading - e->trailing;
        put_bits(e, x >> e->trailing, sig);
        return;
    }
    e->leading = (uint8_t)lead;
    e->trailing = (uint8_t)trail;
    unsigned sig = 64 - lead - trail;
    put_bits(e, 3, 2); /* '11': new window */
    put_bits(e, lead, 5);
    put_bits(e, sig & 63, 6); /* 64 is written as 0 */
    put_bits(e, x >> trail, sig);
}

int tsdb_xor_enc_append(tsdb_xor_enc_t *e, int64_t t, double v) {
    /* Worst case for one sample: 4 + 64 + 2 + 5 + 6 + 64 bits, or 10 + 8 bytes for the first. */
    if (reserve(e, 2 + (size_t)e->nbits / 8 + 24) != 0) return VG_ENOMEM;
    uint64_t vb = f2u(v);
    uint8_t tmp[VG_VARINT_MAX];
    if (e->n == 0) {
        put_bytes(e, tmp, vg_varint_put(tmp, t));
        put_bits(e, vb, 64);
    } else if (e->n == 1) {
        int64_t d = (int64_t)((uint64_t)t - (uint64_t)e->t);
        put_bytes(e, tmp, vg_uvarint_put(tmp, (uint64_t)d));
        put_value(e, vb);
        e->tdelta = d;
    } else {
        int64_t d = (int64_t)((uint64_t)t - (uint64_t)e->t);
        int64_t dod = (int64_t)((uint64_t)d - (uint64_t)e->tdelta);
        if (dod == 0) put_bits(e, 0, 1);
        else if (dod >= -(1 << 13) && dod < (1 << 13)) put_bits(e, 2, 2), put_bits(e, (uint64_t)dod, 14);
        else if (dod >= -(1 << 16) && dod < (1 << 16)) put_bits(e, 6, 3), put_bits(e, (uint64_t)dod, 17);
        else if (dod >= -(1 << 19) && dod < (1 << 19)) put_bits(e, 14, 4), put_bits(e, (uint64_t)dod, 20);
        else put_bits(e, 15, 4), put_bits(e, (uint64_t)dod, 64);
        put_value(e, vb);
        e->tdelta = d;
    }
    e->t = t;
    e->v = vb;
    e->n++;
    e->buf[0] = (uint8_t)(e->n >> 8);
    e->buf[1] = (uint8_t)e->n;
    return 0;
}

void tsdb_xor_enc_shrink(tsdb_xor_enc_t *e) {
    size_t len = tsdb_xor_enc_len(e);
    if (len == 0 || len >= e->cap) return;
    uint8_t *nb = realloc(e->buf, len);
    if (!nb) return;
    e->buf = nb;
    e->cap = (uint16_t)len;
}

/* ---- decoding ---- */

static inline void refill(tsdb_xor_iter_t *it) {
    if (it->end - it->p >= 8) {
        uint64_t w;
        memcpy(&w, it->p, 8);
        w = __builtin_bswap64(w);
        it->bits |= w >> it->avail;
        it->p += (63 - it->avail) >> 3;
        it->avail |= 56;
    } else {
        while (it->avail <= 56 && it->p < it->end) {
            it->bits |= (uint64_t)*it->p++ << (56 - it->avail);
            it->avail += 8;
        }
    }
}

/* Reads k bits, 1 <= k <= 56. Returns false on end of input. */
static inline bool get_bits(tsdb_xor_iter_t *it, unsigned k, uint64_t *out) {
    if (it->avail < k) {
        refill(it);
        if (it->avail < k) return false;
    }
    *out = it->bits >> (64 - k);
    it->bits <<= k;
    it->avail -= k;
    return true;
}

static inline bool get_bits64(tsdb_xor_iter_t *it, unsigned k, uint64_t *out) {
    if (k == 0) {
        *out = 0;
        return true;
    }
    if (k <= 56) return get_bits(it, k, out);
    uint64_t hi, lo;
    if (!get_bits(it, k - 32, &hi) || !get_bits(it, 32, &lo)) return false;
    *out = (hi << 32) | lo;
    return true;
}

/* Reads a varint byte-wise through the bit window (the first two timestamps are byte-aligned in
 * value, not in position). */
static bool get_uvarint(tsdb_xor_iter_t *it, uint64_t *out) {
    uint64_t v = 0;
    for (unsigned i = 0; i < VG_VARINT_MAX; i++) {
        uint64_t b;
        if (!get_bits(it, 8, &b)) return false;
        if (i == 9 && b > 1) return false;
        v |= (b & 0x7f) << (7 * i);
        if (b < 0x80) {
            *out = v;
            return true;
        }
    }
    return false;
}

void tsdb_xor_iter_init(tsdb_xor_iter_t *it, const uint8_t *data, size_t len) {
    memset(it, 0, sizeof *it);
    it->leading = 0xff;
    if (len < 2) {
        it->p = it->end = data;
        it->err = len ? VG_ECORRUPT : 0;
        return;
    }
    it->n = tsdb_xor_num_samples(data, len);
    it->p = data + 2;
    it->end = data + len;
    if (it->n > TSDB_CHUNK_MAX_SAMPLES * 64) it->err = VG_ECORRUPT; /* absurd header */
}

static bool get_value(tsdb_xor_iter_t *it) {
    uint64_t b;
    if (!get_bits(it, 1, &b)) return false;
    if (b == 0) return true; /* same value */
    if (!get_bits(it, 1, &b)) return false;
    if (b == 1) {
        uint64_t lead, sig;
        if (!get_bits(it, 5, &lead) || !get_bits(it, 6, &sig)) return false;
        if (sig == 0) sig = 64;
        if (lead + sig > 64) return false;
        it->leading = (uint8_t)lead;
        it->trailing = (uint8_t)(64 - lead - sig);
    } else if (it->leading == 0xff) {
        return false; /* window reuse before any window */
    }
    unsigned sig = 64u - it->leading - it->trailing;
    uint64_t x;
    if (!get_bits64(it, sig, &x)) return false;
    it->v ^= x << it->trailing;
    return true;
}

bool tsdb_xor_iter_next(tsdb_xor_iter_t *it) {
    if (it->err || it->i >= it->n) return false;
    if (it->i == 0) {
        uint64_t u;
        if (!get_uvarint(it, &u) || !get_bits64(it, 64, &it->v)) goto corrupt;
        it->t = vg_unzigzag(u);
    } else if (it->i == 1) {
        uint64_t d;
        if (!get_uvarint(it, &d)) goto corrupt;
        it->tdelta = (int64_t)d;
        it->t = (int64_t)((uint64_t)it->t + d);
        if (!get_value(it)) goto corrupt;
    } else {
        /* Fast path for the common shapes: delta-of-delta 0, and a value that repeats or reuses the
         * current XOR window, all within the bits already loaded. */
        if (it->avail < 56) refill(it);
        uint64_t b = it->bits;
        if (it->avail >= 2 && !(b >> 63)) {
            if (!((b << 1) >> 63)) {
                it->bits <<= 2, it->avail -= 2;
                it->t = (int64_t)((uint64_t)it->t + (uint64_t)it->tdelta);
                it->i++;
                return true;
            }
            if (((b << 1) >> 62) == 2 && it->leading != 0xff) {
                unsigned sig = 64u - it->leading - it->trailing;
                if (3 + sig <= it->avail) {
                    it->v ^= ((b << 3) >> (64 - sig)) << it->trailing;
                    it->bits = b << 3 << sig; /* two shifts: 3 + sig may be 64 */
                    it->avail -= 3 + sig;
                    it->t = (int64_t)((uint64_t)it->t + (uint64_t)it->tdelta);
                    it->i++;
                    return true;
                }
            }
        }
        uint64_t dod;
        /* Bits past `avail` are zero at the end of the input, so a short tail decodes as a prefix that
         * the length checks below reject. */
        unsigned top = (unsigned)(it->bits >> 60), k, nb;
        if (!(top & 8)) k = 1, nb = 0;
        else if (!(top & 4)) k = 2, nb = 14;
        else if (!(top & 2)) k = 3, nb = 17;
        else if (!(top & 1)) k = 4, nb = 20;
        else k = 4, nb = 64;
        if (it->avail < k) goto corrupt;
        it->bits <<= k, it->avail -= k;
        if (nb == 0) {
            dod = 0;
        } else {
            if (!get_bits64(it, nb, &dod)) goto corrupt;
            if (nb < 64 && (dod >> (nb - 1)) & 1) dod |= ~UINT64_C(0) << nb; /* sign-extend */
        }
        it->tdelta = (int64_t)((uint64_t)it->tdelta + dod);
        it->t = (int64_t)((uint64_t)it->t + (uint64_t)it->tdelta);
        if (!get_value(it)) goto corrupt;
    }
    it->i++;
    return true;
corrupt:
    it->err = VG_ECORRUPT;
    return false;
}

size_t tsdb_xor_iter_read(tsdb_xor_iter_t *it, int64_t *t, uint64_t *v, size_t cap) {
    size_t n = 0;
    while (n < cap && tsdb_xor_iter_next(it)) {
        t[n] = it->t;
        v[n] = it->v;
        n++;
    }
    return n;
}

int tsdb_xor_enc_resume(tsdb_xor_enc_t *e, const uint8_t *data, size_t len) {
    tsdb_xor_iter_t it;
    tsdb_xor_iter_init(&it, data, len);
    if (it.err || it.n > TSDB_CHUNK_MAX_SAMPLES || len > TSDB_CHUNK_MAX_BYTES) return VG_ECORRUPT;
    int64_t prev = INT64_MIN;
    bool first = true;
    while (tsdb_xor_iter_next(&it)) {
        if (!first && it.t <= prev) return VG_ECORRUPT; /* appending needs increasing timestamps */
        prev = it.t;
        first = false;
    }
    if (it.err || it.i != it.n) return VG_ECORRUPT;
    tsdb_xor_enc_init(e);
    if (it.n == 0) return 0;
    if (reserve(e, len + 24) != 0) return VG_ENOMEM;
    memcpy(e->buf, data, len);
    size_t used_bits = (size_t)(it.p - (data + 2)) * 8 - it.avail;
    /* Clear anything past the last sample so later appends can OR bits in. */
    size_t full = used_bits / 8;
    if (used_bits % 8) e->buf[2 + full] &= (uint8_t)(0xff << (8 - used_bits % 8)), full++;
    memset(e->buf + 2 + full, 0, e->cap - 2 - full);
    e->nbits = (uint16_t)used_bits;
    e->n = it.n;
    e->t = it.t;
    e->tdelta = it.tdelta;
    e->v = it.v;
    e->leading = it.leading;
    e->trailing = it.trailing;
    return 0;
}
