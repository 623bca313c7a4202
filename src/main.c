/* vigil's entry point: the subcommands, and the only place where concrete objects are built and wired
 * together (config → server state → self-metrics → HTTP server), started, and torn down in reverse. */
#include "config/config.h"
#include "grafana/grafana.h"
#include "http/http.h"
#include "service/service.h"
#include "ingest/import.h"
#include "ingest/scrape/scrape.h"
#include "promql/engine/promql_engine.h"
#include "promql/promql.h"
#include "rules/notifier.h"
#include "rules/rules.h"
#include "rules/template.h"
#include "selfmon/selfmon.h"
#include "tenancy/tenancy.h"
#include "tsdb/tsdb.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/timeutil.h"

#include "vigil_build.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(FILE *fp) {
    fputs("usage: vigil <command> [options]\n"
          "\n"
          "commands:\n"
          "  serve [--config FILE] [--listen HOST:PORT] [--data DIR]\n"
          "                             run the server (default config: built-in defaults)\n"
          "  check config FILE...       validate config files; exit 1 on the first error\n"
          "  check rules FILE...        validate Prometheus rule files; FILE:LINE:COL per error, exit 1 on any\n"
          "  promql fmt EXPR            print EXPR in canonical form\n"
          "  promql enforce --label NAME=VALUE [--label ...] [--override] EXPR\n"
          "                             print EXPR with the tenant matchers enforced\n"
          "  promqltest [-v] FILE...     run PromQL scripted tests (Prometheus' .test format)\n"
          "  test rules FILE...         run rule unit tests (promtool's format); exit 1 on any failure\n"
          "  import openmetrics FILE --data DIR [--chunk-encoding dense|xor] [--block-duration D] [--tenant NAME]\n"
          "                             backfill timestamped OpenMetrics text into a data directory\n"
          "  tsdb list DIR              list the blocks of a data or block directory\n"
          "  tsdb dump DIR [--min-time MS] [--max-time MS] [--match SELECTOR]\n"
          "                             print the samples of the blocks, as promtool tsdb dump\n"
          "  tsdb export --format prometheus|dense SRC DST\n"
          "                             re-encode every block of SRC into new blocks in DST\n"
          "  tsdb verify DIR            check every checksum and chunk of the blocks\n"
          "  grafana provisioning-files DIR [--config FILE]\n"
          "                             write Grafana datasource and dashboard provisioning files\n"
          "  version                    print the version\n"
          "  help                       this text\n",
          fp);
}

static void print_config_error(const vg_error_t *err, const char *file) {
    char msg[VG_ERROR_MSG_MAX + 300];
    config_error_format(err, file, msg, sizeof msg);
    fprintf(stderr, "%s\n", msg);
}

static int cmd_version(void) {
    printf("vigil version %s (revision %s, %s build)\n", VIGIL_VERSION, VIGIL_REVISION, VIGIL_BUILD_TYPE);
    return 0;
}

static int cmd_check_config(int argc, char **argv) {
    if (argc < 1) {
        fputs("usage: vigil check config FILE...\n", stderr);
        return 2;
    }
    int rc = 0;
    for (int i = 0; i < argc; i++) {
        config_t *c;
        vg_error_t err;
        if (config_load_file(argv[i], &c, &err)) {
            print_config_error(&err, argv[i]);
            rc = 1;
            continue;
        }
        printf("%s: OK\n", argv[i]);
        config_unref(c);
    }
    return rc;
}

static void register_build_info(void) {
    static const char *const names[] = {"version", "revision", "build_type"};
    static const char *const values[] = {VIGIL_VERSION, VIGIL_REVISION, VIGIL_BUILD_TYPE};
    selfmon_family_t *f = selfmon_gauge(selfmon_default(), "vigil_build_info",
                                        "A metric with a constant '1' value labeled by version, revision and build type.",
                                        3, names);
    selfmon_gauge_set(selfmon_with(f, values), 1);
}

static int open_storage(service_t *app, tsdb_db_t **db, vg_error_t *err) {
    config_t *c = service_config(app);
    tsdb_options_t o;
    tsdb_options_default(&o);
    o.path = c->storage.path;
    o.retention_ms = c->storage.retention_ms;
    o.retention_bytes = c->storage.retention_size;
    o.fsync = c->storage.wal_fsync == CONFIG_FSYNC_ALWAYS ? TSDB_FSYNC_ALWAYS
              : c->storage.wal_fsync == CONFIG_FSYNC_NEVER ? TSDB_FSYNC_NEVER
                                                          : TSDB_FSYNC_INTERVAL;
    o.fsync_interval_ms = c->storage.wal_fsync_interval_ms;
    o.wal_compression = c->storage.wal_compression;
    o.block_duration_ms = c->storage.block_duration_ms;
    o.block_chunk_encoding =
        c->storage.block_chunk_encoding == CONFIG_BLOCK_CHUNKS_XOR ? TSDB_BLOCK_CHUNKS_XOR : TSDB_BLOCK_CHUNKS_DENSE;
    o.max_future_ms = c->ingest_limits.max_future_ms;
    o.max_series = (uint64_t)c->ingest_limits.max_series_total;
    config_label_limits(c, &o.limits);
    uint64_t t0 = vg_mono_ns();
    int rc = tsdb_db_open(&o, db, err);
    if (!rc) {
        tsdb_stats_t st;
        tsdb_db_stats(*db, &st);
        vg_log_info("main", "storage opened", VG_LS("path", c->storage.path), VG_LI("series", st.head_series),
                    VG_LI("replayed_samples", st.replay_samples), VG_LI("blocks", st.blocks), VG_LF("open_s", (double)(vg_mono_ns() - t0) / 1e9));
    }
    config_unref(c);
    return rc;
}

/* grafana_config_t from the config's grafana section; vars must hold c->grafana.variables.n entries. */
static void grafana_cfg_from(const config_t *c, grafana_config_t *g, grafana_var_t *vars) {
    grafana_config_defaults(g);
    const config_grafana_t *s = &c->grafana;
    g->url = s->url;
    g->external_url = s->external_url;
    g->admin_user = s->admin_user;
    g->admin_password = s->admin_password;
    g->admin_password_file = s->admin_password_file;
    g->vigil_url = s->vigil_url;
    g->dashboards_dir = s->dashboards_dir;
    g->token_ttl_s = s->token_ttl_ms / 1000;
    g->timeout_ms = s->timeout_ms;
    g->connect_timeout_ms = s->connect_timeout_ms;
    g->retries = (int)s->retries;
    g->backoff_initial_ms = s->retry_backoff_ms;
    g->backoff_max_ms = s->retry_backoff_max_ms;
    g->max_response_bytes = (size_t)s->max_response_bytes;
    for (size_t i = 0; i < s->variables.n; i++) vars[i] = (grafana_var_t){s->variables.keys[i], s->variables.values[i]};
    g->vars = vars;
    g->n_vars = s->variables.n;
}

static int cmd_grafana_files(int argc, char **argv) {
    const char *dir = NULL, *config_path = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc) config_path = argv[++i];
        else if (!dir && argv[i][0] != '-') dir = argv[i];
        else dir = NULL, i = argc;
    }
    if (!dir) {
        fputs("usage: vigil grafana provisioning-files DIR [--config FILE]\n", stderr);
        return 2;
    }
    config_t *c;
    vg_error_t err;
    if (config_path ? config_load_file(config_path, &c, &err) : ((c = config_default()) ? 0 : VG_ENOMEM)) {
        print_config_error(&err, config_path ? config_path : "(defaults)");
        return 1;
    }
    grafana_var_t *vars = calloc(c->grafana.variables.n + 1, sizeof *vars);
    grafana_config_t g;
    grafana_cfg_from(c, &g, vars);
    if (!g.vigil_url) g.vigil_url = "http://127.0.0.1:9290";
    if (!g.dashboards_dir && access("grafana/dashboards", R_OK) == 0) g.dashboards_dir = "grafana/dashboards";
    int rc = grafana_provisioning_files_write(&g, dir, NULL, &err);
    if (rc) fprintf(stderr, "vigil: %s\n", err.msg);
    else printf("wrote Grafana provisioning files to %s\n", dir);
    free(vars);
    config_unref(c);
    return rc ? 1 : 0;
}

static void *grafana_probe(void *arg) {
    grafana_err_t ge;
    char *out = NULL;
    if (grafana_health(arg, &out, &ge)) selfmon_health_set("grafana", SELFMON_DOWN, ge.err.msg);
    else selfmon_health_set("grafana", SELFMON_UP, "");
    free(out);
    return NULL;
}

/* promqltest storage: the embedded TSDB in memory, one per `clear`. */
static int test_create(void *ctx, void **out, vg_error_t *err) {
    (void)ctx;
    tsdb_options_t o;
    tsdb_options_default(&o);
    o.path = NULL;
    o.register_metrics = false;
    o.out_of_bounds_ms = 0;
    o.max_future_ms = 0; /* test data may lie anywhere in time */
    o.retention_ms = 0; /* test data may span any time */
    return tsdb_db_open(&o, (tsdb_db_t **)out, err);
}
static int test_appender(void *st, storage_appender_t **out, vg_error_t *err) { return tsdb_db_appender(st, out, err); }
static int test_querier(void *st, int64_t mint, int64_t maxt, storage_querier_t **out, vg_error_t *err) {
    return tsdb_db_querier(st, mint, maxt, out, err);
}
static void test_destroy(void *st) { tsdb_db_close(st); }

static int cmd_promqltest(int argc, char **argv) {
    promql_test_storage_t ts = {NULL, test_create, test_appender, test_querier, test_destroy};
    return promql_cmd_test(argc, argv, &ts);
}

static int cmd_test_rules(int argc, char **argv) {
    promql_test_storage_t ts = {NULL, test_create, test_appender, test_querier, test_destroy};
    return rules_cmd_test(argc, argv, &ts);
}

/* `vigil tsdb dump --match`: a series selector through PromQL's parser. */
static int parse_selector(const char *sel, model_matcher_t **ms, size_t cap, size_t *n, vg_error_t *err) {
    vg_arena_t arena;
    vg_arena_init(&arena, 4096);
    promql_node_t *node;
    int rc = promql_parse_selector(sel, strlen(sel), NULL, &arena, &node, err);
    if (!rc) rc = promql_selector_matchers(node, ms, cap, n, err);
    vg_arena_deinit(&arena);
    return rc;
}

/* `vigil import openmetrics`: the import's passes (src/ingest/import.c) feed a block builder
 * (src/tsdb/block_build.c), one flush per pass; the blocks appear in DIR together at the end. */
typedef struct import_sink {
    tsdb_block_builder_t *b;
    service_ctx_t *tenant; /* NULL: labels as in the file */
} import_sink_t;

static int import_begin(void *ctx, int64_t mint, int64_t maxt, storage_appender_t **app, vg_error_t *err) {
    (void)mint, (void)maxt;
    import_sink_t *s = ctx;
    storage_appender_t *inner;
    int rc = tsdb_block_builder_appender(s->b, &inner, err);
    if (rc || !s->tenant) {
        *app = rc ? NULL : inner;
        return rc;
    }
    return service_tenant_appender(s->tenant, inner, app, err);
}

static int import_end(void *ctx, vg_error_t *err) { return tsdb_block_builder_flush(((import_sink_t *)ctx)->b, err); }

static void import_progress(void *ctx, const ingest_import_progress_t *p) {
    (void)ctx;
    double pct = p->len ? 100.0 * (double)p->pos / (double)p->len : 100.0;
    if (p->pass == 0) fprintf(stderr, "\rimport: checking %5.1f%%", pct);
    else fprintf(stderr, "\rimport: pass %u/%u %5.1f%%, %llu samples", p->pass, p->passes, pct, (unsigned long long)p->samples);
    fputs("\033[K", stderr);
    fflush(stderr);
}

#define IMPORT_PASS_BYTES (UINT64_C(512) << 20) /* input bytes one pass may hold (its blocks' share) */

static int cmd_import(int argc, char **argv) {
    const char *file = NULL, *data = NULL, *encoding = "dense", *duration = "2h", *tenant = NULL, *config_path = NULL;
    for (int i = 0; i < argc; i++) {
        const char **slot = !strcmp(argv[i], "--data")             ? &data
                            : !strcmp(argv[i], "--chunk-encoding") ? &encoding
                            : !strcmp(argv[i], "--block-duration") ? &duration
                            : !strcmp(argv[i], "--tenant")         ? &tenant
                            : !strcmp(argv[i], "--config")         ? &config_path
                                                                   : NULL;
        if (slot && i + 1 < argc) *slot = argv[++i];
        else if (!slot && !file && argv[i][0] != '-') file = argv[i];
        else file = NULL, i = argc;
    }
    int64_t block_ms = 0;
    bool xor_chunks = encoding && !strcmp(encoding, "xor");
    if (!file || !data || (!xor_chunks && strcmp(encoding, "dense")) ||
        vg_duration_parse(duration, strlen(duration), &block_ms) || block_ms <= 0 || (config_path && !tenant)) {
        fputs("usage: vigil import openmetrics FILE --data DIR [--chunk-encoding dense|xor] [--block-duration 2h]\n"
              "                                    [--tenant NAME [--config FILE]]\n"
              "  writes one block per aligned range of the block duration into DIR (a data directory);\n"
              "  xor: Prometheus' chunk encoding, readable by Prometheus and promtool; dense (default): vigil only.\n"
              "  --tenant forces the tenant's label (tenants.enforce of the config) onto every series.\n",
              stderr);
        return 2;
    }
    vg_error_t err;
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    struct stat st_;
    if (fd < 0 || fstat(fd, &st_) != 0) {
        fprintf(stderr, "vigil import: %s: %s\n", file, strerror(errno));
        if (fd >= 0) close(fd);
        return 1;
    }
    size_t len = (size_t)st_.st_size;
    /* mapped, not read: the file's pages are page cache the kernel can drop between passes */
    const char *buf = len ? mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0) : "";
    close(fd);
    if (buf == MAP_FAILED) {
        fprintf(stderr, "vigil import: mmap %s: %s\n", file, strerror(errno));
        return 1;
    }
    if (len) madvise((void *)buf, len, MADV_SEQUENTIAL);
    service_t svc = {0};
    service_ctx_t tctx;
    bool have_svc = false, have_ctx = false;
    int rc = 0;
    if (tenant) {
        config_t *cfg = NULL;
        if (config_path) rc = config_load_file(config_path, &cfg, &err);
        else if (!(cfg = config_default())) rc = vg_error_set(&err, VG_ENOMEM, "out of memory");
        if (!rc) {
            rc = service_init(&svc, cfg, config_path, &err);
            if (svc.priv) have_svc = true; /* it owns cfg from here, even on failure */
            else config_unref(cfg);
        }
        if (!rc && !(rc = service_ctx_tenant(&svc, tenant, &tctx, &err))) {
            have_ctx = true;
            tctx.limits.max_series = 0; /* budgets count the head's active series; history in blocks is not */
        }
    }
    tsdb_block_builder_t *b = NULL;
    tsdb_block_builder_opts_t bo = {.dir = data, .block_ms = block_ms, .xor_chunks = xor_chunks};
    if (!rc) rc = tsdb_block_builder_new(&bo, &b, &err);
    ingest_import_stats_t st;
    memset(&st, 0, sizeof st);
    const tsdb_block_info_t *blocks = NULL;
    size_t n_blocks = 0;
    int64_t t0 = vg_mono_ns();
    if (!rc) {
        import_sink_t s = {b, have_ctx ? &tctx : NULL};
        ingest_import_sink_t sink = {&s, import_begin, import_end};
        ingest_import_opts_t io = {.range_ms = block_ms, .max_pass_bytes = IMPORT_PASS_BYTES,
                                   .progress = isatty(STDERR_FILENO) ? import_progress : NULL};
        rc = ingest_import_openmetrics(buf, len, &io, &sink, &st, &err);
        if (io.progress) fputs("\r\033[K", stderr);
        if (!rc) rc = tsdb_block_builder_publish(b, &blocks, &n_blocks, &err);
    }
    double secs = (double)(vg_mono_ns() - t0) / 1e9;
    if (!rc) {
        for (size_t i = 0; i < n_blocks; i++)
            printf("block %s [%lld, %lld): %llu samples, %llu series, %llu chunks\n", blocks[i].ulid, (long long)blocks[i].mint,
                   (long long)blocks[i].maxt, (unsigned long long)blocks[i].n_samples, (unsigned long long)blocks[i].n_series,
                   (unsigned long long)blocks[i].n_chunks);
        printf("imported %llu samples of %llu series into %zu blocks (%s chunks, %s ranges, %u pass%s) in %.2f s (%.0f samples/s); "
               "skipped: %llu without timestamp, %llu invalid labels, %llu out of order, %llu duplicate, %llu out of bounds\n",
               (unsigned long long)st.samples, (unsigned long long)st.series, n_blocks, xor_chunks ? "xor" : "dense", duration,
               st.passes, st.passes == 1 ? "" : "es", secs, secs > 0 ? (double)st.samples / secs : 0.0,
               (unsigned long long)st.skipped_no_timestamp, (unsigned long long)st.skipped_invalid_labels,
               (unsigned long long)st.skipped_out_of_order, (unsigned long long)st.skipped_duplicate,
               (unsigned long long)st.skipped_out_of_bounds);
    } else {
        fprintf(stderr, "vigil import: %s: %s (nothing was written)\n", file, err.msg);
    }
    tsdb_block_builder_free(b); /* removes the staging directory */
    if (have_ctx) service_ctx_deinit(&tctx);
    if (have_svc) service_deinit(&svc);
    if (len) munmap((void *)buf, len);
    return rc ? 1 : 0;
}

static int new_appender(void *db, storage_appender_t **out, vg_error_t *err) { return tsdb_db_appender(db, out, err); }

static int cmd_serve(int argc, char **argv) {
    const char *config_path = NULL, *listen = NULL, *data = NULL;
    for (int i = 0; i < argc; i++) {
        const char **slot = !strcmp(argv[i], "--config") ? &config_path
                            : !strcmp(argv[i], "--listen") ? &listen
                            : !strcmp(argv[i], "--data") ? &data
                                                           : NULL;
        if (!slot || i + 1 >= argc) {
            fprintf(stderr, "vigil serve: %s '%s'\n", slot ? "missing value for" : "unknown option", argv[i]);
            usage(stderr);
            return 2;
        }
        *slot = argv[++i];
    }

    config_t *cfg;
    vg_error_t err;
    if (config_path) {
        if (config_load_file(config_path, &cfg, &err)) {
            print_config_error(&err, config_path);
            return 1;
        }
    } else if (!(cfg = config_default())) {
        fputs("vigil: out of memory\n", stderr);
        return 1;
    }

    /* Signals are taken synchronously by this thread only: block them before any thread starts. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    service_t app = {0};
    app.listen_override = listen;
    app.data_override = data;
    if (service_init(&app, cfg, config_path, &err)) {
        print_config_error(&err, config_path ? config_path : "(defaults)");
        service_deinit(&app);
        return 1;
    }
    selfmon_registry_t *reg = selfmon_default();
    selfmon_register_process(reg);
    register_build_info();
    selfmon_health_set("http", SELFMON_STARTING, "");

    config_t *c = service_config(&app);
    vg_log_info("main", "starting vigil", VG_LS("version", VIGIL_VERSION), VG_LS("revision", VIGIL_REVISION),
                VG_LS("config", config_path ? config_path : "(defaults)"), VG_LS("data", c->storage.path));
    config_unref(c);

    /* HTTP first, so liveness answers while the WAL replays; readiness waits for storage. */
    http_server_t *srv;
    if (http_server_start(&app, &srv, &err)) {
        vg_log_error("main", "cannot start the HTTP server", VG_LS("err", err.msg));
        service_deinit(&app);
        return 1;
    }
    selfmon_health_set("http", SELFMON_UP, "");

    tsdb_db_t *db = NULL;
    if (open_storage(&app, &db, &err)) {
        vg_log_error("main", "cannot open storage", VG_LS("err", err.msg));
        http_server_stop(srv, 0);
        service_deinit(&app);
        return 1;
    }
    app.db = db;
    ingest_scraper_t *scraper = NULL;
    int rc;
    c = service_config(&app);
    rc = ingest_scraper_start(c, new_appender, db, &scraper, &err);
    config_unref(c);
    if (rc) {
        vg_log_error("main", "cannot start scraping", VG_LS("err", err.msg));
        http_server_stop(srv, 0);
        tsdb_db_close(db);
        service_deinit(&app);
        return 1;
    }
    app.scraper = scraper;
    selfmon_health_set("scrape", SELFMON_UP, "");
    if (service_remote_write_start(&app, &err)) vg_log_error("main", "cannot start remote_write", VG_LS("err", err.msg));

    /* vigil API keys (tenant datasource credentials) live in the data directory */
    tenancy_keystore_t *keys = NULL;
    char keys_path[4200];
    c = service_config(&app);
    snprintf(keys_path, sizeof keys_path, "%s/apikeys.json", c->storage.path);
    if (tenancy_keystore_open(keys_path, &keys, &err))
        vg_log_error("main", "cannot open the API key store; API keys are disabled", VG_LS("err", err.msg));
    app.keys = keys;
    grafana_client_t *grafana = NULL;
    grafana_var_t *gvars = NULL;
    pthread_t probe;
    bool probing = false;
    if (c->grafana.url) {
        grafana_config_t g;
        gvars = calloc(c->grafana.variables.n + 1, sizeof *gvars);
        grafana_cfg_from(c, &g, gvars);
        if (!gvars || grafana_client_new(&g, &grafana, &err)) {
            vg_log_error("main", "Grafana integration disabled", VG_LS("err", gvars ? err.msg : "out of memory"));
        } else {
            selfmon_health_set("grafana", SELFMON_STARTING, "checking Grafana");
            probing = pthread_create(&probe, NULL, grafana_probe, grafana) == 0;
        }
    }
    app.grafana = grafana;
    tenancy_window_t *grafana_limit = NULL;
    /* also bounds the API keys tenants create through /api/v1/tenants/self/api-keys: made with or without Grafana */
    if (tenancy_window_new(100000, &grafana_limit))
        vg_log_error("main", "cannot create the credential request limit; Grafana token requests are refused");
    app.grafana_limit = grafana_limit;
    promql_engine_t *engine = NULL;
    promql_engine_opts_t eo = {.lookback_ms = c->query.lookback_delta_ms, .subquery_step_ms = c->global.evaluation_interval_ms,
                               .max_samples = c->query.max_samples, .timeout_ms = c->query.timeout_ms,
                               .max_concurrent = (int)c->query.max_concurrent,
                               .max_bytes = c->query.max_bytes > INT64_MAX ? INT64_MAX : (int64_t)c->query.max_bytes};
    if (promql_engine_new(&eo, &engine, &err)) vg_log_error("main", "cannot create the query engine", VG_LS("err", err.msg));
    else selfmon_health_set("engine", SELFMON_UP, "");
    app.engine = engine;
    bool gateway = c->storage.backend == CONFIG_BACKEND_REMOTE;
    if (gateway) /* every read goes to the remote engine; ingest still lands in the local TSDB */
        vg_log_info("main", "gateway mode: reads are answered by the remote query engine", VG_LS("url", c->remote_query.url));
    config_unref(c);
    if (gateway ? service_executor_remote(&app, &err) : engine ? service_executor_local(&app, &err) : 0)
        vg_log_error("main", "cannot create the executor", VG_LS("err", err.msg));
    /* always running, so a reload can add Alertmanagers; with none configured it sends nothing */
    rules_notifier_t *notifier = NULL;
    c = service_config(&app);
    if (rules_notifier_new(c, &notifier, &err)) vg_log_error("main", "cannot start the Alertmanager notifier", VG_LS("err", err.msg));
    config_unref(c);
    app.notifier = notifier;
    if (app.exec && service_rules_start(&app, &err))
        vg_log_error("main", "cannot load the rule files; rules run without them until a reload succeeds", VG_LS("err", err.msg));
    atomic_store(&app.ready, true);
    vg_log_info("main", "server is ready to receive requests");

    for (;;) {
        int sig;
        if (sigwait(&sigs, &sig)) continue;
        if (sig == SIGHUP) {
            service_reload(&app, &err);
            continue;
        }
        vg_log_info("main", "shutting down", VG_LS("signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"));
        break;
    }
    atomic_store(&app.ready, false);
    c = service_config(&app);
    int64_t grace = c->server.shutdown_timeout_ms;
    config_unref(c);
    uint64_t t0 = vg_mono_ns();
    int left = http_server_stop(srv, grace);
    selfmon_health_set("http", SELFMON_DOWN, "stopped");
    app.scraper = NULL;
    ingest_scraper_stop(scraper);
    selfmon_health_set("scrape", SELFMON_DOWN, "stopped");
    service_rules_stop(&app); /* before the engine, the notifier and the storage it uses */
    app.engine = NULL;
    promql_engine_free(engine);
    app.notifier = NULL;
    rules_notifier_free(notifier, grace); /* what is queued gets the shutdown grace to go out */
    if (probing) pthread_join(probe, NULL);
    app.grafana = NULL;
    grafana_client_free(grafana);
    app.grafana_limit = NULL;
    tenancy_window_free(grafana_limit);
    free(gvars);
    app.keys = NULL;
    tenancy_keystore_free(keys);
    service_remote_write_stop(&app, grace);
    app.db = NULL;
    tsdb_db_close(db); /* syncs the WAL */
    selfmon_health_set("storage", SELFMON_DOWN, "closed");
    vg_log_info("main", "stopped", VG_LF("shutdown_s", (double)(vg_mono_ns() - t0) / 1e9), VG_LI("aborted_requests", left));
    service_deinit(&app);
    selfmon_registry_free(reg);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "serve")) return cmd_serve(argc - 2, argv + 2);
    if (!strcmp(cmd, "check") && argc >= 3 && !strcmp(argv[2], "config")) return cmd_check_config(argc - 3, argv + 3);
    if (!strcmp(cmd, "check") && argc >= 3 && !strcmp(argv[2], "rules")) return rules_cmd_check(argc - 3, argv + 3);
    if (!strcmp(cmd, "promql") && argc >= 3 && !strcmp(argv[2], "fmt")) return promql_cmd_fmt(argc - 2, argv + 2);
    if (!strcmp(cmd, "promql") && argc >= 3 && !strcmp(argv[2], "enforce")) return promql_cmd_enforce(argc - 2, argv + 2);
    if (!strcmp(cmd, "template")) return rules_cmd_template(argc - 1, argv + 1);
    if (!strcmp(cmd, "grafana") && argc >= 3 && !strcmp(argv[2], "provisioning-files")) return cmd_grafana_files(argc - 3, argv + 3);
    if (!strcmp(cmd, "promqltest")) return cmd_promqltest(argc - 1, argv + 1);
    if (!strcmp(cmd, "test") && argc >= 3 && !strcmp(argv[2], "rules")) return cmd_test_rules(argc - 3, argv + 3);
    if (!strcmp(cmd, "tsdb")) return tsdb_cmd(argc - 2, argv + 2, parse_selector);
    if (!strcmp(cmd, "import") && argc >= 3 && !strcmp(argv[2], "openmetrics")) return cmd_import(argc - 3, argv + 3);
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) return cmd_version();
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "vigil: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
