/* Metric metadata received with writes: the store's bounds, its separation of tenants, and its merge
 * with the executor's (scraped) metadata in service_metadata. */
#include "service_testutil.h"

#include "ingest/remote_write.h"
#include "service/service_int.h"

static const char *CONFIG = "tenants:\n  overrides:\n    small: {limits: {max_query_range: 1h}}\n";

/* A WriteRequest holding MetricMetadata entries {type, family, help, unit} (protobuf field 3). */
typedef struct {
    int type;
    const char *family, *help, *unit;
} md_t;

static size_t put_str(uint8_t *p, int field, const char *s) {
    size_t n = strlen(s), k = 0;
    assert_true(n < 128);
    p[k++] = (uint8_t)(field << 3 | 2);
    p[k++] = (uint8_t)n;
    memcpy(p + k, s, n);
    return k + n;
}

static size_t write_request(uint8_t *buf, size_t cap, const md_t *md, size_t n) {
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t m[400];
        size_t k = 0;
        m[k++] = 1 << 3, m[k++] = (uint8_t)md[i].type;
        k += put_str(m + k, 2, md[i].family);
        k += put_str(m + k, 4, md[i].help);
        k += put_str(m + k, 5, md[i].unit);
        assert_true(k < 128 && len + k + 2 <= cap);
        buf[len++] = 3 << 3 | 2;
        buf[len++] = (uint8_t)k;
        memcpy(buf + len, m, k);
        len += k;
    }
    return len;
}

static void send(service_ctx_t *ctx, const md_t *md, size_t n, service_metadata_counts_t *c) {
    uint8_t buf[4096];
    size_t len = write_request(buf, sizeof buf, md, n);
    ingest_rw_reader_t rd;
    ingest_rw_reader_init(&rd, NULL);
    vg_error_t err;
    assert_int_equal(ingest_rw_reader_load_pb(&rd, buf, len, &err), 0);
    assert_int_equal(ingest_rw_reader_stats(&rd)->n_metadata, n);
    assert_int_equal(service_write_metadata(ctx, &rd, c), 0);
    ingest_rw_reader_deinit(&rd);
}

/* "family:type:help:unit,..." of service_metadata's answer for ctx. */
static void expect(service_ctx_t *ctx, const char *metric, long limit, const char *want) {
    vg_arena_t ar;
    vg_arena_init(&ar, 4096);
    promql_metadata_t *md;
    size_t n;
    vg_error_t err;
    if (service_metadata(ctx, metric, limit, &ar, &md, &n, &err)) fail_msg("metadata: %s", err.msg);
    char got[1024] = "";
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(got + len, sizeof got - len, "%s%s:%s:%s:%s", i ? "," : "", md[i].metric, md[i].type,
                                md[i].help, md[i].unit);
    assert_string_equal(got, want);
    vg_arena_deinit(&ar);
}

static void store_bounds(void **state) {
    (void)state;
    service__mdstore_t *st;
    service__mdlimits_t lim = {.max_families = 2, .max_total = 3, .max_name = 8, .max_help = 12};
    assert_int_equal(service__mdstore_new(&lim, &st), 0);
    /* sizes: a name, unit or help one byte over is skipped, not truncated */
    assert_int_equal(service__mdstore_put(st, NULL, 1, "abcdefgh", 8, "h", 1, "", 0), SERVICE__MD_KEPT);
    assert_int_equal(service__mdstore_put(st, NULL, 1, "abcdefghi", 9, "h", 1, "", 0), SERVICE__MD_TOO_LONG);
    assert_int_equal(service__mdstore_put(st, NULL, 1, "x", 1, "h", 1, "abcdefghi", 9), SERVICE__MD_TOO_LONG);
    assert_int_equal(service__mdstore_put(st, NULL, 1, "x", 1, "0123456789abc", 13, "", 0), SERVICE__MD_TOO_LONG);
    assert_int_equal(service__mdstore_put(st, NULL, 1, "", 0, "h", 1, "", 0), SERVICE__MD_INVALID);
    assert_int_equal(service__mdstore_put(st, NULL, 1, NULL, 0, NULL, 0, NULL, 0), SERVICE__MD_INVALID);
    assert_int_equal(service__mdstore_count(st, NULL), 1);
    /* families per scope: the third new family is refused, a known one is still updated */
    assert_int_equal(service__mdstore_put(st, NULL, 2, "b", 1, "h", 1, "", 0), SERVICE__MD_KEPT);
    assert_int_equal(service__mdstore_put(st, NULL, 2, "c", 1, "h", 1, "", 0), SERVICE__MD_FULL);
    assert_int_equal(service__mdstore_put(st, NULL, 1, "b", 1, "new", 3, "s", 1), SERVICE__MD_KEPT);
    /* families in total: one more scope fits one family */
    assert_int_equal(service__mdstore_put(st, "t1", 2, "a", 1, "h", 1, "", 0), SERVICE__MD_KEPT);
    assert_int_equal(service__mdstore_put(st, "t2", 2, "a", 1, "h", 1, "", 0), SERVICE__MD_FULL);
    assert_int_equal(service__mdstore_count(st, NULL), 2);
    assert_int_equal(service__mdstore_count(st, "t1"), 1);
    assert_int_equal(service__mdstore_count(st, "t2"), 0);
    vg_arena_t ar;
    vg_arena_init(&ar, 1024);
    promql_metadata_t *md;
    size_t n;
    assert_int_equal(service__mdstore_get(st, NULL, NULL, NULL, 0, &ar, &md, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(md[0].metric, "abcdefgh");
    assert_string_equal(md[1].metric, "b"); /* the last entry written wins */
    assert_string_equal(md[1].type, "counter");
    assert_string_equal(md[1].help, "new");
    assert_string_equal(md[1].unit, "s");
    vg_arena_deinit(&ar);
    service__mdstore_free(st);
}

static void merge_order_and_limit(void **state) {
    (void)state;
    const promql_metadata_t a[] = {{"a", "counter", "x", ""}, {"c", "gauge", "x", ""}, {"c", "gauge", "y", ""}};
    const promql_metadata_t b[] = {{"b", "gauge", "", ""}, {"c", "gauge", "x", ""}, {"d", "summary", "", ""}};
    vg_arena_t ar;
    vg_arena_init(&ar, 1024);
    promql_metadata_t *m;
    size_t n;
    assert_int_equal(service__metadata_merge(a, 3, b, 3, -1, &ar, &m, &n), 0);
    assert_int_equal(n, 5); /* c/gauge/x once */
    const char *want[] = {"a", "b", "c", "c", "d"};
    for (size_t i = 0; i < n; i++) assert_string_equal(m[i].metric, want[i]);
    assert_string_equal(m[3].help, "y");
    /* the limit counts families, after the merge: both entries of c stay */
    assert_int_equal(service__metadata_merge(a, 3, b, 3, 3, &ar, &m, &n), 0);
    assert_int_equal(n, 4);
    assert_string_equal(m[3].metric, "c");
    assert_int_equal(service__metadata_merge(a, 3, b, 3, 0, &ar, &m, &n), 0);
    assert_int_equal(n, 0);
    vg_arena_deinit(&ar);
}

static void tenants_are_separated(void **state) {
    (void)state;
    st_t t;
    st_open(&t, CONFIG);
    service_ctx_t all, alice, bob;
    service_ctx_internal(&t.svc, &all);
    st_tenant(&t, "alice", &alice);
    st_tenant(&t, "bob", &bob);
    /* series: alice has req_total and up, bob has up */
    storage_appender_t *a;
    vg_error_t err;
    assert_int_equal(service_appender(&all, &a, &err), 0);
    assert_int_equal(st_append(a, "req_total", "client-alice", 0, 1000, 1), 0);
    assert_int_equal(st_append(a, "up", "client-alice", 0, 1000, 1), 0);
    assert_int_equal(st_append(a, "up", "client-bob", 0, 1000, 1), 0);
    assert_true(storage_commit(a, &err) >= 0);
    storage_appender_free(a);

    service_metadata_counts_t c;
    const md_t mine[] = {{1, "secret", "alice only", ""}, {1, "req", "requests", ""}};
    send(&alice, mine, 2, &c);
    assert_int_equal(c.kept, 2);
    const md_t shared[] = {{1, "req", "requests", ""}, {2, "up", "target up", ""}, {2, "zz", "nobody's", "bytes"}};
    send(&all, shared, 3, &c);
    assert_int_equal(c.kept, 3);
    const md_t bobs[] = {{2, "bobby", "bob only", ""}};
    send(&bob, bobs, 1, &c);
    /* an entry without help and unit fields (proto3 leaves empty strings out): kept with "" */
    const uint8_t bare[] = {3 << 3 | 2, 9, 1 << 3, 5, 2 << 3 | 2, 5, 'b', 'a', 'r', 'e', '2'};
    ingest_rw_reader_t rd;
    ingest_rw_reader_init(&rd, NULL);
    assert_int_equal(ingest_rw_reader_load_pb(&rd, bare, sizeof bare, &err), 0);
    assert_int_equal(service_write_metadata(&bob, &rd, &c), 0);
    assert_int_equal(c.kept, 1);
    ingest_rw_reader_deinit(&rd);

    /* unscoped readers see the unscoped writers' metadata, never a tenant's */
    expect(&all, NULL, -1, "req:counter:requests:,up:gauge:target up:,zz:gauge:nobody's:bytes");
    /* a tenant sees its own, and the unscoped writers' for families it has series of (req → req_total);
     * identical entries once */
    expect(&alice, NULL, -1, "req:counter:requests:,secret:counter:alice only:,up:gauge:target up:");
    expect(&bob, NULL, -1, "bare2:summary::,bobby:gauge:bob only:,up:gauge:target up:");
    expect(&bob, "secret", -1, "");
    expect(&alice, "secret", -1, "secret:counter:alice only:");
    expect(&alice, NULL, 2, "req:counter:requests:,secret:counter:alice only:");

    service_ctx_deinit(&all);
    service_ctx_deinit(&alice);
    service_ctx_deinit(&bob);
    st_close(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(store_bounds), cmocka_unit_test(merge_order_and_limit),
                                       cmocka_unit_test(tenants_are_separated)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
