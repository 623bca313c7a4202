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
