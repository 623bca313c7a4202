/* One scrape's HTTP transfer on the scraper's libcurl multi handle: request headers (Accept,
 * X-Prometheus-Scrape-Timeout-Seconds, Authorization from credentials or a secret file, basic auth),
 * TLS files, redirects, timeouts; the response body collected into the target's buffer and judged
 * when the transfer ends (status 200, body_size_limit, timeout, gzip).
 *
 * Invariants: only the scrape thread calls these, and a target has at most one transfer in flight
 * (t->in_flight, set by the caller). Gzip is decoded here, not by libcurl, so a truncated stream is an
 * error and the size limit applies to the inflated body: compressed bytes go to t->raw, plain bytes
 * to t->body. Secrets read from files live on the stack only and are wiped after use. */
#include "scrape_int.h"

#include "util/fs.h"
#include "util/timeutil.h"

#include "vigil_build.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

void ingest__fetch_global_init(void) {
    static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
    pthread_once(&curl_once, curl_init_once);
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *ud) {
    ingest__target_t *t = ud;
    size_t n = size * nmemb;
    uint64_t limit = t->pool->sc->body_size_limit;
    vg_buf_t *b = t->gzipped ? &t->raw : &t->body; /* compressed bytes are limited after inflating */
    if (limit && !t->gzipped && b->len + n > limit) {
        t->too_large = true;
        return 0;
    }
    if (vg_buf_append(b, ptr, n)) return 0;
    return n;
}

/* Notes a gzip Content-Encoding: the scraper decompresses itself, so a truncated stream is an error. */
static size_t header_cb(char *buf, size_t size, size_t nitems, void *ud) {
    ingest__target_t *t = ud;
    size_t n = size * nitems;
    static const char ce[] = "content-encoding:";
    if (n > sizeof ce - 1 && !strncasecmp(buf, ce, sizeof ce - 1)) {
        const char *v = buf + sizeof ce - 1;
        while (v < buf + n && (*v == ' ' || *v == '\t')) v++;
        t->gzipped = (size_t)(buf + n - v) >= 4 && !strncasecmp(v, "gzip", 4);
    }
    return n;
}

/* Inflates t->raw into t->body; the stream must end properly and fit the body size limit. */
static int gunzip(ingest__target_t *t, vg_error_t *err) {
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return vg_error_set(err, VG_ENOMEM, "gzip: cannot initialise");
    uint64_t limit = t->pool->sc->body_size_limit;
    z.next_in = (Bytef *)t->raw.data;
    z.avail_in = (uInt)t->raw.len;
    int zr = Z_OK, rc = 0;
    while (zr != Z_STREAM_END) {
        if (vg_buf_reserve(&t->body, 65536)) {
            rc = vg_error_set(err, VG_ENOMEM, "out of memory");
            break;
        }
        z.next_out = (Bytef *)t->body.data + t->body.len;
        z.avail_out = (uInt)(t->body.cap - t->body.len - 1);
        size_t before = z.avail_out;
        zr = inflate(&z, Z_NO_FLUSH);
        t->body.len += before - z.avail_out;
        t->body.data[t->body.len] = '\0';
        if (limit && t->body.len > limit) {
            rc = vg_error_set(err, VG_ELIMIT, "body size limit exceeded");
            break;
        }
        if (zr == Z_STREAM_END) break;
        if (zr != Z_OK || (z.avail_in == 0 && z.avail_out != 0)) {
            rc = vg_error_set(err, VG_EINVAL, "gzip: %s", zr == Z_OK || zr == Z_BUF_ERROR ? "unexpected EOF" : (z.msg ? z.msg : "invalid data"));
            break;
        }
    }
    inflateEnd(&z);
    return rc;
}

static int setup_easy(ingest__target_t *t, vg_error_t *err) {
    const config_scrape_t *sc = t->pool->sc;
    if (!t->easy && !(t->easy = curl_easy_init())) return vg_error_set(err, VG_ENOMEM, "curl_easy_init failed");
    CURL *e = t->easy;
    curl_easy_reset(e);
    curl_slist_free_all(t->headers);
    t->headers = NULL;
    char h[4200];
    t->headers = curl_slist_append(t->headers, "Accept: " INGEST_EXPFMT_ACCEPT);
    snprintf(h, sizeof h, "X-Prometheus-Scrape-Timeout-Seconds: %g", (double)t->def.timeout_ms / 1000);
    t->headers = curl_slist_append(t->headers, h);
    char secret[4096];
    const char *bearer = NULL;
    if (sc->authorization.credentials) bearer = sc->authorization.credentials;
    else if (sc->authorization.credentials_file && !vg_fs_read_secret(sc->authorization.credentials_file, secret, sizeof secret, NULL))
        bearer = secret;
    else if (sc->bearer_token) bearer = sc->bearer_token;
    else if (sc->bearer_token_file && !vg_fs_read_secret(sc->bearer_token_file, secret, sizeof secret, NULL)) bearer = secret;
    else if ((sc->authorization.credentials_file || sc->bearer_token_file))
        return vg_error_set(err, VG_EIO, "unable to read authorization credentials file");
    if (bearer) {
        snprintf(h, sizeof h, "Authorization: %s %s", sc->authorization.type ? sc->authorization.type : "Bearer", bearer);
        t->headers = curl_slist_append(t->headers, h);
    }
    if (!t->headers) return vg_error_set(err, VG_ENOMEM, "out of memory");
    curl_easy_setopt(e, CURLOPT_URL, t->def.url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "vigil/" VIGIL_VERSION);
    t->headers = curl_slist_append(t->headers, "Accept-Encoding: gzip");
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)t->def.timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)t->def.timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, sc->follow_redirects ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->curl_err);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    if (sc->basic_auth.username || sc->basic_auth.password || sc->basic_auth.password_file) {
        curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(e, CURLOPT_USERNAME, sc->basic_auth.username ? sc->basic_auth.username : "");
        if (sc->basic_auth.password_file) {
            if (vg_fs_read_secret(sc->basic_auth.password_file, secret, sizeof secret, NULL))
                return vg_error_set(err, VG_EIO, "unable to read basic auth password file %s", sc->basic_auth.password_file);
            curl_easy_setopt(e, CURLOPT_PASSWORD, secret); /* libcurl copies option strings */
        } else {
            curl_easy_setopt(e, CURLOPT_PASSWORD, sc->basic_auth.password ? sc->basic_auth.password : "");
        }
    }
    if (sc->tls_config.ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, sc->tls_config.ca_file);
    if (sc->tls_config.cert_file) curl_easy_setopt(e, CURLOPT_SSLCERT, sc->tls_config.cert_file);
    if (sc->tls_config.key_file) curl_easy_setopt(e, CURLOPT_SSLKEY, sc->tls_config.key_file);
    if (sc->tls_config.insecure_skip_verify) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    explicit_bzero(secret, sizeof secret);
    explicit_bzero(h, sizeof h);
    return 0;
}

int ingest__fetch_start(ingest_scraper_t *s, ingest__target_t *t, vg_error_t *err) {
    vg_buf_reset(&t->body);
    vg_buf_reset(&t->raw);
    t->too_large = t->gzipped = false;
    t->curl_err[0] = '\0';
    t->start_ms = vg_now_ms();
    t->start_ns = vg_mono_ns();
    int rc = setup_easy(t, err);
    if (rc) return rc;
    CURLMcode mc = curl_multi_add_handle(s->multi, t->easy);
    if (mc != CURLM_OK) return vg_error_set(err, VG_EIO, "cannot start the transfer: %s", curl_multi_strerror(mc));
    return 0;
}

int ingest__fetch_finish(ingest__target_t *t, CURLcode cc, const char **content_type, vg_error_t *err) {
    long status = 0;
    char *ct = NULL;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(t->easy, CURLINFO_CONTENT_TYPE, &ct);
    *content_type = ct;
    if (t->too_large) return vg_error_set(err, VG_ELIMIT, "body size limit exceeded");
    if (cc == CURLE_OPERATION_TIMEDOUT)
        return vg_error_set(err, VG_ETIMEOUT, "Get \"%s\": context deadline exceeded", t->def.url);
    if (cc != CURLE_OK)
        return vg_error_set(err, VG_EUNAVAIL, "Get \"%s\": %s", t->def.url, t->curl_err[0] ? t->curl_err : curl_easy_strerror(cc));
    if (status != 200) return vg_error_set(err, VG_EUNAVAIL, "server returned HTTP status %ld", status);
    if (t->gzipped) return gunzip(t, err);
    return 0;
}

void ingest__fetch_release(ingest_scraper_t *s, ingest__target_t *t) {
    if (t->in_flight) curl_multi_remove_handle(s->multi, t->easy);
    if (t->easy) curl_easy_cleanup(t->easy);
    t->easy = NULL;
    t->in_flight = false;
    curl_slist_free_all(t->headers);
    t->headers = NULL;
    vg_buf_deinit(&t->body);
    vg_buf_deinit(&t->raw);
}
