/* config: vigil's YAML configuration → typed, validated structs, with every error located as
 * `file:line:col: message`.
 *
 * A config_t is immutable once loaded and reference-counted: the server swaps the current pointer on
 * reload, and readers that took a reference keep a consistent view until they drop it. */
#ifndef VG_CONFIG_H
#define VG_CONFIG_H

#include "model/labels.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/log.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Hard bounds on what a config file may be: a bigger or deeper file is refused. */
#define CONFIG_MAX_FILE_BYTES (16u << 20)
#define CONFIG_MAX_DEPTH 64

typedef struct config_server {
    char *listen;             /* "host:port", "[v6]:port" */
    int64_t read_timeout_ms;  /* idle/read timeout per connection */
    int64_t header_timeout_ms; /* a request head (request line + headers) not complete by then: connection closed */
    uint64_t max_body;        /* bytes */
    uint64_t max_header;      /* bytes of request line + headers */
    int64_t threads;          /* HTTP worker threads */
    int64_t max_connections;
    int64_t max_connections_per_ip; /* concurrent connections from one client address; 0 = no cap */
    int64_t shutdown_timeout_ms;
    char *external_url;       /* the URL users reach vigil at (Prometheus' --web.external-url), no trailing
                                 slash; NULL: none. Alert templates' $externalURL and generator URLs */
} config_server_t;

typedef enum { CONFIG_FSYNC_NEVER, CONFIG_FSYNC_INTERVAL, CONFIG_FSYNC_ALWAYS } config_fsync_t;
typedef enum { CONFIG_BLOCK_CHUNKS_DENSE, CONFIG_BLOCK_CHUNKS_XOR } config_block_chunks_t;

typedef enum { CONFIG_BACKEND_LOCAL, CONFIG_BACKEND_REMOTE } config_backend_t;

typedef struct config_storage {
    char *path;
    int backend;                   /* config_backend_t: who answers reads (default local; remote: remote_query) */
    int64_t retention_ms;          /* default CONFIG_RETENTION_MS; gateway mode CONFIG_GATEWAY_RETENTION_MS */
    uint64_t retention_size;       /* bytes of blocks + WAL + head chunks kept at most; 0 = no limit */
    int wal_fsync;                 /* config_fsync_t, default interval */
    int64_t wal_fsync_interval_ms; /* default 1s */
    bool wal_compression;          /* zstd samples records, default true */
    int64_t block_duration_ms;     /* time range of blocks cut from the head, default 2h */
    int block_chunk_encoding;      /* config_block_chunks_t, default dense */
    int line, col;                 /* where the section was written (0: not in the file) */
} config_storage_t;

typedef struct config_log {
    vg_log_level_t level;
    vg_log_format_t format;
} config_log_t;

/* ---- Prometheus-compatible sections (a prometheus.yml is accepted as is, for what vigil supports) ---- */

typedef struct config_strlist {
    char **v;
    size_t n;
} config_strlist_t;

/* Ordered string pairs (labels, external_labels; params, where a key may repeat). */
typedef struct config_kv {
    char **keys, **values;
    size_t n;
} config_kv_t;

typedef enum {
    CONFIG_RELABEL_REPLACE, CONFIG_RELABEL_KEEP, CONFIG_RELABEL_DROP, CONFIG_RELABEL_KEEPEQUAL,
    CONFIG_RELABEL_DROPEQUAL, CONFIG_RELABEL_HASHMOD, CONFIG_RELABEL_LABELMAP, CONFIG_RELABEL_LABELDROP,
    CONFIG_RELABEL_LABELKEEP, CONFIG_RELABEL_LOWERCASE, CONFIG_RELABEL_UPPERCASE,
} config_relabel_action_t;

typedef struct config_relabel {
    config_strlist_t source_labels;
    char *separator;   /* default ";" */
    char *target_label;
    char *regex;       /* default "(.*)"; validated as RE2, applied fully anchored */
    int64_t modulus;
    char *replacement; /* default "$1" */
    int action;        /* config_relabel_action_t */
    int line, col;     /* where it was defined, for messages */
} config_relabel_t;

typedef struct config_relabel_list {
    config_relabel_t *v;
    size_t n;
} config_relabel_list_t;

typedef struct config_static {
    config_strlist_t targets;
    config_kv_t labels;
    int line, col;
} config_static_t;

typedef struct config_file_sd {
    config_strlist_t files;
    int64_t refresh_interval_ms; /* default 5m */
} config_file_sd_t;

typedef struct config_basic_auth {
    char *username, *password, *password_file;
} config_basic_auth_t;

typedef struct config_authorization {
    char *type; /* default "Bearer" when credentials are given */
    char *credentials, *credentials_file;
} config_authorization_t;

typedef struct config_tls {
    char *ca_file, *cert_file, *key_file, *server_name;
    bool insecure_skip_verify;
} config_tls_t;

/* The HTTP client settings Prometheus' service discovery configs share (inline in each SD config). */
typedef struct config_http_client {
    config_basic_auth_t basic_auth;
    config_authorization_t authorization;
    char *bearer_token, *bearer_token_file;
    config_tls_t tls_config;
    bool follow_redirects; /* default true */
    bool enable_http2;     /* accepted for compatibility (default true); libcurl negotiates */
} config_http_client_t;

/* http_sd_configs: GET url → a JSON list of {targets, labels} (docs/configuration.md). */
typedef struct config_http_sd {
    char *url;
    int64_t refresh_interval_ms; /* default 60s */
    config_http_client_t http;
    int line, col;
} config_http_sd_t;

typedef enum { CONFIG_DNS_SRV, CONFIG_DNS_A, CONFIG_DNS_AAAA, CONFIG_DNS_MX } config_dns_type_t;

/* dns_sd_configs: names looked up through the libc resolver every refresh_interval. */
typedef struct config_dns_sd {
    config_strlist_t names;
    char *type;                  /* as written ("SRV" when absent); resolved into qtype by the check */
    int qtype;                   /* config_dns_type_t */
    int64_t port;                /* required unless SRV */
    int64_t refresh_interval_ms; /* default 30s */
    int line, col;
} config_dns_sd_t;

typedef enum {
    CONFIG_K8S_ENDPOINTS, CONFIG_K8S_ENDPOINTSLICE, CONFIG_K8S_NODE, CONFIG_K8S_POD, CONFIG_K8S_SERVICE,
    CONFIG_K8S_INGRESS, CONFIG_K8S_N_ROLES
} config_k8s_role_t;

typedef struct config_k8s_selector {
    int role; /* config_k8s_role_t */
    char *label, *field;
    int line, col;
} config_k8s_selector_t;

/* kubernetes_sd_configs: list + watch of one role's objects (docs/configuration.md). */
typedef struct config_k8s_sd {
    char *api_server; /* NULL: in-cluster (KUBERNETES_SERVICE_HOST/PORT and the service account) */
    int role;         /* config_k8s_role_t; -1 until set (required) */
    config_http_client_t http;
    struct {
        config_strlist_t names;
        bool own_namespace;
    } namespaces;
    struct { config_k8s_selector_t *v; size_t n; } selectors;
    int line, col;
} config_k8s_sd_t;

/* Names of Kubernetes roles as written in YAML ("endpoints", "pod", …). */
const char *config_k8s_role_name(int role);

typedef struct config_scrape {
    char *job_name;
    int64_t scrape_interval_ms, scrape_timeout_ms; /* 0 in the file = inherit from global */
    char *metrics_path; /* default /metrics */
    char *scheme;       /* http | https */
    config_kv_t params;
    bool honor_labels, honor_timestamps;
    config_basic_auth_t basic_auth;
    config_authorization_t authorization;
    char *bearer_token, *bearer_token_file;
    config_tls_t tls_config;
    struct { config_static_t *v; size_t n; } static_configs;
    struct { config_file_sd_t *v; size_t n; } file_sd_configs;
    struct { config_k8s_sd_t *v; size_t n; } kubernetes_sd_configs;
    struct { config_dns_sd_t *v; size_t n; } dns_sd_configs;
    struct { config_http_sd_t *v; size_t n; } http_sd_configs;
    config_relabel_list_t relabel_configs, metric_relabel_configs;
    int64_t sample_limit, label_limit, label_name_length_limit, label_value_length_limit, target_limit;
    uint64_t body_size_limit;
    bool follow_redirects;
    int line, col;
} config_scrape_t;

typedef struct config_global {
    int64_t scrape_interval_ms;    /* default 15s */
    int64_t scrape_timeout_ms;     /* default 10s */
    int64_t evaluation_interval_ms;/* default 1m */
    config_kv_t external_labels;
} config_global_t;

/* ---- tenancy: auth, tenants, limits (semantics in docs/tenancy.md) ---- */

typedef struct config_jwt_key {
    char *kid;
    char *alg;                 /* shorthand for algorithms: [alg] */
    config_strlist_t algorithms;
    char *public_key_file, *secret_file, *secret, *jwks_file;
    int line, col;
} config_jwt_key_t;

typedef struct config_auth {
    int anonymous; /* -1 unset: true when no JWT key is configured, false otherwise */
    struct {
        char *tenant_claim;
        struct {
            char *name, *value;
        } admin_claim;
        int64_t leeway_ms;
        char *issuer, *audience;
        uint64_t max_token_size;
        struct { config_jwt_key_t *v; size_t n; } keys;
    } jwt;
} config_auth_t;

/* Per-tenant limits; in tenants.overrides a 0 means "the default from `limits`". Rates are per second. */
typedef struct config_limits {
    double request_rate;       /* API requests per tenant and endpoint class (0 = unlimited) */
    int64_t request_burst;
    double ingestion_rate;     /* samples/s per tenant (0 = unlimited) */
    int64_t ingestion_burst;
    int64_t max_series;        /* active series per tenant (0 = unlimited; default in `limits`: a tenth
                                  of max_series_total, config_max_series_default) */
    int64_t max_samples_per_query;
    int64_t max_concurrent_queries;
    int64_t max_query_range_ms;
    int64_t ruler_max_rule_groups;          /* rule groups a tenant may store through the ruler API (0 = unlimited) */
    int64_t ruler_max_rules_per_rule_group; /* rules in one of them (0 = unlimited) */
    int64_t max_api_keys;                   /* API keys a tenant may hold, its Grafana datasource's not
                                               counted (0 = unlimited) */
} config_limits_t;

/* Global ingestion limits, in the top-level `limits` section beside the per-tenant defaults (keys and
 * the paths each bounds: docs/configuration.md). They hold for every tenant and every ingest path —
 * scrape, remote_write, import — so one label set is valid or not wherever it comes from. A scrape
 * job's own label_limit, label_name_length_limit and label_value_length_limit may only tighten them. */
typedef struct config_ingest_limits {
    int64_t max_label_names_per_series;           /* labels per series, __name__ included */
    int64_t max_label_name_length;                /* bytes per label name */
    int64_t max_label_value_length;               /* bytes per label value */
    int64_t active_series_window_ms;              /* a series with a sample this recent counts against max_series */
    uint64_t max_remote_write_decompressed_size;  /* bytes of one remote_write request after snappy */
    int64_t max_remote_write_series_per_request;  /* TimeSeries in one remote_write request */
    uint64_t max_otlp_decompressed_size;          /* bytes of one OTLP request after gzip */
    int64_t max_otlp_data_points_per_request;     /* data points (and resource/scope/metric messages) in one
                                                     OTLP request */
    int64_t max_future_ms;                        /* samples further ahead of the clock are refused (0 = no bound) */
    int64_t max_series_total;                     /* series the storage head holds at most, all tenants and
                                                     anonymous writers together (0 = unlimited; default
                                                     config_max_series_total_default()) */
} config_ingest_limits_t;

typedef struct config_tenant_override {
    char *tenant;
    config_kv_t enforce;       /* label → values (a label repeated once per value) */
    config_limits_t limits;
    int line, col;
} config_tenant_override_t;

typedef struct config_tenants {
    config_kv_t enforce;       /* exactly one label → value template ("client-{org_id}") */
    struct { config_tenant_override_t *v; size_t n; } overrides;
} config_tenants_t;

/* ---- query engine (Prometheus' --query.* flags) ---- */
typedef struct config_query {
    int64_t lookback_delta_ms; /* 5m */
    int64_t timeout_ms;        /* 2m */
    int64_t max_samples;       /* 50000000 */
    int64_t max_concurrent;    /* 20 */
    uint64_t max_bytes;        /* 1GiB: memory one query's evaluation may allocate */
} config_query_t;

/* ---- query results cache (docs/configuration.md, `query_cache`) ---- */
typedef struct config_query_cache {
    bool enabled;              /* true */
    uint64_t max_bytes;        /* 128MiB: results held, all tenants together (least recently used go first) */
    int64_t ttl_ms;            /* 30s: how old a whole answer of the overview endpoints may be */
    int64_t extent_ttl_ms;     /* 1h: how long a cached extent of a range query is trusted */
    int64_t max_freshness_ms;  /* 10m: the newest samples never cached */
} config_query_cache_t;

/* ---- cluster overview (docs/api.md, `clusters`) ---- */
typedef struct config_threshold {
    double warning, critical; /* percent: >= warning is warning, >= critical is critical */
} config_threshold_t;

typedef struct config_clusters {
    char *label;               /* "cluster": the label naming a node's cluster */
    struct {
        config_threshold_t cpu, memory, disk; /* 70/90, 80/95, 80/90 */
    } thresholds;
    char *grafana_template;    /* the dashboard template of a cluster's public dashboard ("vigil-overview") */
    bool alert_rules;          /* false; true: the thresholds become the operator rule group vigil-cluster-thresholds */
    int64_t query_parallelism; /* 4: queries of one overview request evaluated at once */
} config_clusters_t;

/* ---- grafana (docs/grafana.md) ---- */
typedef struct config_grafana {
    char *url;                 /* NULL: the integration is off */
    char *external_url, *admin_user, *admin_password, *admin_password_file, *vigil_url, *dashboards_dir;
    int64_t token_ttl_ms, timeout_ms, connect_timeout_ms, retry_backoff_ms, retry_backoff_max_ms;
    int64_t retries;
    uint64_t max_response_bytes;
    config_kv_t variables;
    int64_t token_requests;    /* POST /api/v1/metrics/grafana-token per tenant per token_window */
    int64_t token_window_ms;
    config_strlist_t datasource_url_allow; /* URL prefixes a tenant's datasource may point under */
} config_grafana_t;

/* ---- rules (Prometheus' --rules.alert.* flags) ---- */
typedef struct config_rules {
    int64_t alert_for_outage_tolerance_ms; /* 1h */
    int64_t alert_for_grace_period_ms;     /* 10m */
    int64_t alert_resend_delay_ms;         /* 1m */
    uint64_t ruler_max_group_size;         /* bytes of one rule group uploaded through the ruler API (256KiB) */
    int64_t evaluation_concurrency;        /* rule evaluation threads; 0: the number of CPUs (restart to change) */
} config_rules_t;
/* ---- alerting: where alerts go (Prometheus' `alerting:` section; docs/configuration.md) ---- */
typedef enum { CONFIG_AM_API_V1, CONFIG_AM_API_V2 } config_am_api_t;

/* One Alertmanager set: the Alertmanagers of its static_configs, with one HTTP client setup. */
typedef struct config_alertmanager {
    char *scheme;        /* http | https (default http) */
    char *path_prefix;   /* prefix of /api/v2/alerts (default "/") */
    int64_t timeout_ms;  /* per POST (default 10s) */
    int api_version;     /* config_am_api_t; only v2 passes the checks */
    config_basic_auth_t basic_auth;
    config_authorization_t authorization;
    char *bearer_token, *bearer_token_file;
    config_tls_t tls_config;
    bool follow_redirects; /* default true */
    struct { config_static_t *v; size_t n; } static_configs;
    config_relabel_list_t relabel_configs; /* over __address__, __scheme__, __alerts_path__ and the group labels */
    int line, col;
} config_alertmanager_t;

typedef struct config_alerting {
    config_relabel_list_t alert_relabel_configs; /* applied to every alert after the external labels */
    struct { config_alertmanager_t *v; size_t n; } alertmanagers;
    int64_t notification_queue_capacity; /* alerts queued for sending (default 10000; Prometheus'
                                            --alertmanager.notification-queue-capacity) */
} config_alerting_t;
/* ---- gateway mode: reads forwarded to a Prometheus-compatible API (docs/configuration.md) ---- */
typedef struct config_remote_query {
    char *url;              /* the API root (…/api/v1/query is appended); required with storage.backend: remote */
    char *tenant_header;    /* e.g. X-Scope-OrgID: sent with the caller's tenant id (NULL: none) */
    char *unscoped_tenant;  /* tenant_header's value for unscoped callers (NULL: no header for them) */
    config_kv_t headers;    /* sent with every request */
    int64_t timeout_ms;     /* per request (default 2m) */
    config_tls_t tls_config;
    config_basic_auth_t basic_auth;
    config_authorization_t authorization;
    int line, col;
} config_remote_query_t;

/* ---- POST /api/v1/read (remote read served by vigil) ---- */
typedef struct config_remote_read {
    uint64_t max_request_bytes;  /* a ReadRequest after snappy */
    int64_t max_queries;         /* queries in one request */
    int64_t sample_limit;        /* samples one request may return (all queries together) */
    uint64_t max_bytes_in_frame; /* STREAMED_XOR_CHUNKS: message bytes per frame (a series is never split) */
} config_remote_read_t;
/* ---- remote_read: other stores read into vigil's queries (docs/configuration.md#remote_read) ---- */
typedef struct config_remote_read_entry {
    char *url;                   /* required, http or https: the endpoint itself (…/api/v1/read) */
    char *name;                  /* unique; default: the first 6 hex digits of a hash of the entry */
    int64_t remote_timeout_ms;   /* per request (default 1m) */
    config_kv_t headers;
    bool read_recent;            /* default false: only queries reaching before the local data go remote */
    config_kv_t required_matchers; /* name → value: selectors without all of them are not sent */
    bool filter_external_labels; /* default true: external labels added to selectors, removed from answers */
    config_basic_auth_t basic_auth;
    config_authorization_t authorization;
    config_tls_t tls_config;
    bool tenant_safe;            /* vigil: tenants' queries read it too (default false: unscoped callers only) */
    uint64_t max_response_bytes; /* vigil: one answer, compressed and decompressed (default 256MiB) */
    int64_t sample_limit;        /* vigil: samples one query may read from it (default 50000000) */
    int line, col;
} config_remote_read_entry_t;
/* ---- remote_write: forwarding what is stored to Prometheus-compatible receivers (docs/remote-write.md) ---- */
typedef struct config_rw_queue {
    int64_t capacity;               /* samples buffered per shard (default 2500) */
    int64_t min_shards, max_shards; /* default 1, 200 */
    int64_t max_samples_per_send;   /* default 500 */
    int64_t batch_send_deadline_ms; /* default 5s */
    int64_t min_backoff_ms, max_backoff_ms; /* default 30ms, 5s */
    bool retry_on_http_429;         /* default false: a 429 drops the batch as other 4xx do */
} config_rw_queue_t;

typedef struct config_rw_metadata {
    bool send;                /* default true */
    int64_t send_interval_ms; /* default 1m */
} config_rw_metadata_t;

typedef struct config_remote_write {
    char *url;                 /* required, http or https */
    char *name;                /* unique; default: the first 6 hex digits of a hash of the entry */
    int64_t remote_timeout_ms; /* default 30s */
    config_kv_t headers;
    config_basic_auth_t basic_auth;
    config_authorization_t authorization;
    config_tls_t tls_config;
    config_relabel_list_t write_relabel_configs;
    config_rw_queue_t queue_config;
    config_rw_metadata_t metadata_config;
    char *tenant_header;       /* vigil: one request per tenant with this header set to the tenant label's value */
    char *default_tenant;      /* with tenant_header: the value for series without the tenant label (NULL: they are
                                  dropped and counted) */
    int line, col;
} config_remote_write_t;

typedef struct config {
    _Atomic int refs;
    char *file;         /* the file it was read from ("" for a string) */
    char hash[17];      /* hex XXH64 of the file's bytes */
    config_server_t server;
    config_storage_t storage;
    config_log_t log;
    config_global_t global;
    struct { config_scrape_t *v; size_t n; } scrape_configs;
    config_auth_t auth;
    config_tenants_t tenants;
    config_limits_t limits;
    config_ingest_limits_t ingest_limits; /* also under `limits:` in the file */
    config_grafana_t grafana;
    config_query_t query;
    config_query_cache_t query_cache;
    config_clusters_t clusters;
    config_strlist_t rule_files; /* globs, relative to the config file's directory */
    config_rules_t rules;
    config_alerting_t alerting;
    config_remote_query_t remote_query;
    config_remote_read_t remote_read_limits;
    struct { config_remote_write_t *v; size_t n; } remote_write;
    struct { config_remote_read_entry_t *v; size_t n; } remote_read;
} config_t;

/* Whether requests without a token are served (unscoped). */
bool config_anonymous(const config_t *c);
/* The effective limits of a tenant (its overrides over the defaults); tenant may be NULL. */
void config_tenant_limits(const config_t *c, const char *tenant, config_limits_t *out);

/* Bytes of memory budgeted per series held by the storage head, and the share of the server-wide
 * series cap a tenant gets by default: limits.max_series_total defaults to the memory available to
 * the process / CONFIG_BYTES_PER_SERIES, and limits.max_series to max_series_total /
 * CONFIG_TENANT_SERIES_SHARE (docs/configuration.md). */
/* storage.retention when unset: 15 days; with storage.backend remote (gateway mode), where the local
 * TSDB only buffers what the remote_write queues send, 6 hours. */
#define CONFIG_RETENTION_MS (15LL * 24 * 3600 * 1000)
#define CONFIG_GATEWAY_RETENTION_MS (6LL * 3600 * 1000)
#define CONFIG_BYTES_PER_SERIES 4096
#define CONFIG_TENANT_SERIES_SHARE 10
/* The memory available to the process: physical memory, or the cgroup's memory limit when lower
 * (0 when neither can be read). */
uint64_t config_memory_bytes(void);

/* The label limits every ingest path applies (limits.max_label_names_per_series, _name_length,
 * _value_length), in the form model_labels_normalize() takes. */
void config_label_limits(const config_t *c, model_label_limits_t *out);

/* A fingerprint of remote_write entry i with everything its queue depends on (secrets, external labels,
 * the tenant label): equal fingerprints across a reload mean the running queue can be kept. */
uint64_t config_remote_write_hash(const config_t *c, size_t i);

/* Names of relabel actions as written in YAML ("replace", "keep", …). */
const char *config_relabel_action_name(config_relabel_action_t a);

/* Reads and validates a config file. On success *out holds a config with one reference (drop it with
 * config_unref); on failure *out is NULL and err says where and why (code VG_ECONFIG or VG_EIO). */
int config_load_file(const char *path, config_t **out, vg_error_t *err);

/* Same from bytes in memory; name is used in messages and stored as `file`. */
int config_parse(const char *name, const char *text, size_t len, config_t **out, vg_error_t *err);

/* A config holding only the defaults (one reference), or NULL when out of memory. */
config_t *config_default(void);

config_t *config_ref(config_t *c);
void config_unref(config_t *c);

/* Parses a file_sd target file (YAML or JSON: a list of {targets: [...], labels: {...}}). On success
 * *out holds *n_out groups (free with config_target_groups_free); errors are located like config errors. */
int config_parse_target_groups(const char *text, size_t len, config_static_t **out, size_t *n_out, vg_error_t *err);
void config_target_groups_free(config_static_t *v, size_t n);

/* The effective configuration as YAML (every key, defaults included; secrets as "<secret>"); parsing
 * it again gives the same configuration, except for the secrets. */
void config_write_yaml(const config_t *c, vg_buf_t *out);

/* "file:line:col: message" for an error from config_load_file/config_parse, into out (cap bytes). */
void config_error_format(const vg_error_t *err, const char *file, char *out, size_t cap);

/* Splits "host:port" or "[v6]:port" into host (cap bytes) and port. Returns 0 or VG_EINVAL. */
int config_split_listen(const char *listen, char *host, size_t cap, int *port);

#endif
