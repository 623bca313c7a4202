/* Token buckets for rate limits, as GCRA (the generic cell rate algorithm): a bucket is one atomic
 * "theoretical arrival time" (tat), the instant at which it would be full again, so a take is a single
 * compare-and-swap; and the bounded (tenant, endpoint class) table of them.
 *
 * Invariants: taking n tokens at time t succeeds iff max(tat, t) + n·interval − t ≤ burst·interval,
 * which is exactly a bucket of `burst` tokens refilled at `rate`/s that starts full; a bucket whose
 * tat ≤ now is full, i.e. indistinguishable from a new one, so the table may drop it at any time
 * without changing any answer. The table never holds more than its capacity. */
#include "tenancy/tenancy.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define SAT_MAX (UINT64_MAX / 4) /* keeps tat + cost from wrapping */

static uint64_t sat_mul(uint64_t a, uint64_t b) {
    uint64_t r;
    if (__builtin_mul_overflow(a, b, &r) || r > SAT_MAX) return SAT_MAX;
    return r;
}

static uint64_t sat_add(uint64_t a, uint64_t b) {
    uint64_t r;
    if (__builtin_add_overflow(a, b, &r)) return UINT64_MAX;
    return r;
}

static void set_params(tenancy_bucket_t *b, double rate, uint64_t burst) {
    b->burst = burst ? burst : 1;
    if (!(rate > 0) || !isfinite(rate) || 1e9 / rate < 1.0) {
        b->interval_ns = 0;
    } else {
        double iv = 1e9 / rate + 0.5;
        b->interval_ns = iv >= (double)SAT_MAX ? SAT_MAX : (uint64_t)iv;
    }
    b->tolerance_ns = sat_mul(b->burst, b->interval_ns);
}

void tenancy_bucket_init(tenancy_bucket_t *b, double rate, uint64_t burst) {
    set_params(b, rate, burst);
    atomic_store_explicit(&b->tat, 0, memory_order_relaxed);
}

int64_t tenancy_bucket_take(tenancy_bucket_t *b, uint64_t now_ns, uint64_t n) {
    if (n == 0 || b->interval_ns == 0) return 0;
    if (n > b->burst) return VG_ELIMIT;
    uint64_t cost = sat_mul(n, b->interval_ns);
    uint64_t tat = atomic_load_explicit(&b->tat, memory_order_relaxed);
    for (;;) {
        uint64_t next = sat_add(tat > now_ns ? tat : now_ns, cost);
        uint64_t ahead = next - now_ns;
        if (ahead > b->tolerance_ns) {
            uint64_t wait_ms = (ahead - b->tolerance_ns + 999999) / 1000000;
            if (wait_ms > (uint64_t)INT64_MAX) wait_ms = (uint64_t)INT64_MAX;
            return wait_ms ? (int64_t)wait_ms : 1;
        }
        if (atomic_compare_exchange_weak_explicit(&b->tat, &tat, next, memory_order_relaxed, memory_order_relaxed))
            return 0;
    }
}

/* New rate/burst keeping the number of missing tokens (GCRA's state is in time units of the old
 * rate, so it is rescaled). Only for buckets no other thread is using (the table holds its lock). */
static void reparam(tenancy_bucket_t *b, double rate, uint64_t burst, uint64_t now_ns) {
    uint64_t old_interval = b->interval_ns;
    uint64_t tat = atomic_load_explicit(&b->tat, memory_order_relaxed);
    set_params(b, rate, burst);
    uint64_t next = 0;
    if (tat > now_ns && old_interval && b->interval_ns) {
        double missing = (double)(tat - now_ns) / (double)old_interval;
        double ahead = missing * (double)b->interval_ns;
        if (ahead > (double)b->tolerance_ns) ahead = (double)b->tolerance_ns;
        next = now_ns + (uint64_t)ahead;
    }
    atomic_store_explicit(&b->tat, next, memory_order_relaxed);
}

/* ---- the keyed table ---- */

typedef struct entry {
    struct entry *next;
    uint64_t hash;
    double rate;
    uint64_t burst;
    tenancy_bucket_t bucket;
    size_t key_len;
    char key[]; /* tenant '\0' klass */
} entry_t;

struct tenancy_limiter {
    pthread_mutex_t mu;
    entry_t **slots;
    size_t n_slots, size, capacity;
};

int tenancy_limiter_new(size_t capacity, tenancy_limiter_t **out) {
    *out = NULL;
    if (capacity == 0) capacity = 1;
    tenancy_limiter_t *l = calloc(1, sizeof *l);
    if (!l) return VG_ENOMEM;
    l->capacity = capacity;
    l->n_slots = 16;
    while (l->n_slots < capacity && l->n_slots < ((size_t)1 << 20)) l->n_slots <<= 1;
    l->slots = calloc(l->n_slots, sizeof *l->slots);
    if (!l->slots || pthread_mutex_init(&l->mu, NULL) != 0) {
        free(l->slots);
        free(l);
        return VG_ENOMEM;
    }
    *out = l;
    return 0;
}

void tenancy_limiter_free(tenancy_limiter_t *l) {
    if (!l) return;
    for (size_t i = 0; i < l->n_slots; i++)
        for (entry_t *e = l->slots[i], *next; e; e = next) {
            next = e->next;
            free(e);
        }
    free(l->slots);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

static uint64_t fnv1a(const char *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 0x100000001b3ull;
    return h;
}

/* Drops idle entries; with `force`, and none idle, drops the one closest to full. Caller holds mu. */
static size_t sweep_locked(tenancy_limiter_t *l, uint64_t now_ns, bool force) {
    size_t dropped = 0;
    entry_t **victim = NULL;
    uint64_t victim_tat = UINT64_MAX;
    for (size_t i = 0; i < l->n_slots; i++)
        for (entry_t **pp = &l->slots[i]; *pp;) {
            entry_t *e = *pp;
            uint64_t tat = atomic_load_explicit(&e->bucket.tat, memory_order_relaxed);
            if (tat <= now_ns) {
                *pp = e->next;
                free(e);
                dropped++;
                continue;
            }
            if (tat < victim_tat) victim_tat = tat, victim = pp;
            pp = &e->next;
        }
    /* `victim` is only used when nothing was unlinked, so it still points at the victim's link. */
    if (force && !dropped && victim) {
        entry_t *e = *victim;
        *victim = e->next;
        free(e);
        dropped++;
    }
    l->size -= dropped;
    return dropped;
}

size_t tenancy_limiter_sweep(tenancy_limiter_t *l, uint64_t now_ns) {
    pthread_mutex_lock(&l->mu);
    size_t n = sweep_locked(l, now_ns, false);
    pthread_mutex_unlock(&l->mu);
    return n;
}

size_t tenancy_limiter_size(tenancy_limiter_t *l) {
    pthread_mutex_lock(&l->mu);
    size_t n = l->size;
    pthread_mutex_unlock(&l->mu);
    return n;
}

int64_t tenancy_limiter_take(tenancy_limiter_t *l, const char *tenant, const char *klass, double rate,
                             uint64_t burst, uint64_t now_ns, uint64_t n) {
    size_t tl = strlen(tenant), kl = strlen(klass), len = tl + 1 + kl;
    char stack[512];
    char *key = len <= sizeof stack ? stack : malloc(len);
    if (!key) return VG_ENOMEM;
    memcpy(key, tenant, tl);
    key[tl] = '\0';
    memcpy(key + tl + 1, klass, kl);
    uint64_t h = fnv1a(key, len);
    int64_t r;

    pthread_mutex_lock(&l->mu);
    entry_t *e = l->slots[h & (l->n_slots - 1)];
    while (e && !(e->hash == h && e->key_len == len && !memcmp(e->key, key, len))) e = e->next;
    if (!e) {
        if (l->size >= l->capacity) sweep_locked(l, now_ns, true);
        e = malloc(sizeof *e + len);
        if (!e) {
            r = VG_ENOMEM;
            goto out;
        }
        e->hash = h;
        e->key_len = len;
        memcpy(e->key, key, len);
        e->rate = rate;
        e->burst = burst;
        tenancy_bucket_init(&e->bucket, rate, burst);
        e->next = l->slots[h & (l->n_slots - 1)];
        l->slots[h & (l->n_slots - 1)] = e;
        l->size++;
    } else if (e->rate != rate || e->burst != burst) { /* reload: new parameters, same state */
        e->rate = rate;
        e->burst = burst;
        reparam(&e->bucket, rate, burst, now_ns);
    }
    r = tenancy_bucket_take(&e->bucket, now_ns, n);
out:
    pthread_mutex_unlock(&l->mu);
    if (key != stack) free(key);
    return r;
}
