/* The per-target series cache: each series a target exposes, keyed by its raw bytes as scraped, maps
 * to the storage ref it was appended under (or to "dropped by metric relabeling") and to the scrape
 * iterations it was seen in. Only series missing from the cache pay for label building, relabeling
 * and validation; the rest go straight to storage_append_ref.
 *
 * Staleness: an entry seen in the previous iteration but not in this one gets a staleness marker;
 * entries with an explicit (honoured) timestamp or dropped by relabeling never do. A failed scrape
 * undoes its own marks so the series of the last good scrape are the ones that go stale.
 *
 * Invariants: the bucket count is a power of two (or 0 before the first put); a key is present at
 * most once; iteration 0 in `seen` means "never". Owned and used by the scrape thread only. */
#include "scrape_int.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define STALE_NAN_BITS UINT64_C(0x7ff0000000000002)

double ingest__stale_nan(void) {
    uint64_t b = STALE_NAN_BITS;
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

void ingest__cache_free(ingest__cache_t *c) {
    for (size_t i = 0; i < c->cap; i++)
        for (ingest__centry_t *e = c->b[i], *n; e; e = n) {
            n = e->next;
            free(e);
        }
    free(c->b);
    memset(c, 0, sizeof *c);
}

ingest__centry_t *ingest__cache_get(ingest__cache_t *c, uint64_t h, const char *key, size_t len) {
    if (!c->cap) return NULL;
    for (ingest__centry_t *e = c->b[h & (c->cap - 1)]; e; e = e->next)
        if (e->hash == (uint32_t)h && e->key_len == len && !memcmp(e->key, key, len)) return e;
    return NULL;
}

ingest__centry_t *ingest__cache_put(ingest__cache_t *c, uint64_t h, const char *key, size_t len) {
    if (len > UINT32_MAX || c->cap > UINT32_MAX) return NULL;
    if (c->n >= c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 256;
        ingest__centry_t **nb = calloc(cap, sizeof *nb);
        if (!nb) return NULL;
        for (size_t i = 0; i < c->cap; i++)
            for (ingest__centry_t *e = c->b[i], *n; e; e = n) {
                n = e->next;
                size_t j = (size_t)e->hash & (cap - 1);
                e->next = nb[j];
                nb[j] = e;
            }
        free(c->b);
        c->b = nb;
        c->cap = cap;
    }
    ingest__centry_t *e = calloc(1, offsetof(ingest__centry_t, key) + len);
    if (!e) return NULL;
    e->hash = (uint32_t)h;
    e->key_len = (uint32_t)len;
    memcpy(e->key, key, len);
    e->next = c->b[h & (c->cap - 1)];
    c->b[h & (c->cap - 1)] = e;
    c->n++;
    return e;
}

void ingest__cache_mark_seen(ingest__centry_t *c, uint32_t iter) {
    if (c->seen != iter) c->last = c->seen, c->seen = iter;
}

void ingest__cache_unmark(ingest__cache_t *c, uint32_t iter) {
    for (size_t i = 0; i < c->cap; i++)
        for (ingest__centry_t *e = c->b[i]; e; e = e->next)
            if (e->seen == iter) e->seen = e->last;
}

void ingest__cache_gc(ingest__cache_t *c, uint32_t iter, uint32_t keep) {
    for (size_t i = 0; i < c->cap; i++)
        for (ingest__centry_t **pp = &c->b[i]; *pp;) {
            ingest__centry_t *e = *pp;
            if (iter - e->seen > keep) {
                *pp = e->next;
                free(e);
                c->n--;
            } else {
                pp = &e->next;
            }
        }
}

int ingest__cache_write_stale(ingest_scraper_t *s, ingest__cache_t *c, storage_appender_t *app, uint32_t iter,
                              int64_t ts, vg_error_t *err) {
    for (size_t i = 0; i < c->cap; i++)
        for (ingest__centry_t *e = c->b[i]; e; e = e->next) {
            if (e->seen != iter || e->dropped || e->explicit_ts || !e->ref) continue;
            int rc = storage_append_ref(app, e->ref, ts, ingest__stale_nan(), err);
            if (rc > 0) ingest__count_reject(s, rc);
            else if (rc < 0 && rc != VG_ENOTFOUND) return rc;
        }
    return 0;
}

void ingest__count_reject(ingest_scraper_t *s, int rc) {
    if (rc == STORAGE_REJECT_OUT_OF_ORDER) selfmon_counter_inc(s->m_ooo);
    else if (rc == STORAGE_REJECT_DUPLICATE) selfmon_counter_inc(s->m_dup);
    else if (rc == STORAGE_REJECT_OUT_OF_BOUNDS || rc == STORAGE_REJECT_TOO_FAR_FUTURE) selfmon_counter_inc(s->m_oob);
    else if (rc == STORAGE_REJECT_SERIES_LIMIT_TOTAL || rc == STORAGE_REJECT_SERIES_LIMIT)
        selfmon_counter_inc(s->m_series_refused);
}
