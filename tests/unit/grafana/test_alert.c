/* Alert rules and datasources: validation of our inputs before anything is sent (no fake needed), then
 * creation in the tenant's org through the fake, with Grafana's conflicts surfaced. */
#include "fake.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define QUERY_A                                                                                                        \
    "{\"refId\":\"A\",\"relativeTimeRange\":{\"from\":600,\"to\":0},\"datasourceUid\":\"vigil\","                  \
    "\"model\":{\"refId\":\"A\",\"expr\":\"sum(rate(http_requests_total{code=~\\\"5..\\\"}[5m]))\",\"instant\":true}}"
#define EXPR_B                                                                                                         \
    "{\"refId\":\"B\",\"datasourceUid\":\"__expr__\",\"model\":{\"type\":\"threshold\",\"expression\":\"A\","        \
    "\"conditions\":[{\"evaluator\":{\"type\":\"gt\",\"params\":[1]}}]}}"

static const char valid[] = "{\"title\":\"High error rate\",\"ruleGroup\":\"api\",\"condition\":\"B\",\"for\":\"5m\","
                            "\"labels\":{\"severity\":\"page\"},\"data\":[" QUERY_A "," EXPR_B "]}";

static void expect_invalid(const char *json, const char *needle) {
    vg_error_t err;
    int rc = grafana_alert_rule_validate(json, strlen(json), &err);
    if (rc != VG_EINVAL) fail_msg("accepted: %s", json);
    if (!strstr(err.msg, needle)) fail_msg("message \"%s\" lacks \"%s\"", err.msg, needle);
}

static void validation(void **state) {
    (void)state;
    vg_error_t err;
    assert_int_equal(grafana_alert_rule_validate(valid, sizeof valid - 1, &err), 0);
    /* for: a duration string, never a number (the OpenAPI spec is wrong here) */
    expect_invalid("{\"title\":\"t\",\"ruleGroup\":\"g\",\"condition\":\"A\",\"for\":300,\"data\":[" QUERY_A "]}",
                   "duration string");
    expect_invalid("{\"title\":\"t\",\"ruleGroup\":\"g\",\"condition\":\"A\",\"for\":\"5 minutes\",\"data\":[" QUERY_A "]}",
                   "invalid duration");
    expect_invalid("{\"title\":\"t\",\"ruleGroup\":\"g\",\"condition\":\"A\",\"data\":[" QUERY_A "]}", "\"for\"");
    /* relativeTimeRange: numbers of seconds */
    expect_invalid("{\"title\":\"t\",\"ruleGroup\":\"g\",\"condition\":\"A\",\"for\":\"1m\",\"data\":[{\"refId\":\"A\","
                   "\"relativeTimeRange\":{\"from\":\"10m\",\"to\":\"0s\"},\"model\":{}}]}",
                   "numbers of seconds");
    expect_invalid("{\"title\":\"t\",\"ruleGroup\":\"g\",\"condition\":\"A\",\"for\":\"1m\",\"data\":[{\"refId\":\"A\","
                   "\"relativeTimeRange\":{\"from\":0,\"to\":600},\"model\":{}}]}",
                   "from >= to");
    expect_invalid("{\"title\":\"t\",\"ruleGroup\":\"g\",\"condition\":\"C\",\"for\":\"1m\",\"data\":[" QUERY_A "]}",
                   "not a refId");
    expect_invalid("{\"title\":\"t\",\"ruleGroup\":\"g\",\"condition\":\"A\",\"for\":\"1m\",\"data\":[" QUERY_A "," QUERY_A "]}",
                   "used twice");
    expect_invalid("{\"title\":\"t\",\"ruleGroup\":\"g\",\"condition\":\"A\",\"for\":\"1m\",\"data\":[]}", "non-empty");
    expect_invalid("{\"title\":\"t\",\"ruleGroup\":\"g\",\"condition\":\"A\",\"for\":\"1m\",\"data\":[{\"refId\":\"A\","
                   "\"model\":\"up\"}]}",
                   "\"model\"");
    expect_invalid("{\"title\":\"\",\"ruleGroup\":\"g\",\"condition\":\"A\",\"for\":\"1m\",\"data\":[" QUERY_A "]}", "title");
    char longt[1024];
    snprintf(longt, sizeof longt,
             "{\"title\":\"%0191d\",\"ruleGroup\":\"g\",\"condition\":\"A\",\"for\":\"1m\",\"data\":[" QUERY_A "]}", 0);
    expect_invalid(longt, "1-190");
    expect_invalid("{\"title\":\"t\",\"ruleGroup\":\"g\",\"uid\":\"a/b\",\"condition\":\"A\",\"for\":\"1m\",\"data\":[" QUERY_A "]}",
                   "uid");
    expect_invalid("{\"title\":\"t\",\"ruleGroup\":\"g\",\"condition\":\"A\",\"for\":\"1m\",\"noDataState\":\"Nope\","
                   "\"data\":[" QUERY_A "]}",
                   "noDataState");
    expect_invalid("{\"title\":\"t\",\"ruleGroup\":\"g\",\"condition\":\"A\",\"for\":\"1m\",\"execErrState\":\"NoData\","
                   "\"data\":[" QUERY_A "]}",
                   "execErrState");
    expect_invalid("[1]", "object");
    expect_invalid("{\"title\":", "invalid JSON");
}

static void create_rule(void **state) {
    (void)state;
    FAKE_REQUIRED();
    grafana_client_t *c = fake_client();
    grafana_provision_result_t res;
    fake_provision(c, "acme", &res);
    grafana_err_t err;
    char *out = NULL;
    assert_int_equal(grafana_alert_rule_create(c, "acme", valid, sizeof valid - 1, &out, &err), 0);
    json_t *r = json_loads(out, 0, NULL);
    free(out);
    assert_non_null(r);
    assert_int_equal(json_integer_value(json_object_get(r, "orgID")), res.org_id);
    assert_string_equal(json_string_value(json_object_get(r, "folderUID")), "vigil");
    assert_string_equal(json_string_value(json_object_get(r, "for")), "5m");
    assert_string_equal(json_string_value(json_object_get(r, "noDataState")), "NoData");
    assert_string_equal(json_string_value(json_object_get(r, "execErrState")), "Error");
    assert_string_equal(json_string_value(json_object_get(r, "provenance")), ""); /* X-Disable-Provenance sent */
    json_decref(r);
    json_t *st = fake_state();
    json_t *rules = json_object_get(fake_org(st, "vigil-acme"), "alert_rules");
    assert_int_equal(json_array_size(rules), 1);
    json_decref(st);

    /* orgID from the caller is ignored: the rule lands in the tenant's org. */
    char other[2048];
    snprintf(other, sizeof other,
             "{\"orgID\":1,\"uid\":\"fixed-uid\",\"title\":\"t2\",\"ruleGroup\":\"g\",\"condition\":\"A\",\"for\":\"1m\","
             "\"data\":[" QUERY_A "]}");
    assert_int_equal(grafana_alert_rule_create(c, "acme", other, strlen(other), &out, &err), 0);
    assert_non_null(strstr(out, "\"orgID\":2"));
    free(out);
    /* Same uid again: Grafana's 409 conflict. */
    assert_int_equal(grafana_alert_rule_create(c, "acme", other, strlen(other), &out, &err), VG_EEXIST);
    assert_int_equal(err.http_status, 409);
    assert_string_equal(err.reason, "alerting.alert-rule.conflict");
    /* A lost answer on a retried create is resolved by reading the rule back: still one rule. */
    snprintf(other, sizeof other,
             "{\"uid\":\"lost-one\",\"title\":\"t3\",\"ruleGroup\":\"g\",\"condition\":\"A\",\"for\":\"1m\",\"data\":[" QUERY_A "]}");
    fake_control("/__fake/fail", "{\"path_prefix\":\"/api/v1/provisioning\",\"status\":502,\"count\":1,\"after\":true}");
    assert_int_equal(grafana_alert_rule_create(c, "acme", other, strlen(other), &out, &err), 0);
    free(out);
    st = fake_state();
    assert_int_equal(json_array_size(json_object_get(fake_org(st, "vigil-acme"), "alert_rules")), 3);
    json_decref(st);
    /* Invalid input never reaches Grafana. */
    int before = fake_count("POST", "/api/v1/provisioning");
    const char bad[] = "{\"title\":\"t\",\"ruleGroup\":\"g\",\"condition\":\"A\",\"for\":60,\"data\":[" QUERY_A "]}";
    assert_int_equal(grafana_alert_rule_create(c, "acme", bad, sizeof bad - 1, &out, &err), VG_EINVAL);
    assert_int_equal(fake_count("POST", "/api/v1/provisioning"), before);
    grafana_client_free(c);
}

/* The seed API's snake_case body: aliases mapped onto Grafana's fields, a missing group defaulted. */
#define SEED_RULE                                                                                                      \
    "{\"title\":\"Seed rule\",\"condition\":\"A\",\"for_duration\":\"5m\",\"no_data_state\":\"OK\","               \
    "\"exec_err_state\":\"Alerting\",\"folder_uid\":\"vigil\",\"is_paused\":true,"                                  \
    "\"labels\":{\"team\":\"ops\"},\"data\":[" QUERY_A "]}"

static json_t *normalized(const char *json) {
    vg_error_t err;
    char *out = NULL;
    if (grafana_alert_rule_normalize(json, strlen(json), &out, &err)) fail_msg("refused: %s: %s", json, err.msg);
    json_t *j = json_loads(out, 0, NULL);
    free(out);
    assert_non_null(j);
    return j;
}

static void expect_normalized_str(const json_t *j, const char *key, const char *want) {
    const char *got = json_string_value(json_object_get(j, key));
    if (!got || strcmp(got, want)) fail_msg("\"%s\": got %s, want \"%s\"", key, got ? got : "(none)", want);
}

static void aliases(void **state) {
    (void)state;
    json_t *j = normalized(SEED_RULE);
    expect_normalized_str(j, "for", "5m");
    expect_normalized_str(j, "noDataState", "OK");
    expect_normalized_str(j, "execErrState", "Alerting");
    expect_normalized_str(j, "folderUID", "vigil");
    expect_normalized_str(j, "ruleGroup", GRAFANA_ALERT_DEFAULT_GROUP);
    assert_true(json_is_true(json_object_get(j, "isPaused")));
    expect_normalized_str(json_object_get(j, "labels"), "team", "ops");
    static const char *const snake[] = {"for_duration", "no_data_state", "exec_err_state", "folder_uid",
                                        "rule_group", "is_paused"};
    for (size_t i = 0; i < sizeof snake / sizeof *snake; i++) assert_null(json_object_get(j, snake[i]));
    json_decref(j);
    /* rule_group given: used as is; Grafana's spelling keeps working; orgID is accepted and dropped */
    j = normalized("{\"title\":\"t\",\"rule_group\":\"api\",\"condition\":\"A\",\"for\":\"1m\",\"data\":[" QUERY_A "]}");
    expect_normalized_str(j, "ruleGroup", "api");
    json_decref(j);
    j = normalized("{\"orgID\":7,\"title\":\"t\",\"ruleGroup\":\"g\",\"condition\":\"A\",\"for\":\"1m\",\"data\":[" QUERY_A "]}");
    expect_normalized_str(j, "ruleGroup", "g");
    assert_null(json_object_get(j, "orgID"));
    json_decref(j);
    /* the aliases' values are validated like Grafana's fields */
    expect_invalid("{\"title\":\"t\",\"condition\":\"A\",\"for_duration\":300,\"data\":[" QUERY_A "]}", "for_duration");
    expect_invalid("{\"title\":\"t\",\"condition\":\"A\",\"for_duration\":\"soon\",\"data\":[" QUERY_A "]}",
                   "invalid duration");
    expect_invalid("{\"title\":\"t\",\"condition\":\"A\",\"for_duration\":\"1m\",\"no_data_state\":\"Error\","
                   "\"data\":[" QUERY_A "]}",
                   "no_data_state");
    expect_invalid("{\"title\":\"t\",\"condition\":\"A\",\"for_duration\":\"1m\",\"exec_err_state\":\"NoData\","
                   "\"data\":[" QUERY_A "]}",
                   "exec_err_state");
    expect_invalid("{\"title\":\"t\",\"condition\":\"A\",\"for_duration\":\"1m\",\"folder_uid\":\"a/b\","
                   "\"data\":[" QUERY_A "]}",
                   "folder_uid");
    expect_invalid("{\"title\":\"t\",\"condition\":\"A\",\"for_duration\":\"1m\",\"rule_group\":\"\","
                   "\"data\":[" QUERY_A "]}",
                   "rule_group");
}

static void both_spellings(void **state) {
    (void)state;
    expect_invalid("{\"title\":\"t\",\"condition\":\"A\",\"for\":\"1m\",\"for_duration\":\"1m\",\"data\":[" QUERY_A "]}",
                   "both \"for\" and \"for_duration\"");
    expect_invalid("{\"title\":\"t\",\"condition\":\"A\",\"for\":\"1m\",\"noDataState\":\"OK\",\"no_data_state\":\"OK\","
                   "\"data\":[" QUERY_A "]}",
                   "both \"noDataState\" and \"no_data_state\"");
    expect_invalid("{\"title\":\"t\",\"condition\":\"A\",\"for\":\"1m\",\"execErrState\":\"OK\",\"exec_err_state\":\"OK\","
                   "\"data\":[" QUERY_A "]}",
                   "both \"execErrState\" and \"exec_err_state\"");
    expect_invalid("{\"title\":\"t\",\"condition\":\"A\",\"for\":\"1m\",\"folderUID\":\"f\",\"folder_uid\":\"f\","
                   "\"data\":[" QUERY_A "]}",
                   "both \"folderUID\" and \"folder_uid\"");
    expect_invalid("{\"title\":\"t\",\"condition\":\"A\",\"for\":\"1m\",\"ruleGroup\":\"g\",\"rule_group\":\"g\","
                   "\"data\":[" QUERY_A "]}",
                   "both \"ruleGroup\" and \"rule_group\"");
}

static void unknown_fields(void **state) {
    (void)state;
    const char body[] = "{\"title\":\"t\",\"condition\":\"A\",\"for_duration\":\"1m\",\"severity\":\"page\","
                        "\"data\":[" QUERY_A "],\"interval\":\"1m\",\"forDuration\":\"1m\"}";
    vg_error_t err;
    assert_int_equal(grafana_alert_rule_validate(body, sizeof body - 1, &err), VG_EINVAL);
    assert_non_null(strstr(err.msg, "unknown fields"));
    assert_non_null(strstr(err.msg, "\"severity\""));
    assert_non_null(strstr(err.msg, "\"interval\""));
    assert_non_null(strstr(err.msg, "\"forDuration\""));
    assert_null(strstr(err.msg, "\"title\""));
    expect_invalid("{\"title\":\"t\",\"condition\":\"A\",\"for\":\"1m\",\"data\":[" QUERY_A "],\"x\":1}",
                   "unknown field \"x\"");
    /* a field inside data[] or labels is not a rule field: not checked against the list */
    json_t *j = normalized("{\"title\":\"t\",\"condition\":\"A\",\"for\":\"1m\",\"labels\":{\"anything\":\"x\"},"
                           "\"data\":[" QUERY_A "]}");
    json_decref(j);
}

/* A seed-style body through the fake: the rule Grafana stores carries the mapped fields. */
static void create_seed_rule(void **state) {
    (void)state;
    FAKE_REQUIRED();
    grafana_client_t *c = fake_client();
    grafana_provision_result_t res;
    fake_provision(c, "acme", &res);
    grafana_err_t err;
    char *out = NULL;
    assert_int_equal(grafana_alert_rule_create(c, "acme", SEED_RULE, strlen(SEED_RULE), &out, &err), 0);
    free(out);
    json_t *st = fake_state();
    json_t *rules = json_object_get(fake_org(st, "vigil-acme"), "alert_rules");
    assert_int_equal(json_array_size(rules), 1);
    json_t *r = json_array_get(rules, 0);
    expect_normalized_str(r, "for", "5m");
    expect_normalized_str(r, "noDataState", "OK");
    expect_normalized_str(r, "execErrState", "Alerting");
    expect_normalized_str(r, "ruleGroup", GRAFANA_ALERT_DEFAULT_GROUP);
    assert_null(json_object_get(r, "for_duration"));
    json_decref(st);
    /* an unknown field never reaches Grafana */
    int before = fake_count("POST", "/api/v1/provisioning");
    const char bad[] = "{\"title\":\"t\",\"condition\":\"A\",\"for\":\"1m\",\"severity\":\"page\",\"data\":[" QUERY_A "]}";
    assert_int_equal(grafana_alert_rule_create(c, "acme", bad, sizeof bad - 1, &out, &err), VG_EINVAL);
    assert_non_null(strstr(err.err.msg, "\"severity\""));
    assert_int_equal(fake_count("POST", "/api/v1/provisioning"), before);
    grafana_client_free(c);
}

static void create_datasource(void **state) {
    (void)state;
    FAKE_REQUIRED();
    grafana_client_t *c = fake_client();
    grafana_provision_result_t res;
    fake_provision(c, "acme", &res);
    grafana_err_t err;
    char *out = NULL;
    const char ds[] = "{\"name\":\"mimir\",\"url\":\"http://mimir:9009/prometheus\",\"orgId\":1,"
                      "\"jsonData\":{\"httpHeaderName1\":\"X-Scope-OrgID\"},"
                      "\"secureJsonData\":{\"httpHeaderValue1\":\"acme\"}}";
    assert_int_equal(grafana_datasource_create(c, "acme", ds, sizeof ds - 1, NULL, &out, &err), 0);
    json_t *j = json_loads(out, 0, NULL);
    free(out);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "prometheus");
    assert_string_equal(json_string_value(json_object_get(j, "access")), "proxy");
    assert_int_equal(json_integer_value(json_object_get(j, "orgId")), res.org_id);
    assert_true(json_is_true(json_object_get(json_object_get(j, "secureJsonFields"), "httpHeaderValue1")));
    assert_null(json_object_get(j, "secureJsonData")); /* secrets are not echoed */
    json_decref(j);
    assert_int_equal(grafana_datasource_create(c, "acme", ds, sizeof ds - 1, NULL, &out, &err), VG_EEXIST);
    assert_int_equal(err.http_status, 409);
    assert_non_null(strstr(err.err.msg, "same name"));
    const char nourl[] = "{\"name\":\"x\"}";
    assert_int_equal(grafana_datasource_create(c, "acme", nourl, sizeof nourl - 1, NULL, &out, &err), VG_EINVAL);
    const char badtype[] = "{\"name\":\"x\",\"url\":\"http://x\",\"isDefault\":\"yes\"}";
    assert_int_equal(grafana_datasource_create(c, "acme", badtype, sizeof badtype - 1, NULL, &out, &err), VG_EINVAL);
    assert_int_equal(grafana_datasource_create(c, "ghost", ds, sizeof ds - 1, NULL, &out, &err), VG_ENOTFOUND);
    grafana_client_free(c);
}

/* The datasource URL check: vigil_url and allowed prefixes, compared normalised, and the usual tricks. */
static void url_allowed(void **state) {
    (void)state;
    const char *const allow[] = {"https://mimir.example/prometheus", "http://[::1]:9009/", "not a url"};
    static const struct {
        const char *url;
        bool ok;
    } cases[] = {
        {"http://vigil.example:9290", true},
        {"http://vigil.example:9290/", true},
        {"HTTP://VIGIL.Example:9290/api/v1", true},
        {"http://vigil.example.:9290", true},
        {"http://vigil.example@evil:9290", false},         /* userinfo: the host is evil */
        {"http://vigil.example:9290@evil", false},
        {"http://user:pw@vigil.example:9290", false},
        {"http://vigil.example.evil:9290", false},         /* a host below vigil's name */
        {"http://vigil.example:92901", false},
        {"http://vigil.example:9291", false},
        {"http://vigil.example", false},                   /* port 80, not 9290 */
        {"http://vigil.example:", false},
        {"https://vigil.example:9290", false},             /* another scheme */
        {"http://vigil.example:9290\\@evil", false},
        {"http://vigil.example:9290#@evil", false},
        {"http://vigil.example:9290?x=@evil", false},
        {"http://vigil.example:9290/ x", false},
        {"http://vigil%2eexample:9290", false},
        {"ftp://vigil.example:9290", false},
        {"vigil.example:9290", false},
        {"", false},
        {"https://mimir.example/prometheus", true},
        {"https://mimir.example:443/prometheus/api/v1", true},
        {"https://mimir.example/prometheus/", true},
        {"https://mimir.example/prometheus-evil", false}, /* a prefix, but not on a segment boundary */
        {"https://mimir.example/prom", false},
        {"https://mimir.example/", false},
        {"https://mimir.example/prometheus/../admin", false},
        {"https://mimir.example/prometheus/./x", false},
        {"https://mimir.example/prometheus/%2e%2e/admin", false},
        {"http://mimir.example/prometheus", false},
        {"http://[::1]:9009/x", true},
        {"http://[::1]:9010/x", false},
        {"http://[::1@evil]:9009/", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        bool got = grafana_url_allowed(cases[i].url, "http://vigil.example:9290", allow, 3);
        if (got != cases[i].ok) fail_msg("%s: want %d, got %d", cases[i].url, cases[i].ok, got);
    }
    assert_false(grafana_url_allowed(NULL, "http://vigil.example:9290", allow, 3));
    assert_false(grafana_url_allowed("http://vigil.example:9290", NULL, NULL, 0));
    assert_true(grafana_url_allowed("http://vigil.example:9290/x", "http://vigil.example:9290/", NULL, 0));
}

/* A tenant (restricted) cannot point a datasource elsewhere; nothing reaches Grafana. An admin can. */
static void datasource_policy(void **state) {
    (void)state;
    FAKE_REQUIRED();
    grafana_client_t *c = fake_client();
    grafana_provision_result_t res;
    fake_provision(c, "acme", &res);
    grafana_err_t err;
    char *out = NULL;
    const char *const allow[] = {"http://mimir:9009/prometheus"};
    grafana_ds_policy_t tenant = {.restricted = true, .url_allow = allow, .n_url_allow = 1};
    int before = fake_count("POST", "/api/datasources");
    const char evil[] = "{\"name\":\"x\",\"url\":\"http://vigil:9290@169.254.169.254/latest\"}";
    assert_int_equal(grafana_datasource_create(c, "acme", evil, sizeof evil - 1, &tenant, &out, &err), VG_EFORBIDDEN);
    assert_null(out);
    assert_null(strstr(err.err.msg, "169.254")); /* the URL is not echoed (it may hold a password) */
    const char other[] = "{\"name\":\"x\",\"url\":\"http://mimir:9009/prometheus-admin\"}";
    assert_int_equal(grafana_datasource_create(c, "acme", other, sizeof other - 1, &tenant, &out, &err), VG_EFORBIDDEN);
    const char loki[] = "{\"name\":\"x\",\"type\":\"loki\",\"url\":\"http://vigil:9290\"}";
    assert_int_equal(grafana_datasource_create(c, "acme", loki, sizeof loki - 1, &tenant, &out, &err), VG_EFORBIDDEN);
    assert_int_equal(fake_count("POST", "/api/datasources"), before);
    const char mimir[] = "{\"name\":\"mimir\",\"url\":\"http://mimir:9009/prometheus\"}";
    assert_int_equal(grafana_datasource_create(c, "acme", mimir, sizeof mimir - 1, &tenant, &out, &err), 0);
    free(out);
    const char own[] = "{\"name\":\"vigil-2\",\"url\":\"http://vigil:9290/\"}";
    assert_int_equal(grafana_datasource_create(c, "acme", own, sizeof own - 1, &tenant, &out, &err), 0);
    free(out);
    grafana_ds_policy_t admin = {.restricted = false};
    assert_int_equal(grafana_datasource_create(c, "acme", evil, sizeof evil - 1, &admin, &out, &err), 0);
    free(out);
    grafana_client_free(c);
}

/* List, get and delete datasources and alert rules, each in the tenant's own org only. */
static void read_and_delete(void **state) {
    (void)state;
    FAKE_REQUIRED();
    grafana_client_t *c = fake_client();
    grafana_provision_result_t res;
    fake_provision(c, "acme", &res);
    fake_provision(c, "other", &res);
    grafana_err_t err;
    char *out = NULL;
    const char ds[] = "{\"name\":\"mimir\",\"uid\":\"mimir\",\"url\":\"http://mimir:9009/prometheus\"}";
    assert_int_equal(grafana_datasource_create(c, "acme", ds, sizeof ds - 1, NULL, &out, &err), 0);
    free(out);
    const char rule[] = "{\"uid\":\"r1\",\"title\":\"t\",\"ruleGroup\":\"g\",\"condition\":\"A\",\"for\":\"1m\","
                        "\"data\":[" QUERY_A "]}";
    assert_int_equal(grafana_alert_rule_create(c, "acme", rule, sizeof rule - 1, &out, &err), 0);
    free(out);

    assert_int_equal(grafana_datasource_list(c, "acme", &out, &err), 0);
    json_t *j = json_loads(out, 0, NULL);
    free(out);
    assert_int_equal(json_array_size(j), 2); /* vigil's and mimir */
    json_decref(j);
    assert_int_equal(grafana_datasource_get(c, "acme", "mimir", &out, &err), 0);
    assert_non_null(strstr(out, "http://mimir:9009/prometheus"));
    free(out);
    assert_int_equal(grafana_datasource_get(c, "other", "mimir", &out, &err), VG_ENOTFOUND);
    assert_int_equal(grafana_datasource_get(c, "acme", "../admin", &out, &err), VG_EINVAL);
    assert_int_equal(grafana_alert_rule_list(c, "acme", &out, &err), 0);
    assert_non_null(strstr(out, "\"r1\""));
    free(out);
    assert_int_equal(grafana_alert_rule_list(c, "other", &out, &err), 0);
    assert_string_equal(out, "[]");
    free(out);
    assert_int_equal(grafana_alert_rule_get(c, "acme", "r1", &out, &err), 0);
    free(out);
    assert_int_equal(grafana_alert_rule_get(c, "other", "r1", &out, &err), VG_ENOTFOUND);

    grafana_ds_policy_t tenant = {.restricted = true};
    assert_int_equal(grafana_datasource_delete(c, "other", "mimir", &tenant, &err), VG_ENOTFOUND);
    assert_int_equal(grafana_datasource_delete(c, "acme", "vigil", &tenant, &err), VG_EFORBIDDEN);
    assert_int_equal(grafana_datasource_delete(c, "acme", "mimir", &tenant, &err), 0);
    assert_int_equal(grafana_datasource_get(c, "acme", "mimir", &out, &err), VG_ENOTFOUND);
    assert_int_equal(grafana_alert_rule_delete(c, "other", "r1", &err), 0); /* Grafana's 204: nothing there */
    assert_int_equal(grafana_alert_rule_get(c, "acme", "r1", &out, &err), 0);
    free(out);
    assert_int_equal(grafana_alert_rule_delete(c, "acme", "r1", &err), 0);
    assert_int_equal(grafana_alert_rule_get(c, "acme", "r1", &out, &err), VG_ENOTFOUND);
    assert_int_equal(grafana_datasource_list(c, "ghost", &out, &err), VG_ENOTFOUND);
    grafana_client_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(validation),
        cmocka_unit_test(aliases),
        cmocka_unit_test(both_spellings),
        cmocka_unit_test(unknown_fields),
        cmocka_unit_test_setup(create_rule, fake_test_setup),
        cmocka_unit_test_setup(create_seed_rule, fake_test_setup),
        cmocka_unit_test_setup(create_datasource, fake_test_setup),
        cmocka_unit_test(url_allowed),
        cmocka_unit_test_setup(datasource_policy, fake_test_setup),
        cmocka_unit_test_setup(read_and_delete, fake_test_setup),
    };
    return cmocka_run_group_tests(tests, fake_group_setup, fake_group_teardown);
}
