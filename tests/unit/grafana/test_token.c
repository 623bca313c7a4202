/* Service-account tokens against the contract fake: create with names metrics-<t>-token-<n> and a
 * lifetime, the grafana-token answer, list, revoke, tenant boundaries, and a token whose answer was
 * lost being replaced instead of left behind. */
#include "fake.h"

#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

static void assert_key_format(const char *key) {
    regex_t re;
    assert_int_equal(regcomp(&re, "^glsa_[A-Za-z0-9]{32}_[0-9a-f]{8}$", REG_EXTENDED | REG_NOSUB), 0);
    int m = regexec(&re, key, 0, NULL, 0);
    regfree(&re);
    if (m) fail_msg("token key has an unexpected format");
}

static json_t *tokens_in_state(const char *org) {
    json_t *st = fake_state();
    json_t *sa = json_array_get(json_object_get(fake_org(st, org), "service_accounts"), 0);
    json_t *toks = json_incref(json_object_get(sa, "tokens"));
    json_decref(st);
    return toks;
}

static void create_and_answer(void **state) {
    (void)state;
    FAKE_REQUIRED();
    grafana_client_t *c = fake_client();
    grafana_provision_result_t res;
    fake_provision(c, "acme", &res);
    grafana_token_t t;
    grafana_err_t err;
    assert_int_equal(grafana_token_create(c, "acme", 0, &t, &err), 0);
    assert_string_equal(t.name, "metrics-acme-token-1");
    assert_int_equal(t.service_account_id, res.service_account_id);
    assert_int_equal(t.org_id, res.org_id);
    assert_int_equal(t.seconds_to_live, 365LL * 86400);
    assert_key_format(t.key);
    /* Grafana stored the lifetime. */
    json_t *toks = tokens_in_state("vigil-acme");
    assert_int_equal(json_array_size(toks), 1);
    int64_t expires = json_integer_value(json_object_get(json_array_get(toks, 0), "expires"));
    int64_t now = (int64_t)time(NULL);
    assert_true(expires >= now + 365 * 86400 - 60 && expires <= now + 365 * 86400 + 60);
    json_decref(toks);
    /* The key works against Grafana, in the tenant's org, as a Viewer. */
    char body[256], *ans = NULL;
    snprintf(body, sizeof body, "{\"key\":\"%s\"}", t.key);
    assert_int_equal(fake_http("POST", "/__fake/token", body, NULL, 0, &ans), 200);
    assert_non_null(strstr(ans, "\"role\": \"Viewer\""));
    free(ans);

    char *out = NULL;
    assert_int_equal(grafana_token_response(c, "acme", "client-acme", &t, &out), 0);
    json_t *j = json_loads(out, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "token")), t.key);
    assert_string_equal(json_string_value(json_object_get(j, "name")), "metrics-acme-token-1");
    assert_int_equal(json_integer_value(json_object_get(j, "service_account_id")), res.service_account_id);
    assert_string_equal(json_string_value(json_object_get(j, "grafana_url")), "https://grafana.example.com");
    assert_string_equal(json_string_value(json_object_get(j, "org_id")), "acme");
    assert_string_equal(json_string_value(json_object_get(j, "namespace")), "client-acme");
    assert_int_equal(json_integer_value(json_object_get(j, "expires_in_days")), 365);
    assert_true(json_is_string(json_object_get(j, "message")));
    json_decref(j);
    free(out);
    grafana_token_deinit(&t);
    assert_null(t.key);

    /* The next one is -2; a custom lifetime rounds up to days. */
    assert_int_equal(grafana_token_create(c, "acme", 3600, &t, &err), 0);
    assert_string_equal(t.name, "metrics-acme-token-2");
    assert_int_equal(grafana_token_response(c, "acme", NULL, &t, &out), 0);
    assert_non_null(strstr(out, "\"expires_in_days\":1"));
    free(out);
    grafana_token_deinit(&t);
    grafana_client_free(c);
}

static void list_and_revoke(void **state) {
    (void)state;
    FAKE_REQUIRED();
    grafana_client_t *c = fake_client();
    grafana_provision_result_t res;
    fake_provision(c, "acme", &res);
    fake_provision(c, "beta", &res);
    grafana_err_t err;
    char *out = NULL;
    assert_int_equal(grafana_token_list(c, "acme", &out, &err), 0);
    assert_string_equal(out, "[]");
    free(out);
    grafana_token_t t1, t2, tb;
    assert_int_equal(grafana_token_create(c, "acme", 0, &t1, &err), 0);
    assert_int_equal(grafana_token_create(c, "acme", 0, &t2, &err), 0);
    assert_int_equal(grafana_token_create(c, "beta", 0, &tb, &err), 0);
    assert_string_equal(tb.name, "metrics-beta-token-1");
    assert_int_equal(fake_http("GET", "/api/org", NULL, t2.key, 0, NULL), 200); /* mark t2 used */

    assert_int_equal(grafana_token_list(c, "acme", &out, &err), 0);
    json_t *l = json_loads(out, 0, NULL);
    free(out);
    assert_int_equal(json_array_size(l), 2);
    json_t *a = json_array_get(l, 0), *b = json_array_get(l, 1);
    assert_int_equal(json_integer_value(json_object_get(a, "id")), t1.id);
    assert_string_equal(json_string_value(json_object_get(a, "name")), "metrics-acme-token-1");
    assert_true(json_is_string(json_object_get(a, "created")));
    assert_true(json_is_string(json_object_get(a, "expires")));
    assert_true(json_is_null(json_object_get(a, "last_used")));
    assert_true(json_is_false(json_object_get(a, "expired")));
    assert_true(json_is_string(json_object_get(b, "last_used")));
    assert_null(json_object_get(a, "key")); /* never the secret */
    json_decref(l);

    /* Revoke: beta cannot revoke acme's token, acme can, once. */
    assert_int_equal(grafana_token_revoke(c, "beta", t1.id, &err), VG_ENOTFOUND);
    assert_int_equal(grafana_token_revoke(c, "acme", t1.id, &err), 0);
    assert_int_equal(grafana_token_revoke(c, "acme", t1.id, &err), VG_ENOTFOUND);
    assert_int_equal(grafana_token_revoke(c, "acme", 0, &err), VG_EINVAL);
    assert_int_equal(fake_http("GET", "/api/org", NULL, t1.key, 0, NULL), 401);
    assert_int_equal(fake_http("GET", "/api/org", NULL, t2.key, 0, NULL), 200);
    assert_int_equal(grafana_token_list(c, "acme", &out, &err), 0);
    assert_null(strstr(out, "metrics-acme-token-1"));
    assert_non_null(strstr(out, "metrics-acme-token-2"));
    free(out);
    /* The next name stays above every one in use. */
    grafana_token_t t3;
    assert_int_equal(grafana_token_create(c, "acme", 0, &t3, &err), 0);
    assert_string_equal(t3.name, "metrics-acme-token-3");
    grafana_token_deinit(&t1);
    grafana_token_deinit(&t2);
    grafana_token_deinit(&t3);
    grafana_token_deinit(&tb);
    grafana_client_free(c);
}

static void needs_provisioning(void **state) {
    (void)state;
    FAKE_REQUIRED();
    grafana_client_t *c = fake_client();
    grafana_token_t t;
    grafana_err_t err;
    assert_int_equal(grafana_token_create(c, "ghost", 0, &t, &err), VG_ENOTFOUND);
    assert_null(t.key);
    assert_int_equal(grafana_token_create(c, "acme", -5, &t, &err), VG_EINVAL);
    char *out = NULL;
    assert_int_equal(grafana_token_list(c, "ghost", &out, &err), VG_ENOTFOUND);
    assert_null(out);
    grafana_client_free(c);
}

/* Grafana created the token but the answer was lost: the key is unknowable, so vigil deletes that
 * token and creates it again; exactly one token with the name exists and the returned key works. */
static void lost_answer_replaced(void **state) {
    (void)state;
    FAKE_REQUIRED();
    grafana_client_t *c = fake_client();
    grafana_provision_result_t res;
    fake_provision(c, "acme", &res);
    fake_control("/__fake/fail", "{\"path_prefix\":\"/api/serviceaccounts/\",\"method\":\"POST\",\"status\":503,"
                                 "\"count\":1,\"after\":true}");
    grafana_token_t t;
    grafana_err_t err;
    assert_int_equal(grafana_token_create(c, "acme", 0, &t, &err), 0);
    assert_string_equal(t.name, "metrics-acme-token-1");
    json_t *toks = tokens_in_state("vigil-acme");
    assert_int_equal(json_array_size(toks), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(toks, 0), "id")), t.id);
    json_decref(toks);
    assert_int_equal(fake_http("GET", "/api/org", NULL, t.key, 0, NULL), 200);
    grafana_token_deinit(&t);

    /* A 503 before Grafana did anything is retried plainly. */
    fake_control("/__fake/fail", "{\"path_prefix\":\"/api/serviceaccounts/\",\"method\":\"POST\",\"status\":503,\"count\":1}");
    assert_int_equal(grafana_token_create(c, "acme", 0, &t, &err), 0);
    assert_string_equal(t.name, "metrics-acme-token-2");
    grafana_token_deinit(&t);
    toks = tokens_in_state("vigil-acme");
    assert_int_equal(json_array_size(toks), 2);
    json_decref(toks);

    /* Grafana stays down: a clear error, no token left behind. */
    fake_control("/__fake/fail", "{\"path_prefix\":\"/api/serviceaccounts/\",\"method\":\"POST\",\"status\":503,\"count\":50}");
    assert_int_equal(grafana_token_create(c, "acme", 0, &t, &err), VG_EUNAVAIL);
    assert_int_equal(err.http_status, 503);
    assert_null(t.key);
    toks = tokens_in_state("vigil-acme");
    assert_int_equal(json_array_size(toks), 2);
    json_decref(toks);
    grafana_client_free(c);
}

/* Token names are unique per org: a name taken by another account of the org is skipped, not deleted. */
static void name_taken_elsewhere(void **state) {
    (void)state;
    FAKE_REQUIRED();
    grafana_client_t *c = fake_client();
    grafana_provision_result_t res;
    fake_provision(c, "acme", &res);
    char *body = NULL;
    assert_int_equal(fake_http("POST", "/api/serviceaccounts", "{\"name\":\"other\",\"role\":\"Viewer\"}", "admin",
                               res.org_id, &body),
                     201);
    json_t *sa = json_loads(body, 0, NULL);
    free(body);
    char path[128];
    snprintf(path, sizeof path, "/api/serviceaccounts/%lld/tokens",
             (long long)json_integer_value(json_object_get(sa, "id")));
    json_decref(sa);
    assert_int_equal(fake_http("POST", path, "{\"name\":\"metrics-acme-token-1\"}", "admin", res.org_id, NULL), 200);
    grafana_token_t t;
    grafana_err_t err;
    assert_int_equal(grafana_token_create(c, "acme", 0, &t, &err), 0);
    assert_string_equal(t.name, "metrics-acme-token-2");
    grafana_token_deinit(&t);
    json_t *st = fake_state();
    json_t *sas = json_object_get(fake_org(st, "vigil-acme"), "service_accounts");
    assert_int_equal(json_array_size(json_object_get(json_array_get(sas, 1), "tokens")), 1); /* "other" kept its own */
    json_decref(st);
    grafana_client_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(create_and_answer, fake_test_setup),
        cmocka_unit_test_setup(list_and_revoke, fake_test_setup),
        cmocka_unit_test_setup(needs_provisioning, fake_test_setup),
        cmocka_unit_test_setup(lost_answer_replaced, fake_test_setup),
        cmocka_unit_test_setup(name_taken_elsewhere, fake_test_setup),
    };
    return cmocka_run_group_tests(tests, fake_group_setup, fake_group_teardown);
}
