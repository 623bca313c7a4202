/* service-internal: the state behind service_t.priv and the auth state of one config generation. */
#ifndef VG_SERVICE_INT_H
#define VG_SERVICE_INT_H

#include "service/service.h"
#include "selfmon/selfmon.h"

#include <pthread.h>

/* The auth state of one config generation: the JWT verifier, the tenant matcher rules and a cache of
 * verified tokens. Built on load and reload; requests hold a reference while they authenticate. */
typedef struct service__auth service__auth_t;
int service__auth_build(config_t *cfg, service__auth_t **out, vg_error_t *err);
service__auth_t *service__auth_ref(service__auth_t *a);
void service__auth_unref(service__auth_t *a);
/* Verifies a caller's credential (cred->authorization: "Bearer <JWT or vigil API key>"; none:
 * anonymous when the config allows it) and fills ctx's identity and, for a tenant, its matcher.
 * Returns 0 or VG_EAUTH / VG_ENOMEM with err set. */
int service__auth_identify(service__auth_t *a, tenancy_keystore_t *keys, const service_credentials_t *cred,
                           service_ctx_t *ctx, vg_error_t *err);
/* The config the auth state was built from (borrowed: lives as long as a). */
config_t *service__auth_config(service__auth_t *a);

typedef struct service__priv {
    pthread_mutex_t cfg_mu;    /* guards the pointer loads + refs of the config and auth state */
    service__auth_t *auth;     /* the auth state of the current config */
    tenancy_usage_t *usage;    /* per tenant: running queries, counts, rates, series count */
    tenancy_limiter_t *limiter;
    pthread_mutex_t reload_mu; /* one reload at a time */
    selfmon_metric_t *reload_ok, *reload_ts;
} service__priv_t;

/* The current auth state (a reference). */
service__auth_t *service__auth(service_t *s);

/* "Active": a sample within limits.active_series_window (default 1h), or created and awaiting its
 * first; the count is measured at most once a second (series created meanwhile are added to it). */
#define SERVICE__ACTIVE_MAX_AGE_MS 1000

/* Measures (or reads, when fresh) ctx's tenant's active series count; with max_age_ms 0 it always
 * measures. */
uint64_t service__active_series(service_ctx_t *ctx, int64_t max_age_ms);

#endif
