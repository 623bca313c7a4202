/* Fault injection into the WAL writer: for every N up to the point where the operation succeeds, the
 * Nth instrumented allocation or the Nth write (util/fault.h) fails — writes either with ENOSPC or
 * short (half the bytes, then ENOSPC: a disk filling up) — during a commit that creates series, a
 * commit without compression, a commit that cuts a segment, and a checkpoint; allocations also during
 * replay. Each time the operation must end in a clean error value (no crash; ASan/LSan watch for the
 * rest), and the data must hold:
 *   - every commit that returned success is there, live and after reopening;
 *   - a commit that returned an error is absent, live and after reopening: no sample of it is visible
 *     (the WAL writer truncates a partial write away, and the head is only touched after the WAL write
 *     succeeded). Its new series may survive without samples if their series record was written.
 *     (Not exercised here: an fsync failure under fsync=always comes after the records are written;
 *     such a commit returns an error yet is present.)
 *   - replay finds nothing corrupt or torn to skip;
 *   - afterwards the same database takes appends, and so does the reopened one.
 * Even N reopen before appending again, odd N append first: both orders must work. */
#include "tsdb/tsdb.h"
#include "util/fault.h"
#include "util/fs.h"
#include "util/log.h"
#include "../unit/tsdb/tsdb_testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define MAX_BATCHES 256
#define MAX_N 2000 /* a failure point count above this means the operation never succeeds */

typedef struct scenario {
    const char *name;
    int series;       /* series per batch besides the one new series each batch creates */
    bool compression; /* storage.wal_compression */
    bool fill;        /* fill the first segment so the operation's commit cuts the next one */
    bool checkpoint;  /* the operation is a checkpoint (after a commit) rather than a commit */
} scenario_t;

static tsdb_options_t opts(const char *dir, const scenario_t *sc) {
    tsdb_options_t o = tu_opts(dir);
    o.fsync = TSDB_FSYNC_NEVER;
    o.checkpoint_segments = 0; /* checkpoints only when the test asks */
    o.wal_segment_bytes = 64 * 1024;
    o.wal_compression = sc->compression;
    o.chunk_file_bytes = 1 << 20;
    return o;
}

/* Batch k: t = k * 1000 and value k on series f{s="0".."series-1"} and on a new series f{new="k"}.
 * Returns the commit's result; on an append failure the batch is rolled back and that error returned. */
static int commit_batch(tsdb_db_t *db, const scenario_t *sc, int k, vg_error_t *err) {
    storage_appender_t *a;
    int rc = tsdb_db_appender(db, &a, err);
    if (rc) return rc;
    char v[16];
    for (int s = 0; s <= sc->series && rc == 0; s++) {
        snprintf(v, sizeof v, "%d", s < sc->series ? s : k);
        model_label_t l[] = {{"__name__", "f"}, {s < sc->series ? "s" : "new", v}};
        rc = storage_append(a, l, 2, (int64_t)k * 1000, k, NULL, err);
    }
    if (rc == 0) rc = storage_commit(a, err);
    else storage_rollback(a);
    storage_appender_free(a);
    return rc;
}

/* Samples per batch number; fails on a value that does not match its timestamp. */
static void count_batches(tsdb_db_t *db, int counts[MAX_BATCHES]) {
    memset(counts, 0, MAX_BATCHES * sizeof *counts);
    storage_querier_t *q;
    vg_error_t err;
    assert_int_equal(tsdb_db_querier(db, INT64_MIN, INT64_MAX, &q, &err), 0);
    model_matcher_t *m;
    assert_int_equal(model_matcher_new(MODEL_MATCH_EQ, "__name__", "f", &m, &err), 0);
    storage_series_set_t *ss;
    assert_int_equal(storage_select(q, true, &m, 1, &ss, &err), 0);
    storage_iterator_t *it = NULL;
    while (ss->vt->next(ss)) {
        it = ss->vt->iterator(ss, it);
        int64_t t;
        double v;
        while (it->vt->next(it) == STORAGE_VAL_FLOAT) {
            it->vt->at(it, &t, &v);
            int k = (int)(t / 1000);
            if (t % 1000 || k < 0 || k >= MAX_BATCHES || v != (double)k)
                fail_msg("sample t=%lld v=%g belongs to no batch", (long long)t, v);
            counts[k]++;
        }
        assert_int_equal(it->vt->err(it), 0);
    }
    model_matcher_free(m);
    storage_querier_close(q);
}

/* Batches [0, n): ok[k] says whether batch k must be there in full, otherwise absent. */
static void verify(tsdb_db_t *db, const scenario_t *sc, const bool *ok, int n, const char *when, long fault) {
    int counts[MAX_BATCHES];
    count_batches(db, counts);
    for (int k = 0; k < MAX_BATCHES; k++) {
        int want = k < n && ok[k] ? sc->series + 1 : 0;
        if (counts[k] != want)
            fail_msg("%s, fault %ld, %s: batch %d has %d samples, want %d", sc->name, fault, when, k, counts[k], want);
    }
}

static tsdb_db_t *open_db(const char *dir, const scenario_t *sc) {
    tsdb_options_t o = opts(dir, sc);
    tsdb_db_t *db;
    vg_error_t err;
    if (tsdb_db_open(&o, &db, &err) != 0) fail_msg("%s: reopen: %s", sc->name, err.msg);
    tsdb_stats_t st;
    tsdb_db_stats(db, &st);
    if (st.replay_corrupt_records) /* a failure must leave nothing for replay to skip or cut off */
        fail_msg("%s: replay found %llu corrupt or torn records", sc->name, (unsigned long long)st.replay_corrupt_records);
    return db;
}

/* Batches that fit in the first segment (the sizes are deterministic without compression). */
static int batches_before_cut(const scenario_t *sc) {
    char tmpl[] = "/tmp/vigil-walfault-XXXXXX";
    char *dir = mkdtemp(tmpl);
    assert_non_null(dir);
    tsdb_db_t *db = open_db(dir, sc);
    vg_error_t err;
    tsdb_stats_t st;
    int k = 0;
    for (;; k++) {
        assert_true(k < MAX_BATCHES - 8);
        assert_int_equal(commit_batch(db, sc, k, &err), 0);
        tsdb_db_stats(db, &st);
        if (st.wal_segments > 1) break;
    }
    tsdb_db_close(db);
    vg_fs_remove_all(dir, &err);
    return k;
}

static void clean_error(const scenario_t *sc, long n, int rc, const vg_error_t *err) {
    if (rc != VG_ENOMEM && rc != VG_EIO) fail_msg("%s, fault %ld: unexpected result %d (%s)", sc->name, n, rc, err->msg);
    if (err->code != rc || !err->msg[0]) fail_msg("%s, fault %ld: error %d without its description", sc->name, n, rc);
}

typedef enum { FAULT_ALLOC, FAULT_WRITE_ENOSPC, FAULT_WRITE_SHORT } fault_t;

static void arm(fault_t f, long n) {
    if (f == FAULT_ALLOC) vg_fault_arm_alloc(n);
    else vg_fault_arm_write(n, f == FAULT_WRITE_SHORT ? VG_FAULT_WRITE_SHORT : VG_FAULT_WRITE_ENOSPC);
}

/* Runs the scenario's operation with the Nth allocation/write failing, for N = 1, 2, ... until an
 * attempt completes without reaching the fault. Returns the number of failure points. */
static long walk(const scenario_t *sc, fault_t f) {
    long n;
    for (n = 1; n <= MAX_N; n++) {
        char tmpl[] = "/tmp/vigil-walfault-XXXXXX";
        char *dir = mkdtemp(tmpl);
        assert_non_null(dir);
        tsdb_db_t *db = open_db(dir, sc);
        bool ok[MAX_BATCHES] = {0};
        int k = 0;
        vg_error_t err;
        /* setup, without faults: one batch, or as many as leave the first segment just too full for
         * the next */
        int setup = sc->fill ? batches_before_cut(sc) : 1;
        for (; k < setup; k++) {
            assert_int_equal(commit_batch(db, sc, k, &err), 0);
            ok[k] = true;
        }
        tsdb_stats_t st;
        tsdb_db_stats(db, &st);
        uint64_t segs = st.wal_segments;

        arm(f, n);
        int rc = sc->checkpoint ? tsdb_db_checkpoint(db, &err) : commit_batch(db, sc, k, &err);
        bool fired = vg_fault_fired();
        vg_fault_disarm();
        if (rc != 0) clean_error(sc, n, rc, &err);
        else if (!sc->checkpoint) ok[k] = true;
        if (!sc->checkpoint) k++;
        if (!fired) {
            if (rc != 0) fail_msg("%s, fault %ld: error %d without a fault (%s)", sc->name, n, rc, err.msg);
            tsdb_db_stats(db, &st);
            if (sc->fill && st.wal_segments <= segs) fail_msg("%s: the operation did not cut a segment", sc->name);
            if (sc->checkpoint && st.checkpoints != 1) fail_msg("%s: no checkpoint written", sc->name);
        }
        verify(db, sc, ok, k, "live", n);

        for (int round = 0; round < 2; round++) {
            if ((round == 0) == (n % 2 == 0)) { /* reopen */
                tsdb_db_close(db);
                db = open_db(dir, sc);
                verify(db, sc, ok, k, "after reopening", n);
            } else { /* append again */
                rc = commit_batch(db, sc, k, &err);
                if (rc != 0) fail_msg("%s, fault %ld: append after the failure: %s", sc->name, n, err.msg);
                ok[k++] = true;
                verify(db, sc, ok, k, "appending after the failure", n);
            }
        }
        if (sc->checkpoint) { /* and a checkpoint now succeeds */
            if (tsdb_db_checkpoint(db, &err) != 0) fail_msg("%s, fault %ld: checkpoint again: %s", sc->name, n, err.msg);
        }
        tsdb_db_close(db);
        db = open_db(dir, sc);
        verify(db, sc, ok, k, "at the end", n);
        tsdb_db_close(db);
        vg_error_t e2;
        vg_fs_remove_all(dir, &e2);
        if (!fired) break;
    }
    if (n > MAX_N) fail_msg("%s: still failing after %d faults", sc->name, MAX_N);
    return n - 1;
}

static const scenario_t scenarios[] = {
    {.name = "commit with new series", .series = 8, .compression = true},
    {.name = "commit without compression", .series = 8, .compression = false},
    {.name = "commit that cuts a segment", .series = 300, .compression = false, .fill = true},
    {.name = "checkpoint", .series = 8, .compression = true, .checkpoint = true},
};

static void run(fault_t f, const char *what) {
    vg_log_set_level(VG_LOG_OFF); /* every fault logs */
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
        long points = walk(&scenarios[i], f);
        print_message("# %s: %s: %ld failure points\n", scenarios[i].name, what, points);
        assert_true(points > 0); /* the hooks reach the operation */
    }
    vg_log_set_level(VG_LOG_INFO);
}

static void alloc_faults(void **state) {
    (void)state;
    run(FAULT_ALLOC, "allocation");
}

static void write_faults(void **state) {
    (void)state;
    run(FAULT_WRITE_ENOSPC, "write (ENOSPC)");
}

static void short_writes(void **state) {
    (void)state;
    run(FAULT_WRITE_SHORT, "short write");
}

/* Replay (record decoding, the WAL's own state) with the Nth allocation failing: open fails cleanly
 * with VG_ENOMEM and no object, and the next open replays everything. */
static void replay_alloc_faults(void **state) {
    (void)state;
    vg_log_set_level(VG_LOG_OFF);
    const scenario_t sc = {.name = "replay", .series = 8, .compression = true};
    char tmpl[] = "/tmp/vigil-walfault-XXXXXX";
    char *dir = mkdtemp(tmpl);
    assert_non_null(dir);
    tsdb_db_t *db = open_db(dir, &sc);
    bool ok[MAX_BATCHES] = {0};
    vg_error_t err;
    int k = 0;
    for (; k < 10; k++) ok[k] = commit_batch(db, &sc, k, &err) == 0;
    assert_int_equal(tsdb_db_checkpoint(db, &err), 0); /* chunk records in a checkpoint, then segments */
    for (; k < 20; k++) ok[k] = commit_batch(db, &sc, k, &err) == 0;
    tsdb_db_close(db);
    long n;
    for (n = 1; n <= MAX_N; n++) {
        tsdb_options_t o = opts(dir, &sc);
        vg_fault_arm_alloc(n);
        int rc = tsdb_db_open(&o, &db, &err);
        bool fired = vg_fault_fired();
        vg_fault_disarm();
        if (rc != 0) {
            clean_error(&sc, n, rc, &err);
            assert_null(db);
            assert_true(fired);
        } else {
            verify(db, &sc, ok, k, "replayed under a fault", n); /* a failed compression context: no loss */
            tsdb_db_close(db);
        }
        db = open_db(dir, &sc);
        verify(db, &sc, ok, k, "replayed after a failed open", n);
        tsdb_db_close(db);
        if (!fired) break;
    }
    assert_true(n > 1 && n <= MAX_N);
    print_message("# replay: allocation: %ld failure points\n", n - 1);
    vg_error_t e2;
    vg_fs_remove_all(dir, &e2);
    vg_log_set_level(VG_LOG_INFO);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(alloc_faults), cmocka_unit_test(write_faults),
                                       cmocka_unit_test(short_writes), cmocka_unit_test(replay_alloc_faults)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
