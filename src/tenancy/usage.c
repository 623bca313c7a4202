/* Per-tenant usage: queries running (the concurrency gate), queries and samples counted since start
 * and over the last minute, series refused by the series limit, and the tenant's active-series count
 * that the series budget reserves from. One mutex over a chained hash table.
 *
 * The series count: measured (a scan of the head, outside every lock) at most once per max age, by
 * one thread at a time per tenant (others wait for its result), then raised by each reservation. A
 * measurement that overlapped a reservation is discarded (the raised count is kept), so a creation
 * is never lost from the count: concurrent writers cannot overshoot the budget.
 *
 * Invariants: an entry with queries running is never evicted (its gate would be lost); the table holds
 * at most `capacity` entries — when full, the idle entry used longest ago makes room, and if every
 * entry is busy the new tenant is not tracked (its queries pass the gate uncounted). Rates are the sum
 * of twelve 5-second slots (the current one included) divided by 60 s; a slot is reused when its
 * epoch (t / 5 s) is more than a minute old. */
#include "tenancy/tenancy.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define SLOTS 12
#define SLOT_MS 5000
#define BUCKETS 4096

typedef struct entry {
    struct entry *next;
    char tenant[TENANCY_TENANT_MAX + 1];
    int64_t running;
    uint64_t queries, samples, refused;
    int64_t epoch[SLOTS];
    uint64_t slot_queries[SLOTS], slot_samples[SLOTS];
    int64_t last_ms;
    uint64_t active;
    int64_t active_at_ms; /* INT64_MIN: not measured yet */
    uint64_t reservations; /* ever made: tells a measurement whether one overlapped it */
    bool measuring;
} entry_t;

struct tenancy_usage {
    pthread_mutex_t mu;
    pthread_cond_t measured; /* a measurement ended */
    entry_t *buckets[BUCKETS];
    size_t n, capacity;
};

int tenancy_usage_new(size_t capacity, tenancy_usage_t **out) {
    *out = calloc(1, sizeof **out);
    if (!*out) return VG_ENOMEM;
    pthread_mutex_init(&(*out)->mu, NULL);
    pthread_cond_init(&(*out)->measured, NULL);
    (*out)->capacity = capacity ? capacity : 1;
    return 0;
}

void tenancy_usage_free(tenancy_usage_t *u) {
    if (!u) return;
    for (size_t b = 0; b < BUCKETS; b++)
        for (entry_t *e = u->buckets[b], *nx; e; e = nx) {
            nx = e->next;
            free(e);
        }
    pthread_mutex_destroy(&u->mu);
    pthread_cond_destroy(&u->measured);
    free(u);
}

static size_t bucket_of(const char *tenant) { return (size_t)XXH3_64bits(tenant, strlen(tenant)) & (BUCKETS - 1); }

static entry_t *find(tenancy_usage_t *u, const char *tenant) {
    for (entry_t *e = u->buckets[bucket_of(tenant)]; e; e = e->next)
        if (!strcmp(e->tenant, tenant)) return e;
    return NULL;
}

/* Removes the idle entry used longest ago; false if every entry is busy. */
static bool evict_one(tenancy_usage_t *u) {
    entry_t **victim = NULL;
    for (size_t b = 0; b < BUCKETS; b++)
        for (entry_t **pe = &u->buckets[b]; *pe; pe = &(*pe)->next)
            if (!(*pe)->running && !(*pe)->measuring && (!victim || (*pe)->last_ms < (*victim)->last_ms)) victim = pe;
    if (!victim) return false;
    entry_t *e = *victim;
    *victim = e->next;
    free(e);
    u->n--;
    return true;
}

/* The tenant's entry, created if needed; NULL when the table is full of busy entries or out of memory. */
static entry_t *get(tenancy_usage_t *u, const char *tenant, int64_t now_ms) {
    entry_t *e = find(u, tenant);
    if (!e) {
        if (strlen(tenant) > TENANCY_TENANT_MAX || (u->n >= u->capacity && !evict_one(u))) return NULL;
        if (!(e = calloc(1, sizeof *e))) return NULL;
        snprintf(e->tenant, sizeof e->tenant, "%s", tenant);
        for (int i = 0; i < SLOTS; i++) e->epoch[i] = INT64_MIN;
        e->active_at_ms = INT64_MIN;
        size_t b = bucket_of(tenant);
        e->next = u->buckets[b];
        u->buckets[b] = e;
        u->n++;
    }
    e->last_ms = now_ms;
    return e;
}

/* The slot of now, emptied if it last held an older epoch. */
static int slot(entry_t *e, int64_t now_ms) {
    int64_t ep = now_ms / SLOT_MS;
    int i = (int)(((ep % SLOTS) + SLOTS) % SLOTS);
    if (e->epoch[i] != ep) {
        e->epoch[i] = ep;
        e->slot_queries[i] = e->slot_samples[i] = 0;
    }
    return i;
}

int tenancy_usage_query_begin(tenancy_usage_t *u, const char *tenant, int64_t max_running, int64_t now_ms, vg_error_t *err) {
    int rc = 0;
    pthread_mutex_lock(&u->mu);
    entry_t *e = get(u, tenant, now_ms);
    if (e && max_running > 0 && e->running >= max_running) {
        rc = vg_error_set(err, VG_ERATELIMIT, "too many concurrent queries for this tenant (limit %lld)", (long long)max_running);
    } else if (e) {
        e->running++;
        e->queries++;
        e->slot_queries[slot(e, now_ms)]++;
    }
    pthread_mutex_unlock(&u->mu);
    return rc;
}

void tenancy_usage_query_end(tenancy_usage_t *u, const char *tenant) {
    pthread_mutex_lock(&u->mu);
    entry_t *e = find(u, tenant);
    if (e && e->running > 0) e->running--;
    pthread_mutex_unlock(&u->mu);
}

void tenancy_usage_ingested(tenancy_usage_t *u, const char *tenant, uint64_t samples, uint64_t series_refused,
                            int64_t now_ms) {
    pthread_mutex_lock(&u->mu);
    entry_t *e = get(u, tenant, now_ms);
    if (e) {
        e->samples += samples;
        e->refused += series_refused;
        e->slot_samples[slot(e, now_ms)] += samples;
    }
    pthread_mutex_unlock(&u->mu);
}

void tenancy_usage_get(tenancy_usage_t *u, const char *tenant, int64_t now_ms, tenancy_usage_stats_t *out) {
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&u->mu);
    const entry_t *e = find(u, tenant);
    if (e) {
        out->queries_running = e->running;
        out->queries_total = e->queries;
        out->samples_total = e->samples;
        out->series_refused_total = e->refused;
        int64_t ep = now_ms / SLOT_MS;
        uint64_t q = 0, s = 0;
        for (int i = 0; i < SLOTS; i++)
            if (e->epoch[i] != INT64_MIN && e->epoch[i] > ep - SLOTS && e->epoch[i] <= ep)
                q += e->slot_queries[i], s += e->slot_samples[i];
        out->query_rate = (double)q / (SLOTS * SLOT_MS / 1000.0);
        out->ingestion_rate = (double)s / (SLOTS * SLOT_MS / 1000.0);
    }
    pthread_mutex_unlock(&u->mu);
}

int tenancy_usage_series_begin(tenancy_usage_t *u, const char *tenant, int64_t now_ms, int64_t max_age_ms,
                               uint64_t *token) {
    pthread_mutex_lock(&u->mu);
    entry_t *e = get(u, tenant, now_ms);
    while (e && e->measuring) {
        pthread_cond_wait(&u->measured, &u->mu);
        e = get(u, tenant, now_ms);
    }
    int must = 1;
    if (e && e->active_at_ms != INT64_MIN && now_ms >= e->active_at_ms && now_ms - e->active_at_ms <= max_age_ms) must = 0;
    else if (e) e->measuring = true, *token = e->reservations;
    else must = -1; /* untracked: the caller measures and keeps its own count */
    pthread_mutex_unlock(&u->mu);
    return must;
}

void tenancy_usage_series_measured(tenancy_usage_t *u, const char *tenant, uint64_t token, int64_t at_ms, uint64_t count) {
    pthread_mutex_lock(&u->mu);
    entry_t *e = find(u, tenant);
    if (e && e->measuring) {
        if (e->reservations == token || e->active_at_ms == INT64_MIN) {
            /* a first measurement cannot overlap a reservation: reservations wait for it */
            e->active = count;
        }
        e->active_at_ms = at_ms;
        e->measuring = false;
        pthread_cond_broadcast(&u->measured);
    }
    pthread_mutex_unlock(&u->mu);
}

bool tenancy_usage_series_reserve(tenancy_usage_t *u, const char *tenant, int64_t max, uint64_t *count) {
    pthread_mutex_lock(&u->mu);
    entry_t *e = find(u, tenant);
    bool ok = true;
    if (e) {
        ok = max <= 0 || e->active < (uint64_t)max;
        if (ok) e->active++, e->reservations++;
        *count = e->active;
    }
    pthread_mutex_unlock(&u->mu);
    return ok;
}

uint64_t tenancy_usage_series_count(tenancy_usage_t *u, const char *tenant) {
    pthread_mutex_lock(&u->mu);
    const entry_t *e = find(u, tenant);
    uint64_t n = e ? e->active : 0;
    pthread_mutex_unlock(&u->mu);
    return n;
}
