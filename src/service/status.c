/* TSDB statistics for /api/v1/status/tsdb: head counts and the top-10 lists Prometheus shows, computed
 * over the caller's series only when the caller is a tenant (counts of other tenants never leak); and
 * the WAL replay range for /api/v1/status/walreplay. */
#include "service_int.h"

#include "tsdb/tsdb.h"

#include <stdio.h>
#include <string.h>

/* Keeps a top list sorted by count descending, then name. */
static void top_push(service_top_t *t, const char *a, const char *b, uint64_t count) {
    char name[256];
    snprintf(name, sizeof name, "%s%s%s", a, b ? "=" : "", b ? b : "");
    size_t i = t->n;
    while (i > 0 && (t->v[i - 1].count < count || (t->v[i - 1].count == count && strcmp(t->v[i - 1].name, name) > 0))) i--;
    if (i >= SERVICE_TOP_N) return;
    size_t last = t->n < SERVICE_TOP_N ? t->n : SERVICE_TOP_N - 1;
    memmove(&t->v[i + 1], &t->v[i], (last - i) * sizeof t->v[0]);
    snprintf(t->v[i].name, sizeof t->v[i].name, "%s", name);
    t->v[i].count = count;
    if (t->n < SERVICE_TOP_N) t->n++;
}

int service_tsdb_status(service_ctx_t *ctx, service_tsdb_status_t *out, vg_error_t *err) {
    memset(out, 0, sizeof *out);
    tsdb_db_t *db = ctx->svc ? ctx->svc->db : NULL;
    if (!db) return vg_error_set(err, VG_EUNAVAIL, "storage is not open");
    tsdb_stats_t st;
    tsdb_db_stats(db, &st);
    storage_querier_t *q;
    int rc = tsdb_db_querier(db, INT64_MIN / 2, INT64_MAX / 2, &q, err);
    if (rc) return rc;
    uint64_t tenant_series = 0;
    const char *const *names;
    size_t n_names;
    model_matcher_t *ms[2] = {NULL, NULL};
    size_t n_scope = 0;
    if (ctx->scoped && !(rc = service_ctx_matcher(ctx, &ms[0], err))) n_scope = 1;
    if (!rc) rc = q->vt->label_names(q, ms, n_scope, &names, &n_names, err);
    if (!rc && n_scope) {
        storage_series_set_t *ss;
        if (!(rc = storage_select(q, false, ms, 1, &ss, err)))
            while (ss->vt->next(ss)) tenant_series++;
    }
    for (size_t i = 0; !rc && i < n_names; i++) {
        const char *const *values;
        size_t n_values;
        if ((rc = q->vt->label_values(q, names[i], ms, n_scope, &values, &n_values, err))) break;
        top_push(&out->by_name_values, names[i], NULL, n_values);
        out->num_label_pairs += n_values;
        uint64_t bytes = 0;
        for (size_t k = 0; !rc && k < n_values; k++) {
            if ((rc = model_matcher_new(MODEL_MATCH_EQ, names[i], values[k], &ms[n_scope], err))) break;
            storage_series_set_t *ss;
            uint64_t count = 0;
            if (!(rc = storage_select(q, false, ms, n_scope + 1, &ss, err)))
                while (ss->vt->next(ss)) count++;
            model_matcher_free(ms[n_scope]);
            ms[n_scope] = NULL;
            bytes += strlen(values[k]); /* Prometheus counts each distinct value once */
            top_push(&out->by_pair, names[i], values[k], count);
            if (!strcmp(names[i], MODEL_METRIC_NAME)) top_push(&out->by_metric, values[k], NULL, count);
        }
        top_push(&out->by_name_bytes, names[i], NULL, bytes);
    }
    out->num_series = n_scope ? tenant_series : st.head_series;
    out->chunk_count = n_scope ? 0 : st.head_chunks;
    out->min_time = st.head_series ? st.head_mint : INT64_MAX;
    out->max_time = st.head_series ? st.head_maxt : INT64_MIN;
    if (!n_scope) { /* server-wide figures: never shown to a tenant */
        out->has_blocks = true;
        out->blocks = st.blocks;
        out->blocks_bytes = st.block_bytes;
        out->blocks_corrupt = st.blocks_corrupt;
        out->storage_bytes = st.storage_bytes;
        out->blocks_min_time = st.blocks_mint;
        out->blocks_max_time = st.blocks_maxt;
        snprintf(out->corrupt_block, sizeof out->corrupt_block, "%s", st.corrupt_block);
    }
    model_matcher_free(ms[0]);
    storage_querier_close(q);
    return rc;
}

int service_walreplay(service_ctx_t *ctx, service_walreplay_t *out, vg_error_t *err) {
    memset(out, 0, sizeof *out);
    tsdb_db_t *db = ctx->svc ? ctx->svc->db : NULL;
    if (!db) return vg_error_set(err, VG_EUNAVAIL, "storage is not open");
    tsdb_stats_t st;
    tsdb_db_stats(db, &st);
    out->min = st.replay_first_segment;
    out->max = out->current = st.replay_last_segment;
    return 0;
}
