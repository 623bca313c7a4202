/* A tenant's own vigil API keys (/api/v1/tenants/self/api-keys): list, create, revoke, over the key
 * store the auth path verifies against, so a created key authenticates at once and a revoked one stops
 * at once.
 *
 * Who acts for which tenant: a scoped caller for its own tenant only; an unscoped caller (an admin, or
 * anonymous when authentication is off) for the tenant the HTTP layer names. The Grafana datasource's
 * key (TENANCY_APIKEY_DATASOURCE) is the integration's: it is listed, never counted against
 * limits.max_api_keys, its name cannot be taken, and it is revoked here only when the caller says so.
 * Creation shares the Grafana credential-minting window (grafana.token_requests per
 * grafana.token_window, its own class); the count limit is checked under the store's lock. */
#include "service_int.h"

#include "util/log.h"
#include "util/timeutil.h"

#include <stdio.h>
#include <string.h>

static int acting_for(service_ctx_t *ctx, const char *tenant, vg_error_t *err) {
    if (!ctx->svc->keys) return vg_error_set(err, VG_EUNAVAIL, "the API key store is not open");
    if (!tenant || !tenancy_tenant_id_valid(tenant, strlen(tenant))) return vg_error_set(err, VG_EINVAL, "invalid tenant id");
    if (ctx->scoped && strcmp(ctx->tenant, tenant))
        return vg_error_set(err, VG_EFORBIDDEN, "a tenant manages its own API keys only");
    return 0;
}

bool service_apikey_name_valid(const char *name) {
    size_t len = name ? strlen(name) : 0;
    if (!len || len > TENANCY_APIKEY_NAME_MAX) return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || !strchr(" ._:@-", c))) return false;
    }
    return name[len - 1] != ' ';
}

int service_apikeys_list(service_ctx_t *ctx, const char *tenant, tenancy_apikey_info_t **out, size_t *n_out, vg_error_t *err) {
    *out = NULL;
    *n_out = 0;
    int rc = acting_for(ctx, tenant, err);
    if (rc) return rc;
    if (tenancy_keystore_list(ctx->svc->keys, tenant, out, n_out)) return vg_error_set(err, VG_ENOMEM, "out of memory");
    return 0;
}

int service_apikey_create(service_ctx_t *ctx, const char *tenant, const char *name, char *key_out, tenancy_apikey_info_t *out,
                          int *retry_after_s, vg_error_t *err) {
    *retry_after_s = 0;
    int rc = acting_for(ctx, tenant, err);
    if (rc) return rc;
    if (!service_apikey_name_valid(name))
        return vg_error_set(err, VG_EINVAL,
                            "invalid key name: 1-%d characters of letters, digits, space and ._:@-, starting with a letter "
                            "or digit, not ending with a space",
                            TENANCY_APIKEY_NAME_MAX);
    if (!strcmp(name, TENANCY_APIKEY_DATASOURCE))
        return vg_error_set(err, VG_EINVAL, "the name \"%s\" is reserved for the Grafana datasource's key", name);
    const config_t *c = ctx->cfg;
    if (ctx->svc->grafana_limit) {
        int64_t wait = tenancy_window_take(ctx->svc->grafana_limit, tenant, "api-key", (uint64_t)c->grafana.token_requests,
                                           c->grafana.token_window_ms, vg_mono_ns());
        if (wait < 0) return vg_error_set(err, (int)wait, "cannot apply the API key request limit");
        if (wait > 0) {
            char win[VG_DURATION_MAX];
            vg_duration_format(c->grafana.token_window_ms, win);
            *retry_after_s = (int)((wait + 999) / 1000);
            return vg_error_set(err, VG_ERATELIMIT,
                                "at most %lld API key creations per tenant in any %s (grafana.token_requests): retry after %ds",
                                (long long)c->grafana.token_requests, win, *retry_after_s);
        }
    }
    config_limits_t lim;
    config_tenant_limits(c, tenant, &lim);
    uint64_t id = 0;
    vg_error_t kerr;
    rc = tenancy_keystore_create_capped(ctx->svc->keys, tenant, name, (size_t)lim.max_api_keys, TENANCY_APIKEY_DATASOURCE,
                                        key_out, &id, &kerr);
    if (rc == VG_ELIMIT)
        return vg_error_set(err, VG_EINVAL, "per-tenant limit of %lld API keys reached (limits.max_api_keys): revoke a key first",
                            (long long)lim.max_api_keys);
    if (rc) return vg_error_set(err, rc, "%s", kerr.msg);
    if (tenancy_keystore_get(ctx->svc->keys, tenant, id, out)) { /* revoked already by a concurrent request */
        out->id = id;
        out->created_ms = vg_now_ms();
        snprintf(out->name, sizeof out->name, "%s", name);
    }
    vg_log_info("apikeys", "API key created", VG_LS("tenant", tenant), VG_LS("name", name), VG_LI("id", (int64_t)id),
                VG_LS("by", ctx->scoped ? "tenant" : ctx->admin ? "admin" : "anonymous"));
    return 0;
}

int service_apikey_revoke(service_ctx_t *ctx, const char *tenant, uint64_t id, bool grafana, vg_error_t *err) {
    int rc = acting_for(ctx, tenant, err);
    if (rc) return rc;
    tenancy_apikey_info_t k;
    if (tenancy_keystore_get(ctx->svc->keys, tenant, id, &k))
        return vg_error_set(err, VG_ENOTFOUND, "no API key %llu for tenant %s", (unsigned long long)id, tenant);
    if (!strcmp(k.name, TENANCY_APIKEY_DATASOURCE) && !grafana)
        return vg_error_set(err, VG_EEXIST,
                            "key %llu is the Grafana datasource's: its dashboards stop working until the credential is "
                            "rotated (POST /api/v1/metrics/grafana-credential/rotate); add grafana=true to revoke it anyway",
                            (unsigned long long)id);
    if ((rc = tenancy_keystore_revoke_id(ctx->svc->keys, id, err))) return rc;
    vg_log_info("apikeys", "API key revoked", VG_LS("tenant", tenant), VG_LS("name", k.name), VG_LI("id", (int64_t)id),
                VG_LS("by", ctx->scoped ? "tenant" : ctx->admin ? "admin" : "anonymous"));
    return 0;
}
