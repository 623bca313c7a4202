/* The thread pool: every index of a batch runs once, on several threads at once, batches of concurrent
 * callers share the workers, and a pool without workers (or none at all) runs a batch on the caller. */
#include "util/pool.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

typedef struct {
    _Atomic int runs[64];
    _Atomic int running, peak;
} work_t;

static void task(void *p, size_t i) {
    work_t *w = p;
    int now = atomic_fetch_add(&w->running, 1) + 1;
    int peak = atomic_load(&w->peak);
    while (now > peak && !atomic_compare_exchange_weak(&w->peak, &peak, now)) {
    }
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
    atomic_fetch_add(&w->runs[i], 1);
    atomic_fetch_sub(&w->running, 1);
}

static void every_index_once(void **state) {
    (void)state;
    vg_pool_t *p;
    assert_int_equal(vg_pool_new(3, &p), 0);
    work_t w;
    memset(&w, 0, sizeof w);
    vg_pool_map(p, task, &w, 64);
    for (int i = 0; i < 64; i++) assert_int_equal(atomic_load(&w.runs[i]), 1);
    assert_true(atomic_load(&w.peak) > 1); /* the workers and the caller together */
    assert_true(atomic_load(&w.peak) <= 4);
    vg_pool_free(p);
}

static void *caller(void *arg) {
    void **a = arg;
    vg_pool_map(a[0], task, a[1], 32);
    return NULL;
}

static void concurrent_batches(void **state) {
    (void)state;
    vg_pool_t *p;
    assert_int_equal(vg_pool_new(2, &p), 0);
    work_t w[4];
    memset(w, 0, sizeof w);
    pthread_t th[4];
    void *args[4][2];
    for (int i = 0; i < 4; i++) {
        args[i][0] = p, args[i][1] = &w[i];
        assert_int_equal(pthread_create(&th[i], NULL, caller, args[i]), 0);
    }
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < 32; i++) assert_int_equal(atomic_load(&w[k].runs[i]), 1);
    vg_pool_free(p);
}

static void without_workers(void **state) {
    (void)state;
    vg_pool_t *p;
    assert_int_equal(vg_pool_new(0, &p), 0);
    work_t w;
    memset(&w, 0, sizeof w);
    vg_pool_map(p, task, &w, 8);
    vg_pool_map(NULL, task, &w, 8);
    for (int i = 0; i < 8; i++) assert_int_equal(atomic_load(&w.runs[i]), 2);
    assert_int_equal(atomic_load(&w.peak), 1);
    vg_pool_map(p, task, &w, 0);
    vg_pool_free(p);
    vg_pool_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_index_once),
        cmocka_unit_test(concurrent_batches),
        cmocka_unit_test(without_workers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
