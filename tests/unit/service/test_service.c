/* The server state: config swap references, reloads that would turn authentication off, and the
 * identity a request's credentials resolve to. */
#include "service_testutil.h"

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

#define JWT_AUTH "auth: {jwt: {keys: [{kid: k1, alg: HS256, secret: 0123456789abcdef0123456789abcdef}]}}\n"

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Authenticates with the given Authorization header values (0, 1 or 2); returns the code, and whether
 * the request is anonymous / scoped through *anon / *scoped. */
static int identify(st_t *t, const char *h1, const char *h2, bool *anon, bool *scoped) {
    service_credentials_t cred = {(h1 != NULL) + (h2 != NULL), h2 ? h2 : h1};
    service_ctx_t ctx;
    vg_error_t err;
    int rc = service_authenticate(&t->svc, &cred, &ctx, &err);
    *anon = !rc && ctx.anonymous;
    *scoped = !rc && ctx.scoped;
    if (!rc) service_ctx_deinit(&ctx);
    return rc;
}

static void reload_never_turns_auth_off_silently(void **state) {
    (void)state;
    st_t t;
    st_open(&t, JWT_AUTH);
    char path[128];
    snprintf(path, sizeof path, "%s/vigil.yml", t.dir);
    t.svc.config_path = path;
    vg_error_t err;
    bool anon, scoped;
    assert_int_equal(identify(&t, NULL, NULL, &anon, &scoped), VG_EAUTH);

    const char *const lax[] = {"", "log: {level: info}\n", "auth: {jwt: {tenant_claim: org_id}}\n"};
    for (size_t i = 0; i < sizeof lax / sizeof lax[0]; i++) {
        write_file(path, lax[i]);
        assert_int_equal(service_reload(&t.svc, &err), VG_ECONFIG);
        assert_non_null(strstr(err.msg, "auth.anonymous: true"));
        assert_false(atomic_load(&t.svc.last_reload_ok));
        assert_int_equal(identify(&t, NULL, NULL, &anon, &scoped), VG_EAUTH); /* still on */
    }
    write_file(path, JWT_AUTH "log: {level: info}\n"); /* auth kept: accepted */
    assert_int_equal(service_reload(&t.svc, &err), 0);
    assert_true(atomic_load(&t.svc.last_reload_ok));
    assert_int_equal(identify(&t, NULL, NULL, &anon, &scoped), VG_EAUTH);

    write_file(path, "auth: {anonymous: true}\n"); /* said explicitly: accepted */
    assert_int_equal(service_reload(&t.svc, &err), 0);
    assert_true(atomic_load(&t.svc.last_reload_ok));
    assert_int_equal(identify(&t, NULL, NULL, &anon, &scoped), 0);
    assert_true(anon);

    write_file(path, ""); /* off already: nothing to protect */
    assert_int_equal(service_reload(&t.svc, &err), 0);
    write_file(path, JWT_AUTH); /* turning it back on is always fine */
    assert_int_equal(service_reload(&t.svc, &err), 0);
    assert_int_equal(identify(&t, NULL, NULL, &anon, &scoped), VG_EAUTH);
    st_close(&t);
}

static void credentials_ignored_when_auth_is_off(void **state) {
    (void)state;
    st_t t;
    st_open(&t, "");
    bool anon, scoped;
    const char *const creds[] = {"Basic YTpi", "Bearer some-upstream-token", "Bearer ", "Digest x", ""};
    for (size_t i = 0; i < sizeof creds / sizeof creds[0]; i++) {
        assert_int_equal(identify(&t, creds[i], NULL, &anon, &scoped), 0);
        assert_true(anon);
        assert_false(scoped);
    }
    assert_int_equal(identify(&t, "Basic YTpi", "Bearer x", &anon, &scoped), 0);
    assert_true(anon);
    /* a vigil API key still scopes to its tenant (a tenant's Grafana datasource stays a tenant) */
    service_ctx_t ctx;
    st_tenant(&t, "alice", &ctx);
    assert_false(ctx.anonymous);
    service_ctx_deinit(&ctx);
    st_close(&t);

    /* JWT keys configured: a bad or foreign credential is 401 even with anonymous access on */
    st_open(&t, "auth: {anonymous: true, jwt: {keys: [{kid: k1, alg: HS256, secret: 0123456789abcdef0123456789abcdef}]}}\n");
    assert_int_equal(identify(&t, NULL, NULL, &anon, &scoped), 0);
    assert_true(anon);
    assert_int_equal(identify(&t, "Basic YTpi", NULL, &anon, &scoped), VG_EAUTH);
    assert_int_equal(identify(&t, "Bearer not.a.token", NULL, &anon, &scoped), VG_EAUTH);
    assert_int_equal(identify(&t, "Bearer a", "Bearer b", &anon, &scoped), VG_EAUTH);
    st_close(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(config_references), cmocka_unit_test(reload_never_turns_auth_off_silently),
                                       cmocka_unit_test(credentials_ignored_when_auth_is_off)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
