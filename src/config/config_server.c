/* The server's own sections: `server` (HTTP listener and request bounds), `storage` (TSDB path,
 * retention, WAL durability, blocks) and `log`. Each is a field table with its defaults; none has a rule that
 * spans fields. */
#include "config_int.h"

#include <stdlib.h>
#include <string.h>

static const config__field_t server_fields[] = {
    {.key = "listen", .type = F_ADDR, .off = OFF(config_server_t, listen)},
    {.key = "read_timeout", .type = F_DURATION, .off = OFF(config_server_t, read_timeout_ms), .min = 1000, .max = DAY_MS},
    {.key = "header_timeout", .type = F_DURATION, .off = OFF(config_server_t, header_timeout_ms), .min = 1000, .max = 3600 * 1000},
    {.key = "max_body", .type = F_SIZE, .off = OFF(config_server_t, max_body), .min = 1024, .max = 4LL << 30},
    {.key = "max_header", .type = F_SIZE, .off = OFF(config_server_t, max_header), .min = 4096, .max = 1 << 20},
    {.key = "threads", .type = F_INT, .off = OFF(config_server_t, threads), .min = 1, .max = 256},
    {.key = "max_connections", .type = F_INT, .off = OFF(config_server_t, max_connections), .min = 1, .max = 1000000},
    {.key = "max_connections_per_ip", .type = F_INT, .off = OFF(config_server_t, max_connections_per_ip), .min = 0, .max = 1000000},
    {.key = "shutdown_timeout", .type = F_DURATION, .off = OFF(config_server_t, shutdown_timeout_ms), .min = 0, .max = 3600 * 1000},
    {.key = "external_url", .type = F_STR, .off = OFF(config_server_t, external_url)},
    FIELD_END,
};

static int server_defaults(config_t *c) {
    c->server.listen = strdup("127.0.0.1:9290");
    c->server.read_timeout_ms = 2 * 60 * 1000;
    c->server.max_body = 64u << 20;
    c->server.max_header = 64u << 10;
    c->server.threads = 4;
    c->server.max_connections = 1024;
    c->server.max_connections_per_ip = 64;
    c->server.header_timeout_ms = 10 * 1000;
    c->server.shutdown_timeout_ms = 5000;
    return c->server.listen ? 0 : VG_ENOMEM;
}

/* external_url: an absolute http(s) URL; a trailing slash is dropped, as Prometheus drops it. */
static int server_check(config_t *c, vg_error_t *err) {
    char *u = c->server.external_url;
    if (!u) return 0;
    if (strncmp(u, "http://", 7) && strncmp(u, "https://", 8))
        return vg_error_set(err, VG_ECONFIG, "server.external_url: must be an absolute http(s) URL, got \"%s\"", u);
    size_t n = strlen(u), host = (size_t)(strchr(u, ':') - u) + 3;
    if (n == host || strchr(u + host, '/') == u + host || strpbrk(u, " ?#"))
        return vg_error_set(err, VG_ECONFIG, "server.external_url: needs a host and no spaces, query or fragment, got \"%s\"", u);
    while (n > host && u[n - 1] == '/') u[--n] = '\0';
    return 0;
}

const config__section_t config__section_server = {
    .field = {.key = "server", .type = F_STRUCT, .off = OFF(config_t, server), .sub = server_fields},
    .defaults = server_defaults,
    .check = server_check,
};

static const char *const fsync_policies[] = {"never", "interval", "always", NULL};
static const char *const block_encodings[] = {"dense", "xor", NULL};
static const char *const backends[] = {"local", "remote", NULL};

static const config__field_t storage_fields[] = {
    {.key = "path", .type = F_STR, .off = OFF(config_storage_t, path)},
    {.key = "backend", .type = F_ENUM, .off = OFF(config_storage_t, backend), .names = backends},
    {.key = "wal_fsync", .type = F_ENUM, .off = OFF(config_storage_t, wal_fsync), .names = fsync_policies},
    {.key = "wal_fsync_interval", .type = F_DURATION, .off = OFF(config_storage_t, wal_fsync_interval_ms), .min = 1, .max = 60 * 1000},
    {.key = "wal_compression", .type = F_BOOL, .off = OFF(config_storage_t, wal_compression)},
    {.key = "retention", .type = F_DURATION, .off = OFF(config_storage_t, retention_ms), .min = 60 * 1000, .max = 100 * 365 * DAY_MS},
    {.key = "retention_size", .type = F_SIZE, .off = OFF(config_storage_t, retention_size), .min = 0, .max = INT64_C(1) << 60},
    {.key = "block_duration", .type = F_DURATION, .off = OFF(config_storage_t, block_duration_ms), .min = 60 * 1000, .max = 31 * DAY_MS},
    {.key = "block_chunk_encoding", .type = F_ENUM, .off = OFF(config_storage_t, block_chunk_encoding), .names = block_encodings},
    FIELD_END,
};

static int storage_defaults(config_t *c) {
    c->storage.path = strdup("./data");
    c->storage.retention_ms = 0; /* unset: resolved by config__storage_resolve (it depends on backend) */
    c->storage.wal_fsync = CONFIG_FSYNC_INTERVAL;
    c->storage.wal_fsync_interval_ms = 1000;
    c->storage.wal_compression = true;
    c->storage.block_duration_ms = 2LL * 3600 * 1000;
    c->storage.block_chunk_encoding = CONFIG_BLOCK_CHUNKS_DENSE;
    return c->storage.path ? 0 : VG_ENOMEM;
}

void config__storage_resolve(config_t *c) {
    if (c->storage.retention_ms) return;
    /* in gateway mode the local TSDB is the WAL buffer the remote_write queues read, not the store
     * queries read: a short default keeps its disk bounded */
    c->storage.retention_ms = c->storage.backend == CONFIG_BACKEND_REMOTE ? CONFIG_GATEWAY_RETENTION_MS : CONFIG_RETENTION_MS;
}

static int storage_check(config_t *c, vg_error_t *err) {
    (void)err;
    config__storage_resolve(c);
    return 0;
}

const config__section_t config__section_storage = {
    .field = {.key = "storage", .type = F_STRUCT, .off = OFF(config_t, storage), .sub = storage_fields,
              .pos_off = OFF(config_storage_t, line)},
    .defaults = storage_defaults,
    .check = storage_check,
};

static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};
static const char *const log_formats[] = {"json", "logfmt", NULL};

static const config__field_t log_fields[] = {
    {.key = "level", .type = F_ENUM, .off = OFF(config_log_t, level), .names = log_levels},
    {.key = "format", .type = F_ENUM, .off = OFF(config_log_t, format), .names = log_formats},
    FIELD_END,
};

static int log_defaults(config_t *c) {
    c->log.level = VG_LOG_INFO;
    c->log.format = VG_LOG_JSON;
    return 0;
}

const config__section_t config__section_log = {
    .field = {.key = "log", .type = F_STRUCT, .off = OFF(config_t, log), .sub = log_fields},
    .defaults = log_defaults,
};

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
