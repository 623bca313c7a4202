/* Config loading: defaults, every key, and every class of error located at file:line:col. */
#include "config/config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static config_t *parse_ok(const char *yaml) {
    config_t *c = NULL;
    vg_error_t err;
    int rc = config_parse("t.yml", yaml, strlen(yaml), &c, &err);
    if (rc) fail_msg("unexpected error %d at %d:%d: %s", rc, err.line, err.col, err.msg);
    return c;
}

/* Asserts that yaml fails at line:col with a message containing `want`. */
static void parse_err(const char *yaml, int line, int col, const char *want) {
    config_t *c = (config_t *)1;
    vg_error_t err;
    int rc = config_parse("t.yml", yaml, strlen(yaml), &c, &err);
    assert_int_equal(rc, VG_ECONFIG);
    assert_null(c);
    if (err.line != line || err.col != col || !strstr(err.msg, want))
        fail_msg("for %s\n got %d:%d: %s\nwant %d:%d: ...%s...", yaml, err.line, err.col, err.msg, line, col, want);
}

static void defaults(void **state) {
    (void)state;
    config_t *c = parse_ok("");
    assert_string_equal(c->server.listen, "127.0.0.1:9290");
    assert_int_equal(c->server.read_timeout_ms, 120000);
    assert_int_equal(c->server.max_body, 64u << 20);
    assert_int_equal(c->server.header_timeout_ms, 10000);
    assert_int_equal(c->server.max_connections_per_ip, 64);
    assert_string_equal(c->storage.path, "./data");
    assert_int_equal(c->storage.retention_ms, 15LL * 86400000);
    assert_true(c->storage.wal_compression);
    assert_int_equal(c->storage.block_duration_ms, 2 * 3600000);
    assert_int_equal(c->storage.block_chunk_encoding, CONFIG_BLOCK_CHUNKS_DENSE);
    assert_int_equal(c->log.level, VG_LOG_INFO);
    assert_int_equal(c->log.format, VG_LOG_JSON);
    config_unref(c);
    c = parse_ok("# only a comment\n");
    config_unref(c);
    c = parse_ok("server:\n");
    assert_string_equal(c->server.listen, "127.0.0.1:9290");
    config_unref(c);
}

static void every_key(void **state) {
    (void)state;
    config_t *c = parse_ok("server: {listen: '[::1]:9999', read_timeout: 30s, max_body: 1MiB, max_header: 16KiB,\n"
                           "         threads: 2, max_connections: 10, shutdown_timeout: 3s, header_timeout: 2s,\n"
                           "         max_connections_per_ip: 5}\n"
                           "storage: {path: /tmp/x, retention: 1y, wal_compression: false, block_duration: 30m,\n"
                           "          block_chunk_encoding: xor}\n"
                           "log: {level: debug, format: logfmt}\n");
    assert_string_equal(c->server.listen, "[::1]:9999");
    assert_int_equal(c->server.read_timeout_ms, 30000);
    assert_int_equal(c->server.max_body, 1u << 20);
    assert_int_equal(c->server.max_header, 16u << 10);
    assert_int_equal(c->server.threads, 2);
    assert_int_equal(c->server.max_connections, 10);
    assert_int_equal(c->server.shutdown_timeout_ms, 3000);
    assert_int_equal(c->server.header_timeout_ms, 2000);
    assert_int_equal(c->server.max_connections_per_ip, 5);
    assert_string_equal(c->storage.path, "/tmp/x");
    assert_int_equal(c->storage.retention_ms, 365LL * 86400000);
    assert_false(c->storage.wal_compression);
    assert_int_equal(c->storage.block_duration_ms, 30 * 60000);
    assert_int_equal(c->storage.block_chunk_encoding, CONFIG_BLOCK_CHUNKS_XOR);
    assert_int_equal(c->log.level, VG_LOG_DEBUG);
    assert_int_equal(c->log.format, VG_LOG_LOGFMT);
    assert_int_equal(strlen(c->hash), 16);
    config_unref(c);
}

static void hash_changes_with_content(void **state) {
    (void)state;
    config_t *a = parse_ok("log: {level: info}\n"), *b = parse_ok("log: {level: warn}\n");
    assert_string_not_equal(a->hash, b->hash);
    config_unref(a);
    config_unref(b);
}

static void errors(void **state) {
    (void)state;
    parse_err("server:\n  read_timout: 2m\n", 2, 3, "did you mean \"read_timeout\"");
    parse_err("server:\n  bogus: 1\n", 2, 3, "unknown field \"server.bogus\"");
    parse_err("srever: {}\n", 1, 1, "did you mean \"server\"");
    parse_err("server:\n  read_timeout: 2x\n", 2, 17, "invalid duration \"2x\"");
    parse_err("server:\n  read_timeout: 1ms\n", 2, 17, "out of range");
    parse_err("server:\n  max_body: 64XB\n", 2, 13, "invalid size \"64XB\"");
    parse_err("server:\n  threads: many\n", 2, 12, "expected an integer");
    parse_err("server:\n  threads: 0\n", 2, 12, "out of range");
    parse_err("server:\n  header_timeout: 500ms\n", 2, 19, "out of range");
    parse_err("server:\n  header_timeout: 2h\n", 2, 19, "out of range");
    parse_err("server:\n  max_connections_per_ip: -1\n", 2, 27, "out of range");
    parse_err("server:\n  header_timeot: 5s\n", 2, 3, "did you mean \"header_timeout\"");
    parse_err("server:\n  listen: localhost\n", 2, 11, "not host:port");
    parse_err("server:\n  listen: 'a:99999'\n", 2, 11, "not host:port");
    parse_err("server: 5\n", 1, 9, "expected a mapping");
    parse_err("server:\n  listen: [a, b]\n", 2, 11, "expected a scalar");
    parse_err("log:\n  level: loud\n", 2, 10, "debug, info, warn, error");
    parse_err("log:\n  format: xml\n", 2, 11, "json, logfmt");
    parse_err("storage:\n  path: ''\n", 2, 9, "must not be empty");
    parse_err("log: {level: info}\nlog: {level: warn}\n", 2, 1, "duplicate key \"log\"");
    parse_err("- a\n- b\n", 1, 1, "top level must be a mapping");
    parse_err("server: [a\n", 2, 1, "YAML syntax error");
    parse_err("log: {level: info}\n---\nlog: {level: warn}\n", 3, 1, "more than one YAML document");
    parse_err("? [a]\n: b\n", 1, 3, "keys must be scalars");
}

static void file_errors(void **state) {
    (void)state;
    config_t *c;
    vg_error_t err;
    assert_int_equal(config_load_file("/nonexistent/vigil.yml", &c, &err), VG_EIO);
    assert_null(c);
    char out[600];
    config_error_format(&err, "/nonexistent/vigil.yml", out, sizeof out);
    assert_non_null(strstr(out, "/nonexistent/vigil.yml: cannot open"));
    char path[] = "/tmp/vigil-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *fp = fdopen(fd, "w");
    fputs("server:\n  listen: 127.0.0.1:1\n  max_body: 2KiB\n", fp);
    fclose(fp);
    assert_int_equal(config_load_file(path, &c, &err), 0);
    assert_int_equal(c->server.max_body, 2048);
    assert_string_equal(c->file, path);
    config_unref(c);
    remove(path);
}

static void split_listen(void **state) {
    (void)state;
    char host[64];
    int port;
    assert_int_equal(config_split_listen("127.0.0.1:9290", host, sizeof host, &port), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 9290);
    assert_int_equal(config_split_listen("[::1]:80", host, sizeof host, &port), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(config_split_listen(":80", host, sizeof host, &port), 0);
    assert_string_equal(host, "");
    assert_int_equal(config_split_listen("::1:80", host, sizeof host, &port), VG_EINVAL);
    assert_int_equal(config_split_listen("h:0", host, sizeof host, &port), VG_EINVAL);
    assert_int_equal(config_split_listen("h:", host, sizeof host, &port), VG_EINVAL);
    assert_int_equal(config_split_listen("h:8x", host, sizeof host, &port), VG_EINVAL);
}

static const char prom_yml[] =
    "global:\n"
    "  scrape_interval: 30s\n"
    "  external_labels: {monitor: codelab, region: eu}\n"
    "scrape_configs:\n"
    "  - job_name: fast\n"
    "    scrape_interval: 5s\n"
    "    static_configs:\n"
    "      - targets: ['localhost:9090', 'h:1']\n"
    "        labels: {__metrics_path__: /t/1/metrics, instance: 'a:1'}\n"
    "  - job_name: node\n"
    "    scheme: https\n"
    "    params:\n"
    "      collect[]: [cpu, meminfo]\n"
    "      format: [x]\n"
    "    honor_labels: true\n"
    "    honor_timestamps: false\n"
    "    sample_limit: 1000\n"
    "    body_size_limit: 10MiB\n"
    "    authorization: {credentials_file: /run/token}\n"
    "    tls_config: {ca_file: /ca.pem, insecure_skip_verify: true}\n"
    "    file_sd_configs: [{files: [/sd/*.json], refresh_interval: 1m}]\n"
    "    relabel_configs:\n"
    "      - source_labels: [__address__]\n"
    "        regex: '([^:]+):\\d+'\n"
    "        target_label: host\n"
    "      - {action: labeldrop, regex: 'tmp_.*'}\n"
    "    metric_relabel_configs:\n"
    "      - {source_labels: [__name__], regex: 'go_.*', action: drop}\n";

static void prometheus_sections(void **state) {
    (void)state;
    config_t *c = parse_ok(prom_yml);
    assert_int_equal(c->global.scrape_interval_ms, 30000);
    assert_int_equal(c->global.scrape_timeout_ms, 10000);
    assert_int_equal(c->global.external_labels.n, 2);
    assert_string_equal(c->global.external_labels.keys[1], "region");
    assert_int_equal(c->scrape_configs.n, 2);
    config_scrape_t *f = &c->scrape_configs.v[0], *n = &c->scrape_configs.v[1];
    assert_string_equal(f->job_name, "fast");
    assert_int_equal(f->scrape_interval_ms, 5000);
    assert_int_equal(f->scrape_timeout_ms, 5000); /* global 10s timeout capped at the job's 5s interval */
    assert_string_equal(f->metrics_path, "/metrics");
    assert_string_equal(f->scheme, "http");
    assert_true(f->honor_timestamps);
    assert_int_equal(f->static_configs.n, 1);
    assert_int_equal(f->static_configs.v[0].targets.n, 2);
    assert_string_equal(f->static_configs.v[0].targets.v[1], "h:1");
    assert_string_equal(f->static_configs.v[0].labels.keys[0], "__metrics_path__");
    assert_string_equal(f->static_configs.v[0].labels.values[0], "/t/1/metrics");
    assert_int_equal(f->static_configs.v[0].line, 8);
    assert_int_equal(n->scrape_interval_ms, 30000);
    assert_int_equal(n->scrape_timeout_ms, 10000);
    assert_string_equal(n->scheme, "https");
    assert_int_equal(n->params.n, 3); /* collect[]=cpu, collect[]=meminfo, format=x */
    assert_string_equal(n->params.keys[1], "collect[]");
    assert_string_equal(n->params.values[1], "meminfo");
    assert_true(n->honor_labels);
    assert_false(n->honor_timestamps);
    assert_int_equal(n->sample_limit, 1000);
    assert_int_equal(n->body_size_limit, 10u << 20);
    assert_string_equal(n->authorization.credentials_file, "/run/token");
    assert_true(n->tls_config.insecure_skip_verify);
    assert_int_equal(n->file_sd_configs.v[0].refresh_interval_ms, 60000);
    assert_int_equal(n->relabel_configs.n, 2);
    config_relabel_t *r = &n->relabel_configs.v[0];
    assert_int_equal(r->action, CONFIG_RELABEL_REPLACE);
    assert_string_equal(r->separator, ";");
    assert_string_equal(r->replacement, "$1");
    assert_string_equal(r->regex, "([^:]+):\\d+");
    assert_int_equal(n->relabel_configs.v[1].action, CONFIG_RELABEL_LABELDROP);
    assert_int_equal(n->metric_relabel_configs.v[0].action, CONFIG_RELABEL_DROP);
    assert_string_equal(config_relabel_action_name(CONFIG_RELABEL_KEEPEQUAL), "keepequal");
    config_unref(c);
}

static void prometheus_errors(void **state) {
    (void)state;
    parse_err("scrape_configs:\n  - job_name: a\n    proxy_url: http://x\n", 3, 5, "unknown field \"scrape_configs[0].proxy_url\"");
    parse_err("scrape_configs:\n  - job_name: a\n  - job_name: a\n", 3, 5, "multiple scrape configs with job name \"a\"");
    parse_err("scrape_configs:\n  - scrape_interval: 5s\n", 2, 5, "job_name is empty");
    parse_err("scrape_configs:\n  - {job_name: a, scrape_interval: 5s, scrape_timeout: 6s}\n", 2, 5,
              "scrape timeout greater than scrape interval");
    parse_err("global: {scrape_interval: 5s, scrape_timeout: 6s}\n", 0, 0, "global scrape timeout greater");
    parse_err("scrape_configs:\n  - {job_name: a, scheme: ftp}\n", 2, 5, "unsupported scheme");
    parse_err("scrape_configs:\n  - {job_name: a, honor_labels: yes}\n", 2, 33, "expected true or false");
    parse_err("scrape_configs:\n  - job_name: a\n    static_configs: [{targets: ['http://x:1']}]\n", 3, 22, "not a valid hostname");
    parse_err("scrape_configs:\n  - job_name: a\n    static_configs: [{labels: {'a-b': x}}]\n", 3, 32, "not a valid label name");
    parse_err("scrape_configs:\n  - {job_name: a, basic_auth: {password: x, password_file: y}}\n", 2, 5, "password & password_file");
    parse_err("scrape_configs:\n  - {job_name: a, bearer_token: x, basic_auth: {username: u}}\n", 2, 5, "at most one of basic_auth");
    parse_err("scrape_configs:\n  - {job_name: a, relabel_configs: [{action: replace}]}\n", 2, 37, "requires 'target_label'");
    parse_err("scrape_configs:\n  - {job_name: a, relabel_configs: [{action: hashmod, source_labels: [a], target_label: b}]}\n", 2, 37,
              "non-zero modulus");
    parse_err("scrape_configs:\n  - {job_name: a, relabel_configs: [{action: keep}]}\n", 2, 37, "requires 'source_labels'");
    parse_err("scrape_configs:\n  - {job_name: a, relabel_configs: [{action: labeldrop, regex: x, target_label: y}]}\n", 2, 37,
              "requires only 'regex'");
    parse_err("scrape_configs:\n  - {job_name: a, relabel_configs: [{action: keep, source_labels: [a], regex: '(a'}]}\n", 2, 79,
              "regex: error parsing regexp: missing closing ): `^(?:(a)$`");
    parse_err("scrape_configs:\n  - {job_name: a, relabel_configs: [{action: keep, source_labels: [a], regex: '(?=a)'}]}\n", 2, 79,
              "regex: error parsing regexp: invalid or unsupported Perl syntax: `(?=`");
    parse_err("scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - {action: replace, source_labels: [a], target_label: b, regex: '(a)\\1'}\n",
              4, 71, "relabel_configs[0].regex: error parsing regexp: invalid escape sequence: `\\1`");
    parse_err("scrape_configs:\n  - job_name: a\n    metric_relabel_configs:\n      - {action: drop, source_labels: [a], regex: 'a++'}\n",
              4, 51, "error parsing regexp: invalid nested repetition operator: `++`");
    parse_err("scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - {action: keep, source_labels: [a], regex: '(?>a)'}\n",
              4, 51, "error parsing regexp: invalid or unsupported Perl syntax: `(?>`");
    parse_err("scrape_configs:\n  - {job_name: a, relabel_configs: [{action: lowercase, source_labels: [a], target_label: 'b-c'}]}\n",
              2, 37, "invalid 'target_label'");
    parse_err("scrape_configs: {job_name: a}\n", 1, 17, "expected a list");
    parse_err("scrape_configs:\n  - job_name: a\n    params: {x: y}\n", 3, 17, "expected a list of strings");
}

/* config_write_yaml output parses back to the same configuration (secrets masked). */
static void yaml_round_trip(void **state) {
    (void)state;
    config_t *c = parse_ok(prom_yml);
    vg_buf_t y = VG_BUF_INIT;
    config_write_yaml(c, &y);
    config_t *c2 = parse_ok(y.data);
    vg_buf_t y2 = VG_BUF_INIT;
    config_write_yaml(c2, &y2);
    if (strcmp(y.data, y2.data)) fail_msg("not a fixed point:\n%s\n----\n%s", y.data, y2.data);
    assert_int_equal(c2->scrape_configs.n, 2);
    assert_int_equal(c2->scrape_configs.v[1].params.n, 3);
    assert_string_equal(c2->scrape_configs.v[1].relabel_configs.v[0].regex, "([^:]+):\\d+");
    assert_int_equal(c2->scrape_configs.v[1].body_size_limit, 10u << 20);
    assert_int_equal(c2->scrape_configs.v[0].scrape_timeout_ms, 5000);
    vg_buf_deinit(&y);
    vg_buf_deinit(&y2);
    config_unref(c);
    config_unref(c2);
    c = parse_ok("scrape_configs:\n  - {job_name: s, basic_auth: {username: u, password: hunter2}}\n"
                 "  - {job_name: t, authorization: {credentials: tok3n}}\n");
    vg_buf_t y3 = VG_BUF_INIT;
    config_write_yaml(c, &y3);
    assert_null(strstr(y3.data, "hunter2"));
    assert_null(strstr(y3.data, "tok3n"));
    assert_non_null(strstr(y3.data, "password: <secret>"));
    vg_buf_deinit(&y3);
    config_unref(c);
}

/* limits: the global ingestion limits beside the per-tenant defaults. */
static void ingest_limits_defaults(void **state) {
    (void)state;
    config_t *c = parse_ok("");
    assert_int_equal(c->ingest_limits.max_label_names_per_series, 64);
    assert_int_equal(c->ingest_limits.max_label_name_length, 1024);
    assert_int_equal(c->ingest_limits.max_label_value_length, 4096);
    assert_int_equal(c->ingest_limits.active_series_window_ms, 3600 * 1000);
    assert_int_equal(c->ingest_limits.max_remote_write_decompressed_size, 64u << 20);
    assert_int_equal(c->ingest_limits.max_remote_write_series_per_request, 1000000);
    assert_int_equal(c->ingest_limits.max_future_ms, 10 * 60 * 1000);
    /* the defaults are the head's until every path takes them from the config */
    model_label_limits_t l, m = MODEL_LIMITS_DEFAULT;
    config_label_limits(c, &l);
    assert_int_equal(l.max_labels, m.max_labels);
    assert_int_equal(l.max_name_len, m.max_name_len);
    assert_int_equal(l.max_value_len, m.max_value_len);
    config_unref(c);
    c = config_default();
    assert_non_null(c);
    assert_int_equal(c->ingest_limits.max_label_names_per_series, 64);
    assert_int_equal(c->ingest_limits.active_series_window_ms, 3600 * 1000);
    config_unref(c);
}

static const char limits_yml[] =
    "limits:\n"
    "  max_series: 500\n"
    "  max_label_names_per_series: 30\n"
    "  max_label_name_length: 200\n"
    "  max_label_value_length: 2048\n"
    "  active_series_window: 20m\n"
    "  max_remote_write_decompressed_size: 16MiB\n"
    "  max_remote_write_series_per_request: 5000\n"
    "  max_future: 1h\n"
    "  request_rate: 3\n"
    "tenants:\n"
    "  overrides:\n"
    "    acme: {limits: {max_series: 7}}\n";

/* query.max_bytes: 1 GiB unless set, a size with units, at least 1 MiB. */
static void query_max_bytes(void **state) {
    (void)state;
    config_t *c = parse_ok("");
    assert_int_equal(c->query.max_bytes, 1u << 30);
    config_unref(c);
    c = parse_ok("query:\n  max_bytes: 256MiB\n");
    assert_int_equal(c->query.max_bytes, 256u << 20);
    config_unref(c);
    parse_err("query:\n  max_bytes: 1KiB\n", 2, 14, "out of range");
}

static void ingest_limits_keys(void **state) {
    (void)state;
    config_t *c = parse_ok(limits_yml);
    assert_int_equal(c->ingest_limits.max_label_names_per_series, 30);
    assert_int_equal(c->ingest_limits.max_label_name_length, 200);
    assert_int_equal(c->ingest_limits.max_label_value_length, 2048);
    assert_int_equal(c->ingest_limits.active_series_window_ms, 20 * 60 * 1000);
    assert_int_equal(c->ingest_limits.max_remote_write_decompressed_size, 16u << 20);
    assert_int_equal(c->ingest_limits.max_remote_write_series_per_request, 5000);
    assert_int_equal(c->ingest_limits.max_future_ms, 3600 * 1000);
    /* the per-tenant keys of the same section still land in config_t.limits */
    assert_int_equal(c->limits.max_series, 500);
    assert_true(c->limits.request_rate == 3.0);
    assert_int_equal(c->limits.max_samples_per_query, 50000000);
    config_limits_t tl;
    config_tenant_limits(c, "acme", &tl);
    assert_int_equal(tl.max_series, 7);
    assert_true(tl.request_rate == 3.0);
    model_label_limits_t l;
    config_label_limits(c, &l);
    assert_int_equal(l.max_labels, 30);
    assert_int_equal(l.max_name_len, 200);
    assert_int_equal(l.max_value_len, 2048);
    config_unref(c);
}

static void ingest_limits_errors(void **state) {
    (void)state;
    parse_err("limits:\n  max_label_names_per_series: 0\n", 2, 31, "out of range [1, 1024]");
    parse_err("limits:\n  max_label_names_per_series: 2000\n", 2, 31, "out of range [1, 1024]");
    parse_err("limits:\n  max_label_names_per_series: lots\n", 2, 31, "expected an integer");
    parse_err("limits:\n  max_label_name_length: 4\n", 2, 26, "out of range [8, 65536]");
    parse_err("limits:\n  max_label_value_length: 2000000\n", 2, 27, "out of range [1, 1048576]");
    parse_err("limits:\n  active_series_window: 30s\n", 2, 25, "out of range [1m, 1d]");
    parse_err("limits:\n  active_series_window: soon\n", 2, 25, "invalid duration");
    parse_err("limits:\n  max_remote_write_decompressed_size: 10XB\n", 2, 39, "invalid size");
    parse_err("limits:\n  max_remote_write_decompressed_size: 512B\n", 2, 39, "out of range [1024, 4294967296] bytes");
    parse_err("limits:\n  max_remote_write_series_per_request: 0\n", 2, 40, "out of range");
    parse_err("limits:\n  max_future: 400d\n", 2, 15, "out of range");
    parse_err("limits:\n  max_future: -1m\n", 2, 15, "");
    parse_err("limits:\n  max_label_name_lenght: 100\n", 2, 3, "did you mean \"max_label_name_length\"");
    parse_err("limits:\n  max_label_names_per_series: 10\n  max_label_names_per_series: 20\n", 3, 3,
              "duplicate key \"max_label_names_per_series\"");
    /* global, not per tenant: an override cannot change them */
    parse_err("tenants:\n  overrides:\n    acme:\n      limits: {max_label_names_per_series: 10}\n", 4, 16,
              "unknown field \"tenants.overrides.acme.limits.max_label_names_per_series\"");
}

static void ingest_limits_round_trip(void **state) {
    (void)state;
    config_t *c = parse_ok(limits_yml);
    vg_buf_t y = VG_BUF_INIT;
    config_write_yaml(c, &y);
    assert_non_null(strstr(y.data, "\n  max_label_names_per_series: 30\n"));
    assert_non_null(strstr(y.data, "\n  active_series_window: 20m\n"));
    assert_non_null(strstr(y.data, "\n  max_remote_write_decompressed_size: 16MiB\n"));
    config_t *c2 = parse_ok(y.data);
    vg_buf_t y2 = VG_BUF_INIT;
    config_write_yaml(c2, &y2);
    if (strcmp(y.data, y2.data)) fail_msg("not a fixed point:\n%s\n----\n%s", y.data, y2.data);
    assert_memory_equal(&c->ingest_limits, &c2->ingest_limits, sizeof c->ingest_limits);
    assert_int_equal(c2->limits.max_series, 500);
    assert_int_equal(c2->tenants.overrides.n, 1);
    assert_int_equal(c2->tenants.overrides.v[0].limits.max_series, 7);
    vg_buf_deinit(&y);
    vg_buf_deinit(&y2);
    config_unref(c);
    config_unref(c2);
}

/* limits.max_series_total defaults to the memory available / CONFIG_BYTES_PER_SERIES; limits.max_series
 * (per tenant) to a tenth of the resolved max_series_total unless the file sets it (0 included). */
static void series_limits_defaults(void **state) {
    (void)state;
    uint64_t mem = config_memory_bytes();
    assert_true(mem > 0);
    int64_t total = (int64_t)(mem / CONFIG_BYTES_PER_SERIES);
    if (total > (INT64_C(1) << 32)) total = INT64_C(1) << 32;
    config_t *c = config_default();
    assert_int_equal(c->ingest_limits.max_series_total, total);
    assert_int_equal(c->limits.max_series, total / 10);
    config_limits_t tl;
    config_tenant_limits(c, "anyone", &tl);
    assert_int_equal(tl.max_series, total / 10);
    config_unref(c);
    c = parse_ok("server: {}\n");
    assert_int_equal(c->ingest_limits.max_series_total, total);
    assert_int_equal(c->limits.max_series, total / 10);
    config_unref(c);
    c = parse_ok("limits:\n  max_series_total: 1000\n");
    assert_int_equal(c->ingest_limits.max_series_total, 1000);
    assert_int_equal(c->limits.max_series, 100);
    config_unref(c);
    c = parse_ok("limits:\n  max_series_total: 5\n");
    assert_int_equal(c->limits.max_series, 1);
    config_unref(c);
    c = parse_ok("limits:\n  max_series_total: 0\n");
    assert_int_equal(c->limits.max_series, 0); /* no global cap: no derived tenant cap */
    config_unref(c);
    c = parse_ok("limits:\n  max_series_total: 1000\n  max_series: 0\n"
                 "tenants:\n  overrides:\n    big: {limits: {max_series: 5000}}\n");
    assert_int_equal(c->limits.max_series, 0); /* explicitly unlimited per tenant */
    config_tenant_limits(c, "big", &tl);
    assert_int_equal(tl.max_series, 5000);
    /* what is written back reads back the same */
    vg_buf_t y = VG_BUF_INIT;
    config_write_yaml(c, &y);
    assert_non_null(strstr(y.data, "\n  max_series_total: 1000\n"));
    config_t *c2 = parse_ok(y.data);
    assert_int_equal(c2->ingest_limits.max_series_total, 1000);
    assert_int_equal(c2->limits.max_series, 0);
    vg_buf_deinit(&y);
    config_unref(c2);
    config_unref(c);
    parse_err("limits:\n  max_series_total: -1\n", 2, 21, "");
    parse_err("tenants:\n  overrides:\n    acme:\n      limits: {max_series_total: 10}\n", 4, 16,
              "unknown field \"tenants.overrides.acme.limits.max_series_total\"");
}

/* The ruler's limits: per tenant with defaults 20 and 20, an override refining them (0 in an override:
 * the default), 0 in `limits` for unlimited; the group size bound in `rules`. */
static void ruler_limits(void **state) {
    (void)state;
    config_t *c = parse_ok("");
    config_limits_t tl;
    config_tenant_limits(c, "anyone", &tl);
    assert_int_equal(tl.ruler_max_rule_groups, 20);
    assert_int_equal(tl.ruler_max_rules_per_rule_group, 20);
    assert_int_equal(c->rules.ruler_max_group_size, 256 << 10);
    config_unref(c);
    c = parse_ok("limits:\n  ruler_max_rule_groups: 3\n  ruler_max_rules_per_rule_group: 0\n"
                 "rules:\n  ruler_max_group_size: 4KiB\n"
                 "tenants:\n  overrides:\n    big: {limits: {ruler_max_rule_groups: 100, ruler_max_rules_per_rule_group: 50}}\n"
                 "    same: {limits: {ruler_max_rule_groups: 0}}\n");
    config_tenant_limits(c, "small", &tl);
    assert_int_equal(tl.ruler_max_rule_groups, 3);
    assert_int_equal(tl.ruler_max_rules_per_rule_group, 0);
    config_tenant_limits(c, "big", &tl);
    assert_int_equal(tl.ruler_max_rule_groups, 100);
    assert_int_equal(tl.ruler_max_rules_per_rule_group, 50);
    config_tenant_limits(c, "same", &tl);
    assert_int_equal(tl.ruler_max_rule_groups, 3);
    assert_int_equal(c->rules.ruler_max_group_size, 4096);
    /* written back, read back the same */
    vg_buf_t y = VG_BUF_INIT;
    config_write_yaml(c, &y);
    assert_non_null(strstr(y.data, "\n  ruler_max_rule_groups: 3\n"));
    config_t *c2 = parse_ok(y.data);
    config_tenant_limits(c2, "big", &tl);
    assert_int_equal(tl.ruler_max_rules_per_rule_group, 50);
    assert_int_equal(c2->rules.ruler_max_group_size, 4096);
    vg_buf_deinit(&y);
    config_unref(c2);
    config_unref(c);
    parse_err("limits:\n  ruler_max_rule_groups: -1\n", 2, 26, "out of range");
    parse_err("rules:\n  ruler_max_group_size: 10B\n", 2, 25, "out of range");
}

/* limits.max_api_keys: 20 by default, per tenant like the other limits, written back. */
static void api_key_limit(void **state) {
    (void)state;
    config_t *c = parse_ok("");
    config_limits_t tl;
    config_tenant_limits(c, "anyone", &tl);
    assert_int_equal(tl.max_api_keys, 20);
    config_unref(c);
    c = parse_ok("limits: {max_api_keys: 5}\ntenants:\n  overrides:\n    big: {limits: {max_api_keys: 50}}\n");
    config_tenant_limits(c, "small", &tl);
    assert_int_equal(tl.max_api_keys, 5);
    config_tenant_limits(c, "big", &tl);
    assert_int_equal(tl.max_api_keys, 50);
    vg_buf_t y = VG_BUF_INIT;
    config_write_yaml(c, &y);
    assert_non_null(strstr(y.data, "\n  max_api_keys: 5\n"));
    vg_buf_deinit(&y);
    config_unref(c);
    parse_err("limits:\n  max_api_keys: -1\n", 2, 17, "out of range");
}

/* grafana.datasource_url_allow: a list of plain http(s) URL prefixes. */
static void grafana_datasource_url_allow(void **state) {
    (void)state;
    config_t *c = parse_ok("grafana:\n  url: http://g:3000\n  vigil_url: http://v:9290\n"
                           "  datasource_url_allow: [https://mimir.example/prometheus, 'http://[::1]:9009']\n");
    assert_int_equal(c->grafana.datasource_url_allow.n, 2);
    assert_string_equal(c->grafana.datasource_url_allow.v[0], "https://mimir.example/prometheus");
    config_unref(c);
    static const char *const bad[] = {"ftp://x", "http://user@x", "http://x/?a=b", "http://x/%2e%2e", "mimir:9009"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char yaml[256];
        snprintf(yaml, sizeof yaml, "grafana:\n  url: http://g:3000\n  vigil_url: http://v:9290\n"
                                    "  datasource_url_allow: ['%s']\n", bad[i]);
        vg_error_t err;
        config_t *b = NULL;
        assert_int_equal(config_parse("t.yml", yaml, strlen(yaml), &b, &err), VG_ECONFIG);
        assert_non_null(strstr(err.msg, "datasource_url_allow[0]"));
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults), cmocka_unit_test(every_key),   cmocka_unit_test(hash_changes_with_content),
        cmocka_unit_test(errors),   cmocka_unit_test(file_errors), cmocka_unit_test(split_listen),
        cmocka_unit_test(prometheus_sections), cmocka_unit_test(prometheus_errors), cmocka_unit_test(yaml_round_trip),
        cmocka_unit_test(ingest_limits_defaults), cmocka_unit_test(ingest_limits_keys), cmocka_unit_test(query_max_bytes),
        cmocka_unit_test(ingest_limits_errors), cmocka_unit_test(ingest_limits_round_trip), cmocka_unit_test(series_limits_defaults),
        cmocka_unit_test(grafana_datasource_url_allow), cmocka_unit_test(ruler_limits), cmocka_unit_test(api_key_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
