/* The `alerting` section (Prometheus' `alerting:`): the relabel rules every alert goes through, the
 * Alertmanager sets alerts are sent to, and the capacity of the notification queue.
 *
 * An Alertmanager set reuses the scrape job's types — static_configs, basic_auth, authorization,
 * bearer_token(_file), tls_config and relabel_configs — with the same checks, each located at the
 * set's position (or the relabel rule's). Only Alertmanager's v2 API is spoken: `api_version: v1` is
 * decoded, so the error can say so, and refused by the check. */
#include "config_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const api_versions[] = {"v1", "v2", NULL};

static void alertmanager_init(void *p) {
    config_alertmanager_t *a = p;
    a->scheme = strdup("http");
    a->path_prefix = strdup("/");
    a->timeout_ms = 10 * 1000;
    a->api_version = CONFIG_AM_API_V2;
    a->follow_redirects = true;
}

static const config__field_t alertmanager_fields[] = {
    {.key = "scheme", .type = F_STR, .off = OFF(config_alertmanager_t, scheme)},
    {.key = "path_prefix", .type = F_STR, .off = OFF(config_alertmanager_t, path_prefix), .empty_ok = true},
    {.key = "timeout", .type = F_DURATION, .off = OFF(config_alertmanager_t, timeout_ms), .min = 1, .max = DAY_MS},
    {.key = "api_version", .type = F_ENUM, .off = OFF(config_alertmanager_t, api_version), .names = api_versions},
    {.key = "basic_auth", .type = F_STRUCT, .off = OFF(config_alertmanager_t, basic_auth), .sub = config__basic_auth_fields},
    {.key = "authorization", .type = F_STRUCT, .off = OFF(config_alertmanager_t, authorization), .sub = config__authorization_fields},
    {.key = "bearer_token", .type = F_STR, .off = OFF(config_alertmanager_t, bearer_token), .secret = true},
    {.key = "bearer_token_file", .type = F_STR, .off = OFF(config_alertmanager_t, bearer_token_file)},
    {.key = "tls_config", .type = F_STRUCT, .off = OFF(config_alertmanager_t, tls_config), .sub = config__tls_fields},
    {.key = "follow_redirects", .type = F_BOOL, .off = OFF(config_alertmanager_t, follow_redirects)},
    LIST_OF("static_configs", config_alertmanager_t, static_configs, config__static_fields, config_static_t, NULL),
    LIST_OF("relabel_configs", config_alertmanager_t, relabel_configs, config__relabel_fields, config_relabel_t, config__relabel_init),
    FIELD_END,
};

static const config__field_t alerting_fields[] = {
    LIST_OF("alert_relabel_configs", config_alerting_t, alert_relabel_configs, config__relabel_fields, config_relabel_t,
            config__relabel_init),
    LIST_OF("alertmanagers", config_alerting_t, alertmanagers, alertmanager_fields, config_alertmanager_t, alertmanager_init),
    {.key = "notification_queue_capacity", .type = F_INT, .off = OFF(config_alerting_t, notification_queue_capacity),
     .min = 1, .max = 10000000},
    FIELD_END,
};

static int alerting_defaults(config_t *c) {
    c->alerting.notification_queue_capacity = 10000;
    return 0;
}

static int check_alertmanager(const config_alertmanager_t *a, size_t idx, vg_error_t *err) {
    char where[128];
    snprintf(where, sizeof where, "alerting.alertmanagers[%zu]", idx);
    if (a->api_version != CONFIG_AM_API_V2)
        return config__fail_pos(err, a->line, a->col,
                                "%s: api_version %s is not supported: vigil sends alerts with Alertmanager's v2 API only "
                                "(api_version: v2, Alertmanager 0.16 or later)",
                                where, api_versions[a->api_version]);
    if (strcmp(a->scheme, "http") && strcmp(a->scheme, "https"))
        return config__fail_pos(err, a->line, a->col, "%s: unsupported scheme \"%s\" (http or https)", where, a->scheme);
    if (strpbrk(a->path_prefix, "?# \t\r\n"))
        return config__fail_pos(err, a->line, a->col, "%s: path_prefix \"%s\" must be a URL path (no query, fragment or spaces)",
                                where, a->path_prefix);
    int rc = config__check_http_client(&a->basic_auth, &a->authorization, a->bearer_token, a->bearer_token_file, a->line,
                                       a->col, err);
    if (rc) return rc;
    if (a->tls_config.server_name)
        return config__fail_pos(err, a->line, a->col, "%s: tls_config.server_name is not supported", where);
    for (size_t i = 0; i < a->static_configs.n; i++)
        if ((rc = config__check_targets(&a->static_configs.v[i], err))) return rc;
    for (size_t i = 0; i < a->relabel_configs.n; i++) {
        char rwhere[192];
        snprintf(rwhere, sizeof rwhere, "%s.relabel_configs[%zu]", where, i);
        if ((rc = config__check_relabel(&a->relabel_configs.v[i], rwhere, err))) return rc;
    }
    return 0;
}

static int alerting_check(config_t *c, vg_error_t *err) {
    const config_alerting_t *al = &c->alerting;
    for (size_t i = 0; i < al->alert_relabel_configs.n; i++) {
        char where[96];
        snprintf(where, sizeof where, "alerting.alert_relabel_configs[%zu]", i);
        int rc = config__check_relabel(&al->alert_relabel_configs.v[i], where, err);
        if (rc) return rc;
    }
    for (size_t i = 0; i < al->alertmanagers.n; i++) {
        int rc = check_alertmanager(&al->alertmanagers.v[i], i, err);
        if (rc) return rc;
    }
    return 0;
}

const config__section_t config__section_alerting = {
    .field = {.key = "alerting", .type = F_STRUCT, .off = OFF(config_t, alerting), .sub = alerting_fields},
    .defaults = alerting_defaults,
    .check = alerting_check,
};
