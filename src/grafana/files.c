/* Grafana provisioning files for operators who mount them instead of letting vigil call the API:
 * a datasource file, a dashboard-provider file and the rendered dashboards.
 *
 *   DIR/datasources/vigil.yaml        datasource "vigil" (uid vigil) → cfg.vigil_url, credential header
 *   DIR/dashboards/vigil.yaml         file provider "vigil", folder "vigil", path = dashboards_path
 *   DIR/dashboards/vigil/<name>.json  one per template, rendered with datasource=vigil and cfg.vars
 *
 * Invariants: every scalar in the YAML is written as a double-quoted string (JSON escaping is valid
 * YAML), so no value can change the structure; no secret is written by default — the credential is
 * "${VIGIL_DATASOURCE_TOKEN}", which Grafana expands from its environment; each file is written to a
 * temporary name and renamed, so a reader never sees half a file. */
#include "grafana/grafana_int.h"

#include "util/buf.h"
#include "util/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void yq(vg_buf_t *b, const char *s) {
    json_t *j = json_string(s ? s : "");
    char *q = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    if (q) vg_buf_puts(b, q);
    else b->failed = true;
    free(q);
    json_decref(j);
}

static int write_file(const char *path, const char *data, size_t len, vg_error_t *err) {
    char tmp[4200];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return vg_error_set(err, VG_EINVAL, "grafana: path too long: %s", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return vg_error_set(err, VG_EIO, "grafana: %s: %s", tmp, strerror(errno));
    int rc = vg_fs_write_all(fd, data, len, err);
    if (!rc && fsync(fd)) rc = vg_error_set(err, VG_EIO, "grafana: fsync %s: %s", tmp, strerror(errno));
    close(fd);
    if (!rc && rename(tmp, path)) rc = vg_error_set(err, VG_EIO, "grafana: rename %s: %s", path, strerror(errno));
    if (rc) unlink(tmp);
    return rc;
}

int grafana_provisioning_files_write(const grafana_config_t *cfg, const char *dir, const grafana_files_opts_t *o,
                                     vg_error_t *err) {
    grafana_files_opts_t defaults = {0};
    if (!o) o = &defaults;
    int64_t org = o->org_id > 0 ? o->org_id : 1;
    const char *hn = o->ds_header_name ? o->ds_header_name : "Authorization";
    const char *hv = o->ds_header_value ? o->ds_header_value : "Bearer ${VIGIL_DATASOURCE_TOKEN}";
    const char *dpath = o->dashboards_path ? o->dashboards_path : "/etc/grafana/provisioning/dashboards/vigil";
    if (!cfg->vigil_url || (strncmp(cfg->vigil_url, "http://", 7) && strncmp(cfg->vigil_url, "https://", 8)))
        return vg_error_set(err, VG_ECONFIG, "grafana: vigil_url must be an http(s) URL");
    if (strlen(dir) > 3000) return vg_error_set(err, VG_EINVAL, "grafana: directory path too long");

    grafana__template_t *tpl = NULL;
    size_t n_tpl = 0;
    int rc = cfg->dashboards_dir ? grafana__templates_load(cfg->dashboards_dir, &tpl, &n_tpl, err) : 0;
    if (rc) return rc;
    char path[4096];
    vg_buf_t b = VG_BUF_INIT;
    snprintf(path, sizeof path, "%s/datasources", dir);
    if (!rc) rc = vg_fs_mkdir_p(path, err);
    snprintf(path, sizeof path, "%s/dashboards/vigil", dir);
    if (!rc) rc = vg_fs_mkdir_p(path, err);

    if (!rc) {
        vg_buf_puts(&b, "# Written by `vigil grafana provisioning-files`: vigil as this Grafana org's Prometheus datasource.\n"
                        "# The credential must be scoped to one vigil tenant: every member of the org can query it.\n"
                        "apiVersion: 1\ndatasources:\n  - name: ");
        yq(&b, GRAFANA__DS_NAME);
        vg_buf_puts(&b, "\n    uid: ");
        yq(&b, GRAFANA__DS_UID);
        vg_buf_puts(&b, "\n    type: \"prometheus\"\n    access: \"proxy\"\n");
        vg_buf_printf(&b, "    orgId: %lld\n    url: ", (long long)org);
        yq(&b, cfg->vigil_url);
        vg_buf_puts(&b, "\n    isDefault: true\n    editable: false\n    version: 1\n    jsonData:\n"
                        "      httpMethod: \"POST\"\n      timeInterval: \"15s\"\n      httpHeaderName1: ");
        yq(&b, hn);
        vg_buf_puts(&b, "\n    secureJsonData:\n      httpHeaderValue1: ");
        yq(&b, hv);
        vg_buf_putc(&b, '\n');
        snprintf(path, sizeof path, "%s/datasources/vigil.yaml", dir);
        rc = b.failed ? vg_error_set(err, VG_ENOMEM, "out of memory") : write_file(path, b.data, b.len, err);
    }
    if (!rc) {
        vg_buf_reset(&b);
        vg_buf_puts(&b, "# Written by `vigil grafana provisioning-files`: vigil's dashboards, loaded from files.\n"
                        "apiVersion: 1\nproviders:\n  - name: \"vigil\"\n");
        vg_buf_printf(&b, "    orgId: %lld\n", (long long)org);
        vg_buf_puts(&b, "    folder: ");
        yq(&b, GRAFANA__FOLDER_TITLE);
        vg_buf_puts(&b, "\n    folderUid: ");
        yq(&b, GRAFANA__FOLDER_UID);
        vg_buf_puts(&b, "\n    type: \"file\"\n    disableDeletion: false\n    updateIntervalSeconds: 30\n"
                        "    allowUiUpdates: false\n    options:\n      path: ");
        yq(&b, dpath);
        vg_buf_puts(&b, "\n      foldersFromFilesStructure: false\n");
        snprintf(path, sizeof path, "%s/dashboards/vigil.yaml", dir);
        rc = b.failed ? vg_error_set(err, VG_ENOMEM, "out of memory") : write_file(path, b.data, b.len, err);
    }
    grafana_var_t *vars = NULL;
    size_t n_vars = 0;
    if (!rc) {
        /* The same merge as the API path: datasource=vigil first, then the configured variables. */
        vars = calloc(cfg->n_vars + 1, sizeof *vars);
        if (!vars) rc = vg_error_set(err, VG_ENOMEM, "out of memory");
        else {
            vars[n_vars++] = (grafana_var_t){"datasource", GRAFANA__DS_UID};
            for (size_t i = 0; i < cfg->n_vars; i++) vars[n_vars++] = cfg->vars[i];
        }
    }
    for (size_t i = 0; !rc && i < n_tpl; i++) {
        json_t *m = json_deep_copy(tpl[i].model);
        if (!m) rc = vg_error_set(err, VG_ENOMEM, "out of memory");
        if (!rc) rc = grafana__render(m, vars, n_vars, err);
        char *text = NULL;
        if (!rc && !(text = json_dumps(m, JSON_INDENT(2) | JSON_PRESERVE_ORDER)))
            rc = vg_error_set(err, VG_ENOMEM, "out of memory");
        if (!rc) {
            snprintf(path, sizeof path, "%s/dashboards/vigil/%s.json", dir, tpl[i].name);
            rc = write_file(path, text, strlen(text), err);
        }
        free(text);
        json_decref(m);
    }
    free(vars);
    vg_buf_deinit(&b);
    grafana__templates_free(tpl, n_tpl);
    return rc;
}
