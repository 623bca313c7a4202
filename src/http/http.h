/* http: vigil's HTTP server on libmicrohttpd (internal epoll thread pool), its static route table and
 * the request/response helpers every handler uses.
 *
 * A request is read whole (headers, then the body up to server.max_body) before its handler runs; a
 * handler fills a response or returns a VG_E* code with req->err set, and the server turns that code
 * into the Prometheus error shape {"status":"error","errorType":…,"error":…} with the status from
 * the error table — the one place that mapping happens. Every request gets a request id (X-Request-Id
 * honoured when sane, generated otherwise), echoed in the response and logged in the access line. */
#ifndef VG_HTTP_H
#define VG_HTTP_H

#include "config/config.h"
#include "service/service.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/json.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>


/* ---- requests and responses ---- */
enum { HTTP_GET = 1, HTTP_POST = 2, HTTP_PUT = 4, HTTP_DELETE = 8 };

/* Route flags, checked once by the server before a handler runs. */
enum {
    HTTP_F_AUTH = 1,  /* needs an authenticated caller (tenancy) */
    HTTP_F_ADMIN = 2, /* needs the admin role */
    HTTP_F_QUIET = 4, /* probes and /metrics: access-logged at debug level, not info */
    HTTP_F_TENANT = 8, /* tenant-aware: scoped identities may call it (others get 403) */
    HTTP_F_FORM = 16,  /* a POST body of application/x-www-form-urlencoded carries parameters (the Prometheus API);
                          elsewhere the body is the handler's, whatever its Content-Type */
};

#define HTTP_MAX_PATH_PARAMS 4

typedef struct http_param {
    const char *key, *value; /* arena */
    bool from_body;          /* a form-body parameter (else from the URL) */
} http_param_t;

typedef struct http_req {
    const char *method;  /* "GET", … */
    const char *path;    /* decoded path without the query string */
    const char *body;    /* NUL-terminated; len in body_len */
    size_t body_len;
    const char *request_id;
    http_param_t *params; /* URL query and, for form POSTs, body parameters, in order (arena) */
    size_t n_params;
    http_param_t path_params[HTTP_MAX_PATH_PARAMS];
    size_t n_path_params;
    service_t *app;
    service_ctx_t *ctx;          /* who asks, with the request's config snapshot and limits (set for
                                    HTTP_F_AUTH/ADMIN routes; see auth.h) */
    const char *audit_query;     /* the query as evaluated (after tenant enforcement), for the audit log */
    vg_arena_t *arena;   /* lives as long as the request */
    vg_error_t err;      /* set by a handler that returns <0 */
    void *conn;          /* private: the libmicrohttpd connection */
} http_req_t;

typedef struct http_resp {
    int status;               /* default 200 */
    const char *content_type; /* static or arena; default application/json */
    vg_buf_t body;            /* the handler writes here */
    const void *static_body;  /* instead of body: bytes that outlive the server (the embedded console) */
    size_t static_len;
    const char *headers[8][2];/* extra headers (static or arena strings) */
    size_t n_headers;
} http_resp_t;

typedef int (*http_handler_fn)(http_req_t *req, http_resp_t *resp);

typedef struct http_route {
    const char *pattern; /* "/api/v1/label/{name}/values": a {x} segment matches one non-empty segment; also
                            the `handler` label of the vigil_http_* metrics, as Prometheus labels by route */
    const char *klass;   /* endpoint class for rate limits: "query", "meta", "write", "admin", "probe" */
    unsigned methods;    /* HTTP_GET | … (GET implies HEAD) */
    unsigned flags;      /* HTTP_F_* */
    http_handler_fn fn;
} http_route_t;

/* First value of a query/form parameter, or NULL. */
const char *http_req_param(const http_req_t *req, const char *key);
/* How many times a parameter occurs. */
size_t http_req_param_count(const http_req_t *req, const char *key);
/* A {name} segment of the route pattern, or NULL. */
const char *http_req_path_param(const http_req_t *req, const char *name);
/* A request header (case-insensitive), or NULL. */
const char *http_req_header(const http_req_t *req, const char *name);

/* Adds a response header (name and value must outlive the response: static or req->arena). */
void http_resp_header(http_resp_t *resp, const char *name, const char *value);
/* Starts the Prometheus success shape on resp's body: `{"status":"success","data":` — the caller writes
 * the data value, then closes the outer object (vg_json_obj_close). */
void http_json_success(vg_json_t *j, http_resp_t *resp);
/* Convenience: a plain-text body with a status. */
void http_resp_text(http_resp_t *resp, int status, const char *text);
/* Writes the Prometheus error shape for code/msg with its status; used by the server, and by handlers
 * that answer an error while also setting headers (e.g. 429 with Retry-After). */
void http_resp_error(http_resp_t *resp, int code, const char *msg);

/* Matches a path against a pattern, filling req->path_params; returns true on a match. Exposed for
 * tests. */
bool http_route_match(const char *pattern, const char *path, http_req_t *req);

/* The route table of vigil (api_*.c handlers). */
extern const http_route_t http_routes[];
extern const size_t http_n_routes;

/* ---- the server ---- */
typedef struct http_server http_server_t;

/* Starts listening on cfg->server.listen (or app->listen_override) with the worker pool. */
int http_server_start(service_t *app, http_server_t **out, vg_error_t *err);
/* Graceful stop: stop accepting, let in-flight requests finish for up to timeout_ms, then close every
 * connection and free the server. Returns the number of requests still running at the deadline. */
int http_server_stop(http_server_t *s, int64_t timeout_ms);

#endif
