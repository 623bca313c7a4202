/* The remote read client: a storage querier (tsdb/storage.h) over another store's remote read endpoint
 * (Prometheus' /api/v1/read, VictoriaMetrics' /api/v1/read, Thanos, another vigil), as Prometheus 2.42's
 * remote_read client reads: one POST per select, a snappy ReadRequest accepting SAMPLES, the answer
 * decoded by read.c into the querier's arena.
 *
 * Invariants:
 *  - What is sent is the selector's own matchers (already enforced for a tenant by service/), plus an
 *    equality matcher per external label the selector does not name; those added labels are removed
 *    from every series of the answer, so series read back look like the local ones.
 *  - A selector without every required matcher (type =, same name and value) is never sent.
 *  - An answer is read up to max_bytes and no further (the transfer is aborted), then decoded with the
 *    querier's remaining sample budget, so neither the body nor the decoded samples exceed the limits.
 *  - Series handed out are sorted by labels (the merge querier needs that), samples in time order and
 *    clipped to the querier's [mint, maxt]; everything lives in the querier's arena until close.
 *  - Easy handles are pooled (each keeps its connection alive); a handle is used by one thread at once. */
#include "remote/remote.h"

#include "util/arena.h"
#include "util/buf.h"

#include "vigil_build.h"

#include <curl/curl.h>
#include <pthread.h>
#include <snappy-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POOL_MAX 16

struct remote_reader {
    char *url, *name, *basic_user, *basic_password, *authz;
    char *ca_file, *cert_file, *key_file;
    char **headers; /* "Name: value" */
    size_t n_headers;
    bool insecure;
    int64_t timeout_ms, sample_limit;
    uint64_t max_bytes;
    model_label_t *required, *external;
    size_t n_required, n_external;
    pthread_mutex_t pool_mu;
    CURL *pool[POOL_MAX];
    size_t n_pool;
};

typedef struct rq {
    storage_querier_t base;
    remote_reader_t *r;
    int64_t mint, maxt, left; /* left: samples the querier may still receive (< 0: no bound) */
    vg_arena_t arena;
} rq_t;

typedef struct rss {
    storage_series_set_t base;
    const remote_read_series_t *s;
    size_t n, i; /* i: 1 + the current series */
} rss_t;

typedef struct rit {
    storage_iterator_t base;
    const remote_read_series_t *s;
    int64_t mint, maxt;
    size_t i; /* the current sample + 1 (0: not started) */
} rit_t;

static int oom(vg_error_t *err) { return vg_error_set(err, VG_ENOMEM, "out of memory"); }

/* ---- iterator ---- */

static storage_val_t rit_valid(rit_t *it) {
    if (it->i == 0 || it->i > it->s->n_samples || it->s->t[it->i - 1] > it->maxt) {
        it->i = it->s->n_samples + 1;
        return STORAGE_VAL_NONE;
    }
    return STORAGE_VAL_FLOAT;
}

static storage_val_t rit_next(storage_iterator_t *base) {
    rit_t *it = (rit_t *)base;
    if (it->i > it->s->n_samples) return STORAGE_VAL_NONE;
    if (it->i == 0)
        while (it->i < it->s->n_samples && it->s->t[it->i] < it->mint) it->i++;
    it->i++;
    return rit_valid(it);
}

static storage_val_t rit_seek(storage_iterator_t *base, int64_t t) {
    rit_t *it = (rit_t *)base;
    if (it->i > it->s->n_samples) return STORAGE_VAL_NONE;
    if (t < it->mint) t = it->mint;
    if (it->i && it->s->t[it->i - 1] >= t) return STORAGE_VAL_FLOAT;
    size_t k = it->i ? it->i - 1 : 0;
    while (k < it->s->n_samples && it->s->t[k] < t) k++;
    it->i = k + 1;
    return rit_valid(it);
}

static void rit_at(const storage_iterator_t *base, int64_t *t, double *v) {
    const rit_t *it = (const rit_t *)base;
    *t = it->s->t[it->i - 1];
    *v = it->s->v[it->i - 1];
}

static int rit_err(const storage_iterator_t *base) {
    (void)base;
    return 0;
}

static const storage_iterator_vt rit_vt = {.next = rit_next, .seek = rit_seek, .at = rit_at, .err = rit_err};

/* ---- series set ---- */

static bool rss_next(storage_series_set_t *base) {
    rss_t *ss = (rss_t *)base;
    if (ss->i > ss->n) return false;
    return ++ss->i <= ss->n;
}

static void rss_labels(storage_series_set_t *base, const model_label_t **l, size_t *n) {
    rss_t *ss = (rss_t *)base;
    *l = ss->s[ss->i - 1].labels;
    *n = ss->s[ss->i - 1].n_labels;
}

static int rss_err(const storage_series_set_t *base) {
    (void)base;
    return 0;
}

static storage_iterator_t *rss_iterator(storage_series_set_t *base, storage_iterator_t *reuse);

static const storage_series_set_vt rss_vt = {.next = rss_next, .labels = rss_labels, .iterator = rss_iterator, .err = rss_err};

/* The querier's range travels with the set: it sits right after it in the same allocation. */
typedef struct {
    rss_t ss;
    rq_t *q;
} rss_box_t;

static storage_iterator_t *rss_iterator(storage_series_set_t *base, storage_iterator_t *reuse) {
    rss_box_t *b = (rss_box_t *)base;
    rit_t *it = reuse && reuse->vt == &rit_vt ? (rit_t *)reuse : vg_arena_calloc(&b->q->arena, 1, sizeof *it);
    if (!it) return NULL;
    *it = (rit_t){{&rit_vt}, &b->ss.s[b->ss.i - 1], b->q->mint, b->q->maxt, 0};
    return &it->base;
}

/* ---- HTTP ---- */

typedef struct sink {
    vg_buf_t *b;
    uint64_t max;
    bool over;
} sink_t;

static size_t on_data(char *p, size_t size, size_t n, void *ud) {
    sink_t *s = ud;
    size_t len = size * n;
    if (s->b->len + len > s->max) {
        s->over = true;
        return 0;
    }
    vg_buf_append(s->b, p, len);
    return s->b->failed ? 0 : len;
}

static CURL *handle_get(remote_reader_t *r) {
    CURL *h = NULL;
    pthread_mutex_lock(&r->pool_mu);
    if (r->n_pool) h = r->pool[--r->n_pool];
    pthread_mutex_unlock(&r->pool_mu);
    return h ? h : curl_easy_init();
}

static void handle_put(remote_reader_t *r, CURL *h) {
    pthread_mutex_lock(&r->pool_mu);
    if (r->n_pool < POOL_MAX) {
        r->pool[r->n_pool++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&r->pool_mu);
    if (h) curl_easy_cleanup(h);
}

/* POSTs a compressed ReadRequest; body receives the answer (bounded by max_bytes). */
static int post(remote_reader_t *r, const char *req, size_t req_len, vg_buf_t *body, vg_error_t *err) {
    struct curl_slist *hdrs = NULL, *t;
    static const char *const fixed[] = {"Content-Type: application/x-protobuf", "Content-Encoding: snappy",
                                        "Accept-Encoding: snappy", "X-Prometheus-Remote-Read-Version: 0.1.0"};
    bool bad = false;
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0] && !bad; i++) bad = !(t = curl_slist_append(hdrs, fixed[i])) || !(hdrs = t);
    for (size_t i = 0; i < r->n_headers && !bad; i++) bad = !(t = curl_slist_append(hdrs, r->headers[i])) || !(hdrs = t);
    if (!bad && r->authz) {
        vg_buf_t a = VG_BUF_INIT;
        vg_buf_printf(&a, "Authorization: %s", r->authz);
        bad = a.failed || !(t = curl_slist_append(hdrs, a.data)) || !(hdrs = t);
        if (a.data) memset(a.data, 0, a.len);
        vg_buf_deinit(&a);
    }
    CURL *h = bad ? NULL : handle_get(r);
    if (!h) {
        curl_slist_free_all(hdrs);
        return oom(err);
    }
    sink_t sink = {body, r->max_bytes, false};
    char ebuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, r->url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)r->timeout_ms);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "vigil/" VIGIL_VERSION);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, req);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)req_len);
    if (r->basic_user) {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERNAME, r->basic_user);
        curl_easy_setopt(h, CURLOPT_PASSWORD, r->basic_password ? r->basic_password : "");
    }
    if (r->ca_file) curl_easy_setopt(h, CURLOPT_CAINFO, r->ca_file);
    if (r->cert_file) curl_easy_setopt(h, CURLOPT_SSLCERT, r->cert_file);
    if (r->key_file) curl_easy_setopt(h, CURLOPT_SSLKEY, r->key_file);
    if (r->insecure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    CURLcode cc = curl_easy_perform(h);
    long status = 0;
    int rc = 0;
    if (cc == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (status / 100 != 2) {
            int n = body->len > 200 ? 200 : (int)body->len;
            for (int i = 0; i < n; i++)
                if ((unsigned char)body->data[i] < 0x20) n = i; /* the first line only */
            rc = vg_error_set(err, VG_EUNAVAIL, "remote_read %s: HTTP %ld: %.*s", r->name, status, n, body->data ? body->data : "");
        }
    } else if (sink.over) {
        rc = vg_error_set(err, VG_ELIMIT, "remote_read %s: the answer exceeds %llu bytes (max_response_bytes)", r->name,
                          (unsigned long long)r->max_bytes);
    } else if (cc == CURLE_OPERATION_TIMEDOUT) {
        rc = vg_error_set(err, VG_ETIMEOUT, "remote_read %s: no answer within %lld ms (remote_timeout)", r->name,
                          (long long)r->timeout_ms);
    } else if (cc == CURLE_WRITE_ERROR) {
        rc = oom(err);
    } else {
        rc = vg_error_set(err, VG_EUNAVAIL, "remote_read %s: %s", r->name, *ebuf ? ebuf : curl_easy_strerror(cc));
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    handle_put(r, h);
    for (struct curl_slist *s = hdrs; s; s = s->next) memset(s->data, 0, strlen(s->data)); /* credentials */
    curl_slist_free_all(hdrs);
    return rc;
}

/* ---- querier ---- */

static const int match_types[] = {[MODEL_MATCH_EQ] = REMOTE_MATCH_EQ, [MODEL_MATCH_NEQ] = REMOTE_MATCH_NEQ,
                                  [MODEL_MATCH_RE] = REMOTE_MATCH_RE, [MODEL_MATCH_NRE] = REMOTE_MATCH_NRE};

static bool names(model_matcher_t *const *ms, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(model_matcher_name(ms[i]), name)) return true;
    return false;
}

static bool has_required(const remote_reader_t *r, model_matcher_t *const *ms, size_t n) {
    for (size_t k = 0; k < r->n_required; k++) {
        bool found = false;
        for (size_t i = 0; i < n && !found; i++)
            found = model_matcher_type(ms[i]) == MODEL_MATCH_EQ && !strcmp(model_matcher_name(ms[i]), r->required[k].name) &&
                    !strcmp(model_matcher_value(ms[i]), r->required[k].value);
        if (!found) return false;
    }
    return true;
}

static int cmp_series(const void *a, const void *b) {
    const remote_read_series_t *x = a, *y = b;
    return model_labels_cmp(x->labels, x->n_labels, y->labels, y->n_labels);
}

/* Removes the external labels the request added (flags in `added`) from every series, in place. */
static void strip(const remote_reader_t *r, const bool *added, remote_read_series_t *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        model_label_t *ls = (model_label_t *)s[i].labels;
        size_t k = 0;
        for (size_t j = 0; j < s[i].n_labels; j++) {
            bool drop = false;
            for (size_t e = 0; e < r->n_external && !drop; e++) drop = added[e] && !strcmp(ls[j].name, r->external[e].name);
            if (!drop) ls[k++] = ls[j];
        }
        s[i].n_labels = k;
    }
}

static int rq_select(storage_querier_t *base, bool sorted, model_matcher_t *const *ms, size_t n, storage_series_set_t **out,
                     vg_error_t *err) {
    rq_t *q = (rq_t *)base;
    remote_reader_t *r = q->r;
    (void)sorted; /* always sorted */
    *out = NULL;
    rss_box_t *box = vg_arena_calloc(&q->arena, 1, sizeof *box);
    if (!box) return oom(err);
    box->ss.base.vt = &rss_vt;
    box->q = q;
    *out = &box->ss.base;
    if (!has_required(r, ms, n)) return 0; /* selects nothing */
    remote_read_matcher_t *rm = vg_arena_calloc(&q->arena, n + r->n_external + 1, sizeof *rm);
    bool *added = vg_arena_calloc(&q->arena, r->n_external + 1, sizeof *added);
    if (!rm || !added) return oom(err);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        rm[k++] = (remote_read_matcher_t){match_types[model_matcher_type(ms[i])], model_matcher_name(ms[i]),
                                          model_matcher_value(ms[i])};
    for (size_t e = 0; e < r->n_external; e++) {
        if (names(ms, n, r->external[e].name)) continue;
        rm[k++] = (remote_read_matcher_t){REMOTE_MATCH_EQ, r->external[e].name, r->external[e].value};
        added[e] = true;
    }
    remote_read_query_t rq = {q->mint, q->maxt, rm, k};
    int accepted = REMOTE_READ_SAMPLES;
    remote_read_request_t req = {&rq, 1, &accepted, 1};
    vg_buf_t pb = VG_BUF_INIT, body = VG_BUF_INIT;
    char *z = NULL;
    int rc = remote_read_request_encode(&req, &pb);
    size_t zlen = rc ? 0 : snappy_max_compressed_length(pb.len);
    if (!rc && !(z = malloc(zlen ? zlen : 1))) rc = VG_ENOMEM;
    if (!rc && snappy_compress(pb.data ? pb.data : "", pb.len, z, &zlen) != SNAPPY_OK) rc = VG_ENOMEM;
    if (rc) rc = oom(err);
    else rc = post(r, z, zlen, &body, err);
    remote_read_result_t *res = NULL;
    size_t n_res = 0;
    if (!rc) {
        rc = remote_read_response_decode(body.data ? body.data : "", body.len, r->max_bytes, q->left, &q->arena, &res, &n_res,
                                         err);
        if (rc) {
            char msg[VG_ERROR_MSG_MAX];
            snprintf(msg, sizeof msg, "%s", err->msg);
            int code = rc == VG_EINVAL ? VG_EUPSTREAM : rc == VG_ETOOLARGE ? VG_ELIMIT : rc;
            rc = vg_error_set(err, code, "remote_read %s: %s%s", r->name, msg,
                              rc == VG_ELIMIT ? " (sample_limit)" : rc == VG_ETOOLARGE ? " (max_response_bytes)" : "");
        }
    }
    free(z);
    vg_buf_deinit(&pb);
    vg_buf_deinit(&body);
    if (rc) return rc;
    if (n_res > 1) return vg_error_set(err, VG_EUPSTREAM, "remote_read %s: %zu results for one query", r->name, n_res);
    if (n_res == 0) return 0;
    size_t got = 0;
    for (size_t i = 0; i < res->n_series; i++) got += res->series[i].n_samples;
    if (q->left >= 0) q->left -= (int64_t)got;
    strip(r, added, res->series, res->n_series);
    qsort(res->series, res->n_series, sizeof *res->series, cmp_series);
    box->ss.s = res->series;
    box->ss.n = res->n_series;
    return 0;
}

static int rq_empty_list(const char *const **out, size_t *n_out) {
    static const char *const none[1] = {NULL};
    *out = none;
    *n_out = 0;
    return 0;
}

static int rq_label_names(storage_querier_t *base, model_matcher_t *const *ms, size_t n, const char *const **out, size_t *n_out,
                          vg_error_t *err) {
    (void)base, (void)ms, (void)n, (void)err;
    return rq_empty_list(out, n_out);
}

static int rq_label_values(storage_querier_t *base, const char *name, model_matcher_t *const *ms, size_t n,
                           const char *const **out, size_t *n_out, vg_error_t *err) {
    (void)base, (void)name, (void)ms, (void)n, (void)err;
    return rq_empty_list(out, n_out);
}

static void rq_close(storage_querier_t *base) {
    rq_t *q = (rq_t *)base;
    vg_arena_deinit(&q->arena);
    free(q);
}

static const storage_querier_vt rq_vt = {
    .select = rq_select, .label_names = rq_label_names, .label_values = rq_label_values, .close = rq_close};

int remote_reader_querier(remote_reader_t *r, int64_t mint, int64_t maxt, storage_querier_t **out, vg_error_t *err) {
    *out = NULL;
    rq_t *q = calloc(1, sizeof *q);
    if (!q) return oom(err);
    q->base.vt = &rq_vt;
    q->r = r;
    q->mint = mint;
    q->maxt = maxt;
    q->left = r->sample_limit;
    vg_arena_init(&q->arena, 64 * 1024);
    *out = &q->base;
    return 0;
}

/* ---- life cycle ---- */

static char *dup_or_null(const char *s, bool *failed) {
    if (!s) return NULL;
    char *d = strdup(s);
    if (!d) *failed = true;
    return d;
}

static model_label_t *dup_labels(const model_label_t *ls, size_t n, bool *failed) {
    model_label_t *v = calloc(n ? n : 1, sizeof *v);
    if (!v) {
        *failed = true;
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        v[i].name = dup_or_null(ls[i].name, failed);
        v[i].value = dup_or_null(ls[i].value, failed);
    }
    return v;
}

static void free_labels(model_label_t *ls, size_t n) {
    for (size_t i = 0; ls && i < n; i++) {
        free((char *)ls[i].name);
        free((char *)ls[i].value);
    }
    free(ls);
}

static void wipe_free(char *s) {
    if (s) memset(s, 0, strlen(s));
    free(s);
}

void remote_reader_free(remote_reader_t *r) {
    if (!r) return;
    for (size_t i = 0; i < r->n_pool; i++) curl_easy_cleanup(r->pool[i]);
    pthread_mutex_destroy(&r->pool_mu);
    free(r->url);
    free(r->name);
    free(r->basic_user);
    wipe_free(r->basic_password);
    wipe_free(r->authz);
    free(r->ca_file);
    free(r->cert_file);
    free(r->key_file);
    for (size_t i = 0; i < r->n_headers; i++) free(r->headers[i]);
    free(r->headers);
    free_labels(r->required, r->n_required);
    free_labels(r->external, r->n_external);
    free(r);
}

int remote_reader_new(const remote_reader_opts_t *o, remote_reader_t **out, vg_error_t *err) {
    *out = NULL;
    remote_reader_t *r = calloc(1, sizeof *r);
    if (!r) return oom(err);
    pthread_mutex_init(&r->pool_mu, NULL);
    bool failed = false;
    r->url = dup_or_null(o->url, &failed);
    r->name = dup_or_null(o->name ? o->name : o->url, &failed);
    r->basic_user = dup_or_null(o->basic_user, &failed);
    r->basic_password = dup_or_null(o->basic_password, &failed);
    r->authz = dup_or_null(o->authorization, &failed);
    r->ca_file = dup_or_null(o->ca_file, &failed);
    r->cert_file = dup_or_null(o->cert_file, &failed);
    r->key_file = dup_or_null(o->key_file, &failed);
    r->insecure = o->insecure_skip_verify;
    r->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 60 * 1000;
    r->max_bytes = o->max_bytes ? o->max_bytes : UINT64_MAX;
    r->sample_limit = o->sample_limit;
    r->headers = calloc(o->n_headers ? o->n_headers : 1, sizeof *r->headers);
    if (!r->headers) failed = true;
    for (size_t i = 0; r->headers && i < o->n_headers; i++) {
        size_t len = strlen(o->header_names[i]) + strlen(o->header_values[i]) + 3;
        if (!(r->headers[i] = malloc(len))) {
            failed = true;
            break;
        }
        snprintf(r->headers[i], len, "%s: %s", o->header_names[i], o->header_values[i]);
        r->n_headers = i + 1;
    }
    r->required = dup_labels(o->required, o->n_required, &failed);
    r->n_required = o->n_required;
    r->external = dup_labels(o->external, o->n_external, &failed);
    r->n_external = o->n_external;
    if (failed || !r->url) {
        remote_reader_free(r);
        return o->url ? oom(err) : vg_error_set(err, VG_EINVAL, "remote_read: no url");
    }
    *out = r;
    return 0;
}
