/* model matchers: Prometheus semantics (anchoring, empty = absent, dot-all), RE2 syntax rejection,
 * and every fast path agreeing with the PCRE2 engine. */
#include "model/matcher.h"
#include "model/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static model_matcher_t *mk(model_match_type_t t, const char *v) {
    model_matcher_t *m = NULL;
    vg_error_t err;
    int rc = model_matcher_new(t, "l", v, &m, &err);
    if (rc) fail_msg("compile %s: %s", v, err.msg);
    return m;
}

static void semantics(void **state) {
    (void)state;
    struct {
        model_match_type_t t;
        const char *pat, *val;
        bool want;
    } c[] = {
        {MODEL_MATCH_EQ, "a", "a", true},       {MODEL_MATCH_EQ, "a", "ab", false},
        {MODEL_MATCH_EQ, "", NULL, true},       {MODEL_MATCH_EQ, "", "x", false},
        {MODEL_MATCH_NEQ, "", "x", true},       {MODEL_MATCH_NEQ, "a", NULL, true},
        {MODEL_MATCH_RE, "a.*", "abc", true},   {MODEL_MATCH_RE, "a.*", "xabc", false},
        {MODEL_MATCH_RE, "b", "abc", false},    {MODEL_MATCH_RE, "a|b", "ab", false},
        {MODEL_MATCH_RE, ".*", NULL, true},     {MODEL_MATCH_RE, ".+", NULL, false},
        {MODEL_MATCH_RE, ".+", "x", true},      {MODEL_MATCH_RE, "a.c", "a\nc", false},
        {MODEL_MATCH_RE, ".*", "a\nc", false},      {MODEL_MATCH_RE, ".+", "\n", false},
        {MODEL_MATCH_RE, "a.*", "ab\nc", false},    {MODEL_MATCH_RE, ".*c", "a\nbc", false},
        {MODEL_MATCH_RE, ".*b.*", "a\nbc", false},  {MODEL_MATCH_RE, "(?s)a.c", "a\nc", true},
        {MODEL_MATCH_RE, "a\nc", "a\nc", true},
        {MODEL_MATCH_RE, "abc$", "abc\n", false}, {MODEL_MATCH_RE, "5..", "503", true},
        {MODEL_MATCH_RE, "5..", "5033", false}, {MODEL_MATCH_RE, "(?i)get", "GET", true},
        {MODEL_MATCH_RE, "/api/v1/.*", "/api/v1/users", true}, {MODEL_MATCH_RE, ".*users", "/api/v1/users", true},
        {MODEL_MATCH_RE, ".*v1.*", "/api/v1/users", true}, {MODEL_MATCH_RE, ".*v2.*", "/api/v1/users", false},
        {MODEL_MATCH_RE, "(GET|POST)", "POST", true}, {MODEL_MATCH_RE, "(?:GET|POST)", "PUT", false},
        {MODEL_MATCH_RE, "a|", NULL, true},     {MODEL_MATCH_NRE, "a|b", "c", true},
        {MODEL_MATCH_NRE, ".*", "c", false},    {MODEL_MATCH_NRE, "x.+", NULL, true},
        {MODEL_MATCH_RE, "\\d+", "123", true},  {MODEL_MATCH_RE, "[a-c]+", "abcd", false},
        {MODEL_MATCH_RE, "\\Qa.b\\E", "a.b", true}, {MODEL_MATCH_RE, "\\Qa.b\\E", "axb", false},
        {MODEL_MATCH_RE, "caf.", "caf\xc3\xa9", true},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        model_matcher_t *m = mk(c[i].t, c[i].pat);
        int got = model_matcher_match(m, c[i].val);
        if (got != c[i].want)
            fail_msg("case %zu: %s%s on %s: got %d want %d (kind %s)", i, model_match_type_str(c[i].t), c[i].pat,
                     c[i].val ? c[i].val : "(absent)", got, c[i].want, model_matcher_kind(m));
        model_matcher_free(m);
    }
}

static void fast_paths(void **state) {
    (void)state;
    struct {
        const char *pat, *kind;
    } c[] = {{"abc", "literal"}, {"abc.*", "prefix"}, {".*abc", "suffix"}, {".*abc.*", "contains"},
             {".*", "any"}, {".+", "nonempty"}, {"a|b|c", "set"}, {"(a|bb)", "set"}, {"a+", "regex"}};
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        model_matcher_t *m = mk(MODEL_MATCH_RE, c[i].pat);
        assert_string_equal(model_matcher_kind(m), c[i].kind);
        model_matcher_free(m);
    }
    model_matcher_t *m = mk(MODEL_MATCH_RE, "b|a|c");
    const char *const *vals;
    assert_int_equal(model_matcher_set_values(m, &vals), 3);
    assert_string_equal(vals[0], "a");
    model_matcher_free(m);
}

/* Every fast path must agree with PCRE2 itself on a spread of inputs. */
static void fast_paths_agree_with_regex(void **state) {
    (void)state;
    const char *pats[] = {"abc", "abc.*", ".*abc", ".*abc.*", ".*", ".+", "a|b|c", "(a|bb|)", "(?:x|yz)", ""};
    const char *vals[] = {"", "a", "b", "bb", "c", "abc", "abcd", "xabc", "xabcx", "ab", "x", "yz", "abc\n", "\nabc", "\n", "a\nbc"};
    for (size_t i = 0; i < sizeof pats / sizeof pats[0]; i++) {
        model_matcher_t *m = mk(MODEL_MATCH_RE, pats[i]);
        int ec;
        PCRE2_SIZE eo;
        pcre2_code *re = pcre2_compile((PCRE2_SPTR)pats[i], PCRE2_ZERO_TERMINATED,
                                       PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_DOLLAR_ENDONLY, &ec, &eo, NULL);
        assert_non_null(re);
        pcre2_match_data *md = pcre2_match_data_create(1, NULL);
        for (size_t j = 0; j < sizeof vals / sizeof vals[0]; j++) {
            bool want = pcre2_match(re, (PCRE2_SPTR)vals[j], strlen(vals[j]), 0, 0, md, NULL) >= 0;
            if (model_matcher_match(m, vals[j]) != want)
                fail_msg("pattern %s (%s) on \"%s\": want %d", pats[i], model_matcher_kind(m), vals[j], want);
        }
        pcre2_match_data_free(md);
        pcre2_code_free(re);
        model_matcher_free(m);
    }
}

static void re2_rejections(void **state) {
    (void)state;
    const char *bad[] = {"(a)\\1", "a(?=b)", "a(?!b)", "(?<=a)b", "(?<!a)b", "(?>a)", "a++", "a*+", "\\Z",
                         "(?R)", "(?(1)a|b)", "\\K", "[a", "a{2,1}", "(", "\\"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        model_matcher_t *m = NULL;
        vg_error_t err;
        int rc = model_matcher_new(MODEL_MATCH_RE, "l", bad[i], &m, &err);
        if (rc != VG_EINVAL) fail_msg("pattern %s accepted", bad[i]);
        assert_null(m);
        assert_non_null(strstr(err.msg, "invalid regular expression"));
    }
    const char *good[] = {"(?i)a", "(?P<x>a)", "(?:a)", "[[:alpha:]]+", "\\pL", "\\p{Greek}", "a{2,3}", "[]a]",
                          "\\x41", "(?s:.)", "(?U)a+", "[\\d\\s]"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        model_matcher_t *m = NULL;
        vg_error_t err;
        if (model_matcher_new(MODEL_MATCH_RE, "l", good[i], &m, &err) != 0) fail_msg("pattern %s: %s", good[i], err.msg);
        model_matcher_free(m);
    }
}

/* A long value gets the right answer under both operators; a match that cannot be decided is an
 * error under both — `!~` never turns it into "matches". */
static void match_errors(void **state) {
    (void)state;
    char v[4097];
    memset(v, 'a', 4095);
    for (int i = 0; i < 4095; i += 3) v[i] = 'b';
    v[4095] = '!';
    v[4096] = '\0';
    model_matcher_t *re = mk(MODEL_MATCH_RE, "(a|b)+!"), *nre = mk(MODEL_MATCH_NRE, "(a|b)+!");
    assert_int_equal(model_matcher_match(re, v), 1);
    assert_int_equal(model_matcher_match(nre, v), 0);
    v[4095] = 'a';
    assert_int_equal(model_matcher_match(re, v), 0);
    assert_int_equal(model_matcher_match(nre, v), 1);
    model_matcher_free(re);
    model_matcher_free(nre);

    /* tiny limits: undecided */
    model_regex_limits_t lim = {.match_limit = 100, .depth_limit = 100, .dfa_workspace = 20};
    vg_error_t err;
    vg_error_clear(&err);
    assert_int_equal(model_matcher_new_limits(MODEL_MATCH_RE, "v", "(a|a)+", &lim, &re, &err), 0);
    assert_int_equal(model_matcher_new_limits(MODEL_MATCH_NRE, "v", "(a|a)+", &lim, &nre, &err), 0);
    memset(v, 'a', 30);
    v[30] = 'b';
    v[31] = '\0';
    assert_int_equal(model_matcher_match(re, v), VG_ELIMIT);
    assert_int_equal(model_matcher_match(nre, v), VG_ELIMIT);
    assert_int_equal(model_matcher_match(re, "aaa"), 1);
    assert_int_equal(model_matcher_match(nre, "aaa"), 0);
    assert_int_equal(model_matcher_error(nre, VG_ELIMIT, &err), VG_ELIMIT);
    assert_string_equal(err.msg, "regex v!~\"(a|a)+\" could not be evaluated on a value of label \"v\": limit exceeded");
    assert_int_equal(model_matcher_error(nre, VG_EINTERNAL, &err), VG_EEXEC);
    model_matcher_free(re);
    model_matcher_free(nre);

    /* default limits: the DFA matcher decides, unless the value is not valid UTF-8 */
    re = mk(MODEL_MATCH_RE, "(a|a)+");
    nre = mk(MODEL_MATCH_NRE, "(a|a)+");
    assert_int_equal(model_matcher_match(re, v), 0);
    assert_int_equal(model_matcher_match(nre, v), 1);
    v[29] = '\xff';
    assert_int_equal(model_matcher_match(re, v), VG_ELIMIT);
    assert_int_equal(model_matcher_match(nre, v), VG_ELIMIT);
    model_matcher_free(re);
    model_matcher_free(nre);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(semantics), cmocka_unit_test(fast_paths),
                                       cmocka_unit_test(fast_paths_agree_with_regex), cmocka_unit_test(re2_rejections),
                                       cmocka_unit_test(match_errors)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
