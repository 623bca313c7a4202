/* The TSDB administration behind /api/v1/admin/tsdb/... (Prometheus' admin API): snapshots, deleting
 * series, cleaning tombstones, on the embedded database. The routes are admin-only (a tenant gets 403
 * before reaching here); with authentication off they are open, as Prometheus' are with
 * --web.enable-admin-api. The work itself is the database's (src/tsdb/admin.c). */
#include "service_int.h"

#include "promql/promql.h"
#include "tsdb/tsdb.h"
#include "util/log.h"

#include <stdio.h>
#include <string.h>

_Static_assert(SERVICE_SNAPSHOT_NAME_MAX == TSDB_SNAPSHOT_NAME_MAX, "one snapshot name size");

static int need_db(service_ctx_t *ctx, vg_error_t *err) {
    return ctx->svc && ctx->svc->db ? 0 : vg_error_set(err, VG_EUNAVAIL, "storage is not open");
}

int service_tsdb_snapshot(service_ctx_t *ctx, bool skip_head, char name[SERVICE_SNAPSHOT_NAME_MAX], vg_error_t *err) {
    name[0] = '\0';
    int rc = need_db(ctx, err);
    return rc ? rc : tsdb_db_snapshot(ctx->svc->db, !skip_head, name, err);
}

#define MAX_MATCHERS 64

int service_tsdb_delete_series(service_ctx_t *ctx, const char *const *selectors, size_t n, int64_t start, int64_t end,
                               vg_arena_t *arena, vg_error_t *err) {
    int rc = need_db(ctx, err);
    if (rc) return rc;
    if (!n) return vg_error_set(err, VG_EINVAL, "no match[] parameter provided");
    if (end < start) return vg_error_set(err, VG_EINVAL, "end timestamp must not be before start time");
    /* every selector is parsed before anything is deleted */
    model_matcher_t *(*ms)[MAX_MATCHERS] = vg_arena_calloc(arena, n, sizeof *ms);
    size_t *nm = vg_arena_calloc(arena, n, sizeof *nm);
    if (!ms || !nm) return vg_error_set(err, VG_ENOMEM, "out of memory");
    for (size_t i = 0; i < n && !rc; i++) {
        promql_node_t *sel;
        rc = promql_parse_selector(selectors[i], strlen(selectors[i]), NULL, arena, &sel, err);
        if (!rc) rc = promql_selector_matchers(sel, ms[i], MAX_MATCHERS, &nm[i], err);
        if (rc) {
            char msg[VG_ERROR_MSG_MAX];
            snprintf(msg, sizeof msg, "%s", err->msg);
            rc = vg_error_set(err, rc, "invalid parameter \"match[]\": %s", msg);
        }
    }
    for (size_t i = 0; i < n && !rc; i++) rc = tsdb_db_delete_series(ctx->svc->db, ms[i], nm[i], start, end, err);
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < nm[i]; k++) model_matcher_free(ms[i][k]);
    return rc;
}

int service_tsdb_clean_tombstones(service_ctx_t *ctx, vg_error_t *err) {
    int rc = need_db(ctx, err);
    return rc ? rc : tsdb_db_clean_tombstones(ctx->svc->db, err);
}
