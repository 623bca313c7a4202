/* vigil's entry point: the subcommands, and the only place where concrete objects are built and wired
 * together (config → server state → self-metrics → HTTP server), started, and torn down in reverse. */
#include "config/config.h"
#include "http/http.h"
#include "selfmon/selfmon.h"
#include "util/log.h"
#include "util/timeutil.h"

#include "vigil_build.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *fp) {
    fputs("usage: vigil <command> [options]\n"
          "\n"
          "commands:\n"
          "  serve [--config FILE] [--listen HOST:PORT] [--data DIR]\n"
          "                             run the server (default config: built-in defaults)\n"
          "  check config FILE...       validate config files; exit 1 on the first error\n"
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

/* mkdir -p */
static int make_dirs(const char *path) {
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) return ENAMETOOLONG;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, 0755) && errno != EEXIST) return errno;
        *p = '/';
    }
    if (mkdir(tmp, 0755) && errno != EEXIST) return errno;
    return 0;
}

static void register_build_info(void) {
    static const char *const names[] = {"version", "revision", "build_type"};
    static const char *const values[] = {VIGIL_VERSION, VIGIL_REVISION, VIGIL_BUILD_TYPE};
    selfmon_family_t *f = selfmon_gauge(selfmon_default(), "vigil_build_info",
                                        "A metric with a constant '1' value labeled by version, revision and build type.",
                                        3, names);
    selfmon_gauge_set(selfmon_with(f, values), 1);
}

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

    http_app_t app = {0};
    app.listen_override = listen;
    app.data_override = data;
    if (http_app_init(&app, cfg, config_path)) {
        fputs("vigil: out of memory\n", stderr);
        http_app_deinit(&app);
        return 1;
    }
    selfmon_registry_t *reg = selfmon_default();
    selfmon_register_process(reg);
    register_build_info();
    selfmon_health_set("http", SELFMON_STARTING, "");

    config_t *c = http_app_config(&app);
    int rc = make_dirs(c->storage.path);
    if (rc) {
        vg_log_error("main", "cannot create the data directory", VG_LS("path", c->storage.path), VG_LS("err", strerror(rc)));
        config_unref(c);
        http_app_deinit(&app);
        return 1;
    }
    vg_log_info("main", "starting vigil", VG_LS("version", VIGIL_VERSION), VG_LS("revision", VIGIL_REVISION),
                VG_LS("config", config_path ? config_path : "(defaults)"), VG_LS("data", c->storage.path));
    config_unref(c);

    http_server_t *srv;
    if (http_server_start(&app, &srv, &err)) {
        vg_log_error("main", "cannot start the HTTP server", VG_LS("err", err.msg));
        http_app_deinit(&app);
        return 1;
    }
    selfmon_health_set("http", SELFMON_UP, "");
    atomic_store(&app.ready, true);
    vg_log_info("main", "server is ready to receive requests");

    for (;;) {
        int sig;
        if (sigwait(&sigs, &sig)) continue;
        if (sig == SIGHUP) {
            http_app_reload(&app, &err);
            continue;
        }
        vg_log_info("main", "shutting down", VG_LS("signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"));
        break;
    }
    atomic_store(&app.ready, false);
    c = http_app_config(&app);
    int64_t grace = c->server.shutdown_timeout_ms;
    config_unref(c);
    uint64_t t0 = vg_mono_ns();
    int left = http_server_stop(srv, grace);
    selfmon_health_set("http", SELFMON_DOWN, "stopped");
    vg_log_info("main", "stopped", VG_LF("shutdown_s", (double)(vg_mono_ns() - t0) / 1e9), VG_LI("aborted_requests", left));
    http_app_deinit(&app);
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
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) return cmd_version();
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "vigil: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
