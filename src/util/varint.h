/* LEB128 varints (unsigned, and signed through zigzag) as used by the WAL and chunk headers. The
 * readers take an explicit end pointer and never read past it: bytes from disk may be anything. */
#ifndef VG_UTIL_VARINT_H
#define VG_UTIL_VARINT_H

#include <stddef.h>
#include <stdint.h>

#define VG_VARINT_MAX 10

/* Writes v to p (which has room for VG_VARINT_MAX bytes); returns the number of bytes written. */
static inline size_t vg_uvarint_put(uint8_t *p, uint64_t v) {
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static inline uint64_t vg_zigzag(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static inline int64_t vg_unzigzag(uint64_t u) { return (int64_t)(u >> 1) ^ -(int64_t)(u & 1); }

static inline size_t vg_varint_put(uint8_t *p, int64_t v) { return vg_uvarint_put(p, vg_zigzag(v)); }

/* Reads from [p, end); returns bytes consumed, or 0 when the input is truncated or overlong
 * (more than 10 bytes, or a 10th byte above 1). */
static inline size_t vg_uvarint_get(const uint8_t *p, const uint8_t *end, uint64_t *out) {
    uint64_t v = 0;
    for (size_t i = 0; i < VG_VARINT_MAX && p + i < end; i++) {
        uint8_t b = p[i];
        if (i == 9 && b > 1) return 0;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (b < 0x80) {
            *out = v;
            return i + 1;
        }
    }
    return 0;
}

static inline size_t vg_varint_get(const uint8_t *p, const uint8_t *end, int64_t *out) {
    uint64_t u;
    size_t n = vg_uvarint_get(p, end, &u);
    if (n) *out = vg_unzigzag(u);
    return n;
}

#endif
