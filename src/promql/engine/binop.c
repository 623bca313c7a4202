/* Binary operators: arithmetic, comparison (with and without bool) and atan2 between scalars and
 * vectors, vector matching (on/ignoring, group_left/group_right) with Prometheus 2.42's cardinality errors,
 * and the set operators and/or/unless.
 *
 * Invariants: matching signatures are computed once per input series and mapped to small ids, so a step
 * needs no hashing of labels; result label sets are computed once per (left, right) pair. */
#include "engine_int.h"

#include <math.h>
#include <string.h>

#define OOM(q) vg_error_set((q)->err, VG_ENOMEM, "out of memory")

static bool is_cmp(promql_op_t op) {
    return op == PROMQL_OP_EQLC || op == PROMQL_OP_NEQ || op == PROMQL_OP_LSS || op == PROMQL_OP_LTE ||
           op == PROMQL_OP_GTR || op == PROMQL_OP_GTE;
}

static bool drops_name(promql_op_t op) {
    return op == PROMQL_OP_ADD || op == PROMQL_OP_SUB || op == PROMQL_OP_MUL || op == PROMQL_OP_DIV ||
           op == PROMQL_OP_POW || op == PROMQL_OP_MOD;
}

/* vectorElemBinop: returns the value and whether a comparison holds (always true for arithmetic). */
static double elem(promql_op_t op, double l, double r, bool *keep) {
    *keep = true;
    switch (op) {
    case PROMQL_OP_ADD: return l + r;
    case PROMQL_OP_SUB: return l - r;
    case PROMQL_OP_MUL: return l * r;
    case PROMQL_OP_DIV: return l / r;
    case PROMQL_OP_POW: return pow(l, r);
    case PROMQL_OP_MOD: return fmod(l, r);
    case PROMQL_OP_ATAN2: return atan2(l, r);
    case PROMQL_OP_EQLC: *keep = l == r; return l;
    case PROMQL_OP_NEQ: *keep = l != r; return l;
    case PROMQL_OP_GTR: *keep = l > r; return l;
    case PROMQL_OP_LSS: *keep = l < r; return l;
    case PROMQL_OP_GTE: *keep = l >= r; return l;
    case PROMQL_OP_LTE: *keep = l <= r; return l;
    default: *keep = false; return 0;
    }
}

static int scalar_scalar(promql__ev_t *ev, const promql_node_t *n, promql__val_t *l, promql__val_t *r,
                         promql__val_t *out) {
    *out = *l;
    for (size_t k = 0; k < ev->n_steps; k++) {
        bool keep;
        double v = elem(n->u.binary.op, l->sc[k], r->sc[k], &keep);
        out->sc[k] = is_cmp(n->u.binary.op) ? (keep ? 1 : 0) : v;
    }
    return 0;
}

static int vector_scalar(promql__ev_t *ev, const promql_node_t *n, promql__val_t *vec, const double *sc, bool swap,
                         promql__val_t *out) {
    promql__q_t *q = ev->q;
    promql_op_t op = n->u.binary.op;
    bool rb = n->u.binary.return_bool;
    promql__ob_t ob;
    promql__ob_init(&ob, q, ev->n_steps);
    for (size_t i = 0; i < vec->ns; i++) {
        promql__ser_t *s = &vec->s[i];
        uint32_t idx = UINT32_MAX;
        for (uint32_t j = 0; j < s->np; j++) {
            TRY(promql__check_time(q));
            size_t st = (size_t)((s->p[j].t - ev->start) / ev->step);
            double lv = s->p[j].v, rv = sc[st];
            if (swap) {
                double t = lv;
                lv = rv;
                rv = t;
            }
            bool keep;
            double v = elem(op, lv, rv, &keep);
            if (is_cmp(op) && swap) v = rv;
            if (rb) {
                v = keep ? 1 : 0;
                keep = true;
            }
            if (!keep) continue;
            if (idx == UINT32_MAX) {
                model_label_t *l = s->lbl;
                uint32_t nl = s->nl;
                uint64_t h = s->h;
                if ((drops_name(op) || rb) && promql__lbl_has_name(l, nl)) {
                    l = promql__lbl_drop_name(q, l, nl, &nl);
                    if (!l) return OOM(q);
                    h = model_labels_hash(l, nl);
                }
                TRY(promql__ob_series(&ob, l, nl, h, &idx, NULL));
            }
            TRY(promql__ob_push(&ob, idx, s->p[j].t, v));
        }
    }
    promql__ob_take(&ob, out);
    return 0;
}

/* ---- signatures ---------------------------------------------------------------------------------- */

typedef struct sigs {
    uint32_t *lsid, *rsid; /* signature id per series */
    size_t n_ids;
} sigs_t;

typedef struct sig_key {
    const promql__val_t *l, *r;
    const uint32_t *rep_side; /* 0 = left, 1 = right */
    const uint32_t *rep_idx;
    const model_label_t *lbl;
    uint32_t nl;
    const promql_str_t *names;
    size_t nn;
    bool on;
} sig_key_t;

static bool sig_eq(const void *ctx, uint32_t v) {
    const sig_key_t *k = ctx;
    const promql__ser_t *s = k->rep_side[v] ? &k->r->s[k->rep_idx[v]] : &k->l->s[k->rep_idx[v]];
    return promql__lbl_sig_eq(s->lbl, s->nl, k->lbl, k->nl, k->names, k->nn, k->on);
}

static int make_sigs(promql__q_t *q, const promql_node_t *n, const promql__val_t *l, const promql__val_t *r,
                     sigs_t *out) {
    size_t total = l->ns + r->ns + 1;
    out->lsid = vg_arena_alloc(q->a, (l->ns + 1) * sizeof *out->lsid);
    out->rsid = vg_arena_alloc(q->a, (r->ns + 1) * sizeof *out->rsid);
    uint32_t *rep_side = vg_arena_alloc(q->a, total * sizeof *rep_side);
    uint32_t *rep_idx = vg_arena_alloc(q->a, total * sizeof *rep_idx);
    if (!out->lsid || !out->rsid || !rep_side || !rep_idx) return OOM(q);
    promql__hmap_t m;
    TRY(promql__hmap_init(q, &m, total));
    size_t ids = 0;
    const promql_str_t *names = n->u.binary.labels;
    size_t nn = n->u.binary.n_labels;
    bool on = n->u.binary.on;
    for (int side = 0; side < 2; side++) {
        const promql__val_t *v = side ? r : l;
        uint32_t *dst = side ? out->rsid : out->lsid;
        for (size_t i = 0; i < v->ns; i++) {
            const promql__ser_t *s = &v->s[i];
            uint64_t h = promql__lbl_sig(s->lbl, s->nl, names, nn, on);
            sig_key_t k = {l, r, rep_side, rep_idx, s->lbl, s->nl, names, nn, on};
            uint32_t id = promql__hmap_get(&m, h, sig_eq, &k);
            if (id == UINT32_MAX) {
                id = (uint32_t)ids++;
                rep_side[id] = (uint32_t)side;
                rep_idx[id] = (uint32_t)i;
                TRY(promql__hmap_put(q, &m, h, id));
            }
            dst[i] = id;
        }
    }
    out->n_ids = ids;
    return 0;
}

/* Labels matched on, as Go's Labels.MatchLabels. */
static void match_labels_string(const promql__ser_t *s, const promql_node_t *n, vg_buf_t *b) {
    model_label_t tmp[256];
    uint32_t k = 0;
    for (uint32_t i = 0; i < s->nl && k < 256; i++) {
        bool in = false;
        for (size_t j = 0; j < n->u.binary.n_labels; j++)
            if (strcmp(n->u.binary.labels[j].ptr, s->lbl[i].name) == 0) in = true;
        if (in == n->u.binary.on && (n->u.binary.on || strcmp(s->lbl[i].name, MODEL_METRIC_NAME) != 0))
            tmp[k++] = s->lbl[i];
    }
    promql__lbl_string(tmp, k, b);
}

/* ---- set operators ------------------------------------------------------------------------------- */

static int set_op(promql__ev_t *ev, const promql_node_t *n, promql__val_t *l, promql__val_t *r, promql__val_t *out) {
    promql__q_t *q = ev->q;
    promql_op_t op = n->u.binary.op;
    sigs_t sg;
    TRY(make_sigs(q, n, l, r, &sg));
    uint32_t *seen = vg_arena_calloc(q->a, sg.n_ids + 1, sizeof *seen);
    uint32_t *lout = vg_arena_alloc(q->a, (l->ns + 1) * sizeof *lout);
    uint32_t *rout = vg_arena_alloc(q->a, (r->ns + 1) * sizeof *rout);
    if (!seen || !lout || !rout) return OOM(q);
    memset(lout, 0xff, (l->ns + 1) * sizeof *lout);
    memset(rout, 0xff, (r->ns + 1) * sizeof *rout);
    promql__cur_t cl, cr;
    TRY(promql__cur_init(ev, &cl, l));
    TRY(promql__cur_init(ev, &cr, r));
    promql__ob_t ob;
    promql__ob_init(&ob, q, ev->n_steps);
    for (size_t st = 0; st < ev->n_steps; st++) {
        TRY(promql__check_time(q));
        int64_t ts = ev->start + (int64_t)st * ev->step;
        uint32_t gen = (uint32_t)st + 1;
        promql__cur_step(&cl, ts);
        promql__cur_step(&cr, ts);
        if (op == PROMQL_OP_LOR) {
            for (size_t j = 0; j < cl.n; j++) {
                uint32_t i = cl.idx[j];
                seen[sg.lsid[i]] = gen;
                if (lout[i] == UINT32_MAX) TRY(promql__ob_series(&ob, l->s[i].lbl, l->s[i].nl, l->s[i].h, &lout[i], NULL));
                TRY(promql__ob_push(&ob, lout[i], ts, cl.val[j]));
            }
            for (size_t j = 0; j < cr.n; j++) {
                uint32_t i = cr.idx[j];
                if (seen[sg.rsid[i]] == gen) continue;
                if (rout[i] == UINT32_MAX) TRY(promql__ob_series(&ob, r->s[i].lbl, r->s[i].nl, r->s[i].h, &rout[i], NULL));
                TRY(promql__ob_push(&ob, rout[i], ts, cr.val[j]));
            }
            continue;
        }
        if (op == PROMQL_OP_LAND && (cl.n == 0 || cr.n == 0)) continue;
        for (size_t j = 0; j < cr.n; j++) seen[sg.rsid[cr.idx[j]]] = gen;
        for (size_t j = 0; j < cl.n; j++) {
            uint32_t i = cl.idx[j];
            bool match = seen[sg.lsid[i]] == gen;
            if (match != (op == PROMQL_OP_LAND)) continue;
            if (lout[i] == UINT32_MAX) TRY(promql__ob_series(&ob, l->s[i].lbl, l->s[i].nl, l->s[i].h, &lout[i], NULL));
            TRY(promql__ob_push(&ob, lout[i], ts, cl.val[j]));
        }
    }
    promql__ob_take(&ob, out);
    return 0;
}

/* ---- vector matching ----------------------------------------------------------------------------- */

typedef struct pair {
    uint32_t li, ri, out;
} pair_t;

typedef struct pair_key {
    const pair_t *p;
    uint32_t li, ri;
} pair_key_t;

static bool pair_eq(const void *ctx, uint32_t v) {
    const pair_key_t *k = ctx;
    return k->p[v].li == k->li && k->p[v].ri == k->ri;
}

/* resultMetric(): labels of the result of many-side series ls and one-side series rs. */
static int result_labels(promql__q_t *q, const promql_node_t *n, const promql__ser_t *ls, const promql__ser_t *rs,
                         model_label_t **out, uint32_t *nout) {
    promql_op_t op = n->u.binary.op;
    model_label_t *l = vg_arena_alloc(q->a, (ls->nl + n->u.binary.n_include + 1) * sizeof *l);
    if (!l) return OOM(q);
    uint32_t k = 0;
    for (uint32_t i = 0; i < ls->nl; i++) {
        const char *name = ls->lbl[i].name;
        if (drops_name(op) && strcmp(name, MODEL_METRIC_NAME) == 0) continue;
        if (n->u.binary.card == PROMQL_CARD_ONE_TO_ONE) {
            bool in = false;
            for (size_t j = 0; j < n->u.binary.n_labels; j++)
                if (strcmp(n->u.binary.labels[j].ptr, name) == 0) in = true;
            if (in != n->u.binary.on) continue;
        }
        l[k++] = ls->lbl[i];
    }
    for (size_t j = 0; j < n->u.binary.n_include; j++) {
        const char *name = n->u.binary.include[j].ptr;
        const char *v = promql__lbl_get(rs->lbl, rs->nl, name);
        TRY(promql__lbl_set(q, l, k, name, v, &l, &k));
    }
    if (n->u.binary.return_bool) {
        uint32_t k2;
        l = promql__lbl_drop_name(q, l, k, &k2);
        if (!l) return OOM(q);
        k = k2;
    }
    *out = l;
    *nout = k;
    return 0;
}

static int vector_vector(promql__ev_t *ev, const promql_node_t *n, promql__val_t *lhs, promql__val_t *rhs,
                         promql__val_t *out) {
    promql__q_t *q = ev->q;
    promql_op_t op = n->u.binary.op;
    promql_card_t card = n->u.binary.card;
    bool rb = n->u.binary.return_bool;
    sigs_t sg;
    TRY(make_sigs(q, n, lhs, rhs, &sg));
    /* the control flow treats the right side as the "one" side */
    bool swapped = card == PROMQL_CARD_ONE_TO_MANY;
    promql__val_t *l = swapped ? rhs : lhs, *r = swapped ? lhs : rhs;
    uint32_t *lsid = swapped ? sg.rsid : sg.lsid, *rsid = swapped ? sg.lsid : sg.rsid;
    size_t nid = sg.n_ids + 1;
    uint32_t *rgen = vg_arena_calloc(q->a, nid, sizeof *rgen);
    uint32_t *rat = vg_arena_alloc(q->a, nid * sizeof *rat);
    double *rval = vg_arena_alloc(q->a, nid * sizeof *rval);
    uint32_t *mgen = vg_arena_calloc(q->a, nid, sizeof *mgen);
    if (!rgen || !rat || !rval || !mgen) return OOM(q);
    size_t pcap = 16, np = 0;
    pair_t *pairs = vg_arena_alloc(q->a, pcap * sizeof *pairs);
    if (!pairs) return OOM(q);
    promql__hmap_t pm;
    TRY(promql__hmap_init(q, &pm, 16));
    uint32_t *last_sid = NULL; /* per output series: signature of its point at the current step */
    size_t last_cap = 0;
    promql__cur_t cl, cr;
    TRY(promql__cur_init(ev, &cl, l));
    TRY(promql__cur_init(ev, &cr, r));
    promql__ob_t ob;
    promql__ob_init(&ob, q, ev->n_steps);
    for (size_t st = 0; st < ev->n_steps; st++) {
        int64_t ts = ev->start + (int64_t)st * ev->step;
        uint32_t gen = (uint32_t)st + 1;
        promql__cur_step(&cl, ts);
        promql__cur_step(&cr, ts);
        for (size_t j = 0; j < cr.n; j++) {
            uint32_t ri = cr.idx[j], sid = rsid[ri];
            if (rgen[sid] == gen) {
                vg_buf_t b = VG_BUF_INIT;
                match_labels_string(&r->s[ri], n, &b);
                vg_buf_printf(&b, " on the %s hand-side of the operation: [", swapped ? "left" : "right");
                promql__lbl_string(r->s[ri].lbl, r->s[ri].nl, &b);
                vg_buf_puts(&b, ", ");
                promql__lbl_string(r->s[rat[sid]].lbl, r->s[rat[sid]].nl, &b);
                vg_buf_puts(&b, "];many-to-many matching not allowed: matching labels must be unique on one side");
                int rc = vg_error_set(q->err, VG_EEXEC, "found duplicate series for the match group %s",
                                      b.data ? b.data : "");
                vg_buf_deinit(&b);
                return rc;
            }
            rgen[sid] = gen;
            rat[sid] = ri;
            rval[sid] = cr.val[j];
        }
        for (size_t j = 0; j < cl.n; j++) {
            TRY(promql__check_time(q));
            uint32_t li = cl.idx[j], sid = lsid[li];
            if (rgen[sid] != gen) continue;
            uint32_t ri = rat[sid];
            double vl = cl.val[j], vr = rval[sid];
            if (swapped) {
                double t = vl;
                vl = vr;
                vr = t;
            }
            bool keep;
            double v = elem(op, vl, vr, &keep);
            if (rb) {
                v = keep ? 1 : 0;
            } else if (!keep) {
                continue;
            }
            pair_key_t pk = {pairs, li, ri};
            uint64_t ph = ((uint64_t)li << 32 | ri) * 0x9E3779B97F4A7C15ULL;
            uint32_t pi = promql__hmap_get(&pm, ph, pair_eq, &pk);
            if (pi == UINT32_MAX) {
                model_label_t *ml = NULL;
                uint32_t mn = 0;
                TRY(result_labels(q, n, &l->s[li], &r->s[ri], &ml, &mn));
                uint32_t oi;
                TRY(promql__ob_series(&ob, ml, mn, model_labels_hash(ml, mn), &oi, NULL));
                if (np == pcap) {
                    pcap *= 2;
                    pair_t *g = vg_arena_alloc(q->a, pcap * sizeof *g);
                    if (!g) return OOM(q);
                    memcpy(g, pairs, np * sizeof *g);
                    pairs = g;
                }
                pairs[np] = (pair_t){li, ri, oi};
                pi = (uint32_t)np++;
                TRY(promql__hmap_put(q, &pm, ph, pi));
            }
            uint32_t oi = pairs[pi].out;
            if (card == PROMQL_CARD_ONE_TO_ONE) {
                if (mgen[sid] == gen)
                    return vg_error_set(q->err, VG_EEXEC,
                                        "multiple matches for labels: many-to-one matching must be explicit "
                                        "(group_left/group_right)");
                mgen[sid] = gen;
            } else {
                promql__ser_t *os = &ob.s[oi];
                if (os->np && os->p[os->np - 1].t == ts && last_sid[oi] == sid)
                    return vg_error_set(q->err, VG_EEXEC,
                                        "multiple matches for labels: grouping labels must ensure unique matches");
            }
            if (oi >= last_cap) {
                size_t nc = last_cap ? last_cap * 2 : 64;
                while (nc <= oi) nc *= 2;
                uint32_t *g = vg_arena_alloc(q->a, nc * sizeof *g);
                if (!g) return OOM(q);
                if (last_cap) memcpy(g, last_sid, last_cap * sizeof *g);
                last_sid = g;
                last_cap = nc;
            }
            last_sid[oi] = sid;
            TRY(promql__ob_push(&ob, oi, ts, v));
        }
    }
    promql__ob_take(&ob, out);
    return 0;
}

int promql__eval_binary(promql__ev_t *ev, const promql_node_t *n, promql__val_t *out) {
    promql__val_t l, r;
    TRY(promql__eval(ev, n->u.binary.lhs, &l));
    TRY(promql__eval(ev, n->u.binary.rhs, &r));
    if (l.type == PROMQL_TYPE_SCALAR && r.type == PROMQL_TYPE_SCALAR) return scalar_scalar(ev, n, &l, &r, out);
    if (l.type == PROMQL_TYPE_VECTOR && r.type == PROMQL_TYPE_SCALAR) return vector_scalar(ev, n, &l, r.sc, false, out);
    if (l.type == PROMQL_TYPE_SCALAR && r.type == PROMQL_TYPE_VECTOR) return vector_scalar(ev, n, &r, l.sc, true, out);
    switch (n->u.binary.op) {
    case PROMQL_OP_LAND:
    case PROMQL_OP_LOR:
    case PROMQL_OP_LUNLESS: return set_op(ev, n, &l, &r, out);
    default: return vector_vector(ev, n, &l, &r, out);
    }
}
