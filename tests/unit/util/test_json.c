/* The JSON writer and float formatting must match Go's output byte for byte. */
#include "util/json.h"

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

/* The definition of shortest: the first precision 1…17 whose rounding reads back as v. */
static void shortest_by_search(double v, char *out) {
    char tmp[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, v);
        if (strtod(tmp, NULL) == v) break;
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(float_f), cmocka_unit_test(float_g), cmocka_unit_test(escape),
        cmocka_unit_test(writer),  cmocka_unit_test(float_roundtrip), cmocka_unit_test(float_shortest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
