/* The merge querier over two in-memory heads: series merged by labels, samples in time order with
 * duplicate timestamps dropped, seek across sources, iterator reuse, label name/value unions, and the
 * single-source shortcut. */
#include "tsdb/tsdb.h"
#include "tsdb/tsdb_int.h"
#include "tsdb_testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static tsdb_db_t *mem_db(void) {
    tsdb_options_t o = tu_opts(NULL);
    tsdb_db_t *db;
    vg_error_t err;
    if (tsdb_db_open(&o, &db, &err) != 0) fail_msg("open: %s", err.msg);
    return db;
}

/* Appends to series {__name__="m", s=<s>} every step ms in [from, to], value t / 1000 + v_off. */
static void fill(tsdb_db_t *db, const char *s, int64_t from, int64_t to, int64_t step, double v_off) {
    storage_appender_t *a;
    vg_error_t err;
    assert_int_equal(tsdb_db_appender(db, &a, &err), 0);
    model_label_t l[] = {{"__name__", "m"}, {"s", s}};
    for (int64_t t = from; t <= to; t += step) assert_int_equal(storage_append(a, l, 2, t, (double)t / 1000 + v_off, NULL, &err), 0);
    assert_int_equal(storage_commit(a, &err), 0);
    storage_appender_free(a);
}

static storage_querier_t *merged(tsdb_db_t *a, tsdb_db_t *b, int64_t mint, int64_t maxt) {
    storage_querier_t *qs[2], *q;
    vg_error_t err;
    assert_int_equal(tsdb_db_querier(a, mint, maxt, &qs[0], &err), 0);
    assert_int_equal(tsdb_db_querier(b, mint, maxt, &qs[1], &err), 0);
    assert_int_equal(tsdb__merge_querier_new(qs, 2, &q, &err), 0);
    assert_true(q != qs[0] && q != qs[1]);
    return q;
}

/* Reads every series of q into "s=<s>:<t>,<t>,...;" lines, checking order and values. */
static void dump(storage_querier_t *q, char *out, size_t cap) {
    vg_error_t err;
    model_matcher_t *m = tu_m(MODEL_MATCH_EQ, "__name__", "m");
    storage_series_set_t *ss;
    assert_int_equal(storage_select(q, false, &m, 1, &ss, &err), 0);
    size_t k = 0;
    out[0] = 0;
    storage_iterator_t *it = NULL;
    const model_label_t *prev = NULL;
    size_t prev_n = 0;
    while (ss->vt->next(ss)) {
        const model_label_t *l;
        size_t nl;
        ss->vt->labels(ss, &l, &nl);
        if (prev) assert_true(model_labels_cmp(prev, prev_n, l, nl) < 0); /* sorted, each once */
        prev = l, prev_n = nl;
        k += (size_t)snprintf(out + k, cap - k, "s=%s:", model_labels_get(l, nl, "s"));
        it = ss->vt->iterator(ss, it);
        int64_t t, last = INT64_MIN;
        double v;
        while (it->vt->next(it) == STORAGE_VAL_FLOAT) {
            it->vt->at(it, &t, &v);
            assert_true(t > last);
            last = t;
            k += (size_t)snprintf(out + k, cap - k, "%lld,", (long long)(t / 1000));
        }
        assert_int_equal(it->vt->err(it), 0);
        k += (size_t)snprintf(out + k, cap - k, ";");
    }
    assert_int_equal(ss->vt->err(ss), 0);
    model_matcher_free(m);
}

static void disjoint_and_overlapping(void **state) {
    (void)state;
    tsdb_db_t *a = mem_db(), *b = mem_db();
    fill(a, "1", 1000, 3000, 1000, 0); /* only in a */
    fill(b, "3", 1000, 2000, 1000, 0); /* only in b */
    fill(a, "2", 1000, 4000, 1000, 0); /* in both, overlapping on 3..4 */
    fill(b, "2", 3000, 6000, 1000, 0);
    storage_querier_t *q = merged(a, b, 0, 10000);
    char buf[1024];
    dump(q, buf, sizeof buf);
    assert_string_equal(buf, "s=1:1,2,3,;s=2:1,2,3,4,5,6,;s=3:1,2,;");
    storage_querier_close(q);
    /* the time range applies to every source */
    q = merged(a, b, 2000, 5000);
    dump(q, buf, sizeof buf);
    assert_string_equal(buf, "s=1:2,3,;s=2:2,3,4,5,;s=3:2,;");
    storage_querier_close(q);
    tsdb_db_close(a);
    tsdb_db_close(b);
}

/* The same sample in both sources reads once; interleaved timestamps merge in order. */
static void duplicates_and_interleaving(void **state) {
    (void)state;
    tsdb_db_t *a = mem_db(), *b = mem_db();
    fill(a, "x", 1000, 9000, 2000, 0); /* 1,3,5,7,9 */
    fill(b, "x", 1000, 9000, 1000, 0); /* 1..9: 1,3,5,7,9 twice */
    storage_querier_t *q = merged(a, b, 0, 100000);
    char buf[512];
    dump(q, buf, sizeof buf);
    assert_string_equal(buf, "s=x:1,2,3,4,5,6,7,8,9,;");
    storage_querier_close(q);
    tsdb_db_close(a);
    tsdb_db_close(b);
}

static void seek_across_sources(void **state) {
    (void)state;
    tsdb_db_t *a = mem_db(), *b = mem_db();
    fill(a, "x", 1000, 500000, 1000, 0);   /* several chunks */
    fill(b, "x", 400000, 900000, 1000, 0); /* overlaps a on 400..500 */
    storage_querier_t *q = merged(a, b, 0, INT64_MAX);
    vg_error_t err;
    model_matcher_t *m = tu_m(MODEL_MATCH_EQ, "s", "x");
    storage_series_set_t *ss;
    assert_int_equal(storage_select(q, true, &m, 1, &ss, &err), 0);
    assert_true(ss->vt->next(ss));
    storage_iterator_t *it = ss->vt->iterator(ss, NULL);
    int64_t t;
    double v;
    assert_int_equal(it->vt->seek(it, 450500), STORAGE_VAL_FLOAT);
    it->vt->at(it, &t, &v);
    assert_int_equal(t, 451000);
    assert_true(v == 451.0);
    assert_int_equal(it->vt->seek(it, 1000), STORAGE_VAL_FLOAT); /* never moves back */
    it->vt->at(it, &t, &v);
    assert_int_equal(t, 451000);
    assert_int_equal(it->vt->next(it), STORAGE_VAL_FLOAT);
    it->vt->at(it, &t, &v);
    assert_int_equal(t, 452000);
    assert_int_equal(it->vt->seek(it, 700000), STORAGE_VAL_FLOAT);
    it->vt->at(it, &t, &v);
    assert_int_equal(t, 700000);
    size_t n = 0;
    while (it->vt->next(it) == STORAGE_VAL_FLOAT) n++;
    assert_int_equal(n, 200); /* 701..900 */
    assert_int_equal(it->vt->seek(it, 1), STORAGE_VAL_NONE);
    /* a fresh iterator (reusing the old one) starts over */
    it = ss->vt->iterator(ss, it);
    n = 0;
    while (it->vt->next(it) == STORAGE_VAL_FLOAT) n++;
    assert_int_equal(n, 900);
    assert_false(ss->vt->next(ss));
    model_matcher_free(m);
    storage_querier_close(q);
    tsdb_db_close(a);
    tsdb_db_close(b);
}

static void label_unions(void **state) {
    (void)state;
    tsdb_db_t *a = mem_db(), *b = mem_db();
    storage_appender_t *ap;
    vg_error_t err;
    tsdb_db_appender(a, &ap, &err);
    model_label_t l1[] = {{"__name__", "m"}, {"job", "api"}, {"zone", "a"}};
    model_label_t l2[] = {{"__name__", "m"}, {"job", "db"}};
    assert_int_equal(storage_append(ap, l1, 3, 1000, 1, NULL, &err), 0);
    assert_int_equal(storage_commit(ap, &err), 0);
    storage_appender_free(ap);
    tsdb_db_appender(b, &ap, &err);
    assert_int_equal(storage_append(ap, l2, 2, 1000, 1, NULL, &err), 0);
    assert_int_equal(storage_append(ap, l1, 3, 2000, 1, NULL, &err), 0);
    assert_int_equal(storage_commit(ap, &err), 0);
    storage_appender_free(ap);
    storage_querier_t *q = merged(a, b, 0, 10000);
    const char *const *v;
    size_t n;
    assert_int_equal(q->vt->label_names(q, NULL, 0, &v, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_string_equal(v[0], "__name__");
    assert_string_equal(v[1], "job");
    assert_string_equal(v[2], "zone");
    assert_int_equal(q->vt->label_values(q, "job", NULL, 0, &v, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(v[0], "api");
    assert_string_equal(v[1], "db");
    model_matcher_t *m = tu_m(MODEL_MATCH_EQ, "job", "db");
    assert_int_equal(q->vt->label_names(q, &m, 1, &v, &n, &err), 0);
    assert_int_equal(n, 2); /* __name__, job: zone is not on job="db" */
    assert_int_equal(q->vt->label_values(q, "zone", &m, 1, &v, &n, &err), 0);
    assert_int_equal(n, 0);
    model_matcher_free(m);
    storage_querier_close(q);
    tsdb_db_close(a);
    tsdb_db_close(b);
}

static void one_source_is_itself(void **state) {
    (void)state;
    tsdb_db_t *a = mem_db();
    storage_querier_t *q0, *q;
    vg_error_t err;
    assert_int_equal(tsdb_db_querier(a, 0, 1, &q0, &err), 0);
    assert_int_equal(tsdb__merge_querier_new(&q0, 1, &q, &err), 0);
    assert_ptr_equal(q, q0);
    storage_querier_close(q);
    assert_int_equal(tsdb__merge_querier_new(NULL, 0, &q, &err), VG_EINVAL);
    assert_null(q);
    tsdb_db_close(a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(disjoint_and_overlapping), cmocka_unit_test(duplicates_and_interleaving),
        cmocka_unit_test(seek_across_sources),      cmocka_unit_test(label_unions),
        cmocka_unit_test(one_source_is_itself),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
