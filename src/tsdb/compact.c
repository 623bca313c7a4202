/* Compaction of persistent blocks: the leveled planner (which blocks to merge next) and the merge of
 * several blocks into one new block, after Prometheus' leveled compactor.
 *
 * Planner invariants: it reads metas only, so it is a pure function of the block list; the newest
 * block is never chosen for a level or tombstone compaction (it may still be read by a backup, and a
 * block of the same range may follow it), only for a vertical one; a level group lies inside one
 * aligned range of the next size, so levels never straddle range edges and a block of range R is
 * compacted at most once per larger range.
 *
 * Merge protocol: the parents' series are walked side by side in label order (block series ids
 * ascend in label order), each series once. A series whose chunks, taken from every parent holding
 * it, neither overlap in time nor carry a tombstone is written chunk by chunk (the writer re-encodes
 * a chunk only when the block's encoding asks); otherwise its samples are decoded, tombstones
 * applied, merged by time and de-duplicated (the first parent in mint order wins a timestamp). The
 * new block appears only by the writer's atomic rename; the caller publishes it and retires the
 * parents, and a crash between the two is repaired at open (a block listed as another's parent is
 * deleted). Layout: docs/format/blocks.md. */
#include "tsdb/compact.h"

#include "tsdb/block_int.h"
#include "tsdb/chunkenc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t tsdb__compact_ranges(int64_t block_ms, int64_t retention_ms, int64_t out[TSDB_COMPACT_MAX_RANGES]) {
    int64_t cap = TSDB_COMPACT_MAX_BLOCK_MS;
    if (retention_ms > 0 && retention_ms / 10 < cap) cap = retention_ms / 10;
    size_t n = 0;
    int64_t r = block_ms;
    for (size_t i = 0; i < TSDB_COMPACT_MAX_RANGES; i++) {
        if (i > 0 && r > cap) break;
        out[n++] = r;
        if (__builtin_mul_overflow(r, 3, &r)) break;
    }
    return n;
}

/* ---- planner ---- */

static size_t select_overlapping(const tsdb__block_meta_t *const *m, size_t n, size_t *sel) {
    size_t k = 0;
    if (n < 2) return 0;
    int64_t gmax = m[0]->maxt;
    for (size_t i = 1; i < n; i++) {
        if (m[i]->mint < gmax) {
            if (!k) sel[k++] = i - 1;
            sel[k++] = i;
        } else if (k) {
            break;
        }
        if (m[i]->maxt > gmax) gmax = m[i]->maxt;
    }
    return k;
}

/* Start of the aligned range of size tr holding t (floor for negative times). */
static int64_t range_start(int64_t t, int64_t tr) { return t >= 0 ? tr * (t / tr) : tr * ((t - tr + 1) / tr); }

/* Among m[0..n) (the newest block already left out), the first group for a range after the first. */
static size_t select_level(const tsdb__block_meta_t *const *m, size_t n, const int64_t *ranges, size_t n_ranges,
                           size_t *sel) {
    if (n_ranges < 2 || n < 1) return 0;
    int64_t high = m[n - 1]->mint;
    for (size_t r = 1; r < n_ranges; r++) {
        int64_t tr = ranges[r];
        for (size_t i = 0; i < n;) {
            int64_t t0 = range_start(m[i]->mint, tr);
            if (m[i]->maxt > t0 + tr) { /* does not fit an aligned range of this size */
                i++;
                continue;
            }
            size_t first = i;
            while (i < n && m[i]->mint >= t0 && m[i]->maxt <= t0 + tr) i++;
            size_t cnt = i - first;
            int64_t mint = m[first]->mint, maxt = m[i - 1]->maxt;
            if (cnt > 1 && (maxt - mint == tr || maxt <= high)) {
                for (size_t k = 0; k < cnt; k++) sel[k] = first + k;
                return cnt;
            }
        }
    }
    return 0;
}

tsdb_plan_kind_t tsdb__compact_plan(const tsdb__block_meta_t *const *m, size_t n, const int64_t *ranges,
                                    size_t n_ranges, size_t *sel, size_t *n_sel) {
    *n_sel = select_overlapping(m, n, sel);
    if (*n_sel) return TSDB_PLAN_VERTICAL;
    if (n < 2) return TSDB_PLAN_NONE;
    n--; /* the newest block waits */
    if ((*n_sel = select_level(m, n, ranges, n_ranges, sel))) return TSDB_PLAN_LEVEL;
    int64_t mid = n_ranges ? ranges[n_ranges / 2] : INT64_MAX;
    for (size_t i = n; i-- > 0;) {
        const tsdb__block_meta_t *b = m[i];
        if (b->maxt - b->mint < mid) {
            if (b->n_tombstones > 0 && b->n_tombstones >= b->n_series) {
                sel[0] = i, *n_sel = 1;
                return TSDB_PLAN_TOMBSTONES;
            }
            break;
        }
        if ((double)b->n_tombstones / (double)(b->n_series + 1) > 0.05) {
            sel[0] = i, *n_sel = 1;
            return TSDB_PLAN_TOMBSTONES;
        }
    }
    return TSDB_PLAN_NONE;
}

/* ---- merge ---- */

typedef struct cursor {
    tsdb__block_t *b;
    const tsdb__index_t *ix;
    tsdb__idvec_t ids;
    size_t pos;
    uint32_t id;
    model_label_t *l; /* strings borrowed from the index */
    size_t nl, lcap;
    tsdb__chunk_meta_t *c;
    size_t nc, ccap;
    bool have;
} cursor_t;

typedef struct gchunk {
    tsdb__chunk_in_t in;
    size_t src;
    bool partial; /* a tombstone deletes some of its samples */
} gchunk_t;

typedef struct sample {
    int64_t t;
    double v;
    size_t src;
} sample_t;

typedef struct merger {
    cursor_t *cur;
    size_t n;
    gchunk_t *g;
    size_t ng, gcap;
    tsdb__chunk_in_t *in;
    size_t incap;
    sample_t *s;
    size_t ns, scap;
    int64_t *t;
    double *v;
    size_t tvcap;
    tsdb_chunk_iter_t it;
    tsdb__compact_stats_t st;
} merger_t;

static int oom(vg_error_t *err) { return vg_error_set(err, VG_ENOMEM, "out of memory"); }

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap : 64;
    while (nc < need) nc *= 2;
    void *np = realloc(*p, nc * elem);
    if (!np) return VG_ENOMEM;
    *p = np;
    *cap = nc;
    return 0;
}

static const char *block_name(const cursor_t *c) { return tsdb__block_meta(c->b)->ulid; }

/* Prefixes err's message with the block's ULID (rc returned). */
static int in_block(vg_error_t *err, int rc, const char *ulid) {
    char msg[VG_ERROR_MSG_MAX];
    snprintf(msg, sizeof msg, "%s", err ? err->msg : vg_error_str(rc));
    return vg_error_set(err, rc, "block %s: %s", ulid, msg);
}

static int cursor_next(cursor_t *c, vg_error_t *err) {
    c->have = false;
    if (c->pos >= c->ids.n) return 0;
    c->id = c->ids.v[c->pos++];
    int rc = tsdb__index_series(c->ix, c->id, &c->l, &c->nl, &c->lcap, &c->c, &c->nc, &c->ccap, err);
    if (rc) return rc;
    c->have = true;
    return 0;
}

static bool in_stones(const tsdb__stone_t *st, size_t n, int64_t t) {
    for (size_t i = 0; i < n; i++)
        if (st[i].mint <= t && t <= st[i].maxt) return true;
    return false;
}

static int cmp_gchunk(const void *a, const void *b) {
    const gchunk_t *x = a, *y = b;
    if (x->in.mint != y->in.mint) return x->in.mint < y->in.mint ? -1 : 1;
    return x->src < y->src ? -1 : x->src > y->src;
}

static int cmp_sample(const void *a, const void *b) {
    const sample_t *x = a, *y = b;
    if (x->t != y->t) return x->t < y->t ? -1 : 1;
    return x->src < y->src ? -1 : x->src > y->src;
}

/* Gathers the chunks of the series every cursor in `on` holds (not wholly deleted). */
static int gather(merger_t *mg, const bool *on, bool *need_merge, vg_error_t *err) {
    mg->ng = 0;
    *need_merge = false;
    for (size_t i = 0; i < mg->n; i++) {
        if (!on[i]) continue;
        cursor_t *c = &mg->cur[i];
        size_t nst;
        const tsdb__stone_t *st = tsdb__block_stones(c->b, c->id, &nst);
        for (size_t k = 0; k < c->nc; k++) {
            const tsdb__chunk_meta_t *cm = &c->c[k];
            bool whole = false, partial = false;
            for (size_t s = 0; s < nst; s++) {
                if (st[s].mint <= cm->mint && st[s].maxt >= cm->maxt) whole = true;
                else if (st[s].mint <= cm->maxt && st[s].maxt >= cm->mint) partial = true;
            }
            if (whole) continue;
            uint8_t fenc;
            const uint8_t *data;
            uint32_t len;
            int rc = tsdb__chunks_get(tsdb__block_chunks(c->b), cm->ref, &fenc, &data, &len, err);
            if (rc) return in_block(err, rc, block_name(c));
            uint8_t enc = fenc == TSDB_ENC_XOR ? TSDB_ENC_XOR : fenc == TSDB_BLOCK_ENC_DENSE ? TSDB_ENC_DENSE : 0;
            if (!enc)
                return vg_error_set(err, VG_ECORRUPT, "block %s: chunk %llu has unknown encoding %u", block_name(c),
                                    (unsigned long long)cm->ref, fenc);
            if (grow((void **)&mg->g, &mg->gcap, mg->ng + 1, sizeof *mg->g)) return oom(err);
            mg->g[mg->ng++] = (gchunk_t){{cm->mint, cm->maxt, enc, data, len}, i, partial};
            if (partial) *need_merge = true;
        }
    }
    qsort(mg->g, mg->ng, sizeof *mg->g, cmp_gchunk);
    for (size_t k = 1; k < mg->ng; k++)
        if (mg->g[k].in.mint <= mg->g[k - 1].in.maxt) *need_merge = true;
    return 0;
}

/* Decodes the gathered chunks, drops deleted samples and duplicate timestamps, writes the series. */
static int merge_samples(merger_t *mg, tsdb__block_writer_t *w, const model_label_t *l, size_t nl, vg_error_t *err) {
    mg->ns = 0;
    for (size_t k = 0; k < mg->ng; k++) {
        const gchunk_t *g = &mg->g[k];
        cursor_t *c = &mg->cur[g->src];
        size_t nst = 0;
        const tsdb__stone_t *st = g->partial ? tsdb__block_stones(c->b, c->id, &nst) : NULL;
        tsdb_chunk_iter_init(&mg->it, g->in.enc, g->in.data, g->in.len);
        while (tsdb_chunk_iter_next(&mg->it)) {
            if (nst && in_stones(st, nst, mg->it.t)) continue;
            if (grow((void **)&mg->s, &mg->scap, mg->ns + 1, sizeof *mg->s)) return oom(err);
            mg->s[mg->ns++] = (sample_t){mg->it.t, tsdb_chunk_iter_v_at(&mg->it), g->src};
        }
        if (mg->it.err)
            return vg_error_set(err, VG_ECORRUPT, "block %s: chunk of %lld..%lld does not decode", block_name(c),
                                (long long)g->in.mint, (long long)g->in.maxt);
    }
    if (!mg->ns) return 0;
    qsort(mg->s, mg->ns, sizeof *mg->s, cmp_sample);
    if (mg->ns > mg->tvcap) {
        size_t cap = mg->ns;
        int64_t *t = realloc(mg->t, cap * sizeof *t);
        if (t) mg->t = t;
        double *v = t ? realloc(mg->v, cap * sizeof *v) : NULL;
        if (v) mg->v = v;
        if (!t || !v) return oom(err);
        mg->tvcap = cap;
    }
    size_t n = 0;
    for (size_t i = 0; i < mg->ns; i++) {
        if (n && mg->s[i].t == mg->t[n - 1]) {
            mg->st.duplicates++;
            continue;
        }
        mg->t[n] = mg->s[i].t;
        mg->v[n++] = mg->s[i].v;
    }
    mg->st.series_merged++;
    mg->st.series++;
    return tsdb__block_writer_add_samples(w, l, nl, mg->t, mg->v, n, err);
}

static int copy_chunks(merger_t *mg, tsdb__block_writer_t *w, const model_label_t *l, size_t nl, vg_error_t *err) {
    if (!mg->ng) return 0;
    if (grow((void **)&mg->in, &mg->incap, mg->ng, sizeof *mg->in)) return oom(err);
    for (size_t k = 0; k < mg->ng; k++) mg->in[k] = mg->g[k].in;
    int rc = tsdb__block_writer_add_chunks(w, l, nl, mg->in, mg->ng, err);
    if (rc) return rc;
    mg->st.chunks_copied += mg->ng;
    mg->st.series++;
    return 0;
}

static void merger_free(merger_t *mg) {
    for (size_t i = 0; i < mg->n; i++) {
        tsdb__idvec_free(&mg->cur[i].ids);
        free(mg->cur[i].l);
        free(mg->cur[i].c);
    }
    free(mg->cur);
    free(mg->g);
    free(mg->in);
    free(mg->s);
    free(mg->t);
    free(mg->v);
}

int tsdb__compact_blocks(tsdb__block_t *const *p, size_t n, const char *dir, uint8_t enc, tsdb__block_meta_t *meta,
                         tsdb__compact_stats_t *st, vg_error_t *err) {
    if (meta) memset(meta, 0, sizeof *meta);
    if (st) memset(st, 0, sizeof *st);
    if (!n) return vg_error_set(err, VG_EINVAL, "no block to compact");
    const tsdb__block_meta_t **pm = calloc(n, sizeof *pm);
    merger_t mg = {.n = n, .cur = calloc(n, sizeof(cursor_t))};
    bool *on = calloc(n, sizeof *on);
    if (!pm || !mg.cur || !on) {
        free(pm);
        free(on);
        merger_free(&mg);
        return oom(err);
    }
    tsdb__block_writer_opts_t o = {.mint = INT64_MAX, .maxt = INT64_MIN, .encoding = enc, .parents = pm, .n_parents = n};
    for (size_t i = 0; i < n; i++) {
        pm[i] = tsdb__block_meta(p[i]);
        if (pm[i]->mint < o.mint) o.mint = pm[i]->mint;
        if (pm[i]->maxt > o.maxt) o.maxt = pm[i]->maxt;
    }
    tsdb__block_writer_t *w = NULL;
    int rc = tsdb__block_writer_new(dir, &o, &w, err);
    for (size_t i = 0; i < n && !rc; i++) {
        cursor_t *c = &mg.cur[i];
        c->b = p[i];
        c->ix = tsdb__block_index(p[i]);
        if (c->ix->all_off) rc = tsdb__index_postings(c->ix, c->ix->all_off, &c->ids, err);
        if (!rc) rc = cursor_next(c, err);
        if (rc) in_block(err, rc, pm[i]->ulid);
    }
    while (!rc) {
        size_t lead = SIZE_MAX;
        for (size_t i = 0; i < n; i++) {
            if (!mg.cur[i].have) continue;
            if (lead == SIZE_MAX ||
                model_labels_cmp(mg.cur[i].l, mg.cur[i].nl, mg.cur[lead].l, mg.cur[lead].nl) < 0)
                lead = i;
        }
        if (lead == SIZE_MAX) break;
        for (size_t i = 0; i < n; i++)
            on[i] = mg.cur[i].have &&
                    (i == lead || !model_labels_cmp(mg.cur[i].l, mg.cur[i].nl, mg.cur[lead].l, mg.cur[lead].nl));
        bool need_merge;
        const cursor_t *lc = &mg.cur[lead];
        rc = gather(&mg, on, &need_merge, err);
        if (!rc) rc = need_merge ? merge_samples(&mg, w, lc->l, lc->nl, err) : copy_chunks(&mg, w, lc->l, lc->nl, err);
        for (size_t i = 0; i < n && !rc; i++)
            if (on[i] && (rc = cursor_next(&mg.cur[i], err))) in_block(err, rc, pm[i]->ulid);
    }
    merger_free(&mg);
    free(on);
    if (rc) {
        tsdb__block_writer_abort(w);
        free(pm);
        return rc;
    }
    tsdb__block_meta_t m;
    rc = tsdb__block_writer_commit(w, &m, err);
    free(pm);
    mg.st.samples = rc ? 0 : m.n_samples;
    if (st) *st = mg.st;
    if (rc == 0 && meta) *meta = m;
    else if (rc == 0) tsdb__block_meta_free(&m);
    return rc;
}
