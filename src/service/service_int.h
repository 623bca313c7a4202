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

/* ---- reads (read.c): service_query in two halves, so the cache can key on the enforced text ---- */
typedef struct service__prepared {
    promql_executor_t *ex; /* acting for the caller (arena view) */
    promql_node_t *expr;   /* parsed and enforced (arena) */
    const char *text;      /* expr printed (arena): when asked for, or for the audit log; else NULL */
} service__prepared_t;
/* Parse → enforce → range limit; print: fill out->text. *evaluated as for service_query. */
int service__query_prepare(service_ctx_t *ctx, const service_query_t *q, bool print, vg_arena_t *arena,
                           service__prepared_t *out, const char **evaluated, vg_error_t *err);
/* Runs a prepared expression over [start, end] (step 0: instant at start) within the tenant's
 * concurrency limit. */
int service__query_exec(service_ctx_t *ctx, const service__prepared_t *p, int64_t start, int64_t end, int64_t step,
                        int64_t timeout_ms, vg_arena_t *arena, promql_result_t **out, vg_error_t *err);

/* ---- the query results cache (cache.c) ---- */
typedef struct service__cache service__cache_t;
typedef struct service__cache_stats {
    uint64_t hits, misses, evictions, bytes, entries;
} service__cache_stats_t;
/* An empty cache (its counters registered in selfmon_default()). 0 or VG_ENOMEM; free with
 * service__cache_free. */
int service__cache_new(service__cache_t **out);
void service__cache_free(service__cache_t *c);
void service__cache_stats(service__cache_t *c, service__cache_stats_t *out);
/* Counts a lookup (kind 0: extent, 1: whole result). */
void service__cache_count(service__cache_t *c, int kind, bool hit);
/* The result stored under key if stored at most max_age_ms before now_ms: 1 with *out (a copy in arena)
 * and its extent [*start, *end] (either may be NULL); 0 when absent or expired (an expired entry is
 * dropped); VG_ENOMEM. */
int service__cache_get(service__cache_t *c, const char *key, size_t key_len, int64_t now_ms, int64_t max_age_ms,
                       vg_arena_t *arena, promql_result_t **out, int64_t *start, int64_t *end);
/* Stores a copy of r under key (replacing any entry), covering [start, end], then evicts least recently
 * used entries until the cache holds at most max_bytes. A result larger than max_bytes is not stored.
 * 0 or VG_ENOMEM. */
int service__cache_put(service__cache_t *c, const char *key, size_t key_len, int64_t now_ms, uint64_t max_bytes,
                       const promql_result_t *r, int64_t start, int64_t end);
/* One UTC day's share of a step-aligned range: its first and last grid point, and the day (ms). */
typedef struct service__cache_piece {
    int64_t start, end, day;
} service__cache_piece_t;
/* The pieces of [start, end] at step, in order; returns how many there are (fills at most cap). */
size_t service__cache_split(int64_t start, int64_t end, int64_t step, service__cache_piece_t *out, size_t cap);
/* r's points within [start, end] (series left without points are dropped); shares r's memory. */
int service__cache_slice(const promql_result_t *r, int64_t start, int64_t end, vg_arena_t *arena, promql_result_t **out);
/* Matrices of consecutive, disjoint time ranges (in order; NULL entries skipped) as one matrix sorted
 * by labels, each series' points concatenated. */
int service__cache_merge(promql_result_t *const *parts, size_t n, vg_arena_t *arena, promql_result_t **out);
/* Evaluates the range query over [start, end] (grid points of the query's step). */
typedef int (*service__range_fn)(void *ctx, int64_t start, int64_t end, vg_arena_t *arena, promql_result_t **out,
                                 vg_error_t *err);
/* A step-aligned range query through the extent cache: prefix names the query (tenant, enforced text,
 * step); fn evaluates what the cache does not hold. */
int service__cache_range(service__cache_t *c, const char *prefix, size_t prefix_len, int64_t start, int64_t end, int64_t step,
                         int64_t now_ms, const config_query_cache_t *cfg, service__range_fn fn, void *fctx,
                         vg_arena_t *arena, promql_result_t **out, vg_error_t *err);

/* The alert rules of the cluster thresholds (clusters.c): *out NULL when clusters.alert_rules is off;
 * free with rules_file_free. */
struct rules_file;
int service__cluster_rules(const config_t *cfg, struct rules_file **out, vg_error_t *err);

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
    service__cache_t *cache;      /* query results */
    struct vg_pool *pool;         /* runs the queries of one overview request at once */
    struct service__rread *rread; /* the remote_read readers (remote_read.c); NULL: none */
    struct service__refcache *refcache; /* series references of writes (refcache.c) */
} service__priv_t;

/* A credentials file into out (cap bytes; vg_fs_read_secret); VG_ECONFIG naming section and what when
 * it cannot be read or is longer (executor_remote.c). */
int service__read_secret(const char *section, const char *what, const char *path, char *out, size_t cap, vg_error_t *err);

/* remote_read.c: the remote_read entries' readers, one set per config generation. apply builds the
 * set of the current config (readers whose credentials cannot be read are left out, logged) and
 * swaps it in; queriers opened before keep the old set until they close. free drops it (deinit). */
typedef struct service__rread service__rread_t;
void service__rread_apply(service_t *s);
void service__rread_free(service_t *s);
/* A querier over [mint, maxt]: the local TSDB merged with the remote_read entries this query needs —
 * for a scoped caller only the tenant_safe ones; without read_recent only when mint is older than the
 * local data (tsdb_db_start_time), up to that time. Owned: storage_querier_close. */
int service__open_querier(service_t *s, bool scoped, int64_t mint, int64_t maxt, storage_querier_t **out, vg_error_t *err);

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
