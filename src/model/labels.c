/* Label set canonicalisation, validation, hashing and ordering (see labels.h). */
#include "model/labels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

static int cmp_label(const void *a, const void *b) {
    return strcmp(((const model_label_t *)a)->name, ((const model_label_t *)b)->name);
}

void model_labels_sort(model_label_t *v, size_t n) {
    /* Insertion sort for the usual handful of labels; qsort beyond. */
    if (n > 16) {
        qsort(v, n, sizeof *v, cmp_label);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        model_label_t x = v[i];
        size_t j = i;
        while (j > 0 && strcmp(v[j - 1].name, x.name) > 0) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
}

bool model_label_name_valid(const char *s, size_t len) {
    if (len == 0) return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
        if (!ok) return false;
    }
    return true;
}

bool model_metric_name_valid(const char *s, size_t len) {
    if (len == 0) return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                  (i > 0 && c >= '0' && c <= '9');
        if (!ok) return false;
    }
    return true;
}

bool model_utf8_valid(const char *str, size_t len) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + n >= len) return false;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += n + 1;
    }
    return true;
}

int model_labels_normalize(model_label_t *v, size_t *n, const model_label_limits_t *lim, vg_error_t *err) {
    model_label_limits_t l = lim ? *lim : MODEL_LIMITS_DEFAULT;
    size_t k = 0;
    for (size_t i = 0; i < *n; i++) {
        if (!v[i].name || !v[i].value) return vg_error_set(err, VG_EINVAL, "label %zu has a NULL name or value", i);
        if (v[i].value[0] == '\0') continue;
        v[k++] = v[i];
    }
    *n = k;
    if (k == 0) return vg_error_set(err, VG_EINVAL, "empty label set");
    if (l.max_labels && k > l.max_labels)
        return vg_error_set(err, VG_ELIMIT, "series has %zu labels, more than the limit of %zu", k, l.max_labels);
    model_labels_sort(v, k);
    for (size_t i = 0; i < k; i++) {
        size_t nl = strlen(v[i].name), vl = strlen(v[i].value);
        if (!model_label_name_valid(v[i].name, nl))
            return vg_error_set(err, VG_EINVAL, "invalid label name \"%.100s\"", v[i].name);
        if (l.max_name_len && nl > l.max_name_len)
            return vg_error_set(err, VG_ELIMIT, "label name \"%.100s...\" is %zu bytes, more than the limit of %zu",
                                v[i].name, nl, l.max_name_len);
        if (l.max_value_len && vl > l.max_value_len)
            return vg_error_set(err, VG_ELIMIT, "value of label %s is %zu bytes, more than the limit of %zu",
                                v[i].name, vl, l.max_value_len);
        if (!model_utf8_valid(v[i].value, vl))
            return vg_error_set(err, VG_EINVAL, "value of label %s is not valid UTF-8", v[i].name);
        if (!strcmp(v[i].name, MODEL_METRIC_NAME) && !model_metric_name_valid(v[i].value, vl))
            return vg_error_set(err, VG_EINVAL, "invalid metric name \"%.100s\"", v[i].value);
        if (i > 0 && !strcmp(v[i - 1].name, v[i].name))
            return vg_error_set(err, VG_EINVAL, "duplicate label name \"%.100s\"", v[i].name);
    }
    return 0;
}

uint64_t model_labels_hash(const model_label_t *v, size_t n) {
    /* Common case: the whole set fits a stack buffer and is hashed in one call. */
    unsigned char buf[1024];
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        size_t a = strlen(v[i].name), b = strlen(v[i].value);
        if (len + a + b + 2 > sizeof buf) goto stream;
        memcpy(buf + len, v[i].name, a);
        len += a;
        buf[len++] = 0xff;
        memcpy(buf + len, v[i].value, b);
        len += b;
        buf[len++] = 0xff;
    }
    return XXH64(buf, len, 0);
stream:;
    XXH64_state_t st;
    XXH64_reset(&st, 0);
    static const unsigned char sep = 0xff;
    for (size_t i = 0; i < n; i++) {
        XXH64_update(&st, v[i].name, strlen(v[i].name));
        XXH64_update(&st, &sep, 1);
        XXH64_update(&st, v[i].value, strlen(v[i].value));
        XXH64_update(&st, &sep, 1);
    }
    return XXH64_digest(&st);
}

int model_labels_cmp(const model_label_t *a, size_t na, const model_label_t *b, size_t nb) {
    size_t m = na < nb ? na : nb;
    for (size_t i = 0; i < m; i++) {
        int c = a[i].name == b[i].name ? 0 : strcmp(a[i].name, b[i].name);
        if (c) return c;
        c = a[i].value == b[i].value ? 0 : strcmp(a[i].value, b[i].value);
        if (c) return c;
    }
    return na < nb ? -1 : na > nb;
}

bool model_labels_equal(const model_label_t *a, size_t na, const model_label_t *b, size_t nb) {
    return na == nb && model_labels_cmp(a, na, b, nb) == 0;
}

const char *model_labels_get(const model_label_t *v, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++) {
        int c = strcmp(v[i].name, name);
        if (c == 0) return v[i].value;
        if (c > 0) break;
    }
    return NULL;
}

model_label_t *model_labels_dup(const model_label_t *v, size_t n) {
    size_t bytes = n * sizeof(model_label_t);
    for (size_t i = 0; i < n; i++) bytes += strlen(v[i].name) + strlen(v[i].value) + 2;
    model_label_t *out = malloc(bytes ? bytes : 1);
    if (!out) return NULL;
    char *p = (char *)(out + n);
    for (size_t i = 0; i < n; i++) {
        size_t a = strlen(v[i].name) + 1, b = strlen(v[i].value) + 1;
        memcpy(p, v[i].name, a);
        out[i].name = p;
        p += a;
        memcpy(p, v[i].value, b);
        out[i].value = p;
        p += b;
    }
    return out;
}

size_t model_labels_format(const model_label_t *v, size_t n, char *out, size_t cap) {
    size_t len = 0;
#define PUT(...)                                                                   \
    do {                                                                           \
        int w_ = snprintf(out + (len < cap ? len : cap), len < cap ? cap - len : 0, __VA_ARGS__); \
        if (w_ > 0) len += (size_t)w_;                                             \
    } while (0)
    if (cap) out[0] = '\0';
    const char *name = model_labels_get(v, n, MODEL_METRIC_NAME);
    if (name) PUT("%s", name);
    PUT("{");
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(v[i].name, MODEL_METRIC_NAME)) continue;
        PUT("%s%s=\"%s\"", first ? "" : ", ", v[i].name, v[i].value);
        first = 0;
    }
    PUT("}");
#undef PUT
    return len;
}
