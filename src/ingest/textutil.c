/* UTF-8 validation and Go-compatible float parsing for the ingest parsers.
 *
 * Invariants: reads only [s, s+n); never allocates; results are bit-identical to Go's
 * strconv.ParseFloat for every input Prometheus' textparse accepts (correct rounding comes from
 * Clinger's exact fast path or from strtod, which glibc rounds correctly). vigil never calls
 * setlocale(LC_NUMERIC), so strtod's decimal point is '.'. */
#include "ingest/ingest_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

bool ingest__utf8_valid(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        if (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (!(w & UINT64_C(0x8080808080808080))) {
                i += 8;
                continue;
            }
        }
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        unsigned char lo = 0x80, hi = 0xbf;
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            if (c == 0xe0) lo = 0xa0;      /* overlong */
            else if (c == 0xed) hi = 0x9f; /* surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            if (c == 0xf0) lo = 0x90;      /* overlong */
            else if (c == 0xf4) hi = 0x8f; /* above U+10FFFF */
        } else {
            return false;
        }
        if (n - i - 1 < need) return false;
        if (s[i + 1] < lo || s[i + 1] > hi) return false;
        for (size_t k = 2; k <= need; k++)
            if ((s[i + k] & 0xc0) != 0x80) return false;
        i += need + 1;
    }
    return true;
}

static bool ci_eq(const char *s, const char *lower, size_t n) {
    for (size_t i = 0; i < n; i++)
        if ((s[i] | 0x20) != lower[i]) return false;
    return true;
}

static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static int syntax_or_unsupported(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] == 'p' || s[i] == 'P' || s[i] == '_') return INGEST__FLOAT_UNSUPPORTED;
    return INGEST__FLOAT_SYNTAX;
}

int ingest__parse_float(const char *s, size_t n, double *out) {
    size_t i = 0;
    bool neg = false, sign = false;
    if (n == 0) return INGEST__FLOAT_SYNTAX;
    if (s[0] == '+' || s[0] == '-') neg = s[0] == '-', sign = true, i = 1;
    if (i < n && ((s[i] | 0x20) == 'i' || (s[i] | 0x20) == 'n')) {
        size_t m = n - i;
        if ((m == 3 && ci_eq(s + i, "inf", 3)) || (m == 8 && ci_eq(s + i, "infinity", 8))) {
            *out = neg ? -INFINITY : INFINITY;
            return INGEST__FLOAT_OK;
        }
        if (!sign && m == 3 && ci_eq(s + i, "nan", 3)) {
            uint64_t bits = UINT64_C(0x7ff8000000000001);
            memcpy(out, &bits, sizeof *out);
            return INGEST__FLOAT_OK;
        }
        return syntax_or_unsupported(s, n);
    }
    uint64_t mant = 0;
    int nd = 0;
    long dp = 0; /* decimal exponent adjustment of mant */
    bool saw_digits = false, saw_dot = false, trunc = false;
    for (; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (saw_dot) break;
            saw_dot = true;
            continue;
        }
        unsigned d = (unsigned)(c - '0');
        if (d >= 10) break;
        saw_digits = true;
        if (d == 0 && nd == 0) {
            if (saw_dot) dp--;
            continue;
        }
        if (nd < 19) {
            mant = mant * 10 + d;
            nd++;
            if (saw_dot) dp--;
        } else {
            if (d) trunc = true;
            if (!saw_dot) dp++;
        }
    }
    if (!saw_digits) return syntax_or_unsupported(s, n);
    if (i < n && (s[i] | 0x20) == 'e') {
        i++;
        bool eneg = false;
        if (i < n && (s[i] == '+' || s[i] == '-')) eneg = s[i] == '-', i++;
        if (i >= n || (unsigned)(s[i] - '0') >= 10u) return syntax_or_unsupported(s, n);
        long e = 0;
        for (; i < n && (unsigned)(s[i] - '0') < 10u; i++)
            if (e < 100000) e = e * 10 + (s[i] - '0');
        dp += eneg ? -e : e;
    }
    if (i != n) return syntax_or_unsupported(s, n);
    if (n > INGEST__FLOAT_MAX_LEN) return INGEST__FLOAT_TOOLONG;
    if (mant == 0) {
        *out = neg ? -0.0 : 0.0;
        return INGEST__FLOAT_OK;
    }
    if (!trunc && mant <= (UINT64_C(1) << 53) && dp >= -22 && dp <= 22) {
        double v = (double)mant;
        v = dp < 0 ? v / pow10_exact[-dp] : v * pow10_exact[dp];
        *out = neg ? -v : v;
        return INGEST__FLOAT_OK;
    }
    char tmp[INGEST__FLOAT_MAX_LEN + 1];
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    errno = 0;
    double v = strtod(tmp, NULL);
    if (isinf(v)) return INGEST__FLOAT_RANGE;
    *out = v;
    return INGEST__FLOAT_OK;
}

const char *ingest__float_err_str(int rc) {
    switch (rc) {
    case INGEST__FLOAT_UNSUPPORTED: return "unsupported character in float";
    case INGEST__FLOAT_RANGE: return "value out of range";
    case INGEST__FLOAT_TOOLONG: return "number longer than 255 bytes";
    default: return "invalid syntax";
    }
}
