/* Tenant enforcement: exact rewrites, the bypass corpus (tests/promql/bypass.txt) with the invariant
 * "re-parse the output: every selector carries the tenant matcher and nothing else matches on that label",
 * hostile tenant values, multi-value tenants, match[] selectors, huge and deeply nested input. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "promql/promql.h"

#include <pcre2.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const char *const alice_values[] = {"client-alice"};
static const promql_enforced_label_t alice = {"namespace", alice_values, 1};

/* Parses q, enforces, prints; returns the printed text (caller frees) or NULL with err set. */
static char *enforce_str(const char *q, size_t len, const promql_enforced_label_t *labels, size_t n_labels,
                         promql_enforce_policy_t policy, vg_error_t *err, int *n_selectors) {
    vg_arena_t a;
    vg_arena_init(&a, 4096);
    promql_node_t *n;
    char *res = NULL;
    int rc = promql_parse(q, len, &a, &n, err);
    if (rc == 0) rc = promql_enforce(n, labels, n_labels, policy, &a, err);
    if (rc >= 0) {
        if (n_selectors) *n_selectors = rc;
        vg_buf_t b = VG_BUF_INIT;
        assert_int_equal(promql_print(n, &b), 0);
        res = vg_buf_steal(&b, NULL);
    }
    vg_arena_deinit(&a);
    return res;
}

/* The invariant, checked on a fresh parse of the enforced text. */
static void assert_enforced(const char *out, const promql_enforced_label_t *labels, size_t n_labels, int n_selectors) {
    vg_arena_t a;
    vg_arena_init(&a, 4096);
    promql_node_t *n;
    vg_error_t err;
    /* enforcement lengthens the text: re-parse without the 64 KiB input limit */
    const promql_limits_t big = {1u << 24, 0, 0};
    if (promql_parse_ex(out, strlen(out), &big, &a, &n, &err) != 0) fail_msg("enforced output \"%s\" does not parse: %s", out, err.msg);
    if (promql_enforce_check(n, labels, n_labels, &err) != 0) fail_msg("invariant broken in \"%s\": %s", out, err.msg);
    /* enforcing again changes nothing */
    int again = promql_enforce(n, labels, n_labels, PROMQL_ENFORCE_REJECT, &a, &err);
    if (again != n_selectors) fail_msg("re-enforcing \"%s\" gave %d (%s), expected %d", out, again, err.msg, n_selectors);
    vg_buf_t b = VG_BUF_INIT;
    assert_int_equal(promql_print(n, &b), 0);
    assert_string_equal(b.data, out);
    vg_buf_deinit(&b);
    vg_arena_deinit(&a);
}

static void exact_rewrites(void **state) {
    (void)state;
    static const char *const cases[][2] = {
        {"up", "up{namespace=\"client-alice\"}"},
        {"sum(rate(http_requests_total{job=\"api\"}[5m]))",
         "sum(rate(http_requests_total{job=\"api\",namespace=\"client-alice\"}[5m]))"},
        {"a / on(x) group_left b offset 5m", "a{namespace=\"client-alice\"} / on (x) group_left () b{namespace=\"client-alice\"} offset 5m"},
        {"max_over_time(foo[1h:5m] @ end())", "max_over_time(foo{namespace=\"client-alice\"}[1h:5m] @ end())"},
        {"foo{namespace=\"client-alice\"}", "foo{namespace=\"client-alice\"}"},
        {"vector(1) + time()", "vector(1) + time()"},
        {"{__name__=~\".+\"}", "{__name__=~\".+\",namespace=\"client-alice\"}"},
        {"label_replace(x, \"namespace\", \"client-bob\", \"\", \"\")",
         "label_replace(x{namespace=\"client-alice\"}, \"namespace\", \"client-bob\", \"\", \"\")"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vg_error_t err;
        int ns = 0;
        char *out = enforce_str(cases[i][0], strlen(cases[i][0]), &alice, 1, PROMQL_ENFORCE_REJECT, &err, &ns);
        if (!out) fail_msg("\"%s\": %s", cases[i][0], err.msg);
        assert_string_equal(out, cases[i][1]);
        assert_enforced(out, &alice, 1, ns);
        free(out);
    }
}

static void reject_and_override(void **state) {
    (void)state;
    vg_error_t err;
    const char *q = "foo{namespace=~\"client-.*\",a=\"b\"} + bar{namespace=\"client-bob\"}";
    char *out = enforce_str(q, strlen(q), &alice, 1, PROMQL_ENFORCE_REJECT, &err, NULL);
    assert_null(out);
    assert_int_equal(err.code, VG_EFORBIDDEN);
    assert_non_null(strstr(err.msg, "\"namespace\""));
    assert_int_equal(err.pos, 0);
    int ns = 0;
    out = enforce_str(q, strlen(q), &alice, 1, PROMQL_ENFORCE_OVERRIDE, &err, &ns);
    assert_non_null(out);
    assert_string_equal(out, "foo{a=\"b\",namespace=\"client-alice\"} + bar{namespace=\"client-alice\"}");
    assert_int_equal(ns, 2);
    assert_enforced(out, &alice, 1, ns);
    free(out);
}

/* Each (text, expectation) of the corpus file. */
static void run_case(const char *kind, const char *q_raw, int *counts) {
    char q[4096];
    size_t k = 0;
    for (const char *p = q_raw; *p && k + 1 < sizeof q; p++) {
        if (strncmp(p, "<NL>", 4) == 0) {
            q[k++] = '\n';
            p += 3;
        } else {
            q[k++] = *p;
        }
    }
    q[k] = '\0';
    vg_error_t err;
    vg_error_clear(&err);
    int ns = 0;
    char *out = enforce_str(q, k, &alice, 1, PROMQL_ENFORCE_REJECT, &err, &ns);
    if (strcmp(kind, "ok") == 0) {
        if (!out) fail_msg("ok case \"%s\" failed: %s", q, err.msg);
        assert_enforced(out, &alice, 1, ns);
        free(out);
        /* override changes nothing when nothing conflicts */
        char *out2 = enforce_str(q, k, &alice, 1, PROMQL_ENFORCE_OVERRIDE, &err, &ns);
        assert_non_null(out2);
        free(out2);
        counts[0]++;
    } else if (strcmp(kind, "reject") == 0) {
        if (out) fail_msg("reject case \"%s\" was accepted as \"%s\"", q, out);
        if (err.code != VG_EFORBIDDEN || !strstr(err.msg, "\"namespace\""))
            fail_msg("reject case \"%s\": code %d, message %s", q, err.code, err.msg);
        out = enforce_str(q, k, &alice, 1, PROMQL_ENFORCE_OVERRIDE, &err, &ns);
        if (!out) fail_msg("override of \"%s\" failed: %s", q, err.msg);
        assert_enforced(out, &alice, 1, ns);
        free(out);
        counts[1]++;
    } else {
        if (out) fail_msg("invalid case \"%s\" parsed as \"%s\"", q, out);
        assert_int_equal(err.code, VG_EINVAL);
        counts[2]++;
    }
}

static void bypass_corpus(void **state) {
    (void)state;
    const char *root = getenv("VIGIL_SOURCE_ROOT");
    if (!root) skip();
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/promql/bypass.txt", root);
    FILE *f = fopen(path, "r");
    if (!f) skip();
    char line[8192];
    int counts[3] = {0, 0, 0};
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *colon = strstr(line, ": ");
        if (line[0] == '#' || !colon) continue;
        *colon = '\0';
        run_case(line, colon + 2, counts);
    }
    fclose(f);
    print_message("bypass corpus: %d ok, %d reject, %d invalid\n", counts[0], counts[1], counts[2]);
    assert_true(counts[0] + counts[1] + counts[2] >= 40);
}

/* Generated hostile inputs: huge, deeply nested, many selectors. */
static void generated_inputs(void **state) {
    (void)state;
    vg_buf_t q = VG_BUF_INIT;
    /* 200 nested aggregations around a selector */
    for (int i = 0; i < 200; i++) vg_buf_puts(&q, "sum(");
    vg_buf_puts(&q, "foo{namespace=\"client-alice\"}");
    for (int i = 0; i < 200; i++) vg_buf_putc(&q, ')');
    vg_error_t err;
    int ns;
    char *out = enforce_str(q.data, q.len, &alice, 1, PROMQL_ENFORCE_REJECT, &err, &ns);
    if (!out) fail_msg("nested: %s", err.msg);
    assert_int_equal(ns, 1);
    assert_enforced(out, &alice, 1, ns);
    free(out);
    /* a balanced tree of 4096 selectors (~45 KiB) */
    vg_buf_reset(&q);
    vg_buf_t tmp = VG_BUF_INIT;
    vg_buf_puts(&q, "m0");
    for (int level = 0; level < 12; level++) {
        vg_buf_reset(&tmp);
        vg_buf_printf(&tmp, "(%s + %s)", q.data, q.data);
        vg_buf_reset(&q);
        vg_buf_append(&q, tmp.data, tmp.len);
    }
    out = enforce_str(q.data, q.len, &alice, 1, PROMQL_ENFORCE_REJECT, &err, &ns);
    if (!out) fail_msg("balanced: %s", err.msg);
    assert_int_equal(ns, 4096);
    assert_enforced(out, &alice, 1, ns);
    free(out);
    /* one bad selector deep inside is still found */
    vg_buf_reset(&q);
    for (int i = 0; i < 100; i++) vg_buf_printf(&q, "rate(x%d[5m]) + ", i);
    vg_buf_puts(&q, "(sum(rate(y{namespace!=\"client-alice\"}[5m:1m] offset 1h)))");
    out = enforce_str(q.data, q.len, &alice, 1, PROMQL_ENFORCE_REJECT, &err, &ns);
    assert_null(out);
    assert_int_equal(err.code, VG_EFORBIDDEN);
    vg_buf_deinit(&tmp);
    vg_buf_deinit(&q);
}

static bool re_full_match(const char *re, const char *s) {
    char pat[1024];
    snprintf(pat, sizeof pat, "^(?:%s)$", re);
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_DOLLAR_ENDONLY, &ec, &eo, NULL);
    assert_non_null(c);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(c, NULL);
    int rc = pcre2_match(c, (PCRE2_SPTR)s, strlen(s), 0, 0, md, NULL);
    pcre2_match_data_free(md);
    pcre2_code_free(c);
    return rc >= 0;
}

static void hostile_tenant_values(void **state) {
    (void)state;
    static const char *const evil[] = {"a\"b", "c\\d", "e|f", ".*", "g\nh", "}", "x\"} or {y=\"z", "(", "ü"};
    const size_t n_evil = sizeof evil / sizeof evil[0];
    /* one value at a time: printed as a quoted = matcher, round-trips exactly */
    for (size_t i = 0; i < n_evil; i++) {
        const char *vals[] = {evil[i]};
        promql_enforced_label_t l = {"namespace", vals, 1};
        vg_error_t err;
        int ns;
        char *out = enforce_str("foo", 3, &l, 1, PROMQL_ENFORCE_REJECT, &err, &ns);
        if (!out) fail_msg("value %zu: %s", i, err.msg);
        assert_enforced(out, &l, 1, ns);
        vg_arena_t a;
        vg_arena_init(&a, 1024);
        promql_node_t *n;
        assert_int_equal(promql_parse(out, strlen(out), &a, &n, &err), 0);
        assert_int_equal(n->u.vector.n_matchers, 2);
        const promql_matcher_t *m = &n->u.vector.matchers[1];
        if (strcmp(m->name.ptr, "namespace") != 0) m = &n->u.vector.matchers[0];
        assert_int_equal(m->type, PROMQL_MATCH_EQ);
        assert_string_equal(m->value.ptr, evil[i]);
        vg_arena_deinit(&a);
        free(out);
    }
    /* all values at once: one =~ matcher that matches exactly those values */
    promql_enforced_label_t l = {"namespace", evil, n_evil};
    vg_error_t err;
    int ns;
    char *out = enforce_str("foo", 3, &l, 1, PROMQL_ENFORCE_REJECT, &err, &ns);
    if (!out) fail_msg("multi: %s", err.msg);
    assert_enforced(out, &l, 1, ns);
    vg_arena_t a;
    vg_arena_init(&a, 1024);
    promql_node_t *n;
    assert_int_equal(promql_parse(out, strlen(out), &a, &n, &err), 0);
    const promql_matcher_t *m = &n->u.vector.matchers[0];
    assert_string_equal(m->name.ptr, "namespace");
    assert_int_equal(m->type, PROMQL_MATCH_RE);
    for (size_t i = 0; i < n_evil; i++) assert_true(re_full_match(m->value.ptr, evil[i]));
    static const char *const others[] = {"", "a", "b", "e", "f", "anything", "client-bob", "gXh", "x", "a\"bc"};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
        if (re_full_match(m->value.ptr, others[i])) fail_msg("tenant regex %s matches \"%s\"", m->value.ptr, others[i]);
    vg_arena_deinit(&a);
    free(out);
    /* a selector that already uses an allowed value keeps it */
    out = enforce_str("foo{namespace=\"e|f\"}", 20, &l, 1, PROMQL_ENFORCE_REJECT, &err, &ns);
    assert_non_null(out);
    assert_string_equal(out, "foo{namespace=\"e|f\"}");
    free(out);
}

static void bad_definitions(void **state) {
    (void)state;
    const char *empty[] = {""};
    const char *bad_utf8[] = {"\xff"};
    const char *ok[] = {"x"};
    const promql_enforced_label_t defs[] = {
        {"namespace", empty, 1}, {"namespace", bad_utf8, 1}, {"namespace", ok, 0},
        {"", ok, 1},            {"__name__", ok, 1},        {"1abc", ok, 1},
    };
    for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++) {
        vg_error_t err;
        char *out = enforce_str("foo", 3, &defs[i], 1, PROMQL_ENFORCE_REJECT, &err, NULL);
        if (out) fail_msg("definition %zu accepted: %s", i, out);
        assert_int_equal(err.code, VG_EINVAL);
    }
}

static void two_labels(void **state) {
    (void)state;
    const char *cl[] = {"eu-1"};
    const promql_enforced_label_t labels[] = {alice, {"cluster", cl, 1}};
    vg_error_t err;
    int ns;
    char *out = enforce_str("a{cluster=\"eu-1\"} or b", 22, labels, 2, PROMQL_ENFORCE_REJECT, &err, &ns);
    assert_non_null(out);
    assert_string_equal(out, "a{cluster=\"eu-1\",namespace=\"client-alice\"} or b{cluster=\"eu-1\",namespace=\"client-alice\"}");
    assert_enforced(out, labels, 2, ns);
    free(out);
}

static void match_selectors(void **state) {
    (void)state;
    const char *match[] = {"up", "{__name__=~\"node_.+\",job=\"x\"}", "{namespace=\"client-alice\"}"};
    promql_node_t *out[3];
    vg_arena_t a;
    vg_arena_init(&a, 4096);
    vg_error_t err;
    assert_int_equal(promql_enforce_match(match, NULL, 3, &alice, 1, PROMQL_ENFORCE_REJECT, NULL, &a, out, &err), 0);
    const char *want[] = {"up{namespace=\"client-alice\"}", "{__name__=~\"node_.+\",job=\"x\",namespace=\"client-alice\"}",
                          "{namespace=\"client-alice\"}"};
    for (int i = 0; i < 3; i++) {
        vg_buf_t b = VG_BUF_INIT;
        assert_int_equal(promql_print(out[i], &b), 0);
        assert_string_equal(b.data, want[i]);
        vg_buf_deinit(&b);
    }
    /* a selector with modifiers or a conflicting matcher is refused, naming its index */
    const char *bad1[] = {"up", "rate(x[5m])"};
    assert_int_equal(promql_enforce_match(bad1, NULL, 2, &alice, 1, PROMQL_ENFORCE_REJECT, NULL, &a, out, &err), VG_EINVAL);
    assert_int_equal(err.line, 2);
    assert_null(out[0]);
    const char *bad2[] = {"up{namespace!=\"x\"}"};
    assert_int_equal(promql_enforce_match(bad2, NULL, 1, &alice, 1, PROMQL_ENFORCE_REJECT, NULL, &a, out, &err),
                     VG_EFORBIDDEN);
    const char *bad3[] = {"up offset 5m"};
    assert_int_equal(promql_enforce_match(bad3, NULL, 1, &alice, 1, PROMQL_ENFORCE_REJECT, NULL, &a, out, &err), VG_EINVAL);
    /* {} is a valid match[] (Prometheus' ParseMetricSelector); enforced it selects the tenant only */
    const char *empty[] = {"{}"};
    assert_int_equal(promql_enforce_match(empty, NULL, 1, &alice, 1, PROMQL_ENFORCE_REJECT, NULL, &a, out, &err), 0);
    vg_arena_deinit(&a);
}

/* The matcher enforcement appends is marked, the one the query wrote is not; the mark is invisible to
 * printing and equality, so the round trip and the invariant check hold on enforced trees. */
static void enforced_mark(void **state) {
    (void)state;
    vg_arena_t a;
    vg_arena_init(&a, 4096);
    vg_error_t err;
    promql_node_t *n, *own, *re;
    const char *q = "absent(m{job=\"x\"}) + absent(m{namespace=\"client-alice\"})";
    assert_int_equal(promql_parse(q, strlen(q), &a, &n, &err), 0);
    assert_int_equal(promql_enforce(n, &alice, 1, PROMQL_ENFORCE_REJECT, &a, &err), 2);
    const promql_node_t *lhs = n->u.binary.lhs->u.call.args[0], *rhs = n->u.binary.rhs->u.call.args[0];
    size_t marked = 0;
    for (size_t i = 0; i < lhs->u.vector.n_matchers; i++) {
        const promql_matcher_t *m = &lhs->u.vector.matchers[i];
        assert_int_equal(m->enforced, strcmp(m->name.ptr, "namespace") == 0);
        marked += m->enforced;
    }
    assert_int_equal(marked, 1);
    for (size_t i = 0; i < rhs->u.vector.n_matchers; i++) assert_false(rhs->u.vector.matchers[i].enforced);
    vg_buf_t b = VG_BUF_INIT;
    assert_int_equal(promql_print(n, &b), 0);
    assert_string_equal(b.data, "absent(m{job=\"x\",namespace=\"client-alice\"}) + absent(m{namespace=\"client-alice\"})");
    assert_int_equal(promql_parse(b.data, b.len, &a, &re, &err), 0);
    assert_true(promql_node_equal(n, re));
    assert_int_equal(promql_enforce_check(re, &alice, 1, &err), 0);
    assert_int_equal(promql_enforce_check(n, &alice, 1, &err), 0);
    /* override policy: the conflicting matcher goes, the appended one is marked */
    q = "m{namespace=\"client-bob\"}";
    assert_int_equal(promql_parse(q, strlen(q), &a, &own, &err), 0);
    assert_int_equal(promql_enforce(own, &alice, 1, PROMQL_ENFORCE_OVERRIDE, &a, &err), 1);
    assert_int_equal(own->u.vector.n_matchers, 2);
    for (size_t i = 0; i < own->u.vector.n_matchers; i++)
        assert_int_equal(own->u.vector.matchers[i].enforced, strcmp(own->u.vector.matchers[i].name.ptr, "namespace") == 0);
    vg_buf_deinit(&b);
    vg_arena_deinit(&a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exact_rewrites),   cmocka_unit_test(reject_and_override),
        cmocka_unit_test(bypass_corpus),    cmocka_unit_test(generated_inputs),
        cmocka_unit_test(hostile_tenant_values), cmocka_unit_test(bad_definitions),
        cmocka_unit_test(two_labels),       cmocka_unit_test(match_selectors),
        cmocka_unit_test(enforced_mark),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
