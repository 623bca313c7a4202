/* Tenant ids and tenant matchers: the (label, values) pair the PromQL enforcer injects into every
 * selector of a tenant's queries.
 *
 * Invariants: a tenant id is 1..128 bytes of [A-Za-z0-9._@:-] starting with a letter or digit, so it
 * substitutes into a label value, a log line or a file name without escaping; a built matcher has a
 * valid, non-reserved label name and 1..64 non-empty UTF-8 values; a template must contain the tenant
 * placeholder, because a template without one would give every tenant the same data. */
#include "model/labels.h"
#include "tenancy/tenancy.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_LABEL "namespace"
#define DEFAULT_TEMPLATE "client-{org_id}"
#define VALUE_MAX 4096

static bool alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

bool tenancy_tenant_id_valid(const char *s, size_t len) {
    if (!s || len == 0 || len > TENANCY_TENANT_MAX || !alnum(s[0])) return false;
    for (size_t i = 1; i < len; i++)
        if (!alnum(s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '@' && s[i] != ':' && s[i] != '-') return false;
    return true;
}

static const char *label_of(const tenancy_enforce_config_t *cfg) {
    return cfg->label && *cfg->label ? cfg->label : DEFAULT_LABEL;
}

static const char *template_of(const tenancy_enforce_config_t *cfg) {
    return cfg->value_template && *cfg->value_template ? cfg->value_template : DEFAULT_TEMPLATE;
}

static int check_label(const char *label, const char *what, vg_error_t *err) {
    size_t n = strlen(label);
    if (!model_label_name_valid(label, n) || (n >= 2 && label[0] == '_' && label[1] == '_'))
        return vg_error_set(err, VG_ECONFIG, "%s: %s is not a valid, non-reserved label name", what, label);
    return 0;
}

/* Expands the template into out (NULL: only validates). Returns the length, or -1 on a bad
 * placeholder / no placeholder / too long. */
static long expand(const char *tpl, const char *tenant, size_t tlen, char *out) {
    size_t o = 0;
    int placeholders = 0;
    for (const char *p = tpl; *p;) {
        size_t add;
        const char *src;
        if (*p == '{') {
            if (!strncmp(p, "{org_id}", 8)) p += 8;
            else if (!strncmp(p, "{tenant}", 8)) p += 8;
            else return -1;
            placeholders++;
            src = tenant, add = tlen;
        } else if (*p == '}') {
            return -1;
        } else {
            src = p++, add = 1;
        }
        if (o + add > VALUE_MAX) return -1;
        if (out) memcpy(out + o, src, add);
        o += add;
    }
    if (!placeholders) return -1;
    if (out) out[o] = '\0';
    return (long)o;
}

int tenancy_enforce_config_check(const tenancy_enforce_config_t *cfg, vg_error_t *err) {
    if (!cfg) return vg_error_set(err, VG_EINVAL, "no tenants config");
    int rc = check_label(label_of(cfg), "tenants.enforce", err);
    if (rc) return rc;
    const char *tpl = template_of(cfg);
    char longest[TENANCY_TENANT_MAX];
    memset(longest, 'a', sizeof longest);
    if (!model_utf8_valid(tpl, strlen(tpl)) || expand(tpl, longest, sizeof longest, NULL) < 0)
        return vg_error_set(err, VG_ECONFIG,
                            "tenants.enforce: template %s must contain {org_id} (or {tenant}), no other braces, "
                            "and expand to at most %d bytes",
                            tpl, VALUE_MAX);
    if (cfg->n_overrides && !cfg->overrides) return vg_error_set(err, VG_EINVAL, "no overrides");
    for (size_t i = 0; i < cfg->n_overrides; i++) {
        const tenancy_tenant_override_t *o = &cfg->overrides[i];
        if (!o->tenant || !tenancy_tenant_id_valid(o->tenant, strlen(o->tenant)))
            return vg_error_set(err, VG_ECONFIG, "tenants.overrides[%zu]: tenant id must be up to %d characters of "
                                "[A-Za-z0-9._@:-] starting with a letter or digit", i, TENANCY_TENANT_MAX);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(cfg->overrides[j].tenant, o->tenant))
                return vg_error_set(err, VG_ECONFIG, "tenants.overrides: tenant %s appears twice", o->tenant);
        if (o->label && (rc = check_label(o->label, "tenants.overrides", err)) != 0) return rc;
        if (o->n_values == 0 || o->n_values > TENANCY_MATCHER_VALUES_MAX || !o->values)
            return vg_error_set(err, VG_ECONFIG, "tenants.overrides.%s: 1..%d values are needed", o->tenant,
                                TENANCY_MATCHER_VALUES_MAX);
        for (size_t j = 0; j < o->n_values; j++) {
            const char *v = o->values[j];
            size_t n = v ? strlen(v) : 0;
            if (n == 0 || n > VALUE_MAX || !model_utf8_valid(v, n))
                return vg_error_set(err, VG_ECONFIG, "tenants.overrides.%s: values must be non-empty UTF-8 of at most %d bytes",
                                    o->tenant, VALUE_MAX);
        }
    }
    return 0;
}

void tenancy_matcher_deinit(tenancy_matcher_t *m) {
    if (!m) return;
    for (size_t i = 0; i < m->n_values; i++) free(m->values[i]);
    free(m->values);
    free(m->label);
    memset(m, 0, sizeof *m);
}

int tenancy_matcher_build(const tenancy_enforce_config_t *cfg, const char *tenant, size_t tenant_len,
                          tenancy_matcher_t *out, vg_error_t *err) {
    if (!out) return vg_error_set(err, VG_EINVAL, "tenancy_matcher_build: no out");
    memset(out, 0, sizeof *out);
    if (!cfg) return vg_error_set(err, VG_EINVAL, "tenancy_matcher_build: no config");
    if (!tenancy_tenant_id_valid(tenant, tenant_len)) return vg_error_set(err, VG_EFORBIDDEN, "tenant id is not valid");
    const tenancy_tenant_override_t *ov = NULL;
    for (size_t i = 0; i < cfg->n_overrides && !ov; i++)
        if (cfg->overrides[i].tenant && strlen(cfg->overrides[i].tenant) == tenant_len &&
            !memcmp(cfg->overrides[i].tenant, tenant, tenant_len))
            ov = &cfg->overrides[i];
    const char *label = ov && ov->label && *ov->label ? ov->label : label_of(cfg);
    size_t n = ov ? ov->n_values : 1;
    if (n == 0 || n > TENANCY_MATCHER_VALUES_MAX || (ov && !ov->values))
        return vg_error_set(err, VG_ECONFIG, "tenant override without values");
    out->label = strdup(label);
    out->values = calloc(n, sizeof *out->values);
    if (!out->label || !out->values) goto nomem;
    if (ov) {
        for (size_t i = 0; i < n; i++) {
            if (!ov->values[i] || !*ov->values[i]) {
                tenancy_matcher_deinit(out);
                return vg_error_set(err, VG_ECONFIG, "tenant override with an empty value");
            }
            if (!(out->values[i] = strdup(ov->values[i]))) goto nomem;
            out->n_values++;
        }
        return 0;
    }
    long len = expand(template_of(cfg), tenant, tenant_len, NULL);
    if (len < 0) {
        tenancy_matcher_deinit(out);
        return vg_error_set(err, VG_ECONFIG, "tenants.enforce: bad template");
    }
    if (!(out->values[0] = malloc((size_t)len + 1))) goto nomem;
    expand(template_of(cfg), tenant, tenant_len, out->values[0]);
    out->n_values = 1;
    return 0;
nomem:
    tenancy_matcher_deinit(out);
    return vg_error_set(err, VG_ENOMEM, "out of memory");
}
