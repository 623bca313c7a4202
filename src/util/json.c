/* JSON writer and Go-compatible float formatting; see json.h. */
#include "json.h"

#include <math.h>
#include <string.h>

void vg_json_init(vg_json_t *j, vg_buf_t *b) {
    memset(j, 0, sizeof *j);
    j->b = b;
}

static void sep(vg_json_t *j) {
    if (j->after_key) { /* a value right after its key takes no comma */
        j->after_key = false;
        return;
    }
    if (j->depth <= 0 || j->depth > VG_JSON_MAX_DEPTH) return;
    if (j->need_comma[j->depth - 1]) vg_buf_putc(j->b, ',');
    j->need_comma[j->depth - 1] = true;
}

static void open_(vg_json_t *j, char c) {
    sep(j);
    vg_buf_putc(j->b, c);
    j->depth++;
    if (j->depth <= VG_JSON_MAX_DEPTH) j->need_comma[j->depth - 1] = false;
}

static void close_(vg_json_t *j, char c) {
    vg_buf_putc(j->b, c);
    if (j->depth > 0) j->depth--;
}

void vg_json_obj_open(vg_json_t *j) { open_(j, '{'); }
void vg_json_obj_close(vg_json_t *j) { close_(j, '}'); }
void vg_json_arr_open(vg_json_t *j) { open_(j, '['); }
void vg_json_arr_close(vg_json_t *j) { close_(j, ']'); }

void vg_json_key(vg_json_t *j, const char *key) {
    sep(j);
    vg_json_escape(j->b, key, strlen(key));
    vg_buf_putc(j->b, ':');
    j->after_key = true;
}

void vg_json_str(vg_json_t *j, const char *s) { vg_json_strn(j, s, strlen(s)); }

void vg_json_strn(vg_json_t *j, const char *s, size_t len) {
    sep(j);
    vg_json_escape(j->b, s, len);
}

void vg_json_i64(vg_json_t *j, int64_t v) {
    sep(j);
    vg_buf_put_i64(j->b, v);
}

void vg_json_u64(vg_json_t *j, uint64_t v) {
    sep(j);
    vg_buf_put_u64(j->b, v);
}

void vg_json_bool(vg_json_t *j, bool v) {
    sep(j);
    vg_buf_puts(j->b, v ? "true" : "false");
}

void vg_json_null(vg_json_t *j) {
    sep(j);
    vg_buf_puts(j->b, "null");
}

void vg_json_f64(vg_json_t *j, double v) {
    sep(j);
    if (!isfinite(v)) {
        vg_buf_puts(j->b, "null");
        return;
    }
    char tmp[VG_FLOAT_MAX];
    vg_buf_append(j->b, tmp, vg_fmt_float(v, tmp));
}

void vg_json_f64_str(vg_json_t *j, double v) {
    sep(j);
    char tmp[VG_FLOAT_MAX + 2];
    tmp[0] = '"';
    size_t n = vg_fmt_float(v, tmp + 1);
    tmp[n + 1] = '"';
    vg_buf_append(j->b, tmp, n + 2);
}

void vg_json_ts_ms(vg_json_t *j, int64_t ms) {
    sep(j);
    uint64_t a = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
    if (ms < 0) vg_buf_putc(j->b, '-');
    vg_buf_put_u64(j->b, a / 1000);
    unsigned frac = (unsigned)(a % 1000);
    if (frac) {
        char f[5] = {'.', (char)('0' + frac / 100), (char)('0' + frac / 10 % 10), (char)('0' + frac % 10), 0};
        size_t n = 4;
        while (f[n - 1] == '0') n--;
        vg_buf_append(j->b, f, n);
    }
}

void vg_json_ts_ms_point(vg_json_t *j, int64_t ms) {
    sep(j);
    uint64_t a = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
    if (ms < 0) vg_buf_putc(j->b, '-');
    vg_buf_put_u64(j->b, a / 1000);
    unsigned frac = (unsigned)(a % 1000);
    if (frac) {
        char f[4] = {'.', (char)('0' + frac / 100), (char)('0' + frac / 10 % 10), (char)('0' + frac % 10)};
        vg_buf_append(j->b, f, 4);
    }
}

void vg_json_f64_str_point(vg_json_t *j, double v) {
    double a = fabs(v);
    if (!(a != 0 && isfinite(a) && (a < 1e-6 || a >= 1e21))) {
        vg_json_f64_str(j, v);
        return;
    }
    sep(j);
    char tmp[VG_FLOAT_MAX + 2];
    tmp[0] = '"';
    size_t n = vg_fmt_float_g(v, tmp + 1); /* exponent form in exactly these ranges */
    tmp[n + 1] = '"';
    vg_buf_append(j->b, tmp, n + 2);
}

void vg_json_raw(vg_json_t *j, const char *s, size_t len) {
    sep(j);
    vg_buf_append(j->b, s, len);
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    unsigned min;
    if ((c & 0xE0) == 0xC0) len = 2, min = 0x80;
    else if ((c & 0xF0) == 0xE0) len = 3, min = 0x800;
    else if ((c & 0xF8) == 0xF0) len = 4, min = 0x10000;
    else return 0;
    if (len > n) return 0;
    unsigned cp = c & (0xFF >> (len + 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

void vg_json_escape(vg_buf_t *b, const char *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    vg_buf_reserve(b, len + 2);
    vg_buf_putc(b, '"');
    size_t run = 0; /* start of the pending run of bytes that need no escaping */
    for (size_t i = 0; i < len;) {
        unsigned c = p[i];
        const char *esc = NULL;
        char ubuf[7];
        size_t adv = 1;
        if (c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' && c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0x80) {
            adv = utf8_len(p + i, len - i);
            if (adv == 3 && c == 0xE2 && p[i + 1] == 0x80 && (p[i + 2] == 0xA8 || p[i + 2] == 0xA9)) {
                esc = p[i + 2] == 0xA8 ? "\\u2028" : "\\u2029";
            } else if (adv == 0) {
                esc = "\xEF\xBF\xBD"; /* U+FFFD for an invalid byte */
                adv = 1;
            } else {
                i += adv;
                continue;
            }
        } else if (c == '"') esc = "\\\"";
        else if (c == '\\') esc = "\\\\";
        else if (c == '\n') esc = "\\n";
        else if (c == '\r') esc = "\\r";
        else if (c == '\t') esc = "\\t";
        else {
            ubuf[0] = '\\', ubuf[1] = 'u', ubuf[2] = '0', ubuf[3] = '0';
            ubuf[4] = hex[c >> 4], ubuf[5] = hex[c & 15], ubuf[6] = 0;
            esc = ubuf;
        }
        vg_buf_append(b, s + run, i - run);
        vg_buf_puts(b, esc);
        i += adv;
        run = i;
    }
    vg_buf_append(b, s + run, len - run);
    vg_buf_putc(b, '"');
}

static size_t special(double v, char *out) {
    const char *s = isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf";
    size_t n = strlen(s);
    memcpy(out, s, n + 1);
    return n;
}

/* v (finite, non-zero) in positional notation from its shortest digits d[0..n) and exponent e. */
static size_t fmt_positional(double v, const char *d, int n, int e, char *out) {
    size_t o = 0;
    if (v < 0) out[o++] = '-';
    if (e <= 0) {
        out[o++] = '0';
        out[o++] = '.';
        for (int k = 0; k < -e; k++) out[o++] = '0';
        memcpy(out + o, d, (size_t)n);
        o += (size_t)n;
    } else if (e >= n) {
        memcpy(out + o, d, (size_t)n);
        o += (size_t)n;
        for (int k = n; k < e; k++) out[o++] = '0';
    } else {
        memcpy(out + o, d, (size_t)e);
        o += (size_t)e;
        out[o++] = '.';
        memcpy(out + o, d + e, (size_t)(n - e));
        o += (size_t)(n - e);
    }
    out[o] = '\0';
    return o;
}

size_t vg_fmt_float(double v, char *out) {
    if (!isfinite(v)) return special(v, out);
    if (signbit(v) && v == 0) {
        memcpy(out, "-0", 3);
        return 2;
    }
    if (v == 0) {
        memcpy(out, "0", 2);
        return 1;
    }
    char d[24];
    int e, n = vg_shortest_digits(v, d, &e);
    return fmt_positional(v, d, n, e, out);
}

size_t vg_fmt_float_g(double v, char *out) {
    if (!isfinite(v)) return special(v, out);
    if (v == 0) return vg_fmt_float(v, out);
    char d[24];
    int e, n = vg_shortest_digits(v, d, &e);
    int x = e - 1; /* exponent in d.ddd form */
    if (x >= -4 && x < 21) return fmt_positional(v, d, n, e, out);
    size_t o = 0;
    if (v < 0) out[o++] = '-';
    out[o++] = d[0];
    if (n > 1) {
        out[o++] = '.';
        memcpy(out + o, d + 1, (size_t)(n - 1));
        o += (size_t)(n - 1);
    }
    out[o++] = 'e';
    out[o++] = x < 0 ? '-' : '+';
    unsigned ax = (unsigned)(x < 0 ? -x : x); /* at least two digits, as Go */
    if (ax >= 100) out[o++] = (char)('0' + ax / 100);
    out[o++] = (char)('0' + ax / 10 % 10);
    out[o++] = (char)('0' + ax % 10);
    out[o] = '\0';
    return o;
}
