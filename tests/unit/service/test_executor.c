/* The read path: the local executor (query, series, labels, metadata over the engine and the TSDB
 * querier) and the service functions in front of it that enforce the tenant and apply its limits. */
#include "service_testutil.h"

static const char *CONFIG = "tenants:\n"
                            "  overrides:\n"
                            "    small: {limits: {max_query_range: 1h}}\n";

/* alice: m{i=0..2}, bob: m{i=0..1}, unowned: m{i=0}; values 1 at t=10s and 2 at t=20s. */
static void load(st_t *t) {
    service_ctx_t ctx;
    service_ctx_internal(&t->svc, &ctx);
    storage_appender_t *a;
    vg_error_t err;
    assert_int_equal(service_appender(&ctx, &a, &err), 0);
    const struct {
        const char *ns;
        int n;
    } ten[] = {{"client-alice", 3}, {"client-bob", 2}, {"other", 1}};
    for (size_t k = 0; k < 3; k++)
        for (int i = 0; i < ten[k].n; i++) {
            assert_int_equal(st_append(a, "m", ten[k].ns, i, 10000, 1), 0);
            assert_int_equal(st_append(a, "m", ten[k].ns, i, 20000, 2), 0);
        }
    assert_int_equal(st_append(a, "up", "client-alice", 0, 20000, 1), 0);
    assert_true(storage_commit(a, &err) >= 0);
    storage_appender_free(a);
    service_ctx_deinit(&ctx);
}

static double scalar_of(service_ctx_t *ctx, const char *q, int64_t t) {
    service_query_t sq = {q, t, t, 0, 0};
    vg_arena_t ar;
    vg_arena_init(&ar, 4096);
    promql_result_t *res;
    vg_error_t err;
    const char *ev;
    int rc = service_query(ctx, &sq, &ar, &res, &ev, &err);
    if (rc) fail_msg("%s: %s", q, err.msg);
    double v = res->type == PROMQL_TYPE_VECTOR && res->n_series == 1 ? res->series[0].points[0].v : -1;
    vg_arena_deinit(&ar);
    return v;
}

static void queries_are_enforced(void **state) {
    (void)state;
    st_t t;
    st_open(&t, CONFIG);
    load(&t);
    service_ctx_t all, alice, bob;
    service_ctx_internal(&t.svc, &all);
    st_tenant(&t, "alice", &alice);
    st_tenant(&t, "bob", &bob);
    assert_true(scalar_of(&all, "count(m)", 20000) == 6);
    assert_true(scalar_of(&alice, "count(m)", 20000) == 3);
    assert_true(scalar_of(&bob, "count(m)", 20000) == 2);
    assert_true(scalar_of(&bob, "sum(m)", 20000) == 4);
    /* a matcher on another tenant's namespace is refused, not answered empty */
    service_query_t q = {"m{namespace=\"client-alice\"}", 20000, 20000, 0, 0};
    vg_arena_t ar;
    vg_arena_init(&ar, 4096);
    promql_result_t *res;
    vg_error_t err;
    assert_int_equal(service_query(&bob, &q, &ar, &res, NULL, &err), VG_EFORBIDDEN);
    assert_int_equal(service_query_check(&bob, q.text, &ar, &err), VG_EFORBIDDEN);
    assert_int_equal(service_query_check(&all, q.text, &ar, &err), 0);
    /* a range query through the same path */
    service_query_t r = {"sum(m)", 10000, 20000, 10000, 0};
    assert_int_equal(service_query(&alice, &r, &ar, &res, NULL, &err), 0);
    assert_int_equal(res->type, PROMQL_TYPE_MATRIX);
    assert_int_equal(res->n_series, 1);
    assert_int_equal(res->series[0].n_points, 2);
    assert_true(res->series[0].points[0].v == 3 && res->series[0].points[1].v == 6);
    /* parse errors: an instant query's message is prefixed, as Prometheus does */
    service_query_t bad = {"sum(", 0, 0, 0, 0};
    assert_int_equal(service_query(&alice, &bad, &ar, &res, NULL, &err), VG_EINVAL);
    assert_non_null(strstr(err.msg, "invalid parameter \"query\""));
    vg_arena_deinit(&ar);
    service_ctx_deinit(&all);
    service_ctx_deinit(&alice);
    service_ctx_deinit(&bob);
    st_close(&t);
}

static void tenant_limits_come_from_the_context(void **state) {
    (void)state;
    st_t t;
    st_open(&t, CONFIG);
    load(&t);
    service_ctx_t small;
    st_tenant(&t, "small", &small);
    assert_int_equal(small.limits.max_query_range_ms, 3600000);
    service_query_t r = {"m", 0, 7200000, 60000, 0};
    vg_arena_t ar;
    vg_arena_init(&ar, 4096);
    promql_result_t *res;
    vg_error_t err;
    assert_int_equal(service_query(&small, &r, &ar, &res, NULL, &err), VG_ELIMIT);
    assert_non_null(strstr(err.msg, "1h"));
    r.end = 3600000;
    assert_int_equal(service_query(&small, &r, &ar, &res, NULL, &err), 0);
    vg_arena_deinit(&ar);
    service_ctx_deinit(&small);
    st_close(&t);
}

static void series_and_labels(void **state) {
    (void)state;
    st_t t;
    st_open(&t, CONFIG);
    load(&t);
    service_ctx_t all, bob;
    service_ctx_internal(&t.svc, &all);
    st_tenant(&t, "bob", &bob);
    vg_arena_t ar;
    vg_arena_init(&ar, 4096);
    vg_error_t err;
    /* two overlapping selectors: merged, sorted, each series once */
    const char *sel[] = {"m{i=\"1\"}", "m{namespace=\"client-bob\"}"};
    service_match_t m = {sel, 2, true};
    promql_labels_t *s;
    size_t n;
    assert_int_equal(service_series(&all, &m, 0, 30000, &ar, &s, &n, &err), 0);
    assert_int_equal(n, 3); /* alice i=1, bob i=0, bob i=1 */
    for (size_t i = 1; i < n; i++) assert_true(model_labels_cmp(s[i - 1].labels, s[i - 1].n_labels, s[i].labels, s[i].n_labels) < 0);
    assert_string_equal(model_labels_get(s[1].labels, s[1].n_labels, "namespace"), "client-alice"); /* by i, then namespace */
    /* bob asks without match[]: its own series only */
    service_match_t none = {NULL, 0, true};
    assert_int_equal(service_series(&bob, &none, 0, 30000, &ar, &s, &n, &err), 0);
    assert_int_equal(n, 2);
    const char *const *v;
    assert_int_equal(service_labels(&bob, "namespace", &none, 0, 30000, &ar, &v, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0], "client-bob");
    assert_int_equal(service_labels(&all, "namespace", &none, 0, 30000, &ar, &v, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(service_labels(&all, NULL, &none, 0, 30000, &ar, &v, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_string_equal(v[0], "__name__");
    /* match[] errors keep Prometheus' texts */
    const char *empty[] = {"{i=~\".*\"}"};
    service_match_t e = {empty, 1, true};
    assert_int_equal(service_series(&all, &e, 0, 30000, &ar, &s, &n, &err), VG_EINVAL);
    assert_non_null(strstr(err.msg, "at least one non-empty matcher"));
    const char *theirs[] = {"m{namespace=\"client-alice\"}"};
    service_match_t th = {theirs, 1, true};
    assert_int_equal(service_labels(&bob, NULL, &th, 0, 30000, &ar, &v, &n, &err), VG_EFORBIDDEN);
    /* the results were copied: they outlive the querier and the head's own strings */
    vg_arena_deinit(&ar);
    service_ctx_deinit(&all);
    service_ctx_deinit(&bob);
    st_close(&t);
}

static void executor_direct(void **state) {
    (void)state;
    st_t t;
    st_open(&t, CONFIG);
    load(&t);
    promql_executor_t *ex = t.svc.exec;
    vg_arena_t ar;
    vg_arena_init(&ar, 4096);
    vg_error_t err;
    const char *const *v;
    size_t n;
    assert_int_equal(promql_label_values(ex, "__name__", 0, 30000, NULL, 0, &ar, &v, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(v[0], "m");
    assert_string_equal(v[1], "up");
    promql_labels_t *s;
    assert_int_equal(promql_series(ex, 0, 30000, NULL, 0, &ar, &s, &n, &err), 0);
    assert_int_equal(n, 0); /* no selector, no series */
    promql_metadata_t *md;
    assert_int_equal(promql_metadata(ex, NULL, -1, NULL, &ar, &md, &n, &err), 0);
    assert_int_equal(n, 0); /* no scraper: nothing known */
    promql_node_t *expr;
    assert_int_equal(promql_parse("count(m)", 8, &ar, &expr, &err), 0);
    promql_query_t q = {expr, 20000, 20000, 0, 0, 0};
    promql_result_t *res;
    assert_int_equal(promql_query_instant(ex, &q, &ar, &res, &err), 0);
    assert_true(res->n_series == 1 && res->series[0].points[0].v == 6);
    vg_arena_deinit(&ar);
    /* without an engine the executor answers unavailable */
    service_t empty = {0};
    assert_int_equal(service_init(&empty, config_default(), NULL, &err), 0);
    service_ctx_t ctx;
    service_ctx_internal(&empty, &ctx);
    vg_arena_init(&ar, 4096);
    service_query_t sq = {"1", 0, 0, 0, 0};
    assert_int_equal(service_query(&ctx, &sq, &ar, &res, NULL, &err), VG_EUNAVAIL);
    vg_arena_deinit(&ar);
    service_ctx_deinit(&ctx);
    service_deinit(&empty);
    st_close(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(queries_are_enforced), cmocka_unit_test(tenant_limits_come_from_the_context),
                                       cmocka_unit_test(series_and_labels), cmocka_unit_test(executor_direct)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
