/* The merge querier: one storage_querier_t over several (the blocks overlapping a query's range and
 * the head), as Prometheus' merge querier with overlapping blocks allowed.
 *
 * select asks every source for its series sorted by labels and walks the sets side by side: the
 * series with the smallest labels comes next, once, whatever number of sources hold it. Its iterator
 * merges the samples of those sources in time order; when several sources hold a sample at the same
 * timestamp one of them is returned (the earliest source in the list: the oldest block) and the
 * others are skipped, so a range present both in a fresh block and in the head not yet truncated
 * reads once. label_names and label_values are sorted unions.
 *
 * Invariants: the merge querier owns its sources and closes them with itself; everything it hands
 * out (series sets, labels, iterators, value lists) lives in its arena or borrows a source's, and is
 * valid until close. A merged iterator keeps one child iterator slot per source, which it passes back
 * to that source as `reuse`, so reusing a merged iterator never hands a source another's iterator. */
#include "tsdb/tsdb_int.h"

#include "util/arena.h"

#include <stdlib.h>
#include <string.h>

typedef struct mq {
    storage_querier_t base;
    storage_querier_t **q;
    size_t n;
    vg_arena_t arena;
} mq_t;

/* One source's part of a merged series: its iterator and its current sample. */
typedef struct mchild {
    storage_iterator_t *it; /* NULL: the source does not hold the current series */
    int64_t t;
    double v;
    bool have; /* it is positioned on (t, v) */
} mchild_t;

typedef struct mit {
    storage_iterator_t base;
    mchild_t *c;   /* one per source of the querier */
    storage_iterator_t **slot; /* each source's last iterator, handed back to it as `reuse` */
    size_t n;
    bool started, valid;
    int err;
    const char *msg; /* the erring child's err_msg (borrowed from it) */
    int64_t t;
    double v;
} mit_t;

typedef struct mss {
    storage_series_set_t base;
    mq_t *q;
    storage_series_set_t **s; /* one per source */
    bool *has;                /* s[i] is positioned on a series not consumed yet */
    bool *cur;                /* s[i] is positioned on the current merged series */
    size_t n, lead;           /* lead: a source holding the current series (for its labels) */
    bool started;
    int err;
} mss_t;

static int oom(vg_error_t *err) { return vg_error_set(err, VG_ENOMEM, "out of memory"); }

/* ---- iterator ---- */

/* Positions the merged iterator on the smallest timestamp among the children. */
static storage_val_t mit_pick(mit_t *it) {
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < it->n; i++) {
        mchild_t *c = &it->c[i];
        if (!c->have) continue;
        if (best == SIZE_MAX || c->t < it->c[best].t) best = i;
    }
    if (best == SIZE_MAX) {
        it->valid = false;
        return STORAGE_VAL_NONE;
    }
    it->t = it->c[best].t;
    it->v = it->c[best].v;
    it->valid = true;
    return STORAGE_VAL_FLOAT;
}

/* Moves child c on with next or seek; remembers the first error of any child. */
static void child_step(mit_t *it, mchild_t *c, bool seek, int64_t t) {
    storage_val_t r = seek ? c->it->vt->seek(c->it, t) : c->it->vt->next(c->it);
    c->have = r == STORAGE_VAL_FLOAT;
    if (c->have) {
        c->it->vt->at(c->it, &c->t, &c->v);
    } else {
        int e = c->it->vt->err(c->it);
        if (e && !it->err) it->err = e, it->msg = storage_iterator_err_msg(c->it);
    }
}

static storage_val_t mit_next(storage_iterator_t *base) {
    mit_t *it = (mit_t *)base;
    if (it->err) return STORAGE_VAL_NONE;
    for (size_t i = 0; i < it->n; i++) {
        mchild_t *c = &it->c[i];
        if (!c->it) continue;
        /* first call: every child; later: those on the sample just returned (duplicates included) */
        if (!it->started || (c->have && it->valid && c->t == it->t)) child_step(it, c, false, 0);
    }
    it->started = true;
    if (it->err) return it->valid = false, STORAGE_VAL_NONE;
    return mit_pick(it);
}

static storage_val_t mit_seek(storage_iterator_t *base, int64_t t) {
    mit_t *it = (mit_t *)base;
    if (it->err) return STORAGE_VAL_NONE;
    if (it->started && !it->valid) return STORAGE_VAL_NONE; /* exhausted */
    if (it->started && it->t >= t) return STORAGE_VAL_FLOAT;
    for (size_t i = 0; i < it->n; i++) {
        mchild_t *c = &it->c[i];
        if (!c->it) continue;
        if (!it->started || (c->have && c->t < t)) child_step(it, c, true, t);
    }
    it->started = true;
    if (it->err) return it->valid = false, STORAGE_VAL_NONE;
    return mit_pick(it);
}

static void mit_at(const storage_iterator_t *base, int64_t *t, double *v) {
    const mit_t *it = (const mit_t *)base;
    *t = it->t;
    *v = it->v;
}

static int mit_err(const storage_iterator_t *base) { return ((const mit_t *)base)->err; }
static const char *mit_err_msg(const storage_iterator_t *base) { return ((const mit_t *)base)->msg; }

static const storage_iterator_vt mit_vt = {
    .next = mit_next, .seek = mit_seek, .at = mit_at, .err = mit_err, .err_msg = mit_err_msg};

/* ---- series set ---- */

/* Advances the sources that held the current series (all of them on the first call), then marks the
 * sources positioned on the smallest labels as the current series. */
static bool mss_next(storage_series_set_t *base) {
    mss_t *ss = (mss_t *)base;
    if (ss->err) return false;
    for (size_t i = 0; i < ss->n; i++) {
        if (ss->started && !ss->cur[i]) continue;
        ss->has[i] = ss->s[i]->vt->next(ss->s[i]);
        if (!ss->has[i]) {
            int e = ss->s[i]->vt->err(ss->s[i]);
            if (e) {
                ss->err = e;
                return false;
            }
        }
    }
    ss->started = true;
    const model_label_t *bl = NULL;
    size_t bn = 0, best = SIZE_MAX;
    for (size_t i = 0; i < ss->n; i++) {
        ss->cur[i] = false;
        if (!ss->has[i]) continue;
        const model_label_t *l;
        size_t nl;
        ss->s[i]->vt->labels(ss->s[i], &l, &nl);
        int c = best == SIZE_MAX ? -1 : model_labels_cmp(l, nl, bl, bn);
        if (c < 0) {
            for (size_t j = 0; j < i; j++) ss->cur[j] = false;
            best = i, bl = l, bn = nl;
        }
        if (c <= 0) ss->cur[i] = true;
    }
    ss->lead = best;
    return best != SIZE_MAX;
}

static void mss_labels(storage_series_set_t *base, const model_label_t **l, size_t *n) {
    mss_t *ss = (mss_t *)base;
    ss->s[ss->lead]->vt->labels(ss->s[ss->lead], l, n);
}

static storage_iterator_t *mss_iterator(storage_series_set_t *base, storage_iterator_t *reuse) {
    mss_t *ss = (mss_t *)base;
    if (!ss->started || ss->lead == SIZE_MAX) return NULL;
    mit_t *it = (mit_t *)reuse;
    if (!it || it->n != ss->n) {
        it = vg_arena_calloc(&ss->q->arena, 1, sizeof *it);
        if (!it) return NULL;
        it->c = vg_arena_calloc(&ss->q->arena, ss->n, sizeof *it->c);
        it->slot = vg_arena_calloc(&ss->q->arena, ss->n, sizeof *it->slot);
        if (!it->c || !it->slot) return NULL;
        it->n = ss->n;
    }
    for (size_t i = 0; i < ss->n; i++) {
        it->c[i] = (mchild_t){0};
        if (!ss->cur[i]) continue;
        storage_iterator_t *c = ss->s[i]->vt->iterator(ss->s[i], it->slot[i]);
        if (!c) return NULL;
        it->slot[i] = c;
        it->c[i].it = c;
    }
    it->base.vt = &mit_vt;
    it->started = it->valid = false;
    it->err = 0;
    it->msg = NULL;
    return &it->base;
}

static int mss_err(const storage_series_set_t *base) { return ((const mss_t *)base)->err; }

static const storage_series_set_vt mss_vt = {.next = mss_next, .labels = mss_labels, .iterator = mss_iterator, .err = mss_err};

/* ---- querier ---- */

static int mq_select(storage_querier_t *base, bool sorted, model_matcher_t *const *ms, size_t n,
                     storage_series_set_t **out, vg_error_t *err) {
    mq_t *q = (mq_t *)base;
    (void)sorted; /* merging needs every source sorted, so the result is sorted either way */
    *out = NULL;
    mss_t *ss = vg_arena_calloc(&q->arena, 1, sizeof *ss);
    if (!ss) return oom(err);
    ss->s = vg_arena_calloc(&q->arena, q->n, sizeof *ss->s);
    ss->has = vg_arena_calloc(&q->arena, q->n, sizeof *ss->has);
    ss->cur = vg_arena_calloc(&q->arena, q->n, sizeof *ss->cur);
    if (!ss->s || !ss->has || !ss->cur) return oom(err);
    for (size_t i = 0; i < q->n; i++) {
        int rc = storage_select(q->q[i], true, ms, n, &ss->s[i], err);
        if (rc) return rc;
    }
    ss->base.vt = &mss_vt;
    ss->q = q;
    ss->n = q->n;
    ss->lead = SIZE_MAX;
    *out = &ss->base;
    return 0;
}

/* The sorted union of every source's sorted list (arena array; strings borrowed from the sources). */
typedef int (*list_fn)(storage_querier_t *q, void *ctx, const char *const **out, size_t *n_out, vg_error_t *err);

static int union_lists(mq_t *q, list_fn fn, void *ctx, const char *const **out, size_t *n_out, vg_error_t *err) {
    *out = NULL;
    *n_out = 0;
    const char *const **lists = vg_arena_calloc(&q->arena, q->n, sizeof *lists);
    size_t *lens = vg_arena_calloc(&q->arena, q->n, sizeof *lens);
    if (!lists || !lens) return oom(err);
    size_t total = 0;
    for (size_t i = 0; i < q->n; i++) {
        int rc = fn(q->q[i], ctx, &lists[i], &lens[i], err);
        if (rc) return rc;
        total += lens[i];
    }
    const char **v = vg_arena_alloc(&q->arena, (total ? total : 1) * sizeof *v);
    if (!v) return oom(err);
    size_t k = 0;
    for (size_t i = 0; i < q->n; i++)
        if (lens[i]) memcpy(v + k, lists[i], lens[i] * sizeof *v), k += lens[i];
    k = tsdb__sort_unique_strs(v, k);
    *out = v;
    *n_out = k;
    return 0;
}

typedef struct lctx {
    const char *name;
    model_matcher_t *const *ms;
    size_t n_ms;
} lctx_t;

static int names_fn(storage_querier_t *q, void *ctx, const char *const **out, size_t *n_out, vg_error_t *err) {
    lctx_t *c = ctx;
    return q->vt->label_names(q, c->ms, c->n_ms, out, n_out, err);
}

static int values_fn(storage_querier_t *q, void *ctx, const char *const **out, size_t *n_out, vg_error_t *err) {
    lctx_t *c = ctx;
    return q->vt->label_values(q, c->name, c->ms, c->n_ms, out, n_out, err);
}

static int mq_label_names(storage_querier_t *base, model_matcher_t *const *ms, size_t n, const char *const **out,
                          size_t *n_out, vg_error_t *err) {
    lctx_t c = {NULL, ms, n};
    return union_lists((mq_t *)base, names_fn, &c, out, n_out, err);
}

static int mq_label_values(storage_querier_t *base, const char *name, model_matcher_t *const *ms, size_t n,
                           const char *const **out, size_t *n_out, vg_error_t *err) {
    lctx_t c = {name, ms, n};
    return union_lists((mq_t *)base, values_fn, &c, out, n_out, err);
}

static void mq_close(storage_querier_t *base) {
    mq_t *q = (mq_t *)base;
    for (size_t i = 0; i < q->n; i++) storage_querier_close(q->q[i]);
    free(q->q);
    vg_arena_deinit(&q->arena);
    free(q);
}

static const storage_querier_vt mq_vt = {
    .select = mq_select, .label_names = mq_label_names, .label_values = mq_label_values, .close = mq_close};

int tsdb__merge_querier_new(storage_querier_t **qs, size_t n, storage_querier_t **out, vg_error_t *err) {
    *out = NULL;
    if (n == 0) return vg_error_set(err, VG_EINVAL, "merge querier: no sources");
    if (n == 1) {
        *out = qs[0];
        return 0;
    }
    mq_t *q = calloc(1, sizeof *q);
    storage_querier_t **v = q ? malloc(n * sizeof *v) : NULL;
    if (!v) {
        free(q);
        for (size_t i = 0; i < n; i++) storage_querier_close(qs[i]);
        return oom(err);
    }
    memcpy(v, qs, n * sizeof *v);
    q->base.vt = &mq_vt;
    q->q = v;
    q->n = n;
    vg_arena_init(&q->arena, 16 * 1024);
    *out = &q->base;
    return 0;
}

int tsdb_merge_queriers(storage_querier_t **qs, size_t n, storage_querier_t **out, vg_error_t *err) {
    return tsdb__merge_querier_new(qs, n, out, err);
}
