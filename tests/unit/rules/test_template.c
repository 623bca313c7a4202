/* Alert templates: parse errors with positions, Go's text/template semantics (pipelines, if/else if,
 * range, with, trim markers, variables, missingkey=zero), printf verbs, every Prometheus function,
 * queries through a fake callback, and the limits. Expected texts are Go's and Prometheus' (the same
 * cases run against promtool in tests/integration/test_template_oracle.py). */
#include "rules/template.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const model_label_t labels[] = {{"instance", "web-1:9100"}, {"job", "node"}, {"severity", "page"}};

static int fake_query(void *ctx, const char *expr, int64_t t_ms, vg_arena_t *arena, rules_tmpl_sample_t **out, size_t *n_out,
                      vg_error_t *err) {
    (void)ctx;
    (void)t_ms;
    if (!strcmp(expr, "fail")) return vg_error_set(err, VG_EEXEC, "query failed: boom");
    static const model_label_t a[] = {{"__name__", "up"}, {"instance", "b"}}, b[] = {{"__name__", "up"}, {"instance", "a"}};
    *n_out = 0;
    *out = NULL;
    if (!strcmp(expr, "none")) return 0;
    rules_tmpl_sample_t *v = vg_arena_alloc(arena, 2 * sizeof *v);
    v[0] = (rules_tmpl_sample_t){a, 2, 1};
    v[1] = (rules_tmpl_sample_t){b, 2, 0.5};
    *out = v;
    *n_out = 2;
    return 0;
}

/* Expands src with the labels above and value; returns the text (static buffer) or the error. */
static char result[RULES_TMPL_MAX_OUTPUT + 4096];
static int last_rc;

static const char *expand_v(const char *src, double value) {
    rules_template_t *t;
    vg_error_t err;
    vg_error_clear(&err);
    last_rc = rules_template_parse("t", src, strlen(src), &t, &err);
    if (last_rc) {
        snprintf(result, sizeof result, "%s", err.msg);
        return result;
    }
    rules_tmpl_data_t d = {.labels = labels, .n_labels = 3, .external_url = "http://prom.example:9090/sub/path?x=1",
                           .value = value, .query = fake_query};
    vg_buf_t out = VG_BUF_INIT;
    last_rc = rules_template_exec(t, &d, &out, &err);
    snprintf(result, sizeof result, "%s", last_rc ? err.msg : out.data ? out.data : "");
    vg_buf_deinit(&out);
    rules_template_free(t);
    return result;
}

static const char *expand(const char *src) { return expand_v(src, 1234.5); }

#define OK(src, want)                                                                                              \
    do {                                                                                                           \
        const char *got_ = expand(src);                                                                            \
        if (last_rc) fail_msg("%s: error %s", src, got_);                                                          \
        assert_string_equal(got_, want);                                                                           \
    } while (0)
#define OKV(src, v, want)                                                                                          \
    do {                                                                                                           \
        const char *got_ = expand_v(src, v);                                                                       \
        if (last_rc) fail_msg("%s: error %s", src, got_);                                                          \
        assert_string_equal(got_, want);                                                                           \
    } while (0)
#define ERR(src, want)                                                                                             \
    do {                                                                                                           \
        const char *got_ = expand(src);                                                                            \
        assert_int_not_equal(last_rc, 0);                                                                          \
        assert_string_equal(got_, want);                                                                           \
    } while (0)

static void parse_errors(void **state) {
    (void)state;
    ERR("{{ foo }}", "template: t:1:4: function \"foo\" not defined");
    ERR("a\nb {{ end }}", "template: t:2:6: unexpected {{end}}");
    ERR("{{ if true }}x", "template: t:1:15: unexpected EOF");
    ERR("ok {{ $value ", "template: t:1:14: unclosed action");
    ERR("{{ $nope }}", "template: t:1:4: undefined variable \"$nope\"");
    ERR("{{ else }}", "template: t:1:4: unexpected {{else}}");
    ERR("{{ \"abc }}", "template: t:1:4: unterminated quoted string");
    ERR("{{ 3x }}", "template: t:1:4: bad number syntax: \"3x\"");
    ERR("{{ print ) }}", "template: t:1:10: unexpected \")\" in command");
    ERR("{{ }}", "template: t:1:4: missing value for command");
    ERR("{{ (print 1 }}", "template: t:1:13: unclosed left paren");
    ERR("{{/* x */ y}}", "template: t:1:8: comment ends before closing delimiter");
    ERR("{{/* x", "template: t:1:1: unclosed comment");
    ERR("{{ break }}", "template: t:1:4: {{break}} outside {{range}}");
    ERR("{{ define \"x\" }}{{ end }}", "template: t:1:4: {{define}} is not supported in alert templates");
    ERR("x\n  {{ if 1 }}{{ else }}{{ else }}{{ end }}", "template: t:2:26: expected end; found {{else}}");
    /* A variable declared inside a block is gone after its end. */
    ERR("{{ if true }}{{ $x := 1 }}{{ end }}{{ $x }}", "template: t:1:39: undefined variable \"$x\"");
}

static void values_and_fields(void **state) {
    (void)state;
    OK("{{ $value }}|{{ .Value }}", "1234.5|1234.5");
    OKV("{{ $value }}", 1e6, "1e+06");
    OKV("{{ $value }}", 123456, "123456");
    OKV("{{ $value }}", 0.0001, "0.0001");
    OKV("{{ $value }}", 0.00001, "1e-05");
    OKV("{{ $value }}", 0.1 + 0.2, "0.30000000000000004");
    OKV("{{ $value }}", INFINITY, "+Inf");
    OKV("{{ $value }}", -INFINITY, "-Inf");
    OKV("{{ $value }}", NAN, "NaN");
    OK("{{ $labels.instance }}|{{ .Labels.job }}|[{{ $labels.missing }}]|{{ index $labels \"severity\" }}",
       "web-1:9100|node|[]|page");
    OK("{{ $labels }}", "map[instance:web-1:9100 job:node severity:page]");
    OK("{{ .ExternalURL }}|{{ $externalURL }}|[{{ $externalLabels.x }}]", "http://prom.example:9090/sub/path?x=1|http://prom.example:9090/sub/path?x=1|[]");
    OK("{{ 3 }} {{ 1e6 }} {{ 2.50 }} {{ 0x1F }} {{ 'a' }} {{ true }} {{ \"s\" }} {{ `raw\\n` }}", "3 1e+06 2.5 31 97 true s raw\\n");
    OK("{{ (args 1 \"x\").arg1 }}|{{ (args).arg0 }}", "x|<no value>");
    ERR("{{ .Nope }}", "error executing template t: template: t:1:4: executing \"t\" at <.Nope>: can't evaluate field Nope in type "
                       "struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value interface {} }");
}

static void control(void **state) {
    (void)state;
    OK("{{ if gt $value 2000.0 }}high{{ else if gt $value 1000.0 }}mid{{ else }}low{{ end }}", "mid");
    OK("{{ if $labels.nope }}y{{ else }}n{{ end }}{{ if 0 }}y{{ else }}n{{ end }}{{ if \"x\" }}y{{ end }}{{ if $labels }}m{{ end }}", "nnym");
    OK("{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}", "instance=web-1:9100;job=node;severity=page;");
    OK("{{ range $labels }}[{{ . }}]{{ end }}", "[web-1:9100][node][page]");
    OK("{{ range $v := $labels }}{{ $v }},{{ end }}", "web-1:9100,node,page,");
    OK("{{ range $i, $s := query \"up\" }}{{ $i }}:{{ $s.Labels.instance }}={{ $s.Value }} {{ end }}", "0:b=1 1:a=0.5 ");
    OK("{{ range query \"none\" }}x{{ else }}empty{{ end }}", "empty");
    OK("{{ range $k, $v := $labels }}{{ if eq $k \"job\" }}{{ break }}{{ end }}{{ $k }};{{ end }}", "instance;");
    OK("{{ range $k, $v := $labels }}{{ if eq $k \"job\" }}{{ continue }}{{ end }}{{ $k }};{{ end }}", "instance;severity;");
    OK("{{ with $labels.job }}job={{ . }}{{ else }}none{{ end }}|{{ with $labels.x }}{{ . }}{{ else }}none{{ end }}", "job=node|none");
    OK("{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ $y := 3 }}{{ end }}{{ $x }}", "2");
    OK("a  {{- $value -}}  b\n{{- /* comment */ -}}\nc", "a1234.5bc");
    OK("a {{/* note */}} b", "a  b");
    OK("{{ $value | humanize | printf \"%s!\" }}", "1.234k!");
    OK("{{ \"x\" | printf \"%s-%s\" \"a\" }}", "a-x");
    ERR("{{ 3 | 4 }}", "error executing template t: template: t:1:8: executing \"t\" at <4>: can't give argument to non-function 4");
    ERR("{{ range 5 }}{{ end }}", "error executing template t: template: t:1:10: executing \"t\" at <range>: range can't iterate over 5");
}

static void builtins(void **state) {
    (void)state;
    OK("{{ and 1 0 2 }} {{ and 1 2 }} {{ or 0 \"\" 3 }} {{ or 0 \"\" }} {{ not 0 }}", "0 2 3  true");
    OK("{{ eq 1 2 3 1 }} {{ eq \"a\" \"b\" }} {{ ne 1.5 1.5 }} {{ lt 1 2 }} {{ le 2.5 2.5 }} {{ gt \"b\" \"a\" }} {{ ge 1 2 }}",
       "true false false true true true false");
    ERR("{{ gt $value 10 }}", "error executing template t: template: t:1:4: executing \"t\" at <gt $value 10>: error calling gt: "
                              "incompatible types for comparison");
    ERR("{{ lt true false }}", "error executing template t: template: t:1:4: executing \"t\" at <lt true false>: error calling lt: "
                               "invalid type for comparison");
    OK("{{ len $labels }} {{ len \"abc\" }} {{ len (query \"up\") }}", "3 3 2");
    ERR("{{ len 3 }}", "error executing template t: template: t:1:4: executing \"t\" at <len 3>: error calling len: len of type int");
    OK("{{ index (query \"up\") 1 }}", "{map[__name__:up instance:a] 0.5}");
    ERR("{{ index (query \"up\") 5 }}", "error executing template t: template: t:1:4: executing \"t\" at <index (query \"up\") 5>: "
                                        "error calling index: index out of range: 5");
    OK("{{ print 1 2 \"a\" \"b\" 3 true nil }}", "1 2ab3 true <nil>");
    OK("{{ println 1 \"a\" 2 }}", "1 a 2\n");
    OK("{{ html \"<a href='x'>&\" }} {{ js \"it's <b>\" }} {{ urlquery \"a b&c=d\" }}",
       "&lt;a href=&#39;x&#39;&gt;&amp; it\\'s \\u003Cb\\u003E a+b%26c%3Dd");
}

static void printf_verbs(void **state) {
    (void)state;
    OKV("{{ printf \"%.2f|%5.1f|%-8.3e|%g|%G\" $value $value $value $value 1e-7 }}", 3.14159, "3.14|  3.1|3.142e+00|3.14159|1E-07");
    OK("{{ printf \"%d|%5d|%-5d|%05d|%x|%X|%o|%+d\" 42 42 42 42 255 255 8 7 }}", "42|   42|42   |00042|ff|FF|10|+7");
    OK("{{ printf \"%s|%q|%10s|%-10s|%.2s|%x\" \"ab\" \"a\\\"b\\n\" \"r\" \"l\" \"trunc\" \"hi\" }}",
       "ab|\"a\\\"b\\n\"|         r|l         |tr|6869");
    OK("{{ printf \"%v %v %v %t %%\" 1.5 7 \"s\" true }}", "1.5 7 s true %");
    OKV("{{ printf \"%d %s\" $value 3 }}", 1.5, "%!d(float64=1.5) %!s(int=3)");
    OK("{{ printf \"%s %s\" \"a\" }}|{{ printf \"%s\" \"a\" \"b\" 3 }}", "a %!s(MISSING)|a%!(EXTRA string=b, int=3)");
    OK("{{ printf \"%6.2f|%-7v|%c\" 3.14159 \"ab\" 65 }}", "  3.14|ab     |A");
}

static void prometheus_functions(void **state) {
    (void)state;
    OKV("{{ humanize $value }}", 0, "0");
    OKV("{{ humanize $value }}", 1e-9, "1n");
    OKV("{{ humanize $value }}", 0.001234, "1.234m");
    OKV("{{ humanize $value }}", 1234, "1.234k");
    OKV("{{ humanize $value }}", 1e27, "1000Y");
    OKV("{{ humanize $value }}", -1234567, "-1.235M");
    OKV("{{ humanize $value }}", NAN, "NaN");
    OKV("{{ humanize $value }}", INFINITY, "+Inf");
    OK("{{ humanize \"12345\" }} {{ humanize 3 }}", "12.35k 3");
    ERR("{{ humanize \"abc\" }}", "error executing template t: template: t:1:4: executing \"t\" at <humanize \"abc\">: "
                                  "error calling humanize: strconv.ParseFloat: parsing \"abc\": invalid syntax");
    ERR("{{ humanize 1 2 }}", "error executing template t: template: t:1:4: executing \"t\" at <humanize>: "
                              "wrong number of args for humanize: want 1 got 2");
    OKV("{{ humanize1024 $value }}", 0.5, "0.5");
    OKV("{{ humanize1024 $value }}", 1048576, "1Mi");
    OKV("{{ humanize1024 $value }}", 2048, "2ki");
    OKV("{{ humanizeDuration $value }}", 0, "0s");
    OKV("{{ humanizeDuration $value }}", 0.0015, "1.5ms");
    OKV("{{ humanizeDuration $value }}", 1.5e-6, "1.5us");
    OKV("{{ humanizeDuration $value }}", 59.99, "59.99s");
    OKV("{{ humanizeDuration $value }}", 93784.5, "1d 2h 3m 4s");
    OKV("{{ humanizeDuration $value }}", -3725, "-1h 2m 5s");
    OKV("{{ humanizePercentage $value }}", 0.123456, "12.35%");
    OKV("{{ humanizeTimestamp $value }}", 1234567890.123456, "2009-02-13 23:31:30.123 +0000 UTC");
    OKV("{{ humanizeTimestamp $value }}", 0, "1970-01-01 00:00:00 +0000 UTC");
    OK("{{ toTime 1.5 }} {{ parseDuration \"1h30m\" }}", "1970-01-01 00:00:01.5 +0000 UTC 5400");
    ERR("{{ parseDuration \"x\" }}", "error executing template t: template: t:1:4: executing \"t\" at <parseDuration \"x\">: "
                                     "error calling parseDuration: not a valid duration string: \"x\"");
    OK("{{ title \"hello wORLD foo-bar_baz\" }}|{{ toUpper \"abc\" }}|{{ toLower \"ABC\" }}", "Hello WORLD Foo-Bar_baz|ABC|abc");
    OK("{{ reReplaceAll \"(.*):(\\\\d+)\" \"$1 port $2\" $labels.instance }}", "web-1 port 9100");
    OK("{{ reReplaceAll \"a(x*)\" \"<${1}>\" \"baaxxac\" }}|{{ reReplaceAll \"x*\" \"-\" \"abc\" }}|{{ reReplaceAll \"^a\" \"Z\" \"aaa\" }}",
       "b<><xx><>c|-a-b-c-|Zaa");
    ERR("{{ reReplaceAll \"(\" \"x\" \"y\" }}", "error executing template t: template: t:1:4: executing \"t\" at <reReplaceAll \"(\" \"x\" \"y\">: "
                                              "error calling reReplaceAll: regexp: Compile(`(`): error parsing regexp: missing closing ): `(`");
    OK("{{ match \"^w.*\" $labels.instance }} {{ match \"oo\" \"foo\" }} {{ match \"^x$\" \"y\" }}", "true true false");
    OK("{{ $labels.instance | stripPort }}|{{ stripPort \"[::1]:80\" }}|{{ stripPort \"nohost\" }}|{{ stripPort \"a:b:c\" }}",
       "web-1|::1|nohost|a:b:c");
    OK("{{ safeHtml \"<b>\" }}", "<b>");
    OK("{{ args 1 \"x\" }}", "map[arg0:1 arg1:x]");
    OK("{{ pathPrefix }}|{{ externalURL }}", "/sub/path|http://prom.example:9090/sub/path?x=1");
}

static void queries(void **state) {
    (void)state;
    OK("{{ query \"up\" | first | value }} {{ with query \"up\" }}{{ . | first | label \"instance\" }}{{ end }}", "1 b");
    OK("{{ range query \"up\" | sortByLabel \"instance\" }}{{ .Labels.instance }}{{ end }}", "ab");
    OK("{{ (query \"up\" | first).Labels.__name__ }} [{{ query \"up\" | first | strvalue }}]", "up []");
    ERR("{{ query \"none\" | first }}", "error executing template t: template: t:1:19: executing \"t\" at <first>: "
                                        "error calling first: first() called on vector with no elements");
    ERR("{{ query \"fail\" }}", "error executing template t: template: t:1:4: executing \"t\" at <query \"fail\">: "
                                "error calling query: query failed: boom");
    ERR("{{ first 1 }}", "error executing template t: template: t:1:10: executing \"t\" at <1>: "
                         "can't handle 1 for arg of type template.queryResult");
    /* Without a query function, query fails cleanly. */
    rules_template_t *t;
    vg_error_t err;
    assert_int_equal(rules_template_parse("q", "{{ query \"up\" }}", 16, &t, &err), 0);
    rules_tmpl_data_t d = {.value = 1};
    vg_buf_t out = VG_BUF_INIT;
    assert_true(rules_template_exec(t, &d, &out, &err) < 0);
    assert_non_null(strstr(err.msg, "error calling query"));
    vg_buf_deinit(&out);
    rules_template_free(t);
}

static void limits(void **state) {
    (void)state;
    /* Output: 3 labels × 40,000 iterations would be far past 64 KiB. */
    expand("{{ range $labels }}{{ range $labels }}{{ range $labels }}{{ range $labels }}{{ range $labels }}"
           "{{ range $labels }}{{ range $labels }}{{ range $labels }}{{ range $labels }}xxxxxxxxxxxxxxxxxxxxxxx"
           "{{ end }}{{ end }}{{ end }}{{ end }}{{ end }}{{ end }}{{ end }}{{ end }}{{ end }}");
    assert_int_equal(last_rc, VG_ELIMIT);
    assert_non_null(strstr(result, "output exceeds 65536 bytes"));
    /* Steps: many iterations that print nothing. */
    expand("{{ range $labels }}{{ range $labels }}{{ range $labels }}{{ range $labels }}{{ range $labels }}"
           "{{ range $labels }}{{ range $labels }}{{ range $labels }}{{ range $labels }}{{ range $labels }}{{ range $labels }}"
           "{{ end }}{{ end }}{{ end }}{{ end }}{{ end }}{{ end }}{{ end }}{{ end }}{{ end }}{{ end }}{{ end }}");
    assert_int_equal(last_rc, VG_ELIMIT);
    assert_non_null(strstr(result, "evaluation steps"));
    /* Depth: 200 nested ifs and 200 nested parentheses are refused at parse time. */
    vg_buf_t b = VG_BUF_INIT;
    for (int i = 0; i < 200; i++) vg_buf_puts(&b, "{{ if true }}");
    for (int i = 0; i < 200; i++) vg_buf_puts(&b, "{{ end }}");
    expand(b.data);
    assert_int_equal(last_rc, VG_EINVAL);
    assert_non_null(strstr(result, "nesting too deep"));
    vg_buf_reset(&b);
    vg_buf_puts(&b, "{{ ");
    for (int i = 0; i < 200; i++) vg_buf_puts(&b, "(print ");
    vg_buf_puts(&b, "1");
    for (int i = 0; i < 200; i++) vg_buf_puts(&b, ")");
    vg_buf_puts(&b, " }}");
    expand(b.data);
    assert_int_equal(last_rc, VG_EINVAL);
    vg_buf_deinit(&b);
}

/* A parsed template does not depend on the caller's text and can run many times. */
static void reuse(void **state) {
    (void)state;
    char *src = strdup("v={{ $value }} {{ $labels.job }}");
    rules_template_t *t;
    vg_error_t err;
    assert_int_equal(rules_template_parse("r", src, strlen(src), &t, &err), 0);
    memset(src, 'x', strlen(src));
    free(src);
    for (int i = 0; i < 3; i++) {
        rules_tmpl_data_t d = {.labels = labels, .n_labels = 3, .value = i};
        vg_buf_t out = VG_BUF_INIT;
        assert_int_equal(rules_template_exec(t, &d, &out, &err), 0);
        char want[32];
        snprintf(want, sizeof want, "v=%d node", i);
        assert_string_equal(out.data, want);
        vg_buf_deinit(&out);
    }
    rules_template_free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_errors), cmocka_unit_test(values_and_fields), cmocka_unit_test(control),
        cmocka_unit_test(builtins),     cmocka_unit_test(printf_verbs),      cmocka_unit_test(prometheus_functions),
        cmocka_unit_test(queries),      cmocka_unit_test(limits),            cmocka_unit_test(reuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
