/* A fixed pool of worker threads running batches of independent tasks (see pool.h).
 *
 * Invariants: a batch is on the queue while it has unclaimed indices (next < n); `done` counts the
 * tasks that returned, and the caller leaves vg_pool_map only when done == n, observed under the
 * pool's lock — the last worker to touch a batch signals under that lock, so the batch (on the
 * caller's stack) is never read after it is gone. */
#include "pool.h"
#include "error.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

typedef struct batch {
    void (*fn)(void *ctx, size_t i);
    void *ctx;
    size_t n, next, done;
    pthread_cond_t finished;
    struct batch *q_next;
} batch_t;

struct vg_pool {
    pthread_mutex_t mu;
    pthread_cond_t work;
    batch_t *head, *tail; /* batches with unclaimed indices */
    bool stop;
    int n_threads;
    pthread_t *threads;
};

/* Claims the next index of the batch at the queue's head (mu held). */
static batch_t *claim(vg_pool_t *p, size_t *i) {
    batch_t *b = p->head;
    if (!b) return NULL;
    *i = b->next++;
    if (b->next == b->n) {
        p->head = b->q_next;
        if (!p->head) p->tail = NULL;
    }
    return b;
}

/* Claims an index of batch b only (mu held): the caller works on its own batch. */
static bool claim_own(vg_pool_t *p, batch_t *b, size_t *i) {
    if (b->next >= b->n) return false;
    *i = b->next++;
    if (b->next == b->n) { /* take it off the queue, wherever it is */
        batch_t **pp = &p->head, *prev = NULL;
        while (*pp && *pp != b) prev = *pp, pp = &(*pp)->q_next;
        if (*pp) {
            *pp = b->q_next;
            if (p->tail == b) p->tail = prev;
        }
    }
    return true;
}

static void finish(vg_pool_t *p, batch_t *b) {
    if (++b->done == b->n) pthread_cond_signal(&b->finished);
    (void)p;
}

static void *worker(void *arg) {
    vg_pool_t *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        size_t i;
        batch_t *b;
        while (!p->stop && !p->head) pthread_cond_wait(&p->work, &p->mu);
        if (p->stop) break;
        b = claim(p, &i);
        pthread_mutex_unlock(&p->mu);
        b->fn(b->ctx, i);
        pthread_mutex_lock(&p->mu);
        finish(p, b);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int vg_pool_new(int n_threads, vg_pool_t **out) {
    *out = NULL;
    vg_pool_t *p = calloc(1, sizeof *p);
    if (!p) return VG_ENOMEM;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    p->threads = n_threads > 0 ? calloc((size_t)n_threads, sizeof *p->threads) : NULL;
    if (n_threads > 0 && !p->threads) {
        vg_pool_free(p);
        return VG_ENOMEM;
    }
    for (int i = 0; i < n_threads; i++) {
        if (pthread_create(&p->threads[i], NULL, worker, p)) {
            vg_pool_free(p);
            return VG_ENOMEM;
        }
        p->n_threads++;
    }
    *out = p;
    return 0;
}

void vg_pool_free(vg_pool_t *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_threads; i++) pthread_join(p->threads[i], NULL);
    free(p->threads);
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

void vg_pool_map(vg_pool_t *p, void (*fn)(void *ctx, size_t i), void *ctx, size_t n) {
    if (!p || n < 2 || p->n_threads == 0) {
        for (size_t i = 0; i < n; i++) fn(ctx, i);
        return;
    }
    batch_t b = {.fn = fn, .ctx = ctx, .n = n};
    pthread_cond_init(&b.finished, NULL);
    pthread_mutex_lock(&p->mu);
    if (p->tail) p->tail->q_next = &b;
    else p->head = &b;
    p->tail = &b;
    pthread_cond_broadcast(&p->work);
    size_t i;
    while (claim_own(p, &b, &i)) {
        pthread_mutex_unlock(&p->mu);
        fn(ctx, i);
        pthread_mutex_lock(&p->mu);
        finish(p, &b);
    }
    while (b.done < b.n) pthread_cond_wait(&b.finished, &p->mu);
    pthread_mutex_unlock(&p->mu);
    pthread_cond_destroy(&b.finished);
}
