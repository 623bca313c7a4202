/* The rule unit-test runner (`vigil test rules`): positioned structure errors of test files, and the
 * runner's behaviour that the promtool-checked corpus (tests/rules_unittest/) does not reach: the
 * default interval of 0, exact float comparison including NaN, Go-style times in rule errors. */
#include "rules/rules.h"
#include "tsdb/tsdb.h"
#include "util/log.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static void valid_structure(void **state) {
    (void)state;
    const char *y = "rule_files: [a.yml, 'b/*.yml']\n"
                    "evaluation_interval: 30s\n"
                    "group_eval_order: [g1, g2]\n"
                    "tests:\n"
                    "  - interval: 1m\n"
                    "    name: t\n"
                    "    external_labels: {region: eu}\n"
                    "    external_url: http://x\n"
                    "    input_series:\n"
                    "      - series: 'up{job=\"a\"}'\n"
                    "        values: '1+1x3 _ stale'\n"
                    "    alert_rule_test:\n"
                    "      - eval_time: 5m\n"
                    "        alertname: A\n"
                    "        exp_alerts:\n"
                    "          - exp_labels: {code: 500}\n"
                    "            exp_annotations: {s: x}\n"
                    "          -\n"
                    "    promql_expr_test:\n"
                    "      - expr: up\n"
                    "        eval_time: 1m\n"
                    "        exp_samples:\n"
                    "          - labels: 'up{job=\"a\"}'\n"
                    "            value: -.inf\n"
                    "          - labels: 'up'\n"
                    "            value: 1_000.5\n";
    rules_errors_t errs = {0};
    int rc = rules_unittest_check(y, strlen(y), &errs);
    if (rc) fail_msg("unexpected %d: %d:%d: %s", rc, errs.v[0].line, errs.v[0].col, errs.v[0].msg);
    rules_errors_free(&errs);
}

static void structure_errors(void **state) {
    (void)state;
    static const struct {
        const char *yaml;
        int line, col;
        const char *msg;
    } cases[] = {
        {"rule_file: [a.yml]\n", 1, 1, "test file: unknown field \"rule_file\""},
        {"tests:\n  - interval: 1m\n    inputs: []\n", 3, 5, "test: unknown field \"inputs\""},
        {"tests:\n  - alert_rule_test:\n      - eval_time: 5x\n", 3, 20, "eval_time: not a valid duration string: \"5x\""},
        {"evaluation_interval: [1m]\n", 1, 22, "evaluation_interval: expected a string, got a list"},
        {"tests: {a: 1}\n", 1, 8, "tests: expected a list, got a mapping"},
        {"tests:\n  - promql_expr_test:\n      - exp_samples:\n          - value: abc\n", 4, 20,
         "value: cannot unmarshal \"abc\" into a float"},
        {"tests:\n  - promql_expr_test:\n      - exp_samples:\n          - value: '1'\n", 4, 20,
         "value: expected a number, got a string"},
        {"tests:\n  - alert_rule_test:\n      - exp_alerts:\n          - exp_labels: [a]\n", 4, 25,
         "exp_labels: expected a mapping, got a list"},
        {"tests:\n  - external_labels: {a: 1, a: 2}\n", 2, 29, "external_labels: key \"a\" already set"},
        {"tests:\n  - input_series:\n      - series: x\n        value: '1'\n", 4, 9, "input_series: unknown field \"value\""},
        {"tests:\n  - interval: 1m\n   bad\n", 3, 4, "yaml: "},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rules_errors_t errs = {0};
        int rc = rules_unittest_check(cases[i].yaml, strlen(cases[i].yaml), &errs);
        if (rc != VG_EINVAL || errs.n < 1) fail_msg("case %zu: rc %d, %zu errors", i, rc, errs.n);
        if (errs.v[0].line != cases[i].line || errs.v[0].col != cases[i].col || !strstr(errs.v[0].msg, cases[i].msg))
            fail_msg("case %zu: want %d:%d: %s\n got %d:%d: %s", i, cases[i].line, cases[i].col, cases[i].msg,
                     errs.v[0].line, errs.v[0].col, errs.v[0].msg);
        rules_errors_free(&errs);
    }
}

/* the storage main.c plugs in */
static int st_create(void *ctx, void **out, vg_error_t *err) {
    (void)ctx;
    tsdb_options_t o;
    tsdb_options_default(&o);
    o.path = NULL;
    o.register_metrics = false;
    o.out_of_bounds_ms = 0;
    o.max_future_ms = 0;
    o.retention_ms = 0;
    return tsdb_db_open(&o, (tsdb_db_t **)out, err);
}
static int st_appender(void *st, storage_appender_t **out, vg_error_t *err) { return tsdb_db_appender(st, out, err); }
static int st_querier(void *st, int64_t mint, int64_t maxt, storage_querier_t **out, vg_error_t *err) {
    return tsdb_db_querier(st, mint, maxt, out, err);
}
static void st_destroy(void *st) { tsdb_db_close(st); }
static const promql_test_storage_t storage = {NULL, st_create, st_appender, st_querier, st_destroy};

static char dir[] = "/tmp/vigil_ut_XXXXXX";

static void write_file(const char *name, const char *text) {
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Runs test file `name`; returns the exit code, the report in *report (caller frees). */
static int run(const char *name, char **report) {
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    char *buf = NULL;
    size_t len = 0;
    FILE *o = open_memstream(&buf, &len);
    assert_non_null(o);
    int rc = rules_unittest_run(p, &storage, o, o);
    fclose(o);
    *report = buf;
    return rc;
}

static const char *rules_yml = "groups:\n- name: g\n  rules:\n"
                               "  - record: r:x\n    expr: x * 1\n"
                               "  - record: joined\n    expr: n * on (a) m\n";

static void runner_behaviour(void **state) {
    (void)state;
    assert_non_null(mkdtemp(dir));
    write_file("r.yml", "groups:\n- name: g\n  rules:\n  - record: r:x\n    expr: x * 1\n");
    write_file("bad.yml", rules_yml);
    char *rep;
    /* no interval: every sample at 0, the first one kept (promtool 2.42) */
    write_file("t1.yml", "rule_files: [r.yml]\ntests:\n  - input_series:\n      - series: x\n        values: '5 6 7'\n"
                         "    promql_expr_test:\n      - expr: r:x\n        eval_time: 2m\n"
                         "        exp_samples: [{labels: 'r:x', value: 5}]\n");
    assert_int_equal(run("t1.yml", &rep), 0);
    assert_non_null(strstr(rep, "  SUCCESS\n"));
    free(rep);
    /* NaN never equals NaN (values compare exactly); both sides printed as promtool prints them */
    write_file("t2.yml", "rule_files: [r.yml]\ntests:\n  - interval: 1m\n    input_series:\n"
                         "      - series: x\n        values: 'NaN 1.5e-7'\n"
                         "    promql_expr_test:\n      - expr: x\n        eval_time: 0s\n"
                         "        exp_samples: [{labels: x, value: .nan}]\n"
                         "      - expr: x\n        eval_time: 1m\n"
                         "        exp_samples: [{labels: x, value: 1.5e-7}]\n");
    assert_int_equal(run("t2.yml", &rep), 1);
    if (!strstr(rep, "    expr: \"x\", time: 0s,\n        exp: {__name__=\"x\"} NaN\n        got: {__name__=\"x\"} NaN\n"))
        fail_msg("report:\n%s", rep);
    assert_null(strstr(rep, "time: 1m,"));
    free(rep);
    /* a rule that fails ends the test at the first evaluation, its time as Go prints a duration */
    write_file("t3.yml", "rule_files: [bad.yml]\nevaluation_interval: 90s\ntests:\n  - interval: 90s\n"
                         "    input_series:\n      - series: x\n        values: '1 1 1'\n"
                         "      - series: 'm{a=\"1\",b=\"1\"}'\n        values: '_ 1 1'\n"
                         "      - series: 'm{a=\"1\",b=\"2\"}'\n        values: '_ 1 1'\n"
                         "      - series: 'n{a=\"1\"}'\n        values: '1 1 1'\n"
                         "    promql_expr_test:\n      - expr: x\n        eval_time: 3m\n");
    assert_int_equal(run("t3.yml", &rep), 1);
    if (!strstr(rep, "    rule: joined, time: 1m30s, err: found duplicate series")) fail_msg("report:\n%s", rep);
    assert_null(strstr(rep, "expr: \"x\""));
    free(rep);
    /* a structure error is positioned in the test file; a missing rule file only warns */
    write_file("t4.yml", "rule_files: [none.yml]\ntests:\n  - interval: 1m\n    input_series:\n      - series: x\n"
                         "        values: 1 2\n    alert_rule_test:\n      - eval_time: 1m\n        exp_alert: []\n");
    assert_int_equal(run("t4.yml", &rep), 1);
    if (!strstr(rep, "t4.yml:9:9: alert_rule_test: unknown field \"exp_alert\"")) fail_msg("report:\n%s", rep);
    free(rep);
    write_file("t5.yml", "rule_files: [none.yml]\ntests:\n  - interval: 1m\n    input_series:\n      - series: x\n"
                         "        values: 1 2\n    promql_expr_test:\n      - expr: x\n        eval_time: 1m\n"
                         "        exp_samples: [{labels: x, value: 2}]\n");
    assert_int_equal(run("t5.yml", &rep), 0);
    if (!strstr(rep, "  WARNING: no file match pattern ") || !strstr(rep, "none.yml")) fail_msg("report:\n%s", rep);
    free(rep);
    const char *names[] = {"r.yml", "bad.yml", "t1.yml", "t2.yml", "t3.yml", "t4.yml", "t5.yml"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char p[256];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}

int main(void) {
    vg_log_set_level(VG_LOG_OFF);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_structure),
        cmocka_unit_test(structure_errors),
        cmocka_unit_test(runner_behaviour),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
