/* The discovery manager: which providers run (one per SD config of each job, kept across reloads while
 * their settings are unchanged), what they last published, and the group lists they publish.
 *
 * Invariants: `mu` guards the provider list and each provider's published groups and generation; a
 * published groups list is never modified again (readers hold references); a provider is joined before
 * it is freed, and its config reference is dropped only then. */
#include "discovery_int.h"

#include "util/log.h"
#include "util/timeutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

struct ingest_sd {
    pthread_mutex_t mu;
    ingest__sd_provider_t *providers;
    uint64_t next_gen;
    ingest_sd_notify_fn notify;
    void *notify_ctx;
    selfmon_family_t *f_failures;
};

/* ---- group lists ---- */

ingest_sd_groups_t *ingest_sd_groups_new(void) {
    ingest_sd_groups_t *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    atomic_init(&g->refs, 1);
    vg_arena_init(&g->arena, 16384);
    return g;
}

void ingest_sd_groups_ref(ingest_sd_groups_t *g) { atomic_fetch_add(&g->refs, 1); }

void ingest_sd_groups_unref(ingest_sd_groups_t *g) {
    if (!g || atomic_fetch_sub(&g->refs, 1) != 1) return;
    vg_arena_deinit(&g->arena);
    free(g);
}

/* Grows an arena array of elem-sized items to hold one more. */
static void *grow(ingest_sd_groups_t *g, void *v, size_t n, size_t *cap, size_t elem) {
    if (n < *cap) return v;
    size_t nc = *cap ? *cap * 2 : 8;
    void *nv = vg_arena_alloc(&g->arena, nc * elem);
    if (!nv) {
        g->oom = true;
        return NULL;
    }
    if (n) memcpy(nv, v, n * elem);
    *cap = nc;
    return nv;
}

ingest_sd_group_t *ingest_sd_group_add(ingest_sd_groups_t *g, const char *source) {
    ingest_sd_group_t *v = grow(g, g->v, g->n, &g->cap, sizeof *v);
    if (!v) return NULL;
    g->v = v;
    ingest_sd_group_t *grp = &v[g->n++];
    memset(grp, 0, sizeof *grp);
    grp->source = vg_arena_strndup(&g->arena, source, strlen(source));
    if (!grp->source) g->oom = true;
    return grp;
}

const char *ingest_sd_label_get(const ingest_sd_labels_t *l, const char *name) {
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->keys[i], name)) return l->values[i];
    return NULL;
}

void ingest_sd_label_set(ingest_sd_groups_t *g, ingest_sd_labels_t *l, const char *name, const char *value) {
    char *v = vg_arena_strndup(&g->arena, value, strlen(value));
    if (!v) {
        g->oom = true;
        return;
    }
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->keys[i], name)) {
            l->values[i] = v;
            return;
        }
    size_t cap = l->cap;
    char **k = grow(g, l->keys, l->n, &cap, sizeof *k);
    size_t cap2 = l->cap;
    char **vs = k ? grow(g, l->values, l->n, &cap2, sizeof *vs) : NULL;
    char *kn = vs ? vg_arena_strndup(&g->arena, name, strlen(name)) : NULL;
    if (!kn) {
        g->oom = true;
        return;
    }
    l->keys = k, l->values = vs, l->cap = cap;
    l->keys[l->n] = kn;
    l->values[l->n++] = v;
}

ingest_sd_labels_t *ingest_sd_target_add(ingest_sd_groups_t *g, ingest_sd_group_t *grp) {
    if (g->n_targets_total >= INGEST_SD_MAX_TARGETS) return NULL;
    ingest_sd_labels_t *v = grow(g, grp->targets, grp->n_targets, &grp->cap_targets, sizeof *v);
    if (!v) return NULL;
    grp->targets = v;
    g->n_targets_total++;
    ingest_sd_labels_t *t = &v[grp->n_targets++];
    memset(t, 0, sizeof *t);
    return t;
}

/* ---- providers ---- */

static void fp_str(XXH64_state_t *h, const char *s) { XXH64_update(h, s ? s : "\x01", s ? strlen(s) + 1 : 1); }
static void fp_i64(XXH64_state_t *h, int64_t v) { XXH64_update(h, &v, sizeof v); }

static void fp_http(XXH64_state_t *h, const config_http_client_t *c) {
    fp_str(h, c->basic_auth.username), fp_str(h, c->basic_auth.password), fp_str(h, c->basic_auth.password_file);
    fp_str(h, c->authorization.type), fp_str(h, c->authorization.credentials), fp_str(h, c->authorization.credentials_file);
    fp_str(h, c->bearer_token), fp_str(h, c->bearer_token_file);
    fp_str(h, c->tls_config.ca_file), fp_str(h, c->tls_config.cert_file), fp_str(h, c->tls_config.key_file);
    fp_i64(h, c->tls_config.insecure_skip_verify), fp_i64(h, c->follow_redirects);
}

static uint64_t fingerprint(int kind, const void *conf) {
    XXH64_state_t *h = XXH64_createState();
    if (!h) return 0;
    XXH64_reset(h, (uint64_t)kind);
    if (kind == INGEST__SD_HTTP) {
        const config_http_sd_t *c = conf;
        fp_str(h, c->url), fp_i64(h, c->refresh_interval_ms), fp_http(h, &c->http);
    } else if (kind == INGEST__SD_DNS) {
        const config_dns_sd_t *c = conf;
        for (size_t i = 0; i < c->names.n; i++) fp_str(h, c->names.v[i]);
        fp_i64(h, c->qtype), fp_i64(h, c->port), fp_i64(h, c->refresh_interval_ms);
    } else {
        const config_k8s_sd_t *c = conf;
        fp_str(h, c->api_server), fp_i64(h, c->role), fp_http(h, &c->http), fp_i64(h, c->namespaces.own_namespace);
        for (size_t i = 0; i < c->namespaces.names.n; i++) fp_str(h, c->namespaces.names.v[i]);
        for (size_t i = 0; i < c->selectors.n; i++)
            fp_i64(h, c->selectors.v[i].role), fp_str(h, c->selectors.v[i].label), fp_str(h, c->selectors.v[i].field);
    }
    uint64_t v = XXH64_digest(h);
    XXH64_freeState(h);
    return v;
}

static const char *const kind_keys[] = {"http_sd_configs", "dns_sd_configs", "kubernetes_sd_configs"};
static const char *const mechanisms[] = {"http", "dns", "kubernetes"};

static ingest__sd_provider_t *provider_new(ingest_sd_t *d, config_t *cfg, const char *job, int kind, size_t idx,
                                           const void *conf) {
    ingest__sd_provider_t *p = calloc(1, sizeof *p);
    if (!p || !(p->job = strdup(job)) || !(p->multi = curl_multi_init())) {
        if (p) free(p->job);
        free(p);
        return NULL;
    }
    p->sd = d;
    p->kind = kind;
    p->idx = idx;
    p->conf = conf;
    p->cfg = config_ref(cfg);
    p->fingerprint = fingerprint(kind, conf);
    snprintf(p->name, sizeof p->name, "%s[%zu]", kind_keys[kind], idx);
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (d->f_failures) p->m_failures = selfmon_with(d->f_failures, (const char *const[]){mechanisms[kind], job, p->name});
    return p;
}

static void provider_stop(ingest__sd_provider_t *p) {
    if (p->started) {
        pthread_mutex_lock(&p->mu);
        atomic_store(&p->stop, true);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        curl_multi_wakeup(p->multi);
        pthread_join(p->thread, NULL);
    }
    curl_multi_cleanup(p->multi);
    ingest_sd_groups_unref(p->groups);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    config_unref(p->cfg);
    free(p->job);
    free(p);
}

bool ingest__sd_sleep(ingest__sd_provider_t *p, int64_t ms) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) ts.tv_sec++, ts.tv_nsec -= 1000000000;
    pthread_mutex_lock(&p->mu);
    while (!atomic_load(&p->stop))
        if (pthread_cond_timedwait(&p->cv, &p->mu, &ts) == ETIMEDOUT) break;
    pthread_mutex_unlock(&p->mu);
    return atomic_load(&p->stop);
}

void ingest__sd_fail(ingest__sd_provider_t *p) { selfmon_counter_inc(p->m_failures); }

static void hash_labels(XXH64_state_t *h, const ingest_sd_labels_t *l) {
    fp_i64(h, (int64_t)l->n);
    for (size_t i = 0; i < l->n; i++) fp_str(h, l->keys[i]), fp_str(h, l->values[i]);
}

/* A hash of everything a groups list says, so an unchanged refresh is not published again. */
static uint64_t groups_hash(const ingest_sd_groups_t *g) {
    XXH64_state_t *h = XXH64_createState();
    if (!h) return 0;
    XXH64_reset(h, 0);
    for (size_t i = 0; i < g->n; i++) {
        fp_str(h, g->v[i].source);
        hash_labels(h, &g->v[i].labels);
        fp_i64(h, (int64_t)g->v[i].n_targets);
        for (size_t t = 0; t < g->v[i].n_targets; t++) hash_labels(h, &g->v[i].targets[t]);
    }
    uint64_t v = XXH64_digest(h);
    XXH64_freeState(h);
    return v;
}

void ingest__sd_publish(ingest__sd_provider_t *p, ingest_sd_groups_t *g) {
    ingest_sd_t *d = p->sd;
    uint64_t hash = groups_hash(g);
    if (p->reported && hash == p->published_hash) { /* the provider's thread alone writes these two */
        ingest_sd_groups_unref(g);
        return;
    }
    p->published_hash = hash;
    pthread_mutex_lock(&d->mu);
    ingest_sd_groups_t *old = p->groups;
    p->groups = g;
    p->reported = true;
    p->gen = ++d->next_gen;
    pthread_mutex_unlock(&d->mu);
    ingest_sd_groups_unref(old);
    if (d->notify) d->notify(d->notify_ctx);
}

int ingest_sd_new(ingest_sd_notify_fn notify, void *ctx, ingest_sd_t **out, vg_error_t *err) {
    *out = NULL;
    ingest_sd_t *d = calloc(1, sizeof *d);
    if (!d) return vg_error_set(err, VG_ENOMEM, "out of memory");
    pthread_mutex_init(&d->mu, NULL);
    d->notify = notify;
    d->notify_ctx = ctx;
    static const char *const names[] = {"mechanism", "job", "config"};
    d->f_failures = selfmon_counter(selfmon_default(), "vigil_sd_failures_total",
                                    "Failed service discovery refreshes and requests (HTTP SD, DNS lookups, Kubernetes list/watch).",
                                    3, names);
    *out = d;
    return 0;
}

bool ingest_sd_configured(const config_scrape_t *sc) {
    return sc->http_sd_configs.n || sc->dns_sd_configs.n || sc->kubernetes_sd_configs.n;
}

void ingest_sd_apply(ingest_sd_t *d, config_t *cfg) {
    ingest__sd_provider_t *fresh = NULL, *started = NULL;
    pthread_mutex_lock(&d->mu);
    for (size_t i = 0; i < cfg->scrape_configs.n; i++) {
        const config_scrape_t *sc = &cfg->scrape_configs.v[i];
        for (int kind = 0; kind < 3; kind++) {
            size_t n = kind == INGEST__SD_HTTP ? sc->http_sd_configs.n
                       : kind == INGEST__SD_DNS ? sc->dns_sd_configs.n
                                                : sc->kubernetes_sd_configs.n;
            for (size_t k = 0; k < n; k++) {
                const void *conf = kind == INGEST__SD_HTTP  ? (const void *)&sc->http_sd_configs.v[k]
                                   : kind == INGEST__SD_DNS ? (const void *)&sc->dns_sd_configs.v[k]
                                                            : (const void *)&sc->kubernetes_sd_configs.v[k];
                uint64_t fp = fingerprint(kind, conf);
                ingest__sd_provider_t **pp = &d->providers, *p = NULL;
                for (; *pp; pp = &(*pp)->next)
                    if ((*pp)->kind == kind && (*pp)->idx == k && (*pp)->fingerprint == fp && !strcmp((*pp)->job, sc->job_name)) {
                        p = *pp;
                        *pp = p->next;
                        break;
                    }
                if (!p) {
                    p = provider_new(d, cfg, sc->job_name, kind, k, conf);
                    if (!p) {
                        vg_log_error("discovery", "out of memory starting a provider", VG_LS("job", sc->job_name));
                        continue;
                    }
                    p->next = started;
                    started = p;
                    continue;
                }
                p->next = fresh;
                fresh = p;
            }
        }
    }
    ingest__sd_provider_t *gone = d->providers;
    d->providers = fresh;
    for (ingest__sd_provider_t *p = started, *n; p; p = n) {
        n = p->next;
        void *(*run)(void *) = p->kind == INGEST__SD_HTTP ? ingest__http_sd_run
                               : p->kind == INGEST__SD_DNS ? ingest__dns_sd_run
                                                           : ingest__k8s_run;
        p->gen = ++d->next_gen;
        if (pthread_create(&p->thread, NULL, run, p)) {
            vg_log_error("discovery", "cannot start a provider thread", VG_LS("job", p->job), VG_LS("config", p->name));
        } else {
            p->started = true;
        }
        p->next = d->providers;
        d->providers = p;
    }
    pthread_mutex_unlock(&d->mu);
    for (ingest__sd_provider_t *p = gone, *n; p; p = n) { /* outside the lock: they may be publishing */
        n = p->next;
        provider_stop(p);
    }
}

void ingest_sd_free(ingest_sd_t *d) {
    if (!d) return;
    pthread_mutex_lock(&d->mu);
    ingest__sd_provider_t *all = d->providers;
    d->providers = NULL;
    pthread_mutex_unlock(&d->mu);
    for (ingest__sd_provider_t *p = all, *n; p; p = n) {
        n = p->next;
        provider_stop(p);
    }
    pthread_mutex_destroy(&d->mu);
    free(d);
}

uint64_t ingest_sd_generation(ingest_sd_t *d, const char *job) {
    uint64_t gen = 0;
    pthread_mutex_lock(&d->mu);
    for (ingest__sd_provider_t *p = d->providers; p; p = p->next)
        if (!strcmp(p->job, job) && p->gen > gen) gen = p->gen;
    pthread_mutex_unlock(&d->mu);
    return gen;
}

uint64_t ingest_sd_view(ingest_sd_t *d, const char *job, ingest_sd_view_t *out) {
    memset(out, 0, sizeof *out);
    uint64_t gen = 0;
    pthread_mutex_lock(&d->mu);
    size_t n = 0;
    for (ingest__sd_provider_t *p = d->providers; p; p = p->next)
        if (!strcmp(p->job, job)) n++;
    out->sets = n ? calloc(n, sizeof *out->sets) : NULL;
    for (ingest__sd_provider_t *p = d->providers; p; p = p->next) {
        if (strcmp(p->job, job)) continue;
        if (p->gen > gen) gen = p->gen;
        if (p->groups && out->sets) {
            ingest_sd_groups_ref(p->groups);
            out->sets[out->n++] = p->groups;
        }
    }
    pthread_mutex_unlock(&d->mu);
    return gen;
}

void ingest_sd_view_release(ingest_sd_view_t *v) {
    for (size_t i = 0; i < v->n; i++) ingest_sd_groups_unref(v->sets[i]);
    free(v->sets);
    memset(v, 0, sizeof *v);
}
