/* The server state: config swap references and the per-tenant query concurrency gate. */
#include "http/http.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void tenant_query_gate(void **state) {
    (void)state;
    http_app_t app = {0};
    vg_error_t err;
    assert_int_equal(http_app_init(&app, config_default(), NULL, &err), 0);
    assert_int_equal(http_app_tenant_query_enter(&app, "alice", 2, &err), 0);
    assert_int_equal(http_app_tenant_query_enter(&app, "alice", 2, &err), 0);
    assert_int_equal(http_app_tenant_query_enter(&app, "alice", 2, &err), VG_ERATELIMIT);
    assert_non_null(strstr(err.msg, "concurrent"));
    assert_int_equal(http_app_tenant_query_enter(&app, "bob", 2, &err), 0); /* another tenant is not affected */
    http_app_tenant_query_leave(&app, "alice");
    assert_int_equal(http_app_tenant_query_enter(&app, "alice", 2, &err), 0);
    assert_int_equal(http_app_tenant_query_enter(&app, "carol", 0, &err), 0); /* 0: no limit */
    for (int i = 0; i < 3; i++) http_app_tenant_query_leave(&app, "alice");
    http_app_tenant_query_leave(&app, "bob");
    http_app_tenant_query_leave(&app, "carol");
    assert_int_equal(http_app_tenant_query_enter(&app, "dave", 1, &err), 0); /* reuses an idle slot */
    http_app_tenant_query_leave(&app, "dave");
    http_app_deinit(&app);
}

static void config_references(void **state) {
    (void)state;
    http_app_t app = {0};
    vg_error_t err;
    assert_int_equal(http_app_init(&app, config_default(), NULL, &err), 0);
    config_t *c = http_app_config(&app);
    int held = atomic_load(&c->refs); /* the app's, the auth state's, and ours */
    config_t *c2 = http_app_config(&app);
    assert_ptr_equal(c, c2);
    assert_int_equal(atomic_load(&c->refs), held + 1);
    config_unref(c2);
    assert_int_equal(atomic_load(&c->refs), held);
    config_unref(c);
    assert_int_equal(http_app_reload(&app, &err), VG_EINVAL); /* no file to reload */
    http_app_deinit(&app);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(tenant_query_gate), cmocka_unit_test(config_references)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
