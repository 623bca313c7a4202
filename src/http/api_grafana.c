/* Grafana endpoints: a tenant's Grafana token (provisioning its organisation on the way), the token list
 * and revocation, dashboards (from templates or JSON, public links), datasources, alert rules, Grafana
 * health, and the tenant metrics health document. Each acts in the caller's tenant organisation only
 * (an admin names the tenant with ?tenant=). The datasource vigil puts in a tenant's organisation
 * carries a vigil API key of that tenant, kept while valid and replaced on request (rotate): the new
 * key is live in Grafana before the old one is revoked, so the tenant's dashboards never lose their
 * credential. */
#include "api.h"
#include "auth.h"

#include "grafana/grafana.h"
#include "selfmon/selfmon.h"
#include "tenancy/tenancy.h"
#include "util/json.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DS_KEY_NAME TENANCY_APIKEY_DATASOURCE

static int need_grafana(http_req_t *req) {
    if (!req->app->grafana)
        return vg_error_set(&req->err, VG_EUNAVAIL, "the Grafana integration is not configured (grafana.url)");
    return 0;
}

/* The tenant a request acts for: its own, or ?tenant= for an admin. */
static int tenant_of(http_req_t *req, const char **out) {
    const service_ctx_t *id = req->ctx;
    if (id->scoped) {
        *out = id->tenant;
        return 0;
    }
    const char *t = http_req_param(req, "tenant");
    if (!t || !tenancy_tenant_id_valid(t, strlen(t)))
        return vg_error_set(&req->err, VG_EINVAL, "a tenant token is required (an admin names the tenant with ?tenant=)");
    *out = t;
    return 0;
}

/* Carries a Grafana failure into the response, and Grafana's reachability into component health. */
static int grafana_fail(http_req_t *req, int rc, const grafana_err_t *ge) {
    if (rc == VG_EUNAVAIL || rc == VG_ETIMEOUT) selfmon_health_set("grafana", SELFMON_DOWN, ge->err.msg);
    /* Grafana refusing vigil's own admin credentials is vigil's upstream problem, not the caller's */
    if (rc == VG_EAUTH) return vg_error_set(&req->err, VG_EUPSTREAM, "Grafana rejected vigil's credentials: %s", ge->err.msg);
    return vg_error_set(&req->err, rc, "%s", ge->err.msg);
}

static void grafana_ok(void) { selfmon_health_set("grafana", SELFMON_UP, ""); }

/* {"status":"success","data":<json>} */
static int answer(http_resp_t *resp, char *json, int status) {
    vg_buf_puts(&resp->body, "{\"status\":\"success\",\"data\":");
    vg_buf_puts(&resp->body, json ? json : "null");
    vg_buf_putc(&resp->body, '}');
    free(json);
    resp->status = status;
    return 0;
}

/* The datasource credential of one provisioning run: a vigil API key minted only when Grafana is
 * about to store it (grafana_provision_opts_t.ds_credential). */
typedef struct {
    http_req_t *req;
    const char *tenant;
    uint64_t id; /* 0: none minted */
    char key[TENANCY_APIKEY_LEN + 1];
    char header[TENANCY_APIKEY_LEN + 16];
} ds_cred_t;

static int mint_ds_key(void *arg, const char **value, vg_error_t *err) {
    ds_cred_t *cr = arg;
    int rc = tenancy_keystore_create(cr->req->app->keys, cr->tenant, DS_KEY_NAME, cr->key, &cr->id, err);
    if (rc) return rc;
    snprintf(cr->header, sizeof cr->header, "Bearer %s", cr->key);
    *value = cr->header;
    return 0;
}

/* Provisions the tenant's organisation. The datasource keeps the key it holds while that key is valid;
 * a new key is minted when the datasource must be written (missing, outdated, no valid key left, or
 * `rotate`). Revocation follows what Grafana holds, so the live key is never the one revoked: the
 * new key stored → the older ones go; not stored → the new one goes; unknown → both stay (the next
 * rotation removes the extra one). *rotated tells whether a new key went live. */
static int provision(http_req_t *req, const char *tenant, bool rotate, bool *rotated, size_t *n_revoked) {
    *rotated = false;
    *n_revoked = 0;
    if (!req->app->keys) return vg_error_set(&req->err, VG_EUNAVAIL, "the API key store is not open");
    ds_cred_t cr = {.req = req, .tenant = tenant};
    bool have_key = tenancy_keystore_count(req->app->keys, tenant, DS_KEY_NAME) > 0;
    grafana_provision_opts_t po = {.ds_header_name = "Authorization", .ds_credential = mint_ds_key,
                                   .ds_credential_arg = &cr, .rotate_credential = rotate || !have_key};
    grafana_provision_result_t pr;
    grafana_err_t ge;
    int rc = grafana_tenant_provision(req->app->grafana, tenant, &po, &pr, &ge);
    explicit_bzero(cr.key, sizeof cr.key);
    explicit_bzero(cr.header, sizeof cr.header);
    vg_error_t kerr;
    if (cr.id && pr.credential == GRAFANA_CRED_STORED) {
        *rotated = true;
        if (tenancy_keystore_revoke(req->app->keys, tenant, DS_KEY_NAME, cr.id, n_revoked, &kerr))
            vg_log_error("grafana", "cannot revoke old datasource keys", VG_LS("tenant", tenant), VG_LS("err", kerr.msg));
    } else if (cr.id && pr.credential == GRAFANA_CRED_KEPT) {
        if (tenancy_keystore_revoke_id(req->app->keys, cr.id, &kerr)) /* never live */
            vg_log_error("grafana", "cannot revoke an unused datasource key", VG_LS("tenant", tenant), VG_LS("err", kerr.msg));
    } else if (cr.id) {
        vg_log_warn("grafana", "datasource update outcome unknown; keeping the old and the new key",
                    VG_LS("tenant", tenant));
    }
    if (rc) return grafana_fail(req, rc, &ge);
    grafana_ok();
    vg_log_info("grafana", "tenant provisioned", VG_LS("tenant", tenant), VG_LI("org_id", pr.org_id),
                VG_LI("created", pr.n_created), VG_LI("key_rotated", *rotated), VG_LI("revoked_keys", (int64_t)*n_revoked));
    return 0;
}

int api_grafana_tenant(http_req_t *req, const char **out) { return tenant_of(req, out); }

int api_grafana_fail(http_req_t *req, int rc, const grafana_err_t *ge) { return grafana_fail(req, rc, ge); }

int api_grafana_provision(http_req_t *req, const char *tenant) {
    bool rotated;
    size_t n_revoked;
    return provision(req, tenant, false, &rotated, &n_revoked);
}

/* The per-tenant limit of credential-minting requests: at most grafana.token_requests in any
 * grafana.token_window (a sliding window, not a bucket: no refill lets a sixth through early). 429
 * with Retry-After = when the oldest request leaves the window. */
static int rate_limited(http_req_t *req, http_resp_t *resp, const char *tenant, const char *klass) {
    const config_t *c = req->ctx->cfg;
    if (!req->app->grafana_limit) return vg_error_set(&req->err, VG_EUNAVAIL, "the Grafana request limit is not set up");
    uint64_t max = (uint64_t)c->grafana.token_requests;
    int64_t wait = tenancy_window_take(req->app->grafana_limit, tenant, klass, max, c->grafana.token_window_ms, vg_mono_ns());
    if (wait == 0) return 0;
    if (wait < 0) return vg_error_set(&req->err, (int)wait, "cannot apply the Grafana request limit");
    char *ra = vg_arena_alloc(req->arena, 24);
    if (ra) snprintf(ra, 24, "%lld", (long long)((wait + 999) / 1000)), http_resp_header(resp, "Retry-After", ra);
    char win[VG_DURATION_MAX];
    vg_duration_format(c->grafana.token_window_ms, win);
    return vg_error_set(&req->err, VG_ERATELIMIT, "at most %llu %s requests per tenant in any %s: retry after %llds",
                        (unsigned long long)max, klass, win, (long long)((wait + 999) / 1000));
}

int api_grafana_token(http_req_t *req, http_resp_t *resp) {
    const char *tenant = NULL;
    int rc = need_grafana(req);
    if (rc || (rc = tenant_of(req, &tenant))) return rc;
    if ((rc = rate_limited(req, resp, tenant, "grafana-token"))) return rc;
    bool rotated;
    size_t n_revoked;
    if ((rc = provision(req, tenant, false, &rotated, &n_revoked))) return rc;
    grafana_token_t t;
    grafana_err_t ge;
    if ((rc = grafana_token_create(req->app->grafana, tenant, 0, &t, &ge))) return grafana_fail(req, rc, &ge);
    char *out = NULL;
    const char *ns = req->ctx->scoped && req->ctx->matcher.n_values ? req->ctx->matcher.values[0] : NULL;
    rc = grafana_token_response(req->app->grafana, tenant, ns, &t, &out);
    vg_log_info("grafana", "token created", VG_LS("tenant", tenant), VG_LS("name", t.name), VG_LI("id", t.id));
    grafana_token_deinit(&t);
    if (rc) return vg_error_set(&req->err, rc, "cannot build the answer");
    vg_buf_puts(&resp->body, out); /* the seed's shape: the object itself, not wrapped */
    explicit_bzero(out, strlen(out));
    free(out);
    return 0;
}

/* POST /api/v1/metrics/grafana-credential/rotate: a new datasource key, live in Grafana before the old
 * one is revoked. */
int api_grafana_credential_rotate(http_req_t *req, http_resp_t *resp) {
    const char *tenant = NULL;
    int rc = need_grafana(req);
    if (rc || (rc = tenant_of(req, &tenant))) return rc;
    if ((rc = rate_limited(req, resp, tenant, "grafana-credential"))) return rc;
    bool rotated;
    size_t n_revoked;
    if ((rc = provision(req, tenant, true, &rotated, &n_revoked))) return rc;
    char *out = malloc(64);
    if (out) snprintf(out, 64, "{\"rotated\":%s,\"revoked_keys\":%zu}", rotated ? "true" : "false", n_revoked);
    return answer(resp, out, 200);
}

int api_grafana_tokens(http_req_t *req, http_resp_t *resp) {
    const char *tenant = NULL;
    int rc = need_grafana(req);
    if (rc || (rc = tenant_of(req, &tenant))) return rc;
    char *out;
    grafana_err_t ge;
    if ((rc = grafana_token_list(req->app->grafana, tenant, &out, &ge))) return grafana_fail(req, rc, &ge);
    grafana_ok();
    return answer(resp, out, 200);
}

int api_grafana_token_revoke(http_req_t *req, http_resp_t *resp) {
    const char *tenant = NULL, *ids = http_req_path_param(req, "id");
    int rc = need_grafana(req);
    if (rc || (rc = tenant_of(req, &tenant))) return rc;
    char *end;
    long long id = ids ? strtoll(ids, &end, 10) : 0;
    if (!ids || *end || id <= 0) return vg_error_set(&req->err, VG_EINVAL, "invalid token id \"%.40s\"", ids ? ids : "");
    grafana_err_t ge;
    if ((rc = grafana_token_revoke(req->app->grafana, tenant, id, &ge))) return grafana_fail(req, rc, &ge);
    grafana_ok();
    vg_log_info("grafana", "token revoked", VG_LS("tenant", tenant), VG_LI("id", id));
    return answer(resp, strdup("{\"revoked\":true}"), 200);
}

/* ---- dashboards ---- */

int api_grafana_dashboards(http_req_t *req, http_resp_t *resp) {
    const char *tenant = NULL;
    int rc = need_grafana(req);
    if (rc || (rc = tenant_of(req, &tenant))) return rc;
    char *out = NULL;
    grafana_err_t ge;
    if (!strcmp(req->method, "GET")) {
        if ((rc = grafana_dashboard_list(req->app->grafana, tenant, &out, &ge))) return grafana_fail(req, rc, &ge);
        grafana_ok();
        return answer(resp, out, 200);
    }
    /* POST {"template": name, "variables": {…}, "uid", "overwrite"} or {"dashboard": {…}, "overwrite"} */
    json_error_t je;
    json_t *body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(body)) {
        json_decref(body);
        return vg_error_set(&req->err, VG_EINVAL, "body must be a JSON object: %s at byte %d", je.text, je.position);
    }
    grafana_dashboard_opts_t o = {0};
    o.template_name = json_string_value(json_object_get(body, "template"));
    o.uid = json_string_value(json_object_get(body, "uid"));
    o.overwrite = json_is_true(json_object_get(body, "overwrite"));
    json_t *vars = json_object_get(body, "variables");
    grafana_var_t *v = NULL;
    char *dash = NULL;
    if (json_is_object(vars) && json_object_size(vars)) {
        v = vg_arena_calloc(req->arena, json_object_size(vars), sizeof *v);
        const char *k;
        json_t *val;
        json_object_foreach(vars, k, val) {
            if (!json_is_string(val)) {
                json_decref(body);
                return vg_error_set(&req->err, VG_EINVAL, "variables.%s must be a string", k);
            }
            v[o.n_vars++] = (grafana_var_t){k, json_string_value(val)};
        }
        o.vars = v;
    }
    json_t *d = json_object_get(body, "dashboard");
    if (d) {
        dash = json_dumps(d, JSON_COMPACT);
        o.json = dash;
        o.json_len = dash ? strlen(dash) : 0;
    }
    if (!o.template_name == !o.json)
        rc = vg_error_set(&req->err, VG_EINVAL, "give either \"template\" or \"dashboard\"");
    else if ((rc = grafana_dashboard_create(req->app->grafana, tenant, &o, &out, &ge)))
        rc = grafana_fail(req, rc, &ge);
    free(dash);
    json_decref(body);
    if (rc) return rc;
    grafana_ok();
    return answer(resp, out, 200);
}

int api_grafana_dashboard(http_req_t *req, http_resp_t *resp) {
    const char *tenant = NULL, *uid = http_req_path_param(req, "uid");
    int rc = need_grafana(req);
    if (rc || (rc = tenant_of(req, &tenant))) return rc;
    char *out = NULL;
    grafana_err_t ge;
    if (!strcmp(req->method, "GET")) rc = grafana_dashboard_get(req->app->grafana, tenant, uid, &out, &ge);
    else if (!strcmp(req->method, "DELETE")) rc = grafana_dashboard_delete(req->app->grafana, tenant, uid, &ge);
    else rc = grafana_dashboard_update(req->app->grafana, tenant, uid, req->body, req->body_len,
                                       http_req_param(req, "overwrite") != NULL, &out, &ge);
    if (rc) {
        if (ge.http_status == 412) {
            resp->status = 412;
            http_resp_error(resp, VG_EEXIST, ge.err.msg);
            resp->status = 412;
            return 0;
        }
        return grafana_fail(req, rc, &ge);
    }
    grafana_ok();
    return answer(resp, out ? out : strdup("{\"deleted\":true}"), 200);
}

int api_grafana_public(http_req_t *req, http_resp_t *resp) {
    const char *tenant = NULL, *uid = http_req_path_param(req, "uid");
    int rc = need_grafana(req);
    if (rc || (rc = tenant_of(req, &tenant))) return rc;
    char *out = NULL;
    grafana_err_t ge;
    rc = !strcmp(req->method, "GET") ? grafana_dashboard_public_get(req->app->grafana, tenant, uid, &out, &ge)
                                     : grafana_dashboard_publish(req->app->grafana, tenant, uid, &out, &ge);
    if (rc) return grafana_fail(req, rc, &ge);
    grafana_ok();
    return answer(resp, out, 200);
}

int api_grafana_templates(http_req_t *req, http_resp_t *resp) {
    int rc = need_grafana(req);
    if (rc) return rc;
    char *out = NULL;
    if ((rc = grafana_template_list(req->app->grafana, &out))) return vg_error_set(&req->err, rc, "cannot list templates");
    return answer(resp, out, 200);
}

/* Who the caller is for datasource policy: tenants are restricted, admins are not. */
static grafana_ds_policy_t ds_policy(const http_req_t *req) {
    const config_strlist_t *allow = &req->ctx->cfg->grafana.datasource_url_allow;
    return (grafana_ds_policy_t){.restricted = !req->ctx->admin, .url_allow = (const char *const *)allow->v,
                                 .n_url_allow = allow->n};
}

int api_grafana_datasources(http_req_t *req, http_resp_t *resp) {
    const char *tenant = NULL;
    int rc = need_grafana(req);
    if (rc || (rc = tenant_of(req, &tenant))) return rc;
    char *out = NULL;
    grafana_err_t ge;
    if (!strcmp(req->method, "GET")) {
        if ((rc = grafana_datasource_list(req->app->grafana, tenant, &out, &ge))) return grafana_fail(req, rc, &ge);
        grafana_ok();
        return answer(resp, out, 200);
    }
    /* Grafana's proxy calls a datasource's URL from the operator's network: tenants only reach vigil or
     * the configured prefixes; admins anything. */
    grafana_ds_policy_t pol = ds_policy(req);
    if ((rc = grafana_datasource_create(req->app->grafana, tenant, req->body, req->body_len, &pol, &out, &ge)))
        return grafana_fail(req, rc, &ge);
    grafana_ok();
    return answer(resp, out, 200);
}

int api_grafana_datasource(http_req_t *req, http_resp_t *resp) {
    const char *tenant = NULL, *uid = http_req_path_param(req, "uid");
    int rc = need_grafana(req);
    if (rc || (rc = tenant_of(req, &tenant))) return rc;
    char *out = NULL;
    grafana_err_t ge;
    grafana_ds_policy_t pol = ds_policy(req);
    if (!strcmp(req->method, "GET")) rc = grafana_datasource_get(req->app->grafana, tenant, uid, &out, &ge);
    else rc = grafana_datasource_delete(req->app->grafana, tenant, uid, &pol, &ge);
    if (rc) return grafana_fail(req, rc, &ge);
    grafana_ok();
    return answer(resp, out ? out : strdup("{\"deleted\":true}"), 200);
}

int api_grafana_alert(http_req_t *req, http_resp_t *resp) {
    const char *tenant = NULL, *uid = http_req_path_param(req, "uid");
    int rc = need_grafana(req);
    if (rc || (rc = tenant_of(req, &tenant))) return rc;
    char *out = NULL;
    grafana_err_t ge;
    if (!strcmp(req->method, "GET")) rc = grafana_alert_rule_get(req->app->grafana, tenant, uid, &out, &ge);
    else rc = grafana_alert_rule_delete(req->app->grafana, tenant, uid, &ge);
    if (rc) return grafana_fail(req, rc, &ge);
    grafana_ok();
    return answer(resp, out ? out : strdup("{\"deleted\":true}"), 200);
}

int api_grafana_alerts(http_req_t *req, http_resp_t *resp) {
    const char *tenant = NULL;
    int rc = need_grafana(req);
    if (rc || (rc = tenant_of(req, &tenant))) return rc;
    if (!strcmp(req->method, "GET")) {
        char *out = NULL;
        grafana_err_t ge;
        if ((rc = grafana_alert_rule_list(req->app->grafana, tenant, &out, &ge))) return grafana_fail(req, rc, &ge);
        grafana_ok();
        return answer(resp, out, 200);
    }
    if ((rc = grafana_alert_rule_validate(req->body, req->body_len, &req->err))) return rc;
    char *out = NULL;
    grafana_err_t ge;
    if ((rc = grafana_alert_rule_create(req->app->grafana, tenant, req->body, req->body_len, &out, &ge)))
        return grafana_fail(req, rc, &ge);
    grafana_ok();
    return answer(resp, out, 200);
}

int api_grafana_health(http_req_t *req, http_resp_t *resp) {
    int rc = need_grafana(req);
    if (rc) return rc;
    char *out = NULL;
    grafana_err_t ge;
    rc = grafana_health(req->app->grafana, &out, &ge);
    if (rc) selfmon_health_set("grafana", SELFMON_DOWN, ge.err.msg);
    else grafana_ok();
    return answer(resp, out, rc ? 503 : 200);
}

/* GET /api/v1/metrics/health: what a tenant's client needs to know about the service it uses. */
static void health_component(vg_json_t *j, const char *name, bool *healthy) {
    selfmon_status_t st;
    char msg[256];
    if (!selfmon_health_get(name, &st, msg, sizeof msg)) return;
    vg_json_key(j, name);
    vg_json_obj_open(j);
    vg_json_key(j, "status"), vg_json_str(j, selfmon_status_name(st));
    if (*msg) vg_json_key(j, "message"), vg_json_str(j, msg);
    vg_json_obj_close(j);
    if (st == SELFMON_DOWN || st == SELFMON_STARTING) *healthy = false;
}

int api_metrics_health(http_req_t *req, http_resp_t *resp) {
    (void)req;
    bool healthy = true;
    vg_buf_t comps = VG_BUF_INIT;
    vg_json_t cj;
    vg_json_init(&cj, &comps);
    vg_json_obj_open(&cj);
    health_component(&cj, "storage", &healthy);
    health_component(&cj, "engine", &healthy);
    health_component(&cj, "grafana", &healthy);
    vg_json_obj_close(&cj);
    vg_json_t j;
    vg_json_init(&j, &resp->body);
    vg_json_obj_open(&j);
    vg_json_key(&j, "status"), vg_json_str(&j, healthy ? "healthy" : "unhealthy");
    vg_json_key(&j, "components"), vg_json_raw(&j, comps.data, comps.len);
    vg_json_obj_close(&j);
    vg_buf_deinit(&comps);
    resp->status = healthy ? 200 : 503;
    return 0;
}
