/* Bump allocator over chained blocks; see arena.h. */
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct vg_arena_block {
    vg_arena_block_t *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

void vg_arena_init(vg_arena_t *a, size_t block_size) {
    a->head = NULL;
    a->block_size = block_size ? block_size : 4096;
    a->total = 0;
    a->limit = 0;
    a->refused = 0;
}

void vg_arena_deinit(vg_arena_t *a) {
    for (vg_arena_block_t *b = a->head, *n; b; b = n) {
        n = b->next;
        free(b);
    }
    a->head = NULL;
    a->total = 0;
}

void vg_arena_reset(vg_arena_t *a) {
    a->refused = 0;
    if (!a->head) return;
    vg_arena_block_t *keep = a->head;
    while (keep->next) keep = keep->next; /* the first (oldest) block is the last in the chain */
    for (vg_arena_block_t *b = a->head, *n; b != keep; b = n) {
        n = b->next;
        free(b);
    }
    keep->used = 0;
    a->head = keep;
    a->total = 0;
}

void *vg_arena_alloc(vg_arena_t *a, size_t n) {
    size_t need = (n + 15) & ~(size_t)15;
    if (need < n) return NULL;
    if (a->limit && (a->total > a->limit || need > a->limit - a->total)) {
        a->refused = 1;
        return NULL;
    }
    vg_arena_block_t *b = a->head;
    if (!b || b->cap - b->used < need) {
        size_t cap = need > a->block_size ? need : a->block_size;
        if (cap > SIZE_MAX - sizeof *b) return NULL;
        b = malloc(sizeof *b + cap);
        if (!b) return NULL;
        b->used = 0;
        b->cap = cap;
        b->next = a->head;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += need;
    a->total += need;
    return p;
}

void *vg_arena_calloc(vg_arena_t *a, size_t count, size_t size) {
    if (size && count > SIZE_MAX / size) return NULL;
    void *p = vg_arena_alloc(a, count * size);
    if (p) memset(p, 0, count * size);
    return p;
}

char *vg_arena_strndup(vg_arena_t *a, const char *s, size_t len) {
    char *p = vg_arena_alloc(a, len + 1);
    if (!p) return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}
