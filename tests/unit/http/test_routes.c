/* Route matching and the route table's invariants. */
#include "http/http.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void match(void **state) {
    (void)state;
    vg_arena_t a;
    vg_arena_init(&a, 0);
    http_req_t req = {.arena = &a};
    assert_true(http_route_match("/api/v1/status", "/api/v1/status", &req));
    assert_false(http_route_match("/api/v1/status", "/api/v1/status/", &req));
    assert_false(http_route_match("/api/v1/status", "/api/v1/statu", &req));
    assert_true(http_route_match("/api/v1/label/{name}/values", "/api/v1/label/job/values", &req));
    assert_int_equal(req.n_path_params, 1);
    assert_string_equal(http_req_path_param(&req, "name"), "job");
    assert_null(http_req_path_param(&req, "other"));
    assert_false(http_route_match("/api/v1/label/{name}/values", "/api/v1/label//values", &req));
    assert_false(http_route_match("/api/v1/label/{name}/values", "/api/v1/label/a/b/values", &req));
    assert_true(http_route_match("/api/v1/health/{component}", "/api/v1/health/storage", &req));
    assert_string_equal(http_req_path_param(&req, "component"), "storage");
    assert_false(http_route_match("/api/v1/health/{component}", "/api/v1/health/", &req));
    vg_arena_deinit(&a);
}

/* Every route has a handler, a label, methods, and a pattern that starts with '/'; no two routes
 * share a pattern and a method (the second would be dead). */
static void table(void **state) {
    (void)state;
    assert_true(http_n_routes > 0);
    for (size_t i = 0; i < http_n_routes; i++) {
        const http_route_t *r = &http_routes[i];
        assert_non_null(r->fn);
        assert_non_null(r->pattern);
        assert_true(r->methods != 0);
        assert_int_equal(r->pattern[0], '/');
        for (size_t j = 0; j < i; j++)
            if (!strcmp(http_routes[j].pattern, r->pattern) && (http_routes[j].methods & r->methods))
                fail_msg("route %s declared twice for the same method", r->pattern);
    }
}

static void params(void **state) {
    (void)state;
    http_param_t ps[] = {{"match[]", "up"}, {"query", "a"}, {"match[]", "x"}};
    http_req_t req = {.params = ps, .n_params = 3};
    assert_string_equal(http_req_param(&req, "match[]"), "up");
    assert_int_equal(http_req_param_count(&req, "match[]"), 2);
    assert_int_equal(http_req_param_count(&req, "time"), 0);
    assert_null(http_req_param(&req, "time"));
}

static void error_shape(void **state) {
    (void)state;
    http_resp_t resp = {0};
    http_resp_error(&resp, VG_ETOOLARGE, "too \"big\"");
    assert_int_equal(resp.status, 413);
    assert_string_equal(resp.body.data, "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"too \\\"big\\\"\"}");
    http_resp_error(&resp, VG_EEXEC, NULL);
    assert_int_equal(resp.status, 422);
    assert_string_equal(resp.body.data, "{\"status\":\"error\",\"errorType\":\"execution\",\"error\":\"execution error\"}");
    http_resp_error(&resp, VG_ETIMEOUT, "query timed out in expression evaluation");
    assert_int_equal(resp.status, 503);
    http_resp_error(&resp, -12345, "?");
    assert_int_equal(resp.status, 500);
    assert_non_null(strstr(resp.body.data, "\"internal\""));
    vg_buf_deinit(&resp.body);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(match), cmocka_unit_test(table), cmocka_unit_test(params),
                                       cmocka_unit_test(error_shape)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
