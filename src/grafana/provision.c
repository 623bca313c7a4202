/* Per-tenant provisioning: the tenant's Grafana organisation and everything vigil puts in it, each
 * step "find, create if missing".
 *
 * State machine of one run (each step reads before it writes, so a re-run only fills gaps):
 *   org vigil-<t> ─► admin is a member ─► datasource "vigil" ─► folder "vigil" ─► default dashboards
 *   ─► service account metrics-<t> (Viewer)
 * Invariants:
 *  - Every object has a fixed, findable identity (org and service account by exact name; datasource,
 *    folder and dashboards by uid), so running twice creates no duplicates and changes nothing.
 *  - Each step creates one whole object in one request: a failure leaves earlier objects complete
 *    and later ones absent, never a half-made object; the next run creates what is missing.
 *  - A create whose answer was lost (the request may have reached Grafana) is recognised on retry by
 *    Grafana's "already exists" answer and resolved by reading the object back.
 *  - Existing dashboards are never overwritten (users may have edited them); an existing datasource
 *    keeps its credential unless rotate_credential asks for a new one.
 *  - The result says whether Grafana now holds this run's credential (stored), still the old one
 *    (kept), or cannot be told (unknown), so the caller revokes the right key: never the live one. */
#include "grafana/grafana_int.h"

#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOGGER "grafana"

/* ---- datasource -------------------------------------------------------------------------------- */

static bool header_ok(const char *s, bool name) {
    if (!s || !s[0] || strlen(s) > 8192) return false;
    for (const char *p = s; *p; p++) {
        if (*p == '\r' || *p == '\n' || (unsigned char)*p < 0x20) return false;
        if (name && (*p == ':' || *p == ' ')) return false;
    }
    return true;
}

static json_t *ds_body(const grafana_client_t *c, const grafana_provision_opts_t *o, const char *value) {
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:{s:s, s:s, s:s}, s:{s:s}}", "name", GRAFANA__DS_NAME, "uid",
                     GRAFANA__DS_UID, "type", "prometheus", "access", "proxy", "url", c->vigil_url, "isDefault", 1,
                     "jsonData", "httpMethod", "POST", "timeInterval", "15s", "httpHeaderName1", o->ds_header_name,
                     "secureJsonData", "httpHeaderValue1", value);
}

/* After a failed write of an existing datasource: did it land anyway? Grafana bumps "version" on every
 * update, so a version past the one read before tells (a concurrent writer is vigil itself). */
static grafana_cred_t ds_write_outcome(grafana_client_t *c, const grafana__req_t *get, int64_t version_before) {
    grafana__resp_t rs;
    grafana_err_t e;
    grafana_cred_t out = GRAFANA_CRED_UNKNOWN;
    if (!grafana__request(c, get, &rs, &e) && json_is_integer(json_object_get(rs.json, "version")))
        out = grafana__jint(rs.json, "version") > version_before ? GRAFANA_CRED_STORED : GRAFANA_CRED_KEPT;
    grafana__resp_deinit(&rs);
    return out;
}

static int ds_ensure(grafana_client_t *c, int64_t org, const grafana_provision_opts_t *o, int *created,
                     grafana_cred_t *cred, grafana_err_t *err) {
    char path[128];
    snprintf(path, sizeof path, "/api/datasources/uid/%s", GRAFANA__DS_UID);
    grafana__req_t get = {.method = "GET", .path = path, .auth = GRAFANA__AUTH_ADMIN, .org_id = org};
    grafana__resp_t rs;
    int rc = grafana__request(c, &get, &rs, err);
    bool exists = rc == 0;
    bool current = false;
    int64_t version = -1;
    if (exists) {
        if (json_is_integer(json_object_get(rs.json, "version"))) version = grafana__jint(rs.json, "version");
        json_t *jd = json_object_get(rs.json, "jsonData");
        const char *url = grafana__jstr(rs.json, "url"), *type = grafana__jstr(rs.json, "type");
        const char *hn = grafana__jstr(jd, "httpHeaderName1");
        bool has_secret = json_is_true(json_object_get(json_object_get(rs.json, "secureJsonFields"), "httpHeaderValue1"));
        current = url && !strcmp(url, c->vigil_url) && type && !strcmp(type, "prometheus") && hn &&
                  !strcmp(hn, o->ds_header_name) && has_secret;
    }
    grafana__resp_deinit(&rs);
    if (rc && rc != VG_ENOTFOUND) return rc;
    grafana__err_clear(err);
    if (exists && current && !o->rotate_credential) return 0;

    const char *value = o->ds_header_value;
    if (!value && (rc = o->ds_credential(o->ds_credential_arg, &value, &err->err))) return rc;
    if (!header_ok(value, false))
        return grafana__err_set(err, VG_EINVAL, "grafana: the datasource credential is not a valid header value");
    json_t *body = ds_body(c, o, value);
    if (!body) return grafana__err_set(err, VG_ENOMEM, "grafana: out of memory");
    grafana__req_t rq = {.method = exists ? "PUT" : "POST", .path = exists ? path : "/api/datasources",
                         .body = body, .auth = GRAFANA__AUTH_ADMIN, .org_id = org};
    rc = grafana__request(c, &rq, &rs, err);
    if (!rc) (*created)++, *cred = GRAFANA_CRED_STORED;
    else if (!exists && rs.status == 409) {
        /* Either our lost create (then the uid now exists) or another datasource already named "vigil". */
        grafana__resp_t rs2;
        grafana_err_t e2;
        if (!grafana__request(c, &get, &rs2, &e2)) rc = 0, grafana__err_clear(err), (*created)++, *cred = GRAFANA_CRED_STORED;
        else
            grafana__err_set(err, VG_EEXIST,
                             "grafana: org %lld has a datasource named \"vigil\" with another uid; rename or delete it",
                             (long long)org);
        grafana__resp_deinit(&rs2);
    } else if (rs.ambiguous || rs.maybe_seen) {
        /* The write may have landed: an existing datasource shows it in its version; a create whose
         * answer was lost shows it by existing. */
        if (exists && version >= 0) *cred = ds_write_outcome(c, &get, version);
        else if (!exists) {
            grafana__resp_t rs2;
            grafana_err_t e2;
            int g = grafana__request(c, &get, &rs2, &e2);
            *cred = !g ? GRAFANA_CRED_STORED : g == VG_ENOTFOUND ? GRAFANA_CRED_KEPT : GRAFANA_CRED_UNKNOWN;
            grafana__resp_deinit(&rs2);
        } else
            *cred = GRAFANA_CRED_UNKNOWN;
    }
    grafana__resp_deinit(&rs);
    json_decref(body);
    return rc;
}

/* ---- folder ------------------------------------------------------------------------------------ */

static int folder_ensure(grafana_client_t *c, int64_t org, int *created, grafana_err_t *err) {
    grafana__req_t get = {.method = "GET", .path = "/api/folders/" GRAFANA__FOLDER_UID, .auth = GRAFANA__AUTH_ADMIN,
                          .org_id = org};
    grafana__resp_t rs;
    int rc = grafana__request(c, &get, &rs, err);
    grafana__resp_deinit(&rs);
    if (rc != VG_ENOTFOUND) return rc;
    json_t *body = json_pack("{s:s, s:s}", "uid", GRAFANA__FOLDER_UID, "title", GRAFANA__FOLDER_TITLE);
    grafana__req_t rq = {.method = "POST", .path = "/api/folders", .body = body, .auth = GRAFANA__AUTH_ADMIN,
                         .org_id = org};
    rc = grafana__request(c, &rq, &rs, err);
    if (!rc) (*created)++;
    else if (rs.status == 409 || rs.status == 412) { /* 412: newer Grafana's "already exists" for folders */
        grafana__resp_t rs2;
        if (!(rc = grafana__request(c, &get, &rs2, err))) (*created)++;
        grafana__resp_deinit(&rs2);
    }
    grafana__resp_deinit(&rs);
    json_decref(body);
    return rc;
}

/* ---- dashboards -------------------------------------------------------------------------------- */

static int dashboard_exists(grafana_client_t *c, int64_t org, const char *uid, bool *out, grafana_err_t *err) {
    char path[128];
    snprintf(path, sizeof path, "/api/dashboards/uid/%s", uid);
    grafana__req_t get = {.method = "GET", .path = path, .auth = GRAFANA__AUTH_ADMIN, .org_id = org};
    grafana__resp_t rs;
    int rc = grafana__request(c, &get, &rs, err);
    grafana__resp_deinit(&rs);
    *out = rc == 0;
    if (rc == VG_ENOTFOUND) rc = 0, grafana__err_clear(err);
    return rc;
}

static int dashboards_ensure(grafana_client_t *c, int64_t org, const grafana_provision_opts_t *o, int *created,
                             int *present, grafana_err_t *err) {
    grafana_var_t *vars;
    size_t n_vars;
    if (grafana__vars_merge(c, o->vars, o->n_vars, &vars, &n_vars)) return grafana__err_set(err, VG_ENOMEM, "grafana: out of memory");
    int rc = 0;
    for (size_t i = 0; i < c->n_templates && !rc; i++) {
        const char *uid = grafana__jstr(c->templates[i].model, "uid");
        bool exists;
        if ((rc = dashboard_exists(c, org, uid, &exists, err))) break;
        if (exists) {
            (*present)++;
            continue;
        }
        json_t *m = json_deep_copy(c->templates[i].model);
        if (!m) {
            rc = grafana__err_set(err, VG_ENOMEM, "grafana: out of memory");
            break;
        }
        if ((rc = grafana__render(m, vars, n_vars, &err->err))) {
            json_decref(m);
            break;
        }
        json_object_del(m, "version");
        grafana__resp_t rs;
        rc = grafana__dashboard_save(c, org, m, GRAFANA__FOLDER_UID, false, &rs, err);
        if (rc == VG_EEXIST) { /* our lost save, or a concurrent run's: it is there now */
            grafana__err_clear(err);
            rc = dashboard_exists(c, org, uid, &exists, err);
            if (!rc && !exists) rc = grafana__err_set(err, VG_EINTERNAL, "grafana: dashboard %s vanished", uid);
        }
        grafana__resp_deinit(&rs);
        json_decref(m);
        if (!rc) (*created)++, (*present)++;
    }
    free(vars);
    return rc;
}

/* ---- service account --------------------------------------------------------------------------- */

static int sa_find(grafana_client_t *c, int64_t org, const char *name, int64_t *out, grafana_err_t *err) {
    char path[256];
    snprintf(path, sizeof path, "/api/serviceaccounts/search?perpage=1000&page=1&query=%s", name);
    grafana__req_t rq = {.method = "GET", .path = path, .auth = GRAFANA__AUTH_ADMIN, .org_id = org};
    grafana__resp_t rs;
    int rc = grafana__request(c, &rq, &rs, err);
    *out = 0;
    if (!rc) {
        size_t i;
        json_t *sa;
        json_array_foreach(json_object_get(rs.json, "serviceAccounts"), i, sa) {
            const char *n = grafana__jstr(sa, "name");
            if (n && !strcmp(n, name)) *out = grafana__jint(sa, "id");
        }
    }
    grafana__resp_deinit(&rs);
    return rc;
}

int grafana__sa_ensure(grafana_client_t *c, int64_t org, const char *tenant, bool create, int64_t *out_id,
                       bool *created, grafana_err_t *err) {
    char name[GRAFANA__NAME_MAX];
    grafana__sa_name(tenant, name);
    *created = false;
    int rc = sa_find(c, org, name, out_id, err);
    if (rc || *out_id) return rc;
    if (!create) return grafana__err_set(err, VG_ENOTFOUND, "grafana: service account %s not found", name);
    json_t *body = json_pack("{s:s, s:s, s:b}", "name", name, "role", "Viewer", "isDisabled", 0);
    grafana__req_t rq = {.method = "POST", .path = "/api/serviceaccounts", .body = body, .auth = GRAFANA__AUTH_ADMIN,
                         .org_id = org};
    grafana__resp_t rs;
    rc = grafana__request(c, &rq, &rs, err);
    json_decref(body);
    if (!rc) {
        *out_id = grafana__jint(rs.json, "id");
        *created = true;
    } else if (rs.status == 409 ||
               (rs.status == 400 && grafana__jstr(rs.json, "messageId") &&
                !strcmp(grafana__jstr(rs.json, "messageId"), "serviceaccounts.ErrAlreadyExists"))) {
        grafana__err_clear(err);
        rc = sa_find(c, org, name, out_id, err);
        if (!rc && !*out_id) rc = grafana__err_set(err, VG_EINTERNAL, "grafana: service account %s exists but is not found", name);
    }
    grafana__resp_deinit(&rs);
    if (!rc && *out_id <= 0) rc = grafana__err_set(err, VG_EINTERNAL, "grafana: service account %s has no id", name);
    return rc;
}

/* ---- the whole run ----------------------------------------------------------------------------- */

int grafana_tenant_provision(grafana_client_t *c, const char *tenant, const grafana_provision_opts_t *opts,
                             grafana_provision_result_t *out, grafana_err_t *err) {
    memset(out, 0, sizeof *out);
    grafana__err_clear(err);
    int rc = grafana__check_tenant(tenant, err);
    if (rc) return rc;
    if (!c->vigil_url) return grafana__err_set(err, VG_ECONFIG, "grafana: vigil_url is not configured");
    if (!opts || !header_ok(opts->ds_header_name, true) ||
        (opts->ds_header_value ? !header_ok(opts->ds_header_value, false) : !opts->ds_credential))
        return grafana__err_set(err, VG_EINVAL,
                                "grafana: provisioning needs the tenant's datasource credential (header name and value)");
    grafana_err_t local;
    if (!err) err = &local;

    int64_t org = 0;
    int created = 0;
    const char *step = "organisation";
    if (!(rc = grafana__org_ensure(c, tenant, &org, &created, err))) {
        grafana__org_cache_put(c, tenant, org);
        out->org_id = org;
        step = "datasource";
        rc = ds_ensure(c, org, opts, &created, &out->credential, err);
    }
    if (!rc) step = "folder", rc = folder_ensure(c, org, &created, err);
    if (!rc) step = "dashboards", rc = dashboards_ensure(c, org, opts, &created, &out->n_dashboards, err);
    if (!rc) {
        step = "service account";
        bool sa_created;
        rc = grafana__sa_ensure(c, org, tenant, true, &out->service_account_id, &sa_created, err);
        created += sa_created;
    }
    out->n_created = created;
    if (rc) {
        char msg[VG_ERROR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", err->err.msg);
        vg_error_set(&err->err, rc, "provisioning %s of tenant %s stopped (the next run resumes it): %s", step, tenant,
                     msg);
        vg_log_warn(LOGGER, "provisioning stopped; the next run resumes it", VG_LS("tenant", tenant),
                    VG_LS("step", step), VG_LI("status", err->http_status), VG_LS("error", msg));
    } else if (created)
        vg_log_info(LOGGER, "provisioned tenant", VG_LS("tenant", tenant), VG_LI("org_id", org),
                    VG_LI("created", created));
    return rc;
}
