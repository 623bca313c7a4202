/* What other threads see of the scraper: the targets API JSON (/api/v1/targets,
 * /api/v1/targets/metadata, /api/v1/metadata) and stats.
 *
 * Invariants: every function here runs on a caller's thread, never the scrape thread, and reads the
 * scraper's pools, targets and metadata only while holding `mu` (see scrape_int.h for what `mu`
 * guards). */
#include "scrape_int.h"

#include "util/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- targets API ---- */

static void labels_obj(vg_json_t *j, const model_label_t *l, size_t n) {
    vg_json_obj_open(j);
    for (size_t i = 0; i < n; i++) {
        vg_json_key(j, l[i].name);
        vg_json_str(j, l[i].value);
    }
    vg_json_obj_close(j);
}

static bool target_visible(const ingest__target_t *t, const ingest_target_filter_t *f) {
    if (!f) return true;
    const char *v = model_labels_get(t->def.labels, t->def.n_labels, f->label);
    for (size_t i = 0; v && i < f->n_values; i++)
        if (!strcmp(v, f->values[i])) return true;
    return false;
}

void ingest_scraper_targets_json(ingest_scraper_t *s, vg_json_t *j, const char *state, const ingest_target_filter_t *filter) {
    bool any = !state || !*state || !strcasecmp(state, "any");
    bool active = any || !strcasecmp(state, "active");
    bool dropped = (any || !strcasecmp(state, "dropped")) && !filter;
    pthread_mutex_lock(&s->mu);
    vg_json_obj_open(j);
    vg_json_key(j, "activeTargets");
    vg_json_arr_open(j);
    for (ingest__pool_t *p = s->pools; active && p; p = p->next)
        for (ingest__target_t *t = p->targets; t; t = t->next) {
            if (!target_visible(t, filter)) continue;
            char ts[VG_RFC3339_MAX], iv[VG_DURATION_MAX], to[VG_DURATION_MAX];
            vg_json_obj_open(j);
            vg_json_key(j, "discoveredLabels");
            labels_obj(j, t->def.discovered, t->def.n_discovered);
            vg_json_key(j, "labels");
            labels_obj(j, t->def.labels, t->def.n_labels);
            vg_json_key(j, "scrapePool"), vg_json_str(j, p->sc->job_name);
            vg_json_key(j, "scrapeUrl"), vg_json_str(j, t->def.url);
            vg_json_key(j, "globalUrl"), vg_json_str(j, t->def.url);
            vg_json_key(j, "lastError"), vg_json_str(j, t->last_error);
            if (t->last_scrape_ms) vg_rfc3339_format(t->last_scrape_ms, ts);
            else strcpy(ts, "0001-01-01T00:00:00Z");
            vg_json_key(j, "lastScrape"), vg_json_str(j, ts);
            vg_json_key(j, "lastScrapeDuration"), vg_json_f64(j, t->last_duration);
            vg_json_key(j, "health"), vg_json_str(j, t->health == INGEST_TARGET_UP ? "up" : t->health == INGEST_TARGET_DOWN ? "down" : "unknown");
            vg_duration_format(t->def.interval_ms, iv);
            vg_duration_format(t->def.timeout_ms, to);
            vg_json_key(j, "scrapeInterval"), vg_json_str(j, iv);
            vg_json_key(j, "scrapeTimeout"), vg_json_str(j, to);
            vg_json_obj_close(j);
        }
    vg_json_arr_close(j);
    vg_json_key(j, "droppedTargets");
    vg_json_arr_open(j);
    for (ingest__pool_t *p = s->pools; dropped && p; p = p->next)
        for (ingest__dropped_t *d = p->dropped; d; d = d->next) {
            vg_json_obj_open(j);
            vg_json_key(j, "discoveredLabels");
            labels_obj(j, d->def.discovered, d->def.n_discovered);
            vg_json_obj_close(j);
        }
    vg_json_arr_close(j);
    vg_json_obj_close(j);
    pthread_mutex_unlock(&s->mu);
}

/* ---- stats ---- */

void ingest_scraper_stats(ingest_scraper_t *s, ingest_scraper_stats_t *out) {
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&s->mu);
    for (ingest__pool_t *p = s->pools; p; p = p->next) {
        for (ingest__target_t *t = p->targets; t; t = t->next) {
            out->active++;
            out->up += t->health == INGEST_TARGET_UP;
        }
        for (ingest__dropped_t *d = p->dropped; d; d = d->next) out->dropped++;
    }
    out->scrapes = s->scrapes;
    out->failures = s->failures;
    pthread_mutex_unlock(&s->mu);
}

/* ---- /api/v1/metadata ---- */

static void meta_obj(vg_json_t *j, const ingest__meta_t *m) {
    vg_json_key(j, "type"), vg_json_str(j, ingest_mtype_name((ingest_mtype_t)m->type));
    vg_json_key(j, "help"), vg_json_str(j, m->help);
    vg_json_key(j, "unit"), vg_json_str(j, m->unit);
}

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
void ingest_scraper_metadata_json(ingest_scraper_t *s, vg_json_t *j, const char *metric, long limit,
                                  const char *const *names, size_t n_names) {
    pthread_mutex_lock(&s->mu);
    size_t n = 0;
    for (ingest__pool_t *p = s->pools; p; p = p->next)
        for (ingest__target_t *t = p->targets; t; t = t->next) n += t->n_meta;
    meta_ref_t *all = malloc((n ? n : 1) * sizeof *all);
    size_t k = 0;
    for (ingest__pool_t *p = s->pools; all && p; p = p->next)
        for (ingest__target_t *t = p->targets; t; t = t->next)
            for (size_t i = 0; i < t->n_meta; i++)
                if ((!metric || !*metric || !strcmp(metric, t->meta[i].family)) &&
                    (!names || family_in(t->meta[i].family, names, n_names)))
                    all[k++].m = &t->meta[i];
    if (all) qsort(all, k, sizeof *all, cmp_meta_ref);
    vg_json_obj_open(j);
    long families = 0;
    for (size_t i = 0; i < k;) {
        size_t e = i;
        while (e < k && !strcmp(all[e].m->family, all[i].m->family)) e++;
        if (limit >= 0 && families >= limit) break;
        families++;
        vg_json_key(j, all[i].m->family);
        vg_json_arr_open(j);
        for (size_t x = i; x < e; x++) {
            if (x > i && !cmp_meta_ref(&all[x - 1], &all[x])) continue; /* the same metadata from several targets */
            vg_json_obj_open(j);
            meta_obj(j, all[x].m);
            vg_json_obj_close(j);
        }
        vg_json_arr_close(j);
        i = e;
    }
    vg_json_obj_close(j);
    free(all);
    pthread_mutex_unlock(&s->mu);
}

void ingest_scraper_targets_metadata_json(ingest_scraper_t *s, vg_json_t *j, model_matcher_t *const *ms, size_t n_ms,
                                          const char *metric, long limit, const ingest_target_filter_t *filter) {
    pthread_mutex_lock(&s->mu);
    long n = 0;
    vg_json_arr_open(j);
    for (ingest__pool_t *p = s->pools; p; p = p->next)
        for (ingest__target_t *t = p->targets; t; t = t->next) {
            if (!target_visible(t, filter)) continue;
            bool ok = true;
            for (size_t k = 0; k < n_ms && ok; k++)
                ok = model_matcher_matches(ms[k], model_labels_get(t->def.labels, t->def.n_labels, model_matcher_name(ms[k])));
            for (size_t i = 0; ok && i < t->n_meta && (limit < 0 || n < limit); i++) {
                if (metric && *metric && strcmp(metric, t->meta[i].family)) continue;
                vg_json_obj_open(j);
                vg_json_key(j, "target");
                labels_obj(j, t->def.labels, t->def.n_labels);
                if (!metric || !*metric) vg_json_key(j, "metric"), vg_json_str(j, t->meta[i].family); /* omitted when asked for */
                meta_obj(j, &t->meta[i]);
                vg_json_obj_close(j);
                n++;
            }
        }
    vg_json_arr_close(j);
    pthread_mutex_unlock(&s->mu);
}
