/* Float formatting: ns per value of vg_fmt_float (exact shortest digits, src/util/float.c) against the
 * former snprintf("%.*e") + strtod search (tests/unit/util/float_ref.h), and of vg_parse_f64 against
 * strtod, over typical sample values: counters (integers), decimals (rates, ratios, gauges with a few
 * decimals), random bit patterns. Both formatters must produce the same bytes: the benchmark checks it
 * on every value, so neither can be optimised away.
 *
 * One line per case: name ns/op B/op, timed in thread CPU time (stable on a shared machine).
 * usage: bench_float [N values per case, default 1000000] */
#include "util/json.h"

#include "float_ref.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static uint64_t rnd(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void fill(const char *kind, double *v, size_t n) {
    uint64_t x = 1;
    for (size_t i = 0; i < n; i++) {
        uint64_t r = rnd(&x);
        if (!strcmp(kind, "counters")) {
            v[i] = (double)(r % 10000000000ull);
        } else if (!strcmp(kind, "decimals")) { /* rate(): counter deltas over 60 s; ratios; 2-3 decimals */
            switch (r % 3) {
            case 0: v[i] = (double)(r >> 8 & 0xFFFFF) / 60.0; break;
            case 1: v[i] = (double)(r >> 8 & 0xFFFF) / (double)((r >> 24 & 0xFFFF) + 1); break;
            default: v[i] = (double)(r >> 8 & 0xFFFFF) / 1000.0; break;
            }
        } else {
            do {
                memcpy(&v[i], &r, sizeof r);
                r = rnd(&x);
            } while (v[i] != v[i] || v[i] - v[i] != 0);
        }
    }
}

int main(int argc, char **argv) {
    size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
    const char *kinds[] = {"counters", "decimals", "random"};
    double *v = malloc(n * sizeof *v);
    size_t *off = malloc((n + 1) * sizeof *off);
    if (!v || !off) return 1;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        fill(kinds[k], v, n);
        char out[VG_FLOAT_MAX], ref[VG_FLOAT_MAX];
        size_t bytes = 0, bytes_ref = 0;
        unsigned check = 0, check_ref = 0;
        double t0 = now_ns();
        for (size_t i = 0; i < n; i++) {
            size_t len = vg_fmt_float(v[i], out);
            bytes += len, check += (unsigned char)out[len - 1];
        }
        double t_new = now_ns() - t0;
        t0 = now_ns();
        for (size_t i = 0; i < n; i++) {
            size_t len = ref_fmt_float(v[i], ref);
            bytes_ref += len, check_ref += (unsigned char)ref[len - 1];
        }
        double t_ref = now_ns() - t0;
        /* the same bytes, value by value (untimed) */
        char *text = malloc(bytes + n);
        if (!text) return 1;
        off[0] = 0;
        for (size_t i = 0; i < n; i++) {
            size_t len = vg_fmt_float(v[i], text + off[i]);
            ref_fmt_float(v[i], ref);
            if (strcmp(ref, text + off[i])) {
                fprintf(stderr, "bench_float: %.17g: %s, the reference %s\n", v[i], text + off[i], ref);
                return 1;
            }
            off[i + 1] = off[i] + len + 1;
        }
        if (bytes != bytes_ref || check != check_ref) return 1;
        printf("fmt_float/%-9s exact          %8.1f ns/op %6.1f B/op\n", kinds[k], t_new / (double)n, (double)bytes / (double)n);
        printf("fmt_float/%-9s snprintf+strtod %7.1f ns/op %6.1f B/op\n", kinds[k], t_ref / (double)n,
               (double)bytes_ref / (double)n);
        /* parse the texts back */
        double sum = 0, sum_ref = 0;
        t0 = now_ns();
        for (size_t i = 0; i < n; i++) {
            double d;
            if (vg_parse_f64(text + off[i], off[i + 1] - off[i] - 1, &d) || d != v[i]) {
                fprintf(stderr, "bench_float: vg_parse_f64(%s) != %.17g\n", text + off[i], v[i]);
                return 1;
            }
            sum += d;
        }
        double p_new = now_ns() - t0;
        t0 = now_ns();
        for (size_t i = 0; i < n; i++) sum_ref += strtod(text + off[i], NULL);
        double p_ref = now_ns() - t0;
        free(text);
        if (sum != sum_ref) return 1;
        printf("parse_f64/%-9s vg_parse_f64   %8.1f ns/op\n", kinds[k], p_new / (double)n);
        printf("parse_f64/%-9s strtod         %8.1f ns/op\n", kinds[k], p_ref / (double)n);
    }
    free(v);
    free(off);
    return 0;
}
