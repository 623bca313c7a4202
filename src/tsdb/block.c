/* Persistent blocks: opening (meta.json, index, chunk segments, tombstones), reference counts and
 * deferred deletion, the block querier, verification, and the block writer.
 *
 * Reader invariants: a block's mappings and the strings and labels its index hands out live until the
 * last reference goes; a querier holds one reference from creation to close, so everything it returns
 * stays valid until then whatever the db does (drop the block, mark it deleted). Series ids ascend in
 * label order (the writer's invariant, checked on read: postings are strictly ascending), so a select
 * is sorted without sorting.
 *
 * Writer protocol: new (a directory <ULID>.tmp-for-creation) -> add_chunks/add_samples (chunks
 * streamed to segment files as they come; series kept in memory with their chunk metas) -> commit
 * (index, tombstones, meta.json, fsyncs, rename to <ULID>, fsync of the parent) or abort (directory
 * removed). A crash before the rename leaves only a .tmp-for-creation directory, which is never a
 * block. Layouts: docs/format/blocks.md, docs/format/index.md. */
#include "tsdb/block_int.h"

#include "util/arena.h"
#include "util/fs.h"
#include "util/log.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

struct tsdb__block {
    atomic_int refs;
    atomic_bool deleted;
    char *dir;
    tsdb__block_meta_t meta;
    tsdb__map_t index_map;
    tsdb__index_t *ix;
    tsdb__chunks_t chunks;
    tsdb__stone_t *stones; /* sorted by ref, then mint */
    size_t n_stones;
    uint64_t bytes;
    _Atomic(atomic_ullong *) errors; /* corrupt chunks met by queriers are counted here (may be NULL) */
};

static int oom(vg_error_t *err) { return vg_error_set(err, VG_ENOMEM, "out of memory"); }

static uint64_t file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static void block_free(tsdb__block_t *b) {
    tsdb__index_close(b->ix);
    tsdb__map_close(&b->index_map);
    tsdb__chunks_close(&b->chunks);
    tsdb__block_meta_free(&b->meta);
    free(b->stones);
    free(b->dir);
    free(b);
}

int tsdb__block_open(const char *dir, tsdb__block_t **out, vg_error_t *err) {
    *out = NULL;
    tsdb__block_t *b = calloc(1, sizeof *b);
    if (!b || !(b->dir = strdup(dir))) {
        free(b);
        return oom(err);
    }
    atomic_init(&b->refs, 1);
    atomic_init(&b->deleted, false);
    char path[4200];
    snprintf(path, sizeof path, "%s/meta.json", dir);
    uint8_t *mj;
    size_t mlen;
    int rc = vg_fs_read_file(path, &mj, &mlen, err);
    if (rc == VG_ENOTFOUND) rc = vg_error_set(err, VG_EIO, "%s: missing (not a block directory?)", path);
    if (!rc) {
        rc = tsdb__meta_parse(mj, mlen, path, &b->meta, err);
        free(mj);
    }
    b->bytes = file_size(path);
    if (!rc) {
        snprintf(path, sizeof path, "%s/index", dir);
        rc = tsdb__map_open(path, &b->index_map, err);
        if (rc == VG_ENOTFOUND) rc = VG_EIO;
    }
    if (!rc) rc = tsdb__index_open(b->index_map.p, b->index_map.len, path, &b->ix, err);
    if (!rc) {
        snprintf(path, sizeof path, "%s/chunks", dir);
        rc = tsdb__chunks_open(path, &b->chunks, err);
    }
    if (!rc) rc = tsdb__tombstones_read(dir, &b->stones, &b->n_stones, err);
    if (rc) {
        block_free(b);
        return rc;
    }
    /* the tombstones file is the authority (delete_series adds to it without rewriting meta.json): the
     * compaction planner reads the count from the meta */
    b->meta.n_tombstones = b->n_stones;
    snprintf(path, sizeof path, "%s/tombstones", dir);
    b->bytes += b->index_map.len + tsdb__chunks_bytes(&b->chunks) + file_size(path);
    *out = b;
    return 0;
}

void tsdb__block_ref(tsdb__block_t *b) { atomic_fetch_add(&b->refs, 1); }

void tsdb__block_unref(tsdb__block_t *b) {
    if (!b || atomic_fetch_sub(&b->refs, 1) != 1) return;
    bool del = atomic_load(&b->deleted);
    char *dir = b->dir;
    b->dir = NULL;
    block_free(b);
    if (del) { /* renamed first: a crash mid-removal leaves no half block under its ULID */
        vg_error_t err;
        size_t n = strlen(dir) + sizeof ".tmp-for-deletion";
        char *gone = malloc(n);
        if (gone) snprintf(gone, n, "%s.tmp-for-deletion", dir);
        vg_fs_remove_all(gone && rename(dir, gone) == 0 ? gone : dir, &err);
        free(gone);
    }
    free(dir);
}

void tsdb__block_mark_deleted(tsdb__block_t *b) { atomic_store(&b->deleted, true); }
void tsdb__block_set_error_counter(tsdb__block_t *b, atomic_ullong *counter) { atomic_store(&b->errors, counter); }
const tsdb__block_meta_t *tsdb__block_meta(const tsdb__block_t *b) { return &b->meta; }
const char *tsdb__block_dir(const tsdb__block_t *b) { return b->dir; }
uint64_t tsdb__block_bytes(const tsdb__block_t *b) { return b->bytes; }
const tsdb__index_t *tsdb__block_index(const tsdb__block_t *b) { return b->ix; }
const tsdb__chunks_t *tsdb__block_chunks(const tsdb__block_t *b) { return &b->chunks; }

/* The tombstones of series id (a sub-range of b->stones). */
static const tsdb__stone_t *stones_of(const tsdb__block_t *b, uint32_t id, size_t *n) {
    *n = 0;
    if (!b->n_stones) return NULL;
    size_t lo = 0, hi = b->n_stones;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (b->stones[mid].ref < id) lo = mid + 1;
        else hi = mid;
    }
    size_t e = lo;
    while (e < b->n_stones && b->stones[e].ref == id) e++;
    *n = e - lo;
    return b->stones + lo;
}

const tsdb__stone_t *tsdb__block_stones(const tsdb__block_t *b, uint32_t id, size_t *n) { return stones_of(b, id, n); }

/* The chunk's samples as the in-memory encodings name them, or 0 for an unknown file encoding. */
static uint8_t mem_enc(uint8_t file_enc) {
    return file_enc == TSDB_ENC_XOR ? TSDB_ENC_XOR : file_enc == TSDB_BLOCK_ENC_DENSE ? TSDB_ENC_DENSE : 0;
}

/* ---- querier ---- */

typedef struct bq {
    storage_querier_t base;
    tsdb__block_t *b;
    int64_t mint, maxt;
    vg_arena_t arena;
    model_label_t *lbuf; /* decoding scratch */
    size_t lcap;
    tsdb__chunk_meta_t *cbuf;
    size_t ccap;
} bq_t;

typedef struct bseries {
    uint32_t id;
    const model_label_t *labels;
    size_t n_labels;
    const tsdb__chunk_meta_t *chunks; /* those overlapping [mint, maxt] and not wholly deleted */
    size_t n_chunks;
    const tsdb__stone_t *stones;
    size_t n_stones;
} bseries_t;

typedef struct bit {
    storage_iterator_t base;
    bq_t *q;
    const bseries_t *s;
    size_t ci, si;
    bool in_chunk, done, valid;
    int err;
    int64_t t;
    double v;
    tsdb_chunk_iter_t x;
    char *msg; /* what err means, naming the block (arena) */
} bit_t;

typedef struct bss {
    storage_series_set_t base;
    bq_t *q;
    bseries_t *s;
    size_t n, i;
    bool started;
} bss_t;

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void intersect(tsdb__idvec_t *a, const tsdb__idvec_t *b) {
    size_t i = 0, j = 0, k = 0;
    while (i < a->n && j < b->n) {
        if (a->v[i] < b->v[j]) i++;
        else if (a->v[i] > b->v[j]) j++;
        else a->v[k++] = a->v[i++], j++;
    }
    a->n = k;
}

static void subtract(tsdb__idvec_t *a, const tsdb__idvec_t *b) {
    size_t i = 0, j = 0, k = 0;
    while (i < a->n) {
        while (j < b->n && b->v[j] < a->v[i]) j++;
        if (j < b->n && b->v[j] == a->v[i]) i++;
        else a->v[k++] = a->v[i++];
    }
    a->n = k;
}

static const tsdb__pval_t *find_value(const tsdb__index_t *ix, const tsdb__pname_t *pn, const char *value) {
    int64_t sym = tsdb__index_sym(ix, value);
    if (sym < 0) return NULL;
    size_t lo = pn->first, hi = (size_t)pn->first + pn->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ix->vals[mid].value == (uint32_t)sym) return &ix->vals[mid];
        if (ix->vals[mid].value < (uint32_t)sym) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

/* Ids (sorted) of series whose label is present with a value v where match(v) == want. */
static int ids_for(const tsdb__index_t *ix, const model_matcher_t *m, int want, tsdb__idvec_t *out, vg_error_t *err) {
    out->n = 0;
    const tsdb__pname_t *pn = tsdb__index_name(ix, model_matcher_name(m));
    if (!pn) return 0;
    const char *const *vals;
    size_t nv = want ? model_matcher_set_values(m, &vals) : 0, lists = 0;
    int rc = 0;
    if (nv && (model_matcher_type(m) == MODEL_MATCH_EQ || model_matcher_type(m) == MODEL_MATCH_RE)) {
        for (size_t i = 0; i < nv && !rc; i++) {
            const tsdb__pval_t *pv = find_value(ix, pn, vals[i]);
            if (pv) rc = tsdb__index_postings(ix, pv->off, out, err), lists++;
        }
    } else {
        for (uint32_t i = 0; i < pn->n && !rc; i++) {
            const tsdb__pval_t *pv = &ix->vals[pn->first + i];
            int r = model_matcher_match(m, ix->syms[pv->value]);
            if (r < 0) return model_matcher_error(m, r, err);
            if (r == want) rc = tsdb__index_postings(ix, pv->off, out, err), lists++;
        }
    }
    if (!rc && lists > 1) qsort(out->v, out->n, sizeof *out->v, cmp_u32); /* lists of distinct values are disjoint */
    return rc;
}

static int select_ids(const tsdb__index_t *ix, model_matcher_t *const *ms, size_t n, tsdb__idvec_t *res, vg_error_t *err) {
    tsdb__idvec_t tmp = {0};
    int rc = 0;
    bool any = false;
    for (size_t i = 0; i < n && !rc; i++) {
        if (model_matcher_matches_empty(ms[i])) continue;
        if (!any) {
            rc = ids_for(ix, ms[i], 1, res, err);
            any = true;
        } else if (!(rc = ids_for(ix, ms[i], 1, &tmp, err))) {
            intersect(res, &tmp);
        }
        if (!rc && !res->n) goto done;
    }
    for (size_t i = 0; i < n && !rc; i++) {
        if (!model_matcher_matches_empty(ms[i])) continue;
        if (!any) {
            any = true;
            if (ix->all_off && (rc = tsdb__index_postings(ix, ix->all_off, res, err))) break;
        }
        if (!(rc = ids_for(ix, ms[i], 0, &tmp, err))) subtract(res, &tmp);
    }
    if (!rc && !any && ix->all_off) rc = tsdb__index_postings(ix, ix->all_off, res, err); /* no matchers */
done:
    tsdb__idvec_free(&tmp);
    return rc;
}

static bool deleted_whole(const tsdb__stone_t *st, size_t n, int64_t mint, int64_t maxt) {
    for (size_t i = 0; i < n; i++)
        if (st[i].mint <= mint && st[i].maxt >= maxt) return true;
    return false;
}

/* Series matching ms with chunks in [mint, maxt], in id (= label) order, in the arena. */
static int select_series(bq_t *q, model_matcher_t *const *ms, size_t n, bseries_t **out, size_t *n_out, vg_error_t *err) {
    const tsdb__index_t *ix = q->b->ix;
    tsdb__idvec_t ids = {0};
    int rc = select_ids(ix, ms, n, &ids, err);
    bseries_t *v = rc ? NULL : vg_arena_alloc(&q->arena, (ids.n ? ids.n : 1) * sizeof *v);
    if (!rc && !v) rc = oom(err);
    size_t k = 0;
    for (size_t i = 0; i < ids.n && !rc; i++) {
        size_t nl, nc;
        rc = tsdb__index_series(ix, ids.v[i], &q->lbuf, &nl, &q->lcap, &q->cbuf, &nc, &q->ccap, err);
        if (rc) break;
        size_t nst;
        const tsdb__stone_t *st = stones_of(q->b, ids.v[i], &nst);
        size_t keep = 0;
        for (size_t j = 0; j < nc; j++) {
            const tsdb__chunk_meta_t *c = &q->cbuf[j];
            if (c->maxt < q->mint || c->mint > q->maxt || deleted_whole(st, nst, c->mint, c->maxt)) continue;
            q->cbuf[keep++] = *c;
        }
        if (!keep) continue;
        model_label_t *l = vg_arena_alloc(&q->arena, nl * sizeof *l);
        tsdb__chunk_meta_t *c = vg_arena_alloc(&q->arena, keep * sizeof *c);
        if (!l || !c) {
            rc = oom(err);
            break;
        }
        memcpy(l, q->lbuf, nl * sizeof *l);
        memcpy(c, q->cbuf, keep * sizeof *c);
        v[k++] = (bseries_t){ids.v[i], l, nl, c, keep, st, nst};
    }
    tsdb__idvec_free(&ids);
    if (rc) return rc;
    *out = v;
    *n_out = k;
    return 0;
}

/* Ends the iterator on a corrupt chunk: VG_ECORRUPT, a message naming the block, counted and logged. */
static void corrupt(bit_t *it, const char *what) {
    it->err = VG_ECORRUPT;
    const tsdb__block_t *b = it->q->b;
    char m[VG_ERROR_MSG_MAX];
    int n = snprintf(m, sizeof m, "block %s (%s): %s", b->meta.ulid, b->dir, what);
    it->msg = vg_arena_strndup(&it->q->arena, m, n < 0 ? 0 : (size_t)n < sizeof m ? (size_t)n : sizeof m - 1);
    atomic_ullong *c = atomic_load(&b->errors);
    if (c) atomic_fetch_add(c, 1);
    vg_log_error("tsdb", "corrupt chunk in a block", VG_LS("block", b->meta.ulid), VG_LS("dir", b->dir),
                 VG_LS("error", what));
}

static storage_val_t it_next(storage_iterator_t *base) {
    bit_t *it = (bit_t *)base;
    const bseries_t *s = it->s;
    while (!it->done) {
        if (!it->in_chunk) {
            if (it->ci >= s->n_chunks) break;
            uint8_t enc;
            const uint8_t *data;
            uint32_t len;
            vg_error_t err;
            if (tsdb__chunks_get(&it->q->b->chunks, s->chunks[it->ci].ref, &enc, &data, &len, &err)) {
                corrupt(it, err.msg);
                break;
            }
            if (!mem_enc(enc)) {
                snprintf(err.msg, sizeof err.msg, "chunk %llu: unknown encoding %u",
                         (unsigned long long)s->chunks[it->ci].ref, enc);
                corrupt(it, err.msg);
                break;
            }
            tsdb_chunk_iter_init(&it->x, mem_enc(enc), data, len);
            it->ci++;
            it->in_chunk = true;
        }
        if (tsdb_chunk_iter_next(&it->x)) {
            int64_t t = it->x.t;
            if (t < it->q->mint) continue;
            if (t > it->q->maxt) break;
            while (it->si < s->n_stones && s->stones[it->si].maxt < t) it->si++;
            if (it->si < s->n_stones && s->stones[it->si].mint <= t) continue;
            it->t = t;
            it->v = tsdb_chunk_iter_v_at(&it->x);
            it->valid = true;
            return STORAGE_VAL_FLOAT;
        }
        if (it->x.err) {
            char m[128];
            snprintf(m, sizeof m, "chunk %llu (%lld..%lld) does not decode",
                     (unsigned long long)s->chunks[it->ci - 1].ref, (long long)s->chunks[it->ci - 1].mint,
                     (long long)s->chunks[it->ci - 1].maxt);
            corrupt(it, m);
            it->err = it->x.err;
            break;
        }
        it->in_chunk = false;
    }
    it->done = true;
    it->valid = false;
    return STORAGE_VAL_NONE;
}

static storage_val_t it_seek(storage_iterator_t *base, int64_t t) {
    bit_t *it = (bit_t *)base;
    if (it->done) return STORAGE_VAL_NONE;
    if (it->valid && it->t >= t) return STORAGE_VAL_FLOAT;
    const bseries_t *s = it->s;
    if (!it->in_chunk || (it->ci > 0 && s->chunks[it->ci - 1].maxt < t)) {
        while (it->ci < s->n_chunks && s->chunks[it->ci].maxt < t) it->ci++;
        it->in_chunk = false;
    }
    storage_val_t r;
    while ((r = it_next(base)) == STORAGE_VAL_FLOAT && it->t < t) {
    }
    return r;
}

static void it_at(const storage_iterator_t *base, int64_t *t, double *v) {
    const bit_t *it = (const bit_t *)base;
    *t = it->t;
    *v = it->v;
}

static int it_err(const storage_iterator_t *base) { return ((const bit_t *)base)->err; }
static const char *it_err_msg(const storage_iterator_t *base) { return ((const bit_t *)base)->msg; }

static size_t it_read(storage_iterator_t *base, int64_t maxt, int64_t *ts, double *vs, size_t cap) {
    bit_t *it = (bit_t *)base;
    size_t n = 0;
    while (n < cap && it->valid && it->t <= maxt) {
        ts[n] = it->t;
        vs[n] = it->v;
        n++;
        it_next(base);
    }
    return n;
}

static const storage_iterator_vt it_vt = {.next = it_next, .seek = it_seek, .at = it_at, .err = it_err, .err_msg = it_err_msg, .read = it_read};

static bool ss_next(storage_series_set_t *base) {
    bss_t *ss = (bss_t *)base;
    if (ss->started) ss->i++;
    ss->started = true;
    return ss->i < ss->n;
}

static void ss_labels(storage_series_set_t *base, const model_label_t **l, size_t *n) {
    bss_t *ss = (bss_t *)base;
    *l = ss->s[ss->i].labels;
    *n = ss->s[ss->i].n_labels;
}

static storage_iterator_t *ss_iterator(storage_series_set_t *base, storage_iterator_t *reuse) {
    bss_t *ss = (bss_t *)base;
    if (!ss->started || ss->i >= ss->n) return NULL;
    bit_t *it = (bit_t *)reuse;
    if (!it && !(it = vg_arena_alloc(&ss->q->arena, sizeof *it))) return NULL;
    it->base.vt = &it_vt;
    it->q = ss->q;
    it->s = &ss->s[ss->i];
    it->ci = it->si = 0;
    it->in_chunk = it->done = it->valid = false;
    it->err = 0;
    it->msg = NULL;
    return &it->base;
}

static int ss_err(const storage_series_set_t *base) {
    (void)base;
    return 0;
}

static const storage_series_set_vt ss_vt = {.next = ss_next, .labels = ss_labels, .iterator = ss_iterator, .err = ss_err};

static int q_select(storage_querier_t *base, bool sorted, model_matcher_t *const *ms, size_t n,
                    storage_series_set_t **out, vg_error_t *err) {
    bq_t *q = (bq_t *)base;
    (void)sorted; /* ids ascend in label order */
    *out = NULL;
    bss_t *ss = vg_arena_calloc(&q->arena, 1, sizeof *ss);
    if (!ss) return oom(err);
    int rc = select_series(q, ms, n, &ss->s, &ss->n, err);
    if (rc) return rc;
    ss->base.vt = &ss_vt;
    ss->q = q;
    *out = &ss->base;
    return 0;
}

static int q_label_names(storage_querier_t *base, model_matcher_t *const *ms, size_t n, const char *const **out,
                         size_t *n_out, vg_error_t *err) {
    bq_t *q = (bq_t *)base;
    const tsdb__index_t *ix = q->b->ix;
    *out = NULL;
    *n_out = 0;
    const char **v;
    size_t k = 0;
    if (n == 0) {
        if (!(v = vg_arena_alloc(&q->arena, (ix->n_names ? ix->n_names : 1) * sizeof *v))) return oom(err);
        for (uint32_t i = 0; i < ix->n_names; i++) v[k++] = ix->syms[ix->names[i].name];
        *out = v;
        *n_out = k; /* the table is sorted and distinct */
        return 0;
    }
    bseries_t *s;
    size_t ns, total = 0;
    int rc = select_series(q, ms, n, &s, &ns, err);
    if (rc) return rc;
    for (size_t i = 0; i < ns; i++) total += s[i].n_labels;
    if (!(v = vg_arena_alloc(&q->arena, (total ? total : 1) * sizeof *v))) return oom(err);
    for (size_t i = 0; i < ns; i++)
        for (size_t j = 0; j < s[i].n_labels; j++) v[k++] = s[i].labels[j].name;
    *n_out = tsdb__sort_unique_strs(v, k);
    *out = v;
    return 0;
}

static int q_label_values(storage_querier_t *base, const char *name, model_matcher_t *const *ms, size_t n,
                          const char *const **out, size_t *n_out, vg_error_t *err) {
    bq_t *q = (bq_t *)base;
    const tsdb__index_t *ix = q->b->ix;
    *out = NULL;
    *n_out = 0;
    const char **v;
    size_t k = 0;
    if (n == 0) {
        const tsdb__pname_t *pn = tsdb__index_name(ix, name);
        if (!pn) return 0;
        if (!(v = vg_arena_alloc(&q->arena, pn->n * sizeof *v))) return oom(err);
        for (uint32_t i = 0; i < pn->n; i++) v[k++] = ix->syms[ix->vals[pn->first + i].value];
        *out = v;
        *n_out = k;
        return 0;
    }
    bseries_t *s;
    size_t ns;
    int rc = select_series(q, ms, n, &s, &ns, err);
    if (rc) return rc;
    if (!(v = vg_arena_alloc(&q->arena, (ns ? ns : 1) * sizeof *v))) return oom(err);
    for (size_t i = 0; i < ns; i++) {
        const char *x = model_labels_get(s[i].labels, s[i].n_labels, name);
        if (x) v[k++] = x;
    }
    *n_out = tsdb__sort_unique_strs(v, k);
    *out = v;
    return 0;
}

static void q_close(storage_querier_t *base) {
    bq_t *q = (bq_t *)base;
    vg_arena_deinit(&q->arena);
    free(q->lbuf);
    free(q->cbuf);
    tsdb__block_unref(q->b);
    free(q);
}

static const storage_querier_vt q_vt = {
    .select = q_select, .label_names = q_label_names, .label_values = q_label_values, .close = q_close};

int tsdb__block_querier(tsdb__block_t *b, int64_t mint, int64_t maxt, storage_querier_t **out, vg_error_t *err) {
    *out = NULL;
    bq_t *q = calloc(1, sizeof *q);
    if (!q) return oom(err);
    q->base.vt = &q_vt;
    q->b = b;
    q->mint = mint;
    q->maxt = maxt;
    vg_arena_init(&q->arena, 64 * 1024);
    tsdb__block_ref(b);
    *out = &q->base;
    return 0;
}

/* ---- verify ---- */

int tsdb__block_verify(tsdb__block_t *b, vg_error_t *err) {
    const tsdb__index_t *ix = b->ix;
    int rc = tsdb__index_verify(ix, err);
    if (rc) return rc;
    tsdb__idvec_t ids = {0};
    model_label_t *l = NULL;
    tsdb__chunk_meta_t *c = NULL;
    size_t lcap = 0, ccap = 0, nl, nc;
    uint64_t samples = 0, chunks = 0;
    tsdb_chunk_iter_t *x = malloc(sizeof *x);
    if (!x) return oom(err);
    if (ix->all_off) rc = tsdb__index_postings(ix, ix->all_off, &ids, err);
    for (size_t i = 0; i < ids.n && !rc; i++) {
        if ((rc = tsdb__index_series(ix, ids.v[i], &l, &nl, &lcap, &c, &nc, &ccap, err))) break;
        for (size_t j = 0; j < nc && !rc; j++) {
            uint8_t enc;
            const uint8_t *data;
            uint32_t len;
            if ((rc = tsdb__chunks_get(&b->chunks, c[j].ref, &enc, &data, &len, err))) break;
            if (!mem_enc(enc)) {
                rc = VG_CORRUPT(err, "%s: chunk 0x%llx: unknown encoding %u", b->dir, (unsigned long long)c[j].ref, enc);
                break;
            }
            tsdb_chunk_iter_init(x, mem_enc(enc), data, len);
            int64_t first = 0, last = 0;
            uint64_t k = 0;
            while (tsdb_chunk_iter_next(x)) {
                if (!k) first = x->t;
                if (k && x->t <= last) break;
                last = x->t;
                k++;
            }
            if (x->err || !k)
                rc = VG_CORRUPT(err, "%s: chunk 0x%llx does not decode", b->dir, (unsigned long long)c[j].ref);
            else if (first != c[j].mint || last != c[j].maxt)
                rc = VG_CORRUPT(err, "%s: chunk 0x%llx holds %lld..%lld, the index says %lld..%lld", b->dir,
                                (unsigned long long)c[j].ref, (long long)first, (long long)last, (long long)c[j].mint,
                                (long long)c[j].maxt);
            else if (first < b->meta.mint || last >= b->meta.maxt)
                rc = VG_CORRUPT(err, "%s: chunk 0x%llx holds samples outside the block's range [%lld, %lld)", b->dir,
                                (unsigned long long)c[j].ref, (long long)b->meta.mint, (long long)b->meta.maxt);
            samples += k;
            chunks++;
        }
    }
    if (!rc && (b->meta.n_series && b->meta.n_series != ids.n))
        rc = VG_CORRUPT(err, "%s: meta.json counts %llu series, the index holds %zu", b->dir,
                        (unsigned long long)b->meta.n_series, ids.n);
    if (!rc && b->meta.n_chunks && b->meta.n_chunks != chunks)
        rc = VG_CORRUPT(err, "%s: meta.json counts %llu chunks, the index references %llu", b->dir,
                        (unsigned long long)b->meta.n_chunks, (unsigned long long)chunks);
    if (!rc && b->meta.n_samples && b->meta.n_samples != samples)
        rc = VG_CORRUPT(err, "%s: meta.json counts %llu samples, the chunks hold %llu", b->dir,
                        (unsigned long long)b->meta.n_samples, (unsigned long long)samples);
    free(x);
    free(l);
    free(c);
    tsdb__idvec_free(&ids);
    return rc;
}

/* ---- writer ---- */

struct tsdb__block_writer {
    char *tmp, *final, *parent;
    tsdb__block_meta_t meta;
    tsdb__block_meta_t *pmeta; /* mint/maxt of each parent, for meta.json */
    uint8_t enc;
    tsdb__chunk_writer_t cw;
    tsdb__wseries_t *series;
    size_t n, cap;
};

static char *join(const char *a, const char *b, const char *c) {
    size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s%s%s", a, b, c);
    return s;
}

static int cmp_ulid(const void *a, const void *b) { return strcmp(a, b); }

static void writer_free(tsdb__block_writer_t *w) {
    tsdb__chunk_writer_deinit(&w->cw);
    for (size_t i = 0; i < w->n; i++) {
        free(w->series[i].labels);
        free(w->series[i].chunks);
    }
    free(w->series);
    tsdb__block_meta_free(&w->meta);
    free(w->pmeta);
    free(w->tmp);
    free(w->final);
    free(w->parent);
    free(w);
}

int tsdb__block_writer_new(const char *parent_dir, const tsdb__block_writer_opts_t *o, tsdb__block_writer_t **out,
                           vg_error_t *err) {
    *out = NULL;
    if (o->mint >= o->maxt)
        return vg_error_set(err, VG_EINVAL, "block range [%lld, %lld) is empty", (long long)o->mint, (long long)o->maxt);
    if (o->encoding != TSDB_ENC_XOR && o->encoding != TSDB_ENC_DENSE)
        return vg_error_set(err, VG_EINVAL, "block encoding %u is neither XOR nor dense", o->encoding);
    tsdb__block_writer_t *w = calloc(1, sizeof *w);
    if (!w) return oom(err);
    w->cw.fd = -1;
    w->enc = o->encoding;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    tsdb__ulid_new((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, w->meta.ulid);
    w->meta.mint = o->mint;
    w->meta.maxt = o->maxt;
    int level = 1;
    size_t ns = 0;
    for (size_t i = 0; i < o->n_parents; i++) {
        if (o->parents[i]->level + 1 > level) level = o->parents[i]->level + 1;
        ns += o->parents[i]->n_sources;
    }
    w->meta.level = o->level > 0 ? o->level : level;
    w->meta.sources = calloc(ns ? ns : 1, sizeof *w->meta.sources);
    w->meta.parents = calloc(o->n_parents ? o->n_parents : 1, sizeof *w->meta.parents);
    w->pmeta = calloc(o->n_parents ? o->n_parents : 1, sizeof *w->pmeta);
    w->tmp = join(parent_dir, "/", w->meta.ulid);
    w->final = w->tmp ? strdup(w->tmp) : NULL;
    w->parent = strdup(parent_dir);
    char *t = w->tmp ? join(w->tmp, ".tmp-for-creation", "") : NULL;
    free(w->tmp);
    w->tmp = t;
    if (!w->meta.sources || !w->meta.parents || !w->pmeta || !w->tmp || !w->final || !w->parent) {
        writer_free(w);
        return oom(err);
    }
    if (o->n_parents) {
        for (size_t i = 0; i < o->n_parents; i++) {
            memcpy(w->meta.sources + w->meta.n_sources, o->parents[i]->sources,
                   o->parents[i]->n_sources * sizeof *w->meta.sources);
            w->meta.n_sources += o->parents[i]->n_sources;
            memcpy(w->meta.parents[i], o->parents[i]->ulid, sizeof w->meta.parents[i]);
            w->pmeta[i].mint = o->parents[i]->mint;
            w->pmeta[i].maxt = o->parents[i]->maxt;
        }
        w->meta.n_parents = o->n_parents;
        qsort(w->meta.sources, w->meta.n_sources, sizeof *w->meta.sources, cmp_ulid);
        size_t k = 0;
        for (size_t i = 0; i < w->meta.n_sources; i++)
            if (!k || strcmp(w->meta.sources[k - 1], w->meta.sources[i])) memmove(w->meta.sources[k++], w->meta.sources[i], sizeof *w->meta.sources);
        w->meta.n_sources = k;
    } else {
        memcpy(w->meta.sources[0], w->meta.ulid, sizeof w->meta.ulid);
        w->meta.n_sources = 1;
    }
    int rc = vg_fs_mkdir_p(parent_dir, err);
    if (!rc && mkdir(w->tmp, 0755) != 0) rc = vg_error_set(err, VG_EIO, "mkdir %s: %s", w->tmp, strerror(errno));
    char *cdir = rc ? NULL : join(w->tmp, "/chunks", "");
    if (!rc && !cdir) rc = oom(err);
    if (!rc) rc = tsdb__chunk_writer_init(&w->cw, cdir, o->segment_bytes, err);
    free(cdir);
    if (rc) {
        tsdb__block_writer_abort(w);
        return rc;
    }
    *out = w;
    return 0;
}

/* Encodes n samples as one XOR chunk into out (TSDB_CHUNK_MAX_BYTES). Returns its length or 0. */
static size_t xor_encode(const int64_t *t, const uint64_t *v, size_t n, uint8_t *out) {
    tsdb_xor_enc_t e;
    tsdb_xor_enc_init(&e);
    size_t len = 0;
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        union {
            uint64_t u;
            double d;
        } c = {.u = v[i]};
        ok = tsdb_xor_enc_append(&e, t[i], c.d) == 0;
    }
    if (ok && (len = tsdb_xor_enc_len(&e)) <= TSDB_CHUNK_MAX_BYTES) memcpy(out, e.buf, len);
    else len = 0;
    tsdb_xor_enc_deinit(&e);
    return len;
}

static int cmp_label_name(const void *a, const void *b) {
    return strcmp(((const model_label_t *)a)->name, ((const model_label_t *)b)->name);
}

int tsdb__block_writer_add_chunks(tsdb__block_writer_t *w, const model_label_t *l, size_t n_labels,
                                  const tsdb__chunk_in_t *chunks, size_t n_chunks, vg_error_t *err) {
    if (!n_labels) return vg_error_set(err, VG_EINVAL, "a series without labels");
    for (size_t i = 0; i < n_labels; i++)
        if (!l[i].name[0] || !l[i].value[0])
            return vg_error_set(err, VG_EINVAL, "a label with an empty name or value");
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 256;
        tsdb__wseries_t *s = realloc(w->series, cap * sizeof *s);
        if (!s) return oom(err);
        w->series = s;
        w->cap = cap;
    }
    tsdb__wseries_t *s = &w->series[w->n];
    memset(s, 0, sizeof *s);
    if (!(s->labels = model_labels_dup(l, n_labels))) return oom(err);
    s->n_labels = n_labels;
    qsort(s->labels, n_labels, sizeof *s->labels, cmp_label_name);
    for (size_t i = 1; i < n_labels; i++)
        if (!strcmp(s->labels[i - 1].name, s->labels[i].name)) {
            free(s->labels);
            return vg_error_set(err, VG_EINVAL, "label name %s appears twice", s->labels[i].name);
        }
    if (!(s->chunks = malloc((n_chunks ? n_chunks : 1) * sizeof *s->chunks))) {
        free(s->labels);
        return oom(err);
    }
    int64_t *ts = malloc(65536 * sizeof *ts);
    uint64_t *vs = malloc(65536 * sizeof *vs);
    uint8_t *buf = malloc(TSDB_CHUNK_MAX_BYTES);
    tsdb_chunk_iter_t *x = malloc(sizeof *x);
    int rc = ts && vs && buf && x ? 0 : oom(err);
    int64_t prev = INT64_MIN;
    uint64_t samples = 0;
    for (size_t i = 0; i < n_chunks && !rc; i++) {
        const tsdb__chunk_in_t *c = &chunks[i];
        if (c->enc != TSDB_ENC_XOR && c->enc != TSDB_ENC_DENSE) {
            rc = vg_error_set(err, VG_EINVAL, "chunk %zu: encoding %u is neither XOR nor dense", i, c->enc);
            break;
        }
        tsdb_chunk_iter_init(x, c->enc, c->data, c->len);
        size_t n = 0;
        while (n < 65536 && tsdb_chunk_iter_next(x)) {
            ts[n] = x->t;
            vs[n++] = x->v;
            if ((n > 1 || s->n_chunks) && ts[n - 1] <= prev) {
                rc = vg_error_set(err, VG_EINVAL, "chunk %zu: sample at %lld is not after %lld (chunks must be in time "
                                  "order and not overlap)", i, (long long)ts[n - 1], (long long)prev);
                break;
            }
            prev = ts[n - 1];
            if (prev < w->meta.mint || prev >= w->meta.maxt) {
                rc = vg_error_set(err, VG_EINVAL, "chunk %zu: sample at %lld is outside the block's range [%lld, %lld)",
                                  i, (long long)prev, (long long)w->meta.mint, (long long)w->meta.maxt);
                break;
            }
        }
        if (!rc && x->err) rc = vg_error_set(err, VG_ECORRUPT, "chunk %zu does not decode", i);
        if (rc || !n) continue; /* an empty chunk holds nothing to keep */
        const uint8_t *data = c->data;
        uint32_t len = c->len;
        uint8_t fenc = c->enc == TSDB_ENC_DENSE ? TSDB_BLOCK_ENC_DENSE : TSDB_ENC_XOR;
        if (w->enc == TSDB_ENC_XOR && c->enc == TSDB_ENC_DENSE) {
            if (!(len = (uint32_t)xor_encode(ts, vs, n, buf))) {
                rc = vg_error_set(err, VG_ENOMEM, "chunk %zu: cannot re-encode as XOR", i);
                break;
            }
            data = buf;
            fenc = TSDB_ENC_XOR;
        } else if (w->enc == TSDB_ENC_DENSE && c->enc == TSDB_ENC_XOR) {
            size_t dl = tsdb_chunk_densify(c->data, c->len, buf, TSDB_CHUNK_MAX_BYTES);
            if (dl) data = buf, len = (uint32_t)dl, fenc = TSDB_BLOCK_ENC_DENSE;
        }
        uint64_t ref;
        if ((rc = tsdb__chunk_writer_put(&w->cw, fenc, data, len, &ref, err))) break;
        if (fenc == TSDB_BLOCK_ENC_DENSE) w->meta.dense = true;
        s->chunks[s->n_chunks++] = (tsdb__chunk_meta_t){ts[0], ts[n - 1], ref};
        samples += n;
    }
    free(ts);
    free(vs);
    free(buf);
    free(x);
    if (rc || !s->n_chunks) { /* a series without samples is not written; chunks already written stay unreferenced */
        free(s->labels);
        free(s->chunks);
        return rc;
    }
    w->meta.n_samples += samples;
    w->meta.n_chunks += s->n_chunks;
    w->n++;
    return 0;
}

int tsdb__block_writer_add_samples(tsdb__block_writer_t *w, const model_label_t *l, size_t n_labels,
                                   const int64_t *t, const double *v, size_t n, vg_error_t *err) {
    size_t nc = (n + TSDB_CHUNK_MAX_SAMPLES - 1) / TSDB_CHUNK_MAX_SAMPLES;
    tsdb__chunk_in_t *in = calloc(nc ? nc : 1, sizeof *in);
    uint8_t *bufs = malloc((nc ? nc : 1) * (size_t)TSDB_CHUNK_MAX_BYTES);
    if (!in || !bufs) {
        free(in);
        free(bufs);
        return oom(err);
    }
    int rc = 0;
    for (size_t i = 0; i < n; i++)
        if (i && t[i] <= t[i - 1]) {
            rc = vg_error_set(err, VG_EINVAL, "sample %zu at %lld is not after %lld", i, (long long)t[i], (long long)t[i - 1]);
            break;
        }
    for (size_t c = 0; c < nc && !rc; c++) {
        size_t a = c * TSDB_CHUNK_MAX_SAMPLES, k = n - a < TSDB_CHUNK_MAX_SAMPLES ? n - a : TSDB_CHUNK_MAX_SAMPLES;
        uint8_t *out = bufs + c * (size_t)TSDB_CHUNK_MAX_BYTES;
        size_t len = xor_encode(t + a, (const uint64_t *)(const void *)(v + a), k, out);
        if (!len) rc = oom(err);
        in[c] = (tsdb__chunk_in_t){t[a], t[a + k - 1], TSDB_ENC_XOR, out, (uint32_t)len};
    }
    if (!rc) rc = tsdb__block_writer_add_chunks(w, l, n_labels, in, nc, err);
    free(in);
    free(bufs);
    return rc;
}

static int cmp_wseries(const void *a, const void *b) {
    const tsdb__wseries_t *x = a, *y = b;
    return model_labels_cmp(x->labels, x->n_labels, y->labels, y->n_labels);
}

int tsdb__block_writer_commit(tsdb__block_writer_t *w, tsdb__block_meta_t *meta_out, vg_error_t *err) {
    if (meta_out) memset(meta_out, 0, sizeof *meta_out);
    if (!w->n) {
        tsdb__block_writer_abort(w);
        return vg_error_set(err, VG_ENOTFOUND, "the block holds no series");
    }
    int rc = tsdb__chunk_writer_finish(&w->cw, err);
    qsort(w->series, w->n, sizeof *w->series, cmp_wseries);
    for (size_t i = 1; i < w->n && !rc; i++)
        if (!cmp_wseries(&w->series[i - 1], &w->series[i])) {
            char buf[512];
            model_labels_format(w->series[i].labels, w->series[i].n_labels, buf, sizeof buf);
            rc = vg_error_set(err, VG_EINVAL, "series %s was added twice", buf);
        }
    char path[4200];
    snprintf(path, sizeof path, "%s/index", w->tmp);
    if (!rc) rc = tsdb__index_write(path, w->series, w->n, err);
    w->meta.n_series = w->n;
    if (!rc) rc = tsdb__tombstones_write(w->tmp, NULL, 0, err);
    const tsdb__block_meta_t **pm = NULL;
    if (!rc && w->meta.n_parents) {
        if (!(pm = malloc(w->meta.n_parents * sizeof *pm))) rc = oom(err);
        for (size_t i = 0; pm && i < w->meta.n_parents; i++) pm[i] = &w->pmeta[i];
    }
    if (!rc) rc = tsdb__meta_write(w->tmp, &w->meta, pm, err);
    free(pm);
    if (!rc) rc = vg_fs_fsync_dir(w->tmp, err);
    if (!rc && rename(w->tmp, w->final) != 0)
        rc = vg_error_set(err, VG_EIO, "rename %s to %s: %s", w->tmp, w->final, strerror(errno));
    if (!rc) rc = vg_fs_fsync_dir(w->parent, err);
    if (rc) {
        tsdb__block_writer_abort(w);
        return rc;
    }
    if (meta_out) {
        *meta_out = w->meta;
        w->meta.sources = w->meta.parents = NULL;
        w->meta.n_sources = w->meta.n_parents = 0;
    }
    writer_free(w);
    return 0;
}

void tsdb__block_writer_abort(tsdb__block_writer_t *w) {
    if (!w) return;
    tsdb__chunk_writer_deinit(&w->cw);
    if (w->tmp) {
        vg_error_t err;
        vg_fs_remove_all(w->tmp, &err);
    }
    writer_free(w);
}

/* ---- deletion (tombstones) and rewriting ---- */

/* Replaces dir/tombstones with s[0..n) atomically: written in a scratch directory, renamed over the
 * old file, the directory fsynced. */
static int stones_replace(const char *dir, const tsdb__stone_t *s, size_t n, vg_error_t *err) {
    char tmp[4200], from[4300], to[4200];
    snprintf(tmp, sizeof tmp, "%s/tombstones.tmp-for-creation", dir);
    vg_fs_remove_all(tmp, err);
    if (mkdir(tmp, 0755) != 0) return vg_error_set(err, VG_EIO, "mkdir %s: %s", tmp, strerror(errno));
    int rc = tsdb__tombstones_write(tmp, s, n, err);
    snprintf(from, sizeof from, "%s/tombstones", tmp);
    snprintf(to, sizeof to, "%s/tombstones", dir);
    if (!rc && rename(from, to) != 0) rc = vg_error_set(err, VG_EIO, "rename %s to %s: %s", from, to, strerror(errno));
    if (!rc) rc = vg_fs_fsync_dir(dir, err);
    vg_error_t e2;
    vg_fs_remove_all(tmp, &e2);
    return rc;
}

int tsdb__block_delete(tsdb__block_t *b, model_matcher_t *const *ms, size_t n, int64_t mint, int64_t maxt,
                       tsdb__block_t **out, uint64_t *n_series, vg_error_t *err) {
    *out = NULL;
    *n_series = 0;
    if (mint < b->meta.mint) mint = b->meta.mint;
    if (maxt > b->meta.maxt - 1) maxt = b->meta.maxt - 1;
    if (mint > maxt) return 0;
    tsdb__idvec_t ids = {0};
    int rc = select_ids(b->ix, ms, n, &ids, err);
    tsdb__stone_t *all = NULL;
    size_t k = 0;
    if (!rc && !(all = malloc((b->n_stones + ids.n + 1) * sizeof *all))) rc = oom(err);
    if (all && b->n_stones) memcpy(all, b->stones, b->n_stones * sizeof *all), k = b->n_stones;
    model_label_t *l = NULL;
    tsdb__chunk_meta_t *c = NULL;
    size_t lcap = 0, ccap = 0;
    for (size_t i = 0; i < ids.n && !rc; i++) {
        size_t nl, nc, nst;
        if ((rc = tsdb__index_series(b->ix, ids.v[i], &l, &nl, &lcap, &c, &nc, &ccap, err))) break;
        const tsdb__stone_t *st = stones_of(b, ids.v[i], &nst);
        bool live = false; /* a chunk in the range not already deleted */
        for (size_t j = 0; j < nc && !live; j++)
            live = c[j].maxt >= mint && c[j].mint <= maxt &&
                   !deleted_whole(st, nst, c[j].mint > mint ? c[j].mint : mint, c[j].maxt < maxt ? c[j].maxt : maxt);
        if (!live) continue;
        all[k++] = (tsdb__stone_t){ids.v[i], mint, maxt};
        ++*n_series;
    }
    free(l);
    free(c);
    tsdb__idvec_free(&ids);
    if (!rc && *n_series) rc = stones_replace(b->dir, all, k, err);
    free(all);
    if (!rc && *n_series) rc = tsdb__block_open(b->dir, out, err);
    return rc;
}

int tsdb__block_rewrite(tsdb__block_t *b, const char *dst, uint8_t enc, tsdb__block_meta_t *out, vg_error_t *err) {
    const tsdb__block_meta_t *m = tsdb__block_meta(b);
    tsdb__block_writer_opts_t o = {.mint = m->mint, .maxt = m->maxt, .encoding = enc, .level = m->level};
    tsdb__block_writer_t *w;
    int rc = tsdb__block_writer_new(dst, &o, &w, err);
    if (rc) return rc;
    storage_querier_t *q = NULL;
    storage_series_set_t *ss;
    if (!(rc = tsdb__block_querier(b, INT64_MIN, INT64_MAX, &q, err))) rc = storage_select(q, true, NULL, 0, &ss, err);
    int64_t *t = NULL;
    double *v = NULL;
    size_t cap = 0;
    storage_iterator_t *it = NULL;
    while (!rc && ss->vt->next(ss)) {
        const model_label_t *l;
        size_t nl, n = 0;
        ss->vt->labels(ss, &l, &nl);
        it = ss->vt->iterator(ss, it);
        while (it && it->vt->next(it) == STORAGE_VAL_FLOAT) {
            if (n == cap) {
                cap = cap ? cap * 2 : 1024;
                int64_t *nt = realloc(t, cap * sizeof *t);
                double *nv = nt ? realloc(v, cap * sizeof *v) : NULL;
                if (nt) t = nt;
                if (nv) v = nv;
                if (!nt || !nv) {
                    rc = oom(err);
                    break;
                }
            }
            it->vt->at(it, &t[n], &v[n]);
            n++;
        }
        if (!rc && (!it || it->vt->err(it)))
            rc = vg_error_set(err, VG_ECORRUPT, "%s: a chunk does not decode (run vigil tsdb verify)", tsdb__block_dir(b));
        if (!rc && n) rc = tsdb__block_writer_add_samples(w, l, nl, t, v, n, err);
    }
    free(t);
    free(v);
    storage_querier_close(q);
    if (rc) {
        tsdb__block_writer_abort(w);
        return rc;
    }
    return tsdb__block_writer_commit(w, out, err);
}

size_t tsdb__block_n_stones(const tsdb__block_t *b) { return b->n_stones; }
