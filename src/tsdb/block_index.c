/* The block index (format v2, as Prometheus 2.x writes it), both directions.
 *
 *   magic 0xBAAAD700 | version 2 | symbols | series (each entry 16-byte aligned; id = offset / 16)
 *   | label indices (4-aligned) | postings (4-aligned; the all-series list first) | label offset table
 *   | postings offset table | TOC (six 8-byte section offsets, CRC32C)
 *
 * Sections framed as len <4b> | content | CRC32C(content), series entries as len <uvarint> | content |
 * CRC32C(content). The TOC's offsets point where a section begins, before any alignment padding.
 *
 * Writer invariants: symbols are the sorted distinct strings of every label name and value plus "";
 * series are written in label order, so ascending ids are label order (a sorted select is free);
 * postings offset entries are sorted by (name, value) with ("", "") first.
 * Reader invariants: nothing outside [b, b+len) is ever read; what open() validated is trusted later
 * (symbol indices < n_syms, postings offsets inside the postings section), everything else is checked
 * on each read. Layout and checks: docs/format/index.md. */
#include "tsdb/block_int.h"

#include "util/crc32c.h"
#include "util/fs.h"
#include "util/varint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- writer ---- */

typedef struct mbuf {
    uint8_t *p;
    size_t n, cap;
    bool failed;
} mbuf_t;

static void mb_reserve(mbuf_t *b, size_t n) {
    if (b->failed || b->n + n <= b->cap) return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + n) cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p) {
        b->failed = true;
        return;
    }
    b->p = p;
    b->cap = cap;
}
static void mb_put(mbuf_t *b, const void *p, size_t n) {
    mb_reserve(b, n);
    if (b->failed) return;
    if (n) memcpy(b->p + b->n, p, n);
    b->n += n;
}
static void mb_be32(mbuf_t *b, uint32_t v) {
    uint8_t x[4];
    tsdb__put_be32(x, v);
    mb_put(b, x, 4);
}
static void mb_uvarint(mbuf_t *b, uint64_t v) {
    uint8_t x[VG_VARINT_MAX];
    mb_put(b, x, vg_uvarint_put(x, v));
}
static void mb_varint(mbuf_t *b, int64_t v) {
    uint8_t x[VG_VARINT_MAX];
    mb_put(b, x, vg_varint_put(x, v));
}
static void mb_str(mbuf_t *b, const char *s) {
    size_t n = strlen(s);
    mb_uvarint(b, n);
    mb_put(b, s, n);
}

/* The index file being written: buffered, with its position. */
typedef struct fw {
    int fd;
    const char *path;
    uint64_t pos;
    mbuf_t buf;
    int rc;
    vg_error_t *err;
} fw_t;

static void fw_flush(fw_t *w) {
    if (w->rc || !w->buf.n) return;
    w->rc = vg_fs_write_all(w->fd, w->buf.p, w->buf.n, w->err);
    w->buf.n = 0;
}
static void fw_put(fw_t *w, const void *p, size_t n) {
    if (w->rc) return;
    mb_put(&w->buf, p, n);
    if (w->buf.failed) w->rc = vg_error_set(w->err, VG_ENOMEM, "%s: out of memory", w->path);
    w->pos += n;
    if (w->buf.n >= (1u << 20)) fw_flush(w);
}
static void fw_pad(fw_t *w, unsigned align) {
    static const uint8_t zero[16];
    if (w->pos % align) fw_put(w, zero, align - w->pos % align);
}
/* A section framed as len <4b> | content | CRC32C. */
static void fw_section(fw_t *w, const mbuf_t *content) {
    uint8_t x[4];
    if (content->n > UINT32_MAX) {
        if (!w->rc) w->rc = vg_error_set(w->err, VG_ELIMIT, "%s: a section of %zu bytes is past 4 GiB", w->path, content->n);
        return;
    }
    tsdb__put_be32(x, (uint32_t)content->n);
    fw_put(w, x, 4);
    fw_put(w, content->p, content->n);
    tsdb__put_be32(x, vg_crc32c(content->p, content->n));
    fw_put(w, x, 4);
}

static int cmp_cstr(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static uint32_t sym_of(const char *const *syms, size_t n, const char *s) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(syms[mid], s);
        if (c == 0) return (uint32_t)mid;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return UINT32_MAX; /* unreachable: every label string was collected */
}

typedef struct triple {
    uint32_t name, value, id;
} triple_t;

static int cmp_triple(const void *a, const void *b) {
    const triple_t *x = a, *y = b;
    if (x->name != y->name) return x->name < y->name ? -1 : 1;
    if (x->value != y->value) return x->value < y->value ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

int tsdb__index_write(const char *path, const tsdb__wseries_t *s, size_t n, vg_error_t *err) {
    size_t n_labels = 0;
    for (size_t i = 0; i < n; i++) n_labels += s[i].n_labels;
    const char **syms = malloc((2 * n_labels + 1) * sizeof *syms);
    triple_t *tr = malloc((n_labels ? n_labels : 1) * sizeof *tr);
    uint32_t *ids = malloc((n ? n : 1) * sizeof *ids);
    mbuf_t mb = {0};
    fw_t w = {.fd = -1, .path = path, .err = err};
    if (!syms || !tr || !ids) {
        w.rc = vg_error_set(err, VG_ENOMEM, "%s: out of memory", path);
        goto out;
    }
    size_t ns = 0;
    syms[ns++] = "";
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < s[i].n_labels; j++) syms[ns++] = s[i].labels[j].name, syms[ns++] = s[i].labels[j].value;
    qsort(syms, ns, sizeof *syms, cmp_cstr);
    size_t k = 0;
    for (size_t i = 0; i < ns; i++)
        if (!k || strcmp(syms[k - 1], syms[i])) syms[k++] = syms[i];
    ns = k;

    w.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w.fd < 0) {
        w.rc = vg_error_set(err, VG_EIO, "create %s: %s", path, strerror(errno));
        goto out;
    }
    uint64_t toc[6];
    uint8_t hdr[TSDB__INDEX_HDR];
    tsdb__put_be32(hdr, TSDB__INDEX_MAGIC);
    hdr[4] = TSDB__INDEX_V2;
    fw_put(&w, hdr, sizeof hdr);

    /* symbols */
    toc[TSDB__TOC_SYMBOLS] = w.pos;
    mb_be32(&mb, (uint32_t)ns);
    for (size_t i = 0; i < ns; i++) mb_str(&mb, syms[i]);
    if (mb.failed) w.rc = vg_error_set(err, VG_ENOMEM, "%s: out of memory", path);
    fw_section(&w, &mb);

    /* series, and the (name, value, id) triples of the postings */
    toc[TSDB__TOC_SERIES] = w.pos;
    size_t nt = 0;
    for (size_t i = 0; i < n && !w.rc; i++) {
        fw_pad(&w, 16);
        if (w.pos / 16 > UINT32_MAX) {
            w.rc = vg_error_set(err, VG_ELIMIT, "%s: series section past 64 GiB", path);
            break;
        }
        ids[i] = (uint32_t)(w.pos / 16);
        mb.n = 0;
        mb_uvarint(&mb, s[i].n_labels);
        for (size_t j = 0; j < s[i].n_labels; j++) {
            uint32_t a = sym_of(syms, ns, s[i].labels[j].name), b = sym_of(syms, ns, s[i].labels[j].value);
            mb_uvarint(&mb, a);
            mb_uvarint(&mb, b);
            tr[nt++] = (triple_t){a, b, ids[i]};
        }
        mb_uvarint(&mb, s[i].n_chunks);
        const tsdb__chunk_meta_t *c = s[i].chunks;
        for (size_t j = 0; j < s[i].n_chunks; j++) {
            if (j == 0) {
                mb_varint(&mb, c[0].mint);
                mb_uvarint(&mb, (uint64_t)c[0].maxt - (uint64_t)c[0].mint);
                mb_uvarint(&mb, c[0].ref);
            } else {
                mb_uvarint(&mb, (uint64_t)c[j].mint - (uint64_t)c[j - 1].maxt);
                mb_uvarint(&mb, (uint64_t)c[j].maxt - (uint64_t)c[j].mint);
                mb_varint(&mb, (int64_t)(c[j].ref - c[j - 1].ref));
            }
        }
        if (mb.failed) {
            w.rc = vg_error_set(err, VG_ENOMEM, "%s: out of memory", path);
            break;
        }
        uint8_t x[VG_VARINT_MAX];
        fw_put(&w, x, vg_uvarint_put(x, mb.n));
        fw_put(&w, mb.p, mb.n);
        tsdb__put_be32(x, vg_crc32c(mb.p, mb.n));
        fw_put(&w, x, 4);
    }
    if (w.rc) goto out;
    qsort(tr, nt, sizeof *tr, cmp_triple);

    /* label indices: the sorted values of each name */
    toc[TSDB__TOC_LABEL_INDICES] = w.pos;
    mbuf_t lot = {0}; /* label offset table content */
    uint32_t n_names = 0;
    mb_be32(&lot, 0);
    for (size_t i = 0; i < nt && !w.rc;) {
        size_t j = i;
        uint32_t nv = 0;
        mb.n = 0;
        mb_be32(&mb, 1);
        mb_be32(&mb, 0);
        for (; j < nt && tr[j].name == tr[i].name; j++)
            if (j == i || tr[j].value != tr[j - 1].value) mb_be32(&mb, tr[j].value), nv++;
        if (!mb.failed) tsdb__put_be32(mb.p + 4, nv);
        fw_pad(&w, 4);
        mb_uvarint(&lot, 1);
        mb_str(&lot, syms[tr[i].name]);
        mb_uvarint(&lot, w.pos);
        n_names++;
        fw_section(&w, &mb);
        i = j;
    }

    /* postings: every series first, then each (name, value) in order */
    toc[TSDB__TOC_POSTINGS] = w.pos;
    mbuf_t pot = {0}; /* postings offset table content */
    mb_be32(&pot, 0);
    uint32_t n_pairs = 1;
    fw_pad(&w, 4);
    mb_uvarint(&pot, 2);
    mb_str(&pot, "");
    mb_str(&pot, "");
    mb_uvarint(&pot, w.pos);
    mb.n = 0;
    mb_be32(&mb, (uint32_t)n);
    for (size_t i = 0; i < n; i++) mb_be32(&mb, ids[i]);
    fw_section(&w, &mb);
    for (size_t i = 0; i < nt && !w.rc;) {
        size_t j = i;
        mb.n = 0;
        mb_be32(&mb, 0);
        for (; j < nt && tr[j].name == tr[i].name && tr[j].value == tr[i].value; j++) mb_be32(&mb, tr[j].id);
        if (!mb.failed) tsdb__put_be32(mb.p, (uint32_t)(j - i));
        fw_pad(&w, 4);
        mb_uvarint(&pot, 2);
        mb_str(&pot, syms[tr[i].name]);
        mb_str(&pot, syms[tr[i].value]);
        mb_uvarint(&pot, w.pos);
        n_pairs++;
        fw_section(&w, &mb);
        i = j;
    }
    if (lot.failed || pot.failed || mb.failed) {
        if (!w.rc) w.rc = vg_error_set(err, VG_ENOMEM, "%s: out of memory", path);
    } else {
        tsdb__put_be32(lot.p, n_names);
        tsdb__put_be32(pot.p, n_pairs);
    }
    toc[TSDB__TOC_LABEL_OFFSETS] = w.pos;
    fw_section(&w, &lot);
    toc[TSDB__TOC_POSTINGS_OFFSETS] = w.pos;
    fw_section(&w, &pot);
    free(lot.p);
    free(pot.p);

    uint8_t t[TSDB__INDEX_TOC];
    for (int i = 0; i < 6; i++) tsdb__put_be64(t + 8 * i, toc[i]);
    tsdb__put_be32(t + 48, vg_crc32c(t, 48));
    fw_put(&w, t, sizeof t);
    fw_flush(&w);
    if (!w.rc && fsync(w.fd) != 0) w.rc = vg_error_set(err, VG_EIO, "fsync %s: %s", path, strerror(errno));
out:
    if (w.fd >= 0 && close(w.fd) != 0 && !w.rc) w.rc = vg_error_set(err, VG_EIO, "close %s: %s", path, strerror(errno));
    free(w.buf.p);
    free(mb.p);
    free(syms);
    free(tr);
    free(ids);
    return w.rc;
}

/* ---- reader ---- */

static int cmp_bytes(const uint8_t *a, size_t an, const uint8_t *b, size_t bn) {
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? c : (an > bn) - (an < bn);
}

/* The content of a section framed len <4b> | content | CRC32C, which must end at or before limit. */
static int section(const tsdb__index_t *ix, uint64_t off, uint64_t limit, const char *what, const uint8_t **content,
                   uint32_t *clen, vg_error_t *err) {
    if (off + 4 > limit)
        return VG_CORRUPT(err, "%s: offset %llu: %s header runs past its section end (%llu)", ix->file,
                          (unsigned long long)off, what, (unsigned long long)limit);
    uint32_t n = tsdb__be32(ix->b + off);
    if (off + 4 + (uint64_t)n + 4 > limit)
        return VG_CORRUPT(err, "%s: offset %llu: %s of %u bytes runs past its section end (%llu)", ix->file,
                          (unsigned long long)off, what, n, (unsigned long long)limit);
    const uint8_t *p = ix->b + off + 4;
    uint32_t want = tsdb__be32(p + n), got = vg_crc32c(p, n);
    if (want != got)
        return VG_CORRUPT(err, "%s: offset %llu: %s checksum 0x%08x, computed 0x%08x", ix->file,
                          (unsigned long long)off, what, want, got);
    *content = p;
    *clen = n;
    return 0;
}

/* Reads a length-prefixed string inside [*p, end). */
static bool get_str(const uint8_t **p, const uint8_t *end, const uint8_t **s, size_t *n) {
    uint64_t l;
    size_t k = vg_uvarint_get(*p, end, &l);
    if (!k || l > (uint64_t)(end - *p - (ptrdiff_t)k)) return false;
    *s = *p + k;
    *n = (size_t)l;
    *p += k + l;
    return true;
}

static int64_t sym_find(const tsdb__index_t *ix, const uint8_t *s, size_t n) {
    size_t lo = 0, hi = ix->n_syms;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_bytes((const uint8_t *)ix->syms[mid], ix->sym_len[mid], s, n);
        if (c == 0) return (int64_t)mid;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

int64_t tsdb__index_sym(const tsdb__index_t *ix, const char *s) { return sym_find(ix, (const uint8_t *)s, strlen(s)); }

const tsdb__pname_t *tsdb__index_name(const tsdb__index_t *ix, const char *name) {
    int64_t sym = tsdb__index_sym(ix, name);
    if (sym < 0) return NULL;
    size_t lo = 0, hi = ix->n_names;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ix->names[mid].name == (uint32_t)sym) return &ix->names[mid];
        if (ix->names[mid].name < (uint32_t)sym) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

static int read_symbols(tsdb__index_t *ix, vg_error_t *err) {
    const uint8_t *c;
    uint32_t n;
    uint64_t off = ix->toc[TSDB__TOC_SYMBOLS];
    int rc = section(ix, off, ix->toc[TSDB__TOC_SERIES], "symbol table", &c, &n, err);
    if (rc) return rc;
    if (n < 4) return VG_CORRUPT(err, "%s: offset %llu: symbol table of %u bytes has no count", ix->file, (unsigned long long)off, n);
    uint32_t cnt = tsdb__be32(c);
    if (cnt > n - 4) /* every symbol takes at least one byte */
        return VG_CORRUPT(err, "%s: offset %llu: %u symbols cannot fit %u bytes", ix->file, (unsigned long long)off, cnt, n);
    ix->syms = calloc(cnt ? cnt : 1, sizeof *ix->syms);
    ix->sym_len = calloc(cnt ? cnt : 1, sizeof *ix->sym_len);
    char *store = malloc((size_t)n + cnt);
    if (!ix->syms || !ix->sym_len || !store) {
        free(store);
        return vg_error_set(err, VG_ENOMEM, "%s: out of memory", ix->file);
    }
    ix->syms[0] = store; /* owner of the strings until the first symbol is set */
    const uint8_t *p = c + 4, *end = c + n;
    char *dst = store;
    for (uint32_t i = 0; i < cnt; i++) {
        const uint8_t *s;
        size_t l;
        if (!get_str(&p, end, &s, &l)) {
            ix->n_syms = i ? i : 1;
            return VG_CORRUPT(err, "%s: offset %llu: symbol %u of %u runs past the symbol table", ix->file,
                              (unsigned long long)(off + 4 + (uint64_t)(p - c)), i, cnt);
        }
        memcpy(dst, s, l);
        dst[l] = '\0';
        ix->syms[i] = dst;
        ix->sym_len[i] = l;
        dst += l + 1;
        ix->n_syms = i + 1;
        if (i && cmp_bytes((const uint8_t *)ix->syms[i - 1], ix->sym_len[i - 1], s, l) >= 0)
            return VG_CORRUPT(err, "%s: offset %llu: symbol %u is not after symbol %u (symbols must be sorted and distinct)",
                              ix->file, (unsigned long long)(off + 4 + (uint64_t)(s - c)), i, i - 1);
    }
    if (p != end)
        return VG_CORRUPT(err, "%s: offset %llu: %zu bytes after the last of %u symbols", ix->file,
                          (unsigned long long)(off + 4 + (uint64_t)(p - c)), (size_t)(end - p), cnt);
    return 0;
}

static int read_postings_table(tsdb__index_t *ix, vg_error_t *err) {
    const uint8_t *c;
    uint32_t n;
    uint64_t off = ix->toc[TSDB__TOC_POSTINGS_OFFSETS];
    int rc = section(ix, off, ix->len - TSDB__INDEX_TOC, "postings offset table", &c, &n, err);
    if (rc) return rc;
    if (n < 4) return VG_CORRUPT(err, "%s: offset %llu: postings offset table has no count", ix->file, (unsigned long long)off);
    uint32_t cnt = tsdb__be32(c);
    if (cnt > n / 4)
        return VG_CORRUPT(err, "%s: offset %llu: %u postings offset entries cannot fit %u bytes", ix->file,
                          (unsigned long long)off, cnt, n);
    ix->vals = calloc(cnt ? cnt : 1, sizeof *ix->vals);
    ix->names = calloc(cnt ? cnt : 1, sizeof *ix->names);
    if (!ix->vals || !ix->names) return vg_error_set(err, VG_ENOMEM, "%s: out of memory", ix->file);
    const uint8_t *p = c + 4, *end = c + n;
    uint64_t lo = ix->toc[TSDB__TOC_POSTINGS], hi = ix->toc[TSDB__TOC_LABEL_OFFSETS];
    uint32_t nv = 0;
    for (uint32_t i = 0; i < cnt; i++) {
        unsigned long long at = (unsigned long long)(off + 4 + (uint64_t)(p - c));
        uint64_t kind, po;
        const uint8_t *name, *value;
        size_t nl, vl, k = vg_uvarint_get(p, end, &kind);
        if (!k || kind != 2)
            return VG_CORRUPT(err, "%s: offset %llu: postings offset entry %u: key count is not 2", ix->file, at, i);
        p += k;
        if (!get_str(&p, end, &name, &nl) || !get_str(&p, end, &value, &vl) || !(k = vg_uvarint_get(p, end, &po)))
            return VG_CORRUPT(err, "%s: offset %llu: postings offset entry %u runs past the table", ix->file, at, i);
        p += k;
        if (po < lo || po >= hi)
            return VG_CORRUPT(err, "%s: offset %llu: postings offset entry %u points at %llu, outside the postings (%llu..%llu)",
                              ix->file, at, i, (unsigned long long)po, (unsigned long long)lo, (unsigned long long)hi);
        if (i == 0) {
            if (nl || vl)
                return VG_CORRUPT(err, "%s: offset %llu: the first postings offset entry is not the all-series key", ix->file, at);
            ix->all_off = po;
            continue;
        }
        int64_t ns = sym_find(ix, name, nl), vs = sym_find(ix, value, vl);
        if (ns < 0 || vs < 0 || !nl || !vl)
            return VG_CORRUPT(err, "%s: offset %llu: postings offset entry %u holds a string missing from the symbol table",
                              ix->file, at, i);
        tsdb__pname_t *last = ix->n_names ? &ix->names[ix->n_names - 1] : NULL;
        if (last && last->name == (uint32_t)ns) {
            if (ix->vals[nv - 1].value >= (uint32_t)vs)
                return VG_CORRUPT(err, "%s: offset %llu: postings offset entry %u is out of order", ix->file, at, i);
            last->n++;
        } else {
            if (last && last->name >= (uint32_t)ns)
                return VG_CORRUPT(err, "%s: offset %llu: postings offset entry %u is out of order", ix->file, at, i);
            ix->names[ix->n_names++] = (tsdb__pname_t){(uint32_t)ns, nv, 1};
        }
        ix->vals[nv++] = (tsdb__pval_t){(uint32_t)vs, po};
    }
    if (p != end)
        return VG_CORRUPT(err, "%s: offset %llu: %zu bytes after the last postings offset entry", ix->file,
                          (unsigned long long)(off + 4 + (uint64_t)(p - c)), (size_t)(end - p));
    return 0;
}

int tsdb__index_open(const uint8_t *b, size_t len, const char *file, tsdb__index_t **out, vg_error_t *err) {
    *out = NULL;
    tsdb__index_t *ix = calloc(1, sizeof *ix);
    if (!ix || !(ix->file = strdup(file))) {
        free(ix);
        return vg_error_set(err, VG_ENOMEM, "%s: out of memory", file);
    }
    ix->b = b;
    ix->len = len;
    int rc = 0;
    if (len < TSDB__INDEX_HDR + TSDB__INDEX_TOC) {
        rc = VG_CORRUPT(err, "%s: %zu bytes, shorter than header and TOC (%d)", file, len, TSDB__INDEX_HDR + TSDB__INDEX_TOC);
    } else if (tsdb__be32(b) != TSDB__INDEX_MAGIC) {
        rc = VG_CORRUPT(err, "%s: offset 0: magic 0x%08x, want 0x%08x", file, tsdb__be32(b), TSDB__INDEX_MAGIC);
    } else if (b[4] != TSDB__INDEX_V2) {
        rc = VG_CORRUPT(err, "%s: offset 4: index version %u, only version 2 is read", file, b[4]);
    } else {
        const uint8_t *t = b + len - TSDB__INDEX_TOC;
        uint32_t want = tsdb__be32(t + 48), got = vg_crc32c(t, 48);
        if (want != got)
            rc = VG_CORRUPT(err, "%s: offset %zu: TOC checksum 0x%08x, computed 0x%08x", file, len - TSDB__INDEX_TOC, want, got);
        static const int order[6] = {TSDB__TOC_SYMBOLS, TSDB__TOC_SERIES, TSDB__TOC_LABEL_INDICES, TSDB__TOC_POSTINGS,
                                     TSDB__TOC_LABEL_OFFSETS, TSDB__TOC_POSTINGS_OFFSETS};
        static const char *const names[6] = {"symbols", "series", "label indices", "label offset table", "postings",
                                             "postings offset table"};
        uint64_t prev = TSDB__INDEX_HDR;
        for (int i = 0; i < 6 && !rc; i++) {
            uint64_t v = tsdb__be64(t + 8 * order[i]);
            ix->toc[order[i]] = v;
            if (v < prev || v > len - TSDB__INDEX_TOC)
                rc = VG_CORRUPT(err, "%s: TOC: %s at %llu, outside %llu..%zu (sections are in file order)", file,
                                names[order[i]], (unsigned long long)v, (unsigned long long)prev, len - TSDB__INDEX_TOC);
            prev = v;
        }
    }
    ix->series_end = ix->toc[TSDB__TOC_LABEL_INDICES];
    if (!rc) rc = read_symbols(ix, err);
    if (!rc) rc = read_postings_table(ix, err);
    const uint8_t *c;
    uint32_t n;
    if (!rc)
        rc = section(ix, ix->toc[TSDB__TOC_LABEL_OFFSETS], ix->toc[TSDB__TOC_POSTINGS_OFFSETS], "label offset table", &c,
                     &n, err);
    if (rc) {
        tsdb__index_close(ix);
        return rc;
    }
    *out = ix;
    return 0;
}

void tsdb__index_close(tsdb__index_t *ix) {
    if (!ix) return;
    if (ix->syms) free((void *)ix->syms[0]);
    free(ix->syms);
    free(ix->sym_len);
    free(ix->names);
    free(ix->vals);
    free(ix->file);
    free(ix);
}

int tsdb__index_postings(const tsdb__index_t *ix, uint64_t off, tsdb__idvec_t *out, vg_error_t *err) {
    const uint8_t *c;
    uint32_t n;
    uint64_t lo = ix->toc[TSDB__TOC_SERIES], hi = ix->series_end;
    int rc = section(ix, off, ix->toc[TSDB__TOC_LABEL_OFFSETS], "postings list", &c, &n, err);
    if (rc) return rc;
    if (n < 4 || n != 4 + 4 * (uint64_t)tsdb__be32(c))
        return VG_CORRUPT(err, "%s: offset %llu: postings list of %u bytes does not hold its count of entries", ix->file,
                          (unsigned long long)off, n);
    uint32_t cnt = tsdb__be32(c);
    if (out->n + cnt > out->cap) {
        size_t cap = out->cap ? out->cap : 64;
        while (cap < out->n + cnt) cap *= 2;
        uint32_t *v = realloc(out->v, cap * sizeof *v);
        if (!v) return vg_error_set(err, VG_ENOMEM, "%s: out of memory", ix->file);
        out->v = v;
        out->cap = cap;
    }
    uint32_t prev = 0;
    for (uint32_t i = 0; i < cnt; i++) {
        uint32_t id = tsdb__be32(c + 4 + 4 * (size_t)i);
        if ((i && id <= prev) || (uint64_t)id * 16 < lo || (uint64_t)id * 16 >= hi)
            return VG_CORRUPT(err, "%s: offset %llu: postings entry %u (series %u) is out of order or outside the series",
                              ix->file, (unsigned long long)off + 8 + 4 * (unsigned long long)i, i, id);
        out->v[out->n++] = prev = id;
    }
    return 0;
}

static bool grow(void **p, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return true;
    size_t c = *cap ? *cap : 8;
    while (c < need) c *= 2;
    void *np = realloc(*p, c * size);
    if (!np) return false;
    *p = np;
    *cap = c;
    return true;
}

int tsdb__index_series(const tsdb__index_t *ix, uint32_t id, model_label_t **labels, size_t *n_labels,
                       size_t *cap_labels, tsdb__chunk_meta_t **chunks, size_t *n_chunks, size_t *cap_chunks,
                       vg_error_t *err) {
    *n_labels = *n_chunks = 0;
    uint64_t off = (uint64_t)id * 16, end = ix->series_end;
    if (off < ix->toc[TSDB__TOC_SERIES] || off >= end)
        return VG_CORRUPT(err, "%s: series %u (offset %llu) is outside the series section", ix->file, id, (unsigned long long)off);
    uint64_t n;
    size_t k = vg_uvarint_get(ix->b + off, ix->b + end, &n);
    if (!k || n > end - off - k || off + k + n + 4 > end)
        return VG_CORRUPT(err, "%s: offset %llu: series entry runs past the series section", ix->file, (unsigned long long)off);
    const uint8_t *p = ix->b + off + k, *e = p + n;
    uint32_t want = tsdb__be32(e), got = vg_crc32c(p, n);
    if (want != got)
        return VG_CORRUPT(err, "%s: offset %llu: series checksum 0x%08x, computed 0x%08x", ix->file,
                          (unsigned long long)off, want, got);
    const char *what = NULL;
    uint64_t nl, nc;
    if (!(k = vg_uvarint_get(p, e, &nl)) || nl > n) {
        what = "bad label count";
        goto bad;
    }
    p += k;
    if (!grow((void **)labels, cap_labels, nl ? nl : 1, sizeof **labels)) goto oom;
    uint64_t prev_name = 0;
    for (uint64_t i = 0; i < nl; i++) {
        uint64_t a, b;
        size_t k1 = vg_uvarint_get(p, e, &a), k2 = k1 ? vg_uvarint_get(p + k1, e, &b) : 0;
        if (!k2) {
            what = "truncated label";
            goto bad;
        }
        p += k1 + k2;
        if (a >= ix->n_syms || b >= ix->n_syms || !ix->sym_len[a] || !ix->sym_len[b]) {
            what = "label symbol out of range or empty";
            goto bad;
        }
        if (i && a <= prev_name) { /* symbol order is string order */
            what = "labels not sorted by name";
            goto bad;
        }
        prev_name = a;
        (*labels)[i] = (model_label_t){ix->syms[a], ix->syms[b]};
        *n_labels = i + 1;
    }
    if (!(k = vg_uvarint_get(p, e, &nc)) || nc > n) {
        what = "bad chunk count";
        goto bad;
    }
    p += k;
    if (!grow((void **)chunks, cap_chunks, nc ? nc : 1, sizeof **chunks)) goto oom;
    tsdb__chunk_meta_t *c = *chunks;
    for (uint64_t i = 0; i < nc; i++) {
        uint64_t a, d, r = 0;
        int64_t s;
        size_t k1, k2, k3;
        if (i == 0) {
            k1 = vg_varint_get(p, e, &s);
            a = (uint64_t)s;
        } else {
            k1 = vg_uvarint_get(p, e, &a);
        }
        k2 = k1 ? vg_uvarint_get(p + k1, e, &d) : 0;
        if (!k2) {
            what = "truncated chunk meta";
            goto bad;
        }
        if (i == 0) {
            k3 = vg_uvarint_get(p + k1 + k2, e, &r);
            c[0].mint = (int64_t)a;
            c[0].ref = r;
        } else {
            int64_t dr = 0;
            k3 = vg_varint_get(p + k1 + k2, e, &dr);
            c[i].mint = (int64_t)((uint64_t)c[i - 1].maxt + a);
            c[i].ref = c[i - 1].ref + (uint64_t)dr;
            if (c[i].mint < c[i - 1].maxt) {
                what = "chunks overlap or wrap around";
                goto bad;
            }
        }
        if (!k3) {
            what = "truncated chunk meta";
            goto bad;
        }
        c[i].maxt = (int64_t)((uint64_t)c[i].mint + d);
        if (c[i].maxt < c[i].mint) {
            what = "chunk maxt before mint";
            goto bad;
        }
        p += k1 + k2 + k3;
        *n_chunks = i + 1;
    }
    if (p != e) {
        what = "bytes left after the chunk metas";
        goto bad;
    }
    return 0;
bad:
    *n_labels = *n_chunks = 0;
    return VG_CORRUPT(err, "%s: offset %llu: series %u: %s", ix->file, (unsigned long long)off, id, what);
oom:
    *n_labels = *n_chunks = 0;
    return vg_error_set(err, VG_ENOMEM, "%s: out of memory", ix->file);
}

int tsdb__index_verify(const tsdb__index_t *ix, vg_error_t *err) {
    tsdb__idvec_t v = {0};
    int rc = 0;
    for (uint32_t i = 0; i < ix->n_names && !rc; i++)
        for (uint32_t j = 0; j < ix->names[i].n && !rc; j++) {
            v.n = 0;
            rc = tsdb__index_postings(ix, ix->vals[ix->names[i].first + j].off, &v, err);
        }
    if (!rc && ix->all_off) {
        v.n = 0;
        rc = tsdb__index_postings(ix, ix->all_off, &v, err);
    }
    tsdb__idvec_free(&v);
    /* the label indices, through the label offset table */
    const uint8_t *c;
    uint32_t n;
    if (!rc) rc = section(ix, ix->toc[TSDB__TOC_LABEL_OFFSETS], ix->toc[TSDB__TOC_POSTINGS_OFFSETS], "label offset table", &c, &n, err);
    if (rc) return rc;
    const uint8_t *p = c + (n >= 4 ? 4 : n), *end = c + n;
    while (p < end && !rc) {
        uint64_t kind, off;
        const uint8_t *s;
        size_t sl, k = vg_uvarint_get(p, end, &kind);
        if (!k || kind != 1 || (p += k, !get_str(&p, end, &s, &sl)) || !(k = vg_uvarint_get(p, end, &off)))
            return VG_CORRUPT(err, "%s: offset %llu: malformed label offset entry", ix->file,
                              (unsigned long long)(p - ix->b));
        p += k;
        const uint8_t *li;
        uint32_t ln;
        if (off < ix->toc[TSDB__TOC_LABEL_INDICES])
            return VG_CORRUPT(err, "%s: label index at %llu is before the label indices", ix->file, (unsigned long long)off);
        rc = section(ix, off, ix->toc[TSDB__TOC_POSTINGS], "label index", &li, &ln, err);
        if (!rc && (ln < 8 || ln != 8 + 4 * (uint64_t)tsdb__be32(li + 4)))
            rc = VG_CORRUPT(err, "%s: offset %llu: label index of %u bytes does not hold its entries", ix->file,
                            (unsigned long long)off, ln);
        for (uint32_t i = 0; !rc && i < (ln - 8) / 4; i++)
            if (tsdb__be32(li + 8 + 4 * i) >= ix->n_syms)
                rc = VG_CORRUPT(err, "%s: offset %llu: label index entry %u names no symbol", ix->file, (unsigned long long)off, i);
    }
    return rc;
}
