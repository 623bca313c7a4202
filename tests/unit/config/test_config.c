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
    assert_string_equal(c->storage.path, "./data");
    assert_int_equal(c->storage.retention_ms, 15LL * 86400000);
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
                           "         threads: 2, max_connections: 10, shutdown_timeout: 3s}\n"
                           "storage: {path: /tmp/x, retention: 1y}\n"
                           "log: {level: debug, format: logfmt}\n");
    assert_string_equal(c->server.listen, "[::1]:9999");
    assert_int_equal(c->server.read_timeout_ms, 30000);
    assert_int_equal(c->server.max_body, 1u << 20);
    assert_int_equal(c->server.max_header, 16u << 10);
    assert_int_equal(c->server.threads, 2);
    assert_int_equal(c->server.max_connections, 10);
    assert_int_equal(c->server.shutdown_timeout_ms, 3000);
    assert_string_equal(c->storage.path, "/tmp/x");
    assert_int_equal(c->storage.retention_ms, 365LL * 86400000);
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults), cmocka_unit_test(every_key),   cmocka_unit_test(hash_changes_with_content),
        cmocka_unit_test(errors),   cmocka_unit_test(file_errors), cmocka_unit_test(split_listen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
