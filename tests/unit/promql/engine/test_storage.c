/* promql_test_storage_t over tsdb_db_t in memory: no WAL, no retention, no out-of-bounds limit (test data
 * starts at Unix time 0 and series are loaded one after another). */
#include "test_storage.h"

#include "tsdb/tsdb.h"

static int create(void *ctx, void **out, vg_error_t *err) {
    (void)ctx;
    tsdb_options_t o;
    tsdb_options_default(&o);
    o.path = NULL;
    o.retention_ms = 0;
    o.out_of_bounds_ms = 0;
    o.register_metrics = false;
    tsdb_db_t *db;
    int rc = tsdb_db_open(&o, &db, err);
    *out = rc < 0 ? NULL : db;
    return rc;
}

static int appender(void *st, storage_appender_t **out, vg_error_t *err) {
    return tsdb_db_appender(st, out, err);
}

static int querier(void *st, int64_t mint, int64_t maxt, storage_querier_t **out, vg_error_t *err) {
    return tsdb_db_querier(st, mint, maxt, out, err);
}

static void destroy(void *st) { tsdb_db_close(st); }

const promql_test_storage_t promql_test_tsdb_storage = {NULL, create, appender, querier, destroy};
