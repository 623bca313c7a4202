/* The query results cache (service/cache.c): store, TTL and LRU bound; splitting a range at UTC days,
 * slicing and merging; a range through the extent cache against a fake evaluator (what is evaluated,
 * what is stored, answers identical to one whole evaluation); service_query_cached against
 * service_query over the real engine, per tenant; and the threshold states of the overview. */
#include "service_testutil.h"

#include "service/service_int.h"

#include <math.h>

#define DAY (24LL * 3600 * 1000)
#define MIN (60LL * 1000)

static char *json_of(const promql_result_t *r) {
    vg_buf_t b = VG_BUF_INIT;
    vg_json_t j;
    vg_json_init(&j, &b);
    promql_result_write_json(r, &j);
    assert_false(b.failed);
    return b.data; /* caller frees */
}

static void assert_same(const promql_result_t *a, const promql_result_t *b) {
    char *x = json_of(a), *y = json_of(b);
    if (strcmp(x, y)) fail_msg("results differ:\n%s\n%s", x, y);
    free(x);
    free(y);
}

/* ---- a fake evaluator: series a="1" at every step, a="2" at steps not divisible by 3; v = t/1000 + a ---- */

typedef struct {
    int calls;
    int64_t first_start[16], last_end[16];
    int64_t step;
} fake_t;

static int fake_range(void *p, int64_t start, int64_t end, vg_arena_t *arena, promql_result_t **out, vg_error_t *err) {
    (void)err;
    fake_t *f = p;
    if (f->calls < 16) f->first_start[f->calls] = start, f->last_end[f->calls] = end;
    f->calls++;
    size_t n = (size_t)((end - start) / f->step + 1);
    promql_result_t *r = vg_arena_calloc(arena, 1, sizeof *r);
    promql_series_t *ss = vg_arena_calloc(arena, 2, sizeof *ss);
    model_label_t *l = vg_arena_calloc(arena, 2, sizeof *l);
    promql_point_t *p1 = vg_arena_calloc(arena, n, sizeof *p1), *p2 = vg_arena_calloc(arena, n, sizeof *p2);
    l[0] = (model_label_t){"a", "1"};
    l[1] = (model_label_t){"a", "2"};
    size_t n1 = 0, n2 = 0;
    for (int64_t t = start; t <= end; t += f->step) {
        p1[n1++] = (promql_point_t){t, (double)t / 1000 + 1};
        if ((t / f->step) % 3) p2[n2++] = (promql_point_t){t, (double)t / 1000 + 2};
    }
    size_t ns = 0;
    if (n1) ss[ns++] = (promql_series_t){&l[0], 1, p1, n1};
    if (n2) ss[ns++] = (promql_series_t){&l[1], 1, p2, n2};
    r->type = PROMQL_TYPE_MATRIX;
    r->series = ss;
    r->n_series = ns;
    *out = r;
    return 0;
}

static config_query_cache_t cfg_of(uint64_t max_bytes, int64_t fresh) {
    return (config_query_cache_t){.enabled = true, .max_bytes = max_bytes, .ttl_ms = 30000, .extent_ttl_ms = 3600000,
                                  .max_freshness_ms = fresh};
}

static void put_get_ttl(void **state) {
    (void)state;
    service__cache_t *c;
    assert_int_equal(service__cache_new(&c), 0);
    vg_arena_t a;
    vg_arena_init(&a, 4096);
    fake_t f = {.step = 1000};
    promql_result_t *r, *got;
    vg_error_t err;
    fake_range(&f, 0, 10000, &a, &r, &err);
    assert_int_equal(service__cache_put(c, "k1", 2, 1000, 1 << 20, r, 0, 10000), 0);
    int64_t s = -1, e = -1;
    assert_int_equal(service__cache_get(c, "k1", 2, 1500, 30000, &a, &got, &s, &e), 1);
    assert_same(r, got);
    assert_int_equal(s, 0);
    assert_int_equal(e, 10000);
    /* keys are compared whole: a prefix or another tenant's key is a miss */
    assert_int_equal(service__cache_get(c, "k", 1, 1500, 30000, &a, &got, NULL, NULL), 0);
    assert_int_equal(service__cache_get(c, "k2", 2, 1500, 30000, &a, &got, NULL, NULL), 0);
    /* TTL: older than max_age is gone (and dropped) */
    assert_int_equal(service__cache_get(c, "k1", 2, 1000 + 30000, 30000, &a, &got, NULL, NULL), 1);
    assert_int_equal(service__cache_get(c, "k1", 2, 1000 + 30001, 30000, &a, &got, NULL, NULL), 0);
    service__cache_stats_t st;
    service__cache_stats(c, &st);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.bytes, 0);
    vg_arena_deinit(&a);
    service__cache_free(c);
}

static void lru_bound(void **state) {
    (void)state;
    service__cache_t *c;
    assert_int_equal(service__cache_new(&c), 0);
    vg_arena_t a;
    vg_arena_init(&a, 4096);
    fake_t f = {.step = 1000};
    promql_result_t *r, *got;
    vg_error_t err;
    fake_range(&f, 0, 99000, &a, &r, &err);
    assert_int_equal(service__cache_put(c, "e0", 2, 0, UINT64_MAX, r, 0, 0), 0);
    service__cache_stats_t st;
    service__cache_stats(c, &st);
    uint64_t one = st.bytes, max = 3 * one + one / 2; /* room for three */
    assert_int_equal(service__cache_put(c, "e1", 2, 0, max, r, 0, 0), 0);
    assert_int_equal(service__cache_put(c, "e2", 2, 0, max, r, 0, 0), 0);
    assert_int_equal(service__cache_get(c, "e0", 2, 0, 1000, &a, &got, NULL, NULL), 1); /* e0 becomes the newest */
    assert_int_equal(service__cache_put(c, "e3", 2, 0, max, r, 0, 0), 0);            /* evicts e1 */
    service__cache_stats(c, &st);
    assert_true(st.bytes <= max);
    assert_int_equal(st.entries, 3);
    assert_int_equal(st.evictions, 1);
    assert_int_equal(service__cache_get(c, "e1", 2, 0, 1000, &a, &got, NULL, NULL), 0);
    assert_int_equal(service__cache_get(c, "e0", 2, 0, 1000, &a, &got, NULL, NULL), 1);
    assert_int_equal(service__cache_get(c, "e3", 2, 0, 1000, &a, &got, NULL, NULL), 1);
    /* larger than the whole budget: not stored, nothing evicted for it */
    assert_int_equal(service__cache_put(c, "big", 3, 0, one / 2, r, 0, 0), 0);
    assert_int_equal(service__cache_get(c, "big", 3, 0, 1000, &a, &got, NULL, NULL), 0);
    vg_arena_deinit(&a);
    service__cache_free(c);
}

static void split_days(void **state) {
    (void)state;
    service__cache_piece_t p[8];
    /* 10:00 day 0 → 02:00 day 2 at 1h: three pieces on the grid */
    size_t n = service__cache_split(10 * 3600000LL, 2 * DAY + 2 * 3600000LL, 3600000, p, 8);
    assert_int_equal(n, 3);
    assert_int_equal(p[0].start, 10 * 3600000LL);
    assert_int_equal(p[0].end, 23 * 3600000LL);
    assert_int_equal(p[0].day, 0);
    assert_int_equal(p[1].start, DAY);
    assert_int_equal(p[1].end, DAY + 23 * 3600000LL);
    assert_int_equal(p[2].start, 2 * DAY);
    assert_int_equal(p[2].end, 2 * DAY + 2 * 3600000LL);
    /* a step that does not divide the day: pieces start at the first grid point of each day */
    int64_t step = 7 * MIN;
    n = service__cache_split(0, 2 * DAY - step, step, p, 8);
    assert_int_equal(n, 2);
    assert_int_equal(p[1].start % step, 0);
    assert_true(p[1].start >= DAY && p[1].start < DAY + step);
    assert_int_equal(p[0].end + step, p[1].start);
    /* a step of two days: days without a grid point have no piece */
    n = service__cache_split(0, 4 * DAY, 2 * DAY, p, 8);
    assert_int_equal(n, 3);
    assert_int_equal(p[1].start, 2 * DAY);
    /* cap bounds what is written, not what is counted */
    assert_int_equal(service__cache_split(0, 5 * DAY, 3600000, p, 2), 6);
}

static void slice_and_merge(void **state) {
    (void)state;
    vg_arena_t a;
    vg_arena_init(&a, 4096);
    fake_t f = {.step = 1000};
    vg_error_t err;
    promql_result_t *whole, *p1, *p2, *p3, *merged, *sl;
    fake_range(&f, 0, 20000, &a, &whole, &err);
    fake_range(&f, 0, 2000, &a, &p1, &err); /* a="2" only at 1s, 2s */
    fake_range(&f, 3000, 3000, &a, &p2, &err); /* a="2" absent: 3s is divisible by 3 */
    fake_range(&f, 4000, 20000, &a, &p3, &err);
    assert_int_equal(p2->n_series, 1);
    promql_result_t *parts[] = {p1, NULL, p2, p3};
    assert_int_equal(service__cache_merge(parts, 4, &a, &merged), 0);
    assert_same(whole, merged);
    assert_int_equal(service__cache_slice(whole, 3000, 3000, &a, &sl), 0);
    assert_same(p2, sl);
    assert_int_equal(service__cache_slice(whole, 30000, 40000, &a, &sl), 0);
    assert_int_equal(sl->n_series, 0);
    vg_arena_deinit(&a);
}

/* A range through the extent cache answers what one evaluation answers, evaluates only what it lacks,
 * and never stores the newest max_freshness. */
static void range_through_cache(void **state) {
    (void)state;
    service__cache_t *c;
    assert_int_equal(service__cache_new(&c), 0);
    vg_arena_t a;
    vg_arena_init(&a, 1 << 16);
    vg_error_t err;
    int64_t step = 5 * MIN, now = 3 * DAY + 12 * 3600000LL + 1234;
    config_query_cache_t cfg = cfg_of(64 << 20, 10 * MIN);
    int64_t start = now - now % step - DAY - 6 * 3600000LL, end = now - now % step; /* 30 h ending now */
    fake_t direct = {.step = step}, f = {.step = step};
    promql_result_t *want, *got;
    fake_range(&direct, start, end, &a, &want, &err);
    assert_int_equal(service__cache_range(c, "q", 1, start, end, step, now, &cfg, fake_range, &f, &a, &got, &err), 0);
    assert_same(want, got);
    /* cold: day 2 (06:00 → 23:55), day 3 up to the freshness cut, the fresh tail */
    assert_int_equal(f.calls, 3);
    int64_t cut = (now - 10 * MIN) - (now - 10 * MIN) % step;
    assert_int_equal(f.last_end[1], cut);
    assert_int_equal(f.first_start[2], cut + step);
    /* nothing newer than the cut was stored */
    promql_result_t *stored;
    int64_t es, ee;
    char key[64];
    size_t kl = (size_t)snprintf(key, sizeof key, "q\x1f" "day=%lld", (long long)(3 * DAY));
    assert_int_equal(service__cache_get(c, key, kl, now, 3600000, &a, &stored, &es, &ee), 1);
    assert_int_equal(es, 3 * DAY);
    assert_int_equal(ee, cut);
    for (size_t i = 0; i < stored->n_series; i++)
        assert_true(stored->series[i].points[stored->series[i].n_points - 1].t <= cut);
    /* warm, same range: only the fresh tail is evaluated */
    f.calls = 0;
    assert_int_equal(service__cache_range(c, "q", 1, start, end, step, now, &cfg, fake_range, &f, &a, &got, &err), 0);
    assert_same(want, got);
    assert_int_equal(f.calls, 1);
    assert_int_equal(f.first_start[0], cut + step);
    /* a dashboard refresh 20 minutes later, the window moved: the extent grows by what became storable */
    int64_t now2 = now + 20 * MIN, start2 = start + 20 * MIN, end2 = end + 20 * MIN;
    int64_t cut2 = (now2 - 10 * MIN) - (now2 - 10 * MIN) % step;
    f.calls = 0;
    fake_range(&direct, start2, end2, &a, &want, &err);
    assert_int_equal(service__cache_range(c, "q", 1, start2, end2, step, now2, &cfg, fake_range, &f, &a, &got, &err), 0);
    assert_same(want, got);
    assert_int_equal(f.calls, 2);
    assert_int_equal(f.first_start[0], cut + step);
    assert_int_equal(f.last_end[0], cut2);
    assert_int_equal(f.first_start[1], cut2 + step);
    /* an earlier start on a cached day: only the missing head of that day (before the first window's start) */
    f.calls = 0;
    fake_range(&direct, start2 - 2 * 3600000LL, end2, &a, &want, &err);
    assert_int_equal(
        service__cache_range(c, "q", 1, start2 - 2 * 3600000LL, end2, step, now2, &cfg, fake_range, &f, &a, &got, &err), 0);
    assert_same(want, got);
    assert_int_equal(f.calls, 2);
    assert_int_equal(f.first_start[0], start2 - 2 * 3600000LL);
    assert_int_equal(f.last_end[0], start - step);
    /* another key (tenant, text or step) shares nothing */
    f.calls = 0;
    assert_int_equal(service__cache_range(c, "r", 1, start, end, step, now, &cfg, fake_range, &f, &a, &got, &err), 0);
    assert_int_equal(f.calls, 3);
    /* extents past extent_ttl are evaluated again */
    f.calls = 0;
    cfg.extent_ttl_ms = 1000;
    assert_int_equal(service__cache_range(c, "q", 1, start2, end2, step, now2 + 2000, &cfg, fake_range, &f, &a, &got, &err), 0);
    assert_int_equal(f.calls, 3);
    vg_arena_deinit(&a);
    service__cache_free(c);
}

/* ---- over the real engine ---- */

static const char *CONFIG = "query_cache: {max_freshness: 10m}\n";

static void load(st_t *t, int64_t from, int64_t to) {
    service_ctx_t ctx;
    service_ctx_internal(&t->svc, &ctx);
    storage_appender_t *a;
    vg_error_t err;
    assert_int_equal(service_appender(&ctx, &a, &err), 0);
    for (int64_t ts = from; ts <= to; ts += 60000)
        for (int i = 0; i < 3; i++) {
            assert_int_equal(st_append(a, "c", "client-alice", i, ts, (double)(ts / 60000) * (i + 1)), 0);
            if (i < 2) assert_int_equal(st_append(a, "c", "client-bob", i, ts, (double)(ts / 60000) * 7), 0);
        }
    assert_true(storage_commit(a, &err) >= 0);
    storage_appender_free(a);
    service_ctx_deinit(&ctx);
}

static char *query_json(service_ctx_t *ctx, const char *text, int64_t s, int64_t e, int64_t step, bool cached) {
    vg_arena_t ar;
    vg_arena_init(&ar, 1 << 16);
    service_query_t q = {text, s, e, step, 0};
    promql_result_t *r;
    vg_error_t err;
    int rc = cached ? service_query_cached(ctx, &q, SERVICE_CACHE_EXTENTS, &ar, &r, NULL, &err)
                    : service_query(ctx, &q, &ar, &r, NULL, &err);
    if (rc) fail_msg("%s: %s", text, err.msg);
    char *j = json_of(r);
    vg_arena_deinit(&ar);
    return j;
}

static void cached_equals_uncached(void **state) {
    (void)state;
    st_t t;
    st_open(&t, CONFIG);
    int64_t from = 1700006400000LL - 3 * DAY; /* a UTC midnight, three days of samples a minute apart */
    load(&t, from, from + 3 * DAY);
    service_ctx_t alice, bob;
    st_tenant(&t, "alice", &alice);
    st_tenant(&t, "bob", &bob);
    const char *qs[] = {"sum by (i) (rate(c[10m]))", "c * 2", "max_over_time(c[1h:5m])"};
    for (size_t k = 0; k < 3; k++) {
        int64_t s = from + 5 * 3600000LL, e = from + 2 * DAY + 7 * 3600000LL, step = 5 * MIN;
        for (int round = 0; round < 3; round++) {
            char *want = query_json(&alice, qs[k], s, e, step, false);
            char *cold = query_json(&alice, qs[k], s, e, step, true);
            char *warm = query_json(&alice, qs[k], s, e, step, true);
            assert_string_equal(want, cold);
            assert_string_equal(want, warm);
            char *other = query_json(&bob, qs[k], s, e, step, true), *other_want = query_json(&bob, qs[k], s, e, step, false);
            assert_string_equal(other, other_want);
            assert_string_not_equal(other, want);
            free(want), free(cold), free(warm), free(other), free(other_want);
            s += 7 * step, e += 7 * step; /* the next refresh: partly from the cache */
        }
    }
    service__cache_stats_t st;
    service__cache_stats(((service__priv_t *)t.svc.priv)->cache, &st);
    assert_true(st.hits > 0);
    /* not step-aligned: evaluated whole, still the same answer */
    char *want = query_json(&alice, qs[0], from + 1, from + DAY + 1, 5 * MIN, false);
    char *got = query_json(&alice, qs[0], from + 1, from + DAY + 1, 5 * MIN, true);
    assert_string_equal(want, got);
    free(want), free(got);
    service_ctx_deinit(&alice);
    service_ctx_deinit(&bob);
    st_close(&t);
}

static void threshold_states(void **state) {
    (void)state;
    config_threshold_t t = {70, 90};
    assert_int_equal(service_threshold_state(69.999, &t), SERVICE_STATE_OK);
    assert_int_equal(service_threshold_state(70, &t), SERVICE_STATE_WARNING);
    assert_int_equal(service_threshold_state(89.9, &t), SERVICE_STATE_WARNING);
    assert_int_equal(service_threshold_state(90, &t), SERVICE_STATE_CRITICAL);
    assert_int_equal(service_threshold_state(100, &t), SERVICE_STATE_CRITICAL);
    assert_int_equal(service_threshold_state(NAN, &t), SERVICE_STATE_UNKNOWN);
    config_threshold_t same = {80, 80};
    assert_int_equal(service_threshold_state(80, &same), SERVICE_STATE_CRITICAL);
    assert_string_equal(service_state_name(SERVICE_STATE_WARNING), "warning");
    assert_null(service_state_name(SERVICE_STATE_UNKNOWN));
    /* presets: step-aligned ends, the documented steps and lengths */
    service_range_t r;
    int64_t now = 1700000123456LL;
    assert_int_equal(service_cluster_range("10min", now, &r), 0);
    assert_int_equal(r.step, 30000);
    assert_int_equal(r.end % r.step, 0);
    assert_int_equal(r.end - r.start, 10 * MIN);
    assert_int_equal(service_cluster_range("today", now, &r), 0);
    assert_int_equal(r.start % DAY, 0);
    assert_int_equal(r.step, 5 * MIN);
    assert_int_equal(service_cluster_range("7days", now, &r), 0);
    assert_int_equal(r.step, 6 * 3600000LL);
    assert_int_equal(r.end - r.start, 7 * DAY);
    assert_int_equal(service_cluster_range("month", now, &r), 0);
    assert_int_equal(r.step, DAY);
    assert_int_equal(r.end - r.start, 30 * DAY);
    assert_int_equal(service_cluster_range("year", now, &r), VG_EINVAL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(put_get_ttl),        cmocka_unit_test(lru_bound),
        cmocka_unit_test(split_days),         cmocka_unit_test(slice_and_merge),
        cmocka_unit_test(range_through_cache), cmocka_unit_test(cached_equals_uncached),
        cmocka_unit_test(threshold_states),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
