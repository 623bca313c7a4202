/* PromQL engine benchmark: the dashboard queries of ../shared/bench/README.md ("The queries") evaluated
 * over synthetic node_exporter-like data (about 1,000 series × 1 h at 15 s) in the in-memory TSDB, each as
 * an instant query at the end of the data and as a range query over the hour at a 15 s step.
 *
 *   bench_promql_engine [SERIES_SCALE]     (default 1; 10 = ten times the instances)
 *
 * One line per case: `name ns/op samples/s series`, where samples/s counts the samples read from storage.
 * Times are CPU time of this thread. Each case checks that its result is not empty. */
#include "promql/engine/promql_engine.h"
#include "tsdb/tsdb.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define T0 1700000000000LL  /* ms */
#define SCRAPE_MS 15000
#define N_SCRAPES 241       /* 1 h */
#define MIN_CPU_NS 300000000ULL
#define MIN_ITERS 3

static const struct {
    const char *name, *query;
} queries[] = {
    {"http_rps_by_job", "sum by (job) (rate(http_requests_total[5m]))"},
    {"http_p99_by_job",
     "histogram_quantile(0.99, sum by (job, le) (rate(http_request_duration_seconds_bucket[5m])))"},
    {"topk_net_rx", "topk(10, sum by (instance) (rate(node_network_receive_bytes_total{device!=\"lo\"}[5m])))"},
    {"load1_avg_over_time", "avg_over_time(node_load1[5m])"},
    {"regex_api_5xx", "sum by (handler) (rate(http_requests_total{handler=~\"/api/v1/.*\",code=~\"5..\"}[5m]))"},
    {"count_by_job_mode", "count by (job, mode) (node_cpu_seconds_total)"},
    {"cpu_util_by_instance", "100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{mode=\"idle\"}[5m])))"},
    {"mem_used_ratio", "1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes"},
    {"error_ratio_by_job",
     "sum by (job) (rate(http_requests_total{code=~\"5..\"}[5m])) / sum by (job) (rate(http_requests_total[5m]))"},
    {"disk_used_ratio", "max by (instance, mountpoint) (1 - node_filesystem_avail_bytes{fstype!~\"tmpfs|overlay\"} "
                        "/ node_filesystem_size_bytes{fstype!~\"tmpfs|overlay\"})"},
};

static void die(const char *what, const vg_error_t *err) {
    fprintf(stderr, "bench_promql_engine: %s: %s\n", what, err ? err->msg : "");
    exit(1);
}

static uint64_t cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rng = 88172645463325252ULL;
static double rnd(void) { /* xorshift64, [0, 1) */
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

typedef struct gen {
    storage_appender_t *app;
    vg_error_t err;
    size_t n_series;
} gen_t;

/* One series: counter (increasing by rate*15s with noise) or gauge (around base). */
static void series(gen_t *g, model_label_t *l, size_t n, double base, double rate, bool counter) {
    double v = base;
    for (int i = 0; i < N_SCRAPES; i++) {
        if (counter) v += rate * SCRAPE_MS / 1000 * (0.5 + rnd());
        else v = base * (0.8 + 0.4 * rnd());
        if (storage_append(g->app, l, n, T0 + (int64_t)i * SCRAPE_MS, v, NULL, &g->err) != 0) die("append", &g->err);
    }
    g->n_series++;
}

static void generate(tsdb_db_t *db, int scale, gen_t *g) {
    if (tsdb_db_appender(db, &g->app, &g->err) < 0) die("appender", &g->err);
    static const char *jobs[] = {"api", "web"};
    static const char *handlers[] = {"/api/v1/query", "/api/v1/series", "/", "/metrics"};
    static const char *codes[] = {"200", "404", "500"};
    static const char *les[] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"};
    static const char *modes[] = {"idle", "user", "system", "iowait", "irq", "softirq", "steal", "nice"};
    static const char *devices[] = {"eth0", "eth1", "lo"};
    static const struct {
        const char *mp, *fs;
    } mounts[] = {{"/", "ext4"}, {"/home", "ext4"}, {"/run", "tmpfs"}, {"/var/lib/docker", "overlay"}};
    char inst[32], cpu[8];
    int n_inst = 10 * scale;
    for (int i = 0; i < n_inst; i++) {
        snprintf(inst, sizeof inst, "host-%d:9100", i);
        const char *job = jobs[i % 2];
        for (size_t h = 0; h < 4; h++)
            for (size_t c = 0; c < 3; c++) {
                model_label_t l[] = {{"__name__", "http_requests_total"}, {"code", codes[c]}, {"handler", handlers[h]},
                                     {"instance", inst}, {"job", job}};
                series(g, l, 5, 1000, c == 0 ? 50 : 2, true);
            }
        for (size_t b = 0; b < 10; b++) {
            model_label_t l[] = {{"__name__", "http_request_duration_seconds_bucket"}, {"instance", inst},
                                 {"job", job}, {"le", les[b]}};
            series(g, l, 4, 100, 5.0 * (double)(b + 1), true);
        }
        for (size_t d = 0; d < 3; d++) {
            model_label_t l[] = {{"__name__", "node_network_receive_bytes_total"}, {"device", devices[d]},
                                 {"instance", inst}, {"job", "node"}};
            series(g, l, 4, 1e9, 1e5, true);
        }
        model_label_t l1[] = {{"__name__", "node_load1"}, {"instance", inst}, {"job", "node"}};
        series(g, l1, 3, 2, 0, false);
        for (int c = 0; c < 8; c++) {
            snprintf(cpu, sizeof cpu, "%d", c);
            for (size_t m = 0; m < 8; m++) {
                model_label_t l[] = {{"__name__", "node_cpu_seconds_total"}, {"cpu", cpu}, {"instance", inst},
                                     {"job", "node"}, {"mode", modes[m]}};
                series(g, l, 5, 1e5, m == 0 ? 0.8 : 0.03, true);
            }
        }
        model_label_t ma[] = {{"__name__", "node_memory_MemAvailable_bytes"}, {"instance", inst}, {"job", "node"}};
        series(g, ma, 3, 4e9, 0, false);
        model_label_t mt[] = {{"__name__", "node_memory_MemTotal_bytes"}, {"instance", inst}, {"job", "node"}};
        series(g, mt, 3, 16e9, 0, false);
        for (size_t m = 0; m < 4; m++) {
            model_label_t la[] = {{"__name__", "node_filesystem_avail_bytes"}, {"fstype", mounts[m].fs},
                                  {"instance", inst}, {"job", "node"}, {"mountpoint", mounts[m].mp}};
            series(g, la, 5, 5e10, 0, false);
            model_label_t ls[] = {{"__name__", "node_filesystem_size_bytes"}, {"fstype", mounts[m].fs},
                                  {"instance", inst}, {"job", "node"}, {"mountpoint", mounts[m].mp}};
            series(g, ls, 5, 1e11, 0, false);
        }
        if (storage_commit(g->app, &g->err) < 0) die("commit", &g->err);
    }
    storage_appender_free(g->app);
}

static int open_q(void *ctx, int64_t mint, int64_t maxt, storage_querier_t **out, vg_error_t *err) {
    return tsdb_db_querier(ctx, mint, maxt, out, err);
}

int main(int argc, char **argv) {
    int scale = argc > 1 ? atoi(argv[1]) : 1;
    if (scale < 1) scale = 1;
    vg_error_t err;
    tsdb_options_t o;
    tsdb_options_default(&o);
    o.path = NULL;
    o.retention_ms = 0;
    o.out_of_bounds_ms = 0;
    o.register_metrics = false;
    tsdb_db_t *db;
    if (tsdb_db_open(&o, &db, &err) < 0) die("open", &err);
    gen_t g = {0};
    generate(db, scale, &g);
    promql_engine_t *eng;
    if (promql_engine_new(NULL, &eng, &err) < 0) die("engine", &err);
    promql_queryable_t qb = {open_q, db};
    int64_t end = T0 + (int64_t)(N_SCRAPES - 1) * SCRAPE_MS, start = end - 3600 * 1000;
    printf("# %zu series x %d samples (15 s), instant at the end, range 1 h step 15 s\n", g.n_series, N_SCRAPES);
    vg_arena_t a;
    vg_arena_init(&a, 1 << 20);
    for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++)
        for (int range = 0; range < 2; range++) {
            uint64_t total = 0, samples = 0;
            int iters = 0;
            size_t n_series = 0;
            while (iters < MIN_ITERS || total < MIN_CPU_NS) {
                vg_arena_reset(&a);
                uint64_t t0 = cpu_ns();
                promql_node_t *expr;
                if (promql_parse(queries[i].query, strlen(queries[i].query), &a, &expr, &err) < 0)
                    die(queries[i].name, &err);
                promql_result_t *r;
                int rc = range ? promql_exec_range(eng, &qb, expr, start, end, SCRAPE_MS, &a, &r, &err)
                               : promql_exec_instant(eng, &qb, expr, end, &a, &r, &err);
                total += cpu_ns() - t0;
                if (rc < 0) die(queries[i].name, &err);
                if (r->n_series == 0) die(queries[i].name, NULL);
                samples += r->samples_read;
                n_series = r->n_series;
                iters++;
            }
            double ns = (double)total / iters;
            printf("%s/%s %.0f ns/op %.0f samples/s %zu series\n", queries[i].name, range ? "range" : "instant", ns,
                   (double)samples / ((double)total / 1e9), n_series);
        }
    vg_arena_deinit(&a);
    promql_engine_free(eng);
    tsdb_db_close(db);
    return 0;
}
