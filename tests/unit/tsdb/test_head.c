/* Head, appender and querier: batching, Prometheus' out-of-order/duplicate rules, matcher selection
 * through the postings (including {a=""}), label names/values, iterator seek, and parallel appenders
 * with readers. Runs in memory and on disk with mmapped chunk files. */
#include "tsdb/chunkenc.h"
#include "tsdb/tsdb.h"
#include "tsdb/tsdb_int.h"
#include "tsdb_testutil.h"
#include "model/regex.h"
#include "util/timeutil.h"

#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>

#include <cmocka.h>

static tsdb_db_t *open_db(const char *path) {
    tsdb_options_t o = tu_opts(path);
    o.chunk_file_bytes = 1 << 20;
    tsdb_db_t *db;
    vg_error_t err;
    if (tsdb_db_open(&o, &db, &err) != 0) fail_msg("open: %s", err.msg);
    return db;
}

static void append_commit_rollback(void **state) {
    (void)state;
    tsdb_db_t *db = open_db(NULL);
    storage_appender_t *a;
    vg_error_t err;
    assert_int_equal(tsdb_db_appender(db, &a, &err), 0);
    model_label_t l[] = {{"job", "api"}, {"__name__", "up"}};
    uint64_t ref;
    assert_int_equal(storage_append(a, l, 2, 1000, 1, &ref, &err), 0);
    assert_true(ref > 0);
    assert_int_equal(storage_append_ref(a, ref, 2000, 2, &err), 0);
    /* nothing visible before commit */
    size_t n;
    tu_count(db, "job", "api", 0, 10000, &n);
    assert_int_equal(n, 0);
    assert_int_equal(storage_commit(a, &err), 0);
    assert_int_equal(tu_count(db, "job", "api", 0, 10000, &n), 1);
    assert_int_equal(n, 2);
    assert_int_equal(storage_append_ref(a, ref, 3000, 3, &err), 0);
    storage_rollback(a);
    tu_count(db, "job", "api", 0, 10000, &n);
    assert_int_equal(n, 2);
    /* bad labels */
    model_label_t bad[] = {{"__name__", "up"}, {"a-b", "x"}};
    assert_int_equal(storage_append(a, bad, 2, 1, 1, NULL, &err), VG_EINVAL);
    assert_non_null(strstr(err.msg, "a-b"));
    assert_int_equal(storage_append_ref(a, 999999, 1, 1, &err), VG_ENOTFOUND);
    storage_appender_free(a);
    tsdb_db_close(db);
}

static void out_of_order_and_duplicates(void **state) {
    (void)state;
    tsdb_db_t *db = open_db(NULL);
    storage_appender_t *a;
    vg_error_t err;
    tsdb_db_appender(db, &a, &err);
    model_label_t l[] = {{"__name__", "m"}};
    uint64_t ref;
    assert_int_equal(storage_append(a, l, 1, 1000, 1.0, &ref, &err), 0);
    assert_int_equal(storage_commit(a, &err), 0);
    assert_int_equal(storage_append_ref(a, ref, 999, 1, &err), STORAGE_REJECT_OUT_OF_ORDER);
    assert_int_equal(storage_append_ref(a, ref, 1000, 2.0, &err), STORAGE_REJECT_DUPLICATE);
    assert_int_equal(storage_append_ref(a, ref, 1000, 1.0, &err), 0); /* identical resend: fine */
    /* within one batch, the older of two samples is rejected at commit */
    assert_int_equal(storage_append_ref(a, ref, 3000, 3, &err), 0);
    assert_int_equal(storage_append_ref(a, ref, 2000, 2, &err), 0);
    assert_int_equal(storage_commit(a, &err), 1);
    tsdb_stats_t st;
    tsdb_db_stats(db, &st);
    assert_int_equal(st.samples_appended, 2);
    assert_int_equal(st.samples_out_of_order, 2);
    assert_int_equal(st.samples_duplicate, 1);
    /* staleness marker is stored bit-exactly */
    uint64_t stale = TSDB_STALE_NAN_BITS;
    double sv;
    memcpy(&sv, &stale, 8);
    assert_int_equal(storage_append_ref(a, ref, 4000, sv, &err), 0);
    assert_int_equal(storage_commit(a, &err), 0);
    storage_querier_t *q;
    tsdb_db_querier(db, 4000, 4000, &q, &err);
    model_matcher_t *m = tu_m(MODEL_MATCH_EQ, "__name__", "m");
    storage_series_set_t *ss;
    storage_select(q, true, &m, 1, &ss, &err);
    assert_true(ss->vt->next(ss));
    storage_iterator_t *it = ss->vt->iterator(ss, NULL);
    assert_int_equal(it->vt->next(it), STORAGE_VAL_FLOAT);
    int64_t t;
    double v;
    it->vt->at(it, &t, &v);
    uint64_t bits;
    memcpy(&bits, &v, 8);
    assert_int_equal(bits, stale);
    model_matcher_free(m);
    storage_querier_close(q);
    storage_appender_free(a);
    tsdb_db_close(db);
}

static void out_of_bounds(void **state) {
    (void)state;
    tsdb_options_t o = tu_opts(NULL);
    o.out_of_bounds_ms = 3600000;
    tsdb_db_t *db;
    vg_error_t err;
    assert_int_equal(tsdb_db_open(&o, &db, &err), 0);
    storage_appender_t *a;
    tsdb_db_appender(db, &a, &err);
    model_label_t l1[] = {{"__name__", "a"}}, l2[] = {{"__name__", "b"}};
    assert_int_equal(storage_append(a, l1, 1, 10000000, 1, NULL, &err), 0);
    storage_commit(a, &err);
    assert_int_equal(storage_append(a, l2, 1, 10000000 - 3600001, 1, NULL, &err), STORAGE_REJECT_OUT_OF_BOUNDS);
    assert_int_equal(storage_append(a, l2, 1, 10000000 - 3599999, 1, NULL, &err), 0);
    assert_int_equal(storage_commit(a, &err), 0);
    storage_appender_free(a);
    tsdb_db_close(db);
    /* INT64_MIN (a new series' "no sample yet" mark) is out of bounds, never a "duplicate" */
    o.out_of_bounds_ms = 0;
    assert_int_equal(tsdb_db_open(&o, &db, &err), 0);
    tsdb_db_appender(db, &a, &err);
    model_label_t l3[] = {{"__name__", "c"}};
    assert_int_equal(storage_append(a, l3, 1, INT64_MIN, 1, NULL, &err), STORAGE_REJECT_OUT_OF_BOUNDS);
    assert_int_equal(storage_append(a, l3, 1, INT64_MIN + 1, 1, NULL, &err), 0);
    assert_int_equal(storage_commit(a, &err), 0);
    storage_appender_free(a);
    tsdb_db_close(db);
}

/* A sample further than max_future_ms ahead of the clock is refused by both append paths, creates no
 * series and leaves the head's time range alone, so current samples keep being accepted — also after
 * a restart (nothing of it reached the WAL). max_future_ms = 0 turns the bound off. */
static void too_far_future(void **state) {
    (void)state;
    char *d = tu_tmpdir();
    tsdb_options_t o = tu_opts(d);
    o.out_of_bounds_ms = 3600000;
    o.max_future_ms = 600000;
    tsdb_db_t *db;
    vg_error_t err;
    assert_int_equal(tsdb_db_open(&o, &db, &err), 0);
    storage_appender_t *a;
    tsdb_db_appender(db, &a, &err);
    model_label_t la[] = {{"__name__", "a"}}, lb[] = {{"__name__", "b"}}, lc[] = {{"__name__", "c"}};
    const int64_t far = INT64_C(1) << 62, now = vg_now_ms();
    uint64_t ref = 0;
    assert_int_equal(storage_append(a, la, 1, now, 1, &ref, &err), 0);
    assert_int_equal(storage_append_ref(a, ref, far, 2, &err), STORAGE_REJECT_TOO_FAR_FUTURE);
    assert_int_equal(storage_append(a, lb, 1, far, 1, NULL, &err), STORAGE_REJECT_TOO_FAR_FUTURE);
    assert_int_equal(storage_append(a, lb, 1, now + 660000, 1, NULL, &err), STORAGE_REJECT_TOO_FAR_FUTURE);
    assert_int_equal(storage_commit(a, &err), 0);
    tsdb_stats_t st;
    tsdb_db_stats(db, &st);
    assert_int_equal(st.head_series, 1); /* b was never created */
    assert_int_equal(st.samples_too_far_future, 3);
    assert_int_equal(st.head_maxt, now);
    /* within the bound is fine, and a current sample of a new series still fits the head */
    assert_int_equal(storage_append(a, la, 1, now + 60000, 3, NULL, &err), 0);
    assert_int_equal(storage_append(a, lc, 1, now + 1, 1, NULL, &err), 0);
    assert_int_equal(storage_commit(a, &err), 0);
    storage_appender_free(a);
    tsdb_db_close(db);

    assert_int_equal(tsdb_db_open(&o, &db, &err), 0);
    tsdb_db_stats(db, &st);
    assert_int_equal(st.head_maxt, now + 60000);
    assert_int_equal(st.head_series, 2);
    tsdb_db_appender(db, &a, &err);
    assert_int_equal(storage_append(a, lb, 1, vg_now_ms(), 1, NULL, &err), 0);
    assert_int_equal(storage_commit(a, &err), 0);
    storage_appender_free(a);
    tsdb_db_close(db);
    tu_rmdir(d);

    o = tu_opts(NULL);
    o.max_future_ms = 0;
    assert_int_equal(tsdb_db_open(&o, &db, &err), 0);
    tsdb_db_appender(db, &a, &err);
    assert_int_equal(storage_append(a, lb, 1, far, 1, NULL, &err), 0);
    assert_int_equal(storage_commit(a, &err), 0);
    storage_appender_free(a);
    tsdb_db_close(db);
}

/* 3 jobs x 4 instances x 3 metrics (one without "env"), 300 samples each so chunks get cut. */
static void fill(tsdb_db_t *db) {
    storage_appender_t *a;
    vg_error_t err;
    tsdb_db_appender(db, &a, &err);
    const char *jobs[] = {"api", "web", "db"}, *names[] = {"up", "http_requests_total", "mem"};
    for (int ts = 0; ts < 300; ts++) {
        for (int j = 0; j < 3; j++)
            for (int i = 0; i < 4; i++)
                for (int k = 0; k < 3; k++) {
                    char inst[16];
                    snprintf(inst, sizeof inst, "h%d:9100", i);
                    model_label_t l[] = {{"__name__", names[k]}, {"job", jobs[j]}, {"instance", inst},
                                         {"env", k == 2 ? "" : "prod"}};
                    if (storage_append(a, l, 4, (int64_t)ts * 15000, ts * (k + 1), NULL, &err) != 0) fail_msg("%s", err.msg);
                }
        assert_true(storage_commit(a, &err) >= 0);
    }
    storage_appender_free(a);
}

static size_t sel(storage_querier_t *q, size_t n, model_matcher_t **ms) {
    storage_series_set_t *ss;
    vg_error_t err;
    assert_int_equal(storage_select(q, true, ms, n, &ss, &err), 0);
    size_t c = 0;
    const model_label_t *prev = NULL;
    size_t prev_n = 0;
    while (ss->vt->next(ss)) {
        const model_label_t *l;
        size_t ln;
        ss->vt->labels(ss, &l, &ln);
        if (prev) assert_true(model_labels_cmp(prev, prev_n, l, ln) < 0); /* sorted */
        prev = l;
        prev_n = ln;
        c++;
    }
    for (size_t i = 0; i < n; i++) model_matcher_free(ms[i]);
    return c;
}

static void select_and_labels(const char *path) {
    tsdb_db_t *db = open_db(path);
    fill(db);
    storage_querier_t *q;
    vg_error_t err;
    assert_int_equal(tsdb_db_querier(db, 0, INT64_MAX, &q, &err), 0);
    model_matcher_t *m[3];
    m[0] = tu_m(MODEL_MATCH_EQ, "__name__", "up");
    assert_int_equal(sel(q, 1, m), 12);
    m[0] = tu_m(MODEL_MATCH_EQ, "__name__", "up");
    m[1] = tu_m(MODEL_MATCH_RE, "job", "api|web");
    assert_int_equal(sel(q, 2, m), 8);
    m[0] = tu_m(MODEL_MATCH_RE, "__name__", ".+");
    m[1] = tu_m(MODEL_MATCH_NEQ, "job", "db");
    m[2] = tu_m(MODEL_MATCH_NRE, "instance", "h[01]:.*");
    assert_int_equal(sel(q, 3, m), 3 * 2 * 2);
    m[0] = tu_m(MODEL_MATCH_EQ, "env", ""); /* series without env: the 12 "mem" series */
    assert_int_equal(sel(q, 1, m), 12);
    m[0] = tu_m(MODEL_MATCH_EQ, "job", "api");
    m[1] = tu_m(MODEL_MATCH_EQ, "env", "");
    assert_int_equal(sel(q, 2, m), 4);
    m[0] = tu_m(MODEL_MATCH_EQ, "job", "nope");
    assert_int_equal(sel(q, 1, m), 0);
    m[0] = tu_m(MODEL_MATCH_EQ, "nolabel", "x");
    assert_int_equal(sel(q, 1, m), 0);
    m[0] = tu_m(MODEL_MATCH_RE, "job", ".*");
    assert_int_equal(sel(q, 1, m), 36);

    const char *const *v;
    size_t n;
    assert_int_equal(q->vt->label_names(q, NULL, 0, &v, &n, &err), 0);
    assert_int_equal(n, 4);
    assert_string_equal(v[0], "__name__");
    assert_string_equal(v[1], "env");
    m[0] = tu_m(MODEL_MATCH_EQ, "__name__", "mem");
    assert_int_equal(q->vt->label_names(q, m, 1, &v, &n, &err), 0);
    assert_int_equal(n, 3); /* no env */
    model_matcher_free(m[0]);
    assert_int_equal(q->vt->label_values(q, "job", NULL, 0, &v, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_string_equal(v[0], "api");
    assert_string_equal(v[2], "web");
    m[0] = tu_m(MODEL_MATCH_EQ, "job", "db");
    assert_int_equal(q->vt->label_values(q, "instance", m, 1, &v, &n, &err), 0);
    assert_int_equal(n, 4);
    model_matcher_free(m[0]);
    assert_int_equal(q->vt->label_values(q, "missing", NULL, 0, &v, &n, &err), 0);
    assert_int_equal(n, 0);
    storage_querier_close(q);

    /* time range and seek */
    size_t ns;
    assert_int_equal(tu_count(db, "__name__", "up", 15000 * 100, 15000 * 199, &ns), 12);
    assert_int_equal(ns, 12 * 100);
    tsdb_db_querier(db, 0, INT64_MAX, &q, &err);
    m[0] = tu_m(MODEL_MATCH_EQ, "__name__", "up");
    m[1] = tu_m(MODEL_MATCH_EQ, "instance", "h0:9100");
    m[2] = tu_m(MODEL_MATCH_EQ, "job", "api");
    storage_series_set_t *ss;
    storage_select(q, true, m, 3, &ss, &err);
    assert_true(ss->vt->next(ss));
    storage_iterator_t *it = ss->vt->iterator(ss, NULL);
    int64_t t;
    double val;
    assert_int_equal(it->vt->seek(it, 15000 * 250 - 1), STORAGE_VAL_FLOAT);
    it->vt->at(it, &t, &val);
    assert_int_equal(t, 15000 * 250);
    assert_true(val == 250);
    assert_int_equal(it->vt->seek(it, 0), STORAGE_VAL_FLOAT); /* never moves back */
    it->vt->at(it, &t, &val);
    assert_int_equal(t, 15000 * 250);
    assert_int_equal(it->vt->next(it), STORAGE_VAL_FLOAT);
    it->vt->at(it, &t, &val);
    assert_int_equal(t, 15000 * 251);
    assert_int_equal(it->vt->seek(it, 15000 * 299), STORAGE_VAL_FLOAT);
    assert_int_equal(it->vt->next(it), STORAGE_VAL_NONE);
    assert_int_equal(it->vt->seek(it, 15000 * 400), STORAGE_VAL_NONE);
    assert_false(ss->vt->next(ss));
    for (int i = 0; i < 3; i++) model_matcher_free(m[i]);
    storage_querier_close(q);
    tsdb_stats_t st;
    tsdb_db_stats(db, &st);
    assert_int_equal(st.head_series, 36);
    assert_int_equal(st.head_chunks, 36 * 2); /* 300 samples = 120 + 120 + 60 open */
    tsdb_db_close(db);
}

/* Selection through the postings (borrowed lists, merged unions, galloping intersections, subtraction)
 * agrees with evaluating every matcher on every series' labels, for 400 random matcher sets. */
#define BF_SERIES 4000
static const char *bf_label(const model_label_t *l, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(l[i].name, name)) return l[i].value;
    return "";
}

static void select_agrees_with_brute_force(void **state) {
    (void)state;
    tsdb_db_t *db = open_db(NULL);
    storage_appender_t *a;
    vg_error_t err;
    tsdb_db_appender(db, &a, &err);
    static char vals[BF_SERIES][5][16];
    static model_label_t labels[BF_SERIES][5];
    static size_t n_labels[BF_SERIES];
    uint32_t rnd = 12345;
    for (int k = 0; k < BF_SERIES; k++) {
        int i = k * 3761 % BF_SERIES; /* a permutation: creation order unrelated to label order */
        snprintf(vals[i][0], 16, "m%d", i % 4);
        snprintf(vals[i][1], 16, "%d", i % 10);
        snprintf(vals[i][2], 16, "v%d", i * 7919 % 500);
        snprintf(vals[i][3], 16, "%d", i % 5);
        size_t n = 0;
        labels[i][n++] = (model_label_t){"__name__", vals[i][0]};
        labels[i][n++] = (model_label_t){"a", vals[i][1]};
        labels[i][n++] = (model_label_t){"b", vals[i][2]};
        if (i % 3 == 0) labels[i][n++] = (model_label_t){"c", vals[i][3]};
        snprintf(vals[i][4], 16, "%d", i);
        labels[i][n++] = (model_label_t){"id", vals[i][4]};
        n_labels[i] = n;
        if (storage_append(a, labels[i], n, 1000, i, NULL, &err) != 0) fail_msg("%s", err.msg);
    }
    assert_true(storage_commit(a, &err) >= 0);
    storage_appender_free(a);
    const struct {
        model_match_type_t t;
        const char *name, *value;
    } pool[] = {{MODEL_MATCH_EQ, "__name__", "m1"},   {MODEL_MATCH_RE, "__name__", "m1|m2"},
                {MODEL_MATCH_EQ, "b", "v7"},          {MODEL_MATCH_RE, "b", "v1.*"},
                {MODEL_MATCH_RE, "b", "v1|v2|v3|v499"}, {MODEL_MATCH_NEQ, "a", "3"},
                {MODEL_MATCH_NRE, "a", "1|2|3"},      {MODEL_MATCH_EQ, "c", ""},
                {MODEL_MATCH_NEQ, "c", ""},           {MODEL_MATCH_RE, "c", "1|2|"},
                {MODEL_MATCH_RE, "a", ".*"},          {MODEL_MATCH_EQ, "a", "nope"},
                {MODEL_MATCH_EQ, "zz", ""},           {MODEL_MATCH_RE, "a", "[0-4]"}};
    const size_t npool = sizeof pool / sizeof pool[0];
    static bool want[BF_SERIES];
    for (int round = 0; round < 400; round++) {
        model_matcher_t *ms[3];
        size_t n = 1 + (rnd = rnd * 1103515245u + 12345u) % 3, expected = 0;
        for (size_t j = 0; j < n; j++) {
            size_t p = (rnd = rnd * 1103515245u + 12345u) >> 8;
            p %= npool;
            ms[j] = tu_m(pool[p].t, pool[p].name, pool[p].value);
        }
        for (int i = 0; i < BF_SERIES; i++) {
            want[i] = true;
            for (size_t j = 0; j < n && want[i]; j++)
                want[i] = 1 == model_matcher_match(ms[j], bf_label(labels[i], n_labels[i], model_matcher_name(ms[j])));
            expected += want[i];
        }
        storage_querier_t *q;
        assert_int_equal(tsdb_db_querier(db, 0, INT64_MAX, &q, &err), 0);
        storage_series_set_t *ss;
        assert_int_equal(storage_select(q, false, ms, n, &ss, &err), 0);
        size_t got = 0;
        while (ss->vt->next(ss)) {
            const model_label_t *l;
            size_t ln;
            ss->vt->labels(ss, &l, &ln);
            storage_iterator_t *it = ss->vt->iterator(ss, NULL);
            assert_int_equal(it->vt->next(it), STORAGE_VAL_FLOAT);
            int64_t t;
            double v;
            it->vt->at(it, &t, &v);
            int i = (int)v;
            if (!want[i]) fail_msg("round %d: series %d selected but does not match", round, i);
            want[i] = false; /* each series once */
            got++;
        }
        if (got != expected) {
            fprintf(stderr, "round %d: %zu series selected, %zu match\n", round, got, expected);
            fail();
        }
        storage_querier_close(q);
        for (size_t j = 0; j < n; j++) model_matcher_free(ms[j]);
    }
    tsdb_db_close(db);
}

/* A tenant's series count (postings of its label values, optionally only series with a recent sample). */
static void count_series(void **state) {
    (void)state;
    tsdb_db_t *db = open_db(NULL);
    storage_appender_t *a;
    vg_error_t err;
    tsdb_db_appender(db, &a, &err);
    const struct {
        const char *ns, *i;
        int64_t t;
    } rows[] = {{"a", "1", 100000}, {"a", "2", 100000}, {"a", "3", 1000}, {"b", "1", 100000}, {"b", "2", 100000}};
    for (size_t k = 0; k < 5; k++) {
        model_label_t l[] = {{"__name__", "m"}, {"ns", rows[k].ns}, {"i", rows[k].i}};
        assert_int_equal(storage_append(a, l, 3, rows[k].t, 1, NULL, &err), 0);
    }
    assert_true(storage_commit(a, &err) >= 0);
    /* created by an append not yet committed: counted as active (it awaits its first sample) */
    model_label_t fresh[] = {{"__name__", "m"}, {"ns", "a"}, {"i", "4"}};
    assert_int_equal(storage_append(a, fresh, 3, 100000, 1, NULL, &err), 0);
    const char *va[] = {"a"}, *vaa[] = {"a", "a"}, *vab[] = {"a", "b"}, *vz[] = {"zz"};
    assert_int_equal(tsdb_db_count_series(db, "ns", va, 1, INT64_MIN), 4);
    assert_int_equal(tsdb_db_count_series(db, "ns", va, 1, 50000), 3); /* i=3 is older */
    assert_int_equal(tsdb_db_count_series(db, "ns", vaa, 2, INT64_MIN), 4); /* a value listed twice counts once */
    assert_int_equal(tsdb_db_count_series(db, "ns", vab, 2, 50000), 5);
    assert_int_equal(tsdb_db_count_series(db, "ns", vz, 1, INT64_MIN), 0);
    assert_int_equal(tsdb_db_count_series(db, "nolabel", va, 1, INT64_MIN), 0);
    storage_rollback(a);
    storage_appender_free(a);
    tsdb_db_close(db);
}

typedef struct {
    int calls, allow;
    char last[64];
} gate_t;

static bool gate_fn(void *ctx, const model_label_t *l, size_t n) {
    gate_t *g = ctx;
    g->calls++;
    snprintf(g->last, sizeof g->last, "%s", n > 1 ? l[1].value : "");
    return g->allow-- > 0;
}

/* The series gate is asked only before a series is created, with normalized labels; a refusal creates
 * nothing, returns STORAGE_REJECT_SERIES_LIMIT and leaves the batch usable. */
static void series_gate(void **state) {
    (void)state;
    tsdb_db_t *db = open_db(NULL);
    storage_appender_t *a;
    vg_error_t err;
    tsdb_db_appender(db, &a, &err);
    model_label_t x[] = {{"__name__", "m"}, {"i", "x"}}, y[] = {{"i", "y"}, {"__name__", "m"}}, z[] = {{"__name__", "m"}, {"i", "z"}};
    assert_int_equal(storage_append(a, x, 2, 1000, 1, NULL, &err), 0); /* before the gate: created freely */
    gate_t g = {0, 1, ""};
    assert_int_equal(storage_set_series_gate(a, gate_fn, &g), 0);
    assert_int_equal(storage_append(a, x, 2, 2000, 1, NULL, &err), 0);
    assert_int_equal(g.calls, 0); /* existing series: not asked */
    assert_int_equal(storage_append(a, y, 2, 2000, 1, NULL, &err), 0);
    assert_int_equal(g.calls, 1);
    assert_string_equal(g.last, "y"); /* sorted: __name__ first */
    assert_int_equal(storage_append(a, z, 2, 2000, 1, NULL, &err), STORAGE_REJECT_SERIES_LIMIT);
    assert_int_equal(storage_append(a, y, 2, 3000, 2, NULL, &err), 0); /* the batch goes on */
    assert_int_equal(storage_commit(a, &err), 0);
    tsdb_stats_t st;
    tsdb_db_stats(db, &st);
    assert_int_equal(st.head_series, 2);
    const char *vz[] = {"z"};
    assert_int_equal(tsdb_db_count_series(db, "i", vz, 1, INT64_MIN), 0);
    storage_appender_free(a);
    tsdb_db_close(db);
}

static void select_in_memory(void **state) {
    (void)state;
    select_and_labels(NULL);
}

static void select_on_disk(void **state) {
    (void)state;
    char *d = tu_tmpdir();
    select_and_labels(d);
    tu_rmdir(d);
}

typedef struct par {
    tsdb_db_t *db;
    int id;
    size_t rejected;
} par_t;

#define PAR_SERIES 200
#define PAR_ROUNDS 150

static void *writer(void *arg) {
    par_t *p = arg;
    storage_appender_t *a;
    vg_error_t err;
    tsdb_db_appender(p->db, &a, &err);
    uint64_t refs[PAR_SERIES] = {0};
    for (int r = 0; r < PAR_ROUNDS; r++) {
        for (int s = 0; s < PAR_SERIES; s++) {
            char w[8], sv[8];
            snprintf(w, sizeof w, "%d", p->id);
            snprintf(sv, sizeof sv, "%d", s);
            model_label_t l[] = {{"__name__", "par"}, {"writer", w}, {"s", sv}, {"shared", s % 2 ? "x" : "y"}};
            int rc = refs[s] ? storage_append_ref(a, refs[s], r * 1000, r, &err)
                             : storage_append(a, l, 4, r * 1000, r, &refs[s], &err);
            if (rc != 0) p->rejected++;
        }
        if (storage_commit(a, &err) < 0) p->rejected++;
    }
    storage_appender_free(a);
    return NULL;
}

/* A shared series written by all writers: races on the same series must not corrupt it. */
static void *contender(void *arg) {
    par_t *p = arg;
    storage_appender_t *a;
    vg_error_t err;
    tsdb_db_appender(p->db, &a, &err);
    model_label_t l[] = {{"__name__", "contended"}};
    for (int r = 0; r < 2000; r++) {
        storage_append(a, l, 1, r, r, NULL, &err);
        storage_commit(a, &err);
    }
    storage_appender_free(a);
    return NULL;
}

static void *reader(void *arg) {
    par_t *p = arg;
    for (int r = 0; r < 30; r++) {
        storage_querier_t *q;
        vg_error_t err;
        tsdb_db_querier(p->db, 0, INT64_MAX, &q, &err);
        model_matcher_t *m = tu_m(MODEL_MATCH_EQ, "shared", "x");
        storage_series_set_t *ss;
        storage_select(q, true, &m, 1, &ss, &err);
        storage_iterator_t *it = NULL;
        while (ss->vt->next(ss)) {
            it = ss->vt->iterator(ss, it);
            int64_t prev = INT64_MIN, t;
            double v;
            while (it->vt->next(it) == STORAGE_VAL_FLOAT) {
                it->vt->at(it, &t, &v);
                if (t <= prev) abort();
                prev = t;
            }
            if (it->vt->err(it)) abort();
        }
        model_matcher_free(m);
        storage_querier_close(q);
    }
    return NULL;
}

static void parallel_appenders_and_readers(void **state) {
    (void)state;
    char *d = tu_tmpdir();
    tsdb_db_t *db = open_db(d);
    pthread_t th[8];
    par_t p[8];
    for (int i = 0; i < 8; i++) {
        p[i] = (par_t){db, i, 0};
        pthread_create(&th[i], NULL, i < 4 ? writer : i < 6 ? contender : reader, &p[i]);
    }
    for (int i = 0; i < 8; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++) assert_int_equal(p[i].rejected, 0);
    size_t n;
    assert_int_equal(tu_count(db, "__name__", "par", 0, INT64_MAX, &n), 4 * PAR_SERIES);
    assert_int_equal(n, 4 * PAR_SERIES * PAR_ROUNDS);
    assert_int_equal(tu_count(db, "__name__", "contended", 0, INT64_MAX, &n), 1);
    assert_int_equal(n, 2000);
    tsdb_db_close(db);
    /* and the WAL agrees */
    db = open_db(d);
    assert_int_equal(tu_count(db, "__name__", "par", 0, INT64_MAX, &n), 4 * PAR_SERIES);
    assert_int_equal(n, 4 * PAR_SERIES * PAR_ROUNDS);
    assert_int_equal(tu_count(db, "__name__", "contended", 0, INT64_MAX, &n), 1);
    assert_int_equal(n, 2000);
    tsdb_db_close(db);
    tu_rmdir(d);
}

static void retention_drops_old_data(void **state) {
    (void)state;
    char *d = tu_tmpdir();
    tsdb_options_t o = tu_opts(d);
    o.retention_ms = 15000 * 100;
    o.chunk_file_bytes = 1 << 20;
    tsdb_db_t *db;
    vg_error_t err;
    assert_int_equal(tsdb_db_open(&o, &db, &err), 0);
    storage_appender_t *a;
    tsdb_db_appender(db, &a, &err);
    model_label_t old[] = {{"__name__", "old"}}, live[] = {{"__name__", "live"}};
    for (int i = 0; i < 10; i++) storage_append(a, old, 1, i * 15000, i, NULL, &err);
    for (int i = 0; i < 600; i++) storage_append(a, live, 1, i * 15000, i, NULL, &err);
    storage_commit(a, &err);
    assert_int_equal(tsdb_db_checkpoint(db, &err), 0);
    tsdb_stats_t st;
    tsdb_db_stats(db, &st);
    assert_int_equal(st.head_series, 1);
    size_t n;
    assert_int_equal(tu_count(db, "__name__", "old", 0, INT64_MAX, &n), 0);
    tu_count(db, "__name__", "live", 0, INT64_MAX, &n);
    assert_true(n >= 100 && n < 600);
    /* the series can come back */
    assert_int_equal(storage_append(a, old, 1, 600 * 15000, 1, NULL, &err), 0);
    storage_commit(a, &err);
    storage_appender_free(a);
    tsdb_db_close(db);
    assert_int_equal(tsdb_db_open(&o, &db, &err), 0);
    assert_int_equal(tu_count(db, "__name__", "old", 0, INT64_MAX, &n), 1);
    assert_int_equal(n, 1);
    tsdb_db_close(db);
    tu_rmdir(d);
}

/* Head chunk files read back frame by frame as written; a flipped byte is reported with the file, the
 * offset of its frame and the CRC that does not match. */
static void chunk_files_read_back(void **state) {
    (void)state;
    char *d = tu_tmpdir();
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/chunks_head", d);
    tsdb__cstore_t *cs;
    vg_error_t err;
    assert_int_equal(tsdb__cstore_open(dir, 1 << 20, &cs, &err), 0);
    uint8_t data[100];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)i;
    tsdb__chunk_t c[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(tsdb__cstore_put(cs, 1, i * 10, i * 10 + 9, TSDB_ENC_XOR, data, 50u + (uint32_t)i, &c[i]), 0);
    uint64_t n;
    assert_int_equal(tsdb__cstore_verify(cs, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_memory_equal(c[2].data, data, 52);
    /* frames are 28 + len + 4 bytes: the second starts at 82; flip a byte of its data */
    char p[4200];
    snprintf(p, sizeof p, "%s/00000001", dir);
    int fd = open(p, O_RDWR);
    assert_true(fd >= 0);
    uint8_t b;
    assert_int_equal(pread(fd, &b, 1, 82 + 28 + 5), 1);
    b ^= 0x20;
    assert_int_equal(pwrite(fd, &b, 1, 82 + 28 + 5), 1);
    close(fd);
    assert_int_equal(tsdb__cstore_verify(cs, &n, &err), VG_ECORRUPT);
    assert_int_equal(n, 1);
    if (!strstr(err.msg, "head chunk file 00000001 offset 82: bad CRC32C: stored "))
        fail_msg("unexpected message: %s", err.msg);
    assert_non_null(err.src_file);
    tsdb__cstore_close(cs);
    tu_rmdir(d);
}

static size_t select_count(tsdb_db_t *db, model_matcher_t *const *ms, size_t n, int *rc, vg_error_t *err) {
    storage_querier_t *q;
    if (tsdb_db_querier(db, 0, 10000, &q, err) != 0) fail_msg("querier: %s", err->msg);
    storage_series_set_t *ss = NULL;
    size_t ns = 0;
    *rc = storage_select(q, false, ms, n, &ss, err);
    while (!*rc && ss->vt->next(ss)) ns++;
    storage_querier_close(q);
    return ns;
}

/* Regex selection on long values is right under =~ and !~; a regex that cannot be evaluated on a value
 * fails select, label names and label values with a 422 error instead of returning a wrong set. */
static void select_regex_errors(void **state) {
    (void)state;
    tsdb_db_t *db = open_db(NULL);
    storage_appender_t *a;
    vg_error_t err;
    assert_int_equal(tsdb_db_appender(db, &a, &err), 0);
    static char lng[4097], bomb[32];
    for (int i = 0; i < 4095; i++) lng[i] = i % 3 ? 'a' : 'b';
    lng[4095] = '!';
    memset(bomb, 'a', 30);
    bomb[30] = 'b';
    const char *vals[] = {lng, bomb, "ok"};
    for (int i = 0; i < 3; i++) {
        model_label_t l[] = {{"__name__", "m"}, {"v", vals[i]}};
        assert_int_equal(storage_append(a, l, 2, 1000, 1, NULL, &err), 0);
    }
    assert_int_equal(storage_commit(a, &err), 0);
    storage_appender_free(a);

    int rc;
    model_matcher_t *m[2] = {tu_m(MODEL_MATCH_EQ, "__name__", "m"), tu_m(MODEL_MATCH_RE, "v", "(a|b)+!")};
    assert_int_equal(select_count(db, m, 2, &rc, &err), 1);
    assert_int_equal(rc, 0);
    model_matcher_free(m[1]);
    m[1] = tu_m(MODEL_MATCH_NRE, "v", "(a|b)+!");
    assert_int_equal(select_count(db, m, 2, &rc, &err), 2);
    assert_int_equal(rc, 0);
    model_matcher_free(m[1]);
    m[1] = tu_m(MODEL_MATCH_NRE, "v", "(a|a)+"); /* the backtracker gives up on bomb; the DFA answers */
    assert_int_equal(select_count(db, m, 2, &rc, &err), 3);
    assert_int_equal(rc, 0);
    model_matcher_free(m[1]);

    model_regex_limits_t lim = {.match_limit = 100, .depth_limit = 100, .dfa_workspace = 20};
    for (int t = 0; t < 2; t++) { /* =~ selects through the value's postings, !~ subtracts them */
        model_match_type_t ty = t ? MODEL_MATCH_NRE : MODEL_MATCH_RE;
        assert_int_equal(model_matcher_new_limits(ty, "v", "(a|a)+", &lim, &m[1], &err), 0);
        vg_error_clear(&err);
        assert_int_equal(select_count(db, m, 2, &rc, &err), 0);
        assert_int_equal(rc, VG_ELIMIT);
        assert_int_equal(vg_error_http_status(rc), 422);
        assert_non_null(strstr(err.msg, "could not be evaluated"));
        storage_querier_t *q;
        assert_int_equal(tsdb_db_querier(db, 0, 10000, &q, &err), 0);
        const char *const *names;
        size_t nn;
        assert_int_equal(q->vt->label_names(q, m, 2, &names, &nn, &err), VG_ELIMIT);
        assert_int_equal(q->vt->label_values(q, "v", m, 2, &names, &nn, &err), VG_ELIMIT);
        storage_querier_close(q);
        model_matcher_free(m[1]);
    }
    model_matcher_free(m[0]);
    tsdb_db_close(db);
}

/* Appends one sample of cap{i="<i>"} at t; returns storage_append's result. */
static int append_i(storage_appender_t *a, int i, int64_t t, uint64_t *ref) {
    char v[16];
    snprintf(v, sizeof v, "%d", i);
    model_label_t l[] = {{"__name__", "cap"}, {"i", v}};
    vg_error_t err;
    return storage_append(a, l, 2, t, (double)i, ref, &err);
}

/* The head's own cap on series: a creation past it is refused (STORAGE_REJECT_SERIES_LIMIT_TOTAL,
 * counted, nothing created, the batch goes on), existing series keep appending by labels and by ref,
 * a refusal by the cap never reaches the gate (no budget taken), and the cap can be moved. */
static void series_cap(void **state) {
    (void)state;
    tsdb_options_t o = tu_opts(NULL);
    o.max_series = 3;
    tsdb_db_t *db;
    vg_error_t err;
    assert_int_equal(tsdb_db_open(&o, &db, &err), 0);
    storage_appender_t *a;
    tsdb_db_appender(db, &a, &err);
    uint64_t ref0 = 0, ref = 99;
    assert_int_equal(append_i(a, 0, 1000, &ref0), 0);
    assert_int_equal(append_i(a, 1, 1000, NULL), 0);
    assert_int_equal(append_i(a, 2, 1000, NULL), 0);
    assert_int_equal(append_i(a, 3, 1000, &ref), STORAGE_REJECT_SERIES_LIMIT_TOTAL);
    assert_int_equal(ref, 0);
    gate_t g = {0, 100, ""};
    assert_int_equal(storage_set_series_gate(a, gate_fn, &g), 0);
    assert_int_equal(append_i(a, 4, 1000, NULL), STORAGE_REJECT_SERIES_LIMIT_TOTAL);
    assert_int_equal(g.calls, 0); /* the cap refused first: the gate's budget is untouched */
    assert_int_equal(append_i(a, 1, 2000, NULL), 0); /* existing series, by labels */
    assert_int_equal(storage_append_ref(a, ref0, 2000, 5, &err), 0); /* and by ref */
    assert_int_equal(storage_commit(a, &err), 0);
    tsdb_stats_t st;
    tsdb_db_stats(db, &st);
    assert_int_equal(st.head_series, 3);
    assert_int_equal(st.series_refused_total, 2);
    assert_int_equal(st.series_refused_gate, 0);
    assert_int_equal(st.max_series, 3);
    assert_int_equal(st.samples_appended, 5);
    size_t n;
    assert_int_equal(tu_count(db, "__name__", "cap", 0, 10000, &n), 3);
    assert_int_equal(n, 5);
    /* raised: one more fits, then refused again; 0: no cap */
    tsdb_db_set_max_series(db, 4);
    assert_int_equal(append_i(a, 3, 3000, NULL), 0);
    assert_int_equal(g.calls, 1);
    assert_int_equal(append_i(a, 4, 3000, NULL), STORAGE_REJECT_SERIES_LIMIT_TOTAL);
    tsdb_db_set_max_series(db, 0);
    assert_int_equal(append_i(a, 4, 3000, NULL), 0);
    assert_int_equal(storage_commit(a, &err), 0);
    tsdb_db_stats(db, &st);
    assert_int_equal(st.head_series, 5);
    assert_int_equal(st.series_refused_total, 3);
    storage_appender_free(a);
    tsdb_db_close(db);
}

/* WAL replay is never refused by the cap: a WAL holding more series than the cap reopens with all of
 * them and their samples; then new series are refused while the old ones keep appending, and that
 * survives another restart. */
static void series_cap_replay(void **state) {
    (void)state;
    char *d = tu_tmpdir();
    tsdb_options_t o = tu_opts(d);
    tsdb_db_t *db;
    vg_error_t err;
    assert_int_equal(tsdb_db_open(&o, &db, &err), 0);
    storage_appender_t *a;
    tsdb_db_appender(db, &a, &err);
    for (int i = 0; i < 10; i++) assert_int_equal(append_i(a, i, 1000, NULL), 0);
    assert_int_equal(storage_commit(a, &err), 0);
    storage_appender_free(a);
    tsdb_db_close(db);

    o.max_series = 4;
    for (int round = 0; round < 2; round++) {
        assert_int_equal(tsdb_db_open(&o, &db, &err), 0);
        tsdb_stats_t st;
        tsdb_db_stats(db, &st);
        assert_int_equal(st.head_series, 10);
        size_t n;
        assert_int_equal(tu_count(db, "__name__", "cap", 0, 10000, &n), 10);
        assert_int_equal(n, 10 + (size_t)round * 10);
        tsdb_db_appender(db, &a, &err);
        assert_int_equal(append_i(a, 10 + round, 2000, NULL), STORAGE_REJECT_SERIES_LIMIT_TOTAL);
        for (int i = 0; i < 10 && round == 0; i++) assert_int_equal(append_i(a, i, 2000, NULL), 0);
        assert_int_equal(storage_commit(a, &err), 0);
        storage_appender_free(a);
        tsdb_db_close(db);
    }
    tu_rmdir(d);
}

#define CAP_THREADS 4
#define CAP_PER_THREAD 300
#define CAP_MAX 500

static void *cap_writer(void *arg) {
    par_t *p = arg;
    storage_appender_t *a;
    vg_error_t err;
    tsdb_db_appender(p->db, &a, &err);
    for (int s = 0; s < CAP_PER_THREAD; s++) {
        int rc = append_i(a, p->id * CAP_PER_THREAD + s, 1000, NULL);
        if (rc == STORAGE_REJECT_SERIES_LIMIT_TOTAL) p->rejected++;
        else if (rc != 0) abort();
        if (s % 50 == 49) storage_commit(a, &err);
    }
    storage_commit(a, &err);
    storage_appender_free(a);
    return NULL;
}

/* Writers racing to create series in different stripes cannot take the head past the cap. */
static void series_cap_concurrent(void **state) {
    (void)state;
    tsdb_options_t o = tu_opts(NULL);
    o.max_series = CAP_MAX;
    tsdb_db_t *db;
    vg_error_t err;
    assert_int_equal(tsdb_db_open(&o, &db, &err), 0);
    pthread_t th[CAP_THREADS];
    par_t p[CAP_THREADS];
    for (int i = 0; i < CAP_THREADS; i++) {
        p[i] = (par_t){db, i, 0};
        pthread_create(&th[i], NULL, cap_writer, &p[i]);
    }
    size_t rejected = 0;
    for (int i = 0; i < CAP_THREADS; i++) {
        pthread_join(th[i], NULL);
        rejected += p[i].rejected;
    }
    tsdb_stats_t st;
    tsdb_db_stats(db, &st);
    assert_int_equal(st.head_series, CAP_MAX);
    assert_int_equal(rejected, CAP_THREADS * CAP_PER_THREAD - CAP_MAX);
    assert_int_equal(st.series_refused_total, rejected);
    tsdb_db_close(db);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(append_commit_rollback), cmocka_unit_test(out_of_order_and_duplicates),
        cmocka_unit_test(out_of_bounds),          cmocka_unit_test(too_far_future), cmocka_unit_test(select_in_memory),
        cmocka_unit_test(select_on_disk),         cmocka_unit_test(parallel_appenders_and_readers),
        cmocka_unit_test(retention_drops_old_data), cmocka_unit_test(select_agrees_with_brute_force),
        cmocka_unit_test(count_series), cmocka_unit_test(series_gate), cmocka_unit_test(series_cap),
        cmocka_unit_test(series_cap_replay), cmocka_unit_test(series_cap_concurrent), cmocka_unit_test(chunk_files_read_back),
        cmocka_unit_test(select_regex_errors)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
