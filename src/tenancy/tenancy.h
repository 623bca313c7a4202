/* tenancy: who is asking (JWT verification on OpenSSL 3 libcrypto), which series they may see (the
 * enforced tenant matcher) and how often they may ask (token buckets). docs/tenancy.md has the config
 * shape and the threat model.
 *
 * Invariants:
 * - A token is accepted only if its signature verifies with a configured key, under an algorithm that
 *   key's allow-list names and that fits the key's type (HMAC ⇒ HS256, RSA ⇒ RS256, EC P-256 ⇒ ES256).
 *   The token's `alg` never chooses how a key is interpreted; it is only checked against the key.
 * - A verifier is immutable after tenancy_verifier_new(): tenancy_verify() may run on any number of
 *   threads at once. Reload builds a new verifier.
 * - Error messages never contain bytes of the token (not even its kid); they name a reason, a claim
 *   name from the config, or a byte offset.
 * - tenancy_identity_t.tenant always satisfies tenancy_tenant_id_valid() (or is "" for an admin token
 *   without a tenant claim), so it can be put into label values, logs and file names unescaped. */
#ifndef VG_TENANCY_TENANCY_H
#define VG_TENANCY_TENANCY_H

#include "util/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------------------------------------- */
/* JWT verification                                                                                */

#define TENANCY_TENANT_MAX 128          /* bytes of a tenant id */
#define TENANCY_SUBJECT_MAX 256         /* bytes of a `sub` claim */
#define TENANCY_KID_MAX 128             /* bytes of a key id */
#define TENANCY_KEYS_MAX 256            /* keys per verifier (after JWKS expansion) */
#define TENANCY_TOKEN_MAX_DEFAULT 8192  /* default token size limit, bytes */
#define TENANCY_TOKEN_MAX_LIMIT 65536   /* the largest max_token_len a config may set */
#define TENANCY_JSON_DEPTH_MAX 16       /* nesting of header/payload JSON (objects + arrays) */
#define TENANCY_LEEWAY_DEFAULT_MS 60000
#define TENANCY_HMAC_SECRET_MIN 32      /* bytes */
#define TENANCY_RSA_BITS_MIN 2048

/* The algorithms vigil verifies; a key's allow-list is a bit set of these. */
typedef enum tenancy_alg {
    TENANCY_ALG_HS256 = 1u << 0,
    TENANCY_ALG_RS256 = 1u << 1,
    TENANCY_ALG_ES256 = 1u << 2,
} tenancy_alg_t;

/* "HS256" / "RS256" / "ES256" (exact case) → its bit; 0 for anything else (including "none"). */
unsigned tenancy_alg_parse(const char *s, size_t len);
/* The name of one bit ("HS256"), or "?" . Static string. */
const char *tenancy_alg_name(unsigned alg);

/* One `auth.jwt.keys` entry. Exactly one source is set (NULL or "" is unset for names and paths;
 * `secret` and `jwks_json` are set when non-NULL). All pointers borrowed for the duration of
 * tenancy_verifier_new() (the verifier copies what it keeps). */
typedef struct tenancy_key_config {
    const char *kid;        /* A token with a kid is checked against the key with that kid only; a
                             * token without one against every key allowing its alg. NULL: the key
                             * serves tokens without a kid only. NULL with JWKS (each JWK has its own). */
    unsigned algorithms;    /* TENANCY_ALG_* bits; required (no default): the explicit allow-list. For
                             * a JWKS it applies to every key in it, intersected with the JWK's `alg`. */
    const char *public_key_file; /* PEM file: PUBLIC KEY (RSA ≥ 2048 bits, EC P-256) or CERTIFICATE */
    const char *public_key_pem;  /* the same, inline (NUL-terminated) */
    const char *secret_file;     /* HMAC secret: the file's bytes minus one trailing "\n" or "\r\n" */
    const char *secret;          /* inline HMAC secret, secret_len bytes (≥ 32) */
    size_t secret_len;
    const char *jwks_file;       /* JWKS file {"keys":[…]}; kty RSA / EC (P-256) / oct */
    const char *jwks_json;       /* the same, inline, jwks_len bytes */
    size_t jwks_len;
} tenancy_key_config_t;

/* `auth.jwt`. A zeroed struct is valid apart from keys and means: no leeway, default token limit,
 * tenant claim "org_id", no issuer/audience check, no admin. tenancy_auth_config_init() gives the
 * documented defaults (leeway 60 s). Pointers borrowed for tenancy_verifier_new(). */
typedef struct tenancy_auth_config {
    const tenancy_key_config_t *keys;
    size_t n_keys;
    int64_t leeway_ms;          /* clock skew tolerated on exp/nbf/iat, 0 … 1 h */
    size_t max_token_len;       /* 0 = TENANCY_TOKEN_MAX_DEFAULT; at most TENANCY_TOKEN_MAX_LIMIT */
    const char *issuer;         /* NULL/"" = not checked; else `iss` must equal it */
    const char *audience;       /* NULL/"" = not checked; else `aud` (string or array) must contain it */
    const char *tenant_claim;   /* NULL/"" = "org_id"; a top-level string claim */
    const char *admin_claim;    /* NULL/"" = no token is admin; a top-level claim name */
    const char *admin_value;    /* NULL/"": admin iff the claim is JSON true; else iff the claim is
                                 * this string or an array containing it (e.g. role: admin) */
} tenancy_auth_config_t;

void tenancy_auth_config_init(tenancy_auth_config_t *cfg);

typedef struct tenancy_verifier tenancy_verifier_t;

/* Loads every key (files read now), checks the config. Returns 0 and *out (caller frees with
 * tenancy_verifier_free()), or VG_ECONFIG / VG_EIO / VG_ENOMEM with a message naming the key entry
 * (keys[i], kid) and *out = NULL. Secret material is zeroed when no longer needed. */
int tenancy_verifier_new(const tenancy_auth_config_t *cfg, tenancy_verifier_t **out, vg_error_t *err);
/* Zeroes the secrets and frees. NULL is a no-op. */
void tenancy_verifier_free(tenancy_verifier_t *v);
/* Number of keys after JWKS expansion (for startup logs). */
size_t tenancy_verifier_key_count(const tenancy_verifier_t *v);

/* Who a verified token speaks for. Plain data, no pointers. */
typedef struct tenancy_identity {
    char tenant[TENANCY_TENANT_MAX + 1];   /* tenancy_tenant_id_valid(); "" only when admin */
    char subject[TENANCY_SUBJECT_MAX + 1]; /* `sub`, "" when absent; no control characters */
    char kid[TENANCY_KID_MAX + 1];         /* the configured kid of the key that verified, or "" */
    bool admin;
    int64_t expires_ms;                    /* `exp` in Unix ms */
} tenancy_identity_t;

/* Verifies a compact JWS token (without "Bearer ") at wall time now_ms. Returns 0 and fills *out, or
 * VG_EAUTH with the reason in err (out zeroed): "token too large", "malformed token at byte N: …",
 * "algorithm none is not allowed", "algorithm not allowed for key", "unknown kid", "signature
 * invalid", "token expired", "token not yet valid", "token issued in the future", "missing exp",
 * "issuer mismatch", "audience mismatch", "tenant claim org_id missing" … ; VG_ENOMEM on allocation
 * failure; VG_EINVAL for NULL arguments. Thread-safe. */
int tenancy_verify(const tenancy_verifier_t *v, const char *token, size_t len, int64_t now_ms,
                   tenancy_identity_t *out, vg_error_t *err);

/* True if s[0..len) is a safe tenant id: 1..TENANCY_TENANT_MAX bytes of [A-Za-z0-9._@:-], starting
 * with a letter or digit. Safe unescaped in label values, regexes after quoting, logs and paths. */
bool tenancy_tenant_id_valid(const char *s, size_t len);

/* ---------------------------------------------------------------------------------------------- */
/* Tenant matchers: the (label, values) the PromQL enforcer injects into every selector. One value
 * becomes label="v"; several become label=~"v1|v2" (the enforcer quotes them).                    */

#define TENANCY_MATCHER_VALUES_MAX 64

typedef struct tenancy_tenant_override {
    const char *tenant;              /* borrowed */
    const char *label;               /* NULL = the default label */
    const char *const *values;       /* borrowed; 1..TENANCY_MATCHER_VALUES_MAX literal values */
    size_t n_values;
} tenancy_tenant_override_t;

/* `tenants.enforce` + `tenants.overrides`. A zeroed struct means namespace="client-{org_id}". */
typedef struct tenancy_enforce_config {
    const char *label;               /* NULL = "namespace" */
    const char *value_template;      /* NULL = "client-{org_id}"; {org_id} and {tenant} are the id */
    const tenancy_tenant_override_t *overrides;
    size_t n_overrides;
} tenancy_enforce_config_t;

typedef struct tenancy_matcher {
    char *label;     /* owned */
    char **values;   /* owned, n_values NUL-terminated strings, non-empty, valid UTF-8 */
    size_t n_values;
} tenancy_matcher_t;

/* Checks a config once (at load): label names valid and not reserved, template placeholders known,
 * overrides' tenants valid and unique, values non-empty UTF-8. Returns 0 or VG_ECONFIG. */
int tenancy_enforce_config_check(const tenancy_enforce_config_t *cfg, vg_error_t *err);
/* The matcher of one tenant: its override if any, else the template with the id substituted.
 * Returns 0 and *out (free with tenancy_matcher_deinit()), VG_EFORBIDDEN for an invalid tenant id,
 * VG_ECONFIG for a bad config, VG_ENOMEM. */
int tenancy_matcher_build(const tenancy_enforce_config_t *cfg, const char *tenant, size_t tenant_len,
                          tenancy_matcher_t *out, vg_error_t *err);
void tenancy_matcher_deinit(tenancy_matcher_t *m);

/* ---------------------------------------------------------------------------------------------- */
/* Token buckets. A bucket is one atomic word (GCRA: the "theoretical arrival time"), so takes are
 * lock-free. Equivalent to a bucket of `burst` tokens refilled at `rate` per second, starting full. */

typedef struct tenancy_bucket {
    _Atomic uint64_t tat;  /* ns: the time at which the bucket is full again */
    uint64_t interval_ns;  /* ns per token; 0 = unlimited */
    uint64_t tolerance_ns; /* burst * interval_ns (saturated) */
    uint64_t burst;
} tenancy_bucket_t;

/* rate tokens/s (≤ 0 or not finite: unlimited), burst ≥ 1 (0 is taken as 1). Starts full. */
void tenancy_bucket_init(tenancy_bucket_t *b, double rate, uint64_t burst);
/* Takes n tokens at monotonic time now_ns (vg_mono_ns()). Returns 0 when taken; >0 the ms until n
 * tokens will be there (nothing taken; for Retry-After round up to seconds); VG_ELIMIT when n can never
 * be taken (n > burst). n = 0 always succeeds. */
int64_t tenancy_bucket_take(tenancy_bucket_t *b, uint64_t now_ns, uint64_t n);

/* A bounded table of buckets keyed by (tenant, endpoint class), under one small mutex. Buckets are
 * created on first use with the rate/burst given at that call; a later call with other values (a
 * reload) re-parameterises the bucket, keeping the number of tokens it is missing. When the table is full, idle (full)
 * buckets are dropped — losslessly, a full bucket is what a new one is — then the fullest one. */
typedef struct tenancy_limiter tenancy_limiter_t;

/* capacity ≥ 1 entries. Returns 0 and *out (free with tenancy_limiter_free()) or VG_ENOMEM. */
int tenancy_limiter_new(size_t capacity, tenancy_limiter_t **out);
void tenancy_limiter_free(tenancy_limiter_t *l);
/* tenancy_bucket_take() on the bucket of (tenant, klass); VG_ENOMEM if it could not be created. */
int64_t tenancy_limiter_take(tenancy_limiter_t *l, const char *tenant, const char *klass, double rate,
                             uint64_t burst, uint64_t now_ns, uint64_t n);
/* Drops idle buckets (for the housekeeping timer); returns how many. */
size_t tenancy_limiter_sweep(tenancy_limiter_t *l, uint64_t now_ns);
size_t tenancy_limiter_size(tenancy_limiter_t *l);

/* Sliding-window limits (window.c): at most `max` events per (tenant, class) in any window; a table of
 * the keys with events inside their window (idle ones are dropped), at most `capacity` of them, under
 * one mutex. For rare, costly requests (Grafana tokens); the token buckets above serve the rest. */
typedef struct tenancy_window tenancy_window_t;

/* capacity ≥ 1 keys. Returns 0 and *out (free with tenancy_window_free()) or VG_ENOMEM. */
int tenancy_window_new(size_t capacity, tenancy_window_t **out);
void tenancy_window_free(tenancy_window_t *w);
/* Records one event of (tenant, klass) at monotonic time now_ns (vg_mono_ns()) when fewer than max lie
 * in the last window_ms: returns 0. Otherwise records nothing and returns the ms (≥ 1) until enough of
 * the oldest leave the window (for Retry-After round up to seconds); also window_ms when the table is
 * full of busy keys. VG_EINVAL for max 0 or window_ms ≤ 0, VG_ENOMEM. */
int64_t tenancy_window_take(tenancy_window_t *w, const char *tenant, const char *klass, uint64_t max, int64_t window_ms,
                            uint64_t now_ns);
/* Keys tracked (idle ones leave at the next take). */
size_t tenancy_window_size(tenancy_window_t *w);

/* ---------------------------------------------------------------------------------------------- */
/* Usage per tenant (usage.c): the concurrent-query gate, counts since start and rates over the last
 * minute, series refused by the series limit, and a cache of the tenant's active-series count. A
 * bounded table (idle entries make room for new tenants); thread-safe. Times are wall-clock ms. */

typedef struct tenancy_usage tenancy_usage_t;

typedef struct tenancy_usage_stats {
    int64_t queries_running;
    uint64_t queries_total, samples_total, series_refused_total; /* since vigil started */
    double query_rate, ingestion_rate; /* queries/s and accepted samples/s over the last minute */
} tenancy_usage_stats_t;

int tenancy_usage_new(size_t capacity, tenancy_usage_t **out);
void tenancy_usage_free(tenancy_usage_t *u);
/* A query starts: VG_ERATELIMIT (nothing counted) when max_running > 0 queries already run. */
int tenancy_usage_query_begin(tenancy_usage_t *u, const char *tenant, int64_t max_running, int64_t now_ms, vg_error_t *err);
void tenancy_usage_query_end(tenancy_usage_t *u, const char *tenant);
void tenancy_usage_ingested(tenancy_usage_t *u, const char *tenant, uint64_t samples, uint64_t series_refused,
                            int64_t now_ms);
/* Zeros for a tenant never seen. */
void tenancy_usage_get(tenancy_usage_t *u, const char *tenant, int64_t now_ms, tenancy_usage_stats_t *out);
/* The active-series count and the series budget (see usage.c for the protocol):
 * begin: 0 when the count was measured at most max_age_ms ago; 1 when the caller must measure now and
 * report with tenancy_usage_series_measured(token) (other callers wait meanwhile); -1 when the tenant
 * cannot be tracked (table full of busy entries). */
int tenancy_usage_series_begin(tenancy_usage_t *u, const char *tenant, int64_t now_ms, int64_t max_age_ms,
                               uint64_t *token);
void tenancy_usage_series_measured(tenancy_usage_t *u, const char *tenant, uint64_t token, int64_t at_ms, uint64_t count);
/* Reserves one new series: false (nothing counted) when the count is at max (> 0). *count receives the
 * count after the call. An untracked tenant is always allowed. */
bool tenancy_usage_series_reserve(tenancy_usage_t *u, const char *tenant, int64_t max, uint64_t *count);
/* The current count (0 for a tenant never measured). */
uint64_t tenancy_usage_series_count(tenancy_usage_t *u, const char *tenant);

/* ---------------------------------------------------------------------------------------------- */
/* API keys: revocable bearer credentials of one tenant minted by vigil (the datasource credential of a
 * tenant's Grafana organisation, and the keys a tenant creates for itself). "vgk_" + 43 base64url
 * characters; only SHA-256 digests are kept, in memory and in a JSON file replaced atomically on every
 * change. Thread-safe. */

#define TENANCY_APIKEY_LEN 47      /* characters of a key */
#define TENANCY_APIKEY_NAME_MAX 64 /* bytes of a key's name */
#define TENANCY_APIKEY_DATASOURCE "grafana-datasource" /* the name of a Grafana datasource's key */

/* What may be told about a key: never the key nor its digest. */
typedef struct tenancy_apikey_info {
    uint64_t id;
    char name[TENANCY_APIKEY_NAME_MAX + 1];
    int64_t created_ms; /* Unix ms */
} tenancy_apikey_info_t;

typedef struct tenancy_keystore tenancy_keystore_t;

/* Opens the store kept in `path` (a missing file is an empty store). VG_ECORRUPT for a bad file. */
int tenancy_keystore_open(const char *path, tenancy_keystore_t **out, vg_error_t *err);
void tenancy_keystore_free(tenancy_keystore_t *ks);
/* Mints a key for tenant, persists its digest, and writes the key (TENANCY_APIKEY_LEN characters + NUL)
 * into key_out (the only time it exists in clear: never log it). */
int tenancy_keystore_create(tenancy_keystore_t *ks, const char *tenant, const char *name, char *key_out, uint64_t *id_out,
                            vg_error_t *err);
/* tenancy_keystore_create, refused with VG_ELIMIT (nothing minted) when tenant already has max (> 0)
 * keys not named `uncounted` (NULL: every key counts); the count and the new key share one lock. */
int tenancy_keystore_create_capped(tenancy_keystore_t *ks, const char *tenant, const char *name, size_t max,
                                   const char *uncounted, char *key_out, uint64_t *id_out, vg_error_t *err);
/* Whether a bearer token has the shape of an API key (not whether it is valid). */
bool tenancy_apikey_like(const char *token, size_t len);
/* 0 and the key's tenant in tenant_out (TENANCY_TENANT_MAX + 1 bytes), or VG_EAUTH. */
int tenancy_keystore_verify(tenancy_keystore_t *ks, const char *token, size_t len, char *tenant_out, vg_error_t *err);
/* Revokes tenant's keys named `name` (NULL: any name) except keep_id (0: none); *n_revoked counts them. */
int tenancy_keystore_revoke(tenancy_keystore_t *ks, const char *tenant, const char *name, uint64_t keep_id, size_t *n_revoked,
                            vg_error_t *err);
/* How many valid keys tenant has under `name` (NULL: any name). */
size_t tenancy_keystore_count(tenancy_keystore_t *ks, const char *tenant, const char *name);
/* tenant's keys, oldest first: *out (owned; free with free(); NULL when there are none) and *n_out.
 * VG_ENOMEM. */
int tenancy_keystore_list(tenancy_keystore_t *ks, const char *tenant, tenancy_apikey_info_t **out, size_t *n_out);
/* 0 and what may be told of tenant's key id in *out, or VG_ENOTFOUND (unknown, or another tenant's). */
int tenancy_keystore_get(tenancy_keystore_t *ks, const char *tenant, uint64_t id, tenancy_apikey_info_t *out);
/* Revokes one key by id (an unknown id is not an error). */
int tenancy_keystore_revoke_id(tenancy_keystore_t *ks, uint64_t id, vg_error_t *err);

#endif
