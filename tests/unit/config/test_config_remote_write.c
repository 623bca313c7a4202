/* The remote_write section: Prometheus 2.42's defaults, every key, a stable generated name, the
 * fingerprint reloads compare, and errors located at the entry. */
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
    if (config_parse("t.yml", yaml, strlen(yaml), &c, &err)) fail_msg("unexpected error at %d:%d: %s", err.line, err.col, err.msg);
    return c;
}

static void parse_err(const char *yaml, int line, int col, const char *want) {
    config_t *c = NULL;
    vg_error_t err;
    assert_int_equal(config_parse("t.yml", yaml, strlen(yaml), &c, &err), VG_ECONFIG);
    assert_null(c);
    if (err.line != line || err.col != col || !strstr(err.msg, want))
        fail_msg("for %s\n got %d:%d: %s\nwant %d:%d: ...%s...", yaml, err.line, err.col, err.msg, line, col, want);
}

static void defaults_and_keys(void **st) {
    (void)st;
    config_t *c = parse_ok("remote_write:\n  - url: http://a:9090/api/v1/write\n");
    assert_int_equal(c->remote_write.n, 1);
    const config_remote_write_t *r = &c->remote_write.v[0];
    assert_int_equal(r->remote_timeout_ms, 30000);
    assert_int_equal(r->queue_config.capacity, 2500);
    assert_int_equal(r->queue_config.min_shards, 1);
    assert_int_equal(r->queue_config.max_shards, 200);
    assert_int_equal(r->queue_config.max_samples_per_send, 500);
    assert_int_equal(r->queue_config.batch_send_deadline_ms, 5000);
    assert_int_equal(r->queue_config.min_backoff_ms, 30);
    assert_int_equal(r->queue_config.max_backoff_ms, 5000);
    assert_false(r->queue_config.retry_on_http_429);
    assert_true(r->metadata_config.send);
    assert_int_equal(r->metadata_config.send_interval_ms, 60000);
    assert_int_equal(strlen(r->name), 6); /* a hash of the entry */
    char name[16];
    snprintf(name, sizeof name, "%s", r->name);
    uint64_t fp = config_remote_write_hash(c, 0);
    config_unref(c);
    c = parse_ok("remote_write:\n  - url: http://a:9090/api/v1/write\n");
    assert_string_equal(c->remote_write.v[0].name, name); /* stable across loads */
    assert_true(config_remote_write_hash(c, 0) == fp);
    config_unref(c);
    c = parse_ok("remote_write:\n  - url: http://a:9090/api/v1/write\n    basic_auth: {username: u, password: p2}\n");
    assert_true(config_remote_write_hash(c, 0) != fp); /* secrets count */
    config_unref(c);

    c = parse_ok("tenants:\n  enforce: {namespace: 'client-{org_id}'}\n"
                 "remote_write:\n  - url: https://m/api/v1/push\n    name: mimir\n    remote_timeout: 10s\n"
                 "    headers: {X-Foo: bar}\n    authorization: {credentials: tok}\n"
                 "    tls_config: {insecure_skip_verify: true}\n"
                 "    write_relabel_configs:\n      - {source_labels: [__name__], regex: 'go_.*', action: drop}\n"
                 "    queue_config: {capacity: 10000, min_shards: 2, max_shards: 8, max_samples_per_send: 2000,\n"
                 "                   batch_send_deadline: 1s, min_backoff: 50ms, max_backoff: 10s, retry_on_http_429: true}\n"
                 "    metadata_config: {send: false, send_interval: 2m}\n"
                 "    tenant_header: X-Scope-OrgID\n    default_tenant: shared\n");
    r = &c->remote_write.v[0];
    assert_string_equal(r->name, "mimir");
    assert_int_equal(r->remote_timeout_ms, 10000);
    assert_string_equal(r->headers.keys[0], "X-Foo");
    assert_string_equal(r->authorization.credentials, "tok");
    assert_true(r->tls_config.insecure_skip_verify);
    assert_int_equal(r->write_relabel_configs.n, 1);
    assert_int_equal(r->write_relabel_configs.v[0].action, CONFIG_RELABEL_DROP);
    assert_int_equal(r->queue_config.max_shards, 8);
    assert_int_equal(r->queue_config.max_samples_per_send, 2000);
    assert_true(r->queue_config.retry_on_http_429);
    assert_false(r->metadata_config.send);
    assert_string_equal(r->tenant_header, "X-Scope-OrgID");
    assert_string_equal(r->default_tenant, "shared");
    /* the effective YAML reads back the same */
    vg_buf_t y = {0};
    config_write_yaml(c, &y);
    vg_buf_putc(&y, '\0');
    config_t *c2 = parse_ok(y.data);
    assert_int_equal(c2->remote_write.n, 1);
    assert_int_equal(c2->remote_write.v[0].queue_config.capacity, 10000);
    assert_string_equal(c2->remote_write.v[0].tenant_header, "X-Scope-OrgID");
    config_unref(c2);
    vg_buf_deinit(&y);
    config_unref(c);
}

static void errors(void **st) {
    (void)st;
    parse_err("remote_write:\n  - name: x\n", 2, 5, "url for remote_write is empty");
    parse_err("remote_write:\n  - url: ftp://a/\n", 2, 5, "unsupported scheme");
    parse_err("remote_write:\n  - {url: 'http://a/', name: x}\n  - {url: 'http://b/', name: x}\n", 3, 5,
              "found multiple remote write configs with job name \"x\"");
    parse_err("remote_write:\n  - {url: 'http://a/'}\n  - {url: 'http://a/'}\n", 3, 5, "duplicate remote write configs");
    parse_err("remote_write:\n  - url: http://a/\n    queue_config: {min_shards: 8, max_shards: 4}\n", 2, 5,
              "min_shards (8) greater than max_shards (4)");
    parse_err("remote_write:\n  - url: http://a/\n    queue_config: {min_backoff: 10s, max_backoff: 1s}\n", 2, 5,
              "min_backoff greater than max_backoff");
    parse_err("remote_write:\n  - url: http://a/\n    headers: {Authorization: x}\n", 2, 5,
              "Authorization is a reserved header");
    parse_err("remote_write:\n  - url: http://a/\n    tenant_header: X-Scope-OrgID\n    headers: {x-scope-orgid: a}\n", 2, 5,
              "is set by tenant_header");
    parse_err("remote_write:\n  - url: http://a/\n    default_tenant: a\n", 2, 5, "default_tenant needs tenant_header");
    parse_err("remote_write:\n  - url: http://a/\n    basic_auth: {username: u}\n    authorization: {credentials: c}\n", 2, 5,
              "at most one of basic_auth, authorization");
    parse_err("remote_write:\n  - url: http://a/\n    name: x\n    write_relabel_configs:\n      - {action: hashmod, target_label: t}\n",
              5, 9, "remote_write[name=x].write_relabel_configs[0]");
    parse_err("remote_write:\n  - url: http://a/\n    queue_config: {capacity: 0}\n", 3, 30, "queue_config.capacity: 0 is out of range");
    parse_err("remote_write:\n  - url: http://a/\n    queue_config: {max_shard: 3}\n", 3, 20, "max_shard");
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(defaults_and_keys), cmocka_unit_test(errors)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
