/* The scrape manager (see scrape.h for the semantics it implements): the scrape thread's loop, the
 * schedule, reloads and file SD refreshes, and the end of each scrape (one appender transaction with
 * the report series). The other concerns live beside it (see scrape_int.h): fetch.c (HTTP), append.c
 * (body → samples), cache.c (series cache, staleness), targets.c (target sets), snapshot.c (what other
 * threads read).
 *
 * Threads: one scrape thread owns every pool and target and all libcurl handles. Other threads talk
 * to it through `mu`: ingest_scraper_apply() posts a config and waits until the thread has taken it;
 * snapshots copy targets under `mu` (the thread writes status fields under `mu` after each scrape and
 * changes the pool and target lists only with `mu` held).
 *
 * Target life cycle: built from a discovered address (static, file SD, or a discovery provider's
 * group: HTTP, DNS, Kubernetes) → scheduled at its offset →
 * [scrape: fetch → parse → append → commit → report] every interval → on removal, staleness markers
 * for everything it last reported, then freed. A target whose identity (labels + URL) and scrape config
 * are unchanged by a reload or an SD refresh keeps its state, schedule and series cache.
 *
 * Schedule: a target's first scrape is at the next multiple of its interval plus an offset from its
 * identity hash and the server's jitter seed (stable across reloads); then every interval, skipping
 * (never bursting) when the thread fell behind. */
#include "scrape_int.h"

#include "util/log.h"
#include "util/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

static const char *const report_names[INGEST__N_REPORT] = {"up", "scrape_duration_seconds", "scrape_samples_scraped",
                                                           "scrape_samples_post_metric_relabeling",
                                                           "scrape_series_added"};

/* A stable fingerprint of everything in a scrape config that changes how a target is scraped or how
 * its samples are labelled; a reload that changes it restarts the pool's targets' caches. */
static void fp_str(XXH64_state_t *h, const char *s) {
    XXH64_update(h, s ? s : "\x01", s ? strlen(s) + 1 : 1);
}

static void fp_i64(XXH64_state_t *h, int64_t v) { XXH64_update(h, &v, sizeof v); }

static void fp_relabel(XXH64_state_t *h, const config_relabel_list_t *l) {
    fp_i64(h, (int64_t)l->n);
    for (size_t i = 0; i < l->n; i++) {
        const config_relabel_t *r = &l->v[i];
        for (size_t j = 0; j < r->source_labels.n; j++) fp_str(h, r->source_labels.v[j]);
        fp_str(h, r->separator), fp_str(h, r->target_label), fp_str(h, r->regex), fp_str(h, r->replacement);
        fp_i64(h, r->modulus), fp_i64(h, r->action);
    }
}

static uint64_t fingerprint(const config_scrape_t *sc, const config_global_t *g) {
    XXH64_state_t *h = XXH64_createState();
    if (!h) return 0;
    XXH64_reset(h, 0);
    fp_str(h, sc->job_name), fp_i64(h, sc->scrape_interval_ms), fp_i64(h, sc->scrape_timeout_ms);
    fp_str(h, sc->metrics_path), fp_str(h, sc->scheme);
    for (size_t i = 0; i < sc->params.n; i++) fp_str(h, sc->params.keys[i]), fp_str(h, sc->params.values[i]);
    fp_i64(h, sc->honor_labels), fp_i64(h, sc->honor_timestamps);
    fp_str(h, sc->basic_auth.username), fp_str(h, sc->basic_auth.password), fp_str(h, sc->basic_auth.password_file);
    fp_str(h, sc->authorization.type), fp_str(h, sc->authorization.credentials);
    fp_str(h, sc->authorization.credentials_file), fp_str(h, sc->bearer_token), fp_str(h, sc->bearer_token_file);
    fp_str(h, sc->tls_config.ca_file), fp_str(h, sc->tls_config.cert_file), fp_str(h, sc->tls_config.key_file);
    fp_i64(h, sc->tls_config.insecure_skip_verify);
    fp_relabel(h, &sc->relabel_configs), fp_relabel(h, &sc->metric_relabel_configs);
    fp_i64(h, sc->sample_limit), fp_i64(h, sc->label_limit), fp_i64(h, sc->label_name_length_limit);
    fp_i64(h, sc->label_value_length_limit), fp_i64(h, (int64_t)sc->body_size_limit), fp_i64(h, sc->follow_redirects);
    for (size_t i = 0; i < g->external_labels.n; i++) fp_str(h, g->external_labels.keys[i]);
    uint64_t v = XXH64_digest(h);
    XXH64_freeState(h);
    return v;
}

/* ---- finishing a scrape: one appender transaction ---- */

/* Appends a synthetic series (target labels + __name__) by cached ref or labels. */
static int append_report(ingest_scraper_t *s, ingest__target_t *t, storage_appender_t *app, int which, int64_t ts,
                         double v, vg_error_t *err) {
    if (t->report_ref[which]) {
        int rc = storage_append_ref(app, t->report_ref[which], ts, v, err);
        if (rc != VG_ENOTFOUND) return rc < 0 ? rc : 0;
    }
    size_t n = t->def.n_labels;
    model_label_t *l = vg_arena_alloc(&s->series_arena, (n + 1) * sizeof *l);
    if (!l) return vg_error_set(err, VG_ENOMEM, "out of memory");
    memcpy(l, t->def.labels, n * sizeof *l);
    l[n] = (model_label_t){MODEL_METRIC_NAME, report_names[which]};
    int rc = storage_append(app, l, n + 1, ts, v, &t->report_ref[which], err);
    if (rc > 0) ingest__count_reject(s, rc);
    return rc < 0 ? rc : 0;
}

static void set_status(ingest_scraper_t *s, ingest__target_t *t, bool up, const char *msg, int64_t ts, double dur) {
    pthread_mutex_lock(&s->mu);
    t->health = up ? INGEST_TARGET_UP : INGEST_TARGET_DOWN;
    snprintf(t->last_error, sizeof t->last_error, "%s", msg ? msg : "");
    t->last_scrape_ms = ts;
    t->last_duration = dur;
    pthread_mutex_unlock(&s->mu);
}

/* Handles a finished transfer: parse, append, staleness, report, commit. */
static void finish_scrape(ingest_scraper_t *s, ingest__target_t *t, CURLcode cc) {
    double dur = (double)(vg_mono_ns() - t->start_ns) / 1e9;
    int64_t ts = t->start_ms;
    vg_error_t err;
    vg_error_clear(&err);
    const char *ct = NULL;
    int rc = ingest__fetch_finish(t, cc, &ct, &err);

    storage_appender_t *app = NULL;
    vg_error_t aerr;
    if (s->new_appender(s->app_ctx, &app, &aerr)) {
        vg_log_error("scrape", "cannot get an appender", VG_LS("err", aerr.msg));
        set_status(s, t, false, aerr.msg, ts, dur);
        return;
    }
    uint32_t prev = t->iter++;
    size_t scraped = 0, post = 0, added = 0;
    s->n_meta_tmp = 0;
    vg_arena_reset(&s->meta_arena);
    if (!rc) rc = ingest__append_body(s, t, app, ct, ts, &scraped, &post, &added, &err);
    if (!rc) ingest__meta_publish(s, t);
    if (rc) {
        /* nothing of a failed scrape is kept; the previous scrape's series go stale */
        storage_rollback(app);
        scraped = post = added = 0;
        ingest__cache_unmark(&t->cache, t->iter);
    }
    vg_error_t werr;
    vg_error_clear(&werr);
    int wrc = ingest__cache_write_stale(s, &t->cache, app, prev, ts, &werr);
    for (int i = 0; !wrc && i < INGEST__N_REPORT; i++) {
        double v = i == INGEST__REPORT_UP            ? (rc ? 0 : 1)
                   : i == INGEST__REPORT_DURATION    ? dur
                   : i == INGEST__REPORT_SCRAPED     ? (double)scraped
                   : i == INGEST__REPORT_POST_RELABEL ? (double)post
                                                      : (double)added;
        wrc = append_report(s, t, app, i, ts, v, &werr);
    }
    if (wrc < 0) storage_rollback(app);
    else if (storage_commit(app, &werr) < 0) wrc = werr.code;
    storage_appender_free(app);
    if (wrc < 0) vg_log_error("scrape", "append failed", VG_LS("target", t->def.url), VG_LS("err", werr.msg));
    t->reported = true;
    ingest__cache_gc(&t->cache, t->iter, 3);
    s->scrapes++;
    selfmon_counter_inc(s->m_scrapes);
    if (rc) {
        s->failures++;
        selfmon_counter_inc(s->m_failures);
        vg_log_debug("scrape", "scrape failed", VG_LS("target", t->def.url), VG_LS("err", err.msg));
    }
    set_status(s, t, rc == 0, rc ? err.msg : "", ts, dur);
}

/* Staleness markers for everything a target reported, at its removal. */
static void retire_target(ingest_scraper_t *s, ingest__target_t *t) {
    if (!t->reported) return;
    storage_appender_t *app;
    vg_error_t err;
    if (s->new_appender(s->app_ctx, &app, &err)) return;
    int64_t now = vg_now_ms();
    int rc = ingest__cache_write_stale(s, &t->cache, app, t->iter, now, &err);
    for (int i = 0; !rc && i < INGEST__N_REPORT; i++)
        if (t->report_ref[i]) {
            int r = storage_append_ref(app, t->report_ref[i], now, ingest__stale_nan(), &err);
            if (r < 0 && r != VG_ENOTFOUND) rc = r;
        }
    if (rc < 0) storage_rollback(app);
    else storage_commit(app, &err);
    storage_appender_free(app);
}

static void start_scrape(ingest_scraper_t *s, ingest__target_t *t) {
    vg_error_t err;
    if (ingest__fetch_start(s, t, &err)) {
        set_status(s, t, false, err.msg, t->start_ms, 0);
        return;
    }
    t->in_flight = true;
}

/* ---- scheduling and target sets ---- */

/* First start: the next multiple of the interval after now, shifted by the target's offset. */
static uint64_t first_due(ingest_scraper_t *s, const ingest__target_t *t) {
    uint64_t iv = (uint64_t)t->def.interval_ms * 1000000u;
    uint64_t now_wall = (uint64_t)vg_now_ms() * 1000000u;
    uint64_t base = iv - now_wall % iv;
    uint64_t next = base + ((t->def.hash ^ s->jitter_seed) % iv);
    if (next > iv) next -= iv;
    return vg_mono_ns() + next;
}

/* Called with s->mu held (snapshots read these lists). Replaces p's targets with `fresh`, keeping the
 * state of targets whose identity is unchanged (and their caches unless keep_caches is false).
 * Removed targets are retired (staleness) and freed. */
static void swap_targets(ingest_scraper_t *s, ingest__pool_t *p, ingest__target_t *fresh, ingest__dropped_t *drops,
                         bool keep_caches) {
    ingest__target_t *result = NULL;
    while (fresh) {
        ingest__target_t *f = fresh;
        fresh = f->next;
        ingest__target_t **pp = &p->targets, *old = NULL;
        for (; *pp; pp = &(*pp)->next)
            if ((*pp)->def.hash == f->def.hash) {
                old = *pp;
                *pp = old->next;
                break;
            }
        if (old) {
            /* keep the running target (its schedule, cache, status); take the new definition */
            vg_arena_t tmp = old->arena;
            old->arena = f->arena;
            old->def = f->def;
            old->sd_source = f->sd_source;
            f->arena = tmp;
            old->pool = p;
            if (!keep_caches) {
                ingest__cache_free(&old->cache);
                memset(old->report_ref, 0, sizeof old->report_ref);
            }
            ingest__target_free(s, f);
            f = old;
        } else {
            f->next_ns = first_due(s, f);
        }
        f->next = result;
        result = f;
    }
    for (ingest__target_t *t = p->targets, *n; t; t = n) { /* what is left is gone */
        n = t->next;
        retire_target(s, t);
        ingest__target_free(s, t);
    }
    p->targets = result;
    ingest__dropped_free(p->dropped);
    p->dropped = drops;
}

static void pool_free(ingest_scraper_t *s, ingest__pool_t *p) {
    for (ingest__target_t *t = p->targets, *n; t; t = n) {
        n = t->next;
        ingest__target_free(s, t);
    }
    ingest__dropped_free(p->dropped);
    for (size_t i = 0; i < p->n_sd_files; i++) free(p->sd_files[i].path);
    free(p->sd_files);
    ingest_relabel_free(p->relabel);
    ingest_relabel_free(p->metric_relabel);
    free(p);
}

static void update_target_gauges(ingest_scraper_t *s) {
    size_t a = 0, d = 0;
    for (ingest__pool_t *p = s->pools; p; p = p->next) {
        for (ingest__target_t *t = p->targets; t; t = t->next) a++;
        for (ingest__dropped_t *x = p->dropped; x; x = x->next) d++;
    }
    selfmon_gauge_set(s->m_targets_active, (double)a);
    selfmon_gauge_set(s->m_targets_dropped, (double)d);
}

/* Applies cfg on the scrape thread: new pools, kept targets, retired leftovers. */
static void apply_config(ingest_scraper_t *s, config_t *cfg) {
    ingest__pool_t *fresh = NULL;
    ingest_sd_apply(s->sd, cfg); /* providers first: the pools below read what they already have */
    pthread_mutex_lock(&s->mu); /* snapshots wait while the lists change */
    for (size_t i = 0; i < cfg->scrape_configs.n; i++) {
        config_scrape_t *sc = &cfg->scrape_configs.v[i];
        ingest__pool_t *p = calloc(1, sizeof *p);
        vg_error_t err;
        if (!p || ingest_relabel_compile(&sc->relabel_configs, &p->relabel, &err) ||
            ingest_relabel_compile(&sc->metric_relabel_configs, &p->metric_relabel, &err)) {
            vg_log_error("scrape", "cannot set up scrape pool", VG_LS("job", sc->job_name));
            if (p) pool_free(s, p);
            continue;
        }
        p->sc = sc;
        p->fingerprint = fingerprint(sc, &cfg->global);
        /* take over the running pool of the same job, if any */
        ingest__pool_t **pp = &s->pools, *old = NULL;
        for (; *pp; pp = &(*pp)->next)
            if (!strcmp((*pp)->sc->job_name, sc->job_name)) {
                old = *pp;
                *pp = old->next;
                break;
            }
        bool keep = old && old->fingerprint == p->fingerprint;
        if (old) {
            p->targets = old->targets;
            old->targets = NULL;
            for (ingest__target_t *t = p->targets; t; t = t->next) t->pool = p;
        }
        ingest__sd_scan(p);
        p->next_sd_check_ns = vg_mono_ns() + SD_CHECK_NS;
        ingest__target_t *list;
        ingest__dropped_t *drops;
        if (ingest__targets_build(s, p, &list, &drops)) vg_log_error("scrape", "out of memory building targets", VG_LS("job", sc->job_name));
        swap_targets(s, p, list, drops, keep);
        if (old) pool_free(s, old);
        p->next = fresh;
        fresh = p;
    }
    /* jobs no longer configured */
    for (ingest__pool_t *p = s->pools, *n; p; p = n) {
        n = p->next;
        swap_targets(s, p, NULL, NULL, false);
        pool_free(s, p);
    }
    s->pools = fresh;
    config_t *old_cfg = s->cfg;
    s->cfg = cfg;
    update_target_gauges(s);
    pthread_mutex_unlock(&s->mu);
    config_unref(old_cfg);
}

static void refresh_sd(ingest_scraper_t *s, uint64_t now) {
    for (ingest__pool_t *p = s->pools; p; p = p->next) {
        bool discovered = ingest_sd_configured(p->sc) && ingest_sd_generation(s->sd, p->sc->job_name) != p->sd_gen;
        bool files = false;
        if (p->sc->file_sd_configs.n && now >= p->next_sd_check_ns) {
            p->next_sd_check_ns = now + SD_CHECK_NS;
            files = ingest__sd_scan(p);
        }
        if (!discovered && !files) continue;
        ingest__target_t *list;
        ingest__dropped_t *drops;
        if (ingest__targets_build(s, p, &list, &drops)) continue;
        pthread_mutex_lock(&s->mu);
        swap_targets(s, p, list, drops, true);
        update_target_gauges(s);
        pthread_mutex_unlock(&s->mu);
        vg_log_info("scrape", discovered ? "discovered targets changed" : "file SD targets changed", VG_LS("job", p->sc->job_name));
    }
}

/* ---- the thread ---- */

static void *scrape_main(void *arg) {
    ingest_scraper_t *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        bool stop = s->stop;
        config_t *pending = s->pending;
        s->pending = NULL;
        pthread_mutex_unlock(&s->mu);
        if (stop) break;
        if (pending) {
            apply_config(s, pending);
            pthread_mutex_lock(&s->mu);
            s->applied = true;
            pthread_cond_broadcast(&s->cv);
            pthread_mutex_unlock(&s->mu);
        }
        uint64_t now = vg_mono_ns(), next = now + 1000000000ull;
        refresh_sd(s, now);
        for (ingest__pool_t *p = s->pools; p; p = p->next)
            for (ingest__target_t *t = p->targets; t; t = t->next) {
                if (t->in_flight) continue;
                if (t->next_ns <= now) {
                    start_scrape(s, t);
                    uint64_t iv = (uint64_t)t->def.interval_ms * 1000000u;
                    t->next_ns += iv;
                    if (t->next_ns <= now) t->next_ns = now + iv; /* fell behind: skip, don't burst */
                }
                if (t->next_ns < next) next = t->next_ns;
            }
        int running;
        curl_multi_perform(s->multi, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(s->multi, &left))) {
            if (msg->msg != CURLMSG_DONE) continue;
            ingest__target_t *t = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
            CURLcode cc = msg->data.result;
            curl_multi_remove_handle(s->multi, msg->easy_handle);
            if (!t) continue;
            t->in_flight = false;
            finish_scrape(s, t, cc);
        }
        now = vg_mono_ns();
        int wait_ms = next > now ? (int)((next - now) / 1000000u) : 0;
        if (wait_ms > 1000) wait_ms = 1000;
        curl_multi_poll(s->multi, NULL, 0, wait_ms, NULL);
    }
    return NULL;
}

/* A discovery provider published: the scrape loop looks at the generations without waiting out its poll. */
static void wake(void *ctx) { curl_multi_wakeup(((ingest_scraper_t *)ctx)->multi); }

int ingest_scraper_start(config_t *cfg, ingest_appender_fn appender, void *ctx, ingest_scraper_t **out, vg_error_t *err) {
    *out = NULL;
    ingest__fetch_global_init();
    ingest_scraper_t *s = calloc(1, sizeof *s);
    if (!s || !(s->scratch = malloc(SCRATCH_BYTES)) || !(s->multi = curl_multi_init())) {
        if (s) free(s->scratch);
        free(s);
        return vg_error_set(err, VG_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    vg_arena_init(&s->series_arena, 16384);
    vg_arena_init(&s->meta_arena, 16384);
    s->new_appender = appender;
    s->app_ctx = ctx;
    if (ingest_sd_new(wake, s, &s->sd, err)) {
        curl_multi_cleanup(s->multi);
        free(s->scratch);
        free(s);
        return VG_ENOMEM;
    }
    s->jitter_seed = XXH64(cfg->hash, strlen(cfg->hash), 0x5eed);
    for (size_t i = 0; i < cfg->global.external_labels.n; i++) {
        s->jitter_seed ^= XXH64(cfg->global.external_labels.values[i], strlen(cfg->global.external_labels.values[i]), i);
    }
    selfmon_registry_t *r = selfmon_default();
    s->m_scrapes = selfmon_metric(selfmon_counter(r, "vigil_scrapes_total", "Scrapes performed.", 0, NULL));
    s->m_failures = selfmon_metric(selfmon_counter(r, "vigil_scrape_failures_total", "Scrapes that failed (target down, bad payload, limit).", 0, NULL));
    s->m_ooo = selfmon_metric(selfmon_counter(r, "vigil_target_scrapes_sample_out_of_order_total", "Scraped samples rejected as out of order.", 0, NULL));
    s->m_dup = selfmon_metric(selfmon_counter(r, "vigil_target_scrapes_sample_duplicate_timestamp_total", "Scraped samples rejected for a duplicate timestamp with another value.", 0, NULL));
    s->m_oob = selfmon_metric(selfmon_counter(r, "vigil_target_scrapes_sample_out_of_bounds_total", "Scraped samples rejected as too old or too far in the future.", 0, NULL));
    s->m_series_refused = selfmon_metric(selfmon_counter(r, "vigil_target_scrapes_series_refused_total", "Scraped samples of new series refused by the server-wide series limit (limits.max_series_total); the scrape goes on.", 0, NULL));
    s->m_limit = selfmon_metric(selfmon_counter(r, "vigil_target_scrapes_exceeded_sample_limit_total", "Scrapes failed by sample_limit.", 0, NULL));
    s->m_targets_active = selfmon_metric(selfmon_gauge(r, "vigil_scrape_targets_active", "Targets being scraped.", 0, NULL));
    s->m_targets_dropped = selfmon_metric(selfmon_gauge(r, "vigil_scrape_targets_dropped", "Targets dropped by relabeling.", 0, NULL));
    s->pending = config_ref(cfg);
    if (pthread_create(&s->thread, NULL, scrape_main, s)) {
        config_unref(s->pending);
        ingest_sd_free(s->sd);
        curl_multi_cleanup(s->multi);
        free(s->scratch);
        free(s);
        return vg_error_set(err, VG_ENOMEM, "cannot start the scrape thread");
    }
    /* wait for the first target set so the targets API is complete once start returns */
    pthread_mutex_lock(&s->mu);
    while (!s->applied) pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    *out = s;
    return 0;
}

int ingest_scraper_apply(ingest_scraper_t *s, config_t *cfg, vg_error_t *err) {
    (void)err;
    pthread_mutex_lock(&s->mu);
    if (s->pending) config_unref(s->pending);
    s->pending = config_ref(cfg);
    s->applied = false;
    pthread_mutex_unlock(&s->mu);
    curl_multi_wakeup(s->multi);
    pthread_mutex_lock(&s->mu);
    while (!s->applied && !s->stop) pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

void ingest_scraper_stop(ingest_scraper_t *s) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    curl_multi_wakeup(s->multi);
    pthread_join(s->thread, NULL);
    ingest_sd_free(s->sd);
    for (ingest__pool_t *p = s->pools, *n; p; p = n) {
        n = p->next;
        pool_free(s, p);
    }
    config_unref(s->pending);
    config_unref(s->cfg);
    curl_multi_cleanup(s->multi);
    vg_arena_deinit(&s->series_arena);
    vg_arena_deinit(&s->meta_arena);
    free(s->meta_tmp);
    free(s->scratch);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}
