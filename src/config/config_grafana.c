/* The `grafana` section (docs/grafana.md): where Grafana is, how vigil calls it, and how often a tenant
 * may ask for a token. Off while `url` is unset; with it, `vigil_url` is required and at most one
 * admin password source may be given; datasource_url_allow holds plain http(s) URL prefixes (the
 * grafana module compares them, src/grafana/url.c). */
#include "config_int.h"

#include <stdlib.h>
#include <string.h>

static const config__field_t grafana_fields[] = {
    {.key = "url", .type = F_STR, .off = OFF(config_grafana_t, url)},
    {.key = "external_url", .type = F_STR, .off = OFF(config_grafana_t, external_url)},
    {.key = "admin_user", .type = F_STR, .off = OFF(config_grafana_t, admin_user)},
    {.key = "admin_password", .type = F_STR, .off = OFF(config_grafana_t, admin_password), .secret = true},
    {.key = "admin_password_file", .type = F_STR, .off = OFF(config_grafana_t, admin_password_file)},
    {.key = "vigil_url", .type = F_STR, .off = OFF(config_grafana_t, vigil_url)},
    {.key = "dashboards_dir", .type = F_STR, .off = OFF(config_grafana_t, dashboards_dir)},
    {.key = "token_ttl", .type = F_DURATION, .off = OFF(config_grafana_t, token_ttl_ms), .min = 60 * 1000, .max = 10 * 365 * DAY_MS},
    {.key = "timeout", .type = F_DURATION, .off = OFF(config_grafana_t, timeout_ms), .min = 100, .max = 10 * 60 * 1000},
    {.key = "connect_timeout", .type = F_DURATION, .off = OFF(config_grafana_t, connect_timeout_ms), .min = 100, .max = 60 * 1000},
    {.key = "retries", .type = F_INT, .off = OFF(config_grafana_t, retries), .min = 0, .max = 10},
    {.key = "retry_backoff", .type = F_DURATION, .off = OFF(config_grafana_t, retry_backoff_ms), .min = 1, .max = 60 * 1000},
    {.key = "retry_backoff_max", .type = F_DURATION, .off = OFF(config_grafana_t, retry_backoff_max_ms), .min = 1, .max = 10 * 60 * 1000},
    {.key = "max_response_bytes", .type = F_SIZE, .off = OFF(config_grafana_t, max_response_bytes), .min = 4096, .max = 1LL << 30},
    {.key = "variables", .type = F_KV, .off = OFF(config_grafana_t, variables)},
    {.key = "token_requests", .type = F_INT, .off = OFF(config_grafana_t, token_requests), .min = 1, .max = 1000000},
    {.key = "token_window", .type = F_DURATION, .off = OFF(config_grafana_t, token_window_ms), .min = 1000, .max = DAY_MS},
    {.key = "datasource_url_allow", .type = F_STRLIST, .off = OFF(config_grafana_t, datasource_url_allow)},
    FIELD_END,
};

static int grafana_defaults(config_t *c) {
    c->grafana.admin_user = strdup("admin");
    c->grafana.token_ttl_ms = 365 * DAY_MS;
    c->grafana.timeout_ms = 10000;
    c->grafana.connect_timeout_ms = 2000;
    c->grafana.retries = 3;
    c->grafana.retry_backoff_ms = 200;
    c->grafana.retry_backoff_max_ms = 5000;
    c->grafana.max_response_bytes = 8u << 20;
    c->grafana.token_requests = 5;
    c->grafana.token_window_ms = 5 * 60 * 1000;
    return c->grafana.admin_user ? 0 : VG_ENOMEM;
}

static int grafana_check(config_t *c, vg_error_t *err) {
    if (c->grafana.url && !c->grafana.vigil_url)
        return vg_error_set(err, VG_ECONFIG, "grafana.vigil_url is required with grafana.url (the datasource URL Grafana uses)");
    if (c->grafana.admin_password && c->grafana.admin_password_file)
        return vg_error_set(err, VG_ECONFIG, "grafana: at most one of admin_password & admin_password_file");
    for (size_t i = 0; i < c->grafana.datasource_url_allow.n; i++) {
        const char *u = c->grafana.datasource_url_allow.v[i];
        bool scheme = !strncmp(u, "http://", 7) || !strncmp(u, "https://", 8);
        if (!scheme || strpbrk(u, "@?#%\\ \t"))
            return vg_error_set(err, VG_ECONFIG,
                                "grafana.datasource_url_allow[%zu]: want an http(s) URL prefix without userinfo, query, "
                                "fragment or %%-escapes",
                                i);
    }
    return 0;
}

const config__section_t config__section_grafana = {
    .field = {.key = "grafana", .type = F_STRUCT, .off = OFF(config_t, grafana), .sub = grafana_fields},
    .defaults = grafana_defaults,
    .check = grafana_check,
};
