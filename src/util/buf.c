/* Growable byte buffer; see buf.h for the invariants. */
#include "buf.h"

#include "error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void vg_buf_deinit(vg_buf_t *b) {
    free(b->data);
    *b = (vg_buf_t)VG_BUF_INIT;
}

void vg_buf_reset(vg_buf_t *b) {
    b->len = 0;
    b->failed = false;
    if (b->data) b->data[0] = '\0';
}

int vg_buf_reserve(vg_buf_t *b, size_t n) {
    if (b->failed) return VG_ENOMEM;
    if (n >= SIZE_MAX / 2 - b->len) goto fail;
    if (b->len + n + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + n + 1) cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) goto fail;
    b->data = p;
    b->cap = cap;
    return 0;
fail:
    b->failed = true;
    return VG_ENOMEM;
}

int vg_buf_append(vg_buf_t *b, const void *p, size_t n) {
    if (vg_buf_reserve(b, n)) return VG_ENOMEM;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int vg_buf_puts(vg_buf_t *b, const char *s) { return vg_buf_append(b, s, strlen(s)); }

int vg_buf_putc(vg_buf_t *b, char c) {
    if (vg_buf_reserve(b, 1)) return VG_ENOMEM;
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
    return 0;
}

int vg_buf_vprintf(vg_buf_t *b, const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap2);
    va_end(ap2);
    if (n < 0) return VG_EINVAL;
    if ((size_t)n < sizeof small) return vg_buf_append(b, small, (size_t)n);
    if (vg_buf_reserve(b, (size_t)n)) return VG_ENOMEM;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int vg_buf_printf(vg_buf_t *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = vg_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

int vg_buf_put_u64(vg_buf_t *b, uint64_t v) {
    char tmp[24];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return vg_buf_append(b, tmp + i, sizeof tmp - i);
}

int vg_buf_put_i64(vg_buf_t *b, int64_t v) {
    if (v < 0) {
        if (vg_buf_putc(b, '-')) return VG_ENOMEM;
        return vg_buf_put_u64(b, (uint64_t)0 - (uint64_t)v);
    }
    return vg_buf_put_u64(b, (uint64_t)v);
}

char *vg_buf_steal(vg_buf_t *b, size_t *len_out) {
    if (b->failed) {
        vg_buf_deinit(b);
        return NULL;
    }
    if (!b->data && vg_buf_reserve(b, 0)) return NULL;
    if (b->len == 0) b->data[0] = '\0';
    char *p = b->data;
    if (len_out) *len_out = b->len;
    *b = (vg_buf_t)VG_BUF_INIT;
    return p;
}
