/* The rule manager in the running server: its hooks into the service (the local executor, appenders
 * — unscoped for the operator's rule files, the tenant appender for a tenant's groups —, tenant
 * enforcement, a querier for restoring alert state, the notifier) and what the API reads.
 *
 * Invariant: a tenant group's expressions run only after promql_enforce with that tenant's matcher
 * (the same rewrite a tenant's query gets), its samples carry the tenant label (the tenant appender
 * forces it), its alerts carry it too (the tenant_label hook), and its `for` restore reads through a
 * querier scoped to the tenant's matcher, so a tenant's rules read and write only that tenant's
 * series. */
#include "service_int.h"

#include "rules/notifier.h"
#include "rules/rules.h"
#include "tsdb/tsdb.h"
#include "util/json.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int service__ctx_tenant(service_t *s, const char *tenant, service_ctx_t *ctx, vg_error_t *err) {
    memset(ctx, 0, sizeof *ctx);
    ctx->svc = s;
    snprintf(ctx->tenant, sizeof ctx->tenant, "%s", tenant);
    service__auth_t *a = service__auth(s);
    int rc = service__auth_scope(a, ctx, err);
    if (!rc) {
        ctx->cfg = config_ref(service__auth_config(a));
        config_tenant_limits(ctx->cfg, ctx->tenant, &ctx->limits);
    }
    service__auth_unref(a);
    if (rc) service_ctx_deinit(ctx);
    return rc;
}

/* A tenant group's appender: the tenant appender with the context it borrows the matcher from. */
typedef struct {
    storage_appender_t base;
    storage_appender_t *inner;
    service_ctx_t ctx;
} tapp_t;

static int t_append(storage_appender_t *b, const model_label_t *l, size_t n, int64_t t, double v, uint64_t *ref, vg_error_t *err) {
    return storage_append(((tapp_t *)b)->inner, l, n, t, v, ref, err);
}
static int t_append_ref(storage_appender_t *b, uint64_t ref, int64_t t, double v, vg_error_t *err) {
    return storage_append_ref(((tapp_t *)b)->inner, ref, t, v, err);
}
static int t_commit(storage_appender_t *b, vg_error_t *err) { return storage_commit(((tapp_t *)b)->inner, err); }
static void t_rollback(storage_appender_t *b) { storage_rollback(((tapp_t *)b)->inner); }
static void t_free(storage_appender_t *b) {
    tapp_t *a = (tapp_t *)b;
    storage_appender_free(a->inner);
    service_ctx_deinit(&a->ctx);
    free(a);
}
static const storage_appender_vt tapp_vt = {t_append, t_append_ref, t_commit, t_rollback, t_free, NULL};

static int hook_appender(void *p, const char *tenant, storage_appender_t **out, vg_error_t *err) {
    service_t *s = p;
    *out = NULL;
    if (!s->db) return vg_error_set(err, VG_EUNAVAIL, "storage is not open");
    if (!tenant) return tsdb_db_appender(s->db, out, err);
    tapp_t *a = calloc(1, sizeof *a);
    if (!a) return vg_error_set(err, VG_ENOMEM, "out of memory");
    a->base.vt = &tapp_vt;
    int rc = service__ctx_tenant(s, tenant, &a->ctx, err);
    if (rc) {
        free(a);
        return rc;
    }
    if ((rc = service_appender(&a->ctx, &a->inner, err))) {
        service_ctx_deinit(&a->ctx);
        free(a);
        return rc;
    }
    *out = &a->base;
    return 0;
}

static int hook_enforce(void *p, const char *tenant, promql_node_t *root, vg_arena_t *arena, vg_error_t *err) {
    service_ctx_t ctx;
    int rc = service__ctx_tenant(p, tenant, &ctx, err);
    if (rc) return rc;
    promql_enforced_label_t e = {ctx.matcher.label, (const char *const *)ctx.matcher.values, ctx.matcher.n_values};
    rc = promql_enforce(root, &e, 1, PROMQL_ENFORCE_REJECT, arena, err);
    service_ctx_deinit(&ctx);
    return rc < 0 ? rc : 0;
}

/* A querier scoped to a tenant: every selection, label name and value also matches the tenant's one
 * matcher, so a tenant group's `for` restore reads that tenant's series only. */
typedef struct {
    storage_querier_t base;
    storage_querier_t *inner;
    model_matcher_t *scope;
    model_matcher_t **ms; /* the caller's matchers + scope */
    size_t cap;
} tq_t;

static model_matcher_t *const *with_scope(tq_t *q, model_matcher_t *const *ms, size_t n) {
    if (n + 1 > q->cap) {
        model_matcher_t **nv = realloc(q->ms, (n + 1) * sizeof *nv);
        if (!nv) return NULL;
        q->ms = nv;
        q->cap = n + 1;
    }
    if (n) memcpy(q->ms, ms, n * sizeof *ms);
    q->ms[n] = q->scope;
    return q->ms;
}

static int tq_select(storage_querier_t *b, bool sorted, model_matcher_t *const *ms, size_t n, storage_series_set_t **out,
                     vg_error_t *err) {
    tq_t *q = (tq_t *)b;
    model_matcher_t *const *all = with_scope(q, ms, n);
    if (!all) return vg_error_set(err, VG_ENOMEM, "out of memory");
    return q->inner->vt->select(q->inner, sorted, all, n + 1, out, err);
}
static int tq_names(storage_querier_t *b, model_matcher_t *const *ms, size_t n, const char *const **out, size_t *n_out,
                    vg_error_t *err) {
    tq_t *q = (tq_t *)b;
    model_matcher_t *const *all = with_scope(q, ms, n);
    if (!all) return vg_error_set(err, VG_ENOMEM, "out of memory");
    return q->inner->vt->label_names(q->inner, all, n + 1, out, n_out, err);
}
static int tq_values(storage_querier_t *b, const char *name, model_matcher_t *const *ms, size_t n, const char *const **out,
                     size_t *n_out, vg_error_t *err) {
    tq_t *q = (tq_t *)b;
    model_matcher_t *const *all = with_scope(q, ms, n);
    if (!all) return vg_error_set(err, VG_ENOMEM, "out of memory");
    return q->inner->vt->label_values(q->inner, name, all, n + 1, out, n_out, err);
}
static void tq_close(storage_querier_t *b) {
    tq_t *q = (tq_t *)b;
    storage_querier_close(q->inner);
    model_matcher_free(q->scope);
    free(q->ms);
    free(q);
}
static const storage_querier_vt tq_vt = {tq_select, tq_names, tq_values, tq_close};

static int hook_querier(void *p, const char *tenant, int64_t mint, int64_t maxt, storage_querier_t **out, vg_error_t *err) {
    service_t *s = p;
    *out = NULL;
    if (!s->db) return vg_error_set(err, VG_EUNAVAIL, "storage is not open");
    if (!tenant) return tsdb_db_querier(s->db, mint, maxt, out, err);
    tq_t *q = calloc(1, sizeof *q);
    if (!q) return vg_error_set(err, VG_ENOMEM, "out of memory");
    q->base.vt = &tq_vt;
    service_ctx_t ctx;
    int rc = service__ctx_tenant(s, tenant, &ctx, err);
    if (!rc) {
        rc = service_ctx_matcher(&ctx, &q->scope, err);
        service_ctx_deinit(&ctx);
    }
    if (!rc) rc = tsdb_db_querier(s->db, mint, maxt, &q->inner, err);
    if (rc) {
        model_matcher_free(q->scope);
        free(q);
        return rc;
    }
    *out = &q->base;
    return 0;
}

/* The tenant's enforced label and allowed values, copied into arena, for its groups' alerts. */
static int hook_tenant_label(void *p, const char *tenant, vg_arena_t *arena, const char **name, const char *const **values,
                             size_t *n_values, vg_error_t *err) {
    service_ctx_t ctx;
    int rc = service__ctx_tenant(p, tenant, &ctx, err);
    if (rc) return rc;
    const char **v = vg_arena_calloc(arena, ctx.matcher.n_values ? ctx.matcher.n_values : 1, sizeof *v);
    *name = vg_arena_strndup(arena, ctx.matcher.label, strlen(ctx.matcher.label));
    for (size_t i = 0; v && i < ctx.matcher.n_values; i++)
        v[i] = vg_arena_strndup(arena, ctx.matcher.values[i], strlen(ctx.matcher.values[i]));
    *values = v;
    *n_values = ctx.matcher.n_values;
    service_ctx_deinit(&ctx);
    for (size_t i = 0; v && i < *n_values; i++)
        if (!v[i]) v = NULL;
    if (!v || !*name || !*n_values) return vg_error_set(err, VG_ENOMEM, "out of memory");
    return 0;
}

static void hook_send(void *p, const rules_alert_t *alerts, size_t n) {
    service_t *s = p;
    if (s->notifier) rules_notifier_send(s->notifier, alerts, n);
}

static int hook_builtin(void *p, const config_t *cfg, rules_file_t **out, vg_error_t *err) {
    (void)p;
    return service__cluster_rules(cfg, out, err);
}

int service_rules_start(service_t *s, vg_error_t *err) {
    if (!s->exec) return vg_error_set(err, VG_EUNAVAIL, "the rule manager needs the executor");
    rules_manager_opts_t o = {.exec = s->exec,
                              .appender = hook_appender,
                              .appender_ctx = s,
                              .enforce = hook_enforce,
                              .enforce_ctx = s,
                              .querier = hook_querier,
                              .querier_ctx = s,
                              .send = hook_send,
                              .send_ctx = s,
                              .tenant_label = hook_tenant_label,
                              .tenant_label_ctx = s,
                              .builtin = hook_builtin,
                              .builtin_ctx = s};
    config_t *c = service_config(s);
    rules_manager_t *m = NULL;
    int rc = rules_manager_new(&o, c, &m, err);
    config_unref(c);
    s->rules = m;
    if (!m) return rc;
    vg_error_t rerr;
    if (service__ruler_start(s, &rerr)) {
        vg_log_error("rules", "cannot load the ruler's rule groups", VG_LS("err", rerr.msg));
        if (!rc) rc = vg_error_set(err, rerr.code, "%s", rerr.msg);
    }
    return rc;
}

void service_rules_stop(service_t *s) {
    service__ruler_stop(s);
    rules_manager_t *m = s->rules;
    s->rules = NULL;
    rules_manager_free(m);
}

int service_rules_json(service_ctx_t *ctx, const service_rules_query_t *q, vg_json_t *j, vg_error_t *err) {
    (void)err;
    rules_filter_t f = {.type = q->type,
                        .rule_names = q->rule_names, .n_rule_names = q->n_rule_names,
                        .groups = q->groups, .n_groups = q->n_groups,
                        .files = q->files, .n_files = q->n_files,
                        .see_operator = !ctx->scoped,
                        .tenant = ctx->scoped ? ctx->tenant : NULL};
    if (!ctx->svc || !ctx->svc->rules) {
        vg_json_obj_open(j);
        vg_json_key(j, "groups");
        vg_json_arr_open(j);
        vg_json_arr_close(j);
        vg_json_obj_close(j);
        return 0;
    }
    rules_manager_write_rules_json(ctx->svc->rules, &f, j);
    return 0;
}

int service_alerts_json(service_ctx_t *ctx, vg_json_t *j, vg_error_t *err) {
    (void)err;
    /* a tenant: every group's alerts that carry its label (its own groups' always do) */
    rules_filter_t f = {.see_operator = true};
    if (ctx->scoped) {
        f.tenant = ctx->tenant;
        f.label_name = ctx->matcher.label;
        f.label_values = (const char *const *)ctx->matcher.values;
        f.n_label_values = ctx->matcher.n_values;
    }
    if (!ctx->svc || !ctx->svc->rules) {
        vg_json_obj_open(j);
        vg_json_key(j, "alerts");
        vg_json_arr_open(j);
        vg_json_arr_close(j);
        vg_json_obj_close(j);
        return 0;
    }
    rules_manager_write_alerts_json(ctx->svc->rules, &f, j);
    return 0;
}
