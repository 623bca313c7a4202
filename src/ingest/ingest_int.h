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

/* [a-zA-Z_] and [a-zA-Z0-9_]: the label name charset. Metric names add ':'. */
static inline bool ingest__is_lstart(unsigned char c) {
    return (unsigned)((c | 0x20) - 'a') < 26u || c == '_';
}
static inline bool ingest__is_lcont(unsigned char c) {
    return ingest__is_lstart(c) || (unsigned)(c - '0') < 10u;
}
static inline bool ingest__is_mstart(unsigned char c) { return ingest__is_lstart(c) || c == ':'; }
static inline bool ingest__is_mcont(unsigned char c) { return ingest__is_lcont(c) || c == ':'; }

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
