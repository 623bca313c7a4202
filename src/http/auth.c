/* Request authentication: the Authorization headers → service_authenticate → route flags → rate. */
#include "auth.h"

#include <microhttpd.h>
#include <strings.h>

static enum MHD_Result count_authz(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    (void)kind;
    service_credentials_t *c = cls;
    if (!strcasecmp(key, "Authorization")) {
        c->n_authorization++;
        c->authorization = value;
    }
    return MHD_YES;
}

int http_auth_check(service_t *app, http_req_t *req, unsigned flags, const char *klass, int *retry_after_s) {
    *retry_after_s = 0;
    service_credentials_t cred = {0, NULL};
    if (req->conn) MHD_get_connection_values(req->conn, MHD_HEADER_KIND, count_authz, &cred);
    service_ctx_t *ctx = req->ctx;
    int rc = service_authenticate(app, &cred, ctx, &req->err);
    if (rc) return rc;
    if ((flags & HTTP_F_ADMIN) && !(ctx->admin || ctx->anonymous))
        rc = vg_error_set(&req->err, VG_EFORBIDDEN, "this endpoint needs the admin role");
    else if (ctx->scoped && !(flags & HTTP_F_TENANT))
        rc = vg_error_set(&req->err, VG_EFORBIDDEN, "this endpoint is not available to tenants");
    else rc = service_ctx_rate(ctx, klass, retry_after_s, &req->err);
    if (rc) service_ctx_deinit(ctx);
    return rc;
}
