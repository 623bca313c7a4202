/* The engine object and the evaluator core: query admission (concurrency gate, timeout), the time range a
 * query reads, vector and matrix selectors with lookback and staleness, subqueries, `@` and `offset`,
 * literals and unary minus; functions, aggregations and binary operators live in their own files.
 *
 * Evaluation model: every node is evaluated once over the evaluator's whole step grid into a value
 * (engine_int.h); a subquery evaluates its expression over its own grid aligned to absolute multiples of
 * its step. Selector samples are read once per selector into arena arrays.
 *
 * Invariants: the querier is open exactly while promql__eval runs; q->cur_samples counts the samples the
 * evaluation holds (outputs of live nodes plus the current range windows) and never exceeds max_samples
 * without the evaluation failing. */
#include "engine_int.h"

#include "util/timeutil.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct promql_engine {
    promql_engine_opts_t o;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int active;
};

int promql_engine_new(const promql_engine_opts_t *opts, promql_engine_t **out, vg_error_t *err) {
    *out = NULL;
    promql_engine_t *e = calloc(1, sizeof *e);
    if (!e) return vg_error_set(err, VG_ENOMEM, "out of memory");
    if (opts) e->o = *opts;
    if (e->o.lookback_ms <= 0) e->o.lookback_ms = PROMQL_DEFAULT_LOOKBACK_MS;
    if (e->o.subquery_step_ms <= 0) e->o.subquery_step_ms = PROMQL_DEFAULT_SUBQUERY_STEP_MS;
    if (e->o.max_samples <= 0) e->o.max_samples = PROMQL_DEFAULT_MAX_SAMPLES;
    if (e->o.timeout_ms <= 0) e->o.timeout_ms = PROMQL_DEFAULT_TIMEOUT_MS;
    if (e->o.max_points <= 0) e->o.max_points = PROMQL_DEFAULT_MAX_POINTS;
    if (e->o.max_concurrent <= 0) e->o.max_concurrent = PROMQL_DEFAULT_MAX_CONCURRENT;
    if (e->o.max_bytes <= 0) e->o.max_bytes = PROMQL_DEFAULT_MAX_EVAL_BYTES;
    pthread_mutex_init(&e->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&e->cv, &ca);
    pthread_condattr_destroy(&ca);
    *out = e;
    return 0;
}

void promql_engine_free(promql_engine_t *e) {
    if (!e) return;
    pthread_cond_destroy(&e->cv);
    pthread_mutex_destroy(&e->mu);
    free(e);
}

/* Waits for a slot until deadline_ns (monotonic). */
static int gate_enter(promql_engine_t *e, uint64_t deadline_ns, vg_error_t *err) {
    pthread_mutex_lock(&e->mu);
    while (e->active >= e->o.max_concurrent) {
        struct timespec ts = {(time_t)(deadline_ns / 1000000000u), (long)(deadline_ns % 1000000000u)};
        int rc = pthread_cond_timedwait(&e->cv, &e->mu, &ts);
        if (rc == ETIMEDOUT && e->active >= e->o.max_concurrent) {
            pthread_mutex_unlock(&e->mu);
            return vg_error_set(err, VG_ETIMEOUT, "query timed out in query queue");
        }
    }
    e->active++;
    pthread_mutex_unlock(&e->mu);
    return 0;
}

static void gate_leave(promql_engine_t *e) {
    pthread_mutex_lock(&e->mu);
    e->active--;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

/* ---- shared helpers ------------------------------------------------------------------------------ */

int promql__check_time_now(promql__q_t *q) {
    if (vg_mono_ns() > q->deadline_ns)
        return vg_error_set(q->err, VG_ETIMEOUT, "query timed out in expression evaluation");
    return 0;
}

/* `@ t` as the engine uses it: within ±2^62 ms (146 million years), so that subtracting an offset, a
 * range and the lookback (each at most PROMQL_MAX_DURATION_MS) cannot overflow. `@` past that (the
 * parser turns any out-of-range float into INT64_MIN, as Go does) sees no samples either way. */
#define AT_LIMIT_MS (INT64_C(1) << 62)

int64_t promql__at_ms(const promql__q_t *q, const promql_time_mods_t *m) {
    switch (m->at) {
    case PROMQL_AT_TIME: return m->at_ms < -AT_LIMIT_MS ? -AT_LIMIT_MS : m->at_ms > AT_LIMIT_MS ? AT_LIMIT_MS : m->at_ms;
    case PROMQL_AT_START: return q->q_start;
    case PROMQL_AT_END: return q->q_end;
    default: return 0;
    }
}

const promql_node_t *promql__unparen(const promql_node_t *n) {
    while (n && n->type == PROMQL_NODE_PAREN) n = n->u.paren.expr;
    return n;
}

/* The reference times [lo, hi] a selector or subquery with mods sees over an evaluator [s, e]. */
static void ref_range(const promql__q_t *q, const promql_time_mods_t *m, int64_t s, int64_t e, int64_t *lo,
                      int64_t *hi) {
    if (m->at != PROMQL_AT_NONE) s = e = promql__at_ms(q, m);
    *lo = s - m->offset_ms;
    *hi = e - m->offset_ms;
}

/* First multiple of step at or after t (Prometheus' subquery alignment). */
static int64_t align_up(int64_t t, int64_t step) {
    int64_t a = (t / step) * step;
    if (a < t) a += step;
    return a;
}

static void subquery_grid(const promql__q_t *q, const promql_node_t *n, int64_t s, int64_t e, int64_t *is,
                          int64_t *ie, int64_t *step) {
    int64_t lo, hi;
    ref_range(q, &n->u.subquery.mods, s, e, &lo, &hi);
    *step = n->u.subquery.step_ms > 0 ? n->u.subquery.step_ms : q->sub_step;
    *is = align_up(lo - n->u.subquery.range_ms, *step);
    *ie = hi;
}

/* The time range of storage a node needs when evaluated over [s, e]; *any is set when it reads at all. */
static void plan(const promql__q_t *q, const promql_node_t *n, int64_t s, int64_t e, int64_t *mint,
                 int64_t *maxt, bool *any) {
    int64_t lo, hi, is, ie, st;
    switch (n->type) {
    case PROMQL_NODE_VECTOR:
        ref_range(q, &n->u.vector.mods, s, e, &lo, &hi);
        lo -= q->lookback;
        goto add;
    case PROMQL_NODE_MATRIX:
        ref_range(q, &n->u.matrix.vector->u.vector.mods, s, e, &lo, &hi);
        lo -= n->u.matrix.range_ms;
    add:
        if (!*any || lo < *mint) *mint = lo;
        if (!*any || hi > *maxt) *maxt = hi;
        *any = true;
        return;
    case PROMQL_NODE_SUBQUERY:
        subquery_grid(q, n, s, e, &is, &ie, &st);
        plan(q, n->u.subquery.expr, is, ie, mint, maxt, any);
        return;
    case PROMQL_NODE_PAREN: plan(q, n->u.paren.expr, s, e, mint, maxt, any); return;
    case PROMQL_NODE_UNARY: plan(q, n->u.unary.expr, s, e, mint, maxt, any); return;
    case PROMQL_NODE_BINARY:
        plan(q, n->u.binary.lhs, s, e, mint, maxt, any);
        plan(q, n->u.binary.rhs, s, e, mint, maxt, any);
        return;
    case PROMQL_NODE_AGGREGATE:
        plan(q, n->u.aggregate.expr, s, e, mint, maxt, any);
        if (n->u.aggregate.param) plan(q, n->u.aggregate.param, s, e, mint, maxt, any);
        return;
    case PROMQL_NODE_CALL:
        for (size_t i = 0; i < n->u.call.n_args; i++) plan(q, n->u.call.args[i], s, e, mint, maxt, any);
        return;
    default: return;
    }
}

/* ---- selectors ----------------------------------------------------------------------------------- */

/* Selects the series of vector selector vs and hands each one with samples in [mint, maxt] (stale markers
 * dropped when drop_stale) to fn, in label order. The points are in a scratch buffer that the next series
 * reuses; the labels are borrowed from the querier, which stays open while the query evaluates. Series
 * without samples are skipped. fn returns 0 or a negative VG_E* code (q->err set), which stops the walk. */
int promql__select_each(promql__q_t *q, const promql_node_t *vs, int64_t mint, int64_t maxt, bool drop_stale,
                        promql__series_fn fn, void *ctx) {
    if (!q->qr || mint > maxt) return 0;
    size_t nm = vs->u.vector.n_matchers;
    model_matcher_t **ms = vg_arena_alloc(q->a, (nm ? nm : 1) * sizeof *ms);
    if (!ms) return vg_error_set(q->err, VG_ENOMEM, "out of memory");
    for (size_t i = 0; i < nm; i++) {
        const promql_matcher_t *pm = &vs->u.vector.matchers[i];
        if (q->n_ms == q->cap_ms) {
            size_t cap = q->cap_ms ? q->cap_ms * 2 : 16;
            model_matcher_t **g = realloc(q->ms, cap * sizeof *g);
            if (!g) return vg_error_set(q->err, VG_ENOMEM, "out of memory");
            q->ms = g;
            q->cap_ms = cap;
        }
        int rc = promql_matcher_compile(pm, &ms[i], q->err);
        if (rc < 0) return rc;
        q->ms[q->n_ms++] = ms[i];
    }
    storage_series_set_t *ss = NULL;
    TRY(storage_select(q->qr, true, ms, nm, &ss, q->err));
    storage_iterator_t *it = NULL;
    while (ss->vt->next(ss)) {
        TRY(promql__check_time(q));
        const model_label_t *l;
        size_t nl;
        ss->vt->labels(ss, &l, &nl);
        it = ss->vt->iterator(ss, it);
        if (!it) return vg_error_set(q->err, VG_ENOMEM, "out of memory");
        size_t np = 0;
        storage_val_t vt = it->vt->seek(it, mint);
        while (vt == STORAGE_VAL_FLOAT && it->vt->read) { /* in batches */
            int64_t tb[256];
            double vb[256];
            size_t k = it->vt->read(it, maxt, tb, vb, 256);
            if (np + k > q->scratch_cap) {
                size_t ncap = q->scratch_cap ? q->scratch_cap * 2 : 1024;
                while (ncap < np + k) ncap *= 2;
                promql_point_t *g = realloc(q->scratch, ncap * sizeof *g);
                if (!g) return vg_error_set(q->err, VG_ENOMEM, "out of memory");
                q->scratch = g;
                q->scratch_cap = ncap;
            }
            for (size_t i = 0; i < k; i++)
                if (!(drop_stale && promql__stale(vb[i]))) q->scratch[np++] = (promql_point_t){tb[i], vb[i]};
            if (k < 256) vt = STORAGE_VAL_NONE;
        }
        while (vt == STORAGE_VAL_FLOAT) {
            int64_t t;
            double v;
            it->vt->at(it, &t, &v);
            if (t > maxt) break;
            if (!(drop_stale && promql__stale(v))) {
                if (np == q->scratch_cap) {
                    size_t ncap = q->scratch_cap ? q->scratch_cap * 2 : 1024;
                    promql_point_t *g = realloc(q->scratch, ncap * sizeof *g);
                    if (!g) return vg_error_set(q->err, VG_ENOMEM, "out of memory");
                    q->scratch = g;
                    q->scratch_cap = ncap;
                }
                q->scratch[np++] = (promql_point_t){t, v};
            }
            vt = it->vt->next(it);
        }
        if (it->vt->err(it) < 0) {
            const char *why = storage_iterator_err_msg(it);
            return vg_error_set(q->err, it->vt->err(it), "reading series failed%s%s", why ? ": " : "", why ? why : "");
        }
        q->samples_read += np;
        if (!np) continue;
        TRY(fn(ctx, nl ? (model_label_t *)l : promql__no_labels, (uint32_t)nl, q->scratch, (uint32_t)np));
    }
    int rc = ss->vt->err(ss);
    if (rc < 0) return vg_error_set(q->err, rc, "selecting series failed");
    return 0;
}

typedef struct load_ctx {
    promql__q_t *q;
    promql__ser_t *s;
    size_t n, cap;
} load_ctx_t;

static int load_one(void *ctx, model_label_t *l, uint32_t nl, const promql_point_t *p, uint32_t np) {
    load_ctx_t *c = ctx;
    promql__q_t *q = c->q;
    promql__ser_t cur = {0};
    cur.p = vg_arena_alloc(q->a, np * sizeof *cur.p);
    if (!cur.p) return vg_error_set(q->err, VG_ENOMEM, "out of memory");
    memcpy(cur.p, p, np * sizeof *cur.p);
    cur.np = cur.cap = np;
    cur.lbl = l; /* borrowed: to_result copies the labels the answer keeps */
    cur.nl = nl;
    cur.h = model_labels_hash(l, nl);
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        promql__ser_t *g = vg_arena_alloc(q->a, cap * sizeof *g);
        if (!g) return vg_error_set(q->err, VG_ENOMEM, "out of memory");
        if (c->n) memcpy(g, c->s, c->n * sizeof *g);
        c->s = g;
        c->cap = cap;
    }
    c->s[c->n++] = cur;
    return 0;
}

/* Reads the series of vector selector vs with their samples in [mint, maxt] into arena arrays. */
static int load_series(promql__q_t *q, const promql_node_t *vs, int64_t mint, int64_t maxt, bool drop_stale,
                       promql__ser_t **out, size_t *n_out) {
    load_ctx_t c = {q, NULL, 0, 0};
    *out = NULL;
    *n_out = 0;
    TRY(promql__select_each(q, vs, mint, maxt, drop_stale, load_one, &c));
    *out = c.s;
    *n_out = c.n;
    return 0;
}

/* An instant vector selector over the grid; with want_ts the value is the sample's own time in seconds
 * and the metric name is dropped (timestamp()). */
static int eval_vector_sel(promql__ev_t *ev, const promql_node_t *n, bool want_ts, promql__val_t *out) {
    promql__q_t *q = ev->q;
    memset(out, 0, sizeof *out);
    out->type = PROMQL_TYPE_VECTOR;
    const promql_time_mods_t *m = &n->u.vector.mods;
    int64_t lo, hi;
    ref_range(q, m, ev->start, ev->end, &lo, &hi);
    promql__ser_t *raw;
    size_t nr;
    TRY(load_series(q, n, lo - q->lookback, hi, false, &raw, &nr));
    bool at = m->at != PROMQL_AT_NONE;
    int64_t at_ms = promql__at_ms(q, m);
    size_t k = 0;
    for (size_t i = 0; i < nr; i++) {
        promql__ser_t *r = &raw[i];
        promql__ser_t o = {0};
        o.lbl = r->lbl;
        o.nl = r->nl;
        o.h = r->h;
        if (want_ts) {
            o.lbl = promql__lbl_drop_name(q, r->lbl, r->nl, &o.nl);
            if (!o.lbl) return vg_error_set(q->err, VG_ENOMEM, "out of memory");
            o.h = model_labels_hash(o.lbl, o.nl);
        }
        /* a sample serves at most lookback/step + 1 steps: presize the output */
        uint64_t bound = (uint64_t)r->np * (uint64_t)(q->lookback / ev->step + 2);
        o.cap = (uint32_t)(bound < ev->n_steps ? bound : ev->n_steps);
        o.p = vg_arena_alloc(q->a, (o.cap ? o.cap : 1) * sizeof *o.p);
        if (!o.p) return vg_error_set(q->err, VG_ENOMEM, "out of memory");
        size_t p = 0; /* first sample with t > ref */
        for (size_t st = 0; st < ev->n_steps; st++) {
            TRY(promql__check_time(q));
            int64_t ts = ev->start + (int64_t)st * ev->step;
            int64_t ref = (at ? at_ms : ts) - m->offset_ms;
            while (p < r->np && r->p[p].t <= ref) p++;
            if (p == 0) continue;
            const promql_point_t *sp = &r->p[p - 1];
            if (sp->t < ref - q->lookback || promql__stale(sp->v)) continue;
            TRY(promql__samples_add(q, 1));
            promql__stat_loaded(q, ts, 1);
            TRY(promql__ser_push(q, &o, ts, want_ts ? (double)sp->t / 1000.0 : sp->v));
        }
        if (o.np) raw[k++] = o;
    }
    out->s = raw;
    out->ns = k;
    if (want_ts) {
        /* dropping the name may make two series equal */
        promql__ob_t ob;
        promql__ob_init(&ob, q, ev->n_steps);
        for (size_t i = 0; i < k; i++) {
            uint32_t idx;
            bool created;
            TRY(promql__ob_series(&ob, raw[i].lbl, raw[i].nl, raw[i].h, &idx, &created));
            if (!created) return promql__err_same_labelset(q);
            ob.s[idx].p = raw[i].p;
            ob.s[idx].np = raw[i].np;
            ob.s[idx].cap = raw[i].cap;
        }
        promql__ob_take(&ob, out);
    }
    return 0;
}

static int eval_subquery(promql__ev_t *ev, const promql_node_t *n, promql__val_t *inner_out) {
    promql__ev_t in = {ev->q, 0, 0, 0, 0};
    subquery_grid(ev->q, n, ev->start, ev->end, &in.start, &in.end, &in.step);
    in.n_steps = in.start > in.end ? 0 : (size_t)((in.end - in.start) / in.step) + 1;
    if ((int64_t)in.n_steps > ev->q->max_samples) /* every step of the inner grid may hold a sample */
        return vg_error_set(ev->q->err, VG_ELIMIT,
                            "query processing would load too many samples into memory in query execution");
    TRY(promql__eval(&in, n->u.subquery.expr, inner_out));
    if (inner_out->type == PROMQL_TYPE_SCALAR) {
        promql__ser_t *s = vg_arena_calloc(ev->q->a, 1, sizeof *s);
        if (!s) return vg_error_set(ev->q->err, VG_ENOMEM, "out of memory");
        for (size_t k = 0; k < in.n_steps; k++)
            TRY(promql__ser_push(ev->q, s, in.start + (int64_t)k * in.step, inner_out->sc[k]));
        s->lbl = promql__no_labels;
        s->h = model_labels_hash(NULL, 0);
        inner_out->type = PROMQL_TYPE_VECTOR;
        inner_out->s = s;
        inner_out->ns = in.n_steps ? 1 : 0;
    }
    return 0;
}

const promql_node_t *promql__range_selector(const promql__ev_t *ev, const promql_node_t *n, promql__rin_t *out,
                                            int64_t *mint, int64_t *maxt) {
    n = promql__unparen(n);
    if (n->type != PROMQL_NODE_MATRIX) return NULL;
    const promql_node_t *vs = n->u.matrix.vector;
    const promql_time_mods_t *m = &vs->u.vector.mods;
    memset(out, 0, sizeof *out);
    out->range = n->u.matrix.range_ms;
    out->offset = m->offset_ms;
    out->has_at = m->at != PROMQL_AT_NONE;
    out->at = promql__at_ms(ev->q, m);
    int64_t lo, hi;
    ref_range(ev->q, m, ev->start, ev->end, &lo, &hi);
    *mint = lo - out->range;
    *maxt = hi;
    return vs;
}

int promql__eval_range_input(promql__ev_t *ev, const promql_node_t *n, promql__rin_t *out) {
    promql__q_t *q = ev->q;
    memset(out, 0, sizeof *out);
    n = promql__unparen(n);
    int64_t mint, maxt;
    const promql_node_t *vs = promql__range_selector(ev, n, out, &mint, &maxt);
    if (vs) return load_series(q, vs, mint, maxt, true, &out->s, &out->ns);
    if (n->type != PROMQL_NODE_SUBQUERY) return vg_error_set(q->err, VG_EINTERNAL, "expected a range vector argument");
    const promql_time_mods_t *m = &n->u.subquery.mods;
    out->range = n->u.subquery.range_ms;
    promql__val_t v;
    TRY(eval_subquery(ev, n, &v));
    out->s = v.s;
    out->ns = v.ns;
    out->offset = m->offset_ms;
    out->has_at = m->at != PROMQL_AT_NONE;
    out->at = promql__at_ms(q, m);
    return 0;
}

/* A range vector as a value (top level of an instant query): samples in the window at the first step. */
static int eval_matrix_value(promql__ev_t *ev, const promql_node_t *n, promql__val_t *out) {
    promql__q_t *q = ev->q;
    promql__rin_t in;
    TRY(promql__eval_range_input(ev, n, &in));
    memset(out, 0, sizeof *out);
    out->type = PROMQL_TYPE_MATRIX;
    int64_t ref = (in.has_at ? in.at : ev->start) - in.offset;
    size_t k = 0;
    for (size_t i = 0; i < in.ns; i++) {
        promql__ser_t *s = &in.s[i];
        uint32_t a = 0, b;
        while (a < s->np && s->p[a].t < ref - in.range) a++;
        b = a;
        while (b < s->np && s->p[b].t <= ref) b++;
        if (b == a) continue;
        TRY(promql__samples_add(q, b - a));
        promql__stat_loaded(q, ev->start, b - a);
        promql__ser_t o = *s;
        o.p = s->p + a;
        o.np = b - a;
        o.cap = o.np;
        in.s[k++] = o;
    }
    out->s = in.s;
    out->ns = k;
    return 0;
}

static int eval_unary(promql__ev_t *ev, const promql_node_t *n, promql__val_t *out) {
    TRY(promql__eval(ev, n->u.unary.expr, out));
    if (n->u.unary.op != PROMQL_OP_SUB) return 0;
    promql__q_t *q = ev->q;
    if (out->type == PROMQL_TYPE_SCALAR) {
        for (size_t k = 0; k < ev->n_steps; k++) out->sc[k] = -out->sc[k];
        return 0;
    }
    promql__ob_t ob;
    promql__ob_init(&ob, q, ev->n_steps);
    for (size_t i = 0; i < out->ns; i++) {
        promql__ser_t *s = &out->s[i];
        for (uint32_t j = 0; j < s->np; j++) s->p[j].v = -s->p[j].v;
        uint32_t nl;
        model_label_t *l = promql__lbl_drop_name(q, s->lbl, s->nl, &nl);
        if (!l) return vg_error_set(q->err, VG_ENOMEM, "out of memory");
        uint32_t idx;
        bool created;
        TRY(promql__ob_series(&ob, l, nl, l == s->lbl ? s->h : model_labels_hash(l, nl), &idx, &created));
        if (!created) return promql__err_same_labelset(q);
        ob.s[idx].p = s->p;
        ob.s[idx].np = s->np;
        ob.s[idx].cap = s->cap;
    }
    promql__ob_take(&ob, out);
    return 0;
}

static int64_t val_points(const promql__ev_t *ev, const promql__val_t *v) {
    if (v->type == PROMQL_TYPE_SCALAR) return (int64_t)ev->n_steps;
    int64_t n = 0;
    for (size_t i = 0; i < v->ns; i++) n += v->s[i].np;
    return n;
}

static int eval_node(promql__ev_t *ev, const promql_node_t *n, promql__val_t *out) {
    promql__q_t *q = ev->q;
    memset(out, 0, sizeof *out);
    switch (n->type) {
    case PROMQL_NODE_NUMBER:
        out->type = PROMQL_TYPE_SCALAR;
        out->sc = vg_arena_alloc(q->a, (ev->n_steps ? ev->n_steps : 1) * sizeof *out->sc);
        if (!out->sc) return vg_error_set(q->err, VG_ENOMEM, "out of memory");
        for (size_t k = 0; k < ev->n_steps; k++) out->sc[k] = n->u.number;
        return 0;
    case PROMQL_NODE_STRING:
        out->type = PROMQL_TYPE_STRING;
        out->str = n->u.string;
        return 0;
    case PROMQL_NODE_PAREN: return promql__eval(ev, n->u.paren.expr, out);
    case PROMQL_NODE_VECTOR: return eval_vector_sel(ev, n, false, out);
    case PROMQL_NODE_MATRIX:
    case PROMQL_NODE_SUBQUERY: return eval_matrix_value(ev, n, out);
    case PROMQL_NODE_UNARY: return eval_unary(ev, n, out);
    case PROMQL_NODE_BINARY: return promql__eval_binary(ev, n, out);
    case PROMQL_NODE_AGGREGATE: return promql__eval_aggregate(ev, n, out);
    case PROMQL_NODE_CALL: {
        const promql_function_t *f = n->u.call.func;
        if (strcmp(f->name, "timestamp") == 0 && n->u.call.n_args == 1) {
            const promql_node_t *a = promql__unparen(n->u.call.args[0]);
            if (a->type == PROMQL_NODE_VECTOR) return eval_vector_sel(ev, a, true, out);
        }
        return promql__eval_call(ev, n, out);
    }
    }
    return vg_error_set(q->err, VG_EINTERNAL, "unknown node type %d", (int)n->type);
}

int promql__eval(promql__ev_t *ev, const promql_node_t *n, promql__val_t *out) {
    int64_t before = ev->q->cur_samples;
    TRY(promql__check_time_now(ev->q));
    TRY(eval_node(ev, n, out));
    ev->q->cur_samples = before;
    return promql__samples_add(ev->q, val_points(ev, out));
}

/* ---- exec ---------------------------------------------------------------------------------------- */

static bool ser_less(const void *a, const void *b, void *ctx) {
    (void)ctx;
    const promql_series_t *x = a, *y = b;
    return model_labels_cmp(x->labels, x->n_labels, y->labels, y->n_labels) < 0;
}

/* The result outlives the querier, whose label strings the evaluation borrowed: copies them into the
 * arena. */
static model_label_t *copy_labels(promql__q_t *q, const model_label_t *l, uint32_t n) {
    model_label_t *o = vg_arena_alloc(q->a, (n ? n : 1) * sizeof *o);
    if (!o) return NULL;
    for (uint32_t i = 0; i < n; i++) {
        o[i].name = vg_arena_strndup(q->a, l[i].name, strlen(l[i].name));
        o[i].value = vg_arena_strndup(q->a, l[i].value, strlen(l[i].value));
        if (!o[i].name || !o[i].value) return NULL;
    }
    return o;
}

static int to_result(promql__ev_t *ev, const promql__val_t *v, bool range, promql_result_t *r) {
    promql__q_t *q = ev->q;
    r->t = ev->start;
    if (v->type == PROMQL_TYPE_STRING) {
        r->type = PROMQL_TYPE_STRING;
        r->string = v->str;
        return 0;
    }
    if (v->type == PROMQL_TYPE_SCALAR && !range) {
        r->type = PROMQL_TYPE_SCALAR;
        r->scalar = v->sc[0];
        return 0;
    }
    if (v->type == PROMQL_TYPE_SCALAR) {
        r->type = PROMQL_TYPE_MATRIX;
        r->series = vg_arena_calloc(q->a, 1, sizeof *r->series);
        promql_point_t *p = vg_arena_alloc(q->a, (ev->n_steps ? ev->n_steps : 1) * sizeof *p);
        if (!r->series || !p) return vg_error_set(q->err, VG_ENOMEM, "out of memory");
        for (size_t k = 0; k < ev->n_steps; k++) p[k] = (promql_point_t){ev->start + (int64_t)k * ev->step, v->sc[k]};
        r->series[0].points = p;
        r->series[0].n_points = ev->n_steps;
        r->n_series = 1;
        return 0;
    }
    r->type = range ? PROMQL_TYPE_MATRIX : v->type;
    r->series = vg_arena_alloc(q->a, (v->ns ? v->ns : 1) * sizeof *r->series);
    if (!r->series) return vg_error_set(q->err, VG_ENOMEM, "out of memory");
    for (size_t i = 0; i < v->ns; i++) {
        r->series[i].labels = copy_labels(q, v->s[i].lbl, v->s[i].nl);
        if (!r->series[i].labels) return vg_error_set(q->err, VG_ENOMEM, "out of memory");
        r->series[i].n_labels = v->s[i].nl;
        r->series[i].points = v->s[i].p;
        r->series[i].n_points = v->s[i].np;
    }
    r->n_series = v->ns;
    if (range) promql__sort_go(r->series, r->n_series, sizeof *r->series, ser_less, NULL);
    return 0;
}

static void fmt_thousands(int64_t v, char *out, size_t cap) {
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%" PRId64, v);
    size_t k = 0;
    for (int i = 0; i < n && k + 2 < cap; i++) {
        if (i > 0 && tmp[i - 1] != '-' && (n - i) % 3 == 0) out[k++] = ',';
        out[k++] = tmp[i];
    }
    out[k] = 0;
}

int promql_exec(promql_engine_t *eng, const promql_queryable_t *qb, const promql_query_t *qq, vg_arena_t *arena,
                promql_result_t **out, vg_error_t *err) {
    *out = NULL;
    bool range = qq->step_ms != 0 || qq->start_ms != qq->end_ms;
    promql_value_type_t ty = promql_node_value_type(qq->expr);
    if (range) {
        if (qq->end_ms < qq->start_ms)
            return vg_error_set(err, VG_EINVAL, "end timestamp must not be before start time");
        if (qq->step_ms <= 0)
            return vg_error_set(err, VG_EINVAL,
                                "zero or negative query resolution step widths are not accepted. Try a positive "
                                "integer");
        if ((qq->end_ms - qq->start_ms) / qq->step_ms > eng->o.max_points) {
            char buf[32];
            fmt_thousands(eng->o.max_points, buf, sizeof buf);
            return vg_error_set(err, VG_EINVAL,
                                "exceeded maximum resolution of %s points per timeseries. Try decreasing the query "
                                "resolution (?step=XX)",
                                buf);
        }
        if (ty != PROMQL_TYPE_SCALAR && ty != PROMQL_TYPE_VECTOR)
            return vg_error_set(err, VG_EINVAL,
                                "invalid expression type \"%s\" for range query, must be Scalar or instant Vector",
                                promql_value_type_str(ty));
    }
    int64_t timeout = qq->timeout_ms > 0 && qq->timeout_ms < eng->o.timeout_ms ? qq->timeout_ms : eng->o.timeout_ms;
    uint64_t t_begin = vg_mono_ns(), deadline = t_begin + (uint64_t)timeout * 1000000u;
    TRY(gate_enter(eng, deadline, err));
    uint64_t t_admitted = vg_mono_ns();

    promql__q_t q = {0};
    q.a = arena;
    q.err = err;
    q.lookback = eng->o.lookback_ms;
    q.sub_step = eng->o.subquery_step_ms;
    q.q_start = qq->start_ms;
    q.q_end = qq->end_ms;
    q.max_samples = eng->o.max_samples;
    if (qq->max_samples > 0 && qq->max_samples < q.max_samples) q.max_samples = qq->max_samples; /* a tenant's lower limit */
    q.max_bytes = eng->o.max_bytes;
    if (qq->max_bytes > 0 && qq->max_bytes < q.max_bytes) q.max_bytes = qq->max_bytes;
    /* the byte budget is the arena's limit while the query evaluates (the caller's own limit, if lower,
     * still holds); an allocation refused for it becomes VG_ELIMIT below */
    size_t saved_limit = arena->limit;
    int saved_refused = arena->refused;
    size_t budget = arena->total + (size_t)q.max_bytes < arena->total ? SIZE_MAX : arena->total + (size_t)q.max_bytes;
    if (!arena->limit || budget < arena->limit) arena->limit = budget;
    arena->refused = 0;
    q.deadline_ns = deadline;
    promql__ev_t ev = {&q, qq->start_ms, qq->end_ms, range ? qq->step_ms : 1, 0};
    ev.n_steps = (size_t)((ev.end - ev.start) / ev.step) + 1;
    promql_stats_t stats = {.n_steps = ev.n_steps, .start_ms = ev.start, .step_ms = range ? ev.step : 0};
    stats.per_step = vg_arena_calloc(arena, ev.n_steps, sizeof *stats.per_step); /* NULL: totals only */
    q.stats = &stats;

    int rc = 0;
    int64_t mint = 0, maxt = 0;
    bool any = false;
    plan(&q, qq->expr, ev.start, ev.end, &mint, &maxt, &any);
    if (any) rc = qb->open_querier(qb->ctx, mint, maxt, &q.qr, err);
    uint64_t t_prepared = vg_mono_ns(), t_evaluated = t_prepared;
    promql__val_t v;
    promql_result_t *r = NULL;
    if (rc >= 0) rc = promql__eval(&ev, qq->expr, &v);
    if (rc >= 0) {
        t_evaluated = vg_mono_ns();
        r = vg_arena_calloc(arena, 1, sizeof *r);
        if (!r) rc = vg_error_set(err, VG_ENOMEM, "out of memory");
        else rc = to_result(&ev, &v, range, r);
        if (r) {
            uint64_t t_done = vg_mono_ns();
            r->samples_read = q.samples_read;
            stats.exec_queue_s = (double)(t_admitted - t_begin) / 1e9;
            stats.prep_s = (double)(t_prepared - t_admitted) / 1e9;
            /* only a range query's series are sorted; an instant query's result is taken as evaluated */
            if (!range) t_evaluated = t_done;
            stats.inner_eval_s = (double)(t_evaluated - t_prepared) / 1e9;
            stats.sort_s = (double)(t_done - t_evaluated) / 1e9;
            stats.eval_total_s = (double)(t_done - t_admitted) / 1e9;
            stats.exec_total_s = (double)(t_done - t_begin) / 1e9;
            r->stats = stats;
        }
    }
    if (rc < 0 && arena->refused && arena->limit == budget) rc = promql__err_bytes(&q);
    arena->limit = saved_limit;
    arena->refused |= saved_refused;
    storage_querier_close(q.qr);
    for (size_t i = 0; i < q.n_ms; i++) model_matcher_free(q.ms[i]);
    free(q.scratch);
    free(q.ms);
    gate_leave(eng);
    if (rc < 0) return rc;
    *out = r;
    return 0;
}

int promql_exec_instant(promql_engine_t *eng, const promql_queryable_t *qb, const promql_node_t *expr, int64_t t_ms,
                        vg_arena_t *arena, promql_result_t **out, vg_error_t *err) {
    promql_query_t q = {expr, t_ms, t_ms, 0, 0, 0, 0};
    return promql_exec(eng, qb, &q, arena, out, err);
}

int promql_exec_range(promql_engine_t *eng, const promql_queryable_t *qb, const promql_node_t *expr,
                      int64_t start_ms, int64_t end_ms, int64_t step_ms, vg_arena_t *arena, promql_result_t **out,
                      vg_error_t *err) {
    promql_query_t q = {expr, start_ms, end_ms, step_ms, 0, 0, 0};
    if (step_ms <= 0) { /* step 0 would mean an instant query to promql_exec */
        *out = NULL;
        return vg_error_set(err, VG_EINVAL,
                            "zero or negative query resolution step widths are not accepted. Try a positive "
                            "integer");
    }
    return promql_exec(eng, qb, &q, arena, out, err);
}
