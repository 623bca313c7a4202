/* Usage per tenant: the concurrent-query gate, counts and last-minute rates, the active-series cache,
 * and the bounded table (idle tenants make room, busy ones are never dropped). */
#include "tenancy/tenancy.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#define T0 INT64_C(1800000000000) /* a wall clock in ms, on a 5 s slot boundary */

static void query_gate(void **state) {
    (void)state;
    tenancy_usage_t *u;
    vg_error_t err;
    assert_int_equal(tenancy_usage_new(16, &u), 0);
    assert_int_equal(tenancy_usage_query_begin(u, "alice", 2, T0, &err), 0);
    assert_int_equal(tenancy_usage_query_begin(u, "alice", 2, T0, &err), 0);
    assert_int_equal(tenancy_usage_query_begin(u, "alice", 2, T0, &err), VG_ERATELIMIT);
    assert_non_null(strstr(err.msg, "concurrent queries"));
    assert_int_equal(tenancy_usage_query_begin(u, "bob", 2, T0, &err), 0); /* another tenant is not affected */
    tenancy_usage_stats_t st;
    tenancy_usage_get(u, "alice", T0, &st);
    assert_int_equal(st.queries_running, 2);
    assert_int_equal(st.queries_total, 2); /* the refused one is not counted */
    tenancy_usage_query_end(u, "alice");
    assert_int_equal(tenancy_usage_query_begin(u, "alice", 2, T0, &err), 0);
    assert_int_equal(tenancy_usage_query_begin(u, "carol", 0, T0, &err), 0); /* 0: no limit */
    for (int i = 0; i < 3; i++) tenancy_usage_query_end(u, "alice"); /* one more end than begins: stays at 0 */
    tenancy_usage_get(u, "alice", T0, &st);
    assert_int_equal(st.queries_running, 0);
    assert_int_equal(st.queries_total, 3);
    tenancy_usage_get(u, "nobody", T0, &st);
    assert_int_equal(st.queries_total, 0);
    tenancy_usage_free(u);
}

static void rates_over_the_last_minute(void **state) {
    (void)state;
    tenancy_usage_t *u;
    vg_error_t err;
    assert_int_equal(tenancy_usage_new(16, &u), 0);
    tenancy_usage_ingested(u, "alice", 600, 0, T0);
    tenancy_usage_ingested(u, "alice", 1200, 3, T0 + 30000);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(tenancy_usage_query_begin(u, "alice", 0, T0 + 30000, &err), 0);
        tenancy_usage_query_end(u, "alice");
    }
    tenancy_usage_stats_t st;
    tenancy_usage_get(u, "alice", T0 + 30000, &st);
    assert_int_equal(st.samples_total, 1800);
    assert_int_equal(st.series_refused_total, 3);
    assert_true(st.ingestion_rate == 1800 / 60.0);
    assert_true(st.query_rate == 6 / 60.0);
    /* a minute after the first write it has left the window; the second is still in */
    tenancy_usage_get(u, "alice", T0 + 60000, &st);
    assert_true(st.ingestion_rate == 1200 / 60.0);
    /* a slot reused for a later epoch starts empty */
    tenancy_usage_ingested(u, "alice", 60, 0, T0 + 90000);
    tenancy_usage_get(u, "alice", T0 + 90000, &st);
    assert_true(st.ingestion_rate == 60 / 60.0);
    assert_int_equal(st.samples_total, 1860);
    tenancy_usage_get(u, "alice", T0 + 3600000, &st);
    assert_true(st.ingestion_rate == 0 && st.query_rate == 0);
    tenancy_usage_free(u);
}

static void series_cache(void **state) {
    (void)state;
    tenancy_usage_t *u;
    assert_int_equal(tenancy_usage_new(16, &u), 0);
    uint64_t tok;
    assert_int_equal(tenancy_usage_series_begin(u, "alice", T0, 1000, &tok), 1); /* never measured */
    tenancy_usage_series_measured(u, "alice", tok, T0, 42);
    assert_int_equal(tenancy_usage_series_begin(u, "alice", T0 + 1000, 1000, &tok), 0);
    assert_int_equal(tenancy_usage_series_count(u, "alice"), 42);
    assert_int_equal(tenancy_usage_series_begin(u, "alice", T0 + 1001, 1000, &tok), 1); /* too old */
    tenancy_usage_series_measured(u, "alice", tok, T0 + 1001, 40);
    assert_int_equal(tenancy_usage_series_count(u, "alice"), 40);
    assert_int_equal(tenancy_usage_series_begin(u, "alice", T0 - 1, 1000, &tok), 1); /* clock went back */
    tenancy_usage_series_measured(u, "alice", tok, T0 - 1, 40);
    assert_int_equal(tenancy_usage_series_count(u, "bob"), 0);
    tenancy_usage_free(u);
}

/* Reservations stop at the budget, and a measurement that overlapped one is discarded (the count that
 * includes the reservation is kept), so a concurrent recount cannot make room that is not there. */
static void series_budget(void **state) {
    (void)state;
    tenancy_usage_t *u;
    assert_int_equal(tenancy_usage_new(16, &u), 0);
    uint64_t tok, n;
    assert_int_equal(tenancy_usage_series_begin(u, "alice", T0, 1000, &tok), 1);
    tenancy_usage_series_measured(u, "alice", tok, T0, 3);
    assert_true(tenancy_usage_series_reserve(u, "alice", 5, &n));
    assert_int_equal(n, 4);
    assert_int_equal(tenancy_usage_series_begin(u, "alice", T0 + 2000, 1000, &tok), 1);
    assert_true(tenancy_usage_series_reserve(u, "alice", 5, &n)); /* during the scan */
    assert_int_equal(n, 5);
    tenancy_usage_series_measured(u, "alice", tok, T0 + 2000, 4); /* the scan missed it: discarded */
    assert_int_equal(tenancy_usage_series_count(u, "alice"), 5);
    assert_false(tenancy_usage_series_reserve(u, "alice", 5, &n));
    assert_int_equal(n, 5);
    assert_true(tenancy_usage_series_reserve(u, "alice", 0, &n)); /* no limit */
    assert_true(tenancy_usage_series_reserve(u, "untracked", 1, &n));
    tenancy_usage_free(u);
}

static void bounded_table(void **state) {
    (void)state;
    tenancy_usage_t *u;
    vg_error_t err;
    assert_int_equal(tenancy_usage_new(2, &u), 0);
    assert_int_equal(tenancy_usage_query_begin(u, "busy", 1, T0, &err), 0); /* stays running */
    tenancy_usage_ingested(u, "idle", 5, 0, T0);
    /* full: the idle tenant makes room, the busy one keeps its gate */
    tenancy_usage_ingested(u, "new", 7, 0, T0 + 1);
    tenancy_usage_stats_t st;
    tenancy_usage_get(u, "idle", T0 + 1, &st);
    assert_int_equal(st.samples_total, 0);
    tenancy_usage_get(u, "new", T0 + 1, &st);
    assert_int_equal(st.samples_total, 7);
    assert_int_equal(tenancy_usage_query_begin(u, "busy", 1, T0 + 2, &err), VG_ERATELIMIT);
    /* every entry busy: a further tenant is not tracked, and its queries are not blocked */
    assert_int_equal(tenancy_usage_query_begin(u, "new", 1, T0 + 3, &err), 0);
    assert_int_equal(tenancy_usage_query_begin(u, "third", 1, T0 + 3, &err), 0);
    assert_int_equal(tenancy_usage_query_begin(u, "third", 1, T0 + 3, &err), 0);
    tenancy_usage_get(u, "third", T0 + 3, &st);
    assert_int_equal(st.queries_total, 0);
    tenancy_usage_free(u);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(query_gate), cmocka_unit_test(rates_over_the_last_minute),
                                       cmocka_unit_test(series_cache), cmocka_unit_test(series_budget),
                                       cmocka_unit_test(bounded_table)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
