/* Dashboards in a tenant's org against the contract fake: create from a template (per cluster) or a
 * given model, list, get, update with Grafana's version check (412 surfaced), delete, public
 * dashboards and their URL, and uids checked before they reach a URL. */
#include "fake.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static grafana_client_t *provisioned(void) {
    grafana_client_t *c = fake_client();
    grafana_provision_result_t res;
    fake_provision(c, "acme", &res);
    return c;
}

static json_t *parse(char *text) {
    json_t *j = json_loads(text, 0, NULL);
    if (!j) fail_msg("not JSON: %s", text);
    free(text);
    return j;
}

static void create_from_template(void **state) {
    (void)state;
    FAKE_REQUIRED();
    grafana_client_t *c = provisioned();
    grafana_var_t vars[] = {{"cluster", "prod-eu"}};
    grafana_dashboard_opts_t o = {.template_name = "k8s-namespace", .vars = vars, .n_vars = 1};
    char *out = NULL;
    grafana_err_t err;
    assert_int_equal(grafana_dashboard_create(c, "acme", &o, &out, &err), 0);
    json_t *j = parse(out);
    assert_string_equal(json_string_value(json_object_get(j, "uid")), "vigil-k8s-namespace-prod-eu");
    assert_int_equal(json_integer_value(json_object_get(j, "version")), 1);
    assert_string_equal(json_string_value(json_object_get(j, "url")),
                        "https://grafana.example.com/d/vigil-k8s-namespace-prod-eu/kubernetes-namespace");
    json_decref(j);

    assert_int_equal(grafana_dashboard_get(c, "acme", "vigil-k8s-namespace-prod-eu", &out, &err), 0);
    j = parse(out);
    json_t *d = json_object_get(j, "dashboard");
    char *text = json_dumps(d, 0);
    assert_null(strstr(text, "$cluster"));
    assert_null(strstr(text, "${datasource}"));
    assert_non_null(strstr(text, "cluster=\\\"prod-eu\\\""));
    free(text);
    /* cluster and datasource were substituted and left the variable list; namespace stayed. */
    json_t *list = json_object_get(json_object_get(d, "templating"), "list");
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "name")), "namespace");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "meta"), "folderUid")), "vigil");
    json_decref(j);

    /* Same template, same cluster again: the uid is taken → Grafana's 412. */
    assert_int_equal(grafana_dashboard_create(c, "acme", &o, &out, &err), VG_EEXIST);
    assert_int_equal(err.http_status, 412);
    assert_null(out);
    /* overwrite replaces it. */
    o.overwrite = true;
    assert_int_equal(grafana_dashboard_create(c, "acme", &o, &out, &err), 0);
    j = parse(out);
    assert_int_equal(json_integer_value(json_object_get(j, "version")), 2);
    json_decref(j);

    /* A cluster name that is not uid material gets a hashed suffix. */
    grafana_var_t odd[] = {{"cluster", "eu west/1"}};
    grafana_dashboard_opts_t o2 = {.template_name = "node-host", .vars = odd, .n_vars = 1};
    assert_int_equal(grafana_dashboard_create(c, "acme", &o2, &out, &err), 0);
    j = parse(out);
    const char *uid = json_string_value(json_object_get(j, "uid"));
    assert_true(strlen(uid) <= 40);
    assert_memory_equal(uid, "vigil-node-host-", 16);
    json_decref(j);

    grafana_dashboard_opts_t missing = {.template_name = "nope"};
    assert_int_equal(grafana_dashboard_create(c, "acme", &missing, &out, &err), VG_ENOTFOUND);
    grafana_client_free(c);
}

static const char model[] = "{\"title\":\"Team board\",\"panels\":[{\"id\":1,\"type\":\"timeseries\",\"title\":\"up\","
                            "\"datasource\":{\"type\":\"prometheus\",\"uid\":\"$datasource\"},"
                            "\"targets\":[{\"refId\":\"A\",\"expr\":\"up\"}]}],\"schemaVersion\":39}";

static void crud_and_conflict(void **state) {
    (void)state;
    FAKE_REQUIRED();
    grafana_client_t *c = provisioned();
    grafana_err_t err;
    char *out = NULL;
    grafana_dashboard_opts_t o = {.json = model, .json_len = sizeof model - 1};
    assert_int_equal(grafana_dashboard_create(c, "acme", &o, &out, &err), 0);
    json_t *j = parse(out);
    char uid[64];
    snprintf(uid, sizeof uid, "%s", json_string_value(json_object_get(j, "uid")));
    assert_int_equal(strlen(uid), 14); /* chosen by vigil */
    json_decref(j);

    assert_int_equal(grafana_dashboard_list(c, "acme", &out, &err), 0);
    j = parse(out);
    assert_int_equal(json_array_size(j), 5); /* 4 defaults + this one */
    bool found = false;
    size_t i;
    json_t *h;
    json_array_foreach(j, i, h) {
        if (!strcmp(json_string_value(json_object_get(h, "uid")), uid)) {
            found = true;
            assert_string_equal(json_string_value(json_object_get(h, "title")), "Team board");
            assert_string_equal(json_string_value(json_object_get(h, "folder_uid")), "vigil");
        }
    }
    assert_true(found);
    json_decref(j);

    /* Update at the version read: ok, version 2. */
    char upd[512];
    snprintf(upd, sizeof upd, "{\"dashboard\":{\"title\":\"Team board v2\",\"version\":1,\"panels\":[]}}");
    assert_int_equal(grafana_dashboard_update(c, "acme", uid, upd, strlen(upd), false, &out, &err), 0);
    j = parse(out);
    assert_int_equal(json_integer_value(json_object_get(j, "version")), 2);
    json_decref(j);
    /* The stale version again: Grafana's 412 version-mismatch comes back as such. */
    assert_int_equal(grafana_dashboard_update(c, "acme", uid, upd, strlen(upd), false, &out, &err), VG_EEXIST);
    assert_int_equal(err.http_status, 412);
    assert_string_equal(err.reason, "version-mismatch");
    assert_non_null(strstr(err.err.msg, "changed by someone else"));
    /* No version and no overwrite is refused before sending. */
    const char nov[] = "{\"title\":\"x\"}";
    assert_int_equal(grafana_dashboard_update(c, "acme", uid, nov, sizeof nov - 1, false, &out, &err), VG_EINVAL);
    assert_int_equal(grafana_dashboard_update(c, "acme", uid, nov, sizeof nov - 1, true, &out, &err), 0);
    free(out);
    /* The folder was kept through the updates. */
    assert_int_equal(grafana_dashboard_get(c, "acme", uid, &out, &err), 0);
    j = parse(out);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "meta"), "folderUid")), "vigil");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "dashboard"), "version")), 3);
    json_decref(j);
    assert_int_equal(grafana_dashboard_update(c, "acme", "missing", upd, strlen(upd), false, &out, &err), VG_ENOTFOUND);

    assert_int_equal(grafana_dashboard_delete(c, "acme", uid, &err), 0);
    assert_int_equal(grafana_dashboard_get(c, "acme", uid, &out, &err), VG_ENOTFOUND);
    assert_int_equal(grafana_dashboard_delete(c, "acme", uid, &err), VG_ENOTFOUND);

    /* Bad input is refused before any request. */
    fake_control("/__fake/reset", "{}");
    assert_int_equal(grafana_dashboard_get(c, "acme", "../../api/admin", &out, &err), VG_EINVAL);
    assert_int_equal(grafana_dashboard_delete(c, "acme", "a/b", &err), VG_EINVAL);
    const char notitle[] = "{\"panels\":[]}";
    grafana_dashboard_opts_t bad = {.json = notitle, .json_len = sizeof notitle - 1};
    assert_int_equal(grafana_dashboard_create(c, "acme", &bad, &out, &err), VG_EINVAL);
    const char broken[] = "{\"title\":";
    grafana_dashboard_opts_t bad2 = {.json = broken, .json_len = sizeof broken - 1};
    assert_int_equal(grafana_dashboard_create(c, "acme", &bad2, &out, &err), VG_EINVAL);
    assert_int_equal(fake_count(NULL, "/api/"), 0);
    grafana_client_free(c);
}

/* Another tenant's dashboards are not reachable through one's own org. */
static void tenants_see_their_own(void **state) {
    (void)state;
    FAKE_REQUIRED();
    grafana_client_t *c = provisioned();
    grafana_provision_result_t res;
    fake_provision(c, "beta", &res);
    grafana_err_t err;
    char *out = NULL;
    grafana_dashboard_opts_t o = {.json = model, .json_len = sizeof model - 1, .uid = "acme-only"};
    assert_int_equal(grafana_dashboard_create(c, "acme", &o, &out, &err), 0);
    free(out);
    assert_int_equal(grafana_dashboard_get(c, "beta", "acme-only", &out, &err), VG_ENOTFOUND);
    assert_int_equal(grafana_dashboard_delete(c, "beta", "acme-only", &err), VG_ENOTFOUND);
    assert_int_equal(grafana_dashboard_list(c, "beta", &out, &err), 0);
    assert_null(strstr(out, "acme-only"));
    free(out);
    grafana_client_free(c);
}

static void public_dashboard(void **state) {
    (void)state;
    FAKE_REQUIRED();
    grafana_client_t *c = provisioned();
    grafana_err_t err;
    char *out = NULL;
    assert_int_equal(grafana_dashboard_public_get(c, "acme", "vigil-overview", &out, &err), VG_ENOTFOUND);
    assert_int_equal(grafana_dashboard_publish(c, "acme", "vigil-overview", &out, &err), 0);
    json_t *j = parse(out);
    const char *token = json_string_value(json_object_get(j, "access_token"));
    assert_int_equal(strlen(token), 32);
    char want[256];
    snprintf(want, sizeof want, "https://grafana.example.com/public-dashboards/%s", token);
    assert_string_equal(json_string_value(json_object_get(j, "url")), want);
    assert_true(json_is_true(json_object_get(j, "enabled")));
    assert_string_equal(json_string_value(json_object_get(j, "dashboard_uid")), "vigil-overview");
    /* Anyone with the link can view it, without credentials. */
    char path[128];
    snprintf(path, sizeof path, "/api/public/dashboards/%s", token);
    assert_int_equal(fake_http("GET", path, NULL, NULL, 0, NULL), 200);

    /* Publishing again changes nothing and answers the same URL; GET agrees. */
    json_t *before = fake_state();
    assert_int_equal(grafana_dashboard_publish(c, "acme", "vigil-overview", &out, &err), 0);
    assert_non_null(strstr(out, want));
    free(out);
    json_t *after = fake_state();
    assert_true(json_equal(before, after));
    json_decref(before);
    json_decref(after);
    assert_int_equal(grafana_dashboard_public_get(c, "acme", "vigil-overview", &out, &err), 0);
    assert_non_null(strstr(out, want));
    free(out);
    json_decref(j);

    /* A disabled config is re-enabled, keeping its token. */
    json_t *st = fake_state();
    json_t *pd = json_array_get(json_object_get(fake_org(st, "vigil-acme"), "public_dashboards"), 0);
    snprintf(path, sizeof path, "/api/dashboards/uid/vigil-overview/public-dashboards/%s",
             json_string_value(json_object_get(pd, "uid")));
    int64_t org = json_integer_value(json_object_get(fake_org(st, "vigil-acme"), "id"));
    json_decref(st);
    assert_int_equal(fake_http("PATCH", path, "{\"isEnabled\":false}", "admin", org, NULL), 200);
    assert_int_equal(grafana_dashboard_publish(c, "acme", "vigil-overview", &out, &err), 0);
    assert_non_null(strstr(out, want));
    assert_non_null(strstr(out, "\"enabled\":true"));
    free(out);

    /* A lost answer on creation: the retry meets "already public" and reads it back. */
    fake_control("/__fake/fail", "{\"path_prefix\":\"/api/dashboards/uid/vigil-api-red/public-dashboards\","
                                 "\"method\":\"POST\",\"status\":502,\"count\":1,\"after\":true}");
    assert_int_equal(grafana_dashboard_publish(c, "acme", "vigil-api-red", &out, &err), 0);
    assert_non_null(strstr(out, "\"dashboard_uid\":\"vigil-api-red\""));
    free(out);
    st = fake_state();
    assert_int_equal(json_array_size(json_object_get(fake_org(st, "vigil-acme"), "public_dashboards")), 2);
    json_decref(st);

    assert_int_equal(grafana_dashboard_publish(c, "acme", "nope", &out, &err), VG_ENOTFOUND);
    grafana_client_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(create_from_template, fake_test_setup),
        cmocka_unit_test_setup(crud_and_conflict, fake_test_setup),
        cmocka_unit_test_setup(tenants_see_their_own, fake_test_setup),
        cmocka_unit_test_setup(public_dashboard, fake_test_setup),
    };
    return cmocka_run_group_tests(tests, fake_group_setup, fake_group_teardown);
}
