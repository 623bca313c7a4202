/* Authentication of HTTP requests (http-internal): the Authorization headers of a request go to
 * service_authenticate(), which builds the request's tenant context; the route's flags and the request
 * rate limit are then checked here, once, before any handler runs. The rules are in service/auth.c. */
#ifndef VG_HTTP_AUTH_H
#define VG_HTTP_AUTH_H

#include "http.h"

/* Authenticates req for a route with `flags`; fills req->ctx. Returns 0, or VG_EAUTH (401),
 * VG_EFORBIDDEN (403), VG_ERATELIMIT (429, with retry_after_s set) with req->err set; on error the
 * context is released. */
int http_auth_check(service_t *app, http_req_t *req, unsigned flags, const char *klass, int *retry_after_s);

#endif
