/* A running service for unit tests: a config from text, an in-memory TSDB, the engine, the local
 * executor, and an API-key store so tests can authenticate as a tenant through the real path. */
#ifndef VG_TESTS_SERVICE_TESTUTIL_H
#define VG_TESTS_SERVICE_TESTUTIL_H

#include "promql/engine/promql_engine.h"
#include "service/service.h"
#include "tenancy/tenancy.h"
#include "tsdb/tsdb.h"
#include "../tsdb/tsdb_testutil.h"
#include "util/fs.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

typedef struct {
    service_t svc;
    char dir[64];
} st_t;

static inline void st_open(st_t *t, const char *yaml) {
    memset(t, 0, sizeof *t);
    snprintf(t->dir, sizeof t->dir, "/tmp/vigil-svc-XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    vg_error_t err;
    config_t *c;
    assert_int_equal(config_parse("test.yml", yaml, strlen(yaml), &c, &err), 0);
    assert_int_equal(service_init(&t->svc, c, NULL, &err), 0);
    tsdb_options_t o = tu_opts(NULL);
    assert_int_equal(tsdb_db_open(&o, &t->svc.db, &err), 0);
    assert_int_equal(promql_engine_new(NULL, &t->svc.engine, &err), 0);
    char keys[128];
    snprintf(keys, sizeof keys, "%s/apikeys.json", t->dir);
    assert_int_equal(tenancy_keystore_open(keys, &t->svc.keys, &err), 0);
    assert_int_equal(service_executor_local(&t->svc, &err), 0);
}

static inline void st_close(st_t *t) {
    promql_engine_free(t->svc.engine);
    tsdb_db_close(t->svc.db);
    tenancy_keystore_free(t->svc.keys);
    service_deinit(&t->svc);
    vg_error_t err;
    vg_fs_remove_all(t->dir, &err);
}

/* Authenticates as tenant (through a vigil API key, the same path a Grafana datasource takes). */
static inline void st_tenant(st_t *t, const char *tenant, service_ctx_t *ctx) {
    char key[TENANCY_APIKEY_LEN + 1], authz[TENANCY_APIKEY_LEN + 16];
    uint64_t id;
    vg_error_t err;
    assert_int_equal(tenancy_keystore_create(t->svc.keys, tenant, "test", key, &id, &err), 0);
    snprintf(authz, sizeof authz, "Bearer %s", key);
    service_credentials_t cred = {1, authz};
    assert_int_equal(service_authenticate(&t->svc, &cred, ctx, &err), 0);
    assert_true(ctx->scoped);
}

/* Appends one sample per label set {__name__=name, i=<k>, extra...} through appender a. */
static inline int st_append(storage_appender_t *a, const char *name, const char *ns, int i, int64_t t, double v) {
    char iv[16];
    snprintf(iv, sizeof iv, "%d", i);
    model_label_t l[3] = {{"__name__", name}, {"i", iv}, {"namespace", ns}};
    vg_error_t err;
    return storage_append(a, l, ns ? 3 : 2, t, v, NULL, &err);
}

#endif
