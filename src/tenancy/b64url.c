/* Strict base64url (RFC 7515 §2, no padding) and the JSON nesting pre-scan used on token bytes.
 *
 * Invariants: canonical only — one encoding per byte string (no '=', no whitespace, length mod 4 ≠ 1,
 * zero trailing bits); the decoder reports the offset of the first byte it refuses and never writes
 * past tenancy__b64url_decoded_len(n). */
#include "tenancy/tenancy_int.h"

#include <openssl/crypto.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* 0..63, or -1 outside the alphabet. */
static int sextet(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

int tenancy__b64url_decode(const char *s, size_t n, unsigned char *out, size_t *out_len, size_t *bad_pos) {
    size_t o = 0;
    uint32_t acc = 0;
    for (size_t i = 0; i < n; i++) {
        int v = sextet((unsigned char)s[i]);
        if (v < 0) {
            *bad_pos = i;
            return VG_EINVAL;
        }
        acc = (acc << 6) | (uint32_t)v;
        if (i % 4 == 3) {
            out[o++] = (unsigned char)(acc >> 16);
            out[o++] = (unsigned char)(acc >> 8);
            out[o++] = (unsigned char)acc;
            acc = 0;
        }
    }
    switch (n % 4) {
    case 0:
        break;
    case 1:
        *bad_pos = n;
        return VG_EINVAL;
    case 2: /* 12 bits: 8 data + 4 that must be zero */
        if (acc & 0xF) {
            *bad_pos = n - 1;
            return VG_EINVAL;
        }
        out[o++] = (unsigned char)(acc >> 4);
        break;
    case 3: /* 18 bits: 16 data + 2 that must be zero */
        if (acc & 0x3) {
            *bad_pos = n - 1;
            return VG_EINVAL;
        }
        out[o++] = (unsigned char)(acc >> 10);
        out[o++] = (unsigned char)(acc >> 2);
        break;
    }
    *out_len = o;
    return 0;
}

size_t tenancy__b64url_encode(const unsigned char *p, size_t n, char *out) {
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = alphabet[v >> 18];
        out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = alphabet[(v >> 6) & 63];
        out[o++] = alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        out[o++] = alphabet[v >> 18];
        out[o++] = alphabet[(v >> 12) & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        out[o++] = alphabet[v >> 18];
        out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = alphabet[(v >> 6) & 63];
    }
    out[o] = '\0';
    return o;
}

bool tenancy__json_depth_ok(const char *s, size_t n, int max_depth) {
    int depth = 0;
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\') i++; /* skip the escaped byte; \uXXXX digits are harmless */
            else if (c == '"') in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            if (++depth > max_depth) return false;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return true;
}

int tenancy__read_file(const char *path, size_t max, char **out, size_t *out_len, vg_error_t *err) {
    *out = NULL;
    *out_len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return vg_error_set(err, VG_EIO, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return vg_error_set(err, VG_EIO, "%s is not a regular file", path);
    }
    if ((uint64_t)st.st_size > max) {
        close(fd);
        return vg_error_set(err, VG_ETOOLARGE, "%s is larger than %zu bytes", path, max);
    }
    size_t cap = (size_t)st.st_size + 1;
    char *buf = malloc(cap);
    if (!buf) {
        close(fd);
        return vg_error_set(err, VG_ENOMEM, "out of memory reading %s", path);
    }
    size_t len = 0;
    for (;;) {
        if (len == cap - 1) { /* the file grew under us: read one more byte to tell */
            char extra;
            ssize_t r = read(fd, &extra, 1);
            if (r == 0) break;
            OPENSSL_cleanse(buf, len);
            free(buf);
            close(fd);
            return vg_error_set(err, r < 0 ? VG_EIO : VG_ETOOLARGE, "%s changed while being read", path);
        }
        ssize_t r = read(fd, buf + len, cap - 1 - len);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            OPENSSL_cleanse(buf, len);
            free(buf);
            close(fd);
            return vg_error_set(err, VG_EIO, "cannot read %s: %s", path, strerror(e));
        }
        if (r == 0) break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    return 0;
}
