/* The `remote_read` section: a list of remote read endpoints whose data vigil reads into its own queries,
 * each with Prometheus 2.42's keys (url, name, remote_timeout, headers, read_recent, required_matchers,
 * filter_external_labels, basic_auth, authorization, tls_config) and vigil's tenant_safe,
 * max_response_bytes and sample_limit.
 *
 * An entry without a name is named by the first 6 hex digits of the XXH64 of its effective YAML, as
 * remote_write entries are. Checks follow Prometheus' (url scheme, unique names, one credential
 * source) and are located at the entry. */
#include "config_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <xxhash.h>

static const config__field_t rr_fields[] = {
    {.key = "url", .type = F_STR, .off = OFF(config_remote_read_entry_t, url)},
    {.key = "name", .type = F_STR, .off = OFF(config_remote_read_entry_t, name)},
    {.key = "remote_timeout", .type = F_DURATION, .off = OFF(config_remote_read_entry_t, remote_timeout_ms), .min = 1, .max = DAY_MS},
    {.key = "headers", .type = F_KV, .off = OFF(config_remote_read_entry_t, headers)},
    {.key = "read_recent", .type = F_BOOL, .off = OFF(config_remote_read_entry_t, read_recent)},
    {.key = "required_matchers", .type = F_LABELS, .off = OFF(config_remote_read_entry_t, required_matchers)},
    {.key = "filter_external_labels", .type = F_BOOL, .off = OFF(config_remote_read_entry_t, filter_external_labels)},
    {.key = "basic_auth", .type = F_STRUCT, .off = OFF(config_remote_read_entry_t, basic_auth), .sub = config__basic_auth_fields},
    {.key = "authorization", .type = F_STRUCT, .off = OFF(config_remote_read_entry_t, authorization),
     .sub = config__authorization_fields},
    {.key = "tls_config", .type = F_STRUCT, .off = OFF(config_remote_read_entry_t, tls_config), .sub = config__tls_fields},
    {.key = "tenant_safe", .type = F_BOOL, .off = OFF(config_remote_read_entry_t, tenant_safe)},
    {.key = "max_response_bytes", .type = F_SIZE, .off = OFF(config_remote_read_entry_t, max_response_bytes), .min = 1024,
     .max = 1LL << 34},
    {.key = "sample_limit", .type = F_INT, .off = OFF(config_remote_read_entry_t, sample_limit), .min = 1, .max = INT64_MAX},
    FIELD_END,
};

/* Prometheus 2.42's defaults (config.DefaultRemoteReadConfig), vigil's bounds. */
static void rr_init(void *p) {
    config_remote_read_entry_t *r = p;
    r->remote_timeout_ms = 60 * 1000;
    r->filter_external_labels = true;
    r->max_response_bytes = 256u << 20;
    r->sample_limit = 50000000;
}

static const char *const reserved_headers[] = {"authorization", "host", "content-encoding", "content-length",
                                               "content-type", "user-agent", "connection", "keep-alive",
                                               "accept-encoding", "x-prometheus-remote-read-version", NULL};

static bool header_ok(const char *h) {
    if (!*h) return false;
    for (const char *p = h; *p; p++)
        if (*p <= ' ' || *p >= 127 || strchr("()<>@,;:\\\"/[]?={}", *p)) return false;
    for (size_t i = 0; reserved_headers[i]; i++)
        if (!strcasecmp(h, reserved_headers[i])) return false;
    return true;
}

static int check_entry(config_t *c, config_remote_read_entry_t *r, size_t idx, vg_error_t *err) {
    if (!r->url) return config__fail_pos(err, r->line, r->col, "remote_read[%zu]: url for remote_read is empty", idx);
    if ((strncmp(r->url, "http://", 7) && strncmp(r->url, "https://", 8)) || strpbrk(r->url, " \t\r\n"))
        return config__fail_pos(err, r->line, r->col, "remote_read[%zu]: unsupported scheme in url \"%s\" (http or https)", idx,
                                r->url);
    bool generated = !r->name;
    if (generated) {
        vg_buf_t b = {0};
        config__write_fields(&b, rr_fields, (const char *)r, 0, false);
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
    for (size_t j = 0; j < idx; j++) {
        if (strcmp(c->remote_read.v[j].name, r->name)) continue;
        if (generated && !strcmp(c->remote_read.v[j].url, r->url))
            return config__fail_pos(err, r->line, r->col, "duplicate remote read configs are not allowed, found duplicate for URL: %s",
                                    r->url);
        return config__fail_pos(err, r->line, r->col, "found multiple remote read configs with job name \"%s\"", r->name);
    }
    int rc = config__check_http_client(&r->basic_auth, &r->authorization, NULL, NULL, r->line, r->col, err);
    if (rc) return rc;
    if (r->tls_config.server_name)
        return config__fail_pos(err, r->line, r->col, "remote_read[name=%s]: tls_config.server_name is not supported", r->name);
    for (size_t i = 0; i < r->headers.n; i++) {
        if (!header_ok(r->headers.keys[i]))
            return config__fail_pos(err, r->line, r->col, "remote_read[name=%s]: header \"%s\" is reserved or not a header name",
                                    r->name, r->headers.keys[i]);
        if (strpbrk(r->headers.values[i], "\r\n"))
            return config__fail_pos(err, r->line, r->col, "remote_read[name=%s]: header %s: value has a line break", r->name,
                                    r->headers.keys[i]);
    }
    return 0;
}

static int remote_read_check(config_t *c, vg_error_t *err) {
    for (size_t i = 0; i < c->remote_read.n; i++) {
        int rc = check_entry(c, &c->remote_read.v[i], i, err);
        if (rc) return rc;
    }
    return 0;
}

const config__section_t config__section_remote_read = {
    .field = LIST_OF("remote_read", config_t, remote_read, rr_fields, config_remote_read_entry_t, rr_init),
    .check = remote_read_check,
};
