/* The auth state of one config generation (JWT verifier, tenant matcher rules, verified-token cache)
 * and the verification of a caller's credential against it.
 *
 * Rules (docs/tenancy.md): a token comes from exactly one `Authorization: Bearer` header; a request with
 * a token that fails verification is 401 even when anonymous access is on; without a token it is served
 * unscoped only when `auth.anonymous` allows it. With authentication off (anonymous allowed and no JWT
 * key), credentials are ignored as Prometheus ignores them — a scraper's or proxy's `basic_auth` or bearer
 * token is served as anonymous — except a vigil API key, which still scopes to its tenant (a tenant's
 * Grafana datasource stays a tenant). An admin token, or an anonymous request, is unscoped;
 * any other identity (a JWT tenant, a vigil API key) is scoped to its tenant's matcher on every read and
 * write. */
#include "service_int.h"

#include "util/log.h"
#include "util/timeutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <xxhash.h>

/* Verified tokens, so a dashboard's burst of queries pays for one signature check: slot = hash of the
 * token; a hit needs the whole token to be equal and `exp` still ahead. One per auth state, so a reload
 * (new keys, new claims rules) starts empty. */
#define TOKEN_CACHE_SLOTS 512
typedef struct {
    char *token; /* owned */
    size_t len;
    tenancy_identity_t id;
} cached_t;

struct service__auth {
    _Atomic int refs;
    config_t *cfg; /* ref: every string below is borrowed from it */
    tenancy_verifier_t *verifier;
    pthread_mutex_t cache_mu;
    cached_t cache[TOKEN_CACHE_SLOTS];
    tenancy_enforce_config_t enforce;
    tenancy_tenant_override_t *overrides;
};

service__auth_t *service__auth_ref(service__auth_t *a) {
    if (a) atomic_fetch_add(&a->refs, 1);
    return a;
}

void service__auth_unref(service__auth_t *a) {
    if (!a || atomic_fetch_sub(&a->refs, 1) != 1) return;
    for (size_t i = 0; i < TOKEN_CACHE_SLOTS; i++) {
        if (a->cache[i].token) explicit_bzero(a->cache[i].token, a->cache[i].len);
        free(a->cache[i].token);
    }
    pthread_mutex_destroy(&a->cache_mu);
    tenancy_verifier_free(a->verifier);
    free(a->overrides);
    config_unref(a->cfg);
    free(a);
}

int service__auth_build(config_t *cfg, service__auth_t **out, vg_error_t *err) {
    *out = NULL;
    service__auth_t *a = calloc(1, sizeof *a);
    if (!a) return vg_error_set(err, VG_ENOMEM, "out of memory");
    atomic_init(&a->refs, 1);
    pthread_mutex_init(&a->cache_mu, NULL);
    a->cfg = config_ref(cfg);
    int rc = 0;
    size_t nk = cfg->auth.jwt.keys.n;
    if (nk) {
        tenancy_key_config_t *keys = calloc(nk, sizeof *keys);
        if (!keys) {
            service__auth_unref(a);
            return vg_error_set(err, VG_ENOMEM, "out of memory");
        }
        for (size_t i = 0; !rc && i < nk; i++) {
            const config_jwt_key_t *k = &cfg->auth.jwt.keys.v[i];
            keys[i].kid = k->kid;
            keys[i].public_key_file = k->public_key_file;
            keys[i].secret_file = k->secret_file;
            keys[i].secret = k->secret;
            keys[i].secret_len = k->secret ? strlen(k->secret) : 0;
            keys[i].jwks_file = k->jwks_file;
            const char *const one[] = {k->alg};
            const char *const *names = k->alg ? one : (const char *const *)k->algorithms.v;
            size_t n = k->alg ? 1 : k->algorithms.n;
            for (size_t j = 0; j < n; j++) {
                unsigned bit = tenancy_alg_parse(names[j], strlen(names[j]));
                if (!bit) {
                    rc = vg_error_set(err, VG_ECONFIG, "auth.jwt.keys[%zu]: unsupported algorithm \"%s\" (HS256, RS256, ES256)", i, names[j]);
                    err->line = k->line, err->col = k->col;
                    break;
                }
                keys[i].algorithms |= bit;
            }
        }
        if (!rc) {
            tenancy_auth_config_t ac;
            tenancy_auth_config_init(&ac);
            ac.keys = keys;
            ac.n_keys = nk;
            ac.leeway_ms = cfg->auth.jwt.leeway_ms;
            ac.max_token_len = (size_t)cfg->auth.jwt.max_token_size;
            ac.issuer = cfg->auth.jwt.issuer;
            ac.audience = cfg->auth.jwt.audience;
            ac.tenant_claim = cfg->auth.jwt.tenant_claim;
            ac.admin_claim = cfg->auth.jwt.admin_claim.name;
            ac.admin_value = cfg->auth.jwt.admin_claim.value;
            rc = tenancy_verifier_new(&ac, &a->verifier, err);
        }
        free(keys);
    }
    if (!rc) {
        if (cfg->tenants.enforce.n) {
            a->enforce.label = cfg->tenants.enforce.keys[0];
            a->enforce.value_template = cfg->tenants.enforce.values[0];
        }
        size_t no = cfg->tenants.overrides.n;
        if (no && !(a->overrides = calloc(no, sizeof *a->overrides))) rc = vg_error_set(err, VG_ENOMEM, "out of memory");
        size_t k = 0;
        for (size_t i = 0; !rc && i < no; i++) {
            const config_tenant_override_t *o = &cfg->tenants.overrides.v[i];
            if (!o->enforce.n) continue; /* an override of limits only */
            a->overrides[k++] = (tenancy_tenant_override_t){o->tenant, o->enforce.keys[0],
                                                            (const char *const *)o->enforce.values, o->enforce.n};
        }
        a->enforce.overrides = a->overrides;
        a->enforce.n_overrides = k;
        if (!rc) rc = tenancy_enforce_config_check(&a->enforce, err);
    }
    if (rc) {
        service__auth_unref(a);
        return rc;
    }
    *out = a;
    return 0;
}

/* tenancy_verify with the cache in front (see TOKEN_CACHE_SLOTS). */
static int verify_cached(service__auth_t *a, const char *tok, size_t len, tenancy_identity_t *out, vg_error_t *err) {
    int64_t now = vg_now_ms();
    cached_t *c = &a->cache[XXH64(tok, len, 0) % TOKEN_CACHE_SLOTS];
    pthread_mutex_lock(&a->cache_mu);
    bool hit = c->token && c->len == len && !memcmp(c->token, tok, len) && now < c->id.expires_ms;
    if (hit) *out = c->id;
    pthread_mutex_unlock(&a->cache_mu);
    if (hit) return 0;
    int rc = tenancy_verify(a->verifier, tok, len, now, out, err);
    if (rc) return rc;
    char *copy = malloc(len);
    if (!copy) return 0;
    memcpy(copy, tok, len);
    pthread_mutex_lock(&a->cache_mu);
    if (c->token) explicit_bzero(c->token, c->len);
    free(c->token);
    c->token = copy;
    c->len = len;
    c->id = *out;
    pthread_mutex_unlock(&a->cache_mu);
    return 0;
}

/* Scopes ctx to a tenant: its one matcher from the auth state's rules. */
static int scope(service__auth_t *a, service_ctx_t *ctx, vg_error_t *err) {
    int rc = tenancy_matcher_build(&a->enforce, ctx->tenant, strlen(ctx->tenant), &ctx->matcher, err);
    if (!rc) ctx->scoped = true;
    return rc;
}

int service__auth_scope(service__auth_t *a, service_ctx_t *ctx, vg_error_t *err) { return scope(a, ctx, err); }

int service__auth_identify(service__auth_t *a, tenancy_keystore_t *keys, const service_credentials_t *cred,
                           service_ctx_t *ctx, vg_error_t *err) {
    const char *authz = cred ? cred->authorization : NULL;
    int n = cred ? cred->n_authorization : 0;
    bool off = config_anonymous(a->cfg) && !a->verifier;
    bool bearer = n == 1 && authz && !strncasecmp(authz, "Bearer ", 7) && authz[7];
    const char *tok = bearer ? authz + 7 : NULL;
    bool apikey = bearer && keys && tenancy_apikey_like(tok, strlen(tok));
    if (n == 0 || (off && !apikey)) {
        if (!config_anonymous(a->cfg)) return vg_error_set(err, VG_EAUTH, "authentication required: send Authorization: Bearer <token>");
        ctx->anonymous = true;
        return 0;
    }
    if (n > 1) return vg_error_set(err, VG_EAUTH, "more than one Authorization header");
    if (!bearer) return vg_error_set(err, VG_EAUTH, "expected an Authorization: Bearer <token> header");
    if (apikey) {
        /* a vigil API key (e.g. a Grafana datasource's): always a tenant, never admin */
        int rc = tenancy_keystore_verify(keys, tok, strlen(tok), ctx->tenant, err);
        return rc ? rc : service__auth_scope(a, ctx, err);
    }
    if (!a->verifier) return vg_error_set(err, VG_EAUTH, "token authentication is not configured (auth.jwt.keys)");
    tenancy_identity_t ti;
    int rc = verify_cached(a, tok, strlen(tok), &ti, err);
    if (rc) return rc;
    ctx->admin = ti.admin;
    snprintf(ctx->tenant, sizeof ctx->tenant, "%s", ti.tenant);
    snprintf(ctx->subject, sizeof ctx->subject, "%s", ti.subject);
    return ti.admin ? 0 : service__auth_scope(a, ctx, err);
}

config_t *service__auth_config(service__auth_t *a) { return a->cfg; }
