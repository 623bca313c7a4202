/* Implementations of every Prometheus 2.42 function on float samples: range-vector functions (rate and
 * friends, *_over_time, holt_winters, predict_linear…) evaluated over sliding windows, element-wise
 * instant-vector functions, and the special ones (absent, scalar, vector, sort, histogram_quantile,
 * label_replace, label_join, the date functions).
 *
 * Invariants: a range window for step ts is [ref-range, ref] with ref = (@ or ts) - offset, closed at both
 * ends (2.42); windows only move forward, so each series is scanned once per evaluation. Functions drop
 * the metric name except last_over_time, label_replace, label_join, sort and sort_desc. */
#include "engine_int.h"
#include "model/regex.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OOM(q) vg_error_set((q)->err, VG_ENOMEM, "out of memory")

/* ---- range-vector functions ---------------------------------------------------------------------- */

typedef struct rctx {
    int64_t ts;          /* step time */
    int64_t range_start; /* ref - range */
    int64_t range_end;   /* ref */
    int64_t range;
    double a1, a2; /* scalar arguments at this step */
    promql__q_t *q;
    double *scratch;
} rctx_t;

/* Returns 1 with *out set, 0 for no output, <0 on error. */
typedef int (*rfn_t)(const promql_point_t *p, size_t n, rctx_t *c, double *out);

static int extrapolated(const promql_point_t *p, size_t n, rctx_t *c, double *out, bool counter, bool rate) {
    if (n < 2) return 0;
    double result = p[n - 1].v - p[0].v;
    if (counter) {
        /* resets are rare: look for one first (no dependency between iterations), then add them in order */
        bool reset = false;
        for (size_t i = 1; i < n; i++) reset |= p[i].v < p[i - 1].v;
        double prev = p[0].v;
        for (size_t i = 1; reset && i < n; i++) {
            if (p[i].v < prev) result += prev;
            prev = p[i].v;
        }
    }
    double to_start = (double)(p[0].t - c->range_start) / 1000;
    double to_end = (double)(c->range_end - p[n - 1].t) / 1000;
    double sampled = (double)(p[n - 1].t - p[0].t) / 1000;
    double avg = sampled / (double)(n - 1);
    if (counter && result > 0 && p[0].v >= 0) {
        double to_zero = sampled * (p[0].v / result);
        if (to_zero < to_start) to_start = to_zero;
    }
    double threshold = avg * 1.1;
    double ext = sampled;
    ext += to_start < threshold ? to_start : avg / 2;
    ext += to_end < threshold ? to_end : avg / 2;
    double factor = ext / sampled;
    if (rate) factor /= (double)c->range / 1000;
    *out = result * factor;
    return 1;
}

static int f_rate(const promql_point_t *p, size_t n, rctx_t *c, double *o) { return extrapolated(p, n, c, o, true, true); }
static int f_increase(const promql_point_t *p, size_t n, rctx_t *c, double *o) {
    return extrapolated(p, n, c, o, true, false);
}
static int f_delta(const promql_point_t *p, size_t n, rctx_t *c, double *o) {
    return extrapolated(p, n, c, o, false, false);
}

static int instant_value(const promql_point_t *p, size_t n, double *out, bool rate) {
    if (n < 2) return 0;
    const promql_point_t *last = &p[n - 1], *prev = &p[n - 2];
    double r = rate && last->v < prev->v ? last->v : last->v - prev->v;
    int64_t iv = last->t - prev->t;
    if (iv == 0) return 0;
    if (rate) r /= (double)iv / 1000;
    *out = r;
    return 1;
}
static int f_irate(const promql_point_t *p, size_t n, rctx_t *c, double *o) {
    (void)c;
    return instant_value(p, n, o, true);
}
static int f_idelta(const promql_point_t *p, size_t n, rctx_t *c, double *o) {
    (void)c;
    return instant_value(p, n, o, false);
}

static void linreg(const promql_point_t *p, size_t n, int64_t icept_t, double *slope, double *icept) {
    double sx = 0, sy = 0, sxy = 0, sx2 = 0, nn = 0;
    double init = p[0].v;
    bool const_y = true;
    for (size_t i = 0; i < n; i++) {
        if (const_y && i > 0 && p[i].v != init) const_y = false;
        double x = (double)(p[i].t - icept_t) / 1e3;
        nn += 1;
        sx += x;
        sy += p[i].v;
        sxy += x * p[i].v;
        sx2 += x * x;
    }
    if (const_y) {
        if (isinf(init)) {
            *slope = *icept = NAN;
        } else {
            *slope = 0;
            *icept = init;
        }
        return;
    }
    double cov = sxy - sx * sy / nn;
    double var = sx2 - sx * sx / nn;
    *slope = cov / var;
    *icept = sy / nn - *slope * sx / nn;
}

static int f_deriv(const promql_point_t *p, size_t n, rctx_t *c, double *o) {
    (void)c;
    if (n < 2) return 0;
    double icept;
    linreg(p, n, p[0].t, o, &icept);
    return 1;
}

static int f_predict_linear(const promql_point_t *p, size_t n, rctx_t *c, double *o) {
    if (n < 2) return 0;
    double slope, icept;
    linreg(p, n, c->ts, &slope, &icept);
    *o = slope * c->a1 + icept;
    return 1;
}

static int f_holt_winters(const promql_point_t *p, size_t n, rctx_t *c, double *o) {
    double sf = c->a1, tf = c->a2;
    if (sf <= 0 || sf >= 1)
        return vg_error_set(c->q->err, VG_EEXEC, "invalid smoothing factor. Expected: 0 < sf < 1, got: %f", sf);
    if (tf <= 0 || tf >= 1)
        return vg_error_set(c->q->err, VG_EEXEC, "invalid trend factor. Expected: 0 < tf < 1, got: %f", tf);
    if (n < 2) return 0;
    double s0 = 0, s1 = p[0].v, b = p[1].v - p[0].v;
    for (size_t i = 1; i < n; i++) {
        double x = sf * p[i].v;
        if (i - 1 != 0) b = tf * (s1 - s0) + (1 - tf) * b;
        double y = (1 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    *o = s1;
    return 1;
}

static int f_changes(const promql_point_t *p, size_t n, rctx_t *c, double *o) {
    (void)c;
    if (n == 0) return 0;
    double prev = p[0].v, k = 0;
    for (size_t i = 1; i < n; i++) {
        double cur = p[i].v;
        if (cur != prev && !(isnan(cur) && isnan(prev))) k++;
        prev = cur;
    }
    *o = k;
    return 1;
}

static int f_resets(const promql_point_t *p, size_t n, rctx_t *c, double *o) {
    (void)c;
    double k = 0;
    for (size_t i = 1; i < n; i++)
        if (p[i].v < p[i - 1].v) k++;
    *o = k;
    return 1;
}

static int f_avg_ot(const promql_point_t *p, size_t n, rctx_t *c, double *o) {
    (void)c;
    double mean = 0, count = 0;
    for (size_t i = 0; i < n; i++) {
        double v = p[i].v;
        count++;
        if (isinf(mean)) {
            if (isinf(v) && (mean > 0) == (v > 0)) continue;
            if (!isinf(v) && !isnan(v)) continue;
        }
        mean += v / count - mean / count;
    }
    *o = mean;
    return 1;
}

static int f_count_ot(const promql_point_t *p, size_t n, rctx_t *c, double *o) {
    (void)p, (void)c;
    *o = (double)n;
    return 1;
}

static int f_last_ot(const promql_point_t *p, size_t n, rctx_t *c, double *o) {
    (void)c;
    *o = p[n - 1].v;
    return 1;
}

static int f_present_ot(const promql_point_t *p, size_t n, rctx_t *c, double *o) {
    (void)p, (void)n, (void)c;
    *o = 1;
    return 1;
}

static int f_max_ot(const promql_point_t *p, size_t n, rctx_t *c, double *o) {
    (void)c;
    double m = p[0].v;
    for (size_t i = 0; i < n; i++)
        if (p[i].v > m || isnan(m)) m = p[i].v;
    *o = m;
    return 1;
}

static int f_min_ot(const promql_point_t *p, size_t n, rctx_t *c, double *o) {
    (void)c;
    double m = p[0].v;
    for (size_t i = 0; i < n; i++)
        if (p[i].v < m || isnan(m)) m = p[i].v;
    *o = m;
    return 1;
}

static int f_sum_ot(const promql_point_t *p, size_t n, rctx_t *c, double *o) {
    (void)c;
    double s = 0;
    for (size_t i = 0; i < n; i++) s += p[i].v;
    *o = s;
    return 1;
}

static double stdvar(const promql_point_t *p, size_t n) {
    double count = 0, mean = 0, aux = 0;
    for (size_t i = 0; i < n; i++) {
        count++;
        double delta = p[i].v - mean;
        mean += delta / count;
        aux += delta * (p[i].v - mean);
    }
    return aux / count;
}

static int f_stdvar_ot(const promql_point_t *p, size_t n, rctx_t *c, double *o) {
    (void)c;
    *o = stdvar(p, n);
    return 1;
}

static int f_stddev_ot(const promql_point_t *p, size_t n, rctx_t *c, double *o) {
    (void)c;
    *o = sqrt(stdvar(p, n));
    return 1;
}

static int f_quantile_ot(const promql_point_t *p, size_t n, rctx_t *c, double *o) {
    for (size_t i = 0; i < n; i++) c->scratch[i] = p[i].v;
    *o = promql__quantile(c->a1, c->scratch, n);
    return 1;
}

typedef struct rfunc {
    const char *name;
    rfn_t fn;
    int matrix_arg; /* index of the range-vector argument */
    bool keep_name;
} rfunc_t;

static const rfunc_t rfuncs[] = {
    {"avg_over_time", f_avg_ot, 0, false},
    {"changes", f_changes, 0, false},
    {"count_over_time", f_count_ot, 0, false},
    {"delta", f_delta, 0, false},
    {"deriv", f_deriv, 0, false},
    {"holt_winters", f_holt_winters, 0, false},
    {"idelta", f_idelta, 0, false},
    {"increase", f_increase, 0, false},
    {"irate", f_irate, 0, false},
    {"last_over_time", f_last_ot, 0, true},
    {"max_over_time", f_max_ot, 0, false},
    {"min_over_time", f_min_ot, 0, false},
    {"predict_linear", f_predict_linear, 0, false},
    {"present_over_time", f_present_ot, 0, false},
    {"quantile_over_time", f_quantile_ot, 1, false},
    {"rate", f_rate, 0, false},
    {"resets", f_resets, 0, false},
    {"stddev_over_time", f_stddev_ot, 0, false},
    {"stdvar_over_time", f_stdvar_ot, 0, false},
    {"sum_over_time", f_sum_ot, 0, false},
};

static int eval_scalar_arg(promql__ev_t *ev, const promql_node_t *n, double **out) {
    promql__val_t v;
    TRY(promql__eval(ev, n, &v));
    if (v.type != PROMQL_TYPE_SCALAR) return vg_error_set(ev->q->err, VG_EINTERNAL, "expected a scalar argument");
    *out = v.sc;
    return 0;
}

/* Window bounds of series s at reference time ref: [*a, *b). */
static void window(const promql__ser_t *s, int64_t lo, int64_t hi, uint32_t *a, uint32_t *b) {
    while (*a < s->np && s->p[*a].t < lo) (*a)++;
    if (*b < *a) *b = *a;
    while (*b < s->np && s->p[*b].t <= hi) (*b)++;
}

typedef struct rstate {
    promql__ev_t *ev;
    const rfunc_t *rf;
    const promql__rin_t *in;
    double *sa[2];
    rctx_t c;
    size_t scratch_cap;
    bool unique; /* output label sets cannot collide: no lookup by labels needed */
    promql__ob_t ob;
} rstate_t;

/* The function over every step's window of one input series; appends an output series when any step
 * gives a value. */
static int range_series(void *ctx, model_label_t *lbl, uint32_t nl, const promql_point_t *pts, uint32_t np) {
    rstate_t *r = ctx;
    promql__ev_t *ev = r->ev;
    promql__q_t *q = ev->q;
    const promql__rin_t *in = r->in;
    rctx_t *c = &r->c;
    if (r->rf->fn == f_quantile_ot && np > r->scratch_cap) {
        c->scratch = vg_arena_alloc(q->a, np * sizeof *c->scratch);
        if (!c->scratch) return OOM(q);
        r->scratch_cap = np;
    }
    promql__ser_t s = {.p = (promql_point_t *)pts, .np = np};
    promql__ser_t o = {0};
    uint32_t a = 0, b = 0;
    for (size_t st = 0; st < ev->n_steps; st++) {
        TRY(promql__check_time(q));
        int64_t ts = ev->start + (int64_t)st * ev->step;
        int64_t ref = (in->has_at ? in->at : ts) - in->offset;
        window(&s, ref - in->range, ref, &a, &b);
        if (a == b) continue;
        if (q->cur_samples + (int64_t)(b - a) > q->max_samples) TRY(promql__samples_add(q, b - a));
        promql__stat_hold(q, b - a);
        promql__stat_loaded(q, ts, b - a);
        c->ts = ts;
        c->range_start = ref - in->range;
        c->range_end = ref;
        c->a1 = r->sa[0] ? r->sa[0][st] : 0;
        c->a2 = r->sa[1] ? r->sa[1][st] : 0;
        double v;
        int rc = r->rf->fn(s.p + a, b - a, c, &v);
        if (rc < 0) return rc;
        if (rc == 0) continue;
        if (!o.cap) { /* one point per step at most */
            o.cap = ev->n_steps - st < 64 ? (uint32_t)(ev->n_steps - st) : 64;
            o.p = vg_arena_alloc(q->a, o.cap * sizeof *o.p);
            if (!o.p) return OOM(q);
        }
        TRY(promql__ser_push(q, &o, ts, v));
    }
    if (!o.np) return 0;
    TRY(promql__samples_add(q, o.np));
    o.lbl = lbl;
    o.nl = nl;
    if (!r->rf->keep_name && promql__lbl_has_name(lbl, nl)) {
        o.lbl = promql__lbl_drop_name(q, lbl, nl, &o.nl);
        if (!o.lbl) return OOM(q);
    }
    o.h = model_labels_hash(o.lbl, o.nl);
    if (r->unique) return promql__ob_append(&r->ob, &o);
    uint32_t idx;
    bool created;
    TRY(promql__ob_series(&r->ob, o.lbl, o.nl, o.h, &idx, &created));
    if (!created) return promql__err_same_labelset(q);
    r->ob.s[idx] = o;
    return 0;
}

/* A matrix selector argument streams from storage into the windows (no copy of its samples); a subquery
 * is evaluated first. */
static int eval_range_func(promql__ev_t *ev, const promql_node_t *n, const rfunc_t *rf, promql__val_t *out) {
    promql__q_t *q = ev->q;
    rstate_t r = {0};
    r.ev = ev;
    r.rf = rf;
    int k = 0;
    for (size_t i = 0; i < n->u.call.n_args && k < 2; i++)
        if ((int)i != rf->matrix_arg) TRY(eval_scalar_arg(ev, n->u.call.args[i], &r.sa[k++]));
    r.c.q = q;
    promql__ob_init(&r.ob, q, ev->n_steps);
    promql__rin_t in;
    r.in = &in;
    int64_t mint, maxt;
    const promql_node_t *vs = promql__range_selector(ev, n->u.call.args[rf->matrix_arg], &in, &mint, &maxt);
    r.c.range = in.range;
    if (vs) {
        /* selected series have distinct label sets; without __name__ they stay distinct when the name
         * is kept or when every series has the same one */
        r.unique = rf->keep_name;
        for (size_t i = 0; i < vs->u.vector.n_matchers; i++) {
            const promql_matcher_t *m = &vs->u.vector.matchers[i];
            if (m->type == PROMQL_MATCH_EQ && strcmp(m->name.ptr, MODEL_METRIC_NAME) == 0) r.unique = true;
        }
        TRY(promql__select_each(q, vs, mint, maxt, true, range_series, &r));
    } else {
        TRY(promql__eval_range_input(ev, n->u.call.args[rf->matrix_arg], &in));
        r.c.range = in.range;
        for (size_t i = 0; i < in.ns; i++) TRY(range_series(&r, in.s[i].lbl, in.s[i].nl, in.s[i].p, in.s[i].np));
    }
    promql__ob_take(&r.ob, out);
    return 0;
}

/* ---- absent ------------------------------------------------------------------------------------- */

/* Labels of absent()/absent_over_time(): the equality matchers of a selector argument, except those the
 * tenant enforcement added (the tenant's own Prometheus never saw them). */
static int absent_labels(promql__q_t *q, const promql_node_t *arg, model_label_t **out, uint32_t *nout) {
    *out = NULL;
    *nout = 0;
    arg = promql__unparen(arg);
    if (arg->type == PROMQL_NODE_MATRIX) arg = arg->u.matrix.vector;
    if (arg->type != PROMQL_NODE_VECTOR) return 0;
    size_t nm = arg->u.vector.n_matchers;
    const promql_matcher_t *ms = arg->u.vector.matchers;
    model_label_t *l = NULL;
    uint32_t nl = 0;
    for (size_t i = 0; i < nm; i++) {
        if (ms[i].enforced || strcmp(ms[i].name.ptr, MODEL_METRIC_NAME) == 0) continue;
        bool seen = false;
        for (size_t j = 0; j < i; j++)
            if (!ms[j].enforced && strcmp(ms[j].name.ptr, ms[i].name.ptr) == 0 && ms[j].type == PROMQL_MATCH_EQ)
                seen = true;
        const char *v = ms[i].type == PROMQL_MATCH_EQ && !seen ? ms[i].value.ptr : NULL;
        TRY(promql__lbl_set(q, l, nl, ms[i].name.ptr, v, &l, &nl));
    }
    *out = l;
    *nout = nl;
    return 0;
}

/* The answer of absent()/absent_over_time(): the series o (its points at the steps where the input was
 * empty) labelled from the argument's equality matchers, or an empty vector when it has no point. */
static int absent_result(promql__q_t *q, const promql_node_t *n, promql__ser_t *o, promql__val_t *out) {
    memset(out, 0, sizeof *out);
    out->type = PROMQL_TYPE_VECTOR;
    if (!o->np) return 0;
    TRY(absent_labels(q, n->u.call.args[0], &o->lbl, &o->nl));
    if (!o->lbl) o->lbl = promql__no_labels;
    o->h = model_labels_hash(o->lbl, o->nl);
    out->s = vg_arena_alloc(q->a, sizeof *out->s);
    if (!out->s) return OOM(q);
    out->s[0] = *o;
    out->ns = 1;
    return 0;
}

static int eval_absent_over_time(promql__ev_t *ev, const promql_node_t *n, promql__val_t *out) {
    promql__q_t *q = ev->q;
    promql__rin_t in;
    TRY(promql__eval_range_input(ev, n->u.call.args[0], &in));
    uint32_t *a = vg_arena_calloc(q->a, in.ns ? in.ns : 1, sizeof *a);
    uint32_t *b = vg_arena_calloc(q->a, in.ns ? in.ns : 1, sizeof *b);
    if (!a || !b) return OOM(q);
    promql__ser_t o = {0};
    for (size_t st = 0; st < ev->n_steps; st++) {
        int64_t ts = ev->start + (int64_t)st * ev->step;
        int64_t ref = (in.has_at ? in.at : ts) - in.offset;
        bool found = false;
        for (size_t i = 0; i < in.ns; i++) {
            TRY(promql__check_time(q));
            window(&in.s[i], ref - in.range, ref, &a[i], &b[i]);
            if (a[i] != b[i]) found = true;
        }
        if (!found) TRY(promql__ser_push(q, &o, ts, 1));
    }
    return absent_result(q, n, &o, out);
}

static int eval_absent(promql__ev_t *ev, const promql_node_t *n, const promql__val_t *in, promql__val_t *out) {
    promql__q_t *q = ev->q;
    promql__cur_t cur;
    TRY(promql__cur_init(ev, &cur, in));
    promql__ser_t o = {0};
    for (size_t st = 0; st < ev->n_steps; st++) {
        int64_t ts = ev->start + (int64_t)st * ev->step;
        promql__cur_step(&cur, ts);
        if (cur.n == 0) TRY(promql__ser_push(q, &o, ts, 1));
    }
    return absent_result(q, n, &o, out);
}

/* ---- element-wise functions ---------------------------------------------------------------------- */

typedef enum {
    EW_ABS, EW_CEIL, EW_FLOOR, EW_EXP, EW_SQRT, EW_LN, EW_LOG2, EW_LOG10, EW_SIN, EW_COS, EW_TAN, EW_ASIN,
    EW_ACOS, EW_ATAN, EW_SINH, EW_COSH, EW_TANH, EW_ASINH, EW_ACOSH, EW_ATANH, EW_DEG, EW_RAD, EW_SGN,
    EW_ROUND, EW_CLAMP, EW_CLAMP_MIN, EW_CLAMP_MAX, EW_TIMESTAMP,
    EW_DAYS_IN_MONTH, EW_DAY_OF_MONTH, EW_DAY_OF_WEEK, EW_DAY_OF_YEAR, EW_HOUR, EW_MINUTE, EW_MONTH, EW_YEAR,
} ew_t;

static const struct {
    const char *name;
    ew_t op;
} ewfuncs[] = {
    {"abs", EW_ABS},         {"ceil", EW_CEIL},         {"floor", EW_FLOOR},
    {"exp", EW_EXP},         {"sqrt", EW_SQRT},         {"ln", EW_LN},
    {"log2", EW_LOG2},       {"log10", EW_LOG10},       {"sin", EW_SIN},
    {"cos", EW_COS},         {"tan", EW_TAN},           {"asin", EW_ASIN},
    {"acos", EW_ACOS},       {"atan", EW_ATAN},         {"sinh", EW_SINH},
    {"cosh", EW_COSH},       {"tanh", EW_TANH},         {"asinh", EW_ASINH},
    {"acosh", EW_ACOSH},     {"atanh", EW_ATANH},       {"deg", EW_DEG},
    {"rad", EW_RAD},         {"sgn", EW_SGN},           {"round", EW_ROUND},
    {"clamp", EW_CLAMP},     {"clamp_min", EW_CLAMP_MIN}, {"clamp_max", EW_CLAMP_MAX},
    {"timestamp", EW_TIMESTAMP},
    {"days_in_month", EW_DAYS_IN_MONTH}, {"day_of_month", EW_DAY_OF_MONTH}, {"day_of_week", EW_DAY_OF_WEEK},
    {"day_of_year", EW_DAY_OF_YEAR},     {"hour", EW_HOUR},                 {"minute", EW_MINUTE},
    {"month", EW_MONTH},                 {"year", EW_YEAR},
};

/* Civil date of a Unix time in seconds (proleptic Gregorian, UTC). */
static void civil(int64_t secs, int64_t *y, int *m, int *d, int *hh, int *mm, int *wday, int *yday) {
    int64_t days = secs / 86400, rem = secs % 86400;
    if (rem < 0) rem += 86400, days--;
    *hh = (int)(rem / 3600);
    *mm = (int)(rem % 3600 / 60);
    int64_t w = (days + 4) % 7; /* 1970-01-01 was a Thursday */
    *wday = (int)(w < 0 ? w + 7 : w);
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
    bool leap = (*y % 4 == 0 && *y % 100 != 0) || *y % 400 == 0;
    static const int cum[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
    *yday = cum[*m - 1] + *d + (leap && *m > 2);
}

static double date_part(ew_t op, int64_t secs) {
    int64_t y;
    int m, d, hh, mm, wd, yd;
    civil(secs, &y, &m, &d, &hh, &mm, &wd, &yd);
    switch (op) {
    case EW_DAYS_IN_MONTH: {
        static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        return dim[m - 1] + (m == 2 && leap);
    }
    case EW_DAY_OF_MONTH: return d;
    case EW_DAY_OF_WEEK: return wd;
    case EW_DAY_OF_YEAR: return yd;
    case EW_HOUR: return hh;
    case EW_MINUTE: return mm;
    case EW_MONTH: return m;
    default: return (double)y;
    }
}

/* Go's int64(f) on amd64: out-of-range and NaN give INT64_MIN. */
static int64_t go_int64(double f) {
    if (isnan(f) || f >= 9223372036854775808.0 || f < -9223372036854775808.0) return INT64_MIN;
    return (int64_t)f;
}

static int ew_apply(ew_t op, double v, int64_t ts, double a1, double a2, double *o) {
    switch (op) {
    case EW_ABS: *o = fabs(v); break;
    case EW_CEIL: *o = ceil(v); break;
    case EW_FLOOR: *o = floor(v); break;
    case EW_EXP: *o = exp(v); break;
    case EW_SQRT: *o = sqrt(v); break;
    case EW_LN: *o = log(v); break;
    case EW_LOG2: *o = log2(v); break;
    case EW_LOG10: *o = log10(v); break;
    case EW_SIN: *o = sin(v); break;
    case EW_COS: *o = cos(v); break;
    case EW_TAN: *o = tan(v); break;
    case EW_ASIN: *o = asin(v); break;
    case EW_ACOS: *o = acos(v); break;
    case EW_ATAN: *o = atan(v); break;
    case EW_SINH: *o = sinh(v); break;
    case EW_COSH: *o = cosh(v); break;
    case EW_TANH: *o = tanh(v); break;
    case EW_ASINH: *o = asinh(v); break;
    case EW_ACOSH: *o = acosh(v); break;
    case EW_ATANH: *o = atanh(v); break;
    case EW_DEG: *o = v * 180 / M_PI; break;
    case EW_RAD: *o = v * M_PI / 180; break;
    case EW_SGN: *o = v < 0 ? -1 : v > 0 ? 1 : v; break;
    case EW_ROUND: {
        double inv = 1.0 / a1;
        *o = floor(v * inv + 0.5) / inv;
        break;
    }
    case EW_CLAMP:
        if (a2 < a1) return 0;
        *o = promql__go_max(a1, promql__go_min(a2, v));
        break;
    case EW_CLAMP_MIN: *o = promql__go_max(a1, v); break;
    case EW_CLAMP_MAX: *o = promql__go_min(a1, v); break;
    case EW_TIMESTAMP: *o = (double)ts / 1000; break;
    default: *o = date_part(op, go_int64(v)); break;
    }
    return 1;
}

static int eval_elementwise(promql__ev_t *ev, const promql_node_t *n, ew_t op, promql__val_t *out) {
    promql__q_t *q = ev->q;
    size_t na = n->u.call.n_args;
    if (na == 0) { /* date functions of the evaluation time: one element with no labels */
        promql__ser_t *s = vg_arena_calloc(q->a, 1, sizeof *s);
        if (!s) return OOM(q);
        for (size_t st = 0; st < ev->n_steps; st++) {
            int64_t ts = ev->start + (int64_t)st * ev->step;
            TRY(promql__ser_push(q, s, ts, date_part(op, ts / 1000)));
        }
        s->lbl = promql__no_labels;
        s->h = model_labels_hash(NULL, 0);
        memset(out, 0, sizeof *out);
        out->type = PROMQL_TYPE_VECTOR;
        out->s = s;
        out->ns = ev->n_steps ? 1 : 0;
        return 0;
    }
    double *a1 = NULL, *a2 = NULL;
    if (na >= 2) TRY(eval_scalar_arg(ev, n->u.call.args[1], &a1));
    if (na >= 3) TRY(eval_scalar_arg(ev, n->u.call.args[2], &a2));
    promql__val_t in;
    TRY(promql__eval(ev, n->u.call.args[0], &in));
    promql__ob_t ob;
    promql__ob_init(&ob, q, ev->n_steps);
    for (size_t i = 0; i < in.ns; i++) {
        promql__ser_t *s = &in.s[i];
        uint32_t nl, idx;
        model_label_t *l = promql__lbl_drop_name(q, s->lbl, s->nl, &nl);
        if (!l) return OOM(q);
        TRY(promql__ob_series(&ob, l, nl, l == s->lbl ? s->h : model_labels_hash(l, nl), &idx, NULL));
        for (uint32_t j = 0; j < s->np; j++) {
            TRY(promql__check_time(q));
            size_t st = (size_t)((s->p[j].t - ev->start) / ev->step);
            double o;
            double x1 = a1 ? a1[st] : 1, x2 = a2 ? a2[st] : 0;
            if (!ew_apply(op, s->p[j].v, s->p[j].t, x1, x2, &o)) continue;
            TRY(promql__ob_push(&ob, idx, s->p[j].t, o));
        }
    }
    promql__ob_take(&ob, out);
    /* clamp() with max < min at every step leaves series without points */
    size_t k = 0;
    for (size_t i = 0; i < out->ns; i++)
        if (out->s[i].np) out->s[k++] = out->s[i];
    out->ns = k;
    return 0;
}

/* ---- sort ---------------------------------------------------------------------------------------- */

static bool sort_asc_less(const void *a, const void *b, void *ctx) {
    (void)ctx;
    double x = ((const promql__ser_t *)a)->p[0].v, y = ((const promql__ser_t *)b)->p[0].v;
    return isnan(y) || y > x;
}

static bool sort_desc_less(const void *a, const void *b, void *ctx) {
    (void)ctx;
    double x = ((const promql__ser_t *)a)->p[0].v, y = ((const promql__ser_t *)b)->p[0].v;
    return isnan(y) || y < x;
}

static int eval_sort(promql__ev_t *ev, const promql_node_t *n, bool desc, promql__val_t *out) {
    TRY(promql__eval(ev, n->u.call.args[0], out));
    if (ev->n_steps == 1) /* only an instant query has an order */
        promql__sort_go(out->s, out->ns, sizeof *out->s, desc ? sort_desc_less : sort_asc_less, NULL);
    return 0;
}

/* ---- histogram_quantile -------------------------------------------------------------------------- */

typedef struct bucket {
    double upper, count;
} bucket_t;

static bool bucket_less(const void *a, const void *b, void *ctx) {
    (void)ctx;
    return ((const bucket_t *)a)->upper < ((const bucket_t *)b)->upper;
}

static double bucket_quantile(double q, bucket_t *b, size_t n) {
    if (isnan(q)) return NAN;
    if (q < 0) return -INFINITY;
    if (q > 1) return INFINITY;
    promql__sort_go(b, n, sizeof *b, bucket_less, NULL);
    if (!(isinf(b[n - 1].upper) && b[n - 1].upper > 0)) return NAN;
    /* coalesce equal bounds */
    size_t k = 0;
    for (size_t i = 1; i < n; i++) {
        if (b[i].upper == b[k].upper) b[k].count += b[i].count;
        else b[++k] = b[i];
    }
    n = k + 1;
    double max = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (b[i].count > max) max = b[i].count;
        else if (b[i].count < max) b[i].count = max;
    }
    if (n < 2) return NAN;
    double obs = b[n - 1].count;
    if (obs == 0) return NAN;
    double rank = q * obs;
    size_t lo = 0, hi = n - 1; /* sort.Search over [0, n-1) */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (!(b[mid].count >= rank)) lo = mid + 1;
        else hi = mid;
    }
    size_t i = lo;
    if (i == n - 1) return b[n - 2].upper;
    if (i == 0 && b[0].upper <= 0) return b[0].upper;
    double start = 0, end = b[i].upper, count = b[i].count;
    if (i > 0) {
        start = b[i - 1].upper;
        count -= b[i - 1].count;
        rank -= b[i - 1].count;
    }
    return start + (end - start) * (rank / count);
}

typedef struct hq_group {
    model_label_t *key; /* labels without le */
    uint32_t nkey;
    model_label_t *out; /* without le and __name__ */
    uint32_t nout;
    uint64_t hout;
    bucket_t *b;
    size_t nb;
} hq_group_t;

typedef struct {
    const hq_group_t *g;
    const model_label_t *l;
    uint32_t n;
} hq_key_t;

static bool hq_eq(const void *ctx, uint32_t v) {
    const hq_key_t *k = ctx;
    return model_labels_equal(k->g[v].key, k->g[v].nkey, k->l, k->n);
}

static int eval_histogram_quantile(promql__ev_t *ev, const promql_node_t *n, promql__val_t *out) {
    promql__q_t *q = ev->q;
    double *qs = NULL;
    TRY(eval_scalar_arg(ev, n->u.call.args[0], &qs));
    promql__val_t in;
    TRY(promql__eval(ev, n->u.call.args[1], &in));
    size_t ns = in.ns ? in.ns : 1;
    uint32_t *grp = vg_arena_alloc(q->a, ns * sizeof *grp);
    double *le = vg_arena_alloc(q->a, ns * sizeof *le);
    hq_group_t *g = vg_arena_calloc(q->a, ns, sizeof *g);
    size_t *cnt = vg_arena_calloc(q->a, ns, sizeof *cnt);
    if (!grp || !le || !g || !cnt) return OOM(q);
    size_t ng = 0;
    promql__hmap_t map;
    TRY(promql__hmap_init(q, &map, in.ns));
    for (size_t i = 0; i < in.ns; i++) {
        promql__ser_t *s = &in.s[i];
        const char *lv = promql__lbl_get(s->lbl, s->nl, "le");
        grp[i] = UINT32_MAX;
        if (!lv || !promql__parse_go_float(lv, &le[i])) continue;
        model_label_t *key;
        uint32_t nkey;
        TRY(promql__lbl_set(q, s->lbl, s->nl, "le", NULL, &key, &nkey));
        uint64_t h = model_labels_hash(key, nkey);
        hq_key_t k = {g, key, nkey};
        uint32_t gi = promql__hmap_get(&map, h, hq_eq, &k);
        if (gi == UINT32_MAX) {
            gi = (uint32_t)ng++;
            g[gi].key = key;
            g[gi].nkey = nkey;
            g[gi].out = promql__lbl_drop_name(q, key, nkey, &g[gi].nout);
            if (!g[gi].out) return OOM(q);
            g[gi].hout = model_labels_hash(g[gi].out, g[gi].nout);
            TRY(promql__hmap_put(q, &map, h, gi));
        }
        grp[i] = gi;
        cnt[gi]++;
    }
    for (size_t i = 0; i < ng; i++) {
        g[i].b = vg_arena_alloc(q->a, cnt[i] * sizeof *g[i].b);
        if (!g[i].b) return OOM(q);
    }
    uint32_t *gout = vg_arena_alloc(q->a, (ng ? ng : 1) * sizeof *gout);
    uint32_t *order = vg_arena_alloc(q->a, (ng ? ng : 1) * sizeof *order);
    if (!gout || !order) return OOM(q);
    for (size_t i = 0; i < ng; i++) gout[i] = UINT32_MAX;
    promql__ob_t ob;
    promql__ob_init(&ob, q, ev->n_steps);
    promql__cur_t cur;
    TRY(promql__cur_init(ev, &cur, &in));
    for (size_t st = 0; st < ev->n_steps; st++) {
        int64_t ts = ev->start + (int64_t)st * ev->step;
        promql__cur_step(&cur, ts);
        size_t no = 0;
        for (size_t j = 0; j < cur.n; j++) {
            TRY(promql__check_time(q));
            uint32_t gi = grp[cur.idx[j]];
            if (gi == UINT32_MAX) continue;
            if (g[gi].nb == 0) order[no++] = gi;
            g[gi].b[g[gi].nb++] = (bucket_t){le[cur.idx[j]], cur.val[j]};
        }
        for (size_t j = 0; j < no; j++) {
            hq_group_t *x = &g[order[j]];
            if (gout[order[j]] == UINT32_MAX)
                TRY(promql__ob_series(&ob, x->out, x->nout, x->hout, &gout[order[j]], NULL));
            TRY(promql__ob_push(&ob, gout[order[j]], ts, bucket_quantile(qs[st], x->b, x->nb)));
            x->nb = 0;
        }
    }
    promql__ob_take(&ob, out);
    return 0;
}

/* ---- label_replace / label_join ------------------------------------------------------------------ */

static bool label_name_ok(const char *s) {
    if (!*s) return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!(alpha || (p != s && c >= '0' && c <= '9'))) return false;
    }
    return true;
}

static const char *str_arg(const promql_node_t *n) {
    n = promql__unparen(n);
    return n->type == PROMQL_NODE_STRING ? n->u.string.ptr : "";
}

typedef struct lmap {
    model_label_t *l;
    uint32_t n;
    uint64_t h;
} lmap_t;

/* Applies a per-series label transform and merges series that end up equal. */
static int relabel_output(promql__ev_t *ev, const promql__val_t *in, const lmap_t *m, promql__val_t *out) {
    promql__ob_t ob;
    promql__ob_init(&ob, ev->q, ev->n_steps);
    for (size_t i = 0; i < in->ns; i++) {
        uint32_t idx;
        bool created;
        TRY(promql__ob_series(&ob, m[i].l, m[i].n, m[i].h, &idx, &created));
        if (created) {
            ob.s[idx].p = in->s[i].p;
            ob.s[idx].np = in->s[i].np;
            ob.s[idx].cap = in->s[i].cap;
            continue;
        }
        for (uint32_t j = 0; j < in->s[i].np; j++)
            TRY(promql__ob_push(&ob, idx, in->s[i].p[j].t, in->s[i].p[j].v));
    }
    promql__ob_take(&ob, out);
    return 0;
}

/* s's labels with dst set to the text in b (an empty text deletes dst), into *m. */
static int set_label(promql__q_t *q, const promql__ser_t *s, const char *dst, const vg_buf_t *b, lmap_t *m) {
    char *val = vg_arena_strndup(q->a, b->data ? b->data : "", b->len);
    if (!val) return OOM(q);
    int rc = promql__lbl_set(q, s->lbl, s->nl, dst, val, &m->l, &m->n);
    m->h = model_labels_hash(m->l, m->n);
    return rc;
}

static int eval_label_replace(promql__ev_t *ev, const promql_node_t *n, promql__val_t *out) {
    promql__q_t *q = ev->q;
    const char *dst = str_arg(n->u.call.args[1]), *repl = str_arg(n->u.call.args[2]);
    const char *src = str_arg(n->u.call.args[3]), *res = str_arg(n->u.call.args[4]);
    promql__val_t in;
    TRY(promql__eval(ev, n->u.call.args[0], &in));
    if (ev->n_steps == 0) {
        *out = in;
        return 0;
    }
    model_regex_t *re;
    vg_error_t rerr;
    vg_error_clear(&rerr);
    int rc = model_regex_new(res, strlen(res), NULL, &re, &rerr);
    if (rc == VG_ENOMEM) return OOM(q);
    /* Prometheus 2.42 words it without the parser detail (rerr.msg); the oracle test holds us to it */
    if (rc) return vg_error_set(q->err, VG_EEXEC, "invalid regular expression in label_replace(): %s", res);
    if (!label_name_ok(dst)) {
        model_regex_free(re);
        return vg_error_set(q->err, VG_EEXEC, "invalid destination label name in label_replace(): %s", dst);
    }
    lmap_t *m = vg_arena_alloc(q->a, (in.ns ? in.ns : 1) * sizeof *m);
    size_t repl_len = strlen(repl);
    vg_buf_t b = VG_BUF_INIT;
    rc = m ? 0 : OOM(q);
    for (size_t i = 0; i < in.ns && rc == 0; i++) {
        promql__ser_t *s = &in.s[i];
        m[i] = (lmap_t){s->lbl, s->nl, s->h};
        const char *sv = promql__lbl_get(s->lbl, s->nl, src);
        if (!sv) sv = "";
        model_regex_caps_t caps;
        int mr = model_regex_capture(re, sv, strlen(sv), &caps);
        if (mr < 0) { /* undecided: leaving the series unchanged could be a wrong answer */
            rc = mr == VG_ENOMEM ? OOM(q)
                                 : vg_error_set(q->err, mr == VG_ELIMIT ? VG_ELIMIT : VG_EEXEC,
                                                "label_replace(): regex \"%.200s\" could not be evaluated on the value of label \"%.200s\": %s",
                                                res, src, vg_error_str(mr));
            break;
        }
        if (mr == 0) continue;
        size_t need = model_regex_expand(re, repl, repl_len, &caps, NULL, 0);
        /* the value is copied into the arena next: refuse one the budget cannot hold before building it */
        if ((rc = promql__bytes_check(q, need + 1))) break;
        vg_buf_reset(&b);
        if (vg_buf_reserve(&b, need + 1)) {
            rc = OOM(q);
            break;
        }
        b.len = model_regex_expand(re, repl, repl_len, &caps, b.data, need + 1);
        if ((rc = set_label(q, s, dst, &b, &m[i]))) break;
    }
    vg_buf_deinit(&b);
    model_regex_free(re);
    TRY(rc);
    return relabel_output(ev, &in, m, out);
}

static int eval_label_join(promql__ev_t *ev, const promql_node_t *n, promql__val_t *out) {
    promql__q_t *q = ev->q;
    const char *dst = str_arg(n->u.call.args[1]), *sep = str_arg(n->u.call.args[2]);
    promql__val_t in;
    TRY(promql__eval(ev, n->u.call.args[0], &in));
    if (ev->n_steps == 0) {
        *out = in;
        return 0;
    }
    for (size_t i = 3; i < n->u.call.n_args; i++)
        if (!label_name_ok(str_arg(n->u.call.args[i])))
            return vg_error_set(q->err, VG_EEXEC, "invalid source label name in label_join(): %s",
                                str_arg(n->u.call.args[i]));
    if (!label_name_ok(dst))
        return vg_error_set(q->err, VG_EEXEC, "invalid destination label name in label_join(): %s", dst);
    lmap_t *m = vg_arena_alloc(q->a, (in.ns ? in.ns : 1) * sizeof *m);
    if (!m) return OOM(q);
    vg_buf_t b = VG_BUF_INIT;
    int rc = 0;
    for (size_t i = 0; i < in.ns && rc == 0; i++) {
        promql__ser_t *s = &in.s[i];
        vg_buf_reset(&b);
        for (size_t j = 3; j < n->u.call.n_args; j++) {
            if (j > 3) vg_buf_puts(&b, sep);
            const char *v = promql__lbl_get(s->lbl, s->nl, str_arg(n->u.call.args[j]));
            if (v) vg_buf_puts(&b, v);
            if ((rc = promql__bytes_check(q, b.len + 1))) break;
        }
        if (rc) break;
        if ((rc = set_label(q, s, dst, &b, &m[i]))) break;
    }
    vg_buf_deinit(&b);
    TRY(rc);
    return relabel_output(ev, &in, m, out);
}

/* ---- dispatch ------------------------------------------------------------------------------------ */

static int scalar_val(promql__ev_t *ev, promql__val_t *out) {
    memset(out, 0, sizeof *out);
    out->type = PROMQL_TYPE_SCALAR;
    out->sc = vg_arena_alloc(ev->q->a, (ev->n_steps ? ev->n_steps : 1) * sizeof *out->sc);
    if (!out->sc) return OOM(ev->q);
    return 0;
}

int promql__eval_call(promql__ev_t *ev, const promql_node_t *n, promql__val_t *out) {
    promql__q_t *q = ev->q;
    const char *name = n->u.call.func->name;
    for (size_t i = 0; i < sizeof rfuncs / sizeof rfuncs[0]; i++)
        if (strcmp(name, rfuncs[i].name) == 0) return eval_range_func(ev, n, &rfuncs[i], out);
    for (size_t i = 0; i < sizeof ewfuncs / sizeof ewfuncs[0]; i++)
        if (strcmp(name, ewfuncs[i].name) == 0) return eval_elementwise(ev, n, ewfuncs[i].op, out);
    if (strcmp(name, "absent_over_time") == 0) return eval_absent_over_time(ev, n, out);
    if (strcmp(name, "absent") == 0) {
        promql__val_t in;
        TRY(promql__eval(ev, n->u.call.args[0], &in));
        return eval_absent(ev, n, &in, out);
    }
    if (strcmp(name, "time") == 0 || strcmp(name, "pi") == 0) {
        TRY(scalar_val(ev, out));
        for (size_t st = 0; st < ev->n_steps; st++)
            out->sc[st] = name[0] == 'p' ? M_PI : (double)(ev->start + (int64_t)st * ev->step) / 1000;
        return 0;
    }
    if (strcmp(name, "scalar") == 0) {
        promql__val_t in;
        TRY(promql__eval(ev, n->u.call.args[0], &in));
        TRY(scalar_val(ev, out));
        promql__cur_t cur;
        TRY(promql__cur_init(ev, &cur, &in));
        for (size_t st = 0; st < ev->n_steps; st++) {
            promql__cur_step(&cur, ev->start + (int64_t)st * ev->step);
            out->sc[st] = cur.n == 1 ? cur.val[0] : NAN;
        }
        return 0;
    }
    if (strcmp(name, "vector") == 0) {
        double *v = NULL;
        TRY(eval_scalar_arg(ev, n->u.call.args[0], &v));
        promql__ser_t *s = vg_arena_calloc(q->a, 1, sizeof *s);
        if (!s) return OOM(q);
        for (size_t st = 0; st < ev->n_steps; st++)
            TRY(promql__ser_push(q, s, ev->start + (int64_t)st * ev->step, v[st]));
        s->lbl = promql__no_labels;
        s->h = model_labels_hash(NULL, 0);
        memset(out, 0, sizeof *out);
        out->type = PROMQL_TYPE_VECTOR;
        out->s = s;
        out->ns = ev->n_steps ? 1 : 0;
        return 0;
    }
    if (strcmp(name, "sort") == 0) return eval_sort(ev, n, false, out);
    if (strcmp(name, "sort_desc") == 0) return eval_sort(ev, n, true, out);
    if (strcmp(name, "histogram_quantile") == 0) return eval_histogram_quantile(ev, n, out);
    if (strcmp(name, "label_replace") == 0) return eval_label_replace(ev, n, out);
    if (strcmp(name, "label_join") == 0) return eval_label_join(ev, n, out);
    if (strcmp(name, "histogram_count") == 0 || strcmp(name, "histogram_sum") == 0 ||
        strcmp(name, "histogram_fraction") == 0) {
        /* native histograms only: float samples give nothing */
        for (size_t i = 0; i < n->u.call.n_args; i++) {
            promql__val_t tmp;
            TRY(promql__eval(ev, n->u.call.args[i], &tmp));
        }
        memset(out, 0, sizeof *out);
        out->type = PROMQL_TYPE_VECTOR;
        return 0;
    }
    return vg_error_set(q->err, VG_EEXEC, "function %s is not implemented", name);
}
