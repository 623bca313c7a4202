/* The Alertmanager notifier against a local HTTP receiver (libmicrohttpd in this process) that records
 * every request: the v2 JSON body, external labels and alert relabeling, auth headers, path_prefix,
 * batching at 64, queue overflow dropping the oldest, failures counted per Alertmanager, Alertmanager
 * relabeling into active and dropped URLs, and reload. */
#include "rules/notifier.h"

#include "selfmon/selfmon.h"

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

/* ---- the receiver ---- */

#define RX_MAX 64

typedef struct rx_req {
    char path[256], auth[512], ctype[128];
    json_t *body; /* the parsed array, or NULL */
} rx_req_t;

typedef struct rx {
    struct MHD_Daemon *d;
    int port;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    rx_req_t reqs[RX_MAX];
    size_t n, arrived; /* recorded; arrived (including held ones) */
    unsigned status;
    bool hold;
} rx_t;

typedef struct conn {
    char *buf;
    size_t len;
} conn_t;

static enum MHD_Result rx_access(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                 const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    (void)method, (void)version;
    rx_t *rx = cls;
    conn_t *cn = *con_cls;
    if (!cn) {
        *con_cls = calloc(1, sizeof(conn_t));
        return *con_cls ? MHD_YES : MHD_NO;
    }
    if (*upload_size) {
        char *nb = realloc(cn->buf, cn->len + *upload_size + 1);
        if (!nb) return MHD_NO;
        memcpy(nb + cn->len, upload, *upload_size);
        cn->buf = nb;
        cn->len += *upload_size;
        cn->buf[cn->len] = '\0';
        *upload_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&rx->mu);
    rx->arrived++;
    pthread_cond_broadcast(&rx->cv);
    while (rx->hold) pthread_cond_wait(&rx->cv, &rx->mu);
    if (rx->n < RX_MAX) {
        rx_req_t *r = &rx->reqs[rx->n++];
        const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
        const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
        snprintf(r->path, sizeof r->path, "%s", url);
        snprintf(r->auth, sizeof r->auth, "%s", a ? a : "");
        snprintf(r->ctype, sizeof r->ctype, "%s", ct ? ct : "");
        r->body = cn->buf ? json_loads(cn->buf, 0, NULL) : NULL;
    }
    unsigned status = rx->status;
    pthread_cond_broadcast(&rx->cv);
    pthread_mutex_unlock(&rx->mu);
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void rx_done(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)cls, (void)c, (void)toe;
    conn_t *cn = *con_cls;
    if (cn) free(cn->buf);
    free(cn);
    *con_cls = NULL;
}

static rx_t *rx_start(unsigned status) {
    rx_t *rx = calloc(1, sizeof *rx);
    assert_non_null(rx);
    pthread_mutex_init(&rx->mu, NULL);
    pthread_cond_init(&rx->cv, NULL);
    rx->status = status;
    rx->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL, rx_access, rx,
                             MHD_OPTION_NOTIFY_COMPLETED, rx_done, rx, MHD_OPTION_END);
    assert_non_null(rx->d);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(rx->d, MHD_DAEMON_INFO_BIND_PORT);
    assert_non_null(info);
    rx->port = info->port;
    return rx;
}

static void rx_release(rx_t *rx) {
    pthread_mutex_lock(&rx->mu);
    rx->hold = false;
    pthread_cond_broadcast(&rx->cv);
    pthread_mutex_unlock(&rx->mu);
}

static void rx_stop(rx_t *rx) {
    rx_release(rx);
    MHD_stop_daemon(rx->d);
    for (size_t i = 0; i < rx->n; i++) json_decref(rx->reqs[i].body);
    pthread_mutex_destroy(&rx->mu);
    pthread_cond_destroy(&rx->cv);
    free(rx);
}

/* Waits until `want` requests arrived (held ones included). */
static void rx_wait_arrived(rx_t *rx, size_t want) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 10;
    pthread_mutex_lock(&rx->mu);
    while (rx->arrived < want)
        if (pthread_cond_timedwait(&rx->cv, &rx->mu, &ts)) break;
    size_t got = rx->arrived;
    pthread_mutex_unlock(&rx->mu);
    assert_int_equal(got, want);
}

/* ---- helpers ---- */

static config_t *cfg_of(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static config_t *cfg_of(const char *fmt, ...) {
    char yaml[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(yaml, sizeof yaml, fmt, ap);
    va_end(ap);
    config_t *c = NULL;
    vg_error_t err;
    if (config_parse("t.yml", yaml, strlen(yaml), &c, &err)) fail_msg("config %d:%d: %s\n%s", err.line, err.col, err.msg, yaml);
    return c;
}

static rules_notifier_t *notifier_of(config_t *c) {
    rules_notifier_t *n = NULL;
    vg_error_t err;
    if (rules_notifier_new(c, &n, &err)) fail_msg("rules_notifier_new: %s", err.msg);
    return n;
}

/* An alert named `name` with one more label and annotation (label names sorted). */
typedef struct talert {
    model_label_t labels[3], ann[1];
    char name[32];
    rules_alert_t a;
} talert_t;

static void talert_init(talert_t *t, const char *name, const char *severity) {
    snprintf(t->name, sizeof t->name, "%s", name);
    size_t n = 0;
    t->labels[n++] = (model_label_t){"alertname", t->name};
    t->labels[n++] = (model_label_t){"job", "node"};
    if (severity) t->labels[n++] = (model_label_t){"severity", severity};
    t->ann[0] = (model_label_t){"summary", "disk is full"};
    t->a = (rules_alert_t){.labels = t->labels, .n_labels = n, .annotations = t->ann, .n_annotations = 1,
                           .starts_at_ms = 1700000000123, .ends_at_ms = 0, .generator_url = "http://vigil:9290/graph"};
}

static const char *jlabel(json_t *alert, const char *name) {
    return json_string_value(json_object_get(json_object_get(alert, "labels"), name));
}

static size_t total_alerts(rx_t *rx) {
    size_t t = 0;
    for (size_t i = 0; i < rx->n; i++) t += json_array_size(rx->reqs[i].body);
    return t;
}

/* ---- tests ---- */

static void encode_body(void **state) {
    (void)state;
    model_label_t l[] = {{"alertname", "HighLatency"}, {"path", "/a\"b"}};
    model_label_t an[] = {{"description", "p99 > 1s"}, {"summary", "<slow>"}};
    rules_alert_t a[] = {
        {.labels = l, .n_labels = 2, .annotations = an, .n_annotations = 2, .starts_at_ms = 1700000000123,
         .ends_at_ms = 1700000300000, .generator_url = "http://v/graph?g0.expr=up"},
        {.labels = l, .n_labels = 1, .starts_at_ms = 5, .ends_at_ms = 0, .generator_url = NULL},
    };
    vg_buf_t b = VG_BUF_INIT;
    rules_notifier_encode(a, 2, &b);
    assert_string_equal(b.data,
                        "[{\"annotations\":{\"description\":\"p99 \\u003e 1s\",\"summary\":\"\\u003cslow\\u003e\"},"
                        "\"endsAt\":\"2023-11-14T22:18:20.000Z\",\"startsAt\":\"2023-11-14T22:13:20.123Z\","
                        "\"generatorURL\":\"http://v/graph?g0.expr=up\","
                        "\"labels\":{\"alertname\":\"HighLatency\",\"path\":\"/a\\\"b\"}},"
                        "{\"annotations\":{},\"startsAt\":\"1970-01-01T00:00:00.005Z\",\"labels\":{\"alertname\":\"HighLatency\"}}]");
    vg_buf_deinit(&b);
    b = (vg_buf_t)VG_BUF_INIT;
    rules_notifier_encode(NULL, 0, &b);
    assert_string_equal(b.data, "[]");
    vg_buf_deinit(&b);
}

/* External labels an alert lacks are added, alert_relabel_configs apply after them (drop and modify),
 * the path prefix and basic auth reach the Alertmanager. */
static void deliver_relabel_auth(void **state) {
    (void)state;
    rx_t *rx = rx_start(200);
    config_t *c = cfg_of("global:\n  external_labels: {cluster: eu1, severity: none}\n"
                         "alerting:\n"
                         "  alert_relabel_configs:\n"
                         "    - {source_labels: [alertname], regex: Drop.*, action: drop}\n"
                         "    - {source_labels: [cluster], target_label: region, regex: '(..).*', replacement: '$1'}\n"
                         "  alertmanagers:\n"
                         "    - path_prefix: /am/\n"
                         "      basic_auth: {username: vigil, password: s3cret}\n"
                         "      static_configs: [{targets: ['127.0.0.1:%d']}]\n",
                         rx->port);
    rules_notifier_t *n = notifier_of(c);
    talert_t t[3];
    talert_init(&t[0], "DiskFull", "page");
    talert_init(&t[1], "DropMe", NULL);
    talert_init(&t[2], "CPUHigh", NULL);
    rules_alert_t a[3] = {t[0].a, t[1].a, t[2].a};
    rules_notifier_send(n, a, 3);
    assert_true(rules_notifier_flush(n, 10000));
    assert_int_equal(rx->n, 1);
    assert_string_equal(rx->reqs[0].path, "/am/api/v2/alerts");
    assert_string_equal(rx->reqs[0].auth, "Basic dmlnaWw6czNjcmV0"); /* vigil:s3cret */
    assert_string_equal(rx->reqs[0].ctype, "application/json");
    json_t *body = rx->reqs[0].body;
    assert_int_equal(json_array_size(body), 2);
    json_t *a0 = json_array_get(body, 0), *a1 = json_array_get(body, 1);
    assert_string_equal(jlabel(a0, "alertname"), "DiskFull");
    assert_string_equal(jlabel(a0, "severity"), "page"); /* the alert's own label wins */
    assert_string_equal(jlabel(a0, "cluster"), "eu1");
    assert_string_equal(jlabel(a0, "region"), "eu");
    assert_int_equal(json_object_size(json_object_get(a0, "labels")), 5);
    assert_string_equal(jlabel(a1, "alertname"), "CPUHigh");
    assert_string_equal(jlabel(a1, "severity"), "none"); /* from the external labels */
    assert_string_equal(json_string_value(json_object_get(a0, "startsAt")), "2023-11-14T22:13:20.123Z");
    assert_null(json_object_get(a0, "endsAt"));
    assert_string_equal(json_string_value(json_object_get(a0, "generatorURL")), "http://vigil:9290/graph");
    assert_string_equal(json_string_value(json_object_get(json_object_get(a0, "annotations"), "summary")), "disk is full");
    rules_notifier_stats_t st;
    rules_notifier_stats(n, &st);
    assert_int_equal(st.sent, 2);
    assert_int_equal(st.errors, 0);
    assert_int_equal(st.dropped, 0);
    rules_notifier_free(n, 1000);
    config_unref(c);
    rx_stop(rx);
}

static void authorization_credentials_file(void **state) {
    (void)state;
    rx_t *rx = rx_start(200);
    char path[] = "/tmp/vigil-notifier-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "t0ken\n", 6), 6);
    close(fd);
    config_t *c = cfg_of("alerting:\n  alertmanagers:\n"
                         "    - authorization: {type: Token, credentials_file: %s}\n"
                         "      static_configs: [{targets: ['127.0.0.1:%d']}]\n"
                         "    - bearer_token: b34rer\n"
                         "      path_prefix: other\n"
                         "      static_configs: [{targets: ['127.0.0.1:%d']}]\n",
                         path, rx->port, rx->port);
    rules_notifier_t *n = notifier_of(c);
    talert_t t;
    talert_init(&t, "A", NULL);
    rules_notifier_send(n, &t.a, 1);
    assert_true(rules_notifier_flush(n, 10000));
    assert_int_equal(rx->n, 2); /* each set gets every batch */
    bool token = false, bearer = false;
    for (size_t i = 0; i < rx->n; i++) {
        if (!strcmp(rx->reqs[i].auth, "Token t0ken") && !strcmp(rx->reqs[i].path, "/api/v2/alerts")) token = true;
        if (!strcmp(rx->reqs[i].auth, "Bearer b34rer") && !strcmp(rx->reqs[i].path, "/other/api/v2/alerts")) bearer = true;
    }
    assert_true(token);
    assert_true(bearer);
    /* an unreadable credentials file is an error of that Alertmanager */
    unlink(path);
    rules_notifier_send(n, &t.a, 1);
    assert_true(rules_notifier_flush(n, 10000));
    assert_int_equal(rx->n, 3);
    rules_notifier_stats_t st;
    rules_notifier_stats(n, &st);
    assert_int_equal(st.sent, 3);
    assert_int_equal(st.errors, 1);
    assert_int_equal(st.dropped, 1); /* the first set accepted nothing */
    rules_notifier_free(n, 1000);
    config_unref(c);
    rx_stop(rx);
}

/* A 500 is an error of that Alertmanager, counted by the alerts it carried, in the stats and in
 * vigil_notifications_errors_total{alertmanager}; the batch is dropped, not retried. */
static void server_error_counted(void **state) {
    (void)state;
    rx_t *rx = rx_start(500);
    config_t *c = cfg_of("alerting:\n  alertmanagers: [{static_configs: [{targets: ['127.0.0.1:%d']}]}]\n", rx->port);
    rules_notifier_t *n = notifier_of(c);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v2/alerts", rx->port);
    const char *lv[] = {url};
    selfmon_metric_t *errs = selfmon_with(selfmon_counter(selfmon_default(), "vigil_notifications_errors_total", "", 1,
                                                          (const char *[]){"alertmanager"}),
                                          lv);
    double before = selfmon_value(errs);
    talert_t t[2];
    talert_init(&t[0], "A", NULL);
    talert_init(&t[1], "B", NULL);
    rules_alert_t a[2] = {t[0].a, t[1].a};
    rules_notifier_send(n, a, 2);
    assert_true(rules_notifier_flush(n, 10000));
    assert_int_equal(rx->n, 1);
    rules_notifier_stats_t st;
    rules_notifier_stats(n, &st);
    assert_int_equal(st.errors, 2);
    assert_int_equal(st.sent, 0);
    assert_int_equal(st.dropped, 2);
    assert_int_equal(st.posts, 1);
    assert_true(selfmon_value(errs) - before == 2.0);
    rules_notifier_free(n, 1000);
    config_unref(c);
    rx_stop(rx);
}

static void batches_of_64(void **state) {
    (void)state;
    rx_t *rx = rx_start(200);
    config_t *c = cfg_of("alerting:\n  alertmanagers: [{static_configs: [{targets: ['127.0.0.1:%d']}]}]\n", rx->port);
    rules_notifier_t *n = notifier_of(c);
    enum { N = 150 };
    talert_t *t = calloc(N, sizeof *t);
    rules_alert_t *a = calloc(N, sizeof *a);
    for (int i = 0; i < N; i++) {
        char name[16];
        snprintf(name, sizeof name, "A%03d", i);
        talert_init(&t[i], name, NULL);
        a[i] = t[i].a;
    }
    rules_notifier_send(n, a, N);
    assert_true(rules_notifier_flush(n, 10000));
    assert_int_equal(rx->n, 3);
    assert_int_equal(json_array_size(rx->reqs[0].body), 64);
    assert_int_equal(json_array_size(rx->reqs[1].body), 64);
    assert_int_equal(json_array_size(rx->reqs[2].body), 22);
    /* in order */
    assert_string_equal(jlabel(json_array_get(rx->reqs[0].body, 0), "alertname"), "A000");
    assert_string_equal(jlabel(json_array_get(rx->reqs[2].body, 21), "alertname"), "A149");
    rules_notifier_free(n, 1000);
    config_unref(c);
    free(t);
    free(a);
    rx_stop(rx);
}

/* More alerts than the capacity in one call: the oldest are dropped and counted. */
static void overflow_one_call(void **state) {
    (void)state;
    rx_t *rx = rx_start(200);
    config_t *c = cfg_of("alerting:\n  notification_queue_capacity: 10\n"
                         "  alertmanagers: [{static_configs: [{targets: ['127.0.0.1:%d']}]}]\n",
                         rx->port);
    rules_notifier_t *n = notifier_of(c);
    talert_t t[25];
    rules_alert_t a[25];
    for (int i = 0; i < 25; i++) {
        char name[16];
        snprintf(name, sizeof name, "A%02d", i);
        talert_init(&t[i], name, NULL);
        a[i] = t[i].a;
    }
    rules_notifier_send(n, a, 25);
    assert_true(rules_notifier_flush(n, 10000));
    rules_notifier_stats_t st;
    rules_notifier_stats(n, &st);
    assert_int_equal(st.dropped, 15);
    assert_int_equal(st.queue_capacity, 10);
    assert_int_equal(total_alerts(rx), 10);
    assert_string_equal(jlabel(json_array_get(rx->reqs[0].body, 0), "alertname"), "A15");
    rules_notifier_free(n, 1000);
    config_unref(c);
    rx_stop(rx);
}

/* While a batch is in flight the queue fills; a full queue drops its oldest alerts. */
static void overflow_drops_oldest(void **state) {
    (void)state;
    rx_t *rx = rx_start(200);
    rx->hold = true;
    config_t *c = cfg_of("alerting:\n  notification_queue_capacity: 10\n"
                         "  alertmanagers: [{static_configs: [{targets: ['127.0.0.1:%d']}]}]\n",
                         rx->port);
    rules_notifier_t *n = notifier_of(c);
    talert_t t[17];
    rules_alert_t a[17];
    for (int i = 0; i < 17; i++) {
        char name[16];
        snprintf(name, sizeof name, "A%02d", i);
        talert_init(&t[i], name, NULL);
        a[i] = t[i].a;
    }
    rules_notifier_send(n, a, 1);
    rx_wait_arrived(rx, 1); /* A00 is in flight, held by the receiver */
    rules_notifier_send(n, a + 1, 8);
    rules_notifier_send(n, a + 9, 8); /* 16 queued > 10: A01..A06 go */
    rules_notifier_stats_t st;
    rules_notifier_stats(n, &st);
    assert_int_equal(st.dropped, 6);
    assert_int_equal(st.queue_length, 10);
    rx_release(rx);
    assert_true(rules_notifier_flush(n, 10000));
    assert_int_equal(rx->n, 2);
    assert_int_equal(json_array_size(rx->reqs[1].body), 10);
    assert_string_equal(jlabel(json_array_get(rx->reqs[1].body, 0), "alertname"), "A07");
    assert_string_equal(jlabel(json_array_get(rx->reqs[1].body, 9), "alertname"), "A16");
    rules_notifier_free(n, 1000);
    config_unref(c);
    rx_stop(rx);
}

/* Alertmanager relabeling over __address__, __scheme__, __alerts_path__ and group labels: kept URLs
 * are active (deduplicated), dropped ones keep their URL from before relabeling. */
static void alertmanager_urls(void **state) {
    (void)state;
    config_t *c = cfg_of("alerting:\n  alertmanagers:\n"
                         "    - scheme: https\n      path_prefix: /prefix\n"
                         "      static_configs:\n"
                         "        - {targets: ['am1:9093', 'am2:9093', 'am1:9093'], labels: {dc: west}}\n"
                         "        - {targets: ['am3:9093'], labels: {dc: east}}\n"
                         "      relabel_configs:\n"
                         "        - {source_labels: [dc], regex: east, action: drop}\n"
                         "        - {source_labels: [__address__], regex: 'am2:.*', target_label: __alerts_path__, replacement: /v2only/api/v2/alerts}\n"
                         "    - static_configs: [{targets: ['127.0.0.1:1']}]\n");
    rules_notifier_t *n = notifier_of(c);
    char **act, **drop;
    size_t na, nd;
    assert_int_equal(rules_notifier_alertmanagers(n, &act, &na, &drop, &nd), 0);
    assert_int_equal(na, 3);
    assert_string_equal(act[0], "https://am1:9093/prefix/api/v2/alerts");
    assert_string_equal(act[1], "https://am2:9093/v2only/api/v2/alerts");
    assert_string_equal(act[2], "http://127.0.0.1:1/api/v2/alerts");
    assert_int_equal(nd, 1);
    assert_string_equal(drop[0], "https://am3:9093/prefix/api/v2/alerts");
    for (size_t i = 0; i < na; i++) free(act[i]);
    for (size_t i = 0; i < nd; i++) free(drop[i]);
    free(act);
    free(drop);
    rules_notifier_free(n, 0);
    config_unref(c);
}

/* Reload: the new Alertmanagers get what was queued before; a lower capacity keeps the newest. */
static void apply_keeps_queue(void **state) {
    (void)state;
    rx_t *rx = rx_start(200);
    rx->hold = true;
    config_t *c1 = cfg_of("alerting:\n  alertmanagers: [{static_configs: [{targets: ['127.0.0.1:%d']}]}]\n", rx->port);
    rules_notifier_t *n = notifier_of(c1);
    talert_t t[6];
    rules_alert_t a[6];
    for (int i = 0; i < 6; i++) {
        char name[16];
        snprintf(name, sizeof name, "A%d", i);
        talert_init(&t[i], name, NULL);
        a[i] = t[i].a;
    }
    rules_notifier_send(n, a, 1);
    rx_wait_arrived(rx, 1);
    rules_notifier_send(n, a + 1, 5);
    config_t *c2 = cfg_of("global: {external_labels: {replica: b}}\nalerting:\n  notification_queue_capacity: 3\n"
                          "  alertmanagers: [{path_prefix: /new, static_configs: [{targets: ['127.0.0.1:%d']}]}]\n",
                          rx->port);
    vg_error_t err;
    assert_int_equal(rules_notifier_apply(n, c2, &err), 0);
    rules_notifier_stats_t st;
    rules_notifier_stats(n, &st);
    assert_int_equal(st.queue_length, 3);
    assert_int_equal(st.dropped, 2);
    rx_release(rx);
    assert_true(rules_notifier_flush(n, 10000));
    assert_int_equal(rx->n, 2);
    assert_string_equal(rx->reqs[1].path, "/new/api/v2/alerts");
    assert_int_equal(json_array_size(rx->reqs[1].body), 3);
    assert_string_equal(jlabel(json_array_get(rx->reqs[1].body, 0), "alertname"), "A3");
    /* external labels are added when an alert is queued, so the queued ones kept the old (none) */
    assert_null(jlabel(json_array_get(rx->reqs[1].body, 0), "replica"));
    rules_notifier_free(n, 1000);
    config_unref(c1);
    config_unref(c2);
    rx_stop(rx);
}

/* With no Alertmanager, alerts are taken off the queue and go nowhere; free with a timeout returns. */
static void no_alertmanagers(void **state) {
    (void)state;
    config_t *c = cfg_of("alerting: {}\n");
    rules_notifier_t *n = notifier_of(c);
    talert_t t;
    talert_init(&t, "A", NULL);
    rules_notifier_send(n, &t.a, 1);
    assert_true(rules_notifier_flush(n, 10000));
    rules_notifier_stats_t st;
    rules_notifier_stats(n, &st);
    assert_int_equal(st.posts, 0);
    assert_int_equal(st.queue_capacity, 10000);
    rules_notifier_free(n, 100);
    config_unref(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(encode_body),          cmocka_unit_test(deliver_relabel_auth),
        cmocka_unit_test(authorization_credentials_file), cmocka_unit_test(server_error_counted),
        cmocka_unit_test(batches_of_64),        cmocka_unit_test(overflow_one_call),
        cmocka_unit_test(overflow_drops_oldest), cmocka_unit_test(alertmanager_urls),
        cmocka_unit_test(apply_keeps_queue),    cmocka_unit_test(no_alertmanagers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
