/* Tenant ids and tenant matchers: the template, per-tenant overrides, and config validation. */
#include "tenancy/tenancy.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void tenant_ids(void **state) {
    (void)state;
    static const char *const ok[] = {"a", "7", "acme", "Acme-1.prod_eu", "user@example.com", "ns:team", "a..b"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) assert_true(tenancy_tenant_id_valid(ok[i], strlen(ok[i])));
    static const char *const bad[] = {"", "-a", ".a", "_a", "a b", "a\"b", "a\nb", "a/b", "a\\b", "a{b",
                                      "a}b", "a|b", "a*", "caf\xc3\xa9", "a\x7f", "a'b", "a`b", "a$b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) assert_false(tenancy_tenant_id_valid(bad[i], strlen(bad[i])));
    assert_false(tenancy_tenant_id_valid("ab\0c", 4));
    assert_false(tenancy_tenant_id_valid(NULL, 0));
    char long_id[130];
    memset(long_id, 'a', sizeof long_id);
    assert_true(tenancy_tenant_id_valid(long_id, 128));
    assert_false(tenancy_tenant_id_valid(long_id, 129));
}

static void default_template(void **state) {
    (void)state;
    tenancy_enforce_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    vg_error_t err;
    assert_int_equal(tenancy_enforce_config_check(&cfg, &err), 0);
    tenancy_matcher_t m;
    assert_int_equal(tenancy_matcher_build(&cfg, "acme", 4, &m, &err), 0);
    assert_string_equal(m.label, "namespace");
    assert_int_equal(m.n_values, 1);
    assert_string_equal(m.values[0], "client-acme");
    tenancy_matcher_deinit(&m);
    assert_null(m.label);
    /* Only the given length of the id is used. */
    assert_int_equal(tenancy_matcher_build(&cfg, "acme-and-more", 4, &m, &err), 0);
    assert_string_equal(m.values[0], "client-acme");
    tenancy_matcher_deinit(&m);
}

static void custom_template(void **state) {
    (void)state;
    tenancy_enforce_config_t cfg = {.label = "tenant", .value_template = "{tenant}/{org_id}-prod"};
    vg_error_t err;
    assert_int_equal(tenancy_enforce_config_check(&cfg, &err), 0);
    tenancy_matcher_t m;
    assert_int_equal(tenancy_matcher_build(&cfg, "t1", 2, &m, &err), 0);
    assert_string_equal(m.label, "tenant");
    assert_string_equal(m.values[0], "t1/t1-prod");
    tenancy_matcher_deinit(&m);
}

static void overrides(void **state) {
    (void)state;
    const char *alice[] = {"client-alice", "client-alice-staging"};
    const char *bob[] = {"team-b"};
    tenancy_tenant_override_t ov[2] = {{.tenant = "alice", .values = alice, .n_values = 2},
                                       {.tenant = "bob", .label = "team", .values = bob, .n_values = 1}};
    tenancy_enforce_config_t cfg = {.overrides = ov, .n_overrides = 2};
    vg_error_t err;
    assert_int_equal(tenancy_enforce_config_check(&cfg, &err), 0);
    tenancy_matcher_t m;
    assert_int_equal(tenancy_matcher_build(&cfg, "alice", 5, &m, &err), 0);
    assert_string_equal(m.label, "namespace");
    assert_int_equal(m.n_values, 2);
    assert_string_equal(m.values[0], "client-alice");
    assert_string_equal(m.values[1], "client-alice-staging");
    tenancy_matcher_deinit(&m);
    assert_int_equal(tenancy_matcher_build(&cfg, "bob", 3, &m, &err), 0);
    assert_string_equal(m.label, "team");
    assert_string_equal(m.values[0], "team-b");
    tenancy_matcher_deinit(&m);
    /* A prefix of an override's name is another tenant: it gets the template. */
    assert_int_equal(tenancy_matcher_build(&cfg, "alic", 4, &m, &err), 0);
    assert_string_equal(m.values[0], "client-alic");
    tenancy_matcher_deinit(&m);
}

static void bad_tenant_is_forbidden(void **state) {
    (void)state;
    tenancy_enforce_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    vg_error_t err;
    tenancy_matcher_t m;
    static const char *const bad[] = {"", "a\"} or up{x=\"", "a|b", ".*"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(tenancy_matcher_build(&cfg, bad[i], strlen(bad[i]), &m, &err), VG_EFORBIDDEN);
        assert_null(m.label);
        assert_null(m.values);
    }
}

static void config_errors(void **state) {
    (void)state;
    vg_error_t err;
    const char *vals[] = {"x"};
    const char *empty[] = {""};
    const char *bad_utf8[] = {"\xff"};
    struct {
        tenancy_enforce_config_t cfg;
        tenancy_tenant_override_t ov[2];
        size_t n_ov;
    } cases[] = {
        {.cfg = {.label = "__name__"}},
        {.cfg = {.label = "1abc"}},
        {.cfg = {.label = "a-b"}},
        {.cfg = {.value_template = "static"}},         /* no placeholder: every tenant the same */
        {.cfg = {.value_template = "client-{org}"}},
        {.cfg = {.value_template = "client-{org_id"}},
        {.cfg = {.value_template = "client-}{org_id}"}},
        {.cfg = {.value_template = "\xff{org_id}"}},
        {.ov = {{.tenant = "a b", .values = vals, .n_values = 1}}, .n_ov = 1},
        {.ov = {{.tenant = "a", .values = vals, .n_values = 0}}, .n_ov = 1},
        {.ov = {{.tenant = "a", .values = empty, .n_values = 1}}, .n_ov = 1},
        {.ov = {{.tenant = "a", .values = bad_utf8, .n_values = 1}}, .n_ov = 1},
        {.ov = {{.tenant = "a", .label = "__x", .values = vals, .n_values = 1}}, .n_ov = 1},
        {.ov = {{.tenant = "a", .values = vals, .n_values = 1}, {.tenant = "a", .values = vals, .n_values = 1}}, .n_ov = 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cases[i].cfg.overrides = cases[i].ov;
        cases[i].cfg.n_overrides = cases[i].n_ov;
        vg_error_clear(&err);
        int rc = tenancy_enforce_config_check(&cases[i].cfg, &err);
        if (rc != VG_ECONFIG) print_error("case %zu passed\n", i);
        assert_int_equal(rc, VG_ECONFIG);
        assert_true(err.msg[0] != '\0');
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tenant_ids),      cmocka_unit_test(default_template), cmocka_unit_test(custom_template),
        cmocka_unit_test(overrides),       cmocka_unit_test(bad_tenant_is_forbidden),
        cmocka_unit_test(config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
