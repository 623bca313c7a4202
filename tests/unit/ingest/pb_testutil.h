/* A tiny protobuf encoder for the decoders' tests, written independently of the decoders under test
 * (remote_write, OTLP). Include after <cmocka.h>. */
#ifndef VG_TESTS_PB_TESTUTIL_H
#define VG_TESTS_PB_TESTUTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint8_t *p;
    size_t len, cap;
} pb_t;

static inline void pb_raw(pb_t *b, const void *d, size_t n) {
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    if (n) memcpy(b->p + b->len, d, n);
    b->len += n;
}
static inline void pb_varint(pb_t *b, uint64_t v) {
    uint8_t t[10];
    size_t n = 0;
    do {
        t[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v) t[n] |= 0x80;
        n++;
    } while (v);
    pb_raw(b, t, n);
}
static inline void pb_tag(pb_t *b, uint32_t field, int wt) { pb_varint(b, (uint64_t)field << 3 | (uint64_t)wt); }
static inline void pb_bytes(pb_t *b, uint32_t field, const void *d, size_t n) {
    pb_tag(b, field, 2);
    pb_varint(b, n);
    pb_raw(b, d, n);
}
static inline void pb_str(pb_t *b, uint32_t field, const char *s) { pb_bytes(b, field, s, strlen(s)); }
/* Appends sub as field `field` and frees it. */
static inline void pb_msg(pb_t *b, uint32_t field, pb_t *sub) {
    pb_bytes(b, field, sub->p, sub->len);
    free(sub->p);
    memset(sub, 0, sizeof *sub);
}
static inline void pb_le64(pb_t *b, uint64_t v) {
    uint8_t t[8];
    for (int i = 0; i < 8; i++) t[i] = (uint8_t)(v >> (8 * i));
    pb_raw(b, t, 8);
}
static inline void pb_fixed64(pb_t *b, uint32_t field, uint64_t v) {
    pb_tag(b, field, 1);
    pb_le64(b, v);
}
static inline void pb_double(pb_t *b, uint32_t field, double d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    pb_fixed64(b, field, u);
}
static inline void pb_uint(pb_t *b, uint32_t field, uint64_t v) {
    pb_tag(b, field, 0);
    pb_varint(b, v);
}

#endif
