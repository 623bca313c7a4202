/* One shard of a remote_write queue: a bounded FIFO of samples filled by the reader thread, and a thread
 * that takes batches of up to max_samples_per_send (or what is there once batch_send_deadline has
 * passed since the oldest came in), builds one WriteRequest per tenant (one in all without
 * tenant_header) and POSTs it.
 *
 * Answer policy (Prometheus 2.42's): 2xx sent; 5xx, 429 with retry_on_http_429, and transport errors
 * are retried with exponential backoff from min_backoff to max_backoff (a Retry-After in seconds
 * replaces the wait); any other status refuses the batch for good (counted in samples_failed). A
 * shard retries without limit while the queue runs — the reader then stops at the full buffer and the
 * WAL holds the rest — and gives up only when the queue's flush deadline passes at shutdown: a batch
 * given up that way is not counted as answered, so the saved position stays before it. */
#include "remote/write_int.h"

#include "util/log.h"
#include "util/timeutil.h"

#include "vigil_build.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

typedef struct kept {
    uint32_t tenant;
    uint32_t idx; /* order in the batch: keeps a series' samples in order */
    const remote__series_t *s;
} kept_t;

typedef struct group {
    uint32_t tenant;
    size_t first, n; /* range of kept[] */
    remote_pb_buf_t body;
    int64_t max_t;
} group_t;

typedef struct sender {
    CURL *h;
    struct curl_slist *base; /* headers every request carries */
    char errbuf[CURL_ERROR_SIZE];
    long retry_after_s;      /* from the last response; -1: none */
    char resp[256];          /* start of the last response body, for logs */
    size_t resp_len;
    remote__entry_t *batch;
    kept_t *kept;
    int64_t *ts;
    double *vs;
    remote_pb_series_t *series;
    size_t cap_series;
    group_t *groups;
    size_t n_groups, cap_groups;
    remote_pb_buf_t pb;
} sender_t;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
    sender_t *sd = ud;
    size_t len = size * n;
    if (len > 12 && !strncasecmp(p, "Retry-After:", 12)) {
        char tmp[64];
        size_t k = len - 12 < sizeof tmp - 1 ? len - 12 : sizeof tmp - 1;
        memcpy(tmp, p + 12, k);
        tmp[k] = '\0';
        char *end;
        long v = strtol(tmp, &end, 10);
        if (end != tmp && v >= 0) sd->retry_after_s = v; /* an HTTP date is ignored: backoff applies */
    }
    return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
    sender_t *sd = ud;
    size_t len = size * n, room = sizeof sd->resp - 1 - sd->resp_len;
    size_t k = len < room ? len : room;
    memcpy(sd->resp + sd->resp_len, p, k);
    sd->resp_len += k;
    sd->resp[sd->resp_len] = '\0';
    return len;
}

static int read_secret(const char *path, char *out, size_t cap) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(out, 1, cap - 1, f);
    fclose(f);
    while (n && (out[n - 1] == '\n' || out[n - 1] == '\r')) n--;
    out[n] = '\0';
    return 0;
}

static int sender_init(sender_t *sd, const config_remote_write_t *rc, size_t max_per_send, vg_error_t *err) {
    pthread_once(&curl_once, curl_init_once);
    sd->h = curl_easy_init();
    sd->batch = malloc(max_per_send * sizeof *sd->batch);
    sd->kept = malloc(max_per_send * sizeof *sd->kept);
    sd->ts = malloc(max_per_send * sizeof *sd->ts);
    sd->vs = malloc(max_per_send * sizeof *sd->vs);
    if (!sd->h || !sd->batch || !sd->kept || !sd->ts || !sd->vs) return vg_error_set(err, VG_ENOMEM, "out of memory");
    struct curl_slist *l = NULL;
    char line[8192];
    l = curl_slist_append(l, "Content-Encoding: snappy");
    l = curl_slist_append(l, "Content-Type: application/x-protobuf");
    l = curl_slist_append(l, "X-Prometheus-Remote-Write-Version: 0.1.0");
    l = curl_slist_append(l, "Expect:");
    for (size_t i = 0; i < rc->headers.n; i++) {
        snprintf(line, sizeof line, "%s: %s", rc->headers.keys[i], rc->headers.values[i]);
        l = curl_slist_append(l, line);
    }
    const char *type = rc->authorization.type ? rc->authorization.type : "Bearer";
    char secret[4096];
    if (rc->authorization.credentials) {
        snprintf(line, sizeof line, "Authorization: %s %s", type, rc->authorization.credentials);
        l = curl_slist_append(l, line);
    } else if (rc->authorization.credentials_file) {
        if (read_secret(rc->authorization.credentials_file, secret, sizeof secret))
            return vg_error_set(err, VG_EIO, "remote_write %s: cannot read credentials_file %s: %s", rc->name,
                                rc->authorization.credentials_file, strerror(errno));
        snprintf(line, sizeof line, "Authorization: %s %s", type, secret);
        l = curl_slist_append(l, line);
    }
    if (!l) return vg_error_set(err, VG_ENOMEM, "out of memory");
    sd->base = l;
    CURL *e = sd->h;
    curl_easy_setopt(e, CURLOPT_URL, rc->url);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "vigil/" VIGIL_VERSION);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)rc->remote_timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)rc->remote_timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, sd);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, sd);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, sd->errbuf);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    if (rc->basic_auth.username || rc->basic_auth.password || rc->basic_auth.password_file) {
        curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(e, CURLOPT_USERNAME, rc->basic_auth.username ? rc->basic_auth.username : "");
        if (rc->basic_auth.password_file) {
            if (read_secret(rc->basic_auth.password_file, secret, sizeof secret))
                return vg_error_set(err, VG_EIO, "remote_write %s: cannot read password_file %s: %s", rc->name,
                                    rc->basic_auth.password_file, strerror(errno));
            curl_easy_setopt(e, CURLOPT_PASSWORD, secret); /* libcurl copies option strings */
        } else {
            curl_easy_setopt(e, CURLOPT_PASSWORD, rc->basic_auth.password ? rc->basic_auth.password : "");
        }
    }
    if (rc->tls_config.ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, rc->tls_config.ca_file);
    if (rc->tls_config.cert_file) curl_easy_setopt(e, CURLOPT_SSLCERT, rc->tls_config.cert_file);
    if (rc->tls_config.key_file) curl_easy_setopt(e, CURLOPT_SSLKEY, rc->tls_config.key_file);
    if (rc->tls_config.insecure_skip_verify) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    memset(secret, 0, sizeof secret);
    return 0;
}

static void sender_free(sender_t *sd) {
    if (!sd) return;
    if (sd->h) curl_easy_cleanup(sd->h);
    curl_slist_free_all(sd->base);
    free(sd->batch);
    free(sd->kept);
    free(sd->ts);
    free(sd->vs);
    free(sd->series);
    for (size_t i = 0; i < sd->cap_groups; i++) remote_pb_buf_free(&sd->groups[i].body);
    free(sd->groups);
    remote_pb_buf_free(&sd->pb);
    free(sd);
}

/* One POST. Returns the HTTP status, or 0 for a transport error (errbuf says which). */
static long post(sender_t *sd, const char *tenant_header, const char *tenant, const remote_pb_buf_t *body) {
    struct curl_slist *hdrs = sd->base, *extra = NULL;
    char line[4200];
    if (tenant_header) {
        /* the tenant's header goes first in a private copy of the list */
        snprintf(line, sizeof line, "%s: %s", tenant_header, tenant);
        extra = curl_slist_append(NULL, line);
        if (!extra) return 0;
        extra->next = sd->base;
        hdrs = extra;
    }
    sd->retry_after_s = -1;
    sd->resp_len = 0;
    sd->resp[0] = '\0';
    sd->errbuf[0] = '\0';
    curl_easy_setopt(sd->h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(sd->h, CURLOPT_POSTFIELDS, body->p);
    curl_easy_setopt(sd->h, CURLOPT_POSTFIELDSIZE, (long)body->len);
    CURLcode cc = curl_easy_perform(sd->h);
    long status = 0;
    if (cc == CURLE_OK) curl_easy_getinfo(sd->h, CURLINFO_RESPONSE_CODE, &status);
    else if (!sd->errbuf[0]) snprintf(sd->errbuf, sizeof sd->errbuf, "%s", curl_easy_strerror(cc));
    if (extra) {
        extra->next = NULL;
        curl_slist_free_all(extra);
    }
    return status;
}

/* Sleeps ms unless the queue aborts meanwhile; false when it did. */
static bool backoff_wait(struct remote_write *q, int64_t ms) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&q->stop_mu);
    while (!atomic_load(&q->abort))
        if (pthread_cond_timedwait(&q->stop_cv, &q->stop_mu, &ts) == ETIMEDOUT) break;
    pthread_mutex_unlock(&q->stop_mu);
    return !atomic_load(&q->abort);
}

enum { SENT, REFUSED, ABORTED };

/* Sends one group's request until it is answered; counts what happened. */
static int send_group(remote__shard_t *s, sender_t *sd, const group_t *g) {
    struct remote_write *q = s->q;
    const config_remote_write_t *rc = q->rc;
    int64_t backoff = rc->queue_config.min_backoff_ms;
    const char *tenant = rc->tenant_header ? q->tenants[g->tenant] : NULL;
    for (;;) {
        if (atomic_load(&q->abort)) return ABORTED;
        uint64_t t0 = vg_mono_ns();
        long st = post(sd, rc->tenant_header, tenant, &g->body);
        double secs = (double)(vg_mono_ns() - t0) / 1e9;
        atomic_fetch_add(&q->n_requests, 1);
        if (q->m.duration) selfmon_histogram_observe(q->m.duration, secs);
        if (st >= 200 && st < 300) {
            atomic_fetch_add(&q->n_sent, g->n);
            atomic_fetch_add(&q->n_bytes, g->body.len);
            atomic_fetch_add(&q->out_total, g->n);
            atomic_fetch_add(&q->out_ns_total, vg_mono_ns() - t0);
            atomic_store(&q->last_send_ok_ns, (int64_t)vg_mono_ns());
            int64_t hs = atomic_load(&q->highest_sent_ms);
            while (g->max_t > hs && !atomic_compare_exchange_weak(&q->highest_sent_ms, &hs, g->max_t)) {
            }
            if (q->m.sent) selfmon_counter_add(q->m.sent, (double)g->n);
            if (q->m.bytes) selfmon_counter_add(q->m.bytes, (double)g->body.len);
            return SENT;
        }
        bool retry = st == 0 || st >= 500 || (st == 429 && rc->queue_config.retry_on_http_429);
        if (!retry) {
            vg_log_error("remote", "remote_write: receiver refused a batch; dropped", VG_LS("remote_name", rc->name),
                         VG_LS("url", rc->url), VG_LI("status", st), VG_LI("samples", g->n), VG_LS("body", sd->resp),
                         VG_LS("tenant", tenant ? tenant : ""));
            atomic_fetch_add(&q->n_failed, g->n);
            if (q->m.failed) selfmon_counter_add(q->m.failed, (double)g->n);
            return REFUSED;
        }
        atomic_fetch_add(&q->n_retried, g->n);
        if (q->m.retried) selfmon_counter_add(q->m.retried, (double)g->n);
        int64_t wait = sd->retry_after_s >= 0 ? sd->retry_after_s * 1000 : backoff;
        vg_log_warn("remote", "remote_write: send failed, retrying", VG_LS("remote_name", rc->name), VG_LS("url", rc->url),
                    VG_LI("status", st), VG_LS("error", st ? sd->resp : sd->errbuf), VG_LI("retry_in_ms", wait));
        if (!backoff_wait(q, wait)) return ABORTED;
        backoff = backoff * 2 > rc->queue_config.max_backoff_ms ? rc->queue_config.max_backoff_ms : backoff * 2;
    }
}

static int cmp_kept(const void *a, const void *b) {
    const kept_t *x = a, *y = b;
    if (x->tenant != y->tenant) return x->tenant < y->tenant ? -1 : 1;
    if (x->s->ref != y->s->ref) return x->s->ref < y->s->ref ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Builds the requests of a batch (one per tenant) under the series lock, then sends them. Returns
 * false when the queue aborted before every request was answered. */
static bool send_batch(remote__shard_t *s, sender_t *sd, size_t n) {
    struct remote_write *q = s->q;
    size_t nk = 0, dropped = 0;
    pthread_rwlock_rdlock(&q->series_lock);
    for (size_t i = 0; i < n; i++) {
        const remote__series_t *se = remote__series_get(q, sd->batch[i].ref);
        if (!se || se->dropped) {
            dropped++;
            continue;
        }
        sd->kept[nk++] = (kept_t){se->tenant, (uint32_t)i, se};
    }
    if (nk > 1) qsort(sd->kept, nk, sizeof *sd->kept, cmp_kept);
    for (size_t i = 0; i < nk; i++) {
        sd->ts[i] = sd->batch[sd->kept[i].idx].t;
        sd->vs[i] = sd->batch[sd->kept[i].idx].v;
    }
    sd->n_groups = 0;
    bool oom = false;
    for (size_t i = 0; i < nk && !oom;) {
        size_t j = i;
        while (j < nk && sd->kept[j].tenant == sd->kept[i].tenant) j++;
        if (sd->n_groups == sd->cap_groups) {
            size_t nc = sd->cap_groups ? sd->cap_groups * 2 : 4;
            group_t *ng = realloc(sd->groups, nc * sizeof *ng);
            if (!ng) {
                oom = true;
                break;
            }
            memset(ng + sd->cap_groups, 0, (nc - sd->cap_groups) * sizeof *ng);
            sd->groups = ng;
            sd->cap_groups = nc;
        }
        group_t *g = &sd->groups[sd->n_groups++];
        g->tenant = sd->kept[i].tenant;
        g->first = i;
        g->n = j - i;
        g->max_t = INT64_MIN;
        size_t ns = 0;
        for (size_t k = i; k < j; k++) {
            if (sd->ts[k] > g->max_t) g->max_t = sd->ts[k];
            if (k > i && sd->kept[k].s == sd->kept[k - 1].s) {
                sd->series[ns - 1].n_samples++;
                continue;
            }
            if (ns == sd->cap_series) {
                size_t nc = sd->cap_series ? sd->cap_series * 2 : 64;
                remote_pb_series_t *nsr = realloc(sd->series, nc * sizeof *nsr);
                if (!nsr) {
                    oom = true;
                    break;
                }
                sd->series = nsr;
                sd->cap_series = nc;
            }
            sd->series[ns++] = (remote_pb_series_t){.labels = sd->kept[k].s->labels, .n_labels = sd->kept[k].s->n_labels,
                                                     .t = &sd->ts[k], .v = &sd->vs[k], .n_samples = 1};
        }
        if (!oom && remote_pb_encode(sd->series, ns, &sd->pb, &g->body)) oom = true;
        i = j;
    }
    pthread_rwlock_unlock(&q->series_lock);
    if (dropped) {
        atomic_fetch_add(&q->n_dropped, dropped);
        if (q->m.dropped) selfmon_counter_add(q->m.dropped, (double)dropped);
    }
    if (oom) {
        /* refused for good: counted as failed, so the queue never blocks on memory */
        vg_log_error("remote", "remote_write: out of memory building a request; batch dropped", VG_LS("remote_name", q->rc->name));
        atomic_fetch_add(&q->n_failed, nk);
        if (q->m.failed) selfmon_counter_add(q->m.failed, (double)nk);
        return true;
    }
    for (size_t i = 0; i < sd->n_groups; i++)
        if (send_group(s, sd, &sd->groups[i]) == ABORTED) return false;
    return true;
}

static void *shard_main(void *arg) {
    remote__shard_t *s = arg;
    struct remote_write *q = s->q;
    sender_t *sd = s->priv;
    const uint64_t deadline_ns = (uint64_t)q->rc->queue_config.batch_send_deadline_ms * 1000000u;
    const size_t max_per_send = (size_t)q->rc->queue_config.max_samples_per_send;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        uint64_t now = vg_mono_ns();
        bool due = s->n >= max_per_send || (s->n && now - s->oldest_ns >= deadline_ns) || (s->stop && s->n);
        if (!due) {
            if (s->stop) break;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            uint64_t wait = s->n ? s->oldest_ns + deadline_ns - now : 1000000000u;
            ts.tv_sec += (time_t)(wait / 1000000000u);
            ts.tv_nsec += (long)(wait % 1000000000u);
            if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
            pthread_cond_timedwait(&s->cv_data, &s->mu, &ts);
            continue;
        }
        size_t k = s->n < max_per_send ? s->n : max_per_send;
        for (size_t i = 0; i < k; i++) sd->batch[i] = s->ring[(s->head + i) % s->cap];
        s->head = (s->head + k) % s->cap;
        s->n -= k;
        s->oldest_ns = now;
        pthread_cond_broadcast(&s->cv_space);
        pthread_mutex_unlock(&s->mu);
        bool answered = send_batch(s, sd, k);
        pthread_mutex_lock(&s->mu);
        if (!answered) break; /* aborted: neither these nor what is queued count as answered */
        atomic_fetch_add(&s->done, k);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

int remote__shard_start(remote__shard_t *s, vg_error_t *err) {
    const config_remote_write_t *rc = s->q->rc;
    sender_t *sd = calloc(1, sizeof *sd);
    if (!sd) return vg_error_set(err, VG_ENOMEM, "out of memory");
    s->priv = sd;
    int rc2 = sender_init(sd, rc, (size_t)rc->queue_config.max_samples_per_send, err);
    s->cap = (size_t)rc->queue_config.capacity;
    if (!rc2 && !(s->ring = malloc(s->cap * sizeof *s->ring))) rc2 = vg_error_set(err, VG_ENOMEM, "out of memory");
    if (rc2) {
        sender_free(sd);
        s->priv = NULL;
        return rc2;
    }
    s->head = s->n = 0;
    s->enq = 0;
    atomic_store(&s->done, 0);
    s->stop = false;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv_data, NULL);
    pthread_cond_init(&s->cv_space, NULL);
    if (pthread_create(&s->th, NULL, shard_main, s) != 0) {
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv_data);
        pthread_cond_destroy(&s->cv_space);
        sender_free(sd);
        s->priv = NULL;
        free(s->ring);
        s->ring = NULL;
        return vg_error_set(err, VG_ENOMEM, "cannot start a remote_write shard thread");
    }
    s->running = true;
    return 0;
}

void remote__shard_join(remote__shard_t *s) {
    if (!s->running) return;
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_broadcast(&s->cv_data);
    pthread_cond_broadcast(&s->cv_space);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->th, NULL);
    s->running = false;
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv_data);
    pthread_cond_destroy(&s->cv_space);
    sender_free(s->priv);
    s->priv = NULL;
    free(s->ring);
    s->ring = NULL;
}
