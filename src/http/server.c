/* The HTTP server: libmicrohttpd in internal-epoll thread-pool mode, one request context per request.
 *
 * Request state machine (libmicrohttpd calls access_cb repeatedly):
 *   1st call (headers read)   → create ctx, resolve route (404/405 answered at once), refuse an
 *                               announced Content-Length over max_body with 413 before reading it;
 *   calls with upload data    → append to ctx->body up to max_body; past it, drop and mark too_large;
 *   last call (no more data)  → 413 if too_large, else parse form parameters (HTTP_F_FORM routes only) and run the handler;
 *   completed_cb              → metrics, access log line, free ctx, in-flight - 1.
 * Hostile clients: conn_guard.c refuses a connection whose first bytes cannot start a request (400) and
 * closes one whose request head is not complete within server.header_timeout; libmicrohttpd caps the
 * connections of one client address (server.max_connections_per_ip) and in all (server.max_connections).
 * A decoded NUL byte in any parameter name or value (URL or form body) is refused with 400.
 * Shutdown: quiesce (close the listening socket), wait for in-flight requests up to a deadline, stop. */
#include "http.h"

#include "auth.h"
#include "conn_guard.h"
#include "selfmon/selfmon.h"
#include "util/json.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

struct http_server {
    struct MHD_Daemon *d;
    service_t *app;
    http_guard_t *guard;
    _Atomic uint64_t log_sec; /* mhd_log's rate limit: the current second, lines in it, lines dropped */
    _Atomic int log_n, log_dropped;
    _Atomic int in_flight;
    selfmon_family_t *requests;      /* vigil_http_requests_total{handler,method,code} */
    selfmon_metric_t **durations;    /* per route, + 1 for unmatched paths */
    selfmon_metric_t *in_flight_gauge;
};

typedef struct {
    http_req_t req;
    http_resp_t resp;
    service_ctx_t tctx;   /* the tenant context (zeroed for routes without auth) */
    vg_arena_t arena;
    vg_buf_t body;
    const http_route_t *route;
    uint64_t max_body;
    uint64_t t0;
    bool first_done, too_large, answered;
    char request_id[72];
} ctx_t;

static const char *const other_handler = "other";

/* ---- request ids ---- */

static bool sane_request_id(const char *s) {
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (n >= 64 || !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                         c == '_' || c == '.' || c == ':'))
            return false;
    }
    return n > 0;
}

static void gen_request_id(char out[17]) {
    static _Thread_local uint64_t s;
    if (!s) {
        if (getrandom(&s, sizeof s, 0) != sizeof s) s = vg_mono_ns();
        s |= 1;
    }
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    snprintf(out, 17, "%016llx", (unsigned long long)s);
}

/* ---- parameters ---- */

typedef struct {
    ctx_t *ctx;
    size_t cap;
    bool oom, body;
    const char *nul_key; /* arena: the first parameter whose decoded name or value holds a NUL byte */
} collect_t;

static void add_param(collect_t *c, const char *k, size_t klen, const char *v, size_t vlen) {
    ctx_t *ctx = c->ctx;
    if (ctx->req.n_params == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 8;
        http_param_t *np = vg_arena_alloc(&ctx->arena, ncap * sizeof *np);
        if (!np) {
            c->oom = true;
            return;
        }
        if (ctx->req.n_params) memcpy(np, ctx->req.params, ctx->req.n_params * sizeof *np);
        ctx->req.params = np;
        c->cap = ncap;
    }
    char *ks = vg_arena_strndup(&ctx->arena, k, klen), *vs = vg_arena_strndup(&ctx->arena, v, vlen);
    if (!ks || !vs) {
        c->oom = true;
        return;
    }
    /* a NUL would silently cut the value short for every C-string reader below: refuse it instead */
    if (!c->nul_key && (memchr(k, '\0', klen) || memchr(v, '\0', vlen))) c->nul_key = ks;
    ctx->req.params[ctx->req.n_params++] = (http_param_t){ks, vs, c->body};
}

/* libmicrohttpd gives the decoded lengths, so a %00 in the URL is seen rather than ending the string */
static enum MHD_Result arg_cb(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_len, const char *value,
                              size_t value_len) {
    (void)kind;
    add_param(cls, key, key_len, value ? value : "", value ? value_len : 0);
    return MHD_YES;
}

/* The 400 for a parameter with a NUL byte, naming the parameter (printable bytes only). */
static int nul_param_error(const char *key, vg_error_t *err) {
    char name[68];
    size_t o = 0;
    for (const unsigned char *k = (const unsigned char *)key; *k && o < 64; k++)
        name[o++] = (*k >= 0x20 && *k < 0x7f && *k != '"' && *k != '\\') ? (char)*k : '?';
    name[o] = '\0';
    return vg_error_set(err, VG_EINVAL, "parameter \"%s\" contains a NUL byte", name);
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) in place ('+' is a space); returns the new length, or -1 on a bad escape. */
static long form_decode(char *s, size_t n) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') s[o++] = ' ';
        else if (s[i] == '%') {
            int h, l;
            if (i + 2 >= n || (h = hexval(s[i + 1])) < 0 || (l = hexval(s[i + 2])) < 0) return -1;
            s[o++] = (char)(h * 16 + l);
            i += 2;
        } else s[o++] = s[i];
    }
    return (long)o;
}

static int parse_form(collect_t *c, char *body, size_t len, vg_error_t *err) {
    size_t i = 0;
    c->body = true;
    while (i < len) {
        size_t j = i;
        while (j < len && body[j] != '&') j++;
        if (j > i) {
            size_t eq = i;
            while (eq < j && body[eq] != '=') eq++;
            long kl = form_decode(body + i, eq - i);
            long vl = eq < j ? form_decode(body + eq + 1, j - eq - 1) : 0;
            if (kl < 0 || vl < 0)
                return vg_error_set_pos(err, VG_EINVAL, (long)i, (long)j, "invalid percent-encoding in form body at byte %zu", i);
            add_param(c, body + i, (size_t)kl, eq < j ? body + eq + 1 : "", (size_t)vl);
        }
        i = j + 1;
    }
    if (c->oom) return vg_error_set(err, VG_ENOMEM, "out of memory");
    return c->nul_key ? nul_param_error(c->nul_key, err) : 0;
}

/* ---- accessors ---- */

const char *http_req_param(const http_req_t *req, const char *key) {
    for (size_t i = 0; i < req->n_params; i++)
        if (!strcmp(req->params[i].key, key)) return req->params[i].value;
    return NULL;
}

size_t http_req_param_count(const http_req_t *req, const char *key) {
    size_t n = 0;
    for (size_t i = 0; i < req->n_params; i++) n += !strcmp(req->params[i].key, key);
    return n;
}

const char *http_req_path_param(const http_req_t *req, const char *name) {
    for (size_t i = 0; i < req->n_path_params; i++)
        if (!strcmp(req->path_params[i].key, name)) return req->path_params[i].value;
    return NULL;
}

const char *http_req_header(const http_req_t *req, const char *name) {
    return req->conn ? MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name) : NULL;
}

void http_resp_header(http_resp_t *resp, const char *name, const char *value) {
    if (resp->n_headers < sizeof resp->headers / sizeof resp->headers[0]) {
        resp->headers[resp->n_headers][0] = name;
        resp->headers[resp->n_headers][1] = value;
        resp->n_headers++;
    }
}

void http_json_success(vg_json_t *j, http_resp_t *resp) {
    vg_json_init(j, &resp->body);
    vg_json_obj_open(j);
    vg_json_key(j, "status"), vg_json_str(j, "success");
    vg_json_key(j, "data");
}

void http_resp_text(http_resp_t *resp, int status, const char *text) {
    resp->status = status;
    resp->content_type = "text/plain; charset=utf-8";
    resp->static_body = NULL;
    vg_buf_reset(&resp->body);
    vg_buf_puts(&resp->body, text);
}

void http_resp_error(http_resp_t *resp, int code, const char *msg) {
    resp->status = vg_error_http_status(code);
    resp->content_type = "application/json";
    resp->static_body = NULL;
    vg_buf_reset(&resp->body);
    vg_json_t j;
    vg_json_init(&j, &resp->body);
    vg_json_obj_open(&j);
    vg_json_key(&j, "status"), vg_json_str(&j, "error");
    vg_json_key(&j, "errorType"), vg_json_str(&j, vg_error_type(code));
    vg_json_key(&j, "error"), vg_json_str(&j, msg && *msg ? msg : vg_error_str(code));
    vg_json_obj_close(&j);
}

/* Parameter pollution, refused for tenants: a parameter that takes one value given twice (a second
 * query= could be read by one layer and not another), or match[] in both the URL and the body. */
static int check_pollution(http_req_t *req) {
    bool url_match = false, body_match = false;
    for (size_t i = 0; i < req->n_params; i++) {
        const char *k = req->params[i].key;
        if (!strcmp(k, "match[]")) {
            if (req->params[i].from_body) body_match = true;
            else url_match = true;
            continue;
        }
        for (size_t j = 0; j < i; j++)
            if (!strcmp(req->params[j].key, k))
                return vg_error_set(&req->err, VG_EINVAL, "parameter \"%.64s\" given more than once", k);
    }
    if (url_match && body_match) return vg_error_set(&req->err, VG_EINVAL, "match[] given both in the URL and in the body");
    return 0;
}

/* ---- routing ---- */

bool http_route_match(const char *pattern, const char *path, http_req_t *req) {
    const char *p = pattern, *s = path;
    size_t np = 0;
    while (*p && *s) {
        if (*p == '{') {
            const char *pe = strchr(p, '}');
            const char *se = strchr(s, '/');
            if (!pe) return false;
            if (!se) se = s + strlen(s);
            if (se == s || np == HTTP_MAX_PATH_PARAMS) return false;
            if (req) {
                req->path_params[np].key = vg_arena_strndup(req->arena, p + 1, (size_t)(pe - p - 1));
                req->path_params[np].value = vg_arena_strndup(req->arena, s, (size_t)(se - s));
            }
            np++;
            p = pe + 1;
            s = se;
            continue;
        }
        if (*p != *s) return false;
        p++, s++;
    }
    if (*p || *s) return false;
    if (req) req->n_path_params = np;
    return true;
}

static unsigned method_bit(const char *m) {
    if (!strcmp(m, "GET") || !strcmp(m, "HEAD")) return HTTP_GET;
    if (!strcmp(m, "POST")) return HTTP_POST;
    if (!strcmp(m, "PUT")) return HTTP_PUT;
    if (!strcmp(m, "DELETE")) return HTTP_DELETE;
    return 0;
}

/* ---- responses ---- */

static enum MHD_Result send_resp(struct MHD_Connection *con, ctx_t *ctx) {
    http_resp_t *r = &ctx->resp;
    struct MHD_Response *mr;
    if (r->body.failed) {
        vg_buf_deinit(&r->body);
        http_resp_error(r, VG_ENOMEM, "out of memory while writing the response");
    }
    size_t len = 0;
    char *data = r->static_body ? NULL : vg_buf_steal(&r->body, &len);
    if (r->static_body) mr = MHD_create_response_from_buffer(r->static_len, (void *)r->static_body, MHD_RESPMEM_PERSISTENT);
    else if (data) mr = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    else mr = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!mr) {
        free(data);
        return MHD_NO;
    }
    MHD_add_response_header(mr, "Content-Type", r->content_type ? r->content_type : "application/json");
    MHD_add_response_header(mr, "X-Request-Id", ctx->request_id);
    for (size_t i = 0; i < r->n_headers; i++) MHD_add_response_header(mr, r->headers[i][0], r->headers[i][1]);
    enum MHD_Result ok = MHD_queue_response(con, (unsigned)(r->status ? r->status : 200), mr);
    MHD_destroy_response(mr);
    ctx->answered = true;
    return ok;
}

static enum MHD_Result send_error(struct MHD_Connection *con, ctx_t *ctx, int code, const char *msg) {
    http_resp_error(&ctx->resp, code, msg);
    return send_resp(con, ctx);
}

static void ctx_free(ctx_t *ctx) {
    service_ctx_deinit(&ctx->tctx);
    vg_buf_deinit(&ctx->body);
    vg_buf_deinit(&ctx->resp.body);
    vg_arena_deinit(&ctx->arena);
    free(ctx);
}

static enum MHD_Result first_call(http_server_t *s, struct MHD_Connection *con, ctx_t *ctx, const char *url,
                                  const char *method) {
    ctx->req.conn = con;
    ctx->req.method = vg_arena_strndup(&ctx->arena, method, strlen(method));
    ctx->req.path = vg_arena_strndup(&ctx->arena, url, strlen(url));
    const char *rid = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "X-Request-Id");
    if (rid && sane_request_id(rid)) snprintf(ctx->request_id, sizeof ctx->request_id, "%s", rid);
    else gen_request_id(ctx->request_id);
    ctx->req.request_id = ctx->request_id;
    if (!ctx->req.method || !ctx->req.path) return send_error(con, ctx, VG_ENOMEM, NULL);

    config_t *cfg = service_config(s->app);
    ctx->max_body = cfg->server.max_body;
    config_unref(cfg);

    unsigned allowed = 0, bit = method_bit(method);
    for (size_t i = 0; i < http_n_routes; i++) {
        if (!http_route_match(http_routes[i].pattern, url, &ctx->req)) continue;
        allowed |= http_routes[i].methods;
        if (bit & http_routes[i].methods) {
            ctx->route = &http_routes[i];
            break;
        }
    }
    if (!ctx->route && !allowed) {
        char msg[160];
        snprintf(msg, sizeof msg, "no route for %.100s", url);
        return send_error(con, ctx, VG_ENOTFOUND, msg);
    }
    if (!ctx->route) {
        static const char *const names[] = {"GET, HEAD", "POST", "PUT", "DELETE"};
        char allow[64] = "";
        for (int i = 0; i < 4; i++)
            if (allowed & (1u << i))
                snprintf(allow + strlen(allow), sizeof allow - strlen(allow), "%s%s", *allow ? ", " : "", names[i]);
        char *a = vg_arena_strndup(&ctx->arena, allow, strlen(allow));
        if (a) http_resp_header(&ctx->resp, "Allow", a);
        char msg[128];
        snprintf(msg, sizeof msg, "method %.16s not allowed (allowed: %s)", method, allow);
        return send_error(con, ctx, VG_EMETHOD, msg);
    }
    const char *cl = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Content-Length");
    if (cl) {
        char *end;
        unsigned long long n = strtoull(cl, &end, 10);
        if (*end == '\0' && n > ctx->max_body) {
            char msg[128];
            snprintf(msg, sizeof msg, "request body of %llu bytes exceeds the limit of %llu bytes", n,
                     (unsigned long long)ctx->max_body);
            return send_error(con, ctx, VG_ETOOLARGE, msg);
        }
    }
    return MHD_YES;
}

static enum MHD_Result dispatch(http_server_t *s, struct MHD_Connection *con, ctx_t *ctx) {
    if (ctx->too_large) {
        char msg[128];
        snprintf(msg, sizeof msg, "request body exceeds the limit of %llu bytes", (unsigned long long)ctx->max_body);
        return send_error(con, ctx, VG_ETOOLARGE, msg);
    }
    collect_t c = {ctx, 0, false, false, NULL};
    MHD_get_connection_values_n(con, MHD_GET_ARGUMENT_KIND, arg_cb, &c);
    if (!c.oom && c.nul_key) return send_error(con, ctx, nul_param_error(c.nul_key, &ctx->req.err), ctx->req.err.msg);
    ctx->req.body = ctx->body.data ? ctx->body.data : "";
    ctx->req.body_len = ctx->body.len;
    const char *ct = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Content-Type");
    if (!c.oom && (ctx->route->flags & HTTP_F_FORM) && ctx->body.len && ct && !strncasecmp(ct, "application/x-www-form-urlencoded", 33)) {
        /* decode a copy: the raw body stays available to the handler */
        char *copy = vg_arena_strndup(&ctx->arena, ctx->body.data, ctx->body.len);
        if (!copy) c.oom = true;
        else if (parse_form(&c, copy, ctx->body.len, &ctx->req.err)) return send_error(con, ctx, ctx->req.err.code, ctx->req.err.msg);
    }
    if (c.oom) return send_error(con, ctx, VG_ENOMEM, NULL);
    ctx->req.app = s->app;
    ctx->req.ctx = &ctx->tctx;
    ctx->resp.status = 200;
    ctx->resp.content_type = "application/json";
    vg_error_clear(&ctx->req.err);
    if (ctx->route->flags & (HTTP_F_AUTH | HTTP_F_ADMIN)) {
        int retry = 0;
        int arc = http_auth_check(s->app, &ctx->req, ctx->route->flags, ctx->route->klass, &retry);
        if (arc == VG_EAUTH) http_resp_header(&ctx->resp, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
        if (arc == VG_ERATELIMIT) {
            char *ra = vg_arena_alloc(&ctx->arena, 24);
            if (ra) snprintf(ra, 24, "%d", retry), http_resp_header(&ctx->resp, "Retry-After", ra);
        }
        if (!arc && ctx->tctx.scoped) arc = check_pollution(&ctx->req);
        if (arc) return send_error(con, ctx, arc, ctx->req.err.msg);
    }
    int rc = ctx->route->fn(&ctx->req, &ctx->resp);
    if (rc < 0) return send_error(con, ctx, rc, ctx->req.err.msg);
    return send_resp(con, ctx);
}

static http_guard_conn_t *guard_conn(struct MHD_Connection *con) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(con, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* Connection start and end, on the worker thread that serves the connection. */
static void conn_cb(void *cls, struct MHD_Connection *con, void **socket_context, enum MHD_ConnectionNotificationCode code) {
    http_server_t *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(con, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_context = ci ? http_guard_opened(s->guard, ci->connect_fd) : NULL;
    } else {
        http_guard_closed(s->guard, *socket_context);
        *socket_context = NULL;
    }
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *con, const char *url, const char *method,
                                 const char *version, const char *upload_data, size_t *upload_data_size,
                                 void **con_cls) {
    (void)version;
    http_server_t *s = cls;
    ctx_t *ctx = *con_cls;
    if (!ctx) {
        if (http_guard_head_done(guard_conn(con))) return MHD_NO; /* past server.header_timeout: closed */
        ctx = calloc(1, sizeof *ctx);
        if (!ctx) return MHD_NO;
        vg_arena_init(&ctx->arena, 4096);
        ctx->req.arena = &ctx->arena;
        ctx->t0 = vg_mono_ns();
        *con_cls = ctx;
        int now = atomic_fetch_add(&s->in_flight, 1) + 1;
        selfmon_gauge_set(s->in_flight_gauge, now);
        return first_call(s, con, ctx, url, method);
    }
    if (ctx->answered) { /* answered early (404/405/413): discard whatever body follows */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!ctx->too_large && ctx->body.len + *upload_data_size <= ctx->max_body) {
            if (vg_buf_append(&ctx->body, upload_data, *upload_data_size)) ctx->too_large = true;
        } else {
            ctx->too_large = true;
            vg_buf_deinit(&ctx->body);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    return dispatch(s, con, ctx);
}

static void completed_cb(void *cls, struct MHD_Connection *con, void **con_cls, enum MHD_RequestTerminationCode toe) {
    http_server_t *s = cls;
    ctx_t *ctx = *con_cls;
    if (!ctx) return;
    *con_cls = NULL;
    http_guard_request_done(s->guard, guard_conn(con));
    double secs = (double)(vg_mono_ns() - ctx->t0) / 1e9;
    int status = ctx->answered ? (ctx->resp.status ? ctx->resp.status : 200) : 0;
    size_t idx = ctx->route ? (size_t)(ctx->route - http_routes) : http_n_routes;
    const char *handler = ctx->route ? ctx->route->pattern : other_handler;
    char code[8];
    snprintf(code, sizeof code, "%d", status);
    const char *method = ctx->req.method ? ctx->req.method : "";
    const char *labels[3] = {handler, method, code};
    selfmon_counter_inc(selfmon_with(s->requests, labels));
    selfmon_histogram_observe(s->durations[idx], secs);
    int now = atomic_fetch_sub(&s->in_flight, 1) - 1;
    selfmon_gauge_set(s->in_flight_gauge, now);
    bool quiet = ctx->route && (ctx->route->flags & HTTP_F_QUIET) && status < 400;
    vg_log__emit(quiet ? VG_LOG_DEBUG : VG_LOG_INFO, "http", "request", VG_LS("request_id", ctx->request_id),
                 VG_LS("method", method), VG_LS("path", ctx->req.path ? ctx->req.path : ""), VG_LI("status", status),
                 VG_LF("duration_s", secs), VG_LI("bytes_in", ctx->body.len),
                 VG_LB("completed", toe == MHD_REQUEST_TERMINATED_COMPLETED_OK), VG_LEND);
    /* the audit log: one line per request made with a verified identity */
    if (ctx->tctx.scoped || ctx->tctx.admin)
        vg_log__emit(VG_LOG_INFO, "audit", "request", VG_LS("request_id", ctx->request_id), VG_LS("tenant", ctx->tctx.tenant),
                     VG_LS("subject", ctx->tctx.subject), VG_LB("admin", ctx->tctx.admin), VG_LS("endpoint", handler),
                     VG_LS("method", method), VG_LS("query", ctx->req.audit_query ? ctx->req.audit_query : ""),
                     VG_LI("status", status), VG_LF("duration_s", secs), VG_LEND);
    ctx_free(ctx);
}

/* libmicrohttpd logs one line per refused or dropped connection, so a flood of hostile connections
 * would flood the log: at most MHD_LOG_PER_S lines a second pass, the rest are counted and summarised. */
#define MHD_LOG_PER_S 10

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap) {
    http_server_t *s = cls;
    uint64_t sec = vg_mono_ns() / 1000000000u;
    uint64_t was = atomic_load(&s->log_sec);
    if (was != sec && atomic_compare_exchange_strong(&s->log_sec, &was, sec)) {
        atomic_store(&s->log_n, 0);
        int dropped = atomic_exchange(&s->log_dropped, 0);
        if (dropped) vg_log_warn("http", "libmicrohttpd messages suppressed", VG_LI("count", dropped));
    }
    if (atomic_fetch_add(&s->log_n, 1) >= MHD_LOG_PER_S) {
        atomic_fetch_add(&s->log_dropped, 1);
        return;
    }
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' ')) msg[--n] = '\0';
    vg_log_warn("http", msg);
}

int http_server_start(service_t *app, http_server_t **out, vg_error_t *err) {
    *out = NULL;
    config_t *cfg = service_config(app);
    char host[256];
    int port;
    if (config_split_listen(cfg->server.listen, host, sizeof host, &port)) {
        vg_error_set(err, VG_ECONFIG, "invalid listen address \"%s\"", cfg->server.listen);
        config_unref(cfg);
        return VG_ECONFIG;
    }
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai = NULL;
    int gai = getaddrinfo(*host ? host : NULL, portstr, &hints, &ai);
    if (gai) {
        vg_error_set(err, VG_ECONFIG, "cannot resolve listen address \"%s\": %s", cfg->server.listen, gai_strerror(gai));
        config_unref(cfg);
        return VG_ECONFIG;
    }
    http_server_t *s = calloc(1, sizeof *s);
    if (!s) goto oom;
    s->app = app;
    selfmon_registry_t *r = selfmon_default();
    static const char *const req_labels[] = {"handler", "method", "code"};
    static const char *const dur_labels[] = {"handler"};
    static const double buckets[] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};
    s->requests = selfmon_counter(r, "vigil_http_requests_total", "HTTP requests served, by handler, method and status code.", 3, req_labels);
    selfmon_family_t *dur = selfmon_histogram(r, "vigil_http_request_duration_seconds",
                                              "Time from the first byte of a request to its response being sent, by handler.",
                                              1, dur_labels, sizeof buckets / sizeof buckets[0], buckets);
    s->in_flight_gauge = selfmon_metric(selfmon_gauge(r, "vigil_http_requests_in_flight", "HTTP requests being served right now.", 0, NULL));
    s->durations = calloc(http_n_routes + 1, sizeof *s->durations);
    if (!s->durations) goto oom;
    for (size_t i = 0; i <= http_n_routes; i++) {
        const char *h = i < http_n_routes ? http_routes[i].pattern : other_handler;
        s->durations[i] = selfmon_with(dur, &h);
    }
    if (http_guard_new(cfg->server.header_timeout_ms, cfg->server.read_timeout_ms, &s->guard)) goto oom;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    s->d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, access_cb, s,
                            MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
                            MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                            MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->server.threads,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->server.max_connections,
                            MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->server.max_connections_per_ip,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)cfg->server.max_header,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)((cfg->server.read_timeout_ms + 999) / 1000),
                            MHD_OPTION_NOTIFY_COMPLETED, completed_cb, s,
                            MHD_OPTION_NOTIFY_CONNECTION, conn_cb, s,
                            MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
                            MHD_OPTION_END);
    freeaddrinfo(ai);
    ai = NULL;
    if (!s->d) {
        vg_error_set(err, VG_EIO, "cannot listen on %s (address in use or not permitted)", cfg->server.listen);
        http_guard_free(s->guard);
        free(s->durations);
        free(s);
        config_unref(cfg);
        return VG_EIO;
    }
    /* accept a connection only once its first bytes are in, so conn_guard.c can judge them on accept */
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_LISTEN_FD);
    int defer_s = (int)((cfg->server.header_timeout_ms + 999) / 1000);
    if (!di || setsockopt(di->listen_fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer_s, sizeof defer_s))
        vg_log_warn("http", "TCP_DEFER_ACCEPT not set: malformed requests are refused only when read");
    vg_log_info("http", "listening", VG_LS("addr", cfg->server.listen), VG_LI("threads", cfg->server.threads));
    config_unref(cfg);
    *out = s;
    return 0;
oom:
    if (ai) freeaddrinfo(ai);
    if (s) free(s->durations), http_guard_free(s->guard);
    free(s);
    config_unref(cfg);
    return vg_error_set(err, VG_ENOMEM, "out of memory");
}

int http_server_stop(http_server_t *s, int64_t timeout_ms) {
    if (!s) return 0;
    MHD_socket fd = MHD_quiesce_daemon(s->d);
    if (fd != MHD_INVALID_SOCKET) close(fd);
    uint64_t deadline = vg_mono_ns() + (uint64_t)timeout_ms * 1000000u;
    while (atomic_load(&s->in_flight) > 0 && vg_mono_ns() < deadline) usleep(5000);
    int left = atomic_load(&s->in_flight);
    if (left) vg_log_warn("http", "shutdown deadline reached with requests in flight", VG_LI("in_flight", left));
    MHD_stop_daemon(s->d);
    http_guard_free(s->guard); /* after the daemon: its close notifications release the guard's connections */
    free(s->durations);
    free(s);
    return left;
}
