/* Regex compilation, matching and template expansion (see regex.h).
 *
 * Compiling is three steps: scan() rejects what Go's regexp/syntax rejects but PCRE2 accepts, PCRE2
 * compiles the text `^(?:re)$` (so its errors quote what Go's would), and analyse() picks a fast path.
 *
 * Invariants: `kind` is decided once and every fast path agrees with PCRE2 on every input (test_regex
 * checks them against each other); `code` is always set, because the `.` fast paths hand values holding
 * a newline to PCRE2 and captures always need it. A compiled regex is never written after
 * model_regex_new returns, except `dfa`, published once with a compare-and-swap. Match data, the JIT
 * stack and the DFA workspace live in a per-thread slot (a pthread key, freed at thread exit); match
 * data is replaced by a larger one only when a pattern needs more groups than it holds.
 *
 * Matching is two-tier. The backtracker (JIT, on the thread's own JIT stack of up to
 * MODEL_REGEX_JIT_STACK_MAX) answers almost everything at once, but its cost can grow polynomially or
 * exponentially with the value (`.*x.*y.*z`, `(a|a)+`). When it stops at a limit, the value is run
 * again through pcre2_dfa_match, which walks all alternatives in parallel and so needs time linear in
 * the value for RE2 patterns (no backreferences or lookaround exist to defeat it). The DFA matcher
 * needs its own compiled form (PCRE2 refuses PCRE2_MATCH_INVALID_UTF there), made on first need, and
 * valid UTF-8 in the value; it reports no groups, so a capture it confirms stays an error. */
#include "model/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef enum { KIND_LITERAL, KIND_PREFIX, KIND_SUFFIX, KIND_CONTAINS, KIND_ANY, KIND_NONEMPTY, KIND_SET, KIND_REGEX } kind_t;

static const char *const kind_names[] = {"literal", "prefix", "suffix", "contains", "any", "nonempty", "set", "regex"};

struct model_regex {
    char *src; /* the pattern as given (owned, NUL-terminated; may hold NULs before src_len) */
    size_t src_len;
    kind_t kind;
    char *lit; /* literal / prefix / suffix / infix (owned) */
    size_t lit_len;
    char **set; /* KIND_LITERAL (1) and KIND_SET alternatives (owned, sorted) */
    size_t n_set;
    pcre2_code *code;
    _Atomic(pcre2_code *) dfa; /* for pcre2_dfa_match: made on first need (NULL until then) */
    pcre2_match_context *mctx;
    size_t dfa_ws_max; /* ints */
    uint32_t pairs; /* capture groups + 1 */
    bool match_empty;
};

/* ---- per-thread match data ---- */

typedef struct {
    pcre2_match_data *md;
    uint32_t pairs;
    pcre2_jit_stack *js; /* NULL until a JIT match asks for it */
    bool js_failed;      /* creating it failed: PCRE2 then uses its small default stack */
    int *ws;             /* DFA workspace */
    size_t ws_n;
} tls_t;

static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static int tls_ok;

static void tls_free(void *p) {
    tls_t *t = p;
    pcre2_match_data_free(t->md);
    pcre2_jit_stack_free(t->js);
    free(t->ws);
    free(t);
}

static void tls_init(void) { tls_ok = pthread_key_create(&tls_key, tls_free) == 0; }

static tls_t *thread_slot(void) {
    pthread_once(&tls_once, tls_init);
    if (!tls_ok) return NULL;
    tls_t *t = pthread_getspecific(tls_key);
    if (!t) {
        if (!(t = calloc(1, sizeof *t))) return NULL;
        if (pthread_setspecific(tls_key, t)) {
            free(t);
            return NULL;
        }
    }
    return t;
}

/* PCRE2 asks for a JIT stack at each JIT match (pcre2_jit_stack_assign's callback): the calling
 * thread's own, so one immutable match context serves every thread. Memory is reserved up to the
 * maximum and only touched as deep matches use it. */
static pcre2_jit_stack *thread_jit_stack(void *data) {
    (void)data;
    tls_t *t = thread_slot();
    if (!t) return NULL;
    if (!t->js && !t->js_failed) {
        t->js = pcre2_jit_stack_create(32 * 1024, MODEL_REGEX_JIT_STACK_MAX, NULL);
        t->js_failed = !t->js;
    }
    return t->js;
}

static pcre2_match_data *thread_md(uint32_t pairs) {
    tls_t *t = thread_slot();
    if (!t) return NULL;
    if (!t->md || t->pairs < pairs) {
        uint32_t want = pairs < 16 ? 16 : pairs;
        pcre2_match_data *md = pcre2_match_data_create(want, NULL);
        if (!md) return NULL;
        pcre2_match_data_free(t->md);
        t->md = md;
        t->pairs = want;
    }
    return t->md;
}

/* ---- RE2 syntax ---- */

static int re_error(vg_error_t *err, long pos, const char *what, const char *arg, size_t len) {
    return vg_error_set_pos(err, VG_EINVAL, pos, pos + 1, "error parsing regexp: %s: `%.*s`", what,
                            (int)(len > 200 ? 200 : len), arg);
}

/* Same, for an error Go reports up to the end of the text it compiles, `^(?:re)$`. */
static int re_error_tail(vg_error_t *err, long pos, const char *what, const char *arg, size_t len) {
    return vg_error_set_pos(err, VG_EINVAL, pos, pos + 1, "error parsing regexp: %s: `%.*s)$`", what,
                            (int)(len > 200 ? 200 : len), arg);
}

static bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }
static bool is_word(char c) { return is_alnum(c) || c == '_'; }

/* Length of the UTF-8 sequence starting with byte c (1 for an invalid lead byte). */
static size_t utf8_len(unsigned char c) { return c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1; }

/* Code point of the n-byte sequence at s (no validation: only used to order range ends). */
static uint32_t utf8_cp(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    if (n == 1) return u[0];
    uint32_t cp = u[0] & (0x7f >> n);
    for (size_t i = 1; i < n; i++) cp = (cp << 6) | (u[i] & 0x3f);
    return cp;
}

/* An escape Go rejects: a letter or digit outside `ok`, or any non-ASCII character. Returns its length
 * (2 or more) or 0 when the escape is fine. */
static size_t bad_escape(const char *re, size_t i, size_t len, const char *ok) {
    unsigned char e = (unsigned char)re[i + 1];
    if (e >= 0x80) {
        size_t l = 1 + utf8_len(e);
        return i + l <= len ? l : len - i;
    }
    return is_alnum((char)e) && !strchr(ok, e) ? 2 : 0;
}

/* Length of the (accepted) escape at re[i] == '\\': \x{...}, \xHH, \p{...}, \pL, \0oo, else 2. */
static size_t escape_len(const char *re, size_t i, size_t len) {
    size_t j = i + 2;
    char e = re[i + 1];
    if ((e == 'x' || e == 'p' || e == 'P') && j < len && re[j] == '{') {
        while (j < len && re[j] != '}') j++;
        return (j < len ? j + 1 : len) - i;
    }
    if (e == 'x') {
        for (int n = 0; n < 2 && j < len && strchr("0123456789abcdefABCDEF", re[j]) && re[j]; n++) j++;
    } else if (e == 'p' || e == 'P') {
        if (j < len) j += utf8_len((unsigned char)re[j]);
    } else if (e == '0') {
        for (int n = 0; n < 2 && j < len && re[j] >= '0' && re[j] <= '7'; n++) j++;
    }
    return (j < len ? j : len) - i;
}

static bool posix_class_ok(const char *s, size_t len) {
    static const char *const names[] = {"alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph",
                                        "lower", "print", "punct", "space", "upper", "word", "xdigit"};
    if (len && s[0] == '^') s++, len--;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i]) == len && !memcmp(names[i], s, len)) return true;
    return false;
}

/* Rejects the constructs Go's regexp/syntax (Perl flags, as Prometheus uses it) rejects but PCRE2
 * would accept, with Go's message; leaves the rest (unbalanced parentheses, a trailing backslash that
 * escapes the wrapper's ')') to PCRE2 compiling `^(?:re)$`. *closes_wrapper tells whether a ')' closed
 * more groups than re opened, which the wrapped text can hide (`x)|(y`). */
static int scan(const char *re, size_t len, bool *closes_wrapper, vg_error_t *err) {
    long depth = 0;
    *closes_wrapper = false;
    bool operand = false;   /* a repeatable item precedes (Go: the parse stack is not empty or a '(' / '|') */
    bool prev_quant = false; /* the previous item was a quantifier ... */
    size_t qstart = 0;       /* ... starting here */
    for (size_t i = 0; i < len;) {
        char c = re[i];
        if (c == '\\') {
            if (i + 1 >= len) return 0;
            if (re[i + 1] == 'Q') { /* literal text up to \E */
                size_t j = i + 2;
                while (j + 1 < len && !(re[j] == '\\' && re[j + 1] == 'E')) j++;
                i = j + 1 < len ? j + 2 : len;
                prev_quant = false;
                operand = true;
                continue;
            }
            size_t bad = bad_escape(re, i, len, "afnrtvxAbBzdDsSwWpP0");
            if (bad) return re_error(err, (long)i, "invalid escape sequence", re + i, bad);
            i += escape_len(re, i, len);
            prev_quant = false;
            operand = true;
            continue;
        }
        if (c == '[') { /* character class: skip to its closing ']' */
            size_t j = i + 1;
            if (j < len && re[j] == '^') j++;
            if (j < len && re[j] == ']') j++;
            while (j < len && re[j] != ']') {
                if (re[j] == '\\' && j + 1 < len) {
                    size_t bad = bad_escape(re, j, len, "afnrtvxdDsSwWpP0");
                    if (bad) return re_error(err, (long)j, "invalid escape sequence", re + j, bad);
                    j += escape_len(re, j, len); /* a range from an escape is left to PCRE2 */
                } else if (re[j] == '[' && j + 1 < len && re[j + 1] == ':') {
                    size_t k = j + 2;
                    while (k + 1 < len && !(re[k] == ':' && re[k + 1] == ']')) k++;
                    if (k + 1 < len) {
                        if (!posix_class_ok(re + j + 2, k - j - 2))
                            return re_error(err, (long)j, "invalid character class range", re + j, k + 2 - j);
                        j = k + 2;
                    } else {
                        j++;
                    }
                } else {
                    /* a range of two literal characters: Go checks the order and quotes just `x-y` */
                    size_t l1 = utf8_len((unsigned char)re[j]), k = j + l1;
                    if (k + 1 < len && re[k] == '-' && re[k + 1] != ']' && re[k + 1] != '\\' && re[k + 1] != '[') {
                        size_t l2 = utf8_len((unsigned char)re[k + 1]);
                        if (k + 1 + l2 <= len && utf8_cp(re + k + 1, l2) < utf8_cp(re + j, l1))
                            return re_error(err, (long)j, "invalid character class range", re + j, k + 1 + l2 - j);
                        k += 1 + l2; /* past the range's end: `[a-c-b]` is a-c, '-', 'b' */
                    }
                    j = k < len ? k : len;
                }
            }
            if (j >= len) return re_error_tail(err, (long)i, "missing closing ]", re + i, len - i);
            i = j + 1;
            prev_quant = false;
            operand = true;
            continue;
        }
        if (c == '(') {
            if (i + 1 < len && re[i + 1] == '?') {
                size_t j = i + 2;
                if (j + 1 < len && re[j] == 'P' && re[j + 1] == '<') { /* (?P<name> */
                    size_t k = j + 2;
                    while (k < len && re[k] != '>') k++;
                    if (k >= len) return re_error_tail(err, (long)i, "invalid named capture", re + i, len - i);
                    bool ok = k > j + 2;
                    for (size_t q = j + 2; q < k; q++) ok = ok && is_word(re[q]);
                    if (!ok) return re_error(err, (long)i, "invalid named capture", re + i, k + 1 - i);
                    i = k + 1;
                    depth++;
                    prev_quant = operand = false;
                    continue;
                }
                /* flags as Go parses them: [imsU]* optionally followed by -[imsU]+, then ':' or ')' */
                bool neg = false, saw = false, ok = false;
                for (; j < len; j++) {
                    char f = re[j];
                    if (f == 'i' || f == 'm' || f == 's' || f == 'U') {
                        saw = true;
                    } else if (f == '-' && !neg) {
                        neg = true;
                        saw = false;
                    } else {
                        ok = (f == ':' || f == ')') && (!neg || saw);
                        break;
                    }
                }
                if (j >= len) return 0; /* `^(?:(?i)$`: PCRE2 reports the missing ')' as Go does */
                if (!ok) return re_error(err, (long)i, "invalid or unsupported Perl syntax", re + i, j + 1 - i);
                i = j + 1;
                prev_quant = false;
                if (re[j] == ':') { /* a group opens; a bare (?flags) changes nothing else */
                    operand = false;
                    depth++;
                }
                continue;
            }
            i++;
            depth++;
            prev_quant = operand = false;
            continue;
        }
        if (c == ')' && --depth < 0) *closes_wrapper = true;
        if (c == '|') {
            i++;
            prev_quant = operand = false;
            continue;
        }
        size_t qend = 0; /* end of a quantifier at i, 0 if none */
        if (c == '*' || c == '+' || c == '?') {
            qend = i + 1;
        } else if (c == '{') {
            /* {n}, {n,}, {n,m}: counts at most 1000; anything else is a literal brace */
            size_t j = i + 1, d = 0, d2 = 0;
            unsigned long a = 0, b = 0;
            bool ok = false;
            for (; j < len && re[j] >= '0' && re[j] <= '9'; j++, d++)
                if (a <= 100000) a = a * 10 + (unsigned long)(re[j] - '0');
            if (d > 0 && j < len && re[j] == '}') ok = true;
            else if (d > 0 && j < len && re[j] == ',') {
                for (j++; j < len && re[j] >= '0' && re[j] <= '9'; j++, d2++)
                    if (b <= 100000) b = b * 10 + (unsigned long)(re[j] - '0');
                if (j < len && re[j] == '}') ok = true;
            }
            if (ok) {
                if (a > 1000 || (d2 > 0 && (b > 1000 || b < a)))
                    return re_error(err, (long)i, "invalid repeat count", re + i, j + 1 - i);
                qend = j + 1;
            }
        }
        if (qend) {
            if (qend < len && re[qend] == '?') qend++; /* lazy */
            if (prev_quant) return re_error(err, (long)i, "invalid nested repetition operator", re + qstart, qend - qstart);
            if (!operand) return re_error(err, (long)i, "missing argument to repetition operator", re + i, qend - i);
            prev_quant = true;
            qstart = i;
            i = qend;
            continue;
        }
        prev_quant = false;
        operand = true;
        i++;
    }
    return 0;
}

/* PCRE2's message for a pattern error, in Go's words for the common cases. */
static const char *go_message(const char *pcre_msg) {
    static const char *const map[][2] = {
        {"missing closing parenthesis", "missing closing )"},
        {"unmatched closing parenthesis", "unexpected )"},
        {"quantifier does not follow a repeatable item", "missing argument to repetition operator"},
        {"missing terminating ] for character class", "missing closing ]"},
        {"range out of order in character class", "invalid character class range"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(pcre_msg, map[i][0]) == 0) return map[i][1];
    if (strncmp(pcre_msg, "UTF-8 error", 11) == 0) return "invalid UTF-8";
    return pcre_msg;
}

#define WRAP_PRE "^(?:"
#define WRAP_POST ")$"

/* Scans and compiles `^(?:re)$`; for_dfa leaves out PCRE2_MATCH_INVALID_UTF, which pcre2_dfa_match
 * refuses. */
static int compile(const char *re, size_t len, bool for_dfa, pcre2_code **out, vg_error_t *err) {
    *out = NULL;
    bool closes_wrapper;
    int rc = scan(re, len, &closes_wrapper, err);
    if (rc) return rc;
    size_t pre = sizeof WRAP_PRE - 1, post = sizeof WRAP_POST - 1, plen = pre + len + post;
    char small[256];
    char *pat = plen <= sizeof small ? small : malloc(plen);
    if (!pat) return vg_error_set(err, VG_ENOMEM, "out of memory");
    memcpy(pat, WRAP_PRE, pre);
    if (len) memcpy(pat + pre, re, len);
    memcpy(pat + pre + len, WRAP_POST, post);
    pcre2_compile_context *cc = pcre2_compile_context_create(NULL);
    if (!cc) {
        if (pat != small) free(pat);
        return vg_error_set(err, VG_ENOMEM, "out of memory");
    }
    pcre2_set_newline(cc, PCRE2_NEWLINE_LF); /* `.` excludes exactly '\n', as in Go */
    int ecode;
    PCRE2_SIZE eoff;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)pat, plen,
                                     PCRE2_UTF | (for_dfa ? 0 : PCRE2_MATCH_INVALID_UTF) | PCRE2_DOLLAR_ENDONLY |
                                         PCRE2_NEVER_BACKSLASH_C,
                                     &ecode, &eoff, cc);
    pcre2_compile_context_free(cc);
    if (!code) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(ecode, msg, sizeof msg);
        long at = (long)eoff - (long)pre;
        if (at < 0) at = 0;
        if (at > (long)len) at = (long)len;
        const char *what = go_message((const char *)msg), *arg = pat;
        if (strcmp(what, "invalid UTF-8") == 0 && eoff < plen) arg = pat + eoff; /* Go quotes from the bad byte */
        size_t alen = plen - (size_t)(arg - pat);
        rc = vg_error_set_pos(err, VG_EINVAL, at, at + 1, "error parsing regexp: %s: `%.*s`", what,
                              (int)(alen > 200 ? 200 : alen), arg);
    }
    if (pat != small) free(pat);
    if (code && closes_wrapper) { /* Prometheus also parses re alone, after compiling the wrapped text */
        pcre2_code_free(code);
        code = NULL;
        rc = vg_error_set_pos(err, VG_EINVAL, 0, (long)len, "error parsing regexp: unexpected ): `%.*s`",
                              (int)(len > 200 ? 200 : len), re);
    }
    *out = code;
    return rc;
}

/* ---- fast paths ---- */

static bool is_meta(char c) { return c == '\0' || strchr("\\.+*?()|[]{}^$", c) != NULL; }

static bool all_literal(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++)
        if (is_meta(s[i])) return false;
    return true;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* A literal alternation `a|b|c`, optionally wrapped in (...) or (?:...), as [s, e) between bars; or
 * false. A plain literal counts as a one-element alternation. */
static bool literal_alternation(const char *v, size_t n, const char **s_out, const char **e_out, size_t *alts) {
    const char *s = v, *e = v + n;
    if (n > 2 && v[0] == '(' && v[n - 1] == ')') {
        s = v + 1;
        e = v + n - 1;
        if (e - s >= 2 && s[0] == '?' && s[1] == ':') s += 2;
        if (memchr(s, '(', (size_t)(e - s)) || memchr(s, ')', (size_t)(e - s))) return false;
    }
    *alts = 1;
    for (const char *q = s; q < e; q++) {
        if (*q == '|') ++*alts;
        else if (is_meta(*q)) return false;
    }
    *s_out = s;
    *e_out = e;
    return true;
}

static char *dup_n(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (!d) return NULL;
    if (n) memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* Picks a fast path for the pattern; returns 0, or VG_ENOMEM. KIND_REGEX when none fits. */
static int analyse(model_regex_t *r) {
    const char *v = r->src;
    size_t n = r->src_len;
    r->kind = KIND_REGEX;
    if (n == 2 && v[0] == '.' && v[1] == '*') return r->kind = KIND_ANY, 0;
    if (n == 2 && v[0] == '.' && v[1] == '+') return r->kind = KIND_NONEMPTY, 0;
    const char *lo = NULL, *hi = NULL;
    kind_t k = KIND_REGEX;
    if (n > 2 && v[n - 2] == '.' && v[n - 1] == '*' && !(n > 4 && v[0] == '.' && v[1] == '*') && all_literal(v, n - 2)) {
        k = KIND_PREFIX, lo = v, hi = v + n - 2;
    } else if (n > 4 && v[0] == '.' && v[1] == '*' && v[n - 2] == '.' && v[n - 1] == '*' && all_literal(v + 2, n - 4)) {
        k = KIND_CONTAINS, lo = v + 2, hi = v + n - 2;
    } else if (n > 2 && v[0] == '.' && v[1] == '*' && all_literal(v + 2, n - 2)) {
        k = KIND_SUFFIX, lo = v + 2, hi = v + n;
    }
    if (k != KIND_REGEX) {
        if (!(r->lit = dup_n(lo, (size_t)(hi - lo)))) return VG_ENOMEM;
        r->lit_len = (size_t)(hi - lo);
        r->kind = k;
        return 0;
    }
    const char *s, *e;
    size_t alts;
    if (!literal_alternation(v, n, &s, &e, &alts)) return 0;
    if (!(r->set = calloc(alts, sizeof *r->set))) return VG_ENOMEM;
    for (const char *q = s;;) {
        const char *bar = memchr(q, '|', (size_t)(e - q));
        const char *end = bar ? bar : e;
        if (!(r->set[r->n_set] = dup_n(q, (size_t)(end - q)))) return VG_ENOMEM;
        r->n_set++;
        if (!bar) break;
        q = bar + 1;
    }
    qsort(r->set, r->n_set, sizeof *r->set, cmp_str);
    if (alts == 1) {
        r->kind = KIND_LITERAL;
        r->lit = r->set[0];
        r->lit_len = strlen(r->lit);
    } else {
        r->kind = KIND_SET;
    }
    return 0;
}

/* ---- compile ---- */

void model_regex_free(model_regex_t *r) {
    if (!r) return;
    free(r->src);
    if (r->lit && !(r->n_set && r->lit == r->set[0])) free(r->lit);
    for (size_t i = 0; i < r->n_set; i++) free(r->set[i]);
    free(r->set);
    pcre2_code_free(r->code);
    pcre2_code_free(atomic_load(&r->dfa));
    pcre2_match_context_free(r->mctx);
    free(r);
}

int model_regex_new(const char *re, size_t len, const model_regex_limits_t *limits, model_regex_t **out,
                    vg_error_t *err) {
    *out = NULL;
    model_regex_t *r = calloc(1, sizeof *r);
    if (!r) return vg_error_set(err, VG_ENOMEM, "out of memory");
    int rc;
    if (!(r->src = dup_n(re, len))) goto nomem;
    r->src_len = len;
    if ((rc = compile(re, len, false, &r->code, err))) {
        model_regex_free(r);
        return rc;
    }
    if (!(r->mctx = pcre2_match_context_create(NULL))) goto nomem;
    pcre2_set_match_limit(r->mctx, limits && limits->match_limit ? limits->match_limit : MODEL_REGEX_MATCH_LIMIT_DEFAULT);
    pcre2_set_depth_limit(r->mctx, limits && limits->depth_limit ? limits->depth_limit : MODEL_REGEX_DEPTH_LIMIT_DEFAULT);
    pcre2_set_heap_limit(r->mctx, MODEL_REGEX_HEAP_LIMIT_KIB);
    pcre2_jit_stack_assign(r->mctx, thread_jit_stack, NULL);
    r->dfa_ws_max = limits && limits->dfa_workspace ? limits->dfa_workspace : MODEL_REGEX_DFA_WORKSPACE_DEFAULT;
    uint32_t groups = 0;
    pcre2_pattern_info(r->code, PCRE2_INFO_CAPTURECOUNT, &groups);
    r->pairs = groups + 1;
    if (analyse(r)) goto nomem;
    if (r->kind == KIND_REGEX) (void)pcre2_jit_compile(r->code, PCRE2_JIT_COMPLETE); /* else the interpreter runs */
    rc = model_regex_match(r, "", 0);
    if (rc < 0) {
        model_regex_free(r);
        return vg_error_set(err, rc, "regex \"%.200s\": matching the empty string failed", re);
    }
    r->match_empty = rc == 1;
    *out = r;
    return 0;
nomem:
    model_regex_free(r);
    return vg_error_set(err, VG_ENOMEM, "out of memory");
}

int model_regex_check(const char *re, size_t len, bool *matches_empty, vg_error_t *err) {
    const char *s, *e;
    size_t alts;
    bool ascii = true; /* non-ASCII literals go to PCRE2, which checks the UTF-8 as Go does */
    for (size_t i = 0; i < len && ascii; i++) ascii = (unsigned char)re[i] < 0x80;
    if (ascii && literal_alternation(re, len, &s, &e, &alts)) { /* no PCRE2 needed */
        if (matches_empty) {
            bool empty = s == e;
            for (const char *q = s; q < e && !empty; q++)
                empty = *q == '|' && (q == s || q[-1] == '|' || q + 1 == e);
            *matches_empty = empty;
        }
        return 0;
    }
    if (len == 2 && re[0] == '.' && (re[1] == '*' || re[1] == '+')) {
        if (matches_empty) *matches_empty = re[1] == '*';
        return 0;
    }
    pcre2_code *code;
    int rc = compile(re, len, false, &code, err);
    if (rc) return rc;
    if (matches_empty) {
        pcre2_match_data *md = thread_md(1);
        if (!md) {
            pcre2_code_free(code);
            return vg_error_set(err, VG_ENOMEM, "out of memory");
        }
        *matches_empty = pcre2_match(code, (PCRE2_SPTR) "", 0, 0, 0, md, NULL) >= 0;
    }
    pcre2_code_free(code);
    return 0;
}

/* ---- match ---- */

static int pcre_result(int rc) {
    if (rc >= 0) return 1;
    switch (rc) {
    case PCRE2_ERROR_NOMATCH: return 0;
    case PCRE2_ERROR_MATCHLIMIT:
    case PCRE2_ERROR_DEPTHLIMIT:
    case PCRE2_ERROR_HEAPLIMIT:
    case PCRE2_ERROR_JIT_STACKLIMIT: return VG_ELIMIT;
    case PCRE2_ERROR_NOMEMORY: return VG_ENOMEM;
    default: return VG_EINTERNAL;
    }
}

/* The DFA form of r, compiled on first use; NULL when that fails (out of memory). */
static pcre2_code *dfa_code(model_regex_t *r) {
    pcre2_code *code = atomic_load(&r->dfa);
    if (code) return code;
    vg_error_t err;
    if (compile(r->src, r->src_len, true, &code, &err)) return NULL;
    pcre2_code *expected = NULL;
    if (!atomic_compare_exchange_strong(&r->dfa, &expected, code)) { /* another thread was first */
        pcre2_code_free(code);
        code = expected;
    }
    return code;
}

/* Decides a match the backtracker gave up on: 1, 0, or <0 when the DFA matcher cannot decide it
 * either (invalid UTF-8 in s, the workspace limit, no memory). */
static int dfa_match(const model_regex_t *r, const char *s, size_t len, pcre2_match_data *md) {
    pcre2_code *code = dfa_code((model_regex_t *)r); /* the one field written after construction */
    tls_t *t = thread_slot();
    if (!code || !t) return VG_ENOMEM;
    for (;;) {
        if (!t->ws) {
            size_t n = r->dfa_ws_max < 1024 ? r->dfa_ws_max : 1024;
            if (!(t->ws = malloc(n * sizeof *t->ws))) return VG_ENOMEM;
            t->ws_n = n;
        }
        size_t n = t->ws_n < r->dfa_ws_max ? t->ws_n : r->dfa_ws_max;
        int rc = pcre2_dfa_match(code, (PCRE2_SPTR)s, len, 0, PCRE2_DFA_SHORTEST, md, r->mctx, t->ws, n);
        if (rc >= 0) return 1; /* 0: a match, with too small an ovector for its offsets */
        if (rc == PCRE2_ERROR_NOMATCH) return 0;
        if (rc == PCRE2_ERROR_NOMEMORY) return VG_ENOMEM;
        if (rc != PCRE2_ERROR_DFA_WSSIZE) return VG_ELIMIT; /* invalid UTF-8, or an item it lacks */
        if (n >= r->dfa_ws_max) return VG_ELIMIT;
        int *ws = realloc(t->ws, 2 * t->ws_n * sizeof *ws);
        if (!ws) return VG_ENOMEM;
        t->ws = ws;
        t->ws_n *= 2;
    }
}

/* want_groups: a match must come from the backtracker, the only one that reports groups. */
static int pcre_match(const model_regex_t *r, const char *s, size_t len, bool want_groups, pcre2_match_data **md_out) {
    pcre2_match_data *md = thread_md(r->pairs);
    if (!md) return VG_ENOMEM;
    if (md_out) *md_out = md;
    int rc = pcre_result(pcre2_match(r->code, (PCRE2_SPTR)s, len, 0, 0, md, r->mctx));
    if (rc != VG_ELIMIT) return rc;
    int d = dfa_match(r, s, len, md);
    return d == 0 || (d == 1 && !want_groups) ? d : rc;
}

static int cmp_key(const void *key, const void *elem) {
    const char *const *k = key; /* k[0] = s, k[1] = s + len */
    const char *v = *(char *const *)elem;
    size_t kl = (size_t)(k[1] - k[0]), vl = strlen(v);
    int c = memcmp(k[0], v, kl < vl ? kl : vl);
    return c ? c : (kl > vl) - (kl < vl);
}

int model_regex_match(const model_regex_t *r, const char *s, size_t len) {
    /* `.` does not match a newline: the `.*`/`.+` fast paths are exact only for values without one */
    if (r->kind != KIND_REGEX && r->kind != KIND_LITERAL && r->kind != KIND_SET && memchr(s, '\n', len))
        return pcre_match(r, s, len, false, NULL);
    switch (r->kind) {
    case KIND_LITERAL: return len == r->lit_len && memcmp(s, r->lit, len) == 0;
    case KIND_PREFIX: return len >= r->lit_len && memcmp(s, r->lit, r->lit_len) == 0;
    case KIND_SUFFIX: return len >= r->lit_len && memcmp(s + len - r->lit_len, r->lit, r->lit_len) == 0;
    case KIND_CONTAINS: {
        if (r->lit_len == 0) return 1;
        for (size_t i = 0; i + r->lit_len <= len; i++)
            if (s[i] == r->lit[0] && memcmp(s + i, r->lit, r->lit_len) == 0) return 1;
        return 0;
    }
    case KIND_ANY: return 1;
    case KIND_NONEMPTY: return len > 0;
    case KIND_SET: {
        const char *key[2] = {s, s + len};
        return bsearch(key, r->set, r->n_set, sizeof *r->set, cmp_key) != NULL;
    }
    case KIND_REGEX: return pcre_match(r, s, len, false, NULL);
    }
    return VG_EINTERNAL;
}

int model_regex_capture(const model_regex_t *r, const char *s, size_t len, model_regex_caps_t *caps) {
    pcre2_match_data *md = NULL;
    int rc = pcre_match(r, s, len, true, &md);
    if (rc != 1) {
        *caps = (model_regex_caps_t){0};
        return rc;
    }
    caps->subject = s;
    caps->ov = pcre2_get_ovector_pointer(md);
    caps->n = r->pairs < pcre2_get_ovector_count(md) ? r->pairs : pcre2_get_ovector_count(md);
    return 1;
}

/* ---- expansion ---- */

static bool name_char(unsigned char c) { return is_word((char)c) || c >= 0x80; }

/* Group number of a named group, or -1. */
static long group_by_name(const pcre2_code *code, const char *name, size_t len) {
    uint32_t count = 0, esize = 0;
    PCRE2_SPTR table = NULL;
    pcre2_pattern_info(code, PCRE2_INFO_NAMECOUNT, &count);
    pcre2_pattern_info(code, PCRE2_INFO_NAMEENTRYSIZE, &esize);
    pcre2_pattern_info(code, PCRE2_INFO_NAMETABLE, &table);
    for (uint32_t i = 0; i < count; i++) {
        PCRE2_SPTR e = table + (size_t)i * esize;
        const char *n = (const char *)(e + 2);
        if (strlen(n) == len && !memcmp(n, name, len)) return (long)((e[0] << 8) | e[1]);
    }
    return -1;
}

static void put(char *dst, size_t cap, size_t *n, const char *s, size_t len) {
    if (*n < cap) memcpy(dst + *n, s, *n + len <= cap ? len : cap - *n);
    *n += len;
}

size_t model_regex_expand(const model_regex_t *r, const char *tmpl, size_t tmpl_len, const model_regex_caps_t *caps,
                          char *dst, size_t cap) {
    size_t n = 0;
    const char *p = tmpl, *end = tmpl + tmpl_len;
    while (p < end) {
        const char *dollar = memchr(p, '$', (size_t)(end - p));
        if (!dollar) {
            put(dst, cap, &n, p, (size_t)(end - p));
            break;
        }
        put(dst, cap, &n, p, (size_t)(dollar - p));
        p = dollar + 1;
        if (p < end && *p == '$') {
            put(dst, cap, &n, "$", 1);
            p++;
            continue;
        }
        bool brace = p < end && *p == '{';
        const char *name = p + brace;
        size_t len = 0;
        while (name + len < end && name_char((unsigned char)name[len])) len++;
        if (len == 0 || (brace && (name + len >= end || name[len] != '}'))) { /* malformed: '$' is text */
            put(dst, cap, &n, "$", 1);
            continue;
        }
        p = name + len + brace;
        long num = 0;
        for (size_t i = 0; i < len && num >= 0; i++)
            num = (name[i] >= '0' && name[i] <= '9' && num < 100000000) ? num * 10 + (name[i] - '0') : -1;
        if (name[0] == '0' && len > 1) num = -1;
        long g = num >= 0 ? num : group_by_name(r->code, name, len);
        if (g >= 0 && caps && (uint64_t)g < caps->n && caps->ov[2 * g] != PCRE2_UNSET)
            put(dst, cap, &n, caps->subject + caps->ov[2 * g], caps->ov[2 * g + 1] - caps->ov[2 * g]);
    }
    if (cap) dst[n < cap ? n : cap - 1] = '\0';
    return n;
}

/* ---- accessors ---- */

const char *model_regex_source(const model_regex_t *r) { return r->src; }
bool model_regex_matches_empty(const model_regex_t *r) { return r->match_empty; }
const char *model_regex_kind(const model_regex_t *r) { return kind_names[r->kind]; }

size_t model_regex_literals(const model_regex_t *r, const char *const **values) {
    if (r->kind != KIND_LITERAL && r->kind != KIND_SET) return 0;
    *values = (const char *const *)r->set;
    return r->n_set;
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
