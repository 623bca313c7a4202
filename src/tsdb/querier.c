/* The head querier: resolves matchers to series through the postings, then iterates each series'
 * chunks within [mint, maxt].
 *
 * Invariants: a querier holds the head's trunc_lock shared from creation to close, so the series and
 * full chunks it references cannot be freed; an iterator copies the chunk references and the bytes of
 * the open chunk under the series lock, so later appends never change what it reads. Everything a
 * querier returns lives in its arena until close. */
#include "tsdb/tsdb_int.h"

#include "util/arena.h"

#include <stdlib.h>
#include <string.h>

typedef struct hq {
    storage_querier_t base;
    tsdb__head_t *h;
    int64_t mint, maxt;
    vg_arena_t arena;
} hq_t;

typedef struct cref {
    const uint8_t *data;
    uint32_t len;
    uint8_t enc;
    int64_t mint, maxt;
} cref_t;

typedef struct hit {
    storage_iterator_t base;
    int64_t mint, maxt;
    cref_t *c;
    size_t n, cap, ci;
    uint8_t *open; /* copy of the open chunk */
    size_t open_cap;
    tsdb_chunk_iter_t x;
    bool in_chunk, done, valid;
    int err;
    int64_t t;
    double v;
} hit_t;

typedef struct hss {
    storage_series_set_t base;
    hq_t *q;
    tsdb__series_t **s;
    size_t n, i;
    bool started;
} hss_t;

/* ---- id set algebra on sorted vectors ----
 * Postings lists are sorted and unique. A matcher on one value borrows its list (no copy); a union of
 * several is merged into an owned vector; intersections start from the smallest list and gallop through
 * much larger ones, so adding a selective matcher (a tenant's) costs about the smaller list's size. */

static int append_all(tsdb__idvec_t *dst, const tsdb__idvec_t *src) {
    if (dst->n + src->n > dst->cap) {
        size_t cap = dst->cap ? dst->cap : 64;
        while (cap < dst->n + src->n) cap *= 2;
        uint32_t *v = realloc(dst->v, cap * sizeof *v);
        if (!v) return VG_ENOMEM;
        dst->v = v, dst->cap = cap;
    }
    memcpy(dst->v + dst->n, src->v, src->n * sizeof *src->v);
    dst->n += src->n;
    return 0;
}

/* Sorts v, a concatenation of sorted, disjoint lists (the postings of different values of one label):
 * nothing to do when already in order, else an LSD radix sort of 11-bit digits over the bits in use. */
static int sort_ids(tsdb__idvec_t *v) {
    uint32_t max = 0;
    bool sorted = true;
    for (size_t i = 0; i < v->n; i++) {
        if (i && v->v[i - 1] > v->v[i]) sorted = false;
        if (v->v[i] > max) max = v->v[i];
    }
    if (sorted) return 0;
    uint32_t *tmp = malloc(v->n * sizeof *tmp), *a = v->v, *b = tmp;
    if (!tmp) return VG_ENOMEM;
    for (unsigned shift = 0; shift < 32 && (shift == 0 || max >> shift); shift += 11) {
        size_t count[2048] = {0};
        for (size_t i = 0; i < v->n; i++) count[(a[i] >> shift) & 2047]++;
        for (size_t i = 0, sum = 0; i < 2048; i++) {
            size_t c = count[i];
            count[i] = sum, sum += c;
        }
        for (size_t i = 0; i < v->n; i++) b[count[(a[i] >> shift) & 2047]++] = a[i];
        uint32_t *t = a;
        a = b, b = t;
    }
    if (a == tmp) { /* an odd number of passes */
        free(v->v);
        v->v = tmp;
        v->cap = v->n;
    } else {
        free(tmp);
    }
    return 0;
}

/* First index i >= lo with b[i] >= x (b sorted): exponential then binary search. */
static size_t gallop(const uint32_t *b, size_t lo, size_t n, uint32_t x) {
    size_t step = 1, hi = lo;
    while (hi < n && b[hi] < x) lo = hi + 1, hi += step, step *= 2;
    if (hi > n) hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (b[mid] < x) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* a ∩= b. */
static void intersect(tsdb__idvec_t *a, const tsdb__idvec_t *b) {
    size_t i = 0, j = 0, k = 0;
    if (b->n > 8 * a->n) {
        for (; i < a->n && j < b->n; i++)
            if ((j = gallop(b->v, j, b->n, a->v[i])) < b->n && b->v[j] == a->v[i]) a->v[k++] = a->v[i];
        a->n = k;
        return;
    }
    while (i < a->n && j < b->n) {
        if (a->v[i] < b->v[j]) i++;
        else if (a->v[i] > b->v[j]) j++;
        else a->v[k++] = a->v[i++], j++;
    }
    a->n = k;
}

/* a -= b. */
static void subtract(tsdb__idvec_t *a, const tsdb__idvec_t *b) {
    size_t i = 0, j = 0, k = 0;
    while (i < a->n) {
        j = gallop(b->v, j, b->n, a->v[i]);
        if (j < b->n && b->v[j] == a->v[i]) i++;
        else a->v[k++] = a->v[i++];
    }
    a->n = k;
}

/* The ids a matcher selects: one borrowed postings list, or a union owned in `own`. */
typedef struct idset {
    const tsdb__idvec_t *ids; /* NULL: empty */
    tsdb__idvec_t own;
    size_t n_lists;
} idset_t;

static int idset_add(idset_t *s, const tsdb__idvec_t *l) {
    if (!l || !l->n) return 0;
    if (s->n_lists++ == 0) {
        s->ids = l;
        return 0;
    }
    if (s->n_lists == 2 && append_all(&s->own, s->ids)) return VG_ENOMEM;
    s->ids = &s->own;
    return append_all(&s->own, l);
}

typedef struct collect {
    const model_matcher_t *m;
    int want; /* collect values for which model_matcher_match() == want */
    idset_t *out;
    int rc; /* VG_ENOMEM, or the matcher's error: selection fails rather than guess */
} collect_t;

static int collect_fn(void *ctx, const char *value, const tsdb__idvec_t *ids) {
    collect_t *c = ctx;
    int r = model_matcher_match(c->m, value);
    if (r < 0) return c->rc = r;
    if (r == c->want && idset_add(c->out, ids)) return c->rc = VG_ENOMEM;
    return 0;
}

static int oom(vg_error_t *err) { return vg_error_set(err, VG_ENOMEM, "out of memory"); }

/* Ids of series whose label `name` is present with a value v where matches(v) == want. Borrowed lists
 * are valid while the index lock is held. Errors are set in err. */
static int ids_for(tsdb__head_t *h, const model_matcher_t *m, bool want, idset_t *out, vg_error_t *err) {
    /* Lookups never intern: query strings must not grow the head's symbol table. */
    const char *name = model_symtab_find(h->syms, model_matcher_name(m), strlen(model_matcher_name(m)));
    if (!name) return 0;
    const char *const *vals;
    size_t nv = want ? model_matcher_set_values(m, &vals) : 0;
    if (nv && (model_matcher_type(m) == MODEL_MATCH_EQ || model_matcher_type(m) == MODEL_MATCH_RE)) {
        for (size_t i = 0; i < nv; i++) {
            const char *v = model_symtab_find(h->syms, vals[i], strlen(vals[i]));
            if (v && idset_add(out, tsdb__postings_get(h->postings, name, v))) return oom(err);
        }
    } else {
        collect_t c = {m, want, out, 0};
        tsdb__postings_each_value(h->postings, name, collect_fn, &c);
        if (c.rc == VG_ENOMEM) return oom(err);
        if (c.rc) return model_matcher_error(m, c.rc, err);
    }
    return out->n_lists > 1 && sort_ids(&out->own) ? oom(err) : 0;
}

static int select_ids(tsdb__head_t *h, model_matcher_t *const *ms, size_t n, tsdb__idvec_t *res, vg_error_t *err) {
    idset_t *sets = calloc(n ? n : 1, sizeof *sets);
    if (!sets) return oom(err);
    int rc = 0;
    size_t np = 0;
    bool empty = false;
    pthread_rwlock_rdlock(&h->index_lock);
    /* matchers that need the label present: intersect them, smallest first */
    for (size_t i = 0; i < n && !rc && !empty; i++) {
        if (model_matcher_matches_empty(ms[i])) continue;
        rc = ids_for(h, ms[i], true, &sets[np], err);
        empty = !sets[np++].ids;
    }
    if (!rc && !empty && np) {
        size_t min = 0;
        for (size_t i = 1; i < np; i++)
            if (sets[i].ids->n < sets[min].ids->n) min = i;
        if ((rc = append_all(res, sets[min].ids))) oom(err);
        for (size_t i = 0; i < np && !rc && res->n; i++)
            if (i != min) intersect(res, sets[i].ids);
    }
    /* matchers that match the empty value: everything (when nothing else selected) minus the series
     * whose value does not match */
    for (size_t i = 0; i < n && !rc && !empty; i++) {
        if (!model_matcher_matches_empty(ms[i])) continue;
        if (!np++) {
            const char *all = model_symtab_find(h->syms, "", 0);
            const tsdb__idvec_t *l = all ? tsdb__postings_get(h->postings, all, all) : NULL;
            if (l && append_all(res, l)) rc = oom(err);
        }
        idset_t neg = {0};
        if (!rc && !(rc = ids_for(h, ms[i], false, &neg, err)) && neg.ids) subtract(res, neg.ids);
        tsdb__idvec_free(&neg.own);
    }
    pthread_rwlock_unlock(&h->index_lock);
    for (size_t i = 0; i < n; i++) tsdb__idvec_free(&sets[i].own);
    free(sets);
    if (empty) res->n = 0;
    return rc;
}

static bool in_range(hq_t *q, tsdb__series_t *s) {
    pthread_mutex_t *mu = tsdb__series_lock(q->h, s);
    pthread_mutex_lock(mu);
    bool any = s->maxt != INT64_MIN && s->maxt >= q->mint;
    if (any) {
        int64_t first = s->n_chunks ? s->chunks[0].mint : tsdb__open_mint(s);
        any = first <= q->maxt;
    }
    pthread_mutex_unlock(mu);
    return any;
}

static int cmp_series(const void *a, const void *b) {
    const tsdb__series_t *x = *(tsdb__series_t *const *)a, *y = *(tsdb__series_t *const *)b;
    return model_labels_cmp(x->labels, x->n_labels, y->labels, y->n_labels);
}

/* Resolves matchers to the series with samples in range (arena array). Errors are set in err: a
 * regex that cannot be evaluated on some value fails the selection (422), since any set returned
 * instead could be wrong. */
static int select_series(hq_t *q, bool sorted, model_matcher_t *const *ms, size_t n, tsdb__series_t ***out,
                         size_t *n_out, vg_error_t *err) {
    tsdb__idvec_t ids = {0};
    int rc = select_ids(q->h, ms, n, &ids, err);
    if (rc) {
        tsdb__idvec_free(&ids);
        return rc;
    }
    tsdb__series_t **v = vg_arena_alloc(&q->arena, (ids.n ? ids.n : 1) * sizeof *v);
    if (!v) {
        tsdb__idvec_free(&ids);
        return oom(err);
    }
    size_t k = 0;
    for (size_t i = 0; i < ids.n; i++) {
        tsdb__series_t *s = tsdb__head_by_ref(q->h, ids.v[i]);
        if (s && in_range(q, s)) v[k++] = s;
    }
    tsdb__idvec_free(&ids);
    if (sorted && k > 1) qsort(v, k, sizeof *v, cmp_series);
    *out = v;
    *n_out = k;
    return 0;
}

/* ---- iterator ---- */

static storage_val_t it_next(storage_iterator_t *base) {
    hit_t *it = (hit_t *)base;
    while (!it->done) {
        if (!it->in_chunk) {
            if (it->ci >= it->n) break;
            tsdb_chunk_iter_init(&it->x, it->c[it->ci].enc, it->c[it->ci].data, it->c[it->ci].len);
            it->ci++;
            it->in_chunk = true;
        }
        if (tsdb_chunk_iter_next(&it->x)) {
            int64_t t = it->x.t;
            if (t < it->mint) continue;
            if (t > it->maxt) break;
            it->t = t;
            it->v = tsdb_chunk_iter_v_at(&it->x);
            it->valid = true;
            return STORAGE_VAL_FLOAT;
        }
        if (it->x.err) {
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
    hit_t *it = (hit_t *)base;
    if (it->done) return STORAGE_VAL_NONE;
    if (it->valid && it->t >= t) return STORAGE_VAL_FLOAT;
    /* skip whole chunks ending before t */
    if (!it->in_chunk || (it->ci > 0 && it->c[it->ci - 1].maxt < t)) {
        while (it->ci < it->n && it->c[it->ci].maxt < t) it->ci++;
        it->in_chunk = false;
    }
    storage_val_t r;
    while ((r = it_next(base)) == STORAGE_VAL_FLOAT && it->t < t) {
    }
    return r;
}

static void it_at(const storage_iterator_t *base, int64_t *t, double *v) {
    const hit_t *it = (const hit_t *)base;
    *t = it->t;
    *v = it->v;
}

static int it_err(const storage_iterator_t *base) { return ((const hit_t *)base)->err; }

/* The rest of the current chunk's decoded batch is copied without going through it_next: its samples
 * are after the current one (so >= mint) and are checked against maxt here. */
static size_t it_read(storage_iterator_t *base, int64_t maxt, int64_t *ts, double *vs, size_t cap) {
    hit_t *it = (hit_t *)base;
    if (maxt > it->maxt) maxt = it->maxt;
    size_t n = 0;
    while (n < cap && it->valid && it->t <= maxt) {
        ts[n] = it->t;
        vs[n] = it->v;
        n++;
        tsdb_chunk_iter_t *x = &it->x;
        while (n < cap && x->i < x->n && x->ts[x->i] <= maxt) {
            ts[n] = x->ts[x->i];
            memcpy(&vs[n], &x->vs[x->i], sizeof vs[n]);
            x->i++;
            n++;
        }
        it_next(base);
    }
    return n;
}

static const storage_iterator_vt it_vt = {.next = it_next, .seek = it_seek, .at = it_at, .err = it_err, .read = it_read};

/* ---- series set ---- */

static bool ss_next(storage_series_set_t *base) {
    hss_t *ss = (hss_t *)base;
    if (ss->started) ss->i++;
    ss->started = true;
    return ss->i < ss->n;
}

static void ss_labels(storage_series_set_t *base, const model_label_t **l, size_t *n) {
    hss_t *ss = (hss_t *)base;
    tsdb__series_t *s = ss->s[ss->i];
    *l = s->labels;
    *n = s->n_labels;
}

static storage_iterator_t *ss_iterator(storage_series_set_t *base, storage_iterator_t *reuse) {
    hss_t *ss = (hss_t *)base;
    hq_t *q = ss->q;
    if (!ss->started || ss->i >= ss->n) return NULL;
    tsdb__series_t *s = ss->s[ss->i];
    hit_t *it = (hit_t *)reuse;
    if (!it) {
        it = vg_arena_calloc(&q->arena, 1, sizeof *it);
        if (!it) return NULL;
    }
    pthread_mutex_t *mu = tsdb__series_lock(q->h, s);
    pthread_mutex_lock(mu);
    size_t need = s->n_chunks + 1;
    size_t olen = tsdb_xor_enc_len(&s->open);
    bool ok = true;
    if (need > it->cap) {
        pthread_mutex_unlock(mu); /* allocate outside the lock, then retry the copy */
        size_t cap = need + 8;
        cref_t *c = vg_arena_alloc(&q->arena, cap * sizeof *c);
        if (!c) return NULL;
        it->c = c;
        it->cap = cap;
        pthread_mutex_lock(mu);
        need = s->n_chunks + 1;
        ok = need <= it->cap;
    }
    olen = tsdb_xor_enc_len(&s->open);
    if (ok && olen > it->open_cap) {
        uint8_t *ob = vg_arena_alloc(&q->arena, TSDB_CHUNK_MAX_BYTES + 16);
        if (!ob) ok = false;
        else it->open = ob, it->open_cap = TSDB_CHUNK_MAX_BYTES + 16;
    }
    if (!ok) {
        pthread_mutex_unlock(mu);
        return NULL;
    }
    it->n = 0;
    for (uint32_t k = 0; k < s->n_chunks; k++) {
        const tsdb__chunk_t *c = &s->chunks[k];
        if (c->maxt < q->mint || c->mint > q->maxt) continue;
        it->c[it->n++] = (cref_t){c->data, c->len, c->enc, c->mint, c->maxt};
    }
    int64_t omint = tsdb__open_mint(s);
    if (s->open.n && s->open.t >= q->mint && omint <= q->maxt) {
        memcpy(it->open, s->open.buf, olen);
        it->c[it->n++] = (cref_t){it->open, (uint32_t)olen, TSDB_ENC_XOR, omint, s->open.t};
    }
    pthread_mutex_unlock(mu);
    it->base.vt = &it_vt;
    it->mint = q->mint;
    it->maxt = q->maxt;
    it->ci = 0;
    it->in_chunk = it->done = it->valid = false;
    it->err = 0;
    return &it->base;
}

static int ss_err(const storage_series_set_t *base) {
    (void)base;
    return 0;
}

static const storage_series_set_vt ss_vt = {.next = ss_next, .labels = ss_labels, .iterator = ss_iterator, .err = ss_err};

/* ---- querier ---- */

static int q_select(storage_querier_t *base, bool sorted, model_matcher_t *const *ms, size_t n,
                    storage_series_set_t **out, vg_error_t *err) {
    hq_t *q = (hq_t *)base;
    *out = NULL;
    hss_t *ss = vg_arena_calloc(&q->arena, 1, sizeof *ss);
    if (!ss) return vg_error_set(err, VG_ENOMEM, "out of memory");
    int rc = select_series(q, sorted, ms, n, &ss->s, &ss->n, err);
    if (rc) return rc;
    ss->base.vt = &ss_vt;
    ss->q = q;
    *out = &ss->base;
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

size_t tsdb__sort_unique_strs(const char **v, size_t n) {
    if (n < 2) return n;
    qsort(v, n, sizeof *v, cmp_str);
    size_t k = 1;
    for (size_t i = 1; i < n; i++)
        if (strcmp(v[i], v[k - 1]) != 0) v[k++] = v[i];
    return k;
}

static int q_label_names(storage_querier_t *base, model_matcher_t *const *ms, size_t n, const char *const **out,
                         size_t *n_out, vg_error_t *err) {
    hq_t *q = (hq_t *)base;
    *out = NULL;
    *n_out = 0;
    tsdb__series_t **s;
    size_t ns;
    if (n == 0) {
        const char **names;
        size_t nn;
        pthread_rwlock_rdlock(&q->h->index_lock);
        int rc = tsdb__postings_names(q->h->postings, &names, &nn);
        pthread_rwlock_unlock(&q->h->index_lock);
        if (rc) return vg_error_set(err, rc, "out of memory");
        const char **v = vg_arena_alloc(&q->arena, (nn ? nn : 1) * sizeof *v);
        if (!v) {
            free(names);
            return vg_error_set(err, VG_ENOMEM, "out of memory");
        }
        size_t k = 0;
        for (size_t i = 0; i < nn; i++)
            if (names[i][0]) v[k++] = names[i];
        free(names);
        *n_out = tsdb__sort_unique_strs(v, k);
        *out = v;
        return 0;
    }
    int rc = select_series(q, false, ms, n, &s, &ns, err);
    if (rc) return rc;
    size_t total = 0;
    for (size_t i = 0; i < ns; i++) total += s[i]->n_labels;
    const char **v = vg_arena_alloc(&q->arena, (total ? total : 1) * sizeof *v);
    if (!v) return vg_error_set(err, VG_ENOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < ns; i++)
        for (uint32_t j = 0; j < s[i]->n_labels; j++) v[k++] = s[i]->labels[j].name;
    *n_out = tsdb__sort_unique_strs(v, k);
    *out = v;
    return 0;
}

typedef struct vals {
    hq_t *q;
    const char **v;
    size_t n, cap;
    int rc;
} vals_t;

static int vals_fn(void *ctx, const char *value, const tsdb__idvec_t *ids) {
    vals_t *c = ctx;
    (void)ids;
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 64;
        const char **nv = realloc(c->v, nc * sizeof *nv);
        if (!nv) return c->rc = VG_ENOMEM;
        c->v = nv;
        c->cap = nc;
    }
    c->v[c->n++] = value;
    return 0;
}

static int q_label_values(storage_querier_t *base, const char *name, model_matcher_t *const *ms, size_t n,
                          const char *const **out, size_t *n_out, vg_error_t *err) {
    hq_t *q = (hq_t *)base;
    *out = NULL;
    *n_out = 0;
    const char **v;
    size_t k = 0;
    if (n == 0) {
        const char *iname = model_symtab_find(q->h->syms, name, strlen(name));
        if (!iname) return 0;
        vals_t c = {.q = q};
        pthread_rwlock_rdlock(&q->h->index_lock);
        tsdb__postings_each_value(q->h->postings, iname, vals_fn, &c);
        pthread_rwlock_unlock(&q->h->index_lock);
        if (c.rc) {
            free(c.v);
            return vg_error_set(err, VG_ENOMEM, "out of memory");
        }
        v = vg_arena_alloc(&q->arena, (c.n ? c.n : 1) * sizeof *v);
        if (!v) {
            free(c.v);
            return vg_error_set(err, VG_ENOMEM, "out of memory");
        }
        if (c.n) memcpy(v, c.v, c.n * sizeof *v);
        k = c.n;
        free(c.v);
    } else {
        tsdb__series_t **s;
        size_t ns;
        int rc = select_series(q, false, ms, n, &s, &ns, err);
        if (rc) return rc;
        v = vg_arena_alloc(&q->arena, (ns ? ns : 1) * sizeof *v);
        if (!v) return vg_error_set(err, VG_ENOMEM, "out of memory");
        for (size_t i = 0; i < ns; i++) {
            const char *x = model_labels_get(s[i]->labels, s[i]->n_labels, name);
            if (x) v[k++] = x;
        }
    }
    *n_out = tsdb__sort_unique_strs(v, k);
    *out = v;
    return 0;
}

static void q_close(storage_querier_t *base) {
    hq_t *q = (hq_t *)base;
    pthread_rwlock_unlock(&q->h->trunc_lock);
    vg_arena_deinit(&q->arena);
    free(q);
}

static const storage_querier_vt q_vt = {
    .select = q_select, .label_names = q_label_names, .label_values = q_label_values, .close = q_close};

int tsdb__querier_new(tsdb__head_t *h, int64_t mint, int64_t maxt, storage_querier_t **out, vg_error_t *err) {
    *out = NULL;
    hq_t *q = calloc(1, sizeof *q);
    if (!q) return vg_error_set(err, VG_ENOMEM, "out of memory");
    q->base.vt = &q_vt;
    q->h = h;
    q->mint = mint;
    q->maxt = maxt;
    vg_arena_init(&q->arena, 64 * 1024);
    pthread_rwlock_rdlock(&h->trunc_lock);
    *out = &q->base;
    return 0;
}
