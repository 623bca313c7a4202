/* Reference shortest float formatting for tests and benchmarks: vigil's former vg_shortest_digits (a
 * search over snprintf("%.*e") precisions with strtod reading each back), kept as the oracle the exact
 * implementation in src/util/float.c is compared with, and the layouts of vg_fmt_float/vg_fmt_float_g
 * over it.
 *
 * The former search took the correctly rounded decimal of each precision, which is the shortest except
 * at a power of two: there the interval of decimals that read back is lopsided (a quarter ulp below,
 * half an ulp above), and when the rounded decimal falls below it the next one up may still read back
 * (2^-549 is 5.426657103235053e-166, not 5.4266571032350524e-166). ref_shortest_digits tries that
 * decimal too, as Go's strconv finds it; ref_shortest_digits_former is the search as it was. */
#ifndef VG_TEST_FLOAT_REF_H
#define VG_TEST_FLOAT_REF_H

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* tmp = [-]d.ddd…e±x, the digits as printed: the same decimal one unit of its last digit up. */
static inline void ref_increment(const char *tmp, char *up, size_t cap) {
    char d[40];
    int n = 0;
    const char *p = tmp;
    if (*p == '-') p++;
    for (; *p && *p != 'e'; p++)
        if (*p != '.') d[n++] = *p;
    int e = atoi(p + 1), i = n - 1;
    for (; i >= 0 && d[i] == '9'; i--) d[i] = '0';
    if (i >= 0) {
        d[i]++;
    } else { /* 9.99 → 10.0: one more in front, one less behind */
        memmove(d + 1, d, (size_t)n - 1);
        d[0] = '1';
        e++;
    }
    d[n] = '\0';
    snprintf(up, cap, "%s%c.%se%d", tmp[0] == '-' ? "-" : "", d[0], d + 1, e);
}

static inline int ref_digits_of(const char *tmp, char *digits, int *exp10) {
    const char *p = tmp;
    if (*p == '-') p++;
    int n = 0;
    for (; *p && *p != 'e'; p++)
        if (*p != '.') digits[n++] = *p;
    int e = atoi(p + 1);
    while (n > 1 && digits[n - 1] == '0') n--;
    digits[n] = '\0';
    *exp10 = e + 1;
    return n;
}

static inline bool ref_lopsided(double v) {
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return (b & ((UINT64_C(1) << 52) - 1)) == 0 && (b >> 52 & 0x7ff) > 1;
}

/* v finite, non-zero. See vg_shortest_digits. */
static inline int ref_search(double v, bool lopsided, char *digits, int *exp10) {
    char tmp[48], up[48];
    for (int prec = fabs(v) >= DBL_MIN ? 15 : 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, v);
        if (prec == 17 || strtod(tmp, NULL) == v) break;
        if (lopsided && ref_lopsided(v)) {
            ref_increment(tmp, up, sizeof up);
            if (strtod(up, NULL) == v) {
                memcpy(tmp, up, sizeof tmp);
                break;
            }
        }
    }
    return ref_digits_of(tmp, digits, exp10);
}

static inline int ref_shortest_digits(double v, char *digits, int *exp10) { return ref_search(v, true, digits, exp10); }
static inline int ref_shortest_digits_former(double v, char *digits, int *exp10) {
    return ref_search(v, false, digits, exp10);
}

static inline size_t ref_special(double v, char *out) {
    const char *s = isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf";
    size_t n = strlen(s);
    memcpy(out, s, n + 1);
    return n;
}

static inline size_t ref_positional(double v, const char *d, int n, int e, char *out) {
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

/* vg_fmt_float over the reference digits. */
static inline size_t ref_fmt_float(double v, char *out) {
    if (!isfinite(v)) return ref_special(v, out);
    if (v == 0) return (size_t)sprintf(out, "%s", signbit(v) ? "-0" : "0");
    char d[24];
    int e, n = ref_shortest_digits(v, d, &e);
    return ref_positional(v, d, n, e, out);
}

/* vg_fmt_float_g over the reference digits. */
static inline size_t ref_fmt_float_g(double v, char *out) {
    if (!isfinite(v)) return ref_special(v, out);
    if (v == 0) return ref_fmt_float(v, out);
    char d[24];
    int e, n = ref_shortest_digits(v, d, &e);
    int x = e - 1;
    if (x >= -4 && x < 21) return ref_positional(v, d, n, e, out);
    size_t o = 0;
    if (v < 0) out[o++] = '-';
    out[o++] = d[0];
    if (n > 1) {
        out[o++] = '.';
        memcpy(out + o, d + 1, (size_t)(n - 1));
        o += (size_t)(n - 1);
    }
    o += (size_t)sprintf(out + o, "e%c%02d", x < 0 ? '-' : '+', x < 0 ? -x : x);
    return o;
}

#endif
