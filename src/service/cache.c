/* The query results cache: results of PromQL queries kept in memory, keyed by tenant, the query text as
 * evaluated (after enforcement, so two tenants never share an entry) and the step, in two ways:
 *
 *   - extents (range queries, /api/v1/query_range and the overview presets): a step-aligned range query
 *     (start and end multiples of step, as Cortex/Mimir's results cache requires; anything else
 *     bypasses) is split at UTC day boundaries. Each day keeps one extent — the points of a contiguous
 *     stretch of that day's steps — so a later query reuses the part it shares and evaluates only
 *     what is missing before or after it. Points newer than now - query_cache.max_freshness are never
 *     stored (samples may still arrive for them); they are evaluated on every request. An extent is
 *     trusted for query_cache.extent_ttl.
 *   - whole results (the overview endpoints): the answer of a query for "now" is reused for
 *     query_cache.ttl, keyed without its absolute time (step and range length only).
 *
 * Why splitting is exact: a range query's value at a step depends on that step's instant only (the
 * lookback window, range selectors, offsets and subqueries, whose steps are absolute multiples of
 * their own step), never on the query's start or end — except for `@ start()` / `@ end()`, so any
 * expression with `@` bypasses the extent cache. Merging sorts series by labels as the engine does, so
 * an answer built from pieces is the same bytes as one evaluated whole.
 *
 * Invariants: the bytes of every entry (key, labels, points, bookkeeping) are counted in `bytes`; after
 * each put, bytes <= max_bytes (least recently used entries evicted first; a result larger than the
 * whole budget is not stored). Entries are immutable once stored: a get copies an entry into the
 * caller's arena under the lock, so an entry can be evicted the moment the lock is released. Errors
 * are never cached. */
#include "service_int.h"

#include "util/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define DAY_MS (24LL * 3600 * 1000)

/* ---- the store: a hash table of entries on an LRU list ---- */

typedef struct {
    uint32_t n_labels, n_points;
    uint64_t labels_off, points_off; /* into the blob */
} blob_series_t;

typedef struct {
    uint64_t name_off, value_off;
} blob_label_t;

typedef struct entry {
    struct entry *hnext, *prev, *next;
    uint64_t hash;
    char *key;
    size_t key_len;
    int64_t stored_ms, start, end;
    int type;
    int64_t t;
    double scalar;
    size_t n_series;
    char *blob; /* blob_series_t[n_series], blob_label_t[], strings, points (8-aligned) */
    size_t blob_len;
    size_t bytes;
} entry_t;

struct service__cache {
    pthread_mutex_t mu;
    entry_t **buckets;
    size_t n_buckets, n_entries;
    entry_t *lru_head, *lru_tail; /* head: most recently used */
    uint64_t bytes;
    uint64_t hits, misses, evictions;
    selfmon_metric_t *m_hits[2], *m_misses[2], *m_evictions, *m_bytes, *m_entries;
};

static size_t entry_overhead(void) { return sizeof(entry_t) + sizeof(entry_t *); }

static void lru_unlink(service__cache_t *c, entry_t *e) {
    if (e->prev) e->prev->next = e->next;
    else c->lru_head = e->next;
    if (e->next) e->next->prev = e->prev;
    else c->lru_tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push_front(service__cache_t *c, entry_t *e) {
    e->prev = NULL;
    e->next = c->lru_head;
    if (c->lru_head) c->lru_head->prev = e;
    c->lru_head = e;
    if (!c->lru_tail) c->lru_tail = e;
}

static entry_t **find_slot(service__cache_t *c, const char *key, size_t len, uint64_t h) {
    entry_t **pp = &c->buckets[h & (c->n_buckets - 1)];
    while (*pp && !((*pp)->hash == h && (*pp)->key_len == len && !memcmp((*pp)->key, key, len))) pp = &(*pp)->hnext;
    return pp;
}

static void entry_free(entry_t *e) {
    if (!e) return;
    free(e->key);
    free(e->blob);
    free(e);
}

/* Unlinks e from the table and the list and frees it (mu held). */
static void remove_entry(service__cache_t *c, entry_t *e) {
    entry_t **pp = find_slot(c, e->key, e->key_len, e->hash);
    if (*pp == e) *pp = e->hnext;
    lru_unlink(c, e);
    c->bytes -= e->bytes;
    c->n_entries--;
    entry_free(e);
}

static void grow(service__cache_t *c) {
    size_t nb = c->n_buckets * 2;
    entry_t **b = calloc(nb, sizeof *b);
    if (!b) return; /* longer chains, still correct */
    for (size_t i = 0; i < c->n_buckets; i++)
        for (entry_t *e = c->buckets[i], *next; e; e = next) {
            next = e->hnext;
            e->hnext = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
        }
    free(c->buckets);
    c->buckets = b;
    c->n_buckets = nb;
}

int service__cache_new(service__cache_t **out) {
    *out = NULL;
    service__cache_t *c = calloc(1, sizeof *c);
    if (!c) return VG_ENOMEM;
    c->n_buckets = 256;
    c->buckets = calloc(c->n_buckets, sizeof *c->buckets);
    if (!c->buckets) {
        free(c);
        return VG_ENOMEM;
    }
    pthread_mutex_init(&c->mu, NULL);
    selfmon_registry_t *r = selfmon_default();
    static const char *const kind[] = {"kind"};
    selfmon_family_t *fh = selfmon_counter(r, "vigil_query_cache_hits_total",
                                           "Query results cache lookups answered from the cache, by kind (extent: a day of a "
                                           "range query; result: a whole overview result).", 1, kind);
    selfmon_family_t *fm = selfmon_counter(r, "vigil_query_cache_misses_total",
                                           "Query results cache lookups that found nothing usable, by kind.", 1, kind);
    static const char *const ext[] = {"extent"}, *const res[] = {"result"};
    if (fh) c->m_hits[0] = selfmon_with(fh, ext), c->m_hits[1] = selfmon_with(fh, res);
    if (fm) c->m_misses[0] = selfmon_with(fm, ext), c->m_misses[1] = selfmon_with(fm, res);
    c->m_evictions = selfmon_metric(selfmon_counter(r, "vigil_query_cache_evictions_total",
                                                    "Query results cache entries evicted to stay within query_cache.max_bytes.", 0,
                                                    NULL));
    c->m_bytes = selfmon_metric(selfmon_gauge(r, "vigil_query_cache_bytes", "Bytes held by the query results cache.", 0, NULL));
    c->m_entries = selfmon_metric(selfmon_gauge(r, "vigil_query_cache_entries", "Entries held by the query results cache.", 0, NULL));
    *out = c;
    return 0;
}

/* The gauges follow the counts after each change (set outside the lock from a snapshot). */
static void set_gauges(service__cache_t *c, double bytes, double entries) {
    if (c->m_bytes) selfmon_gauge_set(c->m_bytes, bytes);
    if (c->m_entries) selfmon_gauge_set(c->m_entries, entries);
}

void service__cache_free(service__cache_t *c) {
    if (!c) return;
    for (entry_t *e = c->lru_head, *next; e; e = next) {
        next = e->next;
        entry_free(e);
    }
    free(c->buckets);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

void service__cache_stats(service__cache_t *c, service__cache_stats_t *out) {
    pthread_mutex_lock(&c->mu);
    *out = (service__cache_stats_t){c->hits, c->misses, c->evictions, c->bytes, c->n_entries};
    pthread_mutex_unlock(&c->mu);
}

void service__cache_count(service__cache_t *c, int kind, bool hit) {
    pthread_mutex_lock(&c->mu);
    if (hit) c->hits++;
    else c->misses++;
    pthread_mutex_unlock(&c->mu);
    selfmon_metric_t *m = hit ? c->m_hits[kind] : c->m_misses[kind];
    if (m) selfmon_counter_inc(m);
}

/* ---- results ⇄ blobs ---- */

static size_t align8(size_t n) { return (n + 7) & ~(size_t)7; }

static char *to_blob(const promql_result_t *r, size_t *len) {
    size_t n_labels = 0, str = 0, pts = 0;
    for (size_t i = 0; i < r->n_series; i++) {
        const promql_series_t *s = &r->series[i];
        n_labels += s->n_labels;
        for (size_t k = 0; k < s->n_labels; k++) str += strlen(s->labels[k].name) + strlen(s->labels[k].value) + 2;
        pts += s->n_points;
    }
    size_t off_labels = r->n_series * sizeof(blob_series_t);
    size_t off_str = off_labels + n_labels * sizeof(blob_label_t);
    size_t off_pts = align8(off_str + str);
    size_t total = off_pts + pts * sizeof(promql_point_t);
    char *b = malloc(total ? total : 1);
    if (!b) return NULL;
    blob_series_t *bs = (blob_series_t *)b;
    blob_label_t *bl = (blob_label_t *)(b + off_labels);
    size_t sp = off_str, pp = off_pts, lp = 0;
    for (size_t i = 0; i < r->n_series; i++) {
        const promql_series_t *s = &r->series[i];
        bs[i] = (blob_series_t){(uint32_t)s->n_labels, (uint32_t)s->n_points, off_labels + lp * sizeof(blob_label_t), pp};
        for (size_t k = 0; k < s->n_labels; k++, lp++) {
            size_t ln = strlen(s->labels[k].name) + 1, lv = strlen(s->labels[k].value) + 1;
            bl[lp].name_off = sp;
            memcpy(b + sp, s->labels[k].name, ln), sp += ln;
            bl[lp].value_off = sp;
            memcpy(b + sp, s->labels[k].value, lv), sp += lv;
        }
        if (s->n_points) memcpy(b + pp, s->points, s->n_points * sizeof(promql_point_t));
        pp += s->n_points * sizeof(promql_point_t);
    }
    *len = total;
    return b;
}

/* A result in arena from entry e (mu held): the blob copied whole, pointers rebuilt. */
static promql_result_t *from_entry(const entry_t *e, vg_arena_t *arena) {
    promql_result_t *r = vg_arena_calloc(arena, 1, sizeof *r);
    char *b = e->blob_len ? vg_arena_alloc(arena, e->blob_len) : NULL;
    promql_series_t *ss = vg_arena_calloc(arena, e->n_series ? e->n_series : 1, sizeof *ss);
    if (!r || (e->blob_len && !b) || !ss) return NULL;
    if (e->blob_len) memcpy(b, e->blob, e->blob_len);
    const blob_series_t *bs = (const blob_series_t *)b;
    for (size_t i = 0; i < e->n_series; i++) {
        model_label_t *ls = vg_arena_alloc(arena, (bs[i].n_labels ? bs[i].n_labels : 1) * sizeof *ls);
        if (!ls) return NULL;
        const blob_label_t *bl = (const blob_label_t *)(b + bs[i].labels_off);
        for (uint32_t k = 0; k < bs[i].n_labels; k++) ls[k] = (model_label_t){b + bl[k].name_off, b + bl[k].value_off};
        ss[i] = (promql_series_t){ls, bs[i].n_labels, (const promql_point_t *)(b + bs[i].points_off), bs[i].n_points};
    }
    r->type = (promql_value_type_t)e->type;
    r->t = e->t;
    r->scalar = e->scalar;
    r->series = ss;
    r->n_series = e->n_series;
    return r;
}

int service__cache_get(service__cache_t *c, const char *key, size_t key_len, int64_t now_ms, int64_t max_age_ms,
                       vg_arena_t *arena, promql_result_t **out, int64_t *start, int64_t *end) {
    *out = NULL;
    uint64_t h = XXH3_64bits(key, key_len);
    pthread_mutex_lock(&c->mu);
    entry_t *e = *find_slot(c, key, key_len, h);
    bool dropped = e && now_ms - e->stored_ms > max_age_ms;
    if (dropped) { /* expired: drop it now rather than wait for the LRU */
        remove_entry(c, e);
        e = NULL;
    }
    int rc = 0;
    if (e) {
        lru_unlink(c, e);
        lru_push_front(c, e);
        *out = from_entry(e, arena);
        if (start) *start = e->start;
        if (end) *end = e->end;
        rc = *out ? 1 : VG_ENOMEM;
    }
    double bytes = (double)c->bytes, entries = (double)c->n_entries;
    pthread_mutex_unlock(&c->mu);
    if (dropped) set_gauges(c, bytes, entries);
    return rc;
}

int service__cache_put(service__cache_t *c, const char *key, size_t key_len, int64_t now_ms, uint64_t max_bytes,
                       const promql_result_t *r, int64_t start, int64_t end) {
    if (r->type == PROMQL_TYPE_STRING) return 0; /* never asked for; strings would need their own bytes */
    entry_t *e = calloc(1, sizeof *e);
    if (!e) return VG_ENOMEM;
    e->key = malloc(key_len ? key_len : 1);
    e->blob = to_blob(r, &e->blob_len);
    if (!e->key || !e->blob) {
        entry_free(e);
        return VG_ENOMEM;
    }
    memcpy(e->key, key, key_len);
    e->key_len = key_len;
    e->hash = XXH3_64bits(key, key_len);
    e->stored_ms = now_ms;
    e->start = start;
    e->end = end;
    e->type = r->type;
    e->t = r->t;
    e->scalar = r->scalar;
    e->n_series = r->n_series;
    e->bytes = key_len + e->blob_len + entry_overhead();
    pthread_mutex_lock(&c->mu);
    entry_t **pp = find_slot(c, key, key_len, e->hash);
    if (*pp) remove_entry(c, *pp);
    if (e->bytes > max_bytes) { /* larger than the whole budget: not stored */
        pthread_mutex_unlock(&c->mu);
        entry_free(e);
        return 0;
    }
    uint64_t evicted = 0;
    while (c->lru_tail && c->bytes + e->bytes > max_bytes) {
        remove_entry(c, c->lru_tail);
        evicted++;
    }
    c->evictions += evicted;
    if (c->n_entries >= c->n_buckets) grow(c);
    pp = find_slot(c, key, key_len, e->hash);
    *pp = e;
    lru_push_front(c, e);
    c->bytes += e->bytes;
    c->n_entries++;
    double bytes = (double)c->bytes, entries = (double)c->n_entries;
    pthread_mutex_unlock(&c->mu);
    set_gauges(c, bytes, entries);
    if (evicted && c->m_evictions) selfmon_counter_add(c->m_evictions, (double)evicted);
    return 0;
}

/* ---- splitting, slicing, merging ---- */

static int64_t floor_div(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }
/* The first grid point (multiple of step) >= t, and the last <= t. */
static int64_t grid_ceil(int64_t t, int64_t step) { return -floor_div(-t, step) * step; }
static int64_t grid_floor(int64_t t, int64_t step) { return floor_div(t, step) * step; }

size_t service__cache_split(int64_t start, int64_t end, int64_t step, service__cache_piece_t *out, size_t cap) {
    size_t n = 0;
    for (int64_t day = floor_div(start, DAY_MS) * DAY_MS; day <= end; day += DAY_MS) {
        int64_t ps = grid_ceil(day > start ? day : start, step);
        int64_t pe = grid_floor(day + DAY_MS - 1 < end ? day + DAY_MS - 1 : end, step);
        if (ps > pe) continue; /* a step longer than the day: no grid point falls in it */
        if (n < cap) out[n] = (service__cache_piece_t){ps, pe, day};
        n++;
    }
    return n;
}

int service__cache_slice(const promql_result_t *r, int64_t start, int64_t end, vg_arena_t *arena, promql_result_t **out) {
    promql_result_t *s = vg_arena_calloc(arena, 1, sizeof *s);
    promql_series_t *ss = vg_arena_calloc(arena, r->n_series ? r->n_series : 1, sizeof *ss);
    if (!s || !ss) return VG_ENOMEM;
    *s = *r;
    s->series = ss;
    s->n_series = 0;
    for (size_t i = 0; i < r->n_series; i++) {
        const promql_series_t *x = &r->series[i];
        size_t a = 0, b = x->n_points;
        while (a < b && x->points[a].t < start) a++;
        while (b > a && x->points[b - 1].t > end) b--;
        if (a == b) continue; /* the engine leaves out series without points */
        ss[s->n_series++] = (promql_series_t){x->labels, x->n_labels, x->points + a, b - a};
    }
    *out = s;
    return 0;
}

typedef struct {
    const promql_series_t *s;
    size_t part;
} ref_t;

static int cmp_ref(const void *a, const void *b) {
    const ref_t *x = a, *y = b;
    int c = model_labels_cmp(x->s->labels, x->s->n_labels, y->s->labels, y->s->n_labels);
    return c ? c : (x->part > y->part) - (x->part < y->part);
}

int service__cache_merge(promql_result_t *const *parts, size_t n, vg_arena_t *arena, promql_result_t **out) {
    *out = NULL;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += parts[i] ? parts[i]->n_series : 0;
    promql_result_t *r = vg_arena_calloc(arena, 1, sizeof *r);
    ref_t *refs = vg_arena_alloc(arena, (total ? total : 1) * sizeof *refs);
    promql_series_t *ss = vg_arena_calloc(arena, total ? total : 1, sizeof *ss);
    if (!r || !refs || !ss) return VG_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; parts[i] && j < parts[i]->n_series; j++) refs[k++] = (ref_t){&parts[i]->series[j], i};
    qsort(refs, total, sizeof *refs, cmp_ref);
    size_t ns = 0;
    for (size_t i = 0; i < total;) {
        size_t j = i, pts = 0;
        while (j < total && !model_labels_cmp(refs[i].s->labels, refs[i].s->n_labels, refs[j].s->labels, refs[j].s->n_labels))
            pts += refs[j++].s->n_points;
        if (j - i == 1) {
            ss[ns++] = *refs[i].s;
        } else {
            promql_point_t *p = vg_arena_alloc(arena, (pts ? pts : 1) * sizeof *p);
            if (!p) return VG_ENOMEM;
            size_t m = 0;
            for (size_t x = i; x < j; x++) {
                memcpy(p + m, refs[x].s->points, refs[x].s->n_points * sizeof *p);
                m += refs[x].s->n_points;
            }
            ss[ns++] = (promql_series_t){refs[i].s->labels, refs[i].s->n_labels, p, pts};
        }
        i = j;
    }
    r->type = PROMQL_TYPE_MATRIX;
    r->series = ss;
    r->n_series = ns;
    for (size_t i = 0; i < n; i++)
        if (parts[i]) r->samples_read += parts[i]->samples_read;
    *out = r;
    return 0;
}

/* ---- a range query through the extent cache ---- */

/* The key of one day of a range query: prefix + the day. */
static char *day_key(const char *prefix, size_t len, int64_t day, vg_arena_t *arena, size_t *key_len) {
    char *k = vg_arena_alloc(arena, len + 32);
    if (!k) return NULL;
    memcpy(k, prefix, len);
    *key_len = len + (size_t)snprintf(k + len, 32, "\x1f" "day=%lld", (long long)day);
    return k;
}

/* Evaluates [s, e] (grid points), or nothing when s > e. */
static int eval_part(service__range_fn fn, void *fctx, int64_t s, int64_t e, vg_arena_t *arena, promql_result_t **out,
                     vg_error_t *err) {
    *out = NULL;
    return s > e ? 0 : fn(fctx, s, e, arena, out, err);
}

int service__cache_range(service__cache_t *c, const char *prefix, size_t prefix_len, int64_t start, int64_t end, int64_t step,
                         int64_t now_ms, const config_query_cache_t *cfg, service__range_fn fn, void *fctx,
                         vg_arena_t *arena, promql_result_t **out, vg_error_t *err) {
    *out = NULL;
    size_t n_pieces = service__cache_split(start, end, step, NULL, 0);
    service__cache_piece_t *pieces = vg_arena_alloc(arena, (n_pieces ? n_pieces : 1) * sizeof *pieces);
    /* per piece at most: the cached or stored part, and the fresh tail */
    promql_result_t **parts = vg_arena_calloc(arena, 2 * n_pieces + 1, sizeof *parts);
    if (!pieces || !parts) return vg_error_set(err, VG_ENOMEM, "out of memory");
    service__cache_split(start, end, step, pieces, n_pieces);
    int64_t cut = grid_floor(now_ms - cfg->max_freshness_ms, step); /* the newest point that may be stored */
    size_t np = 0;
    int rc = 0;
    for (size_t i = 0; i < n_pieces && !rc; i++) {
        int64_t ps = pieces[i].start, pe = pieces[i].end;
        int64_t ce = pe < cut ? pe : cut; /* the storable part is [ps, ce] */
        if (ps > ce) {                   /* all of it too fresh */
            rc = eval_part(fn, fctx, ps, pe, arena, &parts[np++], err);
            continue;
        }
        size_t klen;
        char *key = day_key(prefix, prefix_len, pieces[i].day, arena, &klen);
        if (!key) return vg_error_set(err, VG_ENOMEM, "out of memory");
        promql_result_t *have = NULL;
        int64_t es = 0, ee = 0;
        int got = service__cache_get(c, key, klen, now_ms, cfg->extent_ttl_ms, arena, &have, &es, &ee);
        if (got < 0) return vg_error_set(err, got, "out of memory");
        /* usable when it overlaps or touches [ps, ce]: evaluate only the steps around it */
        bool usable = got == 1 && es <= ce + step && ee >= ps - step;
        service__cache_count(c, 0, usable); /* a hit reuses the extent, whole or in part */
        promql_result_t *head = NULL, *tail = NULL, *whole;
        if (usable) {
            if ((rc = eval_part(fn, fctx, ps, es - step, arena, &head, err)) ||
                (rc = eval_part(fn, fctx, ee + step, ce, arena, &tail, err)))
                break;
            if (head || tail) {
                promql_result_t *three[3] = {head, have, tail};
                if ((rc = service__cache_merge(three, 3, arena, &whole))) return vg_error_set(err, rc, "out of memory");
                int64_t ns = ps < es ? ps : es, ne = ce > ee ? ce : ee;
                service__cache_put(c, key, klen, now_ms, cfg->max_bytes, whole, ns, ne);
            } else {
                whole = have;
            }
        } else {
            if ((rc = eval_part(fn, fctx, ps, ce, arena, &whole, err))) break;
            service__cache_put(c, key, klen, now_ms, cfg->max_bytes, whole, ps, ce);
        }
        if ((rc = service__cache_slice(whole, ps, ce, arena, &parts[np++]))) return vg_error_set(err, rc, "out of memory");
        if (ce < pe) rc = eval_part(fn, fctx, ce + step, pe, arena, &parts[np++], err);
    }
    if (rc) return rc;
    if ((rc = service__cache_merge(parts, np, arena, out))) return vg_error_set(err, rc, "out of memory");
    return 0;
}

/* ---- the service call ---- */

typedef struct {
    service_ctx_t *ctx;
    const service__prepared_t *p;
    int64_t step, timeout_ms;
} range_ctx_t;

static int run_range(void *arg, int64_t start, int64_t end, vg_arena_t *arena, promql_result_t **out, vg_error_t *err) {
    range_ctx_t *r = arg;
    return service__query_exec(r->ctx, r->p, start, end, r->step, r->timeout_ms, arena, out, err);
}

/* kind (r: extent prefix, t: whole result) + tenant + what changes an answer besides the text. */
static char *cache_key(char kind, const service_ctx_t *ctx, const service_query_t *q, const char *text, int64_t now,
                       vg_arena_t *arena, size_t *len) {
    size_t tl = strlen(text), cap = tl + TENANCY_TENANT_MAX + 128;
    char *k = vg_arena_alloc(arena, cap);
    if (!k) return NULL;
    /* a whole result is found again by its range's length and how many steps (seconds for an instant)
     * it lies behind now — the current window and the one before it are different answers */
    int64_t unit = q->step > 1000 ? q->step : 1000, lag = kind == 't' ? (now - q->end) / unit : 0;
    int n = snprintf(k, cap, "%c\x1f%s\x1f%d\x1f%lld\x1f%lld\x1f%lld\x1f%lld\x1f", kind, ctx->scoped ? ctx->tenant : "",
                     ctx->scoped, (long long)q->step, (long long)(kind == 't' ? q->end - q->start : 0), (long long)lag,
                     (long long)ctx->cfg->query.lookback_delta_ms);
    if (n < 0 || (size_t)n + tl >= cap) return NULL;
    memcpy(k + n, text, tl);
    *len = (size_t)n + tl;
    return k;
}

int service_query_cached(service_ctx_t *ctx, const service_query_t *q, unsigned flags, vg_arena_t *arena,
                         promql_result_t **out, const char **evaluated, vg_error_t *err) {
    *out = NULL;
    service__priv_t *priv = ctx->svc ? ctx->svc->priv : NULL;
    const config_query_cache_t *cfg = &ctx->cfg->query_cache;
    if (!priv || !priv->cache || !cfg->enabled || cfg->max_bytes == 0)
        return service_query(ctx, q, arena, out, evaluated, err);
    service__prepared_t p;
    int rc = service__query_prepare(ctx, q, true, arena, &p, evaluated, err);
    if (rc) return rc;
    int64_t now = vg_now_ms();
    size_t tkey_len = 0;
    char *tkey = NULL;
    if (flags & SERVICE_CACHE_RECENT) {
        if (!(tkey = cache_key('t', ctx, q, p.text, now, arena, &tkey_len))) return vg_error_set(err, VG_ENOMEM, "out of memory");
        int got = service__cache_get(priv->cache, tkey, tkey_len, now, cfg->ttl_ms, arena, out, NULL, NULL);
        if (got < 0) return vg_error_set(err, got, "out of memory");
        service__cache_count(priv->cache, 1, got == 1);
        if (got == 1) return 0;
    }
    bool aligned = q->step > 0 && q->start % q->step == 0 && q->end % q->step == 0 && !strchr(p.text, '@');
    if ((flags & SERVICE_CACHE_EXTENTS) && aligned) {
        size_t klen;
        char *key = cache_key('r', ctx, q, p.text, now, arena, &klen);
        if (!key) return vg_error_set(err, VG_ENOMEM, "out of memory");
        range_ctx_t rc_ = {ctx, &p, q->step, q->timeout_ms};
        rc = service__cache_range(priv->cache, key, klen, q->start, q->end, q->step, now, cfg, run_range, &rc_, arena, out, err);
    } else {
        rc = service__query_exec(ctx, &p, q->start, q->end, q->step, q->timeout_ms, arena, out, err);
    }
    if (!rc && tkey) service__cache_put(priv->cache, tkey, tkey_len, now, cfg->max_bytes, *out, q->start, q->end);
    return rc;
}
