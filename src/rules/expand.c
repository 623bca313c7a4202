/* Alert label and annotation values as templates (template.h): named "__alert_<rule>" as Prometheus
 * names them, with the alert's sample labels and value, the external labels and URL, and `query`
 * evaluated through the group's executor (enforced for a tenant group, like the rule itself). An
 * execution error becomes the expansion "<error expanding template: …>", as in Prometheus. Text with
 * no action is its own expansion and is not parsed. */
#include "rules_int.h"

#include "rules/template.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    rules_group_t *g;
    const rules_env_t *env;
} qctx_t;

static int tmpl_query(void *ctx, const char *expr, int64_t t_ms, vg_arena_t *arena, rules_tmpl_sample_t **out, size_t *n_out,
                      vg_error_t *err) {
    qctx_t *q = ctx;
    promql_series_t *res;
    size_t n;
    int rc = rules__query(q->g, q->env, expr, t_ms * RULES__NS_PER_MS, arena, &res, &n, err);
    if (rc) return rc;
    rules_tmpl_sample_t *v = vg_arena_calloc(arena, n ? n : 1, sizeof *v);
    if (!v) return vg_error_set(err, VG_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) v[i] = (rules_tmpl_sample_t){res[i].labels, res[i].n_labels, res[i].n_points ? res[i].points[0].v : 0};
    *out = v;
    *n_out = n;
    return 0;
}

const char *rules__expand(const rules_group_t *g, const rules_rule_spec_t *rule, const rules_env_t *env, const char *text,
                          const model_label_t *labels, size_t n_labels, double value, int64_t ts_ns, vg_arena_t *arena) {
    if (!strstr(text, "{{")) return vg_arena_strndup(arena, text, strlen(text));
    char name[300];
    snprintf(name, sizeof name, "__alert_%s", rule->name);
    rules_template_t *t;
    vg_error_t err;
    vg_buf_t out = VG_BUF_INIT;
    qctx_t qc = {(rules_group_t *)g, env};
    rules_tmpl_data_t d = {labels, n_labels, env->external_labels, env->n_external_labels,
                           env->external_url ? env->external_url : "", value, ts_ns / RULES__NS_PER_MS, tmpl_query, &qc};
    int rc = rules_template_parse(name, text, strlen(text), &t, &err);
    if (!rc) {
        rc = rules_template_exec(t, &d, &out, &err);
        rules_template_free(t);
    }
    const char *r;
    if (rc) {
        vg_log_warn("rules", "expanding alert template failed", VG_LS("rule", rule->name), VG_LS("err", err.msg));
        vg_buf_reset(&out);
        vg_buf_printf(&out, "<error expanding template: %s>", err.msg);
    }
    r = vg_arena_strndup(arena, out.data ? out.data : "", out.len);
    vg_buf_deinit(&out);
    return r;
}

void rules__check_template(rules_errors_t *errs, const rules_label_t *l, const char *what, const char *rule_name,
                           const char *prefix) {
    char name[300];
    snprintf(name, sizeof name, "__alert_%s", rule_name);
    rules_template_t *t;
    vg_error_t err;
    if (rules_template_parse(name, l->value, strlen(l->value), &t, &err) == 0) {
        rules_template_free(t);
        return;
    }
    char msg[1200];
    snprintf(msg, sizeof msg, "%s: %s \"%s\": %s", prefix, what, l->name, err.msg);
    rules_file_error_t *nv = realloc(errs->v, (errs->n + 1) * sizeof *nv);
    if (!nv) return;
    errs->v = nv;
    char *m = strdup(msg);
    if (m) nv[errs->n++] = (rules_file_error_t){l->line, l->col, m};
}
