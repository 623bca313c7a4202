/* One scrape's body into the appender: parse the exposition (text 0.0.4 / OpenMetrics), look each
 * series up in the target's series cache, build the labels of new ones (exposed labels + target
 * labels as Prometheus merges them, metric relabeling, label limits), enforce sample_limit, and
 * collect the HELP/TYPE/UNIT metadata the target exposes.
 *
 * Invariants: scrape thread only; it uses the scraper's parse buffers (labels, scratch, series_arena,
 * meta_tmp/meta_arena), which hold one scrape at a time. Nothing here commits: the caller owns the
 * appender transaction and rolls it back when this fails. Metadata becomes visible to other threads
 * only through ingest__meta_publish, under the scraper's mutex. */
#include "scrape_int.h"

#include "model/labels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* Builds the labels of a new series: exposed labels, target labels merged as Prometheus does
 * (honor_labels, or exported_ prefixes on conflicts), metric relabeling; then validation and limits.
 * Returns 1 when relabeling dropped it, 0 with out and n_out set, or <0 with err (fails the scrape). */
static int series_labels(ingest_scraper_t *s, ingest__target_t *t, const ingest_expfmt_entry_t *e, model_label_t **out,
                         size_t *n_out, vg_error_t *err) {
    vg_arena_t *a = &s->series_arena;
    const config_scrape_t *sc = t->pool->sc;
    ingest_lbuilder_t b;
    ingest_lbuilder_init(&b, a);
    char *name = vg_arena_strndup(a, e->name.ptr, e->name.len);
    if (!name) return vg_error_set(err, VG_ENOMEM, "out of memory");
    ingest_lbuilder_set(&b, MODEL_METRIC_NAME, name);
    for (size_t i = 0; i < e->n_labels; i++) {
        char *ln = vg_arena_strndup(a, e->labels[i].name.ptr, e->labels[i].name.len);
        char *lv = vg_arena_strndup(a, e->labels[i].value.ptr, e->labels[i].value.len);
        if (!ln || !lv) return vg_error_set(err, VG_ENOMEM, "out of memory");
        if (ingest_lbuilder_get(&b, ln))
            return vg_error_set(err, VG_EINVAL, "label name \"%s\" is not unique: invalid sample", ln);
        ingest_lbuilder_set(&b, ln, lv);
    }
    size_t n_exposed = b.n;
    model_label_t *exposed = vg_arena_alloc(a, (n_exposed ? n_exposed : 1) * sizeof *exposed);
    if (!exposed) return vg_error_set(err, VG_ENOMEM, "out of memory");
    memcpy(exposed, b.v, n_exposed * sizeof *exposed);
    for (size_t i = 0; i < t->def.n_labels; i++) {
        const model_label_t *tl = &t->def.labels[i];
        const char *have = ingest_lbuilder_get(&b, tl->name);
        if (sc->honor_labels) {
            if (!have) ingest_lbuilder_set(&b, tl->name, tl->value);
            continue;
        }
        if (have) {
            /* keep the exposed value under exported_<name>, prefixing again while that is taken */
            char nn[600];
            snprintf(nn, sizeof nn, "exported_%s", tl->name);
            for (;;) {
                bool taken = model_labels_get(t->def.labels, t->def.n_labels, nn) != NULL;
                for (size_t k = 0; k < n_exposed && !taken; k++) taken = !strcmp(exposed[k].name, nn);
                if (!taken || strlen(nn) > 500) break;
                memmove(nn + 9, nn, strlen(nn) + 1);
                memcpy(nn, "exported_", 9);
            }
            ingest_lbuilder_set(&b, nn, have);
        }
        ingest_lbuilder_set(&b, tl->name, tl->value);
    }
    bool kept = ingest_relabel_apply(t->pool->metric_relabel, &b);
    int rc = ingest_relabel_error(&b, err); /* an undecided regex fails the scrape: no series is guessed */
    if (rc) return rc;
    if (!kept) return 1;
    if (sc->label_limit && (int64_t)b.n > sc->label_limit)
        return vg_error_set(err, VG_ELIMIT, "label_limit exceeded (metric: %s, number of labels: %zu, limit: %lld)", name,
                            b.n, (long long)sc->label_limit);
    for (size_t i = 0; i < b.n; i++) {
        if (sc->label_name_length_limit && (int64_t)strlen(b.v[i].name) > sc->label_name_length_limit)
            return vg_error_set(err, VG_ELIMIT, "label_name_length_limit exceeded (metric: %s, label name: %s, limit: %lld)",
                                name, b.v[i].name, (long long)sc->label_name_length_limit);
        if (sc->label_value_length_limit && (int64_t)strlen(b.v[i].value) > sc->label_value_length_limit)
            return vg_error_set(err, VG_ELIMIT, "label_value_length_limit exceeded (metric: %s, label name: %s, limit: %lld)",
                                name, b.v[i].name, (long long)sc->label_value_length_limit);
    }
    size_t n = b.n;
    model_label_limits_t lim;
    config_label_limits(s->cfg, &lim);
    if (model_labels_normalize(b.v, &n, &lim, err)) return err->code;
    if (!model_labels_get(b.v, n, MODEL_METRIC_NAME)) return 1; /* relabeling removed the name: nothing to store */
    *out = b.v;
    *n_out = n;
    return 0;
}

/* Adds a HELP/TYPE/UNIT line to the metadata being collected for this scrape. */
static void collect_meta(ingest_scraper_t *s, const ingest_expfmt_entry_t *e, int kind) {
    ingest__meta_t *m = NULL;
    for (size_t i = s->n_meta_tmp; i-- > 0 && !m;) /* the family's lines are usually adjacent */
        if (strlen(s->meta_tmp[i].family) == e->name.len && !memcmp(s->meta_tmp[i].family, e->name.ptr, e->name.len))
            m = &s->meta_tmp[i];
    if (!m) {
        if (s->n_meta_tmp == s->cap_meta_tmp) {
            size_t cap = s->cap_meta_tmp ? s->cap_meta_tmp * 2 : 64;
            ingest__meta_t *nm = realloc(s->meta_tmp, cap * sizeof *nm);
            if (!nm) return;
            s->meta_tmp = nm;
            s->cap_meta_tmp = cap;
        }
        m = &s->meta_tmp[s->n_meta_tmp];
        *m = (ingest__meta_t){vg_arena_strndup(&s->meta_arena, e->name.ptr, e->name.len), (char *)"", (char *)"", 0};
        if (!m->family) return;
        s->n_meta_tmp++;
    }
    if (kind == INGEST_EXPFMT_TYPE) m->type = (int)e->mtype;
    char *txt = kind == INGEST_EXPFMT_TYPE ? NULL : vg_arena_strndup(&s->meta_arena, e->text.ptr, e->text.len);
    if (kind == INGEST_EXPFMT_HELP && txt) m->help = txt;
    if (kind == INGEST_EXPFMT_UNIT && txt) m->unit = txt;
}

void ingest__meta_free(ingest__meta_t *m, size_t n) {
    for (size_t i = 0; i < n; i++) free(m[i].family), free(m[i].help), free(m[i].unit);
    free(m);
}

void ingest__meta_publish(ingest_scraper_t *s, ingest__target_t *t) {
    bool same = s->n_meta_tmp == t->n_meta;
    for (size_t i = 0; same && i < t->n_meta; i++) {
        const ingest__meta_t *a = &s->meta_tmp[i], *b = &t->meta[i];
        same = a->type == b->type && !strcmp(a->family, b->family) && !strcmp(a->help, b->help) && !strcmp(a->unit, b->unit);
    }
    if (same) return;
    ingest__meta_t *nm = calloc(s->n_meta_tmp ? s->n_meta_tmp : 1, sizeof *nm);
    if (!nm) return;
    for (size_t i = 0; i < s->n_meta_tmp; i++) {
        nm[i] = (ingest__meta_t){strdup(s->meta_tmp[i].family), strdup(s->meta_tmp[i].help), strdup(s->meta_tmp[i].unit), s->meta_tmp[i].type};
        if (!nm[i].family || !nm[i].help || !nm[i].unit) {
            ingest__meta_free(nm, i + 1);
            return;
        }
    }
    pthread_mutex_lock(&s->mu);
    ingest__meta_free(t->meta, t->n_meta);
    t->meta = nm;
    t->n_meta = s->n_meta_tmp;
    pthread_mutex_unlock(&s->mu);
}

int ingest__append_body(ingest_scraper_t *s, ingest__target_t *t, storage_appender_t *app, const char *ct, int64_t ts,
                        size_t *scraped, size_t *post, size_t *added, vg_error_t *err) {
    const config_scrape_t *sc = t->pool->sc;
    /* the parser's bounds come from limits:, a value's in its escaped form (at most twice its bytes) */
    const config_ingest_limits_t *il = &s->cfg->ingest_limits;
    ingest_expfmt_limits_t lim = INGEST_EXPFMT_LIMITS_DEFAULT;
    lim.max_name_len = (size_t)il->max_label_name_length;
    lim.max_value_len = 2 * (size_t)il->max_label_value_length;
    ingest_expfmt_parser_t p;
    ingest_expfmt_init(&p, ingest_expfmt_from_content_type(ct), t->body.data ? t->body.data : "", t->body.len, &lim,
                       s->labels, MAX_LABELS_PER_SERIES, s->scratch, SCRATCH_BYTES);
    ingest_expfmt_entry_t e;
    for (;;) {
        int kind = ingest_expfmt_next(&p, &e, err);
        if (kind < 0) return kind;
        if (kind == INGEST_EXPFMT_EOF) break;
        if (kind == INGEST_EXPFMT_HELP || kind == INGEST_EXPFMT_TYPE || kind == INGEST_EXPFMT_UNIT) {
            collect_meta(s, &e, kind);
            continue;
        }
        if (kind != INGEST_EXPFMT_SERIES) continue;
        (*scraped)++;
        int64_t st = sc->honor_timestamps && e.has_ts ? e.ts_ms : ts;
        uint64_t h = XXH64(e.series.ptr, e.series.len, 0);
        ingest__centry_t *c = ingest__cache_get(&t->cache, h, e.series.ptr, e.series.len);
        if (c && c->dropped) {
            ingest__cache_mark_seen(c, t->iter);
            continue;
        }
        if (sc->sample_limit && (int64_t)(*post + 1) > sc->sample_limit) {
            selfmon_counter_inc(s->m_limit);
            return vg_error_set(err, VG_ELIMIT, "sample limit exceeded");
        }
        int rc = VG_ENOTFOUND;
        if (c && c->ref) rc = storage_append_ref(app, c->ref, st, e.value, err);
        if (rc == VG_ENOTFOUND) {
            model_label_t *ls = NULL;
            size_t nl = 0;
            vg_arena_reset(&s->series_arena);
            int lr = series_labels(s, t, &e, &ls, &nl, err);
            if (lr < 0) return lr;
            if (!c && !(c = ingest__cache_put(&t->cache, h, e.series.ptr, e.series.len)))
                return vg_error_set(err, VG_ENOMEM, "out of memory");
            if (lr == 1) {
                c->dropped = true;
                ingest__cache_mark_seen(c, t->iter);
                continue;
            }
            uint64_t ref = 0;
            rc = storage_append(app, ls, nl, st, e.value, &ref, err);
            if (rc >= 0 && ref) { /* no ref: a series limit refused the series; the next scrape asks again */
                if (!c->ref) (*added)++;
                c->ref = ref;
            }
        }
        if (rc < 0) return rc;
        if (rc > 0) ingest__count_reject(s, rc);
        ingest__cache_mark_seen(c, t->iter);
        c->explicit_ts = e.has_ts && sc->honor_timestamps;
        (*post)++;
    }
    return 0;
}

