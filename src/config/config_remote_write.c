/* The `remote_write` section: a list of receivers, each with Prometheus 2.42's keys (url, name,
 * remote_timeout, headers, basic_auth, authorization, tls_config, write_relabel_configs, queue_config,
 * metadata_config) and vigil's tenant_header / default_tenant for per-tenant forwarding.
 *
 * After decoding, an entry without a name is named by the first 6 hex digits of the XXH64 of its
 * effective YAML (as Prometheus names a queue by a hash of its config), so an unnamed entry keeps its
 * name — and its saved position — across restarts as long as it is unchanged. The checks follow
 * Prometheus' where it has them, each located at the entry. */
#include "config_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <xxhash.h>

static const config__field_t queue_fields[] = {
    {.key = "capacity", .type = F_INT, .off = OFF(config_rw_queue_t, capacity), .min = 1, .max = 10000000},
    {.key = "min_shards", .type = F_INT, .off = OFF(config_rw_queue_t, min_shards), .min = 1, .max = 10000},
    {.key = "max_shards", .type = F_INT, .off = OFF(config_rw_queue_t, max_shards), .min = 1, .max = 10000},
    {.key = "max_samples_per_send", .type = F_INT, .off = OFF(config_rw_queue_t, max_samples_per_send), .min = 1, .max = 1000000},
    {.key = "batch_send_deadline", .type = F_DURATION, .off = OFF(config_rw_queue_t, batch_send_deadline_ms), .min = 1, .max = DAY_MS},
    {.key = "min_backoff", .type = F_DURATION, .off = OFF(config_rw_queue_t, min_backoff_ms), .min = 1, .max = DAY_MS},
    {.key = "max_backoff", .type = F_DURATION, .off = OFF(config_rw_queue_t, max_backoff_ms), .min = 1, .max = DAY_MS},
    {.key = "retry_on_http_429", .type = F_BOOL, .off = OFF(config_rw_queue_t, retry_on_http_429)},
    FIELD_END,
};

static const config__field_t metadata_fields[] = {
    {.key = "send", .type = F_BOOL, .off = OFF(config_rw_metadata_t, send)},
    {.key = "send_interval", .type = F_DURATION, .off = OFF(config_rw_metadata_t, send_interval_ms), .min = 1, .max = DAY_MS},
    FIELD_END,
};

static const config__field_t rw_fields[] = {
    {.key = "url", .type = F_STR, .off = OFF(config_remote_write_t, url)},
    {.key = "name", .type = F_STR, .off = OFF(config_remote_write_t, name)},
    {.key = "remote_timeout", .type = F_DURATION, .off = OFF(config_remote_write_t, remote_timeout_ms), .min = 1, .max = DAY_MS},
    {.key = "headers", .type = F_KV, .off = OFF(config_remote_write_t, headers)},
    {.key = "basic_auth", .type = F_STRUCT, .off = OFF(config_remote_write_t, basic_auth), .sub = config__basic_auth_fields},
    {.key = "authorization", .type = F_STRUCT, .off = OFF(config_remote_write_t, authorization), .sub = config__authorization_fields},
    {.key = "tls_config", .type = F_STRUCT, .off = OFF(config_remote_write_t, tls_config), .sub = config__tls_fields},
    LIST_OF("write_relabel_configs", config_remote_write_t, write_relabel_configs, config__relabel_fields, config_relabel_t,
            config__relabel_init),
    {.key = "queue_config", .type = F_STRUCT, .off = OFF(config_remote_write_t, queue_config), .sub = queue_fields},
    {.key = "metadata_config", .type = F_STRUCT, .off = OFF(config_remote_write_t, metadata_config), .sub = metadata_fields},
    {.key = "tenant_header", .type = F_STR, .off = OFF(config_remote_write_t, tenant_header)},
    {.key = "default_tenant", .type = F_STR, .off = OFF(config_remote_write_t, default_tenant)},
    FIELD_END,
};

/* Prometheus 2.42's defaults (config.DefaultQueueConfig, DefaultMetadataConfig, remote_timeout). */
static void rw_init(void *p) {
    config_remote_write_t *r = p;
    r->remote_timeout_ms = 30 * 1000;
    r->queue_config = (config_rw_queue_t){.capacity = 2500, .min_shards = 1, .max_shards = 200,
                                          .max_samples_per_send = 500, .batch_send_deadline_ms = 5000,
                                          .min_backoff_ms = 30, .max_backoff_ms = 5000};
    r->metadata_config = (config_rw_metadata_t){.send = true, .send_interval_ms = 60 * 1000};
}

/* Headers the sender sets itself (Prometheus refuses them too, case-insensitively). */
static const char *const reserved_headers[] = {"authorization", "host", "content-encoding", "content-length",
                                               "content-type", "user-agent", "connection", "keep-alive",
                                               "proxy-authenticate", "proxy-authorization", "www-authenticate",
                                               "retry-after", "x-prometheus-remote-write-version", NULL};

static bool reserved(const char *h) {
    for (size_t i = 0; reserved_headers[i]; i++)
        if (!strcasecmp(h, reserved_headers[i])) return true;
    return false;
}

static bool header_name_ok(const char *h) {
    if (!*h) return false;
    for (const char *p = h; *p; p++)
        if (*p <= ' ' || *p >= 127 || strchr("()<>@,;:\\\"/[]?={}", *p)) return false;
    return true;
}

static int check_entry(config_t *c, config_remote_write_t *r, size_t idx, vg_error_t *err) {
    if (!r->url) return config__fail_pos(err, r->line, r->col, "remote_write[%zu]: url for remote_write is empty", idx);
    if (strncmp(r->url, "http://", 7) && strncmp(r->url, "https://", 8))
        return config__fail_pos(err, r->line, r->col, "remote_write[%zu]: unsupported scheme in url \"%s\" (http or https)",
                                idx, r->url);
    bool generated = !r->name;
    if (generated) {
        vg_buf_t b = {0};
        config__write_fields(&b, rw_fields, (const char *)r, 0, false);
        if (b.failed) {
            vg_buf_deinit(&b);
            return vg_error_set(err, VG_ENOMEM, "out of memory");
        }
        char h[17];
        snprintf(h, sizeof h, "%016llx", (unsigned long long)XXH64(b.data ? b.data : "", b.len, 0));
        vg_buf_deinit(&b);
        h[6] = '\0';
        if (!(r->name = strdup(h))) return vg_error_set(err, VG_ENOMEM, "out of memory");
    }
    const char *nm = r->name;
    for (size_t j = 0; j < idx; j++) {
        if (strcmp(c->remote_write.v[j].name, nm)) continue;
        if (generated && !strcmp(c->remote_write.v[j].url, r->url)) /* the same entry twice */
            return config__fail_pos(err, r->line, r->col, "duplicate remote write configs are not allowed, found duplicate for URL: %s",
                                    r->url);
        return config__fail_pos(err, r->line, r->col, "found multiple remote write configs with job name \"%s\"", nm);
    }
    for (size_t i = 0; nm[i]; i++)
        if (nm[i] == '/' || nm[i] == '\\' || (nm[i] == '.' && i == 0))
            return config__fail_pos(err, r->line, r->col, "remote_write[name=%s]: a name may not contain '/' or '\\' or start with '.'", nm);
    const config_rw_queue_t *q = &r->queue_config;
    if (q->min_shards > q->max_shards)
        return config__fail_pos(err, r->line, r->col, "remote_write[name=%s]: queue_config: min_shards (%lld) greater than max_shards (%lld)",
                                nm, (long long)q->min_shards, (long long)q->max_shards);
    if (q->min_backoff_ms > q->max_backoff_ms)
        return config__fail_pos(err, r->line, r->col, "remote_write[name=%s]: queue_config: min_backoff greater than max_backoff", nm);
    if (r->basic_auth.password && r->basic_auth.password_file)
        return config__fail_pos(err, r->line, r->col, "at most one of basic_auth password & password_file must be configured");
    bool has_authz = r->authorization.credentials || r->authorization.credentials_file;
    if (r->authorization.credentials && r->authorization.credentials_file)
        return config__fail_pos(err, r->line, r->col, "at most one of authorization credentials & credentials_file must be configured");
    if (has_authz && (r->basic_auth.username || r->basic_auth.password || r->basic_auth.password_file))
        return config__fail_pos(err, r->line, r->col, "at most one of basic_auth, authorization & bearer_token must be configured");
    if (r->authorization.type && !strcasecmp(r->authorization.type, "basic"))
        return config__fail_pos(err, r->line, r->col, "authorization type cannot be set to \"basic\", use \"basic_auth\" instead");
    if (r->tls_config.server_name)
        return config__fail_pos(err, r->line, r->col, "remote_write[name=%s]: tls_config.server_name is not supported", nm);
    for (size_t i = 0; i < r->headers.n; i++) {
        const char *h = r->headers.keys[i];
        if (!header_name_ok(h))
            return config__fail_pos(err, r->line, r->col, "remote_write[name=%s]: invalid header name \"%s\"", nm, h);
        if (reserved(h))
            return config__fail_pos(err, r->line, r->col, "%s is a reserved header. It must not be changed", h);
        if (r->tenant_header && !strcasecmp(h, r->tenant_header))
            return config__fail_pos(err, r->line, r->col, "remote_write[name=%s]: header %s is set by tenant_header", nm, h);
        if (strpbrk(r->headers.values[i], "\r\n"))
            return config__fail_pos(err, r->line, r->col, "remote_write[name=%s]: header %s: value has a line break", nm, h);
    }
    if (r->tenant_header && (!header_name_ok(r->tenant_header) || reserved(r->tenant_header)))
        return config__fail_pos(err, r->line, r->col, "remote_write[name=%s]: tenant_header \"%s\" is not a usable header name",
                                nm, r->tenant_header);
    if (r->default_tenant && !r->tenant_header)
        return config__fail_pos(err, r->line, r->col, "remote_write[name=%s]: default_tenant needs tenant_header", nm);
    if (r->default_tenant && strpbrk(r->default_tenant, "\r\n"))
        return config__fail_pos(err, r->line, r->col, "remote_write[name=%s]: default_tenant has a line break", nm);
    char where[256];
    for (size_t i = 0; i < r->write_relabel_configs.n; i++) {
        snprintf(where, sizeof where, "remote_write[name=%s].write_relabel_configs[%zu]", nm, i);
        int rc = config__check_relabel(&r->write_relabel_configs.v[i], where, err);
        if (rc) return rc;
    }
    return 0;
}

static int remote_write_check(config_t *c, vg_error_t *err) {
    for (size_t i = 0; i < c->remote_write.n; i++) {
        int rc = check_entry(c, &c->remote_write.v[i], i, err);
        if (rc) return rc;
    }
    return 0;
}

const config__section_t config__section_remote_write = {
    .field = LIST_OF("remote_write", config_t, remote_write, rw_fields, config_remote_write_t, rw_init),
    .check = remote_write_check,
};

uint64_t config_remote_write_hash(const config_t *c, size_t i) {
    const config_remote_write_t *r = &c->remote_write.v[i];
    vg_buf_t b = {0};
    config__write_fields(&b, rw_fields, (const char *)r, 0, false);
    /* what the YAML hides or what the queue takes from elsewhere in the file */
    const char *more[] = {r->basic_auth.password, r->authorization.credentials,
                          c->tenants.enforce.n ? c->tenants.enforce.keys[0] : ""};
    for (size_t k = 0; k < sizeof more / sizeof more[0]; k++) {
        vg_buf_putc(&b, '\0');
        if (more[k]) vg_buf_puts(&b, more[k]);
    }
    for (size_t k = 0; k < c->global.external_labels.n; k++)
        vg_buf_printf(&b, "%c%s=%s", 0, c->global.external_labels.keys[k], c->global.external_labels.values[k]);
    uint64_t h = XXH64(b.data ? b.data : "", b.len, 0);
    vg_buf_deinit(&b);
    return h;
}
