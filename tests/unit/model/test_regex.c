/* model regex: RE2 syntax accepted and rejected with Go's texts, `^(?:re)$` anchoring, every fast path
 * agreeing with PCRE2 itself, Go template expansion, a match error told apart from no match, and use
 * of shared regexes from two threads. */
#include "model/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static model_regex_t *mk(const char *re) {
    model_regex_t *r = NULL;
    vg_error_t err;
    vg_error_clear(&err);
    if (model_regex_new(re, strlen(re), NULL, &r, &err)) fail_msg("compile %s: %s", re, err.msg);
    return r;
}

static void syntax(void **state) {
    (void)state;
    static const struct {
        const char *re, *msg; /* msg NULL: accepted */
    } c[] = {
        {"(a)\\1", "invalid escape sequence: `\\1`"},
        {"\\8", "invalid escape sequence: `\\8`"},
        {"a(?=b)", "invalid or unsupported Perl syntax: `(?=`"},
        {"a(?!b)", "invalid or unsupported Perl syntax: `(?!`"},
        {"(?<=a)b", "invalid or unsupported Perl syntax: `(?<`"},
        {"(?<!a)b", "invalid or unsupported Perl syntax: `(?<`"},
        {"(?<n>a)", "invalid or unsupported Perl syntax: `(?<`"},
        {"(?>a)", "invalid or unsupported Perl syntax: `(?>`"},
        {"(?R)", "invalid or unsupported Perl syntax: `(?R`"},
        {"(?1)", "invalid or unsupported Perl syntax: `(?1`"},
        {"(?(1)a|b)", "invalid or unsupported Perl syntax: `(?(`"},
        {"(?#c)a", "invalid or unsupported Perl syntax: `(?#`"},
        {"(?|a)", "invalid or unsupported Perl syntax: `(?|`"},
        {"(?P=n)", "invalid or unsupported Perl syntax: `(?P`"},
        {"(?i-)a", "invalid or unsupported Perl syntax: `(?i-)`"},
        {"(?x)a", "invalid or unsupported Perl syntax: `(?x`"},
        {"(?P<>a)", "invalid named capture: `(?P<>`"},
        {"(?P<a-b>a)", "invalid named capture: `(?P<a-b>`"},
        {"a++", "invalid nested repetition operator: `++`"},
        {"a*+", "invalid nested repetition operator: `*+`"},
        {"a?+", "invalid nested repetition operator: `?+`"},
        {"a**", "invalid nested repetition operator: `**`"},
        {"a???", "invalid nested repetition operator: `???`"},
        {"a{2}{3}", "invalid nested repetition operator: `{2}{3}`"},
        {"a{2}+", "invalid nested repetition operator: `{2}+`"},
        {"*a", "missing argument to repetition operator: `*`"},
        {"a|*", "missing argument to repetition operator: `*`"},
        {"(*UTF)a", "missing argument to repetition operator: `*`"},
        {"(+a)", "missing argument to repetition operator: `+`"},
        {"a{1001}", "invalid repeat count: `{1001}`"},
        {"a{2,1}", "invalid repeat count: `{2,1}`"},
        {"a{1,1001}", "invalid repeat count: `{1,1001}`"},
        {"\\Z", "invalid escape sequence: `\\Z`"},
        {"\\K", "invalid escape sequence: `\\K`"},
        {"\\C", "invalid escape sequence: `\\C`"},
        {"\\G", "invalid escape sequence: `\\G`"},
        {"\\e", "invalid escape sequence: `\\e`"},
        {"\\h", "invalid escape sequence: `\\h`"},
        {"\\E", "invalid escape sequence: `\\E`"},
        {"\\\xc3\xa9", "invalid escape sequence: `\\\xc3\xa9`"},
        {"[\\b]", "invalid escape sequence: `\\b`"},
        {"[\\A]", "invalid escape sequence: `\\A`"},
        {"[[:foo:]]", "invalid character class range: `[:foo:]`"},
        {"[a", "missing closing ]: `[a)$`"},
        {"[]a", "missing closing ]: `[]a)$`"},
        {"\\", "missing closing ): `^(?:\\)$`"},
        {"a\\", "missing closing ): `^(?:a\\)$`"},
        {"x)|(y", "unexpected ): `x)|(y`"},
        {"a)", "unexpected ): `^(?:a))$`"},
        {"(", "missing closing ): `^(?:()$`"},
        {"(?i", "missing closing ): `^(?:(?i)$`"},
        {"(a))", "unexpected ): `^(?:(a)))$`"},
        {"[z-a]", "invalid character class range: `z-a`"},
        {"a\xff", "invalid UTF-8: `\xff)$`"},
        {"(a|\xc3)", "invalid UTF-8: `\xc3))$`"},
        {"[a\xc3\xa9-b]", "invalid character class range: `\xc3\xa9-b`"},
        /* accepted */
        {"", NULL}, {"abc", NULL}, {"(?i)a", NULL}, {"(?i-s:a.)", NULL}, {"(?P<x_1>a)", NULL}, {"(?:a)", NULL},
        {"[[:alpha:]]+", NULL}, {"[[:^digit:]]", NULL}, {"\\pL", NULL}, {"\\p{Greek}", NULL}, {"\\PL", NULL},
        {"a{2,3}", NULL}, {"a{2,}", NULL}, {"a{,3}", NULL}, {"a{x}", NULL}, {"[]a]", NULL}, {"[^]a]", NULL},
        {"\\x41", NULL}, {"\\x{41}", NULL}, {"(?s:.)", NULL}, {"(?U)a+", NULL}, {"[\\d\\s]", NULL}, {"a*?", NULL},
        {"a{2}?", NULL}, {"a??", NULL}, {"\\Qa)*\\E", NULL}, {"\\_", NULL}, {"\\.\\*\\+", NULL}, {"\\A\\bx\\B\\z", NULL},
        {"a{1000}", NULL}, {"(a)|(b)", NULL}, {"((a)(?:b)(?P<n>c)(?i))", NULL}, {"[)]\\)\\Q)\\E", NULL}, {"\\0", NULL}, {"[\\x00-\\x{10FFFF}]", NULL}, {"[a-\xc3\xa9]", NULL},
        {"[-a]", NULL}, {"[a-]", NULL}, {"[]-a]", NULL},
        {"[a-c-b]", NULL}, {"[\\x4a-Z]", NULL}, {"\\x{1001}+", NULL}, {"\\x{41}{2}", NULL}, {"\\p{Greek}+", NULL},
        {"\\pL+", NULL}, {"\\x41{2}", NULL}, {"\\0123", NULL}, {"[\\p{Greek}-]", NULL},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        vg_error_t err;
        vg_error_clear(&err);
        model_regex_t *r = (model_regex_t *)1;
        int rc = model_regex_new(c[i].re, strlen(c[i].re), NULL, &r, &err);
        bool empty;
        vg_error_t err2;
        vg_error_clear(&err2);
        int rc2 = model_regex_check(c[i].re, strlen(c[i].re), &empty, &err2);
        if (!c[i].msg) {
            if (rc || rc2) fail_msg("pattern %s rejected: %s%s", c[i].re, err.msg, err2.msg);
            model_regex_free(r);
            continue;
        }
        char want[256];
        snprintf(want, sizeof want, "error parsing regexp: %s", c[i].msg);
        if (rc != VG_EINVAL || rc2 != VG_EINVAL) fail_msg("pattern %s: rc %d / %d, want VG_EINVAL", c[i].re, rc, rc2);
        assert_null(r);
        if (strcmp(err.msg, want) != 0 || strcmp(err2.msg, want) != 0)
            fail_msg("pattern %s:\n got %s\n and %s\nwant %s", c[i].re, err.msg, err2.msg, want);
    }
}

static void anchoring(void **state) {
    (void)state;
    static const struct {
        const char *re, *v;
        int want;
    } c[] = {
        {"a", "a", 1},           {"a", "ba", 0},          {"a", "ab", 0},           {"a|b", "ab", 0},
        {"a|b", "b", 1},         {"ab|c", "abc", 0},      {"a+", "aaa", 1},         {"a+", "aab", 0},
        {"abc$", "abc\n", 0},    {"^abc$", "abc", 1},     {"a.c", "a\nc", 0},       {"(?s)a.c", "a\nc", 1},
        {".*", "a\nb", 0},       {"(?s).*", "a\nb", 1},   {"(a)|(b)", "b", 1},      {"(a)|(b)", "ab", 0},
        {"", "", 1},             {"", "a", 0},             {"(?i)get", "GET", 1},
        {"caf.", "caf\xc3\xa9", 1}, {"\\_", "_", 1},      {"\\0", "\x00", 1},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        model_regex_t *r = mk(c[i].re);
        size_t len = strcmp(c[i].re, "\\0") == 0 ? 1 : strlen(c[i].v);
        int got = model_regex_match(r, c[i].v, len);
        if (got != c[i].want) fail_msg("%s on \"%s\": got %d want %d (%s)", c[i].re, c[i].v, got, c[i].want, model_regex_kind(r));
        model_regex_free(r);
    }
}

static void fast_paths(void **state) {
    (void)state;
    static const struct {
        const char *re, *kind;
    } c[] = {{"abc", "literal"}, {"", "literal"},     {"(?:abc)", "literal"}, {"abc.*", "prefix"},
             {".*abc", "suffix"}, {".*abc.*", "contains"}, {".*", "any"},     {".+", "nonempty"},
             {"a|b|c", "set"},   {"(a|bb)", "set"},   {"(?:a||b)", "set"},   {"a+", "regex"},
             {".*.*", "regex"},  {"(a)|(b)", "regex"}, {"a.b", "regex"}};
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        model_regex_t *r = mk(c[i].re);
        if (strcmp(model_regex_kind(r), c[i].kind) != 0) fail_msg("%s: kind %s want %s", c[i].re, model_regex_kind(r), c[i].kind);
        model_regex_free(r);
    }
    model_regex_t *r = mk("b|a||c");
    const char *const *vals;
    assert_int_equal(model_regex_literals(r, &vals), 4);
    assert_string_equal(vals[0], "");
    assert_string_equal(vals[1], "a");
    assert_string_equal(vals[3], "c");
    model_regex_free(r);
    r = mk("a+");
    assert_int_equal(model_regex_literals(r, &vals), 0);
    model_regex_free(r);
}

/* Every fast path must agree with PCRE2 run on `^(?:re)$` itself. */
static void fast_paths_agree_with_pcre(void **state) {
    (void)state;
    const char *pats[] = {"abc", "abc.*", ".*abc", ".*abc.*", ".*", ".+", "a|b|c", "(a|bb|)", "(?:x|yz)", "",
                          "(?:abc)", "a|", "|", ".*b", "b.*", ".*b.*", "a+", "(abc)"};
    const char *vals[] = {"",     "a",      "b",    "bb",   "c",    "abc",  "abcd",   "xabc",  "xabcx", "ab", "x",
                          "yz",   "abc\n",  "\nabc", "\n",  "a\nbc", "b\nb", "abab", "\xc3\xa9"};
    for (size_t i = 0; i < sizeof pats / sizeof pats[0]; i++) {
        model_regex_t *r = mk(pats[i]);
        char pat[64];
        snprintf(pat, sizeof pat, "^(?:%s)$", pats[i]);
        int ec;
        PCRE2_SIZE eo;
        pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED,
                                       PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY, &ec, &eo, NULL);
        assert_non_null(re);
        pcre2_match_data *md = pcre2_match_data_create(4, NULL);
        for (size_t j = 0; j < sizeof vals / sizeof vals[0]; j++) {
            int want = pcre2_match(re, (PCRE2_SPTR)vals[j], strlen(vals[j]), 0, 0, md, NULL) >= 0;
            int got = model_regex_match(r, vals[j], strlen(vals[j]));
            if (got != want) fail_msg("pattern %s (%s) on \"%s\": got %d want %d", pats[i], model_regex_kind(r), vals[j], got, want);
        }
        bool empty;
        assert_int_equal(model_regex_check(pats[i], strlen(pats[i]), &empty, NULL), 0);
        int want_empty = pcre2_match(re, (PCRE2_SPTR) "", 0, 0, 0, md, NULL) >= 0;
        if (empty != want_empty || model_regex_matches_empty(r) != want_empty)
            fail_msg("pattern %s: matches empty %d/%d want %d", pats[i], empty, model_regex_matches_empty(r), want_empty);
        pcre2_match_data_free(md);
        pcre2_code_free(re);
        model_regex_free(r);
    }
}

static void expansion(void **state) {
    (void)state;
    /* groups on "aab": 1="aa" first, 2="b", 3 (x_1) unset */
    model_regex_t *r = mk("(?P<first>a+)(b*)(?P<x_1>c)?");
    model_regex_caps_t caps;
    assert_int_equal(model_regex_capture(r, "aab", 3, &caps), 1);
    static const struct {
        const char *tmpl, *want;
    } c[] = {
        {"$1", "aa"},          {"${1}", "aa"},        {"$1x", ""},             {"${1}x", "aax"},
        {"$first", "aa"},      {"${first}", "aa"},    {"$firstx", ""},         {"$$1", "$1"},
        {"$", "$"},            {"${", "${"},          {"${1", "${1"},          {"$-", "$-"},
        {"$01", ""},           {"$3", ""},            {"$x_1", ""},            {"$9", ""},
        {"a${2}b", "abb"},     {"$0", "aab"},         {"${0}-${2}", "aab-b"},  {"x$", "x$"},
        {"$nope", ""},         {"no refs", "no refs"}, {"$$$$", "$$"},         {"$2$1", "baa"},
        {"${first}${2}", "aab"}, {"$100000000000", ""}, {"$\xc3\xa9", ""},     {"${ 1}", "${ 1}"},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        size_t n = model_regex_expand(r, c[i].tmpl, strlen(c[i].tmpl), &caps, NULL, 0);
        char buf[64];
        size_t n2 = model_regex_expand(r, c[i].tmpl, strlen(c[i].tmpl), &caps, buf, sizeof buf);
        assert_int_equal(n, n2);
        if (strcmp(buf, c[i].want) != 0 || n != strlen(c[i].want))
            fail_msg("template \"%s\": got \"%s\" (%zu) want \"%s\"", c[i].tmpl, buf, n, c[i].want);
    }
    /* snprintf-like truncation */
    char small[4];
    assert_int_equal(model_regex_expand(r, "x$1$1", 5, &caps, small, sizeof small), 5);
    assert_string_equal(small, "xaa");
    model_regex_free(r);
    /* a failed capture leaves no groups behind */
    r = mk("(a)");
    assert_int_equal(model_regex_capture(r, "b", 1, &caps), 0);
    assert_int_equal(caps.n, 0);
    assert_int_equal(model_regex_expand(r, "[$1]", 4, &caps, small, sizeof small), 2);
    assert_string_equal(small, "[]");
    model_regex_free(r);
}

/* Exponential backtracking: (a|a)+ against a^n b fails only after trying 2^n ways. The backtracker
 * stops at its limit; the DFA matcher then decides, unless its own limit (or invalid UTF-8) stops it
 * too — and then the answer is an error, never "no match". */
static void match_error_is_not_no_match(void **state) {
    (void)state;
    char v[40];
    memset(v, 'a', 30);
    v[30] = 'b';
    v[31] = '\0';
    model_regex_limits_t lim = {.match_limit = 1000, .depth_limit = 1000, .dfa_workspace = 20};
    model_regex_t *r = NULL;
    vg_error_t err;
    assert_int_equal(model_regex_new("(a|a)+", 6, &lim, &r, &err), 0);
    assert_int_equal(model_regex_match(r, v, 31), VG_ELIMIT);
    model_regex_caps_t caps;
    assert_int_equal(model_regex_capture(r, v, 31, &caps), VG_ELIMIT);
    assert_int_equal(model_regex_match(r, "aaa", 3), 1);
    assert_int_equal(model_regex_match(r, "b", 1), 0);
    model_regex_free(r);
    /* the same tiny backtracking limits with the default DFA workspace: decided, not an error */
    lim.dfa_workspace = 0;
    assert_int_equal(model_regex_new("(a|a)+", 6, &lim, &r, &err), 0);
    assert_int_equal(model_regex_match(r, v, 31), 0);
    assert_int_equal(model_regex_capture(r, v, 31, &caps), 0);
    v[29] = '\xff'; /* the DFA matcher needs valid UTF-8: undecided, so an error */
    assert_int_equal(model_regex_match(r, v, 31), VG_ELIMIT);
    v[29] = 'a';
    model_regex_free(r);
    /* default limits: the backtracker gives up quickly, the DFA matcher answers */
    r = mk("(a|a)+");
    assert_int_equal(model_regex_match(r, v, 31), 0);
    assert_int_equal(model_regex_match(r, v, 30), 1);
    assert_int_equal(model_regex_capture(r, v, 31, &caps), 0);
    model_regex_free(r);
}

/* ---- long values: references written without regexes ---- */

static bool ref_ab_bang(const char *s, size_t n) { /* (a|b)+! */
    if (n < 2 || s[n - 1] != '!') return false;
    for (size_t i = 0; i + 1 < n; i++)
        if (s[i] != 'a' && s[i] != 'b') return false;
    return true;
}

static bool ref_pairs_bang(const char *s, size_t n) { /* ((a|b)(a|b))+! */
    return ref_ab_bang(s, n) && (n - 1) % 2 == 0;
}

static bool ref_xyz(const char *s, size_t n) { /* .*x.*y.*z */
    if (memchr(s, '\n', n) || n < 3 || s[n - 1] != 'z') return false;
    size_t i = 0;
    while (i < n - 1 && s[i] != 'x') i++;
    for (i++; i < n - 1; i++)
        if (s[i] == 'y') return true;
    return false;
}

static bool ref_words(const char *s, size_t n) { /* (\w+\s?)+end: word runs split by at most one space */
    if (n < 4 || memcmp(s + n - 3, "end", 3)) return false;
    for (size_t i = 0; i + 3 < n; i++) {
        bool w = (s[i] >= 'a' && s[i] <= 'z') || s[i] == '_';
        if (!w && !(s[i] == ' ' && i > 0 && s[i - 1] != ' ')) return false;
    }
    return true;
}

static uint64_t rng = 88172645463325252ull;
static unsigned next_rand(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (unsigned)(rng >> 11);
}

/* Values of length n over an alphabet, with a chosen last byte; a few bytes may be flipped. */
static void fill(char *s, size_t n, const char *alpha, char last, int flips) {
    size_t k = strlen(alpha);
    for (size_t i = 0; i < n; i++) s[i] = alpha[next_rand() % k];
    for (int f = 0; f < flips; f++) s[next_rand() % n] = "ab! xyzq"[next_rand() % 8];
    s[n - 1] = last;
}

static void long_values_answer(void **state) {
    (void)state;
    static const struct {
        const char *re, *alpha, *lasts;
        bool (*ref)(const char *, size_t);
    } c[] = {
        {"(a|b)+!", "ab", "!a", ref_ab_bang},
        {"((a|b)(a|b))+!", "ab", "!b", ref_pairs_bang},
        {".*x.*y.*z", "xyz", "zq", ref_xyz},
        {"(?:[a-z_]+ ?)+end", "abc ", "d", ref_words},
    };
    static const size_t lens[] = {1500, 4095, 4096, 65536};
    char *s = malloc(1 << 20);
    assert_non_null(s);
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        model_regex_t *r = mk(c[i].re);
        for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++)
            for (int k = 0; k < 8; k++) {
                size_t n = lens[l];
                fill(s, n, c[i].alpha, c[i].lasts[k % 2], k < 4 ? 0 : 1);
                if (c[i].ref == ref_words && k % 2 == 0) memcpy(s + n - 3, "end", 3);
                bool want = c[i].ref(s, n);
                int got = model_regex_match(r, s, n);
                if (got != want) fail_msg("%s on %zu bytes (case %d): got %d want %d", c[i].re, n, k, got, want);
                model_regex_caps_t caps;
                got = model_regex_capture(r, s, n, &caps);
                if (got != want) fail_msg("capture %s on %zu bytes (case %d): got %d want %d", c[i].re, n, k, got, want);
            }
        model_regex_free(r);
    }
    /* the largest label value (1 MiB) */
    model_regex_t *r = mk("(a|b)+!"), *x = mk(".*x.*y.*z");
    size_t n = 1 << 20;
    fill(s, n, "ab", '!', 0);
    assert_int_equal(model_regex_match(r, s, n), 1);
    s[n / 2] = 'c';
    assert_int_equal(model_regex_match(r, s, n), 0);
    fill(s, n, "xyz", 'q', 0);
    assert_int_equal(model_regex_match(x, s, n), 0);
    s[n - 1] = 'z';
    assert_int_equal(model_regex_match(x, s, n), 1);
    model_regex_free(r);
    model_regex_free(x);
    /* groups of a long match come from the backtracker, on the thread's JIT stack */
    r = mk("((?:a|b)+)(!)");
    fill(s, 4096, "ab", '!', 0);
    model_regex_caps_t caps;
    assert_int_equal(model_regex_capture(r, s, 4096, &caps), 1);
    assert_int_equal(caps.ov[2], 0);
    assert_int_equal(caps.ov[3], 4095);
    assert_int_equal(caps.ov[4], 4095);
    model_regex_free(r);
    free(s);
}

typedef struct {
    const model_regex_t *set, *cap, *lit;
    int bad;
} thread_arg_t;

static void *worker(void *p) {
    thread_arg_t *a = p;
    char v[64], out[64];
    for (int i = 0; i < 20000; i++) {
        int n = snprintf(v, sizeof v, "host-%d:%d", i % 97, 9000 + i % 10);
        model_regex_caps_t caps;
        if (model_regex_capture(a->cap, v, (size_t)n, &caps) != 1) a->bad++;
        model_regex_expand(a->cap, "$2/${1}", 7, &caps, out, sizeof out);
        char want[64];
        snprintf(want, sizeof want, "%d/host-%d", 9000 + i % 10, i % 97);
        if (strcmp(out, want) != 0) a->bad++;
        if (model_regex_match(a->set, v, (size_t)n) != 0) a->bad++;
        if (model_regex_match(a->set, "b", 1) != 1) a->bad++;
        if (model_regex_match(a->lit, "host-1:9000", 11) != 1) a->bad++;
        if (i % 1000 == 0) { /* compiling in a thread while the other one matches */
            model_regex_t *r = NULL;
            if (model_regex_new("x(y+)z", 6, NULL, &r, NULL) || model_regex_match(r, "xyyz", 4) != 1) a->bad++;
            model_regex_free(r);
        }
    }
    return NULL;
}

static void two_threads(void **state) {
    (void)state;
    model_regex_t *set = mk("a|b|c"), *cap = mk("([a-z]+-\\d+):(\\d+)"), *lit = mk("host-1:9000");
    thread_arg_t a[2] = {{set, cap, lit, 0}, {set, cap, lit, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&t[i], NULL, worker, &a[i]), 0);
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_join(t[i], NULL), 0);
    assert_int_equal(a[0].bad, 0);
    assert_int_equal(a[1].bad, 0);
    model_regex_free(set);
    model_regex_free(cap);
    model_regex_free(lit);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(syntax),     cmocka_unit_test(anchoring),        cmocka_unit_test(fast_paths),
        cmocka_unit_test(fast_paths_agree_with_pcre), cmocka_unit_test(expansion),
        cmocka_unit_test(match_error_is_not_no_match), cmocka_unit_test(long_values_answer),
        cmocka_unit_test(two_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
