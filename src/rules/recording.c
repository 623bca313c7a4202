/* Recording rules (Prometheus 2.42's RecordingRule.Eval): the expression's vector with __name__ set to
 * the record name and the rule's labels set over the sample's (an empty value removes the label). Two
 * samples with the same resulting labels, or more samples than the group's limit, fail the rule and it
 * writes nothing. */
#include "rules_int.h"

#include <stdlib.h>
#include <string.h>

/* Sets name=value on a sorted label set of n (capacity n + 1) in place; an empty value removes it. */
static size_t set_label(model_label_t *v, size_t n, const char *name, const char *value) {
    size_t i = 0;
    while (i < n && strcmp(v[i].name, name) < 0) i++;
    bool present = i < n && !strcmp(v[i].name, name);
    if (!*value) {
        if (present) memmove(&v[i], &v[i + 1], (n - i - 1) * sizeof *v), n--;
        return n;
    }
    if (present) {
        v[i].value = value;
        return n;
    }
    memmove(&v[i + 1], &v[i], (n - i) * sizeof *v);
    v[i] = (model_label_t){name, value};
    return n + 1;
}

static int cmp_sample(const void *a, const void *b) {
    const rules__sample_t *x = a, *y = b;
    return model_labels_cmp(x->labels, x->n_labels, y->labels, y->n_labels);
}

int rules__record_eval(rules_group_t *g, rules__rule_t *r, const rules_env_t *env, int64_t ts_ns, vg_arena_t *arena,
                       rules__vec_t *out, vg_error_t *err) {
    promql_series_t *res;
    size_t n;
    int rc = rules__query(g, env, r->spec->expr, ts_ns, arena, &res, &n, err);
    if (rc) return rc;
    const rules_rule_spec_t *s = r->spec;
    for (size_t i = 0; i < n; i++) {
        size_t cap = res[i].n_labels + s->n_labels + 1;
        model_label_t *ls = vg_arena_alloc(arena, cap * sizeof *ls);
        if (!ls) return vg_error_set(err, VG_ENOMEM, "out of memory");
        if (res[i].n_labels) memcpy(ls, res[i].labels, res[i].n_labels * sizeof *ls);
        size_t k = set_label(ls, res[i].n_labels, MODEL_METRIC_NAME, s->name);
        for (size_t j = 0; j < s->n_labels; j++) k = set_label(ls, k, s->labels[j].name, s->labels[j].value);
        if (rules__vec_push(out, arena, ls, k, res[i].n_points ? res[i].points[0].v : 0))
            return vg_error_set(err, VG_ENOMEM, "out of memory");
    }
    if (out->n > 1) { /* ContainsSameLabelset, on a sorted copy */
        rules__sample_t *sorted = vg_arena_alloc(arena, out->n * sizeof *sorted);
        if (!sorted) return vg_error_set(err, VG_ENOMEM, "out of memory");
        memcpy(sorted, out->v, out->n * sizeof *sorted);
        qsort(sorted, out->n, sizeof *sorted, cmp_sample);
        for (size_t i = 1; i < out->n; i++)
            if (!cmp_sample(&sorted[i - 1], &sorted[i]))
                return vg_error_set(err, VG_EEXEC, "vector contains metrics with the same labelset after applying rule labels");
    }
    if (g->spec.limit > 0 && out->n > (size_t)g->spec.limit)
        return vg_error_set(err, VG_ELIMIT, "exceeded limit of %lld with %zu series", (long long)g->spec.limit, out->n);
    return 0;
}
