/* vg_arena_t: a bump allocator for work whose allocations all die together (one HTTP request, one
 * query, one parse). Memory comes in chained blocks; vg_arena_reset() keeps the first block for reuse,
 * vg_arena_deinit() frees everything. Allocations are 16-byte aligned. Not thread-safe. */
#ifndef VG_UTIL_ARENA_H
#define VG_UTIL_ARENA_H

#include <stddef.h>

typedef struct vg_arena_block vg_arena_block_t;

typedef struct vg_arena {
    vg_arena_block_t *head; /* owned */
    size_t block_size;      /* default size of a new block */
    size_t total;           /* bytes handed out since init/reset */
    size_t limit;           /* 0 = unlimited; past it allocations return NULL */
    int refused;            /* set when an allocation was refused because of limit (cleared by init/reset) */
} vg_arena_t;

void vg_arena_init(vg_arena_t *a, size_t block_size);
void vg_arena_deinit(vg_arena_t *a);
void vg_arena_reset(vg_arena_t *a);
/* n bytes (uninitialised, arena-owned), or NULL when out of memory or past the limit. */
void *vg_arena_alloc(vg_arena_t *a, size_t n);
/* Zeroed. */
void *vg_arena_calloc(vg_arena_t *a, size_t count, size_t size);
/* A NUL-terminated copy of s[0..len). */
char *vg_arena_strndup(vg_arena_t *a, const char *s, size_t len);

#endif
