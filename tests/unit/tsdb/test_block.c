/* Persistent blocks: writer -> reader round trips checked against a brute-force model of the same
 * series (matchers applied label by label, samples filtered by time), in both chunk encodings;
 * tombstones; corrupt and truncated files give VG_ECORRUPT/VG_EIO, never a crash; deferred deletion. */
#include "tsdb/block_int.h"
#include "util/crc32c.h"
#include "util/fs.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <dirent.h>

#include "tsdb_testutil.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static uint64_t f2u(double d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}
static double u2f(uint64_t u) {
    double d;
    memcpy(&d, &u, 8);
    return d;
}

/* The model: series with their labels and samples, kept independently of the block. */
#define NS 240
typedef struct mseries {
    model_label_t l[4];
    size_t nl;
    char buf[4][24];
    int64_t *t;
    double *v;
    size_t n;
} mseries_t;

static mseries_t *model_new(bool decimals) {
    mseries_t *m = calloc(NS, sizeof *m);
    for (size_t i = 0; i < NS; i++) {
        mseries_t *s = &m[i];
        snprintf(s->buf[0], sizeof s->buf[0], "metric_%zu", i % 5);
        snprintf(s->buf[1], sizeof s->buf[1], "host-%03zu", i / 5);
        snprintf(s->buf[2], sizeof s->buf[2], "%s", i % 3 == 0 ? "prod" : "dev");
        snprintf(s->buf[3], sizeof s->buf[3], "v%zu", i % 7);
        s->l[s->nl++] = (model_label_t){"__name__", s->buf[0]};
        if (i % 11 != 0) s->l[s->nl++] = (model_label_t){"env", s->buf[2]}; /* some lack env */
        s->l[s->nl++] = (model_label_t){"instance", s->buf[1]};
        if (i % 4 == 0) s->l[s->nl++] = (model_label_t){"zone", s->buf[3]};
        s->n = 1 + rnd() % 400; /* several chunk boundaries, and single-sample series */
        s->t = malloc(s->n * sizeof *s->t);
        s->v = malloc(s->n * sizeof *s->v);
        int64_t t = 1000000 + (int64_t)(rnd() % 5000);
        for (size_t k = 0; k < s->n; k++) {
            t += 15000 + (int64_t)(rnd() % 3 == 0 ? rnd() % 200 : 0);
            s->t[k] = t;
            if (decimals) s->v[k] = (double)(int64_t)(rnd() % 100000) / 100.0;
            else if (k % 50 == 7) s->v[k] = u2f(TSDB_STALE_NAN_BITS);
            else if (k % 50 == 9) s->v[k] = NAN;
            else if (k % 50 == 11) s->v[k] = -0.0;
            else s->v[k] = u2f(rnd() & 0x7fefffffffffffffull);
        }
    }
    return m;
}

static void model_free(mseries_t *m) {
    for (size_t i = 0; i < NS; i++) free(m[i].t), free(m[i].v);
    free(m);
}

/* Writes the model into a block under dir; half the series as samples, half as XOR chunks. */
static void write_block(const char *dir, mseries_t *m, uint8_t enc, tsdb__block_meta_t *meta) {
    tsdb__block_writer_opts_t o = {.mint = 0, .maxt = INT64_MAX / 2, .encoding = enc, .level = 1};
    tsdb__block_writer_t *w;
    vg_error_t err;
    assert_int_equal(tsdb__block_writer_new(dir, &o, &w, &err), 0);
    for (size_t j = 0; j < NS; j++) {
        size_t i = (j * 97) % NS; /* any order */
        mseries_t *s = &m[i];
        if (i % 2) {
            assert_int_equal(tsdb__block_writer_add_samples(w, s->l, s->nl, s->t, s->v, s->n, &err), 0);
            continue;
        }
        /* chunks of 100 samples, not the writer's 120: boundaries come from the caller */
        size_t nc = (s->n + 99) / 100;
        tsdb__chunk_in_t *c = calloc(nc, sizeof *c);
        tsdb_xor_enc_t *e = calloc(nc, sizeof *e);
        for (size_t k = 0; k < nc; k++) {
            tsdb_xor_enc_init(&e[k]);
            size_t a = k * 100, b = a + 100 < s->n ? a + 100 : s->n;
            for (size_t x = a; x < b; x++) assert_int_equal(tsdb_xor_enc_append(&e[k], s->t[x], s->v[x]), 0);
            c[k] = (tsdb__chunk_in_t){s->t[a], s->t[b - 1], TSDB_ENC_XOR, e[k].buf, (uint32_t)tsdb_xor_enc_len(&e[k])};
        }
        assert_int_equal(tsdb__block_writer_add_chunks(w, s->l, s->nl, c, nc, &err), 0);
        for (size_t k = 0; k < nc; k++) tsdb_xor_enc_deinit(&e[k]);
        free(c);
        free(e);
    }
    assert_int_equal(tsdb__block_writer_commit(w, meta, &err), 0);
}

static int cmp_model(const void *a, const void *b) {
    const mseries_t *x = *(mseries_t *const *)a, *y = *(mseries_t *const *)b;
    return model_labels_cmp(x->l, x->nl, y->l, y->nl);
}

/* Checks a select against the brute-force answer over the model: every matching series with a sample
 * in [mint, maxt] comes, in label order, with exactly its samples in range; a matching series whose
 * samples straddle the range without one inside may come too (chunks are selected by their time
 * range, as Prometheus does), with no samples. */
static void check_select(storage_querier_t *q, mseries_t *m, model_matcher_t *const *ms, size_t nm, int64_t mint,
                         int64_t maxt) {
    mseries_t *want[NS];
    size_t nw = 0, n_must = 0;
    for (size_t i = 0; i < NS; i++) {
        bool ok = true;
        for (size_t j = 0; j < nm && ok; j++) ok = model_matcher_match(ms[j], model_labels_get(m[i].l, m[i].nl, model_matcher_name(ms[j]))) == 1;
        if (ok && m[i].t[0] <= maxt && m[i].t[m[i].n - 1] >= mint) want[nw++] = &m[i];
    }
    qsort(want, nw, sizeof *want, cmp_model);
    storage_series_set_t *ss;
    vg_error_t err;
    assert_int_equal(storage_select(q, true, ms, nm, &ss, &err), 0);
    size_t w = 0, got_must = 0;
    storage_iterator_t *it = NULL;
    for (size_t i = 0; i < nw; i++) {
        bool must = false;
        for (size_t k = 0; k < want[i]->n && !must; k++) must = want[i]->t[k] >= mint && want[i]->t[k] <= maxt;
        n_must += must;
    }
    while (ss->vt->next(ss)) {
        const model_label_t *l;
        size_t nl;
        ss->vt->labels(ss, &l, &nl);
        for (;; w++) {
            assert_true(w < nw);
            if (model_labels_equal(l, nl, want[w]->l, want[w]->nl)) break;
            for (size_t k = 0; k < want[w]->n; k++) /* skipped: must hold nothing in range */
                assert_false(want[w]->t[k] >= mint && want[w]->t[k] <= maxt);
        }
        it = ss->vt->iterator(ss, it);
        const mseries_t *s = want[w++];
        size_t k = 0, k0;
        while (k < s->n && s->t[k] < mint) k++;
        k0 = k;
        while (it->vt->next(it) == STORAGE_VAL_FLOAT) {
            int64_t t;
            double v;
            it->vt->at(it, &t, &v);
            assert_true(k < s->n);
            assert_int_equal(t, s->t[k]);
            assert_int_equal(f2u(v), f2u(s->v[k])); /* bit-exact: NaN payloads, -0 */
            k++;
        }
        assert_int_equal(it->vt->err(it), 0);
        assert_true(k == s->n || s->t[k] > maxt);
        got_must += k > k0;
    }
    assert_int_equal(got_must, n_must);
}

static void roundtrip(uint8_t enc, bool decimals) {
    char *dir = tu_tmpdir();
    mseries_t *m = model_new(decimals);
    tsdb__block_meta_t meta;
    write_block(dir, m, enc, &meta);
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, meta.ulid);
    tsdb__block_t *b;
    vg_error_t err;
    assert_int_equal(tsdb__block_open(path, &b, &err), 0);
    const tsdb__block_meta_t *bm = tsdb__block_meta(b);
    assert_string_equal(bm->ulid, meta.ulid);
    assert_int_equal(bm->n_series, NS);
    uint64_t total = 0;
    for (size_t i = 0; i < NS; i++) total += m[i].n;
    assert_int_equal(bm->n_samples, total);
    assert_int_equal(bm->dense, enc == TSDB_ENC_DENSE && decimals);
    assert_int_equal(bm->n_sources, 1);
    assert_int_equal(tsdb__block_verify(b, &err), 0);

    const int64_t ranges[][2] = {{INT64_MIN, INT64_MAX}, {1500000, 3000000}, {2000000, 2000000}, {0, 999}};
    model_matcher_t *ms[8];
    storage_querier_t *q;
    for (size_t r = 0; r < sizeof ranges / sizeof ranges[0]; r++) {
        assert_int_equal(tsdb__block_querier(b, ranges[r][0], ranges[r][1], &q, &err), 0);
        check_select(q, m, NULL, 0, ranges[r][0], ranges[r][1]);
        ms[0] = tu_m(MODEL_MATCH_EQ, "__name__", "metric_2");
        check_select(q, m, ms, 1, ranges[r][0], ranges[r][1]);
        ms[1] = tu_m(MODEL_MATCH_RE, "instance", "host-0[0-2].*");
        check_select(q, m, ms, 2, ranges[r][0], ranges[r][1]);
        ms[2] = tu_m(MODEL_MATCH_EQ, "env", ""); /* series without env */
        check_select(q, m, ms + 2, 1, ranges[r][0], ranges[r][1]);
        ms[3] = tu_m(MODEL_MATCH_NEQ, "env", "prod");
        check_select(q, m, ms, 2, ranges[r][0], ranges[r][1]);
        check_select(q, m, ms + 3, 1, ranges[r][0], ranges[r][1]);
        ms[4] = tu_m(MODEL_MATCH_NRE, "zone", "v[0-3]");
        check_select(q, m, ms + 3, 2, ranges[r][0], ranges[r][1]);
        ms[5] = tu_m(MODEL_MATCH_RE, "__name__", "metric_1|metric_3|nope");
        check_select(q, m, ms + 5, 1, ranges[r][0], ranges[r][1]);
        ms[6] = tu_m(MODEL_MATCH_EQ, "nosuch", "x");
        check_select(q, m, ms + 6, 1, ranges[r][0], ranges[r][1]);
        ms[7] = tu_m(MODEL_MATCH_RE, "zone", ".*");
        check_select(q, m, ms + 7, 1, ranges[r][0], ranges[r][1]);
        for (int i = 0; i < 8; i++) model_matcher_free(ms[i]);
        storage_querier_close(q);
    }

    /* label names and values, with and without matchers */
    assert_int_equal(tsdb__block_querier(b, INT64_MIN, INT64_MAX, &q, &err), 0);
    const char *const *v;
    size_t nv;
    assert_int_equal(q->vt->label_names(q, NULL, 0, &v, &nv, &err), 0);
    assert_int_equal(nv, 4);
    assert_string_equal(v[0], "__name__");
    assert_string_equal(v[1], "env");
    assert_string_equal(v[2], "instance");
    assert_string_equal(v[3], "zone");
    assert_int_equal(q->vt->label_values(q, "instance", NULL, 0, &v, &nv, &err), 0);
    assert_int_equal(nv, NS / 5);
    for (size_t i = 1; i < nv; i++) assert_true(strcmp(v[i - 1], v[i]) < 0);
    ms[0] = tu_m(MODEL_MATCH_EQ, "__name__", "metric_0");
    assert_int_equal(q->vt->label_values(q, "zone", ms, 1, &v, &nv, &err), 0);
    /* metric_0 is i % 5 == 0; zone is i % 4 == 0: i % 20 == 0, zone v(i % 7) */
    bool seen[7] = {0};
    size_t want = 0;
    for (size_t i = 0; i < NS; i += 20)
        if (!seen[i % 7]) seen[i % 7] = true, want++;
    assert_int_equal(nv, want);
    assert_int_equal(q->vt->label_names(q, ms, 1, &v, &nv, &err), 0);
    assert_int_equal(nv, 4);
    model_matcher_free(ms[0]);
    ms[0] = tu_m(MODEL_MATCH_EQ, "instance", "host-001");
    assert_int_equal(q->vt->label_names(q, ms, 1, &v, &nv, &err), 0);
    assert_int_equal(nv, 4); /* i = 5..9: all have env (i % 11 != 0), i = 8 has zone */
    model_matcher_free(ms[0]);
    storage_querier_close(q);

    tsdb__block_unref(b);
    tsdb__block_meta_free(&meta);
    model_free(m);
    tu_rmdir(dir);
}

static void roundtrip_xor(void **state) {
    (void)state;
    roundtrip(TSDB_ENC_XOR, false);
    roundtrip(TSDB_ENC_XOR, true);
}

static void roundtrip_dense(void **state) {
    (void)state;
    roundtrip(TSDB_ENC_DENSE, true);
    roundtrip(TSDB_ENC_DENSE, false); /* NaN/stale/full floats: chunks stay XOR */
}

/* A small block of 3 series x 300 samples (t = 1000 * k, v = k) under a new temp dir; returns its path. */
static char *small_block(char **parent, uint8_t enc) {
    *parent = tu_tmpdir();
    tsdb__block_writer_opts_t o = {.mint = 0, .maxt = 1000000, .encoding = enc, .level = 1};
    tsdb__block_writer_t *w;
    vg_error_t err;
    assert_int_equal(tsdb__block_writer_new(*parent, &o, &w, &err), 0);
    int64_t t[300];
    double v[300];
    for (int k = 0; k < 300; k++) t[k] = 1000 * k, v[k] = k;
    const char *names[] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) {
        model_label_t l[2] = {{"__name__", "m"}, {"s", names[i]}};
        assert_int_equal(tsdb__block_writer_add_samples(w, l, 2, t, v, 300, &err), 0);
    }
    tsdb__block_meta_t meta;
    assert_int_equal(tsdb__block_writer_commit(w, &meta, &err), 0);
    char *path = malloc(strlen(*parent) + TSDB_ULID_LEN + 2);
    sprintf(path, "%s/%s", *parent, meta.ulid);
    tsdb__block_meta_free(&meta);
    return path;
}

/* Samples of series s="x" read through a querier over [mint, maxt]; -1 when it is not selected. */
static long count_samples(tsdb__block_t *b, const char *sv, int64_t mint, int64_t maxt) {
    storage_querier_t *q;
    vg_error_t err;
    assert_int_equal(tsdb__block_querier(b, mint, maxt, &q, &err), 0);
    model_matcher_t *m = tu_m(MODEL_MATCH_EQ, "s", sv);
    storage_series_set_t *ss;
    assert_int_equal(storage_select(q, true, &m, 1, &ss, &err), 0);
    long n = -1;
    if (ss->vt->next(ss)) {
        storage_iterator_t *it = ss->vt->iterator(ss, NULL);
        n = 0;
        int64_t prev = INT64_MIN;
        while (it->vt->next(it) == STORAGE_VAL_FLOAT) {
            int64_t t;
            double v;
            it->vt->at(it, &t, &v);
            assert_true(t > prev && t >= mint && t <= maxt);
            assert_true(v == (double)(t / 1000));
            prev = t;
            n++;
        }
        assert_int_equal(it->vt->err(it), 0);
    }
    model_matcher_free(m);
    storage_querier_close(q);
    return n;
}

static int select_all_ids(tsdb__block_t *b, tsdb__idvec_t *ids) {
    vg_error_t err;
    const tsdb__index_t *ix = tsdb__block_index(b);
    return tsdb__index_postings(ix, ix->all_off, ids, &err);
}

static void tombstones_applied(void **state) {
    (void)state;
    char *parent;
    char *path = small_block(&parent, TSDB_ENC_XOR);
    tsdb__block_t *b;
    vg_error_t err;
    assert_int_equal(tsdb__block_open(path, &b, &err), 0);
    assert_int_equal(count_samples(b, "a", INT64_MIN, INT64_MAX), 300);
    /* series ids are offset / 16: find them through the all-postings list */
    tsdb__idvec_t ids = {0};
    assert_int_equal(select_all_ids(b, &ids), 0);
    assert_int_equal(ids.n, 3);
    tsdb__block_unref(b);
    tsdb__stone_t st[] = {{ids.v[0], 10000, 19999}, {ids.v[0], 250000, 400000}, {ids.v[1], INT64_MIN, INT64_MAX},
                          {ids.v[2], 5000, 5000}};
    assert_int_equal(tsdb__tombstones_write(path, st, 4, &err), 0);
    assert_int_equal(tsdb__block_open(path, &b, &err), 0);
    assert_int_equal(count_samples(b, "a", INT64_MIN, INT64_MAX), 300 - 10 - 50);
    assert_int_equal(count_samples(b, "a", 12000, 30000), 11);
    assert_int_equal(count_samples(b, "b", INT64_MIN, INT64_MAX), -1); /* wholly deleted: not selected */
    assert_int_equal(count_samples(b, "c", INT64_MIN, INT64_MAX), 299);
    assert_int_equal(count_samples(b, "c", 5000, 5000), 0);
    tsdb__idvec_free(&ids);
    tsdb__block_unref(b);
    free(path);
    tu_rmdir(parent);
}

static bool exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static void deleted_after_last_ref(void **state) {
    (void)state;
    char *parent;
    char *path = small_block(&parent, TSDB_ENC_DENSE);
    tsdb__block_t *b;
    vg_error_t err;
    assert_int_equal(tsdb__block_open(path, &b, &err), 0);
    assert_true(tsdb__block_meta(b)->dense);
    storage_querier_t *q1, *q2;
    assert_int_equal(tsdb__block_querier(b, 0, 1000000, &q1, &err), 0);
    assert_int_equal(tsdb__block_querier(b, 0, 1000000, &q2, &err), 0);
    tsdb__block_mark_deleted(b);
    tsdb__block_unref(b); /* the db's reference */
    assert_true(exists(path));
    storage_series_set_t *ss;
    assert_int_equal(storage_select(q1, true, NULL, 0, &ss, &err), 0);
    size_t n = 0;
    while (ss->vt->next(ss)) {
        storage_iterator_t *it = ss->vt->iterator(ss, NULL);
        while (it->vt->next(it) == STORAGE_VAL_FLOAT) n++;
    }
    assert_int_equal(n, 900);
    storage_querier_close(q1);
    assert_true(exists(path));
    storage_querier_close(q2);
    assert_false(exists(path));
    free(path);
    tu_rmdir(parent);
}

static void writer_refuses_bad_input(void **state) {
    (void)state;
    char *parent = tu_tmpdir();
    tsdb__block_writer_opts_t o = {.mint = 0, .maxt = 1000, .encoding = TSDB_ENC_XOR, .level = 1};
    tsdb__block_writer_t *w;
    vg_error_t err;
    assert_int_equal(tsdb__block_writer_new(parent, &o, &w, &err), 0);
    model_label_t l[1] = {{"__name__", "m"}};
    int64_t t[2] = {5, 1000};
    double v[2] = {1, 2};
    assert_int_equal(tsdb__block_writer_add_samples(w, l, 1, t, v, 2, &err), VG_EINVAL); /* maxt is exclusive */
    t[1] = 5;
    assert_int_equal(tsdb__block_writer_add_samples(w, l, 1, t, v, 2, &err), VG_EINVAL); /* not increasing */
    assert_int_equal(tsdb__block_writer_add_samples(w, l, 1, t, v, 1, &err), 0);
    assert_int_equal(tsdb__block_writer_add_samples(w, l, 1, t, v, 1, &err), 0);
    assert_int_equal(tsdb__block_writer_commit(w, NULL, &err), VG_EINVAL); /* added twice */
    assert_int_equal(tsdb__block_writer_new(parent, &o, &w, &err), 0);
    assert_int_equal(tsdb__block_writer_commit(w, NULL, &err), VG_ENOTFOUND); /* nothing written */
    /* failed and empty commits leave nothing behind */
    DIR *d = opendir(parent);
    struct dirent *e;
    int entries = 0;
    while ((e = readdir(d))) entries += e->d_name[0] != '.';
    closedir(d);
    assert_int_equal(entries, 0);
    tu_rmdir(parent);
}

/* Copies src to dst with the first len bytes of data. */
static void put_file(const char *path, const uint8_t *p, size_t len) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, len, f), len);
    fclose(f);
}

/* Opens the block and reads every sample; returns the first error (0 if none). */
static int open_and_read(const char *path, vg_error_t *err) {
    tsdb__block_t *b;
    int rc = tsdb__block_open(path, &b, err);
    if (rc) return rc;
    rc = tsdb__block_verify(b, err);
    storage_querier_t *q;
    if (tsdb__block_querier(b, INT64_MIN, INT64_MAX, &q, err) == 0) {
        storage_series_set_t *ss;
        if (storage_select(q, true, NULL, 0, &ss, err) == 0) {
            while (ss->vt->next(ss)) {
                storage_iterator_t *it = ss->vt->iterator(ss, NULL);
                while (it->vt->next(it) == STORAGE_VAL_FLOAT) {
                }
                if (!rc && it->vt->err(it)) rc = it->vt->err(it);
            }
        }
        const char *const *v;
        size_t n;
        q->vt->label_values(q, "s", NULL, 0, &v, &n, err);
        storage_querier_close(q);
    }
    tsdb__block_unref(b);
    return rc;
}

static void corrupt_files_are_errors(void **state) {
    (void)state;
    char *parent;
    char *path = small_block(&parent, TSDB_ENC_XOR);
    vg_error_t err;
    assert_int_equal(open_and_read(path, &err), 0);
    const char *files[] = {"index", "chunks/000001", "meta.json", "tombstones"};
    for (size_t f = 0; f < 4; f++) {
        char fp[600];
        snprintf(fp, sizeof fp, "%s/%s", path, files[f]);
        uint8_t *orig;
        size_t len;
        assert_int_equal(vg_fs_read_file(fp, &orig, &len, &err), 0);
        uint8_t *buf = malloc(len);
        /* every truncation of the small files, a spread of them for the big ones */
        size_t step = len > 2000 ? len / 500 : 1;
        for (size_t cut = 0; cut < len; cut += step) {
            put_file(fp, orig, cut);
            int rc = open_and_read(path, &err);
            assert_true(rc == VG_ECORRUPT || rc == VG_EIO);
        }
        /* flipped bytes: a checksum, a bound or a decoder catches each one */
        size_t flips = 0, caught = 0;
        for (size_t at = 0; at < len; at += (len > 400 ? len / 400 : 1)) {
            memcpy(buf, orig, len);
            buf[at] ^= 0x5a;
            put_file(fp, buf, len);
            int rc = open_and_read(path, &err);
            assert_true(rc == 0 || rc == VG_ECORRUPT || rc == VG_EIO);
            flips++;
            caught += rc != 0;
        }
        /* index and chunks: everything but padding and unused table bits is covered by a CRC */
        if (f < 2) assert_true(caught * 10 >= flips * 9);
        put_file(fp, orig, len);
        free(orig);
        free(buf);
    }
    /* missing meta.json or index */
    char fp[600];
    snprintf(fp, sizeof fp, "%s/meta.json", path);
    uint8_t *orig;
    size_t len;
    assert_int_equal(vg_fs_read_file(fp, &orig, &len, &err), 0);
    unlink(fp);
    assert_int_equal(open_and_read(path, &err), VG_EIO);
    put_file(fp, (const uint8_t *)"{\"ulid\": 5}", 11);
    assert_int_equal(open_and_read(path, &err), VG_ECORRUPT);
    assert_non_null(strstr(err.msg, "meta.json"));
    put_file(fp, orig, len);
    free(orig);
    assert_int_equal(open_and_read(path, &err), 0);
    snprintf(fp, sizeof fp, "%s/index", path);
    assert_int_equal(vg_fs_read_file(fp, &orig, &len, &err), 0);
    orig[len - 5] ^= 1; /* the TOC's CRC */
    put_file(fp, orig, len);
    assert_int_equal(open_and_read(path, &err), VG_ECORRUPT);
    assert_non_null(strstr(err.msg, "TOC checksum"));
    free(orig);
    free(path);
    tu_rmdir(parent);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(roundtrip_xor), cmocka_unit_test(roundtrip_dense),
                                       cmocka_unit_test(tombstones_applied), cmocka_unit_test(deleted_after_last_ref),
                                       cmocka_unit_test(writer_refuses_bad_input),
                                       cmocka_unit_test(corrupt_files_are_errors)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
