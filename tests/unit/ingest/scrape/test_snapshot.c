/* The scraper's targets snapshot: what it copies (labels, discovered labels, pool, URL, intervals,
 * health, last error, metadata), which lists the flags select, and that it owns its memory (it stays
 * readable after the scraper drops the targets it was taken from; ASan checks that). The scraper runs
 * for real against a one-shot HTTP server in a thread and an address that refuses connections. */
#include "config/config.h"
#include "ingest/scrape/scrape.h"
#include "util/timeutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

/* ---- an appender that accepts everything ---- */

typedef struct {
    storage_appender_t base;
    uint64_t next_ref;
} fake_app_t;

static atomic_int n_commits;

static int fake_append(storage_appender_t *a, const model_label_t *l, size_t n, int64_t t, double v, uint64_t *ref,
                       vg_error_t *err) {
    (void)l, (void)n, (void)t, (void)v, (void)err;
    if (ref) *ref = ++((fake_app_t *)a)->next_ref;
    return 0;
}
static int fake_append_ref(storage_appender_t *a, uint64_t ref, int64_t t, double v, vg_error_t *err) {
    (void)a, (void)ref, (void)t, (void)v, (void)err;
    return VG_ENOTFOUND;
}
static int fake_commit(storage_appender_t *a, vg_error_t *err) {
    (void)a, (void)err;
    atomic_fetch_add(&n_commits, 1);
    return 0;
}
static void fake_rollback(storage_appender_t *a) { (void)a; }
static void fake_free(storage_appender_t *a) { free(a); }
static const storage_appender_vt fake_vt = {fake_append, fake_append_ref, fake_commit, fake_rollback, fake_free};

static int new_appender(void *ctx, storage_appender_t **out, vg_error_t *err) {
    (void)ctx;
    fake_app_t *a = calloc(1, sizeof *a);
    if (!a) return vg_error_set(err, VG_ENOMEM, "out of memory");
    a->base.vt = &fake_vt;
    *out = &a->base;
    return 0;
}

/* ---- a tiny exposition server ---- */

static const char exposition[] = "# TYPE demo_requests counter\n"
                                 "# HELP demo_requests Requests served.\n"
                                 "demo_requests_total 7\n"
                                 "# TYPE demo_temperature_celsius gauge\n"
                                 "# UNIT demo_temperature_celsius celsius\n"
                                 "demo_temperature_celsius 21.5\n"
                                 "# EOF\n";

typedef struct {
    int fd;
    int port;
    atomic_bool stop;
    pthread_t thread;
} server_t;

static void *serve(void *arg) {
    server_t *sv = arg;
    while (!atomic_load(&sv->stop)) {
        struct pollfd p = {sv->fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0) continue;
        int c = accept(sv->fd, NULL, NULL);
        if (c < 0) continue;
        char req[4096];
        size_t got = 0;
        ssize_t r;
        while (got < sizeof req - 1 && (r = read(c, req + got, sizeof req - 1 - got)) > 0) {
            got += (size_t)r;
            req[got] = '\0';
            if (strstr(req, "\r\n\r\n")) break;
        }
        char resp[1024];
        int n = snprintf(resp, sizeof resp,
                         "HTTP/1.1 200 OK\r\nContent-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\nContent-Length: %zu\r\n"
                         "Connection: close\r\n\r\n%s",
                         strlen(exposition), exposition);
        if (write(c, resp, (size_t)n) != n) { /* the scrape fails; the test notices */
        }
        close(c);
    }
    return NULL;
}

static void server_start(server_t *sv) {
    memset(sv, 0, sizeof *sv);
    sv->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(sv->fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(sv->fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(sv->fd, 16), 0);
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(sv->fd, (struct sockaddr *)&a, &len), 0);
    sv->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&sv->thread, NULL, serve, sv), 0);
}

static void server_stop(server_t *sv) {
    atomic_store(&sv->stop, true);
    pthread_join(sv->thread, NULL);
    close(sv->fd);
}

/* ---- helpers ---- */

static config_t *parse(const char *yaml) {
    config_t *c;
    vg_error_t err;
    if (config_parse("t.yml", yaml, strlen(yaml), &c, &err)) fail_msg("config: %d:%d %s", err.line, err.col, err.msg);
    return c;
}

static const ingest_target_status_t *find(const ingest_targets_snapshot_t *s, const char *pool) {
    for (size_t i = 0; i < s->n_active; i++)
        if (!strcmp(s->active[i].scrape_pool, pool)) return &s->active[i];
    return NULL;
}

static const char *label(const model_label_t *l, size_t n, const char *name) {
    const char *v = model_labels_get(l, n, name);
    return v ? v : "(none)";
}

/* Takes snapshots until every active target has been scraped (at most 10 s). */
static ingest_targets_snapshot_t *wait_scraped(ingest_scraper_t *s, unsigned flags) {
    for (int i = 0; i < 200; i++) {
        ingest_targets_snapshot_t *snap;
        assert_int_equal(ingest_scraper_targets_snapshot(s, flags, &snap), 0);
        bool done = snap->n_active > 0;
        for (size_t k = 0; k < snap->n_active && done; k++) {
            const ingest_target_status_t *t = &snap->active[k];
            done = t->health != INGEST_TARGET_UNKNOWN && (t->health == INGEST_TARGET_DOWN || t->n_meta > 0 ||
                                                          !(flags & INGEST_SNAPSHOT_METADATA));
        }
        if (done) return snap;
        ingest_targets_snapshot_free(snap);
        usleep(50000);
    }
    fail_msg("targets were not scraped in time");
    return NULL;
}

/* ---- tests ---- */

static void snapshot_contents(void **state) {
    (void)state;
    server_t sv;
    server_start(&sv);
    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             "scrape_configs:\n"
             "  - job_name: app\n"
             "    scrape_interval: 200ms\n"
             "    scrape_timeout: 150ms\n"
             "    static_configs: [{targets: ['127.0.0.1:%d'], labels: {namespace: client-a}}]\n"
             "  - job_name: gone\n"
             "    scrape_interval: 200ms\n"
             "    scrape_timeout: 150ms\n"
             "    static_configs: [{targets: ['127.0.0.1:1', 'drop.example:9100']}]\n"
             "    relabel_configs: [{source_labels: [__address__], regex: 'drop\\..*', action: drop}]\n",
             sv.port);
    config_t *cfg = parse(yaml);
    ingest_scraper_t *s;
    vg_error_t err;
    assert_int_equal(ingest_scraper_start(cfg, new_appender, NULL, &s, &err), 0);

    ingest_targets_snapshot_t *all =
        wait_scraped(s, INGEST_SNAPSHOT_ACTIVE | INGEST_SNAPSHOT_DROPPED | INGEST_SNAPSHOT_METADATA);
    assert_int_equal(all->n_active, 2);
    assert_int_equal(all->n_dropped, 1);

    const ingest_target_status_t *app = find(all, "app");
    assert_non_null(app);
    char url[64], addr[32];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", sv.port);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", sv.port);
    assert_string_equal(app->url, url);
    assert_string_equal(label(app->labels, app->n_labels, "job"), "app");
    assert_string_equal(label(app->labels, app->n_labels, "instance"), addr);
    assert_string_equal(label(app->labels, app->n_labels, "namespace"), "client-a");
    assert_int_equal(app->n_labels, 3);
    assert_string_equal(label(app->discovered, app->n_discovered, "__address__"), addr);
    assert_string_equal(label(app->discovered, app->n_discovered, "__metrics_path__"), "/metrics");
    assert_int_equal(app->health, INGEST_TARGET_UP);
    assert_string_equal(app->last_error, "");
    assert_true(app->last_scrape_ms > 0);
    assert_true(app->last_duration_s >= 0);
    assert_int_equal(app->interval_ms, 200);
    assert_int_equal(app->timeout_ms, 150);
    assert_int_equal(app->n_meta, 2);
    assert_string_equal(app->meta[0].family, "demo_requests");
    assert_int_equal(app->meta[0].type, INGEST_MTYPE_COUNTER);
    assert_string_equal(app->meta[0].help, "Requests served.");
    assert_string_equal(app->meta[0].unit, "");
    assert_string_equal(app->meta[1].family, "demo_temperature_celsius");
    assert_int_equal(app->meta[1].type, INGEST_MTYPE_GAUGE);
    assert_string_equal(app->meta[1].help, "");
    assert_string_equal(app->meta[1].unit, "celsius");

    const ingest_target_status_t *down = find(all, "gone");
    assert_non_null(down);
    assert_int_equal(down->health, INGEST_TARGET_DOWN);
    assert_true(strlen(down->last_error) > 0);
    assert_int_equal(down->n_meta, 0);

    const ingest_target_status_t *d = &all->dropped[0];
    assert_string_equal(d->scrape_pool, "gone");
    assert_string_equal(label(d->discovered, d->n_discovered, "__address__"), "drop.example:9100");
    assert_int_equal(d->n_labels, 0);
    assert_null(d->url);

    /* flags select the lists; metadata only when asked for */
    ingest_targets_snapshot_t *part;
    assert_int_equal(ingest_scraper_targets_snapshot(s, INGEST_SNAPSHOT_ACTIVE, &part), 0);
    assert_int_equal(part->n_active, 2);
    assert_int_equal(part->n_dropped, 0);
    assert_int_equal(find(part, "app")->n_meta, 0);
    assert_null(find(part, "app")->meta);
    ingest_targets_snapshot_free(part);
    assert_int_equal(ingest_scraper_targets_snapshot(s, INGEST_SNAPSHOT_DROPPED, &part), 0);
    assert_int_equal(part->n_active, 0);
    assert_int_equal(part->n_dropped, 1);
    ingest_targets_snapshot_free(part);
    assert_int_equal(ingest_scraper_targets_snapshot(s, 0, &part), 0);
    assert_int_equal(part->n_active + part->n_dropped, 0);
    ingest_targets_snapshot_free(part);

    /* a reload drops the "gone" job: the old snapshot still holds its own copies */
    config_t *cfg2 = parse("scrape_configs: []\n");
    assert_int_equal(ingest_scraper_apply(s, cfg2, &err), 0);
    assert_int_equal(ingest_scraper_targets_snapshot(s, INGEST_SNAPSHOT_ACTIVE | INGEST_SNAPSHOT_DROPPED, &part), 0);
    assert_int_equal(part->n_active + part->n_dropped, 0);
    ingest_targets_snapshot_free(part);
    assert_string_equal(down->scrape_pool, "gone");
    assert_string_equal(label(down->labels, down->n_labels, "instance"), "127.0.0.1:1");
    assert_string_equal(app->meta[1].unit, "celsius");
    ingest_targets_snapshot_free(all);
    ingest_targets_snapshot_free(NULL);

    assert_true(atomic_load(&n_commits) > 0);
    ingest_scraper_stop(s);
    config_unref(cfg2);
    config_unref(cfg);
    server_stop(&sv);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(snapshot_contents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
