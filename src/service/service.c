/* The server state of a running vigil: the current config behind a reference-counted pointer swap
 * (readers never block on a reload), reload and its fan-out (log settings, auth state, scrape targets,
 * Alertmanagers),
 * and readiness.
 *
 * Invariants: the config pointer and the auth state built from it are swapped together under cfg_mu,
 * so a request that takes the auth state sees the config of the same generation; a reload that fails
 * anywhere (file, keys) changes nothing. A reload never turns authentication off by omission: a new file
 * that would serve anonymous requests while the running one does not is refused unless it says
 * `auth.anonymous: true` (an empty file, or one that lost its `auth` section, fails closed). */
#include "service_int.h"

#include "ingest/scrape/scrape.h"
#include "promql/engine/promql_engine.h"
#include "rules/notifier.h"
#include "rules/rules.h"
#include "tsdb/tsdb.h"
#include "util/log.h"
#include "util/pool.h"
#include "util/timeutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef service__priv_t priv_t;

/* --listen/--data win over the file on every load, so a reload cannot move them. */
static int apply_overrides(service_t *app, config_t *c) {
    if (app->listen_override) {
        char *s = strdup(app->listen_override);
        if (!s) return VG_ENOMEM;
        free(c->server.listen);
        c->server.listen = s;
    }
    if (app->data_override) {
        char *s = strdup(app->data_override);
        if (!s) return VG_ENOMEM;
        free(c->storage.path);
        c->storage.path = s;
    }
    return 0;
}

static void apply_runtime(const config_t *c) {
    vg_log_set_level(c->log.level);
    vg_log_set_format(c->log.format);
}

int service_init(service_t *app, config_t *cfg, const char *config_path, vg_error_t *err) {
    priv_t *p = calloc(1, sizeof *p);
    if (!p) return vg_error_set(err, VG_ENOMEM, "out of memory");
    pthread_mutex_init(&p->cfg_mu, NULL);
    pthread_mutex_init(&p->reload_mu, NULL);
    selfmon_registry_t *r = selfmon_default();
    p->reload_ok = selfmon_metric(selfmon_gauge(r, "vigil_config_last_reload_successful",
                                                "Whether the last configuration reload attempt was successful.", 0, NULL));
    p->reload_ts = selfmon_metric(selfmon_gauge(r, "vigil_config_last_reload_success_timestamp_seconds",
                                                "Timestamp of the last successful configuration reload.", 0, NULL));
    app->priv = p;
    app->config_path = config_path;
    app->start_time = vg_now_s();
    atomic_init(&app->ready, false);
    int rc = apply_overrides(app, cfg);
    atomic_init(&app->cfg, cfg);
    if (rc) return vg_error_set(err, rc, "out of memory");
    if ((rc = tenancy_limiter_new(100000, &p->limiter)) || (rc = tenancy_usage_new(100000, &p->usage)))
        return vg_error_set(err, rc, "out of memory");
    if ((rc = service__mdstore_new(NULL, &p->metadata))) return vg_error_set(err, rc, "out of memory");
    if ((rc = service__cache_new(&p->cache))) return vg_error_set(err, rc, "out of memory");
    /* the caller of a batch works too: parallelism - 1 workers (a restart changes it) */
    if ((rc = vg_pool_new((int)cfg->clusters.query_parallelism - 1, &p->pool)))
        return vg_error_set(err, rc, "cannot start the query pool");
    if ((rc = service__refcache_new(&p->refcache))) return vg_error_set(err, rc, "out of memory");
    if ((rc = service__auth_build(cfg, &p->auth, err))) return rc;
    apply_runtime(cfg);
    atomic_init(&app->last_reload_ok, true);
    atomic_init(&app->last_reload_ms, (int64_t)(app->start_time * 1000));
    selfmon_gauge_set(p->reload_ok, 1);
    selfmon_gauge_set(p->reload_ts, app->start_time);
    return rc;
}

void service_deinit(service_t *app) {
    priv_t *p = app->priv;
    promql_executor_free(app->exec);
    app->exec = NULL;
    if (p) service__rread_free(app);
    config_unref(atomic_exchange(&app->cfg, NULL));
    if (p) {
        service__auth_unref(p->auth);
        tenancy_limiter_free(p->limiter);
        tenancy_usage_free(p->usage);
        service__mdstore_free(p->metadata);
        service__cache_free(p->cache);
        vg_pool_free(p->pool);
        service__refcache_free(p->refcache);
        pthread_mutex_destroy(&p->cfg_mu);
        pthread_mutex_destroy(&p->reload_mu);
        free(p);
    }
    app->priv = NULL;
}

service__auth_t *service__auth(service_t *app) {
    priv_t *p = app->priv;
    pthread_mutex_lock(&p->cfg_mu);
    service__auth_t *a = service__auth_ref(p->auth);
    pthread_mutex_unlock(&p->cfg_mu);
    return a;
}

tenancy_limiter_t *service_limiter(service_t *app) { return ((priv_t *)app->priv)->limiter; }

tenancy_usage_t *service_usage(service_t *app) { return ((priv_t *)app->priv)->usage; }

service__mdstore_t *service__mdstore(service_t *app) { return app->priv ? ((priv_t *)app->priv)->metadata : NULL; }

config_t *service_config(service_t *app) {
    priv_t *p = app->priv;
    pthread_mutex_lock(&p->cfg_mu);
    config_t *c = config_ref(atomic_load(&app->cfg));
    pthread_mutex_unlock(&p->cfg_mu);
    return c;
}

static void warn_restart(const char *key, const char *old, const char *nw) {
    if (strcmp(old, nw))
        vg_log_warn("config", "change takes effect after a restart", VG_LS("key", key), VG_LS("running", old),
                    VG_LS("configured", nw));
}

/* 0 when swapping old for nc keeps authentication as strict as intended, VG_ECONFIG (err set) when nc
 * would turn it off without saying so. */
static int check_auth_downgrade(const config_t *old, const config_t *nc, vg_error_t *err) {
    if (config_anonymous(old) || !config_anonymous(nc)) return 0;
    if (nc->auth.anonymous == 1) {
        vg_log_warn("config", "reload turns authentication off: auth.anonymous is true, every request is served unscoped");
        return 0;
    }
    return vg_error_set(err, VG_ECONFIG, "the new configuration would turn authentication off (no auth.jwt.keys, auth.anonymous "
                                         "not set); set auth.anonymous: true to allow anonymous access on purpose");
}

int service_reload(service_t *app, vg_error_t *err) {
    priv_t *p = app->priv;
    vg_error_clear(err);
    pthread_mutex_lock(&p->reload_mu);
    config_t *nc = NULL;
    int rc = VG_EINVAL;
    if (!app->config_path) {
        vg_error_set(err, VG_EINVAL, "vigil was started without --config: nothing to reload");
    } else if ((rc = config_load_file(app->config_path, &nc, err)) == 0 && (rc = apply_overrides(app, nc)) != 0) {
        vg_error_set(err, rc, "out of memory");
        config_unref(nc);
    }
    service__auth_t *na = NULL;
    bool refused = false;
    if (!rc && (rc = service__auth_build(nc, &na, err)) != 0) config_unref(nc); /* e.g. a key file that does not load */
    if (!rc && (rc = check_auth_downgrade(atomic_load(&app->cfg), nc, err)) != 0) {
        refused = true;
        service__auth_unref(na);
        config_unref(nc);
    }
    if (rc) {
        char msg[VG_ERROR_MSG_MAX + 256];
        config_error_format(err, app->config_path ? app->config_path : "", msg, sizeof msg);
        if (refused) vg_log_warn("config", "reload refused, keeping the running configuration", VG_LS("err", msg));
        else vg_log_error("config", "reload failed, keeping the running configuration", VG_LS("err", msg));
        atomic_store(&app->last_reload_ok, false);
        selfmon_gauge_set(p->reload_ok, 0);
        pthread_mutex_unlock(&p->reload_mu);
        return rc;
    }
    config_t *old = atomic_load(&app->cfg);
    if (app->db) { /* blocks written into the data directory meanwhile (vigil import) */
        vg_error_t berr;
        if (tsdb_db_reload_blocks(app->db, &berr) < 0) vg_log_error("tsdb", "reloading blocks failed", VG_LS("err", berr.msg));
    }
    warn_restart("server.listen", old->server.listen, nc->server.listen);
    warn_restart("storage.path", old->storage.path, nc->storage.path);
    if (old->storage.block_duration_ms != nc->storage.block_duration_ms ||
        old->storage.block_chunk_encoding != nc->storage.block_chunk_encoding)
        vg_log_warn("config", "change takes effect after a restart",
                    VG_LS("key", "storage.block_duration/block_chunk_encoding"));
    if (old->rules.evaluation_concurrency != nc->rules.evaluation_concurrency)
        vg_log_warn("config", "change takes effect after a restart", VG_LS("key", "rules.evaluation_concurrency"));
    warn_restart("storage.backend", old->storage.backend ? "remote" : "local", nc->storage.backend ? "remote" : "local");
    warn_restart("remote_query.url", old->remote_query.url ? old->remote_query.url : "", nc->remote_query.url ? nc->remote_query.url : "");
    if (old->server.threads != nc->server.threads || old->server.max_connections != nc->server.max_connections ||
        old->server.max_header != nc->server.max_header || old->server.read_timeout_ms != nc->server.read_timeout_ms ||
        old->server.header_timeout_ms != nc->server.header_timeout_ms ||
        old->server.max_connections_per_ip != nc->server.max_connections_per_ip)
        vg_log_warn("config", "change takes effect after a restart",
                    VG_LS("key", "server.threads/max_connections/max_connections_per_ip/max_header/read_timeout/header_timeout"));
    pthread_mutex_lock(&p->cfg_mu);
    atomic_store(&app->cfg, nc);
    service__auth_t *old_auth = p->auth;
    p->auth = na;
    pthread_mutex_unlock(&p->cfg_mu);
    config_unref(old);
    service__auth_unref(old_auth);
    apply_runtime(nc);
    if (app->scraper) ingest_scraper_apply(app->scraper, nc, err);
    if (app->db) tsdb_db_set_max_series(app->db, (uint64_t)nc->ingest_limits.max_series_total);
    service__forward_apply(app);
    service__rread_apply(app);
    if (app->notifier && rules_notifier_apply(app->notifier, nc, err))
        vg_log_error("config", "cannot apply the alerting section, the notifier keeps its previous Alertmanagers",
                     VG_LS("err", err->msg));
    if (app->rules && rules_manager_apply(app->rules, nc, err)) {
        /* the config is in force; the rule groups stay as they were (Prometheus fails the reload the same way) */
        vg_log_error("config", "cannot load the rule files, the running rule groups are kept", VG_LS("err", err->msg));
        atomic_store(&app->last_reload_ok, false);
        selfmon_gauge_set(p->reload_ok, 0);
        pthread_mutex_unlock(&p->reload_mu);
        return err->code;
    }
    atomic_store(&app->last_reload_ok, true);
    atomic_store(&app->last_reload_ms, vg_now_ms());
    selfmon_gauge_set(p->reload_ok, 1);
    selfmon_gauge_set(p->reload_ts, vg_now_s());
    vg_log_info("config", "configuration reloaded", VG_LS("file", app->config_path), VG_LS("hash", nc->hash));
    pthread_mutex_unlock(&p->reload_mu);
    return 0;
}
