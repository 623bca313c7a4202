/* Dashboard template rendering (pure, no Grafana): variables substituted inside strings of the JSON
 * tree only, with Grafana's variable syntaxes and word boundaries; substituted variables leave the
 * templating list, others stay; and the shipped templates load and render cleanly. */
#include "grafana/grafana.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static json_t *render(const char *in, const grafana_var_t *vars, size_t n) {
    char *out = NULL;
    vg_error_t err;
    int rc = grafana_template_render(in, strlen(in), vars, n, &out, &err);
    if (rc) fail_msg("render: %s", err.msg);
    json_t *j = json_loads(out, 0, NULL);
    assert_non_null(j);
    free(out);
    return j;
}

static const char *at(json_t *j, const char *path) {
    /* "a.b.0.c" */
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *tok = strtok(buf, "."); tok && j; tok = strtok(NULL, "."))
        j = json_is_array(j) ? json_array_get(j, (size_t)atoi(tok)) : json_object_get(j, tok);
    return json_string_value(j);
}

static void syntaxes(void **state) {
    (void)state;
    grafana_var_t v[] = {{"cluster", "prod"}, {"datasource", "vigil"}};
    json_t *j = render("{\"a\":\"${cluster}\",\"b\":\"$cluster\",\"c\":\"x-$cluster-y\",\"d\":\"${cluster:regex}\","
                       "\"e\":\"$clusters\",\"f\":\"$__rate_interval\",\"g\":\"$$cluster\",\"h\":\"${clusterx}\","
                       "\"i\":\"$\",\"j\":\"${\",\"k\":\"${}\",\"l\":\"{cluster=\\\"$cluster\\\",ds=\\\"$datasource\\\"}\"}",
                       v, 2);
    assert_string_equal(at(j, "a"), "prod");
    assert_string_equal(at(j, "b"), "prod");
    assert_string_equal(at(j, "c"), "x-prod-y");
    assert_string_equal(at(j, "d"), "prod");
    assert_string_equal(at(j, "e"), "$clusters");       /* word boundary */
    assert_string_equal(at(j, "f"), "$__rate_interval"); /* built-ins untouched */
    assert_string_equal(at(j, "g"), "$prod");
    assert_string_equal(at(j, "h"), "${clusterx}");
    assert_string_equal(at(j, "i"), "$");
    assert_string_equal(at(j, "j"), "${");
    assert_string_equal(at(j, "k"), "${}");
    assert_string_equal(at(j, "l"), "{cluster=\"prod\",ds=\"vigil\"}");
    json_decref(j);
}

/* Keys, numbers and structure are never touched; nested arrays and objects are. A value that looks
 * like JSON or like another variable stays a plain string (no re-substitution, no injection). */
static void strings_only(void **state) {
    (void)state;
    grafana_var_t v[] = {{"cluster", "\"},\"evil\":{\"x\":\"$datasource"}, {"datasource", "vigil"}};
    json_t *j = render("{\"$cluster\":\"k\",\"n\":5,\"arr\":[\"$cluster\",[\"${datasource}\"],{\"q\":\"$datasource\"}]}",
                       v, 2);
    assert_string_equal(at(j, "$cluster"), "k");
    assert_int_equal(json_integer_value(json_object_get(j, "n")), 5);
    assert_string_equal(at(j, "arr.0"), "\"},\"evil\":{\"x\":\"$datasource");
    assert_string_equal(at(j, "arr.1.0"), "vigil");
    assert_string_equal(at(j, "arr.2.q"), "vigil");
    assert_null(json_object_get(j, "evil"));
    assert_int_equal(json_object_size(j), 3);
    json_decref(j);
}

static void templating_sanitised(void **state) {
    (void)state;
    grafana_var_t v[] = {{"cluster", "prod"}, {"datasource", "vigil"}};
    json_t *j = render("{\"id\":17,\"uid\":\"u\",\"title\":\"T $cluster\",\"templating\":{\"list\":["
                       "{\"name\":\"datasource\",\"type\":\"datasource\",\"query\":\"prometheus\"},"
                       "{\"name\":\"cluster\",\"type\":\"query\",\"datasource\":{\"uid\":\"${datasource}\"}},"
                       "{\"name\":\"namespace\",\"type\":\"query\",\"datasource\":{\"uid\":\"${datasource}\"},"
                       "\"query\":\"label_values(kube_pod_info{cluster=\\\"$cluster\\\"}, namespace)\"}]}}",
                       v, 2);
    assert_null(json_object_get(j, "id"));
    assert_string_equal(at(j, "title"), "T prod");
    json_t *list = json_object_get(json_object_get(j, "templating"), "list");
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(at(j, "templating.list.0.name"), "namespace");
    assert_string_equal(at(j, "templating.list.0.datasource.uid"), "vigil");
    assert_string_equal(at(j, "templating.list.0.query"), "label_values(kube_pod_info{cluster=\"prod\"}, namespace)");
    json_decref(j);

    /* Without a cluster value, $cluster and its variable stay for the user to pick. */
    grafana_var_t ds[] = {{"datasource", "vigil"}};
    j = render("{\"title\":\"$cluster\",\"templating\":{\"list\":[{\"name\":\"datasource\"},{\"name\":\"cluster\"}]}}", ds, 1);
    assert_string_equal(at(j, "title"), "$cluster");
    assert_string_equal(at(j, "templating.list.0.name"), "cluster");
    assert_int_equal(json_array_size(json_object_get(json_object_get(j, "templating"), "list")), 1);
    json_decref(j);
}

static void later_vars_win(void **state) {
    (void)state;
    grafana_var_t v[] = {{"cluster", "a"}, {"cluster", "b"}};
    json_t *j = render("{\"x\":\"$cluster\"}", v, 2);
    assert_string_equal(at(j, "x"), "b");
    json_decref(j);
}

static void rejects(void **state) {
    (void)state;
    char *out = NULL;
    vg_error_t err;
    assert_int_equal(grafana_template_render("[1,2]", 5, NULL, 0, &out, &err), VG_EINVAL);
    assert_int_equal(grafana_template_render("{\"a\":", 5, NULL, 0, &out, &err), VG_EINVAL);
    assert_int_equal(grafana_template_render("{\"a\":1,\"a\":2}", 13, NULL, 0, &out, &err), VG_EINVAL);
    grafana_var_t bad[] = {{"", "x"}};
    assert_int_equal(grafana_template_render("{}", 2, bad, 1, &out, &err), VG_EINVAL);
    assert_null(out);
}

/* The shipped templates: load, have unique uids, render to dashboards with no datasource placeholder
 * left, every panel on the vigil datasource, unique panel ids, and grid positions within 24 columns. */
static void shipped_templates(void **state) {
    (void)state;
    const char *root = getenv("VIGIL_SOURCE_ROOT");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/grafana/dashboards", root ? root : ".");
    grafana_config_t cfg;
    grafana_config_defaults(&cfg);
    cfg.url = "http://127.0.0.1:1";
    cfg.admin_user = "admin";
    cfg.admin_password = "x";
    cfg.dashboards_dir = dir;
    grafana_client_t *c;
    vg_error_t err;
    if (grafana_client_new(&cfg, &c, &err)) fail_msg("%s", err.msg);
    char *out = NULL;
    assert_int_equal(grafana_template_list(c, &out), 0);
    json_t *list = json_loads(out, 0, NULL);
    free(out);
    assert_true(json_array_size(list) >= 4);
    const char *want[] = {"api-red", "k8s-namespace", "node-host", "vigil-overview"};
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(list, i), "name")), want[i]);
    json_decref(list);
    grafana_client_free(c);

    static const char *const self_metrics[] = {"vigil_http_requests_total", "vigil_http_request_duration_seconds",
                                               "process_resident_memory_bytes", "vigil_head_series",
                                               "vigil_samples_appended_total"};
    for (size_t i = 0; i < 4; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s.json", dir, want[i]);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        static char text[1 << 20];
        size_t n = fread(text, 1, sizeof text, f);
        fclose(f);
        grafana_var_t v[] = {{"datasource", "vigil"}};
        char *r = NULL;
        assert_int_equal(grafana_template_render(text, n, v, 1, &r, &err), 0);
        assert_null(strstr(r, "$datasource"));
        assert_null(strstr(r, "${datasource}"));
        if (i == 3)
            for (size_t k = 0; k < sizeof self_metrics / sizeof *self_metrics; k++)
                if (!strstr(r, self_metrics[k])) fail_msg("vigil-overview lacks %s", self_metrics[k]);
        json_t *d = json_loads(r, 0, NULL);
        free(r);
        assert_true(json_integer_value(json_object_get(d, "schemaVersion")) >= 36);
        size_t k;
        json_t *p;
        int64_t ids[256] = {0};
        json_array_foreach(json_object_get(d, "panels"), k, p) {
            assert_true(k < 256);
            ids[k] = json_integer_value(json_object_get(p, "id"));
            for (size_t m = 0; m < k; m++) assert_true(ids[m] != ids[k]);
            json_t *g = json_object_get(p, "gridPos");
            assert_true(json_integer_value(json_object_get(g, "x")) + json_integer_value(json_object_get(g, "w")) <= 24);
            if (strcmp(json_string_value(json_object_get(p, "type")), "row"))
                assert_string_equal(json_string_value(json_object_get(json_object_get(p, "datasource"), "uid")), "vigil");
        }
        json_decref(d);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(syntaxes),         cmocka_unit_test(strings_only), cmocka_unit_test(templating_sanitised),
        cmocka_unit_test(later_vars_win),   cmocka_unit_test(rejects),      cmocka_unit_test(shipped_templates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
