/* The exposition parser: one pass over the caller's bytes, one entry per call, in the grammar of
 * Prometheus 2.42's promlex.l (text 0.0.4) and openmetricslex.l (OpenMetrics 1.0).
 *
 * Invariants:
 *  - Every index is checked against `eol` (end of the current line) or `len` before it is read;
 *    `eol` is found with memchr at the start of each line and the line-length limit applies there.
 *  - p->line / p->line_start always describe the physical line holding p->pos, so error columns
 *    are exact (a text-format label value may span lines, as Prometheus 2.42 allows).
 *  - Nothing is allocated; unescaped strings go to the caller's scratch buffer, labels to the
 *    caller's label array. Both are reused by the next entry.
 *  - After an error p->status holds the code and the message is replayed on every later call.
 * Where Prometheus 2.42 fails a scrape later (a blank before a metric name makes an invalid name) the
 * parser fails it here. Deliberate differences, both stricter: a NUL byte is an error anywhere but at
 * the start of a line (end of input, as promlex), in label values, help texts and comments; numbers
 * longer than 255 bytes are refused. */
#include "ingest/expfmt.h"
#include "ingest/ingest_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

typedef ingest_expfmt_parser_t parser_t;
typedef ingest_expfmt_entry_t entry_t;

ingest_expfmt_format_t ingest_expfmt_from_content_type(const char *ct) {
    static const char om[] = "application/openmetrics-text";
    if (!ct) return INGEST_EXPFMT_TEXT;
    while (*ct == ' ' || *ct == '\t') ct++;
    size_t n = strcspn(ct, ";");
    while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t')) n--;
    if (n == sizeof om - 1 && strncasecmp(ct, om, n) == 0) return INGEST_EXPFMT_OPENMETRICS;
    return INGEST_EXPFMT_TEXT;
}

const char *ingest_mtype_name(ingest_mtype_t t) {
    switch (t) {
    case INGEST_MTYPE_COUNTER: return "counter";
    case INGEST_MTYPE_GAUGE: return "gauge";
    case INGEST_MTYPE_HISTOGRAM: return "histogram";
    case INGEST_MTYPE_GAUGEHISTOGRAM: return "gaugehistogram";
    case INGEST_MTYPE_SUMMARY: return "summary";
    case INGEST_MTYPE_INFO: return "info";
    case INGEST_MTYPE_STATESET: return "stateset";
    default: return "unknown";
    }
}

static bool str_is(ingest_str_t s, const char *lit) {
    size_t n = strlen(lit);
    return s.len == n && memcmp(s.ptr, lit, n) == 0;
}

static bool has_suffix(ingest_str_t name, ingest_str_t family, const char *suffix) {
    size_t n = strlen(suffix);
    return name.len == family.len + n && memcmp(name.ptr + family.len, suffix, n) == 0;
}

bool ingest_expfmt_in_family(ingest_str_t name, ingest_str_t family, ingest_mtype_t t) {
    if (name.len < family.len || memcmp(name.ptr, family.ptr, family.len) != 0) return false;
    if (name.len == family.len) return true;
    static const char *const counter[] = {"_total", "_created", NULL};
    static const char *const histogram[] = {"_bucket", "_count", "_sum", "_created", NULL};
    static const char *const gaugehistogram[] = {"_bucket", "_gcount", "_gsum", NULL};
    static const char *const summary[] = {"_count", "_sum", "_created", NULL};
    static const char *const info[] = {"_info", NULL};
    const char *const *sfx;
    switch (t) {
    case INGEST_MTYPE_COUNTER: sfx = counter; break;
    case INGEST_MTYPE_HISTOGRAM: sfx = histogram; break;
    case INGEST_MTYPE_GAUGEHISTOGRAM: sfx = gaugehistogram; break;
    case INGEST_MTYPE_SUMMARY: sfx = summary; break;
    case INGEST_MTYPE_INFO: sfx = info; break;
    default: return false;
    }
    for (; *sfx; sfx++)
        if (has_suffix(name, family, *sfx)) return true;
    return false;
}

void ingest_expfmt_init(parser_t *p, ingest_expfmt_format_t format, const char *buf, size_t len,
                        const ingest_expfmt_limits_t *lim, ingest_label_t *labels, size_t labels_cap,
                        char *scratch, size_t scratch_cap) {
    memset(p, 0, sizeof *p);
    p->buf = buf;
    p->len = buf ? len : 0;
    p->line = 1;
    p->format = format;
    p->lim = lim ? *lim : INGEST_EXPFMT_LIMITS_DEFAULT;
    p->labels = labels;
    p->labels_cap = labels ? labels_cap : 0;
    p->scratch = scratch;
    p->scratch_cap = scratch ? scratch_cap : 0;
    vg_error_clear(&p->last_err);
}

/* ---- errors ---------------------------------------------------------------------------------- */

/* Writes s[0..n) quoted as Go's %q would (at most max bytes of it, then "..."). */
static void quote(const char *s, size_t n, size_t max, char *out, size_t cap) {
    size_t o = 0;
    out[o++] = '"';
    for (size_t k = 0; k < n && k < max && o + 6 < cap; k++) {
        unsigned char c = (unsigned char)s[k];
        if (c == '"' || c == '\\') o += (size_t)snprintf(out + o, cap - o, "\\%c", c);
        else if (c == '\n') o += (size_t)snprintf(out + o, cap - o, "\\n");
        else if (c == '\t') o += (size_t)snprintf(out + o, cap - o, "\\t");
        else if (c < 0x20 || c >= 0x7f) o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
        else out[o++] = (char)c;
    }
    if (n > max && o + 5 < cap) out[o++] = '.', out[o++] = '.', out[o++] = '.';
    out[o++] = '"';
    out[o] = '\0';
}

/* Describes the token starting at `at` for an error ("end of input" past the end). */
static void describe_token(const parser_t *p, size_t at, char *out, size_t cap) {
    if (at >= p->len) {
        snprintf(out, cap, "end of input");
        return;
    }
    size_t j = at;
    while (j < p->len && j - at <= 24 && !strchr(" \t\n{}=,\"", p->buf[j] ? p->buf[j] : ' ')) j++;
    if (j == at) j = at + 1;
    quote(p->buf + at, j - at, 24, out, cap);
}

__attribute__((format(printf, 5, 6))) static int fail(parser_t *p, vg_error_t *err, int code, size_t at,
                                                       const char *fmt, ...) {
    char msg[VG_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (at > p->len) at = p->len;
    size_t col = at >= p->line_start ? at - p->line_start + 1 : 1;
    vg_error_set_pos(&p->last_err, code, (long)at, (long)(at < p->len ? at + 1 : at), "line %u, column %zu: %s",
                     p->line, col, msg);
    p->last_err.line = (int)p->line;
    p->last_err.col = (int)col;
    p->status = code;
    if (err) *err = p->last_err;
    return code;
}

static int expected(parser_t *p, vg_error_t *err, size_t at, const char *what) {
    char tok[96];
    describe_token(p, at, tok, sizeof tok);
    return fail(p, err, VG_EINVAL, at, "expected %s, got %s", what, tok);
}

/* ---- lines and tokens ------------------------------------------------------------------------- */

/* Finds the end of the line starting at `from` (index of '\n', or len) and applies the line limit. */
static int line_end(parser_t *p, size_t from, size_t *eol, vg_error_t *err) {
    const char *nl = from < p->len ? memchr(p->buf + from, '\n', p->len - from) : NULL;
    *eol = nl ? (size_t)(nl - p->buf) : p->len;
    size_t n = *eol - p->line_start;
    if (p->lim.max_line_len && n > p->lim.max_line_len)
        return fail(p, err, VG_ELIMIT, p->line_start, "line too long: %zu bytes, limit %zu", n, p->lim.max_line_len);
    return 0;
}

/* Moves past the line ending at eol. */
static void next_line(parser_t *p, size_t eol) {
    p->pos = eol < p->len ? eol + 1 : p->len;
    p->line++;
    p->line_start = p->pos;
}

static size_t skip_ws(const char *b, size_t i, size_t eol) {
    while (i < eol && (b[i] == ' ' || b[i] == '\t')) i++;
    return i;
}

static size_t scan_mname(const char *b, size_t i, size_t eol) {
    while (i < eol && ingest__is_mcont((unsigned char)b[i])) i++;
    return i;
}

static size_t scan_lname(const char *b, size_t i, size_t eol) {
    while (i < eol && ingest__is_lcont((unsigned char)b[i])) i++;
    return i;
}

/* Copies s[0..n) to the scratch buffer replacing \\ and \n (and \" when quote is set); any other
 * backslash stays as it is, as Go's strings.Replacer leaves it. */
static int unescape(parser_t *p, const char *s, size_t n, bool quote, ingest_str_t *out, size_t at,
                    vg_error_t *err) {
    if (p->scratch_cap - p->scratch_used < n)
        return fail(p, err, VG_ELIMIT, at, "unescaped strings exceed the scratch buffer (%zu bytes)", p->scratch_cap);
    char *d = p->scratch + p->scratch_used, *d0 = d;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\\' && i + 1 < n) {
            char e = s[i + 1];
            if (e == '\\' || e == 'n' || (quote && e == '"')) {
                *d++ = e == 'n' ? '\n' : e;
                i++;
                continue;
            }
        }
        *d++ = c;
    }
    out->ptr = d0;
    out->len = (size_t)(d - d0);
    p->scratch_used += out->len;
    return 0;
}

static int float_error(parser_t *p, vg_error_t *err, size_t at, size_t end, const char *what, int rc) {
    char tok[96];
    quote(p->buf + at, end - at, 32, tok, sizeof tok);
    return fail(p, err, VG_EINVAL, at, "parsing %s %s: %s", what, tok, ingest__float_err_str(rc));
}

/* A label set "{...}" starting at b[i] == '{'. Text format: blanks allowed between tokens, a comma
 * optional between pairs (promparse quirk), a label value may contain raw newlines. OpenMetrics: no
 * blanks, a comma or '}' after each pair. With store set, labels go to p->labels (exemplars only
 * validate). On success *next is the index after '}' and *eol may have moved (text format). */
static int parse_labels(parser_t *p, size_t i, size_t *eol, bool store, size_t *n_out, size_t *next,
                        vg_error_t *err) {
    const char *b = p->buf;
    const bool om = p->format == INGEST_EXPFMT_OPENMETRICS;
    size_t n = 0;
    i++; /* '{' */
    for (;;) {
        if (!om) i = skip_ws(b, i, *eol);
        if (i < *eol && b[i] == '}') {
            i++;
            break;
        }
        if (i >= *eol || !ingest__is_lstart((unsigned char)b[i])) return expected(p, err, i, "label name");
        size_t ns = i;
        i = scan_lname(b, i, *eol);
        size_t ne = i;
        if (p->lim.max_name_len && ne - ns > p->lim.max_name_len)
            return fail(p, err, VG_ELIMIT, ns, "label name too long: %zu bytes, limit %zu", ne - ns, p->lim.max_name_len);
        if (!om) i = skip_ws(b, i, *eol);
        if (i >= *eol || b[i] != '=') return expected(p, err, i, "equal");
        i++;
        if (!om) i = skip_ws(b, i, *eol);
        if (i >= *eol || b[i] != '"') return expected(p, err, i, "label value");
        size_t q = i++, vs = i;
        bool bs = false, high = false;
        /* text format: bounded by the input (values may hold newlines); OpenMetrics: by the line */
        size_t lim = om ? *eol : p->len;
        uint32_t line0 = p->line;
        size_t line_start0 = p->line_start;
        for (;;) {
            /* eight bytes at a time while none is '"', '\\', '\n' or non-ASCII (SWAR; a false
             * positive only sends the block to the byte loop below) */
            while (i + 8 <= lim) {
                uint64_t w;
                memcpy(&w, b + i, 8);
                const uint64_t ones = UINT64_C(0x0101010101010101), highs = UINT64_C(0x8080808080808080);
                uint64_t q1 = w ^ (ones * '"'), q2 = w ^ (ones * '\\'), q3 = w ^ (ones * '\n');
                uint64_t hit = ((q1 - ones) & ~q1) | ((q2 - ones) & ~q2) | ((q3 - ones) & ~q3) | w;
                if (hit & highs) break;
                i += 8;
            }
            if (i >= lim) {
                p->line = line0, p->line_start = line_start0;
                return fail(p, err, VG_EINVAL, q, "unterminated label value");
            }
            unsigned char c = (unsigned char)b[i];
            if (c == '"') break;
            if (c == '\\') {
                if (i + 1 >= lim) {
                    p->line = line0, p->line_start = line_start0;
                    return fail(p, err, VG_EINVAL, q, "unterminated label value");
                }
                if (b[i + 1] == '\n') return fail(p, err, VG_EINVAL, i, "invalid escape sequence in label value");
                bs = true;
                i += 2;
                continue;
            }
            if (c == '\n') { /* text format only: a raw newline inside the value */
                p->line++;
                p->line_start = i + 1;
            }
            high |= c >= 0x80;
            i++;
        }
        size_t ve = i++;
        if (ve > *eol) { /* the value spanned lines: re-find this line's end */
            int rc = line_end(p, ve, eol, err);
            if (rc) return rc;
        }
        if (p->lim.max_value_len && ve - vs > p->lim.max_value_len)
            return fail(p, err, VG_ELIMIT, vs, "label value too long: %zu bytes, limit %zu", ve - vs, p->lim.max_value_len);
        if (high && !ingest__utf8_valid(b + vs, ve - vs))
            return fail(p, err, VG_EINVAL, vs, "invalid UTF-8 label value");
        if (store) {
            if (n >= p->labels_cap)
                return fail(p, err, VG_ELIMIT, ns, "too many labels: limit %zu", p->labels_cap);
            ingest_label_t *l = &p->labels[n];
            l->name.ptr = b + ns;
            l->name.len = ne - ns;
            if (bs) {
                int rc = unescape(p, b + vs, ve - vs, true, &l->value, vs, err);
                if (rc) return rc;
            } else {
                l->value.ptr = b + vs;
                l->value.len = ve - vs;
            }
        }
        n++;
        if (om) { /* Prometheus 2.42: no trailing comma in OpenMetrics */
            if (i < *eol && b[i] == ',') {
                if (++i < *eol && b[i] == '}') return expected(p, err, i, "label name");
            } else if (i >= *eol || b[i] != '}') {
                return expected(p, err, i, "comma or brace close");
            }
        } else {
            i = skip_ws(b, i, *eol);
            if (i < *eol && b[i] == ',') i++;
        }
    }
    *n_out = n;
    *next = i;
    return 0;
}

static int check_name_len(parser_t *p, size_t s, size_t e, vg_error_t *err) {
    if (p->lim.max_name_len && e - s > p->lim.max_name_len)
        return fail(p, err, VG_ELIMIT, s, "metric name too long: %zu bytes, limit %zu", e - s, p->lim.max_name_len);
    return 0;
}

static void set_family_fields(parser_t *p, entry_t *out) {
    if (p->family.len && ingest_expfmt_in_family(out->name, p->family, p->family_type)) {
        out->mtype = p->family_type;
        out->created = p->format == INGEST_EXPFMT_OPENMETRICS &&
                       (p->family_type == INGEST_MTYPE_COUNTER || p->family_type == INGEST_MTYPE_HISTOGRAM ||
                        p->family_type == INGEST_MTYPE_SUMMARY) &&
                       has_suffix(out->name, p->family, "_created");
    }
}

/* ---- text format 0.0.4 ---------------------------------------------------------------------- */

static int text_meta(parser_t *p, size_t k, size_t eol, ingest_expfmt_kind_t kind, entry_t *out, vg_error_t *err) {
    const char *b = p->buf;
    const char *kw = kind == INGEST_EXPFMT_HELP ? "metric name after HELP" : "metric name after TYPE";
    size_t m = skip_ws(b, k, eol);
    if (m >= eol || !ingest__is_mstart((unsigned char)b[m])) return expected(p, err, m, kw);
    size_t r = scan_mname(b, m, eol);
    int rc = check_name_len(p, m, r, err);
    if (rc) return rc;
    out->name.ptr = b + m;
    out->name.len = r - m;
    /* promlex: the rest of the line is the text minus its first byte; blanks alone are no text */
    ingest_str_t text = {b + r, 0};
    if (skip_ws(b, r, eol) < eol && eol - r > 1) text.ptr = b + r + 1, text.len = eol - r - 1;
    if (kind == INGEST_EXPFMT_TYPE) {
        static const struct {
            const char *name;
            ingest_mtype_t t;
        } types[] = {{"counter", INGEST_MTYPE_COUNTER},
                     {"gauge", INGEST_MTYPE_GAUGE},
                     {"histogram", INGEST_MTYPE_HISTOGRAM},
                     {"summary", INGEST_MTYPE_SUMMARY},
                     {"untyped", INGEST_MTYPE_UNKNOWN}};
        size_t t = 0;
        while (t < sizeof types / sizeof types[0] && !str_is(text, types[t].name)) t++;
        if (t == sizeof types / sizeof types[0])
            return fail(p, err, VG_EINVAL, (size_t)(text.ptr - b), "invalid metric type \"%.*s\"",
                        (int)(text.len > 64 ? 64 : text.len), text.ptr);
        out->mtype = types[t].t;
        p->family = out->name;
        p->family_type = out->mtype;
    } else {
        if (!ingest__utf8_valid(text.ptr, text.len))
            return fail(p, err, VG_EINVAL, (size_t)(text.ptr - b), "help text is not valid UTF-8");
        if (memchr(text.ptr, '\\', text.len)) {
            rc = unescape(p, text.ptr, text.len, false, &text, (size_t)(text.ptr - b), err);
            if (rc) return rc;
        }
        out->text = text;
    }
    out->kind = kind;
    next_line(p, eol);
    return (int)kind;
}

/* Reads the metric name at *i into out->name (checked against the name limit); *i moves past it. */
static int series_name(parser_t *p, size_t *i, size_t eol, entry_t *out, vg_error_t *err) {
    size_t ns = *i;
    *i = scan_mname(p->buf, ns, eol);
    int rc = check_name_len(p, ns, *i, err);
    if (rc) return rc;
    out->name.ptr = p->buf + ns;
    out->name.len = *i - ns;
    return 0;
}

static int text_series(parser_t *p, size_t i, size_t eol, entry_t *out, vg_error_t *err) {
    const char *b = p->buf;
    size_t ns = i;
    int rc = series_name(p, &i, eol, out, err);
    if (rc) return rc;
    size_t se = i;
    i = skip_ws(b, i, eol);
    if (i < eol && b[i] == '{') {
        rc = parse_labels(p, i, &eol, true, &out->n_labels, &i, err);
        if (rc) return rc;
        se = i;
        i = skip_ws(b, i, eol);
    }
    out->labels = p->labels;
    out->series.ptr = b + ns;
    out->series.len = se - ns;
    size_t vs = i;
    while (i < eol && b[i] != ' ' && b[i] != '\t' && b[i] != '{') i++;
    if (i == vs) return expected(p, err, vs, "value after metric");
    int frc = ingest__parse_float(b + vs, i - vs, &out->value);
    if (frc) return float_error(p, err, vs, i, "value", frc);
    i = skip_ws(b, i, eol);
    if (i < eol) {
        if ((unsigned)(b[i] - '0') >= 10u) return expected(p, err, i, "timestamp or new record");
        size_t ts = i;
        uint64_t v = 0;
        bool ovf = false;
        for (; i < eol && (unsigned)(b[i] - '0') < 10u; i++) {
            unsigned d = (unsigned)(b[i] - '0');
            if (v > (UINT64_C(0x7fffffffffffffff) - d) / 10) ovf = true;
            else v = v * 10 + d;
        }
        if (ovf)
            return fail(p, err, VG_EINVAL, ts, "parsing timestamp \"%.*s\": value out of range",
                        (int)(i - ts > 32 ? 32 : i - ts), b + ts);
        out->ts_ms = (int64_t)v;
        out->has_ts = true;
        i = skip_ws(b, i, eol);
        if (i < eol) return expected(p, err, i, "next entry after timestamp");
    }
    set_family_fields(p, out);
    out->kind = INGEST_EXPFMT_SERIES;
    next_line(p, eol);
    return INGEST_EXPFMT_SERIES;
}

static int next_text(parser_t *p, entry_t *out, vg_error_t *err) {
    const char *b = p->buf;
    for (;;) {
        if (p->pos >= p->len) {
            p->status = 1;
            return INGEST_EXPFMT_EOF;
        }
        size_t eol;
        int rc = line_end(p, p->pos, &eol, err);
        if (rc) return rc;
        out->line = p->line;
        size_t i = skip_ws(b, p->pos, eol);
        if (i == eol) { /* blank line */
            next_line(p, eol);
            continue;
        }
        unsigned char c = (unsigned char)b[i];
        if (ingest__is_mstart(c)) {
            /* promparse takes the metric name from the start of the line, blanks included, and the
             * scrape then fails on the invalid name: refuse it here, with a clearer message */
            if (i != p->pos) return expected(p, err, p->pos, "the metric name at the start of the line");
            return text_series(p, i, eol, out, err);
        }
        if (c == '\0') { /* promlex: NUL where a line starts is the end of the input */
            p->pos = p->len;
            p->status = 1;
            return INGEST_EXPFMT_EOF;
        }
        if (c != '#') return expected(p, err, i, "a valid start token");
        size_t k = i + 1;
        if (k < eol && (b[k] == ' ' || b[k] == '\t')) {
            k = skip_ws(b, k, eol);
            if (eol - k > 4 && (b[k + 4] == ' ' || b[k + 4] == '\t')) {
                if (memcmp(b + k, "HELP", 4) == 0) return text_meta(p, k + 4, eol, INGEST_EXPFMT_HELP, out, err);
                if (memcmp(b + k, "TYPE", 4) == 0) return text_meta(p, k + 4, eol, INGEST_EXPFMT_TYPE, out, err);
            }
        }
        out->kind = INGEST_EXPFMT_COMMENT;
        out->text.ptr = b + i;
        out->text.len = eol - i;
        next_line(p, eol);
        return INGEST_EXPFMT_COMMENT;
    }
}

/* ---- OpenMetrics 1.0 ------------------------------------------------------------------------ */

static int om_meta(parser_t *p, size_t k, size_t eol, ingest_expfmt_kind_t kind, entry_t *out, vg_error_t *err) {
    const char *b = p->buf;
    const char *kwname = kind == INGEST_EXPFMT_HELP ? "HELP" : kind == INGEST_EXPFMT_TYPE ? "TYPE" : "UNIT";
    char what[40];
    snprintf(what, sizeof what, "metric name after %s", kwname);
    if (k >= eol || !ingest__is_mstart((unsigned char)b[k])) return expected(p, err, k, what);
    size_t r = scan_mname(b, k, eol);
    int rc = check_name_len(p, k, r, err);
    if (rc) return rc;
    out->name.ptr = b + k;
    out->name.len = r - k;
    if (r >= eol || b[r] != ' ' || eol >= p->len) {
        snprintf(what, sizeof what, "text in %s", kwname);
        return expected(p, err, r, what);
    }
    ingest_str_t text = {b + r + 1, eol - r - 1};
    if (kind == INGEST_EXPFMT_TYPE) {
        static const struct {
            const char *name;
            ingest_mtype_t t;
        } types[] = {{"counter", INGEST_MTYPE_COUNTER},     {"gauge", INGEST_MTYPE_GAUGE},
                     {"histogram", INGEST_MTYPE_HISTOGRAM}, {"gaugehistogram", INGEST_MTYPE_GAUGEHISTOGRAM},
                     {"summary", INGEST_MTYPE_SUMMARY},     {"info", INGEST_MTYPE_INFO},
                     {"stateset", INGEST_MTYPE_STATESET},   {"unknown", INGEST_MTYPE_UNKNOWN}};
        size_t t = 0;
        while (t < sizeof types / sizeof types[0] && !str_is(text, types[t].name)) t++;
        if (t == sizeof types / sizeof types[0])
            return fail(p, err, VG_EINVAL, r + 1, "invalid metric type \"%.*s\"", (int)(text.len > 64 ? 64 : text.len),
                        text.ptr);
        out->mtype = types[t].t;
        p->family = out->name;
        p->family_type = out->mtype;
    } else if (kind == INGEST_EXPFMT_HELP) {
        if (!ingest__utf8_valid(text.ptr, text.len))
            return fail(p, err, VG_EINVAL, r + 1, "help text is not valid UTF-8");
        if (memchr(text.ptr, '\\', text.len)) {
            rc = unescape(p, text.ptr, text.len, true, &text, r + 1, err);
            if (rc) return rc;
        }
        out->text = text;
    } else {
        if (text.len && !(out->name.len > text.len + 1 &&
                          memcmp(out->name.ptr + out->name.len - text.len, text.ptr, text.len) == 0 &&
                          out->name.ptr[out->name.len - text.len - 1] == '_'))
            return fail(p, err, VG_EINVAL, r + 1, "unit \"%.*s\" not a suffix of metric \"%.*s\"",
                        (int)(text.len > 64 ? 64 : text.len), text.ptr, (int)(out->name.len > 128 ? 128 : out->name.len),
                        out->name.ptr);
        out->text = text;
    }
    out->kind = kind;
    next_line(p, eol);
    return (int)kind;
}

/* A space-prefixed OpenMetrics token " [^ \n]+" at b[i]; returns its end or i when there is none. */
static size_t om_token(const char *b, size_t i, size_t eol) {
    if (i + 1 >= eol || b[i] != ' ' || b[i + 1] == ' ') return i;
    size_t j = i + 1;
    while (j < eol && b[j] != ' ') j++;
    return j;
}

static int om_timestamp(parser_t *p, size_t s, size_t e, const char *what, int64_t *ms, vg_error_t *err) {
    double ts;
    int frc = ingest__parse_float(p->buf + s, e - s, &ts);
    if (frc) return float_error(p, err, s, e, what, frc);
    if (isnan(ts) || isinf(ts)) return fail(p, err, VG_EINVAL, s, "invalid %s %.*s", what, (int)(e - s), p->buf + s);
    double v = ts * 1000.0;
    if (!(v > -9223372036854775808.0 && v < 9223372036854775808.0))
        return fail(p, err, VG_EINVAL, s, "%s out of range", what);
    *ms = (int64_t)v;
    return 0;
}

static bool is_exemplar_start(const char *b, size_t i, size_t eol) {
    return i + 4 <= eol && b[i] == ' ' && b[i + 1] == '#' && b[i + 2] == ' ' && b[i + 3] == '{';
}

static int om_exemplar(parser_t *p, size_t i, size_t eol, entry_t *out, vg_error_t *err) {
    const char *b = p->buf;
    size_t n, s = i;
    int rc = parse_labels(p, i, &eol, false, &n, &i, err);
    if (rc) return rc;
    out->has_exemplar = true;
    out->exemplar_labels.ptr = b + s;
    out->exemplar_labels.len = i - s;
    size_t e = om_token(b, i, eol);
    if (e == i) return expected(p, err, i, "value after exemplar labels");
    int frc = ingest__parse_float(b + i + 1, e - i - 1, &out->exemplar_value);
    if (frc) return float_error(p, err, i + 1, e, "exemplar value", frc);
    i = e;
    if (i < eol) {
        e = om_token(b, i, eol);
        if (e == i) return expected(p, err, i, "timestamp or comment");
        rc = om_timestamp(p, i + 1, e, "exemplar timestamp", &out->exemplar_ts_ms, err);
        if (rc) return rc;
        out->exemplar_has_ts = true;
        i = e;
        if (i < eol) return expected(p, err, i, "next entry after exemplar timestamp");
    }
    if (eol >= p->len) return fail(p, err, VG_EINVAL, eol, "data does not end with # EOF");
    return 0;
}

static int om_series(parser_t *p, size_t i, size_t eol, entry_t *out, vg_error_t *err) {
    const char *b = p->buf;
    size_t ns = i;
    int rc = series_name(p, &i, eol, out, err);
    if (rc) return rc;
    if (i < eol && b[i] == '{') {
        rc = parse_labels(p, i, &eol, true, &out->n_labels, &i, err);
        if (rc) return rc;
    }
    out->labels = p->labels;
    out->series.ptr = b + ns;
    out->series.len = i - ns;
    size_t e = om_token(b, i, eol);
    if (e == i) return expected(p, err, i, "value after metric");
    int frc = ingest__parse_float(b + i + 1, e - i - 1, &out->value);
    if (frc) return float_error(p, err, i + 1, e, "value", frc);
    i = e;
    if (i < eol && !is_exemplar_start(b, i, eol)) {
        e = om_token(b, i, eol);
        if (e == i) return expected(p, err, i, "timestamp or # symbol");
        rc = om_timestamp(p, i + 1, e, "timestamp", &out->ts_ms, err);
        if (rc) return rc;
        out->has_ts = true;
        i = e;
        if (i < eol && !is_exemplar_start(b, i, eol)) return expected(p, err, i, "next entry after timestamp");
    }
    if (i < eol) {
        /* openmetricsparse: exemplars only on counters' _total and histograms' _bucket series */
        if (!has_suffix(out->name, (ingest_str_t){out->name.ptr, out->name.len >= 6 ? out->name.len - 6 : 0}, "_total") &&
            !has_suffix(out->name, (ingest_str_t){out->name.ptr, out->name.len >= 7 ? out->name.len - 7 : 0}, "_bucket"))
            return fail(p, err, VG_EINVAL, i + 1, "metric name %.*s does not support exemplars",
                        (int)(out->name.len > 128 ? 128 : out->name.len), out->name.ptr);
        rc = om_exemplar(p, i + 3, eol, out, err);
        if (rc) return rc;
    } else if (eol >= p->len) {
        return fail(p, err, VG_EINVAL, eol, "data does not end with # EOF");
    }
    set_family_fields(p, out);
    out->kind = INGEST_EXPFMT_SERIES;
    next_line(p, eol);
    return INGEST_EXPFMT_SERIES;
}

static int next_om(parser_t *p, entry_t *out, vg_error_t *err) {
    const char *b = p->buf;
    if (p->pos >= p->len) return fail(p, err, VG_EINVAL, p->pos, "data does not end with # EOF");
    size_t eol;
    int rc = line_end(p, p->pos, &eol, err);
    if (rc) return rc;
    out->line = p->line;
    size_t i = p->pos;
    if (i < eol && ingest__is_mstart((unsigned char)b[i])) return om_series(p, i, eol, out, err);
    if (eol - i >= 2 && b[i] == '#' && b[i + 1] == ' ') {
        size_t k = i + 2;
        if (eol - k >= 5 && b[k + 4] == ' ') {
            if (memcmp(b + k, "HELP", 4) == 0) return om_meta(p, k + 5, eol, INGEST_EXPFMT_HELP, out, err);
            if (memcmp(b + k, "TYPE", 4) == 0) return om_meta(p, k + 5, eol, INGEST_EXPFMT_TYPE, out, err);
            if (memcmp(b + k, "UNIT", 4) == 0) return om_meta(p, k + 5, eol, INGEST_EXPFMT_UNIT, out, err);
        }
        if (eol - k >= 3 && memcmp(b + k, "EOF", 3) == 0) {
            size_t after = k + 3 == eol && eol < p->len ? eol + 1 : k + 3;
            if (after != p->len) return fail(p, err, VG_EINVAL, after, "unexpected data after # EOF");
            p->pos = p->len;
            p->status = 1;
            return INGEST_EXPFMT_EOF;
        }
    }
    return expected(p, err, i, "a valid start token");
}

int ingest_expfmt_next(parser_t *p, entry_t *out, vg_error_t *err) {
    memset(out, 0, sizeof *out);
    if (p->status == 1) return INGEST_EXPFMT_EOF;
    if (p->status < 0) {
        if (err) *err = p->last_err;
        return p->status;
    }
    p->scratch_used = 0;
    return p->format == INGEST_EXPFMT_OPENMETRICS ? next_om(p, out, err) : next_text(p, out, err);
}
