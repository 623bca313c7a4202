/* The Grafana HTTP client: configuration, one request (libcurl easy handle) with bounded retries and
 * jittered exponential backoff, Grafana's three error shapes turned into grafana_err_t, the org-id
 * cache, and /api/health.
 *
 * Invariants:
 *  - Retries happen only after no answer or a 5xx, at most cfg.retries times; a 4xx returns at once.
 *  - A body larger than cfg.max_response_bytes aborts the transfer (VG_ETOOLARGE), so jansson never
 *    parses more than that.
 *  - Credentials go to libcurl through CURLOPT_USERNAME/PASSWORD or one header list that is wiped
 *    after use; nothing secret is ever passed to the logger or put into an error message. */
#include "grafana/grafana_int.h"

#include "util/fs.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOGGER "grafana"

void grafana_config_defaults(grafana_config_t *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->token_ttl_s = 365LL * 24 * 3600;
    cfg->connect_timeout_ms = 2000;
    cfg->timeout_ms = 10000;
    cfg->retries = 3;
    cfg->backoff_initial_ms = 200;
    cfg->backoff_max_ms = 5000;
    cfg->max_response_bytes = 8u << 20;
}

/* ---- errors ------------------------------------------------------------------------------------ */

static int code_for_status(long status) {
    if (status >= 500) return VG_EUNAVAIL;
    switch (status) {
    case 401: return VG_EAUTH;
    case 403: return VG_EFORBIDDEN;
    case 404: return VG_ENOTFOUND;
    case 409:
    case 412: return VG_EEXIST;
    case 413: return VG_ETOOLARGE;
    case 429: return VG_ERATELIMIT;
    default: return VG_EINVAL;
    }
}

/* Reads Grafana's message and reason out of any of its error bodies. */
static void set_http_error(grafana_err_t *err, const grafana__req_t *rq, long status, const json_t *body) {
    const char *message = grafana__jstr(body, "message");
    const char *reason = grafana__jstr(body, "messageId");
    if (!reason) reason = grafana__jstr(body, "status"); /* dashboard errors: "version-mismatch" */
    if (!message) message = grafana__jstr(body, "database") ? "database failing" : "no message";
    int code = code_for_status(status);
    grafana__err_set(err, code, "grafana: %s %s: %ld%s%s: %s", rq->method, rq->path, status, reason ? " " : "",
                     reason ? reason : "", message);
    if (err) {
        err->http_status = (int)status;
        if (reason) snprintf(err->reason, sizeof err->reason, "%s", reason);
    }
}

bool grafana__retryable(const grafana_err_t *err) {
    if (!err) return false;
    if (err->http_status >= 500) return true;
    return err->http_status == 0 && (err->err.code == VG_EUNAVAIL || err->err.code == VG_ETIMEOUT);
}

/* ---- small helpers ------------------------------------------------------------------------------ */

void grafana__backoff(const grafana_client_t *c, int attempt) {
    int64_t d = c->cfg.backoff_initial_ms;
    for (int i = 1; i < attempt && d < c->cfg.backoff_max_ms; i++) d *= 2;
    if (d > c->cfg.backoff_max_ms) d = c->cfg.backoff_max_ms;
    if (d <= 0) return;
    /* Jitter in [d/2, d]: concurrent callers spread out instead of hitting a recovering Grafana together. */
    int64_t ms = d / 2 + (int64_t)(grafana__rand64() % (uint64_t)(d / 2 + 1));
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

/* ---- client ------------------------------------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

static char *dup_opt(const char *s, bool *fail) {
    if (!s) return NULL;
    char *d = strdup(s);
    if (!d) *fail = true;
    return d;
}

static char *trim_slash(char *s) {
    if (s) {
        size_t n = strlen(s);
        while (n > 0 && s[n - 1] == '/') s[--n] = '\0';
    }
    return s;
}

static bool http_url(const char *u) { return u && (!strncmp(u, "http://", 7) || !strncmp(u, "https://", 8)) && u[7]; }

static int read_secret_file(const char *path, char **out, vg_error_t *err) {
    *out = NULL;
    char buf[1024];
    vg_error_t e;
    int rc = vg_fs_read_secret(path, buf, sizeof buf, &e);
    if (rc) return vg_error_set(err, rc == VG_ELIMIT ? VG_ECONFIG : VG_EIO, "grafana: admin_password_file %s", e.msg);
    *out = strdup(buf);
    explicit_bzero(buf, sizeof buf);
    return *out ? 0 : VG_ENOMEM;
}

int grafana_client_new(const grafana_config_t *cfg, grafana_client_t **out, vg_error_t *err) {
    *out = NULL;
    if (!http_url(cfg->url)) return vg_error_set(err, VG_ECONFIG, "grafana: url must be an http(s) URL");
    if (cfg->external_url && !http_url(cfg->external_url))
        return vg_error_set(err, VG_ECONFIG, "grafana: external_url must be an http(s) URL");
    if (cfg->vigil_url && !http_url(cfg->vigil_url))
        return vg_error_set(err, VG_ECONFIG, "grafana: vigil_url must be an http(s) URL");
    if (!cfg->admin_user || !cfg->admin_user[0] || strchr(cfg->admin_user, ':'))
        return vg_error_set(err, VG_ECONFIG, "grafana: admin_user must be set (and hold no ':')");
    if (!cfg->admin_password && !cfg->admin_password_file)
        return vg_error_set(err, VG_ECONFIG, "grafana: admin_password_file must be set");
    if (cfg->retries < 0 || cfg->retries > 20) return vg_error_set(err, VG_ECONFIG, "grafana: retries must be 0-20");
    if (cfg->timeout_ms <= 0 || cfg->connect_timeout_ms <= 0 || cfg->backoff_initial_ms < 0 ||
        cfg->backoff_max_ms < cfg->backoff_initial_ms || cfg->max_response_bytes < 1024 || cfg->token_ttl_s <= 0)
        return vg_error_set(err, VG_ECONFIG, "grafana: timeouts, backoff, token_ttl and response limit must be positive");
    for (size_t i = 0; i < cfg->n_vars; i++)
        if (!cfg->vars[i].name || !grafana__charset_ok(cfg->vars[i].name, 64, false) || !cfg->vars[i].value)
            return vg_error_set(err, VG_ECONFIG, "grafana: template variable %zu: bad name or missing value", i);

    pthread_once(&curl_once, curl_init_once);
    grafana_client_t *c = calloc(1, sizeof *c);
    if (!c) return VG_ENOMEM;
    pthread_mutex_init(&c->lock, NULL);
    bool fail = false;
    c->cfg = *cfg;
    c->url = trim_slash(dup_opt(cfg->url, &fail));
    c->external_url = trim_slash(dup_opt(cfg->external_url ? cfg->external_url : cfg->url, &fail));
    c->admin_user = dup_opt(cfg->admin_user, &fail);
    c->vigil_url = trim_slash(dup_opt(cfg->vigil_url, &fail));
    c->dashboards_dir = dup_opt(cfg->dashboards_dir, &fail);
    if (cfg->n_vars) {
        c->vars = calloc(cfg->n_vars, sizeof *c->vars);
        if (!c->vars) fail = true;
        for (size_t i = 0; c->vars && i < cfg->n_vars; i++) {
            c->vars[i].name = dup_opt(cfg->vars[i].name, &fail);
            c->vars[i].value = dup_opt(cfg->vars[i].value, &fail);
        }
    }
    c->cfg.url = c->url;
    c->cfg.external_url = c->external_url;
    c->cfg.admin_user = c->admin_user;
    c->cfg.vigil_url = c->vigil_url;
    c->cfg.dashboards_dir = c->dashboards_dir;
    c->cfg.vars = c->vars;
    c->cfg.admin_password = NULL;
    c->cfg.admin_password_file = NULL;
    int rc = 0;
    if (fail) rc = VG_ENOMEM;
    else if (cfg->admin_password_file) rc = read_secret_file(cfg->admin_password_file, &c->admin_password, err);
    else if (!(c->admin_password = strdup(cfg->admin_password))) rc = VG_ENOMEM;
    if (!rc && c->dashboards_dir) rc = grafana__templates_load(c->dashboards_dir, &c->templates, &c->n_templates, err);
    if (rc) {
        if (rc == VG_ENOMEM) vg_error_set(err, rc, "grafana: out of memory");
        grafana_client_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void grafana_client_free(grafana_client_t *c) {
    if (!c) return;
    if (c->admin_password) {
        explicit_bzero(c->admin_password, strlen(c->admin_password));
        free(c->admin_password);
    }
    free(c->url);
    free(c->external_url);
    free(c->admin_user);
    free(c->vigil_url);
    free(c->dashboards_dir);
    for (size_t i = 0; c->vars && i < c->cfg.n_vars; i++) {
        free((char *)c->vars[i].name);
        free((char *)c->vars[i].value);
    }
    free(c->vars);
    grafana__templates_free(c->templates, c->n_templates);
    for (size_t i = 0; i < c->n_org_cache; i++) free(c->org_cache[i].tenant);
    free(c->org_cache);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

void grafana__org_cache_put(grafana_client_t *c, const char *tenant, int64_t org_id) {
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n_org_cache; i++)
        if (!strcmp(c->org_cache[i].tenant, tenant)) {
            c->org_cache[i].org_id = org_id;
            goto out;
        }
    if (c->n_org_cache == c->cap_org_cache) {
        size_t cap = c->cap_org_cache ? c->cap_org_cache * 2 : 16;
        grafana__org_cache_entry_t *n = realloc(c->org_cache, cap * sizeof *n);
        if (!n) goto out; /* a cache miss later costs one lookup, nothing more */
        c->org_cache = n;
        c->cap_org_cache = cap;
    }
    char *t = strdup(tenant);
    if (t) c->org_cache[c->n_org_cache++] = (grafana__org_cache_entry_t){t, org_id};
out:
    pthread_mutex_unlock(&c->lock);
}

bool grafana__org_cache_get(grafana_client_t *c, const char *tenant, int64_t *out) {
    bool found = false;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n_org_cache && !found; i++)
        if (!strcmp(c->org_cache[i].tenant, tenant)) {
            *out = c->org_cache[i].org_id;
            found = true;
        }
    pthread_mutex_unlock(&c->lock);
    return found;
}

/* ---- one request ------------------------------------------------------------------------------- */

typedef struct sink {
    vg_buf_t buf;
    size_t limit;
    bool too_large;
} sink_t;

static size_t on_data(char *p, size_t size, size_t nmemb, void *ud) {
    sink_t *s = ud;
    size_t n = size * nmemb;
    if (s->buf.len + n > s->limit) {
        s->too_large = true;
        return 0;
    }
    if (vg_buf_append(&s->buf, p, n)) return 0;
    return n;
}

void grafana__resp_deinit(grafana__resp_t *rs) {
    if (!rs) return;
    json_decref(rs->json);
    rs->json = NULL;
}

/* Maps a libcurl failure; returns whether Grafana may have seen the request. */
static bool set_curl_error(grafana_err_t *err, const grafana__req_t *rq, CURLcode cc, const sink_t *s) {
    int code = VG_EUNAVAIL;
    bool maybe_seen = true;
    if (s->too_large) code = VG_ETOOLARGE;
    else if (cc == CURLE_OPERATION_TIMEDOUT) code = VG_ETIMEOUT;
    if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST || cc == CURLE_COULDNT_RESOLVE_PROXY)
        maybe_seen = false;
    if (s->too_large)
        grafana__err_set(err, code, "grafana: %s %s: answer larger than %zu bytes", rq->method, rq->path, s->limit);
    else
        grafana__err_set(err, code, "grafana: %s %s: unreachable: %s", rq->method, rq->path, curl_easy_strerror(cc));
    return maybe_seen;
}

int grafana__request(grafana_client_t *c, const grafana__req_t *rq, grafana__resp_t *rs, grafana_err_t *err) {
    memset(rs, 0, sizeof *rs);
    grafana__err_clear(err);
    char *body = NULL;
    if (rq->body && !(body = json_dumps(rq->body, JSON_COMPACT | JSON_PRESERVE_ORDER)))
        return grafana__err_set(err, VG_ENOMEM, "grafana: out of memory");

    CURL *h = curl_easy_init();
    struct curl_slist *hdrs = NULL;
    char url[2048], hdr[256];
    vg_buf_t bearer = VG_BUF_INIT;
    sink_t sink = {VG_BUF_INIT, c->cfg.max_response_bytes, false};
    int rc = 0;
    if (!h) {
        rc = grafana__err_set(err, VG_ENOMEM, "grafana: cannot create an HTTP handle");
        goto done;
    }
    if ((size_t)snprintf(url, sizeof url, "%s%s", c->url, rq->path) >= sizeof url) {
        rc = grafana__err_set(err, VG_EINVAL, "grafana: URL too long");
        goto done;
    }
    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    if (body) hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    if (rq->auth == GRAFANA__AUTH_ADMIN && rq->org_id > 0) {
        snprintf(hdr, sizeof hdr, "X-Grafana-Org-Id: %lld", (long long)rq->org_id);
        hdrs = curl_slist_append(hdrs, hdr);
    }
    if (rq->disable_provenance) hdrs = curl_slist_append(hdrs, "X-Disable-Provenance: true");
    if (rq->auth == GRAFANA__AUTH_TOKEN) {
        vg_buf_printf(&bearer, "Authorization: Bearer %s", rq->token ? rq->token : "");
        if (!bearer.failed) hdrs = curl_slist_append(hdrs, bearer.data);
    }
    if (!hdrs || bearer.failed) {
        rc = grafana__err_set(err, VG_ENOMEM, "grafana: out of memory");
        goto done;
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
    if (!strcmp(rq->method, "HEAD")) curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)c->cfg.connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)c->cfg.timeout_ms);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "vigil-grafana/1");
    if (rq->auth == GRAFANA__AUTH_ADMIN) {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERNAME, c->admin_user);
        curl_easy_setopt(h, CURLOPT_PASSWORD, c->admin_password);
    }

    int max_attempts = rq->no_retry ? 1 : c->cfg.retries + 1;
    for (int attempt = 1; attempt <= max_attempts; attempt++) {
        if (attempt > 1) {
            vg_log_warn(LOGGER, "retrying request", VG_LS("method", rq->method), VG_LS("path", rq->path),
                        VG_LI("attempt", attempt), VG_LI("status", err ? err->http_status : 0),
                        VG_LS("error", err ? err->err.msg : ""));
            grafana__backoff(c, attempt - 1);
        }
        vg_buf_reset(&sink.buf);
        sink.too_large = false;
        json_decref(rs->json);
        rs->json = NULL;
        rs->attempts = attempt;
        CURLcode cc = curl_easy_perform(h);
        if (cc != CURLE_OK) {
            rs->status = 0;
            bool seen = set_curl_error(err, rq, cc, &sink);
            rc = err ? err->err.code : VG_EUNAVAIL;
            if (sink.too_large) break;
            rs->maybe_seen = seen;
            if (seen && attempt < max_attempts) rs->ambiguous = true;
            continue;
        }
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        rs->status = status;
        if (sink.buf.len) rs->json = json_loadb(sink.buf.data, sink.buf.len, 0, NULL);
        rs->maybe_seen = false;
        if (status >= 200 && status < 300) {
            grafana__err_clear(err);
            rc = 0;
            break;
        }
        set_http_error(err, rq, status, rs->json);
        rc = code_for_status(status);
        if (status < 500) break;
        rs->maybe_seen = true;
        if (attempt < max_attempts) rs->ambiguous = true;
    }
    vg_log_debug(LOGGER, "request", VG_LS("method", rq->method), VG_LS("path", rq->path), VG_LI("status", rs->status),
                 VG_LI("attempts", rs->attempts));
done:
    if (bearer.data) explicit_bzero(bearer.data, bearer.len);
    vg_buf_deinit(&bearer);
    curl_slist_free_all(hdrs);
    if (h) curl_easy_cleanup(h);
    vg_buf_deinit(&sink.buf);
    free(body);
    return rc;
}

/* ---- health ------------------------------------------------------------------------------------- */

int grafana_health(grafana_client_t *c, char **out, grafana_err_t *err) {
    if (out) *out = NULL;
    grafana__req_t rq = {.method = "GET", .path = "/api/health", .auth = GRAFANA__AUTH_NONE, .no_retry = true};
    grafana__resp_t rs;
    int rc = grafana__request(c, &rq, &rs, err);
    const char *db = grafana__jstr(rs.json, "database");
    if (!rc && (!db || strcmp(db, "ok"))) {
        rc = grafana__err_set(err, VG_EUNAVAIL, "grafana: GET /api/health: database %s", db ? db : "state unknown");
        if (err) err->http_status = (int)rs.status;
    } else if (rc) {
        /* Unhealthy, unreachable or too slow all mean "Grafana is unavailable" to vigil's callers;
         * http_status and the message keep the difference. */
        if (err) err->err.code = VG_EUNAVAIL;
        rc = VG_EUNAVAIL;
    }
    if (out) {
        json_t *j = json_object();
        json_object_set_new(j, "healthy", json_boolean(rc == 0));
        json_object_set_new(j, "http_status", json_integer(rs.status));
        if (db) json_object_set_new(j, "database", json_string(db));
        const char *ver = grafana__jstr(rs.json, "version");
        if (ver) json_object_set_new(j, "version", json_string(ver));
        if (rc && err) json_object_set_new(j, "error", json_string(err->err.msg));
        int drc = grafana__dump(j, out);
        json_decref(j);
        if (drc && !rc) rc = grafana__err_set(err, drc, "grafana: out of memory");
    }
    grafana__resp_deinit(&rs);
    return rc;
}
