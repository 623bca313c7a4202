/* Block compaction: three adjacent 2h level-1 blocks (node_exporter-like series: counters, gauges with
 * two decimals, full-precision floats, 15 s apart) merged into one 6h block, chunk by chunk (level
 * compaction) and, with the same data shifted to overlap, sample by sample (vertical compaction), in
 * the XOR and the dense encoding. One line per case: samples/s and on-disk bytes per sample of the
 * result (index, chunks, meta.json, tombstones). Usage: bench_compact [series] (default 2500). */
#include "tsdb/block.h"
#include "tsdb/block_int.h"
#include "tsdb/compact.h"
#include "util/fs.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define H (INT64_C(3600) * 1000)
#define STEP 15000

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const vg_error_t *err) {
    fprintf(stderr, "bench_compact: %s: %s\n", what, err->msg);
    exit(1);
}

static double sample(int s, int64_t t, uint64_t *rng) {
    *rng = *rng * 6364136223846793005u + 1442695040888963407u;
    double r = (double)(*rng >> 11) / 9007199254740992.0;
    switch (s % 3) {
    case 0: return floor((double)t / 1000 * (s % 7 + 1)); /* a counter */
    case 1: return round((40 + 20 * sin((double)t / 3.6e6 + s) + r) * 100) / 100; /* a decimal gauge */
    default: return r * 1e3; /* full precision */
    }
}

/* A level-1 block [mint, maxt) under dir, samples every STEP from mint + off. */
static tsdb__block_t *mkblock(const char *dir, int n_series, int64_t mint, int64_t maxt, int64_t off, uint8_t enc) {
    tsdb__block_writer_opts_t o = {.mint = mint, .maxt = maxt, .encoding = enc, .level = 1};
    tsdb__block_writer_t *w;
    vg_error_t err;
    if (tsdb__block_writer_new(dir, &o, &w, &err)) die("writer", &err);
    size_t cap = (size_t)((maxt - mint) / STEP + 1);
    int64_t *t = malloc(cap * sizeof *t);
    double *v = malloc(cap * sizeof *v);
    for (int s = 0; s < n_series; s++) {
        uint64_t rng = (uint64_t)s * 7919 + (uint64_t)mint;
        size_t n = 0;
        for (int64_t x = mint + off; x < maxt; x += STEP) t[n] = x, v[n++] = sample(s, x, &rng);
        char inst[32], name[32];
        snprintf(inst, sizeof inst, "host-%03d:9100", s / 50);
        snprintf(name, sizeof name, "node_metric_%d", s % 50);
        model_label_t l[] = {{"__name__", name}, {"instance", inst}, {"job", "node"}};
        if (tsdb__block_writer_add_samples(w, l, 3, t, v, n, &err)) die("add", &err);
    }
    free(t);
    free(v);
    tsdb__block_meta_t m;
    if (tsdb__block_writer_commit(w, &m, &err)) die("commit", &err);
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, m.ulid);
    tsdb__block_meta_free(&m);
    tsdb__block_t *b;
    if (tsdb__block_open(p, &b, &err)) die("open", &err);
    return b;
}

static void run(const char *name, int n_series, uint8_t enc, bool overlap) {
    char tmpl[] = "/tmp/vigil-bench-compact-XXXXXX";
    char *dir = mkdtemp(tmpl);
    tsdb__block_t *p[3];
    for (int i = 0; i < 3; i++)
        p[i] = overlap ? mkblock(dir, n_series, i * H, (i + 2) * H, i * 5000, enc) /* [i, i+2)h, shifted */
                       : mkblock(dir, n_series, i * 2 * H, (i + 1) * 2 * H, 0, enc);
    uint64_t in = 0;
    for (int i = 0; i < 3; i++) in += tsdb__block_meta(p[i])->n_samples;
    tsdb__block_meta_t m;
    tsdb__compact_stats_t st;
    vg_error_t err;
    double t0 = now_s();
    if (tsdb__compact_blocks(p, 3, dir, enc, &m, &st, &err)) die("compact", &err);
    double secs = now_s() - t0;
    char bp[4200];
    snprintf(bp, sizeof bp, "%s/%s", dir, m.ulid);
    tsdb__block_t *b;
    if (tsdb__block_open(bp, &b, &err)) die("open result", &err);
    uint64_t bytes = tsdb__block_bytes(b);
    if (m.n_samples != st.samples || (!overlap && m.n_samples != in)) {
        fprintf(stderr, "bench_compact: %s: %llu samples in, %llu out\n", name, (unsigned long long)in,
                (unsigned long long)m.n_samples);
        exit(1);
    }
    printf("%-28s %10.0f samples/s  %6.3f B/sample  samples_in=%llu samples_out=%llu chunks_copied=%llu "
           "series_merged=%llu duplicates=%llu seconds=%.3f\n",
           name, (double)in / secs, (double)bytes / (double)m.n_samples, (unsigned long long)in,
           (unsigned long long)m.n_samples, (unsigned long long)st.chunks_copied,
           (unsigned long long)st.series_merged, (unsigned long long)st.duplicates, secs);
    tsdb__block_unref(b);
    for (int i = 0; i < 3; i++) tsdb__block_unref(p[i]);
    tsdb__block_meta_free(&m);
    vg_fs_remove_all(dir, &err);
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 2500;
    run("compact_level_xor", n, TSDB_ENC_XOR, false);
    run("compact_level_dense", n, TSDB_ENC_DENSE, false);
    run("compact_vertical_xor", n, TSDB_ENC_XOR, true);
    run("compact_vertical_dense", n, TSDB_ENC_DENSE, true);
    return 0;
}
