/* WAL: replay reproduces the head, checkpoints bound the log and replay the same data, a torn tail at
 * every byte offset of the final records loses exactly the torn commit, bit flips are skipped (or
 * refused with wal_repair off) without crashing, and the record decoder rejects malformed payloads. */
#include "tsdb/tsdb.h"
#include "tsdb/tsdb_int.h"
#include "tsdb_testutil.h"
#include "util/crc32c.h"
#include "util/log.h"

#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <cmocka.h>

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static tsdb_db_t *open_db(const char *path, tsdb_options_t *o) {
    tsdb_options_t def = tu_opts(path);
    if (!o) o = &def;
    o->path = path;
    tsdb_db_t *db;
    vg_error_t err;
    if (tsdb_db_open(o, &db, &err) != 0) fail_msg("open %s: %s", path, err.msg);
    return db;
}

/* Commit c appends sample (t = c*1000, v = c) to series s_<c%7> and s_all. */
static void commit_n(tsdb_db_t *db, int from, int to) {
    storage_appender_t *a;
    vg_error_t err;
    tsdb_db_appender(db, &a, &err);
    for (int c = from; c < to; c++) {
        char sv[16];
        snprintf(sv, sizeof sv, "s_%d", c % 7);
        model_label_t l1[] = {{"__name__", "m"}, {"series", sv}}, l2[] = {{"__name__", "m"}, {"series", "all"}};
        assert_int_equal(storage_append(a, l1, 2, (int64_t)c * 1000, c, NULL, &err), 0);
        assert_int_equal(storage_append(a, l2, 2, (int64_t)c * 1000, c, NULL, &err), 0);
        assert_int_equal(storage_commit(a, &err), 0);
    }
    storage_appender_free(a);
}

static size_t total_samples(tsdb_db_t *db) {
    storage_querier_t *q;
    vg_error_t err;
    tsdb_db_querier(db, INT64_MIN, INT64_MAX, &q, &err);
    model_matcher_t *m = tu_m(MODEL_MATCH_EQ, "__name__", "m");
    storage_series_set_t *ss;
    storage_select(q, true, &m, 1, &ss, &err);
    size_t n = 0;
    storage_iterator_t *it = NULL;
    while (ss->vt->next(ss)) {
        it = ss->vt->iterator(ss, it);
        int64_t prev = INT64_MIN, t;
        double v;
        while (it->vt->next(it) == STORAGE_VAL_FLOAT) {
            it->vt->at(it, &t, &v);
            if (t <= prev || (double)(t / 1000) != v) fail_msg("bad sample t=%lld v=%g", (long long)t, v);
            prev = t;
            n++;
        }
        assert_int_equal(it->vt->err(it), 0);
    }
    model_matcher_free(m);
    storage_querier_close(q);
    return n;
}

static void replay_roundtrip(void **state) {
    (void)state;
    char *d = tu_tmpdir();
    tsdb_db_t *db = open_db(d, NULL);
    commit_n(db, 0, 1000);
    assert_int_equal(total_samples(db), 2000);
    tsdb_db_close(db);
    db = open_db(d, NULL);
    assert_int_equal(total_samples(db), 2000);
    tsdb_stats_t st;
    tsdb_db_stats(db, &st);
    assert_int_equal(st.head_series, 8);
    assert_int_equal(st.replay_samples, 2000);
    assert_int_equal(st.replay_corrupt_records, 0);
    commit_n(db, 1000, 1500);
    tsdb_db_close(db);
    db = open_db(d, NULL);
    assert_int_equal(total_samples(db), 3000);
    /* a second process cannot open the same directory */
    tsdb_options_t o = tu_opts(d);
    tsdb_db_t *db2;
    vg_error_t err;
    assert_int_equal(tsdb_db_open(&o, &db2, &err), VG_EUNAVAIL);
    assert_null(db2);
    tsdb_db_close(db);
    tu_rmdir(d);
}

static size_t count_entries(const char *dir, const char *prefix) {
    DIR *dd = opendir(dir);
    size_t n = 0;
    struct dirent *e;
    while (dd && (e = readdir(dd)))
        if (!strncmp(e->d_name, prefix, strlen(prefix))) n++;
    if (dd) closedir(dd);
    return n;
}

static void checkpoints(void **state) {
    (void)state;
    char *d = tu_tmpdir();
    tsdb_options_t o = tu_opts(d);
    o.wal_segment_bytes = 64 * 1024;
    o.checkpoint_segments = 0; /* explicit only, for determinism */
    tsdb_db_t *db = open_db(d, &o);
    vg_error_t err;
    for (int round = 0; round < 5; round++) {
        commit_n(db, round * 2000, round * 2000 + 2000);
        assert_int_equal(tsdb_db_checkpoint(db, &err), 0);
    }
    commit_n(db, 10000, 10500); /* after the last checkpoint */
    tsdb_stats_t st;
    tsdb_db_stats(db, &st);
    assert_int_equal(st.checkpoints, 5);
    tsdb_db_close(db);
    char w[4096];
    snprintf(w, sizeof w, "%s/wal", d);
    assert_int_equal(count_entries(w, "checkpoint."), 1);
    assert_true(count_entries(w, "0000") <= 3);
    db = open_db(d, &o);
    assert_int_equal(total_samples(db), 21000);
    /* appends continue the resumed open chunks */
    commit_n(db, 10500, 11000);
    assert_int_equal(total_samples(db), 22000);
    assert_int_equal(tsdb_db_checkpoint(db, &err), 0);
    tsdb_db_close(db);
    db = open_db(d, &o);
    assert_int_equal(total_samples(db), 22000);
    tsdb_db_close(db);
    tu_rmdir(d);
}

static void copy_file(const char *from, const char *to, off_t limit) {
    uint8_t *buf;
    size_t len;
    vg_error_t err;
    if (vg_fs_read_file(from, &buf, &len, &err) != 0) fail_msg("%s", err.msg);
    if (limit >= 0 && (size_t)limit < len) len = (size_t)limit;
    int fd = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, buf, len), (ssize_t)len);
    close(fd);
    free(buf);
}

/* Copies <src>/wal/00000001 into a fresh data dir as its only segment, cut at `cut` bytes, with byte
 * `flip` (if >= 0) xor-ed with `mask`. */
static char *clone_wal(const char *seg, off_t cut, long flip, uint8_t mask) {
    char *d = tu_tmpdir();
    char p[4096];
    snprintf(p, sizeof p, "%s/wal", d);
    vg_error_t err;
    vg_fs_mkdir_p(p, &err);
    snprintf(p, sizeof p, "%s/wal/00000001", d);
    copy_file(seg, p, cut);
    if (flip >= 0) {
        int fd = open(p, O_RDWR);
        uint8_t b;
        assert_int_equal(pread(fd, &b, 1, flip), 1);
        b ^= mask;
        assert_int_equal(pwrite(fd, &b, 1, flip), 1);
        close(fd);
    }
    return d;
}

static off_t file_size(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 ? st.st_size : -1;
}

static void torn_tail_every_offset(void **state) {
    (void)state;
    vg_log_set_level(VG_LOG_ERROR); /* one warning per open otherwise */
    char *d = tu_tmpdir();
    tsdb_db_t *db = open_db(d, NULL);
    char seg[4096];
    snprintf(seg, sizeof seg, "%s/wal/00000001", d);
    commit_n(db, 0, 50);
    off_t ends[4];
    ends[0] = file_size(seg);
    for (int i = 1; i <= 3; i++) {
        commit_n(db, 49 + i, 50 + i);
        ends[i] = file_size(seg);
    }
    tsdb_db_close(db);
    /* every cut from the end of commit 49 to the end: the commits completely before the cut survive */
    for (off_t cut = ends[0]; cut <= ends[3]; cut++) {
        size_t want = 100;
        for (int i = 1; i <= 3; i++)
            if (ends[i] <= cut) want += 2;
        char *c = clone_wal(seg, cut, -1, 0);
        db = open_db(c, NULL);
        size_t got = total_samples(db);
        if (got != want) fail_msg("cut at %lld: %zu samples, want %zu", (long long)cut, got, want);
        commit_n(db, 60, 61); /* the repaired log takes new writes */
        tsdb_db_close(db);
        db = open_db(c, NULL);
        assert_int_equal(total_samples(db), want + 2);
        tsdb_db_close(db);
        tu_rmdir(c);
    }
    tu_rmdir(d);
    vg_log_set_level(VG_LOG_INFO);
}

static void bit_flips(void **state) {
    (void)state;
    vg_log_set_level(VG_LOG_OFF);
    char *d = tu_tmpdir();
    tsdb_db_t *db = open_db(d, NULL);
    commit_n(db, 0, 200);
    tsdb_db_close(db);
    char seg[4096];
    snprintf(seg, sizeof seg, "%s/wal/00000001", d);
    off_t size = file_size(seg);
    for (int round = 0; round < 300; round++) {
        long pos = (long)(rnd() % (uint64_t)size);
        uint8_t mask = (uint8_t)(1u << (rnd() % 8));
        char *c = clone_wal(seg, -1, pos, mask);
        tsdb_options_t o = tu_opts(c);
        db = open_db(c, &o);
        size_t got = total_samples(db);
        assert_true(got <= 400);
        tsdb_stats_t st;
        tsdb_db_stats(db, &st);
        if (got < 400) assert_true(st.replay_corrupt_records > 0);
        tsdb_db_close(db);
        /* strict mode: refuse or succeed, never crash */
        o.wal_repair = false;
        tsdb_db_t *db2 = NULL;
        vg_error_t err;
        int rc = tsdb_db_open(&o, &db2, &err);
        assert_true(rc == 0 || rc == VG_ECORRUPT);
        tsdb_db_close(db2);
        tu_rmdir(c);
    }
    tu_rmdir(d);
    vg_log_set_level(VG_LOG_INFO);
}

static int h_series(void *ctx, uint64_t ref, const model_label_t *l, size_t n) {
    (void)ref, (void)l, (void)n;
    ++*(int *)ctx;
    return 0;
}
static int h_sample(void *ctx, uint64_t ref, int64_t t, uint64_t v) {
    (void)ref, (void)t, (void)v;
    ++*(int *)ctx;
    return 0;
}

static void record_decoder_rejects_garbage(void **state) {
    (void)state;
    int calls = 0;
    tsdb__rec_handler_t h = {.ctx = &calls, .series = h_series, .sample = h_sample};
    tsdb__recbuf_t b = {0};
    model_label_t l[] = {{"__name__", "up"}, {"job", "x"}};
    tsdb__rec_begin(&b, TSDB__REC_SERIES);
    tsdb__rec_series(&b, 7, l, 2);
    tsdb__rec_end(&b);
    assert_true(tsdb__rec_frame(b.p, b.len, NULL) == (long)b.len);
    assert_int_equal(tsdb__rec_decode(b.p[0], b.p + TSDB__REC_HDR, b.len - TSDB__REC_HDR, &h, NULL), 0);
    assert_int_equal(calls, 1);
    /* every truncation of the payload is malformed or a shorter valid prefix, never a crash */
    for (size_t cut = 0; cut < b.len - TSDB__REC_HDR; cut++) {
        uint8_t *p = malloc(cut ? cut : 1);
        memcpy(p, b.p + TSDB__REC_HDR, cut);
        tsdb__rec_decode(TSDB__REC_SERIES, p, cut, &h, NULL);
        tsdb__rec_decode(TSDB__REC_SAMPLES, p, cut, &h, NULL);
        tsdb__rec_decode(TSDB__REC_CHUNK, p, cut, &h, NULL);
        tsdb__rec_decode(TSDB__REC_SAMPLES_ZSTD, p, cut, &h, NULL);
        free(p);
        assert_true(tsdb__rec_frame(b.p, TSDB__REC_HDR + cut, NULL) == 0);
    }
    for (int i = 0; i < 20000; i++) {
        size_t len = rnd() % 48;
        uint8_t p[48];
        for (size_t k = 0; k < len; k++) p[k] = (uint8_t)rnd();
        tsdb__rec_decode((uint8_t)(1 + rnd() % 4), p, len, &h, NULL);
        tsdb__rec_frame(p, len, NULL);
    }
    tsdb__recbuf_free(&b);
}

/* One commit larger than a record may be is split over several samples records. */
static void huge_batch(void **state) {
    (void)state;
    char *d = tu_tmpdir();
    tsdb_db_t *db = open_db(d, NULL);
    storage_appender_t *a;
    vg_error_t err;
    tsdb_db_appender(db, &a, &err);
    uint64_t refs[1000] = {0};
    for (int k = 0; k < 150; k++)
        for (int s = 0; s < 1000; s++) {
            char sv[16];
            snprintf(sv, sizeof sv, "%d", s);
            model_label_t l[] = {{"__name__", "m"}, {"series", sv}};
            int rc = refs[s] ? storage_append_ref(a, refs[s], (int64_t)k * 1000, k, &err)
                             : storage_append(a, l, 2, (int64_t)k * 1000, k, &refs[s], &err);
            assert_int_equal(rc, 0);
        }
    assert_int_equal(storage_commit(a, &err), 0);
    storage_appender_free(a);
    assert_int_equal(total_samples(db), 150000);
    tsdb_db_close(db);
    db = open_db(d, NULL);
    assert_int_equal(total_samples(db), 150000);
    tsdb_db_close(db);
    tu_rmdir(d);
}

/* Commit c appends sample (t = c*1000, v = c) to each of n series w_0…w_<n-1> of metric m. */
static void commit_wide(tsdb_db_t *db, int from, int to, int n) {
    storage_appender_t *a;
    vg_error_t err;
    tsdb_db_appender(db, &a, &err);
    for (int c = from; c < to; c++) {
        for (int i = 0; i < n; i++) {
            char sv[16];
            snprintf(sv, sizeof sv, "w_%d", i);
            model_label_t l[] = {{"__name__", "m"}, {"series", sv}};
            assert_int_equal(storage_append(a, l, 2, (int64_t)c * 1000, c, NULL, &err), 0);
        }
        assert_int_equal(storage_commit(a, &err), 0);
    }
    storage_appender_free(a);
}

/* Records of each type in a segment file. */
static void count_types(const char *seg, int counts[5]) {
    uint8_t *buf;
    size_t len;
    vg_error_t err;
    if (vg_fs_read_file(seg, &buf, &len, &err) != 0) fail_msg("%s", err.msg);
    memset(counts, 0, 5 * sizeof *counts);
    for (size_t off = TSDB__SEG_HDR; off < len;) {
        long r = tsdb__rec_frame(buf + off, len - off, NULL);
        assert_true(r > 0);
        counts[buf[off]]++;
        off += (size_t)r;
    }
    free(buf);
}

static void set_version(const char *seg, uint8_t version) {
    int fd = open(seg, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, &version, 1, 4), 1);
    close(fd);
}

/* With wal_compression on, each batch's samples record is written compressed, the log is smaller, replay
 * gives every sample back, a torn compressed record loses exactly its commit, and version 1 segments
 * (written before compression existed) still replay. */
static void compressed_wal(void **state) {
    (void)state;
    vg_log_set_level(VG_LOG_OFF);
    char *on = tu_tmpdir(), *off = tu_tmpdir();
    char seg_on[4096], seg_off[4096];
    snprintf(seg_on, sizeof seg_on, "%s/wal/00000001", on);
    snprintf(seg_off, sizeof seg_off, "%s/wal/00000001", off);
    tsdb_options_t o = tu_opts(on);
    tsdb_db_t *db = open_db(on, &o);
    commit_wide(db, 0, 39, 300);
    off_t end38 = file_size(seg_on);
    commit_wide(db, 39, 40, 300);
    off_t end39 = file_size(seg_on);
    tsdb_db_close(db);
    o = tu_opts(off);
    o.wal_compression = false;
    db = open_db(off, &o);
    commit_wide(db, 0, 40, 300);
    tsdb_db_close(db);

    int n_on[5], n_off[5];
    count_types(seg_on, n_on);
    count_types(seg_off, n_off);
    assert_int_equal(n_on[TSDB__REC_SAMPLES_ZSTD], 40);
    assert_int_equal(n_on[TSDB__REC_SAMPLES], 0);
    assert_int_equal(n_off[TSDB__REC_SAMPLES_ZSTD], 0);
    assert_int_equal(n_off[TSDB__REC_SAMPLES], 40);
    if (!(end39 < file_size(seg_off) * 8 / 10))
        fail_msg("compressed WAL %lld bytes, uncompressed %lld", (long long)end39, (long long)file_size(seg_off));

    db = open_db(on, NULL);
    assert_int_equal(total_samples(db), 12000);
    tsdb_db_close(db);
    /* a cut anywhere in the last (compressed) record loses that commit only */
    for (off_t cut = end38; cut <= end39; cut += 7) {
        char *c = clone_wal(seg_on, cut, -1, 0);
        db = open_db(c, NULL);
        size_t got = total_samples(db), want = cut == end39 ? 12000 : 11700;
        if (got != want) fail_msg("cut at %lld of %lld: %zu samples, want %zu", (long long)cut, (long long)end39, got, want);
        tsdb_db_close(db);
        tu_rmdir(c);
    }
    /* a segment of version 1 reads as before; an unknown version is not misread */
    set_version(seg_off, 1);
    db = open_db(off, NULL);
    assert_int_equal(total_samples(db), 12000);
    tsdb_db_close(db);
    set_version(seg_off, 3);
    o = tu_opts(off);
    o.wal_repair = false;
    tsdb_db_t *bad;
    vg_error_t err;
    assert_int_equal(tsdb_db_open(&o, &bad, &err), VG_ECORRUPT);
    tu_rmdir(on);
    tu_rmdir(off);
    vg_log_set_level(VG_LOG_INFO);
}

/* A compressed samples record decodes to the same samples; a bad length, a truncated frame or
 * trailing bytes are malformed, never a crash. Small records are left as they are. */
static void compressed_record_codec(void **state) {
    (void)state;
    int calls = 0;
    tsdb__rec_handler_t h = {.ctx = &calls, .sample = h_sample};
    tsdb__recbuf_t raw = {0}, z = {0};
    ZSTD_CCtx *zc = ZSTD_createCCtx();
    tsdb__samples_enc_t se;
    tsdb__rec_samples_begin(&raw, &se);
    for (int i = 0; i < 1000; i++) tsdb__rec_sample(&raw, &se, (uint64_t)i + 1, 1000, (uint64_t)(rnd() % 16));
    tsdb__rec_samples_end(&raw, &se);
    tsdb__rec_compress(&raw, &z, zc);
    assert_false(z.failed);
    assert_int_equal(z.p[0], TSDB__REC_SAMPLES_ZSTD);
    assert_true(tsdb__rec_frame(z.p, z.len, NULL) == (long)z.len);
    assert_true(z.len < raw.len / 2);
    const uint8_t *zp = z.p + TSDB__REC_HDR;
    size_t zl = z.len - TSDB__REC_HDR;
    assert_int_equal(tsdb__rec_decode(TSDB__REC_SAMPLES_ZSTD, zp, zl, &h, NULL), 0);
    assert_int_equal(calls, 1000);
    tsdb__rec_scratch_t scratch = {0}; /* with reused state, twice */
    tsdb__rec_handler_t hs = {.ctx = &calls, .scratch = &scratch, .sample = h_sample};
    assert_int_equal(tsdb__rec_decode(TSDB__REC_SAMPLES_ZSTD, zp, zl, &hs, NULL), 0);
    assert_int_equal(tsdb__rec_decode(TSDB__REC_SAMPLES_ZSTD, zp, zl, &hs, NULL), 0);
    assert_int_equal(calls, 3000);
    tsdb__rec_scratch_free(&scratch);
    uint8_t *p = malloc(zl + 1);
    for (size_t cut = 0; cut < zl; cut++) {
        memcpy(p, zp, cut);
        assert_int_not_equal(tsdb__rec_decode(TSDB__REC_SAMPLES_ZSTD, p, cut, &h, NULL), 0);
    }
    memcpy(p, zp, zl);
    p[zl] = 0;
    assert_int_equal(tsdb__rec_decode(TSDB__REC_SAMPLES_ZSTD, p, zl + 1, &h, NULL), VG_ECORRUPT); /* trailing byte */
    p[0] ^= 1; /* the raw length, off by one */
    assert_int_equal(tsdb__rec_decode(TSDB__REC_SAMPLES_ZSTD, p, zl, &h, NULL), VG_ECORRUPT);
    free(p);
    /* a small record stays a plain samples record */
    tsdb__recbuf_reset(&raw);
    tsdb__recbuf_reset(&z);
    tsdb__rec_samples_begin(&raw, &se);
    tsdb__rec_sample(&raw, &se, 1, 5, 42);
    tsdb__rec_samples_end(&raw, &se);
    tsdb__rec_compress(&raw, &z, zc);
    assert_int_equal(z.len, raw.len);
    assert_memory_equal(z.p, raw.p, raw.len);
    tsdb__recbuf_free(&raw);
    tsdb__recbuf_free(&z);
    ZSTD_freeCCtx(zc);
}

/* The exact bytes of each record type (docs/format/wal.md): the encoders must not drift from the
 * documented layout, or WALs written before would not replay. */
static void record_bytes_as_documented(void **state) {
    (void)state;
    tsdb__recbuf_t b = {0};
    tsdb__samples_enc_t se;
    tsdb__rec_samples_begin(&b, &se);
    tsdb__rec_sample(&b, &se, 3, 1000, 0x3ff0000000000000ull);
    tsdb__rec_sample(&b, &se, 5, 1015, 0);
    tsdb__rec_samples_end(&b, &se);
    static const uint8_t samples[] = {0x06, 0xd0, 0x0f, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, /* ref 3, t 1000, 1.0 */
                                      0x04, 0x1e, 0, 0, 0, 0, 0, 0, 0, 0};            /* +2, +15, 0.0 */
    assert_int_equal(b.len, TSDB__REC_HDR + sizeof samples);
    assert_int_equal(b.p[0], TSDB__REC_SAMPLES);
    assert_int_equal(b.p[1] | b.p[2] << 8 | b.p[3] << 16 | (uint32_t)b.p[4] << 24, sizeof samples);
    uint32_t crc = vg_crc32c_update(vg_crc32c_update(0, b.p, 5), samples, sizeof samples);
    assert_int_equal(b.p[5] | b.p[6] << 8 | b.p[7] << 16 | (uint32_t)b.p[8] << 24, crc);
    assert_memory_equal(b.p + TSDB__REC_HDR, samples, sizeof samples);

    tsdb__recbuf_reset(&b);
    model_label_t l[] = {{"a", "bc"}};
    tsdb__rec_begin(&b, TSDB__REC_SERIES);
    tsdb__rec_series(&b, 300, l, 1);
    tsdb__rec_end(&b);
    static const uint8_t series[] = {0xac, 0x02, 0x01, 0x01, 'a', 0x02, 'b', 'c'};
    assert_int_equal(b.len, TSDB__REC_HDR + sizeof series);
    assert_memory_equal(b.p + TSDB__REC_HDR, series, sizeof series);

    tsdb__recbuf_reset(&b);
    static const uint8_t data[] = {9, 8, 7};
    tsdb__rec_chunk(&b, 2, -1, 64, TSDB_ENC_XOR, TSDB__CHUNK_OPEN, data, 3);
    static const uint8_t chunk[] = {0x02, 0x01, 0x80, 0x01, TSDB_ENC_XOR, TSDB__CHUNK_OPEN, 0x03, 9, 8, 7};
    assert_int_equal(b.p[0], TSDB__REC_CHUNK);
    assert_int_equal(b.len, TSDB__REC_HDR + sizeof chunk);
    assert_memory_equal(b.p + TSDB__REC_HDR, chunk, sizeof chunk);
    tsdb__recbuf_free(&b);
}

static void assert_has(const char *msg, const char *part) {
    if (!strstr(msg, part)) fail_msg("error \"%s\" does not mention \"%s\"", msg, part);
}

/* Malformed payloads behind a valid CRC: the decoder names the record type, the field, the byte and
 * what it expected, and points at the check (source line) that failed. */
static void decoder_messages(void **state) {
    (void)state;
    tsdb__rec_handler_t h = {0};
    vg_error_t err;
    /* one valid sample (10 bytes), then a varint cut short */
    const uint8_t trunc[] = {0x02, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x80};
    assert_int_equal(tsdb__rec_decode(TSDB__REC_SAMPLES, trunc, sizeof trunc, &h, &err), VG_ECORRUPT);
    assert_string_equal(err.msg, "samples record: series ref delta: truncated varint at byte 10 of 12");
    assert_int_equal(err.code, VG_ECORRUPT);
    assert_non_null(err.src_file);
    assert_true(strstr(err.src_file, "record.c") != NULL && err.src_line > 0);
    const uint8_t overlong[] = {0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    assert_int_equal(tsdb__rec_decode(TSDB__REC_SAMPLES, overlong, sizeof overlong, &h, &err), VG_ECORRUPT);
    assert_string_equal(err.msg, "samples record: timestamp delta: overlong varint at byte 1 of 12");
    const uint8_t short_value[] = {0x02, 0x02, 1, 2, 3};
    assert_int_equal(tsdb__rec_decode(TSDB__REC_SAMPLES, short_value, sizeof short_value, &h, &err), VG_ECORRUPT);
    assert_string_equal(err.msg, "samples record: value: need 8 bytes, 3 left at byte 2 of 5");
    const uint8_t no_labels[] = {0x07, 0x00};
    assert_int_equal(tsdb__rec_decode(TSDB__REC_SERIES, no_labels, sizeof no_labels, &h, &err), VG_ECORRUPT);
    assert_string_equal(err.msg, "series record: label count 0 out of range (expected 1..1024) at byte 2 of 2");
    const uint8_t bad_enc[] = {0x01, 0x00, 0x02, 7, 0, 0};
    assert_int_equal(tsdb__rec_decode(TSDB__REC_CHUNK, bad_enc, sizeof bad_enc, &h, &err), VG_ECORRUPT);
    assert_string_equal(err.msg, "chunk record: encoding 7 (expected 1 or 2) at byte 3 of 6");
    assert_int_equal(tsdb__rec_decode(9, bad_enc, sizeof bad_enc, &h, &err), VG_ECORRUPT);
    assert_string_equal(err.msg, "unknown record type 9 (expected 1..4)");
    /* frames: bad CRC, unknown type, truncated */
    tsdb__recbuf_t b = {0};
    tsdb__rec_raw(&b, TSDB__REC_SAMPLES, trunc, sizeof trunc);
    b.p[TSDB__REC_HDR + 3] ^= 0x10;
    assert_int_equal(tsdb__rec_frame(b.p, b.len, &err), -1);
    assert_has(err.msg, "samples record (12 bytes): bad CRC32C: stored ");
    assert_int_equal(tsdb__rec_frame(b.p, b.len - 1, &err), 0);
    assert_string_equal(err.msg, "samples record truncated: payload of 12 bytes, 11 left");
    b.p[0] = 42;
    assert_int_equal(tsdb__rec_frame(b.p, b.len, &err), -1);
    assert_string_equal(err.msg, "unknown record type 42 (expected 1..4)");
    tsdb__recbuf_free(&b);
}

static const uint8_t seg_header[TSDB__SEG_HDR] = {'V', 'G', 'W', 'L', 2, 0, 0, 0};

/* Writes <dir>/wal/00000001 from the records in b (after the segment header). */
static void write_segment(const char *dir, const tsdb__recbuf_t *b) {
    char p[4096];
    vg_error_t err;
    snprintf(p, sizeof p, "%s/wal", dir);
    assert_int_equal(vg_fs_mkdir_p(p, &err), 0);
    snprintf(p, sizeof p, "%s/wal/00000001", dir);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, seg_header, sizeof seg_header), (ssize_t)sizeof seg_header);
    assert_int_equal(write(fd, b->p, b->len), (ssize_t)b->len);
    close(fd);
}

/* Opens dir with wal_repair off, expecting VG_ECORRUPT with a message naming the segment, the offset
 * and each of parts; then with repair on, expecting success and a counted corruption. */
static void expect_corrupt(const char *dir, size_t offset, const char *const *parts) {
    tsdb_options_t o = tu_opts(dir);
    o.wal_repair = false;
    tsdb_db_t *db = NULL;
    vg_error_t err;
    assert_int_equal(tsdb_db_open(&o, &db, &err), VG_ECORRUPT);
    assert_null(db);
    assert_int_equal(err.code, VG_ECORRUPT);
    char want[64];
    assert_has(err.msg, "WAL segment ");
    assert_has(err.msg, "/wal/00000001 ");
    snprintf(want, sizeof want, " offset %zu: ", offset);
    assert_has(err.msg, want);
    for (; *parts; parts++) assert_has(err.msg, *parts);
    o.wal_repair = true;
    db = open_db(dir, &o);
    tsdb_stats_t st;
    tsdb_db_stats(db, &st);
    assert_true(st.replay_corrupt_records > 0);
    tsdb_db_close(db);
}

/* Replay errors say which segment, which offset, which record and what was wrong: a bit flip in a
 * record (bad CRC), an unknown record type, a truncated varint behind a valid CRC, a bad header. */
static void replay_corruption_messages(void **state) {
    (void)state;
    vg_log_set_level(VG_LOG_OFF);
    model_label_t l[] = {{"__name__", "m"}, {"series", "x"}};
    tsdb__recbuf_t b = {0};
    tsdb__rec_begin(&b, TSDB__REC_SERIES);
    tsdb__rec_series(&b, 1, l, 2);
    tsdb__rec_end(&b);
    size_t second = TSDB__SEG_HDR + b.len;
    tsdb__samples_enc_t se;
    tsdb__rec_samples_begin(&b, &se);
    tsdb__rec_sample(&b, &se, 1, 1000, 0);
    tsdb__rec_samples_end(&b, &se);
    size_t third = TSDB__SEG_HDR + b.len;
    tsdb__rec_samples_begin(&b, &se);
    tsdb__rec_sample(&b, &se, 1, 2000, 0);
    tsdb__rec_samples_end(&b, &se);

    /* bit flip in the second record's payload */
    char *d = tu_tmpdir();
    b.p[second - TSDB__SEG_HDR + TSDB__REC_HDR + 2] ^= 4;
    write_segment(d, &b);
    expect_corrupt(d, second, (const char *const[]){"samples record (11 bytes): bad CRC32C", "next valid record at offset",
                                                    NULL});
    b.p[second - TSDB__SEG_HDR + TSDB__REC_HDR + 2] ^= 4;
    tu_rmdir(d);

    /* unknown type in the second record */
    d = tu_tmpdir();
    b.p[second - TSDB__SEG_HDR] = 9;
    write_segment(d, &b);
    expect_corrupt(d, second, (const char *const[]){"unknown record type 9", NULL});
    b.p[second - TSDB__SEG_HDR] = TSDB__REC_SAMPLES;
    tu_rmdir(d);

    /* a third record whose CRC is right but whose payload ends inside a varint */
    d = tu_tmpdir();
    b.len = third - TSDB__SEG_HDR;
    const uint8_t trunc[] = {0x02, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0x80};
    tsdb__rec_raw(&b, TSDB__REC_SAMPLES, trunc, sizeof trunc);
    write_segment(d, &b);
    expect_corrupt(d, third,
                   (const char *const[]){"samples record: series ref delta: truncated varint at byte 10 of 11", NULL});
    tu_rmdir(d);

    /* a segment that is not one */
    d = tu_tmpdir();
    write_segment(d, &b);
    char p[4096];
    snprintf(p, sizeof p, "%s/wal/00000001", d);
    int fd = open(p, O_WRONLY);
    assert_int_equal(pwrite(fd, "XGWL", 4, 0), 4);
    close(fd);
    expect_corrupt(d, 0, (const char *const[]){"bad segment header", "found 58 47 57 4c 02 00 00 00", NULL});
    tu_rmdir(d);
    tsdb__recbuf_free(&b);
    vg_log_set_level(VG_LOG_INFO);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(replay_roundtrip), cmocka_unit_test(checkpoints),
                                       cmocka_unit_test(torn_tail_every_offset), cmocka_unit_test(bit_flips),
                                       cmocka_unit_test(record_decoder_rejects_garbage), cmocka_unit_test(huge_batch),
                                       cmocka_unit_test(compressed_wal), cmocka_unit_test(compressed_record_codec),
                                       cmocka_unit_test(record_bytes_as_documented), cmocka_unit_test(decoder_messages),
                                       cmocka_unit_test(replay_corruption_messages)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
