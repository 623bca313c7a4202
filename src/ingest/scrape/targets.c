/* Target label construction; the rules are listed in targets.h. */
#include "targets.h"

#include "util/buf.h"
#include "util/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

    if (!ingest_relabel_apply(relabel, &b)) {
        out->dropped = true;
        return b.oom ? vg_error_set(err, VG_ENOMEM, "out of memory") : 0;
    }
    if (b.oom) return vg_error_set(err, VG_ENOMEM, "out of memory");

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
