/* The rule manager: the groups of the config's rule_files and of tenants, a pool of evaluation threads,
 * reload.
 *
 * Schedule (Prometheus 2.42's Group.run): a group's instants are aligned, ts = EvalTimestamp(now) +
 * interval for the first, then ts + interval; an evaluation that overruns skips the instants it missed
 * (counted in vigil_rule_group_iterations_missed_total) and evaluates the latest one that has passed.
 * Groups run concurrently as Prometheus' one goroutine per group does, on `rules.evaluation_concurrency`
 * threads: a thread takes the due group with the earliest instant that no other thread holds (`busy`),
 * so a group is evaluated by one thread at a time and a slow group delays no other while a thread is
 * free.
 *
 * Reload (Prometheus' Manager.Update): an unchanged group (same tenant, file, name, interval, limit and
 * rules) is kept as it is; a changed group is replaced by one that takes the state of the rules it keeps
 * and stale-marks the series of those it lost at its next evaluation (CopyState); a removed group's
 * series get stale markers timestamped when it stopped, written two of its intervals later (so a rule
 * moved to another group writes first and the markers are rejected as out of order) unless the manager
 * stops first. Only groups loaded at startup restore alerts' `for` state.
 *
 * Locking: mu guards the group list, the scheduling fields and the pending stale batches; reload_mu
 * serialises changes to the list. A change marks the groups it replaces or removes `retiring` (no thread
 * takes them any more) and waits until none is busy before it swaps the list; unchanged groups keep
 * running meanwhile. The API reads a group under its own mutex, with mu held so the group cannot be
 * freed meanwhile. */
#include "rules_int.h"

#include "util/log.h"

#include <errno.h>
#include <glob.h>
#include <unistd.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The series of a removed group, to be marked stale at ts once due (Prometheus: two intervals after the
 * group stopped). */
typedef struct stale_batch {
    char *tenant; /* NULL: the operator's appender */
    rules__lset_t *series;
    size_t n;
    int64_t ts, due; /* ns */
} stale_batch_t;

struct rules_manager {
    rules_manager_opts_t o;
    pthread_mutex_t mu, reload_mu;
    pthread_cond_t cv;
    rules_group_t **groups;
    size_t n_groups;
    bool stop, loaded_once;
    pthread_t *th;
    size_t n_th;
    stale_batch_t *stale;
    size_t n_stale;
    /* from the config */
    int64_t default_interval_ms, resend_ms, tolerance_ms, grace_ms, query_timeout_ms;
    model_label_t *ext;
    size_t n_ext;
    char *external_url; /* server.external_url; NULL when unset */
};

static int64_t now_of(const rules_manager_t *m) { return m->o.clock ? m->o.clock(m->o.clock_ctx) : rules__now_ns(); }

static void env_of(rules_manager_t *m, rules_env_t *env) {
    *env = (rules_env_t){.exec = m->o.exec,
                         .clock = m->o.clock,
                         .clock_ctx = m->o.clock_ctx,
                         .enforce = m->o.enforce,
                         .enforce_ctx = m->o.enforce_ctx,
                         .send = m->o.send,
                         .send_ctx = m->o.send_ctx,
                         .querier = m->o.querier,
                         .querier_ctx = m->o.querier_ctx,
                         .external_labels = m->ext,
                         .n_external_labels = m->n_ext,
                         .external_url = m->external_url ? m->external_url : "",
                         .resend_delay_ms = m->resend_ms,
                         .outage_tolerance_ms = m->tolerance_ms,
                         .grace_period_ms = m->grace_ms,
                         .query_timeout_ms = m->query_timeout_ms};
}

static void eval_group(rules_manager_t *m, rules_group_t *g, int64_t ts) {
    rules_env_t env;
    vg_error_t err;
    /* the external labels and URL are copied: a reload may replace them during the evaluation */
    pthread_mutex_lock(&m->mu);
    env_of(m, &env);
    model_label_t *ext = env.n_external_labels ? model_labels_dup(env.external_labels, env.n_external_labels) : NULL;
    char *url = strdup(env.external_url);
    pthread_mutex_unlock(&m->mu);
    env.external_labels = ext;
    if (!ext) env.n_external_labels = 0;
    env.external_url = url ? url : "";
    vg_arena_t arena;
    vg_arena_init(&arena, 1024);
    /* a tenant group's alerts carry the tenant's label; without it, nothing of the group runs */
    if (g->tenant && m->o.tenant_label &&
        m->o.tenant_label(m->o.tenant_label_ctx, g->tenant, &arena, &env.forced_label, &env.forced_values, &env.n_forced_values,
                          &err)) {
        vg_log_error("rules", "no tenant label for the group; skipping its evaluation", VG_LS("group", g->spec.name),
                     VG_LS("err", err.msg));
        vg_arena_deinit(&arena);
        free(ext);
        free(url);
        return;
    }
    storage_appender_t *app = NULL;
    if (!m->o.appender || m->o.appender(m->o.appender_ctx, g->tenant, &app, &err)) {
        vg_log_error("rules", "no appender for the group; skipping its evaluation", VG_LS("group", g->spec.name),
                     VG_LS("err", m->o.appender ? err.msg : "none configured"));
        free(ext);
        free(url);
        vg_arena_deinit(&arena);
        return;
    }
    env.app = app;
    rules_group_eval(g, &env, ts);
    storage_appender_free(app);
    free(ext);
    free(url);
    vg_arena_deinit(&arena);
}

static int64_t first_ts(rules_group_t *g, int64_t now) {
    return rules_group_eval_timestamp(g, now) + g->interval_ms * RULES__NS_PER_MS;
}

static void stale_batch_free(stale_batch_t *b) {
    for (size_t i = 0; i < b->n; i++) rules__lset_free(&b->series[i]);
    free(b->series);
    free(b->tenant);
    *b = (stale_batch_t){0};
}

static void write_batch(rules_manager_t *m, stale_batch_t *b) {
    storage_appender_t *app;
    vg_error_t err;
    if (!m->o.appender || m->o.appender(m->o.appender_ctx, b->tenant, &app, &err)) return;
    double stale;
    uint64_t bits = PROMQL_STALE_NAN_BITS;
    memcpy(&stale, &bits, sizeof stale);
    for (size_t i = 0; i < b->n; i++) /* rejections are expected when another rule writes the series now */
        (void)storage_append(app, b->series[i].v, b->series[i].n, b->ts / RULES__NS_PER_MS, stale, NULL, &err);
    if (storage_commit(app, &err) < 0)
        vg_log_warn("rules", "stale sample appending for a removed group failed", VG_LS("err", err.msg));
    storage_appender_free(app);
}

/* Writes one stale batch due at now, if any (mu held; released while writing). Returns whether it did. */
static bool write_due_stale(rules_manager_t *m, int64_t now) {
    for (size_t i = 0; i < m->n_stale; i++) {
        if (m->stale[i].due > now) continue;
        stale_batch_t b = m->stale[i];
        m->stale[i] = m->stale[--m->n_stale];
        pthread_mutex_unlock(&m->mu);
        write_batch(m, &b);
        stale_batch_free(&b);
        pthread_mutex_lock(&m->mu);
        return true;
    }
    return false;
}

/* The next instant after an evaluation of g at ts that ended at `after`: ts + interval, or the latest
 * instant that has passed when the evaluation overran (the ones between are missed). mu held. */
static void reschedule(rules_group_t *g, int64_t ts, int64_t after) {
    int64_t iv = g->interval_ms * RULES__NS_PER_MS, nt = ts + iv, missed = 0;
    while (nt + iv <= after) nt += iv, missed++;
    if (missed) selfmon_counter_add(g->m_missed, (double)missed);
    g->next_ts = nt;
}

/* One evaluation thread of the pool. */
static void *run(void *arg) {
    rules_manager_t *m = arg;
    pthread_mutex_lock(&m->mu);
    while (!m->stop) {
        int64_t now = rules__now_ns();
        if (write_due_stale(m, now)) continue;
        rules_group_t *next = NULL;
        for (size_t i = 0; i < m->n_groups; i++) {
            rules_group_t *g = m->groups[i];
            if (g->busy || g->retiring) continue;
            if (!g->next_ts) g->next_ts = first_ts(g, now);
            if (!next || g->next_ts < next->next_ts) next = g;
        }
        int64_t wake = next ? next->next_ts : INT64_MAX;
        for (size_t i = 0; i < m->n_stale; i++)
            if (m->stale[i].due < wake) wake = m->stale[i].due;
        if (wake == INT64_MAX) {
            pthread_cond_wait(&m->cv, &m->mu);
            continue;
        }
        if (wake > now) {
            struct timespec dl = {.tv_sec = (time_t)(wake / 1000000000LL), .tv_nsec = (long)(wake % 1000000000LL)};
            pthread_cond_timedwait(&m->cv, &m->mu, &dl); /* CLOCK_REALTIME, as the instants */
            continue;
        }
        rules_group_t *g = next;
        int64_t ts = g->next_ts;
        g->busy = true;
        pthread_mutex_unlock(&m->mu);
        eval_group(m, g, ts);
        pthread_mutex_lock(&m->mu);
        g->busy = false;
        reschedule(g, ts, rules__now_ns());
        pthread_cond_broadcast(&m->cv); /* a reload may wait for it; another thread may want its instant */
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

/* A rule_files pattern as a path: relative ones are under the config file's directory. */
static void resolve(const config_t *cfg, const char *pattern, char *out, size_t cap) {
    if (pattern[0] == '/' || !cfg->file || !*cfg->file) {
        snprintf(out, cap, "%s", pattern);
        return;
    }
    char *copy = strdup(cfg->file);
    const char *dir = copy ? dirname(copy) : ".";
    if (!strcmp(dir, ".")) snprintf(out, cap, "%s", pattern);
    else snprintf(out, cap, "%s/%s", dir, pattern);
    free(copy);
}

typedef struct {
    rules_group_spec_t *v;
    size_t n;
} specs_t;

static void specs_free(specs_t *s) {
    for (size_t i = 0; i < s->n; i++) rules_group_spec_deinit(&s->v[i]);
    free(s->v);
    *s = (specs_t){0};
}

/* Every group of every file the config's rule_files match, or the first file's errors. */
static int load_specs(const config_t *cfg, specs_t *out, vg_error_t *err) {
    *out = (specs_t){0};
    for (size_t i = 0; i < cfg->rule_files.n; i++) {
        char path[4096];
        resolve(cfg, cfg->rule_files.v[i], path, sizeof path);
        glob_t gl;
        int grc = glob(path, 0, NULL, &gl);
        if (grc == GLOB_NOMATCH) continue; /* as Prometheus: a pattern matching nothing is no error */
        if (grc) {
            specs_free(out);
            return vg_error_set(err, VG_EIO, "rule_files: %s: cannot expand the pattern", path);
        }
        for (size_t k = 0; k < gl.gl_pathc; k++) {
            rules_file_t *f;
            rules_errors_t errs;
            int rc = rules_file_load(gl.gl_pathv[k], &f, &errs);
            if (rc) {
                if (errs.n && errs.v[0].line)
                    vg_error_set(err, rc == VG_ENOMEM ? VG_ENOMEM : VG_ECONFIG, "%s:%d:%d: %s", gl.gl_pathv[k], errs.v[0].line,
                                 errs.v[0].col, errs.v[0].msg);
                else
                    vg_error_set(err, rc == VG_ENOMEM ? VG_ENOMEM : VG_ECONFIG, "%s: %s", gl.gl_pathv[k],
                                 errs.n ? errs.v[0].msg : "out of memory");
                rules_errors_free(&errs);
                globfree(&gl);
                specs_free(out);
                return err->code;
            }
            rules_group_spec_t *nv = realloc(out->v, (out->n + f->n_groups + 1) * sizeof *nv);
            if (!nv) {
                rules_file_free(f);
                globfree(&gl);
                specs_free(out);
                return vg_error_set(err, VG_ENOMEM, "out of memory");
            }
            out->v = nv;
            if (f->n_groups) memcpy(out->v + out->n, f->groups, f->n_groups * sizeof *f->groups); /* moved, not copied */
            out->n += f->n_groups;
            free(f->groups);
            free(f);
        }
        globfree(&gl);
    }
    return 0;
}

static void set_config(rules_manager_t *m, const config_t *cfg) {
    m->default_interval_ms = cfg->global.evaluation_interval_ms;
    m->resend_ms = cfg->rules.alert_resend_delay_ms;
    m->tolerance_ms = cfg->rules.alert_for_outage_tolerance_ms;
    m->grace_ms = cfg->rules.alert_for_grace_period_ms;
    m->query_timeout_ms = cfg->query.timeout_ms;
    free(m->ext);
    m->ext = NULL;
    m->n_ext = 0;
    free(m->external_url);
    m->external_url = cfg->server.external_url ? strdup(cfg->server.external_url) : NULL;
    const config_kv_t *kv = &cfg->global.external_labels;
    model_label_t *tmp = kv->n ? calloc(kv->n, sizeof *tmp) : NULL;
    for (size_t i = 0; tmp && i < kv->n; i++) tmp[i] = (model_label_t){kv->keys[i], kv->values[i]};
    if (tmp) {
        model_labels_sort(tmp, kv->n);
        m->ext = model_labels_dup(tmp, kv->n);
        if (m->ext) m->n_ext = kv->n;
    }
    free(tmp);
}

/* Whether a belongs to the owner (tenant, api): a group of the API is never one of rule_files. */
static bool same_owner(const rules_group_t *a, const char *tenant, bool api) {
    return a->api == api && (a->tenant == NULL) == (tenant == NULL) && (!tenant || !strcmp(a->tenant, tenant));
}

static bool same_key(const rules_group_t *a, const char *tenant, bool api, const char *file, const char *name) {
    if (!same_owner(a, tenant, api)) return false;
    return !strcmp(a->spec.file, file) && !strcmp(a->spec.name, name);
}

/* Waits until no retiring group is being evaluated (mu held). */
static void wait_retired(rules_manager_t *m) {
    for (;;) {
        bool busy = false;
        for (size_t i = 0; i < m->n_groups; i++) busy |= m->groups[i]->retiring && m->groups[i]->busy;
        if (!busy) return;
        pthread_cond_wait(&m->cv, &m->mu);
    }
}

/* Queues the stale markers of a group that goes away (mu held): its series, timestamped now, written
 * two intervals later. The group's series move into the batch. */
static void queue_stale(rules_manager_t *m, rules_group_t *g, int64_t now) {
    rules__lset_t *v;
    size_t n = rules__group_take_series(g, &v);
    if (!n) return;
    stale_batch_t b = {.series = v, .n = n, .ts = now, .due = now + 2 * g->interval_ms * RULES__NS_PER_MS};
    stale_batch_t *nv = realloc(m->stale, (m->n_stale + 1) * sizeof *nv);
    if (!nv || (g->tenant && !(b.tenant = strdup(g->tenant)))) {
        if (nv) m->stale = nv;
        stale_batch_free(&b);
        return;
    }
    m->stale = nv;
    m->stale[m->n_stale++] = b;
    pthread_cond_broadcast(&m->cv);
}

/* The group of specs (index) an existing group g of the owner keeps running as, or -1. */
static long listed_as(const rules_group_t *g, const char *tenant, bool api, const rules_group_spec_t *specs, size_t n) {
    for (size_t k = 0; k < n; k++)
        if (same_key(g, tenant, api, specs[k].file, specs[k].name)) return (long)k;
    return -1;
}

/* Replaces the groups of owner (tenant, api) — (NULL, false): the operator's rule_files — by specs,
 * keeping state. restore < 0: only for the operator's groups on the first load. */
static int replace_groups(rules_manager_t *m, const char *tenant, bool api, const rules_group_spec_t *specs, size_t n,
                          bool only_listed, int restore_opt, vg_error_t *err) {
    pthread_mutex_lock(&m->reload_mu);
    pthread_mutex_lock(&m->mu);
    bool restore = restore_opt < 0 ? !m->loaded_once && !tenant && !api : restore_opt > 0;
    int64_t interval = m->default_interval_ms;
    pthread_mutex_unlock(&m->mu);
    rules_group_t **fresh = calloc(n ? n : 1, sizeof *fresh);
    if (!fresh) {
        pthread_mutex_unlock(&m->reload_mu);
        return vg_error_set(err, VG_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        int rc = rules_group_new(&specs[i], interval, tenant, restore, &fresh[i], err);
        if (rc) {
            for (size_t k = 0; k < i; k++) rules_group_free(fresh[k]);
            free(fresh);
            pthread_mutex_unlock(&m->reload_mu);
            return rc;
        }
        fresh[i]->api = api;
    }
    pthread_mutex_lock(&m->mu);
    size_t cap = m->n_groups + n;
    rules_group_t **list = calloc(cap ? cap : 1, sizeof *list), **gone = calloc(cap ? cap : 1, sizeof *gone);
    if (!list || !gone) {
        pthread_mutex_unlock(&m->mu);
        pthread_mutex_unlock(&m->reload_mu);
        free(list);
        free(gone);
        for (size_t k = 0; k < n; k++) rules_group_free(fresh[k]);
        free(fresh);
        return vg_error_set(err, VG_ENOMEM, "out of memory");
    }
    /* groups of other owners stay, as do unchanged ones (the same object, its state and schedule
     * intact); of this owner, the changed ones and those not in specs (unless only_listed) retire */
    size_t nl = 0, ng = 0;
    for (size_t i = 0; i < m->n_groups; i++) {
        rules_group_t *g = m->groups[i];
        long k = same_owner(g, tenant, api) ? listed_as(g, tenant, api, specs, n) : -2;
        if (k == -2 || (k == -1 && only_listed)) list[nl++] = g;
        else if (k >= 0 && rules_group_spec_equal(&g->spec, &fresh[k]->spec) && g->interval_ms == fresh[k]->interval_ms) {
            list[nl++] = g;
            rules_group_free(fresh[k]);
            fresh[k] = NULL;
        } else {
            g->retiring = true;
            gone[ng++] = g;
        }
    }
    wait_retired(m);
    int64_t now = now_of(m);
    for (size_t i = 0; i < ng; i++) {
        long k = listed_as(gone[i], tenant, api, specs, n);
        if (k >= 0 && fresh[k]) rules_group_take_state(fresh[k], gone[i]); /* changed */
        else queue_stale(m, gone[i], now);                                  /* removed */
    }
    for (size_t k = 0; k < n; k++)
        if (fresh[k]) list[nl++] = fresh[k];
    free(fresh);
    free(m->groups);
    m->groups = list;
    m->n_groups = nl;
    if (!tenant && !api) m->loaded_once = true;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
    pthread_mutex_unlock(&m->reload_mu);
    for (size_t i = 0; i < ng; i++) rules_group_free(gone[i]);
    free(gone);
    return 0;
}

/* Appends the groups the builtin hook makes from cfg (moved into specs). */
static int add_builtin(rules_manager_t *m, const config_t *cfg, specs_t *specs, vg_error_t *err) {
    rules_file_t *f = NULL;
    int rc = m->o.builtin ? m->o.builtin(m->o.builtin_ctx, cfg, &f, err) : 0;
    if (rc || !f) return rc;
    rules_group_spec_t *nv = realloc(specs->v, (specs->n + f->n_groups + 1) * sizeof *nv);
    if (!nv) {
        rules_file_free(f);
        return vg_error_set(err, VG_ENOMEM, "out of memory");
    }
    specs->v = nv;
    memcpy(specs->v + specs->n, f->groups, f->n_groups * sizeof *f->groups); /* moved, not copied */
    specs->n += f->n_groups;
    free(f->groups);
    free(f);
    return 0;
}

int rules_manager_apply(rules_manager_t *m, const config_t *cfg, vg_error_t *err) {
    specs_t specs;
    int rc = load_specs(cfg, &specs, err);
    if (rc) return rc;
    if ((rc = add_builtin(m, cfg, &specs, err))) {
        specs_free(&specs);
        return rc;
    }
    pthread_mutex_lock(&m->mu);
    set_config(m, cfg);
    pthread_mutex_unlock(&m->mu);
    rc = replace_groups(m, NULL, false, specs.v, specs.n, false, -1, err);
    specs_free(&specs);
    if (!rc) vg_log_info("rules", "rule groups loaded", VG_LI("groups", (int64_t)rules_manager_n_groups(m)));
    return rc;
}

int rules_manager_new(const rules_manager_opts_t *opts, const config_t *cfg, rules_manager_t **out, vg_error_t *err) {
    *out = NULL;
    rules_manager_t *m = calloc(1, sizeof *m);
    if (!m) return vg_error_set(err, VG_ENOMEM, "out of memory");
    m->o = *opts;
    pthread_mutex_init(&m->mu, NULL);
    pthread_mutex_init(&m->reload_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_REALTIME);
    pthread_cond_init(&m->cv, &ca);
    pthread_condattr_destroy(&ca);
    set_config(m, cfg);
    int rc = rules_manager_apply(m, cfg, err);
    m->loaded_once = true;
    size_t want = cfg->rules.evaluation_concurrency > 0 ? (size_t)cfg->rules.evaluation_concurrency : 0;
    if (!want) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        want = cpus > 0 ? (size_t)cpus : 1;
    }
    if (!opts->no_thread) {
        m->th = calloc(want, sizeof *m->th);
        for (size_t i = 0; m->th && i < want && pthread_create(&m->th[i], NULL, run, m) == 0; i++) m->n_th++;
        if (!m->n_th) {
            rules_manager_free(m);
            return vg_error_set(err, VG_ENOMEM, "cannot start the rule evaluation threads");
        }
        if (m->n_th < want)
            vg_log_warn("rules", "fewer rule evaluation threads than configured", VG_LI("threads", (int64_t)m->n_th),
                        VG_LI("configured", (int64_t)want));
    }
    *out = m;
    return rc;
}

int rules_manager_set_group(rules_manager_t *m, const char *tenant, const rules_group_spec_t *spec, bool restore,
                            vg_error_t *err) {
    if (tenant && !*tenant) return vg_error_set(err, VG_EINVAL, "a tenant group needs a tenant");
    return replace_groups(m, tenant, true, spec, 1, true, restore ? 1 : 0, err);
}

int rules_manager_set_tenant_group(rules_manager_t *m, const char *tenant, const rules_group_spec_t *spec, vg_error_t *err) {
    if (!tenant || !*tenant) return vg_error_set(err, VG_EINVAL, "a tenant group needs a tenant");
    return rules_manager_set_group(m, tenant, spec, false, err);
}

int rules_manager_delete_tenant_group(rules_manager_t *m, const char *tenant, const char *file, const char *name) {
    return tenant ? rules_manager_delete_group(m, tenant, file, name) : VG_ENOTFOUND;
}

int rules_manager_delete_group(rules_manager_t *m, const char *tenant, const char *file, const char *name) {
    pthread_mutex_lock(&m->reload_mu);
    pthread_mutex_lock(&m->mu);
    rules_group_t *g = NULL;
    size_t at = 0;
    for (size_t i = 0; i < m->n_groups && !g; i++)
        if (same_key(m->groups[i], tenant, true, file, name)) g = m->groups[i], at = i;
    if (g) {
        g->retiring = true;
        wait_retired(m);
        m->groups[at] = m->groups[--m->n_groups];
        queue_stale(m, g, now_of(m));
    }
    pthread_mutex_unlock(&m->mu);
    pthread_mutex_unlock(&m->reload_mu);
    if (!g) return VG_ENOTFOUND;
    rules_group_free(g);
    return 0;
}

void rules_manager_free(rules_manager_t *m) {
    if (!m) return;
    pthread_mutex_lock(&m->mu);
    m->stop = true;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
    for (size_t i = 0; i < m->n_th; i++) pthread_join(m->th[i], NULL);
    free(m->th);
    for (size_t i = 0; i < m->n_groups; i++) rules_group_free(m->groups[i]);
    free(m->groups);
    for (size_t i = 0; i < m->n_stale; i++) stale_batch_free(&m->stale[i]); /* as Prometheus: not written at shutdown */
    free(m->stale);
    free(m->ext);
    free(m->external_url);
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->reload_mu);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

int rules_manager_eval_due(rules_manager_t *m, int64_t now_ns) {
    int ran = 0;
    pthread_mutex_lock(&m->mu);
    while (write_due_stale(m, now_ns)) {
    }
    for (size_t i = 0; i < m->n_groups; i++) {
        rules_group_t *g = m->groups[i];
        if (g->busy || g->retiring) continue;
        if (!g->next_ts) g->next_ts = rules_group_eval_timestamp(g, now_ns);
        if (g->next_ts > now_ns) continue;
        int64_t ts = g->next_ts;
        g->busy = true;
        pthread_mutex_unlock(&m->mu);
        eval_group(m, g, ts);
        pthread_mutex_lock(&m->mu);
        g->busy = false;
        g->next_ts = ts + g->interval_ms * RULES__NS_PER_MS;
        ran++;
    }
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
    return ran;
}

size_t rules_manager_n_groups(rules_manager_t *m) {
    pthread_mutex_lock(&m->mu);
    size_t n = m->n_groups;
    pthread_mutex_unlock(&m->mu);
    return n;
}

static int cmp_group(const void *a, const void *b) {
    const rules_group_t *x = *(rules_group_t *const *)a, *y = *(rules_group_t *const *)b;
    int c = strcmp(x->spec.file, y->spec.file);
    return c ? c : strcmp(x->spec.name, y->spec.name);
}

/* The visible groups in Prometheus' order (by file, then name), with mu held by the caller. */
static rules_group_t **visible(rules_manager_t *m, const rules_filter_t *f, bool alerts, size_t *n_out) {
    rules_group_t **v = calloc(m->n_groups ? m->n_groups : 1, sizeof *v);
    size_t n = 0;
    for (size_t i = 0; v && i < m->n_groups; i++)
        if ((alerts && f && f->label_name) || rules__group_visible(m->groups[i], f)) v[n++] = m->groups[i];
    if (v) qsort(v, n, sizeof *v, cmp_group);
    *n_out = n;
    return v;
}

void rules_manager_write_rules_json(rules_manager_t *m, const rules_filter_t *f, vg_json_t *j) {
    pthread_mutex_lock(&m->mu);
    size_t n;
    rules_group_t **v = visible(m, f, false, &n);
    vg_json_obj_open(j);
    vg_json_key(j, "groups");
    vg_json_arr_open(j);
    for (size_t i = 0; v && i < n; i++) rules__group_write_json(v[i], f, j);
    vg_json_arr_close(j);
    vg_json_obj_close(j);
    pthread_mutex_unlock(&m->mu);
    free(v);
}

void rules_manager_write_alerts_json(rules_manager_t *m, const rules_filter_t *f, vg_json_t *j) {
    pthread_mutex_lock(&m->mu);
    size_t n;
    rules_group_t **v = visible(m, f, true, &n);
    vg_json_obj_open(j);
    vg_json_key(j, "alerts");
    vg_json_arr_open(j);
    for (size_t i = 0; v && i < n; i++) rules__group_write_alerts(v[i], f, j);
    vg_json_arr_close(j);
    vg_json_obj_close(j);
    pthread_mutex_unlock(&m->mu);
    free(v);
}
