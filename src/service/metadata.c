/* The metric metadata received with writes (remote_write's MetricMetadata): one entry per metric
 * family per writer scope, kept in memory, merged into /api/v1/metadata answers.
 *
 * Invariants: a scope is a tenant (its own entries, shown to that tenant only) or the unscoped writers
 * (shown to unscoped readers, and to a tenant only for families it has series of — the rule scraped
 * metadata follows). Within a scope entries are sorted by family and a family appears once: the last
 * entry written wins. The store is bounded: at most lim.max_families families per scope and
 * lim.max_total over all scopes (a new family past either is skipped; known families are still
 * updated), and a family name or unit over lim.max_name bytes or a help over lim.max_help bytes is
 * skipped, never truncated. Entries are never expired: senders resend them periodically and a family
 * keeps its slot until the server restarts. One mutex guards everything; readers copy into their
 * arena under it. */
#include "service_int.h"

#include "ingest/expfmt.h"
#include "ingest/remote_write.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    char *family, *help, *unit; /* one allocation, at family */
    int type;                   /* ingest_mtype_t */
} entry_t;

typedef struct {
    char *tenant; /* owned; NULL: the unscoped writers */
    entry_t *v;
    size_t n, cap;
} scope_t;

struct service__mdstore {
    pthread_mutex_t mu;
    service__mdlimits_t lim;
    scope_t *scopes;
    size_t n_scopes, cap_scopes, total;
};

int service__mdstore_new(const service__mdlimits_t *lim, service__mdstore_t **out) {
    service__mdstore_t *st = calloc(1, sizeof *st);
    *out = NULL;
    if (!st) return VG_ENOMEM;
    pthread_mutex_init(&st->mu, NULL);
    st->lim = lim ? *lim
                  : (service__mdlimits_t){SERVICE_METADATA_MAX_FAMILIES, SERVICE_METADATA_MAX_TOTAL, SERVICE_METADATA_MAX_NAME,
                                          SERVICE_METADATA_MAX_HELP};
    *out = st;
    return 0;
}

void service__mdstore_free(service__mdstore_t *st) {
    if (!st) return;
    for (size_t i = 0; i < st->n_scopes; i++) {
        for (size_t k = 0; k < st->scopes[i].n; k++) free(st->scopes[i].v[k].family);
        free(st->scopes[i].v);
        free(st->scopes[i].tenant);
    }
    free(st->scopes);
    pthread_mutex_destroy(&st->mu);
    free(st);
}

static scope_t *find_scope(service__mdstore_t *st, const char *tenant) {
    for (size_t i = 0; i < st->n_scopes; i++) {
        const char *t = st->scopes[i].tenant;
        if (tenant ? t && !strcmp(t, tenant) : !t) return &st->scopes[i];
    }
    return NULL;
}

/* The first index in sc whose family is >= (f, len). */
static size_t lower_bound(const scope_t *sc, const char *f, size_t len) {
    size_t lo = 0, hi = sc->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const char *m = sc->v[mid].family;
        size_t ml = strlen(m);
        int c = memcmp(m, f, ml < len ? ml : len);
        if (!c) c = ml < len ? -1 : ml > len;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static bool same(const entry_t *e, int type, const char *help, size_t help_len, const char *unit, size_t unit_len) {
    return e->type == type && strlen(e->help) == help_len && !memcmp(e->help, help, help_len) &&
           strlen(e->unit) == unit_len && !memcmp(e->unit, unit, unit_len);
}

int service__mdstore_put(service__mdstore_t *st, const char *tenant, int type, const char *family, size_t family_len,
                         const char *help, size_t help_len, const char *unit, size_t unit_len) {
    if (!help) help = "", help_len = 0; /* a field the sender left out (proto3 omits empty strings) */
    if (!unit) unit = "", unit_len = 0;
    if (!family || !family_len || memchr(family, 0, family_len) || memchr(help, 0, help_len) || memchr(unit, 0, unit_len))
        return SERVICE__MD_INVALID;
    if (family_len > st->lim.max_name || unit_len > st->lim.max_name || help_len > st->lim.max_help)
        return SERVICE__MD_TOO_LONG;
    if (type < INGEST_MTYPE_UNKNOWN || type > INGEST_MTYPE_STATESET) type = INGEST_MTYPE_UNKNOWN;
    char *mem = malloc(family_len + help_len + unit_len + 3);
    if (!mem) return VG_ENOMEM;
    entry_t e = {mem, mem + family_len + 1, mem + family_len + help_len + 2, type};
    memcpy(e.family, family, family_len), e.family[family_len] = 0;
    memcpy(e.help, help, help_len), e.help[help_len] = 0;
    memcpy(e.unit, unit, unit_len), e.unit[unit_len] = 0;
    int rc = SERVICE__MD_KEPT;
    pthread_mutex_lock(&st->mu);
    scope_t *sc = find_scope(st, tenant);
    size_t at = sc ? lower_bound(sc, family, family_len) : 0;
    if (sc && at < sc->n && !strcmp(sc->v[at].family, e.family)) { /* a known family: the last entry wins */
        if (same(&sc->v[at], type, help, help_len, unit, unit_len)) {
            free(mem);
        } else {
            free(sc->v[at].family);
            sc->v[at] = e;
        }
        goto out;
    }
    if (st->total >= st->lim.max_total || (sc && sc->n >= st->lim.max_families) || !st->lim.max_families) {
        rc = SERVICE__MD_FULL;
        free(mem);
        goto out;
    }
    if (!sc) {
        if (st->n_scopes == st->cap_scopes) {
            size_t cap = st->cap_scopes ? 2 * st->cap_scopes : 8;
            scope_t *v = realloc(st->scopes, cap * sizeof *v);
            if (!v) goto oom;
            st->scopes = v, st->cap_scopes = cap;
        }
        char *t = tenant ? strdup(tenant) : NULL;
        if (tenant && !t) goto oom;
        sc = &st->scopes[st->n_scopes++];
        *sc = (scope_t){.tenant = t};
    }
    if (sc->n == sc->cap) {
        size_t cap = sc->cap ? 2 * sc->cap : 16;
        entry_t *v = realloc(sc->v, cap * sizeof *v);
        if (!v) goto oom;
        sc->v = v, sc->cap = cap;
    }
    memmove(&sc->v[at + 1], &sc->v[at], (sc->n - at) * sizeof *sc->v);
    sc->v[at] = e;
    sc->n++;
    st->total++;
out:
    pthread_mutex_unlock(&st->mu);
    return rc;
oom:
    pthread_mutex_unlock(&st->mu);
    free(mem);
    return VG_ENOMEM;
}

size_t service__mdstore_count(service__mdstore_t *st, const char *tenant) {
    pthread_mutex_lock(&st->mu);
    scope_t *sc = find_scope(st, tenant);
    size_t n = sc ? sc->n : 0;
    pthread_mutex_unlock(&st->mu);
    return n;
}

/* Whether family (of type t) has one of the sorted series names, by Prometheus' naming rules. */
static bool has_series(const entry_t *e, const char *const *names, size_t n) {
    size_t flen = strlen(e->family), lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (strcmp(names[mid], e->family) < 0) lo = mid + 1;
        else hi = mid;
    }
    ingest_str_t fam = {e->family, flen};
    for (; lo < n && !strncmp(names[lo], e->family, flen); lo++)
        if (ingest_expfmt_in_family((ingest_str_t){names[lo], strlen(names[lo])}, fam, (ingest_mtype_t)e->type)) return true;
    return false;
}

int service__mdstore_get(service__mdstore_t *st, const char *tenant, const char *metric, const char *const *names,
                         size_t n_names, vg_arena_t *arena, promql_metadata_t **out, size_t *n_out) {
    *out = NULL;
    *n_out = 0;
    int rc = 0;
    pthread_mutex_lock(&st->mu);
    scope_t *sc = find_scope(st, tenant);
    size_t n = sc ? sc->n : 0, k = 0;
    promql_metadata_t *res = vg_arena_calloc(arena, n ? n : 1, sizeof *res);
    if (!res) rc = VG_ENOMEM;
    for (size_t i = 0; !rc && i < n; i++) {
        const entry_t *e = &sc->v[i];
        if (metric && *metric && strcmp(metric, e->family)) continue;
        if (names && !has_series(e, names, n_names)) continue;
        promql_metadata_t *r = &res[k++];
        r->metric = vg_arena_strndup(arena, e->family, strlen(e->family));
        r->type = ingest_mtype_name((ingest_mtype_t)e->type);
        r->help = vg_arena_strndup(arena, e->help, strlen(e->help));
        r->unit = vg_arena_strndup(arena, e->unit, strlen(e->unit));
        if (!r->metric || !r->help || !r->unit) rc = VG_ENOMEM;
    }
    pthread_mutex_unlock(&st->mu);
    if (rc) return rc;
    *out = res;
    *n_out = k;
    return 0;
}

static int cmp_md(const void *a, const void *b) {
    const promql_metadata_t *x = a, *y = b;
    int c = strcmp(x->metric, y->metric);
    if (!c) c = strcmp(x->type, y->type);
    if (!c) c = strcmp(x->help, y->help);
    if (!c) c = strcmp(x->unit, y->unit);
    return c;
}

int service__metadata_merge(const promql_metadata_t *a, size_t na, const promql_metadata_t *b, size_t nb, long limit,
                            vg_arena_t *arena, promql_metadata_t **out, size_t *n_out) {
    *out = NULL;
    *n_out = 0;
    promql_metadata_t *all = vg_arena_alloc(arena, (na + nb ? na + nb : 1) * sizeof *all);
    if (!all) return VG_ENOMEM;
    if (na) memcpy(all, a, na * sizeof *all);
    if (nb) memcpy(all + na, b, nb * sizeof *all);
    qsort(all, na + nb, sizeof *all, cmp_md);
    size_t k = 0;
    long families = 0;
    for (size_t i = 0; i < na + nb; i++) {
        if (k && !cmp_md(&all[k - 1], &all[i])) continue; /* scraped and received alike, or from several targets */
        if (!k || strcmp(all[k - 1].metric, all[i].metric)) {
            if (limit >= 0 && families >= limit) break;
            families++;
        }
        all[k++] = all[i];
    }
    *out = all;
    *n_out = k;
    return 0;
}

/* ---- the write path and the read path ---- */

static selfmon_metric_t *m_kept, *m_skipped[4];

static void init_metrics(void) {
    selfmon_registry_t *r = selfmon_default();
    m_kept = selfmon_metric(selfmon_counter(r, "vigil_remote_write_metadata_total",
                                            "Metric metadata entries received by remote_write and kept for /api/v1/metadata.", 0,
                                            NULL));
    static const char *const reason_label[] = {"reason"};
    selfmon_family_t *f = selfmon_counter(r, "vigil_remote_write_metadata_skipped_total",
                                          "Metric metadata entries received by remote_write and not kept (too_long: a name, "
                                          "unit or help over its size limit; store_full: a new family past the store's "
                                          "bounds; invalid: no family name).",
                                          1, reason_label);
    m_skipped[SERVICE__MD_TOO_LONG] = selfmon_with(f, (const char *const[]){"too_long"});
    m_skipped[SERVICE__MD_FULL] = selfmon_with(f, (const char *const[]){"store_full"});
    m_skipped[SERVICE__MD_INVALID] = selfmon_with(f, (const char *const[]){"invalid"});
}

int service_write_metadata(service_ctx_t *ctx, struct ingest_rw_reader *rd, service_metadata_counts_t *out) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, init_metrics);
    service_metadata_counts_t c = {0};
    service__mdstore_t *st = service__mdstore(ctx->svc);
    ingest_rw_metadata_t md;
    int rc = 0;
    while (st && ingest_rw_reader_next_metadata(rd, &md)) {
        int r = service__mdstore_put(st, ctx->scoped ? ctx->tenant : NULL, md.type, md.family.ptr, md.family.len, md.help.ptr,
                                     md.help.len, md.unit.ptr, md.unit.len);
        if (r < 0) {
            rc = r;
            break;
        }
        switch (r) {
        case SERVICE__MD_KEPT: c.kept++; break;
        case SERVICE__MD_TOO_LONG: c.too_long++; break;
        case SERVICE__MD_FULL: c.full++; break;
        default: c.invalid++; break;
        }
    }
    selfmon_counter_add(m_kept, (double)c.kept);
    selfmon_counter_add(m_skipped[SERVICE__MD_TOO_LONG], (double)c.too_long);
    selfmon_counter_add(m_skipped[SERVICE__MD_FULL], (double)c.full);
    selfmon_counter_add(m_skipped[SERVICE__MD_INVALID], (double)c.invalid);
    if (out) *out = c;
    return rc;
}

int service__metadata_add_received(service_ctx_t *ctx, promql_executor_t *ex, const promql_matcher_set_t *scope,
                                   const char *metric, long limit, vg_arena_t *arena, promql_metadata_t **io, size_t *n_io,
                                   vg_error_t *err) {
    service__mdstore_t *st = service__mdstore(ctx->svc);
    promql_metadata_t *own = NULL, *shared = NULL, *both = NULL;
    size_t n_own = 0, n_shared = 0, n_both = 0;
    int rc = 0;
    if (st && ctx->scoped) {
        rc = service__mdstore_get(st, ctx->tenant, metric, NULL, 0, arena, &own, &n_own);
        if (!rc && service__mdstore_count(st, NULL)) { /* the unscoped writers': only families the tenant has series of */
            const char *const *names;
            size_t n_names;
            if ((rc = promql_label_values(ex, MODEL_METRIC_NAME, INT64_MIN / 2, INT64_MAX / 2, scope, 1, arena, &names,
                                          &n_names, err)))
                return rc;
            rc = service__mdstore_get(st, NULL, metric, names, n_names, arena, &shared, &n_shared);
        }
    } else if (st) {
        rc = service__mdstore_get(st, NULL, metric, NULL, 0, arena, &shared, &n_shared);
    }
    if (!rc) rc = service__metadata_merge(own, n_own, shared, n_shared, -1, arena, &both, &n_both);
    if (!rc) rc = service__metadata_merge(*io, *n_io, both, n_both, limit, arena, io, n_io);
    return rc ? vg_error_set(err, rc, "out of memory") : 0;
}
