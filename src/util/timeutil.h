/* Clocks, Prometheus-style durations ("1h30m", "90s", "1y"), byte sizes ("64MiB") and RFC 3339 time
 * stamps: the parsing and printing every config key and API parameter shares. */
#ifndef VG_UTIL_TIMEUTIL_H
#define VG_UTIL_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Wall clock in milliseconds / seconds since the Unix epoch, and a monotonic clock in nanoseconds. */
int64_t vg_now_ms(void);
double vg_now_s(void);
uint64_t vg_mono_ns(void);

/* Parses a duration in Prometheus' syntax: an ordered sequence of <integer><unit> with units
 * y (365d), w, d, h, m, s, ms, each at most once and in that order; "0" alone is zero.
 * Returns 0 and *out_ms, or VG_EINVAL (empty, unknown unit, wrong order, overflow). */
int vg_duration_parse(const char *s, size_t len, int64_t *out_ms);

/* Prints ms as Prometheus does ("1h30m", "0s"; years and weeks only when exact) into out, which
 * must hold VG_DURATION_MAX bytes. Negative values get a leading '-'. Returns the length. */
#define VG_DURATION_MAX 64
size_t vg_duration_format(int64_t ms, char *out);

/* Parses a byte size: an integer optionally followed by B, KB, KiB, MB, MiB, GB, GiB, TB, TiB
 * (all powers of 1024, as Prometheus' base-2 units). Returns 0 and *out, or VG_EINVAL. */
int vg_size_parse(const char *s, size_t len, uint64_t *out);

/* Formats a Unix time in ms as RFC 3339 UTC with milliseconds ("2026-01-02T03:04:05.678Z") into out,
 * which must hold VG_RFC3339_MAX bytes. Returns the length. */
#define VG_RFC3339_MAX 40
size_t vg_rfc3339_format(int64_t ms, char *out);

/* Parses RFC 3339 ("2026-01-02T03:04:05Z", fractional seconds and ±hh:mm offsets allowed) into
 * Unix ms. Returns 0 or VG_EINVAL. */
int vg_rfc3339_parse(const char *s, size_t len, int64_t *out_ms);

#endif
