/* Head chunks cut at block boundaries, and head compaction into blocks: no sample lost or doubled
 * before, during and after compaction and across a restart; the WAL checkpoint drops what blocks
 * hold. */
#include "tsdb/block.h"
#include "tsdb/chunkenc.h"
#include "tsdb/tsdb.h"
#include "tsdb/tsdb_int.h"
#include "tsdb_testutil.h"

#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <sys/stat.h>
#include <unistd.h>

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


/* ---- head compaction ---- */

#define D 60000     /* block duration of these tests: 1 minute */
#define NSER 20
#define STEP 1000
#define TEND 200000 /* samples at 0, 1 s, ..., 200 s: three and a third block ranges */

static tsdb_options_t copts(const char *dir) {
    tsdb_options_t o = tu_opts(dir);
    o.block_duration_ms = D;
    o.chunk_file_bytes = 1 << 20;
    return o;
}

static tsdb_db_t *copen(const char *dir) {
    tsdb_options_t o = copts(dir);
    tsdb_db_t *db;
    vg_error_t err;
    if (tsdb_db_open(&o, &db, &err) != 0) fail_msg("open %s: %s", dir, err.msg);
    return db;
}

static void fill_series(tsdb_db_t *db, int64_t from, int64_t to) {
    storage_appender_t *a;
    vg_error_t err;
    assert_int_equal(tsdb_db_appender(db, &a, &err), 0);
    for (int64_t t = from; t <= to; t += STEP) {
        for (int s = 0; s < NSER; s++) {
            char sv[8];
            snprintf(sv, sizeof sv, "%d", s);
            model_label_t l[] = {{"__name__", "c"}, {"s", sv}};
            assert_int_equal(storage_append(a, l, 2, t, (double)(t / STEP * 100 + s), NULL, &err), 0);
        }
        if (t % 10000 == 0) assert_int_equal(storage_commit(a, &err), 0);
    }
    assert_int_equal(storage_commit(a, &err), 0);
    storage_appender_free(a);
}

/* Every series holds exactly the samples 0..TEND (each once, in order, values intact) over the
 * whole range and over a window crossing block edges. Returns a description of the first problem. */
static const char *check_all(tsdb_db_t *db, char *why, size_t cap) {
    static const int64_t win[][2] = {{INT64_MIN, INT64_MAX}, {55000, 125000}};
    for (size_t w = 0; w < 2; w++) {
        storage_querier_t *q;
        vg_error_t err;
        if (tsdb_db_querier(db, win[w][0], win[w][1], &q, &err) != 0) return "querier failed";
        model_matcher_t *m = tu_m(MODEL_MATCH_EQ, "__name__", "c");
        storage_series_set_t *ss;
        if (storage_select(q, true, &m, 1, &ss, &err) != 0) return "select failed";
        storage_iterator_t *it = NULL;
        int n_series = 0;
        const char *res = NULL;
        int64_t lo = win[w][0] < 0 ? 0 : win[w][0], hi = win[w][1] > TEND ? TEND : win[w][1];
        while (!res && ss->vt->next(ss)) {
            const model_label_t *l;
            size_t nl;
            ss->vt->labels(ss, &l, &nl);
            int s = atoi(model_labels_get(l, nl, "s"));
            it = ss->vt->iterator(ss, it);
            int64_t expect = lo, t;
            double v;
            while (!res && it->vt->next(it) == STORAGE_VAL_FLOAT) {
                it->vt->at(it, &t, &v);
                if (t != expect) snprintf(why, cap, "series %d: t=%lld, expected %lld", s, (long long)t, (long long)expect), res = why;
                else if (v != (double)(t / STEP * 100 + s)) snprintf(why, cap, "series %d: t=%lld value %g", s, (long long)t, v), res = why;
                expect += STEP;
            }
            if (!res && it->vt->err(it)) res = "iterator error";
            if (!res && expect != hi + STEP) snprintf(why, cap, "series %d ends at %lld", s, (long long)(expect - STEP)), res = why;
            n_series++;
        }
        if (!res && ss->vt->err(ss)) res = "series set error";
        if (!res && n_series != NSER) snprintf(why, cap, "%d series", n_series), res = why;
        model_matcher_free(m);
        storage_querier_close(q);
        if (res) return res;
    }
    return NULL;
}

typedef struct reader {
    tsdb_db_t *db;
    atomic_bool stop;
    int rounds;
    char why[256];
    const char *failed;
} reader_t;

static void *reader_main(void *arg) {
    reader_t *r = arg;
    while (!atomic_load(&r->stop) && !r->failed) {
        r->failed = check_all(r->db, r->why, sizeof r->why);
        r->rounds++;
    }
    return NULL;
}

static int count_dirs(const char *dir, const char *suffix, size_t name_len) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name), k = strlen(suffix);
        if ((!name_len || l == name_len) && l >= k && !strcmp(e->d_name + l - k, suffix) && e->d_name[0] != '.') n++;
    }
    closedir(d);
    return n;
}

static void head_compaction_and_restart(void **state) {
    (void)state;
    char *dir = tu_tmpdir();
    char why[256];
    const char *bad;
    tsdb_db_t *db = copen(dir);
    fill_series(db, 0, TEND);
    /* a reader queries all the time while the head is compacted (here or by the background thread) */
    reader_t r = {.db = db};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, reader_main, &r), 0);
    while (r.rounds < 3 && !r.failed) usleep(1000);
    vg_error_t err;
    int n = tsdb_db_compact(db, &err);
    assert_true(n >= 0);
    while (r.rounds < 6 && !r.failed) usleep(1000);
    atomic_store(&r.stop, true);
    pthread_join(th, NULL);
    if (r.failed) fail_msg("during compaction: %s", r.failed);
    tsdb_stats_t st;
    tsdb_db_stats(db, &st);
    assert_int_equal(st.blocks, 2); /* [0, 1m) and [1m, 2m); [2m, 3m20s] stays: 80 s < 1.5 ranges */
    assert_int_equal(st.compactions, 2);
    assert_int_equal(st.compactions_failed, 0);
    assert_int_equal(st.blocks_maxt, 2 * D);
    assert_int_equal(st.head_mint, 2 * D);
    assert_int_equal(st.head_maxt, TEND);
    assert_true(st.block_bytes > 0);
    assert_true(st.checkpoints >= 1);
    assert_int_equal(count_dirs(dir, "", TSDB_ULID_LEN), 2);
    assert_int_equal(count_dirs(dir, ".tmp-for-creation", 0), 0);
    if ((bad = check_all(db, why, sizeof why))) fail_msg("after compaction: %s", bad);
    /* the range a block holds is closed to appends */
    storage_appender_t *a;
    tsdb_db_appender(db, &a, &err);
    model_label_t l[] = {{"__name__", "c"}, {"s", "new"}};
    assert_int_equal(storage_append(a, l, 2, 2 * D - 1, 1, NULL, &err), STORAGE_REJECT_OUT_OF_BOUNDS);
    storage_appender_free(a);
    tsdb_db_close(db);

    /* restart: blocks loaded, the WAL holds only what the head kept */
    db = copen(dir);
    tsdb_db_stats(db, &st);
    assert_int_equal(st.blocks, 2);
    assert_int_equal(st.blocks_maxt, 2 * D);
    assert_int_equal(st.replay_samples_skipped, 0); /* the checkpoint dropped the compacted samples */
    assert_int_equal(st.replay_samples, NSER * ((TEND - 2 * D) / STEP + 1));
    if ((bad = check_all(db, why, sizeof why))) fail_msg("after restart: %s", bad);
    tsdb_db_appender(db, &a, &err);
    assert_int_equal(storage_append(a, l, 2, D, 1, NULL, &err), STORAGE_REJECT_OUT_OF_BOUNDS);
    storage_appender_free(a);
    tsdb_db_close(db);
    tu_rmdir(dir);
}

/* Without a checkpoint after the block (a crash right after it was written), replay skips what the
 * block holds: still no duplicate. Emulated by writing the block's samples again into the WAL of a
 * fresh directory that holds the block. */
static void replay_skips_samples_in_blocks(void **state) {
    (void)state;
    char *dir = tu_tmpdir(), *dir2 = tu_tmpdir();
    tsdb_db_t *db = copen(dir);
    fill_series(db, 0, TEND);
    vg_error_t err;
    assert_true(tsdb_db_compact(db, &err) >= 0); /* the background thread may have done it already */
    tsdb_stats_t st;
    tsdb_db_stats(db, &st);
    assert_int_equal(st.blocks, 2);
    tsdb_db_close(db);
    /* dir2: the full WAL (no compaction: a huge block duration), plus dir's blocks */
    tsdb_options_t o = copts(dir2);
    o.block_duration_ms = INT64_C(1) << 40;
    assert_int_equal(tsdb_db_open(&o, &db, &err), 0);
    fill_series(db, 0, TEND);
    tsdb_db_close(db);
    DIR *d = opendir(dir);
    struct dirent *e;
    char from[4096], to[4096];
    while ((e = readdir(d)))
        if (strlen(e->d_name) == TSDB_ULID_LEN) {
            snprintf(from, sizeof from, "%s/%s", dir, e->d_name);
            snprintf(to, sizeof to, "%s/%s", dir2, e->d_name);
            assert_int_equal(rename(from, to), 0);
        }
    closedir(d);
    db = copen(dir2);
    tsdb_db_stats(db, &st);
    assert_int_equal(st.blocks, 2);
    assert_int_equal(st.replay_samples_skipped, NSER * (2 * D / STEP));
    char why[256];
    const char *bad = check_all(db, why, sizeof why);
    if (bad) fail_msg("%s", bad);
    tsdb_db_close(db);
    tu_rmdir(dir);
    tu_rmdir(dir2);
}

/* At open, an unfinished block is deleted and an unreadable one set aside; the rest opens. */
static void open_cleans_and_sets_aside(void **state) {
    (void)state;
    char *dir = tu_tmpdir();
    tsdb_db_t *db = copen(dir);
    fill_series(db, 0, TEND);
    vg_error_t err;
    assert_true(tsdb_db_compact(db, &err) >= 0);
    tsdb_db_close(db);
    char p[4096];
    snprintf(p, sizeof p, "%s/01HZZZZZZZZZZZZZZZZZZZZZZZ.tmp-for-creation", dir);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/01HZZZZZZZZZZZZZZZZZZZZZZZ.tmp-for-creation/index", dir);
    FILE *f = fopen(p, "w");
    fputs("partial", f);
    fclose(f);
    snprintf(p, sizeof p, "%s/01HZZZZZZZZZZZZZZZZZZZZZZY", dir);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/01HZZZZZZZZZZZZZZZZZZZZZZY/meta.json", dir);
    f = fopen(p, "w");
    fputs("{not json", f);
    fclose(f);
    db = copen(dir);
    tsdb_stats_t st;
    tsdb_db_stats(db, &st);
    assert_int_equal(st.blocks, 2);
    assert_int_equal(st.blocks_corrupt, 1);
    assert_int_equal(count_dirs(dir, ".tmp-for-creation", 0), 0);
    assert_int_equal(count_dirs(dir, ".corrupt", 0), 1);
    char why[256];
    const char *bad = check_all(db, why, sizeof why);
    if (bad) fail_msg("%s", bad);
    tsdb_db_close(db);
    tu_rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(chunks_cut_at_range_boundaries),
        cmocka_unit_test(block_duration_option),
        cmocka_unit_test(head_compaction_and_restart),
        cmocka_unit_test(replay_skips_samples_in_blocks),
        cmocka_unit_test(open_cleans_and_sets_aside),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
