/* Engine helpers: the hash index, the output builder, label-set operations, Go-compatible sorting and
 * float parsing, and the quantile used by quantile() and quantile_over_time().
 *
 * Invariants: label arrays stay sorted by name; nothing here frees memory (all of it is arena). */
#include "engine_int.h"

#include "promql/promql.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- hash index ---------------------------------------------------------------------------------- */

int promql__hmap_init(promql__q_t *q, promql__hmap_t *m, size_t hint) {
    size_t cap = 16;
    while (cap < hint * 2) cap *= 2;
    m->keys = vg_arena_alloc(q->a, cap * sizeof *m->keys);
    m->vals = vg_arena_alloc(q->a, cap * sizeof *m->vals);
    if (!m->keys || !m->vals) return vg_error_set(q->err, VG_ENOMEM, "out of memory");
    memset(m->vals, 0xff, cap * sizeof *m->vals);
    m->cap = cap;
    m->n = 0;
    return 0;
}

uint32_t promql__hmap_get(const promql__hmap_t *m, uint64_t h, bool (*eq)(const void *ctx, uint32_t v),
                          const void *ctx) {
    size_t mask = m->cap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        if (m->vals[i] == UINT32_MAX) return UINT32_MAX;
        if (m->keys[i] == h && (!eq || eq(ctx, m->vals[i]))) return m->vals[i];
    }
}

int promql__hmap_put(promql__q_t *q, promql__hmap_t *m, uint64_t h, uint32_t v) {
    if ((m->n + 1) * 2 > m->cap) {
        promql__hmap_t big;
        TRY(promql__hmap_init(q, &big, m->cap));
        for (size_t i = 0; i < m->cap; i++)
            if (m->vals[i] != UINT32_MAX) {
                size_t mask = big.cap - 1, j = (size_t)m->keys[i] & mask;
                while (big.vals[j] != UINT32_MAX) j = (j + 1) & mask;
                big.keys[j] = m->keys[i];
                big.vals[j] = m->vals[i];
            }
        big.n = m->n;
        *m = big;
    }
    size_t mask = m->cap - 1, i = (size_t)h & mask;
    while (m->vals[i] != UINT32_MAX) i = (i + 1) & mask;
    m->keys[i] = h;
    m->vals[i] = v;
    m->n++;
    return 0;
}

/* ---- series and output builder ------------------------------------------------------------------- */

int promql__ser_push(promql__q_t *q, promql__ser_t *s, int64_t t, double v) {
    if (s->np == s->cap) {
        uint32_t cap = s->cap ? s->cap * 2 : 8;
        promql_point_t *p = vg_arena_alloc(q->a, (size_t)cap * sizeof *p);
        if (!p) return vg_error_set(q->err, VG_ENOMEM, "out of memory");
        if (s->np) memcpy(p, s->p, (size_t)s->np * sizeof *p);
        s->p = p;
        s->cap = cap;
    }
    s->p[s->np].t = t;
    s->p[s->np].v = v;
    s->np++;
    return 0;
}

void promql__ob_init(promql__ob_t *ob, promql__q_t *q, size_t n_steps) {
    memset(ob, 0, sizeof *ob);
    ob->q = q;
    ob->pt_cap0 = n_steps < 64 ? (uint32_t)n_steps : 64;
    if (ob->pt_cap0 == 0) ob->pt_cap0 = 1;
}

typedef struct {
    const promql__ob_t *ob;
    const model_label_t *l;
    uint32_t n;
} ob_key_t;

static bool ob_eq(const void *ctx, uint32_t v) {
    const ob_key_t *k = ctx;
    const promql__ser_t *s = &k->ob->s[v];
    return model_labels_equal(s->lbl, s->nl, k->l, k->n);
}

int promql__ob_series(promql__ob_t *ob, model_label_t *lbl, uint32_t nl, uint64_t h, uint32_t *idx,
                      bool *created) {
    promql__q_t *q = ob->q;
    if (!ob->map.cap) TRY(promql__hmap_init(q, &ob->map, 16));
    ob_key_t k = {ob, lbl, nl};
    uint32_t i = promql__hmap_get(&ob->map, h, ob_eq, &k);
    if (created) *created = i == UINT32_MAX;
    if (i != UINT32_MAX) {
        *idx = i;
        return 0;
    }
    if (ob->ns == ob->cap) {
        size_t cap = ob->cap ? ob->cap * 2 : 16;
        promql__ser_t *s = vg_arena_alloc(q->a, cap * sizeof *s);
        if (!s) return vg_error_set(q->err, VG_ENOMEM, "out of memory");
        if (ob->ns) memcpy(s, ob->s, ob->ns * sizeof *s);
        ob->s = s;
        ob->cap = cap;
    }
    promql__ser_t *s = &ob->s[ob->ns];
    memset(s, 0, sizeof *s);
    s->lbl = lbl;
    s->nl = nl;
    s->h = h;
    TRY(promql__hmap_put(q, &ob->map, h, (uint32_t)ob->ns));
    *idx = (uint32_t)ob->ns++;
    return 0;
}

int promql__ob_append(promql__ob_t *ob, const promql__ser_t *s) {
    if (ob->ns == ob->cap) {
        size_t cap = ob->cap ? ob->cap * 2 : 16;
        promql__ser_t *g = vg_arena_alloc(ob->q->a, cap * sizeof *g);
        if (!g) return vg_error_set(ob->q->err, VG_ENOMEM, "out of memory");
        if (ob->ns) memcpy(g, ob->s, ob->ns * sizeof *g);
        ob->s = g;
        ob->cap = cap;
    }
    ob->s[ob->ns++] = *s;
    return 0;
}

int promql__ob_push(promql__ob_t *ob, uint32_t idx, int64_t t, double v) {
    promql__ser_t *s = &ob->s[idx];
    if (s->np && s->p[s->np - 1].t >= t) {
        /* two inputs share this output series: keep points sorted, a shared step is a duplicate */
        uint32_t lo = 0, hi = s->np;
        while (lo < hi) {
            uint32_t mid = (lo + hi) / 2;
            if (s->p[mid].t < t) lo = mid + 1;
            else hi = mid;
        }
        if (s->p[lo].t == t) return promql__err_same_labelset(ob->q);
        TRY(promql__samples_add(ob->q, 1));
        TRY(promql__ser_push(ob->q, s, t, v));
        memmove(&s->p[lo + 1], &s->p[lo], (size_t)(s->np - 1 - lo) * sizeof *s->p);
        s->p[lo] = (promql_point_t){t, v};
        return 0;
    }
    if (s->np == s->cap && s->cap == 0) {
        s->p = vg_arena_alloc(ob->q->a, (size_t)ob->pt_cap0 * sizeof *s->p);
        if (!s->p) return vg_error_set(ob->q->err, VG_ENOMEM, "out of memory");
        s->cap = ob->pt_cap0;
    }
    TRY(promql__samples_add(ob->q, 1));
    return promql__ser_push(ob->q, s, t, v);
}

void promql__ob_take(promql__ob_t *ob, promql__val_t *out) {
    memset(out, 0, sizeof *out);
    out->type = PROMQL_TYPE_VECTOR;
    out->s = ob->s;
    out->ns = ob->ns;
}

/* ---- step cursors -------------------------------------------------------------------------------- */

/* The points of all series are bucketed by step once (a counting sort that keeps series order within a
 * step), so a step costs the number of series present at it rather than the number of series. Points off
 * the grid (none are expected: see the invariants in engine_int.h) fall back to a scan per step. */
int promql__cur_init(const promql__ev_t *ev, promql__cur_t *c, const promql__val_t *v) {
    promql__q_t *q = ev->q;
    memset(c, 0, sizeof *c);
    c->v = v;
    c->start = ev->start;
    c->step = ev->step;
    c->n_steps = ev->n_steps;
    size_t total = 0;
    bool on_grid = ev->step > 0;
    for (size_t i = 0; i < v->ns && on_grid; i++) {
        const promql__ser_t *s = &v->s[i];
        total += s->np;
        if (s->np && (s->p[0].t < ev->start || s->p[s->np - 1].t > ev->end)) on_grid = false;
    }
    if (on_grid) {
        c->off = vg_arena_calloc(q->a, ev->n_steps + 1, sizeof *c->off);
        c->all_idx = vg_arena_alloc(q->a, (total ? total : 1) * sizeof *c->all_idx);
        c->all_val = vg_arena_alloc(q->a, (total ? total : 1) * sizeof *c->all_val);
        if (!c->off || !c->all_idx || !c->all_val) return vg_error_set(q->err, VG_ENOMEM, "out of memory");
        for (size_t i = 0; i < v->ns && on_grid; i++) {
            const promql__ser_t *s = &v->s[i];
            int64_t prev = INT64_MIN, k = 0;
            for (uint32_t j = 0; j < s->np; j++) {
                int64_t t = s->p[j].t;
                if (t == prev + ev->step) { /* consecutive steps: no division */
                    k++;
                } else {
                    int64_t d = t - ev->start;
                    if (d % ev->step) {
                        on_grid = false;
                        break;
                    }
                    k = d / ev->step;
                }
                prev = t;
                c->off[k + 1]++;
            }
        }
    }
    if (on_grid) {
        for (size_t k = 0; k < ev->n_steps; k++) c->off[k + 1] += c->off[k];
        size_t *fill = vg_arena_alloc(q->a, (ev->n_steps ? ev->n_steps : 1) * sizeof *fill);
        if (!fill) return vg_error_set(q->err, VG_ENOMEM, "out of memory");
        memcpy(fill, c->off, ev->n_steps * sizeof *fill);
        for (size_t i = 0; i < v->ns; i++) {
            const promql__ser_t *s = &v->s[i];
            int64_t prev = INT64_MIN, k = 0;
            for (uint32_t j = 0; j < s->np; j++) {
                int64_t t = s->p[j].t;
                k = t == prev + ev->step ? k + 1 : (t - ev->start) / ev->step;
                prev = t;
                size_t e = fill[k]++;
                c->all_idx[e] = (uint32_t)i;
                c->all_val[e] = s->p[j].v;
            }
        }
        c->bucketed = true;
        return 0;
    }
    size_t n = v->ns ? v->ns : 1;
    c->pos = vg_arena_calloc(q->a, n, sizeof *c->pos);
    c->idx = vg_arena_alloc(q->a, n * sizeof *c->idx);
    c->val = vg_arena_alloc(q->a, n * sizeof *c->val);
    if (!c->pos || !c->idx || !c->val) return vg_error_set(q->err, VG_ENOMEM, "out of memory");
    return 0;
}

void promql__cur_step(promql__cur_t *c, int64_t t) {
    c->n = 0;
    if (c->bucketed) {
        int64_t d = t - c->start;
        if (d < 0 || d % c->step || (size_t)(d / c->step) >= c->n_steps) return;
        size_t k = (size_t)(d / c->step);
        c->idx = c->all_idx + c->off[k];
        c->val = c->all_val + c->off[k];
        c->n = c->off[k + 1] - c->off[k];
        return;
    }
    for (size_t i = 0; i < c->v->ns; i++) {
        const promql__ser_t *s = &c->v->s[i];
        uint32_t p = c->pos[i];
        while (p < s->np && s->p[p].t < t) p++;
        c->pos[i] = p;
        if (p < s->np && s->p[p].t == t) {
            c->idx[c->n] = (uint32_t)i;
            c->val[c->n] = s->p[p].v;
            c->n++;
        }
    }
}

model_label_t promql__no_labels[1];

double promql__go_max(double a, double b) {
    if (isinf(a) && a > 0) return a;
    if (isinf(b) && b > 0) return b;
    if (isnan(a) || isnan(b)) return NAN;
    if (a == 0 && a == b) return signbit(a) ? b : a;
    return a > b ? a : b;
}

double promql__go_min(double a, double b) {
    if (isinf(a) && a < 0) return a;
    if (isinf(b) && b < 0) return b;
    if (isnan(a) || isnan(b)) return NAN;
    if (a == 0 && a == b) return signbit(a) ? a : b;
    return a < b ? a : b;
}

/* ---- labels -------------------------------------------------------------------------------------- */

const char *promql__lbl_get(const model_label_t *l, uint32_t n, const char *name) {
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(l[i].name, name) == 0) return l[i].value;
    return NULL;
}

bool promql__lbl_has_name(const model_label_t *l, uint32_t n) {
    return promql__lbl_get(l, n, MODEL_METRIC_NAME) != NULL;
}

model_label_t *promql__lbl_drop_name(promql__q_t *q, const model_label_t *l, uint32_t n, uint32_t *nout) {
    if (!promql__lbl_has_name(l, n)) {
        *nout = n;
        return (model_label_t *)l;
    }
    model_label_t *o = vg_arena_alloc(q->a, (n ? n : 1) * sizeof *o);
    if (!o) return NULL;
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(l[i].name, MODEL_METRIC_NAME) != 0) o[k++] = l[i];
    *nout = k;
    return o;
}

int promql__lbl_set(promql__q_t *q, const model_label_t *l, uint32_t n, const char *name, const char *value,
                    model_label_t **out, uint32_t *nout) {
    model_label_t *o = vg_arena_alloc(q->a, (n + 1) * sizeof *o);
    if (!o) return vg_error_set(q->err, VG_ENOMEM, "out of memory");
    uint32_t k = 0;
    bool done = false;
    for (uint32_t i = 0; i < n; i++) {
        int c = strcmp(l[i].name, name);
        if (c == 0) continue;
        if (c > 0 && !done) {
            if (value && *value) o[k++] = (model_label_t){name, value};
            done = true;
        }
        o[k++] = l[i];
    }
    if (!done && value && *value) o[k++] = (model_label_t){name, value};
    *out = o;
    *nout = k;
    return 0;
}

static bool in_names(const char *name, const promql_str_t *names, size_t nn) {
    for (size_t i = 0; i < nn; i++)
        if (strcmp(names[i].ptr, name) == 0) return true;
    return false;
}

static bool sig_keep(const char *name, const promql_str_t *names, size_t nn, bool on) {
    if (on) return in_names(name, names, nn);
    return strcmp(name, MODEL_METRIC_NAME) != 0 && !in_names(name, names, nn);
}

uint64_t promql__lbl_sig(const model_label_t *l, uint32_t n, const promql_str_t *names, size_t nn, bool on) {
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a over name 0xff value 0xff */
    for (uint32_t i = 0; i < n; i++) {
        if (!sig_keep(l[i].name, names, nn, on)) continue;
        for (const unsigned char *p = (const unsigned char *)l[i].name; *p; p++) h = (h ^ *p) * 0x100000001b3ULL;
        h = (h ^ 0xff) * 0x100000001b3ULL;
        for (const unsigned char *p = (const unsigned char *)l[i].value; *p; p++) h = (h ^ *p) * 0x100000001b3ULL;
        h = (h ^ 0xff) * 0x100000001b3ULL;
    }
    return h;
}

bool promql__lbl_sig_eq(const model_label_t *a, uint32_t na, const model_label_t *b, uint32_t nb,
                        const promql_str_t *names, size_t nn, bool on) {
    uint32_t i = 0, j = 0;
    for (;;) {
        while (i < na && !sig_keep(a[i].name, names, nn, on)) i++;
        while (j < nb && !sig_keep(b[j].name, names, nn, on)) j++;
        if (i == na || j == nb) return i == na && j == nb;
        if (strcmp(a[i].name, b[j].name) != 0 || strcmp(a[i].value, b[j].value) != 0) return false;
        i++, j++;
    }
}

void promql__lbl_string(const model_label_t *l, uint32_t n, vg_buf_t *out) {
    vg_buf_putc(out, '{');
    for (uint32_t i = 0; i < n; i++) {
        if (i) vg_buf_puts(out, ", ");
        vg_buf_puts(out, l[i].name);
        vg_buf_putc(out, '=');
        promql_quote(out, l[i].value, strlen(l[i].value));
    }
    vg_buf_putc(out, '}');
}

/* ---- sorting ------------------------------------------------------------------------------------- */

typedef struct {
    bool (*less)(const void *a, const void *b, void *ctx);
    void *ctx;
} sort_ctx_t;

static int sort_cmp(const void *a, const void *b, void *arg) {
    sort_ctx_t *c = arg;
    if (c->less(a, b, c->ctx)) return -1;
    if (c->less(b, a, c->ctx)) return 1;
    return 0;
}

/* Go's sort.Sort sorts up to 12 elements by insertion (stable); beyond that the order of equal elements
 * is unspecified there too, and a merge sort is used here. */
void promql__sort_go(void *base, size_t n, size_t size, bool (*less)(const void *a, const void *b, void *ctx),
                     void *ctx) {
    char *b = base;
    if (n <= 12) {
        char tmp[64];
        if (size > sizeof tmp) return;
        for (size_t i = 1; i < n; i++)
            for (size_t j = i; j > 0 && less(b + j * size, b + (j - 1) * size, ctx); j--) {
                memcpy(tmp, b + j * size, size);
                memcpy(b + j * size, b + (j - 1) * size, size);
                memcpy(b + (j - 1) * size, tmp, size);
            }
        return;
    }
    sort_ctx_t c = {less, ctx};
    qsort_r(base, n, size, sort_cmp, &c);
}

static bool dbl_less_nan_first(const void *a, const void *b, void *ctx) {
    (void)ctx;
    double x = *(const double *)a, y = *(const double *)b;
    if (isnan(x)) return true;
    return x < y;
}

double promql__quantile(double q, double *v, size_t n) {
    if (n == 0) return NAN;
    if (q < 0) return -INFINITY;
    if (q > 1) return INFINITY;
    promql__sort_go(v, n, sizeof *v, dbl_less_nan_first, NULL);
    double nn = (double)n;
    double rank = q * (nn - 1);
    double lower = fmax(0, floor(rank));
    double upper = fmin(nn - 1, lower + 1);
    double weight = rank - floor(rank);
    if (isnan(lower) || isnan(upper)) return NAN;
    return v[(size_t)lower] * (1 - weight) + v[(size_t)upper] * weight;
}

/* strconv.ParseFloat(s, 64) for the forms label values carry: decimal, exponent, Inf/NaN words. */
bool promql__parse_go_float(const char *s, double *out) {
    if (!*s || *s == ' ' || *s == '\t' || *s == '\n') return false;
    const char *p = s;
    if (*p == '+' || *p == '-') p++;
    if (strcasecmp(p, "inf") == 0 || strcasecmp(p, "infinity") == 0) {
        *out = s[0] == '-' ? -INFINITY : INFINITY;
        return true;
    }
    if (strcasecmp(p, "nan") == 0) {
        if (p != s) return false;
        *out = NAN;
        return true;
    }
    for (const char *c = p; *c; c++)
        if (!((*c >= '0' && *c <= '9') || *c == '.' || *c == 'e' || *c == 'E' || *c == '+' || *c == '-' ||
              *c == 'x' || *c == 'X' || *c == 'p' || *c == 'P' || (*c >= 'a' && *c <= 'f') ||
              (*c >= 'A' && *c <= 'F') || *c == '_'))
            return false;
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end) return false;
    *out = v;
    return true;
}

/* ---- limits and errors every evaluator shares ---- */

int promql__samples_add(promql__q_t *q, int64_t n) {
    q->cur_samples += n;
    promql__stat_hold(q, 0);
    if (q->cur_samples > q->max_samples)
        return vg_error_set(q->err, VG_ELIMIT,
                            "query processing would load too many samples into memory in query execution");
    return 0;
}

void promql__stat_loaded(promql__q_t *q, int64_t ts, int64_t n) {
    promql_stats_t *s = q->stats;
    if (!s) return;
    s->total_samples += n;
    if (!s->per_step || ts < s->start_ms) return;
    int64_t off = ts - s->start_ms, k = s->step_ms ? off / s->step_ms : 0;
    if ((s->step_ms ? off % s->step_ms : off) == 0 && k < (int64_t)s->n_steps) s->per_step[k] += n;
}

void promql__stat_hold(promql__q_t *q, int64_t n) {
    if (q->stats && q->cur_samples + n > q->stats->peak_samples) q->stats->peak_samples = q->cur_samples + n;
}

int promql__err_bytes(promql__q_t *q) {
    return vg_error_set(q->err, VG_ELIMIT,
                        "query processing would use more than %lld bytes of memory in query execution "
                        "(query.max_bytes)",
                        (long long)q->max_bytes);
}

int promql__bytes_check(promql__q_t *q, size_t n) {
    const vg_arena_t *a = q->a;
    if (a->limit && (a->total > a->limit || n > a->limit - a->total)) return promql__err_bytes(q);
    return 0;
}

int promql__err_same_labelset(promql__q_t *q) {
    return vg_error_set(q->err, VG_EEXEC, "vector cannot contain metrics with the same labelset");
}
