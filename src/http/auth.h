/* Authentication and tenant scoping of HTTP requests (http-internal): one auth state per config
 * generation (the JWT verifier, the tenant matcher rules, the rate limiter), and the identity every
 * request that needs one carries.
 *
 * Rules (docs/tenancy.md): a token comes from exactly one `Authorization: Bearer` header; a request with
 * a token that fails verification is 401 even when anonymous access is on; without a token it is served
 * unscoped only when `auth.anonymous` allows it. An admin token, or an anonymous request, is unscoped;
 * any other identity is scoped to its tenant's enforced matcher on every read and write. */
#ifndef VG_HTTP_AUTH_H
#define VG_HTTP_AUTH_H

#include "http.h"
#include "promql/promql.h"
#include "tenancy/tenancy.h"

typedef struct http_auth http_auth_t;

/* Builds the auth state of a config (reads key files). Returns 0 and *out (one reference), or an
 * error naming the key entry. */
int http_auth_build(config_t *cfg, http_auth_t **out, vg_error_t *err);
http_auth_t *http_auth_ref(http_auth_t *a);
void http_auth_unref(http_auth_t *a);

/* Who a request speaks for. */
typedef struct http_identity {
    bool anonymous; /* no token, allowed by auth.anonymous */
    bool admin;     /* admin claim */
    bool scoped;    /* a tenant: every read and write is limited to its matcher */
    char tenant[TENANCY_TENANT_MAX + 1];
    char subject[TENANCY_SUBJECT_MAX + 1];
    tenancy_matcher_t matcher;           /* when scoped */
    promql_enforced_label_t enforced;    /* the same, for the PromQL enforcer */
} http_identity_t;

/* Authenticates req for a route with `flags`; fills req->ident. Returns 0, or VG_EAUTH (401),
 * VG_EFORBIDDEN (403), VG_ERATELIMIT (429, with retry_after_s set) with req->err set. */
int http_auth_check(http_app_t *app, http_req_t *req, unsigned flags, const char *klass, int *retry_after_s);
void http_identity_deinit(http_identity_t *id);

#endif
