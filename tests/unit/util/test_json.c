/* The JSON writer and float formatting must match Go's output byte for byte. */
#include "util/json.h"

#include "float_ref.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void check_float(double v, const char *want) {
    char out[VG_FLOAT_MAX];
    vg_fmt_float(v, out);
    if (strcmp(out, want)) fail_msg("vg_fmt_float(%.17g) = \"%s\", want \"%s\"", v, out, want);
}

static void float_f(void **state) {
    (void)state;
    check_float(0, "0");
    check_float(-0.0, "-0");
    check_float(1, "1");
    check_float(-2.5, "-2.5");
    check_float(0.1, "0.1");
    check_float(1e21, "1000000000000000000000");
    check_float(1e-7, "0.0000001");
    check_float(123456.789, "123456.789");
    check_float(0.30000000000000004, "0.30000000000000004");
    char max[400] = "17976931348623157";
    memset(max + 17, '0', 292); /* DBL_MAX has 309 integer digits */
    max[309] = '\0';
    check_float(1.7976931348623157e308, max);
    check_float(NAN, "NaN");
    check_float(INFINITY, "+Inf");
    check_float(-INFINITY, "-Inf");
    check_float(1435781451.781, "1435781451.781");
}

static void float_g(void **state) {
    (void)state;
    char out[VG_FLOAT_MAX];
    struct {
        double v;
        const char *want;
    } c[] = {{1e21, "1e+21"}, {1e20, "100000000000000000000"}, {1e-5, "1e-05"}, {0.0001, "0.0001"},
             {2.5e-10, "2.5e-10"}, {-1.5e300, "-1.5e+300"}, {0.005, "0.005"}, {42, "42"}};
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        vg_fmt_float_g(c[i].v, out);
        assert_string_equal(out, c[i].want);
    }
}

static void escape(void **state) {
    (void)state;
    vg_buf_t b = VG_BUF_INIT;
    const char in[] = "a\"b\\c\n\t\x01<>&\xe2\x80\xa8\xff\xc3\xa9";
    vg_json_escape(&b, in, sizeof in - 1);
    assert_string_equal(b.data, "\"a\\\"b\\\\c\\n\\t\\u0001\\u003c\\u003e\\u0026\\u2028\xef\xbf\xbd\xc3\xa9\"");
    vg_buf_deinit(&b);
}

static void writer(void **state) {
    (void)state;
    vg_buf_t b = VG_BUF_INIT;
    vg_json_t j;
    vg_json_init(&j, &b);
    vg_json_obj_open(&j);
    vg_json_key(&j, "status"), vg_json_str(&j, "success");
    vg_json_key(&j, "data");
    vg_json_arr_open(&j);
    vg_json_ts_ms(&j, 1435781451781);
    vg_json_f64_str(&j, 1.5);
    vg_json_ts_ms(&j, 2000);
    vg_json_obj_open(&j);
    vg_json_obj_close(&j);
    vg_json_arr_close(&j);
    vg_json_key(&j, "n"), vg_json_i64(&j, -3);
    vg_json_key(&j, "ok"), vg_json_bool(&j, true);
    vg_json_key(&j, "x"), vg_json_f64(&j, INFINITY);
    vg_json_key(&j, "p");
    vg_json_arr_open(&j);
    vg_json_ts_ms_point(&j, 1500), vg_json_ts_ms_point(&j, 2000), vg_json_ts_ms_point(&j, 1005);
    vg_json_f64_str_point(&j, 1e-7), vg_json_f64_str_point(&j, 2.5e21), vg_json_f64_str_point(&j, 0.5),
        vg_json_f64_str_point(&j, NAN);
    vg_json_arr_close(&j);
    vg_json_obj_close(&j);
    assert_false(b.failed);
    assert_string_equal(b.data, "{\"status\":\"success\",\"data\":[1435781451.781,\"1.5\",2,{}],\"n\":-3,\"ok\":true,\"x\":null,"
                                "\"p\":[1.500,2,1.005,\"1e-07\",\"2.5e+21\",\"0.5\",\"NaN\"]}");
    vg_buf_deinit(&b);
}

/* Every finite double printed must read back bit-exactly. */
static void float_roundtrip(void **state) {
    (void)state;
    uint64_t x = 0x9E3779B97F4A7C15ull;
    char out[VG_FLOAT_MAX];
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double v;
        memcpy(&v, &x, sizeof v);
        if (!isfinite(v)) continue;
        vg_fmt_float(v, out);
        double back = strtod(out, NULL);
        if (memcmp(&back, &v, sizeof v)) fail_msg("%.17g printed as %s", v, out);
    }
}

/* The significant digits of a formatted number: no sign, dot, exponent, leading or trailing zeros. */
static void sig_digits(const char *s, char *out) {
    size_t n = 0;
    for (; *s && *s != 'e'; s++)
        if (*s >= '0' && *s <= '9' && (n || *s != '0')) out[n++] = *s;
    while (n > 1 && out[n - 1] == '0') n--;
    out[n] = '\0';
}

/* The definition of shortest: the first precision 1…17 at which v's rounding, or at a power of two the
 * decimal one unit above it (float_ref.h), reads back as v. */
static void shortest_by_search(double v, char *out) {
    char tmp[48], up[48];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, v);
        if (strtod(tmp, NULL) == v) break;
        ref_increment(tmp, up, sizeof up);
        if (ref_lopsided(v) && strtod(up, NULL) == v) {
            memcpy(tmp, up, sizeof tmp);
            break;
        }
    }
    sig_digits(tmp, out);
}

static void expect_shortest(double v) {
    char out[VG_FLOAT_MAX], got[VG_FLOAT_MAX], want[VG_FLOAT_MAX];
    vg_fmt_float(v, out);
    sig_digits(out, got);
    shortest_by_search(v, want);
    if (strcmp(got, want)) fail_msg("vg_fmt_float(%.17g) = %s: digits %s, the shortest are %s", v, out, got, want);
    vg_fmt_float_g(v, out);
    sig_digits(out, got);
    if (strcmp(got, want)) fail_msg("vg_fmt_float_g(%.17g) = %s: digits %s, the shortest are %s", v, out, got, want);
}

/* The digits are the shortest that round-trip, for short decimals, full-precision values, neighbours of
 * powers of two (where the rounding interval is lopsided) and subnormals. */
static void float_shortest(void **state) {
    (void)state;
    uint64_t x = 0x2545F4914F6CDD1Dull;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double v;
        memcpy(&v, &x, sizeof v);
        if (isfinite(v) && v != 0) expect_shortest(v);                 /* any bit pattern */
        double dec = (double)(x % 100000000) / pow(10, (double)((x >> 40) % 20)); /* a short decimal */
        if (dec != 0) expect_shortest(dec), expect_shortest(-dec * 1e200);
        double p2 = ldexp(1.0, (int)(x >> 50) % 2000 - 1000);             /* around a power of two */
        expect_shortest(p2), expect_shortest(nextafter(p2, 0)), expect_shortest(nextafter(p2, INFINITY));
        uint64_t sub = x & 0x000FFFFFFFFFFFFFull >> (x >> 58);              /* subnormal */
        memcpy(&v, &sub, sizeof v);
        if (v != 0) expect_shortest(v);
    }
    expect_shortest(5e-324);
    expect_shortest(2.2250738585072014e-308);
    expect_shortest(1.7976931348623157e308);
}

/* ---- differential: the exact digits against the snprintf + strtod search -------------------------- */

typedef struct diff {
    uint64_t n, former_differs; /* values compared; of those, where the former search printed longer */
} diff_t;

static void diff_one(diff_t *st, double v) {
    if (!isfinite(v) || v == 0) return;
    char got[24], want[24], former[24];
    int ge, we, fe;
    int gn = vg_shortest_digits(v, got, &ge), wn = ref_shortest_digits(v, want, &we);
    st->n++;
    if (gn != wn || ge != we || strcmp(got, want))
        fail_msg("vg_shortest_digits(%a = %.17g) = 0.%s e%d, the reference 0.%s e%d", v, v, got, ge, want, we);
    ref_shortest_digits_former(v, former, &fe);
    if (fe != we || strcmp(former, want)) {
        /* only at a power of two, and only ever one digit longer */
        if (!ref_lopsided(v) || strlen(former) != strlen(want) + 1)
            fail_msg("%.17g: the former search gave 0.%s e%d, the reference 0.%s e%d", v, former, fe, want, we);
        st->former_differs++;
    }
}

static void diff_fmt(double v) {
    char got[VG_FLOAT_MAX], want[VG_FLOAT_MAX];
    size_t gn = vg_fmt_float(v, got), wn = ref_fmt_float(v, want);
    if (gn != wn || strcmp(got, want)) fail_msg("vg_fmt_float(%.17g) = %s, the reference %s", v, got, want);
    gn = vg_fmt_float_g(v, got), wn = ref_fmt_float_g(v, want);
    if (gn != wn || strcmp(got, want)) fail_msg("vg_fmt_float_g(%.17g) = %s, the reference %s", v, got, want);
}

static void diff_around(diff_t *st, double v) {
    diff_one(st, v), diff_one(st, -v), diff_one(st, nextafter(v, 0)), diff_one(st, nextafter(v, INFINITY));
    diff_fmt(v), diff_fmt(-v);
}

static uint64_t splitmix(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Random bit patterns (normals and subnormals, both signs): VG_FLOAT_DIFF_N of them — by default 300,000,
 * which keeps the sanitized build quick; docs/performance.md runs 20 million in an optimised build. */
static void float_diff_random(void **state) {
    (void)state;
    const char *env = getenv("VG_FLOAT_DIFF_N");
    uint64_t n = env ? strtoull(env, NULL, 10) : 300000, x = 42;
    diff_t st = {0, 0};
    for (uint64_t i = 0; i < n; i++) {
        uint64_t b = splitmix(&x);
        if (i % 8 == 0) b &= 0x800FFFFFFFFFFFFFull; /* one in eight subnormal */
        double v;
        memcpy(&v, &b, sizeof v);
        diff_one(&st, v);
        if (i % 64 == 0 && isfinite(v)) diff_fmt(v);
    }
    print_message("# %llu random doubles: identical to the reference\n", (unsigned long long)st.n);
}

/* Every power of two and of ten with its neighbours, integers around 2^53 and powers of ten, the
 * exponent-form boundaries 1e21 and 1e-7 (and 1e-5, 1e-6), sums like 0.1 + 0.2, the extremes, the
 * smallest and largest subnormals, ±0, NaN and ±Inf. */
static void float_diff_boundaries(void **state) {
    (void)state;
    diff_t st = {0, 0};
    for (int e = -1074; e <= 1023; e++) diff_around(&st, ldexp(1, e));
    for (int e = -323; e <= 308; e++) {
        char s[16];
        snprintf(s, sizeof s, "1e%d", e);
        diff_around(&st, strtod(s, NULL));
    }
    for (int64_t i = 1; i <= 20000; i++) diff_one(&st, (double)i), diff_one(&st, (double)i / 1000);
    for (int b = 50; b <= 64; b++)
        for (int64_t k = -200; k <= 200; k++) diff_one(&st, ldexp(1, b) + (double)k * ldexp(1, b - 53));
    for (int e = 1; e <= 22; e++)
        for (int k = -3; k <= 3; k++) diff_one(&st, pow(10, e) + k);
    double misc[] = {0.1 + 0.2, 0.1 + 0.7, 1.0 / 3, 2.0 / 3, 1e21, 1e-7, 1e-5, 1e-6, 1e-4, 1e20, 9.999999999999999e20,
                     DBL_MIN, DBL_MAX, DBL_TRUE_MIN, DBL_EPSILON, 5e-324, 1e-323, 1.5e-323, 2.2250738585072009e-308,
                     9007199254740993.0, 123456.789, 1435781451.781, 0.30000000000000004, 1.7976931348623157e308};
    for (size_t i = 0; i < sizeof misc / sizeof misc[0]; i++) diff_around(&st, misc[i]);
    for (uint64_t c = 1; c <= 20000; c++) { /* the smallest and largest subnormals */
        uint64_t lo = c, hi = (UINT64_C(1) << 52) - c;
        double a, b;
        memcpy(&a, &lo, sizeof a), memcpy(&b, &hi, sizeof b);
        diff_one(&st, a), diff_one(&st, b);
    }
    double specials[] = {0.0, -0.0, NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++) diff_fmt(specials[i]);
    print_message("# %llu boundary doubles: identical to the reference; %llu powers of two the former search "
                  "printed one digit longer\n",
                  (unsigned long long)st.n, (unsigned long long)st.former_differs);
}

/* The exact decimal parser reads what strtod reads, bit for bit. */
static void parse_f64(void **state) {
    (void)state;
    const char *ok[] = {"0", "-0", "1.5", "+2", ".5", "5.", "0.4666666666666667", "1e21", "1e-7", "2.5e+21",
                        "NaN", "+Inf", "-Inf", "inf", "0x1p-3", "123456789012345678901234567890", "9007199254740993",
                        "1e22", "1e23", "4.9e-324", "1.7976931348623157e308", "1e400", " 1", "00.25", "1E5"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        double got, want = strtod(ok[i], NULL);
        if (vg_parse_f64(ok[i], strlen(ok[i]), &got)) fail_msg("vg_parse_f64(\"%s\") failed", ok[i]);
        if (memcmp(&got, &want, sizeof got) && !(isnan(got) && isnan(want)))
            fail_msg("vg_parse_f64(\"%s\") = %a, strtod %a", ok[i], got, want);
    }
    const char *bad_[] = {"", "-", "1e", "1.5x", "x", "1 ", "--1", "."};
    double v;
    for (size_t i = 0; i < sizeof bad_ / sizeof bad_[0]; i++)
        if (!vg_parse_f64(bad_[i], strlen(bad_[i]), &v)) fail_msg("vg_parse_f64(\"%s\") accepted", bad_[i]);
    uint64_t x = 7; /* shortest texts of random doubles and short decimals read back exactly */
    char buf[VG_FLOAT_MAX];
    for (int i = 0; i < 200000; i++) {
        uint64_t b = splitmix(&x);
        double want;
        memcpy(&want, &b, sizeof want);
        if (i & 1) want = (double)(b % 10000000) / pow(10, (double)(b >> 59));
        if (!isfinite(want)) continue;
        size_t n = vg_fmt_float_g(want, buf);
        double got = 0;
        if (vg_parse_f64(buf, n, &got) || memcmp(&got, &want, sizeof got))
            fail_msg("vg_parse_f64(\"%s\") = %a, want %a", buf, got, want);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(float_f), cmocka_unit_test(float_g), cmocka_unit_test(escape),
        cmocka_unit_test(writer),  cmocka_unit_test(float_roundtrip), cmocka_unit_test(float_shortest),
        cmocka_unit_test(float_diff_random), cmocka_unit_test(float_diff_boundaries), cmocka_unit_test(parse_f64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
