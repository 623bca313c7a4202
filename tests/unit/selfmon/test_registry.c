/* The metrics registry: exact exposition text (0.0.4 and OpenMetrics), sharded counters under
 * concurrency, histogram buckets, name validation, component health. */
#include "selfmon/selfmon.h"

#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void exposition_text(void **state) {
    (void)state;
    selfmon_registry_t *r = selfmon_registry_new();
    const char *ln[] = {"handler", "code"};
    selfmon_family_t *c = selfmon_counter(r, "t_requests_total", "Requests.\nSecond line \\ end", 2, ln);
    const char *v1[] = {"/a", "200"}, *v2[] = {"/b\"q\n", "500"};
    selfmon_counter_add(selfmon_with(c, v1), 3);
    selfmon_counter_inc(selfmon_with(c, v2));
    selfmon_counter_inc(selfmon_with(c, v1));
    selfmon_gauge_set(selfmon_metric(selfmon_gauge(r, "t_gauge", "A gauge.", 0, NULL)), -1.5e-7);
    const double b[] = {0.1, 1};
    selfmon_metric_t *h = selfmon_metric(selfmon_histogram(r, "t_seconds", "Durations.", 0, NULL, 2, b));
    selfmon_histogram_observe(h, 0.05);
    selfmon_histogram_observe(h, 0.1);
    selfmon_histogram_observe(h, 5);
    vg_buf_t out = VG_BUF_INIT;
    selfmon_write(r, &out, false);
    assert_string_equal(out.data, "# HELP t_gauge A gauge.\n"
                                  "# TYPE t_gauge gauge\n"
                                  "t_gauge -1.5e-07\n"
                                  "# HELP t_requests_total Requests.\\nSecond line \\\\ end\n"
                                  "# TYPE t_requests_total counter\n"
                                  "t_requests_total{handler=\"/a\",code=\"200\"} 4\n"
                                  "t_requests_total{handler=\"/b\\\"q\\n\",code=\"500\"} 1\n"
                                  "# HELP t_seconds Durations.\n"
                                  "# TYPE t_seconds histogram\n"
                                  "t_seconds_bucket{le=\"0.1\"} 2\n"
                                  "t_seconds_bucket{le=\"1\"} 2\n"
                                  "t_seconds_bucket{le=\"+Inf\"} 3\n"
                                  "t_seconds_sum 5.15\n"
                                  "t_seconds_count 3\n");
    vg_buf_reset(&out);
    selfmon_write(r, &out, true);
    assert_non_null(strstr(out.data, "# TYPE t_requests counter\n"));
    assert_non_null(strstr(out.data, "# HELP t_requests Requests.\\nSecond line \\\\ end\n"));
    assert_non_null(strstr(out.data, "t_requests_total{handler=\"/a\",code=\"200\"} 4\n"));
    size_t n = strlen(out.data);
    assert_true(n > 6 && !strcmp(out.data + n - 6, "# EOF\n"));
    vg_buf_deinit(&out);
    selfmon_registry_free(r);
}

static void validation(void **state) {
    (void)state;
    selfmon_registry_t *r = selfmon_registry_new();
    assert_null(selfmon_counter(r, "no_suffix", "x", 0, NULL));   /* counters end in _total */
    assert_null(selfmon_gauge(r, "1bad", "x", 0, NULL));
    const char *bad_label[] = {"a-b"};
    assert_null(selfmon_gauge(r, "g", "x", 1, bad_label));
    const char *le[] = {"le"};
    const double b[] = {1};
    assert_null(selfmon_histogram(r, "h", "x", 1, le, 1, b));
    const double unsorted[] = {2, 1};
    assert_null(selfmon_histogram(r, "h2", "x", 0, NULL, 2, unsorted));
    selfmon_family_t *g = selfmon_gauge(r, "g_ok", "x", 0, NULL);
    assert_ptr_equal(selfmon_gauge(r, "g_ok", "x", 0, NULL), g); /* same name, same family */
    assert_null(selfmon_counter(r, "g_ok", "x", 0, NULL));       /* type clash */
    selfmon_metric_t *m = selfmon_metric(selfmon_counter(r, "c_total", "x", 0, NULL));
    selfmon_counter_add(m, -1); /* counters never go down */
    selfmon_counter_add(m, NAN);
    assert_true(selfmon_value(m) == 0);
    selfmon_registry_free(r);
}

typedef struct {
    selfmon_metric_t *m;
} worker_t;

static void *work(void *p) {
    worker_t *w = p;
    for (int i = 0; i < 100000; i++) selfmon_counter_inc(w->m);
    return NULL;
}

static void concurrent_counter(void **state) {
    (void)state;
    selfmon_registry_t *r = selfmon_registry_new();
    worker_t w = {selfmon_metric(selfmon_counter(r, "x_total", "x", 0, NULL))};
    pthread_t th[8];
    for (int i = 0; i < 8; i++) pthread_create(&th[i], NULL, work, &w);
    for (int i = 0; i < 8; i++) pthread_join(th[i], NULL);
    assert_true(selfmon_value(w.m) == 800000);
    selfmon_registry_free(r);
}

static double answer(void *ctx) { return *(double *)ctx; }

static void func_metric(void **state) {
    (void)state;
    selfmon_registry_t *r = selfmon_registry_new();
    double v = 42;
    selfmon_func(r, SELFMON_GAUGE, "f_value", "Computed.", answer, &v);
    vg_buf_t out = VG_BUF_INIT;
    selfmon_write(r, &out, false);
    assert_string_equal(out.data, "# HELP f_value Computed.\n# TYPE f_value gauge\nf_value 42\n");
    vg_buf_deinit(&out);
    selfmon_registry_free(r);
}

static void process_metrics(void **state) {
    (void)state;
    selfmon_registry_t *r = selfmon_registry_new();
    selfmon_register_process(r);
    vg_buf_t out = VG_BUF_INIT;
    selfmon_write(r, &out, false);
    const char *names[] = {"\nprocess_cpu_seconds_total ", "\nprocess_resident_memory_bytes ", "\nprocess_open_fds ",
                           "\nprocess_start_time_seconds ", "\nprocess_max_fds ", "\nprocess_virtual_memory_bytes "};
    for (size_t i = 0; i < 6; i++) {
        const char *p = strstr(out.data, names[i]);
        if (!p) fail_msg("missing %s in\n%s", names[i], out.data);
        double v = strtod(p + strlen(names[i]), NULL);
        if (strcmp(names[i], "\nprocess_cpu_seconds_total ") && !(v > 0)) fail_msg("%s= %g", names[i] + 1, v);
    }
    vg_buf_deinit(&out);
    selfmon_registry_free(r);
}

static void health(void **state) {
    (void)state;
    selfmon_status_t st;
    char msg[64];
    assert_false(selfmon_health_get("t-comp", &st, msg, sizeof msg));
    selfmon_health_set("t-comp", SELFMON_STARTING, "replaying");
    assert_true(selfmon_health_get("t-comp", &st, msg, sizeof msg));
    assert_int_equal(st, SELFMON_STARTING);
    assert_string_equal(msg, "replaying");
    selfmon_health_set("t-comp", SELFMON_UP, NULL);
    assert_true(selfmon_health_get("t-comp", &st, msg, sizeof msg));
    assert_int_equal(st, SELFMON_UP);
    assert_string_equal(msg, "");
    assert_string_equal(selfmon_status_name(SELFMON_DEGRADED), "degraded");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exposition_text), cmocka_unit_test(validation),      cmocka_unit_test(concurrent_counter),
        cmocka_unit_test(func_metric),     cmocka_unit_test(process_metrics), cmocka_unit_test(health),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
