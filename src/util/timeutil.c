/* Clocks, durations, sizes and RFC 3339; see timeutil.h. */
#include "timeutil.h"

#include "error.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t vg_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double vg_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

uint64_t vg_mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static const struct {
    const char *unit;
    int64_t ms;
} units[] = {
    {"y", 365LL * 24 * 3600 * 1000}, {"w", 7LL * 24 * 3600 * 1000}, {"d", 24LL * 3600 * 1000},
    {"h", 3600LL * 1000},            {"m", 60LL * 1000},            {"s", 1000},
    {"ms", 1},
};
#define N_UNITS (sizeof units / sizeof units[0])

int vg_duration_parse(const char *s, size_t len, int64_t *out_ms) {
    *out_ms = 0;
    if (len == 0) return VG_EINVAL;
    if (len == 1 && s[0] == '0') return 0;
    size_t i = 0, next_unit = 0;
    int64_t total = 0;
    while (i < len) {
        if (s[i] < '0' || s[i] > '9') return VG_EINVAL;
        int64_t n = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (n > (INT64_MAX - 9) / 10) return VG_EINVAL;
            n = n * 10 + (s[i++] - '0');
        }
        size_t ustart = i;
        while (i < len && (s[i] < '0' || s[i] > '9')) i++;
        size_t ulen = i - ustart;
        size_t u = next_unit;
        while (u < N_UNITS && (strlen(units[u].unit) != ulen || memcmp(units[u].unit, s + ustart, ulen)))
            u++;
        if (u == N_UNITS) return VG_EINVAL; /* unknown unit, repeated or out of order */
        if (n > (INT64_MAX - total) / units[u].ms) return VG_EINVAL;
        total += n * units[u].ms;
        next_unit = u + 1;
    }
    *out_ms = total;
    return 0;
}

size_t vg_duration_format(int64_t ms, char *out) {
    size_t n = 0;
    if (ms == 0) {
        memcpy(out, "0s", 3);
        return 2;
    }
    uint64_t v = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
    if (ms < 0) out[n++] = '-';
    for (size_t u = 0; u < N_UNITS; u++) {
        uint64_t mult = (uint64_t)units[u].ms;
        if (u < 2 && v % mult) continue; /* years and weeks only when exact: "90d", not "12w6d" */
        uint64_t q = v / mult;
        if (q == 0) continue;
        n += (size_t)snprintf(out + n, VG_DURATION_MAX - n, "%llu%s", (unsigned long long)q, units[u].unit);
        v -= q * mult;
    }
    out[n] = '\0';
    return n;
}

int vg_size_parse(const char *s, size_t len, uint64_t *out) {
    static const struct {
        const char *unit;
        unsigned shift;
    } su[] = {{"", 0},     {"B", 0},     {"KB", 10}, {"KiB", 10}, {"MB", 20}, {"MiB", 20},
              {"GB", 30}, {"GiB", 30}, {"TB", 40}, {"TiB", 40}};
    *out = 0;
    size_t i = 0;
    uint64_t n = 0;
    if (len == 0 || s[0] < '0' || s[0] > '9') return VG_EINVAL;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        if (n > (UINT64_MAX - 9) / 10) return VG_EINVAL;
        n = n * 10 + (uint64_t)(s[i++] - '0');
    }
    size_t ulen = len - i;
    for (size_t u = 0; u < sizeof su / sizeof su[0]; u++) {
        if (strlen(su[u].unit) != ulen || memcmp(su[u].unit, s + i, ulen)) continue;
        if (su[u].shift && n > (UINT64_MAX >> su[u].shift)) return VG_EINVAL;
        *out = n << su[u].shift;
        return 0;
    }
    return VG_EINVAL;
}

/* Days since 1970-01-01 of a civil date (proleptic Gregorian), and back (H. Hinnant's algorithms). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

size_t vg_rfc3339_format(int64_t ms, char *out) {
    int64_t secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    int64_t frac = ms - secs * 1000;
    int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
    int64_t sod = secs - days * 86400;
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    int n = snprintf(out, VG_RFC3339_MAX, "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ", (long long)y, m, d,
                     (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60), (int)frac);
    return n < 0 ? 0 : (size_t)n;
}

static int digits(const char *s, size_t len, size_t *i, int n, int *out) {
    int v = 0;
    for (int k = 0; k < n; k++, (*i)++) {
        if (*i >= len || s[*i] < '0' || s[*i] > '9') return -1;
        v = v * 10 + (s[*i] - '0');
    }
    *out = v;
    return 0;
}

int vg_rfc3339_parse(const char *s, size_t len, int64_t *out_ms) {
    size_t i = 0;
    int Y, M, D, h, mi, se;
    *out_ms = 0;
    if (digits(s, len, &i, 4, &Y) || i >= len || s[i++] != '-' || digits(s, len, &i, 2, &M) ||
        i >= len || s[i++] != '-' || digits(s, len, &i, 2, &D) || i >= len ||
        (s[i] != 'T' && s[i] != 't' && s[i] != ' '))
        return VG_EINVAL;
    i++;
    if (digits(s, len, &i, 2, &h) || i >= len || s[i++] != ':' || digits(s, len, &i, 2, &mi) ||
        i >= len || s[i++] != ':' || digits(s, len, &i, 2, &se))
        return VG_EINVAL;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || h > 23 || mi > 59 || se > 60) return VG_EINVAL;
    int64_t frac_ms = 0;
    if (i < len && s[i] == '.') {
        i++;
        int nd = 0;
        int64_t scale = 100;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (nd < 3) frac_ms += (s[i] - '0') * scale;
            scale /= 10;
            nd++;
            i++;
        }
        if (nd == 0) return VG_EINVAL;
    }
    int64_t off = 0;
    if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i < len && (s[i] == '+' || s[i] == '-')) {
        int sign = s[i++] == '-' ? -1 : 1, oh, om;
        if (digits(s, len, &i, 2, &oh) || i >= len || s[i++] != ':' || digits(s, len, &i, 2, &om) ||
            oh > 23 || om > 59)
            return VG_EINVAL;
        off = sign * (oh * 3600 + om * 60);
    } else {
        return VG_EINVAL;
    }
    if (i != len) return VG_EINVAL;
    int64_t days = days_from_civil(Y, (unsigned)M, (unsigned)D);
    *out_ms = ((days * 86400 + h * 3600 + mi * 60 + se) - off) * 1000 + frac_ms;
    return 0;
}
