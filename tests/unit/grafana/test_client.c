/* The Grafana client's failure handling against the contract fake: Grafana down, 5xx retried then
 * success, retries bounded, 4xx not retried, Grafana's error shapes surfaced with status and message,
 * timeouts, the response size limit, health, configuration checks, and no secret in the logs. */
#include "fake.h"

#include "util/log.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static void health_ok_and_unhealthy(void **state) {
    (void)state;
    FAKE_REQUIRED();
    grafana_client_t *c = fake_client();
    grafana_err_t err;
    char *out = NULL;
    assert_int_equal(grafana_health(c, &out, &err), 0);
    assert_non_null(strstr(out, "\"healthy\":true"));
    assert_non_null(strstr(out, "\"version\":\"11.2.0\""));
    free(out);
    fake_control("/__fake/unhealthy", "{}");
    assert_int_equal(grafana_health(c, &out, &err), VG_EUNAVAIL);
    assert_int_equal(err.http_status, 503);
    assert_non_null(strstr(err.err.msg, "503"));
    assert_non_null(strstr(out, "\"healthy\":false"));
    assert_non_null(strstr(out, "\"database\":\"failing\""));
    free(out);
    grafana_client_free(c);
}

static void grafana_down_is_unavailable(void **state) {
    (void)state;
    FAKE_REQUIRED();
    grafana_client_t *c = fake_client();
    fake_control("/__fake/down", "{}");
    grafana_provision_result_t res;
    grafana_err_t err;
    grafana_provision_opts_t o = {.ds_header_name = "Authorization", .ds_header_value = "Bearer x"};
    assert_int_equal(grafana_tenant_provision(c, "acme", &o, &res, &err), VG_EUNAVAIL);
    assert_int_equal(err.err.code, VG_EUNAVAIL);
    assert_int_equal(err.http_status, 0);
    assert_non_null(strstr(err.err.msg, "unreachable"));
    char *out = NULL;
    assert_int_equal(grafana_health(c, &out, &err), VG_EUNAVAIL);
    assert_non_null(strstr(out, "\"http_status\":0"));
    free(out);
    fake_control("/__fake/up", "{}");
    grafana_client_free(c);

    /* Nothing listening at all. */
    grafana_config_t cfg;
    fake_config(&cfg);
    cfg.url = "http://127.0.0.1:1";
    vg_error_t e;
    assert_int_equal(grafana_client_new(&cfg, &c, &e), 0);
    assert_int_equal(grafana_tenant_provision(c, "acme", &o, &res, &err), VG_EUNAVAIL);
    assert_int_equal(err.http_status, 0);
    grafana_client_free(c);
}

static void server_errors_retried_then_success(void **state) {
    (void)state;
    FAKE_REQUIRED();
    grafana_client_t *c = fake_client(); /* retries = 2 */
    fake_control("/__fake/fail", "{\"path_prefix\":\"/api/health\",\"status\":503,\"count\":2}");
    grafana_err_t err;
    assert_int_equal(grafana_health(c, NULL, &err), VG_EUNAVAIL); /* health is a probe: never retried */
    fake_control("/__fake/reset", "{}");
    fake_control("/__fake/fail", "{\"path_prefix\":\"/api/orgs\",\"method\":\"GET\",\"status\":503,\"count\":2}");
    int64_t org;
    assert_int_equal(grafana_tenant_org(c, "acme", &org, &err), VG_ENOTFOUND); /* reached Grafana on try 3 */
    assert_int_equal(fake_count("GET", "/api/orgs"), 3);
    grafana_client_free(c);
}

static void retries_are_bounded(void **state) {
    (void)state;
    FAKE_REQUIRED();
    grafana_client_t *c = fake_client();
    fake_control("/__fake/fail", "{\"path_prefix\":\"/api/orgs\",\"status\":500,\"count\":100}");
    int64_t org;
    grafana_err_t err;
    assert_int_equal(grafana_tenant_org(c, "acme", &org, &err), VG_EUNAVAIL);
    assert_int_equal(err.http_status, 500);
    assert_int_equal(fake_count(NULL, "/api/orgs"), 3); /* 1 + retries */
    grafana_client_free(c);
}

static void client_errors_not_retried(void **state) {
    (void)state;
    FAKE_REQUIRED();
    grafana_config_t cfg;
    fake_config(&cfg);
    cfg.admin_password = "wrong";
    grafana_client_t *c;
    vg_error_t e;
    assert_int_equal(grafana_client_new(&cfg, &c, &e), 0);
    int64_t org;
    grafana_err_t err;
    assert_int_equal(grafana_tenant_org(c, "acme", &org, &err), VG_EAUTH);
    assert_int_equal(err.http_status, 401);
    assert_non_null(strstr(err.err.msg, "invalid username or password"));
    assert_int_equal(fake_count(NULL, "/api/orgs"), 1);
    grafana_client_free(c);

    c = fake_client();
    fake_control("/__fake/fail", "{\"path_prefix\":\"/api/orgs\",\"status\":429,\"count\":5}");
    assert_int_equal(grafana_tenant_org(c, "acme", &org, &err), VG_ERATELIMIT);
    assert_int_equal(err.http_status, 429);
    assert_int_equal(fake_count(NULL, "/api/orgs"), 2); /* the 401 above + this one */
    grafana_client_free(c);
}

/* errutil bodies carry a messageId, dashboard bodies a status: both end up in err.reason. */
static void error_shapes(void **state) {
    (void)state;
    FAKE_REQUIRED();
    grafana_client_t *c = fake_client();
    grafana_provision_result_t res;
    fake_provision(c, "acme", &res);
    grafana_err_t err;
    char *out = NULL;
    assert_int_equal(grafana_dashboard_get(c, "acme", "nope", &out, &err), VG_ENOTFOUND);
    assert_int_equal(err.http_status, 404);
    assert_string_equal(err.reason, "not-found");
    assert_non_null(strstr(err.err.msg, "Dashboard not found"));
    assert_int_equal(grafana_token_revoke(c, "acme", 999999, &err), VG_ENOTFOUND);
    assert_string_equal(err.reason, "serviceaccounts.ErrTokenNotFound");
    assert_non_null(strstr(err.err.msg, "404"));
    grafana_client_free(c);
}

static void timeouts(void **state) {
    (void)state;
    FAKE_REQUIRED();
    grafana_config_t cfg;
    fake_config(&cfg);
    cfg.timeout_ms = 200;
    cfg.retries = 1;
    grafana_client_t *c;
    vg_error_t e;
    assert_int_equal(grafana_client_new(&cfg, &c, &e), 0);
    /* mode "slow" delays by `status` milliseconds. */
    fake_control("/__fake/fail", "{\"path_prefix\":\"/api/orgs\",\"mode\":\"slow\",\"status\":700,\"count\":2}");
    int64_t org;
    grafana_err_t err;
    assert_int_equal(grafana_tenant_org(c, "acme", &org, &err), VG_ETIMEOUT);
    assert_int_equal(err.http_status, 0);
    grafana_client_free(c);
}

static void response_size_limit(void **state) {
    (void)state;
    FAKE_REQUIRED();
    grafana_client_t *c = fake_client();
    grafana_provision_result_t res;
    fake_provision(c, "acme", &res);
    grafana_client_free(c);
    grafana_config_t cfg;
    fake_config(&cfg);
    cfg.max_response_bytes = 2048; /* a dashboard is ~18 KB */
    vg_error_t e;
    assert_int_equal(grafana_client_new(&cfg, &c, &e), 0);
    grafana_err_t err;
    char *out = NULL;
    assert_int_equal(grafana_dashboard_get(c, "acme", "vigil-overview", &out, &err), VG_ETOOLARGE);
    assert_null(out);
    assert_int_equal(fake_count("GET", "/api/dashboards/uid/vigil-overview"), 2); /* one by provisioning */
    grafana_client_free(c);
}

static void config_is_checked(void **state) {
    (void)state;
    FAKE_REQUIRED();
    grafana_config_t cfg;
    grafana_client_t *c = NULL;
    vg_error_t e;
    fake_config(&cfg);
    cfg.url = "ftp://x";
    assert_int_equal(grafana_client_new(&cfg, &c, &e), VG_ECONFIG);
    fake_config(&cfg);
    cfg.admin_password = NULL;
    assert_int_equal(grafana_client_new(&cfg, &c, &e), VG_ECONFIG);
    fake_config(&cfg);
    cfg.retries = -1;
    assert_int_equal(grafana_client_new(&cfg, &c, &e), VG_ECONFIG);
    fake_config(&cfg);
    cfg.admin_password = NULL;
    cfg.admin_password_file = "/nonexistent/pw";
    assert_int_equal(grafana_client_new(&cfg, &c, &e), VG_EIO);
    fake_config(&cfg);
    cfg.dashboards_dir = "/nonexistent";
    assert_int_equal(grafana_client_new(&cfg, &c, &e), VG_EIO);
    assert_null(c);

    /* The password file: trailing newline dropped, the password works. */
    char path[] = "/tmp/vigil-grafana-pw-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, FAKE_ADMIN_PASSWORD "\n", sizeof FAKE_ADMIN_PASSWORD), (ssize_t)sizeof FAKE_ADMIN_PASSWORD);
    close(fd);
    fake_config(&cfg);
    cfg.admin_password = NULL;
    cfg.admin_password_file = path;
    assert_int_equal(grafana_client_new(&cfg, &c, &e), 0);
    grafana_provision_result_t res;
    fake_provision(c, "acme", &res);
    grafana_client_free(c);
    unlink(path);
}

static bool file_contains(const char *path, const char *needle) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, needle) != NULL;
}

/* Debug logging of a whole session with failures and retries holds no password, token or credential. */
static void no_secret_in_logs(void **state) {
    (void)state;
    FAKE_REQUIRED();
    char path[] = "/tmp/vigil-grafana-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    vg_log_set_fd(fd);
    vg_log_level_t lvl = vg_log_get_level();
    vg_log_set_level(VG_LOG_DEBUG);
    grafana_client_t *c = fake_client();
    fake_control("/__fake/fail", "{\"path_prefix\":\"/api/\",\"status\":503,\"count\":2}");
    grafana_provision_result_t res;
    fake_provision(c, "acme", &res);
    grafana_token_t tok;
    grafana_err_t err;
    fake_control("/__fake/fail", "{\"path_prefix\":\"/api/serviceaccounts\",\"status\":502,\"count\":1,\"after\":true}");
    assert_int_equal(grafana_token_create(c, "acme", 0, &tok, &err), 0);
    char *answer = NULL;
    assert_int_equal(grafana_token_response(c, "acme", "client-acme", &tok, &answer), 0);
    char key[128];
    snprintf(key, sizeof key, "%s", tok.key);
    grafana_token_deinit(&tok);
    free(answer);
    grafana_client_free(c);
    vg_log_set_level(lvl);
    vg_log_set_fd(2);
    close(fd);
    assert_true(file_contains(path, "retrying request")); /* the log did record the session */
    assert_false(file_contains(path, FAKE_ADMIN_PASSWORD));
    assert_false(file_contains(path, key));
    assert_false(file_contains(path, "glsa_"));
    assert_false(file_contains(path, "jwt-acme"));
    unlink(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(health_ok_and_unhealthy, fake_test_setup),
        cmocka_unit_test_setup(grafana_down_is_unavailable, fake_test_setup),
        cmocka_unit_test_setup(server_errors_retried_then_success, fake_test_setup),
        cmocka_unit_test_setup(retries_are_bounded, fake_test_setup),
        cmocka_unit_test_setup(client_errors_not_retried, fake_test_setup),
        cmocka_unit_test_setup(error_shapes, fake_test_setup),
        cmocka_unit_test_setup(timeouts, fake_test_setup),
        cmocka_unit_test_setup(response_size_limit, fake_test_setup),
        cmocka_unit_test_setup(config_is_checked, fake_test_setup),
        cmocka_unit_test_setup(no_secret_in_logs, fake_test_setup),
    };
    return cmocka_run_group_tests(tests, fake_group_setup, fake_group_teardown);
}
