/* What other threads see of the scraper: the targets snapshot (the /api/v1/targets and
 * /api/v1/targets/metadata data, rendered in http/), stats, and the /api/v1/metadata JSON.
 *
 * Invariants: every function here runs on a caller's thread, never the scrape thread, and reads the
 * scraper's pools, targets and metadata only while holding `mu` (see scrape_int.h for what `mu`
 * guards). A snapshot copies everything it shows into its own arena before the lock is released, so
 * nothing in it is borrowed from the scraper. */
#include "scrape_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- targets snapshot ---- */

static const char *snap_str(vg_arena_t *a, const char *s, bool *oom) {
    if (!s) return NULL;
    char *c = vg_arena_strndup(a, s, strlen(s));
    if (!c) *oom = true;
    return c;
}

static const model_label_t *snap_labels(vg_arena_t *a, const model_label_t *l, size_t n, bool *oom) {
    model_label_t *c = vg_arena_alloc(a, (n ? n : 1) * sizeof *c);
    if (!c) {
        *oom = true;
        return NULL;
    }
    for (size_t i = 0; i < n; i++) c[i] = (model_label_t){snap_str(a, l[i].name, oom), snap_str(a, l[i].value, oom)};
    return c;
}

static void snap_active(vg_arena_t *a, const ingest__pool_t *p, const ingest__target_t *t, bool with_meta,
                        ingest_target_status_t *out, bool *oom) {
    *out = (ingest_target_status_t){
        .discovered = snap_labels(a, t->def.discovered, t->def.n_discovered, oom),
        .n_discovered = t->def.n_discovered,
        .labels = snap_labels(a, t->def.labels, t->def.n_labels, oom),
        .n_labels = t->def.n_labels,
        .scrape_pool = snap_str(a, p->sc->job_name, oom),
        .url = snap_str(a, t->def.url, oom),
        .health = t->health,
        .last_error = snap_str(a, t->last_error, oom),
        .last_scrape_ms = t->last_scrape_ms,
        .last_duration_s = t->last_duration,
        .interval_ms = t->def.interval_ms,
        .timeout_ms = t->def.timeout_ms,
    };
    if (!with_meta || !t->n_meta) return;
    ingest_target_meta_t *m = vg_arena_alloc(a, t->n_meta * sizeof *m);
    if (!m) {
        *oom = true;
        return;
    }
    for (size_t i = 0; i < t->n_meta; i++)
        m[i] = (ingest_target_meta_t){snap_str(a, t->meta[i].family, oom), snap_str(a, t->meta[i].help, oom),
                                      snap_str(a, t->meta[i].unit, oom), (ingest_mtype_t)t->meta[i].type};
    out->meta = m;
    out->n_meta = t->n_meta;
}

int ingest_scraper_targets_snapshot(ingest_scraper_t *s, unsigned flags, ingest_targets_snapshot_t **out) {
    *out = NULL;
    ingest_targets_snapshot_t *snap = calloc(1, sizeof *snap);
    if (!snap) return VG_ENOMEM;
    vg_arena_init(&snap->arena, 16384);
    vg_arena_t *a = &snap->arena;
    bool oom = false, with_meta = flags & INGEST_SNAPSHOT_METADATA;
    pthread_mutex_lock(&s->mu);
    size_t n_active = 0, n_dropped = 0;
    for (const ingest__pool_t *p = s->pools; p; p = p->next) {
        for (const ingest__target_t *t = p->targets; t; t = t->next) n_active++;
        for (const ingest__dropped_t *d = p->dropped; d; d = d->next) n_dropped++;
    }
    if (!(flags & INGEST_SNAPSHOT_ACTIVE)) n_active = 0;
    if (!(flags & INGEST_SNAPSHOT_DROPPED)) n_dropped = 0;
    snap->active = vg_arena_calloc(a, n_active ? n_active : 1, sizeof *snap->active);
    snap->dropped = vg_arena_calloc(a, n_dropped ? n_dropped : 1, sizeof *snap->dropped);
    oom = !snap->active || !snap->dropped;
    for (const ingest__pool_t *p = s->pools; !oom && p; p = p->next) {
        for (const ingest__target_t *t = p->targets; n_active && t; t = t->next)
            snap_active(a, p, t, with_meta, &snap->active[snap->n_active++], &oom);
        for (const ingest__dropped_t *d = p->dropped; n_dropped && d; d = d->next) {
            ingest_target_status_t *st = &snap->dropped[snap->n_dropped++];
            st->discovered = snap_labels(a, d->def.discovered, d->def.n_discovered, &oom);
            st->n_discovered = d->def.n_discovered;
            st->scrape_pool = snap_str(a, p->sc->job_name, &oom);
        }
    }
    pthread_mutex_unlock(&s->mu);
    if (oom) {
        ingest_targets_snapshot_free(snap);
        return VG_ENOMEM;
    }
    *out = snap;
    return 0;
}

void ingest_targets_snapshot_free(ingest_targets_snapshot_t *snap) {
    if (!snap) return;
    vg_arena_deinit(&snap->arena);
    free(snap);
}

/* ---- stats ---- */

/* ---- /api/v1/metadata ---- */

typedef struct {
    const ingest__meta_t *m;
} meta_ref_t;

static int cmp_meta_ref(const void *a, const void *b) {
    const ingest__meta_t *x = ((const meta_ref_t *)a)->m, *y = ((const meta_ref_t *)b)->m;
    int c = strcmp(x->family, y->family);
    if (!c) c = x->type - y->type;
    if (!c) c = strcmp(x->help, y->help);
    if (!c) c = strcmp(x->unit, y->unit);
    return c;
}

/* Whether a family has one of the (sorted) series names: the name itself or with a type suffix. */
static bool family_in(const char *family, const char *const *names, size_t n) {
    static const char *const suffixes[] = {"", "_total", "_bucket", "_count", "_sum", "_created", "_info", "_gcount", "_gsum"};
    char buf[512];
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        snprintf(buf, sizeof buf, "%s%s", family, suffixes[i]);
        size_t lo = 0, hi = n;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            int c = strcmp(names[mid], buf);
            if (!c) return true;
            if (c < 0) lo = mid + 1;
            else hi = mid;
        }
    }
    return false;
}

/* /api/v1/metadata: every active target's metadata, merged (see scrape.h). */
int ingest_scraper_metadata(ingest_scraper_t *s, const char *metric, long limit, const char *const *names,
                            size_t n_names, vg_arena_t *arena, ingest_metric_metadata_t **out, size_t *n_out) {
    *out = NULL;
    *n_out = 0;
    pthread_mutex_lock(&s->mu);
    size_t n = 0;
    for (ingest__pool_t *p = s->pools; p; p = p->next)
        for (ingest__target_t *t = p->targets; t; t = t->next) n += t->n_meta;
    meta_ref_t *all = malloc((n ? n : 1) * sizeof *all);
    ingest_metric_metadata_t *res = vg_arena_calloc(arena, n ? n : 1, sizeof *res);
    int rc = all && res ? 0 : VG_ENOMEM;
    size_t k = 0, m = 0;
    for (ingest__pool_t *p = s->pools; !rc && p; p = p->next)
        for (ingest__target_t *t = p->targets; t; t = t->next)
            for (size_t i = 0; i < t->n_meta; i++)
                if ((!metric || !*metric || !strcmp(metric, t->meta[i].family)) &&
                    (!names || family_in(t->meta[i].family, names, n_names)))
                    all[k++].m = &t->meta[i];
    if (!rc) qsort(all, k, sizeof *all, cmp_meta_ref);
    long families = 0;
    for (size_t i = 0; !rc && i < k; i++) {
        if (i && !cmp_meta_ref(&all[i - 1], &all[i])) continue; /* the same metadata from several targets */
        if (!i || strcmp(all[i - 1].m->family, all[i].m->family)) {
            if (limit >= 0 && families >= limit) break;
            families++;
        }
        const ingest__meta_t *e = all[i].m;
        ingest_metric_metadata_t *r = &res[m++];
        r->metric = vg_arena_strndup(arena, e->family, strlen(e->family));
        r->type = ingest_mtype_name((ingest_mtype_t)e->type);
        r->help = vg_arena_strndup(arena, e->help, strlen(e->help));
        r->unit = vg_arena_strndup(arena, e->unit, strlen(e->unit));
        if (!r->metric || !r->help || !r->unit) rc = VG_ENOMEM;
    }
    pthread_mutex_unlock(&s->mu);
    free(all);
    if (rc) return rc;
    *out = res;
    *n_out = m;
    return 0;
}
