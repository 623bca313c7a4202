/* Token buckets (GCRA) and the bounded (tenant, class) table: burst, refill, Retry-After values,
 * unlimited and impossible requests, reparameterisation on reload, eviction, and concurrent takes. */
#include "tenancy/tenancy.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define SEC 1000000000ull
#define T0 (1000 * SEC) /* a monotonic clock far from zero */

static void burst_then_refill(void **state) {
    (void)state;
    tenancy_bucket_t b;
    tenancy_bucket_init(&b, 10.0, 5); /* 10/s, burst 5 */
    for (int i = 0; i < 5; i++) assert_int_equal(tenancy_bucket_take(&b, T0, 1), 0);
    assert_int_equal(tenancy_bucket_take(&b, T0, 1), 100); /* one token every 100 ms */
    assert_int_equal(tenancy_bucket_take(&b, T0 + 50000000, 1), 50);
    assert_int_equal(tenancy_bucket_take(&b, T0 + 99999999, 1), 1); /* rounded up, never 0 */
    assert_int_equal(tenancy_bucket_take(&b, T0 + 100000000, 1), 0);
    assert_int_equal(tenancy_bucket_take(&b, T0 + 100000000, 1), 100);
    /* Long idle: full again, but never more than burst. */
    for (int i = 0; i < 5; i++) assert_int_equal(tenancy_bucket_take(&b, T0 + 3600 * SEC, 1), 0);
    assert_true(tenancy_bucket_take(&b, T0 + 3600 * SEC, 1) > 0);
}

static void take_many(void **state) {
    (void)state;
    tenancy_bucket_t b;
    tenancy_bucket_init(&b, 1000.0, 2000); /* samples/s style */
    assert_int_equal(tenancy_bucket_take(&b, T0, 1500), 0);
    assert_int_equal(tenancy_bucket_take(&b, T0, 1000), 500); /* 500 missing at 1000/s */
    assert_int_equal(tenancy_bucket_take(&b, T0, 500), 0);
    assert_int_equal(tenancy_bucket_take(&b, T0, 2001), VG_ELIMIT); /* more than burst: never */
    assert_int_equal(tenancy_bucket_take(&b, T0, 0), 0);
}

static void slow_rates_and_limits(void **state) {
    (void)state;
    tenancy_bucket_t b;
    tenancy_bucket_init(&b, 0.5, 1); /* one every 2 s */
    assert_int_equal(tenancy_bucket_take(&b, T0, 1), 0);
    assert_int_equal(tenancy_bucket_take(&b, T0, 1), 2000);
    tenancy_bucket_init(&b, 0.0, 10); /* rate 0: unlimited */
    for (int i = 0; i < 1000; i++) assert_int_equal(tenancy_bucket_take(&b, T0, 100000), 0);
    tenancy_bucket_init(&b, -1.0, 10);
    assert_int_equal(tenancy_bucket_take(&b, T0, 1), 0);
    tenancy_bucket_init(&b, 1e-12, UINT64_MAX); /* extreme: saturates, no overflow */
    assert_int_equal(tenancy_bucket_take(&b, T0, 1), 0);
    tenancy_bucket_init(&b, 1e-12, 1);
    assert_int_equal(tenancy_bucket_take(&b, 0, 1), 0);
    assert_true(tenancy_bucket_take(&b, 0, 1) > 0);
    tenancy_bucket_init(&b, 5.0, 0); /* burst 0 is 1 */
    assert_int_equal(tenancy_bucket_take(&b, T0, 1), 0);
    assert_int_equal(tenancy_bucket_take(&b, T0, 1), 200);
}

typedef struct {
    tenancy_bucket_t *b;
    int taken;
} worker_t;

static void *worker(void *arg) {
    worker_t *w = arg;
    for (int i = 0; i < 10000; i++)
        if (tenancy_bucket_take(w->b, T0, 1) == 0) w->taken++;
    return NULL;
}

static void concurrent_takes_never_exceed_burst(void **state) {
    (void)state;
    tenancy_bucket_t b;
    tenancy_bucket_init(&b, 1.0, 1000);
    pthread_t th[8];
    worker_t w[8];
    for (int i = 0; i < 8; i++) {
        w[i] = (worker_t){.b = &b, .taken = 0};
        assert_int_equal(pthread_create(&th[i], NULL, worker, &w[i]), 0);
    }
    int total = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        total += w[i].taken;
    }
    assert_int_equal(total, 1000); /* at a frozen clock: exactly the burst */
}

static void limiter_keys(void **state) {
    (void)state;
    tenancy_limiter_t *l;
    assert_int_equal(tenancy_limiter_new(100, &l), 0);
    for (int i = 0; i < 3; i++) assert_int_equal(tenancy_limiter_take(l, "alice", "query", 1.0, 3, T0, 1), 0);
    assert_int_equal(tenancy_limiter_take(l, "alice", "query", 1.0, 3, T0, 1), 1000);
    /* Another class, another tenant: their own buckets. */
    assert_int_equal(tenancy_limiter_take(l, "alice", "write", 1.0, 3, T0, 1), 0);
    assert_int_equal(tenancy_limiter_take(l, "bob", "query", 1.0, 3, T0, 1), 0);
    /* No key confusion between ("a", "bc") and ("ab", "c"). */
    for (int i = 0; i < 3; i++) assert_int_equal(tenancy_limiter_take(l, "ab", "c", 1.0, 3, T0, 1), 0);
    assert_int_equal(tenancy_limiter_take(l, "a", "bc", 1.0, 3, T0, 1), 0);
    assert_int_equal(tenancy_limiter_size(l), 5);
    /* Reload with a higher rate: the state is kept, the refill is faster. */
    assert_int_equal(tenancy_limiter_take(l, "alice", "query", 10.0, 3, T0, 1), 100);
    assert_int_equal(tenancy_limiter_size(l), 5);
    /* Sweep drops only idle (full) buckets. */
    assert_int_equal(tenancy_limiter_sweep(l, T0), 0);
    assert_int_equal(tenancy_limiter_sweep(l, T0 + 10 * SEC), 5);
    assert_int_equal(tenancy_limiter_size(l), 0);
    tenancy_limiter_free(l);
    tenancy_limiter_free(NULL);
}

static void limiter_bounded(void **state) {
    (void)state;
    tenancy_limiter_t *l;
    assert_int_equal(tenancy_limiter_new(8, &l), 0);
    char name[32];
    /* 100 tenants at one instant: the table never grows past 8; the fullest bucket is dropped. */
    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof name, "t%d", i);
        assert_int_equal(tenancy_limiter_take(l, name, "query", 1.0, 10, T0 + (uint64_t)i, 1), 0);
        assert_true(tenancy_limiter_size(l) <= 8);
    }
    assert_int_equal(tenancy_limiter_size(l), 8);
    /* Idle buckets go first and losslessly: a busy tenant keeps its state. */
    for (int i = 0; i < 10; i++) tenancy_limiter_take(l, "busy", "query", 1.0, 10, T0 + 200 * SEC, 1);
    assert_true(tenancy_limiter_take(l, "busy", "query", 1.0, 10, T0 + 200 * SEC, 1) > 0);
    for (int i = 0; i < 20; i++) {
        snprintf(name, sizeof name, "n%d", i);
        tenancy_limiter_take(l, name, "query", 1.0, 10, T0 + 200 * SEC, 1);
    }
    assert_true(tenancy_limiter_size(l) <= 8);
    /* A long key (past the stack buffer) works too. */
    char big[1000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(tenancy_limiter_take(l, big, "query", 1.0, 1, T0, 1), 0);
    assert_int_equal(tenancy_limiter_take(l, big, "query", 1.0, 1, T0, 1), 1000);
    tenancy_limiter_free(l);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(burst_then_refill),
        cmocka_unit_test(take_many),
        cmocka_unit_test(slow_rates_and_limits),
        cmocka_unit_test(concurrent_takes_never_exceed_burst),
        cmocka_unit_test(limiter_keys),
        cmocka_unit_test(limiter_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
