/* The tenant's Grafana organisation: found by its exact name (vigil-<tenant>), created when missing,
 * with the id cached in the client. Every per-tenant operation starts here. */
#include "grafana/grafana_int.h"

#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOGGER "grafana"

/* ---- organisation ------------------------------------------------------------------------------ */

static int org_find(grafana_client_t *c, const char *name, int64_t *out, grafana_err_t *err) {
    char path[256];
    snprintf(path, sizeof path, "/api/orgs?name=%s", name); /* names are [A-Za-z0-9._-]: URL-safe */
    grafana__req_t rq = {.method = "GET", .path = path, .auth = GRAFANA__AUTH_ADMIN};
    grafana__resp_t rs;
    int rc = grafana__request(c, &rq, &rs, err);
    *out = 0;
    if (!rc) {
        size_t i;
        json_t *o;
        json_array_foreach(rs.json, i, o) {
            const char *n = grafana__jstr(o, "name");
            if (n && !strcmp(n, name)) *out = grafana__jint(o, "id");
        }
    }
    grafana__resp_deinit(&rs);
    return rc;
}

int grafana_tenant_org(grafana_client_t *c, const char *tenant, int64_t *out, grafana_err_t *err) {
    *out = 0;
    int rc = grafana__check_tenant(tenant, err);
    if (rc) return rc;
    if (grafana__org_cache_get(c, tenant, out)) return 0;
    char name[GRAFANA__NAME_MAX];
    grafana__org_name(tenant, name);
    if ((rc = org_find(c, name, out, err))) return rc;
    if (!*out)
        return grafana__err_set(err, VG_ENOTFOUND, "grafana: tenant %s has no Grafana organisation (not provisioned)",
                                tenant);
    grafana__org_cache_put(c, tenant, *out);
    return 0;
}

int grafana__org_ensure(grafana_client_t *c, const char *tenant, int64_t *out, int *created, grafana_err_t *err) {
    char name[GRAFANA__NAME_MAX];
    grafana__org_name(tenant, name);
    int rc = org_find(c, name, out, err);
    if (rc) return rc;
    if (*out) {
        /* Found, maybe made by someone else: make sure vigil's admin can act in it. 409 = already is. */
        json_t *body = json_pack("{s:s, s:s}", "loginOrEmail", c->admin_user, "role", "Admin");
        char path[96];
        snprintf(path, sizeof path, "/api/orgs/%lld/users", (long long)*out);
        grafana__req_t rq = {.method = "POST", .path = path, .body = body, .auth = GRAFANA__AUTH_ADMIN};
        grafana__resp_t rs;
        rc = grafana__request(c, &rq, &rs, err);
        if (!rc) (*created)++;
        else if (rs.status == 409) rc = 0, grafana__err_clear(err);
        grafana__resp_deinit(&rs);
        json_decref(body);
        return rc;
    }
    json_t *body = json_pack("{s:s}", "name", name);
    grafana__req_t rq = {.method = "POST", .path = "/api/orgs", .body = body, .auth = GRAFANA__AUTH_ADMIN};
    grafana__resp_t rs;
    rc = grafana__request(c, &rq, &rs, err);
    json_decref(body);
    if (!rc) {
        *out = grafana__jint(rs.json, "orgId");
        (*created)++;
        vg_log_info(LOGGER, "created organisation", VG_LS("tenant", tenant), VG_LI("org_id", *out));
    } else if (rs.status == 409) {
        /* Created concurrently, or by our own attempt whose answer was lost. */
        grafana__err_clear(err);
        rc = org_find(c, name, out, err);
    }
    grafana__resp_deinit(&rs);
    if (!rc && *out <= 0) rc = grafana__err_set(err, VG_EINTERNAL, "grafana: organisation %s has no id", name);
    return rc;
}

