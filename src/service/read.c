/* The read paths every front end shares: parse → enforce (scoped callers) → limits → executor.
 *
 * Invariants: nothing reaches the executor before enforcement — a scoped caller's expression and every
 * match[] selector carry the tenant's matcher (a matcher of its own on the enforced label is refused
 * with VG_EFORBIDDEN); a caller's limits come from its context (one config snapshot), never looked up
 * again here. Error texts are Prometheus' where Prometheus has one. */
#include "service_int.h"

#include "tsdb/tsdb.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The tenant matcher as the PromQL enforcer takes it (a view of ctx->matcher). */
static promql_enforced_label_t enforced(const service_ctx_t *ctx) {
    return (promql_enforced_label_t){ctx->matcher.label, (const char *const *)ctx->matcher.values, ctx->matcher.n_values};
}

/* The executor acting for ctx's caller (a remote backend names the tenant to the engine). */
static int executor_of(service_ctx_t *ctx, vg_arena_t *arena, promql_executor_t **ex, vg_error_t *err) {
    *ex = ctx->svc ? ctx->svc->exec : NULL;
    if (!*ex) return vg_error_set(err, VG_EUNAVAIL, "the query engine is not ready");
    *ex = promql_executor_scoped(*ex, ctx->scoped ? ctx->tenant : NULL, arena);
    return 0;
}

/* Parses and, for a scoped caller, enforces. Instant queries prefix the parser's message as
 * Prometheus does; range queries do not. */
static int parse_enforced(service_ctx_t *ctx, const char *text, bool prefix, vg_arena_t *arena, promql_node_t **expr,
                          vg_error_t *err) {
    int rc = promql_parse(text, strlen(text), arena, expr, err);
    if (rc && prefix) {
        char msg[VG_ERROR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", err->msg);
        return vg_error_set(err, rc, "invalid parameter \"query\": %s", msg);
    }
    if (rc || !ctx->scoped) return rc;
    promql_enforced_label_t e = enforced(ctx);
    rc = promql_enforce(*expr, &e, 1, PROMQL_ENFORCE_REJECT, arena, err);
    return rc < 0 ? rc : 0;
}

int service_query_check(service_ctx_t *ctx, const char *text, vg_arena_t *arena, vg_error_t *err) {
    promql_node_t *expr;
    int rc = promql_parse(text, strlen(text), arena, &expr, err);
    if (rc || !ctx->scoped) return rc;
    promql_enforced_label_t e = enforced(ctx);
    rc = promql_enforce(expr, &e, 1, PROMQL_ENFORCE_REJECT, arena, err);
    return rc < 0 ? rc : 0;
}

int service_query_format(service_ctx_t *ctx, const char *text, vg_arena_t *arena, const char **out, vg_error_t *err) {
    *out = NULL;
    promql_node_t *expr;
    int rc = promql_parse(text, strlen(text), arena, &expr, err);
    if (rc) {
        char msg[VG_ERROR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", err->msg);
        return vg_error_set(err, rc, "invalid parameter \"query\": %s", msg);
    }
    /* printed before enforcement rewrites the tree in place */
    vg_buf_t b = VG_BUF_INIT;
    rc = promql_print(expr, &b);
    const char *s = rc || b.failed ? NULL : vg_arena_strndup(arena, b.data, b.len);
    vg_buf_deinit(&b);
    if (!s) return vg_error_set(err, VG_ENOMEM, "out of memory");
    if (ctx->scoped) {
        promql_enforced_label_t e = enforced(ctx);
        if ((rc = promql_enforce(expr, &e, 1, PROMQL_ENFORCE_REJECT, arena, err)) < 0) return rc;
    }
    *out = s;
    return 0;
}

int service__query_prepare(service_ctx_t *ctx, const service_query_t *q, bool print, vg_arena_t *arena,
                           service__prepared_t *out, const char **evaluated, vg_error_t *err) {
    memset(out, 0, sizeof *out);
    if (evaluated) *evaluated = NULL;
    int rc = executor_of(ctx, arena, &out->ex, err);
    if (rc || (rc = parse_enforced(ctx, q->text, q->step == 0, arena, &out->expr, err))) return rc;
    const config_limits_t *lim = &ctx->limits;
    if (ctx->scoped && lim->max_query_range_ms && q->end - q->start > lim->max_query_range_ms) {
        char d[VG_DURATION_MAX];
        vg_duration_format(lim->max_query_range_ms, d);
        return vg_error_set(err, VG_ELIMIT, "the query time range exceeds the limit of %s for this tenant", d);
    }
    /* the audit log records what was evaluated (printed only when the line will be written); the cache
     * keys on the same text */
    bool audit = evaluated && (ctx->scoped || ctx->admin) && vg_log_get_level() <= VG_LOG_INFO;
    if (audit || print) {
        vg_buf_t b = VG_BUF_INIT;
        if (!promql_print(out->expr, &b) && !b.failed) out->text = vg_arena_strndup(arena, b.data, b.len);
        vg_buf_deinit(&b);
        if (print && !out->text) return vg_error_set(err, VG_ENOMEM, "out of memory");
        if (audit) *evaluated = out->text;
    }
    return 0;
}

int service__query_exec(service_ctx_t *ctx, const service__prepared_t *p, int64_t start, int64_t end, int64_t step,
                        int64_t timeout_ms, vg_arena_t *arena, promql_result_t **out, vg_error_t *err) {
    *out = NULL;
    const config_limits_t *lim = &ctx->limits;
    promql_query_t pq = {p->expr, start, end, step, timeout_ms, ctx->scoped ? lim->max_samples_per_query : 0};
    /* a tenant's concurrent queries are bounded too, on top of the engine's global gate */
    tenancy_usage_t *u = service_usage(ctx->svc);
    int rc;
    if (ctx->scoped && (rc = tenancy_usage_query_begin(u, ctx->tenant, lim->max_concurrent_queries, vg_now_ms(), err)))
        return rc;
    rc = step ? promql_query_range(p->ex, &pq, arena, out, err) : promql_query_instant(p->ex, &pq, arena, out, err);
    if (ctx->scoped) tenancy_usage_query_end(u, ctx->tenant);
    return rc;
}

int service_query(service_ctx_t *ctx, const service_query_t *q, vg_arena_t *arena, promql_result_t **out,
                  const char **evaluated, vg_error_t *err) {
    *out = NULL;
    service__prepared_t p;
    int rc = service__query_prepare(ctx, q, false, arena, &p, evaluated, err);
    return rc ? rc : service__query_exec(ctx, &p, q->start, q->end, q->step, q->timeout_ms, arena, out, err);
}

/* ---- match[] ---- */

/* Matchers are freed at the end of the call (they own compiled regexes); the sets live in the arena. */
typedef struct {
    promql_matcher_set_t *v;
    size_t n;
} sets_t;

static void sets_release(sets_t *s) {
    for (size_t i = 0; s->v && i < s->n; i++)
        for (size_t k = 0; k < s->v[i].n; k++) model_matcher_free(s->v[i].v[k]);
    s->n = 0;
}

static int selector_set(const promql_node_t *sel, vg_arena_t *arena, promql_matcher_set_t *out, vg_error_t *err) {
    size_t n = sel->u.vector.n_matchers, got;
    model_matcher_t **v = vg_arena_calloc(arena, n ? n : 1, sizeof *v);
    if (!v) return vg_error_set(err, VG_ENOMEM, "out of memory");
    int rc = promql_selector_matchers(sel, v, n, &got, err);
    if (!rc) *out = (promql_matcher_set_t){v, got};
    return rc;
}

/* Parses (and for a scoped caller enforces) every match[] selector. */
static int match_sets(service_ctx_t *ctx, const service_match_t *m, vg_arena_t *arena, sets_t *out, vg_error_t *err) {
    static const char all_series[] = "{__name__=~\".+\"}";
    size_t n = m ? m->n : 0;
    const char *const *texts = m ? m->selectors : NULL;
    bool wrap = m && m->wrap;
    out->v = NULL;
    out->n = 0;
    if (ctx->scoped && n == 0) { /* a tenant asking about "everything" asks about its own series */
        static const char *const all[] = {all_series};
        texts = all;
        n = 1;
    }
    if (n == 0) return 0;
    size_t *lens = vg_arena_calloc(arena, n, sizeof *lens);
    promql_node_t **nodes = vg_arena_calloc(arena, n, sizeof *nodes);
    out->v = vg_arena_calloc(arena, n, sizeof *out->v);
    if (!lens || !nodes || !out->v) return vg_error_set(err, VG_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) lens[i] = strlen(texts[i]);
    if (ctx->scoped) {
        promql_enforced_label_t e = enforced(ctx);
        int rc = promql_enforce_match(texts, lens, n, &e, 1, PROMQL_ENFORCE_REJECT, NULL, arena, nodes, err);
        if (rc < 0) return rc;
    }
    for (size_t i = 0; i < n; i++) {
        promql_node_t *sel = nodes[i];
        int rc = sel ? 0 : promql_parse_selector(texts[i], lens[i], NULL, arena, &sel, err);
        if (rc) {
            sets_release(out);
            if (!wrap) return rc;
            char msg[VG_ERROR_MSG_MAX];
            snprintf(msg, sizeof msg, "%s", err->msg);
            return vg_error_set(err, rc, "invalid parameter \"match[]\": %s", msg);
        }
        if ((rc = selector_set(sel, arena, &out->v[out->n], err))) {
            sets_release(out);
            return rc;
        }
        promql_matcher_set_t *set = &out->v[out->n++];
        bool nonempty = false;
        for (size_t k = 0; k < set->n; k++) nonempty |= !model_matcher_matches_empty(set->v[k]);
        if (!nonempty) {
            sets_release(out);
            return vg_error_set(err, VG_EINVAL, "invalid parameter \"match[]\": match[] must contain at least one non-empty matcher");
        }
    }
    return 0;
}

int service_series(service_ctx_t *ctx, const service_match_t *m, int64_t start, int64_t end, vg_arena_t *arena,
                   promql_labels_t **out, size_t *n_out, vg_error_t *err) {
    *out = NULL;
    *n_out = 0;
    promql_executor_t *ex;
    sets_t sets;
    int rc = executor_of(ctx, arena, &ex, err);
    if (rc || (rc = match_sets(ctx, m, arena, &sets, err))) return rc;
    rc = promql_series(ex, start, end, sets.v, sets.n, arena, out, n_out, err);
    sets_release(&sets);
    return rc;
}

int service_federate(service_ctx_t *ctx, const service_match_t *m, int64_t t, vg_arena_t *arena, promql_latest_t **out,
                     size_t *n_out, vg_error_t *err) {
    *out = NULL;
    *n_out = 0;
    if (!m || m->n == 0) return 0; /* as Prometheus: no match[], nothing federated (for tenants too) */
    promql_executor_t *ex;
    sets_t sets;
    int rc = executor_of(ctx, arena, &ex, err);
    if (rc || (rc = match_sets(ctx, m, arena, &sets, err))) return rc;
    rc = promql_latest(ex, t, ctx->cfg->query.lookback_delta_ms, sets.v, sets.n, arena, out, n_out, err);
    sets_release(&sets);
    return rc;
}

int service_labels(service_ctx_t *ctx, const char *name, const service_match_t *m, int64_t start, int64_t end,
                   vg_arena_t *arena, const char *const **out, size_t *n_out, vg_error_t *err) {
    *out = NULL;
    *n_out = 0;
    promql_executor_t *ex;
    sets_t sets;
    int rc = executor_of(ctx, arena, &ex, err);
    if (rc || (rc = match_sets(ctx, m, arena, &sets, err))) return rc;
    rc = name ? promql_label_values(ex, name, start, end, sets.v, sets.n, arena, out, n_out, err)
              : promql_label_names(ex, start, end, sets.v, sets.n, arena, out, n_out, err);
    sets_release(&sets);
    return rc;
}

int service_metadata(service_ctx_t *ctx, const char *metric, long limit, vg_arena_t *arena, promql_metadata_t **out,
                     size_t *n_out, vg_error_t *err) {
    *out = NULL;
    *n_out = 0;
    promql_executor_t *ex;
    int rc = executor_of(ctx, arena, &ex, err);
    if (rc) return rc;
    /* the executor's (scraped) metadata, then what writers sent: the limit counts families of the merge;
     * a tenant sees the metadata of the metrics it has series of, and what it wrote itself */
    model_matcher_t *tm = NULL;
    promql_matcher_set_t tenant = {&tm, 1};
    if (ctx->scoped && (rc = service_ctx_matcher(ctx, &tm, err))) return rc;
    const promql_matcher_set_t *scope = ctx->scoped ? &tenant : NULL;
    if (!(rc = promql_metadata(ex, metric, -1, scope, arena, out, n_out, err)))
        rc = service__metadata_add_received(ctx, ex, scope, metric, limit, arena, out, n_out, err);
    model_matcher_free(tm);
    return rc;
}

/* ---- remote read ---- */

/* q's matchers as a vector selector, so the one enforcer rewrites them as it rewrites any selector. */
static int read_selector(const remote_read_query_t *q, vg_arena_t *arena, promql_node_t **out, vg_error_t *err) {
    static const promql_match_type_t types[] = {PROMQL_MATCH_EQ, PROMQL_MATCH_NEQ, PROMQL_MATCH_RE, PROMQL_MATCH_NRE};
    promql_node_t *sel = vg_arena_calloc(arena, 1, sizeof *sel);
    promql_matcher_t *ms = vg_arena_calloc(arena, q->n_matchers ? q->n_matchers : 1, sizeof *ms);
    if (!sel || !ms) return vg_error_set(err, VG_ENOMEM, "out of memory");
    for (size_t i = 0; i < q->n_matchers; i++) {
        const remote_read_matcher_t *m = &q->matchers[i];
        if (m->type < 0 || m->type > 3) return vg_error_set(err, VG_EINVAL, "unknown matcher type %d", m->type);
        ms[i] = (promql_matcher_t){{m->name, strlen(m->name)}, {m->value, strlen(m->value)}, types[m->type], false};
    }
    sel->type = PROMQL_NODE_VECTOR;
    sel->height = 1;
    sel->u.vector.matchers = ms;
    sel->u.vector.n_matchers = q->n_matchers;
    *out = sel;
    return 0;
}

static int cmp_read_series(const void *a, const void *b) {
    const remote_read_series_t *x = a, *y = b;
    return model_labels_cmp(x->labels, x->n_labels, y->labels, y->n_labels);
}

/* The samples of the current series in [mint, maxt] into arena. */
static int read_samples(storage_series_set_t *ss, storage_iterator_t **it, int64_t mint, int64_t maxt, int64_t *left,
                        vg_arena_t *arena, remote_read_series_t *out, vg_error_t *err) {
    int64_t *t = NULL;
    double *v = NULL;
    size_t n = 0, cap = 0;
    *it = ss->vt->iterator(ss, *it);
    int rc = 0;
    for (storage_val_t k = (*it)->vt->seek(*it, mint); k == STORAGE_VAL_FLOAT; k = (*it)->vt->next(*it)) {
        int64_t ts;
        double val;
        (*it)->vt->at(*it, &ts, &val);
        if (ts > maxt) break;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 128;
            int64_t *nt = vg_arena_alloc(arena, nc * sizeof *nt);
            double *nv = vg_arena_alloc(arena, nc * sizeof *nv);
            if (!nt || !nv) return vg_error_set(err, VG_ENOMEM, "out of memory");
            if (n) memcpy(nt, t, n * sizeof *t), memcpy(nv, v, n * sizeof *v);
            t = nt, v = nv, cap = nc;
        }
        if (--*left < 0) return VG_ELIMIT;
        t[n] = ts, v[n++] = val;
    }
    if ((rc = (*it)->vt->err(*it))) {
        const char *why = storage_iterator_err_msg(*it);
        return vg_error_set(err, rc, "reading samples failed%s%s", why ? ": " : "", why ? why : "");
    }
    out->t = t;
    out->v = v;
    out->n_samples = n;
    return 0;
}

int service_remote_read(service_ctx_t *ctx, const remote_read_query_t *q, int64_t *samples_left, vg_arena_t *arena,
                        remote_read_series_t **out, size_t *n_out, vg_error_t *err) {
    *out = NULL;
    *n_out = 0;
    struct tsdb_db *db = ctx->svc ? ctx->svc->db : NULL;
    if (!db) return vg_error_set(err, VG_EUNAVAIL, "storage is not open");
    promql_node_t *sel = NULL;
    int rc = read_selector(q, arena, &sel, err);
    if (!rc && ctx->scoped) {
        promql_enforced_label_t e = enforced(ctx);
        rc = promql_enforce(sel, &e, 1, PROMQL_ENFORCE_REJECT, arena, err);
        rc = rc < 0 ? rc : 0;
    }
    if (rc) return rc;
    size_t cap = sel->u.vector.n_matchers, n_ms;
    model_matcher_t **ms = vg_arena_calloc(arena, cap ? cap : 1, sizeof *ms);
    if (!ms) return vg_error_set(err, VG_ENOMEM, "out of memory");
    if ((rc = promql_selector_matchers(sel, ms, cap, &n_ms, err))) return rc;
    storage_querier_t *qr = NULL;
    storage_series_set_t *ss = NULL;
    remote_read_series_t *res = NULL;
    size_t n = 0, rcap = 0;
    if (!(rc = tsdb_db_querier(db, q->start_ms, q->end_ms, &qr, err)) && !(rc = storage_select(qr, true, ms, n_ms, &ss, err))) {
        storage_iterator_t *it = NULL;
        int64_t limit = *samples_left;
        while (!rc && ss->vt->next(ss)) {
            remote_read_series_t s = {0};
            const model_label_t *ls;
            size_t nl;
            ss->vt->labels(ss, &ls, &nl);
            if ((rc = read_samples(ss, &it, q->start_ms, q->end_ms, samples_left, arena, &s, err))) {
                if (rc == VG_ELIMIT) rc = vg_error_set(err, VG_ELIMIT, "exceeded sample limit (%lld)", (long long)limit);
                break;
            }
            if (!s.n_samples) continue;
            model_label_t *copy = vg_arena_alloc(arena, (nl ? nl : 1) * sizeof *copy);
            if (!copy) rc = vg_error_set(err, VG_ENOMEM, "out of memory");
            for (size_t i = 0; !rc && i < nl; i++) {
                copy[i].name = vg_arena_strndup(arena, ls[i].name, strlen(ls[i].name));
                copy[i].value = vg_arena_strndup(arena, ls[i].value, strlen(ls[i].value));
                if (!copy[i].name || !copy[i].value) rc = vg_error_set(err, VG_ENOMEM, "out of memory");
            }
            if (!rc && n == rcap) {
                size_t nc = rcap ? rcap * 2 : 32;
                remote_read_series_t *na = vg_arena_alloc(arena, nc * sizeof *na);
                if (!na) rc = vg_error_set(err, VG_ENOMEM, "out of memory");
                else {
                    if (n) memcpy(na, res, n * sizeof *na);
                    res = na, rcap = nc;
                }
            }
            if (rc) break;
            s.labels = copy;
            s.n_labels = nl;
            res[n++] = s;
        }
        if (!rc && ss->vt->err(ss)) rc = vg_error_set(err, ss->vt->err(ss), "reading series failed");
    }
    storage_querier_close(qr);
    for (size_t i = 0; i < n_ms; i++) model_matcher_free(ms[i]);
    if (rc) return rc;
    if (n > 1) qsort(res, n, sizeof *res, cmp_read_series);
    *out = res;
    *n_out = n;
    return 0;
}
