/* Per-tenant provisioning against the Grafana contract fake: the first run creates the org and
 * everything in it, a second run changes nothing, a run that fails midway is finished by the next one,
 * lost answers never duplicate objects, and tenants stay in separate orgs with their own credential. */
#include "fake.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>

static const char *jstr(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

/* Everything the first run must have made for tenant `t`. */
static void assert_provisioned(json_t *st, const char *t) {
    char name[128], cred[128];
    snprintf(name, sizeof name, "vigil-%s", t);
    snprintf(cred, sizeof cred, "Bearer jwt-%s", t);
    json_t *org = fake_org(st, name);
    assert_non_null(org);
    assert_string_equal(jstr(json_object_get(org, "members"), "admin"), "Admin");
    json_t *dss = json_object_get(org, "datasources");
    assert_int_equal(json_array_size(dss), 1);
    json_t *ds = json_array_get(dss, 0);
    assert_string_equal(jstr(ds, "uid"), "vigil");
    assert_string_equal(jstr(ds, "name"), "vigil");
    assert_string_equal(jstr(ds, "type"), "prometheus");
    assert_string_equal(jstr(ds, "access"), "proxy");
    assert_string_equal(jstr(ds, "url"), "http://vigil:9290");
    assert_string_equal(jstr(json_object_get(ds, "jsonData"), "httpHeaderName1"), "Authorization");
    /* The credential lives in secureJsonData (Grafana encrypts it), never in jsonData. */
    assert_string_equal(jstr(json_object_get(ds, "secureJsonData"), "httpHeaderValue1"), cred);
    assert_null(json_object_get(json_object_get(ds, "jsonData"), "httpHeaderValue1"));
    json_t *folders = json_object_get(org, "folders");
    assert_int_equal(json_array_size(folders), 1);
    assert_string_equal(jstr(json_array_get(folders, 0), "uid"), "vigil");
    json_t *dash = json_object_get(org, "dashboards");
    assert_int_equal(json_array_size(dash), 4);
    size_t i;
    json_t *d;
    json_array_foreach(dash, i, d) {
        assert_string_equal(jstr(d, "folderUid"), "vigil");
        assert_int_equal(json_integer_value(json_object_get(d, "version")), 1);
        char *text = json_dumps(json_object_get(d, "dashboard"), 0);
        /* ${datasource} was substituted everywhere and its variable removed. */
        assert_null(strstr(text, "${datasource}"));
        assert_non_null(strstr(text, "\"uid\": \"vigil\""));
        free(text);
    }
    json_t *sas = json_object_get(org, "service_accounts");
    assert_int_equal(json_array_size(sas), 1);
    char sa[128];
    snprintf(sa, sizeof sa, "metrics-%s", t);
    assert_string_equal(jstr(json_array_get(sas, 0), "name"), sa);
    assert_string_equal(jstr(json_array_get(sas, 0), "role"), "Viewer");
}

static void first_provisioning(void **state) {
    (void)state;
    FAKE_REQUIRED();
    grafana_client_t *c = fake_client();
    grafana_provision_result_t res;
    fake_provision(c, "acme", &res);
    assert_true(res.org_id > 1);
    assert_true(res.service_account_id > 0);
    assert_int_equal(res.n_dashboards, 4);
    assert_int_equal(res.n_created, 8); /* org, datasource, folder, 4 dashboards, service account */
    json_t *st = fake_state();
    assert_provisioned(st, "acme");
    assert_int_equal(json_integer_value(json_object_get(fake_org(st, "vigil-acme"), "id")), res.org_id);
    /* Org creation used server-admin basic auth, the rest acted in the org through X-Grafana-Org-Id. */
    assert_int_equal(fake_count("POST", "/api/orgs"), 1);
    json_decref(st);
    int64_t org;
    grafana_err_t err;
    assert_int_equal(grafana_tenant_org(c, "acme", &org, &err), 0);
    assert_int_equal(org, res.org_id);
    grafana_client_free(c);
}

static void reprovision_is_idempotent(void **state) {
    (void)state;
    FAKE_REQUIRED();
    grafana_client_t *c = fake_client();
    grafana_provision_result_t res;
    fake_provision(c, "acme", &res);
    json_t *before = fake_state();
    fake_provision(c, "acme", &res);
    assert_int_equal(res.n_created, 0);
    assert_int_equal(res.n_dashboards, 4);
    /* A fresh client (no cache) behaves the same. */
    grafana_client_t *c2 = fake_client();
    fake_provision(c2, "acme", &res);
    assert_int_equal(res.n_created, 0);
    json_t *after = fake_state();
    if (!json_equal(before, after)) {
        char *a = json_dumps(before, 0), *b = json_dumps(after, 0);
        fail_msg("state changed:\n%s\n%s", a, b);
    }
    json_decref(before);
    json_decref(after);
    grafana_client_free(c);
    grafana_client_free(c2);
}

static void failure_midway_is_repaired(void **state) {
    (void)state;
    FAKE_REQUIRED();
    grafana_client_t *c = fake_client();
    /* Folder creation keeps failing: provisioning stops after the datasource. */
    fake_control("/__fake/fail", "{\"path_prefix\":\"/api/folders\",\"method\":\"POST\",\"status\":500,\"count\":100}");
    char cred[] = "Bearer jwt-acme";
    grafana_provision_opts_t o = {.ds_header_name = "Authorization", .ds_header_value = cred};
    grafana_provision_result_t res;
    grafana_err_t err;
    assert_int_equal(grafana_tenant_provision(c, "acme", &o, &res, &err), VG_EUNAVAIL);
    assert_int_equal(err.http_status, 500);
    assert_non_null(strstr(err.err.msg, "provisioning folder of tenant acme stopped"));
    assert_non_null(strstr(err.err.msg, "injected failure"));
    json_t *st = fake_state();
    json_t *org = fake_org(st, "vigil-acme");
    assert_non_null(org);
    /* Whole objects only: org and datasource exist, nothing after the failing step. */
    assert_int_equal(json_array_size(json_object_get(org, "datasources")), 1);
    assert_int_equal(json_array_size(json_object_get(org, "folders")), 0);
    assert_int_equal(json_array_size(json_object_get(org, "dashboards")), 0);
    assert_int_equal(json_array_size(json_object_get(org, "service_accounts")), 0);
    json_decref(st);
    fake_control("/__fake/up", "{}");
    assert_int_equal(grafana_tenant_provision(c, "acme", &o, &res, &err), 0);
    assert_int_equal(res.n_created, 6); /* folder, 4 dashboards, service account */
    st = fake_state();
    assert_provisioned(st, "acme");
    json_decref(st);
    assert_int_equal(grafana_tenant_provision(c, "acme", &o, &res, &err), 0);
    assert_int_equal(res.n_created, 0);
    grafana_client_free(c);
}

/* Grafana did the work but the answer was lost (a 502 after processing): the retry meets "already
 * exists" and resolves it by reading back, leaving exactly one of each object. */
static void lost_answers_create_no_duplicates(void **state) {
    (void)state;
    FAKE_REQUIRED();
    grafana_client_t *c = fake_client();
    static const char *const faults[] = {
        "{\"path_prefix\":\"/api/orgs\",\"method\":\"POST\",\"status\":502,\"count\":1,\"after\":true}",
        "{\"path_prefix\":\"/api/datasources\",\"method\":\"POST\",\"status\":502,\"count\":1,\"after\":true}",
        "{\"path_prefix\":\"/api/folders\",\"method\":\"POST\",\"status\":502,\"count\":1,\"after\":true}",
        "{\"path_prefix\":\"/api/dashboards/db\",\"status\":504,\"count\":2,\"after\":true}",
        "{\"path_prefix\":\"/api/serviceaccounts\",\"method\":\"POST\",\"status\":503,\"count\":1,\"after\":true}",
    };
    for (size_t i = 0; i < sizeof faults / sizeof *faults; i++) fake_control("/__fake/fail", faults[i]);
    grafana_provision_result_t res;
    fake_provision(c, "acme", &res);
    json_t *st = fake_state();
    assert_provisioned(st, "acme");
    size_t n_vigil_orgs = 0, i;
    json_t *o;
    json_array_foreach(json_object_get(st, "orgs"), i, o) n_vigil_orgs += !strcmp(jstr(o, "name"), "vigil-acme");
    assert_int_equal(n_vigil_orgs, 1);
    json_decref(st);
    grafana_client_free(c);
}

static void tenants_are_isolated(void **state) {
    (void)state;
    FAKE_REQUIRED();
    grafana_client_t *c = fake_client();
    grafana_provision_result_t a, b;
    fake_provision(c, "acme", &a);
    fake_provision(c, "beta", &b);
    assert_true(a.org_id != b.org_id);
    json_t *st = fake_state();
    assert_provisioned(st, "acme");
    assert_provisioned(st, "beta"); /* each org's datasource carries its own tenant's credential */
    json_decref(st);

    /* A Viewer token of beta sees beta's org only ... */
    grafana_token_t tok;
    grafana_err_t err;
    assert_int_equal(grafana_token_create(c, "beta", 0, &tok, &err), 0);
    char *body = NULL;
    assert_int_equal(fake_http("GET", "/api/org", NULL, tok.key, a.org_id, &body), 200);
    json_t *org = json_loads(body, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(org, "id")), b.org_id);
    json_decref(org);
    free(body);
    /* ... but, as in Grafana OSS, may query any datasource of its own org: the reason the datasource's
     * credential must be the tenant's own. */
    assert_int_equal(fake_http("POST", "/api/ds/query",
                               "{\"from\":\"now-1h\",\"to\":\"now\",\"queries\":[{\"refId\":\"A\","
                               "\"datasource\":{\"uid\":\"vigil\"},\"expr\":\"up\"}]}",
                               tok.key, 0, NULL),
                     200);
    /* It cannot create anything. */
    assert_int_equal(fake_http("POST", "/api/datasources", "{\"name\":\"x\",\"type\":\"prometheus\",\"url\":\"http://x\"}",
                               tok.key, 0, NULL),
                     403);
    grafana_token_deinit(&tok);
    grafana_client_free(c);
}

static void rotate_credential(void **state) {
    (void)state;
    FAKE_REQUIRED();
    grafana_client_t *c = fake_client();
    grafana_provision_result_t res;
    fake_provision(c, "acme", &res);
    char cred[] = "Bearer jwt-acme-2";
    grafana_provision_opts_t o = {.ds_header_name = "Authorization", .ds_header_value = cred};
    grafana_err_t err;
    /* Without rotate_credential a new value is not pushed (the stored one is still valid). */
    assert_int_equal(grafana_tenant_provision(c, "acme", &o, &res, &err), 0);
    assert_int_equal(res.n_created, 0);
    o.rotate_credential = true;
    assert_int_equal(grafana_tenant_provision(c, "acme", &o, &res, &err), 0);
    assert_int_equal(res.n_created, 1);
    json_t *st = fake_state();
    json_t *ds = json_array_get(json_object_get(fake_org(st, "vigil-acme"), "datasources"), 0);
    assert_string_equal(jstr(json_object_get(ds, "secureJsonData"), "httpHeaderValue1"), cred);
    assert_int_equal(json_integer_value(json_object_get(ds, "version")), 2);
    json_decref(st);
    grafana_client_free(c);
}

typedef struct racer {
    grafana_client_t *c;
    int rc;
    char msg[VG_ERROR_MSG_MAX];
} racer_t;

/* A credential minted on demand: counts the calls. */
static int mint(void *arg, const char **value, vg_error_t *err) {
    (void)err;
    int *n = arg;
    static char buf[32];
    snprintf(buf, sizeof buf, "Bearer minted-%d", ++*n);
    *value = buf;
    return 0;
}

static const char *ds_secret(const char *org_name) {
    json_t *st = fake_state();
    json_t *ds = json_array_get(json_object_get(fake_org(st, org_name), "datasources"), 0);
    static char out[64];
    snprintf(out, sizeof out, "%s",
             json_string_value(json_object_get(json_object_get(ds, "secureJsonData"), "httpHeaderValue1")));
    json_decref(st);
    return out;
}

/* The credential callback runs only when the datasource is written, and the result says whether
 * Grafana holds the new credential: stored, kept (the write failed before Grafana did it) or stored
 * although the answer was lost (found by the datasource's version). */
static void credential_outcome(void **state) {
    (void)state;
    FAKE_REQUIRED();
    grafana_client_t *c = fake_client();
    int n = 0;
    grafana_provision_opts_t o = {.ds_header_name = "Authorization", .ds_credential = mint, .ds_credential_arg = &n};
    grafana_provision_result_t res;
    grafana_err_t err;
    assert_int_equal(grafana_tenant_provision(c, "acme", &o, &res, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(res.credential, GRAFANA_CRED_STORED);
    assert_string_equal(ds_secret("vigil-acme"), "Bearer minted-1");
    /* current and not rotating: nothing minted, nothing written */
    assert_int_equal(grafana_tenant_provision(c, "acme", &o, &res, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(res.credential, GRAFANA_CRED_KEPT);
    /* the update fails (every attempt, before Grafana does it): the old credential stays */
    o.rotate_credential = true;
    fake_control("/__fake/fail", "{\"path_prefix\":\"/api/datasources/uid/vigil\",\"method\":\"PUT\",\"status\":500,\"count\":100}");
    assert_int_equal(grafana_tenant_provision(c, "acme", &o, &res, &err), VG_EUNAVAIL);
    assert_int_equal(n, 2);
    assert_int_equal(res.credential, GRAFANA_CRED_KEPT);
    assert_string_equal(ds_secret("vigil-acme"), "Bearer minted-1");
    /* a refusal (4xx) is not retried and keeps it too */
    fake_control("/__fake/reset", "{}");
    assert_int_equal(grafana_tenant_provision(c, "acme", &(grafana_provision_opts_t){.ds_header_name = "Authorization",
                                                  .ds_header_value = "Bearer v1"}, &res, &err), 0);
    fake_control("/__fake/fail", "{\"path_prefix\":\"/api/datasources/uid/vigil\",\"method\":\"PUT\",\"status\":403,\"count\":1}");
    assert_int_equal(grafana_tenant_provision(c, "acme", &o, &res, &err), VG_EFORBIDDEN);
    assert_int_equal(res.credential, GRAFANA_CRED_KEPT);
    assert_string_equal(ds_secret("vigil-acme"), "Bearer v1");
    /* the update lands but every answer is lost: stored, known from the version */
    fake_control("/__fake/fail", "{\"path_prefix\":\"/api/datasources/uid/vigil\",\"method\":\"PUT\",\"status\":502,"
                                 "\"count\":100,\"after\":true}");
    int before = n;
    assert_int_equal(grafana_tenant_provision(c, "acme", &o, &res, &err), VG_EUNAVAIL);
    assert_int_equal(n, before + 1);
    assert_int_equal(res.credential, GRAFANA_CRED_STORED);
    char want[32];
    snprintf(want, sizeof want, "Bearer minted-%d", n);
    assert_string_equal(ds_secret("vigil-acme"), want);
    grafana_client_free(c);
}

static void *race(void *arg) {
    racer_t *r = arg;
    grafana_provision_opts_t o = {.ds_header_name = "Authorization", .ds_header_value = "Bearer jwt-acme"};
    grafana_provision_result_t res;
    grafana_err_t err;
    r->rc = grafana_tenant_provision(r->c, "acme", &o, &res, &err);
    if (r->rc) snprintf(r->msg, sizeof r->msg, "%s", err.err.msg);
    return NULL;
}

/* Runs for one tenant at the same time (one shared client, as the HTTP workers use it) all succeed and
 * leave exactly one of each object. */
static void concurrent_runs(void **state) {
    (void)state;
    FAKE_REQUIRED();
    grafana_client_t *c = fake_client();
    /* Slow dashboard reads make every run see "missing" before any of them saves: the later saves meet
     * Grafana's 412 and must take it as "already there". */
    fake_control("/__fake/fail", "{\"path_prefix\":\"/api/dashboards/uid/\",\"method\":\"GET\",\"mode\":\"slow\","
                                 "\"status\":150,\"count\":16}");
    racer_t r[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        r[i] = (racer_t){.c = c};
        assert_int_equal(pthread_create(&th[i], NULL, race, &r[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        if (r[i].rc) fail_msg("run %d: %s", i, r[i].msg);
    }
    json_t *st = fake_state();
    assert_provisioned(st, "acme");
    assert_int_equal(json_array_size(json_object_get(st, "orgs")), 2);
    json_decref(st);
    grafana_client_free(c);
}

static void bad_inputs_send_nothing(void **state) {
    (void)state;
    FAKE_REQUIRED();
    grafana_client_t *c = fake_client();
    grafana_provision_result_t res;
    grafana_err_t err;
    char cred[] = "Bearer x";
    grafana_provision_opts_t o = {.ds_header_name = "Authorization", .ds_header_value = cred};
    assert_int_equal(grafana_tenant_provision(c, "../admin", &o, &res, &err), VG_EINVAL);
    assert_int_equal(grafana_tenant_provision(c, "", &o, &res, &err), VG_EINVAL);
    grafana_provision_opts_t none = {0};
    assert_int_equal(grafana_tenant_provision(c, "acme", &none, &res, &err), VG_EINVAL);
    grafana_provision_opts_t crlf = {.ds_header_name = "Authorization", .ds_header_value = "Bearer x\r\nX-Evil: 1"};
    assert_int_equal(grafana_tenant_provision(c, "acme", &crlf, &res, &err), VG_EINVAL);
    assert_int_equal(fake_count(NULL, "/api/"), 0);
    int64_t org;
    assert_int_equal(grafana_tenant_org(c, "nobody", &org, &err), VG_ENOTFOUND);
    grafana_client_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(first_provisioning, fake_test_setup),
        cmocka_unit_test_setup(reprovision_is_idempotent, fake_test_setup),
        cmocka_unit_test_setup(failure_midway_is_repaired, fake_test_setup),
        cmocka_unit_test_setup(lost_answers_create_no_duplicates, fake_test_setup),
        cmocka_unit_test_setup(tenants_are_isolated, fake_test_setup),
        cmocka_unit_test_setup(rotate_credential, fake_test_setup),
        cmocka_unit_test_setup(credential_outcome, fake_test_setup),
        cmocka_unit_test_setup(concurrent_runs, fake_test_setup),
        cmocka_unit_test_setup(bad_inputs_send_nothing, fake_test_setup),
    };
    return cmocka_run_group_tests(tests, fake_group_setup, fake_group_teardown);
}
