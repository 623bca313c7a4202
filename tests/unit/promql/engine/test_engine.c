/* Unit tests of the PromQL engine through its public API over the in-memory TSDB: lookback and staleness
 * boundaries, rate extrapolation, histogram_quantile edge cases, limits with their exact error texts, the
 * concurrency gate, and the JSON form of results. */
#include "test_storage.h"

#include "util/timeutil.h"

#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

typedef struct fx {
    void *db;
    promql_engine_t *eng;
    vg_arena_t a;
    vg_error_t err;
} fx_t;

static int open_q(void *ctx, int64_t mint, int64_t maxt, storage_querier_t **out, vg_error_t *err) {
    return promql_test_tsdb_storage.querier(ctx, mint, maxt, out, err);
}

static fx_t *fx_new(const promql_engine_opts_t *o) {
    fx_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_int_equal(promql_test_tsdb_storage.create(NULL, &f->db, &f->err), 0);
    assert_int_equal(promql_engine_new(o, &f->eng, &f->err), 0);
    vg_arena_init(&f->a, 64 * 1024);
    return f;
}

static void fx_free(fx_t *f) {
    vg_arena_deinit(&f->a);
    promql_engine_free(f->eng);
    promql_test_tsdb_storage.destroy(f->db);
    free(f);
}

/* Appends samples (t in ms) to the series name{k=v} (k may be NULL). */
static void add(fx_t *f, const char *name, const char *k, const char *v, const int64_t *t, const double *val,
                size_t n) {
    storage_appender_t *app;
    assert_int_equal(promql_test_tsdb_storage.appender(f->db, &app, &f->err), 0);
    model_label_t l[2] = {{"__name__", name}, {k, v}};
    for (size_t i = 0; i < n; i++)
        assert_int_equal(storage_append(app, l, k ? 2 : 1, t[i], val[i], NULL, &f->err), 0);
    assert_true(storage_commit(app, &f->err) >= 0);
    storage_appender_free(app);
}

static int run(fx_t *f, const char *q, int64_t start, int64_t end, int64_t step, promql_result_t **r) {
    promql_node_t *expr;
    vg_error_clear(&f->err);
    int rc = promql_parse(q, strlen(q), &f->a, &expr, &f->err);
    if (rc < 0) {
        fprintf(stderr, "parse %s: %s\n", q, f->err.msg);
        return rc;
    }
    promql_queryable_t qb = {open_q, f->db};
    if (step == 0) return promql_exec_instant(f->eng, &qb, expr, start, &f->a, r, &f->err);
    return promql_exec_range(f->eng, &qb, expr, start, end, step, &f->a, r, &f->err);
}

/* Instant query expected to give one element (or none when expect_none); returns its value. */
static double one(fx_t *f, const char *q, int64_t t, bool expect_none) {
    promql_result_t *r;
    int rc = run(f, q, t, t, 0, &r);
    if (rc < 0) fprintf(stderr, "%s: %s\n", q, f->err.msg);
    assert_int_equal(rc, 0);
    if (r->type == PROMQL_TYPE_SCALAR) return r->scalar;
    assert_int_equal(r->type, PROMQL_TYPE_VECTOR);
    if (expect_none) {
        if (r->n_series) fprintf(stderr, "%s at %lld: expected nothing\n", q, (long long)t);
        assert_int_equal(r->n_series, 0);
        return NAN;
    }
    assert_int_equal(r->n_series, 1);
    return r->series[0].points[0].v;
}

static double stale_nan(void) {
    uint64_t b = PROMQL_STALE_NAN_BITS;
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

static void test_lookback_boundaries(void **state) {
    (void)state;
    fx_t *f = fx_new(NULL);
    int64_t t[] = {0};
    double v[] = {7};
    add(f, "m", NULL, NULL, t, v, 1);
    assert_true(one(f, "m", 300000, false) == 7); /* exactly 5m old: still visible (2.42) */
    one(f, "m", 300001, true);
    one(f, "m", -1, true); /* before the sample */
    assert_true(one(f, "m offset 1m", 360000, false) == 7);
    one(f, "m offset 1m", 360001, true);
    assert_true(one(f, "m @ 0", 999999999, false) == 7);
    fx_free(f);

    promql_engine_opts_t o = {0};
    o.lookback_ms = 60000;
    f = fx_new(&o);
    add(f, "m", NULL, NULL, t, v, 1);
    assert_true(one(f, "m", 60000, false) == 7);
    one(f, "m", 60001, true);
    fx_free(f);
}

static void test_staleness(void **state) {
    (void)state;
    fx_t *f = fx_new(NULL);
    int64_t t[] = {0, 10000, 20000, 30000};
    double v[] = {0, 1, stale_nan(), 2};
    add(f, "m", NULL, NULL, t, v, 4);
    assert_true(one(f, "m", 19999, false) == 1);
    one(f, "m", 20000, true); /* a marker hides the series at once */
    one(f, "m", 29999, true);
    assert_true(one(f, "m", 30000, false) == 2);
    assert_true(one(f, "count_over_time(m[1m])", 30000, false) == 3); /* markers are not samples */
    one(f, "count_over_time(m[5s])", 24000, true);
    fx_free(f);
}

static void test_rate_extrapolation(void **state) {
    (void)state;
    fx_t *f = fx_new(NULL);
    int64_t t[7];
    double v[7];
    for (int i = 0; i < 7; i++) t[i] = i * 10000, v[i] = i * 10;
    add(f, "c", NULL, NULL, t, v, 7);
    /* samples cover the window [0s, 60s] exactly: no extrapolation */
    assert_true(fabs(one(f, "rate(c[1m])", 60000, false) - 1.0) < 1e-12);
    /* window [5s, 65s]: first sample 10s, last 60s; both gaps under 1.1 × 10s: extrapolated to 60s */
    assert_true(fabs(one(f, "increase(c[1m])", 65000, false) - 50.0 * 60 / 50) < 1e-9);
    fx_free(f);

    f = fx_new(NULL);
    int64_t t2[] = {30000, 40000, 50000, 60000};
    double v2[] = {1, 11, 21, 31};
    add(f, "c", NULL, NULL, t2, v2, 4);
    /* the counter would reach zero 1s before the first sample: start extrapolation stops there */
    assert_true(fabs(one(f, "increase(c[1m])", 60000, false) - 31.0) < 1e-9);
    /* a reset adds the value before it */
    fx_free(f);
    f = fx_new(NULL);
    int64_t t3[] = {0, 10000, 20000};
    double v3[] = {5, 10, 2};
    add(f, "c", NULL, NULL, t3, v3, 3);
    assert_true(fabs(one(f, "increase(c[20s])", 20000, false) - 7.0) < 1e-9);
    assert_true(fabs(one(f, "delta(c[20s])", 20000, false) - -3.0) < 1e-9);
    assert_true(fabs(one(f, "irate(c[20s])", 20000, false) - 0.2) < 1e-12);
    one(f, "rate(c[5s])", 20000, true); /* one sample: no result */
    fx_free(f);
}

static void add_bucket(fx_t *f, const char *le, double count) {
    int64_t t[] = {0};
    double v[] = {count};
    add(f, "h_bucket", "le", le, t, v, 1);
}

static void test_histogram_quantile_edges(void **state) {
    (void)state;
    fx_t *f = fx_new(NULL);
    add_bucket(f, "0.5", 10);
    add_bucket(f, "1", 20);
    add_bucket(f, "+Inf", 20);
    assert_true(fabs(one(f, "histogram_quantile(0.75, h_bucket)", 0, false) - 0.75) < 1e-12);
    assert_true(isinf(one(f, "histogram_quantile(-1, h_bucket)", 0, false)) &&
                one(f, "histogram_quantile(-1, h_bucket)", 0, false) < 0);
    assert_true(isinf(one(f, "histogram_quantile(2, h_bucket)", 0, false)));
    assert_true(isnan(one(f, "histogram_quantile(NaN, h_bucket)", 0, false)));
    /* rank falls into the +Inf bucket → the highest finite bound */
    assert_true(one(f, "histogram_quantile(1, h_bucket)", 0, false) == 1);
    /* no +Inf bucket → NaN */
    assert_true(isnan(one(f, "histogram_quantile(0.5, h_bucket{le!=\"+Inf\"})", 0, false)));
    /* only the +Inf bucket → NaN */
    assert_true(isnan(one(f, "histogram_quantile(0.5, h_bucket{le=\"+Inf\"})", 0, false)));
    fx_free(f);

    f = fx_new(NULL);
    add_bucket(f, "-1", 5); /* first bucket with a bound <= 0 */
    add_bucket(f, "1", 5);
    add_bucket(f, "+Inf", 4); /* non-monotonic: fixed up to 5 */
    assert_true(one(f, "histogram_quantile(0.5, h_bucket)", 0, false) == -1);
    fx_free(f);

    f = fx_new(NULL);
    add_bucket(f, "1", 0);
    add_bucket(f, "+Inf", 0);
    assert_true(isnan(one(f, "histogram_quantile(0.5, h_bucket)", 0, false))); /* no observations */
    fx_free(f);
}

static void expect_error(fx_t *f, const char *q, int64_t start, int64_t end, int64_t step, int code,
                         const char *msg) {
    promql_result_t *r = (promql_result_t *)1;
    int rc = run(f, q, start, end, step, &r);
    if (rc != code || strcmp(f->err.msg, msg) != 0)
        fprintf(stderr, "%s: got %d \"%s\", want %d \"%s\"\n", q, rc, f->err.msg, code, msg);
    assert_int_equal(rc, code);
    assert_string_equal(f->err.msg, msg);
    assert_null(r);
}

static void test_limits(void **state) {
    (void)state;
    promql_engine_opts_t o = {0};
    o.max_samples = 5;
    fx_t *f = fx_new(&o);
    int64_t t[] = {0};
    double v[] = {1};
    char val[8];
    for (int i = 0; i < 6; i++) {
        snprintf(val, sizeof val, "%d", i);
        add(f, "m", "i", val, t, v, 1);
    }
    expect_error(f, "m", 0, 0, 0, VG_ELIMIT,
                 "query processing would load too many samples into memory in query execution");
    expect_error(f, "sum(m)", 0, 0, 0, VG_ELIMIT,
                 "query processing would load too many samples into memory in query execution");
    expect_error(f, "count_over_time(m[1m])", 0, 0, 0, VG_ELIMIT,
                 "query processing would load too many samples into memory in query execution");
    assert_true(one(f, "count(m{i=~\"[0-3]\"})", 0, false) == 4);
    expect_error(f, "m", 0, 11001, 1, VG_EINVAL,
                 "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query "
                 "resolution (?step=XX)");
    expect_error(f, "m", 10, 0, 1, VG_EINVAL, "end timestamp must not be before start time");
    expect_error(f, "m", 0, 10, -1, VG_EINVAL,
                 "zero or negative query resolution step widths are not accepted. Try a positive integer");
    expect_error(f, "m[1m]", 0, 10, 1, VG_EINVAL,
                 "invalid expression type \"range vector\" for range query, must be Scalar or instant Vector");
    fx_free(f);

    f = fx_new(NULL);
    for (int i = 0; i < 2; i++) {
        snprintf(val, sizeof val, "%d", i);
        add(f, "m", "i", val, t, v, 1);
    }
    expect_error(f, "m + on() m", 0, 0, 0, VG_EEXEC,
                 "found duplicate series for the match group {} on the right hand-side of the operation: "
                 "[{__name__=\"m\", i=\"1\"}, {__name__=\"m\", i=\"0\"}];many-to-many matching not allowed: "
                 "matching labels must be unique on one side");
    expect_error(f, "abs(m) + ignoring(i) group_left abs(m)", 0, 0, 0, VG_EEXEC,
                 "found duplicate series for the match group {} on the right hand-side of the operation: "
                 "[{i=\"1\"}, {i=\"0\"}];many-to-many matching not allowed: matching labels must be unique on one "
                 "side");
    add(f, "n", "i", "0", t, v, 1);
    expect_error(f, "{__name__=~\"m|n\", i=\"0\"} + on() group_left vector(1)", 0, 0, 0, VG_EEXEC,
                 "multiple matches for labels: grouping labels must ensure unique matches");
    expect_error(f, "label_replace(m, \"i\", \"x\", \"i\", \".*\")", 0, 0, 0, VG_EEXEC,
                 "vector cannot contain metrics with the same labelset");
    expect_error(f, "label_replace(m, \"a-b\", \"x\", \"i\", \".*\")", 0, 0, 0, VG_EEXEC,
                 "invalid destination label name in label_replace(): a-b");
    expect_error(f, "label_replace(m, \"a\", \"x\", \"i\", \"(\")", 0, 0, 0, VG_EEXEC,
                 "invalid regular expression in label_replace(): (");
    /* PCRE-only syntax Prometheus (Go regexp) rejects, with Prometheus' wording */
    expect_error(f, "label_replace(m, \"a\", \"x\", \"i\", \"(?=x)\")", 0, 0, 0, VG_EEXEC,
                 "invalid regular expression in label_replace(): (?=x)");
    expect_error(f, "label_replace(m, \"a\", \"$1\", \"i\", \"(.)\\\\1\")", 0, 0, 0, VG_EEXEC,
                 "invalid regular expression in label_replace(): (.)\\1");
    expect_error(f, "label_replace(m, \"a\", \"x\", \"i\", \"a++\")", 0, 0, 0, VG_EEXEC,
                 "invalid regular expression in label_replace(): a++");
    expect_error(f, "label_replace(m, \"a\", \"x\", \"i\", \"(?>x)\")", 0, 0, 0, VG_EEXEC,
                 "invalid regular expression in label_replace(): (?>x)");
    expect_error(f, "holt_winters(m[1m], 2, 0.5)", 0, 0, 0, VG_EEXEC,
                 "invalid smoothing factor. Expected: 0 < sf < 1, got: 2.000000");
    expect_error(f, "count_values(\"a-b\", m)", 0, 0, 0, VG_EEXEC, "invalid label name \"a-b\"");
    expect_error(f, "topk(scalar(vector(NaN)), m)", 0, 0, 0, VG_EEXEC, "Scalar value NaN overflows int64");
    fx_free(f);
}

/* A queryable that sleeps in open_querier (for the timeout) or blocks until released (for the gate). */
typedef struct slow {
    void *db;
    int sleep_ms;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool entered, release;
} slow_t;

static int slow_open(void *ctx, int64_t mint, int64_t maxt, storage_querier_t **out, vg_error_t *err) {
    slow_t *s = ctx;
    if (s->sleep_ms) usleep((useconds_t)s->sleep_ms * 1000);
    pthread_mutex_lock(&s->mu);
    s->entered = true;
    pthread_cond_broadcast(&s->cv);
    while (!s->release) pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    return promql_test_tsdb_storage.querier(s->db, mint, maxt, out, err);
}

typedef struct job {
    fx_t *f;
    slow_t *s;
    promql_node_t *expr;
    int64_t timeout_ms;
    int rc;
    vg_error_t err;
    vg_arena_t a;
} job_t;

static void *job_run(void *arg) {
    job_t *j = arg;
    promql_queryable_t qb = {slow_open, j->s};
    promql_query_t q = {j->expr, 0, 0, 0, j->timeout_ms};
    promql_result_t *r;
    vg_arena_init(&j->a, 4096);
    j->rc = promql_exec(j->f->eng, &qb, &q, &j->a, &r, &j->err);
    vg_arena_deinit(&j->a);
    return NULL;
}

static void test_timeout_and_concurrency(void **state) {
    (void)state;
    promql_engine_opts_t o = {0};
    o.max_concurrent = 1;
    fx_t *f = fx_new(&o);
    int64_t t[] = {0};
    double v[] = {1};
    add(f, "m", NULL, NULL, t, v, 1);
    slow_t s = {f->db, 0, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false};
    promql_node_t *expr;
    assert_int_equal(promql_parse("m", 1, &f->a, &expr, &f->err), 0);

    /* the slot is taken by a blocked query: a second one times out in the queue */
    job_t a = {f, &s, expr, 0, 0, {0}, {0}}, b = {f, &s, expr, 50, 0, {0}, {0}};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, job_run, &a);
    pthread_mutex_lock(&s.mu);
    while (!s.entered) pthread_cond_wait(&s.cv, &s.mu);
    pthread_mutex_unlock(&s.mu);
    job_run(&b);
    assert_int_equal(b.rc, VG_ETIMEOUT);
    assert_string_equal(b.err.msg, "query timed out in query queue");

    /* a waiting query runs once the slot is free */
    job_t c = {f, &s, expr, 5000, 0, {0}, {0}};
    pthread_create(&tb, NULL, job_run, &c);
    usleep(20000);
    pthread_mutex_lock(&s.mu);
    s.release = true;
    pthread_cond_broadcast(&s.cv);
    pthread_mutex_unlock(&s.mu);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_int_equal(a.rc, 0);
    assert_int_equal(c.rc, 0);

    /* evaluation past the deadline */
    s.sleep_ms = 30;
    job_t d = {f, &s, expr, 10, 0, {0}, {0}};
    job_run(&d);
    assert_int_equal(d.rc, VG_ETIMEOUT);
    assert_string_equal(d.err.msg, "query timed out in expression evaluation");
    fx_free(f);
}

static void json_of(fx_t *f, const char *q, int64_t start, int64_t end, int64_t step, const char *want) {
    promql_result_t *r;
    int rc = run(f, q, start, end, step, &r);
    if (rc < 0) fprintf(stderr, "%s: %s\n", q, f->err.msg);
    assert_int_equal(rc, 0);
    vg_buf_t b = VG_BUF_INIT;
    vg_json_t j;
    vg_json_init(&j, &b);
    promql_result_write_json(r, &j);
    assert_string_equal(b.data, want);
    vg_buf_deinit(&b);
}

static void test_json(void **state) {
    (void)state;
    fx_t *f = fx_new(NULL);
    int64_t t[] = {0, 1500};
    double v[] = {1e-7, 2.5};
    add(f, "m", "a", "x<y", t, v, 2);
    json_of(f, "m", 1500, 1500, 0,
            "{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"__name__\":\"m\",\"a\":\"x\\u003cy\"},"
            "\"value\":[1.500,\"2.5\"]}]}");
    json_of(f, "m", 1000, 1000, 0,
            "{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"__name__\":\"m\",\"a\":\"x\\u003cy\"},"
            "\"value\":[1,\"1e-07\"]}]}");
    json_of(f, "m * 1e21", 1000, 2000, 1000,
            "{\"resultType\":\"matrix\",\"result\":[{\"metric\":{\"a\":\"x\\u003cy\"},"
            "\"values\":[[1,\"100000000000000\"],[2,\"2.5e+21\"]]}]}");
    json_of(f, "1.5", 1500, 1500, 0, "{\"resultType\":\"scalar\",\"result\":[1.5,\"1.5\"]}");
    json_of(f, "\"s\"", 2000, 2000, 0, "{\"resultType\":\"string\",\"result\":[2,\"s\"]}");
    json_of(f, "vector(1) / 0", 0, 0, 0,
            "{\"resultType\":\"vector\",\"result\":[{\"metric\":{},\"value\":[0,\"+Inf\"]}]}");
    json_of(f, "nothing", 0, 0, 0, "{\"resultType\":\"vector\",\"result\":[]}");
    json_of(f, "m[2s]", 1500, 1500, 0,
            "{\"resultType\":\"matrix\",\"result\":[{\"metric\":{\"__name__\":\"m\",\"a\":\"x\\u003cy\"},"
            "\"values\":[[0,\"1e-07\"],[1.500,\"2.5\"]]}]}");
    fx_free(f);
}

/* label_replace on long values gives the right answer; a value its regex cannot be evaluated on fails
 * the query (422) instead of leaving the series as if it had not matched. */
static void test_label_replace_regex_errors(void **state) {
    (void)state;
    fx_t *f = fx_new(NULL);
    int64_t t[] = {0};
    double v[] = {1};
    static char lng[4097];
    for (int i = 0; i < 4095; i++) lng[i] = i % 3 ? 'a' : 'b';
    lng[4095] = '!';
    add(f, "long", "v", lng, t, v, 1);
    promql_result_t *r;
    assert_int_equal(run(f, "label_replace(long, \"d\", \"$2\", \"v\", \"(a|b)+(!)\")", 0, 0, 0, &r), 0);
    assert_int_equal(r->n_series, 1);
    const char *d = NULL;
    for (size_t i = 0; i < r->series[0].n_labels; i++)
        if (!strcmp(r->series[0].labels[i].name, "d")) d = r->series[0].labels[i].value;
    assert_non_null(d);
    assert_string_equal(d, "!");
    /* (a|a)+b makes the backtracker give up on a^30 c before it tries a+c, which matches: the match is
     * certain (the DFA matcher sees it) but its groups are not */
    add(f, "bomb", "v", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaac", t, v, 1);
    expect_error(f, "label_replace(bomb, \"d\", \"$1\", \"v\", \"(a|a)+b|(a+c)\")", 0, 0, 0, VG_ELIMIT,
                 "label_replace(): regex \"(a|a)+b|(a+c)\" could not be evaluated on the value of label \"v\": limit exceeded");
    assert_int_equal(vg_error_http_status(VG_ELIMIT), 422);
    /* no match at all is decided (by the DFA matcher), so the series passes unchanged */
    assert_int_equal(run(f, "label_replace(bomb, \"d\", \"$1\", \"v\", \"(a|a)+b\")", 0, 0, 0, &r), 0);
    assert_int_equal(r->n_series, 1);
    fx_free(f);
}

/* `depth` label_replace calls nested around m, each doubling the value of v. */
static char *nested_doubling(int depth, const char *fn) {
    size_t cap = (size_t)depth * 64 + 16;
    char *q = malloc(cap);
    assert_non_null(q);
    size_t k = 0;
    for (int i = 0; i < depth; i++) k += (size_t)snprintf(q + k, cap - k, "%s(", fn);
    k += (size_t)snprintf(q + k, cap - k, "m");
    for (int i = 0; i < depth; i++)
        k += (size_t)snprintf(q + k, cap - k, strcmp(fn, "label_replace") == 0 ? ", \"v\", \"$1$1\", \"v\", \"(.*)\")"
                                                                              : ", \"v\", \"\", \"v\", \"v\")");
    return q;
}

/* query.max_bytes: label values grown by nested label_replace/label_join and plain arena growth stop the
 * query with 422 once the evaluation would allocate more than the budget; the arena's own limit is put
 * back afterwards. */
static void test_max_bytes(void **state) {
    (void)state;
    promql_engine_opts_t o = {0};
    o.max_bytes = 1 << 20;
    fx_t *f = fx_new(&o);
    int64_t t[] = {0};
    double v[] = {1};
    add(f, "m", "v", "ab", t, v, 1);
    const char *msg = "query processing would use more than 1048576 bytes of memory in query execution (query.max_bytes)";
    char *q = nested_doubling(3, "label_replace");
    promql_result_t *r;
    assert_int_equal(run(f, q, 0, 0, 0, &r), 0); /* "ab" doubled three times */
    assert_int_equal(r->n_series, 1);
    free(q);
    /* 22 doublings make a 8 MiB value: far past the budget, and small enough that an unbounded engine
     * answers (so this fails without the limit rather than running out of memory) */
    q = nested_doubling(22, "label_replace");
    expect_error(f, q, 0, 0, 0, VG_ELIMIT, msg);
    assert_int_equal(vg_error_http_status(VG_ELIMIT), 422);
    assert_string_equal(vg_error_type(VG_ELIMIT), "execution");
    assert_true(f->a.limit == 0); /* the caller's arena is unlimited again */
    free(q);
    q = nested_doubling(22, "label_join");
    expect_error(f, q, 0, 0, 0, VG_ELIMIT, msg);
    free(q);
    /* points of a long range query are arena memory too */
    expect_error(f, "vector(1) + vector(2)", 0, 11000 * 1000, 1000, VG_ELIMIT, "query processing would use more than 1048576 bytes of memory in query execution (query.max_bytes)");
    vg_arena_reset(&f->a);
    assert_int_equal(run(f, "vector(1)", 0, 100 * 1000, 1000, &r), 0);
    fx_free(f);

    /* a query's own max_bytes lowers the engine's */
    f = fx_new(NULL);
    add(f, "m", "v", "ab", t, v, 1);
    q = nested_doubling(22, "label_replace");
    promql_node_t *expr;
    assert_int_equal(promql_parse(q, strlen(q), &f->a, &expr, &f->err), 0);
    promql_queryable_t qb = {open_q, f->db};
    promql_query_t pq = {expr, 0, 0, 0, 0, 0, 1 << 20};
    r = (promql_result_t *)1;
    assert_int_equal(promql_exec(f->eng, &qb, &pq, &f->a, &r, &f->err), VG_ELIMIT);
    assert_string_equal(f->err.msg, msg);
    assert_null(r);
    pq.max_bytes = 0; /* the engine's 1 GiB default holds 8 MiB values */
    assert_int_equal(promql_exec(f->eng, &qb, &pq, &f->a, &r, &f->err), 0);
    assert_int_equal(r->n_series, 1);
    const char *val = NULL;
    for (size_t i = 0; i < r->series[0].n_labels; i++)
        if (!strcmp(r->series[0].labels[i].name, "v")) val = r->series[0].labels[i].value;
    assert_non_null(val);
    assert_int_equal(strlen(val), 2u << 22);
    free(q);
    fx_free(f);
}

/* absent()/absent_over_time() over an enforced tree: the tenant matcher enforcement added stays out of
 * the labels, one the query wrote stays in (as Prometheus answers the tenant's own text). */
static void test_absent_enforced(void **state) {
    (void)state;
    fx_t *f = fx_new(NULL);
    static const char *const vals[] = {"client-alice"};
    const promql_enforced_label_t alice = {"namespace", vals, 1};
    struct {
        const char *q, *want;
    } cases[] = {
        {"absent(nonexistent)", "{}"},
        {"absent(nonexistent{job=\"x\"})", "{\"job\":\"x\"}"},
        {"absent(nonexistent{namespace=\"client-alice\"})", "{\"namespace\":\"client-alice\"}"},
        {"absent(nonexistent{namespace=\"client-alice\",job=\"x\"})", "{\"job\":\"x\",\"namespace\":\"client-alice\"}"},
        {"absent_over_time(nonexistent[5m])", "{}"},
        {"absent_over_time(nonexistent{job=\"x\"}[5m:1m])", "{}"}, /* a subquery: no labels at all */
        {"absent_over_time(nonexistent{job=\"x\"}[5m])", "{\"job\":\"x\"}"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        promql_node_t *expr;
        assert_int_equal(promql_parse(cases[c].q, strlen(cases[c].q), &f->a, &expr, &f->err), 0);
        assert_true(promql_enforce(expr, &alice, 1, PROMQL_ENFORCE_REJECT, &f->a, &f->err) >= 0);
        promql_queryable_t qb = {open_q, f->db};
        promql_result_t *r;
        assert_int_equal(promql_exec_instant(f->eng, &qb, expr, 0, &f->a, &r, &f->err), 0);
        assert_int_equal(r->n_series, 1);
        vg_buf_t b = VG_BUF_INIT;
        vg_json_t j;
        vg_json_init(&j, &b);
        vg_json_obj_open(&j);
        for (size_t i = 0; i < r->series[0].n_labels; i++) {
            vg_json_key(&j, r->series[0].labels[i].name);
            vg_json_str(&j, r->series[0].labels[i].value);
        }
        vg_json_obj_close(&j);
        if (strcmp(b.data, cases[c].want)) fprintf(stderr, "%s: got %s, want %s\n", cases[c].q, b.data, cases[c].want);
        assert_string_equal(b.data, cases[c].want);
        vg_buf_deinit(&b);
    }
    fx_free(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookback_boundaries),
        cmocka_unit_test(test_staleness),
        cmocka_unit_test(test_rate_extrapolation),
        cmocka_unit_test(test_histogram_quantile_edges),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_timeout_and_concurrency),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_label_replace_regex_errors),
        cmocka_unit_test(test_max_bytes),
        cmocka_unit_test(test_absent_enforced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
