/* service: the running vigil between the HTTP layer and the engine. It owns the server's state (the
 * current config behind a reference-counted pointer swap, reload and its fan-out, the auth state, usage
 * and rate limiters) and the three seams every front end goes through:
 *
 *   - the tenant context (service_ctx_t): who asks, the one config snapshot the request sees, the
 *     tenant's resolved limits and its one matcher; built once per request by service_authenticate();
 *   - the executor (promql/executor.h): reads — PromQL, series, label names/values, metadata — over a
 *     local (engine + TSDB querier) or remote implementation, always called after tenant enforcement
 *     (service_query, service_series, service_labels, service_metadata do parse → enforce → limits → run);
 *   - the tenant appender (service_tenant_appender): writes with the tenant label forced and the
 *     tenant's series budget enforced by the head, under its own lock.
 *
 * Threading: every function may be called from any thread; the state is read through references
 * (config_ref / service_auth refs) so a reload never blocks a request in flight. */
#ifndef VG_SERVICE_H
#define VG_SERVICE_H

#include "config/config.h"
#include "model/labels.h"
#include "model/matcher.h"
#include "promql/executor.h"
#include "remote/remote.h"
#include "tenancy/tenancy.h"
#include "tsdb/storage.h"
#include "util/arena.h"
#include "util/error.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct tsdb_db;
struct ingest_scraper;
struct tenancy_keystore;
struct grafana_client;
struct promql_engine;
struct rules_notifier;
struct rules_manager;

/* ---- the server's state: the one global object of a running vigil ---- */
typedef struct service {
    const char *config_path;     /* borrowed from argv; NULL: built-in defaults, nothing to reload */
    const char *listen_override; /* --listen, or NULL */
    const char *data_override;   /* --data, or NULL */
    double start_time;           /* Unix seconds */
    _Atomic bool ready;
    _Atomic bool last_reload_ok;
    _Atomic int64_t last_reload_ms; /* Unix ms of the last successful load */
    _Atomic(config_t *) cfg;     /* current config; take it with service_config() */
    struct tsdb_db *db;          /* the embedded storage (borrowed; NULL until opened) */
    struct ingest_scraper *scraper; /* the scrape manager (borrowed; NULL when not running) */
    struct tenancy_keystore *keys;  /* vigil API keys (borrowed; NULL when not opened) */
    struct grafana_client *grafana; /* the Grafana client (borrowed; NULL when grafana.url is unset) */
    struct tenancy_window *grafana_limit; /* grafana.token_requests per token_window, for Grafana tokens and
                                             API keys (borrowed; NULL: none) */
    struct promql_engine *engine;   /* the PromQL engine (borrowed) */
    struct rules_notifier *notifier; /* the Alertmanager notifier (borrowed; NULL when not running) */
    struct rules_manager *rules;     /* the rule manager (owned via service_rules_start/stop; NULL when not running) */
    promql_executor_t *exec;        /* the executor reads go through (owned; set by service_executor_local) */
    void *priv;
} service_t;

/* Initialises the state around an already loaded config (takes over the caller's reference), building
 * the auth state (key files are read here). On failure call service_deinit. */
int service_init(service_t *s, config_t *cfg, const char *config_path, vg_error_t *err);
void service_deinit(service_t *s);
/* A reference to the current config; drop it with config_unref(). */
config_t *service_config(service_t *s);
/* Re-reads the config file. On success swaps it in and applies what can change at run time (log level,
 * auth, scrape targets); on failure keeps the running config, logs the error and fills err. Serialised;
 * safe from any thread. */
int service_reload(service_t *s, vg_error_t *err);
/* Builds the local executor (engine over the TSDB querier, metadata from the scraper) from s->engine,
 * s->db and s->scraper, and sets s->exec. Call once those are set. */
int service_executor_local(service_t *s, vg_error_t *err);
/* Builds the remote executor (storage.backend: remote) from the current config's remote_query section —
 * credentials read from their files here — and sets s->exec. VG_ECONFIG for a credentials file that
 * cannot be read. */
int service_executor_remote(service_t *s, vg_error_t *err);

/* The rule manager over s->exec, s->db and s->notifier (set them first): the operator's rule_files
 * write through an unscoped appender; a tenant's groups are enforced with the tenant's matcher and
 * write through its tenant appender. Rule-file errors are returned (err: FILE:LINE:COL: message) with
 * the manager running without them; a reload applies the files again (service_reload). */
int service_rules_start(service_t *s, vg_error_t *err);
void service_rules_stop(service_t *s);

/* Usage per tenant (tenancy_usage_*) and the token-bucket limiter; live as long as s. */
tenancy_usage_t *service_usage(service_t *s);
tenancy_limiter_t *service_limiter(service_t *s);

/* ---- the per-request tenant context ---- */
typedef struct service_ctx {
    bool anonymous; /* no token, allowed by auth.anonymous */
    bool admin;     /* admin claim */
    bool scoped;    /* a tenant: every read and write is limited to its matcher */
    char tenant[TENANCY_TENANT_MAX + 1];
    char subject[TENANCY_SUBJECT_MAX + 1];
    tenancy_matcher_t matcher; /* the tenant's one matcher (label, values), when scoped */
    config_t *cfg;             /* the snapshot this request sees (ref, dropped by service_ctx_deinit) */
    config_limits_t limits;    /* the tenant's resolved limits (the defaults when not scoped) */
    service_t *svc;
} service_ctx_t;

/* A token as the caller presented it: the value of its one Authorization header. */
typedef struct service_credentials {
    int n_authorization;       /* how many Authorization headers came (more than one is refused) */
    const char *authorization; /* the header's value when n_authorization == 1 */
} service_credentials_t;

/* Authenticates a caller and builds its context from one config snapshot. Returns 0 (ctx filled; free
 * with service_ctx_deinit), VG_EAUTH (401) with err set, or VG_ENOMEM. */
int service_authenticate(service_t *s, const service_credentials_t *cred, service_ctx_t *ctx, vg_error_t *err);
/* The context of an in-process caller with no token (tools, tests): anonymous and unscoped. */
int service_ctx_internal(service_t *s, service_ctx_t *ctx);
/* The context of an in-process writer acting for `tenant` without a token (`vigil import --tenant`):
 * scoped to the tenant's matcher by the current config's rules. Returns 0, VG_EFORBIDDEN for an invalid
 * tenant id, VG_ENOMEM. */
int service_ctx_tenant(service_t *s, const char *tenant, service_ctx_t *ctx, vg_error_t *err);
void service_ctx_deinit(service_ctx_t *ctx);
/* The request-rate limit of ctx for an endpoint class: 0, or VG_ERATELIMIT with *retry_after_s. */
int service_ctx_rate(service_ctx_t *ctx, const char *klass, int *retry_after_s, vg_error_t *err);
/* The matcher selecting ctx's tenant's series (free with model_matcher_free). */
int service_ctx_matcher(const service_ctx_t *ctx, model_matcher_t **out, vg_error_t *err);

/* ---- a tenant's own vigil API keys (service/apikeys.c; docs/api.md#api-keys) ----
 * `tenant` is the tenant acted for: a scoped ctx's own (another is VG_EFORBIDDEN), or the one an
 * unscoped caller names. VG_EUNAVAIL when the key store is not open. */
/* Whether name suits a key: 1..TENANCY_APIKEY_NAME_MAX of [A-Za-z0-9 ._:@-], starting with a letter or
 * digit, not ending with a space. */
bool service_apikey_name_valid(const char *name);
/* tenant's keys, oldest first (its Grafana datasource's included): *out owned, free with free(). */
int service_apikeys_list(service_ctx_t *ctx, const char *tenant, tenancy_apikey_info_t **out, size_t *n_out, vg_error_t *err);
/* Mints a key named name: the key in key_out (TENANCY_APIKEY_LEN + 1 bytes; shown once, never log it)
 * and what may be told of it in *out. VG_EINVAL for an invalid or reserved name or past
 * limits.max_api_keys; VG_ERATELIMIT past grafana.token_requests creations in grafana.token_window,
 * with *retry_after_s. */
int service_apikey_create(service_ctx_t *ctx, const char *tenant, const char *name, char *key_out, tenancy_apikey_info_t *out,
                          int *retry_after_s, vg_error_t *err);
/* Revokes tenant's key id at once: VG_ENOTFOUND for an unknown id or another tenant's; VG_EEXIST for
 * the Grafana datasource's key unless `grafana`. */
int service_apikey_revoke(service_ctx_t *ctx, const char *tenant, uint64_t id, bool grafana, vg_error_t *err);

/* ---- reads: parse → enforce (scoped callers) → limits → executor ---- */
typedef struct service_query {
    const char *text;   /* the PromQL expression */
    int64_t start, end, step; /* ms; step 0: an instant query at start */
    int64_t timeout_ms; /* 0: the engine's */
} service_query_t;

/* Runs a query for ctx. *out and everything in it live in arena. *evaluated (may be NULL) receives the
 * expression as evaluated (after enforcement; arena) when the audit log will want it, else NULL. */
int service_query(service_ctx_t *ctx, const service_query_t *q, vg_arena_t *arena, promql_result_t **out,
                  const char **evaluated, vg_error_t *err);
/* service_query through the query results cache (query_cache; service/cache.c), which holds answers
 * per tenant and enforced expression. SERVICE_CACHE_EXTENTS: a range query whose start and end are
 * multiples of its step reuses the UTC days it shares with earlier queries and evaluates the rest
 * (nothing newer than query_cache.max_freshness is stored); otherwise it runs as service_query.
 * SERVICE_CACHE_RECENT: a whole answer for the same expression, step and range length computed at
 * most query_cache.ttl ago is returned as it is (its own start/end/time), for the overview endpoints.
 * Answers are the same as service_query's, except that RECENT ones may be up to ttl old. */
#define SERVICE_CACHE_EXTENTS 1u
#define SERVICE_CACHE_RECENT 2u
int service_query_cached(service_ctx_t *ctx, const service_query_t *q, unsigned flags, vg_arena_t *arena,
                         promql_result_t **out, const char **evaluated, vg_error_t *err);

/* Parses and enforces a query for ctx without running it (e.g. query_exemplars, where nothing is kept). */
int service_query_check(service_ctx_t *ctx, const char *text, vg_arena_t *arena, vg_error_t *err);

/* The canonical text of a query (/api/v1/format_query): *out (arena) is the expression as the caller
 * wrote it, printed by promql_print — never the enforced form. A scoped caller's query is enforced all
 * the same (and refused as a query would be: VG_EFORBIDDEN for a matcher outside the tenant), so
 * formatting cannot tell a tenant anything a query would not. Parse errors carry Prometheus' prefix
 * `invalid parameter "query": `. */
int service_query_format(service_ctx_t *ctx, const char *text, vg_arena_t *arena, const char **out, vg_error_t *err);

/* match[] selectors as the Prometheus API takes them. wrap: prefix parse errors with
 * `invalid parameter "match[]": ` (Prometheus does for /series, not for /labels). A scoped caller
 * with no selector asks about its own series. */
typedef struct service_match {
    const char *const *selectors;
    size_t n;
    bool wrap;
} service_match_t;

int service_series(service_ctx_t *ctx, const service_match_t *m, int64_t start, int64_t end, vg_arena_t *arena,
                   promql_labels_t **out, size_t *n_out, vg_error_t *err);
/* For /federate: the newest sample within the lookback delta before t of every series matching any
 * selector (enforced for a scoped caller), sorted by labels; staleness markers left out. No selector:
 * nothing. */
int service_federate(service_ctx_t *ctx, const service_match_t *m, int64_t t, vg_arena_t *arena, promql_latest_t **out,
                     size_t *n_out, vg_error_t *err);
/* Label names (name == NULL) or the values of `name`. */
int service_labels(service_ctx_t *ctx, const char *name, const service_match_t *m, int64_t start, int64_t end,
                   vg_arena_t *arena, const char *const **out, size_t *n_out, vg_error_t *err);
/* Metric metadata (of the tenant's metrics only, for a scoped caller): the executor's (scraped) merged
 * with what writers sent (service_write_metadata), sorted by family, identical entries once; metric NULL
 * or "" for all, limit < 0 for no limit on the number of metrics (applied after the merge). */
int service_metadata(service_ctx_t *ctx, const char *metric, long limit, vg_arena_t *arena, promql_metadata_t **out,
                     size_t *n_out, vg_error_t *err);

/* One query of POST /api/v1/read (remote read) for ctx, over the embedded storage: the raw samples in
 * [q->start_ms, q->end_ms] (staleness markers included, as Prometheus serves them) of every series
 * matching q's matchers, sorted by labels, series and samples in arena. A scoped caller's matchers are
 * enforced as a query's selector is (a matcher of its own on the tenant label naming anything else is
 * VG_EFORBIDDEN). *samples_left (the request's remaining remote_read_limits.sample_limit) is lowered by
 * what is returned; past it VG_ELIMIT "exceeded sample limit (N)". Regex errors are VG_EINVAL. */
int service_remote_read(service_ctx_t *ctx, const remote_read_query_t *q, int64_t *samples_left, vg_arena_t *arena,
                        remote_read_series_t **out, size_t *n_out, vg_error_t *err);

/* A scoped caller's active series (what limits.max_series bounds). */
uint64_t service_ctx_active_series(service_ctx_t *ctx);

/* TSDB statistics as /api/v1/status/tsdb shows them (over the tenant's own series for a tenant). */
#define SERVICE_TOP_N 10
typedef struct service_top {
    struct {
        char name[256];
        uint64_t count;
    } v[SERVICE_TOP_N];
    size_t n;
} service_top_t;
typedef struct service_tsdb_status {
    uint64_t num_series, num_label_pairs, chunk_count;
    int64_t min_time, max_time;
    /* vigil's extension, for an unscoped caller only (has_blocks): the persistent blocks */
    bool has_blocks;
    uint64_t blocks, blocks_bytes, blocks_corrupt, storage_bytes;
    int64_t blocks_min_time, blocks_max_time; /* INT64_MAX / INT64_MIN: no block */
    char corrupt_block[32];
    service_top_t by_metric, by_name_values, by_name_bytes, by_pair;
} service_tsdb_status_t;
int service_tsdb_status(service_ctx_t *ctx, service_tsdb_status_t *out, vg_error_t *err);

/* /api/v1/rules and /api/v1/alerts `data` for ctx: everything for an unscoped caller; a tenant sees
 * the groups it owns (the operator's rule files are the admin's) and the alerts that carry its tenant
 * label. type: 0 all, 1 alerting, 2 recording. Returns 0 (an empty list when no rules run). */
typedef struct service_rules_query {
    int type;
    const char *const *rule_names; size_t n_rule_names;
    const char *const *groups;     size_t n_groups;
    const char *const *files;      size_t n_files;
} service_rules_query_t;
struct vg_json;
int service_rules_json(service_ctx_t *ctx, const service_rules_query_t *q, struct vg_json *j, vg_error_t *err);
int service_alerts_json(service_ctx_t *ctx, struct vg_json *j, vg_error_t *err);

/* The ruler API (Mimir's /config/v1/rules; docs/api.md): rule groups kept per owner and namespace in
 * <storage.path>/rules and evaluated by the rule manager. The owner: a scoped caller's own tenant
 * (org_id — the X-Scope-OrgID header, may be NULL — must then be NULL or that tenant, else
 * VG_EFORBIDDEN); an unscoped caller (admin, or anonymous) acts for the tenant org_id names, or
 * without one for the unscoped owner, whose groups are evaluated as the operator's rule files.
 * A tenant's groups are tenant groups: its matcher enforced on every expression, its tenant appender,
 * its label on every alert. VG_EUNAVAIL when the rule manager does not run. */
struct vg_buf;
/* YAML: every namespace of the owner (ns NULL), one namespace (a map namespace → [groups]), or one
 * group (group non-NULL: the group's mapping), appended to out. VG_ENOTFOUND when there is nothing
 * ("no rule groups found", or the namespace or group that does not exist). */
int service_ruler_get(service_ctx_t *ctx, const char *org_id, const char *ns, const char *group, struct vg_buf *out,
                      vg_error_t *err);
/* Creates or replaces (by name) the group in body (YAML, one group in the rule-file format) in
 * namespace ns: VG_ETOOLARGE past rules.ruler_max_group_size; VG_EINVAL for an invalid group (err:
 * "invalid rule group: LINE:COL: message; …"), a namespace name that cannot be stored, or past the
 * owner's limits.ruler_max_rules_per_rule_group / ruler_max_rule_groups; VG_EFORBIDDEN for an
 * expression outside the tenant's matcher (as a query would be); VG_EIO when it cannot be stored. */
int service_ruler_set(service_ctx_t *ctx, const char *org_id, const char *ns, const char *body, size_t len,
                      vg_error_t *err);
/* Deletes one group (group non-NULL) or the whole namespace: VG_ENOTFOUND when it does not exist. */
int service_ruler_delete(service_ctx_t *ctx, const char *org_id, const char *ns, const char *group, vg_error_t *err);

/* WAL replay progress as /api/v1/status/walreplay shows it. vigil replays the WAL before it serves, so
 * the replay is always finished: min and max are the first and last segment replayed, current == max
 * (all 0 when there was nothing to replay). The numbers are the server's, the same for every caller. */
typedef struct service_walreplay {
    uint64_t min, max, current;
} service_walreplay_t;
int service_walreplay(service_ctx_t *ctx, service_walreplay_t *out, vg_error_t *err);

/* Alertmanagers as /api/v1/alertmanagers shows them: the URLs alerts are POSTed to (active) and those
 * the Alertmanager relabeling dropped, in config order; the arrays and strings live in arena. The
 * operator's infrastructure: the route is admin-only (anonymous when authentication is off). Empty
 * lists when no notifier runs. */
int service_alertmanagers(service_ctx_t *ctx, vg_arena_t *arena, const char *const **active, size_t *n_active,
                          const char *const **dropped, size_t *n_dropped, vg_error_t *err);

/* ---- TSDB administration (/api/v1/admin/tsdb/...: admin-only routes) ---- */

#define SERVICE_SNAPSHOT_NAME_MAX 64
/* Hard-links every block into <data>/snapshots/<name>/ and, unless skip_head, writes the head's data
 * there as blocks; name is "<YYYYMMDDTHHMMSSZ>-<16 hex digits>". */
int service_tsdb_snapshot(service_ctx_t *ctx, bool skip_head, char name[SERVICE_SNAPSHOT_NAME_MAX], vg_error_t *err);
/* Deletes the samples in [start, end] (ms, inclusive) of the series matching any of the selectors
 * (all parsed first: VG_EINVAL names a bad one). Durable (tombstones, pending head deletions). */
int service_tsdb_delete_series(service_ctx_t *ctx, const char *const *selectors, size_t n, int64_t start, int64_t end,
                               vg_arena_t *arena, vg_error_t *err);
/* Rewrites the blocks holding tombstones without the deleted samples. */
int service_tsdb_clean_tombstones(service_ctx_t *ctx, vg_error_t *err);

/* ---- the cluster and node overview (clusters.c; docs/api.md "Clusters") ---- */

/* A figure against its thresholds (clusters.thresholds): ordered, so the worst of several is the max. */
typedef enum {
    SERVICE_STATE_UNKNOWN = -1, /* no value */
    SERVICE_STATE_OK = 0,
    SERVICE_STATE_WARNING = 1,  /* >= warning */
    SERVICE_STATE_CRITICAL = 2, /* >= critical */
} service_state_t;
service_state_t service_threshold_state(double v, const config_threshold_t *t);
/* "ok", "warning", "critical"; NULL for unknown. */
const char *service_state_name(service_state_t s);

typedef struct service_cluster {
    const char *name;       /* arena */
    size_t n_nodes, n_ready;
    service_state_t status; /* the worst CPU, memory and disk state over its nodes */
} service_cluster_t;

/* A node; figures are NaN when their series are missing. Strings in the arena. */
typedef struct service_node {
    const char *cluster, *instance, *name, *ip;
    int ready;                /* 1 Ready, 0 NotReady, -1 unknown */
    const char *ready_source; /* "kube_node_status_condition", "up" or NULL (static) */
    double cpu_percent;
    double memory_used, memory_total, memory_percent;
    double disk_used, disk_total, disk_percent; /* the root filesystem (mountpoint "/"); used = size - avail */
    double net_receive_bps, net_transmit_bps;   /* bits/s, loopback and virtual interfaces left out */
    double running_pods;                        /* kubelet_running_pods */
    service_state_t cpu_state, memory_state, disk_state;
} service_node_t;

/* The clusters ctx has nodes in (sorted by name). */
int service_clusters(service_ctx_t *ctx, vg_arena_t *arena, service_cluster_t **out, size_t *n_out, vg_error_t *err);
/* The nodes of a cluster, sorted by name; VG_ENOTFOUND when ctx has none in it. */
int service_cluster_nodes(service_ctx_t *ctx, const char *cluster, vg_arena_t *arena, service_node_t **out, size_t *n_out,
                          vg_error_t *err);
/* 0 when ctx has nodes in the cluster, else VG_ENOTFOUND. */
int service_cluster_check(service_ctx_t *ctx, const char *cluster, vg_arena_t *arena, vg_error_t *err);

/* A preset time range: 10min (30 s steps), today (since midnight UTC, 5 m), 7days (6 h), month (30 days,
 * 1 d); end is the last step boundary at or before now. VG_EINVAL for another name. */
typedef struct service_range {
    const char *name; /* static */
    int64_t start, end, step; /* ms */
} service_range_t;
int service_cluster_range(const char *name, int64_t now_ms, service_range_t *out);

typedef struct service_cluster_metric {
    const char *name, *unit;       /* "cpu" "percent", …, "network_receive" "bits_per_second" (static) */
    double current;                /* now (NaN: no value) */
    service_state_t state;         /* current against the thresholds (percent metrics only) */
    const promql_point_t *points;  /* the range (arena) */
    size_t n_points;
    double average, previous_average; /* over the range, and over the range of the same length before it */
    double change, change_percent;    /* average - previous_average, and that in percent of previous_average */
} service_cluster_metric_t;

typedef struct service_cluster_metrics {
    service_range_t range;
    service_cluster_metric_t *v; /* arena */
    size_t n;
} service_cluster_metrics_t;
/* metric_type: all, cpu, memory, disk, network (both directions). VG_EINVAL for a bad preset or type,
 * VG_ENOTFOUND for a cluster ctx has no nodes in. */
int service_cluster_metrics(service_ctx_t *ctx, const char *cluster, const char *time_range, const char *metric_type,
                            vg_arena_t *arena, service_cluster_metrics_t *out, vg_error_t *err);

/* The operator rule group the thresholds become (clusters.alert_rules), and the file it shows under. */
#define SERVICE_CLUSTER_RULE_GROUP "vigil-cluster-thresholds"
#define SERVICE_CLUSTER_RULE_FILE "<vigil clusters>"

/* ---- writes ---- */

/* Admission of a write of n_samples by ctx's ingestion rate: 0; VG_ERATELIMIT with *retry_after_s
 * (> 0 when waiting helps); VG_ETOOLARGE when n_samples exceeds the tenant's burst, so the batch can
 * never be admitted (*retry_after_s stays 0). */
int service_ingest_admit(service_ctx_t *ctx, size_t n_samples, int *retry_after_s, vg_error_t *err);

/* An appender for ctx over `inner` (which it takes over and frees): for a scoped caller it forces the
 * tenant label onto every series (an allowed value sent by the client is kept, anything else — missing,
 * another tenant's, forged — is overwritten with the tenant's first value) and, with limits.max_series
 * set, installs a series gate on inner so the storage refuses new series past the budget under its own
 * lock (append returns STORAGE_REJECT_SERIES_LIMIT; the batch stays usable). Labels are validated once,
 * by the storage. For an unscoped caller *out is inner itself. Owned: storage_appender_free. */
int service_tenant_appender(service_ctx_t *ctx, storage_appender_t *inner, storage_appender_t **out, vg_error_t *err);
/* ctx's tenant's series count as the budget last counted it (no measurement). */
uint64_t service_ctx_series_count(service_ctx_t *ctx);
/* An appender for ctx over the embedded storage (service_tenant_appender over a TSDB appender). */
int service_appender(service_ctx_t *ctx, storage_appender_t **out, vg_error_t *err);

/* Metric metadata received with writes (remote_write's MetricMetadata) is kept in memory, one entry per
 * metric family per writer — a tenant, or the unscoped writers — the last one written winning, and shown
 * by service_metadata: a tenant's to that tenant only, the unscoped writers' to unscoped readers and to a
 * tenant for the families it has series of. Bounds (entries past them are skipped and counted): */
#define SERVICE_METADATA_MAX_FAMILIES 10000 /* families per writer (a tenant, or the unscoped writers) */
#define SERVICE_METADATA_MAX_TOTAL 100000   /* families over all writers */
#define SERVICE_METADATA_MAX_NAME 1024      /* bytes of a family name, and of a unit */
#define SERVICE_METADATA_MAX_HELP 4096      /* bytes of a help text */

typedef struct service_metadata_counts {
    size_t kept;     /* stored or refreshed */
    size_t too_long; /* a name, unit or help over its bound */
    size_t full;     /* a new family past the bounds on families */
    size_t invalid;  /* no family name */
} service_metadata_counts_t;

/* The series references of writes: a series as the client encoded it (the exact bytes of its labels)
 * within the write scope of ctx (service_write_scope: its tenant and what the tenant appender forces;
 * 0 means "do not cache") -> the reference service_appender's append returned for it. A hit lets the
 * caller use storage_append_ref and skip resolving the labels; when that answers VG_ENOTFOUND (the
 * series is gone) the caller appends by labels and puts the new reference. Thread-safe. */
uint32_t service_write_scope(service_ctx_t *ctx);
uint64_t service_write_ref_get(service_ctx_t *ctx, uint32_t scope, const void *bytes, size_t len); /* 0: none */
void service_write_ref_put(service_ctx_t *ctx, uint32_t scope, const void *bytes, size_t len, uint64_t ref);
/* The same as get for n keys at once (a NULL key: 0), faster for many: their lookups overlap. */
void service_write_refs_get(service_ctx_t *ctx, uint32_t scope, size_t n, const uint8_t *const *keys, const size_t *lens,
                            uint64_t *refs);

struct ingest_rw_reader;
/* Keeps the metadata entries of a loaded remote_write request for ctx's writer (its tenant when
 * scoped); rd's metadata cursor is consumed. Never fails for the entries themselves — they are counted
 * in *out (may be NULL) and in vigil_remote_write_metadata_{,skipped_}total. Returns 0 or VG_ENOMEM
 * (entries before it are kept). */
int service_write_metadata(service_ctx_t *ctx, struct ingest_rw_reader *rd, service_metadata_counts_t *out);

/* ---- remote_write out (forward.c) ---- */
/* Starts a queue per `remote_write:` entry of the current config over s->db's WAL (set s->db first);
 * queue errors are logged, not returned. A reload then restarts changed queues. */
int service_remote_write_start(service_t *s, vg_error_t *err);
/* Stops every queue, giving them up to flush_ms to send what they hold; each saves its position. */
void service_remote_write_stop(service_t *s, int64_t flush_ms);

#endif
