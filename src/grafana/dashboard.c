/* Dashboards in a tenant's organisation: create (from a template or a given model), list, get,
 * update with Grafana's optimistic locking, delete, and public dashboards.
 *
 * Invariants:
 *  - Every uid that reaches a URL path was checked against Grafana's uid syntax first.
 *  - A create always carries a uid chosen before the first attempt, so a retried request can never
 *    make a second dashboard; a create whose answer was lost is recognised by reading it back.
 *  - Update keeps the dashboard's folder (Grafana would move it to the root otherwise) and surfaces a
 *    stale version as Grafana's 412 (VG_EEXIST, reason "version-mismatch"), never overwriting silently. */
#include "grafana/grafana_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int grafana__dashboard_save(grafana_client_t *c, int64_t org, json_t *model, const char *folder_uid, bool overwrite,
                            grafana__resp_t *rs, grafana_err_t *err) {
    json_t *body = json_pack("{s:O, s:s, s:b, s:s}", "dashboard", model, "folderUid", folder_uid ? folder_uid : "",
                             "overwrite", overwrite, "message", "saved by vigil");
    if (!body) {
        memset(rs, 0, sizeof *rs);
        return grafana__err_set(err, VG_ENOMEM, "grafana: out of memory");
    }
    grafana__req_t rq = {.method = "POST", .path = "/api/dashboards/db", .body = body, .auth = GRAFANA__AUTH_ADMIN,
                         .org_id = org};
    int rc = grafana__request(c, &rq, rs, err);
    json_decref(body);
    return rc;
}

static const char *nz(const char *s) { return s ? s : ""; }

static int check_uid(const char *uid, grafana_err_t *err) {
    if (grafana__uid_ok(uid)) return 0;
    return grafana__err_set(err, VG_EINVAL, "grafana: invalid dashboard uid (want 1-40 of [A-Za-z0-9_-])");
}

/* {"uid","id","title","version","url"} from Grafana's save answer. */
static int saved_answer(const grafana_client_t *c, const json_t *saved, const char *title, char **out,
                        grafana_err_t *err) {
    const char *url = grafana__jstr(saved, "url");
    char full[1024];
    snprintf(full, sizeof full, "%s%s", c->external_url, url ? url : "");
    json_t *j = json_pack("{s:s?, s:I, s:s?, s:I, s:s}", "uid", grafana__jstr(saved, "uid"), "id",
                          (json_int_t)grafana__jint(saved, "id"), "title", title, "version",
                          (json_int_t)grafana__jint(saved, "version"), "url", full);
    int rc = j ? grafana__dump(j, out) : VG_ENOMEM;
    json_decref(j);
    if (rc) grafana__err_set(err, rc, "grafana: out of memory");
    return rc;
}

/* The model itself, whether given bare or as {"dashboard":{…}}. New reference. */
static int parse_model(const char *json, size_t len, json_t **out, grafana_err_t *err) {
    json_t *j;
    *out = NULL;
    vg_error_t e;
    if (grafana__parse(json, len, &j, &e)) return grafana__err_set(err, VG_EINVAL, "dashboard: %s", e.msg);
    json_t *inner = json_object_get(j, "dashboard");
    if (json_is_object(inner)) {
        json_incref(inner);
        json_decref(j);
        j = inner;
    }
    const char *title = grafana__jstr(j, "title");
    if (!json_is_object(j) || !title || !title[0]) {
        json_decref(j);
        return grafana__err_set(err, VG_EINVAL, "dashboard: want a JSON object with a non-empty \"title\"");
    }
    *out = j;
    return 0;
}

static uint32_t fnv1a(const char *s) {
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* <base>-<cluster> when that is a valid uid, else <base≤31>-<8 hex of the cluster>. */
static void derive_uid(const char *base, const char *cluster, char out[41]) {
    char cand[128];
    snprintf(cand, sizeof cand, "%s-%s", base, cluster);
    if (grafana__uid_ok(cand)) { /* at most 40 characters */
        memcpy(out, cand, strlen(cand) + 1);
        return;
    }
    snprintf(out, 41, "%.31s-%08x", base, fnv1a(cluster));
}

int grafana_dashboard_create(grafana_client_t *c, const char *tenant, const grafana_dashboard_opts_t *o, char **out,
                             grafana_err_t *err) {
    *out = NULL;
    grafana__err_clear(err);
    grafana_err_t local;
    if (!err) err = &local;
    if (o->uid && check_uid(o->uid, err)) return err->err.code;
    if (o->folder_uid && check_uid(o->folder_uid, err)) return err->err.code;
    json_t *m = NULL;
    const char *tpl_uid = NULL;
    if (o->template_name) {
        const grafana__template_t *t = grafana__template_find(c, o->template_name);
        if (!t) return grafana__err_set(err, VG_ENOTFOUND, "grafana: no dashboard template named %s", o->template_name);
        m = json_deep_copy(t->model);
        tpl_uid = grafana__jstr(t->model, "uid");
        if (!m) return grafana__err_set(err, VG_ENOMEM, "grafana: out of memory");
    } else {
        int rc = parse_model(o->json, o->json_len, &m, err);
        if (rc) return rc;
    }
    grafana_var_t *vars = NULL;
    size_t n_vars = 0;
    int64_t org = 0;
    int rc = grafana__vars_merge(c, o->vars, o->n_vars, &vars, &n_vars);
    if (rc) rc = grafana__err_set(err, rc, "grafana: out of memory");
    if (!rc) rc = grafana__render(m, vars, n_vars, &err->err);
    if (!rc) {
        char uid[41];
        const char *cluster = NULL;
        for (size_t i = 0; i < o->n_vars; i++)
            if (!strcmp(o->vars[i].name, "cluster")) cluster = o->vars[i].value;
        const char *model_uid = grafana__jstr(m, "uid");
        if (o->uid) snprintf(uid, sizeof uid, "%s", o->uid);
        else if (tpl_uid && cluster && cluster[0]) derive_uid(tpl_uid, cluster, uid);
        else if (tpl_uid) snprintf(uid, sizeof uid, "%s", tpl_uid);
        else if (model_uid && grafana__uid_ok(model_uid)) snprintf(uid, sizeof uid, "%s", model_uid);
        else grafana__random_uid(uid, 14); /* chosen here, not by Grafana, so a retry cannot duplicate */
        json_object_set_new(m, "uid", json_string(uid));
        json_object_del(m, "version"); /* a new dashboard: an existing uid is a conflict unless overwrite */
        rc = grafana_tenant_org(c, tenant, &org, err);
    }
    if (!rc) {
        grafana__resp_t rs;
        rc = grafana__dashboard_save(c, org, m, o->folder_uid ? o->folder_uid : GRAFANA__FOLDER_UID, o->overwrite,
                                     &rs, err);
        if (rc == VG_EEXIST && rs.ambiguous) {
            /* An earlier attempt may have saved it before its answer was lost: if the stored dashboard is
             * ours at version 1, the create did succeed. */
            char path[128];
            snprintf(path, sizeof path, "/api/dashboards/uid/%s", grafana__jstr(m, "uid"));
            grafana__req_t get = {.method = "GET", .path = path, .auth = GRAFANA__AUTH_ADMIN, .org_id = org};
            grafana__resp_t rs2;
            grafana_err_t e2;
            if (!grafana__request(c, &get, &rs2, &e2)) {
                json_t *d = json_object_get(rs2.json, "dashboard");
                if (json_equal(json_object_get(d, "title"), json_object_get(m, "title")) &&
                    grafana__jint(d, "version") == 1) {
                    grafana__resp_deinit(&rs);
                    rs.json = json_pack("{s:O?, s:O?, s:I, s:s}", "uid", json_object_get(d, "uid"), "id",
                                        json_object_get(d, "id"), "version", (json_int_t)1, "url",
                                        nz(grafana__jstr(json_object_get(rs2.json, "meta"), "url")));
                    grafana__err_clear(err);
                    rc = 0;
                }
            }
            grafana__resp_deinit(&rs2);
        }
        if (!rc) rc = saved_answer(c, rs.json, grafana__jstr(m, "title"), out, err);
        grafana__resp_deinit(&rs);
    }
    free(vars);
    json_decref(m);
    return rc;
}

int grafana_dashboard_list(grafana_client_t *c, const char *tenant, char **out, grafana_err_t *err) {
    *out = NULL;
    int64_t org;
    int rc = grafana_tenant_org(c, tenant, &org, err);
    if (rc) return rc;
    grafana__req_t rq = {.method = "GET", .path = "/api/search?type=dash-db&limit=5000", .auth = GRAFANA__AUTH_ADMIN,
                         .org_id = org};
    grafana__resp_t rs;
    if ((rc = grafana__request(c, &rq, &rs, err))) return rc;
    json_t *arr = json_array();
    size_t i;
    json_t *h;
    json_array_foreach(rs.json, i, h) {
        char full[1024];
        snprintf(full, sizeof full, "%s%s", c->external_url, nz(grafana__jstr(h, "url")));
        json_t *tags = json_object_get(h, "tags");
        json_array_append_new(arr, json_pack("{s:s?, s:s?, s:s, s:s?, s:O}", "uid", grafana__jstr(h, "uid"), "title",
                                             grafana__jstr(h, "title"), "url", full, "folder_uid",
                                             grafana__jstr(h, "folderUid"), "tags",
                                             json_is_array(tags) ? tags : json_array()));
    }
    grafana__resp_deinit(&rs);
    rc = grafana__dump(arr, out);
    json_decref(arr);
    if (rc) grafana__err_set(err, rc, "grafana: out of memory");
    return rc;
}

static int get_dashboard(grafana_client_t *c, int64_t org, const char *uid, grafana__resp_t *rs, grafana_err_t *err) {
    char path[128];
    snprintf(path, sizeof path, "/api/dashboards/uid/%s", uid);
    grafana__req_t rq = {.method = "GET", .path = path, .auth = GRAFANA__AUTH_ADMIN, .org_id = org};
    return grafana__request(c, &rq, rs, err);
}

int grafana_dashboard_get(grafana_client_t *c, const char *tenant, const char *uid, char **out, grafana_err_t *err) {
    *out = NULL;
    int64_t org;
    int rc = check_uid(uid, err);
    if (!rc) rc = grafana_tenant_org(c, tenant, &org, err);
    if (rc) return rc;
    grafana__resp_t rs;
    if (!(rc = get_dashboard(c, org, uid, &rs, err))) {
        if (!rs.json) rc = grafana__err_set(err, VG_EINTERNAL, "grafana: empty dashboard answer");
        else if ((rc = grafana__dump(rs.json, out))) grafana__err_set(err, rc, "grafana: out of memory");
    }
    grafana__resp_deinit(&rs);
    return rc;
}

int grafana_dashboard_update(grafana_client_t *c, const char *tenant, const char *uid, const char *json,
                             size_t json_len, bool overwrite, char **out, grafana_err_t *err) {
    *out = NULL;
    grafana__err_clear(err);
    grafana_err_t local;
    if (!err) err = &local;
    int64_t org;
    json_t *m = NULL;
    int rc = check_uid(uid, err);
    if (!rc) rc = parse_model(json, json_len, &m, err);
    if (!rc && !overwrite && !json_is_integer(json_object_get(m, "version")))
        rc = grafana__err_set(err, VG_EINVAL,
                              "dashboard: \"version\" (the version you read) is required unless overwrite is set");
    if (!rc) rc = grafana_tenant_org(c, tenant, &org, err);
    grafana__resp_t cur = {0};
    if (!rc) rc = get_dashboard(c, org, uid, &cur, err); /* 404 here: nothing to update */
    if (!rc) {
        json_object_set_new(m, "uid", json_string(uid));
        json_object_del(m, "id");
        const char *folder = grafana__jstr(json_object_get(cur.json, "meta"), "folderUid");
        grafana__resp_t rs;
        rc = grafana__dashboard_save(c, org, m, folder ? folder : "", overwrite, &rs, err);
        if (!rc) rc = saved_answer(c, rs.json, grafana__jstr(m, "title"), out, err);
        grafana__resp_deinit(&rs);
    }
    grafana__resp_deinit(&cur);
    json_decref(m);
    return rc;
}

int grafana_dashboard_delete(grafana_client_t *c, const char *tenant, const char *uid, grafana_err_t *err) {
    int64_t org;
    int rc = check_uid(uid, err);
    if (!rc) rc = grafana_tenant_org(c, tenant, &org, err);
    if (rc) return rc;
    char path[128];
    snprintf(path, sizeof path, "/api/dashboards/uid/%s", uid);
    grafana__req_t rq = {.method = "DELETE", .path = path, .auth = GRAFANA__AUTH_ADMIN, .org_id = org};
    grafana__resp_t rs;
    rc = grafana__request(c, &rq, &rs, err);
    if (rc == VG_ENOTFOUND && rs.ambiguous) rc = 0, grafana__err_clear(err); /* our lost delete */
    grafana__resp_deinit(&rs);
    return rc;
}

/* ---- public dashboards ------------------------------------------------------------------------- */

static int public_answer(const grafana_client_t *c, const json_t *pd, char **out, grafana_err_t *err) {
    const char *token = grafana__jstr(pd, "accessToken");
    if (!token || !grafana__uid_ok(token))
        return grafana__err_set(err, VG_EINTERNAL, "grafana: public dashboard without a usable access token");
    char url[1024];
    snprintf(url, sizeof url, "%s/public-dashboards/%s", c->external_url, token);
    json_t *j = json_pack("{s:s?, s:s?, s:s, s:b, s:s}", "uid", grafana__jstr(pd, "uid"), "dashboard_uid",
                          grafana__jstr(pd, "dashboardUid"), "access_token", token, "enabled",
                          json_is_true(json_object_get(pd, "isEnabled")), "url", url);
    int rc = j ? grafana__dump(j, out) : VG_ENOMEM;
    json_decref(j);
    if (rc) grafana__err_set(err, rc, "grafana: out of memory");
    return rc;
}

static int public_get(grafana_client_t *c, int64_t org, const char *uid, grafana__resp_t *rs, grafana_err_t *err) {
    char path[160];
    snprintf(path, sizeof path, "/api/dashboards/uid/%s/public-dashboards", uid);
    grafana__req_t rq = {.method = "GET", .path = path, .auth = GRAFANA__AUTH_ADMIN, .org_id = org};
    return grafana__request(c, &rq, rs, err);
}

int grafana_dashboard_public_get(grafana_client_t *c, const char *tenant, const char *uid, char **out,
                                 grafana_err_t *err) {
    *out = NULL;
    int64_t org;
    int rc = check_uid(uid, err);
    if (!rc) rc = grafana_tenant_org(c, tenant, &org, err);
    if (rc) return rc;
    grafana__resp_t rs;
    if (!(rc = public_get(c, org, uid, &rs, err))) rc = public_answer(c, rs.json, out, err);
    grafana__resp_deinit(&rs);
    return rc;
}

int grafana_dashboard_publish(grafana_client_t *c, const char *tenant, const char *uid, char **out,
                              grafana_err_t *err) {
    *out = NULL;
    grafana__err_clear(err);
    grafana_err_t local;
    if (!err) err = &local;
    int64_t org;
    int rc = check_uid(uid, err);
    if (!rc) rc = grafana_tenant_org(c, tenant, &org, err);
    if (rc) return rc;
    char path[200];
    grafana__resp_t rs;
    rc = public_get(c, org, uid, &rs, err);
    if (!rc && json_is_true(json_object_get(rs.json, "isEnabled"))) {
        rc = public_answer(c, rs.json, out, err);
        grafana__resp_deinit(&rs);
        return rc;
    }
    if (!rc) { /* a config exists but is disabled: enable it */
        const char *pd_uid = grafana__jstr(rs.json, "uid");
        if (!pd_uid || !grafana__uid_ok(pd_uid)) {
            grafana__resp_deinit(&rs);
            return grafana__err_set(err, VG_EINTERNAL, "grafana: public dashboard config without a uid");
        }
        snprintf(path, sizeof path, "/api/dashboards/uid/%s/public-dashboards/%s", uid, pd_uid);
        grafana__resp_deinit(&rs);
        json_t *body = json_pack("{s:b}", "isEnabled", 1);
        grafana__req_t rq = {.method = "PATCH", .path = path, .body = body, .auth = GRAFANA__AUTH_ADMIN, .org_id = org};
        rc = grafana__request(c, &rq, &rs, err);
        json_decref(body);
    } else if (rc == VG_ENOTFOUND) {
        grafana__resp_deinit(&rs);
        grafana__err_clear(err);
        snprintf(path, sizeof path, "/api/dashboards/uid/%s/public-dashboards", uid);
        json_t *body = json_pack("{s:b, s:b, s:b, s:s}", "isEnabled", 1, "timeSelectionEnabled", 0,
                                 "annotationsEnabled", 0, "share", "public");
        grafana__req_t rq = {.method = "POST", .path = path, .body = body, .auth = GRAFANA__AUTH_ADMIN, .org_id = org};
        rc = grafana__request(c, &rq, &rs, err);
        json_decref(body);
        if (rc == VG_EINVAL && !strcmp(err->reason, "publicdashboards.dashboardIsPublic")) {
            /* Made public meanwhile (or by our own lost attempt): read it back. */
            grafana__resp_deinit(&rs);
            grafana__err_clear(err);
            rc = public_get(c, org, uid, &rs, err);
        }
    }
    if (!rc) rc = public_answer(c, rs.json, out, err);
    grafana__resp_deinit(&rs);
    return rc;
}
