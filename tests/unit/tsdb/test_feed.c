/* The WAL feed (wal_watch.c): a new reader starts at the end but knows every series; it follows
 * segment cuts and delivers every sample exactly once, in order; it survives a checkpoint deleting
 * segments it has read (and forgets series retention removed); it resumes from a saved position across
 * a restart of the database, reports a gap when the position was checkpointed away, and waits out a
 * record that is only partly written. */
#include "tsdb/tsdb.h"
#include "tsdb/tsdb_int.h"
#include "tsdb_testutil.h"
#include "util/log.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

/* What a reader saw. */
typedef struct seen {
    uint64_t refs[4096];
    char names[4096][32];
    uint64_t epoch[4096];
    size_t n_series;
    storage_feed_sample_t *s;
    size_t n, cap;
    uint64_t forgets, forget_epoch;
    size_t gaps;
} seen_t;

static int on_series(void *ctx, uint64_t ref, const model_label_t *l, size_t n, uint64_t epoch) {
    seen_t *sn = ctx;
    const char *name = model_labels_get(l, n, "s");
    for (size_t i = 0; i < sn->n_series; i++)
        if (sn->refs[i] == ref) {
            assert_string_equal(sn->names[i], name ? name : "");
            sn->epoch[i] = epoch;
            return 0;
        }
    assert_true(sn->n_series < 4096);
    sn->refs[sn->n_series] = ref;
    snprintf(sn->names[sn->n_series], 32, "%s", name ? name : "");
    sn->epoch[sn->n_series++] = epoch;
    return 0;
}

static bool known(const seen_t *sn, uint64_t ref) {
    for (size_t i = 0; i < sn->n_series; i++)
        if (sn->refs[i] == ref) return true;
    return false;
}

static int on_samples(void *ctx, const storage_feed_sample_t *s, size_t n) {
    seen_t *sn = ctx;
    for (size_t i = 0; i < n; i++) {
        assert_true(known(sn, s[i].ref)); /* a series comes before its samples */
        if (sn->n == sn->cap) {
            sn->cap = sn->cap ? sn->cap * 2 : 1024;
            sn->s = realloc(sn->s, sn->cap * sizeof *sn->s);
        }
        sn->s[sn->n++] = s[i];
    }
    return 0;
}

static void on_forget(void *ctx, uint64_t epoch) {
    seen_t *sn = ctx;
    sn->forgets++;
    sn->forget_epoch = epoch;
    size_t k = 0;
    for (size_t i = 0; i < sn->n_series; i++)
        if (sn->epoch[i] >= epoch) {
            sn->refs[k] = sn->refs[i];
            memcpy(sn->names[k], sn->names[i], 32);
            sn->epoch[k++] = sn->epoch[i];
        }
    sn->n_series = k;
}

static void on_gap(void *ctx, storage_feed_pos_t from, storage_feed_pos_t to) {
    seen_t *sn = ctx;
    assert_true(to.segment > from.segment);
    sn->gaps++;
}

static storage_feed_handler_t handler(seen_t *sn) {
    return (storage_feed_handler_t){
        .ctx = sn, .series = on_series, .samples = on_samples, .forget = on_forget, .gap = on_gap};
}

static void seen_free(seen_t *sn) { free(sn->s); }

/* Appends one sample to series s=<name> at t (value t). */
static void put(tsdb_db_t *db, const char *name, int64_t t) {
    storage_appender_t *a;
    vg_error_t err;
    assert_int_equal(tsdb_db_appender(db, &a, &err), 0);
    model_label_t l[] = {{"__name__", "m"}, {"s", name}};
    assert_int_equal(storage_append(a, l, 2, t, (double)t, NULL, &err), 0);
    assert_true(storage_commit(a, &err) >= 0);
    storage_appender_free(a);
}

/* Appends n samples to each of n_series series (t = t0 .. t0+n-1), one commit per timestamp. */
static void put_many(tsdb_db_t *db, size_t n_series, int64_t t0, size_t n) {
    storage_appender_t *a;
    vg_error_t err;
    assert_int_equal(tsdb_db_appender(db, &a, &err), 0);
    for (size_t k = 0; k < n; k++) {
        for (size_t i = 0; i < n_series; i++) {
            char nm[32];
            snprintf(nm, sizeof nm, "x%zu", i);
            model_label_t l[] = {{"__name__", "m"}, {"s", nm}};
            assert_int_equal(storage_append(a, l, 2, t0 + (int64_t)k, (double)k, NULL, &err), 0);
        }
        assert_true(storage_commit(a, &err) >= 0);
    }
    storage_appender_free(a);
}

static void drain(storage_feed_t *f, seen_t *sn) {
    storage_feed_handler_t h = handler(sn);
    vg_error_t err;
    int rc;
    while ((rc = storage_feed_next(f, &h, 10000, 0, &err)) > 0) {
    }
    assert_int_equal(rc, 0);
}

static tsdb_db_t *open_small(const char *dir) {
    tsdb_options_t o = tu_opts(dir);
    o.wal_segment_bytes = 64 * 1024;
    o.checkpoint_segments = 0;
    o.wal_compression = false;
    o.max_future_ms = 0;
    tsdb_db_t *db;
    vg_error_t err;
    if (tsdb_db_open(&o, &db, &err)) fail_msg("open: %s", err.msg);
    return db;
}

static void new_reader_starts_at_the_end(void **st) {
    (void)st;
    char *dir = tu_tmpdir();
    tsdb_db_t *db = open_small(dir);
    put(db, "old", 1000);
    put(db, "old", 2000);
    storage_feed_t *f;
    vg_error_t err;
    assert_int_equal(tsdb_db_feed(db, NULL, &f, &err), 0);
    seen_t sn = {0};
    drain(f, &sn);
    assert_int_equal(sn.n, 0);          /* no samples from before */
    assert_int_equal(sn.n_series, 1);   /* but the series is known */
    put(db, "old", 3000);
    put(db, "new", 3000);
    drain(f, &sn);
    assert_int_equal(sn.n, 2);
    assert_int_equal(sn.s[0].t, 3000);
    assert_int_equal(sn.n_series, 2);
    storage_feed_pos_t p;
    storage_feed_position(f, &p);
    assert_true(p.segment >= 1);
    assert_true(p.offset > 8);
    storage_feed_free(f);
    seen_free(&sn);
    tsdb_db_close(db);
    tu_rmdir(dir);
}

static void follows_segment_cuts_and_checkpoints(void **st) {
    (void)st;
    char *dir = tu_tmpdir();
    tsdb_db_t *db = open_small(dir);
    storage_feed_t *f;
    vg_error_t err;
    assert_int_equal(tsdb_db_feed(db, NULL, &f, &err), 0);
    seen_t sn = {0};
    drain(f, &sn);
    /* 50 series x 400 commits of 50 samples: about 20 segments of 64 KiB */
    put_many(db, 50, 1000, 200);
    drain(f, &sn); /* read part way */
    assert_int_equal(sn.n, 50 * 200);
    assert_int_equal(tsdb_db_checkpoint(db, &err), 0); /* deletes every segment read so far */
    put_many(db, 50, 1200, 200);
    drain(f, &sn);
    assert_int_equal(sn.n, 50 * 400);
    assert_int_equal(sn.gaps, 0);
    for (size_t i = 0; i < sn.n; i++) /* commits in order: t = 1000 + i / 50 */
        assert_int_equal(sn.s[i].t, 1000 + (int64_t)(i / 50));
    tsdb_stats_t stt;
    tsdb_db_stats(db, &stt);
    assert_true(stt.checkpoints == 1);
    /* the next segment after the checkpoint makes the feed read its series again and forget others */
    put_many(db, 50, 1400, 10);
    drain(f, &sn);
    assert_true(sn.forgets >= 1);
    assert_int_equal(sn.n_series, 50);
    storage_feed_free(f);
    seen_free(&sn);
    tsdb_db_close(db);
    tu_rmdir(dir);
}

static void resumes_across_restart(void **st) {
    (void)st;
    char *dir = tu_tmpdir();
    tsdb_db_t *db = open_small(dir);
    storage_feed_t *f;
    vg_error_t err;
    assert_int_equal(tsdb_db_feed(db, NULL, &f, &err), 0);
    seen_t sn = {0};
    drain(f, &sn);
    put_many(db, 20, 1000, 100);
    drain(f, &sn);
    assert_int_equal(sn.n, 2000);
    storage_feed_pos_t saved;
    storage_feed_position(f, &saved);
    storage_feed_free(f);
    seen_free(&sn);
    put_many(db, 20, 1100, 100); /* written while no reader runs */
    tsdb_db_close(db);
    db = open_small(dir); /* a new segment, the old ones kept */
    put_many(db, 20, 1200, 50);
    memset(&sn, 0, sizeof sn);
    assert_int_equal(tsdb_db_feed(db, &saved, &f, &err), 0);
    drain(f, &sn);
    assert_int_equal(sn.n_series, 20); /* from the segments before the position */
    assert_int_equal(sn.n, 20 * 150);  /* exactly what came after it */
    assert_int_equal(sn.s[0].t, 1100);
    assert_int_equal(sn.s[sn.n - 1].t, 1249);
    storage_feed_free(f);
    seen_free(&sn);

    /* a position a checkpoint deleted: a gap, then everything after the checkpoint */
    assert_int_equal(tsdb_db_checkpoint(db, &err), 0);
    put_many(db, 20, 1300, 10);
    memset(&sn, 0, sizeof sn);
    assert_int_equal(tsdb_db_feed(db, &saved, &f, &err), 0);
    drain(f, &sn);
    assert_int_equal(sn.gaps, 1);
    assert_int_equal(sn.n_series, 20); /* from the checkpoint */
    assert_int_equal(sn.n, 200);
    storage_feed_free(f);
    seen_free(&sn);
    tsdb_db_close(db);
    tu_rmdir(dir);
}

/* A record written in two parts (as a reader may see a write in progress) is delivered once whole. */
static void partial_record_waits(void **st) {
    (void)st;
    char *dir = tu_tmpdir();
    char wal[4200], seg[4300];
    snprintf(wal, sizeof wal, "%s/wal", dir);
    vg_error_t err;
    assert_int_equal(vg_fs_mkdir_p(wal, &err), 0);
    snprintf(seg, sizeof seg, "%s/00000001", wal);
    int fd = open(seg, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    static const uint8_t hdr[8] = {'V', 'G', 'W', 'L', 2, 0, 0, 0};
    assert_int_equal(write(fd, hdr, 8), 8);
    tsdb__recbuf_t b = {0};
    model_label_t l[] = {{"__name__", "m"}, {"s", "a"}};
    tsdb__rec_begin(&b, TSDB__REC_SERIES);
    tsdb__rec_series(&b, 1, l, 2);
    tsdb__rec_end(&b);
    assert_int_equal(write(fd, b.p, b.len), (ssize_t)b.len);
    /* a reader started on this directory with position (1, 8): knows nothing yet, reads from there */
    storage_feed_t *f;
    storage_feed_pos_t from = {1, 8};
    assert_int_equal(tsdb__feed_new(wal, NULL, &from, &f, &err), 0);
    seen_t sn = {0};
    drain(f, &sn);
    assert_int_equal(sn.n_series, 1);
    tsdb__recbuf_reset(&b);
    tsdb__samples_enc_t se;
    tsdb__rec_samples_begin(&b, &se);
    for (int i = 0; i < 100; i++) tsdb__rec_sample(&b, &se, 1, 1000 + i, 0);
    tsdb__rec_samples_end(&b, &se);
    size_t half = b.len / 2;
    assert_int_equal(write(fd, b.p, half), (ssize_t)half);
    drain(f, &sn);
    assert_int_equal(sn.n, 0); /* not complete: not delivered, not skipped */
    assert_int_equal(write(fd, b.p + half, b.len - half), (ssize_t)(b.len - half));
    drain(f, &sn);
    assert_int_equal(sn.n, 100);
    /* a torn tail in a segment that is final (the next exists) is skipped */
    assert_int_equal(write(fd, b.p, half), (ssize_t)half);
    close(fd);
    snprintf(seg, sizeof seg, "%s/00000002", wal);
    fd = open(seg, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_int_equal(write(fd, hdr, 8), 8);
    assert_int_equal(write(fd, b.p, b.len), (ssize_t)b.len);
    close(fd);
    drain(f, &sn);
    assert_int_equal(sn.n, 200);
    storage_feed_pos_t p;
    storage_feed_position(f, &p);
    assert_int_equal(p.segment, 2);
    assert_int_equal(p.offset, 8 + b.len);
    tsdb__recbuf_free(&b);
    storage_feed_free(f);
    seen_free(&sn);
    tu_rmdir(dir);
}

int main(void) {
    vg_log_set_level(VG_LOG_ERROR);
    const struct CMUnitTest tests[] = {cmocka_unit_test(new_reader_starts_at_the_end),
                                       cmocka_unit_test(follows_segment_cuts_and_checkpoints),
                                       cmocka_unit_test(resumes_across_restart), cmocka_unit_test(partial_record_waits)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
