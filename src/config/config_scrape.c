/* The Prometheus-compatible scrape sections: `global` (intervals, external labels) and
 * `scrape_configs` (jobs with their HTTP client settings, static and file service discovery — the other
 * discovery mechanisms' tables are in config_discovery.c —, relabel
 * rules and per-scrape limits), plus file_sd target files, which share the static_configs table.
 *
 * After decoding, each job inherits global's interval and timeout where it left them unset (0), the
 * timeout capped at the job's interval; the checks then follow Prometheus' rules, in its wording where
 * it has one, each located at the job's or relabel rule's position. */
#include "config_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const relabel_actions[] = {"replace",  "keep",     "drop",      "keepequal",
                                              "dropequal", "hashmod",  "labelmap",  "labeldrop",
                                              "labelkeep", "lowercase", "uppercase", NULL};

const char *config_relabel_action_name(config_relabel_action_t a) {
    return (unsigned)a < sizeof relabel_actions / sizeof relabel_actions[0] - 1 ? relabel_actions[a] : "?";
}

static const config__field_t global_fields[] = {
    {.key = "scrape_interval", .type = F_DURATION, .off = OFF(config_global_t, scrape_interval_ms), .min = 1, .max = DAY_MS},
    {.key = "scrape_timeout", .type = F_DURATION, .off = OFF(config_global_t, scrape_timeout_ms), .min = 1, .max = DAY_MS},
    {.key = "evaluation_interval", .type = F_DURATION, .off = OFF(config_global_t, evaluation_interval_ms), .min = 1, .max = DAY_MS},
    {.key = "external_labels", .type = F_LABELS, .off = OFF(config_global_t, external_labels)},
    FIELD_END,
};

const config__field_t config__relabel_fields[] = {
    {.key = "source_labels", .type = F_STRLIST, .off = OFF(config_relabel_t, source_labels)},
    {.key = "separator", .type = F_STR, .off = OFF(config_relabel_t, separator), .empty_ok = true},
    {.key = "target_label", .type = F_STR, .off = OFF(config_relabel_t, target_label)},
    {.key = "regex", .type = F_REGEX, .off = OFF(config_relabel_t, regex), .empty_ok = true},
    {.key = "modulus", .type = F_INT, .off = OFF(config_relabel_t, modulus), .min = 0, .max = INT64_MAX},
    {.key = "replacement", .type = F_STR, .off = OFF(config_relabel_t, replacement), .empty_ok = true},
    {.key = "action", .type = F_ENUM, .off = OFF(config_relabel_t, action), .names = relabel_actions},
    FIELD_END,
};

const config__field_t config__static_fields[] = {
    {.key = "targets", .type = F_STRLIST, .off = OFF(config_static_t, targets)},
    {.key = "labels", .type = F_LABELS, .off = OFF(config_static_t, labels)},
    FIELD_END,
};

static const config__field_t file_sd_fields[] = {
    {.key = "files", .type = F_STRLIST, .off = OFF(config_file_sd_t, files)},
    {.key = "refresh_interval", .type = F_DURATION, .off = OFF(config_file_sd_t, refresh_interval_ms), .min = 1000, .max = DAY_MS},
    FIELD_END,
};

const config__field_t config__basic_auth_fields[] = {
    {.key = "username", .type = F_STR, .off = OFF(config_basic_auth_t, username), .empty_ok = true},
    {.key = "password", .type = F_STR, .off = OFF(config_basic_auth_t, password), .empty_ok = true, .secret = true},
    {.key = "password_file", .type = F_STR, .off = OFF(config_basic_auth_t, password_file)},
    FIELD_END,
};

const config__field_t config__authorization_fields[] = {
    {.key = "type", .type = F_STR, .off = OFF(config_authorization_t, type)},
    {.key = "credentials", .type = F_STR, .off = OFF(config_authorization_t, credentials), .secret = true},
    {.key = "credentials_file", .type = F_STR, .off = OFF(config_authorization_t, credentials_file)},
    FIELD_END,
};

const config__field_t config__tls_fields[] = {
    {.key = "ca_file", .type = F_STR, .off = OFF(config_tls_t, ca_file)},
    {.key = "cert_file", .type = F_STR, .off = OFF(config_tls_t, cert_file)},
    {.key = "key_file", .type = F_STR, .off = OFF(config_tls_t, key_file)},
    {.key = "server_name", .type = F_STR, .off = OFF(config_tls_t, server_name)},
    {.key = "insecure_skip_verify", .type = F_BOOL, .off = OFF(config_tls_t, insecure_skip_verify)},
    FIELD_END,
};

void config__relabel_init(void *p) {
    config_relabel_t *r = p;
    r->separator = strdup(";");
    r->regex = strdup("(.*)");
    r->replacement = strdup("$1");
    r->action = CONFIG_RELABEL_REPLACE;
}

static void file_sd_init(void *p) { ((config_file_sd_t *)p)->refresh_interval_ms = 5 * 60 * 1000; }

static void scrape_init(void *p) {
    config_scrape_t *s = p;
    s->metrics_path = strdup("/metrics");
    s->scheme = strdup("http");
    s->honor_timestamps = true;
    s->follow_redirects = true;
}

static const config__field_t scrape_fields[] = {
    {.key = "job_name", .type = F_STR, .off = OFF(config_scrape_t, job_name)},
    {.key = "scrape_interval", .type = F_DURATION, .off = OFF(config_scrape_t, scrape_interval_ms), .min = 1, .max = DAY_MS},
    {.key = "scrape_timeout", .type = F_DURATION, .off = OFF(config_scrape_t, scrape_timeout_ms), .min = 1, .max = DAY_MS},
    {.key = "metrics_path", .type = F_STR, .off = OFF(config_scrape_t, metrics_path)},
    {.key = "scheme", .type = F_STR, .off = OFF(config_scrape_t, scheme)},
    {.key = "params", .type = F_PARAMS, .off = OFF(config_scrape_t, params)},
    {.key = "honor_labels", .type = F_BOOL, .off = OFF(config_scrape_t, honor_labels)},
    {.key = "honor_timestamps", .type = F_BOOL, .off = OFF(config_scrape_t, honor_timestamps)},
    {.key = "basic_auth", .type = F_STRUCT, .off = OFF(config_scrape_t, basic_auth), .sub = config__basic_auth_fields},
    {.key = "authorization", .type = F_STRUCT, .off = OFF(config_scrape_t, authorization), .sub = config__authorization_fields},
    {.key = "bearer_token", .type = F_STR, .off = OFF(config_scrape_t, bearer_token), .secret = true},
    {.key = "bearer_token_file", .type = F_STR, .off = OFF(config_scrape_t, bearer_token_file)},
    {.key = "tls_config", .type = F_STRUCT, .off = OFF(config_scrape_t, tls_config), .sub = config__tls_fields},
    LIST_OF("static_configs", config_scrape_t, static_configs, config__static_fields, config_static_t, NULL),
    {.key = "file_sd_configs", .type = F_LIST, .off = OFF(config_scrape_t, file_sd_configs), .sub = file_sd_fields,
     .elem_size = sizeof(config_file_sd_t), .init = file_sd_init},
    LIST_OF("kubernetes_sd_configs", config_scrape_t, kubernetes_sd_configs, config__k8s_sd_fields, config_k8s_sd_t,
            config__k8s_sd_init),
    LIST_OF("dns_sd_configs", config_scrape_t, dns_sd_configs, config__dns_sd_fields, config_dns_sd_t, config__dns_sd_init),
    LIST_OF("http_sd_configs", config_scrape_t, http_sd_configs, config__http_sd_fields, config_http_sd_t, config__http_sd_init),
    LIST_OF("relabel_configs", config_scrape_t, relabel_configs, config__relabel_fields, config_relabel_t, config__relabel_init),
    LIST_OF("metric_relabel_configs", config_scrape_t, metric_relabel_configs, config__relabel_fields, config_relabel_t, config__relabel_init),
    {.key = "sample_limit", .type = F_INT, .off = OFF(config_scrape_t, sample_limit), .min = 0, .max = INT64_MAX},
    {.key = "label_limit", .type = F_INT, .off = OFF(config_scrape_t, label_limit), .min = 0, .max = INT64_MAX},
    {.key = "label_name_length_limit", .type = F_INT, .off = OFF(config_scrape_t, label_name_length_limit), .min = 0, .max = INT64_MAX},
    {.key = "label_value_length_limit", .type = F_INT, .off = OFF(config_scrape_t, label_value_length_limit), .min = 0, .max = INT64_MAX},
    {.key = "target_limit", .type = F_INT, .off = OFF(config_scrape_t, target_limit), .min = 0, .max = INT64_MAX},
    {.key = "body_size_limit", .type = F_SIZE, .off = OFF(config_scrape_t, body_size_limit), .min = 0, .max = INT64_MAX},
    {.key = "follow_redirects", .type = F_BOOL, .off = OFF(config_scrape_t, follow_redirects)},
    FIELD_END,
};

static int global_defaults(config_t *c) {
    c->global.scrape_interval_ms = 15 * 1000;
    c->global.scrape_timeout_ms = 10 * 1000;
    c->global.evaluation_interval_ms = 60 * 1000;
    return 0;
}

static int global_check(config_t *c, vg_error_t *err) {
    if (c->global.scrape_timeout_ms > c->global.scrape_interval_ms)
        return vg_error_set(err, VG_ECONFIG, "global scrape timeout greater than scrape interval");
    return 0;
}

const config__section_t config__section_global = {
    .field = {.key = "global", .type = F_STRUCT, .off = OFF(config_t, global), .sub = global_fields},
    .defaults = global_defaults,
    .check = global_check,
};

int config__check_relabel(const config_relabel_t *r, const char *where, vg_error_t *err) {
    const char *act = config_relabel_action_name(r->action);
    bool needs_target = r->action == CONFIG_RELABEL_REPLACE || r->action == CONFIG_RELABEL_HASHMOD ||
                        r->action == CONFIG_RELABEL_LOWERCASE || r->action == CONFIG_RELABEL_UPPERCASE ||
                        r->action == CONFIG_RELABEL_KEEPEQUAL || r->action == CONFIG_RELABEL_DROPEQUAL;
    if (needs_target && (!r->target_label || !*r->target_label))
        return config__fail_pos(err, r->line, r->col, "%s: relabel configuration for %s action requires 'target_label' value", where, act);
    if (r->target_label && r->action != CONFIG_RELABEL_REPLACE && !config__valid_label_name(r->target_label, strlen(r->target_label)))
        return config__fail_pos(err, r->line, r->col, "%s: \"%s\" is invalid 'target_label' for %s action", where, r->target_label, act);
    if (r->action == CONFIG_RELABEL_HASHMOD && r->modulus == 0)
        return config__fail_pos(err, r->line, r->col, "%s: relabel configuration for hashmod requires non-zero modulus", where);
    bool default_rest = !strcmp(r->separator, ";") && !strcmp(r->replacement, "$1") && r->modulus == 0;
    if ((r->action == CONFIG_RELABEL_LABELDROP || r->action == CONFIG_RELABEL_LABELKEEP) &&
        (r->source_labels.n || r->target_label || !default_rest))
        return config__fail_pos(err, r->line, r->col, "%s: %s action requires only 'regex', and no other fields", where, act);
    if ((r->action == CONFIG_RELABEL_KEEPEQUAL || r->action == CONFIG_RELABEL_DROPEQUAL) &&
        (strcmp(r->regex, "(.*)") || !default_rest))
        return config__fail_pos(err, r->line, r->col, "%s: %s action requires only 'source_labels' and `target_label`, and no other fields",
                        where, act);
    if ((r->action == CONFIG_RELABEL_KEEP || r->action == CONFIG_RELABEL_DROP || r->action == CONFIG_RELABEL_HASHMOD ||
         r->action == CONFIG_RELABEL_KEEPEQUAL || r->action == CONFIG_RELABEL_DROPEQUAL) &&
        r->source_labels.n == 0)
        return config__fail_pos(err, r->line, r->col, "%s: %s action requires 'source_labels'", where, act);
    for (size_t i = 0; i < r->source_labels.n; i++)
        if (!config__valid_label_name(r->source_labels.v[i], strlen(r->source_labels.v[i])))
            return config__fail_pos(err, r->line, r->col, "%s: \"%s\" is not a valid label name in source_labels", where, r->source_labels.v[i]);
    return 0;
}

static int check_relabels(const config_relabel_list_t *l, const char *job, const char *what, vg_error_t *err) {
    char where[256];
    for (size_t i = 0; i < l->n; i++) {
        snprintf(where, sizeof where, "scrape_configs[job_name=%s].%s[%zu]", job, what, i);
        int rc = config__check_relabel(&l->v[i], where, err);
        if (rc) return rc;
    }
    return 0;
}

int config__check_targets(const config_static_t *st, vg_error_t *err) {
    for (size_t t = 0; t < st->targets.n; t++) {
        const char *tg = st->targets.v[t];
        if (!*tg || strchr(tg, '/') || strchr(tg, ' '))
            return config__fail_pos(err, st->line, st->col, "\"%s\" is not a valid hostname", tg);
    }
    return 0;
}

/* The credential rules of Prometheus' HTTP client config, shared by scrape jobs and Alertmanager sets. */
int config__check_http_client(const config_basic_auth_t *ba, const config_authorization_t *az, const char *bearer_token,
                              const char *bearer_token_file, int line, int col, vg_error_t *err) {
    if (ba->password && ba->password_file)
        return config__fail_pos(err, line, col, "at most one of basic_auth password & password_file must be configured");
    bool has_authz = az->credentials || az->credentials_file;
    if (az->credentials && az->credentials_file)
        return config__fail_pos(err, line, col, "at most one of authorization credentials & credentials_file must be configured");
    if (bearer_token && bearer_token_file)
        return config__fail_pos(err, line, col, "at most one of bearer_token & bearer_token_file must be configured");
    if ((has_authz || bearer_token || bearer_token_file) + (ba->username || ba->password || ba->password_file) > 1)
        return config__fail_pos(err, line, col, "at most one of basic_auth, authorization & bearer_token must be configured");
    if (has_authz && (bearer_token || bearer_token_file))
        return config__fail_pos(err, line, col, "authorization is not compatible with bearer_token & bearer_token_file");
    if (az->type && !strcasecmp(az->type, "basic"))
        return config__fail_pos(err, line, col, "authorization type cannot be set to \"basic\", use \"basic_auth\" instead");
    return 0;
}

static int check_scrape(config_t *c, config_scrape_t *s, size_t idx, vg_error_t *err) {
    if (!s->job_name) return config__fail_pos(err, s->line, s->col, "scrape_configs[%zu]: job_name is empty", idx);
    const char *job = s->job_name;
    for (size_t j = 0; j < idx; j++)
        if (!strcmp(c->scrape_configs.v[j].job_name, job))
            return config__fail_pos(err, s->line, s->col, "found multiple scrape configs with job name \"%s\"", job);
    if (!s->scrape_interval_ms) s->scrape_interval_ms = c->global.scrape_interval_ms;
    if (!s->scrape_timeout_ms)
        s->scrape_timeout_ms = c->global.scrape_timeout_ms > s->scrape_interval_ms ? s->scrape_interval_ms
                                                                                   : c->global.scrape_timeout_ms;
    if (s->scrape_timeout_ms > s->scrape_interval_ms)
        return config__fail_pos(err, s->line, s->col, "scrape timeout greater than scrape interval for scrape config with job name \"%s\"", job);
    if (strcmp(s->scheme, "http") && strcmp(s->scheme, "https"))
        return config__fail_pos(err, s->line, s->col, "scrape_configs[job_name=%s]: unsupported scheme \"%s\" (http or https)", job, s->scheme);
    if (s->metrics_path[0] != '/')
        return config__fail_pos(err, s->line, s->col, "scrape_configs[job_name=%s]: metrics_path must start with '/'", job);
    int rc = config__check_http_client(&s->basic_auth, &s->authorization, s->bearer_token, s->bearer_token_file,
                                       s->line, s->col, err);
    if (rc) return rc;
    for (size_t i = 0; i < s->static_configs.n; i++)
        if ((rc = config__check_targets(&s->static_configs.v[i], err))) return rc;
    if (s->tls_config.server_name)
        return config__fail_pos(err, s->line, s->col, "scrape_configs[job_name=%s]: tls_config.server_name is not supported", job);
    for (size_t i = 0; i < s->file_sd_configs.n; i++)
        if (s->file_sd_configs.v[i].files.n == 0)
            return config__fail_pos(err, s->line, s->col, "scrape_configs[job_name=%s]: file_sd_configs[%zu] has no files", job, i);
    rc = config__check_sd(s, err);
    if (!rc) rc = check_relabels(&s->relabel_configs, job, "relabel_configs", err);
    if (!rc) rc = check_relabels(&s->metric_relabel_configs, job, "metric_relabel_configs", err);
    return rc;
}

static int scrape_configs_check(config_t *c, vg_error_t *err) {
    for (size_t i = 0; i < c->scrape_configs.n; i++) {
        int rc = check_scrape(c, &c->scrape_configs.v[i], i, err);
        if (rc) return rc;
    }
    return 0;
}

const config__section_t config__section_scrape_configs = {
    .field = LIST_OF("scrape_configs", config_t, scrape_configs, scrape_fields, config_scrape_t, scrape_init),
    .check = scrape_configs_check,
};

/* ---- file_sd target files: a list of static_configs entries ---- */

static const config__field_t groups_field =
    LIST_OF("groups", config__anylist_t, v, config__static_fields, config_static_t, NULL);

int config_parse_target_groups(const char *text, size_t len, config_static_t **out, size_t *n_out, vg_error_t *err) {
    *out = NULL;
    *n_out = 0;
    vg_error_clear(err);
    if (len > CONFIG_MAX_FILE_BYTES)
        return vg_error_set(err, VG_ECONFIG, "file is larger than %u bytes", CONFIG_MAX_FILE_BYTES);
    config__anylist_t l = {0};
    int rc = config__decode_text(text, len, &groups_field, (char *)&l, err);
    for (size_t i = 0; !rc && i < l.n; i++) rc = config__check_targets((config_static_t *)l.v + i, err);
    if (rc) {
        config_target_groups_free(l.v, l.n);
        return rc;
    }
    *out = l.v;
    *n_out = l.n;
    return 0;
}

void config_target_groups_free(config_static_t *v, size_t n) {
    for (size_t i = 0; i < n; i++) config__free_fields(config__static_fields, (char *)(v + i));
    free(v);
}

