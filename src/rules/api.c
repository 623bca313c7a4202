/* The API view of groups, rules and alerts in Prometheus 2.42's JSON shapes (web/api/v1: RuleGroup,
 * AlertingRule, RecordingRule, Alert): times as Go marshals time.Time (RFC 3339 with nanoseconds,
 * the zero time as 0001-01-01T00:00:00Z), durations in seconds, an alert's value in Go's %e. Each group
 * is read under its own lock, so a group is shown as one consistent evaluation. */
#include "rules_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void rules__json_time(vg_json_t *j, int64_t ns) {
    if (!ns) {
        vg_json_str(j, "0001-01-01T00:00:00Z");
        return;
    }
    time_t s = (time_t)(ns / 1000000000LL);
    long frac = (long)(ns % 1000000000LL);
    if (frac < 0) frac += 1000000000L, s--;
    struct tm tm;
    gmtime_r(&s, &tm);
    char buf[64];
    int n = (int)strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    if (frac) {
        n += snprintf(buf + n, sizeof buf - (size_t)n, ".%09ld", frac);
        while (buf[n - 1] == '0') n--;
    }
    buf[n++] = 'Z';
    buf[n] = '\0';
    vg_json_str(j, buf);
}

/* strconv.FormatFloat(v, 'e', -1, 64) */
static void json_e(vg_json_t *j, double v) {
    char buf[64];
    if (isnan(v)) snprintf(buf, sizeof buf, "NaN");
    else if (isinf(v)) snprintf(buf, sizeof buf, "%sInf", v > 0 ? "+" : "-");
    else
        for (int p = 0; p < 18; p++) {
            snprintf(buf, sizeof buf, "%.*e", p, v);
            if (strtod(buf, NULL) == v) break;
        }
    vg_json_str(j, buf);
}

static void json_labels(vg_json_t *j, const model_label_t *l, size_t n) {
    vg_json_obj_open(j);
    for (size_t i = 0; i < n; i++) {
        vg_json_key(j, l[i].name);
        vg_json_str(j, l[i].value);
    }
    vg_json_obj_close(j);
}

static void json_spec_labels(vg_json_t *j, const rules_label_t *l, size_t n) {
    vg_json_obj_open(j);
    for (size_t i = 0; i < n; i++) {
        vg_json_key(j, l[i].name);
        vg_json_str(j, l[i].value);
    }
    vg_json_obj_close(j);
}

static const char *state_name(rules_alert_state_t s) {
    return s == RULES_FIRING ? "firing" : s == RULES_PENDING ? "pending" : "inactive";
}

static bool alert_visible(const rules__alert_t *a, const rules_filter_t *f, bool owned) {
    if (a->state == RULES_INACTIVE) return false;
    if (!f || !f->label_name || owned) return true;
    const char *v = model_labels_get(a->labels.v, a->labels.n, f->label_name);
    for (size_t i = 0; v && i < f->n_label_values; i++)
        if (!strcmp(v, f->label_values[i])) return true;
    return false;
}

static void json_alert(vg_json_t *j, const rules__alert_t *a) {
    vg_json_obj_open(j);
    vg_json_key(j, "labels");
    json_labels(j, a->labels.v, a->labels.n);
    vg_json_key(j, "annotations");
    json_labels(j, a->annotations.v, a->annotations.n);
    vg_json_key(j, "state");
    vg_json_str(j, state_name(a->state));
    vg_json_key(j, "activeAt");
    rules__json_time(j, a->active_at);
    if (a->keep_firing_since) {
        vg_json_key(j, "keepFiringSince");
        rules__json_time(j, a->keep_firing_since);
    }
    vg_json_key(j, "value");
    json_e(j, a->value);
    vg_json_obj_close(j);
}

static bool in_list(const char *const *v, size_t n, const char *s) {
    if (!n) return true;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i], s)) return true;
    return false;
}

bool rules__group_visible(const rules_group_t *g, const rules_filter_t *f) {
    if (!f) return true;
    if (!g->tenant && !f->see_operator) return false;
    if (f->tenant && (!g->tenant || strcmp(f->tenant, g->tenant))) return false;
    return in_list(f->groups, f->n_groups, g->spec.name) && in_list(f->files, f->n_files, g->spec.file);
}

static bool rule_visible(const rules__rule_t *r, const rules_filter_t *f) {
    if (!f) return true;
    if ((f->type == 1 && !r->spec->alert) || (f->type == 2 && r->spec->alert)) return false;
    return in_list(f->rule_names, f->n_rule_names, r->spec->name);
}

static const char *health_name(rules__health_t h) {
    return h == RULES__HEALTH_OK ? "ok" : h == RULES__HEALTH_ERR ? "err" : "unknown";
}

void rules__group_write_json(rules_group_t *g, const rules_filter_t *f, vg_json_t *j) {
    pthread_mutex_lock(&g->mu);
    size_t shown = 0;
    for (size_t i = 0; i < g->n_rules; i++) shown += rule_visible(&g->rules[i], f);
    bool filtered = f && (f->type || f->n_rule_names);
    if (filtered && !shown) {
        pthread_mutex_unlock(&g->mu);
        return;
    }
    vg_json_obj_open(j);
    vg_json_key(j, "name");
    vg_json_str(j, g->spec.name);
    vg_json_key(j, "file");
    vg_json_str(j, g->spec.file);
    vg_json_key(j, "rules");
    vg_json_arr_open(j);
    for (size_t i = 0; i < g->n_rules; i++) {
        const rules__rule_t *r = &g->rules[i];
        if (!rule_visible(r, f)) continue;
        const rules_rule_spec_t *s = r->spec;
        vg_json_obj_open(j);
        if (s->alert) {
            vg_json_key(j, "state");
            vg_json_str(j, state_name(rules__rule_state(r)));
        }
        vg_json_key(j, "name");
        vg_json_str(j, s->name);
        vg_json_key(j, "query");
        vg_json_str(j, r->query);
        if (s->alert) {
            vg_json_key(j, "duration");
            vg_json_f64(j, (double)s->for_ms / 1000.0);
            vg_json_key(j, "keepFiringFor");
            vg_json_f64(j, (double)s->keep_firing_for_ms / 1000.0);
        }
        if (s->alert || s->n_labels) {
            vg_json_key(j, "labels");
            json_spec_labels(j, s->labels, s->n_labels);
        }
        if (s->alert) {
            vg_json_key(j, "annotations");
            json_spec_labels(j, s->annotations, s->n_annotations);
            vg_json_key(j, "alerts");
            vg_json_arr_open(j);
            for (size_t k = 0; k < r->n_alerts; k++)
                if (r->alerts[k].state != RULES_INACTIVE) json_alert(j, &r->alerts[k]);
            vg_json_arr_close(j);
        }
        vg_json_key(j, "health");
        vg_json_str(j, health_name(r->health));
        if (r->last_error[0]) {
            vg_json_key(j, "lastError");
            vg_json_str(j, r->last_error);
        }
        vg_json_key(j, "evaluationTime");
        vg_json_f64(j, r->eval_seconds);
        vg_json_key(j, "lastEvaluation");
        rules__json_time(j, r->last_eval);
        vg_json_key(j, "type");
        vg_json_str(j, s->alert ? "alerting" : "recording");
        vg_json_obj_close(j);
    }
    vg_json_arr_close(j);
    vg_json_key(j, "interval");
    vg_json_f64(j, (double)g->interval_ms / 1000.0);
    vg_json_key(j, "limit");
    vg_json_i64(j, g->spec.limit);
    vg_json_key(j, "evaluationTime");
    vg_json_f64(j, g->eval_seconds);
    vg_json_key(j, "lastEvaluation");
    rules__json_time(j, g->last_eval);
    vg_json_obj_close(j);
    pthread_mutex_unlock(&g->mu);
}

void rules__group_write_alerts(rules_group_t *g, const rules_filter_t *f, vg_json_t *j) {
    bool owned = f && f->tenant && g->tenant && !strcmp(f->tenant, g->tenant);
    pthread_mutex_lock(&g->mu);
    for (size_t i = 0; i < g->n_rules; i++) {
        const rules__rule_t *r = &g->rules[i];
        for (size_t k = 0; r->spec->alert && k < r->n_alerts; k++)
            if (alert_visible(&r->alerts[k], f, owned)) json_alert(j, &r->alerts[k]);
    }
    pthread_mutex_unlock(&g->mu);
}
