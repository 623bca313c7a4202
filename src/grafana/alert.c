/* Datasources and Grafana-managed alert rules in a tenant's organisation.
 *
 * Invariants:
 *  - Alert rules are validated here before anything is sent, against the shapes Grafana's Go code
 *    accepts (not its OpenAPI spec): "for" is a duration string, relativeTimeRange numbers of seconds.
 *  - An alert rule's body holds only fields vigil knows (Grafana's names, or the seed API's snake_case
 *    aliases mapped onto them); an unknown field is refused, never dropped. orgID is always the
 *    tenant's org, never the caller's.
 *  - A tenant's datasource points at vigil or under an allowed prefix (url.c), checked before any
 *    request: Grafana's proxy would otherwise reach any address on the tenant's behalf.
 *  - A rule's uid is fixed before the first attempt, so a retried create cannot make two rules; a
 *    409 after a lost answer is resolved by reading the rule back. */
#include "grafana/grafana_int.h"

#include "util/timeutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- datasources ------------------------------------------------------------------------------- */

int grafana_datasource_create(grafana_client_t *c, const char *tenant, const char *json, size_t len,
                              const grafana_ds_policy_t *policy, char **out, grafana_err_t *err) {
    *out = NULL;
    grafana__err_clear(err);
    grafana_err_t local;
    if (!err) err = &local;
    json_t *in;
    vg_error_t e;
    if (grafana__parse(json, len, &in, &e)) return grafana__err_set(err, VG_EINVAL, "datasource: %s", e.msg);
    static const char *const str_keys[] = {"name", "type", "access", "url", "uid", "user", "database", "basicAuthUser"};
    static const char *const bool_keys[] = {"basicAuth", "isDefault", "withCredentials"};
    json_t *body = json_object();
    int rc = 0;
    if (!json_is_object(in)) rc = grafana__err_set(err, VG_EINVAL, "datasource: want a JSON object");
    for (size_t i = 0; !rc && i < sizeof str_keys / sizeof *str_keys; i++) {
        json_t *v = json_object_get(in, str_keys[i]);
        if (!v) continue;
        if (!json_is_string(v)) rc = grafana__err_set(err, VG_EINVAL, "datasource: \"%s\" must be a string", str_keys[i]);
        else json_object_set(body, str_keys[i], v);
    }
    for (size_t i = 0; !rc && i < sizeof bool_keys / sizeof *bool_keys; i++) {
        json_t *v = json_object_get(in, bool_keys[i]);
        if (!v) continue;
        if (!json_is_boolean(v)) rc = grafana__err_set(err, VG_EINVAL, "datasource: \"%s\" must be a boolean", bool_keys[i]);
        else json_object_set(body, bool_keys[i], v);
    }
    json_t *jd = json_object_get(in, "jsonData"), *sjd = json_object_get(in, "secureJsonData");
    if (!rc && jd && !json_is_object(jd)) rc = grafana__err_set(err, VG_EINVAL, "datasource: \"jsonData\" must be an object");
    if (!rc && sjd) {
        const char *k;
        json_t *v;
        if (!json_is_object(sjd)) rc = grafana__err_set(err, VG_EINVAL, "datasource: \"secureJsonData\" must be an object");
        else
            json_object_foreach(sjd, k, v) if (!json_is_string(v) && !rc) rc = grafana__err_set(
                err, VG_EINVAL, "datasource: secureJsonData values must be strings");
    }
    const char *name = grafana__jstr(body, "name"), *url = grafana__jstr(body, "url"), *uid = grafana__jstr(body, "uid");
    if (!rc && (!name || !name[0])) rc = grafana__err_set(err, VG_EINVAL, "datasource: \"name\" is required");
    if (!rc && (!url || (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))))
        rc = grafana__err_set(err, VG_EINVAL, "datasource: \"url\" must be an http(s) URL");
    if (!rc && uid && !grafana__uid_ok(uid)) rc = grafana__err_set(err, VG_EINVAL, "datasource: invalid \"uid\"");
    const char *type = grafana__jstr(body, "type");
    if (!rc && policy && policy->restricted && type && strcmp(type, "prometheus"))
        rc = grafana__err_set(err, VG_EFORBIDDEN, "datasource: a tenant may create datasources of type \"prometheus\" only");
    /* The URL is not echoed: it may carry a password. */
    if (!rc && policy && policy->restricted &&
        !grafana_url_allowed(url, c->vigil_url, policy->url_allow, policy->n_url_allow))
        rc = grafana__err_set(err, VG_EFORBIDDEN,
                              "datasource: a tenant may point a datasource only at vigil (grafana.vigil_url) or under "
                              "a prefix of grafana.datasource_url_allow (no userinfo, query or dot segments)");
    if (!rc) {
        if (jd) json_object_set(body, "jsonData", jd);
        if (sjd) json_object_set(body, "secureJsonData", sjd);
        if (!json_object_get(body, "type")) json_object_set_new(body, "type", json_string("prometheus"));
        if (!json_object_get(body, "access")) json_object_set_new(body, "access", json_string("proxy"));
        if (!uid) {
            char gen[15];
            grafana__random_uid(gen, 14);
            json_object_set_new(body, "uid", json_string(gen));
        }
    }
    json_decref(in);
    int64_t org = 0;
    if (!rc) rc = grafana_tenant_org(c, tenant, &org, err);
    if (!rc) {
        grafana__req_t rq = {.method = "POST", .path = "/api/datasources", .body = body, .auth = GRAFANA__AUTH_ADMIN,
                             .org_id = org};
        grafana__resp_t rs;
        rc = grafana__request(c, &rq, &rs, err);
        json_t *ds = json_object_get(rs.json, "datasource");
        if (rc == VG_EEXIST && rs.ambiguous) {
            /* Maybe ours, created by an attempt whose answer was lost: same uid means it is. */
            char path[128];
            snprintf(path, sizeof path, "/api/datasources/uid/%s", grafana__jstr(body, "uid"));
            grafana__req_t get = {.method = "GET", .path = path, .auth = GRAFANA__AUTH_ADMIN, .org_id = org};
            grafana__resp_t rs2;
            grafana_err_t e2;
            if (!grafana__request(c, &get, &rs2, &e2)) {
                grafana__resp_deinit(&rs);
                rs.json = rs2.json;
                rs2.json = NULL;
                ds = rs.json;
                grafana__err_clear(err);
                rc = 0;
            }
            grafana__resp_deinit(&rs2);
        }
        if (!rc && (rc = grafana__dump(ds ? ds : rs.json, out))) grafana__err_set(err, rc, "grafana: out of memory");
        grafana__resp_deinit(&rs);
    }
    json_decref(body);
    return rc;
}

/* One request on an object of the tenant's org: GET answers *out (when out), DELETE nothing. */
static int in_org(grafana_client_t *c, const char *tenant, const char *method, const char *path, char **out,
                  grafana_err_t *err) {
    if (out) *out = NULL;
    grafana__err_clear(err);
    grafana_err_t local;
    if (!err) err = &local;
    int64_t org = 0;
    int rc = grafana_tenant_org(c, tenant, &org, err);
    if (rc) return rc;
    grafana__req_t rq = {.method = method, .path = path, .auth = GRAFANA__AUTH_ADMIN, .org_id = org};
    grafana__resp_t rs;
    rc = grafana__request(c, &rq, &rs, err);
    if (rc == VG_ENOTFOUND && rs.ambiguous && !strcmp(method, "DELETE")) rc = 0, grafana__err_clear(err);
    if (!rc && out && (rc = grafana__dump(rs.json ? rs.json : json_null(), out))) grafana__err_set(err, rc, "grafana: out of memory");
    grafana__resp_deinit(&rs);
    return rc;
}

static int object_path(const char *base, const char *uid, char *path, size_t cap, grafana_err_t *err) {
    if (!grafana__uid_ok(uid)) return grafana__err_set(err, VG_EINVAL, "grafana: invalid uid (want 1-40 of [A-Za-z0-9_-])");
    snprintf(path, cap, "%s/%s", base, uid);
    return 0;
}

int grafana_datasource_list(grafana_client_t *c, const char *tenant, char **out, grafana_err_t *err) {
    return in_org(c, tenant, "GET", "/api/datasources", out, err);
}

int grafana_datasource_get(grafana_client_t *c, const char *tenant, const char *uid, char **out, grafana_err_t *err) {
    char path[96];
    *out = NULL;
    int rc = object_path("/api/datasources/uid", uid, path, sizeof path, err);
    return rc ? rc : in_org(c, tenant, "GET", path, out, err);
}

int grafana_datasource_delete(grafana_client_t *c, const char *tenant, const char *uid,
                              const grafana_ds_policy_t *policy, grafana_err_t *err) {
    char path[96];
    int rc = object_path("/api/datasources/uid", uid, path, sizeof path, err);
    if (rc) return rc;
    if (policy && policy->restricted && !strcmp(uid, GRAFANA__DS_UID))
        return grafana__err_set(err, VG_EFORBIDDEN,
                                "grafana: datasource \"vigil\" is managed by vigil (rotate its credential instead)");
    return in_org(c, tenant, "DELETE", path, NULL, err);
}

int grafana_alert_rule_list(grafana_client_t *c, const char *tenant, char **out, grafana_err_t *err) {
    return in_org(c, tenant, "GET", "/api/v1/provisioning/alert-rules", out, err);
}

int grafana_alert_rule_get(grafana_client_t *c, const char *tenant, const char *uid, char **out, grafana_err_t *err) {
    char path[96];
    *out = NULL;
    int rc = object_path("/api/v1/provisioning/alert-rules", uid, path, sizeof path, err);
    return rc ? rc : in_org(c, tenant, "GET", path, out, err);
}

int grafana_alert_rule_delete(grafana_client_t *c, const char *tenant, const char *uid, grafana_err_t *err) {
    char path[96];
    int rc = object_path("/api/v1/provisioning/alert-rules", uid, path, sizeof path, err);
    return rc ? rc : in_org(c, tenant, "DELETE", path, NULL, err);
}

/* ---- alert rules ------------------------------------------------------------------------------- */

static bool str_len_ok(const json_t *v, size_t lo, size_t hi) {
    if (!json_is_string(v)) return false;
    size_t n = json_string_length(v);
    return n >= lo && n <= hi;
}

static bool one_of(const char *s, const char *const *set) {
    for (; *set; set++)
        if (!strcmp(s, *set)) return true;
    return false;
}

static int validate_rule(const json_t *r, vg_error_t *err) {
    if (!json_is_object(r)) return vg_error_set(err, VG_EINVAL, "alert rule: want a JSON object");
    if (!str_len_ok(json_object_get(r, "title"), 1, 190))
        return vg_error_set(err, VG_EINVAL, "alert rule: \"title\" must be a string of 1-190 characters");
    if (!str_len_ok(json_object_get(r, "ruleGroup"), 1, 190))
        return vg_error_set(err, VG_EINVAL, "alert rule: \"ruleGroup\" (rule_group) must be a string of 1-190 characters");
    json_t *uid = json_object_get(r, "uid");
    if (uid && !(json_is_string(uid) && grafana__uid_ok(json_string_value(uid))))
        return vg_error_set(err, VG_EINVAL, "alert rule: \"uid\" must be 1-40 of [A-Za-z0-9_-]");
    json_t *folder = json_object_get(r, "folderUID");
    if (folder && !(json_is_string(folder) && grafana__uid_ok(json_string_value(folder))))
        return vg_error_set(err, VG_EINVAL, "alert rule: \"folderUID\" (folder_uid) must be 1-40 of [A-Za-z0-9_-]");
    json_t *f = json_object_get(r, "for");
    int64_t ms;
    if (!json_is_string(f))
        return vg_error_set(err, VG_EINVAL, "alert rule: \"for\" (for_duration) must be a duration string such as \"5m\"%s",
                            json_is_number(f) ? " (Grafana rejects numbers here)" : "");
    if (vg_duration_parse(json_string_value(f), json_string_length(f), &ms) || ms < 0)
        return vg_error_set(err, VG_EINVAL, "alert rule: \"for\" (for_duration): invalid duration \"%s\"", json_string_value(f));
    static const char *const nodata[] = {"NoData", "Alerting", "OK", "KeepLast", NULL};
    static const char *const execerr[] = {"Error", "Alerting", "OK", "KeepLast", NULL};
    const char *nd = grafana__jstr(r, "noDataState"), *ee = grafana__jstr(r, "execErrState");
    if ((json_object_get(r, "noDataState") && !nd) || (nd && !one_of(nd, nodata)))
        return vg_error_set(err, VG_EINVAL, "alert rule: \"noDataState\" (no_data_state) must be NoData, Alerting, OK or KeepLast");
    if ((json_object_get(r, "execErrState") && !ee) || (ee && !one_of(ee, execerr)))
        return vg_error_set(err, VG_EINVAL, "alert rule: \"execErrState\" (exec_err_state) must be Error, Alerting, OK or KeepLast");
    json_t *data = json_object_get(r, "data");
    if (!json_is_array(data) || !json_array_size(data))
        return vg_error_set(err, VG_EINVAL, "alert rule: \"data\" must be a non-empty array of queries");
    const char *cond = grafana__jstr(r, "condition");
    if (!cond || !cond[0]) return vg_error_set(err, VG_EINVAL, "alert rule: \"condition\" (a refId) is required");
    bool cond_found = false;
    size_t i;
    json_t *q;
    json_array_foreach(data, i, q) {
        const char *ref = grafana__jstr(q, "refId");
        if (!json_is_object(q) || !ref || !ref[0])
            return vg_error_set(err, VG_EINVAL, "alert rule: data[%zu]: \"refId\" is required", i);
        for (size_t k = 0; k < i; k++)
            if (!strcmp(ref, grafana__jstr(json_array_get(data, k), "refId")))
                return vg_error_set(err, VG_EINVAL, "alert rule: data[%zu]: refId \"%s\" is used twice", i, ref);
        if (!strcmp(ref, cond)) cond_found = true;
        json_t *ds = json_object_get(q, "datasourceUid");
        if (ds && !(json_is_string(ds) && (grafana__uid_ok(json_string_value(ds)) ||
                                           !strcmp(json_string_value(ds), "__expr__"))))
            return vg_error_set(err, VG_EINVAL, "alert rule: data[%zu]: invalid \"datasourceUid\"", i);
        if (!json_is_object(json_object_get(q, "model")))
            return vg_error_set(err, VG_EINVAL, "alert rule: data[%zu]: \"model\" must be an object", i);
        json_t *rtr = json_object_get(q, "relativeTimeRange");
        if (rtr) {
            json_t *from = json_object_get(rtr, "from"), *to = json_object_get(rtr, "to");
            if (!json_is_object(rtr) || !json_is_number(from) || !json_is_number(to))
                return vg_error_set(err, VG_EINVAL,
                                    "alert rule: data[%zu]: relativeTimeRange {from,to} must be numbers of seconds "
                                    "(e.g. {\"from\":600,\"to\":0}), not duration strings",
                                    i);
            double fs = json_number_value(from), ts = json_number_value(to);
            if (!isfinite(fs) || !isfinite(ts) || ts < 0 || fs < ts || fs > 366.0 * 86400 * 10)
                return vg_error_set(err, VG_EINVAL, "alert rule: data[%zu]: relativeTimeRange needs from >= to >= 0", i);
        }
    }
    if (!cond_found) return vg_error_set(err, VG_EINVAL, "alert rule: \"condition\" \"%s\" is not a refId of data", cond);
    return 0;
}

/* The body vigil accepts: Grafana's provisioning fields (camelCase) plus the snake_case spellings of
 * vigil's seed API, mapped onto Grafana's. Anything else is refused, never dropped silently. */
static const struct {
    const char *grafana, *alias; /* alias NULL: Grafana's spelling only */
} rule_fields[] = {
    {"uid", NULL},           {"title", NULL},
    {"ruleGroup", "rule_group"}, {"folderUID", "folder_uid"},
    {"condition", NULL},     {"data", NULL},
    {"for", "for_duration"}, {"noDataState", "no_data_state"},
    {"execErrState", "exec_err_state"}, {"labels", NULL},
    {"annotations", NULL},   {"isPaused", "is_paused"},
    {"notification_settings", NULL},
};

/* Accepted and ignored: the rule always lands in the caller's org. */
#define RULE_IGNORED_FIELD "orgID"

static bool rule_field_known(const char *k) {
    if (!strcmp(k, RULE_IGNORED_FIELD)) return true;
    for (size_t i = 0; i < sizeof rule_fields / sizeof *rule_fields; i++)
        if (!strcmp(k, rule_fields[i].grafana) || (rule_fields[i].alias && !strcmp(k, rule_fields[i].alias)))
            return true;
    return false;
}

/* *out: a new object holding in's fields under Grafana's names (values shared, not copied), orgID
 * dropped, ruleGroup defaulted to GRAFANA_ALERT_DEFAULT_GROUP. Refuses unknown fields (all named in
 * one message) and a field given under both spellings. */
static int normalize_rule(json_t *in, json_t **out, vg_error_t *err) {
    *out = NULL;
    if (!json_is_object(in)) return vg_error_set(err, VG_EINVAL, "alert rule: want a JSON object");
    char unknown[VG_ERROR_MSG_MAX];
    size_t n_unknown = 0, used = 0;
    const char *k;
    json_t *v;
    unknown[0] = '\0';
    json_object_foreach(in, k, v) {
        if (rule_field_known(k)) continue;
        n_unknown++;
        if (used < sizeof unknown) {
            int w = snprintf(unknown + used, sizeof unknown - used, "%s\"%s\"", n_unknown > 1 ? ", " : "", k);
            used = w < 0 ? sizeof unknown : used + (size_t)w;
        }
    }
    if (n_unknown)
        return vg_error_set(err, VG_EINVAL,
                            "alert rule: unknown field%s %s (see docs/grafana.md for the accepted fields)",
                            n_unknown > 1 ? "s" : "", unknown);
    json_t *r = json_object();
    for (size_t i = 0; i < sizeof rule_fields / sizeof *rule_fields; i++) {
        json_t *g = json_object_get(in, rule_fields[i].grafana);
        json_t *a = rule_fields[i].alias ? json_object_get(in, rule_fields[i].alias) : NULL;
        if (g && a) {
            json_decref(r);
            return vg_error_set(err, VG_EINVAL, "alert rule: both \"%s\" and \"%s\" given (the same field): send one",
                                rule_fields[i].grafana, rule_fields[i].alias);
        }
        if (g || a) json_object_set(r, rule_fields[i].grafana, g ? g : a);
    }
    if (!json_object_get(r, "ruleGroup"))
        json_object_set_new(r, "ruleGroup", json_string(GRAFANA_ALERT_DEFAULT_GROUP));
    *out = r;
    return 0;
}

static int parse_rule(const char *json, size_t len, json_t **out, vg_error_t *err) {
    json_t *in;
    *out = NULL;
    int rc = grafana__parse(json, len, &in, err);
    if (rc) return rc;
    rc = normalize_rule(in, out, err);
    json_decref(in);
    if (!rc && (rc = validate_rule(*out, err))) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

int grafana_alert_rule_normalize(const char *json, size_t len, char **out, vg_error_t *err) {
    json_t *r;
    *out = NULL;
    int rc = parse_rule(json, len, &r, err);
    if (rc) return rc;
    if ((rc = grafana__dump(r, out))) vg_error_set(err, rc, "alert rule: out of memory");
    json_decref(r);
    return rc;
}

int grafana_alert_rule_validate(const char *json, size_t len, vg_error_t *err) {
    json_t *r;
    int rc = parse_rule(json, len, &r, err);
    json_decref(r);
    return rc;
}

int grafana_alert_rule_create(grafana_client_t *c, const char *tenant, const char *json, size_t len, char **out,
                              grafana_err_t *err) {
    *out = NULL;
    grafana__err_clear(err);
    grafana_err_t local;
    if (!err) err = &local;
    json_t *r;
    int rc = parse_rule(json, len, &r, &err->err);
    int64_t org = 0;
    if (!rc) rc = grafana_tenant_org(c, tenant, &org, err);
    if (rc) {
        json_decref(r);
        return rc;
    }
    json_t *body = r; /* normalised: Grafana's field names only, orgID dropped */
    json_object_set_new(body, "orgID", json_integer(org));
    if (!json_object_get(body, "folderUID")) json_object_set_new(body, "folderUID", json_string(GRAFANA__FOLDER_UID));
    if (!json_object_get(body, "noDataState")) json_object_set_new(body, "noDataState", json_string("NoData"));
    if (!json_object_get(body, "execErrState")) json_object_set_new(body, "execErrState", json_string("Error"));
    if (!json_object_get(body, "uid")) {
        char gen[15];
        grafana__random_uid(gen, 14);
        json_object_set_new(body, "uid", json_string(gen));
    }
    size_t i;
    json_t *q;
    json_array_foreach(json_object_get(body, "data"), i, q) {
        if (!json_object_get(q, "datasourceUid")) json_object_set_new(q, "datasourceUid", json_string(GRAFANA__DS_UID));
        if (!json_object_get(q, "queryType")) json_object_set_new(q, "queryType", json_string(""));
        if (!json_object_get(q, "relativeTimeRange"))
            json_object_set_new(q, "relativeTimeRange", json_pack("{s:i, s:i}", "from", 600, "to", 0));
    }
    grafana__req_t rq = {.method = "POST", .path = "/api/v1/provisioning/alert-rules", .body = body,
                         .auth = GRAFANA__AUTH_ADMIN, .org_id = org, .disable_provenance = true};
    grafana__resp_t rs;
    rc = grafana__request(c, &rq, &rs, err);
    if (rc == VG_EEXIST && rs.ambiguous) {
        char path[128];
        snprintf(path, sizeof path, "/api/v1/provisioning/alert-rules/%s", grafana__jstr(body, "uid"));
        grafana__req_t get = {.method = "GET", .path = path, .auth = GRAFANA__AUTH_ADMIN, .org_id = org};
        grafana__resp_t rs2;
        grafana_err_t e2;
        if (!grafana__request(c, &get, &rs2, &e2) && json_equal(json_object_get(rs2.json, "title"),
                                                                json_object_get(body, "title"))) {
            grafana__resp_deinit(&rs);
            rs.json = rs2.json;
            rs2.json = NULL;
            grafana__err_clear(err);
            rc = 0;
        }
        grafana__resp_deinit(&rs2);
    }
    if (!rc && (rc = grafana__dump(rs.json, out))) grafana__err_set(err, rc, "grafana: out of memory");
    grafana__resp_deinit(&rs);
    json_decref(body);
    return rc;
}
