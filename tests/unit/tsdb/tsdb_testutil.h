/* Helpers shared by the tsdb unit tests: temp dirs, label building, reading a series back. */
#ifndef VG_TESTS_TSDB_TESTUTIL_H
#define VG_TESTS_TSDB_TESTUTIL_H

#include "tsdb/tsdb.h"
#include "util/fs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline char *tu_tmpdir(void) {
    char tmpl[] = "/tmp/vigil-tsdb-XXXXXX";
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

static inline void tu_rmdir(char *d) {
    vg_error_t err;
    vg_fs_remove_all(d, &err);
    free(d);
}

static inline tsdb_options_t tu_opts(const char *path) {
    tsdb_options_t o;
    tsdb_options_default(&o);
    o.path = path;
    o.register_metrics = false;
    o.retention_ms = 0;
    o.out_of_bounds_ms = 0;
    return o;
}

static inline model_matcher_t *tu_m(model_match_type_t t, const char *name, const char *value) {
    model_matcher_t *m = NULL;
    vg_error_t err;
    if (model_matcher_new(t, name, value, &m, &err) != 0) abort();
    return m;
}

/* Number of series matching name=value and the number of samples they hold in [mint, maxt]; fails on
 * any iterator error. */
static inline size_t tu_count(tsdb_db_t *db, const char *name, const char *value, int64_t mint, int64_t maxt,
                              size_t *n_samples) {
    storage_querier_t *q;
    vg_error_t err;
    if (tsdb_db_querier(db, mint, maxt, &q, &err) != 0) abort();
    model_matcher_t *m = tu_m(MODEL_MATCH_EQ, name, value);
    storage_series_set_t *ss;
    if (storage_select(q, true, &m, 1, &ss, &err) != 0) abort();
    size_t ns = 0, n = 0;
    storage_iterator_t *it = NULL;
    while (ss->vt->next(ss)) {
        ns++;
        it = ss->vt->iterator(ss, it);
        while (it->vt->next(it) == STORAGE_VAL_FLOAT) n++;
        if (it->vt->err(it)) abort();
    }
    model_matcher_free(m);
    storage_querier_close(q);
    if (n_samples) *n_samples = n;
    return ns;
}

#endif
