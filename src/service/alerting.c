/* The Alertmanagers alerts go to, for /api/v1/alertmanagers: the notifier's active and dropped URLs
 * copied into the request's arena. */
#include "service_int.h"

#include "rules/notifier.h"

#include <stdlib.h>
#include <string.h>

/* Moves v[0..n) into arena (v and its strings are freed either way). */
static int to_arena(char **v, size_t n, vg_arena_t *arena, const char *const **out) {
    const char **a = n ? vg_arena_calloc(arena, n, sizeof *a) : NULL;
    int rc = n && !a ? VG_ENOMEM : 0;
    for (size_t i = 0; i < n; i++) {
        if (!rc && !(a[i] = vg_arena_strndup(arena, v[i], strlen(v[i])))) rc = VG_ENOMEM;
        free(v[i]);
    }
    free(v);
    *out = a;
    return rc;
}

int service_alertmanagers(service_ctx_t *ctx, vg_arena_t *arena, const char *const **active, size_t *n_active,
                          const char *const **dropped, size_t *n_dropped, vg_error_t *err) {
    *active = *dropped = NULL;
    *n_active = *n_dropped = 0;
    rules_notifier_t *n = ctx->svc ? ctx->svc->notifier : NULL;
    if (!n) return 0;
    char **a, **d;
    size_t na, nd;
    int rc = rules_notifier_alertmanagers(n, &a, &na, &d, &nd);
    if (rc) return vg_error_set(err, rc, "out of memory");
    int rc1 = to_arena(a, na, arena, active), rc2 = to_arena(d, nd, arena, dropped);
    if (rc1 || rc2) {
        *active = *dropped = NULL;
        return vg_error_set(err, VG_ENOMEM, "out of memory");
    }
    *n_active = na;
    *n_dropped = nd;
    return 0;
}
