/* The `remote_query` and `remote_read_limits` sections (docs/configuration.md).
 *
 * remote_query: the Prometheus-compatible API that answers every read when storage.backend is remote
 * (vigil as a gateway): its URL, how vigil authenticates to it (basic_auth or authorization, TLS), the
 * headers sent with every request, and tenant_header — the header naming the caller's tenant (Mimir's
 * and Cortex' X-Scope-OrgID). Rules spanning fields: backend remote needs a url; the url is http(s)
 * without userinfo, query or fragment; at most one of basic_auth & authorization, of password &
 * password_file, of credentials & credentials_file; headers may not carry Authorization or the
 * tenant header (vigil sets those) and must be valid header names and values.
 *
 * remote_read_limits: bounds of POST /api/v1/read — decoded request size, queries per request, samples per
 * request, bytes per streamed frame. */
#include "config_int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const config__field_t remote_query_fields[] = {
    {.key = "url", .type = F_STR, .off = OFF(config_remote_query_t, url)},
    {.key = "tenant_header", .type = F_STR, .off = OFF(config_remote_query_t, tenant_header)},
    {.key = "unscoped_tenant", .type = F_STR, .off = OFF(config_remote_query_t, unscoped_tenant)},
    {.key = "headers", .type = F_KV, .off = OFF(config_remote_query_t, headers)},
    {.key = "timeout", .type = F_DURATION, .off = OFF(config_remote_query_t, timeout_ms), .min = 100, .max = DAY_MS},
    {.key = "tls_config", .type = F_STRUCT, .off = OFF(config_remote_query_t, tls_config), .sub = config__tls_fields},
    {.key = "basic_auth", .type = F_STRUCT, .off = OFF(config_remote_query_t, basic_auth), .sub = config__basic_auth_fields},
    {.key = "authorization", .type = F_STRUCT, .off = OFF(config_remote_query_t, authorization),
     .sub = config__authorization_fields},
    FIELD_END,
};

/* RFC 9110 token characters. */
static bool header_name_ok(const char *s) {
    if (!*s) return false;
    for (; *s; s++)
        if (!(*s > 0x20 && *s < 0x7f) || strchr("\"(),/:;<=>?@[\\]{}", *s)) return false;
    return true;
}

static bool header_value_ok(const char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 && *s != '\t') return false;
    return true;
}

static int remote_query_check(config_t *c, vg_error_t *err) {
    const config_remote_query_t *q = &c->remote_query;
    int line = q->line, col = q->col;
    if (c->storage.backend == CONFIG_BACKEND_REMOTE && !q->url)
        return config__fail_pos(err, c->storage.line, c->storage.col,
                                "storage.backend is remote: remote_query.url (the Prometheus-compatible API that answers "
                                "reads) is required");
    if (q->url) {
        const char *u = q->url;
        bool scheme = !strncmp(u, "http://", 7) || !strncmp(u, "https://", 8);
        const char *host = u + (u[4] == 's' ? 8 : 7);
        if (!scheme || !*host || *host == '/' || strpbrk(u, "?#@ \t\r\n"))
            return config__fail_pos(err, line, col,
                                    "remote_query.url: \"%s\" is not an http(s) URL without userinfo, query or fragment", u);
    }
    if (q->tenant_header && !header_name_ok(q->tenant_header))
        return config__fail_pos(err, line, col, "remote_query.tenant_header: \"%s\" is not a valid header name", q->tenant_header);
    if (q->unscoped_tenant && (!q->tenant_header || !header_value_ok(q->unscoped_tenant)))
        return config__fail_pos(err, line, col,
                                q->tenant_header ? "remote_query.unscoped_tenant: not a valid header value"
                                                 : "remote_query.unscoped_tenant needs remote_query.tenant_header");
    for (size_t i = 0; i < q->headers.n; i++) {
        const char *k = q->headers.keys[i];
        if (!header_name_ok(k) || !header_value_ok(q->headers.values[i]))
            return config__fail_pos(err, line, col, "remote_query.headers: \"%s\" is not a valid header name and value", k);
        if (!strcasecmp(k, "Authorization") || (q->tenant_header && !strcasecmp(k, q->tenant_header)))
            return config__fail_pos(err, line, col,
                                    "remote_query.headers: \"%s\" is set by vigil (use authorization or basic_auth for "
                                    "credentials, tenant_header for the tenant)",
                                    k);
    }
    const config_basic_auth_t *b = &q->basic_auth;
    const config_authorization_t *a = &q->authorization;
    if (b->password && b->password_file)
        return config__fail_pos(err, line, col, "remote_query: at most one of basic_auth password & password_file must be configured");
    if (a->credentials && a->credentials_file)
        return config__fail_pos(err, line, col,
                                "remote_query: at most one of authorization credentials & credentials_file must be configured");
    bool has_basic = b->username || b->password || b->password_file, has_authz = a->credentials || a->credentials_file;
    if (has_basic && has_authz)
        return config__fail_pos(err, line, col, "remote_query: at most one of basic_auth & authorization must be configured");
    if (a->type && !strcasecmp(a->type, "basic"))
        return config__fail_pos(err, line, col, "remote_query: authorization type cannot be set to \"basic\", use basic_auth");
    if (q->tls_config.server_name)
        return config__fail_pos(err, line, col,
                                "remote_query.tls_config.server_name is not supported: name the server in the url");
    if ((q->tls_config.cert_file != NULL) != (q->tls_config.key_file != NULL))
        return config__fail_pos(err, line, col, "remote_query.tls_config: cert_file and key_file go together");
    return 0;
}

static int remote_query_defaults(config_t *c) {
    c->remote_query.timeout_ms = 2 * 60 * 1000; /* as query.timeout */
    return 0;
}

const config__section_t config__section_remote_query = {
    .field = {.key = "remote_query", .type = F_STRUCT, .off = OFF(config_t, remote_query), .sub = remote_query_fields,
              .pos_off = OFF(config_remote_query_t, line)},
    .defaults = remote_query_defaults,
    .check = remote_query_check,
};

static const config__field_t remote_read_fields[] = {
    {.key = "max_request_bytes", .type = F_SIZE, .off = OFF(config_remote_read_t, max_request_bytes), .min = 1024,
     .max = 1LL << 30},
    {.key = "max_queries", .type = F_INT, .off = OFF(config_remote_read_t, max_queries), .min = 1, .max = 100000},
    {.key = "sample_limit", .type = F_INT, .off = OFF(config_remote_read_t, sample_limit), .min = 1, .max = INT64_MAX},
    {.key = "max_bytes_in_frame", .type = F_SIZE, .off = OFF(config_remote_read_t, max_bytes_in_frame), .min = 1024,
     .max = 1LL << 30},
    FIELD_END,
};

static int remote_read_defaults(config_t *c) {
    c->remote_read_limits.max_request_bytes = 8u << 20;
    c->remote_read_limits.max_queries = 100;
    c->remote_read_limits.sample_limit = 50000000;        /* Prometheus' --storage.remote.read-sample-limit */
    c->remote_read_limits.max_bytes_in_frame = 1u << 20; /* Prometheus' --storage.remote.read-max-bytes-in-frame */
    return 0;
}

const config__section_t config__section_remote_read_limits = {
    .field = {.key = "remote_read_limits", .type = F_STRUCT, .off = OFF(config_t, remote_read_limits), .sub = remote_read_fields},
    .defaults = remote_read_defaults,
};
