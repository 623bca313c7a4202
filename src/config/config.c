/* YAML config loading: libyaml builds a document tree (with line/column marks), then a table-driven
 * decoder walks it into config_t. Each section is a table of fields (key, type, offset, bounds), so a
 * new section is a table, not new parsing code. Any key not in a table, a value of the wrong type, a
 * bad duration or size, a value out of bounds, or a duplicate key is an error at its exact position;
 * the first error wins and nothing partial escapes (the caller gets NULL). */
#include "config.h"

#include "model/regex.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/timeutil.h"

#include <stdarg.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <xxhash.h>
#include <yaml.h>

typedef enum {
    F_STR, F_ADDR, F_REGEX, F_DURATION, F_SIZE, F_INT, F_BOOL, F_ENUM,
    F_STRLIST, F_KV, F_LABELS, F_PARAMS, F_STRUCT, F_LIST, F_FLOAT, F_MAPOF, F_VALUES,
} ftype_t;

typedef struct field {
    const char *key;
    ftype_t type;
    size_t off;                /* from the start of the struct the table describes */
    const struct field *sub;   /* F_STRUCT / F_LIST: the nested table, NULL-key terminated */
    int64_t min, max;          /* F_DURATION (ms), F_SIZE (bytes), F_INT */
    const char *const *names;  /* F_ENUM: value i is names[i]; NULL-terminated */
    size_t elem_size;          /* F_LIST */
    void (*init)(void *elem);  /* F_LIST: element defaults (heap strings only: free walks the table) */
    size_t pos_off;            /* F_LIST: offset of `int line, col` in the element, or 0 for none */
    bool empty_ok;             /* F_STR: "" is a valid value */
    bool secret;               /* F_STR: shown as <secret> by config_write_yaml */
    size_t key_off;            /* F_MAPOF: offset of the element's `char *` key (its mapping key) */
} field_t;

/* A list of structs as stored: the element array and its count. */
typedef struct {
    void *v;
    size_t n;
} anylist_t;

#define END {.key = NULL}
#define DAY (24LL * 3600 * 1000)

static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};
static const char *const log_formats[] = {"json", "logfmt", NULL};
static const char *const relabel_actions[] = {"replace",  "keep",     "drop",      "keepequal",
                                              "dropequal", "hashmod",  "labelmap",  "labeldrop",
                                              "labelkeep", "lowercase", "uppercase", NULL};

const char *config_relabel_action_name(config_relabel_action_t a) {
    return (unsigned)a < sizeof relabel_actions / sizeof relabel_actions[0] - 1 ? relabel_actions[a] : "?";
}

#define S(T, m) offsetof(T, m)

static const field_t server_fields[] = {
    {.key = "listen", .type = F_ADDR, .off = S(config_server_t, listen)},
    {.key = "read_timeout", .type = F_DURATION, .off = S(config_server_t, read_timeout_ms), .min = 1000, .max = DAY},
    {.key = "max_body", .type = F_SIZE, .off = S(config_server_t, max_body), .min = 1024, .max = 4LL << 30},
    {.key = "max_header", .type = F_SIZE, .off = S(config_server_t, max_header), .min = 4096, .max = 1 << 20},
    {.key = "threads", .type = F_INT, .off = S(config_server_t, threads), .min = 1, .max = 256},
    {.key = "max_connections", .type = F_INT, .off = S(config_server_t, max_connections), .min = 1, .max = 1000000},
    {.key = "shutdown_timeout", .type = F_DURATION, .off = S(config_server_t, shutdown_timeout_ms), .min = 0, .max = 3600 * 1000},
    END,
};

static const char *const fsync_policies[] = {"never", "interval", "always", NULL};

static const field_t storage_fields[] = {
    {.key = "path", .type = F_STR, .off = S(config_storage_t, path)},
    {.key = "wal_fsync", .type = F_ENUM, .off = S(config_storage_t, wal_fsync), .names = fsync_policies},
    {.key = "wal_fsync_interval", .type = F_DURATION, .off = S(config_storage_t, wal_fsync_interval_ms), .min = 1, .max = 60 * 1000},
    {.key = "wal_compression", .type = F_BOOL, .off = S(config_storage_t, wal_compression)},
    {.key = "retention", .type = F_DURATION, .off = S(config_storage_t, retention_ms), .min = 60 * 1000, .max = 100 * 365 * DAY},
    END,
};

static const field_t log_fields[] = {
    {.key = "level", .type = F_ENUM, .off = S(config_log_t, level), .names = log_levels},
    {.key = "format", .type = F_ENUM, .off = S(config_log_t, format), .names = log_formats},
    END,
};

static const field_t global_fields[] = {
    {.key = "scrape_interval", .type = F_DURATION, .off = S(config_global_t, scrape_interval_ms), .min = 1, .max = DAY},
    {.key = "scrape_timeout", .type = F_DURATION, .off = S(config_global_t, scrape_timeout_ms), .min = 1, .max = DAY},
    {.key = "evaluation_interval", .type = F_DURATION, .off = S(config_global_t, evaluation_interval_ms), .min = 1, .max = DAY},
    {.key = "external_labels", .type = F_LABELS, .off = S(config_global_t, external_labels)},
    END,
};

static const field_t relabel_fields[] = {
    {.key = "source_labels", .type = F_STRLIST, .off = S(config_relabel_t, source_labels)},
    {.key = "separator", .type = F_STR, .off = S(config_relabel_t, separator), .empty_ok = true},
    {.key = "target_label", .type = F_STR, .off = S(config_relabel_t, target_label)},
    {.key = "regex", .type = F_REGEX, .off = S(config_relabel_t, regex), .empty_ok = true},
    {.key = "modulus", .type = F_INT, .off = S(config_relabel_t, modulus), .min = 0, .max = INT64_MAX},
    {.key = "replacement", .type = F_STR, .off = S(config_relabel_t, replacement), .empty_ok = true},
    {.key = "action", .type = F_ENUM, .off = S(config_relabel_t, action), .names = relabel_actions},
    END,
};

static const field_t static_fields[] = {
    {.key = "targets", .type = F_STRLIST, .off = S(config_static_t, targets)},
    {.key = "labels", .type = F_LABELS, .off = S(config_static_t, labels)},
    END,
};

static const field_t file_sd_fields[] = {
    {.key = "files", .type = F_STRLIST, .off = S(config_file_sd_t, files)},
    {.key = "refresh_interval", .type = F_DURATION, .off = S(config_file_sd_t, refresh_interval_ms), .min = 1000, .max = DAY},
    END,
};

static const field_t basic_auth_fields[] = {
    {.key = "username", .type = F_STR, .off = S(config_basic_auth_t, username), .empty_ok = true},
    {.key = "password", .type = F_STR, .off = S(config_basic_auth_t, password), .empty_ok = true, .secret = true},
    {.key = "password_file", .type = F_STR, .off = S(config_basic_auth_t, password_file)},
    END,
};

static const field_t authorization_fields[] = {
    {.key = "type", .type = F_STR, .off = S(config_authorization_t, type)},
    {.key = "credentials", .type = F_STR, .off = S(config_authorization_t, credentials), .secret = true},
    {.key = "credentials_file", .type = F_STR, .off = S(config_authorization_t, credentials_file)},
    END,
};

static const field_t tls_fields[] = {
    {.key = "ca_file", .type = F_STR, .off = S(config_tls_t, ca_file)},
    {.key = "cert_file", .type = F_STR, .off = S(config_tls_t, cert_file)},
    {.key = "key_file", .type = F_STR, .off = S(config_tls_t, key_file)},
    {.key = "server_name", .type = F_STR, .off = S(config_tls_t, server_name)},
    {.key = "insecure_skip_verify", .type = F_BOOL, .off = S(config_tls_t, insecure_skip_verify)},
    END,
};

static void relabel_init(void *p) {
    config_relabel_t *r = p;
    r->separator = strdup(";");
    r->regex = strdup("(.*)");
    r->replacement = strdup("$1");
    r->action = CONFIG_RELABEL_REPLACE;
}

static void file_sd_init(void *p) { ((config_file_sd_t *)p)->refresh_interval_ms = 5 * 60 * 1000; }

static void scrape_init(void *p) {
    config_scrape_t *s = p;
    s->metrics_path = strdup("/metrics");
    s->scheme = strdup("http");
    s->honor_timestamps = true;
    s->follow_redirects = true;
}

#define LIST(key_, T, member, sub_, elem, init_)                                                            \
    {.key = key_, .type = F_LIST, .off = S(T, member), .sub = sub_, .elem_size = sizeof(elem), .init = init_, \
     .pos_off = offsetof(elem, line)}

static const field_t scrape_fields[] = {
    {.key = "job_name", .type = F_STR, .off = S(config_scrape_t, job_name)},
    {.key = "scrape_interval", .type = F_DURATION, .off = S(config_scrape_t, scrape_interval_ms), .min = 1, .max = DAY},
    {.key = "scrape_timeout", .type = F_DURATION, .off = S(config_scrape_t, scrape_timeout_ms), .min = 1, .max = DAY},
    {.key = "metrics_path", .type = F_STR, .off = S(config_scrape_t, metrics_path)},
    {.key = "scheme", .type = F_STR, .off = S(config_scrape_t, scheme)},
    {.key = "params", .type = F_PARAMS, .off = S(config_scrape_t, params)},
    {.key = "honor_labels", .type = F_BOOL, .off = S(config_scrape_t, honor_labels)},
    {.key = "honor_timestamps", .type = F_BOOL, .off = S(config_scrape_t, honor_timestamps)},
    {.key = "basic_auth", .type = F_STRUCT, .off = S(config_scrape_t, basic_auth), .sub = basic_auth_fields},
    {.key = "authorization", .type = F_STRUCT, .off = S(config_scrape_t, authorization), .sub = authorization_fields},
    {.key = "bearer_token", .type = F_STR, .off = S(config_scrape_t, bearer_token), .secret = true},
    {.key = "bearer_token_file", .type = F_STR, .off = S(config_scrape_t, bearer_token_file)},
    {.key = "tls_config", .type = F_STRUCT, .off = S(config_scrape_t, tls_config), .sub = tls_fields},
    LIST("static_configs", config_scrape_t, static_configs, static_fields, config_static_t, NULL),
    {.key = "file_sd_configs", .type = F_LIST, .off = S(config_scrape_t, file_sd_configs), .sub = file_sd_fields,
     .elem_size = sizeof(config_file_sd_t), .init = file_sd_init},
    LIST("relabel_configs", config_scrape_t, relabel_configs, relabel_fields, config_relabel_t, relabel_init),
    LIST("metric_relabel_configs", config_scrape_t, metric_relabel_configs, relabel_fields, config_relabel_t, relabel_init),
    {.key = "sample_limit", .type = F_INT, .off = S(config_scrape_t, sample_limit), .min = 0, .max = INT64_MAX},
    {.key = "label_limit", .type = F_INT, .off = S(config_scrape_t, label_limit), .min = 0, .max = INT64_MAX},
    {.key = "label_name_length_limit", .type = F_INT, .off = S(config_scrape_t, label_name_length_limit), .min = 0, .max = INT64_MAX},
    {.key = "label_value_length_limit", .type = F_INT, .off = S(config_scrape_t, label_value_length_limit), .min = 0, .max = INT64_MAX},
    {.key = "target_limit", .type = F_INT, .off = S(config_scrape_t, target_limit), .min = 0, .max = INT64_MAX},
    {.key = "body_size_limit", .type = F_SIZE, .off = S(config_scrape_t, body_size_limit), .min = 0, .max = INT64_MAX},
    {.key = "follow_redirects", .type = F_BOOL, .off = S(config_scrape_t, follow_redirects)},
    END,
};

static const field_t jwt_key_fields[] = {
    {.key = "kid", .type = F_STR, .off = S(config_jwt_key_t, kid)},
    {.key = "alg", .type = F_STR, .off = S(config_jwt_key_t, alg)},
    {.key = "algorithms", .type = F_STRLIST, .off = S(config_jwt_key_t, algorithms)},
    {.key = "public_key_file", .type = F_STR, .off = S(config_jwt_key_t, public_key_file)},
    {.key = "secret_file", .type = F_STR, .off = S(config_jwt_key_t, secret_file)},
    {.key = "secret", .type = F_STR, .off = S(config_jwt_key_t, secret), .secret = true},
    {.key = "jwks_file", .type = F_STR, .off = S(config_jwt_key_t, jwks_file)},
    END,
};

static const field_t admin_claim_fields[] = {
    {.key = "name", .type = F_STR, .off = 0},
    {.key = "value", .type = F_STR, .off = sizeof(char *)},
    END,
};

static const field_t jwt_fields[] = {
    {.key = "tenant_claim", .type = F_STR, .off = S(config_auth_t, jwt.tenant_claim) - S(config_auth_t, jwt)},
    {.key = "admin_claim", .type = F_STRUCT, .off = S(config_auth_t, jwt.admin_claim) - S(config_auth_t, jwt), .sub = admin_claim_fields},
    {.key = "leeway", .type = F_DURATION, .off = S(config_auth_t, jwt.leeway_ms) - S(config_auth_t, jwt), .min = 0, .max = 3600 * 1000},
    {.key = "issuer", .type = F_STR, .off = S(config_auth_t, jwt.issuer) - S(config_auth_t, jwt)},
    {.key = "audience", .type = F_STR, .off = S(config_auth_t, jwt.audience) - S(config_auth_t, jwt)},
    {.key = "max_token_size", .type = F_SIZE, .off = S(config_auth_t, jwt.max_token_size) - S(config_auth_t, jwt), .min = 256, .max = 65536},
    {.key = "keys", .type = F_LIST, .off = S(config_auth_t, jwt.keys) - S(config_auth_t, jwt), .sub = jwt_key_fields,
     .elem_size = sizeof(config_jwt_key_t), .pos_off = offsetof(config_jwt_key_t, line)},
    END,
};

static const char *const tristate_bool[] = {"false", "true", NULL};

static const field_t auth_fields[] = {
    {.key = "anonymous", .type = F_ENUM, .off = S(config_auth_t, anonymous), .names = tristate_bool},
    {.key = "jwt", .type = F_STRUCT, .off = S(config_auth_t, jwt), .sub = jwt_fields},
    END,
};

#define LIMIT_FIELDS(T)                                                                                                  \
    {.key = "request_rate", .type = F_FLOAT, .off = S(T, request_rate), .min = 0, .max = 1000000000},                  \
    {.key = "request_burst", .type = F_INT, .off = S(T, request_burst), .min = 0, .max = 1000000000},                  \
    {.key = "ingestion_rate", .type = F_FLOAT, .off = S(T, ingestion_rate), .min = 0, .max = 1000000000000LL},         \
    {.key = "ingestion_burst", .type = F_INT, .off = S(T, ingestion_burst), .min = 0, .max = 1000000000000LL},         \
    {.key = "max_series", .type = F_INT, .off = S(T, max_series), .min = 0, .max = INT64_MAX},                         \
    {.key = "max_samples_per_query", .type = F_INT, .off = S(T, max_samples_per_query), .min = 0, .max = INT64_MAX},   \
    {.key = "max_concurrent_queries", .type = F_INT, .off = S(T, max_concurrent_queries), .min = 0, .max = 100000},    \
    {.key = "max_query_range", .type = F_DURATION, .off = S(T, max_query_range_ms), .min = 0, .max = 100 * 365 * DAY}

static const field_t limits_fields[] = {LIMIT_FIELDS(config_limits_t), END};

static const field_t override_fields[] = {
    {.key = "enforce", .type = F_VALUES, .off = S(config_tenant_override_t, enforce)},
    {.key = "limits", .type = F_STRUCT, .off = S(config_tenant_override_t, limits), .sub = limits_fields},
    END,
};

static const field_t tenants_fields[] = {
    {.key = "enforce", .type = F_KV, .off = S(config_tenants_t, enforce)},
    {.key = "overrides", .type = F_MAPOF, .off = S(config_tenants_t, overrides), .sub = override_fields,
     .elem_size = sizeof(config_tenant_override_t), .key_off = offsetof(config_tenant_override_t, tenant),
     .pos_off = offsetof(config_tenant_override_t, line)},
    END,
};

static const field_t grafana_fields[] = {
    {.key = "url", .type = F_STR, .off = S(config_grafana_t, url)},
    {.key = "external_url", .type = F_STR, .off = S(config_grafana_t, external_url)},
    {.key = "admin_user", .type = F_STR, .off = S(config_grafana_t, admin_user)},
    {.key = "admin_password", .type = F_STR, .off = S(config_grafana_t, admin_password), .secret = true},
    {.key = "admin_password_file", .type = F_STR, .off = S(config_grafana_t, admin_password_file)},
    {.key = "vigil_url", .type = F_STR, .off = S(config_grafana_t, vigil_url)},
    {.key = "dashboards_dir", .type = F_STR, .off = S(config_grafana_t, dashboards_dir)},
    {.key = "token_ttl", .type = F_DURATION, .off = S(config_grafana_t, token_ttl_ms), .min = 60 * 1000, .max = 10 * 365 * DAY},
    {.key = "timeout", .type = F_DURATION, .off = S(config_grafana_t, timeout_ms), .min = 100, .max = 10 * 60 * 1000},
    {.key = "connect_timeout", .type = F_DURATION, .off = S(config_grafana_t, connect_timeout_ms), .min = 100, .max = 60 * 1000},
    {.key = "retries", .type = F_INT, .off = S(config_grafana_t, retries), .min = 0, .max = 10},
    {.key = "retry_backoff", .type = F_DURATION, .off = S(config_grafana_t, retry_backoff_ms), .min = 1, .max = 60 * 1000},
    {.key = "retry_backoff_max", .type = F_DURATION, .off = S(config_grafana_t, retry_backoff_max_ms), .min = 1, .max = 10 * 60 * 1000},
    {.key = "max_response_bytes", .type = F_SIZE, .off = S(config_grafana_t, max_response_bytes), .min = 4096, .max = 1LL << 30},
    {.key = "variables", .type = F_KV, .off = S(config_grafana_t, variables)},
    {.key = "token_requests", .type = F_INT, .off = S(config_grafana_t, token_requests), .min = 1, .max = 1000000},
    {.key = "token_window", .type = F_DURATION, .off = S(config_grafana_t, token_window_ms), .min = 1000, .max = DAY},
    END,
};

static const field_t query_fields[] = {
    {.key = "lookback_delta", .type = F_DURATION, .off = S(config_query_t, lookback_delta_ms), .min = 1000, .max = DAY},
    {.key = "timeout", .type = F_DURATION, .off = S(config_query_t, timeout_ms), .min = 100, .max = DAY},
    {.key = "max_samples", .type = F_INT, .off = S(config_query_t, max_samples), .min = 1, .max = INT64_MAX},
    {.key = "max_concurrent", .type = F_INT, .off = S(config_query_t, max_concurrent), .min = 1, .max = 10000},
    END,
};

static const field_t root_fields[] = {
    {.key = "server", .type = F_STRUCT, .off = S(config_t, server), .sub = server_fields},
    {.key = "storage", .type = F_STRUCT, .off = S(config_t, storage), .sub = storage_fields},
    {.key = "log", .type = F_STRUCT, .off = S(config_t, log), .sub = log_fields},
    {.key = "global", .type = F_STRUCT, .off = S(config_t, global), .sub = global_fields},
    LIST("scrape_configs", config_t, scrape_configs, scrape_fields, config_scrape_t, scrape_init),
    {.key = "auth", .type = F_STRUCT, .off = S(config_t, auth), .sub = auth_fields},
    {.key = "tenants", .type = F_STRUCT, .off = S(config_t, tenants), .sub = tenants_fields},
    {.key = "limits", .type = F_STRUCT, .off = S(config_t, limits), .sub = limits_fields},
    {.key = "grafana", .type = F_STRUCT, .off = S(config_t, grafana), .sub = grafana_fields},
    {.key = "query", .type = F_STRUCT, .off = S(config_t, query), .sub = query_fields},
    END,
};

typedef struct {
    yaml_document_t *doc;
    vg_error_t *err;
    int depth;
} dec_t;

static int fail_at(dec_t *d, const yaml_node_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail_at(dec_t *d, const yaml_node_t *n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char msg[VG_ERROR_MSG_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    vg_error_set(d->err, VG_ECONFIG, "%s", msg);
    if (n) {
        d->err->line = (int)n->start_mark.line + 1;
        d->err->col = (int)n->start_mark.column + 1;
        d->err->pos = (long)n->start_mark.index;
    }
    return VG_ECONFIG;
}

/* The same for semantic checks after decoding, at a position remembered in the struct. */
static int fail_pos(vg_error_t *err, int line, int col, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int fail_pos(vg_error_t *err, int line, int col, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char msg[VG_ERROR_MSG_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    vg_error_set(err, VG_ECONFIG, "%s", msg);
    err->line = line;
    err->col = col;
    return VG_ECONFIG;
}

static const char *scalar(const yaml_node_t *n, size_t *len) {
    *len = n->data.scalar.length;
    return (const char *)n->data.scalar.value;
}

static bool is_null(const yaml_node_t *n) {
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return false;
    size_t len;
    const char *s = scalar(n, &len);
    return len == 0 || (len == 1 && s[0] == '~') || (len == 4 && !memcmp(s, "null", 4));
}

static const char *kind_name(const yaml_node_t *n) {
    switch (n->type) {
    case YAML_MAPPING_NODE: return "a mapping";
    case YAML_SEQUENCE_NODE: return "a list";
    default: return "a scalar";
    }
}

static bool valid_label_name(const char *s, size_t n) {
    if (n == 0) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (i && c >= '0' && c <= '9')))
            return false;
    }
    return true;
}

/* A heap copy of a scalar that must be a string without NUL bytes. */
static int dup_scalar(dec_t *d, const yaml_node_t *v, const char *path, char **out) {
    if (v->type != YAML_SCALAR_NODE) return fail_at(d, v, "%s: expected a string, got %s", path, kind_name(v));
    size_t len;
    const char *s = scalar(v, &len);
    if (memchr(s, '\0', len)) return fail_at(d, v, "%s: value contains a NUL byte", path);
    *out = strndup(s, len);
    return *out ? 0 : vg_error_set(d->err, VG_ENOMEM, "out of memory");
}

static int push_str(dec_t *d, char ***arr, size_t *n, char *s) {
    char **na = realloc(*arr, (*n + 1) * sizeof *na);
    if (!na) {
        free(s);
        return vg_error_set(d->err, VG_ENOMEM, "out of memory");
    }
    na[(*n)++] = s;
    *arr = na;
    return 0;
}

static int decode_strlist(dec_t *d, const yaml_node_t *v, config_strlist_t *out, const char *path) {
    if (is_null(v)) return 0;
    if (v->type != YAML_SEQUENCE_NODE) return fail_at(d, v, "%s: expected a list of strings, got %s", path, kind_name(v));
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
        yaml_node_t *e = yaml_document_get_node(d->doc, *it);
        char *str;
        int rc = e ? dup_scalar(d, e, path, &str) : fail_at(d, v, "%s: malformed list", path);
        if (rc || (rc = push_str(d, &out->v, &out->n, str))) return rc;
    }
    return 0;
}

/* label-name → string (F_KV, F_LABELS) or name → list of strings flattened into repeated keys (F_PARAMS). */
static int decode_kv(dec_t *d, const yaml_node_t *v, const field_t *f, config_kv_t *out, const char *path) {
    if (is_null(v)) return 0;
    if (v->type != YAML_MAPPING_NODE) return fail_at(d, v, "%s: expected a mapping, got %s", path, kind_name(v));
    for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(d->doc, p->key), *val = yaml_document_get_node(d->doc, p->value);
        if (!k || !val) return fail_at(d, v, "%s: malformed mapping", path);
        char *key;
        int rc = dup_scalar(d, k, path, &key);
        if (rc) return rc;
        if (f->type == F_LABELS && !valid_label_name(key, strlen(key))) {
            rc = fail_at(d, k, "%s: \"%s\" is not a valid label name", path, key);
            free(key);
            return rc;
        }
        for (size_t i = 0; i < out->n && f->type != F_PARAMS && f->type != F_VALUES; i++)
            if (!strcmp(out->keys[i], key)) {
                free(key);
                return fail_at(d, k, "%s: duplicate key \"%s\"", path, out->keys[i]);
            }
        if (f->type == F_VALUES && val->type == YAML_SCALAR_NODE) {
            char *one;
            if ((rc = dup_scalar(d, val, path, &one))) {
                free(key);
                return rc;
            }
            size_t n0 = out->n;
            if ((rc = push_str(d, &out->keys, &n0, key))) {
                free(one);
                return rc;
            }
            if ((rc = push_str(d, &out->values, &out->n, one))) return rc;
            continue;
        }
        if (f->type == F_PARAMS || f->type == F_VALUES) {
            config_strlist_t vals = {0};
            if ((rc = decode_strlist(d, val, &vals, path))) {
                free(key);
                for (size_t i = 0; i < vals.n; i++) free(vals.v[i]);
                free(vals.v);
                return rc;
            }
            for (size_t i = 0; i < vals.n && !rc; i++) {
                char *kc = strdup(key);
                size_t n0 = out->n;
                rc = kc ? push_str(d, &out->keys, &n0, kc) : vg_error_set(d->err, VG_ENOMEM, "out of memory");
                if (!rc) {
                    rc = push_str(d, &out->values, &out->n, vals.v[i]);
                    vals.v[i] = NULL;
                }
            }
            for (size_t i = 0; i < vals.n; i++) free(vals.v[i]);
            free(vals.v);
            free(key);
            if (rc) return rc;
            continue;
        }
        char *value;
        if ((rc = dup_scalar(d, val, path, &value))) {
            free(key);
            return rc;
        }
        size_t n0 = out->n;
        if ((rc = push_str(d, &out->keys, &n0, key))) {
            free(value);
            return rc;
        }
        if ((rc = push_str(d, &out->values, &out->n, value))) return rc;
    }
    return 0;
}

static int decode_map(dec_t *d, const yaml_node_t *map, const field_t *fields, char *base, const char *path);

static int decode_list(dec_t *d, const yaml_node_t *v, const field_t *f, anylist_t *out, const char *path) {
    if (is_null(v)) return 0;
    if (v->type != YAML_SEQUENCE_NODE) return fail_at(d, v, "%s: expected a list, got %s", path, kind_name(v));
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (n == 0) return 0;
    if (n > 100000) return fail_at(d, v, "%s: more than 100000 entries", path);
    out->v = calloc(n, f->elem_size);
    if (!out->v) return vg_error_set(d->err, VG_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *e = yaml_document_get_node(d->doc, v->data.sequence.items.start[i]);
        char *elem = (char *)out->v + i * f->elem_size;
        out->n = i + 1; /* counted before decoding so a failure frees what this element holds */
        if (f->init) f->init(elem);
        if (!e) return fail_at(d, v, "%s: malformed list", path);
        if (f->pos_off) {
            ((int *)(elem + f->pos_off))[0] = (int)e->start_mark.line + 1;
            ((int *)(elem + f->pos_off))[1] = (int)e->start_mark.column + 1;
        }
        char sub[256];
        snprintf(sub, sizeof sub, "%s[%zu]", path, i);
        if (e->type != YAML_MAPPING_NODE) return fail_at(d, e, "%s: expected a mapping, got %s", sub, kind_name(e));
        int rc = decode_map(d, e, f->sub, elem, sub);
        if (rc) return rc;
    }
    return 0;
}

/* A mapping name → struct, stored like a list whose elements keep their name at key_off. */
static int decode_mapof(dec_t *d, const yaml_node_t *v, const field_t *f, anylist_t *out, const char *path) {
    if (is_null(v)) return 0;
    if (v->type != YAML_MAPPING_NODE) return fail_at(d, v, "%s: expected a mapping, got %s", path, kind_name(v));
    size_t n = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
    if (n == 0) return 0;
    if (n > 100000) return fail_at(d, v, "%s: more than 100000 entries", path);
    out->v = calloc(n, f->elem_size);
    if (!out->v) return vg_error_set(d->err, VG_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        yaml_node_pair_t *p = &v->data.mapping.pairs.start[i];
        yaml_node_t *k = yaml_document_get_node(d->doc, p->key), *e = yaml_document_get_node(d->doc, p->value);
        char *elem = (char *)out->v + i * f->elem_size;
        out->n = i + 1;
        if (f->init) f->init(elem);
        if (!k || !e) return fail_at(d, v, "%s: malformed mapping", path);
        char *name;
        int rc = dup_scalar(d, k, path, &name);
        if (rc) return rc;
        *(char **)(elem + f->key_off) = name;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(*(char **)((char *)out->v + j * f->elem_size + f->key_off), name))
                return fail_at(d, k, "%s: duplicate key \"%s\"", path, name);
        if (f->pos_off) {
            ((int *)(elem + f->pos_off))[0] = (int)k->start_mark.line + 1;
            ((int *)(elem + f->pos_off))[1] = (int)k->start_mark.column + 1;
        }
        char sub[256];
        if (snprintf(sub, sizeof sub, "%s.%s", path, name) >= (int)sizeof sub) strcpy(sub + sizeof sub - 4, "...");
        if (is_null(e)) continue;
        if (e->type != YAML_MAPPING_NODE) return fail_at(d, e, "%s: expected a mapping, got %s", sub, kind_name(e));
        if ((rc = decode_map(d, e, f->sub, elem, sub))) return rc;
    }
    return 0;
}

static int decode_value(dec_t *d, const yaml_node_t *v, const field_t *f, char *base, const char *path) {
    char *slot = base + f->off;
    switch (f->type) {
    case F_STRUCT:
        if (is_null(v)) return 0; /* `server:` with nothing under it keeps the defaults */
        if (v->type != YAML_MAPPING_NODE) return fail_at(d, v, "%s: expected a mapping, got %s", path, kind_name(v));
        return decode_map(d, v, f->sub, slot, path);
    case F_LIST: return decode_list(d, v, f, (anylist_t *)slot, path);
    case F_MAPOF: return decode_mapof(d, v, f, (anylist_t *)slot, path);
    case F_STRLIST: return decode_strlist(d, v, (config_strlist_t *)slot, path);
    case F_KV:
    case F_LABELS:
    case F_PARAMS:
    case F_VALUES: return decode_kv(d, v, f, (config_kv_t *)slot, path);
    default: break;
    }
    if (v->type != YAML_SCALAR_NODE) return fail_at(d, v, "%s: expected a scalar value, got %s", path, kind_name(v));
    size_t len;
    const char *s = scalar(v, &len);
    if (memchr(s, '\0', len)) return fail_at(d, v, "%s: value contains a NUL byte", path);
    switch (f->type) {
    case F_STR:
    case F_ADDR:
    case F_REGEX: {
        if (!f->empty_ok && (is_null(v) || len == 0)) return fail_at(d, v, "%s: must not be empty", path);
        char *copy = strndup(s, len);
        if (!copy) return vg_error_set(d->err, VG_ENOMEM, "out of memory");
        if (f->type == F_ADDR) {
            char host[256];
            int port;
            if (len >= sizeof host || config_split_listen(copy, host, sizeof host, &port)) {
                free(copy);
                return fail_at(d, v, "%s: \"%.*s\" is not host:port with a port in 1..65535", path, (int)len, s);
            }
        }
        if (f->type == F_REGEX) {
            vg_error_t rerr;
            if (model_regex_check(copy, len, NULL, &rerr)) {
                free(copy);
                return fail_at(d, v, "%s: %s", path, rerr.msg);
            }
        }
        char **sp = (char **)slot;
        free(*sp);
        *sp = copy;
        return 0;
    }
    case F_DURATION: {
        int64_t ms;
        if (vg_duration_parse(s, len, &ms))
            return fail_at(d, v, "%s: invalid duration \"%.*s\" (expected e.g. 90s, 2m, 1h30m, 15d)", path, (int)len, s);
        if (ms < f->min || ms > f->max) {
            char lo[VG_DURATION_MAX], hi[VG_DURATION_MAX];
            vg_duration_format(f->min, lo), vg_duration_format(f->max, hi);
            return fail_at(d, v, "%s: %.*s is out of range [%s, %s]", path, (int)len, s, lo, hi);
        }
        *(int64_t *)slot = ms;
        return 0;
    }
    case F_SIZE: {
        uint64_t bytes;
        if (vg_size_parse(s, len, &bytes))
            return fail_at(d, v, "%s: invalid size \"%.*s\" (expected e.g. 512KiB, 64MiB, 1GiB)", path, (int)len, s);
        if (bytes < (uint64_t)f->min || bytes > (uint64_t)f->max)
            return fail_at(d, v, "%s: %.*s is out of range [%" PRId64 ", %" PRId64 "] bytes", path, (int)len, s, f->min,
                           f->max);
        *(uint64_t *)slot = bytes;
        return 0;
    }
    case F_INT: {
        char tmp[32];
        char *end;
        if (len == 0 || len >= sizeof tmp) return fail_at(d, v, "%s: expected an integer", path);
        memcpy(tmp, s, len);
        tmp[len] = '\0';
        errno = 0;
        long long x = strtoll(tmp, &end, 10);
        if (*end || errno) return fail_at(d, v, "%s: expected an integer, got \"%s\"", path, tmp);
        if (x < f->min || x > f->max)
            return fail_at(d, v, "%s: %lld is out of range [%" PRId64 ", %" PRId64 "]", path, x, f->min, f->max);
        *(int64_t *)slot = x;
        return 0;
    }
    case F_FLOAT: {
        char tmp[64];
        char *end;
        if (len == 0 || len >= sizeof tmp) return fail_at(d, v, "%s: expected a number", path);
        memcpy(tmp, s, len);
        tmp[len] = '\0';
        double x = strtod(tmp, &end);
        if (*end || !isfinite(x)) return fail_at(d, v, "%s: expected a number, got \"%s\"", path, tmp);
        if (x < (double)f->min || x > (double)f->max)
            return fail_at(d, v, "%s: %s is out of range [%" PRId64 ", %" PRId64 "]", path, tmp, f->min, f->max);
        *(double *)slot = x;
        return 0;
    }
    case F_BOOL:
        if (len == 4 && !memcmp(s, "true", 4)) *(bool *)slot = true;
        else if (len == 5 && !memcmp(s, "false", 5)) *(bool *)slot = false;
        else return fail_at(d, v, "%s: expected true or false, got \"%.*s\"", path, (int)len, s);
        return 0;
    case F_ENUM: {
        char list[256] = "";
        for (int i = 0; f->names[i]; i++) {
            if (strlen(f->names[i]) == len && !memcmp(f->names[i], s, len)) {
                *(int *)slot = i;
                return 0;
            }
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", f->names[i]);
        }
        return fail_at(d, v, "%s: invalid value \"%.*s\" (expected one of %s)", path, (int)len, s, list);
    }
    default: break;
    }
    return 0;
}

/* Levenshtein distance of two short keys, capped: enough for "did you mean" on typos. */
static size_t edit_distance(const char *a, size_t al, const char *b, size_t bl) {
    size_t row[64];
    if (al >= 64 || bl >= 64) return 99;
    for (size_t j = 0; j <= bl; j++) row[j] = j;
    for (size_t i = 1; i <= al; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= bl; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best) best = row[j] + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[bl];
}

static const char *closest(const field_t *fields, const char *key, size_t klen) {
    const char *best = NULL;
    size_t best_d = 3; /* suggest only within two edits */
    for (const field_t *f = fields; f->key; f++) {
        size_t dist = edit_distance(key, klen, f->key, strlen(f->key));
        if (dist < best_d) best_d = dist, best = f->key;
    }
    return best;
}

static int decode_map(dec_t *d, const yaml_node_t *map, const field_t *fields, char *base, const char *path) {
    if (++d->depth > CONFIG_MAX_DEPTH) return fail_at(d, map, "%s: nested too deeply", path);
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(d->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(d->doc, p->value);
        if (!k || !v) return fail_at(d, map, "%s: malformed mapping", path);
        if (k->type != YAML_SCALAR_NODE) return fail_at(d, k, "%s: keys must be scalars", *path ? path : "config");
        size_t klen;
        const char *key = scalar(k, &klen);
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
            yaml_node_t *k2 = yaml_document_get_node(d->doc, q->key);
            if (k2 && k2->type == YAML_SCALAR_NODE && k2->data.scalar.length == klen &&
                !memcmp(k2->data.scalar.value, key, klen))
                return fail_at(d, k, "%s%sduplicate key \"%.*s\"", path, *path ? ": " : "", (int)klen, key);
        }
        const field_t *f = fields;
        while (f->key && (strlen(f->key) != klen || memcmp(f->key, key, klen))) f++;
        char sub[256];
        snprintf(sub, sizeof sub, "%s%s%.*s", path, *path ? "." : "", (int)klen, key);
        if (!f->key) {
            const char *near = closest(fields, key, klen);
            if (near) return fail_at(d, k, "unknown field \"%s\" (did you mean \"%s\"?)", sub, near);
            char known[512] = "";
            for (const field_t *g = fields; g->key; g++)
                snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", g == fields ? "" : ", ", g->key);
            return fail_at(d, k, "unknown field \"%s\" (valid here: %s)", sub, known);
        }
        int rc = decode_value(d, v, f, base, sub);
        if (rc) return rc;
    }
    d->depth--;
    return 0;
}

/* Frees everything a table describes inside base (not base itself). */
static void free_fields(const field_t *fields, char *base) {
    for (const field_t *f = fields; f->key; f++) {
        char *slot = base + f->off;
        switch (f->type) {
        case F_STR:
        case F_ADDR:
        case F_REGEX: free(*(char **)slot); break;
        case F_STRLIST: {
            config_strlist_t *l = (config_strlist_t *)slot;
            for (size_t i = 0; i < l->n; i++) free(l->v[i]);
            free(l->v);
            break;
        }
        case F_KV:
        case F_LABELS:
        case F_PARAMS:
        case F_VALUES: {
            config_kv_t *kv = (config_kv_t *)slot;
            for (size_t i = 0; i < kv->n; i++) free(kv->keys[i]), free(kv->values[i]);
            free(kv->keys);
            free(kv->values);
            break;
        }
        case F_STRUCT: free_fields(f->sub, slot); break;
        case F_LIST:
        case F_MAPOF: {
            anylist_t *l = (anylist_t *)slot;
            for (size_t i = 0; i < l->n; i++) {
                char *elem = (char *)l->v + i * f->elem_size;
                if (f->type == F_MAPOF) free(*(char **)(elem + f->key_off));
                free_fields(f->sub, elem);
            }
            free(l->v);
            break;
        }
        default: break;
        }
    }
}

static void config_free(config_t *c) {
    if (!c) return;
    free(c->file);
    free_fields(root_fields, (char *)c);
    free(c);
}

/* ---- semantic checks that span fields (Prometheus' rules, with its wording where it has one) ---- */

static int check_relabel(const config_relabel_t *r, const char *where, vg_error_t *err) {
    const char *act = config_relabel_action_name(r->action);
    bool needs_target = r->action == CONFIG_RELABEL_REPLACE || r->action == CONFIG_RELABEL_HASHMOD ||
                        r->action == CONFIG_RELABEL_LOWERCASE || r->action == CONFIG_RELABEL_UPPERCASE ||
                        r->action == CONFIG_RELABEL_KEEPEQUAL || r->action == CONFIG_RELABEL_DROPEQUAL;
    if (needs_target && (!r->target_label || !*r->target_label))
        return fail_pos(err, r->line, r->col, "%s: relabel configuration for %s action requires 'target_label' value", where, act);
    if (r->target_label && r->action != CONFIG_RELABEL_REPLACE && !valid_label_name(r->target_label, strlen(r->target_label)))
        return fail_pos(err, r->line, r->col, "%s: \"%s\" is invalid 'target_label' for %s action", where, r->target_label, act);
    if (r->action == CONFIG_RELABEL_HASHMOD && r->modulus == 0)
        return fail_pos(err, r->line, r->col, "%s: relabel configuration for hashmod requires non-zero modulus", where);
    bool default_rest = !strcmp(r->separator, ";") && !strcmp(r->replacement, "$1") && r->modulus == 0;
    if ((r->action == CONFIG_RELABEL_LABELDROP || r->action == CONFIG_RELABEL_LABELKEEP) &&
        (r->source_labels.n || r->target_label || !default_rest))
        return fail_pos(err, r->line, r->col, "%s: %s action requires only 'regex', and no other fields", where, act);
    if ((r->action == CONFIG_RELABEL_KEEPEQUAL || r->action == CONFIG_RELABEL_DROPEQUAL) &&
        (strcmp(r->regex, "(.*)") || !default_rest))
        return fail_pos(err, r->line, r->col, "%s: %s action requires only 'source_labels' and `target_label`, and no other fields",
                        where, act);
    if ((r->action == CONFIG_RELABEL_KEEP || r->action == CONFIG_RELABEL_DROP || r->action == CONFIG_RELABEL_HASHMOD ||
         r->action == CONFIG_RELABEL_KEEPEQUAL || r->action == CONFIG_RELABEL_DROPEQUAL) &&
        r->source_labels.n == 0)
        return fail_pos(err, r->line, r->col, "%s: %s action requires 'source_labels'", where, act);
    for (size_t i = 0; i < r->source_labels.n; i++)
        if (!valid_label_name(r->source_labels.v[i], strlen(r->source_labels.v[i])))
            return fail_pos(err, r->line, r->col, "%s: \"%s\" is not a valid label name in source_labels", where, r->source_labels.v[i]);
    return 0;
}

static int check_relabels(const config_relabel_list_t *l, const char *job, const char *what, vg_error_t *err) {
    char where[256];
    for (size_t i = 0; i < l->n; i++) {
        snprintf(where, sizeof where, "scrape_configs[job_name=%s].%s[%zu]", job, what, i);
        int rc = check_relabel(&l->v[i], where, err);
        if (rc) return rc;
    }
    return 0;
}

static int check_targets(const config_static_t *st, vg_error_t *err) {
    for (size_t t = 0; t < st->targets.n; t++) {
        const char *tg = st->targets.v[t];
        if (!*tg || strchr(tg, '/') || strchr(tg, ' '))
            return fail_pos(err, st->line, st->col, "\"%s\" is not a valid hostname", tg);
    }
    return 0;
}

static int check_scrape(config_t *c, config_scrape_t *s, size_t idx, vg_error_t *err) {
    if (!s->job_name) return fail_pos(err, s->line, s->col, "scrape_configs[%zu]: job_name is empty", idx);
    const char *job = s->job_name;
    for (size_t j = 0; j < idx; j++)
        if (!strcmp(c->scrape_configs.v[j].job_name, job))
            return fail_pos(err, s->line, s->col, "found multiple scrape configs with job name \"%s\"", job);
    if (!s->scrape_interval_ms) s->scrape_interval_ms = c->global.scrape_interval_ms;
    if (!s->scrape_timeout_ms)
        s->scrape_timeout_ms = c->global.scrape_timeout_ms > s->scrape_interval_ms ? s->scrape_interval_ms
                                                                                   : c->global.scrape_timeout_ms;
    if (s->scrape_timeout_ms > s->scrape_interval_ms)
        return fail_pos(err, s->line, s->col, "scrape timeout greater than scrape interval for scrape config with job name \"%s\"", job);
    if (strcmp(s->scheme, "http") && strcmp(s->scheme, "https"))
        return fail_pos(err, s->line, s->col, "scrape_configs[job_name=%s]: unsupported scheme \"%s\" (http or https)", job, s->scheme);
    if (s->metrics_path[0] != '/')
        return fail_pos(err, s->line, s->col, "scrape_configs[job_name=%s]: metrics_path must start with '/'", job);
    if (s->basic_auth.password && s->basic_auth.password_file)
        return fail_pos(err, s->line, s->col, "at most one of basic_auth password & password_file must be configured");
    bool has_authz = s->authorization.credentials || s->authorization.credentials_file;
    if (s->authorization.credentials && s->authorization.credentials_file)
        return fail_pos(err, s->line, s->col, "at most one of authorization credentials & credentials_file must be configured");
    if (s->bearer_token && s->bearer_token_file)
        return fail_pos(err, s->line, s->col, "at most one of bearer_token & bearer_token_file must be configured");
    if ((has_authz || s->bearer_token || s->bearer_token_file) + (s->basic_auth.username || s->basic_auth.password || s->basic_auth.password_file) > 1)
        return fail_pos(err, s->line, s->col, "at most one of basic_auth, authorization & bearer_token must be configured");
    if (has_authz && (s->bearer_token || s->bearer_token_file))
        return fail_pos(err, s->line, s->col, "authorization is not compatible with bearer_token & bearer_token_file");
    if (s->authorization.type && !strcasecmp(s->authorization.type, "basic"))
        return fail_pos(err, s->line, s->col, "authorization type cannot be set to \"basic\", use \"basic_auth\" instead");
    for (size_t i = 0; i < s->static_configs.n; i++) {
        int rc = check_targets(&s->static_configs.v[i], err);
        if (rc) return rc;
    }
    if (s->tls_config.server_name)
        return fail_pos(err, s->line, s->col, "scrape_configs[job_name=%s]: tls_config.server_name is not supported", job);
    for (size_t i = 0; i < s->file_sd_configs.n; i++)
        if (s->file_sd_configs.v[i].files.n == 0)
            return fail_pos(err, s->line, s->col, "scrape_configs[job_name=%s]: file_sd_configs[%zu] has no files", job, i);
    int rc = check_relabels(&s->relabel_configs, job, "relabel_configs", err);
    if (!rc) rc = check_relabels(&s->metric_relabel_configs, job, "metric_relabel_configs", err);
    return rc;
}

static int check_tenancy(config_t *c, vg_error_t *err) {
    for (size_t i = 0; i < c->auth.jwt.keys.n; i++) {
        const config_jwt_key_t *k = &c->auth.jwt.keys.v[i];
        int sources = !!k->public_key_file + !!k->secret_file + !!k->secret + !!k->jwks_file;
        if (sources != 1)
            return fail_pos(err, k->line, k->col,
                            "auth.jwt.keys[%zu]: exactly one of public_key_file, secret_file, secret, jwks_file is required", i);
        if (!k->alg && !k->algorithms.n)
            return fail_pos(err, k->line, k->col, "auth.jwt.keys[%zu]: an explicit alg or algorithms list is required", i);
        if (k->alg && k->algorithms.n)
            return fail_pos(err, k->line, k->col, "auth.jwt.keys[%zu]: give alg or algorithms, not both", i);
    }
    if (c->tenants.enforce.n > 1) return vg_error_set(err, VG_ECONFIG, "tenants.enforce: exactly one label may be enforced");
    for (size_t i = 0; i < c->tenants.overrides.n; i++) {
        const config_tenant_override_t *o = &c->tenants.overrides.v[i];
        for (size_t k = 1; k < o->enforce.n; k++)
            if (strcmp(o->enforce.keys[k], o->enforce.keys[0]))
                return fail_pos(err, o->line, o->col, "tenants.overrides.%s.enforce: exactly one label may be enforced", o->tenant);
    }
    return 0;
}

bool config_anonymous(const config_t *c) { return c->auth.anonymous < 0 ? c->auth.jwt.keys.n == 0 : c->auth.anonymous == 1; }

void config_tenant_limits(const config_t *c, const char *tenant, config_limits_t *out) {
    *out = c->limits;
    for (size_t i = 0; tenant && i < c->tenants.overrides.n; i++) {
        const config_tenant_override_t *o = &c->tenants.overrides.v[i];
        if (strcmp(o->tenant, tenant)) continue;
        const config_limits_t *l = &o->limits;
        if (l->request_rate) out->request_rate = l->request_rate;
        if (l->request_burst) out->request_burst = l->request_burst;
        if (l->ingestion_rate) out->ingestion_rate = l->ingestion_rate;
        if (l->ingestion_burst) out->ingestion_burst = l->ingestion_burst;
        if (l->max_series) out->max_series = l->max_series;
        if (l->max_samples_per_query) out->max_samples_per_query = l->max_samples_per_query;
        if (l->max_concurrent_queries) out->max_concurrent_queries = l->max_concurrent_queries;
        if (l->max_query_range_ms) out->max_query_range_ms = l->max_query_range_ms;
    }
}

static int check_config(config_t *c, vg_error_t *err) {
    int trc = check_tenancy(c, err);
    if (trc) return trc;
    if (c->grafana.url && !c->grafana.vigil_url)
        return vg_error_set(err, VG_ECONFIG, "grafana.vigil_url is required with grafana.url (the datasource URL Grafana uses)");
    if (c->grafana.admin_password && c->grafana.admin_password_file)
        return vg_error_set(err, VG_ECONFIG, "grafana: at most one of admin_password & admin_password_file");
    if (c->global.scrape_timeout_ms > c->global.scrape_interval_ms)
        return vg_error_set(err, VG_ECONFIG, "global scrape timeout greater than scrape interval");
    for (size_t i = 0; i < c->scrape_configs.n; i++) {
        int rc = check_scrape(c, &c->scrape_configs.v[i], i, err);
        if (rc) return rc;
    }
    return 0;
}

config_t *config_default(void) {
    config_t *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    atomic_init(&c->refs, 1);
    c->file = strdup("");
    c->server.listen = strdup("127.0.0.1:9290");
    c->server.read_timeout_ms = 2 * 60 * 1000;
    c->server.max_body = 64u << 20;
    c->server.max_header = 64u << 10;
    c->server.threads = 4;
    c->server.max_connections = 1024;
    c->server.shutdown_timeout_ms = 5000;
    c->storage.path = strdup("./data");
    c->storage.retention_ms = 15LL * 24 * 3600 * 1000;
    c->storage.wal_fsync = CONFIG_FSYNC_INTERVAL;
    c->storage.wal_fsync_interval_ms = 1000;
    c->storage.wal_compression = true;
    c->log.level = VG_LOG_INFO;
    c->log.format = VG_LOG_JSON;
    c->auth.anonymous = -1;
    c->auth.jwt.leeway_ms = 60 * 1000;
    c->auth.jwt.max_token_size = 8192;
    c->limits.request_burst = 0;
    c->limits.max_samples_per_query = 50000000;
    c->limits.max_concurrent_queries = 20;
    c->query.lookback_delta_ms = 5 * 60 * 1000;
    c->query.timeout_ms = 2 * 60 * 1000;
    c->query.max_samples = 50000000;
    c->query.max_concurrent = 20;
    c->grafana.admin_user = strdup("admin");
    c->grafana.token_ttl_ms = 365 * DAY;
    c->grafana.timeout_ms = 10000;
    c->grafana.connect_timeout_ms = 2000;
    c->grafana.retries = 3;
    c->grafana.retry_backoff_ms = 200;
    c->grafana.retry_backoff_max_ms = 5000;
    c->grafana.max_response_bytes = 8u << 20;
    c->grafana.token_requests = 5;
    c->grafana.token_window_ms = 5 * 60 * 1000;
    c->global.scrape_interval_ms = 15 * 1000;
    c->global.scrape_timeout_ms = 10 * 1000;
    c->global.evaluation_interval_ms = 60 * 1000;
    if (!c->file || !c->server.listen || !c->storage.path || !c->grafana.admin_user) {
        config_free(c);
        return NULL;
    }
    return c;
}

config_t *config_ref(config_t *c) {
    if (c) atomic_fetch_add(&c->refs, 1);
    return c;
}

void config_unref(config_t *c) {
    if (c && atomic_fetch_sub(&c->refs, 1) == 1) config_free(c);
}

/* Loads exactly one YAML document from text (none is an empty document). */
static int load_doc(const char *text, size_t len, yaml_document_t *doc, vg_error_t *err) {
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) return vg_error_set(err, VG_ENOMEM, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, doc)) {
        const yaml_mark_t *m = parser.problem ? &parser.problem_mark : &parser.context_mark;
        vg_error_set(err, VG_ECONFIG, "YAML syntax error: %s%s%s", parser.problem ? parser.problem : "invalid YAML",
                     parser.context ? " " : "", parser.context ? parser.context : "");
        err->line = (int)m->line + 1;
        err->col = (int)m->column + 1;
        err->pos = (long)m->index;
        yaml_parser_delete(&parser);
        return VG_ECONFIG;
    }
    /* more than one document in the stream is a mistake, not something to silently ignore */
    int rc = 0;
    yaml_document_t extra;
    if (yaml_parser_load(&parser, &extra)) {
        yaml_node_t *r2 = yaml_document_get_root_node(&extra);
        if (r2) {
            vg_error_set(err, VG_ECONFIG, "more than one YAML document in the file");
            err->line = (int)r2->start_mark.line + 1;
            err->col = (int)r2->start_mark.column + 1;
            rc = VG_ECONFIG;
        }
        yaml_document_delete(&extra);
    }
    yaml_parser_delete(&parser);
    if (rc) yaml_document_delete(doc);
    return rc;
}

int config_parse(const char *name, const char *text, size_t len, config_t **out, vg_error_t *err) {
    *out = NULL;
    vg_error_clear(err);
    if (len > CONFIG_MAX_FILE_BYTES)
        return vg_error_set(err, VG_ECONFIG, "file is larger than %u bytes", CONFIG_MAX_FILE_BYTES);
    config_t *c = config_default();
    if (!c) return vg_error_set(err, VG_ENOMEM, "out of memory");
    free(c->file);
    c->file = strdup(name);
    snprintf(c->hash, sizeof c->hash, "%016llx", (unsigned long long)XXH64(text, len, 0));

    if (!c->file) {
        config_free(c);
        return vg_error_set(err, VG_ENOMEM, "out of memory");
    }
    yaml_document_t doc;
    int rc = load_doc(text, len, &doc, err);
    if (rc) {
        config_free(c);
        return rc;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    dec_t d = {&doc, err, 0};
    if (root && !is_null(root)) {
        if (root->type != YAML_MAPPING_NODE) rc = fail_at(&d, root, "the top level must be a mapping");
        else rc = decode_map(&d, root, root_fields, (char *)c, "");
    }
    if (!rc) rc = check_config(c, err);
    yaml_document_delete(&doc);
    if (rc) {
        config_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int config_load_file(const char *path, config_t **out, vg_error_t *err) {
    *out = NULL;
    vg_error_clear(err);
    FILE *fp = fopen(path, "rb");
    if (!fp) return vg_error_set(err, VG_EIO, "cannot open: %s", strerror(errno));
    vg_buf_t b = VG_BUF_INIT;
    char chunk[65536];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0) {
        if (b.len + n > CONFIG_MAX_FILE_BYTES) {
            rc = vg_error_set(err, VG_ECONFIG, "file is larger than %u bytes", CONFIG_MAX_FILE_BYTES);
            break;
        }
        if (vg_buf_append(&b, chunk, n)) {
            rc = vg_error_set(err, VG_ENOMEM, "out of memory");
            break;
        }
    }
    if (!rc && ferror(fp)) rc = vg_error_set(err, VG_EIO, "read error: %s", strerror(errno));
    fclose(fp);
    if (!rc) rc = config_parse(path, b.data ? b.data : "", b.len, out, err);
    vg_buf_deinit(&b);
    return rc;
}

void config_error_format(const vg_error_t *err, const char *file, char *out, size_t cap) {
    if (err->line > 0) snprintf(out, cap, "%s:%d:%d: %s", file, err->line, err->col, err->msg);
    else snprintf(out, cap, "%s: %s", file, err->msg);
}

int config_split_listen(const char *listen, char *host, size_t cap, int *port) {
    const char *colon;
    size_t hlen;
    if (!listen || !*listen) return VG_EINVAL;
    if (listen[0] == '[') {
        const char *rb = strchr(listen, ']');
        if (!rb || rb[1] != ':') return VG_EINVAL;
        colon = rb + 1;
        listen++;
        hlen = (size_t)(rb - listen);
    } else {
        colon = strrchr(listen, ':');
        if (!colon || memchr(listen, ':', (size_t)(colon - listen))) return VG_EINVAL;
        hlen = (size_t)(colon - listen);
    }
    if (hlen >= cap) return VG_EINVAL;
    const char *p = colon + 1;
    if (!*p || strlen(p) > 5) return VG_EINVAL;
    int v = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9') return VG_EINVAL;
        v = v * 10 + (*p - '0');
    }
    if (v < 1 || v > 65535) return VG_EINVAL;
    memcpy(host, listen, hlen);
    host[hlen] = '\0';
    *port = v;
    return 0;
}

static const field_t groups_field = LIST("groups", struct { config_static_t *v; size_t n; }, v, static_fields, config_static_t, NULL);

int config_parse_target_groups(const char *text, size_t len, config_static_t **out, size_t *n_out, vg_error_t *err) {
    *out = NULL;
    *n_out = 0;
    vg_error_clear(err);
    if (len > CONFIG_MAX_FILE_BYTES)
        return vg_error_set(err, VG_ECONFIG, "file is larger than %u bytes", CONFIG_MAX_FILE_BYTES);
    yaml_document_t doc;
    int rc = load_doc(text, len, &doc, err);
    if (rc) return rc;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    dec_t d = {&doc, err, 0};
    anylist_t l = {0};
    if (root && !is_null(root)) rc = decode_list(&d, root, &groups_field, &l, "");
    for (size_t i = 0; !rc && i < l.n; i++) rc = check_targets((config_static_t *)l.v + i, err);
    yaml_document_delete(&doc);
    if (rc) {
        config_target_groups_free(l.v, l.n);
        return rc;
    }
    *out = l.v;
    *n_out = l.n;
    return 0;
}

void config_target_groups_free(config_static_t *v, size_t n) {
    for (size_t i = 0; i < n; i++) free_fields(static_fields, (char *)(v + i));
    free(v);
}

/* ---- YAML output (for /api/v1/status/config): the same tables, walked the other way ---- */

static void indent(vg_buf_t *b, int n) {
    for (int i = 0; i < n; i++) vg_buf_putc(b, ' ');
}

static void put_size(vg_buf_t *b, uint64_t v) {
    static const char *const units[] = {"TiB", "GiB", "MiB", "KiB"};
    for (int i = 0; i < 4; i++) {
        uint64_t u = 1ull << (10 * (4 - i));
        if (v && v % u == 0) {
            vg_buf_printf(b, "%llu%s", (unsigned long long)(v / u), units[i]);
            return;
        }
    }
    vg_buf_printf(b, "%lluB", (unsigned long long)v);
}

static void write_fields(vg_buf_t *b, const field_t *fields, const char *base, int ind, bool first_inline);

static void write_value(vg_buf_t *b, const field_t *f, const char *slot, int ind) {
    char tmp[VG_DURATION_MAX];
    switch (f->type) {
    case F_STR:
    case F_ADDR:
    case F_REGEX:
        if (f->secret) vg_buf_puts(b, "<secret>");
        else vg_json_escape(b, *(char *const *)slot, strlen(*(char *const *)slot));
        break;
    case F_DURATION: vg_duration_format(*(const int64_t *)slot, tmp), vg_buf_puts(b, tmp); break;
    case F_SIZE: put_size(b, *(const uint64_t *)slot); break;
    case F_INT: vg_buf_put_i64(b, *(const int64_t *)slot); break;
    case F_BOOL: vg_buf_puts(b, *(const bool *)slot ? "true" : "false"); break;
    case F_ENUM: vg_buf_puts(b, f->names[*(const int *)slot]); break;
    case F_STRLIST: {
        const config_strlist_t *l = (const config_strlist_t *)slot;
        vg_buf_putc(b, '[');
        for (size_t i = 0; i < l->n; i++) {
            if (i) vg_buf_puts(b, ", ");
            vg_json_escape(b, l->v[i], strlen(l->v[i]));
        }
        vg_buf_putc(b, ']');
        break;
    }
    case F_FLOAT: {
        char tmp2[VG_FLOAT_MAX];
        vg_fmt_float_g(*(const double *)slot, tmp2);
        vg_buf_puts(b, tmp2);
        break;
    }
    case F_MAPOF: {
        const anylist_t *l = (const anylist_t *)slot;
        if (!l->n) {
            vg_buf_puts(b, "{}");
            break;
        }
        vg_buf_putc(b, '\n');
        for (size_t i = 0; i < l->n; i++) {
            const char *elem = (const char *)l->v + i * f->elem_size;
            const char *name = *(char *const *)(elem + f->key_off);
            indent(b, ind + 2);
            vg_json_escape(b, name, strlen(name));
            vg_buf_puts(b, ":\n");
            write_fields(b, f->sub, elem, ind + 4, false);
        }
        return;
    }
    case F_KV:
    case F_LABELS:
    case F_PARAMS:
    case F_VALUES: {
        const config_kv_t *kv = (const config_kv_t *)slot;
        vg_buf_putc(b, '{');
        for (size_t i = 0; i < kv->n; i++) {
            /* params repeat keys: group a key's values into one list */
            bool seen = false;
            bool grouped = f->type == F_PARAMS || f->type == F_VALUES;
            for (size_t k = 0; k < i && grouped; k++) seen |= !strcmp(kv->keys[k], kv->keys[i]);
            if (seen) continue;
            if (i) vg_buf_puts(b, ", ");
            vg_json_escape(b, kv->keys[i], strlen(kv->keys[i]));
            vg_buf_puts(b, ": ");
            if (!grouped) {
                vg_json_escape(b, kv->values[i], strlen(kv->values[i]));
                continue;
            }
            vg_buf_putc(b, '[');
            for (size_t k = i, m = 0; k < kv->n; k++) {
                if (strcmp(kv->keys[k], kv->keys[i])) continue;
                if (m++) vg_buf_puts(b, ", ");
                vg_json_escape(b, kv->values[k], strlen(kv->values[k]));
            }
            vg_buf_putc(b, ']');
        }
        vg_buf_putc(b, '}');
        break;
    }
    case F_STRUCT:
        vg_buf_putc(b, '\n');
        write_fields(b, f->sub, slot, ind + 2, false);
        return;
    case F_LIST: {
        const anylist_t *l = (const anylist_t *)slot;
        if (!l->n) {
            vg_buf_puts(b, "[]");
            break;
        }
        vg_buf_putc(b, '\n');
        for (size_t i = 0; i < l->n; i++) {
            indent(b, ind + 2);
            vg_buf_puts(b, "- ");
            write_fields(b, f->sub, (const char *)l->v + i * f->elem_size, ind + 4, true);
        }
        return;
    }
    }
    vg_buf_putc(b, '\n');
}

static void write_fields(vg_buf_t *b, const field_t *fields, const char *base, int ind, bool first_inline) {
    for (const field_t *f = fields; f->key; f++) {
        const char *slot = base + f->off;
        if ((f->type == F_STR || f->type == F_ADDR || f->type == F_REGEX) && !*(char *const *)slot) continue;
        if (f->type == F_ENUM && *(const int *)slot < 0) continue; /* unset (auth.anonymous) */
        if (!first_inline) indent(b, ind);
        first_inline = false;
        vg_buf_puts(b, f->key);
        vg_buf_puts(b, ": ");
        write_value(b, f, slot, ind);
    }
}

void config_write_yaml(const config_t *c, vg_buf_t *out) { write_fields(out, root_fields, (const char *)c, 0, false); }
