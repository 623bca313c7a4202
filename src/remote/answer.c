/* The fast reader of query answers: a Prometheus API success envelope whose data is a vector, matrix,
 * scalar or string result, read in one pass straight into the engine's structs in the caller's arena —
 * no JSON tree, timestamps as exact milliseconds from their digits, sample values through vg_parse_f64.
 *
 * It reads the shapes Prometheus-compatible engines write and nothing more: anything else (an error
 * answer, native histograms, a result before its resultType, \u0000, invalid
 * UTF-8, a label named twice, malformed JSON) makes it give up, and query.c parses the body with jansson
 * as before, so every answer it declines gets exactly the former treatment. Values it accepts produce the
 * same doubles and milliseconds the jansson path produced (strtod's double; llround(seconds · 1000)).
 * Label names and values equal to the previous series' at the same position share its copy. */
#include "remote/remote_int.h"

#include "util/json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct rd {
    const char *p, *end;
    vg_arena_t *a;
    promql_point_t *pts; /* owned scratch for one series' points; free() */
    size_t pts_cap;
    const model_label_t *prev; /* the previous series' labels */
    size_t n_prev;
} rd_t;

#define FAIL 1

static void ws(rd_t *r) {
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t')) r->p++;
}

static bool eat(rd_t *r, char c) {
    ws(r);
    if (r->p < r->end && *r->p == c) {
        r->p++;
        return true;
    }
    return false;
}

static int hex4(const char *p, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return FAIL;
    }
    *out = v;
    return 0;
}

/* Length of the valid UTF-8 sequence at s (2..4), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
    unsigned c = s[0], cp, min;
    size_t len;
    if ((c & 0xE0) == 0xC0) len = 2, min = 0x80, cp = c & 0x1F;
    else if ((c & 0xF0) == 0xE0) len = 3, min = 0x800, cp = c & 0x0F;
    else if ((c & 0xF8) == 0xF0) len = 4, min = 0x10000, cp = c & 0x07;
    else return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    return cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) ? 0 : len;
}

/* A JSON string: *s (borrowed from the body when it has no escapes, else decoded into the arena). */
static int str(rd_t *r, const char **s, size_t *len) {
    if (!eat(r, '"')) return FAIL;
    const char *b = r->p;
    bool escaped = false;
    while (r->p < r->end && *r->p != '"') {
        unsigned char c = (unsigned char)*r->p;
        if (c < 0x20) return FAIL;
        if (c == '\\') {
            escaped = true;
            r->p += 2;
        } else if (c >= 0x80) {
            size_t n = utf8_seq((const unsigned char *)r->p, (size_t)(r->end - r->p));
            if (!n) return FAIL;
            r->p += n;
        } else {
            r->p++;
        }
    }
    if (r->p >= r->end) return FAIL;
    const char *e = r->p++;
    if (!escaped) {
        *s = b;
        *len = (size_t)(e - b);
        return 0;
    }
    char *o = vg_arena_alloc(r->a, (size_t)(e - b) + 1), *w = o; /* decoding never lengthens */
    if (!o) return FAIL;
    for (const char *p = b; p < e;) {
        if (*p != '\\') {
            *w++ = *p++;
            continue;
        }
        char c = p[1];
        p += 2;
        switch (c) {
        case '"': case '\\': case '/': *w++ = c; break;
        case 'b': *w++ = '\b'; break;
        case 'f': *w++ = '\f'; break;
        case 'n': *w++ = '\n'; break;
        case 'r': *w++ = '\r'; break;
        case 't': *w++ = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (e - p < 4 || hex4(p, &cp) || cp == 0) return FAIL;
            p += 4;
            if (cp >= 0xDC00 && cp <= 0xDFFF) return FAIL;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (e - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF) return FAIL;
                p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            if (cp < 0x80) {
                *w++ = (char)cp;
            } else if (cp < 0x800) {
                *w++ = (char)(0xC0 | cp >> 6), *w++ = (char)(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                *w++ = (char)(0xE0 | cp >> 12), *w++ = (char)(0x80 | (cp >> 6 & 0x3F)), *w++ = (char)(0x80 | (cp & 0x3F));
            } else {
                *w++ = (char)(0xF0 | cp >> 18), *w++ = (char)(0x80 | (cp >> 12 & 0x3F));
                *w++ = (char)(0x80 | (cp >> 6 & 0x3F)), *w++ = (char)(0x80 | (cp & 0x3F));
            }
            break;
        }
        default: return FAIL;
        }
    }
    *w = '\0';
    *s = o;
    *len = (size_t)(w - o);
    return 0;
}

static bool is_key(const char *s, size_t len, const char *k) { return strlen(k) == len && !memcmp(s, k, len); }

/* A JSON number (strict grammar): [b, *e). */
static int number(rd_t *r, const char **b, const char **e) {
    ws(r);
    const char *p = r->p, *end = r->end;
    *b = p;
    if (p < end && *p == '-') p++;
    if (p < end && *p == '0') p++;
    else if (p < end && *p >= '1' && *p <= '9')
        while (p < end && *p >= '0' && *p <= '9') p++;
    else return FAIL;
    if (p < end && *p == '.') {
        const char *d = ++p;
        while (p < end && *p >= '0' && *p <= '9') p++;
        if (p == d) return FAIL;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        const char *d = p;
        while (p < end && *p >= '0' && *p <= '9') p++;
        if (p == d) return FAIL;
    }
    *e = r->p = p;
    return 0;
}

/* Any JSON value, skipped. */
static int skip(rd_t *r, int depth) {
    ws(r);
    if (r->p >= r->end || depth > 64) return FAIL;
    const char *s, *e;
    size_t n;
    char c = *r->p;
    if (c == '"') return str(r, &s, &n);
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        r->p++;
        if (eat(r, close)) return 0;
        do {
            if (c == '{' && (str(r, &s, &n) || !eat(r, ':'))) return FAIL;
            if (skip(r, depth + 1)) return FAIL;
        } while (eat(r, ','));
        return eat(r, close) ? 0 : FAIL;
    }
    static const char *const lits[] = {"true", "false", "null"};
    for (size_t i = 0; i < 3; i++) {
        size_t l = strlen(lits[i]);
        if ((size_t)(r->end - r->p) >= l && !memcmp(r->p, lits[i], l)) {
            r->p += l;
            return 0;
        }
    }
    return number(r, &s, &e);
}

/* [ <unix seconds>, "<value>" ]: the time in ms, the value's text borrowed or decoded. */
static int pair(rd_t *r, int64_t *t, const char **s, size_t *len) {
    const char *b, *e;
    if (!eat(r, '[') || number(r, &b, &e) || !eat(r, ',') || str(r, s, len) || !eat(r, ']')) return FAIL;
    const char *p = b;
    bool neg = *p == '-';
    p += neg;
    int64_t sec = 0;
    for (; p < e && *p >= '0' && *p <= '9'; p++) {
        if (sec > INT64_MAX / 10000) return FAIL;
        sec = sec * 10 + (*p - '0');
    }
    int64_t ms = sec * 1000;
    if (p < e && *p == '.' && e - p <= 4) { /* up to 3 decimals: exact */
        int64_t scale = 100;
        for (p++; p < e && *p >= '0' && *p <= '9'; p++, scale /= 10) ms += (*p - '0') * scale;
    }
    if (p != e) { /* more decimals or an exponent: as jansson's double did */
        double d;
        if (vg_parse_f64(b, (size_t)(e - b), &d)) return FAIL;
        *t = llround(d * 1000.0);
        return 0;
    }
    *t = neg ? -ms : ms;
    return 0;
}

/* A sample value's (decoded) text as strtod reads it. */
static int sample(const char *s, size_t len, double *v) {
    if (len == 3 && !memcmp(s, "NaN", 3)) *v = NAN;
    else if (len == 4 && !memcmp(s, "+Inf", 4)) *v = INFINITY;
    else if (len == 4 && !memcmp(s, "-Inf", 4)) *v = -INFINITY;
    else if (vg_parse_f64(s, len, v)) return FAIL;
    return 0;
}

static int point(rd_t *r, promql_point_t *out) {
    const char *s;
    size_t len;
    return pair(r, &out->t, &s, &len) || sample(s, len, &out->v) ? FAIL : 0;
}

/* A copy of s in the arena, or the previous series' copy at position i when it is the same text. */
static const char *keep(rd_t *r, size_t i, bool name, const char *s, size_t len) {
    if (i < r->n_prev) {
        const char *p = name ? r->prev[i].name : r->prev[i].value;
        if (!strncmp(p, s, len) && p[len] == '\0') return p;
    }
    return vg_arena_strndup(r->a, s, len);
}

static int labels(rd_t *r, promql_series_t *out) {
    model_label_t tmp[128];
    size_t n = 0;
    if (!eat(r, '{')) return FAIL;
    if (!eat(r, '}')) {
        do {
            const char *k, *v;
            size_t kl, vl;
            if (n == sizeof tmp / sizeof tmp[0] || str(r, &k, &kl) || !eat(r, ':') || str(r, &v, &vl)) return FAIL;
            if (memchr(k, '\0', kl) || memchr(v, '\0', vl)) return FAIL;
            tmp[n].name = keep(r, n, true, k, kl);
            tmp[n].value = keep(r, n, false, v, vl);
            if (!tmp[n].name || !tmp[n].value) return FAIL;
            n++;
        } while (eat(r, ','));
        if (!eat(r, '}')) return FAIL;
    }
    model_label_t *ls = vg_arena_alloc(r->a, (n ? n : 1) * sizeof *ls);
    if (!ls) return FAIL;
    memcpy(ls, tmp, n * sizeof *ls);
    model_labels_sort(ls, n);
    for (size_t i = 1; i < n; i++)
        if (!strcmp(ls[i - 1].name, ls[i].name)) return FAIL; /* jansson keeps the last; leave it to jansson */
    out->labels = r->prev = ls;
    out->n_labels = r->n_prev = n;
    return 0;
}

static int points(rd_t *r, promql_series_t *out) {
    size_t n = 0;
    if (!eat(r, '[')) return FAIL;
    if (!eat(r, ']')) {
        do {
            if (n == r->pts_cap) {
                size_t cap = r->pts_cap ? r->pts_cap * 2 : 256;
                promql_point_t *p = realloc(r->pts, cap * sizeof *p);
                if (!p) return FAIL;
                r->pts = p, r->pts_cap = cap;
            }
            if (point(r, &r->pts[n])) return FAIL;
            n++;
        } while (eat(r, ','));
        if (!eat(r, ']')) return FAIL;
    }
    promql_point_t *ps = vg_arena_alloc(r->a, (n ? n : 1) * sizeof *ps);
    if (!ps) return FAIL;
    if (n) memcpy(ps, r->pts, n * sizeof *ps);
    out->points = ps;
    out->n_points = n;
    return 0;
}

static int series(rd_t *r, bool matrix, promql_series_t *out) {
    bool have_labels = false, have_points = false;
    const char *k;
    size_t kl;
    if (!eat(r, '{')) return FAIL;
    do {
        if (str(r, &k, &kl) || !eat(r, ':')) return FAIL;
        if (is_key(k, kl, "metric") && !have_labels) {
            if (labels(r, out)) return FAIL;
            have_labels = true;
        } else if (matrix && is_key(k, kl, "values") && !have_points) {
            if (points(r, out)) return FAIL;
            have_points = true;
        } else if (!matrix && is_key(k, kl, "value") && !have_points) {
            promql_point_t *p = vg_arena_alloc(r->a, sizeof *p);
            if (!p || point(r, p)) return FAIL;
            out->points = p;
            out->n_points = 1;
            have_points = true;
        } else if (is_key(k, kl, "metric") || is_key(k, kl, "value") || is_key(k, kl, "values") ||
                   is_key(k, kl, "histogram") || is_key(k, kl, "histograms")) {
            return FAIL;
        } else if (skip(r, 1)) {
            return FAIL;
        }
    } while (eat(r, ','));
    return eat(r, '}') && have_labels && have_points ? 0 : FAIL;
}

static int result_list(rd_t *r, bool matrix, promql_result_t *res) {
    size_t cap = 0, n = 0;
    promql_series_t *v = NULL;
    if (!eat(r, '[')) return FAIL;
    if (!eat(r, ']')) {
        do {
            if (n == cap) { /* arena doubling: the old arrays stay until the request ends */
                size_t nc = cap ? cap * 2 : 64;
                promql_series_t *nv = vg_arena_alloc(r->a, nc * sizeof *nv);
                if (!nv) return FAIL;
                if (n) memcpy(nv, v, n * sizeof *nv);
                v = nv, cap = nc;
            }
            memset(&v[n], 0, sizeof v[n]);
            if (series(r, matrix, &v[n])) return FAIL;
            n++;
        } while (eat(r, ','));
        if (!eat(r, ']')) return FAIL;
    }
    if (!v && !(v = vg_arena_calloc(r->a, 1, sizeof *v))) return FAIL;
    res->series = v;
    res->n_series = n;
    return 0;
}

static int data(rd_t *r, promql_result_t *res) {
    const char *k, *type = NULL;
    size_t kl, tl = 0;
    bool have_result = false;
    if (!eat(r, '{')) return FAIL;
    do {
        if (str(r, &k, &kl) || !eat(r, ':')) return FAIL;
        if (is_key(k, kl, "resultType") && !type) {
            if (str(r, &type, &tl)) return FAIL;
        } else if (is_key(k, kl, "result") && type && !have_result) {
            const char *s;
            size_t len;
            if (is_key(type, tl, "vector") || is_key(type, tl, "matrix")) {
                res->type = type[0] == 'm' ? PROMQL_TYPE_MATRIX : PROMQL_TYPE_VECTOR;
                if (result_list(r, type[0] == 'm', res)) return FAIL;
            } else if (is_key(type, tl, "scalar")) {
                res->type = PROMQL_TYPE_SCALAR;
                if (pair(r, &res->t, &s, &len) || sample(s, len, &res->scalar)) return FAIL;
            } else if (is_key(type, tl, "string")) {
                res->type = PROMQL_TYPE_STRING;
                if (pair(r, &res->t, &s, &len) || memchr(s, '\0', len)) return FAIL;
                if (!(res->string.ptr = vg_arena_strndup(r->a, s, len))) return FAIL;
                res->string.len = len;
            } else {
                return FAIL;
            }
            have_result = true;
        } else if (is_key(k, kl, "resultType") || is_key(k, kl, "result")) {
            return FAIL;
        } else if (skip(r, 1)) {
            return FAIL;
        }
    } while (eat(r, ','));
    return eat(r, '}') && have_result ? 0 : FAIL;
}

static int warnings(rd_t *r, promql_result_t *res) {
    const char **w = NULL;
    size_t n = 0, cap = 0;
    if (!eat(r, '[')) return FAIL;
    if (!eat(r, ']')) {
        do {
            const char *s;
            size_t len;
            if (str(r, &s, &len) || memchr(s, '\0', len)) return FAIL;
            if (n == cap) {
                size_t nc = cap ? cap * 2 : 8;
                const char **nw = vg_arena_alloc(r->a, nc * sizeof *nw);
                if (!nw) return FAIL;
                if (n) memcpy(nw, w, n * sizeof *nw);
                w = nw, cap = nc;
            }
            if (!(w[n++] = vg_arena_strndup(r->a, s, len))) return FAIL;
        } while (eat(r, ','));
        if (!eat(r, ']')) return FAIL;
    }
    res->warnings = w;
    res->n_warnings = n;
    return 0;
}

static int envelope(rd_t *r, promql_result_t *res) {
    bool ok = false, have_data = false, have_warnings = false;
    const char *k, *s;
    size_t kl, len;
    if (!eat(r, '{')) return FAIL;
    do {
        if (str(r, &k, &kl) || !eat(r, ':')) return FAIL;
        if (is_key(k, kl, "status") && !ok) {
            if (str(r, &s, &len) || !is_key(s, len, "success")) return FAIL;
            ok = true;
        } else if (is_key(k, kl, "data") && !have_data) {
            if (data(r, res)) return FAIL;
            have_data = true;
        } else if (is_key(k, kl, "warnings") && !have_warnings) {
            if (warnings(r, res)) return FAIL;
            have_warnings = true;
        } else if (is_key(k, kl, "status") || is_key(k, kl, "data") || is_key(k, kl, "warnings")) {
            return FAIL;
        } else if (skip(r, 1)) {
            return FAIL;
        }
    } while (eat(r, ','));
    if (!eat(r, '}') || !ok || !have_data) return FAIL;
    ws(r);
    return r->p == r->end ? 0 : FAIL;
}

int remote__answer_read(const char *body, size_t len, int64_t t_ms, vg_arena_t *arena, promql_result_t **out) {
    *out = NULL;
    promql_result_t *res = vg_arena_calloc(arena, 1, sizeof *res);
    if (!res) return FAIL;
    res->t = t_ms;
    rd_t r = {.p = body, .end = body + len, .a = arena};
    int rc = envelope(&r, res);
    free(r.pts);
    if (!rc) *out = res;
    return rc;
}
