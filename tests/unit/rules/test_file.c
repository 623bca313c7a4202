/* Rule files: a valid file read whole, and every validation error at its exact FILE:LINE:COL with
 * Prometheus 2.42's wording; the rule-related config sections. */
#include "config/config.h"
#include "rules/rules.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static void valid_file(void **state) {
    (void)state;
    const char *y = "groups:\n"
                    "- name: g1\n"
                    "  interval: 30s\n"
                    "  limit: 5\n"
                    "  rules:\n"
                    "  - record: job:up:sum\n"
                    "    expr: sum by (job) (up)\n"
                    "    labels: {b: \"2\", a: \"1\"}\n"
                    "  - alert: Down\n"
                    "    expr: up == 0\n"
                    "    for: 5m\n"
                    "    keep_firing_for: 1m\n"
                    "    annotations: {summary: \"{{ $labels.job }} down\"}\n"
                    "- name: g2\n"
                    "  rules: []\n";
    rules_file_t *f;
    rules_errors_t errs;
    int rc = rules_file_parse("r.yml", y, strlen(y), &f, &errs);
    if (rc) fail_msg("unexpected %d: %s", rc, errs.n ? errs.v[0].msg : "");
    assert_int_equal(f->n_groups, 2);
    assert_int_equal(rules_file_count(f), 2);
    const rules_group_spec_t *g = &f->groups[0];
    assert_string_equal(g->name, "g1");
    assert_string_equal(g->file, "r.yml");
    assert_int_equal(g->interval_ms, 30000);
    assert_int_equal(g->limit, 5);
    assert_false(g->rules[0].alert);
    assert_string_equal(g->rules[0].name, "job:up:sum");
    assert_string_equal(g->rules[0].expr, "sum by (job) (up)");
    assert_int_equal(g->rules[0].n_labels, 2);
    assert_string_equal(g->rules[0].labels[0].name, "a"); /* sorted */
    assert_true(g->rules[1].alert);
    assert_int_equal(g->rules[1].for_ms, 300000);
    assert_int_equal(g->rules[1].keep_firing_for_ms, 60000);
    assert_int_equal(g->rules[1].n_annotations, 1);
    rules_group_spec_t copy;
    assert_int_equal(rules_group_spec_copy(g, &copy), 0);
    assert_true(rules_group_spec_equal(g, &copy));
    copy.rules[1].for_ms = 1;
    assert_false(rules_group_spec_equal(g, &copy));
    rules_group_spec_deinit(&copy);
    rules_file_free(f);
}

/* yaml fails with exactly `want` ("LINE:COL: message") among its errors. */
static void expect_err(const char *yaml, const char *want) {
    rules_file_t *f = (rules_file_t *)1;
    rules_errors_t errs;
    int rc = rules_file_parse("r.yml", yaml, strlen(yaml), &f, &errs);
    assert_int_equal(rc, VG_EINVAL);
    assert_null(f);
    char all[4096] = "";
    for (size_t i = 0; i < errs.n; i++) {
        char one[1100];
        snprintf(one, sizeof one, "%d:%d: %s", errs.v[i].line, errs.v[i].col, errs.v[i].msg);
        if (!strcmp(one, want)) {
            rules_errors_free(&errs);
            return;
        }
        snprintf(all + strlen(all), sizeof all - strlen(all), "%s\n", one);
    }
    rules_errors_free(&errs);
    fail_msg("want %s\ngot:\n%s", want, all);
}

#define G "groups:\n- name: g\n  rules:\n"

static void errors(void **state) {
    (void)state;
    expect_err(G "  - record: \"bad name\"\n    expr: up\n", "4:13: group \"g\", rule 1, \"bad name\": invalid recording rule name: bad name");
    expect_err(G "  - record: ok\n    expr: up\n    for: 1m\n", "6:10: group \"g\", rule 1, \"ok\": invalid field 'for' in recording rule");
    expect_err(G "  - record: ok\n    expr: up\n    keep_firing_for: 1m\n",
               "6:22: group \"g\", rule 1, \"ok\": invalid field 'keep_firing_for' in recording rule");
    expect_err(G "  - record: ok\n    expr: up\n    annotations: {a: b}\n",
               "6:18: group \"g\", rule 1, \"ok\": invalid field 'annotations' in recording rule");
    expect_err(G "  - alert: A\n    expr: sum(up\n",
               "5:17: group \"g\", rule 1, \"A\": could not parse expression: 1:7: parse error: unclosed left parenthesis");
    expect_err(G "  - alert: A\n    expr: \"up{\"\n",
               "5:15: group \"g\", rule 1, \"A\": could not parse expression: 1:4: parse error: unexpected end of input inside braces");
    expect_err(G "  - alert: A\n    expr: |\n      sum(rate(x[5m]))\n      / foo)\n",
               "7:13: group \"g\", rule 1, \"A\": could not parse expression: 2:7: parse error: unexpected right parenthesis ')'");
    expect_err(G "  - record: r\n    expr: up\n    labels:\n      0bad: x\n", "7:7: group \"g\", rule 1, \"r\": invalid label name: 0bad");
    expect_err(G "  - record: r\n    expr: up\n    labels: {__name__: y}\n", "6:14: group \"g\", rule 1, \"r\": invalid label name: __name__");
    expect_err(G "  - alert: B\n    expr: up\n    annotations:\n      a-b: x\n",
               "7:7: group \"g\", rule 1, \"B\": invalid annotation name: a-b");
    expect_err(G "  - record: r2\n    alert: a2\n    expr: up\n", "4:13: group \"g\", rule 1, \"a2\": only one of 'record' and 'alert' must be set");
    expect_err(G "  - expr: up\n", "4:5: group \"g\", rule 1, \"\": one of 'record' or 'alert' must be set");
    expect_err(G "  - record: r3\n", "4:5: group \"g\", rule 1, \"r3\": field 'expr' must be set in rule");
    expect_err(G "  - record: r\n    expr: up\n    bar: 2\n",
               "6:5: group \"g\", rule 1: unknown field \"bar\" (valid here: record, alert, expr, for, keep_firing_for, labels, annotations)");
    expect_err(G "  - alert: A\n    expr: up\n    for: 5x\n", "6:10: for: not a valid duration string: \"5x\"");
    expect_err("groups:\n- name: g\n  rules: []\n- name: g\n  rules: []\n", "4:3: groupname: \"g\" is repeated in the same file");
    expect_err("groups:\n- name: \"\"\n  rules: []\n", "2:9: Groupname must not be empty");
    expect_err("groups:\n- name: g\n  foo: 1\n", "3:3: groups[0]: unknown field \"foo\" (valid here: name, interval, limit, rules)");
    expect_err(G "  - alert: C\n    expr: up\n    labels:\n      x: \"{{ $labels.foo \"\n",
               "7:7: group \"g\", rule 1, \"C\": label \"x\": template: __alert_C:1:16: unclosed action");
    expect_err(G "  - alert: C\n    expr: up\n    annotations:\n      s: \"{{ nosuchfunc }}\"\n",
               "7:7: group \"g\", rule 1, \"C\": annotation \"s\": template: __alert_C:1:4: function \"nosuchfunc\" not defined");
    expect_err("foo: 1\n", "1:1: unknown field \"foo\" (valid here: groups)");
    expect_err("groups: [\n", "2:1: YAML syntax error: did not find expected node content while parsing a flow node");
}

static void check_cmd(void **state) {
    (void)state;
    char path[] = "/tmp/vigil_rules_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *bad = G "  - record: \"x y\"\n    expr: up\n";
    assert_int_equal(write(fd, bad, strlen(bad)), (ssize_t)strlen(bad));
    close(fd);
    char *argv[] = {path};
    assert_int_equal(rules_cmd_check(1, argv), 1);
    FILE *fp = fopen(path, "w");
    fputs(G "  - record: x\n    expr: up\n", fp);
    fclose(fp);
    assert_int_equal(rules_cmd_check(1, argv), 0);
    assert_int_equal(rules_cmd_check(0, argv), 2);
    unlink(path);
}

static void config_sections(void **state) {
    (void)state;
    config_t *c;
    vg_error_t err;
    const char *y = "rule_files: [a.yml, 'r/*.yml']\nrules:\n  alert_resend_delay: 30s\n";
    assert_int_equal(config_parse("c.yml", y, strlen(y), &c, &err), 0);
    assert_int_equal(c->rule_files.n, 2);
    assert_string_equal(c->rule_files.v[1], "r/*.yml");
    assert_int_equal(c->rules.alert_resend_delay_ms, 30000);
    assert_int_equal(c->rules.alert_for_outage_tolerance_ms, 3600000);
    assert_int_equal(c->rules.alert_for_grace_period_ms, 600000);
    config_unref(c);
    y = "rules:\n  alert_resend_dela: 1m\n";
    assert_int_equal(config_parse("c.yml", y, strlen(y), &c, &err), VG_ECONFIG);
    assert_int_equal(err.line, 2);
    assert_int_equal(err.col, 3);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_file),
        cmocka_unit_test(errors),
        cmocka_unit_test(check_cmd),
        cmocka_unit_test(config_sections),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
