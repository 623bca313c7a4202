/* OpenMetrics import into blocks: the import's passes (ingest/import.c) feeding the block builder
 * (tsdb/block_build.c) as `vigil import` wires them. Checked by opening the blocks written: aligned
 * ranges, every sample back bit for bit, both chunk encodings, several passes giving the same blocks
 * as one, out-of-order samples counted, and a syntax error that leaves nothing in the directory. */
#include "ingest/import.h"
#include "tsdb/block_int.h"
#include "util/buf.h"
#include "util/fs.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define H (3600 * 1000)

static char *tmpdir(void) {
    char tmpl[] = "/tmp/vigil-import-XXXXXX";
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

static void rmdir_all(char *d) {
    vg_error_t err;
    vg_fs_remove_all(d, &err);
    free(d);
}

static int begin(void *ctx, int64_t mint, int64_t maxt, storage_appender_t **app, vg_error_t *err) {
    (void)mint, (void)maxt;
    return tsdb_block_builder_appender(ctx, app, err);
}
static int end(void *ctx, vg_error_t *err) { return tsdb_block_builder_flush(ctx, err); }

typedef struct result {
    int rc;
    vg_error_t err;
    ingest_import_stats_t st;
    size_t n_blocks;
} result_t;

static result_t import(const char *text, const char *dir, int64_t range_ms, bool xor_chunks, uint64_t pass_bytes) {
    result_t r = {0};
    tsdb_block_builder_t *b;
    tsdb_block_builder_opts_t bo = {.dir = dir, .block_ms = range_ms, .xor_chunks = xor_chunks};
    assert_int_equal(tsdb_block_builder_new(&bo, &b, &r.err), 0);
    ingest_import_sink_t sink = {b, begin, end};
    ingest_import_opts_t o = {.range_ms = range_ms, .max_pass_bytes = pass_bytes};
    r.rc = ingest_import_openmetrics(text, strlen(text), &o, &sink, &r.st, &r.err);
    const tsdb_block_info_t *bi;
    if (!r.rc) r.rc = tsdb_block_builder_publish(b, &bi, &r.n_blocks, &r.err);
    tsdb_block_builder_free(b);
    return r;
}

/* Names in dir (not . and ..). */
static size_t entries(const char *dir) {
    DIR *d = opendir(dir);
    size_t n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    if (d) closedir(d);
    return n;
}

/* Dumps every block of dir as "labels t v\n" lines, blocks by min time; checks alignment. */
static char *dump(const char *dir, int64_t range_ms, size_t *n_blocks, bool *any_dense, bool *all_xor) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    tsdb__block_t *bs[256];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!tsdb__ulid_valid(e->d_name, strlen(e->d_name))) continue;
        char p[4200];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        vg_error_t err;
        assert_true(n < 256);
        assert_int_equal(tsdb__block_open(p, &bs[n], &err), 0);
        assert_int_equal(tsdb__block_verify(bs[n], &err), 0);
        n++;
    }
    closedir(d);
    for (size_t i = 0; i < n; i++) /* by min time */
        for (size_t j = i + 1; j < n; j++)
            if (tsdb__block_meta(bs[j])->mint < tsdb__block_meta(bs[i])->mint) {
                tsdb__block_t *t = bs[i];
                bs[i] = bs[j], bs[j] = t;
            }
    vg_buf_t out = VG_BUF_INIT;
    *any_dense = false;
    *all_xor = true;
    for (size_t i = 0; i < n; i++) {
        const tsdb__block_meta_t *m = tsdb__block_meta(bs[i]);
        /* within one aligned range, spanning its samples as promtool's blocks do */
        assert_true(m->mint < m->maxt);
        int64_t k = m->mint >= 0 ? m->mint / range_ms : -((-m->mint + range_ms - 1) / range_ms);
        assert_true(m->maxt <= (k + 1) * range_ms);
        if (i) assert_true(m->mint - k * range_ms < 60000); /* a range's first sample: within its first minute */
        *any_dense |= m->dense;
        storage_querier_t *q;
        storage_series_set_t *ss;
        vg_error_t err;
        assert_int_equal(tsdb__block_querier(bs[i], INT64_MIN, INT64_MAX, &q, &err), 0);
        assert_int_equal(storage_select(q, true, NULL, 0, &ss, &err), 0);
        storage_iterator_t *it = NULL;
        while (ss->vt->next(ss)) {
            const model_label_t *l;
            size_t nl;
            ss->vt->labels(ss, &l, &nl);
            char lb[512];
            model_labels_format(l, nl, lb, sizeof lb);
            it = ss->vt->iterator(ss, it);
            while (it->vt->next(it) == STORAGE_VAL_FLOAT) {
                int64_t t;
                double v;
                it->vt->at(it, &t, &v);
                assert_true(t >= m->mint && t < m->maxt);
                vg_buf_printf(&out, "%s %lld %.17g\n", lb, (long long)t, v);
            }
            assert_int_equal(it->vt->err(it), 0);
        }
        storage_querier_close(q);
        if (m->dense) *all_xor = false;
        tsdb__block_unref(bs[i]);
    }
    *n_blocks = n;
    char *s = strdup(out.data ? out.data : "");
    vg_buf_deinit(&out);
    return s;
}

/* 4 series over 30 h at 60 s (counters with decimal steps, a gauge with full-precision floats), plus
 * what the model expects, in the same dump format (series in label order, samples by block). */
static char *gen(vg_buf_t *expect_unused, int64_t t0) {
    (void)expect_unused;
    vg_buf_t b = VG_BUF_INIT;
    vg_buf_puts(&b, "# TYPE req counter\n");
    for (int s = 0; s < 3; s++)
        for (int64_t t = t0; t < t0 + 30 * H; t += 60000)
            vg_buf_printf(&b, "req_total{code=\"%d\"} %.1f %lld.%03lld\n", 200 + s, (double)(t - t0) / 6000.0 + s,
                          (long long)(t / 1000), (long long)(t % 1000));
    vg_buf_puts(&b, "# TYPE g gauge\n");
    for (int64_t t = t0 + 7; t < t0 + 30 * H; t += 60000)
        vg_buf_printf(&b, "g %.17g %lld.%03lld\n", 1.0 / (double)(t % 97 + 1), (long long)(t / 1000), (long long)(t % 1000));
    vg_buf_puts(&b, "# EOF\n");
    char *s = strdup(b.data);
    vg_buf_deinit(&b);
    return s;
}

static void many_ranges_both_encodings_and_passes(void **state) {
    (void)state;
    int64_t t0 = INT64_C(1700000000000) + 1234; /* not aligned: the first and last blocks are partial */
    char *text = gen(NULL, t0);
    char *dx = tmpdir(), *dd = tmpdir(), *dp = tmpdir();
    result_t rx = import(text, dx, 2 * H, true, 0);
    assert_int_equal(rx.rc, 0);
    assert_int_equal(rx.st.samples, 4 * 30 * 60);
    assert_int_equal(rx.st.series, 4);
    assert_int_equal(rx.st.passes, 1);
    /* 30 h from an unaligned start touch 16 two-hour ranges */
    assert_int_equal(rx.st.ranges, 16);
    assert_int_equal(rx.n_blocks, 16);
    result_t rd = import(text, dd, 2 * H, false, 0);
    assert_int_equal(rd.rc, 0);
    result_t rp = import(text, dp, 2 * H, true, strlen(text) / 7); /* several passes */
    assert_int_equal(rp.rc, 0);
    assert_true(rp.st.passes >= 7);
    assert_int_equal(rp.st.samples, rx.st.samples);
    assert_int_equal(rp.st.series, 4);
    size_t nx, nd, np;
    bool dense_x, dense_d, dense_p, xor_x, xor_d, xor_p;
    char *sx = dump(dx, 2 * H, &nx, &dense_x, &xor_x), *sd = dump(dd, 2 * H, &nd, &dense_d, &xor_d),
         *sp = dump(dp, 2 * H, &np, &dense_p, &xor_p);
    assert_int_equal(nx, 16);
    assert_int_equal(nd, 16);
    assert_int_equal(np, 16);
    assert_false(dense_x);
    assert_true(dense_d); /* the counters' decimal steps encode densely */
    assert_string_equal(sx, sd);
    assert_string_equal(sx, sp);
    /* the first sample of req_total{code="200"}, and the gauge's full-precision values, came back */
    char first[128];
    snprintf(first, sizeof first, "req_total{code=\"200\"} %lld 0\n", (long long)t0);
    assert_non_null(strstr(sx, first));
    snprintf(first, sizeof first, "g{} %lld %.17g\n", (long long)(t0 + 7), 1.0 / (double)((t0 + 7) % 97 + 1));
    assert_non_null(strstr(sx, first));
    free(sx), free(sd), free(sp), free(text);
    rmdir_all(dx), rmdir_all(dd), rmdir_all(dp);
}

static void other_durations_and_negative_times(void **state) {
    (void)state;
    const char *text = "a 1 -0.001\na 2 0\na 3 86399.999\na 4 86400\n# EOF\n";
    char *d = tmpdir();
    result_t r = import(text, d, 24 * H, false, 0);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.n_blocks, 3); /* [-1d, 0), [0, 1d), [1d, 2d) */
    size_t n;
    bool dn, xr;
    char *s = dump(d, 24 * H, &n, &dn, &xr);
    assert_string_equal(s, "a{} -1 1\na{} 0 2\na{} 86399999 3\na{} 86400000 4\n");
    free(s);
    rmdir_all(d);
}

static void out_of_order_and_duplicates_counted(void **state) {
    (void)state;
    const char *text = "a 1 10\na 2 5\na 1 10\na 3 10\nb{x=\"\"} 1 1\nc 1\n# EOF\n";
    char *d = tmpdir();
    result_t r = import(text, d, 2 * H, true, 0);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.st.samples, 3); /* a@10 (twice: same value accepted), b@1 */
    assert_int_equal(r.st.skipped_out_of_order, 1);
    assert_int_equal(r.st.skipped_duplicate, 1);
    assert_int_equal(r.st.skipped_no_timestamp, 1);
    assert_int_equal(r.n_blocks, 1);
    rmdir_all(d);
}

static void errors_leave_nothing(void **state) {
    (void)state;
    /* many ranges first, the error last: nothing may have been written when it is found */
    vg_buf_t b = VG_BUF_INIT;
    for (int i = 0; i < 100; i++) vg_buf_printf(&b, "m{i=\"%d\"} 1 %d\n", i, i * 7200);
    vg_buf_puts(&b, "m{i=\"x\" 1 1\n# EOF\n");
    char *d = tmpdir();
    result_t r = import(b.data, d, 2 * H, false, 1000);
    assert_int_equal(r.rc, VG_EINVAL);
    assert_int_equal(r.err.line, 101);
    if (!strstr(r.err.msg, "line 101, column ")) fail_msg("error message: %s", r.err.msg);
    assert_int_equal(r.n_blocks, 0);
    assert_int_equal(entries(d), 0);
    /* a missing # EOF is found by the checking pass too */
    vg_buf_reset(&b);
    vg_buf_puts(&b, "m 1 1\n");
    r = import(b.data, d, 2 * H, false, 0);
    assert_int_equal(r.rc, VG_EINVAL);
    assert_int_equal(entries(d), 0);
    vg_buf_deinit(&b);
    rmdir_all(d);
}

static void failed_publish_leaves_nothing(void **state) {
    (void)state;
    char *d = tmpdir();
    tsdb_block_builder_t *b;
    vg_error_t err;
    tsdb_block_builder_opts_t bo = {.dir = d, .block_ms = 2 * H};
    assert_int_equal(tsdb_block_builder_new(&bo, &b, &err), 0);
    storage_appender_t *app;
    assert_int_equal(tsdb_block_builder_appender(b, &app, &err), 0);
    model_label_t l[] = {{"__name__", "x"}};
    for (int64_t t = 0; t < 10 * H; t += 60000) assert_int_equal(storage_append(app, l, 1, t, 1, NULL, &err), 0);
    storage_appender_free(app);
    assert_int_equal(tsdb_block_builder_flush(b, &err), 0);
    assert_int_equal(entries(d), 1); /* only the staging directory */
    tsdb_block_builder_free(b);      /* not published */
    assert_int_equal(entries(d), 0);
    rmdir_all(d);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(many_ranges_both_encodings_and_passes),
                                       cmocka_unit_test(other_durations_and_negative_times),
                                       cmocka_unit_test(out_of_order_and_duplicates_counted),
                                       cmocka_unit_test(errors_leave_nothing), cmocka_unit_test(failed_publish_leaves_nothing)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
