/* Parser and printer: exact printed forms and error messages checked against Prometheus 2.42
 * (tests/promql/format.txt, errors.txt), every prefix of valid queries, malformed input, limits. */
#include "promql/promql.h"
#include "promql/promql_int.h"
#include "model/regex.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* Parses q, prints it, re-parses the print and checks equality and idempotence. Returns the printed
 * form (caller frees) or NULL when q does not parse (err filled). */
static char *roundtrip(const char *q, size_t len, vg_error_t *err) {
    vg_arena_t a;
    vg_arena_init(&a, 4096);
    promql_node_t *n = NULL, *n2 = NULL;
    char *res = NULL;
    if (promql_parse(q, len, &a, &n, err) == 0) {
        assert_non_null(n);
        vg_buf_t b = VG_BUF_INIT, b2 = VG_BUF_INIT;
        assert_int_equal(promql_print(n, &b), 0);
        vg_error_t e2;
        if (promql_parse(b.data, b.len, &a, &n2, &e2) != 0) fail_msg("re-parse of \"%s\" failed: %s", b.data, e2.msg);
        if (!promql_node_equal(n, n2)) fail_msg("\"%s\" printed as \"%s\" re-parses to another tree", q, b.data);
        assert_int_equal(promql_print(n2, &b2), 0);
        assert_string_equal(b.data, b2.data);
        res = vg_buf_steal(&b, NULL);
        vg_buf_deinit(&b2);
    } else {
        assert_null(n);
    }
    vg_arena_deinit(&a);
    return res;
}

static char *read_file(const char *rel, size_t *len_out) {
    const char *root = getenv("VIGIL_SOURCE_ROOT");
    if (!root) return NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    vg_buf_t b = VG_BUF_INIT;
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) vg_buf_append(&b, chunk, n);
    fclose(f);
    return vg_buf_steal(&b, len_out);
}

/* Iterates "in: X" / "<key>: Y" pairs of a corpus file; calls fn(X, Y). Returns the pair count. */
static int each_pair(char *text, const char *key, void (*fn)(const char *in, const char *want)) {
    int count = 0;
    char *in = NULL;
    size_t klen = strlen(key);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "in: ", 4) == 0) {
            in = line + 4;
        } else if (in && strncmp(line, key, klen) == 0 && line[klen] == ':' && line[klen + 1] == ' ') {
            fn(in, line + klen + 2);
            in = NULL;
            count++;
        }
    }
    return count;
}

static void check_format(const char *in, const char *want) {
    vg_error_t err;
    char *got = roundtrip(in, strlen(in), &err);
    if (!got) fail_msg("\"%s\" did not parse: %s", in, err.msg);
    if (strcmp(got, want) != 0) fail_msg("\"%s\"\n  printed  %s\n  expected %s", in, got, want);
    free(got);
}

static void check_error(const char *in, const char *want) {
    vg_error_t err;
    vg_error_clear(&err);
    char *got = roundtrip(in, strlen(in), &err);
    if (got) fail_msg("\"%s\" parsed as \"%s\", expected error %s", in, got, want);
    if (strcmp(err.msg, want) != 0) fail_msg("\"%s\"\n  error    %s\n  expected %s", in, err.msg, want);
    assert_true(err.code < 0);
}

static void format_corpus(void **state) {
    (void)state;
    size_t len;
    char *text = read_file("tests/promql/format.txt", &len);
    if (!text) skip();
    int n = each_pair(text, "out", check_format);
    free(text);
    assert_true(n >= 100);
}

static void error_corpus(void **state) {
    (void)state;
    size_t len;
    char *text = read_file("tests/promql/errors.txt", &len);
    if (!text) skip();
    int n = each_pair(text, "err", check_error);
    free(text);
    assert_true(n >= 60);
}

static void print_exact(void **state) {
    (void)state;
    static const char *const cases[][2] = {
        {"sum by(a)(rate(foo{b=\"c\",a=~\"x\"}[5m] offset -1m @ 100))",
         "sum by (a) (rate(foo{a=~\"x\",b=\"c\"}[5m] @ 100.000 offset -1m))"},
        {"foo * on(a) group_left(b) bar", "foo * on (a) group_left (b) bar"},
        {"a * ignoring() group_left b", "a * ignoring () group_left () b"}, /* deliberate: 2.42 drops it */
        {"1e6", "1e+06"},
        {"123456", "123456"},
        {"0.0001", "0.0001"},
        {"-0", "-0"},
        {"x[90m:1m]", "x[1h30m:1m]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_format(cases[i][0], cases[i][1]);
}

static void prefixes(void **state) {
    (void)state;
    static const char *const qs[] = {
        "sum by (job) (rate(http_requests_total{job=~\"api|web\",code!=\"500\"}[5m] offset 1m @ start()))",
        "histogram_quantile(0.9, sum without (instance) (rate(x_bucket[1h:5m])) > bool on (le) group_left (a) y)",
        "label_replace(up{a='b\\'c'}, \"dst\", \"$1\", `src`, \"(.*)\") or -vector(1) ^ 2 # comment",
        "topk(3, count_values(\"v\", {__name__=~\"a.+\"} @ 1.5)) unless absent(nonexistent)",
    };
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        size_t n = strlen(qs[i]);
        for (size_t k = 0; k <= n; k++) {
            vg_error_t err;
            char *s = roundtrip(qs[i], k, &err);
            if (k == n && !s) fail_msg("full query did not parse: %s", err.msg);
            if (!s) assert_true(err.msg[0] != '\0');
            free(s);
        }
    }
}

static void malformed(void **state) {
    (void)state;
    static const char *const bad[] = {
        "", " ", "(", ")", "{", "}", "[", "]", "foo{", "foo}", "foo[", "foo[5m:", "foo[5m:1m", "sum(", "sum by",
        "sum by (", "rate(", "rate(x[5m]", "\"", "'", "`", "\"\\", "foo{a=\"\\u12\"}", "x @", "x offset -",
        "1 +", "- ", "foo{a=\"b\",,}", "foo{,}", "sum(x) by (a) (y)", "a == bool", "a + on(", "a + on(b) group_left(",
        "x[1.5h]", "x[5mm]", "x[1m1h]", "0x1p3", "1e", "1.2.3", "x @ start(", "x @ start(1)", "x{a=~\"(?<n>x)\"}",
        "x{a=~\"a++\"}", "x{a=~\"(?>a)\"}", "x{a=~\"\\\\C\"}", "x{a=~\"a{1001}\"}", "x{a=~\"(*ACCEPT)\"}",
        "x{a=~\"(?x)a\"}", "x{a=~\"\\\\Z\"}", "x{a=~\"(?R)\"}", "x{a=~\"(?(1)a|b)\"}", "x{a=~\"\\\\k<n>\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vg_error_t err;
        vg_error_clear(&err);
        char *s = roundtrip(bad[i], strlen(bad[i]), &err);
        if (s) fail_msg("\"%s\" parsed as \"%s\"", bad[i], s);
        if (strstr(err.msg, "parse error: ") == NULL) fail_msg("\"%s\": message without position: %s", bad[i], err.msg);
        assert_int_equal(err.code, VG_EINVAL);
        assert_true(err.pos >= 0 && (size_t)err.pos <= strlen(bad[i]));
    }
}

static void invalid_utf8(void **state) {
    (void)state;
    static const char *const bad[] = {"foo{a=\"\xff\"}", "foo # \xc3", "\xe2\x82", "foo{a=\"\xed\xa0\x80\"}"};
    static const long pos[] = {7, 6, 0, 7};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vg_error_t err;
        char *s = roundtrip(bad[i], strlen(bad[i]), &err);
        assert_null(s);
        assert_int_equal(err.code, VG_EINVAL);
        assert_int_equal(err.pos, pos[i]);
        assert_non_null(strstr(err.msg, "invalid UTF-8"));
    }
}

static void limits(void **state) {
    (void)state;
    vg_arena_t a;
    vg_arena_init(&a, 4096);
    promql_node_t *n;
    vg_error_t err;
    /* too long */
    size_t big = PROMQL_DEFAULT_MAX_BYTES + 1;
    char *q = malloc(4 * big);
    assert_non_null(q);
    memset(q, ' ', big);
    q[0] = 'x';
    q[big] = '\0';
    assert_int_equal(promql_parse(q, big, &a, &n, &err), VG_ETOOLARGE);
    assert_null(n);
    /* deep parentheses, unary chains and right-assoc powers: errors, never a stack overflow */
    const char *fills[] = {"(", "-", "x^", "sum(", "rate(", "x[5m:]", "-(", "--x^"};
    for (size_t f = 0; f < sizeof fills / sizeof fills[0]; f++) {
        size_t fl = strlen(fills[f]), k = 0;
        while (k + fl + 1 < PROMQL_DEFAULT_MAX_BYTES) {
            memcpy(q + k, fills[f], fl);
            k += fl;
        }
        q[k++] = '1';
        assert_int_equal(promql_parse(q, k, &a, &n, &err), VG_EINVAL); /* too deep is bad data (400), not 413 */
    }
    /* a long left-associative chain is bounded by the tree height limit */
    size_t k = 0;
    for (int i = 0; i < 1000; i++) k += (size_t)sprintf(q + k, "a%d + ", i);
    q[k++] = '1';
    assert_int_equal(promql_parse(q, k, &a, &n, &err), VG_EINVAL);
    assert_non_null(strstr(err.msg, "nested deeper"));
    assert_int_equal(vg_error_http_status(VG_EINVAL), 400);
    /* 200 unary signs stay under the default limit, as in Prometheus */
    k = 0;
    for (int i = 0; i < 200; i++) q[k++] = '-';
    q[k++] = 'x';
    assert_int_equal(promql_parse(q, k, &a, &n, &err), 0);
    /* the same chain passes with a higher limit */
    promql_limits_t lim = {0, 2000, 0};
    assert_int_equal(promql_parse_ex(q, k, &lim, &a, &n, &err), 0);
    /* depth exactly at the limit parses */
    lim.max_depth = 10;
    assert_int_equal(promql_parse_ex("((((((((x))))))))", 17, &lim, &a, &n, &err), 0);
    assert_int_equal(promql_parse_ex("((((((((((x))))))))))", 21, &lim, &a, &n, &err), VG_EINVAL);
    assert_non_null(strstr(err.msg, "nested deeper than the limit of 10"));
    /* selector count */
    lim = (promql_limits_t){0, 0, 3};
    assert_int_equal(promql_parse_ex("a + b + c", 9, &lim, &a, &n, &err), 0);
    assert_int_equal(promql_parse_ex("a + b + c + d", 13, &lim, &a, &n, &err), VG_ETOOLARGE);
    assert_non_null(strstr(err.msg, "selectors"));
    k = (size_t)sprintf(q, "label_join(a, \"x\", \",\"");
    for (int i = 0; i < 10001; i++) k += (size_t)sprintf(q + k, ", a");
    q[k++] = ')';
    assert_int_equal(promql_parse(q, k, &a, &n, &err), VG_ETOOLARGE);
    free(q);
    vg_arena_deinit(&a);
}

static void tree_shape(void **state) {
    (void)state;
    vg_arena_t a;
    vg_arena_init(&a, 4096);
    promql_node_t *n;
    vg_error_t err;
    /* ^ is right-associative and binds tighter than unary minus */
    assert_int_equal(promql_parse("-2 ^ 3 ^ 4", 10, &a, &n, &err), 0);
    assert_int_equal(n->type, PROMQL_NODE_UNARY);
    assert_int_equal(n->u.unary.expr->u.binary.op, PROMQL_OP_POW);
    assert_int_equal(n->u.unary.expr->u.binary.rhs->type, PROMQL_NODE_BINARY);
    /* left associativity and precedence */
    assert_int_equal(promql_parse("a - b - c * d", 13, &a, &n, &err), 0);
    assert_int_equal(n->u.binary.op, PROMQL_OP_SUB);
    assert_int_equal(n->u.binary.lhs->u.binary.op, PROMQL_OP_SUB);
    assert_int_equal(n->u.binary.rhs->u.binary.op, PROMQL_OP_MUL);
    /* set operators become many-to-many, scalar operands lose vector matching */
    assert_int_equal(promql_parse("a and b", 7, &a, &n, &err), 0);
    assert_int_equal(n->u.binary.card, PROMQL_CARD_MANY_TO_MANY);
    assert_int_equal(promql_parse("a + on() 1", 10, &a, &n, &err), 0);
    assert_false(n->u.binary.has_matching);
    /* the metric name is the last matcher; types */
    assert_int_equal(promql_parse("foo{a=\"b\"}[5m]", 14, &a, &n, &err), 0);
    assert_int_equal(promql_node_value_type(n), PROMQL_TYPE_MATRIX);
    const promql_node_t *vs = n->u.matrix.vector;
    assert_int_equal(vs->u.vector.n_matchers, 2);
    assert_string_equal(vs->u.vector.matchers[1].name.ptr, "__name__");
    assert_string_equal(vs->u.vector.matchers[1].value.ptr, "foo");
    assert_int_equal(n->u.matrix.range_ms, 300000);
    assert_int_equal(promql_parse("x @ 1.2345 offset -1h", 21, &a, &n, &err), 0);
    assert_int_equal(n->u.vector.mods.at_ms, 1235);
    assert_int_equal(n->u.vector.mods.offset_ms, -3600000);
    assert_int_equal(promql_parse("\"a\\x00b\"", 8, &a, &n, &err), 0);
    assert_int_equal(n->u.string.len, 3);
    vg_arena_deinit(&a);
}

static void function_table(void **state) {
    (void)state;
    size_t n = promql__function_count();
    assert_true(n >= 70);
    for (size_t i = 1; i < n; i++)
        if (strcmp(promql__function_at(i - 1)->name, promql__function_at(i)->name) >= 0)
            fail_msg("function table not sorted at %s", promql__function_at(i)->name);
    for (size_t i = 0; i < n; i++) {
        const promql_function_t *f = promql__function_at(i);
        assert_ptr_equal(promql_function_lookup(f->name, strlen(f->name)), f);
    }
    assert_null(promql_function_lookup("rat", 3));
    assert_null(promql_function_lookup("RATE", 4));
    assert_null(promql_function_lookup("histogram_avg", 13)); /* not in 2.42 */
}

static void regex_check(void **state) {
    (void)state;
    static const struct {
        const char *re;
        int ok, empty;
    } cases[] = {
        {"", 1, 1},       {"abc", 1, 0},   {"a|", 1, 1},        {"a|b", 1, 0},     {".*", 1, 1},
        {".+", 1, 0},     {"a*", 1, 1},    {"(a|b)+", 1, 0},    {"(?i)abc", 1, 0}, {"[[:alpha:]]+", 1, 0},
        {"\\d{2,3}", 1, 0}, {"a{1000}", 1, 0}, {"(?P<x>a)", 1, 0}, {"a*?", 1, 1},  {"\\Qa.b\\E", 1, 0},
        {"(", 0, 0},      {"\\1", 0, 0},   {"(?=a)", 0, 0},     {"(?<!a)", 0, 0},  {"a++", 0, 0},
        {"a{1001}", 0, 0}, {"\\C", 0, 0},   {"(?>a)", 0, 0},     {"\\Z", 0, 0},     {"(*UTF)a", 0, 0},
        {"a**", 0, 0},    {"[z-a]", 0, 0}, {"\\e", 0, 0},      {"(a{2123312+", 0, 0}, {"a??", 1, 1}, {"a{2}?", 1, 0}, {"a+?b", 1, 0}, {"a???", 0, 0}, {"a{99999999999}", 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool empty = false;
        vg_error_t err;
        vg_error_clear(&err);
        int rc = model_regex_check(cases[i].re, strlen(cases[i].re), &empty, &err);
        if ((rc == 0) != cases[i].ok) fail_msg("regex \"%s\": rc=%d %s", cases[i].re, rc, err.msg);
        if (rc == 0 && empty != (bool)cases[i].empty) fail_msg("regex \"%s\": matches empty = %d", cases[i].re, empty);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(format_corpus), cmocka_unit_test(error_corpus),  cmocka_unit_test(print_exact),
        cmocka_unit_test(prefixes),      cmocka_unit_test(malformed),     cmocka_unit_test(invalid_utf8),
        cmocka_unit_test(limits),        cmocka_unit_test(tree_shape),    cmocka_unit_test(function_table),
        cmocka_unit_test(regex_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
