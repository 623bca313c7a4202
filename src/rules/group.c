/* A rule group: its rules in order, its aligned schedule and one evaluation (Prometheus 2.42's
 * Group.Eval), which is the unit the manager schedules and a test runner drives with its own clock.
 *
 * One evaluation at ts, per rule in order: query → samples (recording.c / alerting.c) → alerts sent →
 * samples appended with stale markers for the series the rule wrote last time and not now → commit. The
 * commit after each rule makes a rule's output visible to the rules after it. A rule whose query fails
 * writes nothing (not even stale markers) and keeps its previous series, as Prometheus does. A group
 * created with `restore` writes no ALERTS for its first two evaluations, then restores the alerts' `for`
 * state (alerting.c) and writes them from the third on — Prometheus' startup sequence. A group that
 * replaced a changed one on reload takes the state of the rules it kept (rules_group_take_state) and the
 * last series of those it lost, which its first evaluation then marks stale at its own timestamp. */
#include "rules_int.h"

#include "util/log.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t rules__now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t rules__env_now(const rules_env_t *env) { return env->clock ? env->clock(env->clock_ctx) : rules__now_ns(); }

static double stale_nan(void) {
    double v;
    uint64_t bits = PROMQL_STALE_NAN_BITS;
    memcpy(&v, &bits, sizeof v);
    return v;
}

static void free_lsets(rules__lset_t *v, size_t n) {
    for (size_t i = 0; i < n; i++) rules__lset_free(&v[i]);
    free(v);
}

int rules__lset_make(rules__lset_t *out, const model_label_t *v, size_t n) {
    *out = (rules__lset_t){0};
    if (!n) return 0;
    if (!(out->v = model_labels_dup(v, n))) return VG_ENOMEM;
    out->n = n;
    out->hash = model_labels_hash(v, n);
    return 0;
}

void rules__lset_free(rules__lset_t *l) {
    free(l->v);
    *l = (rules__lset_t){0};
}

int rules__vec_push(rules__vec_t *vec, vg_arena_t *a, const model_label_t *labels, size_t n, double v) {
    if (vec->n == vec->cap) {
        size_t cap = vec->cap ? vec->cap * 2 : 16;
        rules__sample_t *nv = vg_arena_alloc(a, cap * sizeof *nv);
        if (!nv) return VG_ENOMEM;
        if (vec->n) memcpy(nv, vec->v, vec->n * sizeof *nv);
        vec->v = nv;
        vec->cap = cap;
    }
    vec->v[vec->n++] = (rules__sample_t){labels, n, v};
    return 0;
}

int rules__query(rules_group_t *g, const rules_env_t *env, const char *expr, int64_t ts_ns, vg_arena_t *arena,
                 promql_series_t **out, size_t *n_out, vg_error_t *err) {
    *out = NULL;
    *n_out = 0;
    promql_node_t *root;
    int rc = promql_parse(expr, strlen(expr), arena, &root, err);
    if (rc) return rc;
    if (g->tenant) {
        if (!env->enforce) return vg_error_set(err, VG_EINTERNAL, "no tenant enforcement for the group of tenant %s", g->tenant);
        if ((rc = env->enforce(env->enforce_ctx, g->tenant, root, arena, err)) < 0) return rc;
    }
    int64_t t = ts_ns / RULES__NS_PER_MS;
    promql_query_t q = {.expr = root, .start_ms = t, .end_ms = t, .timeout_ms = env->query_timeout_ms};
    promql_result_t *res;
    /* a tenant's group reads through a view acting for it, as its queries over the API do */
    promql_executor_t *ex = promql_executor_scoped(env->exec, g->tenant, arena);
    if ((rc = promql_query_instant(ex, &q, arena, &res, err))) return rc;
    if (res->type == PROMQL_TYPE_VECTOR) {
        *out = res->series;
        *n_out = res->n_series;
        return 0;
    }
    if (res->type == PROMQL_TYPE_SCALAR) {
        promql_series_t *s = vg_arena_calloc(arena, 1, sizeof *s);
        promql_point_t *pt = vg_arena_alloc(arena, sizeof *pt);
        if (!s || !pt) return vg_error_set(err, VG_ENOMEM, "out of memory");
        *pt = (promql_point_t){t, res->scalar};
        s->points = pt;
        s->n_points = 1;
        *out = s;
        *n_out = 1;
        return 0;
    }
    return vg_error_set(err, VG_EEXEC, "rule result is not a vector or scalar");
}

static const char *const group_label[] = {"rule_group"};

int rules_group_new(const rules_group_spec_t *spec, int64_t default_interval_ms, const char *tenant, bool restore,
                    rules_group_t **out, vg_error_t *err) {
    *out = NULL;
    rules_group_t *g = calloc(1, sizeof *g);
    if (!g) return vg_error_set(err, VG_ENOMEM, "out of memory");
    if (rules_group_spec_copy(spec, &g->spec)) {
        free(g);
        return vg_error_set(err, VG_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&g->mu, NULL);
    g->interval_ms = spec->interval_ms > 0 ? spec->interval_ms : default_interval_ms > 0 ? default_interval_ms : 60000;
    g->should_restore = restore;
    int rc = 0;
    if (tenant && !(g->tenant = strdup(tenant))) rc = VG_ENOMEM;
    g->rules = calloc(g->spec.n_rules ? g->spec.n_rules : 1, sizeof *g->rules);
    if (!g->rules) rc = VG_ENOMEM;
    else g->n_rules = g->spec.n_rules;
    vg_arena_t a;
    vg_arena_init(&a, 4096);
    for (size_t i = 0; !rc && i < g->n_rules; i++) {
        rules__rule_t *r = &g->rules[i];
        r->spec = &g->spec.rules[i];
        r->restored = !restore;
        promql_node_t *root;
        vg_buf_t b = VG_BUF_INIT;
        if ((rc = promql_parse(r->spec->expr, strlen(r->spec->expr), &a, &root, err))) {
            vg_error_set(err, rc, "group \"%s\", rule %zu, \"%s\": could not parse expression: %s", spec->name, i + 1,
                         r->spec->name, err->msg);
            break;
        }
        if (promql_print(root, &b) || vg_buf_putc(&b, '\0')) rc = VG_ENOMEM;
        r->query = vg_buf_steal(&b, NULL);
        vg_buf_deinit(&b);
        if (!r->query) rc = VG_ENOMEM;
    }
    vg_arena_deinit(&a);
    if (rc) {
        if (rc == VG_ENOMEM) vg_error_set(err, VG_ENOMEM, "out of memory");
        rules_group_free(g);
        return rc;
    }
    /* Prometheus' GroupKey: file;name */
    char key[1024];
    snprintf(key, sizeof key, "%s%s%s;%s", g->tenant ? g->tenant : "", g->tenant ? ":" : "", g->spec.file, g->spec.name);
    const char *lv[] = {key};
    selfmon_registry_t *reg = selfmon_default();
    g->m_evals = selfmon_with(selfmon_counter(reg, "vigil_rule_evaluations_total", "The total number of rule evaluations.", 1,
                                              group_label), lv);
    g->m_failures = selfmon_with(selfmon_counter(reg, "vigil_rule_evaluation_failures_total",
                                                 "The total number of rule evaluation failures.", 1, group_label), lv);
    g->m_missed = selfmon_with(selfmon_counter(reg, "vigil_rule_group_iterations_missed_total",
                                               "The total number of rule group evaluations missed due to slow rule group evaluation.",
                                               1, group_label), lv);
    g->m_last_duration = selfmon_with(selfmon_gauge(reg, "vigil_rule_group_last_duration_seconds",
                                                    "The duration of the last rule group evaluation.", 1, group_label), lv);
    g->m_last_eval = selfmon_with(selfmon_gauge(reg, "vigil_rule_group_last_evaluation_timestamp_seconds",
                                                "The timestamp of the last rule group evaluation in seconds.", 1, group_label), lv);
    g->m_samples = selfmon_with(selfmon_gauge(reg, "vigil_rule_group_last_evaluation_samples",
                                              "The number of samples returned during the last rule group evaluation.", 1,
                                              group_label), lv);
    g->m_interval = selfmon_with(selfmon_gauge(reg, "vigil_rule_group_interval_seconds", "The interval of a rule group.", 1,
                                               group_label), lv);
    selfmon_gauge_set(g->m_interval, (double)g->interval_ms / 1000.0);
    *out = g;
    return 0;
}

void rules__rule_free_state(rules__rule_t *r) {
    for (size_t i = 0; i < r->n_alerts; i++) rules__lset_free(&r->alerts[i].labels), rules__lset_free(&r->alerts[i].annotations);
    free(r->alerts);
    r->alerts = NULL;
    r->n_alerts = r->cap_alerts = 0;
    for (size_t i = 0; i < r->n_prev; i++) rules__lset_free(&r->prev[i]);
    free(r->prev);
    r->prev = NULL;
    r->n_prev = 0;
}

void rules_group_free(rules_group_t *g) {
    if (!g) return;
    for (size_t i = 0; i < g->n_rules; i++) {
        rules__rule_free_state(&g->rules[i]);
        free(g->rules[i].query);
    }
    free(g->rules);
    free_lsets(g->stale, g->n_stale);
    free(g->tenant);
    rules_group_spec_deinit(&g->spec);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

const rules_group_spec_t *rules_group_spec(const rules_group_t *g) { return &g->spec; }
const char *rules_group_tenant(const rules_group_t *g) { return g->tenant; }
int64_t rules_group_interval_ms(const rules_group_t *g) { return g->interval_ms; }

uint64_t rules_group_hash(const rules_group_t *g) {
    model_label_t l[2] = {{"file", g->spec.file}, {"name", g->spec.name}};
    return model_labels_hash(l, 2);
}

int64_t rules_group_eval_timestamp(const rules_group_t *g, int64_t now_ns) {
    int64_t iv = g->interval_ms * RULES__NS_PER_MS;
    int64_t offset = (int64_t)(rules_group_hash(g) % (uint64_t)iv);
    int64_t start = now_ns - offset;
    int64_t base = start - (start % iv); /* Go's % truncates toward zero, as C's */
    return base + offset;
}

static int cmp_hash(const void *a, const void *b) {
    uint64_t x = ((const rules__lset_t *)a)->hash, y = ((const rules__lset_t *)b)->hash;
    return (x > y) - (x < y);
}

static bool lset_in(const rules__lset_t *v, size_t n, const rules__lset_t *l) {
    size_t lo = 0, hi = n;
    while (lo < hi) { /* first with hash >= l->hash */
        size_t mid = (lo + hi) / 2;
        if (v[mid].hash < l->hash) lo = mid + 1;
        else hi = mid;
    }
    for (; lo < n && v[lo].hash == l->hash; lo++)
        if (model_labels_equal(v[lo].v, v[lo].n, l->v, l->n)) return true;
    return false;
}

static const char *reject_text(int rc) {
    switch (rc) {
    case STORAGE_REJECT_OUT_OF_ORDER: return "out of order sample";
    case STORAGE_REJECT_DUPLICATE: return "duplicate sample for timestamp";
    case STORAGE_REJECT_OUT_OF_BOUNDS: return "out of bounds";
    case STORAGE_REJECT_TOO_FAR_FUTURE: return "too far in the future";
    default: return "series limit reached";
    }
}

static void set_error(rules_group_t *g, rules__rule_t *r, const char *msg) {
    pthread_mutex_lock(&g->mu);
    r->health = RULES__HEALTH_ERR;
    snprintf(r->last_error, sizeof r->last_error, "%s", msg);
    pthread_mutex_unlock(&g->mu);
}

/* Appends the rule's samples and stale markers and commits; on success the rule's previous series
 * become the ones written now. Returns 0 or <0 (error recorded on the rule). */
static int write_samples(rules_group_t *g, rules__rule_t *r, const rules_env_t *env, const rules__vec_t *vec, int64_t ts_ns) {
    int64_t t = ts_ns / RULES__NS_PER_MS;
    rules__lset_t *now = vec->n ? calloc(vec->n, sizeof *now) : NULL;
    size_t n_now = 0;
    vg_error_t err;
    int rc = vec->n && !now ? VG_ENOMEM : 0;
    for (size_t i = 0; !rc && i < vec->n; i++) {
        int a = storage_append(env->app, vec->v[i].labels, vec->v[i].n_labels, t, vec->v[i].v, NULL, &err);
        if (a < 0) {
            set_error(g, r, err.msg);
            vg_log_warn("rules", "rule sample appending failed", VG_LS("group", g->spec.name), VG_LS("rule", r->spec->name),
                        VG_LS("err", err.msg));
            continue;
        }
        if (a > 0) {
            set_error(g, r, reject_text(a));
            continue;
        }
        if ((rc = rules__lset_make(&now[n_now], vec->v[i].labels, vec->v[i].n_labels))) break;
        n_now++;
    }
    if (rc) {
        for (size_t i = 0; i < n_now; i++) rules__lset_free(&now[i]);
        free(now);
        storage_rollback(env->app);
        set_error(g, r, "out of memory");
        return rc;
    }
    if (n_now > 1) qsort(now, n_now, sizeof *now, cmp_hash);
    double stale = stale_nan();
    for (size_t i = 0; i < r->n_prev; i++)
        if (!lset_in(now, n_now, &r->prev[i])) /* rejections are expected when another rule writes the series */
            (void)storage_append(env->app, r->prev[i].v, r->prev[i].n, t, stale, NULL, &err);
    if ((rc = storage_commit(env->app, &err)) < 0) {
        set_error(g, r, err.msg);
        for (size_t i = 0; i < n_now; i++) rules__lset_free(&now[i]);
        free(now);
        return rc;
    }
    pthread_mutex_lock(&g->mu);
    for (size_t i = 0; i < r->n_prev; i++) rules__lset_free(&r->prev[i]);
    free(r->prev);
    r->prev = now;
    r->n_prev = n_now;
    pthread_mutex_unlock(&g->mu);
    return 0;
}

/* The series of rules a reload removed get stale markers at ts; a rejection is expected when another
 * rule now writes the series. Kept for the next evaluation when the commit fails. */
static void cleanup_stale(rules_group_t *g, const rules_env_t *env, int64_t ts_ns) {
    pthread_mutex_lock(&g->mu);
    rules__lset_t *v = g->stale;
    size_t n = g->n_stale;
    g->stale = NULL;
    g->n_stale = 0;
    pthread_mutex_unlock(&g->mu);
    if (!n) return;
    vg_error_t err;
    for (size_t i = 0; i < n; i++) (void)storage_append(env->app, v[i].v, v[i].n, ts_ns / RULES__NS_PER_MS, stale_nan(), NULL, &err);
    if (storage_commit(env->app, &err) < 0) {
        vg_log_warn("rules", "stale sample appending for previous configuration failed", VG_LS("group", g->spec.name),
                    VG_LS("err", err.msg));
        pthread_mutex_lock(&g->mu);
        if (!g->n_stale) {
            g->stale = v, g->n_stale = n;
            v = NULL, n = 0;
        }
        pthread_mutex_unlock(&g->mu);
    }
    free_lsets(v, n);
}

int rules_group_eval(rules_group_t *g, const rules_env_t *env, int64_t ts_ns) {
    int failed = 0;
    size_t samples = 0;
    vg_arena_t arena;
    vg_arena_init(&arena, 64 * 1024);
    int64_t g_start = rules__now_ns();
    uint64_t g_mono = vg_mono_ns();
    for (size_t i = 0; i < g->n_rules; i++) {
        rules__rule_t *r = &g->rules[i];
        int64_t start = rules__now_ns();
        uint64_t mono = vg_mono_ns();
        vg_arena_reset(&arena);
        selfmon_counter_inc(g->m_evals);
        rules__vec_t vec = {0};
        vg_error_t err;
        vg_error_clear(&err);
        int rc = r->spec->alert ? rules__alert_eval(g, r, env, ts_ns, &arena, &vec, &err)
                                : rules__record_eval(g, r, env, ts_ns, &arena, &vec, &err);
        if (rc) {
            set_error(g, r, err.msg);
            selfmon_counter_inc(g->m_failures);
            vg_log_warn("rules", "evaluating rule failed", VG_LS("group", g->spec.name), VG_LS("rule", r->spec->name),
                        VG_LS("err", err.msg));
            failed++;
        } else {
            pthread_mutex_lock(&g->mu);
            r->health = RULES__HEALTH_OK;
            r->last_error[0] = '\0';
            pthread_mutex_unlock(&g->mu);
            samples += vec.n;
            if (r->spec->alert) rules__alert_send(g, r, env, ts_ns);
            if (write_samples(g, r, env, &vec, ts_ns)) {
                selfmon_counter_inc(g->m_failures);
                failed++;
            }
        }
        pthread_mutex_lock(&g->mu);
        r->last_eval = start;
        r->eval_seconds = (double)(vg_mono_ns() - mono) / 1e9;
        pthread_mutex_unlock(&g->mu);
    }
    vg_arena_deinit(&arena);
    cleanup_stale(g, env, ts_ns);
    /* Prometheus restores after the second evaluation, so recording rules the alerts depend on have
     * written once, and at the time that evaluation ended (not its instant) */
    if (++g->n_evals >= 2 && g->should_restore) {
        rules__restore(g, env, rules__env_now(env));
        g->should_restore = false;
    }
    double dur = (double)(vg_mono_ns() - g_mono) / 1e9;
    pthread_mutex_lock(&g->mu);
    g->last_eval = g_start;
    g->eval_seconds = dur;
    pthread_mutex_unlock(&g->mu);
    selfmon_gauge_set(g->m_last_duration, dur);
    selfmon_gauge_set(g->m_last_eval, (double)g_start / 1e9);
    selfmon_gauge_set(g->m_samples, (double)samples);
    return failed;
}

/* Prometheus' nameAndLabels: rules match by name and labels (as written), whatever their kind. */
static bool same_rule(const rules_rule_spec_t *a, const rules_rule_spec_t *b) {
    if (strcmp(a->name, b->name) || a->n_labels != b->n_labels) return false;
    for (size_t i = 0; i < a->n_labels; i++)
        if (strcmp(a->labels[i].name, b->labels[i].name) || strcmp(a->labels[i].value, b->labels[i].value)) return false;
    return true;
}

/* Appends src[0..n) to the group's stale list (moved); false on ENOMEM (src left as is). */
static bool stale_add(rules_group_t *g, rules__lset_t *src, size_t n) {
    if (!n) return true;
    rules__lset_t *nv = realloc(g->stale, (g->n_stale + n) * sizeof *nv);
    if (!nv) return false;
    memcpy(nv + g->n_stale, src, n * sizeof *src);
    g->stale = nv;
    g->n_stale += n;
    return true;
}

/* As Prometheus' CopyState: each rule of `to` takes the last series (and, alerting from alerting, the
 * alerts) of the first unused rule of `from` with the same name and labels; the series of rules of
 * `from` left unmatched (removed, or duplicates beyond those of `to`) join `to`'s stale list, which its
 * next evaluation marks stale. */
void rules_group_take_state(rules_group_t *to, rules_group_t *from) {
    pthread_mutex_lock(&from->mu);
    pthread_mutex_lock(&to->mu);
    bool *used = calloc(from->n_rules ? from->n_rules : 1, sizeof *used);
    for (size_t i = 0; used && i < to->n_rules; i++) {
        rules__rule_t *d = &to->rules[i];
        size_t k = 0;
        while (k < from->n_rules && (used[k] || !same_rule(d->spec, from->rules[k].spec))) k++;
        if (k == from->n_rules) continue;
        used[k] = true;
        rules__rule_t *s = &from->rules[k];
        rules__rule_free_state(d);
        d->prev = s->prev, d->n_prev = s->n_prev;
        s->prev = NULL, s->n_prev = 0;
        d->health = s->health;
        memcpy(d->last_error, s->last_error, sizeof d->last_error);
        d->last_eval = s->last_eval;
        d->eval_seconds = s->eval_seconds;
        if (d->spec->alert && s->spec->alert) {
            d->alerts = s->alerts, d->n_alerts = s->n_alerts, d->cap_alerts = s->cap_alerts;
            d->restored = s->restored;
            s->alerts = NULL, s->n_alerts = s->cap_alerts = 0;
        }
    }
    if (stale_add(to, from->stale, from->n_stale)) {
        free(from->stale);
        from->stale = NULL, from->n_stale = 0;
    }
    for (size_t k = 0; used && k < from->n_rules; k++) {
        rules__rule_t *s = &from->rules[k];
        if (used[k] || !stale_add(to, s->prev, s->n_prev)) continue;
        free(s->prev);
        s->prev = NULL, s->n_prev = 0;
    }
    free(used);
    to->last_eval = from->last_eval;
    to->eval_seconds = from->eval_seconds;
    to->should_restore = from->should_restore;
    to->n_evals = from->n_evals;
    if (to->interval_ms == from->interval_ms) to->next_ts = from->next_ts;
    pthread_mutex_unlock(&to->mu);
    pthread_mutex_unlock(&from->mu);
}

size_t rules__group_take_series(rules_group_t *g, rules__lset_t **out) {
    pthread_mutex_lock(&g->mu);
    size_t n = g->n_stale;
    for (size_t i = 0; i < g->n_rules; i++) n += g->rules[i].n_prev;
    rules__lset_t *v = n ? calloc(n, sizeof *v) : NULL;
    size_t k = 0;
    if (v) {
        if (g->n_stale) memcpy(v, g->stale, g->n_stale * sizeof *v);
        k = g->n_stale;
        free(g->stale);
        g->stale = NULL, g->n_stale = 0;
        for (size_t i = 0; i < g->n_rules; i++) {
            rules__rule_t *r = &g->rules[i];
            if (r->n_prev) memcpy(v + k, r->prev, r->n_prev * sizeof *v);
            k += r->n_prev;
            free(r->prev);
            r->prev = NULL, r->n_prev = 0;
        }
    }
    pthread_mutex_unlock(&g->mu);
    *out = v;
    return k;
}

void rules_group_mark_stale(rules_group_t *g, storage_appender_t *app, int64_t ts_ns) {
    double stale = stale_nan();
    vg_error_t err;
    pthread_mutex_lock(&g->mu);
    for (size_t i = 0; i < g->n_rules; i++)
        for (size_t k = 0; k < g->rules[i].n_prev; k++)
            (void)storage_append(app, g->rules[i].prev[k].v, g->rules[i].prev[k].n, ts_ns / RULES__NS_PER_MS, stale, NULL, &err);
    for (size_t k = 0; k < g->n_stale; k++)
        (void)storage_append(app, g->stale[k].v, g->stale[k].n, ts_ns / RULES__NS_PER_MS, stale, NULL, &err);
    pthread_mutex_unlock(&g->mu);
    (void)storage_commit(app, &err);
}

void rules_group_each_alert(rules_group_t *g, size_t rule, void (*fn)(void *ctx, const rules_alert_view_t *a), void *ctx) {
    pthread_mutex_lock(&g->mu);
    if (rule < g->n_rules) {
        const rules__rule_t *r = &g->rules[rule];
        for (size_t i = 0; i < r->n_alerts; i++) {
            const rules__alert_t *a = &r->alerts[i];
            if (a->state == RULES_INACTIVE) continue;
            rules_alert_view_t v = {a->labels.v, a->labels.n, a->annotations.v, a->annotations.n, a->state, a->value,
                                    a->active_at, a->fired_at, a->resolved_at};
            fn(ctx, &v);
        }
    }
    pthread_mutex_unlock(&g->mu);
}

const char *rules_group_rule_health(rules_group_t *g, size_t rule, char *last_error, size_t cap) {
    pthread_mutex_lock(&g->mu);
    const char *h = "unknown";
    if (rule < g->n_rules) {
        h = g->rules[rule].health == RULES__HEALTH_OK ? "ok" : g->rules[rule].health == RULES__HEALTH_ERR ? "err" : "unknown";
        if (cap) snprintf(last_error, cap, "%s", g->rules[rule].last_error);
    }
    pthread_mutex_unlock(&g->mu);
    return h;
}
