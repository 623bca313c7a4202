/* vg_pool_t: a small fixed pool of worker threads that runs batches of independent tasks — the queries
 * of one overview request, evaluated at once.
 *
 * A batch is fn(ctx, i) for i in [0, n): vg_pool_map hands its indices to the workers and to the
 * calling thread itself, and returns once every task has finished, so a batch never waits for a free
 * worker (a pool of 0 threads runs everything on the caller) and batches of concurrent callers share
 * the workers in arrival order. Tasks must not call vg_pool_map on the same pool. Thread-safe. */
#ifndef VG_UTIL_POOL_H
#define VG_UTIL_POOL_H

#include <stddef.h>

typedef struct vg_pool vg_pool_t;

/* n_threads workers (0 allowed). Returns 0 with *out (free with vg_pool_free) or VG_ENOMEM. */
int vg_pool_new(int n_threads, vg_pool_t **out);
/* Waits for the workers to finish their current task and joins them. No batch may be running. */
void vg_pool_free(vg_pool_t *p);
/* Runs fn(ctx, i) for every i < n and returns when all have returned. p NULL: runs them in order on the
 * calling thread. */
void vg_pool_map(vg_pool_t *p, void (*fn)(void *ctx, size_t i), void *ctx, size_t n);

#endif
