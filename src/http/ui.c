/* The web console: the page at `/` (and at the console's other paths, `/graph` among them, so
 * Prometheus' classic links open the same view) and its content-hashed assets under `/assets/`, all
 * embedded into the binary at build time (ui_assets.h). Nothing served here depends on the request
 * beyond content negotiation: the page is the same bytes for everyone and every value it shows is
 * fetched from the API by the browser and set as text, never templated in here.
 *
 * Caching: hashed assets are immutable for a year; the page is `no-cache` (revalidated each load, a 304
 * while the binary is the same), so a new vigil is picked up at once. Each variant has its own strong
 * ETag. gzip is served when the client accepts it. The page carries a Content-Security-Policy that
 * allows scripts, styles and connections to this origin only. */
#include "api.h"
#include "ui_assets.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define UI_CSP                                                                                                     \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "         \
    "font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

static const ui_asset_t *asset_find(const char *path) {
    for (size_t i = 0; i < ui_n_assets; i++)
        if (!strcmp(ui_assets[i].path, path)) return &ui_assets[i];
    return NULL;
}

/* The next comma-separated element of a header list, trimmed; false at the end. */
static bool list_next(const char **s, const char **tok, size_t *len) {
    const char *p = *s;
    while (*p == ' ' || *p == '\t' || *p == ',') p++;
    if (!*p) return false;
    const char *e = p;
    while (*e && *e != ',') e++;
    const char *t = e;
    while (t > p && (t[-1] == ' ' || t[-1] == '\t')) t--;
    *tok = p, *len = (size_t)(t - p), *s = e;
    return true;
}

/* Accept-Encoding names gzip (or *) without q=0. */
static bool accepts_gzip(const char *h) {
    const char *tok;
    size_t len;
    while (h && list_next(&h, &tok, &len)) {
        size_t n = 0;
        while (n < len && tok[n] != ';' && tok[n] != ' ') n++;
        if (!((n == 4 && !strncasecmp(tok, "gzip", 4)) || (n == 1 && tok[0] == '*'))) continue;
        const char *q = memchr(tok, ';', len);
        if (!q) return true;
        while (q < tok + len && (*q == ';' || *q == ' ')) q++;
        if (tok + len - q >= 2 && (q[0] == 'q' || q[0] == 'Q') && q[1] == '=') return strtod(q + 2, NULL) > 0;
        return true;
    }
    return false;
}

/* If-None-Match holds `etag` (weak comparison, as RFC 9110 asks for it) or `*`. */
static bool etag_matches(const char *h, const char *etag) {
    const char *tok;
    size_t len, elen = strlen(etag);
    while (h && list_next(&h, &tok, &len)) {
        if (len == 1 && tok[0] == '*') return true;
        if (len > 2 && tok[0] == 'W' && tok[1] == '/') tok += 2, len -= 2;
        if (len == elen && !memcmp(tok, etag, len)) return true;
    }
    return false;
}

static int serve(http_req_t *req, http_resp_t *resp, const ui_asset_t *a) {
    bool gz = a->gzip && accepts_gzip(http_req_header(req, "Accept-Encoding"));
    const char *etag = gz ? a->etag_gzip : a->etag;
    resp->content_type = a->content_type;
    http_resp_header(resp, "Cache-Control", a->immutable ? "public, max-age=31536000, immutable" : "no-cache");
    http_resp_header(resp, "ETag", etag);
    http_resp_header(resp, "Vary", "Accept-Encoding");
    http_resp_header(resp, "X-Content-Type-Options", "nosniff");
    if (!a->immutable) {
        http_resp_header(resp, "Content-Security-Policy", UI_CSP);
        http_resp_header(resp, "Referrer-Policy", "no-referrer");
    }
    if (etag_matches(http_req_header(req, "If-None-Match"), etag)) {
        resp->status = 304;
        return 0;
    }
    if (gz) http_resp_header(resp, "Content-Encoding", "gzip");
    resp->static_body = gz ? a->gzip : a->data;
    resp->static_len = gz ? a->gzip_len : a->len;
    return 0;
}

int api_index(http_req_t *req, http_resp_t *resp) {
    const ui_asset_t *a = asset_find("index.html");
    if (!a) return vg_error_set(&req->err, VG_ENOTFOUND, "this vigil was built without its web console");
    return serve(req, resp, a);
}

int api_ui_asset(http_req_t *req, http_resp_t *resp) {
    const char *file = http_req_path_param(req, "file");
    char path[128];
    const ui_asset_t *a = NULL;
    if (file && strlen(file) < sizeof path - 8) {
        memcpy(path, "assets/", 7);
        memcpy(path + 7, file, strlen(file) + 1);
        a = asset_find(path);
    }
    if (!a) return vg_error_set(&req->err, VG_ENOTFOUND, "no console asset %.64s", file ? file : "");
    return serve(req, resp, a);
}
