/* The hand-written JSON writer of the hot path (query answers, status documents) and Go-compatible
 * number formatting, so that vigil's answers are byte-identical to Prometheus' where it matters.
 *
 * The writer appends to a vg_buf_t and tracks nothing but a comma flag per nesting level; callers emit
 * well-formed sequences (key before value inside objects). Strings are escaped as Go's encoding/json
 * does: control characters, '"', '\\', and '<' '>' '&' U+2028 U+2029 as \uXXXX; invalid UTF-8 becomes
 * U+FFFD. */
#ifndef VG_UTIL_JSON_H
#define VG_UTIL_JSON_H

#include "buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VG_JSON_MAX_DEPTH 64

typedef struct vg_json {
    vg_buf_t *b;              /* borrowed */
    int depth;
    bool after_key;
    bool need_comma[VG_JSON_MAX_DEPTH];
} vg_json_t;

void vg_json_init(vg_json_t *j, vg_buf_t *b);
void vg_json_obj_open(vg_json_t *j);
void vg_json_obj_close(vg_json_t *j);
void vg_json_arr_open(vg_json_t *j);
void vg_json_arr_close(vg_json_t *j);
/* Writes an object key (NUL-terminated, escaped) followed by ':'. */
void vg_json_key(vg_json_t *j, const char *key);
void vg_json_str(vg_json_t *j, const char *s);
void vg_json_strn(vg_json_t *j, const char *s, size_t len);
void vg_json_i64(vg_json_t *j, int64_t v);
void vg_json_u64(vg_json_t *j, uint64_t v);
void vg_json_bool(vg_json_t *j, bool v);
void vg_json_null(vg_json_t *j);
/* A float as a JSON number in Go's shortest 'f' form; non-finite values are written as null. */
void vg_json_f64(vg_json_t *j, double v);
/* A float as a JSON string the way the Prometheus API writes sample values: "1.5", "NaN", "+Inf". */
void vg_json_f64_str(vg_json_t *j, double v);
/* A Unix time in ms as a number of seconds with up to 3 decimals, trailing zeros trimmed (1500 ms → 1.5,
 * 2000 ms → 2): Go's encoding/json of t/1000, as Prometheus writes scalar and string results. */
void vg_json_ts_ms(vg_json_t *j, int64_t ms);
/* The same the way Prometheus writes the points of vectors and matrices (jsonutil.MarshalTimestamp):
 * the fraction, when not zero, always has 3 digits (1500 ms → 1.500, 2000 ms → 2). */
void vg_json_ts_ms_point(vg_json_t *j, int64_t ms);
/* A sample value of a vector or matrix as Prometheus writes it (jsonutil.MarshalValue): a string, in
 * exponent form when 0 < |v| < 1e-6 or |v| >= 1e21 ("1e-07", "2.5e+21"), else as vg_json_f64_str. */
void vg_json_f64_str_point(vg_json_t *j, double v);
/* Appends already-encoded JSON verbatim as one value. */
void vg_json_raw(vg_json_t *j, const char *s, size_t len);

/* Escapes s as a JSON string literal (with quotes) onto b. */
void vg_json_escape(vg_buf_t *b, const char *s, size_t len);

/* Formats v like Go's strconv.FormatFloat(v, 'f', -1, 64): the shortest decimal that reads back as v,
 * never in exponent form ("0.0001", "1e+21" → "1000000000000000000000"); "NaN", "+Inf", "-Inf".
 * out must hold VG_FLOAT_MAX bytes. Returns the length. */
#define VG_FLOAT_MAX 360
size_t vg_fmt_float(double v, char *out);

/* Same in Go's 'g'-like shortest form used by %v / FormatFloat(v, 'g', -1, 64): exponent form for
 * exponents < -4 or >= 21 ("1e+21", "1e-05"). out must hold VG_FLOAT_MAX bytes. Returns the length. */
size_t vg_fmt_float_g(double v, char *out);

/* The shortest decimal digits that read back as v (finite, non-zero): fills digits (no dot, no sign, no
 * trailing zeros; room for 18 bytes) and exp10 such that |v| = 0.d1d2d3... x 10^exp10. Returns the number
 * of digits. For formatters with other layouts (Go's fmt verbs). */
int vg_shortest_digits(double v, char *digits, int *exp10);

/* Parses s[0..len) as strtod() would parse the whole of it (decimal, hex, "NaN", "+Inf", ...) and
 * returns 0, or -1 when it is not one number. Decimals of up to 19 significant digits that fit in 53 bits
 * with an exponent within ±22 — most sample values — are converted exactly without strtod. */
int vg_parse_f64(const char *s, size_t len, double *out);

#endif
