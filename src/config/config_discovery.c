/* The service discovery configs of a scrape job besides static and file SD: `kubernetes_sd_configs`,
 * `dns_sd_configs` and `http_sd_configs`, with Prometheus 2.42's keys, defaults and checks (its
 * wording where it has one), each error located at the SD config's position.
 *
 * The HTTP client keys every SD config shares with scrape_configs (basic_auth, authorization,
 * bearer_token[_file], tls_config, follow_redirects, enable_http2) are inline in each SD config, as in
 * Prometheus; their tables are config_scrape.c's. */
#include "config_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const k8s_roles[] = {"endpoints", "endpointslice", "node", "pod", "service", "ingress", NULL};

const char *config_k8s_role_name(int role) {
    return role >= 0 && role < CONFIG_K8S_N_ROLES ? k8s_roles[role] : "?";
}

/* The inline HTTP client keys of an SD config whose struct T has its config_http_client_t at `http`. */
#define HTTP_CLIENT_FIELDS(T)                                                                                        \
    {.key = "basic_auth", .type = F_STRUCT, .off = OFF(T, http.basic_auth), .sub = config__basic_auth_fields},       \
    {.key = "authorization", .type = F_STRUCT, .off = OFF(T, http.authorization), .sub = config__authorization_fields}, \
    {.key = "bearer_token", .type = F_STR, .off = OFF(T, http.bearer_token), .secret = true},                         \
    {.key = "bearer_token_file", .type = F_STR, .off = OFF(T, http.bearer_token_file)},                               \
    {.key = "tls_config", .type = F_STRUCT, .off = OFF(T, http.tls_config), .sub = config__tls_fields},               \
    {.key = "follow_redirects", .type = F_BOOL, .off = OFF(T, http.follow_redirects)},                                \
    {.key = "enable_http2", .type = F_BOOL, .off = OFF(T, http.enable_http2)}

static const config__field_t k8s_namespaces_fields[] = {
    {.key = "names", .type = F_STRLIST, .off = OFF(config_k8s_sd_t, namespaces.names) - OFF(config_k8s_sd_t, namespaces)},
    {.key = "own_namespace", .type = F_BOOL,
     .off = OFF(config_k8s_sd_t, namespaces.own_namespace) - OFF(config_k8s_sd_t, namespaces)},
    FIELD_END,
};

static const config__field_t k8s_selector_fields[] = {
    {.key = "role", .type = F_ENUM, .off = OFF(config_k8s_selector_t, role), .names = k8s_roles},
    {.key = "label", .type = F_STR, .off = OFF(config_k8s_selector_t, label), .empty_ok = true},
    {.key = "field", .type = F_STR, .off = OFF(config_k8s_selector_t, field), .empty_ok = true},
    FIELD_END,
};

static void selector_init(void *p) { ((config_k8s_selector_t *)p)->role = -1; }

const config__field_t config__k8s_sd_fields[] = {
    {.key = "api_server", .type = F_STR, .off = OFF(config_k8s_sd_t, api_server)},
    {.key = "role", .type = F_ENUM, .off = OFF(config_k8s_sd_t, role), .names = k8s_roles},
    {.key = "namespaces", .type = F_STRUCT, .off = OFF(config_k8s_sd_t, namespaces), .sub = k8s_namespaces_fields},
    LIST_OF("selectors", config_k8s_sd_t, selectors, k8s_selector_fields, config_k8s_selector_t, selector_init),
    HTTP_CLIENT_FIELDS(config_k8s_sd_t),
    FIELD_END,
};

const config__field_t config__dns_sd_fields[] = {
    {.key = "names", .type = F_STRLIST, .off = OFF(config_dns_sd_t, names)},
    {.key = "type", .type = F_STR, .off = OFF(config_dns_sd_t, type)},
    {.key = "port", .type = F_INT, .off = OFF(config_dns_sd_t, port), .min = 0, .max = 65535},
    {.key = "refresh_interval", .type = F_DURATION, .off = OFF(config_dns_sd_t, refresh_interval_ms), .min = 1000, .max = DAY_MS},
    FIELD_END,
};

const config__field_t config__http_sd_fields[] = {
    {.key = "url", .type = F_STR, .off = OFF(config_http_sd_t, url)},
    {.key = "refresh_interval", .type = F_DURATION, .off = OFF(config_http_sd_t, refresh_interval_ms), .min = 1000, .max = DAY_MS},
    HTTP_CLIENT_FIELDS(config_http_sd_t),
    FIELD_END,
};

static void http_client_init(config_http_client_t *h) {
    h->follow_redirects = true;
    h->enable_http2 = true;
}

void config__k8s_sd_init(void *p) {
    config_k8s_sd_t *k = p;
    k->role = -1;
    http_client_init(&k->http);
}

void config__dns_sd_init(void *p) { ((config_dns_sd_t *)p)->refresh_interval_ms = 30 * 1000; }

void config__http_sd_init(void *p) {
    config_http_sd_t *h = p;
    h->refresh_interval_ms = 60 * 1000;
    http_client_init(&h->http);
}

/* Prometheus' HTTPClientConfig.Validate, at the SD config's position. */
static int check_http_client(const config_http_client_t *h, const char *where, int line, int col, vg_error_t *err) {
    bool has_authz = h->authorization.credentials || h->authorization.credentials_file;
    bool has_basic = h->basic_auth.username || h->basic_auth.password || h->basic_auth.password_file;
    if (h->basic_auth.password && h->basic_auth.password_file)
        return config__fail_pos(err, line, col, "%s: at most one of basic_auth password & password_file must be configured", where);
    if (h->authorization.credentials && h->authorization.credentials_file)
        return config__fail_pos(err, line, col, "%s: at most one of authorization credentials & credentials_file must be configured", where);
    if (h->bearer_token && h->bearer_token_file)
        return config__fail_pos(err, line, col, "%s: at most one of bearer_token & bearer_token_file must be configured", where);
    if ((has_authz || h->bearer_token || h->bearer_token_file) + has_basic > 1)
        return config__fail_pos(err, line, col, "%s: at most one of basic_auth, authorization & bearer_token must be configured", where);
    if (has_authz && (h->bearer_token || h->bearer_token_file))
        return config__fail_pos(err, line, col, "%s: authorization is not compatible with bearer_token & bearer_token_file", where);
    if (h->authorization.type && !strcasecmp(h->authorization.type, "basic"))
        return config__fail_pos(err, line, col, "%s: authorization type cannot be set to \"basic\", use \"basic_auth\" instead", where);
    if (h->tls_config.server_name)
        return config__fail_pos(err, line, col, "%s: tls_config.server_name is not supported", where);
    return 0;
}

static bool http_client_set(const config_http_client_t *h) {
    return h->basic_auth.username || h->basic_auth.password || h->basic_auth.password_file || h->authorization.type ||
           h->authorization.credentials || h->authorization.credentials_file || h->bearer_token ||
           h->bearer_token_file || h->tls_config.ca_file || h->tls_config.cert_file || h->tls_config.key_file ||
           h->tls_config.insecure_skip_verify;
}

/* An http(s) URL with a host: what Prometheus' HTTP SD and api_server require. */
static bool http_url_ok(const char *u, bool *scheme_ok) {
    const char *rest = NULL;
    if (!strncasecmp(u, "http://", 7)) rest = u + 7;
    else if (!strncasecmp(u, "https://", 8)) rest = u + 8;
    *scheme_ok = rest != NULL;
    return rest && *rest && *rest != '/' && *rest != '?' && *rest != '#';
}

/* The selector roles each role watches (Prometheus' allowed selectors). */
static bool selector_allowed(int role, int sel) {
    switch (role) {
    case CONFIG_K8S_ENDPOINTS: return sel == CONFIG_K8S_POD || sel == CONFIG_K8S_SERVICE || sel == CONFIG_K8S_ENDPOINTS;
    case CONFIG_K8S_ENDPOINTSLICE:
        return sel == CONFIG_K8S_POD || sel == CONFIG_K8S_SERVICE || sel == CONFIG_K8S_ENDPOINTSLICE;
    default: return sel == role;
    }
}

static int check_k8s(const config_k8s_sd_t *k, const char *job, size_t idx, vg_error_t *err) {
    char where[300];
    snprintf(where, sizeof where, "scrape_configs[job_name=%s].kubernetes_sd_configs[%zu]", job, idx);
    if (k->role < 0)
        return config__fail_pos(err, k->line, k->col, "%s: role missing (one of: pod, service, endpoints, endpointslice, node, ingress)", where);
    int rc = check_http_client(&k->http, where, k->line, k->col, err);
    if (rc) return rc;
    if (!k->api_server && http_client_set(&k->http))
        return config__fail_pos(err, k->line, k->col,
                                "%s: to use custom HTTP client configuration please provide the 'api_server' URL explicitly", where);
    bool scheme_ok;
    if (k->api_server && !http_url_ok(k->api_server, &scheme_ok))
        return config__fail_pos(err, k->line, k->col, "%s: api_server: \"%s\" is not an http(s) URL with a host", where, k->api_server);
    for (size_t i = 0; i < k->namespaces.names.n; i++)
        if (!*k->namespaces.names.v[i] || strchr(k->namespaces.names.v[i], '/'))
            return config__fail_pos(err, k->line, k->col, "%s: namespaces.names: \"%s\" is not a namespace name", where,
                                    k->namespaces.names.v[i]);
    for (size_t i = 0; i < k->selectors.n; i++) {
        const config_k8s_selector_t *s = &k->selectors.v[i];
        if (s->role < 0) return config__fail_pos(err, s->line, s->col, "%s: selectors[%zu]: role missing", where, i);
        if (!selector_allowed(k->role, s->role)) {
            const char *allowed = k->role == CONFIG_K8S_ENDPOINTS       ? "pod, service, endpoints"
                                  : k->role == CONFIG_K8S_ENDPOINTSLICE ? "pod, service, endpointslice"
                                                                        : config_k8s_role_name(k->role);
            return config__fail_pos(err, s->line, s->col, "%s: %s role supports only %s selectors", where,
                                    config_k8s_role_name(k->role), allowed);
        }
        for (size_t j = 0; j < i; j++)
            if (k->selectors.v[j].role == s->role)
                return config__fail_pos(err, s->line, s->col, "%s: duplicated selector role: %s", where, config_k8s_role_name(s->role));
        const char *sels[2] = {s->label, s->field};
        for (int w = 0; w < 2; w++)
            if (sels[w] && strpbrk(sels[w], "&#\r\n"))
                return config__fail_pos(err, s->line, s->col, "%s: selectors[%zu]: invalid %s selector \"%s\"", where, i,
                                        w ? "field" : "label", sels[w]);
    }
    return 0;
}

static int check_dns(config_dns_sd_t *d, const char *job, size_t idx, vg_error_t *err) {
    char where[300];
    snprintf(where, sizeof where, "scrape_configs[job_name=%s].dns_sd_configs[%zu]", job, idx);
    if (d->names.n == 0) return config__fail_pos(err, d->line, d->col, "%s: DNS-SD config must contain at least one SRV record name", where);
    static const char *const types[] = {"SRV", "A", "AAAA", "MX"};
    d->qtype = -1;
    for (int i = 0; i < 4; i++)
        if (!d->type || !strcasecmp(d->type, types[i])) {
            d->qtype = i;
            break;
        }
    if (d->qtype < 0) return config__fail_pos(err, d->line, d->col, "%s: invalid DNS-SD records type %s", where, d->type);
    if (d->qtype != CONFIG_DNS_SRV && d->port == 0)
        return config__fail_pos(err, d->line, d->col, "%s: a port is required in DNS-SD configs for all record types except SRV", where);
    for (size_t i = 0; i < d->names.n; i++)
        if (!*d->names.v[i] || strlen(d->names.v[i]) > 253)
            return config__fail_pos(err, d->line, d->col, "%s: \"%s\" is not a DNS name", where, d->names.v[i]);
    return 0;
}

static int check_http(const config_http_sd_t *h, const char *job, size_t idx, vg_error_t *err) {
    char where[300];
    snprintf(where, sizeof where, "scrape_configs[job_name=%s].http_sd_configs[%zu]", job, idx);
    if (!h->url) return config__fail_pos(err, h->line, h->col, "%s: URL is missing", where);
    bool scheme_ok;
    if (!http_url_ok(h->url, &scheme_ok))
        return config__fail_pos(err, h->line, h->col, "%s: %s", where,
                                scheme_ok ? "host is missing in URL" : "URL scheme must be 'http' or 'https'");
    return check_http_client(&h->http, where, h->line, h->col, err);
}

int config__check_sd(config_scrape_t *s, vg_error_t *err) {
    int rc = 0;
    for (size_t i = 0; !rc && i < s->kubernetes_sd_configs.n; i++) rc = check_k8s(&s->kubernetes_sd_configs.v[i], s->job_name, i, err);
    for (size_t i = 0; !rc && i < s->dns_sd_configs.n; i++) rc = check_dns(&s->dns_sd_configs.v[i], s->job_name, i, err);
    for (size_t i = 0; !rc && i < s->http_sd_configs.n; i++) rc = check_http(&s->http_sd_configs.v[i], s->job_name, i, err);
    return rc;
}
