/* The `query` section: the engine's bounds, as Prometheus' --query.* flags (lookback, timeout, samples
 * held, concurrency), plus the bytes one evaluation may allocate. A field table with its defaults; no rule
 * spans fields. */
#include "config_int.h"

static const config__field_t query_fields[] = {
    {.key = "lookback_delta", .type = F_DURATION, .off = OFF(config_query_t, lookback_delta_ms), .min = 1000, .max = DAY_MS},
    {.key = "timeout", .type = F_DURATION, .off = OFF(config_query_t, timeout_ms), .min = 100, .max = DAY_MS},
    {.key = "max_samples", .type = F_INT, .off = OFF(config_query_t, max_samples), .min = 1, .max = INT64_MAX},
    {.key = "max_concurrent", .type = F_INT, .off = OFF(config_query_t, max_concurrent), .min = 1, .max = 10000},
    {.key = "max_bytes", .type = F_SIZE, .off = OFF(config_query_t, max_bytes), .min = 1 << 20, .max = INT64_MAX},
    FIELD_END,
};

static int query_defaults(config_t *c) {
    c->query.lookback_delta_ms = 5 * 60 * 1000;
    c->query.timeout_ms = 2 * 60 * 1000;
    c->query.max_samples = 50000000;
    c->query.max_concurrent = 20;
    c->query.max_bytes = 1ULL << 30; /* fixed, not sized from the machine: the same config answers alike everywhere */
    return 0;
}

const config__section_t config__section_query = {
    .field = {.key = "query", .type = F_STRUCT, .off = OFF(config_t, query), .sub = query_fields},
    .defaults = query_defaults,
};

/* The `query_cache` section: the query results cache of service/cache.c (docs/configuration.md). */
static const config__field_t query_cache_fields[] = {
    {.key = "enabled", .type = F_BOOL, .off = OFF(config_query_cache_t, enabled)},
    {.key = "max_bytes", .type = F_SIZE, .off = OFF(config_query_cache_t, max_bytes), .min = 0, .max = INT64_MAX},
    {.key = "ttl", .type = F_DURATION, .off = OFF(config_query_cache_t, ttl_ms), .min = 0, .max = DAY_MS},
    {.key = "extent_ttl", .type = F_DURATION, .off = OFF(config_query_cache_t, extent_ttl_ms), .min = 0, .max = 365 * DAY_MS},
    {.key = "max_freshness", .type = F_DURATION, .off = OFF(config_query_cache_t, max_freshness_ms), .min = 0, .max = DAY_MS},
    FIELD_END,
};

static int query_cache_defaults(config_t *c) {
    c->query_cache.enabled = true;
    c->query_cache.max_bytes = 128ULL << 20;
    c->query_cache.ttl_ms = 30 * 1000;
    c->query_cache.extent_ttl_ms = 3600 * 1000;
    c->query_cache.max_freshness_ms = 10 * 60 * 1000;
    return 0;
}

const config__section_t config__section_query_cache = {
    .field = {.key = "query_cache", .type = F_STRUCT, .off = OFF(config_t, query_cache), .sub = query_cache_fields},
    .defaults = query_cache_defaults,
};
