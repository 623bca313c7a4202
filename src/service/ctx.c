/* The per-request tenant context: built once from the auth state the caller was verified with, so its
 * identity, config snapshot, limits and matcher all come from one config generation. */
#include "service_int.h"

#include "util/timeutil.h"

#include <string.h>

int service_authenticate(service_t *s, const service_credentials_t *cred, service_ctx_t *ctx, vg_error_t *err) {
    memset(ctx, 0, sizeof *ctx);
    ctx->svc = s;
    service__auth_t *a = service__auth(s);
    int rc = service__auth_identify(a, s->keys, cred, ctx, err);
    if (!rc) {
        ctx->cfg = config_ref(service__auth_config(a));
        config_tenant_limits(ctx->cfg, ctx->scoped ? ctx->tenant : NULL, &ctx->limits);
    }
    service__auth_unref(a);
    if (rc) service_ctx_deinit(ctx);
    return rc;
}

int service_ctx_internal(service_t *s, service_ctx_t *ctx) {
    memset(ctx, 0, sizeof *ctx);
    ctx->svc = s;
    ctx->anonymous = true;
    ctx->cfg = service_config(s);
    config_tenant_limits(ctx->cfg, NULL, &ctx->limits);
    return 0;
}

int service_ctx_tenant(service_t *s, const char *tenant, service_ctx_t *ctx, vg_error_t *err) {
    return service__ctx_tenant(s, tenant, ctx, err);
}

void service_ctx_deinit(service_ctx_t *ctx) {
    if (!ctx) return;
    if (ctx->scoped) tenancy_matcher_deinit(&ctx->matcher);
    ctx->scoped = false;
    config_unref(ctx->cfg);
    ctx->cfg = NULL;
}

int service_ctx_rate(service_ctx_t *ctx, const char *klass, int *retry_after_s, vg_error_t *err) {
    *retry_after_s = 0;
    const config_limits_t *lim = &ctx->limits;
    if (!(lim->request_rate > 0)) return 0;
    uint64_t burst = lim->request_burst > 0 ? (uint64_t)lim->request_burst : (uint64_t)(lim->request_rate + 1);
    int64_t wait = tenancy_limiter_take(service_limiter(ctx->svc), ctx->scoped ? ctx->tenant : "-", klass,
                                        lim->request_rate, burst, vg_mono_ns(), 1);
    if (wait <= 0) return 0;
    *retry_after_s = (int)((wait + 999) / 1000);
    return vg_error_set(err, VG_ERATELIMIT, "rate limit exceeded for %s requests: retry in %d s", klass, *retry_after_s);
}

int service_ctx_matcher(const service_ctx_t *ctx, model_matcher_t **out, vg_error_t *err) {
    return model_matcher_new_set(ctx->matcher.label, (const char *const *)ctx->matcher.values, ctx->matcher.n_values, out,
                                 err);
}
