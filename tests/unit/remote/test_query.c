/* remote query: the answers of a Prometheus-compatible API parsed into the engine's result structs —
 * every result type (vector, matrix, scalar, string), the special values (NaN, ±Inf, a staleness
 * marker's NaN), warnings, labels sorted; error answers mapped onto VG_E* whose errorType is the
 * engine's again; bodies that are not the API's; and the executor against an engine that is not
 * there (VG_EUNAVAIL, no crash, no leak). */
#include "remote/remote.h"
#include "remote/remote_int.h"
#include "util/error.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static promql_result_t *parse(vg_arena_t *a, const char *body, long status, int want_rc, vg_error_t *err) {
    promql_result_t *r = NULL;
    int rc = remote_result_parse(body, strlen(body), status, 1000, a, &r, err);
    if (rc != want_rc) fail_msg("rc %d, want %d (%s) for %s", rc, want_rc, err->msg, body);
    return r;
}

/* An engine answer vigil cannot serve as its own: matrix points out of time order, or repeated, is a
 * 502 (both the one-pass reader's shape and one only the general path reads); empty values are fine. */
static void out_of_order(void **state) {
    (void)state;
    vg_arena_t a;
    vg_arena_init(&a, 4096);
    vg_error_t err;
    parse(&a, "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":["
              "{\"metric\":{\"a\":\"1\"},\"values\":[[2,\"1\"],[1,\"2\"]]}]}}", 200, VG_EUPSTREAM, &err);
    assert_non_null(strstr(err.msg, "out of time order"));
    parse(&a, "{\"data\":{\"result\":[{\"values\":[[1,\"1\"],[1,\"2\"]],\"metric\":{}}],\"resultType\":\"matrix\"},"
              "\"status\":\"success\"}", 200, VG_EUPSTREAM, &err);
    promql_result_t *r = parse(&a, "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":["
                                   "{\"metric\":{\"a\":\"1\"},\"values\":[]}]}}", 200, 0, &err);
    assert_int_equal(r->n_series, 1);
    assert_int_equal(r->series[0].n_points, 0);
    vg_arena_deinit(&a);
}

static void vector(void **state) {
    (void)state;
    vg_arena_t a;
    vg_arena_init(&a, 4096);
    vg_error_t err;
    promql_result_t *r = parse(&a,
                               "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":["
                               "{\"metric\":{\"z\":\"1\",\"__name__\":\"up\",\"a\":\"x\"},\"value\":[1700000000.123,\"1.5\"]},"
                               "{\"metric\":{},\"value\":[1700000000.123,\"NaN\"]},"
                               "{\"metric\":{\"b\":\"\\\"q\\\"\"},\"value\":[1700000000,\"+Inf\"]},"
                               "{\"metric\":{\"b\":\"2\"},\"value\":[1700000000,\"-Inf\"]}]}}",
                               200, 0, &err);
    assert_non_null(r);
    assert_int_equal(r->type, PROMQL_TYPE_VECTOR);
    assert_int_equal(r->n_series, 4);
    assert_int_equal(r->t, 1000);
    const promql_series_t *s = &r->series[0];
    assert_int_equal(s->n_labels, 3);
    assert_string_equal(s->labels[0].name, "__name__"); /* sorted by name */
    assert_string_equal(s->labels[1].name, "a");
    assert_string_equal(s->labels[2].name, "z");
    assert_int_equal(s->n_points, 1);
    assert_int_equal(s->points[0].t, INT64_C(1700000000123));
    assert_true(s->points[0].v == 1.5);
    assert_int_equal(r->series[1].n_labels, 0);
    assert_true(isnan(r->series[1].points[0].v));
    assert_string_equal(r->series[2].labels[0].value, "\"q\"");
    assert_true(isinf(r->series[2].points[0].v) && r->series[2].points[0].v > 0);
    assert_true(isinf(r->series[3].points[0].v) && r->series[3].points[0].v < 0);
    assert_int_equal(r->n_warnings, 0);
    vg_arena_deinit(&a);
}

static void matrix(void **state) {
    (void)state;
    vg_arena_t a;
    vg_arena_init(&a, 4096);
    vg_error_t err;
    promql_result_t *r = parse(&a,
                               "{\"status\":\"success\",\"warnings\":[\"w1\",\"w2\"],\"data\":{\"resultType\":\"matrix\","
                               "\"result\":[{\"metric\":{\"job\":\"a\"},\"values\":[[1,\"1\"],[1.5,\"2e3\"],[2.001,\"-0\"]]},"
                               "{\"metric\":{\"job\":\"b\"},\"values\":[]}]}}",
                               200, 0, &err);
    assert_non_null(r);
    assert_int_equal(r->type, PROMQL_TYPE_MATRIX);
    assert_int_equal(r->n_series, 2);
    assert_int_equal(r->series[0].n_points, 3);
    assert_int_equal(r->series[0].points[0].t, 1000);
    assert_int_equal(r->series[0].points[1].t, 1500);
    assert_int_equal(r->series[0].points[2].t, 2001);
    assert_true(r->series[0].points[1].v == 2000);
    assert_true(signbit(r->series[0].points[2].v));
    assert_int_equal(r->series[1].n_points, 0);
    assert_int_equal(r->n_warnings, 2);
    assert_string_equal(r->warnings[1], "w2");
    vg_arena_deinit(&a);
}

static void scalar_string(void **state) {
    (void)state;
    vg_arena_t a;
    vg_arena_init(&a, 4096);
    vg_error_t err;
    promql_result_t *r =
        parse(&a, "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":[1700000000.5,\"-Inf\"]}}", 200, 0, &err);
    assert_int_equal(r->type, PROMQL_TYPE_SCALAR);
    assert_int_equal(r->t, INT64_C(1700000000500));
    assert_true(isinf(r->scalar) && r->scalar < 0);
    r = parse(&a, "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":[1,\"NaN\"]}}", 200, 0, &err);
    assert_true(isnan(r->scalar));
    r = parse(&a, "{\"status\":\"success\",\"data\":{\"resultType\":\"string\",\"result\":[2,\"a\\u0000b\"]}}", 200, 0, &err);
    assert_int_equal(r->type, PROMQL_TYPE_STRING);
    assert_int_equal(r->t, 2000);
    assert_int_equal(r->string.len, 3); /* NUL kept */
    assert_memory_equal(r->string.ptr, "a\0b", 3);
    vg_arena_deinit(&a);
}

/* Every errorType Prometheus answers with maps onto a code whose errorType is the same again, and the
 * message is the engine's, verbatim. */
static void errors(void **state) {
    (void)state;
    static const struct {
        const char *type;
        long status;
        int code;
    } cases[] = {
        {"bad_data", 400, VG_EINVAL},      {"execution", 422, VG_EEXEC},      {"timeout", 503, VG_ETIMEOUT},
        {"canceled", 499, VG_ECANCELED},   {"internal", 500, VG_EINTERNAL},   {"unavailable", 503, VG_EUNAVAIL},
        {"not_found", 404, VG_ENOTFOUND},
    };
    vg_arena_t a;
    vg_arena_init(&a, 4096);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char body[256];
        snprintf(body, sizeof body, "{\"status\":\"error\",\"errorType\":\"%s\",\"error\":\"boom \\\"%zu\\\"\"}", cases[i].type, i);
        vg_error_t err;
        assert_null(parse(&a, body, cases[i].status, cases[i].code, &err));
        assert_int_equal(remote_error_code(cases[i].type, cases[i].status), cases[i].code);
        assert_string_equal(vg_error_type(cases[i].code), cases[i].type);
        char want[64];
        snprintf(want, sizeof want, "boom \"%zu\"", i);
        assert_string_equal(err.msg, want);
    }
    /* no errorType: by status */
    assert_int_equal(remote_error_code(NULL, 400), VG_EINVAL);
    assert_int_equal(remote_error_code(NULL, 422), VG_EEXEC);
    assert_int_equal(remote_error_code(NULL, 503), VG_EUNAVAIL);
    assert_int_equal(remote_error_code(NULL, 502), VG_EUPSTREAM);
    assert_int_equal(remote_error_code("something_new", 429), VG_ERATELIMIT);
    vg_arena_deinit(&a);
}

static void not_the_api(void **state) {
    (void)state;
    vg_arena_t a;
    vg_arena_init(&a, 4096);
    vg_error_t err;
    assert_null(parse(&a, "<html>bad gateway</html>", 502, VG_EUPSTREAM, &err));
    assert_non_null(strstr(err.msg, "HTTP 502"));
    assert_null(parse(&a, "service unavailable\nmore", 503, VG_EUNAVAIL, &err));
    assert_null(strchr(err.msg, '\n'));
    assert_null(parse(&a, "{\"status\":\"success\"}", 200, VG_EUPSTREAM, &err));
    assert_null(parse(&a, "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\":{},\"value\":[1,2]}]}}",
                      200, VG_EUPSTREAM, &err));
    assert_null(parse(&a, "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\":{},\"value\":[1,\"x\"]}]}}",
                      200, VG_EUPSTREAM, &err));
    assert_null(parse(&a, "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"a\":1},\"value\":[1,\"1\"]}]}}",
                      200, VG_EUPSTREAM, &err));
    assert_null(parse(&a, "{\"status\":\"success\",\"data\":{\"resultType\":\"histogram\",\"result\":[]}}", 200, VG_EUPSTREAM, &err));
    vg_arena_deinit(&a);
}

/* An engine that is not there: every call fails with VG_EUNAVAIL naming the URL, through a tenant view too. */
static void unreachable(void **state) {
    (void)state;
    remote_query_opts_t o = {.url = "http://127.0.0.1:1/prometheus/", .tenant_header = "X-Scope-OrgID", .timeout_ms = 2000};
    promql_executor_t *ex;
    vg_error_t err;
    assert_int_equal(remote_executor_new(&o, &ex, &err), 0);
    vg_arena_t a;
    vg_arena_init(&a, 4096);
    promql_executor_t *v = promql_executor_scoped(ex, "alice", &a);
    assert_ptr_not_equal(v, ex);
    const char *const *names;
    size_t n;
    assert_int_equal(promql_label_names(v, 0, 1000, NULL, 0, &a, &names, &n, &err), VG_EUNAVAIL);
    assert_non_null(strstr(err.msg, "http://127.0.0.1:1/prometheus"));
    promql_latest_t *l;
    model_matcher_t *m;
    assert_int_equal(model_matcher_new(MODEL_MATCH_EQ, "__name__", "up", &m, &err), 0);
    promql_matcher_set_t set = {&m, 1};
    assert_int_equal(promql_latest(ex, 1000, 300000, &set, 1, &a, &l, &n, &err), VG_EUNSUPPORTED); /* no text parser */
    model_matcher_free(m);
    vg_arena_deinit(&a);
    promql_executor_free(ex);
    o.url = "ftp://x";
    assert_int_equal(remote_executor_new(&o, &ex, &err), VG_EINVAL);
}

/* The one-pass reader (answer.c): what it reads equals what the jansson path reads; every prefix of an
 * answer and every shape it does not know is declined (so the jansson path answers as before). */
static const char wide[] =
    "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":["
    "{\"metric\":{\"__name__\":\"up\",\"job\":\"a\\\"b\\u003c\\u00e9\\ud83d\\ude00\",\"z\":\"\xc3\xa9\"},"
    "\"values\":[[1700000000,\"1\"],[1700000000.5,\"0.4666666666666667\"],[1700000001.25,\"1e-07\"],"
    "[1.7e9,\"-2.5e+21\"],[-1.5,\"NaN\"],[0.001,\"+Inf\"],[1700000000.0005,\"12345678901234567890\"]]},"
    "{\"metric\":{\"__name__\":\"up\",\"job\":\"b\"},\"values\":[]}],\"stats\":{\"x\":[1,true,null,{}]}},"
    "\"warnings\":[\"w1\"],\"infos\":[]}";

static void one_pass(void **state) {
    (void)state;
    vg_arena_t a;
    vg_arena_init(&a, 4096);
    promql_result_t *r = NULL;
    assert_int_equal(remote__answer_read(wide, sizeof wide - 1, 1000, &a, &r), 0);
    assert_int_equal(r->type, PROMQL_TYPE_MATRIX);
    assert_int_equal(r->n_series, 2);
    const promql_series_t *s = &r->series[0];
    assert_int_equal(s->n_labels, 3);
    assert_string_equal(s->labels[1].value, "a\"b<\xc3\xa9\xf0\x9f\x98\x80");
    assert_string_equal(s->labels[2].value, "\xc3\xa9");
    assert_ptr_equal(r->series[1].labels[0].name, s->labels[0].name); /* shared with the previous series */
    assert_int_equal(s->n_points, 7);
    int64_t ts[] = {INT64_C(1700000000000), INT64_C(1700000000500), INT64_C(1700000001250), INT64_C(1700000000000),
                    -1500, 1, INT64_C(1700000000001)};
    double vs[] = {1, 0.4666666666666667, 1e-7, -2.5e21, NAN, INFINITY, 12345678901234567890.0};
    for (size_t i = 0; i < 7; i++) {
        assert_int_equal(s->points[i].t, ts[i]);
        if (isnan(vs[i])) assert_true(isnan(s->points[i].v));
        else if (s->points[i].v != vs[i]) fail_msg("point %zu: %.17g, want %.17g", i, s->points[i].v, vs[i]);
    }
    assert_int_equal(r->series[1].n_points, 0);
    assert_int_equal(r->n_warnings, 1);
    assert_string_equal(r->warnings[0], "w1");
    for (size_t n = 0; n + 1 < sizeof wide - 1; n++) /* every proper prefix: declined, no crash */
        if (!remote__answer_read(wide, n, 1000, &a, &r)) fail_msg("prefix of %zu bytes read", n);
    const char *declined[] = {
        "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"x\"}",
        "{\"status\":\"success\",\"data\":{\"result\":[],\"resultType\":\"vector\"}}",
        "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\":{},\"histogram\":[1,{}]}]}}",
        "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"a\":\"1\",\"a\":\"2\"},\"value\":[1,\"1\"]}]}}",
        "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":[01,\"1\"]}}",
        "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":[1,\"1\"]}} x",
        "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"a\":\"\\u0000\"},\"value\":[1,\"1\"]}]}}",
        "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"a\":\"\xff\"},\"value\":[1,\"1\"]}]}}",
    };
    for (size_t i = 0; i < sizeof declined / sizeof declined[0]; i++)
        if (!remote__answer_read(declined[i], strlen(declined[i]), 1000, &a, &r)) fail_msg("read: %s", declined[i]);
    vg_arena_deinit(&a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(vector), cmocka_unit_test(matrix),      cmocka_unit_test(scalar_string),
        cmocka_unit_test(errors), cmocka_unit_test(not_the_api), cmocka_unit_test(unreachable),
        cmocka_unit_test(one_pass), cmocka_unit_test(out_of_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
