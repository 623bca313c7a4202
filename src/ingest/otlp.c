/* OTLP metrics, the parts both encodings share: gzip inflation with a hard output bound, attribute
 * stringification, the name rules and the translation of a decoded request into Prometheus samples,
 * and the two response messages.
 *
 * Translation follows Prometheus' OTLP receiver (otlptranslator as shipped in Prometheus 2.47–2.53,
 * with metric suffixes, no namespace, no external labels, no _created series): see the table in
 * docs/ingest.md. Two deliberate differences, both because vigil's names are the Prometheus legacy
 * charset: only ASCII letters and digits survive in names (Prometheus keeps non-ASCII letters, which
 * its own query language cannot select), and an attribute with an empty key is dropped. A NaN
 * value sent without FLAG_NO_RECORDED_VALUE is stored as an ordinary NaN, so only the flag can make
 * a staleness marker. */
#include "ingest/otlp_int.h"
#include "util/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define STALE_NAN_BITS UINT64_C(0x7ff0000000000002)
#define NORMAL_NAN_BITS UINT64_C(0x7ff8000000000001)

/* ---- gzip ---- */

int ingest_otlp_gunzip(const void *body, size_t len, const ingest_otlp_limits_t *lim, vg_buf_t *out, vg_error_t *err) {
    vg_buf_reset(out);
    size_t max = lim && lim->max_decoded ? lim->max_decoded : SIZE_MAX;
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return vg_error_set(err, VG_ENOMEM, "gzip: cannot start inflation");
    const uint8_t *in = body;
    size_t in_off = 0;
    int rc = 0;
    if (len == 0) {
        inflateEnd(&z);
        return vg_error_set_pos(err, VG_EINVAL, 0, 1, "gzip: empty body");
    }
    for (;;) {
        size_t chunk = 64u << 10;
        if (out->len >= max) chunk = 1; /* one byte past the limit tells "too large" from "exactly at it" */
        else if (chunk > max - out->len) chunk = max - out->len + 1;
        if (vg_buf_reserve(out, chunk)) {
            rc = vg_error_set(err, VG_ENOMEM, "gzip: out of memory after %zu bytes", out->len);
            break;
        }
        size_t avail_in = len - in_off;
        z.next_in = (Bytef *)(uintptr_t)(in + in_off);
        z.avail_in = avail_in > UINT32_MAX ? UINT32_MAX : (uInt)avail_in;
        z.next_out = (Bytef *)out->data + out->len;
        z.avail_out = (uInt)chunk;
        int zr = inflate(&z, Z_NO_FLUSH);
        size_t consumed = (size_t)(z.next_in - (const Bytef *)(in + in_off));
        in_off += consumed;
        out->len += chunk - z.avail_out;
        if (out->len > max) {
            rc = vg_error_set(err, VG_ETOOLARGE, "gzip body inflates past the limit of %zu bytes", max);
            break;
        }
        if (zr == Z_STREAM_END) {
            if (in_off == len) break;
            if (inflateReset(&z) != Z_OK) { /* another gzip member follows (concatenated streams) */
                rc = vg_error_set(err, VG_EINVAL, "gzip: cannot reset at offset %zu", in_off);
                break;
            }
            continue;
        }
        if (zr == Z_OK) continue;
        if (zr == Z_BUF_ERROR && in_off == len) {
            rc = vg_error_set_pos(err, VG_EINVAL, (long)len, (long)len + 1, "gzip: truncated stream at offset %zu", len);
            break;
        }
        if (zr == Z_BUF_ERROR) continue; /* output space ran out exactly: go on */
        if (zr == Z_MEM_ERROR) {
            rc = vg_error_set(err, VG_ENOMEM, "gzip: out of memory");
            break;
        }
        rc = vg_error_set_pos(err, VG_EINVAL, (long)in_off, (long)in_off + 1, "gzip: %s at offset %zu",
                              z.msg ? z.msg : "corrupt stream", in_off);
        break;
    }
    inflateEnd(&z);
    if (rc) vg_buf_reset(out);
    else if (out->data) out->data[out->len] = 0;
    return rc;
}

/* ---- attribute values ---- */

char *otlp__base64(vg_arena_t *a, const uint8_t *src, size_t len, size_t *out_len) {
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = (len + 2) / 3 * 4;
    char *o = vg_arena_alloc(a, n + 1);
    if (!o) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)src[i] << 16;
        if (i + 1 < len) v |= (uint32_t)src[i + 1] << 8;
        if (i + 2 < len) v |= src[i + 2];
        o[k++] = tab[v >> 18 & 63];
        o[k++] = tab[v >> 12 & 63];
        o[k++] = i + 1 < len ? tab[v >> 6 & 63] : '=';
        o[k++] = i + 2 < len ? tab[v & 63] : '=';
    }
    o[k] = 0;
    *out_len = k;
    return o;
}

/* A double as JavaScript (and Go's encoding/json) prints it: shortest form, exponent form below 1e-6
 * and from 1e21, exponent without zero padding. */
static size_t fmt_es6(double d, char *out) {
    double ad = fabs(d);
    if (ad != 0 && (ad < 1e-6 || ad >= 1e21)) {
        size_t n = vg_fmt_float_g(d, out);
        char *e = strchr(out, 'e');
        if (e && (e[1] == '-' || e[1] == '+') && e[2] == '0' && e[3]) { /* e-07 → e-7 */
            memmove(e + 2, e + 3, strlen(e + 3) + 1);
            n--;
        }
        return n;
    }
    return vg_fmt_float(d, out);
}

static bool any_finite(const otlp__any_t *v) {
    if (v->kind == OTLP_ANY_DOUBLE) return isfinite(v->d);
    if (v->kind == OTLP_ANY_ARRAY || v->kind == OTLP_ANY_KVLIST)
        for (size_t i = 0; i < v->n; i++)
            if (!any_finite(&v->items[i])) return false;
    return true;
}

/* A JSON string as Go's encoding/json writes it (HTML-safe escapes, invalid UTF-8 as U+FFFD). */
static int json_string(vg_buf_t *b, const char *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    int rc = vg_buf_putc(b, '"');
    for (size_t i = 0; i < len && !rc;) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            if (c == '"' || c == '\\') rc = vg_buf_putc(b, '\\') || vg_buf_putc(b, (char)c);
            else if (c == '\n') rc = vg_buf_puts(b, "\\n");
            else if (c == '\r') rc = vg_buf_puts(b, "\\r");
            else if (c == '\t') rc = vg_buf_puts(b, "\\t");
            else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
                char u[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};
                rc = vg_buf_puts(b, u);
            } else rc = vg_buf_putc(b, (char)c);
            i++;
            continue;
        }
        /* one UTF-8 sequence, validated */
        size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
        bool ok = n && i + n <= len && model_utf8_valid(s + i, n);
        if (!ok) {
            rc = vg_buf_puts(b, "\\ufffd");
            i++;
            continue;
        }
        if (n == 3 && c == 0xE2 && (unsigned char)s[i + 1] == 0x80 && ((unsigned char)s[i + 2] & 0xFE) == 0xA8)
            rc = vg_buf_puts(b, (unsigned char)s[i + 2] == 0xA8 ? "\\u2028" : "\\u2029");
        else rc = vg_buf_append(b, s + i, n);
        i += n;
    }
    return rc || vg_buf_putc(b, '"') ? VG_ENOMEM : 0;
}

static int any_json(vg_arena_t *a, vg_buf_t *b, const otlp__any_t *v) {
    char num[VG_FLOAT_MAX];
    switch (v->kind) {
    case OTLP_ANY_STR: return json_string(b, v->s.ptr, v->s.len);
    case OTLP_ANY_BOOL: return vg_buf_puts(b, v->b ? "true" : "false") ? VG_ENOMEM : 0;
    case OTLP_ANY_INT: return vg_buf_put_i64(b, v->i) ? VG_ENOMEM : 0;
    case OTLP_ANY_DOUBLE: return vg_buf_append(b, num, fmt_es6(v->d, num)) ? VG_ENOMEM : 0;
    case OTLP_ANY_BYTES: {
        size_t n;
        char *s = otlp__base64(a, (const uint8_t *)v->s.ptr, v->s.len, &n);
        return !s || json_string(b, s, n) ? VG_ENOMEM : 0;
    }
    case OTLP_ANY_ARRAY:
        if (vg_buf_putc(b, '[')) return VG_ENOMEM;
        for (size_t i = 0; i < v->n; i++)
            if ((i && vg_buf_putc(b, ',')) || any_json(a, b, &v->items[i])) return VG_ENOMEM;
        return vg_buf_putc(b, ']') ? VG_ENOMEM : 0;
    case OTLP_ANY_KVLIST: {
        /* a Go map: keys sorted, the last of equal keys wins */
        size_t *ord = vg_arena_alloc(a, (v->n ? v->n : 1) * sizeof *ord);
        if (!ord) return VG_ENOMEM;
        for (size_t i = 0; i < v->n; i++) ord[i] = i;
        for (size_t i = 1; i < v->n; i++) /* insertion sort, stable: lists are small */
            for (size_t j = i; j > 0; j--) {
                const ingest_str_t *x = &v->keys[ord[j - 1]], *y = &v->keys[ord[j]];
                size_t m = x->len < y->len ? x->len : y->len;
                int c = memcmp(x->ptr, y->ptr, m);
                if (c < 0 || (c == 0 && x->len <= y->len)) break;
                size_t t = ord[j];
                ord[j] = ord[j - 1];
                ord[j - 1] = t;
            }
        if (vg_buf_putc(b, '{')) return VG_ENOMEM;
        bool first = true;
        for (size_t i = 0; i < v->n; i++) {
            const ingest_str_t *k = &v->keys[ord[i]];
            if (i + 1 < v->n) {
                const ingest_str_t *nk = &v->keys[ord[i + 1]];
                if (nk->len == k->len && !memcmp(nk->ptr, k->ptr, k->len)) continue;
            }
            if ((!first && vg_buf_putc(b, ',')) || json_string(b, k->ptr, k->len) || vg_buf_putc(b, ':') ||
                any_json(a, b, &v->items[ord[i]]))
                return VG_ENOMEM;
            first = false;
        }
        return vg_buf_putc(b, '}') ? VG_ENOMEM : 0;
    }
    default: return vg_buf_puts(b, "null") ? VG_ENOMEM : 0;
    }
}

int otlp__any_string(vg_arena_t *a, const otlp__any_t *v, ingest_str_t *out) {
    char num[VG_FLOAT_MAX + 32];
    out->ptr = "";
    out->len = 0;
    switch (v->kind) {
    case OTLP_ANY_EMPTY: return 0;
    case OTLP_ANY_STR: *out = v->s; return 0;
    case OTLP_ANY_BOOL: out->ptr = v->b ? "true" : "false"; out->len = v->b ? 4 : 5; return 0;
    case OTLP_ANY_INT: out->len = (size_t)snprintf(num, sizeof num, "%lld", (long long)v->i); break;
    case OTLP_ANY_DOUBLE:
        if (!isfinite(v->d)) { /* what pdata answers for a value JSON cannot hold */
            char g[VG_FLOAT_MAX];
            vg_fmt_float_g(v->d, g);
            out->len = (size_t)snprintf(num, sizeof num, "json: unsupported value: %s", g);
        } else out->len = fmt_es6(v->d, num);
        break;
    case OTLP_ANY_BYTES: {
        char *s = otlp__base64(a, (const uint8_t *)v->s.ptr, v->s.len, &out->len);
        if (!s) return VG_ENOMEM;
        out->ptr = s;
        return 0;
    }
    default: { /* arrays and maps: JSON, or "" when it cannot be JSON (a NaN or an infinity inside) */
        if (!any_finite(v)) return 0;
        vg_buf_t b = VG_BUF_INIT;
        int rc = any_json(a, &b, v);
        char *s = rc ? NULL : vg_arena_strndup(a, b.data ? b.data : "", b.len);
        out->len = b.len;
        vg_buf_deinit(&b);
        if (!s) {
            out->len = 0;
            return VG_ENOMEM;
        }
        out->ptr = s;
        return 0;
    }
    }
    char *s = vg_arena_strndup(a, num, out->len);
    if (!s) return VG_ENOMEM;
    out->ptr = s;
    return 0;
}

/* ---- names ---- */

static bool alnum(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

typedef struct {
    const char *p[512]; /* a name of at most max_key_len (1 KiB by default) bytes has at most 512 words */
    size_t len[512];
    size_t n;
} words_t;

static void words_add(words_t *w, const char *p, size_t len) {
    if (w->n < sizeof w->len / sizeof w->len[0]) w->p[w->n] = p, w->len[w->n] = len, w->n++;
}

static void split_words(words_t *w, const char *s, size_t len) {
    for (size_t i = 0; i < len;) {
        while (i < len && !alnum((unsigned char)s[i])) i++;
        size_t st = i;
        while (i < len && alnum((unsigned char)s[i])) i++;
        if (i > st) words_add(w, s + st, i - st);
    }
}

static bool words_has(const words_t *w, const char *p, size_t len) {
    for (size_t i = 0; i < w->n; i++)
        if (w->len[i] == len && !memcmp(w->p[i], p, len)) return true;
    return false;
}

static void words_remove(words_t *w, const char *p) {
    size_t k = 0, len = strlen(p);
    for (size_t i = 0; i < w->n; i++)
        if (!(w->len[i] == len && !memcmp(w->p[i], p, len))) w->p[k] = w->p[i], w->len[k] = w->len[i], k++;
    w->n = k;
}

static const char *const unit_map[][2] = {
    {"d", "days"},       {"h", "hours"},        {"min", "minutes"},    {"s", "seconds"},     {"ms", "milliseconds"},
    {"us", "microseconds"}, {"ns", "nanoseconds"}, {"By", "bytes"},    {"KiBy", "kibibytes"}, {"MiBy", "mebibytes"},
    {"GiBy", "gibibytes"}, {"TiBy", "tibibytes"}, {"KBy", "kilobytes"}, {"MBy", "megabytes"}, {"GBy", "gigabytes"},
    {"TBy", "terabytes"}, {"m", "meters"},       {"V", "volts"},        {"A", "amperes"},     {"J", "joules"},
    {"W", "watts"},       {"g", "grams"},        {"Cel", "celsius"},    {"Hz", "hertz"},      {"1", ""},
    {"%", "percent"},
};
static const char *const per_unit_map[][2] = {{"s", "second"}, {"m", "minute"}, {"h", "hour"}, {"d", "day"},
                                              {"w", "week"},   {"mo", "month"},  {"y", "year"}};

static void trim(const char **p, size_t *len) {
    while (*len && (**p == ' ' || **p == '\t' || **p == '\n' || **p == '\r' || **p == '\v' || **p == '\f')) (*p)++, (*len)--;
    while (*len && ((*p)[*len - 1] == ' ' || (*p)[*len - 1] == '\t' || (*p)[*len - 1] == '\n' ||
                    (*p)[*len - 1] == '\r' || (*p)[*len - 1] == '\v' || (*p)[*len - 1] == '\f'))
        (*len)--;
}

/* A unit word: mapped (or as it is), cleaned to ASCII words joined by `_`, into buf; its length. */
static size_t unit_word(const char *u, size_t len, const char *const (*map)[2], size_t n_map, char *buf, size_t cap) {
    for (size_t i = 0; i < n_map; i++)
        if (strlen(map[i][0]) == len && !memcmp(map[i][0], u, len)) {
            u = map[i][1];
            len = strlen(u);
            break;
        }
    words_t w = {.n = 0};
    split_words(&w, u, len);
    size_t k = 0;
    for (size_t i = 0; i < w.n; i++) {
        if (i && k < cap) buf[k++] = '_';
        for (size_t j = 0; j < w.len[i] && k < cap; j++) buf[k++] = w.p[i][j];
    }
    return k;
}

static size_t put(char *out, size_t cap, size_t k, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++, k++)
        if (k + 1 < cap) out[k] = s[i];
    return k;
}

static size_t finish(char *out, size_t cap, size_t k) {
    if (cap) out[k < cap ? k : cap - 1] = 0;
    return k;
}

size_t ingest_otlp_metric_name(ingest_str_t name, ingest_str_t unit, ingest_otlp_type_t type, bool monotonic, char *out,
                               size_t cap) {
    words_t w = {.n = 0};
    split_words(&w, name.ptr, name.len);
    char ubuf[128], pbuf[128];
    const char *slash = unit.len ? memchr(unit.ptr, '/', unit.len) : NULL;
    const char *mu = unit.ptr;
    size_t mlen = slash ? (size_t)(slash - unit.ptr) : unit.len;
    trim(&mu, &mlen);
    if (mlen && !memchr(mu, '{', mlen) && !memchr(mu, '}', mlen)) {
        size_t n = unit_word(mu, mlen, unit_map, sizeof unit_map / sizeof unit_map[0], ubuf, sizeof ubuf);
        if (n && !words_has(&w, ubuf, n)) words_add(&w, ubuf, n);
    }
    if (slash && slash + 1 < unit.ptr + unit.len) {
        const char *pu = slash + 1;
        size_t plen = (size_t)(unit.ptr + unit.len - pu);
        trim(&pu, &plen);
        if (plen && !memchr(pu, '{', plen) && !memchr(pu, '}', plen)) {
            size_t n = unit_word(pu, plen, per_unit_map, sizeof per_unit_map / sizeof per_unit_map[0], pbuf, sizeof pbuf);
            if (n && !words_has(&w, pbuf, n)) {
                words_add(&w, "per", 3);
                words_add(&w, pbuf, n);
            }
        }
    }
    if (type == INGEST_OTLP_SUM && monotonic) {
        words_remove(&w, "total");
        words_add(&w, "total", 5);
    }
    if (type == INGEST_OTLP_GAUGE && unit.len == 1 && unit.ptr[0] == '1') {
        words_remove(&w, "ratio");
        words_add(&w, "ratio", 5);
    }
    size_t k = 0;
    if (w.n && w.p[0][0] >= '0' && w.p[0][0] <= '9') k = put(out, cap, k, "_", 1);
    for (size_t i = 0; i < w.n; i++) {
        if (i) k = put(out, cap, k, "_", 1);
        k = put(out, cap, k, w.p[i], w.len[i]);
    }
    return finish(out, cap, k);
}

/* The first two characters of key once sanitized (0 when absent). */
static void sanitized_head(ingest_str_t key, char *c0, char *c1) {
    char h[2] = {0, 0};
    size_t k = 0;
    for (size_t i = 0; i < key.len && k < 2; i++) {
        unsigned char c = (unsigned char)key.ptr[i];
        if (c >= 0x80 && c < 0xC0 && i) continue;
        h[k++] = alnum(c) ? (char)c : '_';
    }
    *c0 = h[0], *c1 = h[1];
}

size_t ingest_otlp_label_name(ingest_str_t key, char *out, size_t cap) {
    size_t k = 0;
    char c0, c1;
    sanitized_head(key, &c0, &c1);
    if (c0 >= '0' && c0 <= '9') k = put(out, cap, k, "key_", 4);
    else if (c0 == '_' && c1 != '_') k = put(out, cap, k, "key", 3);
    for (size_t i = 0; i < key.len; i++) {
        unsigned char c = (unsigned char)key.ptr[i];
        if (c >= 0x80 && c < 0xC0 && i) continue; /* continuation byte: its character already gave a `_` */
        k = put(out, cap, k, alnum(c) ? (const char *)&key.ptr[i] : "_", 1);
    }
    return finish(out, cap, k);
}

/* ---- translation ---- */

typedef struct {
    vg_arena_t *arena;
    ingest_otlp_emit_fn emit;
    void *ctx;
    model_label_t *ls; /* scratch label set: attributes, job, instance, __name__, le/quantile */
    size_t n, cap;
    size_t base;       /* labels common to every sample of the point */
    ingest_str_t job, instance;
    bool have_job, have_instance;
} tr_t;

static bool str_eq(ingest_str_t s, const char *lit) { return s.len == strlen(lit) && !memcmp(s.ptr, lit, s.len); }

static int str_cmp(ingest_str_t a, ingest_str_t b) {
    size_t m = a.len < b.len ? a.len : b.len;
    int c = memcmp(a.ptr, b.ptr, m);
    return c ? c : (a.len > b.len) - (a.len < b.len);
}

static char *adup(vg_arena_t *a, const char *s, size_t n) { return vg_arena_strndup(a, n ? s : "", n); }

/* Sets name=value in the scratch set: replaces an existing name, or appends. */
static int set_label(tr_t *t, const char *name, const char *value) {
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->ls[i].name, name)) {
            t->ls[i].value = value;
            return 0;
        }
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 16;
        model_label_t *nl = vg_arena_alloc(t->arena, nc * sizeof *nl);
        if (!nl) return VG_ENOMEM;
        if (t->n) memcpy(nl, t->ls, t->n * sizeof *nl);
        t->ls = nl;
        t->cap = nc;
    }
    t->ls[t->n++] = (model_label_t){name, value};
    return 0;
}

/* The label set of a point (or of target_info, skipping the identifying attributes): attributes
 * sorted by key, sanitized, values of keys that sanitize alike joined with `;` in that order; then
 * job and instance from the resource; then __name__. */
static int build_labels(tr_t *t, const ingest_otlp_attr_t *attrs, size_t n_attrs, bool skip_identifying,
                        const char *metric) {
    t->n = 0;
    const ingest_otlp_attr_t **ord = vg_arena_alloc(t->arena, (n_attrs ? n_attrs : 1) * sizeof *ord);
    if (!ord) return VG_ENOMEM;
    size_t m = 0;
    for (size_t i = 0; i < n_attrs; i++) {
        const ingest_otlp_attr_t *a = &attrs[i];
        if (!a->key.len) continue;
        if (skip_identifying && (str_eq(a->key, "service.name") || str_eq(a->key, "service.namespace") ||
                                 str_eq(a->key, "service.instance.id")))
            continue;
        size_t j = m++;
        for (; j > 0 && str_cmp(ord[j - 1]->key, a->key) > 0; j--) ord[j] = ord[j - 1]; /* stable */
        ord[j] = a;
    }
    for (size_t i = 0; i < m; i++) {
        size_t nl = ingest_otlp_label_name(ord[i]->key, NULL, 0);
        char *name = vg_arena_alloc(t->arena, nl + 1);
        if (!name) return VG_ENOMEM;
        ingest_otlp_label_name(ord[i]->key, name, nl + 1);
        const char *prev = NULL;
        for (size_t k = 0; k < t->n; k++)
            if (!strcmp(t->ls[k].name, name)) prev = t->ls[k].value;
        char *v;
        if (prev) {
            size_t pl = strlen(prev);
            v = vg_arena_alloc(t->arena, pl + 1 + ord[i]->value.len + 1);
            if (!v) return VG_ENOMEM;
            memcpy(v, prev, pl);
            v[pl] = ';';
            if (ord[i]->value.len) memcpy(v + pl + 1, ord[i]->value.ptr, ord[i]->value.len);
            v[pl + 1 + ord[i]->value.len] = 0;
        } else if (!(v = adup(t->arena, ord[i]->value.ptr, ord[i]->value.len))) {
            return VG_ENOMEM;
        }
        if (set_label(t, name, v)) return VG_ENOMEM;
    }
    if (t->have_job) {
        char *v = adup(t->arena, t->job.ptr, t->job.len);
        if (!v || set_label(t, "job", v)) return VG_ENOMEM;
    }
    if (t->have_instance) {
        char *v = adup(t->arena, t->instance.ptr, t->instance.len);
        if (!v || set_label(t, "instance", v)) return VG_ENOMEM;
    }
    if (set_label(t, MODEL_METRIC_NAME, metric)) return VG_ENOMEM;
    t->base = t->n;
    return 0;
}

static double sample_value(double v, uint32_t flags) {
    uint64_t bits;
    if (flags & INGEST_OTLP_FLAG_NO_RECORDED_VALUE) bits = STALE_NAN_BITS;
    else if (isnan(v)) bits = NORMAL_NAN_BITS;
    else return v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

static int64_t to_ms(uint64_t ns) { return (int64_t)ns / 1000000; }

/* One sample named base+suffix with the point's labels plus an optional extra label. */
static int emit_one(tr_t *t, size_t point, const char *base, const char *suffix, const char *extra, const char *extra_v,
                    int64_t ms, double v) {
    t->n = t->base;
    const char *name = base;
    if (*suffix) {
        size_t bl = strlen(base), sl = strlen(suffix);
        char *nm = vg_arena_alloc(t->arena, bl + sl + 1);
        if (!nm) return VG_ENOMEM;
        memcpy(nm, base, bl);
        memcpy(nm + bl, suffix, sl + 1);
        name = nm;
    }
    if (set_label(t, MODEL_METRIC_NAME, name)) return VG_ENOMEM;
    if (extra && set_label(t, extra, extra_v)) return VG_ENOMEM;
    return t->emit(t->ctx, point, t->ls, t->n, ms, v);
}

static int fmt_label_float(vg_arena_t *a, double d, const char **out) {
    char buf[VG_FLOAT_MAX];
    size_t n = vg_fmt_float(d, buf);
    *out = vg_arena_strndup(a, buf, n);
    return *out ? 0 : VG_ENOMEM;
}

static void reject(ingest_otlp_rejects_t *rej, size_t n, size_t *reason, const char *why, const ingest_otlp_metric_t *m) {
    if (!n) return;
    rej->points += n;
    *reason += n;
    if (!rej->first[0])
        snprintf(rej->first, sizeof rej->first, "metric \"%.*s\": %s", (int)(m->name.len > 120 ? 120 : m->name.len),
                 m->name.ptr, why);
}

static int translate_metric(tr_t *t, const ingest_otlp_metric_t *m, size_t *seq, ingest_otlp_rejects_t *rej) {
    size_t first_seq = *seq;
    *seq += m->n_points;
    if (m->type == INGEST_OTLP_NONE || !m->n_points) return 0;
    if (m->type == INGEST_OTLP_EXP_HISTOGRAM) {
        reject(rej, m->n_points, &rej->exp_histogram,
               "exponential histograms are not supported (vigil stores no native histograms)", m);
        return 0;
    }
    if ((m->type == INGEST_OTLP_SUM || m->type == INGEST_OTLP_HISTOGRAM) &&
        m->temporality != INGEST_OTLP_TEMPORALITY_CUMULATIVE) {
        reject(rej, m->n_points, &rej->delta,
               "only cumulative temporality is supported for sums and histograms (delta or "
               "unspecified is rejected)",
               m);
        return 0;
    }
    size_t nl = ingest_otlp_metric_name(m->name, m->unit, m->type, m->monotonic, NULL, 0);
    if (!nl) {
        reject(rej, m->n_points, &rej->no_name, "the name has no letter or digit", m);
        return 0;
    }
    char *name = vg_arena_alloc(t->arena, nl + 1);
    if (!name) return VG_ENOMEM;
    ingest_otlp_metric_name(m->name, m->unit, m->type, m->monotonic, name, nl + 1);
    for (size_t i = 0; i < m->n_points; i++) {
        const ingest_otlp_point_t *p = &m->points[i];
        size_t point = first_seq + i + 1;
        int64_t ms = to_ms(p->time_unix_nano);
        int rc = build_labels(t, p->attrs, p->n_attrs, false, name);
        if (rc) return rc;
        switch (m->type) {
        case INGEST_OTLP_GAUGE:
        case INGEST_OTLP_SUM: rc = emit_one(t, point, name, "", NULL, NULL, ms, sample_value(p->value, p->flags)); break;
        case INGEST_OTLP_HISTOGRAM: {
            if (p->has_sum && (rc = emit_one(t, point, name, "_sum", NULL, NULL, ms, sample_value(p->sum, p->flags))))
                return rc;
            if ((rc = emit_one(t, point, name, "_count", NULL, NULL, ms, sample_value((double)p->count, p->flags))))
                return rc;
            uint64_t cum = 0;
            for (size_t b = 0; b < p->n_bounds && b < p->n_buckets; b++) {
                cum += p->bucket_counts[b];
                const char *le;
                if ((rc = fmt_label_float(t->arena, p->bounds[b], &le)) ||
                    (rc = emit_one(t, point, name, "_bucket", "le", le, ms, sample_value((double)cum, p->flags))))
                    return rc;
            }
            rc = emit_one(t, point, name, "_bucket", "le", "+Inf", ms, sample_value((double)p->count, p->flags));
            break;
        }
        case INGEST_OTLP_SUMMARY: {
            if ((rc = emit_one(t, point, name, "_sum", NULL, NULL, ms, sample_value(p->sum, p->flags))) ||
                (rc = emit_one(t, point, name, "_count", NULL, NULL, ms, sample_value((double)p->count, p->flags))))
                return rc;
            for (size_t q = 0; q < p->n_quantiles; q++) {
                const char *qs;
                if ((rc = fmt_label_float(t->arena, p->quantiles[q].quantile, &qs)) ||
                    (rc = emit_one(t, point, name, "", "quantile", qs, ms, sample_value(p->quantiles[q].value, p->flags))))
                    return rc;
            }
            break;
        }
        default: break;
        }
        if (rc) return rc;
    }
    return 0;
}

int ingest_otlp_translate(const ingest_otlp_request_t *req, vg_arena_t *arena, ingest_otlp_emit_fn emit, void *ctx,
                          ingest_otlp_rejects_t *rej) {
    memset(rej, 0, sizeof *rej);
    tr_t t = {.arena = arena, .emit = emit, .ctx = ctx};
    size_t seq = 0;
    for (size_t r = 0; r < req->n_resources; r++) {
        const ingest_otlp_resource_t *res = &req->resources[r];
        ingest_str_t name = {0}, ns = {0};
        bool have_name = false, have_ns = false;
        t.have_job = t.have_instance = false;
        size_t identifying = 0;
        for (size_t i = 0; i < res->n_attrs; i++) { /* the last of repeated keys wins, as in a pdata map */
            const ingest_otlp_attr_t *a = &res->attrs[i];
            if (str_eq(a->key, "service.name")) name = a->value, have_name = true;
            else if (str_eq(a->key, "service.namespace")) ns = a->value, have_ns = true;
            else if (str_eq(a->key, "service.instance.id")) t.instance = a->value, t.have_instance = true;
        }
        identifying = have_name + have_ns + t.have_instance;
        if (have_name) {
            t.have_job = true;
            if (have_ns) {
                char *j = vg_arena_alloc(arena, ns.len + 1 + name.len + 1);
                if (!j) return VG_ENOMEM;
                memcpy(j, ns.ptr, ns.len);
                j[ns.len] = '/';
                memcpy(j + ns.len + 1, name.ptr, name.len);
                t.job = (ingest_str_t){j, ns.len + 1 + name.len};
            } else {
                t.job = name;
            }
        }
        uint64_t newest = 0;
        for (size_t k = 0; k < res->n_metrics; k++) {
            const ingest_otlp_metric_t *m = &res->metrics[k];
            for (size_t i = 0; i < m->n_points; i++)
                if (m->points[i].time_unix_nano > newest) newest = m->points[i].time_unix_nano;
            int rc = translate_metric(&t, m, &seq, rej);
            if (rc) return rc;
        }
        /* target_info: the resource's other attributes, when there are any and job or instance names it */
        size_t distinct_keys = 0; /* attributes as a map: repeated keys count once */
        for (size_t i = 0; i < res->n_attrs; i++) {
            bool dup = false;
            for (size_t j = i + 1; j < res->n_attrs && !dup; j++) dup = str_cmp(res->attrs[i].key, res->attrs[j].key) == 0;
            distinct_keys += !dup;
        }
        if (newest && distinct_keys > identifying && (t.have_job || t.have_instance)) {
            int rc = build_labels(&t, res->attrs, res->n_attrs, true, "target_info");
            if (!rc) rc = emit(ctx, 0, t.ls, t.n, to_ms(newest), 1.0);
            if (rc) return rc;
        }
    }
    return 0;
}

/* ---- responses ---- */

static int pb_varint(vg_buf_t *b, uint64_t v) {
    uint8_t tmp[10];
    size_t n = 0;
    do {
        tmp[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v) tmp[n] |= 0x80;
        n++;
    } while (v);
    return vg_buf_append(b, tmp, n);
}

static int pb_string(vg_buf_t *b, uint32_t field, const char *s) {
    size_t n = strlen(s);
    return pb_varint(b, (uint64_t)field << 3 | 2) || pb_varint(b, n) || vg_buf_append(b, s, n);
}

int ingest_otlp_response(vg_buf_t *out, bool json, int64_t rejected, const char *msg) {
    bool partial = rejected > 0 || (msg && *msg);
    if (json) {
        int rc = vg_buf_puts(out, "{");
        if (partial) {
            rc = rc || vg_buf_printf(out, "\"partialSuccess\":{\"rejectedDataPoints\":\"%lld\"", (long long)rejected);
            if (msg && *msg) rc = rc || vg_buf_puts(out, ",\"errorMessage\":") || json_string(out, msg, strlen(msg));
            rc = rc || vg_buf_puts(out, "}");
        }
        return rc || vg_buf_puts(out, "}") ? VG_ENOMEM : 0;
    }
    if (!partial) return 0;
    vg_buf_t inner = VG_BUF_INIT;
    int rc = 0;
    if (rejected) rc = pb_varint(&inner, 1 << 3 | 0) || pb_varint(&inner, (uint64_t)rejected);
    if (msg && *msg) rc = rc || pb_string(&inner, 2, msg);
    rc = rc || pb_varint(out, 1 << 3 | 2) || pb_varint(out, inner.len) || vg_buf_append(out, inner.data, inner.len);
    vg_buf_deinit(&inner);
    return rc ? VG_ENOMEM : 0;
}

int ingest_otlp_status(vg_buf_t *out, bool json, int grpc_code, const char *msg) {
    if (json) {
        int rc = vg_buf_printf(out, "{\"code\":%d,\"message\":", grpc_code) || json_string(out, msg, strlen(msg)) ||
                 vg_buf_puts(out, "}");
        return rc ? VG_ENOMEM : 0;
    }
    int rc = 0;
    if (grpc_code) rc = pb_varint(out, 1 << 3 | 0) || pb_varint(out, (uint64_t)(int64_t)grpc_code);
    if (*msg) rc = rc || pb_string(out, 2, msg);
    return rc ? VG_ENOMEM : 0;
}
