/* Alert templates: Go's fmt over template values — %v of every value kind, print/println spacing,
 * printf verbs with flags, width and precision, and Go's text for bad verbs, missing and extra
 * operands ("%!d(float64=1.5)", "%!s(MISSING)", "%!(EXTRA int=3)"), so an annotation reads exactly as
 * Prometheus writes it.
 *
 * Floats: Go's shortest representation comes from trying 15, 16, then 17 significant digits until
 * one reads back as the value; %v (strconv 'g' with precision -1) then uses exponent form when the
 * decimal exponent is below -4 or at least 6: 1e+06, 123456, 0.0001, 1e-05. */
#include "template_int.h"

#include "util/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* strconv.FormatFloat(v, 'g', -1, 64) without the sign handling of fmt (NaN, +Inf, -Inf). */
static void fmt_g_shortest(vg_buf_t *b, double v, bool upper) {
    if (isnan(v)) {
        vg_buf_puts(b, "NaN");
        return;
    }
    if (isinf(v)) {
        vg_buf_puts(b, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (v == 0) {
        vg_buf_puts(b, signbit(v) ? "-0" : "0");
        return;
    }
    char d[24];
    int dp, n = vg_shortest_digits(v, d, &dp);
    if (v < 0) vg_buf_putc(b, '-');
    int x = dp - 1;
    if (x < -4 || x >= 6) { /* strconv 'g' with precision -1 decides with precision 6 */
        vg_buf_putc(b, d[0]);
        if (n > 1) {
            vg_buf_putc(b, '.');
            vg_buf_append(b, d + 1, (size_t)(n - 1));
        }
        vg_buf_printf(b, "%c%c%02d", upper ? 'E' : 'e', x < 0 ? '-' : '+', x < 0 ? -x : x);
        return;
    }
    if (dp <= 0) {
        vg_buf_puts(b, "0.");
        for (int k = 0; k < -dp; k++) vg_buf_putc(b, '0');
        vg_buf_append(b, d, (size_t)n);
    } else if (dp >= n) {
        vg_buf_append(b, d, (size_t)n);
        for (int k = n; k < dp; k++) vg_buf_putc(b, '0');
    } else {
        vg_buf_append(b, d, (size_t)dp);
        vg_buf_putc(b, '.');
        vg_buf_append(b, d + dp, (size_t)(n - dp));
    }
}

void rules__tmpl_fmt_float_v(vg_buf_t *b, double v) { fmt_g_shortest(b, v, false); }

const char *rules__tmpl_type_name(const tmpl_val_t *v) {
    switch (v->k) {
    case TV_NIL: return "<nil>";
    case TV_STR: return "string";
    case TV_FLOAT: return "float64";
    case TV_INT: return "int";
    case TV_BOOL: return "bool";
    case TV_LABELS: return "map[string]string";
    case TV_VEC: return "template.queryResult";
    case TV_SAMPLE: return "*template.sample";
    case TV_TIME: return "*time.Time";
    case TV_ARGS: return "map[string]interface {}";
    case TV_DATA: return "struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value interface {} }";
    }
    return "?";
}

static void print_labels(vg_buf_t *b, const model_label_t *l, size_t n) {
    vg_buf_puts(b, "map[");
    for (size_t k = 0; k < n; k++) {
        if (k) vg_buf_putc(b, ' ');
        vg_buf_printf(b, "%s:%s", l[k].name, l[k].value);
    }
    vg_buf_putc(b, ']');
}

static void print_sample(vg_buf_t *b, const rules_tmpl_sample_t *s, bool amp) {
    vg_buf_puts(b, amp ? "&{" : "{");
    print_labels(b, s->labels, s->n_labels);
    vg_buf_putc(b, ' ');
    fmt_g_shortest(b, s->value, false);
    vg_buf_putc(b, '}');
}

void rules__tmpl_fmt_time(vg_buf_t *b, int64_t ms) {
    int64_t secs = ms / 1000, frac = ms % 1000;
    if (frac < 0) {
        frac += 1000;
        secs--;
    }
    time_t tt = (time_t)secs;
    struct tm tm;
    if (!gmtime_r(&tt, &tm)) {
        vg_buf_puts(b, "<invalid time>");
        return;
    }
    vg_buf_printf(b, "%04lld-%02d-%02d %02d:%02d:%02d", (long long)tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec);
    if (frac) {
        char f[8];
        snprintf(f, sizeof f, "%03d", (int)frac);
        int n = 3;
        while (n > 0 && f[n - 1] == '0') n--;
        vg_buf_printf(b, ".%.*s", n, f);
    }
    vg_buf_puts(b, " +0000 UTC");
}

void rules__tmpl_print_value(vg_buf_t *b, const tmpl_val_t *v, bool amp) {
    switch (v->k) {
    case TV_NIL: vg_buf_puts(b, "<nil>"); break;
    case TV_STR: vg_buf_append(b, v->s, v->len); break;
    case TV_FLOAT: fmt_g_shortest(b, v->f, false); break;
    case TV_INT: vg_buf_put_i64(b, v->i); break;
    case TV_BOOL: vg_buf_puts(b, v->b ? "true" : "false"); break;
    case TV_LABELS: print_labels(b, v->labels, v->len); break;
    case TV_VEC:
        vg_buf_putc(b, '[');
        for (size_t k = 0; k < v->len; k++) {
            if (k) vg_buf_putc(b, ' ');
            print_sample(b, &v->vec[k], true);
        }
        vg_buf_putc(b, ']');
        break;
    case TV_SAMPLE: print_sample(b, v->vec, amp); break;
    case TV_TIME: rules__tmpl_fmt_time(b, v->i); break;
    case TV_ARGS:
        vg_buf_puts(b, "map[");
        for (size_t k = 0; k < v->len; k++) {
            if (k) vg_buf_putc(b, ' ');
            vg_buf_printf(b, "%s:", v->kvs[k].key);
            rules__tmpl_print_value(b, v->kvs[k].val, true);
        }
        vg_buf_putc(b, ']');
        break;
    case TV_DATA: vg_buf_puts(b, "{...}"); break;
    }
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n) {
    if (s[0] < 0x80) return 1;
    size_t want = s[0] >= 0xF0 && s[0] <= 0xF4 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 && s[0] < 0xE0 ? 2 : 0;
    if (!want || want > n) return 0;
    for (size_t k = 1; k < want; k++)
        if ((s[k] & 0xC0) != 0x80) return 0;
    if (want == 3 && s[0] == 0xE0 && s[1] < 0xA0) return 0;
    if (want == 3 && s[0] == 0xED && s[1] >= 0xA0) return 0;
    if (want == 4 && s[0] == 0xF0 && s[1] < 0x90) return 0;
    if (want == 4 && s[0] == 0xF4 && s[1] >= 0x90) return 0;
    return want;
}

void rules__tmpl_quote(vg_buf_t *b, const char *s, size_t len) {
    vg_buf_putc(b, '"');
    for (size_t k = 0; k < len;) {
        unsigned char c = (unsigned char)s[k];
        if (c >= 0x80) {
            size_t n = utf8_len((const unsigned char *)s + k, len - k);
            if (!n) {
                vg_buf_printf(b, "\\x%02x", c);
                k++;
            } else if (n == 2 && c == 0xC2 && (unsigned char)s[k + 1] < 0xA0) { /* C1 controls */
                vg_buf_printf(b, "\\u%04x", (unsigned char)s[k + 1]);
                k += 2;
            } else {
                vg_buf_append(b, s + k, n);
                k += n;
            }
            continue;
        }
        switch (c) {
        case '"': vg_buf_puts(b, "\\\""); break;
        case '\\': vg_buf_puts(b, "\\\\"); break;
        case '\a': vg_buf_puts(b, "\\a"); break;
        case '\b': vg_buf_puts(b, "\\b"); break;
        case '\f': vg_buf_puts(b, "\\f"); break;
        case '\n': vg_buf_puts(b, "\\n"); break;
        case '\r': vg_buf_puts(b, "\\r"); break;
        case '\t': vg_buf_puts(b, "\\t"); break;
        case '\v': vg_buf_puts(b, "\\v"); break;
        default:
            if (c < 0x20 || c == 0x7f) vg_buf_printf(b, "\\x%02x", c);
            else vg_buf_putc(b, (char)c);
        }
        k++;
    }
    vg_buf_putc(b, '"');
}

void rules__tmpl_sprint(vg_buf_t *b, const tmpl_val_t *args, size_t n, bool ln) {
    for (size_t k = 0; k < n; k++) {
        /* Sprint adds a space between operands when neither is a string; Sprintln always. */
        if (k > 0 && (ln || (args[k].k != TV_STR && args[k - 1].k != TV_STR))) vg_buf_putc(b, ' ');
        rules__tmpl_print_value(b, &args[k], true);
    }
    if (ln) vg_buf_putc(b, '\n');
}

typedef struct spec {
    bool minus, plus, sharp, space, zero;
    int width, prec; /* -1: absent */
    char verb;
} spec_t;

static void pad(vg_buf_t *b, const char *s, size_t len, const spec_t *sp, bool zero_ok) {
    size_t w = sp->width > 0 ? (size_t)sp->width : 0;
    /* Width counts runes, as Go's does. */
    size_t runes = 0;
    for (size_t k = 0; k < len; k++)
        if (((unsigned char)s[k] & 0xC0) != 0x80) runes++;
    size_t fill = w > runes ? w - runes : 0;
    if (sp->minus) {
        vg_buf_append(b, s, len);
        for (size_t k = 0; k < fill; k++) vg_buf_putc(b, ' ');
        return;
    }
    bool zeros = sp->zero && zero_ok;
    if (zeros && len > 0 && (s[0] == '-' || s[0] == '+' || s[0] == ' ')) {
        vg_buf_putc(b, s[0]);
        s++;
        len--;
    }
    for (size_t k = 0; k < fill; k++) vg_buf_putc(b, zeros ? '0' : ' ');
    vg_buf_append(b, s, len);
}

static void bad_verb(vg_buf_t *b, char verb, const tmpl_val_t *v) {
    vg_buf_printf(b, "%%!%c(", verb);
    if (v->k == TV_NIL) {
        vg_buf_puts(b, "<nil>");
    } else {
        vg_buf_printf(b, "%s=", rules__tmpl_type_name(v));
        rules__tmpl_print_value(b, v, true);
    }
    vg_buf_putc(b, ')');
}

static void fmt_int(vg_buf_t *b, int64_t i, const spec_t *sp) {
    char digits[80];
    int base = sp->verb == 'x' || sp->verb == 'X' ? 16 : sp->verb == 'o' ? 8 : sp->verb == 'b' ? 2 : 10;
    uint64_t u = i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i;
    int n = 0;
    const char *set = sp->verb == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
    do {
        digits[n++] = set[u % (uint64_t)base];
        u /= (uint64_t)base;
    } while (u);
    char out[100];
    int o = 0;
    if (i < 0) out[o++] = '-';
    else if (sp->plus) out[o++] = '+';
    else if (sp->space) out[o++] = ' ';
    if (sp->sharp && base == 16) {
        out[o++] = '0';
        out[o++] = sp->verb;
    }
    for (int k = n; k < sp->prec && o < 90; k++) out[o++] = '0';
    while (n > 0) out[o++] = digits[--n];
    /* Go: a precision turns zero padding off. */
    spec_t s2 = *sp;
    if (sp->prec >= 0) s2.zero = false;
    pad(b, out, (size_t)o, &s2, true);
}

static void fmt_float(vg_buf_t *b, double f, const spec_t *sp) {
    char out[400];
    int o;
    char verb = sp->verb == 'F' ? 'f' : sp->verb == 'v' ? 'g' : sp->verb;
    if (!isfinite(f)) {
        const char *s = isnan(f) ? (sp->plus ? "+NaN" : sp->space ? " NaN" : "NaN") : f > 0 ? "+Inf" : "-Inf";
        spec_t s2 = *sp;
        s2.zero = false;
        pad(b, s, strlen(s), &s2, false);
        return;
    }
    if ((verb == 'g' || verb == 'G') && sp->prec < 0) {
        vg_buf_t t = VG_BUF_INIT;
        if (f >= 0 && !signbit(f) && sp->plus) vg_buf_putc(&t, '+');
        else if (f >= 0 && !signbit(f) && sp->space) vg_buf_putc(&t, ' ');
        fmt_g_shortest(&t, f, verb == 'G');
        if (!t.failed) pad(b, t.data, t.len, sp, true);
        vg_buf_deinit(&t);
        return;
    }
    char fmt[16];
    int k = 0;
    fmt[k++] = '%';
    if (sp->plus) fmt[k++] = '+';
    else if (sp->space) fmt[k++] = ' ';
    if (sp->sharp) fmt[k++] = '#';
    fmt[k++] = '.';
    fmt[k++] = '*';
    fmt[k++] = verb;
    fmt[k] = '\0';
    int prec = sp->prec < 0 ? 6 : sp->prec > 300 ? 300 : sp->prec;
    if (verb == 'f' && fabs(f) >= 1e100 && prec > 20) prec = 20;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    o = snprintf(out, sizeof out, fmt, prec, f);
#pragma GCC diagnostic pop
    if (o < 0) return;
    if ((size_t)o >= sizeof out) o = (int)sizeof out - 1;
    pad(b, out, (size_t)o, sp, true);
}

static void fmt_str(vg_buf_t *b, const char *s, size_t len, const spec_t *sp) {
    if (sp->prec >= 0) { /* precision truncates to runes */
        size_t runes = 0, k = 0;
        for (; k < len; k++) {
            if (((unsigned char)s[k] & 0xC0) != 0x80) {
                if (runes == (size_t)sp->prec) break;
                runes++;
            }
        }
        len = k;
    }
    if (sp->verb == 'q') {
        vg_buf_t t = VG_BUF_INIT;
        rules__tmpl_quote(&t, s, len);
        if (!t.failed) pad(b, t.data, t.len, sp, true);
        vg_buf_deinit(&t);
    } else if (sp->verb == 'x' || sp->verb == 'X') {
        vg_buf_t t = VG_BUF_INIT;
        for (size_t k = 0; k < len; k++) vg_buf_printf(&t, sp->verb == 'x' ? "%02x" : "%02X", (unsigned char)s[k]);
        if (!t.failed) pad(b, t.data ? t.data : "", t.len, sp, true);
        vg_buf_deinit(&t);
    } else {
        pad(b, s, len, sp, true);
    }
}

static void fmt_one(vg_buf_t *b, const tmpl_val_t *v, const spec_t *sp) {
    char verb = sp->verb;
    switch (v->k) {
    case TV_STR:
        if (verb == 'v' || verb == 's' || verb == 'q' || verb == 'x' || verb == 'X') fmt_str(b, v->s, v->len, sp);
        else bad_verb(b, verb, v);
        return;
    case TV_FLOAT:
        if (verb && strchr("vfFeEgG", verb)) fmt_float(b, v->f, sp);
        else bad_verb(b, verb, v);
        return;
    case TV_INT:
        if (verb == 'v' || verb == 'd' || verb == 'x' || verb == 'X' || verb == 'o' || verb == 'b') {
            spec_t s2 = *sp;
            if (verb == 'v') s2.verb = 'd';
            fmt_int(b, v->i, &s2);
        } else if (verb == 'c') {
            char u[8];
            int n = 0;
            uint32_t cp = v->i < 0 || v->i > 0x10FFFF ? 0xFFFD : (uint32_t)v->i;
            if (cp < 0x80) u[n++] = (char)cp;
            else if (cp < 0x800) { u[n++] = (char)(0xC0 | (cp >> 6)); u[n++] = (char)(0x80 | (cp & 0x3F)); }
            else if (cp < 0x10000) { u[n++] = (char)(0xE0 | (cp >> 12)); u[n++] = (char)(0x80 | ((cp >> 6) & 0x3F)); u[n++] = (char)(0x80 | (cp & 0x3F)); }
            else { u[n++] = (char)(0xF0 | (cp >> 18)); u[n++] = (char)(0x80 | ((cp >> 12) & 0x3F)); u[n++] = (char)(0x80 | ((cp >> 6) & 0x3F)); u[n++] = (char)(0x80 | (cp & 0x3F)); }
            pad(b, u, (size_t)n, sp, false);
        } else {
            bad_verb(b, verb, v);
        }
        return;
    case TV_BOOL:
        if (verb == 'v' || verb == 't') pad(b, v->b ? "true" : "false", v->b ? 4 : 5, sp, false);
        else bad_verb(b, verb, v);
        return;
    case TV_NIL:
        if (verb == 'v') pad(b, "<nil>", 5, sp, false);
        else bad_verb(b, verb, v);
        return;
    default:
        if (verb == 'v' || verb == 's') {
            vg_buf_t t = VG_BUF_INIT;
            rules__tmpl_print_value(&t, v, true);
            if (!t.failed) pad(b, t.data ? t.data : "", t.len, sp, false);
            vg_buf_deinit(&t);
        } else {
            bad_verb(b, verb, v);
        }
    }
}

void rules__tmpl_sprintf(vg_buf_t *b, const char *f, size_t flen, const tmpl_val_t *args, size_t n) {
    size_t argi = 0;
    for (size_t k = 0; k < flen;) {
        if (f[k] != '%') {
            size_t s = k;
            while (k < flen && f[k] != '%') k++;
            vg_buf_append(b, f + s, k - s);
            continue;
        }
        k++;
        spec_t sp = {.width = -1, .prec = -1};
        for (; k < flen; k++) {
            char c = f[k];
            if (c == '-') { sp.minus = true; sp.zero = false; }
            else if (c == '+') sp.plus = true;
            else if (c == '#') sp.sharp = true;
            else if (c == ' ') sp.space = true;
            else if (c == '0') sp.zero = !sp.minus;
            else break;
        }
        if (k < flen && f[k] >= '0' && f[k] <= '9') {
            sp.width = 0;
            while (k < flen && f[k] >= '0' && f[k] <= '9') {
                if (sp.width < 100000) sp.width = sp.width * 10 + (f[k] - '0');
                k++;
            }
        }
        if (k < flen && f[k] == '.') {
            k++;
            sp.prec = 0;
            while (k < flen && f[k] >= '0' && f[k] <= '9') {
                if (sp.prec < 100000) sp.prec = sp.prec * 10 + (f[k] - '0');
                k++;
            }
        }
        if (k >= flen) {
            vg_buf_puts(b, "%!(NOVERB)");
            break;
        }
        sp.verb = f[k++];
        if (sp.verb == '%') {
            vg_buf_putc(b, '%');
            continue;
        }
        if (argi >= n) {
            vg_buf_printf(b, "%%!%c(MISSING)", sp.verb);
            continue;
        }
        fmt_one(b, &args[argi++], &sp);
    }
    if (argi < n) {
        vg_buf_puts(b, "%!(EXTRA ");
        for (; argi < n; argi++) {
            vg_buf_printf(b, "%s=", rules__tmpl_type_name(&args[argi]));
            rules__tmpl_print_value(b, &args[argi], true);
            if (argi + 1 < n) vg_buf_puts(b, ", ");
        }
        vg_buf_putc(b, ')');
    }
}
