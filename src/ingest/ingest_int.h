/* Helpers shared by the ingest module's parsers (not part of the public API).
 *
 * Invariant: every function here reads only the bytes [s, s+n) it is given. */
#ifndef VG_INGEST_INT_H
#define VG_INGEST_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* True if s[0..n) is valid UTF-8 as Go's utf8.Valid defines it (no overlongs, no surrogates,
 * nothing above U+10FFFF). ASCII runs are checked eight bytes at a time. */
bool ingest__utf8_valid(const char *s, size_t n);

/* Character classes of names: [a-zA-Z_] starts a label name, [a-zA-Z0-9_] continues it; metric
 * names add ':'. One table load per byte on the hot path. */
enum { INGEST__C_LSTART = 1, INGEST__C_LCONT = 2, INGEST__C_MSTART = 4, INGEST__C_MCONT = 8 };
static const uint8_t ingest__cclass[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 12, 0, 0, 0, 0, 0,
    0, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 0, 0, 0, 0, 15,
    0, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};
static inline bool ingest__is_lstart(unsigned char c) { return ingest__cclass[c] & INGEST__C_LSTART; }
static inline bool ingest__is_lcont(unsigned char c) { return ingest__cclass[c] & INGEST__C_LCONT; }
static inline bool ingest__is_mstart(unsigned char c) { return ingest__cclass[c] & INGEST__C_MSTART; }
static inline bool ingest__is_mcont(unsigned char c) { return ingest__cclass[c] & INGEST__C_MCONT; }

/* True if s[0..n) is a valid label name. */
static inline bool ingest__label_name_valid(const char *s, size_t n) {
    if (n == 0 || !ingest__is_lstart((unsigned char)s[0])) return false;
    for (size_t i = 1; i < n; i++)
        if (!ingest__is_lcont((unsigned char)s[i])) return false;
    return true;
}

/* Go strconv.ParseFloat(s, 64) as Prometheus' textparse calls it (parseFloat): 'p', 'P' and '_' are
 * refused outright, so hexadecimal floats (which need a 'p' exponent) and digit separators never
 * parse; decimal syntax, "inf"/"infinity" with optional sign and "nan" (case-insensitive) do.
 * Returns one of these; *out is set on INGEST__FLOAT_OK. */
enum {
    INGEST__FLOAT_OK = 0,
    INGEST__FLOAT_UNSUPPORTED, /* "unsupported character in float" */
    INGEST__FLOAT_SYNTAX,      /* "invalid syntax" */
    INGEST__FLOAT_RANGE,       /* "value out of range" (overflow; underflow rounds as Go does) */
    INGEST__FLOAT_TOOLONG,     /* more than INGEST__FLOAT_MAX_LEN bytes (vigil's own limit) */
};
#define INGEST__FLOAT_MAX_LEN 255
int ingest__parse_float(const char *s, size_t n, double *out);
const char *ingest__float_err_str(int rc);

#endif
