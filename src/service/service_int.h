/* service-internal: the state behind service_t.priv and the auth state of one config generation. */
#ifndef VG_SERVICE_INT_H
#define VG_SERVICE_INT_H

#include "service/service.h"
#include "selfmon/selfmon.h"

#include <pthread.h>

/* The auth state of one config generation: the JWT verifier, the tenant matcher rules and a cache of
 * verified tokens. Built on load and reload; requests hold a reference while they authenticate. */
typedef struct service__auth service__auth_t;
int service__auth_build(config_t *cfg, service__auth_t **out, vg_error_t *err);
service__auth_t *service__auth_ref(service__auth_t *a);
void service__auth_unref(service__auth_t *a);
/* Verifies a caller's credential (cred->authorization: "Bearer <JWT or vigil API key>"; none:
 * anonymous when the config allows it) and fills ctx's identity and, for a tenant, its matcher.
 * Returns 0 or VG_EAUTH / VG_ENOMEM with err set. */
int service__auth_identify(service__auth_t *a, tenancy_keystore_t *keys, const service_credentials_t *cred,
                           service_ctx_t *ctx, vg_error_t *err);
/* Scopes ctx (its tenant already set) to that tenant's matcher. 0 or VG_EFORBIDDEN/VG_ENOMEM. */
int service__auth_scope(service__auth_t *a, service_ctx_t *ctx, vg_error_t *err);
/* The context of tenant `tenant` acting without a token (the rule engine evaluating its groups):
 * scoped to its matcher, with its limits, from the current config. Free with service_ctx_deinit. */
int service__ctx_tenant(service_t *s, const char *tenant, service_ctx_t *ctx, vg_error_t *err);
/* The config the auth state was built from (borrowed: lives as long as a). */
config_t *service__auth_config(service__auth_t *a);

/* The store of metric metadata received with writes (metadata.c); see service_write_metadata. */
typedef struct service__mdstore service__mdstore_t;
typedef struct service__mdlimits {
    size_t max_families; /* per writer scope */
    size_t max_total;    /* over all scopes */
    size_t max_name;     /* bytes of a family name or unit */
    size_t max_help;     /* bytes of a help */
} service__mdlimits_t;
/* lim NULL: the SERVICE_METADATA_MAX_* bounds. Returns 0 or VG_ENOMEM. Free with service__mdstore_free. */
int service__mdstore_new(const service__mdlimits_t *lim, service__mdstore_t **out);
void service__mdstore_free(service__mdstore_t *st);
/* What put did with an entry (>= 0), or VG_ENOMEM. */
enum { SERVICE__MD_KEPT, SERVICE__MD_TOO_LONG, SERVICE__MD_FULL, SERVICE__MD_INVALID };
/* Stores (or replaces: the last entry wins) the metadata of a family for tenant (NULL: the unscoped
 * writers). type is a prometheus.MetricMetadata.MetricType (= ingest_mtype_t; others become unknown).
 * Strings are copied; they need not be NUL-terminated. Thread-safe. */
int service__mdstore_put(service__mdstore_t *st, const char *tenant, int type, const char *family, size_t family_len,
                         const char *help, size_t help_len, const char *unit, size_t unit_len);
/* Families stored for tenant (NULL: the unscoped writers). */
size_t service__mdstore_count(service__mdstore_t *st, const char *tenant);
/* tenant's entries (NULL: the unscoped writers'), sorted by family, copied into arena; metric NULL/"" for
 * all; names (sorted; NULL: no restriction) keeps only families with one of these series names. Returns
 * 0 or VG_ENOMEM. */
int service__mdstore_get(service__mdstore_t *st, const char *tenant, const char *metric, const char *const *names,
                         size_t n_names, vg_arena_t *arena, promql_metadata_t **out, size_t *n_out);
/* a and b merged sorted by family (then type, help, unit), identical entries once, at most limit
 * families (< 0: all). *out in arena (entries' strings are shared with the inputs). 0 or VG_ENOMEM. */
int service__metadata_merge(const promql_metadata_t *a, size_t na, const promql_metadata_t *b, size_t nb, long limit,
                            vg_arena_t *arena, promql_metadata_t **out, size_t *n_out);
/* Merges the received metadata ctx may see into the executor's answer *io (limit applied after the
 * merge). scope: ctx's tenant matcher when scoped (for the families it has series of). */
int service__metadata_add_received(service_ctx_t *ctx, promql_executor_t *ex, const promql_matcher_set_t *scope,
                                   const char *metric, long limit, vg_arena_t *arena, promql_metadata_t **io, size_t *n_io,
                                   vg_error_t *err);

typedef struct service__priv {
    pthread_mutex_t cfg_mu;    /* guards the pointer loads + refs of the config and auth state */
    service__auth_t *auth;     /* the auth state of the current config */
    tenancy_usage_t *usage;    /* per tenant: running queries, counts, rates, series count */
    tenancy_limiter_t *limiter;
    pthread_mutex_t reload_mu; /* one reload at a time */
    selfmon_metric_t *reload_ok, *reload_ts;
    service__mdstore_t *metadata; /* received with writes */
    struct service__forward *forward; /* remote_write queues (forward.c); NULL until started */
    struct service__ruler *ruler; /* the ruler API's groups (ruler.c); NULL when the rule manager does not run */
    struct service__refcache *refcache; /* series references of writes (refcache.c) */
} service__priv_t;

/* refcache.c: (write scope, encoded label bytes) -> storage reference; thread-safe. A scope of 0 (out of
 * memory, an unusual scope) makes get miss and put do nothing. */
typedef struct service__refcache service__refcache_t;
int service__refcache_new(service__refcache_t **out);
void service__refcache_free(service__refcache_t *c);
uint32_t service__refcache_scope(service__refcache_t *c, const service_ctx_t *ctx);
uint64_t service__refcache_get(service__refcache_t *c, uint32_t scope, const void *bytes, size_t len);
/* refs[i] = get(keys[i], lens[i]) (0 for a NULL key), with the slots of later keys fetched meanwhile. */
void service__refcache_get_batch(service__refcache_t *c, uint32_t scope, size_t n, const uint8_t *const *keys,
                                 const size_t *lens, uint64_t *refs);
void service__refcache_put(service__refcache_t *c, uint32_t scope, const void *bytes, size_t len, uint64_t ref);

/* forward.c: remote_write queues. Restarts the queues whose entry changed in the current config, starts
 * new ones, stops removed ones (no-op before service_remote_write_start). */
typedef struct service__forward service__forward_t;
void service__forward_apply(service_t *s);


/* The ruler (ruler.c): its groups loaded from <storage.path>/rules and added to s->rules (started by
 * service_rules_start once the manager runs; stopped by service_rules_stop before it). A store that
 * cannot be listed is an error; a namespace file that cannot be read is logged and skipped. */
typedef struct service__ruler service__ruler_t;
int service__ruler_start(service_t *s, vg_error_t *err);
void service__ruler_stop(service_t *s);

/* s's received-metadata store (NULL before service_init). */
service__mdstore_t *service__mdstore(service_t *s);

/* The current auth state (a reference). */
service__auth_t *service__auth(service_t *s);

/* "Active": a sample within limits.active_series_window (default 1h), or created and awaiting its
 * first; the count is measured at most once a second (series created meanwhile are added to it). */
#define SERVICE__ACTIVE_MAX_AGE_MS 1000

/* Measures (or reads, when fresh) ctx's tenant's active series count; with max_age_ms 0 it always
 * measures. */
uint64_t service__active_series(service_ctx_t *ctx, int64_t max_age_ms);

#endif
