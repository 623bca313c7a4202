/* The tenant appender: the tenant label is forced on every series, the series budget is enforced by
 * the storage's series gate (exactly, under concurrent writers), and unscoped callers write as is. */
#include "service_testutil.h"

#include <pthread.h>

static const char *CONFIG = "tenants:\n"
                            "  overrides:\n"
                            "    bob: {enforce: {namespace: [client-bob, client-bob-staging]}}\n"
                            "    capped: {limits: {max_series: 5}}\n"
                            "    racer: {limits: {max_series: 20}}\n";

/* Sorted values of `name` over every series. */
static size_t values_of(st_t *t, const char *name, const char *const **out) {
    storage_querier_t *q;
    vg_error_t err;
    assert_int_equal(tsdb_db_querier(t->svc.db, INT64_MIN / 2, INT64_MAX / 2, &q, &err), 0);
    size_t n;
    assert_int_equal(q->vt->label_values(q, name, NULL, 0, out, &n, &err), 0);
    static const char *copy[16];
    for (size_t i = 0; i < n && i < 16; i++) copy[i] = strdup((*out)[i]);
    *out = copy;
    storage_querier_close(q);
    return n;
}

static void free_values(const char *const *v, size_t n) {
    for (size_t i = 0; i < n && i < 16; i++) free((void *)v[i]);
}

static void forces_the_tenant_label(void **state) {
    (void)state;
    st_t t;
    st_open(&t, CONFIG);
    service_ctx_t alice, bob;
    st_tenant(&t, "alice", &alice);
    st_tenant(&t, "bob", &bob);
    storage_appender_t *a, *b;
    vg_error_t err;
    assert_int_equal(service_appender(&alice, &a, &err), 0);
    assert_int_equal(service_appender(&bob, &b, &err), 0);
    assert_int_equal(st_append(a, "m", NULL, 1, 1000, 1), 0);          /* missing: added */
    assert_int_equal(st_append(a, "m", "client-bob", 2, 1000, 1), 0);  /* another tenant's: overwritten */
    assert_int_equal(st_append(a, "m", "client-alice", 3, 1000, 1), 0); /* its own: kept */
    assert_int_equal(st_append(b, "m", "client-bob-staging", 4, 1000, 1), 0); /* an allowed second value: kept */
    assert_int_equal(st_append(b, "m", "elsewhere", 5, 1000, 1), 0);  /* forged: the first value */
    assert_true(storage_commit(a, &err) >= 0);
    assert_true(storage_commit(b, &err) >= 0);
    const char *const *v;
    size_t n = values_of(&t, "namespace", &v);
    assert_int_equal(n, 3);
    assert_string_equal(v[0], "client-alice");
    assert_string_equal(v[1], "client-bob");
    assert_string_equal(v[2], "client-bob-staging");
    free_values(v, n);
    const char *ns[] = {"client-alice"};
    assert_int_equal(tsdb_db_count_series(t.svc.db, "namespace", ns, 1, INT64_MIN), 3);
    storage_appender_free(a);
    storage_appender_free(b);
    service_ctx_deinit(&alice);
    service_ctx_deinit(&bob);
    st_close(&t);
}

static void unscoped_writes_as_is(void **state) {
    (void)state;
    st_t t;
    st_open(&t, CONFIG);
    service_ctx_t ctx;
    service_ctx_internal(&t.svc, &ctx);
    storage_appender_t *a;
    vg_error_t err;
    assert_int_equal(service_appender(&ctx, &a, &err), 0);
    assert_int_equal(st_append(a, "m", NULL, 1, 1000, 1), 0);
    assert_int_equal(st_append(a, "m", "client-x", 2, 1000, 1), 0);
    assert_true(storage_commit(a, &err) >= 0);
    const char *const *v;
    size_t n = values_of(&t, "namespace", &v);
    assert_int_equal(n, 1);
    assert_string_equal(v[0], "client-x");
    free_values(v, n);
    storage_appender_free(a);
    service_ctx_deinit(&ctx);
    st_close(&t);
}

static void series_budget(void **state) {
    (void)state;
    st_t t;
    st_open(&t, CONFIG);
    service_ctx_t capped, other;
    st_tenant(&t, "capped", &capped);
    st_tenant(&t, "other", &other);
    storage_appender_t *a, *o;
    vg_error_t err;
    assert_int_equal(service_appender(&capped, &a, &err), 0);
    int ok = 0, refused = 0;
    for (int i = 0; i < 8; i++) {
        int r = st_append(a, "m", NULL, i, 1000, 1);
        if (r == 0) ok++;
        else if (r == STORAGE_REJECT_SERIES_LIMIT) refused++;
        else fail_msg("append returned %d", r);
    }
    assert_int_equal(ok, 5);
    assert_int_equal(refused, 3);
    assert_int_equal(st_append(a, "m", NULL, 0, 2000, 2), 0); /* an existing series goes on */
    assert_int_equal(storage_commit(a, &err), 0);
    assert_int_equal(service_ctx_series_count(&capped), 5);
    /* a later batch, and a new appender, see the same budget */
    assert_int_equal(st_append(a, "m", NULL, 99, 3000, 1), STORAGE_REJECT_SERIES_LIMIT);
    storage_appender_free(a);
    assert_int_equal(service_appender(&capped, &a, &err), 0);
    assert_int_equal(st_append(a, "m", NULL, 98, 3000, 1), STORAGE_REJECT_SERIES_LIMIT);
    storage_rollback(a);
    /* another tenant is not affected */
    assert_int_equal(service_appender(&other, &o, &err), 0);
    for (int i = 0; i < 8; i++) assert_int_equal(st_append(o, "m", NULL, i, 1000, 1), 0);
    assert_int_equal(storage_commit(o, &err), 0);
    const char *ns[] = {"client-capped"};
    assert_int_equal(tsdb_db_count_series(t.svc.db, "namespace", ns, 1, INT64_MIN), 5);
    storage_appender_free(a);
    storage_appender_free(o);
    service_ctx_deinit(&capped);
    service_ctx_deinit(&other);
    st_close(&t);
}

typedef struct {
    st_t *t;
    int id, created;
} racer_t;

static void *race(void *arg) {
    racer_t *r = arg;
    service_ctx_t ctx;
    vg_error_t err;
    st_tenant(r->t, "racer", &ctx); /* each writer is its own request: its own context and appender */
    storage_appender_t *a;
    if (service_appender(&ctx, &a, &err)) return NULL;
    for (int i = 0; i < 8; i++)
        if (st_append(a, "m", NULL, r->id * 100 + i, 1000, 1) == 0) r->created++;
    storage_commit(a, &err);
    storage_appender_free(a);
    service_ctx_deinit(&ctx);
    return NULL;
}

static void concurrent_writers_cannot_overshoot(void **state) {
    (void)state;
    st_t t;
    st_open(&t, CONFIG);
    racer_t r[6];
    pthread_t th[6];
    for (int i = 0; i < 6; i++) r[i] = (racer_t){&t, i, 0}, pthread_create(&th[i], NULL, race, &r[i]);
    int created = 0;
    for (int i = 0; i < 6; i++) pthread_join(th[i], NULL), created += r[i].created;
    assert_int_equal(created, 20);
    const char *ns[] = {"client-racer"};
    assert_int_equal(tsdb_db_count_series(t.svc.db, "namespace", ns, 1, INT64_MIN), 20);
    st_close(&t);
}

/* The series references of writes: keyed by scope and exact bytes; tenants (and what the tenant
 * appender forces) never share an entry; a newer reference replaces an older one. */
static void write_refs(void **state) {
    (void)state;
    st_t t;
    st_open(&t, CONFIG);
    service_ctx_t alice, bob, root;
    st_tenant(&t, "alice", &alice);
    st_tenant(&t, "bob", &bob);
    assert_int_equal(service_ctx_internal(&t.svc, &root), 0);
    uint32_t sa = service_write_scope(&alice), sb = service_write_scope(&bob), sr = service_write_scope(&root);
    assert_true(sa && sb && sr && sa != sb && sa != sr && sb != sr);
    assert_int_equal(service_write_scope(&alice), sa); /* stable */
    assert_int_equal(service_write_ref_get(&alice, sa, "k1", 2), 0);
    service_write_ref_put(&alice, sa, "k1", 2, 7);
    assert_int_equal(service_write_ref_get(&alice, sa, "k1", 2), 7);
    assert_int_equal(service_write_ref_get(&alice, sa, "k1x", 3), 0);
    assert_int_equal(service_write_ref_get(&alice, sa, "k", 1), 0);
    assert_int_equal(service_write_ref_get(&bob, sb, "k1", 2), 0);
    assert_int_equal(service_write_ref_get(&root, sr, "k1", 2), 0);
    service_write_ref_put(&alice, sa, "k1", 2, 9);
    assert_int_equal(service_write_ref_get(&alice, sa, "k1", 2), 9);
    char key[32];
    for (uint64_t i = 1; i <= 50000; i++) { /* growth keeps every entry */
        int n = snprintf(key, sizeof key, "series-%llu", (unsigned long long)i);
        service_write_ref_put(&root, sr, key, (size_t)n, i);
    }
    for (uint64_t i = 1; i <= 50000; i++) {
        int n = snprintf(key, sizeof key, "series-%llu", (unsigned long long)i);
        assert_int_equal(service_write_ref_get(&root, sr, key, (size_t)n), i);
    }
    assert_int_equal(service_write_ref_get(&alice, sa, "k1", 2), 9);
    /* in a batch: the same answers, NULL keys and misses included */
    enum { NB = 40 };
    const uint8_t *keys[NB];
    size_t lens[NB];
    uint64_t refs[NB];
    static char kb[NB][32];
    for (size_t i = 0; i < NB; i++) {
        int n = snprintf(kb[i], sizeof kb[i], "series-%zu", i * 1700 + 1); /* past 50000: a miss */
        keys[i] = i % 7 == 3 ? NULL : (const uint8_t *)kb[i];
        lens[i] = (size_t)n;
    }
    service_write_refs_get(&root, sr, NB, keys, lens, refs);
    for (size_t i = 0; i < NB; i++)
        assert_int_equal(refs[i], !keys[i] || i * 1700 + 1 > 50000 ? 0 : i * 1700 + 1);
    service_write_refs_get(&bob, sb, NB, keys, lens, refs);
    for (size_t i = 0; i < NB; i++) assert_int_equal(refs[i], 0);
    service_ctx_deinit(&alice);
    service_ctx_deinit(&bob);
    service_ctx_deinit(&root);
    st_close(&t);
}

typedef struct {
    st_t *t;
    int id;
} refs_racer_t;

static void *refs_race(void *arg) {
    refs_racer_t *r = arg;
    service_ctx_t root;
    assert_int_equal(service_ctx_internal(&r->t->svc, &root), 0);
    uint32_t sc = service_write_scope(&root);
    char key[32];
    for (uint64_t i = 1; i <= 5000; i++) {
        int n = snprintf(key, sizeof key, "%d/%llu", r->id, (unsigned long long)i);
        service_write_ref_put(&root, sc, key, (size_t)n, i * 8 + (uint64_t)r->id);
        n = snprintf(key, sizeof key, "%d/%llu", r->id, (unsigned long long)(i + 1) / 2);
        assert_int_equal(service_write_ref_get(&root, sc, key, (size_t)n), (i + 1) / 2 * 8 + (uint64_t)r->id);
        const uint8_t *k = (const uint8_t *)key;
        size_t l = (size_t)n;
        uint64_t got;
        service_write_refs_get(&root, sc, 1, &k, &l, &got);
        assert_int_equal(got, (i + 1) / 2 * 8 + (uint64_t)r->id);
    }
    service_ctx_deinit(&root);
    return NULL;
}

static void write_refs_concurrent(void **state) {
    (void)state;
    st_t t;
    st_open(&t, CONFIG);
    refs_racer_t r[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) r[i] = (refs_racer_t){&t, i}, pthread_create(&th[i], NULL, refs_race, &r[i]);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    st_close(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(forces_the_tenant_label), cmocka_unit_test(unscoped_writes_as_is),
                                       cmocka_unit_test(series_budget), cmocka_unit_test(concurrent_writers_cannot_overshoot),
                                       cmocka_unit_test(write_refs), cmocka_unit_test(write_refs_concurrent)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
