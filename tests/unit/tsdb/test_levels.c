/* Block compaction and retention: the leveled planner on synthetic metas, compaction of real blocks
 * (same answers through the merge querier, levels/sources/parents, parents removed after the last
 * querier), vertical compaction of overlapping blocks, retention by time and by size (also at open),
 * repair of an interrupted compaction at open, and a corrupt chunk met by a query. */
#include "util/buf.h"
#include "tsdb/block.h"
#include "tsdb/block_int.h"
#include "tsdb/compact.h"
#include "tsdb/tsdb.h"
#include "tsdb_testutil.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define H (INT64_C(3600) * 1000)
#define M (INT64_C(60) * 1000)

/* ---- planner ---- */

static tsdb__block_meta_t meta(int64_t mint, int64_t maxt) {
    tsdb__block_meta_t m;
    memset(&m, 0, sizeof m);
    m.mint = mint, m.maxt = maxt, m.n_series = 100, m.level = 1;
    return m;
}

static tsdb_plan_kind_t plan(tsdb__block_meta_t *v, size_t n, const int64_t *r, size_t nr, size_t *sel, size_t *n_sel) {
    const tsdb__block_meta_t *p[16];
    for (size_t i = 0; i < n; i++) p[i] = &v[i];
    return tsdb__compact_plan(p, n, r, nr, sel, n_sel);
}

static void ranges(void **state) {
    (void)state;
    int64_t r[TSDB_COMPACT_MAX_RANGES];
    size_t n = tsdb__compact_ranges(2 * H, 15 * 24 * H, r); /* cap 1.5 d */
    assert_int_equal(n, 3);
    assert_int_equal(r[0], 2 * H);
    assert_int_equal(r[1], 6 * H);
    assert_int_equal(r[2], 18 * H);
    n = tsdb__compact_ranges(2 * H, 0, r); /* cap 31 d = 744 h: 2, 6, 18, 54, 162, 486 h */
    assert_int_equal(n, 6);
    assert_int_equal(r[5], 486 * H);
    n = tsdb__compact_ranges(M, 5 * M, r); /* cap 30 s: the first range stays alone */
    assert_int_equal(n, 1);
    assert_int_equal(r[0], M);
}

static void planner(void **state) {
    (void)state;
    const int64_t r[] = {2 * H, 6 * H, 18 * H};
    size_t sel[16], ns;
    /* three 2h blocks fill [0, 6h); the newest ([6h, 8h)) waits */
    tsdb__block_meta_t a[] = {meta(0, 2 * H), meta(2 * H, 4 * H), meta(4 * H, 6 * H), meta(6 * H, 8 * H)};
    assert_int_equal(plan(a, 4, r, 3, sel, &ns), TSDB_PLAN_LEVEL);
    assert_int_equal(ns, 3);
    assert_int_equal(sel[0], 0), assert_int_equal(sel[2], 2);
    /* three blocks: the newest waits, and two blocks of a 6h range wait for the third */
    assert_int_equal(plan(a, 3, r, 3, sel, &ns), TSDB_PLAN_NONE);
    assert_int_equal(plan(a, 2, r, 3, sel, &ns), TSDB_PLAN_NONE);
    /* ... unless a newer block (not the newest) starts past their range: the gap will not fill */
    tsdb__block_meta_t b[] = {meta(0, 2 * H), meta(2 * H, 4 * H), meta(6 * H, 8 * H), meta(8 * H, 10 * H)};
    assert_int_equal(plan(b, 4, r, 3, sel, &ns), TSDB_PLAN_LEVEL);
    assert_int_equal(ns, 2);
    assert_int_equal(sel[0], 0), assert_int_equal(sel[1], 1);
    /* one block per 6h range: at 18h, those before the newest of the rest's start */
    tsdb__block_meta_t b2[] = {meta(0, 6 * H), meta(6 * H, 12 * H), meta(12 * H, 18 * H), meta(18 * H, 20 * H)};
    assert_int_equal(plan(b2, 4, r, 3, sel, &ns), TSDB_PLAN_LEVEL);
    assert_int_equal(ns, 3);
    assert_int_equal(plan(b2, 3, r, 3, sel, &ns), TSDB_PLAN_NONE);
    /* blocks not aligned to the larger range are left alone */
    tsdb__block_meta_t c[] = {meta(4 * H, 6 * H), meta(6 * H, 8 * H), meta(8 * H, 10 * H)};
    assert_int_equal(plan(c, 3, r, 3, sel, &ns), TSDB_PLAN_NONE);
    /* overlaps come first, newest included */
    tsdb__block_meta_t d[] = {meta(0, 2 * H), meta(2 * H, 4 * H), meta(4 * H, 6 * H), meta(5 * H, 7 * H), meta(8 * H, 10 * H)};
    assert_int_equal(plan(d, 5, r, 3, sel, &ns), TSDB_PLAN_VERTICAL);
    assert_int_equal(ns, 2);
    assert_int_equal(sel[0], 2), assert_int_equal(sel[1], 3);
    tsdb__block_meta_t e[] = {meta(0, 2 * H), meta(4 * H, 6 * H), meta(5 * H, 8 * H)};
    assert_int_equal(plan(e, 3, r, 3, sel, &ns), TSDB_PLAN_VERTICAL);
    assert_int_equal(sel[0], 1), assert_int_equal(sel[1], 2);
    /* a run of three overlapping blocks, chained */
    tsdb__block_meta_t f[] = {meta(0, 3 * H), meta(2 * H, 5 * H), meta(4 * H, 6 * H), meta(7 * H, 8 * H)};
    assert_int_equal(plan(f, 4, r, 3, sel, &ns), TSDB_PLAN_VERTICAL);
    assert_int_equal(ns, 3);
    /* tombstones: a big block (>= the middle range, 6h) with more than 5% deleted is rewritten */
    tsdb__block_meta_t g[] = {meta(0, 18 * H), meta(18 * H, 20 * H)};
    g[0].n_tombstones = 6; /* 6 / 101 > 5% */
    assert_int_equal(plan(g, 2, r, 3, sel, &ns), TSDB_PLAN_TOMBSTONES);
    assert_int_equal(ns, 1), assert_int_equal(sel[0], 0);
    g[0].n_tombstones = 5; /* 5 / 101 < 5% */
    assert_int_equal(plan(g, 2, r, 3, sel, &ns), TSDB_PLAN_NONE);
    /* a small block only when wholly deleted; the newest never */
    tsdb__block_meta_t h[] = {meta(0, 2 * H), meta(4 * H, 6 * H)};
    h[0].n_tombstones = 50;
    assert_int_equal(plan(h, 2, r, 3, sel, &ns), TSDB_PLAN_NONE);
    h[0].n_tombstones = 100;
    assert_int_equal(plan(h, 2, r, 3, sel, &ns), TSDB_PLAN_TOMBSTONES);
    h[0].n_tombstones = 0, h[1].n_tombstones = 100;
    assert_int_equal(plan(h, 2, r, 3, sel, &ns), TSDB_PLAN_NONE);
}

/* ---- real blocks ---- */

#define NSER 12

static double val(int s, int64_t t) { return (double)(t / 1000) * 10 + s + (s % 3 == 0 ? 0.25 : 0); }

/* Writes a level-1 block [mint, maxt) under dir: series s of metric `name` with a sample every step
 * from mint + off; returns its ULID in out. */
static void mkblock(const char *dir, const char *name, int64_t mint, int64_t maxt, int64_t step, int64_t off,
                    char out[TSDB_ULID_LEN + 1]) {
    tsdb__block_writer_opts_t o = {.mint = mint, .maxt = maxt, .encoding = TSDB_ENC_XOR, .level = 1};
    tsdb__block_writer_t *w;
    vg_error_t err;
    assert_int_equal(tsdb__block_writer_new(dir, &o, &w, &err), 0);
    size_t cap = (size_t)((maxt - mint) / step + 1), n;
    int64_t *t = malloc(cap * sizeof *t);
    double *v = malloc(cap * sizeof *v);
    for (int s = 0; s < NSER; s++) {
        n = 0;
        for (int64_t x = mint + off; x < maxt; x += step) t[n] = x, v[n++] = val(s, x);
        char sv[8];
        snprintf(sv, sizeof sv, "%d", s);
        model_label_t l[] = {{"__name__", name}, {"s", sv}};
        assert_int_equal(tsdb__block_writer_add_samples(w, l, 2, t, v, n, &err), 0);
    }
    free(t);
    free(v);
    tsdb__block_meta_t m;
    if (tsdb__block_writer_commit(w, &m, &err) != 0) fail_msg("commit: %s", err.msg);
    memcpy(out, m.ulid, TSDB_ULID_LEN + 1);
    tsdb__block_meta_free(&m);
}

static tsdb_db_t *lopen(const char *dir, int64_t retention_ms, uint64_t retention_bytes) {
    tsdb_options_t o = tu_opts(dir);
    o.block_duration_ms = M;
    o.retention_ms = retention_ms;
    o.retention_bytes = retention_bytes;
    o.manual_compaction = true;
    o.chunk_file_bytes = 1 << 20;
    tsdb_db_t *db;
    vg_error_t err;
    if (tsdb_db_open(&o, &db, &err) != 0) fail_msg("open %s: %s", dir, err.msg);
    return db;
}

/* Every sample of every series, as text, through the merge querier; fails on an iterator error. */
static char *dump(tsdb_db_t *db, size_t *n_samples) {
    storage_querier_t *q;
    vg_error_t err;
    assert_int_equal(tsdb_db_querier(db, INT64_MIN, INT64_MAX, &q, &err), 0);
    model_matcher_t *m = tu_m(MODEL_MATCH_RE, "__name__", ".+");
    storage_series_set_t *ss;
    assert_int_equal(storage_select(q, true, &m, 1, &ss, &err), 0);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    storage_iterator_t *it = NULL;
    *n_samples = 0;
    while (ss->vt->next(ss)) {
        const model_label_t *l;
        size_t nl;
        ss->vt->labels(ss, &l, &nl);
        char lb[256];
        model_labels_format(l, nl, lb, sizeof lb);
        it = ss->vt->iterator(ss, it);
        int64_t t;
        double v;
        while (it->vt->next(it) == STORAGE_VAL_FLOAT) {
            it->vt->at(it, &t, &v);
            if (len + 400 > cap) buf = realloc(buf, cap *= 2);
            len += (size_t)snprintf(buf + len, cap - len, "%s %lld %.17g\n", lb, (long long)t, v);
            (*n_samples)++;
        }
        if (it->vt->err(it)) fail_msg("iterator error %d", it->vt->err(it));
    }
    buf[len] = 0;
    model_matcher_free(m);
    storage_querier_close(q);
    return buf;
}

static bool exists(const char *dir, const char *name) {
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    struct stat st;
    return stat(p, &st) == 0;
}

static int count_blocks(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) n += strlen(e->d_name) == TSDB_ULID_LEN;
    closedir(d);
    return n;
}

static tsdb__block_t *open_block(const char *dir, const char *ulid) {
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, ulid);
    tsdb__block_t *b;
    vg_error_t err;
    if (tsdb__block_open(p, &b, &err) != 0) fail_msg("open block %s: %s", p, err.msg);
    return b;
}

/* Three 1m blocks and a fourth (newest): the three merge into one level-2 block of the 3m range with
 * the same answers; the parents stay on disk while a querier opened before reads them, and go with it. */
static void level_compaction(void **state) {
    (void)state;
    char *dir = tu_tmpdir();
    char u[4][TSDB_ULID_LEN + 1];
    for (int i = 0; i < 4; i++) mkblock(dir, "lv", i * M, (i + 1) * M, 1000, 0, u[i]);
    tsdb_db_t *db = lopen(dir, 0, 0);
    size_t n0, n1;
    char *before = dump(db, &n0);
    assert_int_equal(n0, 4 * 60 * NSER);
    storage_querier_t *held;
    vg_error_t err;
    assert_int_equal(tsdb_db_querier(db, 0, 10 * M, &held, &err), 0);
    assert_int_equal(tsdb_db_compact(db, &err), 1);
    tsdb_stats_t st;
    tsdb_db_stats(db, &st);
    assert_int_equal(st.blocks, 2);
    assert_int_equal(st.compactions_level, 1);
    assert_int_equal(st.compactions_vertical, 0);
    char *after = dump(db, &n1);
    assert_int_equal(n1, n0);
    assert_string_equal(before, after);
    for (int i = 0; i < 3; i++) assert_true(exists(dir, u[i])); /* the held querier reads them */
    storage_querier_close(held);
    for (int i = 0; i < 3; i++) assert_false(exists(dir, u[i]));
    assert_true(exists(dir, u[3]));
    assert_int_equal(count_blocks(dir), 2);
    /* the new block's meta.json */
    DIR *d = opendir(dir);
    struct dirent *e;
    char child[TSDB_ULID_LEN + 1] = "";
    while ((e = readdir(d)))
        if (strlen(e->d_name) == TSDB_ULID_LEN && strcmp(e->d_name, u[3])) vg_strlcpy(child, e->d_name, sizeof child);
    closedir(d);
    tsdb__block_t *b = open_block(dir, child);
    const tsdb__block_meta_t *m = tsdb__block_meta(b);
    assert_int_equal(m->level, 2);
    assert_int_equal(m->mint, 0);
    assert_int_equal(m->maxt, 3 * M);
    assert_int_equal(m->n_samples, 3 * 60 * NSER);
    assert_int_equal(m->n_series, NSER);
    assert_int_equal(m->n_parents, 3);
    assert_int_equal(m->n_sources, 3);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(m->parents[i], u[i]);
        assert_string_equal(m->sources[i], u[i]); /* sorted: ULIDs made in this order */
    }
    assert_int_equal(tsdb__block_verify(b, &err), 0);
    tsdb__block_unref(b);
    /* nothing more is due; a restart answers the same */
    assert_int_equal(tsdb_db_compact(db, &err), 0);
    tsdb_db_close(db);
    db = lopen(dir, 0, 0);
    char *again = dump(db, &n1);
    assert_string_equal(before, again);
    tsdb_db_close(db);
    free(before);
    free(after);
    free(again);
    tu_rmdir(dir);
}

/* Overlapping blocks: A [0, 2m) and B [1m, 3m) share [1m, 2m) of metric "ov" (same timestamps:
 * duplicates) and B adds samples at +500ms there (distinct); metric "only_b" is in B alone. */
static void vertical_compaction(void **state) {
    (void)state;
    char *dir = tu_tmpdir();
    char a[TSDB_ULID_LEN + 1], b[TSDB_ULID_LEN + 1], c[TSDB_ULID_LEN + 1], x[TSDB_ULID_LEN + 1];
    mkblock(dir, "ov", 0, 2 * M, 1000, 0, a);
    mkblock(dir, "ov", M, 3 * M, 1000, 0, b);
    mkblock(dir, "ov", M, 2 * M, 1000, 500, c); /* overlaps both: distinct timestamps */
    mkblock(dir, "only_c", 2 * M, 3 * M, 1000, 0, x);
    tsdb_db_t *db = lopen(dir, 0, 0);
    size_t n0, n1;
    char *before = dump(db, &n0);
    /* ov: 0..3m every second, plus 60 half-second samples in [1m, 2m); only_c: 60 */
    assert_int_equal(n0, (size_t)NSER * (180 + 60 + 60));
    vg_error_t err;
    assert_true(tsdb_db_compact(db, &err) >= 1);
    tsdb_stats_t st;
    tsdb_db_stats(db, &st);
    assert_int_equal(st.compactions_vertical, 1);
    assert_int_equal(st.blocks, 1);
    char *after = dump(db, &n1);
    assert_int_equal(n1, n0);
    assert_string_equal(before, after);
    tsdb_db_close(db);
    assert_int_equal(count_blocks(dir), 1);
    DIR *d = opendir(dir);
    struct dirent *e;
    char child[TSDB_ULID_LEN + 1] = "";
    while ((e = readdir(d)))
        if (strlen(e->d_name) == TSDB_ULID_LEN) vg_strlcpy(child, e->d_name, sizeof child);
    closedir(d);
    tsdb__block_t *blk = open_block(dir, child);
    const tsdb__block_meta_t *m = tsdb__block_meta(blk);
    assert_int_equal(m->n_samples, n0); /* the duplicates were dropped, not written twice */
    assert_int_equal(m->n_parents, 4);
    assert_int_equal(m->level, 2);
    assert_int_equal(m->mint, 0);
    assert_int_equal(m->maxt, 3 * M);
    tsdb__block_unref(blk);
    free(before);
    free(after);
    tu_rmdir(dir);
}

/* Ten 1m blocks; retention 3m: at open, the blocks whose max time is more than 3m before the newest
 * block's (10m) go: exactly [0, 6m). */
static void retention_by_time_at_open(void **state) {
    (void)state;
    char *dir = tu_tmpdir();
    char u[10][TSDB_ULID_LEN + 1];
    for (int i = 0; i < 10; i++) mkblock(dir, "rt", i * M, (i + 1) * M, 5000, 0, u[i]);
    tsdb_db_t *db = lopen(dir, 3 * M, 0);
    tsdb_stats_t st;
    tsdb_db_stats(db, &st);
    assert_int_equal(st.blocks, 4);
    assert_int_equal(st.time_retentions, 1);
    assert_int_equal(st.blocks_retained_away, 6);
    assert_int_equal(st.blocks_mint, 6 * M);
    for (int i = 0; i < 10; i++) assert_int_equal(exists(dir, u[i]), i >= 6);
    size_t n;
    free(dump(db, &n));
    assert_int_equal(n, (size_t)4 * 12 * NSER);
    /* ranges are {1m} with this retention (cap 18 s): nothing to compact, and retention is stable */
    vg_error_t err;
    assert_int_equal(tsdb_db_compact(db, &err), 0);
    tsdb_db_stats(db, &st);
    assert_int_equal(st.blocks, 4);
    assert_int_equal(st.time_retentions, 1);
    tsdb_db_close(db);
    tu_rmdir(dir);
}

/* Size retention: the limit holds the WAL, the head chunk files and the three newest blocks but not
 * a fourth: the seven older blocks go, and only they. */
static void retention_by_size(void **state) {
    (void)state;
    char *dir = tu_tmpdir();
    char u[10][TSDB_ULID_LEN + 1];
    for (int i = 0; i < 10; i++) mkblock(dir, "rs", i * M, (i + 1) * M, 5000, 0, u[i]);
    tsdb_db_t *db = lopen(dir, 0, 0);
    tsdb_stats_t st;
    tsdb_db_stats(db, &st);
    assert_int_equal(st.blocks, 10);
    uint64_t per_block = st.block_bytes / 10, head = st.storage_bytes - st.block_bytes;
    tsdb_db_close(db);
    db = lopen(dir, 0, head + 3 * per_block + per_block / 2);
    tsdb_db_stats(db, &st);
    assert_int_equal(st.blocks, 3);
    assert_int_equal(st.size_retentions, 1);
    assert_int_equal(st.time_retentions, 0);
    for (int i = 0; i < 10; i++) assert_int_equal(exists(dir, u[i]), i >= 7);
    assert_true(st.storage_bytes <= head + 3 * per_block + per_block / 2);
    tsdb_db_close(db);
    tu_rmdir(dir);
}

/* A crash after the compacted block's rename and before its parents went: at open the parents are
 * deleted (an unreadable one too, not set aside), and every sample reads once. */
static void interrupted_compaction_repaired_at_open(void **state) {
    (void)state;
    char *dir = tu_tmpdir(), *saved = tu_tmpdir();
    char u[4][TSDB_ULID_LEN + 1], cmd[9000];
    for (int i = 0; i < 4; i++) mkblock(dir, "ic", i * M, (i + 1) * M, 1000, 0, u[i]);
    for (int i = 0; i < 3; i++) {
        snprintf(cmd, sizeof cmd, "cp -r %s/%s %s/", dir, u[i], saved);
        assert_int_equal(system(cmd), 0);
    }
    tsdb_db_t *db = lopen(dir, 0, 0);
    size_t n0, n1;
    char *before = dump(db, &n0);
    vg_error_t err;
    assert_int_equal(tsdb_db_compact(db, &err), 1);
    tsdb_db_close(db);
    assert_int_equal(count_blocks(dir), 2);
    snprintf(cmd, sizeof cmd, "cp -r %s/* %s/ && rm %s/%s/index", saved, dir, dir, u[1]);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(count_blocks(dir), 5);
    db = lopen(dir, 0, 0);
    tsdb_stats_t st;
    tsdb_db_stats(db, &st);
    assert_int_equal(st.blocks, 2);
    assert_int_equal(st.parents_removed_at_open, 3);
    assert_int_equal(st.blocks_corrupt, 0);
    char *after = dump(db, &n1);
    assert_string_equal(before, after);
    tsdb_db_close(db);
    assert_int_equal(count_blocks(dir), 2);
    snprintf(cmd, sizeof cmd, "ls %s | grep -c -e corrupt -e tmp-for >/dev/null", dir);
    assert_int_not_equal(system(cmd), 0); /* no leftovers */
    free(before);
    free(after);
    tu_rmdir(saved);
    tu_rmdir(dir);
}

/* A chunk whose bytes were damaged after open: the query fails with VG_ECORRUPT and a message naming
 * the block; it is counted. */
static void corrupt_chunk_at_query(void **state) {
    (void)state;
    char *dir = tu_tmpdir();
    char u[TSDB_ULID_LEN + 1];
    mkblock(dir, "cc", 0, M, 1000, 0, u);
    char p[4200];
    snprintf(p, sizeof p, "%s/%s/chunks/000001", dir, u);
    FILE *f = fopen(p, "r+b");
    assert_non_null(f);
    fseek(f, 40, SEEK_SET); /* inside the first chunk's data */
    int ch = fgetc(f);
    fseek(f, 40, SEEK_SET);
    fputc(ch ^ 0x5a, f);
    fclose(f);
    tsdb_db_t *db = lopen(dir, 0, 0);
    storage_querier_t *q;
    vg_error_t err;
    assert_int_equal(tsdb_db_querier(db, INT64_MIN, INT64_MAX, &q, &err), 0);
    model_matcher_t *m = tu_m(MODEL_MATCH_EQ, "__name__", "cc");
    storage_series_set_t *ss;
    assert_int_equal(storage_select(q, true, &m, 1, &ss, &err), 0);
    storage_iterator_t *it = NULL;
    int bad = 0;
    while (ss->vt->next(ss)) {
        it = ss->vt->iterator(ss, it);
        while (it->vt->next(it) == STORAGE_VAL_FLOAT) {
        }
        if (it->vt->err(it)) {
            assert_int_equal(it->vt->err(it), VG_ECORRUPT);
            const char *msg = storage_iterator_err_msg(it);
            assert_non_null(msg);
            assert_non_null(strstr(msg, u));
            assert_non_null(strstr(msg, "checksum"));
            bad++;
        }
    }
    assert_int_equal(bad, 1);
    model_matcher_free(m);
    storage_querier_close(q);
    tsdb_stats_t st;
    tsdb_db_stats(db, &st);
    assert_int_equal(st.chunk_read_errors, 1);
    tsdb_db_close(db);
    tu_rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ranges),
        cmocka_unit_test(planner),
        cmocka_unit_test(level_compaction),
        cmocka_unit_test(vertical_compaction),
        cmocka_unit_test(retention_by_time_at_open),
        cmocka_unit_test(retention_by_size),
        cmocka_unit_test(interrupted_compaction_repaired_at_open),
        cmocka_unit_test(corrupt_chunk_at_query),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
