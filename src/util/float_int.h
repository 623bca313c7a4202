/* util's internals shared by the shortest float formatting (float_shortest.c) and the build-time
 * generator of its powers of ten (gen_float_pow10.c). Not a public header. */
#ifndef VG_UTIL_FLOAT_INT_H
#define VG_UTIL_FLOAT_INT_H

#include <stdint.h>

/* The decimal exponents a double's rounding interval needs: floor(log10(2^q)) for q in [-1074, 971]. */
#define VG__F64_K_MIN (-324)
#define VG__F64_K_MAX 292

/* g(k) = floor(10^-k · 2^(125 - floor(log2(10^-k)))) + 1 as {high 63 bits, low 63 bits}, indexed by
 * k - VG__F64_K_MIN (generated at build time). */
extern const uint64_t vg__f64_pow10[VG__F64_K_MAX - VG__F64_K_MIN + 1][2];

/* floor(log10(2^e)), floor(log10(3/4 · 2^e)) and floor(log2(10^e)) by fixed-point multiplication by
 * log10(2), log10(3/4) and log2(10) (scaled by 2^41, 2^41 and 2^38): exact over the range used here
 * (|e| <= 1100) and far beyond; the generator checks floor(log2(10^e)) for every table entry. */
static inline int vg__flog10pow2(int e) { return (int)((int64_t)e * INT64_C(661971961083) >> 41); }
static inline int vg__flog10_3q_pow2(int e) {
    return (int)(((int64_t)e * INT64_C(661971961083) - INT64_C(274743187321)) >> 41);
}
static inline int vg__flog2pow10(int e) { return (int)((int64_t)e * INT64_C(913124641741) >> 38); }

#endif
