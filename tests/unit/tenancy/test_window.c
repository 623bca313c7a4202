/* Sliding-window limits: exactly `max` events in any window, the wait is until the oldest leaves, keys
 * are independent, a lowered max counts the events already in, idle keys leave the table, and a full
 * table of busy keys refuses new ones. */
#include "tenancy/tenancy.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define S 1000000000ull /* ns per second */
#define WINDOW_MS (300 * 1000)

static void five_per_window(void **state) {
    (void)state;
    tenancy_window_t *w;
    assert_int_equal(tenancy_window_new(16, &w), 0);
    uint64_t t0 = 1000 * S;
    for (int i = 0; i < 5; i++) assert_int_equal(tenancy_window_take(w, "acme", "grafana-token", 5, WINDOW_MS, t0 + i * 10 * S), 0);
    /* the 6th waits until the oldest (t0) leaves: t0 + 300s - (t0 + 50s) */
    assert_int_equal(tenancy_window_take(w, "acme", "grafana-token", 5, WINDOW_MS, t0 + 50 * S), 250 * 1000);
    assert_int_equal(tenancy_window_take(w, "acme", "grafana-token", 5, WINDOW_MS, t0 + 300 * S - 1), 1);
    /* a refusal records nothing: the oldest leaves at exactly t0 + 300s */
    assert_int_equal(tenancy_window_take(w, "acme", "grafana-token", 5, WINDOW_MS, t0 + 300 * S), 0);
    /* now t0+10 … t0+40 and t0+300 are in: the next waits for t0+10 to leave */
    assert_int_equal(tenancy_window_take(w, "acme", "grafana-token", 5, WINDOW_MS, t0 + 300 * S), 10 * 1000);
    /* a token bucket of the same rate would let a request through every 60s; the window does not */
    assert_true(tenancy_window_take(w, "acme", "grafana-token", 5, WINDOW_MS, t0 + 309 * S) > 0);
    /* other tenants and classes have their own windows */
    assert_int_equal(tenancy_window_take(w, "other", "grafana-token", 5, WINDOW_MS, t0 + 50 * S), 0);
    assert_int_equal(tenancy_window_take(w, "acme", "grafana-credential", 5, WINDOW_MS, t0 + 50 * S), 0);
    /* a lowered max (reload) counts the events already in: with 2 allowed, 4 must leave */
    assert_int_equal(tenancy_window_take(w, "acme", "grafana-token", 2, WINDOW_MS, t0 + 310 * S), 30 * 1000);
    assert_int_equal(tenancy_window_take(w, "acme", "grafana-token", 0, WINDOW_MS, t0), VG_EINVAL);
    tenancy_window_free(w);
}

static void bounded(void **state) {
    (void)state;
    tenancy_window_t *w;
    assert_int_equal(tenancy_window_new(2, &w), 0);
    uint64_t t0 = 5 * S;
    assert_int_equal(tenancy_window_take(w, "a", "k", 5, WINDOW_MS, t0), 0);
    assert_int_equal(tenancy_window_take(w, "b", "k", 5, WINDOW_MS, t0 + S), 0);
    assert_int_equal(tenancy_window_size(w), 2);
    /* full of busy keys: a new one is refused for a window, nobody's limit is lifted */
    assert_int_equal(tenancy_window_take(w, "c", "k", 5, WINDOW_MS, t0 + 2 * S), WINDOW_MS);
    /* once a and b are idle for a window they leave, and c fits */
    assert_int_equal(tenancy_window_take(w, "c", "k", 5, WINDOW_MS, t0 + 301 * S), 0);
    assert_int_equal(tenancy_window_size(w), 1);
    /* tenant and class do not run together ("a" + "bk" is not "ab" + "k") */
    assert_int_equal(tenancy_window_take(w, "ab", "k", 1, WINDOW_MS, t0 + 302 * S), 0);
    tenancy_window_free(w);
    assert_int_equal(tenancy_window_new(4, &w), 0);
    assert_int_equal(tenancy_window_take(w, "ab", "k", 1, WINDOW_MS, t0), 0);
    assert_int_equal(tenancy_window_take(w, "a", "bk", 1, WINDOW_MS, t0), 0);
    assert_true(tenancy_window_take(w, "ab", "k", 1, WINDOW_MS, t0) > 0);
    tenancy_window_free(w);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(five_per_window), cmocka_unit_test(bounded)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
