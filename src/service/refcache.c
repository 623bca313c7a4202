/* The series reference cache of writes: a series as a client encoded it (the exact bytes of its labels,
 * e.g. the Label fields of a remote_write TimeSeries) within a write scope -> the storage reference it
 * resolved to. A write that hits skips the label copy, normalisation, hashing and the head's lookup,
 * which compares every label string of a series the head keeps scattered in memory.
 *
 * Invariants:
 *  - A key is (scope, bytes), compared in full (the hash only picks the slot), so a hit is the series a
 *    full resolution of the same labels in the same scope returns: equal bytes decode to equal labels,
 *    and the scope names everything the tenant appender adds to them (tenant, label, allowed values).
 *  - Scopes are interned (their ids never change while the cache lives); entries are only added (their
 *    reference may be replaced), and the whole cache is emptied at once when it is full.
 *  - Keys live in one append-only arena in the order they were put: a sender repeats its series in
 *    much the same order, so the keys one request compares lie next to each other and stream from
 *    memory instead of costing a cache miss each. A reference may outlive its series
 *    (retention, head compaction): the storage refuses it with VG_ENOTFOUND and the caller resolves the
 *    labels again, putting the new reference. Storage references are never reused, so a stale entry
 *    never names another series.
 *  - Locks: one mutex per shard, then the arena's (taken inside a shard's to add a key; emptying takes
 *    every shard's in order, then the arena's); the scope table's alone. None is held while calling
 *    the storage. */
#include "service_int.h"

#include <stdlib.h>
#include <string.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#define SHARDS 64
#define MAX_ENTRIES (16u << 20)  /* before the cache starts over: ~0.5 GiB of slots plus the keys */
#define ARENA_BLOCK (1u << 20)   /* bytes per arena block; a longer key gets a block of its own */
#define SCOPES_MAX 4096            /* distinct scopes before the cache starts over (reloads add scopes) */

typedef struct slot {
    uint64_t hash; /* 0: empty */
    uint64_t ref;
    const uint8_t *key; /* in the arena: the bytes, len of them */
    uint32_t len, scope;
} slot_t;

typedef struct shard {
    pthread_mutex_t mu;
    slot_t *slots;
    size_t n, cap; /* cap: 0 or a power of two; n < cap / 2 */
} shard_t;

typedef struct block {
    struct block *next;
    size_t used, cap;
    uint8_t data[];
} block_t;

struct service__refcache {
    pthread_mutex_t arena_mu; /* guards blocks and n_entries */
    block_t *blocks;          /* newest first */
    size_t n_entries;
    pthread_mutex_t scope_mu;
    char **scopes; /* owned, n_scopes of them, each len-prefixed (scope_len) */
    size_t *scope_len;
    size_t n_scopes;
    shard_t shard[SHARDS];
};

int service__refcache_new(service__refcache_t **out) {
    service__refcache_t *c = calloc(1, sizeof *c);
    if (!c) return VG_ENOMEM;
    pthread_mutex_init(&c->scope_mu, NULL);
    pthread_mutex_init(&c->arena_mu, NULL);
    for (size_t i = 0; i < SHARDS; i++) pthread_mutex_init(&c->shard[i].mu, NULL);
    *out = c;
    return 0;
}

static void shard_clear(shard_t *s) {
    free(s->slots);
    __atomic_store_n(&s->slots, NULL, __ATOMIC_RELAXED); /* atomic for the prefetch in get_batch */
    __atomic_store_n(&s->cap, 0, __ATOMIC_RELAXED);
    s->n = 0;
}

static void arena_clear(service__refcache_t *c) {
    for (block_t *b = c->blocks, *nx; b; b = nx) {
        nx = b->next;
        free(b);
    }
    c->blocks = NULL;
    c->n_entries = 0;
}

/* Empties every shard and the arena; the caller holds no shard lock. */
static void clear_all(service__refcache_t *c) {
    for (size_t i = 0; i < SHARDS; i++) pthread_mutex_lock(&c->shard[i].mu);
    pthread_mutex_lock(&c->arena_mu);
    for (size_t i = 0; i < SHARDS; i++) shard_clear(&c->shard[i]);
    arena_clear(c);
    pthread_mutex_unlock(&c->arena_mu);
    for (size_t i = SHARDS; i-- > 0;) pthread_mutex_unlock(&c->shard[i].mu);
}

/* A copy of a key in the arena, counted as an entry; NULL when out of memory or full. Called under
 * the key's shard lock. */
static const uint8_t *arena_copy(service__refcache_t *c, const void *bytes, size_t len) {
    pthread_mutex_lock(&c->arena_mu);
    uint8_t *k = NULL;
    if (c->n_entries < MAX_ENTRIES) {
        block_t *b = c->blocks;
        if (!b || b->cap - b->used < len) {
            size_t cap = len > ARENA_BLOCK ? len : ARENA_BLOCK;
            b = malloc(sizeof *b + cap);
            if (b) *b = (block_t){.next = c->blocks, .used = 0, .cap = cap}, c->blocks = b;
        }
        if (b) {
            k = b->data + b->used;
            memcpy(k, bytes, len);
            b->used += len;
            c->n_entries++;
        }
    }
    pthread_mutex_unlock(&c->arena_mu);
    return k;
}

void service__refcache_free(service__refcache_t *c) {
    if (!c) return;
    for (size_t i = 0; i < SHARDS; i++) {
        shard_clear(&c->shard[i]);
        pthread_mutex_destroy(&c->shard[i].mu);
    }
    arena_clear(c);
    for (size_t i = 0; i < c->n_scopes; i++) free(c->scopes[i]);
    free(c->scopes);
    free(c->scope_len);
    pthread_mutex_destroy(&c->scope_mu);
    pthread_mutex_destroy(&c->arena_mu);
    free(c);
}

/* The id of a scope given as bytes, interning it; 0 when out of memory (the caller then skips the cache). */
static uint32_t scope_id(service__refcache_t *c, const char *k, size_t len) {
    pthread_mutex_lock(&c->scope_mu);
    uint32_t id = 0;
    for (size_t i = 0; i < c->n_scopes; i++)
        if (c->scope_len[i] == len && !memcmp(c->scopes[i], k, len)) {
            id = (uint32_t)i + 1;
            goto out;
        }
    if (c->n_scopes == SCOPES_MAX) { /* ids are about to be reused: forget every entry first */
        clear_all(c);
        for (size_t i = 0; i < c->n_scopes; i++) free(c->scopes[i]);
        c->n_scopes = 0;
    }
    if (c->n_scopes % 16 == 0) {
        char **ns = realloc(c->scopes, (c->n_scopes + 16) * sizeof *ns);
        if (ns) c->scopes = ns;
        size_t *nl = realloc(c->scope_len, (c->n_scopes + 16) * sizeof *nl);
        if (nl) c->scope_len = nl;
        if (!ns || !nl) goto out;
    }
    char *dup = malloc(len ? len : 1);
    if (!dup) goto out;
    memcpy(dup, k, len);
    c->scopes[c->n_scopes] = dup;
    c->scope_len[c->n_scopes] = len;
    id = (uint32_t)++c->n_scopes;
out:
    pthread_mutex_unlock(&c->scope_mu);
    return id;
}

uint32_t service__refcache_scope(service__refcache_t *c, const service_ctx_t *ctx) {
    /* unscoped: "-"; scoped: "+" tenant \0 label \0 value \0 ... (what the tenant appender adds) */
    char buf[1024];
    size_t len = 0;
    buf[len++] = ctx->scoped ? '+' : '-';
    if (ctx->scoped) {
        const char *parts[2] = {ctx->tenant, ctx->matcher.label ? ctx->matcher.label : ""};
        for (size_t i = 0; i < 2 + ctx->matcher.n_values; i++) {
            const char *p = i < 2 ? parts[i] : ctx->matcher.values[i - 2];
            size_t l = strlen(p) + 1;
            if (len + l > sizeof buf) return 0; /* an unusual scope: not cached */
            memcpy(buf + len, p, l);
            len += l;
        }
    }
    return scope_id(c, buf, len);
}

static uint64_t key_hash(uint32_t scope, const void *bytes, size_t len) {
    uint64_t h = XXH3_64bits_withSeed(bytes, len, scope);
    return h ? h : 1; /* 0 marks an empty slot */
}

/* The reference of a key whose hash is h, or 0. */
static uint64_t lookup(service__refcache_t *c, uint32_t scope, uint64_t h, const void *bytes, size_t len) {
    uint64_t ref = 0;
    shard_t *s = &c->shard[h & (SHARDS - 1)];
    pthread_mutex_lock(&s->mu);
    if (s->cap) {
        size_t mask = s->cap - 1;
        for (size_t i = (size_t)(h >> 6) & mask; s->slots[i].hash; i = (i + 1) & mask) {
            const slot_t *e = &s->slots[i];
            if (e->hash == h && e->scope == scope && e->len == len && !memcmp(e->key, bytes, len)) {
                ref = e->ref;
                break;
            }
        }
    }
    pthread_mutex_unlock(&s->mu);
    return ref;
}

uint64_t service__refcache_get(service__refcache_t *c, uint32_t scope, const void *bytes, size_t len) {
    if (!scope || len > UINT32_MAX) return 0;
    return lookup(c, scope, key_hash(scope, bytes, len), bytes, len);
}

/* Asks the memory system for the slot a hash starts probing at, without the shard's lock: the table
 * may be replaced meanwhile, which makes the hint useless, never wrong (the address is only computed
 * as an integer and a prefetch never faults). */
static void prefetch_slot(service__refcache_t *c, uint64_t h) {
    shard_t *s = &c->shard[h & (SHARDS - 1)];
    size_t cap = __atomic_load_n(&s->cap, __ATOMIC_RELAXED);
    uintptr_t slots = (uintptr_t)__atomic_load_n(&s->slots, __ATOMIC_RELAXED);
    if (cap && slots) __builtin_prefetch((const void *)(slots + ((size_t)(h >> 6) & (cap - 1)) * sizeof(slot_t)));
}

void service__refcache_get_batch(service__refcache_t *c, uint32_t scope, size_t n, const uint8_t *const *keys,
                                 const size_t *lens, uint64_t *refs) {
    enum { AHEAD = 8 }; /* lookups in flight: enough to cover a miss, few enough to stay cached */
    for (size_t i = 0; i < n + AHEAD; i++) {
        if (i < n) { /* refs[i] holds the hash until the lookup (0: not cached) */
            refs[i] = scope && keys[i] && lens[i] <= UINT32_MAX ? key_hash(scope, keys[i], lens[i]) : 0;
            if (refs[i]) prefetch_slot(c, refs[i]);
        }
        if (i >= AHEAD && refs[i - AHEAD]) refs[i - AHEAD] = lookup(c, scope, refs[i - AHEAD], keys[i - AHEAD], lens[i - AHEAD]);
    }
}

/* Places an entry into slots (cap a power of two, a free slot guaranteed). */
static slot_t *place(slot_t *slots, size_t cap, uint64_t h) {
    size_t mask = cap - 1, i = (size_t)(h >> 6) & mask;
    while (slots[i].hash) i = (i + 1) & mask;
    return &slots[i];
}

void service__refcache_put(service__refcache_t *c, uint32_t scope, const void *bytes, size_t len, uint64_t ref) {
    if (!scope || !ref || len > UINT32_MAX) return;
    uint64_t h = key_hash(scope, bytes, len);
    shard_t *s = &c->shard[h & (SHARDS - 1)];
    for (int attempt = 0; attempt < 2; attempt++) {
        bool full = false;
        pthread_mutex_lock(&s->mu);
        if (s->cap) { /* present: point it at the newer reference (the old series is gone) */
            size_t mask = s->cap - 1;
            for (size_t i = (size_t)(h >> 6) & mask; s->slots[i].hash; i = (i + 1) & mask) {
                slot_t *e = &s->slots[i];
                if (e->hash == h && e->scope == scope && e->len == len && !memcmp(e->key, bytes, len)) {
                    e->ref = ref;
                    goto out;
                }
            }
        }
        if ((s->n + 1) * 2 > s->cap) {
            size_t nc = s->cap ? s->cap * 2 : 1024;
            slot_t *ns = calloc(nc, sizeof *ns);
            if (!ns) goto out;
            for (size_t i = 0; i < s->cap; i++)
                if (s->slots[i].hash) *place(ns, nc, s->slots[i].hash) = s->slots[i];
            free(s->slots);
            __atomic_store_n(&s->slots, ns, __ATOMIC_RELAXED);
            __atomic_store_n(&s->cap, nc, __ATOMIC_RELAXED);
        }
        const uint8_t *k = arena_copy(c, bytes, len);
        if (k) {
            *place(s->slots, s->cap, h) = (slot_t){.hash = h, .ref = ref, .key = k, .len = (uint32_t)len, .scope = scope};
            s->n++;
        } else {
            pthread_mutex_lock(&c->arena_mu);
            full = c->n_entries >= MAX_ENTRIES;
            pthread_mutex_unlock(&c->arena_mu);
        }
        pthread_mutex_unlock(&s->mu);
        if (!full) return;
        clear_all(c); /* full: start over rather than evict one by one */
    }
    return;
out:
    pthread_mutex_unlock(&s->mu);
}
