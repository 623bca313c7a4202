/* ingest OTLP: the protobuf decoder on bytes from an independent encoder written here (every metric
 * type, packed and unpacked repeated scalars, attributes of every AnyValue kind, stale flag, NaN,
 * timestamps), the JSON decoder on the same request, gzip (round trip, bomb, corruption), the
 * translation table of names, units and labels (the cases are written from Prometheus' OTLP rules),
 * job/instance/target_info, errors with byte offsets or JSON paths, and every limit. */
#include "ingest/otlp.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pb_testutil.h"
#include <zlib.h>

/* KeyValue with a string value */
static void kv_str(pb_t *b, uint32_t f, const char *k, const char *v) {
    pb_t kv = {0}, av = {0};
    pb_str(&kv, 1, k);
    pb_str(&av, 1, v);
    pb_msg(&kv, 2, &av);
    pb_msg(b, f, &kv);
}
/* KeyValue with a prepared AnyValue */
static void kv_any(pb_t *b, uint32_t f, const char *k, pb_t *av) {
    pb_t kv = {0};
    pb_str(&kv, 1, k);
    pb_msg(&kv, 2, av);
    pb_msg(b, f, &kv);
}

#define T0 UINT64_C(1700000000123456789) /* ns; 1700000000123 ms */

/* One request: resource {service.name=api, service.namespace=shop, service.instance.id=i-1, host.name=h},
 * scope, and the metrics given as encoded Metric messages. */
static void request(pb_t *out, pb_t *metrics, size_t n) {
    pb_t res = {0}, rm = {0}, sm = {0}, scope = {0};
    kv_str(&res, 1, "service.name", "api");
    kv_str(&res, 1, "service.namespace", "shop");
    kv_str(&res, 1, "service.instance.id", "i-1");
    kv_str(&res, 1, "host.name", "h");
    pb_msg(&rm, 1, &res);
    pb_str(&scope, 1, "lib");
    pb_str(&scope, 2, "1.0");
    pb_msg(&sm, 1, &scope);
    for (size_t i = 0; i < n; i++) pb_msg(&sm, 2, &metrics[i]);
    pb_msg(&rm, 2, &sm);
    pb_msg(out, 1, &rm);
}

/* ---- collecting samples ---- */

typedef struct {
    char text[64][512]; /* "name{l="v",...} value @ms" with labels sorted */
    size_t n;
    uint64_t bits[64];
    size_t point[64];
} got_t;

static int collect(void *ctx, size_t point, const model_label_t *ls, size_t n, int64_t t, double v) {
    got_t *g = ctx;
    assert_true(g->n < 64);
    model_label_t sorted[64];
    assert_true(n <= 64);
    memcpy(sorted, ls, n * sizeof *ls);
    model_labels_sort(sorted, n);
    char lb[480];
    size_t k = 0;
    lb[k++] = '{';
    for (size_t i = 0; i < n; i++)
        k += (size_t)snprintf(lb + k, sizeof lb - k, "%s%s=\"%s\"", i ? ", " : "", sorted[i].name, sorted[i].value);
    assert_true(k + 2 < sizeof lb);
    lb[k++] = '}';
    lb[k] = 0;
    snprintf(g->text[g->n], sizeof g->text[0], "%s %.17g @%lld", lb, v, (long long)t);
    memcpy(&g->bits[g->n], &v, 8);
    g->point[g->n] = point;
    g->n++;
    return 0;
}

static void assert_has(const got_t *g, const char *want) {
    for (size_t i = 0; i < g->n; i++)
        if (!strcmp(g->text[i], want)) return;
    for (size_t i = 0; i < g->n; i++) print_message("  got: %s\n", g->text[i]);
    fail_msg("missing sample: %s", want);
}

static int decode_translate(const pb_t *b, got_t *g, ingest_otlp_rejects_t *rej) {
    vg_arena_t a;
    vg_arena_init(&a, 4096);
    ingest_otlp_request_t *req;
    vg_error_t err;
    memset(g, 0, sizeof *g);
    int rc = ingest_otlp_decode_pb(b->p, b->len, NULL, &a, &req, &err);
    if (!rc) assert_int_equal(ingest_otlp_translate(req, &a, collect, g, rej), 0);
    vg_arena_deinit(&a);
    return rc;
}

/* ---- every metric type ---- */

static void metric_types(void **state) {
    (void)state;
    pb_t m[6] = {{0}};
    /* gauge: double and int points, unit By */
    pb_t g = {0}, dp = {0};
    pb_str(&m[0], 1, "process.memory.usage");
    pb_str(&m[0], 3, "By");
    kv_str(&dp, 7, "memory.type", "heap");
    pb_fixed64(&dp, 3, T0);
    pb_double(&dp, 4, 1234.5);
    pb_msg(&g, 1, &dp);
    kv_str(&dp, 7, "memory.type", "stack");
    pb_fixed64(&dp, 3, T0);
    pb_fixed64(&dp, 6, (uint64_t)(int64_t)-7);
    pb_msg(&g, 1, &dp);
    pb_msg(&m[0], 5, &g);
    /* sum: monotonic cumulative, unit s, name already ends in total */
    pb_t s = {0};
    pb_str(&m[1], 1, "cpu.total.time");
    pb_str(&m[1], 3, "s");
    pb_fixed64(&dp, 3, T0);
    pb_double(&dp, 4, 42.5);
    pb_msg(&s, 1, &dp);
    pb_uint(&s, 2, 2);
    pb_uint(&s, 3, 1);
    pb_msg(&m[1], 7, &s);
    /* histogram: buckets packed, bounds unpacked, with sum */
    pb_t h = {0}, packed = {0};
    pb_str(&m[2], 1, "http.server.duration");
    pb_str(&m[2], 3, "ms");
    kv_str(&dp, 9, "route", "/a");
    pb_fixed64(&dp, 3, T0);
    pb_fixed64(&dp, 4, 6);
    pb_double(&dp, 5, 321.5);
    pb_le64(&packed, 1);
    pb_le64(&packed, 2);
    pb_le64(&packed, 0);
    pb_le64(&packed, 3);
    pb_msg(&dp, 6, &packed);
    pb_double(&dp, 7, 10);
    pb_double(&dp, 7, 100.5);
    pb_double(&dp, 7, 1e3);
    pb_msg(&h, 1, &dp);
    pb_uint(&h, 2, 2);
    pb_msg(&m[2], 9, &h);
    /* summary */
    pb_t su = {0}, q = {0};
    pb_str(&m[3], 1, "rpc.latency");
    pb_fixed64(&dp, 3, T0);
    pb_fixed64(&dp, 4, 10);
    pb_double(&dp, 5, 5.5);
    pb_double(&q, 1, 0.5);
    pb_double(&q, 2, 0.25);
    pb_msg(&dp, 6, &q);
    pb_double(&q, 1, 0.99);
    pb_double(&q, 2, 1.75);
    pb_msg(&dp, 6, &q);
    pb_msg(&su, 1, &dp);
    pb_msg(&m[3], 11, &su);
    /* up-down counter: non-monotonic cumulative sum, {item} unit dropped */
    pb_str(&m[4], 1, "queue.items");
    pb_str(&m[4], 3, "{item}");
    pb_fixed64(&dp, 3, T0);
    pb_fixed64(&dp, 6, 5);
    pb_msg(&s, 1, &dp);
    pb_uint(&s, 2, 2);
    pb_msg(&m[4], 7, &s);
    /* gauge of unit 1 with the stale flag */
    pb_str(&m[5], 1, "cpu.utilization");
    pb_str(&m[5], 3, "1");
    pb_fixed64(&dp, 3, T0 + 1000000);
    pb_double(&dp, 4, 0.5);
    pb_uint(&dp, 8, 1);
    pb_msg(&g, 1, &dp);
    pb_msg(&m[5], 5, &g);
    pb_t req = {0};
    request(&req, m, 6);
    got_t got;
    ingest_otlp_rejects_t rej;
    assert_int_equal(decode_translate(&req, &got, &rej), 0);
    assert_int_equal(rej.points, 0);
    const char *want[] = {
        "{__name__=\"process_memory_usage_bytes\", instance=\"i-1\", job=\"shop/api\", memory_type=\"heap\"} 1234.5 @1700000000123",
        "{__name__=\"process_memory_usage_bytes\", instance=\"i-1\", job=\"shop/api\", memory_type=\"stack\"} -7 @1700000000123",
        "{__name__=\"cpu_time_seconds_total\", instance=\"i-1\", job=\"shop/api\"} 42.5 @1700000000123",
        "{__name__=\"http_server_duration_milliseconds_sum\", instance=\"i-1\", job=\"shop/api\", route=\"/a\"} 321.5 @1700000000123",
        "{__name__=\"http_server_duration_milliseconds_count\", instance=\"i-1\", job=\"shop/api\", route=\"/a\"} 6 @1700000000123",
        "{__name__=\"http_server_duration_milliseconds_bucket\", instance=\"i-1\", job=\"shop/api\", le=\"10\", route=\"/a\"} 1 @1700000000123",
        "{__name__=\"http_server_duration_milliseconds_bucket\", instance=\"i-1\", job=\"shop/api\", le=\"100.5\", route=\"/a\"} 3 @1700000000123",
        "{__name__=\"http_server_duration_milliseconds_bucket\", instance=\"i-1\", job=\"shop/api\", le=\"1000\", route=\"/a\"} 3 @1700000000123",
        "{__name__=\"http_server_duration_milliseconds_bucket\", instance=\"i-1\", job=\"shop/api\", le=\"+Inf\", route=\"/a\"} 6 @1700000000123",
        "{__name__=\"rpc_latency_sum\", instance=\"i-1\", job=\"shop/api\"} 5.5 @1700000000123",
        "{__name__=\"rpc_latency_count\", instance=\"i-1\", job=\"shop/api\"} 10 @1700000000123",
        "{__name__=\"rpc_latency\", instance=\"i-1\", job=\"shop/api\", quantile=\"0.5\"} 0.25 @1700000000123",
        "{__name__=\"rpc_latency\", instance=\"i-1\", job=\"shop/api\", quantile=\"0.99\"} 1.75 @1700000000123",
        "{__name__=\"queue_items\", instance=\"i-1\", job=\"shop/api\"} 5 @1700000000123",
        "{__name__=\"target_info\", host_name=\"h\", instance=\"i-1\", job=\"shop/api\"} 1 @1700000000124",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) assert_has(&got, want[i]);
    /* the stale point: the staleness marker's bits */
    size_t k = 0;
    for (; k < got.n && !strstr(got.text[k], "cpu_utilization_ratio"); k++) {}
    assert_true(k < got.n);
    assert_true(got.bits[k] == UINT64_C(0x7ff0000000000002));
    assert_int_equal(got.n, sizeof want / sizeof want[0] + 1);
    /* data points are numbered; target_info is point 0 */
    assert_int_equal(got.point[0], 1);
    assert_int_equal(got.point[1], 2);
    assert_int_equal(got.point[got.n - 1], 0);
    free(req.p);
}

/* delta sums/histograms and exponential histograms are rejected per data point with a reason */
static void rejected_kinds(void **state) {
    (void)state;
    pb_t m[3] = {{0}}, s = {0}, dp = {0};
    pb_str(&m[0], 1, "d");
    pb_fixed64(&dp, 3, T0);
    pb_double(&dp, 4, 1);
    pb_msg(&s, 1, &dp);
    pb_fixed64(&dp, 3, T0);
    pb_double(&dp, 4, 2);
    pb_msg(&s, 1, &dp);
    pb_uint(&s, 2, 1); /* delta */
    pb_msg(&m[0], 7, &s);
    pb_str(&m[1], 1, "e");
    pb_t eh = {0};
    pb_fixed64(&dp, 3, T0);
    pb_fixed64(&dp, 4, 3);
    pb_msg(&eh, 1, &dp);
    pb_uint(&eh, 2, 2);
    pb_msg(&m[1], 10, &eh);
    pb_str(&m[2], 1, "...");
    pb_fixed64(&dp, 3, T0);
    pb_double(&dp, 4, 1);
    pb_msg(&s, 1, &dp);
    pb_msg(&m[2], 5, &s);
    pb_t req = {0};
    request(&req, m, 3);
    got_t got;
    ingest_otlp_rejects_t rej;
    assert_int_equal(decode_translate(&req, &got, &rej), 0);
    assert_int_equal(rej.points, 4);
    assert_int_equal(rej.delta, 2);
    assert_int_equal(rej.exp_histogram, 1);
    assert_int_equal(rej.no_name, 1);
    assert_string_equal(rej.first, "metric \"d\": only cumulative temporality is supported for sums and histograms (delta or "
                                   "unspecified is rejected)");
    assert_int_equal(got.n, 1); /* target_info only */
    assert_non_null(strstr(got.text[0], "target_info"));
    free(req.p);
}

/* ---- attributes of every AnyValue kind ---- */

static void any_values(void **state) {
    (void)state;
    pb_t m = {0}, g = {0}, dp = {0}, av = {0}, arr = {0}, el = {0}, kvl = {0};
    pb_str(&m, 1, "x");
    pb_fixed64(&dp, 3, T0);
    pb_double(&dp, 4, 1);
    kv_str(&dp, 7, "s", "text");
    pb_uint(&av, 2, 1);
    kv_any(&dp, 7, "b", &av);
    pb_uint(&av, 3, (uint64_t)(int64_t)-42);
    kv_any(&dp, 7, "i", &av);
    pb_double(&av, 4, 0.5);
    kv_any(&dp, 7, "d", &av);
    pb_double(&av, 4, 1e-7);
    kv_any(&dp, 7, "dsmall", &av);
    pb_double(&av, 4, 1e21);
    kv_any(&dp, 7, "dbig", &av);
    pb_bytes(&av, 7, "\x01\x02\xff", 3);
    kv_any(&dp, 7, "by", &av);
    pb_str(&el, 1, "a<b");
    pb_msg(&arr, 1, &el);
    pb_uint(&el, 3, 7);
    pb_msg(&arr, 1, &el);
    pb_uint(&el, 2, 0);
    pb_msg(&arr, 1, &el);
    pb_msg(&arr, 1, &el); /* empty AnyValue → null */
    pb_msg(&av, 5, &arr);
    kv_any(&dp, 7, "arr", &av);
    kv_str(&kvl, 1, "z", "1");
    kv_str(&kvl, 1, "a", "q\"\n");
    pb_msg(&av, 6, &kvl);
    kv_any(&dp, 7, "kv", &av);
    kv_any(&dp, 7, "empty", &av); /* AnyValue with nothing set */
    kv_str(&dp, 7, "9lives", "x");
    kv_str(&dp, 7, "_hidden", "y");
    kv_str(&dp, 7, "__keep", "z");
    kv_str(&dp, 7, "a.b", "1");
    kv_str(&dp, 7, "a-b", "2"); /* sanitizes to a_b as well: joined with ; in key order */
    kv_str(&dp, 7, "\xc3\xa9t\xc3\xa9", "u");
    pb_msg(&g, 1, &dp);
    pb_msg(&m, 5, &g);
    pb_t req = {0};
    request(&req, &m, 1);
    got_t got;
    ingest_otlp_rejects_t rej;
    assert_int_equal(decode_translate(&req, &got, &rej), 0);
    const char *want = "{__keep=\"z\", __name__=\"x\", a_b=\"2;1\", arr=\"[\"a\\u003cb\",7,false,null]\", b=\"true\", "
                       "by=\"AQL/\", d=\"0.5\", dbig=\"1e+21\", dsmall=\"1e-7\", empty=\"\", i=\"-42\", instance=\"i-1\", "
                       "job=\"shop/api\", key_9lives=\"x\", key_hidden=\"y\", key_t_=\"u\", "
                       "kv=\"{\"a\":\"q\\\"\\n\",\"z\":\"1\"}\", s=\"text\"} 1 @1700000000123";
    assert_has(&got, want);
    free(req.p);
}

/* ---- names, units, labels: the translation table ---- */

static void name_table(void **state) {
    (void)state;
    static const struct {
        const char *name, *unit;
        ingest_otlp_type_t type;
        bool mono;
        const char *want;
    } cases[] = {
        {"http.server.duration", "s", INGEST_OTLP_HISTOGRAM, false, "http_server_duration_seconds"},
        {"system.network.io", "By", INGEST_OTLP_SUM, true, "system_network_io_bytes_total"},
        {"requests", "{request}", INGEST_OTLP_SUM, true, "requests_total"},
        {"requests.total", "", INGEST_OTLP_SUM, true, "requests_total"},
        {"total.requests", "", INGEST_OTLP_SUM, true, "requests_total"},
        {"cpu.utilization", "1", INGEST_OTLP_GAUGE, false, "cpu_utilization_ratio"},
        {"cpu.utilization", "1", INGEST_OTLP_SUM, false, "cpu_utilization"},
        {"ratio.of.x", "1", INGEST_OTLP_GAUGE, false, "of_x_ratio"},
        {"throughput", "By/s", INGEST_OTLP_GAUGE, false, "throughput_bytes_per_second"},
        {"speed", "m/h", INGEST_OTLP_GAUGE, false, "speed_meters_per_hour"},
        {"rate", "1/s", INGEST_OTLP_GAUGE, false, "rate_per_second"},
        {"events", "{event}/s", INGEST_OTLP_GAUGE, false, "events_per_second"},
        {"files", "foo/{x}", INGEST_OTLP_GAUGE, false, "files_foo"},
        {"latency.seconds", "s", INGEST_OTLP_GAUGE, false, "latency_seconds"},
        {"temp", "Cel", INGEST_OTLP_GAUGE, false, "temp_celsius"},
        {"disk", "%", INGEST_OTLP_GAUGE, false, "disk_percent"},
        {"mem", "MiBy", INGEST_OTLP_GAUGE, false, "mem_mebibytes"},
        {"custom", "widgets", INGEST_OTLP_GAUGE, false, "custom_widgets"},
        {"custom", " s ", INGEST_OTLP_GAUGE, false, "custom_seconds"},
        {"2xx.count", "", INGEST_OTLP_GAUGE, false, "_2xx_count"},
        {"a__b..c", "", INGEST_OTLP_GAUGE, false, "a_b_c"},
        {"app:requests", "", INGEST_OTLP_GAUGE, false, "app_requests"},
        {"caf\xc3\xa9.hits", "", INGEST_OTLP_GAUGE, false, "caf_hits"},
        {"...", "", INGEST_OTLP_GAUGE, false, ""},
        {"", "s", INGEST_OTLP_GAUGE, false, "seconds"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[128];
        ingest_str_t n = {cases[i].name, strlen(cases[i].name)}, u = {cases[i].unit, strlen(cases[i].unit)};
        size_t len = ingest_otlp_metric_name(n, u, cases[i].type, cases[i].mono, out, sizeof out);
        if (strcmp(out, cases[i].want)) fail_msg("name %s unit %s: got %s want %s", cases[i].name, cases[i].unit, out, cases[i].want);
        assert_int_equal(len, strlen(cases[i].want));
    }
    static const char *const labels[][2] = {
        {"http.method", "http_method"}, {"9lives", "key_9lives"}, {"_x", "key_x"},     {"__x", "__x"},
        {".x", "key_x"},                {"..x", "__x"},           {"a-b c", "a_b_c"}, {"k8s.pod.name", "k8s_pod_name"},
        {"caf\xc3\xa9", "caf_"},        {"a:b", "a_b"},
    };
    for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++) {
        char out[64];
        ingest_otlp_label_name((ingest_str_t){labels[i][0], strlen(labels[i][0])}, out, sizeof out);
        if (strcmp(out, labels[i][1])) fail_msg("label %s: got %s want %s", labels[i][0], out, labels[i][1]);
    }
    char small[8];
    assert_int_equal(ingest_otlp_metric_name((ingest_str_t){"abcdefghij", 10}, (ingest_str_t){"", 0}, INGEST_OTLP_GAUGE,
                                             false, small, sizeof small),
                     10);
    assert_string_equal(small, "abcdefg");
}

/* ---- JSON: the same content gives the same samples ---- */

static void json_request(void **state) {
    (void)state;
    const char *js =
        "{\"resourceMetrics\":[{\"resource\":{\"attributes\":["
        "{\"key\":\"service.name\",\"value\":{\"stringValue\":\"api\"}},"
        "{\"key\":\"service.instance.id\",\"value\":{\"stringValue\":\"i-1\"}}]},"
        "\"scopeMetrics\":[{\"scope\":{\"name\":\"lib\"},\"metrics\":["
        "{\"name\":\"requests\",\"unit\":\"{request}\",\"sum\":{\"aggregationTemporality\":2,\"isMonotonic\":true,"
        "\"dataPoints\":[{\"attributes\":[{\"key\":\"code\",\"value\":{\"intValue\":\"200\"}},"
        "{\"key\":\"raw\",\"value\":{\"bytesValue\":\"AQL/\"}}],"
        "\"timeUnixNano\":\"1700000000123456789\",\"asInt\":\"9007199254740993\"}]}},"
        "{\"name\":\"lat\",\"unit\":\"s\",\"histogram\":{\"aggregationTemporality\":\"AGGREGATION_TEMPORALITY_CUMULATIVE\","
        "\"dataPoints\":[{\"timeUnixNano\":1700000000123456789,\"count\":\"3\",\"sum\":1.5,"
        "\"bucketCounts\":[\"1\",\"2\"],\"explicitBounds\":[0.25],\"flags\":0}]}},"
        "{\"name\":\"g\",\"gauge\":{\"data_points\":[{\"time_unix_nano\":\"1700000000123456789\",\"as_double\":\"NaN\"}]}},"
        "{\"name\":\"s\",\"summary\":{\"dataPoints\":[{\"timeUnixNano\":\"1700000000123456789\",\"count\":\"2\",\"sum\":3,"
        "\"quantileValues\":[{\"quantile\":0.5,\"value\":1}]}]}}"
        "]}]}],\"unknownField\":{\"x\":[1,2]}}";
    vg_arena_t a;
    vg_arena_init(&a, 4096);
    ingest_otlp_request_t *req;
    vg_error_t err;
    assert_int_equal(ingest_otlp_decode_json(js, strlen(js), NULL, &a, &req, &err), 0);
    assert_int_equal(req->n_points, 4);
    got_t got = {.n = 0};
    ingest_otlp_rejects_t rej;
    assert_int_equal(ingest_otlp_translate(req, &a, collect, &got, &rej), 0);
    assert_has(&got, "{__name__=\"requests_total\", code=\"200\", instance=\"i-1\", job=\"api\", raw=\"AQL/\"} 9007199254740992 @1700000000123");
    assert_has(&got, "{__name__=\"lat_seconds_bucket\", instance=\"i-1\", job=\"api\", le=\"0.25\"} 1 @1700000000123");
    assert_has(&got, "{__name__=\"lat_seconds_bucket\", instance=\"i-1\", job=\"api\", le=\"+Inf\"} 3 @1700000000123");
    assert_has(&got, "{__name__=\"lat_seconds_sum\", instance=\"i-1\", job=\"api\"} 1.5 @1700000000123");
    assert_has(&got, "{__name__=\"s\", instance=\"i-1\", job=\"api\", quantile=\"0.5\"} 1 @1700000000123");
    /* a NaN value that is not the stale flag is an ordinary NaN */
    for (size_t i = 0; i < got.n; i++)
        if (strstr(got.text[i], "\"g\"")) assert_true(got.bits[i] == UINT64_C(0x7ff8000000000001));
    /* only job/instance identifying attributes: no target_info */
    for (size_t i = 0; i < got.n; i++) assert_null(strstr(got.text[i], "target_info"));
    vg_arena_deinit(&a);
}

static void json_errors(void **state) {
    (void)state;
    static const struct {
        const char *in;
        int code;
        const char *msg;
    } cases[] = {
        {"{\"resourceMetrics\":[", VG_EINVAL, "json: "},
        {"[]", VG_EINVAL, "json: (request): expected an object"},
        {"{\"resourceMetrics\":{}}", VG_EINVAL, "json: resourceMetrics: expected an array"},
        {"{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[{\"name\":\"x\",\"gauge\":{\"dataPoints\":[{\"asInt\":\"seven\"}]}}]}]}]}",
         VG_EINVAL, "json: resourceMetrics[0].scopeMetrics[0].metrics[0].gauge.dataPoints[0].asInt: expected an integer string, got \"seven\""},
        {"{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[{\"name\":\"x\",\"sum\":{\"dataPoints\":[{\"timeUnixNano\":\"-1\"}]}}]}]}]}",
         VG_EINVAL, "json: resourceMetrics[0].scopeMetrics[0].metrics[0].sum.dataPoints[0].timeUnixNano: expected an unsigned integer string, got \"-1\""},
        {"{\"resourceMetrics\":[{\"resource\":{\"attributes\":[{\"key\":\"k\",\"value\":{\"bytesValue\":\"!!\"}}]}}]}", VG_EINVAL,
         "json: resourceMetrics[0].resource.attributes[0].value.bytesValue: invalid base64 character at index 0"},
        {"{\"a\":1,\"a\":2}", VG_EINVAL, "json: duplicate object key"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vg_arena_t a;
        vg_arena_init(&a, 4096);
        ingest_otlp_request_t *req = (void *)1;
        vg_error_t err;
        int rc = ingest_otlp_decode_json(cases[i].in, strlen(cases[i].in), NULL, &a, &req, &err);
        if (rc != cases[i].code || strncmp(err.msg, cases[i].msg, strlen(cases[i].msg)))
            fail_msg("case %zu: rc %d msg %s", i, rc, err.msg);
        assert_null(req);
        vg_arena_deinit(&a);
    }
    /* a syntax error names its byte offset */
    vg_arena_t a;
    vg_arena_init(&a, 4096);
    ingest_otlp_request_t *req;
    vg_error_t err;
    assert_int_equal(ingest_otlp_decode_json("{\"x\": tru}", 10, NULL, &a, &req, &err), VG_EINVAL);
    assert_non_null(strstr(err.msg, "at offset"));
    assert_true(err.pos >= 6 && err.pos <= 9);
    vg_arena_deinit(&a);
}

/* ---- protobuf errors with byte offsets ---- */

static void pb_errors(void **state) {
    (void)state;
    static const struct {
        const char *in;
        size_t len;
        int code;
        const char *msg;
        long pos;
    } cases[] = {
        {"\x0a", 1, VG_EINVAL, "protobuf: truncated varint at offset 1", 1},
        {"\x0a\x05\x0a\x03", 4, VG_EINVAL, "protobuf: length 5 runs past the end of its message (2 bytes left) at offset 1", 1},
        {"\x08\x01", 2, VG_EINVAL, "protobuf: field 1 (ExportMetricsServiceRequest.resource_metrics) has wire type 0, want 2 at offset 0", 0},
        {"\x0a\x02\x0a\x00\x00", 5, VG_EINVAL, "protobuf: invalid field number 0 at offset 4", 4},
        {"\x0a\x04\x12\x02\x12\x01", 6, VG_EINVAL, "protobuf: length 1 runs past the end of its message (0 bytes left) at offset 5", 5},
        {"\x0f", 1, VG_EINVAL, "protobuf: invalid wire type 7 of field 1 at offset 0", 0},
        {"\x14", 1, VG_EINVAL, "protobuf: end of group 2 without a start at offset 0", 0},
        {"\x0c", 1, VG_EINVAL, "protobuf: field 1 (ExportMetricsServiceRequest.resource_metrics) has wire type 4, want 2 at offset 0", 0},
        {"\x1b\x08\x01", 3, VG_EINVAL, "protobuf: unterminated group 3 at offset 3", 3},
        {"\x0a\x06\x12\x04\x12\x02\xa1\x01", 8, VG_EINVAL, "protobuf: truncated fixed64 at offset 8", 8},
        {"\x0a\x05\x12\x03\x12\x01\x29", 7, VG_EINVAL, "protobuf: field 5 (Metric.gauge) has wire type 1, want 2 at offset 6", 6},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vg_arena_t a;
        vg_arena_init(&a, 4096);
        ingest_otlp_request_t *req = (void *)1;
        vg_error_t err;
        int rc = ingest_otlp_decode_pb(cases[i].in, cases[i].len, NULL, &a, &req, &err);
        if (rc != cases[i].code || strcmp(err.msg, cases[i].msg) || err.pos != cases[i].pos)
            fail_msg("case %zu: rc %d msg \"%s\" pos %ld", i, rc, err.msg, err.pos);
        assert_null(req);
        vg_arena_deinit(&a);
    }
}

/* every prefix of a valid request decodes or fails cleanly */
static void truncations(void **state) {
    (void)state;
    pb_t m = {0}, g = {0}, dp = {0}, req = {0};
    pb_str(&m, 1, "x");
    kv_str(&dp, 7, "k", "v");
    pb_fixed64(&dp, 3, T0);
    pb_double(&dp, 4, 1);
    pb_msg(&g, 1, &dp);
    pb_msg(&m, 5, &g);
    request(&req, &m, 1);
    for (size_t n = 0; n < req.len; n++) {
        uint8_t *cut = malloc(n ? n : 1);
        memcpy(cut, req.p, n);
        vg_arena_t a;
        vg_arena_init(&a, 4096);
        ingest_otlp_request_t *r;
        vg_error_t err;
        int rc = ingest_otlp_decode_pb(cut, n, NULL, &a, &r, &err);
        assert_true(rc == 0 || rc == VG_EINVAL);
        if (rc) assert_true(err.pos >= 0 && (size_t)err.pos <= n);
        vg_arena_deinit(&a);
        free(cut);
    }
    free(req.p);
}

/* ---- limits ---- */

static int decode_lim(const pb_t *b, const ingest_otlp_limits_t *lim, vg_error_t *err) {
    vg_arena_t a;
    vg_arena_init(&a, 4096);
    ingest_otlp_request_t *r;
    int rc = ingest_otlp_decode_pb(b->p, b->len, lim, &a, &r, err);
    vg_arena_deinit(&a);
    return rc;
}

static void limits(void **state) {
    (void)state;
    pb_t m = {0}, g = {0}, dp = {0}, req = {0}, av = {0}, inner = {0};
    pb_str(&m, 1, "x");
    for (int i = 0; i < 3; i++) {
        kv_str(&dp, 7, "k1", "v");
        kv_str(&dp, 7, "k2", "vvvvvvvvvv");
        pb_fixed64(&dp, 3, T0);
        pb_msg(&g, 1, &dp);
    }
    pb_msg(&m, 5, &g);
    request(&req, &m, 1);
    vg_error_t err;
    ingest_otlp_limits_t lim = INGEST_OTLP_LIMITS_DEFAULT;
    assert_int_equal(decode_lim(&req, &lim, &err), 0);
    lim.max_points = 2;
    assert_int_equal(decode_lim(&req, &lim, &err), VG_ELIMIT);
    assert_non_null(strstr(err.msg, "more than 2 data points"));
    lim = INGEST_OTLP_LIMITS_DEFAULT;
    lim.max_attrs = 1;
    assert_int_equal(decode_lim(&req, &lim, &err), VG_ELIMIT);
    assert_non_null(strstr(err.msg, "attributes, more than the limit of 1"));
    assert_true(err.pos > 0);
    lim = INGEST_OTLP_LIMITS_DEFAULT;
    lim.max_value_len = 9;
    assert_int_equal(decode_lim(&req, &lim, &err), VG_ELIMIT);
    assert_non_null(strstr(err.msg, "attribute \"k2\" has a value of 10 bytes"));
    lim = INGEST_OTLP_LIMITS_DEFAULT;
    lim.max_key_len = 1;
    assert_int_equal(decode_lim(&req, &lim, &err), VG_ELIMIT);
    lim = INGEST_OTLP_LIMITS_DEFAULT;
    lim.max_messages = 2; /* resource + scope + metric = 3 */
    assert_int_equal(decode_lim(&req, &lim, &err), VG_ELIMIT);
    free(req.p);
    /* nesting: arrays in arrays deeper than max_depth */
    memset(&req, 0, sizeof req);
    pb_str(&inner, 1, "leaf");
    for (int i = 0; i < 20; i++) {
        pb_t arr = {0};
        pb_msg(&arr, 1, &inner);
        pb_msg(&av, 5, &arr);
        inner = av;
        memset(&av, 0, sizeof av);
    }
    pb_t res = {0}, rm = {0};
    kv_any(&res, 1, "deep", &inner);
    pb_msg(&rm, 1, &res);
    pb_msg(&req, 1, &rm);
    lim = INGEST_OTLP_LIMITS_DEFAULT;
    assert_int_equal(decode_lim(&req, &lim, &err), VG_ELIMIT);
    assert_non_null(strstr(err.msg, "nested deeper than 16"));
    lim.max_depth = 32;
    assert_int_equal(decode_lim(&req, &lim, &err), 0);
    free(req.p);
}

/* ---- gzip ---- */

static size_t gz(const void *in, size_t n, uint8_t **out) {
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&z, n) + 32;
    *out = malloc(cap);
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)n;
    z.next_out = *out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t len = cap - z.avail_out;
    deflateEnd(&z);
    return len;
}

static void gzip_cases(void **state) {
    (void)state;
    const char *text = "{\"resourceMetrics\":[]}";
    uint8_t *c;
    size_t cl = gz(text, strlen(text), &c);
    vg_buf_t out = VG_BUF_INIT;
    vg_error_t err;
    ingest_otlp_limits_t lim = INGEST_OTLP_LIMITS_DEFAULT;
    assert_int_equal(ingest_otlp_gunzip(c, cl, &lim, &out, &err), 0);
    assert_int_equal(out.len, strlen(text));
    assert_memory_equal(out.data, text, out.len);
    /* two members */
    uint8_t *two = malloc(2 * cl);
    memcpy(two, c, cl);
    memcpy(two + cl, c, cl);
    assert_int_equal(ingest_otlp_gunzip(two, 2 * cl, &lim, &out, &err), 0);
    assert_int_equal(out.len, 2 * strlen(text));
    free(two);
    /* exactly at the limit passes, one byte over does not */
    lim.max_decoded = strlen(text);
    assert_int_equal(ingest_otlp_gunzip(c, cl, &lim, &out, &err), 0);
    lim.max_decoded = strlen(text) - 1;
    assert_int_equal(ingest_otlp_gunzip(c, cl, &lim, &out, &err), VG_ETOOLARGE);
    /* every truncation is an error, never a crash */
    lim = INGEST_OTLP_LIMITS_DEFAULT;
    for (size_t n = 0; n < cl; n++) assert_int_equal(ingest_otlp_gunzip(c, n, &lim, &out, &err), VG_EINVAL);
    /* corruption */
    c[12] ^= 0xff;
    assert_int_equal(ingest_otlp_gunzip(c, cl, &lim, &out, &err), VG_EINVAL);
    assert_non_null(strstr(err.msg, "gzip: "));
    free(c);
    /* a bomb: 64 MiB of zeros stop at the limit, and the buffer never grows much past it */
    size_t big = 64u << 20;
    uint8_t *zeros = calloc(1, big);
    cl = gz(zeros, big, &c);
    free(zeros);
    lim.max_decoded = 1u << 20;
    assert_int_equal(ingest_otlp_gunzip(c, cl, &lim, &out, &err), VG_ETOOLARGE);
    assert_true(out.cap <= (2u << 20) + (128u << 10));
    free(c);
    vg_buf_deinit(&out);
}

/* ---- responses ---- */

static void responses(void **state) {
    (void)state;
    vg_buf_t b = VG_BUF_INIT;
    assert_int_equal(ingest_otlp_response(&b, false, 0, ""), 0);
    assert_int_equal(b.len, 0);
    assert_int_equal(ingest_otlp_response(&b, false, 3, "no"), 0);
    assert_int_equal(b.len, 8);
    assert_memory_equal(b.data, "\x0a\x06\x08\x03\x12\x02no", 8);
    vg_buf_reset(&b);
    assert_int_equal(ingest_otlp_response(&b, true, 3, "a \"b\""), 0);
    assert_string_equal(b.data, "{\"partialSuccess\":{\"rejectedDataPoints\":\"3\",\"errorMessage\":\"a \\\"b\\\"\"}}");
    vg_buf_reset(&b);
    assert_int_equal(ingest_otlp_response(&b, true, 0, ""), 0);
    assert_string_equal(b.data, "{}");
    vg_buf_reset(&b);
    assert_int_equal(ingest_otlp_status(&b, false, 3, "bad"), 0);
    assert_memory_equal(b.data, "\x08\x03\x12\x03" "bad", 7);
    vg_buf_reset(&b);
    assert_int_equal(ingest_otlp_status(&b, true, 8, "slow"), 0);
    assert_string_equal(b.data, "{\"code\":8,\"message\":\"slow\"}");
    vg_buf_deinit(&b);
}

/* ---- the fuzz seeds are valid requests ---- */

static void fuzz_seeds(void **state) {
    (void)state;
    const char *dir = getenv("VIGIL_SOURCE_ROOT");
    if (!dir) skip();
    static const char *const seeds[] = {"pb_all_types.bin", "json_all_types.json"};
    for (size_t i = 0; i < 2; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/tests/fuzz/otlp/seeds/%s", dir, seeds[i]);
        FILE *f = fopen(path, "rb");
        if (!f) fail_msg("cannot open %s", path);
        uint8_t buf[1 << 16];
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        /* a seed is the mode byte (0 protobuf, 1 JSON) followed by the request */
        vg_arena_t a;
        vg_arena_init(&a, 4096);
        ingest_otlp_request_t *r;
        vg_error_t err;
        int rc = buf[0] == 0 ? ingest_otlp_decode_pb(buf + 1, n - 1, NULL, &a, &r, &err)
                             : ingest_otlp_decode_json(buf + 1, n - 1, NULL, &a, &r, &err);
        if (rc) fail_msg("%s: %s", seeds[i], err.msg);
        assert_true(r->n_points >= 4);
        vg_arena_deinit(&a);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(metric_types), cmocka_unit_test(rejected_kinds), cmocka_unit_test(any_values),
        cmocka_unit_test(name_table),   cmocka_unit_test(json_request),   cmocka_unit_test(json_errors),
        cmocka_unit_test(pb_errors),    cmocka_unit_test(truncations),    cmocka_unit_test(limits),
        cmocka_unit_test(gzip_cases),   cmocka_unit_test(responses),      cmocka_unit_test(fuzz_seeds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
