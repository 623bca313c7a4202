/* Benchmarks of the ingest parsers: exposition text 0.0.4 and OpenMetrics parse throughput, and
 * remote_write decode (snappy + protobuf, and protobuf alone) on a node_exporter-like payload.
 *
 *   bench_ingest [FILE]
 *
 * FILE is a text-format scrape, e.g. from the shared harness:
 *   python3 ../shared/bench/gen_targets.py dump --target 3 > /tmp/t3.prom && bench_ingest /tmp/t3.prom
 * Without FILE a built-in generator makes a payload of the same shape (node_exporter families plus
 * an application histogram, 5 target labels per series). The OpenMetrics case uses the same payload
 * with "# EOF" appended; the remote_write cases encode its series (1 and 10 samples per series).
 * One line per case: name ns/op B/op samples/s MB/s, timed in thread CPU time (so other load on the
 * machine does not inflate it) — B/op is heap growth per operation (0: the
 * parsers reuse caller memory). Each case checks its result (series count, value checksum) and
 * aborts on a mismatch, so the work cannot be optimised away. */
#include "ingest/ingest.h"

#include <malloc.h>
#include <snappy-c.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    char *p;
    size_t len, cap;
} sbuf_t;

static void sb_add(sbuf_t *b, const void *d, size_t n) {
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_printf(sbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf_t *b, const char *fmt, ...) {
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    sb_add(b, tmp, (size_t)n);
}

static unsigned rnd(void) {
    static unsigned seed = 12345;
    seed = seed * 1103515245u + 12345u;
    return seed >> 8;
}

/* A node_exporter-like scrape of about n_series series. */
static void generate(sbuf_t *b, size_t n_series) {
    const char *tl = "env=\"staging\",cluster=\"eu-west-1-prod-a\",pod=\"payments-lq5lszbbb-9cmv5\"";
    static const char *modes[] = {"idle", "user", "system", "iowait", "irq", "softirq", "nice", "steal"};
    size_t n = 0;
#define RND() rnd()
    sb_printf(b, "# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.\n"
                 "# TYPE node_cpu_seconds_total counter\n");
    for (int cpu = 0; cpu < 16 && n < n_series / 4; cpu++)
        for (int m = 0; m < 8; m++, n++)
            sb_printf(b, "node_cpu_seconds_total{%s,cpu=\"%d\",mode=\"%s\"} %u.%02u\n", tl, cpu, modes[m], RND() % 200000,
                      RND() % 100);
    static const char *gauges[] = {"node_load1", "node_load5", "node_load15", "node_memory_MemTotal_bytes",
                                   "node_memory_MemAvailable_bytes", "node_memory_Cached_bytes"};
    for (size_t g = 0; g < sizeof gauges / sizeof gauges[0]; g++, n++)
        sb_printf(b, "# HELP %s Gauge %s.\n# TYPE %s gauge\n%s{%s} %u\n", gauges[g], gauges[g], gauges[g], gauges[g], tl,
                  RND());
    sb_printf(b, "# HELP node_network_receive_bytes_total Network device statistic receive_bytes.\n"
                 "# TYPE node_network_receive_bytes_total counter\n");
    for (int d = 0; d < 8; d++, n++)
        sb_printf(b, "node_network_receive_bytes_total{%s,device=\"eth%d\"} %u%u\n", tl, d, RND(), RND() % 1000);
    sb_printf(b, "# HELP http_request_duration_seconds Request latency.\n"
                 "# TYPE http_request_duration_seconds histogram\n");
    static const char *le[] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"};
    for (int h = 0; n < n_series; h++) {
        unsigned cum = 0;
        for (int k = 0; k < 10; k++, n++) {
            cum += RND() % 1000;
            sb_printf(b, "http_request_duration_seconds_bucket{%s,handler=\"/api/v%d/items\",method=\"GET\",le=\"%s\"} %u\n",
                      tl, h, le[k], cum);
        }
        sb_printf(b, "http_request_duration_seconds_sum{%s,handler=\"/api/v%d/items\",method=\"GET\"} %u.%03u\n", tl, h,
                  RND() % 100000, RND() % 1000);
        sb_printf(b, "http_request_duration_seconds_count{%s,handler=\"/api/v%d/items\",method=\"GET\"} %u\n", tl, h, cum);
        n += 2;
    }
#undef RND
}

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); /* CPU time: stable on a shared machine */
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static size_t heap_used(void) { return mallinfo2().uordblks; }

static void report(const char *name, double ns_op, double bytes_op, double samples_op, double in_bytes) {
    printf("%-28s %12.0f ns/op %8.0f B/op %14.0f samples/s %9.1f MB/s\n", name, ns_op, bytes_op,
           samples_op * 1e9 / ns_op, in_bytes * 1e9 / ns_op / 1e6);
}

/* ---- exposition ---- */

typedef struct {
    size_t series, meta;
    double sum;
} parse_res_t;

static parse_res_t parse_once(ingest_expfmt_format_t fmt, const char *buf, size_t len, ingest_label_t *labels,
                              char *scratch, size_t scratch_cap) {
    ingest_expfmt_parser_t p;
    ingest_expfmt_init(&p, fmt, buf, len, NULL, labels, 64, scratch, scratch_cap);
    ingest_expfmt_entry_t e;
    vg_error_t err;
    parse_res_t r = {0, 0, 0};
    int rc;
    while ((rc = ingest_expfmt_next(&p, &e, &err)) > 0) {
        if (rc == INGEST_EXPFMT_SERIES) {
            r.series++;
            r.sum += e.value + (double)e.n_labels;
        } else {
            r.meta++;
        }
    }
    if (rc < 0) {
        fprintf(stderr, "parse error: %s\n", err.msg);
        abort();
    }
    return r;
}

static void bench_parse(const char *name, ingest_expfmt_format_t fmt, const char *buf, size_t len) {
    ingest_label_t labels[64];
    static char scratch[1 << 20];
    parse_res_t want = parse_once(fmt, buf, len, labels, scratch, sizeof scratch);
    if (want.series == 0) abort();
    size_t iters = 1;
    double t0, t;
    for (;;) { /* at least 0.5 s */
        size_t h0 = heap_used();
        t0 = now_ns();
        for (size_t i = 0; i < iters; i++) {
            parse_res_t r = parse_once(fmt, buf, len, labels, scratch, sizeof scratch);
            if (r.series != want.series || r.sum != want.sum || r.meta != want.meta) abort();
        }
        t = now_ns() - t0;
        if (t > 5e8) {
            report(name, t / (double)iters, (double)(heap_used() - h0) / (double)iters, (double)want.series, (double)len);
            return;
        }
        iters *= 2;
    }
}

/* ---- remote_write ---- */

static void pb_varint(sbuf_t *b, uint64_t v) {
    uint8_t t[10];
    size_t n = 0;
    do {
        t[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v) t[n] |= 0x80;
        n++;
    } while (v);
    sb_add(b, t, n);
}

static void pb_lenfield(sbuf_t *b, unsigned field, const void *d, size_t n) {
    pb_varint(b, (uint64_t)field << 3 | 2);
    pb_varint(b, n);
    sb_add(b, d, n);
}

/* Encodes every series of the text payload as a TimeSeries with n_samples samples. */
static void encode_rw(const char *text, size_t len, int n_samples, sbuf_t *out, size_t *n_series) {
    ingest_label_t labels[64];
    static char scratch[1 << 20];
    ingest_expfmt_parser_t p;
    ingest_expfmt_init(&p, INGEST_EXPFMT_TEXT, text, len, NULL, labels, 64, scratch, sizeof scratch);
    ingest_expfmt_entry_t e;
    *n_series = 0;
    while (ingest_expfmt_next(&p, &e, NULL) > 0) {
        if (e.kind != INGEST_EXPFMT_SERIES) continue;
        sbuf_t ts = {0}, l = {0}, s = {0};
        pb_lenfield(&l, 1, "__name__", 8);
        pb_lenfield(&l, 2, e.name.ptr, e.name.len);
        pb_lenfield(&ts, 1, l.p, l.len);
        for (size_t i = 0; i < e.n_labels; i++) {
            l.len = 0;
            pb_lenfield(&l, 1, e.labels[i].name.ptr, e.labels[i].name.len);
            pb_lenfield(&l, 2, e.labels[i].value.ptr, e.labels[i].value.len);
            pb_lenfield(&ts, 1, l.p, l.len);
        }
        for (int k = 0; k < n_samples; k++) {
            s.len = 0;
            pb_varint(&s, 1 << 3 | 1);
            double v = e.value + k;
            sb_add(&s, &v, 8); /* little-endian host */
            pb_varint(&s, 2 << 3 | 0);
            pb_varint(&s, (uint64_t)(1700000000000 + 15000 * k));
            pb_lenfield(&ts, 2, s.p, s.len);
        }
        pb_lenfield(out, 1, ts.p, ts.len);
        free(ts.p);
        free(l.p);
        free(s.p);
        (*n_series)++;
    }
}

static double decode_once(ingest_rw_reader_t *r, const char *body, size_t len, bool snappy, size_t *n_samples) {
    vg_error_t err;
    int rc = snappy ? ingest_rw_reader_load(r, body, len, &err) : ingest_rw_reader_load_pb(r, body, len, &err);
    if (rc) {
        fprintf(stderr, "decode error: %s\n", err.msg);
        abort();
    }
    ingest_rw_series_t s;
    ingest_rw_sample_t smp;
    double sum = 0;
    size_t n = 0;
    while (ingest_rw_reader_next_series(r, &s)) {
        sum += (double)s.n_labels + (double)s.labels[0].value.len;
        while (ingest_rw_series_next_sample(&s, &smp)) {
            sum += smp.v;
            n++;
        }
    }
    *n_samples = n;
    return sum;
}

static void bench_rw(const char *name, const char *text, size_t tlen, int per_series, bool snappy) {
    sbuf_t pb = {0};
    size_t n_series;
    encode_rw(text, tlen, per_series, &pb, &n_series);
    char *body = pb.p;
    size_t blen = pb.len;
    if (snappy) {
        size_t cap = snappy_max_compressed_length(pb.len);
        body = malloc(cap);
        blen = cap;
        if (snappy_compress(pb.p, pb.len, body, &blen) != SNAPPY_OK) abort();
    }
    ingest_rw_reader_t r;
    ingest_rw_reader_init(&r, NULL);
    size_t want_n;
    double want = decode_once(&r, body, blen, snappy, &want_n);
    if (want_n != n_series * (size_t)per_series || ingest_rw_reader_stats(&r)->n_series != n_series) abort();
    size_t iters = 1;
    for (;;) {
        size_t h0 = heap_used();
        double t0 = now_ns();
        for (size_t i = 0; i < iters; i++) {
            size_t n;
            if (decode_once(&r, body, blen, snappy, &n) != want || n != want_n) abort();
        }
        double t = now_ns() - t0;
        if (t > 5e8) {
            report(name, t / (double)iters, (double)(heap_used() - h0) / (double)iters, (double)want_n, (double)blen);
            break;
        }
        iters *= 2;
    }
    ingest_rw_reader_deinit(&r);
    if (snappy) free(body);
    free(pb.p);
}

int main(int argc, char **argv) {
    sbuf_t text = {0};
    if (argc >= 2) {
        FILE *f = fopen(argv[1], "rb");
        if (!f) {
            perror(argv[1]);
            return 2;
        }
        char tmp[65536];
        size_t n;
        while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) sb_add(&text, tmp, n);
        fclose(f);
    } else {
        generate(&text, 2000);
    }
    /* the OpenMetrics variant: "untyped" is "unknown" there, and the input ends with # EOF */
    sbuf_t om = {0};
    for (const char *s = text.p, *end = text.p + text.len; s < end;) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t n = nl ? (size_t)(nl - s) + 1 : (size_t)(end - s);
        if (n > 7 && !memcmp(s, "# TYPE ", 7) && memmem(s, n, " untyped", 8)) {
            sb_add(&om, s, n - 8 - (nl ? 1 : 0));
            sb_add(&om, " unknown\n", 9);
        } else if (!(n > 1 && s[0] == '#' && memcmp(s, "# HELP ", 7) && memcmp(s, "# TYPE ", 7))) {
            sb_add(&om, s, n);
        }
        s += n;
    }
    sb_add(&om, "# EOF\n", 6);
    printf("payload: %zu bytes (%s)\n", text.len, argc >= 2 ? argv[1] : "built-in generator");
    bench_parse("expfmt_text_node", INGEST_EXPFMT_TEXT, text.p, text.len);
    bench_parse("expfmt_openmetrics_node", INGEST_EXPFMT_OPENMETRICS, om.p, om.len);
    bench_rw("rw_decode_snappy_1spp", text.p, text.len, 1, true);
    bench_rw("rw_decode_snappy_10spp", text.p, text.len, 10, true);
    bench_rw("rw_decode_pb_10spp", text.p, text.len, 10, false);
    free(text.p);
    free(om.p);
    return 0;
}
