/* The server state: config swap references, and the tenant context built from one snapshot. */
#include "service/service.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void config_references(void **state) {
    (void)state;
    service_t app = {0};
    vg_error_t err;
    assert_int_equal(service_init(&app, config_default(), NULL, &err), 0);
    config_t *c = service_config(&app);
    int held = atomic_load(&c->refs); /* the app's, the auth state's, and ours */
    config_t *c2 = service_config(&app);
    assert_ptr_equal(c, c2);
    assert_int_equal(atomic_load(&c->refs), held + 1);
    config_unref(c2);
    assert_int_equal(atomic_load(&c->refs), held);
    config_unref(c);
    assert_int_equal(service_reload(&app, &err), VG_EINVAL); /* no file to reload */
    service_deinit(&app);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(config_references)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
