/* vg_buf_t: a growable byte buffer, always NUL-terminated, used for every text the server writes
 * (JSON answers, /metrics, log lines).
 *
 * Invariant: data[len] == '\0' whenever data != NULL. An allocation failure sets `failed`, leaves the
 * content as it was and turns later appends into no-ops, so writers check once at the end. */
#ifndef VG_UTIL_BUF_H
#define VG_UTIL_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <stdint.h>

typedef struct vg_buf {
    char *data; /* owned; free with vg_buf_deinit() */
    size_t len, cap;
    bool failed;
} vg_buf_t;

#define VG_BUF_INIT {NULL, 0, 0, false}

void vg_buf_deinit(vg_buf_t *b);
/* Empties the buffer, keeping its memory (and clearing `failed`). */
void vg_buf_reset(vg_buf_t *b);
/* Makes room for n more bytes; returns 0 or VG_ENOMEM. */
int vg_buf_reserve(vg_buf_t *b, size_t n);
int vg_buf_append(vg_buf_t *b, const void *p, size_t n);
int vg_buf_puts(vg_buf_t *b, const char *s);
int vg_buf_putc(vg_buf_t *b, char c);
int vg_buf_printf(vg_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int vg_buf_vprintf(vg_buf_t *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
int vg_buf_put_i64(vg_buf_t *b, int64_t v);
int vg_buf_put_u64(vg_buf_t *b, uint64_t v);
/* Hands the content to the caller (caller frees with free()); the buffer is left empty. Returns NULL
 * if the buffer failed. */
char *vg_buf_steal(vg_buf_t *b, size_t *len_out);

/* Copies src into dst (cap > 0 bytes), cut to cap - 1 bytes and NUL-terminated; returns strlen(src), so
 * a result >= cap tells the copy was cut. For fixed-size name and message fields. */
static inline size_t vg_strlcpy(char *dst, const char *src, size_t cap) {
    size_t n = strlen(src), k = n < cap ? n : cap - 1;
    memcpy(dst, src, k);
    dst[k] = '\0';
    return n;
}

#endif
