/* Sliding-window limits: at most `max` events per (tenant, class) in any window of `window` length,
 * for rare and costly requests (a Grafana token mints credentials and makes about ten Grafana calls)
 * where a token bucket's refill would let more through than the stated "N per window".
 *
 * Invariants:
 *  - Each entry keeps the monotonic timestamps of its events still inside the window, oldest first;
 *    an event is inside while ts + window > now. A refused request records nothing.
 *  - Memory is bounded: an entry whose events have all left the window is freed on the next call
 *    (losslessly: an empty entry is what a new one is), and at most `capacity` entries exist; when
 *    all of them are busy a new key is refused for one window rather than tracked by evicting a
 *    busy one (which would lift that tenant's limit).
 *  - One mutex guards the table; every call scans it (the classes it serves are a few requests per
 *    tenant per minutes, and idle entries leave). */
#include "tenancy/tenancy.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t *ts; /* event times (ns), oldest first */
    size_t n, cap;
    char key[]; /* tenant '\0' klass '\0' */
} entry_t;

struct tenancy_window {
    pthread_mutex_t mu;
    entry_t **v;
    size_t n, cap, capacity;
};

int tenancy_window_new(size_t capacity, tenancy_window_t **out) {
    *out = NULL;
    tenancy_window_t *w = calloc(1, sizeof *w);
    if (!w) return VG_ENOMEM;
    w->capacity = capacity ? capacity : 1;
    if (pthread_mutex_init(&w->mu, NULL)) {
        free(w);
        return VG_ENOMEM;
    }
    *out = w;
    return 0;
}

static void entry_free(entry_t *e) {
    if (!e) return;
    free(e->ts);
    free(e);
}

void tenancy_window_free(tenancy_window_t *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n; i++) entry_free(w->v[i]);
    free(w->v);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

/* Drops the events that left the window. */
static void expire(entry_t *e, uint64_t window_ns, uint64_t now_ns) {
    size_t k = 0;
    while (k < e->n && e->ts[k] + window_ns <= now_ns) k++;
    if (k) memmove(e->ts, e->ts + k, (e->n - k) * sizeof *e->ts), e->n -= k;
}

static bool key_is(const entry_t *e, const char *tenant, size_t tl, const char *klass) {
    return !memcmp(e->key, tenant, tl + 1) && !strcmp(e->key + tl + 1, klass);
}

int64_t tenancy_window_take(tenancy_window_t *w, const char *tenant, const char *klass, uint64_t max, int64_t window_ms,
                            uint64_t now_ns) {
    if (!max || window_ms <= 0) return VG_EINVAL;
    uint64_t window_ns = (uint64_t)window_ms * 1000000u;
    size_t tl = strlen(tenant), kl = strlen(klass);
    pthread_mutex_lock(&w->mu);
    entry_t *e = NULL;
    for (size_t i = 0; i < w->n;) {
        entry_t *x = w->v[i];
        expire(x, window_ns, now_ns);
        if (!e && key_is(x, tenant, tl, klass)) {
            e = x;
            i++;
        } else if (!x->n) { /* idle for a whole window: forget it */
            entry_free(x);
            w->v[i] = w->v[--w->n];
        } else
            i++;
    }
    int64_t rc = 0;
    if (!e) {
        if (w->n >= w->capacity) {
            rc = window_ms; /* every slot busy: refuse rather than lift someone's limit */
            goto out;
        }
        if (w->n == w->cap) {
            size_t cap = w->cap ? w->cap * 2 : 16;
            entry_t **v = realloc(w->v, cap * sizeof *v);
            if (!v) {
                rc = VG_ENOMEM;
                goto out;
            }
            w->v = v, w->cap = cap;
        }
        if (!(e = calloc(1, sizeof *e + tl + kl + 2))) {
            rc = VG_ENOMEM;
            goto out;
        }
        memcpy(e->key, tenant, tl + 1);
        memcpy(e->key + tl + 1, klass, kl + 1);
        w->v[w->n++] = e;
    }
    if (e->n >= max) {
        /* enough of the oldest must leave to make room for one: the (n - max)-th decides */
        uint64_t leaves = e->ts[e->n - max] + window_ns;
        rc = (int64_t)((leaves - now_ns + 999999u) / 1000000u);
        if (rc < 1) rc = 1;
        goto out;
    }
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 8;
        uint64_t *ts = realloc(e->ts, cap * sizeof *ts);
        if (!ts) {
            rc = VG_ENOMEM;
            goto out;
        }
        e->ts = ts, e->cap = cap;
    }
    e->ts[e->n++] = now_ns;
out:
    pthread_mutex_unlock(&w->mu);
    return rc;
}

size_t tenancy_window_size(tenancy_window_t *w) {
    pthread_mutex_lock(&w->mu);
    size_t n = w->n;
    pthread_mutex_unlock(&w->mu);
    return n;
}
