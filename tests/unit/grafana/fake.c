/* Test support around the Grafana contract fake; see fake.h. */
#include "fake.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

fake_t fake;
static char dashboards_dir[4096];

static const char *source_root(void) {
    const char *r = getenv("VIGIL_SOURCE_ROOT");
    return r ? r : ".";
}

int fake_group_setup(void **state) {
    (void)state;
    memset(&fake, 0, sizeof fake);
    snprintf(dashboards_dir, sizeof dashboards_dir, "%s/grafana/dashboards", source_root());
    char script[4096];
    snprintf(script, sizeof script, "%s/tests/grafana_fake/fake_grafana.py", source_root());
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC)) return 0;
    pid_t pid = fork();
    if (pid < 0) return 0;
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        execlp("python3", "python3", script, "--port", "0", "--admin-password", FAKE_ADMIN_PASSWORD, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    fake.pid = pid;
    fake.stdin_fd = in[1];
    char line[128];
    size_t n = 0;
    struct pollfd p = {.fd = out[0], .events = POLLIN};
    while (n + 1 < sizeof line && poll(&p, 1, 15000) > 0) {
        ssize_t r = read(out[0], line + n, 1);
        if (r <= 0 || line[n] == '\n') break;
        n++;
    }
    line[n] = '\0';
    close(out[0]);
    if (sscanf(line, "PORT %d", &fake.port) != 1) {
        fprintf(stderr, "# grafana fake did not start (python3 missing?): tests skip\n");
        fake_group_teardown(NULL);
        fake.port = 0;
        return 0;
    }
    snprintf(fake.url, sizeof fake.url, "http://127.0.0.1:%d", fake.port);
    return 0;
}

int fake_group_teardown(void **state) {
    (void)state;
    if (fake.stdin_fd > 0) close(fake.stdin_fd);
    if (fake.pid > 0) {
        kill(fake.pid, SIGTERM);
        while (waitpid(fake.pid, NULL, 0) < 0 && errno == EINTR) {
        }
    }
    fake.pid = 0;
    fake.stdin_fd = 0;
    return 0;
}

bool fake_ok(void) { return fake.port > 0; }

int fake_test_setup(void **state) {
    (void)state;
    if (fake_ok()) fake_control("/__fake/reset", "{}");
    return 0;
}

static size_t sink(char *p, size_t size, size_t nmemb, void *ud) {
    FILE *f = ud;
    return fwrite(p, size, nmemb, f);
}

long fake_http(const char *method, const char *path, const char *json, const char *auth, long org, char **body) {
    char url[2048];
    snprintf(url, sizeof url, "%s%s", fake.url, path);
    CURL *h = curl_easy_init();
    assert_non_null(h);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
    char line[512];
    if (org) {
        snprintf(line, sizeof line, "X-Grafana-Org-Id: %ld", org);
        hd = curl_slist_append(hd, line);
    }
    if (auth && strcmp(auth, "admin")) {
        snprintf(line, sizeof line, "Authorization: Bearer %s", auth);
        hd = curl_slist_append(hd, line);
    } else if (auth) {
        curl_easy_setopt(h, CURLOPT_USERPWD, "admin:" FAKE_ADMIN_PASSWORD);
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if (json) curl_easy_setopt(h, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, f);
    CURLcode cc = curl_easy_perform(h);
    long status = 0;
    if (cc == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    fclose(f);
    if (body) *body = buf;
    else free(buf);
    return status;
}

void fake_control(const char *path, const char *json) {
    char *body = NULL;
    long st = fake_http("POST", path, json, NULL, 0, &body);
    if (st != 200) fail_msg("fake control %s: %ld %s", path, st, body ? body : "");
    free(body);
}

json_t *fake_state(void) {
    char *body = NULL;
    long st = fake_http("GET", "/__fake/state", NULL, NULL, 0, &body);
    assert_int_equal(st, 200);
    json_t *j = json_loads(body, 0, NULL);
    free(body);
    assert_non_null(j);
    return j;
}

int fake_count(const char *method, const char *prefix) {
    char *body = NULL;
    assert_int_equal(fake_http("GET", "/__fake/log", NULL, NULL, 0, &body), 200);
    json_t *log = json_loads(body, 0, NULL);
    free(body);
    int n = 0;
    size_t i;
    json_t *e;
    json_array_foreach(log, i, e) {
        const char *m = json_string_value(json_object_get(e, "method"));
        const char *p = json_string_value(json_object_get(e, "path"));
        if ((!method || !strcmp(m, method)) && !strncmp(p, prefix, strlen(prefix))) n++;
    }
    json_decref(log);
    return n;
}

void fake_config(grafana_config_t *cfg) {
    grafana_config_defaults(cfg);
    cfg->url = fake.url;
    cfg->external_url = "https://grafana.example.com/";
    cfg->admin_user = "admin";
    cfg->admin_password = FAKE_ADMIN_PASSWORD;
    cfg->vigil_url = "http://vigil:9290";
    cfg->dashboards_dir = dashboards_dir;
    cfg->connect_timeout_ms = 2000;
    cfg->timeout_ms = 5000;
    cfg->retries = 2;
    cfg->backoff_initial_ms = 1;
    cfg->backoff_max_ms = 4;
}

grafana_client_t *fake_client(void) {
    grafana_config_t cfg;
    fake_config(&cfg);
    grafana_client_t *c = NULL;
    vg_error_t err;
    if (grafana_client_new(&cfg, &c, &err)) fail_msg("grafana_client_new: %s", err.msg);
    return c;
}

json_t *fake_org(json_t *state, const char *name) {
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(state, "orgs"), i, o) {
        if (!strcmp(json_string_value(json_object_get(o, "name")), name)) return o;
    }
    return NULL;
}

void fake_provision(grafana_client_t *c, const char *tenant, grafana_provision_result_t *res) {
    char cred[128];
    snprintf(cred, sizeof cred, "Bearer jwt-%s", tenant);
    grafana_provision_opts_t o = {.ds_header_name = "Authorization", .ds_header_value = cred};
    grafana_err_t err;
    int rc = grafana_tenant_provision(c, tenant, &o, res, &err);
    if (rc) fail_msg("provision %s: %d %s", tenant, rc, err.err.msg);
}
