/* Alerting rules: Prometheus 2.42's alert state machine (AlertingRule.Eval), sending, and the `for`
 * state restore at startup (Group.RestoreForState).
 *
 * State machine per alert, keyed by its labels (the sample's without __name__, the rule's labels
 * expanded over them, alertname):
 *   new in the result            → pending, activeAt = ts
 *   pending, ts - activeAt >= for → firing, firedAt = ts
 *   gone from the result: pending → dropped; firing → inactive (resolvedAt = ts), kept 15 minutes so it
 *   is sent as resolved, unless keep_firing_for holds it firing (since the first evaluation it was gone)
 *   back in the result while inactive → a new pending alert.
 * A tenant group's alerts also carry the tenant's label (rules_env_t.forced_label), so what is sent,
 * shown and restored names the tenant whatever the expression aggregated away.
 * Every pending or firing alert writes ALERTS{alertstate} = 1 and ALERTS_FOR_STATE = activeAt (Unix
 * seconds) once the rule is restored; more pending+firing alerts than the group's limit drop them all
 * and fail the rule. */
#include "rules_int.h"

#include "model/matcher.h"
#include "util/log.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

rules_alert_state_t rules__rule_state(const rules__rule_t *r) {
    rules_alert_state_t s = RULES_INACTIVE;
    for (size_t i = 0; i < r->n_alerts; i++)
        if (r->alerts[i].state > s) s = r->alerts[i].state;
    return s;
}

/* The alert's labels: the sample's without __name__, the rule's (expanded) set over them, alertname. */
static int alert_labels(rules_group_t *g, rules__rule_t *r, const rules_env_t *env, const promql_series_t *s, double v,
                        int64_t ts_ns, vg_arena_t *a, model_label_t **out, size_t *n_out) {
    const rules_rule_spec_t *sp = r->spec;
    size_t cap = s->n_labels + sp->n_labels + 2;
    model_label_t *ls = vg_arena_alloc(a, cap * sizeof *ls);
    if (!ls) return VG_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < s->n_labels; i++)
        if (strcmp(s->labels[i].name, MODEL_METRIC_NAME)) ls[n++] = s->labels[i];
    /* templates see the sample's labels (without __name__) */
    size_t n_src = n;
    model_label_t *src = vg_arena_alloc(a, (n_src ? n_src : 1) * sizeof *src);
    if (!src) return VG_ENOMEM;
    memcpy(src, ls, n_src * sizeof *src);
    for (size_t j = 0; j <= sp->n_labels; j++) {
        const char *name = j < sp->n_labels ? sp->labels[j].name : "alertname";
        const char *value = j < sp->n_labels ? rules__expand(g, sp, env, sp->labels[j].value, src, n_src, v, ts_ns, a) : sp->name;
        if (!value) return VG_ENOMEM;
        size_t i = 0;
        while (i < n && strcmp(ls[i].name, name)) i++;
        if (i < n) {
            if (*value) ls[i].value = value;
            else memmove(&ls[i], &ls[i + 1], (n - i - 1) * sizeof *ls), n--;
        } else if (*value) {
            ls[n++] = (model_label_t){name, value};
        }
    }
    if (env->forced_label && env->n_forced_values) { /* last: neither the sample nor the rule can name another tenant */
        size_t i = 0;
        while (i < n && strcmp(ls[i].name, env->forced_label)) i++;
        bool allowed = false;
        for (size_t k = 0; i < n && k < env->n_forced_values && !allowed; k++)
            allowed = !strcmp(ls[i].value, env->forced_values[k]);
        if (i == n) ls[n++] = (model_label_t){env->forced_label, env->forced_values[0]};
        else if (!allowed) ls[i].value = env->forced_values[0];
    }
    model_labels_sort(ls, n);
    *out = ls;
    *n_out = n;
    return 0;
}

static rules__alert_t *find(rules__rule_t *r, const model_label_t *l, size_t n, uint64_t h) {
    for (size_t i = 0; i < r->n_alerts; i++)
        if (r->alerts[i].labels.hash == h && model_labels_equal(r->alerts[i].labels.v, r->alerts[i].labels.n, l, n))
            return &r->alerts[i];
    return NULL;
}

static void drop_alert(rules__rule_t *r, size_t i) {
    rules__lset_free(&r->alerts[i].labels);
    rules__lset_free(&r->alerts[i].annotations);
    r->alerts[i] = r->alerts[--r->n_alerts];
}

static void clear_alerts(rules__rule_t *r) {
    while (r->n_alerts) drop_alert(r, r->n_alerts - 1);
}

typedef struct {
    model_label_t *labels, *ann;
    size_t n_labels, n_ann;
    uint64_t hash;
    double v;
} fresh_t;

/* One ALERTS / ALERTS_FOR_STATE sample of an alert. */
static int push_sample(rules__vec_t *out, vg_arena_t *a, const rules__alert_t *al, const char *name, const char *state,
                       double v) {
    model_label_t *ls = vg_arena_alloc(a, (al->labels.n + 2) * sizeof *ls);
    if (!ls) return VG_ENOMEM;
    size_t n = 0;
    ls[n++] = (model_label_t){MODEL_METRIC_NAME, name};
    for (size_t i = 0; i < al->labels.n; i++) {
        if (!strcmp(al->labels.v[i].name, "alertstate") && state) continue;
        ls[n++] = al->labels.v[i];
    }
    if (state) ls[n++] = (model_label_t){"alertstate", state};
    model_labels_sort(ls, n);
    return rules__vec_push(out, a, ls, n, v);
}

int rules__alert_eval(rules_group_t *g, rules__rule_t *r, const rules_env_t *env, int64_t ts_ns, vg_arena_t *arena,
                      rules__vec_t *out, vg_error_t *err) {
    promql_series_t *res;
    size_t n;
    int rc = rules__query(g, env, r->spec->expr, ts_ns, arena, &res, &n, err);
    if (rc) return rc;
    const rules_rule_spec_t *sp = r->spec;
    fresh_t *fr = vg_arena_calloc(arena, n ? n : 1, sizeof *fr);
    if (!fr) return vg_error_set(err, VG_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        double v = res[i].n_points ? res[i].points[0].v : 0;
        model_label_t *src = vg_arena_alloc(arena, (res[i].n_labels ? res[i].n_labels : 1) * sizeof *src);
        if (!src) return vg_error_set(err, VG_ENOMEM, "out of memory");
        size_t n_src = 0;
        for (size_t k = 0; k < res[i].n_labels; k++)
            if (strcmp(res[i].labels[k].name, MODEL_METRIC_NAME)) src[n_src++] = res[i].labels[k];
        if (alert_labels(g, r, env, &res[i], v, ts_ns, arena, &fr[i].labels, &fr[i].n_labels))
            return vg_error_set(err, VG_ENOMEM, "out of memory");
        fr[i].ann = vg_arena_alloc(arena, (sp->n_annotations ? sp->n_annotations : 1) * sizeof *fr[i].ann);
        if (!fr[i].ann) return vg_error_set(err, VG_ENOMEM, "out of memory");
        for (size_t k = 0; k < sp->n_annotations; k++) {
            const char *val = rules__expand(g, sp, env, sp->annotations[k].value, src, n_src, v, ts_ns, arena);
            if (!val) return vg_error_set(err, VG_ENOMEM, "out of memory");
            fr[i].ann[k] = (model_label_t){sp->annotations[k].name, val};
        }
        fr[i].n_ann = sp->n_annotations;
        fr[i].hash = model_labels_hash(fr[i].labels, fr[i].n_labels);
        fr[i].v = v;
        for (size_t k = 0; k < i; k++)
            if (fr[k].hash == fr[i].hash && model_labels_equal(fr[k].labels, fr[k].n_labels, fr[i].labels, fr[i].n_labels))
                return vg_error_set(err, VG_EEXEC, "vector contains metrics with the same labelset after applying alert labels");
    }

    pthread_mutex_lock(&g->mu);
    rc = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        rules__alert_t *a = find(r, fr[i].labels, fr[i].n_labels, fr[i].hash);
        rules__lset_t ann;
        if ((rc = rules__lset_make(&ann, fr[i].ann, fr[i].n_ann))) break;
        if (a && a->state != RULES_INACTIVE) {
            a->value = fr[i].v;
            rules__lset_free(&a->annotations);
            a->annotations = ann;
            continue;
        }
        if (a) { /* a resolved alert that comes back starts over */
            rules__lset_free(&a->annotations);
            rules__lset_t keep = a->labels;
            *a = (rules__alert_t){.labels = keep};
        } else {
            if (r->n_alerts == r->cap_alerts) {
                size_t cap = r->cap_alerts ? r->cap_alerts * 2 : 8;
                rules__alert_t *na = realloc(r->alerts, cap * sizeof *na);
                if (!na) {
                    rules__lset_free(&ann);
                    rc = VG_ENOMEM;
                    break;
                }
                r->alerts = na;
                r->cap_alerts = cap;
            }
            a = &r->alerts[r->n_alerts];
            *a = (rules__alert_t){0};
            if ((rc = rules__lset_make(&a->labels, fr[i].labels, fr[i].n_labels))) {
                rules__lset_free(&ann);
                break;
            }
            r->n_alerts++;
        }
        a->annotations = ann;
        a->state = RULES_PENDING;
        a->active_at = ts_ns;
        a->value = fr[i].v;
    }
    if (rc) {
        pthread_mutex_unlock(&g->mu);
        return vg_error_set(err, VG_ENOMEM, "out of memory");
    }
    size_t active = 0;
    int64_t hold = sp->for_ms * RULES__NS_PER_MS, keep = sp->keep_firing_for_ms * RULES__NS_PER_MS;
    for (size_t i = 0; i < r->n_alerts;) {
        rules__alert_t *a = &r->alerts[i];
        bool in_result = false;
        for (size_t k = 0; k < n && !in_result; k++)
            in_result = fr[k].hash == a->labels.hash && model_labels_equal(fr[k].labels, fr[k].n_labels, a->labels.v, a->labels.n);
        if (!in_result) {
            bool keep_firing = false;
            if (a->state == RULES_FIRING && keep > 0) {
                if (!a->keep_firing_since) a->keep_firing_since = ts_ns;
                if (ts_ns - a->keep_firing_since < keep) keep_firing = true;
            }
            if (a->state == RULES_PENDING || (a->resolved_at && ts_ns - a->resolved_at > RULES__RESOLVED_RETENTION_NS)) {
                drop_alert(r, i);
                continue;
            }
            if (a->state != RULES_INACTIVE && !keep_firing) {
                a->state = RULES_INACTIVE;
                a->resolved_at = ts_ns;
            }
            if (!keep_firing) {
                i++;
                continue;
            }
        } else {
            a->keep_firing_since = 0;
        }
        active++;
        if (a->state == RULES_PENDING && ts_ns - a->active_at >= hold) {
            a->state = RULES_FIRING;
            a->fired_at = ts_ns;
        }
        if (r->restored &&
            (push_sample(out, arena, a, "ALERTS", a->state == RULES_FIRING ? "firing" : "pending", 1) ||
             push_sample(out, arena, a, "ALERTS_FOR_STATE", NULL, (double)(a->active_at / 1000000000LL)))) {
            rc = VG_ENOMEM;
            break;
        }
        i++;
    }
    if (!rc && g->spec.limit > 0 && active > (size_t)g->spec.limit) {
        clear_alerts(r);
        out->n = 0;
        pthread_mutex_unlock(&g->mu);
        return vg_error_set(err, VG_ELIMIT, "exceeded limit of %lld with %zu alerts", (long long)g->spec.limit, active);
    }
    pthread_mutex_unlock(&g->mu);
    return rc ? vg_error_set(err, VG_ENOMEM, "out of memory") : 0;
}

/* Go's url.QueryEscape. */
static void query_escape(vg_buf_t *b, const char *s) {
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
            c == '~')
            vg_buf_putc(b, (char)c);
        else if (c == ' ') vg_buf_putc(b, '+');
        else {
            vg_buf_putc(b, '%');
            vg_buf_putc(b, hex[c >> 4]);
            vg_buf_putc(b, hex[c & 15]);
        }
    }
}

void rules__alert_send(rules_group_t *g, rules__rule_t *r, const rules_env_t *env, int64_t ts_ns) {
    int64_t resend = env->resend_delay_ms * RULES__NS_PER_MS, iv = g->interval_ms * RULES__NS_PER_MS;
    int64_t delta = iv > resend ? iv : resend;
    vg_buf_t url = VG_BUF_INIT;
    vg_buf_puts(&url, env->external_url ? env->external_url : "");
    vg_buf_puts(&url, "/graph?g0.expr=");
    query_escape(&url, r->query);
    vg_buf_puts(&url, "&g0.tab=1");
    vg_buf_putc(&url, '\0');
    pthread_mutex_lock(&g->mu);
    rules_alert_t *out = r->n_alerts ? calloc(r->n_alerts, sizeof *out) : NULL;
    rules__lset_t *keep = r->n_alerts ? calloc(2 * r->n_alerts, sizeof *keep) : NULL;
    size_t n = 0;
    for (size_t i = 0; out && keep && i < r->n_alerts; i++) {
        rules__alert_t *a = &r->alerts[i];
        if (a->state == RULES_PENDING) continue;
        if (!(a->resolved_at > a->last_sent_at || a->last_sent_at + resend < ts_ns)) continue;
        a->last_sent_at = ts_ns;
        a->valid_until = ts_ns + 4 * delta;
        /* copies, so the callee reads them outside the group's lock */
        if (rules__lset_make(&keep[2 * n], a->labels.v, a->labels.n) ||
            rules__lset_make(&keep[2 * n + 1], a->annotations.v, a->annotations.n))
            break;
        out[n] = (rules_alert_t){keep[2 * n].v, keep[2 * n].n, keep[2 * n + 1].v, keep[2 * n + 1].n,
                                 a->fired_at / RULES__NS_PER_MS,
                                 (a->resolved_at ? a->resolved_at : a->valid_until) / RULES__NS_PER_MS,
                                 url.data ? url.data : ""};
        n++;
    }
    pthread_mutex_unlock(&g->mu);
    if (n && env->send) env->send(env->send_ctx, out, n);
    for (size_t i = 0; keep && i < 2 * n; i++) rules__lset_free(&keep[i]);
    free(keep);
    free(out);
    vg_buf_deinit(&url);
}

/* The newest sample of the ALERTS_FOR_STATE series of alert a in [mint, maxt]: 1 found (*t, *v), 0 none. */
static int for_state(storage_querier_t *q, const rules__alert_t *a, int64_t *t, double *v) {
    model_matcher_t **ms = calloc(a->labels.n + 1, sizeof *ms);
    if (!ms) return 0;
    size_t n = 0;
    vg_error_t err;
    int found = 0;
    if (model_matcher_new(MODEL_MATCH_EQ, MODEL_METRIC_NAME, "ALERTS_FOR_STATE", &ms[n], &err) == 0) n++;
    for (size_t i = 0; i < a->labels.n && n == i + 1; i++)
        if (model_matcher_new(MODEL_MATCH_EQ, a->labels.v[i].name, a->labels.v[i].value, &ms[n], &err) == 0) n++;
    storage_series_set_t *ss;
    if (n == a->labels.n + 1 && storage_select(q, false, ms, n, &ss, &err) == 0) {
        while (!found && ss->vt->next(ss)) {
            const model_label_t *l;
            size_t nl;
            ss->vt->labels(ss, &l, &nl);
            if (nl != n) continue; /* the matchers hold every label: equal length means equal set */
            storage_iterator_t *it = ss->vt->iterator(ss, NULL);
            while (it->vt->next(it) == STORAGE_VAL_FLOAT) {
                it->vt->at(it, t, v);
                found = 1;
            }
            if (it->vt->err(it)) found = 0;
        }
    }
    for (size_t i = 0; i < n; i++) model_matcher_free(ms[i]);
    free(ms);
    return found;
}

void rules__restore(rules_group_t *g, const rules_env_t *env, int64_t ts_ns) {
    storage_querier_t *q = NULL;
    vg_error_t err;
    int64_t maxt = ts_ns / RULES__NS_PER_MS, mint = maxt - env->outage_tolerance_ms;
    if (env->querier && env->querier(env->querier_ctx, g->tenant, mint, maxt, &q, &err)) {
        vg_log_error("rules", "failed to get a querier to restore alert state", VG_LS("group", g->spec.name),
                     VG_LS("err", err.msg));
        q = NULL;
    }
    int64_t grace = env->grace_period_ms * RULES__NS_PER_MS;
    pthread_mutex_lock(&g->mu);
    for (size_t i = 0; i < g->n_rules; i++) {
        rules__rule_t *r = &g->rules[i];
        if (!r->spec->alert) continue;
        int64_t hold = r->spec->for_ms * RULES__NS_PER_MS;
        for (size_t k = 0; q && hold >= grace && k < r->n_alerts; k++) {
            rules__alert_t *a = &r->alerts[k];
            int64_t t;
            double v;
            if (!for_state(q, a, &t, &v)) continue;
            uint64_t bits;
            memcpy(&bits, &v, sizeof bits);
            if (bits == PROMQL_STALE_NAN_BITS) continue; /* the alert was not active */
            int64_t down_at = (t / 1000) * 1000000000LL;
            int64_t restored = (int64_t)v * 1000000000LL;
            int64_t remaining = hold - (down_at - restored);
            if (remaining <= 0) {
                /* it was firing when vigil stopped: the next evaluation fires it again if still active */
            } else if (remaining < grace) {
                restored = ts_ns + grace - hold;
            } else {
                restored += ts_ns - down_at;
            }
            a->active_at = restored;
        }
        r->restored = true;
    }
    pthread_mutex_unlock(&g->mu);
    storage_querier_close(q);
}
