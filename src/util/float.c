/* Exact float ↔ decimal conversions without the C library: the shortest round-trip digits of a double
 * (what Go's strconv.FormatFloat(v, 'f'/'g', -1, 64) prints) and a decimal parser with a fast exact path.
 *
 * Shortest digits follow Schubfach (R. Giulietti, "The Schubfach way to render doubles", 2020). A finite
 * v = c · 2^q (c the integer significand) rounds back from every real in its rounding interval
 * [v - 2^q/2, v + 2^q/2] (a quarter ulp below a power of two, whose lower neighbour is closer; the ends
 * belong to the interval when c is even, since strtod breaks ties to even). With k = floor(log10(width))
 * the interval holds at most one multiple of 10^(k+1) and at least one of 10^k, so the shortest decimals
 * are either that multiple of 10^(k+1), or the multiples of 10^k next to v: s = floor(v / 10^k) and s + 1,
 * of which the one closer to v wins (an exact tie: the even one) — Go's choice among equally short
 * candidates. v, its interval ends and 10^-k are scaled by a 126-bit approximation g(k) of 10^-k (table
 * generated at build time by gen_float_pow10.c) and the products rounded to odd, which the paper shows
 * is exact enough for every comparison above to be decided correctly.
 *
 * Invariant: vg_shortest_digits returns at most 17 digits, no trailing zero. */
#include "json.h"
#include "float_int.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned __int128 u128;

#define C_MIN (UINT64_C(1) << 52) /* the hidden bit */
#define Q_MIN (-1074)
#define MASK63 ((UINT64_C(1) << 63) - 1)

/* floor(g · cp / 2^127) with its lowest bit set when the quotient is inexact (round to odd), where the
 * partial product g0 · cp contributes only its high 64 bits: the +1 of g(k) is thereby invisible when
 * 10^-k is an exact power of two's multiple (k = 0 and the like), as the paper's proof assumes. */
static uint64_t rop(const uint64_t g[2], uint64_t cp) {
    uint64_t x1 = (uint64_t)((u128)g[1] * cp >> 64);
    u128 y = (u128)g[0] * cp;
    uint64_t z = ((uint64_t)y >> 1) + x1;
    uint64_t vbp = (uint64_t)(y >> 64) + (z >> 63);
    return vbp | (((z & MASK63) + MASK63) >> 63);
}

/* The shortest decimal f · 10^e in the rounding interval of c · 2^q (c > 0). */
static void to_decimal(int q, uint64_t c, uint64_t *f, int *e) {
    uint64_t out = c & 1; /* odd c: the interval's ends are excluded */
    uint64_t cb = c << 2, cbr = cb + 2, cbl;
    int k;
    if (c != C_MIN || q == Q_MIN) {
        cbl = cb - 2;
        k = vg__flog10pow2(q);
    } else { /* a power of two: the lower neighbour is half as far */
        cbl = cb - 1;
        k = vg__flog10_3q_pow2(q);
    }
    int h = q + vg__flog2pow10(-k) + 2; /* 2..5: keeps cb · 2^h below 2^60 */
    const uint64_t *g = vg__f64_pow10[k - VG__F64_K_MIN];
    uint64_t vb = rop(g, cb << h), vbl = rop(g, cbl << h), vbr = rop(g, cbr << h); /* 4 · x / 10^k */
    uint64_t s = vb >> 2;
    uint64_t sp10 = s / 10 * 10, tp10 = sp10 + 10; /* the multiples of 10^(k+1) around v */
    bool upin = vbl + out <= sp10 << 2, wpin = (tp10 << 2) + out <= vbr;
    if (upin != wpin) {
        *f = upin ? sp10 : tp10;
        *e = k;
        return;
    }
    uint64_t t = s + 1;
    bool uin = vbl + out <= s << 2, win = (t << 2) + out <= vbr;
    if (uin != win) {
        *f = uin ? s : t;
        *e = k;
        return;
    }
    uint64_t mid = (s + t) << 1; /* both in: the closer one, the even one on a tie */
    *f = vb < mid || (vb == mid && !(s & 1)) ? s : t;
    *e = k;
}

int vg_shortest_digits(double v, char *digits, int *exp10) {
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    uint64_t frac = bits & (C_MIN - 1);
    int bq = (int)(bits >> 52 & 0x7ff);
    uint64_t f;
    int e;
    if (bq == 0) {
        to_decimal(Q_MIN, frac, &f, &e);
    } else {
        uint64_t c = C_MIN | frac;
        int q = bq - 1075;
        if (q < 0 && q > -53 && (c >> -q) << -q == c) { /* an integer below 2^53: itself */
            f = c >> -q;
            e = 0;
        } else {
            to_decimal(q, c, &f, &e);
        }
    }
    while (f % 10 == 0) {
        f /= 10;
        e++;
    }
    char tmp[20];
    int n = 0;
    for (; f; f /= 10) tmp[sizeof tmp - 1 - n++] = (char)('0' + f % 10);
    memcpy(digits, tmp + sizeof tmp - n, (size_t)n);
    digits[n] = '\0';
    *exp10 = e + n;
    return n;
}

/* ---- parsing ------------------------------------------------------------------------------------ */

/* Exactly representable powers of ten: a product or quotient of two exact doubles is correctly rounded,
 * so m · 10^e for m <= 2^53 and |e| <= 22 is the double nearest the decimal (Clinger's fast path). It
 * needs arithmetic in double precision proper, not in a wider format. */
static const double exact_pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                     1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static int parse_slow(const char *s, size_t len, double *out) {
    char stack[64], *buf = len < sizeof stack ? stack : malloc(len + 1);
    if (!buf) return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end;
    *out = strtod(buf, &end);
    int rc = len && end == buf + len ? 0 : -1;
    if (buf != stack) free(buf);
    return rc;
}

int vg_parse_f64(const char *s, size_t len, double *out) {
#if FLT_EVAL_METHOD == 0
    const char *p = s, *end = s + len;
    bool neg = p < end && *p == '-';
    if (p < end && (*p == '-' || *p == '+')) p++;
    uint64_t m = 0;
    int n_sig = 0, e = 0, n_digits = 0;
    for (; p < end && *p >= '0' && *p <= '9'; p++, n_digits++) {
        if (m == 0 && *p == '0') continue;
        if (n_sig++ < 19) m = m * 10 + (uint64_t)(*p - '0');
        else e++;
    }
    if (p < end && *p == '.') {
        for (p++; p < end && *p >= '0' && *p <= '9'; p++, n_digits++) {
            if (m == 0 && *p == '0') {
                e--;
                continue;
            }
            if (n_sig++ < 19) m = m * 10 + (uint64_t)(*p - '0'), e--;
        }
    }
    if (n_digits && p < end && (*p == 'e' || *p == 'E')) {
        const char *x = p + 1;
        bool xneg = x < end && *x == '-';
        if (x < end && (*x == '-' || *x == '+')) x++;
        int xe = 0, nx = 0;
        for (; x < end && *x >= '0' && *x <= '9' && nx < 6; x++, nx++) xe = xe * 10 + (*x - '0');
        if (nx) {
            e += xneg ? -xe : xe;
            p = x;
        }
    }
    if (n_digits && p == end && n_sig <= 19 && m <= C_MIN << 1) {
        if (m == 0) {
            *out = neg ? -0.0 : 0.0;
            return 0;
        }
        if (e >= -22 && e <= 22) {
            double d = (double)m;
            d = e < 0 ? d / exact_pow10[-e] : d * exact_pow10[e];
            *out = neg ? -d : d;
            return 0;
        }
    }
#endif
    return parse_slow(s, len, out);
}
