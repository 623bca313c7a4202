/* Matcher compilation and evaluation (see matcher.h).
 *
 * Invariants: `kind` is decided once at compile time and the fast path agrees with the regex on every
 * input (test_matcher checks them against each other); `re` is non-NULL only for KIND_REGEX. Match
 * data for PCRE2 is per thread (a pthread key), so evaluation needs no lock. */
#include "model/matcher.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef enum { KIND_LITERAL, KIND_PREFIX, KIND_SUFFIX, KIND_CONTAINS, KIND_ANY, KIND_NONEMPTY, KIND_SET, KIND_REGEX } kind_t;

static const char *const kind_names[] = {"literal", "prefix", "suffix", "contains", "any", "nonempty", "set", "regex"};

struct model_matcher {
    model_match_type_t type;
    char *name;
    char *value;
    kind_t kind;
    char *lit;        /* literal / prefix / suffix / infix (owned) */
    size_t lit_len;
    char **set;       /* KIND_SET alternatives (owned, sorted) */
    size_t n_set;
    pcre2_code *re;
    bool match_empty;
};

static pthread_key_t md_key;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static void md_free(void *p) { pcre2_match_data_free(p); }
static void md_init(void) { pthread_key_create(&md_key, md_free); }

static pcre2_match_data *thread_md(void) {
    pthread_once(&md_once, md_init);
    pcre2_match_data *md = pthread_getspecific(md_key);
    if (!md) {
        md = pcre2_match_data_create(1, NULL);
        if (md) pthread_setspecific(md_key, md);
    }
    return md;
}

const char *model_match_type_str(model_match_type_t t) {
    switch (t) {
    case MODEL_MATCH_EQ: return "=";
    case MODEL_MATCH_NEQ: return "!=";
    case MODEL_MATCH_RE: return "=~";
    case MODEL_MATCH_NRE: return "!~";
    }
    return "?";
}

/* Rejects PCRE-only syntax so a pattern means the same here as in Prometheus (Go RE2). Returns the
 * offending offset or -1. */
static long re2_incompatible(const char *p, const char **why) {
    size_t n = strlen(p);
    int in_class = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '\\') {
            if (i + 1 >= n) {
                *why = "trailing backslash";
                return (long)i;
            }
            char e = p[++i];
            if (e == 'Q') { /* \Q...\E literal text */
                const char *end = strstr(p + i + 1, "\\E");
                if (!end) break;
                i = (size_t)(end - p) + 1;
                continue;
            }
            if ((e >= '0' && e <= '9') && e != '0') {
                *why = "backreferences are not supported (RE2 syntax)";
                return (long)i - 1;
            }
            if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || e == '0') {
                if (!strchr("afnrtvdDsSwWbBAzpPxC0", e)) {
                    *why = "invalid escape sequence (RE2 syntax)";
                    return (long)i - 1;
                }
                if (in_class && strchr("bBAzC", e)) {
                    *why = "invalid escape in character class (RE2 syntax)";
                    return (long)i - 1;
                }
            }
            continue;
        }
        if (in_class) {
            if (c == '[' && i + 1 < n && p[i + 1] == ':') { /* [:alpha:] */
                const char *end = strstr(p + i + 2, ":]");
                if (end) i = (size_t)(end - p) + 1;
                continue;
            }
            if (c == ']' && in_class > 1) in_class = 0;
            else if (c == ']') in_class = 0;
            continue;
        }
        if (c == '[') {
            in_class = 1;
            if (i + 1 < n && p[i + 1] == '^') i++;
            if (i + 1 < n && p[i + 1] == ']') i++; /* leading ] is literal */
            continue;
        }
        if (c == '(' && i + 1 < n && p[i + 1] == '?') {
            size_t j = i + 2;
            if (j < n && p[j] == 'P' && j + 1 < n && p[j + 1] == '<') continue; /* (?P<name> */
            if (j < n && p[j] == '<' && j + 1 < n && p[j + 1] != '=' && p[j + 1] != '!') continue; /* (?<name> */
            while (j < n && strchr("imsU-", p[j])) j++;
            if (j < n && (p[j] == ':' || p[j] == ')') && j > i + 2 - (p[j] == ':' ? 1 : 0)) continue;
            *why = "unsupported group syntax (RE2 supports only (?:...), (?flags), (?P<name>...))";
            return (long)i;
        }
        if ((c == '*' || c == '+' || c == '?' || c == '}') && i + 1 < n && p[i + 1] == '+') {
            *why = "possessive quantifiers are not supported (RE2 syntax)";
            return (long)i + 1;
        }
    }
    return -1;
}

static bool is_meta(char c) { return strchr("\\.+*?()|[]{}^$", c) != NULL; }

static bool all_literal(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++)
        if (is_meta(s[i])) return false;
    return true;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Picks a fast path for the regex pattern v; returns 0 (and fills m) or -1 for "use the regex". */
static int analyse(model_matcher_t *m, const char *v) {
    size_t n = strlen(v);
    if (n == 2 && v[0] == '.' && v[1] == '*') return m->kind = KIND_ANY, 0;
    if (n == 2 && v[0] == '.' && v[1] == '+') return m->kind = KIND_NONEMPTY, 0;
    if (all_literal(v, n)) {
        m->kind = KIND_LITERAL;
        m->lit = strdup(v);
        m->lit_len = n;
        return m->lit ? 0 : -2;
    }
    if (n > 2 && v[n - 2] == '.' && v[n - 1] == '*' && !(n > 4 && v[0] == '.' && v[1] == '*')) {
        if (all_literal(v, n - 2)) {
            m->kind = KIND_PREFIX;
            m->lit = strndup(v, n - 2);
            m->lit_len = n - 2;
            return m->lit ? 0 : -2;
        }
    }
    if (n > 2 && v[0] == '.' && v[1] == '*') {
        if (n > 4 && v[n - 2] == '.' && v[n - 1] == '*' && all_literal(v + 2, n - 4)) {
            m->kind = KIND_CONTAINS;
            m->lit = strndup(v + 2, n - 4);
            m->lit_len = n - 4;
            return m->lit ? 0 : -2;
        }
        if (all_literal(v + 2, n - 2)) {
            m->kind = KIND_SUFFIX;
            m->lit = strdup(v + 2);
            m->lit_len = n - 2;
            return m->lit ? 0 : -2;
        }
    }
    /* a|b|c, optionally wrapped in (...) or (?:...) */
    const char *s = v, *e = v + n;
    if (n > 2 && v[0] == '(' && v[n - 1] == ')') {
        s = v + 1;
        e = v + n - 1;
        if (e - s >= 2 && s[0] == '?' && s[1] == ':') s += 2;
        if (memchr(s, '(', (size_t)(e - s)) || memchr(s, ')', (size_t)(e - s))) return -1;
    }
    size_t alts = 1;
    for (const char *q = s; q < e; q++) {
        if (*q == '|') alts++;
        else if (is_meta(*q)) return -1;
    }
    if (alts < 2) return -1;
    m->set = calloc(alts, sizeof *m->set);
    if (!m->set) return -2;
    for (const char *q = s;;) {
        const char *bar = memchr(q, '|', (size_t)(e - q));
        const char *end = bar ? bar : e;
        m->set[m->n_set] = strndup(q, (size_t)(end - q));
        if (!m->set[m->n_set]) return -2;
        m->n_set++;
        if (!bar) break;
        q = bar + 1;
    }
    qsort(m->set, m->n_set, sizeof *m->set, cmp_str);
    m->kind = KIND_SET;
    return 0;
}

static bool regex_match(const model_matcher_t *m, const char *v) {
    pcre2_match_data *md = thread_md();
    if (!md) return false;
    return pcre2_match(m->re, (PCRE2_SPTR)v, strlen(v), 0, 0, md, NULL) >= 0;
}

static bool raw_match(const model_matcher_t *m, const char *v) {
    /* `.` does not match a newline (Prometheus 2.42, Go's regexp without (?s)): the `.*`/`.+` fast paths
     * are exact only for values without one */
    if (m->re && m->kind != KIND_REGEX && strchr(v, '\n')) return regex_match(m, v);
    switch (m->kind) {
    case KIND_LITERAL: return strcmp(v, m->lit) == 0;
    case KIND_PREFIX: return strncmp(v, m->lit, m->lit_len) == 0;
    case KIND_SUFFIX: {
        size_t l = strlen(v);
        return l >= m->lit_len && memcmp(v + l - m->lit_len, m->lit, m->lit_len) == 0;
    }
    case KIND_CONTAINS: return strstr(v, m->lit) != NULL;
    case KIND_ANY: return true;
    case KIND_NONEMPTY: return v[0] != '\0';
    case KIND_SET: return bsearch(&v, m->set, m->n_set, sizeof *m->set, cmp_str) != NULL;
    case KIND_REGEX: return regex_match(m, v);
    }
    return false;
}

bool model_matcher_matches(const model_matcher_t *m, const char *value) {
    const char *v = value ? value : "";
    bool r = raw_match(m, v);
    return (m->type == MODEL_MATCH_NEQ || m->type == MODEL_MATCH_NRE) ? !r : r;
}

int model_matcher_new(model_match_type_t type, const char *name, const char *value, model_matcher_t **out,
                      vg_error_t *err) {
    *out = NULL;
    if (!name || !value) return vg_error_set(err, VG_EINVAL, "matcher needs a name and a value");
    model_matcher_t *m = calloc(1, sizeof *m);
    if (!m) return vg_error_set(err, VG_ENOMEM, "out of memory");
    m->type = type;
    m->name = strdup(name);
    m->value = strdup(value);
    if (!m->name || !m->value) goto nomem;
    if (type == MODEL_MATCH_EQ || type == MODEL_MATCH_NEQ) {
        m->kind = KIND_LITERAL;
        m->lit = strdup(value);
        m->lit_len = strlen(value);
        if (!m->lit) goto nomem;
    } else {
        const char *why = NULL;
        long at = re2_incompatible(value, &why);
        if (at >= 0) {
            model_matcher_free(m);
            return vg_error_set_pos(err, VG_EINVAL, at, at + 1, "invalid regular expression \"%.200s\": %s", value, why);
        }
        int errcode;
        PCRE2_SIZE erroff;
        pcre2_code *re = pcre2_compile((PCRE2_SPTR)value, PCRE2_ZERO_TERMINATED,
                                       PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_DOLLAR_ENDONLY |
                                           PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_NEVER_BACKSLASH_C,
                                       &errcode, &erroff, NULL);
        if (!re) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(errcode, msg, sizeof msg);
            model_matcher_free(m);
            return vg_error_set_pos(err, VG_EINVAL, (long)erroff, (long)erroff + 1,
                                    "invalid regular expression \"%.200s\": %s", value, (const char *)msg);
        }
        int a = analyse(m, value);
        if (a == -2) {
            pcre2_code_free(re);
            goto nomem;
        }
        if (a == 0 && m->kind != KIND_LITERAL && m->kind != KIND_SET) {
            m->re = re; /* `.` fast paths hand values holding a newline to the regex (see raw_match) */
        } else if (a == 0) {
            pcre2_code_free(re);
        } else {
            m->kind = KIND_REGEX;
            m->re = re;
            (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter */
        }
    }
    m->match_empty = model_matcher_matches(m, "");
    *out = m;
    return 0;
nomem:
    model_matcher_free(m);
    return vg_error_set(err, VG_ENOMEM, "out of memory");
}

void model_matcher_free(model_matcher_t *m) {
    if (!m) return;
    free(m->name);
    free(m->value);
    free(m->lit);
    for (size_t i = 0; i < m->n_set; i++) free(m->set[i]);
    free(m->set);
    if (m->re) pcre2_code_free(m->re);
    free(m);
}

model_match_type_t model_matcher_type(const model_matcher_t *m) { return m->type; }
const char *model_matcher_name(const model_matcher_t *m) { return m->name; }
bool model_matcher_matches_empty(const model_matcher_t *m) { return m->match_empty; }
const char *model_matcher_kind(const model_matcher_t *m) { return kind_names[m->kind]; }

size_t model_matcher_set_values(const model_matcher_t *m, const char *const **values) {
    if (m->type == MODEL_MATCH_EQ && m->lit_len > 0) {
        *values = (const char *const *)&m->lit;
        return 1;
    }
    if (m->type == MODEL_MATCH_RE && m->kind == KIND_LITERAL && m->lit_len > 0) {
        *values = (const char *const *)&m->lit;
        return 1;
    }
    if (m->type == MODEL_MATCH_RE && m->kind == KIND_SET) {
        for (size_t i = 0; i < m->n_set; i++)
            if (m->set[i][0] == '\0') return 0; /* "a|" also matches absent labels */
        *values = (const char *const *)m->set;
        return m->n_set;
    }
    return 0;
}

void model_regex_alternation(vg_buf_t *out, const char *const *values, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (i) vg_buf_putc(out, '|');
        for (const char *c = values[i]; *c; c++) {
            if (strchr("\\.+*?()|[]{}^$", *c)) vg_buf_putc(out, '\\');
            vg_buf_putc(out, *c);
        }
    }
}

int model_matcher_new_set(const char *name, const char *const *values, size_t n, model_matcher_t **out, vg_error_t *err) {
    *out = NULL;
    if (n == 0) return vg_error_set(err, VG_EINVAL, "a value set matcher needs at least one value");
    if (n == 1) return model_matcher_new(MODEL_MATCH_EQ, name, values[0], out, err);
    vg_buf_t re = VG_BUF_INIT;
    model_regex_alternation(&re, values, n);
    int rc = re.failed ? vg_error_set(err, VG_ENOMEM, "out of memory") : model_matcher_new(MODEL_MATCH_RE, name, re.data, out, err);
    vg_buf_deinit(&re);
    return rc;
}
