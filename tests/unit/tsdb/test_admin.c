/* Administrative operations on a real db: delete_series in blocks (tombstones) and in the head
 * (pending deletions), both after a reopen; clean_tombstones rewriting blocks with the same answers;
 * a snapshot with the head that opens as a db giving the same answers. */
#include "tsdb/block_int.h"
#include "util/timeutil.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tsdb_testutil.h"

#define H (3600 * 1000)
#define NSER 10

static int64_t now_ms;

/* Blocks of 10 series over [0, 4h) at 60 s, imported with the block builder; head samples of the same
 * series over the last 10 minutes. */
static tsdb_db_t *setup_opts(const char *dir, bool manual) {
    vg_error_t err;
    tsdb_block_builder_t *b;
    tsdb_block_builder_opts_t bo = {.dir = dir, .block_ms = 2 * H};
    assert_int_equal(tsdb_block_builder_new(&bo, &b, &err), 0);
    storage_appender_t *app;
    assert_int_equal(tsdb_block_builder_appender(b, &app, &err), 0);
    char v[8];
    for (int i = 0; i < NSER; i++) {
        snprintf(v, sizeof v, "%d", i);
        model_label_t l[] = {{"__name__", "m"}, {"i", v}};
        for (int64_t t = 0; t < 4 * H; t += 60000) assert_int_equal(storage_append(app, l, 2, t, (double)t, NULL, &err), 0);
    }
    storage_appender_free(app);
    assert_int_equal(tsdb_block_builder_flush(b, &err), 0);
    const tsdb_block_info_t *bi;
    size_t nb;
    assert_int_equal(tsdb_block_builder_publish(b, &bi, &nb, &err), 0);
    assert_int_equal(nb, 2);
    tsdb_block_builder_free(b);
    tsdb_options_t o = tu_opts(dir);
    o.manual_compaction = manual;
    tsdb_db_t *db;
    assert_int_equal(tsdb_db_open(&o, &db, &err), 0);
    assert_int_equal(tsdb_db_appender(db, &app, &err), 0);
    now_ms = vg_now_ms() / 60000 * 60000;
    for (int i = 0; i < NSER; i++) {
        snprintf(v, sizeof v, "%d", i);
        model_label_t l[] = {{"__name__", "m"}, {"i", v}};
        for (int64_t t = now_ms - 600000; t < now_ms; t += 60000) assert_int_equal(storage_append(app, l, 2, t, 1, NULL, &err), 0);
    }
    assert_int_equal(storage_commit(app, &err), 0);
    storage_appender_free(app);
    return db;
}

static tsdb_db_t *setup(const char *dir) { return setup_opts(dir, false); }

static tsdb_db_t *reopen(tsdb_db_t *db, const char *dir) {
    tsdb_db_close(db);
    tsdb_options_t o = tu_opts(dir);
    vg_error_t err;
    assert_int_equal(tsdb_db_open(&o, &db, &err), 0);
    return db;
}

static size_t samples(tsdb_db_t *db, const char *i, int64_t mint, int64_t maxt) {
    size_t n = 0;
    tu_count(db, "i", i, mint, maxt, &n);
    return n;
}

static void del(tsdb_db_t *db, const char *i, int64_t mint, int64_t maxt) {
    model_matcher_t *ms[] = {tu_m(MODEL_MATCH_EQ, "__name__", "m"), tu_m(MODEL_MATCH_EQ, "i", i)};
    vg_error_t err;
    assert_int_equal(tsdb_db_delete_series(db, ms, 2, mint, maxt, &err), 0);
    model_matcher_free(ms[0]);
    model_matcher_free(ms[1]);
}

static size_t count_entries(const char *dir, const char *needle) {
    DIR *d = opendir(dir);
    size_t n = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) n += strstr(e->d_name, needle) != NULL;
    if (d) closedir(d);
    return n;
}

static void delete_reopen_clean_snapshot(void **state) {
    (void)state;
    char *dir = tu_tmpdir();
    tsdb_db_t *db = setup(dir);
    const size_t per_block = 2 * 60, all = 4 * 60 + 10;
    assert_int_equal(samples(db, "3", INT64_MIN, INT64_MAX), all);
    del(db, "3", INT64_MIN, INT64_MAX);            /* blocks and head */
    del(db, "4", H, 2 * H);                        /* inside the first block: 61 samples */
    del(db, "5", now_ms - 300000, now_ms - 60000); /* in the head only: 5 samples */
    for (int round = 0; round < 2; round++) {    /* before and after a restart */
        assert_int_equal(samples(db, "3", INT64_MIN, INT64_MAX), 0);
        assert_int_equal(samples(db, "4", INT64_MIN, INT64_MAX), all - 61);
        assert_int_equal(samples(db, "4", 0, 2 * H - 1), per_block - 60); /* 2h itself is in the second block */
        assert_int_equal(samples(db, "5", INT64_MIN, INT64_MAX), all - 5);
        assert_int_equal(samples(db, "6", INT64_MIN, INT64_MAX), all);
        db = reopen(db, dir);
    }
    /* clean_tombstones: blocks rewritten, the same answers, no tombstones left */
    vg_error_t err;
    assert_int_equal(tsdb_db_clean_tombstones(db, &err), 0);
    assert_int_equal(samples(db, "3", INT64_MIN, INT64_MAX), 0);
    assert_int_equal(samples(db, "4", INT64_MIN, INT64_MAX), all - 61);
    assert_int_equal(samples(db, "6", INT64_MIN, INT64_MAX), all);
    db = reopen(db, dir);
    assert_int_equal(samples(db, "4", INT64_MIN, INT64_MAX), all - 61);
    assert_int_equal(samples(db, "5", INT64_MIN, INT64_MAX), all - 5);
    tsdb_stats_t st;
    tsdb_db_stats(db, &st);
    assert_int_equal(st.blocks, 2);
    char p[4200];
    DIR *d = opendir(dir);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!tsdb__ulid_valid(e->d_name, strlen(e->d_name))) continue;
        tsdb__stone_t *s;
        size_t n;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        assert_int_equal(tsdb__tombstones_read(p, &s, &n, &err), 0);
        assert_int_equal(n, 0);
        free(s);
    }
    closedir(d);
    /* a snapshot with the head opens as a db with the same answers */
    char name[TSDB_SNAPSHOT_NAME_MAX];
    assert_int_equal(tsdb_db_snapshot(db, true, name, &err), 0);
    assert_int_equal(strlen(name), 16 + 1 + 16);
    snprintf(p, sizeof p, "%s/snapshots/%s", dir, name);
    assert_int_equal(count_entries(p, "tmp"), 0);
    tsdb_options_t o = tu_opts(p);
    tsdb_db_t *snap;
    assert_int_equal(tsdb_db_open(&o, &snap, &err), 0);
    for (int i = 0; i < NSER; i++) {
        char v[8];
        snprintf(v, sizeof v, "%d", i);
        assert_int_equal(samples(snap, v, INT64_MIN, INT64_MAX), samples(db, v, INT64_MIN, INT64_MAX));
    }
    tsdb_db_close(snap);
    /* skip_head: the blocks only */
    assert_int_equal(tsdb_db_snapshot(db, false, name, &err), 0);
    snprintf(p, sizeof p, "%s/snapshots/%s", dir, name);
    o = tu_opts(p);
    assert_int_equal(tsdb_db_open(&o, &snap, &err), 0);
    assert_int_equal(samples(snap, "6", INT64_MIN, INT64_MAX), 4 * 60);
    tsdb_db_close(snap);
    tsdb_db_close(db);
    tu_rmdir(dir);
}

/* Compaction applies what delete_series wrote: a block whose every series has a tombstone is rewritten
 * without the deleted samples (the planner's tombstone rule), and the answers do not change. */
static void compaction_applies_deletions(void **state) {
    (void)state;
    char *dir = tu_tmpdir();
    tsdb_db_t *db = setup_opts(dir, true);
    vg_error_t err;
    char v[8];
    for (int i = 0; i < NSER; i++) { /* one sample per series in the first block */
        snprintf(v, sizeof v, "%d", i);
        del(db, v, 0, 0);
    }
    size_t before[NSER];
    for (int i = 0; i < NSER; i++) {
        snprintf(v, sizeof v, "%d", i);
        before[i] = samples(db, v, INT64_MIN, INT64_MAX);
        assert_int_equal(before[i], 4 * 60 + 10 - 1);
    }
    assert_true(tsdb_db_compact(db, &err) >= 0);
    tsdb_stats_t st;
    tsdb_db_stats(db, &st);
    assert_int_equal(st.compactions_tombstone, 1);
    for (int i = 0; i < NSER; i++) {
        snprintf(v, sizeof v, "%d", i);
        assert_int_equal(samples(db, v, INT64_MIN, INT64_MAX), before[i]);
    }
    db = reopen(db, dir);
    size_t stones = 0;
    char p[4200];
    DIR *d = opendir(dir);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!tsdb__ulid_valid(e->d_name, strlen(e->d_name))) continue;
        tsdb__stone_t *s;
        size_t n;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        assert_int_equal(tsdb__tombstones_read(p, &s, &n, &err), 0);
        stones += n;
        free(s);
    }
    closedir(d);
    assert_int_equal(stones, 0);
    snprintf(v, sizeof v, "%d", 7);
    assert_int_equal(samples(db, v, INT64_MIN, INT64_MAX), before[7]);
    tsdb_db_close(db);
    tu_rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(delete_reopen_clean_snapshot),
                                       cmocka_unit_test(compaction_applies_deletions)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
