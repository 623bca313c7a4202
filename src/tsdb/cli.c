/* The `vigil tsdb list|dump|export|verify` subcommands over block directories: a data directory
 * (every <ULID>/ below it with a meta.json) or one block directory.
 *
 * Output follows promtool's: `list` a table like `promtool tsdb list`; `dump` one line per sample,
 * `{labels} value timestamp`, with labels quoted and values formatted as Go's %v and %g do, series in
 * label order and each series' samples merged across blocks in time order (a timestamp already
 * printed for the series is skipped), as `promtool tsdb dump` prints them.
 *
 * Exit codes: 0 success, 1 an error (printed to stderr as "vigil tsdb <cmd>: <message>"), 2 usage. */
#include "tsdb/block_int.h"

#include "util/buf.h"
#include "util/fs.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct blocks {
    tsdb__block_t **b;
    size_t n;
} blocks_t;

static void blocks_free(blocks_t *bs) {
    for (size_t i = 0; i < bs->n; i++) tsdb__block_unref(bs->b[i]);
    free(bs->b);
    bs->b = NULL;
    bs->n = 0;
}

static int cmp_block(const void *a, const void *b) {
    const tsdb__block_meta_t *x = tsdb__block_meta(*(tsdb__block_t *const *)a),
                             *y = tsdb__block_meta(*(tsdb__block_t *const *)b);
    if (x->mint != y->mint) return x->mint < y->mint ? -1 : 1;
    return strcmp(x->ulid, y->ulid);
}

static bool is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Opens the blocks of dir (a block directory, or a directory of them), sorted by min time. */
static int open_blocks(const char *dir, blocks_t *bs, vg_error_t *err) {
    bs->b = NULL;
    bs->n = 0;
    char path[4200];
    snprintf(path, sizeof path, "%s/meta.json", dir);
    size_t cap = 0;
    char **dirs = NULL;
    size_t nd = 0;
    if (is_file(path)) {
        dirs = malloc(sizeof *dirs);
        if (!dirs || !(dirs[0] = strdup(dir))) return free(dirs), vg_error_set(err, VG_ENOMEM, "out of memory");
        nd = 1;
    } else {
        DIR *d = opendir(dir);
        if (!d) return vg_error_set(err, VG_EIO, "open %s: %s", dir, strerror(errno));
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!tsdb__ulid_valid(e->d_name, strlen(e->d_name))) continue;
            snprintf(path, sizeof path, "%s/%s/meta.json", dir, e->d_name);
            if (!is_file(path)) continue;
            if (nd == cap) {
                cap = cap ? cap * 2 : 16;
                char **nv = realloc(dirs, cap * sizeof *nv);
                if (!nv) break;
                dirs = nv;
            }
            size_t l = strlen(dir) + strlen(e->d_name) + 2;
            if ((dirs[nd] = malloc(l))) snprintf(dirs[nd++], l, "%s/%s", dir, e->d_name);
        }
        closedir(d);
    }
    int rc = 0;
    if (nd && !(bs->b = calloc(nd, sizeof *bs->b))) rc = vg_error_set(err, VG_ENOMEM, "out of memory");
    for (size_t i = 0; i < nd && !rc; i++)
        if (!(rc = tsdb__block_open(dirs[i], &bs->b[bs->n], err))) bs->n++;
    for (size_t i = 0; i < nd; i++) free(dirs[i]);
    free(dirs);
    if (rc) {
        blocks_free(bs);
        return rc;
    }
    if (bs->n > 1) qsort(bs->b, bs->n, sizeof *bs->b, cmp_block);
    return 0;
}

/* ---- Go-compatible formatting ---- */

/* A duration of ms milliseconds as Go's time.Duration prints it ("2h0m0s", "40.001s", "500ms"). */
static void go_duration(int64_t ms, char *out, size_t cap) {
    if (ms == 0) {
        snprintf(out, cap, "0s");
        return;
    }
    const char *sign = ms < 0 ? "-" : "";
    uint64_t u = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
    if (u < 1000) {
        snprintf(out, cap, "%s%" PRIu64 "ms", sign, u);
        return;
    }
    uint64_t h = u / 3600000, m = u / 60000 % 60, s = u / 1000 % 60, f = u % 1000;
    char sec[32];
    if (f) {
        snprintf(sec, sizeof sec, "%" PRIu64 ".%03" PRIu64, s, f);
        size_t l = strlen(sec);
        while (sec[l - 1] == '0') sec[--l] = '\0';
    } else {
        snprintf(sec, sizeof sec, "%" PRIu64, s);
    }
    if (h) snprintf(out, cap, "%s%" PRIu64 "h%" PRIu64 "m%ss", sign, h, m, sec);
    else if (m) snprintf(out, cap, "%s%" PRIu64 "m%ss", sign, m, sec);
    else snprintf(out, cap, "%s%ss", sign, sec);
}

/* v as Go's fmt %g prints a float64: the shortest digits that read back as v, in exponent form when
 * the decimal exponent is below -4 or at least 6 ("1.234567e+06", "1e-05", "100000", "+Inf"). */
static void go_fmt_g(double v, char *out, size_t cap) {
    if (isnan(v)) {
        snprintf(out, cap, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, cap, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    char e[40];
    for (int p = 1; p <= 17; p++) {
        snprintf(e, sizeof e, "%.*e", p - 1, v);
        if (strtod(e, NULL) == v) break;
    }
    /* e is [-]d[.ddd]e[+-]xx */
    const char *s = e;
    bool neg = *s == '-';
    if (neg) s++;
    char dig[24];
    size_t nd = 0;
    for (; *s && *s != 'e'; s++)
        if (*s != '.') dig[nd++] = *s;
    int exp = atoi(s + 1);
    while (nd > 1 && dig[nd - 1] == '0') nd--;
    dig[nd] = '\0';
    vg_buf_t b = VG_BUF_INIT;
    if (neg) vg_buf_putc(&b, '-');
    if (exp < -4 || exp >= 6) {
        vg_buf_putc(&b, dig[0]);
        if (nd > 1) vg_buf_printf(&b, ".%s", dig + 1);
        vg_buf_printf(&b, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    } else if (exp < 0) {
        vg_buf_puts(&b, "0.");
        for (int i = 0; i < -exp - 1; i++) vg_buf_putc(&b, '0');
        vg_buf_puts(&b, dig);
    } else {
        for (int i = 0; i <= exp; i++) vg_buf_putc(&b, (size_t)i < nd ? dig[i] : '0');
        if ((size_t)exp + 1 < nd) vg_buf_printf(&b, ".%s", dig + exp + 1);
    }
    snprintf(out, cap, "%s", b.data ? b.data : "");
    vg_buf_deinit(&b);
}

/* s quoted as Go's strconv.Quote does for valid UTF-8 text. */
static void go_quote(vg_buf_t *b, const char *s) {
    vg_buf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
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
            else if (c == 0xc2 && p[1] >= 0x80 && p[1] < 0xa0) vg_buf_printf(b, "\\u%04x", p[1]), p++; /* C1 controls */
            else vg_buf_putc(b, (char)c);
        }
    }
    vg_buf_putc(b, '"');
}

static void print_labels(vg_buf_t *b, const model_label_t *l, size_t n) {
    vg_buf_putc(b, '{');
    for (size_t i = 0; i < n; i++) {
        if (i) vg_buf_puts(b, ", ");
        vg_buf_puts(b, l[i].name);
        vg_buf_putc(b, '=');
        go_quote(b, l[i].value);
    }
    vg_buf_putc(b, '}');
}

/* ---- list ---- */

static int cmd_list(int argc, char **argv) {
    if (argc != 1) {
        fputs("usage: vigil tsdb list DIR\n", stderr);
        return 2;
    }
    blocks_t bs;
    vg_error_t err;
    if (open_blocks(argv[0], &bs, &err)) {
        fprintf(stderr, "vigil tsdb list: %s\n", err.msg);
        return 1;
    }
    /* a tab-separated table aligned as Go's tabwriter (min width 13, padding 2) aligns it */
    enum { NC = 8 };
    size_t rows = bs.n + 1;
    char(*cell)[NC][64] = calloc(rows, sizeof *cell);
    if (!cell) {
        blocks_free(&bs);
        fputs("vigil tsdb list: out of memory\n", stderr);
        return 1;
    }
    const char *hdr[NC] = {"BLOCK ULID", "MIN TIME", "MAX TIME", "DURATION", "NUM SAMPLES", "NUM CHUNKS", "NUM SERIES", "SIZE"};
    for (int c = 0; c < NC; c++) snprintf(cell[0][c], 64, "%s", hdr[c]);
    for (size_t i = 0; i < bs.n; i++) {
        const tsdb__block_meta_t *m = tsdb__block_meta(bs.b[i]);
        char(*r)[64] = cell[i + 1];
        snprintf(r[0], 64, "%s", m->ulid);
        snprintf(r[1], 64, "%lld", (long long)m->mint);
        snprintf(r[2], 64, "%lld", (long long)m->maxt);
        go_duration(m->maxt - m->mint, r[3], 64);
        snprintf(r[4], 64, "%llu", (unsigned long long)m->n_samples);
        snprintf(r[5], 64, "%llu", (unsigned long long)m->n_chunks);
        snprintf(r[6], 64, "%llu", (unsigned long long)m->n_series);
        snprintf(r[7], 64, "%llu", (unsigned long long)tsdb__block_bytes(bs.b[i]));
    }
    size_t w[NC] = {0};
    for (size_t i = 0; i < rows; i++)
        for (int c = 0; c < NC; c++)
            if (strlen(cell[i][c]) + 2 > w[c]) w[c] = strlen(cell[i][c]) + 2;
    for (size_t i = 0; i < rows; i++) {
        for (int c = 0; c < NC; c++) {
            if (c == NC - 1) printf("%s\n", cell[i][c]);
            else printf("%-*s", (int)(w[c] < 13 ? 13 : w[c]), cell[i][c]);
        }
    }
    free(cell);
    blocks_free(&bs);
    return 0;
}

/* ---- dump ---- */

static bool parse_i64(const char *s, int64_t *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end) return false;
    *out = v;
    return true;
}

#define MAX_MATCHERS 64

static int cmd_dump(int argc, char **argv, tsdb_selector_parse_fn parse) {
    const char *dir = NULL, *match = NULL;
    int64_t mint = INT64_MIN, maxt = INT64_MAX;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        const char *opts[] = {"--min-time", "--max-time", "--match"};
        int which = -1;
        for (int k = 0; k < 3; k++) {
            size_t l = strlen(opts[k]);
            if (!strncmp(a, opts[k], l) && a[l] == '=') which = k, val = a + l + 1;
            else if (!strcmp(a, opts[k]) && i + 1 < argc) which = k, val = argv[++i];
        }
        bool ok = true;
        if (which == 0) ok = parse_i64(val, &mint);
        else if (which == 1) ok = parse_i64(val, &maxt);
        else if (which == 2) match = val;
        else if (!dir && a[0] != '-') dir = a;
        else ok = false;
        if (!ok) {
            fprintf(stderr, "vigil tsdb dump: bad argument '%s'\n", a);
            dir = NULL;
            break;
        }
    }
    if (!dir) {
        fputs("usage: vigil tsdb dump DIR [--min-time MS] [--max-time MS] [--match SELECTOR]\n", stderr);
        return 2;
    }
    vg_error_t err;
    model_matcher_t *ms[MAX_MATCHERS];
    size_t nm = 0;
    if (match && (!parse || parse(match, ms, MAX_MATCHERS, &nm, &err))) {
        fprintf(stderr, "vigil tsdb dump: --match: %s\n", parse ? err.msg : "selectors are not supported here");
        return 1;
    }
    blocks_t bs;
    int rc = open_blocks(dir, &bs, &err);
    storage_querier_t **qs = rc ? NULL : calloc(bs.n ? bs.n : 1, sizeof *qs);
    storage_series_set_t **ss = qs ? calloc(bs.n ? bs.n : 1, sizeof *ss) : NULL;
    bool *has = ss ? calloc(bs.n ? bs.n : 1, sizeof *has) : NULL;
    if (!rc && !has) rc = vg_error_set(&err, VG_ENOMEM, "out of memory");
    for (size_t i = 0; i < bs.n && !rc; i++) {
        if (!(rc = tsdb__block_querier(bs.b[i], mint, maxt, &qs[i], &err)) &&
            !(rc = storage_select(qs[i], true, ms, nm, &ss[i], &err)))
            has[i] = ss[i]->vt->next(ss[i]);
    }
    vg_buf_t line = VG_BUF_INIT;
    storage_iterator_t **its = rc ? NULL : calloc(bs.n ? bs.n : 1, sizeof *its);
    if (!rc && !its) rc = vg_error_set(&err, VG_ENOMEM, "out of memory");
    while (!rc) {
        /* the smallest label set among the blocks' current series */
        const model_label_t *ml = NULL;
        size_t mn = 0;
        for (size_t i = 0; i < bs.n; i++) {
            if (!has[i]) continue;
            const model_label_t *l;
            size_t n;
            ss[i]->vt->labels(ss[i], &l, &n);
            if (!ml || model_labels_cmp(l, n, ml, mn) < 0) ml = l, mn = n;
        }
        if (!ml) break;
        vg_buf_reset(&line);
        print_labels(&line, ml, mn);
        size_t prefix = line.len;
        int64_t last = INT64_MIN;
        bool any = false;
        const model_label_t *cur = ml; /* borrowed until its querier closes */
        size_t cn = mn;
        for (size_t i = 0; i < bs.n && !rc; i++) {
            if (!has[i]) continue;
            const model_label_t *l;
            size_t n;
            ss[i]->vt->labels(ss[i], &l, &n);
            if (!model_labels_equal(l, n, cur, cn)) continue;
            storage_iterator_t *it = its[i] = ss[i]->vt->iterator(ss[i], its[i]);
            if (!it) {
                rc = vg_error_set(&err, VG_ENOMEM, "out of memory");
                break;
            }
            while (it->vt->next(it) == STORAGE_VAL_FLOAT) {
                int64_t t;
                double v;
                it->vt->at(it, &t, &v);
                if (any && t <= last) continue;
                any = true;
                last = t;
                char num[64];
                go_fmt_g(v, num, sizeof num);
                line.len = prefix;
                line.data[prefix] = '\0';
                vg_buf_printf(&line, " %s %lld\n", num, (long long)t);
                fwrite(line.data, 1, line.len, stdout);
            }
            if (it->vt->err(it))
                rc = vg_error_set(&err, VG_ECORRUPT, "%s: a chunk of series %s does not decode (run vigil tsdb verify)",
                                  tsdb__block_dir(bs.b[i]), line.data);
            has[i] = ss[i]->vt->next(ss[i]);
        }
    }
    vg_buf_deinit(&line);
    free(its);
    for (size_t i = 0; qs && i < bs.n; i++) storage_querier_close(qs[i]);
    free(qs);
    free(ss);
    free(has);
    for (size_t i = 0; i < nm; i++) model_matcher_free(ms[i]);
    blocks_free(&bs);
    if (rc) {
        fprintf(stderr, "vigil tsdb dump: %s\n", err.msg);
        return 1;
    }
    return fflush(stdout) == 0 ? 0 : 1;
}

/* ---- export ---- */

static int cmd_export(int argc, char **argv) {
    const char *format = NULL, *src = NULL, *dst = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--format") && i + 1 < argc) format = argv[++i];
        else if (!strncmp(argv[i], "--format=", 9)) format = argv[i] + 9;
        else if (!src && argv[i][0] != '-') src = argv[i];
        else if (!dst && argv[i][0] != '-') dst = argv[i];
        else src = NULL, i = argc;
    }
    uint8_t enc = 0;
    if (format && !strcmp(format, "prometheus")) enc = TSDB_ENC_XOR;
    else if (format && !strcmp(format, "dense")) enc = TSDB_ENC_DENSE;
    if (!src || !dst || !enc) {
        fputs("usage: vigil tsdb export --format prometheus|dense SRC DST\n"
              "  re-encodes every block of SRC (a data directory or a block directory) into new blocks in DST:\n"
              "  prometheus: XOR chunks only (readable by Prometheus, promtool, Thanos, Mimir);\n"
              "  dense: vigil's dense chunks where they are smaller (readable by vigil only)\n",
              stderr);
        return 2;
    }
    blocks_t bs;
    vg_error_t err;
    int rc = open_blocks(src, &bs, &err);
    if (!rc && !bs.n) rc = vg_error_set(&err, VG_ENOTFOUND, "%s holds no blocks", src);
    for (size_t i = 0; i < bs.n && !rc; i++) {
        tsdb__block_meta_t m;
        rc = tsdb__block_rewrite(bs.b[i], dst, enc, &m, &err);
        if (rc == VG_ENOTFOUND) { /* every series deleted: nothing to write */
            printf("%s: no samples, skipped\n", tsdb__block_meta(bs.b[i])->ulid);
            rc = 0;
            continue;
        }
        if (!rc) printf("%s -> %s/%s\n", tsdb__block_meta(bs.b[i])->ulid, dst, m.ulid);
        tsdb__block_meta_free(&m);
    }
    blocks_free(&bs);
    if (rc) {
        fprintf(stderr, "vigil tsdb export: %s\n", err.msg);
        return 1;
    }
    return 0;
}

/* ---- verify ---- */

static int cmd_verify(int argc, char **argv) {
    if (argc != 1) {
        fputs("usage: vigil tsdb verify DIR\n", stderr);
        return 2;
    }
    blocks_t bs;
    vg_error_t err;
    if (open_blocks(argv[0], &bs, &err)) {
        fprintf(stderr, "vigil tsdb verify: %s\n", err.msg);
        return 1;
    }
    int bad = 0;
    for (size_t i = 0; i < bs.n; i++) {
        const tsdb__block_meta_t *m = tsdb__block_meta(bs.b[i]);
        if (tsdb__block_verify(bs.b[i], &err)) {
            fprintf(stderr, "vigil tsdb verify: %s\n", err.msg);
            bad++;
        } else {
            printf("%s: ok (%llu series, %llu chunks, %llu samples)\n", m->ulid, (unsigned long long)m->n_series,
                   (unsigned long long)m->n_chunks, (unsigned long long)m->n_samples);
        }
    }
    blocks_free(&bs);
    return bad ? 1 : 0;
}

int tsdb_cmd(int argc, char **argv, tsdb_selector_parse_fn parse_selector) {
    if (argc >= 1 && !strcmp(argv[0], "list")) return cmd_list(argc - 1, argv + 1);
    if (argc >= 1 && !strcmp(argv[0], "dump")) return cmd_dump(argc - 1, argv + 1, parse_selector);
    if (argc >= 1 && !strcmp(argv[0], "export")) return cmd_export(argc - 1, argv + 1);
    if (argc >= 1 && !strcmp(argv[0], "verify")) return cmd_verify(argc - 1, argv + 1);
    fputs("usage: vigil tsdb list|dump|export|verify ...\n", stderr);
    return 2;
}
