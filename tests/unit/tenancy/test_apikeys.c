/* API keys: minting, verification, revocation, persistence across reopen, corrupt files, a tenant's
 * list, one key by tenant and id, the capped create. */
#include "tenancy/tenancy.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static char dir[64];
static char path[128];

static int setup(void **state) {
    (void)state;
    strcpy(dir, "/tmp/vigil-keys-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    snprintf(path, sizeof path, "%s/apikeys.json", dir);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    unlink(path);
    rmdir(dir);
    return 0;
}

static void lifecycle(void **state) {
    (void)state;
    tenancy_keystore_t *ks;
    vg_error_t err;
    assert_int_equal(tenancy_keystore_open(path, &ks, &err), 0);
    char k1[TENANCY_APIKEY_LEN + 1], k2[TENANCY_APIKEY_LEN + 1], k3[TENANCY_APIKEY_LEN + 1];
    uint64_t id1, id2, id3;
    assert_int_equal(tenancy_keystore_create(ks, "alice", "grafana-datasource", k1, &id1, &err), 0);
    assert_int_equal(tenancy_keystore_create(ks, "alice", "grafana-datasource", k2, &id2, &err), 0);
    assert_int_equal(tenancy_keystore_create(ks, "bob", "grafana-datasource", k3, &id3, &err), 0);
    assert_int_equal(strlen(k1), TENANCY_APIKEY_LEN);
    assert_true(tenancy_apikey_like(k1, strlen(k1)));
    assert_string_not_equal(k1, k2);
    char tenant[TENANCY_TENANT_MAX + 1];
    assert_int_equal(tenancy_keystore_verify(ks, k1, strlen(k1), tenant, &err), 0);
    assert_string_equal(tenant, "alice");
    assert_int_equal(tenancy_keystore_verify(ks, k3, strlen(k3), tenant, &err), 0);
    assert_string_equal(tenant, "bob");
    char forged[TENANCY_APIKEY_LEN + 1];
    memcpy(forged, k1, sizeof forged);
    forged[10] = forged[10] == 'A' ? 'B' : 'A';
    assert_int_equal(tenancy_keystore_verify(ks, forged, strlen(forged), tenant, &err), VG_EAUTH);
    assert_int_equal(tenancy_keystore_verify(ks, "vgk_short", 9, tenant, &err), VG_EAUTH);
    assert_int_equal(tenancy_keystore_count(ks, "alice", "grafana-datasource"), 2);
    assert_int_equal(tenancy_keystore_count(ks, "alice", "other"), 0);
    assert_int_equal(tenancy_keystore_count(ks, "bob", NULL), 1);
    /* rotation: revoke alice's other datasource keys, keep the newest */
    size_t n;
    assert_int_equal(tenancy_keystore_revoke(ks, "alice", "grafana-datasource", id2, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(tenancy_keystore_verify(ks, k1, strlen(k1), tenant, &err), VG_EAUTH);
    assert_int_equal(tenancy_keystore_verify(ks, k2, strlen(k2), tenant, &err), 0);
    assert_int_equal(tenancy_keystore_count(ks, "alice", "grafana-datasource"), 1);
    tenancy_keystore_free(ks);
    /* the file keeps digests only, and survives a reopen */
    FILE *fp = fopen(path, "r");
    char buf[4096];
    size_t len = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[len] = '\0';
    assert_null(strstr(buf, k2 + 4));
    assert_int_equal(tenancy_keystore_open(path, &ks, &err), 0);
    assert_int_equal(tenancy_keystore_verify(ks, k2, strlen(k2), tenant, &err), 0);
    assert_string_equal(tenant, "alice");
    assert_int_equal(tenancy_keystore_verify(ks, k1, strlen(k1), tenant, &err), VG_EAUTH);
    uint64_t id4;
    char k4[TENANCY_APIKEY_LEN + 1];
    assert_int_equal(tenancy_keystore_create(ks, "carol", "x", k4, &id4, &err), 0);
    assert_true(id4 > id3); /* ids are never reused */
    assert_int_equal(tenancy_keystore_revoke(ks, "bob", NULL, 0, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(tenancy_keystore_verify(ks, k3, strlen(k3), tenant, &err), VG_EAUTH);
    assert_int_equal(tenancy_keystore_create(ks, "bad tenant", "x", k4, &id4, &err), VG_EINVAL);
    tenancy_keystore_free(ks);
}

static void list_get_capped(void **state) {
    (void)state;
    tenancy_keystore_t *ks;
    vg_error_t err;
    assert_int_equal(tenancy_keystore_open(path, &ks, &err), 0);
    char k[TENANCY_APIKEY_LEN + 1];
    uint64_t ds, a1, a2, b1;
    tenancy_apikey_info_t *v;
    size_t n;
    assert_int_equal(tenancy_keystore_list(ks, "alice", &v, &n), 0);
    assert_null(v);
    assert_int_equal(n, 0);
    assert_int_equal(tenancy_keystore_create(ks, "alice", TENANCY_APIKEY_DATASOURCE, k, &ds, &err), 0);
    /* max 2, the datasource's key not counted */
    assert_int_equal(tenancy_keystore_create_capped(ks, "alice", "ci", 2, TENANCY_APIKEY_DATASOURCE, k, &a1, &err), 0);
    assert_int_equal(tenancy_keystore_create_capped(ks, "alice", "ci", 2, TENANCY_APIKEY_DATASOURCE, k, &a2, &err), 0);
    assert_int_equal(tenancy_keystore_create_capped(ks, "bob", "x", 2, TENANCY_APIKEY_DATASOURCE, k, &b1, &err), 0);
    uint64_t none = 0;
    k[0] = 'v';
    assert_int_equal(tenancy_keystore_create_capped(ks, "alice", "ci", 2, TENANCY_APIKEY_DATASOURCE, k, &none, &err),
                     VG_ELIMIT);
    assert_int_equal(none, 0);
    assert_int_equal(k[0], 0); /* the refused key is wiped */
    assert_int_equal(tenancy_keystore_count(ks, "alice", NULL), 3);
    /* counting every key: alice has 3 already */
    assert_int_equal(tenancy_keystore_create_capped(ks, "alice", "ci", 3, NULL, k, &none, &err), VG_ELIMIT);
    assert_int_equal(tenancy_keystore_list(ks, "alice", &v, &n), 0);
    assert_int_equal(n, 3);
    assert_true(v[0].id == ds && v[1].id == a1 && v[2].id == a2);
    assert_string_equal(v[0].name, TENANCY_APIKEY_DATASOURCE);
    assert_string_equal(v[2].name, "ci");
    assert_true(v[2].created_ms > 0);
    free(v);
    tenancy_apikey_info_t one;
    assert_int_equal(tenancy_keystore_get(ks, "alice", a2, &one), 0);
    assert_true(one.id == a2 && !strcmp(one.name, "ci"));
    assert_int_equal(tenancy_keystore_get(ks, "bob", a2, &one), VG_ENOTFOUND); /* another tenant's */
    assert_int_equal(tenancy_keystore_get(ks, "alice", b1, &one), VG_ENOTFOUND);
    assert_int_equal(tenancy_keystore_get(ks, "alice", 999, &one), VG_ENOTFOUND);
    assert_int_equal(tenancy_keystore_revoke_id(ks, a1, &err), 0);
    assert_int_equal(tenancy_keystore_get(ks, "alice", a1, &one), VG_ENOTFOUND);
    assert_int_equal(tenancy_keystore_create_capped(ks, "alice", "ci", 2, TENANCY_APIKEY_DATASOURCE, k, &none, &err), 0);
    tenancy_keystore_free(ks);
}

static void corrupt(void **state) {
    (void)state;
    const char *bad[] = {"{", "{}", "[{\"id\":1}]", "[{\"id\":1,\"tenant\":\"a\",\"name\":\"n\",\"sha256\":\"zz\",\"created_ms\":0}]",
                         "[{\"id\":1,\"tenant\":\"a b\",\"name\":\"n\",\"sha256\":\"00\",\"created_ms\":0}]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        FILE *fp = fopen(path, "w");
        fputs(bad[i], fp);
        fclose(fp);
        tenancy_keystore_t *ks = (tenancy_keystore_t *)1;
        vg_error_t err;
        assert_int_equal(tenancy_keystore_open(path, &ks, &err), VG_ECORRUPT);
        assert_null(ks);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(list_get_capped, setup, teardown),
        cmocka_unit_test_setup_teardown(corrupt, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
