/* Aggregation operators (sum avg count min max group stddev stdvar topk bottomk quantile count_values)
 * with by/without grouping, step by step, with Prometheus 2.42's arithmetic (incremental mean, Welford
 * variance, container/heap order for topk/bottomk).
 *
 * Invariants: group keys and output labels are computed once per input series (count_values: once per
 * distinct value label); within a step, groups are emitted in order of first appearance, as Prometheus
 * does for instant queries. */
#include "engine_int.h"

#include <math.h>
#include <string.h>

#define OOM(q) vg_error_set((q)->err, VG_ENOMEM, "out of memory")

typedef struct hent {
    double v;
    uint32_t idx; /* input series */
} hent_t;

typedef struct agg {
    uint32_t gen; /* step at which the state was last reset, +1 */
    double value, mean, count;
    hent_t *h;
    size_t hn, hcap;
    uint32_t out; /* output series or UINT32_MAX */
} agg_t;

typedef struct group {
    model_label_t *l; /* output labels */
    uint32_t nl;
    uint64_t h;
} group_t;

typedef struct gctx {
    const group_t *g;
    const model_label_t *l;
    uint32_t n;
} gctx_t;

static bool group_eq(const void *ctx, uint32_t v) {
    const gctx_t *k = ctx;
    return model_labels_equal(k->g[v].l, k->g[v].nl, k->l, k->n);
}

static bool name_in(const char *name, const promql_str_t *g, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(g[i].ptr, name) == 0) return true;
    return false;
}

/* The grouping labels of l into o (room for n): by → only the listed ones; without → all but those and
 * __name__. */
static uint32_t group_labels(const model_label_t *l, uint32_t n, const promql_str_t *g, size_t ng, bool without,
                             model_label_t *o) {
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        bool in = name_in(l[i].name, g, ng);
        if (without ? (!in && strcmp(l[i].name, MODEL_METRIC_NAME) != 0) : in) o[k++] = l[i];
    }
    return k;
}

/* container/heap on hent_t with Less = (topk: NaN first, then ascending; bottomk: NaN first, descending). */
static bool hless(const hent_t *h, size_t i, size_t j, bool top) {
    if (isnan(h[i].v)) return true;
    return top ? h[i].v < h[j].v : h[i].v > h[j].v;
}

static void hswap(hent_t *h, size_t i, size_t j) {
    hent_t t = h[i];
    h[i] = h[j];
    h[j] = t;
}

static void hup(hent_t *h, size_t j, bool top) {
    while (j > 0) {
        size_t i = (j - 1) / 2;
        if (!hless(h, j, i, top)) break;
        hswap(h, i, j);
        j = i;
    }
}

static bool hdown(hent_t *h, size_t i0, size_t n, bool top) {
    size_t i = i0;
    for (;;) {
        size_t j1 = 2 * i + 1;
        if (j1 >= n) break;
        size_t j = j1;
        if (j1 + 1 < n && hless(h, j1 + 1, j1, top)) j = j1 + 1;
        if (!hless(h, j, i, top)) break;
        hswap(h, i, j);
        i = j;
    }
    return i > i0;
}

static bool rev_top_less(const void *a, const void *b, void *ctx) {
    (void)ctx; /* sort.Reverse(vectorByValueHeap) */
    double x = ((const hent_t *)a)->v, y = ((const hent_t *)b)->v;
    return isnan(y) || y < x;
}

static bool rev_bottom_less(const void *a, const void *b, void *ctx) {
    (void)ctx; /* sort.Reverse(vectorByReverseValueHeap) */
    double x = ((const hent_t *)a)->v, y = ((const hent_t *)b)->v;
    return isnan(y) || y > x;
}

static int hpush(promql__q_t *q, agg_t *g, double v, uint32_t idx) {
    if (g->hn == g->hcap) {
        size_t cap = g->hcap ? g->hcap * 2 : 8;
        hent_t *h = vg_arena_alloc(q->a, cap * sizeof *h);
        if (!h) return OOM(q);
        if (g->hn) memcpy(h, g->h, g->hn * sizeof *h);
        g->h = h;
        g->hcap = cap;
    }
    g->h[g->hn++] = (hent_t){v, idx};
    return 0;
}

int promql__eval_aggregate(promql__ev_t *ev, const promql_node_t *n, promql__val_t *out) {
    promql__q_t *q = ev->q;
    promql_op_t op = n->u.aggregate.op;
    const promql_str_t *grouping = n->u.aggregate.grouping;
    size_t ngrouping = n->u.aggregate.n_grouping;
    bool without = n->u.aggregate.without;
    double *param = NULL;
    const char *value_label = NULL;
    if (op == PROMQL_OP_COUNT_VALUES) {
        const promql_node_t *p = promql__unparen(n->u.aggregate.param);
        value_label = p->u.string.ptr;
        bool ok = *value_label != 0;
        for (const char *c = value_label; *c; c++)
            if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || *c == '_' ||
                  (c != value_label && *c >= '0' && *c <= '9')))
                ok = false;
        if (!ok) {
            vg_buf_t b = VG_BUF_INIT;
            promql_quote(&b, value_label, strlen(value_label));
            int rc = vg_error_set(q->err, VG_EEXEC, "invalid label name %s", b.data ? b.data : "");
            vg_buf_deinit(&b);
            return rc;
        }
    } else if (n->u.aggregate.param) {
        promql__val_t pv;
        TRY(promql__eval(ev, n->u.aggregate.param, &pv));
        param = pv.sc;
    }
    promql__val_t in;
    TRY(promql__eval(ev, n->u.aggregate.expr, &in));

    bool topk = op == PROMQL_OP_TOPK, bottomk = op == PROMQL_OP_BOTTOMK;
    size_t ns = in.ns ? in.ns : 1;
    uint32_t *sgroup = vg_arena_alloc(q->a, ns * sizeof *sgroup);
    uint32_t *sout = vg_arena_alloc(q->a, ns * sizeof *sout); /* topk/bottomk: output series of an input */
    size_t gcap = ns;
    group_t *groups = vg_arena_alloc(q->a, gcap * sizeof *groups);
    agg_t *st = vg_arena_calloc(q->a, gcap, sizeof *st);
    uint32_t *order = vg_arena_alloc(q->a, gcap * sizeof *order);
    if (!sgroup || !sout || !groups || !st || !order) return OOM(q);
    size_t ng = 0;
    promql__hmap_t gmap;
    TRY(promql__hmap_init(q, &gmap, ns));

    /* group of a label set (created when new) */
    /* the key is built in gbuf; only a new group keeps a copy */
    model_label_t *gbuf = NULL;
    uint32_t gbuf_cap = 0;
#define FIND_GROUP(L, NL, OUTIDX)                                                                              \
    do {                                                                                                       \
        if ((NL) > gbuf_cap) {                                                                                 \
            gbuf_cap = (NL) < 16 ? 16 : (NL);                                                                  \
            gbuf = vg_arena_alloc(q->a, gbuf_cap * sizeof *gbuf);                                              \
            if (!gbuf) return OOM(q);                                                                          \
        }                                                                                                      \
        model_label_t *gl_ = gbuf;                                                                             \
        uint32_t gn_ = group_labels((L), (NL), grouping, ngrouping, without, gbuf);                           \
        uint64_t gh_ = model_labels_hash(gl_, gn_);                                                            \
        gctx_t k_ = {groups, gl_, gn_};                                                                        \
        uint32_t gi_ = promql__hmap_get(&gmap, gh_, group_eq, &k_);                                            \
        if (gi_ == UINT32_MAX) {                                                                               \
            if (ng == gcap) {                                                                                  \
                size_t nc_ = gcap * 2;                                                                         \
                group_t *g2_ = vg_arena_alloc(q->a, nc_ * sizeof *g2_);                                         \
                agg_t *s2_ = vg_arena_calloc(q->a, nc_, sizeof *s2_);                                          \
                uint32_t *o2_ = vg_arena_alloc(q->a, nc_ * sizeof *o2_);                                        \
                if (!g2_ || !s2_ || !o2_) return OOM(q);                                                       \
                memcpy(g2_, groups, ng * sizeof *g2_);                                                         \
                memcpy(s2_, st, ng * sizeof *s2_);                                                             \
                memcpy(o2_, order, ng * sizeof *o2_);                                                          \
                groups = g2_, st = s2_, order = o2_, gcap = nc_;                                               \
            }                                                                                                  \
            gl_ = vg_arena_alloc(q->a, (gn_ ? gn_ : 1) * sizeof *gl_);                                         \
            if (!gl_) return OOM(q);                                                                           \
            if (gn_) memcpy(gl_, gbuf, gn_ * sizeof *gl_);                                                     \
            gi_ = (uint32_t)ng++;                                                                              \
            groups[gi_] = (group_t){gl_, gn_, gh_};                                                            \
            st[gi_].out = UINT32_MAX;                                                                          \
            TRY(promql__hmap_put(q, &gmap, gh_, gi_));                                                         \
        }                                                                                                      \
        (OUTIDX) = gi_;                                                                                        \
    } while (0)

    if (op != PROMQL_OP_COUNT_VALUES)
        for (size_t i = 0; i < in.ns; i++) {
            FIND_GROUP(in.s[i].lbl, in.s[i].nl, sgroup[i]);
            sout[i] = UINT32_MAX;
        }

    promql__ob_t ob;
    promql__ob_init(&ob, q, ev->n_steps);
    promql__cur_t cur;
    TRY(promql__cur_init(ev, &cur, &in));
    double *qbuf = NULL;
    if (op == PROMQL_OP_QUANTILE) {
        qbuf = vg_arena_alloc(q->a, ns * sizeof *qbuf);
        if (!qbuf) return OOM(q);
    }
    /* count_values: value label sets, per distinct formatted value */
    promql__hmap_t cvmap = {0};
    if (op == PROMQL_OP_COUNT_VALUES) TRY(promql__hmap_init(q, &cvmap, 16));

    for (size_t step = 0; step < ev->n_steps; step++) {
        int64_t ts = ev->start + (int64_t)step * ev->step;
        uint32_t gen = (uint32_t)step + 1;
        promql__cur_step(&cur, ts);
        int64_t k = 0;
        if (topk || bottomk) {
            double f = param[step];
            if (!(f <= 9223372036854775807.0 && f >= -9223372036854775808.0)) {
                char b[VG_FLOAT_MAX];
                vg_fmt_float_g(f, b);
                return vg_error_set(q->err, VG_EEXEC, "Scalar value %s overflows int64", b);
            }
            k = (int64_t)f;
            if (k < 1) continue;
        }
        size_t no = 0;
        for (size_t j = 0; j < cur.n; j++) {
            TRY(promql__check_time(q));
            uint32_t si = cur.idx[j];
            double v = cur.val[j];
            uint32_t gi;
            if (op == PROMQL_OP_COUNT_VALUES) {
                char fb[VG_FLOAT_MAX];
                size_t fl = vg_fmt_float(v, fb);
                char *vs = vg_arena_strndup(q->a, fb, fl);
                if (!vs) return OOM(q);
                model_label_t *ml;
                uint32_t mn;
                TRY(promql__lbl_set(q, in.s[si].lbl, in.s[si].nl, value_label, vs, &ml, &mn));
                /* group by includes the value label */
                promql_str_t *g2 = vg_arena_alloc(q->a, (ngrouping + 1) * sizeof *g2);
                if (!g2) return OOM(q);
                if (ngrouping) memcpy(g2, grouping, ngrouping * sizeof *g2);
                g2[ngrouping] = (promql_str_t){value_label, strlen(value_label)};
                const promql_str_t *save = grouping;
                size_t save_n = ngrouping;
                if (!without) grouping = g2, ngrouping++;
                FIND_GROUP(ml, mn, gi);
                grouping = save;
                ngrouping = save_n;
            } else {
                gi = sgroup[si];
            }
            agg_t *a = &st[gi];
            if (a->gen != gen) {
                a->gen = gen;
                order[no++] = gi;
                a->value = v;
                a->mean = v;
                a->count = 1;
                a->hn = 0;
                switch (op) {
                case PROMQL_OP_STDDEV:
                case PROMQL_OP_STDVAR: a->value = 0; break;
                case PROMQL_OP_GROUP: a->value = 1; break;
                case PROMQL_OP_TOPK:
                case PROMQL_OP_BOTTOMK:
                case PROMQL_OP_QUANTILE: TRY(hpush(q, a, v, si)); break;
                default: break;
                }
                continue;
            }
            switch (op) {
            case PROMQL_OP_SUM: a->value += v; break;
            case PROMQL_OP_AVG:
                a->count++;
                if (isinf(a->mean)) {
                    if (isinf(v) && (a->mean > 0) == (v > 0)) break;
                    if (!isinf(v) && !isnan(v)) break;
                }
                a->mean += v / a->count - a->mean / a->count;
                break;
            case PROMQL_OP_GROUP: break;
            case PROMQL_OP_COUNT:
            case PROMQL_OP_COUNT_VALUES: a->count++; break;
            case PROMQL_OP_MAX:
                if (a->value < v || isnan(a->value)) a->value = v;
                break;
            case PROMQL_OP_MIN:
                if (a->value > v || isnan(a->value)) a->value = v;
                break;
            case PROMQL_OP_STDVAR:
            case PROMQL_OP_STDDEV: {
                a->count++;
                double delta = v - a->mean;
                a->mean += delta / a->count;
                a->value += delta * (v - a->mean);
                break;
            }
            case PROMQL_OP_TOPK:
            case PROMQL_OP_BOTTOMK:
                if ((int64_t)a->hn < k) {
                    TRY(hpush(q, a, v, si));
                    hup(a->h, a->hn - 1, topk);
                } else if (topk ? (a->h[0].v < v || (isnan(a->h[0].v) && !isnan(v)))
                                : (a->h[0].v > v || (isnan(a->h[0].v) && !isnan(v)))) {
                    a->h[0] = (hent_t){v, si};
                    if (k > 1 && !hdown(a->h, 0, a->hn, topk)) hup(a->h, 0, topk);
                }
                break;
            case PROMQL_OP_QUANTILE: TRY(hpush(q, a, v, si)); break;
            default: break;
            }
        }
        for (size_t j = 0; j < no; j++) {
            uint32_t gi = order[j];
            agg_t *a = &st[gi];
            if (topk || bottomk) {
                if (a->hn > 1)
                    promql__sort_go(a->h, a->hn, sizeof *a->h, topk ? rev_top_less : rev_bottom_less, NULL);
                for (size_t e = 0; e < a->hn; e++) {
                    uint32_t si = a->h[e].idx;
                    if (sout[si] == UINT32_MAX)
                        TRY(promql__ob_series(&ob, in.s[si].lbl, in.s[si].nl, in.s[si].h, &sout[si], NULL));
                    TRY(promql__ob_push(&ob, sout[si], ts, a->h[e].v));
                }
                continue;
            }
            double v;
            switch (op) {
            case PROMQL_OP_AVG: v = a->mean; break;
            case PROMQL_OP_COUNT:
            case PROMQL_OP_COUNT_VALUES: v = a->count; break;
            case PROMQL_OP_STDVAR: v = a->value / a->count; break;
            case PROMQL_OP_STDDEV: v = sqrt(a->value / a->count); break;
            case PROMQL_OP_QUANTILE:
                for (size_t e = 0; e < a->hn; e++) qbuf[e] = a->h[e].v;
                v = promql__quantile(param[step], qbuf, a->hn);
                break;
            default: v = a->value; break;
            }
            if (a->out == UINT32_MAX) TRY(promql__ob_series(&ob, groups[gi].l, groups[gi].nl, groups[gi].h, &a->out, NULL));
            TRY(promql__ob_push(&ob, a->out, ts, v));
        }
    }
#undef FIND_GROUP
    (void)cvmap;
    promql__ob_take(&ob, out);
    return 0;
}
