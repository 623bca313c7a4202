/* Provisioning files: written to a directory, then parsed back (YAML with libyaml, dashboards with
 * jansson) and checked against what Grafana's file provisioning expects. */
#include "grafana/grafana.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include <cmocka.h>

/* YAML → jansson for the subset the files use: mappings, sequences, scalars (quoted → string; plain
 * integers and booleans typed). */
static json_t *node(yaml_parser_t *p, yaml_event_t *ev);

static json_t *scalar(yaml_event_t *ev) {
    const char *v = (const char *)ev->data.scalar.value;
    if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        if (!strcmp(v, "true")) return json_true();
        if (!strcmp(v, "false")) return json_false();
        char *end;
        long long n = strtoll(v, &end, 10);
        if (*v && !*end) return json_integer(n);
    }
    return json_string(v);
}

static json_t *node(yaml_parser_t *p, yaml_event_t *ev) {
    if (ev->type == YAML_SCALAR_EVENT) return scalar(ev);
    bool map = ev->type == YAML_MAPPING_START_EVENT;
    assert_true(map || ev->type == YAML_SEQUENCE_START_EVENT);
    json_t *out = map ? json_object() : json_array();
    for (;;) {
        yaml_event_t e;
        assert_true(yaml_parser_parse(p, &e));
        if (e.type == YAML_MAPPING_END_EVENT || e.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&e);
            return out;
        }
        if (map) {
            assert_int_equal(e.type, YAML_SCALAR_EVENT);
            char *key = strdup((const char *)e.data.scalar.value);
            yaml_event_delete(&e);
            assert_true(yaml_parser_parse(p, &e));
            json_object_set_new(out, key, node(p, &e));
            free(key);
        } else {
            json_array_append_new(out, node(p, &e));
        }
        yaml_event_delete(&e);
    }
}

static json_t *load_yaml(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("missing %s", path);
    yaml_parser_t p;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_file(&p, f);
    json_t *root = NULL;
    yaml_event_t e;
    for (;;) {
        if (!yaml_parser_parse(&p, &e)) fail_msg("%s: YAML error: %s", path, p.problem);
        yaml_event_type_t t = e.type;
        if (t == YAML_MAPPING_START_EVENT || t == YAML_SEQUENCE_START_EVENT || t == YAML_SCALAR_EVENT) root = node(&p, &e);
        yaml_event_delete(&e);
        if (t == YAML_STREAM_END_EVENT) break;
    }
    yaml_parser_delete(&p);
    fclose(f);
    assert_non_null(root);
    return root;
}

static const char *at(json_t *j, const char *path) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *tok = strtok(buf, "."); tok && j; tok = strtok(NULL, "."))
        j = json_is_array(j) ? json_array_get(j, (size_t)atoi(tok)) : json_object_get(j, tok);
    return json_string_value(j);
}

static json_t *get(json_t *j, const char *path) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *tok = strtok(buf, "."); tok && j; tok = strtok(NULL, "."))
        j = json_is_array(j) ? json_array_get(j, (size_t)atoi(tok)) : json_object_get(j, tok);
    return j;
}

static char tmpdir[256];

static void cleanup(void) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    assert_int_equal(system(cmd), 0);
}

static void write_and_parse_back(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/vigil-grafana-files-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    char out[512];
    snprintf(out, sizeof out, "%s/prov", tmpdir);
    const char *root = getenv("VIGIL_SOURCE_ROOT");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/grafana/dashboards", root ? root : ".");
    grafana_config_t cfg;
    grafana_config_defaults(&cfg);
    /* Characters that would break unquoted YAML. */
    cfg.vigil_url = "http://vigil:9290/#x: 'y\"";
    cfg.dashboards_dir = dir;
    grafana_var_t vars[] = {{"cluster", "prod"}};
    cfg.vars = vars;
    cfg.n_vars = 1;
    vg_error_t err;
    grafana_files_opts_t o = {.org_id = 3};
    if (grafana_provisioning_files_write(&cfg, out, &o, &err)) fail_msg("%s", err.msg);

    char path[700];
    snprintf(path, sizeof path, "%s/datasources/vigil.yaml", out);
    json_t *ds = load_yaml(path);
    assert_int_equal(json_integer_value(json_object_get(ds, "apiVersion")), 1);
    assert_string_equal(at(ds, "datasources.0.name"), "vigil");
    assert_string_equal(at(ds, "datasources.0.uid"), "vigil");
    assert_string_equal(at(ds, "datasources.0.type"), "prometheus");
    assert_string_equal(at(ds, "datasources.0.access"), "proxy");
    assert_string_equal(at(ds, "datasources.0.url"), "http://vigil:9290/#x: 'y\"");
    assert_int_equal(json_integer_value(get(ds, "datasources.0.orgId")), 3);
    assert_string_equal(at(ds, "datasources.0.jsonData.httpHeaderName1"), "Authorization");
    /* The credential is an environment reference Grafana expands, not a secret in the file. */
    assert_string_equal(at(ds, "datasources.0.secureJsonData.httpHeaderValue1"), "Bearer ${VIGIL_DATASOURCE_TOKEN}");
    json_decref(ds);

    snprintf(path, sizeof path, "%s/dashboards/vigil.yaml", out);
    json_t *pv = load_yaml(path);
    assert_string_equal(at(pv, "providers.0.name"), "vigil");
    assert_string_equal(at(pv, "providers.0.type"), "file");
    assert_string_equal(at(pv, "providers.0.folderUid"), "vigil");
    assert_int_equal(json_integer_value(get(pv, "providers.0.orgId")), 3);
    assert_string_equal(at(pv, "providers.0.options.path"), "/etc/grafana/provisioning/dashboards/vigil");
    assert_true(json_is_false(get(pv, "providers.0.options.foldersFromFilesStructure")));
    json_decref(pv);

    static const char *const names[] = {"api-red", "k8s-namespace", "node-host", "vigil-overview"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/dashboards/vigil/%s.json", out, names[i]);
        json_error_t je;
        json_t *d = json_load_file(path, 0, &je);
        if (!d) fail_msg("%s: %s", path, je.text);
        assert_non_null(at(d, "uid"));
        char *text = json_dumps(d, 0);
        assert_null(strstr(text, "${datasource}"));
        assert_null(strstr(text, "$cluster")); /* configured variable applied */
        free(text);
        json_t *list = get(d, "templating.list");
        size_t k;
        json_t *v;
        json_array_foreach(list, k, v) {
            assert_string_not_equal(at(v, "name"), "cluster");
            assert_string_not_equal(at(v, "name"), "datasource");
        }
        json_decref(d);
    }
    /* No temporary files left behind; writing again replaces the files. */
    snprintf(path, sizeof path, "%s/datasources/vigil.yaml.tmp", out);
    assert_int_not_equal(access(path, F_OK), 0);
    assert_int_equal(grafana_provisioning_files_write(&cfg, out, NULL, &err), 0);
    snprintf(path, sizeof path, "%s/datasources/vigil.yaml", out);
    ds = load_yaml(path);
    assert_int_equal(json_integer_value(get(ds, "datasources.0.orgId")), 1);
    json_decref(ds);

    cfg.vigil_url = NULL;
    assert_int_equal(grafana_provisioning_files_write(&cfg, out, NULL, &err), VG_ECONFIG);
    cleanup();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(write_and_parse_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
