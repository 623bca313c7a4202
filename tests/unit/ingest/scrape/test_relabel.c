/* Relabeling: each action with Prometheus 2.42's results, Go's $-expansion rules, hashmod values that
 * agree with Prometheus (MD5, last 8 bytes), rule chains, and config → engine round trip. */
#include "config/config.h"
#include "ingest/scrape/relabel.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

/* Runs the relabel_configs of a one-job YAML config over "a=1,b=2" style input; returns the sorted
 * result as "a=1,b=2", or "DROP". */
static void run(const char *rules_yaml, const char *input, const char *want) {
    char yaml[4096];
    snprintf(yaml, sizeof yaml, "scrape_configs:\n  - job_name: j\n    relabel_configs:\n%s", rules_yaml);
    config_t *c;
    vg_error_t err;
    if (config_parse("t.yml", yaml, strlen(yaml), &c, &err)) fail_msg("config: %d:%d %s", err.line, err.col, err.msg);
    ingest_relabel_t *r;
    assert_int_equal(ingest_relabel_compile(&c->scrape_configs.v[0].relabel_configs, &r, &err), 0);
    vg_arena_t a;
    vg_arena_init(&a, 1024);
    ingest_lbuilder_t b;
    ingest_lbuilder_init(&b, &a);
    char in[512];
    snprintf(in, sizeof in, "%s", input);
    for (char *save, *tok = strtok_r(in, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        *eq = '\0';
        ingest_lbuilder_set(&b, tok, eq + 1);
    }
    char got[sizeof err.msg + 32] = "";
    bool kept = ingest_relabel_apply(r, &b);
    if (ingest_relabel_error(&b, &err)) {
        snprintf(got, sizeof got, "ERROR %d: %s", err.code, err.msg);
    } else if (!kept) {
        strcpy(got, "DROP");
    } else {
        ingest_lbuilder_sort(&b);
        for (size_t i = 0; i < b.n; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s=%s", i ? "," : "", b.v[i].name, b.v[i].value);
    }
    assert_false(b.oom);
    if (strcmp(got, want)) fail_msg("rules:\n%sinput %s\n  got %s\n want %s", rules_yaml, input, got, want);
    vg_arena_deinit(&a);
    ingest_relabel_free(r);
    config_unref(c);
}

static void replace(void **state) {
    (void)state;
    run("      - {source_labels: [a], regex: 'f(.*)', target_label: d, replacement: 'ch${1}-ch${1}'}\n", "a=foo,b=bar",
        "a=foo,b=bar,d=choo-choo");
    /* default regex (.*) and replacement $1: copy */
    run("      - {source_labels: [a], target_label: b}\n", "a=foo", "a=foo,b=foo");
    /* several sources joined by the separator, before matching */
    run("      - {source_labels: [a, b], separator: '|', regex: '(.*)\\|(.*)', target_label: c, replacement: '$2-$1'}\n",
        "a=x,b=y", "a=x,b=y,c=y-x");
    /* a missing source label joins as "" */
    run("      - {source_labels: [a, zz], target_label: c}\n", "a=x", "a=x,c=x;");
    /* no match: unchanged */
    run("      - {source_labels: [a], regex: 'nomatch', target_label: d, replacement: x}\n", "a=foo", "a=foo");
    /* anchored: a partial match is no match */
    run("      - {source_labels: [a], regex: 'o', target_label: d, replacement: x}\n", "a=foo", "a=foo");
    /* an empty result deletes the target */
    run("      - {source_labels: [a], regex: 'foo', target_label: b, replacement: ''}\n", "a=foo,b=bar", "a=foo");
    /* "$1x" names group "1x": expands to nothing, so the target is deleted */
    run("      - {source_labels: [a], regex: '(f)oo', target_label: b, replacement: '$1x'}\n", "a=foo,b=bar", "a=foo");
    run("      - {source_labels: [a], regex: '(f)oo', target_label: b, replacement: '${1}x'}\n", "a=foo", "a=foo,b=fx");
    /* named groups, $$ and a malformed reference kept literally */
    run("      - {source_labels: [a], regex: '(?P<first>f)(?P<rest>.*)', target_label: b, replacement: '$rest$$${first}$'}\n",
        "a=foo", "a=foo,b=oo$f$");
    /* the target label itself is expanded, and an invalid result skips the rule */
    run("      - {source_labels: [a], regex: '(.*)', target_label: 'x_$1', replacement: v}\n", "a=foo", "a=foo,x_foo=v");
    run("      - {source_labels: [a], regex: '(.*)', target_label: '$1', replacement: v}\n", "a=1bad", "a=1bad");
    /* `.` does not match a newline (Go's regexp without (?s)) */
    run("      - {source_labels: [a], regex: 'a.b', target_label: c, replacement: x}\n", "a=a\nb", "a=a\nb");
}

static void keep_drop(void **state) {
    (void)state;
    run("      - {source_labels: [a], regex: 'f.*', action: keep}\n", "a=foo", "a=foo");
    run("      - {source_labels: [a], regex: 'f.*', action: keep}\n", "a=bar", "DROP");
    run("      - {source_labels: [a], regex: 'f.*', action: drop}\n", "a=foo", "DROP");
    run("      - {source_labels: [a], regex: 'f.*', action: drop}\n", "a=bar", "a=bar");
    /* keep on a missing label matches against "" */
    run("      - {source_labels: [zz], regex: '', action: keep}\n", "a=bar", "a=bar");
    run("      - {source_labels: [a], target_label: b, action: keepequal}\n", "a=x,b=x", "a=x,b=x");
    run("      - {source_labels: [a], target_label: b, action: keepequal}\n", "a=x,b=y", "DROP");
    run("      - {source_labels: [a], target_label: b, action: dropequal}\n", "a=x,b=x", "DROP");
    run("      - {source_labels: [a], target_label: b, action: dropequal}\n", "a=x,b=y", "a=x,b=y");
}

static void hashmod(void **state) {
    (void)state;
    /* Prometheus gives 976 for "baz" % 1000 */
    run("      - {source_labels: [c], target_label: d, action: hashmod, modulus: 1000}\n", "c=baz", "c=baz,d=976");
    run("      - {source_labels: [c], target_label: d, action: hashmod, modulus: 1000}\n", "c=foo", "c=foo,d=696");
    run("      - {source_labels: [c], target_label: d, action: hashmod, modulus: 1}\n", "c=foo", "c=foo,d=0");
}

static void label_actions(void **state) {
    (void)state;
    run("      - {action: labelmap, regex: '__meta_(.+)'}\n", "__meta_pod=p,__meta_ns=n,a=1",
        "__meta_ns=n,__meta_pod=p,a=1,ns=n,pod=p");
    run("      - {action: labelmap, regex: '(a)', replacement: '${1}_copy'}\n", "a=1", "a=1,a_copy=1");
    run("      - {action: labeldrop, regex: 'tmp_.*'}\n", "tmp_a=1,tmp_b=2,keep=3", "keep=3");
    run("      - {action: labelkeep, regex: 'job|instance'}\n", "job=j,instance=i,other=o", "instance=i,job=j");
    run("      - {source_labels: [a], target_label: b, action: lowercase}\n", "a=FoO", "a=FoO,b=foo");
    run("      - {source_labels: [a], target_label: b, action: uppercase}\n", "a=FoO", "a=FoO,b=FOO");
}

static void chains(void **state) {
    (void)state;
    /* later rules see earlier results; a drop stops the chain */
    run("      - {source_labels: [__address__], regex: '([^:]+):\\d+', target_label: host}\n"
        "      - {source_labels: [host], regex: 'db.*', action: drop}\n"
        "      - {source_labels: [host], target_label: role, replacement: web}\n",
        "__address__=web1:9100", "__address__=web1:9100,host=web1,role=web");
    run("      - {source_labels: [__address__], regex: '([^:]+):\\d+', target_label: host}\n"
        "      - {source_labels: [host], regex: 'db.*', action: drop}\n",
        "__address__=db1:9100", "DROP");
    run("", "a=1", "a=1"); /* no rules: unchanged */
}

static void many_groups(void **state) {
    (void)state;
    /* 70 groups: match data is sized for the pattern, so $70 is there */
    char rule[1024] = "      - {source_labels: [a], regex: '";
    for (int i = 0; i < 70; i++) strcat(rule, "(.)");
    strcat(rule, "', target_label: b, replacement: '$1-$70'}\n");
    char in[80] = "a=", want[200];
    for (int i = 0; i < 70; i++) in[2 + i] = (char)('a' + i % 26);
    in[72] = '\0';
    snprintf(want, sizeof want, "%s,b=a-%c", in, 'a' + 69 % 26);
    run(rule, in, want);
}

/* The engine checks the syntax itself too, with Go's text, for rules not coming from config_parse. */
static void rejects_pcre_only_syntax(void **state) {
    (void)state;
    const char *bad[] = {"(?=x)", "(a)\\1", "a++", "(?>x)"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        config_relabel_t rule = {.regex = (char *)bad[i], .action = CONFIG_RELABEL_KEEP};
        config_relabel_list_t list = {&rule, 1};
        ingest_relabel_t *r = (ingest_relabel_t *)1;
        vg_error_t err;
        assert_int_equal(ingest_relabel_compile(&list, &r, &err), VG_ECONFIG);
        assert_null(r);
        if (!strstr(err.msg, "error parsing regexp: ")) fail_msg("%s: %s", bad[i], err.msg);
    }
}

/* A regex that cannot be evaluated on a value stops relabeling with an error, whatever the action: the
 * set is neither kept nor dropped nor left as it was. (a|a)+ on a^n b makes the backtracker give up;
 * the DFA matcher then decides valid UTF-8, so the values below hold a byte that is not. */
static void regex_errors(void **state) {
    (void)state;
    const char *bad = "a=aaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xff" "b";
    run("      - {source_labels: [a], regex: '(a|a)+', action: keep}\n", bad,
        "ERROR -7: relabeling (action keep): regex \"(a|a)+\" could not be evaluated: limit exceeded");
    run("      - {source_labels: [a], regex: '(a|a)+', action: drop}\n", bad,
        "ERROR -7: relabeling (action drop): regex \"(a|a)+\" could not be evaluated: limit exceeded");
    /* valid UTF-8: decided, so no error */
    run("      - {source_labels: [a], regex: '(a|a)+', action: keep}\n", "a=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "DROP");
    run("      - {source_labels: [a], regex: '(a|a)+', action: drop}\n", "a=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaab",
        "a=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaab");
    /* a capture the backtracker gives up on is certain to match (the DFA matcher sees it) but has no
     * groups: an error too, for replace and labelmap */
    run("      - {source_labels: [a], regex: '(a|a)+b|(a+c)', target_label: d, replacement: '$2'}\n",
        "a=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaac",
        "ERROR -7: relabeling (action replace): regex \"(a|a)+b|(a+c)\" could not be evaluated: limit exceeded");
    run("      - {regex: '(a|a)+b|(a+c)', action: labelmap, replacement: 'x_$2'}\n", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaac=1",
        "ERROR -7: relabeling (action labelmap): regex \"(a|a)+b|(a+c)\" could not be evaluated: limit exceeded");
    run("      - {regex: '(a|a)+', action: labeldrop}\n", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaab=1,aaa=2",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaab=1");
}

static void empty_list(void **state) {
    (void)state;
    ingest_relabel_t *r;
    vg_error_t err;
    assert_int_equal(ingest_relabel_compile(NULL, &r, &err), 0);
    assert_int_equal(ingest_relabel_count(r), 0);
    ingest_relabel_free(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(replace), cmocka_unit_test(keep_drop), cmocka_unit_test(hashmod),
        cmocka_unit_test(label_actions), cmocka_unit_test(chains), cmocka_unit_test(empty_list),
        cmocka_unit_test(many_groups), cmocka_unit_test(rejects_pcre_only_syntax), cmocka_unit_test(regex_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
