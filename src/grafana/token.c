/* Service-account tokens for tenants: create metrics-<tenant>-token-<n>, list, revoke, and the answer
 * of POST /api/v1/metrics/grafana-token.
 *
 * Invariants:
 *  - The key exists only in grafana_token_t.key and in the answer built for the caller; it is wiped
 *    on deinit and never logged.
 *  - Token names are unique per org in Grafana; n is one past the highest n in use. A duplicate name
 *    on a first attempt means a concurrent creator (take the next n); after an attempt whose answer
 *    was lost it means our own token whose key we never saw: delete it and create it again, so no
 *    unusable token is left behind.
 *  - Token creation is not retried blindly by the client (no_retry): this file owns that loop. */
#include "grafana/grafana_int.h"

#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOGGER "grafana"
#define CREATE_ROUNDS 8

void grafana_token_deinit(grafana_token_t *t) {
    if (!t) return;
    if (t->key) {
        explicit_bzero(t->key, strlen(t->key));
        free(t->key);
    }
    memset(t, 0, sizeof *t);
}

static int list_tokens(grafana_client_t *c, int64_t org, int64_t sa, grafana__resp_t *rs, grafana_err_t *err) {
    char path[128];
    snprintf(path, sizeof path, "/api/serviceaccounts/%lld/tokens", (long long)sa);
    grafana__req_t rq = {.method = "GET", .path = path, .auth = GRAFANA__AUTH_ADMIN, .org_id = org};
    int rc = grafana__request(c, &rq, rs, err);
    if (!rc && !json_is_array(rs->json)) rc = grafana__err_set(err, VG_EINTERNAL, "grafana: token list is not an array");
    return rc;
}

/* n of "<prefix><n>", or 0. */
static long token_n(const char *name, const char *prefix) {
    size_t pl = strlen(prefix);
    if (!name || strncmp(name, prefix, pl) || !name[pl]) return 0;
    char *end;
    long n = strtol(name + pl, &end, 10);
    return *end || n < 0 ? 0 : n;
}

static int delete_token(grafana_client_t *c, int64_t org, int64_t sa, int64_t id, grafana_err_t *err) {
    char path[160];
    snprintf(path, sizeof path, "/api/serviceaccounts/%lld/tokens/%lld", (long long)sa, (long long)id);
    grafana__req_t rq = {.method = "DELETE", .path = path, .auth = GRAFANA__AUTH_ADMIN, .org_id = org};
    grafana__resp_t rs;
    int rc = grafana__request(c, &rq, &rs, err);
    if (rc == VG_ENOTFOUND && rs.ambiguous) rc = 0, grafana__err_clear(err);
    grafana__resp_deinit(&rs);
    return rc;
}

int grafana_token_create(grafana_client_t *c, const char *tenant, int64_t seconds_to_live, grafana_token_t *out,
                         grafana_err_t *err) {
    memset(out, 0, sizeof *out);
    grafana__err_clear(err);
    grafana_err_t local;
    if (!err) err = &local;
    if (seconds_to_live < 0) return grafana__err_set(err, VG_EINVAL, "grafana: secondsToLive must be >= 0");
    if (!seconds_to_live) seconds_to_live = c->cfg.token_ttl_s;
    int64_t org, sa;
    bool created;
    int rc = grafana_tenant_org(c, tenant, &org, err);
    if (!rc) rc = grafana__sa_ensure(c, org, tenant, true, &sa, &created, err);
    if (rc) return rc;

    char prefix[GRAFANA__NAME_MAX + 8];
    snprintf(prefix, sizeof prefix, "metrics-%s-token-", tenant);
    grafana__resp_t rs;
    if ((rc = list_tokens(c, org, sa, &rs, err))) {
        grafana__resp_deinit(&rs);
        return rc;
    }
    long n = 0;
    size_t i;
    json_t *t;
    json_array_foreach(rs.json, i, t) {
        long k = token_n(grafana__jstr(t, "name"), prefix);
        if (k > n) n = k;
    }
    grafana__resp_deinit(&rs);
    n++;

    bool lost = false; /* the previous attempt may have created the token without us seeing its key */
    int transient = 0;
    for (int round = 0; round < CREATE_ROUNDS + c->cfg.retries; round++) {
        if (snprintf(out->name, sizeof out->name, "%s%ld", prefix, n) >= (int)sizeof out->name)
            return grafana__err_set(err, VG_EINVAL, "grafana: token name too long");
        json_t *body = json_pack("{s:s, s:I}", "name", out->name, "secondsToLive", (json_int_t)seconds_to_live);
        char path[128];
        snprintf(path, sizeof path, "/api/serviceaccounts/%lld/tokens", (long long)sa);
        grafana__req_t rq = {.method = "POST", .path = path, .body = body, .auth = GRAFANA__AUTH_ADMIN, .org_id = org,
                             .no_retry = true};
        rc = grafana__request(c, &rq, &rs, err);
        json_decref(body);
        if (!rc) {
            const char *key = grafana__jstr(rs.json, "key");
            out->id = grafana__jint(rs.json, "id");
            out->key = key ? strdup(key) : NULL;
            grafana__resp_deinit(&rs); /* jansson frees the key copy it held */
            if (!out->key) {
                memset(out, 0, sizeof *out);
                return grafana__err_set(err, key ? VG_ENOMEM : VG_EINTERNAL, "grafana: token answer without a key");
            }
            out->service_account_id = sa;
            out->org_id = org;
            out->seconds_to_live = seconds_to_live;
            vg_log_info(LOGGER, "created service-account token", VG_LS("tenant", tenant), VG_LS("name", out->name),
                        VG_LI("token_id", out->id));
            return 0;
        }
        const char *mid = grafana__jstr(rs.json, "messageId");
        bool dup = rs.status == 409 || (rs.status == 400 && mid && !strcmp(mid, "serviceaccounts.ErrTokenAlreadyExists"));
        grafana__resp_deinit(&rs);
        if (dup && lost) {
            /* Our own orphan: find it by name and delete it, then create it again under the same name. */
            grafana__err_clear(err);
            int64_t orphan = 0;
            if (!(rc = list_tokens(c, org, sa, &rs, err))) {
                json_array_foreach(rs.json, i, t) {
                    const char *nm = grafana__jstr(t, "name");
                    if (nm && !strcmp(nm, out->name)) orphan = grafana__jint(t, "id");
                }
            }
            grafana__resp_deinit(&rs);
            if (!rc && orphan) rc = delete_token(c, org, sa, orphan, err);
            if (!rc && !orphan) n++; /* the name belongs to another service account of the org */
            if (rc) break;
            vg_log_warn(LOGGER, "deleted a token whose creation answer was lost", VG_LS("tenant", tenant),
                        VG_LS("name", out->name));
            lost = false;
            continue;
        }
        if (dup) {
            grafana__err_clear(err);
            n++;
            continue;
        }
        if (grafana__retryable(err) && transient < c->cfg.retries) {
            lost = lost || rs.maybe_seen;
            grafana__backoff(c, ++transient);
            continue;
        }
        break;
    }
    out->name[0] = '\0';
    if (!rc) rc = grafana__err_set(err, VG_EINTERNAL, "grafana: could not pick a free token name");
    return rc;
}

int grafana_token_response(const grafana_client_t *c, const char *tenant, const char *ns, const grafana_token_t *t,
                           char **out) {
    *out = NULL;
    if (!t->key) return VG_EINVAL;
    json_t *j = json_pack("{s:s, s:s, s:I, s:s, s:s, s:I, s:s?, s:s, s:I}", "token", t->key, "name", t->name,
                          "service_account_id", (json_int_t)t->service_account_id, "grafana_url", c->external_url,
                          "org_id", tenant, "grafana_org_id", (json_int_t)t->org_id, "namespace", ns, "message",
                          "Use this token as 'Authorization: Bearer <token>' against grafana_url. It is shown only "
                          "once; it can read every dashboard and datasource of your organisation.",
                          "expires_in_days", (json_int_t)((t->seconds_to_live + 86399) / 86400));
    if (!j) return VG_ENOMEM;
    int rc = grafana__dump(j, out);
    json_decref(j);
    return rc;
}

/* The tenant's org and service account; *no_sa tells "provisioned, but no account yet" apart. */
static int tenant_sa(grafana_client_t *c, const char *tenant, int64_t *org, int64_t *sa, bool *no_sa,
                     grafana_err_t *err) {
    bool created;
    *no_sa = false;
    int rc = grafana_tenant_org(c, tenant, org, err);
    if (!rc) {
        rc = grafana__sa_ensure(c, *org, tenant, false, sa, &created, err);
        *no_sa = rc == VG_ENOTFOUND;
    }
    return rc;
}

int grafana_token_list(grafana_client_t *c, const char *tenant, char **out, grafana_err_t *err) {
    *out = NULL;
    int64_t org, sa;
    bool no_sa;
    int rc = tenant_sa(c, tenant, &org, &sa, &no_sa, err);
    if (no_sa) { /* no account yet: no tokens */
        grafana__err_clear(err);
        *out = strdup("[]");
        return *out ? 0 : grafana__err_set(err, VG_ENOMEM, "grafana: out of memory");
    }
    if (rc) return rc;
    grafana__resp_t rs;
    if ((rc = list_tokens(c, org, sa, &rs, err))) {
        grafana__resp_deinit(&rs);
        return rc;
    }
    json_t *arr = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(rs.json, i, t) {
        json_t *exp = json_object_get(t, "expiration"), *used = json_object_get(t, "lastUsedAt");
        json_array_append_new(arr, json_pack("{s:I, s:s?, s:s?, s:O, s:O, s:b}", "id", (json_int_t)grafana__jint(t, "id"),
                                             "name", grafana__jstr(t, "name"), "created", grafana__jstr(t, "created"),
                                             "expires", json_is_string(exp) ? exp : json_null(), "last_used",
                                             json_is_string(used) ? used : json_null(), "expired",
                                             json_is_true(json_object_get(t, "hasExpired"))));
    }
    grafana__resp_deinit(&rs);
    rc = grafana__dump(arr, out);
    json_decref(arr);
    if (rc) grafana__err_set(err, rc, "grafana: out of memory");
    return rc;
}

int grafana_token_revoke(grafana_client_t *c, const char *tenant, int64_t token_id, grafana_err_t *err) {
    if (token_id <= 0) return grafana__err_set(err, VG_EINVAL, "grafana: invalid token id");
    int64_t org, sa;
    bool no_sa;
    int rc = tenant_sa(c, tenant, &org, &sa, &no_sa, err);
    if (!rc) rc = delete_token(c, org, sa, token_id, err);
    if (!rc) vg_log_info(LOGGER, "revoked service-account token", VG_LS("tenant", tenant), VG_LI("token_id", token_id));
    return rc;
}
