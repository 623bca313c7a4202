/* Durations, sizes and RFC 3339 as Prometheus reads and prints them. */
#include "util/error.h"
#include "util/timeutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static int64_t dur(const char *s) {
    int64_t ms = -42;
    assert_int_equal(vg_duration_parse(s, strlen(s), &ms), 0);
    return ms;
}

static void duration_valid(void **state) {
    (void)state;
    assert_int_equal(dur("0"), 0);
    assert_int_equal(dur("5m"), 300000);
    assert_int_equal(dur("1h30m"), 5400000);
    assert_int_equal(dur("2m"), 120000);
    assert_int_equal(dur("1y"), 365LL * 86400000);
    assert_int_equal(dur("1w2d"), 9LL * 86400000);
    assert_int_equal(dur("1s500ms"), 1500);
    assert_int_equal(dur("15d"), 15LL * 86400000);
}

static void duration_invalid(void **state) {
    (void)state;
    const char *bad[] = {"", "m", "5", "1.5h", "5x", "1m1h", "1h1h", "-5m", "1 m", "99999999999999999999y", "ms5",
                         "5mm", "1h 2m"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms;
        int rc = vg_duration_parse(bad[i], strlen(bad[i]), &ms);
        if (rc != VG_EINVAL) fail_msg("\"%s\" parsed (rc=%d, ms=%lld)", bad[i], rc, (long long)ms);
    }
}

static void duration_format(void **state) {
    (void)state;
    struct {
        int64_t ms;
        const char *want;
    } cases[] = {{0, "0s"},           {1500, "1s500ms"},     {5400000, "1h30m"},         {90LL * 86400000, "90d"},
                 {14LL * 86400000, "2w"}, {365LL * 86400000, "1y"}, {-60000, "-1m"}, {86400000LL + 1, "1d1ms"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[VG_DURATION_MAX];
        vg_duration_format(cases[i].ms, out);
        assert_string_equal(out, cases[i].want);
    }
}

static void size_parse(void **state) {
    (void)state;
    uint64_t v;
    assert_int_equal(vg_size_parse("64MiB", 5, &v), 0);
    assert_int_equal(v, 64u << 20);
    assert_int_equal(vg_size_parse("512KB", 5, &v), 0);
    assert_int_equal(v, 512u << 10);
    assert_int_equal(vg_size_parse("100", 3, &v), 0);
    assert_int_equal(v, 100);
    assert_int_equal(vg_size_parse("1GiB", 4, &v), 0);
    assert_int_equal(v, 1u << 30);
    assert_int_equal(vg_size_parse("64XB", 4, &v), VG_EINVAL);
    assert_int_equal(vg_size_parse("MiB", 3, &v), VG_EINVAL);
    assert_int_equal(vg_size_parse("", 0, &v), VG_EINVAL);
    assert_int_equal(vg_size_parse("99999999999TiB", 14, &v), VG_EINVAL);
}

static void rfc3339(void **state) {
    (void)state;
    char out[VG_RFC3339_MAX];
    vg_rfc3339_format(0, out);
    assert_string_equal(out, "1970-01-01T00:00:00.000Z");
    vg_rfc3339_format(1435781451781LL, out);
    assert_string_equal(out, "2015-07-01T20:10:51.781Z");
    int64_t ms;
    assert_int_equal(vg_rfc3339_parse("2015-07-01T20:10:51.781Z", 24, &ms), 0);
    assert_int_equal(ms, 1435781451781LL);
    const char *off = "2015-07-01T22:10:51+02:00";
    assert_int_equal(vg_rfc3339_parse(off, strlen(off), &ms), 0);
    assert_int_equal(ms, 1435781451000LL);
    const char *bad = "2015-02-30T00:00:00Z";
    assert_int_equal(vg_rfc3339_parse(bad, strlen(bad), &ms), VG_EINVAL);
    bad = "2015-07-01T20:10:51";
    assert_int_equal(vg_rfc3339_parse(bad, strlen(bad), &ms), VG_EINVAL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(duration_valid), cmocka_unit_test(duration_invalid), cmocka_unit_test(duration_format),
        cmocka_unit_test(size_parse),     cmocka_unit_test(rfc3339),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
