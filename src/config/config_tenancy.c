/* The tenancy sections (semantics in docs/tenancy.md): `auth` (anonymous access, JWT verification keys),
 * `tenants` (the enforced label template and per-tenant overrides) and `limits` (the per-tenant
 * defaults that overrides refine, and the global ingestion limits, which overrides cannot change).
 *
 * Invariants after checking: each JWT key has exactly one key source and an explicit algorithm list;
 * exactly one label is enforced, globally and in each override. In an override's limits a 0 means
 * "the default from `limits`" (config_tenant_limits resolves it). */
#include "config_int.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const config__field_t jwt_key_fields[] = {
    {.key = "kid", .type = F_STR, .off = OFF(config_jwt_key_t, kid)},
    {.key = "alg", .type = F_STR, .off = OFF(config_jwt_key_t, alg)},
    {.key = "algorithms", .type = F_STRLIST, .off = OFF(config_jwt_key_t, algorithms)},
    {.key = "public_key_file", .type = F_STR, .off = OFF(config_jwt_key_t, public_key_file)},
    {.key = "secret_file", .type = F_STR, .off = OFF(config_jwt_key_t, secret_file)},
    {.key = "secret", .type = F_STR, .off = OFF(config_jwt_key_t, secret), .secret = true},
    {.key = "jwks_file", .type = F_STR, .off = OFF(config_jwt_key_t, jwks_file)},
    FIELD_END,
};

static const config__field_t admin_claim_fields[] = {
    {.key = "name", .type = F_STR, .off = 0},
    {.key = "value", .type = F_STR, .off = sizeof(char *)},
    FIELD_END,
};

static const config__field_t jwt_fields[] = {
    {.key = "tenant_claim", .type = F_STR, .off = OFF(config_auth_t, jwt.tenant_claim) - OFF(config_auth_t, jwt)},
    {.key = "admin_claim", .type = F_STRUCT, .off = OFF(config_auth_t, jwt.admin_claim) - OFF(config_auth_t, jwt), .sub = admin_claim_fields},
    {.key = "leeway", .type = F_DURATION, .off = OFF(config_auth_t, jwt.leeway_ms) - OFF(config_auth_t, jwt), .min = 0, .max = 3600 * 1000},
    {.key = "issuer", .type = F_STR, .off = OFF(config_auth_t, jwt.issuer) - OFF(config_auth_t, jwt)},
    {.key = "audience", .type = F_STR, .off = OFF(config_auth_t, jwt.audience) - OFF(config_auth_t, jwt)},
    {.key = "max_token_size", .type = F_SIZE, .off = OFF(config_auth_t, jwt.max_token_size) - OFF(config_auth_t, jwt), .min = 256, .max = 65536},
    {.key = "keys", .type = F_LIST, .off = OFF(config_auth_t, jwt.keys) - OFF(config_auth_t, jwt), .sub = jwt_key_fields,
     .elem_size = sizeof(config_jwt_key_t), .pos_off = offsetof(config_jwt_key_t, line)},
    FIELD_END,
};

static const char *const tristate_bool[] = {"false", "true", NULL};

static const config__field_t auth_fields[] = {
    {.key = "anonymous", .type = F_ENUM, .off = OFF(config_auth_t, anonymous), .names = tristate_bool},
    {.key = "jwt", .type = F_STRUCT, .off = OFF(config_auth_t, jwt), .sub = jwt_fields},
    FIELD_END,
};

/* The per-tenant limits, in struct T at member path p (empty, or e.g. `limits.`). */
#define LIMIT_FIELDS(T, p)                                                                                                 \
    {.key = "request_rate", .type = F_FLOAT, .off = OFF(T, p request_rate), .min = 0, .max = 1000000000},                \
    {.key = "request_burst", .type = F_INT, .off = OFF(T, p request_burst), .min = 0, .max = 1000000000},                \
    {.key = "ingestion_rate", .type = F_FLOAT, .off = OFF(T, p ingestion_rate), .min = 0, .max = 1000000000000LL},       \
    {.key = "ingestion_burst", .type = F_INT, .off = OFF(T, p ingestion_burst), .min = 0, .max = 1000000000000LL},       \
    {.key = "max_series", .type = F_INT, .off = OFF(T, p max_series), .min = 0, .max = INT64_MAX},                       \
    {.key = "max_samples_per_query", .type = F_INT, .off = OFF(T, p max_samples_per_query), .min = 0, .max = INT64_MAX}, \
    {.key = "max_concurrent_queries", .type = F_INT, .off = OFF(T, p max_concurrent_queries), .min = 0, .max = 100000},  \
    {.key = "max_query_range", .type = F_DURATION, .off = OFF(T, p max_query_range_ms), .min = 0, .max = 100 * 365 * DAY_MS}, \
    {.key = "ruler_max_rule_groups", .type = F_INT, .off = OFF(T, p ruler_max_rule_groups), .min = 0, .max = 1000000},      \
    {.key = "ruler_max_rules_per_rule_group", .type = F_INT, .off = OFF(T, p ruler_max_rules_per_rule_group), .min = 0,     \
     .max = 1000000},                                                                                                      \
    {.key = "max_api_keys", .type = F_INT, .off = OFF(T, p max_api_keys), .min = 0, .max = 100000}

/* tenants.overrides.<tenant>.limits: the per-tenant keys only. */
static const config__field_t tenant_limits_fields[] = {LIMIT_FIELDS(config_limits_t, ), FIELD_END};

#define INGEST(m) OFF(config_t, ingest_limits.m)

/* Top-level `limits`: the per-tenant defaults (config_t.limits), then the global ingestion limits
 * (config_t.ingest_limits), so offsets are from config_t. Bounds: a label name must fit "__name__"; at
 * most 1024 labels and 1 MiB per value (a scrape line's limit) keep one series' parse buffers bounded. */
static const config__field_t limits_fields[] = {
    LIMIT_FIELDS(config_t, limits.),
    {.key = "max_label_names_per_series", .type = F_INT, .off = INGEST(max_label_names_per_series), .min = 1, .max = 1024},
    {.key = "max_label_name_length", .type = F_INT, .off = INGEST(max_label_name_length), .min = 8, .max = 65536},
    {.key = "max_label_value_length", .type = F_INT, .off = INGEST(max_label_value_length), .min = 1, .max = 1 << 20},
    {.key = "active_series_window", .type = F_DURATION, .off = INGEST(active_series_window_ms), .min = 60 * 1000, .max = DAY_MS},
    {.key = "max_remote_write_decompressed_size", .type = F_SIZE, .off = INGEST(max_remote_write_decompressed_size),
     .min = 1024, .max = 4LL << 30},
    {.key = "max_remote_write_series_per_request", .type = F_INT, .off = INGEST(max_remote_write_series_per_request),
     .min = 1, .max = 100000000},
    {.key = "max_otlp_decompressed_size", .type = F_SIZE, .off = INGEST(max_otlp_decompressed_size), .min = 1024,
     .max = 4LL << 30},
    {.key = "max_otlp_data_points_per_request", .type = F_INT, .off = INGEST(max_otlp_data_points_per_request), .min = 1,
     .max = 100000000},
    {.key = "max_future", .type = F_DURATION, .off = INGEST(max_future_ms), .min = 0, .max = 365 * DAY_MS},
    {.key = "max_series_total", .type = F_INT, .off = INGEST(max_series_total), .min = 0, .max = 1LL << 32},
    FIELD_END,
};

static const config__field_t override_fields[] = {
    {.key = "enforce", .type = F_VALUES, .off = OFF(config_tenant_override_t, enforce)},
    {.key = "limits", .type = F_STRUCT, .off = OFF(config_tenant_override_t, limits), .sub = tenant_limits_fields},
    FIELD_END,
};

static const config__field_t tenants_fields[] = {
    {.key = "enforce", .type = F_KV, .off = OFF(config_tenants_t, enforce)},
    {.key = "overrides", .type = F_MAPOF, .off = OFF(config_tenants_t, overrides), .sub = override_fields,
     .elem_size = sizeof(config_tenant_override_t), .key_off = offsetof(config_tenant_override_t, tenant),
     .pos_off = offsetof(config_tenant_override_t, line)},
    FIELD_END,
};


static int auth_defaults(config_t *c) {
    c->auth.anonymous = -1;
    c->auth.jwt.leeway_ms = 60 * 1000;
    c->auth.jwt.max_token_size = 8192;
    return 0;
}

static int auth_check(config_t *c, vg_error_t *err) {
    for (size_t i = 0; i < c->auth.jwt.keys.n; i++) {
        const config_jwt_key_t *k = &c->auth.jwt.keys.v[i];
        int sources = !!k->public_key_file + !!k->secret_file + !!k->secret + !!k->jwks_file;
        if (sources != 1)
            return config__fail_pos(err, k->line, k->col,
                                    "auth.jwt.keys[%zu]: exactly one of public_key_file, secret_file, secret, jwks_file is required", i);
        if (!k->alg && !k->algorithms.n)
            return config__fail_pos(err, k->line, k->col, "auth.jwt.keys[%zu]: an explicit alg or algorithms list is required", i);
        if (k->alg && k->algorithms.n)
            return config__fail_pos(err, k->line, k->col, "auth.jwt.keys[%zu]: give alg or algorithms, not both", i);
    }
    return 0;
}

const config__section_t config__section_auth = {
    .field = {.key = "auth", .type = F_STRUCT, .off = OFF(config_t, auth), .sub = auth_fields},
    .defaults = auth_defaults,
    .check = auth_check,
};

static int tenants_check(config_t *c, vg_error_t *err) {
    if (c->tenants.enforce.n > 1) return vg_error_set(err, VG_ECONFIG, "tenants.enforce: exactly one label may be enforced");
    for (size_t i = 0; i < c->tenants.overrides.n; i++) {
        const config_tenant_override_t *o = &c->tenants.overrides.v[i];
        for (size_t k = 1; k < o->enforce.n; k++)
            if (strcmp(o->enforce.keys[k], o->enforce.keys[0]))
                return config__fail_pos(err, o->line, o->col, "tenants.overrides.%s.enforce: exactly one label may be enforced",
                                        o->tenant);
    }
    return 0;
}

const config__section_t config__section_tenants = {
    .field = {.key = "tenants", .type = F_STRUCT, .off = OFF(config_t, tenants), .sub = tenants_fields},
    .check = tenants_check,
};

static int limits_defaults(config_t *c) {
    c->limits.request_burst = 0;
    c->limits.max_samples_per_query = 50000000;
    c->limits.max_concurrent_queries = 20;
    /* Rule groups stored through the ruler API (docs/api.md): enough for a tenant's recording rules and
     * alerts, few enough that one tenant cannot fill the one rule evaluation thread. */
    c->limits.ruler_max_rule_groups = 20;
    c->limits.ruler_max_rules_per_rule_group = 20;
    /* API keys a tenant creates for itself (docs/api.md): enough for one per client or pipeline; the key
     * store is one file rewritten on every change, so it must stay small. */
    c->limits.max_api_keys = 20;
    /* Label limits: the head's (MODEL_LIMITS_DEFAULT). Every path appends through the head, which
     * normalises each label set with them, so nothing stored today exceeds them; the larger per-path
     * caps (256 labels in scrape and import, 128 in the remote_write decoder) only sized parse buffers
     * in front of it. Defaulting to anything else would change what is accepted. */
    c->ingest_limits.max_label_names_per_series = 64;
    c->ingest_limits.max_label_name_length = 1024;
    c->ingest_limits.max_label_value_length = 4096;
    /* "Active" for max_series: a sample within the last hour (the remote_write handler's window until
     * now; a series that stops counts against its tenant for that long). */
    c->ingest_limits.active_series_window_ms = 3600 * 1000;
    /* remote_write: 64 MiB decompressed (as server.max_body for the compressed body) and a million
     * series per request, the decoder's bounds until now. */
    c->ingest_limits.max_remote_write_decompressed_size = 64u << 20;
    c->ingest_limits.max_remote_write_series_per_request = 1000000;
    /* OTLP: the same bounds, in the protocol's own units (the gzip body is inflated up to the size
     * limit and no further, so a gzip bomb costs at most that much memory). */
    c->ingest_limits.max_otlp_decompressed_size = 64u << 20;
    c->ingest_limits.max_otlp_data_points_per_request = 1000000;
    /* A sample timestamped more than 10 minutes ahead of the server's clock is refused on every path
     * (Mimir's creation grace period is of the same order): clocks that far off are a bug, and one such
     * sample accepted would move the head's time range (docs/configuration.md). */
    c->ingest_limits.max_future_ms = 10 * 60 * 1000;
    /* Series the head holds at most, whoever writes them: as many as the memory available leaves
     * CONFIG_BYTES_PER_SERIES each for (a conservative estimate of a series' labels, index entries,
     * open chunk and chunk references), so one client creating series without end meets a refusal
     * rather than the OOM killer. Unknown memory: no cap. */
    c->ingest_limits.max_series_total = (int64_t)(config_memory_bytes() / CONFIG_BYTES_PER_SERIES);
    if (c->ingest_limits.max_series_total > (INT64_C(1) << 32)) c->ingest_limits.max_series_total = INT64_C(1) << 32;
    /* The per-tenant default is derived from max_series_total once the file is read: -1 until then. */
    c->limits.max_series = -1;
    return 0;
}

/* A tenant's default share of the server-wide cap, unless the file set limits.max_series: a tenth of
 * max_series_total (at least 1), so no single tenant can fill the head; unlimited when the cap is. */
void config__limits_resolve(config_t *c) {
    if (c->limits.max_series >= 0) return;
    int64_t total = c->ingest_limits.max_series_total;
    c->limits.max_series = total > 0 ? (total / CONFIG_TENANT_SERIES_SHARE > 0 ? total / CONFIG_TENANT_SERIES_SHARE : 1) : 0;
}

static int limits_check(config_t *c, vg_error_t *err) {
    (void)err;
    config__limits_resolve(c);
    return 0;
}

/* The entry sits at offset 0: its table spans config_t.limits and config_t.ingest_limits. */
const config__section_t config__section_limits = {
    .field = {.key = "limits", .type = F_STRUCT, .off = 0, .sub = limits_fields},
    .defaults = limits_defaults,
    .check = limits_check,
};

/* Reads one unsigned number from a file (a cgroup limit); 0 when absent or not a number ("max"). */
static uint64_t read_u64_file(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    unsigned long long v = 0;
    if (fscanf(f, "%llu", &v) != 1) v = 0;
    fclose(f);
    return (uint64_t)v;
}

uint64_t config_memory_bytes(void) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    uint64_t mem = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
    /* a container's limit (cgroup v2, then v1, whose "unlimited" is a huge number) when lower */
    uint64_t cg = read_u64_file("/sys/fs/cgroup/memory.max");
    if (!cg) cg = read_u64_file("/sys/fs/cgroup/memory/memory.limit_in_bytes");
    if (cg && (!mem || cg < mem)) mem = cg;
    return mem;
}

void config_label_limits(const config_t *c, model_label_limits_t *out) {
    out->max_labels = (size_t)c->ingest_limits.max_label_names_per_series;
    out->max_name_len = (size_t)c->ingest_limits.max_label_name_length;
    out->max_value_len = (size_t)c->ingest_limits.max_label_value_length;
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
        if (l->ruler_max_rule_groups) out->ruler_max_rule_groups = l->ruler_max_rule_groups;
        if (l->ruler_max_rules_per_rule_group) out->ruler_max_rules_per_rule_group = l->ruler_max_rules_per_rule_group;
        if (l->max_api_keys) out->max_api_keys = l->max_api_keys;
    }
}
