/* Storage benchmarks on node_exporter-like data (a samples file from gen_samples.py, which renders the
 * shared harness' synthetic targets). One line per case: `name ns/op B/op` plus the case's own figure.
 *
 *   bench_tsdb SAMPLES_FILE                  chunk bytes/sample, encode, decode, append, WAL replay
 *   bench_tsdb --rss N_SERIES N_SAMPLES [SAMPLES_FILE]
 *                                            resident bytes per active series (run it alone; a
 *                                            release build — sanitizers inflate RSS)
 * Times are CPU time of the benchmarking thread (the machine may be shared), so "per core" holds.
 * Each case checks its result (sample counts, value sums) so the work cannot be optimised away. */
#include "tsdb/chunkenc.h"
#include "tsdb/tsdb.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct series {
    model_label_t *l;
    size_t n;
} series_t;

typedef struct data {
    size_t n_series, n_scrapes;
    series_t *s;
    int64_t *t;  /* [scrape] */
    double *v;   /* [scrape * n_series + series] */
} data_t;

static void die(const char *msg) {
    fprintf(stderr, "bench_tsdb: %s\n", msg);
    exit(1);
}

/* Parses `name{a="b",...}` in place (unescapes \" \\ \n). */
static void parse_series(char *line, series_t *out) {
    char *brace = strchr(line, '{');
    size_t cap = 4, n = 0;
    model_label_t *l = malloc(cap * sizeof *l);
    if (!brace) die("series line without labels");
    *brace = '\0';
    l[n++] = (model_label_t){"__name__", line};
    char *p = brace + 1;
    while (*p && *p != '}') {
        char *eq = strchr(p, '=');
        if (!eq || eq[1] != '"') die("bad label");
        *eq = '\0';
        char *name = p, *v = eq + 2, *w = v;
        while (*v && *v != '"') {
            if (*v == '\\' && v[1]) {
                v++;
                *w++ = *v == 'n' ? '\n' : *v;
                v++;
            } else {
                *w++ = *v++;
            }
        }
        if (*v != '"') die("unterminated value");
        char *value = eq + 2;
        *w = '\0';
        p = v + 1;
        if (*p == ',') p++;
        if (n == cap) l = realloc(l, (cap *= 2) * sizeof *l);
        l[n++] = (model_label_t){name, value};
    }
    out->l = l;
    out->n = n;
}

static void load(const char *path, data_t *d) {
    uint8_t *buf;
    size_t len;
    vg_error_t err;
    if (vg_fs_read_file(path, &buf, &len, &err) != 0) die(err.msg);
    buf[len] = '\0';
    char *save = NULL, *line = strtok_r((char *)buf, "\n", &save);
    if (!line || strcmp(line, "vigil-bench-samples 1") != 0) die("not a samples file");
    line = strtok_r(NULL, "\n", &save);
    if (!line || sscanf(line, "series %zu", &d->n_series) != 1) die("no series count");
    d->s = calloc(d->n_series, sizeof *d->s);
    for (size_t i = 0; i < d->n_series; i++) {
        if (!(line = strtok_r(NULL, "\n", &save))) die("short series list");
        parse_series(line, &d->s[i]);
    }
    line = strtok_r(NULL, "\n", &save);
    if (!line || sscanf(line, "scrapes %zu", &d->n_scrapes) != 1) die("no scrape count");
    d->t = malloc(d->n_scrapes * sizeof *d->t);
    d->v = malloc(d->n_scrapes * d->n_series * sizeof *d->v);
    for (size_t k = 0; k < d->n_scrapes; k++) {
        long long t = 0;
        if (!(line = strtok_r(NULL, "\n", &save)) || sscanf(line, "t %lld", &t) != 1) die("bad scrape header");
        d->t[k] = t;
        for (size_t i = 0; i < d->n_series; i++) {
            if (!(line = strtok_r(NULL, "\n", &save))) die("short scrape");
            d->v[k * d->n_series + i] = strtod(line, NULL);
        }
    }
    /* buf stays allocated: labels point into it */
}

/* CPU time of this thread: per-core figures must not depend on what else the machine runs. */
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void line(const char *name, double ns_per_op, double bytes_per_op, const char *extra) {
    printf("%-28s %10.1f ns/op %8.3f B/op  %s\n", name, ns_per_op, bytes_per_op, extra);
    fflush(stdout);
}

static void bench_chunks(const data_t *d) {
    size_t per = TSDB_CHUNK_MAX_SAMPLES, full = d->n_scrapes / per;
    if (full == 0) die("need at least 120 scrapes");
    size_t n_chunks = d->n_series * full;
    uint8_t **bufs = malloc(n_chunks * sizeof *bufs);
    size_t *lens = malloc(n_chunks * sizeof *lens);
    size_t bytes = 0, samples = 0;
    double t0 = now_s();
    for (size_t i = 0; i < d->n_series; i++) {
        for (size_t c = 0; c < full; c++) {
            tsdb_xor_enc_t e;
            tsdb_xor_enc_init(&e);
            for (size_t k = c * per; k < (c + 1) * per; k++)
                if (tsdb_xor_enc_append(&e, d->t[k], d->v[k * d->n_series + i]) != 0) die("encode");
            tsdb_xor_enc_shrink(&e);
            bufs[i * full + c] = e.buf;
            lens[i * full + c] = tsdb_xor_enc_len(&e);
            bytes += lens[i * full + c];
            samples += per;
        }
    }
    double enc = now_s() - t0;
    char extra[160];
    snprintf(extra, sizeof extra, "%.3f bytes/sample in full chunks (%zu chunks, %zu samples)", (double)bytes / (double)samples,
             n_chunks, samples);
    line("chunk_encode", enc * 1e9 / (double)samples, (double)bytes / (double)samples, extra);

    /* dense re-encoding of the same full chunks (what the head stores once a chunk is full) */
    size_t dbytes = 0, n_dense = 0;
    uint8_t **dbufs = malloc(n_chunks * sizeof *dbufs);
    uint8_t *encs = malloc(n_chunks);
    size_t *dlens = malloc(n_chunks * sizeof *dlens);
    t0 = now_s();
    for (size_t c = 0; c < n_chunks; c++) {
        uint8_t tmp[TSDB_CHUNK_MAX_BYTES];
        size_t dl = tsdb_chunk_densify(bufs[c], lens[c], tmp, sizeof tmp);
        if (dl) {
            dbufs[c] = malloc(dl);
            memcpy(dbufs[c], tmp, dl);
            dlens[c] = dl;
            encs[c] = TSDB_ENC_DENSE;
            n_dense++;
        } else {
            dbufs[c] = malloc(lens[c]);
            memcpy(dbufs[c], bufs[c], lens[c]);
            dlens[c] = lens[c];
            encs[c] = TSDB_ENC_XOR;
        }
        dbytes += dlens[c];
    }
    double dens = now_s() - t0;
    snprintf(extra, sizeof extra, "%.3f bytes/sample with dense full chunks (%.0f%% of chunks dense)",
             (double)dbytes / (double)samples, 100.0 * (double)n_dense / (double)n_chunks);
    line("chunk_densify", dens * 1e9 / (double)samples, (double)dbytes / (double)samples, extra);

    /* decode: best of 15 passes (the machine may be noisy) */
    double best = 1e9, want = 0;
    for (size_t i = 0; i < d->n_series; i++)
        for (size_t k = 0; k < full * per; k++) {
            double v = d->v[k * d->n_series + i];
            if (!isnan(v)) want += v;
        }
    for (int pass = 0; pass < 15; pass++) {
        double sum = 0;
        size_t n = 0;
        t0 = now_s();
        for (size_t c = 0; c < n_chunks; c++) {
            tsdb_xor_iter_t it;
            tsdb_xor_iter_init(&it, bufs[c], lens[c]);
            while (tsdb_xor_iter_next(&it)) {
                double v = tsdb_xor_iter_v_at(&it);
                if (!isnan(v)) sum += v;
                n++;
            }
            if (it.err) die("decode error");
        }
        double el = now_s() - t0;
        if (n != samples || fabs(sum - want) > 1e-6 * fabs(want)) die("decode mismatch");
        if (el < best) best = el;
    }
    snprintf(extra, sizeof extra, "%.1f M samples/s/core", (double)samples / best / 1e6);
    line("chunk_decode", best * 1e9 / (double)samples, 0, extra);

    best = 1e9;
    tsdb_chunk_iter_t *ci = malloc(sizeof *ci);
    for (int pass = 0; pass < 15; pass++) {
        double sum = 0;
        size_t n = 0;
        t0 = now_s();
        for (size_t c = 0; c < n_chunks; c++) {
            tsdb_chunk_iter_init(ci, encs[c], dbufs[c], dlens[c]);
            while (tsdb_chunk_iter_next(ci)) {
                double v = tsdb_chunk_iter_v_at(ci);
                if (!isnan(v)) sum += v;
                n++;
            }
            if (ci->err) die("dense decode error");
        }
        double el = now_s() - t0;
        if (n != samples || fabs(sum - want) > 1e-6 * fabs(want)) die("dense decode mismatch");
        if (el < best) best = el;
    }
    snprintf(extra, sizeof extra, "%.1f M samples/s/core (dense + XOR mix)", (double)samples / best / 1e6);
    line("chunk_decode_dense", best * 1e9 / (double)samples, 0, extra);
    free(ci);
    for (size_t c = 0; c < n_chunks; c++) free(dbufs[c]);
    free(dbufs);
    free(dlens);
    free(encs);
    for (size_t c = 0; c < n_chunks; c++) free(bufs[c]);
    free(bufs);
    free(lens);
}

/* Appends every scrape, one commit per scrape of a target (2000 series). Returns seconds for scrapes
 * after the first (existing series) and sets *first_s to the first scrape (new series). */
static double append_all(tsdb_db_t *db, const data_t *d, double *first_s) {
    storage_appender_t *a;
    vg_error_t err;
    tsdb_db_appender(db, &a, &err);
    uint64_t *refs = calloc(d->n_series, sizeof *refs);
    size_t batch = 2000;
    double t0 = now_s(), t1 = 0;
    for (size_t k = 0; k < d->n_scrapes; k++) {
        if (k == 1) t1 = now_s();
        for (size_t i = 0; i < d->n_series; i++) {
            double v = d->v[k * d->n_series + i];
            int rc = refs[i] ? storage_append_ref(a, refs[i], d->t[k], v, &err)
                             : storage_append(a, d->s[i].l, d->s[i].n, d->t[k], v, &refs[i], &err);
            if (rc != 0) die(rc < 0 ? err.msg : "sample rejected");
            if ((i + 1) % batch == 0 && storage_commit(a, &err) != 0) die("commit");
        }
        if (storage_commit(a, &err) != 0) die("commit");
    }
    double t2 = now_s();
    *first_s = t1 - t0;
    storage_appender_free(a);
    free(refs);
    return t2 - t1;
}

static void bench_wal(const data_t *d, const tsdb_options_t *base, bool compress);

static void bench_append(const data_t *d) {
    vg_log_set_level(VG_LOG_WARN);
    char extra[160];
    double first, rest;
    size_t existing = d->n_series * (d->n_scrapes - 1);
    tsdb_options_t o;
    tsdb_options_default(&o);
    o.register_metrics = false;
    o.retention_ms = 0;

    tsdb_db_t *db;
    vg_error_t err;
    if (tsdb_db_open(&o, &db, &err) != 0) die(err.msg);
    rest = append_all(db, d, &first);
    snprintf(extra, sizeof extra, "%.2f M samples/s/core (no WAL)", (double)existing / rest / 1e6);
    line("append_existing_mem", rest * 1e9 / (double)existing, 0, extra);
    snprintf(extra, sizeof extra, "%.0f k series/s created", (double)d->n_series / first / 1e3);
    line("append_new_series_mem", first * 1e9 / (double)d->n_series, 0, extra);
    tsdb_db_close(db);

    bench_wal(d, &o, true);
    bench_wal(d, &o, false);
}

/* Appends with the WAL, then replays it (from segments and from a checkpoint); compress: the WAL's
 * samples records are zstd-compressed (the default), else the case names end in _plain. */
static void bench_wal(const data_t *d, const tsdb_options_t *base, bool compress) {
    char extra[160], name[64];
    double first, rest;
    size_t existing = d->n_series * (d->n_scrapes - 1);
    const char *sfx = compress ? "" : "_plain";
    tsdb_options_t o = *base;
    tsdb_db_t *db;
    vg_error_t err;
    o.wal_compression = compress;
    char dir[] = "/tmp/vigil-bench-XXXXXX";
    if (!mkdtemp(dir)) die("mkdtemp");
    o.path = dir;
    o.fsync = TSDB_FSYNC_NEVER;
    o.checkpoint_segments = 0;
    if (tsdb_db_open(&o, &db, &err) != 0) die(err.msg);
    rest = append_all(db, d, &first);
    tsdb_stats_t st;
    tsdb_db_stats(db, &st);
    snprintf(extra, sizeof extra, "%.2f M samples/s/core (WAL, mmapped chunks)", (double)existing / rest / 1e6);
    snprintf(name, sizeof name, "append_existing_wal%s", sfx);
    line(name, rest * 1e9 / (double)existing, (double)st.wal_bytes / (double)(existing + d->n_series), extra);
    snprintf(extra, sizeof extra, "%.0f k series/s created", (double)d->n_series / first / 1e3);
    snprintf(name, sizeof name, "append_new_series_wal%s", sfx);
    line(name, first * 1e9 / (double)d->n_series, 0, extra);
    tsdb_db_close(db);

    double t0 = now_s();
    if (tsdb_db_open(&o, &db, &err) != 0) die(err.msg);
    double el = now_s() - t0;
    tsdb_db_stats(db, &st);
    if (st.replay_samples != d->n_series * d->n_scrapes) die("replay lost samples");
    snprintf(extra, sizeof extra, "%.2f M samples/s (%zu samples, %zu series)", (double)st.replay_samples / el / 1e6,
             (size_t)st.replay_samples, d->n_series);
    snprintf(name, sizeof name, "wal_replay%s", sfx);
    line(name, el * 1e9 / (double)st.replay_samples, 0, extra);

    /* and after a checkpoint (replay copies chunks instead of re-encoding) */
    if (tsdb_db_checkpoint(db, &err) != 0) die(err.msg);
    tsdb_db_close(db);
    t0 = now_s();
    if (tsdb_db_open(&o, &db, &err) != 0) die(err.msg);
    el = now_s() - t0;
    tsdb_db_stats(db, &st);
    if (st.replay_samples != d->n_series * d->n_scrapes) die("checkpoint replay lost samples");
    snprintf(extra, sizeof extra, "%.2f M samples/s", (double)st.replay_samples / el / 1e6);
    snprintf(name, sizeof name, "wal_replay_checkpoint%s", sfx);
    line(name, el * 1e9 / (double)st.replay_samples, 0, extra);
    tsdb_db_close(db);
    vg_fs_remove_all(dir, &err);
}

static long rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
        fclose(f);
    }
    return rss * sysconf(_SC_PAGESIZE);
}

/* N series shaped like the dataset's: copy c of the dataset gets instance "10.<c>.<target>:9100", so
 * 1M series from a 10-target file are 500 targets of 2,000 series, as the shared harness scrapes
 * them. Each series gets n samples at 1 s with the dataset's values; RSS growth / N. */
static void bench_rss(size_t n_series, size_t n_samples, const data_t *d) {
    vg_log_set_level(VG_LOG_WARN);
    char dir[] = "/tmp/vigil-bench-rss-XXXXXX";
    if (!mkdtemp(dir)) die("mkdtemp");
    tsdb_options_t o;
    tsdb_options_default(&o);
    o.register_metrics = false;
    o.retention_ms = 0;
    o.path = dir;
    o.fsync = TSDB_FSYNC_NEVER;
    o.checkpoint_segments = 0;
    o.wal_segment_bytes = 256u << 20;
    tsdb_db_t *db;
    vg_error_t err;
    if (tsdb_db_open(&o, &db, &err) != 0) die(err.msg);
    long before = rss_bytes();
    storage_appender_t *a;
    tsdb_db_appender(db, &a, &err);
    uint64_t *refs = calloc(n_series, sizeof *refs);
    model_label_t lb[64];
    char inst[64];
    double t0 = now_s();
    for (size_t k = 0; k < n_samples; k++) {
        for (size_t i = 0; i < n_series; i++) {
            size_t src = d ? i % d->n_series : 0;
            double v = d ? d->v[(k % d->n_scrapes) * d->n_series + src] : (double)(i + k);
            int64_t t = INT64_C(1700000000000) + (int64_t)k * 1000;
            int rc;
            if (refs[i]) {
                rc = storage_append_ref(a, refs[i], t, v, &err);
            } else {
                size_t n = 0;
                if (d) {
                    const char *orig = model_labels_get(d->s[src].l, d->s[src].n, "instance");
                    snprintf(inst, sizeof inst, "c%zu-%s", i / d->n_series, orig ? orig : "");
                    for (size_t j = 0; j < d->s[src].n && j < 63; j++)
                        lb[n++] = !strcmp(d->s[src].l[j].name, "instance") ? (model_label_t){"instance", inst} : d->s[src].l[j];
                } else {
                    snprintf(inst, sizeof inst, "10.%zu.%zu.%zu:9100", i / 65536, i / 256 % 256, i % 256);
                    lb[n++] = (model_label_t){"__name__", "m"};
                    lb[n++] = (model_label_t){"instance", inst};
                }
                rc = storage_append(a, lb, n, t, v, &refs[i], &err);
            }
            if (rc != 0) die(rc < 0 ? err.msg : "rejected");
            if (i % 5000 == 4999) storage_commit(a, &err);
        }
        storage_commit(a, &err);
    }
    double el = now_s() - t0;
    storage_appender_free(a);
    free(refs);
    long after = rss_bytes();
    tsdb_stats_t st;
    tsdb_db_stats(db, &st);
    if (st.head_series != n_series) die("series count");
    char extra[200];
    snprintf(extra, sizeof extra, "%.0f B RSS/series (%zu series, %zu samples each, %.1f MB RSS growth, %.1f s)",
             (double)(after - before) / (double)n_series, n_series, n_samples, (double)(after - before) / 1e6, el);
    line("rss_per_active_series", el * 1e9 / (double)(n_series * n_samples), (double)(after - before) / (double)n_series,
         extra);
    tsdb_db_close(db);
    vg_fs_remove_all(dir, &err);
}

int main(int argc, char **argv) {
    if (argc >= 4 && !strcmp(argv[1], "--rss")) {
        data_t d = {0};
        if (argc >= 5) load(argv[4], &d);
        bench_rss((size_t)atol(argv[2]), (size_t)atol(argv[3]), argc >= 5 ? &d : NULL);
        return 0;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: bench_tsdb SAMPLES_FILE | --rss N_SERIES N_SAMPLES [SAMPLES_FILE]\n"
                        "  make the file with: python3 bench/tsdb/gen_samples.py ../shared/bench/gen_targets.py FILE\n");
        return 2;
    }
    data_t d = {0};
    load(argv[1], &d);
    printf("# %zu series x %zu scrapes\n", d.n_series, d.n_scrapes);
    bench_chunks(&d);
    bench_append(&d);
    return 0;
}
