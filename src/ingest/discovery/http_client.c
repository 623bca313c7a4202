/* HTTP requests of the service discovery providers on libcurl: the settings Prometheus' HTTP client
 * config gives them (Authorization from credentials, a token or a secret file re-read at every request;
 * basic auth; TLS files; redirects), a body bound, and streaming for the Kubernetes watch.
 *
 * Invariants: secrets read from files live on the stack only and are wiped after use; a response body
 * never grows past rq->max_body (the transfer fails instead); a streamed body reaches on_data only when
 * the status is 200 — an error status's body is collected (bounded) for the message. */
#include "discovery_int.h"

#include "vigil_build.h"

#include <stdio.h>
#include <string.h>

static int read_secret(const char *path, char *out, size_t cap) {
    FILE *fp = fopen(path, "r");
    if (!fp) return -1;
    size_t n = fread(out, 1, cap - 1, fp);
    fclose(fp);
    while (n && (out[n - 1] == '\n' || out[n - 1] == '\r')) n--;
    out[n] = '\0';
    return 0;
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *ud) {
    ingest__sd_xfer_t *x = ud;
    size_t n = size * nmemb;
    long status = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    if (x->rq->on_data && status == 200) {
        if (x->rq->on_data(x->rq->ctx, ptr, n)) {
            x->aborted = true;
            return 0;
        }
        return n;
    }
    if (x->body.len + n > x->rq->max_body) {
        x->too_large = true;
        return 0;
    }
    return vg_buf_append(&x->body, ptr, n) ? 0 : n;
}

int ingest__sd_xfer_setup(ingest__sd_xfer_t *x, const ingest__sd_req_t *rq, vg_error_t *err) {
    memset(x, 0, sizeof *x);
    x->rq = rq;
    if (!(x->easy = curl_easy_init())) return vg_error_set(err, VG_ENOMEM, "curl_easy_init failed");
    CURL *e = x->easy;
    const config_http_client_t *h = rq->http;
    char secret[4096], line[4200];
    const char *bearer = rq->bearer, *type = "Bearer";
    if (!bearer && h) {
        if (h->authorization.type) type = h->authorization.type;
        if (h->authorization.credentials) bearer = h->authorization.credentials;
        else if (h->authorization.credentials_file) {
            if (read_secret(h->authorization.credentials_file, secret, sizeof secret))
                return vg_error_set(err, VG_EIO, "unable to read authorization credentials file %s", h->authorization.credentials_file);
            bearer = secret;
        } else if (h->bearer_token) bearer = h->bearer_token;
        else if (h->bearer_token_file) {
            if (read_secret(h->bearer_token_file, secret, sizeof secret))
                return vg_error_set(err, VG_EIO, "unable to read bearer token file %s", h->bearer_token_file);
            bearer = secret;
        }
    }
    if (rq->accept) {
        snprintf(line, sizeof line, "Accept: %s", rq->accept);
        x->headers = curl_slist_append(x->headers, line);
    }
    if (rq->extra_header) {
        struct curl_slist *nh = curl_slist_append(x->headers, rq->extra_header);
        if (nh) x->headers = nh;
    }
    if (bearer) {
        snprintf(line, sizeof line, "Authorization: %s %s", type, bearer);
        struct curl_slist *nh = curl_slist_append(x->headers, line);
        if (nh) x->headers = nh;
    }
    explicit_bzero(line, sizeof line);
    curl_easy_setopt(e, CURLOPT_URL, rq->url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "vigil/" VIGIL_VERSION);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    if (rq->timeout_ms) curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, rq->timeout_ms);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, !h || h->follow_redirects ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->err);
    if (h && (h->basic_auth.username || h->basic_auth.password || h->basic_auth.password_file)) {
        curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(e, CURLOPT_USERNAME, h->basic_auth.username ? h->basic_auth.username : "");
        if (h->basic_auth.password_file) {
            if (read_secret(h->basic_auth.password_file, secret, sizeof secret)) {
                explicit_bzero(secret, sizeof secret);
                return vg_error_set(err, VG_EIO, "unable to read basic auth password file %s", h->basic_auth.password_file);
            }
            curl_easy_setopt(e, CURLOPT_PASSWORD, secret); /* libcurl copies option strings */
        } else {
            curl_easy_setopt(e, CURLOPT_PASSWORD, h->basic_auth.password ? h->basic_auth.password : "");
        }
    }
    explicit_bzero(secret, sizeof secret);
    const char *ca = rq->ca_file ? rq->ca_file : h ? h->tls_config.ca_file : NULL;
    if (ca) curl_easy_setopt(e, CURLOPT_CAINFO, ca);
    if (h && h->tls_config.cert_file) curl_easy_setopt(e, CURLOPT_SSLCERT, h->tls_config.cert_file);
    if (h && h->tls_config.key_file) curl_easy_setopt(e, CURLOPT_SSLKEY, h->tls_config.key_file);
    if (h && h->tls_config.insecure_skip_verify) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (!x->headers && (rq->accept || bearer || rq->extra_header)) return vg_error_set(err, VG_ENOMEM, "out of memory");
    return 0;
}

int ingest__sd_xfer_result(ingest__sd_xfer_t *x, CURLcode cc, long *status, vg_error_t *err) {
    *status = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, status);
    if (x->too_large) return vg_error_set(err, VG_ETOOLARGE, "response from %s larger than %zu bytes", x->rq->url, x->rq->max_body);
    if (x->aborted) return 0; /* the stream's consumer stopped it: its own state says why */
    if (cc == CURLE_OPERATION_TIMEDOUT) return vg_error_set(err, VG_ETIMEOUT, "Get \"%s\": context deadline exceeded", x->rq->url);
    if (cc != CURLE_OK)
        return vg_error_set(err, VG_EUNAVAIL, "Get \"%s\": %s", x->rq->url, x->err[0] ? x->err : curl_easy_strerror(cc));
    return 0;
}

void ingest__sd_xfer_cleanup(ingest__sd_xfer_t *x) {
    if (x->easy) curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->headers);
    vg_buf_deinit(&x->body);
    memset(x, 0, sizeof *x);
}

int ingest__sd_get(ingest__sd_provider_t *p, const ingest__sd_req_t *rq, ingest__sd_xfer_t *x, long *status, vg_error_t *err) {
    int rc = ingest__sd_xfer_setup(x, rq, err);
    if (rc) return rc;
    if (curl_multi_add_handle(p->multi, x->easy) != CURLM_OK) return vg_error_set(err, VG_EIO, "cannot start the transfer");
    CURLcode cc = CURLE_OK;
    bool done = false;
    while (!done) {
        if (ingest__sd_stopping(p)) {
            curl_multi_remove_handle(p->multi, x->easy);
            return vg_error_set(err, VG_ECANCELED, "stopped");
        }
        int running;
        curl_multi_perform(p->multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(p->multi, &left)))
            if (m->msg == CURLMSG_DONE && m->easy_handle == x->easy) {
                cc = m->data.result;
                done = true;
            }
        if (!done) curl_multi_poll(p->multi, NULL, 0, 1000, NULL);
    }
    curl_multi_remove_handle(p->multi, x->easy);
    return ingest__sd_xfer_result(x, cc, status, err);
}
