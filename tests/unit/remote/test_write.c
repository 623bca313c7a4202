/* remote_write out: the WriteRequest encoder round-trips through vigil's own decoder; a queue over a
 * scripted feed sends every sample exactly once to a local HTTP receiver in batches of at most
 * max_samples_per_send (or after batch_send_deadline), retries 5xx and (only with retry_on_http_429)
 * 429 honouring Retry-After, drops a batch answered with another 4xx, splits batches per tenant with
 * tenant_header, and saves the position it reached. */
#include "config/config.h"
#include "ingest/remote_write.h"
#include "remote/write.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

/* ---- a local receiver ---- */

#define MAX_REQ 512
typedef struct req {
    char tenant[64];
    char encoding[32], version[32], agent[64];
    size_t n_samples;
    int status; /* what we answered */
    char *series_dump; /* "labels t v\n" per sample, decoded with ingest_rw_reader */
} req_t;

typedef struct receiver {
    int fd, port;
    pthread_t th;
    pthread_mutex_t mu;
    int script[64]; /* statuses to answer in turn; then 200 */
    size_t n_script, next;
    const char *retry_after;
    req_t reqs[MAX_REQ];
    size_t n_reqs;
    volatile bool stop;
} receiver_t;

static void hdr_value(const char *head, const char *name, char *out, size_t cap) {
    out[0] = '\0';
    size_t nl = strlen(name);
    for (const char *p = head; p && *p; p = strstr(p, "\r\n")) {
        if (p[0] == '\r') p += 2;
        if (!strncasecmp(p, name, nl) && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ') v++;
            size_t k = strcspn(v, "\r\n");
            if (k >= cap) k = cap - 1;
            memcpy(out, v, k);
            out[k] = '\0';
            return;
        }
    }
}

static void record(receiver_t *r, const char *head, const uint8_t *body, size_t blen, int status) {
    req_t *q = &r->reqs[r->n_reqs < MAX_REQ ? r->n_reqs++ : MAX_REQ - 1];
    memset(q, 0, sizeof *q);
    hdr_value(head, "X-Scope-OrgID", q->tenant, sizeof q->tenant);
    hdr_value(head, "Content-Encoding", q->encoding, sizeof q->encoding);
    hdr_value(head, "X-Prometheus-Remote-Write-Version", q->version, sizeof q->version);
    hdr_value(head, "User-Agent", q->agent, sizeof q->agent);
    q->status = status;
    ingest_rw_reader_t rd;
    ingest_rw_reader_init(&rd, NULL);
    vg_error_t err;
    assert_int_equal(ingest_rw_reader_load(&rd, body, blen, &err), 0);
    vg_buf_t b = {0};
    ingest_rw_series_t s;
    while (ingest_rw_reader_next_series(&rd, &s) == 1) {
        char lab[512] = "";
        size_t k = 0;
        for (size_t i = 0; i < s.n_labels; i++)
            k += (size_t)snprintf(lab + k, sizeof lab - k, "%.*s=%.*s,", (int)s.labels[i].name.len, s.labels[i].name.ptr,
                                  (int)s.labels[i].value.len, s.labels[i].value.ptr);
        ingest_rw_sample_t sm;
        while (ingest_rw_series_next_sample(&s, &sm)) {
            vg_buf_printf(&b, "%s %lld %g\n", lab, (long long)sm.t_ms, sm.v);
            q->n_samples++;
        }
    }
    vg_buf_putc(&b, '\0');
    q->series_dump = b.data;
    ingest_rw_reader_deinit(&rd);
}

static void *receiver_main(void *arg) {
    receiver_t *r = arg;
    while (!r->stop) {
        int c = accept(r->fd, NULL, NULL);
        if (c < 0) continue;
        char *buf = malloc(1 << 22);
        size_t len = 0;
        for (;;) {
            char *end = NULL;
            while (!(end = len ? strstr(buf, "\r\n\r\n") : NULL)) {
                ssize_t k = read(c, buf + len, (1 << 22) - 1 - len);
                if (k <= 0) goto done;
                len += (size_t)k;
                buf[len] = '\0';
            }
            size_t hl = (size_t)(end - buf) + 4;
            char cl[32];
            buf[hl - 2] = '\0';
            hdr_value(buf, "Content-Length", cl, sizeof cl);
            size_t blen = (size_t)atol(cl);
            while (len < hl + blen) {
                ssize_t k = read(c, buf + len, (1 << 22) - 1 - len);
                if (k <= 0) goto done;
                len += (size_t)k;
            }
            pthread_mutex_lock(&r->mu);
            int status = r->next < r->n_script ? r->script[r->next++] : 200;
            record(r, buf, (const uint8_t *)buf + hl, blen, status);
            pthread_mutex_unlock(&r->mu);
            char resp[256];
            int n = snprintf(resp, sizeof resp, "HTTP/1.1 %d X\r\nContent-Length: 2\r\n%s%s%s\r\nno", status,
                             r->retry_after && status != 200 ? "Retry-After: " : "", r->retry_after && status != 200 ? r->retry_after : "",
                             r->retry_after && status != 200 ? "\r\n" : "");
            if (write(c, resp, (size_t)n) != n) goto done;
            memmove(buf, buf + hl + blen, len - hl - blen);
            len -= hl + blen;
            buf[len] = '\0';
        }
    done:
        free(buf);
        close(c);
    }
    return NULL;
}

static receiver_t *receiver_start(void) {
    receiver_t *r = calloc(1, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    r->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(r->fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t al = sizeof a;
    getsockname(r->fd, (struct sockaddr *)&a, &al);
    r->port = ntohs(a.sin_port);
    listen(r->fd, 16);
    struct timeval tv = {0, 100000};
    setsockopt(r->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    pthread_create(&r->th, NULL, receiver_main, r);
    return r;
}

static void receiver_stop(receiver_t *r) {
    r->stop = true;
    pthread_join(r->th, NULL);
    close(r->fd);
    for (size_t i = 0; i < r->n_reqs; i++) free(r->reqs[i].series_dump);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static size_t received(receiver_t *r, bool only_ok) {
    pthread_mutex_lock(&r->mu);
    size_t n = 0;
    for (size_t i = 0; i < r->n_reqs; i++)
        if (!only_ok || r->reqs[i].status == 200) n += r->reqs[i].n_samples;
    pthread_mutex_unlock(&r->mu);
    return n;
}

/* ---- a scripted feed: series refs 1..n_series, samples round-robin, position = sample index ---- */

typedef struct sfeed {
    storage_feed_t base;
    size_t n_series, n_samples, idx;
    bool series_sent;
    const char *const *tenants; /* namespace of series i (NULL entry: none) */
} sfeed_t;

static int sf_next(storage_feed_t *base, const storage_feed_handler_t *h, size_t max, int64_t wait_ms, vg_error_t *err) {
    (void)err;
    sfeed_t *f = (sfeed_t *)base;
    if (!f->series_sent) {
        for (size_t i = 0; i < f->n_series; i++) {
            char nm[32];
            snprintf(nm, sizeof nm, "s%zu", i);
            model_label_t l[3] = {{"__name__", "m"}, {"s", nm}};
            size_t n = 2;
            if (f->tenants && f->tenants[i]) l[n++] = (model_label_t){"namespace", f->tenants[i]};
            model_labels_sort(l, n);
            int rc = h->series(h->ctx, i + 1, l, n, 1);
            if (rc) return rc;
        }
        f->series_sent = true;
    }
    size_t done = 0;
    while (f->idx < f->n_samples && done < max) {
        storage_feed_sample_t s[100];
        size_t k = 0;
        while (k < 100 && f->idx + k < f->n_samples) {
            size_t i = f->idx + k;
            s[k] = (storage_feed_sample_t){.ref = i % f->n_series + 1, .t = 1000 + (int64_t)(i / f->n_series), .v = (double)i};
            k++;
        }
        int rc = h->samples(h->ctx, s, k);
        if (rc) return rc;
        f->idx += k;
        done += k;
    }
    if (!done && wait_ms > 0) usleep((useconds_t)wait_ms * 1000);
    return (int)done;
}
static void sf_position(const storage_feed_t *base, storage_feed_pos_t *out) {
    const sfeed_t *f = (const sfeed_t *)base;
    *out = (storage_feed_pos_t){1, 8 + f->idx};
}
static int64_t sf_newest(const storage_feed_t *base) {
    const sfeed_t *f = (const sfeed_t *)base;
    return 1000 + (int64_t)(f->n_samples / (f->n_series ? f->n_series : 1));
}
static void sf_free(storage_feed_t *base) { free(base); }
static const storage_feed_vt sf_vt = {.next = sf_next, .position = sf_position, .newest = sf_newest, .free = sf_free};

typedef struct script {
    size_t n_series, n_samples;
    const char *const *tenants;
    storage_feed_pos_t from; /* what the queue asked for */
    bool asked;
} script_t;

static int open_sfeed(void *ctx, const storage_feed_pos_t *from, storage_feed_t **out, vg_error_t *err) {
    (void)err;
    script_t *sc = ctx;
    sfeed_t *f = calloc(1, sizeof *f);
    f->base.vt = &sf_vt;
    f->n_series = sc->n_series;
    f->n_samples = sc->n_samples;
    f->tenants = sc->tenants;
    sc->asked = true;
    if (from) {
        sc->from = *from;
        f->idx = from->offset - 8;
    }
    *out = &f->base;
    return 0;
}

static config_t *cfg_for(receiver_t *r, const char *extra) {
    char text[2048];
    snprintf(text, sizeof text,
             "remote_write:\n  - url: http://127.0.0.1:%d/api/v1/write\n    name: t\n    queue_config:\n"
             "      max_samples_per_send: 500\n      batch_send_deadline: 200ms\n      min_backoff: 10ms\n"
             "      max_backoff: 50ms\n      capacity: 1000\n      max_shards: 1\n%s",
             r->port, extra ? extra : "");
    config_t *c;
    vg_error_t err;
    if (config_parse("test.yml", text, strlen(text), &c, &err)) fail_msg("config: %s", err.msg);
    return c;
}

static bool wait_for(receiver_t *r, size_t n, int ms) {
    for (int i = 0; i < ms / 10; i++) {
        if (received(r, true) >= n) return true;
        usleep(10000);
    }
    return received(r, true) >= n;
}

/* The position file's text (NUL-terminated; caller frees). */
static char *read_pos(const char *dir) {
    char p[512];
    snprintf(p, sizeof p, "%s/t.position", dir);
    uint8_t *b;
    size_t len;
    vg_error_t err;
    if (vg_fs_read_file(p, &b, &len, &err)) fail_msg("%s", err.msg);
    char *s = malloc(len + 1);
    memcpy(s, b, len);
    s[len] = '\0';
    free(b);
    return s;
}

static char *tmpdir(void) {
    char t[] = "/tmp/vigil-rw-XXXXXX";
    return strdup(mkdtemp(t));
}

static remote_write_t *start(config_t *c, script_t *sc, const char *dir) {
    remote_write_deps_t d = {.open_feed = open_sfeed, .feed_ctx = sc, .state_dir = dir};
    remote_write_t *q;
    vg_error_t err;
    if (remote_write_start(c, 0, &d, &q, &err)) fail_msg("start: %s", err.msg);
    return q;
}

/* ---- tests ---- */

static void encode_round_trip(void **st) {
    (void)st;
    model_label_t l1[] = {{"__name__", "up"}, {"job", "a\"b\n"}}, l2[] = {{"__name__", "x"}};
    int64_t t1[] = {0, -5, 1700000000000};
    double v1[] = {1.5, -0.0, 1e300};
    int64_t t2[] = {42};
    double stale;
    uint64_t sbits = 0x7ff0000000000002ull; /* Prometheus' staleness marker */
    memcpy(&stale, &sbits, 8);
    double v2[] = {stale};
    remote_pb_series_t s[] = {{l1, 2, t1, v1, 3}, {l2, 1, t2, v2, 1}};
    remote_pb_buf_t pb = {0}, out = {0};
    assert_int_equal(remote_pb_encode(s, 2, &pb, &out), 0);
    ingest_rw_reader_t rd;
    ingest_rw_reader_init(&rd, NULL);
    vg_error_t err;
    assert_int_equal(ingest_rw_reader_load(&rd, out.p, out.len, &err), 0);
    assert_int_equal(ingest_rw_reader_stats(&rd)->n_series, 2);
    assert_int_equal(ingest_rw_reader_stats(&rd)->n_samples, 4);
    ingest_rw_series_t rs;
    assert_int_equal(ingest_rw_reader_next_series(&rd, &rs), 1);
    assert_int_equal(rs.n_labels, 2);
    assert_int_equal(rs.labels[1].value.len, 4);
    assert_memory_equal(rs.labels[1].value.ptr, "a\"b\n", 4);
    ingest_rw_sample_t sm;
    for (int i = 0; i < 3; i++) {
        assert_true(ingest_rw_series_next_sample(&rs, &sm));
        assert_int_equal(sm.t_ms, t1[i]);
        assert_memory_equal(&sm.v, &v1[i], 8);
    }
    assert_false(ingest_rw_series_next_sample(&rs, &sm));
    assert_int_equal(ingest_rw_reader_next_series(&rd, &rs), 1);
    assert_true(ingest_rw_series_next_sample(&rs, &sm));
    uint64_t got;
    memcpy(&got, &sm.v, 8);
    assert_int_equal(got, sbits); /* bit-exact */
    assert_int_equal(ingest_rw_reader_next_series(&rd, &rs), 0);
    /* an empty request is valid too */
    assert_int_equal(remote_pb_encode(NULL, 0, &pb, &out), 0);
    assert_int_equal(ingest_rw_reader_load(&rd, out.p, out.len, &err), 0);
    assert_int_equal(ingest_rw_reader_stats(&rd)->n_series, 0);
    ingest_rw_reader_deinit(&rd);
    remote_pb_buf_free(&pb);
    remote_pb_buf_free(&out);
}

static void batches_and_position(void **st) {
    (void)st;
    receiver_t *r = receiver_start();
    config_t *c = cfg_for(r, NULL);
    char *dir = tmpdir();
    script_t sc = {.n_series = 10, .n_samples = 1200};
    remote_write_t *q = start(c, &sc, dir);
    assert_true(wait_for(r, 1200, 5000));
    usleep(300000);
    remote_write_stats_t s;
    remote_write_get_stats(q, &s);
    assert_int_equal(s.samples_sent, 1200);
    assert_int_equal(received(r, false), 1200); /* exactly once */
    pthread_mutex_lock(&r->mu);
    assert_int_equal(r->n_reqs, 3);
    for (size_t i = 0; i < r->n_reqs; i++) {
        assert_true(r->reqs[i].n_samples <= 500);
        assert_string_equal(r->reqs[i].encoding, "snappy");
        assert_string_equal(r->reqs[i].version, "0.1.0");
        assert_true(!strncmp(r->reqs[i].agent, "vigil/", 6));
        assert_string_equal(r->reqs[i].tenant, "");
    }
    /* a series' samples in time order, grouped in one TimeSeries */
    assert_non_null(strstr(r->reqs[0].series_dump, "__name__=m,s=s0, 1000 0\n__name__=m,s=s0, 1001 10\n"));
    pthread_mutex_unlock(&r->mu);
    remote_write_stop(q, 1000);
    /* the position file names the end */
    char *pos = read_pos(dir);
    assert_non_null(strstr(pos, "segment 1\noffset 1208\n"));
    free(pos);
    vg_error_t err;
    /* a restart resumes there and sends nothing again */
    sc.n_samples = 1300;
    q = start(c, &sc, dir);
    assert_true(wait_for(r, 1300, 5000));
    assert_true(sc.asked);
    assert_int_equal(sc.from.offset, 1208);
    usleep(300000);
    assert_int_equal(received(r, false), 1300);
    remote_write_stop(q, 1000);
    config_unref(c);
    receiver_stop(r);
    vg_fs_remove_all(dir, &err);
    free(dir);
}

static void retries_5xx_and_drops_4xx(void **st) {
    (void)st;
    receiver_t *r = receiver_start();
    r->script[0] = 500, r->script[1] = 503, r->script[2] = 400;
    r->n_script = 3;
    config_t *c = cfg_for(r, NULL);
    char *dir = tmpdir();
    script_t sc = {.n_series = 5, .n_samples = 1000};
    remote_write_t *q = start(c, &sc, dir);
    /* batch 1: 500, 503, then 400 → dropped; batch 2 sent */
    assert_true(wait_for(r, 500, 5000));
    usleep(300000);
    remote_write_stats_t s;
    remote_write_get_stats(q, &s);
    assert_int_equal(s.samples_sent, 500);
    assert_int_equal(s.samples_failed, 500);
    assert_int_equal(s.samples_retried, 1000);
    pthread_mutex_lock(&r->mu);
    assert_int_equal(r->n_reqs, 4);
    pthread_mutex_unlock(&r->mu);
    remote_write_stop(q, 1000);
    config_unref(c);
    receiver_stop(r);
    vg_error_t err;
    vg_fs_remove_all(dir, &err);
    free(dir);
}

static void http_429(void **st) {
    (void)st;
    /* without retry_on_http_429: dropped */
    receiver_t *r = receiver_start();
    r->script[0] = 429;
    r->n_script = 1;
    config_t *c = cfg_for(r, NULL);
    char *dir = tmpdir();
    script_t sc = {.n_series = 5, .n_samples = 500};
    remote_write_t *q = start(c, &sc, dir);
    for (int i = 0; i < 300; i++) {
        remote_write_stats_t s;
        remote_write_get_stats(q, &s);
        if (s.samples_failed) break;
        usleep(10000);
    }
    remote_write_stats_t s;
    remote_write_get_stats(q, &s);
    assert_int_equal(s.samples_failed, 500);
    assert_int_equal(s.samples_sent, 0);
    remote_write_stop(q, 1000);
    config_unref(c);
    receiver_stop(r);
    vg_error_t err;
    vg_fs_remove_all(dir, &err);
    /* with it: retried after Retry-After (1 s, longer than max_backoff) */
    r = receiver_start();
    r->script[0] = 429;
    r->n_script = 1;
    r->retry_after = "1";
    c = cfg_for(r, "      retry_on_http_429: true\n");
    sc = (script_t){.n_series = 5, .n_samples = 500};
    uint64_t t0 = vg_mono_ns();
    q = start(c, &sc, dir);
    assert_true(wait_for(r, 500, 5000));
    assert_true(vg_mono_ns() - t0 >= 1000000000u);
    remote_write_get_stats(q, &s);
    assert_int_equal(s.samples_failed, 0);
    assert_int_equal(s.samples_retried, 500);
    remote_write_stop(q, 1000);
    config_unref(c);
    receiver_stop(r);
    vg_fs_remove_all(dir, &err);
    free(dir);
}

static void per_tenant_requests(void **st) {
    (void)st;
    static const char *const tenants[] = {"client-a", "client-b", NULL, "client-a"};
    for (int with_default = 0; with_default < 2; with_default++) {
        receiver_t *r = receiver_start();
        config_t *c = cfg_for(r, with_default ? "    tenant_header: X-Scope-OrgID\n    default_tenant: shared\n"
                                              : "    tenant_header: X-Scope-OrgID\n");
        char *dir = tmpdir();
        script_t sc = {.n_series = 4, .n_samples = 400, .tenants = tenants};
        remote_write_t *q = start(c, &sc, dir);
        size_t want = with_default ? 400 : 300;
        assert_true(wait_for(r, want, 5000));
        usleep(300000);
        remote_write_stats_t s;
        remote_write_get_stats(q, &s);
        assert_int_equal(s.samples_sent, want);
        assert_int_equal(s.samples_dropped, 400 - want);
        pthread_mutex_lock(&r->mu);
        size_t per[3] = {0};
        for (size_t i = 0; i < r->n_reqs; i++) {
            const req_t *rq = &r->reqs[i];
            /* each request holds one tenant's series only */
            if (!strcmp(rq->tenant, "client-a")) {
                per[0] += rq->n_samples;
                assert_null(strstr(rq->series_dump, "client-b"));
                assert_null(strstr(rq->series_dump, "s=s2,"));
            } else if (!strcmp(rq->tenant, "client-b")) {
                per[1] += rq->n_samples;
                assert_null(strstr(rq->series_dump, "client-a"));
            } else {
                assert_string_equal(rq->tenant, "shared");
                per[2] += rq->n_samples;
                assert_null(strstr(rq->series_dump, "namespace"));
            }
        }
        assert_int_equal(per[0], 200);
        assert_int_equal(per[1], 100);
        assert_int_equal(per[2], with_default ? 100 : 0);
        pthread_mutex_unlock(&r->mu);
        remote_write_stop(q, 1000);
        config_unref(c);
        receiver_stop(r);
        vg_error_t err;
        vg_fs_remove_all(dir, &err);
        free(dir);
    }
}

/* A receiver that never answers 2xx: stop gives up at the flush bound and keeps the position before
 * what was not answered. */
static void stop_is_bounded(void **st) {
    (void)st;
    receiver_t *r = receiver_start();
    for (int i = 0; i < 64; i++) r->script[i] = 503;
    r->n_script = 64;
    config_t *c = cfg_for(r, NULL);
    char *dir = tmpdir();
    script_t sc = {.n_series = 5, .n_samples = 700};
    remote_write_t *q = start(c, &sc, dir);
    usleep(500000);
    uint64_t t0 = vg_mono_ns();
    remote_write_stop(q, 300);
    assert_true(vg_mono_ns() - t0 < 2000000000u);
    char *pos = read_pos(dir);
    assert_non_null(strstr(pos, "segment 1\noffset 8\n")); /* nothing answered: the start */
    free(pos);
    vg_error_t err;
    config_unref(c);
    receiver_stop(r);
    vg_fs_remove_all(dir, &err);
    free(dir);
}

int main(void) {
    vg_log_set_level(VG_LOG_ERROR);
    const struct CMUnitTest tests[] = {cmocka_unit_test(encode_round_trip), cmocka_unit_test(batches_and_position),
                                       cmocka_unit_test(retries_5xx_and_drops_4xx), cmocka_unit_test(http_429),
                                       cmocka_unit_test(per_tenant_requests), cmocka_unit_test(stop_is_bounded)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
