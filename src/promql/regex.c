/* Parse-time regex validation for =~ and !~ matchers: RE2 (Go regexp) syntax, fully anchored.
 *
 * PCRE2 compiles the anchored pattern "^(?:re)$" to find syntax errors and to learn whether it matches the
 * empty string (needed for "at least one non-empty matcher"). PCRE2 accepts more than RE2, so a scan runs
 * first and rejects what Go's regexp/syntax rejects: backreferences, lookaround, atomic groups, possessive
 * or stacked quantifiers, \C and other PCRE-only escapes, verbs, recursion, conditionals, (?<name>), flags
 * other than imsU, and repeat counts above 1000. Literal patterns and literal alternations skip PCRE2.
 * The model/ module will own regex compilation; this file is the stop-gap. Thread-safe, no globals. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "promql_int.h"

#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_meta(char c) {
    return strchr("\\.+*?()|[]{}^$", c) != NULL && c != '\0';
}

static int re_error(vg_error_t *err, const char *what, const char *re, size_t len) {
    return vg_error_set(err, VG_EINVAL, "error parsing regexp: %s: `%.*s`", what, (int)(len > 200 ? 200 : len), re);
}

static bool is_word(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Rejects the constructs RE2 does not accept but PCRE2 would. */
static int re2_scan(const char *re, size_t len, vg_error_t *err) {
    bool prev_quant = false; /* the previous item was a quantifier */
    bool lazy = false;       /* ... already followed by its lazy '?' */
    for (size_t i = 0; i < len;) {
        char c = re[i];
        if (c == '\\') {
            if (i + 1 >= len) return re_error(err, "trailing backslash at end of expression", "", 0);
            char e = re[i + 1];
            if (e == 'Q') { /* literal text up to \E */
                const char *end = NULL;
                for (size_t j = i + 2; j + 1 < len; j++)
                    if (re[j] == '\\' && re[j + 1] == 'E') {
                        end = re + j;
                        break;
                    }
                i = end ? (size_t)(end - re) + 2 : len;
                prev_quant = false;
                continue;
            }
            if (is_word(e) && !strchr("afnrtvxAbBzdDsSwWpP0", e)) {
                char what[8];
                snprintf(what, sizeof what, "\\%c", e);
                return re_error(err, "invalid escape sequence", what, strlen(what));
            }
            i += 2;
            prev_quant = false;
            continue;
        }
        if (c == '[') { /* character class: skip to its closing ']' */
            size_t j = i + 1;
            if (j < len && re[j] == '^') j++;
            if (j < len && re[j] == ']') j++;
            while (j < len && re[j] != ']') {
                if (re[j] == '\\' && j + 1 < len) {
                    char e = re[j + 1];
                    if (is_word(e) && !strchr("afnrtvxdDsSwWpP0", e)) {
                        char what[8];
                        snprintf(what, sizeof what, "\\%c", e);
                        return re_error(err, "invalid escape sequence", what, strlen(what));
                    }
                    j += 2;
                } else if (re[j] == '[' && j + 1 < len && re[j + 1] == ':') {
                    const char *close = NULL;
                    for (size_t k = j + 2; k + 1 < len; k++)
                        if (re[k] == ':' && re[k + 1] == ']') {
                            close = re + k;
                            break;
                        }
                    j = close ? (size_t)(close - re) + 2 : j + 1;
                } else {
                    j++;
                }
            }
            i = j < len ? j + 1 : len;
            prev_quant = false;
            continue;
        }
        if (c == '(') {
            if (i + 1 < len && re[i + 1] == '*') return re_error(err, "missing argument to repetition operator", "*", 1);
            if (i + 1 < len && re[i + 1] == '?') {
                size_t j = i + 2;
                if (j < len && re[j] == 'P' && j + 1 < len && re[j + 1] == '<') {
                    i = j + 2;
                    prev_quant = false;
                    continue;
                }
                /* flags: (?i) (?i-s:...) (?:...) */
                while (j < len && strchr("imsU-", re[j]) && re[j] != '\0') j++;
                if (j >= len || (re[j] != ')' && re[j] != ':'))
                    return re_error(err, "invalid or unsupported Perl syntax", re + i, j + 1 - i < len - i ? j + 1 - i : len - i);
                i = j + 1;
                prev_quant = false;
                continue;
            }
            i++;
            prev_quant = false;
            continue;
        }
        if (c == '*' || c == '+' || c == '?') {
            if (prev_quant) {
                if (c == '?' && !lazy) { /* lazy marker: a*? a+? a?? a{2}? */
                    lazy = true;
                    i++;
                    continue;
                }
                return re_error(err, "invalid nested repetition operator", re + i - 1, 2);
            }
            prev_quant = true;
            lazy = false;
            i++;
            continue;
        }
        if (c == '{') {
            /* {n}, {n,}, {n,m}: counts at most 1000; anything else is a literal brace */
            size_t j = i + 1;
            unsigned long a = 0, b = 0;
            bool ok = false, has_b = false;
            size_t d = 0;
            for (; j < len && re[j] >= '0' && re[j] <= '9'; j++, d++)
                if (a <= 100000) a = a * 10 + (unsigned long)(re[j] - '0');
            if (d > 0 && j < len && re[j] == '}') ok = true;
            else if (d > 0 && j < len && re[j] == ',') {
                j++;
                size_t d2 = 0;
                for (; j < len && re[j] >= '0' && re[j] <= '9'; j++, d2++)
                    if (b <= 100000) b = b * 10 + (unsigned long)(re[j] - '0');
                has_b = d2 > 0;
                if (j < len && re[j] == '}') ok = true;
            }
            if (ok) {
                if (a > 1000 || (has_b && (b > 1000 || b < a))) return re_error(err, "invalid repeat count", re + i, j + 1 - i);
                if (prev_quant) return re_error(err, "invalid nested repetition operator", re + i, j + 1 - i);
                prev_quant = true;
                lazy = false;
                i = j + 1;
                continue;
            }
        }
        prev_quant = false;
        i++;
    }
    return 0;
}

int promql__regex_check(const char *re, size_t len, bool *matches_empty, vg_error_t *err) {
    /* Fast path: a literal or an alternation of literals. */
    bool literal = true, empty_alt = len == 0;
    size_t alt_start = 0;
    for (size_t i = 0; i < len && literal; i++) {
        if (re[i] == '|') {
            if (i == alt_start) empty_alt = true;
            alt_start = i + 1;
        } else if (is_meta(re[i]) || re[i] == '\0') {
            literal = false;
        }
    }
    if (literal) {
        if (len > 0 && alt_start == len) empty_alt = true;
        *matches_empty = empty_alt;
        return 0;
    }
    if (len == 2 && re[0] == '.' && (re[1] == '*' || re[1] == '+')) {
        *matches_empty = re[1] == '*';
        return 0;
    }
    int rc = re2_scan(re, len, err);
    if (rc) return rc;

    static const char pre[] = "^(?:", post[] = ")$";
    size_t plen = sizeof pre - 1 + len + sizeof post - 1;
    char small[256];
    char *pat = plen <= sizeof small ? small : malloc(plen);
    if (!pat) return vg_error_set(err, VG_ENOMEM, "out of memory");
    memcpy(pat, pre, sizeof pre - 1);
    memcpy(pat + sizeof pre - 1, re, len);
    memcpy(pat + sizeof pre - 1 + len, post, sizeof post - 1);
    int ecode;
    PCRE2_SIZE eoff;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)pat, plen, PCRE2_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_NEVER_BACKSLASH_C,
                                     &ecode, &eoff, NULL);
    if (!code) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(ecode, msg, sizeof msg);
        /* Go's wording for the common cases. */
        static const char *const go_msgs[][2] = {
            {"missing closing parenthesis", "missing closing )"},
            {"unmatched closing parenthesis", "unexpected )"},
            {"quantifier does not follow a repeatable item", "missing argument to repetition operator"},
            {"missing terminating ] for character class", "missing closing ]"},
            {"range out of order in character class", "invalid character class range"},
        };
        const char *m = (const char *)msg;
        for (size_t i = 0; i < sizeof go_msgs / sizeof go_msgs[0]; i++)
            if (strcmp(m, go_msgs[i][0]) == 0) m = go_msgs[i][1];
        rc = vg_error_set(err, VG_EINVAL, "error parsing regexp: %s: `%.*s`", m,
                          (int)(plen > 200 ? 200 : plen), pat);
        if (pat != small) free(pat);
        return rc;
    }
    if (pat != small) free(pat);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(code, NULL);
    if (!md) {
        pcre2_code_free(code);
        return vg_error_set(err, VG_ENOMEM, "out of memory");
    }
    int m = pcre2_match(code, (PCRE2_SPTR) "", 0, 0, 0, md, NULL);
    *matches_empty = m >= 0;
    pcre2_match_data_free(md);
    pcre2_code_free(code);
    return 0;
}

int promql__matcher_matches_empty(const promql_matcher_t *m, bool *out, vg_error_t *err) {
    switch (m->type) {
    case PROMQL_MATCH_EQ: *out = m->value.len == 0; return 0;
    case PROMQL_MATCH_NEQ: *out = m->value.len != 0; return 0;
    case PROMQL_MATCH_RE: case PROMQL_MATCH_NRE: {
        bool e = false;
        int rc = promql__regex_check(m->value.ptr, m->value.len, &e, err);
        if (rc) return rc;
        *out = m->type == PROMQL_MATCH_RE ? e : !e;
        return 0;
    }
    }
    return VG_EINVAL;
}
