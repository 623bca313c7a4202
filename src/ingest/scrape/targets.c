/* Scrape targets: one target's definition from a discovered address (ingest_target_build, whose
 * rules targets.h lists), and a pool's whole target set from its static_configs, the files its
 * file_sd_configs globs match (the file SD watch: files are re-globbed and stat()ed, and re-read only
 * when their set or any (mtime, size, inode) changed) and the groups its HTTP, DNS and Kubernetes SD
 * providers last published (src/ingest/discovery/; rebuilt when the job's SD generation changes).
 *
 * Invariants: a target set is built on the scrape thread into fresh lists, without the scraper's
 * mutex, and touches no running target; the manager (scrape.c) swaps it in under the mutex. A target
 * relabeling drops keeps only its discovered labels (ingest__dropped_t); a target that cannot be
 * scraped at all (no address, bad interval) is logged and listed nowhere; the same target (labels +
 * URL) twice in one pool is kept once. */
#include "scrape_int.h"

#include "util/buf.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

static const char *interval_str(vg_arena_t *a, int64_t ms) {
    char tmp[VG_DURATION_MAX];
    size_t n = vg_duration_format(ms, tmp);
    return vg_arena_strndup(a, tmp, n);
}

/* Appends s percent-encoded as a URL query component (Go's url.QueryEscape: space → '+'). */
static void query_escape(vg_buf_t *b, const char *s) {
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
            c == '.' || c == '~')
            vg_buf_putc(b, (char)c);
        else if (c == ' ')
            vg_buf_putc(b, '+');
        else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            vg_buf_append(b, e, 3);
        }
    }
}

static int cmp_param(const void *x, const void *y) {
    const model_label_t *a = x, *b = y;
    return strcmp(a->name, b->name);
}

int ingest_target_build(const config_scrape_t *sc, const ingest_relabel_t *relabel, const char *address,
                        const config_kv_t *group_labels, vg_arena_t *arena, ingest_target_def_t *out,
                        vg_error_t *err) {
    memset(out, 0, sizeof *out);
    ingest_lbuilder_t b;
    ingest_lbuilder_init(&b, arena);
    for (size_t i = 0; group_labels && i < group_labels->n; i++)
        ingest_lbuilder_set(&b, group_labels->keys[i], group_labels->values[i]);
    ingest_lbuilder_set(&b, "__address__", address);
    /* config defaults, unless the group labels set them */
    struct {
        const char *name, *value;
    } defaults[] = {
        {"job", sc->job_name},
        {"__metrics_path__", sc->metrics_path},
        {"__scheme__", sc->scheme},
        {"__scrape_interval__", interval_str(arena, sc->scrape_interval_ms)},
        {"__scrape_timeout__", interval_str(arena, sc->scrape_timeout_ms)},
    };
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
        if (!ingest_lbuilder_get(&b, defaults[i].name)) ingest_lbuilder_set(&b, defaults[i].name, defaults[i].value);
    for (size_t i = 0; i < sc->params.n; i++) {
        char name[256];
        snprintf(name, sizeof name, "__param_%s", sc->params.keys[i]);
        if (!ingest_lbuilder_get(&b, name)) ingest_lbuilder_set(&b, name, sc->params.values[i]); /* first value */
    }
    if (b.oom) return vg_error_set(err, VG_ENOMEM, "out of memory");
    ingest_lbuilder_sort(&b);
    out->discovered = vg_arena_alloc(arena, (b.n ? b.n : 1) * sizeof *out->discovered);
    if (!out->discovered) return vg_error_set(err, VG_ENOMEM, "out of memory");
    memcpy(out->discovered, b.v, b.n * sizeof *b.v);
    out->n_discovered = b.n;

    bool kept = ingest_relabel_apply(relabel, &b);
    int rc = ingest_relabel_error(&b, err); /* an undecided regex: the target is not built, with the error */
    if (rc) return rc;
    if (!kept) {
        out->dropped = true;
        return 0;
    }

    const char *addr = ingest_lbuilder_get(&b, "__address__");
    if (!addr) {
        out->dropped = true;
        return vg_error_set(err, VG_EINVAL, "no address");
    }
    const char *scheme = ingest_lbuilder_get(&b, "__scheme__");
    if (!scheme) scheme = "http";
    /* a host without a port gets the scheme's default port (unless it is not a valid host:port at all) */
    bool has_port = addr[0] == '[' ? strstr(addr, "]:") != NULL : strchr(addr, ':') != NULL;
    if (!has_port && !strchr(addr, '/')) {
        char tmp[512];
        snprintf(tmp, sizeof tmp, "%s:%s", addr, strcmp(scheme, "https") ? "80" : "443");
        ingest_lbuilder_set(&b, "__address__", tmp);
        addr = ingest_lbuilder_get(&b, "__address__");
    }
    const char *si = ingest_lbuilder_get(&b, "__scrape_interval__"), *st = ingest_lbuilder_get(&b, "__scrape_timeout__");
    if (vg_duration_parse(si ? si : "", si ? strlen(si) : 0, &out->interval_ms) || out->interval_ms <= 0)
        return out->dropped = true, vg_error_set(err, VG_EINVAL, "error parsing scrape interval: \"%s\"", si ? si : "");
    if (vg_duration_parse(st ? st : "", st ? strlen(st) : 0, &out->timeout_ms) || out->timeout_ms <= 0)
        return out->dropped = true, vg_error_set(err, VG_EINVAL, "error parsing scrape timeout: \"%s\"", st ? st : "");
    if (out->timeout_ms > out->interval_ms)
        return out->dropped = true,
               vg_error_set(err, VG_EINVAL, "scrape timeout cannot be greater than scrape interval (\"%s\" > \"%s\")", st, si);

    /* URL: scheme://address/path?params — params from __param_* (sorted by name, as Go's url.Values) */
    vg_buf_t url = VG_BUF_INIT;
    const char *path = ingest_lbuilder_get(&b, "__metrics_path__");
    vg_buf_printf(&url, "%s://%s%s", scheme, addr, path ? path : "");
    size_t n_params = 0;
    model_label_t *params = vg_arena_alloc(arena, (b.n ? b.n : 1) * sizeof *params);
    for (size_t i = 0; params && i < b.n; i++)
        if (!strncmp(b.v[i].name, "__param_", 8)) params[n_params++] = b.v[i];
    qsort(params, n_params, sizeof *params, cmp_param);
    /* config params with several values keep them all; a relabeled __param_x replaces the first */
    bool first = !(path && strchr(path, '?'));
    for (size_t i = 0; i < n_params; i++) {
        const char *key = params[i].name + 8;
        vg_buf_putc(&url, first ? '?' : '&');
        first = false;
        query_escape(&url, key);
        vg_buf_putc(&url, '=');
        query_escape(&url, params[i].value);
        bool seen = false;
        for (size_t k = 0; k < sc->params.n; k++) {
            if (strcmp(sc->params.keys[k], key)) continue;
            if (!seen) { /* the first value is the label's */
                seen = true;
                continue;
            }
            vg_buf_putc(&url, '&');
            query_escape(&url, key);
            vg_buf_putc(&url, '=');
            query_escape(&url, sc->params.values[k]);
        }
    }
    if (url.failed || !params) {
        vg_buf_deinit(&url);
        return vg_error_set(err, VG_ENOMEM, "out of memory");
    }
    out->url = vg_arena_strndup(arena, url.data, url.len);
    vg_buf_deinit(&url);

    if (!ingest_lbuilder_get(&b, "instance")) ingest_lbuilder_set(&b, "instance", addr);
    for (size_t i = 0; i < b.n;) {
        if (!strncmp(b.v[i].name, "__", 2)) b.v[i] = b.v[--b.n];
        else i++;
    }
    ingest_lbuilder_sort(&b);
    if (b.oom || !out->url) return vg_error_set(err, VG_ENOMEM, "out of memory");
    size_t n = b.n;
    if (model_labels_normalize(b.v, &n, NULL, err)) return out->dropped = true, err->code;
    out->labels = b.v;
    out->n_labels = n;
    uint64_t h = model_labels_hash(out->labels, out->n_labels);
    out->hash = XXH64(out->url, strlen(out->url), h);
    return 0;
}

/* ---- target sets of a pool (scrape thread) ---- */

void ingest__target_free(ingest_scraper_t *s, ingest__target_t *t) {
    ingest__meta_free(t->meta, t->n_meta);
    ingest__fetch_release(s, t);
    ingest__cache_free(&t->cache);
    vg_arena_deinit(&t->arena);
    free(t);
}

/* Builds one target from an address and its labels (source: "static", the file SD path, or the SD
 * group's source) into *list or *drops. */
static int add_target(ingest_scraper_t *s, ingest__pool_t *p, const char *address, const config_kv_t *labels,
                      const char *source, ingest__target_t **list, ingest__dropped_t **drops) {
    ingest__target_t *t = calloc(1, sizeof *t);
    if (!t) return VG_ENOMEM;
    vg_arena_init(&t->arena, 1024);
    t->pool = p;
    t->iter = 1; /* 0 in a cache entry means "never seen" */
    vg_error_t err;
    int rc = ingest_target_build(p->sc, p->relabel, address, labels, &t->arena, &t->def, &err);
    if (rc == VG_ENOMEM) {
        ingest__target_free(s, t);
        return rc;
    }
    if (rc) { /* not scrapeable (no address, bad interval): logged, listed nowhere — as Prometheus */
        vg_log_warn("scrape", "dropping target", VG_LS("job", p->sc->job_name), VG_LS("target", address),
                    VG_LS("err", err.msg));
        ingest__target_free(s, t);
        return 0;
    }
    if (t->def.dropped) {
        ingest__dropped_t *d = calloc(1, sizeof *d);
        if (d) {
            d->arena = t->arena; /* hand the labels' memory over */
            d->def = t->def;
            d->next = *drops;
            *drops = d;
            vg_arena_init(&t->arena, 64);
        }
        ingest__target_free(s, t);
        return 0;
    }
    /* the same target twice in one pool is scraped once */
    for (ingest__target_t *o = *list; o; o = o->next)
        if (o->def.hash == t->def.hash) {
            ingest__target_free(s, t);
            return 0;
        }
    t->sd_source = vg_arena_strndup(&t->arena, source, strlen(source));
    t->next = *list;
    *list = t;
    return 0;
}

/* Adds one static or file SD target group's targets (source: "static" or the file SD path). */
static int add_group(ingest_scraper_t *s, ingest__pool_t *p, const config_static_t *g, const char *source,
                     ingest__target_t **list, ingest__dropped_t **drops) {
    for (size_t i = 0; i < g->targets.n; i++) {
        config_kv_t labels = g->labels;
        /* file SD targets carry __meta_filepath, as Prometheus' file SD does */
        char *keys[65], *vals[65];
        if (strcmp(source, "static") && g->labels.n < 64) {
            if (g->labels.n) {
                memcpy(keys, g->labels.keys, g->labels.n * sizeof *keys);
                memcpy(vals, g->labels.values, g->labels.n * sizeof *vals);
            }
            keys[g->labels.n] = "__meta_filepath";
            vals[g->labels.n] = (char *)source;
            labels = (config_kv_t){keys, vals, g->labels.n + 1};
        }
        int rc = add_target(s, p, g->targets.v[i], &labels, source, list, drops);
        if (rc) return rc;
    }
    return 0;
}

/* Adds a discovered group's targets: each target's labels over the group's (the target's win, as in
 * Prometheus' populateLabels), its __address__ as the address. */
static int add_sd_group(ingest_scraper_t *s, ingest__pool_t *p, const ingest_sd_group_t *g, ingest__target_t **list,
                        ingest__dropped_t **drops) {
    for (size_t i = 0; i < g->n_targets; i++) {
        const ingest_sd_labels_t *tl = &g->targets[i];
        size_t cap = g->labels.n + tl->n;
        char **keys = malloc((cap ? cap : 1) * sizeof *keys), **vals = malloc((cap ? cap : 1) * sizeof *vals);
        if (!keys || !vals) {
            free(keys), free(vals);
            return VG_ENOMEM;
        }
        size_t n = 0;
        for (size_t k = 0; k < g->labels.n; k++)
            if (!ingest_sd_label_get(tl, g->labels.keys[k])) keys[n] = g->labels.keys[k], vals[n++] = g->labels.values[k];
        for (size_t k = 0; k < tl->n; k++)
            if (strcmp(tl->keys[k], "__address__")) keys[n] = tl->keys[k], vals[n++] = tl->values[k];
        const char *addr = ingest_sd_label_get(tl, "__address__");
        config_kv_t labels = {keys, vals, n};
        int rc = add_target(s, p, addr ? addr : "", &labels, g->source, list, drops);
        free(keys), free(vals);
        if (rc) return rc;
    }
    return 0;
}

void ingest__dropped_free(ingest__dropped_t *d) {
    while (d) {
        ingest__dropped_t *n = d->next;
        vg_arena_deinit(&d->arena);
        free(d);
        d = n;
    }
}

bool ingest__sd_scan(ingest__pool_t *p) {
    ingest__sd_file_t *files = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < p->sc->file_sd_configs.n; i++) {
        const config_file_sd_t *sd = &p->sc->file_sd_configs.v[i];
        for (size_t k = 0; k < sd->files.n; k++) {
            glob_t g;
            if (glob(sd->files.v[k], 0, NULL, &g)) continue;
            for (size_t m = 0; m < g.gl_pathc; m++) {
                struct stat st;
                if (stat(g.gl_pathv[m], &st) || !S_ISREG(st.st_mode)) continue;
                if (n == cap) {
                    cap = cap ? cap * 2 : 8;
                    ingest__sd_file_t *nf = realloc(files, cap * sizeof *nf);
                    if (!nf) break;
                    files = nf;
                }
                files[n++] = (ingest__sd_file_t){strdup(g.gl_pathv[m]), st.st_mtim, st.st_size, st.st_ino};
            }
            globfree(&g);
        }
    }
    bool changed = n != p->n_sd_files;
    for (size_t i = 0; i < n && !changed; i++) {
        const ingest__sd_file_t *a = &files[i], *b = &p->sd_files[i];
        changed = !a->path || !b->path || strcmp(a->path, b->path) || a->mtime.tv_sec != b->mtime.tv_sec ||
                  a->mtime.tv_nsec != b->mtime.tv_nsec || a->size != b->size || a->ino != b->ino;
    }
    for (size_t i = 0; i < p->n_sd_files; i++) free(p->sd_files[i].path);
    free(p->sd_files);
    p->sd_files = files;
    p->n_sd_files = n;
    return changed;
}

int ingest__targets_build(ingest_scraper_t *s, ingest__pool_t *p, ingest__target_t **list, ingest__dropped_t **drops) {
    *list = NULL;
    *drops = NULL;
    for (size_t i = 0; i < p->sc->static_configs.n; i++) {
        int rc = add_group(s, p, &p->sc->static_configs.v[i], "static", list, drops);
        if (rc) return rc;
    }
    for (size_t i = 0; i < p->n_sd_files; i++) {
        const char *path = p->sd_files[i].path;
        FILE *fp = path ? fopen(path, "rb") : NULL;
        if (!fp) continue;
        vg_buf_t b = VG_BUF_INIT;
        char chunk[65536];
        size_t n;
        while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0 && b.len <= CONFIG_MAX_FILE_BYTES) vg_buf_append(&b, chunk, n);
        fclose(fp);
        config_static_t *groups;
        size_t n_groups;
        vg_error_t err;
        if (config_parse_target_groups(b.data ? b.data : "", b.len, &groups, &n_groups, &err)) {
            char msg[VG_ERROR_MSG_MAX + 300];
            config_error_format(&err, path, msg, sizeof msg);
            vg_log_error("scrape", "cannot read file SD targets; keeping none from this file", VG_LS("job", p->sc->job_name),
                         VG_LS("err", msg));
            vg_buf_deinit(&b);
            continue;
        }
        vg_buf_deinit(&b);
        int rc = 0;
        for (size_t g = 0; g < n_groups && !rc; g++) rc = add_group(s, p, &groups[g], path, list, drops);
        config_target_groups_free(groups, n_groups);
        if (rc) return rc;
    }
    /* groups the discovery providers (HTTP, DNS, Kubernetes) published for this job */
    if (ingest_sd_configured(p->sc)) {
        ingest_sd_view_t v;
        p->sd_gen = ingest_sd_view(s->sd, p->sc->job_name, &v);
        int rc = 0;
        for (size_t i = 0; i < v.n && !rc; i++)
            for (size_t g = 0; g < v.sets[i]->n && !rc; g++) rc = add_sd_group(s, p, &v.sets[i]->v[g], list, drops);
        ingest_sd_view_release(&v);
        if (rc) return rc;
    }
    return 0;
}

